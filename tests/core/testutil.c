/*
 * testutil.c - file helpers, the conformance folder and a failing allocator
 * for the core tests.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

char *
tu_read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t) n + 1);
	if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t) n;
	return buf;
}

int
tu_write_file(const char *path, const char *data, size_t len)
{
	FILE	   *f = fopen(path, "wb");

	if (f == NULL)
		return -1;
	if (fwrite(data, 1, len, f) != len)
	{
		fclose(f);
		return -1;
	}
	return fclose(f);
}

int
tu_in_ci(void)
{
	const char *ci = getenv("CI");

	return ci != NULL && strcmp(ci, "true") == 0;
}

const char *
tu_conformance_dir(void)
{
	static char path[4096];
	const char *env = getenv("ATLAS_CONFORMANCE_DIR");
	struct stat st;

	if (env && *env)
		snprintf(path, sizeof(path), "%s", env);
	else
		snprintf(path, sizeof(path), "../shared/conformance/atlas");
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return NULL;
	return path;
}

char *
tu_mkdtemp(void)
{
	const char *tmp = getenv("TMPDIR");
	char		tmpl[4096];
	char	   *p;

	snprintf(tmpl, sizeof(tmpl), "%s/atlas_migrate_test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	p = mkdtemp(tmpl);
	return p ? strdup(p) : NULL;
}

void
tu_rmtree(const char *path)
{
	DIR		   *d = opendir(path);
	struct dirent *e;

	if (d == NULL)
	{
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL)
	{
		char		p[4096];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		tu_rmtree(p);
	}
	closedir(d);
	rmdir(path);
}

/* ---------------------------------------------------------------- failing allocator */

static long fail_at = -1;
static long seen;

static void *
fail_malloc(size_t n)
{
	if (fail_at >= 0 && seen++ >= fail_at)
		return NULL;
	return malloc(n);
}

static void *
fail_realloc(void *p, size_t n)
{
	if (fail_at >= 0 && seen++ >= fail_at)
		return NULL;
	return realloc(p, n);
}

void
tu_fail_after(long n)
{
	static const mig_allocator a = {fail_malloc, fail_realloc, free};

	fail_at = n;
	seen = 0;
	mig_set_allocator(&a);
}

void
tu_fail_reset(void)
{
	fail_at = -1;
	mig_set_allocator(NULL);
}

long
tu_alloc_count(void)
{
	return seen;
}
