/* atlas_migrate 0.1.0: apply Atlas versioned migration directories from inside the database */

\echo Use "CREATE EXTENSION atlas_migrate" to load this file. \quit

-- ------------------------------------------------------------------ tables

-- The stored atlas.hcl.  One row.  Not readable by PUBLIC: it may hold a
-- cloud token; the functions read it as the extension owner.
CREATE TABLE atlas_migrate_config (
	id			integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	hcl			text NOT NULL,
	updated_at	timestamptz NOT NULL DEFAULT now(),
	updated_by	name NOT NULL DEFAULT session_user
);
COMMENT ON TABLE atlas_migrate_config IS
	'The atlas.hcl stored by atlas_config_set(); readable by the extension owner only';

-- The local deployment history: one row per atlas_migrate_apply() call.
CREATE TABLE atlas_migrate_runs (
	id				bigserial PRIMARY KEY,
	env				text NOT NULL,
	dir				text,
	started_at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	finished_at		timestamptz,
	status			text NOT NULL DEFAULT 'running'
		CHECK (status IN ('running', 'succeeded', 'failed', 'nothing_to_do')),
	dry_run			boolean NOT NULL DEFAULT false,
	from_version	text,
	to_version		text,
	files_applied	integer NOT NULL DEFAULT 0,
	error			text,
	log				text,
	report			jsonb,
	worker_pid		integer,
	run_by			name,
	deployment_url	text,
	cloud_report	text,
	cloud_error		text
);
CREATE INDEX atlas_migrate_runs_running ON atlas_migrate_runs (id) WHERE status = 'running';
COMMENT ON TABLE atlas_migrate_runs IS
	'One row per atlas_migrate_apply() call (dry runs too): status, versions, error, the apply log and the JSON report';
COMMENT ON COLUMN atlas_migrate_runs.dir IS 'Migration directory URL, credentials redacted';
COMMENT ON COLUMN atlas_migrate_runs.status IS 'running, succeeded, failed or nothing_to_do';
COMMENT ON COLUMN atlas_migrate_runs.log IS 'Atlas''s apply log text';
COMMENT ON COLUMN atlas_migrate_runs.report IS 'Atlas''s JSON apply report, plus RunID and Status';
COMMENT ON COLUMN atlas_migrate_runs.worker_pid IS 'PID of the background worker that ran it';
COMMENT ON COLUMN atlas_migrate_runs.run_by IS 'Role the migrations ran as';
COMMENT ON COLUMN atlas_migrate_runs.deployment_url IS 'Atlas Cloud deployment URL, when reported';
COMMENT ON COLUMN atlas_migrate_runs.cloud_report IS 'Deployment report not sent yet (retried by the next call); no token';
COMMENT ON COLUMN atlas_migrate_runs.cloud_error IS 'Why the deployment report is not sent';

SELECT pg_catalog.pg_extension_config_dump('atlas_migrate_config', '');
SELECT pg_catalog.pg_extension_config_dump('atlas_migrate_runs', '');
SELECT pg_catalog.pg_extension_config_dump('atlas_migrate_runs_id_seq', '');

REVOKE ALL ON atlas_migrate_config FROM PUBLIC;
REVOKE ALL ON atlas_migrate_runs FROM PUBLIC;
REVOKE ALL ON SEQUENCE atlas_migrate_runs_id_seq FROM PUBLIC;

-- ------------------------------------------------------------------ functions

CREATE FUNCTION atlas_config_set(hcl text)
RETURNS void
AS 'MODULE_PATHNAME', 'atlas_config_set'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION atlas_config_set(text) IS
	'Check and store the atlas.hcl configuration (errors name line and column)';

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
	wait			boolean DEFAULT true)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'atlas_migrate_apply'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION atlas_migrate_apply(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean) IS
	'Apply the pending migrations of an env in a background worker; streams Atlas''s log as NOTICEs and returns the JSON report (lock_timeout is a Go duration such as ''10s'')';

CREATE FUNCTION atlas_migrate_status(env text)
RETURNS TABLE (
	version		text,
	description	text,
	name		text,
	status		text,
	applied		integer,
	total		integer,
	executed_at	timestamptz,
	error		text)
AS 'MODULE_PATHNAME', 'atlas_migrate_status'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION atlas_migrate_status(text) IS
	'One row per migration file of an env: applied, pending, partial, failed or skipped (read-only)';

CREATE FUNCTION atlas_split(sql text, options text DEFAULT 'postgres')
RETURNS TABLE (ordinal integer, stmt text)
AS 'MODULE_PATHNAME', 'atlas_split'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION atlas_split(text, text) IS
	'Split SQL into statements exactly as the migration executor does (options: postgres, sqlite, generic, mysql or scanner flags)';

REVOKE ALL ON FUNCTION atlas_config_set(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION atlas_migrate_apply(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION atlas_migrate_status(text) FROM PUBLIC;
