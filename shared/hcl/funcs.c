/*
 * funcs.c - the function library (spec §i.1 "Function calls"): the functions
 * apply can evaluate (getenv, format, the string and URL helpers, the type
 * conversions), their argument counts for the structure check, and the
 * names of Atlas's functions this subset does not implement.
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcl_int.h"

/*
 * Functions of Atlas's HCL standard library (§i.1) that this subset does
 * not implement: a clearer error than "unknown function".
 */
const char *const hcl_atlas_funcs[] = {
	"abs", "can", "ceil", "chomp", "chunklist", "coalescelist", "compact",
	"contains", "csvdecode", "distinct", "element", "flatten", "floor",
	"formatdate", "formatlist", "indent", "index", "jsondecode", "jsonencode",
	"keys", "log", "max", "merge", "min", "parseint", "pow", "print", "range",
	"regex", "regexall", "regexpescape", "regexreplace", "reverse",
	"setintersection", "setproduct", "setsubtract", "setunion", "signum",
	"slice", "sort", "split", "strrev", "substr", "timeadd", "title", "trim",
	"try", "urluserinfo", "urlsetpath", "values", "zipmap", "sql", "fileset",
	"templatefile", NULL
};

/* Argument i of a call as a string, or a clear error naming the function. */
static int
arg_string(evalctx *x, const expr *call, const value *args, size_t i, const char **s, size_t *len)
{
	bool		ok;
	int			rc;

	if ((rc = hcl_as_string(x, &args[i], s, len, &ok)) != MIG_OK)
		return rc;
	if (!ok)
		return hcl_eerr(x, call, MIG_ECONFIG, "%s: argument %zu must be a string, got %s",
					call->s, i + 1, hcl_kind_name(args[i].k));
	return MIG_OK;
}

static int
make_str(evalctx *x, const mig_buf *b, value *out)
{
	char	   *s;

	if (b->oom)
		return mig_err_set(x->err, MIG_ENOMEM, "out of memory");
	if (b->len > EVAL_LIMIT)
	{
		x->ar.over = true;
		return hcl_eoom(x);
	}
	s = hcl_arena_strndup(&x->ar, b->data ? b->data : "", b->len);
	if (s == NULL)
		return hcl_eoom(x);
	*out = hcl_v_str(s, b->len);
	return MIG_OK;
}

/* A string being built past the evaluation size cap. */
static bool
buf_over(evalctx *x, const mig_buf *b)
{
	if (b->len <= EVAL_LIMIT)
		return false;
	x->ar.over = true;
	return true;
}

/* format(): the verbs %s %d %v %t %q and %%; no flags or widths. */
static int
format_into(evalctx *x, const expr *call, const value *args, size_t nargs, mig_buf *b)
{
	const char *f;
	size_t		flen,
				i,
				next = 1;
	int			rc;

	if ((rc = arg_string(x, call, args, 0, &f, &flen)) != MIG_OK)
		return rc;
	for (i = 0; i < flen; i++)
	{
		char		verb;
		const value *a;

		if (f[i] != '%')
		{
			mig_buf_putc(b, f[i]);
			continue;
		}
		if (++i >= flen)
			return hcl_eerr(x, call, MIG_ECONFIG, "format: the format string ends with a lone %%");
		verb = f[i];
		if (verb == '%')
		{
			mig_buf_putc(b, '%');
			continue;
		}
		if (strchr("sdvtq", verb) == NULL)
		{
			if ((unsigned char) verb > 0x20 && (unsigned char) verb < 0x7f)
				return hcl_eerr(x, call, MIG_ECONFIG, "format: unsupported verb \"%%%c\" (supported: %%s %%d %%v %%t %%q %%%%)", verb);
			return hcl_eerr(x, call, MIG_ECONFIG, "format: unsupported verb (supported: %%s %%d %%v %%t %%q %%%%)");
		}
		if (buf_over(x, b))
			return hcl_eoom(x);
		if (next >= nargs)
			return hcl_eerr(x, call, MIG_ECONFIG, "format: not enough arguments for the format string");
		a = &args[next++];
		if (a->k == V_NULL)
			return hcl_eerr(x, call, MIG_ECONFIG, "format: argument %zu is null", next);
		if (verb == 'd')
		{
			double		n;

			if (!hcl_as_number(a, &n) || !hcl_is_whole(n))
				return hcl_eerr(x, call, MIG_ECONFIG, "format: %%d needs a whole number (argument %zu)", next);
			mig_buf_printf(b, "%lld", (long long) n);
		}
		else if (verb == 't')
		{
			bool		v;

			if (!hcl_as_bool(a, &v))
				return hcl_eerr(x, call, MIG_ECONFIG, "format: %%t needs a bool (argument %zu)", next);
			mig_buf_puts(b, v ? "true" : "false");
		}
		else
		{
			const char *s;
			size_t		len;
			bool		ok;

			if ((rc = hcl_as_string(x, a, &s, &len, &ok)) != MIG_OK)
				return rc;
			if (!ok)
				return hcl_eerr(x, call, MIG_ECONFIG, "format: argument %zu must be a string, number or bool, got %s",
							next, hcl_kind_name(a->k));
			if (verb == 'q')
				mig_buf_goquote(b, s, len);
			else
				mig_buf_append(b, s, len);
		}
	}
	if (next < nargs)
		return hcl_eerr(x, call, MIG_ECONFIG, "format: too many arguments for the format string");
	return MIG_OK;
}

/* Go's url.QueryEscape. */
static void
query_escape(mig_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t		i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '_' || c == '.' || c == '~')
			mig_buf_putc(b, (char) c);
		else if (c == ' ')
			mig_buf_putc(b, '+');
		else
		{
			mig_buf_putc(b, '%');
			mig_buf_putc(b, hex[c >> 4]);
			mig_buf_putc(b, hex[c & 15]);
		}
	}
}

/* Go's url.QueryUnescape into the arena; false on a bad escape. */
static bool
query_unescape(evalctx *x, const char *s, size_t len, const char **out)
{
	char	   *r = hcl_arena_alloc(&x->ar, len + 1);
	size_t		i,
				n = 0;

	if (r == NULL)
		return false;
	for (i = 0; i < len; i++)
	{
		if (s[i] == '+')
			r[n++] = ' ';
		else if (s[i] == '%')
		{
			int			h,
						l;

			if (i + 2 >= len)
				return false;
			h = mig_hexval(s[i + 1]);
			l = mig_hexval(s[i + 2]);
			if (h < 0 || l < 0)
				return false;
			r[n++] = (char) (h * 16 + l);
			i += 2;
		}
		else
			r[n++] = s[i];
	}
	r[n] = '\0';
	*out = r;
	return true;
}

typedef struct qpair
{
	const char *k;
	const char *v;
	size_t		seq;
} qpair;

static int
cmp_qpair(const void *a, const void *b)
{
	const qpair *x = a;
	const qpair *y = b;
	int			c = strcmp(x->k, y->k);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * urlqueryset(url, key, value): Atlas sets one query parameter and
 * re-encodes the query the way Go does (keys sorted, QueryEscape'd).
 * Only the query is rebuilt; the rest of the URL is kept as written.
 */
static int
urlqueryset_into(evalctx *x, const expr *call, const value *args, mig_buf *b)
{
	const char *u,
			   *key,
			   *val,
			   *q,
			   *frag;
	size_t		ulen,
				klen,
				vlen,
				qlen,
				npairs = 0,
				i;
	qpair	   *pairs;
	int			rc;

	if ((rc = arg_string(x, call, args, 0, &u, &ulen)) != MIG_OK ||
		(rc = arg_string(x, call, args, 1, &key, &klen)) != MIG_OK ||
		(rc = arg_string(x, call, args, 2, &val, &vlen)) != MIG_OK)
		return rc;
	frag = memchr(u, '#', ulen);
	q = memchr(u, '?', frag ? (size_t) (frag - u) : ulen);
	qlen = q ? (size_t) ((frag ? frag : u + ulen) - (q + 1)) : 0;
	pairs = hcl_arena_zalloc(&x->ar, (qlen + 2) * sizeof(qpair));
	if (pairs == NULL)
		return hcl_eoom(x);
	if (q)
	{
		const char *p = q + 1;
		const char *end = p + qlen;

		while (p < end)
		{
			const char *amp = memchr(p, '&', (size_t) (end - p));
			const char *pe = amp ? amp : end;
			const char *eq = memchr(p, '=', (size_t) (pe - p));
			const char *k,
					   *v = "";

			if (pe > p && memchr(p, ';', (size_t) (pe - p)) == NULL &&
				query_unescape(x, p, (size_t) ((eq ? eq : pe) - p), &k) &&
				(eq == NULL || query_unescape(x, eq + 1, (size_t) (pe - eq - 1), &v)) &&
				strcmp(k, key) != 0)
			{
				pairs[npairs].k = k;
				pairs[npairs].v = v;
				pairs[npairs].seq = npairs;
				npairs++;
			}
			if (x->ar.over)
				return hcl_eoom(x);
			p = amp ? amp + 1 : end;
		}
	}
	pairs[npairs].k = key;
	pairs[npairs].v = val;
	pairs[npairs].seq = npairs;
	npairs++;
	qsort(pairs, npairs, sizeof(qpair), cmp_qpair);
	mig_buf_append(b, u, q ? (size_t) (q - u) : (frag ? (size_t) (frag - u) : ulen));
	mig_buf_putc(b, '?');
	for (i = 0; i < npairs; i++)
	{
		if (i)
			mig_buf_putc(b, '&');
		query_escape(b, pairs[i].k, strlen(pairs[i].k));
		mig_buf_putc(b, '=');
		query_escape(b, pairs[i].v, strlen(pairs[i].v));
	}
	if (frag)
		mig_buf_append(b, frag, ulen - (size_t) (frag - u));
	return MIG_OK;
}

static int
list_arg(evalctx *x, const expr *call, const value *a, size_t i)
{
	if (a->k != V_LIST)
		return hcl_eerr(x, call, MIG_ECONFIG, "%s: argument %zu must be a list, got %s",
						call->s, i + 1, hcl_kind_name(a->k));
	return MIG_OK;
}

/*
 * The functions.  Each gets the call (for messages), its evaluated
 * arguments (as many as funcs[] allows), a scratch buffer the caller frees,
 * and sets *out.
 */

/* getenv(name): §i.1, the value or "" when unset; never an error. */
static int
fn_getenv(evalctx *x, const expr *e, const value *args, mig_buf *b, value *out)
{
	const char *s;
	const char *v;
	size_t		slen;
	int			rc;

	/* the host's switch; no details: neither the name nor a value */
	if (x->cfg->deny_getenv)
		return mig_err_set(x->err, MIG_EPERM,
						   "%d:%d: function \"getenv\" is not allowed: reading the database server's environment is denied for this configuration",
						   e->line, e->col);
	if (x->partial)
	{
		*out = hcl_v_unknown();
		return MIG_OK;
	}
	if ((rc = arg_string(x, e, args, 0, &s, &slen)) != MIG_OK)
		return rc;
	v = getenv(s);
	*out = hcl_v_str("", 0);
	if (v == NULL || *v == '\0')
		return MIG_OK;
	mig_buf_puts(b, v);
	return make_str(x, b, out);
}

/* lower(s), upper(s): ASCII letters only. */
static int
fn_case(evalctx *x, const expr *e, const value *args, mig_buf *b, value *out)
{
	bool		up = e->s[0] == 'u';
	const char *s;
	size_t		slen,
				i;
	int			rc;

	if ((rc = arg_string(x, e, args, 0, &s, &slen)) != MIG_OK)
		return rc;
	mig_buf_append(b, s, slen);
	for (i = 0; !b->oom && i < b->len; i++)
	{
		char		c = b->data[i];

		if (up && c >= 'a' && c <= 'z')
			b->data[i] = (char) (c - 'a' + 'A');
		else if (!up && c >= 'A' && c <= 'Z')
			b->data[i] = (char) (c - 'A' + 'a');
	}
	return make_str(x, b, out);
}

static int
fn_format(evalctx *x, const expr *e, const value *args, mig_buf *b, value *out)
{
	int			rc;

	if ((rc = format_into(x, e, args, e->n, b)) != MIG_OK)
		return rc;
	return make_str(x, b, out);
}

static bool
is_trim_space(char c)
{
	return is_tmpl_space(c) || c == '\v' || c == '\f';
}

static int
fn_trimspace(evalctx *x, const expr *e, const value *args, mig_buf *b, value *out)
{
	const char *s;
	size_t		slen;
	int			rc;

	if ((rc = arg_string(x, e, args, 0, &s, &slen)) != MIG_OK)
		return rc;
	while (slen > 0 && is_trim_space(*s))
	{
		s++;
		slen--;
	}
	while (slen > 0 && is_trim_space(s[slen - 1]))
		slen--;
	mig_buf_append(b, s, slen);
	return make_str(x, b, out);
}

/* trimprefix, trimsuffix, startswith, endswith (s, affix). */
static int
fn_affix(evalctx *x, const expr *e, const value *args, mig_buf *b, value *out)
{
	const char *f = e->s;
	bool		prefix = strcmp(f, "trimprefix") == 0 || strcmp(f, "startswith") == 0;
	bool		match;
	const char *s,
			   *t;
	size_t		slen,
				tlen;
	int			rc;

	if ((rc = arg_string(x, e, args, 0, &s, &slen)) != MIG_OK ||
		(rc = arg_string(x, e, args, 1, &t, &tlen)) != MIG_OK)
		return rc;
	match = tlen <= slen && memcmp(prefix ? s : s + slen - tlen, t, tlen) == 0;
	if (f[0] == 's' || f[0] == 'e')
	{
		*out = hcl_v_bool(match);
		return MIG_OK;
	}
	if (match)
	{
		if (prefix)
			s += tlen;
		slen -= tlen;
	}
	mig_buf_append(b, s, slen);
	return make_str(x, b, out);
}

/* join(separator, list, ...) */
static int
fn_join(evalctx *x, const expr *e, const value *args, mig_buf *b, value *out)
{
	bool		firstel = true;
	const char *s,
			   *t;
	size_t		slen,
				tlen,
				i,
				j;
	int			rc;

	if ((rc = arg_string(x, e, args, 0, &t, &tlen)) != MIG_OK)
		return rc;
	for (i = 1; i < e->n; i++)
	{
		if ((rc = list_arg(x, e, &args[i], i)) != MIG_OK)
			return rc;
		for (j = 0; j < args[i].cnt; j++)
		{
			bool		ok;

			if ((rc = hcl_as_string(x, &args[i].items[j], &s, &slen, &ok)) != MIG_OK)
				return rc;
			if (!ok)
				return hcl_eerr(x, e, MIG_ECONFIG, "join: element %zu of argument %zu must be a string, got %s",
								j, i + 1, hcl_kind_name(args[i].items[j].k));
			if (!firstel)
				mig_buf_append(b, t, tlen);
			mig_buf_append(b, s, slen);
			firstel = false;
			if (buf_over(x, b))
				return hcl_eoom(x);
		}
	}
	return make_str(x, b, out);
}

/* concat(list, ...) */
static int
fn_concat(evalctx *x, const expr *e, const value *args, mig_buf *b, value *out)
{
	value		r;
	size_t		total = 0,
				i,
				j;
	int			rc;

	for (i = 0; i < e->n; i++)
	{
		if ((rc = list_arg(x, e, &args[i], i)) != MIG_OK)
			return rc;
		total += args[i].cnt;
	}
	memset(&r, 0, sizeof(r));
	r.k = V_LIST;
	r.items = hcl_arena_zalloc(&x->ar, (total ? total : 1) * sizeof(value));
	if (r.items == NULL)
		return hcl_eoom(x);
	for (i = 0; i < e->n; i++)
		for (j = 0; j < args[i].cnt; j++)
			r.items[r.cnt++] = args[i].items[j];
	*out = r;
	return MIG_OK;
}

/* length(string | list | object): characters or elements. */
static int
fn_length(evalctx *x, const expr *e, const value *args, mig_buf *b, value *out)
{
	size_t		chars = 0,
				i;

	if (args[0].k == V_LIST || args[0].k == V_MAP)
	{
		*out = hcl_v_num((double) args[0].cnt);
		return MIG_OK;
	}
	if (args[0].k != V_STR)
		return hcl_eerr(x, e, MIG_ECONFIG, "length: argument must be a string, list or object, got %s",
						hcl_kind_name(args[0].k));
	for (i = 0; i < args[0].len; i++)
		if ((args[0].s[i] & 0xC0) != 0x80)
			chars++;
	*out = hcl_v_num((double) chars);
	return MIG_OK;
}

/* tostring, tonumber, tobool, tolist, toset: cty's conversions. */
static int
fn_convert(evalctx *x, const expr *e, const value *args, mig_buf *b, value *out)
{
	static const htype str = {TY_STRING, NULL};
	static const htype num = {TY_NUMBER, NULL};
	static const htype boo = {TY_BOOL, NULL};
	static const htype any = {TY_ANY, NULL};
	static const htype lst = {TY_LIST, &any};
	static const htype set = {TY_SET, &any};
	const char *f = e->s;
	const htype *want = strcmp(f, "tostring") == 0 ? &str :
	strcmp(f, "tonumber") == 0 ? &num :
	strcmp(f, "tobool") == 0 ? &boo :
	strcmp(f, "tolist") == 0 ? &lst : &set;
	char		why[300];
	int			rc;

	if ((want == &lst || want == &set) && args[0].k != V_LIST && args[0].k != V_NULL)
		return hcl_eerr(x, e, MIG_ECONFIG, "%s: cannot convert %s to %s", f, hcl_kind_name(args[0].k),
						want == &lst ? "list" : "set");
	if ((rc = hcl_convert(x, &args[0], want, out, why, sizeof(why), 0)) == MIG_OK && why[0])
		rc = hcl_eerr(x, e, MIG_ECONFIG, "%s: %s", f, why);
	return rc;
}

static int
fn_urlescape(evalctx *x, const expr *e, const value *args, mig_buf *b, value *out)
{
	const char *s;
	size_t		slen;
	int			rc;

	if ((rc = arg_string(x, e, args, 0, &s, &slen)) != MIG_OK)
		return rc;
	query_escape(b, s, slen);
	return make_str(x, b, out);
}

static int
fn_urlqueryset(evalctx *x, const expr *e, const value *args, mig_buf *b, value *out)
{
	int			rc;

	if ((rc = urlqueryset_into(x, e, args, b)) != MIG_OK)
		return rc;
	return make_str(x, b, out);
}

/* Functions apply can evaluate (§i.1), with their argument counts. */
static const funcinfo funcs[] = {
	{"getenv", 1, 1, fn_getenv},
	{"lower", 1, 1, fn_case},
	{"upper", 1, 1, fn_case},
	{"format", 1, -1, fn_format},
	{"trimspace", 1, 1, fn_trimspace},
	{"trimprefix", 2, 2, fn_affix},
	{"trimsuffix", 2, 2, fn_affix},
	{"startswith", 2, 2, fn_affix},
	{"endswith", 2, 2, fn_affix},
	{"join", 2, -1, fn_join},
	{"concat", 1, -1, fn_concat},
	{"length", 1, 1, fn_length},
	{"tostring", 1, 1, fn_convert},
	{"tonumber", 1, 1, fn_convert},
	{"tobool", 1, 1, fn_convert},
	{"tolist", 1, 1, fn_convert},
	{"toset", 1, 1, fn_convert},
	{"urlescape", 1, 1, fn_urlescape},
	{"urlqueryset", 3, 3, fn_urlqueryset},
	{NULL, 0, 0, NULL}
};

const funcinfo *
hcl_find_func(const char *name)
{
	const funcinfo *f;

	for (f = funcs; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/*
 * Evaluate a call: its arguments, then the function.  The structure check
 * already refused unknown functions and wrong argument counts, except in
 * locals, which may name an Atlas function we lack: that fails here, when
 * the local is used.
 */
int
hcl_eval_call(evalctx *x, const expr *e, value *out)
{
	const funcinfo *f = hcl_find_func(e->s);
	value	   *args;
	mig_buf		b;
	size_t		i;
	int			rc;

	if (f == NULL)
	{
		if (strcmp(e->s, "file") == 0)
			return hcl_eerr(x, e, MIG_ENOTSUP,
							"function \"file\" is not supported: it would read files on the database server");
		if (in_list(hcl_atlas_funcs, e->s))
			return hcl_eerr(x, e, MIG_ENOTSUP, "function \"%s\" is not supported", e->s);
		return hcl_eerr(x, e, MIG_ECONFIG, "unknown function \"%s\"", e->s);
	}
	args = hcl_arena_zalloc(&x->ar, (e->n ? e->n : 1) * sizeof(value));
	if (args == NULL)
		return hcl_eoom(x);
	for (i = 0; i < e->n; i++)
	{
		if ((rc = hcl_eval(x, e->items[i], &args[i])) != MIG_OK)
			return rc;
		if (args[i].k == V_UNKNOWN)
		{
			*out = args[i];
			return MIG_OK;
		}
	}
	mig_buf_init(&b);
	rc = f->fn(x, e, args, &b, out);
	mig_buf_free(&b);
	return rc;
}
