#!/usr/bin/env bash
# The PostgreSQL part of make demo: a throwaway PostgreSQL 15 on a free
# loopback port, the extension installed, the bundled example migrations
# applied with SELECT atlas_migrate_apply('local') from psql (Atlas's log as
# NOTICEs, the JSON report as the result), then the status, the history, the
# revisions Atlas reads, a failing migration, and a txmode-none CREATE INDEX
# CONCURRENTLY.  Everything it starts, it stops.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. tests/pg/lib.sh

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ] || [ ! -x "$PG_BIN/initdb" ]; then
	bold "PostgreSQL: skipped (needs root and the PostgreSQL 15 server)"
	exit 0
fi

WORK=$(mktemp -d /tmp/atlas_migrate_pgdemo.XXXXXX)
chmod 755 "$WORK"
trap 'pg_cluster_stop; rm -rf "$WORK"' EXIT

bold "PostgreSQL: make install, start a throwaway server"
pg_install_extension "$ROOT" "$WORK/install.log" || { cat "$WORK/install.log"; exit 1; }
pg_cluster_start "$WORK/pg"
echo "listening on 127.0.0.1:$PGPORT (socket in $PGHOST)"
# file:// paths are relative to the data directory: give it the examples
as_postgres "ln -s '$ROOT/examples' '$WORK/pg/data/examples'"

sql() {
	printf '%s\n' "$1" | sed 's/^/demo=# /'
	printf '%s\n' "$1" | psql -X -q -v ON_ERROR_STOP=0 -d demo 2>&1 || true
}

psql -X -q -d postgres -c "CREATE DATABASE demo"
bold "PostgreSQL: the extension (no shared_preload_libraries needed)"
sql "CREATE EXTENSION atlas_migrate;"
sql "SELECT atlas_config_set(pg_read_file('examples/atlas.hcl'));"

bold "PostgreSQL: apply (the log streams as NOTICEs; the result is Atlas's JSON report)"
sql "SELECT jsonb_pretty(atlas_migrate_apply('local') - 'Applied' - 'Pending');"

bold "PostgreSQL: apply again"
sql "SELECT atlas_migrate_apply('local') ->> 'Status' AS status;"

bold "PostgreSQL: status"
sql "SELECT version, description, status, applied, total FROM atlas_migrate_status('local');"

bold "PostgreSQL: the revisions Atlas reads (atlas_schema_revisions.atlas_schema_revisions)"
sql "SELECT version, description, type, applied, total, left(hash, 12) || '...' AS hash, operator_version
     FROM atlas_schema_revisions.atlas_schema_revisions ORDER BY version;"

bold "PostgreSQL: a migration that fails: the earlier file stays, the error names the version"
mkdir -p "$WORK/broken"
printf 'CREATE TABLE coupons (code text PRIMARY KEY);\n' >"$WORK/broken/20240401000000_coupons.sql"
printf 'ALTER TABLE coupons ADD COLUMN pct int;\nINSERT INTO coupons VALUES (%s, 120);\nALTER TABLE coupons ADD CHECK (pct <= 100);\n' \
	"'SPRING'" >"$WORK/broken/20240402000000_pct.sql"
printf -- '-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY coupons_pct ON coupons (pct);\n' >"$WORK/broken/20240403000000_index.sql"
/usr/bin/python3 tests/pg/atlas_hash.py "$WORK/broken"
chmod -R a+rX "$WORK/broken"
sql "SELECT atlas_config_set(\$\$
env \"shop\" {
  url = \"postgres://localhost/demo?search_path=shop\"
  migration {
    dir = \"file://$WORK/broken\"
  }
}
\$\$);"
sql "CREATE SCHEMA shop; SET search_path = shop, public;"
sql "SET search_path = shop, public;
SELECT atlas_migrate_apply('shop');
\\echo SQLSTATE :LAST_ERROR_SQLSTATE"
sql "SELECT version, status, applied, total, error FROM atlas_migrate_status('shop');"

bold "PostgreSQL: fixed; its CREATE INDEX CONCURRENTLY (txmode none) waits for this SELECT's snapshot,"
bold "so the call returns 'running' and the worker finishes when the statement ends"
printf 'ALTER TABLE coupons ADD COLUMN pct int;\nINSERT INTO coupons VALUES (%s, 20);\nALTER TABLE coupons ADD CHECK (pct <= 100);\n' \
	"'SPRING'" >"$WORK/broken/20240402000000_pct.sql"
/usr/bin/python3 tests/pg/atlas_hash.py "$WORK/broken"
sql "SET search_path = shop, public;
SELECT atlas_migrate_apply('shop');"
sleep 1
sql "SELECT version, status, applied, total FROM atlas_migrate_status('shop');"
sql "SELECT indexrelid::regclass AS index, indisvalid FROM pg_index WHERE indexrelid = 'shop.coupons_pct'::regclass;"

bold "PostgreSQL: history"
sql "SELECT id, env, status, from_version, to_version, files_applied, left(error, 60) AS error
     FROM atlas_migrate_runs ORDER BY id;"

bold "PostgreSQL: atlas_split"
sql "SELECT * FROM atlas_split(\$\$CREATE FUNCTION f() RETURNS int AS \$f\$ SELECT 1; \$f\$ LANGUAGE sql; SELECT f();\$\$);"
bold "PostgreSQL: done (server stopped)"
