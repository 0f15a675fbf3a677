/*
 * pg_config.c - the stored configuration as a DBA may inspect it:
 * atlas_config_get(), the atlas.hcl text with every secret replaced (the
 * core's mig_hcl_redact: token values become "<redacted>", URL passwords
 * xxxxx; comments and layout are kept), and atlas_config_envs(), each env's
 * resolved settings and where each comes from.
 *
 * Both are revoked from PUBLIC like atlas_config_set: the roles granted
 * EXECUTE on them read the configuration, never the token.  The stored text is read as
 * the extension owner (pg_store.c).
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/tuplestore.h"
#include "utils/builtins.h"

#include "pg_ext.h"

PG_FUNCTION_INFO_V1(atlas_config_get);

Datum
atlas_config_get(PG_FUNCTION_ARGS)
{
	char	   *hcl = pg_store_config_get(NULL);
	char	   *shown = NULL;
	text	   *result;
	mig_err		err;

	if (hcl == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("no atlas.hcl configuration is stored"),
				 errhint("Store one first with atlas_config_set().")));
	mig_err_clear(&err);
	if (mig_hcl_redact(hcl, strlen(hcl), &shown, &err) != MIG_OK)
	{
		mig_err		copy = err;

		pfree(hcl);
		pg_error_raise(ERROR, &copy, NULL, NULL);
	}
	result = cstring_to_text(shown);
	mig_free(shown);
	pfree(hcl);
	PG_RETURN_TEXT_P(result);
}

/* ---------------------------------------------------------------- atlas_config_envs */

PG_FUNCTION_INFO_V1(atlas_config_envs);

static void
env_row(ReturnSetInfo *rsinfo, const char *env, const char *setting, const char *value,
		const char *source)
{
	Datum		values[4];
	bool		nulls[4] = {false};

	values[0] = CStringGetTextDatum(env);
	values[1] = CStringGetTextDatum(setting);
	if (value)
		values[2] = CStringGetTextDatum(value);
	else
		nulls[2] = true;
	if (source)
		values[3] = CStringGetTextDatum(source);
	else
		nulls[3] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* One env's resolved settings, or the reason it cannot be resolved yet. */
static void
env_rows(ReturnSetInfo *rsinfo, const char *hcl, bool getenv_ok, const char *env)
{
	mig_run_cfg cfg;
	mig_err		err;
	size_t		i;

	mig_err_clear(&err);
	if (pg_resolve_call(hcl, env, NULL, getenv_ok, &cfg, &err) != MIG_OK)
	{
		/* e.g. a variable without a default: known at the call only */
		env_row(rsinfo, env, "error", err.msg, NULL);
		return;
	}
	env_row(rsinfo, env, "url", cfg.db_url_redacted, cfg.db_url_redacted ? "atlas.hcl" : NULL);
	env_row(rsinfo, env, "dir", cfg.dir_url_redacted, "atlas.hcl");
	env_row(rsinfo, env, "revisions_schema",
			cfg.revisions_schema ? cfg.revisions_schema : "atlas_schema_revisions",
			cfg.revisions_schema ? "atlas.hcl" : "default");
	for (i = 0; i < MIG_NOPTS; i++)
	{
		char		buf[64];
		const char *v = mig_run_cfg_option_text(&cfg, mig_opt_defs[i].id, buf, sizeof(buf));

		if (v)
			env_row(rsinfo, env, mig_opt_defs[i].name, v,
					mig_opt_source_name(cfg.source[mig_opt_defs[i].id]));
	}
	/* whether Atlas Cloud is used, never the token */
	env_row(rsinfo, env, "cloud", cfg.cloud ? "on" : "off", cfg.cloud ? "atlas.hcl" : "default");
	mig_run_cfg_free(&cfg);
}

/*
 * Every env of the stored atlas.hcl with its settings as a call without
 * arguments would resolve them, and where each comes from (atlas.hcl, a
 * server setting, the default).  Secrets are never shown: URLs are
 * redacted, Atlas Cloud is "on" or "off".
 */
Datum
atlas_config_envs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		getenv_ok = false;
	char	   *hcl = pg_store_config_get(&getenv_ok);
	mig_config *parsed = NULL;
	const char **names = NULL;
	size_t		n = 0,
				i;
	mig_err		err;

	InitMaterializedSRF(fcinfo, 0);
	if (hcl == NULL)
		return (Datum) 0;
	mig_err_clear(&err);
	if (mig_hcl_parse(hcl, strlen(hcl), &parsed, &err) != MIG_OK ||
		mig_hcl_env_names(parsed, &names, &n, &err) != MIG_OK)
	{
		mig_err		copy = err;

		mig_hcl_free(parsed);
		pg_error_raise(ERROR, &copy, NULL, NULL);
	}
	/* the names point into parsed: copy them before it goes */
	{
		char	  **copies = palloc0(sizeof(char *) * (n ? n : 1));

		for (i = 0; i < n; i++)
			copies[i] = pstrdup(names[i]);
		mig_free(names);
		mig_hcl_free(parsed);
		for (i = 0; i < n; i++)
			env_rows(rsinfo, hcl, getenv_ok, copies[i]);
	}
	return (Datum) 0;
}
