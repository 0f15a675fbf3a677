-- The env URL's search_path is where the migrations run, as for the Atlas
-- CLI connected with that URL: one directory, a schema per tenant, by
-- several envs and by one env whose URL takes a vars value.
SELECT atlas_config_set($$
variable "tenant" {
  type    = string
  default = "t09_nobody"
}
env "acme" {
  url = "postgres://localhost/regress?search_path=t09_acme"
  migration {
    dir = "file://atlas_fixtures/tenant"
  }
}
env "globex" {
  url = "postgres://localhost/regress?search_path=t09_globex"
  migration {
    dir = "file://atlas_fixtures/tenant"
  }
}
env "tenant" {
  url = "postgres://x/db?search_path=${var.tenant}"
  migration {
    dir = "file://atlas_fixtures/tenant"
  }
}
env "bad_path" {
  url = "postgres://x/db?search_path=%22t09_unterminated"
  migration {
    dir = "file://atlas_fixtures/tenant"
  }
}
$$);
SHOW search_path;

SET client_min_messages = warning;
SELECT atlas_migrate_apply('acme')->>'Status' AS acme;
SELECT atlas_migrate_apply('globex')->>'Status' AS globex;
SELECT atlas_migrate_apply('tenant', vars => '{"tenant": "t09_initech"}')->>'Status' AS initech;
SELECT atlas_migrate_apply('tenant', vars => '{"tenant": "t09_initech"}')->>'Status' AS initech_again;
RESET client_min_messages;

-- each tenant's tables, indexes and revisions in its own schema; none in public
SELECT n.nspname AS schema, c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname LIKE 't09%' AND c.relkind IN ('r', 'i') AND c.relname NOT LIKE '%pkey'
ORDER BY 1, 2;
SELECT to_regclass('public.accounts') AS in_public;
SELECT 't09_acme' AS tenant, * FROM t09_acme.accounts
UNION ALL SELECT 't09_globex', * FROM t09_globex.accounts
UNION ALL SELECT 't09_initech', * FROM t09_initech.accounts;
SELECT 't09_acme' AS tenant, version, applied, total FROM t09_acme.atlas_schema_revisions
UNION ALL SELECT 't09_globex', version, applied, total FROM t09_globex.atlas_schema_revisions
UNION ALL SELECT 't09_initech', version, applied, total FROM t09_initech.atlas_schema_revisions
ORDER BY 1, 2;

-- the caller's own search_path is untouched
SHOW search_path;

-- a search_path that is not a valid list: refused before anything runs
SELECT atlas_migrate_apply('bad_path');
SELECT count(*) FROM atlas_migrate_runs WHERE env = 'bad_path';
