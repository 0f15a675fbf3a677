/*
 * test_input.c - bad input and faults stay truthful (issue 8): NUL bytes in
 * migration files, duplicate and empty versions, numeric and duration
 * options out of range, and error texts that are always valid UTF-8.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "fake_db.h"

/* ---------------------------------------------------------------- helpers */

/*
 * Strict UTF-8 check, written apart from the code under test: no overlong
 * forms, no surrogates, nothing past U+10FFFF, no cut sequence.
 */
static bool
valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p)
	{
		unsigned	cp;
		int			n,
					i;

		if (p[0] < 0x80)
		{
			p++;
			continue;
		}
		if (p[0] >= 0xC2 && p[0] <= 0xDF)
			n = 1, cp = p[0] & 0x1F;
		else if (p[0] >= 0xE0 && p[0] <= 0xEF)
			n = 2, cp = p[0] & 0x0F;
		else if (p[0] >= 0xF0 && p[0] <= 0xF4)
			n = 3, cp = p[0] & 0x07;
		else
			return false;
		for (i = 1; i <= n; i++)
		{
			if ((p[i] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
			(cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
			return false;
		p += n + 1;
	}
	return true;
}

#define assert_valid_err(e) \
	do { \
		if (!valid_utf8((e)->msg) || !valid_utf8((e)->detail) || !valid_utf8((e)->hint)) \
			fail_msg("invalid UTF-8 in error: %s", (e)->msg); \
	} while (0)

#define assert_contains(hay, needle) \
	do { if (strstr((hay), (needle)) == NULL) \
		fail_msg("expected \"%s\" in: %s", (needle), (hay)); } while (0)

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

/* An in-memory directory from (name, content, length) triples; len -1 = strlen. */
typedef struct entry {
	const char *name;
	const char *data;
	long		len;
} entry;

static void
make_dir(mig_dir *d, const entry *e, size_t n)
{
	mig_err		err;
	size_t		i;

	mig_dir_init(d);
	for (i = 0; i < n; i++)
		assert_int_equal(mig_dir_add(d, e[i].name, e[i].data,
									 e[i].len < 0 ? strlen(e[i].data) : (size_t) e[i].len, &err), MIG_OK);
	assert_int_equal(mig_dir_finish(d, &err), MIG_OK);
}

/* ---------------------------------------------------------------- 1. NUL bytes */

/*
 * A NUL byte would end the statement for the host (SQLite silently skips
 * the rest and records the file as applied): refused before anything runs,
 * naming file, byte offset, line and column.
 */
static void
test_nul_byte_applies_nothing(void **state)
{
	static const char two[] = "SELECT 1;\nSELECT 'a\0b';\n";
	const entry files[] = {
		{"1_a.sql", "CREATE TABLE a (x int);\n", -1},
		{"2_b.sql", two, (long) sizeof(two) - 1},
	};
	mig_dir		d;
	mig_run_cfg cfg;
	mig_result	res;
	mig_err		err;
	fake_db		f;
	int			dry;

	(void) state;
	make_dir(&d, files, 2);
	for (dry = 0; dry <= 1; dry++)
	{
		fake_db_init(&f);
		cfg_init(&cfg);
		cfg.dry_run = dry;
		mig_result_init(&res);
		mig_err_clear(&err);
		assert_int_equal(mig_apply(&f.base, &d, &cfg, &res, &err), MIG_ESCAN);
		assert_string_equal(err.msg,
							"migration file \"2_b.sql\" holds a NUL byte at byte offset 19 (line 2, column 10)");
		assert_valid_err(&err);
		/* nothing ran, not even the first file */
		if (f.calls.data && strstr(f.calls.data, "exec"))
			fail_msg("statements ran: %s", f.calls.data);
		assert_int_equal(f.revs.n, 0);
		assert_int_equal(res.napplied, 0);
		mig_result_free(&res);
		fake_db_free(&f);
	}
	mig_dir_free(&d);
}

static void
test_nul_byte_positions(void **state)
{
	static const struct {
		const char *data;
		size_t		len;
		const char *where;		/* NULL = no NUL */
	}			cases[] = {
		{"\0", 1, "byte offset 0 (line 1, column 1)"},
		{"a\nb\n\n\0x", 7, "byte offset 5 (line 4, column 1)"},
		{"-- c\0omment\n", 12, "byte offset 4 (line 1, column 5)"},
		{"SELECT 1;\n", 10, NULL},
		{"", 0, NULL},
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_file	file;
		mig_err		err;
		int			rc;

		memset(&file, 0, sizeof(file));
		file.name = "1_x.sql";
		file.data = (char *) cases[i].data;
		file.len = cases[i].len;
		mig_err_clear(&err);
		rc = mig_file_check_nul(&file, &err);
		if (cases[i].where == NULL)
			assert_int_equal(rc, MIG_OK);
		else
		{
			assert_int_equal(rc, MIG_ESCAN);
			assert_contains(err.msg, cases[i].where);
		}
	}
}

/* ---------------------------------------------------------------- 2. versions */

static void
test_duplicate_versions(void **state)
{
	static const struct {
		const char *names[4];
		const char *msg;		/* NULL = accepted */
	}			cases[] = {
		{{"1_a.sql", "2_b.sql", "10_c.sql"}, NULL},
		{{"1_a.sql", "1_b.sql"}, "migration files \"1_a.sql\" and \"1_b.sql\" have the same version \"1\""},
		/* not neighbours in name order: 1.sql < 1.x_b.sql < 1_a.sql */
		{{"1.sql", "1.x_b.sql", "1_a.sql"}, "migration files \"1.sql\" and \"1_a.sql\" have the same version \"1\""},
		{{"3_c.sql", "3_b.sql", "3_a.sql", "2.sql"},
		"migration files \"3_a.sql\", \"3_b.sql\" and \"3_c.sql\" have the same version \"3\""},
		{{"1_a.sql", "_x.sql"}, "migration file \"_x.sql\" has an empty version"},
		{{".sql"}, "migration file \".sql\" has an empty version"},
		{{"__.sql"}, "migration file \"__.sql\" has an empty version"},
		{{"1_\xff.sql", "1_b.sql"}, "migration files \"1_b.sql\" and \"1_\\xff.sql\" have the same version \"1\""},
	};
	size_t		i,
				j;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_dir		d;
		mig_err		err;
		int			rc;

		mig_dir_init(&d);
		for (j = 0; j < 4 && cases[i].names[j]; j++)
			assert_int_equal(mig_dir_add(&d, cases[i].names[j], "SELECT 1;\n", 10, &err), MIG_OK);
		assert_int_equal(mig_dir_finish(&d, &err), MIG_OK);
		mig_err_clear(&err);
		rc = mig_dir_check_versions(&d, &err);
		if (cases[i].msg == NULL)
		{
			if (rc != MIG_OK)
				fail_msg("case %zu: %s", i, err.msg);
		}
		else
		{
			assert_int_equal(rc, MIG_EINVAL);
			if (strcmp(err.msg, cases[i].msg) != 0)
				fail_msg("case %zu: \"%s\", want \"%s\"", i, err.msg, cases[i].msg);
			assert_valid_err(&err);
			assert_true(err.hint[0] != '\0');
		}
		mig_dir_free(&d);
	}
}

/*
 * Atlas's own fixture sql/migrate/testdata/migrate has two files of
 * version 1: its atlas.sum still computes and verifies (the check is not
 * part of loading), and mig_source_load refuses it before anything runs.
 */
static void
test_duplicate_versions_fixture_and_source(void **state)
{
	char		path[4096];
	char		url[4200];
	mig_dir		d;
	mig_err		err;
	mig_run_cfg cfg;

	(void) state;
	TU_NEED_CONFORMANCE();
	snprintf(path, sizeof(path), "%s/dirs/sql/migrate/testdata/migrate", tu_conformance_dir());
	mig_dir_init(&d);
	assert_int_equal(mig_dir_load_local(path, &d, &err), MIG_OK);
	assert_int_equal(mig_sum_verify(&d, &err), MIG_OK);
	assert_int_equal(mig_dir_check_versions(&d, &err), MIG_EINVAL);
	assert_string_equal(err.msg, "migration files \"1_initial.down.sql\" and \"1_initial.up.sql\" have the same version \"1\"");
	mig_dir_free(&d);

	cfg_init(&cfg);
	snprintf(url, sizeof(url), "file://%s", path);
	cfg.dir_url = url;
	cfg.dir_url_redacted = url;
	assert_int_equal(mig_source_load(&cfg, NULL, &d, &err), MIG_EINVAL);
	assert_contains(err.msg, "have the same version \"1\"");
	assert_int_equal(d.nfiles, 0);
	mig_dir_free(&d);

	/* the sub directory has unique versions */
	snprintf(url, sizeof(url), "file://%s/sub", path);
	assert_int_equal(mig_source_load(&cfg, NULL, &d, &err), MIG_OK);
	assert_int_equal(d.nfiles, 3);
	mig_dir_free(&d);
}

/* ---------------------------------------------------------------- 3. options */

static void
test_option_ranges(void **state)
{
	static const struct {
		const char *json;
		const char *msg;		/* substring of the error; NULL = OK */
		int64_t		lock_ms;	/* when OK and >= 0 */
	}			cases[] = {
		{"{\"lock_timeout\": 2147484}", "option \"lock_timeout\" must be a duration from 0 to 576h (2073600 seconds), got 2147484", 0},
		{"{\"lock_timeout\": 1e300}", "option \"lock_timeout\" must be a duration from 0 to 576h", 0},
		{"{\"lock_timeout\": -1}", "option \"lock_timeout\" must be a duration from 0 to 576h (2073600 seconds), got -1", 0},
		{"{\"lock_timeout\": -0.001}", "option \"lock_timeout\" must be", 0},
		{"{\"lock_timeout\": 2073600}", NULL, 2073600000},
		{"{\"lock_timeout\": 0.0004}", NULL, 1},
		{"{\"lock_timeout\": 0}", NULL, 0},
		{"{\"lock_timeout\": \"576h\"}", NULL, 2073600000},
		{"{\"lock_timeout\": \"576h0.001s\"}", "option \"lock_timeout\" must be a duration from 0 to 576h (2073600 seconds), got \"576h0.001s\"", 0},
		{"{\"lock_timeout\": \"-5s\"}", "option \"lock_timeout\" must be a duration from 0 to 576h", 0},
		{"{\"lock_timeout\": \"2562047h\"}", "option \"lock_timeout\" must be", 0},
		/* Go's overflow: past 2^63-1 ns is an invalid duration */
		{"{\"lock_timeout\": \"2562048h\"}", "invalid duration \"2562048h\"", 0},
		{"{\"lock_timeout\": \"9223372036854775808ns\"}", "invalid duration", 0},
		{"{\"lock_timeout\": \"99999999999999999999s\"}", "invalid duration", 0},
		{"{\"lock_timeout\": \"1\"}", "missing unit in duration \"1\"", 0},
		{"{\"lock_timeout\": \"1x\"}", "unknown unit \"x\" in duration \"1x\"", 0},
		{"{\"lock_timeout\": \".\"}", "invalid duration \".\"", 0},
		{"{\"lock_timeout\": \"\"}", "invalid duration \"\"", 0},
		{"{\"lock_timeout\": \"1.5h\"}", NULL, 5400000},
		{"{\"lock_timeout\": \".5s\"}", NULL, 500},
		{"{\"lock_timeout\": \"1.s\"}", NULL, 1000},
		{"{\"lock_timeout\": \"1h2m3.5s\"}", NULL, 3723500},
		{"{\"lock_timeout\": \"1.0000000000000000000000001s\"}", NULL, 1000},
		{"{\"lock_timeout\": \"+0\"}", NULL, 0},
		{"{\"lock_timeout\": \"1\xc2\xb5s\"}", NULL, 1},
		{"{\"cloud_timeout\": 1e300}", "option \"cloud_timeout\" must be a duration from 0 to 576h", -1},
		{"{\"cloud_timeout\": \"1000h\"}", "option \"cloud_timeout\" must be", -1},
		{"{\"amount\": 1e300}", "option \"amount\" must be an integer from 1 to 2147483647, got 1.0000000000000001e+300", -1},
		{"{\"amount\": 2147483648}", "option \"amount\" must be an integer from 1 to 2147483647", -1},
		{"{\"amount\": -1e300}", "option \"amount\" must be an integer from 1 to 2147483647", -1},
		{"{\"amount\": 1.5}", "option \"amount\" must be an integer from 1 to 2147483647, got 1.5", -1},
		{"{\"amount\": \"2\"}", "option \"amount\" must be an integer", -1},
		{"{\"amount\": 2147483647}", NULL, -1},
		/* 0 and negatives reach mig_resolve: Atlas's "cannot apply" wording */
		{"{\"amount\": -1}", NULL, -1},
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_opts	o;
		mig_err		err;
		int			rc;

		mig_opts_init(&o);
		mig_err_clear(&err);
		rc = mig_opts_parse_json(cases[i].json, strlen(cases[i].json), &o, &err);
		if (cases[i].msg == NULL)
		{
			if (rc != MIG_OK)
				fail_msg("case %zu %s: %s", i, cases[i].json, err.msg);
			if (cases[i].lock_ms >= 0)
				assert_int_equal(o.lock_timeout_ms, cases[i].lock_ms);
		}
		else
		{
			if (rc != MIG_EINVAL)
				fail_msg("case %zu %s: rc %d, lock %lld", i, cases[i].json, rc, (long long) o.lock_timeout_ms);
			if (strstr(err.msg, cases[i].msg) == NULL)
				fail_msg("case %zu %s: \"%s\", want \"%s\"", i, cases[i].json, err.msg, cases[i].msg);
		}
		mig_opts_free(&o);
	}
}

/* atlas.hcl durations: the same ranges, naming the env and attribute. */
static void
test_hcl_duration_ranges(void **state)
{
	static const struct {
		const char *hcl;
		const char *msg;
	}			cases[] = {
		{"env \"x\" {\n  migration {\n    dir = \"file://m\"\n    lock_timeout = \"1000h\"\n  }\n}\n",
		"env \"x\": migration.lock_timeout: the value must be a duration from 0 to 576h (2073600 seconds), got \"1000h\""},
		{"env \"x\" {\n  migration {\n    dir = \"file://m\"\n    lock_timeout = \"-1s\"\n  }\n}\n",
		"env \"x\": migration.lock_timeout: the value must be a duration from 0 to 576h"},
		{"env \"x\" {\n  migration {\n    dir = \"file://m\"\n    lock_timeout = \"3000000h\"\n  }\n}\n",
		"env \"x\": migration.lock_timeout: invalid duration \"3000000h\""},
		{"atlas {\n  cloud {\n    token = \"t\"\n    timeout = \"600h\"\n  }\n}\nenv \"x\" {\n  migration {\n    dir = \"file://m\"\n  }\n}\n",
		"atlas.hcl: cloud.timeout: the value must be a duration from 0 to 576h"},
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_opts	o;
		mig_run_cfg cfg;
		mig_err		err;

		mig_opts_init(&o);
		mig_err_clear(&err);
		assert_int_equal(mig_resolve(cases[i].hcl, strlen(cases[i].hcl), "x", &o, &cfg, &err), MIG_EINVAL);
		if (strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("case %zu: \"%s\", want \"%s\"", i, err.msg, cases[i].msg);
		mig_run_cfg_free(&cfg);
	}
}

/* ---------------------------------------------------------------- 4. UTF-8 */

/* Invalid sequences become U+FFFD; valid text is kept as it is. */
static void
test_err_replaces_invalid_utf8(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	}			cases[] = {
		{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
		{"a\xff" "b", "a\xef\xbf\xbd" "b"},
		{"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},			/* overlong '/' */
		{"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},	/* surrogate */
		{"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},	/* > U+10FFFF */
		{"end\xe2\x82", "end\xef\xbf\xbd\xef\xbf\xbd"},	/* cut in the input */
	};
	size_t		i;
	mig_err		err;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_err_set(&err, MIG_EINVAL, "%s", cases[i].in);
		assert_string_equal(err.msg, cases[i].out);
		mig_err_detail(&err, "d %s", cases[i].in);
		mig_err_hint(&err, "h %s", cases[i].in);
		assert_valid_err(&err);
		mig_err_prefix(&err, "p\xfe: ");
		assert_valid_err(&err);
		assert_memory_equal(err.msg, "p\xef\xbf\xbd: ", 6);
	}
}

/* A cut message never splits a character and ends in "...". */
static void
test_err_cut_at_character_boundary(void **state)
{
	char		big[MIG_ERR_MSG * 2 + 8];
	mig_err		err;
	size_t		lead,
				n;

	(void) state;
	for (lead = 0; lead < 4; lead++)
	{
		/* lead ASCII bytes, then 3-byte characters, so cuts land anywhere */
		memset(big, 'a', lead);
		for (n = lead; n + 3 < sizeof(big) - 1; n += 3)
			memcpy(big + n, "\xe2\x82\xac", 3);
		big[n] = '\0';

		mig_err_set(&err, MIG_EINVAL, "%s", big);
		mig_err_detail(&err, "%s", big);
		mig_err_hint(&err, "%s", big);
		assert_valid_err(&err);
		assert_true(strlen(err.msg) < MIG_ERR_MSG);
		assert_true(strlen(err.msg) > MIG_ERR_MSG - 8);
		assert_string_equal(err.msg + strlen(err.msg) - 3, "...");
		assert_string_equal(err.detail + strlen(err.detail) - 3, "...");
		assert_string_equal(err.hint + strlen(err.hint) - 3, "...");

		/* a long prefix on a long message */
		mig_err_set(&err, MIG_EINVAL, "%s", big + 1);
		mig_err_prefix(&err, "%s", big + 2);
		assert_valid_err(&err);
		assert_string_equal(err.msg + strlen(err.msg) - 3, "...");

		/* a "%.100s" cut in the middle of a character */
		mig_err_set(&err, MIG_EINVAL, "x%.100sy", big);
		assert_valid_err(&err);

		mig_err_copy(err.sum_file, sizeof(err.sum_file), big, strlen(big));
		assert_true(valid_utf8(err.sum_file));
		assert_string_equal(err.sum_file + strlen(err.sum_file) - 3, "...");
	}
}

/*
 * Raw input reaches messages from everywhere: option keys and values, env
 * names, file names, database errors quoting migration text.
 */
static void
test_err_utf8_from_inputs(void **state)
{
	static const char *const opts[] = {
		"{\"\xff\xfe\": 1}",
		"{\"vars\": {\"\xc3\": {}}}",
		"{\"tx_mode\": \"\xe2\x82\"}",
		"{\"lock_timeout\": \"1\xff\"}",
		"{\"exec_order\": \"\xf0\x9f\"}",
		"{\"a\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\": 1}",
	};
	static const char hcl[] = "env \"ok\" {\n  migration {\n    dir = \"file://m\"\n  }\n}\n";
	static const char stmt[] = "INSERT INTO t VALUES ('\xff\xfe');\n";
	const entry files[] = {{"1_\xff.sql", stmt, -1}};
	mig_opts	o;
	mig_run_cfg cfg;
	mig_err		err;
	mig_dir		d;
	mig_result	res;
	fake_db		f;
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
	{
		mig_opts_init(&o);
		mig_err_clear(&err);
		assert_int_equal(mig_opts_parse_json(opts[i], strlen(opts[i]), &o, &err), MIG_EINVAL);
		assert_valid_err(&err);
		mig_opts_free(&o);
	}
	/* option key: the bytes are replaced, the message still names it */
	mig_opts_init(&o);
	mig_opts_parse_json(opts[0], strlen(opts[0]), &o, &err);
	assert_string_equal(err.msg, "unknown option \"\xef\xbf\xbd\xef\xbf\xbd\"");
	mig_opts_free(&o);

	/* env name */
	mig_opts_init(&o);
	assert_int_equal(mig_resolve(hcl, strlen(hcl), "pr\xff" "d", &o, &cfg, &err), MIG_ENOTFOUND);
	assert_valid_err(&err);
	assert_contains(err.msg, "pr\xef\xbf\xbd" "d");
	mig_run_cfg_free(&cfg);

	/* a database error quoting migration text, from a file with a bad name */
	make_dir(&d, files, 1);
	fake_db_init(&f);
	f.fail_on = "INSERT";
	f.fail_msg = "near \"'\xff\xfe'\": syntax error \xe2\x82";
	cfg_init(&cfg);
	mig_result_init(&res);
	mig_err_clear(&err);
	assert_int_equal(mig_apply(&f.base, &d, &cfg, &res, &err), MIG_EDB);
	assert_valid_err(&err);
	assert_contains(err.msg, "near \"'\xef\xbf\xbd\xef\xbf\xbd'\": syntax error");
	mig_result_free(&res);
	fake_db_free(&f);

	/* the same file with a NUL byte: the message quotes the name Go-style */
	{
		static const char nul[] = "SELECT '\xff\0';\n";
		const entry bad[] = {{"1_\xff\xc3.sql", nul, (long) sizeof(nul) - 1}};
		mig_dir		d2;

		make_dir(&d2, bad, 1);
		fake_db_init(&f);
		mig_result_init(&res);
		assert_int_equal(mig_apply(&f.base, &d2, &cfg, &res, &err), MIG_ESCAN);
		assert_valid_err(&err);
		assert_contains(err.msg, "\"1_\\xff\\xc3.sql\"");
		mig_result_free(&res);
		fake_db_free(&f);
		mig_dir_free(&d2);
	}
	mig_dir_free(&d);
	mig_opts_free(&o);
}

/* ---------------------------------------------------------------- the options table */

/* Every option is documented in the README's options table, in order. */
static void
test_options_table_documented(void **state)
{
	size_t		len,
				i;
	char	   *readme = tu_read_file("README.md", &len);
	const char *at;

	(void) state;
	assert_non_null(readme);
	at = strstr(readme, "### Apply options");
	assert_non_null(at);
	for (i = 0; i < MIG_NOPTS; i++)
	{
		char		row[80];
		const char *found;

		assert_int_equal(mig_opt_defs[i].id, i);
		snprintf(row, sizeof(row), "\n| `%s` | %s |", mig_opt_defs[i].name,
				 strcmp(mig_opt_defs[i].sql_type, "jsonb") == 0 ? "jsonb" : mig_opt_defs[i].sql_type);
		found = strstr(at, row);
		if (found == NULL)
			fail_msg("README.md's options table has no row %s", row + 1);
		at = found + 1;
	}
	mig_free(readme);
}

/* The new options parse, and bad values name the option. */
static void
test_options_new(void **state)
{
	mig_opts	o;
	mig_err		err;
	const char *ok = "{\"statement_lock_timeout\": \"300ms\", \"lock_retries\": 40, \"preflight\": \"error\"}";

	(void) state;
	mig_opts_init(&o);
	assert_int_equal(mig_opts_parse_json(ok, strlen(ok), &o, &err), MIG_OK);
	assert_int_equal(o.stmt_lock_timeout_ms, 300);
	assert_int_equal(o.lock_retries, 40);
	assert_int_equal(o.preflight, MIG_SEV_ERROR);
	assert_true(mig_opts_given(&o, MIG_OPT_PREFLIGHT));
	assert_false(mig_opts_given(&o, MIG_OPT_TX_MODE));
	mig_opts_free(&o);

	mig_opts_init(&o);
	assert_int_equal(mig_opts_parse_json("{\"lock_retries\": -1}", 20, &o, &err), MIG_EINVAL);
	assert_string_equal(err.msg, "option \"lock_retries\" must be an integer from 0 to 2147483647, got -1");
	assert_int_equal(mig_opts_parse_json("{\"preflight\": \"fatal\"}", 22, &o, &err), MIG_EINVAL);
	assert_string_equal(err.msg, "unknown preflight severity \"fatal\"");
	assert_int_equal(mig_opts_parse_json("{\"check\": \"error\"}", 18, &o, &err), MIG_EINVAL);
	assert_string_equal(err.msg, "unknown option \"check\"");
	assert_non_null(strstr(err.hint, "statement_lock_timeout, lock_retries, preflight and vars"));
	mig_opts_free(&o);
}

/* Call over atlas.hcl over the server setting over the default. */
static void
test_options_layers(void **state)
{
	const char *hcl = "env \"e\" {\n  migration {\n    dir = \"file://m\"\n    tx_mode = \"none\"\n  }\n}\n";
	mig_opts	call,
				server;
	mig_run_cfg cfg;
	mig_err		err;
	const mig_opt_def *d;

	(void) state;
	mig_opts_init(&call);
	mig_opts_init(&server);
	d = mig_opt_find("tx_mode");
	assert_int_equal(mig_opts_set_text(&server, d, "all", "atlas_migrate.tx_mode", &err), MIG_OK);
	d = mig_opt_find("lock_timeout");
	assert_int_equal(mig_opts_set_text(&server, d, "30s", "atlas_migrate.lock_timeout", &err), MIG_OK);
	d = mig_opt_find("lock_retries");
	assert_int_equal(mig_opts_set_text(&server, d, "5", "atlas_migrate.lock_retries", &err), MIG_OK);

	/* the env's tx_mode beats the server's; the server's lock settings apply */
	assert_int_equal(mig_resolve_ex(hcl, strlen(hcl), "e", &call, &server, &cfg, &err), MIG_OK);
	assert_int_equal(cfg.tx_mode, MIG_TX_NONE);
	assert_int_equal(cfg.source[MIG_OPT_TX_MODE], MIG_SRC_HCL);
	assert_int_equal(cfg.lock_timeout_ms, 30000);
	assert_int_equal(cfg.source[MIG_OPT_LOCK_TIMEOUT], MIG_SRC_SERVER);
	assert_int_equal(cfg.lock_retries, 5);
	assert_int_equal(cfg.stmt_lock_timeout_ms, 1000);	/* the partner's default */
	assert_int_equal(cfg.source[MIG_OPT_STMT_LOCK_TIMEOUT], MIG_SRC_BUILTIN);
	assert_int_equal(cfg.exec_order, MIG_ORDER_LINEAR);
	assert_int_equal(cfg.source[MIG_OPT_EXEC_ORDER], MIG_SRC_BUILTIN);
	assert_string_equal(mig_opt_source_name(cfg.source[MIG_OPT_LOCK_TIMEOUT]), "server setting");
	mig_run_cfg_free(&cfg);

	/* the call beats both */
	assert_int_equal(mig_opts_parse_json("{\"tx_mode\": \"file\", \"lock_timeout\": \"1s\"}", 41, &call, &err), MIG_OK);
	assert_int_equal(mig_resolve_ex(hcl, strlen(hcl), "e", &call, &server, &cfg, &err), MIG_OK);
	assert_int_equal(cfg.tx_mode, MIG_TX_FILE);
	assert_int_equal(cfg.source[MIG_OPT_TX_MODE], MIG_SRC_CALL);
	assert_int_equal(cfg.lock_timeout_ms, 1000);
	mig_run_cfg_free(&cfg);

	/* nothing set: the defaults, lock-safe DDL off */
	assert_int_equal(mig_resolve(hcl, strlen(hcl), "e", &server, &cfg, &err), MIG_OK);
	mig_run_cfg_free(&cfg);
	mig_opts_free(&call);
	mig_opts_init(&call);
	assert_int_equal(mig_resolve(hcl, strlen(hcl), "e", &call, &cfg, &err), MIG_OK);
	assert_int_equal(cfg.stmt_lock_timeout_ms, 0);
	assert_int_equal(cfg.lock_retries, 0);
	assert_int_equal(cfg.lock_timeout_ms, 10000);
	assert_int_equal(cfg.check, MIG_SEV_NONE);
	mig_run_cfg_free(&cfg);

	/* a bad env attribute names the env and the attribute */
	{
		const char *bad = "env \"e\" {\n  migration {\n    tx_mode = \"most\"\n  }\n}\n";

		assert_int_equal(mig_resolve(bad, strlen(bad), "e", &call, &cfg, &err), MIG_EINVAL);
		assert_string_equal(err.msg, "env \"e\": migration.tx_mode: unknown tx-mode \"most\"");
	}
	mig_opts_free(&call);
	mig_opts_free(&server);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nul_byte_applies_nothing),
		cmocka_unit_test(test_nul_byte_positions),
		cmocka_unit_test(test_duplicate_versions),
		cmocka_unit_test(test_duplicate_versions_fixture_and_source),
		cmocka_unit_test(test_option_ranges),
		cmocka_unit_test(test_options_table_documented),
		cmocka_unit_test(test_options_new),
		cmocka_unit_test(test_options_layers),
		cmocka_unit_test(test_hcl_duration_ranges),
		cmocka_unit_test(test_err_replaces_invalid_utf8),
		cmocka_unit_test(test_err_cut_at_character_boundary),
		cmocka_unit_test(test_err_utf8_from_inputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
