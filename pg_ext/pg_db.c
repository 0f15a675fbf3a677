/*
 * pg_db.c - mig_db for PostgreSQL: in the background worker, or inside the
 * caller's transaction block.
 *
 * Statements run the way a client's simple-query message runs them: parsed
 * with the server's own parser, one portal at a time, isTopLevel = true, so
 * that CREATE INDEX CONCURRENTLY, VACUUM and ALTER SYSTEM work outside a
 * transaction.  begin/commit/rollback are a real transaction block (what
 * BEGIN/COMMIT from a client does), and exec() outside one autocommits.
 * Each statement is parsed and planned in a memory context that is reset
 * right after it (../shared/research/peer-bench.md, "What dominates").  The revisions upsert is
 * prepared once per run and reused.
 *
 * Every entry point catches PostgreSQL errors and returns them as MIG_EDB
 * with the server's own message and SQLSTATE: nothing longjmps through the
 * core.  After an error the transaction state is the one a client would see
 * (an aborted block waits for rollback; autocommit is clean again).
 *
 * Inside the caller's transaction block (in_process, a rehearsal, DESIGN
 * §2) the same entry points work in the caller's backend: begin/commit/
 * rollback are a subtransaction of the caller's transaction, statements run
 * through SPI with the caller's search_path and privileges, every other
 * entry point runs in a subtransaction of its own (or the open file's), so
 * an error rolls back only that and the caller's transaction stays usable;
 * the lock is Atlas's key as a transaction-level advisory lock, released
 * by the caller's COMMIT or ROLLBACK.  Statements that cannot run inside a
 * block are refused before the run starts (pg_db_stmt_in_block).
 *
 * Also here: the env URL's search_path as the migrations' search_path, and
 * who holds Atlas's lock when it is not free (for the lock error).
 */
#include "postgres.h"

#include <stdlib.h>

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/sinvaladt.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
#include "catalog/pg_type_d.h"
#include "utils/array.h"

#include "pg_ext.h"

#define REV_TABLE "atlas_schema_revisions"
#define DEFAULT_REV_SCHEMA "atlas_schema_revisions"

/* Columns and types exactly as Atlas creates them (§f.2). */
#define REV_TABLE_DDL \
	"(\"version\" character varying NOT NULL, " \
	"\"description\" character varying NOT NULL, " \
	"\"type\" bigint NOT NULL DEFAULT 2, " \
	"\"applied\" bigint NOT NULL DEFAULT 0, " \
	"\"total\" bigint NOT NULL DEFAULT 0, " \
	"\"executed_at\" pg_catalog.timestamptz NOT NULL, " \
	"\"execution_time\" bigint NOT NULL, " \
	"\"error\" pg_catalog.text NULL, " \
	"\"error_stmt\" pg_catalog.text NULL, " \
	"\"hash\" character varying NOT NULL, " \
	"\"partial_hashes\" pg_catalog.jsonb NULL, " \
	"\"operator_version\" character varying NOT NULL, " \
	"PRIMARY KEY (\"version\"))"

typedef void (*guarded_fn) (pg_db *db, void *arg);

static void stmt_lock_timeout_set(pg_db *db);

/* ---------------------------------------------------------------- errors */

/* err from a caught error's data (the server's message and SQLSTATE). */
static void
edata_to_err(ErrorData *edata, mig_err *err)
{
	mig_err_set(err, MIG_EDB, "%s", edata->message ? edata->message : "unknown error");
	strlcpy(err->sqlstate, unpack_sql_state(edata->sqlerrcode), sizeof(err->sqlstate));
	if (edata->detail)
		mig_err_detail(err, "%s", edata->detail);
	if (edata->hint)
		mig_err_hint(err, "%s", edata->hint);
}

/*
 * The PG_CATCH half of every entry point: record the error in err, get the
 * transaction state back to what a client would see after an error, and
 * leave the memory context sane.
 */
static int
catch_error(pg_db *db, mig_err *err)
{
	ErrorData  *edata;

	HOLD_INTERRUPTS();
	disable_all_timeouts(false);
	MemoryContextSwitchTo(db->keep_cxt);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	MemoryContextSwitchTo(db->keep_cxt);

	if (db->stop && *db->stop && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
	{
		/* our own stop, not a statement's failure: say why */
		if (db->job && pg_atomic_read_u32(&db->job->stop_reason) == PG_STOP_SELF_BLOCK)
		{
			mig_err_set(err, MIG_EDB, "interrupted: the calling session holds a lock or snapshot this migration waited for");
			strlcpy(err->sqlstate, unpack_sql_state(ERRCODE_T_R_DEADLOCK_DETECTED), sizeof(err->sqlstate));
		}
		else
		{
			mig_err_set(err, MIG_EDB, "interrupted: the migration worker was asked to stop");
			strlcpy(err->sqlstate, unpack_sql_state(ERRCODE_ADMIN_SHUTDOWN), sizeof(err->sqlstate));
		}
	}
	else
		edata_to_err(edata, err);
	FreeErrorData(edata);
	debug_query_string = NULL;
	RESUME_INTERRUPTS();
	return MIG_EDB;
}

/*
 * In the caller's transaction: roll back every subtransaction from nesting
 * level `level` up (the one that failed and any a failing statement left
 * open), and return to the resource owner of its parent.
 */
static void
rollback_to_level(int level, ResourceOwner owner)
{
	while (GetCurrentTransactionNestLevel() >= level)
		RollbackAndReleaseCurrentSubTransaction();
	CurrentResourceOwner = owner;
}

/*
 * guarded() inside the caller's transaction (in_process).  An open file
 * subtransaction (sub_level) holds fn's work, and an error rolls it back
 * (the engine's rollback() then has nothing left to do), as an error in a
 * worker's file block aborts it.  Outside one, fn runs in a subtransaction
 * of its own, released into the caller's transaction on success.  Either
 * way an error leaves the caller's transaction usable, never aborted.
 */
static int
guarded_here(pg_db *db, guarded_fn fn, void *arg, mig_err *err)
{
	volatile int rc = MIG_OK;
	ResourceOwner owner = db->sub_level > 0 ? db->sub_owner : CurrentResourceOwner;
	int			level = db->sub_level;
	const bool	own = level == 0;

	if (own)
	{
		BeginInternalSubTransaction(NULL);
		level = GetCurrentTransactionNestLevel();
	}
	MemoryContextSwitchTo(db->stmt_cxt);
	PG_TRY();
	{
		fn(db, arg);
		if (own)
		{
			ReleaseCurrentSubTransaction();
			CurrentResourceOwner = owner;
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(db->keep_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		rollback_to_level(level, owner);
		db->sub_level = 0;
		db->in_block = false;
		edata_to_err(edata, err);
		FreeErrorData(edata);
		rc = MIG_EDB;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(db->keep_cxt);
	MemoryContextReset(db->stmt_cxt);
	return rc;
}

/* Run fn(db, arg), turning any ERROR into a MIG_EDB in err. */
static int
guarded(pg_db *db, guarded_fn fn, void *arg, mig_err *err)
{
	volatile int rc = MIG_OK;

	if (db->in_process)
		return guarded_here(db, fn, arg, err);
	MemoryContextSwitchTo(db->stmt_cxt);
	PG_TRY();
	{
		fn(db, arg);
	}
	PG_CATCH();
	{
		rc = catch_error(db, err);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(db->keep_cxt);
	MemoryContextReset(db->stmt_cxt);
	return rc;
}

/*
 * Start a command (and, outside a block, a transaction) with a snapshot,
 * for the adapter's own statements: search_path pinned to pg_catalog,
 * pg_temp, so nothing in the caller's schemas resolves in them (the
 * migrations keep the caller's search_path).  In the caller's transaction
 * a new command of it.
 */
static void
cmd_start(pg_db *db)
{
	if (db->in_process)
		CommandCounterIncrement();	/* see what the run did so far */
	else
		StartTransactionCommand();
	MemoryContextSwitchTo(db->stmt_cxt);
	db->guc_nest = pg_ext_pin_search_path();
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
cmd_end(pg_db *db)
{
	PopActiveSnapshot();
	pg_ext_unpin_search_path(db->guc_nest);
	if (!db->in_process)
		CommitTransactionCommand();
	MemoryContextSwitchTo(db->stmt_cxt);
}

typedef struct xact_arg
{
	void		(*fn) (void *);
	void	   *arg;
} xact_arg;

static void
in_xact_cb(pg_db *db, void *p)
{
	xact_arg   *a = p;

	cmd_start(db);
	a->fn(a->arg);
	cmd_end(db);
}

int
pg_db_in_xact(pg_db *db, void (*fn) (void *), void *arg, mig_err *err)
{
	xact_arg	a = {fn, arg};

	return guarded(db, in_xact_cb, &a, err);
}

static void
set_schema(pg_db *db, const char *schema)
{
	const char *name = schema && schema[0] ? schema : DEFAULT_REV_SCHEMA;

	if (db->schema && strcmp(db->schema, name) == 0)
		return;
	db->schema = MemoryContextStrdup(db->keep_cxt, name);
	db->table = MemoryContextStrdup(db->keep_cxt, quote_qualified_identifier(name, REV_TABLE));
	if (db->upsert_plan)
	{
		SPI_freeplan((SPIPlanPtr) db->upsert_plan);
		db->upsert_plan = NULL;
	}
}

/* The revisions table's OID (in the current transaction), or InvalidOid. */
static Oid
rev_table_oid(const char *schema)
{
	Oid			nsp = get_namespace_oid(schema, true);

	return OidIsValid(nsp) ? get_relname_relid(REV_TABLE, nsp) : InvalidOid;
}

/*
 * Refuse a revisions table that would run someone else's code as the role
 * applying (or reading) revisions: it must be a plain table without
 * triggers, rules or row security, owned by that role or a superuser.  A
 * database owner could otherwise plant one for a superuser's apply.  The
 * lock (RowExclusiveLock before writes) holds until the transaction ends,
 * so nothing can be attached between this check and the statement.
 */
static void
check_rev_table(Oid relid, LOCKMODE lockmode)
{
	Relation	rel = relation_open(relid, lockmode);
	Form_pg_class form = RelationGetForm(rel);
	Oid			user = GetUserId();
	char	   *name = quote_qualified_identifier(get_namespace_name(form->relnamespace),
												  NameStr(form->relname));
	char	   *owner = GetUserNameFromId(form->relowner, true);
	const char *why = NULL;
	int			code = ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;

	if (owner == NULL)
		owner = psprintf("%u", form->relowner);
	if (form->relkind != RELKIND_RELATION)
	{
		why = "it is not a plain table";
		code = ERRCODE_WRONG_OBJECT_TYPE;
	}
	else if (form->relowner != user && !superuser_arg(form->relowner))
	{
		why = "its owner is neither the role applying migrations nor a superuser";
		code = ERRCODE_INSUFFICIENT_PRIVILEGE;
	}
	else if (rel->trigdesc != NULL && rel->trigdesc->numtriggers > 0)
		why = psprintf("it has a trigger (\"%s\")", rel->trigdesc->triggers[0].tgname);
	else if (rel->rd_rules != NULL && rel->rd_rules->numLocks > 0)
		why = "it has rules";
	else if (form->relrowsecurity)
		why = "it has row level security enabled";
	if (why != NULL)
		ereport(ERROR,
				(errcode(code),
				 errmsg("refusing to use revisions table %s owned by role \"%s\": %s",
						name, owner, why),
				 errdetail("Code attached to it would run with the privileges of role \"%s\".",
						   GetUserNameFromId(user, false)),
				 errhint("Inspect the table.  Atlas's revisions table is a plain table owned by the role that applies migrations (or a superuser), with no triggers, rules or row security.")));
	relation_close(rel, NoLock);
}

/* ---------------------------------------------------------------- statements */

/* COMMIT / ROLLBACK / PREPARE: allowed in an aborted block (postgres.c). */
static bool
is_exit_stmt(Node *stmt)
{
	TransactionStmt *t;

	if (!IsA(stmt, TransactionStmt))
		return false;
	t = (TransactionStmt *) stmt;
	return t->kind == TRANS_STMT_COMMIT || t->kind == TRANS_STMT_PREPARE ||
		t->kind == TRANS_STMT_ROLLBACK || t->kind == TRANS_STMT_ROLLBACK_TO;
}

/* Transaction control that would end the file's own transaction. */
static bool
ends_transaction(Node *stmt)
{
	TransactionStmt *t;

	if (!IsA(stmt, TransactionStmt))
		return false;
	t = (TransactionStmt *) stmt;
	return t->kind != TRANS_STMT_SAVEPOINT && t->kind != TRANS_STMT_RELEASE &&
		t->kind != TRANS_STMT_ROLLBACK_TO;
}

typedef struct exec_arg
{
	const char *sql;
	size_t		len;
} exec_arg;

/*
 * One migration statement's text, which may hold several SQL commands, run
 * like a simple-query message: an implicit transaction block around several
 * commands, transaction-control commands end the current command.
 */
static void
exec_text(pg_db *db, void *p)
{
	exec_arg   *a = p;
	char	   *sql = pnstrdup(a->sql, a->len);
	List	   *trees;
	ListCell   *lc;
	bool		several;
	bool		started = false;

	/* a NUL byte or a bad sequence is an error, as for a client's query */
	if (strlen(sql) != a->len)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("invalid byte sequence for encoding \"%s\": 0x00",
						GetDatabaseEncodingName())));
	(void) pg_verify_mbstr(GetDatabaseEncoding(), sql, (int) a->len, false);

	SetCurrentStatementStartTimestamp();
	debug_query_string = sql;
	pgstat_report_activity(STATE_RUNNING, sql);
	if (StatementTimeout > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, StatementTimeout);

	StartTransactionCommand();
	started = true;
	MemoryContextSwitchTo(db->stmt_cxt);
	trees = pg_parse_query(sql);
	several = list_length(trees) > 1;

	foreach(lc, trees)
	{
		RawStmt    *raw = lfirst_node(RawStmt, lc);
		bool		last = lnext(trees, lc) == NULL;
		bool		snap = false;
		List	   *queries;
		List	   *plans;
		Portal		portal;
		DestReceiver *dest;
		QueryCompletion qc;

		if (db->in_block && ends_transaction(raw->stmt))
			ereport(ERROR,
					(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
					 errmsg("transaction control statements cannot run in a migration file that runs in a transaction"),
					 errhint("Add \"-- atlas:txmode none\" at the top of the file to run its statements as written.")));
		if (!started)
		{
			StartTransactionCommand();
			started = true;
			MemoryContextSwitchTo(db->stmt_cxt);
		}
		if (several)
			BeginImplicitTransactionBlock();
		CHECK_FOR_INTERRUPTS();
		if (IsAbortedTransactionBlockState() && !is_exit_stmt(raw->stmt))
			ereport(ERROR,
					(errcode(ERRCODE_IN_FAILED_SQL_TRANSACTION),
					 errmsg("current transaction is aborted, commands ignored until end of transaction block")));
		if (!IsA(raw->stmt, TransactionStmt))
			stmt_lock_timeout_set(db);

		if (analyze_requires_snapshot(raw))
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			snap = true;
		}
		queries = pg_analyze_and_rewrite_fixedparams(raw, sql, NULL, 0, NULL);
		plans = pg_plan_queries(queries, sql, CURSOR_OPT_PARALLEL_OK, NULL);
		if (snap)
			PopActiveSnapshot();
		CHECK_FOR_INTERRUPTS();

		/* a named portal: the unnamed one may belong to someone else */
		portal = CreatePortal("atlas_migrate", true, true);
		portal->visible = false;
		PortalDefineQuery(portal, NULL, sql, CreateCommandTag(raw->stmt), plans, NULL);
		PortalStart(portal, NULL, 0, InvalidSnapshot);
		dest = CreateDestReceiver(DestNone);
		(void) PortalRun(portal, FETCH_ALL, true, true, dest, dest, &qc);
		dest->rDestroy(dest);
		PortalDrop(portal, false);
		MemoryContextSwitchTo(db->stmt_cxt);

		if (last)
		{
			if (several)
				EndImplicitTransactionBlock();
			CommitTransactionCommand();
			started = false;
		}
		else if (IsA(raw->stmt, TransactionStmt))
		{
			CommitTransactionCommand();
			started = false;
		}
		else
			CommandCounterIncrement();
		MemoryContextSwitchTo(db->stmt_cxt);
	}
	if (started)				/* comment-only text: nothing to run (§k.6) */
		CommitTransactionCommand();

	if (StatementTimeout > 0)
		disable_timeout(STATEMENT_TIMEOUT, false);
	debug_query_string = NULL;
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * One migration statement's text inside the caller's transaction: through
 * SPI (non-top-level, as in a function), with the caller's search_path and
 * privileges.  The statements that need the top level were refused before
 * the run started (pg_db_stmt_in_block).
 */
static void
exec_here(pg_db *db, void *p)
{
	exec_arg   *a = p;
	char	   *sql = pnstrdup(a->sql, a->len);
	int			rc;

	if (strlen(sql) != a->len)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("invalid byte sequence for encoding \"%s\": 0x00",
						GetDatabaseEncodingName())));
	(void) pg_verify_mbstr(GetDatabaseEncoding(), sql, (int) a->len, false);
	CHECK_FOR_INTERRUPTS();
	stmt_lock_timeout_set(db);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute(sql, false, 0);
	if (rc < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("statement cannot run inside the caller's transaction (%s)",
						SPI_result_code_string(rc)),
				 errhint("Apply outside a transaction block.")));
	SPI_finish();
}

/* ---------------------------------------------------------------- lock-safe DDL (issue 11) */

/*
 * While a migration statement runs with statement_lock_timeout, a timer
 * looks at the lock this backend waits for (waitLock of its own PGPROC,
 * which the lock manager sets before it sleeps) every quarter of the
 * timeout, and keeps the last one seen.  When lock_timeout ends a wait, the
 * lock manager has left the wait queue before the error is raised, so the
 * error alone cannot say which lock it was; a sample taken during the wait
 * can.  The handler runs in the SIGALRM handler and only copies memory.
 */
static TimeoutId wait_sample_id = MAX_TIMEOUTS; /* registered on first use */
static volatile sig_atomic_t wait_seen;
static LOCKTAG wait_tag;
static LOCKMODE wait_mode;

static void
sample_lock_wait(void)
{
	LOCK	   *lock = MyProc ? MyProc->waitLock : NULL;

	if (lock != NULL)
	{
		wait_tag = lock->tag;
		wait_mode = MyProc->waitLockMode;
		wait_seen = true;
	}
}

/*
 * Each migration command of a run with statement_lock_timeout runs with
 * lock_timeout set to it, as SET LOCAL: the setting ends with the file's
 * transaction (the statement's in autocommit), and inside the caller's
 * transaction with the call (pg_funcs.c restores every setting).  Applied
 * again before every command, so it holds for each statement even after a
 * migration's own SET lock_timeout.
 */
static void
stmt_lock_timeout_set(pg_db *db)
{
	char		val[32];

	if (db->stmt_lock_timeout_ms <= 0)
		return;
	snprintf(val, sizeof(val), "%d", db->stmt_lock_timeout_ms);
	(void) set_config_option("lock_timeout", val, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

static int
pg_db_set_stmt_lock_timeout(mig_db *mdb, int64_t timeout_ms, mig_err *err)
{
	pg_db	   *db = (pg_db *) mdb;

	db->stmt_lock_timeout_ms = (int) Min(timeout_ms, (int64_t) INT_MAX);
	if (timeout_ms > 0 && wait_sample_id == MAX_TIMEOUTS)
		wait_sample_id = RegisterTimeout(USER_TIMEOUT, sample_lock_wait);
	return MIG_OK;
}

/* What describe_wait gives back. */
typedef struct wait_desc
{
	LOCKTAG		tag;
	LOCKMODE	mode;
	char	   *text;			/* palloc'd in keep_cxt */
} wait_desc;

/* At most this many blocking sessions are named. */
#define MAX_BLOCKERS_SHOWN 5

/*
 * The lock the failed statement waited for and the sessions holding a lock
 * that conflicts with it: the lock manager's own conflict test
 * (GetLockConflicts, what pg_blocking_pids() reads for the holders),
 * looked up right after the wait ended, with pg_stat_activity for their
 * application_name and how long their transaction has been open.
 */
static void
describe_wait(pg_db *db, void *p)
{
	wait_desc  *d = p;
	StringInfoData s;
	VirtualTransactionId *vxids;
	int			n = 0,
				npids = 0,
				i;
	Datum	   *pids;
	Oid			types[1] = {INT4ARRAYOID};
	Datum		vals[1];
	uint64		r;

	cmd_start(db);
	initStringInfo(&s);
	appendStringInfo(&s, "%s on ", GetLockmodeName(d->tag.locktag_lockmethodid, d->mode));
	if (d->tag.locktag_type == LOCKTAG_RELATION && d->tag.locktag_field1 == MyDatabaseId &&
		get_rel_name(d->tag.locktag_field2) != NULL)
	{
		Oid			relid = d->tag.locktag_field2;

		appendStringInfo(&s, "relation %s",
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													get_rel_name(relid)));
	}
	else
		DescribeLockTag(&s, &d->tag);

	vxids = GetLockConflicts(&d->tag, d->mode, &n);
	pids = palloc(sizeof(Datum) * (n + 1));
	for (i = 0; i < n; i++)
	{
		PGPROC	   *proc = BackendIdGetProc(vxids[i].backendId);

		if (proc != NULL && proc->pid != 0 && proc->pid != MyProcPid)
			pids[npids++] = Int32GetDatum(proc->pid);
	}
	if (npids == 0)
		appendStringInfoString(&s, ", held by no session any more when looked up");
	else
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		vals[0] = PointerGetDatum(construct_array(pids, npids, INT4OID, 4, true, TYPALIGN_INT));
		if (SPI_execute_with_args("SELECT a.pid, COALESCE(a.application_name, ''), "
								  "COALESCE(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() "
								  "OPERATOR(pg_catalog.-) a.xact_start), -1)::pg_catalog.float8 "
								  "FROM pg_catalog.pg_stat_activity a "
								  "WHERE a.pid OPERATOR(pg_catalog.=) ANY ($1) "
								  "ORDER BY a.xact_start NULLS LAST, a.pid",
								  1, types, vals, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "reading pg_stat_activity failed");
		for (r = 0; r < SPI_processed && r < MAX_BLOCKERS_SHOWN; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int			pid = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
			char	   *app = SPI_getvalue(tup, desc, 2);
			double		age = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));

			appendStringInfoString(&s, r == 0 ? ", held by " : ", ");
			if (age >= 0)
				appendStringInfo(&s, "PID %d (application_name \"%s\", in a transaction for %.1f s)",
								 pid, app ? app : "", age);
			else
				appendStringInfo(&s, "PID %d (application_name \"%s\", no transaction open or not visible to this role)",
								 pid, app ? app : "");
		}
		if (SPI_processed > MAX_BLOCKERS_SHOWN)
			appendStringInfo(&s, " and %llu more",
							 (unsigned long long) (SPI_processed - MAX_BLOCKERS_SHOWN));
		else if (SPI_processed == 0)
			appendStringInfoString(&s, ", held by no session any more when looked up");
		SPI_finish();
	}
	d->text = MemoryContextStrdup(db->keep_cxt, s.data);
	cmd_end(db);
}

static bool
pg_db_lock_wait_failed(mig_db *mdb, const mig_err *err, mig_buf *what)
{
	pg_db	   *db = (pg_db *) mdb;
	wait_desc	d;
	mig_err		ignored;

	if (db->stmt_lock_timeout_ms <= 0 ||
		strcmp(err->sqlstate, unpack_sql_state(ERRCODE_LOCK_NOT_AVAILABLE)) != 0)
		return false;
	if (!db->wait_known)
	{
		/* a NOWAIT lock, or a wait shorter than the sampling interval */
		mig_buf_puts(what, "a lock");
		return true;
	}
	memset(&d, 0, sizeof(d));
	d.tag = wait_tag;
	d.mode = wait_mode;
	if (guarded(db, describe_wait, &d, &ignored) == MIG_OK && d.text != NULL)
		mig_buf_puts(what, d.text);
	else
		mig_buf_printf(what, "%s (who held it could not be looked up)",
					   GetLockmodeName(d.tag.locktag_lockmethodid, d.mode));
	if (d.text)
		pfree(d.text);
	return true;
}

/* A pause between two attempts: the latch wakes it for a cancel. */
static void
pg_db_pause(mig_db *mdb, int64_t ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 (long) ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
}

static int
pg_db_exec(mig_db *mdb, const char *sql, size_t len, mig_err *err)
{
	pg_db	   *db = (pg_db *) mdb;
	exec_arg	a = {sql, len};
	const bool	sample = db->stmt_lock_timeout_ms > 0;
	int			rc;

	if (sample)
	{
		int			every = Max(db->stmt_lock_timeout_ms / 4, 1);

		wait_seen = false;
		enable_timeout_every(wait_sample_id,
							 TimestampTzPlusMilliseconds(GetCurrentTimestamp(), every), every);
	}
	rc = guarded(db, db->in_process ? exec_here : exec_text, &a, err);
	if (sample)
	{
		disable_timeout(wait_sample_id, false);
		db->wait_known = rc != MIG_OK && wait_seen;
	}
	return rc;
}

/* ---------------------------------------------------------------- transactions */

static void
begin_block(pg_db *db, void *arg)
{
	StartTransactionCommand();
	BeginTransactionBlock();
	CommitTransactionCommand();
}

/*
 * In the caller's transaction: a subtransaction for the file (or for all
 * files, tx_mode all), released by commit, rolled back by rollback or by an
 * error inside it (guarded_here).
 */
static int
begin_here(pg_db *db, mig_err *err)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	int			level = GetCurrentTransactionNestLevel() + 1;
	volatile int rc = MIG_OK;

	PG_TRY();
	{
		BeginInternalSubTransaction(NULL);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(db->keep_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		rollback_to_level(level, owner);
		edata_to_err(edata, err);
		FreeErrorData(edata);
		rc = MIG_EDB;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	if (rc == MIG_OK)
	{
		db->sub_level = level;
		db->sub_owner = owner;
		db->in_block = true;
	}
	return rc;
}

static void
commit_here(pg_db *db, void *arg)
{
	ReleaseCurrentSubTransaction();
	CurrentResourceOwner = db->sub_owner;
	db->sub_level = 0;
	db->in_block = false;
}

static int
pg_db_begin(mig_db *mdb, mig_err *err)
{
	pg_db	   *db = (pg_db *) mdb;
	int			rc;

	if (db->in_process)
		return begin_here(db, err);
	rc = guarded(db, begin_block, NULL, err);

	if (rc == MIG_OK)
		db->in_block = true;
	return rc;
}

static void
commit_block(pg_db *db, void *arg)
{
	bool	   *committed = arg;

	StartTransactionCommand();
	*committed = EndTransactionBlock(false);
	CommitTransactionCommand();
}

static int
pg_db_commit(mig_db *mdb, mig_err *err)
{
	pg_db	   *db = (pg_db *) mdb;
	bool		committed = false;
	int			rc;

	if (db->in_process)
	{
		/* an error inside already rolled it back: nothing to release */
		if (db->sub_level == 0)
			return MIG_OK;
		return guarded(db, commit_here, NULL, err);
	}
	rc = guarded(db, commit_block, &committed, err);
	db->in_block = false;
	if (rc == MIG_OK && !committed)
	{
		rc = mig_err_set(err, MIG_EDB, "current transaction was aborted and has been rolled back");
		strlcpy(err->sqlstate, "25P02", sizeof(err->sqlstate));
	}
	return rc;
}

static void
rollback_block(pg_db *db, void *arg)
{
	AbortOutOfAnyTransaction();
}

static int
pg_db_rollback(mig_db *mdb, mig_err *err)
{
	pg_db	   *db = (pg_db *) mdb;
	int			rc;

	if (db->in_process)
	{
		if (db->sub_level > 0)
			rollback_to_level(db->sub_level, db->sub_owner);
		db->sub_level = 0;
		db->in_block = false;
		return MIG_OK;
	}
	rc = guarded(db, rollback_block, NULL, err);

	db->in_block = false;
	return rc;
}

/* ---------------------------------------------------------------- tx mode none (§g.5) */

/* Does text hold `word` (case-insensitive, as a whole word)? */
static bool
has_word(const char *text, const char *word)
{
	size_t		n = strlen(word);
	const char *p;

	for (p = text; *p; p++)
		if (pg_strncasecmp(p, word, n) == 0 &&
			(p == text || !(isalnum((unsigned char) p[-1]) || p[-1] == '_')) &&
			!(isalnum((unsigned char) p[n]) || p[n] == '_'))
			return true;
	return false;
}

/* A DO block that may commit or roll back (it then needs the top level). */
static bool
do_commits(Node *n)
{
	ListCell   *lc;

	foreach(lc, ((DoStmt *) n)->args)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, "as") == 0 && d->arg && IsA(d->arg, String) &&
			(has_word(strVal(d->arg), "COMMIT") || has_word(strVal(d->arg), "ROLLBACK")))
			return true;
	}
	return false;
}

/*
 * Can this command not run inside a transaction block at all (the caller's
 * transaction, DESIGN §2)?  The commands of needs_autocommit below that
 * PreventInTransactionBlock refuses, and a DO block that commits.  Where
 * that depends on the catalog: REINDEX counts when it names a schema, the
 * system, a database or CONCURRENTLY (of a partitioned table it fails when
 * it runs), ALTER DATABASE with SET TABLESPACE, and every subscription
 * command (a slot or not).
 */
static bool
cannot_run_in_block(Node *n)
{
	ListCell   *lc;

	switch (nodeTag(n))
	{
		case T_CreatedbStmt:
		case T_DropdbStmt:
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
		case T_AlterSystemStmt:
		case T_CreateSubscriptionStmt:
		case T_AlterSubscriptionStmt:
		case T_DropSubscriptionStmt:
			return true;
		case T_AlterDatabaseStmt:
			foreach(lc, ((AlterDatabaseStmt *) n)->options)
				if (strcmp(lfirst_node(DefElem, lc)->defname, "tablespace") == 0)
					return true;
			return false;
		case T_ReindexStmt:
			if (((ReindexStmt *) n)->kind == REINDEX_OBJECT_SCHEMA ||
				((ReindexStmt *) n)->kind == REINDEX_OBJECT_SYSTEM ||
				((ReindexStmt *) n)->kind == REINDEX_OBJECT_DATABASE)
				return true;
			foreach(lc, ((ReindexStmt *) n)->params)
				if (strcmp(lfirst_node(DefElem, lc)->defname, "concurrently") == 0)
					return true;
			return false;
		case T_VacuumStmt:
			return ((VacuumStmt *) n)->is_vacuumcmd;
		case T_ClusterStmt:
			return ((ClusterStmt *) n)->relation == NULL;
		case T_IndexStmt:
			return ((IndexStmt *) n)->concurrent;
		case T_DropStmt:
			return ((DropStmt *) n)->concurrent;
		case T_DiscardStmt:
			return ((DiscardStmt *) n)->target == DISCARD_ALL;
		case T_AlterTableStmt:
			foreach(lc, ((AlterTableStmt *) n)->cmds)
			{
				AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

				if (cmd->subtype == AT_DetachPartition && cmd->def &&
					IsA(cmd->def, PartitionCmd) && ((PartitionCmd *) cmd->def)->concurrent)
					return true;
			}
			return false;
		case T_DoStmt:
			return do_commits(n);
		default:
			return false;
	}
}

/*
 * Must this command run as written, outside a transaction block?  What
 * calls PreventInTransactionBlock in PostgreSQL 15 (VACUUM, CREATE/DROP
 * DATABASE, ALTER DATABASE SET TABLESPACE, CREATE/DROP TABLESPACE, ALTER
 * SYSTEM, CREATE INDEX / DROP INDEX / REINDEX CONCURRENTLY, REINDEX
 * SCHEMA/SYSTEM/DATABASE and of partitioned tables, CLUSTER of every table,
 * DETACH PARTITION CONCURRENTLY, DISCARD ALL, subscriptions with a slot),
 * what needs a block of its own (LOCK, a cursor without HOLD: an error in
 * autocommit that must stay one), transaction control, and what may
 * commit inside (CALL; DO with COMMIT or ROLLBACK).  Where the answer
 * depends on the catalog (REINDEX, ALTER DATABASE, subscriptions) the
 * command is treated as one that must: it only costs the window.
 */
static bool
needs_autocommit(Node *n)
{
	switch (nodeTag(n))
	{
		case T_TransactionStmt:
		case T_AlterDatabaseStmt:
		case T_ReindexStmt:
		case T_CreateSubscriptionStmt:
		case T_AlterSubscriptionStmt:
		case T_DropSubscriptionStmt:
		case T_LockStmt:
		case T_CallStmt:
			return true;
		case T_DeclareCursorStmt:
			return (((DeclareCursorStmt *) n)->options & CURSOR_OPT_HOLD) == 0;
		default:
			return cannot_run_in_block(n);
	}
}

typedef struct begin_stmt_arg
{
	const char *sql;
	size_t		len;
	bool		opened;
} begin_stmt_arg;

/*
 * Parse the statement's text with the server's parser (raw_parser: no
 * catalog access) and open a transaction block unless one of its commands
 * must run outside one.  Text that does not parse runs in autocommit,
 * where exec reports its error as before.
 */
static void
begin_stmt_block(pg_db *db, void *p)
{
	begin_stmt_arg *a = p;
	char	   *sql = pnstrdup(a->sql, a->len);
	MemoryContext cxt;
	List	   *volatile trees = NIL;
	volatile bool parsed = false;
	ListCell   *lc;

	StartTransactionCommand();
	MemoryContextSwitchTo(db->stmt_cxt);
	cxt = CurrentMemoryContext;
	if (strlen(sql) == a->len)
	{
		PG_TRY();
		{
			trees = raw_parser(sql, RAW_PARSE_DEFAULT);
			parsed = true;
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			FlushErrorState();
		}
		PG_END_TRY();
	}
	a->opened = parsed;
	foreach(lc, trees)
		if (needs_autocommit(lfirst_node(RawStmt, lc)->stmt))
			a->opened = false;
	if (a->opened)
		BeginTransactionBlock();
	CommitTransactionCommand();
}

static int
pg_db_begin_stmt(mig_db *mdb, const char *sql, size_t len, bool *opened, mig_err *err)
{
	pg_db	   *db = (pg_db *) mdb;
	begin_stmt_arg a = {sql, len, false};
	int			rc;

	/* never asked: tx mode none is refused in the caller's transaction */
	if (db->in_process)
	{
		rc = begin_here(db, err);
		*opened = rc == MIG_OK;
		return rc;
	}
	rc = guarded(db, begin_stmt_block, &a, err);

	*opened = rc == MIG_OK && a.opened;
	if (*opened)
		db->in_block = true;
	return rc;
}

/* A transaction block the engine did not begin: a txmode-none file's own BEGIN. */
static bool
pg_db_tx_open(mig_db *mdb)
{
	/* the caller's own block is not one a file opened */
	return !((pg_db *) mdb)->in_process && IsTransactionBlock();
}

/*
 * mig_db.stmt_in_block: may this statement run inside the caller's
 * transaction?  Parsed with the server's parser (raw_parser: no catalog
 * access); text that does not parse may (it fails when it runs, and its
 * file rolls back).
 */
static bool
pg_db_stmt_in_block(mig_db *mdb, const char *text, size_t len)
{
	pg_db	   *db = (pg_db *) mdb;
	MemoryContext old = MemoryContextSwitchTo(db->stmt_cxt);
	char	   *sql = pnstrdup(text, len);
	List	   *volatile trees = NIL;
	ListCell   *lc;
	bool		ok = true;

	if (strlen(sql) == len)
	{
		PG_TRY();
		{
			trees = raw_parser(sql, RAW_PARSE_DEFAULT);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(db->stmt_cxt);
			FlushErrorState();
			trees = NIL;
		}
		PG_END_TRY();
	}
	foreach(lc, trees)
		if (cannot_run_in_block(lfirst_node(RawStmt, lc)->stmt))
			ok = false;
	MemoryContextSwitchTo(old);
	MemoryContextReset(db->stmt_cxt);
	return ok;
}

/* ---------------------------------------------------------------- lock (§g.8) */

static void
try_lock(pg_db *db, void *arg)
{
	bool	   *got = arg;

	if (db->in_process)
	{
		/* the caller's transaction holds it: its COMMIT or ROLLBACK releases it */
		CHECK_FOR_INTERRUPTS();
		*got = DatumGetBool(DirectFunctionCall1(pg_try_advisory_xact_lock_int8,
												Int64GetDatum(PG_ATLAS_LOCK_KEY)));
		return;
	}
	StartTransactionCommand();
	*got = DatumGetBool(DirectFunctionCall1(pg_try_advisory_lock_int8,
											Int64GetDatum(PG_ATLAS_LOCK_KEY)));
	CommitTransactionCommand();
}

static int
pg_db_interrupted(mig_db *mdb)
{
	pg_db	   *db = (pg_db *) mdb;

	return (db->stop && *db->stop) || QueryCancelPending || ProcDiePending;
}

/* Who holds Atlas's advisory lock, besides this session. */
typedef struct lock_holder
{
	int			pid;			/* 0: nobody (released meanwhile) or unknown */
	int64		run_id;			/* > 0: one of our workers, running this run */
	bool		waits_for_caller;	/* blocked by this run's calling session */
	char		app[NAMEDATALEN];	/* its application_name */
	double		xact_age;		/* seconds in its transaction; < 0: none or not visible */
} lock_holder;

static void
find_lock_holder(pg_db *db, void *arg)
{
	lock_holder *h = arg;
	Oid			types[1] = {INT4OID};
	Datum		vals[1];

	cmd_start(db);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	vals[0] = Int32GetDatum(db->job ? db->job->caller_pid : 0);
	if (SPI_execute_with_args("SELECT l.pid, COALESCE(a.application_name, ''), "
							  "COALESCE(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() "
							  "OPERATOR(pg_catalog.-) a.xact_start), -1)::pg_catalog.float8, "
							  "$1 OPERATOR(pg_catalog.=) ANY (pg_catalog.pg_blocking_pids(l.pid)) "
							  "FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a "
							  "ON a.pid OPERATOR(pg_catalog.=) l.pid "
							  "WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted "
							  "AND l.classid OPERATOR(pg_catalog.=) 0::pg_catalog.oid "
							  "AND l.objid OPERATOR(pg_catalog.=) '2686470616'::pg_catalog.oid "
							  "AND l.objsubid OPERATOR(pg_catalog.=) 1 "
							  "AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() LIMIT 1",
							  1, types, vals, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading pg_locks failed");
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *app = SPI_getvalue(tup, desc, 2);
		bool		isnull;
		Datum		d;

		d = SPI_getbinval(tup, desc, 1, &isnull);
		h->pid = isnull ? 0 : DatumGetInt32(d);
		strlcpy(h->app, app ? app : "", sizeof(h->app));
		d = SPI_getbinval(tup, desc, 3, &isnull);
		h->xact_age = isnull ? -1 : DatumGetFloat8(d);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		h->waits_for_caller = !isnull && DatumGetBool(d);
	}
	SPI_finish();
	if (h->pid > 0)
		h->run_id = pg_store_running_run(h->pid);
	cmd_end(db);
}

/*
 * Does the holder wait for this run's own caller, which waits for this run:
 * the calling session itself, or an earlier call's worker of the same
 * statement (SELECT atlas_migrate_apply(x) FROM t over several rows, whose
 * first worker waits for the statement's snapshot or locks)?  Then the lock
 * cannot come before the call ends: fail now, saying so.
 */
static int
lock_self_deadlock(pg_db *db, const lock_holder *h, mig_err *err)
{
	int			caller = db->job ? db->job->caller_pid : 0;

	if (caller == 0 || h->pid == 0)
		return MIG_OK;
	if (h->pid == caller)
	{
		mig_err_set(err, MIG_ELOCKED, "sql/schema: lock is held by the calling session itself");
		mig_err_detail(err, "The session that called the migration (PID %d) holds Atlas's advisory lock %lld, so the migration worker cannot get it before the call ends.",
					   h->pid, (long long) PG_ATLAS_LOCK_KEY);
		mig_err_hint(err, "Release it first: SELECT pg_advisory_unlock(%lld);", (long long) PG_ATLAS_LOCK_KEY);
	}
	else if (h->run_id > 0 && h->waits_for_caller)
	{
		mig_err_set(err, MIG_ELOCKED, "sql/schema: lock is held by run %lld, started earlier by this same statement",
					(long long) h->run_id);
		mig_err_detail(err, "Its migration worker (PID %d) holds Atlas's advisory lock %lld and waits for this statement to end (it needs a lock or snapshot the statement holds), so this call cannot get the lock before the statement ends.",
					   h->pid, (long long) PG_ATLAS_LOCK_KEY);
		mig_err_hint(err, "Call atlas_migrate_apply() once per statement, not once per row of a query, or use CALL atlas_migrate(...).");
	}
	else
		return MIG_OK;
	strlcpy(err->sqlstate, unpack_sql_state(ERRCODE_T_R_DEADLOCK_DETECTED), sizeof(err->sqlstate));
	return MIG_ELOCKED;
}

/* lock_timeout has passed: Atlas's error, naming the holder. */
static int
lock_timeout_error(const lock_holder *h, mig_err *err)
{
	mig_err_set(err, MIG_ELOCKED, "sql/schema: lock is held by other session");
	if (h->pid > 0 && h->run_id > 0)
	{
		mig_err_detail(err, "Atlas's advisory lock %lld is held by migration run %lld (atlas_migrate worker, PID %d).",
					   (long long) PG_ATLAS_LOCK_KEY, (long long) h->run_id, h->pid);
		mig_err_hint(err, "Follow run %lld in atlas_migrate_runs and call again when it has finished, or raise lock_timeout.",
					 (long long) h->run_id);
		return MIG_ELOCKED;
	}
	if (h->pid > 0 && h->xact_age >= 0)
		mig_err_detail(err, "Atlas's advisory lock %lld is held by PID %d (application_name \"%s\", in a transaction for %.1f s).",
					   (long long) PG_ATLAS_LOCK_KEY, h->pid, h->app, h->xact_age);
	else if (h->pid > 0)
		mig_err_detail(err, "Atlas's advisory lock %lld is held by PID %d (application_name \"%s\", no transaction open or not visible to this role).",
					   (long long) PG_ATLAS_LOCK_KEY, h->pid, h->app);
	else
		mig_err_detail(err, "Another session holds Atlas's advisory lock %lld (pg_locks: locktype advisory, classid 0, objid %lld, objsubid 1).",
					   (long long) PG_ATLAS_LOCK_KEY, (long long) PG_ATLAS_LOCK_KEY);
	mig_err_hint(err, "Wait for the other migration to finish, or raise lock_timeout.");
	return MIG_ELOCKED;
}

/*
 * Atlas's polling loop: try, then wait 25 ms plus up to 25 ms of jitter,
 * doubling up to 1 s, until the timeout has passed (timeout 0: one try).
 * Polling instead of blocking keeps CREATE INDEX CONCURRENTLY elsewhere
 * from deadlocking unseen.
 */
static int
pg_db_lock(mig_db *mdb, int64_t timeout_ms, mig_err *err)
{
	pg_db	   *db = (pg_db *) mdb;
	int64_t		start = mig_now_ns();
	long		base = 25;

	for (;;)
	{
		bool		got = false;
		lock_holder holder;
		mig_err		ignored;
		int64_t		elapsed;
		long		wait;
		int			rc;

		if ((rc = guarded(db, try_lock, &got, err)) != MIG_OK)
			return rc;
		if (got)
		{
			db->locked = true;
			return MIG_OK;
		}
		memset(&holder, 0, sizeof(holder));
		if (guarded(db, find_lock_holder, &holder, &ignored) != MIG_OK)
			memset(&holder, 0, sizeof(holder)); /* the plain message, then */
		if (lock_self_deadlock(db, &holder, err) != MIG_OK)
			return MIG_ELOCKED;
		elapsed = (mig_now_ns() - start) / 1000000;
		if (elapsed >= timeout_ms)
			return lock_timeout_error(&holder, err);
		wait = base + (long) (random() % 26);
		if (wait > timeout_ms - elapsed)
			wait = (long) (timeout_ms - elapsed) + 1;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (pg_db_interrupted(mdb))
			return mig_err_set(err, MIG_EINTR, "interrupted while waiting for the migration lock");
		base = base * 2 > 1000 ? 1000 : base * 2;
	}
}

static void
do_unlock(pg_db *db, void *arg)
{
	bool	   *released = arg;

	/* a txmode-none file may have left a block open: a closed session would end it */
	if (IsTransactionOrTransactionBlock())
		AbortOutOfAnyTransaction();
	db->in_block = false;
	StartTransactionCommand();
	*released = DatumGetBool(DirectFunctionCall1(pg_advisory_unlock_int8,
												 Int64GetDatum(PG_ATLAS_LOCK_KEY)));
	CommitTransactionCommand();
}

static int
pg_db_unlock(mig_db *mdb, mig_err *err)
{
	pg_db	   *db = (pg_db *) mdb;
	bool		released = false;
	int			rc;

	if (!db->locked)
		return MIG_OK;
	if (db->in_process)
	{
		/* a transaction-level lock: released when the caller's transaction ends */
		db->locked = false;
		return MIG_OK;
	}
	if ((rc = guarded(db, do_unlock, &released, err)) != MIG_OK)
		return rc;
	db->locked = false;
	if (!released)
		return mig_err_set(err, MIG_EDB, "sql/postgres: failed releasing lock %lld",
						   (long long) PG_ATLAS_LOCK_KEY);
	return MIG_OK;
}

/* ---------------------------------------------------------------- revisions table */

static void
init_table(pg_db *db, void *arg)
{
	Oid			nsp;

	cmd_start(db);
	nsp = get_namespace_oid(db->schema, true);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!OidIsValid(nsp))
	{
		/* Atlas: CREATE SCHEMA "<name>" when missing (§f.1) */
		if (SPI_execute(psprintf("CREATE SCHEMA %s", quote_identifier(db->schema)), false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "creating schema %s failed", db->schema);
		CommandCounterIncrement();
		nsp = get_namespace_oid(db->schema, false);
	}
	if (!OidIsValid(get_relname_relid(REV_TABLE, nsp)))
	{
		if (SPI_execute(psprintf("CREATE TABLE %s " REV_TABLE_DDL, db->table), false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "creating table %s failed", db->table);
	}
	else
		check_rev_table(get_relname_relid(REV_TABLE, nsp), RowExclusiveLock);
	SPI_finish();
	cmd_end(db);
}

static int
pg_db_init_revisions(mig_db *mdb, const char *schema, mig_err *err)
{
	pg_db	   *db = (pg_db *) mdb;

	set_schema(db, schema);
	return guarded(db, init_table, NULL, err);
}

/* TimestampTz (µs since 2000-01-01) to Unix nanoseconds. */
static int64_t
ts_to_unix_ns(TimestampTz ts)
{
	return ((int64_t) ts + (int64_t) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY) * 1000;
}

static TimestampTz
unix_ns_to_ts(int64_t ns)
{
	return (TimestampTz) (ns / 1000 - (int64_t) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
}

static char *
col_text(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *s = SPI_getvalue(tup, desc, col);

	return s ? s : pstrdup("");
}

static int64
col_int8(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * Read every revision but the identifier row, bytewise by version (§f.6),
 * in the current transaction; a missing table reads as none.
 */
static void
read_revs(const char *schema, mig_revs *out)
{
	char	   *sql;
	uint64		i;
	Oid			relid = rev_table_oid(schema);

	if (!OidIsValid(relid))
		return;
	check_rev_table(relid, AccessShareLock);
	sql = psprintf("SELECT version, description, type, applied, total, executed_at, "
				   "execution_time, error, error_stmt, hash, partial_hashes::pg_catalog.text, operator_version "
				   "FROM ONLY %s WHERE version OPERATOR(pg_catalog.<>) '" MIG_CLOUD_IDENTIFIER "' "
				   "ORDER BY version COLLATE pg_catalog.\"C\"",
				   quote_qualified_identifier(schema, REV_TABLE));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading %s failed", schema);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		mig_rev		r;
		bool		isnull;
		Datum		d;
		char	   *ph;

		memset(&r, 0, sizeof(r));
		r.version = col_text(tup, desc, 1);
		r.description = col_text(tup, desc, 2);
		r.type = col_int8(tup, desc, 3);
		r.applied = col_int8(tup, desc, 4);
		r.total = col_int8(tup, desc, 5);
		d = SPI_getbinval(tup, desc, 6, &isnull);
		r.executed_at_ns = isnull ? 0 : ts_to_unix_ns(DatumGetTimestampTz(d));
		r.execution_time = col_int8(tup, desc, 7);
		r.error = col_text(tup, desc, 8);
		r.error_stmt = col_text(tup, desc, 9);
		r.hash = col_text(tup, desc, 10);
		ph = SPI_getvalue(tup, desc, 11);
		r.partial_hashes = ph && ph[0] ? ph : (char *) "null";
		r.operator_version = col_text(tup, desc, 12);
		if (mig_revs_push(out, &r) != MIG_OK)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	SPI_finish();
}

typedef struct read_arg
{
	mig_revs   *out;
} read_arg;

static void
read_table(pg_db *db, void *p)
{
	read_arg   *a = p;

	cmd_start(db);
	read_revs(db->schema, a->out);
	cmd_end(db);
}

static int
pg_db_read_revisions(mig_db *mdb, const char *schema, mig_revs *out, mig_err *err)
{
	pg_db	   *db = (pg_db *) mdb;
	read_arg	a = {out};
	int			rc;

	set_schema(db, schema);
	rc = guarded(db, read_table, &a, err);
	if (rc != MIG_OK)
		mig_revs_free(out);
	return rc;
}

void
pg_db_read_revisions_here(const char *schema, mig_revs *out)
{
	PG_TRY();
	{
		int			nest = pg_ext_pin_search_path();

		read_revs(schema && schema[0] ? schema : DEFAULT_REV_SCHEMA, out);
		pg_ext_unpin_search_path(nest);
	}
	PG_CATCH();
	{
		mig_revs_free(out);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* The upsert of §f.4: keep version, description and executed_at. */
static void
write_rev(pg_db *db, void *p)
{
	const mig_rev *r = p;
	Datum		v[12];
	char		nulls[12];
	int			rc;

	cmd_start(db);
	check_rev_table(rev_table_oid(db->schema), RowExclusiveLock);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (db->upsert_plan == NULL)
	{
		Oid			types[12] = {TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID,
		INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		char	   *sql;
		SPIPlanPtr	plan;

		sql = psprintf("INSERT INTO %s AS r (version, description, type, applied, total, executed_at, "
					   "execution_time, error, error_stmt, hash, partial_hashes, operator_version) "
					   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::pg_catalog.jsonb, $12) "
					   "ON CONFLICT (version) DO UPDATE SET type = excluded.type, "
					   "applied = excluded.applied, total = excluded.total, "
					   "execution_time = excluded.execution_time, error = excluded.error, "
					   "error_stmt = excluded.error_stmt, hash = excluded.hash, "
					   "partial_hashes = excluded.partial_hashes, "
					   "operator_version = excluded.operator_version",
					   db->table);
		plan = SPI_prepare(sql, 12, types);
		if (plan == NULL)
			elog(ERROR, "preparing the revisions upsert failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "keeping the revisions upsert failed");
		db->upsert_plan = plan;
	}
	memset(nulls, ' ', sizeof(nulls));
	v[0] = CStringGetTextDatum(r->version ? r->version : "");
	v[1] = CStringGetTextDatum(r->description ? r->description : "");
	v[2] = Int64GetDatum(r->type);
	v[3] = Int64GetDatum(r->applied);
	v[4] = Int64GetDatum(r->total);
	v[5] = r->executed_at_ns > 0 ? TimestampTzGetDatum(unix_ns_to_ts(r->executed_at_ns))
		: TimestampTzGetDatum(GetCurrentTimestamp());
	v[6] = Int64GetDatum(r->execution_time);
	v[7] = CStringGetTextDatum(r->error ? r->error : "");
	v[8] = CStringGetTextDatum(r->error_stmt ? r->error_stmt : "");
	v[9] = CStringGetTextDatum(r->hash ? r->hash : "");
	v[10] = CStringGetTextDatum(r->partial_hashes && r->partial_hashes[0] ? r->partial_hashes : "null");
	v[11] = CStringGetTextDatum(r->operator_version ? r->operator_version : MIG_OPERATOR_VERSION);
	rc = SPI_execute_plan((SPIPlanPtr) db->upsert_plan, v, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "writing revision %s failed: %s", r->version, SPI_result_code_string(rc));
	SPI_finish();
	cmd_end(db);
}

static int
pg_db_write_revision(mig_db *mdb, const mig_rev *rev, mig_err *err)
{
	pg_db	   *db = (pg_db *) mdb;

	if (db->table == NULL)
		set_schema(db, NULL);
	return guarded(db, write_rev, (void *) rev, err);
}

/* ---------------------------------------------------------------- clean check (§g.3) */

typedef struct clean_arg
{
	bool		clean;
	char	   *reason;
	size_t		reasonsz;
} clean_arg;

/* Tables that count: ordinary and partitioned, not members of an extension (§k.19). */
#define USER_TABLE_FILTER \
	"c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog.\"char\"[]) AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d " \
	"WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass " \
	"AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.deptype OPERATOR(pg_catalog.=) 'e')"

static void
check_clean(pg_db *db, void *p)
{
	clean_arg  *a = p;
	const char *url_schema = db->cfg ? db->cfg->db_schema : NULL;
	const char *rev_schema = db->schema ? db->schema : DEFAULT_REV_SCHEMA;
	Oid			types[1] = {TEXTOID};
	Datum		vals[1];
	uint64		i;

	a->clean = true;
	cmd_start(db);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (url_schema && url_schema[0])
	{
		/* bound to a schema: no tables, or only the revisions table kept there */
		vals[0] = CStringGetTextDatum(url_schema);
		if (SPI_execute_with_args("SELECT c.relname::pg_catalog.text FROM pg_catalog.pg_class c "
								  "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
								  "WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND " USER_TABLE_FILTER
								  " ORDER BY c.relname COLLATE pg_catalog.\"C\"",
								  1, types, vals, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "clean check failed");
		for (i = 0; i < SPI_processed && a->clean; i++)
		{
			char	   *t = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

			if (strcmp(t, REV_TABLE) == 0 && strcmp(rev_schema, url_schema) == 0)
				continue;
			a->clean = false;
			snprintf(a->reason, a->reasonsz, "found table \"%s\" in schema \"%s\"", t, url_schema);
		}
	}
	else
	{
		/*
		 * The extension's own schema, when it is not public, holds only its
		 * objects: not a sign of a used database (DESIGN §6.19).
		 */
		Oid			extnsp;
		Oid			ntypes[1] = {OIDOID};
		Datum		nvals[1];

		pg_ext_lookup(&extnsp, NULL);
		if (extnsp == PG_PUBLIC_NAMESPACE)
			extnsp = InvalidOid;
		nvals[0] = ObjectIdGetDatum(extnsp);
		if (SPI_execute_with_args("SELECT n.nspname::pg_catalog.text, "
						"(SELECT pg_catalog.count(*) FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) n.oid AND "
						USER_TABLE_FILTER "), "
						"(SELECT c.relname::pg_catalog.text FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) n.oid AND "
						USER_TABLE_FILTER " ORDER BY c.relname COLLATE pg_catalog.\"C\" LIMIT 1) "
						"FROM pg_catalog.pg_namespace n "
						"WHERE n.nspname OPERATOR(pg_catalog.<>) ALL ('{information_schema,pg_catalog,pg_toast,crdb_internal,pg_extension}'::pg_catalog.name[]) "
						"AND NOT (n.nspname OPERATOR(pg_catalog.~~) 'pg\\_%temp\\_%'::pg_catalog.text) "
						"AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d "
						"WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass "
						"AND d.objid OPERATOR(pg_catalog.=) n.oid AND d.deptype OPERATOR(pg_catalog.=) 'e') "
						"AND n.oid OPERATOR(pg_catalog.<>) $1 "
						"ORDER BY n.nspname COLLATE pg_catalog.\"C\"", 1, ntypes, nvals, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "clean check failed");
		for (i = 0; i < SPI_processed && a->clean; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			char	   *s = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
			int64		n = col_int8(tup, SPI_tuptable->tupdesc, 2);
			char	   *t = SPI_getvalue(tup, SPI_tuptable->tupdesc, 3);

			if (n == 0)
			{
				if (strcmp(s, "public") != 0)
				{
					a->clean = false;
					snprintf(a->reason, a->reasonsz, "found schema \"%s\"", s);
				}
			}
			else if (strcmp(s, rev_schema) != 0)
			{
				a->clean = false;
				snprintf(a->reason, a->reasonsz, "found schema \"%s\"", s);
			}
			else if (n > 1)
			{
				a->clean = false;
				snprintf(a->reason, a->reasonsz, "found %lld tables in schema \"%s\"", (long long) n, s);
			}
			else if (t && strcmp(t, REV_TABLE) != 0)
			{
				a->clean = false;
				snprintf(a->reason, a->reasonsz, "found table \"%s\" in schema \"%s\"", t, s);
			}
		}
	}
	SPI_finish();
	cmd_end(db);
}

static int
pg_db_check_clean(mig_db *mdb, bool *clean, char *reason, size_t reasonsz, mig_err *err)
{
	pg_db	   *db = (pg_db *) mdb;
	clean_arg	a = {true, reason, reasonsz};
	int			rc;

	if (reasonsz > 0)
		reason[0] = '\0';
	rc = guarded(db, check_clean, &a, err);
	*clean = a.clean;
	return rc;
}

/* ---------------------------------------------------------------- identifier row (§f.5) */

static void
target_id(pg_db *db, void *p)
{
	char	   *out = p;
	Oid			types[1] = {TEXTOID};
	Datum		vals[1];
	char	   *id;

	cmd_start(db);
	check_rev_table(rev_table_oid(db->schema), RowExclusiveLock);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	vals[0] = CStringGetTextDatum(MIG_OPERATOR_VERSION);
	if (SPI_execute_with_args(psprintf("INSERT INTO %s (version, description, type, applied, total, "
									   "executed_at, execution_time, hash, operator_version) "
									   "VALUES ('" MIG_CLOUD_IDENTIFIER "', pg_catalog.gen_random_uuid()::pg_catalog.text, "
									   "2, 0, 0, pg_catalog.now(), 0, '', $1) ON CONFLICT (version) DO NOTHING",
									   db->table),
							  1, types, vals, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "writing the revision-table identifier failed");
	if (SPI_execute(psprintf("SELECT description FROM ONLY %s WHERE version OPERATOR(pg_catalog.=) '"
							 MIG_CLOUD_IDENTIFIER "'", db->table), false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "reading the revision-table identifier failed");
	id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (id == NULL || strlen(id) != 36)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("revision-table identifier \"%s\" is not a UUID", id ? id : "")));
	memcpy(out, id, 37);
	SPI_finish();
	cmd_end(db);
}

static int
pg_db_target_id(mig_db *mdb, char out[37], mig_err *err)
{
	pg_db	   *db = (pg_db *) mdb;

	out[0] = '\0';
	if (db->table == NULL)
		set_schema(db, NULL);
	return guarded(db, target_id, out, err);
}

/* ---------------------------------------------------------------- log */

/* One log entry: a NOTICE, which the worker's shm_mq carries to the caller. */
static void
pg_db_log(mig_db *mdb, const char *text, size_t len)
{
	pg_db	   *db = (pg_db *) mdb;
	MemoryContext cxt = CurrentMemoryContext;
	uint32		holdoff = InterruptHoldoffCount;

	/* a cancel must not longjmp out of the send; the next statement sees it */
	HOLD_INTERRUPTS();
	PG_TRY();
	{
		ereport(NOTICE, (errmsg_internal("%.*s", (int) len, text)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(db->keep_cxt);
		FlushErrorState();
	}
	PG_END_TRY();
	/* an ERROR reset the count; restore it rather than going below zero */
	InterruptHoldoffCount = holdoff;
	MemoryContextSwitchTo(cxt);
}

/* ---------------------------------------------------------------- search_path (DESIGN §2) */

/*
 * The Atlas CLI's driver sends a URL's search_path parameter as a run-time
 * parameter when it connects, and the server takes the value as written and
 * checks it like any search_path (a list of possibly quoted names): so the
 * value goes in as the setting, never spliced into SQL.  PGC_S_SESSION: it
 * overrides the caller's own search_path, restored into the worker; the env
 * names its schema.
 */
void
pg_db_set_search_path(const char *search_path, GucAction action, bool change)
{
	if (search_path == NULL || search_path[0] == '\0')
		return;
	(void) set_config_option("search_path", search_path, PGC_USERSET, PGC_S_SESSION,
							 action, change, 0, false);
}

static void
use_url_search_path(pg_db *db, void *arg)
{
	StartTransactionCommand();
	pg_db_set_search_path(db->cfg ? db->cfg->db_schema : NULL, GUC_ACTION_SET, true);
	CommitTransactionCommand();
}

int
pg_db_use_url_search_path(pg_db *db, mig_err *err)
{
	int			rc = guarded(db, use_url_search_path, NULL, err);

	if (rc != MIG_OK)
		mig_err_prefix(err, "search_path of the env url: ");
	return rc;
}

/* ---------------------------------------------------------------- setup */

/*
 * The length of one character in the database encoding, 0 when invalid:
 * the core writes the report's texts in the database encoding, which is
 * what jsonb_in reads (a LATIN1 or SQL_ASCII database's texts are not
 * UTF-8).
 */
static size_t
db_charlen(const unsigned char *s, size_t n)
{
	int			l = pg_encoding_verifymbchar(GetDatabaseEncoding(), (const char *) s,
											 (int) Min(n, (size_t) INT_MAX));

	return l > 0 ? (size_t) l : 0;
}

void
pg_db_init(pg_db *db, const mig_run_cfg *cfg, pg_job *job, volatile sig_atomic_t *stop)
{
	memset(db, 0, sizeof(*db));
	db->base.name = "postgres";
	db->base.driver = "postgres";
	db->base.version = PG_VERSION;
	db->base.lex_flags = MIG_LEX_POSTGRES;
	db->base.lock = pg_db_lock;
	db->base.unlock = pg_db_unlock;
	db->base.init_revisions = pg_db_init_revisions;
	db->base.read_revisions = pg_db_read_revisions;
	db->base.write_revision = pg_db_write_revision;
	db->base.check_clean = pg_db_check_clean;
	db->base.target_id = pg_db_target_id;
	db->base.begin = pg_db_begin;
	db->base.commit = pg_db_commit;
	db->base.rollback = pg_db_rollback;
	db->base.exec = pg_db_exec;
	db->base.begin_stmt = pg_db_begin_stmt;
	db->base.tx_open = pg_db_tx_open;
	db->base.interrupted = pg_db_interrupted;
	db->base.log = pg_db_log;
	db->base.set_stmt_lock_timeout = pg_db_set_stmt_lock_timeout;
	db->base.lock_wait_failed = pg_db_lock_wait_failed;
	db->base.pause = pg_db_pause;
	db->base.check = pg_check_statements;
	db->cfg = cfg;
	db->job = job;
	/* report and run row JSON in the database encoding (issue 8) */
	mig_set_text_charlen(GetDatabaseEncoding() == PG_UTF8 ? NULL : db_charlen);
	db->stop = stop;
	db->keep_cxt = AllocSetContextCreate(TopMemoryContext, "atlas_migrate adapter",
										 ALLOCSET_DEFAULT_SIZES);
	db->stmt_cxt = AllocSetContextCreate(db->keep_cxt, "atlas_migrate statement",
										 ALLOCSET_DEFAULT_SIZES);
}

void
pg_db_init_here(pg_db *db, const mig_run_cfg *cfg)
{
	pg_db_init(db, cfg, NULL, NULL);
	/* freed with the call's memory too, should anything escape */
	MemoryContextSetParent(db->keep_cxt, CurrentMemoryContext);
	db->in_process = true;
	db->base.caller_tx = true;
	db->base.stmt_in_block = pg_db_stmt_in_block;
}

void
pg_db_free(pg_db *db)
{
	/* the worker's kept plan goes with the process, which ends right after */
	if (db->in_process && db->upsert_plan)
		SPI_freeplan((SPIPlanPtr) db->upsert_plan);
	db->upsert_plan = NULL;
	if (db->keep_cxt)
		MemoryContextDelete(db->keep_cxt);
	db->keep_cxt = db->stmt_cxt = NULL;
	db->schema = db->table = NULL;
}
