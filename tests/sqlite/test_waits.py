"""SQLite: what a call says when the database is busy, locked or read-only.

  * another connection's write transaction: the call waits at most
    lock_timeout, then says the database is locked by another connection and
    how long it waited (never "no atlas.hcl configuration is stored");
  * a WAL database in a read-only directory (as the user nobody when run as
    root, since root ignores permissions), or opened read-only: it says the
    database cannot be written;
  * inside the caller's transaction, from a query that reads a table: refused
    before any file runs, the caller's transaction intact.
"""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import EXT, apply_error, check, connect, contains, eq, run, scratch, skip, user_tables, write_dir  # noqa: E402

TMP = scratch()
FILES = {"1_a.sql": "CREATE TABLE a (x integer);\n", "2_b.sql": "CREATE TABLE b (x integer);\n"}
MIGS = write_dir(os.path.join(TMP, "migrations"), FILES)
HCL = 'env "local" {\n  url = "sqlite://x"\n  migration {\n    dir = "file://%s"\n  }\n}\n' % MIGS
NO_CONFIG = "no atlas.hcl configuration"


def fresh(name, journal="delete", dirpath=None):
    d = dirpath or os.path.join(TMP, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    os.chmod(d, 0o755)
    db = os.path.join(d, "test.db")
    con = connect(db)
    eq(con.execute("PRAGMA journal_mode = %s" % journal).fetchone()[0], journal, "journal mode")
    con.execute("SELECT atlas_config_set(?)", (HCL,))
    return con, db


def test_another_connections_write_transaction_is_waited_for_then_named():
    for journal in ("delete", "wal"):
        for how in ("IMMEDIATE", "EXCLUSIVE"):
            con, db = fresh("busy-%s-%s" % (journal, how.lower()), journal)
            other = sqlite3.connect(db, isolation_level=None)
            other.execute("BEGIN %s" % how)
            t0 = time.monotonic()
            err = apply_error(con, opts={"lock_timeout": "300ms"})
            took = time.monotonic() - t0
            what = "%s journal, BEGIN %s elsewhere" % (journal, how)
            check(NO_CONFIG not in err, "%s: %s" % (what, err))
            contains(err, 'database "%s" is locked by another connection' % db, what)
            m = re.search(r"Waited (\d+)ms for its write transaction to end \(lock_timeout 300ms\)", err)
            check(m and 200 <= int(m.group(1)) <= 300, "%s: how long it waited: %s" % (what, err))
            check(0.2 <= took < 2.0, "%s: returned after %.2fs" % (what, took))
            other.execute("ROLLBACK")
            other.close()
            eq(user_tables(con), [], what + ": nothing applied")
            # once the other transaction ended, the same call goes through
            eq(json.loads(con.execute("SELECT atlas_migrate_apply('local')").fetchone()[0])["Status"],
               "succeeded", what + ": the next call")


def as_nobody(db):
    """Run apply in a child process as the user nobody; returns its output."""
    child = ("import sqlite3, sys\n"
             "con = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
             "con.enable_load_extension(True)\n"
             "con.load_extension(sys.argv[2])\n"
             "try:\n"
             "    print(con.execute(\"SELECT atlas_migrate_apply('local')\").fetchone()[0])\n"
             "except sqlite3.Error as e:\n"
             "    print('ERROR ' + str(e))\n")
    cmd = ["/usr/bin/python3", "-c", child, db, EXT]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            skip("running as root and setpriv(1) is missing: cannot drop to nobody to test permissions")
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "child failed: %s" % p.stderr)
    return p.stdout


def test_wal_database_in_a_read_only_directory():
    if os.geteuid() != 0 and not os.access(TMP, os.W_OK):
        skip("scratch directory not writable")
    con, db = fresh("ro-dir", "wal")
    con.close()                   # the last connection removes -wal and -shm
    d = os.path.dirname(db)
    eq(sorted(os.listdir(d)), ["test.db"], "files before")
    if os.geteuid() == 0:
        os.chown(db, 65534, -1)   # the file itself writable by nobody, its directory not
    os.chmod(d, 0o555)
    try:
        out = as_nobody(db)
        check(out.startswith("ERROR "), "apply in a read-only directory: %s" % out)
        check(NO_CONFIG not in out, out)
        contains(out, 'database "%s" cannot be written' % db)
        contains(out, "A WAL database needs write access to its directory")
        # another process has the database open (its -shm exists): the
        # configuration can be read, the lock file cannot be created
        os.chmod(d, 0o755)
        keeper = connect(db)
        keeper.execute("SELECT count(*) FROM atlas_config").fetchone()
        check(os.path.exists(db + "-shm"), "-shm exists while another connection is open")
        for p in (db + "-shm", db + "-wal"):
            os.chmod(p, 0o644)
        os.chmod(d, 0o555)
        out = as_nobody(db)
        keeper.close()
        check(NO_CONFIG not in out, out)
        contains(out, 'database "%s" cannot be written' % db)
        contains(out, "needs write access to the database's directory")
    finally:
        os.chmod(d, 0o755)
    con = connect(db)
    eq(user_tables(con), [], "nothing applied")


def test_opened_read_only():
    con, db = fresh("ro-uri", "wal")
    con.execute("SELECT count(*) FROM atlas_config").fetchone()   # keeps -shm
    ro = connect("file:%s?mode=ro" % db, uri=True)
    err = apply_error(ro, opts={})
    check(NO_CONFIG not in err, err)
    contains(err, 'database "%s" cannot be written: attempt to write a readonly database' % db)
    eq(user_tables(con), [], "nothing applied")


def test_from_a_table_inside_a_transaction_is_refused_before_any_file():
    con, db = fresh("in-tx")
    con.execute("CREATE TABLE envs (name text)")
    con.execute("INSERT INTO envs VALUES ('local')")
    con.execute("CREATE TABLE mine (x integer)")
    con.execute("BEGIN")
    con.execute("INSERT INTO mine VALUES (42)")
    try:
        con.execute("SELECT atlas_migrate_apply(name) FROM envs").fetchall()
        raise AssertionError("apply from a query that reads a table was not refused")
    except sqlite3.Error as e:
        contains(str(e), "atlas_migrate_apply() cannot run while another statement of this connection is active")
    check(con.in_transaction, "the caller's transaction is still open")
    eq(con.execute("SELECT x FROM mine").fetchall(), [(42,)], "the caller's row")
    eq([r for r in user_tables(con) if r in ("a", "b")], [], "no file ran")
    eq(con.execute("SELECT count(*) FROM atlas_migrate_runs").fetchone()[0], 0, "no run started")
    con.execute("COMMIT")
    eq(sqlite3.connect(db).execute("SELECT x FROM mine").fetchall(), [(42,)], "committed by the caller")


if __name__ == "__main__":
    if not os.path.exists(EXT + ".so"):
        print("1..0 # SKIP %s.so not built" % EXT)
        sys.exit(1)
    sys.exit(run([v for k, v in list(globals().items()) if k.startswith("test_")]))
