/*
 * source_file.c - a file:// migration directory: read the top level of a
 * local directory into a mig_dir (spec §a.1).
 *
 * Knows nothing of PostgreSQL or SQLite.  Which directory a relative path
 * means (data directory, working directory) is the host's business; the
 * host also checks who may read server files.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mig.h"

#define QUOTE_MAX 1024

/* Go %q of s into dst (cut to size); plain quotes when memory is short. */
static const char *
quote(char *dst, size_t size, const char *s)
{
	mig_buf		b;

	mig_buf_init(&b);
	if (mig_buf_goquote(&b, s, strlen(s)) == MIG_OK)
		snprintf(dst, size, "%s", b.data);
	else
		snprintf(dst, size, "\"%s\"", s);
	mig_buf_free(&b);
	return dst;
}

/* An OS error in Go's words: strerror with a lower-case first letter. */
static const char *
os_error(char *dst, size_t size, int errnum)
{
	snprintf(dst, size, "%s", strerror(errnum));
	dst[0] = (char) tolower((unsigned char) dst[0]);
	return dst;
}

/*
 * §a.1's glob "*.sql": '*' matches any run without '/', a leading dot
 * included, so every name ending in ".sql" (".sql" itself too).
 */
static bool
is_migration_name(const char *name)
{
	size_t		n = strlen(name);

	return n >= 4 && memcmp(name + n - 4, ".sql", 4) == 0;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Read name (relative to dfd, the directory path) whole.  Like Atlas, a
 * directory called x.sql fails: `sql/migrate: read file "x.sql": read
 * <path>/x.sql: is a directory`.  FIFOs and devices are refused rather than read.  With
 * missing_ok, a name that does not exist gives *data == NULL and MIG_OK.
 */
static int
read_entry(int dfd, const char *path, const char *name, bool missing_ok,
		   char **data, size_t *len, mig_err *err)
{
	int			fd;
	struct stat st;
	char	   *buf = NULL;
	size_t		cap,
				n = 0;
	const char *op = "read";
	const char *why = NULL;
	char		os[256];
	char		q[QUOTE_MAX];
	size_t		plen;
	int			rc = MIG_OK;

	*data = NULL;
	*len = 0;
	fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
	{
		if (missing_ok && errno == ENOENT)
			return MIG_OK;
		op = "open";
		why = os_error(os, sizeof(os), errno);
		goto fail;
	}
	if (fstat(fd, &st) != 0)
	{
		op = "stat";
		why = os_error(os, sizeof(os), errno);
		goto fail;
	}
	if (S_ISDIR(st.st_mode))
	{
		why = os_error(os, sizeof(os), EISDIR);
		goto fail;
	}
	if (!S_ISREG(st.st_mode))
	{
		why = "not a regular file";
		goto fail;
	}
	/* room for the file, its NUL and the read that sees EOF: no regrowth */
	cap = (size_t) st.st_size + 2;
	if ((buf = mig_alloc(cap)) == NULL)
		goto oom;
	for (;;)
	{
		ssize_t		r;

		if (n + 1 >= cap)
		{
			char	   *nb = mig_realloc(buf, cap * 2);

			if (nb == NULL)
				goto oom;
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0)
		{
			if (errno == EINTR)
				continue;
			why = os_error(os, sizeof(os), errno);
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t) r;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	buf = NULL;
	goto done;

oom:
	rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
	goto done;
fail:
	/* Atlas names the file by its path joined to the directory */
	plen = strlen(path);
	while (plen > 1 && path[plen - 1] == '/')
		plen--;
	rc = mig_err_set(err, MIG_EIO, "sql/migrate: read file %s: %s %.*s%s%s: %s",
					 quote(q, sizeof(q), name), op, (int) plen, path,
					 plen > 0 && path[plen - 1] == '/' ? "" : "/", name, why);
done:
	mig_free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Append a file, taking ownership of name and data. */
static int
push_file(mig_dir *d, char *name, char *data, size_t len)
{
	mig_file   *f;

	if (d->nfiles == d->cap)
	{
		size_t		cap = d->cap ? d->cap * 2 : 64;
		mig_file   *nf;

		if (cap > SIZE_MAX / sizeof(mig_file) ||
			(nf = mig_realloc(d->files, cap * sizeof(mig_file))) == NULL)
			return MIG_ENOMEM;
		d->files = nf;
		d->cap = cap;
	}
	f = &d->files[d->nfiles++];
	memset(f, 0, sizeof(*f));
	f->name = name;
	f->data = data;
	f->len = len;
	return MIG_OK;
}

/*
 * §a.1: read the top-level *.sql files and atlas.sum of path into d, then
 * finish it.  Files are read whole, in name order, straight into d.
 */
int
mig_dir_load_local(const char *path, mig_dir *d, mig_err *err)
{
	DIR		   *dir = NULL;
	struct dirent *e;
	char	  **names = NULL;
	size_t		nnames = 0,
				cap = 0,
				i;
	char	   *data = NULL;
	size_t		len;
	char		os[256];
	int			rc = MIG_OK;

	dir = opendir(path);
	if (dir == NULL)
	{
		int			errnum = errno;

		if (errnum == ENOENT)
			rc = mig_err_set(err, MIG_EIO, "migration directory \"%s\" does not exist", path);
		else if (errnum == ENOTDIR)
			rc = mig_err_set(err, MIG_EIO, "migration directory \"%s\" is not a directory", path);
		else
			rc = mig_err_set(err, MIG_EIO, "migration directory \"%s\" cannot be opened: %s",
							 path, os_error(os, sizeof(os), errnum));
		return rc;
	}

	/* §a.1: the top level only, names matching *.sql */
	for (;;)
	{
		errno = 0;
		if ((e = readdir(dir)) == NULL)
			break;
		if (!is_migration_name(e->d_name))
			continue;
		if (nnames == cap)
		{
			size_t		nc = cap ? cap * 2 : 64;
			char	  **nn = mig_realloc(names, nc * sizeof(*names));

			if (nn == NULL)
				goto oom;
			names = nn;
			cap = nc;
		}
		if ((names[nnames] = mig_strdup(e->d_name)) == NULL)
			goto oom;
		nnames++;
	}
	if (errno != 0)
	{
		rc = mig_err_set(err, MIG_EIO, "migration directory \"%s\" cannot be read: %s",
						 path, os_error(os, sizeof(os), errno));
		goto done;
	}

	/* atlas.sum first, as Atlas validates before it lists files */
	rc = read_entry(dirfd(dir), path, "atlas.sum", true, &data, &len, err);
	if (rc != MIG_OK)
		goto done;
	if (data != NULL)
	{
		mig_free(d->sum);
		d->sum = data;
		d->sum_len = len;
		data = NULL;
	}

	/* in name order (§a.2), so the first unreadable file is Atlas's */
	if (nnames > 1)
		qsort(names, nnames, sizeof(*names), cmp_name);
	for (i = 0; i < nnames; i++)
	{
		rc = read_entry(dirfd(dir), path, names[i], false, &data, &len, err);
		if (rc != MIG_OK)
			goto done;
		if (push_file(d, names[i], data, len) != MIG_OK)
			goto oom;
		names[i] = NULL;
		data = NULL;
	}
	closedir(dir);
	dir = NULL;
	rc = mig_dir_finish(d, err);
	goto done;

oom:
	rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
done:
	mig_free(data);
	for (i = 0; i < nnames; i++)
		mig_free(names[i]);
	mig_free(names);
	if (dir)
		closedir(dir);
	return rc;
}
