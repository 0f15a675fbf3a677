/*
 * archive.c - the Cloud directory archive (§c): an uncompressed tar stream
 * holding atlas.sum and the migration files.
 *
 * The reader takes any tar a server may send (USTAR, PAX, GNU, V7) but only
 * stores bare file names; the writer produces exactly the layout of Atlas's
 * archiver (§c.2), for the tests and the stand-in's round-trip check.
 * Knows nothing of PostgreSQL, SQLite or HTTP.  Input is untrusted: every
 * length is checked against what is left before it is used.
 */
#include <stdio.h>
#include <string.h>

#include "cloud.h"

#define BLOCK 512

/* Header field offsets and sizes (§c.2 table). */
#define H_NAME 0
#define H_NAME_LEN 100
#define H_MODE 100
#define H_UID 108
#define H_GID 116
#define H_SIZE 124
#define H_SIZE_LEN 12
#define H_MTIME 136
#define H_CHKSUM 148
#define H_CHKSUM_LEN 8
#define H_TYPE 156
#define H_MAGIC 257
#define H_VERSION 263
#define H_DEVMAJOR 329
#define H_DEVMINOR 337
#define H_PREFIX 345
#define H_PREFIX_LEN 155

/* PAX and GNU long-name bodies are metadata: keep them small (as Go does). */
#define MAX_META ((size_t) 1 << 20)
/* Longest entry name accepted. */
#define MAX_NAME 4096

/* ---------------------------------------------------------------- reading */

/* Set a "bad archive" error; entry names are quoted (they are untrusted). */
static int
bad(mig_err *err, size_t off, const char *what)
{
	return mig_err_set(err, MIG_EINVAL, "bad archive: %s (at byte %zu)", what, off);
}

/* An error that names an entry, Go-quoted so control bytes stay visible. */
static int
bad_name(mig_err *err, const char *name, size_t n, const char *what)
{
	mig_buf		q;
	int			rc;

	mig_buf_init(&q);
	mig_buf_goquote(&q, name, n > 200 ? 200 : n);
	rc = mig_err_set(err, MIG_EINVAL, "bad archive: entry %s%s: %s",
					 q.oom ? "\"?\"" : q.data, n > 200 ? "..." : "", what);
	mig_buf_free(&q);
	return rc;
}

static bool
all_zero(const unsigned char *b, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Length of a NUL-terminated field of at most n bytes. */
static size_t
field_len(const unsigned char *f, size_t n)
{
	const unsigned char *z = memchr(f, 0, n);

	return z ? (size_t) (z - f) : n;
}

/*
 * A numeric header field: octal text, padded with spaces or NULs on either
 * side, or GNU base-256 when the high bit of the first byte is set.
 * Negative or overflowing values are refused.
 */
static bool
parse_number(const unsigned char *f, size_t n, uint64_t *out)
{
	uint64_t	v = 0;
	size_t		i,
				e;

	if (n > 0 && (f[0] & 0x80))
	{
		if (f[0] & 0x40)
			return false;		/* negative */
		for (i = 0; i < n; i++)
		{
			unsigned char c = i == 0 ? (unsigned char) (f[0] & 0x7f) : f[i];

			if (v >> 56)
				return false;
			v = v << 8 | c;
		}
		*out = v;
		return true;
	}
	i = 0;
	e = n;
	while (i < e && (f[i] == ' ' || f[i] == '\0'))
		i++;
	while (e > i && (f[e - 1] == ' ' || f[e - 1] == '\0'))
		e--;
	for (; i < e; i++)
	{
		if (f[i] < '0' || f[i] > '7')
			return false;
		if (v >> 61)
			return false;
		v = v << 3 | (uint64_t) (f[i] - '0');
	}
	*out = v;
	return true;
}

/* The stored checksum equals the unsigned (or, as Go accepts, signed) sum. */
static bool
checksum_ok(const unsigned char *h)
{
	uint64_t	want;
	uint64_t	usum = 0;
	int64_t		ssum = 0;
	size_t		i;

	if (!parse_number(h + H_CHKSUM, H_CHKSUM_LEN, &want))
		return false;
	for (i = 0; i < BLOCK; i++)
	{
		unsigned char c = (i >= H_CHKSUM && i < H_CHKSUM + H_CHKSUM_LEN) ? ' ' : h[i];

		usum += c;
		ssum += (signed char) c;
	}
	return want == usum || (int64_t) want == ssum;
}

/* Header-only types carry no data blocks whatever their size field says. */
static bool
header_only(unsigned char type)
{
	return type == '1' || type == '2' || type == '3' || type == '4' ||
		type == '5' || type == '6';
}

/* Pending metadata for the next entry (PAX `x`, GNU `L`). */
typedef struct meta {
	char	   *name;			/* mig_alloc'd, NULL = none */
	size_t		name_len;
	bool		has_size;
	uint64_t	size;
} meta;

static void
meta_clear(meta *m)
{
	mig_free(m->name);
	memset(m, 0, sizeof(*m));
}

static int
meta_set_name(meta *m, const char *s, size_t n, size_t off, mig_err *err)
{
	char	   *p;

	if (n > MAX_NAME)
		return bad(err, off, "entry name too long");
	if ((p = mig_strndup(s, n)) == NULL)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	mig_free(m->name);
	m->name = p;
	m->name_len = n;
	return MIG_OK;
}

/*
 * PAX records "<len> <key>=<value>\n" (len counts the whole record).  Only
 * path and size matter; a path holding NUL is refused (as Go does).
 */
static int
parse_pax(const unsigned char *b, size_t n, size_t off, meta *m, mig_err *err)
{
	size_t		i = 0;

	while (i < n)
	{
		size_t		len = 0,
					j = i,
					eq,
					kend;
		const char *key,
				   *val;
		size_t		klen,
					vlen;

		while (j < n && b[j] >= '0' && b[j] <= '9')
		{
			if (len > MAX_META)
				return bad(err, off, "malformed PAX record");
			len = len * 10 + (size_t) (b[j] - '0');
			j++;
		}
		if (j == i || j >= n || b[j] != ' ' || len < (j - i) + 3 || len > n - i ||
			b[i + len - 1] != '\n')
			return bad(err, off, "malformed PAX record");
		kend = i + len - 1;		/* the newline */
		j++;
		for (eq = j; eq < kend && b[eq] != '='; eq++)
			;
		if (eq == j || eq >= kend)
			return bad(err, off, "malformed PAX record");
		key = (const char *) b + j;
		klen = eq - j;
		val = (const char *) b + eq + 1;
		vlen = kend - eq - 1;
		if (klen == 4 && memcmp(key, "path", 4) == 0)
		{
			int			rc;

			if (memchr(val, 0, vlen) != NULL)
				return bad_name(err, val, vlen, "name contains a NUL byte");
			if ((rc = meta_set_name(m, val, vlen, off, err)) != MIG_OK)
				return rc;
		}
		else if (klen == 4 && memcmp(key, "size", 4) == 0)
		{
			uint64_t	v = 0;
			size_t		k;

			if (vlen == 0 || vlen > 19)
				return bad(err, off, "malformed PAX size");
			for (k = 0; k < vlen; k++)
			{
				if (val[k] < '0' || val[k] > '9')
					return bad(err, off, "malformed PAX size");
				v = v * 10 + (uint64_t) (val[k] - '0');
			}
			m->has_size = true;
			m->size = v;
		}
		i += len;
	}
	return MIG_OK;
}

/*
 * DESIGN §6.13: a stored entry must be a bare file name.  Anything else
 * rejects the whole archive; nothing from it may run.
 */
static int
check_name(const char *name, size_t n, mig_err *err)
{
	size_t		i;

	if (n == 0)
		return bad_name(err, name, n, "empty name");
	if (memchr(name, 0, n) != NULL)
		return bad_name(err, name, n, "name contains a NUL byte");
	if (name[0] == '/')
		return bad_name(err, name, n, "absolute path; only bare file names are allowed");
	if (memchr(name, '/', n) != NULL)
		return bad_name(err, name, n, "name contains '/'; only bare file names are allowed");
	if (n == 1 && name[0] == '.')
		return bad_name(err, name, n, "not a file name");
	for (i = 0; i + 1 < n; i++)
		if (name[i] == '.' && name[i + 1] == '.')
			return bad_name(err, name, n, "name contains \"..\"; only bare file names are allowed");
	return MIG_OK;
}

/*
 * The header block at off: its type and the size of its body and padding,
 * all checked against what is left of the archive.  *end: the zero block
 * that ends the archive (§c.3).  A pending PAX size replaces the header's.
 */
static int
read_header(const unsigned char *tar, size_t len, size_t off, const meta *m, bool *end,
			unsigned char *type, size_t *body, size_t *pad, mig_err *err)
{
	const unsigned char *h = tar + off;
	uint64_t	size;

	*end = false;
	if (len - off < BLOCK)
		return bad(err, off, "truncated header");
	if (all_zero(h, BLOCK))
	{
		*end = true;
		return MIG_OK;
	}
	if (!checksum_ok(h))
		return bad(err, off, "invalid header checksum");
	*type = h[H_TYPE];
	if (!parse_number(h + H_SIZE, H_SIZE_LEN, &size))
		return bad(err, off, "invalid size field");
	if (*type != 'x' && *type != 'g' && *type != 'L' && *type != 'K' && m->has_size)
		size = m->size;
	if (header_only(*type))
		size = 0;
	if (size > len - off - BLOCK)
		return bad(err, off, "truncated entry");
	*body = (size_t) size;
	*pad = (BLOCK - *body % BLOCK) % BLOCK;
	if (*pad > len - off - BLOCK - *body)
		return bad(err, off, "truncated entry padding");
	return MIG_OK;
}

/*
 * An entry's name: from a preceding PAX or GNU long-name header, else from
 * the header's prefix and name fields (built in hname, which has room for
 * H_PREFIX_LEN + 1 + H_NAME_LEN + 1 bytes).  A directory's trailing slashes
 * are not part of its name.
 */
static const char *
entry_name(const unsigned char *h, unsigned char type, const meta *m, char *hname, size_t *nlen)
{
	const char *name = m->name;
	size_t		n = m->name_len;

	if (name == NULL)
	{
		size_t		plen = 0;

		/* USTAR/PAX ("ustar\0" "00") have a prefix; GNU does not. */
		if (memcmp(h + H_MAGIC, "ustar\0", 6) == 0)
			plen = field_len(h + H_PREFIX, H_PREFIX_LEN);
		n = 0;
		if (plen)
		{
			memcpy(hname, h + H_PREFIX, plen);
			hname[plen] = '/';
			n = plen + 1;
		}
		memcpy(hname + n, h + H_NAME, field_len(h + H_NAME, H_NAME_LEN));
		n += field_len(h + H_NAME, H_NAME_LEN);
		hname[n] = '\0';
		name = hname;
	}
	if (type == '5')
		while (n > 1 && name[n - 1] == '/')
			n--;
	*nlen = n;
	return name;
}

/* A regular file into out, within the per-entry and total size limits (*total: bytes so far). */
static int
store_file(mig_dir *out, const char *name, size_t nlen, const unsigned char *data, size_t body,
		   size_t max_entry, size_t *total, size_t off, mig_err *err)
{
	int			rc;

	if (body > max_entry)
	{
		char		what[128];

		snprintf(what, sizeof(what), "too large (%zu bytes, the limit is %zu)", body, max_entry);
		return bad_name(err, name, nlen, what);
	}
	if (body > MIG_ARCHIVE_MAX_TOTAL - *total)
		return bad(err, off, "archive content exceeds the total size limit");
	*total += body;
	if ((rc = mig_dir_add_n(out, name, nlen, (const char *) data, body, err)) != MIG_OK &&
		rc != MIG_ENOMEM)
		mig_err_prefix(err, "bad archive: ");
	return rc;
}

int
mig_archive_read(const unsigned char *tar, size_t len, size_t max_entry,
				 mig_dir *out, mig_err *err)
{
	size_t		off = 0,
				total = 0;
	meta		m;
	int			rc = MIG_OK;

	memset(&m, 0, sizeof(m));
	if (max_entry == 0)
		max_entry = MIG_ARCHIVE_MAX_ENTRY;
	if (tar == NULL)
		len = 0;

	while (off < len)
	{
		const unsigned char *data;
		unsigned char type = 0;
		size_t		body = 0,
					pad = 0;
		bool		end;

		if ((rc = read_header(tar, len, off, &m, &end, &type, &body, &pad, err)) != MIG_OK)
			goto done;
		if (end)
			break;
		data = tar + off + BLOCK;
		if (type == 'x' || type == 'L')
		{
			if (body > MAX_META)
			{
				rc = bad(err, off, "extended header too large");
				goto done;
			}
			if (type == 'x')
				rc = parse_pax(data, body, off, &m, err);
			else
				rc = meta_set_name(&m, (const char *) data, field_len(data, body), off, err);
			if (rc != MIG_OK)
				goto done;
		}
		else if (type != 'g' && type != 'K')	/* global PAX header, GNU long link name: not needed */
		{
			/* An entry: a file (stored) or anything else (skipped). */
			char		hname[H_PREFIX_LEN + 1 + H_NAME_LEN + 1];
			size_t		nlen;
			const char *name = entry_name(tar + off, type, &m, hname, &nlen);

			if ((rc = check_name(name, nlen, err)) != MIG_OK)
				goto done;
			if ((type == '0' || type == '\0' || type == '7') &&
				(rc = store_file(out, name, nlen, data, body, max_entry, &total, off, err)) != MIG_OK)
				goto done;
			meta_clear(&m);
		}
		off += BLOCK + body + pad;
	}
	if (m.name || m.has_size)
	{
		rc = bad(err, off, "archive ends after an extended header");
		goto done;
	}
	rc = mig_dir_finish(out, err);

done:
	meta_clear(&m);
	return rc;
}

/* ---------------------------------------------------------------- writing */

/* Octal field of width n: n-1 zero-padded digits and a NUL (Go's formatOctal). */
static void
put_octal(unsigned char *f, size_t n, uint64_t v)
{
	size_t		i;

	f[n - 1] = '\0';
	for (i = n - 1; i > 0; i--)
	{
		f[i - 1] = (unsigned char) ('0' + (v & 7));
		v >>= 3;
	}
}

/* Go's toASCII: drop every non-ASCII byte. */
static size_t
ascii_copy(unsigned char *dst, size_t cap, const char *s, size_t n)
{
	size_t		i,
				o = 0;

	for (i = 0; i < n && o < cap; i++)
		if ((unsigned char) s[i] < 0x80)
			dst[o++] = (unsigned char) s[i];
	return o;
}

/*
 * One header block; name is cut to 100 ASCII bytes as Go's writer does.  A
 * PAX header (raw) leaves the device fields empty, as Go's writeRawFile.
 */
static int
put_header(mig_buf *out, const char *name, size_t nlen, uint64_t size, unsigned mode,
		   char type, bool raw)
{
	unsigned char h[BLOCK];
	unsigned	sum = 0;
	size_t		i;

	memset(h, 0, sizeof(h));
	ascii_copy(h + H_NAME, H_NAME_LEN, name, nlen);
	put_octal(h + H_MODE, 8, mode);
	put_octal(h + H_UID, 8, 0);
	put_octal(h + H_GID, 8, 0);
	put_octal(h + H_SIZE, H_SIZE_LEN, size);
	put_octal(h + H_MTIME, 12, 0);
	h[H_TYPE] = (unsigned char) type;
	memcpy(h + H_MAGIC, "ustar\0", 6);
	memcpy(h + H_VERSION, "00", 2);
	if (!raw)
	{
		put_octal(h + H_DEVMAJOR, 8, 0);
		put_octal(h + H_DEVMINOR, 8, 0);
	}
	memset(h + H_CHKSUM, ' ', H_CHKSUM_LEN);
	for (i = 0; i < BLOCK; i++)
		sum += h[i];
	/* 6 octal digits, NUL, space (§c.2) */
	put_octal(h + H_CHKSUM, 7, sum);
	h[H_CHKSUM + 7] = ' ';
	return mig_buf_append(out, (const char *) h, BLOCK);
}

static int
put_data(mig_buf *out, const char *data, size_t n)
{
	static const char zeros[BLOCK];

	if (n && mig_buf_append(out, data, n) != MIG_OK)
		return MIG_ENOMEM;
	return mig_buf_append(out, zeros, (BLOCK - n % BLOCK) % BLOCK);
}

static bool
is_ascii(const char *s, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if ((unsigned char) s[i] >= 0x80)
			return false;
	return true;
}

/* Decimal digits of v. */
static size_t
digits(size_t v)
{
	size_t		d = 1;

	while (v >= 10)
	{
		v /= 10;
		d++;
	}
	return d;
}

/*
 * One file entry.  Names Go cannot store in USTAR (over 100 bytes or not
 * ASCII; a bare name has no '/' to split at) get a PAX `x` header first,
 * named "PaxHeaders.0/<name>", mode 0, holding one `path` record.
 */
static int
put_entry(mig_buf *out, const char *name, const char *data, size_t n)
{
	size_t		nlen = strlen(name);

	if (nlen > H_NAME_LEN || !is_ascii(name, nlen))
	{
		mig_buf		rec,
					pname;
		size_t		body = strlen(" path=") + nlen + 1,
					total = body + digits(body);
		int			rc;

		/* The length prefix counts itself. */
		while (digits(total) + body != total)
			total = digits(total) + body;
		mig_buf_init(&rec);
		mig_buf_init(&pname);
		mig_buf_printf(&rec, "%zu path=", total);
		mig_buf_append(&rec, name, nlen);
		mig_buf_putc(&rec, '\n');
		mig_buf_puts(&pname, "PaxHeaders.0/");
		mig_buf_append(&pname, name, nlen);
		rc = (rec.oom || pname.oom) ? MIG_ENOMEM : MIG_OK;
		if (rc == MIG_OK)
			rc = put_header(out, pname.data, pname.len, rec.len, 0, 'x', true);
		if (rc == MIG_OK)
			rc = put_data(out, rec.data, rec.len);
		mig_buf_free(&rec);
		mig_buf_free(&pname);
		if (rc != MIG_OK)
			return rc;
	}
	if (put_header(out, name, nlen, n, 0600, '0', false) != MIG_OK)
		return MIG_ENOMEM;
	return put_data(out, data, n);
}

int
mig_archive_write(const mig_dir *dir, mig_buf *out)
{
	static const char zeros[2 * BLOCK];
	size_t		i;

	if (dir->sum && put_entry(out, "atlas.sum", dir->sum, dir->sum_len) != MIG_OK)
		return MIG_ENOMEM;
	for (i = 0; i < dir->nfiles; i++)
		if (put_entry(out, dir->files[i].name, dir->files[i].data, dir->files[i].len) != MIG_OK)
			return MIG_ENOMEM;
	return mig_buf_append(out, zeros, sizeof(zeros));
}
