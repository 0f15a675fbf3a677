/*
 * sqlite_ext.c - the SQLite loadable extension's entry point.
 *
 *   .load ./atlas_migrate        (finds sqlite3_atlasmigrate_init)
 *
 * Only glue: values and errors are converted here and in sqlite_funcs.c,
 * the work happens in the shared core.
 */
#include "sqlite_host.h"

SQLITE_EXTENSION_INIT1

#ifdef _WIN32
__declspec(dllexport)
#endif
int			sqlite3_atlasmigrate_init(sqlite3 *db, char **pzErrMsg,
									  const sqlite3_api_routines *pApi);

int
sqlite3_atlasmigrate_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi)
{
	int			rc;

	SQLITE_EXTENSION_INIT2(pApi);
	rc = sqlite_register_functions(db);
	if (rc != SQLITE_OK && pzErrMsg)
		*pzErrMsg = sqlite3_mprintf("atlas_migrate: registering functions failed: %s",
									sqlite3_errstr(rc));
	return rc;
}
