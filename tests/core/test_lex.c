/*
 * test_lex.c - the statement splitter (spec §d): every Atlas golden pair,
 * the error positions, the worked examples, the option parser and the
 * out-of-memory paths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#define SEP "\n-- end --\n"

/* ---------------------------------------------------------------- helpers */

/* Split and join with the golden separator (§d.6); NULL on error. */
static char *
split_join(const char *src, size_t len, unsigned flags, int *rc, mig_err *err)
{
	mig_stmts	st = {0};
	mig_buf		b;
	size_t		i;

	mig_err_clear(err);
	*rc = mig_lex_split(src, len, flags, &st, err);
	if (*rc != MIG_OK)
	{
		mig_stmts_free(&st);
		return NULL;
	}
	mig_buf_init(&b);
	mig_buf_puts(&b, "");
	for (i = 0; i < st.n; i++)
	{
		/* every statement is a slice of the source */
		assert_true(st.v[i].text >= src && st.v[i].text + st.v[i].len <= src + len);
		if (i)
			mig_buf_puts(&b, SEP);
		mig_buf_append(&b, st.v[i].text, st.v[i].len);
	}
	mig_stmts_free(&st);
	assert_false(b.oom);
	return mig_buf_steal(&b);
}

/* Split src and compare with the expected statements (NULL-terminated). */
static void
expect_stmts_(const char *src, size_t len, unsigned flags, const char *const *want)
{
	mig_stmts	st = {0};
	mig_err		err;
	size_t		i,
				n = 0;
	int			rc;

	while (want[n])
		n++;
	mig_err_clear(&err);
	rc = mig_lex_split(src, len, flags, &st, &err);
	if (rc != MIG_OK)
		fail_msg("split failed: %s (input %s)", err.msg, src);
	if (st.n != n)
	{
		for (i = 0; i < st.n; i++)
			print_message("# got[%zu] = [%.*s]\n", i, (int) st.v[i].len, st.v[i].text);
		fail_msg("got %zu statements, want %zu (input %s)", st.n, n, src);
	}
	for (i = 0; i < n; i++)
	{
		if (st.v[i].len != strlen(want[i]) || memcmp(st.v[i].text, want[i], st.v[i].len) != 0)
			fail_msg("statement %zu: got [%.*s], want [%s]", i, (int) st.v[i].len,
					 st.v[i].text, want[i]);
	}
	mig_stmts_free(&st);
}

#define EXPECT(src, flags, ...) \
	do { \
		static const char *const want_[] = {__VA_ARGS__, NULL}; \
		expect_stmts_((src), strlen(src), (flags), want_); \
	} while (0)
#define EXPECT_NONE(src, flags) \
	do { \
		static const char *const want_[] = {NULL}; \
		expect_stmts_((src), strlen(src), (flags), want_); \
	} while (0)

/* Split and expect a scan error with exactly this message. */
static void
expect_error_(const char *src, size_t len, unsigned flags, int code, const char *msg)
{
	mig_stmts	st = {0};
	mig_err		err;
	int			rc;

	mig_err_clear(&err);
	rc = mig_lex_split(src, len, flags, &st, &err);
	if (rc == MIG_OK)
		fail_msg("no error for input [%s], want \"%s\"", src, msg);
	assert_int_equal(rc, code);
	assert_int_equal(err.code, code);
	assert_string_equal(err.msg, msg);
	assert_int_equal(st.n, 0);
	mig_stmts_free(&st);
}

#define EXPECT_ERR(src, flags, msg) expect_error_((src), strlen(src), (flags), MIG_ESCAN, (msg))

/* ---------------------------------------------------------------- golden pairs */

/* Options of Atlas's own test suite per folder (conformance README §1, §d.1). */
#define F_LEX (MIG_LEX_BEGIN | MIG_LEX_BEGIN_ATOMIC | MIG_LEX_DOLLAR | MIG_LEX_BACKSLASH | \
			   MIG_LEX_ESCAPED_EXT)
#define F_LEXBEGINTRY (F_LEX | MIG_LEX_BEGIN_TRYCATCH)
#define F_SQLSERVER (MIG_LEX_BEGIN | MIG_LEX_BEGIN_END_TERM)

typedef struct pair
{
	const char *folder;
	const char *file;
	unsigned	flags;
} pair;

/* lex/ files get HashComments unless "_pg" is in the name, GoCommand with "_ms". */
static unsigned
lex_flags(const char *file)
{
	unsigned	f = F_LEX;

	if (strstr(file, "_pg") == NULL)
		f |= MIG_LEX_HASH_COMMENTS;
	if (strstr(file, "_ms") != NULL)
		f |= MIG_LEX_GO;
	return f;
}

static void
test_golden_pair(void **state)
{
	const pair *p = *state;
	char		path[4096];
	char	   *src,
			   *gold,
			   *got;
	size_t		slen,
				glen,
				i;
	mig_err		err;
	int			rc;
	unsigned	flags;

	TU_NEED_CONFORMANCE();
	flags = strcmp(p->folder, "lex") == 0 ? lex_flags(p->file) : p->flags;
	snprintf(path, sizeof(path), "%s/lex/%s/%s", tu_conformance_dir(), p->folder, p->file);
	src = tu_read_file(path, &slen);
	if (src == NULL)
		fail_msg("fixture missing: %s", path);
	snprintf(path, sizeof(path), "%s/lex/%s/%s.golden", tu_conformance_dir(), p->folder, p->file);
	gold = tu_read_file(path, &glen);
	if (gold == NULL)
		fail_msg("golden missing: %s", path);
	got = split_join(src, slen, flags, &rc, &err);
	if (got == NULL)
		fail_msg("%s/%s: %s", p->folder, p->file, err.msg);
	if (strlen(got) != glen || memcmp(got, gold, glen) != 0)
	{
		for (i = 0; i < glen && got[i] == gold[i]; i++)
			;
		print_message("# %s/%s: first difference at byte %zu (got %zu bytes, want %zu)\n"
					  "# got:  [%.60s]\n# want: [%.60s]\n", p->folder, p->file, i,
					  strlen(got), glen, got + i, gold + i);
		fail();
	}
	mig_free(got);
	free(src);
	free(gold);
}

static const pair pairs[] = {
	{"lex", "1.sql", 0},
	{"lex", "2_mysql.sql", 0},
	{"lex", "3_delimiter.sql", 0},
	{"lex", "4_delimiter.sql", 0},
	{"lex", "5_delimiter.sql", 0},
	{"lex", "6_skip_comment.sql", 0},
	{"lex", "7_delimiter_2n.sql", 0},
	{"lex", "9_delimiter_3n.sql", 0},
	{"lex", "11_delimiter_mysql_command.sql", 0},
	{"lex", "12_delimiter_mysql_command.sql", 0},
	{"lex", "14_delimiter_mysql_command.sql", 0},
	{"lex", "19_ms_gocmd.sql", 0},
	{"lex", "20_ms_go-delim.sql", 0},
	{"lexgroup", "2_function.sql", MIG_LEX_BEGIN},
	{"lexgroup", "3_delimiter.sql", MIG_LEX_BEGIN},
	{"lexescaped", "1.my.sql", MIG_LEX_BACKSLASH},
	{"lexbegintry", "1.sql", F_LEXBEGINTRY},
	{"sqlserver", "1_return_table.sql", F_SQLSERVER},
	{"sqlserver", "2_function.sql", F_SQLSERVER},
};

/* lexescaped/1.my.sql with EscapedStringExt only: the E'' quirk keeps '\' literal. */
static void
test_golden_escaped_ext_only(void **state)
{
	char		path[4096];
	char	   *src;
	size_t		len;

	(void) state;
	TU_NEED_CONFORMANCE();
	snprintf(path, sizeof(path), "%s/lex/lexescaped/1.my.sql", tu_conformance_dir());
	src = tu_read_file(path, &len);
	assert_non_null(src);
	expect_error_(src, len, MIG_LEX_ESCAPED_EXT, MIG_ESCAN, "4:42: unclosed quote '\\''");
	free(src);
}

/* ---------------------------------------------------------------- errors (§d.5) */

/* Atlas's TestLex_Errors, generic default options (conformance README §1). */
static void
test_errors_generic(void **state)
{
	(void) state;
	EXPECT_ERR("'this quote is unclosed at 1:1", MIG_LEX_GENERIC, "1:1: unclosed quote '\\''");
	EXPECT_ERR("12345'this quote is unclosed at pos 7", MIG_LEX_GENERIC,
			   "1:6: unclosed quote '\\''");
	EXPECT_ERR("unclosed '", MIG_LEX_GENERIC, "1:10: unclosed quote '\\''");
	EXPECT_ERR("\"unclosed double", MIG_LEX_GENERIC, "1:1: unclosed quote '\"'");
	EXPECT_ERR("unclosed double at 2:2\n \"", MIG_LEX_GENERIC, "2:2: unclosed quote '\"'");
	EXPECT_ERR("unclosed double at 2:2\n\n\n\n1234\"", MIG_LEX_GENERIC,
			   "5:5: unclosed quote '\"'");
	EXPECT_ERR("(unclosed parentheses", MIG_LEX_GENERIC, "1:1: unclosed '('");
	EXPECT_ERR("()(unclosed parentheses", MIG_LEX_GENERIC, "1:3: unclosed '('");
	EXPECT_ERR("1234)6789", MIG_LEX_GENERIC, "1:5: unexpected ')'");
}

static void
test_errors_more(void **state)
{
	(void) state;
	EXPECT_ERR("SELECT `x", MIG_LEX_GENERIC, "1:8: unclosed quote '`'");
	/* positions are absolute: the directive line counts */
	EXPECT_ERR("-- atlas:delimiter //\nSELECT 1//\n  SELECT ')//", MIG_LEX_POSTGRES,
			   "3:10: unclosed quote '\\''");
	/* an error after good statements still fails the whole split */
	EXPECT_ERR("SELECT 1;\nSELECT (2;\n", MIG_LEX_POSTGRES, "2:8: unclosed '('");
	/* the outermost parenthesis is reported */
	EXPECT_ERR("SELECT ((1);", MIG_LEX_SQLITE, "1:8: unclosed '('");
	/* a backslash at the very end (BackslashEscapes) */
	EXPECT_ERR("SELECT '\\", MIG_LEX_MYSQL, "1:8: unclosed quote '\\''");
	/* inside a failed BEGIN attempt, errors still surface from the top level */
	EXPECT_ERR("BEGIN SELECT 'x;", MIG_LEX_SQLITE, "1:14: unclosed quote '\\''");
}

/* §d.3 rule 4: EscapedStringExt never fires; PostgreSQL E'' strings have no escapes. */
static void
test_escaped_string_ext_quirk(void **state)
{
	(void) state;
	EXPECT_ERR("SELECT E'\\'';", MIG_LEX_POSTGRES, "1:12: unclosed quote '\\''");
	EXPECT_ERR("SELECT E'\\'';", MIG_LEX_SQLITE, "1:12: unclosed quote '\\''");
	EXPECT("SELECT E'\\\\';", MIG_LEX_POSTGRES, "SELECT E'\\\\';");
	EXPECT("SELECT '\\';", MIG_LEX_POSTGRES, "SELECT '\\';");
	/* with BackslashEscapes (MySQL) the same text is one open string */
	EXPECT("SELECT '\\'';", MIG_LEX_MYSQL, "SELECT '\\'';");
}

/* ---------------------------------------------------------------- §d.7 worked examples */

static void
test_worked_examples(void **state)
{
	(void) state;
	EXPECT("SELECT 1;   \n\n  \t SELECT 2 ;  ", MIG_LEX_POSTGRES, "SELECT 1;", "SELECT 2 ;");
	EXPECT("/* c1 */\nSELECT 1;\n-- c2\n\nSELECT 2;", MIG_LEX_POSTGRES, "SELECT 1;", "SELECT 2;");
	EXPECT("SELECT 1;\n-- trailing comment", MIG_LEX_POSTGRES, "SELECT 1;",
		   "-- trailing comment");
	EXPECT("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\nSELECT 2",
		   MIG_LEX_POSTGRES,
		   "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;", "SELECT 2");
	EXPECT("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\nSELECT 2",
		   MIG_LEX_SQLITE,
		   "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1;", "$$ LANGUAGE sql;", "SELECT 2");
	EXPECT("-- atlas:delimiter //\nSELECT 1//\nSELECT 2//", MIG_LEX_POSTGRES,
		   "SELECT 1", "SELECT 2");
	EXPECT_ERR("-- atlas:delimiter\n\nSELECT 1;", MIG_LEX_POSTGRES, "empty delimiter");
}

/* §d.3 rule 15: BEGIN needs whitespace after it; what that groups with the presets. */
static void
test_begin_isolation(void **state)
{
	const char *src = "BEGIN ISOLATION LEVEL SERIALIZABLE;\nINSERT INTO t VALUES (1);\nEND;\nSELECT 3;";

	(void) state;
	EXPECT(src, MIG_LEX_POSTGRES,
		   "BEGIN ISOLATION LEVEL SERIALIZABLE;\nINSERT INTO t VALUES (1);\nEND;", "SELECT 3;");
	EXPECT(src, MIG_LEX_SQLITE,
		   "BEGIN ISOLATION LEVEL SERIALIZABLE;\nINSERT INTO t VALUES (1);\nEND;", "SELECT 3;");
	/* the generic options have no MatchBegin */
	EXPECT(src, MIG_LEX_GENERIC, "BEGIN ISOLATION LEVEL SERIALIZABLE;",
		   "INSERT INTO t VALUES (1);", "END;", "SELECT 3;");
	/* BEGIN; alone is never grouped */
	EXPECT("BEGIN;\nSELECT 1;\nEND;\nCOMMIT;", MIG_LEX_POSTGRES, "BEGIN;", "SELECT 1;", "END;",
		   "COMMIT;");
	/* no END at all: not a block, statements split normally */
	EXPECT("BEGIN WORK;\nSELECT 1;\nCOMMIT;", MIG_LEX_POSTGRES, "BEGIN WORK;", "SELECT 1;",
		   "COMMIT;");
}

static void
test_sqlite_trigger(void **state)
{
	(void) state;
	EXPECT("CREATE TABLE t(a);\n"
		   "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n"
		   "  UPDATE t SET a = 1;\n  INSERT INTO t VALUES (2);\nEND;\n"
		   "CREATE TRIGGER t2 BEFORE DELETE ON t BEGIN SELECT RAISE(ABORT, 'no'); END;\n"
		   "SELECT 1;", MIG_LEX_SQLITE,
		   "CREATE TABLE t(a);",
		   "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n"
		   "  UPDATE t SET a = 1;\n  INSERT INTO t VALUES (2);\nEND;",
		   "CREATE TRIGGER t2 BEFORE DELETE ON t BEGIN SELECT RAISE(ABORT, 'no'); END;",
		   "SELECT 1;");
	/* CASE ... END inside the trigger does not end it */
	EXPECT("CREATE TRIGGER tr BEFORE INSERT ON t BEGIN SELECT CASE\n"
		   "  WHEN new.a = 4 THEN RAISE(IGNORE) END;\nEND;\nSELECT 2;", MIG_LEX_SQLITE,
		   "CREATE TRIGGER tr BEFORE INSERT ON t BEGIN SELECT CASE\n"
		   "  WHEN new.a = 4 THEN RAISE(IGNORE) END;\nEND;", "SELECT 2;");
	/* new.begin is glued to '.', never grouped */
	EXPECT("UPDATE t SET x = new.begin ;\nSELECT 1;", MIG_LEX_SQLITE,
		   "UPDATE t SET x = new.begin ;", "SELECT 1;");
}

/* §d.3 rules 13, 15: which END ends a block. */
static void
test_begin_end_rules(void **state)
{
	(void) state;
	/* END IF; END LOOP; do not end a BEGIN block; END; and END do */
	EXPECT("CREATE PROCEDURE p() BEGIN IF x THEN SELECT 1; END IF; LOOP SELECT 2; END LOOP; END;"
		   "\nSELECT 3;", MIG_LEX_SQLITE,
		   "CREATE PROCEDURE p() BEGIN IF x THEN SELECT 1; END IF; LOOP SELECT 2; END LOOP; END;",
		   "SELECT 3;");
	EXPECT("x BEGIN SELECT 1; end ;\nSELECT 2;", MIG_LEX_SQLITE, "x BEGIN SELECT 1; end ;",
		   "SELECT 2;");
	EXPECT("x BEGIN SELECT 1; END\n;\nSELECT 2;", MIG_LEX_SQLITE, "x BEGIN SELECT 1; END\n;",
		   "SELECT 2;");
	EXPECT("x BEGIN SELECT 1; END", MIG_LEX_SQLITE, "x BEGIN SELECT 1; END");
	EXPECT("x BEGIN SELECT 1; ENDX;\nSELECT 2;", MIG_LEX_SQLITE, "x BEGIN SELECT 1;", "ENDX;",
		   "SELECT 2;");
	/* nested groups */
	EXPECT("CREATE PROCEDURE p() BEGIN BEGIN SELECT 1; END; SELECT 2; END;\nSELECT 3;",
		   MIG_LEX_SQLITE,
		   "CREATE PROCEDURE p() BEGIN BEGIN SELECT 1; END; SELECT 2; END;", "SELECT 3;");
	/* BEGIN ATOMIC (PostgreSQL 14+ SQL-standard bodies) */
	EXPECT("CREATE FUNCTION f(x int) RETURNS bool LANGUAGE SQL\nBEGIN ATOMIC\n"
		   "  SELECT case when x % 2 = 0 then true else false end;\n  SELECT 1;\nEND;\n"
		   "SELECT 2;", MIG_LEX_POSTGRES,
		   "CREATE FUNCTION f(x int) RETURNS bool LANGUAGE SQL\nBEGIN ATOMIC\n"
		   "  SELECT case when x % 2 = 0 then true else false end;\n  SELECT 1;\nEND;",
		   "SELECT 2;");
	EXPECT("CREATE FUNCTION f() RETURNS int LANGUAGE SQL BEGIN ATOMIC SELECT 1; END;\nSELECT 2;",
		   MIG_LEX_GENERIC,
		   "CREATE FUNCTION f() RETURNS int LANGUAGE SQL BEGIN ATOMIC SELECT 1; END;",
		   "SELECT 2;");
	/* a custom delimiter turns grouping off (§d.4) */
	EXPECT("-- atlas:delimiter //\nCREATE TRIGGER t BEGIN SELECT 1; END//\nSELECT 2//",
		   MIG_LEX_SQLITE, "CREATE TRIGGER t BEGIN SELECT 1; END", "SELECT 2");
	/* BEGIN in a string or quoted identifier is not a keyword */
	EXPECT("SELECT 'x begin y';\nSELECT \"begin \";", MIG_LEX_SQLITE,
		   "SELECT 'x begin y';", "SELECT \"begin \";");
}

/* §d.3 rules 9-11: comments. */
static void
test_comments(void **state)
{
	(void) state;
	/* unterminated comment is not a comment: its ';' ends the statement */
	EXPECT("SELECT 1 -- a; b", MIG_LEX_POSTGRES, "SELECT 1 -- a;", "b");
	EXPECT("SELECT 1 /* a; b", MIG_LEX_POSTGRES, "SELECT 1 /* a;", "b");
	/* terminated comments stay inside the statement */
	EXPECT("SELECT 1 -- a; b\n;SELECT 2 /* ; */;", MIG_LEX_POSTGRES, "SELECT 1 -- a; b\n;",
		   "SELECT 2 /* ; */;");
	/* leading comments are cut, blank line or not */
	EXPECT("-- a\n-- b\nSELECT 1;\n/* c */ /* d */\n\nSELECT 2;", MIG_LEX_POSTGRES,
		   "SELECT 1;", "SELECT 2;");
	/* a comments-only file has no statements */
	EXPECT_NONE("-- a\n/* b */\n", MIG_LEX_POSTGRES);
	EXPECT_NONE("", MIG_LEX_POSTGRES);
	EXPECT_NONE(" \n\t ", MIG_LEX_POSTGRES);
	/* # is a comment only with HashComments */
	EXPECT("# x;\nSELECT 1;", MIG_LEX_MYSQL, "SELECT 1;");
	EXPECT("# x;\nSELECT 1;", MIG_LEX_POSTGRES, "# x;", "SELECT 1;");
	/* no nesting: the first star-slash ends the comment */
	EXPECT("/* a /* b */ SELECT 1; */", MIG_LEX_POSTGRES, "SELECT 1;", "*/");
}

/* §d.3 rule 8: dollar quotes. */
static void
test_dollar_quotes(void **state)
{
	(void) state;
	EXPECT("SELECT $fn$ ; $$ ; $fn$;\nSELECT 2;", MIG_LEX_POSTGRES,
		   "SELECT $fn$ ; $$ ; $fn$;", "SELECT 2;");
	/* $1 is a parameter, not a quote */
	EXPECT("SELECT $1; SELECT $2;", MIG_LEX_POSTGRES, "SELECT $1;", "SELECT $2;");
	/* unclosed: silently consumes the rest */
	EXPECT("SELECT 1;\nSELECT $x$ a; b; c", MIG_LEX_POSTGRES, "SELECT 1;", "SELECT $x$ a; b; c");
	/* tags: letters, digits (not first), underscore, U+00C8-U+00FF */
	EXPECT("SELECT $_a1$;$_a1$;SELECT 2;", MIG_LEX_POSTGRES, "SELECT $_a1$;$_a1$;", "SELECT 2;");
	EXPECT("SELECT $\xc3\xa9t\xc3\xa9$;$\xc3\xa9t\xc3\xa9$;", MIG_LEX_POSTGRES,
		   "SELECT $\xc3\xa9t\xc3\xa9$;$\xc3\xa9t\xc3\xa9$;");
	/* U+00C0 is below the range: not a tag */
	EXPECT("SELECT $\xc3\x80$;$\xc3\x80$;", MIG_LEX_POSTGRES, "SELECT $\xc3\x80$;",
		   "$\xc3\x80$;");
	/* the delimiter beats a dollar quote that starts with it */
	EXPECT("-- atlas:delimiter $$\nSELECT 1$$SELECT 2", MIG_LEX_POSTGRES, "SELECT 1", "SELECT 2");
	/* SQLite has no dollar quotes */
	EXPECT("SELECT $$;$$;", MIG_LEX_SQLITE, "SELECT $$;", "$$;");
}

/* §d.2: the first-line delimiter directive. */
static void
test_delimiter_directive(void **state)
{
	(void) state;
	/* escapes */
	EXPECT("-- atlas:delimiter \\n\\n\n\nSELECT 1\n\nSELECT 2", MIG_LEX_POSTGRES,
		   "SELECT 1", "SELECT 2");
	/* a delimiter that looks like a comment */
	EXPECT("-- atlas:delimiter -- end\nSELECT 1;\n-- end\nSELECT 2;", MIG_LEX_POSTGRES,
		   "SELECT 1;", "SELECT 2;");
	/* prefix must be exactly "-- " */
	EXPECT("--atlas:delimiter //\nSELECT 1//;", MIG_LEX_POSTGRES, "SELECT 1//;");
	EXPECT("  -- atlas:delimiter //\nSELECT 1//;", MIG_LEX_POSTGRES, "SELECT 1//;");
	/* only the first line counts */
	EXPECT("\n-- atlas:delimiter //\nSELECT 1//;", MIG_LEX_POSTGRES, "SELECT 1//;");
	/* the argument is verbatim: CR of a CRLF file is part of it */
	EXPECT("-- atlas:delimiter //\r\nSELECT 1//\r\nSELECT 2//\r\n", MIG_LEX_POSTGRES,
		   "SELECT 1", "SELECT 2");
	EXPECT("-- atlas:delimiter //\r\nSELECT 1//\nSELECT 2//", MIG_LEX_POSTGRES,
		   "SELECT 1//\nSELECT 2//");
	/* trailing spaces are part of it too */
	EXPECT("-- atlas:delimiter GO \nSELECT 1GO SELECT 2GO", MIG_LEX_POSTGRES,
		   "SELECT 1", "SELECT 2GO");
	/* the name must be exactly "delimiter" */
	EXPECT("-- atlas:delimiters //\nSELECT 1//;", MIG_LEX_POSTGRES, "SELECT 1//;");
	/* a later atlas:<name> on the line takes the match away */
	EXPECT("-- atlas:delimiter // atlas:x\nSELECT 1//;", MIG_LEX_POSTGRES, "SELECT 1//;");
	/* the default delimiter written out is the default */
	EXPECT("-- atlas:delimiter ;\nCREATE TRIGGER t BEGIN SELECT 1; END;", MIG_LEX_SQLITE,
		   "CREATE TRIGGER t BEGIN SELECT 1; END;");
	/* the first line is removed even when the rest is empty */
	EXPECT_NONE("-- atlas:delimiter //\n", MIG_LEX_POSTGRES);
	/* errors */
	EXPECT_ERR("-- atlas:delimiter //", MIG_LEX_POSTGRES,
			   "1:0: no input found after delimiter \"//\"");
	EXPECT_ERR("-- atlas:delimiter \\n\"x", MIG_LEX_POSTGRES,
			   "1:0: no input found after delimiter \"\\\\n\\\"x\"");
	EXPECT_ERR("-- atlas:delimiter;\nSELECT 1;", MIG_LEX_POSTGRES, "empty delimiter");
	EXPECT_ERR("-- atlas:delimiter \nSELECT 1;", MIG_LEX_POSTGRES, "empty delimiter");
	EXPECT_ERR("-- atlas:delimiter", MIG_LEX_POSTGRES, "empty delimiter");
	/* two spaces: the pattern keeps the last one as the argument */
	EXPECT("-- atlas:delimiter  \nSELECT 1 SELECT 2", MIG_LEX_POSTGRES, "SELECT", "1",
		   "SELECT", "2");
}

/* §d.3 rule 5: the client-side DELIMITER command, every dialect. */
static void
test_delimiter_command(void **state)
{
	(void) state;
	EXPECT("DELIMITER //\nCREATE TRIGGER t BEGIN SELECT 1; END//\nDELIMITER ;\nSELECT 2;",
		   MIG_LEX_POSTGRES, "CREATE TRIGGER t BEGIN SELECT 1; END", "SELECT 2;");
	/* quoted, with '' for a quote */
	EXPECT("delimiter 'a''b'\nSELECT 1a'b SELECT 2", MIG_LEX_SQLITE, "SELECT 1", "SELECT 2");
	/* escapes */
	EXPECT("delimiter \\n\\n\nSELECT 1\n\nSELECT 2", MIG_LEX_SQLITE, "SELECT 1", "SELECT 2");
	/* not followed by a space: ordinary text */
	EXPECT("delimiter;\nSELECT 1;", MIG_LEX_SQLITE, "delimiter;", "SELECT 1;");
	/* only at the start of a statement */
	EXPECT("SELECT 1 delimiter //\n;", MIG_LEX_SQLITE, "SELECT 1 delimiter //\n;");
	/* after a leading comment it is still the first character */
	EXPECT("-- c\nDELIMITER //\nSELECT 1//", MIG_LEX_SQLITE, "SELECT 1");
	/* errors */
	EXPECT_ERR("DELIMITER  \nSELECT 1;", MIG_LEX_SQLITE, "empty delimiter");
	EXPECT_ERR("DELIMITER ''\nSELECT 1;", MIG_LEX_SQLITE, "empty delimiter");
	/* a lone quote (Atlas itself crashes here): empty */
	EXPECT_ERR("DELIMITER '\nSELECT 1;", MIG_LEX_SQLITE, "empty delimiter");
	/* a command at the end of input leaves no statement */
	EXPECT("SELECT 1;\nDELIMITER //\n", MIG_LEX_SQLITE, "SELECT 1;");
}

/* §d.4: emitting. */
static void
test_emit(void **state)
{
	mig_stmts	st = {0};
	mig_err		err;
	const char *src = "SELECT 1;SELECT 2;";

	(void) state;
	/* Unicode whitespace (NBSP, ideographic space, NEL) is trimmed */
	EXPECT("\xc2\xa0SELECT 1;\xe3\x80\x80\xc2\x85SELECT 2\xe2\x80\xa8", MIG_LEX_POSTGRES,
		   "SELECT 1;", "SELECT 2");
	/* VT is whitespace too (not for keywords) */
	EXPECT("\vSELECT 1;\v", MIG_LEX_POSTGRES, "SELECT 1;");
	/* OmitDelimiter strips the default ';' */
	EXPECT("SELECT 1;\nSELECT 2 ;", MIG_LEX_POSTGRES | MIG_LEX_OMIT_DELIM, "SELECT 1", "SELECT 2");
	/* statements are slices, in order */
	mig_err_clear(&err);
	assert_int_equal(mig_lex_split(src, strlen(src), MIG_LEX_POSTGRES, &st, &err), MIG_OK);
	assert_int_equal(st.n, 2);
	assert_ptr_equal(st.v[0].text, src);
	assert_ptr_equal(st.v[1].text, src + 9);
	/* appends to what is there; on error leaves it as it was */
	assert_int_equal(mig_lex_split(src, strlen(src), MIG_LEX_POSTGRES, &st, &err), MIG_OK);
	assert_int_equal(st.n, 4);
	assert_int_equal(mig_lex_split("SELECT 1; (", 11, MIG_LEX_POSTGRES, &st, &err), MIG_ESCAN);
	assert_int_equal(st.n, 4);
	mig_stmts_free(&st);
	assert_null(st.v);
	assert_int_equal(st.n, 0);
	/* a NUL byte is an ordinary character */
	assert_int_equal(mig_lex_split("SELECT '\0';\0", 12, MIG_LEX_POSTGRES, &st, &err), MIG_OK);
	assert_int_equal(st.n, 2);
	assert_int_equal(st.v[0].len, 11);
	assert_int_equal(st.v[1].len, 1);
	assert_int_equal(st.v[1].text[0], '\0');
	mig_stmts_free(&st);
}

/* T-SQL options (§d.3 rules 6, 12, 14). */
static void
test_tsql(void **state)
{
	(void) state;
	EXPECT("SELECT 1\nGO\nSELECT 2\nGO 3\nSELECT 3", MIG_LEX_GO, "SELECT 1", "SELECT 2",
		   "SELECT 3");
	EXPECT("GO\nSELECT 1", MIG_LEX_GO, "", "SELECT 1");
	EXPECT_ERR("SELECT 1\nGO x\nSELECT 2", MIG_LEX_GO,
			   "sql/migrate: invalid GO command, expect digits got \" x\\n\": "
			   "strconv.Atoi: parsing \"x\": invalid syntax");
	EXPECT_ERR("SELECT 1\nGO 99999999999999999999\n", MIG_LEX_GO,
			   "sql/migrate: invalid GO command, expect digits got \" 99999999999999999999\\n\": "
			   "strconv.Atoi: parsing \"99999999999999999999\": value out of range");
	EXPECT("SELECT 1\nGO -5\nSELECT 2", MIG_LEX_GO, "SELECT 1", "SELECT 2");
	EXPECT("CREATE PROCEDURE p AS BEGIN\n  SELECT 1;\n  SELECT 2\nEND\nSELECT 3;",
		   MIG_LEX_BEGIN | MIG_LEX_BEGIN_END_TERM,
		   "CREATE PROCEDURE p AS BEGIN\n  SELECT 1;\n  SELECT 2\nEND", "SELECT 3;");
	EXPECT("x BEGIN\nBEGIN TRY\n  SELECT 1;\nEND TRY\nBEGIN CATCH\n  SELECT 2;\nEND CATCH\nEND;"
		   "\nSELECT 3;", MIG_LEX_BEGIN | MIG_LEX_BEGIN_TRYCATCH,
		   "x BEGIN\nBEGIN TRY\n  SELECT 1;\nEND TRY\nBEGIN CATCH\n  SELECT 2;\nEND CATCH\nEND;",
		   "SELECT 3;");
}

/* Many unmatched BEGINs: linear time, and no recursion to overflow a stack. */
static void
test_unmatched_begins_fast(void **state)
{
	mig_buf		b;
	mig_stmts	st = {0};
	mig_err		err;
	clock_t		t0;
	int			i;
	double		secs;

	(void) state;
	mig_buf_init(&b);
	for (i = 0; i < 20000; i++)
		mig_buf_puts(&b, "BEGIN ");
	mig_buf_puts(&b, "x;");
	for (i = 0; i < 100000; i++)
		mig_buf_puts(&b, "SELECT begin FROM t;\n");
	for (i = 0; i < 20000; i++)
		mig_buf_puts(&b, "CREATE FUNCTION f() BEGIN ATOMIC SELECT 1;\n");
	assert_false(b.oom);
	t0 = clock();
	mig_err_clear(&err);
	assert_int_equal(mig_lex_split(b.data, b.len, MIG_LEX_POSTGRES | MIG_LEX_BEGIN_TRYCATCH,
								   &st, &err), MIG_OK);
	secs = (double) (clock() - t0) / CLOCKS_PER_SEC;
	assert_int_equal(st.n, 1 + 100000 + 20000);
	print_message("# %zu bytes with %d unmatched BEGINs in %.3f s\n", b.len, 140000, secs);
	assert_true(secs < 5.0);
	mig_stmts_free(&st);

	/* BEGINs inside parentheses that never close (was cubic: 64 KB took 30 s) */
	mig_buf_reset(&b);
	for (i = 0; i < 50000; i++)
		mig_buf_puts(&b, "BEGIN ( ");
	mig_buf_puts(&b, "x;");
	t0 = clock();
	assert_int_equal(mig_lex_split(b.data, b.len, MIG_LEX_SQLITE, &st, &err), MIG_ESCAN);
	assert_string_equal(err.msg, "1:7: unclosed '('");
	/* ... and that do close */
	mig_buf_reset(&b);
	for (i = 0; i < 50000; i++)
		mig_buf_puts(&b, "BEGIN ( ");
	mig_buf_puts(&b, "x");
	for (i = 0; i < 50000; i++)
		mig_buf_puts(&b, ")");
	mig_buf_puts(&b, ";");
	assert_int_equal(mig_lex_split(b.data, b.len, MIG_LEX_POSTGRES, &st, &err), MIG_OK);
	assert_int_equal(st.n, 1);
	assert_int_equal(st.v[0].len, b.len);
	secs = (double) (clock() - t0) / CLOCKS_PER_SEC;
	print_message("# %d BEGINs in open and closed parentheses in %.3f s\n", 100000, secs);
	assert_true(secs < 5.0);
	mig_stmts_free(&st);
	mig_buf_free(&b);
}

/*
 * BEGIN bodies that open with a delimiter directive (found by the fuzzer:
 * each such body read the rest of the file as one statement, quadratic).
 * Small cases were checked against Atlas, including its cut in the middle
 * of the directive (the nested count skips the directive line).
 */
static void
test_directive_bodies_fast(void **state)
{
	mig_buf		b;
	mig_stmts	st = {0};
	mig_err		err;
	clock_t		t0 = clock();
	double		secs;
	int			i;

	(void) state;
	EXPECT("x BEGIN -- atlas:delimiter \\n\\n\n y END\nx BEGIN -- atlas:delimiter \\n\\n\n y END\n",
		   MIG_LEX_BEGIN | MIG_LEX_BEGIN_TRYCATCH | MIG_LEX_BEGIN_END_TERM, "x BEGIN -- atl",
		   "as:delimiter \\n\\n\n y END\nx BEGIN -- atl", "as:delimiter \\n\\n\n y END");
	mig_buf_init(&b);
	for (i = 0; i < 20000; i++)
		mig_buf_puts(&b, "BEGIN -- atlas:delimiter //\nSELECT 1\n");
	assert_int_equal(mig_lex_split(b.data, b.len, MIG_LEX_POSTGRES, &st, &err), MIG_OK);
	assert_int_equal(st.n, 1);
	mig_stmts_free(&st);
	mig_buf_reset(&b);
	for (i = 0; i < 20000; i++)
		mig_buf_puts(&b, "x BEGIN -- atlas:delimiter \\n\\n\n y END\n");
	assert_int_equal(mig_lex_split(b.data, b.len, MIG_LEX_BEGIN | MIG_LEX_BEGIN_TRYCATCH |
								   MIG_LEX_BEGIN_END_TERM, &st, &err), MIG_OK);
	assert_int_equal(st.n, 20001);
	secs = (double) (clock() - t0) / CLOCKS_PER_SEC;
	print_message("# 40000 directive bodies in %.3f s\n", secs);
	assert_true(secs < 5.0);
	mig_stmts_free(&st);
	mig_buf_free(&b);
}

/*
 * Fuzzer timeout (T-SQL options): BEGIN TRY steps its parent back into
 * text it already read, with no failed attempt to switch the memo on; it
 * took 2.7 s for 2.4 KB (Atlas's own scanner did not finish in 300 s).
 * The input is a seed of the fuzz corpus: two option bytes, then the file.
 */
static void
test_fuzz_tsql_try_timeout(void **state)
{
	static const size_t want[][2] = {{0, 163}, {163, 40}, {208, 2148}, {2357, 16}, {2374, 15}};
	const char *path = "tests/fuzz/corpus/fuzz_lex/regress-tsql-try-timeout";
	mig_stmts	st = {0};
	mig_err		err;
	size_t		len,
				i;
	char	   *data = tu_read_file(path, &len);
	unsigned	flags;
	clock_t		t0;
	double		secs;

	(void) state;
	if (data == NULL)
		fail_msg("missing %s (run the tests from the repository root)", path);
	flags = ((unsigned char) data[0] | ((unsigned char) data[1] << 8)) & 0x3FF;
	assert_int_equal(flags, MIG_LEX_BEGIN | MIG_LEX_BEGIN_TRYCATCH | MIG_LEX_GO |
					 MIG_LEX_BEGIN_END_TERM);
	t0 = clock();
	assert_int_equal(mig_lex_split(data + 2, len - 2, flags, &st, &err), MIG_OK);
	secs = (double) (clock() - t0) / CLOCKS_PER_SEC;
	assert_int_equal(st.n, 5);
	for (i = 0; i < 5; i++)
	{
		assert_int_equal(st.v[i].text - (data + 2), want[i][0]);
		assert_int_equal(st.v[i].len, want[i][1]);
	}
	assert_true(secs < 0.5);
	mig_stmts_free(&st);
	free(data);
}

/* After a failed BEGIN attempt, regions are read again: same statements. */
static void
test_after_failed_attempt(void **state)
{
	(void) state;
	EXPECT("x begin y;\nCREATE TRIGGER t BEGIN SELECT 1; END;\nSELECT 2;", MIG_LEX_SQLITE,
		   "x begin y;", "CREATE TRIGGER t BEGIN SELECT 1; END;", "SELECT 2;");
	EXPECT("a begin (b;\n c) begin d; END;\nSELECT 2;", MIG_LEX_SQLITE,
		   "a begin (b;\n c) begin d; END;", "SELECT 2;");
	/* the innermost block closes the outer statement (checked against Atlas) */
	EXPECT("BEGIN BEGIN BEGIN x; END; y;\nz;", MIG_LEX_SQLITE, "BEGIN BEGIN BEGIN x; END;", "y;",
		   "z;");
	EXPECT("BEGIN ( BEGIN ( x ) ) ; END;\nz;", MIG_LEX_POSTGRES,
		   "BEGIN ( BEGIN ( x ) ) ; END;", "z;");
}

/* ---------------------------------------------------------------- options text */

static void
test_parse_flags(void **state)
{
	mig_err		err;
	unsigned	f = 12345;

	(void) state;
	assert_int_equal(mig_lex_parse_flags("postgres", &f, &err), MIG_OK);
	assert_int_equal(f, MIG_LEX_POSTGRES);
	assert_int_equal(mig_lex_parse_flags("SQLite", &f, &err), MIG_OK);
	assert_int_equal(f, MIG_LEX_SQLITE);
	assert_int_equal(mig_lex_parse_flags(" generic ", &f, &err), MIG_OK);
	assert_int_equal(f, MIG_LEX_GENERIC);
	assert_int_equal(mig_lex_parse_flags("mysql", &f, &err), MIG_OK);
	assert_int_equal(f, MIG_LEX_MYSQL);
	assert_int_equal(mig_lex_parse_flags("MatchBegin, matchdollarquote ,HASHCOMMENTS", &f, &err),
					 MIG_OK);
	assert_int_equal(f, MIG_LEX_BEGIN | MIG_LEX_DOLLAR | MIG_LEX_HASH_COMMENTS);
	assert_int_equal(mig_lex_parse_flags("MatchBegin,MatchBeginAtomic,MatchBeginTryCatch,"
										 "MatchDollarQuote,BackslashEscapes,EscapedStringExt,"
										 "HashComments,GoCommand,BeginEndTerminator,OmitDelimiter",
										 &f, &err), MIG_OK);
	assert_int_equal(f, (1u << 10) - 1);
	assert_int_equal(mig_lex_parse_flags("postgres, OmitDelimiter", &f, &err), MIG_OK);
	assert_int_equal(f, MIG_LEX_POSTGRES | MIG_LEX_OMIT_DELIM);
	assert_int_equal(mig_lex_parse_flags("", &f, &err), MIG_OK);
	assert_int_equal(f, 0);

	f = 7;
	assert_int_equal(mig_lex_parse_flags("MatchBegin, Bogus", &f, &err), MIG_EINVAL);
	assert_int_equal(err.code, MIG_EINVAL);
	assert_non_null(strstr(err.msg, "\"Bogus\""));
	assert_int_equal(f, 7);
	assert_int_equal(mig_lex_parse_flags("postgresql", &f, &err), MIG_EINVAL);
	assert_non_null(strstr(err.msg, "\"postgresql\""));
	assert_int_equal(mig_lex_parse_flags("Match Begin", &f, &err), MIG_EINVAL);
	assert_non_null(strstr(err.msg, "\"Match Begin\""));
	assert_int_equal(mig_lex_parse_flags("MatchBegin,,HashComments", &f, &err), MIG_EINVAL);
	assert_int_equal(mig_lex_parse_flags("MatchBegin,", &f, &err), MIG_EINVAL);
}

/* ---------------------------------------------------------------- out of memory */

/* Fail the n-th allocation for n = 0.. until a split succeeds. */
static void
oom_loop(const char *src, size_t len, unsigned flags, int want_rc)
{
	long		n;
	int			rc = MIG_ENOMEM;
	mig_err		err;

	for (n = 0; n < 100000; n++)
	{
		mig_stmts	st = {0};

		mig_err_clear(&err);
		tu_fail_after(n);
		rc = mig_lex_split(src, len, flags, &st, &err);
		tu_fail_reset();
		if (rc == MIG_ENOMEM)
		{
			assert_int_equal(err.code, MIG_ENOMEM);
			assert_int_equal(st.n, 0);
		}
		mig_stmts_free(&st);
		if (rc != MIG_ENOMEM)
			break;
	}
	assert_int_equal(rc, want_rc);
	assert_true(n > 0);
}

static void
test_out_of_memory(void **state)
{
	mig_buf		b;
	int			i;

	(void) state;
	mig_buf_init(&b);
	/* nested BEGINs (levels, memo, chains), escaped delimiters (arena), many statements */
	mig_buf_puts(&b, "CREATE PROCEDURE p() BEGIN BEGIN SELECT 1; END; END;\n");
	mig_buf_puts(&b, "SELECT x begin y;\n");
	for (i = 0; i < 300; i++)
		mig_buf_printf(&b, "SELECT %d;\n", i);
	mig_buf_puts(&b, "DELIMITER \\n\\n\nSELECT 'a'\n\nDELIMITER ;\nSELECT 2;\n");
	assert_false(b.oom);
	oom_loop(b.data, b.len, MIG_LEX_SQLITE | MIG_LEX_BEGIN_ATOMIC, MIG_OK);
	mig_buf_free(&b);
	/* error messages that quote the input */
	oom_loop("-- atlas:delimiter //", 21, MIG_LEX_POSTGRES, MIG_ESCAN);
	oom_loop("SELECT 1\nGO x\n", 14, MIG_LEX_GO, MIG_ESCAN);
}

/* ---------------------------------------------------------------- main */

/* mig_lex_each: the same statements as mig_lex_split, streamed; emit can stop it. */
typedef struct each_acc
{
	mig_stmts	got;
	size_t		stop_at;		/* 0 = never */
} each_acc;

static int
each_emit(void *arg, const char *text, size_t len)
{
	each_acc   *a = arg;

	if (a->stop_at && a->got.n + 1 == a->stop_at)
		return MIG_EINTR;
	if (a->got.n == a->got.cap)
	{
		a->got.cap = a->got.cap ? 2 * a->got.cap : 8;
		a->got.v = realloc(a->got.v, a->got.cap * sizeof(mig_stmt));
	}
	a->got.v[a->got.n].text = text;
	a->got.v[a->got.n].len = len;
	a->got.n++;
	return MIG_OK;
}

static void
test_each_streams(void **state)
{
	const char *src = "CREATE TABLE a (x int);\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n"
		"BEGIN ATOMIC SELECT 1; END;\n-- trailing comment";
	mig_stmts	st;
	each_acc	a;
	mig_err		err;
	size_t		i;

	(void) state;
	memset(&st, 0, sizeof(st));
	memset(&a, 0, sizeof(a));
	mig_err_clear(&err);
	assert_int_equal(mig_lex_split(src, strlen(src), MIG_LEX_POSTGRES, &st, &err), MIG_OK);
	assert_int_equal(mig_lex_each(src, strlen(src), MIG_LEX_POSTGRES, each_emit, &a, &err), MIG_OK);
	assert_int_equal(a.got.n, st.n);
	for (i = 0; i < st.n; i++)
	{
		assert_ptr_equal(a.got.v[i].text, st.v[i].text);
		assert_int_equal(a.got.v[i].len, st.v[i].len);
	}
	free(a.got.v);
	memset(&a, 0, sizeof(a));
	a.stop_at = 2;
	assert_int_equal(mig_lex_each(src, strlen(src), MIG_LEX_POSTGRES, each_emit, &a, &err), MIG_EINTR);
	assert_int_equal(a.got.n, 1);
	free(a.got.v);
	mig_stmts_free(&st);
}

int
main(void)
{
	static const struct CMUnitTest unit[] = {
		cmocka_unit_test(test_each_streams),
		cmocka_unit_test(test_golden_escaped_ext_only),
		cmocka_unit_test(test_errors_generic),
		cmocka_unit_test(test_errors_more),
		cmocka_unit_test(test_escaped_string_ext_quirk),
		cmocka_unit_test(test_worked_examples),
		cmocka_unit_test(test_begin_isolation),
		cmocka_unit_test(test_sqlite_trigger),
		cmocka_unit_test(test_begin_end_rules),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_dollar_quotes),
		cmocka_unit_test(test_delimiter_directive),
		cmocka_unit_test(test_delimiter_command),
		cmocka_unit_test(test_emit),
		cmocka_unit_test(test_tsql),
		cmocka_unit_test(test_unmatched_begins_fast),
		cmocka_unit_test(test_after_failed_attempt),
		cmocka_unit_test(test_directive_bodies_fast),
		cmocka_unit_test(test_fuzz_tsql_try_timeout),
		cmocka_unit_test(test_parse_flags),
		cmocka_unit_test(test_out_of_memory),
	};
	enum
	{
		NPAIRS = sizeof(pairs) / sizeof(pairs[0]),
		NUNIT = sizeof(unit) / sizeof(unit[0])
	};
	static struct CMUnitTest tests[NPAIRS + NUNIT];
	static char names[NPAIRS][128];
	size_t		i;

	/* one test per golden pair, named after its fixture */
	for (i = 0; i < NPAIRS; i++)
	{
		snprintf(names[i], sizeof(names[i]), "golden %s/%s", pairs[i].folder, pairs[i].file);
		tests[i].name = names[i];
		tests[i].test_func = test_golden_pair;
		tests[i].setup_func = NULL;
		tests[i].teardown_func = NULL;
		tests[i].initial_state = (void *) &pairs[i];
	}
	for (i = 0; i < NUNIT; i++)
		tests[NPAIRS + i] = unit[i];
	return _cmocka_run_group_tests("lex", tests, NPAIRS + NUNIT, NULL, NULL);
}
