"""Atlas's SQLite integration scripts (txtar/sqlite/*.txtar), read in place and
mapped onto extension calls as the fixtures' README describes:

  atlas migrate apply [N] --url URL [--dry-run] [--tx-mode M]
      -> SELECT atlas_migrate_apply('t', '{"amount": N, ...}')
         "stdout" = the apply log (and, on error, the error's detail),
         "stderr" = "Error: " + the error message
  atlas migrate hash          -> atlas.sum recomputed
  atlas migrate set V         -> emulated by writing revision rows as `migrate set`
                                 does (§f.3): files up to V marked applied
                                 (type 4, or 6 over a partial row), rows after V
                                 removed; the directory is verified first
  clearSchema                 -> a new, empty database
  mv / cp / rm                -> file operations in the script's folder
Lines that test the Atlas CLI's own argument parsing (`migrate set` with the
wrong number of arguments) have nothing to map onto and are counted as not
applicable.  Each script is one TAP test; each command line is checked.
"""
import json
import os
import re
import shlex
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import CONFORMANCE, ROOT, atlas_sum, need_conformance, run, scratch  # noqa: E402

EXT = os.path.join(ROOT, "build", "atlas_migrate")
TMP = scratch()


def parse_txtar(text):
    """(script lines, {name: content}) of a txtar archive."""
    files, script, cur = {}, [], None
    for line in text.splitlines(keepends=True):
        m = re.match(r"^-- (.+) --\n?$", line)
        if m:
            cur = m.group(1)
            files[cur] = ""
        elif cur is None:
            script.append(line.rstrip("\n"))
        else:
            files[cur] += line
    return script, files


class Script:
    def __init__(self, name, files):
        self.dir = os.path.join(TMP, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        for path, content in files.items():
            full = os.path.join(self.dir, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(content)
        self.mig = os.path.join(self.dir, "migrations")
        os.makedirs(self.mig, exist_ok=True)
        self.db = os.path.join(self.dir, "test.db")
        self.stdout = self.stderr = ""
        self.checked = 0
        self.not_applicable = []
        self.connect()

    def connect(self):
        self.con = sqlite3.connect(self.db, isolation_level=None)
        self.con.enable_load_extension(True)
        self.con.load_extension(EXT)
        self.con.execute("SELECT atlas_config_set(?)",
                         ('env "t" {\n  url = "sqlite://test.db"\n  migration {\n    dir = "file://%s"\n  }\n}\n' % self.mig,))

    def clear(self):
        self.con.close()
        for p in (self.db, self.db + ".atlas-lock"):
            if os.path.exists(p):
                os.remove(p)
        self.connect()

    def hash(self):
        items = []
        for n in sorted(os.listdir(self.mig)):
            if n.endswith(".sql"):
                with open(os.path.join(self.mig, n), "rb") as f:
                    items.append((n, f.read()))
        with open(os.path.join(self.mig, "atlas.sum"), "w") as f:
            f.write(atlas_sum(items))
        return True

    def error_text(self, e):
        msg = str(e)
        first, _, rest = msg.partition("\n")
        return first, rest

    def apply(self, args):
        opts = {}
        i = 0
        while i < len(args):
            a = args[i]
            if a == "--url":
                i += 1
            elif a == "--dry-run":
                opts["dry_run"] = True
            elif a == "--tx-mode":
                opts["tx_mode"] = args[i + 1]
                i += 1
            elif a == "--baseline":
                opts["baseline"] = args[i + 1]
                i += 1
            elif re.match(r"^-?\d+$", a):
                opts["amount"] = int(a)
            else:
                raise NotApplicable("apply flag " + a)
            i += 1
        try:
            r = json.loads(self.con.execute("SELECT atlas_migrate_apply('t', ?)", (json.dumps(opts),)).fetchone()[0])
            self.stdout, self.stderr = r["Log"], ""
            return True
        except sqlite3.Error as e:
            first, rest = self.error_text(e)
            row = self.con.execute("SELECT log FROM atlas_migrate_runs ORDER BY id DESC LIMIT 1").fetchone()
            self.stdout = ((row[0] or "") if row else "") + rest
            self.stderr = "Error: " + first
            return False

    def set(self, args):
        """Emulate `atlas migrate set V` (revision rows as in §f.3)."""
        pos = [a for a in args if not a.startswith("--") and a != "URL"]
        if len(pos) != 1:
            raise NotApplicable("the CLI's argument-count check of `migrate set`")
        target = pos[0]
        try:
            status = self.con.execute(
                "SELECT version, description, applied, total FROM atlas_migrate_status('t')").fetchall()
        except sqlite3.Error as e:
            first, rest = self.error_text(e)
            self.stdout, self.stderr = rest, "Error: " + first
            return False
        versions = [s[0] for s in status]
        if target not in versions:
            self.stdout, self.stderr = "", 'Error: migration with version "%s" not found' % target
            return False
        con = self.con
        con.execute("""CREATE TABLE IF NOT EXISTS atlas_schema_revisions (version text NOT NULL,
            description text NOT NULL, type integer NOT NULL DEFAULT (2), applied integer NOT NULL DEFAULT (0),
            total integer NOT NULL DEFAULT (0), executed_at datetime NOT NULL, execution_time integer NOT NULL,
            error text NULL, error_stmt text NULL, hash text NOT NULL, partial_hashes json NULL,
            operator_version text NOT NULL, PRIMARY KEY (version))""")
        con.execute("DELETE FROM atlas_schema_revisions WHERE version > ? AND version <> '.atlas_cloud_identifier'",
                    (target,))
        for v, desc, applied, total in status:
            if v > target:
                continue
            row = con.execute("SELECT type, total FROM atlas_schema_revisions WHERE version = ?", (v,)).fetchone()
            if row is None:
                con.execute("INSERT INTO atlas_schema_revisions VALUES (?, ?, 4, 0, 0, datetime('now'), 0, '', '', '', 'null', 'test')",
                            (v, desc))
            elif row[0] & 4 == 0:
                con.execute("UPDATE atlas_schema_revisions SET type = type | 4, applied = total WHERE version = ?", (v,))
        self.stdout = self.stderr = ""
        return True

    def run_line(self, line):
        neg = line.startswith("! ")
        if neg:
            line = line[2:]
        words = shlex.split(line)
        cmd = words[0]
        if cmd == "atlas":
            sub = words[1:3]
            if sub == ["migrate", "apply"]:
                ok = self.apply(words[3:])
            elif sub == ["migrate", "set"]:
                ok = self.set(words[3:])
            elif sub == ["migrate", "hash"]:
                ok = self.hash()
            else:
                raise NotApplicable(" ".join(words[:3]))
            if ok == neg:
                raise AssertionError("`%s` %s, expected it to %s\nstdout: %s\nstderr: %s" % (
                    line, "succeeded" if ok else "failed", "fail" if neg else "succeed", self.stdout, self.stderr))
        elif cmd in ("stdout", "stderr"):
            pat = words[1]
            hay = self.stdout if cmd == "stdout" else self.stderr
            if not re.search(pat, hay, re.M):
                raise AssertionError("%s %r not found in:\n%s" % (cmd, pat, hay))
        elif cmd == "clearSchema":
            self.clear()
        elif cmd in ("mv", "cp"):
            src, dst = (os.path.join(self.dir, w) for w in words[1:3])
            (shutil.move if cmd == "mv" else shutil.copy)(src, dst)
        elif cmd == "rm":
            os.remove(os.path.join(self.dir, words[1]))
        else:
            raise NotApplicable(cmd)
        self.checked += 1


class NotApplicable(Exception):
    pass


def run_script(path):
    with open(path) as f:
        script, files = parse_txtar(f.read())
    s = Script(os.path.basename(path)[:-6], files)
    skipping = None
    for line in script:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if skipping and line.split()[0] in ("stdout", "stderr"):
            continue  # the assertions of a line that was not applicable
        skipping = None
        try:
            s.run_line(line)
        except NotApplicable as e:
            s.not_applicable.append("%s (%s)" % (line, e))
            skipping = line
    print("# %s: %d lines checked, not applicable: %s" % (os.path.basename(path), s.checked,
                                                           "; ".join(s.not_applicable) or "none"))
    if s.checked < 10:
        raise AssertionError("too few lines checked")


def make_tests():
    base = os.path.join(CONFORMANCE, "txtar", "sqlite")
    if not os.path.isdir(base):
        def test_txtar_sqlite():
            need_conformance()
        return [test_txtar_sqlite]
    tests = []
    for name in sorted(os.listdir(base)):
        if name.endswith(".txtar"):
            def t(path=os.path.join(base, name)):
                run_script(path)
            t.__name__ = "txtar_sqlite_" + name[:-6].replace("-", "_")
            tests.append(t)
    return tests


if __name__ == "__main__":
    if not os.path.exists(EXT + ".so"):
        print("1..0 # SKIP %s.so not built" % EXT)
        sys.exit(1)
    sys.exit(run(make_tests()))
