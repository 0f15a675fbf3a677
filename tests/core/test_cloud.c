/*
 * test_cloud.c - the Atlas Cloud client (§j) against the stand-in server
 * (tests/cloud/server.py), over HTTP and HTTPS with a CA made at test time.
 *
 * Every fault the stand-in can play ends in a clear error naming the
 * endpoint and what failed, nothing is taken from a bad directory, cancels
 * and timeouts end the call in time, reports can fail and be re-sent, and
 * the token appears in no error, log line or report (checked last, by
 * grepping everything the tests produced).
 *
 * Skips loudly when /usr/bin/python3 or the stand-in is missing; the TLS
 * cases also need the openssl command.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "testutil.h"
#include "cloud.h"

#define PYTHON "/usr/bin/python3"
#define TOKEN "aci_T0ken-Secret-4f9d2c81b7e6a0"
#define OTHER_TOKEN "aci_Wrong-Token-1234567890abcdef"

/* ---------------------------------------------------------------- the stand-in */

typedef struct standin {
	pid_t		pid;
	int			port;
	bool		tls;
	char		url[300];		/* .../query */
	char		base[256];		/* scheme://host:port */
	char		log[PATH_MAX];
	char		reports[PATH_MAX];
} standin;

static struct {
	bool		ok;				/* python and the stand-in are there and running */
	bool		have_tls;
	char	   *tmp;
	char		server_py[PATH_MAX];
	char		mkcert[PATH_MAX];
	char		dirs[PATH_MAX];
	char		token_file[PATH_MAX];
	char		ca[PATH_MAX];
	char		other_ca[PATH_MAX];
	standin		http;
	standin		https;
	mig_buf		seen;			/* every error text the tests produced */
} G;

#define NEED_STANDIN() \
	do { \
		if (!G.ok) \
			TU_MISSING("the stand-in Cloud server could not run (needs " PYTHON " and tests/cloud/server.py)"); \
	} while (0)

#define NEED_TLS() \
	do { \
		NEED_STANDIN(); \
		if (!G.have_tls) \
			TU_MISSING("no TLS material for the HTTPS stand-in (needs the openssl command)"); \
	} while (0)

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keep an error's texts for the final token grep. */
static void
seen_err(const mig_err *err)
{
	mig_buf_printf(&G.seen, "%s\n%s\n%s\n", err->msg, err->detail, err->hint);
}

/* Look for a file relative to the working directory, then to the test binary. */
static bool
locate(const char *rel, char *out)
{
	char		exe[PATH_MAX];
	ssize_t		n;
	char	   *slash;
	int			up;

	if (access(rel, R_OK) == 0 && realpath(rel, out) != NULL)
		return true;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	/* build/tests[-san]/test_cloud -> repo root */
	for (up = 0; up < 3 && (slash = strrchr(exe, '/')) != NULL; up++)
		*slash = '\0';
	{
		char		p[PATH_MAX + 256];

		snprintf(p, sizeof(p), "%s/%s", exe, rel);
		return access(p, R_OK) == 0 && realpath(p, out) != NULL;
	}
}

static void
write_text(const char *dir, const char *name, const char *text)
{
	char		p[PATH_MAX + 256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
}

/* A served directory: the files and a correct atlas.sum (§b). */
static void
make_served_dir(const char *rel, const char *const *names, const char *const *datas, size_t n)
{
	char		path[PATH_MAX + 256];
	mig_dir		d;
	mig_buf		sum;
	mig_err		err;
	size_t		i;
	char		cmd[PATH_MAX + 300];

	snprintf(path, sizeof(path), "%s/%s", G.dirs, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
	assert_int_equal(system(cmd), 0);
	mig_dir_init(&d);
	for (i = 0; i < n; i++)
	{
		write_text(path, names[i], datas[i]);
		assert_int_equal(mig_dir_add(&d, names[i], datas[i], strlen(datas[i]), &err), MIG_OK);
	}
	assert_int_equal(mig_dir_finish(&d, &err), MIG_OK);
	if (n > 0)
	{
		mig_buf_init(&sum);
		assert_int_equal(mig_sum_format(&d, &sum), MIG_OK);
		write_text(path, "atlas.sum", sum.data);
		mig_buf_free(&sum);
	}
	mig_dir_free(&d);
}

static bool
start_standin(standin *s, const char *name, bool tls)
{
	char		portfile[PATH_MAX + 64],
				cert[PATH_MAX + 64],
				key[PATH_MAX + 64];
	const char *argv[24];
	int			argc = 0;
	int64_t		until;

	memset(s, 0, sizeof(*s));
	s->tls = tls;
	snprintf(portfile, sizeof(portfile), "%s/%s.port", G.tmp, name);
	snprintf(s->log, sizeof(s->log), "%s/%s.log", G.tmp, name);
	snprintf(s->reports, sizeof(s->reports), "%s/%s.reports", G.tmp, name);
	snprintf(cert, sizeof(cert), "%s/tls/server.pem", G.tmp);
	snprintf(key, sizeof(key), "%s/tls/server.key", G.tmp);
	argv[argc++] = "python3";
	argv[argc++] = G.server_py;
	argv[argc++] = "--port";
	argv[argc++] = "0";
	argv[argc++] = "--port-file";
	argv[argc++] = portfile;
	argv[argc++] = "--dirs";
	argv[argc++] = G.dirs;
	argv[argc++] = "--token-file";
	argv[argc++] = G.token_file;
	argv[argc++] = "--reports-file";
	argv[argc++] = s->reports;
	argv[argc++] = "--log-file";
	argv[argc++] = s->log;
	if (tls)
	{
		argv[argc++] = "--tls-cert";
		argv[argc++] = cert;
		argv[argc++] = "--tls-key";
		argv[argc++] = key;
	}
	argv[argc] = NULL;

	s->pid = fork();
	if (s->pid < 0)
		return false;
	if (s->pid == 0)
	{
		int			fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0)
		{
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(PYTHON, (char *const *) argv);
		_exit(127);
	}
	until = now_ms() + 15000;
	while (now_ms() < until)
	{
		char	   *txt = tu_read_file(portfile, NULL);
		int			status;

		if (txt)
		{
			s->port = atoi(txt);
			free(txt);
			snprintf(s->base, sizeof(s->base), "%s://%s:%d", tls ? "https" : "http",
					 tls ? "localhost" : "127.0.0.1", s->port);
			snprintf(s->url, sizeof(s->url), "%s/query", s->base);
			return s->port > 0;
		}
		if (waitpid(s->pid, &status, WNOHANG) == s->pid)
		{
			s->pid = 0;
			return false;
		}
		usleep(20000);
	}
	return false;
}

static void
stop_standin(standin *s)
{
	if (s->pid > 0)
	{
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
}

/* A raw request to the stand-in (control, stats, or a hand-made query). */
static long
raw_request(const standin *s, const char *path, const char *body, const char *auth, mig_buf *out)
{
	CURL	   *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char		url[512],
				a[256];
	long		status = 0;
	FILE	   *mem;
	char	   *ptr = NULL;
	size_t		sz = 0;

	assert_non_null(h);
	snprintf(url, sizeof(url), "%s%s", s->base, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	if (s->tls)
		curl_easy_setopt(h, CURLOPT_CAINFO, G.ca);
	if (body)
	{
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	}
	if (auth)
	{
		snprintf(a, sizeof(a), "Authorization: Bearer %s", auth);
		hdrs = curl_slist_append(hdrs, a);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	mem = open_memstream(&ptr, &sz);
	assert_non_null(mem);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fwrite);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	fclose(mem);
	if (out)
		mig_buf_append(out, ptr, sz);
	free(ptr);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return status;
}

/* Set the stand-in's fault mode (and reset its statistics). */
static void
ctl(const standin *s, const char *json)
{
	char		body[512];

	snprintf(body, sizeof(body), "{\"reset\":true,%s}", json);
	assert_int_equal(raw_request(s, "/control", body, NULL, NULL), 200);
}

/* Requests the stand-in saw for op (NULL = all), optionally with the last UA. */
static int
count_requests(const standin *s, const char *op, char *ua, size_t uasz)
{
	mig_buf		b;
	cJSON	   *j,
			   *r;
	int			n = 0;

	mig_buf_init(&b);
	assert_int_equal(raw_request(s, "/stats", NULL, NULL, &b), 200);
	j = cJSON_Parse(b.data);
	assert_non_null(j);
	cJSON_ArrayForEach(r, cJSON_GetObjectItem(j, "requests"))
	{
		const char *o = cJSON_GetObjectItem(r, "op")->valuestring;

		if (op == NULL || strcmp(o, op) == 0)
		{
			n++;
			if (ua)
				snprintf(ua, uasz, "%s", cJSON_GetObjectItem(r, "ua")->valuestring);
		}
	}
	cJSON_Delete(j);
	mig_buf_free(&b);
	return n;
}

/* Lines of a file containing needle. */
static int
count_lines_with(const char *path, const char *needle)
{
	char	   *txt = tu_read_file(path, NULL);
	char	   *p;
	int			n = 0;

	if (txt == NULL)
		return 0;
	for (p = strtok(txt, "\n"); p; p = strtok(NULL, "\n"))
		if (strstr(p, needle))
			n++;
	free(txt);
	return n;
}

/* ---------------------------------------------------------------- a host stand-in */

typedef struct cdb {
	mig_db		base;
	int64_t		stop_at;		/* interrupted() turns true at this time (0 = never) */
	int			polls;
} cdb;

static int
cdb_interrupted(mig_db *db)
{
	cdb		   *c = (cdb *) db;

	c->polls++;
	return c->stop_at != 0 && now_ms() >= c->stop_at;
}

static void
cdb_init(cdb *c)
{
	memset(c, 0, sizeof(*c));
	c->base.name = "sqlite";
	c->base.driver = "sqlite3";
	c->base.version = "3.40.1";
	c->base.interrupted = cdb_interrupted;
}

static void
cfg_init(mig_run_cfg *c, const standin *s, const char *dir_url)
{
	memset(c, 0, sizeof(*c));
	c->env_name = "prod";
	c->dir_url = (char *) dir_url;
	c->dir_url_redacted = (char *) dir_url;
	c->db_url_redacted = "sqlite://file.db";
	c->cloud = true;
	c->cloud_dir = true;
	c->cloud_token = TOKEN;
	c->cloud_url = s ? (char *) s->url : NULL;
	c->cloud_project = "proj";
	c->cloud_ca_file = s && s->tls ? G.ca : NULL;
}

static int
fetch(const mig_run_cfg *cfg, const mig_cloud_opts *o, mig_db *db, mig_dir *d, mig_err *err)
{
	int			rc;

	mig_dir_init(d);
	mig_err_clear(err);
	rc = mig_cloud_fetch_dir(cfg, o, db, d, err);
	if (rc != MIG_OK)
	{
		seen_err(err);
		print_message("# error: %s\n", err->msg);
	}
	return rc;
}

/* Fetch atlas://<dir> from s in fault mode `mode`; expect rc and a message piece. */
static void
fetch_expect(standin *s, const char *mode_json, const char *dir, int want_rc, const char *want_msg)
{
	mig_run_cfg cfg;
	mig_dir		d;
	mig_err		err;
	cdb			db;

	ctl(s, mode_json);
	cdb_init(&db);
	cfg_init(&cfg, s, dir);
	assert_int_equal(fetch(&cfg, NULL, &db.base, &d, &err), want_rc);
	if (want_msg && strstr(err.msg, want_msg) == NULL)
		fail_msg("expected \"%s\" in: %s", want_msg, err.msg);
	if (want_rc != MIG_OK)
	{
		/* the endpoint and the directory are named */
		if (want_rc == MIG_ECLOUD && (strstr(err.msg, dir) == NULL || strstr(err.msg, s->url) == NULL))
			fail_msg("error does not name the dir and endpoint: %s", err.msg);
		assert_null(strstr(err.msg, TOKEN));
	}
	mig_dir_free(&d);
}

/* ---------------------------------------------------------------- setup */

static int
group_setup(void **state)
{
	char		p[PATH_MAX + 64];
	char		cmd[3 * PATH_MAX];
	static const char *app_names[] = {"1_init.sql", "2_more.sql"};
	static const char *app_datas[] = {"CREATE TABLE t(c int);\n", "ALTER TABLE t ADD COLUMN d int;\n"};
	static const char *v1_names[] = {"1_init.sql"};
	static const char *v1_datas[] = {"CREATE TABLE t(c int);\n"};
	static const char *team_names[] = {"20240101000000_x.sql"};
	static const char *team_datas[] = {"CREATE TABLE x(a int);\n"};

	(void) state;
	memset(&G, 0, sizeof(G));
	mig_buf_init(&G.seen);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (access(PYTHON, X_OK) != 0)
	{
		print_message("# WARNING: %s not found: every stand-in test is SKIPPED\n", PYTHON);
		return 0;
	}
	if (!locate("tests/cloud/server.py", G.server_py) || !locate("tests/cloud/mkcert.sh", G.mkcert))
	{
		print_message("# WARNING: tests/cloud/server.py not found: every stand-in test is SKIPPED\n");
		return 0;
	}
	G.tmp = tu_mkdtemp();
	assert_non_null(G.tmp);
	snprintf(G.dirs, sizeof(G.dirs), "%s/dirs", G.tmp);
	snprintf(G.token_file, sizeof(G.token_file), "%s/token", G.tmp);
	assert_int_equal(tu_write_file(G.token_file, TOKEN "\n", strlen(TOKEN) + 1), 0);
	make_served_dir("app", app_names, app_datas, 2);
	make_served_dir("app@v1", v1_names, v1_datas, 1);
	make_served_dir("team/app", team_names, team_datas, 1);
	make_served_dir("bare", NULL, NULL, 0);

	snprintf(cmd, sizeof(cmd), "/bin/sh '%s' '%s/tls' >/dev/null 2>&1", G.mkcert, G.tmp);
	G.have_tls = system(cmd) == 0;
	snprintf(G.ca, sizeof(G.ca), "%s/tls/ca.pem", G.tmp);
	snprintf(G.other_ca, sizeof(G.other_ca), "%s/tls/other-ca.pem", G.tmp);
	if (!G.have_tls)
		print_message("# WARNING: mkcert.sh failed (openssl missing?): TLS tests are SKIPPED\n");

	G.ok = start_standin(&G.http, "http", false);
	if (!G.ok)
	{
		snprintf(p, sizeof(p), "%s/http.log", G.tmp);
		print_message("# WARNING: the stand-in did not start (see %s): stand-in tests are SKIPPED\n", p);
		return 0;
	}
	if (G.have_tls && !start_standin(&G.https, "https", true))
	{
		print_message("# WARNING: the HTTPS stand-in did not start: TLS tests are SKIPPED\n");
		G.have_tls = false;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	stop_standin(&G.http);
	stop_standin(&G.https);
	if (G.tmp && getenv("KEEP_TMP") == NULL)
		tu_rmtree(G.tmp);
	free(G.tmp);
	mig_buf_free(&G.seen);
	curl_global_cleanup();
	return 0;
}

/* ---------------------------------------------------------------- no server needed */

/* §j.1: 1, 2, 4, 8 s, capped at 30 s; Retry-After; near zero on loopback. */
static void
test_backoff(void **state)
{
	mig_cloud_opts o;

	(void) state;
	mig_cloud_opts_init(&o, NULL);
	assert_int_equal(o.attempts, 5);
	assert_int_equal(o.timeout_ms, 60000);
	assert_int_equal(o.connect_timeout_ms, 10000);
	assert_int_equal(o.max_response, 64u << 20);
	assert_int_equal(mig_cloud_backoff_ms(&o, 1, -1, false), 1000);
	assert_int_equal(mig_cloud_backoff_ms(&o, 2, -1, false), 2000);
	assert_int_equal(mig_cloud_backoff_ms(&o, 3, -1, false), 4000);
	assert_int_equal(mig_cloud_backoff_ms(&o, 4, -1, false), 8000);
	assert_int_equal(mig_cloud_backoff_ms(&o, 6, -1, false), 30000);
	assert_int_equal(mig_cloud_backoff_ms(&o, 40, -1, false), 30000);
	assert_int_equal(mig_cloud_backoff_ms(&o, 1, 3, false), 3000);
	assert_int_equal(mig_cloud_backoff_ms(&o, 1, 0, false), 0);
	assert_int_equal(mig_cloud_backoff_ms(&o, 1, 600, false), 30000);
	assert_int_equal(mig_cloud_backoff_ms(&o, 1, -1, true), 1);
	assert_int_equal(mig_cloud_backoff_ms(&o, 4, -1, true), 8);
	assert_int_equal(mig_cloud_backoff_ms(&o, 1, 3, true), 3);
	{
		mig_run_cfg cfg;

		cfg_init(&cfg, NULL, "atlas://app");
		cfg.cloud_timeout_ms = 1500;
		mig_cloud_opts_init(&o, &cfg);
		assert_int_equal(o.timeout_ms, 1500);
	}
}

/* DESIGN §6.11 */
static void
test_user_agent(void **state)
{
	char		ua[256];
	cdb			db;

	(void) state;
	cdb_init(&db);
	mig_cloud_user_agent(&db.base, ua, sizeof(ua));
	assert_memory_equal(ua, "atlas_migrate/" MIG_VERSION " (sqlite 3.40.1; linux/", 38);
	assert_int_equal(ua[strlen(ua) - 1], ')');
#if defined(__x86_64__)
	assert_string_equal(ua, "atlas_migrate/" MIG_VERSION " (sqlite 3.40.1; linux/amd64)");
#endif
	db.base.name = "postgres";
	db.base.version = NULL;
	mig_cloud_user_agent(&db.base, ua, sizeof(ua));
	assert_memory_equal(ua, "atlas_migrate/" MIG_VERSION " (postgres; linux/", 32);
	mig_cloud_user_agent(NULL, ua, sizeof(ua));
	assert_memory_equal(ua, "atlas_migrate/" MIG_VERSION " (linux/", 21);
}

/* §j.2, as a table. */
static void
test_parse_response(void **state)
{
	static const struct {
		long		status;
		const char *field;
		const char *body;
		int			rc;
		const char *value;		/* expected value, NULL = none */
		const char *msg;		/* exact message for errors */
	}			cases[] = {
		{200, "dirState.content", "{\"data\":{\"dirState\":{\"content\":\"QUJD\"}}}", MIG_OK, "QUJD", NULL},
		{200, "dirState.content", "{\"data\":{\"dirState\":{\"content\":\"QQ==\"}}} trailing", MIG_OK, "QQ==", NULL},
		{200, "dirState.content", "", MIG_OK, NULL, NULL},
		{200, "dirState.content", " \n\t", MIG_OK, NULL, NULL},
		{200, "dirState.content", "null", MIG_OK, NULL, NULL},
		{200, "dirState.content", "{}", MIG_OK, NULL, NULL},
		{200, "dirState.content", "{\"data\":null}", MIG_OK, NULL, NULL},
		{200, "dirState.content", "{\"data\":{\"dirState\":null}}", MIG_OK, NULL, NULL},
		{200, "dirState.content", "{\"data\":{\"dirState\":{\"content\":null}}}", MIG_OK, NULL, NULL},
		{200, "dirState.content", "{\"data\":{\"x\":1},\"errors\":[]}", MIG_OK, NULL, NULL},
		{200, "reportMigration.url", "{\"data\":{\"reportMigration\":{\"url\":\"https://x/deployments/1\"}}}",
		MIG_OK, "https://x/deployments/1", NULL},
		{200, "dirState.content", "{\"data\":{\"dirState\":{\"content\":5}}}", MIG_ECLOUD, NULL,
		"decoding response: data.dirState.content is not a string"},
		{200, "dirState.content", "{\"data\":[1]}", MIG_ECLOUD, NULL,
		"decoding response: data is not an object"},
		{200, "dirState.content", "{\"data\":{\"dirState\":[1]}}", MIG_ECLOUD, NULL,
		"decoding response: data.dirState is not an object"},
		{200, "dirState.content", "{\"data\": {", MIG_ECLOUD, NULL,
		"decoding response: unexpected EOF"},
		{200, "dirState.content", "<html>", MIG_ECLOUD, NULL,
		"decoding response: invalid character '<' at byte 0"},
		{200, "dirState.content", "{\"data\": x}", MIG_ECLOUD, NULL,
		"decoding response: invalid character 'x' at byte 9"},
		{200, "dirState.content", "[1]", MIG_ECLOUD, NULL,
		"decoding response: the reply is not a JSON object"},
		{200, "dirState.content", "{\"errors\":\"x\"}", MIG_ECLOUD, NULL,
		"decoding response: \"errors\" is not a list"},
		/* §j.2 example */
		{200, "dirState.content", "{\"errors\":[{\"message\":\"error\\n\",\"path\":[\"variable\",\"input\",\"driver\"]}]}",
		MIG_ECLOUD, NULL, "variable.input.driver error"},
		{200, "dirState.content", "{\"data\":{\"dirState\":{\"content\":\"QQ==\"}},\"errors\":[{\"message\":\"denied\"}]}",
		MIG_ECLOUD, NULL, "denied"},
		{200, "dirState.content",
			"{\"errors\":[{\"message\":\"m\",\"locations\":[{\"line\":3,\"column\":5}],\"path\":[\"a\",1,\"b\"],"
			"\"extensions\":{\"file\":\"f.graphql\"}},{\"message\":\"second\"}]}",
		MIG_ECLOUD, NULL, "f.graphql:3: a[1].b m\ninput: second"},
		{200, "dirState.content", "{\"errors\":[{}]}", MIG_ECLOUD, NULL,
		"the server returned a GraphQL error without a message"},
		{401, "dirState.content", "{\"data\":{\"dirState\":{\"content\":\"QQ==\"}}}", MIG_ECLOUD, NULL,
		"unauthorized (401): check the cloud token"},
		{500, "dirState.content", "internal error\n", MIG_ECLOUD, NULL, "unexpected error code 500: internal error"},
		{403, "dirState.content", "Forbidden", MIG_ECLOUD, NULL, "unexpected error code 403: Forbidden"},
		{502, "dirState.content", "", MIG_ECLOUD, NULL, "unexpected error code 502: "},
		{500, "dirState.content", "{\"errors\":[{\"message\":\"boom\"}]}", MIG_ECLOUD, NULL, "boom"},
		{500, "dirState.content", "{\"errors\":[]}", MIG_ECLOUD, NULL, "unexpected error code 500: {\"errors\":[]}"},
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char	   *v = (char *) "unset";
		mig_err		err;
		int			rc;

		mig_err_clear(&err);
		rc = mig_cloud_parse_response(cases[i].body, strlen(cases[i].body), cases[i].status,
									  cases[i].field, &v, &err);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err.msg);
		if (rc == MIG_OK)
		{
			if (cases[i].value == NULL)
				assert_null(v);
			else
				assert_string_equal(v, cases[i].value);
		}
		else
		{
			assert_null(v);
			if (strcmp(err.msg, cases[i].msg) != 0)
				fail_msg("case %zu: message \"%s\", want \"%s\"", i, err.msg, cases[i].msg);
		}
		mig_free(v);
	}
	{
		/* a NULL body is an empty one */
		char	   *v;
		mig_err		err;

		assert_int_equal(mig_cloud_parse_response(NULL, 0, 200, "dirState.content", &v, &err), MIG_OK);
		assert_null(v);
	}
}

/*
 * A dirState reply must answer the query: only the content may be null or
 * "" (§c.3, an empty directory); an empty 200 body, a null data or a
 * missing dirState is a broken endpoint.
 */
static void
test_parse_required(void **state)
{
	static const struct {
		const char *body;
		const char *value;		/* expected value when OK */
		const char *msg;		/* exact message, NULL = OK */
	}			cases[] = {
		{"{\"data\":{\"dirState\":{\"content\":\"QUJD\"}}}", "QUJD", NULL},
		{"{\"data\":{\"dirState\":{\"content\":\"\"}}}", "", NULL},
		{"{\"data\":{\"dirState\":{\"content\":null}}}", NULL, NULL},
		{"", NULL, "decoding response: an empty reply, expected data.dirState.content"},
		{" \n", NULL, "decoding response: an empty reply, expected data.dirState.content"},
		{"null", NULL, "decoding response: a null reply, expected data.dirState.content"},
		{"{}", NULL, "decoding response: the reply has no data"},
		{"{\"data\":null}", NULL, "decoding response: the reply has no data"},
		{"{\"data\":{}}", NULL, "decoding response: the reply has no data.dirState"},
		{"{\"data\":{\"dirState\":null}}", NULL, "decoding response: the reply has no data.dirState"},
		{"{\"data\":{\"dirState\":{}}}", NULL, "decoding response: the reply has no data.dirState.content"},
		{"{\"data\":null,\"errors\":[{\"message\":\"denied\"}]}", NULL, "denied"},
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char	   *v = (char *) "unset";
		mig_err		err;
		int			rc;

		mig_err_clear(&err);
		rc = mig_cloud_parse_required(cases[i].body, strlen(cases[i].body), 200,
									  "dirState.content", &v, &err);
		if (cases[i].msg == NULL)
		{
			if (rc != MIG_OK)
				fail_msg("case %zu: rc %d (%s)", i, rc, err.msg);
			if (cases[i].value == NULL)
				assert_null(v);
			else
				assert_string_equal(v, cases[i].value);
		}
		else
		{
			if (rc != MIG_ECLOUD || strcmp(err.msg, cases[i].msg) != 0)
				fail_msg("case %zu: rc %d, message \"%s\", want \"%s\"", i, rc, err.msg, cases[i].msg);
			assert_null(v);
		}
		mig_free(v);
	}
}

/* Input errors found before any request. */
static void
test_input_errors(void **state)
{
	mig_run_cfg cfg;
	mig_dir		d;
	mig_err		err;
	cdb			db;
	char	   *url = NULL;

	(void) state;
	cdb_init(&db);

	cfg_init(&cfg, NULL, "atlas://app?version=20231201182011");
	cfg.cloud_url = "http://127.0.0.1:1/query";
	assert_int_equal(fetch(&cfg, NULL, &db.base, &d, &err), MIG_ENOTSUP);
	assert_non_null(strstr(err.msg, "?version= is not supported"));
	assert_non_null(strstr(err.hint, "atlas://app?tag=<tag>"));
	mig_dir_free(&d);

	cfg_init(&cfg, NULL, "atlas://");
	assert_int_equal(fetch(&cfg, NULL, &db.base, &d, &err), MIG_EINVAL);
	assert_non_null(strstr(err.msg, "no directory name"));
	mig_dir_free(&d);

	cfg_init(&cfg, NULL, "file://migrations");
	assert_int_equal(fetch(&cfg, NULL, &db.base, &d, &err), MIG_EINVAL);
	mig_dir_free(&d);

	/* plain http only to loopback: the token must not cross a network in clear */
	cfg_init(&cfg, NULL, "atlas://app");
	cfg.cloud_url = "http://cloud.example.com/query";
	assert_int_equal(fetch(&cfg, NULL, &db.base, &d, &err), MIG_ECONFIG);
	assert_non_null(strstr(err.msg, "plain http"));
	mig_dir_free(&d);

	cfg.cloud_url = "ftp://127.0.0.1/query";
	assert_int_equal(fetch(&cfg, NULL, &db.base, &d, &err), MIG_ECONFIG);
	assert_non_null(strstr(err.msg, "unsupported scheme"));
	mig_dir_free(&d);

	cfg.cloud_url = "::not a url::";
	assert_int_equal(fetch(&cfg, NULL, &db.base, &d, &err), MIG_ECONFIG);
	assert_non_null(strstr(err.msg, "invalid cloud url"));
	mig_dir_free(&d);

	/* a token that would break the header: refused, and not printed */
	cfg.cloud_url = "http://127.0.0.1:1/query";
	cfg.cloud_token = TOKEN "\r\nX-Evil: 1";
	assert_int_equal(fetch(&cfg, NULL, &db.base, &d, &err), MIG_ECONFIG);
	assert_non_null(strstr(err.msg, "control character"));
	assert_null(strstr(err.msg, TOKEN));
	mig_dir_free(&d);

	/* the same checks guard mig_cloud_send */
	cfg.cloud_token = TOKEN;
	cfg.cloud_url = "http://cloud.example.com/query";
	assert_int_equal(mig_cloud_send(&cfg, NULL, &db.base, "{}", 2, &url, &err), MIG_ECONFIG);
	assert_null(url);
	assert_int_equal(mig_cloud_send(&cfg, NULL, &db.base, NULL, 0, &url, &err), MIG_EINVAL);
	seen_err(&err);
}

/* ---------------------------------------------------------------- dirState */

static void
test_fetch_ok(void **state)
{
	mig_run_cfg cfg;
	mig_dir		d;
	mig_err		err;
	cdb			db;
	char		ua[256] = "";

	(void) state;
	NEED_STANDIN();
	ctl(&G.http, "\"mode\":\"ok\"");
	cdb_init(&db);
	cfg_init(&cfg, &G.http, "atlas://app");
	assert_int_equal(fetch(&cfg, NULL, &db.base, &d, &err), MIG_OK);
	assert_true(d.finished);
	assert_int_equal(d.nfiles, 2);
	assert_string_equal(d.files[0].name, "1_init.sql");
	assert_string_equal(d.files[1].name, "2_more.sql");
	assert_string_equal(d.files[1].data, "ALTER TABLE t ADD COLUMN d int;\n");
	assert_non_null(d.sum);
	assert_int_equal(mig_sum_verify(&d, &err), MIG_OK);
	mig_dir_free(&d);
	assert_int_equal(count_requests(&G.http, "dirState", ua, sizeof(ua)), 1);
	assert_memory_equal(ua, "atlas_migrate/" MIG_VERSION " (sqlite 3.40.1; linux/", 38);
	/* the transfer polled the host for interrupts */
	assert_true(db.polls > 0);
}

/* The stand-in archives as §c.2 says: byte-identical to mig_archive_write. */
static void
test_standin_archive_matches_writer(void **state)
{
	mig_buf		resp,
				mine;
	cJSON	   *j;
	const char *content;
	unsigned char *tar;
	long		n;
	mig_run_cfg cfg;
	mig_dir		d;
	mig_err		err;

	(void) state;
	NEED_STANDIN();
	ctl(&G.http, "\"mode\":\"ok\"");
	mig_buf_init(&resp);
	assert_int_equal(raw_request(&G.http, "/query",
								 "{\"query\":\"query dirState($input: DirStateInput!) {\\n  dirState(input: $input) {\\n    content\\n  }\\n}\","
								 "\"variables\":{\"input\":{\"name\":\"app\"}}}", TOKEN, &resp), 200);
	j = cJSON_Parse(resp.data);
	assert_non_null(j);
	content = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "dirState"),
								  "content")->valuestring;
	tar = malloc(strlen(content));
	n = mig_base64_decode(content, strlen(content), tar);
	assert_true(n > 0);

	cfg_init(&cfg, &G.http, "atlas://app");
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_OK);
	mig_buf_init(&mine);
	assert_int_equal(mig_archive_write(&d, &mine), MIG_OK);
	assert_int_equal(mine.len, (size_t) n);
	assert_memory_equal(mine.data, tar, (size_t) n);

	mig_buf_free(&mine);
	mig_dir_free(&d);
	free(tar);
	cJSON_Delete(j);
	mig_buf_free(&resp);
}

static void
test_fetch_tag_and_names(void **state)
{
	mig_run_cfg cfg;
	mig_dir		d;
	mig_err		err;

	(void) state;
	NEED_STANDIN();
	ctl(&G.http, "\"mode\":\"ok\"");
	cfg_init(&cfg, &G.http, "atlas://app?tag=v1");
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_OK);
	assert_int_equal(d.nfiles, 1);
	mig_dir_free(&d);

	cfg_init(&cfg, &G.http, "atlas://team/app");
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_OK);
	assert_int_equal(d.nfiles, 1);
	assert_string_equal(d.files[0].name, "20240101000000_x.sql");
	mig_dir_free(&d);

	/* a directory with nothing in it: valid, nothing pending */
	cfg_init(&cfg, &G.http, "atlas://bare");
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_OK);
	assert_int_equal(d.nfiles, 0);
	mig_dir_free(&d);

	fetch_expect(&G.http, "\"mode\":\"ok\"", "atlas://app?tag=nope", MIG_ECLOUD,
				 "dirState tag \"nope\" of dir \"app\" not found");
	fetch_expect(&G.http, "\"mode\":\"ok\"", "atlas://nope", MIG_ECLOUD, "dirState dir \"nope\" not found");
	fetch_expect(&G.http, "\"mode\":\"empty\"", "atlas://app", MIG_OK, NULL);
	/* a 200 that does not answer dirState is an error, not an empty directory */
	fetch_expect(&G.http, "\"mode\":\"empty_body\"", "atlas://app", MIG_ECLOUD,
				 "decoding response: an empty reply, expected data.dirState.content");
	fetch_expect(&G.http, "\"mode\":\"data_null\"", "atlas://app", MIG_ECLOUD,
				 "decoding response: the reply has no data");
	fetch_expect(&G.http, "\"mode\":\"no_dir_state\"", "atlas://app", MIG_ECLOUD,
				 "decoding response: the reply has no data.dirState");
	ctl(&G.http, "\"mode\":\"ok\"");
}

static void
test_fetch_unauthorized(void **state)
{
	mig_run_cfg cfg;
	mig_dir		d;
	mig_err		err;

	(void) state;
	NEED_STANDIN();
	ctl(&G.http, "\"mode\":\"ok\"");
	cfg_init(&cfg, &G.http, "atlas://app");
	cfg.cloud_token = OTHER_TOKEN;
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_ECLOUD);
	assert_non_null(strstr(err.msg, "unauthorized (401): check the cloud token"));
	assert_non_null(strstr(err.hint, "cloud { token }"));
	assert_null(strstr(err.msg, OTHER_TOKEN));
	assert_int_equal(d.nfiles, 0);
	mig_dir_free(&d);
	/* a 401 is not retried */
	assert_int_equal(count_requests(&G.http, NULL, NULL, 0), 1);

	fetch_expect(&G.http, "\"mode\":\"401\"", "atlas://app", MIG_ECLOUD,
				 "unauthorized (401): check the cloud token");
}

/* §j.1 retries: 5xx (not 501) and 429 are retried, the rest are not. */
static void
test_fetch_retries(void **state)
{
	int64_t		t0;

	(void) state;
	NEED_STANDIN();
	t0 = now_ms();
	fetch_expect(&G.http, "\"mode\":\"500\",\"count\":2", "atlas://app", MIG_OK, NULL);
	assert_int_equal(count_requests(&G.http, "dirState", NULL, 0), 3);
	fetch_expect(&G.http, "\"mode\":\"503\",\"count\":1", "atlas://app", MIG_OK, NULL);
	assert_int_equal(count_requests(&G.http, "dirState", NULL, 0), 2);
	fetch_expect(&G.http, "\"mode\":\"429\",\"count\":3", "atlas://app", MIG_OK, NULL);
	assert_int_equal(count_requests(&G.http, "dirState", NULL, 0), 4);
	/* loopback: waits near zero (Retry-After: 1 included) */
	assert_true(now_ms() - t0 < 3000);

	fetch_expect(&G.http, "\"mode\":\"status\",\"code\":501,\"body\":\"not implemented\"", "atlas://app",
				 MIG_ECLOUD, "unexpected error code 501: not implemented");
	assert_int_equal(count_requests(&G.http, "dirState", NULL, 0), 1);
	fetch_expect(&G.http, "\"mode\":\"status\",\"code\":403,\"body\":\"Forbidden\"", "atlas://app",
				 MIG_ECLOUD, "unexpected error code 403: Forbidden");
	assert_int_equal(count_requests(&G.http, "dirState", NULL, 0), 1);
}

static void
test_fetch_500_gives_up(void **state)
{
	mig_run_cfg cfg;
	mig_dir		d;
	mig_err		err;

	(void) state;
	NEED_STANDIN();
	ctl(&G.http, "\"mode\":\"500\"");
	cfg_init(&cfg, &G.http, "atlas://app");
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_ECLOUD);
	mig_dir_free(&d);
	assert_int_equal(count_requests(&G.http, "dirState", NULL, 0), 5);
	{
		char		want[512];

		snprintf(want, sizeof(want),
				 "atlas cloud: fetching atlas://app from %s: unexpected error code 500: internal error",
				 G.http.url);
		assert_string_equal(err.msg, want);
	}
	assert_string_equal(err.detail, "The request was tried 5 times.");

	/* a JSON error list on a 5xx is rendered */
	fetch_expect(&G.http, "\"mode\":\"graphql_error_500\"", "atlas://app", MIG_ECLOUD,
				 ": variable.input.driver error");
}

static void
test_fetch_bad_replies(void **state)
{
	(void) state;
	NEED_STANDIN();
	fetch_expect(&G.http, "\"mode\":\"graphql_error\"", "atlas://app", MIG_ECLOUD,
				 "dirState permission denied");
	fetch_expect(&G.http, "\"mode\":\"invalid_json\"", "atlas://app", MIG_ECLOUD,
				 "decoding response: unexpected EOF");
	fetch_expect(&G.http, "\"mode\":\"truncated\"", "atlas://app", MIG_ECLOUD, "transfer closed");
	assert_int_equal(count_requests(&G.http, "dirState", NULL, 0), 5);
	fetch_expect(&G.http, "\"mode\":\"bad_base64\"", "atlas://app", MIG_ECLOUD,
				 "decoding response: dirState.content is not valid base64");
}

/* A bad directory: the whole fetch fails and nothing is handed out. */
static void
test_fetch_bad_archives(void **state)
{
	mig_run_cfg cfg;
	mig_dir		d;
	mig_err		err;

	(void) state;
	NEED_STANDIN();
	fetch_expect(&G.http, "\"mode\":\"path_trick\"", "atlas://app", MIG_ECLOUD,
				 "bad archive: entry \"../evil.sql\"");
	fetch_expect(&G.http, "\"mode\":\"absolute\"", "atlas://app", MIG_ECLOUD,
				 "bad archive: entry \"/etc/evil.sql\": absolute path");

	/* tampered: the archive is fine, the content does not match atlas.sum */
	ctl(&G.http, "\"mode\":\"tamper\"");
	cfg_init(&cfg, &G.http, "atlas://app");
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_ECHECKSUM);
	assert_string_equal(err.msg, "checksum mismatch");
	assert_string_equal(err.sum_file, "2_more.sql");
	assert_string_equal(err.sum_reason, "edited");
	mig_dir_free(&d);

	/* an entry over the cap */
	{
		mig_cloud_opts o;

		ctl(&G.http, "\"mode\":\"ok\"");
		mig_cloud_opts_init(&o, &cfg);
		o.max_entry = 10;
		assert_int_equal(fetch(&cfg, &o, NULL, &d, &err), MIG_ECLOUD);
		assert_non_null(strstr(err.msg, "too large"));
		mig_dir_free(&d);
	}
}

/* The response size cap, with and without a Content-Length, and the 64 MiB default. */
static void
test_fetch_oversize(void **state)
{
	mig_run_cfg cfg;
	mig_cloud_opts o;
	mig_dir		d;
	mig_err		err;

	(void) state;
	NEED_STANDIN();
	cfg_init(&cfg, &G.http, "atlas://app");
	mig_cloud_opts_init(&o, &cfg);
	o.max_response = 1 << 20;

	ctl(&G.http, "\"mode\":\"oversize\",\"size\":2097152");
	assert_int_equal(fetch(&cfg, &o, NULL, &d, &err), MIG_ECLOUD);
	assert_non_null(strstr(err.msg, "the response is larger than the limit of 1048576 bytes"));
	mig_dir_free(&d);

	ctl(&G.http, "\"mode\":\"oversize_stream\",\"size\":2097152");
	assert_int_equal(fetch(&cfg, &o, NULL, &d, &err), MIG_ECLOUD);
	assert_non_null(strstr(err.msg, "the response is larger than the limit of 1048576 bytes"));
	mig_dir_free(&d);
	assert_int_equal(count_requests(&G.http, "dirState", NULL, 0), 1);

	ctl(&G.http, "\"mode\":\"oversize_stream\",\"size\":68157440");
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_ECLOUD);
	assert_non_null(strstr(err.msg, "the response is larger than the limit of 67108864 bytes"));
	mig_dir_free(&d);
}

/* A cancel during a hanging fetch returns within about a second. */
static void
test_fetch_hang_interrupted(void **state)
{
	mig_run_cfg cfg;
	mig_dir		d;
	mig_err		err;
	cdb			db;
	int64_t		t0,
				took;

	(void) state;
	NEED_STANDIN();
	ctl(&G.http, "\"mode\":\"hang\"");
	cdb_init(&db);
	cfg_init(&cfg, &G.http, "atlas://app");
	t0 = now_ms();
	db.stop_at = t0 + 500;
	assert_int_equal(fetch(&cfg, NULL, &db.base, &d, &err), MIG_EINTR);
	took = now_ms() - t0;
	print_message("# interrupted after %lld ms\n", (long long) took);
	assert_true(took >= 450 && took < 1500);
	assert_non_null(strstr(err.msg, "interrupted"));
	mig_dir_free(&d);
}

/* A cancel while waiting between attempts is seen at once, too. */
static void
test_fetch_interrupt_during_backoff(void **state)
{
	mig_run_cfg cfg;
	mig_cloud_opts o;
	mig_dir		d;
	mig_err		err;
	cdb			db;
	int64_t		t0,
				took;

	(void) state;
	NEED_STANDIN();
	ctl(&G.http, "\"mode\":\"500\"");
	cdb_init(&db);
	cfg_init(&cfg, &G.http, "atlas://app");
	mig_cloud_opts_init(&o, &cfg);
	o.backoff_min_ms = o.backoff_max_ms = 5000000;	/* 5 s even on loopback */
	t0 = now_ms();
	db.stop_at = t0 + 300;
	assert_int_equal(fetch(&cfg, &o, &db.base, &d, &err), MIG_EINTR);
	took = now_ms() - t0;
	assert_true(took >= 250 && took < 1000);
	assert_int_equal(count_requests(&G.http, "dirState", NULL, 0), 1);
	mig_dir_free(&d);
}

/* A hang ends at the configured timeout; a slow answer inside it is fine. */
static void
test_fetch_hang_timeout(void **state)
{
	mig_run_cfg cfg;
	mig_dir		d;
	mig_err		err;
	int64_t		t0,
				took;

	(void) state;
	NEED_STANDIN();
	ctl(&G.http, "\"mode\":\"hang\"");
	cfg_init(&cfg, &G.http, "atlas://app");
	cfg.cloud_timeout_ms = 1500;
	t0 = now_ms();
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_ECLOUD);
	took = now_ms() - t0;
	print_message("# timed out after %lld ms\n", (long long) took);
	assert_true(took >= 1400 && took < 3000);
	assert_non_null(strstr(err.msg, "no complete response within 1.5s (timeout)"));
	mig_dir_free(&d);

	ctl(&G.http, "\"mode\":\"slow\",\"delay\":1");
	cfg.cloud_timeout_ms = 5000;
	t0 = now_ms();
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_OK);
	assert_true(now_ms() - t0 >= 900);
	assert_int_equal(d.nfiles, 2);
	mig_dir_free(&d);
}

/* Nothing listening: connection errors are retried, then a clear error. */
static void
test_fetch_refused(void **state)
{
	mig_run_cfg cfg;
	mig_dir		d;
	mig_err		err;
	char		url[128];
	struct sockaddr_in a;
	socklen_t	alen = sizeof(a);
	int			fd = socket(AF_INET, SOCK_STREAM, 0);
	int64_t		t0;

	(void) state;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *) &a, &alen), 0);
	close(fd);					/* a port nobody listens on */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/query", ntohs(a.sin_port));
	cfg_init(&cfg, NULL, "atlas://app");
	cfg.cloud_url = url;
	t0 = now_ms();
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_ECLOUD);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(err.msg, url));
	assert_true(strstr(err.msg, "onnect") != NULL);
	assert_string_equal(err.detail, "The request was tried 5 times.");
	mig_dir_free(&d);
}

/* A server that echoes the Authorization header: the error shows xxxxx. */
static void
test_fetch_echo_scrubbed(void **state)
{
	(void) state;
	NEED_STANDIN();
	fetch_expect(&G.http, "\"mode\":\"echo_auth\"", "atlas://app", MIG_ECLOUD,
				 "unexpected error code 500: bad request with header Bearer xxxxx");
}

/* ---------------------------------------------------------------- TLS */

static void
test_tls(void **state)
{
	mig_run_cfg cfg;
	mig_dir		d;
	mig_err		err;
	char		missing[PATH_MAX + 32];

	(void) state;
	NEED_TLS();
	ctl(&G.https, "\"mode\":\"ok\"");
	cfg_init(&cfg, &G.https, "atlas://app");
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_OK);
	assert_int_equal(d.nfiles, 2);
	mig_dir_free(&d);

	/* by IP too (the certificate names 127.0.0.1) */
	{
		char		url[128];

		snprintf(url, sizeof(url), "https://127.0.0.1:%d/query", G.https.port);
		cfg.cloud_url = url;
		assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_OK);
		mig_dir_free(&d);
		cfg.cloud_url = G.https.url;
	}

	/* an unrelated CA: verification fails, no retry, nothing reaches the server */
	ctl(&G.https, "\"mode\":\"ok\"");
	cfg.cloud_ca_file = G.other_ca;
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_ECLOUD);
	assert_non_null(strstr(err.msg, "certificate"));
	assert_non_null(strstr(err.hint, "ca_file"));
	mig_dir_free(&d);
	assert_int_equal(count_requests(&G.https, "dirState", NULL, 0), 0);

	/* the system store does not know the test CA */
	cfg.cloud_ca_file = NULL;
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_ECLOUD);
	assert_non_null(strstr(err.msg, "certificate"));
	mig_dir_free(&d);

	snprintf(missing, sizeof(missing), "%s/no-such-ca.pem", G.tmp);
	cfg.cloud_ca_file = missing;
	assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_ECLOUD);
	mig_dir_free(&d);
	assert_int_equal(count_requests(&G.https, "dirState", NULL, 0), 0);

	/* plain http to the TLS port: a clear error, not a hang */
	{
		char		url[128];

		snprintf(url, sizeof(url), "http://127.0.0.1:%d/query", G.https.port);
		cfg.cloud_url = url;
		cfg.cloud_timeout_ms = 5000;
		assert_int_equal(fetch(&cfg, NULL, NULL, &d, &err), MIG_ECLOUD);
		mig_dir_free(&d);
	}
}

/* ---------------------------------------------------------------- reportMigration */

/* A run that applied one file and failed in the second. */
typedef struct run_fixture {
	mig_file	files[2];
	mig_stmt	stmts[3];
	mig_applied applied[2];
	mig_result	res;
} run_fixture;

static void
run_fixture_init(run_fixture *f, const char *log_extra)
{
	memset(f, 0, sizeof(*f));
	f->files[0].name = "1_init.sql";
	f->files[0].data = "CREATE TABLE t(c int);\n";
	f->files[0].len = strlen(f->files[0].data);
	f->files[1].name = "2_more.sql";
	f->files[1].data = "ALTER TABLE t ADD COLUMN d int;\nBAD \xff\xfe bytes;\n";
	f->files[1].len = strlen(f->files[1].data);
	f->stmts[0].text = f->files[0].data;
	f->stmts[0].len = f->files[0].len;
	f->stmts[1].text = f->files[1].data;
	f->stmts[1].len = 32;
	f->stmts[2].text = f->files[1].data + 32;
	f->stmts[2].len = f->files[1].len - 32;
	f->applied[0].file = &f->files[0];
	f->applied[0].start_ns = 1700000000100000000LL;
	f->applied[0].end_ns = 1700000000200000000LL;
	f->applied[0].stmts.v = &f->stmts[0];
	f->applied[0].stmts.n = 1;
	f->applied[1].file = &f->files[1];
	f->applied[1].start_ns = 1700000000200000000LL;
	f->applied[1].end_ns = 1700000000300000001LL;
	f->applied[1].skipped = 0;
	f->applied[1].stmts.v = &f->stmts[1];
	f->applied[1].stmts.n = 2;
	f->applied[1].error_stmt = "BAD \xff\xfe bytes;";
	f->applied[1].error_text = "near \"BAD\": syntax error";
	f->res.status = MIG_RUN_FAILED;
	f->res.start_ns = 1700000000000000000LL;
	f->res.end_ns = 1700000000400000000LL;
	f->res.target = "2";
	f->res.current_after = "1";
	f->res.applied = f->applied;
	f->res.napplied = 2;
	f->res.files_ok = 1;
	f->res.error = "sql/migrate: executing statement \"BAD\" from version \"2\": near \"BAD\": syntax error";
	snprintf(f->res.target_id, sizeof(f->res.target_id), "%s", "5b1e7c1c-2a7b-4bbc-9d3b-0a3f3e9d0c11");
	mig_buf_init(&f->res.log);
	mig_buf_puts(&f->res.log, "Migrating to version 2 (2 migrations in total):\n");
	if (log_extra)
		mig_buf_puts(&f->res.log, log_extra);
}

static const char *
jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsString(v))
		fail_msg("\"%s\" is not a string", key);
	return v->valuestring;
}

/* §j.4: every field, Atlas's values, valid JSON for any file bytes, no token. */
static void
test_report_body(void **state)
{
	run_fixture f;
	mig_run_cfg cfg;
	mig_buf		body;
	mig_err		err;
	cdb			db;
	cJSON	   *j,
			   *in,
			   *files,
			   *f1;
	char		t[64];

	(void) state;
	/* a token that slipped into the log is scrubbed from the report */
	run_fixture_init(&f, "  -- oops " TOKEN "\n");
	cfg_init(&cfg, NULL, "atlas://team/app?tag=v1");
	cdb_init(&db);
	mig_buf_init(&body);
	assert_int_equal(mig_cloud_report_body(&cfg, &f.res, &db.base, &body, &err), MIG_OK);
	assert_null(strstr(body.data, TOKEN));
	mig_buf_puts(&G.seen, body.data);
	j = cJSON_Parse(body.data);
	assert_non_null(j);
	assert_non_null(strstr(jstr(j, "query"), "mutation ReportMigration($input: ReportMigrationInput!)"));
	in = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "variables"), "input");
	assert_non_null(in);
	assert_string_equal(jstr(in, "projectName"), "proj");
	assert_string_equal(jstr(in, "envName"), "prod");
	assert_string_equal(jstr(in, "dirName"), "team/app");
	assert_string_equal(jstr(in, "atlasVersion"), "atlas_migrate v" MIG_VERSION);
	assert_string_equal(jstr(cJSON_GetObjectItem(in, "target"), "id"), "5b1e7c1c-2a7b-4bbc-9d3b-0a3f3e9d0c11");
	assert_string_equal(jstr(cJSON_GetObjectItem(in, "target"), "schema"), "main");
	assert_string_equal(jstr(cJSON_GetObjectItem(in, "target"), "url"), "sqlite://file.db");
	mig_fmt_time(f.res.start_ns, t, sizeof(t));
	assert_string_equal(jstr(in, "startTime"), t);
	mig_fmt_time(f.res.end_ns, t, sizeof(t));
	assert_string_equal(jstr(in, "endTime"), t);
	assert_string_equal(jstr(in, "fromVersion"), "");
	assert_string_equal(jstr(in, "toVersion"), "2");
	assert_string_equal(jstr(in, "currentVersion"), "1");
	assert_string_equal(jstr(in, "error"), f.res.error);
	assert_non_null(strstr(jstr(in, "log"), "Migrating to version 2"));
	assert_non_null(strstr(jstr(in, "log"), "-- oops xxxxx"));
	assert_null(cJSON_GetObjectItem(in, "dryRun"));
	assert_null(cJSON_GetObjectItem(in, "context"));
	files = cJSON_GetObjectItem(in, "files");
	assert_int_equal(cJSON_GetArraySize(files), 2);
	f1 = cJSON_GetArrayItem(files, 0);
	assert_string_equal(jstr(f1, "name"), "1_init.sql");
	assert_string_equal(jstr(f1, "content"), "CREATE TABLE t(c int);\n");
	assert_int_equal(cJSON_GetObjectItem(f1, "applied")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(f1, "skipped")->valueint, 0);
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(f1, "checks")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(f1, "checks")), 0);
	assert_null(cJSON_GetObjectItem(f1, "error"));
	f1 = cJSON_GetArrayItem(files, 1);
	/* the failing statement counts (§k.16); invalid UTF-8 becomes U+FFFD */
	assert_int_equal(cJSON_GetObjectItem(f1, "applied")->valueint, 2);
	assert_non_null(strstr(jstr(f1, "content"), "BAD \xef\xbf\xbd\xef\xbf\xbd bytes;"));
	assert_string_equal(jstr(cJSON_GetObjectItem(f1, "error"), "text"), "near \"BAD\": syntax error");
	assert_string_equal(jstr(cJSON_GetObjectItem(f1, "error"), "stmt"), "BAD \xef\xbf\xbd\xef\xbf\xbd bytes;");
	mig_fmt_time(f.applied[1].end_ns, t, sizeof(t));
	assert_string_equal(jstr(f1, "endTime"), t);
	cJSON_Delete(j);

	/* dry run; a file:// dir is ".atlas"; a PostgreSQL schema from the URL */
	mig_buf_reset(&body);
	cfg.dry_run = true;
	cfg.dir_url = "file://migrations";
	cfg.db_schema = "public";
	f.res.error = NULL;
	assert_int_equal(mig_cloud_report_body(&cfg, &f.res, NULL, &body, &err), MIG_OK);
	j = cJSON_Parse(body.data);
	in = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "variables"), "input");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(in, "dryRun")));
	assert_string_equal(jstr(in, "dirName"), ".atlas");
	assert_string_equal(jstr(cJSON_GetObjectItem(in, "target"), "schema"), "public");
	assert_null(cJSON_GetObjectItem(in, "error"));
	cJSON_Delete(j);

	mig_buf_free(&body);
	mig_buf_free(&f.res.log);
}

/* §k.16: a failure before any plan: files null, zero endTime, log = the error. */
static void
test_report_body_plan_failed(void **state)
{
	mig_result	res;
	mig_run_cfg cfg;
	mig_buf		body;
	mig_err		err;
	cJSON	   *j,
			   *in;

	(void) state;
	memset(&res, 0, sizeof(res));
	res.status = MIG_RUN_FAILED;
	res.start_ns = 1700000000000000000LL;
	res.end_ns = 1700000000500000000LL;
	res.current = "3";
	res.error = "sql/migrate: missing migration files";
	mig_buf_init(&res.log);
	cfg_init(&cfg, NULL, "atlas://app");
	cfg.db_url_redacted = NULL;
	mig_buf_init(&body);
	assert_int_equal(mig_cloud_report_body(&cfg, &res, NULL, &body, &err), MIG_OK);
	j = cJSON_Parse(body.data);
	assert_non_null(j);
	in = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "variables"), "input");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(in, "files")));
	assert_string_equal(jstr(in, "endTime"), "0001-01-01T00:00:00Z");
	assert_string_equal(jstr(in, "log"), "sql/migrate: missing migration files");
	assert_string_equal(jstr(in, "fromVersion"), "3");
	assert_string_equal(jstr(in, "toVersion"), "");
	assert_string_equal(jstr(in, "currentVersion"), "");
	assert_string_equal(jstr(cJSON_GetObjectItem(in, "target"), "schema"), "");
	assert_string_equal(jstr(cJSON_GetObjectItem(in, "target"), "url"), "");
	assert_string_equal(jstr(cJSON_GetObjectItem(in, "target"), "id"), "");
	cJSON_Delete(j);
	mig_buf_free(&body);
	mig_buf_free(&res.log);
}

static void
test_report_body_failing_allocator(void **state)
{
	run_fixture f;
	mig_run_cfg cfg;
	long		n;
	bool		ok = false;

	(void) state;
	run_fixture_init(&f, NULL);
	cfg_init(&cfg, NULL, "atlas://app");
	for (n = 0; n < 1000 && !ok; n++)
	{
		mig_buf		body;
		mig_err		err;
		int			rc;

		mig_buf_init(&body);
		tu_fail_after(n);
		rc = mig_cloud_report_body(&cfg, &f.res, NULL, &body, &err);
		tu_fail_reset();
		if (rc == MIG_OK)
			ok = true;
		else
			assert_int_equal(rc, MIG_ENOMEM);
		mig_buf_free(&body);
	}
	assert_true(ok);
	mig_buf_free(&f.res.log);
}

/* Send, fail, keep the body, re-send later: one report recorded, with its URL. */
static void
test_report_send_and_retry(void **state)
{
	run_fixture f;
	mig_run_cfg cfg;
	mig_buf		body;
	mig_err		err;
	char	   *url = NULL;
	char		want[512];
	int			before;

	(void) state;
	NEED_STANDIN();
	run_fixture_init(&f, NULL);
	cfg_init(&cfg, &G.http, "atlas://app");
	mig_buf_init(&body);
	assert_int_equal(mig_cloud_report_body(&cfg, &f.res, NULL, &body, &err), MIG_OK);

	ctl(&G.http, "\"mode\":\"ok\"");
	before = count_lines_with(G.http.reports, "\"reportMigration\"");
	assert_int_equal(mig_cloud_send(&cfg, NULL, NULL, body.data, body.len, &url, &err), MIG_OK);
	assert_non_null(url);
	snprintf(want, sizeof(want), "http://127.0.0.1:%d/deployments/", G.http.port);
	assert_memory_equal(url, want, strlen(want));
	mig_free(url);
	assert_int_equal(count_lines_with(G.http.reports, "\"envName\": \"prod\""), before + 1);

	/* the Cloud is down: an error for a WARNING; the body is kept */
	ctl(&G.http, "\"mode\":\"500\",\"scope\":\"reportMigration\"");
	assert_int_equal(mig_cloud_send(&cfg, NULL, NULL, body.data, body.len, &url, &err), MIG_ECLOUD);
	seen_err(&err);
	assert_null(url);
	snprintf(want, sizeof(want), "atlas cloud: reporting the deployment to %s: unexpected error code 500: internal error",
			 G.http.url);
	assert_string_equal(err.msg, want);
	assert_int_equal(count_requests(&G.http, "reportMigration", NULL, 0), 5);

	/* the token went bad */
	ctl(&G.http, "\"mode\":\"ok\"");
	cfg.cloud_token = OTHER_TOKEN;
	assert_int_equal(mig_cloud_send(&cfg, NULL, NULL, body.data, body.len, &url, &err), MIG_ECLOUD);
	seen_err(&err);
	assert_non_null(strstr(err.msg, "unauthorized (401)"));
	cfg.cloud_token = TOKEN;

	/* a hang during the report ends at the timeout */
	ctl(&G.http, "\"mode\":\"hang\",\"scope\":\"reportMigration\"");
	cfg.cloud_timeout_ms = 700;
	assert_int_equal(mig_cloud_send(&cfg, NULL, NULL, body.data, body.len, &url, &err), MIG_ECLOUD);
	seen_err(&err);
	assert_non_null(strstr(err.msg, "timeout"));
	cfg.cloud_timeout_ms = 0;

	/* next call: the stored body goes out unchanged and is recorded once */
	ctl(&G.http, "\"mode\":\"ok\"");
	assert_int_equal(mig_cloud_send(&cfg, NULL, NULL, body.data, body.len, &url, &err), MIG_OK);
	assert_non_null(url);
	mig_free(url);
	assert_int_equal(count_lines_with(G.http.reports, "\"envName\": \"prod\""), before + 2);

	/* over TLS too */
	if (G.have_tls)
	{
		cfg_init(&cfg, &G.https, "atlas://app");
		assert_int_equal(mig_cloud_send(&cfg, NULL, NULL, body.data, body.len, &url, &err), MIG_OK);
		assert_memory_equal(url, "https://", 8);
		mig_free(url);
	}
	mig_buf_free(&body);
	mig_buf_free(&f.res.log);
}

/* The stand-in checks the input like the real schema; errors come back rendered. */
static void
test_report_schema_error(void **state)
{
	mig_run_cfg cfg;
	mig_err		err;
	char	   *url = NULL;
	static const char body[] =
		"{\"query\":\"mutation ReportMigration($input: ReportMigrationInput!) {\\n  reportMigration(input: $input) {\\n    url\\n  }\\n}\","
		"\"variables\":{\"input\":{\"projectName\":\"p\"}}}";

	(void) state;
	NEED_STANDIN();
	ctl(&G.http, "\"mode\":\"ok\"");
	cfg_init(&cfg, &G.http, "atlas://app");
	assert_int_equal(mig_cloud_send(&cfg, NULL, NULL, body, strlen(body), &url, &err), MIG_ECLOUD);
	seen_err(&err);
	assert_non_null(strstr(err.msg, ": variable.input.envName must be defined\ninput: variable.input.dirName must be defined"));
}

/* ---------------------------------------------------------------- the token, everywhere */

static void
test_token_nowhere(void **state)
{
	const char *files[4];
	size_t		i;

	(void) state;
	NEED_STANDIN();
	assert_true(G.seen.len > 0);
	assert_null(strstr(G.seen.data, TOKEN));
	assert_null(strstr(G.seen.data, OTHER_TOKEN));
	files[0] = G.http.log;
	files[1] = G.http.reports;
	files[2] = G.have_tls ? G.https.log : NULL;
	files[3] = G.have_tls ? G.https.reports : NULL;
	for (i = 0; i < 4; i++)
	{
		size_t		len = 0;
		char	   *txt;

		if (files[i] == NULL)
			continue;
		txt = tu_read_file(files[i], &len);
		if (txt == NULL && i >= 2)
			continue;			/* the TLS stand-in may have no reports */
		assert_non_null(txt);
		assert_true(len > 0);
		if (memmem(txt, len, TOKEN, strlen(TOKEN)) || memmem(txt, len, OTHER_TOKEN, strlen(OTHER_TOKEN)))
			fail_msg("the token is in %s", files[i]);
		free(txt);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_user_agent),
		cmocka_unit_test(test_parse_response),
		cmocka_unit_test(test_parse_required),
		cmocka_unit_test(test_input_errors),
		cmocka_unit_test(test_fetch_ok),
		cmocka_unit_test(test_standin_archive_matches_writer),
		cmocka_unit_test(test_fetch_tag_and_names),
		cmocka_unit_test(test_fetch_unauthorized),
		cmocka_unit_test(test_fetch_retries),
		cmocka_unit_test(test_fetch_500_gives_up),
		cmocka_unit_test(test_fetch_bad_replies),
		cmocka_unit_test(test_fetch_bad_archives),
		cmocka_unit_test(test_fetch_oversize),
		cmocka_unit_test(test_fetch_hang_interrupted),
		cmocka_unit_test(test_fetch_interrupt_during_backoff),
		cmocka_unit_test(test_fetch_hang_timeout),
		cmocka_unit_test(test_fetch_refused),
		cmocka_unit_test(test_fetch_echo_scrubbed),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_report_body),
		cmocka_unit_test(test_report_body_plan_failed),
		cmocka_unit_test(test_report_body_failing_allocator),
		cmocka_unit_test(test_report_send_and_retry),
		cmocka_unit_test(test_report_schema_error),
		cmocka_unit_test(test_token_nowhere),
	};

	return cmocka_run_group_tests_name("cloud", tests, group_setup, group_teardown);
}
