/* atlas_migrate 0.1.0 -> 0.2.0 */

\echo Use "ALTER EXTENSION atlas_migrate UPDATE TO '0.2.0'" to load this file. \quit


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
	INOUT report	jsonb DEFAULT NULL)
AS 'MODULE_PATHNAME', 'atlas_migrate'
LANGUAGE C;
COMMENT ON PROCEDURE atlas_migrate(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean, jsonb) IS
	'CALL it outside a transaction block: applies like atlas_migrate_apply, but holds no snapshot while it waits, so it always ends with the run''s outcome (report, or the run''s error)';
REVOKE ALL ON PROCEDURE atlas_migrate(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean, jsonb) FROM PUBLIC;
