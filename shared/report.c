/*
 * report.c - Atlas's time and duration formats and the JSON apply report
 * (§h.1 durations, §h.3 JSON), plus the mig_result lifecycle.
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine.h"

int64_t
mig_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Write "<whole>[.<frac>]" with frac of `digits` digits, trailing zeros cut. */
static int
fmt_frac(char *out, size_t outsz, int64_t whole, int64_t frac, int digits)
{
	char		f[16];
	int			n;

	if (frac == 0)
		return snprintf(out, outsz, "%lld", (long long) whole);
	snprintf(f, sizeof(f), "%0*lld", digits, (long long) frac);
	n = (int) strlen(f);
	while (n > 0 && f[n - 1] == '0')
		f[--n] = '\0';
	return snprintf(out, outsz, "%lld.%s", (long long) whole, f);
}

/* §h.1 durations: Go's time.Duration.String(). */
void
mig_fmt_duration(int64_t ns, char *out, size_t outsz)
{
	char		num[48];
	const char *sign = "";
	uint64_t	u;

	if (ns == 0)
	{
		snprintf(out, outsz, "0s");
		return;
	}
	if (ns < 0)
	{
		sign = "-";
		u = (uint64_t) (-(ns + 1)) + 1;
	}
	else
		u = (uint64_t) ns;
	if (u < 1000)
		snprintf(out, outsz, "%s%lluns", sign, (unsigned long long) u);
	else if (u < 1000000)
	{
		fmt_frac(num, sizeof(num), (int64_t) (u / 1000), (int64_t) (u % 1000), 3);
		snprintf(out, outsz, "%s%s\xc2\xb5s", sign, num);
	}
	else if (u < 1000000000)
	{
		fmt_frac(num, sizeof(num), (int64_t) (u / 1000000), (int64_t) (u % 1000000), 6);
		snprintf(out, outsz, "%s%sms", sign, num);
	}
	else
	{
		uint64_t	secs = u / 1000000000;
		int64_t		frac = (int64_t) (u % 1000000000);
		uint64_t	h = secs / 3600,
					m = (secs / 60) % 60,
					s = secs % 60;

		fmt_frac(num, sizeof(num), (int64_t) s, frac, 9);
		if (h > 0)
			snprintf(out, outsz, "%s%lluh%llum%ss", sign, (unsigned long long) h,
					 (unsigned long long) m, num);
		else if (m > 0)
			snprintf(out, outsz, "%s%llum%ss", sign, (unsigned long long) m, num);
		else
			snprintf(out, outsz, "%s%ss", sign, num);
	}
}

/* §h.3: RFC 3339 with nanoseconds (trailing zeros cut), in UTC. */
void
mig_fmt_time(int64_t unix_ns, char *out, size_t outsz)
{
	time_t		secs;
	struct tm	tm;
	char		base[32],
				frac[16];
	int64_t		ns;
	int			n;

	if (unix_ns == 0)
	{
		snprintf(out, outsz, "0001-01-01T00:00:00Z");
		return;
	}
	secs = (time_t) (unix_ns / 1000000000);
	ns = unix_ns % 1000000000;
	if (ns < 0)
	{
		ns += 1000000000;
		secs--;
	}
	gmtime_r(&secs, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	if (ns == 0)
	{
		snprintf(out, outsz, "%sZ", base);
		return;
	}
	snprintf(frac, sizeof(frac), "%09lld", (long long) ns);
	n = 9;
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	snprintf(out, outsz, "%s.%sZ", base, frac);
}

const char *
mig_run_status_name(mig_run_status s)
{
	switch (s)
	{
		case MIG_RUN_RUNNING:
			return "running";
		case MIG_RUN_SUCCEEDED:
			return "succeeded";
		case MIG_RUN_FAILED:
			return "failed";
		case MIG_RUN_NOTHING:
			return "nothing_to_do";
	}
	return "unknown";
}

void
mig_result_init(mig_result *r)
{
	memset(r, 0, sizeof(*r));
	mig_buf_init(&r->log);
}

void
mig_result_free(mig_result *r)
{
	size_t		i;

	mig_free(r->current);
	mig_free(r->target);
	mig_free(r->current_after);
	mig_free(r->reached);
	mig_free(r->pending);
	for (i = 0; i < r->napplied; i++)
	{
		mig_stmts_free(&r->applied[i].stmts);
		mig_free(r->applied[i].error_stmt);
		mig_free(r->applied[i].error_text);
	}
	mig_free(r->applied);
	mig_free(r->error);
	mig_buf_free(&r->log);
	mig_checks_free(&r->checks);
	mig_result_init(r);
}

/* ---------------------------------------------------------------- kept statement text */

const char *
mig_keep_ellipsis(void)
{
	/* U+2026 exists in UTF-8 only: LATIN1 and SQL_ASCII hosts get three dots */
	return mig_text_is_utf8() ? "\xe2\x80\xa6" : "...";
}

int
mig_keep_stmt(mig_buf *b, const char *s, size_t n)
{
	if (n <= MIG_KEEP_STMT)
		return mig_buf_append(b, s, n);
	mig_buf_append(b, s, mig_text_cut(s, n, MIG_KEEP_STMT));
	return mig_buf_printf(b, "%s (%zu bytes)", mig_keep_ellipsis(), n);
}

int
mig_keep_omitted(mig_buf *b, size_t nstmts, size_t nbytes)
{
	return mig_buf_printf(b, "%s %zu more statement%s (%zu bytes)", mig_keep_ellipsis(),
						  nstmts, nstmts == 1 ? "" : "s", nbytes);
}

/* A kept statement (mig_keep_stmt) as a JSON string of host text. */
static void
json_kept(mig_buf *b, mig_buf *scratch, const char *s, size_t n)
{
	if (n <= MIG_KEEP_STMT)
	{
		mig_buf_json_text(b, s, n);
		return;
	}
	mig_buf_reset(scratch);
	mig_keep_stmt(scratch, s, n);
	if (scratch->oom)
		b->oom = true;
	else
		mig_buf_json_text(b, scratch->data, scratch->len);
}

/* "key":"value" with a leading comma when not first. */
static void
kv_str(mig_buf *b, bool *first, const char *key, const char *val)
{
	if (!*first)
		mig_buf_putc(b, ',');
	*first = false;
	mig_buf_json_str(b, key, strlen(key));
	mig_buf_putc(b, ':');
	mig_buf_json_text(b, val, strlen(val));
}

static void
kv_time(mig_buf *b, bool *first, const char *key, int64_t ns)
{
	char		t[64];

	mig_fmt_time(ns, t, sizeof(t));
	kv_str(b, first, key, t);
}

/* One file of Pending / Applied: name, version, description (empty omitted). */
static void
file_keys(mig_buf *b, bool *first, const mig_file *f)
{
	kv_str(b, first, "Name", f->name);
	if (f->version[0])
		kv_str(b, first, "Version", f->version);
	if (f->desc[0])
		kv_str(b, first, "Description", f->desc);
}

int
mig_report_json_ex(const mig_result *res, const mig_run_cfg *cfg, const char *driver,
				   const char *extra, mig_buf *out)
{
	bool		first = true;
	size_t		i,
				j,
				kept = 0;		/* statement bytes kept so far (MIG_KEEP_STMTS) */
	mig_buf		scratch;

	mig_buf_init(&scratch);
	mig_buf_putc(out, '{');
	if (driver && driver[0])
		kv_str(out, &first, "Driver", driver);
	if (cfg && cfg->dir_url_redacted)
		kv_str(out, &first, "Dir", cfg->dir_url_redacted);
	if (!first)
		mig_buf_putc(out, ',');
	first = false;
	mig_buf_puts(out, "\"Pending\":[");
	for (i = 0; i < res->npending; i++)
	{
		bool		f1 = true;

		if (i)
			mig_buf_putc(out, ',');
		mig_buf_putc(out, '{');
		file_keys(out, &f1, res->pending[i]);
		mig_buf_putc(out, '}');
	}
	mig_buf_puts(out, "],\"Applied\":[");
	for (i = 0; i < res->napplied; i++)
	{
		const mig_applied *a = &res->applied[i];
		bool		f1 = true;

		if (i)
			mig_buf_putc(out, ',');
		mig_buf_putc(out, '{');
		file_keys(out, &f1, a->file);
		kv_time(out, &f1, "Start", a->start_ns);
		kv_time(out, &f1, "End", a->end_ns);
		if (a->skipped)
			mig_buf_printf(out, ",\"Skipped\":%lld", (long long) a->skipped);
		mig_buf_puts(out, ",\"Applied\":[");
		for (j = 0; j < a->stmts.n && kept < MIG_KEEP_STMTS; j++)
		{
			const mig_stmt *st = &a->stmts.v[j];

			if (j)
				mig_buf_putc(out, ',');
			json_kept(out, &scratch, st->text, st->len);
			kept += st->len < MIG_KEEP_STMT ? st->len : MIG_KEEP_STMT;
		}
		if (j < a->stmts.n)
		{
			/* the budget is spent: one entry for the file's other statements */
			size_t		rest = 0,
						first_rest = j;

			for (; j < a->stmts.n; j++)
				rest += a->stmts.v[j].len;
			if (first_rest)
				mig_buf_putc(out, ',');
			mig_buf_reset(&scratch);
			mig_keep_omitted(&scratch, a->stmts.n - first_rest, rest);
			if (scratch.oom)
				out->oom = true;
			else
				mig_buf_json_text(out, scratch.data, scratch.len);
		}
		mig_buf_putc(out, ']');
		if (a->error_text)
		{
			bool		f2 = true;
			const char *es = a->error_stmt ? a->error_stmt : "";

			mig_buf_puts(out, ",\"Error\":{\"Stmt\":");
			json_kept(out, &scratch, es, strlen(es));
			f2 = false;
			kv_str(out, &f2, "Text", a->error_text);
			mig_buf_putc(out, '}');
		}
		mig_buf_putc(out, '}');
	}
	mig_buf_putc(out, ']');
	if (res->current)
		kv_str(out, &first, "Current", res->current);
	if (res->target)
		kv_str(out, &first, "Target", res->target);
	kv_time(out, &first, "Start", res->start_ns);
	kv_time(out, &first, "End", res->end_ns);
	if (res->error)
		kv_str(out, &first, "Error", res->error);
	else if (res->napplied == 0)
		kv_str(out, &first, "Message", "No migration files to execute");
	else
	{
		mig_buf		m;

		mig_buf_init(&m);
		mig_buf_printf(&m, "Migrated to version %s from %s (%zu migrations in total)",
					   res->target ? res->target : "", res->current ? res->current : "",
					   res->npending);
		kv_str(out, &first, "Message", m.data ? m.data : "");
		mig_buf_free(&m);
	}
	if (cfg && cfg->stmt_lock_timeout_ms > 0 && !cfg->dry_run)
	{
		/* lock-safe DDL (issue 11): members of our own, after Atlas's */
		char		wait[64],
					pause[64];

		mig_fmt_duration(res->lock_wait_ns, wait, sizeof(wait));
		mig_fmt_duration(res->lock_pause_ns, pause, sizeof(pause));
		mig_buf_printf(out, ",\"LockRetries\":%lld", (long long) res->lock_retries);
		kv_str(out, &first, "LockWait", wait);
		kv_str(out, &first, "LockPause", pause);
	}
	if (extra && extra[0])
	{
		mig_buf_putc(out, ',');
		mig_buf_puts(out, extra);
	}
	mig_buf_putc(out, '}');
	mig_buf_free(&scratch);
	return out->oom ? MIG_ENOMEM : MIG_OK;
}

int
mig_report_json(const mig_result *res, const mig_run_cfg *cfg, const char *driver, mig_buf *out)
{
	return mig_report_json_ex(res, cfg, driver, NULL, out);
}
