/*
 * test_run.c - the run lifecycle (run.c) over the fake adapter and a fake
 * history: progress inside each file's transaction, a committed run never
 * turned into an error when its final row cannot be written, and the status
 * words of mig_status over revision sets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "fake_db.h"
#include "run.h"

/* ---------------------------------------------------------------- a fake history */

typedef struct fake_hist {
	mig_history base;
	fake_db    *db;
	int			nstart;
	int			nprogress;
	int			nfinish;
	mig_buf		progress;		/* "files_applied:to_version:in_tx\n" per call */
	const char *finish_fails;	/* finish fails with this while a report is given */
	bool		last_has_report;
	mig_run_status last_status;
	int64_t		last_files_applied;
	char	   *last_log;
	char	   *last_error;
	mig_buf		warnings;		/* one per line */
} fake_hist;

#define FH(h) ((fake_hist *) (h))

static int
h_start(mig_history *h, const mig_run_row *row, int64_t *run_id, mig_err *err)
{
	FH(h)->nstart++;
	*run_id = 7;
	return MIG_OK;
}

static int
h_progress(mig_history *h, int64_t run_id, const mig_run_row *row, mig_err *err)
{
	fake_hist  *f = FH(h);

	f->nprogress++;
	mig_buf_printf(&f->progress, "%lld:%s:%s\n", (long long) row->files_applied,
				   row->to_version ? row->to_version : "NULL", f->db->in_tx ? "in_tx" : "no_tx");
	return MIG_OK;
}

static int
h_finish(mig_history *h, int64_t run_id, const mig_run_row *row, const char *cloud_body,
		 const char *cloud_target, const char *cloud_note, mig_err *err)
{
	fake_hist  *f = FH(h);

	f->nfinish++;
	if (f->finish_fails && row->report)
		return mig_err_set(err, MIG_EDB, "%s", f->finish_fails);
	f->last_has_report = row->report != NULL;
	f->last_status = row->status;
	f->last_files_applied = row->files_applied;
	mig_free(f->last_log);
	f->last_log = mig_strdup(row->log ? row->log : "");
	mig_free(f->last_error);
	f->last_error = row->error ? mig_strdup(row->error) : NULL;
	return MIG_OK;
}

static int
h_cloud_kept(mig_history *h, const char *target, mig_kept_report **out, size_t *n, mig_err *err)
{
	*out = NULL;
	*n = 0;
	return MIG_OK;
}

static int
h_cloud_set(mig_history *h, int64_t run_id, const char *url, const char *error, bool drop,
			mig_err *err)
{
	return MIG_OK;
}

static void
h_warning(mig_history *h, const char *msg)
{
	mig_buf_puts(&FH(h)->warnings, msg);
	mig_buf_putc(&FH(h)->warnings, '\n');
}

static void
hist_init(fake_hist *f, fake_db *db)
{
	memset(f, 0, sizeof(*f));
	f->base.start = h_start;
	f->base.progress = h_progress;
	f->base.finish = h_finish;
	f->base.cloud_kept = h_cloud_kept;
	f->base.cloud_set = h_cloud_set;
	f->base.warning = h_warning;
	f->db = db;
	mig_buf_init(&f->progress);
	mig_buf_init(&f->warnings);
}

static void
hist_free(fake_hist *f)
{
	mig_buf_free(&f->progress);
	mig_buf_free(&f->warnings);
	mig_free(f->last_log);
	mig_free(f->last_error);
}

/* ---------------------------------------------------------------- helpers */

static bool
contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

#define assert_contains(hay, needle) \
	do { if (!contains((hay), (needle))) fail_msg("expected %s\n--- to contain ---\n%s", \
		(hay) ? (hay) : "(null)", (needle)); } while (0)

/* A migration directory on disk with its atlas.sum (name/content pairs). */
static char *
write_migrations(const char *const *nc)
{
	char	   *root = tu_mkdtemp();
	mig_dir		d;
	mig_buf		sum;
	mig_err		err;
	char		path[4096];

	mig_dir_init(&d);
	for (; nc[0]; nc += 2)
	{
		snprintf(path, sizeof(path), "%s/%s", root, nc[0]);
		assert_int_equal(tu_write_file(path, nc[1], strlen(nc[1])), 0);
		assert_int_equal(mig_dir_add(&d, nc[0], nc[1], strlen(nc[1]), &err), MIG_OK);
	}
	assert_int_equal(mig_dir_finish(&d, &err), MIG_OK);
	mig_buf_init(&sum);
	assert_int_equal(mig_sum_format(&d, &sum), MIG_OK);
	snprintf(path, sizeof(path), "%s/atlas.sum", root);
	assert_int_equal(tu_write_file(path, sum.data, sum.len), 0);
	mig_buf_free(&sum);
	mig_dir_free(&d);
	return root;
}

static void
cfg_init(mig_run_cfg *c, const char *url)
{
	memset(c, 0, sizeof(*c));
	c->env_name = "test";
	c->dir_url = (char *) url;
	c->dir_url_redacted = (char *) url;
	c->tx_mode = MIG_TX_FILE;
	c->exec_order = MIG_ORDER_LINEAR;
	c->lock_timeout_ms = 10000;
}

static const char *const TWO[] = {
	"1_a.sql", "CREATE TABLE a (x int);\n",
	"2_b.sql", "CREATE TABLE b (x int);\nINSERT INTO b VALUES (1);\n",
	NULL
};

/* Run the directory nc through mig_run with a fake db and history. */
typedef struct run_fixture {
	char	   *root;
	char		url[4200];
	fake_db		db;
	fake_hist	h;
	mig_run_cfg cfg;
	mig_run_opts opts;
	mig_run_out out;
	mig_err		err;
} run_fixture;

static void
fixture_init(run_fixture *x, const char *const *nc)
{
	memset(x, 0, sizeof(*x));
	x->root = write_migrations(nc);
	snprintf(x->url, sizeof(x->url), "file://%s", x->root);
	fake_db_init(&x->db);
	hist_init(&x->h, &x->db);
	cfg_init(&x->cfg, x->url);
	x->opts.send_reports = true;
	mig_run_out_init(&x->out);
	mig_err_clear(&x->err);
}

static void
fixture_free(run_fixture *x)
{
	mig_run_out_free(&x->out);
	hist_free(&x->h);
	fake_db_free(&x->db);
	tu_rmtree(x->root);
	free(x->root);
}

/* ---------------------------------------------------------------- mig_run */

static void
test_progress_after_each_file_inside_its_transaction(void **state)
{
	run_fixture x;

	fixture_init(&x, TWO);
	assert_int_equal(mig_run(&x.db.base, &x.h.base, &x.cfg, &x.opts, &x.out, &x.err), MIG_OK);
	assert_int_equal(x.out.res.status, MIG_RUN_SUCCEEDED);
	assert_int_equal(x.out.run_id, 7);
	assert_int_equal(x.h.nstart, 1);
	assert_string_equal(x.h.progress.data, "1:1:in_tx\n2:2:in_tx\n");
	assert_int_equal(x.h.nfinish, 1);
	assert_true(x.h.last_has_report);
	assert_int_equal(x.h.last_files_applied, 2);
	assert_int_equal(x.db.nlocks, 1);
	assert_int_equal(x.db.nunlocks, 1);
	fixture_free(&x);
}

static void
test_finish_failure_keeps_a_successful_run_ok(void **state)
{
	run_fixture x;

	fixture_init(&x, TWO);
	x.h.finish_fails = "value too long for the report column";
	assert_int_equal(mig_run(&x.db.base, &x.h.base, &x.cfg, &x.opts, &x.out, &x.err), MIG_OK);
	/* the run's own result */
	assert_int_equal(x.out.res.status, MIG_RUN_SUCCEEDED);
	assert_string_equal(x.err.msg, "");
	assert_non_null(fake_db_rev(&x.db, "1"));
	assert_non_null(fake_db_rev(&x.db, "2"));
	/* a shorter row: no report, the log says why */
	assert_int_equal(x.h.nfinish, 2);
	assert_false(x.h.last_has_report);
	assert_int_equal(x.h.last_status, MIG_RUN_SUCCEEDED);
	assert_int_equal(x.h.last_files_applied, 2);
	assert_string_equal(x.h.last_log,
						"the run's log and report could not be stored: value too long for the report column");
	/* and a warning says so, as it happens and in the returned report */
	assert_string_equal(x.h.warnings.data,
						"recording the end of the run failed, a shorter record was kept: "
						"value too long for the report column\n");
	assert_non_null(x.out.report);
	assert_contains(x.out.report, "\"Status\":\"succeeded\"");
	assert_contains(x.out.report, "\"Warnings\":[\"recording the end of the run failed, a shorter record was kept: "
					"value too long for the report column\"]");
	assert_int_equal(x.db.nunlocks, 1);
	fixture_free(&x);
}

static void
test_finish_failure_keeps_a_failed_runs_own_error(void **state)
{
	run_fixture x;

	fixture_init(&x, TWO);
	x.db.fail_on = "INSERT INTO b";
	x.db.fail_msg = "no such table: b";
	x.h.finish_fails = "value too long for the report column";
	assert_int_equal(mig_run(&x.db.base, &x.h.base, &x.cfg, &x.opts, &x.out, &x.err), MIG_EDB);
	assert_int_equal(x.out.res.status, MIG_RUN_FAILED);
	assert_contains(x.err.msg, "no such table: b");
	assert_contains(x.err.detail, "Migration file 2_b.sql (version 2) failed at statement 2");
	assert_int_equal(x.h.nfinish, 2);
	assert_false(x.h.last_has_report);
	assert_int_equal(x.h.last_status, MIG_RUN_FAILED);
	assert_int_equal(x.h.last_files_applied, 1);
	assert_contains(x.h.last_error, "no such table: b");
	assert_contains(x.h.warnings.data, "recording the end of the run failed, a shorter record was kept");
	fixture_free(&x);
}

/* ---------------------------------------------------------------- mig_status */

static const char *const FOUR[] = {
	"1_a.sql", "CREATE TABLE a (x int);\n",
	"2_b.sql", "CREATE TABLE b (x int);\nINSERT INTO b VALUES (1);\n",
	"3_c.sql", "CREATE TABLE c (x int);\nINSERT INTO c VALUES (1);\n",
	"4_d.sql", "CREATE TABLE d (x int);\n",
	NULL
};

static void
make_dir(mig_dir *d, const char *const *nc)
{
	mig_err		err;

	mig_dir_init(d);
	for (; nc[0]; nc += 2)
		assert_int_equal(mig_dir_add(d, nc[0], nc[1], strlen(nc[1]), &err), MIG_OK);
	assert_int_equal(mig_dir_finish(d, &err), MIG_OK);
}

/* The status words of every file, comma-separated, with applied/total. */
static char *
status_words(const char *const *nc, fake_db *f, mig_exec_order order)
{
	mig_dir		d;
	mig_run_cfg c;
	mig_status_row *rows = NULL;
	mig_err		err;
	mig_buf		b;
	size_t		i;

	make_dir(&d, nc);
	cfg_init(&c, "file://x");
	c.exec_order = order;
	mig_err_clear(&err);
	assert_int_equal(mig_status(&d, &f->revs, &c, MIG_LEX_SQLITE, &rows, &err), MIG_OK);
	mig_buf_init(&b);
	for (i = 0; i < d.nfiles; i++)
		mig_buf_printf(&b, "%s%s=%s %lld/%lld", i ? "," : "", rows[i].file->version, rows[i].status,
					   (long long) rows[i].applied, (long long) rows[i].total);
	mig_free(rows);
	mig_dir_free(&d);
	return mig_buf_steal(&b);
}

static mig_rev *
rev(fake_db *f, const char *version)
{
	return (mig_rev *) fake_db_rev(f, version);
}

static void
set_error(fake_db *f, const char *version, const char *msg)
{
	mig_rev    *r = rev(f, version);

	mig_free(r->error);
	r->error = mig_strdup(msg);
}

static void
test_status_words(void **state)
{
	fake_db		f;
	char	   *s;

	/* nothing applied: every file pending, totals from the split */
	fake_db_init(&f);
	s = status_words(FOUR, &f, MIG_ORDER_LINEAR);
	assert_string_equal(s, "1=pending 0/1,2=pending 0/2,3=pending 0/2,4=pending 0/1");
	mig_free(s);

	/* the baseline row, files below it without a row, then applied, pending */
	fake_db_add_rev(&f, "2", "b", 0, 0, NULL);
	rev(&f, "2")->type = MIG_REV_BASELINE;
	fake_db_add_rev(&f, "3", "c", 2, 2, NULL);
	s = status_words(FOUR, &f, MIG_ORDER_LINEAR);
	assert_string_equal(s, "1=baseline 0/1,2=baseline 0/0,3=applied 2/2,4=pending 0/1");
	mig_free(s);
	fake_db_free(&f);

	/* a failed attempt that applied nothing (tx_mode file): failed, and it
	 * does not count as history: the next apply runs it and what follows */
	fake_db_init(&f);
	fake_db_add_rev(&f, "1", "a", 1, 1, NULL);
	fake_db_add_rev(&f, "2", "b", 0, 2, NULL);
	set_error(&f, "2", "no such table: b");
	s = status_words(FOUR, &f, MIG_ORDER_LINEAR);
	assert_string_equal(s, "1=applied 1/1,2=failed 0/2,3=pending 0/2,4=pending 0/1");
	mig_free(s);
	fake_db_free(&f);

	/* partial (tx_mode none stopped after a statement), and partial with an error */
	fake_db_init(&f);
	fake_db_add_rev(&f, "1", "a", 1, 1, NULL);
	fake_db_add_rev(&f, "2", "b", 1, 2, NULL);
	s = status_words(FOUR, &f, MIG_ORDER_LINEAR);
	assert_string_equal(s, "1=applied 1/1,2=partial 1/2,3=pending 0/2,4=pending 0/1");
	mig_free(s);
	set_error(&f, "2", "boom");
	s = status_words(FOUR, &f, MIG_ORDER_LINEAR);
	assert_string_equal(s, "1=applied 1/1,2=failed 1/2,3=pending 0/2,4=pending 0/1");
	mig_free(s);
	fake_db_free(&f);
}

static void
test_status_words_checkpoint_and_linear_skip(void **state)
{
	static const char *const CKPT[] = {
		"1_a.sql", "CREATE TABLE a (x int);\n",
		"2_b.sql", "CREATE TABLE b (x int);\n",
		"3_checkpoint.sql", "-- atlas:checkpoint\n\nCREATE TABLE a (x int);\nCREATE TABLE b (x int);\n",
		"4_d.sql", "CREATE TABLE d (x int);\n",
		NULL
	};
	static const char *const ONE_TWO_THREE[] = {
		"1_a.sql", "CREATE TABLE a (x int);\n",
		"2_b.sql", "CREATE TABLE b (x int);\n",
		"3_c.sql", "CREATE TABLE c (x int);\n",
		NULL
	};
	fake_db		f;
	char	   *s;

	/* a fresh database starts at the last checkpoint: what is before it is skipped */
	fake_db_init(&f);
	s = status_words(CKPT, &f, MIG_ORDER_LINEAR);
	assert_string_equal(s, "1=skipped 0/1,2=skipped 0/1,3=pending 0/2,4=pending 0/1");
	mig_free(s);
	fake_db_add_rev(&f, "3", "checkpoint", 2, 2, NULL);
	fake_db_add_rev(&f, "4", "d", 1, 1, NULL);
	s = status_words(CKPT, &f, MIG_ORDER_LINEAR);
	assert_string_equal(s, "1=skipped 0/1,2=skipped 0/1,3=applied 2/2,4=applied 1/1");
	mig_free(s);
	fake_db_free(&f);

	/* 2 added below the applied 3: linear_skip skips it, non_linear runs it */
	fake_db_init(&f);
	fake_db_add_rev(&f, "1", "a", 1, 1, NULL);
	fake_db_add_rev(&f, "3", "c", 1, 1, NULL);
	s = status_words(ONE_TWO_THREE, &f, MIG_ORDER_LINEAR_SKIP);
	assert_string_equal(s, "1=applied 1/1,2=skipped 0/1,3=applied 1/1");
	mig_free(s);
	s = status_words(ONE_TWO_THREE, &f, MIG_ORDER_NON_LINEAR);
	assert_string_equal(s, "1=applied 1/1,2=pending 0/1,3=applied 1/1");
	mig_free(s);
	/* linear: the next apply stops there with an error; status says pending */
	s = status_words(ONE_TWO_THREE, &f, MIG_ORDER_LINEAR);
	assert_string_equal(s, "1=applied 1/1,2=pending 0/1,3=applied 1/1");
	mig_free(s);
	fake_db_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_progress_after_each_file_inside_its_transaction),
		cmocka_unit_test(test_finish_failure_keeps_a_successful_run_ok),
		cmocka_unit_test(test_finish_failure_keeps_a_failed_runs_own_error),
		cmocka_unit_test(test_status_words),
		cmocka_unit_test(test_status_words_checkpoint_and_linear_skip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
