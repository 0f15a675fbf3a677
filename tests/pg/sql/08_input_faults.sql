-- Bad input found before anything runs (issue 8): files sharing a version or
-- with an empty one, a NUL byte in a file, timeouts out of range.
\set VERBOSITY default
SET client_min_messages = warning;
CREATE SCHEMA t08;
SET search_path = t08, public;
SELECT atlas_config_set($$
variable "long_lock" {
  type    = string
  default = "10s"
}
env "dup" {
  url = "postgres://localhost/db?search_path=t08"
  migration {
    dir = "file://atlas_fixtures/dupver"
  }
}
env "emptyver" {
  url = "postgres://localhost/db?search_path=t08"
  migration {
    dir = "file://atlas_fixtures/emptyver"
  }
}
env "nul" {
  url = "postgres://localhost/db?search_path=t08"
  migration {
    dir = "file://atlas_fixtures/nulbyte"
  }
}
env "long_lock" {
  url = "postgres://localhost/db?search_path=t08"
  migration {
    dir = "file://atlas_fixtures/nulbyte"
    lock_timeout = var.long_lock
  }
}
$$);

-- apply and status both refuse, naming the files (terse: apply's hint
-- names the run id, which depends on the earlier tests)
SELECT * FROM atlas_migrate_status('dup');
SELECT * FROM atlas_migrate_status('emptyver');
\set VERBOSITY terse
SELECT atlas_migrate_apply('dup');
SELECT atlas_migrate_apply('emptyver');

-- a NUL byte: not even the first file runs, dry run too
SELECT atlas_migrate_apply('nul');
SELECT atlas_migrate_apply('nul', dry_run => true);
\set VERBOSITY default

-- timeouts: 0 to 576h; Go's overflow is an invalid duration
SELECT atlas_migrate_apply('nul', lock_timeout => '1000h');
SELECT atlas_migrate_apply('nul', lock_timeout => '-1s');
SELECT atlas_migrate_apply('nul', lock_timeout => '2562048h');
-- from the env, given by the call (a literal 1000h fails when set: 15_config)
SELECT atlas_migrate_apply('long_lock', vars => '{"long_lock": "1000h"}');

-- nothing was applied
SELECT count(*) FROM pg_tables WHERE schemaname = 't08' AND tablename NOT LIKE 'atlas%';
SELECT status, count(*) FROM atlas_migrate_runs WHERE env IN ('dup', 'emptyver', 'nul') GROUP BY status;
RESET search_path;
DROP SCHEMA t08 CASCADE;
