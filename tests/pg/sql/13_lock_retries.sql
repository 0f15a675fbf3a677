-- Lock-safe DDL (issue 11): statement_lock_timeout and lock_retries, as far
-- as one session can show them: every statement of the run runs with
-- lock_timeout set to statement_lock_timeout (a file's own SET does not
-- stick; the server setting atlas_migrate.statement_lock_timeout works too),
-- the caller's settings are untouched, a run where nothing waits retries
-- nothing (the report and the run row say 0), a statement that fails for
-- another reason than a lock is not retried, and without the options the
-- report has Atlas's members only.  Waiting for another session's lock:
-- tests/pg/lock_retries.sh.
SELECT atlas_config_set($$
env "lr_show" {
  url = "postgres://localhost/regress?search_path=t13"
  migration {
    dir = "file://atlas_fixtures/lr_show"
  }
}
env "lr_rh" {
  url = "postgres://localhost/regress?search_path=t13r"
  migration {
    dir = "file://atlas_fixtures/lr_show"
  }
}
env "lr_bad" {
  url = "postgres://localhost/regress?search_path=t13b"
  migration {
    dir = "file://atlas_fixtures/lr_bad"
  }
}
$$);
CREATE SCHEMA t13;
CREATE SCHEMA t13r;
CREATE SCHEMA t13b;
SET lock_timeout = '42s';
SET client_min_messages = warning;

-- in the worker: each statement with lock_timeout 250ms; nothing waited
SELECT r->>'Status' AS status, r->'LockRetries' AS retries, r->>'LockWait' AS wait,
       r->>'LockPause' AS pause
FROM atlas_migrate_apply('lr_show', statement_lock_timeout => '250ms', lock_retries => 3) r;
SELECT * FROM t13.lr_seen ORDER BY n;
SELECT status, lock_retries, lock_wait_ms FROM atlas_migrate_runs WHERE env = 'lr_show';
SHOW lock_timeout;

-- lock_retries alone turns it on with statement_lock_timeout 1s
BEGIN;
SELECT r->>'Status' AS status, r->'LockRetries' AS retries
FROM atlas_migrate_apply('lr_rh', lock_retries => 2) r;
SELECT * FROM t13r.lr_seen ORDER BY n;
SHOW lock_timeout;
ROLLBACK;

-- the server setting atlas_migrate.statement_lock_timeout turns it on as well
SET atlas_migrate.statement_lock_timeout = '150ms';
BEGIN;
SELECT r->>'Status' AS status, r->'LockRetries' AS retries
FROM atlas_migrate_apply('lr_rh') r;
SELECT * FROM t13r.lr_seen ORDER BY n;
ROLLBACK;
RESET atlas_migrate.statement_lock_timeout;

-- without the options: Atlas's members only
SELECT r->>'Status' AS status, r ? 'LockRetries' AS lock_members
FROM atlas_migrate_apply('lr_bad', amount => 1) r;

-- a duplicate column is no lock timeout: one attempt, the error as always
\set VERBOSITY terse
SELECT atlas_migrate_apply('lr_bad', statement_lock_timeout => '200ms', lock_retries => 5);
\set VERBOSITY default
RESET client_min_messages;
SELECT status, lock_retries, lock_wait_ms, report->'LockRetries' AS retries,
       report->>'LockWait' AS wait, log LIKE '%lock timeout%' AS retry_logged
FROM atlas_migrate_runs WHERE env = 'lr_bad' ORDER BY id;
SELECT version, applied, total, error FROM t13b.atlas_schema_revisions ORDER BY version;
RESET lock_timeout;
