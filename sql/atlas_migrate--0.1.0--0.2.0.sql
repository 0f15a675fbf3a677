/* atlas_migrate 0.1.0 -> 0.2.0 */

\echo Use "ALTER EXTENSION atlas_migrate UPDATE TO '0.2.0'" to load this file. \quit

-- ------------------------------------------------------------------ run rows

-- What a run planned, next to what it applied (a dry run applies nothing).
ALTER TABLE atlas_migrate_runs ADD COLUMN target_version text;
ALTER TABLE atlas_migrate_runs ADD COLUMN files_pending integer NOT NULL DEFAULT 0;
-- Which Cloud endpoint and token a kept deployment report is for (a
-- one-way fingerprint, never the token): a report is sent only there.
-- Reports kept by 0.1.0 have none and are not sent again.
ALTER TABLE atlas_migrate_runs ADD COLUMN cloud_target text;
COMMENT ON COLUMN atlas_migrate_runs.to_version IS 'The version the database reached (for a dry run: where it was)';
COMMENT ON COLUMN atlas_migrate_runs.target_version IS 'The last migration file the run planned';
COMMENT ON COLUMN atlas_migrate_runs.files_applied IS 'Files committed by the run (0 for a dry run, and when tx_mode all rolled back)';
COMMENT ON COLUMN atlas_migrate_runs.files_pending IS 'Files the run planned (what a dry run would apply)';
COMMENT ON COLUMN atlas_migrate_runs.cloud_target IS 'Fingerprint of the Atlas Cloud endpoint and token a kept report is for';


-- ------------------------------------------------------------------ runs: each role reads its own

-- A role granted EXECUTE on atlas_migrate_apply() is told to follow its run
-- in atlas_migrate_runs: it may read the rows of runs that ran as a role
-- whose privileges it has (run_by), and no other row (other roles' errors,
-- logs and kept Cloud report bodies stay hidden).  The extension's C code
-- reads and writes the table as its owner, which row security does not
-- restrict; superusers see every row.  Only SELECT is granted.
ALTER TABLE atlas_migrate_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY atlas_migrate_runs_own ON atlas_migrate_runs FOR SELECT TO PUBLIC
	USING (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
				   WHERE r.rolname OPERATOR(pg_catalog.=) run_by
				   AND pg_catalog.pg_has_role(r.oid, 'USAGE')));
GRANT SELECT ON atlas_migrate_runs TO PUBLIC;
COMMENT ON POLICY atlas_migrate_runs_own ON atlas_migrate_runs IS
	'A role reads the runs that ran as itself or a role whose privileges it has';

-- ------------------------------------------------------------------ CALL atlas_migrate

-- The procedure form of atlas_migrate_apply: it commits before it waits, so
-- the calling session holds no snapshot while the worker runs (CREATE INDEX
-- CONCURRENTLY completes inside the call), and it ends with the run's true
-- outcome: the report in its INOUT parameter, or the run's error.
CREATE PROCEDURE atlas_migrate(
	env				text,
	amount			integer DEFAULT NULL,
	to_version		text DEFAULT NULL,
	dry_run			boolean DEFAULT false,
	baseline		text DEFAULT NULL,
	allow_dirty		boolean DEFAULT false,
	tx_mode			text DEFAULT NULL,
	exec_order		text DEFAULT NULL,
	lock_timeout	text DEFAULT NULL,
	vars			jsonb DEFAULT NULL,
	wait			boolean DEFAULT true,
	statement_lock_timeout text DEFAULT NULL,
	lock_retries	integer DEFAULT NULL,
	preflight		text DEFAULT NULL,
	INOUT report	jsonb DEFAULT NULL)
AS 'MODULE_PATHNAME', 'atlas_migrate'
LANGUAGE C;
COMMENT ON PROCEDURE atlas_migrate(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean, text, integer, text, jsonb) IS
	'CALL it outside a transaction block: applies like atlas_migrate_apply, but holds no snapshot while it waits, so it always ends with the run''s outcome (report, or the run''s error)';
REVOKE ALL ON PROCEDURE atlas_migrate(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean, text, integer, text, jsonb) FROM PUBLIC;

-- ------------------------------------------------------------------ rehearsal inside BEGIN

-- 0.2.0 adds options (statement_lock_timeout, lock_retries, preflight): the
-- function is created again with the new signature.  The EXECUTE grants a
-- DBA gave on 0.1.0's function are kept: read before the drop, given again
-- on the new function (the C code reads its options by argument name).
SELECT pg_catalog.set_config('atlas_migrate.upgrade_acl',
	COALESCE((SELECT p.proacl::text FROM pg_catalog.pg_proc p
			  WHERE p.oid OPERATOR(pg_catalog.=) 'atlas_migrate_apply(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean)'::pg_catalog.regprocedure), ''),
	true);
DROP FUNCTION atlas_migrate_apply(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean);

CREATE FUNCTION atlas_migrate_apply(
	env				text,
	amount			integer DEFAULT NULL,
	to_version		text DEFAULT NULL,
	dry_run			boolean DEFAULT false,
	baseline		text DEFAULT NULL,
	allow_dirty		boolean DEFAULT false,
	tx_mode			text DEFAULT NULL,
	exec_order		text DEFAULT NULL,
	lock_timeout	text DEFAULT NULL,
	vars			jsonb DEFAULT NULL,
	wait			boolean DEFAULT true,
	statement_lock_timeout text DEFAULT NULL,
	lock_retries	integer DEFAULT NULL,
	preflight		text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'atlas_migrate_apply'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION atlas_migrate_apply(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean, text, integer, text) FROM PUBLIC;

-- Inside a transaction block the client opened, atlas_migrate_apply runs the
-- migrations in the caller's own transaction (no worker): its COMMIT or
-- ROLLBACK decides.
COMMENT ON FUNCTION atlas_migrate_apply(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean, text, integer, text) IS
	'Apply the pending migrations of an env (in a background worker; inside BEGIN ... in the caller''s own transaction, which COMMIT or ROLLBACK decides); streams Atlas''s log as NOTICEs and returns the JSON report (lock_timeout is a Go duration such as ''10s'')';

DO $upgrade$
DECLARE
	acl		text := pg_catalog.current_setting('atlas_migrate.upgrade_acl', true);
	g		record;
BEGIN
	IF acl IS NULL OR acl OPERATOR(pg_catalog.=) '' THEN
		RETURN;
	END IF;
	FOR g IN
		SELECT a.grantee, a.is_grantable
		FROM pg_catalog.aclexplode(acl::pg_catalog.aclitem[]) a
		WHERE a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
		  AND a.grantee OPERATOR(pg_catalog.<>) a.grantor
	LOOP
		EXECUTE pg_catalog.format(
			'GRANT EXECUTE ON FUNCTION atlas_migrate_apply(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean, text, integer, text) TO %s%s',
			CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
				 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
			CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
END
$upgrade$;

-- pre-flight check
-- One row per pending statement (issue 15): what it locks and rewrites, with
-- this database's real sizes.  Read-only: no lock, nothing written.
CREATE FUNCTION atlas_migrate_check(
	env			text,
	amount		integer DEFAULT NULL,
	to_version	text DEFAULT NULL,
	exec_order	text DEFAULT NULL,
	baseline	text DEFAULT NULL,
	allow_dirty	boolean DEFAULT NULL,
	tx_mode		text DEFAULT NULL,
	vars		jsonb DEFAULT NULL)
RETURNS TABLE (
	version		text,
	file		text,
	stmt_no		integer,
	statement	text,
	lock_mode	text,
	relations	text[],
	row_estimate bigint,
	total_bytes	bigint,
	rewrites	boolean,
	scans		boolean,
	destructive	boolean,
	severity	text,
	advice		text)
AS 'MODULE_PATHNAME', 'atlas_migrate_check'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION atlas_migrate_check(text, integer, text, text, text, boolean, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION atlas_migrate_check(text, integer, text, text, text, boolean, text, jsonb) IS
	'Pre-flight check of an env''s pending migrations: one row per statement with the lock it takes, its tables'' row estimate and size, whether it rewrites, scans or drops data, a severity (info, warning, error) and advice (read-only)';
