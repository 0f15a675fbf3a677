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
	o->stmt_lock_timeout_ms = -1;
	o->lock_retries = -1;
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

/* off | info | warning | error: the "preflight" option's threshold. */
int
mig_parse_severity(const char *s, mig_severity *sev, mig_err *err)
{
	if (strcmp(s, "off") == 0)
		*sev = MIG_SEV_NONE;
	else if (strcmp(s, "info") == 0)
		*sev = MIG_SEV_INFO;
	else if (strcmp(s, "warning") == 0)
		*sev = MIG_SEV_WARNING;
	else if (strcmp(s, "error") == 0)
		*sev = MIG_SEV_ERROR;
	else
	{
		err_quoted(err, "unknown preflight severity ", s);
		mig_err_hint(err, "Valid values are \"off\", \"info\", \"warning\" and \"error\".");
		return MIG_EINVAL;
	}
	return MIG_OK;
}

/* Go's unitMap (time/format.go): nanoseconds per unit. */
static uint64_t
duration_unit(const char *u, size_t n)
{
	static const struct
	{
		const char *name;
		uint64_t	ns;
	}			units[] = {
		{"ns", 1}, {"us", 1000}, {"\xc2\xb5s", 1000}, {"\xce\xbcs", 1000},
		{"ms", 1000000}, {"s", 1000000000}, {"m", 60000000000ULL},
		{"h", 3600000000000ULL},
	};
	size_t		i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0)
			return units[i].ns;
	return 0;
}

/*
 * Go's time.ParseDuration (§i.2 lock_timeout), in exact integer arithmetic:
 * [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ or "0"; a value past 2^63-1 ns (292
 * years) is an invalid duration, as in Go.  *ms is rounded up to 1 ms for a
 * positive value below a millisecond and may be negative: callers check the
 * range they accept (mig_check_timeout).
 */
int
mig_parse_duration(const char *s, int64_t *ms, mig_err *err)
{
	const uint64_t max = (uint64_t) 1 << 63;
	const char *p = s;
	uint64_t	total = 0;
	bool		neg = false;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (strcmp(p, "0") == 0)
	{
		*ms = 0;
		return MIG_OK;
	}
	if (*p == '\0')
		goto bad;
	while (*p)
	{
		uint64_t	v = 0,
					f = 0,
					unit;
		double		scale = 1;
		bool		pre = false,
					post = false,
					fover = false;
		const char *u;

		if (!(*p == '.' || (*p >= '0' && *p <= '9')))
			goto bad;
		for (; *p >= '0' && *p <= '9'; p++)
		{
			if (v > max / 10)
				goto bad;		/* overflow */
			v = v * 10 + (uint64_t) (*p - '0');
			if (v > max)
				goto bad;
			pre = true;
		}
		if (*p == '.')
		{
			for (p++; *p >= '0' && *p <= '9'; p++)
			{
				post = true;
				/* Go's leadingFraction: digits past 2^63 are dropped */
				if (fover)
					continue;
				if (f > (max - 1) / 10 || f * 10 + (uint64_t) (*p - '0') > max)
				{
					fover = true;
					continue;
				}
				f = f * 10 + (uint64_t) (*p - '0');
				scale *= 10;
			}
		}
		if (!pre && !post)
			goto bad;
		for (u = p; *p && *p != '.' && !(*p >= '0' && *p <= '9'); p++)
			;
		if (p == u)
		{
			err_quoted(err, "missing unit in duration ", s);
			goto hint;
		}
		if ((unit = duration_unit(u, (size_t) (p - u))) == 0)
		{
			mig_buf		b;

			mig_buf_init(&b);
			mig_buf_puts(&b, "unknown unit ");
			mig_buf_goquote(&b, u, (size_t) (p - u) > 50 ? 50 : (size_t) (p - u));
			mig_buf_puts(&b, " in duration ");
			mig_buf_goquote(&b, s, strlen(s) > 200 ? 200 : strlen(s));
			mig_err_set(err, MIG_EINVAL, "%s", b.data && !b.oom ? b.data : "unknown unit in duration");
			mig_buf_free(&b);
			goto hint;
		}
		if (v > max / unit)
			goto bad;
		v *= unit;
		if (f > 0)
		{
			v += (uint64_t) ((double) f * ((double) unit / scale));
			if (v > max)
				goto bad;
		}
		total += v;
		if (total > max)
			goto bad;
	}
	if (!neg && total > max - 1)
		goto bad;
	*ms = (int64_t) (total / 1000000);
	if (*ms == 0 && total > 0)
		*ms = 1;
	if (neg)
		*ms = -*ms;
	return MIG_OK;
bad:
	err_quoted(err, "invalid duration ", s);
hint:
	mig_err_hint(err, "Use a Go duration such as \"10s\", \"1m30s\" or \"500ms\".");
	return MIG_EINVAL;
}

/*
 * The hosts wait on int milliseconds (SQLite's busy timeout, PostgreSQL's
 * lock waits), about 24.8 days at most, with a margin added: timeouts are
 * refused outside 0..MIG_TIMEOUT_MAX_MS rather than wrapped or clamped.
 */
int
mig_check_timeout(const char *what, int64_t ms, const char *given, mig_err *err)
{
	if (ms >= 0 && ms <= MIG_TIMEOUT_MAX_MS)
		return MIG_OK;
	mig_err_set(err, MIG_EINVAL, "%s must be a duration from 0 to %s (%lld seconds), got %.200s",
				what, MIG_TIMEOUT_MAX_TEXT, (long long) (MIG_TIMEOUT_MAX_MS / 1000), given);
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

/* mig_check_timeout for a duration text (quoted in the message). */
static int
check_quoted(const char *what, int64_t ms, const char *text, mig_err *err)
{
	mig_buf		b;
	int			rc;

	if (ms >= 0 && ms <= MIG_TIMEOUT_MAX_MS)
		return MIG_OK;
	mig_buf_init(&b);
	mig_buf_goquote(&b, text, strlen(text) > 100 ? 100 : strlen(text));
	rc = mig_check_timeout(what, ms, b.data && !b.oom ? b.data : "", err);
	mig_buf_free(&b);
	return rc;
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
			double		a = it->valuedouble;

			if ((rc = want_type(it, cJSON_IsNumber(it), k, "an integer", err)))
				goto done;
			/* 0 and negatives pass on to mig_resolve for Atlas's wording */
			if (!(a >= -(double) INT32_MAX && a <= (double) INT32_MAX) || a != (double) (int64_t) a)
			{
				rc = mig_err_set(err, MIG_EINVAL, "option \"amount\" must be an integer from 1 to %d, got %.17g",
								 INT32_MAX, a);
				goto done;
			}
			o->has_amount = true;
			o->amount = (int64_t) a;
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
		else if (strcmp(k, "lock_timeout") == 0 || strcmp(k, "cloud_timeout") == 0 ||
				 strcmp(k, "statement_lock_timeout") == 0)
		{
			int64_t    *dst = k[0] == 'l' ? &o->lock_timeout_ms :
				k[0] == 'c' ? &o->cloud_timeout_ms : &o->stmt_lock_timeout_ms;
			char		what[64];

			snprintf(what, sizeof(what), "option \"%s\"", k);

			if (cJSON_IsNumber(it))
			{
				/* a bare number is seconds */
				double		sec = it->valuedouble;
				char		given[64];

				snprintf(given, sizeof(given), "%.17g", sec);
				if (!(sec >= 0 && sec <= (double) (MIG_TIMEOUT_MAX_MS / 1000)))
				{
					rc = mig_check_timeout(what, -1, given, err);
					goto done;
				}
				*dst = (int64_t) (sec * 1000.0);
				if (*dst == 0 && sec > 0)
					*dst = 1;
			}
			else if ((rc = want_type(it, cJSON_IsString(it), k, "a duration such as \"10s\"", err)) ||
					 (rc = mig_parse_duration(it->valuestring, dst, err)) ||
					 (rc = check_quoted(what, *dst, it->valuestring, err)))
				goto done;
		}
		else if (strcmp(k, "lock_retries") == 0)
		{
			double		a = it->valuedouble;

			if ((rc = want_type(it, cJSON_IsNumber(it), k, "an integer", err)))
				goto done;
			if (!(a >= 0 && a <= (double) INT32_MAX) || a != (double) (int64_t) a)
			{
				rc = mig_err_set(err, MIG_EINVAL, "option \"lock_retries\" must be an integer from 0 to %d, got %.17g",
								 INT32_MAX, a);
				goto done;
			}
			o->lock_retries = (int64_t) a;
		}
		else if (strcmp(k, "preflight") == 0)
		{
			if ((rc = want_type(it, cJSON_IsString(it), k, "a string", err)) ||
				(rc = mig_parse_severity(it->valuestring, &o->check, err)))
				goto done;
			o->has_check = true;
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
						 "tx_mode, exec_order, lock_timeout, cloud_timeout, statement_lock_timeout, "
						 "lock_retries, preflight and vars.");
			goto done;
		}
	}
done:
	cJSON_Delete(root);
	return rc;
}
