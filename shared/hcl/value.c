/*
 * value.c - evaluated values (cty's null, bool, number, string, list,
 * object) and the conversions HCL applies between them (spec §i.2
 * "Values are converted to the declared type"), equality, and the work
 * counter that bounds evaluation of shared values.
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcl_int.h"

int
hcl_eerr(evalctx *x, const expr *at, int code, const char *fmt,...)
{
	char		msg[1024];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (x->secret)
		snprintf(msg, sizeof(msg), "cannot evaluate the token attribute (details are hidden: it holds a secret)");
	if (at)
		return mig_err_set(x->err, code, "%d:%d: %s", at->line, at->col, msg);
	return mig_err_set(x->err, code, "%s", msg);
}

/* An allocation in the evaluation arena failed: memory or the size cap. */
int
hcl_eoom(evalctx *x)
{
	if (x->ar.over)
		return mig_err_set(x->err, MIG_ECONFIG,
						   "evaluating the config needs more than %zu MiB of memory",
						   EVAL_LIMIT >> 20);
	return mig_err_set(x->err, MIG_ENOMEM, "out of memory");
}

const char *
hcl_kind_name(vkind k)
{
	switch (k)
	{
		case V_NULL:
			return "null";
		case V_BOOL:
			return "bool";
		case V_NUM:
			return "number";
		case V_STR:
			return "string";
		case V_LIST:
			return "list";
		case V_MAP:
			return "object";
		case V_UNKNOWN:
			return "value known only when called";
	}
	return "value";
}

value
hcl_v_str(const char *s, size_t len)
{
	value		v;

	memset(&v, 0, sizeof(v));
	v.k = V_STR;
	v.s = s;
	v.len = len;
	return v;
}

value
hcl_v_num(double n)
{
	value		v;

	memset(&v, 0, sizeof(v));
	v.k = V_NUM;
	v.n = n;
	return v;
}

value
hcl_v_unknown(void)
{
	value		v;

	memset(&v, 0, sizeof(v));
	v.k = V_UNKNOWN;
	return v;
}

value
hcl_v_bool(bool b)
{
	value		v;

	memset(&v, 0, sizeof(v));
	v.k = V_BOOL;
	v.b = b;
	return v;
}

bool
hcl_is_finite_number(double n)
{
	return n == n && n - n == 0;
}

/* n is a whole number that fits a long long (checked before casting). */
bool
hcl_is_whole(double n)
{
	return n > -9.2e18 && n < 9.2e18 && n == (double) (long long) n;
}

/* A number as cty prints it: integers without a point, others shortest. */
static void
fmt_number(double n, char *buf, size_t size)
{
	const char *dp = localeconv()->decimal_point;
	char	   *q;
	int			prec;

	if (n == 0)
		snprintf(buf, size, "0");
	else if (n > -1e18 && n < 1e18 && n == (double) (long long) n)
		snprintf(buf, size, "%lld", (long long) n);
	else if (n <= -1e18 || n >= 1e18)
		snprintf(buf, size, "%.0f", n);
	else
	{
		for (prec = 1; prec <= 40; prec++)
		{
			char	   *end;

			snprintf(buf, size, "%.*f", prec, n);
			if (strtod(buf, &end) == n)
				break;
		}
		if (prec > 40)
			snprintf(buf, size, "%.17g", n);
	}
	if (dp && dp[0] && dp[0] != '.' && (q = strchr(buf, dp[0])) != NULL)
		*q = '.';
}

/*
 * The string form of a primitive value (cty's conversion to string).
 * Returns false for null, lists and objects.
 */
int
hcl_as_string(evalctx *x, const value *v, const char **s, size_t *len, bool *ok)
{
	char		buf[512];

	*ok = true;
	switch (v->k)
	{
		case V_STR:
			*s = v->s;
			*len = v->len;
			return MIG_OK;
		case V_BOOL:
			*s = v->b ? "true" : "false";
			*len = strlen(*s);
			return MIG_OK;
		case V_NUM:
			fmt_number(v->n, buf, sizeof(buf));
			*len = strlen(buf);
			if ((*s = hcl_arena_strndup(&x->ar, buf, *len)) == NULL)
				return hcl_eoom(x);
			return MIG_OK;
		default:
			*ok = false;
			return MIG_OK;
	}
}

bool
hcl_as_number(const value *v, double *n)
{
	if (v->k == V_NUM)
	{
		*n = v->n;
		return true;
	}
	if (v->k == V_STR)
		return hcl_parse_number(v->s, v->len, n);
	return false;
}

bool
hcl_as_bool(const value *v, bool *b)
{
	if (v->k == V_BOOL)
	{
		*b = v->b;
		return true;
	}
	if (v->k == V_STR && strcmp(v->s, "true") == 0)
	{
		*b = true;
		return true;
	}
	if (v->k == V_STR && strcmp(v->s, "false") == 0)
	{
		*b = false;
		return true;
	}
	return false;
}

/*
 * Values are shared, not copied, so a small config can describe a huge
 * tree (a list of two references to a list of two references ...).
 * Walks over values count their steps; past EVAL_MAX_WORK they stop.
 */
bool
hcl_spend(evalctx *x, long n)
{
	if (x->work > EVAL_MAX_WORK - n)
	{
		x->work = EVAL_MAX_WORK;
		return false;
	}
	x->work += n;
	return true;
}

int
hcl_too_complex(evalctx *x, const expr *at)
{
	return hcl_eerr(x, at, MIG_ECONFIG, "the config is too complex to evaluate (more than %ld steps)",
				EVAL_MAX_WORK);
}

/* Deep equality (==): values of different kinds are never equal. */
bool
hcl_v_equal(evalctx *x, const value *a, const value *b, int depth)
{
	size_t		i;

	if (a->k != b->k || depth > EVAL_MAX_DEPTH || !hcl_spend(x, 1))
		return false;
	switch (a->k)
	{
		case V_NULL:
			return true;
		case V_UNKNOWN:
			return false;
		case V_BOOL:
			return a->b == b->b;
		case V_NUM:
			return a->n == b->n;
		case V_STR:
			return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
		case V_LIST:
		case V_MAP:
			if (a->cnt != b->cnt)
				return false;
			for (i = 0; i < a->cnt; i++)
			{
				if (a->k == V_MAP && strcmp(a->keys[i], b->keys[i]) != 0)
					return false;
				if (!hcl_v_equal(x, &a->items[i], &b->items[i], depth + 1))
					return false;
			}
			return true;
	}
	return false;
}

/* A primitive target type: string, number or bool. */
static int
convert_primitive(evalctx *x, const value *v, tkind k, value *out, char *why, size_t wsize)
{
	const char *s;
	size_t		len;
	bool		ok;
	double		n;
	bool		b;
	int			rc;

	switch (k)
	{
		case TY_STRING:
			if ((rc = hcl_as_string(x, v, &s, &len, &ok)) != MIG_OK)
				return rc;
			if (!ok)
				snprintf(why, wsize, "a string is required, got a %s", hcl_kind_name(v->k));
			else
				*out = hcl_v_str(s, len);
			return MIG_OK;
		case TY_NUMBER:
			if (!hcl_as_number(v, &n))
				snprintf(why, wsize, "a number is required%s",
						 v->k == V_STR ? " (the string is not a decimal number)" : "");
			else
				*out = hcl_v_num(n);
			return MIG_OK;
		case TY_BOOL:
			if (!hcl_as_bool(v, &b))
				snprintf(why, wsize, "a bool is required%s",
						 v->k == V_STR ? " (only the strings \"true\" and \"false\" convert)" : "");
			else
				*out = hcl_v_bool(b);
			return MIG_OK;
		default:
			*out = *v;
			return MIG_OK;
	}
}

/* list(T) or set(T): each element converted; a set drops duplicates. */
static int
convert_list(evalctx *x, const value *v, const htype *t, value *out, char *why, size_t wsize, int depth)
{
	value		r;
	size_t		i,
				j;
	int			rc;

	if (v->k != V_LIST)
	{
		snprintf(why, wsize, "a %s is required, got a %s", t->k == TY_LIST ? "list" : "set",
				 hcl_kind_name(v->k));
		return MIG_OK;
	}
	memset(&r, 0, sizeof(r));
	r.k = V_LIST;
	r.items = hcl_arena_zalloc(&x->ar, (v->cnt ? v->cnt : 1) * sizeof(value));
	if (r.items == NULL)
		return hcl_eoom(x);
	for (i = 0; i < v->cnt; i++)
	{
		char		sub[256];

		if ((rc = hcl_convert(x, &v->items[i], t->elem, &r.items[r.cnt], sub, sizeof(sub), depth + 1)) != MIG_OK)
			return rc;
		if (sub[0])
		{
			snprintf(why, wsize, "element %zu: %.200s", i, sub);
			return MIG_OK;
		}
		if (t->k == TY_SET)
		{
			for (j = 0; j < r.cnt; j++)
				if (hcl_v_equal(x, &r.items[j], &r.items[r.cnt], 0))
					break;
			if (x->work >= EVAL_MAX_WORK)
			{
				snprintf(why, wsize, "value too complex to convert (more than %ld steps)", EVAL_MAX_WORK);
				return MIG_OK;
			}
			if (j < r.cnt)
				continue;
		}
		r.cnt++;
	}
	*out = r;
	return MIG_OK;
}

/* map(T): each value converted, keys kept. */
static int
convert_map(evalctx *x, const value *v, const htype *t, value *out, char *why, size_t wsize, int depth)
{
	value		r;
	size_t		i;
	int			rc;

	if (v->k != V_MAP)
	{
		snprintf(why, wsize, "a map is required, got a %s", hcl_kind_name(v->k));
		return MIG_OK;
	}
	r = *v;
	r.items = hcl_arena_zalloc(&x->ar, (v->cnt ? v->cnt : 1) * sizeof(value));
	if (r.items == NULL)
		return hcl_eoom(x);
	for (i = 0; i < v->cnt; i++)
	{
		char		sub[256];

		if ((rc = hcl_convert(x, &v->items[i], t->elem, &r.items[i], sub, sizeof(sub), depth + 1)) != MIG_OK)
			return rc;
		if (sub[0])
		{
			snprintf(why, wsize, "key \"%.64s\": %.200s", v->keys[i], sub);
			return MIG_OK;
		}
	}
	*out = r;
	return MIG_OK;
}

/*
 * Convert v to the declared type t (cty's conversion rules for the types
 * we have).  On mismatch *why says what was required (no value is quoted).
 */
int
hcl_convert(evalctx *x, const value *v, const htype *t, value *out, char *why, size_t wsize, int depth)
{
	why[0] = '\0';
	if (depth > EVAL_MAX_DEPTH)
	{
		snprintf(why, wsize, "value nested too deeply");
		return MIG_OK;
	}
	if (!hcl_spend(x, 1) || x->work >= EVAL_MAX_WORK)
	{
		snprintf(why, wsize, "value too complex to convert (more than %ld steps)", EVAL_MAX_WORK);
		return MIG_OK;
	}
	if (v->k == V_NULL || v->k == V_UNKNOWN || t->k == TY_ANY)
	{
		*out = *v;
		return MIG_OK;
	}
	if (t->k == TY_LIST || t->k == TY_SET)
		return convert_list(x, v, t, out, why, wsize, depth);
	if (t->k == TY_MAP)
		return convert_map(x, v, t, out, why, wsize, depth);
	return convert_primitive(x, v, t->k, out, why, wsize);
}

