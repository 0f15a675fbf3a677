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
#include "utils/memutils.h"
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

typedef struct envs_state
{
	ReturnSetInfo *rsinfo;
	MemoryContext outer;		/* where a caught error is copied */
	ErrorData  *error;			/* what a row raised, rethrown after the core */
} envs_state;

/* mig_config_envs's callback: nothing longjmps through the core. */
static void
env_setting(void *arg, const char *env, const char *setting, const char *value, const char *source)
{
	envs_state *st = arg;

	if (st->error)
		return;
	PG_TRY();
	{
		env_row(st->rsinfo, env, setting, value, source);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(st->outer);
		st->error = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
}

/*
 * Every env of the stored atlas.hcl with its settings as a call without
 * arguments would resolve them (the server settings atlas_migrate.*
 * included), and where each comes from.  Secrets are never shown: URLs are
 * redacted, Atlas Cloud is "on" or "off".
 */
Datum
atlas_config_envs(PG_FUNCTION_ARGS)
{
	bool		getenv_ok = false;
	char	   *hcl = pg_store_config_get(&getenv_ok);
	envs_state	st;
	mig_opts	server;
	mig_err		err;
	int			rc;

	InitMaterializedSRF(fcinfo, 0);
	if (hcl == NULL)
		return (Datum) 0;
	st.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	st.outer = CurrentMemoryContext;
	st.error = NULL;
	mig_err_clear(&err);
	mig_opts_init(&server);
	rc = pg_ext_server_options(&server, &err);
	if (rc == MIG_OK)
		rc = mig_config_envs(hcl, strlen(hcl), &server, !getenv_ok, env_setting, &st, &err);
	mig_opts_free(&server);
	if (st.error)
		ReThrowError(st.error);
	if (rc != MIG_OK)
	{
		mig_err		copy = err;

		pg_error_raise(ERROR, &copy, NULL, NULL);
	}
	return (Datum) 0;
}
