-- Pre-flight check (issue 15): what each pending statement locks, rewrites,
-- scans or drops, with this database's real sizes.  Tables with rows
-- (orders, customers; ANALYZE makes the row estimates real), an empty one
-- (vacant), and a table the pending set creates itself (fresh: no alarms).
CREATE SCHEMA t14;
CREATE TABLE t14.orders (id int PRIMARY KEY, customer_id int, note varchar(20), amount int, code text);
INSERT INTO t14.orders SELECT g, g % 10, 'n', g, 'c' FROM generate_series(1, 1000) g;
CREATE TABLE t14.customers (id int PRIMARY KEY, name text);
INSERT INTO t14.customers SELECT g, 'c' || g FROM generate_series(0, 9) g;
CREATE TABLE t14.vacant (id int, x int);
ANALYZE t14.orders, t14.customers, t14.vacant;

SELECT atlas_config_set($$
env "check" {
  url = "postgres://localhost/regress?search_path=t14"
  migration {
    dir = "file://atlas_fixtures/check"
  }
}
$$);

-- every pending statement, resolved through the env URL's search_path (the
-- session's own stays public)
SELECT file, stmt_no, lock_mode, relations, row_estimate,
	total_bytes > 0 AS has_size, rewrites, scans, destructive, severity, advice
FROM atlas_migrate_check('check', allow_dirty => true)
ORDER BY version, stmt_no;
SHOW search_path;

-- read-only: nothing was written, no revisions table, no run row
SELECT to_regclass('t14.atlas_schema_revisions') AS revisions,
	to_regclass('t14.fresh') AS fresh;
SELECT count(*) AS runs FROM atlas_migrate_runs WHERE env = 'check';

-- the selection options choose the statements as apply would
SELECT file, count(*) AS statements
FROM atlas_migrate_check('check', allow_dirty => true, to_version => '2')
GROUP BY file ORDER BY file;
SELECT count(*) AS statements FROM atlas_migrate_check('check', allow_dirty => true, amount => 1);
-- the same input errors as apply
SELECT * FROM atlas_migrate_check('check', allow_dirty => true, to_version => '99');
SELECT * FROM atlas_migrate_check('check', allow_dirty => true, exec_order => 'sideways');
SELECT * FROM atlas_migrate_check('nosuchenv');
SELECT * FROM atlas_migrate_check(NULL);

-- a dry run reports the same findings (statements with a severity)
SET client_min_messages = warning;
SELECT r->>'Status' AS status, jsonb_array_length(r->'Findings') AS findings,
	(SELECT count(*) FROM atlas_migrate_check('check', allow_dirty => true) WHERE severity IS NOT NULL) AS check_rows
FROM atlas_migrate_apply('check', dry_run => true, allow_dirty => true) r;
SELECT f->>'File' AS file, f->>'Statement' AS stmt, f->>'Lock' AS lock, f->'Relations' AS relations,
	f->>'Rows' AS rows, f->>'Severity' AS severity
FROM atlas_migrate_runs r, jsonb_array_elements(r.report->'Findings') f
WHERE r.id = (SELECT max(id) FROM atlas_migrate_runs WHERE env = 'check')
ORDER BY f->>'File', (f->>'Statement')::int;
-- ... and logs them
SELECT count(*) AS preflight_lines
FROM atlas_migrate_runs r, regexp_split_to_table(r.log, E'\n') l
WHERE r.id = (SELECT max(id) FROM atlas_migrate_runs WHERE env = 'check')
  AND l LIKE '  -- preflight: %';
RESET client_min_messages;

-- preflight => 'error' refuses to start (here the worker), before anything ran
SET client_min_messages = warning;
\set VERBOSITY terse
SELECT atlas_migrate_apply('check', preflight => 'error', allow_dirty => true);
\set VERBOSITY default
RESET client_min_messages;
-- ... recorded honestly: a failed run, nothing applied, the findings kept
SELECT status, files_applied, error, jsonb_array_length(report->'Findings') AS findings,
	report->>'Status' AS report_status
FROM atlas_migrate_runs WHERE id = (SELECT max(id) FROM atlas_migrate_runs WHERE env = 'check');
SELECT to_regclass('t14.fresh') AS fresh, to_regclass('t14.orders_customer') AS idx,
	to_regclass('t14.atlas_schema_revisions') IS NOT NULL AS revisions_table;

-- the error lists the findings at or above the level (errdetail; sizes vary
-- by machine: masked).  Inside a DO block the run is the caller's
-- transaction's (the rehearsal): the same refusal.
SET client_min_messages = warning;
DO $$
DECLARE
	msg text;
	detail text;
	hint text;
	state text;
BEGIN
	PERFORM atlas_migrate_apply('check', preflight => 'error', allow_dirty => true, to_version => '5');
	RAISE WARNING 'not refused';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
		hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE;
	RAISE WARNING E'%: %\n%\nHINT: %', state, msg,
		regexp_replace(detail, '\d+ (bytes|kB|MB)', 'N', 'g'), hint;
END
$$;
RESET client_min_messages;

-- a level above the findings lets the run go on: file 2 has a warning
SET client_min_messages = warning;
\set VERBOSITY terse
SELECT atlas_migrate_apply('check', preflight => 'warning', amount => 2, allow_dirty => true);
\set VERBOSITY default
SELECT r->>'Status' AS status, jsonb_array_length(r->'Applied') AS applied,
	jsonb_array_length(r->'Findings') AS findings
FROM atlas_migrate_apply('check', preflight => 'error', amount => 2, allow_dirty => true) r;
RESET client_min_messages;
SELECT to_regclass('t14.orders_customer') AS idx, to_regclass('t14.vacant_x') AS idx2;

-- what is pending now starts at file 3
SELECT DISTINCT file FROM atlas_migrate_check('check') ORDER BY file;

-- 'off' (the default): no check, no refusal; file 3 applies
SET client_min_messages = warning;
SELECT r->'Findings' AS findings, r->>'Status' AS status
FROM atlas_migrate_apply('check', preflight => 'off', to_version => '3') r;
RESET client_min_messages;
SELECT * FROM atlas_migrate_apply('check', preflight => 'sometimes');

DROP SCHEMA t14 CASCADE;
