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

#include "db.h"

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
} sqlite_db;

/* Set up / tear down the adapter on the caller's connection. */
void		sqlite_db_init(sqlite_db *s, sqlite3 *db, sqlite_txmode mode);
void		sqlite_db_close(sqlite_db *s);

/* Run SQL that returns nothing; MIG_EDB with sqlite3_errmsg on failure. */
int			sqlite_db_exec_plain(sqlite_db *s, const char *sql, mig_err *err);

/* Create the extension's own tables if missing. */
int			sqlite_db_ensure_tables(sqlite3 *db, mig_err *err);

/* Registration (sqlite_funcs.c). */
int			sqlite_register_functions(sqlite3 *db);

/* Does table `name` exist in main? */
bool		sqlite_table_exists(sqlite3 *db, const char *name);

/* Raise err as the function's result (message, code). */
void		sqlite_result_mig_err(sqlite3_context *ctx, const mig_err *err);

#endif
