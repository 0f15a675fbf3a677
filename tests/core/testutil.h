/*
 * testutil.h - shared helpers for the core tests (cmocka).
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mig.h"

/* Read a whole file into a mig_alloc'd, NUL-terminated buffer; NULL if absent. */
char	   *tu_read_file(const char *path, size_t *len);

/* Write data to path (creating it); returns 0 on success. */
int			tu_write_file(const char *path, const char *data, size_t len);

/* Whether the tests run under CI (the environment variable CI is "true"). */
int			tu_in_ci(void);

/*
 * Something the test needs is absent: under CI=true the test fails, else it
 * is skipped loudly.  Either way the message says what is missing.
 */
#define TU_MISSING(what) \
	do { \
		if (tu_in_ci()) \
			fail_msg("CI=true: %s", (what)); \
		print_message("# SKIPPED: %s\n", (what)); \
		skip(); \
	} while (0)

/*
 * The conformance folder ($ATLAS_CONFORMANCE_DIR, default
 * ../shared/conformance/atlas), or NULL if it is absent.  Tests that need
 * it call TU_NEED_CONFORMANCE(): a loud skip, a failure under CI=true.
 */
const char *tu_conformance_dir(void);

#define TU_NEED_CONFORMANCE() \
	do { \
		if (tu_conformance_dir() == NULL) \
			TU_MISSING("conformance fixtures not found (set ATLAS_CONFORMANCE_DIR)"); \
	} while (0)

/* A fresh scratch directory under $TMPDIR (removed by tu_rmtree). */
char	   *tu_mkdtemp(void);
void		tu_rmtree(const char *path);

/*
 * Failing allocator: after tu_fail_after(n), the n-th following allocation
 * (0-based) and every later one fail.  tu_fail_reset() restores libc.
 */
void		tu_fail_after(long n);
void		tu_fail_reset(void);
long		tu_alloc_count(void);	/* allocations seen since tu_fail_after */

#endif
