#!/usr/bin/python3
"""test_standin.py - the stand-in Cloud server itself (TAP output).

The stand-in is what every cloud test trusts, so its archive must follow
spec §c.2 exactly, its sums §b, and it must check the token, play its
faults, check reports like the real schema and never write the token down.
The client side is tested in tests/core/test_cloud.c.
"""
import base64
import io
import json
import os
import shutil
import ssl
import sys
import tarfile
import tempfile
import traceback
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sqlite"))
sys.dont_write_bytecode = True
import server  # noqa: E402
from standin import StandIn, atlas_sum, make_tls, write_dir  # noqa: E402
from tap import Skip, missing  # noqa: E402

TOKEN = "aci_StandIn-Test-Token-5e1f0c9a"
DIRSTATE = "query dirState($input: DirStateInput!) {\n  dirState(input: $input) {\n    content\n  }\n}"
REPORT = ("mutation ReportMigration($input: ReportMigrationInput!) {\n"
          "  reportMigration(input: $input) {\n    url\n  }\n}")


def post(cloud, body, token=TOKEN, cafile=None):
    req = urllib.request.Request(cloud.url, data=json.dumps(body).encode(), headers={
        "Authorization": "Bearer " + token, "Content-Type": "application/json"})
    ctx = ssl.create_default_context(cafile=cafile or cloud.ca_file) if cloud.tls else None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=ctx))
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def report_input(**over):
    t = "2024-01-02T03:04:05.123Z"
    inp = {"projectName": "p", "envName": "prod", "dirName": "app", "atlasVersion": "atlas_migrate v0.2.0",
           "target": {"id": "u", "schema": "main", "url": ""}, "startTime": t, "endTime": t,
           "fromVersion": "", "toVersion": "1", "currentVersion": "1", "log": "x",
           "files": [{"name": "1.sql", "content": "x", "startTime": t, "endTime": t, "skipped": 0,
                      "applied": 1, "checks": []}]}
    inp.update(over)
    return {"query": REPORT, "variables": {"input": inp}}


# ---------------------------------------------------------------- tests

def test_header_checksum_example(ctx):
    """§c.2: "1.sql" with 25 bytes has checksum 010050."""
    h = server.tar_header(b"1.sql", 25)
    assert h[148:156] == b"010050\0 ", h[148:156]
    assert h[124:136] == b"00000000031\0"
    assert h[100:108] == b"0000600\0" and h[257:265] == b"ustar\x0000"


def test_archive_layout(ctx):
    """atlas.sum first, migrations in bytewise order, PAX for long names, 1024 zero bytes at the end."""
    d = os.path.join(ctx["tmp"], "layout")
    long = "2_" + "x" * 120 + ".sql"
    write_dir(d, {"1_a.sql": "A;\n", long: "B;\n", "10_c.sql": "C;\n"})
    with open(os.path.join(d, "README.md"), "w") as f:
        f.write("not archived")
    data = server.build_archive(server.dir_entries(d))
    assert data.endswith(b"\0" * 1024) and len(data) % 512 == 0
    names = [m.name for m in tarfile.open(fileobj=io.BytesIO(data))]
    assert names == ["atlas.sum", "10_c.sql", "1_a.sql", long], names
    assert server.build_archive([]) == b"\0" * 1024


def test_atlas_sum_worked_example(ctx):
    """§b.4: the sum of sql/migrate/testdata/migrate."""
    s = atlas_sum({"1_initial.down.sql": "DROP TABLE IF EXISTS t;",
                   "1_initial.up.sql": "CREATE TABLE t(c int);"})
    assert s == ("h1:M74RrNK69S2pj6C541LR1ew5O32/i0WoyNgsJmyuiUk=\n"
                 "1_initial.down.sql h1:0zypK43rgPbgvVUgVJABGN25VgM1QSeU+LJDBb8cEQI=\n"
                 "1_initial.up.sql h1:hFhs5XhRml4KTWGF5td6h1s7xNqAFnaEBbC5Y/NF7i4=\n"), s


def test_dirstate_and_token(ctx):
    cloud = ctx["http"]
    cloud.control("ok")
    st, body = post(cloud, {"query": DIRSTATE, "variables": {"input": {"name": "app"}}})
    assert st == 200, (st, body)
    tar = base64.b64decode(json.loads(body)["data"]["dirState"]["content"])
    assert [m.name for m in tarfile.open(fileobj=io.BytesIO(tar))] == ["atlas.sum", "1_init.sql"]
    st, _ = post(cloud, {"query": DIRSTATE, "variables": {"input": {"name": "app"}}}, token="wrong-token")
    assert st == 401
    st, body = post(cloud, {"query": DIRSTATE, "variables": {"input": {"name": "../etc"}}})
    assert st == 200 and json.loads(body)["errors"], body
    st, body = post(cloud, {"query": DIRSTATE, "variables": {"input": {"name": "app", "tag": "x"}}})
    assert "not found" in json.loads(body)["errors"][0]["message"]
    assert [r["auth"] for r in cloud.requests()] == ["ok", "bad", "ok", "ok"]


def test_fault_count(ctx):
    cloud = ctx["http"]
    cloud.control("500", count=1, scope="dirState")
    req = {"query": DIRSTATE, "variables": {"input": {"name": "app"}}}
    assert post(cloud, req)[0] == 500
    assert post(cloud, req)[0] == 200
    cloud.control("tamper")
    tar = base64.b64decode(json.loads(post(cloud, req)[1])["data"]["dirState"]["content"])
    assert b"-- tampered" in tar
    cloud.control("path_trick")
    tar = base64.b64decode(json.loads(post(cloud, req)[1])["data"]["dirState"]["content"])
    assert b"../evil.sql" in tar
    cloud.control("ok")


def test_report_schema(ctx):
    cloud = ctx["http"]
    cloud.control("ok")
    n = len(cloud.reports())
    bad = report_input()
    del bad["variables"]["input"]["envName"]
    bad["variables"]["input"]["bogus"] = 1
    st, body = post(cloud, bad)
    paths = [e["path"] for e in json.loads(body)["errors"]]
    assert ["variable", "input", "envName"] in paths and ["variable", "input", "bogus"] in paths, paths
    st, body = post(cloud, report_input(startTime="yesterday"))
    assert json.loads(body)["errors"][0]["path"] == ["variable", "input", "startTime"]
    st, body = post(cloud, report_input())
    url = json.loads(body)["data"]["reportMigration"]["url"]
    assert url.startswith("http://127.0.0.1:%d/deployments/" % cloud.port), url
    assert post(cloud, report_input(files=None))[0] == 200
    assert len(cloud.reports()) == n + 2
    assert cloud.reports()[-2]["variables"]["input"]["envName"] == "prod"


def test_tls(ctx):
    if ctx["https"] is None:
        missing("no TLS material for the HTTPS stand-in (openssl missing?)")
    cloud = ctx["https"]
    st, _ = post(cloud, {"query": DIRSTATE, "variables": {"input": {"name": "app"}}})
    assert st == 200
    try:
        post(cloud, {"query": DIRSTATE, "variables": {"input": {"name": "app"}}}, cafile=ctx["tls"]["other_ca"])
        raise AssertionError("an unrelated CA was accepted")
    except urllib.error.URLError as e:
        assert "CERTIFICATE_VERIFY_FAILED" in str(e), e


def test_token_never_written(ctx):
    for cloud in (ctx["http"], ctx["https"]):
        if cloud is None:
            continue
        text = cloud.log_text()
        assert "POST /query" in text
        assert TOKEN not in text
        if os.path.exists(cloud.reports_file):
            with open(cloud.reports_file) as f:
                assert TOKEN not in f.read()


def main():
    tests = [v for k, v in globals().items() if k.startswith("test_")]
    print("1..%d" % len(tests))
    tmp = tempfile.mkdtemp(prefix="atlas_standin_")
    ctx = {"tmp": tmp, "http": None, "https": None, "tls": None}
    failed = 0
    try:
        write_dir(os.path.join(tmp, "dirs", "app"), {"1_init.sql": "CREATE TABLE t(c int);\n"})
        ctx["http"] = StandIn(os.path.join(tmp, "dirs"), TOKEN, name="http").start()
        ctx["tls"] = make_tls(os.path.join(tmp, "tls"))
        if ctx["tls"]:
            ctx["https"] = StandIn(os.path.join(tmp, "dirs"), TOKEN, tls=ctx["tls"], name="https").start()
        for i, t in enumerate(tests, 1):
            try:
                t(ctx)
                print("ok %d - %s" % (i, t.__name__))
            except Skip as e:
                print("ok %d - %s # SKIP %s" % (i, t.__name__, e))
            except Exception:
                failed += 1
                print("not ok %d - %s" % (i, t.__name__))
                for line in traceback.format_exc().splitlines():
                    print("# " + line)
    finally:
        for k in ("http", "https"):
            if ctx[k]:
                ctx[k].stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
