/*
 * sqlite_funcs.c - the SQL functions of the SQLite host:
 *
 *   atlas_config_set(hcl)                 store atlas.hcl (checked first)
 *   atlas_config_get()                    the stored atlas.hcl, secrets redacted
 *   atlas_config_envs()                   each env's settings and their sources (JSON)
 *   atlas_migrate_apply(env [, options])  apply; returns the JSON report
 *   atlas_migrate_check(env [, options])  pre-flight check; returns JSON
 *   atlas_migrate_status(env)             table-valued: one row per file
 *   atlas_split(sql [, options])          table-valued: the statements
 *
 * Only glue: arguments in, errors and values out; the core does the work.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "run.h"
#include "sqlite_host.h"

/* ---------------------------------------------------------------- errors */

void
sqlite_result_mig_err(sqlite3_context *ctx, const mig_err *err)
{
	mig_buf		b;

	if (err->code == MIG_ENOMEM)
	{
		sqlite3_result_error_nomem(ctx);
		return;
	}
	mig_buf_init(&b);
	mig_buf_puts(&b, err->msg);
	if (err->detail[0])
	{
		mig_buf_puts(&b, "\n");
		mig_buf_puts(&b, err->detail);
	}
	if (err->hint[0])
	{
		mig_buf_puts(&b, "\nHINT: ");
		mig_buf_puts(&b, err->hint);
	}
	sqlite3_result_error(ctx, b.data && !b.oom ? b.data : err->msg, -1);
	sqlite3_result_error_code(ctx, err->code == MIG_ELOCKED ? SQLITE_BUSY :
							  err->code == MIG_ECHECKSUM ? SQLITE_CORRUPT :
							  err->code == MIG_EINVAL || err->code == MIG_ECONFIG ? SQLITE_MISUSE :
							  SQLITE_ERROR);
	mig_buf_free(&b);
}

/* The stored atlas.hcl (sqlite3_malloc'd) or NULL with err set. */
static char *
load_config(sqlite3 *db, int *len, mig_err *err)
{
	sqlite3_stmt *st;
	char	   *hcl = NULL;
	bool		exists = false;
	int			rc;

	/* a busy or unreadable database says so: it is not "no configuration" */
	if (sqlite_table_check(db, SQLITE_CONFIG_TABLE, &exists, err) != MIG_OK)
		return NULL;
	if (!exists)
	{
		mig_err_set(err, MIG_ECONFIG, "no atlas.hcl configuration is stored in this database");
		mig_err_hint(err, "Store one first: SELECT atlas_config_set(readfile('atlas.hcl'));");
		return NULL;
	}
	if (sqlite3_prepare_v2(db, "SELECT hcl FROM main." SQLITE_CONFIG_TABLE " WHERE id = 1", -1, &st, NULL) != SQLITE_OK)
	{
		sqlite_db_error(db, err);
		return NULL;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
	{
		*len = sqlite3_column_bytes(st, 0);
		hcl = sqlite3_malloc(*len + 1);
		if (hcl)
		{
			memcpy(hcl, sqlite3_column_text(st, 0), (size_t) *len);
			hcl[*len] = '\0';
		}
		else
			mig_err_set(err, MIG_ENOMEM, "out of memory");
	}
	else if (rc != SQLITE_DONE)
		sqlite_db_error(db, err);
	else
	{
		mig_err_set(err, MIG_ECONFIG, "no atlas.hcl configuration is stored in this database");
		mig_err_hint(err, "Store one first: SELECT atlas_config_set(readfile('atlas.hcl'));");
	}
	sqlite3_finalize(st);
	return hcl;
}

/* ---------------------------------------------------------------- atlas_config_set */

static void
fn_config_set(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3    *db = sqlite3_context_db_handle(ctx);
	const char *hcl = (const char *) sqlite3_value_text(argv[0]);
	int			len = sqlite3_value_bytes(argv[0]);
	mig_config *cfg = NULL;
	mig_err		err;
	sqlite3_stmt *st;

	mig_err_clear(&err);
	if (hcl == NULL)
	{
		mig_err_set(&err, MIG_EINVAL, "atlas_config_set: the atlas.hcl text is NULL");
		mig_err_hint(&err, "In the sqlite3 shell, readfile('atlas.hcl') returns NULL when the file cannot be read.");
		sqlite_result_mig_err(ctx, &err);
		return;
	}
	/* checked now, so a typo fails here and not in a scheduled run */
	if (mig_hcl_parse(hcl, (size_t) len, &cfg, &err) != MIG_OK ||
		mig_hcl_check_envs(cfg, &err) != MIG_OK)
	{
		mig_hcl_free(cfg);
		mig_err_prefix(&err, "atlas.hcl: ");
		sqlite_result_mig_err(ctx, &err);
		return;
	}
	mig_hcl_free(cfg);
	if (sqlite_db_ensure_tables(db, &err) != MIG_OK)
	{
		sqlite_result_mig_err(ctx, &err);
		return;
	}
	if (sqlite3_prepare_v2(db, "INSERT INTO main." SQLITE_CONFIG_TABLE " (id, hcl, updated_at) "
						   "VALUES (1, ?1, datetime('now')) ON CONFLICT (id) DO UPDATE SET "
						   "hcl = excluded.hcl, updated_at = excluded.updated_at", -1, &st, NULL) != SQLITE_OK)
	{
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
		return;
	}
	sqlite3_bind_text(st, 1, hcl, len, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
	else
		sqlite3_result_text(ctx, "ok", -1, SQLITE_STATIC);
	sqlite3_finalize(st);
}

/* ---------------------------------------------------------------- atlas_config_get */

/* The stored atlas.hcl with its secrets replaced (mig_hcl_redact). */
static void
fn_config_get(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3    *db = sqlite3_context_db_handle(ctx);
	int			len = 0;
	char	   *hcl;
	char	   *shown = NULL;
	mig_err		err;

	mig_err_clear(&err);
	if ((hcl = load_config(db, &len, &err)) == NULL ||
		mig_hcl_redact(hcl, (size_t) len, &shown, &err) != MIG_OK)
	{
		if (err.code == MIG_ECONFIG && hcl)
			mig_err_prefix(&err, "atlas.hcl: ");
		sqlite_result_mig_err(ctx, &err);
	}
	else
		sqlite3_result_text(ctx, shown, -1, SQLITE_TRANSIENT);
	mig_free(shown);
	sqlite3_free(hcl);
}

/* ---------------------------------------------------------------- atlas_config_envs */

static void
env_setting_json(void *arg, const char *env, const char *setting, const char *value,
				 const char *source)
{
	mig_buf    *b = arg;

	mig_buf_puts(b, b->len > 1 ? ",{\"env\":" : "{\"env\":");
	mig_buf_json_text(b, env, strlen(env));
	mig_buf_puts(b, ",\"setting\":");
	mig_buf_json_text(b, setting, strlen(setting));
	mig_buf_puts(b, ",\"value\":");
	if (value)
		mig_buf_json_text(b, value, strlen(value));
	else
		mig_buf_puts(b, "null");
	mig_buf_puts(b, ",\"source\":");
	if (source)
		mig_buf_json_text(b, source, strlen(source));
	else
		mig_buf_puts(b, "null");
	mig_buf_puts(b, "}");
}

/*
 * Every env of the stored atlas.hcl with its settings as a call without
 * options would resolve them and where each comes from, as a JSON array of
 * {env, setting, value, source} (mig_config_envs); secrets never shown.
 */
static void
fn_config_envs(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3    *db = sqlite3_context_db_handle(ctx);
	int			len = 0;
	char	   *hcl;
	mig_buf		b;
	mig_err		err;

	(void) argc;
	(void) argv;
	mig_err_clear(&err);
	mig_buf_init(&b);
	mig_buf_puts(&b, "[");
	if ((hcl = load_config(db, &len, &err)) == NULL ||
		mig_config_envs(hcl, (size_t) len, NULL, false, env_setting_json, &b, &err) != MIG_OK)
		sqlite_result_mig_err(ctx, &err);
	else
	{
		mig_buf_puts(&b, "]");
		if (b.oom)
			sqlite3_result_error_nomem(ctx);
		else
			sqlite3_result_text(ctx, b.data, (int) b.len, SQLITE_TRANSIENT);
	}
	mig_buf_free(&b);
	sqlite3_free(hcl);
}

/* ---------------------------------------------------------------- atlas_migrate_apply */

/* Statements of this connection that are running (the caller's included). */
static int
busy_statements(sqlite3 *db, sqlite3_stmt **caller)
{
	sqlite3_stmt *p = NULL;
	int			n = 0;

	while ((p = sqlite3_next_stmt(db, p)) != NULL)
		if (sqlite3_stmt_busy(p))
		{
			*caller = p;
			n++;
		}
	return n;
}

/*
 * Does the calling statement read tables (SELECT atlas_migrate_apply(name)
 * FROM envs)?  Its open cursor would block the migrations' schema changes
 * part-way ("database table is locked"), so such a call is refused before
 * anything runs: its bytecode opens a table or index cursor.
 */
static bool
caller_reads_tables(sqlite3 *db, sqlite3_stmt *caller)
{
	const char *sql = caller ? sqlite3_sql(caller) : NULL;
	char	   *explain;
	sqlite3_stmt *st;
	bool		reads = false;

	if (sql == NULL || (explain = sqlite3_mprintf("EXPLAIN %s", sql)) == NULL)
		return false;
	if (sqlite3_prepare_v2(db, explain, -1, &st, NULL) == SQLITE_OK)
	{
		while (!reads && sqlite3_step(st) == SQLITE_ROW)
		{
			const char *op = (const char *) sqlite3_column_text(st, 1);

			reads = op && (strcmp(op, "OpenRead") == 0 || strcmp(op, "OpenWrite") == 0 ||
						   strcmp(op, "VOpen") == 0);
		}
		sqlite3_finalize(st);
	}
	sqlite3_free(explain);
	return reads;
}

/* The env's resolved configuration, or an error naming what is wrong. */
static int
load_cfg(sqlite3 *db, const char *env, const mig_opts *opts, mig_run_cfg *cfg, mig_err *err)
{
	char	   *hcl;
	int			len = 0,
				rc;

	if ((hcl = load_config(db, &len, err)) == NULL)
		return err->code;
	rc = mig_resolve(hcl, (size_t) len, env, opts, cfg, err);
	sqlite3_free(hcl);
	return rc;
}

/*
 * The call's arguments and where it is made from, checked before anything
 * runs (DESIGN §2: alone in autocommit, or inside the caller's transaction);
 * the options parsed into opts.
 */
static int
check_apply_call(sqlite3 *db, bool autocommit, const char *env, int argc, sqlite3_value **argv,
				 mig_opts *opts, mig_err *err)
{
	sqlite3_stmt *caller = NULL;

	if ((autocommit && sqlite3_txn_state(db, NULL) != SQLITE_TXN_NONE) ||
		busy_statements(db, &caller) > 1 || caller_reads_tables(db, caller))
	{
		mig_err_set(err, MIG_ESTATE,
					"atlas_migrate_apply() cannot run while another statement of this connection is active");
		mig_err_hint(err, "Call it on its own, as SELECT atlas_migrate_apply('env'); not from a query that reads tables.");
		return MIG_ESTATE;
	}
	if (env == NULL)
		return mig_err_set(err, MIG_EINVAL, "atlas_migrate_apply: env must not be NULL");
	if (argc > 1 && sqlite3_value_type(argv[1]) != SQLITE_NULL)
		return mig_opts_parse_json((const char *) sqlite3_value_text(argv[1]),
								   (size_t) sqlite3_value_bytes(argv[1]), opts, err);
	return MIG_OK;
}

/* The connection's busy_timeout in ms, or -1 if it cannot be read. */
static int
busy_timeout_ms(sqlite3 *db)
{
	sqlite3_stmt *st;
	int			ms = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA busy_timeout", -1, &st, NULL) == SQLITE_OK &&
		sqlite3_step(st) == SQLITE_ROW)
		ms = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return ms;
}

static void
fn_apply(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3    *db = sqlite3_context_db_handle(ctx);
	const char *env = (const char *) sqlite3_value_text(argv[0]);
	mig_opts	opts;
	mig_run_cfg cfg;
	mig_run_opts ropts;
	mig_run_out out;
	mig_err		err;
	sqlite_db	sdb;
	sqlite_history hist;
	int			rc,
				old_busy = -1;
	bool		autocommit = sqlite3_get_autocommit(db) != 0;

	mig_opts_init(&opts);
	memset(&cfg, 0, sizeof(cfg));
	mig_run_out_init(&out);
	mig_err_clear(&err);
	sqlite_db_init(&sdb, db, autocommit ? HOST_OWN_TX : HOST_SAVEPOINT);
	sqlite_history_init(&hist, &sdb);

	if ((rc = check_apply_call(db, autocommit, env, argc, argv, &opts, &err)) != MIG_OK)
		goto done;

	/*
	 * Every wait of the call (another connection's write transaction, the
	 * sidecar lock) ends within lock_timeout: the option's value until the
	 * configuration is read, then the resolved one.
	 */
	old_busy = busy_timeout_ms(db);
	sqlite_db_wait_begin(&sdb, mig_opts_given(&opts, MIG_OPT_LOCK_TIMEOUT) ? opts.lock_timeout_ms : 10000 /* §g.8 */);
	if ((rc = load_cfg(db, env, &opts, &cfg, &err)) != MIG_OK)
		goto done;
	sdb.deadline_ns += (cfg.lock_timeout_ms - sdb.lock_timeout_ms) * 1000000;
	sdb.lock_timeout_ms = cfg.lock_timeout_ms;
	if ((rc = sqlite_db_ensure_tables(db, &err)) != MIG_OK)
		goto done;

	ropts.send_reports = autocommit;
	ropts.report_log = true;
	ropts.lock_first = true;
	rc = mig_run(&sdb.base, &hist.base, &cfg, &ropts, &out, &err);

done:
	if (rc != MIG_OK)
		sqlite_result_mig_err(ctx, &err);
	else if (out.report == NULL)
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_text(ctx, out.report, -1, SQLITE_TRANSIENT);
	sqlite_db_wait_end(&sdb);
	sqlite_history_close(&hist);
	sqlite_db_close(&sdb);
	if (old_busy >= 0)
		sqlite3_busy_timeout(db, old_busy);
	mig_run_out_free(&out);
	mig_run_cfg_free(&cfg);
	mig_opts_free(&opts);
}

/* ---------------------------------------------------------------- atlas_migrate_check */

/*
 * The pre-flight check (issue 15): {"Env", "Statements": [one object per
 * pending statement], "Findings": n, "NotSupported": [...]}.  The SQLite
 * host finds what drops data (a keyword scan in the core); what a statement
 * locks, rewrites or scans is not analysed, and says so rather than
 * guessing.  Read-only: no lock, nothing written (a JSON text, like the
 * apply report, read with json_each).
 */
static void
fn_check(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3    *db = sqlite3_context_db_handle(ctx);
	const char *env = (const char *) sqlite3_value_text(argv[0]);
	mig_opts	opts;
	mig_run_cfg cfg;
	mig_dir		dir;
	mig_result	res;
	mig_err		err;
	mig_buf		out;
	sqlite_db	sdb;

	mig_opts_init(&opts);
	memset(&cfg, 0, sizeof(cfg));
	mig_dir_init(&dir);
	mig_result_init(&res);
	mig_buf_init(&out);
	mig_err_clear(&err);
	sqlite_db_init(&sdb, db, sqlite3_get_autocommit(db) ? HOST_OWN_TX : HOST_SAVEPOINT);

	if (env == NULL)
	{
		mig_err_set(&err, MIG_EINVAL, "atlas_migrate_check: env must not be NULL");
		goto fail;
	}
	if (argc > 1 && sqlite3_value_type(argv[1]) != SQLITE_NULL &&
		mig_opts_parse_json((const char *) sqlite3_value_text(argv[1]),
							(size_t) sqlite3_value_bytes(argv[1]), &opts, &err) != MIG_OK)
		goto fail;
	if (load_cfg(db, env, &opts, &cfg, &err) != MIG_OK)
		goto fail;
	if (mig_check_pending(&sdb.base, &cfg, &dir, &res, &err) != MIG_OK)
		goto fail;
	mig_buf_puts(&out, "{\"Env\":");
	mig_buf_json_str(&out, env, strlen(env));
	mig_buf_puts(&out, ",\"Statements\":");
	mig_checks_json(&res.checks, true, &out);
	mig_buf_printf(&out, ",\"Findings\":%zu", mig_checks_count(&res.checks, MIG_SEV_INFO));
	mig_buf_puts(&out, ",\"NotSupported\":[\"Lock\",\"Rewrites\",\"Scans\",\"Rows\",\"Bytes\"]}");
	if (out.oom)
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_text(ctx, out.data, (int) out.len, SQLITE_TRANSIENT);
	goto done;

fail:
	sqlite_result_mig_err(ctx, &err);
done:
	sqlite_db_close(&sdb);
	mig_buf_free(&out);
	mig_result_free(&res);
	mig_dir_free(&dir);
	mig_run_cfg_free(&cfg);
	mig_opts_free(&opts);
}

/* ---------------------------------------------------------------- table-valued functions */

/*
 * A small eponymous virtual table whose rows are computed in xFilter from
 * its hidden argument columns, as a list of text/integer cells.
 */
typedef struct tv_cursor {
	sqlite3_vtab_cursor base;
	char	  **cells;			/* nrows * ncols texts (NULL = SQL NULL) */
	sqlite3_int64 *ints;		/* parallel: integer cells */
	unsigned char *is_int;
	int			nrows;
	int			ncols;
	int			row;
} tv_cursor;

typedef struct tv_table {
	sqlite3_vtab base;
	sqlite3    *db;
	int			kind;			/* 0 = split, 1 = status */
} tv_table;

enum {
	TV_SPLIT = 0, TV_STATUS = 1
};

/* visible columns, then hidden arguments */
#define SPLIT_NCOLS 2			/* ordinal, stmt | sql, options */
#define STATUS_NCOLS 8			/* version, description, name, status, applied,
								 * total, executed_at, error | env */

static int
tv_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
		   sqlite3_vtab **out, char **errmsg)
{
	int			kind = (int) (intptr_t) aux;
	tv_table   *t;
	int			rc;

	rc = sqlite3_declare_vtab(db, kind == TV_SPLIT ?
							  "CREATE TABLE x(ordinal INTEGER, stmt TEXT, sql HIDDEN, options HIDDEN)" :
							  "CREATE TABLE x(version TEXT, description TEXT, name TEXT, status TEXT, "
							  "applied INTEGER, total INTEGER, executed_at TEXT, error TEXT, env HIDDEN)");
	if (rc != SQLITE_OK)
		return rc;
	t = sqlite3_malloc(sizeof(*t));
	if (t == NULL)
		return SQLITE_NOMEM;
	memset(t, 0, sizeof(*t));
	t->db = db;
	t->kind = kind;
	sqlite3_vtab_config(db, kind == TV_SPLIT ? SQLITE_VTAB_INNOCUOUS : SQLITE_VTAB_DIRECTONLY);
	*out = &t->base;
	return SQLITE_OK;
}

static int
tv_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

static int
tv_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	tv_table   *t = (tv_table *) vt;
	int			first_hidden = t->kind == TV_SPLIT ? SPLIT_NCOLS : STATUS_NCOLS;
	int			nhidden = t->kind == TV_SPLIT ? 2 : 1;
	int			i,
				mask = 0;

	for (i = 0; i < info->nConstraint; i++)
	{
		const struct sqlite3_index_constraint *c = &info->aConstraint[i];
		int			h = c->iColumn - first_hidden;

		if (h < 0 || h >= nhidden)
			continue;
		if (!c->usable || c->op != SQLITE_INDEX_CONSTRAINT_EQ)
			return SQLITE_CONSTRAINT;
		info->aConstraintUsage[i].argvIndex = h + 1;
		info->aConstraintUsage[i].omit = 1;
		mask |= 1 << h;
	}
	if (!(mask & 1))
	{
		sqlite3_free(vt->zErrMsg);
		vt->zErrMsg = sqlite3_mprintf(t->kind == TV_SPLIT ?
									  "atlas_split: the sql argument is required" :
									  "atlas_migrate_status: the env argument is required");
		return SQLITE_ERROR;
	}
	/* only a second argument after a first one */
	if ((mask & 2) && !(mask & 1))
		return SQLITE_CONSTRAINT;
	info->idxNum = mask;
	info->estimatedCost = 10;
	info->estimatedRows = 10;
	return SQLITE_OK;
}

static void
cursor_clear(tv_cursor *c)
{
	int			i;

	for (i = 0; i < c->nrows * c->ncols; i++)
		mig_free(c->cells[i]);
	mig_free(c->cells);
	mig_free(c->ints);
	mig_free(c->is_int);
	c->cells = NULL;
	c->ints = NULL;
	c->is_int = NULL;
	c->nrows = 0;
	c->row = 0;
}

static int
tv_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	tv_cursor  *c = sqlite3_malloc(sizeof(*c));

	if (c == NULL)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	c->ncols = ((tv_table *) vt)->kind == TV_SPLIT ? SPLIT_NCOLS : STATUS_NCOLS;
	*out = &c->base;
	return SQLITE_OK;
}

static int
tv_close(sqlite3_vtab_cursor *cur)
{
	tv_cursor  *c = (tv_cursor *) cur;

	cursor_clear(c);
	sqlite3_free(c);
	return SQLITE_OK;
}

/* Make room for nrows rows. */
static int
cursor_alloc(tv_cursor *c, int nrows)
{
	size_t		n = (size_t) (nrows ? nrows : 1) * (size_t) c->ncols;

	c->cells = mig_calloc(n, sizeof(char *));
	c->ints = mig_calloc(n, sizeof(sqlite3_int64));
	c->is_int = mig_calloc(n, 1);
	if (c->cells == NULL || c->ints == NULL || c->is_int == NULL)
		return SQLITE_NOMEM;
	c->nrows = nrows;
	return SQLITE_OK;
}

static int
set_text(tv_cursor *c, int row, int col, const char *s, size_t n)
{
	char	  **cell = &c->cells[row * c->ncols + col];

	if (s == NULL)
		return SQLITE_OK;
	*cell = mig_strndup(s, n);
	return *cell ? SQLITE_OK : SQLITE_NOMEM;
}

static void
set_int(tv_cursor *c, int row, int col, sqlite3_int64 v)
{
	c->ints[row * c->ncols + col] = v;
	c->is_int[row * c->ncols + col] = 1;
}

static int
vt_error(sqlite3_vtab_cursor *cur, const mig_err *err)
{
	sqlite3_vtab *vt = cur->pVtab;

	sqlite3_free(vt->zErrMsg);
	vt->zErrMsg = sqlite3_mprintf("%s%s%s%s%s", err->msg, err->detail[0] ? "\n" : "", err->detail,
								  err->hint[0] ? "\nHINT: " : "", err->hint);
	return err->code == MIG_ENOMEM ? SQLITE_NOMEM : SQLITE_ERROR;
}

static int
filter_split(tv_cursor *c, int argc, sqlite3_value **argv)
{
	const char *sql = (const char *) sqlite3_value_text(argv[0]);
	size_t		len = (size_t) sqlite3_value_bytes(argv[0]);
	const char *options = argc > 1 ? (const char *) sqlite3_value_text(argv[1]) : NULL;
	unsigned	flags = MIG_LEX_SQLITE;
	mig_stmts	stmts = {0};
	mig_err		err;
	size_t		i;
	int			rc;

	mig_err_clear(&err);
	if (sql == NULL)
		return cursor_alloc(c, 0);
	if (options && mig_lex_parse_flags(options, &flags, &err) != MIG_OK)
		return vt_error(&c->base, &err);
	if (mig_lex_split(sql, len, flags, &stmts, &err) != MIG_OK)
		return vt_error(&c->base, &err);
	rc = cursor_alloc(c, (int) stmts.n);
	for (i = 0; rc == SQLITE_OK && i < stmts.n; i++)
	{
		set_int(c, (int) i, 0, (sqlite3_int64) i + 1);
		rc = set_text(c, (int) i, 1, stmts.v[i].text, stmts.v[i].len);
	}
	mig_stmts_free(&stmts);
	return rc;
}

static int
filter_status(tv_table *t, tv_cursor *c, int argc, sqlite3_value **argv)
{
	const char *env = (const char *) sqlite3_value_text(argv[0]);
	mig_opts	opts;
	mig_run_cfg cfg;
	mig_dir		dir;
	mig_revs	revs = {0};
	mig_status_row *rows = NULL;
	mig_err		err;
	sqlite_db	sdb;
	int			rc = SQLITE_OK;
	size_t		i;

	mig_opts_init(&opts);
	memset(&cfg, 0, sizeof(cfg));
	mig_dir_init(&dir);
	mig_err_clear(&err);
	sqlite_db_init(&sdb, t->db, HOST_OWN_TX);
	if (env == NULL)
	{
		mig_err_set(&err, MIG_EINVAL, "atlas_migrate_status: env must not be NULL");
		goto fail;
	}
	if (load_cfg(t->db, env, &opts, &cfg, &err) != MIG_OK ||
		mig_source_load(&cfg, &sdb.base, &dir, &err) != MIG_OK ||
		sdb.base.read_revisions(&sdb.base, cfg.revisions_schema, &revs, &err) != MIG_OK ||
		mig_status(&dir, &revs, &cfg, sdb.base.lex_flags, &rows, &err) != MIG_OK)
		goto fail;
	rc = cursor_alloc(c, (int) dir.nfiles);
	for (i = 0; rc == SQLITE_OK && i < dir.nfiles; i++)
	{
		const mig_status_row *r = &rows[i];
		const mig_file *f = r->file;

		set_text(c, (int) i, 0, f->version, strlen(f->version));
		set_text(c, (int) i, 1, f->desc, strlen(f->desc));
		set_text(c, (int) i, 2, f->name, strlen(f->name));
		rc = set_text(c, (int) i, 3, r->status, strlen(r->status));
		set_int(c, (int) i, 4, r->applied);
		if (r->total >= 0)
			set_int(c, (int) i, 5, r->total);
		if (rc == SQLITE_OK && r->rev && r->rev->error && r->rev->error[0])
			rc = set_text(c, (int) i, 7, r->rev->error, strlen(r->rev->error));
	}
	/* executed_at as stored (§f.2 text; the core keeps no text form) */
	if (rc == SQLITE_OK && sqlite_table_exists(t->db, SQLITE_REVISIONS_TABLE))
	{
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(t->db, "SELECT executed_at FROM main." SQLITE_REVISIONS_TABLE
							   " WHERE version = ?1", -1, &st, NULL) == SQLITE_OK)
		{
			for (i = 0; rc == SQLITE_OK && i < dir.nfiles; i++)
			{
				if (rows[i].rev == NULL)
					continue;
				sqlite3_bind_text(st, 1, dir.files[i].version, -1, SQLITE_STATIC);
				if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
					rc = set_text(c, (int) i, 6, (const char *) sqlite3_column_text(st, 0),
								  (size_t) sqlite3_column_bytes(st, 0));
				sqlite3_reset(st);
			}
			sqlite3_finalize(st);
		}
	}
	goto done;
fail:
	rc = vt_error(&c->base, &err);
done:
	sqlite_db_close(&sdb);
	mig_free(rows);
	mig_revs_free(&revs);
	mig_dir_free(&dir);
	mig_run_cfg_free(&cfg);
	mig_opts_free(&opts);
	return rc;
}

static int
tv_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr,
		  int argc, sqlite3_value **argv)
{
	tv_cursor  *c = (tv_cursor *) cur;
	tv_table   *t = (tv_table *) cur->pVtab;

	cursor_clear(c);
	if (t->kind == TV_SPLIT)
		return filter_split(c, argc, argv);
	return filter_status(t, c, argc, argv);
}

static int
tv_next(sqlite3_vtab_cursor *cur)
{
	((tv_cursor *) cur)->row++;
	return SQLITE_OK;
}

static int
tv_eof(sqlite3_vtab_cursor *cur)
{
	tv_cursor  *c = (tv_cursor *) cur;

	return c->row >= c->nrows;
}

static int
tv_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	tv_cursor  *c = (tv_cursor *) cur;
	int			i = c->row * c->ncols + col;

	if (col >= c->ncols)
		return SQLITE_OK;		/* hidden argument columns: NULL */
	if (c->is_int[i])
		sqlite3_result_int64(ctx, c->ints[i]);
	else if (c->cells[i])
		sqlite3_result_text(ctx, c->cells[i], -1, SQLITE_TRANSIENT);
	return SQLITE_OK;
}

static int
tv_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = ((tv_cursor *) cur)->row + 1;
	return SQLITE_OK;
}

static sqlite3_module tv_module = {
	0,							/* iVersion */
	NULL,						/* xCreate: eponymous only */
	tv_connect,
	tv_best_index,
	tv_disconnect,
	NULL,						/* xDestroy */
	tv_open,
	tv_close,
	tv_filter,
	tv_next,
	tv_eof,
	tv_column,
	tv_rowid,
};

/* ---------------------------------------------------------------- registration */

int
sqlite_register_functions(sqlite3 *db)
{
	static const struct
	{
		const char *name;
		int			nargs;
		int			flags;
		void		(*fn) (sqlite3_context *, int, sqlite3_value **);
	}			fns[] = {
		{"atlas_config_set", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, fn_config_set},
		{"atlas_config_get", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, fn_config_get},
		{"atlas_config_envs", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, fn_config_envs},
		{"atlas_migrate_apply", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, fn_apply},
		{"atlas_migrate_apply", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, fn_apply},
		{"atlas_migrate_check", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, fn_check},
		{"atlas_migrate_check", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, fn_check},
	};
	size_t		i;
	int			rc;

	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
	{
		rc = sqlite3_create_function_v2(db, fns[i].name, fns[i].nargs, fns[i].flags,
										NULL, fns[i].fn, NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return rc;
	}
	if ((rc = sqlite3_create_module(db, "atlas_split", &tv_module, (void *) (intptr_t) TV_SPLIT)) != SQLITE_OK)
		return rc;
	return sqlite3_create_module(db, "atlas_migrate_status", &tv_module, (void *) (intptr_t) TV_STATUS);
}
