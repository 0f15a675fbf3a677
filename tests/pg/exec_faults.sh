# tests/pg/exec_faults.sh - sourced by tests/pg/run.sh (uses its helpers:
# newdb, env_hcl, q, wait_until, check, ok, not_ok, PSQL, LOG, BG_PIDS).
# Issue 8, "truthful under every fault":
#   1. tx mode none: a statement commits together with its revision row, so
#      a worker stopped between the two does not run it twice;
#   2. a txmode-none file that leaves its own transaction open fails, names
#      the file, and rolls the transaction back;
#   3. the waiting caller's memory stays flat while it waits;
#   4. LATIN1 and SQL_ASCII databases: the report is valid jsonb, the run
#      row and the log are right.

REVS_DDL='CREATE SCHEMA atlas_schema_revisions;
CREATE TABLE atlas_schema_revisions.atlas_schema_revisions ("version" character varying NOT NULL,
 "description" character varying NOT NULL, "type" bigint NOT NULL DEFAULT 2,
 "applied" bigint NOT NULL DEFAULT 0, "total" bigint NOT NULL DEFAULT 0,
 "executed_at" timestamptz NOT NULL, "execution_time" bigint NOT NULL, "error" text NULL,
 "error_stmt" text NULL, "hash" character varying NOT NULL, "partial_hashes" jsonb NULL,
 "operator_version" character varying NOT NULL, PRIMARY KEY ("version"));'

# ---------------------------------------------------------------- 1. statement + row, one commit

newdb nonekill "$(env_hcl dev none_kill)"
# Statement 3 waits at a gate (advisory lock 4242) the test holds; meanwhile
# another session locks the file's revision row; the gate opens, statement 3
# runs and the row write waits on that row lock: the worker is stopped right
# there, between the statement and its row.  (A trigger on the revisions
# table would do it more simply, but such a table is refused, issue 9.)
gate=$WORK/nonekill.gate
rowlock=$WORK/nonekill.rowlock
mkfifo "$gate" "$rowlock"
( { exec 3<"$gate"; echo "SELECT pg_advisory_lock(4242);"; read -r _ <&3; echo "SELECT pg_advisory_unlock(4242);"; } |
	"${PSQL[@]}" -d nonekill >/dev/null 2>&1 ) &
BG_PIDS+=($!)
( { exec 3<"$rowlock"; echo "BEGIN;"; read -r _ <&3
	echo "SELECT 1 FROM atlas_schema_revisions.atlas_schema_revisions WHERE version = '1' FOR UPDATE;"
	read -r _ <&3; echo "ROLLBACK;"; } |
	"${PSQL[@]}" -d nonekill >/dev/null 2>&1 ) &
BG_PIDS+=($!)
exec 7>"$gate" 8>"$rowlock"
wait_until 10 nonekill "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted)" >/dev/null
( "${PSQL[@]}" -d nonekill -c "SELECT atlas_migrate_apply('dev')" >"$LOG/nonekill.out" 2>&1 ) &
BG_PIDS+=($!)
applier=$!
if wait_until 10 nonekill "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted)" &&
	echo go >&8 &&
	wait_until 10 nonekill "EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = 'nonekill' AND state = 'idle in transaction' AND query LIKE '%FOR UPDATE%')" &&
	echo go >&7 &&
	wait_until 10 nonekill "EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'atlas_migrate worker' AND wait_event_type = 'Lock')"; then
	q nonekill "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'atlas_migrate worker'" >/dev/null
	wait "$applier"
	echo done >&8
	exec 7>&- 8>&-
	check "txmode none, worker stopped between a statement and its row: the two rolled back together" \
		test "$(q nonekill "SELECT (SELECT string_agg(x::text, ',' ORDER BY x) FROM nk) || ' ' || (SELECT applied FROM atlas_schema_revisions.atlas_schema_revisions WHERE version = '1')")" = "1,2 3"
	wait_until 10 nonekill "NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' AND datname = 'nonekill')" >/dev/null
	"${PSQL[@]}" -d nonekill -At -c "SELECT atlas_migrate_apply('dev')->'Applied'->0->>'Skipped'" >"$LOG/nonekill2.out" 2>"$LOG/nonekill2.err"
	check "... the next call resumes at that statement and runs it once (no duplicate rows)" \
		test "$(cat "$LOG/nonekill2.out")" = 3 -a \
		"$(q nonekill "SELECT string_agg(x || ':' || n, ',' ORDER BY x) FROM (SELECT x, count(*) n FROM nk GROUP BY x) s")" = "1:1,2:1,3:1" -a \
		"$(q nonekill "SELECT applied || '/' || total FROM atlas_schema_revisions.atlas_schema_revisions WHERE version = '1'")" = 4/4
else
	not_ok "txmode none stop test: the worker never reached the row write" "$(cat "$LOG/nonekill.out")"
fi

# ---------------------------------------------------------------- 2. a file's own transaction left open

newdb noneopen "$(env_hcl dev none_open)"
"${PSQL[@]}" -d noneopen -c "SELECT atlas_migrate_apply('dev')" >"$LOG/noneopen.out" 2>&1
check "txmode none file leaving its BEGIN open: an error naming the file" \
	grep -q 'ERROR:  migration file "2_open.sql" left the transaction it opened (statement "BEGIN;") open at its end; it was rolled back' "$LOG/noneopen.out"
check "... its transaction rolled back, the next file not run, the rows tell the truth" \
	test "$(q noneopen "SELECT (SELECT count(*) FROM no_b) = 0 AND to_regclass('no_c') IS NULL
		AND (SELECT applied = 1 AND error = 'transaction left open at the end of the file; rolled back' AND error_stmt = 'BEGIN;'
			FROM atlas_schema_revisions.atlas_schema_revisions WHERE version = '2')
		AND (SELECT status = 'failed' AND error LIKE '%2_open.sql%' AND report->>'Status' = 'failed' FROM atlas_migrate_runs)")" = t
"${PSQL[@]}" -d noneopen -c "SELECT atlas_config_set(\$\$$(env_hcl dev none_open_fixed)\$\$)" >/dev/null
check "... with COMMIT added the file resumes at its BEGIN and commits once" \
	test "$(q noneopen "SELECT atlas_migrate_apply('dev')->>'Status'" 2>"$LOG/noneopen2.err")" = succeeded -a \
	"$(q noneopen "SELECT (SELECT count(*) FROM no_b) = 1 AND to_regclass('no_c') IS NOT NULL")" = t

# ---------------------------------------------------------------- 3. the waiting caller's memory

# mem_total PID: ask the backend to log its memory contexts, wait for the
# "Grand total" line, print its byte count
mem_total() {
	local pid=$1 before pat="\[$1\] .*Grand total:"
	before=$(grep -c "$pat" "$PG_CLUSTER_DIR/server.log")
	q postgres "SELECT pg_log_backend_memory_contexts($pid)" >/dev/null
	wait_file 10 "$PG_CLUSTER_DIR/server.log" "$pat" $((before + 1)) >&2 || return 1
	grep "$pat" "$PG_CLUSTER_DIR/server.log" | tail -1 | sed -E 's/.*Grand total: ([0-9]+) bytes.*/\1/'
}
newdb memwait "$(env_hcl dev lockwait)"
q memwait "CREATE TABLE lw_t (x int)" >/dev/null
# a session holds the lock the migration needs until the test cancels it
( q memwait "BEGIN; LOCK TABLE lw_t; SELECT pg_sleep(120)" >/dev/null 2>&1 ) &
BG_PIDS+=($!)
holder=$!
if wait_until 10 memwait "EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'lw_t' AND l.mode = 'AccessExclusiveLock' AND l.granted)"; then
	( "${PSQL[@]}" -d memwait -At -c "SELECT atlas_migrate_apply('dev', allow_dirty => true)->>'Status'" >"$LOG/memwait.out" 2>"$LOG/memwait.err" ) &
	BG_PIDS+=($!)
	caller=$!
	wait_until 10 memwait "EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'atlas_migrate worker' AND wait_event_type = 'Lock')" \
		"the worker waiting for the lock on lw_t"
	cpid=$(q memwait "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND query LIKE 'SELECT atlas_migrate_apply(%'")
	m1=$(mem_total "$cpid")
	# the measuring window: 30 more samples.  Each is written by the caller's
	# wait loop (the memory-context dump runs at its interrupt check), so the
	# loop went round at least 30 times, and its check whether it blocks the
	# worker (every 250 ms) ran all along; none may make the memory grow
	t1=$(now_ms)
	m2=$m1
	mmax=${m1:-0}
	for _ in $(seq 1 30); do
		m2=$(mem_total "$cpid") || { m2=; break; }
		[ "$m2" -gt "$mmax" ] && mmax=$m2
	done
	echo "# caller memory while waiting: ${m1:-?} -> ${m2:-?} bytes (at most $mmax) over 30 samples, $(($(now_ms) - t1)) ms"
	q memwait "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'BEGIN; LOCK TABLE lw_t%'" >/dev/null
	wait "$caller"
	check "a caller waiting on its worker keeps its memory flat over 30 turns of its wait loop (${m1:-?} -> ${m2:-?} bytes, at most $mmax)" \
		test -n "$m1" -a -n "$m2" -a "$((mmax - ${m1:-0}))" -lt 16384
	check "... and the run then completes" test "$(cat "$LOG/memwait.out")" = succeeded
else
	not_ok "memory test: the lock holder never took its lock"
fi
wait "$holder" 2>/dev/null

# ---------------------------------------------------------------- 4. non-UTF8 databases

for enc in LATIN1 SQL_ASCII; do
	db=enc_$(echo "$enc" | tr A-Z a-z)
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE ${db}_ok ENCODING '$enc' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'" \
		-c "CREATE DATABASE ${db}_fail ENCODING '$enc' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'" >/dev/null
	for kind in ok fail; do
		"${PSQL[@]}" -d "${db}_$kind" -c "CREATE EXTENSION atlas_migrate" \
			-c "SELECT atlas_config_set(\$hcl\$$(env_hcl dev enc_$kind)\$hcl\$)" >/dev/null
	done
	# bytes of a text in the database encoding, as hex
	raw="encode(convert_to(%s, current_setting('server_encoding')), 'hex')"
	"${PSQL[@]}" -d "${db}_ok" -At -c "SELECT atlas_migrate_apply('dev')->>'Status'" >"$LOG/${db}_ok.out" 2>"$LOG/${db}_ok.err"
	check "$enc database, a LATIN1 byte in a file: the run succeeds with a jsonb report" \
		test "$(cat "$LOG/${db}_ok.out")" = succeeded
	check "... the run row is finished, its report and log hold the text as stored" \
		test "$(q "${db}_ok" "SELECT status = 'succeeded' AND report->>'Status' = 'succeeded'
			AND $(printf "$raw" "report->'Applied'->0->'Applied'->>1") = encode('INSERT INTO enc_menu VALUES (''caf\\351'');'::bytea, 'hex')
			AND $(printf "$raw" "log") LIKE '%636166e9%'
			AND (SELECT $(printf "$raw" item) FROM enc_menu) = '636166e9' FROM atlas_migrate_runs")" = t
	"${PSQL[@]}" -d "${db}_fail" -At -c "SELECT atlas_migrate_apply('dev')" >"$LOG/${db}_fail.out" 2>"$LOG/${db}_fail.err"
	check "$enc database, a failing file with a non-ASCII error: the caller gets the statement's error" \
		env LC_ALL=C grep -q 'ERROR:  sql/migrate: executing statement .* from version "2": column "cr.me" does not exist' "$LOG/${db}_fail.err"
	check "... the run row says failed, with the database's error text in its report" \
		test "$(q "${db}_fail" "SELECT status = 'failed' AND files_applied = 1 AND report->>'Status' = 'failed'
			AND $(printf "$raw" "report->'Applied'->1->'Error'->>'Text'") = encode('column \"cr\\350me\" does not exist'::bytea, 'hex')
			AND $(printf "$raw" "error") LIKE '%6372e86d65%' FROM atlas_migrate_runs")" = t
done
