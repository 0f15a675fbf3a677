/*
 * lex.c - the atlas.hcl tokenizer (spec §i.1 "Syntax"): identifiers, numbers,
 * string and heredoc openers, operators; comments and (inside brackets)
 * newlines skipped; line:column positions and the parser's error helpers.
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hcl_int.h"

int
hcl_perr(parser *p, int line, int col, const char *fmt,...)
{
	char		msg[1024];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mig_err_set(p->err, MIG_ECONFIG, "%d:%d: %s", line, col, msg);
}

int
hcl_poom(parser *p)
{
	return mig_err_set(p->err, MIG_ENOMEM, "out of memory");
}

/* Move s forward n bytes, counting lines and (UTF-8 aware) columns. */
void
hcl_advance(const char *src, lexstate *s, size_t n)
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
		return hcl_perr(p, s->line, s->col, "invalid character '%c'", c);
	return hcl_perr(p, s->line, s->col, "invalid character (byte 0x%02x)", c);
}

/*
 * Skip blanks and comments from s.  Stops at a token, at the end, or at a
 * newline that is a token (outside brackets): *nl says which.
 */
static int
skip_blank(parser *p, lexstate *s, bool *nl)
{
	const char *src = p->src;
	size_t		n = p->len;

	*nl = false;
	while (s->pos < n)
	{
		char		c = src[s->pos];
		char		d = s->pos + 1 < n ? src[s->pos + 1] : '\0';

		if (c == ' ' || c == '\t' || c == '\r' || (c == '\n' && p->nlskip > 0))
			hcl_advance(src, s, 1);
		else if (c == '\n')
		{
			*nl = true;
			return MIG_OK;
		}
		else if (c == '#' || (c == '/' && d == '/'))
		{
			while (s->pos < n && src[s->pos] != '\n')
				hcl_advance(src, s, 1);
		}
		else if (c == '/' && d == '*')
		{
			lexstate	open = *s;

			hcl_advance(src, s, 2);
			while (s->pos + 1 < n && !(src[s->pos] == '*' && src[s->pos + 1] == '/'))
				hcl_advance(src, s, 1);
			if (s->pos + 1 >= n)
				return hcl_perr(p, open.line, open.col, "unterminated comment");
			hcl_advance(src, s, 2);
		}
		else
			return MIG_OK;
	}
	return MIG_OK;
}

/* digits[.digits][(e|E)[+-]digits], not followed by a name character. */
static int
lex_number(parser *p, const lexstate *s, tok *t)
{
	const char *src = p->src;
	size_t		n = p->len;
	size_t		e = s->pos;

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
		return hcl_perr(p, s->line, s->col, "invalid number");
	t->t = T_NUM;
	t->len = e - s->pos;
	return MIG_OK;
}

/* <<EOS or <<-EOS: the marker is an identifier. */
static int
lex_heredoc(parser *p, const lexstate *s, tok *t)
{
	const char *src = p->src;
	size_t		n = p->len;
	size_t		e = s->pos + 2;

	if (e < n && src[e] == '-')
	{
		t->flush = true;
		e++;
	}
	if (e >= n || !is_ident_start((unsigned char) src[e]))
		return hcl_perr(p, s->line, s->col, "invalid heredoc: expected an identifier after \"<<\"");
	t->mstart = e;
	while (e < n && is_ident_char((unsigned char) src[e]))
		e++;
	t->mlen = e - t->mstart;
	t->t = T_HEREDOC;
	t->len = e - s->pos;
	return MIG_OK;
}

/* Punctuation: "...", the two-character operators, then single ones. */
static int
lex_op(parser *p, const lexstate *s, tok *t)
{
	static const struct
	{
		const char *text;
		int			op;
	}			two[] = {
		{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE},
		{"&&", OP_AND}, {"||", OP_OR}, {"=>", OP_ARROW}
	};
	const char *src = p->src;
	size_t		n = p->len;
	char		c = src[s->pos];
	char		d = s->pos + 1 < n ? src[s->pos + 1] : '\0';
	size_t		i;

	t->t = T_OP;
	if (c == '.' && d == '.' && s->pos + 2 < n && src[s->pos + 2] == '.')
	{
		t->op = OP_ELLIPSIS;
		t->len = 3;
		return MIG_OK;
	}
	for (i = 0; i < sizeof(two) / sizeof(two[0]); i++)
		if (c == two[i].text[0] && d == two[i].text[1])
		{
			t->op = two[i].op;
			t->len = 2;
			return MIG_OK;
		}
	if (c == '\0' || strchr("{}[]()=:,.?!+-*/%<>~", c) == NULL)
		return bad_char(p, s);
	t->op = (unsigned char) c;
	t->len = 1;
	return MIG_OK;
}

/* Read the next token at p->st without consuming it. */
int
hcl_lex(parser *p, tok *t)
{
	const char *src = p->src;
	size_t		n = p->len;
	lexstate	s = p->st;
	bool		nl;
	char		c;
	int			rc;

	memset(t, 0, sizeof(*t));
	if ((rc = skip_blank(p, &s, &nl)) != MIG_OK)
		return rc;
	t->start = s.pos;
	t->line = s.line;
	t->col = s.col;
	if (s.pos >= n)
	{
		t->t = T_EOF;
		t->end = s;
		return MIG_OK;
	}
	c = src[s.pos];
	if (nl)
	{
		t->t = T_NL;
		t->len = 1;
	}
	else if (is_ident_start((unsigned char) c))
	{
		size_t		e = s.pos + 1;

		while (e < n && is_ident_char((unsigned char) src[e]))
			e++;
		t->t = T_IDENT;
		t->len = e - s.pos;
	}
	else if (is_digit((unsigned char) c))
		rc = lex_number(p, &s, t);
	else if (c == '"')
	{
		t->t = T_QUOTE;
		t->len = 1;
	}
	else if (c == '<' && s.pos + 1 < n && src[s.pos + 1] == '<')
		rc = lex_heredoc(p, &s, t);
	else
		rc = lex_op(p, &s, t);
	if (rc != MIG_OK)
		return rc;
	t->end = s;
	hcl_advance(src, &t->end, t->len);
	return MIG_OK;
}

void
hcl_take(parser *p, const tok *t)
{
	p->st = t->end;
	p->last_end = t->end.pos;
}

bool
hcl_is_op(const tok *t, int op)
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

int
hcl_expected(parser *p, const tok *t, const char *what)
{
	char		buf[48];

	return hcl_perr(p, t->line, t->col, "expected %s, found %s", what, tokdesc(p, t, buf, sizeof(buf)));
}

/* Consume the operator op or fail with "expected <what>". */
int
hcl_expect_op(parser *p, int op, const char *what)
{
	tok			t;
	int			rc;

	if ((rc = hcl_lex(p, &t)) != MIG_OK)
		return rc;
	if (!hcl_is_op(&t, op))
		return hcl_expected(p, &t, what);
	hcl_take(p, &t);
	return MIG_OK;
}
