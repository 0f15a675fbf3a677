/*
 * resolve.c - one run's configuration: the stored atlas.hcl evaluated for
 * the selected env (§i.3), with the call's options merged over the env's
 * migration block (§i.2 "Precedence": explicit options win).
 *
 * Knows nothing of PostgreSQL or SQLite.  Every input error surfaces here,
 * before anything touches the database.
 */
#include <ctype.h>
#include <string.h>

#include "db.h"

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

/* An atlas.hcl duration out of range (the caller prefixes the attribute). */
static int
check_env_timeout(int64_t ms, const char *text, mig_err *err)
{
	mig_buf		b;
	int			rc;

	if (ms >= 0 && ms <= MIG_TIMEOUT_MAX_MS)
		return MIG_OK;
	mig_buf_init(&b);
	mig_buf_goquote(&b, text, strlen(text) > 100 ? 100 : strlen(text));
	rc = mig_check_timeout("the value", ms, b.data && !b.oom ? b.data : "", err);
	mig_buf_free(&b);
	return rc;
}

int
mig_resolve(const char *hcl, size_t hcl_len, const char *env_name,
			const mig_opts *opts, mig_run_cfg *out, mig_err *err)
{
	mig_config *cfg = NULL;
	mig_env		env;
	const char *dir;
	int			rc;

	memset(out, 0, sizeof(*out));
	memset(&env, 0, sizeof(env));

	/* §g.1 step 1: the amount comes first. */
	if (opts->has_amount && opts->amount < 1)
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
	if ((rc = mig_hcl_env(cfg, env_name, &opts->vars, &env, err)) != MIG_OK)
		goto done;

	rc = MIG_ENOMEM;
	/* §a.1: the CLI's default directory is file://migrations. */
	dir = env.dir && env.dir[0] ? env.dir : "file://migrations";
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

	out->has_amount = opts->has_amount;
	out->amount = opts->amount;
	out->dry_run = opts->dry_run;
	out->allow_dirty = opts->allow_dirty;
	if (!set_str(&out->to_version, opts->to_version))
		goto oom;
	if (!set_str(&out->baseline, opts->baseline ? opts->baseline :
				 (env.baseline && env.baseline[0] ? env.baseline : NULL)))
		goto oom;
	if (out->baseline && out->allow_dirty)
	{
		rc = mig_err_set(err, MIG_EINVAL,
						 "sql/migrate: baseline and allow-dirty are mutually exclusive");
		goto done;
	}

	/* tx_mode: call, else env, else file (§g.5). */
	out->tx_mode = opts->tx_mode;
	if (out->tx_mode == MIG_TX_UNSET && env.tx_mode && env.tx_mode[0])
	{
		if ((rc = mig_parse_txmode(env.tx_mode, &out->tx_mode, err)) != MIG_OK)
			goto done;
	}
	if (out->tx_mode == MIG_TX_UNSET)
		out->tx_mode = MIG_TX_FILE;

	out->exec_order = opts->exec_order;
	if (out->exec_order == MIG_ORDER_UNSET && env.exec_order && env.exec_order[0])
	{
		if ((rc = mig_parse_exec_order(env.exec_order, &out->exec_order, err)) != MIG_OK)
			goto done;
	}
	if (out->exec_order == MIG_ORDER_UNSET)
		out->exec_order = MIG_ORDER_LINEAR;

	/* §g.8: lock_timeout, default 10s. */
	out->lock_timeout_ms = opts->lock_timeout_ms;
	if (out->lock_timeout_ms < 0 && env.lock_timeout && env.lock_timeout[0])
	{
		if ((rc = mig_parse_duration(env.lock_timeout, &out->lock_timeout_ms, err)) != MIG_OK ||
			(rc = check_env_timeout(out->lock_timeout_ms, env.lock_timeout, err)) != MIG_OK)
		{
			mig_err_prefix(err, "env \"%.200s\": migration.lock_timeout: ", env_name);
			goto done;
		}
	}
	if (out->lock_timeout_ms < 0)
		out->lock_timeout_ms = 10000;
	/*
	 * Lock-safe DDL: off unless the call asks; either option turns it on
	 * with the other's default (1s per statement, 10 retries).
	 */
	out->stmt_lock_timeout_ms = 0;
	out->lock_retries = 0;
	if (opts->stmt_lock_timeout_ms >= 0 || opts->lock_retries >= 0)
	{
		out->stmt_lock_timeout_ms = opts->stmt_lock_timeout_ms >= 0 ? opts->stmt_lock_timeout_ms : 1000;
		out->lock_retries = opts->lock_retries >= 0 ? opts->lock_retries : 10;
	}
	out->check = opts->has_check ? opts->check : MIG_SEV_NONE;
	/* Cloud calls: the call's cloud_timeout, else atlas { cloud { timeout } } */
	out->cloud_timeout_ms = opts->cloud_timeout_ms > 0 ? opts->cloud_timeout_ms : 0;
	if (out->cloud_timeout_ms == 0 && env.cloud_timeout && env.cloud_timeout[0])
	{
		if ((rc = mig_parse_duration(env.cloud_timeout, &out->cloud_timeout_ms, err)) != MIG_OK ||
			(rc = check_env_timeout(out->cloud_timeout_ms, env.cloud_timeout, err)) != MIG_OK)
		{
			mig_err_prefix(err, "atlas.hcl: cloud.timeout: ");
			goto done;
		}
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
	mig_env_free(&env);
	mig_hcl_free(cfg);
	return rc;
}
