/*
 * check.c - the pre-flight check's rows (issue 15): what each pending
 * statement will lock, rewrite or drop, as the report's "Findings", log
 * lines and the refusal's detail; the SQLite host's keyword scan for
 * statements that drop data; and atlas_migrate_check's "plan, no apply".
 *
 * The analysis with the database's catalog is the host's (mig_db.check:
 * PostgreSQL's pg_check.c parses each statement with the server's parser).
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <stdio.h>
#include <string.h>

#include "engine.h"

/* ---------------------------------------------------------------- rows */

mig_check_row *
mig_checks_push(mig_checks *c)
{
	mig_check_row *r;

	if (c->n == c->cap)
	{
		size_t		nc = c->cap ? c->cap * 2 : 64;
		mig_check_row *v = mig_realloc(c->v, nc * sizeof(*v));

		if (v == NULL)
			return NULL;
		c->v = v;
		c->cap = nc;
	}
	r = &c->v[c->n++];
	memset(r, 0, sizeof(*r));
	r->rows = -1;
	r->bytes = -1;
	return r;
}

void
mig_checks_free(mig_checks *c)
{
	size_t		i,
				j;

	for (i = 0; c->v && i < c->n; i++)
	{
		mig_check_row *r = &c->v[i];

		for (j = 0; j < r->nrels; j++)
			mig_free(r->rels[j]);
		mig_free(r->rels);
		mig_free(r->lock);
		mig_free(r->advice);
	}
	mig_free(c->v);
	memset(c, 0, sizeof(*c));
}

int
mig_check_row_add_rel(mig_check_row *r, const char *name, size_t len)
{
	char	  **v = mig_realloc(r->rels, (r->nrels + 1) * sizeof(*v));
	char	   *copy;

	if (v == NULL)
		return MIG_ENOMEM;
	r->rels = v;
	if ((copy = mig_strndup(name, len)) == NULL)
		return MIG_ENOMEM;
	r->rels[r->nrels++] = copy;
	return MIG_OK;
}

const char *
mig_severity_name(mig_severity s)
{
	switch (s)
	{
		case MIG_SEV_INFO:
			return "info";
		case MIG_SEV_WARNING:
			return "warning";
		case MIG_SEV_ERROR:
			return "error";
		case MIG_SEV_NONE:
			break;
	}
	return NULL;
}

size_t
mig_checks_count(const mig_checks *c, mig_severity min)
{
	size_t		i,
				n = 0;

	if (min == MIG_SEV_NONE)
		min = MIG_SEV_INFO;
	for (i = 0; i < c->n; i++)
		if (c->v[i].severity >= min)
			n++;
	return n;
}

/* ---------------------------------------------------------------- output */

static void
json_key_text(mig_buf *b, const char *key, const char *s, size_t n)
{
	mig_buf_printf(b, ",\"%s\":", key);
	if (s == NULL)
		mig_buf_puts(b, "null");
	else
		mig_buf_json_text(b, s, n);
}

static void
json_key_bool(mig_buf *b, const char *key, bool known, bool v)
{
	mig_buf_printf(b, ",\"%s\":%s", key, !known ? "null" : v ? "true" : "false");
}

static void
json_key_int(mig_buf *b, const char *key, int64_t v)
{
	if (v < 0)
		mig_buf_printf(b, ",\"%s\":null", key);
	else
		mig_buf_printf(b, ",\"%s\":%lld", key, (long long) v);
}

int
mig_checks_json(const mig_checks *c, bool all, mig_buf *out)
{
	size_t		i,
				j;
	bool		first = true;

	mig_buf_putc(out, '[');
	for (i = 0; i < c->n; i++)
	{
		const mig_check_row *r = &c->v[i];
		const char *sev = mig_severity_name(r->severity);

		if (!all && sev == NULL)
			continue;
		if (!first)
			mig_buf_putc(out, ',');
		first = false;
		mig_buf_puts(out, "{\"Version\":");
		mig_buf_json_text(out, r->file->version, strlen(r->file->version));
		json_key_text(out, "File", r->file->name, strlen(r->file->name));
		mig_buf_printf(out, ",\"Statement\":%zu", r->ordinal);
		json_key_text(out, "Text", r->stmt, r->stmt_len);
		json_key_text(out, "Lock", r->lock, r->lock ? strlen(r->lock) : 0);
		mig_buf_puts(out, ",\"Relations\":[");
		for (j = 0; j < r->nrels; j++)
		{
			if (j > 0)
				mig_buf_putc(out, ',');
			mig_buf_json_text(out, r->rels[j], strlen(r->rels[j]));
		}
		mig_buf_putc(out, ']');
		json_key_int(out, "Rows", r->rows);
		json_key_int(out, "Bytes", r->bytes);
		json_key_bool(out, "Rewrites", r->analyzed, r->rewrites);
		json_key_bool(out, "Scans", r->analyzed, r->scans);
		json_key_bool(out, "Destructive", true, r->destructive);
		json_key_text(out, "Severity", sev, sev ? strlen(sev) : 0);
		json_key_text(out, "Advice", r->advice, r->advice ? strlen(r->advice) : 0);
		mig_buf_putc(out, '}');
	}
	mig_buf_putc(out, ']');
	return out->oom ? MIG_ENOMEM : MIG_OK;
}

/* Bytes as pg_size_pretty writes them: "8192 bytes", "72 kB", "12 GB". */
static void
size_pretty(mig_buf *b, int64_t bytes)
{
	static const char *const units[] = {"kB", "MB", "GB", "TB", "PB"};
	int64_t		v = bytes;
	size_t		u;

	if (v < 10 * 1024)
	{
		mig_buf_printf(b, "%lld bytes", (long long) v);
		return;
	}
	for (u = 0; u < sizeof(units) / sizeof(units[0]); u++)
	{
		/* halves round up, as pg_size_pretty */
		v = (v / 512 + 1) / 2;
		if (v < 10 * 1024 || u + 1 == sizeof(units) / sizeof(units[0]))
			break;
	}
	mig_buf_printf(b, "%lld %s", (long long) v, units[u]);
}

int
mig_check_row_line(const mig_check_row *r, mig_buf *out)
{
	const char *sev = mig_severity_name(r->severity);
	size_t		j;

	mig_buf_printf(out, "%s statement %zu: %s:", r->file->name, r->ordinal, sev ? sev : "ok");
	if (r->lock)
		mig_buf_printf(out, " %s", r->lock);
	for (j = 0; j < r->nrels; j++)
		mig_buf_printf(out, "%s%s", j == 0 ? (r->lock ? " on " : " ") : ", ", r->rels[j]);
	if (r->rows >= 0 || r->bytes >= 0)
	{
		mig_buf_puts(out, " (");
		if (r->rows >= 0)
			mig_buf_printf(out, "%lld rows", (long long) r->rows);
		if (r->bytes >= 0)
		{
			if (r->rows >= 0)
				mig_buf_puts(out, ", ");
			size_pretty(out, r->bytes);
		}
		mig_buf_putc(out, ')');
	}
	if (r->rewrites)
		mig_buf_puts(out, ", rewrites the table");
	else if (r->scans)
		mig_buf_puts(out, ", scans the table");
	if (r->destructive)
		mig_buf_puts(out, ", drops data");
	if (r->advice)
		mig_buf_printf(out, ": %s", r->advice);
	return out->oom ? MIG_ENOMEM : MIG_OK;
}

/* ---------------------------------------------------------------- SQLite: a keyword scan */

/* One token of a statement: a word, a quoted name, or punctuation. */
typedef struct tok {
	const char *s;
	size_t		n;
	int			depth;			/* parenthesis depth before it */
	bool		word;			/* a bare word (keyword or name) */
} tok;

/* The next token from *p (comments and blanks skipped); false at the end. */
static bool
next_tok(const char **p, const char *end, int *depth, tok *t)
{
	const char *s = *p;

	for (;;)
	{
		while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f'))
			s++;
		if (s + 1 < end && s[0] == '-' && s[1] == '-')
		{
			while (s < end && *s != '\n')
				s++;
			continue;
		}
		if (s + 1 < end && s[0] == '/' && s[1] == '*')
		{
			s += 2;
			while (s + 1 < end && !(s[0] == '*' && s[1] == '/'))
				s++;
			s = s + 1 < end ? s + 2 : end;
			continue;
		}
		break;
	}
	if (s >= end)
		return false;
	t->s = s;
	t->depth = *depth;
	t->word = false;
	if (*s == '\'' || *s == '"' || *s == '`' || *s == '[')
	{
		char		close = *s == '[' ? ']' : *s;

		s++;
		while (s < end)
		{
			if (*s == close)
			{
				if (close != ']' && s + 1 < end && s[1] == close)
				{
					s += 2;
					continue;
				}
				s++;
				break;
			}
			s++;
		}
	}
	else if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_' ||
			 (unsigned char) *s >= 0x80)
	{
		while (s < end && ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_' ||
						   (*s >= '0' && *s <= '9') || *s == '$' || (unsigned char) *s >= 0x80))
			s++;
		t->word = true;
	}
	else
	{
		if (*s == '(')
			(*depth)++;
		else if (*s == ')' && *depth > 0)
			(*depth)--;
		s++;
	}
	t->n = (size_t) (s - t->s);
	*p = s;
	return true;
}

static bool
is_kw(const tok *t, const char *kw)
{
	size_t		i;

	if (!t->word || t->n != strlen(kw))
		return false;
	for (i = 0; i < t->n; i++)
	{
		char		c = t->s[i];

		if (c >= 'a' && c <= 'z')
			c = (char) (c - 'a' + 'A');
		if (c != kw[i])
			return false;
	}
	return true;
}

/*
 * A table name at *p: name or schema.name; the last part is the table's.
 * Leaves *p after it; false when there is none.
 */
static bool
table_name(const char **p, const char *end, int *depth, tok *name, tok *full)
{
	tok			t;
	const char *save;

	if (!next_tok(p, end, depth, &t) || !(t.word || t.s[0] == '"' || t.s[0] == '`' || t.s[0] == '['))
		return false;
	*name = t;
	*full = t;
	save = *p;
	if (next_tok(p, end, depth, &t) && t.n == 1 && t.s[0] == '.')
	{
		if (!next_tok(p, end, depth, &t))
			return false;
		*name = t;
		full->n = (size_t) (t.s + t.n - full->s);
	}
	else
		*p = save;
	return true;
}

/* The bare name of a name token (quotes removed, doubled quotes kept as is). */
static void
bare(const tok *t, const char **s, size_t *n)
{
	*s = t->s;
	*n = t->n;
	if (*n >= 2 && (t->s[0] == '"' || t->s[0] == '`' || t->s[0] == '['))
	{
		(*s)++;
		*n -= 2;
	}
}

/* Names of tables created earlier in the pending set (case-insensitive, ASCII). */
typedef struct names {
	char	  **v;
	size_t		n;
} names;

static bool
names_has(const names *ns, const char *s, size_t n)
{
	size_t		i,
				j;

	for (i = 0; i < ns->n; i++)
	{
		if (strlen(ns->v[i]) != n)
			continue;
		for (j = 0; j < n; j++)
		{
			char		a = ns->v[i][j],
						b = s[j];

			if (a >= 'A' && a <= 'Z')
				a = (char) (a - 'A' + 'a');
			if (b >= 'A' && b <= 'Z')
				b = (char) (b - 'A' + 'a');
			if (a != b)
				break;
		}
		if (j == n)
			return true;
	}
	return false;
}

static int
names_add(names *ns, const char *s, size_t n)
{
	char	  **v = mig_realloc(ns->v, (ns->n + 1) * sizeof(*v));

	if (v == NULL)
		return MIG_ENOMEM;
	ns->v = v;
	if ((ns->v[ns->n] = mig_strndup(s, n)) == NULL)
		return MIG_ENOMEM;
	ns->n++;
	return MIG_OK;
}

static void
names_free(names *ns)
{
	size_t		i;

	for (i = 0; i < ns->n; i++)
		mig_free(ns->v[i]);
	mig_free(ns->v);
}

/*
 * One statement: CREATE TABLE records a new table; DROP TABLE, ALTER TABLE
 * ... DROP [COLUMN], DELETE and UPDATE without a WHERE at the top level drop
 * data, unless their table is new in this pending set.
 */
static int
scan_stmt(const mig_stmt *st, names *created, mig_check_row *r)
{
	const char *p = st->text,
			   *end = st->text + st->len;
	int			depth = 0;
	tok			t,
				name,
				full;
	const char *advice = NULL;
	bool		needs_where = false;	/* DELETE, UPDATE: a WHERE limits them */
	const char *bs;
	size_t		bn;

	if (!next_tok(&p, end, &depth, &t))
		return MIG_OK;
	/* WITH ...: the statement's verb is the first word after the CTEs */
	if (is_kw(&t, "WITH"))
	{
		while (next_tok(&p, end, &depth, &t))
			if (t.depth == 0 && (is_kw(&t, "DELETE") || is_kw(&t, "UPDATE") ||
								 is_kw(&t, "INSERT") || is_kw(&t, "SELECT") ||
								 is_kw(&t, "REPLACE")))
				break;
	}
	if (is_kw(&t, "CREATE"))
	{
		while (next_tok(&p, end, &depth, &t) && !is_kw(&t, "TABLE"))
			if (!(is_kw(&t, "TEMP") || is_kw(&t, "TEMPORARY") || is_kw(&t, "VIRTUAL")))
				return MIG_OK;
		if (!is_kw(&t, "TABLE"))
			return MIG_OK;
		{
			const char *save = p;

			if (next_tok(&p, end, &depth, &t) && is_kw(&t, "IF"))
			{
				next_tok(&p, end, &depth, &t);	/* NOT */
				next_tok(&p, end, &depth, &t);	/* EXISTS */
			}
			else
				p = save;
		}
		if (table_name(&p, end, &depth, &name, &full))
		{
			bare(&name, &bs, &bn);
			return names_add(created, bs, bn);
		}
		return MIG_OK;
	}
	if (is_kw(&t, "DROP"))
	{
		const char *save;

		if (!next_tok(&p, end, &depth, &t) || !is_kw(&t, "TABLE"))
			return MIG_OK;
		save = p;
		if (next_tok(&p, end, &depth, &t) && is_kw(&t, "IF"))
			next_tok(&p, end, &depth, &t);	/* EXISTS */
		else
			p = save;
		advice = "drops the table and its data";
	}
	else if (is_kw(&t, "ALTER"))
	{
		if (!next_tok(&p, end, &depth, &t) || !is_kw(&t, "TABLE") ||
			!table_name(&p, end, &depth, &name, &full) ||
			!next_tok(&p, end, &depth, &t) || !is_kw(&t, "DROP"))
			return MIG_OK;
		advice = "drops the column and its data";
		goto found;
	}
	else if (is_kw(&t, "DELETE"))
	{
		if (!next_tok(&p, end, &depth, &t) || !is_kw(&t, "FROM"))
			return MIG_OK;
		advice = "deletes every row: no WHERE clause";
		needs_where = true;
	}
	else if (is_kw(&t, "UPDATE"))
	{
		const char *save = p;

		if (next_tok(&p, end, &depth, &t) && is_kw(&t, "OR"))
			next_tok(&p, end, &depth, &t);	/* ROLLBACK, ABORT, ... */
		else
			p = save;
		advice = "updates every row: no WHERE clause";
		needs_where = true;
	}
	else
		return MIG_OK;
	if (!table_name(&p, end, &depth, &name, &full))
		return MIG_OK;
	if (needs_where)
	{
		const char *q = p;
		int			d = depth;

		while (next_tok(&q, end, &d, &t))
			if (t.depth == 0 && is_kw(&t, "WHERE"))
				return MIG_OK;
	}
found:
	bare(&name, &bs, &bn);
	if (names_has(created, bs, bn))
		return MIG_OK;
	r->destructive = true;
	r->severity = MIG_SEV_WARNING;
	if (mig_check_row_add_rel(r, full.s, full.n) != MIG_OK ||
		(r->advice = mig_strdup(advice)) == NULL)
		return MIG_ENOMEM;
	return MIG_OK;
}

int
mig_check_keywords(mig_db *db, const mig_check_file *files, size_t n, mig_checks *out,
				   mig_err *err)
{
	names		created = {0};
	size_t		i,
				j;
	int			rc = MIG_OK;

	for (i = 0; i < n && rc == MIG_OK; i++)
		for (j = 0; j < files[i].stmts->n && rc == MIG_OK; j++)
		{
			const mig_stmt *st = &files[i].stmts->v[j];
			mig_check_row *r = mig_checks_push(out);

			if (r == NULL)
			{
				rc = MIG_ENOMEM;
				break;
			}
			r->file = files[i].file;
			r->ordinal = j + 1;
			r->stmt = st->text;
			r->stmt_len = st->len;
			rc = scan_stmt(st, &created, r);
		}
	names_free(&created);
	if (rc != MIG_OK)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	return MIG_OK;
}

/* ---------------------------------------------------------------- atlas_migrate_check */

int
mig_check_pending(mig_db *db, const mig_run_cfg *cfg, mig_dir *dir, mig_result *res,
				  mig_err *err)
{
	mig_run_cfg dry = *cfg;		/* shallow: the strings stay cfg's */
	mig_apply_hooks hooks;
	void		(*log) (mig_db *, const char *, size_t) = db->log;
	int			rc;

	if ((rc = mig_source_load(cfg, db, dir, err)) != MIG_OK)
		return rc;
	/* a dry run's plan, without its lock, log or refusal */
	dry.dry_run = true;
	dry.check = MIG_SEV_NONE;
	memset(&hooks, 0, sizeof(hooks));
	hooks.lock_held = true;
	hooks.check_only = true;
	db->log = NULL;
	rc = mig_apply_ex(db, dir, &dry, &hooks, res, err);
	db->log = log;
	return rc;
}
