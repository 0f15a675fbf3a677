/*
 * env.c - mig_hcl_env: select the env (spec §i.3), give every declared
 * variable its value (the caller's, else its default, §i.2), then evaluate
 * atlas { cloud { } } and the env's url and migration block into a
 * mig_env (§i.2; the token is wiped when freed).
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <stdlib.h>
#include <string.h>

#include "hcl_int.h"

static const char *
var_source_name(const mig_var *v)
{
	return v->name ? v->name : "";
}

/*
 * A caller-supplied value (§i.2): one value, or several = a list; a single
 * value for a list or set variable is wrapped into a one-element list.
 */
static int
caller_value(evalctx *x, const mig_var *mv, const htype *type, value *out)
{
	size_t		i;

	memset(out, 0, sizeof(*out));
	if (!mv->is_list && mv->nvalues == 1 && type->k != TY_LIST && type->k != TY_SET)
	{
		const char *s = mv->values[0] ? mv->values[0] : "";

		*out = hcl_v_str(s, strlen(s));
		return MIG_OK;
	}
	out->k = V_LIST;
	out->items = hcl_arena_zalloc(&x->ar, (mv->nvalues ? mv->nvalues : 1) * sizeof(value));
	if (out->items == NULL)
		return hcl_eoom(x);
	for (i = 0; i < mv->nvalues; i++)
	{
		const char *s = mv->values[i] ? mv->values[i] : "";

		out->items[out->cnt++] = hcl_v_str(s, strlen(s));
	}
	return MIG_OK;
}

/* Values of every declared variable: caller's value, else default (§i.2). */
static int
eval_variables(evalctx *x, const mig_vars *vars)
{
	const mig_config *cfg = x->cfg;
	size_t		i,
				j;
	int			rc;

	/* a value for an undeclared variable is most likely a typo */
	for (j = 0; vars && j < vars->n; j++)
		if (hcl_find_var(cfg, var_source_name(&vars->v[j])) == NULL)
			return mig_err_set(x->err, MIG_ECONFIG,
							   "variable \"%.200s\" is not declared in the config (no variable \"%.200s\" block)",
							   var_source_name(&vars->v[j]), var_source_name(&vars->v[j]));
	for (i = 0; i < cfg->nvars; i++)
	{
		const vardecl *d = &cfg->vars[i];
		const mig_var *given = NULL;
		value		v;
		char		why[300];

		for (j = 0; vars && j < vars->n; j++)
			if (strcmp(var_source_name(&vars->v[j]), d->name) == 0)
				given = &vars->v[j];
		if (given)
		{
			if ((rc = caller_value(x, given, d->type, &v)) != MIG_OK)
				return rc;
		}
		else if (d->def)
		{
			if ((rc = hcl_eval(x, d->def->value, &v)) != MIG_OK)
				return rc;
		}
		else if (x->partial)
			v = hcl_v_unknown();
		else
			return mig_err_set(x->err, MIG_ECONFIG, "%d:%d: missing value for required variable \"%s\"",
							   d->blk->line, d->blk->col, d->name);
		if ((rc = hcl_convert(x, &v, d->type, &x->vars[i], why, sizeof(why), 0)) != MIG_OK)
			return rc;
		if (why[0])
		{
			if (given)
				return mig_err_set(x->err, MIG_ECONFIG, "invalid value for variable \"%s\": %s",
								   d->name, why);
			return mig_err_set(x->err, MIG_ECONFIG, "%d:%d: invalid default for variable \"%s\": %s",
							   d->def->line, d->def->col, d->name, why);
		}
	}
	return MIG_OK;
}

/*
 * Evaluate attribute `name` of b into a mig_alloc'd string: NULL when the
 * attribute is absent, null, or (when empty_unset) "".  Lists and objects
 * are an error naming the attribute only.
 */
static int
eval_string_attr(evalctx *x, const body *b, const char *name, const char *where,
				 bool empty_unset, char **out)
{
	const attr *a = hcl_find_attr(b, name);
	value		v;
	const char *s;
	size_t		len;
	bool		ok;
	int			rc;

	*out = NULL;
	if (a == NULL)
		return MIG_OK;
	if ((rc = hcl_eval(x, a->value, &v)) != MIG_OK)
		return rc;
	if (v.k == V_NULL || v.k == V_UNKNOWN)
		return MIG_OK;
	if ((rc = hcl_as_string(x, &v, &s, &len, &ok)) != MIG_OK)
		return rc;
	if (!ok)
		return mig_err_set(x->err, MIG_ECONFIG, "%d:%d: attribute \"%s\" in %s must be a string, got %s",
						   a->line, a->col, name, where, hcl_kind_name(v.k));
	if (memchr(s, '\0', len) != NULL)
		return mig_err_set(x->err, MIG_ECONFIG, "%d:%d: attribute \"%s\" in %s contains a NUL character",
						   a->line, a->col, name, where);
	if (len == 0 && empty_unset)
		return MIG_OK;
	*out = mig_strndup(s, len);
	if (*out == NULL)
		return mig_err_set(x->err, MIG_ENOMEM, "out of memory");
	return MIG_OK;
}

/* exec_order: lower-case, '_' -> '-', one of three words (§i.2). */
static int
normalise_exec_order(evalctx *x, const body *mig, char **v)
{
	const attr *a = hcl_find_attr(mig, "exec_order");
	char	   *s = *v;
	size_t		i;
	mig_buf		q;

	if (s == NULL)
		return MIG_OK;
	mig_buf_init(&q);
	mig_buf_goquote(&q, s, strlen(s) > 64 ? 64 : strlen(s));
	for (i = 0; s[i]; i++)
	{
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char) (s[i] - 'A' + 'a');
		else if (s[i] == '_')
			s[i] = '-';
	}
	if (strcmp(s, "linear") == 0 || strcmp(s, "linear-skip") == 0 || strcmp(s, "non-linear") == 0)
	{
		mig_buf_free(&q);
		return MIG_OK;
	}
	mig_err_set(x->err, MIG_ECONFIG, "%d:%d: unknown execution order: %s",
				a->line, a->col, q.data && !q.oom ? q.data : "\"?\"");
	mig_buf_free(&q);
	return MIG_ECONFIG;
}

/* §i.3: labelled envs named `name`, else unlabelled ones named atlas.env. */
static int
select_env(const mig_config *cfg, const char *name, const block **out, mig_err *err)
{
	const block *found = NULL;
	size_t		count = 0,
				i;
	bool		other_unlabelled = false;
	int			pass;

	*out = NULL;
	for (pass = 0; pass < 2 && count == 0; pass++)
		for (i = 0; i < cfg->nenvs; i++)
		{
			const block *k = cfg->envs[i];
			bool		match;

			if (pass == 0)
				match = k->nlabels == 1 && strcmp(k->labels[0], name) == 0;
			else
			{
				const attr *a = hcl_find_attr(&k->body, "name");

				match = k->nlabels == 0 && a && hcl_is_atlas_env_ref(a->value);
				if (k->nlabels == 0 && !match)
					other_unlabelled = true;
			}
			if (!match)
				continue;
			if (count == 1)
			{
				count++;
				mig_err_set(err, MIG_ENOTSUP,
							"%d:%d: env \"%.200s\" is defined more than once (also at %d:%d); "
							"running several envs in one call is not supported yet",
							k->line, k->col, name, found->line, found->col);
				mig_err_hint(err, "Give each target its own env name and apply them one by one.");
				return MIG_ENOTSUP;
			}
			found = k;
			count++;
		}
	if (found == NULL)
	{
		mig_err_set(err, MIG_ENOTFOUND, "env \"%.200s\" not defined in config file", name);
		if (other_unlabelled)
			mig_err_hint(err, "An env block without a label is used only when its name attribute is atlas.env.");
		return MIG_ENOTFOUND;
	}
	if (name[0] == '\0')
		return mig_err_set(err, MIG_ECONFIG, "all envs must have names on file \"%s\"", CONFIG_NAME);
	if (hcl_find_attr(&found->body, "for_each"))
	{
		const attr *fe = hcl_find_attr(&found->body, "for_each");

		mig_err_set(err, MIG_ENOTSUP,
					"%d:%d: env \"%.200s\" uses for_each, which is not supported yet (one env per call)",
					fe->line, fe->col, name);
		mig_err_hint(err, "Write one env block per target database and apply each by name.");
		return MIG_ENOTSUP;
	}
	*out = found;
	return MIG_OK;
}

/* Free an evaluated env's strings (the token is wiped first); zeroes *env. */
void
mig_env_free(mig_env *env)
{
	if (env == NULL)
		return;
	mig_free(env->name);
	mig_free(env->url);
	mig_free(env->dir);
	mig_free(env->revisions_schema);
	mig_free(env->baseline);
	mig_free(env->exec_order);
	mig_free(env->lock_timeout);
	mig_free(env->tx_mode);
	if (env->cloud_token)
	{
		volatile char *t = env->cloud_token;

		while (*t)
			*t++ = '\0';
		mig_free(env->cloud_token);
	}
	mig_free(env->cloud_url);
	mig_free(env->cloud_project);
	mig_free(env->cloud_ca_file);
	mig_free(env->cloud_timeout);
	memset(env, 0, sizeof(*env));
}

/* atlas { cloud { } } (§i.2, §j.1): empty token = cloud off. */
static int
eval_cloud(evalctx *x, mig_env *env)
{
	const block *c = x->cfg->cloud;
	int			rc;

	if (c)
	{
		x->secret = true;
		rc = eval_string_attr(x, &c->body, "token", "cloud block", true, &env->cloud_token);
		x->secret = false;
		if (rc != MIG_OK)
			return rc;
		if ((rc = eval_string_attr(x, &c->body, "url", "cloud block", true, &env->cloud_url)) != MIG_OK ||
			(rc = eval_string_attr(x, &c->body, "project", "cloud block", true, &env->cloud_project)) != MIG_OK ||
			(rc = eval_string_attr(x, &c->body, "ca_file", "cloud block", true, &env->cloud_ca_file)) != MIG_OK ||
			(rc = eval_string_attr(x, &c->body, "timeout", "cloud block", true, &env->cloud_timeout)) != MIG_OK)
			return rc;
	}
	env->cloud = env->cloud_token != NULL;
	if (env->cloud_url == NULL && (env->cloud_url = mig_strdup(CLOUD_URL_DEFAULT)) == NULL)
		return mig_err_set(x->err, MIG_ENOMEM, "out of memory");
	if (env->cloud_project == NULL && (env->cloud_project = mig_strdup(CLOUD_PROJECT_DEFAULT)) == NULL)
		return mig_err_set(x->err, MIG_ENOMEM, "out of memory");
	return MIG_OK;
}

static int
eval_env(evalctx *x, const block *k, const char *name, mig_env *env)
{
	const block *mig = NULL;
	size_t		i;
	int			rc;

	if ((env->name = mig_strdup(name)) == NULL)
		return mig_err_set(x->err, MIG_ENOMEM, "out of memory");
	if ((rc = eval_string_attr(x, &k->body, "url", "env block", true, &env->url)) != MIG_OK)
		return rc;
	for (i = 0; i < k->body.nblocks; i++)
		if (strcmp(k->body.blocks[i]->type, "migration") == 0)
			mig = k->body.blocks[i];
	if (mig == NULL)
		return MIG_OK;
	if ((rc = eval_string_attr(x, &mig->body, "dir", "migration block", true, &env->dir)) != MIG_OK ||
		(rc = eval_string_attr(x, &mig->body, "revisions_schema", "migration block", true,
							   &env->revisions_schema)) != MIG_OK ||
		(rc = eval_string_attr(x, &mig->body, "baseline", "migration block", true, &env->baseline)) != MIG_OK ||
		(rc = eval_string_attr(x, &mig->body, "lock_timeout", "migration block", true,
							   &env->lock_timeout)) != MIG_OK ||
		(rc = eval_string_attr(x, &mig->body, "tx_mode", "migration block", true, &env->tx_mode)) != MIG_OK)
		return rc;
	x->enums = true;
	rc = eval_string_attr(x, &mig->body, "exec_order", "migration block", true, &env->exec_order);
	x->enums = false;
	if (rc != MIG_OK)
		return rc;
	return normalise_exec_order(x, &mig->body, &env->exec_order);
}

int
hcl_eval_begin(evalctx *x, const mig_config *cfg, const char *name, mig_err *err)
{
	memset(x, 0, sizeof(*x));
	x->cfg = cfg;
	x->err = err;
	x->envname = name;
	hcl_arena_init(&x->ar, EVAL_LIMIT, true);
	x->vars = hcl_arena_zalloc(&x->ar, (cfg->nvars ? cfg->nvars : 1) * sizeof(value));
	x->locals = hcl_arena_zalloc(&x->ar, (cfg->nlocals ? cfg->nlocals : 1) * sizeof(value));
	x->lstate = hcl_arena_zalloc(&x->ar, cfg->nlocals ? cfg->nlocals : 1);
	if (x->vars == NULL || x->locals == NULL || x->lstate == NULL)
		return hcl_eoom(x);
	return MIG_OK;
}

void
hcl_eval_end(evalctx *x)
{
	hcl_arena_free(&x->ar);
}

int
hcl_eval_env(evalctx *x, const block *k, const mig_vars *vars, mig_env *env)
{
	int			rc;

	if ((rc = eval_variables(x, vars)) != MIG_OK ||
		(rc = eval_cloud(x, env)) != MIG_OK)
		return rc;
	return k ? eval_env(x, k, x->envname, env) : MIG_OK;
}

/*
 * Select env `name` (§i.3) and evaluate it with the caller's variable
 * values (see mig.h).  On error *out is all zeroes and nothing is left
 * allocated.
 */
int
mig_hcl_env(const mig_config *cfg, const char *name, const mig_vars *vars,
			mig_env *out, mig_err *err)
{
	evalctx		x;
	mig_env		env;
	const block *sel;
	int			rc;

	if (out == NULL)
		return mig_err_set(err, MIG_EINVAL, "mig_hcl_env: no output");
	memset(out, 0, sizeof(*out));
	if (cfg == NULL)
		return mig_err_set(err, MIG_EINVAL, "mig_hcl_env: no config");
	if (name == NULL)
		return mig_err_set(err, MIG_EINVAL, "an env name is required");
	if ((rc = select_env(cfg, name, &sel, err)) != MIG_OK)
		return rc;
	memset(&env, 0, sizeof(env));
	if ((rc = hcl_eval_begin(&x, cfg, name, err)) == MIG_OK &&
		(rc = hcl_eval_env(&x, sel, vars, &env)) == MIG_OK)
	{
		*out = env;
		memset(&env, 0, sizeof(env));
	}
	mig_env_free(&env);
	hcl_eval_end(&x);
	return rc;
}

int
mig_hcl_env_names(const mig_config *cfg, const char ***names, size_t *n, mig_err *err)
{
	size_t		i,
				j;

	*names = NULL;
	*n = 0;
	if (cfg->nenvs == 0)
		return MIG_OK;
	if ((*names = mig_calloc(cfg->nenvs, sizeof(char *))) == NULL)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	for (i = 0; i < cfg->nenvs; i++)
	{
		const block *k = cfg->envs[i];

		if (k->nlabels != 1)
			continue;
		for (j = 0; j < *n; j++)
			if (strcmp((*names)[j], k->labels[0]) == 0)
				break;
		if (j == *n)
			(*names)[(*n)++] = k->labels[0];
	}
	return MIG_OK;
}
