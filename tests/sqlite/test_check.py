"""The pre-flight check in the SQLite host (issue 15): atlas_migrate_check
returns one JSON object per pending statement; statements that drop data
(DROP TABLE, ALTER TABLE ... DROP COLUMN, DELETE and UPDATE without WHERE)
are findings, unless their table is new in the same pending set; locks and
rewrites are "not supported" (null), never guessed.  A dry run reports the
findings, and preflight refuses a run before anything ran.
"""
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import ROOT, check, contains, eq, run, scratch  # noqa: E402
from test_input_faults import setup  # noqa: E402

TMP = scratch()

FILES = {
    "1_new.sql": "CREATE TABLE fresh (id int, v int);\n"
                 "DELETE FROM fresh;\n"
                 "UPDATE fresh SET v = 1;\n"
                 "ALTER TABLE fresh DROP COLUMN v;\n"
                 "DROP TABLE fresh;\n",
    "2_destroy.sql": "UPDATE orders SET note = 'x';\n"
                     "UPDATE orders SET note = 'y' WHERE id = 1;\n"
                     "DELETE FROM customers WHERE id > 100;\n"
                     "DELETE FROM \"customers\" -- all of them\n;\n"
                     "ALTER TABLE orders DROP COLUMN code;\n"
                     "WITH c AS (SELECT 1) DELETE FROM orders;\n"
                     "DROP TABLE IF EXISTS main.customers;\n"
                     "CREATE INDEX orders_note ON orders (note);\n",
}


def seeded(name):
    con = setup(name, FILES)
    con.execute("CREATE TABLE orders (id int PRIMARY KEY, note text, code text)")
    con.execute("CREATE TABLE customers (id int PRIMARY KEY)")
    con.execute("INSERT INTO orders VALUES (1, 'a', 'c'), (2, 'b', 'c')")
    con.execute("INSERT INTO customers VALUES (1)")
    return con


def check_json(con, opts=None):
    if opts is None:
        return json.loads(con.execute("SELECT atlas_migrate_check('local')").fetchone()[0])
    return json.loads(con.execute("SELECT atlas_migrate_check('local', ?)",
                                  (json.dumps(opts),)).fetchone()[0])


def test_rows_and_findings():
    con = seeded("rows")
    out = check_json(con, {"allow_dirty": True})
    rows = out["Statements"]
    eq(len(rows), 13, "one row per pending statement")
    eq([(r["File"], r["Statement"]) for r in rows][:2], [("1_new.sql", 1), ("1_new.sql", 2)], "order")
    found = [(r["File"], r["Statement"], r["Relations"], r["Severity"]) for r in rows if r["Severity"]]
    eq(found, [
        ("2_destroy.sql", 1, ["orders"], "warning"),
        ("2_destroy.sql", 4, ['"customers"'], "warning"),
        ("2_destroy.sql", 5, ["orders"], "warning"),
        ("2_destroy.sql", 6, ["orders"], "warning"),
        ("2_destroy.sql", 7, ["main.customers"], "warning"),
    ], "findings: statements that drop data of existing tables, none for the new one")
    eq(out["Findings"], 5, "count")
    for r in rows:
        eq((r["Lock"], r["Rewrites"], r["Scans"], r["Rows"], r["Bytes"]), (None,) * 5,
           "no lock analysis in SQLite: null, not a guess")
        eq(r["Destructive"], r["Severity"] is not None, "destructive iff a finding")
    contains(rows[0]["Text"], "CREATE TABLE fresh")
    eq(rows[5]["Advice"], "updates every row: no WHERE clause", "advice")
    check("Lock" in out["NotSupported"] and "Rewrites" in out["NotSupported"], "says what is not supported")
    # read-only: nothing applied, no revisions table, no run row
    eq(con.execute("SELECT count(*) FROM sqlite_master WHERE name IN ('fresh', 'atlas_schema_revisions')").fetchone()[0],
       0, "nothing written")
    eq(con.execute("SELECT count(*) FROM atlas_migrate_runs").fetchone()[0], 0, "no run row")
    eq(con.execute("SELECT count(*) FROM orders").fetchone()[0], 2, "rows kept")


def test_selection_options():
    con = seeded("select")
    eq(len(check_json(con, {"allow_dirty": True, "amount": 1})["Statements"]), 5, "amount 1: file 1")
    eq(check_json(con, {"allow_dirty": True, "amount": 1})["Findings"], 0, "file 1 alone: no findings")
    try:
        check_json(con)
        raise AssertionError("a dirty database without allow_dirty must fail as a dry run does")
    except sqlite3.Error as e:
        contains(str(e), "connected database is not clean")
    try:
        check_json(con, {"allow_dirty": True, "to_version": "9"})
        raise AssertionError("unknown to_version must fail")
    except sqlite3.Error as e:
        contains(str(e), 'migration with version "9" not found')


def test_dry_run_reports_findings():
    con = seeded("dry")
    rep = json.loads(con.execute("SELECT atlas_migrate_apply('local', ?)",
                                 (json.dumps({"dry_run": True, "allow_dirty": True}),)).fetchone()[0])
    eq(len(rep["Findings"]), 5, "the same findings in the report")
    eq(rep["Findings"][0]["File"], "2_destroy.sql", "file")
    eq(sum(1 for l in rep["Log"].split("\n") if l.startswith("  -- preflight: ")), 5, "and in the log")


def test_preflight_refuses():
    con = seeded("refuse")
    try:
        con.execute("SELECT atlas_migrate_apply('local', ?)",
                    (json.dumps({"preflight": "warning", "allow_dirty": True}),))
        raise AssertionError("preflight warning must refuse")
    except sqlite3.Error as e:
        msg = str(e)
    contains(msg, 'pre-flight check refused the run: 5 findings at or above severity "warning"')
    contains(msg, "2_destroy.sql statement 1: warning: orders, drops data: updates every row: no WHERE clause")
    row = con.execute("SELECT status, files_applied, error, report FROM atlas_migrate_runs").fetchone()
    eq(row[:2], ("failed", 0), "a failed run row, nothing applied")
    contains(row[2], "pre-flight check refused the run")
    eq(len(json.loads(row[3])["Findings"]), 5, "the findings kept in the run's report")
    eq(con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'fresh'").fetchone()[0], 0,
       "nothing ran, not even file 1")
    eq(con.execute("SELECT count(*) FROM orders").fetchone()[0], 2, "rows kept")
    # error: above every finding here, so the run goes on
    rep = json.loads(con.execute("SELECT atlas_migrate_apply('local', ?)",
                                 (json.dumps({"preflight": "error", "allow_dirty": True}),)).fetchone()[0])
    eq(rep["Status"], "succeeded", "preflight error with only warnings")
    eq(len(rep["Findings"]), 5, "the findings are reported")
    eq(con.execute("SELECT count(*) FROM orders").fetchone()[0], 0, "and the migrations ran")


if __name__ == "__main__":
    rc = run([v for k, v in list(globals().items()) if k.startswith("test_")])
    sys.exit(rc)
