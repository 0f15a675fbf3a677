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
	cloud_timeout	text DEFAULT NULL,
	INOUT report	jsonb DEFAULT NULL)
AS 'MODULE_PATHNAME', 'atlas_migrate'
LANGUAGE C;
COMMENT ON PROCEDURE atlas_migrate(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean, text, integer, text, text, jsonb) IS
	'CALL it outside a transaction block: applies like atlas_migrate_apply, but holds no snapshot while it waits, so it always ends with the run''s outcome (report, or the run''s error)';
REVOKE ALL ON PROCEDURE atlas_migrate(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean, text, integer, text, text, jsonb) FROM PUBLIC;

-- ------------------------------------------------------------------ rehearsal inside BEGIN

-- 0.2.0 adds options (statement_lock_timeout, lock_retries, preflight,
-- cloud_timeout): the
-- function is created again with the new signature.  The EXECUTE grants a
-- DBA gave on 0.1.0's function are kept: read before the drop, given again
-- on the new function (the C code reads its options by argument name).
SELECT pg_catalog.set_config('atlas_migrate_upgrade.acl',
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
	preflight		text DEFAULT NULL,
	cloud_timeout	text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'atlas_migrate_apply'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION atlas_migrate_apply(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean, text, integer, text, text) FROM PUBLIC;

-- Inside a transaction block the client opened, atlas_migrate_apply runs the
-- migrations in the caller's own transaction (no worker): its COMMIT or
-- ROLLBACK decides.
COMMENT ON FUNCTION atlas_migrate_apply(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean, text, integer, text, text) IS
	'Apply the pending migrations of an env (in a background worker; inside BEGIN ... in the caller''s own transaction, which COMMIT or ROLLBACK decides); streams Atlas''s log as NOTICEs and returns the JSON report (lock_timeout is a Go duration such as ''10s'')';

DO $upgrade$
DECLARE
	acl		text := pg_catalog.current_setting('atlas_migrate_upgrade.acl', true);
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
			'GRANT EXECUTE ON FUNCTION atlas_migrate_apply(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean, text, integer, text, text) TO %s%s',
			CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
				 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
			CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
END
$upgrade$;

-- ------------------------------------------------------------------ options

-- The apply options as the extension declares them (one table in the C
-- code drives the call arguments' parsing, the settings atlas_migrate.*
-- and this list).
CREATE FUNCTION atlas_migrate_options()
RETURNS TABLE (
	name			text,
	type			text,
	default_value	text,
	atlas_hcl		text,
	setting			text,
	setting_value	text,
	description		text)
AS 'MODULE_PATHNAME', 'atlas_migrate_options'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION atlas_migrate_options() IS
	'The options of atlas_migrate_apply: type, default, the atlas.hcl attribute and the server setting (atlas_migrate.*) that also set them, and the setting''s current value';

-- ------------------------------------------------------------------ config get

-- The stored atlas.hcl with every secret replaced (token values become
-- "<redacted>", URL passwords xxxxx), comments and layout kept.  Revoked
-- from PUBLIC like atlas_config_set: only roles granted EXECUTE read it.
CREATE FUNCTION atlas_config_get()
RETURNS text
AS 'MODULE_PATHNAME', 'atlas_config_get'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION atlas_config_get() IS
	'The stored atlas.hcl with its secrets redacted (the Cloud token and any token literal as "<redacted>", URL passwords as xxxxx)';
REVOKE ALL ON FUNCTION atlas_config_get() FROM PUBLIC;
COMMENT ON FUNCTION atlas_config_set(text) IS
	'Check and store the atlas.hcl configuration: syntax, and every env as apply would evaluate it without the call''s values (errors name line and column)';

-- ------------------------------------------------------------------ lock retries

-- Lock-safe DDL (statement_lock_timeout, lock_retries): how often the run's
-- statements gave up waiting for a lock and ran again, and how long they
-- waited in the attempts that gave up.
ALTER TABLE atlas_migrate_runs ADD COLUMN lock_retries integer NOT NULL DEFAULT 0;
ALTER TABLE atlas_migrate_runs ADD COLUMN lock_wait_ms bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN atlas_migrate_runs.lock_retries IS 'Attempts run again after a lock timeout (statement_lock_timeout, lock_retries)';
COMMENT ON COLUMN atlas_migrate_runs.lock_wait_ms IS 'Milliseconds statements waited for locks they did not get within statement_lock_timeout';

-- ------------------------------------------------------------------ config envs

-- Each env of the stored atlas.hcl with its resolved settings (as a call
-- without arguments would see them) and where each comes from: atlas.hcl,
-- a server setting (atlas_migrate.*) or the default.  URLs are redacted;
-- Atlas Cloud shows as on or off, never its token.
CREATE FUNCTION atlas_config_envs()
RETURNS TABLE (
	env		text,
	setting	text,
	value	text,
	source	text)
AS 'MODULE_PATHNAME', 'atlas_config_envs'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION atlas_config_envs() IS
	'Every env of the stored atlas.hcl: its resolved settings (dir, revisions schema, tx mode, exec order, lock settings...) and where each comes from; secrets never shown';
REVOKE ALL ON FUNCTION atlas_config_envs() FROM PUBLIC;

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
