/*
 * check.c - the structure check (spec §i.1, §i.2) and mig_hcl_parse: known
 * blocks and attributes per block, labels, variable types, duplicate
 * declarations, and in the attributes apply evaluates: known functions with
 * their argument counts and references to declared variables, locals and
 * data sources.  Every problem is MIG_ECONFIG "L:C: ...".
 *
 * Attributes and blocks Atlas defines but apply ignores (the ignored_*
 * tables) are parsed for syntax only: they may use functions and data
 * sources we do not implement without making the config unusable here.
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcl_int.h"

/*
 * Top-level blocks Atlas defines that apply does not use: accepted, syntax
 * only.  (`data` and `locals` are handled, not ignored.)
 */
static const char *const ignored_top[] = {"lint", "diff", "docker", NULL};

/* In env: read by other Atlas commands, ignored by apply (§i.2). */
static const char *const ignored_env[] = {
	"dev", "src", "schemas", "exclude", "lint", "diff", "test", "format", "log", NULL
};

/* In env.migration: ignored by apply (§i.2). */
static const char *const ignored_migration[] = {"exclude", "repo", "format", NULL};

static const char *const env_attrs[] = {"name", "url", "for_each", NULL};
static const char *const migration_attrs[] = {
	"dir", "revisions_schema", "baseline", "exec_order", "lock_timeout", "tx_mode", NULL
};
static const char *const cloud_attrs[] = {"token", "url", "project", "ca_file", "timeout", NULL};
static const char *const variable_attrs[] = {"type", "default", "description", NULL};

/* Scoped enum words of migration.exec_order (§i.1). */
const char *const hcl_exec_order_enums[] = {"LINEAR", "LINEAR_SKIP", "NON_LINEAR", NULL};

/* ---------------------------------------------------------------- structural check */

const attr *
hcl_find_attr(const body *b, const char *name)
{
	size_t		i;

	for (i = 0; i < b->nattrs; i++)
		if (strcmp(b->attrs[i]->name, name) == 0)
			return b->attrs[i];
	return NULL;
}

const vardecl *
hcl_find_var(const mig_config *cfg, const char *name)
{
	size_t		lo = 0,
				hi = cfg->nvars;

	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;
		int			c = strcmp(name, cfg->vars[mid].name);

		if (c == 0)
			return &cfg->vars[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

long
hcl_find_local(const mig_config *cfg, const char *name)
{
	size_t		lo = 0,
				hi = cfg->nlocals;

	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;
		int			c = strcmp(name, cfg->locals[mid]->name);

		if (c == 0)
			return (long) mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static int
cmp_labels(const block *k, const char *type, const char *name)
{
	int			c = strcmp(type, k->labels[0]);

	return c ? c : strcmp(name, k->labels[1]);
}

static const block *
find_data(const mig_config *cfg, const char *type, const char *name)
{
	size_t		lo = 0,
				hi = cfg->ndata;

	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;
		int			c = cmp_labels(cfg->data[mid], type, name);

		if (c == 0)
			return cfg->data[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Order data blocks by type and name, then position. */
static int
cmp_data(const void *a, const void *b)
{
	const block *x = *(const block *const *) a;
	const block *y = *(const block *const *) b;
	int			c = cmp_labels(y, x->labels[0], x->labels[1]);

	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->col < y->col ? -1 : x->col > y->col;
}

/* What a checked expression may refer to. */
typedef struct refscope
{
	bool		vars;			/* var.*, local.*, data.* */
	bool		each;			/* each.key / each.value (env with for_each) */
	bool		enums;			/* LINEAR, LINEAR_SKIP, NON_LINEAR */
	bool		lazy;			/* a local: Atlas functions we lack fail only if used */
	bool		secret;			/* the token: messages name nothing from the source */
} refscope;

static int	check_expr(parser *p, const mig_config *cfg, const refscope *sc, const expr *e);

/* Check a traversal root and its first steps: var.x, local.x, atlas.env, ... */
static int
check_ref(parser *p, const mig_config *cfg, const refscope *sc,
		  const expr *root, const expr *const *steps, size_t nsteps)
{
	const char *r = root->s;
	const expr *s0 = nsteps > 0 ? steps[0] : NULL;
	bool		named = s0 && s0->kind == E_ATTR;
	bool		special = strcmp(r, "var") == 0 || strcmp(r, "local") == 0 ||
		strcmp(r, "atlas") == 0 || strcmp(r, "data") == 0 || strcmp(r, "each") == 0;

	if (sc->secret)
	{
		/* same rules, no names: the text might be the token itself */
		bool		ok = special && named;

		if (ok && strcmp(r, "atlas") == 0)
			ok = strcmp(s0->s, "env") == 0;
		else if (ok && strcmp(r, "var") == 0)
			ok = hcl_find_var(cfg, s0->s) != NULL;
		else if (ok && strcmp(r, "local") == 0)
			ok = hcl_find_local(cfg, s0->s) >= 0;
		else if (ok && strcmp(r, "data") == 0)
			ok = nsteps >= 2 && steps[1]->kind == E_ATTR && find_data(cfg, s0->s, steps[1]->s);
		else if (ok)
			ok = false;			/* each.* cannot be used in cloud */
		if (!ok)
			return hcl_perr(p, root->line, root->col, "unknown or undeclared reference in the token attribute");
		return MIG_OK;
	}
	if (!special)
		return hcl_perr(p, root->line, root->col, "unknown variable \"%s\"", r);
	if (!named)
		return hcl_perr(p, root->line, root->col, "invalid reference: \"%s\" must be followed by \".<name>\"", r);
	if (strcmp(r, "atlas") == 0)
	{
		if (strcmp(s0->s, "env") != 0)
			return hcl_perr(p, s0->line, s0->col, "unknown attribute \"%s\" of atlas: only atlas.env is defined", s0->s);
		return MIG_OK;
	}
	if (!sc->vars)
	{
		if (strcmp(r, "each") == 0)
			return hcl_perr(p, root->line, root->col, "each.%s can only be used in an env block with for_each", s0->s);
		return hcl_perr(p, root->line, root->col, "a variable default cannot refer to %s.%s", r, s0->s);
	}
	if (strcmp(r, "var") == 0)
	{
		if (hcl_find_var(cfg, s0->s) == NULL)
			return hcl_perr(p, root->line, root->col, "reference to undeclared variable \"%s\"", s0->s);
	}
	else if (strcmp(r, "local") == 0)
	{
		if (hcl_find_local(cfg, s0->s) < 0)
			return hcl_perr(p, root->line, root->col, "reference to undeclared local \"%s\"", s0->s);
	}
	else if (strcmp(r, "each") == 0)
	{
		if (!sc->each)
			return hcl_perr(p, root->line, root->col, "each.%s can only be used in an env block with for_each", s0->s);
		if (strcmp(s0->s, "key") != 0 && strcmp(s0->s, "value") != 0)
			return hcl_perr(p, s0->line, s0->col, "unknown attribute \"%s\" of each: use each.key or each.value", s0->s);
	}
	else
	{
		/* data.<type>.<name> */
		if (nsteps < 2 || steps[1]->kind != E_ATTR)
			return hcl_perr(p, root->line, root->col, "invalid reference: data sources are referred to as data.<type>.<name>");
		if (find_data(cfg, s0->s, steps[1]->s) == NULL)
			return hcl_perr(p, root->line, root->col, "reference to undeclared data source \"data.%s.%s\"",
						s0->s, steps[1]->s);
	}
	return MIG_OK;
}

/* A traversal x.a[i].b: its root reference, then the index expressions. */
static int
check_traversal(parser *p, const mig_config *cfg, const refscope *sc, const expr *e)
{
	const expr *steps[MAX_DEPTH + 1];
	size_t		n,
				k;
	const expr *root = hcl_traversal_steps(e, steps, &n);
	int			rc;

	if (root->kind == E_IDENT)
		rc = check_ref(p, cfg, sc, root, steps, n);
	else
		rc = check_expr(p, cfg, sc, root);
	if (rc != MIG_OK)
		return rc;
	for (k = 0; k < n; k++)
		if (steps[k]->kind == E_INDEX &&
			(rc = check_expr(p, cfg, sc, steps[k]->y)) != MIG_OK)
			return rc;
	return MIG_OK;
}

/* A call: a function we implement, with a count of arguments it takes. */
static int
check_call(parser *p, const refscope *sc, const expr *e)
{
	const funcinfo *f = hcl_find_func(e->s);

	if (strcmp(e->s, "getenv") == 0)
		p->uses_getenv = true;
	if (f == NULL && sc->lazy && (strcmp(e->s, "file") == 0 || in_list(hcl_atlas_funcs, e->s)))
		return MIG_OK;
	if (f == NULL && sc->secret)
		return hcl_perr(p, e->line, e->col, "unknown function in the token attribute");
	if (f == NULL)
	{
		if (strcmp(e->s, "file") == 0)
			return hcl_perr(p, e->line, e->col,
							"function \"file\" is not supported: it would read files on the database server");
		if (in_list(hcl_atlas_funcs, e->s))
			return hcl_perr(p, e->line, e->col, "function \"%s\" is not supported", e->s);
		return hcl_perr(p, e->line, e->col, "unknown function \"%s\"", e->s);
	}
	if ((int) e->n >= f->min && (f->max < 0 || (int) e->n <= f->max))
		return MIG_OK;
	if (f->min == f->max)
		return hcl_perr(p, e->line, e->col, "function \"%s\" takes %d argument%s, got %zu",
						f->name, f->min, f->min == 1 ? "" : "s", e->n);
	return hcl_perr(p, e->line, e->col, "function \"%s\" takes at least %d argument%s, got %zu",
					f->name, f->min, f->min == 1 ? "" : "s", e->n);
}

/*
 * Check an expression apply may evaluate: known functions with the right
 * number of arguments, references to declared things.  Recursion is bounded
 * by the tree height (MAX_DEPTH).
 */
static int
check_expr(parser *p, const mig_config *cfg, const refscope *sc, const expr *e)
{
	const expr *none = NULL;
	size_t		i;
	int			rc;

	if (e == NULL)
		return MIG_OK;
	switch (e->kind)
	{
		case E_NULL:
		case E_BOOL:
		case E_NUM:
		case E_STR:
			return MIG_OK;
		case E_IDENT:
			if (sc->enums && in_list(hcl_exec_order_enums, e->s))
				return MIG_OK;
			return check_ref(p, cfg, sc, e, &none, 0);
		case E_ATTR:
		case E_INDEX:
			return check_traversal(p, cfg, sc, e);
		case E_CALL:
			if ((rc = check_call(p, sc, e)) != MIG_OK)
				return rc;
			/* FALLTHROUGH */
		case E_TMPL:
		case E_LIST:
		case E_OBJECT:
			for (i = 0; i < e->n; i++)
				if ((rc = check_expr(p, cfg, sc, e->items[i])) != MIG_OK)
					return rc;
			return MIG_OK;
		case E_UNARY:
		case E_BINARY:
		case E_COND:
		case E_PAREN:
			if ((rc = check_expr(p, cfg, sc, e->x)) != MIG_OK ||
				(rc = check_expr(p, cfg, sc, e->y)) != MIG_OK ||
				(rc = check_expr(p, cfg, sc, e->z)) != MIG_OK)
				return rc;
			return MIG_OK;
	}
	return MIG_OK;
}

/* Quote at most 80 bytes of source text for an "invalid type" message. */
static void
src_snippet(const parser *p, const expr *e, char *buf, size_t size)
{
	size_t		a = e->start,
				b = e->end > e->start ? e->end : e->start;
	size_t		n;

	while (b > a && is_tmpl_space(p->src[b - 1]))
		b--;
	n = b - a;
	if (n > 80)
		n = 80;
	if (n >= size)
		n = size - 1;
	memcpy(buf, p->src + a, n);
	buf[n] = '\0';
	/* keep it on one line */
	for (a = 0; a < n; a++)
		if (buf[a] == '\n' || buf[a] == '\r' || buf[a] == '"')
			buf[a] = ' ';
}

/* A variable's type expression (§i.2): string, number, bool, list(T), set(T), map(T). */
static int
parse_type(parser *p, const expr *top, const expr *e, const char *var, const htype **out)
{
	htype	   *t = hcl_arena_zalloc(p->ar, sizeof(htype));
	char		buf[96];
	int			rc;

	if (t == NULL)
		return hcl_poom(p);
	if (e->kind == E_IDENT)
	{
		if (strcmp(e->s, "string") == 0)
			t->k = TY_STRING;
		else if (strcmp(e->s, "number") == 0 || strcmp(e->s, "int") == 0)
			t->k = TY_NUMBER;
		else if (strcmp(e->s, "bool") == 0)
			t->k = TY_BOOL;
		else
			goto bad;
	}
	else if (e->kind == E_CALL && e->n == 1 &&
			 (strcmp(e->s, "list") == 0 || strcmp(e->s, "set") == 0 || strcmp(e->s, "map") == 0))
	{
		t->k = e->s[0] == 'l' ? TY_LIST : e->s[0] == 's' ? TY_SET : TY_MAP;
		if ((rc = parse_type(p, top, e->items[0], var, &t->elem)) != MIG_OK)
			return rc;
	}
	else
		goto bad;
	*out = t;
	return MIG_OK;
bad:
	src_snippet(p, top, buf, sizeof(buf));
	return hcl_perr(p, top->line, top->col,
				"invalid type \"%s\" for variable \"%s\". Valid types are: string, number, bool, list, map, or set",
				buf, var);
}

static int
cmp_vardecl(const void *a, const void *b)
{
	const vardecl *x = a;
	const vardecl *y = b;
	int			c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->blk->line != y->blk->line)
		return x->blk->line < y->blk->line ? -1 : 1;
	return x->blk->col < y->blk->col ? -1 : x->blk->col > y->blk->col;
}

/* Labels rule for a block type. */
static int
want_labels(parser *p, const block *k, size_t min, size_t max, const char *how)
{
	if (k->nlabels < min || k->nlabels > max)
		return hcl_perr(p, k->line, k->col, "%s block %s", k->type, how);
	return MIG_OK;
}

/*
 * Check a body against its schema: attrs are the known attributes,
 * ignored are names (attribute or block) accepted and not used, blocks
 * the known nested block types.  Unknown names fail with their position.
 */
static int
check_body(parser *p, const body *b, const char *where, const char *const *attrs,
		   const char *const *ignored, const char *const *blocks)
{
	static const char *const none[] = {NULL};
	size_t		i;

	attrs = attrs ? attrs : none;
	ignored = ignored ? ignored : none;
	blocks = blocks ? blocks : none;
	for (i = 0; i < b->nattrs; i++)
	{
		const attr *a = b->attrs[i];

		if (in_list(attrs, a->name) || in_list(ignored, a->name))
			continue;
		if (in_list(blocks, a->name))
			return hcl_perr(p, a->line, a->col, "\"%s\" is a block, not an attribute, in %s", a->name, where);
		return hcl_perr(p, a->line, a->col, "unknown attribute \"%s\" in %s", a->name, where);
	}
	for (i = 0; i < b->nblocks; i++)
	{
		const block *k = b->blocks[i];

		if (in_list(blocks, k->type) || in_list(ignored, k->type))
			continue;
		if (in_list(attrs, k->type))
			return hcl_perr(p, k->line, k->col, "\"%s\" is an attribute, not a block, in %s", k->type, where);
		return hcl_perr(p, k->line, k->col, "unknown block \"%s\" in %s", k->type, where);
	}
	return MIG_OK;
}

/* At most one nested block of this type; returns it (or NULL). */
static int
single_block(parser *p, const body *b, const char *type, const char *where, const block **out)
{
	size_t		i;

	*out = NULL;
	for (i = 0; i < b->nblocks; i++)
	{
		const block *k = b->blocks[i];

		if (strcmp(k->type, type) != 0)
			continue;
		if (*out)
			return hcl_perr(p, k->line, k->col, "duplicate %s block in %s (first defined at %d:%d)",
						type, where, (*out)->line, (*out)->col);
		if (k->nlabels)
			return hcl_perr(p, k->line, k->col, "%s block takes no labels", type);
		*out = k;
	}
	return MIG_OK;
}

static int
check_attrs(parser *p, const mig_config *cfg, const body *b, const char *const *names,
			const refscope *sc)
{
	size_t		i;
	int			rc;

	for (i = 0; i < b->nattrs; i++)
		if (in_list(names, b->attrs[i]->name) &&
			(rc = check_expr(p, cfg, sc, b->attrs[i]->value)) != MIG_OK)
			return rc;
	return MIG_OK;
}

bool
hcl_is_atlas_env_ref(const expr *e)
{
	return e->kind == E_ATTR && strcmp(e->s, "env") == 0 &&
		e->x->kind == E_IDENT && strcmp(e->x->s, "atlas") == 0;
}

static int
check_env(parser *p, const mig_config *cfg, const block *k)
{
	const block *mig;
	const attr *name = hcl_find_attr(&k->body, "name");
	refscope	sc = {true, false, false, false, false};
	int			rc;

	if ((rc = want_labels(p, k, 0, 1, "takes at most one label (its name)")) != MIG_OK)
		return rc;
	if (k->nlabels == 1 && name)
		return hcl_perr(p, name->line, name->col,
					"env \"%s\" has a label, so it cannot also have a name attribute", k->labels[0]);
	if ((rc = check_body(p, &k->body, "env block", env_attrs, ignored_env,
						 (const char *const[]) {"migration", NULL})) != MIG_OK)
		return rc;
	sc.each = hcl_find_attr(&k->body, "for_each") != NULL;
	if ((rc = check_attrs(p, cfg, &k->body, env_attrs, &sc)) != MIG_OK)
		return rc;
	if ((rc = single_block(p, &k->body, "migration", "env block", &mig)) != MIG_OK)
		return rc;
	if (mig)
	{
		size_t		i;

		if ((rc = check_body(p, &mig->body, "migration block", migration_attrs,
							 ignored_migration, NULL)) != MIG_OK)
			return rc;
		for (i = 0; i < mig->body.nattrs; i++)
		{
			const attr *a = mig->body.attrs[i];

			sc.enums = strcmp(a->name, "exec_order") == 0;
			if (in_list(migration_attrs, a->name) &&
				(rc = check_expr(p, cfg, &sc, a->value)) != MIG_OK)
				return rc;
		}
	}
	return MIG_OK;
}

/* How many of each top-level block: the sizes of the declaration arrays. */
typedef struct topcount
{
	size_t		nvars;
	size_t		nlocals;
	size_t		ndata;
	size_t		nenvs;
	const block *atlas;			/* the atlas block, or NULL */
} topcount;

/* Known top-level blocks with their labels; count the declarations. */
static int
check_top(parser *p, const body *root, topcount *n)
{
	size_t		i;
	int			rc;

	memset(n, 0, sizeof(*n));
	if (root->nattrs)
		return hcl_perr(p, root->attrs[0]->line, root->attrs[0]->col,
						"unknown attribute \"%s\" at the top level", root->attrs[0]->name);
	for (i = 0; i < root->nblocks; i++)
	{
		const block *k = root->blocks[i];

		if (strcmp(k->type, "variable") == 0)
		{
			if ((rc = want_labels(p, k, 1, 1, "needs exactly one label (its name)")) != MIG_OK)
				return rc;
			n->nvars++;
		}
		else if (strcmp(k->type, "locals") == 0)
		{
			if ((rc = want_labels(p, k, 0, 0, "takes no labels")) != MIG_OK)
				return rc;
			if (k->body.nblocks)
				return hcl_perr(p, k->body.blocks[0]->line, k->body.blocks[0]->col,
								"unknown block \"%s\" in locals block", k->body.blocks[0]->type);
			n->nlocals += k->body.nattrs;
		}
		else if (strcmp(k->type, "data") == 0)
		{
			if ((rc = want_labels(p, k, 2, 2, "needs two labels (type and name)")) != MIG_OK)
				return rc;
			n->ndata++;
		}
		else if (strcmp(k->type, "env") == 0)
			n->nenvs++;
		else if (strcmp(k->type, "atlas") == 0)
		{
			if ((rc = want_labels(p, k, 0, 0, "takes no labels")) != MIG_OK)
				return rc;
			if (n->atlas)
				return hcl_perr(p, k->line, k->col, "duplicate atlas block (first defined at %d:%d)",
								n->atlas->line, n->atlas->col);
			n->atlas = k;
		}
		else if (!in_list(ignored_top, k->type))
			return hcl_perr(p, k->line, k->col, "unknown block type \"%s\"", k->type);
	}
	return MIG_OK;
}

/* Fill cfg's declaration arrays (variables, locals, data, envs). */
static int
collect_decls(parser *p, mig_config *cfg, const topcount *n)
{
	const body *root = &cfg->root;
	size_t		i,
				j;

	cfg->vars = hcl_arena_zalloc(p->ar, (n->nvars ? n->nvars : 1) * sizeof(vardecl));
	cfg->locals = hcl_arena_zalloc(p->ar, (n->nlocals ? n->nlocals : 1) * sizeof(attr *));
	cfg->data = hcl_arena_zalloc(p->ar, (n->ndata ? n->ndata : 1) * sizeof(block *));
	cfg->envs = hcl_arena_zalloc(p->ar, (n->nenvs ? n->nenvs : 1) * sizeof(block *));
	if (!cfg->vars || !cfg->locals || !cfg->data || !cfg->envs)
		return hcl_poom(p);
	for (i = 0; i < root->nblocks; i++)
	{
		const block *k = root->blocks[i];

		if (strcmp(k->type, "variable") == 0)
		{
			cfg->vars[cfg->nvars].name = k->labels[0];
			cfg->vars[cfg->nvars].blk = k;
			cfg->nvars++;
		}
		else if (strcmp(k->type, "locals") == 0)
			for (j = 0; j < k->body.nattrs; j++)
				cfg->locals[cfg->nlocals++] = k->body.attrs[j];
		else if (strcmp(k->type, "data") == 0)
			cfg->data[cfg->ndata++] = k;
		else if (strcmp(k->type, "env") == 0)
			cfg->envs[cfg->nenvs++] = k;
	}
	return MIG_OK;
}

/* Sort the declarations for lookups; a name declared twice is an error. */
static int
sort_decls(parser *p, mig_config *cfg)
{
	size_t		i;

	qsort(cfg->vars, cfg->nvars, sizeof(vardecl), cmp_vardecl);
	for (i = 1; i < cfg->nvars; i++)
		if (strcmp(cfg->vars[i - 1].name, cfg->vars[i].name) == 0)
			return hcl_perr(p, cfg->vars[i].blk->line, cfg->vars[i].blk->col,
							"variable \"%s\" is declared twice (first at %d:%d)", cfg->vars[i].name,
							cfg->vars[i - 1].blk->line, cfg->vars[i - 1].blk->col);
	qsort((void *) cfg->locals, cfg->nlocals, sizeof(attr *), hcl_cmp_attr);
	for (i = 1; i < cfg->nlocals; i++)
		if (strcmp(cfg->locals[i - 1]->name, cfg->locals[i]->name) == 0)
			return hcl_perr(p, cfg->locals[i]->line, cfg->locals[i]->col,
							"local \"%s\" is defined twice (first at %d:%d)", cfg->locals[i]->name,
							cfg->locals[i - 1]->line, cfg->locals[i - 1]->col);
	qsort((void *) cfg->data, cfg->ndata, sizeof(block *), cmp_data);
	for (i = 1; i < cfg->ndata; i++)
		if (cmp_labels(cfg->data[i - 1], cfg->data[i]->labels[0], cfg->data[i]->labels[1]) == 0)
			return hcl_perr(p, cfg->data[i]->line, cfg->data[i]->col,
							"data \"%s\" \"%s\" is declared twice (first at %d:%d)",
							cfg->data[i]->labels[0], cfg->data[i]->labels[1],
							cfg->data[i - 1]->line, cfg->data[i - 1]->col);
	return MIG_OK;
}

/* Variable blocks (§i.2): attributes, type, and the default's expression. */
static int
check_variables(parser *p, mig_config *cfg)
{
	static htype any = {TY_ANY, NULL};
	refscope	vsc = {false, false, false, false, false};
	size_t		i;
	int			rc;

	for (i = 0; i < cfg->nvars; i++)
	{
		vardecl    *v = &cfg->vars[i];
		const attr *type;

		if ((rc = check_body(p, &v->blk->body, "variable block", variable_attrs, NULL, NULL)) != MIG_OK)
			return rc;
		type = hcl_find_attr(&v->blk->body, "type");
		v->def = hcl_find_attr(&v->blk->body, "default");
		v->type = &any;
		if (type && (rc = parse_type(p, type->value, type->value, v->name, &v->type)) != MIG_OK)
			return rc;
		if (v->def && (rc = check_expr(p, cfg, &vsc, v->def->value)) != MIG_OK)
			return rc;
	}
	return MIG_OK;
}

/* atlas { cloud { token, url, project, ca_file, timeout } } (§i.2). */
static int
check_atlas(parser *p, mig_config *cfg, const block *atlas)
{
	refscope	sc = {true, false, false, false, false};
	refscope	tsc = {true, false, false, false, true};
	const attr *token;
	int			rc;

	if ((rc = check_body(p, &atlas->body, "atlas block", NULL, NULL,
						 (const char *const[]) {"cloud", NULL})) != MIG_OK)
		return rc;
	if ((rc = single_block(p, &atlas->body, "cloud", "atlas block", &cfg->cloud)) != MIG_OK)
		return rc;
	if (cfg->cloud == NULL)
		return MIG_OK;
	if ((rc = check_body(p, &cfg->cloud->body, "cloud block", cloud_attrs, NULL, NULL)) != MIG_OK)
		return rc;
	token = hcl_find_attr(&cfg->cloud->body, "token");
	if (token == NULL)
		return hcl_perr(p, cfg->cloud->line, cfg->cloud->col,
						"missing required attribute \"token\" in cloud block");
	if ((rc = check_attrs(p, cfg, &cfg->cloud->body, cloud_attrs + 1, &sc)) != MIG_OK)
		return rc;
	return check_expr(p, cfg, &tsc, token->value);
}

/* The whole-file check (everything mig_hcl_parse promises). */
static int
check_config(parser *p, mig_config *cfg)
{
	refscope	lsc = {true, false, false, true, false};
	topcount	n;
	size_t		i;
	int			rc;

	if ((rc = check_top(p, &cfg->root, &n)) != MIG_OK ||
		(rc = collect_decls(p, cfg, &n)) != MIG_OK ||
		(rc = sort_decls(p, cfg)) != MIG_OK ||
		(rc = check_variables(p, cfg)) != MIG_OK)
		return rc;
	for (i = 0; i < cfg->nlocals; i++)
		if ((rc = check_expr(p, cfg, &lsc, cfg->locals[i]->value)) != MIG_OK)
			return rc;
	if (n.atlas && (rc = check_atlas(p, cfg, n.atlas)) != MIG_OK)
		return rc;
	for (i = 0; i < cfg->nenvs; i++)
		if ((rc = check_env(p, cfg, cfg->envs[i])) != MIG_OK)
			return rc;
	return MIG_OK;
}

/*
 * Parse and check a whole atlas.hcl (see mig.h).  On error *out is NULL and
 * err holds "L:C: message" (MIG_ECONFIG) or "out of memory".
 */
int
mig_hcl_parse(const char *src, size_t len, mig_config **out, mig_err *err)
{
	mig_config *cfg;
	parser		p;
	int			rc;

	if (out == NULL)
		return mig_err_set(err, MIG_EINVAL, "mig_hcl_parse: no output");
	*out = NULL;
	if (src == NULL)
		return mig_err_set(err, MIG_EINVAL, "mig_hcl_parse: no config text");
	cfg = mig_calloc(1, sizeof(mig_config));
	if (cfg == NULL)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	hcl_arena_init(&cfg->ar, 0, false);

	memset(&p, 0, sizeof(p));
	p.src = src;
	p.len = len;
	p.st.line = 1;
	p.st.col = 1;
	p.ar = &cfg->ar;
	p.err = err;
	/* a UTF-8 byte order mark is not part of the text */
	if (len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0)
		p.st.pos = 3;

	rc = hcl_parse_body(&p, &cfg->root, true, NULL);
	if (rc == MIG_OK)
		rc = hcl_check_dup_attrs(&p, &cfg->root);
	if (rc == MIG_OK)
		rc = check_config(&p, cfg);
	if (rc != MIG_OK)
	{
		mig_hcl_free(cfg);
		return rc;
	}
	cfg->uses_getenv = p.uses_getenv;
	*out = cfg;
	return MIG_OK;
}

bool
mig_hcl_uses_getenv(const mig_config *cfg)
{
	return cfg != NULL && cfg->uses_getenv;
}

void
mig_hcl_deny_getenv(mig_config *cfg)
{
	cfg->deny_getenv = true;
}

/* Free a parsed config (NULL is fine). */
void
mig_hcl_free(mig_config *cfg)
{
	if (cfg == NULL)
		return;
	hcl_arena_free(&cfg->ar);
	mig_free(cfg);
}
