#!/usr/bin/python3
"""server.py - a stand-in for the Atlas Cloud GraphQL API (spec §j), for tests.

Python 3 standard library only.  Listens on 127.0.0.1 only (HTTP, or HTTPS
with --tls-cert/--tls-key).  One endpoint, POST /query, as the real API:

  dirState(input: {name, tag?})  -> {"data":{"dirState":{"content": <base64 tar>}}}
      serves the folder DIRS/<name>/ (DIRS/<name>@<tag>/ for a tag): its
      atlas.sum and top-level *.sql files, archived exactly as spec §c.2 says.
  reportMigration(input: {...})  -> {"data":{"reportMigration":{"url": ...}}}
      checks every field of spec §j.4 (missing/unknown/mistyped fields get a
      GraphQL error, as the real schema would), then appends the request as
      one JSON line to --reports-file.

Every /query request must carry "Authorization: Bearer <token>" (401
otherwise); the token file may hold several tokens, one per line, and
/stats says which one a request carried ("key": its line number, 0 for
none).  The token is never written to the log, the reports file or
stdout/stderr.

Test control (no token; loopback only):
  POST /control {"mode": M, "count": N, "scope": "dirState"|"reportMigration",
                 "delay": seconds, "size": bytes, "code": status, "body": text}
      sets a fault for the next N matching requests (forever without count);
      {"mode": "ok"} clears it; "reset": true also clears the statistics.
  GET /stats  -> {"requests": [{"op", "status", "auth", "key", "ua"}, ...]}

Fault modes: ok, 401, 500, 503 (Retry-After: 1), 429 (Retry-After: 1),
status (any code/body), slow (delay, then normal), hang (never answers),
truncated (body cut short of its Content-Length), invalid_json,
graphql_error, graphql_error_500, tamper (content not matching atlas.sum),
oversize (size bytes, with Content-Length), oversize_stream (no length),
bad_base64, path_trick (an entry "../evil.sql"), absolute (/etc/evil.sql),
empty (content null), empty_body (200 with no body), data_null
({"data": null}), no_dir_state ({"data": {}}), echo_auth (500 whose body
echoes the Authorization header: the client must scrub it).

Usage:
  server.py --port 0 --port-file F --dirs DIR --token-file T
            [--tls-cert C --tls-key K] [--reports-file R] [--log-file L]
            [--mode M [--count N]]
The chosen port is written to F once the socket listens.  Stop it with
SIGTERM (by pid).
"""
import argparse
import base64
import json
import os
import re
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOCK = 512

# ---------------------------------------------------------------- archive (§c.2)


def _octal(value, width):
    """Go's formatOctal: width-1 zero-padded octal digits and a NUL."""
    return ("%0*o" % (width - 1, value)).encode() + b"\0"


def tar_header(name, size, mode=0o600, typeflag=b"0", raw=False):
    """One USTAR header block, as Go's archive/tar writes it (§c.2 table)."""
    h = bytearray(BLOCK)
    ascii_name = bytes(c for c in name if c < 0x80)[:100]
    h[0:len(ascii_name)] = ascii_name
    h[100:108] = _octal(mode, 8)
    h[108:116] = _octal(0, 8)
    h[116:124] = _octal(0, 8)
    h[124:136] = _octal(size, 12)
    h[136:148] = _octal(0, 12)
    h[156:157] = typeflag
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    if not raw:
        h[329:337] = _octal(0, 8)
        h[337:345] = _octal(0, 8)
    h[148:156] = b" " * 8
    chk = sum(h)
    h[148:156] = ("%06o" % chk).encode() + b"\0 "
    return bytes(h)


def _pad(data):
    return data + b"\0" * ((BLOCK - len(data) % BLOCK) % BLOCK)


def tar_entry(name, data):
    """A file entry; a PAX `path` record first for long or non-ASCII names."""
    out = b""
    if len(name) > 100 or any(c >= 0x80 for c in name):
        body = b" path=" + name + b"\n"
        n = len(body) + 1
        while len(str(n)) + len(body) != n:
            n = len(str(n)) + len(body)
        rec = str(n).encode() + body
        out += tar_header(b"PaxHeaders.0/" + name, len(rec), 0, b"x", raw=True) + _pad(rec)
    return out + tar_header(name, len(data)) + _pad(data)


def build_archive(entries):
    """entries: [(name bytes, data bytes)] in order -> the tar stream."""
    return b"".join(tar_entry(n, d) for n, d in entries) + b"\0" * (2 * BLOCK)


def dir_entries(path):
    """atlas.sum first, then the top-level *.sql files in bytewise order (§a)."""
    out = []
    sum_path = os.path.join(path, "atlas.sum")
    if os.path.isfile(sum_path):
        with open(sum_path, "rb") as f:
            out.append((b"atlas.sum", f.read()))
    names = sorted((os.fsencode(n) for n in os.listdir(path)))
    for n in names:
        p = os.path.join(path, os.fsdecode(n))
        if n.endswith(b".sql") and os.path.isfile(p):
            with open(p, "rb") as f:
                out.append((n, f.read()))
    return out


# ---------------------------------------------------------------- reportMigration input (§j.4)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")

REPORT_FIELDS = {
    # name: (type, required)
    "projectName": (str, True), "envName": (str, True), "dirName": (str, True),
    "atlasVersion": (str, True), "target": (dict, True), "startTime": ("time", True),
    "endTime": ("time", True), "fromVersion": (str, True), "toVersion": (str, True),
    "currentVersion": (str, True), "error": (str, False), "files": ("files", True),
    "log": (str, True), "context": (dict, False), "dryRun": (bool, False),
}
FILE_FIELDS = {
    "name": (str, True), "content": (str, True), "startTime": ("time", True),
    "endTime": ("time", True), "skipped": (int, True), "applied": (int, True),
    "checks": (list, True), "error": (dict, False),
}


def _check(obj, fields, path):
    """Errors in GraphQL's shape for an input object."""
    errs = []
    if not isinstance(obj, dict):
        return [{"message": "must be an object", "path": path}]
    for k in obj:
        if k not in fields:
            errs.append({"message": "unknown field", "path": path + [k]})
    for k, (typ, required) in fields.items():
        if k not in obj:
            if required:
                errs.append({"message": "must be defined", "path": path + [k]})
            continue
        v = obj[k]
        p = path + [k]
        if typ == "time":
            if not isinstance(v, str) or not RFC3339.match(v):
                errs.append({"message": "not an RFC 3339 time", "path": p})
        elif typ == "files":
            if v is None:
                continue
            if not isinstance(v, list):
                errs.append({"message": "must be a list", "path": p})
                continue
            for i, f in enumerate(v):
                errs += _check(f, FILE_FIELDS, p + [i])
                if isinstance(f, dict) and isinstance(f.get("error"), dict):
                    errs += _check(f["error"], {"stmt": (str, True), "text": (str, True)},
                                   p + [i, "error"])
        elif typ is int:
            if not isinstance(v, int) or isinstance(v, bool):
                errs.append({"message": "must be an integer", "path": p})
        elif not isinstance(v, typ):
            errs.append({"message": "must be a %s" % typ.__name__, "path": p})
    if path == ["variable", "input"] and isinstance(obj.get("target"), dict):
        errs += _check(obj["target"], {"id": (str, True), "schema": (str, True), "url": (str, True)},
                       path + ["target"])
    return errs


# ---------------------------------------------------------------- server


class State:
    def __init__(self, args, tokens):
        self.args = args
        self.tokens = tokens
        self.lock = threading.Lock()
        self.fault = {"mode": args.mode or "ok", "count": args.count}
        self.requests = []
        self.reports = 0
        self.log_lock = threading.Lock()

    def take_fault(self, op):
        """The fault for this request (consuming one count), or {"mode": "ok"}."""
        with self.lock:
            f = self.fault
            if f.get("mode", "ok") == "ok":
                return {"mode": "ok"}
            if f.get("scope") and f["scope"] != op:
                return {"mode": "ok"}
            if f.get("count") is not None:
                if f["count"] <= 0:
                    self.fault = {"mode": "ok"}
                    return {"mode": "ok"}
                f["count"] -= 1
            return dict(f)

    def log(self, line):
        with self.log_lock:
            if self.args.log_file:
                with open(self.args.log_file, "a") as f:
                    f.write(line + "\n")
            else:
                sys.stderr.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "atlas-cloud-standin/1"

    # Never log headers (the Authorization header holds the token).
    def log_message(self, fmt, *a):
        pass

    def _send(self, status, body, ctype="application/json", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True
        return status

    def _json(self, status, obj, headers=None):
        return self._send(status, json.dumps(obj), headers=headers)

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        st = self.server.state
        if self.path == "/stats":
            with st.lock:
                self._json(200, {"requests": list(st.requests), "reports": st.reports})
            return
        self._send(404, "not found\n", "text/plain")

    def do_POST(self):
        st = self.server.state
        if self.path == "/control":
            try:
                c = json.loads(self._read_body() or b"{}")
            except ValueError:
                self._send(400, "bad control JSON\n", "text/plain")
                return
            with st.lock:
                if c.get("reset"):
                    st.requests = []
                c.pop("reset", None)
                st.fault = c if c.get("mode") else {"mode": "ok"}
            st.log("control %s" % json.dumps(c, sort_keys=True))
            self._json(200, {"ok": True})
            return
        if self.path != "/query":
            self._send(404, "not found\n", "text/plain")
            return
        raw = self._read_body()
        op = "unknown"
        try:
            req = json.loads(raw)
            q = req.get("query", "")
            if "dirState(" in q:
                op = "dirState"
            elif "reportMigration(" in q:
                op = "reportMigration"
        except (ValueError, AttributeError):
            req = None
        auth = self.headers.get("Authorization", "")
        key = next((i + 1 for i, t in enumerate(st.tokens) if auth == "Bearer " + t), 0)
        auth_ok = key > 0
        rec = {"op": op, "auth": "ok" if auth_ok else "bad", "key": key,
               "ua": self.headers.get("User-Agent", ""), "status": None}
        with st.lock:
            st.requests.append(rec)
        status = self._query(op, req, auth, auth_ok)
        rec["status"] = status
        st.log("%s POST /query op=%s auth=%s status=%s" % (
            self.client_address[0], op, rec["auth"], status))

    def _query(self, op, req, auth, auth_ok):
        st = self.server.state
        f = st.take_fault(op)
        mode = f.get("mode", "ok")
        if mode == "hang":
            while True:
                time.sleep(1)
        if mode == "slow":
            time.sleep(float(f.get("delay", 3)))
        if mode == "401" or not auth_ok:
            return self._send(401, "unauthorized\n", "text/plain")
        if mode == "500":
            return self._send(500, "internal error\n", "text/plain")
        if mode in ("503", "429"):
            return self._send(int(mode), "try again later\n", "text/plain", {"Retry-After": "1"})
        if mode == "status":
            return self._send(int(f.get("code", 500)), f.get("body", ""), "text/plain")
        if mode == "echo_auth":
            return self._send(500, "bad request with header %s" % auth, "text/plain")
        if mode == "graphql_error":
            return self._json(200, {"data": None, "errors": [
                {"message": "permission denied", "path": ["dirState"]}]})
        if mode == "graphql_error_500":
            return self._json(500, {"errors": [
                {"message": "error\n", "path": ["variable", "input", "driver"]}]})
        if mode == "invalid_json":
            return self._send(200, '{"data": {"dirState": {"content": "AAAA')
        if mode == "empty_body":
            return self._send(200, "")
        if mode == "data_null":
            return self._json(200, {"data": None})
        if mode == "no_dir_state":
            return self._json(200, {"data": {}})
        if mode in ("oversize", "oversize_stream"):
            size = int(f.get("size", 65 << 20))
            return self._oversize(size, mode == "oversize")
        if req is None or op == "unknown":
            return self._json(400, {"errors": [{"message": "unknown operation"}]})
        inp = (req.get("variables") or {}).get("input")
        if op == "dirState":
            return self._dir_state(inp, mode)
        return self._report(req, inp)

    def _oversize(self, size, with_length):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if with_length:
            self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b'{"data":{"dirState":{"content":"' + b"A" * (1 << 20)
        sent = 0
        try:
            while sent < size:
                part = chunk[:min(len(chunk), size - sent)]
                self.wfile.write(part)
                sent += len(part)
                chunk = b"A" * (1 << 20)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        return 200

    def _dir_state(self, inp, mode):
        st = self.server.state
        if not isinstance(inp, dict) or not isinstance(inp.get("name"), str) or not inp["name"]:
            return self._json(200, {"data": None, "errors": [
                {"message": "must be defined", "path": ["variable", "input", "name"]}]})
        name = inp["name"]
        tag = inp.get("tag")
        parts = name.split("/")
        if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            return self._json(200, {"data": None, "errors": [
                {"message": "invalid dir name", "path": ["dirState"]}]})
        path = os.path.join(st.args.dirs, *parts)
        if tag:
            path = path + "@" + tag
        if not os.path.isdir(path):
            what = 'tag "%s" of dir "%s"' % (tag, name) if tag else 'dir "%s"' % name
            return self._json(200, {"data": None, "errors": [
                {"message": what + " not found", "path": ["dirState"]}]})
        entries = dir_entries(path)
        if mode == "empty":
            return self._json(200, {"data": {"dirState": {"content": None}}})
        if mode == "tamper":
            for i in range(len(entries) - 1, -1, -1):
                if entries[i][0].endswith(b".sql"):
                    entries[i] = (entries[i][0], entries[i][1] + b"\n-- tampered\nDROP TABLE t;\n")
                    break
        if mode == "path_trick":
            entries.append((b"../evil.sql", b"DROP TABLE t;\n"))
        if mode == "absolute":
            entries.append((b"/etc/evil.sql", b"DROP TABLE t;\n"))
        content = base64.b64encode(build_archive(entries)).decode()
        if mode == "bad_base64":
            content = "%%%not-base64%%%" + content
        body = json.dumps({"data": {"dirState": {"content": content}}})
        if mode == "truncated":
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return 200
        return self._send(200, body)

    def _report(self, req, inp):
        st = self.server.state
        errs = _check(inp, REPORT_FIELDS, ["variable", "input"])
        if errs:
            return self._json(200, {"data": None, "errors": errs})
        with st.lock:
            st.reports += 1
            n = st.reports
        if st.args.reports_file:
            with st.log_lock, open(st.args.reports_file, "a") as f:
                f.write(json.dumps(req, sort_keys=True) + "\n")
        scheme = "https" if st.args.tls_cert else "http"
        url = "%s://127.0.0.1:%d/deployments/%d" % (scheme, self.server.server_address[1], n)
        return self._json(200, {"data": {"reportMigration": {"url": url}}})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    ssl_context = None

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the request's thread: a client that never
        # completes it cannot block the accept loop.
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                self.state.log("%s TLS handshake failed: %s" % (client_address[0], e.__class__.__name__))
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        self.state.log("%s connection error: %s" % (client_address[0], sys.exc_info()[0].__name__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--dirs", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--reports-file")
    ap.add_argument("--log-file")
    ap.add_argument("--mode")
    ap.add_argument("--count", type=int)
    args = ap.parse_args()
    with open(args.token_file) as f:
        tokens = [t.strip() for t in f.read().splitlines() if t.strip()]

    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args, tokens)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.ssl_context = ctx
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    srv.state.log("listening on 127.0.0.1:%d (%s)" % (port, "https" if args.tls_cert else "http"))
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    srv.serve_forever()


if __name__ == "__main__":
    main()
