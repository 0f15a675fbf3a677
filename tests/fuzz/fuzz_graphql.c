/*
 * fuzz_graphql.c - libFuzzer target for the Cloud API reply parser (§j.2).
 *
 * The first byte picks the HTTP status and the field; the rest is the
 * body.  The parser returns MIG_OK (with a string or NULL) or MIG_ECLOUD /
 * MIG_ENOMEM with a NUL-terminated message; it never crashes or leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = {200, 200, 200, 200, 401, 403, 500, 503};
	static const char *const fields[] = {"dirState.content", "reportMigration.url"};
	char	   *value = NULL;
	mig_err		err;
	int			rc;

	if (size == 0)
		return 0;
	mig_err_clear(&err);
	rc = mig_cloud_parse_response((const char *) data + 1, size - 1, statuses[data[0] & 7],
								  fields[(data[0] >> 3) & 1], &value, &err);
	if (rc == MIG_OK)
	{
		if (value != NULL && strlen(value) > size)
			abort();
	}
	else if (rc != MIG_ECLOUD && rc != MIG_ENOMEM)
		abort();
	else if (memchr(err.msg, '\0', sizeof(err.msg)) == NULL || err.msg[0] == '\0')
		abort();
	mig_free(value);
	return 0;
}
