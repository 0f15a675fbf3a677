# tests/pg/upgrade.sh - sourced by tests/pg/run.sh (uses its helpers: q,
# check, ok, not_ok, skip, PSQL, LOG, KEEP, WORK, ROOT, PG_BIN).  Issue 13:
# a database with 0.1.0 history upgrades with ALTER EXTENSION ... UPDATE.
#
#   1. The released 0.1.0 (its SQL and its library, built from git) on a
#      database: config, runs (a dry run, a success, a failure), revisions,
#      and the grants a DBA could give in 0.1.0 (EXECUTE on the functions,
#      SELECT on the tables, USAGE on the sequence).
#   2. The current library replaces 0.1.0's (as a package upgrade does):
#      until ALTER EXTENSION atlas_migrate UPDATE it refuses to run; then
#      the update.
#   3. Config, runs, revisions and every grant are kept; the application
#      role, calling as itself, applies more files and the new run columns
#      are filled; CALL atlas_migrate works.
#   4. The upgraded database's catalog objects (functions and signatures,
#      tables and columns, indexes, constraints, policies, grants, comments,
#      dumped config tables) are the same as a fresh CREATE EXTENSION's: a
#      difference is a failure that names it.
#
# Swaps the library in the server's pkglibdir while it runs (run.sh holds
# the machine-wide lock), so it runs last; the current library is back
# before any check.

# The last commit of release 0.1.0 (the parent of "Version 0.2.0: upgrade
# script from 0.1.0"); sql/atlas_migrate--0.1.0.sql is unchanged since.
UPG_OLD_COMMIT=b841d98b64df7f79a9b22ba354bcc9a53e1fc3d7
UPG_PKGLIB=$("$PG_BIN/pg_config" --pkglibdir)
UPG_VERSION=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" sql/atlas_migrate.control)

# upg_install_lib FILE: put FILE in place of the server's atlas_migrate.so
# (a rename: running backends keep the library they loaded)
upg_install_lib() {
	install -m 755 "$1" "$UPG_PKGLIB/.atlas_migrate.so.upg" &&
		mv -f "$UPG_PKGLIB/.atlas_migrate.so.upg" "$UPG_PKGLIB/atlas_migrate.so"
}

# upg_grants DB: every privilege the test's DBA roles hold on the extension's
# objects, by object name (a function by name only: its signature may change)
upg_grants() {
	q "$1" "SELECT string_agg(format('%s %s %s %s', a.grantee::regrole, a.privilege_type, o.kind, o.name), E'\n'
                  ORDER BY a.grantee::regrole::text, a.privilege_type, o.kind, o.name)
FROM (SELECT 'function' AS kind, p.proname::text AS name, coalesce(p.proacl, acldefault('f'::\"char\", p.proowner)) AS acl
      FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
      WHERE d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'atlas_migrate')
      UNION ALL
      SELECT CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END, c.relname::text, coalesce(c.relacl, acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::\"char\", c.relowner))
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
      WHERE d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'atlas_migrate')) o,
     aclexplode(o.acl) a
WHERE a.grantee <> 0 AND a.grantee::regrole::text LIKE 'upg\\_%'"
}

# upg_catalog DB: the extension's catalog objects, one line each; grants to
# the test's DBA roles (upg_*) left out, since a fresh install has none
upg_catalog() {
	q "$1" "
CREATE TEMP VIEW upg_members AS
SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'atlas_migrate');
CREATE FUNCTION pg_temp.upg_acl(acl aclitem[]) RETURNS text LANGUAGE sql AS
\$\$ SELECT coalesce(string_agg(a::text, ' ' ORDER BY a::text), '-') FROM unnest(acl) a WHERE a::text !~ '^upg_' \$\$;
SELECT line FROM (
 SELECT 'extension ' || e.extname || ' ' || e.extversion || ' relocatable=' || e.extrelocatable
        || ' config=' || coalesce((SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text) FROM unnest(e.extconfig) c), '-')
        || ' conditions=' || coalesce(array_to_string(e.extcondition, ','), '-') AS line
 FROM pg_catalog.pg_extension e WHERE e.extname = 'atlas_migrate'
 UNION ALL
 SELECT format('function %s(%s) kind=%s returns %s | args %s | volatile=%s strict=%s secdef=%s parallel=%s lang=%s symbol=%s lib=%s | comment %s | acl %s',
        p.proname, pg_get_function_identity_arguments(p.oid), p.prokind, coalesce(pg_get_function_result(p.oid), '-'),
        pg_get_function_arguments(p.oid), p.provolatile, p.proisstrict, p.prosecdef, p.proparallel,
        l.lanname, p.prosrc, coalesce(p.probin, '-'), coalesce(obj_description(p.oid, 'pg_proc'), '-'),
        pg_temp.upg_acl(coalesce(p.proacl, acldefault('f'::\"char\", p.proowner))))
 FROM upg_members m JOIN pg_catalog.pg_proc p ON m.classid = 'pg_catalog.pg_proc'::regclass AND p.oid = m.objid
 JOIN pg_catalog.pg_language l ON l.oid = p.prolang
 UNION ALL
 SELECT format('relation %s kind=%s rls=%s force_rls=%s | comment %s | acl %s',
        c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity, coalesce(obj_description(c.oid, 'pg_class'), '-'),
        pg_temp.upg_acl(coalesce(c.relacl, acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::\"char\", c.relowner))))
 FROM upg_members m JOIN pg_catalog.pg_class c ON m.classid = 'pg_catalog.pg_class'::regclass AND c.oid = m.objid
 UNION ALL
 SELECT format('column %s #%s %s %s notnull=%s default=%s | comment %s | acl %s',
        c.relname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname, format_type(a.atttypid, a.atttypmod),
        a.attnotnull, coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-'), coalesce(col_description(c.oid, a.attnum), '-'),
        pg_temp.upg_acl(a.attacl))
 FROM upg_members m JOIN pg_catalog.pg_class c ON m.classid = 'pg_catalog.pg_class'::regclass AND c.oid = m.objid
 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
 WHERE c.relkind IN ('r', 'v', 'p')
 UNION ALL
 SELECT format('index on %s: %s', c.relname, pg_get_indexdef(i.indexrelid))
 FROM upg_members m JOIN pg_catalog.pg_class c ON m.classid = 'pg_catalog.pg_class'::regclass AND c.oid = m.objid
 JOIN pg_catalog.pg_index i ON i.indrelid = c.oid
 UNION ALL
 SELECT format('constraint on %s: %s %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
 FROM upg_members m JOIN pg_catalog.pg_class c ON m.classid = 'pg_catalog.pg_class'::regclass AND c.oid = m.objid
 JOIN pg_catalog.pg_constraint k ON k.conrelid = c.oid
 UNION ALL
 SELECT format('trigger on %s: %s', c.relname, pg_get_triggerdef(t.oid))
 FROM upg_members m JOIN pg_catalog.pg_class c ON m.classid = 'pg_catalog.pg_class'::regclass AND c.oid = m.objid
 JOIN pg_catalog.pg_trigger t ON t.tgrelid = c.oid
 UNION ALL
 SELECT format('policy on %s: %s cmd=%s permissive=%s roles=%s using=%s check=%s | comment %s',
        c.relname, pol.polname, pol.polcmd, pol.polpermissive,
        (SELECT string_agg(CASE r WHEN 0 THEN 'PUBLIC' ELSE r::regrole::text END, ',' ORDER BY 1) FROM unnest(pol.polroles) r),
        coalesce(pg_get_expr(pol.polqual, pol.polrelid), '-'), coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '-'),
        coalesce(obj_description(pol.oid, 'pg_policy'), '-'))
 FROM upg_members m JOIN pg_catalog.pg_class c ON m.classid = 'pg_catalog.pg_class'::regclass AND c.oid = m.objid
 JOIN pg_catalog.pg_policy pol ON pol.polrelid = c.oid
 UNION ALL
 SELECT format('init privs %s %s', pg_describe_object(ip.classoid, ip.objoid, ip.objsubid), pg_temp.upg_acl(ip.initprivs))
 FROM upg_members m JOIN pg_catalog.pg_init_privs ip ON ip.classoid = m.classid AND ip.objoid = m.objid
 UNION ALL
 SELECT 'member ' || pg_describe_object(m.classid, m.objid, 0) FROM upg_members m
) s ORDER BY line"
}

if ! git cat-file -e "$UPG_OLD_COMMIT^{commit}" 2>/dev/null; then
	echo "################################################################"
	echo "# WARNING: upgrade test SKIPPED: release 0.1.0 ($UPG_OLD_COMMIT) is not in this"
	echo "# checkout's git history (a shallow clone?); fetch it to run the test."
	echo "################################################################"
	if [ "${CI:-}" = true ]; then
		not_ok "upgrade from 0.1.0: commit $UPG_OLD_COMMIT not in the git history (CI=true: a failure, not a skip)"
	else
		skip "upgrade from 0.1.0: commit $UPG_OLD_COMMIT not in the git history"
	fi
else
	# ------------------------------------------------------------ 1. 0.1.0 with history
	UPG_OLD=$WORK/atlas_migrate-0.1.0
	mkdir -p "$UPG_OLD"
	if git archive "$UPG_OLD_COMMIT" | tar -x -C "$UPG_OLD" &&
		make -C "$UPG_OLD" -s -j2 with_llvm=no atlas_migrate.so >"$LOG/upgrade-build.log" 2>&1 &&
		upg_install_lib "$UPG_OLD/atlas_migrate.so"; then
		ok "release 0.1.0's library built from git ($UPG_OLD_COMMIT) and installed"
	else
		not_ok "release 0.1.0's library built from git and installed" "see $KEEP/upgrade-build.log"
	fi

	"${PSQL[@]}" -d postgres -c "CREATE DATABASE upg" -c "CREATE DATABASE upg_fresh" >/dev/null
	"${PSQL[@]}" -d upg >"$LOG/upgrade-010.out" 2>&1 <<'SQL'
CREATE EXTENSION atlas_migrate VERSION '0.1.0';
SELECT atlas_config_set($$
env "five" {
  url = "postgres://localhost/upg?search_path=five"
  migration {
    dir = "file://atlas_fixtures/five"
  }
}
env "app" {
  url = "postgres://localhost/upg?search_path=app"
  migration {
    dir = "file://atlas_fixtures/fail3"
  }
}
env "app_fixed" {
  url = "postgres://localhost/upg?search_path=app"
  migration {
    dir = "file://atlas_fixtures/fail3_fixed"
  }
}
$$);
-- the DBA's roles: an application role that migrates its schema, an
-- operator who sets the config and reads it, an auditor who reads runs
CREATE ROLE upg_app LOGIN;
CREATE ROLE upg_admin LOGIN;
CREATE ROLE upg_auditor LOGIN;
GRANT pg_read_server_files TO upg_app;
CREATE SCHEMA app AUTHORIZATION upg_app;
ALTER ROLE upg_app SET search_path = app, public;
GRANT EXECUTE ON FUNCTION atlas_migrate_apply(text, integer, text, boolean, text, boolean, text, text, text, jsonb, boolean) TO upg_app;
GRANT EXECUTE ON FUNCTION atlas_migrate_status(text) TO upg_app;
GRANT SELECT ON atlas_migrate_runs TO upg_app;
GRANT EXECUTE ON FUNCTION atlas_config_set(text) TO upg_admin;
GRANT SELECT ON atlas_migrate_config TO upg_admin;
GRANT SELECT ON atlas_migrate_runs TO upg_auditor;
GRANT USAGE, SELECT ON SEQUENCE atlas_migrate_runs_id_seq TO upg_auditor;
CREATE SCHEMA five;
SET search_path = five, public;
SELECT atlas_migrate_apply('five', dry_run => true)->>'Status';
SELECT atlas_migrate_apply('five')->>'Status';
SQL
	# the application role's own run fails at file 3 (files 1-2 stay)
	psql -X -q -U upg_app -d upg -c "SELECT atlas_migrate_apply('app')" >"$LOG/upgrade-010-app.out" 2>&1
	# (0.1.0 counted a dry run's pending files in files_applied)
	check "0.1.0: history made (a dry run, a success, the application role's failed run)" \
		test "$(q upg "SELECT extversion FROM pg_extension WHERE extname = 'atlas_migrate'")" = 0.1.0 -a \
		"$(q upg "SELECT string_agg(env || ':' || status || ':' || dry_run || ':' || files_applied || ':' || run_by, ',' ORDER BY id) FROM atlas_migrate_runs")" = \
		"five:succeeded:true:5:postgres,five:succeeded:false:5:postgres,app:failed:false:2:upg_app"

	UPG_RUNS="SELECT id, env, dir, started_at, finished_at, status, dry_run, from_version, to_version, files_applied, error, log, report, worker_pid, run_by, deployment_url, cloud_report, cloud_error FROM atlas_migrate_runs ORDER BY id"
	UPG_REVS="SELECT 'app' AS s, * FROM app.atlas_schema_revisions UNION ALL SELECT 'five', * FROM five.atlas_schema_revisions ORDER BY 1, 2"
	q upg "SELECT hcl, updated_at, updated_by FROM atlas_migrate_config" >"$WORK/upg-config.before"
	q upg "$UPG_RUNS" >"$WORK/upg-runs.before"
	q upg "$UPG_REVS" >"$WORK/upg-revs.before"
	upg_grants upg >"$WORK/upg-grants.before"

	# ------------------------------------------------------------ 2. the new library, ALTER EXTENSION ... UPDATE
	if upg_install_lib "$ROOT/atlas_migrate.so"; then
		ok "the current library replaces 0.1.0's (as a package upgrade does)"
	else
		not_ok "the current library replaces 0.1.0's" "reinstall it: make install"
	fi
	# between the package upgrade and ALTER EXTENSION: a clear error, nothing runs
	# (the runs and revisions compared below show that nothing did)
	psql -X -q -At -U upg_app -d upg -c "SELECT atlas_migrate_apply('app_fixed')" >"$LOG/upgrade-between.out" 2>&1
	check "before ALTER EXTENSION UPDATE the new library refuses to run, saying what to do" \
		test "$(grep -c "^ERROR:  atlas_migrate 0.1.0 is installed in this database, but the server's library is version $UPG_VERSION$" "$LOG/upgrade-between.out")" = 1 -a \
		"$(grep -c '^HINT:  Run ALTER EXTENSION atlas_migrate UPDATE in this database.$' "$LOG/upgrade-between.out")" = 1
	"${PSQL[@]}" -d upg -c "ALTER EXTENSION atlas_migrate UPDATE" >"$LOG/upgrade-alter.out" 2>&1
	check "ALTER EXTENSION atlas_migrate UPDATE reaches $UPG_VERSION" \
		test "$(q upg "SELECT extversion FROM pg_extension WHERE extname = 'atlas_migrate'")" = "$UPG_VERSION"

	# ------------------------------------------------------------ 3. kept, and working
	q upg "SELECT hcl, updated_at, updated_by FROM atlas_migrate_config" >"$WORK/upg-config.after"
	q upg "$UPG_RUNS" >"$WORK/upg-runs.after"
	q upg "$UPG_REVS" >"$WORK/upg-revs.after"
	upg_grants upg >"$WORK/upg-grants.after"
	check "upgrade keeps the config (atlas.hcl, updated_at, updated_by)" \
		cmp -s "$WORK/upg-config.before" "$WORK/upg-config.after"
	check "upgrade keeps the runs (every 0.1.0 column of every row)" \
		cmp -s "$WORK/upg-runs.before" "$WORK/upg-runs.after"
	check "upgrade keeps the revisions rows" cmp -s "$WORK/upg-revs.before" "$WORK/upg-revs.after"
	if [ -s "$WORK/upg-grants.before" ] && cmp -s "$WORK/upg-grants.before" "$WORK/upg-grants.after"; then
		ok "upgrade keeps every grant the DBA gave in 0.1.0 ($(wc -l <"$WORK/upg-grants.before") privileges)"
	else
		not_ok "upgrade keeps every grant the DBA gave in 0.1.0" \
			"lost: $(comm -23 <(sort "$WORK/upg-grants.before") <(sort "$WORK/upg-grants.after") | paste -sd ';')" \
			"new: $(comm -13 <(sort "$WORK/upg-grants.before") <(sort "$WORK/upg-grants.after") | paste -sd ';')"
	fi

	# the application role, as itself, with the grants it had in 0.1.0
	psql -X -q -At -U upg_app -d upg -c "SELECT atlas_migrate_apply('app_fixed')->>'Status'" >"$LOG/upgrade-app.out" 2>"$LOG/upgrade-app.err"
	check "after the upgrade the application role applies more files as itself (files 3-5)" \
		test "$(cat "$LOG/upgrade-app.out")" = succeeded -a \
		"$(q upg "SELECT string_agg(version || ':' || applied || '/' || total, ',' ORDER BY version) FROM app.atlas_schema_revisions")" = "1:1/1,2:1/1,3:2/2,4:1/1,5:1/1"
	check "... its run row has the new columns filled (target_version 5, files_pending 3, files_applied 3)" \
		test "$(q upg "SELECT concat_ws(':', env, status, run_by, from_version, to_version, target_version, files_pending, files_applied) FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1")" = \
		"app_fixed:succeeded:upg_app:2:5:5:3:3"
	check "... atlas_migrate_status as the application role: five files applied" \
		test "$(psql -X -q -At -U upg_app -d upg -c "SELECT string_agg(status, ',' ORDER BY version) FROM atlas_migrate_status('app_fixed')" 2>>"$LOG/upgrade-app.err")" = \
		"applied,applied,applied,applied,applied"
	check "... it reads its own runs, old and new (0.2.0's row security: not the postgres runs)" \
		test "$(psql -X -q -At -U upg_app -d upg -c "SELECT string_agg(env || ':' || status, ',' ORDER BY id) FROM atlas_migrate_runs" 2>>"$LOG/upgrade-app.err")" = \
		"app:failed,app_fixed:succeeded"
	psql -X -q -At -U upg_admin -d upg -c "SELECT atlas_config_set(hcl) FROM atlas_migrate_config" >>"$LOG/upgrade-app.out" 2>>"$LOG/upgrade-app.err"
	check "... the operator still reads the config and sets it" \
		test "$(q upg "SELECT updated_by FROM atlas_migrate_config")" = upg_admin
	check "... CALL atlas_migrate (new in 0.2.0) works on the upgraded database" \
		test "$(q upg "CALL atlas_migrate('five')" 2>>"$LOG/upgrade-app.err")" = \
		"$(q upg "SELECT report::text FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1")" -a \
		"$(q upg "SELECT status FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1")" = nothing_to_do

	# ------------------------------------------------------------ 4. upgraded = fresh
	"${PSQL[@]}" -d upg_fresh -c "CREATE EXTENSION atlas_migrate" >>"$LOG/upgrade-alter.out" 2>&1
	upg_catalog upg_fresh >"$LOG/upgrade-catalog.fresh" 2>&1
	upg_catalog upg >"$LOG/upgrade-catalog.upgraded" 2>&1
	if grep -q '^function atlas_migrate_apply(' "$LOG/upgrade-catalog.fresh" &&
		diff -u "$LOG/upgrade-catalog.fresh" "$LOG/upgrade-catalog.upgraded" >"$LOG/upgrade-catalog.diff"; then
		ok "upgraded and fresh $UPG_VERSION have the same catalog objects ($(wc -l <"$LOG/upgrade-catalog.fresh") lines: functions, tables, columns, policies, grants, comments)"
	else
		not_ok "upgraded and fresh $UPG_VERSION have the same catalog objects" \
			"only in fresh: $(grep '^-[^-]' "$LOG/upgrade-catalog.diff" | cut -c2- | head -5 | paste -sd '|')" \
			"only in upgraded: $(grep '^+[^+]' "$LOG/upgrade-catalog.diff" | cut -c2- | head -5 | paste -sd '|')" \
			"diff: $KEEP/upgrade-catalog.diff"
	fi
	"${PSQL[@]}" -d postgres -c "DROP DATABASE upg" -c "DROP DATABASE upg_fresh" \
		-c "DROP ROLE upg_app" -c "DROP ROLE upg_admin" -c "DROP ROLE upg_auditor" >/dev/null 2>&1
fi
