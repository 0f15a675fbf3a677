/*
 * hcl.c - the atlas.hcl subset (spec §i): parse HCL2 native syntax into a
 * syntax tree, check its structure, and evaluate one env into a mig_env.
 *
 * Knows nothing of PostgreSQL or SQLite.  Written from the HCL2 native
 * syntax description and spec §i; no code from HashiCorp HCL or Atlas.
 *
 * Three stages:
 *   1. lexer + recursive-descent parser -> blocks, attributes, expressions
 *      (everything lives in one arena, freed by mig_hcl_free);
 *   2. structural check (mig_hcl_parse): known blocks and attributes,
 *      variable types, known functions, references to declared variables,
 *      locals and data sources.  Every problem is MIG_ECONFIG "L:C: ...";
 *   3. evaluation (mig_hcl_env): env selection (§i.3), variable values
 *      (caller's vars win over defaults), then the atlas/cloud block and the
 *      selected env, with values in a second, size-capped arena.
 *
 * What is evaluated and what is only syntax-checked: attributes apply reads
 * (variable type/default, locals, atlas.cloud.*, env name/url/for_each and
 * migration dir/revisions_schema/baseline/exec_order/lock_timeout/tx_mode)
 * have their functions and references checked at parse time.  Attributes
 * and blocks Atlas defines but apply ignores (see the ignored_* tables) are
 * parsed for syntax only: they may use functions and data sources we do
 * not implement without making the config unusable here.
 *
 * Limits: nesting (blocks, brackets, operators, templates) is capped at
 * MAX_DEPTH levels; evaluation of one env may allocate at most
 * EVAL_LIMIT bytes.  Error messages name attributes, blocks, variables and
 * positions, never attribute values (the cloud token must never show up).
 */
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mig.h"

#define MAX_DEPTH 64			/* nesting of blocks and expressions */
#define EVAL_MAX_DEPTH 256		/* evaluation frames, through locals */
#define EVAL_LIMIT ((size_t) 16 << 20)	/* bytes per mig_hcl_env call */
#define EVAL_MAX_WORK 20000000L	/* value visits per mig_hcl_env call */

#define CLOUD_URL_DEFAULT "https://api.atlasgo.cloud/query"
#define CLOUD_PROJECT_DEFAULT "default"
#define CONFIG_NAME "atlas.hcl"

/* ---------------------------------------------------------------- arena */

/*
 * A bump allocator over mig_alloc'd chunks.  The syntax tree and the values
 * of one evaluation each live in one arena, so error paths free everything
 * with one call.
 */
typedef struct chunk
{
	struct chunk *next;
	size_t		used;
	size_t		cap;
} chunk;

#define ALIGN_UP(n) (((n) + 15) & ~(size_t) 15)
#define CHUNK_HDR ALIGN_UP(sizeof(chunk))
#define CHUNK_MIN ((size_t) 16384)

typedef struct arena
{
	chunk	   *head;
	size_t		total;			/* bytes handed out */
	size_t		limit;			/* 0 = no limit */
	bool		wipe;			/* zero chunks before freeing (secrets) */
	bool		over;			/* an allocation failed on the limit */
} arena;

static void
arena_init(arena *a, size_t limit, bool wipe)
{
	a->head = NULL;
	a->total = 0;
	a->limit = limit;
	a->wipe = wipe;
	a->over = false;
}

static void *
arena_alloc(arena *a, size_t n)
{
	chunk	   *c = a->head;
	char	   *p;

	if (n > SIZE_MAX / 2)
		return NULL;
	n = ALIGN_UP(n ? n : 1);
	if (a->limit && (n > a->limit || a->total > a->limit - n))
	{
		a->over = true;
		return NULL;
	}
	if (c == NULL || c->cap - c->used < n)
	{
		size_t		cap = n > CHUNK_MIN ? n : CHUNK_MIN;

		c = mig_alloc(CHUNK_HDR + cap);
		if (c == NULL)
			return NULL;
		c->used = 0;
		c->cap = cap;
		/* a big one-off allocation must not strand the current chunk */
		if (n > CHUNK_MIN / 2 && a->head)
		{
			c->next = a->head->next;
			a->head->next = c;
		}
		else
		{
			c->next = a->head;
			a->head = c;
		}
	}
	p = (char *) c + CHUNK_HDR + c->used;
	c->used += n;
	a->total += n;
	return p;
}

static void *
arena_zalloc(arena *a, size_t n)
{
	void	   *p = arena_alloc(a, n);

	if (p)
		memset(p, 0, n);
	return p;
}

static char *
arena_strndup(arena *a, const char *s, size_t n)
{
	char	   *p = arena_alloc(a, n + 1);

	if (p == NULL)
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void
arena_free(arena *a)
{
	chunk	   *c = a->head;

	while (c)
	{
		chunk	   *next = c->next;

		if (a->wipe)
		{
			volatile char *v = (volatile char *) c + CHUNK_HDR;
			size_t		i;

			for (i = 0; i < c->used; i++)
				v[i] = 0;
		}
		mig_free(c);
		c = next;
	}
	a->head = NULL;
	a->total = 0;
}

/* Grow an arena array of elem-sized items holding n, capacity *cap. */
static void *
arena_grow(arena *a, void *old, size_t n, size_t *cap, size_t elem)
{
	size_t		ncap;
	void	   *p;

	if (n < *cap)
		return old;
	ncap = *cap ? *cap * 2 : 4;
	if (ncap > SIZE_MAX / 2 / elem)
		return NULL;
	p = arena_alloc(a, ncap * elem);
	if (p == NULL)
		return NULL;
	if (n)
		memcpy(p, old, n * elem);
	*cap = ncap;
	return p;
}

/* ---------------------------------------------------------------- syntax tree */

typedef enum ekind
{
	E_NULL,
	E_BOOL,
	E_NUM,
	E_STR,						/* string without interpolation */
	E_TMPL,						/* template: parts are E_STR or expressions */
	E_LIST,
	E_OBJECT,					/* items: key, value, key, value, ... */
	E_IDENT,					/* a bare name (traversal root, enum word) */
	E_ATTR,						/* x.name */
	E_INDEX,					/* x[y] */
	E_CALL,						/* name(items...) */
	E_UNARY,					/* op x */
	E_BINARY,					/* x op y */
	E_COND,						/* x ? y : z */
	E_PAREN						/* (x) */
} ekind;

/* Operators beyond single characters. */
enum
{
	OP_EQ = 256,				/* == */
	OP_NE,						/* != */
	OP_LE,						/* <= */
	OP_GE,						/* >= */
	OP_AND,						/* && */
	OP_OR,						/* || */
	OP_ARROW,					/* => */
	OP_ELLIPSIS					/* ... */
};

typedef struct expr expr;
struct expr
{
	ekind		kind;
	int			op;				/* E_UNARY, E_BINARY */
	int			line;
	int			col;
	int			height;			/* 1 + tallest child, capped at MAX_DEPTH */
	size_t		start;			/* source span (type names in messages) */
	size_t		end;
	bool		bval;			/* E_BOOL */
	double		num;			/* E_NUM */
	const char *s;				/* E_STR text; E_IDENT, E_ATTR, E_CALL name */
	size_t		slen;
	expr	   *x;				/* operands */
	expr	   *y;
	expr	   *z;
	expr	  **items;			/* E_TMPL, E_LIST, E_OBJECT, E_CALL */
	size_t		n;
};

typedef struct attr
{
	const char *name;
	int			line;
	int			col;
	expr	   *value;
} attr;

typedef struct block block;

typedef struct body
{
	attr	  **attrs;
	size_t		nattrs;
	block	  **blocks;
	size_t		nblocks;
} body;

struct block
{
	const char *type;
	const char **labels;
	size_t		nlabels;
	int			line;
	int			col;
	body		body;
};

/* Declared variable types (§i.2). */
typedef enum tkind
{
	TY_ANY,						/* no type attribute: values as given */
	TY_STRING,
	TY_NUMBER,
	TY_BOOL,
	TY_LIST,
	TY_SET,
	TY_MAP
} tkind;

typedef struct htype
{
	tkind		k;
	const struct htype *elem;	/* TY_LIST, TY_SET, TY_MAP */
} htype;

typedef struct vardecl
{
	const char *name;
	const block *blk;
	const htype *type;
	const attr *def;			/* NULL: required */
} vardecl;

struct mig_config
{
	arena		ar;
	body		root;
	vardecl    *vars;			/* sorted by name */
	size_t		nvars;
	const attr **locals;		/* sorted by name */
	size_t		nlocals;
	const block **data;
	size_t		ndata;
	const block **envs;			/* source order */
	size_t		nenvs;
	const block *cloud;			/* atlas { cloud { } }, or NULL */
	bool		uses_getenv;	/* a getenv() call anywhere */
	bool		deny_getenv;	/* evaluating getenv() is MIG_EPERM */
};

/* ---------------------------------------------------------------- block schemas */

/*
 * Top-level blocks Atlas defines that apply does not use: accepted, syntax
 * only.  (`data` and `locals` are handled, not ignored.)
 */
static const char *const ignored_top[] = {"lint", "diff", "docker", NULL};

/* In env: read by other Atlas commands, ignored by apply (§i.2). */
static const char *const ignored_env[] = {
	"dev", "src", "schemas", "exclude", "lint", "diff", "test", "format", "log", NULL
};

/* In env.migration: ignored by apply (§i.2). */
static const char *const ignored_migration[] = {"exclude", "repo", "format", NULL};

static const char *const env_attrs[] = {"name", "url", "for_each", NULL};
static const char *const migration_attrs[] = {
	"dir", "revisions_schema", "baseline", "exec_order", "lock_timeout", "tx_mode", NULL
};
static const char *const cloud_attrs[] = {"token", "url", "project", "ca_file", "timeout", NULL};
static const char *const variable_attrs[] = {"type", "default", "description", NULL};

/* Scoped enum words of migration.exec_order (§i.1). */
static const char *const exec_order_enums[] = {"LINEAR", "LINEAR_SKIP", "NON_LINEAR", NULL};

static bool
in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------------------- lexer */

typedef struct lexstate
{
	size_t		pos;
	int			line;
	int			col;
} lexstate;

typedef enum ttype
{
	T_EOF,
	T_NL,
	T_IDENT,
	T_NUM,
	T_QUOTE,					/* an opening '"' */
	T_HEREDOC,					/* <<EOS or <<-EOS */
	T_OP						/* punctuation, op holds the char or OP_* */
} ttype;

typedef struct tok
{
	ttype		t;
	int			op;
	size_t		start;
	size_t		len;
	int			line;
	int			col;
	lexstate	end;
	bool		flush;			/* T_HEREDOC: <<- */
	size_t		mstart;			/* T_HEREDOC: the marker */
	size_t		mlen;
} tok;

typedef struct parser
{
	const char *src;
	size_t		len;
	lexstate	st;
	size_t		last_end;		/* end of the last consumed token */
	int			nlskip;			/* > 0: newlines are whitespace */
	int			depth;
	bool		secret;			/* parsing a token: never echo source text */
	bool		uses_getenv;	/* check_expr saw a getenv() call */
	arena	   *ar;
	mig_err    *err;
} parser;

static int	perr(parser *p, int line, int col, const char *fmt,...)
			__attribute__((format(printf, 4, 5)));

static int
perr(parser *p, int line, int col, const char *fmt,...)
{
	char		msg[1024];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mig_err_set(p->err, MIG_ECONFIG, "%d:%d: %s", line, col, msg);
}

static int
poom(parser *p)
{
	return mig_err_set(p->err, MIG_ENOMEM, "out of memory");
}

static bool
is_ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
is_ident_char(int c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9') || c == '-';
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Move s forward n bytes, counting lines and (UTF-8 aware) columns. */
static void
advance(const char *src, lexstate *s, size_t n)
{
	while (n-- > 0)
	{
		unsigned char c = (unsigned char) src[s->pos++];

		if (c == '\n')
		{
			s->line++;
			s->col = 1;
		}
		else if ((c & 0xC0) != 0x80)
			s->col++;
	}
}

static int
bad_char(parser *p, const lexstate *s)
{
	unsigned char c = (unsigned char) p->src[s->pos];

	if (c > 0x20 && c < 0x7f)
		return perr(p, s->line, s->col, "invalid character '%c'", c);
	return perr(p, s->line, s->col, "invalid character (byte 0x%02x)", c);
}

/* Read the next token at p->st without consuming it. */
static int
lex(parser *p, tok *t)
{
	const char *src = p->src;
	size_t		n = p->len;
	lexstate	s = p->st;
	char		c;
	char		d;

	memset(t, 0, sizeof(*t));
	for (;;)
	{
		if (s.pos >= n)
		{
			t->t = T_EOF;
			t->start = s.pos;
			t->line = s.line;
			t->col = s.col;
			t->end = s;
			return MIG_OK;
		}
		c = src[s.pos];
		d = s.pos + 1 < n ? src[s.pos + 1] : '\0';
		if (c == ' ' || c == '\t' || c == '\r')
		{
			advance(src, &s, 1);
			continue;
		}
		if (c == '\n')
		{
			if (p->nlskip > 0)
			{
				advance(src, &s, 1);
				continue;
			}
			t->t = T_NL;
			t->start = s.pos;
			t->len = 1;
			t->line = s.line;
			t->col = s.col;
			advance(src, &s, 1);
			t->end = s;
			return MIG_OK;
		}
		if (c == '#' || (c == '/' && d == '/'))
		{
			while (s.pos < n && src[s.pos] != '\n')
				advance(src, &s, 1);
			continue;
		}
		if (c == '/' && d == '*')
		{
			lexstate	open = s;

			advance(src, &s, 2);
			while (s.pos + 1 < n && !(src[s.pos] == '*' && src[s.pos + 1] == '/'))
				advance(src, &s, 1);
			if (s.pos + 1 >= n)
				return perr(p, open.line, open.col, "unterminated comment");
			advance(src, &s, 2);
			continue;
		}
		break;
	}

	t->start = s.pos;
	t->line = s.line;
	t->col = s.col;
	if (is_ident_start((unsigned char) c))
	{
		size_t		e = s.pos + 1;

		while (e < n && is_ident_char((unsigned char) src[e]))
			e++;
		t->t = T_IDENT;
		t->len = e - s.pos;
	}
	else if (is_digit((unsigned char) c))
	{
		size_t		e = s.pos;

		while (e < n && is_digit((unsigned char) src[e]))
			e++;
		if (e + 1 < n && src[e] == '.' && is_digit((unsigned char) src[e + 1]))
		{
			e++;
			while (e < n && is_digit((unsigned char) src[e]))
				e++;
		}
		if (e < n && (src[e] == 'e' || src[e] == 'E'))
		{
			size_t		f = e + 1;

			if (f < n && (src[f] == '+' || src[f] == '-'))
				f++;
			if (f < n && is_digit((unsigned char) src[f]))
			{
				e = f;
				while (e < n && is_digit((unsigned char) src[e]))
					e++;
			}
		}
		if (e < n && is_ident_char((unsigned char) src[e]) && src[e] != '-')
			return perr(p, s.line, s.col, "invalid number");
		t->t = T_NUM;
		t->len = e - s.pos;
	}
	else if (c == '"')
	{
		t->t = T_QUOTE;
		t->len = 1;
	}
	else if (c == '<' && d == '<')
	{
		size_t		e = s.pos + 2;

		if (e < n && src[e] == '-')
		{
			t->flush = true;
			e++;
		}
		if (e >= n || !is_ident_start((unsigned char) src[e]))
			return perr(p, s.line, s.col, "invalid heredoc: expected an identifier after \"<<\"");
		t->mstart = e;
		while (e < n && is_ident_char((unsigned char) src[e]))
			e++;
		t->mlen = e - t->mstart;
		t->t = T_HEREDOC;
		t->len = e - s.pos;
	}
	else
	{
		static const struct
		{
			const char *text;
			int			op;
		}			two[] = {
			{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE},
			{"&&", OP_AND}, {"||", OP_OR}, {"=>", OP_ARROW}
		};
		size_t		i;

		t->t = T_OP;
		if (c == '.' && d == '.' && s.pos + 2 < n && src[s.pos + 2] == '.')
		{
			t->op = OP_ELLIPSIS;
			t->len = 3;
		}
		else
		{
			for (i = 0; i < sizeof(two) / sizeof(two[0]); i++)
				if (c == two[i].text[0] && d == two[i].text[1])
				{
					t->op = two[i].op;
					t->len = 2;
					break;
				}
			if (t->len == 0)
			{
				if (c == '\0' || strchr("{}[]()=:,.?!+-*/%<>~", c) == NULL)
					return bad_char(p, &s);
				t->op = (unsigned char) c;
				t->len = 1;
			}
		}
	}
	t->end = s;
	advance(src, &t->end, t->len);
	return MIG_OK;
}

static void
take(parser *p, const tok *t)
{
	p->st = t->end;
	p->last_end = t->end.pos;
}

static bool
is_op(const tok *t, int op)
{
	return t->t == T_OP && t->op == op;
}

/* A short description of a token for "expected X, found Y" messages. */
static const char *
tokdesc(const parser *p, const tok *t, char *buf, size_t size)
{
	switch (t->t)
	{
		case T_EOF:
			return "end of file";
		case T_NL:
			return "newline";
		case T_IDENT:
			if (p->secret)
				return "a name";
			snprintf(buf, size, "\"%.*s\"", t->len > 40 ? 40 : (int) t->len, p->src + t->start);
			return buf;
		case T_NUM:
			return "a number";
		case T_QUOTE:
			return "a string";
		case T_HEREDOC:
			return "a heredoc";
		case T_OP:
			switch (t->op)
			{
				case OP_EQ:
					return "\"==\"";
				case OP_NE:
					return "\"!=\"";
				case OP_LE:
					return "\"<=\"";
				case OP_GE:
					return "\">=\"";
				case OP_AND:
					return "\"&&\"";
				case OP_OR:
					return "\"||\"";
				case OP_ARROW:
					return "\"=>\"";
				case OP_ELLIPSIS:
					return "\"...\"";
				default:
					snprintf(buf, size, "\"%c\"", t->op);
					return buf;
			}
	}
	return "?";
}

static int
expected(parser *p, const tok *t, const char *what)
{
	char		buf[48];

	return perr(p, t->line, t->col, "expected %s, found %s", what, tokdesc(p, t, buf, sizeof(buf)));
}

/* Consume the operator op or fail with "expected <what>". */
static int
expect_op(parser *p, int op, const char *what)
{
	tok			t;
	int			rc;

	if ((rc = lex(p, &t)) != MIG_OK)
		return rc;
	if (!is_op(&t, op))
		return expected(p, &t, what);
	take(p, &t);
	return MIG_OK;
}

/* ---------------------------------------------------------------- parser: expressions */

static int	parse_expr(parser *p, expr **out);

static expr *
new_expr(parser *p, ekind kind, int line, int col, size_t start)
{
	expr	   *e = arena_zalloc(p->ar, sizeof(expr));

	if (e == NULL)
		return NULL;
	e->kind = kind;
	e->line = line;
	e->col = col;
	e->start = start;
	e->height = 1;
	return e;
}

/* Set e's height and source end once its children are in place. */
static int
seal(parser *p, expr *e)
{
	int			h = 0;
	size_t		i;

	if (e->x && e->x->height > h)
		h = e->x->height;
	if (e->y && e->y->height > h)
		h = e->y->height;
	if (e->z && e->z->height > h)
		h = e->z->height;
	for (i = 0; i < e->n; i++)
		if (e->items[i] && e->items[i]->height > h)
			h = e->items[i]->height;
	e->height = h + 1;
	e->end = p->last_end;
	if (e->height > MAX_DEPTH)
		return perr(p, e->line, e->col, "expression nested too deeply (more than %d levels)", MAX_DEPTH);
	return MIG_OK;
}

static int
push_item(parser *p, expr *e, size_t *cap, expr *item)
{
	expr	  **v = arena_grow(p->ar, e->items, e->n, cap, sizeof(expr *));

	if (v == NULL)
		return poom(p);
	e->items = v;
	e->items[e->n++] = item;
	return MIG_OK;
}

static int
enter(parser *p, int line, int col)
{
	if (++p->depth > MAX_DEPTH)
		return perr(p, line, col, "nesting too deep (more than %d levels)", MAX_DEPTH);
	return MIG_OK;
}

/* Append the UTF-8 encoding of cp. */
static int
put_utf8(mig_buf *b, unsigned long cp)
{
	char		u[4];
	size_t		n;

	if (cp < 0x80)
	{
		u[0] = (char) cp;
		n = 1;
	}
	else if (cp < 0x800)
	{
		u[0] = (char) (0xC0 | (cp >> 6));
		u[1] = (char) (0x80 | (cp & 0x3F));
		n = 2;
	}
	else if (cp < 0x10000)
	{
		u[0] = (char) (0xE0 | (cp >> 12));
		u[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char) (0x80 | (cp & 0x3F));
		n = 3;
	}
	else
	{
		u[0] = (char) (0xF0 | (cp >> 18));
		u[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char) (0x80 | (cp & 0x3F));
		n = 4;
	}
	return mig_buf_append(b, u, n);
}

static bool
is_tmpl_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Does a heredoc closing line (blanks, marker, end of line) start at pos? */
static bool
heredoc_close(const parser *p, size_t pos, const tok *h, size_t *after)
{
	const char *src = p->src;
	size_t		n = p->len;

	while (pos < n && (src[pos] == ' ' || src[pos] == '\t'))
		pos++;
	if (n - pos < h->mlen || memcmp(src + pos, src + h->mstart, h->mlen) != 0)
		return false;
	*after = pos + h->mlen;
	pos = *after;
	if (pos < n && src[pos] == '\r')
		pos++;
	return pos >= n || src[pos] == '\n';
}

/*
 * Template scanning modes: a quoted string, a heredoc body, or a block
 * label (a quoted string without interpolation).
 */
typedef enum tmode
{
	TM_QUOTED,
	TM_HEREDOC,
	TM_LABEL
} tmode;

/* Move the literal text in lit into a new E_STR part of t. */
static int
flush_lit(parser *p, expr *t, size_t *cap, mig_buf *lit, int line, int col)
{
	expr	   *s;

	if (lit->oom)
		return poom(p);
	if (lit->len == 0)
		return MIG_OK;
	s = new_expr(p, E_STR, line, col, p->st.pos);
	if (s == NULL || (s->s = arena_strndup(p->ar, lit->data, lit->len)) == NULL)
		return poom(p);
	s->slen = lit->len;
	s->end = p->st.pos;
	mig_buf_reset(lit);
	return push_item(p, t, cap, s);
}

/*
 * Parse the rest of a template after its opening token `open` (p->st is
 * just past it): literal text with escapes (quoted only), ${ expr }
 * interpolations with ~ strip markers, $${ and %%{ escapes.  A template
 * that is one literal becomes E_STR.
 */
static int
parse_template(parser *p, const tok *open, tmode mode, expr **out)
{
	const char *src = p->src;
	size_t		n = p->len;
	mig_buf		lit;
	expr	   *t;
	size_t		cap = 0;
	size_t		indent = 0;
	bool		line_start = false;
	bool		strip_next = false;
	int			lit_line = 0,
				lit_col = 0;
	int			rc = MIG_OK;

	mig_buf_init(&lit);
	t = new_expr(p, E_TMPL, open->line, open->col, open->start);
	if (t == NULL)
		return poom(p);

	if (mode == TM_HEREDOC)
	{
		size_t		pos = p->st.pos;
		size_t		after;
		bool		found = false;
		size_t		minind = (size_t) -1;

		if (pos < n && src[pos] == '\r')
			pos++;
		if (pos >= n || src[pos] != '\n')
		{
			rc = perr(p, open->line, open->col,
					  "invalid heredoc: a newline must follow the opening marker");
			goto done;
		}
		advance(src, &p->st, pos + 1 - p->st.pos);
		/* find the closing line; <<- also measures the common indentation */
		pos = p->st.pos;
		while (pos <= n)
		{
			size_t		eol = pos;
			size_t		ind = 0;

			if (heredoc_close(p, pos, open, &after))
			{
				found = true;
				break;
			}
			while (eol < n && src[eol] != '\n')
				eol++;
			while (pos + ind < eol && (src[pos + ind] == ' ' || src[pos + ind] == '\t'))
				ind++;
			if (pos + ind < eol && !(src[pos + ind] == '\r' && pos + ind + 1 == eol) &&
				ind < minind)
				minind = ind;
			if (eol >= n)
				break;
			pos = eol + 1;
		}
		if (!found && p->secret)
		{
			rc = perr(p, open->line, open->col, "unterminated heredoc");
			goto done;
		}
		if (!found)
		{
			rc = perr(p, open->line, open->col,
					  "unterminated heredoc: no closing line \"%.*s\"",
					  open->mlen > 64 ? 64 : (int) open->mlen, src + open->mstart);
			goto done;
		}
		indent = open->flush && minind != (size_t) -1 ? minind : 0;
		line_start = true;
	}

	for (;;)
	{
		char		c;

		if (mode == TM_HEREDOC && line_start)
		{
			size_t		after;
			size_t		k = 0;

			if (heredoc_close(p, p->st.pos, open, &after))
			{
				if ((rc = flush_lit(p, t, &cap, &lit, lit_line, lit_col)) != MIG_OK)
					goto done;
				advance(src, &p->st, after - p->st.pos);
				break;
			}
			while (k < indent && p->st.pos < n &&
				   (src[p->st.pos] == ' ' || src[p->st.pos] == '\t'))
			{
				advance(src, &p->st, 1);
				k++;
			}
			line_start = false;
		}
		if (p->st.pos >= n)
		{
			rc = perr(p, open->line, open->col, mode == TM_HEREDOC ?
					  "unterminated heredoc" : "unterminated string");
			goto done;
		}
		c = src[p->st.pos];
		if (lit.len == 0)
		{
			lit_line = p->st.line;
			lit_col = p->st.col;
		}
		if (c == '\0')
		{
			rc = perr(p, p->st.line, p->st.col, "invalid character (byte 0x00)");
			goto done;
		}
		if (mode != TM_HEREDOC && c == '"')
		{
			advance(src, &p->st, 1);
			if ((rc = flush_lit(p, t, &cap, &lit, lit_line, lit_col)) != MIG_OK)
				goto done;
			break;
		}
		if (mode != TM_HEREDOC && c == '\n')
		{
			rc = perr(p, open->line, open->col, "unterminated string: a quoted string cannot span lines");
			goto done;
		}
		if (strip_next && is_tmpl_space(c))
		{
			advance(src, &p->st, 1);
			if (c == '\n')
				line_start = true;
			continue;
		}
		strip_next = false;
		if (mode != TM_HEREDOC && c == '\\')
		{
			lexstate	esc = p->st;
			char		e = p->st.pos + 1 < n ? src[p->st.pos + 1] : '\0';
			unsigned long cp = 0;
			int			digits = 0;
			int			i;

			switch (e)
			{
				case 'n':
					mig_buf_putc(&lit, '\n');
					break;
				case 't':
					mig_buf_putc(&lit, '\t');
					break;
				case 'r':
					mig_buf_putc(&lit, '\r');
					break;
				case '"':
					mig_buf_putc(&lit, '"');
					break;
				case '\\':
					mig_buf_putc(&lit, '\\');
					break;
				case 'u':
					digits = 4;
					break;
				case 'U':
					digits = 8;
					break;
				default:
					rc = perr(p, esc.line, esc.col, "invalid escape sequence in string");
					goto done;
			}
			if (digits)
			{
				for (i = 0; i < digits; i++)
				{
					size_t		q = p->st.pos + 2 + (size_t) i;
					char		h = q < n ? src[q] : '\0';
					int			v;

					if (h >= '0' && h <= '9')
						v = h - '0';
					else if (h >= 'a' && h <= 'f')
						v = h - 'a' + 10;
					else if (h >= 'A' && h <= 'F')
						v = h - 'A' + 10;
					else
					{
						rc = perr(p, esc.line, esc.col, "invalid escape sequence in string: \\%c needs %d hex digits", e, digits);
						goto done;
					}
					cp = cp * 16 + (unsigned long) v;
				}
				if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
				{
					rc = perr(p, esc.line, esc.col, "invalid escape sequence in string: not a valid character");
					goto done;
				}
				put_utf8(&lit, cp);
			}
			advance(src, &p->st, 2 + (size_t) digits);
			continue;
		}
		if ((c == '$' || c == '%') && p->st.pos + 2 < n && src[p->st.pos + 1] == c &&
			src[p->st.pos + 2] == '{')
		{
			/* $${ and %%{ are a literal ${ and %{ */
			mig_buf_putc(&lit, c);
			mig_buf_putc(&lit, '{');
			advance(src, &p->st, 3);
			continue;
		}
		if (c == '%' && p->st.pos + 1 < n && src[p->st.pos + 1] == '{')
		{
			rc = perr(p, p->st.line, p->st.col,
					  "template directives (%%{ ... }) are not supported; use $${ for interpolation");
			goto done;
		}
		if (c == '$' && p->st.pos + 1 < n && src[p->st.pos + 1] == '{')
		{
			lexstate	at = p->st;
			expr	   *e;
			tok			k;

			if (mode == TM_LABEL)
			{
				rc = perr(p, at.line, at.col, "block labels cannot contain template interpolation");
				goto done;
			}
			advance(src, &p->st, 2);
			if (p->st.pos < n && src[p->st.pos] == '~')
			{
				while (lit.len > 0 && is_tmpl_space(lit.data[lit.len - 1]))
					lit.data[--lit.len] = '\0';
				advance(src, &p->st, 1);
			}
			if ((rc = flush_lit(p, t, &cap, &lit, lit_line, lit_col)) != MIG_OK)
				goto done;
			if ((rc = enter(p, at.line, at.col)) != MIG_OK)
				goto done;
			p->nlskip++;
			rc = parse_expr(p, &e);
			if (rc == MIG_OK)
				rc = lex(p, &k);
			if (rc == MIG_OK && is_op(&k, '~'))
			{
				take(p, &k);
				strip_next = true;
				rc = lex(p, &k);
			}
			if (rc == MIG_OK && !is_op(&k, '}'))
				rc = expected(p, &k, "\"}\" to close the interpolation");
			p->nlskip--;
			p->depth--;
			if (rc != MIG_OK)
				goto done;
			/* k was read with newlines skipped; resume right after the '}' */
			take(p, &k);
			if ((rc = push_item(p, t, &cap, e)) != MIG_OK)
				goto done;
			continue;
		}
		mig_buf_putc(&lit, c);
		advance(src, &p->st, 1);
		if (c == '\n')
			line_start = true;
	}
	p->last_end = p->st.pos;
	if (t->n == 0 || (t->n == 1 && t->items[0]->kind == E_STR))
	{
		expr	   *s = t->n ? t->items[0] : NULL;

		t->kind = E_STR;
		t->s = s ? s->s : "";
		t->slen = s ? s->slen : 0;
		t->items = NULL;
		t->n = 0;
	}
	rc = seal(p, t);
	*out = t;
done:
	mig_buf_free(&lit);
	if (rc == MIG_OK && lit.oom)
		rc = poom(p);
	return rc;
}

/* Parse a decimal number literal (locale-independent). */
static bool
parse_number(const char *s, size_t len, double *out)
{
	char		buf[512];
	char	   *end;
	const char *dp = localeconv()->decimal_point;
	size_t		i;
	bool		digit = false;

	if (len == 0 || len >= sizeof(buf))
		return false;
	/* strict grammar: [+-]digits[.digits][(e|E)[+-]digits] */
	i = 0;
	if (s[i] == '+' || s[i] == '-')
		i++;
	while (i < len && is_digit((unsigned char) s[i]))
	{
		i++;
		digit = true;
	}
	if (i < len && s[i] == '.')
	{
		i++;
		while (i < len && is_digit((unsigned char) s[i]))
		{
			i++;
			digit = true;
		}
	}
	if (!digit)
		return false;
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		bool		exp = false;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < len && is_digit((unsigned char) s[i]))
		{
			i++;
			exp = true;
		}
		if (!exp)
			return false;
	}
	if (i != len)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (dp && dp[0] && dp[0] != '.' && dp[1] == '\0')
	{
		char	   *q = strchr(buf, '.');

		if (q)
			*q = dp[0];
	}
	*out = strtod(buf, &end);
	if (*end != '\0')
		return false;
	/* out of range becomes inf: refuse it */
	return *out == *out && *out - *out == 0;
}

static int
parse_call(parser *p, const tok *name, expr **out)
{
	expr	   *e;
	size_t		cap = 0;
	tok			t;
	int			rc;

	e = new_expr(p, E_CALL, name->line, name->col, name->start);
	if (e == NULL || (e->s = arena_strndup(p->ar, p->src + name->start, name->len)) == NULL)
		return poom(p);
	e->slen = name->len;
	if ((rc = expect_op(p, '(', "\"(\"")) != MIG_OK)
		return rc;
	p->nlskip++;
	for (;;)
	{
		expr	   *arg;

		if ((rc = lex(p, &t)) != MIG_OK)
			break;
		if (is_op(&t, ')'))
		{
			take(p, &t);
			break;
		}
		if ((rc = parse_expr(p, &arg)) != MIG_OK)
			break;
		if ((rc = push_item(p, e, &cap, arg)) != MIG_OK)
			break;
		if ((rc = lex(p, &t)) != MIG_OK)
			break;
		if (is_op(&t, OP_ELLIPSIS))
		{
			rc = perr(p, t.line, t.col, "expanding arguments with \"...\" is not supported");
			break;
		}
		if (is_op(&t, ','))
		{
			take(p, &t);
			continue;
		}
		if (is_op(&t, ')'))
		{
			take(p, &t);
			break;
		}
		rc = expected(p, &t, "\",\" or \")\" in the argument list");
		break;
	}
	p->nlskip--;
	if (rc != MIG_OK)
		return rc;
	*out = e;
	return seal(p, e);
}

static int
parse_list(parser *p, const tok *open, expr **out)
{
	expr	   *e;
	size_t		cap = 0;
	tok			t;
	int			rc = MIG_OK;

	e = new_expr(p, E_LIST, open->line, open->col, open->start);
	if (e == NULL)
		return poom(p);
	p->nlskip++;
	for (;;)
	{
		expr	   *item;

		if ((rc = lex(p, &t)) != MIG_OK)
			break;
		if (is_op(&t, ']'))
		{
			take(p, &t);
			break;
		}
		if (e->n == 0 && t.t == T_IDENT && t.len == 3 && memcmp(p->src + t.start, "for", 3) == 0)
		{
			lexstate	save = p->st;
			size_t		save_end = p->last_end;
			tok			u;

			take(p, &t);
			rc = lex(p, &u);
			p->st = save;
			p->last_end = save_end;
			if (rc == MIG_OK && u.t == T_IDENT)
				rc = perr(p, t.line, t.col, "\"for\" expressions are not supported");
			if (rc != MIG_OK)
				break;
		}
		if ((rc = parse_expr(p, &item)) != MIG_OK)
			break;
		if ((rc = push_item(p, e, &cap, item)) != MIG_OK)
			break;
		if ((rc = lex(p, &t)) != MIG_OK)
			break;
		if (is_op(&t, ','))
		{
			take(p, &t);
			continue;
		}
		if (is_op(&t, ']'))
		{
			take(p, &t);
			break;
		}
		rc = expected(p, &t, "\",\" or \"]\" in the list");
		break;
	}
	p->nlskip--;
	if (rc != MIG_OK)
		return rc;
	*out = e;
	return seal(p, e);
}

static int
parse_object(parser *p, const tok *open, expr **out)
{
	expr	   *e;
	size_t		cap = 0;
	int			saved = p->nlskip;
	tok			t;
	int			rc = MIG_OK;

	e = new_expr(p, E_OBJECT, open->line, open->col, open->start);
	if (e == NULL)
		return poom(p);
	p->nlskip = 0;				/* newlines separate items */
	for (;;)
	{
		expr	   *key;
		expr	   *val;

		if ((rc = lex(p, &t)) != MIG_OK)
			break;
		if (t.t == T_NL)
		{
			take(p, &t);
			continue;
		}
		if (is_op(&t, '}'))
		{
			take(p, &t);
			break;
		}
		if (t.t == T_IDENT)
		{
			tok			u;

			take(p, &t);
			if (e->n == 0 && t.len == 3 && memcmp(p->src + t.start, "for", 3) == 0 &&
				(rc = lex(p, &u)) == MIG_OK && u.t == T_IDENT)
			{
				rc = perr(p, t.line, t.col, "\"for\" expressions are not supported");
				break;
			}
			if (rc != MIG_OK)
				break;
			key = new_expr(p, E_STR, t.line, t.col, t.start);
			if (key == NULL || (key->s = arena_strndup(p->ar, p->src + t.start, t.len)) == NULL)
			{
				rc = poom(p);
				break;
			}
			key->slen = t.len;
			key->end = t.end.pos;
		}
		else if (t.t == T_QUOTE || t.t == T_NUM || is_op(&t, '('))
		{
			if ((rc = parse_expr(p, &key)) != MIG_OK)
				break;
		}
		else
		{
			rc = expected(p, &t, "an object key");
			break;
		}
		if ((rc = lex(p, &t)) != MIG_OK)
			break;
		if (!is_op(&t, '=') && !is_op(&t, ':'))
		{
			rc = expected(p, &t, "\"=\" or \":\" after the object key");
			break;
		}
		take(p, &t);
		if ((rc = parse_expr(p, &val)) != MIG_OK)
			break;
		if ((rc = push_item(p, e, &cap, key)) != MIG_OK ||
			(rc = push_item(p, e, &cap, val)) != MIG_OK)
			break;
		if ((rc = lex(p, &t)) != MIG_OK)
			break;
		if (is_op(&t, ',') || t.t == T_NL)
		{
			take(p, &t);
			continue;
		}
		if (is_op(&t, '}'))
		{
			take(p, &t);
			break;
		}
		rc = expected(p, &t, "\",\", a newline or \"}\" after the object item");
		break;
	}
	p->nlskip = saved;
	if (rc != MIG_OK)
		return rc;
	*out = e;
	return seal(p, e);
}

static int
parse_primary(parser *p, expr **out)
{
	tok			t;
	expr	   *e;
	int			rc;

	if ((rc = lex(p, &t)) != MIG_OK)
		return rc;
	switch (t.t)
	{
		case T_NUM:
			take(p, &t);
			e = new_expr(p, E_NUM, t.line, t.col, t.start);
			if (e == NULL)
				return poom(p);
			if (!parse_number(p->src + t.start, t.len, &e->num))
				return perr(p, t.line, t.col, "invalid number");
			*out = e;
			return seal(p, e);
		case T_IDENT:
			{
				const char *s = p->src + t.start;
				tok			u;

				take(p, &t);
				if ((rc = lex(p, &u)) != MIG_OK)
					return rc;
				if (is_op(&u, '('))
					return parse_call(p, &t, out);
				e = new_expr(p, E_IDENT, t.line, t.col, t.start);
				if (e == NULL)
					return poom(p);
				if (t.len == 4 && memcmp(s, "true", 4) == 0)
				{
					e->kind = E_BOOL;
					e->bval = true;
				}
				else if (t.len == 5 && memcmp(s, "false", 5) == 0)
					e->kind = E_BOOL;
				else if (t.len == 4 && memcmp(s, "null", 4) == 0)
					e->kind = E_NULL;
				else if ((e->s = arena_strndup(p->ar, s, t.len)) == NULL)
					return poom(p);
				e->slen = t.len;
				*out = e;
				return seal(p, e);
			}
		case T_QUOTE:
			take(p, &t);
			return parse_template(p, &t, TM_QUOTED, out);
		case T_HEREDOC:
			take(p, &t);
			return parse_template(p, &t, TM_HEREDOC, out);
		case T_OP:
			if (t.op == '(')
			{
				take(p, &t);
				e = new_expr(p, E_PAREN, t.line, t.col, t.start);
				if (e == NULL)
					return poom(p);
				p->nlskip++;
				rc = parse_expr(p, &e->x);
				if (rc == MIG_OK)
					rc = expect_op(p, ')', "\")\"");
				p->nlskip--;
				if (rc != MIG_OK)
					return rc;
				*out = e;
				return seal(p, e);
			}
			if (t.op == '[')
			{
				take(p, &t);
				return parse_list(p, &t, out);
			}
			if (t.op == '{')
			{
				take(p, &t);
				return parse_object(p, &t, out);
			}
			break;
		default:
			break;
	}
	return expected(p, &t, "an expression");
}

static int
parse_postfix(parser *p, expr **out)
{
	expr	   *e;
	tok			t;
	int			rc;

	if ((rc = parse_primary(p, &e)) != MIG_OK)
		return rc;
	for (;;)
	{
		expr	   *s;

		if ((rc = lex(p, &t)) != MIG_OK)
			return rc;
		if (is_op(&t, '.'))
		{
			tok			u;

			take(p, &t);
			if ((rc = lex(p, &u)) != MIG_OK)
				return rc;
			if (is_op(&u, '*'))
				return perr(p, u.line, u.col, "splat expressions (.*) are not supported");
			if (u.t != T_IDENT && u.t != T_NUM)
				return expected(p, &u, "an attribute name after \".\"");
			take(p, &u);
			s = new_expr(p, u.t == T_IDENT ? E_ATTR : E_INDEX, u.line, u.col, e->start);
			if (s == NULL)
				return poom(p);
			s->x = e;
			if (u.t == T_IDENT)
			{
				if ((s->s = arena_strndup(p->ar, p->src + u.start, u.len)) == NULL)
					return poom(p);
				s->slen = u.len;
			}
			else
			{
				/* legacy index form: list.0 */
				s->y = new_expr(p, E_NUM, u.line, u.col, u.start);
				if (s->y == NULL)
					return poom(p);
				if (!parse_number(p->src + u.start, u.len, &s->y->num))
					return perr(p, u.line, u.col, "invalid index");
				s->y->end = u.end.pos;
			}
		}
		else if (is_op(&t, '['))
		{
			tok			u;

			take(p, &t);
			if ((rc = lex(p, &u)) != MIG_OK)
				return rc;
			if (is_op(&u, '*'))
				return perr(p, u.line, u.col, "splat expressions ([*]) are not supported");
			s = new_expr(p, E_INDEX, t.line, t.col, e->start);
			if (s == NULL)
				return poom(p);
			s->x = e;
			p->nlskip++;
			rc = parse_expr(p, &s->y);
			if (rc == MIG_OK)
				rc = expect_op(p, ']', "\"]\"");
			p->nlskip--;
			if (rc != MIG_OK)
				return rc;
		}
		else
			break;
		if ((rc = seal(p, s)) != MIG_OK)
			return rc;
		e = s;
	}
	*out = e;
	return MIG_OK;
}

static int
parse_unary(parser *p, expr **out)
{
	tok			t;
	expr	   *e;
	int			rc;

	if ((rc = lex(p, &t)) != MIG_OK)
		return rc;
	if (!is_op(&t, '-') && !is_op(&t, '!'))
		return parse_postfix(p, out);
	take(p, &t);
	if ((rc = enter(p, t.line, t.col)) != MIG_OK)
		return rc;
	e = new_expr(p, E_UNARY, t.line, t.col, t.start);
	if (e == NULL)
		rc = poom(p);
	else
	{
		e->op = t.op;
		rc = parse_unary(p, &e->x);
	}
	p->depth--;
	if (rc != MIG_OK)
		return rc;
	*out = e;
	return seal(p, e);
}

/* Binary operator precedence levels, lowest first. */
static int
op_level(const tok *t)
{
	if (t->t != T_OP)
		return -1;
	switch (t->op)
	{
		case OP_OR:
			return 0;
		case OP_AND:
			return 1;
		case OP_EQ:
		case OP_NE:
			return 2;
		case '<':
		case '>':
		case OP_LE:
		case OP_GE:
			return 3;
		case '+':
		case '-':
			return 4;
		case '*':
		case '/':
		case '%':
			return 5;
	}
	return -1;
}

static int
parse_binary(parser *p, int level, expr **out)
{
	expr	   *lhs;
	tok			t;
	int			rc;

	if (level > 5)
		return parse_unary(p, out);
	if ((rc = parse_binary(p, level + 1, &lhs)) != MIG_OK)
		return rc;
	for (;;)
	{
		expr	   *e;

		if ((rc = lex(p, &t)) != MIG_OK)
			return rc;
		if (op_level(&t) != level)
			break;
		take(p, &t);
		e = new_expr(p, E_BINARY, t.line, t.col, lhs->start);
		if (e == NULL)
			return poom(p);
		e->op = t.op;
		e->x = lhs;
		if ((rc = parse_binary(p, level + 1, &e->y)) != MIG_OK)
			return rc;
		if ((rc = seal(p, e)) != MIG_OK)
			return rc;
		lhs = e;
	}
	*out = lhs;
	return MIG_OK;
}

static int
parse_expr(parser *p, expr **out)
{
	expr	   *c;
	expr	   *e;
	tok			t;
	int			rc;

	if ((rc = lex(p, &t)) != MIG_OK)
		return rc;
	if ((rc = enter(p, t.line, t.col)) != MIG_OK)
		return rc;
	rc = parse_binary(p, 0, &c);
	if (rc == MIG_OK)
		rc = lex(p, &t);
	if (rc == MIG_OK && is_op(&t, '?'))
	{
		take(p, &t);
		e = new_expr(p, E_COND, c->line, c->col, c->start);
		if (e == NULL)
			rc = poom(p);
		else
		{
			e->x = c;
			rc = parse_expr(p, &e->y);
			if (rc == MIG_OK)
				rc = expect_op(p, ':', "\":\" in the conditional expression");
			if (rc == MIG_OK)
				rc = parse_expr(p, &e->z);
			if (rc == MIG_OK)
				rc = seal(p, e);
			c = e;
		}
	}
	p->depth--;
	if (rc == MIG_OK)
		*out = c;
	return rc;
}

/* ---------------------------------------------------------------- parser: bodies */

static int
body_push_attr(parser *p, body *b, size_t *cap, attr *a)
{
	attr	  **v = arena_grow(p->ar, b->attrs, b->nattrs, cap, sizeof(attr *));

	if (v == NULL)
		return poom(p);
	b->attrs = v;
	b->attrs[b->nattrs++] = a;
	return MIG_OK;
}

static int
body_push_block(parser *p, body *b, size_t *cap, block *k)
{
	block	  **v = arena_grow(p->ar, b->blocks, b->nblocks, cap, sizeof(block *));

	if (v == NULL)
		return poom(p);
	b->blocks = v;
	b->blocks[b->nblocks++] = k;
	return MIG_OK;
}

/* Order attributes by name, then position, to find duplicates. */
static int
cmp_attr(const void *a, const void *b)
{
	const attr *x = *(const attr *const *) a;
	const attr *y = *(const attr *const *) b;
	int			c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->col < y->col ? -1 : x->col > y->col;
}

/* HCL: an attribute may be set once per body. */
static int
check_dup_attrs(parser *p, const body *b)
{
	attr	  **v;
	size_t		i;

	if (b->nattrs < 2)
		return MIG_OK;
	v = arena_alloc(p->ar, b->nattrs * sizeof(attr *));
	if (v == NULL)
		return poom(p);
	memcpy(v, b->attrs, b->nattrs * sizeof(attr *));
	qsort(v, b->nattrs, sizeof(attr *), cmp_attr);
	for (i = 1; i < b->nattrs; i++)
		if (strcmp(v[i - 1]->name, v[i]->name) == 0)
			return perr(p, v[i]->line, v[i]->col,
						"attribute \"%s\" redefined (first defined at %d:%d)",
						v[i]->name, v[i - 1]->line, v[i - 1]->col);
	return MIG_OK;
}

/* The item after an attribute or a block must end its line. */
static int
end_item(parser *p, bool top)
{
	tok			t;
	int			rc;

	if ((rc = lex(p, &t)) != MIG_OK)
		return rc;
	if (t.t == T_NL)
	{
		take(p, &t);
		return MIG_OK;
	}
	if (t.t == T_EOF || (!top && is_op(&t, '}')))
		return MIG_OK;
	return expected(p, &t, "a newline");
}

static int	parse_body(parser *p, body *b, bool top, const block *owner);

static int
parse_attr(parser *p, const tok *name, attr **out)
{
	attr	   *a = arena_zalloc(p->ar, sizeof(attr));
	int			rc;

	if (a == NULL || (a->name = arena_strndup(p->ar, p->src + name->start, name->len)) == NULL)
		return poom(p);
	a->line = name->line;
	a->col = name->col;
	if ((rc = expect_op(p, '=', "\"=\"")) != MIG_OK)
		return rc;
	/*
	 * A token's text must not reach an error message, even a syntax error;
	 * the caller clears p->secret after the end of the item.
	 */
	p->secret = strcmp(a->name, "token") == 0;
	if ((rc = parse_expr(p, &a->value)) != MIG_OK)
		return rc;
	*out = a;
	return MIG_OK;
}

static int
parse_block(parser *p, const tok *name, block **out)
{
	block	   *k = arena_zalloc(p->ar, sizeof(block));
	size_t		lcap = 0;
	tok			t;
	int			rc;

	if (k == NULL || (k->type = arena_strndup(p->ar, p->src + name->start, name->len)) == NULL)
		return poom(p);
	k->line = name->line;
	k->col = name->col;
	for (;;)
	{
		const char *label;
		const char **v;

		if ((rc = lex(p, &t)) != MIG_OK)
			return rc;
		if (is_op(&t, '{'))
		{
			take(p, &t);
			break;
		}
		if (t.t == T_QUOTE)
		{
			expr	   *s;

			take(p, &t);
			if ((rc = parse_template(p, &t, TM_LABEL, &s)) != MIG_OK)
				return rc;
			label = s->s;
		}
		else if (t.t == T_IDENT)
		{
			take(p, &t);
			if ((label = arena_strndup(p->ar, p->src + t.start, t.len)) == NULL)
				return poom(p);
		}
		else
			return expected(p, &t, k->nlabels == 0 ? "\"=\" or a block" : "\"{\"");
		v = arena_grow(p->ar, (void *) k->labels, k->nlabels, &lcap, sizeof(char *));
		if (v == NULL)
			return poom(p);
		k->labels = v;
		k->labels[k->nlabels++] = label;
	}
	if ((rc = enter(p, k->line, k->col)) != MIG_OK)
		return rc;
	rc = lex(p, &t);
	if (rc == MIG_OK && t.t != T_NL && !is_op(&t, '}'))
	{
		/*
		 * Single-line block: one item.  HCL allows only an attribute here;
		 * we also take one nested block, so `atlas { cloud { token = x } }`
		 * works as written.
		 */
		attr	   *a = NULL;
		block	   *nested = NULL;
		size_t		cap = 0;

		if (t.t != T_IDENT)
			rc = expected(p, &t, "an attribute or a newline");
		else
		{
			tok			u;

			take(p, &t);
			rc = lex(p, &u);
			if (rc == MIG_OK && is_op(&u, '='))
			{
				rc = parse_attr(p, &t, &a);
				if (rc == MIG_OK)
					rc = body_push_attr(p, &k->body, &cap, a);
			}
			else if (rc == MIG_OK)
			{
				rc = parse_block(p, &t, &nested);
				if (rc == MIG_OK)
					rc = body_push_block(p, &k->body, &cap, nested);
			}
			if (rc == MIG_OK)
				rc = lex(p, &t);
			if (rc == MIG_OK && !is_op(&t, '}'))
				rc = perr(p, t.line, t.col, "a single-line block may contain only one attribute or block");
			if (rc == MIG_OK)
				p->secret = false;
		}
	}
	else if (rc == MIG_OK && t.t == T_NL)
	{
		rc = parse_body(p, &k->body, false, k);
		if (rc == MIG_OK)
			rc = lex(p, &t);
	}
	p->depth--;
	if (rc != MIG_OK)
		return rc;
	take(p, &t);				/* the closing '}' */
	if ((rc = check_dup_attrs(p, &k->body)) != MIG_OK)
		return rc;
	*out = k;
	return MIG_OK;
}

/* Parse attributes and blocks up to '}' (not consumed) or end of file. */
static int
parse_body(parser *p, body *b, bool top, const block *owner)
{
	size_t		acap = 0,
				bcap = 0;
	tok			t;
	int			rc;

	for (;;)
	{
		tok			u;

		if ((rc = lex(p, &t)) != MIG_OK)
			return rc;
		if (t.t == T_NL)
		{
			take(p, &t);
			continue;
		}
		if (t.t == T_EOF)
		{
			if (top)
				return MIG_OK;
			return perr(p, owner->line, owner->col, "unclosed %s block: missing \"}\"", owner->type);
		}
		if (is_op(&t, '}'))
		{
			if (top)
				return perr(p, t.line, t.col, "unexpected \"}\"");
			return MIG_OK;
		}
		if (t.t != T_IDENT)
			return expected(p, &t, "an attribute or a block");
		take(p, &t);
		if ((rc = lex(p, &u)) != MIG_OK)
			return rc;
		if (is_op(&u, '='))
		{
			attr	   *a = NULL;

			if ((rc = parse_attr(p, &t, &a)) != MIG_OK ||
				(rc = body_push_attr(p, b, &acap, a)) != MIG_OK ||
				(rc = end_item(p, top)) != MIG_OK)
				return rc;
			p->secret = false;
			continue;
		}
		else
		{
			block	   *k = NULL;

			if ((rc = parse_block(p, &t, &k)) != MIG_OK ||
				(rc = body_push_block(p, b, &bcap, k)) != MIG_OK)
				return rc;
		}
		if ((rc = end_item(p, top)) != MIG_OK)
			return rc;
	}
}

/* ---------------------------------------------------------------- structural check */

static const attr *
find_attr(const body *b, const char *name)
{
	size_t		i;

	for (i = 0; i < b->nattrs; i++)
		if (strcmp(b->attrs[i]->name, name) == 0)
			return b->attrs[i];
	return NULL;
}

static const vardecl *
find_var(const mig_config *cfg, const char *name)
{
	size_t		lo = 0,
				hi = cfg->nvars;

	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;
		int			c = strcmp(name, cfg->vars[mid].name);

		if (c == 0)
			return &cfg->vars[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static long
find_local(const mig_config *cfg, const char *name)
{
	size_t		lo = 0,
				hi = cfg->nlocals;

	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;
		int			c = strcmp(name, cfg->locals[mid]->name);

		if (c == 0)
			return (long) mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static int
cmp_labels(const block *k, const char *type, const char *name)
{
	int			c = strcmp(type, k->labels[0]);

	return c ? c : strcmp(name, k->labels[1]);
}

static const block *
find_data(const mig_config *cfg, const char *type, const char *name)
{
	size_t		lo = 0,
				hi = cfg->ndata;

	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;
		int			c = cmp_labels(cfg->data[mid], type, name);

		if (c == 0)
			return cfg->data[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Order data blocks by type and name, then position. */
static int
cmp_data(const void *a, const void *b)
{
	const block *x = *(const block *const *) a;
	const block *y = *(const block *const *) b;
	int			c = cmp_labels(y, x->labels[0], x->labels[1]);

	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->col < y->col ? -1 : x->col > y->col;
}

/* What a checked expression may refer to. */
typedef struct refscope
{
	bool		vars;			/* var.*, local.*, data.* */
	bool		each;			/* each.key / each.value (env with for_each) */
	bool		enums;			/* LINEAR, LINEAR_SKIP, NON_LINEAR */
	bool		lazy;			/* a local: Atlas functions we lack fail only if used */
	bool		secret;			/* the token: messages name nothing from the source */
} refscope;

/* Functions apply can evaluate (§i.1); min/max argument counts (-1 = any). */
typedef struct funcinfo
{
	const char *name;
	int			min;
	int			max;
} funcinfo;

static const funcinfo funcs[] = {
	{"getenv", 1, 1},
	{"lower", 1, 1},
	{"upper", 1, 1},
	{"format", 1, -1},
	{"trimspace", 1, 1},
	{"trimprefix", 2, 2},
	{"trimsuffix", 2, 2},
	{"startswith", 2, 2},
	{"endswith", 2, 2},
	{"join", 2, -1},
	{"concat", 1, -1},
	{"length", 1, 1},
	{"tostring", 1, 1},
	{"tonumber", 1, 1},
	{"tobool", 1, 1},
	{"tolist", 1, 1},
	{"toset", 1, 1},
	{"urlescape", 1, 1},
	{"urlqueryset", 3, 3},
	{NULL, 0, 0}
};

/*
 * Functions of Atlas's HCL standard library (§i.1) that this subset does
 * not implement: a clearer error than "unknown function".
 */
static const char *const atlas_funcs[] = {
	"abs", "can", "ceil", "chomp", "chunklist", "coalescelist", "compact",
	"contains", "csvdecode", "distinct", "element", "flatten", "floor",
	"formatdate", "formatlist", "indent", "index", "jsondecode", "jsonencode",
	"keys", "log", "max", "merge", "min", "parseint", "pow", "print", "range",
	"regex", "regexall", "regexpescape", "regexreplace", "reverse",
	"setintersection", "setproduct", "setsubtract", "setunion", "signum",
	"slice", "sort", "split", "strrev", "substr", "timeadd", "title", "trim",
	"try", "urluserinfo", "urlsetpath", "values", "zipmap", "sql", "fileset",
	"templatefile", NULL
};

static const funcinfo *
find_func(const char *name)
{
	const funcinfo *f;

	for (f = funcs; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static int	check_expr(parser *p, const mig_config *cfg, const refscope *sc, const expr *e);

/* Check a traversal root and its first steps: var.x, local.x, atlas.env, ... */
static int
check_ref(parser *p, const mig_config *cfg, const refscope *sc,
		  const expr *root, const expr *const *steps, size_t nsteps)
{
	const char *r = root->s;
	const expr *s0 = nsteps > 0 ? steps[0] : NULL;
	bool		named = s0 && s0->kind == E_ATTR;
	bool		special = strcmp(r, "var") == 0 || strcmp(r, "local") == 0 ||
		strcmp(r, "atlas") == 0 || strcmp(r, "data") == 0 || strcmp(r, "each") == 0;

	if (sc->secret)
	{
		/* same rules, no names: the text might be the token itself */
		bool		ok = special && named;

		if (ok && strcmp(r, "atlas") == 0)
			ok = strcmp(s0->s, "env") == 0;
		else if (ok && strcmp(r, "var") == 0)
			ok = find_var(cfg, s0->s) != NULL;
		else if (ok && strcmp(r, "local") == 0)
			ok = find_local(cfg, s0->s) >= 0;
		else if (ok && strcmp(r, "data") == 0)
			ok = nsteps >= 2 && steps[1]->kind == E_ATTR && find_data(cfg, s0->s, steps[1]->s);
		else if (ok)
			ok = false;			/* each.* cannot be used in cloud */
		if (!ok)
			return perr(p, root->line, root->col, "unknown or undeclared reference in the token attribute");
		return MIG_OK;
	}
	if (!special)
		return perr(p, root->line, root->col, "unknown variable \"%s\"", r);
	if (!named)
		return perr(p, root->line, root->col, "invalid reference: \"%s\" must be followed by \".<name>\"", r);
	if (strcmp(r, "atlas") == 0)
	{
		if (strcmp(s0->s, "env") != 0)
			return perr(p, s0->line, s0->col, "unknown attribute \"%s\" of atlas: only atlas.env is defined", s0->s);
		return MIG_OK;
	}
	if (!sc->vars)
	{
		if (strcmp(r, "each") == 0)
			return perr(p, root->line, root->col, "each.%s can only be used in an env block with for_each", s0->s);
		return perr(p, root->line, root->col, "a variable default cannot refer to %s.%s", r, s0->s);
	}
	if (strcmp(r, "var") == 0)
	{
		if (find_var(cfg, s0->s) == NULL)
			return perr(p, root->line, root->col, "reference to undeclared variable \"%s\"", s0->s);
	}
	else if (strcmp(r, "local") == 0)
	{
		if (find_local(cfg, s0->s) < 0)
			return perr(p, root->line, root->col, "reference to undeclared local \"%s\"", s0->s);
	}
	else if (strcmp(r, "each") == 0)
	{
		if (!sc->each)
			return perr(p, root->line, root->col, "each.%s can only be used in an env block with for_each", s0->s);
		if (strcmp(s0->s, "key") != 0 && strcmp(s0->s, "value") != 0)
			return perr(p, s0->line, s0->col, "unknown attribute \"%s\" of each: use each.key or each.value", s0->s);
	}
	else
	{
		/* data.<type>.<name> */
		if (nsteps < 2 || steps[1]->kind != E_ATTR)
			return perr(p, root->line, root->col, "invalid reference: data sources are referred to as data.<type>.<name>");
		if (find_data(cfg, s0->s, steps[1]->s) == NULL)
			return perr(p, root->line, root->col, "reference to undeclared data source \"data.%s.%s\"",
						s0->s, steps[1]->s);
	}
	return MIG_OK;
}

/*
 * Check an expression apply may evaluate: known functions with the right
 * number of arguments, references to declared things.  Recursion is bounded
 * by the tree height (MAX_DEPTH).
 */
static int
check_expr(parser *p, const mig_config *cfg, const refscope *sc, const expr *e)
{
	size_t		i;
	int			rc;

	if (e == NULL)
		return MIG_OK;
	switch (e->kind)
	{
		case E_NULL:
		case E_BOOL:
		case E_NUM:
		case E_STR:
			return MIG_OK;
		case E_IDENT:
			if (sc->enums && in_list(exec_order_enums, e->s))
				return MIG_OK;
			{
				const expr *none = NULL;

				return check_ref(p, cfg, sc, e, &none, 0);
			}
		case E_ATTR:
		case E_INDEX:
			{
				const expr *steps[MAX_DEPTH + 1];
				const expr *root = e;
				size_t		n = 0,
							k;

				while ((root->kind == E_ATTR || root->kind == E_INDEX) && n < MAX_DEPTH)
				{
					steps[n++] = root;
					root = root->x;
				}
				/* steps from the root outwards */
				for (k = 0; k < n / 2; k++)
				{
					const expr *tmp = steps[k];

					steps[k] = steps[n - 1 - k];
					steps[n - 1 - k] = tmp;
				}
				if (root->kind == E_IDENT)
					rc = check_ref(p, cfg, sc, root, steps, n);
				else
					rc = check_expr(p, cfg, sc, root);
				if (rc != MIG_OK)
					return rc;
				for (k = 0; k < n; k++)
					if (steps[k]->kind == E_INDEX &&
						(rc = check_expr(p, cfg, sc, steps[k]->y)) != MIG_OK)
						return rc;
				return MIG_OK;
			}
		case E_CALL:
			{
				const funcinfo *f = find_func(e->s);

				if (strcmp(e->s, "getenv") == 0)
					p->uses_getenv = true;
				if (f == NULL && sc->lazy && (strcmp(e->s, "file") == 0 || in_list(atlas_funcs, e->s)))
					;
				else if (f == NULL && sc->secret)
					return perr(p, e->line, e->col, "unknown function in the token attribute");
				else if (f == NULL)
				{
					if (strcmp(e->s, "file") == 0)
						return perr(p, e->line, e->col,
									"function \"file\" is not supported: it would read files on the database server");
					if (in_list(atlas_funcs, e->s))
						return perr(p, e->line, e->col, "function \"%s\" is not supported", e->s);
					return perr(p, e->line, e->col, "unknown function \"%s\"", e->s);
				}
				if (f && ((int) e->n < f->min || (f->max >= 0 && (int) e->n > f->max)))
				{
					if (f->min == f->max)
						return perr(p, e->line, e->col, "function \"%s\" takes %d argument%s, got %zu",
									f->name, f->min, f->min == 1 ? "" : "s", e->n);
					return perr(p, e->line, e->col, "function \"%s\" takes at least %d argument%s, got %zu",
								f->name, f->min, f->min == 1 ? "" : "s", e->n);
				}
			}
			/* FALLTHROUGH */
		case E_TMPL:
		case E_LIST:
		case E_OBJECT:
			for (i = 0; i < e->n; i++)
				if ((rc = check_expr(p, cfg, sc, e->items[i])) != MIG_OK)
					return rc;
			return MIG_OK;
		case E_UNARY:
		case E_BINARY:
		case E_COND:
		case E_PAREN:
			if ((rc = check_expr(p, cfg, sc, e->x)) != MIG_OK ||
				(rc = check_expr(p, cfg, sc, e->y)) != MIG_OK ||
				(rc = check_expr(p, cfg, sc, e->z)) != MIG_OK)
				return rc;
			return MIG_OK;
	}
	return MIG_OK;
}

/* Quote at most 80 bytes of source text for an "invalid type" message. */
static void
src_snippet(const parser *p, const expr *e, char *buf, size_t size)
{
	size_t		a = e->start,
				b = e->end > e->start ? e->end : e->start;
	size_t		n;

	while (b > a && is_tmpl_space(p->src[b - 1]))
		b--;
	n = b - a;
	if (n > 80)
		n = 80;
	if (n >= size)
		n = size - 1;
	memcpy(buf, p->src + a, n);
	buf[n] = '\0';
	/* keep it on one line */
	for (a = 0; a < n; a++)
		if (buf[a] == '\n' || buf[a] == '\r' || buf[a] == '"')
			buf[a] = ' ';
}

/* A variable's type expression (§i.2): string, number, bool, list(T), set(T), map(T). */
static int
parse_type(parser *p, const expr *top, const expr *e, const char *var, const htype **out)
{
	htype	   *t = arena_zalloc(p->ar, sizeof(htype));
	char		buf[96];
	int			rc;

	if (t == NULL)
		return poom(p);
	if (e->kind == E_IDENT)
	{
		if (strcmp(e->s, "string") == 0)
			t->k = TY_STRING;
		else if (strcmp(e->s, "number") == 0 || strcmp(e->s, "int") == 0)
			t->k = TY_NUMBER;
		else if (strcmp(e->s, "bool") == 0)
			t->k = TY_BOOL;
		else
			goto bad;
	}
	else if (e->kind == E_CALL && e->n == 1 &&
			 (strcmp(e->s, "list") == 0 || strcmp(e->s, "set") == 0 || strcmp(e->s, "map") == 0))
	{
		t->k = e->s[0] == 'l' ? TY_LIST : e->s[0] == 's' ? TY_SET : TY_MAP;
		if ((rc = parse_type(p, top, e->items[0], var, &t->elem)) != MIG_OK)
			return rc;
	}
	else
		goto bad;
	*out = t;
	return MIG_OK;
bad:
	src_snippet(p, top, buf, sizeof(buf));
	return perr(p, top->line, top->col,
				"invalid type \"%s\" for variable \"%s\". Valid types are: string, number, bool, list, map, or set",
				buf, var);
}

static int
cmp_vardecl(const void *a, const void *b)
{
	const vardecl *x = a;
	const vardecl *y = b;
	int			c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->blk->line != y->blk->line)
		return x->blk->line < y->blk->line ? -1 : 1;
	return x->blk->col < y->blk->col ? -1 : x->blk->col > y->blk->col;
}

/* Labels rule for a block type. */
static int
want_labels(parser *p, const block *k, size_t min, size_t max, const char *how)
{
	if (k->nlabels < min || k->nlabels > max)
		return perr(p, k->line, k->col, "%s block %s", k->type, how);
	return MIG_OK;
}

/*
 * Check a body against its schema: attrs are the known attributes,
 * ignored are names (attribute or block) accepted and not used, blocks
 * the known nested block types.  Unknown names fail with their position.
 */
static int
check_body(parser *p, const body *b, const char *where, const char *const *attrs,
		   const char *const *ignored, const char *const *blocks)
{
	static const char *const none[] = {NULL};
	size_t		i;

	attrs = attrs ? attrs : none;
	ignored = ignored ? ignored : none;
	blocks = blocks ? blocks : none;
	for (i = 0; i < b->nattrs; i++)
	{
		const attr *a = b->attrs[i];

		if (in_list(attrs, a->name) || in_list(ignored, a->name))
			continue;
		if (in_list(blocks, a->name))
			return perr(p, a->line, a->col, "\"%s\" is a block, not an attribute, in %s", a->name, where);
		return perr(p, a->line, a->col, "unknown attribute \"%s\" in %s", a->name, where);
	}
	for (i = 0; i < b->nblocks; i++)
	{
		const block *k = b->blocks[i];

		if (in_list(blocks, k->type) || in_list(ignored, k->type))
			continue;
		if (in_list(attrs, k->type))
			return perr(p, k->line, k->col, "\"%s\" is an attribute, not a block, in %s", k->type, where);
		return perr(p, k->line, k->col, "unknown block \"%s\" in %s", k->type, where);
	}
	return MIG_OK;
}

/* At most one nested block of this type; returns it (or NULL). */
static int
single_block(parser *p, const body *b, const char *type, const char *where, const block **out)
{
	size_t		i;

	*out = NULL;
	for (i = 0; i < b->nblocks; i++)
	{
		const block *k = b->blocks[i];

		if (strcmp(k->type, type) != 0)
			continue;
		if (*out)
			return perr(p, k->line, k->col, "duplicate %s block in %s (first defined at %d:%d)",
						type, where, (*out)->line, (*out)->col);
		if (k->nlabels)
			return perr(p, k->line, k->col, "%s block takes no labels", type);
		*out = k;
	}
	return MIG_OK;
}

static int
check_attrs(parser *p, const mig_config *cfg, const body *b, const char *const *names,
			const refscope *sc)
{
	size_t		i;
	int			rc;

	for (i = 0; i < b->nattrs; i++)
		if (in_list(names, b->attrs[i]->name) &&
			(rc = check_expr(p, cfg, sc, b->attrs[i]->value)) != MIG_OK)
			return rc;
	return MIG_OK;
}

static bool
is_atlas_env_ref(const expr *e)
{
	return e->kind == E_ATTR && strcmp(e->s, "env") == 0 &&
		e->x->kind == E_IDENT && strcmp(e->x->s, "atlas") == 0;
}

static int
check_env(parser *p, const mig_config *cfg, const block *k)
{
	const block *mig;
	const attr *name = find_attr(&k->body, "name");
	refscope	sc = {true, false, false, false, false};
	int			rc;

	if ((rc = want_labels(p, k, 0, 1, "takes at most one label (its name)")) != MIG_OK)
		return rc;
	if (k->nlabels == 1 && name)
		return perr(p, name->line, name->col,
					"env \"%s\" has a label, so it cannot also have a name attribute", k->labels[0]);
	if ((rc = check_body(p, &k->body, "env block", env_attrs, ignored_env,
						 (const char *const[]) {"migration", NULL})) != MIG_OK)
		return rc;
	sc.each = find_attr(&k->body, "for_each") != NULL;
	if ((rc = check_attrs(p, cfg, &k->body, env_attrs, &sc)) != MIG_OK)
		return rc;
	if ((rc = single_block(p, &k->body, "migration", "env block", &mig)) != MIG_OK)
		return rc;
	if (mig)
	{
		size_t		i;

		if ((rc = check_body(p, &mig->body, "migration block", migration_attrs,
							 ignored_migration, NULL)) != MIG_OK)
			return rc;
		for (i = 0; i < mig->body.nattrs; i++)
		{
			const attr *a = mig->body.attrs[i];

			sc.enums = strcmp(a->name, "exec_order") == 0;
			if (in_list(migration_attrs, a->name) &&
				(rc = check_expr(p, cfg, &sc, a->value)) != MIG_OK)
				return rc;
		}
	}
	return MIG_OK;
}

/* The whole-file check (everything mig_hcl_parse promises). */
static int
check_config(parser *p, mig_config *cfg)
{
	const body *root = &cfg->root;
	const block *atlas = NULL;
	size_t		nvars = 0,
				nlocals = 0,
				ndata = 0,
				nenvs = 0;
	size_t		i,
				j;
	refscope	sc = {true, false, false, false, false};
	refscope	lsc = {true, false, false, true, false};
	refscope	tsc = {true, false, false, false, true};
	int			rc;

	if (root->nattrs)
		return perr(p, root->attrs[0]->line, root->attrs[0]->col,
					"unknown attribute \"%s\" at the top level", root->attrs[0]->name);
	for (i = 0; i < root->nblocks; i++)
	{
		const block *k = root->blocks[i];

		if (strcmp(k->type, "variable") == 0)
		{
			if ((rc = want_labels(p, k, 1, 1, "needs exactly one label (its name)")) != MIG_OK)
				return rc;
			nvars++;
		}
		else if (strcmp(k->type, "locals") == 0)
		{
			if ((rc = want_labels(p, k, 0, 0, "takes no labels")) != MIG_OK)
				return rc;
			if (k->body.nblocks)
				return perr(p, k->body.blocks[0]->line, k->body.blocks[0]->col,
							"unknown block \"%s\" in locals block", k->body.blocks[0]->type);
			nlocals += k->body.nattrs;
		}
		else if (strcmp(k->type, "data") == 0)
		{
			if ((rc = want_labels(p, k, 2, 2, "needs two labels (type and name)")) != MIG_OK)
				return rc;
			ndata++;
		}
		else if (strcmp(k->type, "env") == 0)
			nenvs++;
		else if (strcmp(k->type, "atlas") == 0)
		{
			if ((rc = want_labels(p, k, 0, 0, "takes no labels")) != MIG_OK)
				return rc;
			if (atlas)
				return perr(p, k->line, k->col, "duplicate atlas block (first defined at %d:%d)",
							atlas->line, atlas->col);
			atlas = k;
		}
		else if (!in_list(ignored_top, k->type))
			return perr(p, k->line, k->col, "unknown block type \"%s\"", k->type);
	}

	/* collect declarations */
	cfg->vars = arena_zalloc(p->ar, (nvars ? nvars : 1) * sizeof(vardecl));
	cfg->locals = arena_zalloc(p->ar, (nlocals ? nlocals : 1) * sizeof(attr *));
	cfg->data = arena_zalloc(p->ar, (ndata ? ndata : 1) * sizeof(block *));
	cfg->envs = arena_zalloc(p->ar, (nenvs ? nenvs : 1) * sizeof(block *));
	if (!cfg->vars || !cfg->locals || !cfg->data || !cfg->envs)
		return poom(p);
	for (i = 0; i < root->nblocks; i++)
	{
		const block *k = root->blocks[i];

		if (strcmp(k->type, "variable") == 0)
		{
			cfg->vars[cfg->nvars].name = k->labels[0];
			cfg->vars[cfg->nvars].blk = k;
			cfg->nvars++;
		}
		else if (strcmp(k->type, "locals") == 0)
			for (j = 0; j < k->body.nattrs; j++)
				cfg->locals[cfg->nlocals++] = k->body.attrs[j];
		else if (strcmp(k->type, "data") == 0)
			cfg->data[cfg->ndata++] = k;
		else if (strcmp(k->type, "env") == 0)
			cfg->envs[cfg->nenvs++] = k;
	}
	qsort(cfg->vars, cfg->nvars, sizeof(vardecl), cmp_vardecl);
	for (i = 1; i < cfg->nvars; i++)
		if (strcmp(cfg->vars[i - 1].name, cfg->vars[i].name) == 0)
			return perr(p, cfg->vars[i].blk->line, cfg->vars[i].blk->col,
						"variable \"%s\" is declared twice (first at %d:%d)", cfg->vars[i].name,
						cfg->vars[i - 1].blk->line, cfg->vars[i - 1].blk->col);
	qsort((void *) cfg->locals, cfg->nlocals, sizeof(attr *), cmp_attr);
	for (i = 1; i < cfg->nlocals; i++)
		if (strcmp(cfg->locals[i - 1]->name, cfg->locals[i]->name) == 0)
			return perr(p, cfg->locals[i]->line, cfg->locals[i]->col,
						"local \"%s\" is defined twice (first at %d:%d)", cfg->locals[i]->name,
						cfg->locals[i - 1]->line, cfg->locals[i - 1]->col);
	qsort((void *) cfg->data, cfg->ndata, sizeof(block *), cmp_data);
	for (i = 1; i < cfg->ndata; i++)
		if (cmp_labels(cfg->data[i - 1], cfg->data[i]->labels[0], cfg->data[i]->labels[1]) == 0)
			return perr(p, cfg->data[i]->line, cfg->data[i]->col,
						"data \"%s\" \"%s\" is declared twice (first at %d:%d)",
						cfg->data[i]->labels[0], cfg->data[i]->labels[1],
						cfg->data[i - 1]->line, cfg->data[i - 1]->col);

	/* variables (§i.2) */
	for (i = 0; i < cfg->nvars; i++)
	{
		vardecl    *v = &cfg->vars[i];
		const attr *type;
		refscope	vsc = {false, false, false, false, false};
		static htype any = {TY_ANY, NULL};

		if ((rc = check_body(p, &v->blk->body, "variable block", variable_attrs, NULL, NULL)) != MIG_OK)
			return rc;
		type = find_attr(&v->blk->body, "type");
		v->def = find_attr(&v->blk->body, "default");
		v->type = &any;
		if (type && (rc = parse_type(p, type->value, type->value, v->name, &v->type)) != MIG_OK)
			return rc;
		if (v->def && (rc = check_expr(p, cfg, &vsc, v->def->value)) != MIG_OK)
			return rc;
	}
	/* locals */
	for (i = 0; i < cfg->nlocals; i++)
		if ((rc = check_expr(p, cfg, &lsc, cfg->locals[i]->value)) != MIG_OK)
			return rc;
	/* atlas { cloud { } } */
	if (atlas)
	{
		if ((rc = check_body(p, &atlas->body, "atlas block", NULL, NULL,
							 (const char *const[]) {"cloud", NULL})) != MIG_OK)
			return rc;
		if ((rc = single_block(p, &atlas->body, "cloud", "atlas block", &cfg->cloud)) != MIG_OK)
			return rc;
		if (cfg->cloud)
		{
			if ((rc = check_body(p, &cfg->cloud->body, "cloud block", cloud_attrs, NULL, NULL)) != MIG_OK)
				return rc;
			if (find_attr(&cfg->cloud->body, "token") == NULL)
				return perr(p, cfg->cloud->line, cfg->cloud->col,
							"missing required attribute \"token\" in cloud block");
			if ((rc = check_attrs(p, cfg, &cfg->cloud->body, cloud_attrs + 1, &sc)) != MIG_OK ||
				(rc = check_expr(p, cfg, &tsc, find_attr(&cfg->cloud->body, "token")->value)) != MIG_OK)
				return rc;
		}
	}
	/* envs */
	for (i = 0; i < cfg->nenvs; i++)
		if ((rc = check_env(p, cfg, cfg->envs[i])) != MIG_OK)
			return rc;
	return MIG_OK;
}

/*
 * Parse and check a whole atlas.hcl (see mig.h).  On error *out is NULL and
 * err holds "L:C: message" (MIG_ECONFIG) or "out of memory".
 */
int
mig_hcl_parse(const char *src, size_t len, mig_config **out, mig_err *err)
{
	mig_config *cfg;
	parser		p;
	int			rc;

	if (out == NULL)
		return mig_err_set(err, MIG_EINVAL, "mig_hcl_parse: no output");
	*out = NULL;
	if (src == NULL)
		return mig_err_set(err, MIG_EINVAL, "mig_hcl_parse: no config text");
	cfg = mig_calloc(1, sizeof(mig_config));
	if (cfg == NULL)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	arena_init(&cfg->ar, 0, false);

	memset(&p, 0, sizeof(p));
	p.src = src;
	p.len = len;
	p.st.line = 1;
	p.st.col = 1;
	p.ar = &cfg->ar;
	p.err = err;
	/* a UTF-8 byte order mark is not part of the text */
	if (len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0)
		p.st.pos = 3;

	rc = parse_body(&p, &cfg->root, true, NULL);
	if (rc == MIG_OK)
		rc = check_dup_attrs(&p, &cfg->root);
	if (rc == MIG_OK)
		rc = check_config(&p, cfg);
	if (rc != MIG_OK)
	{
		mig_hcl_free(cfg);
		return rc;
	}
	cfg->uses_getenv = p.uses_getenv;
	*out = cfg;
	return MIG_OK;
}

bool
mig_hcl_uses_getenv(const mig_config *cfg)
{
	return cfg != NULL && cfg->uses_getenv;
}

void
mig_hcl_deny_getenv(mig_config *cfg)
{
	cfg->deny_getenv = true;
}

/* Free a parsed config (NULL is fine). */
void
mig_hcl_free(mig_config *cfg)
{
	if (cfg == NULL)
		return;
	arena_free(&cfg->ar);
	mig_free(cfg);
}

/* ---------------------------------------------------------------- values */

typedef enum vkind
{
	V_NULL,
	V_BOOL,
	V_NUM,
	V_STR,
	V_LIST,
	V_MAP
} vkind;

/*
 * An evaluated value.  Values are immutable and live in the evaluation
 * arena, so they are shared freely (a local used twice is not copied).
 */
typedef struct value value;
struct value
{
	vkind		k;
	bool		b;
	double		n;
	const char *s;				/* V_STR, NUL-terminated */
	size_t		len;
	value	   *items;			/* V_LIST elements, V_MAP values */
	const char **keys;			/* V_MAP keys */
	size_t		cnt;
};

typedef struct evalctx
{
	const mig_config *cfg;
	arena		ar;
	mig_err    *err;
	const char *envname;		/* atlas.env */
	value	   *vars;			/* by cfg->vars index */
	value	   *locals;			/* by cfg->locals index */
	unsigned char *lstate;		/* 0 not yet, 1 being evaluated, 2 done */
	int			depth;
	bool		enums;			/* LINEAR... are defined (exec_order) */
	bool		secret;			/* evaluating the token: no details in messages */
	long		work;			/* values visited by ==, conversions, ... */
} evalctx;

static int	eerr(evalctx *x, const expr *at, int code, const char *fmt,...)
			__attribute__((format(printf, 4, 5)));

static int
eerr(evalctx *x, const expr *at, int code, const char *fmt,...)
{
	char		msg[1024];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (x->secret)
		snprintf(msg, sizeof(msg), "cannot evaluate the token attribute (details are hidden: it holds a secret)");
	if (at)
		return mig_err_set(x->err, code, "%d:%d: %s", at->line, at->col, msg);
	return mig_err_set(x->err, code, "%s", msg);
}

/* An allocation in the evaluation arena failed: memory or the size cap. */
static int
eoom(evalctx *x)
{
	if (x->ar.over)
		return mig_err_set(x->err, MIG_ECONFIG,
						   "evaluating the config needs more than %zu MiB of memory",
						   EVAL_LIMIT >> 20);
	return mig_err_set(x->err, MIG_ENOMEM, "out of memory");
}

static const char *
kind_name(vkind k)
{
	switch (k)
	{
		case V_NULL:
			return "null";
		case V_BOOL:
			return "bool";
		case V_NUM:
			return "number";
		case V_STR:
			return "string";
		case V_LIST:
			return "list";
		case V_MAP:
			return "object";
	}
	return "value";
}

static value
v_str(const char *s, size_t len)
{
	value		v;

	memset(&v, 0, sizeof(v));
	v.k = V_STR;
	v.s = s;
	v.len = len;
	return v;
}

static value
v_num(double n)
{
	value		v;

	memset(&v, 0, sizeof(v));
	v.k = V_NUM;
	v.n = n;
	return v;
}

static value
v_bool(bool b)
{
	value		v;

	memset(&v, 0, sizeof(v));
	v.k = V_BOOL;
	v.b = b;
	return v;
}

static bool
is_finite_number(double n)
{
	return n == n && n - n == 0;
}

/* n is a whole number that fits a long long (checked before casting). */
static bool
is_whole(double n)
{
	return n > -9.2e18 && n < 9.2e18 && n == (double) (long long) n;
}

/* A number as cty prints it: integers without a point, others shortest. */
static void
fmt_number(double n, char *buf, size_t size)
{
	const char *dp = localeconv()->decimal_point;
	char	   *q;
	int			prec;

	if (n == 0)
		snprintf(buf, size, "0");
	else if (n > -1e18 && n < 1e18 && n == (double) (long long) n)
		snprintf(buf, size, "%lld", (long long) n);
	else if (n <= -1e18 || n >= 1e18)
		snprintf(buf, size, "%.0f", n);
	else
	{
		for (prec = 1; prec <= 40; prec++)
		{
			char	   *end;

			snprintf(buf, size, "%.*f", prec, n);
			if (strtod(buf, &end) == n)
				break;
		}
		if (prec > 40)
			snprintf(buf, size, "%.17g", n);
	}
	if (dp && dp[0] && dp[0] != '.' && (q = strchr(buf, dp[0])) != NULL)
		*q = '.';
}

/*
 * The string form of a primitive value (cty's conversion to string).
 * Returns false for null, lists and objects.
 */
static int
as_string(evalctx *x, const value *v, const char **s, size_t *len, bool *ok)
{
	char		buf[512];

	*ok = true;
	switch (v->k)
	{
		case V_STR:
			*s = v->s;
			*len = v->len;
			return MIG_OK;
		case V_BOOL:
			*s = v->b ? "true" : "false";
			*len = strlen(*s);
			return MIG_OK;
		case V_NUM:
			fmt_number(v->n, buf, sizeof(buf));
			*len = strlen(buf);
			if ((*s = arena_strndup(&x->ar, buf, *len)) == NULL)
				return eoom(x);
			return MIG_OK;
		default:
			*ok = false;
			return MIG_OK;
	}
}

static bool
as_number(const value *v, double *n)
{
	if (v->k == V_NUM)
	{
		*n = v->n;
		return true;
	}
	if (v->k == V_STR)
		return parse_number(v->s, v->len, n);
	return false;
}

static bool
as_bool(const value *v, bool *b)
{
	if (v->k == V_BOOL)
	{
		*b = v->b;
		return true;
	}
	if (v->k == V_STR && strcmp(v->s, "true") == 0)
	{
		*b = true;
		return true;
	}
	if (v->k == V_STR && strcmp(v->s, "false") == 0)
	{
		*b = false;
		return true;
	}
	return false;
}

/*
 * Values are shared, not copied, so a small config can describe a huge
 * tree (a list of two references to a list of two references ...).
 * Walks over values count their steps; past EVAL_MAX_WORK they stop.
 */
static bool
spend(evalctx *x, long n)
{
	if (x->work > EVAL_MAX_WORK - n)
	{
		x->work = EVAL_MAX_WORK;
		return false;
	}
	x->work += n;
	return true;
}

static int
too_complex(evalctx *x, const expr *at)
{
	return eerr(x, at, MIG_ECONFIG, "the config is too complex to evaluate (more than %ld steps)",
				EVAL_MAX_WORK);
}

/* Deep equality (==): values of different kinds are never equal. */
static bool
v_equal(evalctx *x, const value *a, const value *b, int depth)
{
	size_t		i;

	if (a->k != b->k || depth > EVAL_MAX_DEPTH || !spend(x, 1))
		return false;
	switch (a->k)
	{
		case V_NULL:
			return true;
		case V_BOOL:
			return a->b == b->b;
		case V_NUM:
			return a->n == b->n;
		case V_STR:
			return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
		case V_LIST:
		case V_MAP:
			if (a->cnt != b->cnt)
				return false;
			for (i = 0; i < a->cnt; i++)
			{
				if (a->k == V_MAP && strcmp(a->keys[i], b->keys[i]) != 0)
					return false;
				if (!v_equal(x, &a->items[i], &b->items[i], depth + 1))
					return false;
			}
			return true;
	}
	return false;
}

/*
 * Convert v to the declared type t (cty's conversion rules for the types
 * we have).  On mismatch *why says what was required (no value is quoted).
 */
static int
convert(evalctx *x, const value *v, const htype *t, value *out, char *why, size_t wsize, int depth)
{
	const char *s;
	size_t		len,
				i;
	bool		ok;
	int			rc;

	why[0] = '\0';
	if (depth > EVAL_MAX_DEPTH)
	{
		snprintf(why, wsize, "value nested too deeply");
		return MIG_OK;
	}
	if (!spend(x, 1) || x->work >= EVAL_MAX_WORK)
	{
		snprintf(why, wsize, "value too complex to convert (more than %ld steps)", EVAL_MAX_WORK);
		return MIG_OK;
	}
	if (v->k == V_NULL || t->k == TY_ANY)
	{
		*out = *v;
		return MIG_OK;
	}
	switch (t->k)
	{
		case TY_STRING:
			if ((rc = as_string(x, v, &s, &len, &ok)) != MIG_OK)
				return rc;
			if (!ok)
				snprintf(why, wsize, "a string is required, got a %s", kind_name(v->k));
			else
				*out = v_str(s, len);
			return MIG_OK;
		case TY_NUMBER:
			{
				double		n;

				if (!as_number(v, &n))
					snprintf(why, wsize, "a number is required%s",
							 v->k == V_STR ? " (the string is not a decimal number)" : "");
				else
					*out = v_num(n);
				return MIG_OK;
			}
		case TY_BOOL:
			{
				bool		b;

				if (!as_bool(v, &b))
					snprintf(why, wsize, "a bool is required%s",
							 v->k == V_STR ? " (only the strings \"true\" and \"false\" convert)" : "");
				else
					*out = v_bool(b);
				return MIG_OK;
			}
		case TY_LIST:
		case TY_SET:
			{
				value		r;
				size_t		cnt = v->cnt;

				if (v->k != V_LIST)
				{
					snprintf(why, wsize, "a %s is required, got a %s", t->k == TY_LIST ? "list" : "set",
							 kind_name(v->k));
					return MIG_OK;
				}
				memset(&r, 0, sizeof(r));
				r.k = V_LIST;
				r.items = arena_zalloc(&x->ar, (cnt ? cnt : 1) * sizeof(value));
				if (r.items == NULL)
					return eoom(x);
				for (i = 0; i < cnt; i++)
				{
					const value *e = &v->items[i];
					char		sub[256];

					if ((rc = convert(x, e, t->elem, &r.items[r.cnt], sub, sizeof(sub), depth + 1)) != MIG_OK)
						return rc;
					if (sub[0])
					{
						snprintf(why, wsize, "element %zu: %.200s", i, sub);
						return MIG_OK;
					}
					if (t->k == TY_SET)
					{
						size_t		j;

						for (j = 0; j < r.cnt; j++)
							if (v_equal(x, &r.items[j], &r.items[r.cnt], 0))
								break;
						if (x->work >= EVAL_MAX_WORK)
						{
							snprintf(why, wsize, "value too complex to convert (more than %ld steps)", EVAL_MAX_WORK);
							return MIG_OK;
						}
						if (j < r.cnt)
							continue;
					}
					r.cnt++;
				}
				*out = r;
				return MIG_OK;
			}
		case TY_MAP:
			{
				value		r;

				if (v->k != V_MAP)
				{
					snprintf(why, wsize, "a map is required, got a %s", kind_name(v->k));
					return MIG_OK;
				}
				r = *v;
				r.items = arena_zalloc(&x->ar, (v->cnt ? v->cnt : 1) * sizeof(value));
				if (r.items == NULL)
					return eoom(x);
				for (i = 0; i < v->cnt; i++)
				{
					char		sub[256];

					if ((rc = convert(x, &v->items[i], t->elem, &r.items[i], sub, sizeof(sub), depth + 1)) != MIG_OK)
						return rc;
					if (sub[0])
					{
						snprintf(why, wsize, "key \"%.64s\": %.200s", v->keys[i], sub);
						return MIG_OK;
					}
				}
				*out = r;
				return MIG_OK;
			}
		default:
			*out = *v;
			return MIG_OK;
	}
}

/* ---------------------------------------------------------------- evaluation */

static int	eval(evalctx *x, const expr *e, value *out);

static int
eval_local(evalctx *x, const expr *at, const char *name, value *out)
{
	long		i = find_local(x->cfg, name);
	int			rc;

	if (i < 0)
		return eerr(x, at, MIG_ECONFIG, "reference to undeclared local \"%s\"", name);
	if (x->lstate[i] == 2)
	{
		*out = x->locals[i];
		return MIG_OK;
	}
	if (x->lstate[i] == 1)
		return eerr(x, at, MIG_ECONFIG, "local \"%s\" refers to itself (through a cycle of locals)", name);
	x->lstate[i] = 1;
	rc = eval(x, x->cfg->locals[i]->value, &x->locals[i]);
	if (rc != MIG_OK)
		return rc;
	x->lstate[i] = 2;
	*out = x->locals[i];
	return MIG_OK;
}

/* Apply one .name or [index] step to v. */
static int
eval_step(evalctx *x, const expr *step, const value *v, value *out)
{
	size_t		i;
	int			rc;

	if (step->kind == E_ATTR)
	{
		if (v->k != V_MAP)
			return eerr(x, step, MIG_ECONFIG, "cannot read attribute \"%s\" of a %s", step->s, kind_name(v->k));
		for (i = 0; i < v->cnt; i++)
			if (strcmp(v->keys[i], step->s) == 0)
			{
				*out = v->items[i];
				return MIG_OK;
			}
		return eerr(x, step, MIG_ECONFIG, "the object has no attribute \"%s\"", step->s);
	}
	else
	{
		value		idx;

		if ((rc = eval(x, step->y, &idx)) != MIG_OK)
			return rc;
		if (v->k == V_LIST)
		{
			double		n;

			if (!as_number(&idx, &n) || !is_whole(n))
				return eerr(x, step, MIG_ECONFIG, "a list index must be a whole number");
			if (n < 0 || n >= (double) v->cnt)
				return eerr(x, step, MIG_ECONFIG, "index %lld is out of range for a list of %zu elements",
							(long long) n, v->cnt);
			*out = v->items[(size_t) n];
			return MIG_OK;
		}
		if (v->k == V_MAP)
		{
			const char *k;
			size_t		klen;
			bool		ok;

			if ((rc = as_string(x, &idx, &k, &klen, &ok)) != MIG_OK)
				return rc;
			if (!ok)
				return eerr(x, step, MIG_ECONFIG, "an object key must be a string");
			for (i = 0; i < v->cnt; i++)
				if (strcmp(v->keys[i], k) == 0)
				{
					*out = v->items[i];
					return MIG_OK;
				}
			return eerr(x, step, MIG_ECONFIG, "the object has no such key");
		}
		return eerr(x, step, MIG_ECONFIG, "cannot index a %s", kind_name(v->k));
	}
}

static int
eval_traversal(evalctx *x, const expr *e, value *out)
{
	const expr *steps[MAX_DEPTH + 1];
	const expr *root = e;
	size_t		n = 0,
				first = 0,
				k;
	value		v;
	int			rc;

	while ((root->kind == E_ATTR || root->kind == E_INDEX) && n < MAX_DEPTH)
	{
		steps[n++] = root;
		root = root->x;
	}
	for (k = 0; k < n / 2; k++)
	{
		const expr *tmp = steps[k];

		steps[k] = steps[n - 1 - k];
		steps[n - 1 - k] = tmp;
	}
	if (root->kind == E_IDENT && n > 0 && steps[0]->kind == E_ATTR)
	{
		const char *r = root->s;
		const char *name = steps[0]->s;

		first = 1;
		if (strcmp(r, "var") == 0)
		{
			const vardecl *d = find_var(x->cfg, name);

			if (d == NULL)
				return eerr(x, root, MIG_ECONFIG, "reference to undeclared variable \"%s\"", name);
			v = x->vars[d - x->cfg->vars];
		}
		else if (strcmp(r, "local") == 0)
		{
			if ((rc = eval_local(x, root, name, &v)) != MIG_OK)
				return rc;
		}
		else if (strcmp(r, "atlas") == 0 && strcmp(name, "env") == 0)
			v = v_str(x->envname, strlen(x->envname));
		else if (strcmp(r, "data") == 0)
		{
			rc = eerr(x, root, MIG_ENOTSUP,
					  "data sources are not supported yet (data.%s%s%s is used by env \"%s\")",
					  name, n > 1 && steps[1]->kind == E_ATTR ? "." : "",
					  n > 1 && steps[1]->kind == E_ATTR ? steps[1]->s : "", x->envname);
			mig_err_hint(x->err, "Write the value itself or use a variable, e.g. migration { dir = \"atlas://<name>\" } instead of a remote_dir data source.");
			return rc;
		}
		else if (strcmp(r, "each") == 0)
			return eerr(x, root, MIG_ENOTSUP, "for_each is not supported yet");
		else
			return eerr(x, root, MIG_ECONFIG, "unknown variable \"%s\"", r);
	}
	else if ((rc = eval(x, root, &v)) != MIG_OK)
		return rc;
	for (k = first; k < n; k++)
	{
		value		w;

		if ((rc = eval_step(x, steps[k], &v, &w)) != MIG_OK)
			return rc;
		v = w;
	}
	*out = v;
	return MIG_OK;
}

/* Argument i of a call as a string, or a clear error naming the function. */
static int
arg_string(evalctx *x, const expr *call, const value *args, size_t i, const char **s, size_t *len)
{
	bool		ok;
	int			rc;

	if ((rc = as_string(x, &args[i], s, len, &ok)) != MIG_OK)
		return rc;
	if (!ok)
		return eerr(x, call, MIG_ECONFIG, "%s: argument %zu must be a string, got %s",
					call->s, i + 1, kind_name(args[i].k));
	return MIG_OK;
}

static int
make_str(evalctx *x, const mig_buf *b, value *out)
{
	char	   *s;

	if (b->oom)
		return mig_err_set(x->err, MIG_ENOMEM, "out of memory");
	if (b->len > EVAL_LIMIT)
	{
		x->ar.over = true;
		return eoom(x);
	}
	s = arena_strndup(&x->ar, b->data ? b->data : "", b->len);
	if (s == NULL)
		return eoom(x);
	*out = v_str(s, b->len);
	return MIG_OK;
}

/* A string being built past the evaluation size cap. */
static bool
buf_over(evalctx *x, const mig_buf *b)
{
	if (b->len <= EVAL_LIMIT)
		return false;
	x->ar.over = true;
	return true;
}

/* format(): the verbs %s %d %v %t %q and %%; no flags or widths. */
static int
fn_format(evalctx *x, const expr *call, const value *args, size_t nargs, mig_buf *b)
{
	const char *f;
	size_t		flen,
				i,
				next = 1;
	int			rc;

	if ((rc = arg_string(x, call, args, 0, &f, &flen)) != MIG_OK)
		return rc;
	for (i = 0; i < flen; i++)
	{
		char		verb;
		const value *a;

		if (f[i] != '%')
		{
			mig_buf_putc(b, f[i]);
			continue;
		}
		if (++i >= flen)
			return eerr(x, call, MIG_ECONFIG, "format: the format string ends with a lone %%");
		verb = f[i];
		if (verb == '%')
		{
			mig_buf_putc(b, '%');
			continue;
		}
		if (strchr("sdvtq", verb) == NULL)
		{
			if ((unsigned char) verb > 0x20 && (unsigned char) verb < 0x7f)
				return eerr(x, call, MIG_ECONFIG, "format: unsupported verb \"%%%c\" (supported: %%s %%d %%v %%t %%q %%%%)", verb);
			return eerr(x, call, MIG_ECONFIG, "format: unsupported verb (supported: %%s %%d %%v %%t %%q %%%%)");
		}
		if (buf_over(x, b))
			return eoom(x);
		if (next >= nargs)
			return eerr(x, call, MIG_ECONFIG, "format: not enough arguments for the format string");
		a = &args[next++];
		if (a->k == V_NULL)
			return eerr(x, call, MIG_ECONFIG, "format: argument %zu is null", next);
		if (verb == 'd')
		{
			double		n;

			if (!as_number(a, &n) || !is_whole(n))
				return eerr(x, call, MIG_ECONFIG, "format: %%d needs a whole number (argument %zu)", next);
			mig_buf_printf(b, "%lld", (long long) n);
		}
		else if (verb == 't')
		{
			bool		v;

			if (!as_bool(a, &v))
				return eerr(x, call, MIG_ECONFIG, "format: %%t needs a bool (argument %zu)", next);
			mig_buf_puts(b, v ? "true" : "false");
		}
		else
		{
			const char *s;
			size_t		len;
			bool		ok;

			if ((rc = as_string(x, a, &s, &len, &ok)) != MIG_OK)
				return rc;
			if (!ok)
				return eerr(x, call, MIG_ECONFIG, "format: argument %zu must be a string, number or bool, got %s",
							next, kind_name(a->k));
			if (verb == 'q')
				mig_buf_goquote(b, s, len);
			else
				mig_buf_append(b, s, len);
		}
	}
	if (next < nargs)
		return eerr(x, call, MIG_ECONFIG, "format: too many arguments for the format string");
	return MIG_OK;
}

/* Go's url.QueryEscape. */
static void
query_escape(mig_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t		i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '_' || c == '.' || c == '~')
			mig_buf_putc(b, (char) c);
		else if (c == ' ')
			mig_buf_putc(b, '+');
		else
		{
			mig_buf_putc(b, '%');
			mig_buf_putc(b, hex[c >> 4]);
			mig_buf_putc(b, hex[c & 15]);
		}
	}
}

/* Go's url.QueryUnescape into the arena; false on a bad escape. */
static bool
query_unescape(evalctx *x, const char *s, size_t len, const char **out)
{
	char	   *r = arena_alloc(&x->ar, len + 1);
	size_t		i,
				n = 0;

	if (r == NULL)
		return false;
	for (i = 0; i < len; i++)
	{
		if (s[i] == '+')
			r[n++] = ' ';
		else if (s[i] == '%')
		{
			int			h,
						l;

			if (i + 2 >= len)
				return false;
			h = mig_hexval(s[i + 1]);
			l = mig_hexval(s[i + 2]);
			if (h < 0 || l < 0)
				return false;
			r[n++] = (char) (h * 16 + l);
			i += 2;
		}
		else
			r[n++] = s[i];
	}
	r[n] = '\0';
	*out = r;
	return true;
}

typedef struct qpair
{
	const char *k;
	const char *v;
	size_t		seq;
} qpair;

static int
cmp_qpair(const void *a, const void *b)
{
	const qpair *x = a;
	const qpair *y = b;
	int			c = strcmp(x->k, y->k);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * urlqueryset(url, key, value): Atlas sets one query parameter and
 * re-encodes the query the way Go does (keys sorted, QueryEscape'd).
 * Only the query is rebuilt; the rest of the URL is kept as written.
 */
static int
fn_urlqueryset(evalctx *x, const expr *call, const value *args, mig_buf *b)
{
	const char *u,
			   *key,
			   *val,
			   *q,
			   *frag;
	size_t		ulen,
				klen,
				vlen,
				qlen,
				npairs = 0,
				i;
	qpair	   *pairs;
	int			rc;

	if ((rc = arg_string(x, call, args, 0, &u, &ulen)) != MIG_OK ||
		(rc = arg_string(x, call, args, 1, &key, &klen)) != MIG_OK ||
		(rc = arg_string(x, call, args, 2, &val, &vlen)) != MIG_OK)
		return rc;
	frag = memchr(u, '#', ulen);
	q = memchr(u, '?', frag ? (size_t) (frag - u) : ulen);
	qlen = q ? (size_t) ((frag ? frag : u + ulen) - (q + 1)) : 0;
	pairs = arena_zalloc(&x->ar, (qlen + 2) * sizeof(qpair));
	if (pairs == NULL)
		return eoom(x);
	if (q)
	{
		const char *p = q + 1;
		const char *end = p + qlen;

		while (p < end)
		{
			const char *amp = memchr(p, '&', (size_t) (end - p));
			const char *pe = amp ? amp : end;
			const char *eq = memchr(p, '=', (size_t) (pe - p));
			const char *k,
					   *v = "";

			if (pe > p && memchr(p, ';', (size_t) (pe - p)) == NULL &&
				query_unescape(x, p, (size_t) ((eq ? eq : pe) - p), &k) &&
				(eq == NULL || query_unescape(x, eq + 1, (size_t) (pe - eq - 1), &v)) &&
				strcmp(k, key) != 0)
			{
				pairs[npairs].k = k;
				pairs[npairs].v = v;
				pairs[npairs].seq = npairs;
				npairs++;
			}
			if (x->ar.over)
				return eoom(x);
			p = amp ? amp + 1 : end;
		}
	}
	pairs[npairs].k = key;
	pairs[npairs].v = val;
	pairs[npairs].seq = npairs;
	npairs++;
	qsort(pairs, npairs, sizeof(qpair), cmp_qpair);
	mig_buf_append(b, u, q ? (size_t) (q - u) : (frag ? (size_t) (frag - u) : ulen));
	mig_buf_putc(b, '?');
	for (i = 0; i < npairs; i++)
	{
		if (i)
			mig_buf_putc(b, '&');
		query_escape(b, pairs[i].k, strlen(pairs[i].k));
		mig_buf_putc(b, '=');
		query_escape(b, pairs[i].v, strlen(pairs[i].v));
	}
	if (frag)
		mig_buf_append(b, frag, ulen - (size_t) (frag - u));
	return MIG_OK;
}

static int
list_arg(evalctx *x, const expr *call, const value *a, size_t i)
{
	if (a->k != V_LIST)
		return eerr(x, call, MIG_ECONFIG, "%s: argument %zu must be a list, got %s",
					call->s, i + 1, kind_name(a->k));
	return MIG_OK;
}

static int
eval_call(evalctx *x, const expr *e, value *out)
{
	value	   *args;
	mig_buf		b;
	const char *s,
			   *t;
	size_t		slen,
				tlen,
				i,
				j;
	int			rc = MIG_OK;
	const char *f = e->s;

	if (find_func(f) == NULL)
	{
		/* only a local's call of an Atlas function we lack gets here */
		if (strcmp(f, "file") == 0)
			return eerr(x, e, MIG_ENOTSUP,
						"function \"file\" is not supported: it would read files on the database server");
		if (in_list(atlas_funcs, f))
			return eerr(x, e, MIG_ENOTSUP, "function \"%s\" is not supported", f);
		return eerr(x, e, MIG_ECONFIG, "unknown function \"%s\"", f);
	}
	args = arena_zalloc(&x->ar, (e->n ? e->n : 1) * sizeof(value));
	if (args == NULL)
		return eoom(x);
	for (i = 0; i < e->n; i++)
		if ((rc = eval(x, e->items[i], &args[i])) != MIG_OK)
			return rc;
	mig_buf_init(&b);

	if (strcmp(f, "getenv") == 0)
	{
		const char *v;

		/* the host's switch; no details: neither the name nor a value */
		if (x->cfg->deny_getenv)
		{
			rc = mig_err_set(x->err, MIG_EPERM,
							 "%d:%d: function \"getenv\" is not allowed: reading the database server's environment is denied for this configuration",
							 e->line, e->col);
			goto done;
		}
		if ((rc = arg_string(x, e, args, 0, &s, &slen)) != MIG_OK)
			goto done;
		/* §i.1: the value, or "" when unset; never an error */
		v = getenv(s);
		*out = v_str("", 0);
		if (v && *v)
		{
			mig_buf_puts(&b, v);
			rc = make_str(x, &b, out);
		}
	}
	else if (strcmp(f, "lower") == 0 || strcmp(f, "upper") == 0)
	{
		bool		up = f[0] == 'u';

		if ((rc = arg_string(x, e, args, 0, &s, &slen)) != MIG_OK)
			goto done;
		mig_buf_append(&b, s, slen);
		for (i = 0; !b.oom && i < b.len; i++)
		{
			char		c = b.data[i];

			if (up && c >= 'a' && c <= 'z')
				b.data[i] = (char) (c - 'a' + 'A');
			else if (!up && c >= 'A' && c <= 'Z')
				b.data[i] = (char) (c - 'A' + 'a');
		}
		rc = make_str(x, &b, out);
	}
	else if (strcmp(f, "format") == 0)
	{
		if ((rc = fn_format(x, e, args, e->n, &b)) == MIG_OK)
			rc = make_str(x, &b, out);
	}
	else if (strcmp(f, "trimspace") == 0)
	{
		if ((rc = arg_string(x, e, args, 0, &s, &slen)) != MIG_OK)
			goto done;
		while (slen > 0 && (is_tmpl_space(*s) || *s == '\v' || *s == '\f'))
		{
			s++;
			slen--;
		}
		while (slen > 0 && (is_tmpl_space(s[slen - 1]) || s[slen - 1] == '\v' || s[slen - 1] == '\f'))
			slen--;
		mig_buf_append(&b, s, slen);
		rc = make_str(x, &b, out);
	}
	else if (strcmp(f, "trimprefix") == 0 || strcmp(f, "trimsuffix") == 0 ||
			 strcmp(f, "startswith") == 0 || strcmp(f, "endswith") == 0)
	{
		bool		prefix = strcmp(f, "trimprefix") == 0 || strcmp(f, "startswith") == 0;
		bool		match;

		if ((rc = arg_string(x, e, args, 0, &s, &slen)) != MIG_OK ||
			(rc = arg_string(x, e, args, 1, &t, &tlen)) != MIG_OK)
			goto done;
		match = tlen <= slen && memcmp(prefix ? s : s + slen - tlen, t, tlen) == 0;
		if (f[0] == 's' || f[0] == 'e')
			*out = v_bool(match);
		else
		{
			if (match)
			{
				if (prefix)
					s += tlen;
				slen -= tlen;
			}
			mig_buf_append(&b, s, slen);
			rc = make_str(x, &b, out);
		}
	}
	else if (strcmp(f, "join") == 0)
	{
		bool		firstel = true;

		if ((rc = arg_string(x, e, args, 0, &t, &tlen)) != MIG_OK)
			goto done;
		for (i = 1; i < e->n; i++)
		{
			if ((rc = list_arg(x, e, &args[i], i)) != MIG_OK)
				goto done;
			for (j = 0; j < args[i].cnt; j++)
			{
				bool		ok;

				if ((rc = as_string(x, &args[i].items[j], &s, &slen, &ok)) != MIG_OK)
					goto done;
				if (!ok)
				{
					rc = eerr(x, e, MIG_ECONFIG, "join: element %zu of argument %zu must be a string, got %s",
							  j, i + 1, kind_name(args[i].items[j].k));
					goto done;
				}
				if (!firstel)
					mig_buf_append(&b, t, tlen);
				mig_buf_append(&b, s, slen);
				firstel = false;
				if (buf_over(x, &b))
				{
					rc = eoom(x);
					goto done;
				}
			}
		}
		rc = make_str(x, &b, out);
	}
	else if (strcmp(f, "concat") == 0)
	{
		value		r;
		size_t		total = 0;

		for (i = 0; i < e->n; i++)
		{
			if ((rc = list_arg(x, e, &args[i], i)) != MIG_OK)
				goto done;
			total += args[i].cnt;
		}
		memset(&r, 0, sizeof(r));
		r.k = V_LIST;
		r.items = arena_zalloc(&x->ar, (total ? total : 1) * sizeof(value));
		if (r.items == NULL)
		{
			rc = eoom(x);
			goto done;
		}
		for (i = 0; i < e->n; i++)
			for (j = 0; j < args[i].cnt; j++)
				r.items[r.cnt++] = args[i].items[j];
		*out = r;
	}
	else if (strcmp(f, "length") == 0)
	{
		if (args[0].k == V_STR)
		{
			size_t		chars = 0;

			for (i = 0; i < args[0].len; i++)
				if ((args[0].s[i] & 0xC0) != 0x80)
					chars++;
			*out = v_num((double) chars);
		}
		else if (args[0].k == V_LIST || args[0].k == V_MAP)
			*out = v_num((double) args[0].cnt);
		else
			rc = eerr(x, e, MIG_ECONFIG, "length: argument must be a string, list or object, got %s",
					  kind_name(args[0].k));
	}
	else if (strncmp(f, "to", 2) == 0)
	{
		static const htype str = {TY_STRING, NULL};
		static const htype num = {TY_NUMBER, NULL};
		static const htype boo = {TY_BOOL, NULL};
		static const htype any = {TY_ANY, NULL};
		static const htype lst = {TY_LIST, &any};
		static const htype set = {TY_SET, &any};
		const htype *want = strcmp(f, "tostring") == 0 ? &str :
		strcmp(f, "tonumber") == 0 ? &num :
		strcmp(f, "tobool") == 0 ? &boo :
		strcmp(f, "tolist") == 0 ? &lst : &set;
		char		why[300];

		if ((want == &lst || want == &set) && args[0].k != V_LIST && args[0].k != V_NULL)
			rc = eerr(x, e, MIG_ECONFIG, "%s: cannot convert %s to %s", f, kind_name(args[0].k),
					  want == &lst ? "list" : "set");
		else if ((rc = convert(x, &args[0], want, out, why, sizeof(why), 0)) == MIG_OK && why[0])
			rc = eerr(x, e, MIG_ECONFIG, "%s: %s", f, why);
	}
	else if (strcmp(f, "urlescape") == 0)
	{
		if ((rc = arg_string(x, e, args, 0, &s, &slen)) != MIG_OK)
			goto done;
		query_escape(&b, s, slen);
		rc = make_str(x, &b, out);
	}
	else if (strcmp(f, "urlqueryset") == 0)
	{
		if ((rc = fn_urlqueryset(x, e, args, &b)) == MIG_OK)
			rc = make_str(x, &b, out);
	}
	else
		rc = eerr(x, e, MIG_ECONFIG, "unknown function \"%s\"", f);
done:
	mig_buf_free(&b);
	return rc;
}

static int
eval_template(evalctx *x, const expr *e, value *out)
{
	const char **parts;
	size_t	   *lens;
	size_t		total = 0,
				i;
	char	   *s;
	int			rc;

	/* "${x}" alone is x itself, whatever its type */
	if (e->n == 1 && e->items[0]->kind != E_STR)
		return eval(x, e->items[0], out);
	parts = arena_alloc(&x->ar, e->n * sizeof(char *));
	lens = arena_alloc(&x->ar, e->n * sizeof(size_t));
	if (parts == NULL || lens == NULL)
		return eoom(x);
	for (i = 0; i < e->n; i++)
	{
		value		v;
		bool		ok;

		if ((rc = eval(x, e->items[i], &v)) != MIG_OK)
			return rc;
		if (v.k == V_NULL)
			return eerr(x, e->items[i], MIG_ECONFIG, "cannot interpolate a null value into a string");
		if ((rc = as_string(x, &v, &parts[i], &lens[i], &ok)) != MIG_OK)
			return rc;
		if (!ok)
			return eerr(x, e->items[i], MIG_ECONFIG, "cannot interpolate a %s into a string", kind_name(v.k));
		if (lens[i] > EVAL_LIMIT - total)
		{
			x->ar.over = true;
			return eoom(x);
		}
		total += lens[i];
	}
	s = arena_alloc(&x->ar, total + 1);
	if (s == NULL)
		return eoom(x);
	total = 0;
	for (i = 0; i < e->n; i++)
	{
		memcpy(s + total, parts[i], lens[i]);
		total += lens[i];
	}
	s[total] = '\0';
	*out = v_str(s, total);
	return MIG_OK;
}

static int
eval_binary(evalctx *x, const expr *e, value *out)
{
	value		a,
				b;
	double		m,
				n,
				r = 0;
	bool		p,
				q;
	int			rc;

	if ((rc = eval(x, e->x, &a)) != MIG_OK || (rc = eval(x, e->y, &b)) != MIG_OK)
		return rc;
	switch (e->op)
	{
		case OP_EQ:
			*out = v_bool(v_equal(x, &a, &b, 0));
			if (x->work >= EVAL_MAX_WORK)
				return too_complex(x, e);
			return MIG_OK;
		case OP_NE:
			*out = v_bool(!v_equal(x, &a, &b, 0));
			if (x->work >= EVAL_MAX_WORK)
				return too_complex(x, e);
			return MIG_OK;
		case OP_AND:
		case OP_OR:
			if (!as_bool(&a, &p) || !as_bool(&b, &q))
				return eerr(x, e, MIG_ECONFIG, "the operands of %s must be bools",
							e->op == OP_AND ? "&&" : "||");
			*out = v_bool(e->op == OP_AND ? (p && q) : (p || q));
			return MIG_OK;
		default:
			break;
	}
	if (!as_number(&a, &m) || !as_number(&b, &n))
		return eerr(x, e, MIG_ECONFIG, "the operands of this operator must be numbers");
	switch (e->op)
	{
		case '<':
			*out = v_bool(m < n);
			return MIG_OK;
		case '>':
			*out = v_bool(m > n);
			return MIG_OK;
		case OP_LE:
			*out = v_bool(m <= n);
			return MIG_OK;
		case OP_GE:
			*out = v_bool(m >= n);
			return MIG_OK;
		case '+':
			r = m + n;
			break;
		case '-':
			r = m - n;
			break;
		case '*':
			r = m * n;
			break;
		case '/':
			if (n == 0)
				return eerr(x, e, MIG_ECONFIG, "division by zero");
			r = m / n;
			break;
		case '%':
			if (n == 0)
				return eerr(x, e, MIG_ECONFIG, "division by zero");
			if (is_whole(m) && is_whole(n))
				r = (long long) n == -1 ? 0 : (double) ((long long) m % (long long) n);
			else if (m / n > -9.2e18 && m / n < 9.2e18)
				r = m - n * (double) (long long) (m / n);	/* sign of m, like fmod */
			else
				return eerr(x, e, MIG_ECONFIG, "number out of range");
			break;
	}
	if (!is_finite_number(r))
		return eerr(x, e, MIG_ECONFIG, "number out of range");
	*out = v_num(r);
	return MIG_OK;
}

static int
eval_inner(evalctx *x, const expr *e, value *out)
{
	size_t		i,
				j;
	int			rc;

	memset(out, 0, sizeof(*out));
	switch (e->kind)
	{
		case E_NULL:
			out->k = V_NULL;
			return MIG_OK;
		case E_BOOL:
			*out = v_bool(e->bval);
			return MIG_OK;
		case E_NUM:
			*out = v_num(e->num);
			return MIG_OK;
		case E_STR:
			*out = v_str(e->s, e->slen);
			return MIG_OK;
		case E_TMPL:
			return eval_template(x, e, out);
		case E_LIST:
			out->k = V_LIST;
			out->items = arena_zalloc(&x->ar, (e->n ? e->n : 1) * sizeof(value));
			if (out->items == NULL)
				return eoom(x);
			for (i = 0; i < e->n; i++)
				if ((rc = eval(x, e->items[i], &out->items[out->cnt++])) != MIG_OK)
					return rc;
			return MIG_OK;
		case E_OBJECT:
			{
				size_t		pairs = e->n / 2;

				out->k = V_MAP;
				out->items = arena_zalloc(&x->ar, (pairs ? pairs : 1) * sizeof(value));
				out->keys = arena_zalloc(&x->ar, (pairs ? pairs : 1) * sizeof(char *));
				if (out->items == NULL || out->keys == NULL)
					return eoom(x);
				for (i = 0; i < pairs; i++)
				{
					value		k;
					size_t		klen;
					bool		ok;

					if ((rc = eval(x, e->items[2 * i], &k)) != MIG_OK)
						return rc;
					if ((rc = as_string(x, &k, &out->keys[i], &klen, &ok)) != MIG_OK)
						return rc;
					if (!ok)
						return eerr(x, e->items[2 * i], MIG_ECONFIG, "an object key must be a string");
					if (!spend(x, (long) i + 1))
						return too_complex(x, e);
					for (j = 0; j < i; j++)
						if (strcmp(out->keys[j], out->keys[i]) == 0)
							return eerr(x, e->items[2 * i], MIG_ECONFIG, "duplicate key in object");
					if ((rc = eval(x, e->items[2 * i + 1], &out->items[i])) != MIG_OK)
						return rc;
					out->cnt++;
				}
				return MIG_OK;
			}
		case E_IDENT:
			if (x->enums && in_list(exec_order_enums, e->s))
			{
				*out = v_str(e->s, e->slen);
				return MIG_OK;
			}
			return eerr(x, e, MIG_ECONFIG, "unknown variable \"%s\"", e->s);
		case E_ATTR:
		case E_INDEX:
			return eval_traversal(x, e, out);
		case E_CALL:
			return eval_call(x, e, out);
		case E_UNARY:
			{
				value		v;
				double		n;
				bool		b;

				if ((rc = eval(x, e->x, &v)) != MIG_OK)
					return rc;
				if (e->op == '-')
				{
					if (!as_number(&v, &n))
						return eerr(x, e, MIG_ECONFIG, "the operand of \"-\" must be a number");
					*out = v_num(-n);
				}
				else
				{
					if (!as_bool(&v, &b))
						return eerr(x, e, MIG_ECONFIG, "the operand of \"!\" must be a bool");
					*out = v_bool(!b);
				}
				return MIG_OK;
			}
		case E_BINARY:
			return eval_binary(x, e, out);
		case E_COND:
			{
				value		c;
				bool		b;

				if ((rc = eval(x, e->x, &c)) != MIG_OK)
					return rc;
				if (!as_bool(&c, &b))
					return eerr(x, e->x, MIG_ECONFIG, "the condition must be a bool, got %s", kind_name(c.k));
				return eval(x, b ? e->y : e->z, out);
			}
		case E_PAREN:
			return eval(x, e->x, out);
	}
	return eerr(x, e, MIG_ECONFIG, "cannot evaluate this expression");
}

static int
eval(evalctx *x, const expr *e, value *out)
{
	int			rc;

	if (++x->depth > EVAL_MAX_DEPTH)
	{
		x->depth--;
		return eerr(x, e, MIG_ECONFIG, "evaluation nested too deeply (more than %d levels, through locals)",
					EVAL_MAX_DEPTH);
	}
	rc = eval_inner(x, e, out);
	x->depth--;
	return rc;
}

/* ---------------------------------------------------------------- env selection and output */

static const char *
var_source_name(const mig_var *v)
{
	return v->name ? v->name : "";
}

/*
 * A caller-supplied value (§i.2): one value, or several = a list; a single
 * value for a list or set variable is wrapped into a one-element list.
 */
static int
caller_value(evalctx *x, const mig_var *mv, const htype *type, value *out)
{
	size_t		i;

	memset(out, 0, sizeof(*out));
	if (!mv->is_list && mv->nvalues == 1 && type->k != TY_LIST && type->k != TY_SET)
	{
		const char *s = mv->values[0] ? mv->values[0] : "";

		*out = v_str(s, strlen(s));
		return MIG_OK;
	}
	out->k = V_LIST;
	out->items = arena_zalloc(&x->ar, (mv->nvalues ? mv->nvalues : 1) * sizeof(value));
	if (out->items == NULL)
		return eoom(x);
	for (i = 0; i < mv->nvalues; i++)
	{
		const char *s = mv->values[i] ? mv->values[i] : "";

		out->items[out->cnt++] = v_str(s, strlen(s));
	}
	return MIG_OK;
}

/* Values of every declared variable: caller's value, else default (§i.2). */
static int
eval_variables(evalctx *x, const mig_vars *vars)
{
	const mig_config *cfg = x->cfg;
	size_t		i,
				j;
	int			rc;

	/* a value for an undeclared variable is most likely a typo */
	for (j = 0; vars && j < vars->n; j++)
		if (find_var(cfg, var_source_name(&vars->v[j])) == NULL)
			return mig_err_set(x->err, MIG_ECONFIG,
							   "variable \"%.200s\" is not declared in the config (no variable \"%.200s\" block)",
							   var_source_name(&vars->v[j]), var_source_name(&vars->v[j]));
	for (i = 0; i < cfg->nvars; i++)
	{
		const vardecl *d = &cfg->vars[i];
		const mig_var *given = NULL;
		value		v;
		char		why[300];

		for (j = 0; vars && j < vars->n; j++)
			if (strcmp(var_source_name(&vars->v[j]), d->name) == 0)
				given = &vars->v[j];
		if (given)
		{
			if ((rc = caller_value(x, given, d->type, &v)) != MIG_OK)
				return rc;
		}
		else if (d->def)
		{
			if ((rc = eval(x, d->def->value, &v)) != MIG_OK)
				return rc;
		}
		else
			return mig_err_set(x->err, MIG_ECONFIG, "%d:%d: missing value for required variable \"%s\"",
							   d->blk->line, d->blk->col, d->name);
		if ((rc = convert(x, &v, d->type, &x->vars[i], why, sizeof(why), 0)) != MIG_OK)
			return rc;
		if (why[0])
		{
			if (given)
				return mig_err_set(x->err, MIG_ECONFIG, "invalid value for variable \"%s\": %s",
								   d->name, why);
			return mig_err_set(x->err, MIG_ECONFIG, "%d:%d: invalid default for variable \"%s\": %s",
							   d->def->line, d->def->col, d->name, why);
		}
	}
	return MIG_OK;
}

/*
 * Evaluate attribute `name` of b into a mig_alloc'd string: NULL when the
 * attribute is absent, null, or (when empty_unset) "".  Lists and objects
 * are an error naming the attribute only.
 */
static int
eval_string_attr(evalctx *x, const body *b, const char *name, const char *where,
				 bool empty_unset, char **out)
{
	const attr *a = find_attr(b, name);
	value		v;
	const char *s;
	size_t		len;
	bool		ok;
	int			rc;

	*out = NULL;
	if (a == NULL)
		return MIG_OK;
	if ((rc = eval(x, a->value, &v)) != MIG_OK)
		return rc;
	if (v.k == V_NULL)
		return MIG_OK;
	if ((rc = as_string(x, &v, &s, &len, &ok)) != MIG_OK)
		return rc;
	if (!ok)
		return mig_err_set(x->err, MIG_ECONFIG, "%d:%d: attribute \"%s\" in %s must be a string, got %s",
						   a->line, a->col, name, where, kind_name(v.k));
	if (memchr(s, '\0', len) != NULL)
		return mig_err_set(x->err, MIG_ECONFIG, "%d:%d: attribute \"%s\" in %s contains a NUL character",
						   a->line, a->col, name, where);
	if (len == 0 && empty_unset)
		return MIG_OK;
	*out = mig_strndup(s, len);
	if (*out == NULL)
		return mig_err_set(x->err, MIG_ENOMEM, "out of memory");
	return MIG_OK;
}

/* exec_order: lower-case, '_' -> '-', one of three words (§i.2). */
static int
normalise_exec_order(evalctx *x, const body *mig, char **v)
{
	const attr *a = find_attr(mig, "exec_order");
	char	   *s = *v;
	size_t		i;
	mig_buf		q;

	if (s == NULL)
		return MIG_OK;
	mig_buf_init(&q);
	mig_buf_goquote(&q, s, strlen(s) > 64 ? 64 : strlen(s));
	for (i = 0; s[i]; i++)
	{
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char) (s[i] - 'A' + 'a');
		else if (s[i] == '_')
			s[i] = '-';
	}
	if (strcmp(s, "linear") == 0 || strcmp(s, "linear-skip") == 0 || strcmp(s, "non-linear") == 0)
	{
		mig_buf_free(&q);
		return MIG_OK;
	}
	mig_err_set(x->err, MIG_ECONFIG, "%d:%d: unknown execution order: %s",
				a->line, a->col, q.data && !q.oom ? q.data : "\"?\"");
	mig_buf_free(&q);
	return MIG_ECONFIG;
}

/* §i.3: labelled envs named `name`, else unlabelled ones named atlas.env. */
static int
select_env(const mig_config *cfg, const char *name, const block **out, mig_err *err)
{
	const block *found = NULL;
	size_t		count = 0,
				i;
	bool		other_unlabelled = false;
	int			pass;

	*out = NULL;
	for (pass = 0; pass < 2 && count == 0; pass++)
		for (i = 0; i < cfg->nenvs; i++)
		{
			const block *k = cfg->envs[i];
			bool		match;

			if (pass == 0)
				match = k->nlabels == 1 && strcmp(k->labels[0], name) == 0;
			else
			{
				const attr *a = find_attr(&k->body, "name");

				match = k->nlabels == 0 && a && is_atlas_env_ref(a->value);
				if (k->nlabels == 0 && !match)
					other_unlabelled = true;
			}
			if (!match)
				continue;
			if (count == 1)
			{
				count++;
				mig_err_set(err, MIG_ENOTSUP,
							"%d:%d: env \"%.200s\" is defined more than once (also at %d:%d); "
							"running several envs in one call is not supported yet",
							k->line, k->col, name, found->line, found->col);
				mig_err_hint(err, "Give each target its own env name and apply them one by one.");
				return MIG_ENOTSUP;
			}
			found = k;
			count++;
		}
	if (found == NULL)
	{
		mig_err_set(err, MIG_ENOTFOUND, "env \"%.200s\" not defined in config file", name);
		if (other_unlabelled)
			mig_err_hint(err, "An env block without a label is used only when its name attribute is atlas.env.");
		return MIG_ENOTFOUND;
	}
	if (name[0] == '\0')
		return mig_err_set(err, MIG_ECONFIG, "all envs must have names on file \"%s\"", CONFIG_NAME);
	if (find_attr(&found->body, "for_each"))
	{
		const attr *fe = find_attr(&found->body, "for_each");

		mig_err_set(err, MIG_ENOTSUP,
					"%d:%d: env \"%.200s\" uses for_each, which is not supported yet (one env per call)",
					fe->line, fe->col, name);
		mig_err_hint(err, "Write one env block per target database and apply each by name.");
		return MIG_ENOTSUP;
	}
	*out = found;
	return MIG_OK;
}

/* Free an evaluated env's strings (the token is wiped first); zeroes *env. */
void
mig_env_free(mig_env *env)
{
	if (env == NULL)
		return;
	mig_free(env->name);
	mig_free(env->url);
	mig_free(env->dir);
	mig_free(env->revisions_schema);
	mig_free(env->baseline);
	mig_free(env->exec_order);
	mig_free(env->lock_timeout);
	mig_free(env->tx_mode);
	if (env->cloud_token)
	{
		volatile char *t = env->cloud_token;

		while (*t)
			*t++ = '\0';
		mig_free(env->cloud_token);
	}
	mig_free(env->cloud_url);
	mig_free(env->cloud_project);
	mig_free(env->cloud_ca_file);
	mig_free(env->cloud_timeout);
	memset(env, 0, sizeof(*env));
}

/* atlas { cloud { } } (§i.2, §j.1): empty token = cloud off. */
static int
eval_cloud(evalctx *x, mig_env *env)
{
	const block *c = x->cfg->cloud;
	int			rc;

	if (c)
	{
		x->secret = true;
		rc = eval_string_attr(x, &c->body, "token", "cloud block", true, &env->cloud_token);
		x->secret = false;
		if (rc != MIG_OK)
			return rc;
		if ((rc = eval_string_attr(x, &c->body, "url", "cloud block", true, &env->cloud_url)) != MIG_OK ||
			(rc = eval_string_attr(x, &c->body, "project", "cloud block", true, &env->cloud_project)) != MIG_OK ||
			(rc = eval_string_attr(x, &c->body, "ca_file", "cloud block", true, &env->cloud_ca_file)) != MIG_OK ||
			(rc = eval_string_attr(x, &c->body, "timeout", "cloud block", true, &env->cloud_timeout)) != MIG_OK)
			return rc;
	}
	env->cloud = env->cloud_token != NULL;
	if (env->cloud_url == NULL && (env->cloud_url = mig_strdup(CLOUD_URL_DEFAULT)) == NULL)
		return mig_err_set(x->err, MIG_ENOMEM, "out of memory");
	if (env->cloud_project == NULL && (env->cloud_project = mig_strdup(CLOUD_PROJECT_DEFAULT)) == NULL)
		return mig_err_set(x->err, MIG_ENOMEM, "out of memory");
	return MIG_OK;
}

static int
eval_env(evalctx *x, const block *k, const char *name, mig_env *env)
{
	const block *mig = NULL;
	size_t		i;
	int			rc;

	if ((env->name = mig_strdup(name)) == NULL)
		return mig_err_set(x->err, MIG_ENOMEM, "out of memory");
	if ((rc = eval_string_attr(x, &k->body, "url", "env block", true, &env->url)) != MIG_OK)
		return rc;
	for (i = 0; i < k->body.nblocks; i++)
		if (strcmp(k->body.blocks[i]->type, "migration") == 0)
			mig = k->body.blocks[i];
	if (mig == NULL)
		return MIG_OK;
	if ((rc = eval_string_attr(x, &mig->body, "dir", "migration block", true, &env->dir)) != MIG_OK ||
		(rc = eval_string_attr(x, &mig->body, "revisions_schema", "migration block", true,
							   &env->revisions_schema)) != MIG_OK ||
		(rc = eval_string_attr(x, &mig->body, "baseline", "migration block", true, &env->baseline)) != MIG_OK ||
		(rc = eval_string_attr(x, &mig->body, "lock_timeout", "migration block", true,
							   &env->lock_timeout)) != MIG_OK ||
		(rc = eval_string_attr(x, &mig->body, "tx_mode", "migration block", true, &env->tx_mode)) != MIG_OK)
		return rc;
	x->enums = true;
	rc = eval_string_attr(x, &mig->body, "exec_order", "migration block", true, &env->exec_order);
	x->enums = false;
	if (rc != MIG_OK)
		return rc;
	return normalise_exec_order(x, &mig->body, &env->exec_order);
}

/*
 * Select env `name` (§i.3) and evaluate it with the caller's variable
 * values (see mig.h).  On error *out is all zeroes and nothing is left
 * allocated.
 */
int
mig_hcl_env(const mig_config *cfg, const char *name, const mig_vars *vars,
			mig_env *out, mig_err *err)
{
	evalctx		x;
	mig_env		env;
	const block *sel;
	int			rc;

	if (out == NULL)
		return mig_err_set(err, MIG_EINVAL, "mig_hcl_env: no output");
	memset(out, 0, sizeof(*out));
	if (cfg == NULL)
		return mig_err_set(err, MIG_EINVAL, "mig_hcl_env: no config");
	if (name == NULL)
		return mig_err_set(err, MIG_EINVAL, "an env name is required");
	memset(&env, 0, sizeof(env));
	memset(&x, 0, sizeof(x));
	x.cfg = cfg;
	x.err = err;
	x.envname = name;
	arena_init(&x.ar, EVAL_LIMIT, true);

	if ((rc = select_env(cfg, name, &sel, err)) != MIG_OK)
		goto done;
	x.vars = arena_zalloc(&x.ar, (cfg->nvars ? cfg->nvars : 1) * sizeof(value));
	x.locals = arena_zalloc(&x.ar, (cfg->nlocals ? cfg->nlocals : 1) * sizeof(value));
	x.lstate = arena_zalloc(&x.ar, cfg->nlocals ? cfg->nlocals : 1);
	if (x.vars == NULL || x.locals == NULL || x.lstate == NULL)
	{
		rc = eoom(&x);
		goto done;
	}
	if ((rc = eval_variables(&x, vars)) != MIG_OK ||
		(rc = eval_cloud(&x, &env)) != MIG_OK ||
		(rc = eval_env(&x, sel, name, &env)) != MIG_OK)
		goto done;
	*out = env;
	memset(&env, 0, sizeof(env));
done:
	mig_env_free(&env);
	arena_free(&x.ar);
	return rc;
}
