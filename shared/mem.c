/*
 * mem.c - the swappable allocator and mig_buf, the growable byte buffer.
 *
 * Knows nothing of PostgreSQL or SQLite.  Every allocation returns NULL on
 * failure; nothing here aborts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mig.h"

static mig_allocator alloc = {malloc, realloc, free};

void
mig_set_allocator(const mig_allocator *a)
{
	if (a == NULL)
	{
		alloc.malloc_fn = malloc;
		alloc.realloc_fn = realloc;
		alloc.free_fn = free;
	}
	else
		alloc = *a;
}

void *
mig_alloc(size_t size)
{
	return alloc.malloc_fn(size ? size : 1);
}

void *
mig_calloc(size_t n, size_t size)
{
	void	   *p;

	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	p = mig_alloc(n * size);
	if (p)
		memset(p, 0, (n * size) != 0 ? n * size : 1);
	return p;
}

void *
mig_realloc(void *ptr, size_t size)
{
	return alloc.realloc_fn(ptr, size ? size : 1);
}

void
mig_free(void *ptr)
{
	if (ptr)
		alloc.free_fn(ptr);
}

char *
mig_strndup(const char *s, size_t n)
{
	char	   *p = mig_alloc(n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
mig_strdup(const char *s)
{
	return s ? mig_strndup(s, strlen(s)) : NULL;
}

int
mig_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---------------------------------------------------------------- mig_buf */

void
mig_buf_init(mig_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->oom = false;
}

void
mig_buf_free(mig_buf *b)
{
	mig_free(b->data);
	mig_buf_init(b);
}

void
mig_buf_reset(mig_buf *b)
{
	b->len = 0;
	b->oom = false;
	if (b->data)
		b->data[0] = '\0';
}

int
mig_buf_reserve(mig_buf *b, size_t extra)
{
	size_t		need;
	size_t		cap;
	char	   *p;

	if (extra > SIZE_MAX - b->len - 1)
		goto oom;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return MIG_OK;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = mig_realloc(b->data, cap);
	if (p == NULL)
		goto oom;
	b->data = p;
	b->cap = cap;
	return MIG_OK;
oom:
	b->oom = true;
	return MIG_ENOMEM;
}

int
mig_buf_append(mig_buf *b, const char *s, size_t n)
{
	if (mig_buf_reserve(b, n) != MIG_OK)
		return MIG_ENOMEM;
	if (n)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return MIG_OK;
}

int
mig_buf_puts(mig_buf *b, const char *s)
{
	return mig_buf_append(b, s, strlen(s));
}

int
mig_buf_putc(mig_buf *b, char c)
{
	return mig_buf_append(b, &c, 1);
}

int
mig_buf_printf(mig_buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || mig_buf_reserve(b, (size_t) n) != MIG_OK)
		return MIG_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
	return MIG_OK;
}

/*
 * Length of a valid UTF-8 sequence at s (max n bytes), 0 if invalid:
 * overlong forms, surrogates and code points past U+10FFFF are invalid.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t		len,
				i;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0 && s[0] >= 0xC2)
		len = 2;
	else if ((s[0] & 0xF0) == 0xE0)
		len = 3;
	else if ((s[0] & 0xF8) == 0xF0 && s[0] <= 0xF4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	if (len == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0)))
		return 0;
	if (len == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
		return 0;
	return len;
}

size_t
mig_utf8_len(const char *s, size_t n)
{
	return n == 0 ? 0 : utf8_len((const unsigned char *) s, n);
}

/*
 * A JSON string as Go's encoding/json writes it for our texts: quotes,
 * backslashes and control characters escaped, invalid UTF-8 replaced by
 * U+FFFD (so the result is always valid JSON for PostgreSQL, SQLite and the
 * Cloud API).  With charlen, the text is in the host's encoding instead
 * (mig_set_text_charlen) and stays in it.
 */
static int
json_str(mig_buf *b, const char *s, size_t n, mig_charlen_fn charlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *) s,
			   *end = p + n;

	if (mig_buf_reserve(b, n + 2) != MIG_OK)
		return MIG_ENOMEM;
	b->data[b->len++] = '"';
	while (p < end)
	{
		const unsigned char *run = p;
		char		esc[7];
		size_t		l;

		/* copy the longest run of plain ASCII in one go */
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		if (p > run && mig_buf_append(b, (const char *) run, (size_t) (p - run)) != MIG_OK)
			return MIG_ENOMEM;
		if (p == end)
			break;
		if (*p >= 0x80)
		{
			l = charlen ? charlen(p, (size_t) (end - p)) : utf8_len(p, (size_t) (end - p));
			if (l == 0 || l > (size_t) (end - p))
			{
				/* U+FFFD may not exist in a host's encoding: '?' there */
				if (mig_buf_puts(b, charlen ? "?" : "\\ufffd") != MIG_OK)
					return MIG_ENOMEM;
				p++;
			}
			else
			{
				if (mig_buf_append(b, (const char *) p, l) != MIG_OK)
					return MIG_ENOMEM;
				p += l;
			}
			continue;
		}
		esc[0] = '\\';
		switch (*p)
		{
			case '"':
			case '\\':
				esc[1] = (char) *p;
				esc[2] = '\0';
				break;
			case '\n':
				esc[1] = 'n';
				esc[2] = '\0';
				break;
			case '\r':
				esc[1] = 'r';
				esc[2] = '\0';
				break;
			case '\t':
				esc[1] = 't';
				esc[2] = '\0';
				break;
			default:
				esc[1] = 'u';
				esc[2] = '0';
				esc[3] = '0';
				esc[4] = hex[*p >> 4];
				esc[5] = hex[*p & 15];
				esc[6] = '\0';
		}
		if (mig_buf_puts(b, esc) != MIG_OK)
			return MIG_ENOMEM;
		p++;
	}
	return mig_buf_putc(b, '"');
}

int
mig_buf_json_str(mig_buf *b, const char *s, size_t n)
{
	return json_str(b, s, n, NULL);
}

/* The host's text encoding (mig.h); NULL is UTF-8. */
static mig_charlen_fn text_charlen = NULL;

void
mig_set_text_charlen(mig_charlen_fn fn)
{
	text_charlen = fn;
}

bool
mig_text_is_utf8(void)
{
	return text_charlen == NULL;
}

size_t
mig_text_len(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	return text_charlen ? text_charlen((const unsigned char *) s, n)
		: utf8_len((const unsigned char *) s, n);
}

size_t
mig_text_cut(const char *s, size_t n, size_t max)
{
	size_t		i = 0;

	if (n <= max)
		return n;
	while (i < max)
	{
		size_t		l = (unsigned char) s[i] < 0x80 ? 1 : mig_text_len(s + i, n - i);

		if (l == 0)
			l = 1;
		if (i + l > max)
			break;
		i += l;
	}
	return i;
}

bool
mig_text_len_partial(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *) s;
	size_t		want,
				i;

	if (text_charlen || n == 0 || n >= 4)
		return false;			/* other encodings: bytes are replaced */
	want = u[0] >= 0xF0 && u[0] <= 0xF4 ? 4 : u[0] >= 0xE0 ? 3 : u[0] >= 0xC2 ? 2 : 0;
	if (want <= n)
		return false;
	for (i = 1; i < n; i++)
		if ((u[i] & 0xC0) != 0x80)
			return false;
	return true;
}

int
mig_buf_json_text(mig_buf *b, const char *s, size_t n)
{
	return json_str(b, s, n, text_charlen);
}

/* The code point of a valid UTF-8 sequence of length l. */
static unsigned long
decode_rune(const unsigned char *s, size_t l)
{
	if (l == 2)
		return ((unsigned long) (s[0] & 0x1F) << 6) | (s[1] & 0x3F);
	if (l == 3)
		return ((unsigned long) (s[0] & 0x0F) << 12) | ((unsigned long) (s[1] & 0x3F) << 6) | (s[2] & 0x3F);
	return ((unsigned long) (s[0] & 0x07) << 18) | ((unsigned long) (s[1] & 0x3F) << 12) |
		((unsigned long) (s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

/*
 * Go's strconv.IsPrint for the code points that matter in SQL text: the C1
 * controls, the Unicode spaces other than ' ', and the invisible format
 * characters are escaped by %q; every other valid rune is printed.
 */
static bool
go_printable(unsigned long r)
{
	if (r >= 0x80 && r <= 0x9F)
		return false;
	switch (r)
	{
		case 0xA0:
		case 0xAD:
		case 0x1680:
		case 0x2028:
		case 0x2029:
		case 0x202F:
		case 0x205F:
		case 0x3000:
		case 0xFEFF:
			return false;
	}
	if ((r >= 0x2000 && r <= 0x200F) || (r >= 0x202A && r <= 0x202E) ||
		(r >= 0x2060 && r <= 0x206F) || (r >= 0xD800 && r <= 0xDFFF))
		return false;
	return true;
}

int
mig_buf_goquote(mig_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *) s;
	size_t		i = 0;

	if (mig_buf_reserve(b, n + 2) != MIG_OK || mig_buf_putc(b, '"'))
		return MIG_ENOMEM;
	while (i < n)
	{
		unsigned char c = u[i];
		size_t		l;
		char		esc[5];

		if (c == '"' || c == '\\')
		{
			char		e[3] = {'\\', (char) c, 0};

			mig_buf_puts(b, e);
			i++;
			continue;
		}
		if (c == '\n' || c == '\t' || c == '\r' || c == '\a' || c == '\b' ||
			c == '\f' || c == '\v')
		{
			const char *e = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" :
			c == '\a' ? "\\a" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : "\\v";

			mig_buf_puts(b, e);
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
		{
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[c >> 4];
			esc[3] = hex[c & 15];
			esc[4] = 0;
			mig_buf_puts(b, esc);
			i++;
			continue;
		}
		l = utf8_len(u + i, n - i);
		if (l == 0)
		{
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[c >> 4];
			esc[3] = hex[c & 15];
			esc[4] = 0;
			mig_buf_puts(b, esc);
			i++;
			continue;
		}
		if (l > 1 && !go_printable(decode_rune(u + i, l)))
		{
			char		esc6[11];

			snprintf(esc6, sizeof(esc6), "\\u%04x", (unsigned) decode_rune(u + i, l));
			mig_buf_puts(b, esc6);
		}
		else
			mig_buf_append(b, s + i, l);
		i += l;
	}
	mig_buf_putc(b, '"');
	return b->oom ? MIG_ENOMEM : MIG_OK;
}

char *
mig_buf_steal(mig_buf *b)
{
	char	   *p = b->data;

	if (p == NULL)
		p = mig_strdup("");
	mig_buf_init(b);
	return p;
}
