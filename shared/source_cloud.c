/*
 * source_cloud.c - the Atlas Cloud client (§j): fetch an atlas:// directory
 * with dirState (§j.3) and report a deployment with reportMigration (§j.4).
 *
 * The only core file that includes curl.h.  Knows nothing of PostgreSQL or
 * SQLite: interrupts come from db->interrupted(db), asked every 50 ms while
 * a transfer runs (curl's multi interface), from the progress callback and
 * while waiting between retries; callbacks never longjmp, they return a
 * value that stops the transfer.  CURL and cJSON objects never leave the
 * function that made them.
 *
 * The token goes only into the Authorization header.  It is wiped from
 * memory we own after use, and every error text and report body is scrubbed
 * of it, in case a server echoes it back.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "cloud.h"

/* §j.3 and §j.4 documents, byte for byte as Atlas sends them. */
static const char DIRSTATE_QUERY[] =
"query dirState($input: DirStateInput!) {\n  dirState(input: $input) {\n    content\n  }\n}";
static const char REPORT_MUTATION[] =
"mutation ReportMigration($input: ReportMigrationInput!) {\n  reportMigration(input: $input) {\n    url\n  }\n}";

/* §j.2: read at most this much of a non-200 body. */
#define ERROR_BODY_MAX ((size_t) 1 << 20)
/* Tokens shorter than this are not scrubbed (they would match plain words). */
#define SCRUB_MIN 8
/* Interrupt check interval while waiting between attempts. */
#define WAIT_SLICE_MS 20
/* Interrupt check interval during a transfer. */
#define POLL_MS 50

/* ---------------------------------------------------------------- small helpers */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
interrupted(mig_db *db)
{
	return db != NULL && db->interrupted != NULL && db->interrupted(db) != 0;
}

/* Replace every occurrence of tok in s (NUL-terminated, in place) with "xxxxx". */
static void
scrub_text(char *s, const char *tok)
{
	size_t		tlen = tok ? strlen(tok) : 0;
	char	   *p = s;

	if (tlen < SCRUB_MIN)
		return;
	/* "xxxxx" is shorter than tok: the text only shrinks */
	while ((p = strstr(p, tok)) != NULL)
	{
		memcpy(p, "xxxxx", 5);
		memmove(p + 5, p + tlen, strlen(p + tlen) + 1);
		p += 5;
	}
}

static void
scrub_err(mig_err *err, const char *tok)
{
	scrub_text(err->msg, tok);
	scrub_text(err->detail, tok);
	scrub_text(err->hint, tok);
}

/*
 * Scrub a mig_buf in place (length shrinks).  Bytes after an embedded NUL
 * are dropped too: only JSON text and server replies pass through here.
 */
static void
scrub_buf(mig_buf *b, const char *tok)
{
	if (b->data && tok && strlen(tok) >= SCRUB_MIN)
	{
		scrub_text(b->data, tok);
		b->len = strlen(b->data);
	}
}

/* Wipe a secret in memory we are about to free. */
static void
wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

static int
json_cstr(mig_buf *b, const char *s)
{
	return mig_buf_json_str(b, s ? s : "", s ? strlen(s) : 0);
}

/*
 * The directory name of an atlas:// URL (§j.3): host + path, percent-
 * decoded, without userinfo, query or fragment.  NULL with *rc set on error.
 */
static char *
atlas_dir_name(const char *url, int *rc, mig_err *err)
{
	const char *p = url + strlen("atlas://"),
			   *end,
			   *at;
	char	   *name,
			   *w;

	end = p + strcspn(p, "?#");
	at = memchr(p, '@', (size_t) (p + strcspn(p, "/?#") - p));
	if (at)
		p = at + 1;
	if (end == p)
	{
		*rc = mig_err_set(err, MIG_EINVAL, "migration directory URL \"atlas://\" has no directory name");
		mig_err_hint(err, "Use atlas://<name> or atlas://<name>?tag=<tag>.");
		return NULL;
	}
	if ((name = mig_alloc((size_t) (end - p) + 1)) == NULL)
	{
		*rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
		return NULL;
	}
	for (w = name; p < end; p++)
	{
		if (*p == '%' && end - p >= 3 && mig_hexval(p[1]) >= 0 && mig_hexval(p[2]) >= 0)
		{
			*w++ = (char) (mig_hexval(p[1]) * 16 + mig_hexval(p[2]));
			p += 2;
		}
		else
			*w++ = *p;
	}
	*w = '\0';
	*rc = MIG_OK;
	return name;
}

/* ---------------------------------------------------------------- options, identity */

void
mig_cloud_opts_init(mig_cloud_opts *o, const mig_run_cfg *cfg)
{
	o->connect_timeout_ms = MIG_CLOUD_CONNECT_TIMEOUT_MS;
	o->timeout_ms = cfg && cfg->cloud_timeout_ms > 0 ? cfg->cloud_timeout_ms : MIG_CLOUD_TIMEOUT_MS;
	o->max_response = MIG_CLOUD_MAX_RESPONSE;
	o->max_entry = MIG_ARCHIVE_MAX_ENTRY;
	o->attempts = MIG_CLOUD_ATTEMPTS;
	o->backoff_min_ms = 1000;
	o->backoff_max_ms = 30000;
}

int64_t
mig_cloud_backoff_ms(const mig_cloud_opts *o, int retry, long retry_after_s, bool loopback)
{
	int64_t		ms;

	if (retry_after_s >= 0)
		ms = (int64_t) retry_after_s * 1000;
	else
	{
		int			i;

		ms = o->backoff_min_ms;
		for (i = 1; i < retry && ms < o->backoff_max_ms; i++)
			ms *= 2;
	}
	if (ms > o->backoff_max_ms)
		ms = o->backoff_max_ms;
	if (ms < 0)
		ms = 0;
	return loopback ? ms / 1000 : ms;
}

#if defined(__x86_64__)
#define ARCH "amd64"
#elif defined(__aarch64__)
#define ARCH "arm64"
#elif defined(__i386__)
#define ARCH "386"
#elif defined(__arm__)
#define ARCH "arm"
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
#define ARCH "ppc64le"
#elif defined(__s390x__)
#define ARCH "s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define ARCH "riscv64"
#else
#define ARCH "unknown"
#endif

#if defined(__linux__)
#define OS "linux"
#elif defined(__APPLE__)
#define OS "darwin"
#elif defined(__FreeBSD__)
#define OS "freebsd"
#else
#define OS "unknown"
#endif

void
mig_cloud_user_agent(const mig_db *db, char *out, size_t outsz)
{
	const char *name = db && db->name ? db->name : NULL;
	const char *ver = db && db->version ? db->version : NULL;

	if (name && ver)
		snprintf(out, outsz, "atlas_migrate/%s (%s %s; %s/%s)", MIG_VERSION, name, ver, OS, ARCH);
	else if (name)
		snprintf(out, outsz, "atlas_migrate/%s (%s; %s/%s)", MIG_VERSION, name, OS, ARCH);
	else
		snprintf(out, outsz, "atlas_migrate/%s (%s/%s)", MIG_VERSION, OS, ARCH);
}

/* ---------------------------------------------------------------- responses (§j.2) */

static void
trim(const char **s, size_t *n)
{
	while (*n && isspace((unsigned char) (*s)[0]))
	{
		(*s)++;
		(*n)--;
	}
	while (*n && isspace((unsigned char) (*s)[*n - 1]))
		(*n)--;
}

/*
 * gqlerror.List.Error(), then Atlas's TrimPrefix("input:") and TrimSpace
 * (§j.2 item 4): "<file>[:<line>]: [<path> ]<message>\n" per error.
 */
static int
render_gql_errors(const cJSON *errors, mig_err *err)
{
	mig_buf		b;
	const cJSON *e;
	const char *s;
	size_t		n;
	int			rc;

	mig_buf_init(&b);
	cJSON_ArrayForEach(e, errors)
	{
		const cJSON *ext = cJSON_GetObjectItemCaseSensitive(e, "extensions");
		const cJSON *file = cJSON_GetObjectItemCaseSensitive(ext, "file");
		const cJSON *locs = cJSON_GetObjectItemCaseSensitive(e, "locations");
		const cJSON *path = cJSON_GetObjectItemCaseSensitive(e, "path");
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
		const cJSON *p;
		int			i = 0;

		if (cJSON_IsString(file) && file->valuestring[0])
			mig_buf_puts(&b, file->valuestring);
		else
			mig_buf_puts(&b, "input");
		if (cJSON_IsArray(locs) && cJSON_GetArraySize(locs) > 0)
		{
			const cJSON *line = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(locs, 0), "line");

			mig_buf_printf(&b, ":%d", cJSON_IsNumber(line) ? line->valueint : 0);
		}
		mig_buf_puts(&b, ": ");
		if (cJSON_IsArray(path) && cJSON_GetArraySize(path) > 0)
		{
			cJSON_ArrayForEach(p, path)
			{
				if (cJSON_IsNumber(p))
					mig_buf_printf(&b, "[%d]", p->valueint);
				else if (cJSON_IsString(p))
				{
					if (i > 0)
						mig_buf_putc(&b, '.');
					mig_buf_puts(&b, p->valuestring);
				}
				i++;
			}
			mig_buf_putc(&b, ' ');
		}
		if (cJSON_IsString(msg))
			mig_buf_puts(&b, msg->valuestring);
		mig_buf_putc(&b, '\n');
	}
	if (b.oom)
	{
		mig_buf_free(&b);
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	}
	s = b.data ? b.data : "";
	n = b.len;
	if (n >= 6 && memcmp(s, "input:", 6) == 0)
	{
		s += 6;
		n -= 6;
	}
	trim(&s, &n);
	if (n == 0)
		rc = mig_err_set(err, MIG_ECLOUD, "the server returned a GraphQL error without a message");
	else
		rc = mig_err_set(err, MIG_ECLOUD, "%.*s", (int) n, s);
	mig_buf_free(&b);
	return rc;
}

/*
 * Does this (unparsable) text end inside a string or an open object/array?
 * Then it was cut short rather than malformed.
 */
static bool
json_cut_short(const char *s, size_t n)
{
	size_t		i,
				depth = 0;
	bool		in_str = false,
				esc = false;

	for (i = 0; i < n; i++)
	{
		char		c = s[i];

		if (in_str)
		{
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
		}
		else if (c == '"')
			in_str = true;
		else if (c == '{' || c == '[')
			depth++;
		else if ((c == '}' || c == ']') && depth > 0)
			depth--;
	}
	return in_str || depth > 0;
}

/*
 * MIG_ECLOUD for a 200 reply without data.<field[0..n)>: "decoding
 * response: the reply has no data.dirState" (what: "an empty reply", ...).
 */
static int
missing(mig_err *err, const char *field, size_t n, const char *what)
{
	if (n > 0 && field[n - 1] == '.')
		n--;
	if (what)
		mig_err_set(err, MIG_ECLOUD, "decoding response: %s, expected data%s%.*s",
					what, n ? "." : "", (int) n, field);
	else
		mig_err_set(err, MIG_ECLOUD, "decoding response: the reply has no data%s%.*s",
					n ? "." : "", (int) n, field);
	mig_err_hint(err, "The endpoint answered 200 without the data asked for; check that atlas { cloud { url } } is the Atlas Cloud GraphQL endpoint.");
	return MIG_ECLOUD;
}

/* A non-empty "errors" array, or NULL. */
static const cJSON *
gql_errors(const cJSON *root)
{
	const cJSON *errors = cJSON_GetObjectItemCaseSensitive(root, "errors");

	if (cJSON_IsArray(errors) && cJSON_GetArraySize(errors) > 0)
		return errors;
	return NULL;
}

/*
 * mig_cloud_parse_response and mig_cloud_parse_required: with strict set, a
 * 200 reply must hold every object on the path data.<field>, and the field
 * itself (which may be null).
 */
static int
parse_reply(const char *body, size_t len, long http_status, const char *field,
			bool strict, char **out_value, mig_err *err)
{
	cJSON	   *root = NULL;
	const cJSON *node,
			   *errors;
	const char *s = body ? body : "";
	const char *f;
	size_t		n = body ? len : 0;
	int			rc = MIG_OK;

	*out_value = NULL;
	if (http_status == 401)
		return mig_err_set(err, MIG_ECLOUD, "unauthorized (401): check the cloud token");
	if (http_status != 200)
	{
		if (n > ERROR_BODY_MAX)
			n = ERROR_BODY_MAX;
		root = cJSON_ParseWithLength(s, n);
		if (root && (errors = gql_errors(root)) != NULL)
			rc = render_gql_errors(errors, err);
		else
		{
			trim(&s, &n);
			rc = mig_err_set(err, MIG_ECLOUD, "unexpected error code %ld: %.*s",
							 http_status, (int) n, s);
		}
		goto done;
	}

	/* 200: an empty body decodes to nothing (Go's io.EOF), which Atlas accepts. */
	{
		const char *t = s;
		size_t		tn = n;

		trim(&t, &tn);
		if (tn == 0)
		{
			if (strict)
				rc = missing(err, field, strlen(field), "an empty reply");
			goto done;
		}
	}
	{
		const char *end = NULL;

		root = cJSON_ParseWithLengthOpts(s, n, &end, false);
		if (root == NULL)
		{
			size_t		at = end && end >= s && end <= s + n ? (size_t) (end - s) : 0;

			/* Go's decoder words: a cut-short reply is "unexpected EOF" */
			if (json_cut_short(s, n))
				rc = mig_err_set(err, MIG_ECLOUD, "decoding response: unexpected EOF");
			else if (isprint((unsigned char) s[at]))
				rc = mig_err_set(err, MIG_ECLOUD, "decoding response: invalid character '%c' at byte %zu",
								 s[at], at);
			else
				rc = mig_err_set(err, MIG_ECLOUD, "decoding response: invalid JSON at byte %zu", at);
			goto done;
		}
	}
	if (cJSON_IsNull(root))
	{
		if (strict)
			rc = missing(err, field, strlen(field), "a null reply");
		goto done;
	}
	if (!cJSON_IsObject(root))
	{
		rc = mig_err_set(err, MIG_ECLOUD, "decoding response: the reply is not a JSON object");
		goto done;
	}
	node = cJSON_GetObjectItemCaseSensitive(root, "errors");
	if (node && !cJSON_IsNull(node) && !cJSON_IsArray(node))
	{
		rc = mig_err_set(err, MIG_ECLOUD, "decoding response: \"errors\" is not a list");
		goto done;
	}
	if ((errors = gql_errors(root)) != NULL)
	{
		rc = render_gql_errors(errors, err);
		goto done;
	}

	/* Walk data.<a>.<b>...: missing or null anywhere means "no value". */
	node = cJSON_GetObjectItemCaseSensitive(root, "data");
	f = field;
	for (;;)
	{
		char		key[64];
		size_t		kl = strcspn(f, ".");

		if (node == NULL || cJSON_IsNull(node))
		{
			if (strict)
				rc = missing(err, field, (size_t) (f - field), NULL);
			goto done;
		}
		if (!cJSON_IsObject(node))
		{
			rc = mig_err_set(err, MIG_ECLOUD, "decoding response: data%s%.*s is not an object",
							 f == field ? "" : ".", (int) (f == field ? 0 : f - field - 1), field);
			goto done;
		}
		if (kl >= sizeof(key))
			kl = sizeof(key) - 1;
		memcpy(key, f, kl);
		key[kl] = '\0';
		node = cJSON_GetObjectItemCaseSensitive(node, key);
		if (f[kl] != '.')
			break;
		f += kl + 1;
	}
	if (node == NULL && strict)
	{
		rc = missing(err, field, strlen(field), NULL);
		goto done;
	}
	if (node == NULL || cJSON_IsNull(node))
		goto done;
	if (!cJSON_IsString(node))
	{
		rc = mig_err_set(err, MIG_ECLOUD, "decoding response: data.%s is not a string", field);
		goto done;
	}
	if ((*out_value = mig_strdup(node->valuestring)) == NULL)
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");

done:
	cJSON_Delete(root);
	return rc;
}

int
mig_cloud_parse_response(const char *body, size_t len, long http_status,
						 const char *field, char **out_value, mig_err *err)
{
	return parse_reply(body, len, http_status, field, false, out_value, err);
}

int
mig_cloud_parse_required(const char *body, size_t len, long http_status,
						 const char *field, char **out_value, mig_err *err)
{
	return parse_reply(body, len, http_status, field, true, out_value, err);
}

/* ---------------------------------------------------------------- transport (§j.1) */

/* One request's state, shared with libcurl's callbacks. */
typedef struct xfer {
	mig_db	   *db;
	mig_buf    *resp;
	size_t		max;
	bool		oversize;
	bool		oom;
	bool		stopped;		/* the progress callback saw an interrupt */
	long		retry_after;	/* seconds from Retry-After, -1 = none */
} xfer;

static size_t
on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	xfer	   *x = ud;
	size_t		n = size * nmemb;

	if (n > x->max - x->resp->len)
	{
		x->oversize = true;
		return 0;				/* CURLE_WRITE_ERROR stops the transfer */
	}
	if (mig_buf_append(x->resp, p, n) != MIG_OK)
	{
		x->oom = true;
		return 0;
	}
	return n;
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	xfer	   *x = ud;
	size_t		n = size * nmemb,
				i;

	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
		x->retry_after = -1;	/* a new response (after 100 Continue, ...) */
	else if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0)
	{
		long		v = 0;

		for (i = 12; i < n && (p[i] == ' ' || p[i] == '\t'); i++)
			;
		if (i < n && isdigit((unsigned char) p[i]))
		{
			for (; i < n && isdigit((unsigned char) p[i]) && v < 86400; i++)
				v = v * 10 + (p[i] - '0');
			x->retry_after = v;
		}
	}
	return n;
}

static int
on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	xfer	   *x = ud;

	(void) dltotal;
	(void) dlnow;
	(void) ultotal;
	(void) ulnow;
	if (interrupted(x->db))
	{
		x->stopped = true;
		return 1;				/* CURLE_ABORTED_BY_CALLBACK */
	}
	return 0;
}

/* Errors after which another attempt cannot help (§j.1: TLS certificate, scheme, ...). */
static bool
retryable(CURLcode cc)
{
	switch (cc)
	{
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
		case CURLE_NOT_BUILT_IN:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CRL_BADFILE:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_ENGINE_NOTFOUND:
		case CURLE_SSL_ENGINE_SETFAILED:
		case CURLE_TOO_MANY_REDIRECTS:
		case CURLE_OUT_OF_MEMORY:
		case CURLE_BAD_FUNCTION_ARGUMENT:
		case CURLE_UNKNOWN_OPTION:
		case CURLE_FAILED_INIT:
		case CURLE_ABORTED_BY_CALLBACK:
		case CURLE_WRITE_ERROR:
		case CURLE_READ_ERROR:
		case CURLE_FILESIZE_EXCEEDED:
			return false;
		default:
			return true;
	}
}

static int
global_init(mig_err *err)
{
	static bool done;

	if (done)
		return MIG_OK;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return mig_err_set(err, MIG_ECLOUD, "libcurl initialisation failed");
	done = true;
	return MIG_OK;
}

/* The endpoint, checked: its scheme, and whether it is a loopback host. */
typedef struct endpoint {
	const char *url;			/* cfg->cloud_url or the default */
	char	   *shown;			/* redacted, for messages (mig_alloc'd) */
	bool		loopback;
} endpoint;

static int
endpoint_open(const mig_run_cfg *cfg, endpoint *ep, mig_err *err)
{
	CURLU	   *u = NULL;
	char	   *scheme = NULL,
			   *host = NULL;
	int			rc = MIG_OK;

	ep->url = cfg->cloud_url && cfg->cloud_url[0] ? cfg->cloud_url : MIG_CLOUD_DEFAULT_URL;
	if ((ep->shown = mig_url_redact(ep->url)) == NULL)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	if ((u = curl_url()) == NULL)
	{
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
		goto done;
	}
	if (curl_url_set(u, CURLUPART_URL, ep->url, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
	{
		rc = mig_err_set(err, MIG_ECONFIG, "atlas cloud: invalid cloud url \"%.300s\"", ep->shown);
		mig_err_hint(err, "Set atlas { cloud { url = \"https://...\" } } to a full URL, or leave it out for %s.",
					 MIG_CLOUD_DEFAULT_URL);
		goto done;
	}
	ep->loopback = strcmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0 ||
		strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
	if (strcasecmp(scheme, "https") != 0 && strcasecmp(scheme, "http") != 0)
	{
		rc = mig_err_set(err, MIG_ECONFIG, "atlas cloud: unsupported scheme in cloud url \"%.300s\"",
						 ep->shown);
		mig_err_hint(err, "The Atlas Cloud endpoint is an https:// URL.");
	}
	else if (strcasecmp(scheme, "http") == 0 && !ep->loopback)
	{
		rc = mig_err_set(err, MIG_ECONFIG,
						 "atlas cloud: refusing to send the cloud token over plain http to \"%.300s\"",
						 ep->shown);
		mig_err_hint(err, "Use an https:// cloud url; plain http is only allowed for localhost.");
	}

done:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

static void
endpoint_close(endpoint *ep)
{
	mig_free(ep->shown);
	ep->shown = NULL;
}

/* The token must not break the header it goes into; never print it. */
static int
check_token(const char *tok, mig_err *err)
{
	const unsigned char *p;

	for (p = (const unsigned char *) (tok ? tok : ""); *p; p++)
		if (*p < 0x20 || *p == 0x7f)
		{
			mig_err_set(err, MIG_ECONFIG, "atlas cloud: the cloud token contains a control character or line break");
			mig_err_hint(err, "Check the value of atlas { cloud { token } } (for example a trailing newline in ATLAS_TOKEN).");
			return MIG_ECONFIG;
		}
	return MIG_OK;
}

/* Sleep ms, in slices, returning MIG_EINTR as soon as the host asks to stop. */
static int
wait_ms(mig_db *db, int64_t ms)
{
	int64_t		until = mono_ms() + ms;

	for (;;)
	{
		int64_t		left = until - mono_ms();
		struct timespec ts;

		if (interrupted(db))
			return MIG_EINTR;
		if (left <= 0)
			return MIG_OK;
		if (left > WAIT_SLICE_MS)
			left = WAIT_SLICE_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long) left * 1000000;
		nanosleep(&ts, NULL);
	}
}

/*
 * Run one transfer on the multi interface, polling in POLL_MS slices so an
 * interrupt is seen within ~50 ms even while the server sends nothing (the
 * easy interface may sit up to a second inside curl between progress
 * calls).  The progress callback stays as a second check.
 */
static CURLcode
perform(CURL *h, CURLM *m, xfer *x)
{
	CURLcode	result = CURLE_OK;
	CURLMsg    *msg;
	int			running = 1,
				left;

	if (curl_multi_add_handle(m, h) != CURLM_OK)
		return CURLE_FAILED_INIT;
	for (;;)
	{
		CURLMcode	mc = curl_multi_perform(m, &running);

		if (mc != CURLM_OK)
		{
			result = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
			break;
		}
		if (running == 0)
			break;
		if (interrupted(x->db))
		{
			x->stopped = true;
			result = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
#if LIBCURL_VERSION_NUM >= 0x074200
		mc = curl_multi_poll(m, NULL, 0, POLL_MS, NULL);
#else
		mc = curl_multi_wait(m, NULL, 0, POLL_MS, NULL);
#endif
		if (mc != CURLM_OK)
		{
			result = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
			break;
		}
	}
	if (running == 0)
		while ((msg = curl_multi_info_read(m, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
				result = msg->data.result;
	curl_multi_remove_handle(m, h);
	return result;
}

/* One POST with its retries: the handles, the headers and the callbacks' state. */
typedef struct post {
	CURL	   *h;
	CURLM	   *m;
	struct curl_slist *hdrs;	/* holds the token: wiped before it is freed */
	char		ua[256];
	char		cerr[CURL_ERROR_SIZE];
	xfer		x;
	int64_t		deadline;		/* monotonic ms */
} post;

/* §j.1 headers; the token goes only into the list, and the copy we built it in is wiped. */
static int
post_headers(post *p, const char *token, mig_err *err)
{
	mig_buf		auth;
	struct curl_slist *s;
	size_t		i;
	int			rc = MIG_OK;

	mig_buf_init(&auth);
	mig_buf_puts(&auth, "Authorization: Bearer ");
	mig_buf_puts(&auth, token ? token : "");
	if (auth.oom)
	{
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
		goto done;
	}
	{
		const char *lines[] = {auth.data, "Content-Type: application/json", "Accept: application/json",
		"Expect:"};

		for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		{
			if ((s = curl_slist_append(p->hdrs, lines[i])) == NULL)
			{
				rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
				goto done;
			}
			p->hdrs = s;
		}
	}

done:
	if (auth.data)
		wipe(auth.data, auth.len);
	mig_buf_free(&auth);
	return rc;
}

#define SETOPT(opt, val) \
	do { \
		if (curl_easy_setopt(h, opt, val) != CURLE_OK) \
			return mig_err_set(err, MIG_ECLOUD, "libcurl refused option %s", #opt); \
	} while (0)

/* The options every attempt shares: TLS always verified, no redirects, callbacks on p->x. */
static int
post_options(post *p, const mig_run_cfg *cfg, const mig_cloud_opts *o, const endpoint *ep,
			 const char *body, size_t len, mig_err *err)
{
	CURL	   *h = p->h;

	SETOPT(CURLOPT_URL, ep->url);
	SETOPT(CURLOPT_POST, 1L);
	SETOPT(CURLOPT_POSTFIELDS, body);
	SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
	SETOPT(CURLOPT_HTTPHEADER, p->hdrs);
	SETOPT(CURLOPT_USERAGENT, p->ua);
	SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(CURLOPT_WRITEDATA, &p->x);
	SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(CURLOPT_HEADERDATA, &p->x);
	SETOPT(CURLOPT_NOPROGRESS, 0L);
	SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
	SETOPT(CURLOPT_XFERINFODATA, &p->x);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_ERRORBUFFER, p->cerr);
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) o->max_response);
	SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
	if (cfg->cloud_ca_file && cfg->cloud_ca_file[0])
		SETOPT(CURLOPT_CAINFO, cfg->cloud_ca_file);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "https,http");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTPS | CURLPROTO_HTTP));
#endif
	/* A proxy from the environment must not see loopback test traffic. */
	if (ep->loopback)
		SETOPT(CURLOPT_NOPROXY, "*");
	return MIG_OK;
}

/* The timeout error: the whole POST, all attempts, ran out of o->timeout_ms. */
static int
post_timeout(const mig_cloud_opts *o, mig_err *err)
{
	char		d[32];

	mig_fmt_duration(o->timeout_ms * 1000000, d, sizeof(d));
	return mig_err_set(err, MIG_ECLOUD, "no complete response within %s (timeout)", d);
}

/*
 * One attempt, given left ms of the deadline.  *again: a failure or status
 * another attempt may cure (§j.1: transport errors other than TLS, scheme
 * and the like; 429 and 5xx except 501); *retry_after: the seconds a 429 or
 * 503 asked for, or -1.
 */
static int
post_attempt(post *p, const mig_run_cfg *cfg, const mig_cloud_opts *o, int64_t left, long *status,
			 mig_buf *resp, bool *again, long *retry_after, mig_err *err)
{
	CURL	   *h = p->h;
	CURLcode	cc;
	int			rc;

	*again = false;
	*retry_after = -1;
	SETOPT(CURLOPT_TIMEOUT_MS, (long) left);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS,
		   (long) (o->connect_timeout_ms > 0 && o->connect_timeout_ms < left ?
				   o->connect_timeout_ms : left));
	mig_buf_reset(resp);
	p->x.oversize = p->x.oom = p->x.stopped = false;
	p->x.retry_after = -1;
	p->cerr[0] = '\0';
	*status = 0;

	cc = perform(h, p->m, &p->x);

	if (p->x.stopped || cc == CURLE_ABORTED_BY_CALLBACK)
		return mig_err_set(err, MIG_EINTR, "interrupted");
	if (p->x.oom)
		return mig_err_set(err, MIG_ENOMEM, "out of memory reading the response");
	if (p->x.oversize || cc == CURLE_FILESIZE_EXCEEDED)
		return mig_err_set(err, MIG_ECLOUD, "the response is larger than the limit of %zu bytes",
						   o->max_response);
	if (cc == CURLE_OK)
	{
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
		/* a reply that echoes the token must not carry it into an error */
		if (memchr(resp->data ? resp->data : "", '\0', resp->len) == NULL)
			scrub_buf(resp, cfg->cloud_token);
		*again = *status == 429 || (*status >= 500 && *status <= 599 && *status != 501);
		if (*status == 429 || *status == 503)
			*retry_after = p->x.retry_after;
		return MIG_OK;
	}
	/* curl's own timer ends a hair before ours: same deadline */
	if (cc == CURLE_OPERATION_TIMEDOUT && mono_ms() + 20 >= p->deadline)
		return post_timeout(o, err);
	rc = mig_err_set(err, MIG_ECLOUD, "%s", p->cerr[0] ? p->cerr : curl_easy_strerror(cc));
	if (cc == CURLE_PEER_FAILED_VERIFICATION)
		mig_err_hint(err, "The server's TLS certificate could not be verified.  For a private CA, set atlas { cloud { ca_file = \"...\" } }.");
	else if (cc == CURLE_SSL_CACERT_BADFILE)
		mig_err_hint(err, "The configured CA file could not be read.");
	*again = retryable(cc);
	return rc;
}

#undef SETOPT

/*
 * POST body to the endpoint with §j.1 retries and the deadline in o.
 * MIG_OK: a final HTTP response, *status and resp filled (any status: the
 * caller decodes it).  *tries counts the attempts made.  Otherwise:
 * transport failure, timeout, oversize or interrupt, with a message that
 * does not name the operation (the caller prefixes it).
 */
static int
http_post(const mig_run_cfg *cfg, const mig_cloud_opts *o, mig_db *db, const endpoint *ep,
		  const char *body, size_t len, long *status, mig_buf *resp, int *tries, mig_err *err)
{
	post		p;
	struct curl_slist *s;
	int			attempt;
	int			rc = MIG_OK;

	*status = 0;
	*tries = 0;
	memset(&p, 0, sizeof(p));
	p.x.db = db;
	p.x.resp = resp;
	p.x.max = o->max_response;
	p.x.retry_after = -1;
	p.deadline = mono_ms() + (o->timeout_ms > 0 ? o->timeout_ms : MIG_CLOUD_TIMEOUT_MS);

	if ((rc = global_init(err)) != MIG_OK)
		goto done;
	if ((p.h = curl_easy_init()) == NULL || (p.m = curl_multi_init()) == NULL)
	{
		rc = mig_err_set(err, MIG_ENOMEM, "libcurl: cannot create a handle");
		goto done;
	}
	if ((rc = post_headers(&p, cfg->cloud_token, err)) != MIG_OK)
		goto done;
	mig_cloud_user_agent(db, p.ua, sizeof(p.ua));
	if ((rc = post_options(&p, cfg, o, ep, body, len, err)) != MIG_OK)
		goto done;

	for (attempt = 1;; attempt++)
	{
		int64_t		left = p.deadline - mono_ms();
		bool		again;
		long		ra;
		int64_t		wait;

		/* an interrupt or the deadline before the attempt: it is not counted */
		if (interrupted(db))
		{
			rc = mig_err_set(err, MIG_EINTR, "interrupted");
			goto done;
		}
		if (left <= 0)
		{
			rc = post_timeout(o, err);
			goto done;
		}
		*tries = attempt;
		rc = post_attempt(&p, cfg, o, left, status, resp, &again, &ra, err);
		if (!again || attempt >= o->attempts)
			goto done;
		wait = mig_cloud_backoff_ms(o, attempt, ra, ep->loopback);
		if (mono_ms() + wait >= p.deadline)
			goto done;			/* no time for another attempt: keep this result */
		if (wait_ms(db, wait) != MIG_OK)
		{
			rc = mig_err_set(err, MIG_EINTR, "interrupted");
			goto done;
		}
	}

done:
	for (s = p.hdrs; s; s = s->next)
		if (s->data)
			wipe(s->data, strlen(s->data));
	curl_slist_free_all(p.hdrs);
	if (p.m)
		curl_multi_cleanup(p.m);
	if (p.h)
		curl_easy_cleanup(p.h);
	return rc;
}

/* ---------------------------------------------------------------- dirState (§j.3) */

/*
 * The directory name and ?tag= of an atlas:// URL (mig_alloc'd; *tag NULL
 * when absent).  ?version= is refused (DESIGN §6.9).
 */
static int
dir_url_parts(const mig_run_cfg *cfg, const char *shown, char **name, char **tag, mig_err *err)
{
	char	   *version = NULL;
	int			rc = MIG_OK;

	if (cfg->dir_url == NULL || strncmp(cfg->dir_url, "atlas://", 8) != 0)
		return mig_err_set(err, MIG_EINVAL, "atlas cloud: \"%.300s\" is not an atlas:// directory URL", shown);
	if ((*name = atlas_dir_name(cfg->dir_url, &rc, err)) == NULL)
		return rc;
	if (mig_url_query_param(cfg->dir_url, "version", &version) != MIG_OK ||
		mig_url_query_param(cfg->dir_url, "tag", tag) != MIG_OK)
	{
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
		goto done;
	}
	if (version)
	{
		rc = mig_err_set(err, MIG_ENOTSUP,
						 "atlas cloud: %.300s: selecting a directory by ?version= is not supported", shown);
		mig_err_hint(err, "Use atlas://%.200s?tag=<tag> to pin a pushed state, or atlas://%.200s for the latest.",
					 *name, *name);
	}

done:
	mig_free(version);
	return rc;
}

/* {"query": ..., "variables": {"input": {"name": ..., "tag": ...}}}; an empty tag is left out. */
static int
dirstate_body(mig_buf *body, const char *name, const char *tag, mig_err *err)
{
	mig_buf_puts(body, "{\"query\":");
	json_cstr(body, DIRSTATE_QUERY);
	mig_buf_puts(body, ",\"variables\":{\"input\":{\"name\":");
	json_cstr(body, name);
	if (tag && tag[0])
	{
		mig_buf_puts(body, ",\"tag\":");
		json_cstr(body, tag);
	}
	mig_buf_puts(body, "}}}");
	if (body->oom)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	return MIG_OK;
}

/*
 * §c.1: dirState.content is standard base64 of an uncompressed tar; null or
 * "" is an empty directory (*tar NULL, *tarlen 0).  content is rewritten in
 * place.  The error names where the directory came from (from).
 */
static int
decode_content(char *content, unsigned char **tar, long *tarlen, const char *from, mig_err *err)
{
	size_t		n = 0,
				i;

	*tar = NULL;
	*tarlen = 0;
	if (content == NULL || content[0] == '\0')
		return MIG_OK;
	/* Go's decoder skips CR and LF; so do we. */
	for (i = 0; content[i]; i++)
		if (content[i] != '\r' && content[i] != '\n')
			content[n++] = content[i];
	content[n] = '\0';
	if ((*tar = mig_alloc(3 * (n / 4) + 3)) == NULL)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	if ((*tarlen = mig_base64_decode(content, n, *tar)) < 0)
		return mig_err_set(err, MIG_ECLOUD,
						   "atlas cloud: fetching %s: decoding response: dirState.content is not valid base64",
						   from);
	return MIG_OK;
}

/* The fetched tar into out, verified against its atlas.sum before anything runs (DESIGN §1 Sources). */
static int
unpack_dir(const unsigned char *tar, long tarlen, size_t max_entry, const char *shown, const char *from,
		   mig_dir *out, mig_err *err)
{
	int			rc;

	if ((rc = mig_archive_read(tar, (size_t) tarlen, max_entry, out, err)) != MIG_OK)
	{
		if (rc != MIG_ENOMEM)
		{
			rc = MIG_ECLOUD;
			err->code = MIG_ECLOUD;
			mig_err_prefix(err, "atlas cloud: fetching %s: ", from);
			mig_err_hint(err, "Nothing was applied.");
		}
		return rc;
	}
	if ((rc = mig_sum_verify(out, err)) != MIG_OK && err->hint[0] == '\0')
		mig_err_hint(err, "The directory %.300s fetched from Atlas Cloud does not match its atlas.sum; nothing was applied.",
					 shown);
	return rc;
}

int
mig_cloud_fetch_dir(const mig_run_cfg *cfg, const mig_cloud_opts *opts, mig_db *db,
					mig_dir *out, mig_err *err)
{
	mig_cloud_opts o;
	endpoint	ep;
	mig_buf		body,
				resp;
	char	   *name = NULL,
			   *tag = NULL,
			   *content = NULL;
	char		from[620];		/* "<dir> from <endpoint>", for messages */
	unsigned char *tar = NULL;
	const char *shown = cfg->dir_url_redacted ? cfg->dir_url_redacted : "atlas://";
	long		status = 0;
	long		tarlen = 0;
	int			tries = 0;
	int			rc;

	memset(&ep, 0, sizeof(ep));
	mig_buf_init(&body);
	mig_buf_init(&resp);
	if (opts)
		o = *opts;
	else
		mig_cloud_opts_init(&o, cfg);

	if ((rc = dir_url_parts(cfg, shown, &name, &tag, err)) != MIG_OK ||
		(rc = check_token(cfg->cloud_token, err)) != MIG_OK ||
		(rc = endpoint_open(cfg, &ep, err)) != MIG_OK ||
		(rc = dirstate_body(&body, name, tag, err)) != MIG_OK)
		goto done;
	snprintf(from, sizeof(from), "%.300s from %.300s", shown, ep.shown);

	rc = http_post(cfg, &o, db, &ep, body.data, body.len, &status, &resp, &tries, err);

	/*
	 * §j.2 accepts an empty 200 body, and Atlas's Client.Dir then unpacks an
	 * empty directory, as it does for a null data or a missing dirState.  A
	 * real Cloud answers dirState with the object or with errors, so such a
	 * reply is a broken endpoint (a proxy, a wrong cloud.url), not an empty
	 * directory: refused, deliberately unlike Atlas.  A dirState whose
	 * content is null or "" still is an empty directory (§c.3).
	 */
	if (rc == MIG_OK)
		rc = mig_cloud_parse_required(resp.data, resp.len, status, "dirState.content", &content, err);
	if (rc != MIG_OK)
	{
		if (rc != MIG_ENOMEM)
			mig_err_prefix(err, "atlas cloud: fetching %s: ", from);
		if (rc == MIG_ECLOUD && tries > 1)
			mig_err_detail(err, "The request was tried %d times.", tries);
		if (status == 401)
			mig_err_hint(err, "Check atlas { cloud { token } } in atlas.hcl, for example getenv(\"ATLAS_TOKEN\") in the database server's environment.");
		goto done;
	}
	mig_buf_free(&resp);

	if ((rc = decode_content(content, &tar, &tarlen, from, err)) != MIG_OK)
		goto done;
	mig_free(content);
	content = NULL;
	rc = unpack_dir(tar, tarlen, o.max_entry, shown, from, out, err);

done:
	if (rc != MIG_OK)
		scrub_err(err, cfg->cloud_token);
	endpoint_close(&ep);
	mig_buf_free(&body);
	mig_buf_free(&resp);
	mig_free(name);
	mig_free(tag);
	mig_free(content);
	mig_free(tar);
	return rc;
}

/* ---------------------------------------------------------------- reportMigration (§j.4) */

static void
kv_key(mig_buf *b, bool *first, const char *key)
{
	if (!*first)
		mig_buf_putc(b, ',');
	*first = false;
	json_cstr(b, key);
	mig_buf_putc(b, ':');
}

static void
kv_str(mig_buf *b, bool *first, const char *key, const char *val)
{
	kv_key(b, first, key);
	json_cstr(b, val);
}

static void
kv_time(mig_buf *b, bool *first, const char *key, int64_t ns)
{
	char		t[64];

	mig_fmt_time(ns, t, sizeof(t));
	kv_str(b, first, key, t);
}

int
mig_cloud_report_body(const mig_run_cfg *cfg, const mig_result *res, const mig_db *db,
					  mig_buf *out, mig_err *err)
{
	mig_buf		b;
	char	   *dir_name = NULL;
	const char *schema;
	bool		first = true;
	bool		plan_failed;
	size_t		i;
	int			rc = MIG_OK;

	mig_buf_init(&b);
	if (cfg->dir_url && strncmp(cfg->dir_url, "atlas://", 8) == 0)
	{
		if ((dir_name = atlas_dir_name(cfg->dir_url, &rc, err)) == NULL)
			goto done;
	}
	else if ((dir_name = mig_strdup(".atlas")) == NULL)
	{
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
		goto done;
	}
	if (cfg->db_schema)
		schema = cfg->db_schema;
	else if (db && db->name && strcmp(db->name, "sqlite") == 0)
		schema = "main";
	else
		schema = "";
	/* §k.16: a failure before any plan is sent as Atlas sends it. */
	plan_failed = res->status == MIG_RUN_FAILED && res->target == NULL && res->napplied == 0;

	mig_buf_puts(&b, "{\"query\":");
	json_cstr(&b, REPORT_MUTATION);
	mig_buf_puts(&b, ",\"variables\":{\"input\":{");
	kv_str(&b, &first, "projectName",
		   cfg->cloud_project && cfg->cloud_project[0] ? cfg->cloud_project : "default");
	kv_str(&b, &first, "envName", cfg->env_name);
	kv_str(&b, &first, "dirName", dir_name);
	kv_str(&b, &first, "atlasVersion", MIG_OPERATOR_VERSION);
	kv_key(&b, &first, "target");
	{
		bool		f2 = true;

		mig_buf_putc(&b, '{');
		kv_str(&b, &f2, "id", res->target_id);
		kv_str(&b, &f2, "schema", schema);
		kv_str(&b, &f2, "url", cfg->db_url_redacted);
		mig_buf_putc(&b, '}');
	}
	kv_time(&b, &first, "startTime", res->start_ns);
	kv_time(&b, &first, "endTime", plan_failed ? 0 : res->end_ns);
	kv_str(&b, &first, "fromVersion", res->current);
	kv_str(&b, &first, "toVersion", res->target);
	kv_str(&b, &first, "currentVersion", res->current_after);
	if (res->error && res->error[0])
		kv_str(&b, &first, "error", res->error);
	kv_key(&b, &first, "files");
	if (plan_failed)
		mig_buf_puts(&b, "null");
	else
	{
		mig_buf_putc(&b, '[');
		for (i = 0; i < res->napplied; i++)
		{
			const mig_applied *a = &res->applied[i];
			bool		f2 = true;

			if (i > 0)
				mig_buf_putc(&b, ',');
			mig_buf_putc(&b, '{');
			kv_str(&b, &f2, "name", a->file ? a->file->name : "");
			kv_key(&b, &f2, "content");
			if (a->file && a->file->data)
				mig_buf_json_str(&b, a->file->data, a->file->len);
			else
				json_cstr(&b, "");
			kv_time(&b, &f2, "startTime", a->start_ns);
			kv_time(&b, &f2, "endTime", a->end_ns);
			kv_key(&b, &f2, "skipped");
			mig_buf_printf(&b, "%lld", (long long) a->skipped);
			kv_key(&b, &f2, "applied");
			mig_buf_printf(&b, "%zu", a->stmts.n);
			kv_key(&b, &f2, "checks");
			mig_buf_puts(&b, "[]");
			if (a->error_text)
			{
				bool		f3 = true;

				kv_key(&b, &f2, "error");
				mig_buf_putc(&b, '{');
				kv_str(&b, &f3, "stmt", a->error_stmt);
				kv_str(&b, &f3, "text", a->error_text);
				mig_buf_putc(&b, '}');
			}
			mig_buf_putc(&b, '}');
		}
		mig_buf_putc(&b, ']');
	}
	kv_key(&b, &first, "log");
	if (plan_failed)
		json_cstr(&b, res->error);
	else
		mig_buf_json_str(&b, res->log.data ? res->log.data : "", res->log.data ? res->log.len : 0);
	if (cfg->dry_run)
	{
		kv_key(&b, &first, "dryRun");
		mig_buf_puts(&b, "true");
	}
	mig_buf_puts(&b, "}}}");
	if (b.oom)
	{
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
		goto done;
	}
	scrub_buf(&b, cfg->cloud_token);
	if (mig_buf_append(out, b.data, b.len) != MIG_OK)
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");

done:
	mig_buf_free(&b);
	mig_free(dir_name);
	return rc;
}

int
mig_cloud_send(const mig_run_cfg *cfg, const mig_cloud_opts *opts, mig_db *db,
			   const char *body, size_t len, char **deploy_url, mig_err *err)
{
	mig_cloud_opts o;
	endpoint	ep;
	mig_buf		resp;
	long		status = 0;
	int			tries = 0;
	int			rc;

	*deploy_url = NULL;
	memset(&ep, 0, sizeof(ep));
	mig_buf_init(&resp);
	if (opts)
		o = *opts;
	else
		mig_cloud_opts_init(&o, cfg);
	if (body == NULL || len == 0)
	{
		rc = mig_err_set(err, MIG_EINVAL, "atlas cloud: empty report body");
		goto done;
	}
	if ((rc = check_token(cfg->cloud_token, err)) != MIG_OK)
		goto done;
	if ((rc = endpoint_open(cfg, &ep, err)) != MIG_OK)
		goto done;
	rc = http_post(cfg, &o, db, &ep, body, len, &status, &resp, &tries, err);
	if (rc == MIG_OK)
		rc = mig_cloud_parse_response(resp.data, resp.len, status, "reportMigration.url",
									  deploy_url, err);
	if (rc != MIG_OK && rc != MIG_ENOMEM)
	{
		mig_err_prefix(err, "atlas cloud: reporting the deployment to %.300s: ", ep.shown);
		if (rc == MIG_ECLOUD && tries > 1)
			mig_err_detail(err, "The request was tried %d times.", tries);
		if (status == 401)
			mig_err_hint(err, "Check atlas { cloud { token } } in atlas.hcl, for example getenv(\"ATLAS_TOKEN\") in the database server's environment.");
	}

done:
	if (rc != MIG_OK)
		scrub_err(err, cfg->cloud_token);
	endpoint_close(&ep);
	mig_buf_free(&resp);
	return rc;
}
