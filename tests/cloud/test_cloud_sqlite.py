"""Atlas Cloud through the SQLite host, against the local stand-in (loopback only):
the seed's atlas.hcl with only cloud { url } changed, every fault mode, the
deployment report and its retry, and the token nowhere.
"""
import json
import os
import secrets
import sqlite3
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "sqlite"))
from standin import StandIn, make_tls, write_dir  # noqa: E402
import tap  # noqa: E402
from tap import EXT, check, connect, contains, eq, missing, run, scratch, user_tables  # noqa: E402

TMP = scratch()
TOKEN = "atl-" + secrets.token_hex(16)
TOKEN_B = "atl-" + secrets.token_hex(16)   # another token the stand-in also accepts
os.environ["ATLAS_TOKEN"] = TOKEN          # getenv() in atlas.hcl reads the process environment
os.environ["ATLAS_TOKEN_B"] = TOKEN_B
os.environ["DATABASE_URL"] = "sqlite://app.db"
SEEN = []                                  # every text the tests saw, grepped for the token

APP = {
    "20240101000001_users.sql": "CREATE TABLE users (id integer PRIMARY KEY, name text);\n",
    "20240101000002_posts.sql": "CREATE TABLE posts (id integer PRIMARY KEY, title text);\n"
                                "INSERT INTO posts VALUES (1, 'hello');\n",
}
DIRS = os.path.join(TMP, "dirs")
write_dir(os.path.join(DIRS, "app"), APP)
write_dir(os.path.join(DIRS, "app@v1"), {k: APP[k] for k in sorted(APP)[:1]})

SEED_HCL = """
variable "cloud_token" {
  type    = string
  default = getenv("ATLAS_TOKEN")
}

atlas {
  cloud {
    token = var.cloud_token
    url   = "%s"
    %s
  }
}

env {
  name = atlas.env
  url  = getenv("DATABASE_URL")
  migration {
    dir = "atlas://%s"
  }
}
"""

CLOUD = StandIn(DIRS, [TOKEN, TOKEN_B], workdir=TMP, name="plain")


def fresh(name, url=None, ca=None, dirname="app", extra=""):
    path = os.path.join(TMP, name + ".db")
    for p in (path, path + ".atlas-lock"):
        if os.path.exists(p):
            os.remove(p)
    con = connect(path)
    hcl = SEED_HCL % (url or CLOUD.url, ('ca_file = "%s"\n    ' % ca if ca else "") + extra, dirname)
    con.execute("SELECT atlas_config_set(?)", (hcl,))
    return con


def apply(con, env="prod", opts=None):
    r = con.execute("SELECT atlas_migrate_apply(?, ?)", (env, json.dumps(opts or {}))).fetchone()[0]
    SEEN.append(r)
    return json.loads(r)


def apply_error(con, env="prod", opts=None):
    err = tap.apply_error(con, env, opts or {})
    SEEN.append(err)
    return err


def dump(con):
    """Every value of every table, as text (for the token grep)."""
    out = []
    for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        for row in con.execute('SELECT * FROM "%s"' % t):
            out.append(" ".join(str(bytes(v) if isinstance(v, bytes) else v) for v in row))
    return "\n".join(out)


def test_seed_config_applies_and_reports():
    CLOUD.control("ok")
    con = fresh("seed")
    rep = apply(con)
    eq(rep["Status"], "succeeded", "status")
    eq([a["Version"] for a in rep["Applied"]], ["20240101000001", "20240101000002"], "applied")
    eq(rep["Dir"], "atlas://app", "dir")
    check("/deployments/" in rep.get("DeploymentURL", ""), "deployment url: %r" % rep)
    eq(user_tables(con), ["posts", "users"], "tables")
    row = con.execute("SELECT status, deployment_url, cloud_report, cloud_error FROM atlas_migrate_runs").fetchone()
    eq((row[0], row[1], row[2], row[3]), ("succeeded", rep["DeploymentURL"], None, None), "run row")
    ident = con.execute("SELECT description FROM atlas_schema_revisions WHERE version = '.atlas_cloud_identifier'").fetchone()
    check(ident and len(ident[0]) == 36, "identifier row")
    reps = CLOUD.reports()
    inp = reps[-1]["variables"]["input"]
    eq(inp["envName"], "prod", "envName")
    eq(inp["dirName"], "app", "dirName")
    eq(inp["projectName"], "default", "projectName")
    eq(inp["target"]["id"], ident[0], "target id")
    eq(inp["target"]["schema"], "main", "target schema")
    eq(inp["toVersion"], "20240101000002", "toVersion")
    eq(inp["currentVersion"], "20240101000002", "currentVersion")
    eq([f["name"] for f in inp["files"]], sorted(APP), "files")
    eq(inp["files"][1]["applied"], 2, "statements")
    contains(inp["log"], "-- migrating version 20240101000002")
    check(inp["atlasVersion"].startswith("atlas_migrate v"), "atlasVersion")
    reqs = CLOUD.requests()
    check(all(r["auth"] for r in reqs), "every request authenticated")
    check(all(r["ua"].startswith("atlas_migrate/") for r in reqs), "user agent: %r" % reqs)
    # again: nothing to do, still reported
    n = len(CLOUD.reports())
    eq(apply(con)["Status"], "nothing_to_do", "second call")
    eq(len(CLOUD.reports()), n + 1, "reported again")
    SEEN.append(dump(con))


def test_tag_and_https_with_private_ca():
    tls = make_tls(os.path.join(TMP, "tls"))
    if tls is None:
        missing("openssl CLI not available to make a test CA")
    with StandIn(DIRS, TOKEN, tls=tls, workdir=TMP, name="tls") as cloud:
        con = fresh("tls", url=cloud.url, ca=tls["ca"], dirname="app?tag=v1")
        rep = apply(con)
        eq([a["Version"] for a in rep["Applied"]], ["20240101000001"], "the tagged state")
        # the wrong CA: refused, nothing applied
        con = fresh("tls-bad", url=cloud.url, ca=tls["other_ca"])
        err = apply_error(con)
        contains(err.lower(), "certificate")
        eq(user_tables(con), [], "nothing applied")
        SEEN.append(cloud.log_text())


FAULTS = [
    ("401", "unauthorized"),
    ("500", "unexpected error code 500"),
    ("graphql_error", "permission denied"),
    ("invalid_json", "decoding response"),
    ("truncated", ""),
    ("tamper", "checksum mismatch"),
    ("empty_body", "decoding response: an empty reply, expected data.dirState.content"),
    ("data_null", "decoding response: the reply has no data"),
    ("no_dir_state", "decoding response: the reply has no data.dirState"),
    ("bad_base64", "base64"),
    ("path_trick", "bad archive"),
    ("oversize", ""),
]


def test_fetch_faults_apply_nothing():
    for mode, msg in FAULTS:
        CLOUD.control(mode, scope="dirState")
        con = fresh("fault-" + mode)
        err = apply_error(con, opts={"cloud_timeout": "20s"})
        if msg:
            contains(err, msg, "error for mode %s" % mode)
        eq(user_tables(con), [], "nothing applied for mode " + mode)
        row = con.execute("SELECT status, error FROM atlas_migrate_runs").fetchone()
        eq(row[0], "failed", "run row for mode " + mode)
        SEEN.append(dump(con))
    CLOUD.control("ok")


def test_reply_without_dir_state_is_an_error_for_status_too():
    """A 200 that does not answer dirState is a broken endpoint, not an empty
    directory (nothing_to_do would hide it); a null content still is one (§c.3)."""
    for mode in ("empty_body", "data_null", "no_dir_state"):
        CLOUD.control(mode, scope="dirState")
        con = fresh("status-" + mode)
        try:
            rows = con.execute("SELECT * FROM atlas_migrate_status('prod')").fetchall()
            raise AssertionError("status succeeded for mode %s: %r" % (mode, rows))
        except sqlite3.Error as e:
            SEEN.append(str(e))
            contains(str(e), "decoding response: ", "status error for mode " + mode)
            contains(str(e), "cloud { url }", "hint for mode " + mode)
    CLOUD.control("empty", scope="dirState")
    con = fresh("content-null")
    eq(apply(con)["Status"], "nothing_to_do", "content null is an empty directory")
    CLOUD.control("ok")


def test_500_then_success_is_retried():
    CLOUD.control("500", count=2, scope="dirState")
    con = fresh("retry")
    eq(apply(con)["Status"], "succeeded", "after two 500s")
    eq([r["status"] for r in CLOUD.requests("dirState")], [500, 500, 200], "attempts")
    CLOUD.control("ok")


def test_hang_ends_at_the_configured_timeout():
    CLOUD.control("hang", scope="dirState")
    con = fresh("hang")
    t0 = time.time()
    err = apply_error(con, opts={"cloud_timeout": "1500ms"})
    took = time.time() - t0
    contains(err.lower(), "tim")
    check(1.0 <= took < 5.0, "ended after %.2fs" % took)
    eq(user_tables(con), [], "nothing applied")
    # the same from atlas { cloud { timeout } } in atlas.hcl
    con = fresh("hang-hcl", extra='timeout = "1s"')
    t0 = time.time()
    contains(apply_error(con).lower(), "tim")
    took = time.time() - t0
    CLOUD.control("ok")
    check(0.7 <= took < 4.0, "ended after %.2fs" % took)


def test_failed_report_is_a_warning_and_is_retried():
    CLOUD.control("500", scope="reportMigration")
    con = fresh("report")
    rep = apply(con)
    eq(rep["Status"], "succeeded", "the apply result does not change")
    check("DeploymentURL" not in rep, "no url")
    contains(" ".join(rep.get("Warnings", [])), "reporting the deployment failed")
    eq(user_tables(con), ["posts", "users"], "applied")
    pending = con.execute("SELECT id, cloud_report FROM atlas_migrate_runs WHERE cloud_report IS NOT NULL").fetchall()
    eq(len(pending), 1, "kept for a retry")
    CLOUD.control("ok")
    n = len(CLOUD.reports())
    rep = apply(con)
    eq(rep["Status"], "nothing_to_do", "next call")
    eq(len(CLOUD.reports()), n + 2, "the kept report and the new one were sent")
    rows = con.execute("SELECT deployment_url IS NOT NULL, cloud_report IS NULL FROM atlas_migrate_runs ORDER BY id").fetchall()
    eq(rows, [(1, 1), (1, 1)], "both runs have their deployment url")
    SEEN.append(dump(con))


def test_rehearsal_inside_a_transaction_sends_nothing():
    CLOUD.control("ok")
    con = fresh("rehearse")
    n = len(CLOUD.reports())
    con.execute("BEGIN")
    apply(con)
    con.execute("ROLLBACK")
    eq(len(CLOUD.reports()), n, "nothing reported for a rolled-back rehearsal")


TARGET_HCL = """
atlas {
  cloud {
    token = getenv("%s")
    url   = "%s"
  }
}
env "prod" {
  url = "sqlite://app.db"
  migration {
    dir = "atlas://app"
  }
}
"""


def test_kept_report_goes_only_to_its_endpoint_and_token():
    """A report kept for endpoint A with token A is not sent by a call to
    endpoint B or with token B (each sends only its own); the next call
    with A and A sends it."""
    with StandIn(DIRS, TOKEN, workdir=TMP, name="other") as other:
        con = fresh("target")

        def use(token_var, url):
            con.execute("SELECT atlas_config_set(?)", (TARGET_HCL % (token_var, url),))

        def kept():
            return [r[0] for r in con.execute("SELECT id FROM atlas_migrate_runs WHERE cloud_report IS NOT NULL")]

        use("ATLAS_TOKEN", CLOUD.url)
        CLOUD.control("500", scope="reportMigration")
        rep = apply(con)
        eq(rep["Status"], "succeeded", "run 1")
        contains(" ".join(rep.get("Warnings", [])), "reporting the deployment failed (kept for the next call)")
        eq(kept(), [1], "run 1's report is kept")
        CLOUD.control("ok")

        # endpoint A, token B: only its own report, with token B
        use("ATLAS_TOKEN_B", CLOUD.url)
        eq(apply(con)["Status"], "nothing_to_do", "run 2")
        eq([(r["status"], r["key"]) for r in CLOUD.requests("reportMigration")], [(200, 2)],
           "reports sent to A with token B")
        eq(kept(), [1], "run 1's report is still kept")

        # endpoint B, token A: only its own report, to B
        CLOUD.control("ok")
        use("ATLAS_TOKEN", other.url)
        eq(apply(con)["Status"], "nothing_to_do", "run 3")
        eq([(r["status"], r["key"]) for r in other.requests("reportMigration")], [(200, 1)], "reports sent to B")
        eq(CLOUD.requests(), [], "nothing sent to A")
        eq(kept(), [1], "run 1's report is still kept")

        # endpoint A, token A again: the kept report goes first, then its own
        use("ATLAS_TOKEN", CLOUD.url)
        rep = apply(con)
        eq(rep["Status"], "nothing_to_do", "run 4")
        eq([(r["status"], r["key"]) for r in CLOUD.requests("reportMigration")], [(200, 1), (200, 1)],
           "reports sent to A with token A")
        eq(kept(), [], "nothing kept")
        rows = con.execute("SELECT id, deployment_url IS NOT NULL, cloud_target FROM atlas_migrate_runs ORDER BY id").fetchall()
        eq([r[:2] for r in rows], [(1, 1), (2, 1), (3, 1), (4, 1)], "every run has its deployment url")
        targets = [r[2] for r in rows]
        check(all(t and t.startswith("sha256:") for t in targets), "fingerprints: %r" % targets)
        eq((targets[0] == targets[3], len(set(targets[:3]))), (True, 3), "one fingerprint per endpoint and token")
        SEEN.append(dump(con))
        SEEN.append(other.log_text())


def test_version_query_is_not_supported():
    con = fresh("version", dirname="app?version=20240101000001")
    contains(apply_error(con), "not supported")


def test_token_appears_nowhere():
    SEEN.append(CLOUD.log_text())
    with open(CLOUD.reports_file) as f:
        SEEN.append(f.read())
    check(len(SEEN) > 10, "collected outputs")
    for i, text in enumerate(SEEN):
        for tok in (TOKEN, TOKEN_B):
            if tok in (text or ""):
                raise AssertionError("a token leaked in output #%d: %s" % (i, text[:300]))


if __name__ == "__main__":
    if not os.path.exists(EXT + ".so"):
        print("1..0 # SKIP %s.so not built" % EXT)
        sys.exit(1)
    CLOUD.start()
    try:
        rc = run([v for k, v in list(globals().items()) if k.startswith("test_")])
    finally:
        CLOUD.stop()
    sys.exit(rc)
