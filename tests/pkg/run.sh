#!/usr/bin/env bash
# tests/pkg/run.sh - the Debian packages, as a DBA would meet them (TAP).
#
# Builds them with `make deb` (debhelper, pg_buildext), then, holding the
# machine-wide PostgreSQL test lock (the package writes the same server
# directories as `make install`): removes the extension's files from the
# server's directories, installs postgresql-15-atlas-migrate with dpkg -i,
# starts a throwaway cluster without extras (loopback, free port, as the
# postgres user), runs a migration; installs libsqlite3-mod-atlas-migrate
# and loads it by name from /usr/bin/python3 for a migration in SQLite;
# checks where the server's environment comes from under Debian's
# pg_ctlcluster (README: ATLAS_TOKEN).  Removes both packages at the end.  Skips, loudly, only where Debian's
# tooling cannot run (not root, not Debian, packages not installable).
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
. tests/pg/lib.sh

loud_skip() {
	echo "################################################################"
	echo "# WARNING: Debian package test SKIPPED: $1"
	echo "################################################################"
	skip "Debian packages: $1"
	echo "1..$N"
	exit 0
}

[ "$(id -u)" = 0 ] || loud_skip "needs root (apt-get, dpkg -i, initdb as postgres)"
command -v dpkg >/dev/null && command -v apt-get >/dev/null || loud_skip "not a Debian system (no dpkg/apt-get)"
[ -x "$PG_BIN/initdb" ] || loud_skip "PostgreSQL 15 server not installed"

# logs live in WORK while running (another suite may clean build/), then
# are copied to build/test-output/pkg
WORK=$(mktemp -d /tmp/atlas_pkg.XXXXXX)
chmod 755 "$WORK"
LOG=$WORK/log
mkdir -p "$LOG"
KEEP=$ROOT/build/test-output/pkg
keep_logs() {
	rm -rf "$KEEP"
	mkdir -p "$(dirname "$KEEP")" && cp -r "$LOG" "$KEEP"
}
PG_PKG=postgresql-15-atlas-migrate
SQLITE_PKG=libsqlite3-mod-atlas-migrate

# ---------------------------------------------------------------- build

t0=$SECONDS
if ! tests/install-deps.sh dpkg-dev fakeroot debhelper postgresql-server-dev-all >"$LOG/deps.log" 2>&1; then
	keep_logs
	rm -rf "$WORK"
	loud_skip "Debian's packaging tools could not be installed (see $KEEP/deps.log)"
fi
if ! make -s --no-print-directory deb >"$LOG/make-deb.log" 2>&1; then
	not_ok "make deb builds the packages" "see $KEEP/make-deb.log and build/deb/build.log"
	keep_logs
	rm -rf "$WORK"
	echo "1..$N"
	exit 1
fi
PG_DEB=$(ls build/deb/${PG_PKG}_*.deb 2>/dev/null | head -1)
SQLITE_DEB=$(ls build/deb/${SQLITE_PKG}_*.deb 2>/dev/null | head -1)
check "make deb builds $PG_PKG and $SQLITE_PKG ($((SECONDS - t0)) s)" test -f "$PG_DEB" -a -f "$SQLITE_DEB"
VERSION=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" sql/atlas_migrate.control)
check "the packages' version is the release's ($VERSION-*)" \
	test "$(dpkg-deb -f "$PG_DEB" Version | cut -d- -f1)" = "$VERSION" -a "$(dpkg-deb -f "$SQLITE_DEB" Version | cut -d- -f1)" = "$VERSION"
TRIPLET=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
check "$SQLITE_PKG puts the extension on the library path (/usr/lib/$TRIPLET/atlas_migrate.so)" \
	test "$(dpkg-deb -c "$SQLITE_DEB" | grep -c " ./usr/lib/$TRIPLET/atlas_migrate.so$")" = 1

# ---------------------------------------------------------------- PostgreSQL: a clean server, the package

exec 9>/tmp/atlas_migrate-pg-tests.lock
flock 9

cleanup() {
	[ -n "${CTL_NAME:-}" ] && ctl_stop
	if [ -n "$PG_CLUSTER_DIR" ]; then
		cp "$PG_CLUSTER_DIR/server.log" "$LOG/server.log" 2>/dev/null
		pg_cluster_stop
	fi
	dpkg_retry --purge "$PG_PKG" "$SQLITE_PKG" >>"$LOG/dpkg.log" 2>&1
	keep_logs
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# dpkg ARGS...: dpkg, waiting (up to 2 minutes) while another dpkg or apt holds its lock
dpkg_retry() {
	local i
	for i in $(seq 1 60); do
		dpkg "$@" && return 0
		fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock >/dev/null 2>&1 || return 1
		sleep 2
	done
	return 1
}

PKGLIB=$("$PG_BIN/pg_config" --pkglibdir)
SHARE=$("$PG_BIN/pg_config" --sharedir)
# what `make install` left in the server's directories goes: the package must bring it all
rm -rf "$PKGLIB/atlas_migrate.so" "$PKGLIB/bitcode/atlas_migrate" "$PKGLIB/bitcode/atlas_migrate.index.bc" \
	"$SHARE"/extension/atlas_migrate.control "$SHARE"/extension/atlas_migrate--*.sql
if dpkg_retry -i "$PG_DEB" >"$LOG/dpkg.log" 2>&1; then
	ok "dpkg -i $(basename "$PG_DEB")"
else
	not_ok "dpkg -i $(basename "$PG_DEB")" "$(tail -5 "$LOG/dpkg.log")"
fi
dpkg -S "$PKGLIB/atlas_migrate.so" "$SHARE/extension/atlas_migrate.control" \
	"$SHARE/extension/atlas_migrate--0.1.0.sql" "$SHARE/extension/atlas_migrate--0.1.0--$VERSION.sql" >"$LOG/dpkg-S.out" 2>&1
check "the package owns the library, the control file and the scripts" \
	test "$(grep -c "^$PG_PKG: " "$LOG/dpkg-S.out")" = 4

# a plain cluster: no pg_cron, no fixtures link, nothing of the test harness
if ! pg_cluster_start "$WORK/pg" "shared_preload_libraries = ''" 2>"$LOG/cluster.log"; then
	not_ok "start a plain throwaway cluster" "$(tail -5 "$LOG/cluster.log")"
	echo "1..$N"
	exit 1
fi
ok "start a plain throwaway cluster (port $PGPORT)"

# a migration directory the server can read, by absolute path
MIG=$WORK/migrations
mkdir -p "$MIG"
printf 'CREATE TABLE pkg_users (id bigint PRIMARY KEY, name text NOT NULL);\n' >"$MIG/1_users.sql"
printf "INSERT INTO pkg_users VALUES (1, 'from the package');\n" >"$MIG/2_seed.sql"
/usr/bin/python3 tests/pg/atlas_hash.py "$MIG"
chmod -R a+rX "$MIG"

PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d postgres)
"${PSQL[@]}" -c "CREATE EXTENSION atlas_migrate" \
	-c "SELECT atlas_config_set(\$\$env \"pkg\" {
  url = \"postgres://localhost/postgres?search_path=public\"
  migration {
    dir = \"file://$MIG\"
  }
}\$\$)" >"$LOG/pg.out" 2>&1
check "CREATE EXTENSION atlas_migrate from the package (version $VERSION)" \
	test "$("${PSQL[@]}" -At -c "SELECT extversion FROM pg_extension WHERE extname = 'atlas_migrate'" 2>>"$LOG/pg.out")" = "$VERSION"
"${PSQL[@]}" -At -c "SELECT atlas_migrate_apply('pkg')->>'Status'" >"$LOG/apply.out" 2>"$LOG/apply.err"
check "atlas_migrate_apply runs a migration: succeeded, both files applied" \
	test "$(cat "$LOG/apply.out")" = succeeded -a \
	"$("${PSQL[@]}" -At -c "SELECT name FROM pkg_users" 2>>"$LOG/pg.out")" = "from the package" -a \
	"$("${PSQL[@]}" -At -c "SELECT string_agg(version, ',' ORDER BY version) FROM public.atlas_schema_revisions" 2>>"$LOG/pg.out")" = "1,2"

# ---------------------------------------------------------------- SQLite: the package, loaded by name

if dpkg_retry -i "$SQLITE_DEB" >>"$LOG/dpkg.log" 2>&1; then
	ok "dpkg -i $(basename "$SQLITE_DEB")"
else
	not_ok "dpkg -i $(basename "$SQLITE_DEB")" "$(tail -5 "$LOG/dpkg.log")"
fi
cat >"$WORK/sqlite.py" <<PY
import json, sqlite3
con = sqlite3.connect("$WORK/app.db")
con.enable_load_extension(True)
con.load_extension("atlas_migrate")      # found on the library path, no directory given
con.execute("""SELECT atlas_config_set('env "local" {
  migration {
    dir = "file://$MIG"
  }
}')""")
report = json.loads(con.execute("SELECT atlas_migrate_apply('local')").fetchone()[0])
print(report["Status"], con.execute("SELECT name FROM pkg_users").fetchone()[0], sep="|")
PY
/usr/bin/python3 "$WORK/sqlite.py" >"$LOG/sqlite.out" 2>&1
check "/usr/bin/python3 loads atlas_migrate by name from the package and applies the directory" \
	test "$(cat "$LOG/sqlite.out")" = "succeeded|from the package"

# ---------------------------------------------------------------- the server's environment under pg_ctlcluster
# README "ATLAS_TOKEN for the server": Debian's postgresql@15-main starts the
# server through pg_ctlcluster, which gives it only the cluster's environment
# file.  A cluster of its own (PG_CLUSTER_CONF_ROOT: nothing under /etc),
# started with other values in the caller's environment: getenv() in
# atlas.hcl sees the file's.
CTL_NAME=atlastest$$
CTL=$WORK/ctl
mkdir -p "$CTL/etc/15/$CTL_NAME"
chown postgres "$CTL"
ctl_stop() {
	PG_CLUSTER_CONF_ROOT=$CTL/etc pg_ctlcluster 15 "$CTL_NAME" stop -m fast >/dev/null 2>&1
	rm -f "/var/log/postgresql/postgresql-15-$CTL_NAME.log"
}
CTL_PORT=$(pg_free_port)
if as_postgres "'$PG_BIN/initdb' -D '$CTL/data' -U postgres -A trust" >"$LOG/ctl-initdb.log" 2>&1; then
	cp "$CTL/data/pg_hba.conf" "$CTL/data/pg_ident.conf" "$CTL/etc/15/$CTL_NAME/"
	printf "data_directory = '%s'\nport = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n" \
		"$CTL/data" "$CTL_PORT" "$CTL" >"$CTL/etc/15/$CTL_NAME/postgresql.conf"
	printf "ATLAS_TOKEN = 'atl-from-the-environment-file'\nATLAS_PKG_DIR = '%s'\n" "$MIG" >"$CTL/etc/15/$CTL_NAME/environment"
	chown -R postgres "$CTL/etc"
	ATLAS_TOKEN=atl-from-the-caller ATLAS_PKG_DIR=/nonexistent PG_CLUSTER_CONF_ROOT=$CTL/etc \
		pg_ctlcluster 15 "$CTL_NAME" start >"$LOG/ctl-start.log" 2>&1
	ctl_pid=$(head -1 "$CTL/data/postmaster.pid" 2>/dev/null)
	check "pg_ctlcluster: the server's ATLAS_TOKEN is the cluster's environment file's, not the starting shell's" \
		test -n "$ctl_pid" -a "$(tr '\0' '\n' <"/proc/${ctl_pid:-0}/environ" 2>/dev/null | grep -c '^ATLAS_TOKEN=atl-from-the-environment-file$')" = 1
	psql -X -q -h 127.0.0.1 -p "$CTL_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
		-c "CREATE EXTENSION atlas_migrate" -c "SELECT atlas_config_set(\$\$variable \"dir\" {
  type    = string
  default = getenv(\"ATLAS_PKG_DIR\")
}
env \"pkg\" {
  url = \"postgres://localhost/postgres?search_path=public\"
  migration {
    dir = \"file://\${var.dir}\"
  }
}\$\$)" -At -c "SELECT atlas_migrate_apply('pkg')->>'Status'" >"$LOG/ctl.out" 2>&1
	check "... and getenv() in atlas.hcl reads it (a directory named there applies)" \
		test "$(tail -1 "$LOG/ctl.out")" = succeeded
	ctl_stop
else
	not_ok "pg_ctlcluster: initdb" "see $KEEP/ctl-initdb.log"
fi

echo "1..$N"
[ "$FAILED" = 0 ]
