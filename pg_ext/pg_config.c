/*
 * pg_config.c - atlas_config_get(): the stored atlas.hcl as a DBA may see
 * it, with every secret replaced (the core's mig_hcl_redact: token values
 * become "<redacted>", URL passwords xxxxx; comments and layout are kept).
 *
 * Revoked from PUBLIC like atlas_config_set: the roles granted EXECUTE on
 * it read the configuration, never the token.  The stored text is read as
 * the extension owner (pg_store.c).
 */
#include "postgres.h"

#include "fmgr.h"
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
