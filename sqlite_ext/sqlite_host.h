/*
 * sqlite_host.h - the SQLite host: what its files share.
 *
 * Every file of the host includes sqlite3ext.h through this header, so the
 * API pointer declared by SQLITE_EXTENSION_INIT3 is the one the loader set.
 */
#ifndef SQLITE_HOST_H
#define SQLITE_HOST_H

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#include "engine.h"
#include "run.h"

/* Table names the extension owns (DESIGN §6.19: not counted as "dirty"). */
#define SQLITE_CONFIG_TABLE "atlas_config"
#define SQLITE_RUNS_TABLE "atlas_migrate_runs"
#define SQLITE_REVISIONS_TABLE "atlas_schema_revisions"

/* How the run uses the caller's connection (DESIGN §2). */
typedef enum sqlite_txmode {
	HOST_OWN_TX,				/* autocommit: BEGIN/COMMIT per file */
	HOST_SAVEPOINT			/* inside the caller's transaction */
} sqlite_txmode;

/* The adapter: mig_db first, then the connection and its state. */
typedef struct sqlite_db {
	mig_db		base;
	sqlite3    *db;
	sqlite_txmode mode;
	int			lock_fd;		/* flock'd sidecar file, -1 if none */
	char	   *lock_path;
	int64_t		run_id;			/* our run row (stale rows are others) */
	bool		fk_was_on;		/* foreign_keys turned off for this file */
	char	   *fk_before;		/* foreign_key_check output before BEGIN */
	sqlite3_stmt *write_stmt;	/* cached revision upsert */
	bool		in_tx;

	/*
	 * The call's waits (another connection's write lock, the sidecar lock)
	 * end together at deadline_ns (0 = no bound): lock_timeout bounds them
	 * all.  busy_ms is how long the busy handler has waited so far.
	 */
	int64_t		deadline_ns;
	int64_t		busy_ms;
	int64_t		lock_timeout_ms;

	/*
	 * Lock-safe DDL (issue 11): while a migration statement runs, its busy
	 * wait ends within stmt_lock_timeout_ms instead (0: the call's bound);
	 * last_busy says the last statement failed busy.
	 */
	int64_t		stmt_lock_timeout_ms;
	bool		last_busy;
} sqlite_db;

/* The run history (atlas_migrate_runs) on the same connection. */
typedef struct sqlite_history {
	mig_history base;
	sqlite3    *db;
	sqlite_db  *sdb;
	sqlite3_stmt *progress_stmt;	/* cached per-file update */
} sqlite_history;

void		sqlite_history_init(sqlite_history *h, sqlite_db *sdb);
void		sqlite_history_close(sqlite_history *h);

/*
 * Bound every wait of this call by timeout_ms from now: installs a busy
 * handler on the connection (restore the caller's with
 * sqlite_db_wait_end).
 */
void		sqlite_db_wait_begin(sqlite_db *s, int64_t timeout_ms);
void		sqlite_db_wait_end(sqlite_db *s);

/*
 * err from the connection's last error: MIG_EDB with SQLite's message, and
 * for a busy, locked or read-only database what it means and how long the
 * call waited.  Returns the code.
 */
int			sqlite_db_error(sqlite3 *db, mig_err *err);

/* Set up / tear down the adapter on the caller's connection. */
void		sqlite_db_init(sqlite_db *s, sqlite3 *db, sqlite_txmode mode);
void		sqlite_db_close(sqlite_db *s);

/* Run SQL that returns nothing; MIG_EDB with sqlite3_errmsg on failure. */
int			sqlite_db_exec_plain(sqlite_db *s, const char *sql, mig_err *err);

/* Create the extension's own tables if missing. */
int			sqlite_db_ensure_tables(sqlite3 *db, mig_err *err);

/* Registration (sqlite_funcs.c). */
int			sqlite_register_functions(sqlite3 *db);

/* Does table `name` exist in main? (false on any error) */
bool		sqlite_table_exists(sqlite3 *db, const char *name);

/* Same, telling an error apart: MIG_OK with *exists, or the error. */
int			sqlite_table_check(sqlite3 *db, const char *name, bool *exists, mig_err *err);

/* Raise err as the function's result (message, code). */
void		sqlite_result_mig_err(sqlite3_context *ctx, const mig_err *err);

#endif
