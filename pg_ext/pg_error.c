/*
 * pg_error.c - core errors (mig_err) as PostgreSQL errors.
 *
 * One switch maps MIG_E* codes to SQLSTATEs; a database error keeps the
 * SQLSTATE the database gave it.  The core's message is the errmsg (Atlas's
 * wording), its detail and hint become errdetail and errhint.
 */
#include "postgres.h"

#include "utils/elog.h"

#include "pg_ext.h"

int
pg_error_sqlstate(const mig_err *err)
{
	const char *s = err->sqlstate;

	if (strlen(s) == 5)
		return MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
	switch (err->code)
	{
		case MIG_ENOMEM:
			return ERRCODE_OUT_OF_MEMORY;
		case MIG_EINVAL:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case MIG_ECONFIG:
			return ERRCODE_CONFIG_FILE_ERROR;
		case MIG_EIO:
			return ERRCODE_IO_ERROR;
		case MIG_ECHECKSUM:
			return ERRCODE_DATA_CORRUPTED;
		case MIG_ESCAN:
			return ERRCODE_SYNTAX_ERROR;
		case MIG_EDB:
			return ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
		case MIG_ELOCKED:
			return ERRCODE_LOCK_NOT_AVAILABLE;
		case MIG_EHISTORY:
			return ERRCODE_DATA_EXCEPTION;
		case MIG_EINTR:
			return ERRCODE_QUERY_CANCELED;
		case MIG_ECLOUD:
			return ERRCODE_CONNECTION_FAILURE;
		case MIG_ENOTSUP:
			return ERRCODE_FEATURE_NOT_SUPPORTED;
		case MIG_ENOTFOUND:
			return ERRCODE_UNDEFINED_OBJECT;
		case MIG_ESTATE:
			return ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
		case MIG_EPERM:
			return ERRCODE_INSUFFICIENT_PRIVILEGE;
		default:
			return ERRCODE_INTERNAL_ERROR;
	}
}

/* "a\nb" joining two optional texts. */
static char *
join2(const char *a, const char *b)
{
	bool		ha = a && a[0],
				hb = b && b[0];

	if (ha && hb)
		return psprintf("%s\n%s", a, b);
	if (ha)
		return pstrdup(a);
	if (hb)
		return pstrdup(b);
	return NULL;
}

void
pg_error_raise(int elevel, const mig_err *err, const char *extra_detail,
			   const char *extra_hint)
{
	char	   *detail = join2(err->detail, extra_detail);
	char	   *hint = join2(err->hint, extra_hint);

	ereport(elevel,
			(errcode(pg_error_sqlstate(err)),
			 errmsg_internal("%s", err->msg[0] ? err->msg : mig_err_name(err->code)),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));
}
