/*
 * db.h - the database adapter (mig_db): what a host implements so the
 * engine can drive a run through it.  What a host calls is in engine.h
 * (resolve, load, apply, report) and run.h (the whole call).
 *
 * A host embeds mig_db first in its own struct and fills the function
 * pointers; the engine (apply.c, plan.c, run.c) drives a plan through it.
 * Knows nothing of PostgreSQL or SQLite.
 *
 * The rules the signatures do not say:
 * - Required callbacks: lock, unlock, init_revisions, read_revisions,
 *   write_revision, begin, commit, rollback, exec.  Every other one may be
 *   NULL; its comment says what NULL means, and the engine checks.
 * - lock is taken once per run: by mig_run() (before the run row when the
 *   host asks for lock_first, else after the directory loads), which then
 *   tells the engine it holds it (mig_apply_hooks.lock_held); mig_apply_ex()
 *   without that hook takes it itself.  unlock follows only a successful
 *   lock.  A failed lock may put who holds it in err (PostgreSQL names the
 *   holder's pid and application); mig_run prefixes Atlas's "acquiring
 *   database lock: ".
 * - Every callback runs in the host's own process and thread; none may
 *   longjmp through the engine (PostgreSQL catches its errors and returns
 *   MIG_EDB with the message and SQLSTATE; see pg_db.c).
 * - Statements the engine passes (exec, begin_stmt, stmt_in_block) point
 *   into the run's directory and are not NUL-terminated: use len.
 */
#ifndef MIG_DB_H
#define MIG_DB_H

#include "mig.h"

typedef struct mig_db mig_db;

/* ---------------------------------------------------------------- pre-flight check */

/* One pending file as the pre-flight check sees it (the engine's split). */
typedef struct mig_check_file {
	const mig_file *file;
	const mig_stmts *stmts;		/* its statements, exactly as they will run */
	mig_txmode	mode;			/* resolved: FILE, ALL or NONE */
} mig_check_file;

/*
 * What one pending statement will do to the database (atlas_migrate_check's
 * row).  A row whose severity is MIG_SEV_NONE is not a finding.
 */
typedef struct mig_check_row {
	const mig_file *file;		/* points into the run's directory */
	size_t		ordinal;		/* 1-based statement number in the file */
	const char *stmt;			/* points into file->data */
	size_t		stmt_len;
	bool		analyzed;		/* lock, relations, rewrites, scans are known
								 * (false: the host does not analyse locks) */
	char	   *lock;			/* table lock mode ("ACCESS EXCLUSIVE"), NULL = none known */
	char	  **rels;			/* relations it locks, qualified names */
	size_t		nrels;
	int64_t		rows;			/* their row estimate, summed; -1 = unknown */
	int64_t		bytes;			/* their total size, summed; -1 = unknown */
	bool		rewrites;		/* rewrites the table */
	bool		scans;			/* reads the whole table under its lock */
	bool		destructive;	/* drops data */
	mig_severity severity;		/* MIG_SEV_NONE: nothing to say */
	char	   *advice;			/* one line, NULL when none */
} mig_check_row;

/* The rows of a check, in statement order. */
typedef struct mig_checks {
	mig_check_row *v;
	size_t		n;
	size_t		cap;
	bool		ran;			/* the check ran (dry run, preflight, atlas_migrate_check) */
} mig_checks;

/*
 * The adapter.  Every function returns MIG_OK or a MIG_E* code and fills
 * err; a database error is MIG_EDB with the database's own message text in
 * err->msg (DESIGN §6.20) and its SQLSTATE in err->sqlstate when it has one.
 */
struct mig_db {
	const char *name;			/* "postgres" or "sqlite", for messages */
	const char *driver;			/* Atlas's driver name: "postgres" / "sqlite3" */
	const char *version;		/* host version ("15.4", "3.40.1") for the
								 * cloud User-Agent (§6.11); may be NULL */
	unsigned	lex_flags;		/* the dialect's scanner options (§d.1) */

	/*
	 * The run is inside the caller's own transaction, whose COMMIT or
	 * ROLLBACK decides (begin/commit/rollback are savepoints or
	 * subtransactions in it).  Every pending file must then be
	 * transactional: before anything runs, the engine refuses a tx mode
	 * none file (directive or tx_mode) and a statement that stmt_in_block
	 * says cannot run inside a transaction block (not on a dry run, which
	 * executes nothing).
	 */
	bool		caller_tx;

	/*
	 * Can this statement run inside a transaction block (asked only when
	 * caller_tx)?  PostgreSQL: false for CREATE INDEX CONCURRENTLY, VACUUM,
	 * ALTER SYSTEM, CREATE DATABASE and the like.  NULL: every statement can.
	 */
	bool		(*stmt_in_block) (mig_db *db, const char *sql, size_t len);

	/* Take / release the migration lock, polling up to timeout_ms (§g.8). */
	int			(*lock) (mig_db *db, int64_t timeout_ms, mig_err *err);
	int			(*unlock) (mig_db *db, mig_err *err);

	/*
	 * Create the revisions schema/table if missing (§f.1, §f.2).  schema is
	 * NULL for the host's default.  Outside any transaction.
	 */
	int			(*init_revisions) (mig_db *db, const char *schema, mig_err *err);

	/*
	 * Read all revisions except the identifier row, bytewise ascending by
	 * version (§f.6).  A missing table reads as no rows (dry run, §6.12).
	 */
	int			(*read_revisions) (mig_db *db, const char *schema, mig_revs *out,
								   mig_err *err);

	/* Upsert one row as §f.4 describes (keep version/description/executed_at). */
	int			(*write_revision) (mig_db *db, const mig_rev *rev, mig_err *err);

	/*
	 * Is the database clean (§g.3)?  *clean = false with reason filled
	 * (Atlas's words, e.g. `found table "t"`).  May be NULL: always clean.
	 */
	int			(*check_clean) (mig_db *db, bool *clean, char *reason, size_t reasonsz,
								mig_err *err);

	/*
	 * Insert-or-ignore the identifier row and read its UUID back (§f.5).
	 * NULL: no identifier row (nothing to report to Atlas Cloud).
	 */
	int			(*target_id) (mig_db *db, char out[37], mig_err *err);

	/* Transaction control for one file (or all files). */
	int			(*begin) (mig_db *db, mig_err *err);
	int			(*commit) (mig_db *db, mig_err *err);
	int			(*rollback) (mig_db *db, mig_err *err);

	/*
	 * Execute one statement's whole text (§g.4 step 5).  Outside begin/commit
	 * it autocommits (tx mode none).
	 */
	int			(*exec) (mig_db *db, const char *sql, size_t len, mig_err *err);

	/*
	 * Tx mode none (§g.5): open a transaction for this one statement and its
	 * revision row, so that both commit together and a crash between them
	 * cannot make the next run execute the statement again.  Sets *opened
	 * to false and opens nothing when the statement cannot run inside a
	 * transaction block with the effect it has in autocommit (PostgreSQL:
	 * the statements that call PreventInTransactionBlock or need to run
	 * outside a block, as CREATE INDEX CONCURRENTLY, VACUUM, ALTER SYSTEM;
	 * SQLite: VACUUM, PRAGMA, ATTACH); those autocommit and the row is
	 * written right after.  The engine ends an opened transaction with
	 * commit() or rollback().  Never asked for a file that controls its own
	 * transactions.  NULL: every statement can, and begin() opens it.
	 */
	int			(*begin_stmt) (mig_db *db, const char *sql, size_t len, bool *opened,
							   mig_err *err);

	/*
	 * Is a transaction open that the engine did not begin (one a tx mode
	 * none file opened with its own BEGIN)?  Asked between the statements
	 * of such a file, so its revision rows tell what is committed, and at
	 * its end, where an open transaction is an error.  NULL: never open.
	 */
	bool		(*tx_open) (mig_db *db);

	/*
	 * Lock-safe DDL (issue 11).  set_stmt_lock_timeout bounds each later
	 * exec()'s wait for a lock to timeout_ms (PostgreSQL: lock_timeout
	 * while the statement runs; SQLite: the busy wait), 0 = no bound of
	 * the run's own (what the host does without the option).  Called before
	 * the first file when the run has stmt_lock_timeout_ms, and with 0 after
	 * the last.  NULL: the host cannot bound its waits (no retries then).
	 */
	int			(*set_stmt_lock_timeout) (mig_db *db, int64_t timeout_ms, mig_err *err);

	/*
	 * Did the exec() that failed with err give up waiting for a lock under
	 * that bound (PostgreSQL: SQLSTATE 55P03; SQLite: busy)?  If so, append
	 * to what the lock it wanted and who held it as far as the host knows
	 * ("AccessExclusiveLock on relation public.t, held by PID 42
	 * (application_name \"psql\", in a transaction for 2.1 s)") and return
	 * true.  Asked after the engine rolled back what the attempt did.  NULL:
	 * never.
	 */
	bool		(*lock_wait_failed) (mig_db *db, const mig_err *err, mig_buf *what);

	/*
	 * Sleep up to ms between two attempts, returning early when the host
	 * wants the run stopped (the engine asks interrupted() after).  NULL:
	 * nanosleep.
	 */
	void		(*pause) (mig_db *db, int64_t ms);

	/* Non-zero when the host wants the run stopped (cancel, timeout).  NULL: never. */
	int			(*interrupted) (mig_db *db);

	/*
	 * One log entry as it happens (§h.1): a line or a few lines, no final
	 * newline.  PostgreSQL: a NOTICE.  May be NULL.
	 */
	void		(*log) (mig_db *db, const char *text, size_t len);

	/*
	 * The pre-flight check (issue 15): one row per statement of the pending
	 * files, appended to out (mig_checks_push), with what it locks and
	 * rewrites in this database.  Called after every pending file was split
	 * and checked, before anything runs, with the migration lock held (a
	 * run) or without it (atlas_migrate_check): read-only.  May be NULL: no
	 * check.
	 */
	int			(*check) (mig_db *db, const mig_check_file *files, size_t n,
						  mig_checks *out, mig_err *err);
};

#endif							/* MIG_DB_H */
