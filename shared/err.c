/*
 * err.c - mig_err: fixed-buffer errors, filled without allocating.
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mig.h"

/* Format into a fixed buffer; a cut message ends in "...". */
static void
vfill(char *dst, size_t size, const char *fmt, va_list ap)
{
	int			n = vsnprintf(dst, size, fmt, ap);

	if (n >= (int) size && size > 4)
		memcpy(dst + size - 4, "...", 4);
}

void
mig_err_clear(mig_err *err)
{
	if (err == NULL)
		return;
	err->code = MIG_OK;
	err->msg[0] = '\0';
	err->detail[0] = '\0';
	err->hint[0] = '\0';
	err->sqlstate[0] = '\0';
	err->sum_line = 0;
	err->sum_file[0] = '\0';
	err->sum_reason[0] = '\0';
}

int
mig_err_set(mig_err *err, int code, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return code;
	mig_err_clear(err);
	err->code = code;
	va_start(ap, fmt);
	vfill(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void
mig_err_prefix(mig_err *err, const char *fmt,...)
{
	char		prefix[MIG_ERR_MSG];
	char		old[MIG_ERR_MSG];
	va_list		ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vfill(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	if ((size_t) snprintf(err->msg, sizeof(err->msg), "%s%s", prefix, old) >= sizeof(err->msg))
		memcpy(err->msg + sizeof(err->msg) - 4, "...", 4);
}

void
mig_err_detail(mig_err *err, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vfill(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
}

void
mig_err_hint(mig_err *err, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vfill(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
}

const char *
mig_err_name(int code)
{
	switch (code)
	{
		case MIG_OK:
			return "ok";
		case MIG_ENOMEM:
			return "out of memory";
		case MIG_EINVAL:
			return "invalid argument";
		case MIG_ECONFIG:
			return "config";
		case MIG_EIO:
			return "io";
		case MIG_ECHECKSUM:
			return "checksum";
		case MIG_ESCAN:
			return "scan";
		case MIG_EDB:
			return "database";
		case MIG_ELOCKED:
			return "locked";
		case MIG_EHISTORY:
			return "history";
		case MIG_EINTR:
			return "interrupted";
		case MIG_ECLOUD:
			return "cloud";
		case MIG_ENOTSUP:
			return "not supported";
		case MIG_ENOTFOUND:
			return "not found";
		case MIG_ESTATE:
			return "state";
		case MIG_EPERM:
			return "permission denied";
	}
	return "unknown";
}
