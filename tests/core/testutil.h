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

/*
 * The conformance folder ($ATLAS_CONFORMANCE_DIR, default
 * ../shared/conformance/atlas), or NULL if it is absent.  Tests that need
 * it call TU_NEED_CONFORMANCE(), which skips loudly.
 */
const char *tu_conformance_dir(void);

#define TU_NEED_CONFORMANCE() \
	do { \
		if (tu_conformance_dir() == NULL) { \
			print_message("# SKIPPED: conformance fixtures not found (set ATLAS_CONFORMANCE_DIR)\n"); \
			skip(); \
		} \
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
