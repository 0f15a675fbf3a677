/*
 * source.c - open the run's migration directory: file:// from the database
 * host's file system, atlas:// from Atlas Cloud; either way it ends as one
 * in-memory directory, verified against its atlas.sum before anything runs,
 * and refused when two files share a version (mig_dir_check_versions).
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <string.h>

#include "cloud.h"

/* The path of a file:// URL: empty means "migrations" (§a.1); no query. */
static char *
file_url_path(const char *url)
{
	const char *p = url + strlen("file://");
	size_t		n = strcspn(p, "?#");

	if (n == 0)
		return mig_strdup("migrations");
	return mig_strndup(p, n);
}

int
mig_source_load(const mig_run_cfg *cfg, mig_db *db, mig_dir *out, mig_err *err)
{
	bool		cloud = false;
	int			rc;

	mig_dir_init(out);
	if (strncmp(cfg->dir_url, "file://", 7) == 0)
	{
		char	   *path = file_url_path(cfg->dir_url);

		if (path == NULL)
			return mig_err_set(err, MIG_ENOMEM, "out of memory");
		rc = mig_dir_load_local(path, out, err);
		mig_free(path);
	}
	else if (strncmp(cfg->dir_url, "atlas://", 8) == 0)
	{
		cloud = true;
		rc = mig_cloud_fetch_dir(cfg, NULL, db, out, err);	/* verified there */
	}
	else
		rc = mig_err_set(err, MIG_EINVAL, "unsupported migration directory URL \"%.200s\"",
						 cfg->dir_url_redacted);
	if (rc == MIG_OK && !cloud)
		rc = mig_sum_verify(out, err);
	/* after the sum: Atlas computes and checks it for such directories too */
	if (rc == MIG_OK)
		rc = mig_dir_check_versions(out, err);
	if (rc != MIG_OK)
		mig_dir_free(out);
	return rc;
}
