/*
 * hcl_int.h - what the files of shared/hcl/ share, and nothing else
 * includes: the arena, the syntax tree, the lexer and parser state, the
 * evaluated values, and the functions one phase calls in another.
 *
 * The atlas.hcl subset (spec §i) is read in phases, one file each:
 *   arena.c   bump allocator: a syntax tree or one evaluation in one block
 *   lex.c     tokens, positions, "L:C: message" errors (§i.1 syntax)
 *   parse.c   recursive descent: expressions, templates, heredocs, bodies
 *   check.c   structure check and mig_hcl_parse: known blocks, attributes,
 *             functions, references, variable types (§i.1, §i.2)
 *   value.c   values, cty's conversions and equality
 *   eval.c    expression evaluation: references, operators, templates
 *   funcs.c   the function library (§i.1 "Function calls")
 *   env.c     env selection (§i.3) and mig_hcl_env: variables, atlas.cloud,
 *             the env's migration block (§i.2)
 *   setcheck.c mig_hcl_check_envs: atlas_config_set evaluates every env as
 *             far as it can without the call's values (§i.2, §i.3)
 *   redact.c  mig_hcl_redact: the text with its secrets replaced
 * The public API is in mig.h.
 *
 * Knows nothing of PostgreSQL or SQLite.  Written from the HCL2 native
 * syntax description and spec §i; no code from HashiCorp HCL or Atlas.
 * Every cross-file name carries the hcl_ prefix: the PostgreSQL module is
 * linked with default symbol visibility.
 */
#ifndef HCL_INT_H
#define HCL_INT_H

#include <string.h>

#include "mig.h"

#define MAX_DEPTH 64			/* nesting of blocks and expressions */
#define EVAL_MAX_DEPTH 256		/* evaluation frames, through locals */
#define EVAL_LIMIT ((size_t) 16 << 20)	/* bytes per mig_hcl_env call */
#define EVAL_MAX_WORK 20000000L	/* value visits per mig_hcl_env call */

#define CLOUD_URL_DEFAULT "https://api.atlasgo.cloud/query"
#define CLOUD_PROJECT_DEFAULT "default"
#define CONFIG_NAME "atlas.hcl"

/* ---------------------------------------------------------------- arena (arena.c) */

/*
 * A bump allocator over mig_alloc'd chunks.  The syntax tree and the values
 * of one evaluation each live in one arena, so error paths free everything
 * with one call.
 */
typedef struct chunk chunk;

typedef struct arena
{
	chunk	   *head;
	size_t		total;			/* bytes handed out */
	size_t		limit;			/* 0 = no limit */
	bool		wipe;			/* zero chunks before freeing (secrets) */
	bool		over;			/* an allocation failed on the limit */
} arena;

void		hcl_arena_init(arena *a, size_t limit, bool wipe);
void	   *hcl_arena_alloc(arena *a, size_t n);
void	   *hcl_arena_zalloc(arena *a, size_t n);
char	   *hcl_arena_strndup(arena *a, const char *s, size_t n);
void		hcl_arena_free(arena *a);
/* Grow an arena array of elem-sized items holding n, capacity *cap. */
void	   *hcl_arena_grow(arena *a, void *old, size_t n, size_t *cap, size_t elem);

/* ---------------------------------------------------------------- syntax tree (parse.c) */

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

/* ---------------------------------------------------------------- lexer (lex.c) */

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

static inline bool
is_ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static inline bool
is_ident_char(int c)
{
	return is_ident_start(c) || is_digit(c) || c == '-';
}

/* Blanks a template's ~ strip marker removes. */
static inline bool
is_tmpl_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline bool
in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* MIG_ECONFIG "L:C: message". */
int			hcl_perr(parser *p, int line, int col, const char *fmt,...)
			__attribute__((format(printf, 4, 5)));
int			hcl_poom(parser *p);
/* Move s forward n bytes, counting lines and (UTF-8 aware) columns. */
void		hcl_advance(const char *src, lexstate *s, size_t n);
/* Read the next token at p->st without consuming it. */
int			hcl_lex(parser *p, tok *t);
/* Consume t (read by hcl_lex). */
void		hcl_take(parser *p, const tok *t);
bool		hcl_is_op(const tok *t, int op);
/* "expected <what>, found <t>" at t. */
int			hcl_expected(parser *p, const tok *t, const char *what);
/* Consume the operator op or fail with "expected <what>". */
int			hcl_expect_op(parser *p, int op, const char *what);

/* ---------------------------------------------------------------- parser (parse.c) */

/* Parse attributes and blocks up to '}' (not consumed) or end of file. */
int			hcl_parse_body(parser *p, body *b, bool top, const block *owner);
/* HCL: an attribute may be set once per body. */
int			hcl_check_dup_attrs(parser *p, const body *b);
/* qsort order of attr pointers: by name, then position. */
int			hcl_cmp_attr(const void *a, const void *b);
/* The steps of a traversal from the root outwards (room for MAX_DEPTH + 1); its root. */
const expr *hcl_traversal_steps(const expr *e, const expr **steps, size_t *n);
/* A decimal number literal (locale-independent); false if not one. */
bool		hcl_parse_number(const char *s, size_t len, double *out);

/* ---------------------------------------------------------------- structure (check.c) */

/* Scoped enum words of migration.exec_order (§i.1). */
extern const char *const hcl_exec_order_enums[];

const attr *hcl_find_attr(const body *b, const char *name);
const vardecl *hcl_find_var(const mig_config *cfg, const char *name);
/* Index in cfg->locals, or -1. */
long		hcl_find_local(const mig_config *cfg, const char *name);
/* Is e exactly the reference atlas.env? */
bool		hcl_is_atlas_env_ref(const expr *e);

/* ---------------------------------------------------------------- values (value.c) */

typedef enum vkind
{
	V_NULL,
	V_BOOL,
	V_NUM,
	V_STR,
	V_LIST,
	V_MAP,
	V_UNKNOWN					/* set time: known only when called (partial) */
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

	/*
	 * Set time (setcheck.c): getenv(), variables without a default and,
	 * with env_unknown, atlas.env are V_UNKNOWN, and whatever is computed
	 * from an unknown is unknown too (a list or object with an unknown
	 * part is wholly unknown).  Never set by mig_hcl_env.
	 */
	bool		partial;
	bool		env_unknown;
} evalctx;

/* An evaluation error "L:C: message" (no details while x->secret). */
int			hcl_eerr(evalctx *x, const expr *at, int code, const char *fmt,...)
			__attribute__((format(printf, 4, 5)));
/* An allocation in the evaluation arena failed: memory or the size cap. */
int			hcl_eoom(evalctx *x);
const char *hcl_kind_name(vkind k);
value		hcl_v_str(const char *s, size_t len);
value		hcl_v_num(double n);
value		hcl_v_bool(bool b);
value		hcl_v_unknown(void);
bool		hcl_is_finite_number(double n);
/* n is a whole number that fits a long long. */
bool		hcl_is_whole(double n);
/* The string form of a primitive value; *ok false for null, lists, objects. */
int			hcl_as_string(evalctx *x, const value *v, const char **s, size_t *len, bool *ok);
bool		hcl_as_number(const value *v, double *n);
bool		hcl_as_bool(const value *v, bool *b);
/* Count n steps of work; false past EVAL_MAX_WORK. */
bool		hcl_spend(evalctx *x, long n);
int			hcl_too_complex(evalctx *x, const expr *at);
/* Deep equality (==): values of different kinds are never equal. */
bool		hcl_v_equal(evalctx *x, const value *a, const value *b, int depth);
/* Convert v to type t; on mismatch *why says what was required. */
int			hcl_convert(evalctx *x, const value *v, const htype *t, value *out,
						char *why, size_t wsize, int depth);

/* ---------------------------------------------------------------- evaluation (eval.c, funcs.c) */

int			hcl_eval(evalctx *x, const expr *e, value *out);

/* ---------------------------------------------------------------- env (env.c) */

/* Start an evaluation of cfg for env `name` (atlas.env); hcl_eval_end frees it. */
int			hcl_eval_begin(evalctx *x, const mig_config *cfg, const char *name, mig_err *err);
void		hcl_eval_end(evalctx *x);
/*
 * Variables (the caller's values, else defaults), atlas { cloud { } } and,
 * when k is not NULL, env block k into *env (the caller frees it).
 */
int			hcl_eval_env(evalctx *x, const block *k, const mig_vars *vars, mig_env *env);

/*
 * A function apply can evaluate (§i.1): min/max argument counts (-1 = any)
 * and its implementation, which gets the evaluated arguments and a scratch
 * buffer its caller frees.
 */
typedef struct funcinfo
{
	const char *name;
	int			min;
	int			max;
	int			(*fn) (evalctx *x, const expr *call, const value *args, mig_buf *b, value *out);
} funcinfo;

const funcinfo *hcl_find_func(const char *name);
/* Functions of Atlas's library this subset does not implement. */
extern const char *const hcl_atlas_funcs[];
/* Evaluate a call of a known function (arguments evaluated here). */
int			hcl_eval_call(evalctx *x, const expr *e, value *out);

#endif							/* HCL_INT_H */
