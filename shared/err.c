/*
 * err.c - mig_err: fixed-buffer errors, filled without allocating.
 *
 * Every text is valid in the host's text encoding (UTF-8 unless a host
 * says otherwise, mig_set_text_charlen) whatever it quotes (invalid bytes
 * become U+FFFD) and a cut never splits a character.
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mig.h"

/*
 * Copy src[0..n) into dst[size] as valid text of the host's encoding
 * (mig_text_len: UTF-8 unless the host set another; invalid bytes and NUL
 * become U+FFFD in UTF-8, '?' otherwise).  When src was already cut
 * (cut = true) a trailing partial character is dropped; when the text
 * does not fit, it is cut at a character boundary and ends in "...".
 */
static void
copy_valid(char *dst, size_t size, const char *src, size_t n, bool cut)
{
	bool		utf8 = mig_text_is_utf8();
	const char *bad = utf8 ? "\xEF\xBF\xBD" : "?";	/* U+FFFD */
	size_t		badlen = strlen(bad),
				i = 0,
				out = 0,
				safe = 0;		/* last boundary leaving room for "..." */
	bool		full = false;

	if (size == 0)
		return;
	while (i < n)
	{
		size_t		l = src[i] == '\0' ? 0 : mig_text_len(src + i, n - i);
		const char *piece = l ? src + i : bad;
		size_t		plen = l ? l : badlen;

		/* an incomplete character at the end of text that was cut: dropped */
		if (l == 0 && cut && src[i] != '\0' && mig_text_len_partial(src + i, n - i))
			break;
		if (out + plen <= size - 4 || size <= 4)
			safe = out + plen;
		if (out + plen > size - 1)
		{
			full = true;
			break;
		}
		memcpy(dst + out, piece, plen);
		out += plen;
		i += l ? l : 1;
	}
	if ((full || cut) && size > 4)
	{
		/* the text was cut (here or before): say so */
		if (out > safe)
			out = safe;
		memcpy(dst + out, "...", 3);
		out += 3;
	}
	dst[out] = '\0';
}

void
mig_err_copy(char *dst, size_t size, const char *src, size_t n)
{
	copy_valid(dst, size, src, n, false);
}

/* Format into a fixed buffer as valid UTF-8; a cut message ends in "...". */
static void vfill(char *dst, size_t size, const char *fmt, va_list ap)
			__attribute__((format(printf, 3, 0)));

static void
vfill(char *dst, size_t size, const char *fmt, va_list ap)
{
	char		tmp[MIG_ERR_MSG];
	int			n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	bool		cut = n >= (int) sizeof(tmp);

	if (n < 0)
		n = 0;
	copy_valid(dst, size, tmp, cut ? sizeof(tmp) - 1 : (size_t) n, cut);
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
	char		both[2 * MIG_ERR_MSG];
	size_t		n;
	va_list		ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vfill(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	n = strlen(prefix);
	memcpy(both, prefix, n);
	memcpy(both + n, err->msg, strlen(err->msg) + 1);
	copy_valid(err->msg, sizeof(err->msg), both, strlen(both), false);
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
