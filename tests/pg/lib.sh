# tests/pg/lib.sh - a throwaway PostgreSQL 15 cluster for tests and the demo.
#
# Source it, then:
#   pg_cluster_start DIR [extra postgresql.conf lines...]   (sets PGHOST PGPORT PGUSER)
#   pg_cluster_stop
# The cluster runs as the postgres OS user (initdb refuses root), listens on
# 127.0.0.1 only, on a free port, with its socket in DIR, pg_cron preloaded.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
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
