-- CALL atlas_migrate: the procedure form of atlas_migrate_apply.  It commits
-- before it waits, so CREATE INDEX CONCURRENTLY completes inside the call,
-- and it ends with the run's outcome: the report, or the run's error.
SELECT atlas_config_set($$
env "call" {
  url = "postgres://localhost/regress?search_path=t08"
  migration {
    dir = "file://atlas_fixtures/cic_fail"
  }
}
env "call_ok" {
  url = "postgres://localhost/regress?search_path=t08b"
  migration {
    dir = "file://atlas_fixtures/cic"
  }
}
$$);
CREATE SCHEMA t08;
SET search_path = t08, public;
\set VERBOSITY terse

-- inside a transaction block, or in a multi-statement string: refused, nothing runs
BEGIN;
CALL atlas_migrate('call');
ROLLBACK;
SELECT 1 \; CALL atlas_migrate('call');
SELECT count(*) FROM atlas_migrate_runs WHERE env LIKE 'call%';

-- CONCURRENTLY, then a failing file: the run's error with its SQLSTATE
SET client_min_messages = warning;
CALL atlas_migrate('call');
\echo :LAST_ERROR_SQLSTATE
RESET client_min_messages;
SELECT env, status, files_applied, from_version, to_version, error
FROM atlas_migrate_runs WHERE env = 'call';
SELECT indexrelid::regclass AS index, indisvalid FROM pg_index WHERE indrelid = 't08.cf_t'::regclass;
SELECT to_regclass('t08.cf_3') AS failed_file_table;

-- success: the report comes back in the INOUT parameter
SET client_min_messages = warning;
DO $$
DECLARE
	r jsonb;
BEGIN
	CALL atlas_migrate('call_ok', report => r);
	RAISE WARNING 'status %, applied %, target %, run id matches %', r->>'Status',
		jsonb_array_length(r->'Applied'), r->>'Target',
		(r->>'RunID')::bigint = (SELECT max(id) FROM atlas_migrate_runs);
END
$$;
-- again: nothing to do
DO $$
DECLARE
	r jsonb;
BEGIN
	CALL atlas_migrate('call_ok', report => r);
	RAISE WARNING 'status %', r->>'Status';
END
$$;
RESET client_min_messages;
SELECT indexrelid::regclass AS index, indisvalid FROM pg_index WHERE indrelid = 't08b.cic_t'::regclass;
\set VERBOSITY default
RESET search_path;
