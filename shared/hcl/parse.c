/*
 * parse.c - recursive-descent parser for the HCL2 native syntax subset
 * (spec §i.1): expressions with HCL's precedence, quoted templates with
 * ${ } interpolation and ~ strip markers, heredocs (<<EOS, <<-EOS), lists,
 * objects, calls, traversals, and bodies of attributes and blocks.  Builds
 * the syntax tree in the config's arena; checks nothing about meaning.
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcl_int.h"

static int	parse_expr(parser *p, expr **out);

static expr *
new_expr(parser *p, ekind kind, int line, int col, size_t start)
{
	expr	   *e = hcl_arena_zalloc(p->ar, sizeof(expr));

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
		return hcl_perr(p, e->line, e->col, "expression nested too deeply (more than %d levels)", MAX_DEPTH);
	return MIG_OK;
}

static int
push_item(parser *p, expr *e, size_t *cap, expr *item)
{
	expr	  **v = hcl_arena_grow(p->ar, e->items, e->n, cap, sizeof(expr *));

	if (v == NULL)
		return hcl_poom(p);
	e->items = v;
	e->items[e->n++] = item;
	return MIG_OK;
}

static int
enter(parser *p, int line, int col)
{
	if (++p->depth > MAX_DEPTH)
		return hcl_perr(p, line, col, "nesting too deep (more than %d levels)", MAX_DEPTH);
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

/* One template being scanned (parse_template and its helpers). */
typedef struct tscan
{
	const tok  *open;			/* the opening quote or heredoc marker */
	tmode		mode;
	expr	   *t;				/* the template being built */
	size_t		cap;			/* capacity of t->items */
	mig_buf		lit;			/* literal text not yet in t */
	int			lit_line;		/* where lit starts */
	int			lit_col;
	size_t		indent;			/* <<-: blanks stripped from each line */
	bool		line_start;		/* heredoc: at the start of a line */
	bool		strip_next;		/* after a ~} marker: skip blanks */
	bool		closed;			/* the closing quote or marker is consumed */
} tscan;

/* Move the literal text in lit into a new E_STR part of t. */
static int
flush_lit(parser *p, tscan *ts)
{
	expr	   *s;

	if (ts->lit.oom)
		return hcl_poom(p);
	if (ts->lit.len == 0)
		return MIG_OK;
	s = new_expr(p, E_STR, ts->lit_line, ts->lit_col, p->st.pos);
	if (s == NULL || (s->s = hcl_arena_strndup(p->ar, ts->lit.data, ts->lit.len)) == NULL)
		return hcl_poom(p);
	s->slen = ts->lit.len;
	s->end = p->st.pos;
	mig_buf_reset(&ts->lit);
	return push_item(p, ts->t, &ts->cap, s);
}

/*
 * After <<EOS: the newline that must follow, then find the closing line
 * (an unterminated heredoc fails here) and, for <<-, the common indentation
 * of the non-blank lines.
 */
static int
heredoc_open(parser *p, tscan *ts)
{
	const char *src = p->src;
	size_t		n = p->len;
	size_t		pos = p->st.pos;
	size_t		after;
	size_t		minind = (size_t) -1;
	bool		found = false;
	const tok  *open = ts->open;

	if (pos < n && src[pos] == '\r')
		pos++;
	if (pos >= n || src[pos] != '\n')
		return hcl_perr(p, open->line, open->col,
						"invalid heredoc: a newline must follow the opening marker");
	hcl_advance(src, &p->st, pos + 1 - p->st.pos);
	for (pos = p->st.pos; pos <= n;)
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
		return hcl_perr(p, open->line, open->col, "unterminated heredoc");
	if (!found)
		return hcl_perr(p, open->line, open->col,
						"unterminated heredoc: no closing line \"%.*s\"",
						open->mlen > 64 ? 64 : (int) open->mlen, src + open->mstart);
	ts->indent = open->flush && minind != (size_t) -1 ? minind : 0;
	ts->line_start = true;
	return MIG_OK;
}

/* At the start of a heredoc line: the closing marker, or strip the indent. */
static int
heredoc_line(parser *p, tscan *ts)
{
	size_t		after;
	size_t		k = 0;
	int			rc;

	ts->line_start = false;
	if (heredoc_close(p, p->st.pos, ts->open, &after))
	{
		if ((rc = flush_lit(p, ts)) != MIG_OK)
			return rc;
		hcl_advance(p->src, &p->st, after - p->st.pos);
		ts->closed = true;
		return MIG_OK;
	}
	while (k < ts->indent && p->st.pos < p->len &&
		   (p->src[p->st.pos] == ' ' || p->src[p->st.pos] == '\t'))
	{
		hcl_advance(p->src, &p->st, 1);
		k++;
	}
	return MIG_OK;
}

/* The digits of \uXXXX or \UXXXXXXXX (after the backslash at esc). */
static int
hex_escape(parser *p, const lexstate *esc, char e, int digits, unsigned long *cp)
{
	int			i;

	*cp = 0;
	for (i = 0; i < digits; i++)
	{
		size_t		q = esc->pos + 2 + (size_t) i;
		int			v = q < p->len ? mig_hexval(p->src[q]) : -1;

		if (v < 0)
			return hcl_perr(p, esc->line, esc->col,
							"invalid escape sequence in string: \\%c needs %d hex digits", e, digits);
		*cp = *cp * 16 + (unsigned long) v;
	}
	if (*cp == 0 || (*cp >= 0xD800 && *cp <= 0xDFFF) || *cp > 0x10FFFF)
		return hcl_perr(p, esc->line, esc->col, "invalid escape sequence in string: not a valid character");
	return MIG_OK;
}

/* A backslash escape of a quoted string (§i.1 "Literals"). */
static int
scan_escape(parser *p, tscan *ts)
{
	lexstate	esc = p->st;
	char		e = p->st.pos + 1 < p->len ? p->src[p->st.pos + 1] : '\0';
	unsigned long cp;
	int			digits = 0;
	int			rc;

	switch (e)
	{
		case 'n':
			mig_buf_putc(&ts->lit, '\n');
			break;
		case 't':
			mig_buf_putc(&ts->lit, '\t');
			break;
		case 'r':
			mig_buf_putc(&ts->lit, '\r');
			break;
		case '"':
			mig_buf_putc(&ts->lit, '"');
			break;
		case '\\':
			mig_buf_putc(&ts->lit, '\\');
			break;
		case 'u':
			digits = 4;
			break;
		case 'U':
			digits = 8;
			break;
		default:
			return hcl_perr(p, esc.line, esc.col, "invalid escape sequence in string");
	}
	if (digits)
	{
		if ((rc = hex_escape(p, &esc, e, digits, &cp)) != MIG_OK)
			return rc;
		put_utf8(&ts->lit, cp);
	}
	hcl_advance(p->src, &p->st, 2 + (size_t) digits);
	return MIG_OK;
}

/* An interpolation ${ expr } (with ~ strip markers), p->st at its '$'. */
static int
scan_interp(parser *p, tscan *ts)
{
	lexstate	at = p->st;
	expr	   *e = NULL;
	tok			k;
	int			rc;

	if (ts->mode == TM_LABEL)
		return hcl_perr(p, at.line, at.col, "block labels cannot contain template interpolation");
	hcl_advance(p->src, &p->st, 2);
	if (p->st.pos < p->len && p->src[p->st.pos] == '~')
	{
		while (ts->lit.len > 0 && is_tmpl_space(ts->lit.data[ts->lit.len - 1]))
			ts->lit.data[--ts->lit.len] = '\0';
		hcl_advance(p->src, &p->st, 1);
	}
	if ((rc = flush_lit(p, ts)) != MIG_OK || (rc = enter(p, at.line, at.col)) != MIG_OK)
		return rc;
	p->nlskip++;
	rc = parse_expr(p, &e);
	if (rc == MIG_OK)
		rc = hcl_lex(p, &k);
	if (rc == MIG_OK && hcl_is_op(&k, '~'))
	{
		hcl_take(p, &k);
		ts->strip_next = true;
		rc = hcl_lex(p, &k);
	}
	if (rc == MIG_OK && !hcl_is_op(&k, '}'))
		rc = hcl_expected(p, &k, "\"}\" to close the interpolation");
	p->nlskip--;
	p->depth--;
	if (rc != MIG_OK)
		return rc;
	/* k was read with newlines skipped; resume right after the '}' */
	hcl_take(p, &k);
	return push_item(p, ts->t, &ts->cap, e);
}

/* One step of a template: a character, an escape or an interpolation. */
static int
scan_step(parser *p, tscan *ts)
{
	const char *src = p->src;
	size_t		n = p->len;
	size_t		pos = p->st.pos;
	char		c;

	if (pos >= n)
		return hcl_perr(p, ts->open->line, ts->open->col, ts->mode == TM_HEREDOC ?
						"unterminated heredoc" : "unterminated string");
	c = src[pos];
	if (ts->lit.len == 0)
	{
		ts->lit_line = p->st.line;
		ts->lit_col = p->st.col;
	}
	if (c == '\0')
		return hcl_perr(p, p->st.line, p->st.col, "invalid character (byte 0x00)");
	if (ts->mode != TM_HEREDOC && c == '"')
	{
		hcl_advance(src, &p->st, 1);
		ts->closed = true;
		return flush_lit(p, ts);
	}
	if (ts->mode != TM_HEREDOC && c == '\n')
		return hcl_perr(p, ts->open->line, ts->open->col,
						"unterminated string: a quoted string cannot span lines");
	if (ts->strip_next && is_tmpl_space(c))
	{
		hcl_advance(src, &p->st, 1);
		ts->line_start = c == '\n';
		return MIG_OK;
	}
	ts->strip_next = false;
	if (ts->mode != TM_HEREDOC && c == '\\')
		return scan_escape(p, ts);
	if ((c == '$' || c == '%') && pos + 2 < n && src[pos + 1] == c && src[pos + 2] == '{')
	{
		/* $${ and %%{ are a literal ${ and %{ */
		mig_buf_putc(&ts->lit, c);
		mig_buf_putc(&ts->lit, '{');
		hcl_advance(src, &p->st, 3);
		return MIG_OK;
	}
	if (c == '%' && pos + 1 < n && src[pos + 1] == '{')
		return hcl_perr(p, p->st.line, p->st.col,
						"template directives (%%{ ... }) are not supported; use $${ for interpolation");
	if (c == '$' && pos + 1 < n && src[pos + 1] == '{')
		return scan_interp(p, ts);
	mig_buf_putc(&ts->lit, c);
	hcl_advance(src, &p->st, 1);
	ts->line_start = c == '\n';
	return MIG_OK;
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
	tscan		ts;
	expr	   *t;
	int			rc = MIG_OK;

	memset(&ts, 0, sizeof(ts));
	ts.open = open;
	ts.mode = mode;
	mig_buf_init(&ts.lit);
	t = ts.t = new_expr(p, E_TMPL, open->line, open->col, open->start);
	if (t == NULL)
		return hcl_poom(p);
	if (mode == TM_HEREDOC)
		rc = heredoc_open(p, &ts);
	while (rc == MIG_OK && !ts.closed)
	{
		if (mode == TM_HEREDOC && ts.line_start)
		{
			if ((rc = heredoc_line(p, &ts)) != MIG_OK || ts.closed)
				break;
		}
		rc = scan_step(p, &ts);
	}
	if (rc != MIG_OK)
		goto done;
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
	if (rc == MIG_OK && ts.lit.oom)
		rc = hcl_poom(p);
	mig_buf_free(&ts.lit);
	return rc;
}

/* Parse a decimal number literal (locale-independent). */
bool
hcl_parse_number(const char *s, size_t len, double *out)
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

/*
 * After an item of a call's arguments or a list: "," (another item may
 * follow) or the closing bracket (*end).  what names the sequence in the
 * error for anything else.
 */
static int
item_separator(parser *p, int close, const char *what, bool *end)
{
	tok			t;
	int			rc;

	*end = false;
	if ((rc = hcl_lex(p, &t)) != MIG_OK)
		return rc;
	if (close == ')' && hcl_is_op(&t, OP_ELLIPSIS))
		return hcl_perr(p, t.line, t.col, "expanding arguments with \"...\" is not supported");
	if (!hcl_is_op(&t, ',') && !hcl_is_op(&t, close))
		return hcl_expected(p, &t, what);
	*end = hcl_is_op(&t, close);
	hcl_take(p, &t);
	return MIG_OK;
}

static int
parse_call(parser *p, const tok *name, expr **out)
{
	expr	   *e;
	size_t		cap = 0;
	tok			t;
	bool		end;
	int			rc;

	e = new_expr(p, E_CALL, name->line, name->col, name->start);
	if (e == NULL || (e->s = hcl_arena_strndup(p->ar, p->src + name->start, name->len)) == NULL)
		return hcl_poom(p);
	e->slen = name->len;
	if ((rc = hcl_expect_op(p, '(', "\"(\"")) != MIG_OK)
		return rc;
	p->nlskip++;
	for (;;)
	{
		expr	   *arg;

		if ((rc = hcl_lex(p, &t)) != MIG_OK)
			break;
		if (hcl_is_op(&t, ')'))
		{
			hcl_take(p, &t);
			break;
		}
		if ((rc = parse_expr(p, &arg)) != MIG_OK)
			break;
		if ((rc = push_item(p, e, &cap, arg)) != MIG_OK)
			break;
		if ((rc = item_separator(p, ')', "\",\" or \")\" in the argument list", &end)) != MIG_OK || end)
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
	bool		end;
	int			rc = MIG_OK;

	e = new_expr(p, E_LIST, open->line, open->col, open->start);
	if (e == NULL)
		return hcl_poom(p);
	p->nlskip++;
	for (;;)
	{
		expr	   *item;

		if ((rc = hcl_lex(p, &t)) != MIG_OK)
			break;
		if (hcl_is_op(&t, ']'))
		{
			hcl_take(p, &t);
			break;
		}
		if (e->n == 0 && t.t == T_IDENT && t.len == 3 && memcmp(p->src + t.start, "for", 3) == 0)
		{
			lexstate	save = p->st;
			size_t		save_end = p->last_end;
			tok			u;

			hcl_take(p, &t);
			rc = hcl_lex(p, &u);
			p->st = save;
			p->last_end = save_end;
			if (rc == MIG_OK && u.t == T_IDENT)
				rc = hcl_perr(p, t.line, t.col, "\"for\" expressions are not supported");
			if (rc != MIG_OK)
				break;
		}
		if ((rc = parse_expr(p, &item)) != MIG_OK)
			break;
		if ((rc = push_item(p, e, &cap, item)) != MIG_OK)
			break;
		if ((rc = item_separator(p, ']', "\",\" or \"]\" in the list", &end)) != MIG_OK || end)
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
		return hcl_poom(p);
	p->nlskip = 0;				/* newlines separate items */
	for (;;)
	{
		expr	   *key;
		expr	   *val;

		if ((rc = hcl_lex(p, &t)) != MIG_OK)
			break;
		if (t.t == T_NL)
		{
			hcl_take(p, &t);
			continue;
		}
		if (hcl_is_op(&t, '}'))
		{
			hcl_take(p, &t);
			break;
		}
		if (t.t == T_IDENT)
		{
			tok			u;

			hcl_take(p, &t);
			if (e->n == 0 && t.len == 3 && memcmp(p->src + t.start, "for", 3) == 0 &&
				(rc = hcl_lex(p, &u)) == MIG_OK && u.t == T_IDENT)
			{
				rc = hcl_perr(p, t.line, t.col, "\"for\" expressions are not supported");
				break;
			}
			if (rc != MIG_OK)
				break;
			key = new_expr(p, E_STR, t.line, t.col, t.start);
			if (key == NULL || (key->s = hcl_arena_strndup(p->ar, p->src + t.start, t.len)) == NULL)
			{
				rc = hcl_poom(p);
				break;
			}
			key->slen = t.len;
			key->end = t.end.pos;
		}
		else if (t.t == T_QUOTE || t.t == T_NUM || hcl_is_op(&t, '('))
		{
			if ((rc = parse_expr(p, &key)) != MIG_OK)
				break;
		}
		else
		{
			rc = hcl_expected(p, &t, "an object key");
			break;
		}
		if ((rc = hcl_lex(p, &t)) != MIG_OK)
			break;
		if (!hcl_is_op(&t, '=') && !hcl_is_op(&t, ':'))
		{
			rc = hcl_expected(p, &t, "\"=\" or \":\" after the object key");
			break;
		}
		hcl_take(p, &t);
		if ((rc = parse_expr(p, &val)) != MIG_OK)
			break;
		if ((rc = push_item(p, e, &cap, key)) != MIG_OK ||
			(rc = push_item(p, e, &cap, val)) != MIG_OK)
			break;
		if ((rc = hcl_lex(p, &t)) != MIG_OK)
			break;
		if (hcl_is_op(&t, ',') || t.t == T_NL)
		{
			hcl_take(p, &t);
			continue;
		}
		if (hcl_is_op(&t, '}'))
		{
			hcl_take(p, &t);
			break;
		}
		rc = hcl_expected(p, &t, "\",\", a newline or \"}\" after the object item");
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

	if ((rc = hcl_lex(p, &t)) != MIG_OK)
		return rc;
	switch (t.t)
	{
		case T_NUM:
			hcl_take(p, &t);
			e = new_expr(p, E_NUM, t.line, t.col, t.start);
			if (e == NULL)
				return hcl_poom(p);
			if (!hcl_parse_number(p->src + t.start, t.len, &e->num))
				return hcl_perr(p, t.line, t.col, "invalid number");
			*out = e;
			return seal(p, e);
		case T_IDENT:
			{
				const char *s = p->src + t.start;
				tok			u;

				hcl_take(p, &t);
				if ((rc = hcl_lex(p, &u)) != MIG_OK)
					return rc;
				if (hcl_is_op(&u, '('))
					return parse_call(p, &t, out);
				e = new_expr(p, E_IDENT, t.line, t.col, t.start);
				if (e == NULL)
					return hcl_poom(p);
				if (t.len == 4 && memcmp(s, "true", 4) == 0)
				{
					e->kind = E_BOOL;
					e->bval = true;
				}
				else if (t.len == 5 && memcmp(s, "false", 5) == 0)
					e->kind = E_BOOL;
				else if (t.len == 4 && memcmp(s, "null", 4) == 0)
					e->kind = E_NULL;
				else if ((e->s = hcl_arena_strndup(p->ar, s, t.len)) == NULL)
					return hcl_poom(p);
				e->slen = t.len;
				*out = e;
				return seal(p, e);
			}
		case T_QUOTE:
			hcl_take(p, &t);
			return parse_template(p, &t, TM_QUOTED, out);
		case T_HEREDOC:
			hcl_take(p, &t);
			return parse_template(p, &t, TM_HEREDOC, out);
		case T_OP:
			if (t.op == '(')
			{
				hcl_take(p, &t);
				e = new_expr(p, E_PAREN, t.line, t.col, t.start);
				if (e == NULL)
					return hcl_poom(p);
				p->nlskip++;
				rc = parse_expr(p, &e->x);
				if (rc == MIG_OK)
					rc = hcl_expect_op(p, ')', "\")\"");
				p->nlskip--;
				if (rc != MIG_OK)
					return rc;
				*out = e;
				return seal(p, e);
			}
			if (t.op == '[')
			{
				hcl_take(p, &t);
				return parse_list(p, &t, out);
			}
			if (t.op == '{')
			{
				hcl_take(p, &t);
				return parse_object(p, &t, out);
			}
			break;
		default:
			break;
	}
	return hcl_expected(p, &t, "an expression");
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

		if ((rc = hcl_lex(p, &t)) != MIG_OK)
			return rc;
		if (hcl_is_op(&t, '.'))
		{
			tok			u;

			hcl_take(p, &t);
			if ((rc = hcl_lex(p, &u)) != MIG_OK)
				return rc;
			if (hcl_is_op(&u, '*'))
				return hcl_perr(p, u.line, u.col, "splat expressions (.*) are not supported");
			if (u.t != T_IDENT && u.t != T_NUM)
				return hcl_expected(p, &u, "an attribute name after \".\"");
			hcl_take(p, &u);
			s = new_expr(p, u.t == T_IDENT ? E_ATTR : E_INDEX, u.line, u.col, e->start);
			if (s == NULL)
				return hcl_poom(p);
			s->x = e;
			if (u.t == T_IDENT)
			{
				if ((s->s = hcl_arena_strndup(p->ar, p->src + u.start, u.len)) == NULL)
					return hcl_poom(p);
				s->slen = u.len;
			}
			else
			{
				/* legacy index form: list.0 */
				s->y = new_expr(p, E_NUM, u.line, u.col, u.start);
				if (s->y == NULL)
					return hcl_poom(p);
				if (!hcl_parse_number(p->src + u.start, u.len, &s->y->num))
					return hcl_perr(p, u.line, u.col, "invalid index");
				s->y->end = u.end.pos;
			}
		}
		else if (hcl_is_op(&t, '['))
		{
			tok			u;

			hcl_take(p, &t);
			if ((rc = hcl_lex(p, &u)) != MIG_OK)
				return rc;
			if (hcl_is_op(&u, '*'))
				return hcl_perr(p, u.line, u.col, "splat expressions ([*]) are not supported");
			s = new_expr(p, E_INDEX, t.line, t.col, e->start);
			if (s == NULL)
				return hcl_poom(p);
			s->x = e;
			p->nlskip++;
			rc = parse_expr(p, &s->y);
			if (rc == MIG_OK)
				rc = hcl_expect_op(p, ']', "\"]\"");
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

/*
 * The steps of a traversal (x.a[i].b) from its root outwards into steps
 * (room for MAX_DEPTH + 1; *n of them), and its root.
 */
const expr *
hcl_traversal_steps(const expr *e, const expr **steps, size_t *n)
{
	const expr *root = e;
	size_t		k;

	*n = 0;
	while ((root->kind == E_ATTR || root->kind == E_INDEX) && *n < MAX_DEPTH)
	{
		steps[(*n)++] = root;
		root = root->x;
	}
	for (k = 0; k < *n / 2; k++)
	{
		const expr *tmp = steps[k];

		steps[k] = steps[*n - 1 - k];
		steps[*n - 1 - k] = tmp;
	}
	return root;
}

static int
parse_unary(parser *p, expr **out)
{
	tok			t;
	expr	   *e;
	int			rc;

	if ((rc = hcl_lex(p, &t)) != MIG_OK)
		return rc;
	if (!hcl_is_op(&t, '-') && !hcl_is_op(&t, '!'))
		return parse_postfix(p, out);
	hcl_take(p, &t);
	if ((rc = enter(p, t.line, t.col)) != MIG_OK)
		return rc;
	e = new_expr(p, E_UNARY, t.line, t.col, t.start);
	if (e == NULL)
		rc = hcl_poom(p);
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

		if ((rc = hcl_lex(p, &t)) != MIG_OK)
			return rc;
		if (op_level(&t) != level)
			break;
		hcl_take(p, &t);
		e = new_expr(p, E_BINARY, t.line, t.col, lhs->start);
		if (e == NULL)
			return hcl_poom(p);
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

	if ((rc = hcl_lex(p, &t)) != MIG_OK)
		return rc;
	if ((rc = enter(p, t.line, t.col)) != MIG_OK)
		return rc;
	rc = parse_binary(p, 0, &c);
	if (rc == MIG_OK)
		rc = hcl_lex(p, &t);
	if (rc == MIG_OK && hcl_is_op(&t, '?'))
	{
		hcl_take(p, &t);
		e = new_expr(p, E_COND, c->line, c->col, c->start);
		if (e == NULL)
			rc = hcl_poom(p);
		else
		{
			e->x = c;
			rc = parse_expr(p, &e->y);
			if (rc == MIG_OK)
				rc = hcl_expect_op(p, ':', "\":\" in the conditional expression");
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
	attr	  **v = hcl_arena_grow(p->ar, b->attrs, b->nattrs, cap, sizeof(attr *));

	if (v == NULL)
		return hcl_poom(p);
	b->attrs = v;
	b->attrs[b->nattrs++] = a;
	return MIG_OK;
}

static int
body_push_block(parser *p, body *b, size_t *cap, block *k)
{
	block	  **v = hcl_arena_grow(p->ar, b->blocks, b->nblocks, cap, sizeof(block *));

	if (v == NULL)
		return hcl_poom(p);
	b->blocks = v;
	b->blocks[b->nblocks++] = k;
	return MIG_OK;
}

/* Order attributes by name, then position, to find duplicates. */
int
hcl_cmp_attr(const void *a, const void *b)
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
int
hcl_check_dup_attrs(parser *p, const body *b)
{
	attr	  **v;
	size_t		i;

	if (b->nattrs < 2)
		return MIG_OK;
	v = hcl_arena_alloc(p->ar, b->nattrs * sizeof(attr *));
	if (v == NULL)
		return hcl_poom(p);
	memcpy(v, b->attrs, b->nattrs * sizeof(attr *));
	qsort(v, b->nattrs, sizeof(attr *), hcl_cmp_attr);
	for (i = 1; i < b->nattrs; i++)
		if (strcmp(v[i - 1]->name, v[i]->name) == 0)
			return hcl_perr(p, v[i]->line, v[i]->col,
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

	if ((rc = hcl_lex(p, &t)) != MIG_OK)
		return rc;
	if (t.t == T_NL)
	{
		hcl_take(p, &t);
		return MIG_OK;
	}
	if (t.t == T_EOF || (!top && hcl_is_op(&t, '}')))
		return MIG_OK;
	return hcl_expected(p, &t, "a newline");
}

static int
parse_attr(parser *p, const tok *name, attr **out)
{
	attr	   *a = hcl_arena_zalloc(p->ar, sizeof(attr));
	int			rc;

	if (a == NULL || (a->name = hcl_arena_strndup(p->ar, p->src + name->start, name->len)) == NULL)
		return hcl_poom(p);
	a->line = name->line;
	a->col = name->col;
	if ((rc = hcl_expect_op(p, '=', "\"=\"")) != MIG_OK)
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

static int	parse_block(parser *p, const tok *name, block **out);

/* A block's labels ("quoted" or bare names) up to and including its '{'. */
static int
parse_labels(parser *p, block *k)
{
	size_t		lcap = 0;
	tok			t;
	int			rc;

	for (;;)
	{
		const char *label;
		const char **v;

		if ((rc = hcl_lex(p, &t)) != MIG_OK)
			return rc;
		if (hcl_is_op(&t, '{'))
		{
			hcl_take(p, &t);
			return MIG_OK;
		}
		if (t.t == T_QUOTE)
		{
			expr	   *s;

			hcl_take(p, &t);
			if ((rc = parse_template(p, &t, TM_LABEL, &s)) != MIG_OK)
				return rc;
			label = s->s;
		}
		else if (t.t == T_IDENT)
		{
			hcl_take(p, &t);
			if ((label = hcl_arena_strndup(p->ar, p->src + t.start, t.len)) == NULL)
				return hcl_poom(p);
		}
		else
			return hcl_expected(p, &t, k->nlabels == 0 ? "\"=\" or a block" : "\"{\"");
		v = hcl_arena_grow(p->ar, (void *) k->labels, k->nlabels, &lcap, sizeof(char *));
		if (v == NULL)
			return hcl_poom(p);
		k->labels = v;
		k->labels[k->nlabels++] = label;
	}
}

/*
 * Single-line block `{ item }`, *t its first token: one item, then *t is
 * the closing '}'.  HCL allows only an attribute here; we also take one
 * nested block, so `atlas { cloud { token = x } }` works as written.
 */
static int
parse_one_line(parser *p, block *k, tok *t)
{
	attr	   *a = NULL;
	block	   *nested = NULL;
	size_t		cap = 0;
	tok			u;
	int			rc;

	if (t->t != T_IDENT)
		return hcl_expected(p, t, "an attribute or a newline");
	hcl_take(p, t);
	if ((rc = hcl_lex(p, &u)) != MIG_OK)
		return rc;
	if (hcl_is_op(&u, '='))
	{
		if ((rc = parse_attr(p, t, &a)) != MIG_OK ||
			(rc = body_push_attr(p, &k->body, &cap, a)) != MIG_OK)
			return rc;
	}
	else if ((rc = parse_block(p, t, &nested)) != MIG_OK ||
			 (rc = body_push_block(p, &k->body, &cap, nested)) != MIG_OK)
		return rc;
	if ((rc = hcl_lex(p, t)) != MIG_OK)
		return rc;
	if (!hcl_is_op(t, '}'))
		return hcl_perr(p, t->line, t->col, "a single-line block may contain only one attribute or block");
	p->secret = false;
	return MIG_OK;
}

static int
parse_block(parser *p, const tok *name, block **out)
{
	block	   *k = hcl_arena_zalloc(p->ar, sizeof(block));
	tok			t;
	int			rc;

	if (k == NULL || (k->type = hcl_arena_strndup(p->ar, p->src + name->start, name->len)) == NULL)
		return hcl_poom(p);
	k->line = name->line;
	k->col = name->col;
	if ((rc = parse_labels(p, k)) != MIG_OK || (rc = enter(p, k->line, k->col)) != MIG_OK)
		return rc;
	rc = hcl_lex(p, &t);
	if (rc == MIG_OK && t.t != T_NL && !hcl_is_op(&t, '}'))
		rc = parse_one_line(p, k, &t);
	else if (rc == MIG_OK && t.t == T_NL)
	{
		rc = hcl_parse_body(p, &k->body, false, k);
		if (rc == MIG_OK)
			rc = hcl_lex(p, &t);
	}
	p->depth--;
	if (rc != MIG_OK)
		return rc;
	hcl_take(p, &t);				/* the closing '}' */
	if ((rc = hcl_check_dup_attrs(p, &k->body)) != MIG_OK)
		return rc;
	*out = k;
	return MIG_OK;
}

/* Parse attributes and blocks up to '}' (not consumed) or end of file. */
int
hcl_parse_body(parser *p, body *b, bool top, const block *owner)
{
	size_t		acap = 0,
				bcap = 0;
	tok			t;
	int			rc;

	for (;;)
	{
		tok			u;

		if ((rc = hcl_lex(p, &t)) != MIG_OK)
			return rc;
		if (t.t == T_NL)
		{
			hcl_take(p, &t);
			continue;
		}
		if (t.t == T_EOF)
		{
			if (top)
				return MIG_OK;
			return hcl_perr(p, owner->line, owner->col, "unclosed %s block: missing \"}\"", owner->type);
		}
		if (hcl_is_op(&t, '}'))
		{
			if (top)
				return hcl_perr(p, t.line, t.col, "unexpected \"}\"");
			return MIG_OK;
		}
		if (t.t != T_IDENT)
			return hcl_expected(p, &t, "an attribute or a block");
		hcl_take(p, &t);
		if ((rc = hcl_lex(p, &u)) != MIG_OK)
			return rc;
		if (hcl_is_op(&u, '='))
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
