-- File 3 of 5 fails: files 1-2 stay committed, file 3 is rolled back, the
-- revision and run rows hold the error and the statement, and the call
-- raises the database's own SQLSTATE naming the version.  Fixed, the next
-- call finishes.
SELECT atlas_config_set($$
env "broken" {
  url = "postgres://localhost/regress?search_path=t05"
  migration {
    dir = "file://atlas_fixtures/fail3"
  }
}
env "fixed" {
  url = "postgres://localhost/regress?search_path=t05"
  migration {
    dir = "file://atlas_fixtures/fail3_fixed"
  }
}
$$);
CREATE SCHEMA t05;
SET search_path = t05, public;
SET client_min_messages = warning;
\set VERBOSITY verbose
SELECT atlas_migrate_apply('broken');
\set VERBOSITY default
RESET client_min_messages;

SELECT relname FROM pg_class WHERE relnamespace = 't05'::regnamespace AND relkind = 'r' ORDER BY 1;
SELECT version, applied, total, error, error_stmt, partial_hashes FROM t05.atlas_schema_revisions ORDER BY version;
SELECT version, status, applied, total, error FROM atlas_migrate_status('broken');
SELECT env, status, from_version, to_version, files_applied, error,
       report->'Applied'->2->'Error' AS file_error
FROM atlas_migrate_runs WHERE env = 'broken';
SELECT regexp_replace(log, '[0-9.]+(ns|µs|ms|s)\y', '<dur>', 'g') AS log
FROM atlas_migrate_runs WHERE env = 'broken';

-- the same directory again: the failed file runs again from its start
SET client_min_messages = warning;
SELECT atlas_migrate_apply('broken');
RESET client_min_messages;

-- fixed: the next call finishes from file 3
SET client_min_messages = warning;
SELECT r->>'Status' AS status, r->>'Current' AS current, r->>'Target' AS target,
       jsonb_path_query_array(r, '$.Applied[*].Name') AS files
FROM atlas_migrate_apply('fixed') r;
RESET client_min_messages;
SELECT version, applied, total, error, error_stmt FROM t05.atlas_schema_revisions ORDER BY version;
SELECT * FROM f3;
SELECT env, status, files_applied FROM atlas_migrate_runs WHERE env IN ('broken', 'fixed') ORDER BY id;
RESET search_path;
