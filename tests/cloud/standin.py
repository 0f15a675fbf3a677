"""standin.py - start, drive and stop the stand-in Cloud server (server.py)
from Python tests (the SQLite and PostgreSQL host tests, test_standin.py).

    from standin import StandIn, make_tls, write_dir
    tls = make_tls(tmp)                          # CA + server cert (openssl CLI)
    write_dir(tmp + "/dirs/app", {"1_init.sql": "CREATE TABLE t(c int);\\n"})
    with StandIn(tmp + "/dirs", token, tls=tls) as cloud:
        cloud.url        # https://localhost:PORT/query, for atlas { cloud { url } }
        cloud.ca_file    # for atlas { cloud { ca_file } }
        cloud.control("500", count=2)            # a fault for the next 2 requests
        cloud.requests("dirState"), cloud.reports(), cloud.log_text()

Loopback only; port 0 (the OS picks a free one); the process is stopped by
its pid.  Python 3 standard library only.
"""
import base64
import hashlib
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"


def atlas_sum(files):
    """atlas.sum text for {name: bytes|str} (spec §b; no sum-ignored files)."""
    h = hashlib.sha256()
    lines = []
    for name in sorted(files, key=lambda n: n.encode()):
        data = files[name].encode() if isinstance(files[name], str) else files[name]
        h.update(name.encode())
        h.update(data)
        lines.append((name, base64.b64encode(h.copy().digest()).decode()))
    total = hashlib.sha256("".join(n + d for n, d in lines).encode()).digest()
    return "h1:%s\n" % base64.b64encode(total).decode() + "".join(
        "%s h1:%s\n" % (n, d) for n, d in lines)


def write_dir(path, files, with_sum=True):
    """A migration directory: the files and (by default) a matching atlas.sum."""
    os.makedirs(path, exist_ok=True)
    for name, data in files.items():
        mode = "wb" if isinstance(data, bytes) else "w"
        with open(os.path.join(path, name), mode) as f:
            f.write(data)
    if with_sum and files:
        with open(os.path.join(path, "atlas.sum"), "w") as f:
            f.write(atlas_sum(files))


def make_tls(outdir):
    """Run mkcert.sh into outdir; returns {"ca", "cert", "key", "other_ca"} or None."""
    r = subprocess.run(["/bin/sh", os.path.join(HERE, "mkcert.sh"), outdir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        return None
    return {"ca": os.path.join(outdir, "ca.pem"), "cert": os.path.join(outdir, "server.pem"),
            "key": os.path.join(outdir, "server.key"),
            "other_ca": os.path.join(outdir, "other-ca.pem")}


class StandIn:
    def __init__(self, dirs, token, tls=None, workdir=None, name="cloud"):
        self.dirs = dirs
        self.token = token
        self.tls = tls
        self.workdir = workdir or os.path.dirname(os.path.abspath(dirs))
        self.name = name
        self.proc = None
        self.port = None
        self.log_file = os.path.join(self.workdir, name + ".log")
        self.reports_file = os.path.join(self.workdir, name + ".reports")
        self.ca_file = tls["ca"] if tls else None

    # -- lifecycle
    def start(self, timeout=15):
        port_file = os.path.join(self.workdir, self.name + ".port")
        token_file = os.path.join(self.workdir, self.name + ".token")
        for p in (port_file,):
            if os.path.exists(p):
                os.unlink(p)
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            # one token, or several (a list): each is accepted, /stats says which
            for t in ([self.token] if isinstance(self.token, str) else self.token):
                f.write(t + "\n")
        cmd = [PYTHON, os.path.join(HERE, "server.py"), "--port", "0", "--port-file", port_file,
               "--dirs", self.dirs, "--token-file", token_file,
               "--reports-file", self.reports_file, "--log-file", self.log_file]
        if self.tls:
            cmd += ["--tls-cert", self.tls["cert"], "--tls-key", self.tls["key"]]
        with open(self.log_file, "a") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        until = time.time() + timeout
        while time.time() < until:
            if os.path.exists(port_file):
                with open(port_file) as f:
                    self.port = int(f.read())
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("stand-in exited; see " + self.log_file)
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("stand-in did not start; see " + self.log_file)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- addresses
    @property
    def base(self):
        return "%s://%s:%d" % ("https" if self.tls else "http",
                               "localhost" if self.tls else "127.0.0.1", self.port)

    @property
    def url(self):
        return self.base + "/query"

    # -- control
    def _request(self, path, body=None, headers=None):
        req = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        ctx = ssl.create_default_context(cafile=self.ca_file) if self.tls else None
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=ctx))
        with opener.open(req, timeout=10) as r:
            return r.status, r.read()

    def control(self, mode="ok", reset=True, **kw):
        """Set a fault mode (see server.py); reset clears the request statistics."""
        body = dict(kw, mode=mode, reset=reset)
        status, _ = self._request("/control", json.dumps(body).encode(),
                                  {"Content-Type": "application/json"})
        assert status == 200

    def requests(self, op=None):
        """Requests seen since the last reset: [{"op", "status", "auth", "key", "ua"}]."""
        _, body = self._request("/stats")
        reqs = json.loads(body)["requests"]
        return [r for r in reqs if op is None or r["op"] == op]

    def reports(self):
        """Every recorded reportMigration request (whole GraphQL request objects)."""
        if not os.path.exists(self.reports_file):
            return []
        with open(self.reports_file) as f:
            return [json.loads(line) for line in f if line.strip()]

    def log_text(self):
        if not os.path.exists(self.log_file):
            return ""
        with open(self.log_file, errors="replace") as f:
            return f.read()
