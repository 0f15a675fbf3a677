# tests/pg/lock_retries.sh - sourced by tests/pg/run.sh (uses its helpers:
# newdb, env_hcl, q, wait_until, check, ok, not_ok, now_ms, PSQL, LOG, WORK,
# BG_PIDS).  Issue 11, lock-safe DDL: statement_lock_timeout, lock_retries.
#   1. a session reads orders in an open transaction (ACCESS SHARE) until the
#      test ends it; a migration ALTERs orders with statement_lock_timeout
#      300ms and lock_retries 40; short SELECTs on orders run every ~100 ms
#      meanwhile and none waits long, each retry's NOTICE names the version,
#      the statement, the lock and the holder, and the migration succeeds
#      once the holder commits; without the options (the contrast) the
#      SELECTs queue behind the waiting ALTER for the whole hold;
#   2. retries running out: the error says what it waited for and what to do;
#   3. tx_mode all (every file again), txmode none (the statement again), and
#      inside BEGIN (a rehearsal: the file's subtransaction again);
#   4. a cancel while retrying ends the call and its worker.
# Waits are for conditions (pg_locks, the NOTICEs so far), never sleeps; the
# timing assertion is relative (the readers' longest wait against the hold).

LR_OPTS="statement_lock_timeout => '300ms', lock_retries => 40"

# lr_reap PID: wait for a background job of ours and drop it from BG_PIDS,
# so that run.sh's cleanup never signals a PID the system has given to
# another process since (PIDs are reused within minutes here)
lr_reap() {
	local p keep=()
	wait "$1" 2>/dev/null
	for p in "${BG_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	BG_PIDS=("${keep[@]}")
}

# lr_db NAME FIXTURE: a database with file 1 (orders) applied, and the
# tables the reader writes its waits to
lr_db() {
	newdb "$1" "$(env_hcl dev "$2")" &&
		q "$1" "SELECT atlas_migrate_apply('dev', amount => 1)->>'Status'" >/dev/null 2>&1 &&
		q "$1" "CREATE TABLE lr_reads (at timestamptz, wait float8); CREATE TABLE lr_ctl (done boolean); INSERT INTO lr_ctl VALUES (false)" >/dev/null
}

# lr_hold DB: a session (application_name lr-holder) that has read orders in
# a transaction it keeps open until lr_release; sets LR_HPID
lr_hold() {
	local fifo=$WORK/lr_$1.fifo
	mkfifo "$fifo"
	( { exec 3<"$fifo"; echo "BEGIN;"; echo "SELECT count(*) FROM orders;"; read -r _ <&3; echo "COMMIT;"; } |
		PGAPPNAME=lr-holder "${PSQL[@]}" -d "$1" >/dev/null 2>&1 ) &
	BG_PIDS+=($!)
	LR_HOLDER_BG=$!
	exec 6>"$fifo"
	wait_until 10 "$1" "EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'lr-holder' AND l.relation = 'orders'::regclass AND l.granted)" || return 1
	LR_HPID=$(q "$1" "SELECT pid FROM pg_stat_activity WHERE application_name = 'lr-holder' AND datname = current_database()")
}
lr_release() {
	echo go >&6
	exec 6>&-
	lr_reap "$LR_HOLDER_BG"
}

# lr_reader DB: SELECTs on orders every ~100 ms, each in its own transaction,
# each one's wait written to lr_reads, until lr_ctl.done
lr_reader() {
	( PGAPPNAME=lr-reader "${PSQL[@]}" -d "$1" -c "DO \$\$
DECLARE t0 timestamptz;
BEGIN
	LOOP
		t0 := clock_timestamp();
		PERFORM count(*) FROM orders;
		INSERT INTO lr_reads VALUES (t0, extract(epoch FROM clock_timestamp() - t0));
		COMMIT;
		EXIT WHEN (SELECT done FROM lr_ctl);
		PERFORM pg_sleep(0.1);
	END LOOP;
END \$\$" >"$LOG/$1.reader.out" 2>&1 ) &
	BG_PIDS+=($!)
	LR_READER_BG=$!
	wait_until 10 "$1" "(SELECT count(*) FROM lr_reads) >= 3" >/dev/null
}
lr_reader_stop() {
	q "$1" "UPDATE lr_ctl SET done = true" >/dev/null
	lr_reap "$LR_READER_BG"
}

# lr_max_wait DB T0_MS T1_MS: the longest wait of a SELECT that started in [T0, T1], in ms
lr_max_wait() {
	q "$1" "SELECT COALESCE(round(max(wait) * 1000), -1)::bigint FROM lr_reads WHERE at BETWEEN to_timestamp($2 / 1000.0) AND to_timestamp($3 / 1000.0)"
}

RETRY='lock timeout (retry '

# ---------------------------------------------------------------- 1. the point: readers keep going

if lr_db lr_main lr_file && lr_reader lr_main && lr_hold lr_main; then
	t_hold=$(now_ms)
	( "${PSQL[@]}" -d lr_main -At -c "SELECT atlas_migrate_apply('dev', $LR_OPTS)" >"$LOG/lr_main.out" 2>"$LOG/lr_main.err" ) &
	BG_PIDS+=($!)
	mig=$!
	t_mig=$(now_ms)
	# hold through five retries (a few seconds), then commit
	if wait_file 60 "$LOG/lr_main.err" "$RETRY" 5; then
		t_rel=$(now_ms)
		lr_release
		lr_reap "$mig"
		t_end=$(now_ms)
		lr_reader_stop lr_main
		nretry=$(grep -c -- "$RETRY" "$LOG/lr_main.err")
		held=$((t_rel - t_mig))
		max_on=$(lr_max_wait lr_main "$t_mig" "$t_end")
		echo "# lock retries: held ${held} ms while the migration waited, ${nretry} retries, longest SELECT wait ${max_on} ms (statement_lock_timeout 300ms)"
		echo "lock retries: held ${held} ms, ${nretry} retries, longest SELECT wait ${max_on} ms" >"$LOG/lr_numbers.txt"
		check "lock retries: the migration succeeds after the holder commits" \
			test "$(grep -c '"Status": "succeeded"' "$LOG/lr_main.out")" = 1 -a \
			"$(q lr_main "SELECT string_agg(version || ':' || applied || '/' || total || ':' || error, ',' ORDER BY version) FROM atlas_schema_revisions.atlas_schema_revisions")" = "1:2/2:,2:2/2:" -a \
			"$(q lr_main "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'note'")" = 1
		check "... meanwhile SELECTs on the table kept running: the longest waited ${max_on} ms, under a third of the ${held} ms the holder kept the migration waiting" \
			test "$max_on" -ge 0 -a $((max_on * 3)) -lt "$held"
		check "... each retry is a NOTICE naming the version, the statement, the lock and the holder (PID, application_name, transaction age)" \
			test "$(grep -cE "^NOTICE:      lock timeout \(retry [0-9]+ of 40\): version 2, statement \"ALTER TABLE orders ADD COLUMN note text;\" waited [0-9.]+ms for AccessExclusiveLock on relation public\.orders, held by PID $LR_HPID \(application_name \"lr-holder\", in a transaction for [0-9]+\.[0-9] s\).*; rolled back the file, which runs again in [0-9.]+(ms|s)$" "$LOG/lr_main.err")" = "$nretry" -a "$nretry" -ge 5
		check "... the file ran again from its first statement after each retry, and completed once" \
			test "$(grep -cxF 'NOTICE:      -> CREATE TABLE lr_audit (id int);' "$LOG/lr_main.err")" = $((nretry + 1)) -a \
			"$(grep -cxF 'NOTICE:    -- 1 migration' "$LOG/lr_main.err")" = 1 -a \
			"$(grep -cxF 'NOTICE:    -- 2 sql statements' "$LOG/lr_main.err")" = 1
		check "... the report and the run row count the retries and the time waited" \
			test "$(q lr_main "SELECT (report->>'LockRetries')::int = $nretry AND lock_retries = $nretry AND lock_wait_ms >= 250 * $nretry
				AND report->>'LockWait' ~ '^[0-9.]+(ms|s)$' AND log LIKE '%lock timeout (retry 1 of 40)%' AND status = 'succeeded'
				FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1")" = t
	else
		not_ok "lock retries: the migration never retried" "$(tail -5 "$LOG/lr_main.err")"
		lr_release
		lr_reap "$mig"
		lr_reader_stop lr_main
	fi
else
	not_ok "lock retries: setup (database, reader, holder)"
fi

# the contrast: without the options, the ALTER waits in the lock queue and
# every SELECT after it waits behind it, for as long as the holder holds
if lr_db lr_plain lr_file && lr_reader lr_plain && lr_hold lr_plain; then
	( "${PSQL[@]}" -d lr_plain -At -c "SELECT atlas_migrate_apply('dev')" >"$LOG/lr_plain.out" 2>"$LOG/lr_plain.err" ) &
	BG_PIDS+=($!)
	mig=$!
	t_mig=$(now_ms)
	# hold until a SELECT has queued behind the ALTER for 2 s
	if wait_until 60 lr_plain "EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'lr-reader' AND NOT l.granted AND l.waitstart < clock_timestamp() - interval '2 s')"; then
		t_rel=$(now_ms)
		lr_release
		lr_reap "$mig"
		t_end=$(now_ms)
		lr_reader_stop lr_plain
		max_off=$(lr_max_wait lr_plain "$t_mig" "$t_end")
		held=$((t_rel - t_mig))
		echo "# without the options: held ${held} ms, longest SELECT wait ${max_off} ms"
		echo "without the options: held ${held} ms, longest SELECT wait ${max_off} ms" >>"$LOG/lr_numbers.txt"
		check "contrast, without the options: SELECTs queued behind the waiting ALTER (${max_off} ms, the hold was ${held} ms)" \
			test "$max_off" -ge 2000 -a "$(grep -c '"Status": "succeeded"' "$LOG/lr_plain.out")" = 1 -a \
			"$(grep -c -- "$RETRY" "$LOG/lr_plain.err")" = 0
		[ -n "${max_on:-}" ] && check "... with the options the longest SELECT wait (${max_on} ms) is under a third of it" \
			test $((max_on * 3)) -lt "$max_off"
	else
		not_ok "contrast: no SELECT queued behind the ALTER" "$(tail -5 "$LOG/lr_plain.err")"
		lr_release
		lr_reap "$mig"
		lr_reader_stop lr_plain
	fi
else
	not_ok "contrast: setup (database, reader, holder)"
fi

# ---------------------------------------------------------------- 2. retries run out

if lr_db lr_out lr_file && lr_hold lr_out; then
	psql -X -d lr_out -v VERBOSITY=verbose -c "SELECT atlas_migrate_apply('dev', statement_lock_timeout => '100ms', lock_retries => 2)" >"$LOG/lr_out.out" 2>"$LOG/lr_out.err"
	lr_release
	check "retries run out: the error is the lock timeout, with the version and statement" \
		grep -qxF 'ERROR:  55P03: sql/migrate: executing statement "ALTER TABLE orders ADD COLUMN note text;" from version "2": canceling statement due to lock timeout' "$LOG/lr_out.err"
	check "... its DETAIL names the lock, the holder and the retries, its HINT what to do" \
		test "$(grep -cE "^DETAIL:  .*Statement \"ALTER TABLE orders ADD COLUMN note text;\" of 2_note\.sql \(version 2\) waited [0-9.]+ms for AccessExclusiveLock on relation public\.orders, held by PID $LR_HPID \(application_name \"lr-holder\", in a transaction for [0-9.]+ s\); gave up after 2 retries \(statement_lock_timeout 100ms\)\." "$LOG/lr_out.err")" = 1 -a \
		"$(grep -c '^HINT:  .*raise lock_retries or statement_lock_timeout' "$LOG/lr_out.err")" = 1
	check "... two retry NOTICEs, then one saying none are left" \
		test "$(grep -c -- "$RETRY" "$LOG/lr_out.err")" = 2 -a \
		"$(grep -c 'lock timeout: version 2, statement "ALTER TABLE orders ADD COLUMN note text;" waited .* no retries left$' "$LOG/lr_out.err")" = 1
	check "... the file rolled back: its error row applied nothing, the run row says failed with 2 retries" \
		test "$(q lr_out "SELECT applied || '/' || total || ':' || error FROM atlas_schema_revisions.atlas_schema_revisions WHERE version = '2'")" = "0/2:canceling statement due to lock timeout" -a \
		"$(q lr_out "SELECT to_regclass('lr_audit') IS NULL AND (SELECT status = 'failed' AND lock_retries = 2 AND (report->>'LockRetries')::int = 2 FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1)")" = t
else
	not_ok "retries run out: setup"
fi

# ---------------------------------------------------------------- 3. tx_mode all, txmode none, inside BEGIN

# lr_retry_twice DB FIXTURE OUT PSQL-ARGS...: the holder holds through two
# retries of the psql commands, then commits
lr_retry_twice() {
	local db=$1 fix=$2 out=$3
	shift 3
	lr_db "$db" "$fix" && lr_hold "$db" || return 1
	( "${PSQL[@]}" -d "$db" -At "$@" >"$LOG/$out.out" 2>"$LOG/$out.err" ) &
	BG_PIDS+=($!)
	local mig=$!
	wait_file 60 "$LOG/$out.err" "$RETRY" 2
	local rc=$?
	lr_release
	lr_reap "$mig"
	return $rc
}

if lr_retry_twice lr_all lr_all lr_all -c "SELECT atlas_migrate_apply('dev', tx_mode => 'all', $LR_OPTS)->>'Status'"; then
	n=$(grep -c -- "$RETRY" "$LOG/lr_all.err")
	check "tx_mode all: a lock timeout rolls back every file and runs them all again; then it succeeds" \
		test "$(cat "$LOG/lr_all.out")" = succeeded -a \
		"$(grep -c 'rolled back the transaction of all files, which run again' "$LOG/lr_all.err")" = "$n" -a \
		"$(grep -cxF 'NOTICE:    -- migrating version 2' "$LOG/lr_all.err")" = $((n + 1)) -a \
		"$(grep -cxF 'NOTICE:    -- 2 migrations' "$LOG/lr_all.err")" = 1
	check "... one row per file, the run row counts both files and the retries" \
		test "$(q lr_all "SELECT string_agg(version || ':' || applied || '/' || total, ',' ORDER BY version) FROM atlas_schema_revisions.atlas_schema_revisions")" = "1:2/2,2:1/1,3:1/1" -a \
		"$(q lr_all "SELECT files_applied = 2 AND lock_retries = $n FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1")" = t
else
	not_ok "tx_mode all: never retried" "$(tail -3 "$LOG/lr_all.err")"
fi

if lr_retry_twice lr_none lr_none lr_none -c "SELECT atlas_migrate_apply('dev', $LR_OPTS)->>'Status'"; then
	n=$(grep -c -- "$RETRY" "$LOG/lr_none.err")
	check "txmode none: only the statement runs again (the one before it stays committed, once)" \
		test "$(cat "$LOG/lr_none.out")" = succeeded -a \
		"$(grep -c 'the statement runs again in' "$LOG/lr_none.err")" = "$n" -a \
		"$(grep -cxF 'NOTICE:      -> CREATE TABLE lr_before (id int);' "$LOG/lr_none.err")" = 1 -a \
		"$(q lr_none "SELECT applied || '/' || total || ':' || error FROM atlas_schema_revisions.atlas_schema_revisions WHERE version = '2'")" = "2/2:" -a \
		"$(q lr_none "SELECT lock_retries = $n FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1")" = t
else
	not_ok "txmode none: never retried" "$(tail -3 "$LOG/lr_none.err")"
fi

if lr_retry_twice lr_rh lr_file lr_rh -c "BEGIN" -c "SELECT atlas_migrate_apply('dev', $LR_OPTS)->>'LockRetries'" \
	-c "SHOW lock_timeout" -c "COMMIT"; then
	n=$(grep -c -- "$RETRY" "$LOG/lr_rh.err")
	check "inside BEGIN (rehearsal): the file's subtransaction rolls back and runs again; COMMIT keeps it once" \
		test "$(head -1 "$LOG/lr_rh.out")" = "$n" -a "$n" -ge 2 -a \
		"$(q lr_rh "SELECT string_agg(version || ':' || applied || '/' || total, ',' ORDER BY version) FROM atlas_schema_revisions.atlas_schema_revisions")" = "1:2/2,2:2/2" -a \
		"$(q lr_rh "SELECT to_regclass('lr_audit') IS NOT NULL AND (SELECT lock_retries = $n AND status = 'succeeded' FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1)")" = t
	check "... and after the call the caller's transaction has its own lock_timeout again" \
		test "$(sed -n 2p "$LOG/lr_rh.out")" = 0
else
	not_ok "inside BEGIN: never retried" "$(tail -3 "$LOG/lr_rh.err")"
fi

# ---------------------------------------------------------------- 4. cancel while retrying
if lr_db lr_cancel lr_file && lr_hold lr_cancel; then
	( PGAPPNAME=lr-applier "${PSQL[@]}" -d lr_cancel -At -c "SELECT atlas_migrate_apply('dev', $LR_OPTS)" >"$LOG/lr_cancel.out" 2>"$LOG/lr_cancel.err" ) &
	BG_PIDS+=($!)
	mig=$!
	if wait_file 60 "$LOG/lr_cancel.err" "$RETRY" 1; then
		q lr_cancel "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'lr-applier' AND datname = current_database()" >/dev/null
		wait_until 10 lr_cancel "NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND (application_name = 'lr-applier' OR backend_type = 'atlas_migrate worker'))"
		ended=$?
		lr_reap "$mig"
		lr_release
		check "cancel while retrying: the call and its worker end, the file is not applied, the run row says failed" \
			test "$ended" = 0 -a "$(grep -c '^ERROR:  canceling statement due to user request' "$LOG/lr_cancel.err")" = 1 -a \
			"$(q lr_cancel "SELECT to_regclass('lr_audit') IS NULL AND (SELECT status = 'failed' FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1)
				AND NOT EXISTS (SELECT 1 FROM atlas_schema_revisions.atlas_schema_revisions WHERE version = '2' AND applied > 0)")" = t
	else
		not_ok "cancel while retrying: never retried" "$(tail -3 "$LOG/lr_cancel.err")"
		lr_release
		lr_reap "$mig"
	fi
else
	not_ok "cancel while retrying: setup"
fi
