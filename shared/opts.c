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

/*
 * The options, in the order the SQL signatures list them.  sql_type is the
 * PostgreSQL argument's type; builtin is what applies when neither the
 * call, the env nor a server setting gives a value.
 */
const mig_opt_def mig_opt_defs[MIG_NOPTS] = {
	{MIG_OPT_AMOUNT, "amount", MIG_KIND_AMOUNT, "integer", NULL, false, "all pending",
	"apply at most this many pending files"},
	{MIG_OPT_TO_VERSION, "to_version", MIG_KIND_TEXT, "text", NULL, false, "the last file",
	"apply up to and including this version"},
	{MIG_OPT_DRY_RUN, "dry_run", MIG_KIND_BOOL, "boolean", NULL, false, "false",
	"print what would run, change nothing"},
	{MIG_OPT_BASELINE, "baseline", MIG_KIND_TEXT, "text", "migration.baseline", false, "none",
	"on a database with no revisions, mark files up to this version as applied"},
	{MIG_OPT_ALLOW_DIRTY, "allow_dirty", MIG_KIND_BOOL, "boolean", NULL, false, "false",
	"apply to a database that has tables but no revisions"},
	{MIG_OPT_TX_MODE, "tx_mode", MIG_KIND_TX_MODE, "text", "migration.tx_mode", true, "file",
	"file, all or none: one transaction per file, for the run, or none"},
	{MIG_OPT_EXEC_ORDER, "exec_order", MIG_KIND_EXEC_ORDER, "text", "migration.exec_order", false, "linear",
	"linear, linear_skip or non_linear: what to do with files older than the last applied"},
	{MIG_OPT_LOCK_TIMEOUT, "lock_timeout", MIG_KIND_DURATION, "text", "migration.lock_timeout", true, "10s",
	"how long to wait for the migration lock another run holds"},
	{MIG_OPT_CLOUD_TIMEOUT, "cloud_timeout", MIG_KIND_DURATION, "text", "cloud.timeout", false, "60s",
	"bound on each Atlas Cloud call, retries included"},
	{MIG_OPT_STMT_LOCK_TIMEOUT, "statement_lock_timeout", MIG_KIND_DURATION, "text", NULL, true, "off (1s with lock_retries)",
	"how long each statement may wait for a table lock before the file is retried"},
	{MIG_OPT_LOCK_RETRIES, "lock_retries", MIG_KIND_COUNT, "integer", NULL, true, "0 (10 with statement_lock_timeout)",
	"how many more times a file (tx_mode all: the run; txmode none: the statement) runs after a statement lock timeout"},
	{MIG_OPT_PREFLIGHT, "preflight", MIG_KIND_SEVERITY, "text", NULL, true, "off",
	"off, info, warning or error: refuse to start when a pre-flight finding is at least this severe"},
	{MIG_OPT_VARS, "vars", MIG_KIND_VARS, "jsonb", NULL, false, "none",
	"values for the variables atlas.hcl declares"},
};

const mig_opt_def *
mig_opt_find(const char *name)
{
	size_t		i;

	for (i = 0; i < MIG_NOPTS; i++)
		if (strcmp(mig_opt_defs[i].name, name) == 0)
			return &mig_opt_defs[i];
	return NULL;
}

const char *
mig_opt_source_name(mig_opt_source s)
{
	switch (s)
	{
		case MIG_SRC_CALL:
			return "call";
		case MIG_SRC_HCL:
			return "atlas.hcl";
		case MIG_SRC_SERVER:
			return "server setting";
		case MIG_SRC_BUILTIN:
			break;
	}
	return "default";
}

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

/* Record option d's value in o (strings are copied; v may be NULL). */
static int
store(mig_opts *o, const mig_opt_def *d, int64_t n, const char *str, int word, mig_err *err)
{
	char	  **dst = NULL;

	switch (d->id)
	{
		case MIG_OPT_AMOUNT:
			o->amount = n;
			break;
		case MIG_OPT_TO_VERSION:
			dst = &o->to_version;
			break;
		case MIG_OPT_DRY_RUN:
			o->dry_run = n != 0;
			break;
		case MIG_OPT_BASELINE:
			dst = &o->baseline;
			break;
		case MIG_OPT_ALLOW_DIRTY:
			o->allow_dirty = n != 0;
			break;
		case MIG_OPT_TX_MODE:
			o->tx_mode = (mig_txmode) word;
			break;
		case MIG_OPT_EXEC_ORDER:
			o->exec_order = (mig_exec_order) word;
			break;
		case MIG_OPT_LOCK_TIMEOUT:
			o->lock_timeout_ms = n;
			break;
		case MIG_OPT_CLOUD_TIMEOUT:
			o->cloud_timeout_ms = n;
			break;
		case MIG_OPT_STMT_LOCK_TIMEOUT:
			o->stmt_lock_timeout_ms = n;
			break;
		case MIG_OPT_LOCK_RETRIES:
			o->lock_retries = n;
			break;
		case MIG_OPT_PREFLIGHT:
			o->preflight = (mig_severity) word;
			break;
		case MIG_OPT_VARS:
		case MIG_NOPTS:
			break;
	}
	if (dst)
	{
		mig_free(*dst);
		if ((*dst = mig_strdup(str ? str : "")) == NULL)
			return mig_err_set(err, MIG_ENOMEM, "out of memory");
	}
	o->given |= 1u << d->id;
	return MIG_OK;
}

/* Parse one option word of kind k; *word gets the enum value. */
static int
parse_word(mig_opt_kind k, const char *s, int *word, mig_err *err)
{
	int			rc = MIG_EINVAL;

	if (k == MIG_KIND_TX_MODE)
	{
		mig_txmode	m;

		rc = mig_parse_txmode(s, &m, err);
		*word = (int) m;
	}
	else if (k == MIG_KIND_EXEC_ORDER)
	{
		mig_exec_order e;

		rc = mig_parse_exec_order(s, &e, err);
		*word = (int) e;
	}
	else if (k == MIG_KIND_SEVERITY)
	{
		mig_severity v;

		rc = mig_parse_severity(s, &v, err);
		*word = (int) v;
	}
	return rc;
}

/* A count (integer 0 .. 2^31-1) in text: the whole text is the number. */
static bool
parse_count(const char *s, int64_t *n)
{
	char	   *end;
	long long	v;

	if (!isdigit((unsigned char) s[0]))
		return false;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < 0 || v > INT32_MAX)
		return false;
	*n = v;
	return true;
}

int
mig_opts_set_text(mig_opts *o, const mig_opt_def *d, const char *text,
				  const char *what, mig_err *err)
{
	int64_t		n = 0;
	int			word = 0;
	int			rc;

	switch (d->kind)
	{
		case MIG_KIND_DURATION:
			if ((rc = mig_parse_duration(text, &n, err)) != MIG_OK ||
				(rc = check_quoted(what, n, text, err)) != MIG_OK)
				return rc;
			break;
		case MIG_KIND_TX_MODE:
		case MIG_KIND_EXEC_ORDER:
		case MIG_KIND_SEVERITY:
			if ((rc = parse_word(d->kind, text, &word, err)) != MIG_OK)
				return rc;
			break;
		case MIG_KIND_COUNT:
		case MIG_KIND_AMOUNT:
			if (!parse_count(text, &n))
			{
				err_quoted(err, "", text);
				mig_err_prefix(err, "%s must be an integer from 0 to %d, got ", what, INT32_MAX);
				return MIG_EINVAL;
			}
			break;
		case MIG_KIND_BOOL:
			if (strcmp(text, "true") == 0)
				n = 1;
			else if (strcmp(text, "false") != 0)
				return mig_err_set(err, MIG_EINVAL, "%s must be true or false", what);
			break;
		case MIG_KIND_TEXT:
			break;
		case MIG_KIND_VARS:
			return mig_err_set(err, MIG_EINVAL, "%s: variables are not set from text", what);
	}
	return store(o, d, n, text, word, err);
}

static int
want_type(bool ok, const char *key, const char *what, mig_err *err)
{
	if (!ok)
		return mig_err_set(err, MIG_EINVAL, "option \"%s\" must be %s", key, what);
	return MIG_OK;
}

/* A JSON integer in lo..INT32_MAX, else the option's range error. */
static int
json_int(const cJSON *it, const char *key, int64_t lo, int64_t *n, mig_err *err)
{
	double		a = it->valuedouble;
	int			rc;

	if ((rc = want_type(cJSON_IsNumber(it), key, "an integer", err)) != MIG_OK)
		return rc;
	if (!(a >= (double) lo && a <= (double) INT32_MAX) || a != (double) (int64_t) a)
		return mig_err_set(err, MIG_EINVAL, "option \"%s\" must be an integer from %d to %d, got %.17g",
						   key, lo < 0 ? 1 : (int) lo, INT32_MAX, a);
	*n = (int64_t) a;
	return MIG_OK;
}

/* A duration: a Go duration string, or a JSON number of seconds. */
static int
json_duration(const cJSON *it, const char *key, int64_t *ms, mig_err *err)
{
	char		what[64];
	int			rc;

	snprintf(what, sizeof(what), "option \"%s\"", key);
	if (cJSON_IsNumber(it))
	{
		double		sec = it->valuedouble;
		char		given[64];

		snprintf(given, sizeof(given), "%.17g", sec);
		if (!(sec >= 0 && sec <= (double) (MIG_TIMEOUT_MAX_MS / 1000)))
			return mig_check_timeout(what, -1, given, err);
		*ms = (int64_t) (sec * 1000.0);
		if (*ms == 0 && sec > 0)
			*ms = 1;
		return MIG_OK;
	}
	if ((rc = want_type(cJSON_IsString(it), key, "a duration such as \"10s\"", err)) ||
		(rc = mig_parse_duration(it->valuestring, ms, err)) ||
		(rc = check_quoted(what, *ms, it->valuestring, err)))
		return rc;
	return MIG_OK;
}

/* "Valid options are a, b, ... and z." from the table. */
static void
hint_valid_options(mig_err *err)
{
	mig_buf		b;
	size_t		i;

	mig_buf_init(&b);
	mig_buf_puts(&b, "Valid options are ");
	for (i = 0; i < MIG_NOPTS; i++)
	{
		if (i > 0)
			mig_buf_puts(&b, i + 1 == MIG_NOPTS ? " and " : ", ");
		mig_buf_puts(&b, mig_opt_defs[i].name);
	}
	mig_buf_puts(&b, ".");
	if (!b.oom)
		mig_err_hint(err, "%s", b.data);
	mig_buf_free(&b);
}

/* One key of the options object. */
static int
parse_json_option(const cJSON *it, mig_opts *o, mig_err *err)
{
	const char *k = it->string;
	const mig_opt_def *d = mig_opt_find(k);
	int64_t		n = 0;
	int			word = 0;
	int			rc;

	if (d == NULL)
	{
		rc = mig_err_set(err, MIG_EINVAL, "unknown option \"%.100s\"", k);
		hint_valid_options(err);
		return rc;
	}
	switch (d->kind)
	{
		case MIG_KIND_AMOUNT:
			/* 0 and negatives pass on to mig_resolve for Atlas's wording */
			if ((rc = json_int(it, k, -(int64_t) INT32_MAX, &n, err)) != MIG_OK)
				return rc;
			break;
		case MIG_KIND_COUNT:
			if ((rc = json_int(it, k, 0, &n, err)) != MIG_OK)
				return rc;
			break;
		case MIG_KIND_BOOL:
			if ((rc = want_type(cJSON_IsBool(it), k, "true or false", err)) != MIG_OK)
				return rc;
			n = cJSON_IsTrue(it);
			break;
		case MIG_KIND_TEXT:
			if ((rc = want_type(cJSON_IsString(it), k, "a string", err)) != MIG_OK)
				return rc;
			break;
		case MIG_KIND_DURATION:
			if ((rc = json_duration(it, k, &n, err)) != MIG_OK)
				return rc;
			break;
		case MIG_KIND_TX_MODE:
		case MIG_KIND_EXEC_ORDER:
		case MIG_KIND_SEVERITY:
			if ((rc = want_type(cJSON_IsString(it), k, "a string", err)) != MIG_OK ||
				(rc = parse_word(d->kind, it->valuestring, &word, err)) != MIG_OK)
				return rc;
			break;
		case MIG_KIND_VARS:
			if ((rc = parse_vars(it, &o->vars, err)) != MIG_OK)
				return rc;
			o->given |= 1u << d->id;
			return MIG_OK;
	}
	return store(o, d, n, cJSON_IsString(it) ? it->valuestring : NULL, word, err);
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
		rc = mig_err_set(err, MIG_EINVAL, "options must be a JSON object, e.g. {\"dry_run\": true}");
	else
		cJSON_ArrayForEach(it, root)
		{
			if (cJSON_IsNull(it))
				continue;
			if ((rc = parse_json_option(it, o, err)) != MIG_OK)
				break;
		}
	cJSON_Delete(root);
	return rc;
}
