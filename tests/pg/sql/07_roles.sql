-- Who may run what: a role granted EXECUTE applies what its own privileges
-- allow and nothing more; a NOLOGIN role works through SET ROLE; file://
-- needs pg_read_server_files; the config stays unreadable.
SELECT atlas_config_set($$
env "ok" {
  url = "postgres://localhost/regress?search_path=regress_app"
  migration {
    dir = "file://atlas_fixtures/roles_ok"
  }
}
env "bad" {
  url = "postgres://localhost/regress?search_path=regress_app2"
  migration {
    dir = "file://atlas_fixtures/roles_bad"
  }
}
$$);
CREATE ROLE regress_migrator LOGIN;
CREATE ROLE regress_owner NOLOGIN;
GRANT regress_owner TO regress_migrator;
CREATE SCHEMA regress_app AUTHORIZATION regress_owner;
CREATE SCHEMA regress_app2 AUTHORIZATION regress_owner;
CREATE SCHEMA regress_other_schema;
-- privileges go to the NOLOGIN role; the login role is a member
GRANT EXECUTE ON FUNCTION atlas_migrate_apply TO regress_owner;
GRANT EXECUTE ON FUNCTION atlas_migrate_status(text) TO regress_owner;

-- without pg_read_server_files: no file:// directory
SET SESSION AUTHORIZATION regress_migrator;
SELECT atlas_migrate_apply('ok');
SELECT * FROM atlas_migrate_config;
SELECT atlas_config_set('env "x" {}');
RESET SESSION AUTHORIZATION;
GRANT pg_read_server_files TO regress_owner;

-- as the NOLOGIN role: objects belong to it, the run row names it
SET SESSION AUTHORIZATION regress_migrator;
SET ROLE regress_owner;
SET search_path = regress_app, public;
SET client_min_messages = warning;
SELECT r->>'Status' FROM atlas_migrate_apply('ok') r;
SELECT version, status FROM atlas_migrate_status('ok');
-- what the role may not do fails, with the database's own error
SET search_path = regress_app2, public;
SELECT atlas_migrate_apply('bad');
RESET client_min_messages;
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner) AS owner
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('regress_app', 'regress_app2', 'regress_other_schema') AND c.relkind = 'r'
ORDER BY 1, 2;
SELECT env, status, run_by, error FROM atlas_migrate_runs WHERE env IN ('ok', 'bad') ORDER BY id;

-- the worker ran as the caller: session user the login role, current user the NOLOGIN role
SELECT * FROM regress_app.owned;
SELECT version, applied, total FROM regress_app2.atlas_schema_revisions ORDER BY version;

DROP SCHEMA regress_app CASCADE;
DROP SCHEMA regress_app2 CASCADE;
DROP SCHEMA regress_other_schema CASCADE;
REVOKE ALL ON FUNCTION atlas_migrate_apply FROM regress_owner;
REVOKE ALL ON FUNCTION atlas_migrate_status(text) FROM regress_owner;
DROP ROLE regress_migrator;
DROP ROLE regress_owner;
