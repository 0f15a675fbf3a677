/*
 * fuzz_lex.c - libFuzzer target for the statement splitter (spec §d).
 *
 * The first two bytes choose the scanner options (MIG_LEX_* bits); the rest
 * is the migration file.  Invariants checked:
 *   - a split succeeds, or fails with MIG_ESCAN / MIG_ENOMEM, a message,
 *     and no statement left in the output;
 *   - every statement is a slice of the input, in order, without overlap,
 *     and trimmed (no ASCII whitespace at either end);
 *   - a statement is empty only where Atlas makes one: a GO line, or a
 *     delimiter stripped by OmitDelimiter or a custom delimiter (which only
 *     the `-- atlas:delimiter` line or a DELIMITER command can set);
 *   - the same input splits the same way twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mig.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Does [s, s+n) contain "delimiter" in any letter case? */
static int
has_delimiter_word(const char *s, size_t n)
{
	size_t		i;

	for (i = 0; i + 9 <= n; i++)
		if (strncasecmp(s + i, "delimiter", 9) == 0)
			return 1;
	return 0;
}

static int
is_ascii_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mig_stmts	st = {0},
				again = {0};
	mig_err		err;
	unsigned	flags;
	const char *src,
			   *prev;
	size_t		len,
				i;
	int			rc,
				may_be_empty;

	if (size < 2)
		return 0;
	flags = ((unsigned) data[0] | ((unsigned) data[1] << 8)) & ((1u << 10) - 1);
	src = (const char *) data + 2;
	len = size - 2;

	mig_err_clear(&err);
	rc = mig_lex_split(src, len, flags, &st, &err);
	if (rc != MIG_OK)
	{
		if ((rc != MIG_ESCAN && rc != MIG_ENOMEM) || err.code != rc || err.msg[0] == '\0' ||
			st.n != 0)
			abort();
	}
	else
	{
		may_be_empty = (flags & (MIG_LEX_GO | MIG_LEX_OMIT_DELIM)) != 0 ||
			has_delimiter_word(src, len);
		prev = src;
		for (i = 0; i < st.n; i++)
		{
			const mig_stmt *s = &st.v[i];

			if (s->text < prev || s->text > src + len || s->len > (size_t) (src + len - s->text))
				abort();
			if (s->len == 0 && !may_be_empty)
				abort();
			if (s->len > 0 && (is_ascii_space(s->text[0]) || is_ascii_space(s->text[s->len - 1])))
				abort();
			prev = s->text + s->len;
		}
	}

	/* deterministic */
	mig_err_clear(&err);
	if (mig_lex_split(src, len, flags, &again, &err) != rc || again.n != st.n)
		abort();
	for (i = 0; i < st.n; i++)
		if (again.v[i].text != st.v[i].text || again.v[i].len != st.v[i].len)
			abort();
	mig_stmts_free(&again);
	mig_stmts_free(&st);
	return 0;
}
