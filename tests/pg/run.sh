#!/usr/bin/env bash
# tests/pg/run.sh - the PostgreSQL host's tests, as TAP (`ok N - name`).
#
# Starts a throwaway PostgreSQL 15 cluster (as the postgres OS user, on
# 127.0.0.1 and a free port, pg_cron preloaded), installs the extension,
# runs pg_regress (tests/pg/sql, expected/), then the scenarios that need
# several sessions, a killed worker, a crash or pg_cron, then the Atlas
# conformance scripts (conformance.py), Atlas Cloud through the local
# stand-in (cloud_pg.py) and the attack suite (security/attacks.py), and
# stops the cluster.
#
# The pg_regress tests read their migration directories as
# file://atlas_fixtures/<name>, relative to the data directory: run.sh links
# the fixtures (tests/pg/fixtures.sh) there; "make installcheck" copies them
# to the server it runs against (tests/pg/installcheck-fixtures.sh), which
# installcheck.sh checks on a second, plain cluster.  upgrade.sh upgrades a
# database with 0.1.0 history.
#
# Needs root (make install, su postgres).  Leaves its logs in
# build/test-output/pg/ (server log, pg_regress diffs, psql outputs).
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
. tests/pg/lib.sh


if [ "$(id -u)" != 0 ]; then
	skip "PostgreSQL tests need root (make install, initdb as postgres)"
	exit 0
fi
if [ ! -x "$PG_BIN/initdb" ]; then
	skip "PostgreSQL 15 server not installed"
	exit 0
fi

# make install writes into the server's shared directories: one run at a
# time on this machine (several checkouts may test side by side)
exec 9>/tmp/atlas_migrate-pg-tests.lock
flock 9

WORK=$(mktemp -d /tmp/atlas_pg.XXXXXX)
chmod 755 "$WORK"
# logs live in WORK while running (another suite may clean build/), then
# are copied to build/test-output/pg
LOG=$WORK/log
mkdir -p "$LOG"
KEEP=$ROOT/build/test-output/pg
BG_PIDS=()

cleanup() {
	local p
	# only this shell's jobs still running: a finished job's pid may have
	# been reused by another process since
	for p in $(jobs -pr); do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ -n "$PG_CLUSTER_DIR" ]; then
		cp "$PG_CLUSTER_DIR/server.log" "$LOG/server.log" 2>/dev/null
		pg_cluster_stop
	fi
	rm -rf "$KEEP"
	mkdir -p "$(dirname "$KEEP")" && cp -r "$LOG" "$KEEP"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- setup

if ! pg_install_extension "$ROOT" "$LOG/install.log"; then
	not_ok "make install" "see $KEEP/install.log"
	exit 1
fi
ok "make install"

# a cloud token only the server's environment knows (atlas.hcl: getenv)
export ATLAS_TOKEN="atl-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# another token (cloud_pg.py: a kept report is sent only with its own token)
export ATLAS_TOKEN_B="atl-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
if ! pg_cluster_start "$WORK/pg"; then
	not_ok "start a throwaway cluster"
	exit 1
fi
ok "start a throwaway cluster (port $PGPORT, pg_cron preloaded)"

FIX=$WORK/fix
bash tests/pg/fixtures.sh "$FIX" >"$LOG/fixtures.log" 2>&1 || not_ok "fixtures" "see $KEEP/fixtures.log"
# file:// paths relative to the data directory: file://atlas_fixtures/<name>
as_postgres "ln -s '$FIX' '$WORK/pg/data/atlas_fixtures'"

export PGCONNECT_TIMEOUT=10
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

# newdb NAME HCL: a database with the extension and this atlas.hcl
newdb() {
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $1" &&
		"${PSQL[@]}" -d "$1" -c "CREATE EXTENSION atlas_migrate" \
			-c "SELECT atlas_config_set(\$hcl\$$2\$hcl\$)" >/dev/null
}

# env_hcl NAME DIR [extra migration lines]: one env reading file://atlas_fixtures/DIR
env_hcl() {
	printf 'env "%s" {\n  migration {\n    dir = "file://atlas_fixtures/%s"\n%s  }\n}\n' "$1" "$2" "${3:-}"
}

# q DB SQL: one value
q() { "${PSQL[@]}" -d "$1" -At -c "$2"; }

# waiting for conditions: wait_until, wait_value, wait_file (tests/pg/lib.sh)

# ---------------------------------------------------------------- pg_regress

mapfile -t REGRESS < <(cd tests/pg/sql && ls *.sql | sed 's/\.sql$//' | sort)
# pg_regress lives next to the PGXS makefiles

PG_REGRESS=$(dirname "$("$PG_BIN/pg_config" --pgxs)")/../test/regress/pg_regress
mkdir -p "$LOG/regress"
"$PG_REGRESS" --inputdir=tests/pg --outputdir="$LOG/regress" --bindir="$PG_BIN" \
	--host="$PGHOST" --port="$PGPORT" --user=postgres --dbname=contrib_regression \
	"${REGRESS[@]}" >"$LOG/regress/summary.txt" 2>&1
for t in "${REGRESS[@]}"; do
	line=$(grep -E "^test $t +\.\.\. " "$LOG/regress/summary.txt")
	case "$line" in
	*"... ok"*) ok "pg_regress $t" ;;
	*) not_ok "pg_regress $t" "${line:-did not run}" "diffs: $KEEP/regress/regression.diffs" ;;
	esac
done

# ---------------------------------------------------------------- crash recovery
# (first: a crash restarts every backend, so nothing else may be running)

newdb crash "$(env_hcl dev sleepy)"
( "${PSQL[@]}" -d crash -c "SELECT atlas_migrate_apply('dev')" >"$LOG/crash.out" 2>&1 ) &
BG_PIDS+=($!)
if wait_until 10 crash "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'atlas_migrate worker' AND query LIKE '%pg_sleep%') = 1"; then
	kill -9 "$(q crash "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'atlas_migrate worker'")"
	wait "${BG_PIDS[-1]}" 2>/dev/null
	# the server restarts after a crash
	wait_until 30 crash "true" "the server to accept connections again after the crash"
	check "a crash leaves the run row 'running'" \
		test "$(q crash "SELECT status FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1")" = running
	"${PSQL[@]}" -d crash -c "SELECT atlas_config_set(\$\$$(env_hcl dev sleepy_fixed)\$\$)" >/dev/null
	"${PSQL[@]}" -d crash -c "SELECT atlas_migrate_apply('dev')" >"$LOG/crash2.out" 2>&1
	check "the next call marks the interrupted run failed" \
		test "$(q crash "SELECT status || ': ' || error FROM atlas_migrate_runs ORDER BY id LIMIT 1")" != "" -a \
		"$(q crash "SELECT error LIKE 'interrupted: migration worker (PID %) exited before the run finished' FROM atlas_migrate_runs ORDER BY id LIMIT 1")" = t
	check "the next call recovers: the crashed file applies" \
		test "$(q crash "SELECT string_agg(version || ':' || applied || '/' || total, ',' ORDER BY version) FROM atlas_schema_revisions.atlas_schema_revisions")" = "1:1/1,2:2/2,3:1/1"
else
	not_ok "crash test: the worker did not start" "$(cat "$LOG/crash.out")"
fi

# ---------------------------------------------------------------- pg_cron (scheduled now, checked at the end)

CRON=0
if "${PSQL[@]}" -d postgres -c "CREATE EXTENSION pg_cron" >"$LOG/cron.out" 2>&1; then
	CRON=1
	newdb cron_ok "$(env_hcl prod cron_ok)"
	newdb cron_fail "$(env_hcl prod cron_fail)"
	newdb cron_cic "$(env_hcl prod cic)"
	for d in cron_ok cron_fail cron_cic; do
		"${PSQL[@]}" -d postgres -c "SELECT cron.schedule_in_database('$d', '* * * * *', \$\$SELECT atlas_migrate_apply('prod')\$\$, '$d')" >>"$LOG/cron.out" 2>&1
	done
	# CALL atlas_migrate: CREATE INDEX CONCURRENTLY then a failing file; and CONCURRENTLY alone
	newdb cron_call "$(env_hcl prod cic_fail)"
	newdb cron_callok "$(env_hcl prod cic)"
	for d in cron_call cron_callok; do
		"${PSQL[@]}" -d postgres -c "SELECT cron.schedule_in_database('$d', '* * * * *', \$\$CALL atlas_migrate('prod')\$\$, '$d')" >>"$LOG/cron.out" 2>&1
	done
	CRON_T0=$(now_ms)
else
	skip "pg_cron is not available"
fi

# ---------------------------------------------------------------- 1. psql: log, report, second call, status

newdb psql1 "$(env_hcl dev five)"
"${PSQL[@]}" -d psql1 -At -c "SELECT atlas_migrate_apply('dev')" >"$LOG/psql1.out" 2>"$LOG/psql1.err"
check "apply from psql: returns a jsonb report with status succeeded" \
	grep -q '"Status": "succeeded"' "$LOG/psql1.out"
expect_lines() {
	local file=$1
	shift
	local l
	for l in "$@"; do
		grep -qxF -- "$l" "$file" || { echo "# missing line: $l" >&2; return 1; }
	done
}
check "apply from psql: the NOTICE stream is Atlas's log" expect_lines "$LOG/psql1.err" \
	"NOTICE:  Migrating to version 5 (5 migrations in total):" \
	"NOTICE:    -- migrating version 1" \
	"NOTICE:      -> CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);" \
	"NOTICE:      -> INSERT INTO users VALUES (1, 'a'), (2, 'b');" \
	"NOTICE:    -- migrating version 4" \
	"NOTICE:      -> VACUUM users;" \
	"NOTICE:    -------------------------" \
	"NOTICE:    -- 5 migrations" \
	"NOTICE:    -- 7 sql statements"
check "apply from psql: a migration's own NOTICE is relayed in order" \
	test "$(grep -nx 'NOTICE:  hello from file 3' "$LOG/psql1.err" | cut -d: -f1)" -gt \
	"$(grep -nx 'NOTICE:    -- migrating version 3' "$LOG/psql1.err" | cut -d: -f1)"
check "apply from psql: durations in Go format" \
	grep -qE '^NOTICE:    -- ok \([0-9.]+(µs|ms|s)\)$' "$LOG/psql1.err"
"${PSQL[@]}" -d psql1 -At -c "SELECT atlas_migrate_apply('dev')->>'Status'" >"$LOG/psql1b.out" 2>"$LOG/psql1b.err"
check "second call: nothing to do" \
	test "$(cat "$LOG/psql1b.out")" = nothing_to_do -a "$(cat "$LOG/psql1b.err")" = "NOTICE:  No migration files to execute
NOTICE:  atlas_migrate: nothing to apply, at version 5; report in atlas_migrate_runs id 2"
# issue 13: one summary line ends the log at a psql prompt (the report is the result)
check "apply from psql: the last NOTICE sums the run up and names its run row" \
	test "$(tail -1 "$LOG/psql1.err")" = "NOTICE:  atlas_migrate: applied 5 files, version (none) -> 5; report in atlas_migrate_runs id 1" -a \
	"$(grep -c 'atlas_migrate: ' "$LOG/psql1.err")" = 1
newdb psqldry "$(env_hcl dev five)"
"${PSQL[@]}" -d psqldry -c "SELECT atlas_migrate_apply('dev', amount => 2)" >/dev/null 2>"$LOG/psqldry1.err"
"${PSQL[@]}" -d psqldry -c "SELECT atlas_migrate_apply('dev', dry_run => true)" >/dev/null 2>"$LOG/psqldry2.err"
check "a dry run's summary: nothing applied, what is pending, from which version to which" \
	test "$(tail -1 "$LOG/psqldry1.err")" = "NOTICE:  atlas_migrate: applied 2 files, version (none) -> 2; report in atlas_migrate_runs id 1" -a \
	"$(tail -1 "$LOG/psqldry2.err")" = "NOTICE:  atlas_migrate: dry run, nothing applied: 3 files pending, version 2 -> 5; report in atlas_migrate_runs id 2"
check "atlas_migrate_status lists the five files applied" \
	test "$(q psql1 "SELECT string_agg(name || '=' || status, ',' ORDER BY version) FROM atlas_migrate_status('dev')")" = \
	"1_users.sql=applied,2_pets.sql=applied,3_hello.sql=applied,4_email.sql=applied,5_index.sql=applied"

# issue 13: what the worker inherits from the calling session (README:
# "Session settings in the worker"): every setting (SET, ALTER DATABASE/ROLE
# SET, PGOPTIONS, custom ones), the session and current role; the env URL's
# search_path replaces the caller's
newdb wsettings "$(env_hcl plain worker_settings)
env \"url\" {
  url = \"postgres://x/wsettings?search_path=ws_url\"
  migration {
    dir = \"file://atlas_fixtures/worker_settings\"
  }
}"
"${PSQL[@]}" -d wsettings -c "CREATE ROLE ws_owner NOLOGIN; GRANT CREATE ON DATABASE wsettings TO ws_owner; CREATE SCHEMA ws AUTHORIZATION ws_owner; CREATE SCHEMA ws_url AUTHORIZATION ws_owner" \
	-c "DO \$\$ DECLARE f regprocedure; BEGIN FOR f IN SELECT oid FROM pg_proc WHERE proname = 'atlas_migrate_apply' LOOP EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO ws_owner', f); END LOOP; END \$\$" \
	-c "GRANT pg_read_server_files TO ws_owner" \
	-c "ALTER DATABASE wsettings SET DateStyle = 'German'" >"$LOG/wsettings.out" 2>&1
for e in plain url; do
	PGAPPNAME=ws-app PGOPTIONS="-c work_mem=7MB" "${PSQL[@]}" -d wsettings -c "SET TimeZone = 'Asia/Tokyo'" \
		-c "SET app.tenant = 'acme'" -c "SET statement_timeout = '55s'" -c "SET search_path = ws, public" \
		-c "SET ROLE ws_owner" -c "SELECT atlas_migrate_apply('$e', allow_dirty => true)" >>"$LOG/wsettings.out" 2>&1
done
check "the worker runs migrations with the caller's settings: SET, PGOPTIONS, ALTER DATABASE SET, custom, application_name, roles" \
	test "$(q wsettings "SELECT concat_ws('|', work_mem, timezone, statement_timeout, application_name, app_tenant, datestyle, search_path, session_role, current_role_) FROM ws.worker_settings")" = \
	"7MB|Asia/Tokyo|55s|ws-app|acme|German, DMY|ws, public|postgres|ws_owner"
check "... except search_path when the env URL sets one" \
	test "$(q wsettings "SELECT search_path || '|' || work_mem FROM ws_url.worker_settings")" = "ws_url|7MB"

# installed in a schema of its own: found there, and that schema does not
# make the database "not clean"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE ownschema"
"${PSQL[@]}" -d ownschema -c "CREATE SCHEMA tools" -c "CREATE EXTENSION atlas_migrate SCHEMA tools" \
	-c "SELECT tools.atlas_config_set(\$\$$(env_hcl dev roles_ok)\$\$)" >/dev/null
check "installed in schema tools: applies on a fresh database (tools does not count as used)" \
	test "$(q ownschema "SELECT tools.atlas_migrate_apply('dev')->>'Status'" 2>"$LOG/ownschema.err")" = succeeded -a \
	"$(q ownschema "SELECT count(*) FROM tools.atlas_migrate_runs WHERE status = 'succeeded'")" = 1

# notices arrive while the run is still going
# (file 3 sleeps 1.5 s after its NOTICE: when the NOTICE has arrived, the
# run row must still say running; NOTICEs held back to the end would arrive
# only after the run row was finished)
newdb stream "$(env_hcl dev concurrent)"
( "${PSQL[@]}" -d stream -c "SELECT atlas_migrate_apply('dev')" >"$LOG/stream.out" 2>"$LOG/stream.err" ) &
BG_PIDS+=($!)
stream_bg=$!
if wait_file 30 "$LOG/stream.err" "migrating version 3"; then
	row=$(q stream "SELECT status || ', ' || files_applied || ' files applied' FROM atlas_migrate_runs WHERE id = 1")
	wait "$stream_bg"
	check "NOTICEs stream as they happen: file 3's arrives while the run row says running (${row:-no row})" \
		test "${row%%,*}" = running -a "$(q stream "SELECT status FROM atlas_migrate_runs WHERE id = 1")" = succeeded
else
	wait "$stream_bg"
	not_ok "NOTICEs stream as they happen: file 3's NOTICE never arrived" "$(cat "$LOG/stream.err")"
fi

# ---------------------------------------------------------------- 3. CREATE INDEX CONCURRENTLY, self-blocks

newdb cic "$(env_hcl dev cic)"
t0=$(now_ms)
timeout 20 "${PSQL[@]}" -d cic -At -c "SELECT atlas_migrate_apply('dev')" >"$LOG/cic.out" 2>"$LOG/cic.err"
rc=$?
el=$(($(now_ms) - t0))
check "CIC from a bare SELECT returns without hanging (${el} ms; timeout 20 s)" test $rc = 0
check "CIC from a bare SELECT: the caller says how to follow the run" \
	grep -q "continues in the background" "$LOG/cic.err"
check "... and that CALL atlas_migrate('dev', ...) waits for the outcome" \
	grep -q "to wait for the outcome in the call instead, use CALL atlas_migrate('dev', ...)" "$LOG/cic.err"
check "CIC: the run finishes and the index is valid" \
	wait_until 10 cic "coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = 'cic_t_v_idx'::regclass), false) AND (SELECT status = 'succeeded' FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1)"

# VACUUM and ALTER SYSTEM in a txmode-none file; with wait => false the
# caller's snapshot is gone at once, so CIC does not wait for it either
newdb notx "$(env_hcl dev notx)"
q notx "SELECT atlas_migrate_apply('dev', wait => false)" >"$LOG/notx.out" 2>&1
check "CIC, VACUUM and ALTER SYSTEM in a txmode-none file: applied, index valid" \
	wait_until 10 notx "coalesce((SELECT status = 'succeeded' AND files_applied = 2 FROM atlas_migrate_runs WHERE id = 1), false) AND (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('notx_t_id')) AND (SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'notx_t')"
check "... ALTER SYSTEM wrote postgresql.auto.conf" \
	test "$(q notx "SELECT setting FROM pg_file_settings WHERE name = 'work_mem' AND sourcefile LIKE '%postgresql.auto.conf'")" = 5MB
q notx "ALTER SYSTEM RESET work_mem" >/dev/null

# the implicit block of a multi-statement string (a typical pg_cron command) ends with the string
newdb cic2 "$(env_hcl dev cic)"
t0=$(now_ms)
timeout 20 "${PSQL[@]}" -d cic2 -At -c "SET lock_timeout = '10s'; SELECT atlas_migrate_apply('dev')" >"$LOG/cic2.out" 2>"$LOG/cic2.err"
rc=$?
el=$(($(now_ms) - t0))
check "CIC from a multi-statement string: returns 'running' (${el} ms)" \
	test $rc = 0 -a "$(grep -c '"Status": "running"' "$LOG/cic2.out")" = 1
check "... and the index ends valid" \
	wait_until 10 cic2 "coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('cic_t_v_idx')), false)"

# ---------------------------------------------------------------- CALL atlas_migrate (waits for the true outcome)

newdb call1 "$(env_hcl dev cic_fail)"
t0=$(now_ms)
timeout 30 psql -X -d call1 -v VERBOSITY=verbose -c "CALL atlas_migrate('dev')" >"$LOG/call1.out" 2>"$LOG/call1.err"
rc=$?
el=$(($(now_ms) - t0))
check "CALL atlas_migrate, CONCURRENTLY then a failing file: ends with the run's error and its SQLSTATE (${el} ms)" \
	test $rc = 1 -a "$(grep -c '^ERROR:  22012: sql/migrate: executing statement "SELECT 1 / 0;" from version "3": division by zero$' "$LOG/call1.err")" = 1
check "... the whole log arrives as NOTICEs (CONCURRENTLY, the failure, the summary)" expect_lines "$LOG/call1.err" \
	"NOTICE:  00000:     -> CREATE INDEX CONCURRENTLY cf_t_v_idx ON cf_t (v);" \
	"NOTICE:  00000:   -- migrating version 3" \
	"NOTICE:  00000:     division by zero" \
	"NOTICE:  00000:   -- 2 migrations ok, 1 with errors" \
	"NOTICE:  00000:   -- 4 sql statements ok, 1 with errors"
check "... no detach: no 'running' report, no 'continues in the background'" \
	test "$(grep -c 'continues in the background\|running' "$LOG/call1.err" "$LOG/call1.out" | awk -F: '{s += $2} END {print s}')" = 0
check "... the run row says failed, the index is valid, the failed file rolled back" \
	test "$(q call1 "SELECT status = 'failed' AND files_applied = 2 AND error LIKE '%division by zero' FROM atlas_migrate_runs WHERE id = 1")" = t -a \
	"$(q call1 "SELECT indisvalid AND to_regclass('cf_3') IS NULL FROM pg_index WHERE indexrelid = 'cf_t_v_idx'::regclass")" = t

newdb call2 "$(env_hcl dev cic)"
timeout 30 psql -X -d call2 -At -c "CALL atlas_migrate('dev')" >"$LOG/call2.out" 2>"$LOG/call2.err"
rc=$?
check "CALL atlas_migrate success: returns the report (INOUT report, status succeeded, run id)" \
	test $rc = 0 -a "$(grep -c '"Status": "succeeded"' "$LOG/call2.out")" = 1 -a "$(grep -c '"RunID": 1' "$LOG/call2.out")" = 1 -a \
	"$(q call2 "SELECT indisvalid FROM pg_index WHERE indexrelid = 'cic_t_v_idx'::regclass")" = t
psql -X -d call2 -v VERBOSITY=verbose -c "BEGIN" -c "CALL atlas_migrate('dev')" -c "ROLLBACK" >"$LOG/call3.out" 2>"$LOG/call3.err"
check "CALL atlas_migrate inside BEGIN: refused with a clear error, no run started" \
	test "$(grep -c '^ERROR:  25001: CALL atlas_migrate() cannot run inside a transaction block$' "$LOG/call3.err")" = 1 -a \
	"$(grep -c 'inside a transaction use SELECT atlas_migrate_apply' "$LOG/call3.err")" = 1 -a \
	"$(q call2 "SELECT count(*) FROM atlas_migrate_runs")" = 1

# while it waits, the caller holds no snapshot (backend_xmin NULL) and no transaction id
newdb call4 "$(env_hcl dev sleepy)"
( psql -X -d call4 -c "CALL atlas_migrate('dev')" >"$LOG/call4.out" 2>&1 ) &
BG_PIDS+=($!)
if wait_until 10 call4 "EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'atlas_migrate worker' AND wait_event = 'PgSleep')"; then
	check "CALL atlas_migrate waiting: the caller's backend_xmin and backend_xid are NULL" \
		test "$(q call4 "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'CALL atlas_migrate%' AND backend_xmin IS NULL AND backend_xid IS NULL AND wait_event = 'Extension'")" = 1
	q call4 "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'CALL atlas_migrate%' AND backend_type = 'client backend'" >/dev/null
	wait "${BG_PIDS[-1]}"
	check "... cancel stops it: the worker exits, the file rolls back, the run says failed" \
		wait_until 5 call4 "NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'atlas_migrate worker') AND to_regclass('s2') IS NULL AND (SELECT status = 'failed' FROM atlas_migrate_runs WHERE id = 1)"
else
	not_ok "CALL atlas_migrate: the worker never reached pg_sleep" "$(cat "$LOG/call4.out")"
fi

newdb sb "$(env_hcl dev alter_t)"
"${PSQL[@]}" -d sb -c "CREATE TABLE sb_t (id int); INSERT INTO sb_t VALUES (1)"
t0=$(now_ms)
timeout 20 "${PSQL[@]}" -d sb -At -c "SELECT atlas_migrate_apply('dev', allow_dirty => true) FROM sb_t" >"$LOG/sb1.out" 2>"$LOG/sb1.err"
rc=$?
el=$(($(now_ms) - t0))
check "SELECT atlas_migrate_apply(...) FROM t altering t: returns 'running' (${el} ms; timeout 20 s)" \
	test $rc = 0 -a "$(grep -c '"Status": "running"' "$LOG/sb1.out")" = 1
check "... and the run finishes after the statement ends" \
	wait_until 10 sb "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'sb_t'::regclass AND attname = 'added') AND (SELECT status = 'succeeded' FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1)"

newdb sb2 "$(env_hcl dev alter_t)"
"${PSQL[@]}" -d sb2 -c "CREATE TABLE sb_t (id int)"
t0=$(now_ms)
timeout 20 psql -X -d sb2 -v VERBOSITY=verbose -c "BEGIN" -c "LOCK sb_t" -c "SELECT atlas_migrate_apply('dev', allow_dirty => true)->>'Status'" \
	-c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'sb_t'::regclass AND attname = 'added'" -c "ROLLBACK" >"$LOG/sb2.out" 2>"$LOG/sb2.err"
rc=$?
el=$(($(now_ms) - t0))
check "BEGIN; LOCK t; apply: runs in the caller's own transaction, no self-block (${el} ms; timeout 20 s)" \
	test $rc = 0 -a "$(grep -cx ' succeeded' "$LOG/sb2.out")" = 1 -a "$(grep -cx '     1' "$LOG/sb2.out")" = 1 -a \
	"$(grep -c 'ERROR' "$LOG/sb2.err")" = 0
check "... and the caller's ROLLBACK leaves nothing: no column, no run row, no worker" \
	test "$(q sb2 "SELECT NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'sb_t'::regclass AND attname = 'added') AND (SELECT count(*) FROM atlas_migrate_runs) = 0 AND to_regclass('atlas_schema_revisions.atlas_schema_revisions') IS NULL")" = t

# ---------------------------------------------------------------- wait => false

newdb nowait "$(env_hcl dev concurrent)"
t0=$(now_ms)
out=$(q nowait "SELECT atlas_migrate_apply('dev', wait => false)" 2>"$LOG/nowait.err")
el=$(($(now_ms) - t0))
check "wait => false returns at once with status running and the run id (${el} ms)" \
	test "$(echo "$out" | grep -c '"Status": "running"')" = 1 -a "$(echo "$out" | grep -c '"RunID": 1')" = 1
check "... with a NOTICE on how to follow it" grep -q "HINT:  Follow it with: SELECT status, error, log FROM atlas_migrate_runs WHERE id = 1;" "$LOG/nowait.err"
check "... and the run finishes on its own" \
	wait_until 10 nowait "(SELECT status = 'succeeded' AND files_applied = 5 FROM atlas_migrate_runs WHERE id = 1)"

# ---------------------------------------------------------------- 6. cancel, terminate, statement_timeout

newdb cancel "$(env_hcl dev sleepy)"
( "${PSQL[@]}" -d cancel -c "SELECT atlas_migrate_apply('dev')" >"$LOG/cancel.out" 2>&1 ) &
BG_PIDS+=($!)
if wait_until 10 cancel "EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'atlas_migrate worker' AND wait_event = 'PgSleep')"; then
	t0=$(now_ms)
	q cancel "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT atlas_migrate_apply%' AND backend_type = 'client backend'" >/dev/null
	# (file 2 sleeps 30 s: ended within these deadlines, it was stopped)
	wait_pid 10 "${BG_PIDS[-1]}" "the cancelled caller to end" &&
		wait_until 5 cancel "NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'atlas_migrate worker')" "the worker to exit"
	rc=$?
	el=$(($(now_ms) - t0))
	check "pg_cancel_backend on the caller mid-file: caller and worker stop (${el} ms)" \
		test $rc = 0 -a "$(grep -c 'ERROR:  canceling statement due to user request' "$LOG/cancel.out")" = 1
	check "... the file rolled back, the revision and run rows say interrupted" \
		test "$(q cancel "SELECT to_regclass('s2') IS NULL AND to_regclass('s1') IS NOT NULL AND (SELECT error FROM atlas_schema_revisions.atlas_schema_revisions WHERE version = '2') LIKE 'interrupted%' AND (SELECT status FROM atlas_migrate_runs) = 'failed'")" = t
else
	not_ok "cancel: the worker never reached pg_sleep" "$(cat "$LOG/cancel.out")"
fi

newdb term "$(env_hcl dev sleepy)"
( "${PSQL[@]}" -d term -c "SELECT atlas_migrate_apply('dev')" -v VERBOSITY=verbose >"$LOG/term.out" 2>&1 ) &
BG_PIDS+=($!)
if wait_until 10 term "EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'atlas_migrate worker' AND wait_event = 'PgSleep')"; then
	t0=$(now_ms)
	q term "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'atlas_migrate worker'" >/dev/null
	wait_pid 10 "${BG_PIDS[-1]}" "the caller to end after its worker was terminated"
	rc=$?
	el=$(($(now_ms) - t0))
	check "pg_terminate_backend on the worker: the caller gets an ERROR (${el} ms)" \
		test $rc = 0 -a "$(grep -c 'interrupted: the migration worker was asked to stop' "$LOG/term.out")" -ge 1
	check "... no partial file: s2 rolled back" \
		test "$(q term "SELECT to_regclass('s2') IS NULL AND to_regclass('s1') IS NOT NULL")" = t
	"${PSQL[@]}" -d term -c "SELECT atlas_config_set(\$\$$(env_hcl dev sleepy_fixed)\$\$)" >/dev/null
	"${PSQL[@]}" -d term -c "SELECT atlas_migrate_apply('dev')" >"$LOG/term2.out" 2>&1
	check "... the next call recovers and finishes" \
		test "$(q term "SELECT to_regclass('s2') IS NOT NULL AND to_regclass('s3') IS NOT NULL AND (SELECT status FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1) = 'succeeded'")" = t
else
	not_ok "terminate: the worker never reached pg_sleep" "$(cat "$LOG/term.out")"
fi

newdb stimeout "$(env_hcl dev sleepy)"
t0=$(now_ms)
# (file 2 sleeps 30 s: a call that ends within the 20 s timeout was stopped)
timeout 20 "${PSQL[@]}" -d stimeout -c "SET statement_timeout = '1s'" -c "SELECT atlas_migrate_apply('dev')" >"$LOG/stimeout.out" 2>&1
rc=$?
wait_until 5 stimeout "NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'atlas_migrate worker')" "the worker to exit"
el=$(($(now_ms) - t0))
check "statement_timeout of the caller bounds the run (${el} ms)" \
	test $rc != 124 -a "$(grep -c 'canceling statement due to statement timeout' "$LOG/stimeout.out")" = 1 -a \
	"$(q stimeout "SELECT to_regclass('s2') IS NULL")" = t

# ---------------------------------------------------------------- 5. eight sessions at the same moment

newdb conc "$(env_hcl dev concurrent)
$(env_hcl quick concurrent '    lock_timeout = "0s"
')"
# run_eight ARGS PREFIX [COMMAND...]: eight sessions call atlas_migrate_apply(ARGS)
# at the same moment; COMMAND (if any) runs while they do
run_eight() {
	local args=$1 prefix=$2 i gate pids=()
	shift 2
	# a gate: a session holds advisory lock 4242 until all eight wait for it
	( PGAPPNAME=gate psql -X -q -d conc -c "SELECT pg_advisory_lock(4242)" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 ) &
	gate=$!
	BG_PIDS+=($gate)
	wait_until 30 conc "EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.objid = 4242 AND l.granted AND a.application_name = 'gate' AND a.wait_event = 'PgSleep')" \
		"the gate session to hold advisory lock 4242"
	for i in 1 2 3 4 5 6 7 8; do
		( psql -X -d conc -At -v VERBOSITY=verbose -c "SELECT pg_advisory_lock_shared(4242)" \
			-c "SELECT atlas_migrate_apply($args)->>'Status'" >"$LOG/$prefix.$i.out" 2>"$LOG/$prefix.$i.err" ) &
		pids+=($!)
	done
	wait_until 30 conc "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted) = 8" \
		"eight sessions waiting at the gate"
	q conc "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gate'" >/dev/null
	[ $# -gt 0 ] && "$@"
	wait $gate "${pids[@]}"
}
# while one of them applies (file 3 sleeps 1.5 s), what pg_locks shows of its lock
peek_atlas_lock() {
	wait_value 30 conc "SELECT classid || ',' || objid || ',' || objsubid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = 2686470616" \
		"Atlas's advisory lock granted in pg_locks" >"$LOG/conc.locks"
}
run_eight "'dev'" conc peek_atlas_lock
check "eight sessions: every file applied exactly once" \
	test "$(q conc "SELECT string_agg(version || ':' || n, ',' ORDER BY version) FROM (SELECT version, count(*) n FROM exec_log GROUP BY version) s")" = "1:1,2:1,3:1,4:1,5:1"
check "eight sessions: one applied, seven waited and found nothing to do" \
	test "$(cat "$LOG"/conc.*.out | grep -c '^succeeded$')" = 1 -a "$(cat "$LOG"/conc.*.out | grep -c '^nothing_to_do$')" = 7
check "the lock in pg_locks is Atlas's key (classid 0, objid 2686470616, objsubid 1)" \
	test "$(head -1 "$LOG/conc.locks")" = "0,2686470616,1"
"${PSQL[@]}" -d conc -c "DROP TABLE exec_log; DROP SCHEMA atlas_schema_revisions CASCADE" >/dev/null 2>&1
run_eight "'quick'" conc0
check "eight sessions, lock_timeout 0s: one applied, seven report the lock" \
	test "$(cat "$LOG"/conc0.*.out | grep -c '^succeeded$')" = 1 -a \
	"$(cat "$LOG"/conc0.*.err | grep -c '^ERROR:  55P03: acquiring database lock: sql/schema: lock is held by other session$')" = 7
check "... and still every file ran exactly once" \
	test "$(q conc "SELECT count(*) = 5 AND count(DISTINCT version) = 5 FROM exec_log")" = t

# ---------------------------------------------------------------- issue 8: faults (tests/pg/exec_faults.sh)

. tests/pg/exec_faults.sh

# ---------------------------------------------------------------- issue 10: rehearsal (tests/pg/rehearse.sh)

. tests/pg/rehearse.sh

# ---------------------------------------------------------------- issue 11: lock retries (tests/pg/lock_retries.sh)

. tests/pg/lock_retries.sh
# ---------------------------------------------------------------- who holds the lock

newdb holder "$(env_hcl dev five)"
# another session (an Atlas CLI, say) holds Atlas's lock inside a transaction
( PGAPPNAME=atlas-cli-standin psql -X -d holder -c "BEGIN" -c "SELECT pg_advisory_lock(2686470616)" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 ) &
BG_PIDS+=($!)
holder_bg=$!
if wait_until 10 holder "EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.objid = 2686470616 AND l.granted AND a.wait_event = 'PgSleep')"; then
	hpid=$(q holder "SELECT pid FROM pg_stat_activity WHERE application_name = 'atlas-cli-standin'")
	psql -X -d holder -v VERBOSITY=verbose -c "SELECT atlas_migrate_apply('dev', lock_timeout => '1s')" >"$LOG/holder1.out" 2>"$LOG/holder1.err"
	check "lock timeout names the holder: PID, application_name, transaction age" \
		test "$(grep -c '^ERROR:  55P03: acquiring database lock: sql/schema: lock is held by other session$' "$LOG/holder1.err")" = 1 -a \
		"$(grep -cE "^DETAIL:  Atlas's advisory lock 2686470616 is held by PID $hpid \(application_name \"atlas-cli-standin\", in a transaction for [0-9]+\.[0-9] s\)\.$" "$LOG/holder1.err")" = 1
	q holder "SELECT pg_terminate_backend($hpid)" >/dev/null
else
	not_ok "lock holder: the holding session never got the lock"
fi
wait "$holder_bg" 2>/dev/null

# the calling session holds it itself: fails at once
t0=$(now_ms)
# (lock_timeout 120 s, timeout 60 s: a call that waited for the lock is killed)
timeout 60 psql -X -d holder -v VERBOSITY=verbose -c "SELECT pg_advisory_lock(2686470616)" -c "SELECT atlas_migrate_apply('dev', lock_timeout => '120s')" >"$LOG/holder2.out" 2>"$LOG/holder2.err"
rc=$?
el=$(($(now_ms) - t0))
check "the caller holds Atlas's lock itself: fails without waiting for lock_timeout, saying so (${el} ms)" \
	test $rc != 124 -a "$(grep -c '^ERROR:  40P01: acquiring database lock: sql/schema: lock is held by the calling session itself$' "$LOG/holder2.err")" = 1

# one of our runs holds it
newdb holder3 "$(env_hcl dev sleepy)"
( "${PSQL[@]}" -d holder3 -c "SELECT atlas_migrate_apply('dev')" >"$LOG/holder3a.out" 2>&1 ) &
BG_PIDS+=($!)
if wait_until 10 holder3 "EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'atlas_migrate worker' AND wait_event = 'PgSleep')"; then
	wpid=$(q holder3 "SELECT worker_pid FROM atlas_migrate_runs WHERE id = 1")
	psql -X -d holder3 -v VERBOSITY=verbose -c "SELECT atlas_migrate_apply('dev', lock_timeout => '1s')" >"$LOG/holder3.out" 2>"$LOG/holder3.err"
	check "lock timeout while one of our runs holds it: names the run and its worker PID" \
		test "$(grep -c '^ERROR:  55P03: acquiring database lock: sql/schema: lock is held by other session$' "$LOG/holder3.err")" = 1 -a \
		"$(grep -cxF "DETAIL:  Atlas's advisory lock 2686470616 is held by migration run 1 (atlas_migrate worker, PID $wpid)." "$LOG/holder3.err")" = 1
	q holder3 "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT atlas_migrate_apply%' AND backend_type = 'client backend' AND pid <> pg_backend_pid()" >/dev/null
else
	not_ok "lock holder: our first run never reached pg_sleep" "$(cat "$LOG/holder3a.out")"
fi
wait "${BG_PIDS[-1]}" 2>/dev/null

# SELECT atlas_migrate_apply(...) FROM t over two rows, the migration altering t:
# the first call's worker holds the lock and waits for the statement
newdb holder4 "$(env_hcl dev alter_t)"
"${PSQL[@]}" -d holder4 -c "CREATE TABLE sb_t (id int); INSERT INTO sb_t VALUES (1), (2)"
t0=$(now_ms)
# (lock_timeout 120 s, timeout 60 s: a call that waited for the lock is killed)
timeout 60 psql -X -d holder4 -v VERBOSITY=verbose -c "SELECT atlas_migrate_apply('dev', allow_dirty => true, lock_timeout => '120s') FROM sb_t" >"$LOG/holder4.out" 2>"$LOG/holder4.err"
rc=$?
el=$(($(now_ms) - t0))
check "apply per row of a query: the second call fails without waiting for lock_timeout (${el} ms)" \
	test $rc != 124 -a "$(grep -c '^ERROR:  40P01: acquiring database lock: sql/schema: lock is held by run 1, started earlier by this same statement$' "$LOG/holder4.err")" = 1
check "... saying that the earlier call's worker waits for this statement" \
	grep -q "^DETAIL:  Its migration worker (PID [0-9]*) holds Atlas's advisory lock 2686470616 and waits for this statement to end" "$LOG/holder4.err"
check "... and that earlier run finishes once the statement has ended" \
	wait_until 10 holder4 "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'sb_t'::regclass AND attname = 'added') AND (SELECT status = 'succeeded' FROM atlas_migrate_runs WHERE id = 1)"

# ---------------------------------------------------------------- NOTIFY atlas_migrate when a run ends

newdb notify "$(env_hcl dev five)
$(env_hcl bad fail3 '    revisions_schema = "bad_revs"
')"
# a listener: LISTEN, then short polls until a deadline (the test stops it sooner)
{
	echo "LISTEN atlas_migrate;"
	for _ in $(seq 1 1200); do echo "SELECT pg_sleep(0.05);"; done
} >"$WORK/listen.sql"
( PGAPPNAME=listener psql -X -q -At -d notify -f "$WORK/listen.sql" >"$LOG/listen.out" 2>&1 ) &
BG_PIDS+=($!)
listener=$!
if wait_until 10 notify "EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'listener' AND query LIKE '%pg_sleep%')"; then
	q notify "SELECT atlas_migrate_apply('dev', dry_run => true)" >/dev/null 2>&1
	q notify "SELECT atlas_migrate_apply('dev')" >/dev/null 2>&1
	q notify "SELECT atlas_migrate_apply('dev')" >/dev/null 2>&1
	q notify "SELECT atlas_migrate_apply('bad', allow_dirty => true)" >/dev/null 2>&1
	wait_file 30 "$LOG/listen.out" '^Asynchronous notification "atlas_migrate"' 4
	n=1
	for want in \
		'{"run_id" : 1, "env" : "dev", "status" : "succeeded", "from_version" : null, "to_version" : null, "target_version" : "5", "files_applied" : 0, "files_pending" : 5, "dry_run" : true}' \
		'{"run_id" : 2, "env" : "dev", "status" : "succeeded", "from_version" : null, "to_version" : "5", "target_version" : "5", "files_applied" : 5, "files_pending" : 5, "dry_run" : false}' \
		'{"run_id" : 3, "env" : "dev", "status" : "nothing_to_do", "from_version" : "5", "to_version" : "5", "target_version" : null, "files_applied" : 0, "files_pending" : 0, "dry_run" : false}' \
		'{"run_id" : 4, "env" : "bad", "status" : "failed", "from_version" : null, "to_version" : "2", "target_version" : "5", "files_applied" : 2, "files_pending" : 5, "dry_run" : false}'; do
		check "LISTEN atlas_migrate: notification $n arrives with its JSON payload" \
			grep -qF "Asynchronous notification \"atlas_migrate\" with payload \"$want\" received from server process with PID" "$LOG/listen.out"
		n=$((n + 1))
	done
else
	not_ok "LISTEN atlas_migrate: the listening session never started" "$(cat "$LOG/listen.out")"
fi
kill "$listener" 2>/dev/null
wait "$listener" 2>/dev/null

# ---------------------------------------------------------------- 7. a LATIN1 client

newdb latin "$(env_hcl dev latin1)"
PGCLIENTENCODING=LATIN1 psql -X -d latin -At -c "SELECT atlas_migrate_apply('dev')->>'Status'" >"$LOG/latin.out" 2>"$LOG/latin.err"
check "a LATIN1 client: the run succeeds" test "$(cat "$LOG/latin.out")" = succeeded
check "a LATIN1 client: notices arrive in LATIN1 (caf\\xe9)" \
	env LC_ALL=C grep -q "$(printf 'NOTICE:  served: caf\xe9')" "$LOG/latin.err"
check "a LATIN1 client: the data is stored right" \
	test "$(q latin "SELECT item = U&'caf\\00E9' FROM menu")" = t

# ---------------------------------------------------------------- 4. pg_cron: the results

if [ "$CRON" = 1 ]; then
	# a '* * * * *' job starts at the next minute boundary
	check "pg_cron: the applying job succeeded" \
		wait_until 90 postgres "EXISTS (SELECT 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.database = 'cron_ok' AND d.status = 'succeeded')"
	check "pg_cron: ... its files are applied" \
		test "$(q cron_ok "SELECT to_regclass('cron_a') IS NOT NULL AND to_regclass('cron_b') IS NOT NULL")" = t
	check "pg_cron: the job whose migration fails is recorded failed" \
		wait_until 30 postgres "EXISTS (SELECT 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.database = 'cron_fail' AND d.status = 'failed' AND d.return_message LIKE '%division by zero%')"
	check "pg_cron: ... while the earlier file stays applied" \
		test "$(q cron_fail "SELECT to_regclass('cronf_a') IS NOT NULL AND to_regclass('cronf_b') IS NULL AND (SELECT status FROM atlas_migrate_runs ORDER BY id LIMIT 1) = 'failed'")" = t
	check "pg_cron: a txmode-none CREATE INDEX CONCURRENTLY job ends with a valid index" \
		wait_until 30 cron_cic "coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('cic_t_v_idx')), false) AND (SELECT status = 'succeeded' FROM atlas_migrate_runs ORDER BY id LIMIT 1)"
	check "pg_cron: CALL atlas_migrate with CONCURRENTLY then a failing file: the job is recorded failed" \
		wait_until 30 postgres "EXISTS (SELECT 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.database = 'cron_call' AND d.status = 'failed' AND d.return_message LIKE '%division by zero%')"
	check "pg_cron: ... the index built concurrently is valid, the run row failed" \
		test "$(q cron_call "SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = 'cf_t_v_idx'::regclass) AND (SELECT status FROM atlas_migrate_runs ORDER BY id LIMIT 1) = 'failed'")" = t
	check "pg_cron: CALL atlas_migrate with CONCURRENTLY: succeeded once the run succeeded" \
		wait_until 30 postgres "EXISTS (SELECT 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.database = 'cron_callok' AND d.status = 'succeeded')"
	check "pg_cron: ... the first run of that job finished before the job did" \
		test "$(q cron_callok "SELECT status = 'succeeded' AND files_applied = 2 FROM atlas_migrate_runs ORDER BY id LIMIT 1")" = t -a \
		"$(q postgres "SELECT (SELECT min(d.end_time) FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.database = 'cron_callok') >= '$(q cron_callok "SELECT finished_at FROM atlas_migrate_runs ORDER BY id LIMIT 1")'::timestamptz")" = t
	q postgres "SELECT j.database, d.status, d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid) ORDER BY runid" >"$LOG/cron.runs" 2>&1
	q postgres "SELECT cron.unschedule(jobid) FROM cron.job" >/dev/null 2>&1
fi

# ---------------------------------------------------------------- 8. conformance

/usr/bin/python3 tests/pg/conformance.py >"$LOG/conformance.out" 2>"$LOG/conformance.err"
while IFS= read -r line; do
	case "$line" in
	"PASS "*) ok "${line#PASS }" ;;
	"FAIL "*) not_ok "${line#FAIL }" ;;
	"SKIP "*) skip "${line#SKIP }" ;;
	"# "*) echo "$line" ;;
	esac
done <"$LOG/conformance.out"
if ! grep -qE '^(PASS|FAIL|SKIP) ' "$LOG/conformance.out"; then
	not_ok "conformance scripts produced no results" "$(tail -5 "$LOG/conformance.err")"
fi

# ---------------------------------------------------------------- Atlas Cloud

/usr/bin/python3 tests/pg/cloud_pg.py >"$LOG/cloud.out" 2>"$LOG/cloud.err"
while IFS= read -r line; do
	case "$line" in
	"PASS "*) ok "${line#PASS }" ;;
	"FAIL "*) not_ok "${line#FAIL }" ;;
	"SKIP "*) skip "${line#SKIP }" ;;
	esac
done <"$LOG/cloud.out"
grep -qE '^(PASS|FAIL|SKIP) ' "$LOG/cloud.out" || not_ok "cloud tests produced no results" "$(tail -5 "$LOG/cloud.err")"

# ---------------------------------------------------------------- security: the attack suite

/usr/bin/python3 tests/pg/security/attacks.py >"$LOG/security.out" 2>"$LOG/security.err"
while IFS= read -r line; do
	case "$line" in
	"PASS "*) ok "${line#PASS }" ;;
	"FAIL "*) not_ok "${line#FAIL }" ;;
	"SKIP "*) skip "${line#SKIP }" ;;
	esac
done <"$LOG/security.out"
grep -qE '^(PASS|FAIL|SKIP) ' "$LOG/security.out" || not_ok "security tests produced no results" "$(tail -5 "$LOG/security.err")"

# ---------------------------------------------------------------- issue 13: make installcheck on a plain server

. tests/pg/installcheck.sh

# ---------------------------------------------------------------- issue 13: upgrade from 0.1.0 (swaps the library: last)

. tests/pg/upgrade.sh

echo "1..$N"
[ "$FAILED" = 0 ]
