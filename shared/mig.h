/*
 * mig.h - what a host may call: the portable atlas_migrate core.
 *
 * One core, two hosts (PostgreSQL, SQLite).  The core knows nothing of
 * PostgreSQL or SQLite: it reads migration directories, verifies atlas.sum,
 * splits statements, evaluates atlas.hcl, plans and applies pending files
 * through a small database adapter (mig_db, see db.h), and formats Atlas's
 * log and JSON report.  Section marks (§) refer to the Atlas compatibility
 * spec, "DESIGN §" to the design; both live beside this repository, as
 * ../shared/spec/atlas-compat.md and ../shared/DESIGN.md (with the
 * experiments in ../shared/research/, and the conformance fixtures).
 *
 * Error contract: every fallible function returns MIG_OK (0) or a negative
 * MIG_E* code and fills a caller-owned mig_err.  Nothing here longjmps and
 * nothing here raises host errors.
 */
#ifndef MIG_H
#define MIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_VERSION "0.2.0"

/* ---------------------------------------------------------------- errors */

enum {
	MIG_OK = 0,
	MIG_ENOMEM = -1,		/* allocation failed */
	MIG_EINVAL = -2,		/* bad argument or option (amount, tx_mode, JSON) */
	MIG_ECONFIG = -3,		/* atlas.hcl: syntax, unknown env/attribute, type */
	MIG_EIO = -4,			/* reading a directory or file failed */
	MIG_ECHECKSUM = -5,		/* atlas.sum missing, malformed or mismatched */
	MIG_ESCAN = -6,			/* statement splitter error (L:C: ...) */
	MIG_EDB = -7,			/* the database rejected a statement */
	MIG_ELOCKED = -8,		/* lock held by another session/process */
	MIG_EHISTORY = -9,		/* history changed, out of order, missing migration */
	MIG_EINTR = -10,		/* host asked us to stop (cancel, timeout) */
	MIG_ECLOUD = -11,		/* Atlas Cloud request failed */
	MIG_ENOTSUP = -12,		/* feature not supported (txtar, for_each, ...) */
	MIG_ENOTFOUND = -13,	/* version / baseline / env not found */
	MIG_ESTATE = -14,		/* wrong calling context (nested statement, ...) */
	MIG_EPERM = -15			/* the host denied it (getenv() for this config) */
};

#define MIG_ERR_MSG 4096
#define MIG_ERR_DETAIL 2048
#define MIG_ERR_HINT 512

/*
 * An error, filled by the function that failed.  Fixed buffers: filling an
 * error never allocates.  Text longer than a buffer is cut with "...".
 */
typedef struct mig_err {
	int			code;					/* MIG_E* */
	char		msg[MIG_ERR_MSG];		/* the message, Atlas's wording where
										 * the spec gives one */
	char		detail[MIG_ERR_DETAIL]; /* optional longer explanation */
	char		hint[MIG_ERR_HINT];		/* optional advice */
	char		sqlstate[6];			/* for MIG_EDB: the database's code,
										 * "" if unknown */
	/* For a checksum mismatch with a diagnostic (§b.6); line 0 = none. */
	int			sum_line;
	char		sum_file[256];
	char		sum_reason[16];			/* "added", "removed", "edited" */
} mig_err;

/* Reset an error to "no error". */
void		mig_err_clear(mig_err *err);

/* Set code and printf-style message; returns code for "return mig_err_set(...)". */
int			mig_err_set(mig_err *err, int code, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* Prefix the current message: "<prefix><old message>". */
void		mig_err_prefix(mig_err *err, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/* Set detail / hint (printf-style). */
void		mig_err_detail(mig_err *err, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
void		mig_err_hint(mig_err *err, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/* A name for a code, e.g. "checksum" (for logs and tests). */
const char *mig_err_name(int code);

/*
 * Copy src[0..n) into dst[size] as valid UTF-8: each invalid byte becomes
 * U+FFFD (as Go's encoders do), a text that does not fit is cut at a
 * character boundary and ends in "...".  Every mig_err text goes through it,
 * so messages are valid UTF-8 whatever they quote (file names, option keys,
 * database messages quoting migration text).
 */
void		mig_err_copy(char *dst, size_t size, const char *src, size_t n);

/* ---------------------------------------------------------------- memory */

/*
 * All core allocations go through these.  They return NULL on failure and
 * never throw.  A host or a test may swap the allocator (the failing-
 * allocator tests do).  Library objects (cJSON, CURL) use their own.
 */
typedef struct mig_allocator {
	void	   *(*malloc_fn) (size_t size);
	void	   *(*realloc_fn) (void *ptr, size_t size);
	void		(*free_fn) (void *ptr);
} mig_allocator;

void		mig_set_allocator(const mig_allocator *a);	/* NULL = libc */
void	   *mig_alloc(size_t size);
void	   *mig_calloc(size_t n, size_t size);
void	   *mig_realloc(void *ptr, size_t size);
void		mig_free(void *ptr);
char	   *mig_strdup(const char *s);
char	   *mig_strndup(const char *s, size_t n);

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
size_t		mig_utf8_len(const char *s, size_t n);

/* The value of a hex digit, -1 if c is none. */
int			mig_hexval(int c);

/* A growable byte buffer, always NUL-terminated when data != NULL. */
typedef struct mig_buf {
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		oom;			/* an append failed; data is still valid */
} mig_buf;

void		mig_buf_init(mig_buf *b);
void		mig_buf_free(mig_buf *b);
void		mig_buf_reset(mig_buf *b);	/* len = 0, keeps memory */
int			mig_buf_reserve(mig_buf *b, size_t extra);
int			mig_buf_append(mig_buf *b, const char *s, size_t n);
int			mig_buf_puts(mig_buf *b, const char *s);
int			mig_buf_putc(mig_buf *b, char c);
int			mig_buf_printf(mig_buf *b, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal (with quotes). */
int			mig_buf_json_str(mig_buf *b, const char *s, size_t n);

/*
 * The encoding of the host's texts (statements, database messages, file
 * names) for mig_buf_json_text: NULL (the default) is UTF-8.  A host whose
 * texts are in another encoding (a PostgreSQL database in LATIN1 or
 * SQL_ASCII) installs the length of the valid character at s in it, 0 when
 * the bytes are not one.  Its encoding must be ASCII-safe (bytes below
 * 0x80 are ASCII, as in every PostgreSQL server encoding).
 */
typedef size_t (*mig_charlen_fn) (const unsigned char *s, size_t n);
void		mig_set_text_charlen(mig_charlen_fn fn);

/* Is the host's text encoding UTF-8 (the default)? */
bool		mig_text_is_utf8(void);

/* Length of the valid character at s in the host's encoding, 0 if none. */
size_t		mig_text_len(const char *s, size_t n);

/* UTF-8: are s[0..n) the start of a character that n bytes cut short? */
bool		mig_text_len_partial(const char *s, size_t n);

/*
 * A JSON string of host text: as mig_buf_json_str when the host's texts are
 * UTF-8; otherwise in the host's encoding, for the host's own JSON parser
 * (jsonb_in reads JSON text in the database encoding), characters copied
 * unescaped and invalid bytes written as '?'.  Reports and run rows use it;
 * what leaves the host (Cloud requests) uses mig_buf_json_str.
 */
int			mig_buf_json_text(mig_buf *b, const char *s, size_t n);
/* Append s in Go %q syntax (with quotes), §0 conventions. */
int			mig_buf_goquote(mig_buf *b, const char *s, size_t n);
/* Take ownership of the data (caller frees with mig_free); buffer reset. */
char	   *mig_buf_steal(mig_buf *b);

/* ---------------------------------------------------------------- hashing */

#define MIG_B64_SHA256 45		/* 44 chars + NUL */

/* Streaming SHA-256 (OpenSSL underneath). */
typedef struct mig_sha256 {
	void	   *ctx;
} mig_sha256;

int			mig_sha256_init(mig_sha256 *h);
void		mig_sha256_update(mig_sha256 *h, const void *data, size_t len);
/* Digest of a copy of the state; h stays usable (running hash, §b.2). */
int			mig_sha256_peek_b64(const mig_sha256 *h, char out[MIG_B64_SHA256]);
void		mig_sha256_free(mig_sha256 *h);

/* Standard base64 with padding. out must hold 4*((n+2)/3)+1 bytes. */
void		mig_base64_encode(const unsigned char *in, size_t n, char *out);
/* Decode; returns decoded length or -1 on bad input.  out holds 3*(n/4)+3. */
long		mig_base64_decode(const char *in, size_t n, unsigned char *out);

/* ---------------------------------------------------------------- splitter (§d) */

/* Scanner options, §d.1. */
enum {
	MIG_LEX_BEGIN = 1 << 0,			/* MatchBegin */
	MIG_LEX_BEGIN_ATOMIC = 1 << 1,	/* MatchBeginAtomic */
	MIG_LEX_BEGIN_TRYCATCH = 1 << 2,	/* MatchBeginTryCatch (T-SQL) */
	MIG_LEX_DOLLAR = 1 << 3,		/* MatchDollarQuote */
	MIG_LEX_BACKSLASH = 1 << 4,		/* BackslashEscapes */
	MIG_LEX_ESCAPED_EXT = 1 << 5,	/* EscapedStringExt (no effect, §d.3) */
	MIG_LEX_HASH_COMMENTS = 1 << 6, /* HashComments */
	MIG_LEX_GO = 1 << 7,			/* GoCommand (T-SQL) */
	MIG_LEX_BEGIN_END_TERM = 1 << 8,	/* BeginEndTerminator (T-SQL) */
	MIG_LEX_OMIT_DELIM = 1 << 9		/* OmitDelimiter */
};

#define MIG_LEX_POSTGRES (MIG_LEX_BEGIN | MIG_LEX_BEGIN_ATOMIC | MIG_LEX_DOLLAR | MIG_LEX_ESCAPED_EXT)
#define MIG_LEX_SQLITE (MIG_LEX_BEGIN)
#define MIG_LEX_GENERIC (MIG_LEX_BEGIN_ATOMIC | MIG_LEX_DOLLAR)
#define MIG_LEX_MYSQL (MIG_LEX_BEGIN | MIG_LEX_BACKSLASH | MIG_LEX_HASH_COMMENTS)

/*
 * Parse an options text: a preset ("postgres", "sqlite", "generic", "mysql")
 * or a comma-separated list of flag names as in §d.1 ("MatchBegin,
 * MatchDollarQuote"; spaces allowed, case-insensitive).  MIG_EINVAL names
 * the unknown word.
 */
int			mig_lex_parse_flags(const char *text, unsigned *flags, mig_err *err);

/* One statement: a slice of the source text (statements never need copying). */
typedef struct mig_stmt {
	const char *text;
	size_t		len;
} mig_stmt;

/* A list of statements. */
typedef struct mig_stmts {
	mig_stmt   *v;
	size_t		n;
	size_t		cap;
} mig_stmts;

void		mig_stmts_free(mig_stmts *s);

/*
 * Split src (a whole migration file) into statements with the given
 * options, honouring the `-- atlas:delimiter` first line (§d.2).  Appends
 * to out (which the caller initialises to zeroes).  Statements point into
 * src, which must outlive them.  A scan error is MIG_ESCAN with Atlas's
 * message ("L:C: unclosed quote '\\''", "empty delimiter", ...).
 */
int			mig_lex_split(const char *src, size_t len, unsigned flags,
						  mig_stmts *out, mig_err *err);

/*
 * The same split, streamed: emit(arg, text, len) gets each statement (in
 * order, pointing into src) as soon as it is final, so memory does not grow
 * with the number of statements.  emit returns MIG_OK to go on; any other
 * code stops the scan, and mig_lex_each returns it (err says "stopped").
 * A host checks for interrupts in emit.
 */
typedef int (*mig_lex_emit) (void *arg, const char *text, size_t len);
int			mig_lex_each(const char *src, size_t len, unsigned flags,
						 mig_lex_emit emit, void *arg, mig_err *err);

/* ---------------------------------------------------------------- directory (§a, §b, §e) */

/* Transaction modes (§g.5). */
typedef enum mig_txmode {
	MIG_TX_UNSET = 0,
	MIG_TX_FILE,
	MIG_TX_ALL,
	MIG_TX_NONE
} mig_txmode;

/* One migration file. */
typedef struct mig_file {
	char	   *name;			/* file name, e.g. "20220318104614_initial.sql" */
	char	   *version;		/* §a.3 */
	char	   *desc;			/* §a.3 */
	char	   *data;			/* exact content bytes (NUL-terminated copy) */
	size_t		len;
	bool		sum_ignored;	/* first line is `atlas:sum ignore` (§b.2) */
	bool		checkpoint;		/* has the `atlas:checkpoint` file directive (§a.4) */
	char		hash[MIG_B64_SHA256];	/* running sum hash (§b.2), "" if sum_ignored */
} mig_file;

/* A migration directory in memory, files in bytewise name order (§a.2). */
typedef struct mig_dir {
	mig_file   *files;
	size_t		nfiles;
	size_t		cap;
	char	   *sum;			/* atlas.sum content, NULL if absent */
	size_t		sum_len;
	char		total[MIG_B64_SHA256];	/* computed total hash (§b.3) */
	bool		finished;		/* mig_dir_finish ran */
} mig_dir;

void		mig_dir_init(mig_dir *d);
void		mig_dir_free(mig_dir *d);

/*
 * Add an entry by name.  Names ending in ".sql" become migrations (a later
 * entry with the same name replaces the earlier, §c.3); "atlas.sum" becomes
 * the sum; anything else is ignored.  data is copied.
 */
int			mig_dir_add(mig_dir *d, const char *name, const char *data, size_t len,
						mig_err *err);

/*
 * mig_dir_add with an explicit name length, for names that may hold NUL
 * bytes (tar/PAX).  Names containing '/', "..", NUL, or starting with '/'
 * are rejected with MIG_EINVAL naming the entry (DESIGN §6.13).
 */
int			mig_dir_add_n(mig_dir *d, const char *name, size_t name_len,
						  const char *data, size_t len, mig_err *err);

/*
 * Sort files, derive version/description, directives (sum ignore,
 * checkpoint) and running hashes.  Call once after the last mig_dir_add.
 */
int			mig_dir_finish(mig_dir *d, mig_err *err);

/*
 * Read a local directory (top-level *.sql and atlas.sum only, §a.1) into d,
 * which the caller has initialised, then mig_dir_finish it.  On error d is
 * still freed with mig_dir_free.
 */
int			mig_dir_load_local(const char *path, mig_dir *d, mig_err *err);

/* Serialise the computed sum (§b.1) into out. */
int			mig_sum_format(const mig_dir *d, mig_buf *out);

/*
 * Validate the directory against its atlas.sum (§b.6).  Errors:
 * MIG_ECHECKSUM with msg "checksum file not found", "checksum file format
 * invalid" or "checksum mismatch" (+ sum_line/sum_file/sum_reason when
 * known, and a detail in Atlas's CLI words).
 */
int			mig_sum_verify(const mig_dir *d, mig_err *err);

/*
 * The file's txmode directive (§e.2): MIG_TX_UNSET when none.  Errors use
 * Atlas's wording (unknown txmode, "all" not allowed, multiple values).
 */
int			mig_file_txmode(const mig_file *f, mig_txmode *mode, mig_err *err);

/* True if the file has a file directive with this name (e.g. "txtar"). */
bool		mig_file_has_directive(const mig_file *f, const char *name);

/*
 * MIG_ESCAN naming the file, byte offset, line and column when the file
 * holds a NUL byte (the hosts would drop the statement's rest silently).
 */
int			mig_file_check_nul(const mig_file *f, mig_err *err);

/*
 * MIG_EINVAL naming the files when two files share a version or a file's
 * version is empty (a deliberate check Atlas does not make, §a.3).  Run on
 * a finished directory before anything runs (mig_source_load does).
 */
int			mig_dir_check_versions(const mig_dir *d, mig_err *err);

/*
 * Version and description of a file name (§a.3), as mig_alloc'd copies the
 * caller frees with mig_free; MIG_ENOMEM leaves both NULL.
 */
int			mig_file_version_desc(const char *name, char **version, char **desc);

/* ---------------------------------------------------------------- config (§i) */

/* A value supplied for an atlas.hcl `variable` (from the vars option). */
typedef struct mig_var {
	char	   *name;
	char	  **values;			/* one or more (several = list) */
	size_t		nvalues;
	bool		is_list;		/* given as a JSON array */
} mig_var;

typedef struct mig_vars {
	mig_var    *v;
	size_t		n;
} mig_vars;

void		mig_vars_free(mig_vars *vars);

/* The parsed atlas.hcl (opaque syntax tree). */
typedef struct mig_config mig_config;

/*
 * Parse atlas.hcl text and check its structure: syntax, known blocks and
 * attributes, known functions.  Errors: MIG_ECONFIG with "L:C: message".
 */
int			mig_hcl_parse(const char *src, size_t len, mig_config **out, mig_err *err);
void		mig_hcl_free(mig_config *cfg);

/* Does the config call getenv() anywhere? */
bool		mig_hcl_uses_getenv(const mig_config *cfg);

/*
 * Make getenv() an error (MIG_EPERM naming getenv, never a value) when the
 * config is evaluated: for a host whose caller may not read the server's
 * environment.  Allowed by default.
 */
void		mig_hcl_deny_getenv(mig_config *cfg);

/* One evaluated env (strings are NULL when not set). */
typedef struct mig_env {
	char	   *name;
	char	   *url;				/* informational; also gives search_path */
	char	   *dir;				/* migration.dir */
	char	   *revisions_schema;	/* migration.revisions_schema */
	char	   *baseline;			/* migration.baseline */
	char	   *exec_order;			/* normalised: linear | linear-skip | non-linear */
	char	   *lock_timeout;		/* Go duration text */
	char	   *tx_mode;			/* migration.tx_mode */
	bool		cloud;				/* atlas { cloud { token } } non-empty */
	char	   *cloud_token;
	char	   *cloud_url;			/* default https://api.atlasgo.cloud/query */
	char	   *cloud_project;		/* default "default" */
	char	   *cloud_ca_file;		/* extension: CA bundle for private CAs */
	char	   *cloud_timeout;		/* extension: Go duration bounding a Cloud call */
} mig_env;

void		mig_env_free(mig_env *env);

/*
 * Select and evaluate env `name` (§i.3) with the given variable values.
 * Unknown env: MIG_ENOTFOUND `env "<name>" not defined in config file`.
 */
int			mig_hcl_env(const mig_config *cfg, const char *name, const mig_vars *vars,
						mig_env *out, mig_err *err);

/* ---------------------------------------------------------------- options */

typedef enum mig_exec_order {
	MIG_ORDER_UNSET = 0,
	MIG_ORDER_LINEAR,
	MIG_ORDER_LINEAR_SKIP,
	MIG_ORDER_NON_LINEAR
} mig_exec_order;

/* Apply options given in the call (override the env's migration block). */
/*
 * Severity of a pre-flight finding; the "preflight" option (not "check": a
 * reserved word in PostgreSQL's named-argument syntax) refuses to start a
 * run when a finding at or above it is present (MIG_SEV_NONE: never).
 */
typedef enum mig_severity {
	MIG_SEV_NONE = 0,
	MIG_SEV_INFO,
	MIG_SEV_WARNING,
	MIG_SEV_ERROR
} mig_severity;

typedef struct mig_opts {
	bool		has_amount;
	int64_t		amount;
	char	   *to_version;		/* NULL = none */
	bool		dry_run;
	char	   *baseline;		/* NULL = none */
	bool		allow_dirty;
	mig_txmode	tx_mode;		/* MIG_TX_UNSET = from env or "file" */
	mig_exec_order exec_order;	/* UNSET = from env or linear */
	int64_t		lock_timeout_ms;	/* < 0 = from env or 10s */
	int64_t		cloud_timeout_ms;	/* < 0 = default (Atlas Cloud calls) */
	int64_t		stmt_lock_timeout_ms;	/* < 0 = unset (lock-safe DDL off) */
	int64_t		lock_retries;	/* < 0 = unset */
	mig_severity check;			/* MIG_SEV_NONE = no pre-flight refusal */
	bool		has_check;
	mig_vars	vars;
	bool		deny_getenv;	/* host: getenv() in atlas.hcl is MIG_EPERM */
} mig_opts;

void		mig_opts_init(mig_opts *o);
void		mig_opts_free(mig_opts *o);

/*
 * Parse the SQLite options JSON object ({"amount":1,"dry_run":true,...}).
 * Unknown keys and wrong types are MIG_EINVAL naming the key.
 */
int			mig_opts_parse_json(const char *json, size_t len, mig_opts *o, mig_err *err);

/* Parse option words; MIG_EINVAL with Atlas's messages. */
int			mig_parse_txmode(const char *s, mig_txmode *m, mig_err *err);
int			mig_parse_exec_order(const char *s, mig_exec_order *o, mig_err *err);
int			mig_parse_severity(const char *s, mig_severity *sev, mig_err *err);
/*
 * Go duration ("1m30s", "1.5s", "0", "-2s") to milliseconds, with Go's
 * errors (invalid duration, missing unit, unknown unit; past 2^63-1 ns is
 * invalid).  The result may be negative: see mig_check_timeout.
 */
int			mig_parse_duration(const char *s, int64_t *ms, mig_err *err);

/* The longest timeout accepted (lock_timeout, cloud_timeout): 24 days. */
#define MIG_TIMEOUT_MAX_MS (576LL * 3600 * 1000)
#define MIG_TIMEOUT_MAX_TEXT "576h"

/*
 * MIG_OK when 0 <= ms <= MIG_TIMEOUT_MAX_MS, else MIG_EINVAL
 * "<what> must be a duration from 0 to 576h (2073600 seconds), got <given>".
 */
int			mig_check_timeout(const char *what, int64_t ms, const char *given, mig_err *err);

/* ---------------------------------------------------------------- revisions (§f) */

/* Revision types (§f.3). */
enum {
	MIG_REV_BASELINE = 1,
	MIG_REV_EXECUTED = 2,
	MIG_REV_RESOLVED = 4
};

#define MIG_CLOUD_IDENTIFIER ".atlas_cloud_identifier"

/* One row of atlas_schema_revisions. */
typedef struct mig_rev {
	char	   *version;
	char	   *description;
	int64_t		type;
	int64_t		applied;
	int64_t		total;
	int64_t		executed_at_ns;		/* Unix ns; hosts may ignore on update */
	int64_t		execution_time;		/* ns */
	char	   *error;				/* "" when none */
	char	   *error_stmt;			/* "" when none */
	char	   *hash;				/* without "h1:" */
	char	   *partial_hashes;		/* JSON text: "null" or ["h1:...",...] */
	char	   *operator_version;
} mig_rev;

typedef struct mig_revs {
	mig_rev    *v;
	size_t		n;
	size_t		cap;
} mig_revs;

void		mig_rev_free(mig_rev *r);
void		mig_revs_free(mig_revs *r);
/* Deep copy src into dst (dst is overwritten, not freed). */
int			mig_rev_copy(mig_rev *dst, const mig_rev *src);
/* Append a deep copy of r. */
int			mig_revs_push(mig_revs *rs, const mig_rev *r);
/* Index of the row with this version in rs (ascending, bytewise), or -1. */
long		mig_revs_find(const mig_revs *rs, const char *version);

/*
 * A failed attempt that applied nothing (applied = 0 with an error, the row
 * tx mode file leaves): not history when pending files are computed.
 */
bool		mig_rev_failed_attempt(const mig_rev *r);

/* The operator_version the extension writes: "atlas_migrate v0.2.0". */
#define MIG_OPERATOR_VERSION "atlas_migrate v" MIG_VERSION

#endif							/* MIG_H */
