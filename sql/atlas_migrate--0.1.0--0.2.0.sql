/* atlas_migrate 0.1.0 -> 0.2.0 */

\echo Use "ALTER EXTENSION atlas_migrate UPDATE TO '0.2.0'" to load this file. \quit

-- ------------------------------------------------------------------ run rows

-- What a run planned, next to what it applied (a dry run applies nothing).
ALTER TABLE atlas_migrate_runs ADD COLUMN target_version text;
ALTER TABLE atlas_migrate_runs ADD COLUMN files_pending integer NOT NULL DEFAULT 0;
-- Which Cloud endpoint and token a kept deployment report is for (a
-- one-way fingerprint, never the token): a report is sent only there.
-- Reports kept by 0.1.0 have none and are not sent again.
ALTER TABLE atlas_migrate_runs ADD COLUMN cloud_target text;
COMMENT ON COLUMN atlas_migrate_runs.to_version IS 'The version the database reached (for a dry run: where it was)';
COMMENT ON COLUMN atlas_migrate_runs.target_version IS 'The last migration file the run planned';
COMMENT ON COLUMN atlas_migrate_runs.files_applied IS 'Files committed by the run (0 for a dry run, and when tx_mode all rolled back)';
COMMENT ON COLUMN atlas_migrate_runs.files_pending IS 'Files the run planned (what a dry run would apply)';
COMMENT ON COLUMN atlas_migrate_runs.cloud_target IS 'Fingerprint of the Atlas Cloud endpoint and token a kept report is for';

