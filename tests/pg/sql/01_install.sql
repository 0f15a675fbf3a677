-- The extension installs without shared_preload_libraries, every function
-- has a comment, and only atlas_split is callable by PUBLIC.
CREATE EXTENSION atlas_migrate;

SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'atlas_migrate'
ORDER BY p.proname;

CREATE ROLE regress_atlas_nobody LOGIN;
SELECT p.proname, has_function_privilege('regress_atlas_nobody', p.oid, 'EXECUTE') AS public_execute
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'atlas_migrate'
ORDER BY p.proname;

SELECT c.relname, has_table_privilege('regress_atlas_nobody', c.oid, 'SELECT') AS public_select,
       obj_description(c.oid, 'pg_class') IS NOT NULL AS has_comment
FROM pg_class c
WHERE c.relname IN ('atlas_migrate_config', 'atlas_migrate_runs')
ORDER BY 1;

-- PUBLIC can neither run migrations nor read the configuration; it may
-- read atlas_migrate_runs, where row level security shows only its own runs
SET ROLE regress_atlas_nobody;
SELECT atlas_migrate_apply('prod');
SELECT atlas_config_set('env "x" {}');
SELECT * FROM atlas_migrate_status('prod');
SELECT * FROM atlas_migrate_config;
SELECT count(*) AS own_runs FROM atlas_migrate_runs;
SELECT * FROM atlas_split('SELECT 1; SELECT 2;');
RESET ROLE;

-- the history table's columns
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
FROM pg_attribute
WHERE attrelid = 'atlas_migrate_runs'::regclass AND attnum > 0 AND NOT attisdropped
ORDER BY attnum;
DROP ROLE regress_atlas_nobody;
