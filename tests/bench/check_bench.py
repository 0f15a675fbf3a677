"""make bench, the pre-flight check (issue 15): what atlas_migrate_check costs
on the n1000 directory (1000 files, 3000 statements), in PostgreSQL:

  new       a fresh database: every table is new in the pending set
  existing  the n1000 tables exist (applied), and 1000 more files each index
            one of them: every statement is a catalog lookup with sizes
  dry_run   atlas_migrate_apply(dry_run => true) on the fresh database, which
            runs the same check in the worker (for comparison)

Median of 5 rounds, psql -c timing (connection included).  Writes
results/bench_check.md and prints it.
"""
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
from bench import Cluster, gen_dir, nfiles, sql_quote, timed, version  # noqa: E402

ROUNDS = 3 if bench.QUICK else 5


def q(cl, db, sql):
    t, out = timed(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c",
                    "SET client_min_messages = warning; " + sql], env=cl.env)
    return t, out.strip()


def main():
    if os.getuid() != 0:
        print("check_bench: needs root (a throwaway cluster as postgres)", file=sys.stderr)
        return 0
    work = tempfile.mkdtemp(prefix="atlas_bench_check.")
    os.chmod(work, 0o755)
    n1000 = os.path.join(work, "n1000")
    gen_dir(n1000, nfiles(1000, "pg"))
    idx = os.path.join(work, "idx1000")
    gen_dir(idx, nfiles(1000, "pg") + [("%s_i%d.sql" % (version(2000 + i), i),
                                        "CREATE INDEX ON t_%d (created_at);\n" % i) for i in range(1000)])
    cl = Cluster(work)
    times = {"new": [], "existing": [], "dry_run": []}
    try:
        cl.fresh("chk", True)
        hcl = ('env "bench" {\n  migration {\n    dir = "file://%s"\n  }\n}\n'
               'env "idx" {\n  migration {\n    dir = "file://%s"\n  }\n}\n') % (n1000, idx)
        cl.psql("chk", "SELECT atlas_config_set(%s)" % sql_quote(hcl))
        for _ in range(ROUNDS):
            t, out = q(cl, "chk", "SELECT count(*) FROM atlas_migrate_check('bench')")
            assert out == "3000", out
            times["new"].append(t)
            t, out = q(cl, "chk", "SELECT atlas_migrate_apply('bench', dry_run => true)->>'Status'")
            assert out == "succeeded", out
            times["dry_run"].append(t)
        # the n1000 tables, applied from the idx directory's first 1000 files
        _, out = q(cl, "chk", "SELECT atlas_migrate_apply('idx', amount => 1000)->>'Status'")
        assert out == "succeeded", out
        cl.psql("chk", "ANALYZE")
        for _ in range(ROUNDS):
            t, out = q(cl, "chk", "SELECT count(*) FILTER (WHERE severity = 'warning') FROM atlas_migrate_check('idx')")
            assert out == "1000", out
            times["existing"].append(t)
    finally:
        cl.stop()
    lines = ["# atlas_migrate_check on n1000 (PostgreSQL)", "",
             "Median seconds per call (%d rounds; psql -c, connection included)." % ROUNDS, "",
             "| case | statements | seconds |", "|---|---:|---:|",
             "| new: fresh database, every table new in the pending set | 3000 | %.3f |" % statistics.median(times["new"]),
             "| existing: 1000 CREATE INDEX on existing tables (catalog + sizes) | 1000 | %.3f |" % statistics.median(times["existing"]),
             "| dry_run => true on the fresh database (the check runs in the worker) | 3000 | %.3f |" % statistics.median(times["dry_run"])]
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.join(bench.ROOT, "results"), exist_ok=True)
    with open(os.path.join(bench.ROOT, "results", "bench_check.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
