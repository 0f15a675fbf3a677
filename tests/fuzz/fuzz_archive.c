/*
 * fuzz_archive.c - libFuzzer target for the Cloud archive reader (§c.3).
 *
 * Any input: the reader returns MIG_OK or an error, never crashes, never
 * leaks.  When it accepts, the round trip holds: writing the directory
 * (§c.2) and reading it back gives the same files, bytes and sum.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mig_dir		d,
				r;
	mig_buf		b;
	mig_err		err;
	size_t		i;

	mig_dir_init(&d);
	mig_dir_init(&r);
	mig_buf_init(&b);
	if (mig_archive_read(data, size, 4096, &d, &err) == MIG_OK)
	{
		(void) mig_sum_verify(&d, &err);
		if (mig_archive_write(&d, &b) != MIG_OK)
			abort();
		if (mig_archive_read((const unsigned char *) b.data, b.len, 0, &r, &err) != MIG_OK)
			abort();
		if (r.nfiles != d.nfiles || (r.sum == NULL) != (d.sum == NULL) ||
			r.sum_len != d.sum_len || (d.sum && memcmp(r.sum, d.sum, d.sum_len) != 0) ||
			strcmp(r.total, d.total) != 0)
			abort();
		for (i = 0; i < d.nfiles; i++)
			if (strcmp(r.files[i].name, d.files[i].name) != 0 || r.files[i].len != d.files[i].len ||
				memcmp(r.files[i].data, d.files[i].data, d.files[i].len) != 0)
				abort();
	}
	mig_buf_free(&b);
	mig_dir_free(&d);
	mig_dir_free(&r);
	return 0;
}
