# tests/pg/rehearse.sh - sourced by tests/pg/run.sh (uses its helpers:
# newdb, env_hcl, q, wait_until, check, ok, not_ok, now_ms, PSQL, LOG,
# BG_PIDS).  Issue 10 part 1, the rehearsal: inside a transaction block the
# migrations run in the caller's own transaction; what needs two sessions.
#   1. Atlas's lock: another session holding it makes the in-transaction
#      call wait lock_timeout and fail with the lock error; an
#      in-transaction call holds it until its transaction ends, so a
#      worker's call (and the Atlas CLI) waits and times out meanwhile;
#   2. NOTIFY atlas_migrate is delivered only when the caller commits.

# ---------------------------------------------------------------- 1. the lock

newdb rhlock "$(env_hcl dev rehearse)"
( PGAPPNAME=atlas-cli-standin psql -X -d rhlock -c "SELECT pg_advisory_lock(2686470616)" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 ) &
BG_PIDS+=($!)
rh_bg=$!
if wait_until 10 rhlock "EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.objid = 2686470616 AND l.granted AND a.wait_event = 'PgSleep')"; then
	hpid=$(q rhlock "SELECT pid FROM pg_stat_activity WHERE application_name = 'atlas-cli-standin'")
	t0=$(now_ms)
	timeout 30 psql -X -d rhlock -v VERBOSITY=verbose -c "BEGIN" -c "SELECT atlas_migrate_apply('dev', lock_timeout => '1s')" -c "ROLLBACK" >"$LOG/rhlock1.out" 2>"$LOG/rhlock1.err"
	el=$(($(now_ms) - t0))
	check "in-transaction call while another session holds Atlas's lock: waits lock_timeout, then the lock error naming the holder (${el} ms)" \
		test $el -ge 1000 -a \
		"$(grep -c '^ERROR:  55P03: acquiring database lock: sql/schema: lock is held by other session$' "$LOG/rhlock1.err")" = 1 -a \
		"$(grep -c "^DETAIL:  Atlas's advisory lock 2686470616 is held by PID $hpid (application_name \"atlas-cli-standin\"" "$LOG/rhlock1.err")" = 1
	check "... nothing applied, no run row" \
		test "$(q rhlock "SELECT to_regclass('r_a') IS NULL AND (SELECT count(*) FROM atlas_migrate_runs) = 0")" = t
	q rhlock "SELECT pg_terminate_backend($hpid)" >/dev/null
else
	not_ok "rehearsal lock: the holding session never got the lock"
fi
wait "$rh_bg" 2>/dev/null

# an in-transaction call holds the lock until its transaction ends
( PGAPPNAME=rehearsal psql -X -d rhlock -c "BEGIN" -c "SELECT atlas_migrate_apply('dev')" -c "SELECT pg_sleep(120)" >"$LOG/rhlock2a.out" 2>&1 ) &
BG_PIDS+=($!)
rh_bg=$!
if wait_until 10 rhlock "EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.objid = 2686470616 AND l.granted AND a.application_name = 'rehearsal' AND a.wait_event = 'PgSleep')"; then
	rpid=$(q rhlock "SELECT pid FROM pg_stat_activity WHERE application_name = 'rehearsal'")
	psql -X -d rhlock -v VERBOSITY=verbose -c "SELECT atlas_migrate_apply('dev', lock_timeout => '1s')" >"$LOG/rhlock2.out" 2>"$LOG/rhlock2.err"
	check "while a rehearsal's transaction is open, a worker's call times out on Atlas's lock, naming the rehearsing session" \
		test "$(grep -c '^ERROR:  55P03: acquiring database lock: sql/schema: lock is held by other session$' "$LOG/rhlock2.err")" = 1 -a \
		"$(grep -c "^DETAIL:  Atlas's advisory lock 2686470616 is held by PID $rpid (application_name \"rehearsal\", in a transaction for" "$LOG/rhlock2.err")" = 1
	check "... the rehearsal's work is invisible to others meanwhile" \
		test "$(q rhlock "SELECT to_regclass('r_a') IS NULL AND (SELECT count(*) FROM atlas_migrate_runs WHERE status <> 'failed') = 0")" = t
	q rhlock "SELECT pg_terminate_backend($rpid)" >/dev/null
	wait "$rh_bg" 2>/dev/null
	check "... its session ending rolls it back and frees the lock: the next call applies" \
		test "$(q rhlock "SELECT to_regclass('r_a') IS NULL")" = t -a \
		"$(q rhlock "SELECT atlas_migrate_apply('dev', lock_timeout => '5s')->>'Status'" 2>/dev/null)" = succeeded
else
	not_ok "rehearsal lock: the rehearsing session never held the lock" "$(cat "$LOG/rhlock2a.out")"
	wait "$rh_bg" 2>/dev/null
fi

# ---------------------------------------------------------------- 2. NOTIFY only on COMMIT

newdb rhnotify "$(env_hcl dev rehearse)"
psql -X -d rhnotify -c "LISTEN atlas_migrate" -c "BEGIN" -c "SELECT atlas_migrate_apply('dev')->>'Status'" -c "ROLLBACK" -c "SELECT 'after'" >"$LOG/rhnotify1.out" 2>&1
check "rehearsal then ROLLBACK: no NOTIFY atlas_migrate delivered" \
	test "$(grep -c 'after' "$LOG/rhnotify1.out")" = 1 -a "$(grep -c 'Asynchronous notification' "$LOG/rhnotify1.out")" = 0
psql -X -d rhnotify -c "LISTEN atlas_migrate" -c "BEGIN" -c "SELECT atlas_migrate_apply('dev')->>'Status'" -c "SELECT 'before commit'" -c "COMMIT" -c "SELECT 'after'" >"$LOG/rhnotify2.out" 2>&1
check "rehearsal then COMMIT: one NOTIFY atlas_migrate, delivered at the commit, with the run's outcome" \
	test "$(grep -c 'Asynchronous notification "atlas_migrate"' "$LOG/rhnotify2.out")" = 1 -a \
	"$(grep 'Asynchronous notification' "$LOG/rhnotify2.out" | grep -c '"status" : "succeeded"')" = 1 -a \
	"$(grep -n -e 'before commit' -e 'Asynchronous notification' "$LOG/rhnotify2.out" | head -2 | tail -1 | grep -c 'Asynchronous')" = 1

# ---------------------------------------------------------------- 3. cancel

newdb rhcancel "$(env_hcl dev sleepy)"
( PGAPPNAME=rehearsal psql -X -d rhcancel -c "BEGIN" -c "SELECT atlas_migrate_apply('dev')" -c "SELECT 'still in the block'" -c "ROLLBACK" >"$LOG/rhcancel.out" 2>&1 ) &
BG_PIDS+=($!)
rh_bg=$!
if wait_until 10 rhcancel "EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'rehearsal' AND wait_event = 'PgSleep')"; then
	t0=$(now_ms)
	q rhcancel "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'rehearsal'" >/dev/null
	# (file 2 sleeps 30 s: ended within the deadline, the call was stopped)
	wait_pid 10 "$rh_bg" "the cancelled rehearsal to end"
	rc=$?
	el=$(($(now_ms) - t0))
	check "pg_cancel_backend during a rehearsal: the call ends with the cancel error (${el} ms)" \
		test $rc = 0 -a "$(grep -c '^ERROR:  .*canceling statement due to user request$' "$LOG/rhcancel.out")" = 1 -a \
		"$(grep -c 'current transaction is aborted' "$LOG/rhcancel.out")" = 1
	check "... and nothing of it remains" \
		test "$(q rhcancel "SELECT to_regclass('s1') IS NULL AND (SELECT count(*) FROM atlas_migrate_runs) = 0 AND NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 2686470616)")" = t
else
	not_ok "rehearsal cancel: the call never reached pg_sleep" "$(cat "$LOG/rhcancel.out")"
	wait "$rh_bg" 2>/dev/null
fi
