-- tx_mode all and none behave as Atlas's (spec §g.5): with all, a failure
-- rolls back every file of the run; with none, statements before the
-- failing one stay applied and the row records how far the file got.
SELECT atlas_config_set($$
env "all" {
  url = "postgres://localhost/regress?search_path=t06a"
  migration {
    dir = "file://atlas_fixtures/txmodes"
  }
}
env "none" {
  url = "postgres://localhost/regress?search_path=t06n"
  migration {
    dir = "file://atlas_fixtures/txmodes"
    tx_mode = "none"
  }
}
env "cic_in_tx" {
  url = "postgres://localhost/regress?search_path=t06c"
  migration {
    dir = "file://atlas_fixtures/cic"
  }
}
$$);
CREATE SCHEMA t06a;
CREATE SCHEMA t06n;
SET client_min_messages = warning;

-- all: one transaction; nothing of the run is kept
SET search_path = t06a, public;
SELECT atlas_migrate_apply('all', tx_mode => 'all');
SELECT relname FROM pg_class WHERE relnamespace = 't06a'::regnamespace AND relkind = 'r' ORDER BY 1;
SELECT count(*) AS revisions FROM t06a.atlas_schema_revisions;
-- one file (default tx_mode file) stays; all again: still nothing more
SELECT r->>'Status' FROM atlas_migrate_apply('all', amount => 1) r;
SELECT atlas_migrate_apply('all', tx_mode => 'all');
SELECT relname FROM pg_class WHERE relnamespace = 't06a'::regnamespace AND relkind = 'r' ORDER BY 1;
SELECT version, applied, total, error FROM t06a.atlas_schema_revisions ORDER BY version;

-- none: from the env's migration block; the broken table stays
SET search_path = t06n, public;
SELECT atlas_migrate_apply('none');
SELECT relname FROM pg_class WHERE relnamespace = 't06n'::regnamespace AND relkind = 'r' ORDER BY 1;
SELECT version, applied, total, error, error_stmt, partial_hashes
FROM t06n.atlas_schema_revisions ORDER BY version;
SELECT version, status, applied, total FROM atlas_migrate_status('none');
-- resuming: the applied statement is not run again, the failing one is
SELECT atlas_migrate_apply('none');
SELECT jsonb_path_query_array(report, '$.Applied[*].Applied') AS sent,
       report->'Applied'->0->'Skipped' AS skipped
FROM atlas_migrate_runs WHERE env = 'none' ORDER BY id DESC LIMIT 1;

-- a txmode directive cannot override tx_mode all (Atlas's message)
CREATE SCHEMA t06c;
SET search_path = t06c, public;
SELECT atlas_migrate_apply('cic_in_tx', tx_mode => 'all');
RESET search_path;
