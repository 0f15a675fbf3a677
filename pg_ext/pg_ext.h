/*
 * pg_ext.h - the PostgreSQL host: what the caller side (pg_funcs.c), the
 * background worker (pg_worker.c), the adapter (pg_db.c), the run history
 * (pg_history.c), the extension's own tables (pg_store.c) and the error
 * mapping (pg_error.c) share.
 *
 * Execution model (DESIGN §2): atlas_migrate_apply() puts the job into a
 * DSM segment and starts a dynamic background worker; the worker connects
 * as the caller, owns the transactions and streams Atlas's log back through
 * an shm_mq as NOTICEs; the caller relays them, watches for self-blocks and
 * raises the run's error at the end.  Inside a transaction block the client
 * opened, the run happens in the caller's own transaction instead (a
 * rehearsal: pg_db_init_here), with the same adapter and history.
 */
#ifndef PG_EXT_H
#define PG_EXT_H

#include "postgres.h"

#include <signal.h>

#include "port/atomics.h"
#include "storage/dsm.h"
#include "utils/guc.h"
#include "utils/resowner.h"

#include "engine.h"
#include "run.h"

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
	PG_STOP_SELF_BLOCK = 1		/* its caller blocked it (CALL, a session lock) */
};

/*
 * The fixed part of a job.  Identity fields mirror what a parallel worker
 * receives from its leader (../shared/research/feasibility.md §2(c)); the
 * atomics are the only fields written after the worker started.
 */
typedef struct pg_job
{
	Oid			database_id;
	Oid			authenticated_user_id;	/* the worker connects as this role */
	Oid			outer_user_id;	/* SET ROLE state */
	Oid			current_user_id;	/* GetUserIdAndSecContext() */
	int			sec_context;
	Oid			session_user_id;	/* SET SESSION AUTHORIZATION state */
	int			caller_pid;
	bool		dry_run;
	bool		deny_getenv;	/* atlas.hcl's author may not read the environment */
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

/*
 * Pin search_path to pg_catalog, pg_temp for the extension's own SPI work
 * in the current transaction (a GUC nest level, as a function's SET clause
 * makes); returns the level to give pg_ext_unpin_search_path().  An error
 * before the unpin is undone by the transaction's abort.
 */
extern int	pg_ext_pin_search_path(void);
extern void pg_ext_unpin_search_path(int nest);

/*
 * May role read files and the environment of the server (superuser or
 * privileges of pg_read_server_files)?  What file:// directories and
 * getenv() in atlas.hcl need.
 */
extern bool pg_ext_reads_server_files(Oid role);

/* Quoted "schema"."name" of one of the extension's own relations. */
extern char *pg_ext_relname(const char *name);

/* ---------------------------------------------------------------- pg_funcs.c */

/*
 * Resolve the stored config for env with the call's options (JSON or
 * NULL): getenv() only when getenv_ok.  MIG_OK, or the error in err (a
 * denied getenv() explains why).
 */
/*
 * The server-wide defaults (settings atlas_migrate.*) as an options layer
 * for mig_resolve_ex.
 */
extern int	pg_ext_server_options(mig_opts *o, mig_err *err);

/*
 * A call's options as the JSON object opts.c reads, from the function's
 * named arguments (every non-NULL one but env and the host's own: wait,
 * report); the options are declared in opts.c's table and the SQL.
 */
extern char *pg_call_options_json(FunctionCallInfo fcinfo);

extern int	pg_resolve_call(const char *hcl, const char *env, const char *opts_json,
							bool getenv_ok, mig_run_cfg *cfg, mig_err *err);

/* file:// needs pg_read_server_files (or superuser): raises otherwise. */
extern void pg_check_dir_access(const char *dir_url, const char *redacted);

/* ---------------------------------------------------------------- pg_check.c */

/*
 * mig_db.check: one row per pending statement with what it locks,
 * rewrites, scans or drops in this database (pg_db_init installs it).
 */
extern int	pg_check_statements(mig_db *db, const mig_check_file *files, size_t n,
								mig_checks *out, mig_err *err);

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

/*
 * The stored atlas.hcl (palloc'd), or NULL when none is stored; with
 * *getenv_ok whether the role that stored it (updated_by) may read the
 * server's environment (pg_ext_reads_server_files), read in the same
 * statement as the text.
 */
extern char *pg_store_config_get(bool *getenv_ok);

/* Store atlas.hcl; updated_by is the current user. */
extern void pg_store_config_set(const char *hcl);

/* Mark runs left 'running' by a worker that no longer exists as failed. */
extern void pg_store_runs_recover(void);

/* Insert the run row (status running) and return its id. */
extern int64 pg_store_run_start(const char *env, const char *dir, bool dry_run);

/*
 * Update the run row from row: while running (final false: counters,
 * versions, log) or at the end (final: finished_at, report, and the Cloud
 * deployment report kept for sending, its target fingerprint and note).
 * The final update also sends NOTIFY PG_RUN_END_CHANNEL with a JSON
 * payload (run_id, env, status, from/to/target version, files applied and
 * pending, dry_run) in the same transaction.
 */
extern void pg_store_run_update(int64 run_id, const mig_run_row *row, bool final,
								const char *cloud_body, const char *cloud_target,
								const char *cloud_note);

#define PG_RUN_END_CHANNEL "atlas_migrate"

/* The run a worker of ours with this PID is running, or 0. */
extern int64 pg_store_running_run(int worker_pid);

/*
 * Deployment reports kept for target (oldest first): returns how many,
 * with palloc'd arrays of run ids and request bodies.
 */
extern int	pg_store_cloud_kept(const char *target, int64 **ids, char ***bodies);

/* After sending: the deployment URL (body dropped), or the error (body kept unless drop). */
extern void pg_store_cloud_set(int64 run_id, const char *url, const char *error, bool drop);

/* ---------------------------------------------------------------- pg_worker.c */

/* The worker's entry point (bgw_function_name). */
extern PGDLLEXPORT void atlas_migrate_worker_main(Datum main_arg);

/* ---------------------------------------------------------------- pg_db.c */

/*
 * The PostgreSQL adapter.  Lives in the worker, or in the caller's backend
 * inside the caller's transaction block (in_process: a rehearsal).
 */
typedef struct pg_db
{
	mig_db		base;			/* first: the engine sees a mig_db */
	const mig_run_cfg *cfg;		/* for check_clean (URL schema) */
	char	   *schema;			/* revisions schema in use (palloc'd) */
	char	   *table;			/* quoted "schema".atlas_schema_revisions */
	void	   *upsert_plan;	/* SPIPlanPtr, kept across transactions */
	bool		in_block;		/* between begin and commit/rollback */
	bool		locked;			/* holds the Atlas advisory lock */
	int			guc_nest;		/* pinned search_path of the adapter's own SQL */
	MemoryContext stmt_cxt;		/* reset after every statement */
	MemoryContext keep_cxt;		/* lives as long as the adapter */
	volatile sig_atomic_t *stop;	/* set when the run must stop */
	pg_job	   *job;			/* NULL outside the worker */

	/*
	 * in_process: begin/commit/rollback are a subtransaction of the caller's
	 * transaction (sub_level its nesting level while open, 0 when none;
	 * sub_owner the resource owner to return to), statements run through
	 * SPI, the lock is transaction-level.
	 */
	bool		in_process;
	int			sub_level;
	ResourceOwner sub_owner;

	/*
	 * Lock-safe DDL (issue 11): lock_timeout of each migration command in
	 * ms (0: the session's own), and whether the last failed exec() was
	 * seen waiting for a lock (pg_db.c keeps which one).
	 */
	int			stmt_lock_timeout_ms;
	bool		wait_known;
} pg_db;

/* Fill the adapter for the worker; stop points at the worker's stop flag. */
extern void pg_db_init(pg_db *db, const mig_run_cfg *cfg, pg_job *job,
					   volatile sig_atomic_t *stop);

/*
 * Fill the adapter for a run inside the caller's transaction block: each
 * file a subtransaction, Atlas's key as a transaction-level advisory lock,
 * every file checked to be transactional before anything runs
 * (mig_db.caller_tx).  The caller's COMMIT or ROLLBACK decides.
 */
extern void pg_db_init_here(pg_db *db, const mig_run_cfg *cfg);
extern void pg_db_free(pg_db *db);

/*
 * Run fn(arg) in a transaction command with a snapshot: the open file's
 * transaction block when there is one, else a transaction of its own that
 * commits.  fn's memory is freed afterwards; an ERROR comes back in err
 * (and aborts the transaction).
 */
extern int	pg_db_in_xact(pg_db *db, void (*fn) (void *), void *arg, mig_err *err);

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

/* ---------------------------------------------------------------- pg_history.c */

/* mig_history on atlas_migrate_runs, written through the adapter's transactions. */
typedef struct pg_history
{
	mig_history base;
	pg_db	   *db;
	/* the run row exists (the worker tells its caller); may be NULL */
	void		(*started) (int64 run_id, void *arg);
	void	   *started_arg;
} pg_history;

extern void pg_history_init(pg_history *h, pg_db *db);

/* Atlas's advisory lock key (§g.8): FNV-1 of "atlas_migrate_execute". */
#define PG_ATLAS_LOCK_KEY	INT64CONST(2686470616)

#endif							/* PG_EXT_H */
