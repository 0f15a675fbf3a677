"""hosts.py - the same calls against either host, for tests that compare them.

    h = SqliteHost(workdir) or PgHost(workdir)   (PgHost: PGHOST/PGPORT/PGUSER set)
    h.setup("name", {"1_a.sql": "..."})          a fresh database and directory
    h.apply({"dry_run": True})                   -> ("ok", report) | ("error", text)
    h.runs(), h.status()                         the run rows and status rows, as dicts
    h.rewrite_dir({...})                         replace the directory's files

Python 3 standard library only; SQLite through Debian's /usr/bin/python3
(loads extensions), PostgreSQL through psql.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "sqlite"))
from tap import ROOT, write_dir  # noqa: E402

EXT = os.path.join(ROOT, "build", "atlas_migrate")

HCL = """
env "local" {
  url = "%s"
  migration {
    dir = "file://%s"
%s  }
}
"""


class SqliteHost:
    name = "sqlite"

    def __init__(self, workdir):
        self.workdir = workdir
        self.con = None

    def connect(self, **kw):
        con = sqlite3.connect(self.db, isolation_level=None, **kw)
        con.enable_load_extension(True)
        con.load_extension(EXT)
        return con

    def setup(self, name, files, extra=""):
        d = os.path.join(self.workdir, "sqlite", name)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        self.dir = write_dir(os.path.join(d, "migrations"), files)
        self.db = os.path.join(d, "test.db")
        self.con = self.connect()
        self.con.execute("SELECT atlas_config_set(?)", (HCL % ("sqlite://test.db", self.dir, extra),))
        return self

    def rewrite_dir(self, files):
        write_dir(self.dir, files)

    def apply(self, opts=None, con=None):
        con = con or self.con
        try:
            r = con.execute("SELECT atlas_migrate_apply('local', ?)", (json.dumps(opts or {}),)).fetchone()[0]
            return "ok", json.loads(r)
        except sqlite3.Error as e:
            return "error", str(e)

    def query(self, sql):
        con = self.connect()
        try:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(sql)]
        finally:
            con.close()

    def runs(self):
        rows = self.query("SELECT * FROM atlas_migrate_runs ORDER BY id")
        for r in rows:
            r["dry_run"] = bool(r["dry_run"])
        return rows

    def status(self):
        return self.query("SELECT * FROM atlas_migrate_status('local')")

    def revisions(self):
        return self.query("SELECT * FROM atlas_schema_revisions ORDER BY version")


class PgHost:
    name = "postgres"

    def __init__(self, workdir):
        self.workdir = workdir
        self.dbname = None

    def psql(self, *cmds, db=None, check=False):
        args = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db or self.dbname]
        for c in cmds:
            args += ["-c", c]
        p = subprocess.run(args, capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError("psql %r: %s" % (cmds, p.stderr))
        return p.returncode, p.stdout, p.stderr

    def setup(self, name, files, extra=""):
        d = os.path.join(self.workdir, "pg", name)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        os.chmod(d, 0o755)
        self.dir = write_dir(os.path.join(d, "migrations"), files)
        os.chmod(self.dir, 0o755)
        self.dbname = "x_" + name
        self.psql("DROP DATABASE IF EXISTS %s" % self.dbname, db="postgres", check=True)
        self.psql("CREATE DATABASE %s" % self.dbname, db="postgres", check=True)
        self.psql("CREATE EXTENSION atlas_migrate",
                  "SELECT atlas_config_set(%s)" % lit(HCL % ("postgres://localhost/" + self.dbname, self.dir, extra)),
                  check=True)
        return self

    def rewrite_dir(self, files):
        write_dir(self.dir, files)

    def apply(self, opts=None):
        args = ["'local'"]
        for k, v in (opts or {}).items():
            if isinstance(v, bool):
                args.append("%s => %s" % (k, "true" if v else "false"))
            elif isinstance(v, int):
                args.append("%s => %d" % (k, v))
            else:
                args.append("%s => %s" % (k, lit(str(v))))
        rc, out, err = self.psql("SELECT atlas_migrate_apply(%s)" % ", ".join(args))
        if rc == 0:
            return "ok", json.loads(out)
        msg = [l[len("ERROR:  "):] for l in err.splitlines() if l.startswith("ERROR:  ")]
        return "error", (msg[0] if msg else err)

    def query(self, sql):
        rc, out, err = self.psql("SELECT row_to_json(q) FROM (%s) q" % sql)
        if rc != 0:
            raise RuntimeError("%s: %s" % (sql, err))
        return [json.loads(l) for l in out.splitlines() if l.strip()]

    def runs(self):
        return self.query("SELECT * FROM atlas_migrate_runs ORDER BY id")

    def status(self):
        return self.query("SELECT * FROM atlas_migrate_status('local')")

    def revisions(self):
        return self.query("SELECT * FROM atlas_schema_revisions.atlas_schema_revisions ORDER BY version")


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def pg_available():
    """None when a cluster is reachable, else why not."""
    if not os.environ.get("PGHOST"):
        return "no PostgreSQL cluster (PGHOST unset): run through tests/cross/run.sh as root"
    p = subprocess.run(["psql", "-X", "-At", "-d", "postgres", "-c", "SELECT 1"], capture_output=True, text=True)
    if p.returncode != 0:
        return "PostgreSQL at %s:%s not reachable: %s" % (os.environ.get("PGHOST"), os.environ.get("PGPORT"), p.stderr.strip())
    return None
