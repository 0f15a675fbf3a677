/*
 * fake_db.h - an in-memory mig_db for the engine tests: records every call,
 * keeps revision rows with transaction semantics, fails on request.
 */
#ifndef FAKE_DB_H
#define FAKE_DB_H

#include "engine.h"

typedef struct fake_db {
	mig_db		base;
	mig_revs	revs;			/* committed rows, kept sorted by version */
	mig_revs	tx_revs;		/* rows as seen inside the open transaction */
	bool		in_tx;
	mig_buf		calls;			/* "begin\nexec CREATE...\ncommit\n..." */
	mig_buf		executed;		/* committed statements, one per line */
	mig_buf		tx_executed;	/* statements of the open transaction */
	mig_buf		log;			/* entries handed to db->log */
	const char *fail_on;		/* exec fails when the statement contains this */
	const char *fail_msg;		/* its error text */
	bool		clean;			/* check_clean answer */
	const char *dirty_reason;
	bool		locked_elsewhere;	/* lock() fails */
	int			nlocks;
	int			nunlocks;
	int			interrupt_after;	/* interrupted() true after this many execs (0 = never) */
	int			nexec;
	const char *no_tx_on;		/* begin_stmt: statements containing this autocommit */
	const char *commit_fails_after;	/* commit fails (tx left open, as SQLite's
									 * deferred constraints) when the transaction
									 * ran a statement containing this */
	const char *crash_at;		/* the statement containing this runs, then the
								 * process dies: the open transaction is lost
								 * and every later call fails */
	bool		dead;
} fake_db;

void		fake_db_init(fake_db *f);
void		fake_db_free(fake_db *f);
/*
 * Statements starting with BEGIN, COMMIT/END and ROLLBACK act on the fake's
 * transaction as a file's own transaction control would.
 */
/* Add a committed revision row directly (version, applied/total, partial JSON). */
void		fake_db_add_rev(fake_db *f, const char *version, const char *desc,
							long applied, long total, const char *partial);
/* The committed row for a version, or NULL. */
const mig_rev *fake_db_rev(const fake_db *f, const char *version);

#endif
