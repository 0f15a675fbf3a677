/*
 * lex.c - split one migration file into statements the way Atlas's
 * scanner does (spec §d, every option).
 *
 * Knows nothing of PostgreSQL or SQLite.  Statements are slices of the
 * source; nothing is copied.
 *
 * Shape: a loop over an explicit stack of scanner "levels".  Level 0 splits
 * the file.  Each BEGIN / BEGIN ATOMIC / BEGIN TRY attempt (§d.3 rules
 * 13-15) pushes a nested level that scans sub-statements with the same
 * options until the block's END; when it fails the parent carries on past
 * the BEGIN header.  No C recursion, so deep nesting cannot overflow a host's
 * stack.
 *
 * Atlas's scanner re-reads the rest of the file for every BEGIN that has no
 * END, and does so again for every BEGIN inside that attempt: exponential.
 * Here a nested scan's outcome is remembered for every sub-statement start
 * it passed (a function of kind, start and delimiter), and how a statement
 * went on from checkpoints in its middle: where a failed attempt resumed it
 * and each line break it read (see checkpoint()).  A later attempt stops
 * at the first remembered point, so the work stays linear on everything
 * tried, adversarial inputs included.  Until the first attempt fails (or
 * a block hands its parent back a position it already read: BEGIN TRY, a
 * directive line in a body) nothing is read twice, so the memo stays off
 * and ordinary files pay nothing for it.
 *
 * The hot loop skips bytes that cannot start any rule with a 256-entry
 * class table; quotes, comments and dollar quotes end with memchr/memmem.
 * All rules fire on ASCII bytes, which are always rune boundaries for Go's
 * UTF-8 decoder, so the byte loop agrees with Atlas's rune loop.  A level
 * whose delimiter starts with a non-ASCII byte, or which must watch for the
 * T-SQL END terminator, steps rune by rune instead.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mig.h"

#define NONE ((size_t) -1)

/* Outcome of a nested scan, stored per chain (see memo below). */
#define RES_PENDING ((size_t) -1)
#define RES_FAIL ((size_t) -2)

/* What a level is scanning; nested kinds are also memo key tags. */
enum
{
	K_TOP = 0,					/* the file itself */
	K_ATOMIC = 1,				/* body of BEGIN ATOMIC, ends at END... (§d.3 rule 13) */
	K_TRY = 2,					/* body of BEGIN TRY, ends at END CATCH (rule 14) */
	K_BEGIN = 3					/* body of BEGIN, ends at END / END; (rule 15) */
};

/* What run() stopped for. */
enum
{
	R_EMIT,						/* a statement ended: lx->em_* */
	R_EOF,						/* no statement left */
	R_FAIL,						/* scan error (formatted only at level 0) */
	R_PUSH,						/* a BEGIN header: scan its body (lx->push_*) */
	R_HIT,						/* memo knows this body's outcome (lx->hit) */
	R_NOMEM,
	R_OK,						/* helpers: no error */
	R_NOMATCH,					/* rule helpers: the rule does not apply */
	R_MOVED,					/* ... it consumed text: scan on */
	R_ENDS						/* ... the statement ends (scan.te, .next) */
};

/* One scanner: Atlas's Scanner state, in absolute byte offsets. */
typedef struct level
{
	size_t		win;			/* start of the current window: the text of
								 * the statement being read begins here */
	size_t		cur;			/* next byte to look at */
	size_t		base;			/* offset where this scanner's byte count
								 * starts (after a §d.2 directive line) */
	size_t		hdr;			/* nested: end of the BEGIN header */
	size_t		open;			/* outermost '(' of the statement */
	size_t		depth;			/* parenthesis depth */
	const char *delim;			/* current delimiter (source slice or arena) */
	size_t		dlen;
	uint32_t	did;			/* its identity for the memo, 0 = ";" */
	size_t		et_pos;			/* endterm cache: last whitespace position */
	size_t		et_last;		/* ... and the last non-space before it */
	size_t		et_win;
	uint32_t	chain;			/* nested: memo chain of this scan */
	size_t		pbase;			/* this level's pending resume points are
								 * lexer.pend[pbase..npend) */
	unsigned char kind;			/* K_* */
	bool		fresh;			/* at a statement start */
	bool		deflt;			/* delimiter is the default ";" */
	bool		et;				/* watch for the T-SQL END terminator */
} level;

/* An arena block holding an unescaped delimiter. */
typedef struct dblk
{
	struct dblk *next;
	char		data[];
} dblk;

/* A hash map from a two-word key (a never 0) to a 32-bit id. */
typedef struct mslot
{
	uint64_t	a;				/* 0 = empty slot */
	uint64_t	b;
	uint32_t	val;
} mslot;

typedef struct memo
{
	mslot	   *slots;
	size_t		cap;			/* a power of two, or 0 */
	size_t		count;
} memo;

/* How scanning the rest of a statement from a resume point turned out. */
enum
{
	S_PENDING,					/* not known yet */
	S_END,						/* the statement ended: text to a, resume at b */
	S_FAIL,						/* the scan failed */
	S_CLOSE						/* a ')' took the depth below its start: at a */
};

typedef struct sres
{
	unsigned char type;			/* S_* */
	size_t		a;
	size_t		b;
} sres;

/* A resume point whose outcome is still open, with the depth it began at. */
typedef struct pend
{
	uint32_t	id;				/* into lexer.sres */
	size_t		depth;
} pend;

/* A cached forward search: first hit at or after `from` is `at`. */
typedef struct fcache
{
	size_t		from;
	size_t		at;
} fcache;

/* The state of one mig_lex_split call. */
typedef struct lexer
{
	const unsigned char *s;
	size_t		n;
	unsigned	flags;
	mig_err    *err;

	level	   *lv;				/* the level stack */
	size_t		nlv;
	size_t		caplv;

	bool		memo_on;		/* a nested scan has failed: from now on
								 * regions get re-read, so remember */
	memo		starts;			/* ((statement start << 2 | kind) + 1, did)
								 * -> chain */
	size_t	   *chains;			/* chain id -> RES_* or result position */
	size_t		nchains;
	size_t		capchains;
	memo		conts;			/* ((checkpoint << 2 | et << 1 | depth > 0) + 1,
								 * did << 1 | END before it) -> sres */
	memo		dids;			/* (hash of a delimiter | 1, length) -> did */
	const char **dtext;			/* did - 1 -> that delimiter's text */
	size_t		ndtext;
	size_t		capdtext;
	sres	   *sres;
	size_t		nsres;
	size_t		capsres;
	pend	   *pend;			/* open resume points of all levels, a stack */
	size_t		npend;
	size_t		cappend;

	dblk	   *arena;

	fcache		nl;				/* next '\n' */
	fcache		cc;				/* next "*" "/" */
	fcache		dq;				/* next dollar tag dq_tag */
	size_t		dq_tag;
	size_t		dq_len;

	unsigned char tbase[256];	/* bytes that may start a rule, any delimiter */
	unsigned char tdef[256];	/* ... plus ';' and BEGIN letters */
	unsigned char tcus[256];	/* ... plus the first byte of a custom delimiter */
	int			cus_d0;
	unsigned char tdef_lf[256];	/* tdef and tcus plus LF, for checkpoints */
	unsigned char tcus_lf[256];

	size_t		em_ts;			/* R_EMIT: raw text [em_ts, em_te) */
	size_t		em_te;
	size_t		push_hdr;		/* R_PUSH */
	unsigned char push_kind;
	size_t		hit;			/* R_HIT */
	size_t		ck_a;			/* checkpoint() outcome */
	size_t		ck_b;
	int			code;			/* error code when level 0 failed */
} lexer;

/* ---------------------------------------------------------------- characters */

/* ASCII `\s` of Go's regexp: [\t\n\f\r ] (no VT). */
static inline bool
rx_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

/* `\w` of Go's regexp. */
static inline bool
rx_word(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		(c >= 'a' && c <= 'z') || c == '_';
}

/* ASCII case-insensitive compare of n bytes against a lower-case word. */
static inline bool
ci_eq(const unsigned char *p, const char *lower, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if ((p[i] | 0x20) != (unsigned char) lower[i])
			return false;
	return true;
}

/*
 * Width of the rune at p as Go's utf8.DecodeRune sees it: 1 for ASCII and
 * for every invalid sequence (overlong, surrogate, > U+10FFFF, truncated).
 */
static size_t
go_width(const unsigned char *s, size_t p, size_t n)
{
	unsigned char c = s[p],
				lo = 0x80,
				hi = 0xBF;
	size_t		w,
				i;

	if (c < 0xC2 || c > 0xF4)
		return 1;
	if (c < 0xE0)
		w = 2;
	else if (c < 0xF0)
	{
		w = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	}
	else
	{
		w = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	}
	if (n - p < w || s[p + 1] < lo || s[p + 1] > hi)
		return 1;
	for (i = 2; i < w; i++)
		if (s[p + i] < 0x80 || s[p + i] > 0xBF)
			return 1;
	return w;
}

/*
 * Length of the Unicode whitespace rune at p (Go's unicode.IsSpace: ASCII
 * TAB..CR and space, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028,
 * U+2029, U+202F, U+205F, U+3000), 0 if none.
 */
static inline size_t
uspace(const unsigned char *s, size_t p, size_t n)
{
	unsigned char c = s[p];

	if (c < 0x80)
		return (c == ' ' || (c >= '\t' && c <= '\r')) ? 1 : 0;
	if (c == 0xC2)
		return (n - p >= 2 && (s[p + 1] == 0x85 || s[p + 1] == 0xA0)) ? 2 : 0;
	if (n - p < 3)
		return 0;
	if (c == 0xE1)
		return (s[p + 1] == 0x9A && s[p + 2] == 0x80) ? 3 : 0;
	if (c == 0xE2)
	{
		if (s[p + 1] == 0x80)
		{
			unsigned char d = s[p + 2];

			return ((d >= 0x80 && d <= 0x8A) || d == 0xA8 || d == 0xA9 || d == 0xAF) ? 3 : 0;
		}
		return (s[p + 1] == 0x81 && s[p + 2] == 0x9F) ? 3 : 0;
	}
	if (c == 0xE3)
		return (s[p + 1] == 0x80 && s[p + 2] == 0x80) ? 3 : 0;
	return 0;
}

/* Length of a Unicode whitespace rune ending at p (not before lo), 0 if none. */
static inline size_t
uspace_back(const unsigned char *s, size_t lo, size_t p)
{
	unsigned char c = s[p - 1];

	if (c < 0x80)
		return (c == ' ' || (c >= '\t' && c <= '\r')) ? 1 : 0;
	if (p - lo >= 2 && s[p - 2] == 0xC2 && (c == 0x85 || c == 0xA0))
		return 2;
	if (p - lo >= 3 && uspace(s, p - 3, p) == 3)
		return 3;
	return 0;
}

/* Skip Unicode whitespace (strings.TrimLeftFunc(unicode.IsSpace)). */
static inline size_t
skip_ws(const unsigned char *s, size_t p, size_t n)
{
	size_t		w;

	while (p < n && (w = uspace(s, p, n)) != 0)
		p += w;
	return p;
}

/* strings.TrimSpace on [*a, *b). */
static void
trim(const unsigned char *s, size_t *a, size_t *b)
{
	size_t		w;

	*a = skip_ws(s, *a, *b);
	while (*b > *a && (w = uspace_back(s, *a, *b)) != 0)
		*b -= w;
}

/*
 * If [p, n) starts with `kw` (case-insensitive) followed by one or more
 * ASCII spaces, the offset after those spaces (`kw\s+`, greedy); else 0.
 */
static inline size_t
kw_ws(const unsigned char *s, size_t p, size_t n, const char *kw, size_t len)
{
	size_t		q;

	if (n - p <= len || !ci_eq(s + p, kw, len) || !rx_space(s[p + len]))
		return 0;
	q = p + len + 1;
	while (q < n && rx_space(s[q]))
		q++;
	return q;
}

/* ---------------------------------------------------------------- searches */

static size_t
find_nl(lexer *lx, size_t from)
{
	const unsigned char *hit;

	if (from >= lx->nl.from && lx->nl.from != NONE && (lx->nl.at == NONE || lx->nl.at >= from))
		return lx->nl.at;
	hit = from < lx->n ? memchr(lx->s + from, '\n', lx->n - from) : NULL;
	lx->nl.from = from;
	lx->nl.at = hit ? (size_t) (hit - lx->s) : NONE;
	return lx->nl.at;
}

static size_t
find_cc(lexer *lx, size_t from)
{
	const unsigned char *hit;

	if (from >= lx->cc.from && lx->cc.from != NONE && (lx->cc.at == NONE || lx->cc.at >= from))
		return lx->cc.at;
	hit = from < lx->n ? memmem(lx->s + from, lx->n - from, "*/", 2) : NULL;
	lx->cc.from = from;
	lx->cc.at = hit ? (size_t) (hit - lx->s) : NONE;
	return lx->cc.at;
}

/* Next occurrence of the dollar tag [tag, tag+len) at or after from. */
static size_t
find_tag(lexer *lx, size_t tag, size_t len, size_t from)
{
	const unsigned char *hit;

	if (lx->dq.from != NONE && len == lx->dq_len &&
		memcmp(lx->s + tag, lx->s + lx->dq_tag, len) == 0 &&
		from >= lx->dq.from && (lx->dq.at == NONE || lx->dq.at >= from))
		return lx->dq.at;
	hit = from < lx->n ? memmem(lx->s + from, lx->n - from, lx->s + tag, len) : NULL;
	lx->dq.from = from;
	lx->dq.at = hit ? (size_t) (hit - lx->s) : NONE;
	lx->dq_tag = tag;
	lx->dq_len = len;
	return lx->dq.at;
}

/*
 * §d.3 rule 8: length of a dollar-quote opening `$tag$` at p, 0 if none.
 * Tag: [A-Za-z_\x{C8}-\x{FF}] then [A-Za-z0-9_\x{C8}-\x{FF}]*.
 */
static size_t
dollar_tag(const unsigned char *s, size_t p, size_t n)
{
	size_t		q = p + 1;
	bool		first = true;

	while (q < n)
	{
		unsigned char c = s[q];

		if (c == '$')
			return q + 1 - p;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
			(!first && c >= '0' && c <= '9'))
			q++;
		else if (c == 0xC3 && q + 1 < n && s[q + 1] >= 0x88 && s[q + 1] <= 0xBF)
			q += 2;
		else
			return 0;
		first = false;
	}
	return 0;
}

/* GO command at p: `(?i)^GO(?:\s+|$)` (§d.3 rule 6). */
static inline bool
go_at(const unsigned char *s, size_t p, size_t n)
{
	if (p >= n || n - p < 2 || !ci_eq(s + p, "go", 2))
		return false;
	return p + 2 == n || rx_space(s[p + 2]);
}

/*
 * Go's strconv.Atoi verdict on a GO count: 0 ok, 1 invalid syntax, 2 value
 * out of range.
 */
static int
go_atoi(const unsigned char *t, size_t len)
{
	size_t		i = 0;
	bool		neg = false;
	uint64_t	v = 0;

	if (len == 0)
		return 1;
	if (t[0] == '+' || t[0] == '-')
	{
		neg = t[0] == '-';
		i = 1;
	}
	if (i == len)
		return 1;
	if (len < 19)
	{
		for (; i < len; i++)
			if (t[i] < '0' || t[i] > '9')
				return 1;
		return 0;
	}
	for (; i < len; i++)
	{
		uint64_t	d;

		if (t[i] < '0' || t[i] > '9')
			return 1;
		d = (uint64_t) (t[i] - '0');
		if (v >= UINT64_MAX / 10 + 1)
			return 2;
		v *= 10;
		if (v + d < v)
			return 2;
		v += d;
	}
	if ((!neg && v > (uint64_t) INT64_MAX) || (neg && v > (uint64_t) INT64_MAX + 1))
		return 2;
	return 0;
}

/* ---------------------------------------------------------------- memo */

/*
 * Keys are byte positions (shifted), met in nearly increasing order: keep
 * each run of 256 keys together and scatter the runs, so lookups stay in
 * cache without letting dense runs pile onto each other.
 */
static inline size_t
mhash(uint64_t k, size_t mask)
{
	uint64_t	h = k >> 8;

	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	return (size_t) ((h << 8) | (k & 0xFF)) & mask;
}

/* Id recorded for key (a, b), or UINT32_MAX. */
static uint32_t
memo_get(const memo *m, uint64_t a, uint64_t b)
{
	size_t		i;

	if (m->cap == 0)
		return UINT32_MAX;
	for (i = mhash(a ^ (b * UINT64_C(0x9e3779b97f4a7c15)), m->cap - 1); m->slots[i].a != 0;
		 i = (i + 1) & (m->cap - 1))
		if (m->slots[i].a == a && m->slots[i].b == b)
			return m->slots[i].val;
	return UINT32_MAX;
}

static void
memo_insert(mslot *slots, size_t cap, uint64_t a, uint64_t b, uint32_t val)
{
	size_t		i;

	for (i = mhash(a ^ (b * UINT64_C(0x9e3779b97f4a7c15)), cap - 1); slots[i].a != 0;
		 i = (i + 1) & (cap - 1))
		;
	slots[i].a = a;
	slots[i].b = b;
	slots[i].val = val;
}

/* Record key (a, b) -> val; the key must be absent. */
static int
memo_put(memo *m, uint64_t a, uint64_t b, uint32_t val)
{
	if (2 * (m->count + 1) > m->cap)
	{
		size_t		ncap = m->cap ? 2 * m->cap : 256;
		mslot	   *ns;
		size_t		j;

		ns = mig_calloc(ncap, sizeof(mslot));
		if (ns == NULL)
			return MIG_ENOMEM;
		for (j = 0; j < m->cap; j++)
			if (m->slots[j].a != 0)
				memo_insert(ns, ncap, m->slots[j].a, m->slots[j].b, m->slots[j].val);
		mig_free(m->slots);
		m->slots = ns;
		m->cap = ncap;
	}
	memo_insert(m->slots, m->cap, a, b, val);
	m->count++;
	return MIG_OK;
}

static void
memo_free(memo *m)
{
	mig_free(m->slots);
}

/* Grow an array of `size`-byte items to hold one more; false on failure. */
static bool
grow(void **v, size_t *cap, size_t n, size_t size, size_t first)
{
	size_t		ncap;
	void	   *p;

	if (n < *cap)
		return true;
	ncap = *cap ? 2 * *cap : first;
	if (ncap >= UINT32_MAX || ncap > SIZE_MAX / size)
		return false;
	p = mig_realloc(*v, ncap * size);
	if (p == NULL)
		return false;
	*v = p;
	*cap = ncap;
	return true;
}

/*
 * L's statement ended (S_END: text to te, resumed at next) or failed
 * (S_FAIL): settle all its open resume points.
 */
static void
settle_stmt(lexer *lx, level *L, unsigned char type, size_t te, size_t next)
{
	while (lx->npend > L->pbase)
	{
		sres	   *o = &lx->sres[lx->pend[--lx->npend].id];

		o->type = type;
		o->a = te;
		o->b = next;
	}
}

/* A ')' at p-1 lowers L's depth: resume points opened at that depth close. */
static inline void
close_depth(lexer *lx, level *L, size_t p)
{
	while (lx->npend > L->pbase && lx->pend[lx->npend - 1].depth == L->depth)
	{
		sres	   *o = &lx->sres[lx->pend[--lx->npend].id];

		o->type = S_CLOSE;
		o->a = p;
	}
}

/* Open a checkpoint for L at its depth: its outcome is settled later. */
static int
open_checkpoint(lexer *lx, level *L, uint64_t key, uint64_t key2)
{
	uint32_t	id;

	if (!grow((void **) &lx->sres, &lx->capsres, lx->nsres, sizeof(sres), 64) ||
		!grow((void **) &lx->pend, &lx->cappend, lx->npend, sizeof(pend), 64))
		return R_NOMEM;
	id = (uint32_t) lx->nsres++;
	lx->sres[id].type = S_PENDING;
	if (memo_put(&lx->conts, key, key2, id) != MIG_OK)
		return R_NOMEM;
	lx->pend[lx->npend].id = id;
	lx->pend[lx->npend++].depth = L->depth;
	return R_OK;
}

/* What checkpoint() found. */
enum
{
	CK_SCAN,					/* unknown: scan on (a checkpoint may be open) */
	CK_END,						/* the statement ends: lx->ck_a, lx->ck_b */
	CK_FAIL,					/* the scan fails */
	CK_CLOSE,					/* depth drops at lx->ck_a */
	CK_NOMEM
};

/*
 * L is in the middle of a statement at c (c > win).  What follows depends
 * only on c, on the delimiter, on whether the depth is 0 (at depth > 0
 * the delimiter cannot match until the ')' that lowers the depth: that
 * ')' is an outcome of its own), and for the T-SQL END terminator on
 * whether "END" plus spaces ends right before c inside the window.
 * Nothing else of the statement read so far matters: the rules that look
 * at it (DELIMITER, leading comments, first-character BEGIN and GO) only
 * apply at its first character.  So another nested scan may already know.
 */
static int
checkpoint(lexer *lx, level *L, size_t c, size_t win)
{
	const unsigned char *s = lx->s;
	uint64_t	key,
				key2;
	uint32_t	id;
	bool		endb = false;
	const sres *o;

	if (L->et)
	{
		size_t		q = c,
					steps = 0;

		while (q > win && rx_space(s[q - 1]))
			if (++steps > 64 || --q == win)
				return CK_SCAN; /* too far to bother, or nothing before */
		endb = q >= win + 3 && ci_eq(s + q - 3, "end", 3);
	}
	key = (((uint64_t) c << 2) | ((uint64_t) L->et << 1) | (L->depth > 0)) + 1;
	key2 = ((uint64_t) L->did << 1) | endb;
	id = memo_get(&lx->conts, key, key2);
	if (id == UINT32_MAX)
		return open_checkpoint(lx, L, key, key2) == R_OK ? CK_SCAN : CK_NOMEM;
	o = &lx->sres[id];
	switch (o->type)
	{
		case S_END:
			lx->ck_a = o->a;
			lx->ck_b = o->b;
			return CK_END;
		case S_FAIL:
			return CK_FAIL;
		case S_CLOSE:
			lx->ck_a = o->a;
			return CK_CLOSE;
	}
	return CK_SCAN;
}

/* ---------------------------------------------------------------- errors */

/* A positioned error "L:C: msg" (§d.5); p is the offset just past the culprit. */
static int
fail_at(lexer *lx, bool top, size_t p, const char *msg)
{
	size_t		line = 1,
				last = NONE,
				i = 0;
	const unsigned char *nl;

	if (!top)
		return R_FAIL;
	while (i < p && (nl = memchr(lx->s + i, '\n', p - i)) != NULL)
	{
		last = (size_t) (nl - lx->s);
		line++;
		i = last + 1;
	}
	lx->code = mig_err_set(lx->err, MIG_ESCAN, "%zu:%zu: %s", line,
						   line == 1 ? p : p - last - 1, msg);
	return R_FAIL;
}

static int
fail_msg(lexer *lx, bool top, const char *msg)
{
	if (top)
		lx->code = mig_err_set(lx->err, MIG_ESCAN, "%s", msg);
	return R_FAIL;
}

/* `1:0: no input found after delimiter "<arg>"` (§d.2). */
static int
fail_no_input(lexer *lx, bool top, size_t arg, size_t alen)
{
	mig_buf		b;

	if (!top)
		return R_FAIL;
	mig_buf_init(&b);
	if (mig_buf_goquote(&b, (const char *) lx->s + arg, alen) != MIG_OK)
	{
		mig_buf_free(&b);
		return R_NOMEM;
	}
	lx->code = mig_err_set(lx->err, MIG_ESCAN, "1:0: no input found after delimiter %s", b.data);
	mig_buf_free(&b);
	return R_FAIL;
}

/* The GO count is not a number (Atlas's wording, strconv's error inside). */
static int
fail_go(lexer *lx, bool top, size_t raw, size_t rawlen, size_t t, size_t tlen, int why)
{
	mig_buf		a,
				b;
	int			r = R_FAIL;

	if (!top)
		return R_FAIL;
	mig_buf_init(&a);
	mig_buf_init(&b);
	if (mig_buf_goquote(&a, (const char *) lx->s + raw, rawlen) != MIG_OK ||
		mig_buf_goquote(&b, (const char *) lx->s + t, tlen) != MIG_OK)
		r = R_NOMEM;
	else
		lx->code = mig_err_set(lx->err, MIG_ESCAN,
							   "sql/migrate: invalid GO command, expect digits got %s: "
							   "strconv.Atoi: parsing %s: %s", a.data, b.data,
							   why == 2 ? "value out of range" : "invalid syntax");
	mig_buf_free(&a);
	mig_buf_free(&b);
	return r;
}

/* ---------------------------------------------------------------- delimiters */

/*
 * Give L's delimiter its memo id: one id per distinct text, found by a
 * 64-bit hash and confirmed byte by byte (a collision gets a fresh id,
 * which only loses sharing).
 */
static int
intern_delim(lexer *lx, level *L)
{
	uint64_t	h = UINT64_C(1469598103934665603);
	size_t		i;
	uint32_t	id;

	for (i = 0; i < L->dlen; i++)
		h = (h ^ (unsigned char) L->delim[i]) * UINT64_C(1099511628211);
	h |= 1;
	id = memo_get(&lx->dids, h, L->dlen);
	if (id != UINT32_MAX && memcmp(lx->dtext[id - 1], L->delim, L->dlen) == 0)
	{
		L->did = id;
		return R_OK;
	}
	if (!grow((void **) &lx->dtext, &lx->capdtext, lx->ndtext, sizeof(char *), 16))
		return R_NOMEM;
	lx->dtext[lx->ndtext++] = L->delim;
	L->did = (uint32_t) lx->ndtext;
	if (id == UINT32_MAX && memo_put(&lx->dids, h, L->dlen, L->did) != MIG_OK)
		return R_NOMEM;
	return R_OK;
}

/*
 * Set L's delimiter from raw text (§d.2 / §d.3 rule 5): `''` -> `'` when
 * the text was quoted, then `\n`, `\r`, `\t` -> LF, CR, TAB.  The result
 * points into the source unless something had to be rewritten.  Equal
 * delimiters share one memo id.
 */
static int
set_delim(lexer *lx, level *L, size_t raw, size_t len, bool quoted, bool top)
{
	const unsigned char *p = lx->s + raw;
	bool		rewrite = false;
	size_t		i,
				o;
	dblk	   *blk;
	char	   *d;

	if (len == 0)
		return fail_msg(lx, top, "empty delimiter");
	for (i = 0; i + 1 < len && !rewrite; i++)
		if ((quoted && p[i] == '\'' && p[i + 1] == '\'') ||
			(p[i] == '\\' && (p[i + 1] == 'n' || p[i + 1] == 'r' || p[i + 1] == 't')))
			rewrite = true;
	if (!rewrite)
	{
		L->delim = (const char *) p;
		L->dlen = len;
	}
	else
	{
		blk = mig_alloc(sizeof(dblk) + len);
		if (blk == NULL)
			return R_NOMEM;
		blk->next = lx->arena;
		lx->arena = blk;
		d = blk->data;
		/* first the MySQL client's quote rule, then the escapes */
		for (i = o = 0; i < len; i++)
		{
			d[o++] = (char) p[i];
			if (quoted && p[i] == '\'' && i + 1 < len && p[i + 1] == '\'')
				i++;
		}
		len = o;
		for (i = o = 0; i < len; i++)
		{
			if (d[i] == '\\' && i + 1 < len &&
				(d[i + 1] == 'n' || d[i + 1] == 'r' || d[i + 1] == 't'))
			{
				d[o++] = d[i + 1] == 'n' ? '\n' : d[i + 1] == 'r' ? '\r' : '\t';
				i++;
			}
			else
				d[o++] = d[i];
		}
		L->delim = d;
		L->dlen = o;
	}
	L->deflt = L->dlen == 1 && L->delim[0] == ';';
	L->did = 0;
	if (!L->deflt)
		return intern_delim(lx, L);
	return R_OK;
}

/*
 * §d.2 with §e.1: is the line at st the directive `-- atlas:delimiter`?
 * Sets the raw argument and the offset of the line's end.  The prefix of
 * the pattern is greedy, so a later `atlas:<word>` reachable through
 * printable ASCII takes the match away from ours.
 */
static bool
delim_directive(lexer *lx, size_t st, size_t *arg, size_t *alen, size_t *eol)
{
	const unsigned char *s = lx->s;
	size_t		n = lx->n,
				e,
				pr,
				j,
				q,
				sp;
	const unsigned char *nl;

	if (n - st < 9 || memcmp(s + st, "-- atlas:", 9) != 0)
		return false;
	nl = memchr(s + st, '\n', n - st);
	e = nl ? (size_t) (nl - s) : n;
	for (pr = st; pr < e && s[pr] >= 0x20 && s[pr] <= 0x7e; pr++)
		;
	for (j = st + 4; j <= pr && j + 6 < e; j++)
		if (s[j] == 'a' && memcmp(s + j, "atlas:", 6) == 0 && rx_word(s[j + 6]))
			return false;
	for (q = st + 9; q < e && rx_word(s[q]); q++)
		;
	if (q - (st + 9) != 9 || memcmp(s + st + 9, "delimiter", 9) != 0)
		return false;
	for (sp = q; sp < e && s[sp] == ' '; sp++)
		;
	if (sp > q && sp < e)
	{
		*arg = sp;
		*alen = e - sp;
	}
	else if (sp - q >= 2)
	{
		/* ` +(.+)` backtracks to leave the last space to `.+` */
		*arg = e - 1;
		*alen = 1;
	}
	else
	{
		*arg = q;
		*alen = 0;
	}
	*eol = e;
	return true;
}

/* Start a scanner at st: Atlas's Scanner.init (§d.2). */
static int
init_level(lexer *lx, level *L, size_t st, unsigned char kind, bool top)
{
	size_t		arg,
				alen,
				eol;
	int			r;

	memset(L, 0, sizeof(*L));
	L->win = L->cur = L->base = L->hdr = st;
	L->delim = ";";
	L->dlen = 1;
	L->deflt = true;
	L->fresh = true;
	L->kind = kind;
	L->et_pos = NONE;
	L->et = kind == K_BEGIN && (lx->flags & MIG_LEX_BEGIN_END_TERM);
	if (!delim_directive(lx, st, &arg, &alen, &eol))
		return R_OK;
	r = set_delim(lx, L, arg, alen, false, top);
	if (r != R_OK)
		return r;
	if (eol == lx->n)
		return fail_no_input(lx, top, arg, alen);
	L->win = L->cur = L->base = eol + 1;
	return R_OK;
}

/*
 * The class table for L, or NULL when L must step rune by rune.  Nested
 * levels stop at LF too once the memo is on (line checkpoints).
 */
static const unsigned char *
pick_table(lexer *lx, const level *L)
{
	unsigned char d0 = (unsigned char) L->delim[0];
	bool		lf = L->kind != K_TOP && lx->memo_on;

	if (L->et || d0 >= 0x80)
		return NULL;
	if (L->deflt)
		return lf ? lx->tdef_lf : lx->tdef;
	if (lx->cus_d0 != d0)
	{
		memcpy(lx->tcus, lx->tbase, sizeof(lx->tcus));
		lx->tcus[d0] = 1;
		memcpy(lx->tcus_lf, lx->tcus, sizeof(lx->tcus_lf));
		lx->tcus_lf['\n'] = 1;
		lx->cus_d0 = d0;
	}
	return lf ? lx->tcus_lf : lx->tcus;
}

static void
build_tables(lexer *lx)
{
	unsigned	f = lx->flags;

	memset(lx->tbase, 0, sizeof(lx->tbase));
	lx->tbase['('] = lx->tbase[')'] = 1;
	lx->tbase['\''] = lx->tbase['"'] = lx->tbase['`'] = 1;
	lx->tbase['-'] = lx->tbase['/'] = 1;
	if (f & MIG_LEX_DOLLAR)
		lx->tbase['$'] = 1;
	if (f & MIG_LEX_HASH_COMMENTS)
		lx->tbase['#'] = 1;
	if (f & MIG_LEX_GO)
		lx->tbase['\n'] = lx->tbase['G'] = lx->tbase['g'] = 1;
	memcpy(lx->tdef, lx->tbase, sizeof(lx->tdef));
	lx->tdef[';'] = 1;
	if (f & (MIG_LEX_BEGIN | MIG_LEX_BEGIN_ATOMIC | MIG_LEX_BEGIN_TRYCATCH))
		lx->tdef['B'] = lx->tdef['b'] = 1;
	memcpy(lx->tdef_lf, lx->tdef, sizeof(lx->tdef_lf));
	lx->tdef_lf['\n'] = 1;
	lx->cus_d0 = -1;
}

/* ---------------------------------------------------------------- scanning */

/*
 * Endterm test (§d.3 rule 12, T-SQL): does the text read so far, [win, c],
 * match `\s*END\s*$`?  Consecutive whitespace reuses the previous answer.
 */
static bool
endterm_at(const unsigned char *s, level *L, size_t win, size_t c)
{
	size_t		q;

	if (s[c] >= 0x80)
		return false;
	if (!rx_space(s[c]))
		q = c;
	else if (L->et_pos != NONE && L->et_win == win && L->et_pos + 1 == c)
		q = L->et_last;
	else
	{
		q = c;
		while (q > win && rx_space(s[q]))
			q--;
		if (rx_space(s[q]))
			q = NONE;
	}
	if (rx_space(s[c]))
	{
		L->et_pos = c;
		L->et_last = q;
		L->et_win = win;
	}
	return q != NONE && q >= win + 2 && ci_eq(s + q - 2, "end", 3);
}

/*
 * Where the scanner of run() stands: the next byte to look at, the start
 * of the statement's window and, once a rule ends the statement, where its
 * text ends and where the next statement begins.  A local of run(); the
 * rule helpers below take it by pointer and are inlined into the loop.
 */
typedef struct scan
{
	size_t		c;
	size_t		win;
	size_t		te;
	size_t		next;
	const unsigned char *tab;	/* pick_table() for the level, or NULL */
} scan;

/* L's statement ended: text [win, te), the next one starts at next. */
static int
emit_stmt(lexer *lx, level *L, size_t win, size_t te, size_t next)
{
	settle_stmt(lx, L, S_END, te, next);
	lx->em_ts = win;
	lx->em_te = te;
	L->win = L->cur = next;
	L->fresh = true;
	return R_EMIT;
}

/*
 * A statement starts at L->win (Atlas's stmt() entry, §d.3): skip the
 * whitespace before it.  In a nested level with the memo on, the state
 * here is (start, kind, delimiter): an earlier scan may know the outcome.
 */
static inline int
enter_stmt(lexer *lx, level *L)
{
	uint64_t	key;
	uint32_t	id;

	L->win = skip_ws(lx->s, L->win, lx->n);
	if (L->win == lx->n)
		return R_EOF;
	L->cur = L->win;
	L->depth = 0;
	L->fresh = false;
	if (L->kind == K_TOP || !lx->memo_on)
		return R_NOMATCH;
	key = (((uint64_t) L->win << 2) | L->kind) + 1;
	id = memo_get(&lx->starts, key, L->did);
	if (id == UINT32_MAX)
		return memo_put(&lx->starts, key, L->did, L->chain) == MIG_OK ? R_NOMATCH : R_NOMEM;
	if (lx->chains[id] == RES_PENDING)
		return R_NOMATCH;
	lx->hit = lx->chains[id];
	return R_HIT;
}

/*
 * A nested level resumes in mid-statement after a BEGIN attempt that was
 * not a block: the checkpoint there may already know how it goes on.
 */
static inline int
resume_stmt(lexer *lx, level *L, scan *sc)
{
	for (;;)
	{
		int			ck = checkpoint(lx, L, L->cur, L->win);

		switch (ck)
		{
			case CK_SCAN:
				return R_NOMATCH;
			case CK_NOMEM:
				return R_NOMEM;
			case CK_FAIL:
				return R_FAIL;
			case CK_END:
				sc->te = lx->ck_a;
				sc->next = lx->ck_b;
				return R_ENDS;
		}
		close_depth(lx, L, lx->ck_a);
		L->depth--;
		L->cur = lx->ck_a;
	}
}

/* §d.3 rule 1: end of input ends the statement, or fails in '(' ... */
static inline int
at_eof(lexer *lx, level *L, bool top, scan *sc)
{
	size_t		n = lx->n;

	if (L->depth > 0)
	{
		L->cur = sc->c;
		return fail_at(lx, top, L->open + 1, "unclosed '('");
	}
	if (n > sc->win)
	{
		sc->te = sc->next = n;
		return R_ENDS;
	}
	L->cur = L->win = n;
	return R_EOF;
}

/* A line checkpoint of a nested level with the memo on (see checkpoint()). */
static inline int
line_checkpoint(lexer *lx, level *L, scan *sc)
{
	switch (checkpoint(lx, L, sc->c, sc->win))
	{
		case CK_NOMEM:
			return R_NOMEM;
		case CK_FAIL:
			return R_FAIL;
		case CK_END:
			sc->te = lx->ck_a;
			sc->next = lx->ck_b;
			return R_ENDS;
		case CK_CLOSE:
			close_depth(lx, L, lx->ck_a);
			L->depth--;
			sc->c = lx->ck_a;
			return R_MOVED;
	}
	return R_NOMATCH;
}

/* §d.3 rule 2: '(' opens a level of depth; the delimiter waits for ')'. */
static inline int
open_paren(level *L, scan *sc)
{
	if (L->depth++ == 0)
		L->open = sc->c;
	sc->c++;
	return R_MOVED;
}

/* §d.3 rule 3: ')' closes one; at depth 0 it is an error. */
static inline int
close_paren(lexer *lx, level *L, bool top, scan *sc)
{
	if (L->depth == 0)
		return fail_at(lx, top, sc->c + 1, "unexpected ')'");
	close_depth(lx, L, sc->c + 1);
	L->depth--;
	sc->c++;
	return R_MOVED;
}

/*
 * §d.3 rule 4: a quoted string, to its closing quote b.  EscapedStringExt
 * never fires, so only BackslashEscapes: a backslash skips the next byte.
 */
static inline int
skip_quote(lexer *lx, bool top, scan *sc, unsigned char b)
{
	const unsigned char *s = lx->s;
	size_t		n = lx->n,
				p = sc->c + 1,
				q = NONE;
	const unsigned char *hit;

	for (;;)
	{
		if (q == NONE || q < p)
		{
			hit = p < n ? memchr(s + p, b, n - p) : NULL;
			if (hit == NULL)
				return fail_at(lx, top, sc->c + 1, b == '\'' ? "unclosed quote '\\''" :
							   b == '"' ? "unclosed quote '\"'" : "unclosed quote '`'");
			q = (size_t) (hit - s);
		}
		if ((lx->flags & MIG_LEX_BACKSLASH) &&
			(hit = memchr(s + p, '\\', q - p)) != NULL)
		{
			p = (size_t) (hit - s) + 2;
			continue;
		}
		sc->c = q + 1;
		return R_MOVED;
	}
}

/*
 * §d.3 rule 5: the client-side `DELIMITER x` command at the statement's
 * first character sets L's delimiter to the rest of the line (quotes
 * stripped); the next statement starts after that line.
 */
static inline int
delimiter_command(lexer *lx, level *L, bool top, scan *sc)
{
	const unsigned char *s = lx->s;
	size_t		n = lx->n,
				p = sc->c + 9,
				lf,
				e,
				a,
				z;
	bool		quoted = false;
	int			r;

	if (s[p] != ' ')
	{
		sc->c = p;
		return R_MOVED;
	}
	lf = find_nl(lx, p);
	e = lf == NONE ? n : lf + 1;
	a = p;
	z = e;
	trim(s, &a, &z);
	if (z > a && s[a] == '\'' && s[z - 1] == '\'')
	{
		/* a lone quote crashes Atlas; here it is empty */
		quoted = true;
		if (z - a == 1)
			z = a;
		else
		{
			a++;
			z--;
		}
	}
	r = set_delim(lx, L, a, z - a, quoted, top);
	if (r != R_OK)
	{
		L->cur = sc->c;
		return r;
	}
	L->win = sc->win = sc->c = skip_ws(s, e, n);
	sc->tab = pick_table(lx, L);
	return R_MOVED;
}

/*
 * §d.3 rule 6 (GoCommand, T-SQL): a line `GO [count]` ends the statement
 * before it; the count must be a number and is otherwise ignored.
 */
static inline int
go_command(lexer *lx, bool top, scan *sc, unsigned char b)
{
	const unsigned char *s = lx->s;
	size_t		n = lx->n,
				c = sc->c,
				p,
				lf,
				q,
				a,
				z;
	int			why;

	if (b == '\n' && c + 1 < n && go_at(s, c + 1, n))
	{
		sc->te = c + 1;
		p = c + 3;
	}
	else if ((c == sc->win || s[c - 1] == '\n') && go_at(s, c, n))
	{
		sc->te = c;
		p = c + 2;
	}
	else
		return R_NOMATCH;
	if (p < n && s[p] == ' ')
	{
		lf = find_nl(lx, p);
		q = lf == NONE ? n : lf + 1;
		a = p;
		z = q;
		trim(s, &a, &z);
		why = go_atoi(s + a, z - a);
		if (why != 0)
			return fail_go(lx, top, p, q - p, a, z - a, why);
		p = q;
	}
	sc->next = p;
	return R_ENDS;
}

/* §d.3 rule 8: skip a dollar quote; an unclosed one runs to the end. */
static inline int
skip_dollar(lexer *lx, scan *sc)
{
	size_t		c = sc->c,
				tl = dollar_tag(lx->s, c, lx->n),
				at;

	if (tl == 0)
		return R_NOMATCH;
	at = find_tag(lx, c, tl, c + tl);
	sc->c = at == NONE ? lx->n : at + tl;
	return R_MOVED;
}

/*
 * §d.3 rules 9-11: `#` (HashComments), `--` and block comments.  An
 * unterminated one is not a comment; a leading one is cut out of the
 * statement's text.
 */
static inline int
skip_comment(lexer *lx, level *L, scan *sc, unsigned char b)
{
	const unsigned char *s = lx->s;
	size_t		c = sc->c,
				n = lx->n,
				open,
				at,
				tl = 1;

	if (b == '#' && (lx->flags & MIG_LEX_HASH_COMMENTS))
	{
		open = 1;
		at = find_nl(lx, c + 1);
	}
	else if (b == '-' && c + 1 < n && s[c + 1] == '-')
	{
		open = 2;
		at = find_nl(lx, c + 2);
	}
	else if (b == '/' && c + 1 < n && s[c + 1] == '*')
	{
		open = 2;
		at = find_cc(lx, c + 2);
		tl = 2;
	}
	else
		return R_NOMATCH;
	if (at == NONE)
		sc->c = c + open;
	else if (c != sc->win)
		sc->c = at + tl;
	else
		L->win = sc->win = sc->c = skip_ws(s, at + tl, n);
	return R_MOVED;
}

/*
 * §d.3 rules 13-15: BEGIN ATOMIC, BEGIN TRY, or BEGIN at a word start
 * (default delimiter only): ask the driver to scan the block's body.  If
 * that fails the parent resumes after the header.
 */
static inline int
begin_header(lexer *lx, level *L, scan *sc)
{
	const unsigned char *s = lx->s;
	unsigned	f = lx->flags;
	size_t		c = sc->c,
				n = lx->n,
				h = kw_ws(s, c, n, "begin", 5),
				h2;
	unsigned char k;

	if (h == 0)
		return R_NOMATCH;
	if ((f & MIG_LEX_BEGIN_ATOMIC) && (h2 = kw_ws(s, h, n, "atomic", 6)) != 0)
		k = K_ATOMIC;
	else if ((f & MIG_LEX_BEGIN_TRYCATCH) && (h2 = kw_ws(s, h, n, "try", 3)) != 0)
		k = K_TRY;
	else if ((f & MIG_LEX_BEGIN) && (c == sc->win || rx_space(s[c - 1])))
	{
		k = K_BEGIN;
		h2 = h;
	}
	else
		return R_NOMATCH;
	L->cur = h2;
	L->win = sc->win;
	lx->push_kind = k;
	lx->push_hdr = h2;
	return R_PUSH;
}

/*
 * The rules of §d.3 after rule 1, in Atlas's order, for the byte b at
 * sc->c: R_NOMATCH when it is an ordinary character, R_MOVED when a rule
 * consumed text, R_ENDS when the statement ends, else what run() returns.
 */
static inline int
apply_rules(lexer *lx, level *L, bool top, scan *sc, unsigned char b)
{
	const unsigned char *s = lx->s;
	size_t		c = sc->c,
				n = lx->n;
	unsigned	f = lx->flags;
	int			r;

	if (b == '\n' && c > sc->win && L->kind != K_TOP && lx->memo_on &&
		(r = line_checkpoint(lx, L, sc)) != R_NOMATCH)
		return r;
	if (b == '(')
		return open_paren(L, sc);
	if (b == ')')
		return close_paren(lx, L, top, sc);
	if (b == '\'' || b == '"' || b == '`')
		return skip_quote(lx, top, sc, b);
	if (c == sc->win && n - c > 9 && ci_eq(s + c, "delimiter", 9))
		return delimiter_command(lx, L, top, sc);
	if ((f & MIG_LEX_GO) && (r = go_command(lx, top, sc, b)) != R_NOMATCH)
		return r;
	/* rule 7: the delimiter beats dollar quotes, comments and BEGIN */
	if (L->depth == 0 && b == (unsigned char) L->delim[0] &&
		n - c >= L->dlen && memcmp(s + c, L->delim, L->dlen) == 0)
	{
		sc->te = sc->next = c + L->dlen;
		return R_ENDS;
	}
	if (b == '$' && (f & MIG_LEX_DOLLAR) && (r = skip_dollar(lx, sc)) != R_NOMATCH)
		return r;
	if ((r = skip_comment(lx, L, sc, b)) != R_NOMATCH)
		return r;
	/* rule 12: END terminator inside a T-SQL BEGIN group */
	if (L->et && endterm_at(s, L, sc->win, c))
	{
		sc->te = sc->next = c + 1;
		return R_ENDS;
	}
	if ((b | 0x20) == 'b' && L->deflt &&
		(f & (MIG_LEX_BEGIN | MIG_LEX_BEGIN_ATOMIC | MIG_LEX_BEGIN_TRYCATCH)))
		return begin_header(lx, L, sc);
	return R_NOMATCH;
}

/*
 * Run level L until a statement ends, input ends, an error occurs or a
 * BEGIN header needs its body scanned.  Atlas's Scanner.stmt, with the rules
 * of §d.3 applied in order to each character; the class table skips the
 * bytes no rule can start on.
 */
static int
run(lexer *lx, level *L, bool top)
{
	const unsigned char *s = lx->s;
	size_t		n = lx->n;
	scan		sc;
	int			r = R_NOMATCH;

	if (L->fresh)
		r = enter_stmt(lx, L);
	else if (L->kind != K_TOP && lx->memo_on)
		r = resume_stmt(lx, L, &sc);
	sc.c = L->cur;
	sc.win = L->win;
	sc.tab = pick_table(lx, L);
	if (r != R_ENDS)
		sc.te = sc.next = 0;
	while (r == R_NOMATCH || r == R_MOVED)
	{
		size_t		c = sc.c;
		unsigned char b;

		if (c > sc.win && sc.tab)
			while (c < n && !sc.tab[s[c]])
				c++;
		sc.c = c;
		if (c >= n)
		{
			r = at_eof(lx, L, top, &sc);
			break;
		}
		b = s[c];
		r = apply_rules(lx, L, top, &sc, b);
		if (r == R_NOMATCH)		/* an ordinary character */
			sc.c = c + (sc.tab ? 1 : (b < 0x80 ? 1 : go_width(s, c, n)));
	}
	if (r == R_ENDS)
		return emit_stmt(lx, L, sc.win, sc.te, sc.next);
	return r;
}

/*
 * Does the sub-statement text [a, b) end the nested block of this kind?
 * For BEGIN TRY, *back is how far Atlas steps back from the statement's end.
 */
static bool
block_end(const lexer *lx, unsigned char kind, size_t a, size_t b, size_t *back)
{
	const unsigned char *s = lx->s;
	size_t		m;
	bool		starts_end = b - a >= 3 && ci_eq(s + a, "end", 3);

	*back = 0;
	switch (kind)
	{
		case K_ATOMIC:
			/* `^\s*END\s*`: any text starting with END */
			return starts_end;
		case K_BEGIN:
			if (starts_end)
			{
				/* END alone, or END followed by the delimiter ";" */
				for (m = a + 3; m < b && rx_space(s[m]); m++)
					;
				return m == b || (b - m == 1 && s[m] == ';');
			}
			/* BeginEndTerminator: text ending in END */
			return (lx->flags & MIG_LEX_BEGIN_END_TERM) && b - a >= 3 &&
				ci_eq(s + b - 3, "end", 3);
		case K_TRY:
			if (!starts_end)
				return false;
			for (m = a + 3; m < b && rx_space(s[m]); m++)
				;
			if (b - m < 5 || !ci_eq(s + m, "catch", 5))
				return false;
			for (m += 5; m < b && rx_space(s[m]); m++)
				;
			/* Atlas backs up to just after "END CATCH" */
			*back = b - m;
			return true;
	}
	return false;
}

/* §d.4: strip the delimiter when not the default (or OmitDelimiter), trim. */
static void
finish_text(const lexer *lx, const level *L, size_t *a, size_t *b)
{
	if (((lx->flags & MIG_LEX_OMIT_DELIM) || !L->deflt) &&
		*b - *a >= L->dlen && memcmp(lx->s + *b - L->dlen, L->delim, L->dlen) == 0)
		*b -= L->dlen;
	trim(lx->s, a, b);
}

static int
push_stmt(mig_stmts *out, const char *text, size_t len)
{
	if (out->n == out->cap)
	{
		size_t		ncap = out->cap ? 2 * out->cap : 16;
		mig_stmt   *v;

		if (ncap > SIZE_MAX / sizeof(mig_stmt))
			return MIG_ENOMEM;
		v = mig_realloc(out->v, ncap * sizeof(mig_stmt));
		if (v == NULL)
			return MIG_ENOMEM;
		out->v = v;
		out->cap = ncap;
	}
	out->v[out->n].text = text;
	out->v[out->n].len = len;
	out->n++;
	return MIG_OK;
}

/* Push a nested level for a BEGIN header; R_FAIL if its init fails. */
static int
push_level(lexer *lx)
{
	level	   *C;
	int			r;

	if (!grow((void **) &lx->lv, &lx->caplv, lx->nlv, sizeof(level), 8) ||
		!grow((void **) &lx->chains, &lx->capchains, lx->nchains, sizeof(size_t), 64))
		return R_NOMEM;
	C = &lx->lv[lx->nlv];
	r = init_level(lx, C, lx->push_hdr, lx->push_kind, false);
	if (r != R_OK)
		return r;
	C->chain = (uint32_t) lx->nchains;
	C->pbase = lx->npend;
	lx->chains[lx->nchains++] = RES_PENDING;
	lx->nlv++;
	return R_OK;
}

/* ---------------------------------------------------------------- API */

/* Set up lx for one split; R_FAIL when the §d.2 directive line is bad. */
static int
lexer_init(lexer *lx, const char *src, size_t len, unsigned flags, mig_err *err)
{
	memset(lx, 0, sizeof(*lx));
	lx->s = (const unsigned char *) (src ? src : "");
	lx->n = src ? len : 0;
	lx->flags = flags;
	lx->err = err;
	lx->nl.from = lx->cc.from = lx->dq.from = NONE;
	build_tables(lx);
	lx->caplv = 8;
	lx->lv = mig_alloc(lx->caplv * sizeof(level));
	if (lx->lv == NULL)
		return R_NOMEM;
	lx->nlv = 1;
	return init_level(lx, &lx->lv[0], 0, K_TOP, true);
}

static void
lexer_free(lexer *lx)
{
	while (lx->arena)
	{
		dblk	   *next = lx->arena->next;

		mig_free(lx->arena);
		lx->arena = next;
	}
	mig_free(lx->lv);
	memo_free(&lx->starts);
	memo_free(&lx->conts);
	memo_free(&lx->dids);
	mig_free(lx->dtext);
	mig_free(lx->chains);
	mig_free(lx->sres);
	mig_free(lx->pend);
}

/* Hand a finished top-level statement [a, b) to the caller. */
static int
deliver(lexer *lx, size_t a, size_t b, mig_stmts *out, mig_lex_emit emit, void *arg)
{
	const char *text = (const char *) lx->s + a;
	int			rc;

	if (emit == NULL)
		return push_stmt(out, text, b - a) == MIG_OK ? MIG_OK :
			mig_err_set(lx->err, MIG_ENOMEM, "out of memory");
	rc = emit(arg, text, b - a);
	if (rc != MIG_OK)
		mig_err_set(lx->err, rc, "statement splitting stopped");
	return rc;
}

/*
 * Nested level L's scan is over with outcome res (RES_FAIL or the end of
 * its block): record it for every start it passed and pop it.  Returns
 * where the parent's statement ends with the block, or NONE when it was not
 * a block and the parent resumes after the BEGIN header.
 */
static size_t
pop_level(lexer *lx, level *L, size_t res)
{
	size_t		np;

	lx->chains[L->chain] = res;
	np = res == RES_FAIL ? NONE : L->hdr + (res - L->base);

	/*
	 * BEGIN TRY's step back and a body's directive line land the parent
	 * before where L stopped: it will read that again.
	 */
	if (np != NONE && np < L->win)
		lx->memo_on = true;
	lx->nlv--;
	return np;
}

/*
 * Level L stopped with r (R_EMIT, R_HIT, or a nested R_EOF / R_FAIL).
 * Emit the statement at the top level; in a nested level, a statement that
 * ends the block (§d.3 rules 13-15) ends the parent's statement too, which
 * may close the grandparent's block, and so on up.  MIG_OK or an error
 * (err set).
 */
static int
close_stmt(lexer *lx, level *L, int r, mig_stmts *out, mig_lex_emit emit, void *arg)
{
	size_t		res = RES_PENDING,	/* R_EMIT: decided below */
				a = lx->em_ts,
				b = lx->em_te,
				back,
				np;

	if (r == R_EOF || r == R_FAIL)
	{
		settle_stmt(lx, L, S_FAIL, 0, 0);

		/*
		 * Until a nested scan fails (or a block lands its parent short of
		 * its end, pop_level()), no region is read twice, so no lookup
		 * could hit: the memo starts here.
		 */
		lx->memo_on = true;
		res = RES_FAIL;
	}
	else if (r == R_HIT)
		res = lx->hit;
	for (;;)
	{
		if (res == RES_PENDING)
		{
			finish_text(lx, L, &a, &b);
			if (lx->nlv == 1)
				return deliver(lx, a, b, out, emit, arg);
			if (!block_end(lx, L->kind, a, b, &back))
				return MIG_OK;
			res = L->win - back;
		}
		np = pop_level(lx, L, res);
		if (np == NONE)
			return MIG_OK;
		L = &lx->lv[lx->nlv - 1];
		settle_stmt(lx, L, S_END, np, np);
		a = L->win;
		b = np;
		L->win = L->cur = np;
		L->fresh = true;
		res = RES_PENDING;
	}
}

/*
 * Split src into statements (§d).  The driver: run the top level; on a
 * BEGIN header push a nested level; when a nested level reaches its END
 * (or fails, or hits the memo) pop it and let the parent emit or go on.
 */
static int
split(const char *src, size_t len, unsigned flags, mig_stmts *out,
	  mig_lex_emit emit, void *arg, mig_err *err)
{
	lexer		lx;
	size_t		n0 = out ? out->n : 0;
	int			rc = MIG_OK;
	int			r;

	r = lexer_init(&lx, src, len, flags, err);
	while (r == R_OK)
	{
		level	   *L = &lx.lv[lx.nlv - 1];
		bool		top = lx.nlv == 1;

		r = run(&lx, L, top);
		if (r == R_PUSH)
		{
			/* on R_FAIL the parent carries on after the header */
			r = push_level(&lx);
			if (r == R_FAIL)
			{
				lx.memo_on = true;
				r = R_OK;
			}
		}
		else if (r == R_EOF && top)
			break;
		else if (r != R_NOMEM && !(r == R_FAIL && top))
		{
			rc = close_stmt(&lx, L, r, out, emit, arg);
			r = R_OK;
			if (rc != MIG_OK)
				break;
		}
	}
	if (r == R_NOMEM)
		rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
	else if (r == R_FAIL)
		rc = lx.code;
	if (rc != MIG_OK && out)
		out->n = n0;
	lexer_free(&lx);
	return rc;
}

int
mig_lex_split(const char *src, size_t len, unsigned flags, mig_stmts *out, mig_err *err)
{
	return split(src, len, flags, out, NULL, NULL, err);
}

int
mig_lex_each(const char *src, size_t len, unsigned flags, mig_lex_emit emit, void *arg,
			 mig_err *err)
{
	return split(src, len, flags, NULL, emit, arg, err);
}

void
mig_stmts_free(mig_stmts *s)
{
	if (s == NULL)
		return;
	mig_free(s->v);
	s->v = NULL;
	s->n = 0;
	s->cap = 0;
}

/* ---------------------------------------------------------------- options */

static const struct
{
	const char *name;
	unsigned	flags;
}			lex_words[] =
{
	{"postgres", MIG_LEX_POSTGRES},
	{"sqlite", MIG_LEX_SQLITE},
	{"generic", MIG_LEX_GENERIC},
	{"mysql", MIG_LEX_MYSQL},
	{"MatchBegin", MIG_LEX_BEGIN},
	{"MatchBeginAtomic", MIG_LEX_BEGIN_ATOMIC},
	{"MatchBeginTryCatch", MIG_LEX_BEGIN_TRYCATCH},
	{"MatchDollarQuote", MIG_LEX_DOLLAR},
	{"BackslashEscapes", MIG_LEX_BACKSLASH},
	{"EscapedStringExt", MIG_LEX_ESCAPED_EXT},
	{"HashComments", MIG_LEX_HASH_COMMENTS},
	{"GoCommand", MIG_LEX_GO},
	{"BeginEndTerminator", MIG_LEX_BEGIN_END_TERM},
	{"OmitDelimiter", MIG_LEX_OMIT_DELIM},
};

/*
 * Presets and §d.1 flag names, comma-separated, case-insensitive; a preset
 * may be combined with flags ("postgres, HashComments").  Empty text means
 * no option at all.
 */
int
mig_lex_parse_flags(const char *text, unsigned *flags, mig_err *err)
{
	const char *p = text ? text : "";
	unsigned	acc = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
	{
		*flags = 0;
		return MIG_OK;
	}
	for (;;)
	{
		const char *w,
				   *e;
		size_t		wl,
					i;
		bool		found = false;

		while (*p == ' ' || *p == '\t')
			p++;
		w = p;
		while (*p && *p != ',')
			p++;
		e = p;
		while (e > w && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		wl = (size_t) (e - w);
		for (i = 0; i < sizeof(lex_words) / sizeof(lex_words[0]); i++)
			if (strlen(lex_words[i].name) == wl && strncasecmp(w, lex_words[i].name, wl) == 0)
			{
				acc |= lex_words[i].flags;
				found = true;
				break;
			}
		if (!found)
		{
			if (wl == 0)
				return mig_err_set(err, MIG_EINVAL, "empty scanner option in \"%s\"", text);
			return mig_err_set(err, MIG_EINVAL,
							   "unknown scanner option \"%.*s\" (expected postgres, sqlite, "
							   "generic, mysql or flags such as MatchBegin, MatchDollarQuote)",
							   (int) (wl > 200 ? 200 : wl), w);
		}
		if (*p == '\0')
			break;
		p++;					/* the comma */
	}
	*flags = acc;
	return MIG_OK;
}
