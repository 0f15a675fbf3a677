/*
 * revs.c - revision rows (§f) in memory: copy, free, lists.
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <string.h>

#include "mig.h"

void
mig_rev_free(mig_rev *r)
{
	mig_free(r->version);
	mig_free(r->description);
	mig_free(r->error);
	mig_free(r->error_stmt);
	mig_free(r->hash);
	mig_free(r->partial_hashes);
	mig_free(r->operator_version);
	memset(r, 0, sizeof(*r));
}

void
mig_revs_free(mig_revs *rs)
{
	size_t		i;

	for (i = 0; i < rs->n; i++)
		mig_rev_free(&rs->v[i]);
	mig_free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

/* Duplicate s into *dst; NULL stays NULL.  Returns false on OOM. */
static bool
dup(char **dst, const char *s)
{
	*dst = NULL;
	if (s == NULL)
		return true;
	*dst = mig_strdup(s);
	return *dst != NULL;
}

int
mig_rev_copy(mig_rev *dst, const mig_rev *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->type = src->type;
	dst->applied = src->applied;
	dst->total = src->total;
	dst->executed_at_ns = src->executed_at_ns;
	dst->execution_time = src->execution_time;
	if (!dup(&dst->version, src->version) || !dup(&dst->description, src->description) ||
		!dup(&dst->error, src->error) || !dup(&dst->error_stmt, src->error_stmt) ||
		!dup(&dst->hash, src->hash) || !dup(&dst->partial_hashes, src->partial_hashes) ||
		!dup(&dst->operator_version, src->operator_version))
	{
		mig_rev_free(dst);
		return MIG_ENOMEM;
	}
	return MIG_OK;
}

bool
mig_rev_failed_attempt(const mig_rev *r)
{
	return r->applied == 0 && r->total > 0 && r->error && r->error[0] &&
		!(r->type & MIG_REV_BASELINE);
}

int
mig_revs_push(mig_revs *rs, const mig_rev *r)
{
	if (rs->n == rs->cap)
	{
		size_t		cap = rs->cap ? rs->cap * 2 : 16;
		mig_rev    *v = mig_realloc(rs->v, cap * sizeof(mig_rev));

		if (v == NULL)
			return MIG_ENOMEM;
		rs->v = v;
		rs->cap = cap;
	}
	if (mig_rev_copy(&rs->v[rs->n], r) != MIG_OK)
		return MIG_ENOMEM;
	rs->n++;
	return MIG_OK;
}

long
mig_revs_find(const mig_revs *revs, const char *version)
{
	size_t		lo = 0,
				hi = revs->n;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		int			c = strcmp(revs->v[mid].version, version);

		if (c == 0)
			return (long) mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}
