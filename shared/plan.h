/*
 * plan.h - pending-file computation (§g.2, §g.3, §g.7).  Knows nothing of
 * PostgreSQL or SQLite.
 *
 * Internal to the core: included by plan.c, apply.c and run.c (and the core
 * tests), never by a host.  A host gets plans only through mig_run() and
 * mig_status() (run.h); the headers a host includes are mig.h, db.h,
 * engine.h and run.h.  `make lint` checks that no host file includes this one or cloud.h.
 */
#ifndef MIG_PLAN_H
#define MIG_PLAN_H

#include "engine.h"

/* An ordered list of files (pointers into a mig_dir). */
typedef struct mig_plan {
	const mig_file **v;
	size_t		n;
	size_t		cap;
} mig_plan;

void		mig_plan_free(mig_plan *p);

/*
 * §g.2 step 2 without the database part: a fresh target.  With baseline
 * set, *base is the baseline file (the last non-checkpoint file with that
 * version) and pending the files after it; otherwise the last checkpoint
 * and what follows it, or every file.
 */
int			mig_plan_fresh(const mig_file *files, size_t n, const char *baseline,
						   const mig_file **base, mig_plan *out, mig_err *err);

/* §g.2 steps 3-5: revisions exist (revs->n > 0, ascending by version). */
int			mig_plan_pending(const mig_file *files, size_t n, const mig_revs *revs,
							 mig_exec_order order, mig_plan *out, mig_err *err);

/*
 * §g.7 step 1: index of the last file in files with version T, or an
 * MIG_ENOTFOUND error with Atlas's "Did you mean" suggestion.
 */
int			mig_plan_find_target(const mig_file *files, size_t n, const char *target,
								 size_t *idx, mig_err *err);

#endif
