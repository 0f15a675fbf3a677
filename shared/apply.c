/*
 * apply.c - the apply engine: lock, revisions, pending files, per-file
 * transactions, revision rows, the apply log (§g.1, §g.4, §g.5, §f.4, §h.1).
 *
 * Knows nothing of PostgreSQL or SQLite: it drives a mig_db adapter.
 *
 * Deliberate differences from the Atlas CLI, all decided in DESIGN §6:
 * - every pending file is split and checked before anything runs (scan
 *   errors, txmode directives, `atlas:txtar` files, transaction-control
 *   statements in transactional files), so a broken file applies nothing;
 * - resuming updates the row's total and hash to the current file (§6.4);
 * - execution_time is the whole file's duration (§6.3);
 * - in tx modes file and all the row is written once, at the end of the
 *   file, inside its transaction: the per-statement writes Atlas makes there
 *   are invisible to everyone, so the end state is the same;
 * - in tx mode file a failed file leaves an error row (applied = what was
 *   applied before, the error and the statement) written after the
 *   rollback, when that row is the newest revision (so it can only make the
 *   file pending again, never hide it);
 * - dry run writes nothing at all (§6.12);
 * - lock-safe DDL (issue 11, no Atlas counterpart): with
 *   statement_lock_timeout, a statement that gives up waiting for a lock
 *   rolls its file back (tx mode all: every file; none: only itself) and
 *   runs again after a growing, jittered pause, up to lock_retries times;
 *   an attempt that was rolled back leaves no row and counts nowhere but in
 *   the log and the lock counters.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "plan.h"

/* One pending file, prepared before anything runs. */
typedef struct prep {
	const mig_file *file;
	mig_stmts	stmts;
	mig_txmode	mode;
} prep;

typedef struct run {
	mig_db	   *db;
	const mig_dir *dir;
	const mig_run_cfg *cfg;
	mig_result *res;
	mig_err    *err;
	mig_revs	revs;			/* the history: rows that count for planning */
	mig_revs	failed;			/* failed attempts that applied nothing */
	prep	   *preps;
	size_t		nprep;
	const char *max_version;	/* greatest version with a committed row */
	const char *reached;		/* greatest version the database reached:
								 * max_version without error rows of files
								 * that applied nothing */
	bool		in_tx;			/* a transaction we began is open */
	bool		locked;
	const mig_apply_hooks *hooks;	/* NULL: none */

	/* lock-safe DDL (issue 11) */
	bool		exec_failed;	/* the last failure came from db->exec */
	int64_t		exec_ns;		/* how long that exec ran */
	mig_stmt	failed_stmt;	/* its statement (text in the file's data) */
	mig_stmts  *saved;			/* tx mode all: every file's statements, to
								 * run them again */
	uint64_t	rng;			/* jitter of the pauses */
	char		gave_up[MIG_ERR_DETAIL];	/* retries spent: the detail */
	/* the stored log's statement text (MIG_KEEP_STMT, db.h) */
	size_t		log_kept;		/* statement bytes kept in res->log */
	size_t		omit_n;			/* statements of this file not kept yet */
	size_t		omit_bytes;
	mig_buf		line;			/* one statement's NOTICE entry */
} run;

/* ---------------------------------------------------------------- log (§h.1) */

/* The entry for this file's statements past the log's budget, if any. */
static void
log_omitted(run *r)
{
	mig_buf    *log = &r->res->log;

	if (r->omit_n == 0)
		return;
	mig_buf_puts(log, "    -> ");
	mig_keep_omitted(log, r->omit_n, r->omit_bytes);
	mig_buf_putc(log, '\n');
	r->omit_n = 0;
	r->omit_bytes = 0;
}

/*
 * Append one log entry to the text log, and hand it to the host without
 * its blank lines.  text holds no final newline.
 */
static void
log_entry(run *r, const char *text, size_t len, bool blank_before)
{
	mig_buf    *log = &r->res->log;

	log_omitted(r);
	if (blank_before)
		mig_buf_putc(log, '\n');
	mig_buf_append(log, text, len);
	mig_buf_putc(log, '\n');
	if (r->db->log && len > 0)
		r->db->log(r->db, text, len);
}

static void
log_str(run *r, const char *s, bool blank_before)
{
	log_entry(r, s, strlen(s), blank_before);
}

/* "    -> <text>" with every LF followed by 7 spaces. */
static void
stmt_line(mig_buf *b, const char *text, size_t len)
{
	const char *p = text,
			   *end = text + len;

	mig_buf_reserve(b, len + 16);
	mig_buf_puts(b, "    -> ");
	while (p < end)
	{
		const char *nl = memchr(p, '\n', (size_t) (end - p));

		if (nl == NULL)
		{
			mig_buf_append(b, p, (size_t) (end - p));
			break;
		}
		mig_buf_append(b, p, (size_t) (nl - p) + 1);
		mig_buf_puts(b, "       ");
		p = nl + 1;
	}
}

/*
 * One statement: its whole text to the host (the NOTICE stream), and to
 * the stored log as kept (MIG_KEEP_STMT): cut past 4 KB, and counted
 * instead of written once the run's budget is spent.  force: keep it
 * whatever the budget (the statement that failed).
 */
static void
log_stmt_kept(run *r, const mig_stmt *s, bool force)
{
	mig_buf    *log = &r->res->log;

	if (!force && r->log_kept >= MIG_KEEP_STMTS)
	{
		r->omit_n++;
		r->omit_bytes += s->len;
		return;
	}
	log_omitted(r);
	r->log_kept += s->len < MIG_KEEP_STMT ? s->len : MIG_KEEP_STMT;
	if (s->len <= MIG_KEEP_STMT)
		stmt_line(log, s->text, s->len);
	else
	{
		mig_buf_reset(&r->line);
		mig_keep_stmt(&r->line, s->text, s->len);
		if (!r->line.oom)
			stmt_line(log, r->line.data, r->line.len);
	}
	mig_buf_putc(log, '\n');
}

static void
log_stmt(run *r, const mig_stmt *s)
{
	if (r->db->log && s->len > 0)
	{
		mig_buf_reset(&r->line);
		stmt_line(&r->line, s->text, s->len);
		if (!r->line.oom)
			r->db->log(r->db, r->line.data, r->line.len);
	}
	log_stmt_kept(r, s, false);
}

/*
 * The statement that failed, in the stored log whatever the budget: when
 * log_stmt counted it as not kept, it is written after the entry for the
 * ones before it.
 */
static void
log_failed_stmt(run *r, const mig_stmt *s)
{
	if (r->omit_n == 0)
		return;					/* it is in the log already */
	r->omit_n--;
	r->omit_bytes -= s->len;
	log_stmt_kept(r, s, true);
}

/* "    <text>" (error lines). */
static void
log_error_line(run *r, const char *text)
{
	mig_buf		b;

	mig_buf_init(&b);
	mig_buf_puts(&b, "    ");
	mig_buf_puts(&b, text);
	if (!b.oom)
		log_entry(r, b.data, b.len, false);
	mig_buf_free(&b);
}

static void
log_header(run *r)
{
	char		line[1024];
	const mig_result *res = r->res;

	if (res->current)
		snprintf(line, sizeof(line), "Migrating to version %s from %s (%zu migrations in total):",
				 res->target, res->current, res->npending);
	else
		snprintf(line, sizeof(line), "Migrating to version %s (%zu migrations in total):",
				 res->target, res->npending);
	log_str(r, line, false);
}

/* "<n> <word>[s]" */
static void
plural(mig_buf *b, size_t n, const char *word)
{
	mig_buf_printf(b, "%zu %s%s", n, word, n > 1 ? "s" : "");
}

/* The footer: separator, total duration and summary lines (§h.1). */
static void
log_footer(run *r, bool run_error_unlogged)
{
	mig_result *res = r->res;
	size_t		ok = 0,
				bad = 0,
				stmts = 0,
				i;
	char		dur[64];
	mig_buf		b;

	for (i = 0; i < res->napplied; i++)
	{
		stmts += res->applied[i].stmts.n;
		if (res->applied[i].error_text)
			bad++;
		else
			ok++;
	}
	stmts -= bad;
	if (res->napplied == 0)
	{
		mig_buf_putc(&res->log, '\n');
		if (run_error_unlogged && res->error)
			log_error_line(r, res->error);
	}
	log_str(r, "  -------------------------", true);
	mig_fmt_duration(res->end_ns - res->start_ns, dur, sizeof(dur));
	mig_buf_init(&b);
	mig_buf_printf(&b, "  -- %s", dur);
	log_entry(r, b.data, b.len, false);
	if (ok || bad)
	{
		mig_buf_reset(&b);
		mig_buf_puts(&b, "  -- ");
		if (ok && bad)
		{
			plural(&b, ok, "migration");
			mig_buf_printf(&b, " ok, %zu with errors", bad);
		}
		else if (ok)
			plural(&b, ok, "migration");
		else
		{
			plural(&b, bad, "migration");
			mig_buf_puts(&b, " with errors");
		}
		log_entry(r, b.data, b.len, false);
	}
	if (stmts || bad)
	{
		mig_buf_reset(&b);
		mig_buf_puts(&b, "  -- ");
		if (stmts && bad)
		{
			plural(&b, stmts, "sql statement");
			mig_buf_printf(&b, " ok, %zu with errors", bad);
		}
		else if (stmts)
			plural(&b, stmts, "sql statement");
		else
		{
			plural(&b, bad, "sql statement");
			mig_buf_puts(&b, " with errors");
		}
		log_entry(r, b.data, b.len, false);
	}
	mig_buf_free(&b);
}

/* ---------------------------------------------------------------- helpers */

/* Record the run error (message of err) in the result. */
static int
fail(run *r, int rc)
{
	if (r->res->error == NULL)
		r->res->error = mig_strdup(r->err->msg);
	r->res->status = MIG_RUN_FAILED;
	return rc;
}

/* MIG_ENOMEM, with err saying "out of memory". */
static int
no_memory(run *r)
{
	return mig_err_set(r->err, MIG_ENOMEM, "out of memory");
}

static bool
word_at(const char *s, size_t len, const char *w)
{
	size_t		n = strlen(w),
				i;

	if (len < n)
		return false;
	for (i = 0; i < n; i++)
	{
		char		c = s[i];

		if (c >= 'a' && c <= 'z')
			c = (char) (c - 'a' + 'A');
		if (c != w[i])
			return false;
	}
	return len == n || !((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
						 (s[n] >= '0' && s[n] <= '9') || s[n] == '_');
}

/* The word after the first one (skipping blanks), for START TRANSACTION. */
static bool
second_word(const char *s, size_t len, size_t first_len, const char *w)
{
	size_t		i = first_len;

	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return word_at(s + i, len - i, w);
}

/*
 * A transaction-control statement (DESIGN §6.7): it would end or nest the
 * file's transaction.  Statements never start with a comment (§d.3).
 */
static bool
is_tx_control(const mig_stmt *st)
{
	const char *s = st->text;
	size_t		n = st->len;

	return word_at(s, n, "BEGIN") || word_at(s, n, "COMMIT") || word_at(s, n, "END") ||
		word_at(s, n, "ROLLBACK") || word_at(s, n, "ABORT") || word_at(s, n, "SAVEPOINT") ||
		word_at(s, n, "RELEASE") ||
		(word_at(s, n, "START") && second_word(s, n, 5, "TRANSACTION")) ||
		(word_at(s, n, "PREPARE") && second_word(s, n, 7, "TRANSACTION"));
}

static const char *
txmode_name(mig_txmode m)
{
	return m == MIG_TX_NONE ? "none" : m == MIG_TX_ALL ? "all" : "file";
}

/*
 * Inside the caller's transaction (mig_db.caller_tx) every file runs in a
 * subtransaction of it: a tx mode none file, or a statement that cannot run
 * inside a transaction block, cannot run there as written.  Refused before
 * anything runs, naming the file and the statement.
 */
static int
check_caller_tx(run *r, const prep *p, mig_txmode directive)
{
	static const char hint[] = "Apply it outside a transaction block, where such files run as written.";
	size_t		j;
	int			rc = MIG_OK;

	if (p->mode == MIG_TX_NONE)
	{
		if (directive == MIG_TX_NONE)
			rc = mig_err_set(r->err, MIG_ESTATE,
							 "migration file \"%.200s\" cannot run inside the caller's transaction: it has the directive \"-- atlas:txmode none\"",
							 p->file->name);
		else
			rc = mig_err_set(r->err, MIG_ESTATE,
							 "migration file \"%.200s\" cannot run inside the caller's transaction: tx_mode \"none\" runs each statement on its own",
							 p->file->name);
	}
	for (j = 0; rc == MIG_OK && r->db->stmt_in_block && j < p->stmts.n; j++)
		if (!r->db->stmt_in_block(r->db, p->stmts.v[j].text, p->stmts.v[j].len))
		{
			mig_buf		b;

			mig_buf_init(&b);
			mig_buf_goquote(&b, p->stmts.v[j].text, p->stmts.v[j].len > 200 ? 200 : p->stmts.v[j].len);
			rc = mig_err_set(r->err, MIG_ESTATE,
							 "migration file \"%.200s\" cannot run inside the caller's transaction: statement %zu (%s) cannot run inside a transaction block",
							 p->file->name, j + 1, b.data ? b.data : "");
			mig_buf_free(&b);
		}
	if (rc != MIG_OK)
	{
		strcpy(r->err->sqlstate, "25001");
		mig_err_hint(r->err, "%s", hint);
	}
	return rc;
}

/*
 * Split and check every pending file before anything runs: NUL bytes,
 * scan errors (§g.4 step 2), txmode directives (§e.2, §g.5), `atlas:txtar` (DESIGN
 * §6.8), transaction control in transactional files (§6.7), files that
 * cannot run inside the caller's transaction (check_caller_tx).
 */
static int
prepare(run *r)
{
	size_t		i,
				j;
	int			rc;

	r->preps = mig_calloc(r->res->npending ? r->res->npending : 1, sizeof(prep));
	if (r->preps == NULL)
		return mig_err_set(r->err, MIG_ENOMEM, "out of memory");
	for (i = 0; i < r->res->npending; i++)
	{
		prep	   *p = &r->preps[i];
		mig_txmode	directive = MIG_TX_UNSET;

		p->file = r->res->pending[i];
		r->nprep++;
		if ((rc = mig_file_check_nul(p->file, r->err)) != MIG_OK)
			return rc;
		if (mig_file_has_directive(p->file, "txtar"))
		{
			rc = mig_err_set(r->err, MIG_ENOTSUP,
							 "migration file \"%.200s\" is an atlas:txtar file (pre-migration checks), which is not supported",
							 p->file->name);
			mig_err_hint(r->err, "Pre-migration checks are an Atlas Pro feature; apply this directory with the Atlas CLI.");
			return rc;
		}
		if (p->file->sum_ignored)
			return mig_err_set(r->err, MIG_ECHECKSUM,
							   "sql/migrate: scanning checksum from \"%.200s\": checksum not found",
							   p->file->name);
		if ((rc = mig_file_txmode(p->file, &directive, r->err)) != MIG_OK)
			return rc;
		if (r->cfg->tx_mode == MIG_TX_ALL && directive != MIG_TX_UNSET)
			return mig_err_set(r->err, MIG_EINVAL,
							   "cannot set txmode directive to \"%s\" in \"%.200s\" when txmode \"all\" is set globally",
							   txmode_name(directive), p->file->name);
		p->mode = directive != MIG_TX_UNSET ? directive : r->cfg->tx_mode;
		if ((rc = mig_lex_split(p->file->data, p->file->len, r->db->lex_flags, &p->stmts, r->err)) != MIG_OK)
		{
			if (rc == MIG_ESCAN)
				mig_err_prefix(r->err, "sql/migrate: scanning statements from \"%.200s\": ", p->file->name);
			return rc;
		}
		if (r->db->caller_tx && !r->cfg->dry_run &&
			(rc = check_caller_tx(r, p, directive)) != MIG_OK)
			return rc;
		if (p->mode != MIG_TX_NONE)
			for (j = 0; j < p->stmts.n; j++)
				if (is_tx_control(&p->stmts.v[j]))
				{
					mig_buf		b;

					mig_buf_init(&b);
					mig_buf_goquote(&b, p->stmts.v[j].text, p->stmts.v[j].len > 200 ? 200 : p->stmts.v[j].len);
					rc = mig_err_set(r->err, MIG_EINVAL,
									 "migration file \"%.200s\" controls transactions (statement %zu: %s), which is not allowed in tx mode \"%s\"",
									 p->file->name, j + 1, b.data ? b.data : "", txmode_name(p->mode));
					mig_buf_free(&b);
					mig_err_hint(r->err, "Start the file with the directive \"-- atlas:txmode none\" followed by a blank line, so its statements run as written.");
					return rc;
				}
	}
	return MIG_OK;
}

/* ---------------------------------------------------------------- lock retries (issue 11) */

/* Longest pause between two attempts. */
#define RETRY_PAUSE_MAX_MS 5000

/*
 * The pause before attempt n + 1 (n >= 1): 100 ms, growing by half each
 * time up to 5 s, drawn from [p/2, p] so that runs retrying against the
 * same holder do not come back in step.
 */
static int64_t
retry_pause_ms(run *r, int64_t n)
{
	double		p = 100;
	int64_t		i,
				half;

	for (i = 1; i < n && p < RETRY_PAUSE_MAX_MS; i++)
		p *= 1.5;
	if (p > RETRY_PAUSE_MAX_MS)
		p = RETRY_PAUSE_MAX_MS;
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	half = (int64_t) (p / 2);
	return half + (int64_t) (r->rng % (uint64_t) (half + 1));
}

/* Sleep ms in short steps, stopping when the host wants the run stopped. */
static int
pause_ms(run *r, int64_t ms)
{
	const int64_t end = mig_now_ns() + ms * 1000000;
	int64_t		left;

	for (;;)
	{
		if (r->db->interrupted && r->db->interrupted(r->db))
			return mig_err_set(r->err, MIG_EINTR, "canceling migration on request");
		left = (end - mig_now_ns()) / 1000000;
		if (left <= 0)
			return MIG_OK;
		if (left > 100)
			left = 100;
		if (r->db->pause)
			r->db->pause(r->db, left);
		else
		{
			struct timespec ts = {(time_t) (left / 1000), (long) (left % 1000) * 1000000};

			nanosleep(&ts, NULL);
		}
	}
}

/*
 * The exec of statement st (of file f) failed with r->err after r->exec_ns,
 * and what the attempt did is rolled back.  Was it a lock timeout under
 * statement_lock_timeout with retries left?  Then say so (a log line, so a
 * NOTICE in PostgreSQL: the version, the statement, the lock and who held
 * it), pause and return 1: the caller runs the attempt again.  0: the error
 * stands (not a lock timeout, or the retries are spent: r->gave_up then
 * holds the detail for the error).  An error code: interrupted while
 * pausing (err says so).
 */
static int
lock_retry(run *r, const mig_file *f, const mig_stmt *st, int64_t *attempts, const char *again)
{
	const mig_run_cfg *cfg = r->cfg;
	mig_buf		what,
				line,
				q;
	char		waited[64],
				pause[64];
	int64_t		ms,
				t0;
	int			rc = 0;

	r->gave_up[0] = '\0';
	if (cfg->stmt_lock_timeout_ms <= 0 || cfg->dry_run || r->db->lock_wait_failed == NULL)
		return 0;
	mig_buf_init(&what);
	mig_buf_init(&line);
	mig_buf_init(&q);
	if (!r->db->lock_wait_failed(r->db, r->err, &what))
		goto done;
	r->res->lock_wait_ns += r->exec_ns;
	mig_buf_goquote(&q, st->text, st->len > 200 ? 200 : st->len);
	mig_fmt_duration(r->exec_ns - r->exec_ns % 1000000, waited, sizeof(waited));
	if (*attempts >= cfg->lock_retries)
	{
		snprintf(r->gave_up, sizeof(r->gave_up),
				 "Statement %s of %s (version %s) waited %s for %s; gave up after %lld %s (statement_lock_timeout %lldms).",
				 q.data ? q.data : "", f->name, f->version, waited, what.data ? what.data : "a lock",
				 (long long) *attempts, *attempts == 1 ? "retry" : "retries",
				 (long long) cfg->stmt_lock_timeout_ms);
		mig_buf_printf(&line, "    lock timeout: version %s, statement %s waited %s for %s; no retries left",
					   f->version, q.data ? q.data : "", waited, what.data ? what.data : "a lock");
		if (!line.oom)
			log_str(r, line.data, false);
		goto done;
	}
	(*attempts)++;
	r->res->lock_retries++;
	ms = retry_pause_ms(r, *attempts);
	mig_fmt_duration(ms * 1000000, pause, sizeof(pause));
	mig_buf_printf(&line, "    lock timeout (retry %lld of %lld): version %s, statement %s waited %s for %s; %s in %s",
				   (long long) *attempts, (long long) cfg->lock_retries, f->version,
				   q.data ? q.data : "", waited, what.data ? what.data : "a lock", again, pause);
	if (!line.oom)
		log_str(r, line.data, false);
	t0 = mig_now_ns();
	rc = pause_ms(r, ms);
	r->res->lock_pause_ns += mig_now_ns() - t0;
	if (rc == MIG_OK)
	{
		/* the attempt's error is gone with it */
		mig_err_clear(r->err);
		rc = 1;
	}
done:
	mig_buf_free(&what);
	mig_buf_free(&line);
	mig_buf_free(&q);
	return rc;
}

/* The retries are spent: the run's error says what it waited for, and what to do. */
static void
lock_gave_up_note(run *r)
{
	if (r->gave_up[0] == '\0')
		return;
	mig_err_detail(r->err, "%s", r->gave_up);
	mig_err_hint(r->err, "Other sessions held the lock through every attempt: let their transactions end (or end them), then apply again; or raise lock_retries or statement_lock_timeout.");
}

/* A copy of a statement list (the texts stay in the file's data). */
static int
stmts_copy(mig_stmts *dst, const mig_stmts *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src->n == 0)
		return MIG_OK;
	dst->v = mig_alloc(src->n * sizeof(mig_stmt));
	if (dst->v == NULL)
		return MIG_ENOMEM;
	memcpy(dst->v, src->v, src->n * sizeof(mig_stmt));
	dst->n = dst->cap = src->n;
	return MIG_OK;
}

/*
 * Tx mode all, after a rollback: forget the files of the attempt (their
 * statements back to their preps), so the next attempt starts over as the
 * first did.  The text log keeps what the attempt showed.
 */
static int
restart_all(run *r)
{
	mig_result *res = r->res;
	size_t		j;

	for (j = 0; j < res->napplied; j++)
	{
		mig_applied *a = &res->applied[j];

		mig_stmts_free(&a->stmts);
		mig_free(a->error_stmt);
		mig_free(a->error_text);
		if (stmts_copy(&r->preps[j].stmts, &r->saved[j]) != MIG_OK)
			return mig_err_set(r->err, MIG_ENOMEM, "out of memory");
	}
	mig_free(res->applied);
	res->applied = NULL;
	res->napplied = 0;
	res->files_ok = 0;
	return MIG_OK;
}

/* ---------------------------------------------------------------- pre-flight check (issue 15) */

/*
 * The host's check over every prepared file, right before the first file
 * runs (the lock is held: the sizes are current).  A dry run and a run with
 * preflight set log the findings; preflight refuses the run, before
 * anything ran, when a finding is at or above its severity.
 */
static int
preflight(run *r)
{
	const mig_run_cfg *cfg = r->cfg;
	mig_checks *c = &r->res->checks;
	mig_check_file *files;
	mig_buf		line,
				detail;
	size_t		i,
				nref;
	int			rc;

	files = mig_calloc(r->nprep ? r->nprep : 1, sizeof(*files));
	if (files == NULL)
		return mig_err_set(r->err, MIG_ENOMEM, "out of memory");
	for (i = 0; i < r->nprep; i++)
	{
		files[i].file = r->preps[i].file;
		files[i].stmts = &r->preps[i].stmts;
		files[i].mode = r->preps[i].mode;
	}
	rc = r->db->check(r->db, files, r->nprep, c, r->err);
	mig_free(files);
	if (rc != MIG_OK)
	{
		mig_err_prefix(r->err, "pre-flight check: ");
		return rc;
	}
	c->ran = true;

	mig_buf_init(&line);
	for (i = 0; i < c->n && !(r->hooks && r->hooks->check_only); i++)
	{
		if (c->v[i].severity == MIG_SEV_NONE)
			continue;
		mig_buf_reset(&line);
		mig_buf_puts(&line, "  -- preflight: ");
		mig_check_row_line(&c->v[i], &line);
		if (!line.oom)
			log_entry(r, line.data, line.len, false);
	}
	mig_buf_free(&line);

	if (cfg->check == MIG_SEV_NONE || (r->hooks && r->hooks->check_only) ||
		(nref = mig_checks_count(c, cfg->check)) == 0)
		return MIG_OK;
	rc = mig_err_set(r->err, MIG_ESTATE,
					 "pre-flight check refused the run: %zu finding%s at or above severity \"%s\"",
					 nref, nref > 1 ? "s" : "", mig_severity_name(cfg->check));
	mig_buf_init(&detail);
	for (i = 0; i < c->n; i++)
		if (c->v[i].severity >= cfg->check)
		{
			if (detail.len > 0)
				mig_buf_putc(&detail, '\n');
			mig_check_row_line(&c->v[i], &detail);
		}
	if (detail.data && !detail.oom)
		mig_err_detail(r->err, "%s", detail.data);
	mig_buf_free(&detail);
	mig_err_hint(r->err, "Nothing was applied. Change the migrations as advised, or run with a higher preflight level (or preflight 'off') to apply them as they are.");
	return rc;
}

/* ---------------------------------------------------------------- revision rows */

/* Parse the stored partial hashes (§f.4): JSON array of "h1:<b64>" strings. */
static int
parse_partial(const char *json, char (**out)[MIG_B64_SHA256], size_t *n)
{
	const char *p = json;
	size_t		cap = 0;

	*out = NULL;
	*n = 0;
	if (json == NULL)
		return MIG_OK;
	while ((p = strchr(p, '"')) != NULL)
	{
		const char *e = strchr(p + 1, '"');
		size_t		len;

		if (e == NULL)
			break;
		len = (size_t) (e - p - 1);
		if (*n == cap)
		{
			size_t		nc = cap ? cap * 2 : 16;
			char		(*v)[MIG_B64_SHA256] = mig_realloc(*out, nc * MIG_B64_SHA256);

			if (v == NULL)
				return MIG_ENOMEM;
			*out = v;
			cap = nc;
		}
		/* strip "h1:"; anything odd simply will not match */
		if (len >= 3 && strncmp(p + 1, "h1:", 3) == 0)
		{
			p += 3;
			len -= 3;
		}
		if (len >= MIG_B64_SHA256)
			len = MIG_B64_SHA256 - 1;
		memcpy((*out)[*n], p + 1, len);
		(*out)[*n][len] = '\0';
		(*n)++;
		p = e + 1;
	}
	return MIG_OK;
}

/* Set a row string member to a copy of s. */
static int
set_field(char **dst, const char *s, size_t n)
{
	char	   *c = mig_strndup(s, n);

	if (c == NULL)
		return MIG_ENOMEM;
	mig_free(*dst);
	*dst = c;
	return MIG_OK;
}

static int
write_row(run *r, const mig_rev *row)
{
	int			rc = r->db->write_revision(r->db, row, r->err);

	if (rc != MIG_OK)
		mig_err_prefix(r->err, "sql/migrate: write revision: ");
	return rc;
}

/* ---------------------------------------------------------------- one file (§g.4) */

/*
 * Tx mode none (§g.5, §f.4 step 4): the row after one more statement.
 * partial holds the partial hashes so far as an unterminated JSON array
 * ("[\"h1:..\",\"h1:..\"" or empty); the last statement's row is the
 * finished one of §f.4 step 5 (partial_hashes null).
 */
static int
advance_row(mig_rev *row, mig_sha256 *ph, mig_buf *partial, const mig_stmt *st,
			int64_t applied, bool last, int64_t t0)
{
	char		h[MIG_B64_SHA256];

	mig_sha256_update(ph, st->text, st->len);
	if (mig_sha256_peek_b64(ph, h) != MIG_OK)
		return MIG_ENOMEM;
	mig_buf_putc(partial, partial->len == 0 ? '[' : ',');
	mig_buf_printf(partial, "\"h1:%s\"]", h);
	if (partial->oom)
		return MIG_ENOMEM;
	if (last)
	{
		if (set_field(&row->partial_hashes, "null", 4) != MIG_OK)
			return MIG_ENOMEM;
	}
	else if (set_field(&row->partial_hashes, partial->data, partial->len) != MIG_OK)
		return MIG_ENOMEM;
	partial->data[--partial->len] = '\0';	/* drop the "]" again */
	row->applied = applied;
	if (row->error[0] && (set_field(&row->error, "", 0) || set_field(&row->error_stmt, "", 0)))
		return MIG_ENOMEM;
	row->execution_time = mig_now_ns() - t0;
	return MIG_OK;
}

/*
 * Put the row back to what is committed: `applied` statements, whose
 * partial hashes are the first plen bytes of partial (§f.4).
 */
static int
row_committed(mig_rev *row, mig_buf *partial, int64_t applied, size_t plen)
{
	int			rc;

	row->applied = applied;
	if (plen == 0)
		return set_field(&row->partial_hashes, "null", 4);
	partial->len = plen;
	if (mig_buf_putc(partial, ']') != MIG_OK)
		return MIG_ENOMEM;
	rc = set_field(&row->partial_hashes, partial->data, partial->len);
	partial->data[--partial->len] = '\0';
	return rc;
}

/* Is a transaction open that a tx mode none file began itself? */
static bool
file_tx_open(run *r)
{
	return !r->in_tx && r->db->tx_open != NULL && r->db->tx_open(r->db);
}

/* COMMIT or END: ends the transaction a file opened (DESIGN §6.7). */
static bool
ends_file_tx(const mig_stmt *st)
{
	return word_at(st->text, st->len, "COMMIT") || word_at(st->text, st->len, "END");
}

/* What the steps of one file's execution share (exec_file). */
typedef struct file_run {
	prep	   *p;
	const mig_file *f;
	bool		own_tx;			/* tx mode file: a transaction of its own */
	bool		per_stmt_rows;	/* tx mode none: a row with each statement */
	bool		self_tx;		/* the file has its own BEGIN/COMMIT */
	bool		final_written;	/* tx mode none: the finished row is written */
	mig_rev		row;			/* the file's revision row as it stands */
	mig_rev		start_row;		/* the row before the file ran */
	mig_sha256	ph;				/* the partial hashes (§f.4) */
	mig_buf		partial;		/* their JSON array so far, unterminated */
	size_t		k;				/* statements applied before: skipped */
	size_t		nsend;			/* statements sent: k.. */
	int64_t		t0;
	int64_t		committed_applied;	/* tx mode none: the row as committed */
	size_t		committed_plen;
	const mig_stmt *opened_by;	/* the statement that opened the file's
								 * transaction */
	int64_t		attempts;		/* lock retries of the file (none: of the
								 * statement) */
	mig_applied *a;				/* the file's entry in the result, once it
								 * started */
} file_run;

/* §f.4 step 1: the file's row: the stored one (a failed attempt's too), else a new one. */
static int
file_row(run *r, file_run *fr)
{
	const mig_file *f = fr->f;
	mig_rev    *row = &fr->row;
	const mig_revs *rs = &r->revs;
	long		ri = mig_revs_find(rs, f->version);

	if (ri < 0 && (ri = mig_revs_find(&r->failed, f->version)) >= 0)
		rs = &r->failed;
	if (ri >= 0)
	{
		if (mig_rev_copy(row, &rs->v[ri]) != MIG_OK)
			return no_memory(r);
		fr->k = row->applied > 0 ? (size_t) row->applied : 0;
	}
	else
	{
		row->type = MIG_REV_EXECUTED;
		if (set_field(&row->version, f->version, strlen(f->version)) ||
			set_field(&row->description, f->desc, strlen(f->desc)) ||
			set_field(&row->error, "", 0) || set_field(&row->error_stmt, "", 0) ||
			set_field(&row->partial_hashes, "null", 4))
			return no_memory(r);
	}
	row->total = (int64_t) fr->p->stmts.n;	/* DESIGN §6.4 */
	if (set_field(&row->hash, f->hash, strlen(f->hash)) ||
		set_field(&row->operator_version, MIG_OPERATOR_VERSION, strlen(MIG_OPERATOR_VERSION)))
		return no_memory(r);
	if (row->partial_hashes == NULL && set_field(&row->partial_hashes, "null", 4))
		return no_memory(r);
	if (row->error == NULL && set_field(&row->error, "", 0))
		return no_memory(r);
	if (row->error_stmt == NULL && set_field(&row->error_stmt, "", 0))
		return no_memory(r);
	fr->t0 = mig_now_ns();
	row->executed_at_ns = fr->t0;
	return MIG_OK;
}

/*
 * §g.4 step 4: the resume check: the first k statements must hash as the
 * row's partial hashes say.  Leaves their hashes in fr->partial, and the
 * digest running for tx mode none.
 */
static int
resume_check(run *r, file_run *fr)
{
	const mig_stmts *stmts = &fr->p->stmts;
	char		(*stored)[MIG_B64_SHA256] = NULL;
	size_t		nstored = 0,
				i;
	int			rc = MIG_OK;

	if ((fr->k > 0 || fr->per_stmt_rows) && mig_sha256_init(&fr->ph) != MIG_OK)
		return no_memory(r);
	if (fr->k == 0)
		return MIG_OK;
	if (parse_partial(fr->row.partial_hashes, &stored, &nstored) != MIG_OK)
	{
		rc = no_memory(r);
		goto done;
	}
	mig_buf_putc(&fr->partial, '[');
	for (i = 0; i < fr->k; i++)
	{
		char		h[MIG_B64_SHA256];

		if (i >= stmts->n || i >= nstored)
		{
			rc = mig_err_set(r->err, MIG_EHISTORY,
							 "sql/migrate: history changed: statement %zu from file \"%.200s\" changed",
							 i + 1, fr->f->name);
			goto done;
		}
		mig_sha256_update(&fr->ph, stmts->v[i].text, stmts->v[i].len);
		if (mig_sha256_peek_b64(&fr->ph, h) != MIG_OK)
		{
			rc = no_memory(r);
			goto done;
		}
		if (strcmp(h, stored[i]) != 0)
		{
			rc = mig_err_set(r->err, MIG_EHISTORY,
							 "sql/migrate: history changed: statement %zu from file \"%.200s\" changed",
							 i + 1, fr->f->name);
			mig_err_hint(r->err, "Statements that were already applied must not change; edit only the failed statement and the ones after it.");
			goto done;
		}
		mig_buf_printf(&fr->partial, "%s\"h1:%s\"", i ? "," : "", h);
	}
done:
	mig_free(stored);
	return rc;
}

/* The file starts: the row as it was, its entry in the result, its log line. */
static int
file_start(run *r, file_run *fr)
{
	prep	   *p = fr->p;
	mig_result *res = r->res;
	mig_applied *a;
	size_t		i;
	char		line[512];

	if (mig_rev_copy(&fr->start_row, &fr->row) != MIG_OK)
		return no_memory(r);
	fr->committed_applied = (int64_t) fr->k;
	fr->committed_plen = fr->partial.len;
	/* a file that manages its own transactions runs as written (DESIGN §6.7) */
	for (i = 0; fr->per_stmt_rows && i < p->stmts.n && !fr->self_tx; i++)
		fr->self_tx = is_tx_control(&p->stmts.v[i]);

	if (res->napplied == 0)
		res->applied = mig_calloc(r->nprep, sizeof(mig_applied));
	if (res->applied == NULL)
		return no_memory(r);
	a = fr->a = &res->applied[res->napplied++];
	a->file = fr->f;
	a->start_ns = fr->t0;
	a->skipped = (int64_t) fr->k;
	/* the statements sent: k.. (the array is the file's; shifted down) */
	a->stmts = p->stmts;
	memset(&p->stmts, 0, sizeof(p->stmts));
	if (fr->k > 0)
	{
		memmove(a->stmts.v, a->stmts.v + fr->k, (a->stmts.n - fr->k) * sizeof(mig_stmt));
		a->stmts.n -= fr->k;
	}
	fr->nsend = a->stmts.n;
	snprintf(line, sizeof(line), "  -- migrating version %s", fr->f->version);
	log_str(r, line, true);
	return MIG_OK;
}

/* MIG_EINTR (err says so) when the host wants the run stopped. */
static int
check_interrupt(run *r)
{
	if (r->db->interrupted && r->db->interrupted(r->db))
		return mig_err_set(r->err, MIG_EINTR, "canceling migration on request");
	return MIG_OK;
}

/*
 * Send one statement to the database (not on a dry run).  When db->exec
 * fails, *exec_failed and r->exec_ns (how long it ran) say so, for the lock
 * retries.
 */
static int
send_stmt(run *r, const mig_stmt *st, bool *exec_failed)
{
	int64_t		x0;
	int			rc;

	if (r->cfg->dry_run)
		return MIG_OK;
	x0 = mig_now_ns();
	if ((rc = r->db->exec(r->db, st->text, st->len, r->err)) != MIG_OK)
	{
		*exec_failed = true;
		r->exec_ns = mig_now_ns() - x0;
	}
	return rc;
}

/*
 * The file failed (a statement, or its transaction left open): undo it and
 * leave the row §g.5 asks for.  Returns rc, or MIG_ENOMEM.
 */
static int
file_failed(run *r, file_run *fr, int rc)
{
	mig_db	   *db = r->db;
	const mig_file *f = fr->f;
	mig_err		werr;

	fr->a->end_ns = mig_now_ns();
	fr->row.execution_time = fr->a->end_ns - fr->t0;
	if (r->cfg->dry_run)
		return rc;
	mig_err_clear(&werr);
	if (fr->p->mode == MIG_TX_NONE)
	{
		/* §g.5 none: the row keeps what was applied, and the error */
		/* the statement's own transaction, or one the file opened, is undone */
		if (r->in_tx || file_tx_open(r))
			db->rollback(db, &werr);
		r->in_tx = false;
		if (row_committed(&fr->row, &fr->partial, fr->committed_applied,
						  fr->committed_plen) != MIG_OK)
			return no_memory(r);
		mig_err_clear(&werr);
		/* a failing write must not hide the statement's error */
		db->write_revision(db, &fr->row, &werr);
		if (r->max_version == NULL || strcmp(f->version, r->max_version) > 0)
			r->max_version = f->version;
		if (fr->row.applied > 0 && (r->reached == NULL || strcmp(f->version, r->reached) > 0))
			r->reached = f->version;
	}
	else if (fr->p->mode == MIG_TX_FILE)
	{
		if (r->in_tx)
		{
			db->rollback(db, &werr);
			r->in_tx = false;
		}
		if (r->max_version == NULL || strcmp(f->version, r->max_version) >= 0)
		{
			/* the newest: the error row, in autocommit: what was applied before + the error */
			if (set_field(&fr->start_row.error, fr->row.error, strlen(fr->row.error)) ||
				set_field(&fr->start_row.error_stmt, fr->row.error_stmt, strlen(fr->row.error_stmt)))
				return no_memory(r);
			fr->start_row.execution_time = fr->row.execution_time;
			mig_err_clear(&werr);
			if (db->write_revision(db, &fr->start_row, &werr) == MIG_OK)
				r->max_version = f->version;
		}
	}
	/* tx mode all: the caller rolls back everything; no row */
	return rc;
}

/*
 * The file stopped outside a statement (a row it could not write, a begin
 * or commit that failed, the file_done hook): undo what is open.  Returns rc.
 */
static int
file_abandon(run *r, file_run *fr, int rc)
{
	fr->a->end_ns = mig_now_ns();
	if (r->in_tx || (fr->p->mode == MIG_TX_NONE && file_tx_open(r)))
	{
		mig_err		rerr;

		r->db->rollback(r->db, &rerr);
		r->in_tx = false;
	}
	return rc;
}

/*
 * Statement i failed with rc (r->err): the file's entry, the log and the
 * row record it, the error gets the wording of §g.4 step 6, and the file is
 * undone (file_failed).
 */
static int
stmt_failed(run *r, file_run *fr, size_t i, int rc)
{
	mig_applied *a = fr->a;
	const mig_stmt *st = &a->stmts.v[i];
	char		dbmsg[MIG_ERR_MSG];
	char		state[6];
	mig_buf		q;

	a->stmts.n = i + 1;
	memcpy(dbmsg, r->err->msg, sizeof(dbmsg));
	a->error_text = mig_strdup(dbmsg);
	a->error_stmt = mig_strndup(st->text, st->len);
	log_failed_stmt(r, st);
	log_error_line(r, dbmsg);
	/* the row records the failure (§f.4 step 4) */
	if (set_field(&fr->row.error, dbmsg, strlen(dbmsg)) ||
		set_field(&fr->row.error_stmt, st->text, st->len))
		return no_memory(r);
	/* §g.4 step 6 wording */
	mig_buf_init(&q);
	mig_buf_goquote(&q, st->text, st->len > 1000 ? 1000 : st->len);
	memcpy(state, r->err->sqlstate, sizeof(state));
	mig_err_set(r->err, rc, "sql/migrate: executing statement %s from version \"%.200s\": %s",
				q.data ? q.data : "", fr->f->version, dbmsg);
	memcpy(r->err->sqlstate, state, sizeof(state));
	lock_gave_up_note(r);
	mig_buf_free(&q);
	return file_failed(r, fr, rc);
}

/*
 * Tx modes file and all, and dry runs: run statement i.  1: a lock timeout
 * rolled a tx mode file file back, and it runs again (issue 11).
 */
static int
tx_stmt(run *r, file_run *fr, size_t i)
{
	const mig_stmt *st = &fr->a->stmts.v[i];
	bool		exec_failed = false;
	int			rc,
				lr;

	log_stmt(r, st);
	if ((rc = check_interrupt(r)) == MIG_OK)
		rc = send_stmt(r, st, &exec_failed);
	r->exec_failed = exec_failed;
	if (rc == MIG_OK)
		return MIG_OK;
	if (exec_failed && fr->own_tx)
	{
		/* issue 11, tx mode file: roll the file back, run it again */
		mig_err		rerr;

		mig_err_clear(&rerr);
		if (r->in_tx)
			r->db->rollback(r->db, &rerr);
		r->in_tx = false;
		if ((lr = lock_retry(r, fr->f, st, &fr->attempts, "rolled back the file, which runs again")) > 0)
			return 1;
		if (lr < 0)
			rc = lr;
	}
	else if (exec_failed)
		r->failed_stmt = *st;	/* tx mode all: mig_apply_ex decides */
	return stmt_failed(r, fr, i, rc);
}

/*
 * Tx modes file and all, and every dry run (§g.4 step 5): the statements in
 * order, in tx mode file inside a transaction of the file's own.
 */
static int
tx_stmts(run *r, file_run *fr)
{
	mig_db	   *db = r->db;
	size_t		i;
	int			rc;

	do
	{
		if (fr->own_tx)
		{
			if ((rc = db->begin(db, r->err)) != MIG_OK)
			{
				fr->a->stmts.n = 0;
				return rc;
			}
			r->in_tx = true;
		}
		rc = MIG_OK;
		for (i = 0; i < fr->nsend && rc == MIG_OK; i++)
			rc = tx_stmt(r, fr, i);
	} while (rc == 1);			/* a lock timeout: the file again */
	return rc;
}

/* Tx mode none: the row after statement i, written (§f.4 step 4). */
static int
write_stmt_row(run *r, file_run *fr, size_t i)
{
	int			rc;

	if (advance_row(&fr->row, &fr->ph, &fr->partial, &fr->a->stmts.v[i],
					(int64_t) (fr->k + i + 1), i + 1 == fr->nsend, fr->t0) != MIG_OK)
		return no_memory(r);
	if ((rc = write_row(r, &fr->row)) != MIG_OK)
	{
		fr->a->stmts.n = i + 1;
		return file_abandon(r, fr, rc);
	}
	return MIG_OK;
}

/*
 * Tx mode none (§g.5): one attempt at statement i, with its row.  1: a
 * lock timeout rolled the statement back and it runs again (issue 11).
 * *row_first: the row went first, into the COMMIT that ends the file's own
 * transaction.
 */
static int
none_stmt(run *r, file_run *fr, size_t i, bool *row_first)
{
	mig_db	   *db = r->db;
	const mig_stmt *st = &fr->a->stmts.v[i];
	bool		opened = false,
				exec_failed = false;
	int			rc,
				lr;

	rc = check_interrupt(r);
	if (rc == MIG_OK && !fr->self_tx)
	{
		/* §g.5 none: the statement and its row commit together */
		if (db->begin_stmt)
			rc = db->begin_stmt(db, st->text, st->len, &opened, r->err);
		else if ((rc = db->begin(db, r->err)) == MIG_OK)
			opened = true;
		if (rc != MIG_OK)
		{
			fr->a->stmts.n = i + 1;
			return file_abandon(r, fr, rc);
		}
		r->in_tx = opened;
	}
	else if (rc == MIG_OK && ends_file_tx(st) && file_tx_open(r))
	{
		/* the file's own COMMIT: its row goes into what it commits */
		*row_first = true;
		if ((rc = write_stmt_row(r, fr, i)) != MIG_OK)
			return rc;
	}
	if (rc == MIG_OK)
		rc = send_stmt(r, st, &exec_failed);
	r->exec_failed = exec_failed;
	if (rc == MIG_OK && !*row_first)
	{
		if ((rc = write_stmt_row(r, fr, i)) != MIG_OK)
			return rc;
		/* a failing commit (a deferred constraint) is the statement's failure */
		if (opened && (rc = db->commit(db, r->err)) == MIG_OK)
			r->in_tx = false;
	}
	if (rc == MIG_OK)
	{
		if (i + 1 == fr->nsend)
			fr->final_written = true;
		if (!file_tx_open(r))
		{
			fr->committed_applied = (int64_t) (fr->k + i + 1);
			fr->committed_plen = fr->partial.len;
			fr->opened_by = NULL;
		}
		else if (fr->opened_by == NULL)
			fr->opened_by = st;
		fr->attempts = 0;
		return MIG_OK;
	}
	if (exec_failed)
	{
		/* the statement again, unless a file's own transaction is open */
		mig_err		rerr;

		mig_err_clear(&rerr);
		if (opened && r->in_tx)
		{
			db->rollback(db, &rerr);
			r->in_tx = false;
		}
		if (!file_tx_open(r))
		{
			if ((lr = lock_retry(r, fr->f, st, &fr->attempts, "the statement runs again")) > 0)
				return 1;
			if (lr < 0)
				rc = lr;
		}
	}
	return stmt_failed(r, fr, i, rc);
}

/*
 * Tx mode none: a transaction the file opened is still open at its end:
 * never success without the work (DESIGN §6.7).  Fails the file.
 */
static int
left_open(run *r, file_run *fr)
{
	static const char msg[] = "transaction left open at the end of the file; rolled back";
	mig_applied *a = fr->a;
	const mig_stmt *st = fr->opened_by ? fr->opened_by : &a->stmts.v[fr->nsend - 1];
	mig_buf		q;
	int			rc;

	mig_buf_init(&q);
	mig_buf_goquote(&q, st->text, st->len > 200 ? 200 : st->len);
	rc = mig_err_set(r->err, MIG_EDB,
					 "migration file \"%.200s\" left the transaction it opened (statement %s) open at its end; it was rolled back",
					 fr->f->name, q.data ? q.data : "");
	mig_buf_free(&q);
	strcpy(r->err->sqlstate, "25001");
	mig_err_hint(r->err, "End the transaction in the file with COMMIT, or remove its BEGIN.");
	a->error_text = mig_strdup(msg);
	a->error_stmt = mig_strndup(st->text, st->len);
	if (a->error_text)
		log_error_line(r, a->error_text);
	if (set_field(&fr->row.error, msg, strlen(msg)) ||
		set_field(&fr->row.error_stmt, st->text, st->len))
		return no_memory(r);
	return file_failed(r, fr, rc);
}

/*
 * Tx mode none (§g.5, §f.4 step 4): the row first, then each statement
 * with its row.
 */
static int
none_stmts(run *r, file_run *fr)
{
	size_t		i;
	int			rc;

	if ((rc = write_row(r, &fr->row)) != MIG_OK)
	{
		fr->a->stmts.n = 0;
		return rc;
	}
	for (i = 0; i < fr->nsend; i++)
	{
		bool		row_first = false;

		log_stmt(r, &fr->a->stmts.v[i]);
		do
			rc = none_stmt(r, fr, i, &row_first);
		while (rc == 1);		/* a lock timeout: the statement again */
		if (rc != MIG_OK)
			return rc;
	}
	if (fr->self_tx && file_tx_open(r))
		return left_open(r, fr);
	return MIG_OK;
}

/*
 * §f.4 step 5: the file is complete: the finished row, the file_done hook,
 * the commit (tx mode file), the versions reached, the log's "ok".
 */
static int
file_complete(run *r, file_run *fr)
{
	mig_result *res = r->res;
	const mig_file *f = fr->f;
	const bool	dry = r->cfg->dry_run;
	int			rc;
	char		line[512],
				dur[64];

	fr->row.applied = fr->row.total;
	if (set_field(&fr->row.partial_hashes, "null", 4) || set_field(&fr->row.error, "", 0) ||
		set_field(&fr->row.error_stmt, "", 0))
		return no_memory(r);
	fr->row.execution_time = mig_now_ns() - fr->t0;
	if (!dry && !fr->final_written && (rc = write_row(r, &fr->row)) != MIG_OK)
		return file_abandon(r, fr, rc);
	if (!dry && r->hooks && r->hooks->file_done)
	{
		const char *reached = f->version;

		if (r->max_version && strcmp(r->max_version, reached) > 0)
			reached = r->max_version;
		if ((rc = r->hooks->file_done(r->hooks->arg, res, res->files_ok + 1, reached,
									  r->err)) != MIG_OK)
			return file_abandon(r, fr, rc);
	}
	if (fr->own_tx)
	{
		rc = r->db->commit(r->db, r->err);
		r->in_tx = false;
		if (rc != MIG_OK)
			return file_abandon(r, fr, rc);
	}
	if (fr->p->mode != MIG_TX_ALL || dry)
	{
		if (r->max_version == NULL || strcmp(f->version, r->max_version) > 0)
			r->max_version = f->version;
		if (r->reached == NULL || strcmp(f->version, r->reached) > 0)
			r->reached = f->version;
	}
	fr->a->end_ns = mig_now_ns();
	res->files_ok++;
	mig_fmt_duration(fr->a->end_ns - fr->a->start_ns, dur, sizeof(dur));
	snprintf(line, sizeof(line), "  -- ok (%s)", dur);
	log_str(r, line, false);
	return MIG_OK;
}

/*
 * Execute one pending file (§g.4, §g.5).  Returns MIG_OK, or the error with
 * the statement's failure recorded in the applied entry.
 */
static int
exec_file(run *r, prep *p)
{
	file_run	fr;
	mig_applied *a;
	int			rc;

	memset(&fr, 0, sizeof(fr));
	fr.p = p;
	fr.f = p->file;
	fr.own_tx = !r->cfg->dry_run && p->mode == MIG_TX_FILE;
	fr.per_stmt_rows = !r->cfg->dry_run && p->mode == MIG_TX_NONE;
	mig_buf_init(&fr.partial);

	if ((rc = file_row(r, &fr)) == MIG_OK &&
		(rc = resume_check(r, &fr)) == MIG_OK &&
		(rc = file_start(r, &fr)) == MIG_OK)
	{
		rc = fr.per_stmt_rows ? none_stmts(r, &fr) : tx_stmts(r, &fr);
		if (rc == MIG_OK)
			rc = file_complete(r, &fr);
	}

	/* a file that started and failed outside a statement shows as failed */
	a = fr.a;
	if (rc != MIG_OK && a != NULL && a->error_text == NULL)
	{
		a->error_text = mig_strdup(r->err->msg);
		if (a->end_ns == 0)
			a->end_ns = mig_now_ns();
		if (a->error_text)
			log_error_line(r, a->error_text);
	}
	mig_sha256_free(&fr.ph);
	mig_buf_free(&fr.partial);
	mig_rev_free(&fr.row);
	mig_rev_free(&fr.start_row);
	return rc;
}

/* ---------------------------------------------------------------- the run (§g.1) */

/*
 * Move the rows of failed attempts that applied nothing (applied = 0 with an
 * error, the rows tx mode file leaves) out of the history: for planning they
 * are as if absent, as in Atlas, whose rollback leaves no row.  So a file
 * that failed can be fixed, or deleted, and the next run goes on; the row
 * is still there for status and is reused when the file runs again.
 */
static int
split_failed(run *r)
{
	size_t		i,
				keep = 0;

	for (i = 0; i < r->revs.n; i++)
	{
		mig_rev    *v = &r->revs.v[i];

		if (mig_rev_failed_attempt(v))
		{
			if (mig_revs_push(&r->failed, v) != MIG_OK)
				return mig_err_set(r->err, MIG_ENOMEM, "out of memory");
			mig_rev_free(v);
		}
		else
			r->revs.v[keep++] = *v;
	}
	r->revs.n = keep;
	return MIG_OK;
}

/* Pending files after baseline/checkpoints/order, to_version and amount. */
static int
compute_pending(run *r, mig_plan *plan)
{
	const mig_dir *dir = r->dir;
	const mig_run_cfg *cfg = r->cfg;
	const mig_file *files = dir->files;
	size_t		n = dir->nfiles;
	size_t		tidx = 0;
	int			rc;

	if (cfg->to_version)
	{
		size_t		i;

		if ((rc = mig_plan_find_target(files, n, cfg->to_version, &tidx, r->err)) != MIG_OK)
			return rc;
		/* §g.7 step 2: a checkpoint after the target cuts the directory */
		for (i = tidx + 1; i < n; i++)
			if (files[i].checkpoint)
			{
				n = tidx + 1;
				break;
			}
	}

	if (r->revs.n == 0)
	{
		const mig_file *base = NULL;

		if (r->db->check_clean && !cfg->baseline && !cfg->allow_dirty)
		{
			bool		clean = true;
			char		reason[512] = "";

			if ((rc = r->db->check_clean(r->db, &clean, reason, sizeof(reason), r->err)) != MIG_OK)
				return rc;
			if (!clean)
			{
				rc = mig_err_set(r->err, MIG_EHISTORY,
								 "sql/migrate: connected database is not clean: %s. baseline version or allow-dirty is required",
								 reason);
				mig_err_hint(r->err, "Pass baseline => '<version>' to mark the existing schema as that version, or allow_dirty => true.");
				return rc;
			}
		}
		if ((rc = mig_plan_fresh(files, n, cfg->baseline, &base, plan, r->err)) != MIG_OK)
			return rc;
		if (base)
		{
			/* §f.4 baseline row; dry run writes nothing (DESIGN §6.12) */
			mig_rev		b;

			memset(&b, 0, sizeof(b));
			b.version = (char *) base->version;
			b.description = (char *) base->desc;
			b.type = MIG_REV_BASELINE;
			b.executed_at_ns = mig_now_ns();
			b.error = "";
			b.error_stmt = "";
			b.hash = "";
			b.partial_hashes = "null";
			b.operator_version = MIG_OPERATOR_VERSION;
			if (!cfg->dry_run && (rc = write_row(r, &b)) != MIG_OK)
				return rc;
			if (mig_revs_push(&r->revs, &b) != MIG_OK)
				return mig_err_set(r->err, MIG_ENOMEM, "out of memory");
		}
	}
	else if ((rc = mig_plan_pending(files, n, &r->revs, cfg->exec_order, plan, r->err)) != MIG_OK)
		return rc;

	if (cfg->to_version && n == dir->nfiles)
	{
		/* §g.7 step 3: cut after the target, which must be pending */
		size_t		i;
		bool		found = false;

		for (i = 0; i < plan->n; i++)
			if (plan->v[i] == &files[tidx])
			{
				plan->n = i + 1;
				found = true;
				break;
			}
		if (!found && plan->n > 0)
			return mig_err_set(r->err, MIG_ENOTFOUND,
							   "sql/migrate: migration with version \"%.200s\" not found", cfg->to_version);
	}
	if (cfg->has_amount && (int64_t) plan->n > cfg->amount)
		plan->n = (size_t) cfg->amount;
	return MIG_OK;
}

/*
 * The run failed after its header: roll back what is open, record the
 * error, write the footer (errors outside a file are shown only when no
 * file started, §h.2).  Returns rc.
 */
static int
run_failed(run *r, int rc)
{
	if (r->in_tx)
	{
		mig_err		rerr;

		mig_err_clear(&rerr);
		r->db->rollback(r->db, &rerr);
		r->in_tx = false;
	}
	fail(r, rc);
	r->res->end_ns = mig_now_ns();
	log_footer(r, true);
	return rc;
}

/* §g.1 steps 5 to 8: the lock, the revisions table, the cloud's identifier row, the history. */
static int
run_open(run *r)
{
	mig_db	   *db = r->db;
	const mig_run_cfg *cfg = r->cfg;
	int			rc;

	/* §g.1 step 5: the lock (run.c takes it before the engine starts) */
	if (!(r->hooks && r->hooks->lock_held))
	{
		if ((rc = db->lock(db, cfg->lock_timeout_ms, r->err)) != MIG_OK)
		{
			mig_err_prefix(r->err, "acquiring database lock: ");
			return rc;
		}
		r->locked = true;
	}

	/* step 7: the revisions table (not on dry run, DESIGN §6.12) */
	if (!cfg->dry_run && (rc = db->init_revisions(db, cfg->revisions_schema, r->err)) != MIG_OK)
		return rc;
	/* step 8: the identifier row when reporting to the cloud (§f.5) */
	if (!cfg->dry_run && cfg->cloud && cfg->cloud_dir && db->target_id &&
		(rc = db->target_id(db, r->res->target_id, r->err)) != MIG_OK)
		return rc;
	r->res->start_ns = mig_now_ns();

	if ((rc = db->read_revisions(db, cfg->revisions_schema, &r->revs, r->err)) != MIG_OK)
		return rc;
	return split_failed(r);
}

/*
 * §g.1 steps 9 and 10: the pending files, into the result, and the current
 * version; with nothing pending the run ends here (status
 * MIG_RUN_NOTHING).  A failure here prints no log (§h.2).
 */
static int
run_plan(run *r)
{
	mig_result *res = r->res;
	mig_plan	plan = {0};
	size_t		i;
	int			rc;

	/* step 9: pending files */
	if ((rc = compute_pending(r, &plan)) != MIG_OK)
		goto done;
	/* the current version: the greatest revision, a new baseline row included */
	for (i = 0; i < r->revs.n; i++)
		if (r->max_version == NULL || strcmp(r->revs.v[i].version, r->max_version) > 0)
			r->max_version = r->revs.v[i].version;
	if (r->max_version && (res->current = mig_strdup(r->max_version)) == NULL)
	{
		rc = no_memory(r);
		goto done;
	}
	r->reached = r->max_version;

	/* step 10: nothing to do */
	if (plan.n == 0)
	{
		log_str(r, "No migration files to execute", false);
		res->status = MIG_RUN_NOTHING;
		res->end_ns = mig_now_ns();
		goto done;
	}
	res->pending = (const mig_file **) plan.v;
	res->npending = plan.n;
	memset(&plan, 0, sizeof(plan));
	res->target = mig_strdup(res->pending[res->npending - 1]->version);
	if (res->target == NULL)
		rc = no_memory(r);
done:
	mig_plan_free(&plan);
	return rc;
}

/*
 * §g.1 step 12: the header, then every file checked before anything runs,
 * then the pre-flight check, where the run runs and with its lock held.
 */
static int
run_checks(run *r)
{
	const mig_run_cfg *cfg = r->cfg;
	int			rc;

	log_header(r);
	if ((rc = prepare(r)) != MIG_OK)
		return run_failed(r, rc);
	if (r->db->check && (cfg->dry_run || cfg->check != MIG_SEV_NONE ||
						 (r->hooks && r->hooks->check_only)) &&
		(rc = preflight(r)) != MIG_OK)
		return run_failed(r, rc);
	return MIG_OK;
}

/* Tx mode all with lock retries: a retry runs every file again, so keep their statements. */
static int
save_stmts(run *r)
{
	size_t		i;

	r->saved = mig_calloc(r->nprep ? r->nprep : 1, sizeof(mig_stmts));
	if (r->saved == NULL)
		return no_memory(r);
	for (i = 0; i < r->nprep; i++)
		if (stmts_copy(&r->saved[i], &r->preps[i].stmts) != MIG_OK)
			return no_memory(r);
	return MIG_OK;
}

/*
 * Tx mode all, a file failed with rc in a statement (issue 11): roll back
 * every file; when the statement gave up waiting for a lock with retries
 * left, begin again and return 1: every file runs again.  Else the run's
 * error.
 */
static int
retry_all(run *r, int rc, int64_t *attempts)
{
	mig_db	   *db = r->db;
	mig_err		rerr;
	int			lr;

	mig_err_clear(&rerr);
	db->rollback(db, &rerr);
	r->in_tx = false;
	lr = lock_retry(r, r->res->applied[r->res->napplied - 1].file, &r->failed_stmt,
					attempts, "rolled back the transaction of all files, which run again");
	if (lr < 0)
		return lr;
	if (lr == 0)
	{
		lock_gave_up_note(r);
		return rc;
	}
	if ((rc = restart_all(r)) != MIG_OK)
		return rc;
	if ((rc = db->begin(db, r->err)) != MIG_OK)
		return rc;
	r->in_tx = true;
	return 1;
}

/* Every prepared file in order, from the first again when retry_all says so. */
static int
exec_files(run *r)
{
	int64_t		all_attempts = 0;	/* tx mode all: lock retries of the run */
	size_t		i;
	int			rc;

	for (i = 0; i < r->nprep; i++)
	{
		if ((rc = exec_file(r, &r->preps[i])) == MIG_OK)
			continue;
		/* issue 11, tx mode all: roll everything back, run every file again */
		if (!(r->saved && r->in_tx && r->exec_failed))
			return rc;
		if ((rc = retry_all(r, rc, &all_attempts)) != 1)
			return rc;
		i = (size_t) -1;		/* from the first file again */
	}
	return MIG_OK;
}

/* Tx mode all: commit; now every file is applied. */
static int
commit_all(run *r)
{
	mig_result *res = r->res;
	size_t		i;
	int			rc;

	if (!r->in_tx)
		return MIG_OK;
	r->in_tx = false;
	if ((rc = r->db->commit(r->db, r->err)) != MIG_OK)
		return rc;
	/* tx all: now everything is committed */
	for (i = 0; i < res->napplied; i++)
		if (r->max_version == NULL || strcmp(res->applied[i].file->version, r->max_version) > 0)
			r->max_version = res->applied[i].file->version;
	r->reached = r->max_version;
	return MIG_OK;
}

/* §g.1 step 13: execute every file, then the footer. */
static int
run_exec(run *r)
{
	mig_db	   *db = r->db;
	const mig_run_cfg *cfg = r->cfg;
	int			rc;

	if (cfg->stmt_lock_timeout_ms > 0 && !cfg->dry_run)
	{
		/* issue 11: each statement waits at most this long for a lock */
		if (db->set_stmt_lock_timeout &&
			(rc = db->set_stmt_lock_timeout(db, cfg->stmt_lock_timeout_ms, r->err)) != MIG_OK)
			return run_failed(r, rc);
		r->rng = (uint64_t) mig_now_ns() | 1;
		if (cfg->tx_mode == MIG_TX_ALL && (rc = save_stmts(r)) != MIG_OK)
			return rc;
	}
	if (cfg->tx_mode == MIG_TX_ALL && !cfg->dry_run)
	{
		if ((rc = db->begin(db, r->err)) != MIG_OK)
			return run_failed(r, rc);
		r->in_tx = true;
	}
	if ((rc = exec_files(r)) != MIG_OK || (rc = commit_all(r)) != MIG_OK)
		return run_failed(r, rc);
	r->res->status = MIG_RUN_SUCCEEDED;
	r->res->end_ns = mig_now_ns();
	log_footer(r, false);
	return MIG_OK;
}

/*
 * The end of every run: the result's versions, the statement lock timeout
 * reset, the lock released (its failure is the run's error when there was
 * none), the run's memory freed.
 */
static int
run_close(run *r, int rc)
{
	mig_db	   *db = r->db;
	const mig_run_cfg *cfg = r->cfg;
	mig_result *res = r->res;
	size_t		i;

	if (rc != MIG_OK)
		fail(r, rc);
	if (res->end_ns == 0)
		res->end_ns = mig_now_ns();
	if (r->max_version && res->current_after == NULL)
		res->current_after = mig_strdup(r->max_version);
	if (r->reached && res->reached == NULL)
		res->reached = mig_strdup(r->reached);
	if (cfg->stmt_lock_timeout_ms > 0 && !cfg->dry_run && db->set_stmt_lock_timeout)
	{
		mig_err		terr;

		mig_err_clear(&terr);
		db->set_stmt_lock_timeout(db, 0, &terr);
	}
	if (r->locked)
	{
		mig_err		uerr;

		mig_err_clear(&uerr);
		if (db->unlock(db, &uerr) != MIG_OK && rc == MIG_OK)
		{
			*r->err = uerr;
			rc = fail(r, uerr.code);
		}
	}
	for (i = 0; i < r->nprep; i++)
	{
		mig_stmts_free(&r->preps[i].stmts);
		if (r->saved)
			mig_stmts_free(&r->saved[i]);
	}
	mig_free(r->preps);
	mig_free(r->saved);
	mig_revs_free(&r->revs);
	mig_revs_free(&r->failed);
	mig_buf_free(&r->line);
	return rc;
}

int
mig_apply(mig_db *db, const mig_dir *dir, const mig_run_cfg *cfg,
		  mig_result *res, mig_err *err)
{
	return mig_apply_ex(db, dir, cfg, NULL, res, err);
}

/* §g.1: the run, step by step (steps 1 to 4 are the host's and run.c's). */
int
mig_apply_ex(mig_db *db, const mig_dir *dir, const mig_run_cfg *cfg,
			 const mig_apply_hooks *hooks, mig_result *res, mig_err *err)
{
	run			r;
	int			rc;

	memset(&r, 0, sizeof(r));
	r.db = db;
	r.dir = dir;
	r.cfg = cfg;
	r.res = res;
	r.err = err;
	r.hooks = hooks;
	res->status = MIG_RUN_RUNNING;
	res->start_ns = mig_now_ns();

	if (cfg->has_amount && cfg->amount < 1)
		rc = mig_err_set(err, MIG_EINVAL, "cannot apply '%lld' migration files", (long long) cfg->amount);
	else if ((rc = run_open(&r)) == MIG_OK &&
			 (rc = run_plan(&r)) == MIG_OK && res->status != MIG_RUN_NOTHING &&
			 (rc = run_checks(&r)) == MIG_OK)
	{
		if (hooks && hooks->check_only)
		{
			/* the pre-flight check alone: nothing runs */
			res->status = MIG_RUN_SUCCEEDED;
			res->end_ns = mig_now_ns();
		}
		else
			rc = run_exec(&r);
	}
	return run_close(&r, rc);
}
