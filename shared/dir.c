/*
 * dir.c - the migration directory in memory: which entries are migrations,
 * their order, versions and descriptions (spec §a), file directives (§e)
 * and the running atlas.sum hashes (§b.2, §b.3).
 *
 * Knows nothing of PostgreSQL or SQLite, nor of where the entries came
 * from: source_file.c (file://) and the Cloud archive reader feed it,
 * sum.c formats and verifies what mig_dir_finish computed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mig.h"

/* Longest quoted name kept in a message (the message is cut anyway). */
#define QUOTE_MAX 1024

/* ---------------------------------------------------------------- helpers */

/* Go %q of s into dst (cut to size); plain quotes when memory is short. */
static const char *
quote(char *dst, size_t size, const char *s, size_t n)
{
	mig_buf		b;

	mig_buf_init(&b);
	if (mig_buf_goquote(&b, s, n) == MIG_OK)
		snprintf(dst, size, "%s", b.data);
	else
		snprintf(dst, size, "\"%.*s\"", (int) n, s);
	mig_buf_free(&b);
	return dst;
}

static bool
has_suffix(const char *s, size_t n, const char *suffix)
{
	size_t		k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Go's regexp \w: ASCII letters, digits and '_'. */
static bool
is_word(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_';
}

/*
 * Length of the Unicode White_Space rune (Go's unicode.IsSpace) that ends
 * at s[n-1], 0 if there is none.  Used to trim header lines like Go's
 * strings.TrimSpace (§e.2).
 */
static size_t
space_before(const unsigned char *s, size_t n)
{
	if (n >= 1 && (s[n - 1] == ' ' || (s[n - 1] >= '\t' && s[n - 1] <= '\r')))
		return 1;
	/* U+0085, U+00A0 */
	if (n >= 2 && s[n - 2] == 0xC2 && (s[n - 1] == 0x85 || s[n - 1] == 0xA0))
		return 2;
	if (n >= 3)
	{
		const unsigned char *p = s + n - 3;

		/* U+1680 */
		if (p[0] == 0xE1 && p[1] == 0x9A && p[2] == 0x80)
			return 3;
		/* U+2000..U+200A, U+2028, U+2029, U+202F */
		if (p[0] == 0xE2 && p[1] == 0x80 &&
			((p[2] >= 0x80 && p[2] <= 0x8A) ||
			 p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF))
			return 3;
		/* U+205F */
		if (p[0] == 0xE2 && p[1] == 0x81 && p[2] == 0x9F)
			return 3;
		/* U+3000 */
		if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
			return 3;
	}
	return 0;
}

/* ---------------------------------------------------------------- directives (§e.1) */

/* One match of the directive pattern. */
typedef struct directive
{
	const char *name;			/* group 2 */
	size_t		name_len;
	const char *arg;			/* group 3, "" when absent */
	size_t		arg_len;
} directive;

/*
 * Match §e.1's ^([ -~]*)atlas:(\w+)(?: +(.+))* at the start of s[0..n),
 * where '.' stops at LF.  The prefix is greedy, so the last "atlas:"
 * followed by a word character inside the leading printable-ASCII run
 * wins.  The argument follows Go's backtracking: all spaces, then the rest
 * of the line; a line ending in two or more spaces after the name leaves a
 * single space as the argument, and one trailing space leaves none.
 */
static bool
match_directive(const char *s, size_t n, directive *out)
{
	const char *nl = memchr(s, '\n', n);
	size_t		eol = nl ? (size_t) (nl - s) : n;
	size_t		lim = 0;
	size_t		i,
				q,
				k;
	bool		found = false;

	while (lim < eol && s[lim] >= ' ' && s[lim] <= '~')
		lim++;
	/* "atlas:" plus one word character must fit in [0, lim) */
	if (lim < 7)
		return false;
	for (i = lim - 7;; i--)
	{
		if (s[i] == 'a' && memcmp(s + i, "atlas:", 6) == 0 &&
			is_word((unsigned char) s[i + 6]))
		{
			found = true;
			break;
		}
		if (i == 0)
			break;
	}
	if (!found)
		return false;
	q = i + 6;
	out->name = s + q;
	while (q < eol && is_word((unsigned char) s[q]))
		q++;
	out->name_len = (size_t) (s + q - out->name);
	out->arg = s + q;
	out->arg_len = 0;
	for (k = 0; q + k < eol && s[q + k] == ' '; k++)
		;
	if (k > 0 && q + k < eol)
	{
		out->arg = s + q + k;
		out->arg_len = eol - (q + k);
	}
	else if (k > 1)
	{
		/* only spaces follow: " +" gives one back to ".+" */
		out->arg = s + eol - 1;
		out->arg_len = 1;
	}
	return true;
}

static bool
directive_is(const directive *d, const char *name)
{
	size_t		k = strlen(name);

	return d->name_len == k && memcmp(d->name, name, k) == 0;
}

/*
 * §e.2: the length of the file-header block, through the LF of its last
 * comment line, or 0 when the file has no file directives.  The block is
 * the run of lines starting with '#' or "--" at byte 0; it counts only if a
 * blank line (spaces and tabs allowed, then LF) or nothing at all follows.
 * So a CRLF file whose block is followed by statements has none, and a
 * comments-only file without a final LF has none.
 */
static size_t
header_len(const char *s, size_t n)
{
	size_t		pos = 0;
	size_t		p;

	while (pos < n && (s[pos] == '#' ||
					   (s[pos] == '-' && pos + 1 < n && s[pos + 1] == '-')))
	{
		const char *nl = memchr(s + pos, '\n', n - pos);

		if (nl == NULL)
			return 0;
		pos = (size_t) (nl - s) + 1;
	}
	if (pos == 0 || pos == n)
		return pos;
	for (p = pos; p < n && (s[p] == ' ' || s[p] == '\t'); p++)
		;
	return p < n && s[p] == '\n' ? pos : 0;
}

/*
 * Next header line of s[0..hlen) from *pos, trimmed of surrounding
 * whitespace, matched against §e.1.  Returns false at the end of the block;
 * *matched tells whether the line is a directive.
 */
static bool
header_next(const char *s, size_t hlen, size_t *pos, directive *d, bool *matched)
{
	const char *line;
	const char *nl;
	size_t		len;
	size_t		k;

	if (*pos >= hlen)
		return false;
	line = s + *pos;
	nl = memchr(line, '\n', hlen - *pos);
	len = nl ? (size_t) (nl - line) : hlen - *pos;
	*pos += len + 1;
	/* lines start with '#' or '-': only trailing whitespace to trim */
	while ((k = space_before((const unsigned char *) line, len)) > 0)
		len -= k;
	*matched = match_directive(line, len, d);
	return true;
}

/* ---------------------------------------------------------------- files */

/* §e.2: does the file header hold the directive `atlas:<name>`? */
bool
mig_file_has_directive(const mig_file *f, const char *name)
{
	size_t		hlen,
				pos = 0;
	directive	d;
	bool		matched;

	if (f == NULL || f->data == NULL || name == NULL)
		return false;
	hlen = header_len(f->data, f->len);
	while (header_next(f->data, hlen, &pos, &d, &matched))
		if (matched && directive_is(&d, name))
			return true;
	return false;
}

/* §e.2 txmode rules: none/file, "all" refused, unknown, several. */
int
mig_file_txmode(const mig_file *f, mig_txmode *mode, mig_err *err)
{
	const char *fname = f && f->name ? f->name : "";
	size_t		hlen,
				pos = 0;
	directive	d,
				first = {NULL, 0, NULL, 0};
	bool		matched;
	int			count = 0;
	mig_buf		msg;
	int			rc = MIG_OK;

	*mode = MIG_TX_UNSET;
	if (f == NULL || f->data == NULL)
		return MIG_OK;
	mig_buf_init(&msg);
	hlen = header_len(f->data, f->len);
	while (header_next(f->data, hlen, &pos, &d, &matched))
	{
		if (!matched || !directive_is(&d, "txmode"))
			continue;
		if (count++ == 0)
			first = d;
	}
	if (count == 0)
		goto done;
	if (count > 1)
	{
		bool		sep = false;

		/* multiple txmode values found in file "<f>": ["none" "file"] */
		mig_buf_puts(&msg, "multiple txmode values found in file ");
		mig_buf_goquote(&msg, fname, strlen(fname));
		mig_buf_puts(&msg, ": [");
		pos = 0;
		while (header_next(f->data, hlen, &pos, &d, &matched))
		{
			if (!matched || !directive_is(&d, "txmode"))
				continue;
			if (sep)
				mig_buf_putc(&msg, ' ');
			mig_buf_goquote(&msg, d.arg, d.arg_len);
			sep = true;
		}
		mig_buf_putc(&msg, ']');
	}
	else if (first.arg_len == 4 && memcmp(first.arg, "none", 4) == 0)
		*mode = MIG_TX_NONE;
	else if (first.arg_len == 4 && memcmp(first.arg, "file", 4) == 0)
		*mode = MIG_TX_FILE;
	else if (first.arg_len == 3 && memcmp(first.arg, "all", 3) == 0)
	{
		mig_buf_puts(&msg, "txmode \"all\" is not allowed in file directive ");
		mig_buf_goquote(&msg, fname, strlen(fname));
		mig_buf_puts(&msg, ". Use \"file\" instead");
	}
	else
	{
		mig_buf_puts(&msg, "unknown txmode ");
		mig_buf_goquote(&msg, first.arg, first.arg_len);
		mig_buf_puts(&msg, " found in file directive ");
		mig_buf_goquote(&msg, fname, strlen(fname));
	}
	if (msg.oom)
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
	else if (msg.len > 0)
		rc = mig_err_set(err, MIG_EINVAL, "%s", msg.data);
done:
	mig_buf_free(&msg);
	return rc;
}

/*
 * §b.2: the file is sum-ignored when its first line is the directive
 * `atlas:sum ignore` with any printable-ASCII prefix and the argument
 * exactly "ignore" (so a CRLF first line, "ignore\r", is not).
 */
static bool
is_sum_ignored(const char *s, size_t n)
{
	directive	d;

	return match_directive(s, n, &d) && directive_is(&d, "sum") &&
		d.arg_len == 6 && memcmp(d.arg, "ignore", 6) == 0;
}

/*
 * §a.3: version = the name less one trailing ".sql", up to the first '_';
 * description = after the first '_' of the full name, less one trailing
 * ".sql", or "" when there is no '_'.
 */
int
mig_file_version_desc(const char *name, char **version, char **desc)
{
	size_t		n = strlen(name);
	size_t		stem = has_suffix(name, n, ".sql") ? n - 4 : n;
	const char *us = memchr(name, '_', n);

	*version = NULL;
	*desc = NULL;
	if (us == NULL)
	{
		*version = mig_strndup(name, stem);
		*desc = mig_strdup("");
	}
	else
	{
		size_t		at = (size_t) (us - name);
		const char *rest = us + 1;
		size_t		rn = n - at - 1;

		*version = mig_strndup(name, at < stem ? at : stem);
		*desc = mig_strndup(rest, has_suffix(rest, rn, ".sql") ? rn - 4 : rn);
	}
	if (*version == NULL || *desc == NULL)
	{
		mig_free(*version);
		mig_free(*desc);
		*version = NULL;
		*desc = NULL;
		return MIG_ENOMEM;
	}
	return MIG_OK;
}

/*
 * A NUL byte ends the statement text for both hosts (SQLite reads SQL up to
 * the first NUL, PostgreSQL takes C strings): the rest of the statement
 * would be dropped silently and the file recorded as applied.  Refused with
 * the byte's offset, line and column (both 1-based, the column in bytes).
 */
int
mig_file_check_nul(const mig_file *f, mig_err *err)
{
	const char *nul;
	const char *p;
	size_t		off,
				line = 1,
				col;
	const char *bol;
	char		q[QUOTE_MAX];
	int			rc;

	if (f == NULL || f->data == NULL || (nul = memchr(f->data, '\0', f->len)) == NULL)
		return MIG_OK;
	off = (size_t) (nul - f->data);
	bol = f->data;
	for (p = f->data; p < nul; p++)
		if (*p == '\n')
		{
			line++;
			bol = p + 1;
		}
	col = (size_t) (nul - bol) + 1;
	rc = mig_err_set(err, MIG_ESCAN,
					 "migration file %s holds a NUL byte at byte offset %zu (line %zu, column %zu)",
					 quote(q, sizeof(q), f->name, strlen(f->name)), off, line, col);
	mig_err_detail(err, "The database reads SQL text only up to a NUL byte: the rest of the statement would be dropped silently.");
	mig_err_hint(err, "Remove the byte; a file saved as UTF-16 is full of them, save it as UTF-8.");
	return rc;
}

/* Version order, then name order (the files' order in the directory). */
static int
cmp_version_ptr(const void *a, const void *b)
{
	const mig_file *fa = *(const mig_file *const *) a;
	const mig_file *fb = *(const mig_file *const *) b;
	int			c = strcmp(fa->version, fb->version);

	return c != 0 ? c : (fa < fb ? -1 : fa > fb);
}

/*
 * Deliberate difference from Atlas (§a.3: "Versions should be unique, but
 * Atlas does not check this"): files sharing a version would share one
 * revisions row, so the second runs under the first's row and resuming
 * goes wrong; a file with an empty version ("_x.sql", ".sql") has no
 * usable row at all.  Both are refused, naming the files.  Not part of
 * mig_dir_finish: atlas.sum is computed and verified for such directories
 * exactly as Atlas does (its own fixture sql/migrate/testdata/migrate has
 * two files of version 1).
 */
int
mig_dir_check_versions(const mig_dir *d, mig_err *err)
{
	const mig_file **v = NULL;
	size_t		i,
				j;
	char		q[QUOTE_MAX];
	mig_buf		b;
	int			rc = MIG_OK;

	for (i = 0; i < d->nfiles; i++)
		if (d->files[i].version == NULL || d->files[i].version[0] == '\0')
		{
			rc = mig_err_set(err, MIG_EINVAL, "migration file %s has an empty version",
							 quote(q, sizeof(q), d->files[i].name, strlen(d->files[i].name)));
			mig_err_detail(err, "The version is the part of the name before the first \"_\", less \".sql\"; it keys the file's row in the revisions table.");
			mig_err_hint(err, "Rename the file to start with its version, e.g. \"20240101000000_create_users.sql\".");
			return rc;
		}
	if (d->nfiles < 2)
		return MIG_OK;
	if ((v = mig_alloc(d->nfiles * sizeof(*v))) == NULL)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	for (i = 0; i < d->nfiles; i++)
		v[i] = &d->files[i];
	qsort(v, d->nfiles, sizeof(*v), cmp_version_ptr);
	mig_buf_init(&b);
	for (i = 0; i + 1 < d->nfiles; i = j)
	{
		for (j = i + 1; j < d->nfiles && strcmp(v[i]->version, v[j]->version) == 0; j++)
			;
		if (j - i < 2)
			continue;
		/* migration files "1_a.sql" and "1_b.sql" have the same version "1" */
		mig_buf_puts(&b, "migration files ");
		for (; i < j; i++)
		{
			mig_buf_goquote(&b, v[i]->name, strlen(v[i]->name));
			if (i + 2 < j)
				mig_buf_puts(&b, ", ");
			else if (i + 2 == j)
				mig_buf_puts(&b, " and ");
		}
		mig_buf_puts(&b, " have the same version ");
		mig_buf_goquote(&b, v[j - 1]->version, strlen(v[j - 1]->version));
		if (b.oom)
			rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
		else
		{
			rc = mig_err_set(err, MIG_EINVAL, "%s", b.data);
			mig_err_detail(err, "Files with the same version would share one row of the revisions table (the version is its key), so neither could be tracked.");
			mig_err_hint(err, "Give each file its own version: the part of the name before the first \"_\".");
		}
		break;
	}
	mig_buf_free(&b);
	mig_free(v);
	return rc;
}

/* ---------------------------------------------------------------- the directory */

/* An empty directory: no files, no atlas.sum. */
void
mig_dir_init(mig_dir *d)
{
	memset(d, 0, sizeof(*d));
}

static void
file_free(mig_file *f)
{
	mig_free(f->name);
	mig_free(f->version);
	mig_free(f->desc);
	mig_free(f->data);
	memset(f, 0, sizeof(*f));
}

/* Free every file and the sum; d is empty (initialised) afterwards. */
void
mig_dir_free(mig_dir *d)
{
	size_t		i;

	if (d == NULL)
		return;
	for (i = 0; i < d->nfiles; i++)
		file_free(&d->files[i]);
	mig_free(d->files);
	mig_free(d->sum);
	mig_dir_init(d);
}

/*
 * DESIGN §6.13: an entry name with '/', "..", a NUL byte, or a leading
 * '/' is refused (the whole Cloud archive is then rejected by its reader).
 */
static int
check_name(const char *name, size_t n, mig_err *err)
{
	const char *why = NULL;
	char		q[QUOTE_MAX];

	if (n > 0 && name[0] == '/')
		why = "absolute paths are not allowed";
	else if (memchr(name, '\0', n) != NULL)
		why = "names must not contain NUL bytes";
	else if (memchr(name, '/', n) != NULL)
		why = "names must not contain \"/\"";
	else
	{
		size_t		i;

		for (i = 0; i + 1 < n; i++)
			if (name[i] == '.' && name[i + 1] == '.')
			{
				why = "names must not contain \"..\"";
				break;
			}
	}
	if (why == NULL)
		return MIG_OK;
	return mig_err_set(err, MIG_EINVAL, "invalid migration directory entry %s: %s",
					   quote(q, sizeof(q), name, n), why);
}

/*
 * Add one entry (§a.1 in-memory rule): "atlas.sum" is the sum, a name
 * ending in ".sql" a migration, anything else is dropped.  Duplicates are
 * resolved by mig_dir_finish (the later entry wins, §c.3), so adding stays
 * O(1) however many entries an archive holds.
 */
int
mig_dir_add_n(mig_dir *d, const char *name, size_t name_len,
			  const char *data, size_t len, mig_err *err)
{
	char	   *nm = NULL;
	char	   *copy = NULL;
	mig_file   *f;
	int			rc;

	if ((rc = check_name(name, name_len, err)) != MIG_OK)
		return rc;
	if (name_len == 9 && memcmp(name, "atlas.sum", 9) == 0)
	{
		if ((copy = mig_alloc(len + 1)) == NULL)
			return mig_err_set(err, MIG_ENOMEM, "out of memory");
		if (len)
			memcpy(copy, data, len);
		copy[len] = '\0';
		mig_free(d->sum);
		d->sum = copy;
		d->sum_len = len;
		d->finished = false;
		return MIG_OK;
	}
	/* §a.1 in-memory rule: the extension is exactly ".sql" */
	if (!has_suffix(name, name_len, ".sql"))
		return MIG_OK;
	if (d->nfiles == d->cap)
	{
		size_t		cap = d->cap ? d->cap * 2 : 16;
		mig_file   *nf;

		if (cap > SIZE_MAX / sizeof(mig_file) ||
			(nf = mig_realloc(d->files, cap * sizeof(mig_file))) == NULL)
			return mig_err_set(err, MIG_ENOMEM, "out of memory");
		d->files = nf;
		d->cap = cap;
	}
	nm = mig_strndup(name, name_len);
	copy = mig_alloc(len + 1);
	if (nm == NULL || copy == NULL)
	{
		mig_free(nm);
		mig_free(copy);
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	}
	if (len)
		memcpy(copy, data, len);
	copy[len] = '\0';
	f = &d->files[d->nfiles++];
	memset(f, 0, sizeof(*f));
	f->name = nm;
	f->data = copy;
	f->len = len;
	d->finished = false;
	return MIG_OK;
}

/* mig_dir_add_n for a NUL-terminated name. */
int
mig_dir_add(mig_dir *d, const char *name, const char *data, size_t len,
			mig_err *err)
{
	return mig_dir_add_n(d, name, strlen(name), data, len, err);
}

/* Bytewise name order (§a.2); equal names keep the order they were added. */
static int
cmp_file_ptr(const void *a, const void *b)
{
	const mig_file *fa = *(const mig_file *const *) a;
	const mig_file *fb = *(const mig_file *const *) b;
	int			c = strcmp(fa->name, fb->name);

	if (c != 0)
		return c;
	return fa < fb ? -1 : fa > fb;
}

/*
 * Sort the files by name and keep only the last entry of each name
 * (§c.3).  O(n log n); an already sorted, duplicate-free list (a local
 * directory) costs one pass and no memory.
 */
static int
sort_files(mig_dir *d, mig_err *err)
{
	mig_file  **ptrs = NULL;
	mig_file   *sorted = NULL;
	size_t		i,
				j = 0;

	for (i = 1; i < d->nfiles; i++)
		if (strcmp(d->files[i - 1].name, d->files[i].name) >= 0)
			break;
	if (i >= d->nfiles)
		return MIG_OK;
	ptrs = mig_alloc(d->nfiles * sizeof(*ptrs));
	sorted = mig_alloc(d->nfiles * sizeof(*sorted));
	if (ptrs == NULL || sorted == NULL)
	{
		mig_free(ptrs);
		mig_free(sorted);
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	}
	for (i = 0; i < d->nfiles; i++)
		ptrs[i] = &d->files[i];
	qsort(ptrs, d->nfiles, sizeof(*ptrs), cmp_file_ptr);
	for (i = 0; i < d->nfiles; i++)
	{
		if (i + 1 < d->nfiles && strcmp(ptrs[i]->name, ptrs[i + 1]->name) == 0)
			file_free(ptrs[i]);	/* replaced by a later entry */
		else
			sorted[j++] = *ptrs[i];
	}
	mig_free(ptrs);
	mig_free(d->files);
	d->files = sorted;
	d->nfiles = j;
	d->cap = d->nfiles ? d->nfiles : 1;
	return MIG_OK;
}

/*
 * §a.2-§a.4, §b.2, §b.3.  One SHA-256 state runs over the whole directory:
 * each file feeds its name, then (unless sum-ignored) its content, and the
 * file's hash is the digest of a copy of the state.  The total hashes each
 * hashed file's name followed by its 44-character hash.
 */
int
mig_dir_finish(mig_dir *d, mig_err *err)
{
	mig_sha256	run = {NULL};
	mig_sha256	total = {NULL};
	size_t		i;
	int			rc;

	d->finished = false;
	d->total[0] = '\0';
	if ((rc = sort_files(d, err)) != MIG_OK)
		return rc;
	for (i = 0; i < d->nfiles; i++)
	{
		mig_file   *f = &d->files[i];

		mig_free(f->version);
		mig_free(f->desc);
		f->version = f->desc = NULL;
		if (mig_file_version_desc(f->name, &f->version, &f->desc) != MIG_OK)
			return mig_err_set(err, MIG_ENOMEM, "out of memory");
		f->sum_ignored = is_sum_ignored(f->data, f->len);
		f->checkpoint = mig_file_has_directive(f, "checkpoint");
		f->hash[0] = '\0';
	}
	if (mig_sha256_init(&run) != MIG_OK || mig_sha256_init(&total) != MIG_OK)
	{
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < d->nfiles; i++)
	{
		mig_file   *f = &d->files[i];

		mig_sha256_update(&run, f->name, strlen(f->name));
		if (f->sum_ignored)
			continue;
		mig_sha256_update(&run, f->data, f->len);
		if (mig_sha256_peek_b64(&run, f->hash) != MIG_OK)
		{
			rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
			goto done;
		}
		mig_sha256_update(&total, f->name, strlen(f->name));
		mig_sha256_update(&total, f->hash, strlen(f->hash));
	}
	if (mig_sha256_peek_b64(&total, d->total) != MIG_OK)
	{
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
		goto done;
	}
	d->finished = true;
	rc = MIG_OK;
done:
	mig_sha256_free(&run);
	mig_sha256_free(&total);
	return rc;
}
