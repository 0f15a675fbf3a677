"""Bad input through the SQLite host (issue 8): a NUL byte in a migration file,
files sharing a version or with an empty one, numeric and duration options
out of range, and error texts that stay valid UTF-8 whatever they quote.
Each case checks what a user sees: the error text, and that nothing ran.
"""
import base64
import hashlib
import json
import os
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import EXT, apply_error, check, contains, eq, fresh_db, local_hcl, run, scratch, user_tables  # noqa: E402

TMP = scratch()


def write_dir(path, files):
    """A migration directory from {name (str or bytes): bytes or str}, with
    its atlas.sum (§b); names may hold any bytes."""
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    items = []
    for name, data in files.items():
        bname = name if isinstance(name, bytes) else name.encode()
        bdata = data if isinstance(data, bytes) else data.encode()
        with open(os.path.join(os.fsencode(path), bname), "wb") as f:
            f.write(bdata)
        items.append((bname, bdata))
    h = hashlib.sha256()
    lines = []
    for bname, bdata in sorted(items):
        h.update(bname)
        h.update(bdata)
        lines.append(bname + b" h1:" + base64.b64encode(h.copy().digest()))
    total = hashlib.sha256()
    for line in lines:
        total.update(line.replace(b" h1:", b""))
    with open(os.path.join(path, "atlas.sum"), "wb") as f:
        f.write(b"h1:" + base64.b64encode(total.digest()) + b"\n" + b"".join(l + b"\n" for l in lines))
    return path


def setup(name, files):
    """A fresh database whose env "local" reads the given directory."""
    d = os.path.join(TMP, name)
    os.makedirs(d, exist_ok=True)
    dirpath = write_dir(os.path.join(d, "migrations"), files)
    return fresh_db(os.path.join(d, "test.db"), local_hcl(dirpath))


def status_error(con):
    try:
        con.execute("SELECT * FROM atlas_migrate_status('local')").fetchall()
    except sqlite3.Error as e:
        return str(e)
    raise AssertionError("status succeeded, an error was expected")


def revision_count(con):
    if not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'atlas_schema_revisions'").fetchone():
        return 0
    return con.execute("SELECT count(*) FROM atlas_schema_revisions").fetchone()[0]


def stored_texts(con):
    """Every stored error text, as bytes (run rows and revision rows)."""
    out = [r[0] for r in con.execute(
        "SELECT CAST(error AS BLOB) FROM atlas_migrate_runs WHERE error IS NOT NULL")]
    if revision_count(con):
        out += [r[0] for r in con.execute(
            "SELECT CAST(error AS BLOB) FROM atlas_schema_revisions WHERE error <> ''")]
    return out


def valid_utf8(data, what):
    try:
        data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise AssertionError("%s is not valid UTF-8 (%s): %r" % (what, e, data))


# ---------------------------------------------------------------- 1. NUL bytes

def test_nul_byte_applies_nothing():
    """SQLite reads SQL up to a NUL: without the check the DROP after it in
    the statement would be skipped and the file recorded as applied."""
    con = setup("nul", {
        "1_a.sql": "CREATE TABLE a (x int);\n",
        "2_b.sql": b"CREATE TABLE b (x int);\nINSERT INTO b VALUES (1);\0 DROP TABLE a;\n",
    })
    for opts in (None, {"dry_run": True}):
        err = apply_error(con, opts=opts)
        contains(err, 'migration file "2_b.sql" holds a NUL byte at byte offset 49 (line 2, column 26)')
        eq(user_tables(con), [], "nothing applied, not even 1_a.sql")
        eq(revision_count(con), 0, "no revision rows")
    eq([r[0] for r in con.execute("SELECT status FROM atlas_migrate_runs")], ["failed", "failed"], "run rows")


# ---------------------------------------------------------------- 2. versions

def test_duplicate_versions_refused_by_apply_and_status():
    con = setup("dup", {
        "1_a.sql": "CREATE TABLE a (x int);\n",
        "1_b.sql": "CREATE TABLE b (x int);\n",
        "2_c.sql": "CREATE TABLE c (x int);\n",
    })
    want = 'migration files "1_a.sql" and "1_b.sql" have the same version "1"'
    contains(apply_error(con), want)
    contains(apply_error(con, opts={"dry_run": True}), want)
    contains(status_error(con), want)
    eq(user_tables(con), [], "nothing applied")
    eq(revision_count(con), 0, "no revision rows")


def test_empty_version_refused():
    for name in ("_x.sql", ".sql"):
        con = setup("empty-version", {"1_a.sql": "CREATE TABLE a (x int);\n", name: "SELECT 1;\n"})
        want = 'migration file "%s" has an empty version' % name
        contains(apply_error(con), want)
        contains(status_error(con), want)
        eq(user_tables(con), [], "nothing applied for " + name)


# ---------------------------------------------------------------- 3. options

def test_numeric_options_out_of_range():
    con = setup("opts", {"1_a.sql": "CREATE TABLE a (x int);\n"})
    lock = 'option "lock_timeout" must be a duration from 0 to 576h (2073600 seconds), got '
    for opts, want in [
            ({"lock_timeout": 2147484}, lock + "2147484"),
            ({"lock_timeout": 1e300}, lock + "1.0000000000000001e+300"),
            ({"lock_timeout": -1}, lock + "-1"),
            ({"lock_timeout": "1000h"}, lock + '"1000h"'),
            ({"lock_timeout": "-5s"}, lock + '"-5s"'),
            ({"lock_timeout": "2562048h"}, 'invalid duration "2562048h"'),
            ({"lock_timeout": "10"}, 'missing unit in duration "10"'),
            ({"cloud_timeout": 1e300}, 'option "cloud_timeout" must be a duration from 0 to 576h'),
            ({"amount": 1e300}, 'option "amount" must be an integer from 1 to 2147483647'),
            ({"amount": 2147483648}, 'option "amount" must be an integer from 1 to 2147483647'),
            ({"amount": 1.5}, 'option "amount" must be an integer from 1 to 2147483647'),
            ({"amount": -1}, "cannot apply '-1' migration files")]:
        contains(apply_error(con, opts=opts), want, "error for %r" % opts)
    eq(user_tables(con), [], "nothing applied")
    # the largest accepted values work
    rep = json.loads(con.execute("SELECT atlas_migrate_apply('local', ?)", (
        json.dumps({"lock_timeout": "576h", "amount": 2147483647}),)).fetchone()[0])
    eq(rep["Status"], "succeeded", "576h and the largest amount")


# ---------------------------------------------------------------- 4. UTF-8

def test_error_texts_are_valid_utf8():
    """Invalid bytes in option keys, env names, file names and database
    messages quoting migration text: every message decodes as UTF-8 (Python
    would raise UnicodeDecodeError otherwise) and names what it quotes."""
    con = setup("utf8", {"1_a.sql": "CREATE TABLE a (x int);\n"})
    err = apply_error(con, opts=b'{"\xff\xfe": 1}')
    contains(err, 'unknown option "\ufffd\ufffd"')
    err = apply_error(con, opts=b'{"a' + b"\xc3\xa9" * 80 + b'": 1}')
    contains(err, 'unknown option "a\xe9')
    err = apply_error(con, opts=b'{"tx_mode": "\xe2\x82"}')
    contains(err, "unknown tx-mode")
    err = apply_error(con, env=b"pr\xffd")
    contains(err, 'env "pr\ufffdd" not defined')

    # a database error quoting the statement's bytes, in a file with a bad name
    con = setup("utf8-db", {
        b"1_\xff.sql": "CREATE TABLE a (x int);\n",
        "2_b.sql": b'INSERT INTO "t\xff\xfe" VALUES (1);\n',
    })
    err = apply_error(con)
    contains(err, "no such table: t\ufffd\ufffd")
    eq(user_tables(con), ["a"], "the first file applied, the second failed")
    # a NUL byte in a file with a bad name: the name is quoted Go-style
    con = setup("utf8-nul", {b"1_\xff\xc3.sql": b"SELECT '\xff\0';\n"})
    contains(apply_error(con), '"1_\\xff\\xc3.sql" holds a NUL byte')
    for text in stored_texts(con):
        valid_utf8(text, "stored error")


def test_stored_errors_are_valid_utf8():
    """The run rows and the revision row keep the same texts, as UTF-8."""
    con = setup("utf8-rows", {"1_a.sql": b'CREATE TABLE a (x int);\nINSERT INTO "t\xff" VALUES (1);\n'})
    contains(apply_error(con), "no such table: t\ufffd")
    texts = stored_texts(con)
    check(len(texts) >= 2, "a run row and a revision row hold the error: %r" % texts)
    for text in texts:
        valid_utf8(text, "stored error")
        check(b"\xef\xbf\xbd" in text, "U+FFFD stands for the invalid byte: %r" % text)
    # the log quotes the statement as written (as Atlas's does); its error line is UTF-8
    log = con.execute("SELECT CAST(log AS BLOB) FROM atlas_migrate_runs").fetchone()[0]
    lines = [l for l in log.split(b"\n") if b"no such table" in l]
    eq(len(lines), 1, "one error line in the log")
    valid_utf8(lines[0], "the log's error line")


if __name__ == "__main__":
    if not os.path.exists(EXT + ".so"):
        print("1..0 # SKIP %s.so not built" % EXT)
        sys.exit(1)
    rc = run([v for k, v in list(globals().items()) if k.startswith("test_")])
    sys.exit(rc)
