/*
 * pg_worker.c - the background worker that runs one atlas_migrate_apply()
 * call (DESIGN §2, feasibility.md §2(c)).
 *
 * It attaches to the caller's DSM segment, sends everything it reports
 * (notices, errors) through the segment's shm_mq, connects to the caller's
 * database as the caller's login role, restores the caller's libraries and
 * settings, takes the caller's role and user id, writes its run row, loads
 * and verifies the directory, runs the engine through pg_db, finishes the
 * run row and sends the result.
 *
 * SIGTERM (the caller was cancelled or terminated, or someone ran
 * pg_terminate_backend on the worker) first asks the run to stop: the
 * current statement is cancelled, its file rolls back, the engine records
 * the failure and the run row says so.  A second SIGTERM terminates at once.
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "libpq/pqformat.h"
#include "libpq/pqmq.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "cloud.h"
#include "pg_ext.h"

static volatile sig_atomic_t stop_requested = false;

/* SIGTERM: first a cancel that lets the run record itself, then die(). */
static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	if (stop_requested)
		die(postgres_signal_arg);
	else
	{
		stop_requested = true;
		InterruptPending = true;
		QueryCancelPending = true;
		SetLatch(MyLatch);
	}
	errno = save_errno;
}

/* Send one of our own messages to the caller (dropped if it detached). */
static void
send_msg(StringInfo buf)
{
	HOLD_INTERRUPTS();
	pq_endmessage(buf);
	RESUME_INTERRUPTS();
}

static void
send_run_id(int64 run_id)
{
	StringInfoData buf;

	pq_beginmessage(&buf, PG_MSG_RUN_ID);
	pq_sendstring(&buf, psprintf(INT64_FORMAT, run_id));
	send_msg(&buf);
}

/*
 * The result: code (int4, MIG_OK or MIG_E*), sqlstate, message, detail,
 * hint (empty strings when none), the JSON report.
 */
static void
send_result(const mig_err *err, const char *report)
{
	StringInfoData buf;

	pq_beginmessage(&buf, PG_MSG_RESULT);
	pq_sendint32(&buf, (uint32) err->code);
	pq_sendstring(&buf, err->sqlstate);
	pq_sendstring(&buf, err->msg);
	pq_sendstring(&buf, err->detail);
	pq_sendstring(&buf, err->hint);
	pq_sendstring(&buf, report ? report : "");
	send_msg(&buf);
}

/* Run fn(arg) in a transaction of its own with a snapshot. */
static void
in_xact(void (*fn) (void *), void *arg)
{
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	fn(arg);
	PopActiveSnapshot();
	CommitTransactionCommand();
}

typedef struct start_arg
{
	const char *env;
	const char *dir;
	bool		dry_run;
	int64		run_id;
} start_arg;

static void
start_run(void *p)
{
	start_arg  *a = p;

	pg_store_runs_recover();
	a->run_id = pg_store_run_start(a->env, a->dir, a->dry_run);
}

typedef struct finish_arg
{
	int64		run_id;
	pg_run_final fin;
} finish_arg;

static void
finish_run(void *p)
{
	finish_arg *a = p;

	pg_store_run_finish(a->run_id, &a->fin);
}

/*
 * Bookkeeping after the run: in_xact(fn, arg), an error becomes a WARNING
 * (what) and false; the run's result still goes out.
 */
static bool
try_xact(void (*fn) (void *), void *arg, const char *what)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	QueryCancelPending = false; /* a stop was handled by the run itself */
	PG_TRY();
	{
		in_xact(fn, arg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		ereport(WARNING, (errmsg("could not %s: %s", what, edata->message)));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return ok;
}

static void
record_finish(int64 run_id, const pg_run_final *fin)
{
	finish_arg	a;

	a.run_id = run_id;
	a.fin = *fin;
	(void) try_xact(finish_run, &a, psprintf("record the end of run %lld in atlas_migrate_runs",
											 (long long) run_id));
}

/* ---------------------------------------------------------------- Atlas Cloud (§j.4) */

/* Reports kept for a retry at most; older ones are dropped with a note. */
#define MAX_PENDING_REPORTS 100

typedef struct pending_arg
{
	int64		except_id;
	int			n;
	int64	   *ids;
	char	  **bodies;
} pending_arg;

static void
read_pending(void *p)
{
	pending_arg *a = p;

	a->n = pg_store_cloud_pending(a->except_id, &a->ids, &a->bodies);
}

typedef struct cloud_set_arg
{
	int64		id;
	const char *url;
	const char *body;
	const char *error;
} cloud_set_arg;

static void
write_cloud(void *p)
{
	cloud_set_arg *a = p;

	pg_store_cloud_set(a->id, a->url, a->body, a->error);
}

static void
set_cloud(int64 id, const char *url, const char *body, const char *error)
{
	cloud_set_arg a = {id, url, body, error};

	(void) try_xact(write_cloud, &a, "record a deployment report in atlas_migrate_runs");
}

/* A cloud warning: relayed to the caller and kept for the report. */
static void
cloud_warning(StringInfo warnings, const char *prefix, const char *msg)
{
	char	   *text = psprintf("%s%s", prefix, msg);

	ereport(WARNING, (errmsg_internal("%s", text)));
	appendStringInfoString(warnings, warnings->len > 1 ? "," : "");
	escape_json(warnings, text);
}

/*
 * Report this run to Atlas Cloud, after re-sending the reports earlier
 * calls could not send (oldest first).  A failure is a WARNING and the body
 * (which holds no token) stays in the run row for the next call; it never
 * changes the apply result.
 */
static void
cloud_step(pg_db *db, const mig_run_cfg *cfg, const mig_result *res, int64 run_id,
		   StringInfo warnings, char **deploy_url)
{
	pending_arg pa = {run_id, 0, NULL, NULL};
	mig_buf		body;
	mig_err		err;
	bool		cloud_down = false;
	int			i;

	if (!cfg->cloud || !cfg->cloud_dir || run_id == 0)
		return;
	mig_err_clear(&err);
	if (try_xact(read_pending, &pa, "read pending deployment reports"))
	{
		for (i = 0; i < pa.n; i++)
		{
			char	   *url = NULL;

			if (i + MAX_PENDING_REPORTS < pa.n)
				set_cloud(pa.ids[i], NULL, NULL, "not sent: dropped, too many reports were pending");
			else if (!cloud_down)
			{
				if (mig_cloud_send(cfg, NULL, &db->base, pa.bodies[i], strlen(pa.bodies[i]), &url, &err) == MIG_OK)
					set_cloud(pa.ids[i], url, NULL, NULL);
				else
				{
					cloud_down = true;
					set_cloud(pa.ids[i], NULL, pa.bodies[i], err.msg);
					cloud_warning(warnings, "atlas cloud: an earlier deployment report is still not sent: ", err.msg);
				}
			}
			mig_free(url);
		}
	}

	mig_buf_init(&body);
	if (mig_cloud_report_body(cfg, res, &db->base, &body, &err) != MIG_OK || body.oom)
		cloud_warning(warnings, "atlas cloud: building the deployment report failed: ", err.msg);
	else if (cloud_down)
		set_cloud(run_id, NULL, body.data, err.msg);
	else if (mig_cloud_send(cfg, NULL, &db->base, body.data, body.len, deploy_url, &err) == MIG_OK)
		set_cloud(run_id, *deploy_url, NULL, NULL);
	else
	{
		set_cloud(run_id, NULL, body.data, err.msg);
		cloud_warning(warnings, "atlas cloud: reporting the deployment failed (kept for the next call): ", err.msg);
	}
	mig_buf_free(&body);
}

/*
 * errdetail for a failed file: which file and statement, and what stays
 * applied (nothing with tx_mode all).
 */
static void
failure_detail(const mig_result *res, const mig_run_cfg *cfg, mig_err *err)
{
	size_t		i;

	for (i = 0; i < res->napplied; i++)
	{
		const mig_applied *a = &res->applied[i];

		if (a->error_text == NULL)
			continue;
		if (cfg && cfg->tx_mode == MIG_TX_ALL)
			mig_err_detail(err, "Migration file %s (version %s) failed at statement %lld. "
						   "With tx_mode all nothing of this run was kept.",
						   a->file->name, a->file->version,
						   (long long) (a->skipped + (int64_t) a->stmts.n));
		else
			mig_err_detail(err, "Migration file %s (version %s) failed at statement %lld. "
						   "Files applied before it stay committed (%zu in this run).",
						   a->file->name, a->file->version,
						   (long long) (a->skipped + (int64_t) a->stmts.n), res->files_ok);
		return;
	}
}

/* "RunID":5,"Status":"failed"[,"DeploymentURL":...][,"Warnings":[...]] */
static char *
report_extra(int64 run_id, mig_run_status st, const char *deploy_url, StringInfo warnings)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfo(&b, "\"RunID\":" INT64_FORMAT ",\"Status\":\"%s\"", run_id, mig_run_status_name(st));
	if (deploy_url)
	{
		appendStringInfoString(&b, ",\"DeploymentURL\":");
		escape_json(&b, deploy_url);
	}
	if (warnings->len > 1)
		appendStringInfo(&b, ",\"Warnings\":%s]", warnings->data);
	return b.data;
}

/*
 * Everything after the connection: the run row, the directory, the engine,
 * the record, the result.
 */
static void
run_job(pg_job *job, const char *hcl, const char *env, const char *opts_json)
{
	mig_opts	opts;
	mig_run_cfg cfg;
	mig_dir		dir;
	mig_result	res;
	mig_err		err;
	mig_buf		report;
	pg_db		db;
	start_arg	sa;
	pg_run_final fin;
	StringInfoData warnings;
	char	   *deploy_url = NULL;
	int			rc;
	bool		have_cfg = false;

	mig_opts_init(&opts);
	memset(&cfg, 0, sizeof(cfg));
	mig_dir_init(&dir);
	mig_result_init(&res);
	mig_err_clear(&err);
	mig_buf_init(&report);
	memset(&db, 0, sizeof(db));

	/* The caller validated the same input; config and options travel along. */
	rc = mig_opts_parse_json(opts_json, strlen(opts_json), &opts, &err);
	if (rc == MIG_OK)
		rc = mig_resolve(hcl, strlen(hcl), env, &opts, &cfg, &err);
	have_cfg = rc == MIG_OK;

	sa.env = env;
	sa.dir = have_cfg ? cfg.dir_url_redacted : NULL;
	sa.dry_run = job->dry_run;
	sa.run_id = 0;
	in_xact(start_run, &sa);
	pg_atomic_write_u64(&job->run_id, (uint64) sa.run_id);
	send_run_id(sa.run_id);

	res.start_ns = mig_now_ns();
	pg_db_init(&db, have_cfg ? &cfg : NULL, job, &stop_requested);
	if (rc == MIG_OK)
		rc = pg_db_use_url_search_path(&db, &err);
	if (rc == MIG_OK)
		rc = mig_source_load(&cfg, &db.base, &dir, &err);
	if (rc == MIG_OK)
		rc = mig_apply(&db.base, &dir, &cfg, &res, &err);
	else
	{
		/* failed before the engine ran: a report with just the error */
		res.status = MIG_RUN_FAILED;
		res.end_ns = mig_now_ns();
		res.error = mig_strdup(err.msg);
	}
	if (rc != MIG_OK && res.status != MIG_RUN_FAILED)
		res.status = MIG_RUN_FAILED;
	if (res.end_ns == 0)
		res.end_ns = mig_now_ns();

	if (rc != MIG_OK && err.detail[0] == '\0')
		failure_detail(&res, have_cfg ? &cfg : NULL, &err);

	initStringInfo(&warnings);
	appendStringInfoChar(&warnings, '[');
	if (have_cfg)
		cloud_step(&db, &cfg, &res, sa.run_id, &warnings, &deploy_url);
	(void) mig_report_json_ex(&res, have_cfg ? &cfg : NULL, "postgres",
							  report_extra(sa.run_id, res.status, deploy_url, &warnings), &report);

	memset(&fin, 0, sizeof(fin));
	fin.status = mig_run_status_name(res.status);
	fin.from_version = res.current;
	fin.to_version = res.current_after ? res.current_after : res.target;
	fin.files_applied = (int) res.files_ok;
	fin.error = rc != MIG_OK ? err.msg : NULL;
	fin.log = res.log.data ? res.log.data : "";
	fin.report = report.oom ? NULL : report.data;
	record_finish(sa.run_id, &fin);

	send_result(&err, report.oom ? NULL : report.data);

	pg_db_free(&db);
	mig_free(deploy_url);
	mig_buf_free(&report);
	mig_result_free(&res);
	mig_dir_free(&dir);
	mig_run_cfg_free(&cfg);
	mig_opts_free(&opts);
}

void
atlas_migrate_worker_main(Datum main_arg)
{
	dsm_segment *seg;
	shm_toc    *toc;
	pg_job	   *job;
	shm_mq	   *mq;
	shm_mq_handle *mqh;
	char	   *hcl,
			   *env,
			   *opts,
			   *gucs,
			   *libs;

	pqsignal(SIGTERM, worker_sigterm);
	BackgroundWorkerUnblockSignals();

	CurrentResourceOwner = ResourceOwnerCreate(NULL, "atlas_migrate worker");
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not map the dynamic shared memory segment of the migration job")));
	/* the mapping outlives every transaction of the worker */
	dsm_pin_mapping(seg);
	toc = shm_toc_attach(PG_EXT_MAGIC, dsm_segment_address(seg));
	if (toc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("bad magic number in the migration job's shared memory segment")));
	job = shm_toc_lookup(toc, PG_KEY_JOB, false);
	hcl = shm_toc_lookup(toc, PG_KEY_HCL, false);
	env = shm_toc_lookup(toc, PG_KEY_ENV, false);
	opts = shm_toc_lookup(toc, PG_KEY_OPTS, false);
	gucs = shm_toc_lookup(toc, PG_KEY_GUC, false);
	libs = shm_toc_lookup(toc, PG_KEY_LIBS, false);
	mq = shm_toc_lookup(toc, PG_KEY_MQ, false);

	/* from here on notices and errors reach the caller */
	shm_mq_set_sender(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);
	pq_redirect_to_shm_mq(seg, mqh);

	/*
	 * The caller's identity, as a parallel worker gets its leader's: connect
	 * as the login role (a NOLOGIN current role could not connect), then
	 * restore libraries and settings, then the role and user id.  The client
	 * encoding is the database's: the caller converts what it relays.
	 */
	BackgroundWorkerInitializeConnectionByOid(job->database_id, job->authenticated_user_id, 0);
	SetClientEncoding(GetDatabaseEncoding());
	StartTransactionCommand();
	RestoreLibraryState(libs);
	RestoreGUCState(gucs);
	CommitTransactionCommand();
	SetClientEncoding(GetDatabaseEncoding());
	SetCurrentRoleId(job->outer_user_id, job->is_superuser);
	SetUserIdAndSecContext(job->current_user_id, job->sec_context);

	pgstat_report_activity(STATE_RUNNING, "atlas_migrate_apply");
	run_job(job, hcl, env, opts);
	pgstat_report_activity(STATE_IDLE, NULL);
}
