#!/usr/bin/env bash
# tests/pg/installcheck-fixtures.sh - run by "make installcheck" before
# pg_regress (PGXS's REGRESS_PREP): puts the migration directories the
# pg_regress tests read (file://atlas_fixtures/<name>, relative to the data
# directory) on the server that PGHOST/PGPORT/PGUSER point at.
#
# The server may be another machine: the files travel through the
# connection (psql's \lo_import, then the server's lo_export) into
# <data directory>/atlas_fixtures, which one COPY ... TO PROGRAM creates
# (replacing what an earlier installcheck left there).  Needs a superuser,
# as the suite does anyway (CREATE EXTENSION atlas_migrate, CREATE ROLE).
# An atlas_fixtures that an installcheck did not make (tests/pg/run.sh's
# link, say) is left alone, and the run stops.
set -eu
cd "$(dirname "$0")/../.."
OUT=build/installcheck
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "${PGDATABASE:-postgres}")

say() { echo "installcheck: $*" >&2; }

if ! super=$("${PSQL[@]}" -At -c "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user"); then
	say "cannot connect to the server (PGHOST=${PGHOST:-} PGPORT=${PGPORT:-} PGUSER=${PGUSER:-})"
	exit 1
fi
if [ "$super" != t ]; then
	say "the suite needs a superuser (CREATE EXTENSION atlas_migrate, CREATE ROLE, the fixtures): set PGUSER"
	exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT"
bash tests/pg/fixtures.sh "$OUT/atlas_fixtures" >"$OUT/fixtures.log" 2>&1 ||
	{ say "writing the fixtures failed: see $OUT/fixtures.log"; exit 1; }
touch "$OUT/atlas_fixtures/.atlas_migrate_installcheck"

# one shell command on the server: replace atlas_fixtures (only one an
# installcheck made: it has the marker file) by empty directories
dirs=$(cd "$OUT" && find atlas_fixtures -type d | sort | tr '\n' ' ')
cmd="if [ -e atlas_fixtures ] && [ ! -e atlas_fixtures/.atlas_migrate_installcheck ]; then exit 3; fi; rm -rf atlas_fixtures && mkdir -p $dirs"
{
	echo "COPY (SELECT 1) TO PROGRAM \$cmd\$$cmd\$cmd\$;"
	(cd "$OUT" && find atlas_fixtures -type f | sort) | while IFS= read -r f; do
		# psql's \lo_import reads the client's file; lo_export writes the server's
		printf '\\lo_import %s\n' "'$OUT/$f'"
		printf "SELECT pg_catalog.lo_export(:LASTOID, '%s'), pg_catalog.lo_unlink(:LASTOID);\n" "$f"
	done
} >"$OUT/upload.sql"
if ! "${PSQL[@]}" -f "$OUT/upload.sql" >"$OUT/upload.log" 2>&1; then
	if grep -q 'exit code 3' "$OUT/upload.log"; then
		say "the server's data directory has an atlas_fixtures that no installcheck made: not touching it"
	else
		say "copying the fixtures to the server failed: see $OUT/upload.log"
	fi
	exit 1
fi
say "$(cd "$OUT" && find atlas_fixtures -type f | wc -l) fixture files copied to the server's data directory (atlas_fixtures/)"
