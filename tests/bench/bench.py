"""make bench: atlas_migrate_apply against the databases' own floors, in one run.

Workloads (generated under a temp directory, deterministic):
  nN     N files (N = 100, 1000, 10000), each a table with a primary key, an index
         and two rows; 14-digit versions one second apart; with atlas.sum
  bulk   one file: CREATE TABLE and 100,000 single-row INSERTs
  big    one 100 MB file: CREATE TABLE and multi-row INSERTs of 1,000 rows
         each (about 1,000 statements of 100 KB, as pg_dump --rows-per-insert
         writes data), generated in build/bench/ at bench time
  noop   apply again on the fully applied n10000 database
  split  a ~100 MB file of mixed statements split by the core alone (vs wc -l)

Peak memory of every variant next to its time: the child process's own peak
RSS for SQLite (the rusage of wait4, through /usr/bin/time), and for
PostgreSQL the server process doing the work (the atlas_migrate background
worker; the backend of psql -f / the DO block), sampled from
/proc/<pid>/status every 10 ms while it runs: VmHWM (which counts the shared
buffers the process touched) and its private memory (the peak of RssAnon).

Variants, interleaved round by round; a fresh database for every timed run;
durable defaults (fsync on; SQLite journal_mode DELETE, synchronous FULL):
  PostgreSQL  ext      psql -c "SELECT atlas_migrate_apply('bench')"
              floor_a  psql -X -q -v ON_ERROR_STOP=1 -f <all files, BEGIN/COMMIT each>
              floor_b  a DO block: pg_read_file + EXECUTE + COMMIT per file (in-server)
  SQLite      ext      sqlite3 -cmd '.load build/atlas_migrate' "SELECT atlas_migrate_apply('bench')"
              floor    sqlite3 <all files, BEGIN/COMMIT each>

Writes results/bench.md (markdown table) and results/bench.json (raw timings).
Environment: BENCH_QUICK=1 for a short run (n100, n1000, bulk 10k, big 10 MB, split 10 MB,
3 rounds); BENCH_ONLY=big,bulk runs only the named workloads (n100, n1000, n10000,
bulk, big, split).
"""
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sqlite"))
from tap import atlas_sum  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.path.join(ROOT, "build", "atlas_migrate")
PGBIN = "/usr/lib/postgresql/15/bin"
QUICK = os.environ.get("BENCH_QUICK") == "1"
SIZES = [100, 1000] if QUICK else [100, 1000, 10000]
BULK_ROWS = 10000 if QUICK else 100000
SPLIT_MB = 10 if QUICK else 100
BIG_MB = 10 if QUICK else 100
BIG_ROWS_PER_INSERT = 1000


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- workloads

def version(i):
    t = time.gmtime(1704067200 + i)  # 2024-01-01 00:00:00 + i s
    return time.strftime("%Y%m%d%H%M%S", t)


def gen_dir(path, files):
    os.makedirs(path, exist_ok=True)
    items = []
    for name, text in files:
        data = text.encode()
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)
        items.append((name, data))
    with open(os.path.join(path, "atlas.sum"), "w") as f:
        f.write(atlas_sum(items))
    return [name for name, _ in files]


def nfiles(n, dialect):
    out = []
    for i in range(n):
        if dialect == "pg":
            sql = ("CREATE TABLE t_%d (id bigint primary key, name text not null, created_at timestamptz default now());\n"
                   "CREATE INDEX ON t_%d (name);\n"
                   "INSERT INTO t_%d VALUES (1,'a'),(2,'b');\n") % (i, i, i)
        else:
            sql = ("CREATE TABLE t_%d (id integer primary key, name text not null, created_at text default CURRENT_TIMESTAMP);\n"
                   "CREATE INDEX t_%d_name ON t_%d (name);\n"
                   "INSERT INTO t_%d (id, name) VALUES (1,'a'),(2,'b');\n") % (i, i, i, i)
        out.append(("%s_t%d.sql" % (version(i), i), sql))
    return out


def bulk(dialect):
    idt = "bigint" if dialect == "pg" else "integer"
    lines = ["CREATE TABLE bulk (id %s primary key, name text not null);\n" % idt]
    lines += ["INSERT INTO bulk VALUES (%d, 'name %d');\n" % (i, i) for i in range(BULK_ROWS)]
    return [("%s_bulk.sql" % version(0), "".join(lines))]


def big(dialect):
    """About BIG_MB MB: multi-row INSERTs of BIG_ROWS_PER_INSERT rows (~100 bytes a row)."""
    idt = "bigint" if dialect == "pg" else "integer"
    parts = ["CREATE TABLE big (id %s primary key, name text not null, note text not null);\n" % idt]
    size, i = 0, 0
    pad = "x" * 60
    while size < BIG_MB * 1000000:
        rows = ",\n".join("(%d, 'name %d', '%s')" % (j, j, pad) for j in range(i, i + BIG_ROWS_PER_INSERT))
        stmt = "INSERT INTO big (id, name, note) VALUES\n%s;\n" % rows
        parts.append(stmt)
        size += len(stmt)
        i += BIG_ROWS_PER_INSERT
    return [("%s_big.sql" % version(0), "".join(parts))]


def concat(dirpath, names):
    out = os.path.join(dirpath, "..", os.path.basename(dirpath) + ".concat.sql")
    with open(out, "w") as o:
        for n in names:
            o.write("BEGIN;\n")
            with open(os.path.join(dirpath, n)) as f:
                o.write(f.read())
            o.write("\nCOMMIT;\n")
    return os.path.abspath(out)


def gen_split(path, mb):
    chunk = []
    i = 0
    while sum(len(c) for c in chunk) < 1 << 20:
        chunk.append(
            "-- function %d\nCREATE FUNCTION f%d() RETURNS int AS $body$\nBEGIN\n  -- say 'hi'; \n"
            "  RETURN %d; /* ; */\nEND;\n$body$ LANGUAGE plpgsql;\n"
            "INSERT INTO t VALUES (%d, 'it''s; a \"string\"', $$dollar; text$$);\n"
            "/* block comment ; with ( parens ) */ SELECT (1 + (2 * 3)) AS x;\n" % (i, i, i, i))
        i += 1
    block = "".join(chunk)
    with open(path, "w") as f:
        for _ in range(mb):
            f.write(block)
    return path


# ---------------------------------------------------------------- timing

class Peak:
    """Peak memory of the processes whose command line contains `match`,
    sampled from /proc every 10 ms while the timed command runs (KB)."""

    def __init__(self, match):
        self.match = match.encode()
        self.hwm = 0
        self.anon = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def sample(self):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if self.match not in f.read():
                        continue
                with open("/proc/%s/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.hwm = max(self.hwm, int(line.split()[1]))
                        elif line.startswith("RssAnon:"):
                            self.anon = max(self.anon, int(line.split()[1]))
            except OSError:
                pass

    def run(self):
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.thread.join()


def measured(cmd, env=None, cwd=None, server=None):
    """(seconds, stdout, memory): memory is {"rss": the child's own peak RSS
    in KB, from GNU time's wait4; None without /usr/bin/time} plus, with server (a command-line match), the peak VmHWM
    and private memory of the server processes that matched."""
    # no dirty pages of an earlier run may compete with this one's fsyncs
    os.sync()
    peak = Peak(server) if server else None
    # GNU time reports its child's peak RSS: a child forked from this Python
    # would count the parent's pages it started with (wait4 sees its pre-exec size)
    timefile = tempfile.NamedTemporaryFile(prefix="atlas_bench_rss.") if os.path.exists("/usr/bin/time") else None
    if timefile:
        cmd = ["/usr/bin/time", "-f", "%M", "-o", timefile.name] + list(cmd)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        if peak:
            peak.__enter__()
        try:
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
            _, status, _ = os.wait4(p.pid, 0)
            t = time.perf_counter() - t0
            p.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if peak:
                peak.__exit__()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s %s" % (cmd[:3], p.returncode, stdout[-500:],
                                                          err.read().decode(errors="replace")[-2000:]))
    mem = {"rss": None}
    if timefile:
        with open(timefile.name) as f:
            mem["rss"] = int(f.read().split()[-1])
        timefile.close()
    if peak:
        mem["server_hwm"] = peak.hwm
        mem["server_anon"] = peak.anon
    return t, stdout, mem


def timed(cmd, env=None, cwd=None):
    t, out, _ = measured(cmd, env, cwd)
    return t, out


# ---------------------------------------------------------------- SQLite

def sqlite_fresh(work, tag):
    db = os.path.join(work, "sq_%s.db" % tag)
    for p in (db, db + "-journal", db + ".atlas-lock"):
        if os.path.exists(p):
            os.remove(p)
    subprocess.run(["sqlite3", db, "PRAGMA journal_mode=DELETE;"], check=True, stdout=subprocess.DEVNULL)
    return db


def sqlite_ext(work, dirpath, tag):
    db = sqlite_fresh(work, tag)
    hcl = 'env "bench" {\n  migration {\n    dir = "file://%s"\n  }\n}\n' % dirpath
    subprocess.run(["sqlite3", "-cmd", ".load " + EXT, db, "SELECT atlas_config_set(%s);" % sql_quote(hcl)],
                   check=True, stdout=subprocess.DEVNULL)
    t, out, mem = measured(["sqlite3", "-cmd", "PRAGMA synchronous=FULL", "-cmd", ".load " + EXT, db,
                            "SELECT json_extract(atlas_migrate_apply('bench'), '$.Status');"])
    if "succeeded" not in out:
        raise RuntimeError("sqlite ext: " + out)
    return t, db, mem


def sqlite_floor(work, concat_path, tag):
    db = sqlite_fresh(work, tag)
    t, _, mem = measured(["sqlite3", "-cmd", "PRAGMA synchronous=FULL", db, ".read " + concat_path])
    return t, mem


def sql_quote(s):
    return "'" + s.replace("'", "''") + "'"


# ---------------------------------------------------------------- PostgreSQL

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Cluster:
    def __init__(self, work):
        self.dir = os.path.join(work, "pg")
        os.makedirs(self.dir)
        shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(work, 0o755)
        self.port = free_port()
        self.data = os.path.join(self.dir, "data")
        self.as_pg([PGBIN + "/initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                    "--locale=C.UTF-8"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"
                    "max_worker_processes = 16\nfsync = on\nsynchronous_commit = on\n"
                    "shared_buffers = 256MB\nmax_wal_size = 4GB\n" % (self.port, self.dir))
        self.as_pg([PGBIN + "/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log.txt"), "-w", "start"])
        self.env = dict(os.environ, PGHOST=self.dir, PGPORT=str(self.port), PGUSER="postgres")

    def as_pg(self, cmd):
        subprocess.run(["runuser", "-u", "postgres", "--"] + cmd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def psql(self, db, sql):
        r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-At", "-c", sql],
                           env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        return r.stdout

    def fresh(self, name, ext):
        self.psql("postgres", "DROP DATABASE IF EXISTS %s" % name)
        self.psql("postgres", "CREATE DATABASE %s TEMPLATE template0" % name)
        if ext:
            self.psql(name, "CREATE EXTENSION atlas_migrate")
        self.psql(name, "CHECKPOINT")

    def stop(self):
        self.as_pg([PGBIN + "/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"])


def pg_ext(cl, dirpath, name, args=""):
    cl.fresh(name, True)
    hcl = 'env "bench" {\n  migration {\n    dir = "file://%s"\n  }\n}\n' % dirpath
    cl.psql(name, "SELECT atlas_config_set(%s)" % sql_quote(hcl))
    t, out, mem = measured(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", name, "-c",
                            "SET client_min_messages = warning; SELECT atlas_migrate_apply('bench'%s)->>'Status'" % args],
                           env=cl.env, server="postgres: atlas_migrate")
    if "succeeded" not in out:
        raise RuntimeError("pg ext: " + out)
    return t, mem


def pg_noop(cl, name):
    t, out = timed(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", name, "-c",
                    "SET client_min_messages = warning; SELECT atlas_migrate_apply('bench')->>'Status'"], env=cl.env)
    if "nothing_to_do" not in out:
        raise RuntimeError("pg noop: " + out)
    return t


def pg_floor_a(cl, concat_path, name):
    cl.fresh(name, False)
    t, _, mem = measured(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", name, "-f", concat_path], env=cl.env,
                         server="postgres %s " % name)
    return t, mem


def pg_floor_b(cl, dirpath, name):
    cl.fresh(name, False)
    do = ("DO $do$ DECLARE f text; BEGIN "
          "FOR f IN SELECT x FROM pg_ls_dir(%s) AS x WHERE x LIKE '%%.sql' ORDER BY x COLLATE \"C\" LOOP "
          "EXECUTE pg_read_file(%s || '/' || f); COMMIT; END LOOP; END $do$" % (sql_quote(dirpath), sql_quote(dirpath)))
    t, _, mem = measured(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", name, "-c", do], env=cl.env,
                         server="postgres %s " % name)
    return t, mem


# ---------------------------------------------------------------- main

# the lock-retries variant of the n1000 PostgreSQL workload
LR_ARGS = ", statement_lock_timeout => '1s', lock_retries => 10"


def median(xs):
    return statistics.median(xs) if xs else None


def main():
    work = tempfile.mkdtemp(prefix="atlas_bench.")
    os.chmod(work, 0o755)
    results = {"machine": "%s, %d cores, %s" % (platform.platform(), os.cpu_count(), cpu_model()),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": QUICK, "runs": {}}
    cl = None
    try:
        workloads = [("n%d" % n, n) for n in SIZES] + [("bulk", None), ("big", None)]
        only = os.environ.get("BENCH_ONLY")
        if only:
            workloads = [w for w in workloads if w[0] in only.split(",")]
        dirs = {}
        results["largest"] = {}
        for wname, n in workloads:
            # the big file lives in build/bench (never committed); the server reads it
            base = os.path.join(ROOT, "build", "bench") if wname == "big" else work
            os.makedirs(base, exist_ok=True)
            os.chmod(base, 0o755)
            for dialect in ("sqlite", "pg"):
                d = os.path.join(base, "%s_%s" % (wname, dialect))
                shutil.rmtree(d, ignore_errors=True)
                files = nfiles(n, dialect) if n else bulk(dialect) if wname == "bulk" else big(dialect)
                names = gen_dir(d, files)
                concat(d, names)
                dirs[(wname, dialect)] = d
                results["largest"].setdefault(wname, {})[dialect] = max(len(t.encode()) for _, t in files)
                del files
        try:
            cl = Cluster(work)
            cl.fresh("probe", True)
            have_pg = True
        except Exception as e:  # the PostgreSQL part needs the installed extension
            log("PostgreSQL part skipped: %s" % e)
            have_pg = False

        results["mem"] = {}
        for wname, n in workloads:
            rounds = 3 if (n and n >= 10000) or wname == "big" else 5
            runs = {k: [] for k in ("sqlite_ext", "sqlite_floor", "pg_ext", "pg_floor_a", "pg_floor_b", "pg_ext_lr")}
            mem = {k: [] for k in runs}
            dsq = dirs[(wname, "sqlite")]
            dpg = dirs[(wname, "pg")]
            last_n = wname == "n%d" % SIZES[-1]

            def v_sqlite_ext(r):
                t, db, m = sqlite_ext(work, dsq, wname)
                runs["sqlite_ext"].append(t)
                mem["sqlite_ext"].append(m)
                if last_n and r == rounds - 1:
                    os.sync()
                    t0 = time.perf_counter()
                    out = subprocess.run(["sqlite3", "-cmd", ".load " + EXT, db,
                                          "SELECT json_extract(atlas_migrate_apply('bench'), '$.Status');"],
                                         stdout=subprocess.PIPE, text=True).stdout
                    results["runs"]["noop_sqlite"] = [time.perf_counter() - t0]
                    assert "nothing_to_do" in out, out
                os.remove(db)

            def v_sqlite_floor(r):
                t, m = sqlite_floor(work, dsq + ".concat.sql", wname)
                runs["sqlite_floor"].append(t)
                mem["sqlite_floor"].append(m)

            def v_pg_ext(r):
                t, m = pg_ext(cl, dpg, "b_ext")
                runs["pg_ext"].append(t)
                mem["pg_ext"].append(m)
                if last_n and r == rounds - 1:
                    os.sync()
                    results["runs"]["noop_pg"] = [pg_noop(cl, "b_ext")]

            def v_pg_floor_a(r):
                t, m = pg_floor_a(cl, dpg + ".concat.sql", "b_fa")
                runs["pg_floor_a"].append(t)
                mem["pg_floor_a"].append(m)

            def v_pg_floor_b(r):
                t, m = pg_floor_b(cl, dpg, "b_fb")
                runs["pg_floor_b"].append(t)
                mem["pg_floor_b"].append(m)

            def v_pg_ext_lr(r):
                # lock-safe DDL (issue 11) on, nothing blocking: its cost
                t, m = pg_ext(cl, dpg, "b_ext_lr", LR_ARGS)
                runs["pg_ext_lr"].append(t)
                mem["pg_ext_lr"].append(m)

            variants = [v_sqlite_ext, v_sqlite_floor]
            if have_pg:
                variants += [v_pg_ext, v_pg_floor_a, v_pg_floor_b]
                if wname == "n1000":
                    variants.append(v_pg_ext_lr)
            for r in range(rounds):
                log("%s round %d/%d" % (wname, r + 1, rounds))
                # interleaved, and rotated so no variant always follows the same one
                for v in variants[r % len(variants):] + variants[:r % len(variants)]:
                    v(r)
            results["runs"][wname] = runs
            results["mem"][wname] = mem
            if wname == "big":
                for dialect in ("sqlite", "pg"):
                    shutil.rmtree(dirs[(wname, dialect)], ignore_errors=True)
                    os.remove(dirs[(wname, dialect)] + ".concat.sql")

        if not only or "split" in only.split(","):
            sp = gen_split(os.path.join(work, "split.sql"), SPLIT_MB)
            sb = os.path.join(ROOT, "build", "bench", "split_bench")
            out = subprocess.run([sb, sp, "5"], stdout=subprocess.PIPE, text=True, check=True).stdout.split()
            size, nst, secs = int(out[0]), int(out[1]), float(out[2])
            wc = min(timed(["wc", "-l", sp])[0] for _ in range(5))
            results["runs"]["split"] = {"bytes": size, "statements": nst, "seconds": secs, "wc_seconds": wc}
    finally:
        if cl:
            cl.stop()
        shutil.rmtree(work, ignore_errors=True)

    report(results)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def fmt(x):
    return "—" if x is None else "%.3f" % x


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else "%.2f×" % (a / b)


def report(res):
    R = res["runs"]
    lines = ["Measured %s on %s%s." % (res["date"], res["machine"], " (quick run)" if res["quick"] else ""),
             "Median seconds per run (fresh database each run; 5 rounds, 3 for n10000 and big).", "",
             "| workload | host | atlas_migrate_apply | floor | ratio | floor (b) in-server | ratio (b) | overhead/file vs (b) |",
             "|---|---|---|---|---|---|---|---|"]
    for w in [k for k in R if (k.startswith("n") and k[1:].isdigit()) or k in ("bulk", "big")]:
        if not isinstance(R[w], dict):
            continue
        r = R[w]
        nf = int(w[1:]) if w.startswith("n") and w[1:].isdigit() else 1
        se, sf = median(r["sqlite_ext"]), median(r["sqlite_floor"])
        lines.append("| %s | SQLite | %s | %s (sqlite3) | %s | | | %s ms vs sqlite3 |" % (
            w, fmt(se), fmt(sf), ratio(se, sf), "—" if se is None else "%.3f" % ((se - sf) * 1000 / nf)))
        if r["pg_ext"]:
            pe, pa, pb = median(r["pg_ext"]), median(r["pg_floor_a"]), median(r["pg_floor_b"])
            lines.append("| %s | PostgreSQL | %s | %s (psql -f) | %s | %s | %s | %.3f ms |" % (
                w, fmt(pe), fmt(pa), ratio(pe, pa), fmt(pb), ratio(pe, pb), (pe - pb) * 1000 / nf))
    lr = R.get("n1000", {}).get("pg_ext_lr") if isinstance(R.get("n1000"), dict) else None
    if lr:
        pe, pl = median(R["n1000"]["pg_ext"]), median(lr)
        lines.append("")
        lines.append("lock retries on n1000, nothing blocking (PostgreSQL, statement_lock_timeout => '1s', "
                     "lock_retries => 10): %s s against %s s without (%s)." % (fmt(pl), fmt(pe), ratio(pl, pe)))
    big = "n%d" % SIZES[-1]
    if "noop_pg" in R and big in R and R[big]["pg_ext"]:
        lines.append("")
        lines.append("noop (apply again on the applied %s database): PostgreSQL %.3f s = %.2f%% of its apply; SQLite %.3f s = %.2f%%." % (
            big, R["noop_pg"][0], 100 * R["noop_pg"][0] / median(R[big]["pg_ext"]),
            R["noop_sqlite"][0], 100 * R["noop_sqlite"][0] / median(R[big]["sqlite_ext"])))
    elif "noop_sqlite" in R:
        lines.append("")
        lines.append("noop (apply again on the applied %s database): SQLite %.3f s = %.2f%% of its apply." % (
            big, R["noop_sqlite"][0], 100 * R["noop_sqlite"][0] / median(R[big]["sqlite_ext"])))
    M = res.get("mem", {})
    if M:
        lines += ["", "Peak memory next to time (medians): SQLite, the sqlite3 process's peak RSS; PostgreSQL, "
                  "the server process doing the work (the atlas_migrate worker, or the backend of psql -f / "
                  "the DO block): its private memory (peak RssAnon) and VmHWM, which also counts the shared "
                  "buffers it touched. Ratios are to the workload's largest file.", "",
                  "| workload | largest file | variant | time (s) | peak RSS (MB) | RSS / file | private (MB) | private / file |",
                  "|---|---|---|---|---|---|---|---|"]
        names = {"sqlite_ext": "SQLite atlas_migrate_apply", "sqlite_floor": "SQLite sqlite3 shell",
                 "pg_ext": "PostgreSQL atlas_migrate_apply (worker)", "pg_floor_a": "PostgreSQL psql -f (backend)",
                 "pg_floor_b": "PostgreSQL DO + EXECUTE (backend)",
                 "pg_ext_lr": "PostgreSQL atlas_migrate_apply with lock retries (worker)"}
        for w, mem in M.items():
            for k, ms in mem.items():
                if not ms:
                    continue
                size = res["largest"][w]["sqlite" if k.startswith("sqlite") else "pg"]
                if k.startswith("sqlite"):
                    rss = None if None in [m["rss"] for m in ms] else median([m["rss"] for m in ms])
                    priv = None
                else:
                    rss, priv = median([m["server_hwm"] for m in ms]), median([m["server_anon"] for m in ms])

                def mb(kb):
                    return "—" if kb is None else "%.0f" % (kb / 1024)

                def per(kb):
                    return "—" if kb is None else "%.1f×" % (kb * 1024 / size)
                lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    w, "%.1f MB" % (size / 1e6) if size >= 100000 else "%d B" % size, names[k],
                    fmt(median(R[w][k])), mb(rss), per(rss), mb(priv), per(priv)))
    s = R.get("split")
    if s:
        mbps = s["bytes"] / s["seconds"] / 1e6
        lines.append("")
        lines.append("split: %.0f MB, %d statements in %.3f s = %.0f MB/s; `wc -l` %.3f s = %.0f MB/s (splitter/wc time %.2f×)." % (
            s["bytes"] / 1e6, s["statements"], s["seconds"], mbps, s["wc_seconds"],
            s["bytes"] / s["wc_seconds"] / 1e6, s["seconds"] / s["wc_seconds"]))
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.join(ROOT, "results"), exist_ok=True)
    with open(os.path.join(ROOT, "results", "bench.md"), "w") as f:
        f.write(text)
    with open(os.path.join(ROOT, "results", "bench.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
