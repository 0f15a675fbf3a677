/*
 * sum.c - atlas.sum: write it (spec §b.1) and check a directory against it
 * (§b.5 parsing, §b.6 validation) with Atlas's messages.
 *
 * Knows nothing of PostgreSQL or SQLite.  The hashes themselves are
 * computed by mig_dir_finish (dir.c); verifying reads the sum in place and
 * allocates nothing but the SHA-256 state.
 */
#include <stdio.h>
#include <string.h>

#include "mig.h"

#define SUM_INTRO "You have a checksum error in your migration directory."
#define SUM_OUTRO "Please check your migration files and run 'atlas migrate hash' to re-hash the contents"
#define SUM_HINT "If the change is intended, re-hash the directory with 'atlas migrate hash'."

/* ---------------------------------------------------------------- format (§b.1) */

/*
 * "h1:<total>" then "<name> h1:<hash>" per hashed file, each line ending
 * in LF; appended to out.  MIG_EINVAL before mig_dir_finish.
 */
int
mig_sum_format(const mig_dir *d, mig_buf *out)
{
	size_t		need = 3 + 44 + 1;
	size_t		i;

	if (!d->finished)
		return MIG_EINVAL;
	for (i = 0; i < d->nfiles; i++)
		if (!d->files[i].sum_ignored)
			need += strlen(d->files[i].name) + 5 + 44 + 1;
	if (mig_buf_reserve(out, need) != MIG_OK)
		return MIG_ENOMEM;
	mig_buf_puts(out, "h1:");
	mig_buf_puts(out, d->total);
	mig_buf_putc(out, '\n');
	for (i = 0; i < d->nfiles; i++)
	{
		const mig_file *f = &d->files[i];

		if (f->sum_ignored)
			continue;
		mig_buf_puts(out, f->name);
		mig_buf_puts(out, " h1:");
		mig_buf_puts(out, f->hash);
		mig_buf_putc(out, '\n');
	}
	return out->oom ? MIG_ENOMEM : MIG_OK;
}

/* ---------------------------------------------------------------- parse (§b.5) */

/* Length of a Unicode White_Space rune (Go's unicode.IsSpace) at s, or 0. */
static size_t
space_at(const unsigned char *s, size_t n)
{
	if (n >= 1 && (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')))
		return 1;
	/* U+0085, U+00A0 */
	if (n >= 2 && s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0))
		return 2;
	if (n >= 3)
	{
		/* U+1680 */
		if (s[0] == 0xE1 && s[1] == 0x9A && s[2] == 0x80)
			return 3;
		/* U+2000..U+200A, U+2028, U+2029, U+202F */
		if (s[0] == 0xE2 && s[1] == 0x80 &&
			((s[2] >= 0x80 && s[2] <= 0x8A) ||
			 s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF))
			return 3;
		/* U+205F */
		if (s[0] == 0xE2 && s[1] == 0x81 && s[2] == 0x9F)
			return 3;
		/* U+3000 */
		if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80)
			return 3;
	}
	return 0;
}

/* Length of the White_Space rune that ends at s[n-1], or 0. */
static size_t
space_before(const unsigned char *s, size_t n)
{
	if (n >= 1 && space_at(s + n - 1, 1) == 1)
		return 1;
	if (n >= 2 && space_at(s + n - 2, 2) == 2)
		return 2;
	if (n >= 3 && space_at(s + n - 3, 3) == 3)
		return 3;
	return 0;
}

/* Go's strings.TrimSpace on s[0..*n). */
static const char *
trim_space(const char *s, size_t *n)
{
	size_t		k;

	while ((k = space_at((const unsigned char *) s, *n)) > 0)
	{
		s += k;
		*n -= k;
	}
	while ((k = space_before((const unsigned char *) s, *n)) > 0)
		*n -= k;
	return s;
}

/*
 * The next line of s[0..n) from *pos, as Go's bufio.ScanLines splits it:
 * at LF, one CR before the LF (or before the end) dropped, no empty line
 * after a final LF.
 */
static bool
next_line(const char *s, size_t n, size_t *pos, const char **line, size_t *len)
{
	const char *nl;
	size_t		end;

	if (*pos >= n)
		return false;
	nl = memchr(s + *pos, '\n', n - *pos);
	end = nl ? (size_t) (nl - s) : n;
	*line = s + *pos;
	*len = end - *pos;
	if (*len > 0 && (*line)[*len - 1] == '\r')
		(*len)--;
	*pos = nl ? end + 1 : n;
	return true;
}

/* One "name h1:hash" entry, pointing into the sum text. */
typedef struct sum_entry
{
	const char *name;
	size_t		name_len;
	const char *hash;
	size_t		hash_len;
} sum_entry;

/* Split an entry line at its first "h1:"; false if it has none. */
static bool
split_entry(const char *line, size_t len, sum_entry *e)
{
	size_t		i;

	for (i = 0; i + 3 <= len; i++)
		if (line[i] == 'h' && line[i + 1] == '1' && line[i + 2] == ':')
		{
			e->name_len = i;
			e->name = trim_space(line, &e->name_len);
			e->hash = line + i + 3;
			e->hash_len = len - i - 3;
			return true;
		}
	return false;
}

/* ---------------------------------------------------------------- verify (§b.6) */

/* A checksum error without (Line, File, Reason): Atlas's CLI text. */
static int
sum_error(mig_err *err, const char *msg)
{
	mig_err_set(err, MIG_ECHECKSUM, "%s", msg);
	mig_err_detail(err, "%s\n%s", SUM_INTRO, SUM_OUTRO);
	mig_err_hint(err, "%s", strcmp(msg, "checksum file not found") == 0 ?
				 "Create the checksum file with 'atlas migrate hash'." : SUM_HINT);
	return MIG_ECHECKSUM;
}

/* A "checksum mismatch" with its diagnostic, §b.6 step 4. */
static int
sum_mismatch(mig_err *err, int line, const char *file, size_t file_len,
			 const char *reason)
{
	mig_err_set(err, MIG_ECHECKSUM, "checksum mismatch");
	err->sum_line = line;
	mig_err_copy(err->sum_file, sizeof(err->sum_file), file, file_len);
	snprintf(err->sum_reason, sizeof(err->sum_reason), "%s", reason);
	mig_err_detail(err, "%s\n\n\tL%d: %.*s was %s\n\n%s", SUM_INTRO, line,
				   (int) file_len, file, reason, SUM_OUTRO);
	mig_err_hint(err, "%s", SUM_HINT);
	return MIG_ECHECKSUM;
}

static bool
same_name(const mig_file *f, const char *name, size_t len)
{
	return strlen(f->name) == len && memcmp(f->name, name, len) == 0;
}

/* The i-th hashed (not sum-ignored) file, from *at onwards; NULL if none. */
static const mig_file *
next_hashed(const mig_dir *d, size_t *at)
{
	while (*at < d->nfiles && d->files[*at].sum_ignored)
		(*at)++;
	return *at < d->nfiles ? &d->files[(*at)++] : NULL;
}

/*
 * Walk the parsed entries against the computed ones and report the first
 * difference (§b.6 step 4).  Only runs when the totals differ.
 */
static int
diagnose(const mig_dir *d, const char *sum, size_t n, size_t body, mig_err *err)
{
	size_t		pos = body,
				at = 0,
				i = 0;
	const char *line;
	size_t		len;
	const mig_file *c;

	for (; next_line(sum, n, &pos, &line, &len); i++)
	{
		sum_entry	e;
		size_t		j,
					k = 0;
		long		idx = -1;

		split_entry(line, len, &e);
		c = next_hashed(d, &at);
		if (c && same_name(c, e.name, e.name_len) &&
			e.hash_len == strlen(c->hash) && memcmp(e.hash, c->hash, e.hash_len) == 0)
			continue;
		for (j = 0; j < d->nfiles; j++)
		{
			if (d->files[j].sum_ignored)
				continue;
			if (same_name(&d->files[j], e.name, e.name_len))
			{
				idx = (long) k;
				break;
			}
			k++;
		}
		if (idx < 0)
			return sum_mismatch(err, (int) i + 2, e.name, e.name_len, "removed");
		if ((size_t) idx == i)
			return sum_mismatch(err, (int) i + 2, e.name, e.name_len, "edited");
		if (c == NULL)
		{
			/*
			 * The sum lists more entries than the directory hashes (a
			 * repeated name): Atlas would index past its list here.
			 */
			return sum_mismatch(err, (int) i + 2, e.name, e.name_len, "removed");
		}
		return sum_mismatch(err, (int) i + 2, c->name, strlen(c->name), "added");
	}
	/* every entry matched: the directory has more files */
	if ((c = next_hashed(d, &at)) != NULL)
		return sum_mismatch(err, (int) i + 2, c->name, strlen(c->name), "added");
	return sum_error(err, "checksum mismatch");
}

/*
 * §b.6: no sum is fine only for a directory without migrations; the sum
 * must parse and agree with itself (§b.5), then its total must equal the
 * computed one.  MIG_EINVAL before mig_dir_finish.
 */
int
mig_sum_verify(const mig_dir *d, mig_err *err)
{
	const char *sum = d->sum;
	size_t		n = d->sum_len;
	size_t		pos = 0,
				body;
	const char *line;
	size_t		len;
	const char *declared = "";
	size_t		declared_len = 0;
	char		parsed[MIG_B64_SHA256];
	mig_sha256	h = {NULL};
	int			rc;

	if (!d->finished)
		return mig_err_set(err, MIG_EINVAL,
						   "migration directory is not finished (mig_dir_finish)");
	/* §b.6.1 */
	if (sum == NULL)
		return d->nfiles > 0 ? sum_error(err, "checksum file not found") : MIG_OK;
	/* §b.5: line 1 is the declared total, "h1:" optional */
	if (next_line(sum, n, &pos, &line, &len))
	{
		declared = line;
		declared_len = len;
		if (len >= 3 && memcmp(line, "h1:", 3) == 0)
		{
			declared += 3;
			declared_len -= 3;
		}
	}
	body = pos;
	if (mig_sha256_init(&h) != MIG_OK)
	{
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
		goto done;
	}
	while (next_line(sum, n, &pos, &line, &len))
	{
		sum_entry	e;

		if (!split_entry(line, len, &e))
		{
			rc = sum_error(err, "checksum file format invalid");
			goto done;
		}
		mig_sha256_update(&h, e.name, e.name_len);
		mig_sha256_update(&h, e.hash, e.hash_len);
	}
	if (mig_sha256_peek_b64(&h, parsed) != MIG_OK)
	{
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
		goto done;
	}
	/* §b.5.4: the file must agree with itself */
	if (declared_len != strlen(parsed) || memcmp(declared, parsed, declared_len) != 0)
	{
		rc = sum_error(err, "checksum mismatch");
		goto done;
	}
	/* §b.6.3: equal totals mean equal entry lists */
	if (strcmp(parsed, d->total) == 0)
		rc = MIG_OK;
	else
		rc = diagnose(d, sum, n, body, err);
done:
	mig_sha256_free(&h);
	return rc;
}
