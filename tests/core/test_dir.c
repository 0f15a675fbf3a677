/*
 * test_dir.c - the migration directory (spec §a), atlas.sum (§b) and file
 * directives (§e): every conformance directory, Atlas's mutation table,
 * the worked examples, the local reader and the failing allocator.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define MIGRATE_DIR "dirs/sql/migrate/testdata/migrate"

/* ---------------------------------------------------------------- helpers */

static char *
join(const char *a, const char *b)
{
	size_t		n = strlen(a) + strlen(b) + 2;
	char	   *p = malloc(n);

	assert_non_null(p);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

static char *
conformance_path(const char *rel)
{
	return join(tu_conformance_dir(), rel);
}

static void
put(const char *dir, const char *name, const char *content)
{
	char	   *p = join(dir, name);

	assert_int_equal(tu_write_file(p, content, strlen(content)), 0);
	free(p);
}

static void
append(const char *dir, const char *name, const char *content)
{
	char	   *p = join(dir, name);
	FILE	   *f = fopen(p, "ab");

	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
	fclose(f);
	free(p);
}

static void
removef(const char *dir, const char *name)
{
	char	   *p = join(dir, name);

	assert_int_equal(unlink(p), 0);
	free(p);
}

/* Copy the regular files at the top level of src into dst. */
static void
copy_top(const char *src, const char *dst)
{
	DIR		   *d = opendir(src);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
	{
		char	   *sp = join(src, e->d_name);
		struct stat st;

		if (stat(sp, &st) == 0 && S_ISREG(st.st_mode))
		{
			size_t		len;
			char	   *data = tu_read_file(sp, &len);
			char	   *dp = join(dst, e->d_name);

			assert_non_null(data);
			assert_int_equal(tu_write_file(dp, data, len), 0);
			free(data);
			free(dp);
		}
		free(sp);
	}
	closedir(d);
}

/* A scratch copy of sql/migrate/testdata/migrate (its sub/ is left out). */
static char *
scratch_migrate(void)
{
	char	   *dir = tu_mkdtemp();
	char	   *src = conformance_path(MIGRATE_DIR);

	assert_non_null(dir);
	copy_top(src, dir);
	free(src);
	return dir;
}

static void
drop_scratch(char *dir)
{
	tu_rmtree(dir);
	free(dir);
}

/* Load path and verify it; returns the verify code (load must succeed). */
static int
load_verify(const char *path, mig_err *err)
{
	mig_dir		d;
	int			rc;

	mig_dir_init(&d);
	mig_err_clear(err);
	rc = mig_dir_load_local(path, &d, err);
	assert_int_equal(rc, MIG_OK);
	rc = mig_sum_verify(&d, err);
	mig_dir_free(&d);
	return rc;
}

static void
expect_mismatch(const char *path, int line, const char *file, const char *reason)
{
	mig_err		err;
	char		detail[1024];

	assert_int_equal(load_verify(path, &err), MIG_ECHECKSUM);
	assert_string_equal(err.msg, "checksum mismatch");
	assert_int_equal(err.sum_line, line);
	assert_string_equal(err.sum_file, file);
	assert_string_equal(err.sum_reason, reason);
	snprintf(detail, sizeof(detail),
			 "You have a checksum error in your migration directory.\n\n"
			 "\tL%d: %s was %s\n\n"
			 "Please check your migration files and run 'atlas migrate hash' "
			 "to re-hash the contents", line, file, reason);
	assert_string_equal(err.detail, detail);
	assert_non_null(strstr(err.hint, "atlas migrate hash"));
}

static void
expect_plain(const char *path, const char *msg)
{
	mig_err		err;

	assert_int_equal(load_verify(path, &err), MIG_ECHECKSUM);
	assert_string_equal(err.msg, msg);
	assert_int_equal(err.sum_line, 0);
	assert_string_equal(err.sum_file, "");
	assert_string_equal(err.detail,
						"You have a checksum error in your migration directory.\n"
						"Please check your migration files and run 'atlas migrate hash' "
						"to re-hash the contents");
}

/* Add files given as name, content pairs (NULL-terminated) and finish. */
static void
build(mig_dir *d, const char *const *pairs)
{
	mig_err		err;
	size_t		i;

	mig_dir_init(d);
	for (i = 0; pairs[i] != NULL; i += 2)
		assert_int_equal(mig_dir_add(d, pairs[i], pairs[i + 1], strlen(pairs[i + 1]), &err),
						 MIG_OK);
	assert_int_equal(mig_dir_finish(d, &err), MIG_OK);
}

static void
expect_sum(const mig_dir *d, const char *want)
{
	mig_buf		b;

	mig_buf_init(&b);
	assert_int_equal(mig_sum_format(d, &b), MIG_OK);
	assert_string_equal(b.data, want);
	mig_buf_free(&b);
}

/* A finished one-file directory over content, for directive checks. */
static void
one_file(mig_dir *d, const char *name, const char *content, size_t len)
{
	mig_err		err;

	mig_dir_init(d);
	assert_int_equal(mig_dir_add(d, name, content, len, &err), MIG_OK);
	assert_int_equal(mig_dir_finish(d, &err), MIG_OK);
	assert_int_equal(d->nfiles, 1);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---------------------------------------------------------------- conformance (README §2.1.1) */

/* Every directory below root holding an atlas.sum, relative to base. */
static void
find_sum_dirs(const char *root, char ***out, size_t *n)
{
	DIR		   *d = opendir(root);
	struct dirent *e;
	char	   *sum = join(root, "atlas.sum");
	struct stat st;

	assert_non_null(d);
	if (stat(sum, &st) == 0 && S_ISREG(st.st_mode))
	{
		*out = realloc(*out, (*n + 1) * sizeof(char *));
		assert_non_null(*out);
		(*out)[(*n)++] = strdup(root);
	}
	free(sum);
	while ((e = readdir(d)) != NULL)
	{
		char	   *p;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		p = join(root, e->d_name);
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
			find_sum_dirs(p, out, n);
		free(p);
	}
	closedir(d);
}

static void
test_conformance_sums(void **state)
{
	char	   *root;
	char	  **dirs = NULL;
	size_t		n = 0,
				i;

	(void) state;
	TU_NEED_CONFORMANCE();
	root = conformance_path("dirs");
	find_sum_dirs(root, &dirs, &n);
	assert_true(n >= 20);
	for (i = 0; i < n; i++)
	{
		mig_dir		d;
		mig_err		err;
		mig_buf		b;
		size_t		len;
		char	   *sumpath = join(dirs[i], "atlas.sum");
		char	   *want = tu_read_file(sumpath, &len);

		assert_non_null(want);
		mig_dir_init(&d);
		mig_buf_init(&b);
		if (mig_dir_load_local(dirs[i], &d, &err) != MIG_OK)
			fail_msg("%s: %s", dirs[i], err.msg);
		assert_int_equal(mig_sum_format(&d, &b), MIG_OK);
		if (b.len != len || memcmp(b.data, want, len) != 0)
			fail_msg("%s: computed sum differs:\n%s", dirs[i], b.data);
		if (mig_sum_verify(&d, &err) != MIG_OK)
			fail_msg("%s: %s", dirs[i], err.msg);
		print_message("# sum ok: %s (%zu files)\n", dirs[i] + strlen(root) + 1, d.nfiles);
		mig_buf_free(&b);
		mig_dir_free(&d);
		free(want);
		free(sumpath);
		free(dirs[i]);
	}
	free(dirs);
	free(root);
}

/* Subfolders are not descended into (§a.1). */
static void
test_conformance_subfolders_ignored(void **state)
{
	const char *cases[][2] = {
		{"dirs/cmd/atlas/internal/cmdapi/testdata/templatedir", "1.sql 2.sql"},
		{MIGRATE_DIR, "1_initial.down.sql 1_initial.up.sql"},
		{MIGRATE_DIR "/sub", "1.a_sub.up.sql 2.10.x-20_description.sql 3_partly.sql"},
	};
	size_t		i,
				j;

	(void) state;
	TU_NEED_CONFORMANCE();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char	   *p = conformance_path(cases[i][0]);
		mig_dir		d;
		mig_err		err;
		char		names[512] = "";

		mig_dir_init(&d);
		assert_int_equal(mig_dir_load_local(p, &d, &err), MIG_OK);
		for (j = 0; j < d.nfiles; j++)
		{
			if (j)
				strcat(names, " ");
			strcat(names, d.files[j].name);
		}
		assert_string_equal(names, cases[i][1]);
		mig_dir_free(&d);
		free(p);
	}
}

/* Fixture sqlitetx4: the unknown txmode directive (conformance README §2.2). */
static void
test_conformance_sqlitetx4(void **state)
{
	char	   *p;
	mig_dir		d;
	mig_err		err;
	mig_txmode	m;

	(void) state;
	TU_NEED_CONFORMANCE();
	p = conformance_path("dirs/cmd/atlas/internal/cmdapi/testdata/sqlitetx4");
	mig_dir_init(&d);
	assert_int_equal(mig_dir_load_local(p, &d, &err), MIG_OK);
	assert_int_equal(d.nfiles, 2);
	assert_int_equal(mig_file_txmode(&d.files[0], &m, &err), MIG_OK);
	assert_int_equal(m, MIG_TX_UNSET);
	assert_int_equal(mig_file_txmode(&d.files[1], &m, &err), MIG_EINVAL);
	assert_string_equal(err.msg,
						"unknown txmode \"unknown\" found in file directive \"20220925094021_second.sql\"");
	mig_dir_free(&d);
	free(p);
}

/* ---------------------------------------------------------------- mutations (README §2.1.2) */

static void
test_mutation_unmodified(void **state)
{
	char	   *dir;
	mig_err		err;

	(void) state;
	TU_NEED_CONFORMANCE();
	dir = scratch_migrate();
	assert_int_equal(load_verify(dir, &err), MIG_OK);
	drop_scratch(dir);
}

static void
test_mutation_edited(void **state)
{
	char	   *dir;

	(void) state;
	TU_NEED_CONFORMANCE();
	dir = scratch_migrate();
	append(dir, "1_initial.up.sql", "something");
	expect_mismatch(dir, 3, "1_initial.up.sql", "edited");
	drop_scratch(dir);
}

static void
test_mutation_added(void **state)
{
	char	   *dir;

	(void) state;
	TU_NEED_CONFORMANCE();
	dir = scratch_migrate();
	put(dir, "2_second.sql", "stmt");
	expect_mismatch(dir, 4, "2_second.sql", "added");
	drop_scratch(dir);
}

static void
test_mutation_renamed_then_removed(void **state)
{
	char	   *dir;
	char	   *from,
			   *to;

	(void) state;
	TU_NEED_CONFORMANCE();
	dir = scratch_migrate();
	from = join(dir, "1_initial.up.sql");
	to = join(dir, "1_first.up.sql");
	assert_int_equal(rename(from, to), 0);
	expect_mismatch(dir, 2, "1_first.up.sql", "added");
	removef(dir, "1_first.up.sql");
	expect_mismatch(dir, 3, "1_initial.up.sql", "removed");
	free(from);
	free(to);
	drop_scratch(dir);
}

static void
test_mutation_sum_only(void **state)
{
	char	   *dir = NULL;
	char	   *src;
	char	   *data;
	size_t		len;
	char	   *dst;

	(void) state;
	TU_NEED_CONFORMANCE();
	dir = tu_mkdtemp();
	src = conformance_path(MIGRATE_DIR "/atlas.sum");
	data = tu_read_file(src, &len);
	dst = join(dir, "atlas.sum");
	assert_int_equal(tu_write_file(dst, data, len), 0);
	expect_mismatch(dir, 2, "1_initial.down.sql", "removed");
	free(src);
	free(data);
	free(dst);
	drop_scratch(dir);
}

static void
test_mutation_foo_prefix(void **state)
{
	char	   *dir;
	char	   *p;
	size_t		len;
	char	   *data;

	(void) state;
	TU_NEED_CONFORMANCE();
	dir = scratch_migrate();
	p = join(dir, "atlas.sum");
	data = tu_read_file(p, &len);
	memcpy(data, "foo", 3);
	assert_int_equal(tu_write_file(p, data, len), 0);
	expect_plain(dir, "checksum mismatch");
	free(data);
	free(p);
	drop_scratch(dir);
}

static void
test_mutation_foo_suffix(void **state)
{
	char	   *dir;

	(void) state;
	TU_NEED_CONFORMANCE();
	dir = scratch_migrate();
	append(dir, "atlas.sum", "foo");
	expect_plain(dir, "checksum file format invalid");
	drop_scratch(dir);
}

static void
test_mutation_deleted_sum(void **state)
{
	char	   *dir;

	(void) state;
	TU_NEED_CONFORMANCE();
	dir = scratch_migrate();
	removef(dir, "atlas.sum");
	expect_plain(dir, "checksum file not found");
	drop_scratch(dir);
}

/* ---------------------------------------------------------------- worked examples (§b.4) */

static void
test_example_migrate(void **state)
{
	static const char *const files[] = {
		"1_initial.up.sql", "CREATE TABLE t(c int);",
		"1_initial.down.sql", "DROP TABLE IF EXISTS t;",
		NULL
	};
	mig_dir		d;
	mig_err		err;

	(void) state;
	build(&d, files);
	assert_string_equal(d.files[0].hash, "0zypK43rgPbgvVUgVJABGN25VgM1QSeU+LJDBb8cEQI=");
	assert_string_equal(d.files[1].hash, "hFhs5XhRml4KTWGF5td6h1s7xNqAFnaEBbC5Y/NF7i4=");
	assert_string_equal(d.total, "M74RrNK69S2pj6C541LR1ew5O32/i0WoyNgsJmyuiUk=");
	expect_sum(&d,
			   "h1:M74RrNK69S2pj6C541LR1ew5O32/i0WoyNgsJmyuiUk=\n"
			   "1_initial.down.sql h1:0zypK43rgPbgvVUgVJABGN25VgM1QSeU+LJDBb8cEQI=\n"
			   "1_initial.up.sql h1:hFhs5XhRml4KTWGF5td6h1s7xNqAFnaEBbC5Y/NF7i4=\n");
	/* no atlas.sum but a migration: not found */
	assert_int_equal(mig_sum_verify(&d, &err), MIG_ECHECKSUM);
	assert_string_equal(err.msg, "checksum file not found");
	mig_dir_free(&d);
}

static void
test_example_single(void **state)
{
	static const char *const files[] = {
		"20230412003626_create_foo.sql", "CREATE TABLE foo (id INT PRIMARY KEY);",
		NULL
	};
	mig_dir		d;

	(void) state;
	build(&d, files);
	assert_string_equal(d.files[0].hash, "8C7Hz48VGKB0trI2BsK5FWpizG6ttcm9ep+tX32y0Tw=");
	assert_string_equal(d.total, "i2OZ2waAoNC0T8LDtu90qFTpbiYcwTNLOrr5YUrq8+g=");
	mig_dir_free(&d);
}

static void
test_example_sum_ignored(void **state)
{
	static const char *const files[] = {
		"3_b.sql", "CREATE TABLE b(x int);\n",
		"1_a.sql", "CREATE TABLE a(x int);\n",
		"2_tpl.sql", "-- atlas:sum ignore\nSELECT 1;\n",
		NULL
	};
	static const char *const without[] = {
		"1_a.sql", "CREATE TABLE a(x int);\n",
		"3_b.sql", "CREATE TABLE b(x int);\n",
		NULL
	};
	const char *sum =
		"h1:L9u0VDQuJH96Ec9CS9AIcCHzOZm5B9M0KEFT43eMtEo=\n"
		"1_a.sql h1:tTJGEVCIt+obqZZm3r1U7OyfLUq1L1VZ1zmcMmvs1vg=\n"
		"3_b.sql h1:ihaX7tzcobwTl4gx+3Tyk6ZIJ0wjyR7eUe+HV4iQUfs=\n";
	mig_dir		d;
	mig_err		err;

	(void) state;
	build(&d, files);
	assert_int_equal(d.nfiles, 3);
	assert_true(d.files[1].sum_ignored);
	assert_string_equal(d.files[1].name, "2_tpl.sql");
	assert_string_equal(d.files[1].hash, "");
	expect_sum(&d, sum);
	/* a sum-ignored file is fine in verify */
	assert_int_equal(mig_dir_add(&d, "atlas.sum", sum, strlen(sum), &err), MIG_OK);
	assert_int_equal(mig_dir_finish(&d, &err), MIG_OK);
	assert_int_equal(mig_sum_verify(&d, &err), MIG_OK);
	mig_dir_free(&d);

	/* without the ignored file's name in the state, 3_b hashes differently */
	build(&d, without);
	assert_string_equal(d.files[1].hash, "nlIwFLiR5Ov8N1kZBSHqW6og2BY/1QsaZ7MumA33M4Q=");
	mig_dir_free(&d);
}

static void
test_example_empty(void **state)
{
	mig_dir		d;
	mig_err		err;
	mig_buf		b;
	const char *empty = "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";

	(void) state;
	mig_dir_init(&d);
	mig_buf_init(&b);
	assert_int_equal(mig_dir_add(&d, "README.md", "x", 1, &err), MIG_OK);
	assert_int_equal(mig_dir_finish(&d, &err), MIG_OK);
	assert_string_equal(d.total, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	assert_int_equal(mig_sum_format(&d, &b), MIG_OK);
	assert_string_equal(b.data, empty);
	/* no sum and no files: valid */
	assert_int_equal(mig_sum_verify(&d, &err), MIG_OK);
	/* its own sum: valid */
	assert_int_equal(mig_dir_add(&d, "atlas.sum", b.data, b.len, &err), MIG_OK);
	assert_int_equal(mig_dir_finish(&d, &err), MIG_OK);
	assert_int_equal(mig_sum_verify(&d, &err), MIG_OK);
	mig_buf_free(&b);
	mig_dir_free(&d);
}

/* ---------------------------------------------------------------- §a.2, §a.3 */

static void
test_version_desc(void **state)
{
	static const char *const table[][3] = {
		{"20220318104614_initial.sql", "20220318104614", "initial"},
		{"1_initial.up.sql", "1", "initial.up"},
		{"1.a_sub.up.sql", "1.a", "sub.up"},
		{"2.10.x-20_description.sql", "2.10.x-20", "description"},
		{"3.sql", "3", ""},
		{"20230830122414_t2.sql.sql", "20230830122414", "t2.sql"},
		{"x_.sql", "x", ""},
		{"_x.sql", "", "x"},
		{".sql", "", ""},
		{"1_a_b.sql", "1", "a_b"},
		{"1.sql.sql", "1.sql", ""},
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
	{
		char	   *v,
				   *desc;

		assert_int_equal(mig_file_version_desc(table[i][0], &v, &desc), MIG_OK);
		assert_string_equal(v, table[i][1]);
		assert_string_equal(desc, table[i][2]);
		mig_free(v);
		mig_free(desc);
	}
}

static void
test_ordering(void **state)
{
	static const char *const files[] = {
		"1_a.sql", "",
		"3_partly.sql", "",
		"10_c.sql", "",
		"2.10.x-20_description.sql", "",
		"1.a_sub.up.sql", "",
		"20220318104614_initial.sql", "",
		NULL
	};
	static const char *const want[] = {
		"1.a_sub.up.sql", "10_c.sql", "1_a.sql", "2.10.x-20_description.sql",
		"20220318104614_initial.sql", "3_partly.sql"
	};
	mig_dir		d;
	size_t		i;

	(void) state;
	build(&d, files);
	assert_int_equal(d.nfiles, 6);
	for (i = 0; i < 6; i++)
		assert_string_equal(d.files[i].name, want[i]);
	assert_string_equal(d.files[1].version, "10");
	assert_string_equal(d.files[1].desc, "c");
	mig_dir_free(&d);
}

/* ---------------------------------------------------------------- mig_dir_add */

static void
test_add_rejects_names(void **state)
{
	static const struct
	{
		const char *name;
		size_t		len;
		const char *quoted;
	}			bad[] = {
		{"sub/1.sql", 9, "\"sub/1.sql\""},
		{"../1.sql", 8, "\"../1.sql\""},
		{"/1.sql", 6, "\"/1.sql\""},
		{"/etc/passwd", 11, "\"/etc/passwd\""},
		{"a..b.sql", 8, "\"a..b.sql\""},
		{"..", 2, "\"..\""},
		{"x\0.sql", 6, "\"x\\x00.sql\""},
		{"1.sql\0/../../x", 14, "\"1.sql\\x00/../../x\""},
		{"sub/atlas.sum", 13, "\"sub/atlas.sum\""},
		{"dir/", 4, "\"dir/\""},
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		mig_dir		d;
		mig_err		err;
		char		want[256];

		mig_dir_init(&d);
		assert_int_equal(mig_dir_add_n(&d, bad[i].name, bad[i].len, "x", 1, &err), MIG_EINVAL);
		assert_int_equal(err.code, MIG_EINVAL);
		snprintf(want, sizeof(want), "invalid migration directory entry %s", bad[i].quoted);
		if (strncmp(err.msg, want, strlen(want)) != 0)
			fail_msg("%s: got %s", bad[i].quoted, err.msg);
		assert_int_equal(d.nfiles, 0);
		assert_null(d.sum);
		mig_dir_free(&d);
	}
}

static void
test_add_replaces_and_ignores(void **state)
{
	mig_dir		d;
	mig_err		err;

	(void) state;
	mig_dir_init(&d);
	assert_int_equal(mig_dir_add(&d, "2.sql", "old", 3, &err), MIG_OK);
	assert_int_equal(mig_dir_add(&d, "1.sql", "one", 3, &err), MIG_OK);
	assert_int_equal(mig_dir_add(&d, "2.sql", "new", 3, &err), MIG_OK);
	assert_int_equal(mig_dir_add(&d, "atlas.sum", "a", 1, &err), MIG_OK);
	assert_int_equal(mig_dir_add(&d, "atlas.sum", "bb", 2, &err), MIG_OK);
	/* not migrations: §a.1 */
	assert_int_equal(mig_dir_add(&d, "X.SQL", "x", 1, &err), MIG_OK);
	assert_int_equal(mig_dir_add(&d, "a.sql.bak", "x", 1, &err), MIG_OK);
	assert_int_equal(mig_dir_add(&d, "atlas.hcl", "x", 1, &err), MIG_OK);
	assert_int_equal(mig_dir_add(&d, "README", "x", 1, &err), MIG_OK);
	assert_int_equal(mig_dir_add(&d, "", "x", 1, &err), MIG_OK);
	assert_int_equal(mig_dir_add(&d, "0.sql", NULL, 0, &err), MIG_OK);
	assert_int_equal(mig_dir_finish(&d, &err), MIG_OK);
	assert_int_equal(d.nfiles, 3);
	assert_string_equal(d.files[0].name, "0.sql");
	assert_string_equal(d.files[0].data, "");
	assert_string_equal(d.files[1].data, "one");
	assert_string_equal(d.files[2].name, "2.sql");
	assert_string_equal(d.files[2].data, "new");
	assert_int_equal(d.files[2].len, 3);
	assert_string_equal(d.sum, "bb");
	assert_int_equal(d.sum_len, 2);
	/* a second finish after more entries */
	assert_int_equal(mig_dir_add(&d, "1.sql", "uno", 3, &err), MIG_OK);
	assert_false(d.finished);
	assert_int_equal(mig_dir_finish(&d, &err), MIG_OK);
	assert_int_equal(d.nfiles, 3);
	assert_string_equal(d.files[1].data, "uno");
	mig_dir_free(&d);
}

static void
test_unfinished(void **state)
{
	mig_dir		d;
	mig_err		err;
	mig_buf		b;

	(void) state;
	mig_dir_init(&d);
	mig_buf_init(&b);
	assert_int_equal(mig_dir_add(&d, "1.sql", "x", 1, &err), MIG_OK);
	assert_int_equal(mig_sum_format(&d, &b), MIG_EINVAL);
	assert_int_equal(mig_sum_verify(&d, &err), MIG_EINVAL);
	mig_buf_free(&b);
	mig_dir_free(&d);
}

/* ---------------------------------------------------------------- directives (§e, §b.2) */

static void
test_txmode(void **state)
{
	static const struct
	{
		const char *content;
		mig_txmode	want;
	}			cases[] = {
		{"-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY i ON t (c);\n", MIG_TX_NONE},
		{"-- atlas:txmode file\n\nSELECT 1;", MIG_TX_FILE},
		/* no blank line: the comment belongs to the statement */
		{"-- atlas:txmode none\nCREATE TABLE t(c int);\n", MIG_TX_UNSET},
		/* CRLF: the blank line is "\r\n", never a header end */
		{"-- atlas:txmode none\r\n\r\nSELECT 1;\r\n", MIG_TX_UNSET},
		{"-- atlas:txmode none\n \t\nSELECT 1;", MIG_TX_NONE},
		{"# atlas:txmode none\n\nSELECT 1;", MIG_TX_NONE},
		{"--atlas:txmode none\n\nSELECT 1;", MIG_TX_NONE},
		{"-- note atlas:txmode none\n\nSELECT 1;", MIG_TX_NONE},
		{"-- atlas:txmode  none\n\nSELECT 1;", MIG_TX_NONE},
		{"-- atlas:txmode none \t \n\nSELECT 1;", MIG_TX_NONE},
		{"-- atlas:txmode none\xc2\xa0\n\nSELECT 1;", MIG_TX_NONE},
		{"-- first\n-- atlas:txmode none\n# more\n\nSELECT 1;", MIG_TX_NONE},
		/* comments only: with a final LF yes, without no */
		{"-- atlas:txmode none\n", MIG_TX_NONE},
		{"-- atlas:txmode none", MIG_TX_UNSET},
		{"-- atlas:txmode none\r\n", MIG_TX_NONE},
		/* the header starts at byte 0 */
		{"\n-- atlas:txmode none\n\nSELECT 1;", MIG_TX_UNSET},
		{" -- atlas:txmode none\n\nSELECT 1;", MIG_TX_UNSET},
		{"SELECT 1;\n-- atlas:txmode none\n\n", MIG_TX_UNSET},
		{"-- generated\n\n-- atlas:txmode none\n", MIG_TX_UNSET},
		/* a non-ASCII prefix is not a directive */
		{"-- \xc3\xa9 atlas:txmode none\n\nSELECT 1;", MIG_TX_UNSET},
		{"-- atlas:txmodes none\n\nSELECT 1;", MIG_TX_UNSET},
		{"", MIG_TX_UNSET},
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_dir		d;
		mig_err		err;
		mig_txmode	m = MIG_TX_ALL;

		one_file(&d, "1.sql", cases[i].content, strlen(cases[i].content));
		if (mig_file_txmode(&d.files[0], &m, &err) != MIG_OK)
			fail_msg("case %zu: %s", i, err.msg);
		if (m != cases[i].want)
			fail_msg("case %zu: mode %d, want %d", i, (int) m, (int) cases[i].want);
		mig_dir_free(&d);
	}
}

static void
test_txmode_errors(void **state)
{
	static const struct
	{
		const char *name;
		const char *content;
		const char *msg;
	}			cases[] = {
		{"1_case.sql", "-- atlas:txmode all\n\nSELECT 1;",
		"txmode \"all\" is not allowed in file directive \"1_case.sql\". Use \"file\" instead"},
		{"1_case.sql", "-- atlas:txmode statement\n\nSELECT 1;",
		"unknown txmode \"statement\" found in file directive \"1_case.sql\""},
		{"1_case.sql", "-- atlas:txmode FILE\n\nSELECT 1;",
		"unknown txmode \"FILE\" found in file directive \"1_case.sql\""},
		{"1_case.sql", "-- atlas:txmode\n\nSELECT 1;",
		"unknown txmode \"\" found in file directive \"1_case.sql\""},
		{"1_case.sql", "-- atlas:txmode\tnone\n\nSELECT 1;",
		"unknown txmode \"\" found in file directive \"1_case.sql\""},
		{"1_case.sql", "-- atlas:txmode none\n-- atlas:txmode file\n\nSELECT 1;",
		"multiple txmode values found in file \"1_case.sql\": [\"none\" \"file\"]"},
		{"1_case.sql", "-- atlas:txmode none\n# atlas:txmode none\n-- atlas:txmode \"q\"\n\n",
		"multiple txmode values found in file \"1_case.sql\": [\"none\" \"none\" \"\\\"q\\\"\"]"},
		{"we\"ird.sql", "-- atlas:txmode all\n\n",
		"txmode \"all\" is not allowed in file directive \"we\\\"ird.sql\". Use \"file\" instead"},
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_dir		d;
		mig_err		err;
		mig_txmode	m = MIG_TX_ALL;

		one_file(&d, cases[i].name, cases[i].content, strlen(cases[i].content));
		assert_int_equal(mig_file_txmode(&d.files[0], &m, &err), MIG_EINVAL);
		assert_int_equal(err.code, MIG_EINVAL);
		assert_int_equal(m, MIG_TX_UNSET);
		assert_string_equal(err.msg, cases[i].msg);
		mig_dir_free(&d);
	}
}

static void
test_has_directive(void **state)
{
	static const struct
	{
		const char *content;
		const char *name;
		bool		want;
	}			cases[] = {
		{"-- atlas:txtar\n\n-- checks.sql --\nSELECT 1;\n", "txtar", true},
		{"-- atlas:lint ignore\nalter table users drop column id;\n", "lint", false},
		{"-- atlas:lint ignore\n-- atlas:txmode none\n\nalter table t drop column id;\n", "lint", true},
		{"-- atlas:lint ignore\n-- atlas:txmode none\n\nalter table t drop column id;\n", "txmode", true},
		{"-- atlas:nolint\n\nalter table t drop column id;\n", "nolint", true},
		{"-- atlas:lint ignore\n\n", "lint", true},
		{"-- atlas:lint ignore", "lint", false},
		{"-- atlas:import foo\n", "import", true},
		{"-- atlas:x atlas:y\n\n", "y", true},
		{"-- atlas:x atlas:y\n\n", "x", false},
		{"-- atlas:x atlas:\n\n", "x", true},
		{"-- atlas:delimiter;\n\nSELECT 1;", "delimiter", true},
		{"SELECT 1;\n\n-- atlas:txtar\n\n", "txtar", false},
		{"", "txtar", false},
		{"-- atlas:txtar\r\n\r\nSELECT 1;", "txtar", false},
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_dir		d;

		one_file(&d, "1.sql", cases[i].content, strlen(cases[i].content));
		if (mig_file_has_directive(&d.files[0], cases[i].name) != cases[i].want)
			fail_msg("case %zu (%s)", i, cases[i].name);
		mig_dir_free(&d);
	}
}

static void
test_checkpoint(void **state)
{
	static const char *const files[] = {
		"1_ck.sql", "-- atlas:checkpoint v1\n\nCREATE TABLE t(c int);\n",
		"2.sql", "-- atlas:checkpoint\nSELECT 1;",
		"3.sql", "-- atlas:checkpoint\n\nSELECT 1;",
		"4.sql", "SELECT 1;",
		"5.sql", "-- atlas:checkpoint\r\n\r\nSELECT 1;",
		"6.sql", "-- atlas:checkpoint tag\nSELECT 1;",
		"7.sql", "-- atlas:txmode none\n-- atlas:checkpoint\n\nSELECT 1;",
		NULL
	};
	static const bool want[] = {true, false, true, false, false, false, true};
	mig_dir		d;
	size_t		i;

	(void) state;
	build(&d, files);
	assert_int_equal(d.nfiles, 7);
	for (i = 0; i < 7; i++)
		if (d.files[i].checkpoint != want[i])
			fail_msg("%s", d.files[i].name);
	mig_dir_free(&d);
}

static void
test_sum_ignore_variants(void **state)
{
	static const struct
	{
		const char *content;
		bool		want;
	}			cases[] = {
		{"-- atlas:sum ignore\nSELECT 1;\n", true},
		{"//atlas:sum ignore\nSELECT 1;\n", true},
		{"atlas:sum ignore", true},
		{"-- atlas:sum  ignore\n", true},
		{"-- atlas:sum ignore\nSELECT 1;", true},
		{"-- atlas:sum ignore\r\nSELECT 1;\r\n", false},
		{"-- atlas:sum ignore \n", false},
		{"-- atlas:sum ignored\n", false},
		{"-- atlas:summary ignore\n", false},
		{"-- atlas:sum\n", false},
		{"\t-- atlas:sum ignore\n", false},
		{"SELECT 1;\n-- atlas:sum ignore\n", false},
		{"-- atlas:sum ignore atlas:x\n", false},
		{"-- \xc3\xa9 atlas:sum ignore\n", false},
		{"", false},
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_dir		d;

		one_file(&d, "1.sql", cases[i].content, strlen(cases[i].content));
		if (d.files[0].sum_ignored != cases[i].want)
			fail_msg("case %zu", i);
		assert_int_equal(d.files[0].hash[0] == '\0', cases[i].want);
		mig_dir_free(&d);
	}
}

/* ---------------------------------------------------------------- parsing details (§b.5, §b.6) */

static void
verify_text(const char *const *files, const char *sum, size_t sum_len, mig_err *err, int want)
{
	mig_dir		d;

	mig_dir_init(&d);
	build(&d, files);
	assert_int_equal(mig_dir_add(&d, "atlas.sum", sum, sum_len, err), MIG_OK);
	assert_int_equal(mig_dir_finish(&d, err), MIG_OK);
	mig_err_clear(err);
	if (mig_sum_verify(&d, err) != want)
		fail_msg("want %d, got %d: %s", want, err->code, err->msg);
	mig_dir_free(&d);
}

static void
test_verify_parsing(void **state)
{
	static const char *const files[] = {
		"1_initial.down.sql", "DROP TABLE IF EXISTS t;",
		"1_initial.up.sql", "CREATE TABLE t(c int);",
		NULL
	};
	const char *crlf =
		"h1:M74RrNK69S2pj6C541LR1ew5O32/i0WoyNgsJmyuiUk=\r\n"
		"1_initial.down.sql h1:0zypK43rgPbgvVUgVJABGN25VgM1QSeU+LJDBb8cEQI=\r\n"
		"1_initial.up.sql h1:hFhs5XhRml4KTWGF5td6h1s7xNqAFnaEBbC5Y/NF7i4=\r\n";
	const char *indented =
		"M74RrNK69S2pj6C541LR1ew5O32/i0WoyNgsJmyuiUk=\n"
		"  \t1_initial.down.sql\th1:0zypK43rgPbgvVUgVJABGN25VgM1QSeU+LJDBb8cEQI=\n"
		"1_initial.up.sqlh1:hFhs5XhRml4KTWGF5td6h1s7xNqAFnaEBbC5Y/NF7i4=";
	const char *trailing_space =
		"h1:M74RrNK69S2pj6C541LR1ew5O32/i0WoyNgsJmyuiUk=\n"
		"1_initial.down.sql h1:0zypK43rgPbgvVUgVJABGN25VgM1QSeU+LJDBb8cEQI= \n"
		"1_initial.up.sql h1:hFhs5XhRml4KTWGF5td6h1s7xNqAFnaEBbC5Y/NF7i4=\n";
	const char *blank_line =
		"h1:M74RrNK69S2pj6C541LR1ew5O32/i0WoyNgsJmyuiUk=\n"
		"1_initial.down.sql h1:0zypK43rgPbgvVUgVJABGN25VgM1QSeU+LJDBb8cEQI=\n"
		"1_initial.up.sql h1:hFhs5XhRml4KTWGF5td6h1s7xNqAFnaEBbC5Y/NF7i4=\n\n";
	/* a self-consistent sum listing one entry twice (total of the pair) */
	const char *twice =
		"h1:vkBMW3mt2+kMJV6QNEOZW8VL9PAj363DG8K81YOgz70=\n"
		"1_initial.down.sql h1:0zypK43rgPbgvVUgVJABGN25VgM1QSeU+LJDBb8cEQI=\n"
		"1_initial.down.sql h1:0zypK43rgPbgvVUgVJABGN25VgM1QSeU+LJDBb8cEQI=\n";
	static const char *const one[] = {
		"1_initial.down.sql", "DROP TABLE IF EXISTS t;",
		NULL
	};
	mig_err		err;

	(void) state;
	verify_text(files, crlf, strlen(crlf), &err, MIG_OK);
	verify_text(files, indented, strlen(indented), &err, MIG_OK);
	verify_text(files, trailing_space, strlen(trailing_space), &err, MIG_ECHECKSUM);
	assert_string_equal(err.msg, "checksum mismatch");
	assert_int_equal(err.sum_line, 0);
	verify_text(files, blank_line, strlen(blank_line), &err, MIG_ECHECKSUM);
	assert_string_equal(err.msg, "checksum file format invalid");
	verify_text(files, "", 0, &err, MIG_ECHECKSUM);
	assert_string_equal(err.msg, "checksum mismatch");
	verify_text(files, "\n", 1, &err, MIG_ECHECKSUM);
	assert_string_equal(err.msg, "checksum mismatch");
	verify_text(files, "h1:x\0y\n", 7, &err, MIG_ECHECKSUM);
	assert_string_equal(err.msg, "checksum mismatch");
	/* Atlas would index past its list here; we report the extra entry */
	verify_text(one, twice, strlen(twice), &err, MIG_ECHECKSUM);
	assert_int_equal(err.sum_line, 3);
	assert_string_equal(err.sum_file, "1_initial.down.sql");
	assert_string_equal(err.sum_reason, "removed");
}

/* ---------------------------------------------------------------- the local reader (§a.1) */

static void
test_local_rules(void **state)
{
	char	   *dir = tu_mkdtemp();
	char	   *sub = join(dir, "sub");
	mig_dir		d;
	mig_err		err;

	(void) state;
	assert_int_equal(mkdir(sub, 0700), 0);
	put(dir, ".hidden.sql", "SELECT 1;");
	put(dir, "1.sql", "SELECT 2;");
	/* ".." inside a single local name is harmless (only archives refuse it) */
	put(dir, "2_v1..2.sql", "SELECT 5;");
	put(dir, "X.SQL", "SELECT 3;");
	put(dir, "notes.txt", "hello");
	put(dir, "atlas.hcl", "env {}");
	put(sub, "2.sql", "SELECT 4;");
	mig_dir_init(&d);
	assert_int_equal(mig_dir_load_local(dir, &d, &err), MIG_OK);
	assert_true(d.finished);
	assert_int_equal(d.nfiles, 3);
	assert_string_equal(d.files[0].name, ".hidden.sql");
	assert_string_equal(d.files[1].name, "1.sql");
	assert_string_equal(d.files[1].data, "SELECT 2;");
	assert_string_equal(d.files[2].name, "2_v1..2.sql");
	assert_string_equal(d.files[2].version, "2");
	assert_string_equal(d.files[2].desc, "v1..2");
	assert_null(d.sum);
	assert_int_equal(mig_sum_verify(&d, &err), MIG_ECHECKSUM);
	assert_string_equal(err.msg, "checksum file not found");
	mig_dir_free(&d);

	/* with the path given with a trailing slash, and a sum written by us */
	{
		mig_buf		b;
		char	   *slash = join(dir, "");

		mig_dir_init(&d);
		mig_buf_init(&b);
		assert_int_equal(mig_dir_load_local(slash, &d, &err), MIG_OK);
		assert_int_equal(mig_sum_format(&d, &b), MIG_OK);
		put(dir, "atlas.sum", b.data);
		mig_dir_free(&d);
		assert_int_equal(load_verify(slash, &err), MIG_OK);
		mig_buf_free(&b);
		free(slash);
	}
	free(sub);
	drop_scratch(dir);
}

static void
test_local_sql_directory(void **state)
{
	char	   *dir = tu_mkdtemp();
	char	   *x = join(dir, "x.sql");
	char		want[4096];
	mig_dir		d;
	mig_err		err;

	(void) state;
	put(dir, "1.sql", "SELECT 1;");
	assert_int_equal(mkdir(x, 0700), 0);
	mig_dir_init(&d);
	assert_int_equal(mig_dir_load_local(dir, &d, &err), MIG_EIO);
	snprintf(want, sizeof(want),
			 "sql/migrate: read file \"x.sql\": read %s/x.sql: is a directory", dir);
	assert_string_equal(err.msg, want);
	mig_dir_free(&d);
	free(x);
	drop_scratch(dir);
}

static void
test_local_errors(void **state)
{
	char	   *dir = tu_mkdtemp();
	char	   *missing = join(dir, "nope");
	char	   *file = join(dir, "plain");
	char	   *link = join(dir, "y.sql");
	char		want[4096];
	mig_dir		d;
	mig_err		err;

	(void) state;
	mig_dir_init(&d);
	assert_int_equal(mig_dir_load_local(missing, &d, &err), MIG_EIO);
	snprintf(want, sizeof(want), "migration directory \"%s\" does not exist", missing);
	assert_string_equal(err.msg, want);
	mig_dir_free(&d);

	put(dir, "plain", "x");
	mig_dir_init(&d);
	assert_int_equal(mig_dir_load_local(file, &d, &err), MIG_EIO);
	snprintf(want, sizeof(want), "migration directory \"%s\" is not a directory", file);
	assert_string_equal(err.msg, want);
	mig_dir_free(&d);

	/* a dangling link named like a migration cannot be read */
	assert_int_equal(symlink("does-not-exist", link), 0);
	mig_dir_init(&d);
	assert_int_equal(mig_dir_load_local(dir, &d, &err), MIG_EIO);
	snprintf(want, sizeof(want),
			 "sql/migrate: read file \"y.sql\": open %s/y.sql: no such file or directory", dir);
	assert_string_equal(err.msg, want);
	mig_dir_free(&d);
	unlink(link);

	/* an unreadable file (not testable as root, who reads anything) */
	if (geteuid() != 0)
	{
		char	   *locked = join(dir, "z.sql");

		put(dir, "z.sql", "SELECT 1;");
		assert_int_equal(chmod(locked, 0), 0);
		mig_dir_init(&d);
		assert_int_equal(mig_dir_load_local(dir, &d, &err), MIG_EIO);
		snprintf(want, sizeof(want),
				 "sql/migrate: read file \"z.sql\": open %s/z.sql: permission denied", dir);
		assert_string_equal(err.msg, want);
		mig_dir_free(&d);
		free(locked);
	}
	free(missing);
	free(file);
	free(link);
	drop_scratch(dir);
}

/* ---------------------------------------------------------------- out of memory */

/* Every step of building, finishing, verifying; MIG_ENOMEM when one ran out. */
static int
alloc_scenario(const char *fixture)
{
	static const char *const files[] = {
		"3_b.sql", "CREATE TABLE b(x int);\n",
		"1_a.sql", "-- atlas:txmode all\n\nCREATE TABLE a(x int);\n",
		"2_tpl.sql", "-- atlas:sum ignore\nSELECT 1;\n",
		"1_a.sql", "-- atlas:txmode none\n-- atlas:txmode file\n\nCREATE TABLE a(x int);\n",
		NULL
	};
	const char *bad_sum =
		"h1:L9u0VDQuJH96Ec9CS9AIcCHzOZm5B9M0KEFT43eMtEo=\n"
		"1_a.sql h1:tTJGEVCIt+obqZZm3r1U7OyfLUq1L1VZ1zmcMmvs1vg=\n"
		"3_b.sql h1:ihaX7tzcobwTl4gx+3Tyk6ZIJ0wjyR7eUe+HV4iQUfs=\n";
	mig_dir		d;
	mig_err		err;
	mig_buf		b;
	mig_txmode	m;
	char	   *v,
			   *desc;
	size_t		i;
	int			rc = MIG_OK;

	mig_dir_init(&d);
	mig_buf_init(&b);
	for (i = 0; files[i]; i += 2)
		if ((rc = mig_dir_add(&d, files[i], files[i + 1], strlen(files[i + 1]), &err)) != MIG_OK)
			goto done;
	if ((rc = mig_dir_add(&d, "atlas.sum", bad_sum, strlen(bad_sum), &err)) != MIG_OK)
		goto done;
	if ((rc = mig_dir_finish(&d, &err)) != MIG_OK)
		goto done;
	assert_int_equal(d.nfiles, 3);
	if ((rc = mig_sum_format(&d, &b)) != MIG_OK)
		goto done;
	rc = mig_sum_verify(&d, &err);
	assert_int_equal(rc, MIG_ECHECKSUM);
	assert_string_equal(err.sum_reason, "edited");
	rc = mig_file_txmode(&d.files[0], &m, &err);
	if (rc == MIG_ENOMEM)
		goto done;
	assert_int_equal(rc, MIG_EINVAL);
	if ((rc = mig_dir_add(&d, "atlas.sum", b.data, b.len, &err)) != MIG_OK ||
		(rc = mig_dir_finish(&d, &err)) != MIG_OK)
		goto done;
	assert_int_equal(mig_sum_verify(&d, &err), MIG_OK);
	if ((rc = mig_file_version_desc(d.files[0].name, &v, &desc)) != MIG_OK)
		goto done;
	mig_free(v);
	mig_free(desc);
	rc = mig_dir_add_n(&d, "a/b.sql", 7, "", 0, &err);
	if (rc == MIG_ENOMEM)
		goto done;
	assert_int_equal(rc, MIG_EINVAL);
	mig_dir_free(&d);
	if (fixture)
	{
		if ((rc = mig_dir_load_local(fixture, &d, &err)) != MIG_OK)
			goto done;
		assert_int_equal(mig_sum_verify(&d, &err), MIG_OK);
	}
	rc = MIG_OK;
done:
	if (rc != MIG_OK)
		assert_int_equal(rc, MIG_ENOMEM);
	mig_buf_free(&b);
	mig_dir_free(&d);
	return rc;
}

static void
test_failing_allocator(void **state)
{
	char	   *fixture = NULL;
	long		n;
	int			rc = MIG_ENOMEM;

	(void) state;
	if (tu_conformance_dir() != NULL)
		fixture = conformance_path("dirs/cmd/atlas/internal/cmdapi/testdata/baseline2");
	for (n = 0; n < 100000 && rc == MIG_ENOMEM; n++)
	{
		tu_fail_after(n);
		rc = alloc_scenario(fixture);
		tu_fail_reset();
	}
	assert_int_equal(rc, MIG_OK);
	print_message("# allocator: succeeded after %ld failure points\n", n - 1);
	free(fixture);
}

/* ---------------------------------------------------------------- 10,000 files */

static void
test_many_files(void **state)
{
	enum
	{
		N = 10000
	};
	char	   *dir = tu_mkdtemp();
	char		name[64],
				body[128];
	mig_dir		d;
	mig_err		err;
	mig_buf		b;
	double		t0,
				t1,
				t2;
	int			i;

	(void) state;
	for (i = 0; i < N; i++)
	{
		snprintf(name, sizeof(name), "2024%010d_m%d.sql", i, i);
		snprintf(body, sizeof(body), "CREATE TABLE t%d (id int);\nINSERT INTO t%d VALUES (%d);\n",
				 i, i, i);
		put(dir, name, body);
	}
	mig_dir_init(&d);
	mig_buf_init(&b);
	assert_int_equal(mig_dir_load_local(dir, &d, &err), MIG_OK);
	assert_int_equal(mig_sum_format(&d, &b), MIG_OK);
	put(dir, "atlas.sum", b.data);
	mig_dir_free(&d);

	t0 = now_ms();
	mig_dir_init(&d);
	assert_int_equal(mig_dir_load_local(dir, &d, &err), MIG_OK);
	t1 = now_ms();
	assert_int_equal(mig_sum_verify(&d, &err), MIG_OK);
	t2 = now_ms();
	assert_int_equal(d.nfiles, N);
	print_message("# 10000 files: load+finish %.1f ms, verify %.1f ms\n", t1 - t0, t2 - t1);
	assert_true(t2 - t0 < 10000);

	/* in memory, added in reverse order (the sorting path) */
	{
		mig_dir		m;

		mig_dir_init(&m);
		t0 = now_ms();
		for (i = N - 1; i >= 0; i--)
		{
			snprintf(name, sizeof(name), "2024%010d_m%d.sql", i, i);
			snprintf(body, sizeof(body), "CREATE TABLE t%d (id int);\nINSERT INTO t%d VALUES (%d);\n",
					 i, i, i);
			assert_int_equal(mig_dir_add(&m, name, body, strlen(body), &err), MIG_OK);
		}
		assert_int_equal(mig_dir_add(&m, "atlas.sum", b.data, b.len, &err), MIG_OK);
		assert_int_equal(mig_dir_finish(&m, &err), MIG_OK);
		assert_int_equal(mig_sum_verify(&m, &err), MIG_OK);
		t1 = now_ms();
		print_message("# 10000 files in memory: add+finish+verify %.1f ms\n", t1 - t0);
		assert_string_equal(m.total, d.total);
		mig_dir_free(&m);
	}
	mig_buf_free(&b);
	mig_dir_free(&d);
	drop_scratch(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conformance_sums),
		cmocka_unit_test(test_conformance_subfolders_ignored),
		cmocka_unit_test(test_conformance_sqlitetx4),
		cmocka_unit_test(test_mutation_unmodified),
		cmocka_unit_test(test_mutation_edited),
		cmocka_unit_test(test_mutation_added),
		cmocka_unit_test(test_mutation_renamed_then_removed),
		cmocka_unit_test(test_mutation_sum_only),
		cmocka_unit_test(test_mutation_foo_prefix),
		cmocka_unit_test(test_mutation_foo_suffix),
		cmocka_unit_test(test_mutation_deleted_sum),
		cmocka_unit_test(test_example_migrate),
		cmocka_unit_test(test_example_single),
		cmocka_unit_test(test_example_sum_ignored),
		cmocka_unit_test(test_example_empty),
		cmocka_unit_test(test_version_desc),
		cmocka_unit_test(test_ordering),
		cmocka_unit_test(test_add_rejects_names),
		cmocka_unit_test(test_add_replaces_and_ignores),
		cmocka_unit_test(test_unfinished),
		cmocka_unit_test(test_txmode),
		cmocka_unit_test(test_txmode_errors),
		cmocka_unit_test(test_has_directive),
		cmocka_unit_test(test_checkpoint),
		cmocka_unit_test(test_sum_ignore_variants),
		cmocka_unit_test(test_verify_parsing),
		cmocka_unit_test(test_local_rules),
		cmocka_unit_test(test_local_sql_directory),
		cmocka_unit_test(test_local_errors),
		cmocka_unit_test(test_failing_allocator),
		cmocka_unit_test(test_many_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
