/*
 * pg_store.c - the extension's own tables: atlas_migrate_config (the
 * stored atlas.hcl) and atlas_migrate_runs (the local deployment history).
 *
 * Every statement here runs through SPI as the extension owner (see
 * pg_ext.c) inside the caller's current transaction; the caller starts and
 * ends transactions.  Knows nothing of migrations beyond the run row.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "pg_ext.h"

/* ---------------------------------------------------------------- config */

typedef struct config_arg
{
	const char *hcl;			/* set: value to store */
	const char *by;				/* set: the storing role */
	MemoryContext cxt;			/* get: where the result goes */
	char	   *out;			/* get: result */
	bool		getenv_ok;		/* get: may its author read the environment */
} config_arg;

static void
config_get(void *p)
{
	config_arg *a = p;
	char	   *sql;
	int			rc;

	sql = psprintf("SELECT hcl, (SELECT r.oid FROM pg_catalog.pg_roles r "
				   "WHERE r.rolname OPERATOR(pg_catalog.=) c.updated_by) "
				   "FROM %s c WHERE c.id OPERATOR(pg_catalog.=) 1", pg_ext_relname("atlas_migrate_config"));
	if ((rc = SPI_execute(sql, true, 1)) != SPI_OK_SELECT)
		elog(ERROR, "reading atlas_migrate_config failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			a->out = MemoryContextStrdup(a->cxt, TextDatumGetCString(d));
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		/* a dropped role reads as none */
		a->getenv_ok = !isnull && pg_ext_reads_server_files(DatumGetObjectId(d));
	}
}

/*
 * The extension's SQL objects must be the version this library was built
 * for.  After a package upgrade or make install (a new library) and before
 * ALTER EXTENSION atlas_migrate UPDATE, the tables lack the new version's
 * columns: a run would fail inside its first file, with an error that
 * looks like the migration's.  Checked before anything runs.
 */
static void
check_extension_version(void)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("atlas_migrate"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (version != NULL && strcmp(version, MIG_VERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("atlas_migrate %s is installed in this database, but the server's library is version %s",
						version, MIG_VERSION),
				 errdetail("The extension's tables and functions are updated by ALTER EXTENSION after a new library is installed; nothing was run."),
				 errhint("Run ALTER EXTENSION atlas_migrate UPDATE in this database.")));
}

char *
pg_store_config_get(bool *getenv_ok)
{
	config_arg	a = {NULL, NULL, CurrentMemoryContext, NULL, false};

	check_extension_version();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pg_ext_as_owner(config_get, &a);
	SPI_finish();
	if (getenv_ok)
		*getenv_ok = a.getenv_ok;
	return a.out;
}

static void
config_set(void *p)
{
	config_arg *a = p;
	Oid			types[2] = {TEXTOID, NAMEOID};
	Datum		values[2];
	char	   *sql;
	int			rc;

	sql = psprintf("INSERT INTO %s AS c (id, hcl, updated_at, updated_by) "
				   "VALUES (1, $1, pg_catalog.now(), $2) "
				   "ON CONFLICT (id) DO UPDATE SET hcl = excluded.hcl, "
				   "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
				   pg_ext_relname("atlas_migrate_config"));
	values[0] = CStringGetTextDatum(a->hcl);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(a->by));
	if ((rc = SPI_execute_with_args(sql, 2, types, values, NULL, false, 0)) != SPI_OK_INSERT)
		elog(ERROR, "writing atlas_migrate_config failed: %s", SPI_result_code_string(rc));
}

void
pg_store_config_set(const char *hcl)
{
	config_arg	a = {hcl, NULL, NULL, NULL, false};

	/* read before switching to the owner */
	a.by = GetUserNameFromId(GetUserId(), false);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pg_ext_as_owner(config_set, &a);
	SPI_finish();
}

/* ---------------------------------------------------------------- runs */

static void
runs_recover(void *p)
{
	char	   *sql;
	int			rc;

	(void) p;

	/*
	 * A run is still going if its worker is alive: a backend with that PID
	 * of our worker type that started no later than the run.  Anything else
	 * was cut short by a crash, a restart or a kill.
	 */
	sql = psprintf("UPDATE %s AS r SET status = 'failed', finished_at = pg_catalog.now(), "
				   "error = pg_catalog.format('interrupted: migration worker (PID %%s) exited before the run finished', r.worker_pid) "
				   "WHERE r.status OPERATOR(pg_catalog.=) 'running' AND NOT EXISTS ("
				   "SELECT 1 FROM pg_catalog.pg_stat_get_activity(r.worker_pid) a "
				   "WHERE a.pid OPERATOR(pg_catalog.=) r.worker_pid "
				   "AND a.backend_type OPERATOR(pg_catalog.=) '" PG_WORKER_TYPE "' "
				   "AND a.backend_start OPERATOR(pg_catalog.<=) r.started_at)",
				   pg_ext_relname("atlas_migrate_runs"));
	if ((rc = SPI_execute(sql, false, 0)) != SPI_OK_UPDATE)
		elog(ERROR, "updating atlas_migrate_runs failed: %s", SPI_result_code_string(rc));
}

void
pg_store_runs_recover(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pg_ext_as_owner(runs_recover, NULL);
	SPI_finish();
}

typedef struct run_start_arg
{
	const char *env;
	const char *dir;
	bool		dry_run;
	const char *run_by;			/* the role the migrations run as */
	int64		id;
} run_start_arg;

static void
run_start(void *p)
{
	run_start_arg *a = p;
	Oid			types[5] = {TEXTOID, TEXTOID, BOOLOID, INT4OID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	char	   *sql;
	bool		isnull;
	int			rc;

	sql = psprintf("INSERT INTO %s (env, dir, started_at, status, dry_run, worker_pid, run_by) "
				   "VALUES ($1, $2, pg_catalog.clock_timestamp(), 'running', $3, $4, $5) RETURNING id",
				   pg_ext_relname("atlas_migrate_runs"));
	values[0] = CStringGetTextDatum(a->env);
	if (a->dir)
		values[1] = CStringGetTextDatum(a->dir);
	else
		nulls[1] = 'n';
	values[2] = BoolGetDatum(a->dry_run);
	values[3] = Int32GetDatum(MyProcPid);
	values[4] = CStringGetTextDatum(a->run_by);
	if ((rc = SPI_execute_with_args(sql, 5, types, values, nulls, false, 1)) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "writing atlas_migrate_runs failed: %s", SPI_result_code_string(rc));
	a->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

int64
pg_store_run_start(const char *env, const char *dir, bool dry_run)
{
	run_start_arg a = {env, dir, dry_run, NULL, 0};

	/* read before switching to the owner */
	a.run_by = GetUserNameFromId(GetUserId(), false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pg_ext_as_owner(run_start, &a);
	SPI_finish();
	return a.id;
}

typedef struct run_update_arg
{
	int64		id;
	const mig_run_row *row;
	bool		final;
	const char *cloud_body;
	const char *cloud_target;
	const char *cloud_note;
} run_update_arg;

static Datum
text_or_null(const char *s, char *null)
{
	if (s == NULL)
	{
		*null = 'n';
		return (Datum) 0;
	}
	*null = ' ';
	return CStringGetTextDatum(s);
}

/*
 * What NOTIFY atlas_migrate says when a run ends: the finished row's
 * outcome, never its log, error or report (and so no token).
 */
#define RUN_END_PAYLOAD \
	"pg_catalog.json_build_object('run_id', id, 'env', env, 'status', status, " \
	"'from_version', from_version, 'to_version', to_version, " \
	"'target_version', target_version, 'files_applied', files_applied, " \
	"'files_pending', files_pending, 'dry_run', dry_run)::text"

/* PostgreSQL's payload limit is 8000 bytes less a little. */
#define RUN_END_PAYLOAD_MAX 7900

/*
 * NOTIFY atlas_migrate, '<payload>' in the transaction that finishes the
 * run row, so a listener hears of the run exactly when its row is
 * committed (and not at all if it is not).
 */
static void
notify_run_end(int64 run_id, const char *status, const char *payload)
{
	if (payload == NULL || strlen(payload) > RUN_END_PAYLOAD_MAX)
		payload = psprintf("{\"run_id\" : " INT64_FORMAT ", \"status\" : \"%s\"}",
						   run_id, status ? status : "");
	Async_Notify(PG_RUN_END_CHANNEL, payload);
}

/*
 * The progress update runs after every file: planned once per process (a
 * worker runs one job) and kept; the plan cache replans it if the table
 * changes.
 */
static SPIPlanPtr progress_plan = NULL;

static void
run_update(void *p)
{
	run_update_arg *a = p;
	const mig_run_row *r = a->row;
	Oid			types[15] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT8OID};
	Datum		values[15];
	char		nulls[15];
	char	   *sql;
	int			rc;

	if (a->final)
		sql = psprintf("UPDATE %s SET finished_at = pg_catalog.clock_timestamp(), status = $2, "
					   "from_version = $3, to_version = $4, target_version = $5, files_applied = $6, "
					   "files_pending = $7, error = $8, log = $9, report = $10::pg_catalog.jsonb, "
					   "cloud_report = $11, cloud_target = $12, cloud_error = $13, "
					   "lock_retries = $14, lock_wait_ms = $15 "
					   "WHERE id OPERATOR(pg_catalog.=) $1 RETURNING " RUN_END_PAYLOAD,
					   pg_ext_relname("atlas_migrate_runs"));
	else
		sql = psprintf("UPDATE %s SET status = $2, from_version = $3, to_version = $4, "
					   "target_version = $5, files_applied = $6, files_pending = $7, error = $8, "
					   "log = COALESCE($9, log) WHERE id OPERATOR(pg_catalog.=) $1",
					   pg_ext_relname("atlas_migrate_runs"));
	values[0] = Int64GetDatum(a->id);
	nulls[0] = ' ';
	values[1] = text_or_null(mig_run_status_name(r->status), &nulls[1]);
	values[2] = text_or_null(r->from_version, &nulls[2]);
	values[3] = text_or_null(r->to_version, &nulls[3]);
	values[4] = text_or_null(r->target_version, &nulls[4]);
	values[5] = Int32GetDatum((int32) Min(r->files_applied, PG_INT32_MAX));
	nulls[5] = ' ';
	values[6] = Int32GetDatum((int32) Min(r->files_pending, PG_INT32_MAX));
	nulls[6] = ' ';
	values[7] = text_or_null(r->error, &nulls[7]);
	if (r->log)
	{
		values[8] = PointerGetDatum(cstring_to_text_with_len(r->log, (int) r->log_len));
		nulls[8] = ' ';
	}
	else
		values[8] = text_or_null(NULL, &nulls[8]);
	values[9] = text_or_null(r->report, &nulls[9]);
	values[10] = text_or_null(a->cloud_body, &nulls[10]);
	values[11] = text_or_null(a->cloud_target, &nulls[11]);
	values[12] = text_or_null(a->cloud_note, &nulls[12]);
	values[13] = Int32GetDatum((int32) Min(r->lock_retries, PG_INT32_MAX));
	nulls[13] = ' ';
	values[14] = Int64GetDatum(r->lock_wait_ms);
	nulls[14] = ' ';
	if (!a->final)
	{
		if (progress_plan == NULL)
		{
			SPIPlanPtr	plan = SPI_prepare(sql, 9, types);

			if (plan == NULL || SPI_keepplan(plan) != 0)
				elog(ERROR, "preparing the atlas_migrate_runs progress update failed: %s",
					 SPI_result_code_string(SPI_result));
			progress_plan = plan;
		}
		rc = SPI_execute_plan(progress_plan, values, nulls, false, 0);
	}
	else
		rc = SPI_execute_with_args(sql, 15, types, values, nulls, false, 0);
	if (rc != (a->final ? SPI_OK_UPDATE_RETURNING : SPI_OK_UPDATE))
		elog(ERROR, "updating atlas_migrate_runs failed: %s", SPI_result_code_string(rc));
	if (a->final && SPI_processed == 1)
		notify_run_end(a->id, mig_run_status_name(r->status),
					   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

void
pg_store_run_update(int64 run_id, const mig_run_row *row, bool final, const char *cloud_body,
					const char *cloud_target, const char *cloud_note)
{
	run_update_arg a = {run_id, row, final, cloud_body, cloud_target, cloud_note};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pg_ext_as_owner(run_update, &a);
	SPI_finish();
}

typedef struct running_arg
{
	int			worker_pid;
	int64		id;
} running_arg;

static void
running_run(void *p)
{
	running_arg *a = p;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	char	   *sql;
	bool		isnull;

	sql = psprintf("SELECT id FROM %s WHERE status OPERATOR(pg_catalog.=) 'running' "
				   "AND worker_pid OPERATOR(pg_catalog.=) $1 ORDER BY id USING OPERATOR(pg_catalog.>) LIMIT 1",
				   pg_ext_relname("atlas_migrate_runs"));
	values[0] = Int32GetDatum(a->worker_pid);
	if (SPI_execute_with_args(sql, 1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading atlas_migrate_runs failed");
	if (SPI_processed == 1)
		a->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

int64
pg_store_running_run(int worker_pid)
{
	running_arg a = {worker_pid, 0};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pg_ext_as_owner(running_run, &a);
	SPI_finish();
	return a.id;
}

/* ---------------------------------------------------------------- cloud reports */

typedef struct kept_arg
{
	const char *target;
	MemoryContext cxt;
	int			n;
	int64	   *ids;
	char	  **bodies;
} kept_arg;

static void
cloud_kept(void *p)
{
	kept_arg   *a = p;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	uint64		i;
	char	   *sql;

	sql = psprintf("SELECT id, cloud_report FROM %s WHERE cloud_report IS NOT NULL "
				   "AND cloud_target OPERATOR(pg_catalog.=) $1 ORDER BY id USING OPERATOR(pg_catalog.<)",
				   pg_ext_relname("atlas_migrate_runs"));
	values[0] = CStringGetTextDatum(a->target);
	if (SPI_execute_with_args(sql, 1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading atlas_migrate_runs failed");
	a->n = (int) SPI_processed;
	a->ids = MemoryContextAlloc(a->cxt, sizeof(int64) * (a->n + 1));
	a->bodies = MemoryContextAlloc(a->cxt, sizeof(char *) * (a->n + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		a->ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		a->bodies[i] = MemoryContextStrdup(a->cxt, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
	}
}

int
pg_store_cloud_kept(const char *target, int64 **ids, char ***bodies)
{
	kept_arg	a = {target, CurrentMemoryContext, 0, NULL, NULL};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pg_ext_as_owner(cloud_kept, &a);
	SPI_finish();
	*ids = a.ids;
	*bodies = a.bodies;
	return a.n;
}

typedef struct cloud_set_arg
{
	int64		id;
	const char *url;
	const char *error;
	bool		drop;
} cloud_set_arg;

static void
cloud_set(void *p)
{
	cloud_set_arg *a = p;
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, BOOLOID};
	Datum		values[4];
	char		nulls[4];
	char	   *sql;

	sql = psprintf("UPDATE %s SET deployment_url = COALESCE($2, deployment_url), "
				   "cloud_error = $3, cloud_report = CASE WHEN $2 IS NOT NULL OR $4 THEN NULL "
				   "ELSE cloud_report END WHERE id OPERATOR(pg_catalog.=) $1",
				   pg_ext_relname("atlas_migrate_runs"));
	values[0] = Int64GetDatum(a->id);
	nulls[0] = ' ';
	values[1] = text_or_null(a->url, &nulls[1]);
	values[2] = text_or_null(a->error, &nulls[2]);
	values[3] = BoolGetDatum(a->drop);
	nulls[3] = ' ';
	if (SPI_execute_with_args(sql, 4, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "updating atlas_migrate_runs failed");
}

void
pg_store_cloud_set(int64 run_id, const char *url, const char *error, bool drop)
{
	cloud_set_arg a = {run_id, url, error, drop};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pg_ext_as_owner(cloud_set, &a);
	SPI_finish();
}
