/*
 * split_bench.c - the splitter alone over one file: prints
 * "<bytes> <statements> <seconds>" for the fastest of N runs.
 * Used by tests/bench/bench.py for the `split` workload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mig.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	FILE	   *f;
	char	   *buf;
	long		len;
	int			runs = argc > 2 ? atoi(argv[2]) : 3,
				i;
	double		best = 1e9;
	size_t		n = 0;

	if (argc < 2 || (f = fopen(argv[1], "rb")) == NULL)
	{
		fprintf(stderr, "usage: split_bench FILE [RUNS]\n");
		return 2;
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t) len + 1);
	if (buf == NULL || fread(buf, 1, (size_t) len, f) != (size_t) len)
		return 2;
	fclose(f);
	for (i = 0; i < runs; i++)
	{
		mig_stmts	s = {0};
		mig_err		err;
		double		t0 = now(),
					t;

		if (mig_lex_split(buf, (size_t) len, MIG_LEX_POSTGRES, &s, &err) != MIG_OK)
		{
			fprintf(stderr, "split: %s\n", err.msg);
			return 1;
		}
		t = now() - t0;
		if (t < best)
			best = t;
		n = s.n;
		mig_stmts_free(&s);
	}
	printf("%ld %zu %.6f\n", len, n, best);
	free(buf);
	return 0;
}
