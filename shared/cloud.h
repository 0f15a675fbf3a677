/*
 * cloud.h - Atlas Cloud: the directory archive (§c) and the Cloud API
 * client (§j): fetch an atlas:// directory (dirState), report a deployment
 * (reportMigration).
 *
 * Knows nothing of PostgreSQL or SQLite.  Only source_cloud.c includes
 * curl.h; cJSON and CURL objects never leave the function that made them.
 *
 * The token: it goes only into the Authorization header of a request.  It
 * is never part of an error text (server replies that echo it are scrubbed),
 * never part of a report body, never logged.  A report body can therefore be
 * stored by the host as is and re-sent later with mig_cloud_send.
 *
 * Internal to the core: run.c, source.c and archive.c include it (and the
 * core tests); a host reaches it only through mig_run() (run.h).  How
 * run.c uses it, for both hosts:
 *
 *	fetch:	mig_dir_init(&dir);
 *			rc = mig_cloud_fetch_dir(cfg, NULL, db, &dir, &err);
 *			-> dir is finished and verified against its atlas.sum
 *	report:	mig_cloud_report_body(cfg, &res, db, &body, &err);
 *			rc = mig_cloud_send(cfg, NULL, db, body.data, body.len, &url, &err);
 *			-> on failure: WARNING with err.msg, keep body for the next call
 *			-> on success: url is the deployment URL for the run row
 */
#ifndef MIG_CLOUD_H
#define MIG_CLOUD_H

#include "engine.h"

/* ---------------------------------------------------------------- archive (§c) */

/* Largest accepted archive entry by default (one migration file). */
#define MIG_ARCHIVE_MAX_ENTRY ((size_t) 16 << 20)
/* Largest sum of entry sizes in one archive. */
#define MIG_ARCHIVE_MAX_TOTAL ((size_t) 64 << 20)

/*
 * Read an uncompressed tar stream (§c.3) into out, which the caller has
 * initialised (mig_dir_init) and which is empty; then mig_dir_finish it.
 *
 * Accepts USTAR, PAX (`x` headers: path, size), GNU (`L` long names,
 * base-256 sizes) and V7 headers; `g` headers, directories, links and other
 * types are skipped; a repeated name replaces the earlier entry.  tar NULL
 * or len 0 is an empty directory.  Rejected as a whole (MIG_EINVAL, msg
 * "bad archive: ..."): a bad header checksum, a bad number, a cut-short
 * stream, an entry larger than max_entry (0 = MIG_ARCHIVE_MAX_ENTRY) or a
 * total above MIG_ARCHIVE_MAX_TOTAL, and any entry whose name is not a bare
 * file name: empty, containing '/', "..", NUL, or being "." (DESIGN §6.13).
 * On error out holds what was read so far; the caller frees it.
 *
 * The sum is not verified here: see mig_sum_verify.
 */
int			mig_archive_read(const unsigned char *tar, size_t len, size_t max_entry,
							 mig_dir *out, mig_err *err);

/*
 * Write dir as Atlas's archiver does (§c.2): atlas.sum first (if any), then
 * every migration file in directory order; USTAR headers (mode 0600, epoch
 * mtime), PAX `path` records for names over 100 bytes or non-ASCII, and two
 * zero blocks at the end.  Appends to out; MIG_ENOMEM on failure.
 */
int			mig_archive_write(const mig_dir *dir, mig_buf *out);

/* ---------------------------------------------------------------- client (§j) */

#define MIG_CLOUD_DEFAULT_URL "https://api.atlasgo.cloud/query"
#define MIG_CLOUD_CONNECT_TIMEOUT_MS 10000
#define MIG_CLOUD_TIMEOUT_MS 60000
#define MIG_CLOUD_MAX_RESPONSE ((size_t) 64 << 20)
#define MIG_CLOUD_ATTEMPTS 5

/*
 * Transport knobs.  Functions take a NULL opts for the defaults, which is
 * what hosts use; tests shrink them.
 */
typedef struct mig_cloud_opts {
	int64_t		connect_timeout_ms; /* per attempt, bounded by the deadline */
	int64_t		timeout_ms;		/* the whole call, retries and waits included;
								 * cfg->cloud_timeout_ms when set there */
	size_t		max_response;	/* response body cap in bytes */
	size_t		max_entry;		/* archive entry cap (mig_archive_read) */
	int			attempts;		/* total attempts, >= 1 (§j.1: 5) */
	int64_t		backoff_min_ms; /* first wait; doubled each retry (§j.1: 1 s) */
	int64_t		backoff_max_ms; /* cap of one wait (§j.1: 30 s) */
} mig_cloud_opts;

/* The defaults above; timeout_ms from cfg->cloud_timeout_ms if > 0 (cfg may be NULL). */
void		mig_cloud_opts_init(mig_cloud_opts *o, const mig_run_cfg *cfg);

/*
 * The wait before retry number `retry` (1-based) in ms (§j.1): the
 * exponential backoff min*2^(retry-1) capped at max, or retry_after_s when
 * the server sent Retry-After (429/503; >= 0, -1 = none), capped at max.
 * On a loopback endpoint (localhost, 127.0.0.1, ::1) waits are divided by
 * 1000, "near zero" as the spec says; the timeout is kept.
 */
int64_t		mig_cloud_backoff_ms(const mig_cloud_opts *o, int retry, long retry_after_s,
								 bool loopback);

/*
 * The User-Agent (DESIGN §6.11):
 * "atlas_migrate/<MIG_VERSION> (<db->name> <db->version>; <os>/<arch>)".
 * db may be NULL.  Always NUL-terminated, cut to outsz.
 */
void		mig_cloud_user_agent(const mig_db *db, char *out, size_t outsz);

/*
 * Parse one GraphQL reply (§j.2) and pick the string at data.<field>
 * ("dirState.content", "reportMigration.url").
 *
 * http_status 401 -> MIG_ECLOUD "unauthorized (401): check the cloud token";
 * another non-200 -> the GraphQL error list if the body (first 1 MiB) has
 * one, else "unexpected error code <status>: <trimmed body>"; 200 with bad
 * JSON -> "decoding response: ..."; a non-empty "errors" -> the rendered
 * list ("variable.input.driver error").  An empty 200 body, a null data or
 * a missing/null field gives *out_value NULL (not an error); a field of
 * another type is a "decoding response" error.  *out_value is mig_alloc'd.
 * The message never contains more than the server sent.
 */
int			mig_cloud_parse_response(const char *body, size_t len, long http_status,
									 const char *field, char **out_value, mig_err *err);

/*
 * mig_cloud_parse_response for a reply that must answer the query (dirState):
 * an empty 200 body, a null reply or data, or a missing object or field on
 * the path is MIG_ECLOUD "decoding response: the reply has no data.dirState"
 * (or "...: an empty reply, expected data.dirState.content").  Only the field
 * itself may be null (*out_value NULL).
 */
int			mig_cloud_parse_required(const char *body, size_t len, long http_status,
									 const char *field, char **out_value, mig_err *err);

/*
 * Fetch cfg->dir_url, "atlas://<name>[?tag=<tag>]", with dirState (§j.3)
 * from cfg->cloud_url (default MIG_CLOUD_DEFAULT_URL) with cfg->cloud_token,
 * decode the archive (§c) into out (initialised by the caller, empty),
 * finish it and verify it against its atlas.sum (§b.6).
 *
 * Errors: MIG_EINVAL bad URL; MIG_ENOTSUP `?version=` (DESIGN §6.9);
 * MIG_ECLOUD transport, HTTP, GraphQL, base64 and archive failures (the
 * message names the endpoint and the directory); MIG_ECHECKSUM a directory
 * that does not match its atlas.sum (mig_sum_verify's error); MIG_EINTR when
 * db->interrupted(db) said stop (checked during transfers and waits).
 * On error out may hold a partial directory; the caller frees it.
 */
int			mig_cloud_fetch_dir(const mig_run_cfg *cfg, const mig_cloud_opts *opts,
								mig_db *db, mig_dir *out, mig_err *err);

/*
 * Build the reportMigration request body (§j.4): the whole GraphQL request,
 * {"query": ..., "variables": {"input": {...}}}, every field of
 * ReportMigrationInput: projectName, envName, dirName (host+path of the
 * atlas:// URL, ".atlas" otherwise), atlasVersion (MIG_OPERATOR_VERSION),
 * target {id = res->target_id, schema = cfg->db_schema, or "main" for an
 * sqlite db, else "", url = cfg->db_url_redacted or ""}, startTime,
 * endTime, fromVersion, toVersion, currentVersion, error (omitted if
 * none), files (per started file: name, content, times, skipped, applied =
 * statements logged including a failing one, checks [], error {stmt,
 * text}), log, dryRun (omitted if false).  A run that failed before a plan
 * existed (FAILED, no target, nothing started) is sent as Atlas does:
 * files null, zero endTime, log = the error text (§k.16, DESIGN §6.16).
 *
 * The body holds no token (a token text that found its way into a log or
 * error is replaced by "xxxxx"), so the host may store it and re-send it
 * with mig_cloud_send.  db may be NULL.  Appends to out.
 */
int			mig_cloud_report_body(const mig_run_cfg *cfg, const mig_result *res,
								  const mig_db *db, mig_buf *out, mig_err *err);

/*
 * POST a request body (from mig_cloud_report_body, possibly stored and
 * reloaded) to cfg->cloud_url with cfg->cloud_token, with §j.1 retries.
 * *deploy_url (mig_alloc'd, may be NULL if the server sent none) receives
 * data.reportMigration.url.  Errors as for mig_cloud_fetch_dir; a host
 * turns them into a WARNING and keeps the body for a later retry.
 */
int			mig_cloud_send(const mig_run_cfg *cfg, const mig_cloud_opts *opts, mig_db *db,
						   const char *body, size_t len, char **deploy_url, mig_err *err);

#endif							/* MIG_CLOUD_H */
