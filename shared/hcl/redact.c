/*
 * redact.c - mig_hcl_redact: the stored atlas.hcl as atlas_config_get()
 * shows it, with its secrets replaced and every other byte (comments,
 * layout) kept.  A text rewrite driven by the syntax tree's source spans,
 * never a re-print.
 *
 * Secrets:
 *   - the value of a `token` attribute, in any block (the cloud token of
 *     spec §i.2, and any literal passed to a token elsewhere): its string
 *     and number literals become "<redacted>", and so do those of the
 *     variables' defaults and the locals it refers to, transitively;
 *     getenv()'s argument (a variable's name, not its value) is kept;
 *   - the password of a URL, scheme://user:password@host, anywhere in the
 *     text (strings, heredocs, comments) becomes xxxxx, as Atlas redacts
 *     URLs (§j.4); an interpolation there, "${var.pass}", is replaced too
 *     and the variables and locals it refers to are treated as the token's;
 *   - in comments and anywhere else, token = "..." (a commented-out token).
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hcl_int.h"

#define REDACTED "\"<redacted>\""
#define PASSWORD "xxxxx"

/* Replace src[start, end) with repl. */
typedef struct span
{
	size_t		start;
	size_t		end;
	const char *repl;
} span;

typedef struct redactor
{
	const mig_config *cfg;
	const char *src;
	size_t		len;
	span	   *spans;
	size_t		nspans;
	size_t		cap;
	size_t		nurls;			/* spans[0 .. nurls) are URL passwords */
	unsigned char *var_seen;	/* by cfg->vars index: queued */
	unsigned char *local_seen;	/* by cfg->locals index: queued */
	size_t	   *queue;			/* pending: var i as i, local i as nvars + i */
	size_t		nqueue;
	bool		oom;
} redactor;

static void
add_span(redactor *r, size_t start, size_t end, const char *repl)
{
	if (r->oom || end <= start || end > r->len)
		return;
	if (r->nspans == r->cap)
	{
		size_t		ncap = r->cap ? r->cap * 2 : 16;
		span	   *v = mig_realloc(r->spans, ncap * sizeof(span));

		if (v == NULL)
		{
			r->oom = true;
			return;
		}
		r->spans = v;
		r->cap = ncap;
	}
	r->spans[r->nspans].start = start;
	r->spans[r->nspans].end = end;
	r->spans[r->nspans].repl = repl;
	r->nspans++;
}

/* Queue variable or local `name` (root "var" or "local") once. */
static void
follow_ref(redactor *r, const char *root, const char *name)
{
	const mig_config *cfg = r->cfg;

	if (strcmp(root, "var") == 0)
	{
		const vardecl *d = hcl_find_var(cfg, name);
		size_t		i = d ? (size_t) (d - cfg->vars) : 0;

		if (d && !r->var_seen[i])
		{
			r->var_seen[i] = 1;
			r->queue[r->nqueue++] = i;
		}
	}
	else if (strcmp(root, "local") == 0)
	{
		long		i = hcl_find_local(cfg, name);

		if (i >= 0 && !r->local_seen[i])
		{
			r->local_seen[i] = 1;
			r->queue[r->nqueue++] = cfg->nvars + (size_t) i;
		}
	}
}

/*
 * e is (part of) a secret: its literals are replaced, the variables and
 * locals it refers to are queued.  Recursion is bounded by the tree height.
 */
static void
secret_expr(redactor *r, const expr *e)
{
	const expr *steps[MAX_DEPTH + 1];
	const expr *root;
	size_t		n,
				i;

	if (e == NULL)
		return;
	switch (e->kind)
	{
		case E_STR:
		case E_NUM:
			add_span(r, e->start, e->end, REDACTED);
			return;
		case E_TMPL:
			/* the whole template; its literal parts carry no spans */
			add_span(r, e->start, e->end, REDACTED);
			for (i = 0; i < e->n; i++)
				if (e->items[i]->kind != E_STR)
					secret_expr(r, e->items[i]);
			return;
		case E_CALL:
			if (strcmp(e->s, "getenv") == 0)
				return;
			/* FALLTHROUGH */
		case E_LIST:
		case E_OBJECT:
			for (i = 0; i < e->n; i++)
				secret_expr(r, e->items[i]);
			return;
		case E_ATTR:
		case E_INDEX:
			root = hcl_traversal_steps(e, steps, &n);
			if (root->kind == E_IDENT && n > 0 && steps[0]->kind == E_ATTR)
				follow_ref(r, root->s, steps[0]->s);
			else
				secret_expr(r, root);
			for (i = 0; i < n; i++)
				if (steps[i]->kind == E_INDEX)
					secret_expr(r, steps[i]->y);
			return;
		case E_NULL:
		case E_BOOL:
		case E_IDENT:
			return;
		case E_UNARY:
		case E_BINARY:
		case E_COND:
		case E_PAREN:
			secret_expr(r, e->x);
			secret_expr(r, e->y);
			secret_expr(r, e->z);
			return;
	}
}

/* The queued variables' defaults and locals' values are secrets too. */
static void
drain_queue(redactor *r)
{
	const mig_config *cfg = r->cfg;

	while (r->nqueue > 0)
	{
		size_t		q = r->queue[--r->nqueue];

		if (q < cfg->nvars)
		{
			if (cfg->vars[q].def)
				secret_expr(r, cfg->vars[q].def->value);
		}
		else
			secret_expr(r, cfg->locals[q - cfg->nvars]->value);
	}
}

/* Every `token` attribute of b and its blocks, at any depth. */
static void
token_attrs(redactor *r, const body *b)
{
	size_t		i;

	for (i = 0; i < b->nattrs; i++)
		if (strcmp(b->attrs[i]->name, "token") == 0)
			secret_expr(r, b->attrs[i]->value);
	for (i = 0; i < b->nblocks; i++)
		token_attrs(r, &b->blocks[i]->body);
}

/* The end of a URL's authority starting at a (a backslash escapes a byte). */
static size_t
authority_end(const redactor *r, size_t a, size_t *at)
{
	size_t		j;

	*at = 0;
	for (j = a; j < r->len; j++)
	{
		char		c = r->src[j];

		if (c == '\\' && j + 1 < r->len)
		{
			j++;
			continue;
		}
		if (c == '/' || c == '?' || c == '#' || c == '"' || c == ' ' || c == '\t' ||
			c == '\n' || c == '\r')
			break;
		if (c == '@')
			*at = j;
	}
	return j;
}

/* scheme://user:password@host anywhere in the text: the password. */
static void
url_passwords(redactor *r)
{
	size_t		i;

	for (i = 1; i + 3 <= r->len; i++)
	{
		size_t		a = i + 3,
					at,
					j;

		if (r->src[i] != ':' || r->src[i + 1] != '/' || r->src[i + 2] != '/' ||
			!is_ident_char((unsigned char) r->src[i - 1]))
			continue;
		authority_end(r, a, &at);
		if (at == 0)
			continue;
		for (j = a; j < at; j++)
			if (r->src[j] == ':')
			{
				add_span(r, j + 1, at, PASSWORD);
				break;
			}
	}
}

/* token = "..." or token: "..." in the raw text (comments included). */
static void
token_literals(redactor *r)
{
	const char *s = r->src;
	size_t		i;

	for (i = 0; i + 5 <= r->len; i++)
	{
		size_t		j = i + 5,
					q;

		if (strncasecmp(s + i, "token", 5) != 0 ||
			(i > 0 && is_ident_char((unsigned char) s[i - 1])) ||
			(j < r->len && is_ident_char((unsigned char) s[j])))
			continue;
		while (j < r->len && (s[j] == ' ' || s[j] == '\t'))
			j++;
		if (j >= r->len || (s[j] != '=' && s[j] != ':'))
			continue;
		j++;
		while (j < r->len && (s[j] == ' ' || s[j] == '\t'))
			j++;
		if (j >= r->len || s[j] != '"')
			continue;
		for (q = j + 1; q < r->len && s[q] != '"' && s[q] != '\n'; q++)
			if (s[q] == '\\')
				q++;
		/* an unterminated one runs to the end of its line */
		add_span(r, j, q < r->len && s[q] == '"' ? q + 1 : q, REDACTED);
	}
}

/* An interpolation inside a URL's password is a secret (its references). */
static void
url_interpolations(redactor *r, const expr *e)
{
	size_t		i,
				k;

	if (e == NULL)
		return;
	for (i = 0; e->kind == E_TMPL && i < e->n; i++)
	{
		const expr *it = e->items[i];

		for (k = 0; it->kind != E_STR && k < r->nurls; k++)
			if (it->start < r->spans[k].end && it->end > r->spans[k].start)
			{
				secret_expr(r, it);
				break;
			}
	}
	if (e->kind == E_TMPL || e->kind == E_CALL || e->kind == E_LIST || e->kind == E_OBJECT)
		for (i = 0; i < e->n; i++)
			url_interpolations(r, e->items[i]);
	url_interpolations(r, e->x);
	url_interpolations(r, e->y);
	url_interpolations(r, e->z);
}

static void
url_interpolations_body(redactor *r, const body *b)
{
	size_t		i;

	for (i = 0; i < b->nattrs; i++)
		url_interpolations(r, b->attrs[i]->value);
	for (i = 0; i < b->nblocks; i++)
		url_interpolations_body(r, &b->blocks[i]->body);
}

static int
cmp_span(const void *a, const void *b)
{
	const span *x = a;
	const span *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->end > y->end ? -1 : x->end < y->end;
}

/* The text with the spans replaced; an overlapping span widens the one before. */
static int
rewrite(redactor *r, char **out, mig_err *err)
{
	mig_buf		b;
	size_t		pos = 0,
				i;

	if (r->nspans > 1)
		qsort(r->spans, r->nspans, sizeof(span), cmp_span);
	mig_buf_init(&b);
	for (i = 0; i < r->nspans; i++)
	{
		const span *s = &r->spans[i];

		if (s->start < pos)
		{
			if (s->end > pos)
				pos = s->end;
			continue;
		}
		mig_buf_append(&b, r->src + pos, s->start - pos);
		mig_buf_puts(&b, s->repl);
		pos = s->end;
	}
	mig_buf_append(&b, r->src + pos, r->len - pos);
	if (b.oom)
	{
		mig_buf_free(&b);
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	}
	*out = mig_buf_steal(&b);
	if (*out == NULL && (*out = mig_strdup("")) == NULL)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	return MIG_OK;
}

int
mig_hcl_redact(const char *src, size_t len, char **out, mig_err *err)
{
	mig_config *cfg = NULL;
	redactor	r;
	size_t		nitems;
	int			rc;

	if (out == NULL || src == NULL)
		return mig_err_set(err, MIG_EINVAL, "mig_hcl_redact: no text or no output");
	*out = NULL;
	if ((rc = mig_hcl_parse(src, len, &cfg, err)) != MIG_OK)
		return rc;
	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.src = src;
	r.len = len;
	nitems = cfg->nvars + cfg->nlocals + 1;
	r.var_seen = mig_calloc(cfg->nvars + 1, 1);
	r.local_seen = mig_calloc(cfg->nlocals + 1, 1);
	r.queue = mig_calloc(nitems, sizeof(size_t));
	if (r.var_seen == NULL || r.local_seen == NULL || r.queue == NULL)
		r.oom = true;
	if (!r.oom)
	{
		url_passwords(&r);
		r.nurls = r.nspans;
		url_interpolations_body(&r, &cfg->root);
		token_attrs(&r, &cfg->root);
		drain_queue(&r);
		token_literals(&r);
	}
	if (r.oom)
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
	else
		rc = rewrite(&r, out, err);
	mig_free(r.spans);
	mig_free(r.var_seen);
	mig_free(r.local_seen);
	mig_free(r.queue);
	mig_hcl_free(cfg);
	return rc;
}
