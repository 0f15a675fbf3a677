"""SQLite: lock-safe DDL (issue 11), statement_lock_timeout and lock_retries.

SQLite has no lock queue, but another connection's write transaction makes a
migration statement wait (busy).  With the options, each statement waits at
most statement_lock_timeout; then the file is rolled back and runs again
after a pause (lock_retries more times), and the report and the run row say
how often and how long.

The migration files call hook(), a function this test registers on the
migrating connection, so the scenario follows the run's attempts instead of
the clock: on the first attempt of the file the other connection takes its
write lock (and hook returns only once it holds it), on the third attempt it
releases it.  So exactly two attempts are given up and retried.
"""
import json
import os
import re
import shutil
import sqlite3
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import ROOT, check, contains, eq, run, scratch, write_dir  # noqa: E402

EXT = os.path.join(ROOT, "build", "atlas_migrate")
TMP = scratch()
HCL = 'env "local" {\n  url = "sqlite://x"\n  migration {\n    dir = "file://%s"\n  }\n}\n'


class Holder:
    """Another connection that takes and releases a write lock when told."""

    def __init__(self, db):
        self.db = db
        self.cmd = []
        self.cv = threading.Condition()
        self.state = "idle"
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        con = sqlite3.connect(self.db, isolation_level=None, check_same_thread=False)
        while True:
            with self.cv:
                while not self.cmd:
                    self.cv.wait()
                c = self.cmd.pop(0)
            if c == "lock":
                con.execute("BEGIN IMMEDIATE")
            elif c == "release":
                con.execute("ROLLBACK")
            elif c == "stop":
                con.close()
            with self.cv:
                self.state = c
                self.cv.notify_all()
            if c == "stop":
                return

    def do(self, c):
        with self.cv:
            self.cmd.append(c)
            self.cv.notify_all()
            while self.state != c:
                self.cv.wait()


def setup(name, files):
    d = os.path.join(TMP, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    migs = write_dir(os.path.join(d, "migrations"), files)
    db = os.path.join(d, "test.db")
    con = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    con.enable_load_extension(True)
    con.load_extension(EXT)
    con.execute("SELECT atlas_config_set(?)", (HCL % migs,))
    return con, db


def test_a_busy_statement_rolls_its_file_back_and_runs_it_again():
    files = {
        "1_a.sql": "CREATE TABLE a (x integer);\n",
        "2_b.sql": "SELECT hook();\nCREATE TABLE b (x integer);\nINSERT INTO b VALUES (1);\n",
    }
    con, db = setup("file", files)
    holder = Holder(db)
    attempts = []

    def hook():
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            holder.do("lock")       # held before the file's first write
        elif len(attempts) == 3:
            holder.do("release")
        return len(attempts)

    con.create_function("hook", 0, hook)
    rep = json.loads(con.execute(
        "SELECT atlas_migrate_apply('local', ?)",
        (json.dumps({"statement_lock_timeout": "100ms", "lock_retries": 5, "lock_timeout": "30s"}),)).fetchone()[0])
    holder.do("stop")
    eq(attempts, [1, 2, 3], "the file ran three times")
    eq(rep["Status"], "succeeded", "status")
    check("Error" not in rep, "no error: %s" % rep.get("Error"))
    eq(rep["LockRetries"], 2, "retries in the report")
    m = re.match(r"^(\d+(?:\.\d+)?)ms$", rep["LockWait"])
    check(m and float(m.group(1)) >= 150, "two busy waits of about 100ms each: %s" % rep["LockWait"])
    check(rep["LockPause"] not in ("", "0s"), "pauses between attempts: %s" % rep["LockPause"])
    log = rep["Log"]
    contains(log, "lock timeout (retry 1 of 5): version 2, statement \"CREATE TABLE b (x integer);\"", "log")
    contains(log, "the database's write lock, held by another connection's transaction", "log")
    contains(log, "lock timeout (retry 2 of 5)", "log")
    check("retry 3 of" not in log, "no third retry:\n" + log)
    contains(log, "-- 2 migrations", "footer counts each file once")
    contains(log, "-- 4 sql statements", "footer counts the statements of the last attempt")
    eq(con.execute("SELECT x FROM b").fetchall(), [(1,)], "the file applied once")
    eq(con.execute("SELECT version, applied, total, error FROM atlas_schema_revisions ORDER BY version").fetchall(),
       [("1", 1, 1, ""), ("2", 3, 3, "")], "one revision row per file")
    eq(con.execute("SELECT status, files_applied, lock_retries, lock_wait_ms >= 150 FROM atlas_migrate_runs").fetchall(),
       [("succeeded", 2, 2, 1)], "run row")


def test_without_the_options_the_report_has_no_lock_members():
    con, db = setup("plain", {"1_a.sql": "CREATE TABLE a (x integer);\n"})
    rep = json.loads(con.execute("SELECT atlas_migrate_apply('local')").fetchone()[0])
    check("LockRetries" not in rep and "LockWait" not in rep, "Atlas's members only: %s" % sorted(rep))
    eq(con.execute("SELECT lock_retries, lock_wait_ms FROM atlas_migrate_runs").fetchall(), [(0, 0)], "run row")


def test_an_older_runs_table_gets_the_new_columns():
    d = os.path.join(TMP, "old")
    os.makedirs(d)
    db = os.path.join(d, "test.db")
    old = sqlite3.connect(db)
    old.execute("CREATE TABLE atlas_migrate_runs (id integer PRIMARY KEY, env text NOT NULL, dir text, "
                "started_at text NOT NULL, finished_at text, status text NOT NULL, "
                "dry_run integer NOT NULL DEFAULT 0, from_version text, to_version text, "
                "files_applied integer NOT NULL DEFAULT 0, error text, log text, report json, "
                "deployment_url text, cloud_report text, cloud_error text, pid integer)")
    old.commit()
    old.close()
    migs = write_dir(os.path.join(d, "migrations"), {"1_a.sql": "CREATE TABLE a (x integer);\n"})
    con = sqlite3.connect(db, isolation_level=None)
    con.enable_load_extension(True)
    con.load_extension(EXT)
    con.execute("SELECT atlas_config_set(?)", (HCL % migs,))
    con.execute("SELECT atlas_migrate_apply('local', '{\"lock_retries\": 3}')").fetchone()
    eq(con.execute("SELECT status, lock_retries, lock_wait_ms FROM atlas_migrate_runs").fetchall(),
       [("succeeded", 0, 0)], "run row in the upgraded table")


if __name__ == "__main__":
    if not os.path.exists(EXT + ".so"):
        print("1..0 # SKIP %s.so not built" % EXT)
        sys.exit(1)
    sys.exit(run([v for k, v in list(globals().items()) if k.startswith("test_")]))
