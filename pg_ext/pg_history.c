/*
 * pg_history.c - the run history (mig_history, run.h) of the PostgreSQL
 * host: atlas_migrate_runs through pg_store.c, each write through the
 * adapter's transactions (pg_db_in_xact).  The background worker writes
 * rows in transactions of its own (or the open file's); inside the
 * caller's transaction block (a rehearsal) they belong to that transaction,
 * and so does the NOTIFY that the final row sends.
 */
#include "postgres.h"

#include "miscadmin.h"

#include "pg_ext.h"

#define PGH(h) ((pg_history *) (h))

/*
 * The worker's stop (a cancel it turned into the run's failure) is handled
 * by then: the final row and the Cloud bookkeeping still get written.  In
 * the caller's own backend a pending cancel is the caller's: it stays.
 */
static void
bookkeeping_goes_on(pg_db *db)
{
	if (!db->in_process)
		QueryCancelPending = false;
}

typedef struct hist_arg
{
	const mig_run_row *row;
	int64		run_id;
	bool		final;
	const char *cloud_body;
	const char *cloud_target;
	const char *cloud_note;
	const char *url;
	const char *error;
	bool		drop;
	mig_kept_report *kept;		/* cloud_kept: mig_alloc'd copies */
	size_t		nkept;
	bool		oom;
	bool		recover;		/* start: mark dead workers' runs failed */
} hist_arg;

static void
do_start(void *p)
{
	hist_arg   *a = p;

	/*
	 * Not inside the caller's transaction: its row locks would last as long
	 * as the caller's transaction (the next worker's call recovers them).
	 */
	if (a->recover)
		pg_store_runs_recover();
	a->run_id = pg_store_run_start(a->row->env, a->row->dir, a->row->dry_run);
}

static int
h_start(mig_history *h, const mig_run_row *row, int64_t *run_id, mig_err *err)
{
	pg_db	   *db = PGH(h)->db;
	hist_arg	a;
	int			rc;

	memset(&a, 0, sizeof(a));
	a.row = row;
	a.recover = !db->in_process;
	if ((rc = pg_db_in_xact(db, do_start, &a, err)) != MIG_OK)
		return rc;
	*run_id = a.run_id;
	if (PGH(h)->started)
		PGH(h)->started(a.run_id, PGH(h)->started_arg);
	return MIG_OK;
}

static void
do_update(void *p)
{
	hist_arg   *a = p;

	pg_store_run_update(a->run_id, a->row, a->final, a->cloud_body, a->cloud_target,
						a->cloud_note);
}

static int
h_progress(mig_history *h, int64_t run_id, const mig_run_row *row, mig_err *err)
{
	hist_arg	a;

	memset(&a, 0, sizeof(a));
	a.row = row;
	a.run_id = run_id;
	return pg_db_in_xact(PGH(h)->db, do_update, &a, err);
}

static int
h_finish(mig_history *h, int64_t run_id, const mig_run_row *row, const char *cloud_body,
		 const char *cloud_target, const char *cloud_note, mig_err *err)
{
	hist_arg	a;

	memset(&a, 0, sizeof(a));
	a.row = row;
	a.run_id = run_id;
	a.final = true;
	a.cloud_body = cloud_body;
	a.cloud_target = cloud_target;
	a.cloud_note = cloud_note;
	/* a stop was handled by the run itself: the bookkeeping goes on */
	bookkeeping_goes_on(PGH(h)->db);
	return pg_db_in_xact(PGH(h)->db, do_update, &a, err);
}

static void
do_kept(void *p)
{
	hist_arg   *a = p;
	int64	   *ids;
	char	  **bodies;
	int			n = pg_store_cloud_kept(a->cloud_target, &ids, &bodies),
				i;

	/* copied out of the transaction's memory */
	a->kept = mig_calloc(n ? (size_t) n : 1, sizeof(mig_kept_report));
	if (a->kept == NULL)
	{
		a->oom = true;
		return;
	}
	for (i = 0; i < n; i++)
	{
		a->kept[i].run_id = ids[i];
		if ((a->kept[i].body = mig_strdup(bodies[i])) == NULL)
		{
			a->oom = true;
			break;
		}
		a->nkept++;
	}
}

static int
h_cloud_kept(mig_history *h, const char *cloud_target, mig_kept_report **out, size_t *n,
			 mig_err *err)
{
	hist_arg	a;
	int			rc;

	memset(&a, 0, sizeof(a));
	a.cloud_target = cloud_target;
	bookkeeping_goes_on(PGH(h)->db);
	rc = pg_db_in_xact(PGH(h)->db, do_kept, &a, err);
	if (rc == MIG_OK && a.oom)
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
	if (rc != MIG_OK)
	{
		mig_kept_reports_free(a.kept, a.nkept);
		return rc;
	}
	*out = a.kept;
	*n = a.nkept;
	return MIG_OK;
}

static void
do_cloud_set(void *p)
{
	hist_arg   *a = p;

	pg_store_cloud_set(a->run_id, a->url, a->error, a->drop);
}

static int
h_cloud_set(mig_history *h, int64_t run_id, const char *deployment_url, const char *error,
			bool drop, mig_err *err)
{
	hist_arg	a;

	memset(&a, 0, sizeof(a));
	a.run_id = run_id;
	a.url = deployment_url;
	a.error = error;
	a.drop = drop;
	bookkeeping_goes_on(PGH(h)->db);
	return pg_db_in_xact(PGH(h)->db, do_cloud_set, &a, err);
}

static void
h_warning(mig_history *h, const char *msg)
{
	ereport(WARNING, (errmsg_internal("%s", msg)));
}

void
pg_history_init(pg_history *h, pg_db *db)
{
	memset(h, 0, sizeof(*h));
	h->base.start = h_start;
	h->base.progress = h_progress;
	h->base.finish = h_finish;
	h->base.cloud_kept = h_cloud_kept;
	h->base.cloud_set = h_cloud_set;
	h->base.warning = h_warning;
	h->db = db;
}
