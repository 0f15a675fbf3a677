/*
 * test_apply.c - the apply engine over the fake adapter: pending files
 * (§g.2), execution and revision rows (§f.4, §g.4), tx modes (§g.5),
 * baseline and checkpoints (§g.3, §a.4), target version and amount (§g.7),
 * the log (§h.1) and the JSON report (§h.3).  Conformance directories are
 * read in place.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "fake_db.h"
#include "plan.h"

/* ---------------------------------------------------------------- helpers */

static void
cfg_init(mig_run_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->env_name = "test";
	c->dir_url = "file://migrations";
	c->dir_url_redacted = "file://migrations";
	c->tx_mode = MIG_TX_FILE;
	c->exec_order = MIG_ORDER_LINEAR;
	c->lock_timeout_ms = 10000;
}

/* Load a conformance directory (relative to dirs/); skips if absent. */
static void
load_conf(const char *rel, mig_dir *d)
{
	char		path[4096];
	mig_err		err;

	snprintf(path, sizeof(path), "%s/dirs/%s", tu_conformance_dir(), rel);
	mig_dir_init(d);
	if (mig_dir_load_local(path, d, &err) != MIG_OK)
		fail_msg("loading %s: %s", path, err.msg);
	assert_int_equal(mig_sum_verify(d, &err), MIG_OK);
}

/* Build an in-memory directory from name/content pairs (NULL-terminated). */
static void
make_dir(mig_dir *d, const char *const *nc)
{
	mig_err		err;

	mig_dir_init(d);
	for (; nc[0]; nc += 2)
		assert_int_equal(mig_dir_add(d, nc[0], nc[1], strlen(nc[1]), &err), MIG_OK);
	assert_int_equal(mig_dir_finish(d, &err), MIG_OK);
}

/* Apply and return the code; res must be freed by the caller. */
static int
apply(fake_db *f, const mig_dir *d, const mig_run_cfg *c, mig_result *res, mig_err *err)
{
	mig_result_init(res);
	mig_err_clear(err);
	return mig_apply(&f->base, d, c, res, err);
}

static bool
contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

/* How often needle occurs in hay. */
static int
count_occurrences(const char *hay, const char *needle)
{
	int			n = 0;

	while (hay && (hay = strstr(hay, needle)) != NULL)
	{
		n++;
		hay += strlen(needle);
	}
	return n;
}

#define assert_contains(hay, needle) \
	do { if (!contains((hay), (needle))) fail_msg("expected %s\n--- to contain ---\n%s", \
		(hay) ? (hay) : "(null)", (needle)); } while (0)
#define assert_not_contains(hay, needle) \
	do { if (contains((hay), (needle))) fail_msg("expected %s\n--- not to contain ---\n%s", \
		(hay), (needle)); } while (0)

/* Replace Go durations in a log by "D" so logs compare exactly. */
static char *
normalize_durations(const char *log)
{
	regex_t		re;
	regmatch_t	m[4];
	mig_buf		b;
	const char *p = log;

	/* "(<dur>)" on ok lines, "-- <dur>" on the total line */
	assert_int_equal(regcomp(&re, "(\\(|-- )[0-9][0-9.hm]*(ns|\xc2\xb5s|ms|s)(\\)|\n)", REG_EXTENDED), 0);
	mig_buf_init(&b);
	while (regexec(&re, p, 4, m, 0) == 0)
	{
		mig_buf_append(&b, p, (size_t) m[1].rm_eo);
		mig_buf_puts(&b, "D");
		mig_buf_append(&b, p + m[3].rm_so, (size_t) (m[3].rm_eo - m[3].rm_so));
		p += m[0].rm_eo;
	}
	mig_buf_puts(&b, p);
	regfree(&re);
	return mig_buf_steal(&b);
}

/* ---------------------------------------------------------------- §g.2 pending */

static void
set_revs(mig_revs *rs, const char *spec)
{
	/* "v[a/t] v v[a/t]" */
	char		buf[512],
			   *tok,
			   *save = NULL;

	mig_revs_free(rs);
	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
	{
		mig_rev		r;
		char	   *br = strchr(tok, '[');

		memset(&r, 0, sizeof(r));
		r.applied = 1;
		r.total = 1;
		if (br)
		{
			*br = '\0';
			sscanf(br + 1, "%lld/%lld", (long long *) &r.applied, (long long *) &r.total);
		}
		r.version = tok;
		r.description = "desc";
		mig_revs_push(rs, &r);
	}
}

static void
test_pending_sub(void **state)
{
	static const struct
	{
		const char *revs;
		const char *pending;
	}			cases[] = {
		{"1.a", "2.10.x-20 3"},
		{"1.a 2.10.x-20", "3"},
		{"1.a 2.10.x-20 3[1/2]", "3"},
		{"1.a 2.10.x-20 3[2/2]", ""},
		{"2.11 3", ""},
		{"3", ""},
		{"5", ""},
		{"1.1", "1.a 2.10.x-20 3"},
		{"1.a 2.10.x-20 2.11", "3"},
	};
	mig_dir		d;
	mig_revs	rs = {0};
	size_t		i,
				j;

	TU_NEED_CONFORMANCE();
	load_conf("sql/migrate/testdata/migrate/sub", &d);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_plan	p = {0};
		mig_err		err;
		char		got[256] = "";

		set_revs(&rs, cases[i].revs);
		assert_int_equal(mig_plan_pending(d.files, d.nfiles, &rs, MIG_ORDER_LINEAR, &p, &err), MIG_OK);
		for (j = 0; j < p.n; j++)
		{
			if (j)
				strcat(got, " ");
			strcat(got, p.v[j]->version);
		}
		if (strcmp(got, cases[i].pending) != 0)
			fail_msg("revs %s: pending \"%s\", want \"%s\"", cases[i].revs, got, cases[i].pending);
		mig_plan_free(&p);
	}
	/* no revisions: all three */
	{
		mig_plan	p = {0};
		const mig_file *base;
		mig_err		err;

		assert_int_equal(mig_plan_fresh(d.files, d.nfiles, NULL, &base, &p, &err), MIG_OK);
		assert_int_equal(p.n, 3);
		mig_plan_free(&p);
	}
	/* a partial revision whose file is gone */
	{
		mig_plan	p = {0};
		mig_err		err;

		set_revs(&rs, "deleted[0/1]");
		assert_int_equal(mig_plan_pending(d.files, d.nfiles, &rs, MIG_ORDER_LINEAR, &p, &err), MIG_EHISTORY);
		assert_string_equal(err.msg, "sql/migrate: missing migration: revision \"deleted_desc.sql\" is partially applied but migration file was not found");
		mig_plan_free(&p);
	}
	mig_revs_free(&rs);
	mig_dir_free(&d);
}

/* ---------------------------------------------------------------- §2.2 executing sub */

static void
test_execute_sub_amount2(void **state)
{
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	const mig_rev *r;

	TU_NEED_CONFORMANCE();
	load_conf("sql/migrate/testdata/migrate/sub", &d);
	fake_db_init(&f);
	cfg_init(&c);
	c.has_amount = true;
	c.amount = 2;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_string_equal(f.executed.data,
						"CREATE TABLE t_sub(c int);\nALTER TABLE t_sub ADD c1 int;\nALTER TABLE t_sub ADD c2 int;\n");
	r = fake_db_rev(&f, "1.a");
	assert_non_null(r);
	assert_string_equal(r->description, "sub.up");
	assert_int_equal(r->type, 2);
	assert_int_equal(r->applied, 2);
	assert_int_equal(r->total, 2);
	assert_string_equal(r->hash, "nXyZR020M/mH7LxkoTkJr7BcQkipVg90imQ9I4595dw=");
	assert_string_equal(r->partial_hashes, "null");
	assert_string_equal(r->error, "");
	assert_string_equal(r->operator_version, MIG_OPERATOR_VERSION);
	r = fake_db_rev(&f, "2.10.x-20");
	assert_non_null(r);
	assert_string_equal(r->description, "description");
	assert_int_equal(r->applied, 1);
	assert_int_equal(r->total, 1);
	assert_string_equal(r->hash, "wQB3Vh3PHVXQg9OD3Gn7TBxbZN3r1Qb7TtAE1g3q9mQ=");
	assert_null(fake_db_rev(&f, "3"));
	assert_int_equal(res.status, MIG_RUN_SUCCEEDED);
	assert_int_equal(f.nlocks, 1);
	assert_int_equal(f.nunlocks, 1);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* none mode: 3_partly fails at its 2nd statement, history check, resume. */
static void
test_partly_resume(void **state)
{
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	mig_rev    *r;
	char	   *saved;

	TU_NEED_CONFORMANCE();
	load_conf("sql/migrate/testdata/migrate/sub", &d);
	fake_db_init(&f);
	cfg_init(&c);
	c.tx_mode = MIG_TX_NONE;
	f.fail_on = "ADD c4";
	f.fail_msg = "duplicate column name: c4";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	assert_contains(err.msg, "sql/migrate: executing statement \"ALTER TABLE t_sub ADD c4 int;\" from version \"3\": duplicate column name: c4");
	mig_result_free(&res);
	r = (mig_rev *) fake_db_rev(&f, "3");
	assert_non_null(r);
	assert_string_equal(r->description, "partly");
	assert_int_equal(r->applied, 1);
	assert_int_equal(r->total, 2);
	assert_string_equal(r->error_stmt, "ALTER TABLE t_sub ADD c4 int;");
	assert_string_equal(r->error, "duplicate column name: c4");
	assert_true(strncmp(r->partial_hashes, "[\"h1:", 5) == 0);

	/* tamper with the first partial hash: history changed */
	saved = mig_strdup(r->partial_hashes);
	mig_free(r->partial_hashes);
	r->partial_hashes = mig_strdup("[\"h1:AAAAR020M/mH7LxkoTkJr7BcQkipVg90imQ9I4595dw=\"]");
	f.fail_on = NULL;
	mig_buf_reset(&f.executed);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EHISTORY);
	assert_string_equal(err.msg, "sql/migrate: history changed: statement 1 from file \"3_partly.sql\" changed");
	assert_int_equal(f.executed.len, 0);
	mig_result_free(&res);

	/* restore it: resumes with only the failed statement */
	r = (mig_rev *) fake_db_rev(&f, "3");
	mig_free(r->partial_hashes);
	r->partial_hashes = saved;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_string_equal(f.executed.data, "ALTER TABLE t_sub ADD c4 int;\n");
	assert_int_equal(res.napplied, 1);
	assert_int_equal(res.applied[0].skipped, 1);
	assert_int_equal(res.applied[0].stmts.n, 1);
	assert_contains(res.log.data, "Migrating to version 3 from 3 (1 migrations in total):");
	assert_not_contains(res.log.data, "ADD c2");
	mig_result_free(&res);
	r = (mig_rev *) fake_db_rev(&f, "3");
	assert_string_equal(r->partial_hashes, "null");
	assert_int_equal(r->applied, 2);
	assert_string_equal(r->error, "");
	assert_string_equal(r->error_stmt, "");

	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_int_equal(res.status, MIG_RUN_NOTHING);
	assert_string_equal(res.log.data, "No migration files to execute\n");
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

static void
test_target_version_errors(void **state)
{
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;

	TU_NEED_CONFORMANCE();
	load_conf("sql/migrate/testdata/migrate/sub", &d);
	fake_db_init(&f);
	cfg_init(&c);
	c.to_version = "3.sql";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_ENOTFOUND);
	assert_string_equal(err.msg, "sql/migrate: migration with version \"3.sql\" not found. Did you mean \"3\"?");
	mig_result_free(&res);
	c.to_version = "7";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_ENOTFOUND);
	assert_string_equal(err.msg, "sql/migrate: migration with version \"7\" not found");
	assert_int_equal(res.status, MIG_RUN_FAILED);
	assert_int_equal(f.nexec, 0);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* §g.7 replay: 1, 2, 3_checkpoint, 4. */
static void
test_to_version_replay(void **state)
{
	static const char *const files[] = {
		"1.sql", "CREATE TABLE t1(c int);\n",
		"2.sql", "CREATE TABLE t2(c int);\n",
		"3_checkpoint.sql", "-- atlas:checkpoint\n\nCREATE TABLE t1(c int);\nCREATE TABLE t2(c int);\n",
		"4.sql", "CREATE TABLE t4(c int);\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;

	make_dir(&d, files);
	assert_true(d.files[2].checkpoint);
	fake_db_init(&f);
	cfg_init(&c);
	c.to_version = "1";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_string_equal(f.executed.data, "CREATE TABLE t1(c int);\n");
	mig_result_free(&res);
	c.to_version = "2";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_string_equal(f.executed.data, "CREATE TABLE t1(c int);\nCREATE TABLE t2(c int);\n");
	mig_result_free(&res);
	c.to_version = "4";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_string_equal(f.executed.data, "CREATE TABLE t1(c int);\nCREATE TABLE t2(c int);\nCREATE TABLE t4(c int);\n");
	mig_result_free(&res);
	fake_db_free(&f);

	/* fresh target, to-version 3: only the checkpoint */
	fake_db_init(&f);
	c.to_version = "3";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_string_equal(f.executed.data, "CREATE TABLE t1(c int);\nCREATE TABLE t2(c int);\n");
	assert_int_equal(res.napplied, 1);
	assert_string_equal(res.applied[0].file->name, "3_checkpoint.sql");
	mig_result_free(&res);
	fake_db_free(&f);

	/* fresh target, no target: the last checkpoint and what follows */
	fake_db_init(&f);
	c.to_version = NULL;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_int_equal(res.napplied, 2);
	assert_string_equal(res.applied[0].file->name, "3_checkpoint.sql");
	assert_string_equal(res.applied[1].file->name, "4.sql");
	mig_result_free(&res);
	/* with history, checkpoints are skipped: add 5 and it alone runs */
	fake_db_free(&f);
	mig_dir_free(&d);
}

/* ---------------------------------------------------------------- sqlite, sqlite2 (§2.2) */

static void
test_sqlite_amount1(void **state)
{
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;

	TU_NEED_CONFORMANCE();
	load_conf("cmd/atlas/internal/cmdapi/testdata/sqlite", &d);
	fake_db_init(&f);
	cfg_init(&c);
	c.has_amount = true;
	c.amount = 1;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_contains(res.log.data, "20220318104614");
	assert_contains(res.log.data, "CREATE TABLE tbl (`col` int NOT NULL);");
	assert_contains(res.log.data, "  -- 1 migration\n");
	assert_contains(res.log.data, "  -- 1 sql statement\n");
	assert_int_equal(res.napplied, 1);
	mig_result_free(&res);

	c.amount = 0;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EINVAL);
	assert_string_equal(err.msg, "cannot apply '0' migration files");
	mig_result_free(&res);
	c.amount = -1;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EINVAL);
	assert_string_equal(err.msg, "cannot apply '-1' migration files");
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

static void
test_sqlite2_file_mode(void **state)
{
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	const mig_rev *r;

	TU_NEED_CONFORMANCE();
	load_conf("cmd/atlas/internal/cmdapi/testdata/sqlite2", &d);
	fake_db_init(&f);
	cfg_init(&c);
	f.fail_on = "asdasd";
	f.fail_msg = "near \"asdasd\": syntax error";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	assert_contains(res.log.data, "    near \"asdasd\": syntax error\n");
	assert_contains(res.log.data, "  -- 1 migration ok, 1 with errors\n");
	assert_contains(res.log.data, "  -- 2 sql statements ok, 1 with errors\n");
	assert_int_equal(res.status, MIG_RUN_FAILED);
	assert_string_equal(err.sqlstate, "42601");
	/* the first file stays; the second's statements were rolled back */
	assert_not_contains(f.executed.data, "col_2");
	r = fake_db_rev(&f, d.files[0].version);
	assert_non_null(r);
	assert_int_equal(r->applied, r->total);
	/* the error row of the failed file (DESIGN: revision row records it) */
	r = fake_db_rev(&f, d.files[1].version);
	assert_non_null(r);
	assert_int_equal(r->applied, 0);
	assert_string_equal(r->error, "near \"asdasd\": syntax error");
	assert_contains(r->error_stmt, "asdasd");
	mig_result_free(&res);

	/* again: the first file's statement is not re-run */
	mig_buf_reset(&f.calls);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	assert_contains(res.log.data, "  -- 1 migration with errors\n");
	assert_contains(res.log.data, "  -- 1 sql statement ok, 1 with errors\n");
	assert_not_contains(f.calls.data, "col_1");
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

static void
test_sqlite2_none_mode(void **state)
{
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	const mig_rev *r;

	TU_NEED_CONFORMANCE();
	load_conf("cmd/atlas/internal/cmdapi/testdata/sqlite2", &d);
	fake_db_init(&f);
	cfg_init(&c);
	c.tx_mode = MIG_TX_NONE;
	f.fail_on = "asdasd";
	f.fail_msg = "near \"asdasd\": syntax error";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	assert_contains(f.executed.data, "col_2");
	r = fake_db_rev(&f, d.files[1].version);
	assert_non_null(r);
	assert_int_equal(r->applied, 1);
	assert_int_equal(r->total, 3);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/*
 * tx mode none (§g.5): each statement commits together with its row
 * (begin, exec, write, commit); one that cannot run in a transaction
 * autocommits and its row follows at once.
 */
static void
test_none_stmt_tx_order(void **state)
{
	static const char *const files[] = {
		"1_a.sql", "-- atlas:txmode none\n\nCREATE TABLE a(x int);\nINSERT INTO a VALUES (1);\n"
		"CREATE INDEX CONCURRENTLY ai ON a(x);\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	const mig_rev *r;
	int			pass;

	for (pass = 0; pass < 2; pass++)
	{
		make_dir(&d, files);
		fake_db_init(&f);
		cfg_init(&c);
		if (pass == 0)
			f.no_tx_on = "CONCURRENTLY";
		else
			f.base.begin_stmt = NULL;	/* NULL: every statement can, begin() opens it */
		assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
		assert_contains(f.calls.data,
						pass == 0 ?
						"write 1 0/3\n"
						"begin\nexec CREATE TABLE a(x int);\nwrite 1 1/3\ncommit\n"
						"begin\nexec INSERT INTO a VALUES (1);\nwrite 1 2/3\ncommit\n"
						"exec CREATE INDEX CONCURRENTLY ai ON a(x);\nwrite 1 3/3\n"
						"unlock\n" :
						"write 1 0/3\n"
						"begin\nexec CREATE TABLE a(x int);\nwrite 1 1/3\ncommit\n"
						"begin\nexec INSERT INTO a VALUES (1);\nwrite 1 2/3\ncommit\n"
						"begin\nexec CREATE INDEX CONCURRENTLY ai ON a(x);\nwrite 1 3/3\ncommit\n"
						"unlock\n");
		r = fake_db_rev(&f, "1");
		assert_non_null(r);
		assert_int_equal(r->applied, 3);
		assert_string_equal(r->partial_hashes, "null");
		assert_string_equal(r->error, "");
		mig_result_free(&res);
		mig_dir_free(&d);
		fake_db_free(&f);
	}
}

/*
 * The process dies right after a statement of a tx mode none file ran:
 * the statement was not committed without its row, so the next run
 * executes it exactly once.
 */
static void
test_none_crash_between_statements(void **state)
{
	static const char *const files[] = {
		"1_a.sql", "-- atlas:txmode none\n\nCREATE TABLE a(x int);\nINSERT INTO a VALUES (1);\n"
		"INSERT INTO a VALUES (2);\n",
		"2_b.sql", "CREATE TABLE b(x int);\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	const mig_rev *r;

	make_dir(&d, files);
	fake_db_init(&f);
	cfg_init(&c);
	f.crash_at = "VALUES (1)";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	mig_result_free(&res);
	assert_string_equal(f.executed.data, "CREATE TABLE a(x int);\n");
	r = fake_db_rev(&f, "1");
	assert_non_null(r);
	assert_int_equal(r->applied, 1);

	/* a new process: resumes at the statement that was lost */
	f.dead = false;
	f.crash_at = NULL;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_int_equal(res.applied[0].skipped, 1);
	mig_result_free(&res);
	assert_string_equal(f.executed.data,
						"CREATE TABLE a(x int);\nINSERT INTO a VALUES (1);\n"
						"INSERT INTO a VALUES (2);\nCREATE TABLE b(x int);\n");
	r = fake_db_rev(&f, "1");
	assert_int_equal(r->applied, 3);
	assert_string_equal(r->partial_hashes, "null");
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* A commit that fails (a deferred constraint) is the statement's failure. */
static void
test_none_commit_fails(void **state)
{
	static const char *const files[] = {
		"1_a.sql", "-- atlas:txmode none\n\nCREATE TABLE a(x int);\nINSERT INTO a VALUES (2);\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	const mig_rev *r;

	make_dir(&d, files);
	fake_db_init(&f);
	cfg_init(&c);
	f.commit_fails_after = "VALUES (2)";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	assert_string_equal(err.msg, "sql/migrate: executing statement \"INSERT INTO a VALUES (2);\" from version \"1\": FOREIGN KEY constraint failed");
	assert_int_equal(res.status, MIG_RUN_FAILED);
	mig_result_free(&res);
	assert_false(f.in_tx);
	assert_string_equal(f.executed.data, "CREATE TABLE a(x int);\n");
	r = fake_db_rev(&f, "1");
	assert_int_equal(r->applied, 1);
	assert_string_equal(r->error, "FOREIGN KEY constraint failed");
	assert_string_equal(r->error_stmt, "INSERT INTO a VALUES (2);");
	assert_true(strncmp(r->partial_hashes, "[\"h1:", 5) == 0);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/*
 * A tx mode none file with its own BEGIN/COMMIT runs as written: no
 * transaction of ours; the rows inside its transaction commit with it,
 * the row of its COMMIT is written before it, so it commits with it too.
 */
static void
test_none_own_transaction(void **state)
{
	static const char *const files[] = {
		"1_a.sql", "-- atlas:txmode none\n\nCREATE TABLE a(x int);\nBEGIN;\nINSERT INTO a VALUES (1);\n"
		"COMMIT;\nINSERT INTO a VALUES (2);\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	const mig_rev *r;

	make_dir(&d, files);
	fake_db_init(&f);
	cfg_init(&c);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	mig_result_free(&res);
	assert_contains(f.calls.data,
					"write 1 0/5\n"
					"exec CREATE TABLE a(x int);\nwrite 1 1/5\n"
					"exec BEGIN;\nwrite 1 2/5\n"
					"exec INSERT INTO a VALUES (1);\nwrite 1 3/5\n"
					"write 1 4/5\nexec COMMIT;\ncommit\n"
					"exec INSERT INTO a VALUES (2);\nwrite 1 5/5\n"
					"unlock\n");
	r = fake_db_rev(&f, "1");
	assert_int_equal(r->applied, 5);
	mig_dir_free(&d);
	fake_db_free(&f);

	/* a failure inside its transaction: rolled back, the row says what is committed */
	make_dir(&d, files);
	fake_db_init(&f);
	f.fail_on = "VALUES (1)";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	mig_result_free(&res);
	assert_false(f.in_tx);
	r = fake_db_rev(&f, "1");
	assert_int_equal(r->applied, 1);
	assert_string_equal(r->error_stmt, "INSERT INTO a VALUES (1);");
	/* fixed: resumes at its BEGIN */
	f.fail_on = NULL;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_int_equal(res.applied[0].skipped, 1);
	mig_result_free(&res);
	assert_string_equal(f.executed.data,
						"CREATE TABLE a(x int);\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (2);\n");
	mig_dir_free(&d);
	fake_db_free(&f);

	/* the process dies inside its transaction: the same */
	make_dir(&d, files);
	fake_db_init(&f);
	f.crash_at = "VALUES (1)";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	mig_result_free(&res);
	assert_int_equal(fake_db_rev(&f, "1")->applied, 1);
	f.dead = false;
	f.crash_at = NULL;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	mig_result_free(&res);
	assert_string_equal(f.executed.data,
						"CREATE TABLE a(x int);\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (2);\n");
	mig_dir_free(&d);
	fake_db_free(&f);
}

/*
 * A tx mode none file that opens a transaction and never ends it: an
 * error naming the file, the transaction rolled back, the row without the
 * lost statements, the run failed, the next file not started.
 */
static void
test_none_left_open(void **state)
{
	static const char *const files[] = {
		"1_a.sql", "-- atlas:txmode none\n\nCREATE TABLE a(x int);\nBEGIN;\nINSERT INTO a VALUES (1);\n",
		"2_b.sql", "CREATE TABLE b(x int);\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	const mig_rev *r;

	make_dir(&d, files);
	fake_db_init(&f);
	cfg_init(&c);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	assert_string_equal(err.msg, "migration file \"1_a.sql\" left the transaction it opened (statement \"BEGIN;\") open at its end; it was rolled back");
	assert_string_equal(err.sqlstate, "25001");
	assert_int_equal(res.status, MIG_RUN_FAILED);
	assert_int_equal(res.files_ok, 0);
	assert_int_equal(res.napplied, 1);
	assert_string_equal(res.applied[0].error_text, "transaction left open at the end of the file; rolled back");
	assert_contains(res.log.data, "    transaction left open at the end of the file; rolled back\n");
	assert_contains(res.log.data, "  -- 1 migration with errors\n");
	mig_result_free(&res);
	assert_false(f.in_tx);
	assert_string_equal(f.executed.data, "CREATE TABLE a(x int);\n");
	r = fake_db_rev(&f, "1");
	assert_int_equal(r->applied, 1);
	assert_string_equal(r->error, "transaction left open at the end of the file; rolled back");
	assert_string_equal(r->error_stmt, "BEGIN;");
	assert_null(fake_db_rev(&f, "2"));
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* tx mode all: a failure rolls back every file of the run, no rows. */
static void
test_tx_all_rollback(void **state)
{
	static const char *const files[] = {
		"1_a.sql", "CREATE TABLE a(x int);\n",
		"2_b.sql", "CREATE TABLE b(x int);\n",
		"3_c.sql", "CREATE TABLE c(x int);\nBROKEN;\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;

	make_dir(&d, files);
	fake_db_init(&f);
	cfg_init(&c);
	c.tx_mode = MIG_TX_ALL;
	f.fail_on = "BROKEN";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	assert_int_equal(f.revs.n, 0);
	assert_int_equal(f.executed.len, 0);
	assert_contains(f.calls.data, "rollback\n");
	mig_result_free(&res);
	/* fixed: everything runs in one transaction */
	f.fail_on = NULL;
	mig_buf_reset(&f.calls);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_int_equal(f.revs.n, 3);
	assert_non_null(strstr(f.calls.data, "begin\n"));
	assert_null(strstr(strstr(f.calls.data, "begin\n") + 1, "begin\n"));
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* ---------------------------------------------------------------- lock retries (issue 11) */

/*
 * The fake as a database where statements containing "LOCKED" time out
 * waiting for a lock (SQLSTATE 55P03) the first lr_busy times they run.
 */
static int	lr_busy;
static int	lr_timeouts;
static int64_t lr_bound;
static int	(*lr_exec_orig) (mig_db *db, const char *sql, size_t len, mig_err *err);

static int
lr_exec(mig_db *db, const char *sql, size_t len, mig_err *err)
{
	if (memmem(sql, len, "LOCKED", 6) != NULL && lr_timeouts < lr_busy)
	{
		lr_timeouts++;
		/* what the attempt did so far is undone by the engine's rollback */
		mig_err_set(err, MIG_EDB, "canceling statement due to lock timeout");
		strcpy(err->sqlstate, "55P03");
		return MIG_EDB;
	}
	return lr_exec_orig(db, sql, len, err);
}

static int
lr_set_timeout(mig_db *db, int64_t ms, mig_err *err)
{
	lr_bound = ms;
	return MIG_OK;
}

static bool
lr_wait_failed(mig_db *db, const mig_err *err, mig_buf *what)
{
	if (strcmp(err->sqlstate, "55P03") != 0)
		return false;
	mig_buf_puts(what, "AccessExclusiveLock on relation t, held by PID 7");
	return true;
}

static void
lr_pause(mig_db *db, int64_t ms)
{
}

static void
lr_setup(fake_db *f, mig_run_cfg *c, int busy, int64_t retries)
{
	fake_db_init(f);
	lr_exec_orig = f->base.exec;
	f->base.exec = lr_exec;
	f->base.set_stmt_lock_timeout = lr_set_timeout;
	f->base.lock_wait_failed = lr_wait_failed;
	f->base.pause = lr_pause;
	lr_busy = busy;
	lr_timeouts = 0;
	lr_bound = -1;
	cfg_init(c);
	c->stmt_lock_timeout_ms = 300;
	c->lock_retries = retries;
}

static int
count_of(const char *hay, const char *needle)
{
	int			n = 0;

	while (hay && (hay = strstr(hay, needle)) != NULL)
	{
		n++;
		hay++;
	}
	return n;
}

/* tx mode file: the file is rolled back and runs again; one row, counted retries. */
static void
test_lock_retry_file(void **state)
{
	static const char *const files[] = {
		"1_a.sql", "CREATE TABLE a(x int);\n",
		"2_b.sql", "CREATE TABLE b(x int);\nALTER TABLE LOCKED ADD y int;\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	mig_buf		rep;

	make_dir(&d, files);
	lr_setup(&f, &c, 2, 5);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_int_equal(err.code, MIG_OK);	/* the attempts' errors are gone */
	assert_int_equal(lr_bound, 0);		/* set to 300, then back to 0 */
	assert_int_equal(res.lock_retries, 2);
	assert_int_equal(res.files_ok, 2);
	assert_int_equal(res.napplied, 2);
	assert_null(res.applied[1].error_text);
	assert_int_equal(count_of(f.calls.data, "exec CREATE TABLE b"), 3);
	assert_int_equal(count_of(f.executed.data, "CREATE TABLE b"), 1);
	assert_string_equal(fake_db_rev(&f, "2")->error, "");
	assert_int_equal(fake_db_rev(&f, "2")->applied, 2);
	assert_contains(res.log.data, "    lock timeout (retry 1 of 5): version 2, statement \"ALTER TABLE LOCKED ADD y int;\" waited ");
	assert_contains(res.log.data, " for AccessExclusiveLock on relation t, held by PID 7; rolled back the file, which runs again in ");
	assert_contains(res.log.data, "(retry 2 of 5)");
	assert_contains(res.log.data, "  -- 2 migrations\n  -- 3 sql statements\n");
	mig_buf_init(&rep);
	assert_int_equal(mig_report_json(&res, &c, "fake", &rep), MIG_OK);
	assert_contains(rep.data, "\"LockRetries\":2,\"LockWait\":\"");
	mig_buf_free(&rep);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* Retries spent: the lock timeout is the error, with what it waited for and a hint. */
static void
test_lock_retry_spent(void **state)
{
	static const char *const files[] = {
		"1_b.sql", "CREATE TABLE b(x int);\nALTER TABLE LOCKED ADD y int;\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;

	make_dir(&d, files);
	lr_setup(&f, &c, 100, 2);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	assert_string_equal(err.sqlstate, "55P03");
	assert_string_equal(err.msg, "sql/migrate: executing statement \"ALTER TABLE LOCKED ADD y int;\" from version \"1\": canceling statement due to lock timeout");
	assert_contains(err.detail, "Statement \"ALTER TABLE LOCKED ADD y int;\" of 1_b.sql (version 1) waited ");
	assert_contains(err.detail, " for AccessExclusiveLock on relation t, held by PID 7; gave up after 2 retries (statement_lock_timeout 300ms).");
	assert_contains(err.hint, "raise lock_retries or statement_lock_timeout");
	assert_int_equal(lr_timeouts, 3);
	assert_int_equal(res.lock_retries, 2);
	assert_contains(res.log.data, "no retries left");
	assert_int_equal(fake_db_rev(&f, "1")->applied, 0);
	assert_string_equal(fake_db_rev(&f, "1")->error, "canceling statement due to lock timeout");
	assert_int_equal(f.executed.len, 0);
	mig_result_free(&res);
	/* lock_retries 0: one attempt */
	fake_db_free(&f);
	lr_setup(&f, &c, 100, 0);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	assert_int_equal(lr_timeouts, 1);
	assert_contains(err.detail, "gave up after 0 retries");
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* tx mode all: everything rolled back and run again; txmode none: only the statement. */
static void
test_lock_retry_all_and_none(void **state)
{
	static const char *const all[] = {
		"1_a.sql", "CREATE TABLE a(x int);\n",
		"2_b.sql", "ALTER TABLE LOCKED ADD y int;\n",
		NULL
	};
	static const char *const none[] = {
		"1_a.sql", "-- atlas:txmode none\n\nCREATE TABLE a(x int);\nALTER TABLE LOCKED ADD y int;\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;

	make_dir(&d, all);
	lr_setup(&f, &c, 1, 3);
	c.tx_mode = MIG_TX_ALL;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_int_equal(res.lock_retries, 1);
	assert_int_equal(res.napplied, 2);
	assert_int_equal(res.files_ok, 2);
	assert_int_equal(count_of(f.calls.data, "exec CREATE TABLE a"), 2);
	assert_int_equal(count_of(f.executed.data, "CREATE TABLE a"), 1);
	assert_int_equal(count_of(res.log.data, "  -- migrating version 1\n"), 2);
	assert_contains(res.log.data, "rolled back the transaction of all files, which run again in ");
	assert_contains(res.log.data, "  -- 2 migrations\n  -- 2 sql statements\n");
	assert_int_equal(f.revs.n, 2);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);

	make_dir(&d, none);
	lr_setup(&f, &c, 2, 3);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_int_equal(res.lock_retries, 2);
	assert_int_equal(count_of(f.calls.data, "exec CREATE TABLE a"), 1);
	assert_int_equal(count_of(res.log.data, "-> CREATE TABLE a"), 1);
	assert_int_equal(count_of(res.log.data, "the statement runs again in "), 2);
	assert_int_equal(fake_db_rev(&f, "1")->applied, 2);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* Another error, or the options off: never retried, and the report keeps Atlas's members. */
static void
test_lock_retry_other_errors(void **state)
{
	static const char *const files[] = {
		"1_b.sql", "BROKEN;\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	mig_buf		rep;

	make_dir(&d, files);
	lr_setup(&f, &c, 0, 5);
	f.fail_on = "BROKEN";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	assert_int_equal(count_of(f.calls.data, "exec BROKEN"), 1);
	assert_int_equal(res.lock_retries, 0);
	assert_not_contains(res.log.data, "lock timeout");
	mig_result_free(&res);
	/* off: a lock timeout fails the file at once */
	fake_db_free(&f);
	lr_setup(&f, &c, 5, 0);
	c.stmt_lock_timeout_ms = 0;
	f.fail_on = NULL;
	{
		static const char *const lk[] = {"1_b.sql", "ALTER TABLE LOCKED ADD y int;\n", NULL};

		mig_dir_free(&d);
		make_dir(&d, lk);
	}
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	assert_int_equal(lr_timeouts, 1);
	assert_int_equal(lr_bound, -1);	/* never asked */
	mig_buf_init(&rep);
	assert_int_equal(mig_report_json(&res, &c, "fake", &rep), MIG_OK);
	assert_not_contains(rep.data, "LockRetries");
	mig_buf_free(&rep);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* tx file: file 3 of 5 fails; 1-2 committed; fixed, the next call finishes. */
static void
test_file3_of_5(void **state)
{
	const char *files[] = {
		"1_a.sql", "CREATE TABLE a(x int);\n",
		"2_b.sql", "CREATE TABLE b(x int);\n",
		"3_c.sql", "CREATE TABLE c(x int);\nINSERT INTO nope VALUES (1);\n",
		"4_d.sql", "CREATE TABLE d(x int);\n",
		"5_e.sql", "CREATE TABLE e(x int);\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	const mig_rev *r;

	make_dir(&d, files);
	fake_db_init(&f);
	cfg_init(&c);
	f.fail_on = "nope";
	f.fail_msg = "no such table: nope";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	assert_string_equal(f.executed.data, "CREATE TABLE a(x int);\nCREATE TABLE b(x int);\n");
	r = fake_db_rev(&f, "3");
	assert_non_null(r);
	assert_int_equal(r->applied, 0);
	assert_int_equal(r->total, 2);
	assert_string_equal(r->error, "no such table: nope");
	assert_string_equal(r->error_stmt, "INSERT INTO nope VALUES (1);");
	assert_null(fake_db_rev(&f, "4"));
	assert_string_equal(res.error, err.msg);
	assert_string_equal(res.current_after, "3");
	mig_result_free(&res);
	mig_dir_free(&d);

	/* fix file 3 (and the sum): the next call resumes at file 3 */
	files[5] = "CREATE TABLE c(x int);\nINSERT INTO c VALUES (1);\n";
	make_dir(&d, files);
	f.fail_on = NULL;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_contains(res.log.data, "Migrating to version 5 from 2 (3 migrations in total):");
	r = fake_db_rev(&f, "3");
	assert_int_equal(r->applied, 2);
	assert_string_equal(r->error, "");
	assert_non_null(fake_db_rev(&f, "5"));
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* A failed file (tx file) may also be deleted: its error row applied nothing. */
static void
test_failed_file_deleted(void **state)
{
	const char *files[] = {
		"1_a.sql", "CREATE TABLE a(x int);\n",
		"2_b.sql", "CREATE TABLE b(x int);\nBROKEN;\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;

	make_dir(&d, files);
	fake_db_init(&f);
	cfg_init(&c);
	f.fail_on = "BROKEN";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	assert_non_null(fake_db_rev(&f, "2"));
	mig_result_free(&res);
	mig_dir_free(&d);
	files[2] = NULL;
	make_dir(&d, files);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_string_equal(res.log.data, "No migration files to execute\n");
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* ---------------------------------------------------------------- log format (§h.2) */

static void
test_log_exact(void **state)
{
	static const char *const files[] = {
		"20240116000001.sql", "CREATE TABLE t0 (id int NOT NULL);\n",
		"20240116000002.sql", "CREATE TABLE t1 (id int NOT NULL);\nCREATE TABLE t2 (id int NOT NULL);\n",
		"20240116000003.sql", "CREATE TABLE t3 (id int NOT NULL);\nCREATE TABLE t4 (id int NOT NULL);\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	char	   *norm;

	make_dir(&d, files);
	fake_db_init(&f);
	fake_db_add_rev(&f, "20240116000001", "", 1, 1, NULL);
	cfg_init(&c);
	f.fail_on = "t4";
	f.fail_msg = "table t4 already exists";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	norm = normalize_durations(res.log.data);
	assert_string_equal(norm,
						"Migrating to version 20240116000003 from 20240116000001 (2 migrations in total):\n"
						"\n"
						"  -- migrating version 20240116000002\n"
						"    -> CREATE TABLE t1 (id int NOT NULL);\n"
						"    -> CREATE TABLE t2 (id int NOT NULL);\n"
						"  -- ok (D)\n"
						"\n"
						"  -- migrating version 20240116000003\n"
						"    -> CREATE TABLE t3 (id int NOT NULL);\n"
						"    -> CREATE TABLE t4 (id int NOT NULL);\n"
						"    table t4 already exists\n"
						"\n"
						"  -------------------------\n"
						"  -- D\n"
						"  -- 1 migration ok, 1 with errors\n"
						"  -- 3 sql statements ok, 1 with errors\n");
	/* the host saw the same entries, without blank lines */
	assert_contains(f.log.data, "  -- migrating version 20240116000003\n    -> CREATE TABLE t3");
	assert_not_contains(f.log.data, "\n\n");
	free(norm);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

static void
test_log_multiline_and_success(void **state)
{
	static const char *const files[] = {
		"20230306221009.sql", "create table users (\n  id int primary key\n);\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	char	   *norm;

	make_dir(&d, files);
	fake_db_init(&f);
	cfg_init(&c);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	norm = normalize_durations(res.log.data);
	assert_string_equal(norm,
						"Migrating to version 20230306221009 (1 migrations in total):\n"
						"\n"
						"  -- migrating version 20230306221009\n"
						"    -> create table users (\n"
						"         id int primary key\n"
						"       );\n"
						"  -- ok (D)\n"
						"\n"
						"  -------------------------\n"
						"  -- D\n"
						"  -- 1 migration\n"
						"  -- 1 sql statement\n");
	free(norm);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

static void
test_scan_error_applies_nothing(void **state)
{
	static const char *const files[] = {
		"1.sql", "CREATE TABLE a(x int);\n",
		"2.sql", "INSERT INTO a VALUES ('unclosed);\n",
		NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	char	   *norm;

	make_dir(&d, files);
	fake_db_init(&f);
	cfg_init(&c);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_ESCAN);
	assert_string_equal(err.msg, "sql/migrate: scanning statements from \"2.sql\": 1:23: unclosed quote '\\''");
	assert_int_equal(f.nexec, 0);
	norm = normalize_durations(res.log.data);
	assert_string_equal(norm,
						"Migrating to version 2 (2 migrations in total):\n"
						"\n"
						"    sql/migrate: scanning statements from \"2.sql\": 1:23: unclosed quote '\\''\n"
						"\n"
						"  -------------------------\n"
						"  -- D\n");
	free(norm);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* ---------------------------------------------------------------- baseline, clean (§g.3) */

static void
test_baseline(void **state)
{
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	const mig_rev *r;

	TU_NEED_CONFORMANCE();
	load_conf("cmd/atlas/internal/cmdapi/testdata/baseline1", &d);
	fake_db_init(&f);
	cfg_init(&c);
	c.baseline = "1";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_string_equal(res.log.data, "No migration files to execute\n");
	r = fake_db_rev(&f, "1");
	assert_non_null(r);
	assert_int_equal(r->type, MIG_REV_BASELINE);
	assert_int_equal(r->applied, 0);
	assert_int_equal(r->total, 0);
	assert_string_equal(r->hash, "");
	mig_result_free(&res);
	c.baseline = NULL;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_string_equal(res.log.data, "No migration files to execute\n");
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);

	load_conf("cmd/atlas/internal/cmdapi/testdata/baseline2", &d);
	fake_db_init(&f);
	c.baseline = "1";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_contains(res.log.data, "Migrating to version 20220318104615 from 1 (2 migrations in total):");
	mig_result_free(&res);
	fake_db_free(&f);
	fake_db_init(&f);
	c.baseline = NULL;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_contains(res.log.data, "Migrating to version 20220318104615 (3 migrations in total):");
	mig_result_free(&res);
	fake_db_free(&f);

	/* unknown baseline */
	fake_db_init(&f);
	c.baseline = "42";
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_ENOTFOUND);
	assert_string_equal(err.msg, "baseline version \"42\" not found");
	mig_result_free(&res);
	fake_db_free(&f);
	mig_dir_free(&d);
}

static void
test_dirty(void **state)
{
	static const char *const files[] = {"1.sql", "CREATE TABLE a(x int);\n", NULL};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;

	make_dir(&d, files);
	fake_db_init(&f);
	f.clean = false;
	f.dirty_reason = "found table \"users\"";
	cfg_init(&c);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EHISTORY);
	assert_string_equal(err.msg, "sql/migrate: connected database is not clean: found table \"users\". baseline version or allow-dirty is required");
	assert_int_equal(f.nexec, 0);
	assert_string_equal(res.log.data ? res.log.data : "", "");
	mig_result_free(&res);
	c.allow_dirty = true;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_int_equal(f.nexec, 1);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* ---------------------------------------------------------------- exec order (§2.2) */

static void
test_exec_order(void **state)
{
	const char *files[] = {
		"1.sql", "CREATE TABLE t1(c int);\n",
		"3.sql", "CREATE TABLE t3(c int);\n",
		NULL, NULL, NULL, NULL, NULL, NULL, NULL
	};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;

	make_dir(&d, files);
	fake_db_init(&f);
	cfg_init(&c);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	mig_result_free(&res);
	mig_dir_free(&d);

	files[4] = "2.sql";
	files[5] = "CREATE TABLE t2(c int);\n";
	make_dir(&d, files);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EHISTORY);
	assert_string_equal(err.msg, "migration file 2.sql was added out of order. See: https://atlasgo.io/versioned/apply#non-linear-error");
	mig_result_free(&res);
	c.exec_order = MIG_ORDER_LINEAR_SKIP;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_string_equal(res.log.data, "No migration files to execute\n");
	mig_result_free(&res);
	c.exec_order = MIG_ORDER_NON_LINEAR;
	mig_buf_reset(&f.executed);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_string_equal(f.executed.data, "CREATE TABLE t2(c int);\n");
	mig_result_free(&res);
	mig_dir_free(&d);

	files[6] = "2.5.sql";
	files[7] = "CREATE TABLE t25(c int);\n";
	files[8] = "4.sql";
	files[9] = "CREATE TABLE t4(c int);\n";
	make_dir(&d, files);
	mig_buf_reset(&f.executed);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_string_equal(f.executed.data, "CREATE TABLE t25(c int);\nCREATE TABLE t4(c int);\n");
	mig_result_free(&res);
	c.exec_order = MIG_ORDER_LINEAR;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_int_equal(res.status, MIG_RUN_NOTHING);
	mig_result_free(&res);
	c.exec_order = MIG_ORDER_LINEAR_SKIP;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_int_equal(res.status, MIG_RUN_NOTHING);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* ---------------------------------------------------------------- refusals */

static void
test_refusals(void **state)
{
	static const struct
	{
		const char *content;
		mig_txmode	mode;
		int			rc;
		const char *msg;
	}			cases[] = {
		{"BEGIN;\nCREATE TABLE a(x int);\nCOMMIT;\n", MIG_TX_FILE, MIG_EINVAL,
		"migration file \"2_x.sql\" controls transactions (statement 1: \"BEGIN;\"), which is not allowed in tx mode \"file\""},
		{"CREATE TABLE a(x int);\nend transaction;\n", MIG_TX_ALL, MIG_EINVAL,
		"migration file \"2_x.sql\" controls transactions (statement 2: \"end transaction;\"), which is not allowed in tx mode \"all\""},
		{"-- atlas:txmode none\n\nBEGIN;\nCREATE TABLE a(x int);\nCOMMIT;\n", MIG_TX_FILE, MIG_OK, NULL},
		{"-- atlas:txtar\n\n-- checks.sql --\nSELECT 1;\n", MIG_TX_FILE, MIG_ENOTSUP,
		"migration file \"2_x.sql\" is an atlas:txtar file (pre-migration checks), which is not supported"},
		{"-- atlas:txmode unknown\n\nSELECT 1;\n", MIG_TX_ALL, MIG_EINVAL,
		"unknown txmode \"unknown\" found in file directive \"2_x.sql\""},
		{"-- atlas:txmode none\n\nSELECT 1;\n", MIG_TX_ALL, MIG_EINVAL,
		"cannot set txmode directive to \"none\" in \"2_x.sql\" when txmode \"all\" is set globally"},
		{"-- atlas:sum ignore\nSELECT 1;\n", MIG_TX_FILE, MIG_ECHECKSUM,
		"sql/migrate: scanning checksum from \"2_x.sql\": checksum not found"},
		{"CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  SELECT 1;\nEND;\n", MIG_TX_FILE, MIG_OK, NULL},
	};
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		const char *files[] = {"1_a.sql", "CREATE TABLE z(x int);\n", "2_x.sql", cases[i].content, NULL};
		fake_db		f;
		mig_dir		d;
		mig_run_cfg c;
		mig_result	res;
		mig_err		err;
		int			rc;

		make_dir(&d, files);
		fake_db_init(&f);
		cfg_init(&c);
		c.tx_mode = cases[i].mode;
		rc = apply(&f, &d, &c, &res, &err);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d (%s), want %d", i, rc, err.msg, cases[i].rc);
		if (cases[i].msg)
		{
			assert_string_equal(err.msg, cases[i].msg);
			/* nothing ran, not even file 1 */
			assert_int_equal(f.nexec, 0);
			assert_int_equal(f.revs.n, 0);
		}
		mig_result_free(&res);
		mig_dir_free(&d);
		fake_db_free(&f);
	}
}

/* A statement the fake says cannot run inside a transaction block. */
static bool
no_concurrently(mig_db *db, const char *sql, size_t len)
{
	return strstr(sql, "CONCURRENTLY") == NULL || (size_t) (strstr(sql, "CONCURRENTLY") - sql) >= len;
}

/*
 * Inside the caller's transaction (caller_tx): tx mode none files and
 * statements that cannot run in a block are refused before anything runs,
 * naming the file and the statement; a dry run executes nothing and is not
 * refused; transactional files run as usual.
 */
static void
test_caller_tx_refusals(void **state)
{
	static const struct
	{
		const char *content;
		mig_txmode	mode;
		bool		dry;
		int			rc;
		const char *msg;
	}			cases[] = {
		{"-- atlas:txmode none\n\nCREATE TABLE a(x int);\n", MIG_TX_FILE, false, MIG_ESTATE,
		"migration file \"2_x.sql\" cannot run inside the caller's transaction: it has the directive \"-- atlas:txmode none\""},
		{"CREATE TABLE a(x int);\n", MIG_TX_NONE, false, MIG_ESTATE,
		"migration file \"1_a.sql\" cannot run inside the caller's transaction: tx_mode \"none\" runs each statement on its own"},
		{"CREATE TABLE a(x int);\nCREATE INDEX CONCURRENTLY i ON a (x);\n", MIG_TX_FILE, false, MIG_ESTATE,
		"migration file \"2_x.sql\" cannot run inside the caller's transaction: statement 2 (\"CREATE INDEX CONCURRENTLY i ON a (x);\") cannot run inside a transaction block"},
		{"CREATE TABLE a(x int);\nCREATE INDEX CONCURRENTLY i ON a (x);\n", MIG_TX_ALL, false, MIG_ESTATE,
		"migration file \"2_x.sql\" cannot run inside the caller's transaction: statement 2 (\"CREATE INDEX CONCURRENTLY i ON a (x);\") cannot run inside a transaction block"},
		{"-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY i ON a (x);\n", MIG_TX_FILE, true, MIG_OK, NULL},
		{"CREATE TABLE a(x int);\n", MIG_TX_FILE, false, MIG_OK, NULL},
	};
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		const char *files[] = {"1_a.sql", "CREATE TABLE z(x int);\n", "2_x.sql", cases[i].content, NULL};
		fake_db		f;
		mig_dir		d;
		mig_run_cfg c;
		mig_result	res;
		mig_err		err;
		int			rc;

		make_dir(&d, files);
		fake_db_init(&f);
		f.base.caller_tx = true;
		f.base.stmt_in_block = no_concurrently;
		cfg_init(&c);
		c.tx_mode = cases[i].mode;
		c.dry_run = cases[i].dry;
		rc = apply(&f, &d, &c, &res, &err);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d (%s), want %d", i, rc, err.msg, cases[i].rc);
		if (cases[i].msg)
		{
			assert_string_equal(err.msg, cases[i].msg);
			assert_string_equal(err.sqlstate, "25001");
			assert_non_null(strstr(err.hint, "outside a transaction block"));
			/* nothing ran, not even file 1 */
			assert_int_equal(f.nexec, 0);
			assert_int_equal(f.revs.n, 0);
		}
		else if (!cases[i].dry)
			assert_int_equal(f.revs.n, 2);
		mig_result_free(&res);
		mig_dir_free(&d);
		fake_db_free(&f);
	}
}

static void
test_lock_failure_and_dry_run(void **state)
{
	static const char *const files[] = {"1.sql", "CREATE TABLE a(x int);\n", "2.sql", "CREATE TABLE b(x int);\n", NULL};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	char	   *real,
			   *dry;

	make_dir(&d, files);
	fake_db_init(&f);
	f.locked_elsewhere = true;
	cfg_init(&c);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_ELOCKED);
	assert_string_equal(err.msg, "acquiring database lock: sql/schema: lock is held by other session");
	assert_int_equal(f.nexec, 0);
	assert_int_equal(f.nunlocks, 0);
	mig_result_free(&res);

	/* dry run: lock taken, nothing executed or written, same log */
	f.locked_elsewhere = false;
	c.dry_run = true;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	assert_int_equal(f.nexec, 0);
	assert_int_equal(f.revs.n, 0);
	assert_int_equal(f.nlocks, 1);
	assert_int_equal(f.nunlocks, 1);
	assert_not_contains(f.calls.data, "init_revisions");
	assert_not_contains(f.calls.data, "write");
	dry = normalize_durations(res.log.data);
	mig_result_free(&res);
	c.dry_run = false;
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_OK);
	real = normalize_durations(res.log.data);
	assert_string_equal(dry, real);
	free(dry);
	free(real);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

static void
test_interrupt(void **state)
{
	static const char *const files[] = {"1.sql", "CREATE TABLE a(x int);\n",
	"2.sql", "CREATE TABLE b(x int);\nCREATE TABLE c(x int);\n", NULL};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;

	make_dir(&d, files);
	fake_db_init(&f);
	f.interrupt_after = 2;
	cfg_init(&c);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EINTR);
	assert_string_equal(f.executed.data, "CREATE TABLE a(x int);\n");
	assert_non_null(fake_db_rev(&f, "1"));
	assert_int_equal(f.nunlocks, 1);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* ---------------------------------------------------------------- report, formats */

static void
test_report_json(void **state)
{
	static const char *const files[] = {"1_init.sql", "CREATE TABLE a(x int);\n",
	"2.sql", "CREATE TABLE \"b\"(x int);\nBAD;\n", NULL};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	mig_buf		b;
	regex_t		re;

	make_dir(&d, files);
	fake_db_init(&f);
	f.fail_on = "BAD";
	f.fail_msg = "near \"BAD\": syntax error";
	cfg_init(&c);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);
	mig_buf_init(&b);
	assert_int_equal(mig_report_json(&res, &c, "sqlite3", &b), MIG_OK);
	assert_int_equal(regcomp(&re,
							 "^\\{\"Driver\":\"sqlite3\",\"Dir\":\"file://migrations\","
							 "\"Pending\":\\[\\{\"Name\":\"1_init.sql\",\"Version\":\"1\",\"Description\":\"init\"\\},\\{\"Name\":\"2.sql\",\"Version\":\"2\"\\}\\],"
							 "\"Applied\":\\[\\{\"Name\":\"1_init.sql\",\"Version\":\"1\",\"Description\":\"init\",\"Start\":\"[0-9T:.Z-]+\",\"End\":\"[0-9T:.Z-]+\",\"Applied\":\\[\"CREATE TABLE a\\(x int\\);\"\\]\\},"
							 "\\{\"Name\":\"2.sql\",\"Version\":\"2\",\"Start\":\"[^\"]+\",\"End\":\"[^\"]+\",\"Applied\":\\[\"CREATE TABLE \\\\\"b\\\\\"\\(x int\\);\",\"BAD;\"\\],"
							 "\"Error\":\\{\"Stmt\":\"BAD;\",\"Text\":\"near \\\\\"BAD\\\\\": syntax error\"\\}\\}\\],"
							 "\"Target\":\"2\",\"Start\":\"[^\"]+\",\"End\":\"[^\"]+\",\"Error\":\"sql/migrate: executing statement \\\\\"BAD;\\\\\" from version \\\\\"2\\\\\": near \\\\\"BAD\\\\\": syntax error\"\\}$",
							 REG_EXTENDED), 0);
	if (regexec(&re, b.data, 0, NULL, 0) != 0)
		fail_msg("report did not match:\n%s", b.data);
	regfree(&re);
	mig_buf_free(&b);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

static void
test_durations(void **state)
{
	static const struct
	{
		int64_t		ns;
		const char *s;
	}			cases[] = {
		{0, "0s"}, {1, "1ns"}, {999, "999ns"}, {1000, "1\xc2\xb5s"}, {1500, "1.5\xc2\xb5s"},
		{8609330, "8.60933ms"}, {68037117, "68.037117ms"}, {1000000000, "1s"},
		{1500000000, "1.5s"}, {60000000000LL, "1m0s"}, {61500000000LL, "1m1.5s"},
		{3600000000000LL, "1h0m0s"}, {3723000000004LL, "1h2m3.000000004s"},
	};
	size_t		i;
	char		out[64];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_fmt_duration(cases[i].ns, out, sizeof(out));
		assert_string_equal(out, cases[i].s);
	}
	mig_fmt_time(0, out, sizeof(out));
	assert_string_equal(out, "0001-01-01T00:00:00Z");
	mig_fmt_time(1711101756123456789LL, out, sizeof(out));
	assert_string_equal(out, "2024-03-22T10:02:36.123456789Z");
	mig_fmt_time(1711101756120000000LL, out, sizeof(out));
	assert_string_equal(out, "2024-03-22T10:02:36.12Z");
}

static void
test_opts_json(void **state)
{
	static const struct
	{
		const char *json;
		int			rc;
		const char *msg;
	}			cases[] = {
		{"{\"amount\": 2, \"dry_run\": true, \"tx_mode\": \"none\", \"exec_order\": \"LINEAR_SKIP\", \"lock_timeout\": \"1m30s\", \"vars\": {\"a\": \"x\", \"n\": 3, \"l\": [\"p\", \"q\"]}}", MIG_OK, NULL},
		{"{\"amount\": \"two\"}", MIG_EINVAL, "option \"amount\" must be an integer"},
		{"{\"tx_mode\": \"each\"}", MIG_EINVAL, "unknown tx-mode \"each\""},
		{"{\"exec_order\": \"random\"}", MIG_EINVAL, "unknown execution order: \"random\""},
		{"{\"lock_timeout\": \"ten\"}", MIG_EINVAL, "invalid duration \"ten\""},
		{"{\"dryrun\": true}", MIG_EINVAL, "unknown option \"dryrun\""},
		{"[1]", MIG_EINVAL, "options must be a JSON object, e.g. {\"dry_run\": true}"},
		{"{\"amount\": ", MIG_EINVAL, NULL},
		{"{\"vars\": {\"o\": {\"x\": 1}}}", MIG_EINVAL, "variable \"o\": value must be a string, number, boolean or list"},
	};
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_opts	o;
		mig_err		err;
		int			rc;

		mig_opts_init(&o);
		rc = mig_opts_parse_json(cases[i].json, strlen(cases[i].json), &o, &err);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d (%s)", i, rc, err.msg);
		if (cases[i].msg)
			assert_string_equal(err.msg, cases[i].msg);
		if (i == 0)
		{
			assert_true(mig_opts_given(&o, MIG_OPT_AMOUNT));
			assert_int_equal(o.amount, 2);
			assert_true(o.dry_run);
			assert_int_equal(o.tx_mode, MIG_TX_NONE);
			assert_int_equal(o.exec_order, MIG_ORDER_LINEAR_SKIP);
			assert_int_equal(o.lock_timeout_ms, 90000);
			assert_int_equal(o.vars.n, 3);
			assert_string_equal(o.vars.v[1].values[0], "3");
			assert_true(o.vars.v[2].is_list);
			assert_int_equal(o.vars.v[2].nvalues, 2);
		}
		mig_opts_free(&o);
	}
}

static void
test_url_helpers(void **state)
{
	char	   *s;

	s = mig_url_redact("postgres://user:secret@db:5432/app?sslmode=disable&search_path=app");
	assert_string_equal(s, "postgres://user:xxxxx@db:5432/app?sslmode=disable&search_path=app");
	mig_free(s);
	s = mig_url_redact("atlas://app?tag=v1");
	assert_string_equal(s, "atlas://app?tag=v1");
	mig_free(s);
	assert_int_equal(mig_url_query_param("postgres://u@h/d?x=1&search_path=my%20s", "search_path", &s), MIG_OK);
	assert_string_equal(s, "my s");
	mig_free(s);
	assert_int_equal(mig_url_query_param("sqlite://file.db", "search_path", &s), MIG_OK);
	assert_null(s);
}

/* Go's %q (§0) and JSON strings, as messages and reports write them. */
static void
test_quoting(void **state)
{
	static const struct
	{
		const char *in;
		const char *go;
		const char *json;
	}			cases[] = {
		{"plain", "\"plain\"", "\"plain\""},
		{"a\"b\\c", "\"a\\\"b\\\\c\"", "\"a\\\"b\\\\c\""},
		{"x\n\ty\r", "\"x\\n\\ty\\r\"", "\"x\\n\\ty\\r\""},
		{"\x01\x7f", "\"\\x01\\x7f\"", "\"\\u0001\x7f\""},
		{"caf\xc3\xa9", "\"caf\xc3\xa9\"", "\"caf\xc3\xa9\""},
		{"a\xc2\xa0" "b\xe3\x80\x80", "\"a\\u00a0b\\u3000\"", "\"a\xc2\xa0" "b\xe3\x80\x80\""},
		{"bad\xff", "\"bad\\xff\"", "\"bad\\ufffd\""},
	};
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_buf		b;

		mig_buf_init(&b);
		assert_int_equal(mig_buf_goquote(&b, cases[i].in, strlen(cases[i].in)), MIG_OK);
		assert_string_equal(b.data, cases[i].go);
		mig_buf_reset(&b);
		assert_int_equal(mig_buf_json_str(&b, cases[i].in, strlen(cases[i].in)), MIG_OK);
		assert_string_equal(b.data, cases[i].json);
		mig_buf_free(&b);
	}
}

/* One byte, one character: a LATIN1 or SQL_ASCII host. */
static size_t
latin1_charlen(const unsigned char *s, size_t n)
{
	return 1;
}

/*
 * Host texts in the host's encoding (issue 8): a LATIN1 byte stays itself in
 * reports (the host's JSON parser reads its own encoding); without a hook,
 * and always for what goes to the Cloud, it is U+FFFD as in Go.
 */
static void
test_json_text_host_encoding(void **state)
{
	mig_buf		b;

	mig_buf_init(&b);
	assert_int_equal(mig_buf_json_text(&b, "caf\xe9 \"x\"\n", 9), MIG_OK);
	assert_string_equal(b.data, "\"caf\\ufffd \\\"x\\\"\\n\"");
	mig_buf_reset(&b);
	mig_set_text_charlen(latin1_charlen);
	assert_int_equal(mig_buf_json_text(&b, "caf\xe9 \"x\"\n", 9), MIG_OK);
	assert_string_equal(b.data, "\"caf\xe9 \\\"x\\\"\\n\"");
	mig_buf_reset(&b);
	assert_int_equal(mig_buf_json_str(&b, "caf\xe9", 4), MIG_OK);
	assert_string_equal(b.data, "\"caf\\ufffd\"");
	mig_set_text_charlen(NULL);
	mig_buf_free(&b);
}

/* "SELECT '<a...>';" of exactly len bytes, with s placed at byte at (when s). */
static char *
stmt_of(size_t len, size_t at, const char *ins)
{
	char	   *t = malloc(len + 1);

	memcpy(t, "SELECT '", 8);
	memset(t + 8, 'a', len - 10);
	memcpy(t + len - 2, "';", 2);
	t[len] = '\0';
	if (ins)
		memcpy(t + at, ins, strlen(ins));
	return t;
}

/*
 * Kept statement text (issue 12): a 10 KB statement is cut to 4 KB, on a
 * character boundary, with "… (N bytes)", in the stored log and in the
 * report, Error.Stmt included; the host's log entries (the NOTICE stream)
 * and the revision row's error_stmt keep the whole text.
 */
static void
test_kept_statement_cut(void **state)
{
	/* "é" (2 bytes) straddles byte 4096: the cut keeps 4095 bytes */
	char	   *big = stmt_of(10240, 4095, "\xc3\xa9");
	char	   *file = malloc(10240 + 64);
	const char *files[] = {"1.sql", NULL, NULL};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	mig_buf		b,
				want;
	const mig_rev *r;

	snprintf(file, 10240 + 64, "CREATE TABLE t(x);\n%s\n", big);
	files[1] = file;
	make_dir(&d, files);
	fake_db_init(&f);
	f.fail_on = "SELECT 'aaa";
	f.fail_msg = "no such thing";
	cfg_init(&c);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);

	/* what is kept: 4095 bytes (never half of "é"), then the marker */
	mig_buf_init(&want);
	mig_buf_puts(&want, "    -> ");
	mig_buf_append(&want, big, 4095);
	mig_buf_puts(&want, "\xe2\x80\xa6 (10240 bytes)\n    no such thing\n");
	assert_contains(res.log.data, want.data);
	assert_not_contains(res.log.data, "\xc3\xa9");
	/* the host's entries and the revision row: the whole statement */
	assert_contains(f.log.data, big);
	r = fake_db_rev(&f, "1");
	assert_non_null(r);
	assert_string_equal(r->error_stmt, big);

	mig_buf_init(&b);
	assert_int_equal(mig_report_json(&res, &c, "sqlite3", &b), MIG_OK);
	mig_buf_reset(&want);
	mig_buf_putc(&want, '"');
	mig_buf_append(&want, big, 4095);
	mig_buf_puts(&want, "\xe2\x80\xa6 (10240 bytes)\"");
	/* in Applied and in Error.Stmt */
	assert_contains(b.data, "\"Applied\":[\"CREATE TABLE t(x);\",\"SELECT 'aaa");
	assert_contains(b.data, "\"Stmt\":\"SELECT 'aaa");
	assert_non_null(strstr(strstr(b.data, want.data) + 1, want.data));
	assert_not_contains(b.data, "\\ufffd");
	assert_true(b.len < 10000);	/* whole, the statement alone would be twice 10240 */

	/* a host whose texts are LATIN1: the marker is three dots */
	mig_set_text_charlen(latin1_charlen);
	mig_buf_reset(&b);
	assert_int_equal(mig_report_json(&res, &c, "postgres", &b), MIG_OK);
	/* every byte is a character there: the cut is at 4096 bytes */
	assert_contains(b.data, "aaa\xc3... (10240 bytes)\"");
	mig_set_text_charlen(NULL);

	mig_buf_free(&b);
	mig_buf_free(&want);
	free(big);
	free(file);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/*
 * Past MIG_KEEP_STMTS (256 KB) of statement text, the log and the report
 * keep one entry for the rest of a file's statements; counts stay whole, a
 * failing statement still shows in the log, the host gets every statement.
 */
static void
test_kept_statement_budget(void **state)
{
	mig_buf		file,
				b;
	const char *files[] = {"1.sql", NULL, "2.sql", "SELECT 1;\nSELECT 'boom';\n", NULL};
	fake_db		f;
	mig_dir		d;
	mig_run_cfg c;
	mig_result	res;
	mig_err		err;
	int			i;
	char	   *st = stmt_of(4000, 0, NULL);
	char	   *norm;

	mig_buf_init(&file);
	for (i = 0; i < 100; i++)
	{
		mig_buf_puts(&file, st);
		mig_buf_putc(&file, '\n');
	}
	files[1] = file.data;
	make_dir(&d, files);
	fake_db_init(&f);
	f.fail_on = "boom";
	f.fail_msg = "it failed";
	cfg_init(&c);
	assert_int_equal(apply(&f, &d, &c, &res, &err), MIG_EDB);

	/* 66 statements reach 264,000 bytes >= 262,144: the other 34 are one line */
	norm = normalize_durations(res.log.data);
	assert_contains(norm, "';\n    -> \xe2\x80\xa6 34 more statements (136000 bytes)\n  -- ok (D)\n");
	assert_int_equal(count_occurrences(norm, "    -> SELECT 'aaa"), 66);
	/* the next file is past the budget too, but its failing statement shows */
	assert_contains(norm, "  -- migrating version 2\n"
					"    -> \xe2\x80\xa6 1 more statement (9 bytes)\n"
					"    -> SELECT 'boom';\n"
					"    it failed\n");
	assert_contains(norm, "  -- 1 migration ok, 1 with errors\n  -- 101 sql statements ok, 1 with errors\n");
	assert_true(res.log.len < 300 * 1024);
	/* the host saw all of them */
	assert_int_equal(count_occurrences(f.log.data, "    -> SELECT 'aaa"), 100);

	mig_buf_init(&b);
	assert_int_equal(mig_report_json(&res, &c, "sqlite3", &b), MIG_OK);
	assert_contains(b.data, "';\",\"\xe2\x80\xa6 34 more statements (136000 bytes)\"]");
	assert_contains(b.data, "\"Applied\":[\"\xe2\x80\xa6 2 more statements (23 bytes)\"],"
					"\"Error\":{\"Stmt\":\"SELECT 'boom';\"");
	assert_int_equal(count_occurrences(b.data, "\"SELECT 'aaa"), 66);

	free(norm);
	free(st);
	mig_buf_free(&b);
	mig_buf_free(&file);
	mig_result_free(&res);
	mig_dir_free(&d);
	fake_db_free(&f);
}

/* A failing allocator over a full apply: never a crash, never a leak. */
static void
test_apply_oom(void **state)
{
	static const char *const files[] = {
		"1_a.sql", "CREATE TABLE a(x int);\nINSERT INTO a VALUES (1);\n",
		"2_b.sql", "-- atlas:txmode none\n\nCREATE TABLE b(x int);\nBAD;\n",
		NULL
	};
	long		n;
	bool		ok = false;

	for (n = 0; n < 5000 && !ok; n++)
	{
		fake_db		f;
		mig_dir		d;
		mig_run_cfg c;
		mig_result	res;
		mig_err		err;
		int			rc;
		mig_buf		b;

		make_dir(&d, files);
		fake_db_init(&f);
		f.fail_on = "BAD";
		cfg_init(&c);
		mig_result_init(&res);
		tu_fail_after(n);
		rc = mig_apply(&f.base, &d, &c, &res, &err);
		mig_buf_init(&b);
		mig_report_json(&res, &c, "sqlite3", &b);
		tu_fail_reset();
		assert_true(rc == MIG_EDB || rc == MIG_ENOMEM);
		if (rc == MIG_EDB && !b.oom)
			ok = true;
		assert_int_equal(f.nlocks, f.nunlocks);
		mig_buf_free(&b);
		mig_result_free(&res);
		mig_dir_free(&d);
		fake_db_free(&f);
	}
	assert_true(ok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kept_statement_cut),
		cmocka_unit_test(test_kept_statement_budget),
		cmocka_unit_test(test_pending_sub),
		cmocka_unit_test(test_execute_sub_amount2),
		cmocka_unit_test(test_partly_resume),
		cmocka_unit_test(test_target_version_errors),
		cmocka_unit_test(test_to_version_replay),
		cmocka_unit_test(test_sqlite_amount1),
		cmocka_unit_test(test_sqlite2_file_mode),
		cmocka_unit_test(test_sqlite2_none_mode),
		cmocka_unit_test(test_none_stmt_tx_order),
		cmocka_unit_test(test_none_crash_between_statements),
		cmocka_unit_test(test_none_commit_fails),
		cmocka_unit_test(test_none_own_transaction),
		cmocka_unit_test(test_none_left_open),
		cmocka_unit_test(test_tx_all_rollback),
		cmocka_unit_test(test_lock_retry_file),
		cmocka_unit_test(test_lock_retry_spent),
		cmocka_unit_test(test_lock_retry_all_and_none),
		cmocka_unit_test(test_lock_retry_other_errors),
		cmocka_unit_test(test_file3_of_5),
		cmocka_unit_test(test_failed_file_deleted),
		cmocka_unit_test(test_log_exact),
		cmocka_unit_test(test_log_multiline_and_success),
		cmocka_unit_test(test_scan_error_applies_nothing),
		cmocka_unit_test(test_baseline),
		cmocka_unit_test(test_dirty),
		cmocka_unit_test(test_exec_order),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_caller_tx_refusals),
		cmocka_unit_test(test_lock_failure_and_dry_run),
		cmocka_unit_test(test_interrupt),
		cmocka_unit_test(test_report_json),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_opts_json),
		cmocka_unit_test(test_url_helpers),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_json_text_host_encoding),
		cmocka_unit_test(test_apply_oom),
	};

	return cmocka_run_group_tests_name("apply", tests, NULL, NULL);
}
