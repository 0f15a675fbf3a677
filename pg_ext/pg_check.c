/*
 * pg_check.c - the pre-flight check (issue 15) for PostgreSQL: what each
 * pending statement will lock, rewrite, scan or drop, with this database's
 * real sizes; and atlas_migrate_check(), which lists it.
 *
 * Each statement is parsed with the server's own parser (raw_parser: no
 * catalog access, no execution), exactly as the splitter gives it, and its
 * tables are looked up in the catalog with the search_path the migrations
 * run with (the env URL's, DESIGN §2).  Tables created earlier in the same
 * pending set are new and empty: nothing to say about them.  The lock modes
 * are PostgreSQL's ("Explicit Locking", 13.3.1; ALTER TABLE's own through
 * AlterTableGetLockLevel).  Read-only: sizes come from pg_class.reltuples
 * and pg_total_relation_size, taken only where AccessShareLock is free at
 * once, so the check never queues behind the locks it reports on.
 *
 * Severity (README "Pre-flight check"):
 *   error    the statement fails as written (CREATE INDEX CONCURRENTLY in a
 *            transactional file), drops data a table has, or rewrites a
 *            table that has rows;
 *   warning  it blocks writes (or reads) of a table with rows while it
 *            scans it or builds an index, or renames a table or column in
 *            use;
 *   info     the same on an existing empty table, and VALIDATE CONSTRAINT
 *            (a scan that lets reads and writes go on).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/tablecmds.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_coerce.h"
#include "parser/parse_type.h"
#include "parser/parser.h"
#include "storage/lmgr.h"
#include "storage/lockdefs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "pg_ext.h"

PG_FUNCTION_INFO_V1(atlas_migrate_check);

/* One line of advice per kind of finding. */
#define ADV_INDEX		"use CREATE INDEX CONCURRENTLY in a txmode none file"
#define ADV_CIC_TX		"CREATE INDEX CONCURRENTLY cannot run inside a transaction block: put it in a file with -- atlas:txmode none"
#define ADV_TYPE		"changing the column type rewrites the table and its indexes: add a new column, backfill it in batches, then switch"
#define ADV_VOLATILE	"a volatile default is computed for every row: add the column without it, then SET DEFAULT and backfill in batches"
#define ADV_REWRITE		"rewrites the whole table under ACCESS EXCLUSIVE: run it in a maintenance window"
#define ADV_NOT_NULL	"set NOT NULL after a validated CHECK (col IS NOT NULL): add the check NOT VALID, VALIDATE it in a later file"
#define ADV_CHECK		"add the constraint NOT VALID, then VALIDATE in a later file"
#define ADV_FK			"add the foreign key NOT VALID, then VALIDATE in a later file"
#define ADV_UNIQUE		"build the unique index CONCURRENTLY in a txmode none file, then ADD CONSTRAINT ... USING INDEX"
#define ADV_VALIDATE	"scans the table under SHARE UPDATE EXCLUSIVE: reads and writes go on"
#define ADV_DROP_COL	"drops the column and its data: stop using it in code first, keep a backup"
#define ADV_DROP_TABLE	"drops the table and its data: keep a backup"
#define ADV_TRUNCATE	"removes every row of the table"
#define ADV_DELETE		"deletes every row: add a WHERE clause (or TRUNCATE deliberately)"
#define ADV_UPDATE		"updates every row in one transaction: add a WHERE clause or batch it"
#define ADV_RENAME		"breaks running code that uses the old name: add the new name alongside (a view, a new column) and switch the code first"

/* A table a statement names, as the check sees it. */
typedef struct relinfo
{
	char	   *name;			/* qualified when it exists, else as written */
	bool		is_new;			/* created earlier in the pending set */
	bool		exists;			/* found in the catalog */
	int64		rows;			/* reltuples; -1 unknown (never analyzed) */
	int64		bytes;			/* pg_total_relation_size; -1 unknown */
	bool		has_data;		/* rows > 0, or never analyzed but not empty */
} relinfo;

/* A table created earlier in the pending set. */
typedef struct newrel
{
	char	   *schema;			/* NULL: unqualified */
	char	   *name;
} newrel;

/* The check of one run. */
typedef struct check_state
{
	const mig_check_file *files;
	size_t		nfiles;
	mig_checks *out;
	char	   *search_path;	/* the migrations' (malloc'd) */
	List	   *created;		/* newrel *, in the statement memory */
	const char *cur_file;		/* for an error's message */
	size_t		cur_stmt;
	bool		oom;
} check_state;

/* What one statement does, before it becomes a row. */
typedef struct verdict
{
	LOCKMODE	lock;			/* NoLock: none known */
	List	   *rels;			/* relinfo * */
	bool		rewrites;
	bool		scans;
	bool		destructive;
	mig_severity severity;
	const char *advice;
} verdict;

/* PostgreSQL's documented names of the table lock modes. */
static const char *
lock_name(LOCKMODE m)
{
	switch (m)
	{
		case AccessShareLock:
			return "ACCESS SHARE";
		case RowShareLock:
			return "ROW SHARE";
		case RowExclusiveLock:
			return "ROW EXCLUSIVE";
		case ShareUpdateExclusiveLock:
			return "SHARE UPDATE EXCLUSIVE";
		case ShareLock:
			return "SHARE";
		case ShareRowExclusiveLock:
			return "SHARE ROW EXCLUSIVE";
		case ExclusiveLock:
			return "EXCLUSIVE";
		case AccessExclusiveLock:
			return "ACCESS EXCLUSIVE";
		default:
			return NULL;
	}
}

/* The finding with the greater severity wins the row's advice. */
static void
raise_to(verdict *v, mig_severity s, const char *advice)
{
	if (s > v->severity || (s == v->severity && v->advice == NULL))
	{
		v->severity = s;
		v->advice = advice;
	}
}

/* ---------------------------------------------------------------- tables */

static bool
same_name(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/*
 * Was rv created earlier in the pending set?  A name written without a
 * schema on either side matches by name (both resolve through the same
 * search_path).
 */
static bool
is_created(const check_state *cs, const RangeVar *rv)
{
	ListCell   *lc;

	foreach(lc, cs->created)
	{
		const newrel *n = lfirst(lc);

		if (!same_name(n->name, rv->relname))
			continue;
		if (n->schema == NULL || rv->schemaname == NULL || same_name(n->schema, rv->schemaname))
			return true;
	}
	return false;
}

static void
add_created(check_state *cs, const char *schema, const char *name)
{
	newrel	   *n = palloc(sizeof(newrel));

	n->schema = schema ? pstrdup(schema) : NULL;
	n->name = pstrdup(name);
	cs->created = lappend(cs->created, n);
}

static void
drop_created(check_state *cs, const RangeVar *rv)
{
	ListCell   *lc;

	foreach(lc, cs->created)
	{
		const newrel *n = lfirst(lc);

		if (same_name(n->name, rv->relname) &&
			(n->schema == NULL || rv->schemaname == NULL || same_name(n->schema, rv->schemaname)))
		{
			cs->created = foreach_delete_current(cs->created, lc);
			return;
		}
	}
}

static char *
written_name(const RangeVar *rv)
{
	return rv->schemaname ? quote_qualified_identifier(rv->schemaname, rv->relname)
		: pstrdup(quote_identifier(rv->relname));
}

/*
 * Look the table up: new in this pending set, or in the catalog through
 * the search_path, with its row estimate and size.
 */
static relinfo *
lookup_rel(check_state *cs, const RangeVar *rv)
{
	relinfo    *ri = palloc0(sizeof(relinfo));
	Oid			relid;
	HeapTuple	tup;

	ri->rows = -1;
	ri->bytes = -1;
	if (is_created(cs, rv))
	{
		ri->is_new = true;
		ri->name = written_name(rv);
		ri->rows = 0;
		ri->bytes = 0;
		return ri;
	}
	relid = RangeVarGetRelid(rv, NoLock, true);
	tup = OidIsValid(relid) ? SearchSysCache1(RELOID, ObjectIdGetDatum(relid)) : NULL;
	if (!HeapTupleIsValid(tup))
	{
		ri->name = written_name(rv);
		return ri;
	}
	{
		Form_pg_class c = (Form_pg_class) GETSTRUCT(tup);
		char	   *nsp = get_namespace_name(c->relnamespace);

		ri->exists = true;
		ri->name = quote_qualified_identifier(nsp ? nsp : "?", NameStr(c->relname));
		if (c->reltuples >= 0)
			ri->rows = (int64) c->reltuples;
		ReleaseSysCache(tup);
	}
	/* sizes only where no one holds a conflicting lock: never queue here */
	if (ConditionalLockRelationOid(relid, AccessShareLock))
	{
		int64		main_fork;

		ri->bytes = DatumGetInt64(DirectFunctionCall1(pg_total_relation_size,
													  ObjectIdGetDatum(relid)));
		main_fork = DatumGetInt64(DirectFunctionCall2(pg_relation_size, ObjectIdGetDatum(relid),
													  CStringGetTextDatum("main")));
		ri->has_data = ri->rows > 0 || (ri->rows < 0 && main_fork > 0);
	}
	else
		ri->has_data = ri->rows != 0;
	return ri;
}

static relinfo *
add_rel(check_state *cs, verdict *v, const RangeVar *rv)
{
	relinfo    *ri = lookup_rel(cs, rv);

	v->rels = lappend(v->rels, ri);
	return ri;
}

/* Severity of a finding on ri: with rows, empty, or nothing (new, unknown). */
static void
finding(verdict *v, const relinfo *ri, mig_severity with_rows, mig_severity empty,
		const char *advice)
{
	if (ri->exists)
		raise_to(v, ri->has_data ? with_rows : empty, advice);
}

/* ---------------------------------------------------------------- ALTER TABLE */

/* Does a raw default expression call a function that may be volatile? */
static bool
volatile_walker(Node *node, void *arg)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncCall))
	{
		FuncCall   *fc = (FuncCall *) node;
		FuncCandidateList cand = FuncnameGetCandidates(fc->funcname, -1, NIL, false, false,
													   false, true);

		/* not known: take it as volatile */
		if (cand == NULL)
			return true;
		for (; cand; cand = cand->next)
			if (func_volatile(cand->oid) == PROVOLATILE_VOLATILE)
				return true;
	}
	return raw_expression_tree_walker(node, volatile_walker, arg);
}

/*
 * ADD COLUMN rewrites when its value must be computed per row: a volatile
 * default, serial, identity, or a stored generated column.
 */
static bool
add_column_rewrites(ColumnDef *cd, bool *volatile_default)
{
	ListCell   *lc;

	*volatile_default = false;
	if (cd->typeName && list_length(cd->typeName->names) == 1)
	{
		const char *t = strVal(linitial(cd->typeName->names));

		if (strcmp(t, "serial") == 0 || strcmp(t, "bigserial") == 0 ||
			strcmp(t, "smallserial") == 0 || strcmp(t, "serial4") == 0 ||
			strcmp(t, "serial8") == 0 || strcmp(t, "serial2") == 0)
			return *volatile_default = true;
	}
	if (cd->raw_default && volatile_walker(cd->raw_default, NULL))
		return *volatile_default = true;
	foreach(lc, cd->constraints)
	{
		Constraint *c = lfirst_node(Constraint, lc);

		if (c->contype == CONSTR_DEFAULT && c->raw_expr && volatile_walker(c->raw_expr, NULL))
			return *volatile_default = true;
		if (c->contype == CONSTR_IDENTITY || c->contype == CONSTR_GENERATED)
			return true;
	}
	return false;
}

/*
 * ALTER COLUMN TYPE rewrites unless the new type is binary-coercible from
 * the column's (varchar to text, a longer varchar) and no USING expression
 * computes the value.
 */
static bool
type_change_rewrites(const RangeVar *rv, const AlterTableCmd *cmd)
{
	ColumnDef  *def = (ColumnDef *) cmd->def;
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);
	AttrNumber	att;
	Oid			oldtype,
				oldcoll;
	int32		oldmod,
				newmod = -1;
	Type		t;
	Oid			newtype;

	if (def->raw_default)		/* USING */
		return true;
	if (!OidIsValid(relid) || (att = get_attnum(relid, cmd->name)) == InvalidAttrNumber)
		return true;
	get_atttypetypmodcoll(relid, att, &oldtype, &oldmod, &oldcoll);
	t = LookupTypeName(NULL, def->typeName, &newmod, true);
	if (t == NULL)
		return true;
	newtype = typeTypeId(t);
	ReleaseSysCache(t);
	if (newtype == oldtype)
		/* the same type: a removed limit or a longer varchar keeps the rows */
		return !(newmod == oldmod || newmod < 0 ||
				 (newtype == VARCHAROID && oldmod >= 0 && newmod > oldmod));
	if (!IsBinaryCoercible(oldtype, newtype))
		return true;
	/* a length limit on the new type is checked against every row */
	return newmod >= 0;
}

static void
check_alter_table(check_state *cs, AlterTableStmt *stmt, verdict *v)
{
	relinfo    *ri;
	ListCell   *lc;

	if (stmt->objtype != OBJECT_TABLE || stmt->relation == NULL)
		return;
	v->lock = AlterTableGetLockLevel(stmt->cmds);
	ri = add_rel(cs, v, stmt->relation);
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		switch (cmd->subtype)
		{
			case AT_AlterColumnType:
				if (ri->exists && type_change_rewrites(stmt->relation, cmd))
				{
					v->rewrites = true;
					finding(v, ri, MIG_SEV_ERROR, MIG_SEV_INFO, ADV_TYPE);
				}
				break;
			case AT_AddColumn:
				{
					ColumnDef  *cd = (ColumnDef *) cmd->def;
					bool		vol;
					ListCell   *cl;

					if (add_column_rewrites(cd, &vol))
					{
						v->rewrites = true;
						finding(v, ri, MIG_SEV_ERROR, MIG_SEV_INFO, vol ? ADV_VOLATILE : ADV_REWRITE);
					}
					foreach(cl, cd->constraints)
					{
						Constraint *c = lfirst_node(Constraint, cl);

						if (c->contype == CONSTR_FOREIGN && c->pktable)
							add_rel(cs, v, c->pktable);
						else if (c->contype == CONSTR_PRIMARY || c->contype == CONSTR_UNIQUE)
						{
							v->scans = true;
							finding(v, ri, MIG_SEV_WARNING, MIG_SEV_INFO, ADV_UNIQUE);
						}
					}
					break;
				}
			case AT_SetAccessMethod:
			case AT_SetTableSpace:
			case AT_SetLogged:
			case AT_SetUnLogged:
				v->rewrites = true;
				finding(v, ri, MIG_SEV_ERROR, MIG_SEV_INFO, ADV_REWRITE);
				break;
			case AT_SetNotNull:
				v->scans = true;
				finding(v, ri, MIG_SEV_WARNING, MIG_SEV_INFO, ADV_NOT_NULL);
				break;
			case AT_AddConstraint:
				{
					Constraint *c = castNode(Constraint, cmd->def);

					switch (c->contype)
					{
						case CONSTR_FOREIGN:
							if (c->pktable)
								add_rel(cs, v, c->pktable);
							if (!c->skip_validation)
							{
								v->scans = true;
								finding(v, ri, MIG_SEV_WARNING, MIG_SEV_INFO, ADV_FK);
							}
							break;
						case CONSTR_CHECK:
							if (!c->skip_validation)
							{
								v->scans = true;
								finding(v, ri, MIG_SEV_WARNING, MIG_SEV_INFO, ADV_CHECK);
							}
							break;
						case CONSTR_PRIMARY:
						case CONSTR_UNIQUE:
						case CONSTR_EXCLUSION:
							if (c->indexname == NULL)	/* not USING INDEX */
							{
								v->scans = true;
								finding(v, ri, MIG_SEV_WARNING, MIG_SEV_INFO, ADV_UNIQUE);
							}
							break;
						default:
							break;
					}
					break;
				}
			case AT_ValidateConstraint:
				v->scans = true;
				finding(v, ri, MIG_SEV_INFO, MIG_SEV_NONE, ADV_VALIDATE);
				break;
			case AT_DropColumn:
				if (ri->exists)
				{
					v->destructive = true;
					finding(v, ri, MIG_SEV_ERROR, MIG_SEV_INFO, ADV_DROP_COL);
				}
				break;
			default:
				break;
		}
	}
	/* a table new in this pending set is empty: nothing to rewrite or scan */
	if (!ri->exists)
		v->rewrites = v->scans = false;
}

/* ---------------------------------------------------------------- one statement */

static void
check_node(check_state *cs, Node *n, mig_txmode mode, verdict *v)
{
	ListCell   *lc;

	switch (nodeTag(n))
	{
		case T_CreateStmt:
			{
				RangeVar   *rv = ((CreateStmt *) n)->relation;

				v->lock = AccessExclusiveLock;
				/* IF NOT EXISTS of a table that exists: it stays the old one */
				if (!(((CreateStmt *) n)->if_not_exists &&
					  OidIsValid(RangeVarGetRelid(rv, NoLock, true))))
					add_created(cs, rv->schemaname, rv->relname);
				add_rel(cs, v, rv);
				break;
			}
		case T_CreateTableAsStmt:
			{
				RangeVar   *rv = ((CreateTableAsStmt *) n)->into->rel;

				v->lock = AccessExclusiveLock;
				add_created(cs, rv->schemaname, rv->relname);
				add_rel(cs, v, rv);
				break;
			}
		case T_IndexStmt:
			{
				IndexStmt  *is = (IndexStmt *) n;
				relinfo    *ri;

				v->lock = is->concurrent ? ShareUpdateExclusiveLock : ShareLock;
				ri = add_rel(cs, v, is->relation);
				if (is->concurrent && mode != MIG_TX_NONE)
					raise_to(v, MIG_SEV_ERROR, ADV_CIC_TX);
				else if (!is->concurrent)
				{
					v->scans = ri->exists;
					finding(v, ri, MIG_SEV_WARNING, MIG_SEV_INFO, ADV_INDEX);
				}
				break;
			}
		case T_AlterTableStmt:
			check_alter_table(cs, (AlterTableStmt *) n, v);
			break;
		case T_RenameStmt:
			{
				RenameStmt *rs = (RenameStmt *) n;
				relinfo    *ri;

				if (rs->relation == NULL ||
					!(rs->renameType == OBJECT_TABLE || rs->renameType == OBJECT_COLUMN ||
					  rs->renameType == OBJECT_VIEW || rs->renameType == OBJECT_MATVIEW))
					break;
				v->lock = AccessExclusiveLock;
				ri = add_rel(cs, v, rs->relation);
				if (ri->is_new && rs->renameType == OBJECT_TABLE)
					add_created(cs, rs->relation->schemaname, rs->newname);
				finding(v, ri, MIG_SEV_WARNING, MIG_SEV_WARNING, ADV_RENAME);
				break;
			}
		case T_DropStmt:
			{
				DropStmt   *ds = (DropStmt *) n;

				if (ds->removeType != OBJECT_TABLE)
					break;
				v->lock = AccessExclusiveLock;
				foreach(lc, ds->objects)
				{
					RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));
					relinfo    *ri = add_rel(cs, v, rv);

					if (ri->is_new)
						drop_created(cs, rv);
					else if (ri->exists)
					{
						v->destructive = true;
						finding(v, ri, MIG_SEV_ERROR, MIG_SEV_INFO, ADV_DROP_TABLE);
					}
				}
				break;
			}
		case T_TruncateStmt:
			v->lock = AccessExclusiveLock;
			foreach(lc, ((TruncateStmt *) n)->relations)
			{
				relinfo    *ri = add_rel(cs, v, lfirst_node(RangeVar, lc));

				if (ri->exists)
				{
					v->destructive = true;
					finding(v, ri, MIG_SEV_ERROR, MIG_SEV_INFO, ADV_TRUNCATE);
				}
			}
			break;
		case T_DeleteStmt:
			{
				DeleteStmt *ds = (DeleteStmt *) n;
				relinfo    *ri;

				v->lock = RowExclusiveLock;
				ri = add_rel(cs, v, ds->relation);
				if (ds->whereClause == NULL && ri->exists)
				{
					v->destructive = v->scans = true;
					finding(v, ri, MIG_SEV_ERROR, MIG_SEV_INFO, ADV_DELETE);
				}
				break;
			}
		case T_UpdateStmt:
			{
				UpdateStmt *us = (UpdateStmt *) n;
				relinfo    *ri;

				v->lock = RowExclusiveLock;
				ri = add_rel(cs, v, us->relation);
				if (us->whereClause == NULL && ri->exists)
				{
					v->destructive = v->scans = true;
					finding(v, ri, MIG_SEV_ERROR, MIG_SEV_INFO, ADV_UPDATE);
				}
				break;
			}
		default:
			break;
	}
}

/* The verdict as the core's row. */
static void
fill_row(check_state *cs, const verdict *v, mig_check_row *r)
{
	ListCell   *lc;
	bool		known_rows = false,
				known_bytes = false;
	int64		rows = 0,
				bytes = 0;
	const char *lock = lock_name(v->lock);

	r->analyzed = true;
	r->rewrites = v->rewrites;
	r->scans = v->scans;
	r->destructive = v->destructive;
	r->severity = v->severity;
	if (lock && (r->lock = mig_strdup(lock)) == NULL)
		cs->oom = true;
	if (v->advice && (r->advice = mig_strdup(v->advice)) == NULL)
		cs->oom = true;
	foreach(lc, v->rels)
	{
		const relinfo *ri = lfirst(lc);

		if (mig_check_row_add_rel(r, ri->name, strlen(ri->name)) != MIG_OK)
			cs->oom = true;
		if (ri->rows >= 0)
		{
			rows += ri->rows;
			known_rows = true;
		}
		if (ri->bytes >= 0)
		{
			bytes += ri->bytes;
			known_bytes = true;
		}
	}
	r->rows = known_rows ? rows : -1;
	r->bytes = known_bytes ? bytes : -1;
}

/* Parse one statement's text; NIL when it does not parse (it fails when it runs). */
static List *
parse_stmt(const char *text, size_t len)
{
	char	   *sql = pnstrdup(text, len);
	MemoryContext cxt = CurrentMemoryContext;
	List	   *volatile trees = NIL;

	if (strlen(sql) != len)
		return NIL;
	PG_TRY();
	{
		trees = raw_parser(sql, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		trees = NIL;
	}
	PG_END_TRY();
	return trees;
}

/* In a transaction with a snapshot (pg_db_in_xact); may ereport. */
static void
check_all(void *arg)
{
	check_state *cs = arg;
	int			nest = NewGUCNestLevel();
	size_t		i,
				j;

	/* names resolve as the migrations will resolve them */
	if (cs->search_path)
		(void) set_config_option("search_path", cs->search_path, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	for (i = 0; i < cs->nfiles && !cs->oom; i++)
	{
		const mig_check_file *f = &cs->files[i];

		cs->cur_file = f->file->name;
		for (j = 0; j < f->stmts->n && !cs->oom; j++)
		{
			const mig_stmt *st = &f->stmts->v[j];
			mig_check_row *r;
			verdict		v;
			ListCell   *lc;
			List	   *trees;

			CHECK_FOR_INTERRUPTS();
			cs->cur_stmt = j + 1;
			memset(&v, 0, sizeof(v));
			v.lock = NoLock;
			trees = parse_stmt(st->text, st->len);
			foreach(lc, trees)
				check_node(cs, lfirst_node(RawStmt, lc)->stmt, f->mode, &v);
			if ((r = mig_checks_push(cs->out)) == NULL)
			{
				cs->oom = true;
				break;
			}
			r->file = f->file;
			r->ordinal = j + 1;
			r->stmt = st->text;
			r->stmt_len = st->len;
			fill_row(cs, &v, r);
			list_free_deep(v.rels);
		}
	}
	cs->cur_file = NULL;
	AtEOXact_GUC(true, nest);
}

/* mig_db.check for PostgreSQL (pg_db_init installs it). */
int
pg_check_statements(mig_db *mdb, const mig_check_file *files, size_t n, mig_checks *out,
					mig_err *err)
{
	pg_db	   *db = (pg_db *) mdb;
	check_state cs;
	const char *sp = GetConfigOption("search_path", false, false);
	int			rc;

	memset(&cs, 0, sizeof(cs));
	cs.files = files;
	cs.nfiles = n;
	cs.out = out;
	if (sp && (cs.search_path = mig_strdup(sp)) == NULL)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	rc = pg_db_in_xact(db, check_all, &cs, err);
	if (rc != MIG_OK && cs.cur_file)
		mig_err_prefix(err, "%s statement %zu: ", cs.cur_file, cs.cur_stmt);
	else if (rc == MIG_OK && cs.oom)
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
	mig_free(cs.search_path);
	return rc;
}

/* ---------------------------------------------------------------- atlas_migrate_check() */


/* One row per pending statement: what it locks, rewrites, scans or drops. */
Datum
atlas_migrate_check(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *env;
	char	   *opts;
	char	   *hcl;
	bool		getenv_ok = false;
	mig_run_cfg cfg;
	mig_dir		dir;
	mig_result	res;
	mig_err		err;
	pg_db		db;
	volatile int rc;
	int			nest;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("env must not be null"),
				 errhint("Pass the name of an env block of the stored atlas.hcl, e.g. atlas_migrate_check('prod').")));
	InitMaterializedSRF(fcinfo, 0);
	env = text_to_cstring(PG_GETARG_TEXT_PP(0));
	opts = pg_call_options_json(fcinfo);
	hcl = pg_store_config_get(&getenv_ok);

	mig_err_clear(&err);
	mig_dir_init(&dir);
	mig_result_init(&res);
	if (pg_resolve_call(hcl, env, opts, getenv_ok, &cfg, &err) != MIG_OK)
	{
		mig_err		copy = err;

		mig_run_cfg_free(&cfg);
		pg_error_raise(ERROR, &copy, NULL, NULL);
	}
	PG_TRY();
	{
		size_t		i,
					j;

		pg_check_dir_access(cfg.dir_url, cfg.dir_url_redacted);
		/* the migrations' search_path, for this call only */
		nest = NewGUCNestLevel();
		pg_db_set_search_path(cfg.db_schema, GUC_ACTION_SAVE, true);
		pg_db_init_here(&db, &cfg);
		rc = mig_check_pending(&db.base, &cfg, &dir, &res, &err);
		pg_db_free(&db);
		AtEOXact_GUC(false, nest);
		if (rc != MIG_OK)
			pg_error_raise(ERROR, &err, NULL, NULL);

		for (i = 0; i < res.checks.n; i++)
		{
			const mig_check_row *r = &res.checks.v[i];
			const char *sev = mig_severity_name(r->severity);
			Datum		values[13];
			bool		nulls[13];
			Datum	   *rels = palloc(sizeof(Datum) * (r->nrels ? r->nrels : 1));

			memset(nulls, 0, sizeof(nulls));
			values[0] = CStringGetTextDatum(r->file->version);
			values[1] = CStringGetTextDatum(r->file->name);
			values[2] = Int32GetDatum((int32) r->ordinal);
			values[3] = PointerGetDatum(cstring_to_text_with_len(r->stmt, (int) r->stmt_len));
			values[4] = r->lock ? CStringGetTextDatum(r->lock) : (Datum) 0;
			nulls[4] = r->lock == NULL;
			for (j = 0; j < r->nrels; j++)
				rels[j] = CStringGetTextDatum(r->rels[j]);
			values[5] = PointerGetDatum(construct_array(rels, (int) r->nrels, TEXTOID, -1, false,
														TYPALIGN_INT));
			values[6] = Int64GetDatum(r->rows);
			nulls[6] = r->rows < 0;
			values[7] = Int64GetDatum(r->bytes);
			nulls[7] = r->bytes < 0;
			values[8] = BoolGetDatum(r->rewrites);
			values[9] = BoolGetDatum(r->scans);
			values[10] = BoolGetDatum(r->destructive);
			values[11] = sev ? CStringGetTextDatum(sev) : (Datum) 0;
			nulls[11] = sev == NULL;
			values[12] = r->advice ? CStringGetTextDatum(r->advice) : (Datum) 0;
			nulls[12] = r->advice == NULL;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	PG_FINALLY();
	{
		mig_result_free(&res);
		mig_dir_free(&dir);
		mig_run_cfg_free(&cfg);
	}
	PG_END_TRY();
	return (Datum) 0;
}
