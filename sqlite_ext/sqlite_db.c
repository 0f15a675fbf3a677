/*
 * sqlite_db.c - mig_db for SQLite, on the caller's own connection
 * (DESIGN §2): BEGIN/COMMIT per file in autocommit, a savepoint per file
 * inside the caller's transaction, Atlas's foreign-key handling (§g.5), the
 * revisions table with Atlas's exact column types (§f.2), and a flock on
 * `<database file>.atlas-lock` as the cross-process lock (DESIGN §6.17).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "sqlite_host.h"

#define SAVEPOINT_NAME "atlas_migrate_file"

/* §f.2, SQLite column types as Atlas's schema creates them. */
static const char revisions_ddl[] =
"CREATE TABLE IF NOT EXISTS " SQLITE_REVISIONS_TABLE " ("
"version text NOT NULL, description text NOT NULL, "
"type integer NOT NULL DEFAULT (2), applied integer NOT NULL DEFAULT (0), "
"total integer NOT NULL DEFAULT (0), executed_at datetime NOT NULL, "
"execution_time integer NOT NULL, error text NULL, error_stmt text NULL, "
"hash text NOT NULL, partial_hashes json NULL, operator_version text NOT NULL, "
"PRIMARY KEY (version))";

static const char config_ddl[] =
"CREATE TABLE IF NOT EXISTS " SQLITE_CONFIG_TABLE " ("
"id integer PRIMARY KEY CHECK (id = 1), hcl text NOT NULL, updated_at text NOT NULL)";

static const char runs_ddl[] =
"CREATE TABLE IF NOT EXISTS " SQLITE_RUNS_TABLE " ("
"id integer PRIMARY KEY, env text NOT NULL, dir text, "
"started_at text NOT NULL, finished_at text, status text NOT NULL, "
"dry_run integer NOT NULL DEFAULT 0, from_version text, to_version text, "
"files_applied integer NOT NULL DEFAULT 0, error text, log text, report json, "
"deployment_url text, cloud_report text, cloud_error text, pid integer, "
"target_version text, files_pending integer NOT NULL DEFAULT 0, cloud_target text, "
"lock_retries integer NOT NULL DEFAULT 0, lock_wait_ms integer NOT NULL DEFAULT 0)";

/* Columns added after 0.1.0, for tables an older version created. */
static const char *const runs_added[] = {
	"target_version text",
	"files_pending integer NOT NULL DEFAULT 0",
	"cloud_target text",
	"lock_retries integer NOT NULL DEFAULT 0",	/* issue 11 */
	"lock_wait_ms integer NOT NULL DEFAULT 0",
};

#define SDB(db) ((sqlite_db *) (db))

/* After the lock timed out: how long recording the failed run may wait. */
#define LOCK_FAIL_GRACE_MS 2000

/* The call whose waits are bounded now (one call at a time per thread). */
static __thread sqlite_db *current_wait;

int
sqlite_db_error(sqlite3 *db, mig_err *err)
{
	int			code = sqlite3_extended_errcode(db);
	const char *file = sqlite3_db_filename(db, "main");
	long long	waited = current_wait ? (long long) current_wait->busy_ms : 0;

	switch (code & 0xff)
	{
		case SQLITE_BUSY:
			mig_err_set(err, MIG_ELOCKED,
						"database \"%s\" is locked by another connection: %s",
						file && file[0] ? file : ":memory:", sqlite3_errmsg(db));
			if (current_wait)
				mig_err_detail(err, "Waited %lldms for its write transaction to end (lock_timeout %lldms).",
							   waited, (long long) current_wait->lock_timeout_ms);
			mig_err_hint(err, "Another process or connection is writing to this database; try again later or raise lock_timeout.");
			return MIG_ELOCKED;
		case SQLITE_LOCKED:
			mig_err_set(err, MIG_ELOCKED, "a table is locked by another statement of this connection: %s",
						sqlite3_errmsg(db));
			mig_err_hint(err, "Call atlas_migrate_apply() on its own, not while another statement of the connection reads tables.");
			return MIG_ELOCKED;
		case SQLITE_READONLY:
			mig_err_set(err, MIG_EDB, "database \"%s\" cannot be written: %s",
						file && file[0] ? file : ":memory:", sqlite3_errmsg(db));
			if (code == SQLITE_READONLY_CANTINIT || code == SQLITE_READONLY_CANTLOCK ||
				code == SQLITE_READONLY_DIRECTORY)
				mig_err_hint(err, "A WAL database needs write access to its directory (for the -wal and -shm files).");
			else
				mig_err_hint(err, "Open the database read-write, and check the file's and directory's permissions.");
			return MIG_EDB;
		case SQLITE_CANTOPEN:
			mig_err_set(err, MIG_EDB, "database \"%s\" cannot be opened: %s",
						file && file[0] ? file : ":memory:", sqlite3_errmsg(db));
			mig_err_hint(err, "A WAL database needs write access to its directory (for the -wal and -shm files).");
			return MIG_EDB;
		default:
			mig_err_set(err, MIG_EDB, "%s", sqlite3_errmsg(db));
			return MIG_EDB;
	}
}

static int
db_error(sqlite3 *db, mig_err *err)
{
	return sqlite_db_error(db, err);
}

/* The busy handler: short sleeps until the call's deadline. */
static int
busy_wait(void *arg, int count)
{
	sqlite_db  *s = arg;
	int64_t		left_ms = (s->deadline_ns - mig_now_ns()) / 1000000;
	int			ms = count < 4 ? 5 << count : 50;

	if (left_ms <= 0)
		return 0;
	if (ms > left_ms)
		ms = (int) left_ms;
	sqlite3_sleep(ms);
	s->busy_ms += ms;
	return 1;
}

void
sqlite_db_wait_begin(sqlite_db *s, int64_t timeout_ms)
{
	s->lock_timeout_ms = timeout_ms;
	s->deadline_ns = mig_now_ns() + timeout_ms * 1000000;
	s->busy_ms = 0;
	current_wait = s;
	sqlite3_busy_handler(s->db, busy_wait, s);
}

void
sqlite_db_wait_end(sqlite_db *s)
{
	if (current_wait == s)
		current_wait = NULL;
	s->deadline_ns = 0;
}

int
sqlite_db_exec_plain(sqlite_db *s, const char *sql, mig_err *err)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_error(s->db, err);
	return MIG_OK;
}

int
sqlite_table_check(sqlite3 *db, const char *name, bool *exists, mig_err *err)
{
	sqlite3_stmt *st;
	int			rc;

	*exists = false;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?1",
						   -1, &st, NULL) != SQLITE_OK)
		return db_error(db, err);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*exists = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
	{
		rc = db_error(db, err);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	return MIG_OK;
}

bool
sqlite_table_exists(sqlite3 *db, const char *name)
{
	mig_err		err;
	bool		found = false;

	return sqlite_table_check(db, name, &found, &err) == MIG_OK && found;
}

/* Add the columns a table made by an older version lacks. */
static int
upgrade_runs(sqlite3 *db, mig_err *err)
{
	size_t		i;

	for (i = 0; i < sizeof(runs_added) / sizeof(runs_added[0]); i++)
	{
		const char *col = runs_added[i];
		size_t		n = strcspn(col, " ");
		sqlite3_stmt *st;
		bool		found = false;
		int			rc;

		if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('" SQLITE_RUNS_TABLE "', 'main') "
							   "WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
			return db_error(db, err);
		sqlite3_bind_text(st, 1, col, (int) n, SQLITE_STATIC);
		rc = sqlite3_step(st);
		found = rc == SQLITE_ROW;
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return db_error(db, err);
		if (!found)
		{
			char	   *sql = sqlite3_mprintf("ALTER TABLE main." SQLITE_RUNS_TABLE " ADD COLUMN %s", col);

			if (sql == NULL)
				return mig_err_set(err, MIG_ENOMEM, "out of memory");
			rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
			sqlite3_free(sql);
			if (rc != SQLITE_OK)
				return db_error(db, err);
		}
	}
	return MIG_OK;
}

int
sqlite_db_ensure_tables(sqlite3 *db, mig_err *err)
{
	if (sqlite3_exec(db, config_ddl, NULL, NULL, NULL) != SQLITE_OK ||
		sqlite3_exec(db, runs_ddl, NULL, NULL, NULL) != SQLITE_OK)
		return db_error(db, err);
	return upgrade_runs(db, err);
}

/* §f.2: "YYYY-MM-DD HH:MM:SS[.fffffffff]±HH:MM", the writer's local zone. */
static void
fmt_executed_at(int64_t ns, char *out, size_t outsz)
{
	time_t		secs = (time_t) (ns / 1000000000);
	long		frac = (long) (ns % 1000000000);
	struct tm	tm;
	char		base[32],
				fr[16] = "";
	long		off;
	int			n;

	localtime_r(&secs, &tm);
	strftime(base, sizeof(base), "%Y-%m-%d %H:%M:%S", &tm);
	if (frac)
	{
		snprintf(fr, sizeof(fr), ".%09ld", frac);
		n = (int) strlen(fr);
		while (n > 1 && fr[n - 1] == '0')
			fr[--n] = '\0';
	}
	off = tm.tm_gmtoff;
	snprintf(out, outsz, "%s%s%c%02ld:%02ld", base, fr, off < 0 ? '-' : '+',
			 labs(off) / 3600, (labs(off) % 3600) / 60);
}

/* ---------------------------------------------------------------- lock (§g.8, DESIGN §6.17) */

static int
s_lock(mig_db *db, int64_t timeout_ms, mig_err *err)
{
	sqlite_db  *s = SDB(db);
	const char *file = sqlite3_db_filename(s->db, "main");
	int64_t		waited = 0,
				wait = 25;

	if (file == NULL || file[0] == '\0')
		return MIG_OK;			/* :memory: or temp: one connection only */
	if (s->lock_fd >= 0)
		return MIG_OK;			/* taken already */
	if (s->deadline_ns > 0)
	{
		/* one bound for every wait of the call */
		int64_t		left = (s->deadline_ns - mig_now_ns()) / 1000000;

		if (left < timeout_ms)
			timeout_ms = left > 0 ? left : 0;
	}
	sqlite3_free(s->lock_path);
	s->lock_path = sqlite3_mprintf("%s.atlas-lock", file);
	if (s->lock_path == NULL)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	s->lock_fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS))
	{
		/* a read-only directory: say what the user must change */
		mig_err_set(err, MIG_EDB, "database \"%s\" cannot be written: its lock file \"%s\" cannot be created: %s",
					file, s->lock_path, strerror(errno));
		mig_err_hint(err, "atlas_migrate_apply needs write access to the database's directory "
					 "(for the lock file, and a WAL database's -wal and -shm files).");
		return MIG_EDB;
	}
	if (s->lock_fd < 0)
		return mig_err_set(err, MIG_EIO, "cannot open lock file \"%s\": %s", s->lock_path, strerror(errno));
	for (;;)
	{
		if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR)
		{
			mig_err_set(err, MIG_EIO, "cannot lock \"%s\": %s", s->lock_path, strerror(errno));
			goto fail;
		}
		if (waited >= timeout_ms)
		{
			mig_err_set(err, MIG_ELOCKED,
						"sql/sqlite: lock on \"%s\" is held by another process (waited %lldms)",
						s->lock_path, (long long) (waited + s->busy_ms));
			mig_err_hint(err, "Another atlas_migrate_apply is running on this database; try again later or raise lock_timeout.");
			/* a short grace to record the failure between the other run's files */
			if (s->deadline_ns > 0)
				s->deadline_ns = mig_now_ns() + LOCK_FAIL_GRACE_MS * 1000000;
			goto fail;
		}
		/* Atlas's polling: 25 ms doubling, capped at 1 s, never past the timeout */
		if (wait > timeout_ms - waited)
			wait = timeout_ms - waited;
		{
			struct timespec ts = {(time_t) (wait / 1000), (long) (wait % 1000) * 1000000L};

			nanosleep(&ts, NULL);
		}
		waited += wait;
		wait = wait * 2 > 1000 ? 1000 : wait * 2;
		if (wait <= 0)
			wait = 25;
	}
	/* We hold the lock: a run row still "running" belongs to a dead run. */
	if (sqlite_table_exists(s->db, SQLITE_RUNS_TABLE))
	{
		char	   *sql = sqlite3_mprintf(
			"UPDATE " SQLITE_RUNS_TABLE " SET status = 'failed', finished_at = datetime('now'), "
			"error = 'interrupted: the process running it ended before the run finished' "
			"WHERE status = 'running' AND id <> %lld", (long long) s->run_id);

		if (sql)
			sqlite3_exec(s->db, sql, NULL, NULL, NULL);
		sqlite3_free(sql);
	}
	return MIG_OK;
fail:
	close(s->lock_fd);
	s->lock_fd = -1;
	return err->code;
}

static int
s_unlock(mig_db *db, mig_err *err)
{
	sqlite_db  *s = SDB(db);

	if (s->lock_fd >= 0)
	{
		flock(s->lock_fd, LOCK_UN);
		close(s->lock_fd);
		s->lock_fd = -1;
	}
	return MIG_OK;
}

/* ---------------------------------------------------------------- revisions (§f) */

static int
s_init_revisions(mig_db *db, const char *schema, mig_err *err)
{
	sqlite_db  *s = SDB(db);

	/* §f.1: SQLite keeps the table in main */
	if (schema && schema[0] && strcmp(schema, "main") != 0)
		return mig_err_set(err, MIG_ECONFIG,
						   "cannot store revisions-table in a separate schema (\"%.200s\") with SQLite driver", schema);
	return sqlite_db_exec_plain(s, revisions_ddl, err);
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? mig_strndup((const char *) t, (size_t) sqlite3_column_bytes(st, i)) : NULL;
}

static int
s_read_revisions(mig_db *db, const char *schema, mig_revs *out, mig_err *err)
{
	sqlite_db  *s = SDB(db);
	sqlite3_stmt *st;
	int			rc;

	if (!sqlite_table_exists(s->db, SQLITE_REVISIONS_TABLE))
		return MIG_OK;
	/* §f.6: BINARY collation is bytewise */
	if (sqlite3_prepare_v2(s->db,
						   "SELECT version, description, type, applied, total, execution_time, error, "
						   "error_stmt, hash, partial_hashes, operator_version FROM main." SQLITE_REVISIONS_TABLE
						   " WHERE version <> '" MIG_CLOUD_IDENTIFIER "' ORDER BY version COLLATE BINARY",
						   -1, &st, NULL) != SQLITE_OK)
		return db_error(s->db, err);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
	{
		mig_rev		r;

		memset(&r, 0, sizeof(r));
		r.version = col_dup(st, 0);
		r.description = col_dup(st, 1);
		r.type = sqlite3_column_int64(st, 2);
		r.applied = sqlite3_column_int64(st, 3);
		r.total = sqlite3_column_int64(st, 4);
		r.execution_time = sqlite3_column_int64(st, 5);
		r.error = col_dup(st, 6);
		r.error_stmt = col_dup(st, 7);
		r.hash = col_dup(st, 8);
		r.partial_hashes = col_dup(st, 9);	/* TEXT or BLOB (§f.2) */
		r.operator_version = col_dup(st, 10);
		if (r.version == NULL)
		{
			mig_rev_free(&r);
			sqlite3_finalize(st);
			return mig_err_set(err, MIG_ENOMEM, "out of memory");
		}
		if (out->n == out->cap)
		{
			size_t		cap = out->cap ? out->cap * 2 : 64;
			mig_rev    *v = mig_realloc(out->v, cap * sizeof(mig_rev));

			if (v == NULL)
			{
				mig_rev_free(&r);
				sqlite3_finalize(st);
				return mig_err_set(err, MIG_ENOMEM, "out of memory");
			}
			out->v = v;
			out->cap = cap;
		}
		out->v[out->n++] = r;	/* owned now */
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(s->db, err);
	return MIG_OK;
}

/* §f.4: upsert; on conflict keep version, description and executed_at. */
static int
s_write_revision(mig_db *db, const mig_rev *r, mig_err *err)
{
	sqlite_db  *s = SDB(db);
	sqlite3_stmt *st;
	char		when[64];
	int			rc;

	if (s->write_stmt == NULL &&
		sqlite3_prepare_v3(s->db,
						   "INSERT INTO main." SQLITE_REVISIONS_TABLE " (version, description, type, applied, total, "
						   "executed_at, execution_time, error, error_stmt, hash, partial_hashes, operator_version) "
						   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
						   "ON CONFLICT (version) DO UPDATE SET type = excluded.type, applied = excluded.applied, "
						   "total = excluded.total, execution_time = excluded.execution_time, error = excluded.error, "
						   "error_stmt = excluded.error_stmt, hash = excluded.hash, partial_hashes = excluded.partial_hashes, "
						   "operator_version = excluded.operator_version",
						   -1, SQLITE_PREPARE_PERSISTENT, &s->write_stmt, NULL) != SQLITE_OK)
		return db_error(s->db, err);
	st = s->write_stmt;
	fmt_executed_at(r->executed_at_ns ? r->executed_at_ns : mig_now_ns(), when, sizeof(when));
	sqlite3_bind_text(st, 1, r->version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->description ? r->description : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, r->type);
	sqlite3_bind_int64(st, 4, r->applied);
	sqlite3_bind_int64(st, 5, r->total);
	sqlite3_bind_text(st, 6, when, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, r->execution_time);
	sqlite3_bind_text(st, 8, r->error ? r->error : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, r->error_stmt ? r->error_stmt : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, r->hash ? r->hash : "", -1, SQLITE_STATIC);
	/* §f.2: Atlas binds the JSON bytes as a BLOB */
	sqlite3_bind_blob(st, 11, r->partial_hashes ? r->partial_hashes : "null",
					  (int) strlen(r->partial_hashes ? r->partial_hashes : "null"), SQLITE_STATIC);
	sqlite3_bind_text(st, 12, r->operator_version ? r->operator_version : MIG_OPERATOR_VERSION, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return db_error(s->db, err);
	return MIG_OK;
}

/* §f.5: insert-or-ignore the identifier row, read its UUID back. */
static int
s_target_id(mig_db *db, char out[37], mig_err *err)
{
	sqlite_db  *s = SDB(db);
	unsigned char u[16];
	char		uuid[37],
				when[64];
	sqlite3_stmt *st;
	int			rc;

	sqlite3_randomness(sizeof(u), u);
	u[6] = (unsigned char) ((u[6] & 0x0f) | 0x40);
	u[8] = (unsigned char) ((u[8] & 0x3f) | 0x80);
	snprintf(uuid, sizeof(uuid),
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	fmt_executed_at(mig_now_ns(), when, sizeof(when));
	if (sqlite3_prepare_v2(s->db,
						   "INSERT INTO main." SQLITE_REVISIONS_TABLE " (version, description, type, applied, total, "
						   "executed_at, execution_time, hash, operator_version) VALUES ('" MIG_CLOUD_IDENTIFIER
						   "', ?1, 2, 0, 0, ?2, 0, '', ?3) ON CONFLICT (version) DO NOTHING", -1, &st, NULL) != SQLITE_OK)
		return db_error(s->db, err);
	sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, when, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, MIG_OPERATOR_VERSION, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(s->db, err);
	if (sqlite3_prepare_v2(s->db, "SELECT description FROM main." SQLITE_REVISIONS_TABLE
						   " WHERE version = '" MIG_CLOUD_IDENTIFIER "'", -1, &st, NULL) != SQLITE_OK)
		return db_error(s->db, err);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 36)
		memcpy(out, sqlite3_column_text(st, 0), 37);
	else
		rc = SQLITE_ERROR;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return mig_err_set(err, MIG_EDB, "the revision-table identifier row is not a UUID");
	return MIG_OK;
}

/* ---------------------------------------------------------------- clean (§g.3) */

static bool
own_table(const char *name)
{
	return strcmp(name, SQLITE_CONFIG_TABLE) == 0 || strcmp(name, SQLITE_RUNS_TABLE) == 0;
}

static int
s_check_clean(mig_db *db, bool *clean, char *reason, size_t sz, mig_err *err)
{
	sqlite_db  *s = SDB(db);
	sqlite3_stmt *st;
	int			nschemas = 0,
				ntables = 0;
	char		schema[256] = "",
				table[256] = "";

	*clean = true;
	if (sqlite3_prepare_v2(s->db, "SELECT name FROM pragma_database_list WHERE name <> 'temp'", -1, &st, NULL) != SQLITE_OK)
		return db_error(s->db, err);
	while (sqlite3_step(st) == SQLITE_ROW)
	{
		nschemas++;
		snprintf(schema, sizeof(schema), "%s", sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	if (nschemas > 1)
	{
		*clean = false;
		snprintf(reason, sz, "found multiple schemas: %d", nschemas);
		return MIG_OK;
	}
	if (nschemas == 1 && strcmp(schema, "main") != 0)
	{
		*clean = false;
		snprintf(reason, sz, "found schema \"%s\"", schema);
		return MIG_OK;
	}
	if (sqlite3_prepare_v2(s->db,
						   "SELECT name FROM main.sqlite_master WHERE type = 'table' "
						   "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE 'libsql\\_%' ESCAPE '\\'",
						   -1, &st, NULL) != SQLITE_OK)
		return db_error(s->db, err);
	while (sqlite3_step(st) == SQLITE_ROW)
	{
		const char *name = (const char *) sqlite3_column_text(st, 0);

		if (own_table(name))
			continue;
		ntables++;
		if (strcmp(name, SQLITE_REVISIONS_TABLE) != 0 || table[0] == '\0')
			snprintf(table, sizeof(table), "%s", name);
	}
	sqlite3_finalize(st);
	if (ntables > 1)
	{
		*clean = false;
		snprintf(reason, sz, "found multiple tables: %d", ntables);
	}
	else if (ntables == 1 && strcmp(table, SQLITE_REVISIONS_TABLE) != 0)
	{
		*clean = false;
		snprintf(reason, sz, "found table \"%s\"", table);
	}
	return MIG_OK;
}

/* ---------------------------------------------------------------- transactions (§g.5) */

/* PRAGMA foreign_key_check as lines "{tbl:t ref:r row:n index:i}\n". */
static int
fk_check(sqlite_db *s, char **out, mig_err *err)
{
	sqlite3_stmt *st;
	mig_buf		b;
	int			rc;

	*out = NULL;
	if (sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
		return db_error(s->db, err);
	mig_buf_init(&b);
	mig_buf_puts(&b, "");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		mig_buf_printf(&b, "{tbl:%s ref:%s row:%lld index:%d}\n",
					   sqlite3_column_text(st, 0), sqlite3_column_text(st, 2),
					   (long long) sqlite3_column_int64(st, 1), sqlite3_column_int(st, 3));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
	{
		mig_buf_free(&b);
		return db_error(s->db, err);
	}
	if (b.oom)
	{
		mig_buf_free(&b);
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	}
	*out = mig_buf_steal(&b);
	return MIG_OK;
}

static int
pragma_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int			v = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int
s_begin(mig_db *db, mig_err *err)
{
	sqlite_db  *s = SDB(db);
	int			rc;

	if (s->mode == HOST_SAVEPOINT)
	{
		if ((rc = sqlite_db_exec_plain(s, "SAVEPOINT " SAVEPOINT_NAME, err)) == MIG_OK)
			s->in_tx = true;
		return rc;
	}
	/* §g.5: foreign_keys cannot change inside a transaction: turn it off */
	s->fk_was_on = pragma_int(s->db, "PRAGMA foreign_keys") == 1;
	if (s->fk_was_on)
	{
		if ((rc = sqlite_db_exec_plain(s, "PRAGMA foreign_keys = off", err)) != MIG_OK)
			return rc;
		mig_free(s->fk_before);
		if ((rc = fk_check(s, &s->fk_before, err)) != MIG_OK)
			return rc;
	}
	if ((rc = sqlite_db_exec_plain(s, "BEGIN", err)) != MIG_OK)
		return rc;
	s->in_tx = true;
	return MIG_OK;
}

static void
fk_restore(sqlite_db *s)
{
	if (s->fk_was_on)
		sqlite3_exec(s->db, "PRAGMA foreign_keys = on", NULL, NULL, NULL);
	s->fk_was_on = false;
	mig_free(s->fk_before);
	s->fk_before = NULL;
}

static int
s_rollback(mig_db *db, mig_err *err)
{
	sqlite_db  *s = SDB(db);
	int			rc = MIG_OK;

	/* in autocommit mode a transaction we did not begin is a file's own */
	if (!s->in_tx && !(s->mode == HOST_OWN_TX && !sqlite3_get_autocommit(s->db)))
		return MIG_OK;
	s->in_tx = false;
	if (s->mode == HOST_SAVEPOINT)
		rc = sqlite_db_exec_plain(s, "ROLLBACK TO " SAVEPOINT_NAME "; RELEASE " SAVEPOINT_NAME, err);
	else if (!sqlite3_get_autocommit(s->db))
		rc = sqlite_db_exec_plain(s, "ROLLBACK", err);
	fk_restore(s);
	return rc;
}

static int
s_commit(mig_db *db, mig_err *err)
{
	sqlite_db  *s = SDB(db);
	int			rc;

	if (s->mode == HOST_SAVEPOINT)
	{
		s->in_tx = false;
		return sqlite_db_exec_plain(s, "RELEASE " SAVEPOINT_NAME, err);
	}
	if (s->fk_was_on)
	{
		char	   *after = NULL;

		if ((rc = fk_check(s, &after, err)) != MIG_OK)
			return rc;
		if (strcmp(after, s->fk_before ? s->fk_before : "") != 0)
		{
			/* §g.5: new violations roll the file back; name only the new ones */
			mig_buf		b;
			const char *line = after;

			mig_buf_init(&b);
			while (*line)
			{
				const char *nl = strchr(line, '\n');
				size_t		n = (size_t) (nl - line) + 1;
				const char *p = s->fk_before;
				bool		seen = false;

				while (p && *p && !seen)
				{
					const char *pn = strchr(p, '\n');

					seen = (size_t) (pn - p) + 1 == n && memcmp(p, line, n) == 0;
					p = pn + 1;
				}
				if (!seen)
				{
					if (b.len)
						mig_buf_putc(&b, ' ');
					mig_buf_append(&b, line, n - 1);
				}
				line = nl + 1;
			}
			mig_err_set(err, MIG_EDB, "sql/sqlite: foreign key mismatch: [%s]", b.data ? b.data : "");
			mig_buf_free(&b);
			mig_free(after);
			s_rollback(db, NULL);
			return MIG_EDB;
		}
		mig_free(after);
	}
	rc = sqlite_db_exec_plain(s, "COMMIT", err);
	if (rc == MIG_OK)
	{
		s->in_tx = false;
		fk_restore(s);
	}
	return rc;
}

/* §g.4 step 5: one statement's whole text in one call. */
static int
exec_text(mig_db *db, const char *sql, size_t len, mig_err *err)
{
	sqlite_db  *s = SDB(db);
	const char *tail = sql,
			   *end = sql + len;

	while (tail < end)
	{
		sqlite3_stmt *st = NULL;
		int			rc;

		if (sqlite3_prepare_v2(s->db, tail, (int) (end - tail), &st, &tail) != SQLITE_OK)
			return db_error(s->db, err);
		if (st == NULL)
			break;				/* only comments or blanks left */
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (rc != SQLITE_DONE)
		{
			mig_err_set(err, MIG_EDB, "%s", sqlite3_errmsg(s->db));
			sqlite3_finalize(st);
			return MIG_EDB;
		}
		sqlite3_finalize(st);
	}
	return MIG_OK;
}

/* ---------------------------------------------------------------- tx mode none (§g.5) */

/* Skip blanks and comments; returns the first byte of the next token. */
static const char *
skip_space(const char *p, const char *end)
{
	while (p < end)
	{
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f')
			p++;
		else if (end - p >= 2 && p[0] == '-' && p[1] == '-')
		{
			while (p < end && *p != '\n')
				p++;
		}
		else if (end - p >= 2 && p[0] == '/' && p[1] == '*')
		{
			p += 2;
			while (p < end && !(end - p >= 2 && p[0] == '*' && p[1] == '/'))
				p++;
			p = p < end ? p + 2 : end;
		}
		else
			break;
	}
	return p;
}

static bool
is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '_' || c == '$' || (unsigned char) c >= 0x80;
}

/* The keyword at p (case-insensitive, whole word)? */
static bool
kw(const char *p, const char *end, const char *word)
{
	size_t		n = strlen(word);

	return (size_t) (end - p) >= n && sqlite3_strnicmp(p, word, (int) n) == 0 &&
		((size_t) (end - p) == n || !is_ident(p[n]));
}

/*
 * Must one command, starting at p, run outside a transaction?  VACUUM
 * ("cannot VACUUM from within a transaction"), ATTACH/DETACH, PRAGMA
 * (foreign_keys is a no-op inside one, journal_mode cannot change to WAL)
 * and transaction control.
 */
static bool
cmd_needs_autocommit(const char *p, const char *end)
{
	return kw(p, end, "VACUUM") || kw(p, end, "PRAGMA") || kw(p, end, "ATTACH") ||
		kw(p, end, "DETACH") || kw(p, end, "BEGIN") || kw(p, end, "COMMIT") ||
		kw(p, end, "END") || kw(p, end, "ROLLBACK") || kw(p, end, "SAVEPOINT") ||
		kw(p, end, "RELEASE");
}

/*
 * Can this statement's text run inside a transaction with the effect it
 * has in autocommit?  Looks at the first keyword of every command in it:
 * commands end at a `;` outside quotes and comments; inside CREATE TRIGGER
 * only at `; END ;`, as sqlite3_complete() sees it.
 */
static bool
stmt_in_tx_ok(const char *sql, size_t len)
{
	const char *p = sql,
			   *end = sql + len;
	bool		at_start = true,
				trigger = false,
				after_semi = false,
				after_end = false;

	while ((p = skip_space(p, end)) < end)
	{
		if (at_start)
		{
			const char *q = p;

			if (cmd_needs_autocommit(p, end))
				return false;
			at_start = false;
			trigger = false;
			if (kw(q, end, "CREATE"))
			{
				q = skip_space(q + 6, end);
				if (kw(q, end, "TEMP"))
					q = skip_space(q + 4, end);
				else if (kw(q, end, "TEMPORARY"))
					q = skip_space(q + 9, end);
				trigger = kw(q, end, "TRIGGER");
			}
		}
		if (*p == '\'' || *p == '"' || *p == '`' || *p == '[')
		{
			char		close = *p == '[' ? ']' : *p;

			p++;
			while (p < end && *p != close)
				p++;
			p = p < end ? p + 1 : end;
			after_semi = after_end = false;
		}
		else if (*p == ';')
		{
			p++;
			if (!trigger || after_end)
				at_start = true;
			after_semi = true;
			after_end = false;
		}
		else if (is_ident(*p))
		{
			const char *w = p;

			while (p < end && is_ident(*p))
				p++;
			after_end = after_semi && kw(w, end, "END");
			after_semi = false;
		}
		else
		{
			p++;
			after_semi = after_end = false;
		}
	}
	return true;
}

/*
 * One statement of a tx mode none file, with its revision row: a plain
 * BEGIN, so the statement keeps the connection's foreign_keys setting as
 * in autocommit (the §g.5 foreign-key dance belongs to file transactions).
 * Inside the caller's transaction nothing is opened: the caller's COMMIT
 * decides, and SQLite statements are atomic on their own.
 */
static int
s_begin_stmt(mig_db *db, const char *sql, size_t len, bool *opened, mig_err *err)
{
	sqlite_db  *s = SDB(db);
	int			rc;

	*opened = false;
	if (s->mode == HOST_SAVEPOINT || !sqlite3_get_autocommit(s->db) || !stmt_in_tx_ok(sql, len))
		return MIG_OK;
	if ((rc = sqlite_db_exec_plain(s, "BEGIN", err)) != MIG_OK)
		return rc;
	s->in_tx = true;
	*opened = true;
	return MIG_OK;
}

/* A transaction a tx mode none file opened itself (autocommit mode only). */
static bool
s_tx_open(mig_db *db)
{
	sqlite_db  *s = SDB(db);

	return s->mode == HOST_OWN_TX && !s->in_tx && !sqlite3_get_autocommit(s->db);
}

/*
 * A migration statement.  With statement_lock_timeout (issue 11) its busy
 * wait for another connection's write transaction ends within that bound,
 * not the call's lock_timeout: the engine rolls back and runs it (or its
 * file) again after a pause, in which the other connection can go on.
 */
static int
s_exec(mig_db *db, const char *sql, size_t len, mig_err *err)
{
	sqlite_db  *s = SDB(db);
	const int64_t saved = s->deadline_ns;
	const int64_t busy_before = s->busy_ms;
	int			rc;

	if (s->stmt_lock_timeout_ms <= 0)
		return exec_text(db, sql, len, err);
	s->deadline_ns = mig_now_ns() + s->stmt_lock_timeout_ms * 1000000;
	rc = exec_text(db, sql, len, err);
	s->deadline_ns = saved;
	s->last_busy = rc != MIG_OK && (sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_BUSY;
	if (s->last_busy)
		mig_err_detail(err, "Waited %lldms for its write transaction to end (statement_lock_timeout %lldms).",
					   (long long) (s->busy_ms - busy_before), (long long) s->stmt_lock_timeout_ms);
	return rc;
}

static int
s_set_stmt_lock_timeout(mig_db *db, int64_t timeout_ms, mig_err *err)
{
	SDB(db)->stmt_lock_timeout_ms = timeout_ms;
	return MIG_OK;
}

static bool
s_lock_wait_failed(mig_db *db, const mig_err *err, mig_buf *what)
{
	sqlite_db  *s = SDB(db);

	if (s->stmt_lock_timeout_ms <= 0 || !s->last_busy)
		return false;
	mig_buf_puts(what, "the database's write lock, held by another connection's transaction");
	return true;
}

static void
s_pause(mig_db *db, int64_t ms)
{
	sqlite3_sleep((int) ms);
}

static int
s_interrupted(mig_db *db)
{
	return 0;					/* sqlite3_is_interrupted needs 3.41 */
}

void
sqlite_db_init(sqlite_db *s, sqlite3 *db, sqlite_txmode mode)
{
	memset(s, 0, sizeof(*s));
	s->base.name = "sqlite";
	s->base.version = sqlite3_libversion();
	s->base.driver = "sqlite3";
	s->base.lex_flags = MIG_LEX_SQLITE;
	s->base.lock = s_lock;
	s->base.unlock = s_unlock;
	s->base.init_revisions = s_init_revisions;
	s->base.read_revisions = s_read_revisions;
	s->base.write_revision = s_write_revision;
	s->base.check_clean = s_check_clean;
	s->base.target_id = s_target_id;
	s->base.begin = s_begin;
	s->base.commit = s_commit;
	s->base.rollback = s_rollback;
	s->base.exec = s_exec;
	s->base.begin_stmt = s_begin_stmt;
	s->base.tx_open = s_tx_open;
	s->base.interrupted = s_interrupted;
	s->base.set_stmt_lock_timeout = s_set_stmt_lock_timeout;
	s->base.lock_wait_failed = s_lock_wait_failed;
	s->base.pause = s_pause;
	s->base.log = NULL;			/* the log is part of the returned report */
	s->base.check = mig_check_keywords;	/* what drops data; no lock analysis */
	s->db = db;
	s->mode = mode;
	s->lock_fd = -1;
}

void
sqlite_db_close(sqlite_db *s)
{
	mig_err		err;

	if (s->in_tx)
		s_rollback(&s->base, &err);
	s_unlock(&s->base, &err);
	if (s->write_stmt)
		sqlite3_finalize(s->write_stmt);
	s->write_stmt = NULL;
	sqlite3_free(s->lock_path);
	s->lock_path = NULL;
	mig_free(s->fk_before);
	s->fk_before = NULL;
}
