/*
 * test_archive.c - the Cloud directory archive (§c): reader and writer.
 *
 * The writer must produce Atlas's layout byte for byte (§c.2); the reader
 * must take what a server may send (§c.3) and reject, as a whole, anything
 * that is not a set of bare file names (DESIGN §6.13).  Every conformance
 * directory with an atlas.sum is archived and read back.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "cloud.h"

/* ---------------------------------------------------------------- helpers */

/* A hand-made header, independent of archive.c (tests the reader on input it did not write). */
typedef struct th {
	const char *name;			/* name field (cut at 100) */
	size_t		size;
	char		type;
	const char *magic;			/* 8 bytes incl. version; NULL = "ustar\0" "00" */
	const char *prefix;			/* USTAR prefix, NULL = none */
	bool		base256;		/* size in GNU base-256 */
} th;

static void
octal(unsigned char *f, size_t n, unsigned long long v)
{
	char		tmp[32];

	snprintf(tmp, sizeof(tmp), "%0*llo", (int) n - 1, v);
	memcpy(f, tmp, n - 1);
	f[n - 1] = 0;
}

static void
put_th(mig_buf *b, const th *t)
{
	unsigned char h[512];
	unsigned	sum = 0;
	size_t		i;

	memset(h, 0, sizeof(h));
	memcpy(h, t->name, strlen(t->name) > 100 ? 100 : strlen(t->name));
	octal(h + 100, 8, 0644);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	if (t->base256)
	{
		h[124] = 0x80;
		for (i = 0; i < 8; i++)
			h[135 - i] = (unsigned char) (((unsigned long long) t->size >> (8 * i)) & 0xff);
	}
	else
		octal(h + 124, 12, t->size);
	octal(h + 136, 12, 0);
	h[156] = (unsigned char) t->type;
	memcpy(h + 257, t->magic ? t->magic : "ustar\0" "00", 8);
	if (t->prefix)
		memcpy(h + 345, t->prefix, strlen(t->prefix));
	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += h[i];
	octal(h + 148, 7, sum);
	h[155] = ' ';
	mig_buf_append(b, (const char *) h, 512);
}

static void
put_body(mig_buf *b, const char *data, size_t n)
{
	static const char zeros[512];

	mig_buf_append(b, data, n);
	mig_buf_append(b, zeros, (512 - n % 512) % 512);
}

static void
put_file(mig_buf *b, const char *name, const char *data)
{
	th			t = {name, strlen(data), '0', NULL, NULL, false};

	put_th(b, &t);
	put_body(b, data, strlen(data));
}

static void
put_end(mig_buf *b)
{
	static const char zeros[1024];

	mig_buf_append(b, zeros, sizeof(zeros));
}

/* Read buf into a fresh dir; returns rc, err filled. */
static int
read_buf(const mig_buf *b, size_t max_entry, mig_dir *d, mig_err *err)
{
	mig_dir_init(d);
	mig_err_clear(err);
	return mig_archive_read((const unsigned char *) b->data, b->len, max_entry, d, err);
}

static const mig_file *
find_file(const mig_dir *d, const char *name)
{
	size_t		i;

	for (i = 0; i < d->nfiles; i++)
		if (strcmp(d->files[i].name, name) == 0)
			return &d->files[i];
	return NULL;
}

/* A small finished directory: atlas.sum computed over the given files. */
static void
make_dir(mig_dir *d, const char *const *names, const char *const *datas, size_t n)
{
	mig_err		err;
	mig_buf		sum;
	size_t		i;

	mig_dir_init(d);
	for (i = 0; i < n; i++)
		assert_int_equal(mig_dir_add(d, names[i], datas[i], strlen(datas[i]), &err), MIG_OK);
	assert_int_equal(mig_dir_finish(d, &err), MIG_OK);
	mig_buf_init(&sum);
	assert_int_equal(mig_sum_format(d, &sum), MIG_OK);
	assert_int_equal(mig_dir_add(d, "atlas.sum", sum.data, sum.len, &err), MIG_OK);
	assert_int_equal(mig_dir_finish(d, &err), MIG_OK);
	mig_buf_free(&sum);
}

/* ---------------------------------------------------------------- §c.2 writer */

/* §c.2: "1.sql" with 25 bytes has header checksum 010050; exact field values. */
static void
test_header_checksum_example(void **state)
{
	mig_dir		d;
	mig_buf		b;
	mig_err		err;
	const unsigned char *h;
	static const char z[1024];

	(void) state;
	mig_dir_init(&d);
	assert_int_equal(mig_dir_add(&d, "1.sql", "CREATE TABLE t(c int);\n--", 25, &err), MIG_OK);
	assert_int_equal(mig_dir_finish(&d, &err), MIG_OK);
	mig_buf_init(&b);
	assert_int_equal(mig_archive_write(&d, &b), MIG_OK);
	assert_int_equal(b.len, 512 + 512 + 1024);
	h = (const unsigned char *) b.data;
	assert_memory_equal(h, "1.sql\0", 6);
	assert_memory_equal(h + 100, "0000600\0", 8);
	assert_memory_equal(h + 108, "0000000\0", 8);
	assert_memory_equal(h + 116, "0000000\0", 8);
	assert_memory_equal(h + 124, "00000000031\0", 12);
	assert_memory_equal(h + 136, "00000000000\0", 12);
	assert_memory_equal(h + 148, "010050\0 ", 8);
	assert_int_equal(h[156], '0');
	assert_memory_equal(h + 257, "ustar\0" "00", 8);
	assert_memory_equal(h + 329, "0000000\0" "0000000\0", 16);
	assert_memory_equal(h + 512, "CREATE TABLE t(c int);\n--\0\0", 27);
	assert_memory_equal(h + 1024, z, 1024);
	mig_buf_free(&b);
	mig_dir_free(&d);
}

/* §c.2: a directory with nothing archives to exactly 1024 zero bytes. */
static void
test_empty_dir_archive(void **state)
{
	mig_dir		d,
				r;
	mig_buf		b;
	mig_err		err;
	static const char z[1024];

	(void) state;
	mig_dir_init(&d);
	assert_int_equal(mig_dir_finish(&d, &err), MIG_OK);
	mig_buf_init(&b);
	assert_int_equal(mig_archive_write(&d, &b), MIG_OK);
	assert_int_equal(b.len, 1024);
	assert_memory_equal(b.data, z, 1024);
	assert_int_equal(read_buf(&b, 0, &r, &err), MIG_OK);
	assert_int_equal(r.nfiles, 0);
	assert_null(r.sum);
	mig_dir_free(&r);
	mig_buf_free(&b);
	mig_dir_free(&d);
}

/* §c.3: empty or null content is an empty directory, which verifies. */
static void
test_read_null_and_empty(void **state)
{
	mig_dir		d;
	mig_err		err;

	(void) state;
	mig_dir_init(&d);
	assert_int_equal(mig_archive_read(NULL, 0, 0, &d, &err), MIG_OK);
	assert_int_equal(d.nfiles, 0);
	assert_int_equal(mig_sum_verify(&d, &err), MIG_OK);
	mig_dir_free(&d);
	mig_dir_init(&d);
	assert_int_equal(mig_archive_read((const unsigned char *) "", 0, 0, &d, &err), MIG_OK);
	assert_int_equal(d.nfiles, 0);
	mig_dir_free(&d);
}

/* Entry names of a written archive in order (PAX path applied), for layout checks. */
static size_t
list_entries(const mig_buf *b, char names[][512], size_t max)
{
	size_t		off = 0,
				n = 0;
	char		pax[512] = "";

	while (off + 512 <= b->len && n < max)
	{
		const char *h = b->data + off;
		size_t		size = strtoul(h + 124, NULL, 8);

		if (h[0] == 0)
			break;
		if (h[156] == 'x')
		{
			const char *p = strstr(h + 512, " path=");

			assert_non_null(p);
			snprintf(pax, sizeof(pax), "%.*s", (int) strcspn(p + 6, "\n"), p + 6);
		}
		else
		{
			if (pax[0])
				snprintf(names[n], 512, "%s", pax);
			else
				snprintf(names[n], 512, "%.100s", h);
			pax[0] = '\0';
			n++;
		}
		off += 512 + (size + 511) / 512 * 512;
	}
	return n;
}

/* Collect conformance directories holding an atlas.sum. */
static void
find_sum_dirs(const char *path, char ***out, size_t *n)
{
	DIR		   *dh = opendir(path);
	struct dirent *e;
	char		p[4096];
	struct stat st;

	if (dh == NULL)
		return;
	snprintf(p, sizeof(p), "%s/atlas.sum", path);
	if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
	{
		*out = realloc(*out, (*n + 1) * sizeof(char *));
		(*out)[(*n)++] = strdup(path);
	}
	while ((e = readdir(dh)) != NULL)
	{
		if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0)))
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
			find_sum_dirs(p, out, n);
	}
	closedir(dh);
}

/*
 * Every conformance directory with an atlas.sum: archive, read back; same
 * files, same bytes, same computed sum, same verification result; the
 * archive starts with atlas.sum and lists the migrations in order.
 */
static void
test_roundtrip_conformance(void **state)
{
	char		root[4096];
	char	  **dirs = NULL;
	size_t		ndirs = 0,
				i;

	(void) state;
	TU_NEED_CONFORMANCE();
	snprintf(root, sizeof(root), "%s/dirs", tu_conformance_dir());
	find_sum_dirs(root, &dirs, &ndirs);
	assert_true(ndirs >= 10);
	for (i = 0; i < ndirs; i++)
	{
		mig_dir		d,
					r;
		mig_buf		b,
					s1,
					s2;
		mig_err		e1,
					e2;
		char		(*names)[512] = calloc(4096, 512);
		size_t		n,
					k;

		mig_dir_init(&d);
		assert_int_equal(mig_dir_load_local(dirs[i], &d, &e1), MIG_OK);
		mig_buf_init(&b);
		assert_int_equal(mig_archive_write(&d, &b), MIG_OK);

		n = list_entries(&b, names, 4096);
		assert_int_equal(n, d.nfiles + 1);
		assert_string_equal(names[0], "atlas.sum");
		for (k = 0; k < d.nfiles; k++)
			assert_string_equal(names[k + 1], d.files[k].name);

		assert_int_equal(read_buf(&b, 0, &r, &e2), MIG_OK);
		assert_int_equal(r.nfiles, d.nfiles);
		for (k = 0; k < d.nfiles; k++)
		{
			assert_string_equal(r.files[k].name, d.files[k].name);
			assert_int_equal(r.files[k].len, d.files[k].len);
			assert_memory_equal(r.files[k].data, d.files[k].data, d.files[k].len);
			assert_string_equal(r.files[k].hash, d.files[k].hash);
		}
		assert_int_equal(r.sum_len, d.sum_len);
		assert_memory_equal(r.sum, d.sum, d.sum_len);
		assert_string_equal(r.total, d.total);
		mig_buf_init(&s1);
		mig_buf_init(&s2);
		assert_int_equal(mig_sum_format(&d, &s1), MIG_OK);
		assert_int_equal(mig_sum_format(&r, &s2), MIG_OK);
		assert_string_equal(s1.data, s2.data);
		assert_int_equal(mig_sum_verify(&r, &e2), mig_sum_verify(&d, &e1));

		mig_buf_free(&s1);
		mig_buf_free(&s2);
		mig_buf_free(&b);
		mig_dir_free(&d);
		mig_dir_free(&r);
		free(names);
		free(dirs[i]);
	}
	print_message("# %zu conformance directories archived and read back\n", ndirs);
	free(dirs);
}

/* Names over 100 bytes and non-ASCII names go through a PAX path record. */
static void
test_pax_long_and_unicode_names(void **state)
{
	char		longname[200];
	const char *names[2];
	const char *datas[2] = {"CREATE TABLE a(x int);\n", "CREATE TABLE b(x int);\n"};
	mig_dir		d,
				r;
	mig_buf		b;
	mig_err		err;
	char		listed[4][512];

	(void) state;
	memset(longname, 'x', sizeof(longname));
	memcpy(longname, "20240101000000_", 15);
	strcpy(longname + 150, ".sql");
	names[0] = longname;
	names[1] = "20240102000000_caf\xc3\xa9.sql";
	make_dir(&d, names, datas, 2);
	mig_buf_init(&b);
	assert_int_equal(mig_archive_write(&d, &b), MIG_OK);
	/* atlas.sum, then PAX x + file for each name */
	assert_int_equal(b.data[156], '0');
	assert_int_equal(list_entries(&b, listed, 4), 3);
	assert_string_equal(listed[1], longname);
	assert_string_equal(listed[2], names[1]);
	{
		/* the header after atlas.sum (1 block + 1 data block) is the PAX header */
		const char *x = b.data + 1024;

		assert_int_equal(x[156], 'x');
		assert_memory_equal(x, "PaxHeaders.0/20240101000000_", 28);
		assert_memory_equal(x + 100, "0000000\0", 8);
		assert_non_null(strstr(x + 512, "path=20240101000000_"));
	}
	assert_int_equal(read_buf(&b, 0, &r, &err), MIG_OK);
	assert_int_equal(r.nfiles, 2);
	assert_non_null(find_file(&r, longname));
	assert_non_null(find_file(&r, names[1]));
	assert_int_equal(mig_sum_verify(&r, &err), MIG_OK);
	mig_dir_free(&r);
	mig_buf_free(&b);
	mig_dir_free(&d);
}

/* §c.3: GNU 'L' long names, base-256 sizes, PAX size, and skipped types. */
static void
test_reader_formats(void **state)
{
	mig_buf		b;
	mig_dir		d;
	mig_err		err;
	char		longname[300];
	th			t;
	const mig_file *f;

	(void) state;
	memset(longname, 'n', sizeof(longname));
	memcpy(longname, "3_", 2);
	strcpy(longname + 250, ".sql");

	mig_buf_init(&b);
	/* global PAX header: ignored */
	t = (th) {"pax_global_header", 12, 'g', NULL, NULL, false};
	put_th(&b, &t);
	put_body(&b, "12 comment=\n", 12);
	/* a directory, a symlink, a fifo: skipped */
	t = (th) {"sub/", 0, '5', NULL, NULL, false};
	put_th(&b, &t);
	t = (th) {"link.sql", 0, '2', NULL, NULL, false};
	put_th(&b, &t);
	/* GNU long name, GNU magic */
	t = (th) {"././@LongLink", strlen(longname) + 1, 'L', "ustar  \0", NULL, false};
	put_th(&b, &t);
	put_body(&b, longname, strlen(longname) + 1);
	t = (th) {"3_nnnn", 4, '0', "ustar  \0", NULL, false};
	put_th(&b, &t);
	put_body(&b, "c;\n\n", 4);
	/* base-256 size */
	t = (th) {"1_a.sql", 9, '0', NULL, NULL, true};
	put_th(&b, &t);
	put_body(&b, "SELECT 1;", 9);
	/* PAX size overrides the header's size */
	t = (th) {"PaxHeaders.0/2_b.sql", 18, 'x', NULL, NULL, false};
	put_th(&b, &t);
	put_body(&b, "11 size=10\n7 x=yz\n", 18);
	t = (th) {"2_b.sql", 99999, '0', NULL, NULL, false};
	put_th(&b, &t);
	put_body(&b, "SELECT 22;", 10);
	/* old-style '\0' type, V7 header (no magic) */
	t = (th) {"4_v7.sql", 3, '\0', "\0\0\0\0\0\0\0\0", NULL, false};
	put_th(&b, &t);
	put_body(&b, "x;\n", 3);
	/* not a migration: dropped by the in-memory rule */
	put_file(&b, "README.md", "hello");
	put_end(&b);
	/* bytes after the end marker are not read */
	mig_buf_append(&b, "garbage", 7);

	assert_int_equal(read_buf(&b, 0, &d, &err), MIG_OK);
	assert_int_equal(d.nfiles, 4);
	assert_string_equal(d.files[0].name, "1_a.sql");
	assert_string_equal(d.files[0].data, "SELECT 1;");
	assert_string_equal(d.files[1].name, "2_b.sql");
	assert_string_equal(d.files[1].data, "SELECT 22;");
	f = find_file(&d, longname);
	assert_non_null(f);
	assert_string_equal(f->data, "c;\n\n");
	assert_non_null(find_file(&d, "4_v7.sql"));
	assert_null(find_file(&d, "link.sql"));
	mig_dir_free(&d);
	mig_buf_free(&b);
}

/* §c.3: a repeated name: the later entry wins. */
static void
test_repeated_name(void **state)
{
	mig_buf		b;
	mig_dir		d;
	mig_err		err;

	(void) state;
	mig_buf_init(&b);
	put_file(&b, "1.sql", "old;");
	put_file(&b, "2.sql", "two;");
	put_file(&b, "1.sql", "new;");
	put_end(&b);
	assert_int_equal(read_buf(&b, 0, &d, &err), MIG_OK);
	assert_int_equal(d.nfiles, 2);
	assert_string_equal(d.files[0].data, "new;");
	mig_dir_free(&d);
	mig_buf_free(&b);
}

/* DESIGN §6.13: any entry that is not a bare file name rejects the whole archive. */
static void
test_path_tricks_rejected(void **state)
{
	static const struct {
		const char *name;
		char		type;
		const char *prefix;
		const char *want;
	}			cases[] = {
		{"../x.sql", '0', NULL, "\"../x.sql\""},
		{"/etc/x.sql", '0', NULL, "absolute"},
		{"sub/x.sql", '0', NULL, "'/'"},
		{"..", '0', NULL, "\"..\""},
		{".", '0', NULL, "not a file name"},
		{"x..y.sql", '0', NULL, "\"..\""},
		{"x.sql", '0', "dir", "\"dir/x.sql\""},
		{"../up", '5', NULL, "\"../up\""},
		{"../evil", '2', NULL, "\"../evil\""},
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_buf		b;
		mig_dir		d;
		mig_err		err;
		th			t = {cases[i].name, cases[i].type == '0' ? 3 : 0, cases[i].type, NULL,
		cases[i].prefix, false};

		mig_buf_init(&b);
		put_file(&b, "1_ok.sql", "SELECT 1;");
		put_th(&b, &t);
		if (t.size)
			put_body(&b, "x;\n", 3);
		put_end(&b);
		assert_int_equal(read_buf(&b, 0, &d, &err), MIG_EINVAL);
		if (strstr(err.msg, "bad archive") == NULL || strstr(err.msg, cases[i].want) == NULL)
			fail_msg("case %zu (%s): %s", i, cases[i].name, err.msg);
		mig_dir_free(&d);
		mig_buf_free(&b);
	}
}

/* NUL in a PAX path, '/' in a GNU long name, an empty name: rejected too. */
static void
test_meta_name_tricks(void **state)
{
	mig_buf		b;
	mig_dir		d;
	mig_err		err;
	th			t;

	(void) state;
	mig_buf_init(&b);
	t = (th) {"PaxHeaders.0/x", 16, 'x', NULL, NULL, false};
	put_th(&b, &t);
	put_body(&b, "16 path=a\0b.sql\n", 16);
	put_file(&b, "ab.sql", "x;");
	put_end(&b);
	assert_int_equal(read_buf(&b, 0, &d, &err), MIG_EINVAL);
	assert_non_null(strstr(err.msg, "NUL"));
	mig_dir_free(&d);

	mig_buf_reset(&b);
	t = (th) {"././@LongLink", 13, 'L', "ustar  \0", NULL, false};
	put_th(&b, &t);
	put_body(&b, "../../x.sql\0\0", 13);
	put_file(&b, "x.sql", "x;");
	put_end(&b);
	assert_int_equal(read_buf(&b, 0, &d, &err), MIG_EINVAL);
	assert_non_null(strstr(err.msg, "../../x.sql"));
	mig_dir_free(&d);

	mig_buf_reset(&b);
	put_file(&b, "", "x;");
	put_end(&b);
	assert_int_equal(read_buf(&b, 0, &d, &err), MIG_EINVAL);
	assert_non_null(strstr(err.msg, "empty name"));
	mig_dir_free(&d);
	mig_buf_free(&b);
}

/* A cut-short stream is an error wherever it is cut (except between entries). */
static void
test_truncated(void **state)
{
	const char *names[2] = {"1_a.sql", "2_b.sql"};
	const char *datas[2] = {"CREATE TABLE a(x int);\n", "CREATE TABLE b(x int);\n"};
	mig_dir		src;
	mig_buf		b;
	size_t		cut;

	(void) state;
	make_dir(&src, names, datas, 2);
	mig_buf_init(&b);
	assert_int_equal(mig_archive_write(&src, &b), MIG_OK);
	for (cut = 1; cut < b.len - 1024; cut++)
	{
		mig_dir		d;
		mig_err		err;
		int			rc;

		mig_dir_init(&d);
		rc = mig_archive_read((const unsigned char *) b.data, cut, 0, &d, &err);
		if (cut % 512 == 0 && cut % 1024 == 0)
		{
			/* a whole number of entries (each is 2 blocks here): fewer files */
			assert_int_equal(rc, MIG_OK);
			assert_true(mig_sum_verify(&d, &err) != MIG_OK || d.nfiles == 2);
		}
		else if (rc != MIG_EINVAL)
			fail_msg("cut at %zu: rc %d", cut, rc);
		else
			assert_non_null(strstr(err.msg, "truncated"));
		mig_dir_free(&d);
	}
	mig_buf_free(&b);
	mig_dir_free(&src);
}

/* Entry size cap, bad checksum, bad numbers, PAX garbage. */
static void
test_limits_and_corruption(void **state)
{
	mig_buf		b;
	mig_dir		d;
	mig_err		err;
	th			t;

	(void) state;
	mig_buf_init(&b);
	put_file(&b, "1.sql", "CREATE TABLE t(c int);\n--");
	put_end(&b);
	assert_int_equal(read_buf(&b, 10, &d, &err), MIG_EINVAL);
	assert_non_null(strstr(err.msg, "\"1.sql\": too large (25 bytes, the limit is 10)"));
	mig_dir_free(&d);
	assert_int_equal(read_buf(&b, 25, &d, &err), MIG_OK);
	mig_dir_free(&d);

	/* flip one header byte: checksum */
	b.data[5] = 'X';
	assert_int_equal(read_buf(&b, 0, &d, &err), MIG_EINVAL);
	assert_non_null(strstr(err.msg, "checksum"));
	mig_dir_free(&d);

	/* a size larger than the stream */
	mig_buf_reset(&b);
	t = (th) {"1.sql", 1u << 30, '0', NULL, NULL, false};
	put_th(&b, &t);
	put_body(&b, "x", 1);
	put_end(&b);
	assert_int_equal(read_buf(&b, 0, &d, &err), MIG_EINVAL);
	assert_non_null(strstr(err.msg, "truncated"));
	mig_dir_free(&d);

	/* negative base-256 size */
	mig_buf_reset(&b);
	t = (th) {"1.sql", 1, '0', NULL, NULL, true};
	put_th(&b, &t);
	put_body(&b, "x", 1);
	put_end(&b);
	b.data[124] = (char) 0xff;
	{
		/* re-checksum after the edit */
		unsigned	sum = 0;
		size_t		i;

		memset(b.data + 148, ' ', 8);
		for (i = 0; i < 512; i++)
			sum += (unsigned char) b.data[i];
		octal((unsigned char *) b.data + 148, 7, sum);
	}
	assert_int_equal(read_buf(&b, 0, &d, &err), MIG_EINVAL);
	assert_non_null(strstr(err.msg, "size"));
	mig_dir_free(&d);

	/* malformed PAX record */
	mig_buf_reset(&b);
	t = (th) {"PaxHeaders.0/x", 8, 'x', NULL, NULL, false};
	put_th(&b, &t);
	put_body(&b, "99 path=", 8);
	put_file(&b, "1.sql", "x;");
	put_end(&b);
	assert_int_equal(read_buf(&b, 0, &d, &err), MIG_EINVAL);
	assert_non_null(strstr(err.msg, "PAX"));
	mig_dir_free(&d);

	/* an extended header with no entry after it */
	mig_buf_reset(&b);
	t = (th) {"PaxHeaders.0/x", 14, 'x', NULL, NULL, false};
	put_th(&b, &t);
	put_body(&b, "14 path=x.sql\n", 14);
	put_end(&b);
	assert_int_equal(read_buf(&b, 0, &d, &err), MIG_EINVAL);
	mig_dir_free(&d);
	mig_buf_free(&b);
}

/* Every allocation failure is MIG_ENOMEM, never a crash or a leak. */
static void
test_failing_allocator(void **state)
{
	const char *names[3] = {"1_a.sql", "2_b.sql", NULL};
	const char *datas[3] = {"CREATE TABLE a(x int);\n", "CREATE TABLE b(x int);\n", "x;\n"};
	char		longname[160];
	mig_dir		src;
	mig_buf		good;
	long		n;
	bool		write_ok = false,
				read_ok = false;

	(void) state;
	memset(longname, 'l', sizeof(longname));
	memcpy(longname, "3_", 2);
	strcpy(longname + 140, ".sql");
	names[2] = longname;
	make_dir(&src, names, datas, 3);
	mig_buf_init(&good);
	assert_int_equal(mig_archive_write(&src, &good), MIG_OK);

	for (n = 0; n < 10000 && !(write_ok && read_ok); n++)
	{
		mig_buf		b;
		mig_dir		d;
		mig_err		err;
		int			rc;

		mig_buf_init(&b);
		tu_fail_after(n);
		rc = mig_archive_write(&src, &b);
		tu_fail_reset();
		if (rc == MIG_OK)
		{
			assert_int_equal(b.len, good.len);
			assert_memory_equal(b.data, good.data, good.len);
			write_ok = true;
		}
		else
			assert_int_equal(rc, MIG_ENOMEM);
		mig_buf_free(&b);

		mig_dir_init(&d);
		tu_fail_after(n);
		rc = mig_archive_read((const unsigned char *) good.data, good.len, 0, &d, &err);
		tu_fail_reset();
		if (rc == MIG_OK)
		{
			assert_int_equal(d.nfiles, 3);
			read_ok = true;
		}
		else
			assert_int_equal(rc, MIG_ENOMEM);
		mig_dir_free(&d);
	}
	assert_true(write_ok && read_ok);
	mig_buf_free(&good);
	mig_dir_free(&src);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_checksum_example),
		cmocka_unit_test(test_empty_dir_archive),
		cmocka_unit_test(test_read_null_and_empty),
		cmocka_unit_test(test_roundtrip_conformance),
		cmocka_unit_test(test_pax_long_and_unicode_names),
		cmocka_unit_test(test_reader_formats),
		cmocka_unit_test(test_repeated_name),
		cmocka_unit_test(test_path_tricks_rejected),
		cmocka_unit_test(test_meta_name_tricks),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_limits_and_corruption),
		cmocka_unit_test(test_failing_allocator),
	};

	return cmocka_run_group_tests_name("archive", tests, NULL, NULL);
}
