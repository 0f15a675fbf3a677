"""Configuration you can inspect, SQLite host: atlas_config_set refuses, with
line and column, what apply would refuse for every call (wrong types, bad
durations, unknown tx_mode / exec_order values, for_each, data sources,
unsupported functions), accepts what depends on call-time values, and
atlas_config_get returns the stored text with its secrets redacted.
"""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import ROOT, check, contains, eq, run  # noqa: E402

EXT = os.path.join(ROOT, "build", "atlas_migrate")

GOOD = """variable "cloud_token" {
  type    = string
  default = getenv("ATLAS_TOKEN")
}
env "local" {
  url = "sqlite://app.db"
  migration {
    dir = "file://migrations"
  }
}
"""


def connect():
    con = sqlite3.connect(":memory:")
    con.enable_load_extension(True)
    con.load_extension(EXT)
    return con


def set_error(con, text):
    try:
        con.execute("SELECT atlas_config_set(?)", (text,)).fetchone()
    except sqlite3.Error as e:
        return str(e)
    raise AssertionError("atlas_config_set accepted:\n%s" % text)


def stored(con):
    return con.execute("SELECT hcl FROM atlas_config WHERE id = 1").fetchone()[0]


# Each: the config, the message atlas_config_set gives (line:column first).
ERRORS = [
    ('env "prod" {\n  migration {\n    lock_timeout = "30x"\n  }\n}\n',
     'atlas.hcl: 3:5: env "prod": migration.lock_timeout: unknown unit "x" in duration "30x"'),
    ('env "prod" {\n  migration {\n    lock_timeout = "1000h"\n  }\n}\n',
     'atlas.hcl: 3:5: env "prod": migration.lock_timeout: the value must be a duration from 0 to 576h'),
    ('atlas {\n  cloud {\n    token = getenv("T")\n    timeout = "soon"\n  }\n}\n',
     'atlas.hcl: 4:5: cloud.timeout: invalid duration "soon"'),
    ('env "prod" {\n  migration {\n    tx_mode = "al"\n  }\n}\n',
     'atlas.hcl: 3:5: env "prod": migration.tx_mode: unknown tx-mode "al"'),
    ('env "prod" {\n  migration {\n    exec_order = "skip"\n  }\n}\n',
     'atlas.hcl: 3:5: unknown execution order: "skip"'),
    ('env "prod" {\n  url = { a = 1 }\n}\n',
     'atlas.hcl: 2:3: attribute "url" in env block must be a string, got object'),
    ('env "a" {\n}\nenv "b" {\n  migration {\n    dir = "migrations"\n  }\n}\n',
     'atlas.hcl: 5:5: env "b": unsupported migration directory URL "migrations"'),
    ('env {\n  for_each = toset(["a", "b"])\n  name = atlas.env\n  url = each.value\n}\n',
     'atlas.hcl: 2:3: unlabelled env (at 1:1) uses for_each, which is not supported yet'),
    ('data "remote_dir" "d" {\n  name = "x"\n}\nenv "prod" {\n  migration {\n    dir = data.remote_dir.d.url\n  }\n}\n',
     'atlas.hcl: 6:11: data sources are not supported yet (data.remote_dir.d is used by env "prod")'),
    ('env "prod" {\n  url = getenvv("DB")\n}\n',
     'atlas.hcl: 2:9: unknown function "getenvv"'),
    ('locals {\n  d = regex("a", "b")\n}\nenv "prod" {\n  migration {\n    dir = local.d\n  }\n}\n',
     'atlas.hcl: 2:7: function "regex" is not supported'),
    ('variable "lt" {\n  default = "5 minutes"\n}\nenv "prod" {\n  migration {\n    lock_timeout = var.lt\n  }\n}\n',
     'atlas.hcl: 6:5: env "prod": migration.lock_timeout: '),
]


def test_set_refuses_with_line_and_column():
    con = connect()
    con.execute("SELECT atlas_config_set(?)", (GOOD,)).fetchone()
    for text, msg in ERRORS:
        contains(set_error(con, text), msg, "error for %r" % text)
    # nothing was stored by a refused call
    eq(stored(con), GOOD, "the stored config")


def test_set_accepts_call_time_values():
    con = connect()
    text = """variable "lt" {
  type = string
}
variable "tenant" {
  type    = string
  default = "acme"
}
atlas {
  cloud {
    token   = getenv("ATLAS_TOKEN")
    timeout = getenv("CLOUD_TIMEOUT")
  }
}
env "prod" {
  url = "sqlite://x?search_path=${var.tenant}"
  src = data.external_schema.orm.url      # ignored by apply
  migration {
    dir          = "file://migrations/${var.tenant}"
    lock_timeout = var.lt                 # known only when called
    tx_mode      = lower(getenv("TX_MODE"))
    exec_order   = LINEAR_SKIP
  }
}
env {
  name = atlas.env
  migration {
    dir = "file://${atlas.env}"
  }
}
data "external_schema" "orm" {
  program = ["go", "run", "loader"]
}
"""
    eq(con.execute("SELECT atlas_config_set(?)", (text,)).fetchone()[0], "ok", "result")
    eq(stored(con), text, "the stored config")
    # the value is checked when the call gives it
    try:
        con.execute("SELECT atlas_migrate_apply('prod', '{\"vars\": {\"lt\": \"forever\"}}')").fetchone()
        raise AssertionError("expected an error")
    except sqlite3.Error as e:
        contains(str(e), 'migration.lock_timeout: invalid duration "forever"')


def test_get_redacts_secrets():
    con = connect()
    try:
        con.execute("SELECT atlas_config_get()").fetchone()
        raise AssertionError("expected an error")
    except sqlite3.Error as e:
        contains(str(e), "no atlas.hcl configuration is stored")
    text = """# deploy config   (comments and layout are kept)
variable "pw" {
  default = "hunter2"
}
atlas {
  cloud {
    token = "aci_0123456789secret"   # the Cloud token
    url   = "https://api.atlasgo.cloud/query"
  }
}
env "prod" {
  url = "postgres://app:${var.pw}@db:5432/app?sslmode=disable"
  dev = "postgres://root:rootpass@localhost/dev"   # postgres://u:incomment@h
  migration {
    dir = "file://migrations"
  }
}
"""
    con.execute("SELECT atlas_config_set(?)", (text,)).fetchone()
    got = con.execute("SELECT atlas_config_get()").fetchone()[0]
    want = (text.replace('"hunter2"', '"<redacted>"')
            .replace('"aci_0123456789secret"', '"<redacted>"')
            .replace("app:${var.pw}@", "app:xxxxx@")
            .replace("root:rootpass@", "root:xxxxx@")
            .replace("u:incomment@", "u:xxxxx@"))
    eq(got, want, "atlas_config_get()")
    for secret in ("hunter2", "aci_0123456789secret", "rootpass", "incomment"):
        check(secret not in got, "%s is in the output" % secret)
    # the stored text itself is unchanged
    eq(stored(con), text, "the stored config")


def test_envs_list_settings_and_sources():
    """atlas_config_envs(): each env's settings and where they come from,
    secrets never shown; an env that needs a call-time variable says so."""
    import json
    con = connect()
    con.execute("SELECT atlas_config_set(?)", ("""env "prod" {
  url = "sqlite://app:hunter2@app.db"
  migration {
    dir          = "file://migrations"
    lock_timeout = "30s"
    tx_mode      = "all"
  }
}
env "local" {
  url = "sqlite://local.db"
}
atlas {
  cloud {
    token = "atl-sqlite-secret"
  }
}
""",)).fetchone()
    out = con.execute("SELECT atlas_config_envs()").fetchone()[0]
    rows = {(r["env"], r["setting"]): (r["value"], r["source"]) for r in json.loads(out)}
    eq(rows[("prod", "tx_mode")], ("all", "atlas.hcl"), "prod tx_mode")
    eq(rows[("prod", "lock_timeout")], ("30s", "atlas.hcl"), "prod lock_timeout")
    eq(rows[("prod", "exec_order")], ("linear", "default"), "prod exec_order")
    eq(rows[("prod", "statement_lock_timeout")], ("off", "default"), "prod statement_lock_timeout")
    eq(rows[("prod", "dir")], ("file://migrations", "atlas.hcl"), "prod dir")
    eq(rows[("prod", "cloud")], ("on", "atlas.hcl"), "prod cloud")
    eq(rows[("prod", "url")], ("sqlite://app:xxxxx@app.db", "atlas.hcl"), "prod url redacted")
    eq(rows[("local", "dir")], ("file://migrations", "default"), "local dir")
    check(("prod", "amount") not in rows, "the call's own options are not settings")
    for secret in ("hunter2", "atl-sqlite-secret"):
        check(secret not in out, "%s is in the output" % secret)
    # a variable without a default is known only at the call (Atlas reads
    # the whole file): each env says so
    con.execute("SELECT atlas_config_set(?)", ('variable "tenant" {\n  type = string\n}\n'
                                                'env "t" {\n  url = "sqlite://${var.tenant}.db"\n}\n',)).fetchone()
    rows = json.loads(con.execute("SELECT atlas_config_envs()").fetchone()[0])
    eq([(r["env"], r["setting"], r["source"]) for r in rows], [("t", "error", None)], "t: one error row")
    contains(rows[0]["value"], 'missing value for required variable "tenant"', "t: the error names the variable")


if __name__ == "__main__":
    sys.exit(run([test_set_refuses_with_line_and_column,
                  test_set_accepts_call_time_values,
                  test_get_redacts_secrets,
                  test_envs_list_settings_and_sources]))
