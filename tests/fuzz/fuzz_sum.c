/*
 * fuzz_sum.c - libFuzzer target for atlas.sum parsing and verification
 * (spec §b.5, §b.6) and for file directives (§e, §b.2 sum ignore).
 *
 * The input is used three ways: as the atlas.sum of a small fixed
 * directory; as the content of a migration file (directives, then a
 * format/verify round trip that must pass); and, split at its first NUL,
 * as an entry name and content for mig_dir_add_n.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mig.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const files[] = {
	"1_initial.down.sql", "DROP TABLE IF EXISTS t;",
	"1_initial.up.sql", "CREATE TABLE t(c int);",
	"2_tpl.sql", "-- atlas:sum ignore\nSELECT 1;\n",
	NULL
};

static void
check(bool ok)
{
	if (!ok)
		abort();
}

/* The input as atlas.sum of a fixed directory. */
static void
as_sum(const char *in, size_t n)
{
	mig_dir		d;
	mig_err		err;
	size_t		i;
	int			rc;

	mig_dir_init(&d);
	for (i = 0; files[i]; i += 2)
		check(mig_dir_add(&d, files[i], files[i + 1], strlen(files[i + 1]), &err) == MIG_OK);
	check(mig_dir_add(&d, "atlas.sum", in, n, &err) == MIG_OK);
	check(mig_dir_finish(&d, &err) == MIG_OK);
	rc = mig_sum_verify(&d, &err);
	check(rc == MIG_OK || rc == MIG_ECHECKSUM);
	if (rc == MIG_ECHECKSUM && err.sum_line > 0)
		check(strcmp(err.sum_reason, "added") == 0 || strcmp(err.sum_reason, "removed") == 0 ||
			  strcmp(err.sum_reason, "edited") == 0);
	mig_dir_free(&d);
}

/* The input as the content of a migration file. */
static void
as_file(const char *in, size_t n)
{
	mig_dir		d;
	mig_err		err;
	mig_buf		b;
	mig_txmode	m;
	int			rc;

	mig_dir_init(&d);
	mig_buf_init(&b);
	check(mig_dir_add(&d, "1_x.sql", in, n, &err) == MIG_OK);
	check(mig_dir_add(&d, "0_y.sql", "SELECT 0;", 9, &err) == MIG_OK);
	check(mig_dir_finish(&d, &err) == MIG_OK);
	rc = mig_file_txmode(&d.files[1], &m, &err);
	check(rc == MIG_OK || rc == MIG_EINVAL);
	check(rc == MIG_OK || m == MIG_TX_UNSET);
	(void) mig_file_has_directive(&d.files[1], "txtar");
	if (d.files[1].checkpoint)
		check(mig_file_has_directive(&d.files[1], "checkpoint"));
	/* the computed sum must verify */
	check(mig_sum_format(&d, &b) == MIG_OK);
	check(mig_dir_add(&d, "atlas.sum", b.data, b.len, &err) == MIG_OK);
	check(mig_dir_finish(&d, &err) == MIG_OK);
	check(mig_sum_verify(&d, &err) == MIG_OK);
	mig_buf_free(&b);
	mig_dir_free(&d);
}

/* The input as "name NUL content". */
static void
as_entry(const char *in, size_t n)
{
	const char *nul = memchr(in, '\0', n);
	size_t		nlen = nul ? (size_t) (nul - in) : n;
	const char *content = nul ? nul + 1 : "";
	size_t		clen = nul ? n - nlen - 1 : 0;
	mig_dir		d;
	mig_err		err;
	int			rc;

	mig_dir_init(&d);
	rc = mig_dir_add_n(&d, in, nlen, content, clen, &err);
	check(rc == MIG_OK || rc == MIG_EINVAL);
	if (rc == MIG_EINVAL)
		check(memchr(in, '/', nlen) != NULL || memmem(in, nlen, "..", 2) != NULL);
	check(mig_dir_finish(&d, &err) == MIG_OK);
	rc = mig_sum_verify(&d, &err);
	check(rc == MIG_OK || rc == MIG_ECHECKSUM);
	mig_dir_free(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *) data;

	as_sum(in, size);
	as_file(in, size);
	as_entry(in, size);
	return 0;
}
