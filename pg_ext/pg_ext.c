/*
 * pg_ext.c - the PostgreSQL extension's module: magic block, load-time
 * setup, and how the C code reaches the extension's own tables.
 *
 * The configuration (atlas.hcl, possibly with secrets in getenv() calls or
 * literals) and the run history live in tables owned by the extension owner
 * that PUBLIC cannot read.  A role granted EXECUTE on atlas_migrate_apply
 * must still be able to run, so the C code reads and writes those tables
 * as the extension owner: SetUserIdAndSecContext(owner,
 * SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION) with a
 * pinned search_path, for the few fixed statements of pg_store.c only (the
 * same switch a SECURITY DEFINER function makes, without exposing a
 * callable function).  Migrations themselves never run as the owner.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "pg_ext.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * Nothing to set up at load time: the extension needs no
 * shared_preload_libraries; the worker library is loaded on demand.
 */
void
_PG_init(void)
{
}

void
pg_ext_lookup(Oid *nspid, Oid *owner)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			extoid = get_extension_oid("atlas_migrate", true);

	if (!OidIsValid(extoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"atlas_migrate\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION atlas_migrate;")));

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "could not find extension \"atlas_migrate\" (oid %u)", extoid);
	if (nspid)
		*nspid = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	if (owner)
		*owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

bool
pg_ext_reads_server_files(Oid role)
{
	return OidIsValid(role) &&
		(superuser_arg(role) || has_privs_of_role(role, ROLE_PG_READ_SERVER_FILES));
}

char *
pg_ext_relname(const char *name)
{
	Oid			nspid;
	char	   *nspname;

	pg_ext_lookup(&nspid, NULL);
	nspname = get_namespace_name(nspid);
	if (nspname == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", nspid);
	return quote_qualified_identifier(nspname, name);
}

int
pg_ext_pin_search_path(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return nest;
}

void
pg_ext_unpin_search_path(int nest)
{
	AtEOXact_GUC(true, nest);
}

void
pg_ext_as_owner(void (*fn) (void *arg), void *arg)
{
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;

	pg_ext_lookup(NULL, &owner);
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	PG_TRY();
	{
		(void) set_config_option("search_path", "pg_catalog, pg_temp",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
		fn(arg);
	}
	PG_FINALLY();
	{
		AtEOXact_GUC(false, save_nestlevel);
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
}
