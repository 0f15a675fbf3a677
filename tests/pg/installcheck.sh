# tests/pg/installcheck.sh - sourced by tests/pg/run.sh (uses its helpers:
# check, ok, not_ok, LOG, KEEP, WORK, ROOT).  Issue 13: PGXS's
# "make installcheck" passes against a plain server, the way a DBA runs it:
# a second throwaway cluster (as the postgres user, 127.0.0.1, a free port)
# with none of the harness's extras (no pg_cron, no fixtures link, default
# settings), the extension installed by run.sh's make install, then
#   make installcheck PGHOST=127.0.0.1 PGPORT=<port> PGUSER=postgres

ic_tests=$(ls tests/pg/sql/*.sql | wc -l)
(
	# a subshell: lib.sh's cluster variables stay the harness's out here
	PG_CLUSTER_DIR=
	trap pg_cluster_stop EXIT
	pg_cluster_start "$WORK/plain" "shared_preload_libraries = ''" "max_worker_processes = 8" "max_connections = 100" "fsync = on" ||
		{ echo "could not start the plain cluster"; exit 1; }
	echo "plain cluster on 127.0.0.1:$PGPORT"
	# only what a DBA's shell would have: no socket directory, no database
	port=$PGPORT
	unset PGHOST PGPORT PGDATABASE
	make -C "$ROOT" --no-print-directory installcheck PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres
) >"$LOG/installcheck.out" 2>&1
ic_rc=$?
cp -r build/pg_regress "$LOG/installcheck-regress" 2>/dev/null
if [ $ic_rc = 0 ] && grep -qE "^ *All $ic_tests tests passed\. *$" "$LOG/installcheck.out"; then
	ok "make installcheck against a plain server (no pg_cron, no harness): all $ic_tests tests pass"
else
	not_ok "make installcheck against a plain server (no pg_cron, no harness)" \
		"$(grep -E 'FAILED|failed|installcheck:|error' "$LOG/installcheck.out" | head -8 | paste -sd '|')" \
		"see $KEEP/installcheck.out and $KEEP/installcheck-regress/regression.diffs"
fi
