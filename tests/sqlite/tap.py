"""Minimal TAP test runner and the helpers the Python host tests share
(tests/sqlite, tests/cloud, tests/cross; python3 stdlib only).

Each test is a function named test_*; it passes unless it raises.  skip(reason)
reports it as skipped.  The output is TAP: "ok N - name", "not ok N - name",
"ok N - name # SKIP reason", which tests/run.sh counts.

Under CI=true, missing() fails where a developer's run skips loudly: CI must
not pass with the conformance fixtures or the Cloud stand-in absent.
Tests wait for conditions with wait_for(), never for a fixed time.
"""
import base64
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.path.join(ROOT, "build", "atlas_migrate")
CONFORMANCE = os.environ.get(
    "ATLAS_CONFORMANCE_DIR", os.path.join(ROOT, "..", "shared", "conformance", "atlas"))
IN_CI = os.environ.get("CI") == "true"


class Skip(Exception):
    pass


def skip(reason):
    raise Skip(reason)


def missing(reason):
    """Something a test needs is absent: a failure under CI=true, else a skip."""
    if IN_CI:
        raise AssertionError("CI=true: " + reason)
    skip(reason)


def need_conformance():
    if not os.path.isdir(CONFORMANCE):
        missing("conformance fixtures not found at %s (set ATLAS_CONFORMANCE_DIR)" % CONFORMANCE)


def wait_for(what, cond, timeout=20.0):
    """Poll cond() until it returns a true value and return that value; after
    timeout seconds fail, naming what never came."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.02)
    raise AssertionError("timed out after %gs waiting for %s (last: %r)" % (timeout, what, last))


def connect(path, isolation_level=None, **kw):
    """A connection with the extension loaded (autocommit unless told)."""
    con = sqlite3.connect(path, isolation_level=isolation_level, **kw)
    con.enable_load_extension(True)
    con.load_extension(EXT)
    return con


def local_hcl(dirpath, env="local", extra=""):
    """atlas.hcl with one env reading file://dirpath; extra goes into its migration block."""
    return """
env "%s" {
  url = "sqlite://test.db"
  migration {
    dir = "file://%s"
    %s
  }
}
""" % (env, dirpath, extra)


def fresh_db(dbpath, hcl):
    """A connection to a new, empty database at dbpath (any old file, journal
    and lock sidecar removed) with hcl stored as its configuration."""
    for p in (dbpath, dbpath + "-journal", dbpath + ".atlas-lock"):
        if os.path.exists(p):
            os.remove(p)
    con = connect(dbpath)
    con.execute("SELECT atlas_config_set(?)", (hcl,))
    return con


def apply_error(con, env="local", opts=None):
    """The error text of a failing atlas_migrate_apply.  opts None: the
    one-argument call; a dict: its JSON; bytes: passed as text unchanged.
    An env given as bytes is passed as text too."""
    if opts is None:
        sql, args = "SELECT atlas_migrate_apply(?)", (env,)
    elif isinstance(opts, bytes):
        sql, args = "SELECT atlas_migrate_apply(?, CAST(? AS TEXT))", (env, opts)
    else:
        sql, args = "SELECT atlas_migrate_apply(?, ?)", (env, json.dumps(opts))
    if isinstance(env, bytes):
        sql = sql.replace("atlas_migrate_apply(?", "atlas_migrate_apply(CAST(? AS TEXT)")
    try:
        r = con.execute(sql, args).fetchone()
    except sqlite3.Error as e:
        return str(e)
    raise AssertionError("apply succeeded, an error was expected: %r" % (r,))


def user_tables(con):
    """The tables a migration made (not the extension's atlas* tables)."""
    return sorted(r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'atlas%'"))


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(got, want, what="value"):
    if got != want:
        raise AssertionError("%s:\n  got:  %r\n  want: %r" % (what, got, want))


def contains(hay, needle, what="text"):
    if hay is None or needle not in hay:
        raise AssertionError("%s does not contain %r:\n%s" % (what, needle, hay))


def run(tests):
    """Run the given test functions in order and print TAP."""
    print("1..%d" % len(tests))
    failed = 0
    for i, t in enumerate(tests, 1):
        name = t.__name__
        try:
            t()
            print("ok %d - %s" % (i, name))
        except Skip as e:
            print("ok %d - %s # SKIP %s" % (i, name, e))
        except Exception:
            failed += 1
            print("not ok %d - %s" % (i, name))
            for line in traceback.format_exc().rstrip().splitlines():
                print("# " + line)
        sys.stdout.flush()
    return 1 if failed else 0


def atlas_sum(files):
    """atlas.sum text (§b) for a list of (name, bytes) in any order."""
    h = hashlib.sha256()
    lines = []
    for name, data in sorted(files, key=lambda f: f[0].encode()):
        h.update(name.encode())
        first = data.split(b"\n", 1)[0]
        if first.rstrip(b"\r").endswith(b"atlas:sum ignore") and b"atlas:sum ignore" in first:
            continue
        h.update(data)
        lines.append((name, base64.b64encode(h.copy().digest()).decode()))
    total = hashlib.sha256()
    for name, hh in lines:
        total.update(name.encode() + hh.encode())
    out = "h1:%s\n" % base64.b64encode(total.digest()).decode()
    for name, hh in lines:
        out += "%s h1:%s\n" % (name, hh)
    return out


def write_dir(path, files, with_sum=True):
    """Create a migration directory from {name: text}; writes atlas.sum."""
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    items = []
    for name, text in files.items():
        data = text.encode() if isinstance(text, str) else text
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)
        items.append((name, data))
    if with_sum:
        with open(os.path.join(path, "atlas.sum"), "w") as f:
            f.write(atlas_sum(items))
    return path


def scratch():
    d = tempfile.mkdtemp(prefix="atlas_migrate_test.")
    os.chmod(d, 0o755)
    return d
