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
#include "utils/memutils.h"
#include "utils/rel.h"

#include "pg_ext.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * Server-wide defaults: atlas_migrate.<option> for the options marked
 * server in mig_opt_defs (opts.c), as text in the option's own syntax ("" =
 * not set).  A call's argument and the env's atlas.hcl attribute override
 * them (mig_resolve_ex).  The worker runs with its caller's settings
 * (pg_worker.c restores them), so both read the same values here.
 */
static char *server_text[MIG_NOPTS];

/* A setting's value must parse as its option does. */
static bool
check_server_option(mig_opt_id id, char **newval)
{
	const mig_opt_def *d = &mig_opt_defs[id];
	mig_opts	o;
	mig_err		err;
	char		what[80];
	bool		ok;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	mig_err_clear(&err);
	mig_opts_init(&o);
	snprintf(what, sizeof(what), "atlas_migrate.%s", d->name);
	ok = mig_opts_set_text(&o, d, *newval, what, &err) == MIG_OK;
	mig_opts_free(&o);
	if (!ok)
	{
		GUC_check_errdetail("%s", err.msg);
		if (err.hint[0])
			GUC_check_errhint("%s", err.hint);
	}
	return ok;
}

/* GUC check hooks know not which setting they check: one per option. */
#define SERVER_OPTION_HOOK(ID) \
static bool \
check_##ID(char **newval, void **extra, GucSource source) \
{ \
	return check_server_option(ID, newval); \
}
SERVER_OPTION_HOOK(MIG_OPT_TX_MODE)
SERVER_OPTION_HOOK(MIG_OPT_LOCK_TIMEOUT)
SERVER_OPTION_HOOK(MIG_OPT_STMT_LOCK_TIMEOUT)
SERVER_OPTION_HOOK(MIG_OPT_LOCK_RETRIES)
SERVER_OPTION_HOOK(MIG_OPT_PREFLIGHT)

static GucStringCheckHook
server_option_hook(mig_opt_id id)
{
	switch (id)
	{
		case MIG_OPT_TX_MODE:
			return check_MIG_OPT_TX_MODE;
		case MIG_OPT_LOCK_TIMEOUT:
			return check_MIG_OPT_LOCK_TIMEOUT;
		case MIG_OPT_STMT_LOCK_TIMEOUT:
			return check_MIG_OPT_STMT_LOCK_TIMEOUT;
		case MIG_OPT_LOCK_RETRIES:
			return check_MIG_OPT_LOCK_RETRIES;
		case MIG_OPT_PREFLIGHT:
			return check_MIG_OPT_PREFLIGHT;
		default:
			elog(ERROR, "atlas_migrate: option \"%s\" has no server setting hook",
				 mig_opt_defs[id].name);
	}
	return NULL;
}

/*
 * The server-wide defaults (the settings atlas_migrate.*), defined from
 * the options table.  No shared_preload_libraries is needed: PostgreSQL
 * keeps postgresql.conf's values until the library loads, then checks them.
 */
void
_PG_init(void)
{
	size_t		i;

	for (i = 0; i < MIG_NOPTS; i++)
	{
		const mig_opt_def *d = &mig_opt_defs[i];
		char		name[80];
		char		desc[300];

		if (!d->server)
			continue;
		snprintf(name, sizeof(name), "atlas_migrate.%s", d->name);
		snprintf(desc, sizeof(desc), "Default %s of atlas_migrate_apply (%s).", d->name, d->doc);
		DefineCustomStringVariable(MemoryContextStrdup(TopMemoryContext, name),
								   MemoryContextStrdup(TopMemoryContext, desc),
								   "A call's argument and the env's atlas.hcl attribute override it; empty means not set.",
								   &server_text[i], "", PGC_USERSET, 0,
								   server_option_hook(d->id), NULL, NULL);
	}
	MarkGUCPrefixReserved("atlas_migrate");
}

int
pg_ext_server_options(mig_opts *o, mig_err *err)
{
	size_t		i;
	int			rc;

	for (i = 0; i < MIG_NOPTS; i++)
	{
		char		what[80];

		if (!mig_opt_defs[i].server || server_text[i] == NULL || server_text[i][0] == '\0')
			continue;
		snprintf(what, sizeof(what), "atlas_migrate.%s", mig_opt_defs[i].name);
		if ((rc = mig_opts_set_text(o, &mig_opt_defs[i], server_text[i], what, err)) != MIG_OK)
			return rc;
	}
	return MIG_OK;
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
