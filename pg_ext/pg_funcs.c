/*
 * pg_funcs.c - the SQL-callable functions, caller side.
 *
 * atlas_migrate_apply() checks its input (config, env, options, directory
 * access) here, before anything touches the database.  Inside a
 * transaction block the client opened (BEGIN, a driver's autocommit off)
 * it then runs the migrations right here, in the caller's own transaction
 * (apply_here: a rehearsal, the caller's COMMIT or ROLLBACK decides).
 * Otherwise -- a statement of its own, or the implicit block of a
 * multi-statement query string such as a pg_cron job's "SET ...; SELECT
 * atlas_migrate_apply(...)", which keeps the worker so that txmode-none
 * files still run there -- it puts the job into a DSM segment, starts a
 * background worker (pg_worker.c), relays the worker's notices while it
 * runs and returns its report or raises its error after the work is
 * committed.  While waiting it watches for the self-block of DESIGN §2: the
 * worker waiting on a lock or snapshot that this session holds; it then
 * stops waiting and leaves the worker running (it proceeds once the
 * statement or query string ends).
 *
 * CALL atlas_migrate() (a procedure, same arguments) starts the same job,
 * then commits before it relays, so that the caller holds no snapshot or
 * lock while the worker runs: it never self-blocks, and it ends with the
 * run's report or error.  It needs a non-atomic CALL (outside a block).
 *
 * atlas_migrate_status() and atlas_split() run in the calling backend.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "libpq/pqformat.h"
#include "libpq/pqmq.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/wait_event.h"

#include "pg_ext.h"

PG_FUNCTION_INFO_V1(atlas_config_set);
PG_FUNCTION_INFO_V1(atlas_migrate_apply);
PG_FUNCTION_INFO_V1(atlas_migrate);
PG_FUNCTION_INFO_V1(atlas_migrate_status);
PG_FUNCTION_INFO_V1(atlas_split);

/* How often the caller checks pg_blocking_pids() of its worker. */
#define SELF_BLOCK_CHECK_MS 250

/* How long a stopping caller waits for its worker to roll back and exit. */
#define STOP_WAIT_MS 2000

/* ---------------------------------------------------------------- helpers */

/* Raise a core error after freeing what the caller passes (copy first). */
static void
raise_core(const mig_err *err)
{
	mig_err		copy = *err;

	pg_error_raise(ERROR, &copy, NULL, NULL);
}

/* file:// needs pg_read_server_files (or superuser), as pg_read_file does. */
static void
check_dir_access(const char *dir_url, const char *redacted)
{
	if (strncmp(dir_url, "file://", 7) != 0)
		return;
	if (superuser() || has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to read migration directory \"%s\"", redacted),
			 errdetail("Only roles with privileges of the \"pg_read_server_files\" role may read file:// directories on the database server."),
			 errhint("Grant pg_read_server_files to the role, or use an atlas:// directory.")));
}

void
pg_check_dir_access(const char *dir_url, const char *redacted)
{
	check_dir_access(dir_url, redacted);
}

/*
 * getenv() in atlas.hcl reads the server's environment (the Cloud token
 * among it): it needs what file:// needs, of the role that stored the
 * config.  The core says which getenv() call was denied; this says why.
 */
static void
getenv_denied_detail(mig_err *err)
{
	if (err->code != MIG_EPERM)
		return;
	mig_err_detail(err, "The role that stored atlas.hcl (atlas_migrate_config.updated_by) is neither a superuser nor has the privileges of the \"pg_read_server_files\" role, which getenv() needs.");
	mig_err_hint(err, "Have such a role store the configuration with atlas_config_set(), or pass the value through vars.");
}

/*
 * The call's configuration, the same way at every entry (apply's checks,
 * the in-transaction path, status, the worker): the options (JSON, may be
 * NULL), getenv() allowed only when the config's author may read the
 * server's files, and the env resolved.  MIG_OK or the error in err.
 */
int
pg_resolve_call(const char *hcl, const char *env, const char *opts_json, bool getenv_ok,
				mig_run_cfg *cfg, mig_err *err)
{
	mig_opts	o,
				server;
	int			rc = MIG_OK;

	mig_opts_init(&o);
	mig_opts_init(&server);
	memset(cfg, 0, sizeof(*cfg));
	if (opts_json)
		rc = mig_opts_parse_json(opts_json, strlen(opts_json), &o, err);
	o.deny_getenv = !getenv_ok;
	if (rc == MIG_OK)
		rc = pg_ext_server_options(&server, err);
	if (rc == MIG_OK)
		rc = mig_resolve_ex(hcl, hcl ? strlen(hcl) : 0, env, &o, &server, cfg, err);
	mig_opts_free(&o);
	mig_opts_free(&server);
	getenv_denied_detail(err);
	return rc;
}

/* ---------------------------------------------------------------- atlas_config_set */

Datum
atlas_config_set(PG_FUNCTION_ARGS)
{
	char	   *hcl = text_to_cstring(PG_GETARG_TEXT_PP(0));
	mig_config *cfg = NULL;
	mig_err		err;

	mig_err_clear(&err);
	if (mig_hcl_parse(hcl, strlen(hcl), &cfg, &err) != MIG_OK)
		raise_core(&err);
	/* what apply would refuse for every call fails now, with line:column */
	if (mig_hcl_check_envs(cfg, &err) != MIG_OK)
	{
		mig_hcl_free(cfg);
		raise_core(&err);
	}
	if (mig_hcl_uses_getenv(cfg) && !pg_ext_reads_server_files(GetUserId()))
	{
		mig_hcl_free(cfg);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to store an atlas.hcl that calls getenv()"),
				 errdetail("getenv() reads the database server's environment: only superusers and roles with the privileges of the \"pg_read_server_files\" role may store a configuration that calls it."),
				 errhint("Pass the value through the vars argument of atlas_migrate_apply(), or have such a role store the configuration.")));
	}
	mig_hcl_free(cfg);
	pg_store_config_set(hcl);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------- apply: input */

/* Append ,"key":"value" (JSON-escaped). */
static void
json_str(StringInfo b, const char *key, const char *val)
{
	appendStringInfo(b, "%s\"%s\":", b->len > 1 ? "," : "", key);
	escape_json(b, val);
}

/*
 * The SQL signatures (atlas_migrate_apply, CALL atlas_migrate) declare the
 * options as named arguments.  The C entry reads them by name from its own
 * catalog entry, not by position: an option is declared in opts.c's table
 * and in the SQL signature, and nowhere here.
 */
typedef struct call_args
{
	int			n;
	Oid		   *types;
	char	  **names;
} call_args;

static void
call_args_get(FunctionCallInfo fcinfo, call_args *ca)
{
	Oid			fn = fcinfo->flinfo->fn_oid;
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Oid		   *types;
	char	  **names;
	char	   *modes;
	int			nall,
				i;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	nall = get_func_arg_info(tup, &types, &names, &modes);
	ReleaseSysCache(tup);
	if (names == NULL)
		elog(ERROR, "atlas_migrate: function %u is not declared with named arguments", fn);
	/* the arguments the call passes: OUT and TABLE columns are results */
	ca->types = palloc(sizeof(Oid) * (nall ? nall : 1));
	ca->names = palloc(sizeof(char *) * (nall ? nall : 1));
	ca->n = 0;
	for (i = 0; i < nall; i++)
	{
		if (modes && (modes[i] == PROARGMODE_OUT || modes[i] == PROARGMODE_TABLE))
			continue;
		ca->types[ca->n] = types[i];
		ca->names[ca->n] = names[i];
		ca->n++;
	}
	if (ca->n > PG_NARGS())
		elog(ERROR, "atlas_migrate: function %u is called with %d of its %d arguments",
			 fn, PG_NARGS(), ca->n);
}

/* The position of the argument called name, or -1. */
static int
call_arg(const call_args *ca, const char *name)
{
	int			i;

	for (i = 0; i < ca->n; i++)
		if (ca->names[i] && strcmp(ca->names[i], name) == 0)
			return i;
	return -1;
}

/* A boolean argument's value, def when it is NULL or absent. */
static bool
call_arg_bool(FunctionCallInfo fcinfo, const call_args *ca, const char *name, bool def)
{
	int			i = call_arg(ca, name);

	return i < 0 || PG_ARGISNULL(i) ? def : PG_GETARG_BOOL(i);
}

/*
 * The call's options as the JSON object opts.c reads (the SQLite host's
 * argument), so both hosts share one parser and one set of messages: every
 * non-NULL argument but env and the host's own (wait, report), by name.
 */
static char *
options_json(FunctionCallInfo fcinfo, const call_args *ca)
{
	StringInfoData b;
	int			i;

	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	for (i = 0; i < ca->n; i++)
	{
		const char *name = ca->names[i];

		if (PG_ARGISNULL(i) || name == NULL || strcmp(name, "env") == 0 ||
			strcmp(name, "wait") == 0 || strcmp(name, "report") == 0)
			continue;
		switch (ca->types[i])
		{
			case INT4OID:
				appendStringInfo(&b, "%s\"%s\":%d", b.len > 1 ? "," : "", name, PG_GETARG_INT32(i));
				break;
			case BOOLOID:
				appendStringInfo(&b, "%s\"%s\":%s", b.len > 1 ? "," : "", name,
								 PG_GETARG_BOOL(i) ? "true" : "false");
				break;
			case TEXTOID:
				json_str(&b, name, text_to_cstring(PG_GETARG_TEXT_PP(i)));
				break;
			case JSONBOID:
				{
					Jsonb	   *v = PG_GETARG_JSONB_P(i);

					if (!JB_ROOT_IS_OBJECT(v))
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("%s must be a JSON object of variable values", name),
								 errhint("For example: vars => '{\"token\": \"...\", \"tenants\": [\"a\", \"b\"]}'")));
					appendStringInfo(&b, "%s\"%s\":%s", b.len > 1 ? "," : "", name,
									 JsonbToCString(NULL, &v->root, VARSIZE(v)));
					break;
				}
			default:
				elog(ERROR, "atlas_migrate: argument \"%s\" has an unexpected type %u", name, ca->types[i]);
		}
	}
	appendStringInfoChar(&b, '}');
	return b.data;
}

/* The call's options as a JSON object, for any function declaring them. */
char *
pg_call_options_json(FunctionCallInfo fcinfo)
{
	call_args	ca;

	call_args_get(fcinfo, &ca);
	return options_json(fcinfo, &ca);
}

/*
 * Resolve config + env + options the way the worker will, so that every
 * input error is raised here; returns the directory URL checks need.
 */
/* errcontext for a bad search_path in the env's url */
static void
search_path_context(void *arg)
{
	errcontext("search_path of env \"%s\"'s url", (const char *) arg);
}

/* The worker will run the migrations with it: check it now. */
static void
check_url_search_path(const char *env, const char *search_path)
{
	ErrorContextCallback cb;

	cb.callback = search_path_context;
	cb.arg = (void *) env;
	cb.previous = error_context_stack;
	error_context_stack = &cb;
	pg_db_set_search_path(search_path, GUC_ACTION_SET, false);
	error_context_stack = cb.previous;
}

static void
check_input(const char *hcl, const char *env, const char *opts_json, bool getenv_ok,
			char **dir_url, char **redacted)
{
	char	   *search_path = NULL;
	mig_run_cfg cfg;
	mig_err		err;
	int			rc;

	mig_err_clear(&err);
	rc = pg_resolve_call(hcl, env, opts_json, getenv_ok, &cfg, &err);
	if (rc == MIG_OK)
	{
		*dir_url = pstrdup(cfg.dir_url);
		*redacted = pstrdup(cfg.dir_url_redacted);
		if (cfg.db_schema)
			search_path = pstrdup(cfg.db_schema);
	}
	mig_run_cfg_free(&cfg);
	if (rc != MIG_OK)
		raise_core(&err);
	check_url_search_path(env, search_path);
}

static void
check_caller(bool dry_run)
{
	if (InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot run atlas_migrate_apply() within a security-restricted operation")));
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot apply migrations during recovery"),
				 errhint("Run atlas_migrate_apply() on the primary server.")));
	if (!dry_run)
		PreventCommandIfReadOnly("atlas_migrate_apply()");
}

/* ---------------------------------------------------------------- apply: the worker */

/* The caller's side of one job. */
typedef struct job_state
{
	dsm_segment *seg;
	shm_mq_handle *mqh;
	BackgroundWorkerHandle *handle; /* in TopMemoryContext */
	pg_job	   *job;
	pid_t		pid;			/* 0 until known */
	int64		run_id;			/* 0 until the worker sent it */
	bool		have_result;
	mig_err		err;			/* the worker's result */
	char	   *report;			/* its JSON report */
	MemoryContext msg_cxt;		/* one relayed message; reset after each */
} job_state;

/*
 * on_dsm_detach: the caller is going away (error, cancel, termination,
 * exit) while the worker may still run: ask it to stop.  Cancelled before a
 * deliberate detach (the worker then goes on alone).
 */
static void
terminate_worker(dsm_segment *seg, Datum arg)
{
	BackgroundWorkerHandle *handle = (BackgroundWorkerHandle *) DatumGetPointer(arg);

	TerminateBackgroundWorker(handle);
	pfree(handle);
}

/* Put the job into a new DSM segment and start its worker. */
static void
start_job(job_state *js, const char *hcl, const char *env, const char *opts_json, bool dry_run,
		  bool getenv_ok)
{
	shm_toc_estimator e;
	Size		size,
				guc_len = EstimateGUCStateSpace(),
				lib_len = EstimateLibraryStateSpace(),
				hcl_len = strlen(hcl) + 1,
				env_len = strlen(env) + 1,
				opts_len = strlen(opts_json) + 1;
	shm_toc    *toc;
	pg_job	   *job;
	char	   *p;
	shm_mq	   *mq;
	BackgroundWorker w;
	BackgroundWorkerHandle *handle;
	MemoryContext old;
	bool		ok;

	shm_toc_initialize_estimator(&e);
	shm_toc_estimate_chunk(&e, sizeof(pg_job));
	shm_toc_estimate_chunk(&e, hcl_len);
	shm_toc_estimate_chunk(&e, env_len);
	shm_toc_estimate_chunk(&e, opts_len);
	shm_toc_estimate_chunk(&e, guc_len);
	shm_toc_estimate_chunk(&e, lib_len);
	shm_toc_estimate_chunk(&e, PG_EXT_MQ_SIZE);
	shm_toc_estimate_keys(&e, 7);
	size = shm_toc_estimate(&e);

	js->seg = dsm_create(size, 0);
	toc = shm_toc_create(PG_EXT_MAGIC, dsm_segment_address(js->seg), size);

	job = shm_toc_allocate(toc, sizeof(pg_job));
	memset(job, 0, sizeof(*job));
	job->database_id = MyDatabaseId;
	job->authenticated_user_id = GetAuthenticatedUserId();
	job->outer_user_id = GetCurrentRoleId();
	job->session_user_id = GetSessionUserId();
	GetUserIdAndSecContext(&job->current_user_id, &job->sec_context);
	job->caller_pid = MyProcPid;
	job->dry_run = dry_run;
	job->deny_getenv = !getenv_ok;
	pg_atomic_init_u64(&job->run_id, 0);
	pg_atomic_init_u32(&job->stop_reason, PG_STOP_NONE);
	shm_toc_insert(toc, PG_KEY_JOB, job);
	js->job = job;

	p = shm_toc_allocate(toc, hcl_len);
	memcpy(p, hcl, hcl_len);
	shm_toc_insert(toc, PG_KEY_HCL, p);
	p = shm_toc_allocate(toc, env_len);
	memcpy(p, env, env_len);
	shm_toc_insert(toc, PG_KEY_ENV, p);
	p = shm_toc_allocate(toc, opts_len);
	memcpy(p, opts_json, opts_len);
	shm_toc_insert(toc, PG_KEY_OPTS, p);
	p = shm_toc_allocate(toc, guc_len);
	SerializeGUCState(guc_len, p);
	shm_toc_insert(toc, PG_KEY_GUC, p);
	p = shm_toc_allocate(toc, lib_len);
	SerializeLibraryState(lib_len, p);
	shm_toc_insert(toc, PG_KEY_LIBS, p);

	mq = shm_mq_create(shm_toc_allocate(toc, PG_EXT_MQ_SIZE), PG_EXT_MQ_SIZE);
	shm_toc_insert(toc, PG_KEY_MQ, mq);
	shm_mq_set_receiver(mq, MyProc);
	js->mqh = shm_mq_attach(mq, js->seg, NULL);

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "atlas_migrate");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "atlas_migrate_worker_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "atlas_migrate worker for PID %d", MyProcPid);
	snprintf(w.bgw_type, BGW_MAXLEN, PG_WORKER_TYPE);
	w.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(js->seg));
	w.bgw_notify_pid = MyProcPid;

	/* the handle must outlive this call: the detach callback uses it */
	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&w, &handle);
	MemoryContextSwitchTo(old);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start a background worker for the migration"),
				 errdetail("All %d background worker slots are in use.", max_worker_processes),
				 errhint("Raise max_worker_processes: each running atlas_migrate_apply() uses one background worker.")));
	js->handle = handle;
	on_dsm_detach(js->seg, terminate_worker, PointerGetDatum(handle));
	shm_mq_set_handle(js->mqh, handle);

	switch (WaitForBackgroundWorkerStartup(handle, &js->pid))
	{
		case BGWH_STARTED:
			break;
		case BGWH_STOPPED:
			/* already done, or it could not start: the queue tells which */
			js->pid = 0;
			break;
		case BGWH_POSTMASTER_DIED:
		default:
			ereport(ERROR,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("could not start the migration worker: the postmaster died")));
	}
}

/* Stop being responsible for the worker: it goes on alone. */
static void
detach_job(job_state *js)
{
	cancel_on_dsm_detach(js->seg, terminate_worker, PointerGetDatum(js->handle));
	shm_mq_detach(js->mqh);
	dsm_detach(js->seg);
	pfree(js->handle);
	js->seg = NULL;
	js->handle = NULL;
}

/* Handle one message of the worker (notices, run id, result). */
static void
handle_message(job_state *js, char *data, Size nbytes)
{
	StringInfoData msg;
	char		type;
	MemoryContext outer = MemoryContextSwitchTo(js->msg_cxt);

	msg.data = data;
	msg.len = (int) nbytes;
	msg.maxlen = (int) nbytes;
	msg.cursor = 0;
	type = (char) pq_getmsgbyte(&msg);
	switch (type)
	{
		case 'N':
		case 'E':
			{
				ErrorData	edata;

				pq_parse_errornotice(&msg, &edata);
				/* a worker's FATAL must not end this session */
				if (edata.elevel > ERROR)
					edata.elevel = ERROR;
				if (edata.elevel >= ERROR)
					ThrowErrorData(&edata);
				else
				{
					/* a pending cancel is the relay loop's to handle (stop the worker first) */
					HOLD_INTERRUPTS();
					ThrowErrorData(&edata);
					RESUME_INTERRUPTS();
				}
				break;
			}
		case PG_MSG_RUN_ID:
			js->run_id = strtoll(pq_getmsgrawstring(&msg), NULL, 10);
			break;
		case PG_MSG_RESULT:
			mig_err_clear(&js->err);
			js->err.code = (int) pq_getmsgint(&msg, 4);
			strlcpy(js->err.sqlstate, pq_getmsgrawstring(&msg), sizeof(js->err.sqlstate));
			strlcpy(js->err.msg, pq_getmsgrawstring(&msg), sizeof(js->err.msg));
			strlcpy(js->err.detail, pq_getmsgrawstring(&msg), sizeof(js->err.detail));
			strlcpy(js->err.hint, pq_getmsgrawstring(&msg), sizeof(js->err.hint));
			js->report = MemoryContextStrdup(outer, pq_getmsgrawstring(&msg));
			js->have_result = true;
			break;
		default:
			/* ParameterStatus and the like: nothing for the caller */
			break;
	}
	MemoryContextSwitchTo(outer);
	MemoryContextReset(js->msg_cxt);
}

/*
 * Is the worker waiting for a lock held by (or the snapshot of) this session?
 * Allocates in cxt and resets it: the relay loop asks every 250 ms.
 */
static bool
blocked_by_me(pid_t pid, MemoryContext cxt)
{
	MemoryContext outer = MemoryContextSwitchTo(cxt);
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	bool		found = false;
	int			n,
				i;

	arr = DatumGetArrayTypeP(DirectFunctionCall1(pg_blocking_pids, Int32GetDatum(pid)));
	deconstruct_array(arr, INT4OID, sizeof(int32), true, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n && !found; i++)
		found = !nulls[i] && DatumGetInt32(elems[i]) == MyProcPid;
	/* every check's lock-manager snapshot goes: 4 a second for hours otherwise */
	MemoryContextSwitchTo(outer);
	MemoryContextReset(cxt);
	return found;
}

/*
 * Stop the worker and wait (up to timeout_ms) until it has rolled back and
 * exited, while this session still holds its locks and snapshot: once they
 * are released the statement the worker waits on could otherwise complete
 * before the stop arrives.  Interrupts stay held so that relaying a notice
 * does not act on a pending cancel; the caller handles that afterwards.
 */
static void
stop_worker(job_state *js, uint32 reason, long timeout_ms)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);

	HOLD_INTERRUPTS();
	if (reason != PG_STOP_NONE)
		pg_atomic_write_u32(&js->job->stop_reason, reason);
	TerminateBackgroundWorker(js->handle);
	for (;;)
	{
		shm_mq_result r;
		Size		nbytes;
		void	   *data;
		long		left;

		r = shm_mq_receive(js->mqh, &nbytes, &data, true);
		if (r == SHM_MQ_DETACHED)
			break;
		if (r == SHM_MQ_SUCCESS)
		{
			/* notices still go out; the worker's own end is not ours to raise */
			if (nbytes > 0 && ((char *) data)[0] == 'N')
				handle_message(js, data, nbytes);
			continue;
		}
		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(left, 100), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	RESUME_INTERRUPTS();
}

/*
 * Is the caller inside a transaction block that its client opened (BEGIN,
 * or a driver's autocommit off), as opposed to the implicit block a
 * multi-statement query string gets ("SET lock_timeout = '5s'; SELECT
 * atlas_migrate_apply('prod')", common in pg_cron jobs)?  The implicit one
 * ends with the string, so a self-blocked worker can go on after it, like
 * after a single statement; an explicit one may stay open indefinitely.
 * PostgreSQL does not tell the two apart, so: an implicit block is a block
 * whose query string has several statements and no BEGIN/START.  When in
 * doubt, explicit.
 */
static bool
in_explicit_block(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool explicit_block = true;

	if (!IsTransactionBlock())
		return false;
	if (debug_query_string == NULL)
		return true;
	PG_TRY();
	{
		List	   *trees = pg_parse_query(debug_query_string);
		ListCell   *lc;

		if (list_length(trees) > 1)
		{
			explicit_block = false;
			foreach(lc, trees)
			{
				Node	   *stmt = lfirst_node(RawStmt, lc)->stmt;

				if (IsA(stmt, TransactionStmt) &&
					(((TransactionStmt *) stmt)->kind == TRANS_STMT_BEGIN ||
					 ((TransactionStmt *) stmt)->kind == TRANS_STMT_START))
					explicit_block = true;
			}
		}
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		explicit_block = true;
	}
	PG_END_TRY();
	return explicit_block;
}

/* {"Driver":"postgres","Dir":...,"Status":"running","RunID":n} */
static Datum
running_report(job_state *js, const char *dir)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoString(&b, "{\"Driver\":\"postgres\",\"Dir\":");
	escape_json(&b, dir);
	if (js->run_id > 0)
		appendStringInfo(&b, ",\"Status\":\"running\",\"RunID\":" INT64_FORMAT "}", js->run_id);
	else
		appendStringInfoString(&b, ",\"Status\":\"running\",\"RunID\":null}");
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(b.data));
}

/*
 * Where to look: the NOTICE for a run that goes on without its caller.
 * call_env: also say how to wait for the outcome instead (the SELECT form
 * that detached on a self-block).
 */
static void
notice_detached(job_state *js, const char *why, const char *call_env)
{
	if (call_env)
	{
		StringInfoData env;

		initStringInfo(&env);
		appendStringInfoString(&env, quote_literal_cstr(call_env));
		ereport(NOTICE,
				(errmsg("migration run %lld continues in the background", (long long) js->run_id),
				 errdetail("%s", why),
				 errhint("Follow it with: SELECT status, error, log FROM atlas_migrate_runs WHERE id = %lld; "
						 "to wait for the outcome in the call instead, use CALL atlas_migrate(%s, ...), which holds no snapshot while it waits.",
						 (long long) js->run_id, env.data)));
		return;
	}
	ereport(NOTICE,
			(errmsg("migration run %lld continues in the background", (long long) js->run_id),
			 errdetail("%s", why),
			 errhint("Follow it with: SELECT status, error, log FROM atlas_migrate_runs WHERE id = %lld;",
					 (long long) js->run_id)));
}

/*
 * Relay the worker's messages until it is done; returns true when the
 * caller stops waiting early (self-block: the worker goes on once the
 * statement, or the implicit block of its query string, ends; or wait =>
 * false once the run row exists).  Inside a block the client opened the
 * call never gets here (apply_here).  in_call: CALL atlas_migrate(), which
 * committed before waiting, so a self-block can only come from a
 * session-level lock, which the end of the statement does not release: it
 * stops the worker and raises.
 */
static bool
relay(job_state *js, bool wait, bool in_call)
{
	TimestampTz last_check = GetCurrentTimestamp();
	MemoryContext check_cxt = AllocSetContextCreate(CurrentMemoryContext, "atlas_migrate self-block check",
													ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		shm_mq_result r;
		Size		nbytes;
		void	   *data;

		/* cancel, terminate, statement_timeout: the worker first, then us */
		if (InterruptPending && (QueryCancelPending || ProcDiePending))
		{
			stop_worker(js, PG_STOP_NONE, STOP_WAIT_MS);
			CHECK_FOR_INTERRUPTS();
		}
		r = shm_mq_receive(js->mqh, &nbytes, &data, true);
		if (r == SHM_MQ_SUCCESS)
		{
			handle_message(js, data, nbytes);
			if (!wait && js->run_id > 0)
				return true;
			continue;
		}
		if (r == SHM_MQ_DETACHED)
			return false;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 SELF_BLOCK_CHECK_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (InterruptPending && (QueryCancelPending || ProcDiePending))
			stop_worker(js, PG_STOP_NONE, STOP_WAIT_MS);
		CHECK_FOR_INTERRUPTS();

		if (js->pid > 0 &&
			TimestampDifferenceExceeds(last_check, GetCurrentTimestamp(), SELF_BLOCK_CHECK_MS))
		{
			last_check = GetCurrentTimestamp();
			if (blocked_by_me(js->pid, check_cxt))
			{
				if (in_call)
				{
					stop_worker(js, PG_STOP_SELF_BLOCK, STOP_WAIT_MS);
					ereport(ERROR,
							(errcode(ERRCODE_T_R_DEADLOCK_DETECTED),
							 errmsg("migration worker (PID %d) is waiting for a lock held by this session",
									(int) js->pid),
							 errdetail("The session holds it outside any transaction (a session-level advisory lock), so it would wait forever; run %lld was stopped and its current file rolled back.",
									   (long long) js->run_id),
							 errhint("Release the session's advisory locks (pg_advisory_unlock_all()) before CALL atlas_migrate().")));
				}
				return true;
			}
		}
	}
}

/* One call's input, checked (arguments 0-10 of atlas_migrate_apply and atlas_migrate alike). */
typedef struct apply_input
{
	char	   *env;
	char	   *redacted;		/* directory URL without credentials */
	char	   *opts_json;
	char	   *hcl;
	bool		dry_run;
	bool		wait;
	bool		getenv_ok;
} apply_input;

/* Check the call's input: every input error is raised here, before anything runs. */
static void
check_apply(FunctionCallInfo fcinfo, apply_input *in)
{
	char	   *dir_url = NULL;
	call_args	ca;

	memset(in, 0, sizeof(*in));
	call_args_get(fcinfo, &ca);
	in->dry_run = call_arg_bool(fcinfo, &ca, "dry_run", false);
	in->wait = call_arg_bool(fcinfo, &ca, "wait", true);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("env must not be null"),
				 errhint("Pass the name of an env block of the stored atlas.hcl, e.g. atlas_migrate_apply('prod').")));
	in->env = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_caller(in->dry_run);
	in->opts_json = options_json(fcinfo, &ca);
	in->hcl = pg_store_config_get(&in->getenv_ok);
	check_input(in->hcl, in->env, in->opts_json, in->getenv_ok, &dir_url, &in->redacted);
	check_dir_access(dir_url, in->redacted);
}

/* Start the call's worker. */
static void
begin_apply(const apply_input *in, job_state *js)
{
	memset(js, 0, sizeof(*js));
	js->msg_cxt = AllocSetContextCreate(CurrentMemoryContext, "atlas_migrate relay",
										ALLOCSET_DEFAULT_SIZES);
	start_job(js, in->hcl, in->env, in->opts_json, in->dry_run, in->getenv_ok);
}

/* A string member of the report, or NULL. */
static char *
report_string(Jsonb *jb, const char *key)
{
	JsonbValue	v;

	if (!getKeyJsonValueFromContainer(&jb->root, key, strlen(key), &v) || v.type != jbvString)
		return NULL;
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/* The length of an array member of the report (0 when absent). */
static int
report_count(Jsonb *jb, const char *key)
{
	JsonbValue	v;

	if (!getKeyJsonValueFromContainer(&jb->root, key, strlen(key), &v) ||
		v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		return 0;
	return (int) JsonContainerSize(v.val.binary.data);
}

/*
 * After a run that returns its report: one line that a psql prompt shows
 * below Atlas's log (the report itself is the result), e.g.
 *   atlas_migrate: applied 3 files, version 2 -> 5; report in atlas_migrate_runs id 42
 * The log in the run row stays Atlas's own; this line is the caller's.  No
 * duration: the run row has started_at and finished_at (and psql \timing
 * the call's), and expected test outputs stay exact.
 */
static void
notice_summary(Datum report, int64 run_id)
{
	Jsonb	   *jb = DatumGetJsonbP(report);
	char	   *status = report_string(jb, "Status");
	char	   *current = report_string(jb, "Current");
	char	   *target = report_string(jb, "Target");
	JsonbValue	dry;
	char	   *from = current && current[0] ? current : "(none)";
	char	   *where = psprintf("report in atlas_migrate_runs id %lld", (long long) run_id);

	if (getKeyJsonValueFromContainer(&jb->root, "DryRun", 6, &dry) && dry.type == jbvBool && dry.val.boolean)
	{
		int			n = report_count(jb, "Pending");

		ereport(NOTICE,
				(errmsg("atlas_migrate: dry run, nothing applied: %d file%s pending, version %s -> %s; %s",
						n, n == 1 ? "" : "s", from, target ? target : from, where)));
	}
	else if (status && strcmp(status, "nothing_to_do") == 0)
		ereport(NOTICE,
				(errmsg("atlas_migrate: nothing to apply, at version %s; %s", from, where)));
	else
	{
		int			n = report_count(jb, "Applied");

		ereport(NOTICE,
				(errmsg("atlas_migrate: applied %d file%s, version %s -> %s; %s",
						n, n == 1 ? "" : "s", from, target ? target : from, where)));
	}
}

/* The worker is done: its report (after the summary NOTICE), or its error raised. */
static Datum
end_apply(job_state *js)
{
	Datum		report;

	(void) WaitForBackgroundWorkerShutdown(js->handle);
	detach_job(js);

	if (!js->have_result)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("migration worker exited without a result"),
				 js->run_id > 0 ? errdetail("See run %lld in atlas_migrate_runs and the server log.", (long long) js->run_id)
				 : errdetail("See the server log.")));
	if (js->err.code != MIG_OK)
	{
		char	   *hint = js->run_id > 0 ? psprintf("The run is recorded in atlas_migrate_runs (id %lld).",
													 (long long) js->run_id) : NULL;

		pg_error_raise(ERROR, &js->err, NULL, hint);
	}
	report = DirectFunctionCall1(jsonb_in, CStringGetDatum(js->report));
	notice_summary(report, js->run_id);
	return report;
}

/* ---------------------------------------------------------------- apply: in the caller's transaction */

/*
 * Inside a transaction block the client opened (in_explicit_block): the
 * run happens here, in the caller's own transaction, and the caller's
 * COMMIT or ROLLBACK decides (DESIGN §2: BEGIN; apply; look; ROLLBACK).
 * Each file is a subtransaction, Atlas's key a transaction-level lock, the
 * run row and its NOTIFY are the caller's transaction's, and a Cloud report
 * is only kept (a later call sends it if the caller committed).  The env
 * URL's search_path, and whatever a migration SETs, last for the call
 * only.  A run's error is raised as any error: it aborts the caller's
 * transaction (or the savepoint it is in), so nothing of the call remains.
 */
static Datum
apply_here(const apply_input *in)
{
	mig_run_cfg cfg;
	mig_run_opts ropts;
	mig_run_out out;
	mig_err		err;
	pg_db		db;
	pg_history	hist;
	int			rc;
	int			nest;
	Datum		report;

	if (!in->wait)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("wait => false cannot be used inside a transaction block"),
				 errdetail("Inside a transaction block the migrations run in the caller's own transaction, which the call cannot leave running."),
				 errhint("Call atlas_migrate_apply(..., wait => false) outside BEGIN ... COMMIT.")));

	mig_run_out_init(&out);
	mig_err_clear(&err);
	rc = pg_resolve_call(in->hcl, in->env, in->opts_json, in->getenv_ok, &cfg, &err);
	if (rc != MIG_OK)
	{
		mig_run_cfg_free(&cfg);
		raise_core(&err);
	}

	ereport(NOTICE,
			(errmsg("applying inside the caller's transaction: COMMIT keeps the migrations, ROLLBACK discards them")));

	/* the migrations' search_path: the env URL's, for this call only */
	nest = NewGUCNestLevel();
	PG_TRY();
	{
		pg_db_set_search_path(cfg.db_schema, GUC_ACTION_SAVE, true);
	}
	PG_CATCH();
	{
		mig_run_cfg_free(&cfg);
		PG_RE_THROW();
	}
	PG_END_TRY();

	pg_db_init_here(&db, &cfg);
	pg_history_init(&hist, &db);
	memset(&ropts, 0, sizeof(ropts));
	ropts.send_reports = false;
	rc = mig_run(&db.base, &hist.base, &cfg, &ropts, &out, &err);
	pg_db_free(&db);
	/* every setting the call changed (a migration's SET included) is the caller's again */
	AtEOXact_GUC(false, nest);

	if (rc != MIG_OK || out.report == NULL)
	{
		mig_err		copy = err;
		char	   *hint;

		if (rc == MIG_OK)
			mig_err_set(&copy, MIG_ENOMEM, "out of memory");
		hint = psprintf("%sThe call ran inside the caller's transaction: this error rolls back everything it did there%s.",
						copy.code == MIG_ESTATE && strcmp(copy.sqlstate, "25001") == 0 ?
						"Outside BEGIN ... COMMIT use SELECT atlas_migrate_apply(...) as a statement of its own, or CALL atlas_migrate(...).\n" : "",
						out.run_id > 0 ? ", its run row included" : "");
		mig_run_out_free(&out);
		mig_run_cfg_free(&cfg);
		pg_error_raise(ERROR, &copy, NULL, hint);
	}
	report = DirectFunctionCall1(jsonb_in, CStringGetDatum(out.report));
	notice_summary(report, out.run_id);
	mig_run_out_free(&out);
	mig_run_cfg_free(&cfg);
	return report;
}

Datum
atlas_migrate_apply(PG_FUNCTION_ARGS)
{
	apply_input in;
	job_state	js;

	check_apply(fcinfo, &in);
	if (in_explicit_block())
		PG_RETURN_DATUM(apply_here(&in));
	begin_apply(&in, &js);
	if (relay(&js, in.wait, false))
	{
		detach_job(&js);
		if (in.wait)
			notice_detached(&js, "The migration worker is waiting for a lock or snapshot held by this statement; it goes on when the statement (or the query string it is part of) ends.", in.env);
		else
			notice_detached(&js, "wait => false: this call does not wait for it.", NULL);
		PG_RETURN_DATUM(running_report(&js, in.redacted));
	}
	PG_RETURN_DATUM(end_apply(&js));
}

/* ---------------------------------------------------------------- CALL atlas_migrate */

/*
 * Commit the procedure's transaction before waiting, so that this session
 * holds no snapshot and no lock while the worker runs (CREATE INDEX
 * CONCURRENTLY waits for every older snapshot).  SPI_commit() starts the
 * next transaction at once; nothing here takes a snapshot in it until the
 * worker is done.  The job's segment belongs to the first transaction's
 * resource owner: pinned across the commit, then handed to the new one, so
 * that an error or cancel from here on still detaches it and stops the
 * worker.
 */
static void
commit_before_wait(job_state *js)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect_ext failed");
	dsm_pin_mapping(js->seg);
	PG_TRY();
	{
		SPI_commit();
	}
	PG_CATCH();
	{
		/* nothing owns the segment now: detaching stops the worker */
		dsm_detach(js->seg);
		PG_RE_THROW();
	}
	PG_END_TRY();
	dsm_unpin_mapping(js->seg);
	SPI_finish();
	MemoryContextSwitchTo(cxt);
}

/*
 * CALL atlas_migrate(env, ...): atlas_migrate_apply's arguments, plus the
 * INOUT report that CALL shows.  Commits, then waits for the run without a
 * snapshot, relaying the whole log, and ends with the run's true outcome:
 * the report, or the run's error with its SQLSTATE (pg_cron: failed).
 */
Datum
atlas_migrate(PG_FUNCTION_ARGS)
{
	apply_input in;
	job_state	js;
	Datum		report;
	TupleDesc	tupdesc;
	Datum		values[1];
	bool		nulls[1] = {false};

	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		((CallContext *) fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("CALL atlas_migrate() cannot run inside a transaction block"),
				 errdetail("It commits before it waits for the migration worker, which is not possible inside a transaction block, a multi-statement query string or a function."),
				 errhint("Run CALL atlas_migrate(...) as a statement of its own, outside BEGIN ... COMMIT; inside a transaction use SELECT atlas_migrate_apply(...).")));

	check_apply(fcinfo, &in);
	begin_apply(&in, &js);
	commit_before_wait(&js);
	if (relay(&js, in.wait, true))
	{
		detach_job(&js);
		notice_detached(&js, "wait => false: this call does not wait for it.", NULL);
		report = running_report(&js, in.redacted);
	}
	else
		report = end_apply(&js);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "atlas_migrate: the procedure's result must be a row");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = report;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ---------------------------------------------------------------- atlas_migrate_status */

static int
status_interrupted(mig_db *db)
{
	return InterruptPending && (QueryCancelPending || ProcDiePending);
}

/* One row per migration file: what the revisions table says about it. */
Datum
atlas_migrate_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *env = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *hcl;
	mig_run_cfg cfg;
	mig_dir		dir;
	mig_revs	revs;
	mig_status_row *volatile rows = NULL;
	mig_err		err;
	mig_db		db;
	volatile int rc;
	bool		getenv_ok = false;

	InitMaterializedSRF(fcinfo, 0);
	hcl = pg_store_config_get(&getenv_ok);

	mig_err_clear(&err);
	memset(&revs, 0, sizeof(revs));
	memset(&db, 0, sizeof(db));
	mig_dir_init(&dir);
	db.name = "postgres";
	db.driver = "postgres";
	db.version = PG_VERSION;
	db.lex_flags = MIG_LEX_POSTGRES;
	db.interrupted = status_interrupted;

	rc = pg_resolve_call(hcl, env, NULL, getenv_ok, &cfg, &err);
	if (rc != MIG_OK)
		raise_core(&err);
	PG_TRY();
	{
		size_t		i;

		check_dir_access(cfg.dir_url, cfg.dir_url_redacted);
		rc = mig_source_load(&cfg, &db, &dir, &err);
		if (rc == MIG_OK)
		{
			mig_status_row *got = NULL;

			pg_db_read_revisions_here(cfg.revisions_schema, &revs);
			rc = mig_status(&dir, &revs, &cfg, db.lex_flags, &got, &err);
			rows = got;
		}
		if (rc != MIG_OK)
			raise_core(&err);

		for (i = 0; i < dir.nfiles; i++)
		{
			const mig_status_row *r = &rows[i];
			const mig_file *f = r->file;
			Datum		values[8];
			bool		nulls[8];

			memset(nulls, 0, sizeof(nulls));
			values[0] = CStringGetTextDatum(f->version);
			values[1] = CStringGetTextDatum(f->desc);
			values[2] = CStringGetTextDatum(f->name);
			values[3] = CStringGetTextDatum(r->status);
			values[4] = Int32GetDatum((int32) r->applied);
			values[5] = Int32GetDatum((int32) r->total);
			nulls[5] = r->total < 0;
			if (r->rev)
				values[6] = TimestampTzGetDatum((TimestampTz) (r->rev->executed_at_ns / 1000 -
															   (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY));
			else
				nulls[6] = true;
			if (r->rev && r->rev->error && r->rev->error[0])
				values[7] = CStringGetTextDatum(r->rev->error);
			else
				nulls[7] = true;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	PG_FINALLY();
	{
		mig_free(rows);
		mig_revs_free(&revs);
		mig_dir_free(&dir);
		mig_run_cfg_free(&cfg);
	}
	PG_END_TRY();
	return (Datum) 0;
}

/* ---------------------------------------------------------------- atlas_split */

/* atlas_split's streaming state: rows go to the tuplestore as they come. */
typedef struct split_state
{
	ReturnSetInfo *rsinfo;
	int32		n;				/* statements so far */
	MemoryContext row_cxt;		/* one row's datums; reset after each */
	MemoryContext outer;		/* where a caught error is copied */
	ErrorData  *error;			/* what tuplestore_putvalues raised */
} split_state;

/*
 * mig_lex_each's emit: one output row.  Nothing longjmps through the core:
 * a pending cancel stops the scan (the caller then raises it), and an error
 * of the tuplestore (a full temp disk) is caught here and rethrown after
 * the core returned.  The tuplestore spills to disk beyond work_mem, so
 * memory stays flat for any number of statements.
 */
static int
split_emit(void *arg, const char *text, size_t len)
{
	split_state *st = arg;
	volatile int rc = MIG_OK;
	MemoryContext old;

	if (InterruptPending && (QueryCancelPending || ProcDiePending))
		return MIG_EINTR;
	old = MemoryContextSwitchTo(st->row_cxt);
	PG_TRY();
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int32GetDatum(++st->n);
		values[1] = PointerGetDatum(cstring_to_text_with_len(text, (int) len));
		tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc, values, nulls);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(st->outer);
		st->error = CopyErrorData();
		FlushErrorState();
		rc = MIG_EDB;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->row_cxt);
	return rc;
}

/* The statements of sql exactly as the executor would split them. */
Datum
atlas_split(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *sql = PG_GETARG_TEXT_PP(0);
	char	   *options = text_to_cstring(PG_GETARG_TEXT_PP(1));
	unsigned	flags = 0;
	split_state st;
	mig_err		err;
	int			rc;

	InitMaterializedSRF(fcinfo, 0);
	mig_err_clear(&err);
	if (mig_lex_parse_flags(options, &flags, &err) != MIG_OK)
		raise_core(&err);
	memset(&st, 0, sizeof(st));
	st.rsinfo = rsinfo;
	st.outer = CurrentMemoryContext;
	st.row_cxt = AllocSetContextCreate(CurrentMemoryContext, "atlas_split row",
									   ALLOCSET_SMALL_SIZES);
	/* the text itself, without a copy: the scanner takes a length */
	rc = mig_lex_each(VARDATA_ANY(sql), VARSIZE_ANY_EXHDR(sql), flags, split_emit, &st, &err);
	MemoryContextDelete(st.row_cxt);
	if (st.error)
		ReThrowError(st.error);
	CHECK_FOR_INTERRUPTS();
	if (rc != MIG_OK)
		raise_core(&err);
	return (Datum) 0;
}

/* ---------------------------------------------------------------- atlas_migrate_options */

PG_FUNCTION_INFO_V1(atlas_migrate_options);

/*
 * The options table (opts.c) as rows: what a DBA can pass, set server-wide
 * or set in atlas.hcl, with the current server-wide value.
 */
Datum
atlas_migrate_options(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	size_t		i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < MIG_NOPTS; i++)
	{
		const mig_opt_def *d = &mig_opt_defs[i];
		Datum		values[7];
		bool		nulls[7] = {false};
		char		setting[80];

		snprintf(setting, sizeof(setting), "atlas_migrate.%s", d->name);
		values[0] = CStringGetTextDatum(d->name);
		values[1] = CStringGetTextDatum(d->sql_type);
		values[2] = CStringGetTextDatum(d->builtin);
		if (d->hcl)
			values[3] = CStringGetTextDatum(d->hcl);
		else
			nulls[3] = true;
		if (d->server)
		{
			const char *v = GetConfigOption(setting, true, false);

			values[4] = CStringGetTextDatum(setting);
			if (v && v[0])
				values[5] = CStringGetTextDatum(v);
			else
				nulls[5] = true;
		}
		else
			nulls[4] = nulls[5] = true;
		values[6] = CStringGetTextDatum(d->doc);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
