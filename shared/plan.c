/*
 * plan.c - which files are pending (§g.2), for a fresh target (§g.3
 * baseline, §a.4 checkpoints) and for one with history, with the three
 * execution orders and the target-version lookup (§g.7).
 *
 * Knows nothing of PostgreSQL or SQLite.  Pure functions over the
 * directory's files and the revisions read from the database; nothing here
 * grows worse than O(n log n) with history.
 */
#include <string.h>

#include "plan.h"

void
mig_plan_free(mig_plan *p)
{
	mig_free(p->v);
	memset(p, 0, sizeof(*p));
}

static int
push(mig_plan *p, const mig_file *f)
{
	if (p->n == p->cap)
	{
		size_t		cap = p->cap ? p->cap * 2 : 32;
		const mig_file **v = mig_realloc(p->v, cap * sizeof(*v));

		if (v == NULL)
			return MIG_ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = f;
	return MIG_OK;
}

static bool
is_partial(const mig_rev *r)
{
	return r->applied != r->total;
}

/* §g.2 step 2, FilesFromLastCheckpoint: the last checkpoint and the rest. */
static int
from_last_checkpoint(const mig_file *files, size_t n, mig_plan *out)
{
	size_t		i,
				start = 0;
	bool		found = false;

	for (i = n; i > 0; i--)
		if (files[i - 1].checkpoint)
		{
			start = i - 1;
			found = true;
			break;
		}
	for (i = start; i < n; i++)
		if (!found || i == start || !files[i].checkpoint)
			if (push(out, &files[i]) != MIG_OK)
				return MIG_ENOMEM;
	return MIG_OK;
}

int
mig_plan_fresh(const mig_file *files, size_t n, const char *baseline,
			   const mig_file **base, mig_plan *out, mig_err *err)
{
	size_t		i;

	*base = NULL;
	if (baseline)
	{
		long		b = -1;

		/* the last non-checkpoint file with that version */
		for (i = 0; i < n; i++)
			if (!files[i].checkpoint && strcmp(files[i].version, baseline) == 0)
				b = (long) i;
		if (b < 0)
			return mig_err_set(err, MIG_ENOTFOUND, "baseline version \"%.200s\" not found", baseline);
		*base = &files[b];
		for (i = (size_t) b + 1; i < n; i++)
			if (!files[i].checkpoint && push(out, &files[i]) != MIG_OK)
				return mig_err_set(err, MIG_ENOMEM, "out of memory");
		return MIG_OK;
	}
	if (from_last_checkpoint(files, n, out) != MIG_OK)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	return MIG_OK;
}

int
mig_plan_pending(const mig_file *files, size_t n, const mig_revs *revs,
				 mig_exec_order order, mig_plan *out, mig_err *err)
{
	const mig_rev *last = &revs->v[revs->n - 1];
	const mig_file **mig = NULL;	/* migrations: files without checkpoints */
	size_t		nmig = 0,
				i,
				idx,
				first;
	long		found = -1;
	mig_plan	skipped = {0};
	int			rc = MIG_OK;

	/* §g.2 step 3: the last revision is partial. */
	if (is_partial(last) && n > 0)
	{
		for (i = 0; i < n; i++)
			if (strcmp(files[i].version, last->version) == 0)
			{
				found = (long) i;
				break;
			}
		if (found >= 0 && files[found].checkpoint)
		{
			for (i = (size_t) found; i < n; i++)
				if (i == (size_t) found || !files[i].checkpoint)
					if (push(out, &files[i]) != MIG_OK)
						return mig_err_set(err, MIG_ENOMEM, "out of memory");
			return MIG_OK;
		}
	}
	mig = mig_alloc((n ? n : 1) * sizeof(*mig));
	if (mig == NULL)
		return mig_err_set(err, MIG_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		if (!files[i].checkpoint)
			mig[nmig++] = &files[i];
	if (nmig == 0)
		goto done;

	/* §g.2 step 4 */
	found = -1;
	if (is_partial(last))
	{
		for (i = 0; i < nmig; i++)
			if (strcmp(mig[i]->version, last->version) == 0)
				found = (long) i;
		if (found < 0)
		{
			rc = mig_err_set(err, MIG_EHISTORY,
							 "sql/migrate: missing migration: revision \"%.200s_%.200s.sql\" is partially applied but migration file was not found",
							 last->version, last->description ? last->description : "");
			goto done;
		}
		idx = (size_t) found;
	}
	else
	{
		for (i = 0; i < nmig; i++)
			if (strcmp(mig[i]->version, last->version) <= 0)
				found = (long) i;
		if (found < 0)
		{
			/* every revision is newer than nothing: all files pending */
			for (i = 0; i < nmig; i++)
				if (push(out, mig[i]) != MIG_OK)
					goto oom;
			goto done;
		}
		idx = (size_t) found + 1;
	}

	/* Out-of-order files: before idx, at or after the first revision, no row. */
	if (order != MIG_ORDER_LINEAR_SKIP)
	{
		for (first = 0; first < idx; first++)
			if (strcmp(mig[first]->version, revs->v[0].version) >= 0)
				break;
		for (i = first; i < idx; i++)
			if (mig_revs_find(revs, mig[i]->version) < 0 && push(&skipped, mig[i]) != MIG_OK)
				goto oom;
		if (skipped.n > 0 && order == MIG_ORDER_LINEAR)
		{
			mig_buf		b;

			mig_buf_init(&b);
			mig_buf_puts(&b, skipped.n == 1 ? "migration file " : "migration files ");
			for (i = 0; i < skipped.n && i < 20; i++)
			{
				if (i)
					mig_buf_puts(&b, ", ");
				mig_buf_puts(&b, skipped.v[i]->name);
			}
			if (skipped.n > 20)
				mig_buf_printf(&b, ", ... (%zu files)", skipped.n);
			mig_buf_puts(&b, skipped.n == 1 ? " was added out of order." : " were added out of order.");
			mig_buf_puts(&b, " See: https://atlasgo.io/versioned/apply#non-linear-error");
			rc = mig_err_set(err, MIG_EHISTORY, "%s", b.data ? b.data : "migration files were added out of order");
			mig_err_hint(err, "Rename the file to a version after the last applied one, or apply with "
						 "exec_order non_linear (run them now) or linear_skip (skip them).");
			mig_buf_free(&b);
			goto done;
		}
		for (i = 0; i < skipped.n; i++)
			if (push(out, skipped.v[i]) != MIG_OK)
				goto oom;
	}
	for (i = idx; i < nmig; i++)
		if (push(out, mig[i]) != MIG_OK)
			goto oom;
	goto done;
oom:
	rc = mig_err_set(err, MIG_ENOMEM, "out of memory");
done:
	mig_plan_free(&skipped);
	mig_free(mig);
	return rc;
}

int
mig_plan_find_target(const mig_file *files, size_t n, const char *target,
					 size_t *idx, mig_err *err)
{
	size_t		i,
				tl = strlen(target);
	const char *suggest = NULL;
	long		found = -1;

	for (i = 0; i < n; i++)
		if (strcmp(files[i].version, target) == 0)
			found = (long) i;
	if (found >= 0)
	{
		*idx = (size_t) found;
		return MIG_OK;
	}
	/* §g.7: suggestion from the last file for which the rule holds */
	if (tl > 0)
		for (i = 0; i < n; i++)
		{
			const char *v = files[i].version;
			size_t		vl = strlen(v);

			if ((vl > 0 && strstr(target, v) != NULL) || (vl >= tl + 2 && strstr(v, target) != NULL))
				suggest = v;
		}
	if (suggest)
		return mig_err_set(err, MIG_ENOTFOUND,
						   "sql/migrate: migration with version \"%.200s\" not found. Did you mean \"%.200s\"?",
						   target, suggest);
	return mig_err_set(err, MIG_ENOTFOUND, "sql/migrate: migration with version \"%.200s\" not found", target);
}
