/*
 * engine.h - what a host calls: one run's configuration (resolve.c), the
 * directory (source.c), the engine (apply.c) and its result, the log and
 * JSON report (report.c), the pre-flight check's rows (check.c).  The
 * adapter a host implements is in db.h; the whole call, with its history,
 * in run.h.  Knows nothing of PostgreSQL or SQLite.
 */
#ifndef MIG_ENGINE_H
#define MIG_ENGINE_H

#include "db.h"

/* ---------------------------------------------------------------- one resolved run */

/* Everything a run needs, after config + call options were merged. */
typedef struct mig_run_cfg {
	char	   *env_name;
	char	   *dir_url;			/* as configured (may hold credentials) */
	char	   *dir_url_redacted;	/* safe to show/store */
	bool		dir_default;		/* the env sets no dir: file://migrations */
	char	   *db_url_redacted;	/* env url with password replaced by xxxxx */
	char	   *db_schema;			/* search_path of the env url, or NULL */
	char	   *revisions_schema;	/* resolved (§f.1, DESIGN §6.18) or NULL */
	bool		has_amount;
	int64_t		amount;
	char	   *to_version;
	bool		dry_run;
	char	   *baseline;
	bool		allow_dirty;
	mig_txmode	tx_mode;			/* resolved: FILE, ALL or NONE */
	mig_exec_order exec_order;		/* resolved */
	int64_t		lock_timeout_ms;	/* resolved; default 10000 */
	/*
	 * Lock-safe DDL: each statement waits at most stmt_lock_timeout_ms for
	 * a table lock (0 = off, Atlas's behaviour); on a lock timeout the file
	 * (tx mode all: the run's transaction; none: the statement) runs again
	 * up to lock_retries more times.
	 */
	int64_t		stmt_lock_timeout_ms;
	int64_t		lock_retries;
	mig_severity check;			/* preflight: refuse to start at this severity (NONE: no) */
	mig_opt_source source[MIG_NOPTS];	/* where each option's value came from */
	/* Cloud (§j) */
	bool		cloud;				/* token present */
	bool		cloud_dir;			/* dir is atlas:// (fetch + report) */
	char	   *cloud_token;
	char	   *cloud_url;
	char	   *cloud_project;
	char	   *cloud_ca_file;
	int64_t		cloud_timeout_ms;	/* whole cloud call incl. retries; 0 = 60 s */
} mig_run_cfg;

void		mig_run_cfg_free(mig_run_cfg *c);

/*
 * Parse the stored atlas.hcl, select env_name, and merge the call options
 * over the env's migration block.  All input errors surface here, before
 * anything touches the database.
 */
int			mig_resolve(const char *hcl, size_t hcl_len, const char *env_name,
						const mig_opts *opts, mig_run_cfg *out, mig_err *err);

/*
 * mig_resolve with the host's server-wide defaults (NULL: none).  Each
 * option comes from the call, else the env's atlas.hcl attribute, else the
 * server default, else its built-in default (mig_opt_defs); out->source
 * says which.
 */
int			mig_resolve_ex(const char *hcl, size_t hcl_len, const char *env_name,
						   const mig_opts *opts, const mig_opts *server,
						   mig_run_cfg *out, mig_err *err);

/*
 * Option d's resolved value in cfg as text ("file", "10s", "off", "40"),
 * into out (outsz >= 64); NULL for the options that are the call's own
 * (amount, to_version, dry_run, allow_dirty, vars).
 */
const char *mig_run_cfg_option_text(const mig_run_cfg *cfg, mig_opt_id id, char *out, size_t outsz);

/*
 * Every labelled env of an atlas.hcl with its settings as a call without
 * arguments would resolve them (server: the host's defaults, may be NULL),
 * one fn call per setting: url and dir (redacted), revisions_schema, each
 * option that is not the call's own (mig_run_cfg_option_text), and cloud
 * ("on"/"off", never the token), with where each comes from.  An env that
 * cannot be resolved without the call (a variable without a default) gives
 * one "error" setting with the message.  Errors: the text does not parse.
 */
typedef void (*mig_setting_fn) (void *arg, const char *env, const char *setting,
								const char *value, const char *source);
int			mig_config_envs(const char *hcl, size_t len, const mig_opts *server, bool deny_getenv,
							mig_setting_fn fn, void *arg, mig_err *err);

/* A URL with its password replaced by "xxxxx" (NULL on OOM). */
char	   *mig_url_redact(const char *url);

/* Percent-decoded query parameter of url; *out NULL when absent. */
int			mig_url_query_param(const char *url, const char *key, char **out);

/*
 * Open and verify the run's migration directory (file:// relative to the
 * process's working directory, or atlas://).  Nothing is applied from a
 * directory that fails here.
 */
int			mig_source_load(const mig_run_cfg *cfg, mig_db *db, mig_dir *out, mig_err *err);

/* ---------------------------------------------------------------- result */

typedef enum mig_run_status {
	MIG_RUN_RUNNING = 0,
	MIG_RUN_SUCCEEDED,
	MIG_RUN_FAILED,
	MIG_RUN_NOTHING				/* nothing to do */
} mig_run_status;

/* Name used in atlas_migrate_runs.status. */
const char *mig_run_status_name(mig_run_status s);

/* One file that was started (§h.3 Applied). */
typedef struct mig_applied {
	const mig_file *file;		/* points into the run's directory */
	int64_t		start_ns;
	int64_t		end_ns;
	int64_t		skipped;		/* statements skipped on resume */
	mig_stmts	stmts;			/* statements sent, the failing one included */
	char	   *error_stmt;		/* NULL when ok */
	char	   *error_text;
} mig_applied;

/* What a run did: input for the log, the JSON report and the run row. */
typedef struct mig_result {
	mig_run_status status;
	int64_t		start_ns;
	int64_t		end_ns;
	char	   *current;		/* greatest revision before (NULL = none) */
	char	   *target;			/* last pending after cut (NULL = none) */
	char	   *current_after;	/* greatest revision after the run (§j.4) */
	char	   *reached;		/* the version the database reached: the
								 * greatest revision of a file that applied
								 * something (NULL = none) */
	const mig_file **pending;	/* pending files after the cut */
	size_t		npending;
	mig_applied *applied;
	size_t		napplied;
	size_t		files_ok;		/* files that completed */
	char	   *error;			/* run error text, NULL when ok */
	/*
	 * Lock-safe DDL (issue 11): attempts run again after a lock timeout,
	 * time spent in the statements that timed out waiting for a lock, and
	 * in the pauses between attempts.
	 */
	int64_t		lock_retries;
	int64_t		lock_wait_ns;
	int64_t		lock_pause_ns;
	char		target_id[37];	/* identifier row UUID (cloud), "" if none */
	mig_buf		log;			/* the text log (§h.1) */
	mig_checks	checks;			/* the pre-flight check's rows (checks.ran) */
} mig_result;

void		mig_result_init(mig_result *r);
void		mig_result_free(mig_result *r);

/*
 * Apply dir through db with cfg (§g.1 steps 5-14).  The directory must be
 * finished and verified.  Takes and releases the lock itself.  Returns
 * MIG_OK when every pending file applied
 * (or nothing was pending); otherwise the error, with res describing what
 * happened (res->status FAILED, res->error).  res is always filled as far
 * as the run got, so the host can record it.
 */
int			mig_apply(mig_db *db, const mig_dir *dir, const mig_run_cfg *cfg,
					  mig_result *res, mig_err *err);

/* What run.c adds to an engine run. */
typedef struct mig_apply_hooks {
	/* The caller holds the migration lock: neither take nor release it. */
	bool		lock_held;

	/*
	 * After each file's final revision row (not on dry run): inside the
	 * file's transaction when it has one, so what it writes commits with the
	 * file.  files_done counts this file; version is the version the
	 * database reaches with it.  An error fails the file.  May be NULL.
	 */
	int			(*file_done) (void *arg, const mig_result *res, size_t files_done,
							  const char *version, mig_err *err);
	void	   *arg;

	/*
	 * Stop after the pre-flight check (atlas_migrate_check): plan, split
	 * and check every pending file, run the check on all of them, execute
	 * nothing.  Needs a dry-run cfg.
	 */
	bool		check_only;
} mig_apply_hooks;

/* mig_apply with hooks (NULL: none). */
int			mig_apply_ex(mig_db *db, const mig_dir *dir, const mig_run_cfg *cfg,
						 const mig_apply_hooks *hooks, mig_result *res, mig_err *err);

/* ---------------------------------------------------------------- pre-flight check (check.c) */

/* Append a zeroed row; returns it, or NULL when out of memory. */
mig_check_row *mig_checks_push(mig_checks *c);
void		mig_checks_free(mig_checks *c);

/* Add a copy of a relation name to a row (MIG_ENOMEM). */
int			mig_check_row_add_rel(mig_check_row *r, const char *name, size_t len);

/* The severity's word: "info", "warning", "error"; NULL for none. */
const char *mig_severity_name(mig_severity s);

/* The findings at or above min (MIG_SEV_INFO: every finding). */
size_t		mig_checks_count(const mig_checks *c, mig_severity min);

/*
 * The rows as a JSON array of objects (host text, mig_buf_json_text): the
 * findings only (the report's "Findings" member), or every row when all.
 */
int			mig_checks_json(const mig_checks *c, bool all, mig_buf *out);

/*
 * One finding as one line of text: "<file> statement <n>: <severity>:
 * <lock> on <relations> (<rows> rows, <size>), rewrites: <advice>".
 */
int			mig_check_row_line(const mig_check_row *r, mig_buf *out);

/*
 * The SQLite host's check (mig_db.check): a keyword scan of each statement
 * for what drops data -- DROP TABLE, ALTER TABLE ... DROP COLUMN, DELETE and
 * UPDATE without WHERE -- with severity warning; locks and rewrites are not
 * analysed (rows say so).  Needs no database.
 */
int			mig_check_keywords(mig_db *db, const mig_check_file *files, size_t n,
							   mig_checks *out, mig_err *err);

/*
 * atlas_migrate_check: load and verify the run's directory into dir,
 * compute the pending files exactly as a dry run does (no lock is taken,
 * nothing is written), split and check them, and run db->check on them:
 * res->checks holds one row per pending statement.  dir must outlive res;
 * the caller frees both.
 */
int			mig_check_pending(mig_db *db, const mig_run_cfg *cfg, mig_dir *dir,
							  mig_result *res, mig_err *err);

/* ---------------------------------------------------------------- output */

/*
 * Statement text kept in the stored log and the JSON report (README,
 * "Stored log and report"), so a large file is not stored again in full:
 * each statement at most MIG_KEEP_STMT bytes, cut on a character boundary
 * and followed by the marker "… (N bytes)" (N: the statement's whole
 * length); and once a run's log, or report, holds MIG_KEEP_STMTS bytes of
 * statement text, the rest of each file's statements become one entry
 * "… K more statements (N bytes)".  The NOTICE stream (mig_db.log) and the
 * revision row's error_stmt keep the whole text, as Atlas shows it.
 */
#define MIG_KEEP_STMT 4096
#define MIG_KEEP_STMTS ((size_t) 256 * 1024)

/* The ellipsis of the markers: "…", or "..." when the host's texts are not UTF-8. */
const char *mig_keep_ellipsis(void);

/* Append statement s as kept: whole up to MIG_KEEP_STMT bytes, else cut + marker. */
int			mig_keep_stmt(mig_buf *b, const char *s, size_t n);

/* Append the entry for statements not kept: "… K more statements (N bytes)". */
int			mig_keep_omitted(mig_buf *b, size_t nstmts, size_t nbytes);

/* Go duration text (§h.1): "0s", "8.60933ms", "1m1.5s". */
void		mig_fmt_duration(int64_t ns, char *out, size_t outsz);

/* RFC 3339 with nanoseconds, UTC ("Z"), zero time for 0 (§h.3). */
void		mig_fmt_time(int64_t unix_ns, char *out, size_t outsz);

/* Atlas's JSON report (§h.3) for a finished run. */
int			mig_report_json(const mig_result *res, const mig_run_cfg *cfg,
							const char *driver, mig_buf *out);

/* Same, with extra members ("\"RunID\":5") appended inside the object. */
int			mig_report_json_ex(const mig_result *res, const mig_run_cfg *cfg,
							   const char *driver, const char *extra, mig_buf *out);

/* Wall clock in Unix nanoseconds. */
int64_t		mig_now_ns(void);

#endif							/* MIG_ENGINE_H */
