"""A run followed while it goes, and killed mid-way, in both hosts.

Each file after the first waits on a gate the test holds (SQLite: a function
of the applying process that waits for a file to appear; PostgreSQL: an
advisory lock held by another session).  Another connection polls the run
row: after each file commits it shows files_applied, to_version and the log
so far.  Then the run is killed inside file 3 (SQLite: kill -9 of the
process; PostgreSQL: two SIGTERMs to the worker while its failure record
waits on a row lock the test holds, so the cluster stays up and the worker
records nothing): the row still says how far it got, and the next call
marks it failed (interrupted) and applies the rest.

Run by tests/cross/run.sh (root, a throwaway cluster); the SQLite half runs
without a cluster.
"""
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "sqlite"))
from hosts import EXT, PgHost, SqliteHost, lit, pg_available  # noqa: E402
from tap import check, contains, eq, run, scratch, skip, wait_for  # noqa: E402

WORK = scratch()
WHY_NO_PG = pg_available()


def check_row(row, files_applied, to_version, status="running"):
    eq((row["status"], row["files_applied"], row["to_version"], row["target_version"], row["files_pending"]),
       (status, files_applied, to_version, "4", 4), "run row")
    # the counters follow every file; the stored log is refreshed with them
    # at most once a second (README), and always after the first file
    log = row["log"] or ""
    contains(log, "-- migrating version 1\n", "the log so far")
    check("-- migrating version %d\n" % (files_applied + 2) not in log,
          "the log holds no file after the next one: %r" % log)


# ---------------------------------------------------------------- SQLite

SQLITE_FILES = {
    "1_create.sql": "CREATE TABLE t (x integer);\n",
    "2_gate.sql": "INSERT INTO t SELECT gate('2');\n",
    "3_gate.sql": "INSERT INTO t SELECT gate('3');\n",
    "4_last.sql": "INSERT INTO t VALUES (4);\n",
}

# the applying process: gate(n) marks "n.waiting", then waits for "n.open"
CHILD = r"""
import os, sqlite3, sys, time
gates, db, ext = sys.argv[1], sys.argv[2], sys.argv[3]
def gate(n):
    open(os.path.join(gates, n + ".waiting"), "w").close()
    while not os.path.exists(os.path.join(gates, n + ".open")):
        time.sleep(0.01)
    return int(n)
con = sqlite3.connect(db, isolation_level=None)
con.enable_load_extension(True)
con.load_extension(ext)
con.create_function("gate", 1, gate)
print(con.execute("SELECT atlas_migrate_apply('local')").fetchone()[0])
"""


def test_sqlite_progress_then_kill_9():
    h = SqliteHost(WORK).setup("progress", SQLITE_FILES)
    h.con.close()
    gates = os.path.join(WORK, "sqlite-gates")
    os.makedirs(gates)
    child = subprocess.Popen(["/usr/bin/python3", "-c", CHILD, gates, h.db, EXT],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        waiting = lambda n: os.path.exists(os.path.join(gates, n + ".waiting"))  # noqa: E731
        wait_for("file 2 waiting at its gate", lambda: waiting("2") or child.poll() is not None)
        if child.poll() is not None:
            raise AssertionError("the applying process ended early: %r" % (child.communicate(),))
        # another connection: file 1 committed, the row says so
        check_row(h.runs()[0], 1, "1")
        open(os.path.join(gates, "2.open"), "w").close()
        wait_for("file 3 waiting at its gate", lambda: waiting("3"))
        wait_for("the row after file 2", lambda: h.runs()[0]["files_applied"] == 2)
        check_row(h.runs()[0], 2, "2")
        # killed inside file 3
        child.send_signal(signal.SIGKILL)
        child.wait()
        row = h.runs()[0]
        check_row(row, 2, "2")
        eq(row["finished_at"], None, "finished_at")
        eq([r["x"] for r in h.query("SELECT x FROM t ORDER BY x")], [2], "file 3 rolled back")
        # the next call: the dead run is marked failed, the rest applies
        open(os.path.join(gates, "3.open"), "w").close()
        con = h.connect()
        con.create_function("gate", 1, lambda n: int(n))
        kind, rep = h.apply(con=con)
        eq((kind, rep.get("Status") if kind == "ok" else rep), ("ok", "succeeded"), "the next call")
        rows = h.runs()
        check_row(rows[0], 2, "2", status="failed")
        contains(rows[0]["error"], "interrupted: the process running it ended before the run finished")
        check(rows[0]["finished_at"] is not None, "finished_at set by the next call")
        eq((rows[1]["status"], rows[1]["from_version"], rows[1]["to_version"], rows[1]["files_applied"]),
           ("succeeded", "2", "4", 2), "the next run")
        eq([r["x"] for r in h.query("SELECT x FROM t ORDER BY x")], [2, 3, 4], "every file once")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


# ---------------------------------------------------------------- PostgreSQL

PG_FILES = {
    "1_create.sql": "CREATE TABLE t (x integer);\n",
    "2_gate.sql": "SELECT pg_advisory_xact_lock_shared(7702);\nINSERT INTO t VALUES (2);\n",
    "3_gate.sql": "SELECT pg_advisory_xact_lock_shared(7703);\nINSERT INTO t VALUES (3);\n",
    "4_last.sql": "INSERT INTO t VALUES (4);\n",
}


class Session:
    """A psql session the test keeps open, fed line by line."""

    def __init__(self, db, app):
        env = dict(os.environ, PGAPPNAME=app)
        self.p = subprocess.Popen(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, text=True, env=env)

    def send(self, sql):
        self.p.stdin.write(sql + "\n")
        self.p.stdin.flush()

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def one(h, sql):
    rows = h.query(sql)
    return list(rows[0].values())[0] if rows else None


def test_postgres_progress_then_killed_worker():
    if WHY_NO_PG:
        skip(WHY_NO_PG)
    h = PgHost(WORK).setup("progress", PG_FILES)
    gate = Session(h.dbname, "gate")
    rowlock = Session(h.dbname, "rowlock")
    caller = None
    try:
        gate.send("SELECT pg_advisory_lock(7702), pg_advisory_lock(7703);")
        wait_for("the gate session holding both locks", lambda: one(
            h, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'gate' "
               "AND l.locktype = 'advisory' AND l.objid IN (7702, 7703) AND l.granted") == 2)
        caller = subprocess.Popen(["psql", "-X", "-q", "-At", "-d", h.dbname, "-c",
                                   "SELECT atlas_migrate_apply('local')"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        waits_on = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %d AND NOT granted"
        wait_for("the worker waiting at file 2's gate",
                 lambda: one(h, waits_on % 7702) == 1 or caller.poll() is not None)
        if caller.poll() is not None:
            raise AssertionError("the call ended early: %r" % (caller.communicate(),))
        check_row(h.runs()[0], 1, "1")
        gate.send("SELECT pg_advisory_unlock(7702);")
        wait_for("the worker waiting at file 3's gate", lambda: one(h, waits_on % 7703) == 1)
        check_row(h.runs()[0], 2, "2")
        worker = one(h, "SELECT worker_pid FROM atlas_migrate_runs WHERE id = 1")
        # the failure record of the stopped run waits on this row lock ...
        rowlock.send("BEGIN; SELECT 1 FROM atlas_migrate_runs WHERE id = 1 FOR UPDATE;")
        wait_for("the row lock", lambda: one(
            h, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rowlock' AND state = 'idle in transaction'") == 1)
        h.psql("SELECT pg_terminate_backend(%d)" % worker, check=True)
        wait_for("the stopped worker waiting to record its failure", lambda: one(
            h, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND wait_event_type = 'Lock'" % worker) == 1)
        # ... and a second SIGTERM ends the worker there: nothing more is recorded
        h.psql("SELECT pg_terminate_backend(%d)" % worker, check=True)
        wait_for("the worker gone", lambda: one(h, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d" % worker) == 0)
        rowlock.send("ROLLBACK;")
        out, err = caller.communicate(timeout=30)
        check(caller.returncode != 0, "the caller got an error: %r" % ((out, err),))
        wait_for("the row lock released", lambda: one(
            h, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rowlock' AND state = 'idle'") == 1)
        row = h.runs()[0]
        check_row(row, 2, "2")
        eq(row["finished_at"], None, "finished_at")
        eq([r["x"] for r in h.query("SELECT x FROM t ORDER BY x")], [2], "file 3 rolled back")
        # the next call marks it failed and applies the rest
        gate.send("SELECT pg_advisory_unlock(7703);")
        wait_for("the gate open", lambda: one(
            h, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7703") == 0)
        kind, rep = h.apply()
        eq((kind, rep.get("Status") if kind == "ok" else rep), ("ok", "succeeded"), "the next call")
        rows = h.runs()
        check_row(rows[0], 2, "2", status="failed")
        eq(rows[0]["error"], "interrupted: migration worker (PID %d) exited before the run finished" % worker, "error")
        check(rows[0]["finished_at"] is not None, "finished_at set by the next call")
        eq((rows[1]["status"], rows[1]["from_version"], rows[1]["to_version"], rows[1]["files_applied"]),
           ("succeeded", "2", "4", 2), "the next run")
        eq([r["x"] for r in h.query("SELECT x FROM t ORDER BY x")], [2, 3, 4], "every file once")
    finally:
        gate.close()
        rowlock.close()
        if caller and caller.poll() is None:
            caller.kill()
            caller.wait()


if __name__ == "__main__":
    if not os.path.exists(EXT + ".so"):
        print("1..0 # SKIP %s.so not built" % EXT)
        sys.exit(1)
    sys.exit(run([v for k, v in list(globals().items()) if k.startswith("test_")]))
