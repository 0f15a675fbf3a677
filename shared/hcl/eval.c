/*
 * eval.c - expression evaluation (spec §i.1): literals, templates, lists,
 * objects, references (var.x, local.x, atlas.env; data.* and each.* are
 * "not supported yet", §i.2), traversals, operators and conditionals.
 * Calls go to funcs.c.
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <stdlib.h>
#include <string.h>

#include "hcl_int.h"

static int
eval_local(evalctx *x, const expr *at, const char *name, value *out)
{
	long		i = hcl_find_local(x->cfg, name);
	int			rc;

	if (i < 0)
		return hcl_eerr(x, at, MIG_ECONFIG, "reference to undeclared local \"%s\"", name);
	if (x->lstate[i] == 2)
	{
		*out = x->locals[i];
		return MIG_OK;
	}
	if (x->lstate[i] == 1)
		return hcl_eerr(x, at, MIG_ECONFIG, "local \"%s\" refers to itself (through a cycle of locals)", name);
	x->lstate[i] = 1;
	rc = hcl_eval(x, x->cfg->locals[i]->value, &x->locals[i]);
	if (rc != MIG_OK)
		return rc;
	x->lstate[i] = 2;
	*out = x->locals[i];
	return MIG_OK;
}

/* Apply one .name or [index] step to v. */
static int
eval_step(evalctx *x, const expr *step, const value *v, value *out)
{
	size_t		i;
	int			rc;

	if (step->kind == E_ATTR)
	{
		if (v->k != V_MAP)
			return hcl_eerr(x, step, MIG_ECONFIG, "cannot read attribute \"%s\" of a %s", step->s, hcl_kind_name(v->k));
		for (i = 0; i < v->cnt; i++)
			if (strcmp(v->keys[i], step->s) == 0)
			{
				*out = v->items[i];
				return MIG_OK;
			}
		return hcl_eerr(x, step, MIG_ECONFIG, "the object has no attribute \"%s\"", step->s);
	}
	else
	{
		value		idx;

		if ((rc = hcl_eval(x, step->y, &idx)) != MIG_OK)
			return rc;
		if (idx.k == V_UNKNOWN)
		{
			*out = idx;
			return MIG_OK;
		}
		if (v->k == V_LIST)
		{
			double		n;

			if (!hcl_as_number(&idx, &n) || !hcl_is_whole(n))
				return hcl_eerr(x, step, MIG_ECONFIG, "a list index must be a whole number");
			if (n < 0 || n >= (double) v->cnt)
				return hcl_eerr(x, step, MIG_ECONFIG, "index %lld is out of range for a list of %zu elements",
							(long long) n, v->cnt);
			*out = v->items[(size_t) n];
			return MIG_OK;
		}
		if (v->k == V_MAP)
		{
			const char *k;
			size_t		klen;
			bool		ok;

			if ((rc = hcl_as_string(x, &idx, &k, &klen, &ok)) != MIG_OK)
				return rc;
			if (!ok)
				return hcl_eerr(x, step, MIG_ECONFIG, "an object key must be a string");
			for (i = 0; i < v->cnt; i++)
				if (strcmp(v->keys[i], k) == 0)
				{
					*out = v->items[i];
					return MIG_OK;
				}
			return hcl_eerr(x, step, MIG_ECONFIG, "the object has no such key");
		}
		return hcl_eerr(x, step, MIG_ECONFIG, "cannot index a %s", hcl_kind_name(v->k));
	}
}

static int
eval_traversal(evalctx *x, const expr *e, value *out)
{
	const expr *steps[MAX_DEPTH + 1];
	size_t		n,
				first = 0,
				k;
	const expr *root = hcl_traversal_steps(e, steps, &n);
	value		v;
	int			rc;

	if (root->kind == E_IDENT && n > 0 && steps[0]->kind == E_ATTR)
	{
		const char *r = root->s;
		const char *name = steps[0]->s;

		first = 1;
		if (strcmp(r, "var") == 0)
		{
			const vardecl *d = hcl_find_var(x->cfg, name);

			if (d == NULL)
				return hcl_eerr(x, root, MIG_ECONFIG, "reference to undeclared variable \"%s\"", name);
			v = x->vars[d - x->cfg->vars];
		}
		else if (strcmp(r, "local") == 0)
		{
			if ((rc = eval_local(x, root, name, &v)) != MIG_OK)
				return rc;
		}
		else if (strcmp(r, "atlas") == 0 && strcmp(name, "env") == 0)
			v = x->env_unknown ? hcl_v_unknown() : hcl_v_str(x->envname, strlen(x->envname));
		else if (strcmp(r, "data") == 0)
		{
			rc = hcl_eerr(x, root, MIG_ENOTSUP,
					  "data sources are not supported yet (data.%s%s%s is used by env \"%s\")",
					  name, n > 1 && steps[1]->kind == E_ATTR ? "." : "",
					  n > 1 && steps[1]->kind == E_ATTR ? steps[1]->s : "", x->envname);
			mig_err_hint(x->err, "Write the value itself or use a variable, e.g. migration { dir = \"atlas://<name>\" } instead of a remote_dir data source.");
			return rc;
		}
		else if (strcmp(r, "each") == 0)
			return hcl_eerr(x, root, MIG_ENOTSUP, "for_each is not supported yet");
		else
			return hcl_eerr(x, root, MIG_ECONFIG, "unknown variable \"%s\"", r);
	}
	else if ((rc = hcl_eval(x, root, &v)) != MIG_OK)
		return rc;
	for (k = first; k < n && v.k != V_UNKNOWN; k++)
	{
		value		w;

		if ((rc = eval_step(x, steps[k], &v, &w)) != MIG_OK)
			return rc;
		v = w;
	}
	*out = v;
	return MIG_OK;
}

static int
eval_template(evalctx *x, const expr *e, value *out)
{
	const char **parts;
	size_t	   *lens;
	size_t		total = 0,
				i;
	char	   *s;
	int			rc;

	/* "${x}" alone is x itself, whatever its type */
	if (e->n == 1 && e->items[0]->kind != E_STR)
		return hcl_eval(x, e->items[0], out);
	parts = hcl_arena_alloc(&x->ar, e->n * sizeof(char *));
	lens = hcl_arena_alloc(&x->ar, e->n * sizeof(size_t));
	if (parts == NULL || lens == NULL)
		return hcl_eoom(x);
	for (i = 0; i < e->n; i++)
	{
		value		v;
		bool		ok;

		if ((rc = hcl_eval(x, e->items[i], &v)) != MIG_OK)
			return rc;
		if (v.k == V_UNKNOWN)
		{
			*out = v;
			return MIG_OK;
		}
		if (v.k == V_NULL)
			return hcl_eerr(x, e->items[i], MIG_ECONFIG, "cannot interpolate a null value into a string");
		if ((rc = hcl_as_string(x, &v, &parts[i], &lens[i], &ok)) != MIG_OK)
			return rc;
		if (!ok)
			return hcl_eerr(x, e->items[i], MIG_ECONFIG, "cannot interpolate a %s into a string", hcl_kind_name(v.k));
		if (lens[i] > EVAL_LIMIT - total)
		{
			x->ar.over = true;
			return hcl_eoom(x);
		}
		total += lens[i];
	}
	s = hcl_arena_alloc(&x->ar, total + 1);
	if (s == NULL)
		return hcl_eoom(x);
	total = 0;
	for (i = 0; i < e->n; i++)
	{
		memcpy(s + total, parts[i], lens[i]);
		total += lens[i];
	}
	s[total] = '\0';
	*out = hcl_v_str(s, total);
	return MIG_OK;
}

static int
eval_binary(evalctx *x, const expr *e, value *out)
{
	value		a,
				b;
	double		m,
				n,
				r = 0;
	bool		p,
				q;
	int			rc;

	if ((rc = hcl_eval(x, e->x, &a)) != MIG_OK || (rc = hcl_eval(x, e->y, &b)) != MIG_OK)
		return rc;
	if (a.k == V_UNKNOWN || b.k == V_UNKNOWN)
	{
		*out = hcl_v_unknown();
		return MIG_OK;
	}
	switch (e->op)
	{
		case OP_EQ:
			*out = hcl_v_bool(hcl_v_equal(x, &a, &b, 0));
			if (x->work >= EVAL_MAX_WORK)
				return hcl_too_complex(x, e);
			return MIG_OK;
		case OP_NE:
			*out = hcl_v_bool(!hcl_v_equal(x, &a, &b, 0));
			if (x->work >= EVAL_MAX_WORK)
				return hcl_too_complex(x, e);
			return MIG_OK;
		case OP_AND:
		case OP_OR:
			if (!hcl_as_bool(&a, &p) || !hcl_as_bool(&b, &q))
				return hcl_eerr(x, e, MIG_ECONFIG, "the operands of %s must be bools",
							e->op == OP_AND ? "&&" : "||");
			*out = hcl_v_bool(e->op == OP_AND ? (p && q) : (p || q));
			return MIG_OK;
		default:
			break;
	}
	if (!hcl_as_number(&a, &m) || !hcl_as_number(&b, &n))
		return hcl_eerr(x, e, MIG_ECONFIG, "the operands of this operator must be numbers");
	switch (e->op)
	{
		case '<':
			*out = hcl_v_bool(m < n);
			return MIG_OK;
		case '>':
			*out = hcl_v_bool(m > n);
			return MIG_OK;
		case OP_LE:
			*out = hcl_v_bool(m <= n);
			return MIG_OK;
		case OP_GE:
			*out = hcl_v_bool(m >= n);
			return MIG_OK;
		case '+':
			r = m + n;
			break;
		case '-':
			r = m - n;
			break;
		case '*':
			r = m * n;
			break;
		case '/':
			if (n == 0)
				return hcl_eerr(x, e, MIG_ECONFIG, "division by zero");
			r = m / n;
			break;
		case '%':
			if (n == 0)
				return hcl_eerr(x, e, MIG_ECONFIG, "division by zero");
			if (hcl_is_whole(m) && hcl_is_whole(n))
				r = (long long) n == -1 ? 0 : (double) ((long long) m % (long long) n);
			else if (m / n > -9.2e18 && m / n < 9.2e18)
				r = m - n * (double) (long long) (m / n);	/* sign of m, like fmod */
			else
				return hcl_eerr(x, e, MIG_ECONFIG, "number out of range");
			break;
	}
	if (!hcl_is_finite_number(r))
		return hcl_eerr(x, e, MIG_ECONFIG, "number out of range");
	*out = hcl_v_num(r);
	return MIG_OK;
}

static int
eval_list(evalctx *x, const expr *e, value *out)
{
	size_t		i;
	int			rc;

	out->k = V_LIST;
	out->items = hcl_arena_zalloc(&x->ar, (e->n ? e->n : 1) * sizeof(value));
	if (out->items == NULL)
		return hcl_eoom(x);
	for (i = 0; i < e->n; i++)
	{
		if ((rc = hcl_eval(x, e->items[i], &out->items[out->cnt++])) != MIG_OK)
			return rc;
		if (out->items[i].k == V_UNKNOWN)
		{
			*out = hcl_v_unknown();
			return MIG_OK;
		}
	}
	return MIG_OK;
}

/* { key = value, ... }: string keys, each at most once. */
static int
eval_object(evalctx *x, const expr *e, value *out)
{
	size_t		pairs = e->n / 2;
	size_t		i,
				j;
	int			rc;

	out->k = V_MAP;
	out->items = hcl_arena_zalloc(&x->ar, (pairs ? pairs : 1) * sizeof(value));
	out->keys = hcl_arena_zalloc(&x->ar, (pairs ? pairs : 1) * sizeof(char *));
	if (out->items == NULL || out->keys == NULL)
		return hcl_eoom(x);
	for (i = 0; i < pairs; i++)
	{
		value		k;
		size_t		klen;
		bool		ok;

		if ((rc = hcl_eval(x, e->items[2 * i], &k)) != MIG_OK)
			return rc;
		if (k.k == V_UNKNOWN)
		{
			*out = k;
			return MIG_OK;
		}
		if ((rc = hcl_as_string(x, &k, &out->keys[i], &klen, &ok)) != MIG_OK)
			return rc;
		if (!ok)
			return hcl_eerr(x, e->items[2 * i], MIG_ECONFIG, "an object key must be a string");
		if (!hcl_spend(x, (long) i + 1))
			return hcl_too_complex(x, e);
		for (j = 0; j < i; j++)
			if (strcmp(out->keys[j], out->keys[i]) == 0)
				return hcl_eerr(x, e->items[2 * i], MIG_ECONFIG, "duplicate key in object");
		if ((rc = hcl_eval(x, e->items[2 * i + 1], &out->items[i])) != MIG_OK)
			return rc;
		if (out->items[i].k == V_UNKNOWN)
		{
			*out = hcl_v_unknown();
			return MIG_OK;
		}
		out->cnt++;
	}
	return MIG_OK;
}

/* -x and !x */
static int
eval_unary(evalctx *x, const expr *e, value *out)
{
	value		v;
	double		n;
	bool		b;
	int			rc;

	if ((rc = hcl_eval(x, e->x, &v)) != MIG_OK)
		return rc;
	if (v.k == V_UNKNOWN)
	{
		*out = v;
		return MIG_OK;
	}
	if (e->op == '-')
	{
		if (!hcl_as_number(&v, &n))
			return hcl_eerr(x, e, MIG_ECONFIG, "the operand of \"-\" must be a number");
		*out = hcl_v_num(-n);
		return MIG_OK;
	}
	if (!hcl_as_bool(&v, &b))
		return hcl_eerr(x, e, MIG_ECONFIG, "the operand of \"!\" must be a bool");
	*out = hcl_v_bool(!b);
	return MIG_OK;
}

/* c ? y : z evaluates only the branch taken. */
static int
eval_cond(evalctx *x, const expr *e, value *out)
{
	value		c;
	bool		b;
	int			rc;

	if ((rc = hcl_eval(x, e->x, &c)) != MIG_OK)
		return rc;
	if (c.k == V_UNKNOWN)
	{
		*out = c;
		return MIG_OK;
	}
	if (!hcl_as_bool(&c, &b))
		return hcl_eerr(x, e->x, MIG_ECONFIG, "the condition must be a bool, got %s", hcl_kind_name(c.k));
	return hcl_eval(x, b ? e->y : e->z, out);
}

static int
eval_inner(evalctx *x, const expr *e, value *out)
{
	memset(out, 0, sizeof(*out));
	switch (e->kind)
	{
		case E_NULL:
			out->k = V_NULL;
			return MIG_OK;
		case E_BOOL:
			*out = hcl_v_bool(e->bval);
			return MIG_OK;
		case E_NUM:
			*out = hcl_v_num(e->num);
			return MIG_OK;
		case E_STR:
			*out = hcl_v_str(e->s, e->slen);
			return MIG_OK;
		case E_TMPL:
			return eval_template(x, e, out);
		case E_LIST:
			return eval_list(x, e, out);
		case E_OBJECT:
			return eval_object(x, e, out);
		case E_IDENT:
			if (x->enums && in_list(hcl_exec_order_enums, e->s))
			{
				*out = hcl_v_str(e->s, e->slen);
				return MIG_OK;
			}
			return hcl_eerr(x, e, MIG_ECONFIG, "unknown variable \"%s\"", e->s);
		case E_ATTR:
		case E_INDEX:
			return eval_traversal(x, e, out);
		case E_CALL:
			return hcl_eval_call(x, e, out);
		case E_UNARY:
			return eval_unary(x, e, out);
		case E_BINARY:
			return eval_binary(x, e, out);
		case E_COND:
			return eval_cond(x, e, out);
		case E_PAREN:
			return hcl_eval(x, e->x, out);
	}
	return hcl_eerr(x, e, MIG_ECONFIG, "cannot evaluate this expression");
}

int
hcl_eval(evalctx *x, const expr *e, value *out)
{
	int			rc;

	if (++x->depth > EVAL_MAX_DEPTH)
	{
		x->depth--;
		return hcl_eerr(x, e, MIG_ECONFIG, "evaluation nested too deeply (more than %d levels, through locals)",
					EVAL_MAX_DEPTH);
	}
	rc = eval_inner(x, e, out);
	x->depth--;
	return rc;
}
