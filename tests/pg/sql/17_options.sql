-- The apply options: one table in the C code drives the call arguments'
-- parsing, the server settings atlas_migrate.* and atlas_migrate_options().
SELECT name, type, default_value, atlas_hcl, setting FROM atlas_migrate_options();

-- Every option is an argument of atlas_migrate_apply and of CALL
-- atlas_migrate, with the option's type, and there is no other argument
-- (env, wait and the procedure's report are the host's own).
CREATE TEMP VIEW opt_args AS
SELECT p.proname::text AS fn, a.n AS name, pg_catalog.format_type(a.t, NULL) AS type
FROM pg_proc p
CROSS JOIN LATERAL unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames) AS a(t, n)
WHERE p.proname IN ('atlas_migrate_apply', 'atlas_migrate') AND a.n NOT IN ('env', 'wait', 'report');
SELECT f.fn, o.name, o.type FROM (VALUES ('atlas_migrate_apply'), ('atlas_migrate')) f(fn), atlas_migrate_options() o
EXCEPT SELECT fn, name, type FROM opt_args;
SELECT fn, name, type FROM opt_args
EXCEPT SELECT f.fn, o.name, o.type FROM (VALUES ('atlas_migrate_apply'), ('atlas_migrate')) f(fn), atlas_migrate_options() o;

-- Server settings are checked as the call's arguments are.
SET atlas_migrate.tx_mode = 'bogus';
SET atlas_migrate.lock_timeout = '10 minutes';
SET atlas_migrate.statement_lock_timeout = '1000h';
SET atlas_migrate.lock_retries = '-1';
SET atlas_migrate.preflight = 'fatal';
SET atlas_migrate.exec_order = 'linear';
SET atlas_migrate.lock_retries = '5';
SHOW atlas_migrate.lock_retries;
SELECT name, setting_value FROM atlas_migrate_options() WHERE setting IS NOT NULL ORDER BY name;
RESET atlas_migrate.lock_retries;

-- Precedence: the call's argument, else the env's atlas.hcl attribute,
-- else the server setting, else the default.
SELECT atlas_config_set($$
env "plain" {
  url = "postgres://localhost/regress?search_path=t17p"
  migration {
    dir = "file://atlas_fixtures/five"
  }
}
env "per_file" {
  url = "postgres://localhost/regress?search_path=t17f"
  migration {
    dir      = "file://atlas_fixtures/five"
    tx_mode  = "file"
  }
}
$$);
CREATE SCHEMA t17p;
CREATE SCHEMA t17f;
SET client_min_messages = warning;
SET atlas_migrate.tx_mode = 'all';
-- the server setting applies: the file's txmode none directive conflicts with it
\set VERBOSITY terse
SELECT atlas_migrate_apply('plain');
\set VERBOSITY default
-- the call's argument wins over the server setting
SELECT r->>'Status', jsonb_array_length(r->'Applied') FROM atlas_migrate_apply('plain', tx_mode => 'file') r;
-- the env's attribute wins over the server setting
SELECT r->>'Status', jsonb_array_length(r->'Applied') FROM atlas_migrate_apply('per_file') r;
RESET atlas_migrate.tx_mode;
RESET client_min_messages;

-- atlas_config_envs(): each env's settings as a call without arguments
-- would resolve them, and where each comes from; secrets never shown.
SELECT atlas_config_set($$
env "prod" {
  url = "postgres://app:hunter2@db.internal/app?search_path=t17e"
  migration {
    dir         = "atlas://app"
    lock_timeout = "30s"
    exec_order  = "linear-skip"
  }
}
env "local" {
  url = "postgres://localhost/app"
}
atlas {
  cloud {
    token = "atl-17-secret-token"
  }
}
$$);
SET atlas_migrate.statement_lock_timeout = '2s';
SELECT * FROM atlas_config_envs();
RESET atlas_migrate.statement_lock_timeout;
SELECT count(*) AS token_shown FROM atlas_config_envs() WHERE value LIKE '%atl-17%' OR value LIKE '%hunter2%';
-- a variable without a default is known only at the call (Atlas reads the
-- whole file): each env says so
SELECT atlas_config_set($$
variable "tenant" {
  type = string
}
env "t" {
  url = "postgres://localhost/app?search_path=${var.tenant}"
}
$$);
SELECT * FROM atlas_config_envs();
-- like atlas_config_get, not for PUBLIC
CREATE ROLE regress_t17_nobody;
SELECT has_function_privilege('regress_t17_nobody', 'atlas_config_envs()', 'EXECUTE');
DROP ROLE regress_t17_nobody;
