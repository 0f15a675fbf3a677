/*
 * fake_db.c - an in-memory mig_db for the engine tests.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fake_db.h"

#define FAKE(db) ((fake_db *) (db))

static mig_revs *
cur_revs(fake_db *f)
{
	return f->in_tx ? &f->tx_revs : &f->revs;
}

static void
copy_revs(mig_revs *dst, const mig_revs *src)
{
	size_t		i;

	mig_revs_free(dst);
	for (i = 0; i < src->n; i++)
		mig_revs_push(dst, &src->v[i]);
}

static int
rev_cmp(const void *a, const void *b)
{
	return strcmp(((const mig_rev *) a)->version, ((const mig_rev *) b)->version);
}

/* After a crash every call fails, as on a lost connection. */
#define DEAD_CHECK(f, err) \
	do { if ((f)->dead) return mig_err_set((err), MIG_EDB, "server closed the connection unexpectedly"); } while (0)

static bool
starts_with(const char *sql, size_t len, const char *word)
{
	size_t		n = strlen(word);

	return len >= n && strncasecmp(sql, word, n) == 0 &&
		(len == n || sql[n] == ';' || sql[n] == ' ' || sql[n] == '\n');
}

static bool
has(const char *sql, size_t len, const char *needle)
{
	char	   *s;
	bool		hit;

	if (needle == NULL)
		return false;
	s = strndup(sql, len);		/* libc: the failing allocator is for the core */
	hit = s && strstr(s, needle) != NULL;
	free(s);
	return hit;
}

static int
f_lock(mig_db *db, int64_t timeout_ms, mig_err *err)
{
	fake_db    *f = FAKE(db);

	mig_buf_puts(&f->calls, "lock\n");
	if (f->locked_elsewhere)
		return mig_err_set(err, MIG_ELOCKED, "sql/schema: lock is held by other session");
	f->nlocks++;
	return MIG_OK;
}

static int
f_unlock(mig_db *db, mig_err *err)
{
	mig_buf_puts(&FAKE(db)->calls, "unlock\n");
	FAKE(db)->nunlocks++;
	return MIG_OK;
}

static int
f_init(mig_db *db, const char *schema, mig_err *err)
{
	mig_buf_puts(&FAKE(db)->calls, "init_revisions\n");
	return MIG_OK;
}

static int
f_read(mig_db *db, const char *schema, mig_revs *out, mig_err *err)
{
	fake_db    *f = FAKE(db);

	mig_buf_puts(&f->calls, "read_revisions\n");
	copy_revs(out, cur_revs(f));
	return MIG_OK;
}

static int
f_write(mig_db *db, const mig_rev *rev, mig_err *err)
{
	fake_db    *f = FAKE(db);
	mig_revs   *rs = cur_revs(f);
	size_t		i;

	DEAD_CHECK(f, err);
	mig_buf_printf(&f->calls, "write %s %lld/%lld\n", rev->version,
				   (long long) rev->applied, (long long) rev->total);
	for (i = 0; i < rs->n; i++)
		if (strcmp(rs->v[i].version, rev->version) == 0)
		{
			/* §f.4 upsert: keep version, description, executed_at */
			mig_rev		keep = rs->v[i];
			mig_rev		n;

			if (mig_rev_copy(&n, rev) != MIG_OK)
				return mig_err_set(err, MIG_ENOMEM, "out of memory");
			mig_free(n.description);
			n.description = mig_strdup(keep.description);
			n.executed_at_ns = keep.executed_at_ns;
			mig_rev_free(&rs->v[i]);
			rs->v[i] = n;
			return MIG_OK;
		}
	if (mig_revs_push(rs, rev) != MIG_OK)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	qsort(rs->v, rs->n, sizeof(mig_rev), rev_cmp);
	return MIG_OK;
}

static int
f_clean(mig_db *db, bool *clean, char *reason, size_t sz, mig_err *err)
{
	fake_db    *f = FAKE(db);

	*clean = f->clean;
	if (!f->clean)
		strncpy(reason, f->dirty_reason ? f->dirty_reason : "found table \"t\"", sz - 1);
	return MIG_OK;
}

static int
f_begin(mig_db *db, mig_err *err)
{
	fake_db    *f = FAKE(db);

	DEAD_CHECK(f, err);
	mig_buf_puts(&f->calls, "begin\n");
	if (f->in_tx)
		return mig_err_set(err, MIG_EDB, "cannot start a transaction within a transaction");
	f->in_tx = true;
	copy_revs(&f->tx_revs, &f->revs);
	mig_buf_reset(&f->tx_executed);
	return MIG_OK;
}

static int
f_commit(mig_db *db, mig_err *err)
{
	fake_db    *f = FAKE(db);

	DEAD_CHECK(f, err);
	mig_buf_puts(&f->calls, "commit\n");
	if (!f->in_tx)
		return mig_err_set(err, MIG_EDB, "cannot commit - no transaction is active");
	if (f->commit_fails_after && f->tx_executed.data &&
		strstr(f->tx_executed.data, f->commit_fails_after))
		return mig_err_set(err, MIG_EDB, "FOREIGN KEY constraint failed");
	f->in_tx = false;
	copy_revs(&f->revs, &f->tx_revs);
	mig_revs_free(&f->tx_revs);
	if (f->tx_executed.len)
		mig_buf_append(&f->executed, f->tx_executed.data, f->tx_executed.len);
	mig_buf_reset(&f->tx_executed);
	return MIG_OK;
}

static int
f_rollback(mig_db *db, mig_err *err)
{
	fake_db    *f = FAKE(db);

	DEAD_CHECK(f, err);
	mig_buf_puts(&f->calls, "rollback\n");
	f->in_tx = false;
	mig_revs_free(&f->tx_revs);
	mig_buf_reset(&f->tx_executed);
	return MIG_OK;
}

static int
f_exec(mig_db *db, const char *sql, size_t len, mig_err *err)
{
	fake_db    *f = FAKE(db);
	mig_buf    *dst = f->in_tx ? &f->tx_executed : &f->executed;

	DEAD_CHECK(f, err);
	f->nexec++;
	mig_buf_puts(&f->calls, "exec ");
	mig_buf_append(&f->calls, sql, len);
	mig_buf_putc(&f->calls, '\n');
	if (has(sql, len, f->fail_on))
	{
		mig_err_set(err, MIG_EDB, "%s", f->fail_msg ? f->fail_msg : "boom");
		strcpy(err->sqlstate, "42601");
		return MIG_EDB;
	}
	/* a file's own transaction control */
	if (starts_with(sql, len, "BEGIN"))
	{
		if (f->in_tx)
			return mig_err_set(err, MIG_EDB, "cannot start a transaction within a transaction");
		f->in_tx = true;
		copy_revs(&f->tx_revs, &f->revs);
		mig_buf_reset(&f->tx_executed);
		return MIG_OK;
	}
	if (starts_with(sql, len, "COMMIT") || starts_with(sql, len, "END"))
	{
		if (!f->in_tx)
			return mig_err_set(err, MIG_EDB, "cannot commit - no transaction is active");
		return f_commit(db, err);
	}
	if (starts_with(sql, len, "ROLLBACK"))
		return f_rollback(db, err);
	mig_buf_append(dst, sql, len);
	mig_buf_putc(dst, '\n');
	if (has(sql, len, f->crash_at))
	{
		/* the process dies: what was not committed is gone */
		f->dead = true;
		f->in_tx = false;
		mig_revs_free(&f->tx_revs);
		mig_buf_reset(&f->tx_executed);
		return mig_err_set(err, MIG_EDB, "server closed the connection unexpectedly");
	}
	return MIG_OK;
}

static int
f_interrupted(mig_db *db)
{
	fake_db    *f = FAKE(db);

	return f->interrupt_after > 0 && f->nexec >= f->interrupt_after;
}

static int
f_begin_stmt(mig_db *db, const char *sql, size_t len, bool *opened, mig_err *err)
{
	fake_db    *f = FAKE(db);
	int			rc;

	*opened = false;
	DEAD_CHECK(f, err);
	if (has(sql, len, f->no_tx_on))
		return MIG_OK;
	if ((rc = f_begin(db, err)) == MIG_OK)
		*opened = true;
	return rc;
}

static bool
f_tx_open(mig_db *db)
{
	return FAKE(db)->in_tx;
}

static void
f_log(mig_db *db, const char *text, size_t len)
{
	mig_buf_append(&FAKE(db)->log, text, len);
	mig_buf_putc(&FAKE(db)->log, '\n');
}

static int
f_target_id(mig_db *db, char out[37], mig_err *err)
{
	strcpy(out, "6ba7b810-9dad-41d1-80b4-00c04fd430c8");
	return MIG_OK;
}

void
fake_db_init(fake_db *f)
{
	memset(f, 0, sizeof(*f));
	f->base.name = "fake";
	f->base.driver = "sqlite3";
	f->base.lex_flags = MIG_LEX_SQLITE;
	f->base.lock = f_lock;
	f->base.unlock = f_unlock;
	f->base.init_revisions = f_init;
	f->base.read_revisions = f_read;
	f->base.write_revision = f_write;
	f->base.check_clean = f_clean;
	f->base.target_id = f_target_id;
	f->base.begin = f_begin;
	f->base.commit = f_commit;
	f->base.rollback = f_rollback;
	f->base.exec = f_exec;
	f->base.begin_stmt = f_begin_stmt;
	f->base.tx_open = f_tx_open;
	f->base.interrupted = f_interrupted;
	f->base.log = f_log;
	f->clean = true;
}

void
fake_db_free(fake_db *f)
{
	mig_revs_free(&f->revs);
	mig_revs_free(&f->tx_revs);
	mig_buf_free(&f->calls);
	mig_buf_free(&f->executed);
	mig_buf_free(&f->tx_executed);
	mig_buf_free(&f->log);
}

void
fake_db_add_rev(fake_db *f, const char *version, const char *desc,
				long applied, long total, const char *partial)
{
	mig_rev		r;

	memset(&r, 0, sizeof(r));
	r.version = (char *) version;
	r.description = (char *) (desc ? desc : "");
	r.type = MIG_REV_EXECUTED;
	r.applied = applied;
	r.total = total;
	r.error = "";
	r.error_stmt = "";
	r.hash = "";
	r.partial_hashes = (char *) (partial ? partial : "null");
	r.operator_version = "test";
	mig_revs_push(&f->revs, &r);
	qsort(f->revs.v, f->revs.n, sizeof(mig_rev), rev_cmp);
}

const mig_rev *
fake_db_rev(const fake_db *f, const char *version)
{
	size_t		i;

	for (i = 0; i < f->revs.n; i++)
		if (strcmp(f->revs.v[i].version, version) == 0)
			return &f->revs.v[i];
	return NULL;
}
