-- Rehearsal: inside a transaction block the client opened, the migrations
-- run in the caller's own transaction (a subtransaction per file), and the
-- caller's COMMIT or ROLLBACK decides.  Files that cannot run in a block
-- are refused before anything runs.
SELECT atlas_config_set($$
env "rh" {
  url = "postgres://localhost/regress?search_path=t12"
  migration {
    dir = "file://atlas_fixtures/rehearse"
  }
}
env "rh_all" {
  url = "postgres://localhost/regress?search_path=t12a"
  migration {
    dir = "file://atlas_fixtures/rehearse"
  }
}
env "rh_fail" {
  url = "postgres://localhost/regress?search_path=t12f"
  migration {
    dir = "file://atlas_fixtures/rehearse_fail"
  }
}
env "rh_none" {
  url = "postgres://localhost/regress?search_path=t12n"
  migration {
    dir = "file://atlas_fixtures/cic"
  }
}
env "rh_cic" {
  url = "postgres://localhost/regress?search_path=t12c"
  migration {
    dir = "file://atlas_fixtures/rehearse_cic"
  }
}
$$);
CREATE SCHEMA t12;
CREATE SCHEMA t12a;
CREATE SCHEMA t12f;
CREATE SCHEMA t12n;
CREATE SCHEMA t12c;
SET lock_timeout = '3s';
SHOW search_path;

-- apply, look, roll back: nothing remains, not even the run row
SET client_min_messages = warning;
BEGIN;
SELECT r->>'Status' AS status, jsonb_array_length(r->'Applied') AS files, r->>'Target' AS target
FROM (SELECT atlas_migrate_apply('rh') AS r) s;
SELECT * FROM t12.r_a;
SELECT version, status, applied, total FROM atlas_migrate_status('rh');
SELECT status, files_applied, to_version FROM atlas_migrate_runs WHERE env = 'rh';
-- the env URL's search_path, and the lock_timeout file 3 SETs, were the call's only
SHOW search_path;
SHOW lock_timeout;
-- Atlas's key is held as a transaction-level lock
SELECT mode, granted FROM pg_locks WHERE locktype = 'advisory' AND objid = 2686470616 AND pid = pg_backend_pid();
ROLLBACK;
SELECT to_regclass('t12.r_a') AS r_a, to_regclass('t12.atlas_schema_revisions') AS revisions,
	(SELECT count(*) FROM atlas_migrate_runs WHERE env = 'rh') AS runs,
	(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 2686470616 AND pid = pg_backend_pid()) AS locks;

-- apply, then COMMIT: everything is kept, and the next call has nothing to do
BEGIN;
SELECT atlas_migrate_apply('rh')->>'Status' AS status;
COMMIT;
SELECT * FROM t12.r_a;
SELECT version, applied, total, error FROM t12.atlas_schema_revisions ORDER BY version;
SELECT status, files_applied, from_version, to_version, error FROM atlas_migrate_runs WHERE env = 'rh';
RESET client_min_messages;
BEGIN;
SELECT atlas_migrate_apply('rh')->>'Status' AS status;
COMMIT;
SET client_min_messages = warning;

-- tx_mode all: one subtransaction around every file
BEGIN;
SELECT atlas_migrate_apply('rh_all', tx_mode => 'all')->>'Status' AS status;
COMMIT;
SELECT count(*) AS revisions FROM t12a.atlas_schema_revisions;

-- a failing file: the error is raised, and like any error it aborts the
-- caller's transaction (file 1 ran in it, file 2 rolled back to its
-- subtransaction): nothing of the call can be committed
\set VERBOSITY default
BEGIN;
SELECT atlas_migrate_apply('rh_fail');
SELECT 1;
ROLLBACK;
-- inside a savepoint the caller's own work goes on
BEGIN;
CREATE TABLE t12.mine (x int);
SAVEPOINT before_apply;
SELECT atlas_migrate_apply('rh_fail');
ROLLBACK TO before_apply;
INSERT INTO t12.mine VALUES (42);
COMMIT;
SELECT * FROM t12.mine;
SELECT to_regclass('t12f.rf_a') AS rf_a, to_regclass('t12f.atlas_schema_revisions') AS revisions,
	(SELECT count(*) FROM atlas_migrate_runs WHERE env = 'rh_fail') AS runs;

-- files that cannot run in a transaction block: refused before anything runs
BEGIN;
SAVEPOINT s;
SELECT atlas_migrate_apply('rh_none');
ROLLBACK TO s;
SELECT atlas_migrate_apply('rh_cic');
ROLLBACK TO s;
SELECT atlas_migrate_apply('rh_fail', tx_mode => 'none');
ROLLBACK TO s;
SELECT atlas_migrate_apply('rh', wait => false);
ROLLBACK TO s;
-- a dry run executes nothing: not refused
SELECT atlas_migrate_apply('rh_none', dry_run => true)->>'Status' AS dry_run;
COMMIT;
SELECT to_regclass('t12n.cic_t') AS cic_t, to_regclass('t12c.rc_a') AS rc_a,
	to_regclass('t12n.atlas_schema_revisions') AS revisions_n,
	to_regclass('t12c.atlas_schema_revisions') AS revisions_c;
SELECT env, status, dry_run FROM atlas_migrate_runs WHERE env IN ('rh_none', 'rh_cic') ORDER BY id;
\set VERBOSITY terse

RESET client_min_messages;
RESET lock_timeout;
