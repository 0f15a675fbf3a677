/*
 * opts.c - apply options: defaults, the SQLite options JSON object, and the
 * option words (tx_mode, exec_order, Go durations).
 *
 * Knows nothing of PostgreSQL or SQLite.  cJSON objects never leave the
 * function that made them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mig.h"

void
mig_opts_init(mig_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->lock_timeout_ms = -1;
	o->cloud_timeout_ms = -1;
}

void
mig_opts_free(mig_opts *o)
{
	mig_free(o->to_version);
	mig_free(o->baseline);
	mig_vars_free(&o->vars);
	mig_opts_init(o);
}

/* Set MIG_EINVAL "<prefix><Go-quoted value>" (value cut at 200 bytes). */
static void
err_quoted(mig_err *err, const char *prefix, const char *value)
{
	mig_buf		b;
	size_t		n = strlen(value);

	mig_buf_init(&b);
	mig_buf_puts(&b, prefix);
	mig_buf_goquote(&b, value, n > 200 ? 200 : n);
	mig_err_set(err, MIG_EINVAL, "%s", b.data && !b.oom ? b.data : prefix);
	mig_buf_free(&b);
}

/* §g.5: file | all | none. */
int
mig_parse_txmode(const char *s, mig_txmode *m, mig_err *err)
{
	if (strcmp(s, "file") == 0)
		*m = MIG_TX_FILE;
	else if (strcmp(s, "all") == 0)
		*m = MIG_TX_ALL;
	else if (strcmp(s, "none") == 0)
		*m = MIG_TX_NONE;
	else
	{
		err_quoted(err, "unknown tx-mode ", s);
		mig_err_hint(err, "Valid values are \"file\", \"all\" and \"none\".");
		return MIG_EINVAL;
	}
	return MIG_OK;
}

/* §i.2: lower-cased, '_' -> '-'; linear | linear-skip | non-linear. */
int
mig_parse_exec_order(const char *s, mig_exec_order *o, mig_err *err)
{
	char		norm[32];
	size_t		i,
				n = strlen(s);

	if (n >= sizeof(norm))
		goto bad;
	for (i = 0; i <= n; i++)
		norm[i] = s[i] == '_' ? '-' : (char) tolower((unsigned char) s[i]);
	if (strcmp(norm, "linear") == 0)
		*o = MIG_ORDER_LINEAR;
	else if (strcmp(norm, "linear-skip") == 0)
		*o = MIG_ORDER_LINEAR_SKIP;
	else if (strcmp(norm, "non-linear") == 0)
		*o = MIG_ORDER_NON_LINEAR;
	else
		goto bad;
	return MIG_OK;
bad:
	err_quoted(err, "unknown execution order: ", s);
	mig_err_hint(err, "Valid values are \"linear\", \"linear_skip\" and \"non_linear\".");
	return MIG_EINVAL;
}

/*
 * Go's time.ParseDuration subset (§i.2 lock_timeout): a sequence of decimal
 * numbers with optional fraction, each followed by ns, us, µs, ms, s, m or h;
 * "0" alone is allowed; an optional leading sign (negative is refused).
 */
int
mig_parse_duration(const char *s, int64_t *ms, mig_err *err)
{
	const char *p = s;
	double		total_ns = 0;

	if (*p == '+')
		p++;
	if (strcmp(p, "0") == 0)
	{
		*ms = 0;
		return MIG_OK;
	}
	if (*p == '\0')
		goto bad;
	while (*p)
	{
		double		whole = 0,
					frac = 0,
					scale = 1,
					unit;
		bool		digits = false;

		while (*p >= '0' && *p <= '9')
		{
			whole = whole * 10 + (*p++ - '0');
			digits = true;
		}
		if (*p == '.')
		{
			p++;
			while (*p >= '0' && *p <= '9')
			{
				frac = frac * 10 + (*p++ - '0');
				scale *= 10;
				digits = true;
			}
		}
		if (!digits)
			goto bad;
		if (strncmp(p, "ns", 2) == 0)
			unit = 1, p += 2;
		else if (strncmp(p, "us", 2) == 0)
			unit = 1e3, p += 2;
		else if (strncmp(p, "\xc2\xb5s", 3) == 0 || strncmp(p, "\xce\xbcs", 3) == 0)
			unit = 1e3, p += 3;
		else if (strncmp(p, "ms", 2) == 0)
			unit = 1e6, p += 2;
		else if (*p == 's')
			unit = 1e9, p += 1;
		else if (*p == 'm')
			unit = 60e9, p += 1;
		else if (*p == 'h')
			unit = 3600e9, p += 1;
		else
			goto bad;
		total_ns += (whole + frac / scale) * unit;
		if (total_ns > 9.2e18)
			goto bad;
	}
	*ms = (int64_t) (total_ns / 1e6);
	if (*ms == 0 && total_ns > 0)
		*ms = 1;
	return MIG_OK;
bad:
	err_quoted(err, "invalid duration ", s);
	mig_err_hint(err, "Use a Go duration such as \"10s\", \"1m30s\" or \"500ms\".");
	return MIG_EINVAL;
}

void
mig_vars_free(mig_vars *vars)
{
	size_t		i,
				j;

	if (vars == NULL)
		return;
	for (i = 0; i < vars->n; i++)
	{
		mig_free(vars->v[i].name);
		for (j = 0; j < vars->v[i].nvalues; j++)
			mig_free(vars->v[i].values[j]);
		mig_free(vars->v[i].values);
	}
	mig_free(vars->v);
	vars->v = NULL;
	vars->n = 0;
}

/* The text of a scalar JSON value for a variable; NULL if not a scalar. */
static char *
scalar_text(const cJSON *v)
{
	char		num[64];

	if (cJSON_IsString(v))
		return mig_strdup(v->valuestring);
	if (cJSON_IsBool(v))
		return mig_strdup(cJSON_IsTrue(v) ? "true" : "false");
	if (cJSON_IsNumber(v))
	{
		double		d = v->valuedouble;

		if (d == (double) (int64_t) d && d > -9e15 && d < 9e15)
			snprintf(num, sizeof(num), "%lld", (long long) (int64_t) d);
		else
			snprintf(num, sizeof(num), "%.17g", d);
		return mig_strdup(num);
	}
	return NULL;
}

/* Parse a JSON object of variable values ({"name": "v", "list": ["a","b"]}). */
static int
parse_vars(const cJSON *obj, mig_vars *vars, mig_err *err)
{
	const cJSON *it;
	size_t		n = 0;

	if (!cJSON_IsObject(obj))
		return mig_err_set(err, MIG_EINVAL, "option \"vars\" must be a JSON object of variable values");
	cJSON_ArrayForEach(it, obj)
		n++;
	mig_vars_free(vars);
	if (n == 0)
		return MIG_OK;
	vars->v = mig_calloc(n, sizeof(mig_var));
	if (vars->v == NULL)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	cJSON_ArrayForEach(it, obj)
	{
		mig_var    *var = &vars->v[vars->n];
		size_t		k = 0;

		var->name = mig_strdup(it->string);
		if (var->name == NULL)
			return mig_err_set(err, MIG_ENOMEM, "out of memory");
		vars->n++;
		if (cJSON_IsArray(it))
		{
			const cJSON *e;
			size_t		m = (size_t) cJSON_GetArraySize(it);

			var->is_list = true;
			var->values = mig_calloc(m ? m : 1, sizeof(char *));
			if (var->values == NULL)
				return mig_err_set(err, MIG_ENOMEM, "out of memory");
			cJSON_ArrayForEach(e, it)
			{
				char	   *t = scalar_text(e);

				if (t == NULL)
				{
					if (!cJSON_IsString(e) && !cJSON_IsNumber(e) && !cJSON_IsBool(e))
						return mig_err_set(err, MIG_EINVAL,
										   "variable \"%.200s\": list elements must be strings, numbers or booleans",
										   it->string);
					return mig_err_set(err, MIG_ENOMEM, "out of memory");
				}
				var->values[k++] = t;
				var->nvalues = k;
			}
		}
		else
		{
			char	   *t = scalar_text(it);

			if (t == NULL)
			{
				if (!cJSON_IsString(it) && !cJSON_IsNumber(it) && !cJSON_IsBool(it))
					return mig_err_set(err, MIG_EINVAL,
									   "variable \"%.200s\": value must be a string, number, boolean or list",
									   it->string);
				return mig_err_set(err, MIG_ENOMEM, "out of memory");
			}
			var->values = mig_calloc(1, sizeof(char *));
			if (var->values == NULL)
			{
				mig_free(t);
				return mig_err_set(err, MIG_ENOMEM, "out of memory");
			}
			var->values[0] = t;
			var->nvalues = 1;
		}
	}
	return MIG_OK;
}

static int
want_type(const cJSON *v, bool ok, const char *key, const char *what, mig_err *err)
{
	(void) v;
	if (!ok)
		return mig_err_set(err, MIG_EINVAL, "option \"%s\" must be %s", key, what);
	return MIG_OK;
}

int
mig_opts_parse_json(const char *json, size_t len, mig_opts *o, mig_err *err)
{
	cJSON	   *root;
	const cJSON *it;
	int			rc = MIG_OK;

	if (json == NULL || len == 0)
		return MIG_OK;
	root = cJSON_ParseWithLength(json, len);
	if (root == NULL)
	{
		const char *at = cJSON_GetErrorPtr();
		size_t		off = (at && at >= json && at <= json + len) ? (size_t) (at - json) : 0;

		return mig_err_set(err, MIG_EINVAL, "options: invalid JSON near byte %zu", off + 1);
	}
	if (!cJSON_IsObject(root))
	{
		rc = mig_err_set(err, MIG_EINVAL, "options must be a JSON object, e.g. {\"dry_run\": true}");
		goto done;
	}
	cJSON_ArrayForEach(it, root)
	{
		const char *k = it->string;

		if (cJSON_IsNull(it))
			continue;
		if (strcmp(k, "amount") == 0)
		{
			if ((rc = want_type(it, cJSON_IsNumber(it) && it->valuedouble == (double) (int64_t) it->valuedouble,
								k, "an integer", err)))
				goto done;
			o->has_amount = true;
			o->amount = (int64_t) it->valuedouble;
		}
		else if (strcmp(k, "to_version") == 0 || strcmp(k, "baseline") == 0)
		{
			char	  **dst = k[0] == 't' ? &o->to_version : &o->baseline;

			if ((rc = want_type(it, cJSON_IsString(it), k, "a string", err)))
				goto done;
			mig_free(*dst);
			if ((*dst = mig_strdup(it->valuestring)) == NULL)
			{
				rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
				goto done;
			}
		}
		else if (strcmp(k, "dry_run") == 0 || strcmp(k, "allow_dirty") == 0)
		{
			if ((rc = want_type(it, cJSON_IsBool(it), k, "true or false", err)))
				goto done;
			if (k[0] == 'd')
				o->dry_run = cJSON_IsTrue(it);
			else
				o->allow_dirty = cJSON_IsTrue(it);
		}
		else if (strcmp(k, "tx_mode") == 0)
		{
			if ((rc = want_type(it, cJSON_IsString(it), k, "a string", err)) ||
				(rc = mig_parse_txmode(it->valuestring, &o->tx_mode, err)))
				goto done;
		}
		else if (strcmp(k, "exec_order") == 0)
		{
			if ((rc = want_type(it, cJSON_IsString(it), k, "a string", err)) ||
				(rc = mig_parse_exec_order(it->valuestring, &o->exec_order, err)))
				goto done;
		}
		else if (strcmp(k, "lock_timeout") == 0 || strcmp(k, "cloud_timeout") == 0)
		{
			int64_t    *dst = k[0] == 'l' ? &o->lock_timeout_ms : &o->cloud_timeout_ms;

			if (cJSON_IsNumber(it))
			{
				/* a bare number is seconds */
				if (it->valuedouble < 0)
				{
					rc = mig_err_set(err, MIG_EINVAL, "option \"%s\" must not be negative", k);
					goto done;
				}
				*dst = (int64_t) (it->valuedouble * 1000.0);
			}
			else if ((rc = want_type(it, cJSON_IsString(it), k, "a duration such as \"10s\"", err)) ||
					 (rc = mig_parse_duration(it->valuestring, dst, err)))
				goto done;
		}
		else if (strcmp(k, "vars") == 0)
		{
			if ((rc = parse_vars(it, &o->vars, err)))
				goto done;
		}
		else
		{
			rc = mig_err_set(err, MIG_EINVAL, "unknown option \"%.100s\"", k);
			mig_err_hint(err, "Valid options are amount, to_version, dry_run, baseline, allow_dirty, "
						 "tx_mode, exec_order, lock_timeout, cloud_timeout and vars.");
			goto done;
		}
	}
done:
	cJSON_Delete(root);
	return rc;
}
