/* atlas_migrate 0.1.0 -> 0.2.0 */

\echo Use "ALTER EXTENSION atlas_migrate UPDATE TO '0.2.0'" to load this file. \quit


-- ------------------------------------------------------------------ runs: each role reads its own

-- A role granted EXECUTE on atlas_migrate_apply() is told to follow its run
-- in atlas_migrate_runs: it may read the rows of runs that ran as a role
-- whose privileges it has (run_by), and no other row (other roles' errors,
-- logs and kept Cloud report bodies stay hidden).  The extension's C code
-- reads and writes the table as its owner, which row security does not
-- restrict; superusers see every row.  Only SELECT is granted.
ALTER TABLE atlas_migrate_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY atlas_migrate_runs_own ON atlas_migrate_runs FOR SELECT TO PUBLIC
	USING (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
				   WHERE r.rolname OPERATOR(pg_catalog.=) run_by
				   AND pg_catalog.pg_has_role(r.oid, 'USAGE')));
GRANT SELECT ON atlas_migrate_runs TO PUBLIC;
COMMENT ON POLICY atlas_migrate_runs_own ON atlas_migrate_runs IS
	'A role reads the runs that ran as itself or a role whose privileges it has';
