"""Both hosts compared: the same migration directories and calls applied in
SQLite and in PostgreSQL must leave the same run rows (status, dry_run,
versions, file counts, error modulo the database's own wording) and the same
atlas_migrate_status() rows.  A difference is a bug in one host (or, where
it is the databases' own, said so below).

Run by tests/cross/run.sh (root, a throwaway cluster); without a cluster
every test is skipped, saying why.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "sqlite"))
from hosts import EXT, PgHost, SqliteHost, pg_available  # noqa: E402
from tap import check, eq, run, scratch, skip  # noqa: E402

WORK = scratch()
WHY_NO_PG = pg_available()

T = "CREATE TABLE t (x integer);\n"
THREE = {"1_create.sql": T, "2_first.sql": "INSERT INTO t VALUES (1);\n",
         "3_second.sql": "INSERT INTO t VALUES (2);\n"}
# file 2 of 3 fails at its second statement: both databases reject it
FAIL2 = {"1_create.sql": T,
         "2_broken.sql": "INSERT INTO t VALUES (1);\nINSERT INTO missing_table VALUES (1);\n",
         "3_after.sql": "INSERT INTO t VALUES (3);\n"}
BASE = {"1_create.sql": T, "2_u.sql": "CREATE TABLE u (x integer);\n",
        "3_fill.sql": "INSERT INTO u VALUES (1);\nINSERT INTO u VALUES (2);\n"}
CKPT = {"1_create.sql": T, "2_first.sql": "INSERT INTO t VALUES (1);\n",
        "3_checkpoint.sql": "-- atlas:checkpoint\n\nCREATE TABLE t (x integer);\nINSERT INTO t VALUES (1);\n",
        "4_second.sql": "INSERT INTO t VALUES (2);\n"}
CKPT5 = dict(CKPT, **{"5_third.sql": "INSERT INTO t VALUES (3);\n"})
SKIP13 = {"1_create.sql": T, "3_second.sql": "INSERT INTO t VALUES (2);\n"}
SKIP123 = dict(SKIP13, **{"2_late.sql": "INSERT INTO t VALUES (1);\n"})

RUN_COLS = ("status", "dry_run", "from_version", "to_version", "target_version",
            "files_applied", "files_pending", "error")
STATUS_COLS = ("version", "description", "name", "status", "applied", "total")

# The databases' own messages for the same fault (DESIGN §6.20: the error
# column holds the database's text): inherent, so compared as <db>.
DB_WORDING = [
    re.compile(r"no such table: missing_table"),              # SQLite
    re.compile(r'relation "missing_table" does not exist'),    # PostgreSQL
]


def norm_error(text):
    if text is None:
        return None
    for rx in DB_WORDING:
        text = rx.sub("<db: missing_table>", text)
    return text


def run_view(rows):
    out = []
    for r in rows:
        v = {c: r.get(c) for c in RUN_COLS}
        v["dry_run"] = bool(v["dry_run"])
        v["error"] = norm_error(v["error"])
        v["finished"] = r.get("finished_at") is not None
        v["has_log"] = bool(r.get("log"))
        v["has_report"] = r.get("report") is not None
        out.append(v)
    return out


def status_view(rows):
    return [dict({c: r.get(c) for c in STATUS_COLS}, error=bool(r.get("error"))) for r in rows]


def outcome_view(outcome):
    kind, val = outcome
    if kind == "error":
        # the first line: the error message (SQLite adds detail and hint lines)
        return kind, norm_error(val.split("\n")[0])
    return kind, val.get("Status")


def play(host, name, files, steps, extra=""):
    """Run the steps in a fresh database: ("apply", opts) | ("rewrite", files)."""
    host.setup(name, files, extra)
    outcomes = []
    for step, arg in steps:
        if step == "apply":
            outcomes.append(outcome_view(host.apply(arg)))
        else:
            host.rewrite_dir(arg)
    return {"outcomes": outcomes, "runs": run_view(host.runs()), "status": status_view(host.status()),
            "revisions": revision_view(host)}


def revision_view(host):
    try:
        rows = host.revisions()
    except Exception:  # noqa: BLE001 - no revisions table (a dry run)
        return None
    return [{"version": r["version"], "description": r["description"], "type": r["type"],
             "applied": r["applied"], "total": r["total"], "error": norm_error(r["error"]) or "",
             "error_stmt": r["error_stmt"] or "", "hash": r["hash"]}
            for r in rows if not r["version"].startswith(".")]


def compare(name, files, steps, extra="", want=None):
    """Both hosts, the same steps; equal views, and (want) what they must be."""
    if WHY_NO_PG:
        skip(WHY_NO_PG)
    s = play(SqliteHost(WORK), name, files, steps, extra)
    p = play(PgHost(WORK), name, files, steps, extra)
    for part in ("outcomes", "runs", "status", "revisions"):
        eq(s[part], p[part], "%s: %s, SQLite (got) against PostgreSQL (want)" % (name, part))
    if want:
        want(s)
    return s


def runs_of(view, *cols):
    return [tuple(r[c] for c in cols) for r in view["runs"]]


def status_of(view):
    return [(r["version"], r["status"], r["applied"], r["total"], r["error"]) for r in view["status"]]


def test_success_then_nothing_to_do():
    def want(v):
        eq(v["outcomes"], [("ok", "succeeded"), ("ok", "nothing_to_do")], "outcomes")
        eq(runs_of(v, "status", "from_version", "to_version", "target_version", "files_applied", "files_pending"),
           [("succeeded", None, "3", "3", 3, 3), ("nothing_to_do", "3", "3", None, 0, 0)], "run rows")
        eq(status_of(v), [("1", "applied", 1, 1, False), ("2", "applied", 1, 1, False),
                          ("3", "applied", 1, 1, False)], "status")
    compare("success", THREE, [("apply", {}), ("apply", {})], want=want)


def test_failure_in_file_2_of_3():
    def want(v):
        eq(v["outcomes"][0][0], "error", "the call fails")
        check("<db: missing_table>" in v["outcomes"][0][1], "the database's message: %r" % (v["outcomes"],))
        r = v["runs"][0]
        eq((r["status"], r["from_version"], r["to_version"], r["target_version"], r["files_applied"], r["files_pending"]),
           ("failed", None, "1", "3", 1, 3), "run row")
        check(r["error"] and "<db: missing_table>" in r["error"], "run error: %r" % r["error"])
        # tx_mode file: the failed file rolled back, its error row applied nothing
        eq(status_of(v), [("1", "applied", 1, 1, False), ("2", "failed", 0, 2, True),
                          ("3", "pending", 0, 1, False)], "status")
    compare("failure", FAIL2, [("apply", {})], want=want)


def test_dry_run():
    def want(v):
        eq(runs_of(v, "status", "dry_run", "from_version", "to_version", "target_version", "files_applied",
                   "files_pending"),
           [("succeeded", True, None, None, "3", 0, 3),
            ("succeeded", False, None, "1", "1", 1, 1),
            ("succeeded", True, "1", "1", "3", 0, 2)], "run rows")
        eq(status_of(v), [("1", "applied", 1, 1, False), ("2", "pending", 0, 1, False),
                          ("3", "pending", 0, 1, False)], "status")
    compare("dryrun", THREE, [("apply", {"dry_run": True}), ("apply", {"amount": 1}),
                              ("apply", {"dry_run": True})], want=want)


def test_baseline():
    def want(v):
        eq(runs_of(v, "status", "from_version", "to_version", "target_version", "files_applied", "files_pending"),
           # the baseline row is written before execution: the run starts from it (§h.1 <CURRENT>)
           [("succeeded", "1", "3", "3", 2, 2)], "run rows")
        eq([(r["version"], r["status"]) for r in v["status"]],
           [("1", "baseline"), ("2", "applied"), ("3", "applied")], "status")
    compare("baseline", BASE, [("apply", {"baseline": "1"})], want=want)


def test_checkpoint():
    def want(v):
        eq(runs_of(v, "status", "from_version", "to_version", "target_version", "files_applied", "files_pending"),
           [("succeeded", None, "4", "4", 2, 2), ("succeeded", "4", "5", "5", 1, 1)], "run rows")
        eq([(r["version"], r["status"]) for r in v["status"]],
           [("1", "skipped"), ("2", "skipped"), ("3", "applied"), ("4", "applied"), ("5", "applied")], "status")
    compare("checkpoint", CKPT, [("apply", {}), ("rewrite", CKPT5), ("apply", {})], want=want)


def test_exec_order_linear_skip():
    def want(v):
        eq(v["outcomes"], [("ok", "succeeded"), ("ok", "nothing_to_do")], "outcomes")
        eq([(r["version"], r["status"]) for r in v["status"]],
           [("1", "applied"), ("2", "skipped"), ("3", "applied")], "status")
    compare("linear_skip", SKIP13, [("apply", {}), ("rewrite", SKIP123), ("apply", {"exec_order": "linear_skip"})],
            extra='    exec_order = LINEAR_SKIP\n', want=want)


def test_tx_modes_all_and_none_failing_in_file_2():
    def want_all(v):
        r = v["runs"][0]
        eq((r["status"], r["to_version"], r["files_applied"], r["files_pending"]), ("failed", None, 0, 3), "run row")
        # the error row rolled back with the run (§g.5): the run row holds the error
        eq(status_of(v), [("1", "pending", 0, 1, False), ("2", "pending", 0, 2, False),
                          ("3", "pending", 0, 1, False)], "status")
        check(r["error"] and "<db: missing_table>" in r["error"], "run error: %r" % r["error"])
    compare("txall", FAIL2, [("apply", {"tx_mode": "all"})], want=want_all)

    def want_none(v):
        r = v["runs"][0]
        # no transaction: file 2's first statement stays, with its partial revision
        # row, so the database reached (part of) version 2 while 1 file completed
        eq((r["status"], r["to_version"], r["files_applied"], r["files_pending"]), ("failed", "2", 1, 3), "run row")
        eq(status_of(v), [("1", "applied", 1, 1, False), ("2", "failed", 1, 2, True),
                          ("3", "pending", 0, 1, False)], "status")
    compare("txnone", FAIL2, [("apply", {"tx_mode": "none"})], want=want_none)


if __name__ == "__main__":
    if not os.path.exists(EXT + ".so"):
        print("1..0 # SKIP %s.so not built" % EXT)
        sys.exit(1)
    if WHY_NO_PG:
        print("# " + "#" * 64)
        print("# PostgreSQL not available, every cross-host test is SKIPPED: " + WHY_NO_PG)
        print("# " + "#" * 64)
    sys.exit(run([v for k, v in list(globals().items()) if k.startswith("test_")]))
