#!/usr/bin/env bash
# tests/cross/run.sh - the tests that need both hosts at once (TAP):
# the same scenarios applied in SQLite and PostgreSQL, compared host against
# host (test_hosts.py), and a run followed while it goes and killed mid-way
# in each host (test_progress.py).
#
# Starts a throwaway PostgreSQL 15 cluster (tests/pg/lib.sh: postgres OS
# user, 127.0.0.1, a free port), installs this checkout's extension, runs
# the Python tests against it, stops the cluster by its data directory.
# Needs root (make install, initdb as postgres): skipped loudly otherwise.
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
. tests/pg/lib.sh

if [ "$(id -u)" != 0 ]; then
	echo "################################################################"
	echo "# tests/cross needs root (make install, initdb as postgres): SKIPPED"
	echo "################################################################"
	echo "ok 1 # SKIP cross-host tests need root (make install, initdb as postgres)"
	exit 0
fi
if [ ! -x "$PG_BIN/initdb" ]; then
	echo "ok 1 # SKIP cross-host tests: PostgreSQL 15 server not installed"
	exit 0
fi

# make install writes into the server's shared directories: one checkout at
# a time (the same lock as tests/pg/run.sh)
exec 9>/tmp/atlas_migrate-pg-tests.lock
flock 9

WORK=$(mktemp -d /tmp/atlas_cross.XXXXXX)
chmod 755 "$WORK"
KEEP=$ROOT/build/test-output/cross
cleanup() {
	if [ -n "$PG_CLUSTER_DIR" ]; then
		mkdir -p "$KEEP"
		cp "$PG_CLUSTER_DIR/server.log" "$KEEP/server.log" 2>/dev/null
		pg_cluster_stop
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$KEEP"
if ! pg_install_extension "$ROOT" "$KEEP/install.log"; then
	echo "not ok 1 - make install (see $KEEP/install.log)"
	exit 1
fi
if ! pg_cluster_start "$WORK/pg"; then
	echo "not ok 1 - start a throwaway cluster"
	exit 1
fi
export PGCONNECT_TIMEOUT=10 ATLAS_CROSS_WORK=$WORK
rc=0
for t in tests/cross/test_*.py; do
	echo "# $t"
	/usr/bin/python3 "$t" || rc=1
done
exit $rc
