-- Bad input gets a clear error before anything touches the database.
\set VERBOSITY default

-- nothing stored yet
SELECT atlas_migrate_apply('dev');
SELECT * FROM atlas_migrate_status('dev');

-- atlas_config_set checks the text and names line and column
SELECT atlas_config_set($$
env "dev" {
  migration {
    dir = "file://x"
$$);
SELECT atlas_config_set($$
env "dev" {
  migraton {
    dir = "file://x"
  }
}
$$);
SELECT atlas_config_set($$
env "dev" {
  url = "postgres://localhost/db?search_path=t03"
  migration {
    dir = "file://atlas_fixtures/five"
    lock_timeout = "2s"
  }
}
variable "who" {
  type = string
  default = "me"
}
variable "lock" {
  type = string
  default = "2s"
}
env "needs_var" {
  url = "postgres://localhost/db?search_path=${var.who}"
  migration {
    dir = "file://atlas_fixtures/five"
  }
}
env "bad_lock" {
  migration {
    dir = "file://atlas_fixtures/five"
    lock_timeout = var.lock
  }
}
env "nosum" {
  url = "postgres://localhost/db?search_path=t03"
  migration {
    dir = "file://atlas_fixtures/nosum"
  }
}
env "missing" {
  migration {
    dir = "file:///nonexistent/dir"
  }
}
$$);
-- the config is stored as given
SELECT count(*) FROM atlas_migrate_config;

-- env and option errors, in Atlas's words where Atlas has them
SELECT atlas_migrate_apply(NULL);
SELECT atlas_migrate_apply('prod');
SELECT atlas_migrate_apply('dev', amount => 0);
SELECT atlas_migrate_apply('dev', amount => -1);
SELECT atlas_migrate_apply('dev', tx_mode => 'invalid');
SELECT atlas_migrate_apply('dev', exec_order => 'random');
SELECT atlas_migrate_apply('dev', lock_timeout => 'soon');
SELECT atlas_migrate_apply('dev', baseline => '1', allow_dirty => true);
SELECT atlas_migrate_apply('dev', vars => '[1, 2]');
-- a value the call gives is checked then (a literal one already when set: 15_config)
SELECT atlas_migrate_apply('bad_lock', vars => '{"lock": "ten seconds"}');
-- nothing ran: no run rows, no revisions schema
SELECT count(*) FROM atlas_migrate_runs;
SELECT count(*) FROM pg_namespace WHERE nspname = 'atlas_schema_revisions';

-- a directory problem is found by the worker, recorded, and raised
SET client_min_messages = warning;
CREATE SCHEMA t03;
SET search_path = t03, public;
SELECT atlas_migrate_apply('nosum');
SELECT atlas_migrate_apply('missing');
RESET search_path;
SELECT id, env, status, error FROM atlas_migrate_runs ORDER BY id;
SELECT count(*) FROM pg_tables WHERE schemaname = 't03';
DROP SCHEMA t03 CASCADE;

-- for_each and data sources: not supported yet, refused when set
SELECT atlas_config_set($$
env "multi" {
  for_each = toset(["a", "b"])
  url = "postgres://localhost/db?search_path=${each.value}"
}
$$);
SELECT atlas_config_set($$
data "sql" "tenants" {
  url = "postgres://localhost/db"
  query = "SELECT 1"
}
env "dev" {
  url = data.sql.tenants.value
}
$$);
