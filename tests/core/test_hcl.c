/*
 * test_hcl.c - the atlas.hcl subset (spec §i): parsing, structural checks,
 * env selection (§i.3), variables, evaluation, and every error message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---------------------------------------------------------------- helpers */

static mig_config *
parse_ok(const char *src)
{
	mig_config *cfg = NULL;
	mig_err		err;
	int			rc;

	mig_err_clear(&err);
	rc = mig_hcl_parse(src, strlen(src), &cfg, &err);
	if (rc != MIG_OK)
		print_message("# unexpected parse error: %s\n", err.msg);
	assert_int_equal(rc, MIG_OK);
	assert_non_null(cfg);
	return cfg;
}

/* Parse src and expect code with exactly msg. */
static void
parse_fails(const char *src, int code, const char *msg)
{
	mig_config *cfg = NULL;
	mig_err		err;
	int			rc;

	mig_err_clear(&err);
	rc = mig_hcl_parse(src, strlen(src), &cfg, &err);
	if (rc != code || strcmp(err.msg, msg) != 0)
		print_message("# input:\n%s\n# got %d \"%s\", want %d \"%s\"\n", src, rc, err.msg, code, msg);
	assert_int_equal(rc, code);
	assert_string_equal(err.msg, msg);
	assert_null(cfg);
}

/* Parse and evaluate env; returns the rc, err filled. */
static int
eval_env(const char *src, const char *env, const mig_vars *vars, mig_env *out, mig_err *err)
{
	mig_config *cfg = NULL;
	int			rc;

	mig_err_clear(err);
	memset(out, 0, sizeof(*out));
	rc = mig_hcl_parse(src, strlen(src), &cfg, err);
	if (rc == MIG_OK)
		rc = mig_hcl_env(cfg, env, vars, out, err);
	mig_hcl_free(cfg);
	return rc;
}

/*
 * The host's getenv() switch (PostgreSQL: the config's author may not read
 * the server's environment): the parse reports the call, evaluating it is
 * MIG_EPERM naming getenv and its place, never the variable or a value;
 * a config without getenv() evaluates as before.
 */
static void
test_deny_getenv(void **state)
{
	const char *src = "env \"x\" {\n  migration {\n    dir = \"nope://${getenv(\"HCL_TEST_VALUE\")}\"\n  }\n}\n";
	const char *plain = "env \"x\" {\n  migration { dir = \"file://m\" }\n}\n";
	mig_config *cfg = NULL;
	mig_env		env;
	mig_err		err;

	(void) state;
	setenv("HCL_TEST_VALUE", "Hello", 1);
	mig_err_clear(&err);
	assert_int_equal(mig_hcl_parse(src, strlen(src), &cfg, &err), MIG_OK);
	assert_true(mig_hcl_uses_getenv(cfg));
	memset(&env, 0, sizeof(env));
	mig_hcl_deny_getenv(cfg);
	assert_int_equal(mig_hcl_env(cfg, "x", NULL, &env, &err), MIG_EPERM);
	assert_string_equal(err.msg, "3:21: function \"getenv\" is not allowed: reading the database server's environment is denied for this configuration");
	assert_null(strstr(err.msg, "Hello"));
	assert_null(strstr(err.msg, "HCL_TEST_VALUE"));
	mig_env_free(&env);
	mig_hcl_free(cfg);

	cfg = NULL;
	assert_int_equal(mig_hcl_parse(plain, strlen(plain), &cfg, &err), MIG_OK);
	assert_false(mig_hcl_uses_getenv(cfg));
	mig_hcl_deny_getenv(cfg);
	memset(&env, 0, sizeof(env));
	assert_int_equal(mig_hcl_env(cfg, "x", NULL, &env, &err), MIG_OK);
	assert_string_equal(env.dir, "file://m");
	mig_env_free(&env);
	mig_hcl_free(cfg);
}

static void
env_ok(const char *src, const char *env, const mig_vars *vars, mig_env *out)
{
	mig_err		err;
	int			rc = eval_env(src, env, vars, out, &err);

	if (rc != MIG_OK)
		print_message("# unexpected error %d: %s\n", rc, err.msg);
	assert_int_equal(rc, MIG_OK);
}

/* Evaluate and expect code with exactly msg. */
static void
env_fails(const char *src, const char *env, const mig_vars *vars, int code, const char *msg)
{
	mig_env		out;
	mig_err		err;
	int			rc = eval_env(src, env, vars, &out, &err);

	if (rc != code || strcmp(err.msg, msg) != 0)
		print_message("# input:\n%s\n# got %d \"%s\", want %d \"%s\"\n", src, rc, err.msg, code, msg);
	assert_int_equal(rc, code);
	assert_string_equal(err.msg, msg);
	assert_null(out.name);
	assert_null(out.dir);
	assert_null(out.cloud_token);
	mig_env_free(&out);
}

/* The value of one attribute, wrapped in a minimal env: url = <expr>. */
static void
expr_is(const char *expr, const char *want)
{
	char		src[4096];
	mig_env		out;

	snprintf(src, sizeof(src), "env \"x\" {\n  url = %s\n}\n", expr);
	env_ok(src, "x", NULL, &out);
	if (want == NULL)
		assert_null(out.url);
	else
	{
		if (out.url == NULL || strcmp(out.url, want) != 0)
			print_message("# expr %s: got \"%s\", want \"%s\"\n", expr, out.url ? out.url : "(null)", want);
		assert_non_null(out.url);
		assert_string_equal(out.url, want);
	}
	mig_env_free(&out);
}

static void
expr_fails(const char *expr, int code, const char *msg)
{
	char		src[4096];

	snprintf(src, sizeof(src), "env \"x\" {\n  url = %s\n}\n", expr);
	env_fails(src, "x", NULL, code, msg);
}

/* A mig_vars built on the stack: up to 4 vars of up to 4 values. */
typedef struct tvars
{
	mig_vars	vars;
	mig_var		v[4];
	char	   *vals[4][4];
} tvars;

static const mig_vars *
tvars_add(tvars *t, const char *name, bool is_list, int n, const char *const *values)
{
	mig_var    *v = &t->v[t->vars.n];
	int			i;

	v->name = (char *) name;
	for (i = 0; i < n; i++)
		t->vals[t->vars.n][i] = (char *) values[i];
	v->values = t->vals[t->vars.n];
	v->nvalues = (size_t) n;
	v->is_list = is_list;
	t->vars.v = t->v;
	t->vars.n++;
	return &t->vars;
}

static const mig_vars *
one_var(tvars *t, const char *name, const char *value)
{
	memset(t, 0, sizeof(*t));
	return tvars_add(t, name, false, 1, &value);
}

/* ---------------------------------------------------------------- §i.2 example and the seed config */

static const char *spec_example =
"variable \"cloud_token\" {            # input variable\n"
"  type    = string                  # string | number | bool | list(T) | set(T) | map(T) | ...\n"
"  default = getenv(\"ATLAS_TOKEN\")   # optional; without default the variable is required\n"
"}\n"
"\n"
"atlas {                             # optional, at most one; no labels\n"
"  cloud {\n"
"    token   = var.cloud_token       # required inside cloud{}; an empty token means \"no cloud\"\n"
"    url     = \"https://api.atlasgo.cloud/query\"   # optional; this is the default\n"
"    project = \"example\"             # optional; default \"default\"\n"
"  }\n"
"}\n"
"\n"
"env \"prod\" {                        # labelled env\n"
"  url = \"postgres://...\"            # database URL (--url)\n"
"  migration {\n"
"    dir              = \"atlas://myapp?tag=v1\"   # --dir (file://..., atlas://name[?tag=...])\n"
"    revisions_schema = \"atlas_schema_revisions\" # --revisions-schema\n"
"    baseline         = \"20220811074144\"         # --baseline\n"
"    exec_order       = LINEAR_SKIP              # --exec-order (LINEAR | LINEAR_SKIP | NON_LINEAR)\n"
"    lock_timeout     = \"30s\"                    # --lock-timeout (Go duration)\n"
"    format           = atlas                    # directory format; only \"atlas\" matters here\n"
"  }\n"
"  format {\n"
"    migrate {\n"
"      apply = \"{{ json . }}\"        # --format for migrate apply\n"
"    }\n"
"  }\n"
"}\n"
"\n"
"env {                               # unlabelled env, named by --env\n"
"  name = atlas.env\n"
"  url  = getenv(\"DATABASE_URL\")\n"
"  migration { dir = \"atlas://myapp\" }\n"
"}\n";

static void
test_spec_example_labelled(void **state)
{
	mig_env		e;

	(void) state;
	setenv("ATLAS_TOKEN", "tok-from-env", 1);
	env_ok(spec_example, "prod", NULL, &e);
	assert_string_equal(e.name, "prod");
	assert_string_equal(e.url, "postgres://...");
	assert_string_equal(e.dir, "atlas://myapp?tag=v1");
	assert_string_equal(e.revisions_schema, "atlas_schema_revisions");
	assert_string_equal(e.baseline, "20220811074144");
	assert_string_equal(e.exec_order, "linear-skip");
	assert_string_equal(e.lock_timeout, "30s");
	assert_null(e.tx_mode);
	assert_true(e.cloud);
	assert_string_equal(e.cloud_token, "tok-from-env");
	assert_string_equal(e.cloud_url, "https://api.atlasgo.cloud/query");
	assert_string_equal(e.cloud_project, "example");
	assert_null(e.cloud_ca_file);
	mig_env_free(&e);
	assert_null(e.name);
	unsetenv("ATLAS_TOKEN");
}

static void
test_spec_example_unlabelled(void **state)
{
	mig_env		e;

	(void) state;
	unsetenv("ATLAS_TOKEN");
	setenv("DATABASE_URL", "postgres://u@h/db?search_path=app", 1);
	env_ok(spec_example, "staging", NULL, &e);
	assert_string_equal(e.name, "staging");
	assert_string_equal(e.url, "postgres://u@h/db?search_path=app");
	assert_string_equal(e.dir, "atlas://myapp");
	assert_null(e.exec_order);
	assert_null(e.baseline);
	/* empty token: the block is accepted, cloud stays off (§i.2) */
	assert_false(e.cloud);
	assert_null(e.cloud_token);
	mig_env_free(&e);
	unsetenv("DATABASE_URL");
}

static const char *seed_config =
"variable \"cloud_token\" {\n"
"  type    = string\n"
"  default = getenv(\"ATLAS_TOKEN\")\n"
"}\n"
"atlas {\n"
"  cloud {\n"
"    token = var.cloud_token\n"
"  }\n"
"}\n"
"env {\n"
"  name = atlas.env\n"
"  url  = getenv(\"DATABASE_URL\")\n"
"  migration {\n"
"    dir = \"atlas://app\"\n"
"  }\n"
"}\n";

/* As the project brief writes it: nested blocks on one line. */
static const char *seed_one_line =
"variable \"cloud_token\" { type = string default = getenv(\"ATLAS_TOKEN\") }";

static void
test_seed_config_one_line(void **state)
{
	mig_env		e;

	(void) state;
	/* HCL allows one item per single-line block: two attributes are an error ... */
	parse_fails(seed_one_line, MIG_ECONFIG, "1:40: a single-line block may contain only one attribute or block");
	/* ... and one nested block is accepted */
	setenv("ATLAS_TOKEN", "t1", 1);
	env_ok("variable \"cloud_token\" {\n  type = string\n  default = getenv(\"ATLAS_TOKEN\")\n}\n"
		   "atlas { cloud { token = var.cloud_token } }\n"
		   "env {\n  name = atlas.env\n  url = getenv(\"DATABASE_URL\")\n  migration { dir = \"atlas://app\" }\n}\n",
		   "prod", NULL, &e);
	assert_true(e.cloud);
	assert_string_equal(e.cloud_token, "t1");
	assert_string_equal(e.dir, "atlas://app");
	mig_env_free(&e);
	unsetenv("ATLAS_TOKEN");
}

static void
test_seed_config_with_env(void **state)
{
	mig_env		e;

	(void) state;
	setenv("ATLAS_TOKEN", "aci_seed_token", 1);
	setenv("DATABASE_URL", "postgres://localhost/app", 1);
	env_ok(seed_config, "prod", NULL, &e);
	assert_string_equal(e.name, "prod");
	assert_string_equal(e.url, "postgres://localhost/app");
	assert_string_equal(e.dir, "atlas://app");
	assert_true(e.cloud);
	assert_string_equal(e.cloud_token, "aci_seed_token");
	assert_string_equal(e.cloud_url, "https://api.atlasgo.cloud/query");
	assert_string_equal(e.cloud_project, "default");
	mig_env_free(&e);
	unsetenv("ATLAS_TOKEN");
	unsetenv("DATABASE_URL");
}

static void
test_seed_config_without_env(void **state)
{
	mig_env		e;

	(void) state;
	unsetenv("ATLAS_TOKEN");
	unsetenv("DATABASE_URL");
	/* getenv of an unset variable is "", never an error */
	env_ok(seed_config, "anything", NULL, &e);
	assert_string_equal(e.name, "anything");
	assert_null(e.url);
	assert_false(e.cloud);
	assert_null(e.cloud_token);
	mig_env_free(&e);
}

static void
test_seed_config_token_from_vars(void **state)
{
	tvars		t;
	mig_env		e;

	(void) state;
	unsetenv("ATLAS_TOKEN");
	env_ok(seed_config, "prod", one_var(&t, "cloud_token", "from-vars"), &e);
	assert_true(e.cloud);
	assert_string_equal(e.cloud_token, "from-vars");
	mig_env_free(&e);
}

/* ---------------------------------------------------------------- env selection (§i.3) */

static const char *two_kinds =
"env \"a\" {\n"
"  url = \"labelled-a\"\n"
"}\n"
"env {\n"
"  name = atlas.env\n"
"  url  = \"unlabelled-${atlas.env}\"\n"
"}\n";

static void
test_labelled_env_wins(void **state)
{
	mig_env		e;

	(void) state;
	env_ok(two_kinds, "a", NULL, &e);
	assert_string_equal(e.url, "labelled-a");
	mig_env_free(&e);
	env_ok(two_kinds, "b", NULL, &e);
	assert_string_equal(e.name, "b");
	assert_string_equal(e.url, "unlabelled-b");
	mig_env_free(&e);
}

static void
test_unlabelled_env_needs_atlas_env_reference(void **state)
{
	mig_env		e;
	mig_err		err;

	(void) state;
	/* §i.3: only `name = atlas.env` exactly; a literal name never matches */
	assert_int_equal(eval_env("env {\n  name = \"prod\"\n}\n", "prod", NULL, &e, &err), MIG_ENOTFOUND);
	assert_string_equal(err.msg, "env \"prod\" not defined in config file");
	assert_non_null(strstr(err.hint, "atlas.env"));
	assert_int_equal(eval_env("env {\n  name = \"${atlas.env}\"\n}\n", "prod", NULL, &e, &err), MIG_ENOTFOUND);
	assert_int_equal(eval_env("env {\n  name = (atlas.env)\n}\n", "prod", NULL, &e, &err), MIG_ENOTFOUND);
	assert_int_equal(eval_env("env {\n  url = \"x\"\n}\n", "prod", NULL, &e, &err), MIG_ENOTFOUND);
}

static void
test_unknown_env(void **state)
{
	(void) state;
	env_fails(two_kinds + 0, "", NULL, MIG_ECONFIG, "all envs must have names on file \"atlas.hcl\"");
	env_fails("env \"a\" {\n}\n", "nope", NULL, MIG_ENOTFOUND, "env \"nope\" not defined in config file");
	env_fails("", "prod", NULL, MIG_ENOTFOUND, "env \"prod\" not defined in config file");
	env_fails("variable \"x\" {\n  type = string\n}\n", "prod", NULL, MIG_ENOTFOUND,
			  "env \"prod\" not defined in config file");
}

static void
test_several_envs_not_supported(void **state)
{
	(void) state;
	env_fails("env \"a\" {\n}\nenv \"a\" {\n}\n", "a", NULL, MIG_ENOTSUP,
			  "3:1: env \"a\" is defined more than once (also at 1:1); running several envs in one call is not supported yet");
	env_fails("env {\n  name = atlas.env\n}\nenv {\n  name = atlas.env\n}\n", "z", NULL, MIG_ENOTSUP,
			  "4:1: env \"z\" is defined more than once (also at 1:1); running several envs in one call is not supported yet");
}

static void
test_for_each_not_supported(void **state)
{
	(void) state;
	env_fails("env {\n  for_each = toset([\"a\", \"b\"])\n  name = atlas.env\n  url = each.value\n}\n",
			  "x", NULL, MIG_ENOTSUP,
			  "2:3: env \"x\" uses for_each, which is not supported yet (one env per call)");
}

static void
test_data_not_supported(void **state)
{
	mig_env		e;

	(void) state;
	/* a data source the selected env evaluates */
	env_fails("data \"sql\" \"tenants\" {\n  url = \"x\"\n}\n"
			  "env \"a\" {\n  url = data.sql.tenants.value\n}\n",
			  "a", NULL, MIG_ENOTSUP,
			  "5:9: data sources are not supported yet (data.sql.tenants is used by env \"a\")");
	/* through a local */
	env_fails("data \"sql\" \"t\" {\n}\nlocals {\n  u = data.sql.t.value\n}\n"
			  "env \"a\" {\n  migration {\n    dir = local.u\n  }\n}\n",
			  "a", NULL, MIG_ENOTSUP,
			  "4:7: data sources are not supported yet (data.sql.t is used by env \"a\")");
	/* a data source only ignored attributes use, or another env uses, is fine */
	env_ok("data \"external_schema\" \"orm\" {\n  program = [\"x\"]\n}\n"
		   "env \"a\" {\n  src = data.external_schema.orm.url\n  dev = \"docker://postgres/15\"\n  url = \"u\"\n}\n"
		   "env \"b\" {\n  url = data.external_schema.orm.url\n}\n",
		   "a", NULL, &e);
	assert_string_equal(e.url, "u");
	mig_env_free(&e);
	/* referring to a data block that does not exist is a parse error */
	parse_fails("env \"a\" {\n  url = data.sql.none.value\n}\n", MIG_ECONFIG,
				"2:9: reference to undeclared data source \"data.sql.none\"");
}

/* ---------------------------------------------------------------- syntax */

static void
test_comments_ok(void **state)
{
	mig_env		e;

	(void) state;
	env_ok("# hash\n// slashes\n/* block\n comment */\n"
		   "env \"a\" { # trailing\n"
		   "  url = /* inline */ \"u\" // trailing\n"
		   "\r\n"
		   "  migration { dir = \"file://m\" } /* after */\n"
		   "  dev = null # ignored\n"
		   "}", "a", NULL, &e);
	assert_string_equal(e.url, "u");
	assert_string_equal(e.dir, "file://m");
	mig_env_free(&e);
}

static void
test_single_line_blocks_and_crlf(void **state)
{
	mig_env		e;

	(void) state;
	env_ok("env \"a\" {\r\n  migration { dir = \"file://m\" }\r\n  url = \"u\"\r\n}\r\n", "a", NULL, &e);
	assert_string_equal(e.dir, "file://m");
	assert_string_equal(e.url, "u");
	mig_env_free(&e);
	env_ok("env \"a\" {\n  migration {}\n}\n", "a", NULL, &e);
	assert_null(e.dir);
	mig_env_free(&e);
	/* identifier labels are labels too */
	env_ok("env a {\n  url = \"u\"\n}\n", "a", NULL, &e);
	assert_string_equal(e.url, "u");
	mig_env_free(&e);
	/* a byte order mark is skipped */
	env_ok("\xEF\xBB\xBF" "env \"a\" {\n}\n", "a", NULL, &e);
	mig_env_free(&e);
}

static void
test_literals(void **state)
{
	(void) state;
	expr_is("\"plain\"", "plain");
	expr_is("\"tab\\there\"", "tab\there");
	expr_is("\"q\\\"b\\\\s\"", "q\"b\\s");
	expr_is("\"nl\\nx\\r\"", "nl\nx\r");
	expr_is("\"\\u00e9\\u20AC\\U0001F600\"", "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
	expr_is("42", "42");
	expr_is("1.5", "1.5");
	expr_is("-7", "-7");
	expr_is("1e3", "1000");
	expr_is("0.1", "0.1");
	expr_is("true", "true");
	expr_is("false", "false");
	expr_is("null", NULL);
	expr_is("\"\"", NULL);
	expr_is("\"caf\xC3\xA9\"", "caf\xC3\xA9");
}

static void
test_interpolation(void **state)
{
	mig_env		e;
	tvars		t;
	static const char *cfg =
	"variable \"user\" {\n  type = string\n}\n"
	"variable \"pass\" {\n  type = string\n  default = \"p@ss\"\n}\n"
	"locals {\n  db = \"app\"\n  port = 5432\n}\n"
	"env \"x\" {\n  url = \"postgres://${var.user}:${var.pass}@host:${local.port}/${local.db}?a=${1 + 2}\"\n}\n";

	(void) state;
	env_ok(cfg, "x", one_var(&t, "user", "bob"), &e);
	assert_string_equal(e.url, "postgres://bob:p@ss@host:5432/app?a=3");
	mig_env_free(&e);

	expr_is("\"$${not} %%{this}\"", "${not} %{this}");
	expr_is("\"a $ b % c $\"", "a $ b % c $");
	expr_is("\"x ${~ \"y\" ~}   z\"", "xyz");
	expr_is("\"${\"only\"}\"", "only");
	expr_is("\"${1.25}|${true}|${-0.5}\"", "1.25|true|-0.5");
	expr_is("\"${ \"a\" }${ \"b\" }\"", "ab");
	expr_is("\"nested ${\"in ${\"ner\"}\"}\"", "nested in ner");
	expr_is("\"${atlas.env}\"", "x");
}

static void
test_heredoc(void **state)
{
	(void) state;
	expr_is("<<EOS\nline one\n  line ${\"two\"}\nEOS", "line one\n  line two\n");
	expr_is("<<-EOS\n    indented\n      more\n\n    back\n    EOS", "indented\n  more\n\nback\n");
	expr_is("<<EOT\n$${x} \\n stays\nEOT", "${x} \\n stays\n");
	expr_is("<<EOS\nEOS", NULL);
	expr_is("<<EOS\r\nwin\r\nEOS", "win\r\n");
}

static void
test_expressions(void **state)
{
	(void) state;
	expr_is("1 + 2 * 3", "7");
	expr_is("(1 + 2) * 3", "9");
	expr_is("10 / 4", "2.5");
	expr_is("7 % 3", "1");
	expr_is("-7 % 3", "-1");
	expr_is("7.5 % 2", "1.5");
	expr_is("-(2 - 5)", "3");
	expr_is("1 < 2 && !false", "true");
	expr_is("1 == 1.0 || false", "true");
	expr_is("\"a\" == \"b\"", "false");
	expr_is("1 == \"1\"", "false");
	expr_is("[1, 2] == [1, 2]", "true");
	expr_is("true ? \"yes\" : \"no\"", "yes");
	expr_is("1 > 2 ? \"yes\" : \"no\"", "no");
	expr_is("[\"a\", \"b\"][1]", "b");
	expr_is("[\"a\", \"b\"].0", "a");
	expr_is("{ a = \"x\", b : \"y\" }.b", "y");
	expr_is("{ \"k\" = \"v\" }[\"k\"]", "v");
	expr_is("{\n  a = 1\n  b = 2\n}.b", "2");
	expr_is("[\n  \"a\",\n  \"b\",\n][0]", "a");
	expr_is("{ (\"comp\") = 1 }.comp", "1");
	expr_is("{ 1 = \"one\" }[\"1\"]", "one");
}

static void
test_functions(void **state)
{
	(void) state;
	setenv("HCL_TEST_VALUE", "Hello", 1);
	unsetenv("HCL_TEST_UNSET");
	expr_is("getenv(\"HCL_TEST_VALUE\")", "Hello");
	expr_is("\"[${getenv(\"HCL_TEST_UNSET\")}]\"", "[]");
	expr_is("lower(\"MiXeD\")", "mixed");
	expr_is("upper(\"MiXeD\")", "MIXED");
	expr_is("format(\"%s-%d-%v-%t-%%\", \"a\", 42, 1.5, true)", "a-42-1.5-true-%");
	expr_is("format(\"%q\", \"a\\\"b\")", "\"a\\\"b\"");
	expr_is("trimspace(\"  x y \\n\")", "x y");
	expr_is("trimprefix(\"file://m\", \"file://\")", "m");
	expr_is("trimsuffix(\"a.sql\", \".sql\")", "a");
	expr_is("startswith(\"atlas://x\", \"atlas://\")", "true");
	expr_is("endswith(\"abc\", \"x\")", "false");
	expr_is("join(\",\", [\"a\", \"b\"], [\"c\"])", "a,b,c");
	expr_is("join(\"-\", concat([\"a\"], [\"b\", 1]))", "a-b-1");
	expr_is("length(\"caf\xC3\xA9\")", "4");
	expr_is("length([1, 2, 3])", "3");
	expr_is("tostring(5)", "5");
	expr_is("tonumber(\"12\") + 1", "13");
	expr_is("tobool(\"true\")", "true");
	expr_is("join(\",\", toset([\"b\", \"a\", \"b\"]))", "b,a");
	expr_is("join(\",\", tolist([\"b\", \"a\"]))", "b,a");
	expr_is("urlescape(\"a b&c/d~\")", "a+b%26c%2Fd~");
	expr_is("urlqueryset(\"postgres://u@h/db?sslmode=disable&b=2\", \"search_path\", \"my app\")",
			"postgres://u@h/db?b=2&search_path=my+app&sslmode=disable");
	expr_is("urlqueryset(\"postgres://h/db\", \"search_path\", \"s\")", "postgres://h/db?search_path=s");
	expr_is("urlqueryset(\"postgres://h/db?search_path=old#f\", \"search_path\", \"new\")",
			"postgres://h/db?search_path=new#f");
	unsetenv("HCL_TEST_VALUE");
}

static void
test_function_errors(void **state)
{
	(void) state;
	parse_fails("env \"x\" {\n  url = file(\"/etc/passwd\")\n}\n", MIG_ECONFIG,
				"2:9: function \"file\" is not supported: it would read files on the database server");
	parse_fails("env \"x\" {\n  url = jsonencode({})\n}\n", MIG_ECONFIG,
				"2:9: function \"jsonencode\" is not supported");
	parse_fails("env \"x\" {\n  url = nosuch(1)\n}\n", MIG_ECONFIG,
				"2:9: unknown function \"nosuch\"");
	parse_fails("env \"x\" {\n  url = getenv(\"A\", \"B\")\n}\n", MIG_ECONFIG,
				"2:9: function \"getenv\" takes 1 argument, got 2");
	parse_fails("env \"x\" {\n  url = format()\n}\n", MIG_ECONFIG,
				"2:9: function \"format\" takes at least 1 argument, got 0");
	parse_fails("env \"x\" {\n  url = lower(x...)\n}\n", MIG_ECONFIG,
				"2:16: expanding arguments with \"...\" is not supported");
	expr_fails("format(\"%s %s\", \"a\")", MIG_ECONFIG, "2:9: format: not enough arguments for the format string");
	expr_fails("format(\"%s\", \"a\", \"b\")", MIG_ECONFIG, "2:9: format: too many arguments for the format string");
	expr_fails("format(\"%5s\", \"a\")", MIG_ECONFIG,
			   "2:9: format: unsupported verb \"%5\" (supported: %s %d %v %t %q %%)");
	expr_fails("format(\"%d\", 1.5)", MIG_ECONFIG, "2:9: format: %d needs a whole number (argument 2)");
	expr_fails("lower([1])", MIG_ECONFIG, "2:9: lower: argument 1 must be a string, got list");
	expr_fails("tonumber(\"abc\")", MIG_ECONFIG,
			   "2:9: tonumber: a number is required (the string is not a decimal number)");
	expr_fails("join(\",\", \"a\")", MIG_ECONFIG, "2:9: join: argument 2 must be a list, got string");
	/* ignored attributes may use anything Atlas has */
	mig_hcl_free(parse_ok("env \"x\" {\n  src = file(\"schema.hcl\")\n  dev = jsonencode({a = 1})\n}\n"));
}

static void
test_evaluation_errors(void **state)
{
	(void) state;
	expr_fails("[\"a\"][3]", MIG_ECONFIG, "2:14: index 3 is out of range for a list of 1 elements");
	expr_fails("{a = 1}.b", MIG_ECONFIG, "2:17: the object has no attribute \"b\"");
	expr_fails("1 / 0", MIG_ECONFIG, "2:11: division by zero");
	expr_fails("\"a\" + 1", MIG_ECONFIG, "2:13: the operands of this operator must be numbers");
	expr_fails("\"x${null}\"", MIG_ECONFIG, "2:13: cannot interpolate a null value into a string");
	expr_fails("\"x${[1]}\"", MIG_ECONFIG, "2:13: cannot interpolate a list into a string");
	expr_fails("[1, 2]", MIG_ECONFIG, "2:3: attribute \"url\" in env block must be a string, got list");
	expr_fails("{a = 1, a = 2}", MIG_ECONFIG, "2:17: duplicate key in object");
	expr_fails("1 ? \"a\" : \"b\"", MIG_ECONFIG, "2:9: the condition must be a bool, got number");
}

/* ---------------------------------------------------------------- variables (§i.2) */

static void
test_vars_override_default(void **state)
{
	static const char *cfg =
	"variable \"dir\" {\n  type = string\n  default = \"file://default\"\n  description = \"where\"\n}\n"
	"env \"x\" {\n  migration {\n    dir = var.dir\n  }\n}\n";
	tvars		t;
	mig_env		e;

	(void) state;
	env_ok(cfg, "x", NULL, &e);
	assert_string_equal(e.dir, "file://default");
	mig_env_free(&e);
	env_ok(cfg, "x", one_var(&t, "dir", "file://given"), &e);
	assert_string_equal(e.dir, "file://given");
	mig_env_free(&e);
}

static void
test_vars_types(void **state)
{
	static const char *cfg =
	"variable \"n\" {\n  type = number\n  default = 1\n}\n"
	"variable \"b\" {\n  type = bool\n  default = false\n}\n"
	"variable \"l\" {\n  type = list(string)\n  default = []\n}\n"
	"variable \"ln\" {\n  type = list(number)\n  default = [1]\n}\n"
	"variable \"s\" {\n  type = set(string)\n  default = [\"a\", \"a\", \"b\"]\n}\n"
	"variable \"m\" {\n  type = map(string)\n  default = { k = 1 }\n}\n"
	"variable \"i\" {\n  type = int\n  default = \"7\"\n}\n"
	"variable \"any\" {\n  default = \"as is\"\n}\n"
	"env \"x\" {\n"
	"  url = \"${var.n + 1}|${var.b}|${join(\",\", var.l)}|${var.ln[0] * 2}|${join(\",\", var.s)}|${var.m.k}|${var.i}|${var.any}\"\n"
	"}\n";
	tvars		t;
	mig_env		e;
	static const char *ab[] = {"a", "b"};
	static const char *nums[] = {"3", "4"};

	(void) state;
	env_ok(cfg, "x", NULL, &e);
	assert_string_equal(e.url, "2|false||2|a,b|1|7|as is");
	mig_env_free(&e);

	/* strings from the caller convert to the declared type */
	memset(&t, 0, sizeof(t));
	tvars_add(&t, "n", false, 1, (const char *const[]) {"3"});
	tvars_add(&t, "b", false, 1, (const char *const[]) {"true"});
	tvars_add(&t, "l", true, 2, ab);
	tvars_add(&t, "ln", false, 2, nums);	/* --var ln=3 --var ln=4 builds a list */
	env_ok(cfg, "x", &t.vars, &e);
	assert_string_equal(e.url, "4|true|a,b|6|a,b|1|7|as is");
	mig_env_free(&e);

	/* a single value for a list variable is wrapped into a list */
	env_ok(cfg, "x", one_var(&t, "l", "solo"), &e);
	assert_string_equal(e.url, "2|false|solo|2|a,b|1|7|as is");
	mig_env_free(&e);
	/* an empty JSON array is an empty list */
	memset(&t, 0, sizeof(t));
	tvars_add(&t, "l", true, 0, NULL);
	env_ok("variable \"l\" {\n  type = list(string)\n  default = [\"d\"]\n}\n"
		   "env \"x\" {\n  url = length(var.l)\n}\n", "x", &t.vars, &e);
	assert_string_equal(e.url, "0");
	mig_env_free(&e);
}

static void
test_vars_conversion_errors(void **state)
{
	static const char *cfg =
	"variable \"n\" {\n  type = number\n  default = 1\n}\n"
	"variable \"b\" {\n  type = bool\n  default = true\n}\n"
	"variable \"s\" {\n  type = string\n  default = \"s\"\n}\n"
	"variable \"ln\" {\n  type = list(number)\n  default = []\n}\n"
	"variable \"m\" {\n  type = map(string)\n  default = {}\n}\n"
	"env \"x\" {\n}\n";
	tvars		t;
	static const char *two[] = {"a", "b"};
	static const char *mixed[] = {"1", "x"};

	(void) state;
	env_fails(cfg, "x", one_var(&t, "n", "abc"), MIG_ECONFIG,
			  "invalid value for variable \"n\": a number is required (the string is not a decimal number)");
	env_fails(cfg, "x", one_var(&t, "n", "1 2"), MIG_ECONFIG,
			  "invalid value for variable \"n\": a number is required (the string is not a decimal number)");
	env_fails(cfg, "x", one_var(&t, "b", "yes"), MIG_ECONFIG,
			  "invalid value for variable \"b\": a bool is required (only the strings \"true\" and \"false\" convert)");
	memset(&t, 0, sizeof(t));
	tvars_add(&t, "s", true, 2, two);
	env_fails(cfg, "x", &t.vars, MIG_ECONFIG,
			  "invalid value for variable \"s\": a string is required, got a list");
	memset(&t, 0, sizeof(t));
	tvars_add(&t, "ln", true, 2, mixed);
	env_fails(cfg, "x", &t.vars, MIG_ECONFIG,
			  "invalid value for variable \"ln\": element 1: a number is required (the string is not a decimal number)");
	env_fails(cfg, "x", one_var(&t, "m", "x"), MIG_ECONFIG,
			  "invalid value for variable \"m\": a map is required, got a string");
	/* only a caller's single value is wrapped into a list, not a default */
	env_fails("variable \"l\" {\n  type = list(string)\n  default = \"a\"\n}\nenv \"x\" {\n}\n", "x", NULL,
			  MIG_ECONFIG, "3:3: invalid default for variable \"l\": a list is required, got a string");
	/* bad defaults carry the position of the default */
	env_fails("variable \"n\" {\n  type = number\n  default = \"many\"\n}\nenv \"x\" {\n}\n", "x", NULL,
			  MIG_ECONFIG,
			  "3:3: invalid default for variable \"n\": a number is required (the string is not a decimal number)");
}

static void
test_vars_required_and_undeclared(void **state)
{
	static const char *cfg =
	"variable \"need\" {\n  type = string\n}\n"
	"env \"x\" {\n  url = var.need\n}\n";
	tvars		t;
	mig_env		e;

	(void) state;
	env_fails(cfg, "x", NULL, MIG_ECONFIG, "1:1: missing value for required variable \"need\"");
	env_ok(cfg, "x", one_var(&t, "need", "v"), &e);
	assert_string_equal(e.url, "v");
	mig_env_free(&e);
	env_fails(cfg, "x", one_var(&t, "nede", "v"), MIG_ECONFIG,
			  "variable \"nede\" is not declared in the config (no variable \"nede\" block)");
	/* a required variable nobody uses still needs a value, as in Atlas */
	env_fails("variable \"unused\" {\n  type = number\n}\nenv \"x\" {\n}\n", "x", NULL, MIG_ECONFIG,
			  "1:1: missing value for required variable \"unused\"");
}

static void
test_invalid_variable_types(void **state)
{
	static const struct
	{
		const char *type;
		const char *msg;
	}			cases[] = {
		{"strin", "2:10: invalid type \"strin\" for variable \"v\". Valid types are: string, number, bool, list, map, or set"},
		{"\"string\"", "2:10: invalid type \" string \" for variable \"v\". Valid types are: string, number, bool, list, map, or set"},
		{"list(strin)", "2:10: invalid type \"list(strin)\" for variable \"v\". Valid types are: string, number, bool, list, map, or set"},
		{"list", "2:10: invalid type \"list\" for variable \"v\". Valid types are: string, number, bool, list, map, or set"},
		{"object({a = string})", "2:10: invalid type \"object({a = string})\" for variable \"v\". Valid types are: string, number, bool, list, map, or set"},
		{"any", "2:10: invalid type \"any\" for variable \"v\". Valid types are: string, number, bool, list, map, or set"},
	};
	size_t		i;
	char		src[512];

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		snprintf(src, sizeof(src), "variable \"v\" {\n  type = %s\n}\n", cases[i].type);
		parse_fails(src, MIG_ECONFIG, cases[i].msg);
	}
	mig_hcl_free(parse_ok("variable \"v\" {\n  type = map(list(set(bool)))\n}\n"));
}

/* ---------------------------------------------------------------- locals */

static void
test_locals(void **state)
{
	mig_env		e;

	(void) state;
	env_ok("locals {\n  a = \"${local.b}-a\"\n}\nlocals {\n  b = upper(\"b\")\n  unused = fileset(\"x\")\n}\n"
		   "env \"x\" {\n  url = local.a\n  src = local.unused\n}\n", "x", NULL, &e);
	assert_string_equal(e.url, "B-a");
	mig_env_free(&e);
	/* a local using a function Atlas has but apply lacks fails only when used */
	env_fails("locals {\n  s = fileset(\"x\")\n}\nenv \"x\" {\n  url = local.s\n}\n", "x", NULL,
			  MIG_ENOTSUP, "2:7: function \"fileset\" is not supported");
	env_fails("locals {\n  s = file(\"/etc/passwd\")\n}\nenv \"x\" {\n  url = local.s\n}\n", "x", NULL,
			  MIG_ENOTSUP, "2:7: function \"file\" is not supported: it would read files on the database server");
	/* a function nobody has is a typo, even in a local */
	parse_fails("locals {\n  s = uper(\"x\")\n}\n", MIG_ECONFIG, "2:7: unknown function \"uper\"");
	parse_fails("locals {\n  s = var.nope\n}\n", MIG_ECONFIG, "2:7: reference to undeclared variable \"nope\"");
	parse_fails("locals {\n  s = local.nope\n}\n", MIG_ECONFIG, "2:7: reference to undeclared local \"nope\"");
}

static void
test_locals_cycle(void **state)
{
	(void) state;
	env_fails("locals {\n  a = local.b\n  b = local.a\n}\nenv \"x\" {\n  url = local.a\n}\n", "x", NULL,
			  MIG_ECONFIG, "3:7: local \"a\" refers to itself (through a cycle of locals)");
}

/* ---------------------------------------------------------------- the migration block */

static void
test_exec_order_normalised(void **state)
{
	static const struct
	{
		const char *expr;
		const char *want;
	}			cases[] = {
		{"LINEAR", "linear"},
		{"LINEAR_SKIP", "linear-skip"},
		{"NON_LINEAR", "non-linear"},
		{"\"linear-skip\"", "linear-skip"},
		{"\"Non_Linear\"", "non-linear"},
		{"true ? NON_LINEAR : LINEAR", "non-linear"},
		{"\"\"", NULL},
		{"null", NULL},
	};
	size_t		i;
	char		src[512];
	mig_env		e;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		snprintf(src, sizeof(src), "env \"x\" {\n  migration {\n    exec_order = %s\n  }\n}\n", cases[i].expr);
		env_ok(src, "x", NULL, &e);
		if (cases[i].want)
			assert_string_equal(e.exec_order, cases[i].want);
		else
			assert_null(e.exec_order);
		mig_env_free(&e);
	}
}

static void
test_exec_order_unknown(void **state)
{
	(void) state;
	env_fails("env \"x\" {\n  migration {\n    exec_order = \"sideways\"\n  }\n}\n", "x", NULL,
			  MIG_ECONFIG, "3:5: unknown execution order: \"sideways\"");
	/* the enum words exist only in exec_order */
	parse_fails("env \"x\" {\n  migration {\n    dir = LINEAR\n  }\n}\n", MIG_ECONFIG,
				"3:11: unknown variable \"LINEAR\"");
	parse_fails("env \"x\" {\n  migration {\n    exec_order = SIDEWAYS\n  }\n}\n", MIG_ECONFIG,
				"3:18: unknown variable \"SIDEWAYS\"");
}

static void
test_migration_pass_through(void **state)
{
	mig_env		e;

	(void) state;
	env_ok("env \"x\" {\n"
		   "  url = \"sqlite://file.db?_fk=1\"\n"
		   "  dev = \"sqlite://dev?mode=memory\"\n"
		   "  src = [\"schema.hcl\"]\n"
		   "  schemas = [\"public\"]\n"
		   "  exclude = [\"tmp_*\"]\n"
		   "  lint {\n    latest = 1\n  }\n"
		   "  diff {\n    skip {\n      drop_table = true\n    }\n  }\n"
		   "  test {\n    migrate {\n      src = [\"x\"]\n    }\n  }\n"
		   "  log {\n    migrate {\n      apply = \"x\"\n    }\n  }\n"
		   "  migration {\n"
		   "    dir = \"file://migrations\"\n"
		   "    lock_timeout = \"1m30s\"\n"
		   "    tx_mode = \"all\"\n"
		   "    revisions_schema = \"\"\n"
		   "    exclude = [\"x\"]\n"
		   "    repo {\n      name = \"app\"\n    }\n"
		   "    format = golang-migrate\n"
		   "  }\n"
		   "}\n"
		   "lint {\n  destructive {\n    error = true\n  }\n}\n"
		   "diff {\n}\n"
		   "docker \"postgres\" \"dev\" {\n  image = \"postgres:15\"\n}\n",
		   "x", NULL, &e);
	assert_string_equal(e.url, "sqlite://file.db?_fk=1");
	assert_string_equal(e.dir, "file://migrations");
	assert_string_equal(e.lock_timeout, "1m30s");
	assert_string_equal(e.tx_mode, "all");
	/* empty attributes count as unset (§i.2 precedence) */
	assert_null(e.revisions_schema);
	assert_null(e.baseline);
	mig_env_free(&e);
}

static void
test_cloud_defaults(void **state)
{
	mig_env		e;

	(void) state;
	env_ok("env \"x\" {\n}\n", "x", NULL, &e);
	assert_false(e.cloud);
	assert_null(e.cloud_token);
	assert_string_equal(e.cloud_url, "https://api.atlasgo.cloud/query");
	assert_string_equal(e.cloud_project, "default");
	assert_null(e.dir);
	assert_null(e.url);
	mig_env_free(&e);

	env_ok("atlas {\n  cloud {\n    token = \"t\"\n    url = \"https://127.0.0.1:8443/query\"\n"
		   "    project = \"p\"\n    ca_file = \"/etc/ssl/private-ca.pem\"\n    timeout = \"30s\"\n"
		   "  }\n}\nenv \"x\" {\n}\n", "x", NULL, &e);
	assert_true(e.cloud);
	assert_string_equal(e.cloud_token, "t");
	assert_string_equal(e.cloud_url, "https://127.0.0.1:8443/query");
	assert_string_equal(e.cloud_project, "p");
	assert_string_equal(e.cloud_ca_file, "/etc/ssl/private-ca.pem");
	assert_string_equal(e.cloud_timeout, "30s");
	mig_env_free(&e);

	/* an empty url or project falls back to the default */
	env_ok("atlas {\n  cloud {\n    token = \"t\"\n    url = \"\"\n    project = \"\"\n  }\n}\nenv \"x\" {\n}\n",
		   "x", NULL, &e);
	assert_string_equal(e.cloud_url, "https://api.atlasgo.cloud/query");
	assert_string_equal(e.cloud_project, "default");
	mig_env_free(&e);
}

/* ---------------------------------------------------------------- structural errors */

static void
test_parse_errors(void **state)
{
	static const struct
	{
		const char *src;
		const char *msg;
	}			cases[] = {
		/* unknown names, with the position of the name */
		{"env \"x\" {\n  migration {\n    dirr = \"x\"\n  }\n}\n",
		"3:5: unknown attribute \"dirr\" in migration block"},
		{"env \"x\" {\n  ulr = \"x\"\n}\n", "2:3: unknown attribute \"ulr\" in env block"},
		{"env \"x\" {\n  migrations {\n  }\n}\n", "2:3: unknown block \"migrations\" in env block"},
		{"env \"x\" {\n  migration = {}\n}\n", "2:3: \"migration\" is a block, not an attribute, in env block"},
		{"env \"x\" {\n  url {\n  }\n}\n", "2:3: \"url\" is an attribute, not a block, in env block"},
		{"atlas {\n  cloud {\n    token = \"t\"\n    tokne = \"t\"\n  }\n}\n",
		"4:5: unknown attribute \"tokne\" in cloud block"},
		{"atlas {\n  clowd {\n  }\n}\n", "2:3: unknown block \"clowd\" in atlas block"},
		{"atlas {\n  org = \"x\"\n}\n", "2:3: unknown attribute \"org\" in atlas block"},
		{"atlas {\n  cloud {\n    url = \"u\"\n  }\n}\n", "2:3: missing required attribute \"token\" in cloud block"},
		{"variable \"v\" {\n  typ = string\n}\n", "2:3: unknown attribute \"typ\" in variable block"},
		{"enviroment \"x\" {\n}\n", "1:1: unknown block type \"enviroment\""},
		{"url = \"x\"\n", "1:1: unknown attribute \"url\" at the top level"},
		{"locals {\n  x {\n  }\n}\n", "2:3: unknown block \"x\" in locals block"},
		/* labels and counts */
		{"variable {\n}\n", "1:1: variable block needs exactly one label (its name)"},
		{"env \"a\" \"b\" {\n}\n", "1:1: env block takes at most one label (its name)"},
		{"data \"sql\" {\n}\n", "1:1: data block needs two labels (type and name)"},
		{"atlas \"x\" {\n}\n", "1:1: atlas block takes no labels"},
		{"atlas {\n}\natlas {\n}\n", "3:1: duplicate atlas block (first defined at 1:1)"},
		{"env \"x\" {\n  migration {\n  }\n  migration {\n  }\n}\n",
		"4:3: duplicate migration block in env block (first defined at 2:3)"},
		{"env \"x\" {\n  migration \"m\" {\n  }\n}\n", "2:3: migration block takes no labels"},
		{"env \"x\" {\n  name = \"x\"\n}\n", "2:3: env \"x\" has a label, so it cannot also have a name attribute"},
		{"variable \"v\" {\n}\nvariable \"v\" {\n}\n", "3:1: variable \"v\" is declared twice (first at 1:1)"},
		{"locals {\n  a = 1\n}\nlocals {\n  a = 2\n}\n", "5:3: local \"a\" is defined twice (first at 2:3)"},
		{"env \"x\" {\n  url = \"a\"\n  url = \"b\"\n}\n", "3:3: attribute \"url\" redefined (first defined at 2:3)"},
		{"data \"a\" \"b\" {\n}\ndata \"a\" \"b\" {\n}\n", "3:1: data \"a\" \"b\" is declared twice (first at 1:1)"},
		/* references */
		{"env \"x\" {\n  url = var.nope\n}\n", "2:9: reference to undeclared variable \"nope\""},
		{"env \"x\" {\n  url = local.nope\n}\n", "2:9: reference to undeclared local \"nope\""},
		{"env \"x\" {\n  url = atlas.envv\n}\n", "2:15: unknown attribute \"envv\" of atlas: only atlas.env is defined"},
		{"env \"x\" {\n  url = foo.bar\n}\n", "2:9: unknown variable \"foo\""},
		{"env \"x\" {\n  url = var\n}\n", "2:9: invalid reference: \"var\" must be followed by \".<name>\""},
		{"env \"x\" {\n  url = each.value\n}\n", "2:9: each.value can only be used in an env block with for_each"},
		{"variable \"a\" {\n  default = \"x\"\n}\nvariable \"b\" {\n  default = var.a\n}\n",
		"5:13: a variable default cannot refer to var.a"},
		/* syntax */
		{"env \"x\" {\n  url = \"open\n}\n", "2:9: unterminated string: a quoted string cannot span lines"},
		{"env \"x\" {\n  url = \"open", "2:9: unterminated string"},
		{"env \"x\" {\n  url = \"bad \\q\"\n}\n", "2:14: invalid escape sequence in string"},
		{"env \"x\" {\n  url = \"\\u12\"\n}\n", "2:10: invalid escape sequence in string: \\u needs 4 hex digits"},
		{"env \"x\" {\n  url = \"\\u0000\"\n}\n", "2:10: invalid escape sequence in string: not a valid character"},
		{"env \"x\" {\n  url = \"\\ud800\"\n}\n", "2:10: invalid escape sequence in string: not a valid character"},
		{"/* never closed\n", "1:1: unterminated comment"},
		{"env \"x\" {\n  url = \"a\"\n", "1:1: unclosed env block: missing \"}\""},
		{"}\n", "1:1: unexpected \"}\""},
		{"env \"x\" {\n  url = \n}\n", "2:9: expected an expression, found newline"},
		{"env \"x\" {\n  url \"x\"\n}\n", "2:10: expected \"{\", found newline"},
		{"env \"x\" {\n  url = \"a\" \"b\"\n}\n", "2:13: expected a newline, found a string"},
		{"env \"x\" { url = \"a\"\n}\n", "1:20: a single-line block may contain only one attribute or block"},
		{"env \"x\" { url = \"a\" dev = \"b\" }\n", "1:21: a single-line block may contain only one attribute or block"},
		{"env \"x\" {\n  url = 1 +\n}\n", "2:12: expected an expression, found newline"},
		{"env \"x\" {\n  url = [1, 2\n}\n", "3:1: expected \",\" or \"]\" in the list, found \"}\""},
		{"env \"x\" {\n  url = (1\n}\n", "3:1: expected \")\", found \"}\""},
		{"env \"x\" {\n  url = @\n}\n", "2:9: invalid character '@'"},
		{"env \"x\" {\n  url = 12abc\n}\n", "2:9: invalid number"},
		{"env \"x\" {\n  url = 1e999\n}\n", "2:9: invalid number"},
		{"env \"x\" {\n  url = \"%{ if true }x%{ endif }\"\n}\n",
		"2:10: template directives (%{ ... }) are not supported; use $${ for interpolation"},
		{"env \"x\" {\n  url = \"${1\"\n}\n", "2:13: expected \"}\" to close the interpolation, found a string"},
		{"env \"x\" {\n  url = [for s in x : s]\n}\n", "2:10: \"for\" expressions are not supported"},
		{"env \"x\" {\n  url = {for k, v in x : k => v}\n}\n", "2:10: \"for\" expressions are not supported"},
		{"env \"x\" {\n  url = x[*].y\n}\n", "2:11: splat expressions ([*]) are not supported"},
		{"env \"x\" {\n  url = x.*.y\n}\n", "2:11: splat expressions (.*) are not supported"},
		{"env \"x\" {\n  url = <<EOS\nno end\n}\n", "2:9: unterminated heredoc: no closing line \"EOS\""},
		{"env \"x\" {\n  url = <<EOS x\nEOS\n}\n", "2:9: invalid heredoc: a newline must follow the opening marker"},
		{"env \"x\" {\n  url = <<\"EOS\"\nEOS\n}\n", "2:9: invalid heredoc: expected an identifier after \"<<\""},
		{"env \"${x}\" {\n}\n", "1:6: block labels cannot contain template interpolation"},
		{"env \"x\" {\n  url = { a = 1 b = 2 }\n}\n",
		"2:17: expected \",\", a newline or \"}\" after the object item, found \"b\""},
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		parse_fails(cases[i].src, MIG_ECONFIG, cases[i].msg);
}

static void
test_nul_byte_rejected(void **state)
{
	static const char src[] = "env \"x\" {\n  url = \"a\0b\"\n}\n";
	mig_config *cfg = NULL;
	mig_err		err;

	(void) state;
	assert_int_equal(mig_hcl_parse(src, sizeof(src) - 1, &cfg, &err), MIG_ECONFIG);
	assert_string_equal(err.msg, "2:11: invalid character (byte 0x00)");
	assert_null(cfg);
	assert_int_equal(mig_hcl_parse("a\0", 2, &cfg, &err), MIG_ECONFIG);
	assert_int_equal(mig_hcl_parse("\0", 1, &cfg, &err), MIG_ECONFIG);
	assert_string_equal(err.msg, "1:1: invalid character (byte 0x00)");
}

static void
test_bad_arguments(void **state)
{
	mig_config *cfg = NULL;
	mig_env		e;
	mig_err		err;

	(void) state;
	assert_int_equal(mig_hcl_parse(NULL, 0, &cfg, &err), MIG_EINVAL);
	assert_int_equal(mig_hcl_parse("", 0, NULL, &err), MIG_EINVAL);
	cfg = parse_ok("");
	assert_int_equal(mig_hcl_env(cfg, NULL, NULL, &e, &err), MIG_EINVAL);
	assert_int_equal(mig_hcl_env(NULL, "x", NULL, &e, &err), MIG_EINVAL);
	mig_hcl_free(cfg);
	mig_hcl_free(NULL);
	mig_env_free(NULL);
}

/* ---------------------------------------------------------------- limits */

static char *
repeat(const char *head, const char *unit, int n, const char *mid, const char *unit2, const char *tail)
{
	size_t		len = strlen(head) + strlen(unit) * (size_t) n + strlen(mid) +
		strlen(unit2) * (size_t) n + strlen(tail) + 1;
	char	   *s = malloc(len);
	int			i;

	assert_non_null(s);
	strcpy(s, head);
	for (i = 0; i < n; i++)
		strcat(s, unit);
	strcat(s, mid);
	for (i = 0; i < n; i++)
		strcat(s, unit2);
	strcat(s, tail);
	return s;
}

static void
test_nesting_limits(void **state)
{
	mig_config *cfg = NULL;
	mig_err		err;
	char	   *s;
	int			rc;

	(void) state;
	/* 60 levels are fine */
	s = repeat("env \"x\" {\n  url = ", "[", 60, "1", "]", "\n}\n");
	mig_hcl_free(parse_ok(s));
	free(s);

	/* deep brackets, parentheses, unary operators, blocks, operator chains, traversals */
	{
		static const char *const units[][6] = {
			{"env \"x\" {\n  url = ", "[", "1", "]", "\n}\n", "nesting too deep (more than 64 levels)"},
			{"env \"x\" {\n  url = ", "(", "1", ")", "\n}\n", "nesting too deep (more than 64 levels)"},
			{"env \"x\" {\n  url = ", "-", "1", "", "\n}\n", "nesting too deep (more than 64 levels)"},
			{"env \"x\" {\n  url = ", "\"${", "1", "}\"", "\n}\n", "nesting too deep (more than 64 levels)"},
			{"", "lint {\n", "", "}\n", "", "nesting too deep (more than 64 levels)"},
			{"env \"x\" {\n  url = 1", "+1", "", "", "\n}\n", "expression nested too deeply (more than 64 levels)"},
			{"env \"x\" {\n  url = x", ".a", "", "", "\n}\n", "expression nested too deeply (more than 64 levels)"},
			{"env \"x\" {\n  url = x", "[0]", "", "", "\n}\n", "expression nested too deeply (more than 64 levels)"},
		};
		size_t		i;

		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		{
			s = repeat(units[i][0], units[i][1], 5000, units[i][2], units[i][3], units[i][4]);
			rc = mig_hcl_parse(s, strlen(s), &cfg, &err);
			if (rc != MIG_ECONFIG || strstr(err.msg, units[i][5]) == NULL)
				print_message("# case %zu: %d %s\n", i, rc, err.msg);
			assert_int_equal(rc, MIG_ECONFIG);
			assert_non_null(strstr(err.msg, units[i][5]));
			assert_null(cfg);
			free(s);
		}
	}
}

/* Evaluate and expect code with a message containing part. */
static void
env_fails_with(const char *src, const char *env, const mig_vars *vars, int code, const char *part)
{
	mig_env		out;
	mig_err		err;
	int			rc = eval_env(src, env, vars, &out, &err);

	if (rc != code || strstr(err.msg, part) == NULL)
		print_message("# got %d \"%s\", want %d \"...%s...\"\n", rc, err.msg, code, part);
	assert_int_equal(rc, code);
	assert_non_null(strstr(err.msg, part));
	assert_null(out.name);
}

static void
test_locals_chain_limit(void **state)
{
	char	   *s = malloc(400 * 40 + 100);
	size_t		len = 0;
	int			i;
	mig_env		e;

	(void) state;
	assert_non_null(s);
	/* 100 locals referring to each other in a chain are fine */
	len += (size_t) sprintf(s + len, "locals {\n  l0 = \"x\"\n");
	for (i = 1; i < 100; i++)
		len += (size_t) sprintf(s + len, "  l%d = local.l%d\n", i, i - 1);
	sprintf(s + len, "}\nenv \"x\" {\n  url = local.l99\n}\n");
	env_ok(s, "x", NULL, &e);
	assert_string_equal(e.url, "x");
	mig_env_free(&e);
	/* 400 exceed the evaluation depth */
	len = 0;
	len += (size_t) sprintf(s + len, "locals {\n  l0 = \"x\"\n");
	for (i = 1; i < 400; i++)
		len += (size_t) sprintf(s + len, "  l%d = local.l%d\n", i, i - 1);
	sprintf(s + len, "}\nenv \"x\" {\n  url = local.l399\n}\n");
	env_fails_with(s, "x", NULL, MIG_ECONFIG, "evaluation nested too deeply (more than 256 levels, through locals)");
	free(s);
}

static void
test_evaluation_size_limit(void **state)
{
	char		src[4096];
	size_t		len = 0;
	int			i;

	(void) state;
	/* each local doubles the previous one: 2^40 bytes if nothing stopped it */
	len += (size_t) sprintf(src + len, "locals {\n  d0 = \"0123456789abcdef\"\n");
	for (i = 1; i <= 40; i++)
		len += (size_t) sprintf(src + len, "  d%d = \"${local.d%d}${local.d%d}\"\n", i, i - 1, i - 1);
	sprintf(src + len, "}\nenv \"x\" {\n  url = local.d40\n}\n");
	env_fails(src, "x", NULL, MIG_ECONFIG, "evaluating the config needs more than 16 MiB of memory");
	/* shared values are not copied: a wide fan-out of lists stays small */
	len = 0;
	len += (size_t) sprintf(src + len, "locals {\n  d0 = [\"x\"]\n");
	for (i = 1; i <= 40; i++)
		len += (size_t) sprintf(src + len, "  d%d = [local.d%d, local.d%d]\n", i, i - 1, i - 1);
	sprintf(src + len, "}\nenv \"x\" {\n  url = local.d40[0][1][0][0][0]\n}\n");
	env_fails(src, "x", NULL, MIG_ECONFIG, "45:3: attribute \"url\" in env block must be a string, got list");
	/* ... but walking them is bounded */
	sprintf(src + len, "}\nenv \"x\" {\n  url = local.d40 == local.d40\n}\n");
	env_fails(src, "x", NULL, MIG_ECONFIG,
			  "45:19: the config is too complex to evaluate (more than 20000000 steps)");
	sprintf(src + len, "}\nenv \"x\" {\n  url = length(toset([local.d40, local.d40]))\n}\n");
	env_fails(src, "x", NULL, MIG_ECONFIG,
			  "45:16: toset: value too complex to convert (more than 20000000 steps)");
	/* a string shared many times, joined */
	len = 0;
	len += (size_t) sprintf(src + len, "locals {\n  d0 = \"0123456789abcdef\"\n");
	for (i = 1; i <= 19; i++)
		len += (size_t) sprintf(src + len, "  d%d = \"${local.d%d}${local.d%d}\"\n", i, i - 1, i - 1);
	len += (size_t) sprintf(src + len, "  l = [local.d19, local.d19, local.d19, local.d19, local.d19]\n");
	sprintf(src + len, "}\nenv \"x\" {\n  url = join(\"\", local.l, local.l, local.l, local.l)\n}\n");
	env_fails(src, "x", NULL, MIG_ECONFIG, "evaluating the config needs more than 16 MiB of memory");
	sprintf(src + len, "}\nenv \"x\" {\n  url = format(\"%%s%%s%%s%%s%%s%%s%%s%%s%%s%%s\", local.d19, local.d19, local.d19, local.d19, local.d19, local.d19, local.d19, local.d19, local.d19, local.d19)\n}\n");
	env_fails(src, "x", NULL, MIG_ECONFIG, "evaluating the config needs more than 16 MiB of memory");
}

/* ---------------------------------------------------------------- secrets */

static void
assert_no_token(const mig_err *err, const char *token)
{
	if (strstr(err->msg, token) || strstr(err->detail, token) || strstr(err->hint, token))
		print_message("# token leaked: %s | %s | %s\n", err->msg, err->detail, err->hint);
	assert_null(strstr(err->msg, token));
	assert_null(strstr(err->detail, token));
	assert_null(strstr(err->hint, token));
}

static void
test_token_never_in_errors(void **state)
{
	static const char *tok = "aci_SECRET_9f8e7d";
	static const char *const cases[] = {
		/* type errors on the token itself */
		"atlas {\n  cloud {\n    token = [\"aci_SECRET_9f8e7d\"]\n  }\n}\nenv \"x\" {\n}\n",
		"atlas {\n  cloud {\n    token = { t = \"aci_SECRET_9f8e7d\" }\n  }\n}\nenv \"x\" {\n}\n",
		"atlas {\n  cloud {\n    token = \"aci_SECRET_9f8e7d\" + 1\n  }\n}\nenv \"x\" {\n}\n",
		"atlas {\n  cloud {\n    token = tonumber(\"aci_SECRET_9f8e7d\")\n  }\n}\nenv \"x\" {\n}\n",
		"atlas {\n  cloud {\n    token = tobool(\"aci_SECRET_9f8e7d\")\n  }\n}\nenv \"x\" {\n}\n",
		"atlas {\n  cloud {\n    token = \"aci_SECRET_9f8e7d\"[0]\n  }\n}\nenv \"x\" {\n}\n",
		"atlas {\n  cloud {\n    token = \"aci_SECRET_9f8e7d\".x\n  }\n}\nenv \"x\" {\n}\n",
		"atlas {\n  cloud {\n    token = { aci_SECRET_9f8e7d = 1 }.y\n  }\n}\nenv \"x\" {\n}\n",
		"atlas {\n  cloud {\n    token = format(\"%x\", \"aci_SECRET_9f8e7d\")\n  }\n}\nenv \"x\" {\n}\n",
		"atlas {\n  cloud {\n    token = \"aci_SECRET_9f8e7d\" ? 1 : 2\n  }\n}\nenv \"x\" {\n}\n",
		/* through a variable of the wrong type */
		"variable \"t\" {\n  type = number\n  default = \"aci_SECRET_9f8e7d\"\n}\n"
		"atlas {\n  cloud {\n    token = var.t\n  }\n}\nenv \"x\" {\n}\n",
		"variable \"t\" {\n  type = bool\n  default = \"aci_SECRET_9f8e7d\"\n}\nenv \"x\" {\n}\n",
		/* syntax errors around it */
		"atlas {\n  cloud {\n    token = \"aci_SECRET_9f8e7d\" \"x\"\n  }\n}\n",
		"atlas {\n  cloud {\n    token = \"x\" aci_SECRET_9f8e7d\n  }\n}\n",
		"atlas {\n  cloud { token = \"x\" aci_SECRET_9f8e7d }\n}\n",
		"atlas {\n  cloud {\n    token = \"x\" + aci_SECRET_9f8e7d\n  }\n}\n",
		"atlas {\n  cloud {\n    token = <<aci_SECRET_9f8e7d\nx\n  }\n}\n",
		"atlas {\n  cloud {\n    token = aci_SECRET_9f8e7d(1)\n  }\n}\n",
		"atlas {\n  cloud {\n    token = var.aci_SECRET_9f8e7d\n  }\n}\n",
		"atlas {\n  cloud {\n    token = {a = 1}.aci_SECRET_9f8e7d\n  }\n}\nenv \"x\" {\n}\n",
		"atlas {\n  cloud {\n    token = \"aci_SECRET_9f8e7d\n  }\n}\n",
		"atlas {\n  cloud {\n    token = \"aci_SECRET_9f8e7d\\q\"\n  }\n}\n",
		"atlas {\n  cloud {\n    token = aci_SECRET_9f8e7d\n  }\n}\n",
		"atlas {\n  cloud {\n    token = <<EOS\naci_SECRET_9f8e7d\n  }\n}\n",
		"atlas {\n  cloud {\n    token = \"aci_SECRET_9f8e7d\"\n    token = \"aci_SECRET_9f8e7d\"\n  }\n}\n",
		/* the env does not exist, or something else is wrong after the token was read */
		"atlas {\n  cloud {\n    token = \"aci_SECRET_9f8e7d\"\n  }\n}\nenv \"y\" {\n}\n",
		"atlas {\n  cloud {\n    token = \"aci_SECRET_9f8e7d\"\n  }\n}\nenv \"x\" {\n  migration {\n    exec_order = \"bad\"\n  }\n}\n",
	};
	size_t		i;
	tvars		t;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		mig_env		e;
		mig_err		err;
		int			rc = eval_env(cases[i], "x", NULL, &e, &err);

		if (rc == MIG_OK)
			print_message("# case %zu unexpectedly succeeded\n", i);
		assert_int_not_equal(rc, MIG_OK);
		assert_no_token(&err, tok);
	}
	/* the token given as a caller value of the wrong type */
	{
		mig_env		e;
		mig_err		err;

		assert_int_equal(eval_env("variable \"t\" {\n  type = number\n}\nenv \"x\" {\n}\n", "x",
								  one_var(&t, "t", tok), &e, &err), MIG_ECONFIG);
		assert_no_token(&err, tok);
		/* a caller value for an undeclared variable: the name, not the value */
		assert_int_equal(eval_env("env \"x\" {\n}\n", "x", one_var(&t, "token", tok), &e, &err), MIG_ECONFIG);
		assert_no_token(&err, tok);
	}
}

/* ---------------------------------------------------------------- conformance (in place) */

static char *
conformance_hcl(const char *which, size_t *len)
{
	char		path[4096];
	char	   *src;

	snprintf(path, sizeof(path), "%s/dirs/atlasexec/internal/e2e/testdata/%s/atlas.hcl",
			 tu_conformance_dir(), which);
	src = tu_read_file(path, len);
	if (src == NULL)
		print_message("# missing %s\n", path);
	assert_non_null(src);
	return src;
}

static void
test_conformance_versioned_basic(void **state)
{
	char	   *src;
	size_t		len;
	mig_config *cfg = NULL;
	mig_env		e;
	mig_err		err;

	(void) state;
	TU_NEED_CONFORMANCE();
	src = conformance_hcl("versioned-basic", &len);
	assert_int_equal(mig_hcl_parse(src, len, &cfg, &err), MIG_OK);
	assert_int_equal(mig_hcl_env(cfg, "local", NULL, &e, &err), MIG_OK);
	assert_string_equal(e.name, "local");
	assert_string_equal(e.dir, "file://migrations");
	assert_null(e.url);
	assert_false(e.cloud);
	mig_env_free(&e);
	assert_int_equal(mig_hcl_env(cfg, "prod", NULL, &e, &err), MIG_ENOTFOUND);
	assert_string_equal(err.msg, "env \"prod\" not defined in config file");
	mig_hcl_free(cfg);
	free(src);
}

static void
test_conformance_multi_tenants(void **state)
{
	char	   *src;
	size_t		len;
	mig_config *cfg = NULL;
	mig_env		e;
	mig_err		err;

	(void) state;
	TU_NEED_CONFORMANCE();
	src = conformance_hcl("multi-tenants", &len);
	/* it parses (toset, each.value) ... */
	assert_int_equal(mig_hcl_parse(src, len, &cfg, &err), MIG_OK);
	/* ... and any env name selects the for_each env: not supported yet */
	assert_int_equal(mig_hcl_env(cfg, "local", NULL, &e, &err), MIG_ENOTSUP);
	assert_string_equal(err.msg, "2:3: env \"local\" uses for_each, which is not supported yet (one env per call)");
	assert_non_null(strstr(err.hint, "one env block per target"));
	assert_null(e.name);
	mig_hcl_free(cfg);
	free(src);
}

/* ---------------------------------------------------------------- out of memory */

static const char *realistic =
"variable \"cloud_token\" {\n  type = string\n  default = getenv(\"HCL_OOM_TOKEN\")\n}\n"
"variable \"tenants\" {\n  type = list(string)\n  default = [\"a\", \"b\"]\n}\n"
"variable \"port\" {\n  type = number\n  default = \"5432\"\n}\n"
"locals {\n  host = lower(\"DB.Example\")\n  schema = format(\"app_%s\", join(\"_\", var.tenants))\n}\n"
"atlas {\n  cloud {\n    token = var.cloud_token\n    project = \"p-${local.schema}\"\n  }\n}\n"
"env \"prod\" {\n"
"  url = urlqueryset(\"postgres://u@${local.host}:${var.port}/db\", \"search_path\", local.schema)\n"
"  dev = \"docker://postgres/15/dev\"\n"
"  migration {\n"
"    dir = <<-EOS\n      atlas://app?tag=${upper(\"v1\")}\n      EOS\n"
"    exec_order = LINEAR_SKIP\n"
"    lock_timeout = \"${var.port / 1000}s\"\n"
"    revisions_schema = { a = \"rev\" }.a\n"
"  }\n"
"}\n";

static void
test_realistic_config(void **state)
{
	mig_env		e;
	tvars		t;
	static const char *ten[] = {"x", "y", "z"};

	(void) state;
	setenv("HCL_OOM_TOKEN", "tok", 1);
	memset(&t, 0, sizeof(t));
	tvars_add(&t, "tenants", true, 3, ten);
	env_ok(realistic, "prod", &t.vars, &e);
	assert_string_equal(e.url, "postgres://u@db.example:5432/db?search_path=app_x_y_z");
	assert_string_equal(e.dir, "atlas://app?tag=V1\n");
	assert_string_equal(e.exec_order, "linear-skip");
	assert_string_equal(e.lock_timeout, "5.432s");
	assert_string_equal(e.revisions_schema, "rev");
	assert_true(e.cloud);
	assert_string_equal(e.cloud_project, "p-app_x_y_z");
	mig_env_free(&e);
	unsetenv("HCL_OOM_TOKEN");
}

static void
test_failing_allocator(void **state)
{
	long		n;
	int			rc = MIG_ENOMEM;
	tvars		t;
	static const char *ten[] = {"x", "y", "z"};

	(void) state;
	setenv("HCL_OOM_TOKEN", "tok", 1);
	memset(&t, 0, sizeof(t));
	tvars_add(&t, "tenants", true, 3, ten);
	for (n = 0; n < 100000; n++)
	{
		mig_config *cfg = NULL;
		mig_env		e;
		mig_err		err;

		mig_err_clear(&err);
		memset(&e, 0, sizeof(e));
		tu_fail_after(n);
		rc = mig_hcl_parse(realistic, strlen(realistic), &cfg, &err);
		if (rc == MIG_OK)
		{
			rc = mig_hcl_env(cfg, "prod", &t.vars, &e, &err);
			if (rc != MIG_OK)
			{
				assert_null(e.name);
				assert_null(e.url);
				assert_null(e.cloud_url);
			}
		}
		else
			assert_null(cfg);
		tu_fail_reset();
		mig_env_free(&e);
		mig_hcl_free(cfg);
		if (rc == MIG_OK)
			break;
		if (rc != MIG_ENOMEM)
			print_message("# allocation %ld: %d %s\n", n, rc, err.msg);
		assert_int_equal(rc, MIG_ENOMEM);
		assert_string_equal(err.msg, "out of memory");
	}
	assert_int_equal(rc, MIG_OK);
	print_message("# failing allocator: %ld allocation points\n", n);
	unsetenv("HCL_OOM_TOKEN");
}

/* Every error path of evaluation under a failing allocator (error configs). */
static void
test_failing_allocator_errors(void **state)
{
	static const char *const srcs[] = {
		"env \"x\" {\n  migration {\n    exec_order = \"bad\"\n  }\n}\n",
		"variable \"n\" {\n  type = number\n}\nenv \"x\" {\n}\n",
		"env \"x\" {\n  url = format(\"%d\", \"z\")\n}\n",
		"env \"x\" {\n  dirr = 1\n}\n",
	};
	size_t		i;
	long		n;

	(void) state;
	for (i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++)
		for (n = 0; n < 1000; n++)
		{
			mig_config *cfg = NULL;
			mig_env		e;
			mig_err		err;
			int			rc;

			tu_fail_after(n);
			rc = mig_hcl_parse(srcs[i], strlen(srcs[i]), &cfg, &err);
			if (rc == MIG_OK)
				rc = mig_hcl_env(cfg, "x", NULL, &e, &err);
			tu_fail_reset();
			mig_hcl_free(cfg);
			assert_int_not_equal(rc, MIG_OK);
			if (rc != MIG_ENOMEM)
				break;
		}
}

/* ---------------------------------------------------------------- set-time check (atlas_config_set) */

/* mig_hcl_check_envs on src: MIG_OK, or code with exactly msg. */
static void
set_check(const char *src, int code, const char *msg)
{
	mig_config *cfg = parse_ok(src);
	mig_err		err;
	int			rc;

	mig_err_clear(&err);
	rc = mig_hcl_check_envs(cfg, &err);
	mig_hcl_free(cfg);
	if (rc != code || (msg && strcmp(err.msg, msg) != 0))
		print_message("# input:\n%s\n# got %d \"%s\", want %d \"%s\"\n", src, rc,
					  rc ? err.msg : "", code, msg ? msg : "");
	assert_int_equal(rc, code);
	if (msg)
		assert_string_equal(err.msg, msg);
}

/*
 * What apply would refuse for every call fails when the config is set, with
 * its line and column: bad durations, tx_mode and exec_order values, wrong
 * types, directory URLs, for_each, data sources, unsupported functions,
 * defaults that do not convert, an env defined twice.
 */
static void
test_set_check_errors(void **state)
{
	(void) state;
	set_check("env \"prod\" {\n  migration {\n    lock_timeout = \"30x\"\n  }\n}\n", MIG_ECONFIG,
			  "3:5: env \"prod\": migration.lock_timeout: unknown unit \"x\" in duration \"30x\"");
	set_check("env \"prod\" {\n  migration {\n    lock_timeout = \"600h\"\n  }\n}\n", MIG_ECONFIG,
			  "3:5: env \"prod\": migration.lock_timeout: the value must be a duration from 0 to 576h (2073600 seconds), got \"600h\"");
	set_check("env \"prod\" {\n  migration {\n    tx_mode = \"files\"\n  }\n}\n", MIG_ECONFIG,
			  "3:5: env \"prod\": migration.tx_mode: unknown tx-mode \"files\"");
	set_check("env \"prod\" {\n  migration {\n    exec_order = \"linear-skipp\"\n  }\n}\n", MIG_ECONFIG,
			  "3:5: unknown execution order: \"linear-skipp\"");
	set_check("env \"prod\" {\n  migration {\n    dir = [\"a\"]\n  }\n}\n", MIG_ECONFIG,
			  "3:5: attribute \"dir\" in migration block must be a string, got list");
	set_check("env \"prod\" {\n  migration {\n    dir = \"migrations\"\n  }\n}\n", MIG_ECONFIG,
			  "3:5: env \"prod\": unsupported migration directory URL \"migrations\"");
	set_check("atlas {\n  cloud {\n    token = getenv(\"T\")\n    timeout = \"5 s\"\n  }\n}\n", MIG_ECONFIG,
			  "4:5: cloud.timeout: unknown unit \" s\" in duration \"5 s\"");
	set_check("atlas {\n  cloud {\n    token = [\"a\"]\n  }\n}\n", MIG_ECONFIG,
			  "3:5: attribute \"token\" in cloud block must be a string, got list");
	set_check("env {\n  name = atlas.env\n  for_each = toset([\"a\"])\n}\n", MIG_ENOTSUP,
			  "3:3: unlabelled env (at 1:1) uses for_each, which is not supported yet (one env per call)");
	set_check("data \"sql\" \"t\" {\n}\nenv \"a\" {\n  url = data.sql.t.value\n}\n", MIG_ENOTSUP,
			  "4:9: data sources are not supported yet (data.sql.t is used by env \"a\")");
	set_check("locals {\n  d = jsonencode(\"x\")\n}\nenv \"a\" {\n  migration {\n    dir = local.d\n  }\n}\n",
			  MIG_ENOTSUP, "2:7: function \"jsonencode\" is not supported");
	set_check("variable \"n\" {\n  type = number\n  default = \"abc\"\n}\n", MIG_ECONFIG,
			  "3:3: invalid default for variable \"n\": a number is required (the string is not a decimal number)");
	/* a default is the value when the call gives none: checked where it is used */
	set_check("variable \"lt\" {\n  default = \"1y\"\n}\nenv \"a\" {\n  migration {\n    lock_timeout = var.lt\n  }\n}\n",
			  MIG_ECONFIG, "6:5: env \"a\": migration.lock_timeout: unknown unit \"y\" in duration \"1y\"");
	set_check("env \"a\" {\n}\nenv \"a\" {\n}\n", MIG_ENOTSUP,
			  "3:1: env \"a\" is defined more than once (also at 1:1); running several envs in one call is not supported yet");
	set_check("env {\n  name = atlas.env\n  migration {\n    tx_mode = \"some\"\n  }\n}\n", MIG_ECONFIG,
			  "4:5: unlabelled env (at 1:1): migration.tx_mode: unknown tx-mode \"some\"");
	set_check("env \"a\" {\n  url = format(\"%d\", \"x\")\n}\n", MIG_ECONFIG,
			  "2:9: format: %d needs a whole number (argument 2)");
	/* every env, not only the first */
	set_check("env \"a\" {\n}\nenv \"b\" {\n  migration {\n    lock_timeout = 10\n  }\n}\n", MIG_ECONFIG,
			  "5:5: env \"b\": migration.lock_timeout: missing unit in duration \"10\"");
}

/*
 * What the Atlas CLI accepts and apply can run stays accepted: values that
 * depend on a variable without default, getenv() or an unlabelled env's
 * atlas.env are checked for structure only; data sources and Atlas
 * functions we lack are fine where apply ignores them.
 */
static void
test_set_check_accepts(void **state)
{
	(void) state;
	set_check("variable \"cloud_token\" {\n  type    = string\n  default = getenv(\"ATLAS_TOKEN\")\n}\n"
			  "atlas {\n  cloud {\n    token = var.cloud_token\n    timeout = \"30s\"\n  }\n}\n"
			  "env \"prod\" {\n  url = \"postgres://app@db/app?search_path=public\"\n  migration {\n"
			  "    dir              = \"atlas://app?tag=v42\"\n    revisions_schema = \"atlas_schema_revisions\"\n"
			  "    baseline         = \"20240101000000\"\n    exec_order       = LINEAR_SKIP\n"
			  "    lock_timeout     = \"30s\"\n    tx_mode          = \"file\"\n  }\n}\n", MIG_OK, NULL);
	set_check("variable \"lt\" {\n  type = string\n}\nvariable \"t\" {\n  default = getenv(\"X\")\n}\n"
			  "env \"a\" {\n  url = \"x${var.t}\"\n  migration {\n    lock_timeout = var.lt\n"
			  "    tx_mode = lower(getenv(\"TX\"))\n    dir = \"file://m/${atlas.env}\"\n  }\n}\n"
			  "env {\n  name = atlas.env\n  migration {\n    dir = \"file://${atlas.env}\"\n"
			  "    exec_order = upper(atlas.env)\n    lock_timeout = var.t == \"\" ? \"1s\" : var.t\n  }\n}\n",
			  MIG_OK, NULL);
	set_check("data \"external_schema\" \"orm\" {\n  program = [\"x\"]\n}\nlocals {\n  j = jsonencode({a = 1})\n}\n"
			  "env \"a\" {\n  src = data.external_schema.orm.url\n  dev = local.j\n}\n"
			  "env {\n  name = \"literal\"\n}\n", MIG_OK, NULL);
	set_check("env \"a\" {\n  migration {\n    exec_order = \"non_linear\"\n    lock_timeout = \"0\"\n"
			  "    tx_mode = \"none\"\n    dir = \"\"\n  }\n}\n", MIG_OK, NULL);
	set_check("variable \"tenant\" {\n  type    = string\n  default = \"acme\"\n}\n"
			  "env \"tenant\" {\n  url = \"postgres://db/app?search_path=${var.tenant}\"\n"
			  "  migration {\n    dir = \"file://migrations\"\n  }\n}\n", MIG_OK, NULL);
	set_check("atlas {\n  cloud {\n    token = \"\"\n  }\n}\n", MIG_OK, NULL);
	set_check("", MIG_OK, NULL);
}

/* ---------------------------------------------------------------- atlas_config_get */

/* mig_hcl_redact(src) is exactly want. */
static void
redacts(const char *src, const char *want)
{
	char	   *out = NULL;
	mig_err		err;
	int			rc;

	mig_err_clear(&err);
	rc = mig_hcl_redact(src, strlen(src), &out, &err);
	if (rc != MIG_OK || strcmp(out, want) != 0)
		print_message("# input:\n%s\n# got %d:\n%s\n# want:\n%s\n", src, rc, rc ? err.msg : out, want);
	assert_int_equal(rc, MIG_OK);
	assert_string_equal(out, want);
	free(out);
}

/*
 * Every secret replaced, every other byte kept: token literals (also
 * through variables and locals, in heredocs, in any block, commented out),
 * URL passwords (also interpolated ones and those in comments); getenv()'s
 * argument and URLs without a password stay.
 */
static void
test_redact(void **state)
{
	(void) state;
	redacts("atlas {\n  cloud {\n    token = \"aci_secret\"  # the token\n  }\n}\n",
			"atlas {\n  cloud {\n    token = \"<redacted>\"  # the token\n  }\n}\n");
	redacts("variable \"cloud_token\" {\n  type    = string\n  default = getenv(\"ATLAS_TOKEN\")\n}\n"
			"atlas { cloud { token = var.cloud_token } }\n",
			"variable \"cloud_token\" {\n  type    = string\n  default = getenv(\"ATLAS_TOKEN\")\n}\n"
			"atlas { cloud { token = var.cloud_token } }\n");
	redacts("variable \"t\" {\n  default = \"s3cr3t\"\n}\nlocals {\n  a = \"x-${var.t}\"\n  b = local.a\n  n = 12345\n}\n"
			"atlas {\n  cloud {\n    token = var.t != \"\" ? local.b : local.n\n  }\n}\n",
			"variable \"t\" {\n  default = \"<redacted>\"\n}\nlocals {\n  a = \"<redacted>\"\n  b = local.a\n  n = \"<redacted>\"\n}\n"
			"atlas {\n  cloud {\n    token = var.t != \"<redacted>\" ? local.b : local.n\n  }\n}\n");
	redacts("atlas {\n  cloud {\n    token = <<EOT\n  heredoc-secret\nEOT\n  }\n}\n",
			"atlas {\n  cloud {\n    token = \"<redacted>\"\n  }\n}\n");
	redacts("data \"remote_dir\" \"d\" {\n  token = \"other\"\n}\n# token = \"commented\"\n",
			"data \"remote_dir\" \"d\" {\n  token = \"<redacted>\"\n}\n# token = \"<redacted>\"\n");
	redacts("variable \"pw\" {\n  default = \"hunter2\"\n}\n"
			"env \"prod\" {\n  url = \"postgres://app:${var.pw}@db/app?search_path=public\"  # postgres://u:inline@h\n"
			"  dev = \"postgres://root:pass@localhost:5432/dev\"\n  src = \"postgres://nopass@h/db\"\n}\n",
			"variable \"pw\" {\n  default = \"<redacted>\"\n}\n"
			"env \"prod\" {\n  url = \"postgres://app:xxxxx@db/app?search_path=public\"  # postgres://u:xxxxx@h\n"
			"  dev = \"postgres://root:xxxxx@localhost:5432/dev\"\n  src = \"postgres://nopass@h/db\"\n}\n");
	redacts("", "");
}

/* The token, whatever route it takes, is not in the output. */
static void
test_redact_never_returns_token(void **state)
{
	static const char *const srcs[] = {
		"atlas { cloud { token = \"TOKSECRET\" } }\n",
		"atlas {\n  cloud {\n    token = format(\"%s\", \"TOKSECRET\")\n  }\n}\n",
		"atlas {\n  cloud {\n    token = join(\"\", [\"TOK\", \"SECRET\"])\n  }\n}\n",
		"locals {\n  t = { v = \"TOKSECRET\" }\n}\natlas {\n  cloud {\n    token = local.t.v\n  }\n}\n",
		"variable \"t\" {\n  type = list(string)\n  default = [\"TOKSECRET\"]\n}\natlas {\n  cloud {\n    token = var.t[0]\n  }\n}\n",
		"atlas {\n  cloud {\n    token = \"TOK\\\"SECRET\"\n  }\n}\n",
		"env \"a\" {\n  url = \"postgres://u:TOKSECRET@h/db\"\n}\n",
		"env \"a\" {\n  url = \"postgres://u:TOK\\\"SECRET@h/db\"\n}\n",
	};
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++)
	{
		char	   *out = NULL;
		mig_err		err;

		mig_err_clear(&err);
		assert_int_equal(mig_hcl_redact(srcs[i], strlen(srcs[i]), &out, &err), MIG_OK);
		if (strstr(out, "TOKSECRET") || strstr(out, "SECRET"))
			print_message("# leaked:\n%s\n", out);
		assert_null(strstr(out, "SECRET"));
		free(out);
	}
}

/* Set-time check and redaction: every allocation failure is "out of memory". */
static void
test_failing_allocator_set_and_get(void **state)
{
	long		n;
	int			rc = MIG_ENOMEM;

	(void) state;
	for (n = 0; n < 100000; n++)
	{
		mig_config *cfg = NULL;
		char	   *out = NULL;
		mig_err		err;

		mig_err_clear(&err);
		tu_fail_after(n);
		rc = mig_hcl_parse(realistic, strlen(realistic), &cfg, &err);
		if (rc == MIG_OK)
			rc = mig_hcl_check_envs(cfg, &err);
		if (rc == MIG_OK)
			rc = mig_hcl_redact(realistic, strlen(realistic), &out, &err);
		tu_fail_reset();
		mig_hcl_free(cfg);
		if (rc == MIG_OK)
		{
			assert_non_null(out);
			free(out);
			break;
		}
		assert_null(out);
		if (rc != MIG_ENOMEM)
			print_message("# allocation %ld: %d %s\n", n, rc, err.msg);
		assert_int_equal(rc, MIG_ENOMEM);
		assert_string_equal(err.msg, "out of memory");
	}
	assert_int_equal(rc, MIG_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deny_getenv),
		cmocka_unit_test(test_spec_example_labelled),
		cmocka_unit_test(test_spec_example_unlabelled),
		cmocka_unit_test(test_seed_config_one_line),
		cmocka_unit_test(test_seed_config_with_env),
		cmocka_unit_test(test_seed_config_without_env),
		cmocka_unit_test(test_seed_config_token_from_vars),
		cmocka_unit_test(test_labelled_env_wins),
		cmocka_unit_test(test_unlabelled_env_needs_atlas_env_reference),
		cmocka_unit_test(test_unknown_env),
		cmocka_unit_test(test_several_envs_not_supported),
		cmocka_unit_test(test_for_each_not_supported),
		cmocka_unit_test(test_data_not_supported),
		cmocka_unit_test(test_comments_ok),
		cmocka_unit_test(test_single_line_blocks_and_crlf),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_interpolation),
		cmocka_unit_test(test_heredoc),
		cmocka_unit_test(test_expressions),
		cmocka_unit_test(test_functions),
		cmocka_unit_test(test_function_errors),
		cmocka_unit_test(test_evaluation_errors),
		cmocka_unit_test(test_vars_override_default),
		cmocka_unit_test(test_vars_types),
		cmocka_unit_test(test_vars_conversion_errors),
		cmocka_unit_test(test_vars_required_and_undeclared),
		cmocka_unit_test(test_invalid_variable_types),
		cmocka_unit_test(test_locals),
		cmocka_unit_test(test_locals_cycle),
		cmocka_unit_test(test_exec_order_normalised),
		cmocka_unit_test(test_exec_order_unknown),
		cmocka_unit_test(test_migration_pass_through),
		cmocka_unit_test(test_cloud_defaults),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_nul_byte_rejected),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_nesting_limits),
		cmocka_unit_test(test_locals_chain_limit),
		cmocka_unit_test(test_evaluation_size_limit),
		cmocka_unit_test(test_token_never_in_errors),
		cmocka_unit_test(test_conformance_versioned_basic),
		cmocka_unit_test(test_conformance_multi_tenants),
		cmocka_unit_test(test_realistic_config),
		cmocka_unit_test(test_failing_allocator),
		cmocka_unit_test(test_failing_allocator_errors),
		cmocka_unit_test(test_set_check_errors),
		cmocka_unit_test(test_set_check_accepts),
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_redact_never_returns_token),
		cmocka_unit_test(test_failing_allocator_set_and_get),
	};

	return cmocka_run_group_tests_name("hcl", tests, NULL, NULL);
}
