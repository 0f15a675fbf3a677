/*
 * fuzz_hcl.c - libFuzzer target for the atlas.hcl subset (spec §i).
 *
 * Any input: mig_hcl_parse returns MIG_OK or an error, never crashes, never
 * leaks, never recurses without bound.  When it parses, env "prod" and env
 * "x" are evaluated (without and with a caller variable) under the same
 * rules.  Invariants checked on every path: a parse error is MIG_ECONFIG
 * or MIG_ENOMEM and says "L:C: ..."; a failed evaluation leaves the output
 * empty; a successful one names the env, has the cloud defaults and a
 * normalised exec_order.  Then the set-time check (mig_hcl_check_envs) and
 * the redaction of atlas_config_get (mig_hcl_redact, which must succeed on
 * any text that parses).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mig.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_env(const mig_config *cfg, const char *name, const mig_vars *vars)
{
	mig_env		e;
	mig_err		err;
	int			rc;

	mig_err_clear(&err);
	rc = mig_hcl_env(cfg, name, vars, &e, &err);
	if (rc != MIG_OK)
	{
		if (err.code != rc || err.msg[0] == '\0' || e.name || e.url || e.dir ||
			e.cloud_token || e.cloud_url)
			abort();
		return;
	}
	if (e.name == NULL || strcmp(e.name, name) != 0 || e.cloud_url == NULL ||
		e.cloud_project == NULL || e.cloud != (e.cloud_token != NULL))
		abort();
	if (e.exec_order && strcmp(e.exec_order, "linear") != 0 &&
		strcmp(e.exec_order, "linear-skip") != 0 && strcmp(e.exec_order, "non-linear") != 0)
		abort();
	mig_env_free(&e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mig_config *cfg = NULL;
	mig_err		err;
	int			rc;
	char	   *values[1] = {(char *) "1"};
	mig_var		var = {(char *) "v", values, 1, false};
	mig_vars	vars = {&var, 1};

	mig_err_clear(&err);
	rc = mig_hcl_parse((const char *) data, size, &cfg, &err);
	if (rc != MIG_OK)
	{
		const char *m = err.msg;

		if (cfg != NULL || err.code != rc || (rc != MIG_ECONFIG && rc != MIG_ENOMEM))
			abort();
		if (rc == MIG_ECONFIG)
		{
			/* "L:C: message" */
			if (*m < '1' || *m > '9')
				abort();
			while (*m >= '0' && *m <= '9')
				m++;
			if (*m++ != ':' || *m < '1' || *m > '9')
				abort();
			while (*m >= '0' && *m <= '9')
				m++;
			if (m[0] != ':' || m[1] != ' ')
				abort();
		}
		return 0;
	}
	check_env(cfg, "prod", NULL);
	check_env(cfg, "x", NULL);
	check_env(cfg, "prod", &vars);
	/* the set-time check: an error has a code and a message */
	mig_err_clear(&err);
	rc = mig_hcl_check_envs(cfg, &err);
	if (rc != MIG_OK && (err.code != rc || err.msg[0] == '\0'))
		abort();
	mig_hcl_free(cfg);
	/* atlas_config_get: text that parses is always redacted */
	{
		char	   *out = NULL;

		mig_err_clear(&err);
		rc = mig_hcl_redact((const char *) data, size, &out, &err);
		if ((rc != MIG_OK && rc != MIG_ENOMEM) || (rc == MIG_OK) != (out != NULL))
			abort();
		mig_free(out);
	}
	return 0;
}
