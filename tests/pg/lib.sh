# tests/pg/lib.sh - a throwaway PostgreSQL 15 cluster for tests and the demo.
#
# Source it, then:
#   pg_cluster_start DIR [extra postgresql.conf lines...]   (sets PGHOST PGPORT PGUSER)
#   pg_cluster_stop
# The cluster runs as the postgres OS user (initdb refuses root), listens on
# 127.0.0.1 only, on a free port, with its socket in DIR, pg_cron preloaded.
#
# Tests wait for conditions, never for a fixed time (the polling helpers):
#   wait_until SECONDS DB EXPR [WHAT]     until SELECT EXPR is true
#   wait_value SECONDS DB QUERY [WHAT]    until QUERY returns a row; prints its value
#   wait_file SECONDS FILE PATTERN [N]    until FILE holds N lines matching PATTERN
#   wait_pid SECONDS PID [WHAT]           until the background process PID has ended
# TAP output for the suites that source it (ok, not_ok, skip, check; N and
# FAILED count them).
#
# SECONDS is a generous deadline, not an expected duration: on timeout they
# print "# timed out after SECONDS s waiting for WHAT" (a TAP comment) and
# return 1, so the test that called them fails naming what never came.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# ---------------------------------------------------------------- TAP
N=0
FAILED=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
# not_ok NAME [COMMENT LINE...]
not_ok() {
	N=$((N + 1))
	FAILED=$((FAILED + 1))
	echo "not ok $N - $1"
	shift
	for line in "$@"; do echo "#   $line"; done
}
skip() { N=$((N + 1)); echo "ok $N # SKIP $1"; }
# check NAME COMMAND...: ok when the command succeeds
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name" "failed: $*"; fi
}
PG_CLUSTER_DIR=

# A TCP port nothing listens on (checked by binding it).
pg_free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 30000))
		if /usr/bin/python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', $p)); s.close()" 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Run a command as the postgres OS user (or as ourselves when not root).
as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		su postgres -s /bin/sh -c "$*"
	else
		sh -c "$*"
	fi
}

pg_cluster_start() {
	local dir=$1
	shift
	local port
	port=$(pg_free_port) || { echo "no free port" >&2; return 1; }
	mkdir -p "$dir"
	chmod 755 "$dir"
	[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
	as_postgres "'$PG_BIN/initdb' -D '$dir/data' -U postgres -A trust -E UTF8 --locale=C.UTF-8 >'$dir/initdb.log' 2>&1" ||
		{ cat "$dir/initdb.log" >&2; return 1; }
	{
		echo "port = $port"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$dir'"
		echo "shared_preload_libraries = 'pg_cron'"
		echo "cron.database_name = 'postgres'"
		echo "cron.host = '$dir'"
		echo "max_worker_processes = 32"
		echo "max_connections = 60"
		echo "fsync = off"
		echo "log_min_messages = warning"
		echo "log_line_prefix = '%m [%p] %b '"
		for line in "$@"; do echo "$line"; done
	} >>"$dir/data/postgresql.conf"
	as_postgres "'$PG_BIN/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 start >/dev/null" ||
		{ cat "$dir/server.log" >&2; return 1; }
	PG_CLUSTER_DIR=$dir
	export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres
}

pg_cluster_stop() {
	[ -n "$PG_CLUSTER_DIR" ] || return 0
	as_postgres "'$PG_BIN/pg_ctl' -D '$PG_CLUSTER_DIR/data' -m fast -w -t 60 stop >/dev/null 2>&1" ||
		as_postgres "'$PG_BIN/pg_ctl' -D '$PG_CLUSTER_DIR/data' -m immediate -w stop >/dev/null 2>&1"
	PG_CLUSTER_DIR=
}

# Install the extension (root): PGXS install, else copy the built files.
pg_install_extension() {
	local root=$1 log=$2
	local pgc=$PG_BIN/pg_config
	if make -s -C "$root" install EXTENSION= >"$log" 2>&1; then
		return 0
	fi
	make -s -C "$root" atlas_migrate.so >>"$log" 2>&1 || return 1
	install -m 755 "$root/atlas_migrate.so" "$($pgc --pkglibdir)/" &&
		install -m 644 "$root/sql/atlas_migrate.control" "$root"/sql/atlas_migrate--*.sql \
			"$($pgc --sharedir)/extension/"
}

# now_ms: wall clock in milliseconds
now_ms() { date +%s%3N; }

# wait_timed_out SECONDS WHAT: the message every wait helper prints on timeout
wait_timed_out() { echo "# timed out after $1 s waiting for $2"; }

# wait_until SECONDS DB EXPR [WHAT]: poll SELECT (EXPR) in DB every 0.1 s
# until it is true
wait_until() {
	local deadline=$(($(now_ms) + $1 * 1000))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		[ "$(psql -X -q -At -d "$2" -c "SELECT ($3)" 2>/dev/null)" = t ] && return 0
		sleep 0.1
	done
	wait_timed_out "$1" "${4:-$3}"
	return 1
}

# wait_value SECONDS DB QUERY [WHAT]: poll QUERY in DB every 0.1 s until it
# returns a non-empty value, and print that value (on timeout, the timeout
# message goes to stderr so it never reads as the value)
wait_value() {
	local deadline=$(($(now_ms) + $1 * 1000)) v
	while [ "$(now_ms)" -lt "$deadline" ]; do
		v=$(psql -X -q -At -d "$2" -c "$3" 2>/dev/null)
		if [ -n "$v" ]; then
			echo "$v"
			return 0
		fi
		sleep 0.1
	done
	wait_timed_out "$1" "${4:-$3}" >&2
	return 1
}

# wait_file SECONDS FILE PATTERN [N]: poll every 0.05 s until FILE holds at
# least N (default 1) lines matching the grep pattern PATTERN
wait_file() {
	local deadline=$(($(now_ms) + $1 * 1000)) want=${4:-1}
	while [ "$(now_ms)" -lt "$deadline" ]; do
		[ "$(grep -c -- "$3" "$2" 2>/dev/null)" -ge "$want" ] 2>/dev/null && return 0
		sleep 0.05
	done
	wait_timed_out "$1" "$want line(s) matching '$3' in $2"
	return 1
}

# wait_pid SECONDS PID [WHAT]: poll every 0.05 s until the background
# process PID (a child of this shell) has ended, then reap it
wait_pid() {
	local deadline=$(($(now_ms) + $1 * 1000))
	while kill -0 "$2" 2>/dev/null; do
		if [ "$(now_ms)" -ge "$deadline" ]; then
			wait_timed_out "$1" "${3:-process $2 to end}"
			return 1
		fi
		sleep 0.05
	done
	wait "$2" 2>/dev/null
	return 0
}
