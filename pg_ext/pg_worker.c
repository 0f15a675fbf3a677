/*
 * pg_worker.c - the background worker that runs one atlas_migrate_apply()
 * call (DESIGN §2, ../shared/research/feasibility.md §2(c)).
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

/* ---------------------------------------------------------------- the job */

/* The run row exists: the caller may follow (or detach from) the run from now on. */
static void
run_started(int64 run_id, void *arg)
{
	pg_job	   *job = arg;

	pg_atomic_write_u64(&job->run_id, (uint64) run_id);
	send_run_id(run_id);
}

/*
 * Everything after the connection: resolve the call's input (the caller
 * checked the same input already), run it (run.c), send the result.
 */
static void
run_job(pg_job *job, const char *hcl, const char *env, const char *opts_json)
{
	mig_run_cfg cfg;
	mig_run_opts ropts;
	mig_run_out out;
	mig_err		err;
	pg_db		db;
	pg_history	hist;
	int			rc;

	mig_run_out_init(&out);
	mig_err_clear(&err);
	memset(&db, 0, sizeof(db));

	/* the caller resolved the same input already; the result is the same */
	rc = pg_resolve_call(hcl, env, opts_json, !job->deny_getenv, &cfg, &err);
	if (rc == MIG_OK)
	{
		pg_db_init(&db, &cfg, job, &stop_requested);
		pg_history_init(&hist, &db);
		hist.started = run_started;
		hist.started_arg = job;
		memset(&ropts, 0, sizeof(ropts));
		ropts.send_reports = true;
		/* the migrations run where the env URL's search_path says (DESIGN §2) */
		if (pg_db_use_url_search_path(&db, &err) == MIG_OK)
			(void) mig_run(&db.base, &hist.base, &cfg, &ropts, &out, &err);
		pg_db_free(&db);
	}
	send_result(&err, out.report);

	mig_run_out_free(&out);
	mig_run_cfg_free(&cfg);
}

/*
 * The caller's session user, SET ROLE and user id (in a transaction: the
 * superuser flags are catalog lookups).  As parallel workers do since
 * CVE-2024-10978, is_superuser follows each role's own rolsuper, never a
 * flag of the caller's session: after SET SESSION AUTHORIZATION or SET
 * ROLE to a non-superuser, migrations see is_superuser off and cannot
 * RESET ROLE or SET ROLE back to a superuser.
 */
static void
restore_identity(pg_job *job)
{
	bool		session_super = superuser_arg(job->session_user_id);

	SetSessionAuthorization(job->session_user_id, session_super);
	SetCurrentRoleId(job->outer_user_id,
					 OidIsValid(job->outer_user_id) ? superuser_arg(job->outer_user_id) : session_super);
	SetUserIdAndSecContext(job->current_user_id, job->sec_context);
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
	restore_identity(job);
	CommitTransactionCommand();
	SetClientEncoding(GetDatabaseEncoding());

	pgstat_report_activity(STATE_RUNNING, "atlas_migrate_apply");
	run_job(job, hcl, env, opts);
	pgstat_report_activity(STATE_IDLE, NULL);
}
