/*
 * sqlite_funcs.c - the SQL functions of the SQLite host:
 *
 *   atlas_config_set(hcl)                 store atlas.hcl (checked first)
 *   atlas_migrate_apply(env [, options])  apply; returns the JSON report
 *   atlas_migrate_status(env)             table-valued: one row per file
 *   atlas_split(sql [, options])          table-valued: the statements
 *
 * Only glue: arguments in, errors and values out; the core does the work.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cloud.h"
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

	if (!sqlite_table_exists(db, SQLITE_CONFIG_TABLE))
	{
		mig_err_set(err, MIG_ECONFIG, "no atlas.hcl configuration is stored in this database");
		mig_err_hint(err, "Store one first: SELECT atlas_config_set(readfile('atlas.hcl'));");
		return NULL;
	}
	if (sqlite3_prepare_v2(db, "SELECT hcl FROM main." SQLITE_CONFIG_TABLE " WHERE id = 1", -1, &st, NULL) != SQLITE_OK)
	{
		mig_err_set(err, MIG_EDB, "%s", sqlite3_errmsg(db));
		return NULL;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
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
	if (mig_hcl_parse(hcl, (size_t) len, &cfg, &err) != MIG_OK)
	{
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

/* ---------------------------------------------------------------- atlas_migrate_apply */

/* Statements of this connection that are running (the caller's included). */
static int
busy_statements(sqlite3 *db)
{
	sqlite3_stmt *p = NULL;
	int			n = 0;

	while ((p = sqlite3_next_stmt(db, p)) != NULL)
		if (sqlite3_stmt_busy(p))
			n++;
	return n;
}

static int64_t
insert_run(sqlite3 *db, const mig_run_cfg *cfg, mig_err *err)
{
	sqlite3_stmt *st;
	int64_t		id = 0;

	if (sqlite3_prepare_v2(db, "INSERT INTO main." SQLITE_RUNS_TABLE
						   " (env, dir, started_at, status, dry_run, pid) "
						   "VALUES (?1, ?2, strftime('%Y-%m-%d %H:%M:%f', 'now'), 'running', ?3, ?4)",
						   -1, &st, NULL) != SQLITE_OK)
	{
		mig_err_set(err, MIG_EDB, "%s", sqlite3_errmsg(db));
		return 0;
	}
	sqlite3_bind_text(st, 1, cfg->env_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, cfg->dir_url_redacted, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, cfg->dry_run ? 1 : 0);
	sqlite3_bind_int64(st, 4, (sqlite3_int64) getpid());
	if (sqlite3_step(st) == SQLITE_DONE)
		id = sqlite3_last_insert_rowid(db);
	else
		mig_err_set(err, MIG_EDB, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return id;
}

static void
finish_run(sqlite3 *db, int64_t id, const mig_result *res, const char *error,
		   const char *report)
{
	sqlite3_stmt *st;

	if (id == 0)
		return;
	if (sqlite3_prepare_v2(db, "UPDATE main." SQLITE_RUNS_TABLE " SET finished_at = strftime('%Y-%m-%d %H:%M:%f', 'now'), "
						   "status = ?2, from_version = ?3, to_version = ?4, files_applied = ?5, error = ?6, "
						   "log = ?7, report = ?8 WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, mig_run_status_name(error ? MIG_RUN_FAILED : res->status), -1, SQLITE_STATIC);
	if (res->current)
		sqlite3_bind_text(st, 3, res->current, -1, SQLITE_STATIC);
	if (res->target)
		sqlite3_bind_text(st, 4, res->target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64) res->files_ok);
	if (error)
		sqlite3_bind_text(st, 6, error, -1, SQLITE_STATIC);
	if (res->log.data)
		sqlite3_bind_text(st, 7, res->log.data, (int) res->log.len, SQLITE_STATIC);
	if (report)
		sqlite3_bind_text(st, 8, report, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

/* Reports kept for a retry at most; older ones are dropped with a note. */
#define MAX_PENDING_REPORTS 100

/* Set a run's cloud columns: the deployment URL, or the pending body and error. */
static void
set_cloud_columns(sqlite3 *db, int64_t id, const char *url, const char *body, const char *error)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, "UPDATE main." SQLITE_RUNS_TABLE " SET deployment_url = coalesce(?2, deployment_url), "
						   "cloud_report = ?3, cloud_error = ?4 WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, id);
	if (url)
		sqlite3_bind_text(st, 2, url, -1, SQLITE_STATIC);
	if (body)
		sqlite3_bind_text(st, 3, body, -1, SQLITE_STATIC);
	if (error)
		sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

/* Append a JSON string to a JSON array under construction ("[" ... ). */
static void
warn(mig_buf *warnings, const char *prefix, const char *msg)
{
	mig_buf		t;

	mig_buf_init(&t);
	mig_buf_puts(&t, prefix);
	mig_buf_puts(&t, msg);
	if (warnings->len > 1)
		mig_buf_putc(warnings, ',');
	mig_buf_json_str(warnings, t.data ? t.data : prefix, t.len);
	mig_buf_free(&t);
}

/*
 * §j.4: report this run to Atlas Cloud, after re-sending the reports that
 * failed before (oldest first).  A failure is a warning and the body is kept
 * in the run row for the next call; it never changes the apply result.
 * Inside the caller's transaction nothing is sent: the body is stored, and
 * is sent by a later call only if the caller commits.
 */
static void
cloud_step(sqlite3 *db, mig_db *mdb, const mig_run_cfg *cfg, const mig_result *res,
		   int64_t run_id, bool send_now, mig_buf *warnings, char **deploy_url)
{
	mig_buf		body;
	mig_err		err;
	sqlite3_stmt *st;
	bool		cloud_down = false;

	if (!cfg->cloud || !cfg->cloud_dir || run_id == 0)
		return;
	mig_err_clear(&err);
	if (send_now &&
		sqlite3_prepare_v2(db, "SELECT id, cloud_report FROM main." SQLITE_RUNS_TABLE
						   " WHERE cloud_report IS NOT NULL AND id <> ?1 ORDER BY id", -1, &st, NULL) == SQLITE_OK)
	{
		int64_t    *ids = NULL;
		char	  **bodies = NULL;
		size_t		n = 0,
					cap = 0,
					i;

		/* read first: no statement stays open while we write */
		sqlite3_bind_int64(st, 1, run_id);
		while (sqlite3_step(st) == SQLITE_ROW)
		{
			if (n == cap)
			{
				size_t		nc = cap ? cap * 2 : 8;
				int64_t    *ni = mig_realloc(ids, nc * sizeof(*ids));
				char	  **nb;

				if (ni == NULL)
					break;
				ids = ni;
				nb = mig_realloc(bodies, nc * sizeof(*bodies));
				if (nb == NULL)
					break;
				bodies = nb;
				cap = nc;
			}
			ids[n] = sqlite3_column_int64(st, 0);
			bodies[n] = mig_strdup((const char *) sqlite3_column_text(st, 1));
			if (bodies[n] == NULL)
				break;
			n++;
		}
		sqlite3_finalize(st);
		for (i = 0; i < n; i++)
		{
			char	   *url = NULL;

			if (!cloud_down && i + MAX_PENDING_REPORTS >= n)
			{
				if (mig_cloud_send(cfg, NULL, mdb, bodies[i], strlen(bodies[i]), &url, &err) == MIG_OK)
					set_cloud_columns(db, ids[i], url, NULL, NULL);
				else
				{
					cloud_down = true;
					set_cloud_columns(db, ids[i], NULL, bodies[i], err.msg);
					warn(warnings, "atlas cloud: an earlier deployment report is still not sent: ", err.msg);
				}
			}
			else if (i + MAX_PENDING_REPORTS < n)
				set_cloud_columns(db, ids[i], NULL, NULL, "not sent: dropped, too many reports were pending");
			mig_free(url);
			mig_free(bodies[i]);
		}
		mig_free(ids);
		mig_free(bodies);
	}

	mig_buf_init(&body);
	if (mig_cloud_report_body(cfg, res, mdb, &body, &err) != MIG_OK)
	{
		warn(warnings, "atlas cloud: building the deployment report failed: ", err.msg);
		mig_buf_free(&body);
		return;
	}
	if (!send_now)
		set_cloud_columns(db, run_id, NULL, body.data, "not sent yet: the run is inside the caller's transaction");
	else if (cloud_down)
		set_cloud_columns(db, run_id, NULL, body.data, err.msg);
	else if (mig_cloud_send(cfg, NULL, mdb, body.data, body.len, deploy_url, &err) == MIG_OK)
		set_cloud_columns(db, run_id, *deploy_url, NULL, NULL);
	else
	{
		set_cloud_columns(db, run_id, NULL, body.data, err.msg);
		warn(warnings, "atlas cloud: reporting the deployment failed (kept for the next call): ", err.msg);
	}
	mig_buf_free(&body);
}

static void
fn_apply(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3    *db = sqlite3_context_db_handle(ctx);
	const char *env = (const char *) sqlite3_value_text(argv[0]);
	mig_opts	opts;
	mig_run_cfg cfg;
	mig_result	res;
	mig_dir		dir;
	mig_err		err,
				rerr;
	sqlite_db	sdb;
	mig_buf		report,
				extra,
				warnings;
	char	   *hcl = NULL,
			   *deploy_url = NULL;
	int			hcl_len = 0,
				rc,
				old_busy;
	int64_t		run_id = 0;
	bool		autocommit = sqlite3_get_autocommit(db) != 0;

	mig_opts_init(&opts);
	memset(&cfg, 0, sizeof(cfg));
	mig_result_init(&res);
	mig_dir_init(&dir);
	mig_err_clear(&err);
	mig_buf_init(&report);
	mig_buf_init(&extra);
	mig_buf_init(&warnings);
	old_busy = -1;

	/* DESIGN §2: alone in autocommit, or inside the caller's transaction */
	if ((autocommit && sqlite3_txn_state(db, NULL) != SQLITE_TXN_NONE) || busy_statements(db) > 1)
	{
		mig_err_set(&err, MIG_ESTATE,
					"atlas_migrate_apply() cannot run while another statement of this connection is active");
		mig_err_hint(&err, "Call it on its own, as SELECT atlas_migrate_apply('env'); not from a query that reads tables.");
		sqlite_result_mig_err(ctx, &err);
		return;
	}
	if (env == NULL)
	{
		mig_err_set(&err, MIG_EINVAL, "atlas_migrate_apply: env must not be NULL");
		goto fail;
	}
	if (argc > 1 && sqlite3_value_type(argv[1]) != SQLITE_NULL)
	{
		const char *o = (const char *) sqlite3_value_text(argv[1]);

		if (mig_opts_parse_json(o, (size_t) sqlite3_value_bytes(argv[1]), &opts, &err) != MIG_OK)
			goto fail;
	}
	if ((hcl = load_config(db, &hcl_len, &err)) == NULL)
		goto fail;
	if (mig_resolve(hcl, (size_t) hcl_len, env, &opts, &cfg, &err) != MIG_OK)
		goto fail;

	/*
	 * Another process may be writing: wait for its transactions (up to the
	 * lock timeout) instead of failing with "database is locked".
	 */
	{
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(db, "PRAGMA busy_timeout", -1, &st, NULL) == SQLITE_OK &&
			sqlite3_step(st) == SQLITE_ROW)
			old_busy = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
		if (old_busy >= 0 && old_busy < cfg.lock_timeout_ms + 5000)
			sqlite3_busy_timeout(db, (int) (cfg.lock_timeout_ms + 5000));
	}

	if (sqlite_db_ensure_tables(db, &err) != MIG_OK)
		goto fail;

	/*
	 * The cross-process lock comes first, so a second process waits for it
	 * (up to lock_timeout), not for the first one's write transactions.
	 * mig_apply takes it again (a no-op) and releases it.
	 */
	sqlite_db_init(&sdb, db, autocommit ? HOST_OWN_TX : HOST_SAVEPOINT);
	if ((rc = sdb.base.lock(&sdb.base, cfg.lock_timeout_ms, &err)) != MIG_OK)
	{
		mig_err_prefix(&err, "acquiring database lock: ");
		res.error = mig_strdup(err.msg);
		res.end_ns = res.start_ns = mig_now_ns();
		run_id = insert_run(db, &cfg, &rerr);
	}
	else if ((run_id = insert_run(db, &cfg, &err)) == 0)
		rc = err.code;
	else
	{
		sdb.run_id = run_id;
		rc = mig_source_load(&cfg, &sdb.base, &dir, &err);
		if (rc == MIG_OK)
			rc = mig_apply(&sdb.base, &dir, &cfg, &res, &err);
	}
	sqlite_db_close(&sdb);
	if (rc != MIG_OK && run_id == 0)
		goto fail;
	if (rc != MIG_OK)
	{
		res.status = MIG_RUN_FAILED;
		if (res.error == NULL)
			res.error = mig_strdup(err.msg);
	}
	if (res.end_ns == 0)
		res.end_ns = mig_now_ns();

	mig_buf_putc(&warnings, '[');
	cloud_step(db, &sdb.base, &cfg, &res, run_id, autocommit, &warnings, &deploy_url);
	mig_buf_putc(&warnings, ']');

	mig_buf_printf(&extra, "\"RunID\":%lld,\"Status\":\"%s\",", (long long) run_id,
				   mig_run_status_name(rc != MIG_OK ? MIG_RUN_FAILED : res.status));
	if (deploy_url)
	{
		mig_buf_puts(&extra, "\"DeploymentURL\":");
		mig_buf_json_str(&extra, deploy_url, strlen(deploy_url));
		mig_buf_putc(&extra, ',');
	}
	if (warnings.len > 2)
		mig_buf_printf(&extra, "\"Warnings\":%s,", warnings.data);
	if (extra.oom || extra.data == NULL)
	{
		mig_err_set(&err, MIG_ENOMEM, "out of memory");
		goto fail;
	}
	/* the run row keeps the log in its own column: the stored report has no "Log" */
	extra.data[--extra.len] = '\0';
	mig_report_json_ex(&res, &cfg, "sqlite3", extra.data, &report);
	finish_run(db, run_id, &res, rc != MIG_OK ? err.msg : NULL, report.oom ? NULL : report.data);
	if (rc == MIG_OK && !report.oom)
	{
		/* the returned report: the same with the log */
		report.data[--report.len] = '\0';
		mig_buf_puts(&report, ",\"Log\":");
		mig_buf_json_str(&report, res.log.data ? res.log.data : "", res.log.len);
		mig_buf_putc(&report, '}');
	}
	if (rc != MIG_OK)
		goto fail;
	if (report.oom)
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_text(ctx, report.data, (int) report.len, SQLITE_TRANSIENT);
	goto done;

fail:
	sqlite_result_mig_err(ctx, &err);
done:
	if (old_busy >= 0)
		sqlite3_busy_timeout(db, old_busy);
	sqlite3_free(hcl);
	mig_buf_free(&report);
	mig_buf_free(&extra);
	mig_buf_free(&warnings);
	mig_free(deploy_url);
	mig_dir_free(&dir);
	mig_result_free(&res);
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
	mig_err		err;
	sqlite_db	sdb;
	char	   *hcl = NULL;
	int			hcl_len = 0,
				rc = SQLITE_OK;
	size_t		i;
	const char *baseline = NULL;

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
	if ((hcl = load_config(t->db, &hcl_len, &err)) == NULL ||
		mig_resolve(hcl, (size_t) hcl_len, env, &opts, &cfg, &err) != MIG_OK ||
		mig_source_load(&cfg, &sdb.base, &dir, &err) != MIG_OK ||
		sdb.base.read_revisions(&sdb.base, cfg.revisions_schema, &revs, &err) != MIG_OK)
		goto fail;
	for (i = 0; i < revs.n; i++)
		if (revs.v[i].type & MIG_REV_BASELINE)
			baseline = revs.v[i].version;
	rc = cursor_alloc(c, (int) dir.nfiles);
	for (i = 0; rc == SQLITE_OK && i < dir.nfiles; i++)
	{
		const mig_file *f = &dir.files[i];
		long		ri = mig_revs_find(&revs, f->version);
		const char *status = "pending";

		set_text(c, (int) i, 0, f->version, strlen(f->version));
		set_text(c, (int) i, 1, f->desc, strlen(f->desc));
		rc = set_text(c, (int) i, 2, f->name, strlen(f->name));
		if (ri >= 0)
		{
			const mig_rev *r = &revs.v[ri];

			if (r->type & MIG_REV_BASELINE)
				status = "baseline";
			else if (r->error && r->error[0])
				status = "failed";
			else if (r->applied != r->total)
				status = "partial";
			else
				status = "applied";
			set_int(c, (int) i, 4, r->applied);
			set_int(c, (int) i, 5, r->total);
			if (r->error && r->error[0])
				set_text(c, (int) i, 7, r->error, strlen(r->error));
		}
		else if (baseline && strcmp(f->version, baseline) < 0)
			status = "baseline";
		if (rc == SQLITE_OK)
			rc = set_text(c, (int) i, 3, status, strlen(status));
	}
	/* executed_at: read separately (the core does not keep it) */
	if (rc == SQLITE_OK && sqlite_table_exists(t->db, SQLITE_REVISIONS_TABLE))
	{
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(t->db, "SELECT executed_at FROM main." SQLITE_REVISIONS_TABLE
							   " WHERE version = ?1", -1, &st, NULL) == SQLITE_OK)
		{
			for (i = 0; i < dir.nfiles; i++)
			{
				sqlite3_bind_text(st, 1, dir.files[i].version, -1, SQLITE_STATIC);
				if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
					set_text(c, (int) i, 6, (const char *) sqlite3_column_text(st, 0),
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
	sqlite3_free(hcl);
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
		{"atlas_migrate_apply", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, fn_apply},
		{"atlas_migrate_apply", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, fn_apply},
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
