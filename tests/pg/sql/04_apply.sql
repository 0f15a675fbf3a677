-- A five-file directory applies in a background worker; a second call has
-- nothing to do; status lists the files; revision and run rows are written.
SELECT atlas_config_set($$
env "dev" {
  url = "postgres://localhost/regress?search_path=t04"
  migration {
    dir = "file://atlas_fixtures/five"
  }
}
$$);
CREATE SCHEMA t04;
SET search_path = t04, public;

-- before: everything pending
SELECT version, description, name, status, applied, total FROM atlas_migrate_status('dev');

-- a dry run executes nothing and writes only its run row
SET client_min_messages = warning;
SELECT r->>'Status' AS status, r->'Pending' AS pending, jsonb_array_length(r->'Applied') AS started
FROM atlas_migrate_apply('dev', dry_run => true) r;
SELECT count(*) FROM pg_tables WHERE schemaname = 't04';

-- the run (the log goes to NOTICEs, hidden here; see the run row below)
SELECT r->>'Status' AS status, r->>'Driver' AS driver, r->>'Target' AS target,
       r->'Current' AS current, r->>'Message' AS message, (r->'RunID')::int > 0 AS has_run_id,
       jsonb_array_length(r->'Applied') AS applied,
       r->'Applied'->0->'Applied' AS first_file_statements
FROM atlas_migrate_apply('dev') r;
RESET client_min_messages;

-- the work is there (the txmode-none file's VACUUM ran outside a transaction)
SELECT * FROM users ORDER BY id;
\d users

-- second call: nothing to do
SELECT r->>'Status' AS status, r->>'Message' AS message, r->>'Current' AS current
FROM atlas_migrate_apply('dev') r;

SELECT version, description, name, status, applied, total, executed_at IS NOT NULL AS executed, error
FROM atlas_migrate_status('dev');

-- revision rows as Atlas writes them (§f.2, §f.4)
SELECT version, description, type, applied, total, error, error_stmt, hash,
       partial_hashes, operator_version, execution_time > 0 AS timed
FROM t04.atlas_schema_revisions ORDER BY version;
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull,
       pg_get_expr(d.adbin, d.adrelid) AS default
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE attrelid = 't04.atlas_schema_revisions'::regclass AND attnum > 0 AND NOT attisdropped
ORDER BY attnum;
SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 't04.atlas_schema_revisions'::regclass;

-- run rows: the dry run, the run, the no-op; the log in Atlas's format
SELECT env, status, dry_run, from_version, to_version, target_version, files_applied, files_pending, error,
       worker_pid <> pg_backend_pid() AS own_worker, run_by, finished_at >= started_at AS finished
FROM atlas_migrate_runs WHERE env = 'dev' ORDER BY id;
SELECT regexp_replace(log, '[0-9.]+(ns|µs|ms|s)\y', '<dur>', 'g') AS log
FROM atlas_migrate_runs WHERE env = 'dev' AND status = 'succeeded' AND NOT dry_run;
SELECT report->>'Status' AS status, (report->>'RunID')::bigint = id AS same_id
FROM atlas_migrate_runs WHERE env = 'dev' ORDER BY id;
RESET search_path;
