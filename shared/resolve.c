/*
 * resolve.c - one run's configuration: the stored atlas.hcl evaluated for
 * the selected env (§i.3), with the call's options merged over the env's
 * migration block (§i.2 "Precedence": explicit options win).
 *
 * Knows nothing of PostgreSQL or SQLite.  Every input error surfaces here,
 * before anything touches the database.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"

void
mig_run_cfg_free(mig_run_cfg *c)
{
	mig_free(c->env_name);
	mig_free(c->dir_url);
	mig_free(c->dir_url_redacted);
	mig_free(c->db_url_redacted);
	mig_free(c->db_schema);
	mig_free(c->revisions_schema);
	mig_free(c->to_version);
	mig_free(c->baseline);
	mig_free(c->cloud_token);
	mig_free(c->cloud_url);
	mig_free(c->cloud_project);
	mig_free(c->cloud_ca_file);
	memset(c, 0, sizeof(*c));
}

/*
 * Copy a URL with the password of its userinfo replaced by "xxxxx"
 * (§j.4 target.url, §h.3 Dir).  Non-URLs are copied unchanged.
 */
char *
mig_url_redact(const char *url)
{
	const char *p,
			   *auth,
			   *end,
			   *at = NULL,
			   *colon = NULL;
	mig_buf		b;

	if (url == NULL)
		return NULL;
	p = strstr(url, "://");
	if (p == NULL)
		return mig_strdup(url);
	auth = p + 3;
	end = auth + strcspn(auth, "/?#");
	for (p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (at == NULL)
		return mig_strdup(url);
	for (p = auth; p < at; p++)
		if (*p == ':')
		{
			colon = p;
			break;
		}
	if (colon == NULL)
		return mig_strdup(url);
	mig_buf_init(&b);
	mig_buf_append(&b, url, (size_t) (colon + 1 - url));
	mig_buf_puts(&b, "xxxxx");
	mig_buf_puts(&b, at);
	if (b.oom)
	{
		mig_buf_free(&b);
		return NULL;
	}
	return mig_buf_steal(&b);
}

/*
 * The value of query parameter `key` in url (percent-decoded), or NULL.
 * *out is NULL when absent; returns MIG_ENOMEM only on allocation failure.
 */
int
mig_url_query_param(const char *url, const char *key, char **out)
{
	const char *q;
	size_t		klen = strlen(key);

	*out = NULL;
	if (url == NULL || (q = strchr(url, '?')) == NULL)
		return MIG_OK;
	q++;
	while (*q && *q != '#')
	{
		size_t		n = strcspn(q, "&#");

		if (n > klen && strncmp(q, key, klen) == 0 && q[klen] == '=')
		{
			const char *v = q + klen + 1,
					   *e = q + n;
			char	   *r = mig_alloc((size_t) (e - v) + 1),
					   *w = r;

			if (r == NULL)
				return MIG_ENOMEM;
			while (v < e)
			{
				if (*v == '%' && e - v >= 3 && mig_hexval(v[1]) >= 0 && mig_hexval(v[2]) >= 0)
				{
					*w++ = (char) (mig_hexval(v[1]) * 16 + mig_hexval(v[2]));
					v += 3;
				}
				else if (*v == '+')
				{
					*w++ = ' ';
					v++;
				}
				else
					*w++ = *v++;
			}
			*w = '\0';
			*out = r;
			return MIG_OK;
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return MIG_OK;
}

/* Copy s (or NULL) into *dst; false on OOM. */
static bool
set_str(char **dst, const char *s)
{
	mig_free(*dst);
	*dst = NULL;
	if (s == NULL)
		return true;
	*dst = mig_strdup(s);
	return *dst != NULL;
}

/* The env's text for option d's atlas.hcl attribute, or NULL. */
static const char *
env_attr(const mig_env *env, mig_opt_id id)
{
	switch (id)
	{
		case MIG_OPT_BASELINE:
			return env->baseline;
		case MIG_OPT_TX_MODE:
			return env->tx_mode;
		case MIG_OPT_EXEC_ORDER:
			return env->exec_order;
		case MIG_OPT_LOCK_TIMEOUT:
			return env->lock_timeout;
		case MIG_OPT_CLOUD_TIMEOUT:
			return env->cloud_timeout;
		default:
			return NULL;
	}
}

/* The env's attributes that are options, as a layer (§i.2). */
static int
env_layer(const mig_env *env, const char *env_name, mig_opts *o, mig_err *err)
{
	size_t		i;
	int			rc;

	for (i = 0; i < MIG_NOPTS; i++)
	{
		const mig_opt_def *d = &mig_opt_defs[i];
		const char *text = d->hcl ? env_attr(env, d->id) : NULL;

		if (text == NULL || text[0] == '\0')
			continue;
		if ((rc = mig_opts_set_text(o, d, text, "the value", err)) != MIG_OK)
		{
			if (strncmp(d->hcl, "migration.", 10) == 0)
				mig_err_prefix(err, "env \"%.200s\": %s: ", env_name, d->hcl);
			else
				mig_err_prefix(err, "atlas.hcl: %s: ", d->hcl);
			return rc;
		}
	}
	return MIG_OK;
}

/*
 * The strongest layer that gives option id (call, env, server), its source
 * recorded in out->source; NULL when none does (the built-in default).
 */
static const mig_opts *
pick(const mig_opts *const layers[3], mig_opt_id id, mig_run_cfg *out)
{
	static const mig_opt_source src[3] = {MIG_SRC_CALL, MIG_SRC_HCL, MIG_SRC_SERVER};
	int			i;

	for (i = 0; i < 3; i++)
		if (layers[i] && mig_opts_given(layers[i], id))
		{
			out->source[id] = src[i];
			return layers[i];
		}
	out->source[id] = MIG_SRC_BUILTIN;
	return NULL;
}

/* A duration setting: "off" for 0 when off means 0, else Go's text. */
static const char *
duration_text(int64_t ms, bool zero_off, char *out, size_t outsz)
{
	if (ms == 0 && zero_off)
		return "off";
	mig_fmt_duration(ms * 1000000, out, outsz);
	return out;
}

const char *
mig_run_cfg_option_text(const mig_run_cfg *cfg, mig_opt_id id, char *out, size_t outsz)
{
	static const char *const severity[] = {"off", "info", "warning", "error"};

	switch (id)
	{
		case MIG_OPT_BASELINE:
			return cfg->baseline ? cfg->baseline : "none";
		case MIG_OPT_TX_MODE:
			return cfg->tx_mode == MIG_TX_ALL ? "all" : cfg->tx_mode == MIG_TX_NONE ? "none" : "file";
		case MIG_OPT_EXEC_ORDER:
			return cfg->exec_order == MIG_ORDER_LINEAR_SKIP ? "linear_skip" :
				cfg->exec_order == MIG_ORDER_NON_LINEAR ? "non_linear" : "linear";
		case MIG_OPT_LOCK_TIMEOUT:
			return duration_text(cfg->lock_timeout_ms, false, out, outsz);
		case MIG_OPT_CLOUD_TIMEOUT:
			return duration_text(cfg->cloud_timeout_ms ? cfg->cloud_timeout_ms : 60000, false, out, outsz);
		case MIG_OPT_STMT_LOCK_TIMEOUT:
			return duration_text(cfg->stmt_lock_timeout_ms, true, out, outsz);
		case MIG_OPT_LOCK_RETRIES:
			snprintf(out, outsz, "%lld", (long long) cfg->lock_retries);
			return out;
		case MIG_OPT_PREFLIGHT:
			return severity[cfg->check <= MIG_SEV_ERROR ? cfg->check : 0];
		default:
			return NULL;
	}
}

int
mig_resolve(const char *hcl, size_t hcl_len, const char *env_name,
			const mig_opts *opts, mig_run_cfg *out, mig_err *err)
{
	return mig_resolve_ex(hcl, hcl_len, env_name, opts, NULL, out, err);
}

/* The options merged from the layers into out (after the env is read). */
static int
merge_options(const mig_opts *const layers[3], mig_run_cfg *out, mig_err *err)
{
	const mig_opts *p,
			   *q;

	if ((p = pick(layers, MIG_OPT_AMOUNT, out)) != NULL)
	{
		out->has_amount = true;
		out->amount = p->amount;
	}
	if ((p = pick(layers, MIG_OPT_TO_VERSION, out)) != NULL && !set_str(&out->to_version, p->to_version))
		return MIG_ENOMEM;
	out->dry_run = (p = pick(layers, MIG_OPT_DRY_RUN, out)) != NULL && p->dry_run;
	out->allow_dirty = (p = pick(layers, MIG_OPT_ALLOW_DIRTY, out)) != NULL && p->allow_dirty;
	if ((p = pick(layers, MIG_OPT_BASELINE, out)) != NULL && !set_str(&out->baseline, p->baseline))
		return MIG_ENOMEM;
	if (out->baseline && out->allow_dirty)
		return mig_err_set(err, MIG_EINVAL,
						   "sql/migrate: baseline and allow-dirty are mutually exclusive");
	/* §g.5, §i.2, §g.8: file, linear, 10s */
	out->tx_mode = (p = pick(layers, MIG_OPT_TX_MODE, out)) ? p->tx_mode : MIG_TX_FILE;
	out->exec_order = (p = pick(layers, MIG_OPT_EXEC_ORDER, out)) ? p->exec_order : MIG_ORDER_LINEAR;
	out->lock_timeout_ms = (p = pick(layers, MIG_OPT_LOCK_TIMEOUT, out)) ? p->lock_timeout_ms : 10000;
	/* Cloud calls: 0 = the Cloud client's own default */
	out->cloud_timeout_ms = (p = pick(layers, MIG_OPT_CLOUD_TIMEOUT, out)) ? p->cloud_timeout_ms : 0;

	/*
	 * Lock-safe DDL: off unless something sets it; either setting turns it
	 * on with the other's default (1s per statement, 10 retries).
	 */
	p = pick(layers, MIG_OPT_STMT_LOCK_TIMEOUT, out);
	q = pick(layers, MIG_OPT_LOCK_RETRIES, out);
	out->stmt_lock_timeout_ms = p ? p->stmt_lock_timeout_ms : q ? 1000 : 0;
	out->lock_retries = q ? q->lock_retries : p ? 10 : 0;
	out->check = (p = pick(layers, MIG_OPT_PREFLIGHT, out)) ? p->preflight : MIG_SEV_NONE;
	pick(layers, MIG_OPT_VARS, out);
	return MIG_OK;
}

int
mig_resolve_ex(const char *hcl, size_t hcl_len, const char *env_name,
			   const mig_opts *opts, const mig_opts *server,
			   mig_run_cfg *out, mig_err *err)
{
	mig_config *cfg = NULL;
	mig_env		env;
	mig_opts	envo;
	const mig_opts *layers[3] = {opts, &envo, server};
	const char *dir;
	int			rc;

	memset(out, 0, sizeof(*out));
	memset(&env, 0, sizeof(env));
	mig_opts_init(&envo);

	/* §g.1 step 1: the amount comes first. */
	if (mig_opts_given(opts, MIG_OPT_AMOUNT) && opts->amount < 1)
		return mig_err_set(err, MIG_EINVAL, "cannot apply '%lld' migration files",
						   (long long) opts->amount);
	if (opts->baseline && opts->allow_dirty)
		return mig_err_set(err, MIG_EINVAL,
						   "sql/migrate: baseline and allow-dirty are mutually exclusive");
	if (hcl == NULL)
	{
		rc = mig_err_set(err, MIG_ECONFIG, "no atlas.hcl configuration is stored");
		mig_err_hint(err, "Store one first with atlas_config_set().");
		return rc;
	}
	if ((rc = mig_hcl_parse(hcl, hcl_len, &cfg, err)) != MIG_OK)
		goto done;
	if (opts->deny_getenv)
		mig_hcl_deny_getenv(cfg);
	if ((rc = mig_hcl_env(cfg, env_name, &opts->vars, &env, err)) != MIG_OK ||
		(rc = env_layer(&env, env_name, &envo, err)) != MIG_OK)
		goto done;

	rc = MIG_ENOMEM;
	/* §a.1: the CLI's default directory is file://migrations. */
	dir = env.dir && env.dir[0] ? env.dir : "file://migrations";
	out->dir_default = dir != env.dir;
	if (!set_str(&out->env_name, env_name) || !set_str(&out->dir_url, dir))
		goto oom;
	if ((out->dir_url_redacted = mig_url_redact(dir)) == NULL)
		goto oom;
	if (env.url && (out->db_url_redacted = mig_url_redact(env.url)) == NULL)
		goto oom;
	if (strncmp(dir, "file://", 7) == 0)
		out->cloud_dir = false;
	else if (strncmp(dir, "atlas://", 8) == 0)
		out->cloud_dir = true;
	else
	{
		rc = mig_err_set(err, MIG_ECONFIG,
						 "env \"%.200s\": unsupported migration directory URL \"%.200s\"",
						 env_name, out->dir_url_redacted);
		mig_err_hint(err, "Use file://<path> for a directory on the database host or atlas://<name> for Atlas Cloud.");
		goto done;
	}
	if ((rc = merge_options(layers, out, err)) != MIG_OK)
	{
		if (rc == MIG_ENOMEM)
			goto oom;
		goto done;
	}

	/* §f.1 / DESIGN §6.18: revisions schema. */
	if (mig_url_query_param(env.url, "search_path", &out->db_schema) != MIG_OK)
		goto oom;
	if (env.revisions_schema && env.revisions_schema[0])
	{
		if (!set_str(&out->revisions_schema, env.revisions_schema))
			goto oom;
	}
	else if (out->db_schema && out->db_schema[0])
	{
		if (!set_str(&out->revisions_schema, out->db_schema))
			goto oom;
	}

	/* §i.2 atlas { cloud { } }: an empty token means no cloud. */
	out->cloud = env.cloud && env.cloud_token && env.cloud_token[0];
	if (out->cloud)
	{
		if (!set_str(&out->cloud_token, env.cloud_token) ||
			!set_str(&out->cloud_url, env.cloud_url ? env.cloud_url : "https://api.atlasgo.cloud/query") ||
			!set_str(&out->cloud_project, env.cloud_project ? env.cloud_project : "default") ||
			!set_str(&out->cloud_ca_file, env.cloud_ca_file))
			goto oom;
	}
	if (out->cloud_dir && !out->cloud)
	{
		rc = mig_err_set(err, MIG_ECONFIG,
						 "env \"%.200s\": migration directory %.200s needs Atlas Cloud, but no cloud token is configured",
						 env_name, out->dir_url_redacted);
		mig_err_hint(err, "Add atlas { cloud { token = getenv(\"ATLAS_TOKEN\") } } to atlas.hcl and set ATLAS_TOKEN for the database server, or pass the token through vars.");
		goto done;
	}
	rc = MIG_OK;
	goto done;
oom:
	rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
done:
	if (rc != MIG_OK)
		mig_run_cfg_free(out);
	mig_opts_free(&envo);
	mig_env_free(&env);
	mig_hcl_free(cfg);
	return rc;
}

/* One env's settings through fn (see mig_config_envs). */
static void
env_settings(const char *hcl, size_t len, const char *env, const mig_opts *server,
			 bool deny_getenv, mig_setting_fn fn, void *arg)
{
	mig_opts	none;
	mig_run_cfg cfg;
	mig_err		err;
	size_t		i;

	mig_opts_init(&none);
	none.deny_getenv = deny_getenv;
	mig_err_clear(&err);
	if (mig_resolve_ex(hcl, len, env, &none, server, &cfg, &err) != MIG_OK)
	{
		fn(arg, env, "error", err.msg, NULL);
		return;
	}
	fn(arg, env, "url", cfg.db_url_redacted, cfg.db_url_redacted ? "atlas.hcl" : NULL);
	fn(arg, env, "dir", cfg.dir_url_redacted,
	   mig_opt_source_name(cfg.dir_default ? MIG_SRC_BUILTIN : MIG_SRC_HCL));
	fn(arg, env, "revisions_schema",
	   cfg.revisions_schema ? cfg.revisions_schema : "atlas_schema_revisions",
	   mig_opt_source_name(cfg.revisions_schema ? MIG_SRC_HCL : MIG_SRC_BUILTIN));
	for (i = 0; i < MIG_NOPTS; i++)
	{
		char		buf[64];
		const char *v = mig_run_cfg_option_text(&cfg, mig_opt_defs[i].id, buf, sizeof(buf));

		if (v)
			fn(arg, env, mig_opt_defs[i].name, v, mig_opt_source_name(cfg.source[mig_opt_defs[i].id]));
	}
	fn(arg, env, "cloud", cfg.cloud ? "on" : "off",
	   mig_opt_source_name(cfg.cloud ? MIG_SRC_HCL : MIG_SRC_BUILTIN));
	mig_run_cfg_free(&cfg);
}

int
mig_config_envs(const char *hcl, size_t len, const mig_opts *server, bool deny_getenv,
				mig_setting_fn fn, void *arg, mig_err *err)
{
	mig_config *parsed = NULL;
	const char **names = NULL;
	char	  **copies = NULL;
	size_t		n = 0,
				i;
	int			rc;

	if ((rc = mig_hcl_parse(hcl, len, &parsed, err)) != MIG_OK ||
		(rc = mig_hcl_env_names(parsed, &names, &n, err)) != MIG_OK)
		goto done;
	/* the names point into parsed, which each resolve parses again */
	if (n > 0 && (copies = mig_calloc(n, sizeof(char *))) == NULL)
	{
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < n; i++)
		if ((copies[i] = mig_strdup(names[i])) == NULL)
		{
			rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
			goto done;
		}
	for (i = 0; i < n; i++)
		env_settings(hcl, len, copies[i], server, deny_getenv, fn, arg);
done:
	for (i = 0; copies && i < n; i++)
		mig_free(copies[i]);
	mig_free(copies);
	mig_free(names);
	mig_hcl_free(parsed);
	return rc;
}
