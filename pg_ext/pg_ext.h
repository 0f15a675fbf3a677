/*
 * pg_ext.h - the PostgreSQL host: what the caller side (pg_funcs.c), the
 * background worker (pg_worker.c), the adapter (pg_db.c), the extension's
 * own tables (pg_store.c) and the error mapping (pg_error.c) share.
 *
 * Execution model (DESIGN §2): atlas_migrate_apply() puts the job into a
 * DSM segment and starts a dynamic background worker; the worker connects
 * as the caller, owns the transactions and streams Atlas's log back through
 * an shm_mq as NOTICEs; the caller relays them, watches for self-blocks and
 * raises the run's error at the end.
 */
#ifndef PG_EXT_H
#define PG_EXT_H

#include "postgres.h"

#include <signal.h>

#include "port/atomics.h"
#include "storage/dsm.h"
#include "utils/guc.h"

#include "db.h"

/* ---------------------------------------------------------------- DSM layout */

#define PG_EXT_MAGIC		0x41544c41	/* "ATLA" */
#define PG_EXT_MQ_SIZE		(64 * 1024)

/* shm_toc keys */
enum
{
	PG_KEY_JOB = 1,				/* pg_job */
	PG_KEY_HCL,					/* atlas.hcl text, NUL-terminated */
	PG_KEY_ENV,					/* env name, NUL-terminated */
	PG_KEY_OPTS,				/* options as the JSON object opts.c reads */
	PG_KEY_GUC,					/* SerializeGUCState() of the caller */
	PG_KEY_LIBS,				/* SerializeLibraryState() of the caller */
	PG_KEY_MQ					/* worker -> caller message queue */
};

/* Why the caller asked the worker to stop (pg_job.stop_reason). */
enum
{
	PG_STOP_NONE = 0,
	PG_STOP_SELF_BLOCK = 1		/* caller in a transaction block blocked it */
};

/*
 * The fixed part of a job.  Identity fields mirror what a parallel worker
 * receives from its leader (feasibility.md §2(c)); the atomics are the only
 * fields written after the worker started.
 */
typedef struct pg_job
{
	Oid			database_id;
	Oid			authenticated_user_id;	/* the worker connects as this role */
	Oid			outer_user_id;	/* SET ROLE state */
	Oid			current_user_id;	/* GetUserIdAndSecContext() */
	int			sec_context;
	bool		is_superuser;	/* session_auth_is_superuser */
	int			caller_pid;
	bool		dry_run;
	pg_atomic_uint64 run_id;	/* worker -> caller: atlas_migrate_runs.id */
	pg_atomic_uint32 stop_reason;	/* caller -> worker: PG_STOP_* */
} pg_job;

/*
 * Messages the worker sends besides the ordinary 'N'/'E' notices and errors
 * that pq_redirect_to_shm_mq() carries.
 */
#define PG_MSG_RUN_ID	'r'		/* int8 text: the run row exists */
#define PG_MSG_RESULT	'R'		/* the final result, see pg_worker.c */

/* Name of the worker in pg_stat_activity.backend_type. */
#define PG_WORKER_TYPE	"atlas_migrate worker"

/* ---------------------------------------------------------------- pg_ext.c */

/* The extension's schema and owner (errors if not installed). */
extern void pg_ext_lookup(Oid *nspid, Oid *owner);

/*
 * Run fn(arg) as the extension owner with search_path = pg_catalog,
 * pg_temp, in the current transaction: how the extension reaches its own
 * tables (config, runs), which PUBLIC cannot read.
 */
extern void pg_ext_as_owner(void (*fn) (void *arg), void *arg);

/* Quoted "schema"."name" of one of the extension's own relations. */
extern char *pg_ext_relname(const char *name);

/* ---------------------------------------------------------------- pg_error.c */

/* The SQLSTATE for a core error. */
extern int	pg_error_sqlstate(const mig_err *err);

/*
 * ereport(elevel) the error; errmsg is the core's message, errdetail and
 * errhint its detail and hint, each joined with extra_* when given.
 */
extern void pg_error_raise(int elevel, const mig_err *err, const char *extra_detail,
						   const char *extra_hint);

/* ---------------------------------------------------------------- pg_store.c */

/* The stored atlas.hcl (palloc'd), or NULL when none is stored. */
extern char *pg_store_config_get(void);
extern void pg_store_config_set(const char *hcl);

/* Mark runs left 'running' by a worker that no longer exists as failed. */
extern void pg_store_runs_recover(void);

/* Insert the run row (status running) and return its id. */
extern int64 pg_store_run_start(const char *env, const char *dir, bool dry_run);

/* What a finished run writes into its row. */
typedef struct pg_run_final
{
	const char *status;			/* mig_run_status_name() */
	const char *from_version;	/* may be NULL */
	const char *to_version;
	int			files_applied;
	const char *error;
	const char *log;
	const char *report;			/* JSON text or NULL */
} pg_run_final;

/*
 * Write the run's end into its row and, in the same transaction, NOTIFY
 * PG_RUN_END_CHANNEL with a JSON payload: run_id, env, status,
 * from_version, to_version, files_applied, dry_run.
 */
extern void pg_store_run_finish(int64 run_id, const pg_run_final *fin);

#define PG_RUN_END_CHANNEL "atlas_migrate"

/* The run a worker of ours with this PID is running, or 0. */
extern int64 pg_store_running_run(int worker_pid);

/*
 * Deployment reports not sent yet (oldest first, not run except_id):
 * returns how many, with palloc'd arrays of run ids and request bodies.
 */
extern int	pg_store_cloud_pending(int64 except_id, int64 **ids, char ***bodies);

/* A run's cloud columns: the deployment URL, or the body kept and why. */
extern void pg_store_cloud_set(int64 run_id, const char *url, const char *body,
							   const char *error);

/* ---------------------------------------------------------------- pg_worker.c */

/* The worker's entry point (bgw_function_name). */
extern PGDLLEXPORT void atlas_migrate_worker_main(Datum main_arg);

/* ---------------------------------------------------------------- pg_db.c */

/* The PostgreSQL adapter.  Lives in the worker (or the caller, read-only). */
typedef struct pg_db
{
	mig_db		base;			/* first: the engine sees a mig_db */
	const mig_run_cfg *cfg;		/* for check_clean (URL schema) */
	char	   *schema;			/* revisions schema in use (palloc'd) */
	char	   *table;			/* quoted "schema".atlas_schema_revisions */
	void	   *upsert_plan;	/* SPIPlanPtr, kept across transactions */
	bool		in_block;		/* between begin and commit/rollback */
	bool		locked;			/* holds the Atlas advisory lock */
	MemoryContext stmt_cxt;		/* reset after every statement */
	MemoryContext keep_cxt;		/* lives as long as the adapter */
	volatile sig_atomic_t *stop;	/* set when the run must stop */
	pg_job	   *job;			/* NULL outside the worker */
} pg_db;

/* Fill the adapter; stop points at the worker's stop flag. */
extern void pg_db_init(pg_db *db, const mig_run_cfg *cfg, pg_job *job,
					   volatile sig_atomic_t *stop);
extern void pg_db_free(pg_db *db);

/*
 * Read the revisions with the caller's own snapshot and privileges (for
 * atlas_migrate_status); may ereport.
 */
extern void pg_db_read_revisions_here(const char *schema, mig_revs *out);

/*
 * The env URL's search_path (value as written in the URL, decoded) becomes
 * the search_path the migrations run with, as for the Atlas CLI connected
 * with that URL.  action: GUC_ACTION_SET for the worker's session,
 * GUC_ACTION_LOCAL or _SAVE inside a caller's transaction; change = false
 * only checks the value.  No-op for NULL or "".  In a transaction; may
 * ereport (a value that is not a valid search_path).
 */
extern void pg_db_set_search_path(const char *search_path, GucAction action, bool change);

/* The worker: pg_db_set_search_path(cfg->db_schema, SET), errors as MIG_EDB. */
extern int	pg_db_use_url_search_path(pg_db *db, mig_err *err);

/* Atlas's advisory lock key (§g.8): FNV-1 of "atlas_migrate_execute". */
#define PG_ATLAS_LOCK_KEY	INT64CONST(2686470616)

#endif							/* PG_EXT_H */
