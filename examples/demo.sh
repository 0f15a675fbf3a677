#!/usr/bin/env bash
# make demo: the bundled example migrations applied through
# atlas_migrate_apply, in SQLite (sqlite3 shell) and PostgreSQL (a throwaway
# server on a free loopback port), then the Cloud flow against the local
# stand-in.  Everything it starts, it stops.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# ---------------------------------------------------------------- SQLite
WORK=$(mktemp -d /tmp/atlas_migrate_demo.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
DB=$WORK/demo.db

bold "SQLite: sqlite3 $DB"
run_sqlite() {
	echo "$1" | sed 's/^/sqlite> /'
	sqlite3 -cmd ".load $ROOT/build/atlas_migrate" "$DB" "$1"
}
run_sqlite "SELECT atlas_config_set(readfile('examples/atlas.hcl'));"
bold "SQLite: apply (the log is part of the JSON report)"
run_sqlite "SELECT json_extract(atlas_migrate_apply('local'), '\$.Log');"
bold "SQLite: apply again"
run_sqlite "SELECT json_extract(atlas_migrate_apply('local'), '\$.Status');"
bold "SQLite: status"
sqlite3 -cmd ".load $ROOT/build/atlas_migrate" -header -column "$DB" \
	"SELECT version, description, status, applied, total FROM atlas_migrate_status('local');"
bold "SQLite: history"
sqlite3 -cmd ".load $ROOT/build/atlas_migrate" -header -column "$DB" \
	"SELECT id, env, status, from_version, to_version, files_applied FROM atlas_migrate_runs;"
bold "SQLite: the revisions Atlas reads"
sqlite3 -header -column "$DB" \
	"SELECT version, description, type, applied, total, substr(hash, 1, 12) || '...' AS hash, operator_version FROM atlas_schema_revisions;"
bold "SQLite: atlas_split"
sqlite3 -cmd ".load $ROOT/build/atlas_migrate" -header -column "$DB" \
	"SELECT * FROM atlas_split('CREATE TABLE a(x); CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END;', 'sqlite');"

# ---------------------------------------------------------------- PostgreSQL, Cloud
if [ -x examples/pg-demo.sh ]; then
	examples/pg-demo.sh
fi
if [ -x examples/cloud-demo.sh ]; then
	examples/cloud-demo.sh
fi
bold "done"
