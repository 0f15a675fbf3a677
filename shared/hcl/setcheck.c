/*
 * setcheck.c - mig_hcl_check_envs: what atlas_config_set checks beyond the
 * structure (check.c), so that a typo fails when the config is stored and
 * not when a scheduled apply evaluates it.
 *
 * Every env is evaluated as apply would evaluate it (spec §i.2, §i.3), but
 * without the call's values: a variable without a default, getenv() and,
 * in an unlabelled env, atlas.env are unknown (eval.c's partial mode), and
 * so is whatever is computed from them.  Variables with a default take it.
 * What is known is checked as apply checks it: attribute types, exec_order
 * (§i.2), tx_mode (§g.5), lock_timeout and cloud timeout durations (§i.2,
 * §g.8), the directory URL's scheme; evaluation errors (unsupported
 * functions or data sources, bad conversions) surface as they would at
 * apply.  for_each envs and an env name defined twice, which apply refuses
 * whatever the values, are refused here too.
 *
 * A config the Atlas CLI accepts within the documented subset passes: only
 * what apply would refuse for every possible call is refused.
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <stdio.h>
#include <string.h>

#include "hcl_int.h"
#include "engine.h"

/* "env \"prod\"" or "unlabelled env", for messages. */
static void
env_desc(const block *k, char *buf, size_t size)
{
	if (k->nlabels == 1)
		snprintf(buf, size, "env \"%.200s\"", k->labels[0]);
	else
		snprintf(buf, size, "unlabelled env (at %d:%d)", k->line, k->col);
}

/* for_each, and env names defined twice (§i.3: apply runs one env per call). */
static int
check_env_blocks(const mig_config *cfg, mig_err *err)
{
	size_t		i,
				j;

	for (i = 0; i < cfg->nenvs; i++)
	{
		const block *k = cfg->envs[i];
		const attr *fe = hcl_find_attr(&k->body, "for_each");
		const attr *name = hcl_find_attr(&k->body, "name");
		char		desc[256];

		env_desc(k, desc, sizeof(desc));
		if (fe)
		{
			mig_err_set(err, MIG_ENOTSUP,
						"%d:%d: %s uses for_each, which is not supported yet (one env per call)",
						fe->line, fe->col, desc);
			mig_err_hint(err, "Write one env block per target database and apply each by name.");
			return MIG_ENOTSUP;
		}
		for (j = 0; j < i; j++)
		{
			const block *o = cfg->envs[j];
			const attr *oname = hcl_find_attr(&o->body, "name");
			bool		same;

			if (k->nlabels == 1)
				same = o->nlabels == 1 && strcmp(o->labels[0], k->labels[0]) == 0;
			else
				same = o->nlabels == 0 && name && oname &&
					hcl_is_atlas_env_ref(name->value) && hcl_is_atlas_env_ref(oname->value);
			if (!same)
				continue;
			mig_err_set(err, MIG_ENOTSUP,
						"%d:%d: %s is defined more than once (also at %d:%d); "
						"running several envs in one call is not supported yet",
						k->line, k->col, desc, o->line, o->col);
			mig_err_hint(err, "Give each target its own env name and apply them one by one.");
			return MIG_ENOTSUP;
		}
	}
	return MIG_OK;
}

/* A value error of attribute a: "L:C: <what>: <the parser's message>". */
static int
value_error(const attr *a, const char *what, mig_err *err)
{
	mig_err_prefix(err, "%d:%d: %s: ", a->line, a->col, what);
	err->code = MIG_ECONFIG;
	return MIG_ECONFIG;
}

/* A Go duration from 0 to 576h, as apply reads lock_timeout and cloud timeout. */
static int
check_duration(const attr *a, const char *text, const char *what, mig_err *err)
{
	int64_t		ms;
	int			rc;

	if ((rc = mig_parse_duration(text, &ms, err)) == MIG_OK && (ms < 0 || ms > MIG_TIMEOUT_MAX_MS))
	{
		mig_buf		q;

		mig_buf_init(&q);
		mig_buf_goquote(&q, text, strlen(text) > 100 ? 100 : strlen(text));
		rc = mig_check_timeout("the value", ms, q.data && !q.oom ? q.data : "", err);
		mig_buf_free(&q);
	}
	return rc == MIG_OK ? MIG_OK : value_error(a, what, err);
}

/* The known values of one evaluated env, checked as apply checks them. */
static int
check_values(const mig_config *cfg, const block *k, const mig_env *env, mig_err *err)
{
	const block *mig = NULL;
	char		desc[256],
				what[300];
	size_t		i;

	if (cfg->cloud && env->cloud_timeout &&
		check_duration(hcl_find_attr(&cfg->cloud->body, "timeout"), env->cloud_timeout,
					   "cloud.timeout", err) != MIG_OK)
		return MIG_ECONFIG;
	if (k == NULL)
		return MIG_OK;
	for (i = 0; i < k->body.nblocks; i++)
		if (strcmp(k->body.blocks[i]->type, "migration") == 0)
			mig = k->body.blocks[i];
	if (mig == NULL)
		return MIG_OK;
	env_desc(k, desc, sizeof(desc));
	if (env->lock_timeout)
	{
		snprintf(what, sizeof(what), "%s: migration.lock_timeout", desc);
		if (check_duration(hcl_find_attr(&mig->body, "lock_timeout"), env->lock_timeout, what, err) != MIG_OK)
			return MIG_ECONFIG;
	}
	if (env->tx_mode)
	{
		mig_txmode	m;

		snprintf(what, sizeof(what), "%s: migration.tx_mode", desc);
		if (mig_parse_txmode(env->tx_mode, &m, err) != MIG_OK)
			return value_error(hcl_find_attr(&mig->body, "tx_mode"), what, err);
	}
	if (env->dir && strncmp(env->dir, "file://", 7) != 0 && strncmp(env->dir, "atlas://", 8) != 0)
	{
		const attr *a = hcl_find_attr(&mig->body, "dir");
		char	   *shown = mig_url_redact(env->dir);

		mig_err_set(err, MIG_ECONFIG, "%d:%d: %s: unsupported migration directory URL \"%.200s\"",
					a->line, a->col, desc, shown ? shown : "?");
		mig_err_hint(err, "Use file://<path> for a directory on the database host or atlas://<name> for Atlas Cloud.");
		mig_free(shown);
		return MIG_ECONFIG;
	}
	return MIG_OK;
}

/* Evaluate env block k (NULL: only variables and atlas.cloud) and check it. */
static int
check_one(const mig_config *cfg, const block *k, mig_err *err)
{
	evalctx		x;
	mig_env		env;
	bool		labelled = k && k->nlabels == 1;
	int			rc;

	memset(&env, 0, sizeof(env));
	if ((rc = hcl_eval_begin(&x, cfg, labelled ? k->labels[0] : "atlas.env", err)) == MIG_OK)
	{
		x.partial = true;
		x.env_unknown = !labelled;
		rc = hcl_eval_env(&x, k, NULL, &env);
	}
	if (rc == MIG_OK)
		rc = check_values(cfg, k, &env, err);
	mig_env_free(&env);
	hcl_eval_end(&x);
	return rc;
}

int
mig_hcl_check_envs(const mig_config *cfg, mig_err *err)
{
	size_t		i;
	int			rc;

	if (cfg == NULL)
		return mig_err_set(err, MIG_EINVAL, "mig_hcl_check_envs: no config");
	if ((rc = check_env_blocks(cfg, err)) != MIG_OK)
		return rc;
	if (cfg->nenvs == 0)
		return check_one(cfg, NULL, err);
	for (i = 0; i < cfg->nenvs; i++)
		if ((rc = check_one(cfg, cfg->envs[i], err)) != MIG_OK)
			return rc;
	return MIG_OK;
}
