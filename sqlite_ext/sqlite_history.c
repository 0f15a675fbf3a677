/*
 * sqlite_history.c - mig_history for SQLite: the atlas_migrate_runs table
 * on the caller's connection.  Each write autocommits, or belongs to the
 * caller's transaction when the run is inside one (DESIGN §2).
 */
#include <string.h>
#include <unistd.h>

#include "run.h"
#include "sqlite_host.h"

#define HIST(h) ((sqlite_history *) (h))

static int
prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, mig_err *err)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return sqlite_db_error(db, err);
	return MIG_OK;
}

static int
step_done(sqlite3 *db, sqlite3_stmt *st, mig_err *err)
{
	int			rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
	{
		sqlite_db_error(db, err);
		sqlite3_finalize(st);
		return MIG_EDB;
	}
	sqlite3_finalize(st);
	return MIG_OK;
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int
h_start(mig_history *h, const mig_run_row *row, int64_t *run_id, mig_err *err)
{
	sqlite_history *s = HIST(h);
	sqlite3_stmt *st;
	int			rc;

	if ((rc = prepare(s->db, "INSERT INTO main." SQLITE_RUNS_TABLE
					  " (env, dir, started_at, status, dry_run, pid) "
					  "VALUES (?1, ?2, strftime('%Y-%m-%d %H:%M:%f', 'now'), 'running', ?3, ?4)",
					  &st, err)) != MIG_OK)
		return rc;
	bind_text(st, 1, row->env);
	bind_text(st, 2, row->dir);
	sqlite3_bind_int(st, 3, row->dry_run ? 1 : 0);
	sqlite3_bind_int64(st, 4, (sqlite3_int64) getpid());
	if ((rc = step_done(s->db, st, err)) != MIG_OK)
		return rc;
	*run_id = sqlite3_last_insert_rowid(s->db);
	/* the lock's recovery spares this row (sqlite_db.c) */
	s->sdb->run_id = *run_id;
	return MIG_OK;
}

/* The columns progress and finish share: ?1 id, ?2 status ... ?9 log. */
static void
bind_row(sqlite3_stmt *st, int64_t run_id, const mig_run_row *row)
{
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_text(st, 2, mig_run_status_name(row->status), -1, SQLITE_STATIC);
	bind_text(st, 3, row->from_version);
	bind_text(st, 4, row->to_version);
	bind_text(st, 5, row->target_version);
	sqlite3_bind_int64(st, 6, row->files_applied);
	sqlite3_bind_int64(st, 7, row->files_pending);
	bind_text(st, 8, row->error);
	if (row->log)
		sqlite3_bind_text(st, 9, row->log, (int) row->log_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 9);
}

static int
h_progress(mig_history *h, int64_t run_id, const mig_run_row *row, mig_err *err)
{
	sqlite_history *s = HIST(h);
	int			rc;

	/* after every file: prepared once per run, like the revision upsert */
	if (s->progress_stmt == NULL &&
		sqlite3_prepare_v3(s->db, "UPDATE main." SQLITE_RUNS_TABLE " SET status = ?2, from_version = ?3, "
						   "to_version = ?4, target_version = ?5, files_applied = ?6, files_pending = ?7, "
						   "error = ?8, log = coalesce(?9, log) WHERE id = ?1",
						   -1, SQLITE_PREPARE_PERSISTENT, &s->progress_stmt, NULL) != SQLITE_OK)
		return sqlite_db_error(s->db, err);
	bind_row(s->progress_stmt, run_id, row);
	rc = sqlite3_step(s->progress_stmt);
	sqlite3_reset(s->progress_stmt);
	sqlite3_clear_bindings(s->progress_stmt);
	if (rc != SQLITE_DONE)
		return sqlite_db_error(s->db, err);
	return MIG_OK;
}

static int
h_finish(mig_history *h, int64_t run_id, const mig_run_row *row, const char *cloud_body,
		 const char *cloud_target, const char *cloud_note, mig_err *err)
{
	sqlite_history *s = HIST(h);
	sqlite3_stmt *st;
	int			rc;

	if ((rc = prepare(s->db, "UPDATE main." SQLITE_RUNS_TABLE " SET status = ?2, from_version = ?3, "
					  "to_version = ?4, target_version = ?5, files_applied = ?6, files_pending = ?7, "
					  "error = ?8, log = ?9, report = ?10, "
					  "finished_at = strftime('%Y-%m-%d %H:%M:%f', 'now'), "
					  "cloud_report = ?11, cloud_target = ?12, cloud_error = ?13, "
					  "lock_retries = ?14, lock_wait_ms = ?15 WHERE id = ?1",
					  &st, err)) != MIG_OK)
		return rc;
	bind_row(st, run_id, row);
	bind_text(st, 10, row->report);
	bind_text(st, 11, cloud_body);
	bind_text(st, 12, cloud_target);
	bind_text(st, 13, cloud_note);
	sqlite3_bind_int64(st, 14, row->lock_retries);
	sqlite3_bind_int64(st, 15, row->lock_wait_ms);
	return step_done(s->db, st, err);
}

static int
h_cloud_kept(mig_history *h, const char *cloud_target, mig_kept_report **out, size_t *n,
			 mig_err *err)
{
	sqlite_history *s = HIST(h);
	sqlite3_stmt *st;
	mig_kept_report *v = NULL;
	size_t		cap = 0;
	int			rc;

	*out = NULL;
	*n = 0;
	if ((rc = prepare(s->db, "SELECT id, cloud_report FROM main." SQLITE_RUNS_TABLE
					  " WHERE cloud_report IS NOT NULL AND cloud_target = ?1 ORDER BY id",
					  &st, err)) != MIG_OK)
		return rc;
	sqlite3_bind_text(st, 1, cloud_target, -1, SQLITE_STATIC);
	/* read everything first: no statement stays open while we send and write */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
	{
		if (*n == cap)
		{
			size_t		nc = cap ? cap * 2 : 8;
			mig_kept_report *nv = mig_realloc(v, nc * sizeof(*v));

			if (nv == NULL)
				break;
			v = nv;
			cap = nc;
		}
		v[*n].run_id = sqlite3_column_int64(st, 0);
		v[*n].body = mig_strdup((const char *) sqlite3_column_text(st, 1));
		if (v[*n].body == NULL)
			break;
		(*n)++;
	}
	if (rc != SQLITE_DONE)
	{
		rc = rc == SQLITE_ROW ? mig_err_set(err, MIG_ENOMEM, "out of memory") : sqlite_db_error(s->db, err);
		sqlite3_finalize(st);
		mig_kept_reports_free(v, *n);
		*n = 0;
		return rc;
	}
	sqlite3_finalize(st);
	*out = v;
	return MIG_OK;
}

static int
h_cloud_set(mig_history *h, int64_t run_id, const char *deployment_url, const char *error,
			bool drop, mig_err *err)
{
	sqlite_history *s = HIST(h);
	sqlite3_stmt *st;
	int			rc;

	if ((rc = prepare(s->db, "UPDATE main." SQLITE_RUNS_TABLE " SET "
					  "deployment_url = coalesce(?2, deployment_url), cloud_error = ?3, "
					  "cloud_report = CASE WHEN ?2 IS NOT NULL OR ?4 THEN NULL ELSE cloud_report END "
					  "WHERE id = ?1", &st, err)) != MIG_OK)
		return rc;
	sqlite3_bind_int64(st, 1, run_id);
	bind_text(st, 2, deployment_url);
	bind_text(st, 3, error);
	sqlite3_bind_int(st, 4, drop ? 1 : 0);
	return step_done(s->db, st, err);
}

void
sqlite_history_init(sqlite_history *h, sqlite_db *sdb)
{
	memset(h, 0, sizeof(*h));
	h->base.start = h_start;
	h->base.progress = h_progress;
	h->base.finish = h_finish;
	h->base.cloud_kept = h_cloud_kept;
	h->base.cloud_set = h_cloud_set;
	h->base.warning = NULL;		/* warnings are in the returned report */
	h->db = sdb->db;
	h->sdb = sdb;
}

void
sqlite_history_close(sqlite_history *h)
{
	sqlite3_finalize(h->progress_stmt);
	h->progress_stmt = NULL;
}
