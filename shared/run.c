/*
 * run.c - one call from start to end, for every host (run.h has the order
 * and the reasons), and atlas_migrate_status()'s rows.
 */
#include <stdio.h>
#include <string.h>

#include "cloud.h"
#include "plan.h"
#include "run.h"

/* Kept reports sent at most per call; older ones are dropped with a note. */
#define MAX_KEPT_REPORTS 100

void
mig_kept_reports_free(mig_kept_report *v, size_t n)
{
	size_t		i;

	for (i = 0; v && i < n; i++)
		mig_free(v[i].body);
	mig_free(v);
}

void
mig_run_out_init(mig_run_out *o)
{
	memset(o, 0, sizeof(*o));
	mig_result_init(&o->res);
}

void
mig_run_out_free(mig_run_out *o)
{
	mig_result_free(&o->res);
	mig_free(o->report);
	mig_free(o->deployment_url);
	memset(o, 0, sizeof(*o));
	mig_result_init(&o->res);
}

int
mig_cloud_target(const mig_run_cfg *cfg, char out[64])
{
	mig_sha256	h;
	char		b64[MIG_B64_SHA256];
	const char *url = cfg->cloud_url ? cfg->cloud_url : MIG_CLOUD_DEFAULT_URL;
	const char *token = cfg->cloud_token ? cfg->cloud_token : "";

	if (mig_sha256_init(&h) != MIG_OK)
		return MIG_ENOMEM;
	/* a one-way digest: the token itself is never stored */
	mig_sha256_update(&h, "atlas_migrate cloud target", 27);
	mig_sha256_update(&h, url, strlen(url) + 1);
	mig_sha256_update(&h, token, strlen(token));
	if (mig_sha256_peek_b64(&h, b64) != MIG_OK)
	{
		mig_sha256_free(&h);
		return MIG_ENOMEM;
	}
	mig_sha256_free(&h);
	snprintf(out, 64, "sha256:%s", b64);
	return MIG_OK;
}

/* ---------------------------------------------------------------- the run */

typedef struct run_state {
	mig_db	   *db;
	mig_history *h;
	const mig_run_cfg *cfg;
	mig_run_out *out;
	mig_buf		warnings;		/* JSON array members, comma-separated */
	bool		report_log;		/* mig_run_opts.report_log */
	int64_t		log_stored_ns;	/* when progress last stored the log */
} run_state;

/*
 * Progress stores the log at most this often: counters go out after every
 * file, the log (which grows with the run) only when it is this old, so a
 * run of many small files does not rewrite its log once per file.
 */
#define PROGRESS_LOG_EVERY_NS ((int64_t) 1000000000)

/* The row as far as the run got. */
static void
fill_row(const run_state *s, mig_run_row *row)
{
	const mig_result *res = &s->out->res;

	memset(row, 0, sizeof(*row));
	row->env = s->cfg->env_name;
	row->dir = s->cfg->dir_url_redacted;
	row->dry_run = s->cfg->dry_run;
	row->status = res->status;
	row->from_version = res->current;
	row->target_version = res->target;
	row->files_pending = (int64_t) res->npending;
	if (!s->cfg->dry_run)
	{
		row->to_version = res->reached;
		row->files_applied = (int64_t) res->files_ok;
		/* tx_mode all: a failure rolled every file back */
		if (res->status == MIG_RUN_FAILED && s->cfg->tx_mode == MIG_TX_ALL)
			row->files_applied = 0;
	}
	else
		row->to_version = res->current;
	row->error = res->error;
	row->log = res->log.data ? res->log.data : "";
	row->log_len = res->log.len;
	row->lock_retries = res->lock_retries;
	row->lock_wait_ms = res->lock_wait_ns / 1000000;
}

static int
progress(void *arg, const mig_result *res, size_t files_done, const char *version,
		 mig_err *err)
{
	run_state  *s = arg;
	mig_run_row row;

	if (s->h->progress == NULL)
		return MIG_OK;
	fill_row(s, &row);
	row.files_applied = (int64_t) files_done;
	row.to_version = version;
	if (mig_now_ns() - s->log_stored_ns >= PROGRESS_LOG_EVERY_NS)
		s->log_stored_ns = mig_now_ns();
	else
	{
		row.log = NULL;			/* keep the stored one */
		row.log_len = 0;
	}
	return s->h->progress(s->h, s->out->run_id, &row, err);
}

static void
warn(run_state *s, const char *prefix, const char *msg)
{
	mig_buf		t;

	mig_buf_init(&t);
	mig_buf_puts(&t, prefix);
	mig_buf_puts(&t, msg);
	if (!t.oom && t.data)
	{
		if (s->warnings.len > 0)
			mig_buf_putc(&s->warnings, ',');
		mig_buf_json_str(&s->warnings, t.data, t.len);
		if (s->h->warning)
			s->h->warning(s->h, t.data);
	}
	mig_buf_free(&t);
}

/*
 * errdetail for a failed file: which file and statement, and what stays
 * applied.
 */
static void
failure_detail(const run_state *s, mig_err *err)
{
	const mig_result *res = &s->out->res;
	size_t		i;

	if (err->detail[0])
		return;
	for (i = 0; i < res->napplied; i++)
	{
		const mig_applied *a = &res->applied[i];

		if (a->error_text == NULL)
			continue;
		if (s->cfg->tx_mode == MIG_TX_ALL)
			mig_err_detail(err, "Migration file %s (version %s) failed at statement %lld. "
						   "With tx_mode all nothing of this run was kept.",
						   a->file->name, a->file->version,
						   (long long) (a->skipped + (int64_t) a->stmts.n));
		else if (s->db->caller_tx)
			mig_err_detail(err, "Migration file %s (version %s) failed at statement %lld and was rolled back. "
						   "Files applied before it (%zu in this run) were applied in the caller's transaction.",
						   a->file->name, a->file->version,
						   (long long) (a->skipped + (int64_t) a->stmts.n), res->files_ok);
		else
			mig_err_detail(err, "Migration file %s (version %s) failed at statement %lld. "
						   "Files applied before it stay committed (%zu in this run).",
						   a->file->name, a->file->version,
						   (long long) (a->skipped + (int64_t) a->stmts.n), res->files_ok);
		return;
	}
}

/* "RunID":5,"Status":"failed" and, for the returned report, the rest. */
static int
build_report(run_state *s, bool returned, mig_buf *out)
{
	const mig_result *res = &s->out->res;
	mig_buf		extra;
	int			rc;

	mig_buf_init(&extra);
	mig_buf_printf(&extra, "\"RunID\":%lld,\"Status\":\"%s\"", (long long) s->out->run_id,
				   mig_run_status_name(res->status));
	if (s->cfg->dry_run)
		mig_buf_puts(&extra, ",\"DryRun\":true");
	if (res->checks.ran)
	{
		/* the pre-flight check's findings (dry run, preflight) */
		mig_buf_puts(&extra, ",\"Findings\":");
		mig_checks_json(&res->checks, false, &extra);
	}
	if (returned && s->out->deployment_url)
	{
		mig_buf_puts(&extra, ",\"DeploymentURL\":");
		mig_buf_json_str(&extra, s->out->deployment_url, strlen(s->out->deployment_url));
	}
	if (returned && s->warnings.len > 0)
	{
		mig_buf_puts(&extra, ",\"Warnings\":[");
		mig_buf_append(&extra, s->warnings.data, s->warnings.len);
		mig_buf_putc(&extra, ']');
	}
	if (returned && s->report_log)
	{
		mig_buf_puts(&extra, ",\"Log\":");
		mig_buf_json_str(&extra, res->log.data ? res->log.data : "", res->log.len);
	}
	if (extra.oom)
	{
		mig_buf_free(&extra);
		return MIG_ENOMEM;
	}
	rc = mig_report_json_ex(res, s->cfg, s->db->driver, extra.data, out);
	mig_buf_free(&extra);
	return rc;
}

/*
 * Send the reports kept for this endpoint and token, oldest first (this
 * run's own is the newest).  A failure stops the sending; what is not sent
 * stays kept.  Never changes the run's result.
 */
static void
send_kept(run_state *s, const char *target)
{
	mig_kept_report *kept = NULL;
	size_t		n = 0,
				i;
	mig_err		err;
	bool		down = false;

	mig_err_clear(&err);
	if (s->h->cloud_kept(s->h, target, &kept, &n, &err) != MIG_OK)
	{
		warn(s, "atlas cloud: reading the kept deployment reports failed: ", err.msg);
		return;
	}
	for (i = 0; i < n; i++)
	{
		bool		own = kept[i].run_id == s->out->run_id;
		char	   *url = NULL;
		mig_err		serr;

		mig_err_clear(&serr);
		if (i + MAX_KEPT_REPORTS < n)
		{
			if (s->h->cloud_set(s->h, kept[i].run_id, NULL,
								"not sent: dropped, too many reports were kept", true, &serr) != MIG_OK)
				warn(s, "atlas cloud: recording a dropped deployment report failed: ", serr.msg);
			continue;
		}
		if (down)
		{
			if (own)
			{
				s->h->cloud_set(s->h, kept[i].run_id, NULL, err.msg, false, &serr);
				warn(s, "atlas cloud: reporting the deployment failed (kept for the next call): ", err.msg);
			}
			continue;
		}
		if (mig_cloud_send(s->cfg, NULL, s->db, kept[i].body, strlen(kept[i].body), &url, &err) == MIG_OK)
		{
			if (s->h->cloud_set(s->h, kept[i].run_id, url, NULL, false, &serr) != MIG_OK)
				warn(s, "atlas cloud: recording a sent deployment report failed: ", serr.msg);
			if (own)
			{
				s->out->deployment_url = url;
				url = NULL;
			}
		}
		else
		{
			down = true;
			if (s->h->cloud_set(s->h, kept[i].run_id, NULL, err.msg, false, &serr) != MIG_OK)
				warn(s, "atlas cloud: recording a deployment report's error failed: ", serr.msg);
			if (own)
				warn(s, "atlas cloud: reporting the deployment failed (kept for the next call): ", err.msg);
			else
				warn(s, "atlas cloud: an earlier deployment report is still not sent: ", err.msg);
		}
		mig_free(url);
	}
	mig_kept_reports_free(kept, n);
}

/*
 * The final row, with the kept report.  When it cannot be written (the
 * report too large for the database, a conversion error...), a smaller row
 * says so: the run's result stays what the run did.
 */
static void
finish(run_state *s, const char *report, const char *body, const char *target,
	   const char *note)
{
	mig_run_row row;
	mig_err		ferr;
	mig_buf		why;

	fill_row(s, &row);
	row.report = report;
	mig_err_clear(&ferr);
	if (s->h->finish(s->h, s->out->run_id, &row, body, target, note, &ferr) == MIG_OK)
		return;
	warn(s, "recording the end of the run failed, a shorter record was kept: ", ferr.msg);
	mig_buf_init(&why);
	mig_buf_printf(&why, "the run's log and report could not be stored: %s", ferr.msg);
	row.report = NULL;
	row.log = why.data ? why.data : "";
	row.log_len = why.data ? why.len : 0;
	mig_err_clear(&ferr);
	if (s->h->finish(s->h, s->out->run_id, &row, NULL, NULL, NULL, &ferr) != MIG_OK)
		warn(s, "recording the end of the run failed: ", ferr.msg);
	mig_buf_free(&why);
}

int
mig_run(mig_db *db, mig_history *h, const mig_run_cfg *cfg, const mig_run_opts *opts,
		mig_run_out *out, mig_err *err)
{
	run_state	s;
	mig_dir		dir;
	mig_run_row row;
	mig_apply_hooks hooks;
	mig_buf		stored,
				returned,
				body;
	mig_result *res = &out->res;
	char		target[64] = "";
	const char *note = NULL;
	bool		locked = false,
				cloud;
	int			rc,
				lock_rc = MIG_OK;

	memset(&s, 0, sizeof(s));
	s.db = db;
	s.h = h;
	s.cfg = cfg;
	s.out = out;
	s.report_log = opts->report_log;
	mig_buf_init(&s.warnings);
	mig_buf_init(&stored);
	mig_buf_init(&returned);
	mig_buf_init(&body);
	mig_dir_init(&dir);
	cloud = cfg->cloud && cfg->cloud_dir;

	/* the lock first when the host's row needs it (SQLite: one writer) */
	res->start_ns = mig_now_ns();
	if (opts->lock_first)
	{
		if ((lock_rc = db->lock(db, cfg->lock_timeout_ms, err)) != MIG_OK)
			mig_err_prefix(err, "acquiring database lock: ");
		else
			locked = true;
	}

	/* 1. the row */
	fill_row(&s, &row);
	row.status = MIG_RUN_RUNNING;
	{
		mig_err		serr;

		mig_err_clear(&serr);
		if ((rc = h->start(h, &row, &out->run_id, &serr)) != MIG_OK)
		{
			if (lock_rc == MIG_OK)
				*err = serr;
			else
				mig_err_detail(err, "The run could not be recorded either: %s", serr.msg);
			rc = lock_rc != MIG_OK ? lock_rc : rc;
			goto done;
		}
	}

	/* 2. the directory, 3. the lock and the engine */
	if ((rc = lock_rc) == MIG_OK && (rc = mig_source_load(cfg, db, &dir, err)) == MIG_OK)
	{
		if (!locked && (rc = db->lock(db, cfg->lock_timeout_ms, err)) != MIG_OK)
			mig_err_prefix(err, "acquiring database lock: ");
		else
		{
			locked = true;
			memset(&hooks, 0, sizeof(hooks));
			hooks.lock_held = true;
			hooks.file_done = progress;
			hooks.arg = &s;
			rc = mig_apply_ex(db, &dir, cfg, &hooks, res, err);
		}
	}
	if (rc != MIG_OK)
	{
		res->status = MIG_RUN_FAILED;
		if (res->error == NULL)
			res->error = mig_strdup(err->msg);
		failure_detail(&s, err);
	}
	if (res->end_ns == 0)
		res->end_ns = mig_now_ns();

	/* 4. the final row and the report to keep, under the lock */
	if (cloud)
	{
		mig_err		cerr;

		mig_err_clear(&cerr);
		if (mig_cloud_target(cfg, target) != MIG_OK ||
			mig_cloud_report_body(cfg, res, db, &body, &cerr) != MIG_OK || body.oom)
		{
			warn(&s, "atlas cloud: building the deployment report failed: ",
				 cerr.msg[0] ? cerr.msg : "out of memory");
			mig_buf_free(&body);
		}
		else if (!opts->send_reports)
			note = "not sent yet: the run is inside the caller's transaction";
		else
			note = "not sent yet";
	}
	if (build_report(&s, false, &stored) != MIG_OK)
		mig_buf_free(&stored);
	finish(&s, stored.data, body.data, body.data ? target : NULL, body.data ? note : NULL);

	/* 5. send what is kept for this endpoint and token */
	if (cloud && body.data && opts->send_reports)
		send_kept(&s, target);

	/* the returned report */
	if (build_report(&s, true, &returned) == MIG_OK && !returned.oom)
		out->report = mig_buf_steal(&returned);

done:
	/* 6. unlock */
	if (locked)
	{
		mig_err		uerr;

		mig_err_clear(&uerr);
		if (db->unlock(db, &uerr) != MIG_OK)
			warn(&s, "releasing the migration lock failed: ", uerr.msg);
	}
	mig_buf_free(&s.warnings);
	mig_buf_free(&stored);
	mig_buf_free(&returned);
	mig_buf_free(&body);
	mig_dir_free(&dir);
	return rc;
}

/* ---------------------------------------------------------------- status */

int
mig_status(const mig_dir *dir, const mig_revs *revs, const mig_run_cfg *cfg,
		   unsigned lex_flags, mig_status_row **rows, mig_err *err)
{
	mig_revs	history;
	mig_plan	plan;
	mig_status_row *out = NULL;
	const char *baseline = NULL;
	bool		plan_ok;
	size_t		i,
				j;
	int			rc = MIG_OK;

	memset(&history, 0, sizeof(history));
	memset(&plan, 0, sizeof(plan));
	*rows = NULL;

	/*
	 * What the next apply would run: the history without failed attempts
	 * that applied nothing (they do not count, as in the engine).
	 */
	for (i = 0; i < revs->n; i++)
	{
		const mig_rev *v = &revs->v[i];

		if (v->type & MIG_REV_BASELINE)
			baseline = v->version;
		if (mig_rev_failed_attempt(v))
			continue;
		if (mig_revs_push(&history, v) != MIG_OK)
			goto oom;
	}
	if (history.n == 0)
	{
		const mig_file *base = NULL;

		plan_ok = mig_plan_fresh(dir->files, dir->nfiles, NULL, &base, &plan, err) == MIG_OK;
	}
	else
		plan_ok = mig_plan_pending(dir->files, dir->nfiles, &history, cfg->exec_order,
								   &plan, err) == MIG_OK;
	mig_err_clear(err);

	out = mig_calloc(dir->nfiles ? dir->nfiles : 1, sizeof(*out));
	if (out == NULL)
		goto oom;
	for (i = 0; i < dir->nfiles; i++)
	{
		const mig_file *f = &dir->files[i];
		long		ri = mig_revs_find(revs, f->version);
		mig_status_row *o = &out[i];

		o->file = f;
		if (ri >= 0)
		{
			const mig_rev *r = &revs->v[ri];

			o->rev = r;
			o->applied = r->applied;
			o->total = r->total;
			if (r->type & MIG_REV_BASELINE)
				o->status = "baseline";
			else if (r->error && r->error[0])
				o->status = "failed";
			else if (r->applied < r->total)
				o->status = "partial";
			else
				o->status = "applied";
			continue;
		}
		/* no row: the statements it has, and whether the next apply runs it */
		{
			mig_stmts	st;
			mig_err		lerr;

			memset(&st, 0, sizeof(st));
			mig_err_clear(&lerr);
			o->total = mig_lex_split(f->data, f->len, lex_flags, &st, &lerr) == MIG_OK ?
				(int64_t) st.n : -1;
			mig_stmts_free(&st);
		}
		if (baseline && strcmp(f->version, baseline) < 0)
			o->status = "baseline";
		else if (!plan_ok)
			o->status = "pending";
		else
		{
			o->status = "skipped";
			for (j = 0; j < plan.n; j++)
				if (plan.v[j] == f)
				{
					o->status = "pending";
					break;
				}
		}
	}
	*rows = out;
	out = NULL;
	goto done;
oom:
	rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
done:
	mig_free(out);
	mig_plan_free(&plan);
	mig_revs_free(&history);
	return rc;
}
