"""The SQLite host end to end, through Debian's /usr/bin/python3 (which can load
extensions): apply, revisions, status, history, failures in each tx mode,
caller transactions, two processes, bad input, and Atlas's own fixtures
(read in place from the conformance folder).
"""
import json
import re
import os
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import (CONFORMANCE, EXT, ROOT, apply_error, atlas_sum, check, connect,  # noqa: E402
                 contains, eq, fresh_db, need_conformance, run, scratch, skip, wait_for, write_dir)
from tap import local_hcl as hcl  # noqa: E402

TMP = scratch()

FIVE = {
    "20240101000001_users.sql": "CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL);\n",
    "20240101000002_posts.sql": "CREATE TABLE posts (id integer PRIMARY KEY, user_id integer REFERENCES users(id));\n"
                                "CREATE INDEX posts_user ON posts (user_id);\n",
    "20240101000003_seed.sql": "INSERT INTO users (id, name) VALUES (1, 'ada');\nINSERT INTO users (id, name) VALUES (2, 'bob');\n",
    "20240101000004_tags.sql": "CREATE TABLE tags (id integer PRIMARY KEY, label text);\n",
    "20240101000005_view.sql": "CREATE VIEW user_posts AS\n  SELECT u.name, p.id FROM users u JOIN posts p ON p.user_id = u.id;\n",
}


def setup(name, files, extra=""):
    """A fresh database and a directory; returns (con, dbpath, dirpath)."""
    d = os.path.join(TMP, name)
    os.makedirs(d, exist_ok=True)
    dirpath = write_dir(os.path.join(d, "migrations"), files)
    dbpath = os.path.join(d, "test.db")
    con = fresh_db(dbpath, hcl(dirpath, extra=extra))
    return con, dbpath, dirpath


def apply(con, env="local", opts=None):
    if opts is None:
        row = con.execute("SELECT atlas_migrate_apply(?)", (env,)).fetchone()
    else:
        row = con.execute("SELECT atlas_migrate_apply(?, ?)", (env, json.dumps(opts))).fetchone()
    return json.loads(row[0])


def tables(con):
    return sorted(r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%'"))


def revs(con):
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute(
        "SELECT * FROM atlas_schema_revisions WHERE version <> '.atlas_cloud_identifier' ORDER BY version")]
    con.row_factory = None
    return rows


def runs(con):
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM atlas_migrate_runs ORDER BY id")]
    con.row_factory = None
    return rows


def sum_hashes(dirpath):
    out = {}
    with open(os.path.join(dirpath, "atlas.sum")) as f:
        for line in f.read().splitlines()[1:]:
            name, h = line.split(" h1:")
            out[name] = h
    return out


# ---------------------------------------------------------------- happy path

def test_apply_five_files_and_revision_rows():
    con, dbpath, dirpath = setup("five", FIVE)
    rep = apply(con)
    eq(rep["Status"], "succeeded", "status")
    eq(rep["Driver"], "sqlite3", "driver")
    eq(rep["Target"], "20240101000005", "target")
    eq(len(rep["Applied"]), 5, "applied files")
    eq(rep["Applied"][1]["Applied"], ["CREATE TABLE posts (id integer PRIMARY KEY, user_id integer REFERENCES users(id));",
                                      "CREATE INDEX posts_user ON posts (user_id);"], "statements of file 2")
    contains(rep["Log"], "Migrating to version 20240101000005 (5 migrations in total):\n")
    contains(rep["Log"], "  -- 5 migrations\n  -- 7 sql statements\n")
    eq(rep["Message"], "Migrated to version 20240101000005 from  (5 migrations in total)", "message")
    eq(tables(con), ["atlas_config", "atlas_migrate_runs", "atlas_schema_revisions", "posts", "tags",
                     "user_posts", "users"], "tables")
    # §f.2: exact column names, order and declared types
    cols = [(r[1], r[2], r[3], r[4], r[5]) for r in con.execute("PRAGMA table_info(atlas_schema_revisions)")]
    eq(cols, [("version", "TEXT", 1, None, 1), ("description", "TEXT", 1, None, 0),
              ("type", "INTEGER", 1, "2", 0), ("applied", "INTEGER", 1, "0", 0),
              ("total", "INTEGER", 1, "0", 0), ("executed_at", "datetime", 1, None, 0),
              ("execution_time", "INTEGER", 1, None, 0), ("error", "TEXT", 0, None, 0),
              ("error_stmt", "TEXT", 0, None, 0), ("hash", "TEXT", 1, None, 0),
              ("partial_hashes", "json", 0, None, 0), ("operator_version", "TEXT", 1, None, 0)],
       "revision columns")
    hashes = sum_hashes(dirpath)
    rows = revs(con)
    eq([r["version"] for r in rows], ["2024010100000%d" % i for i in range(1, 6)], "versions")
    for r, name in zip(rows, sorted(FIVE)):
        eq(r["description"], name.split("_", 1)[1][:-4], "description")
        eq(r["type"], 2, "type")
        eq(r["applied"], r["total"], "applied")
        eq(r["hash"], hashes[name], "hash of " + name)
        eq(r["error"], "", "error")
        eq(r["error_stmt"], "", "error_stmt")
        eq(bytes(r["partial_hashes"]), b"null", "partial_hashes")
        eq(r["operator_version"], "atlas_migrate v0.2.0", "operator_version")
        check(r["execution_time"] > 0, "execution_time")
        check(len(r["executed_at"]) >= 19 and r["executed_at"][10] == " ", "executed_at format " + r["executed_at"])
    eq([r["total"] for r in rows], [1, 2, 2, 1, 1], "totals")
    # partial_hashes is bound as a BLOB, as Atlas does
    eq(con.execute("SELECT DISTINCT typeof(partial_hashes) FROM atlas_schema_revisions").fetchall(), [("blob",)], "blob")
    # status agrees with the rows
    st = con.execute("SELECT version, name, status, applied, total FROM atlas_migrate_status('local')").fetchall()
    eq([(s[0], s[2], s[3], s[4]) for s in st], [(r["version"], "applied", r["applied"], r["total"]) for r in rows], "status")
    # second call: nothing to do
    rep = apply(con)
    eq(rep["Status"], "nothing_to_do", "status 2")
    eq(rep["Log"], "No migration files to execute\n", "log 2")
    h = runs(con)
    eq([r["status"] for r in h], ["succeeded", "nothing_to_do"], "run history")
    eq(h[0]["files_applied"], 5, "files_applied")
    eq(h[0]["to_version"], "20240101000005", "to_version")
    check(h[0]["finished_at"] is not None, "finished_at")
    contains(h[0]["log"], "-- migrating version 20240101000003")
    eq(json.loads(h[0]["report"])["Target"], "20240101000005", "stored report")


def test_status_pending_and_dry_run():
    con, dbpath, dirpath = setup("dry", FIVE)
    rep = apply(con, opts={"dry_run": True, "amount": 2})
    eq(rep["Status"], "succeeded", "dry status")
    eq([a["Version"] for a in rep["Applied"]], ["20240101000001", "20240101000002"], "dry files")
    eq(tables(con), ["atlas_config", "atlas_migrate_runs"], "dry run writes nothing but its run row")
    eq([r["dry_run"] for r in runs(con)], [1], "dry run row")
    apply(con, opts={"amount": 2})
    st = con.execute("SELECT status FROM atlas_migrate_status('local')").fetchall()
    eq([s[0] for s in st], ["applied", "applied", "pending", "pending", "pending"], "status")
    rep = apply(con, opts={"to_version": "20240101000004"})
    eq([a["Version"] for a in rep["Applied"]], ["20240101000003", "20240101000004"], "to_version")
    contains(rep["Log"], "Migrating to version 20240101000004 from 20240101000002 (2 migrations in total):")


# ---------------------------------------------------------------- failures

def test_file3_of_5_fails_then_resumes():
    files = dict(FIVE)
    files["20240101000003_seed.sql"] = "INSERT INTO users (id, name) VALUES (1, 'ada');\nINSERT INTO nope VALUES (2);\n"
    con, dbpath, dirpath = setup("fail3", files)
    err = apply_error(con)
    contains(err, 'sql/migrate: executing statement "INSERT INTO nope VALUES (2);" from version "20240101000003": no such table: nope')
    eq(tables(con), ["atlas_config", "atlas_migrate_runs", "atlas_schema_revisions", "posts", "users"], "tables")
    eq(con.execute("SELECT count(*) FROM users").fetchone()[0], 0, "file 3 rolled back")
    rows = revs(con)
    eq([(r["version"], r["applied"], r["total"]) for r in rows],
       [("20240101000001", 1, 1), ("20240101000002", 2, 2), ("20240101000003", 0, 2)], "rows")
    eq(rows[2]["error"], "no such table: nope", "error")
    eq(rows[2]["error_stmt"], "INSERT INTO nope VALUES (2);", "error_stmt")
    h = runs(con)[-1]
    eq(h["status"], "failed", "run status")
    contains(h["error"], "no such table: nope")
    contains(h["log"], "    no such table: nope\n")
    eq(h["files_applied"], 2, "files applied")
    st = dict(con.execute("SELECT version, status FROM atlas_migrate_status('local')").fetchall())
    eq(st["20240101000003"], "failed", "status of the failed file")
    # fixed: the next call resumes at file 3 and finishes
    files["20240101000003_seed.sql"] = FIVE["20240101000003_seed.sql"]
    write_dir(dirpath, files)
    rep = apply(con)
    eq([a["Version"] for a in rep["Applied"]], ["20240101000003", "20240101000004", "20240101000005"], "resumed")
    contains(rep["Log"], "from 20240101000002 (3 migrations in total)")
    eq(con.execute("SELECT count(*) FROM users").fetchone()[0], 2, "seeded")
    eq(revs(con)[2]["error"], "", "error cleared")


def test_tx_mode_all_rolls_back_the_run():
    files = dict(FIVE)
    files["20240101000003_seed.sql"] = "INSERT INTO users (id, name) VALUES (1, 'ada');\nINSERT INTO nope VALUES (2);\n"
    con, dbpath, dirpath = setup("all", files)
    err = apply_error(con, opts={"tx_mode": "all"})
    contains(err, "no such table: nope")
    eq(tables(con), ["atlas_config", "atlas_migrate_runs", "atlas_schema_revisions"], "nothing of the run remains")
    eq(revs(con), [], "no rows")
    eq(runs(con)[-1]["status"], "failed", "run row")
    files["20240101000003_seed.sql"] = FIVE["20240101000003_seed.sql"]
    write_dir(dirpath, files)
    rep = apply(con, opts={"tx_mode": "all"})
    eq(len(rep["Applied"]), 5, "all applied")


def test_tx_mode_none_resumes_at_the_failed_statement():
    files = {
        "1_a.sql": "CREATE TABLE a (x int);\n",
        "2_b.sql": "CREATE TABLE b (x int);\nINSERT INTO nope VALUES (1);\nCREATE TABLE c (x int);\n",
    }
    con, dbpath, dirpath = setup("none", files)
    err = apply_error(con, opts={"tx_mode": "none"})
    contains(err, "no such table: nope")
    eq(tables(con), ["a", "atlas_config", "atlas_migrate_runs", "atlas_schema_revisions", "b"], "b stays")
    r = revs(con)[1]
    eq((r["applied"], r["total"], r["error_stmt"]), (1, 3, "INSERT INTO nope VALUES (1);"), "partial row")
    check(bytes(r["partial_hashes"]).startswith(b'["h1:'), "partial hashes")
    st = dict(con.execute("SELECT version, status FROM atlas_migrate_status('local')").fetchall())
    eq(st["2"], "failed", "status")
    # fixing statement 1 is a history change
    files["2_b.sql"] = "CREATE TABLE b (y int);\nINSERT INTO nope VALUES (1);\nCREATE TABLE c (x int);\n"
    write_dir(dirpath, files)
    contains(apply_error(con, opts={"tx_mode": "none"}),
             'sql/migrate: history changed: statement 1 from file "2_b.sql" changed')
    # fixing statement 2 resumes there (CREATE TABLE b is not run again)
    files["2_b.sql"] = "CREATE TABLE b (x int);\nINSERT INTO b VALUES (1);\nCREATE TABLE c (x int);\n"
    write_dir(dirpath, files)
    rep = apply(con, opts={"tx_mode": "none"})
    eq(rep["Applied"][0]["Skipped"], 1, "skipped")
    eq(rep["Applied"][0]["Applied"], ["INSERT INTO b VALUES (1);", "CREATE TABLE c (x int);"], "resumed statements")
    r = revs(con)[1]
    eq((r["applied"], r["total"], r["error"], bytes(r["partial_hashes"])), (3, 3, "", b"null"), "done row")


REVS_DDL = ("CREATE TABLE atlas_schema_revisions (version text NOT NULL, description text NOT NULL, "
            "type integer NOT NULL DEFAULT (2), applied integer NOT NULL DEFAULT (0), "
            "total integer NOT NULL DEFAULT (0), executed_at datetime NOT NULL, "
            "execution_time integer NOT NULL, error text NULL, error_stmt text NULL, "
            "hash text NOT NULL, partial_hashes json NULL, operator_version text NOT NULL, "
            "PRIMARY KEY (version))")


def query_one(dbpath, sql):
    """The first value of a query on a fresh connection that does not wait
    for locks; None when it fails (no such table yet, or locked)."""
    c = sqlite3.connect(dbpath, timeout=0)
    try:
        row = c.execute(sql).fetchone()
        return row[0] if row else None
    except sqlite3.Error:
        return None
    finally:
        c.close()


def write_locked(dbpath):
    """Does another connection hold the database's write lock?"""
    c = sqlite3.connect(dbpath, timeout=0, isolation_level=None)
    try:
        c.execute("BEGIN IMMEDIATE")
        c.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        c.close()


def test_tx_mode_none_kill_between_statement_and_row():
    # the row write after statement 3 is made to hang (a trigger on the
    # revisions table): the process is killed right there.  The statement
    # and its row commit together, so the next run executes it once.
    files = {"1_t.sql": "-- atlas:txmode none\n\nCREATE TABLE t (x int);\nINSERT INTO t VALUES (1);\n"
                        "INSERT INTO t VALUES (2);\nINSERT INTO t VALUES (3);\n"}
    con, dbpath, dirpath = setup("none_kill", files, extra="")
    con.execute(REVS_DDL)
    con.execute("CREATE TABLE big (x int)")
    con.executemany("INSERT INTO big VALUES (?)", [(i,) for i in range(3000)])
    con.execute("CREATE TRIGGER slow_row AFTER UPDATE ON atlas_schema_revisions WHEN NEW.applied = 3 "
                "BEGIN SELECT count(*) FROM big a, big b, big c; END")
    con.commit()
    con.close()
    p = spawn(dbpath, {"allow_dirty": True})

    def at_row_write():
        if p.poll() is not None:
            return "exited: " + p.stdout.read()
        return query_one(dbpath, "SELECT applied FROM atlas_schema_revisions WHERE version = '1'") == 2 \
            and write_locked(dbpath) and "inside"
    try:
        where = wait_for("the run to reach the row write of statement 3", at_row_write)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    eq(where, "inside", "the run reached the row write of statement 3")
    con = connect(dbpath)
    con.execute("DROP TRIGGER slow_row")
    rep = apply(con, opts={"allow_dirty": True})
    eq(rep["Status"], "succeeded", "the next call completes the file")
    eq(rep["Applied"][0]["Skipped"], 2, "it resumes at statement 3")
    eq(con.execute("SELECT x, count(*) FROM t GROUP BY x ORDER BY x").fetchall(), [(1, 1), (2, 1), (3, 1)],
       "every statement applied exactly once")
    r = revs(con)[0]
    eq((r["applied"], r["total"], r["error"]), (4, 4, ""), "row complete")


def test_tx_mode_none_statements_keep_autocommit_behaviour():
    # PRAGMA foreign_keys runs as written (outside a transaction);
    # ON DELETE CASCADE fires as in autocommit (foreign_keys stays on)
    files = {"1_fk.sql": "-- atlas:txmode none\n\nPRAGMA foreign_keys = on;\n"
                         "CREATE TABLE p (id integer PRIMARY KEY);\n"
                         "CREATE TABLE c (p integer REFERENCES p(id) ON DELETE CASCADE);\n"
                         "INSERT INTO p VALUES (1);\nINSERT INTO c VALUES (1);\nDELETE FROM p;\n"
                         "CREATE TRIGGER tr AFTER INSERT ON p BEGIN INSERT INTO c VALUES (NEW.id); END;\n"
                         "PRAGMA foreign_keys = off;\n"}
    con, dbpath, dirpath = setup("none_fk", files)
    rep = apply(con)
    eq(rep["Status"], "succeeded", "applied")
    eq(con.execute("SELECT count(*) FROM c").fetchone()[0], 0, "the cascade deleted the child row")
    eq(con.execute("PRAGMA foreign_keys").fetchone()[0], 0, "the file's last PRAGMA took effect")


def test_tx_mode_none_file_leaving_its_transaction_open():
    files = {"1_a.sql": "CREATE TABLE a (x int);\n",
             "2_open.sql": "-- atlas:txmode none\n\nCREATE TABLE b (x int);\nBEGIN;\nINSERT INTO b VALUES (1);\n",
             "3_c.sql": "CREATE TABLE c (x int);\n"}
    con, dbpath, dirpath = setup("none_open", files)
    err = apply_error(con)
    contains(err, 'migration file "2_open.sql" left the transaction it opened (statement "BEGIN;") open at its end; '
                  'it was rolled back')
    check(con.in_transaction is False, "the connection is back in autocommit")
    eq(con.execute("SELECT count(*) FROM b").fetchone()[0], 0, "the open transaction was rolled back")
    check("c" not in tables(con), "the next file did not run")
    r = revs(con)[1]
    eq((r["applied"], r["total"], r["error"], r["error_stmt"]),
       (1, 3, "transaction left open at the end of the file; rolled back", "BEGIN;"), "the row tells the truth")
    h = runs(con)[-1]
    eq(h["status"], "failed", "run row")
    contains(h["error"], "2_open.sql")
    # a file that ends its own transaction is fine, and resumes at its BEGIN
    files["2_open.sql"] += "COMMIT;\n"
    write_dir(dirpath, files)
    rep = apply(con)
    eq(rep["Status"], "succeeded", "fixed")
    eq(rep["Applied"][0]["Skipped"], 1, "resumed at BEGIN")
    eq(con.execute("SELECT count(*) FROM b").fetchone()[0], 1, "its insert committed once")


# ---------------------------------------------------------------- caller transactions

def test_inside_caller_transaction_rollback_leaves_nothing():
    con, dbpath, dirpath = setup("rehearse", FIVE)
    con.execute("BEGIN")
    rep = apply(con)
    eq(len(rep["Applied"]), 5, "applied inside")
    check(con.in_transaction, "the caller's transaction is still open")
    eq(con.execute("SELECT count(*) FROM atlas_schema_revisions").fetchone()[0], 5, "visible inside")
    con.execute("ROLLBACK")
    eq(tables(con), ["atlas_config", "atlas_migrate_runs"], "nothing remains")
    eq(runs(con), [], "not even the run row")
    con.execute("BEGIN")
    apply(con)
    con.execute("COMMIT")
    eq(len(revs(con)), 5, "committed by the caller")


def test_caller_transaction_survives_a_failure():
    files = {"1_a.sql": "CREATE TABLE a (x int);\n", "2_b.sql": "CREATE TABLE b (x int);\nBROKEN;\n"}
    con, dbpath, dirpath = setup("callertx", files)
    con.execute("CREATE TABLE mine (x int)")
    con.execute("BEGIN")
    con.execute("INSERT INTO mine VALUES (42)")
    err = apply_error(con, opts={"allow_dirty": True})
    contains(err, 'near "BROKEN": syntax error')
    check(con.in_transaction, "the extension did not end the caller's transaction")
    eq(tables(con)[:1], ["a"], "file 1 applied in the caller's transaction")
    con.execute("COMMIT")
    eq(con.execute("SELECT x FROM mine").fetchall(), [(42,)], "caller's work kept")
    check("b" not in tables(con), "file 2 rolled back to its savepoint")


def test_select_from_table_is_refused():
    con, dbpath, dirpath = setup("fromt", FIVE)
    con.execute("CREATE TABLE t (x int)")
    con.execute("INSERT INTO t VALUES (1)")
    try:
        con.execute("SELECT atlas_migrate_apply('local') FROM t").fetchall()
        raise AssertionError("expected an error")
    except sqlite3.Error as e:
        contains(str(e), "cannot run while another statement of this connection is active")
    check("users" not in tables(con), "nothing applied")


# ---------------------------------------------------------------- two processes

CHILD = r"""
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.enable_load_extension(True)
con.load_extension(sys.argv[2])
try:
    r = con.execute("SELECT atlas_migrate_apply('local', ?)", (sys.argv[3],)).fetchone()[0]
    print("OK " + json.loads(r)["Status"])
except sqlite3.Error as e:
    print("ERR " + str(e).replace("\n", " "))
"""

SLOW = ("CREATE TABLE slow%d AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1500000) "
        "SELECT count(*) AS n FROM c;\nINSERT INTO applied_log VALUES (%d);\n")


def spawn(dbpath, opts):
    return subprocess.Popen([sys.executable, "-c", CHILD, dbpath, EXT, json.dumps(opts)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_running(dbpath):
    """Wait until a run row says 'running' (its process holds the lock then)."""
    wait_for("a run row saying 'running'",
             lambda: query_one(dbpath, "SELECT count(*) FROM atlas_migrate_runs WHERE status = 'running'"))


def test_two_processes_apply_each_file_once():
    files = {"0_log.sql": "CREATE TABLE applied_log (file int);\n"}
    for i in range(1, 4):
        files["%d_slow.sql" % i] = SLOW % (i, i)
    con, dbpath, dirpath = setup("procs", files)
    con.close()
    a = spawn(dbpath, {"lock_timeout": "60s"})
    b = spawn(dbpath, {"lock_timeout": "60s"})
    outs = sorted([a.communicate(timeout=120)[0].strip(), b.communicate(timeout=120)[0].strip()])
    eq(outs, ["OK nothing_to_do", "OK succeeded"], "one applies, the other waits and finds nothing")
    con = connect(dbpath)
    eq(con.execute("SELECT file, count(*) FROM applied_log GROUP BY file ORDER BY file").fetchall(),
       [(1, 1), (2, 1), (3, 1)], "every file once")


def test_second_process_times_out_with_locked_error():
    files = {"0_log.sql": "CREATE TABLE applied_log (file int);\n"}
    for i in range(1, 4):
        files["%d_slow.sql" % i] = SLOW % (i, i)
    con, dbpath, dirpath = setup("locked", files)
    con.close()
    a = spawn(dbpath, {"lock_timeout": "60s"})
    wait_running(dbpath)   # a holds the lock from before its run row until the end
    b = spawn(dbpath, {"lock_timeout": "100ms"})
    out_b = b.communicate(timeout=120)[0].strip()
    out_a = a.communicate(timeout=120)[0].strip()
    eq(out_a, "OK succeeded", "first")
    check(out_b.startswith("ERR acquiring database lock: sql/sqlite: lock on "), "second: " + out_b)
    contains(out_b, "is held by another process")
    # the loser records its failure when the winner's file transaction lets
    # it (within a short grace), or says that it could not
    con = connect(dbpath)
    if [r["status"] for r in runs(con)].count("failed") != 1:
        contains(out_b, "The run could not be recorded either: database")


def test_lock_held_elsewhere_fails_within_lock_timeout_with_a_failed_row():
    import fcntl
    con, dbpath, dirpath = setup("flocked", {"1_a.sql": "CREATE TABLE a (x int);\n"})
    con.close()
    holder = open(dbpath + ".atlas-lock", "w")
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        t0 = time.time()
        b = spawn(dbpath, {"lock_timeout": "300ms"})
        out_b = b.communicate(timeout=60)[0].strip()
        took = time.time() - t0
    finally:
        holder.close()
    check(out_b.startswith("ERR acquiring database lock: sql/sqlite: lock on "), out_b)
    m = re.search(r"is held by another process \(waited (\d+)ms\)", out_b)
    check(m is not None and int(m.group(1)) <= 300, "the wait is bounded by lock_timeout: " + out_b)
    check(took < 30, "returned after %.1fs" % took)
    con = connect(dbpath)
    r = runs(con)
    eq([x["status"] for x in r], ["failed"], "one failed run row")
    contains(r[0]["error"], "acquiring database lock")
    eq(con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'a'").fetchone()[0], 0, "nothing applied")


def test_killed_process_run_is_marked_failed():
    # one file slow enough (several seconds) to be killed in the middle of it
    files = {"0_log.sql": "CREATE TABLE applied_log (file int);\n",
             "1_slow.sql": (SLOW % (1, 1)).replace("1500000", "9000000")}
    con, dbpath, dirpath = setup("killed", files)
    con.close()
    p = spawn(dbpath, {})
    try:
        # inside file 1's transaction: file 0 committed, the write lock held
        wait_for("the run inside file 1 (0_log.sql committed, the write lock held)",
                 lambda: query_one(dbpath, "SELECT count(*) FROM atlas_schema_revisions "
                                           "WHERE version = '0' AND applied = total") == 1
                 and write_locked(dbpath))
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    con = connect(dbpath)
    rep = apply(con)
    eq(rep["Status"], "succeeded", "next call applies")
    h = runs(con)
    eq(h[0]["status"], "failed", "the interrupted run is marked failed")
    contains(h[0]["error"], "interrupted")
    eq(con.execute("SELECT count(*) FROM applied_log").fetchone()[0], 1, "no partial file, applied once")


# ---------------------------------------------------------------- bad input

def test_bad_input_errors():
    con, dbpath, dirpath = setup("bad", FIVE)
    contains(apply_error(con, "prod"), 'env "prod" not defined in config file')
    for opts, msg in [({"tx_mode": "each"}, 'unknown tx-mode "each"'),
                      ({"amount": 0}, "cannot apply '0' migration files"),
                      ({"dryrun": True}, 'unknown option "dryrun"'),
                      ({"exec_order": "x"}, 'unknown execution order: "x"')]:
        contains(apply_error(con, opts=opts), msg)
    try:
        con.execute("SELECT atlas_migrate_apply('local', '{bad json')").fetchone()
        raise AssertionError("expected an error")
    except sqlite3.Error as e:
        contains(str(e), "options: invalid JSON")
    for text, msg in [('env "x" {\n  migration {\n    dirr = "file://m"\n  }\n}\n', "3:5"),
                      ('env "x" {\n  url = \n}\n', "2:9"),
                      ('env "x" {\n  migration { dir = "file://m" }\n', "")]:
        try:
            con.execute("SELECT atlas_config_set(?)", (text,)).fetchone()
            raise AssertionError("expected an error for %r" % text)
        except sqlite3.Error as e:
            contains(str(e), "atlas.hcl: " + msg)
    # the stored config is unchanged after a failed set
    eq(apply(con)["Status"], "succeeded", "old config still works")
    con.execute("SELECT atlas_config_set(?)", (hcl(os.path.join(TMP, "missing-dir")),))
    contains(apply_error(con), "missing-dir")
    # an unreadable migration file (a dangling link)
    d = write_dir(os.path.join(TMP, "unreadable"), {"1_a.sql": "SELECT 1;\n"})
    os.symlink(os.path.join(TMP, "nowhere.sql"), os.path.join(d, "2_b.sql"))
    con.execute("SELECT atlas_config_set(?)", (hcl(d),))
    contains(apply_error(con), "2_b.sql")


def test_checksum_errors_apply_nothing():
    con, dbpath, dirpath = setup("sum", FIVE)
    with open(os.path.join(dirpath, "20240101000002_posts.sql"), "a") as f:
        f.write("-- edited\n")
    err = apply_error(con)
    contains(err, "checksum mismatch")
    contains(err, "L3: 20240101000002_posts.sql was edited")
    eq(tables(con), ["atlas_config", "atlas_migrate_runs"], "nothing applied")
    write_dir(dirpath, FIVE)
    with open(os.path.join(dirpath, "atlas.sum"), "a") as f:
        f.write("foo")
    contains(apply_error(con), "checksum file format invalid")
    os.remove(os.path.join(dirpath, "atlas.sum"))
    contains(apply_error(con), "checksum file not found")
    eq(tables(con), ["atlas_config", "atlas_migrate_runs"], "still nothing applied")
    eq([r["status"] for r in runs(con)], ["failed"] * 3, "each call leaves a failed run")


# ---------------------------------------------------------------- Atlas's fixtures

def conf_dir(rel):
    need_conformance()
    return os.path.join(CONFORMANCE, "dirs", rel)


def conf_setup(name, rel, extra=""):
    d = os.path.join(TMP, name)
    os.makedirs(d, exist_ok=True)
    dbpath = os.path.join(d, "test.db")
    for p in (dbpath, dbpath + ".atlas-lock"):
        if os.path.exists(p):
            os.remove(p)
    con = connect(dbpath)
    con.execute("SELECT atlas_config_set(?)", (hcl(conf_dir(rel), extra=extra),))
    return con


def test_conformance_sqlite_amount1():
    con = conf_setup("c-sqlite", "cmd/atlas/internal/cmdapi/testdata/sqlite")
    rep = apply(con, opts={"amount": 1})
    contains(rep["Log"], "20220318104614")
    contains(rep["Log"], "CREATE TABLE tbl (`col` int NOT NULL);")
    contains(rep["Log"], "1 migration\n")
    contains(rep["Log"], "1 sql statement\n")
    for n in (0, -1):
        contains(apply_error(con, opts={"amount": n}), "cannot apply '%d' migration files" % n)


def test_conformance_sqlite2():
    con = conf_setup("c-sqlite2", "cmd/atlas/internal/cmdapi/testdata/sqlite2")
    err = apply_error(con)
    contains(err, 'near "asdasd": syntax error')
    log = runs(con)[-1]["log"]
    contains(log, "-- 1 migration ok, 1 with errors")
    contains(log, "-- 2 sql statements ok, 1 with errors")
    cols = [r[1] for r in con.execute("PRAGMA table_info(tbl)")]
    check("col_2" not in cols and "col_3" not in cols, "rolled back: %r" % cols)
    rows = revs(con)
    # Atlas leaves 1 row; this extension adds the failed file's error row (applied 0)
    eq([(r["applied"], r["error"] != "") for r in rows], [(1, False), (0, True)], "rows")
    apply_error(con)
    log = runs(con)[-1]["log"]
    contains(log, "-- 1 migration with errors")
    contains(log, "-- 1 sql statement ok, 1 with errors")


def test_conformance_sqlite2_none():
    con = conf_setup("c-sqlite2n", "cmd/atlas/internal/cmdapi/testdata/sqlite2")
    apply_error(con, opts={"tx_mode": "none"})
    cols = [r[1] for r in con.execute("PRAGMA table_info(tbl)")]
    check("col_2" in cols and "col_3" not in cols, "stopped after col_2: %r" % cols)
    r = revs(con)[1]
    eq((r["applied"], r["total"]), (1, 3), "partial row")


def test_conformance_sqlitetx_modes():
    for mode in ("none", "file", "all"):
        con = conf_setup("c-tx-" + mode, "cmd/atlas/internal/cmdapi/testdata/sqlitetx")
        apply(con, opts={"tx_mode": mode, "amount": 2})
        apply(con, opts={"tx_mode": mode})
        eq(con.execute("SELECT count(*) FROM friendships").fetchone()[0], 2, "friendships in mode " + mode)


def test_conformance_sqlitetx2_foreign_keys():
    for mode in ("file", "all"):
        con = conf_setup("c-tx2-" + mode, "cmd/atlas/internal/cmdapi/testdata/sqlitetx2")
        con.execute("PRAGMA foreign_keys = on")
        apply(con, opts={"tx_mode": mode, "amount": 2})
        con.execute("PRAGMA foreign_keys = off")
        con.execute("INSERT INTO friendships VALUES (3, 3)")
        con.execute("PRAGMA foreign_keys = on")
        err = apply_error(con, opts={"tx_mode": mode})
        contains(err, "sql/sqlite: foreign key mismatch: [{tbl:friendships ref:users row:4 index:1}]")
        eq(con.execute("SELECT count(*) FROM friendships").fetchone()[0], 3, "rolled back in mode " + mode)
        eq(con.execute("PRAGMA foreign_keys").fetchone()[0], 1, "foreign_keys restored")


def test_conformance_sqlitetx4_unknown_txmode():
    con = conf_setup("c-tx4", "cmd/atlas/internal/cmdapi/testdata/sqlitetx4")
    contains(apply_error(con, opts={"tx_mode": "all"}),
             'unknown txmode "unknown" found in file directive "20220925094021_second.sql"')


def test_conformance_broken_then_fixed():
    con = conf_setup("c-broken", "cmd/atlas/internal/migrate/testdata/broken")
    apply(con, opts={"amount": 1, "tx_mode": "none"})
    apply(con, opts={"amount": 1, "tx_mode": "none"})
    err = apply_error(con, opts={"amount": 1, "tx_mode": "none"})
    contains(err, 'near "THIS": syntax error')
    r = revs(con)[2]
    eq((r["version"], r["applied"], r["total"], r["error"], r["error_stmt"]),
       ("3", 1, 2, 'near "THIS": syntax error', "THIS LINE ADDS A SYNTAX ERROR;"), "row 3")
    con.execute("SELECT atlas_config_set(?)", (hcl(conf_dir("cmd/atlas/internal/migrate/testdata/fixed")),))
    rep = apply(con, opts={"tx_mode": "none"})
    eq(rep["Applied"][0]["Applied"], ["ALTER TABLE `pets` ADD COLUMN `happy` boolean NULL;"], "only the fixed stmt")
    r = revs(con)[2]
    eq((r["applied"], r["total"]), (2, 2), "complete")


def test_conformance_baselines():
    con = conf_setup("c-b1", "cmd/atlas/internal/cmdapi/testdata/baseline1")
    eq(apply(con, opts={"baseline": "1"})["Log"], "No migration files to execute\n", "baseline1")
    eq(apply(con)["Log"], "No migration files to execute\n", "baseline1 again")
    con = conf_setup("c-b2", "cmd/atlas/internal/cmdapi/testdata/baseline2")
    contains(apply(con, opts={"baseline": "1"})["Log"],
             "Migrating to version 20220318104615 from 1 (2 migrations in total):")
    con = conf_setup("c-b2b", "cmd/atlas/internal/cmdapi/testdata/baseline2")
    contains(apply(con)["Log"], "Migrating to version 20220318104615 (3 migrations in total):")


def test_conformance_dirty_database():
    con = conf_setup("c-dirty", "cmd/atlas/internal/cmdapi/testdata/sqlite")
    con.execute("CREATE TABLE existing (x int)")
    # §g.3: the revisions table already exists when Atlas counts, so 2 tables
    contains(apply_error(con),
             "sql/migrate: connected database is not clean: found multiple tables: 2. baseline version or allow-dirty is required")
    eq(apply(con, opts={"allow_dirty": True})["Status"], "succeeded", "allow_dirty")


LEX_OPTS = {
    "lexgroup": "MatchBegin",
    "lexbegintry": "MatchBegin,MatchBeginAtomic,MatchBeginTryCatch,MatchDollarQuote,BackslashEscapes,EscapedStringExt",
    "sqlserver": "MatchBegin,BeginEndTerminator",
}


def lex_options(folder, name):
    if folder == "lex":
        o = ["MatchBegin", "MatchBeginAtomic", "MatchDollarQuote", "BackslashEscapes", "EscapedStringExt"]
        if "_pg" not in name:
            o.append("HashComments")
        if "_ms" in name:
            o.append("GoCommand")
        return ",".join(o)
    if folder == "lexescaped":
        return "BackslashEscapes" if ".my." in name else "EscapedStringExt"
    return LEX_OPTS[folder]


def test_conformance_lex_goldens_through_atlas_split():
    need_conformance()
    con = sqlite3.connect(":memory:")
    con.enable_load_extension(True)
    con.load_extension(EXT)
    checked, na = 0, []
    for folder in sorted(os.listdir(os.path.join(CONFORMANCE, "lex"))):
        base = os.path.join(CONFORMANCE, "lex", folder)
        for name in sorted(os.listdir(base)):
            if not name.endswith(".sql"):
                continue
            with open(os.path.join(base, name), "rb") as f:
                src = f.read().decode("utf-8", "surrogateescape")
            with open(os.path.join(base, name + ".golden"), "rb") as f:
                golden = f.read().decode("utf-8", "surrogateescape")
            try:
                got = [r[0] for r in con.execute("SELECT stmt FROM atlas_split(?, ?) ORDER BY ordinal",
                                                 (src, lex_options(folder, name)))]
            except sqlite3.Error as e:
                if "not supported" in str(e):
                    na.append("%s/%s" % (folder, name))
                    continue
                raise AssertionError("%s/%s: %s" % (folder, name, e))
            eq("\n-- end --\n".join(got), golden, "%s/%s" % (folder, name))
            checked += 1
    pairs = sum(1 for _, _, fs in os.walk(os.path.join(CONFORMANCE, "lex")) for f in fs if f.endswith(".sql"))
    eq(checked + len(na), pairs, "pairs seen")
    check(checked >= 15, "pairs checked: %d (not applicable: %s)" % (checked, na))
    try:
        con.execute("SELECT * FROM atlas_split(?, 'EscapedStringExt')",
                    (open(os.path.join(CONFORMANCE, "lex", "lexescaped", "1.my.sql")).read(),)).fetchall()
        raise AssertionError("expected a scan error")
    except sqlite3.Error as e:
        eq(str(e), "4:42: unclosed quote '\\''", "scan error")


def test_atlas_split_presets():
    con = sqlite3.connect(":memory:")
    con.enable_load_extension(True)
    con.load_extension(EXT)
    q = "SELECT stmt FROM atlas_split(?, ?) ORDER BY ordinal"
    src = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\nSELECT 2"
    eq([r[0] for r in con.execute(q, (src, "postgres"))],
       ["CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;", "SELECT 2"], "postgres")
    eq([r[0] for r in con.execute(q, (src, "sqlite"))],
       ["CREATE FUNCTION f() RETURNS int AS $$ SELECT 1;", "$$ LANGUAGE sql;", "SELECT 2"], "sqlite")
    eq(con.execute("SELECT ordinal, stmt FROM atlas_split('CREATE TABLE a(x); CREATE TABLE b(y);')").fetchall(),
       [(1, "CREATE TABLE a(x);"), (2, "CREATE TABLE b(y);")], "default preset")
    try:
        con.execute("SELECT * FROM atlas_split('x', 'MatchBegin,Nope')").fetchall()
        raise AssertionError("expected an error")
    except sqlite3.Error as e:
        contains(str(e), "Nope")


if __name__ == "__main__":
    if not os.path.exists(EXT + ".so"):
        print("1..0 # SKIP %s.so not built" % EXT)
        sys.exit(1)
    rc = run([v for k, v in list(globals().items()) if k.startswith("test_")])
    sys.exit(rc)
