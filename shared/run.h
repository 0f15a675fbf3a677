/*
 * run.h - one atlas_migrate_apply() call from start to end, the same in
 * every host: the run row, the directory, the lock, the engine, the report,
 * the Cloud deployment report, and atlas_migrate_status()'s rows.
 *
 * A host supplies two small interfaces: the database adapter (mig_db, db.h)
 * and the history (mig_history, below: its atlas_migrate_runs table), and
 * calls mig_run().  Adding a host means writing those two, not a third copy
 * of the run.
 *
 * The order of a run, and why:
 *   1. history->start: the row exists (status running) before anything
 *      slow happens, so a caller can follow it;
 *   2. the directory is fetched and verified (before the lock: a slow Cloud
 *      never holds Atlas's lock);
 *   3. the lock (§g.8); then the engine, which calls history->progress
 *      after each file, inside that file's transaction when it has one, so
 *      a crashed run's row says how far it got;
 *   4. history->finish: the final row and the Cloud deployment report to
 *      keep, in one write, while the lock is still held — a concurrent
 *      caller never sees a finished run as "running", and a kill after this
 *      point never loses the report;
 *   5. the reports kept for this Cloud endpoint and token are sent (oldest
 *      first), still under the lock so two callers never send one twice;
 *   6. unlock.
 * A run that committed work is never turned into an error afterwards: when
 * the final row cannot be written, a smaller one is, and the call's result
 * stays the run's own.
 */
#ifndef MIG_RUN_H
#define MIG_RUN_H

#include "engine.h"

/* What the history keeps of a run (atlas_migrate_runs). */
typedef struct mig_run_row {
	const char *env;
	const char *dir;			/* redacted URL */
	bool		dry_run;
	mig_run_status status;
	const char *from_version;	/* before the run; NULL = none */
	const char *to_version;		/* the version the database reached */
	const char *target_version; /* the last file the run planned */
	int64_t		files_applied;	/* files committed (0 for a dry run) */
	int64_t		files_pending;	/* files the run planned */
	const char *error;			/* NULL when none */
	const char *log;			/* the text log so far; progress: NULL = keep
								 * the stored one */
	size_t		log_len;
	const char *report;			/* finish only: the JSON report, or NULL */
	/* finish only: lock retries of the run and the time statements
	 * waited for locks they did not get (issue 11) */
	int64_t		lock_retries;
	int64_t		lock_wait_ms;
} mig_run_row;

/* One kept Cloud deployment report. */
typedef struct mig_kept_report {
	int64_t		run_id;
	char	   *body;			/* mig_alloc'd */
} mig_kept_report;

typedef struct mig_history mig_history;

/*
 * The history interface.  Every function returns MIG_OK or a MIG_E* code
 * with err filled.  Rows are written where the host's current transaction
 * state puts them: PostgreSQL's worker in a transaction of its own (or the
 * file's), SQLite on the caller's connection.
 */
struct mig_history {
	/*
	 * Insert the row (status running) and return its id.  A host that can
	 * tell which "running" rows are dead (their process is gone) marks them
	 * failed here or when it takes the lock.
	 */
	int			(*start) (mig_history *h, const mig_run_row *row, int64_t *run_id,
						  mig_err *err);

	/*
	 * Progress after a file: files_applied, to_version, and the log when
	 * row->log is not NULL (at most once a second).  Called inside
	 * the file's transaction when the file has one (so it commits with the
	 * file), else right after the file.  May be NULL.
	 */
	int			(*progress) (mig_history *h, int64_t run_id, const mig_run_row *row,
							 mig_err *err);

	/*
	 * The final row.  cloud_body (a deployment report to send, no token),
	 * cloud_target (the fingerprint of the endpoint and token it is for) and
	 * cloud_note (why it is not sent yet) are NULL when there is none.  One
	 * write: the row and the kept report are durable together.
	 */
	int			(*finish) (mig_history *h, int64_t run_id, const mig_run_row *row,
						   const char *cloud_body, const char *cloud_target,
						   const char *cloud_note, mig_err *err);

	/*
	 * Kept reports for cloud_target, oldest first; *out is mig_alloc'd (free
	 * with mig_kept_reports_free).
	 */
	int			(*cloud_kept) (mig_history *h, const char *cloud_target,
							   mig_kept_report **out, size_t *n, mig_err *err);

	/*
	 * After sending a kept report: sent (deployment_url set, body dropped),
	 * or not (error set; the body is kept unless drop).
	 */
	int			(*cloud_set) (mig_history *h, int64_t run_id, const char *deployment_url,
							  const char *error, bool drop, mig_err *err);

	/*
	 * A warning for the caller as it happens (PostgreSQL: WARNING).  May be
	 * NULL; warnings are in the returned report's "Warnings" either way.
	 */
	void		(*warning) (mig_history *h, const char *msg);
};

void		mig_kept_reports_free(mig_kept_report *v, size_t n);

/* How the host wants the run done. */
typedef struct mig_run_opts {
	/*
	 * Send Cloud reports now.  false inside the caller's transaction: the
	 * report is only kept, and sent by a later call if the caller commits.
	 */
	bool		send_reports;
	/* Add the text log to the returned report as "Log" (SQLite). */
	bool		report_log;

	/*
	 * Take the lock before writing the run row (SQLite: a concurrent run's
	 * write transactions would make the row wait; the lock is the queue).
	 * When the lock cannot be had, the failed row is still written if the
	 * host can.
	 */
	bool		lock_first;
} mig_run_opts;

/* What a run gives back. */
typedef struct mig_run_out {
	int64_t		run_id;			/* 0 when the row could not be written */
	mig_result	res;			/* what the engine did */
	char	   *report;			/* the JSON report to return (mig_alloc'd) */
	char	   *deployment_url; /* this run's Cloud deployment, or NULL */
} mig_run_out;

void		mig_run_out_init(mig_run_out *o);
void		mig_run_out_free(mig_run_out *o);

/*
 * Run one call.  cfg is resolved (mig_resolve): input errors were raised
 * before.  Returns MIG_OK when the run succeeded (or had nothing to do),
 * else the run's error (err, with a detail naming the failed file);
 * out->report is filled either way when the run row exists, and out->res
 * says how far the run got.  Warnings (Cloud, bookkeeping) go to
 * h->warning and into the returned report's "Warnings".
 */
int			mig_run(mig_db *db, mig_history *h, const mig_run_cfg *cfg,
					const mig_run_opts *opts, mig_run_out *out, mig_err *err);

/* The fingerprint a kept report is filed under: endpoint and token, hashed. */
int			mig_cloud_target(const mig_run_cfg *cfg, char out[64]);

/* ---------------------------------------------------------------- status */

/* One row of atlas_migrate_status(). */
typedef struct mig_status_row {
	const mig_file *file;
	const char *status;			/* applied, pending, partial, failed, baseline,
								 * skipped */
	const mig_rev *rev;			/* the file's revision row, or NULL */
	int64_t		applied;		/* statements applied */
	int64_t		total;			/* statements in the file; -1 when it does not
								 * split */
} mig_status_row;

/*
 * The status of every file of dir against revs (read with
 * db->read_revisions), in directory order; *rows is mig_alloc'd, one per
 * file.  The words: a revision row says applied, partial (applied < total),
 * failed (an error) or baseline (the baseline row, and files below it);
 * a file without one is pending when the next apply would run it (§g.2
 * with cfg's exec_order), else skipped.
 */
int			mig_status(const mig_dir *dir, const mig_revs *revs, const mig_run_cfg *cfg,
					   unsigned lex_flags, mig_status_row **rows, mig_err *err);

#endif							/* MIG_RUN_H */
