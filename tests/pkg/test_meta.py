#!/usr/bin/python3
"""tests/pkg/test_meta.py - the release's version is the same everywhere.

META.json is valid per the PGXN Meta Spec 1.0.0 (required keys and their
types, semantic versions, a known license, provides/prereqs shapes, files
that exist), and its version matches sql/atlas_migrate.control's
default_version, MIG_VERSION in shared/mig.h, the newest upgrade script and
debian/changelog.  TAP output.
"""
import json
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
N = 0
FAILED = 0


def check(name, cond, detail=""):
    global N, FAILED
    N += 1
    if cond:
        print(f"ok {N} - {name}")
    else:
        FAILED += 1
        print(f"not ok {N} - {name}")
        if detail:
            print(f"#   {detail}")


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


# Meta Spec 1.0.0: "version" values are Semantic Versions 1.0.0
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)([a-zA-Z][0-9a-zA-Z-]*)?$")
LICENSES = {"agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd",
            "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit",
            "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5", "postgresql", "qpl_1_0",
            "ssleay", "sun", "zlib", "open_source", "restricted", "unrestricted", "unknown"}
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONS = {"requires", "recommends", "suggests", "conflicts"}

try:
    meta = json.loads(read("META.json"))
except (OSError, ValueError) as e:
    check("META.json parses as JSON", False, str(e))
    print(f"1..{N}")
    sys.exit(1)
check("META.json parses as JSON", isinstance(meta, dict))

missing = [k for k in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec")
           if k not in meta]
check("META.json has every required key", not missing, f"missing: {missing}")
check("meta-spec version is 1.0.0", meta.get("meta-spec", {}).get("version") == "1.0.0")
check("name is atlas_migrate", meta.get("name") == "atlas_migrate")
check("version is a semantic version", bool(SEMVER.match(str(meta.get("version", "")))), meta.get("version"))
m = meta.get("maintainer")
check("maintainer is a string or a list of strings",
      isinstance(m, str) or (isinstance(m, list) and m and all(isinstance(x, str) for x in m)))
lic = meta.get("license")
lic_ok = (isinstance(lic, str) and lic in LICENSES) or \
         (isinstance(lic, list) and lic and all(x in LICENSES for x in lic)) or \
         (isinstance(lic, dict) and lic)
check("license is one the spec knows", lic_ok, repr(lic))

prov = meta.get("provides", {})
ok = isinstance(prov, dict) and bool(prov)
for ext, p in (prov.items() if isinstance(prov, dict) else []):
    if not (isinstance(p, dict) and "file" in p and "version" in p and SEMVER.match(str(p["version"]))):
        ok = False
    elif not os.path.exists(os.path.join(ROOT, p["file"])):
        ok = False
    elif "docfile" in p and not os.path.exists(os.path.join(ROOT, p["docfile"])):
        ok = False
check("provides: each extension has an existing file and a semantic version", ok, json.dumps(prov))
check("provides atlas_migrate at the distribution's version",
      prov.get("atlas_migrate", {}).get("version") == meta.get("version"))

pre = meta.get("prereqs", {})
ok = isinstance(pre, dict)
for phase, rels in (pre.items() if ok else []):
    if phase not in PHASES or not isinstance(rels, dict):
        ok = False
        continue
    for rel, reqs in rels.items():
        if rel not in RELATIONS or not isinstance(reqs, dict):
            ok = False
check("prereqs: known phases and relations", ok, json.dumps(pre))
check("release_status is stable, testing or unstable",
      meta.get("release_status", "stable") in ("stable", "testing", "unstable"))

# the same version everywhere
version = meta.get("version")
control = re.search(r"^default_version\s*=\s*'([^']*)'", read("sql/atlas_migrate.control"), re.M)
check("META.json version matches the control file's default_version",
      control is not None and control.group(1) == version, f"control {control and control.group(1)}, META {version}")
mig = re.search(r'^#define MIG_VERSION "([^"]*)"', read("shared/mig.h"), re.M)
check("META.json version matches MIG_VERSION (shared/mig.h)",
      mig is not None and mig.group(1) == version, f"MIG_VERSION {mig and mig.group(1)}, META {version}")
scripts = [f for f in os.listdir(os.path.join(ROOT, "sql")) if re.match(r"atlas_migrate--.*\.sql$", f)]
check(f"an install or upgrade script reaches {version} (sql/atlas_migrate--*{version}.sql)",
      any(f.endswith(f"--{version}.sql") for f in scripts), str(sorted(scripts)))
deb = re.match(r"^\S+ \(([^)-]+)(-[^)]*)?\)", read("debian/changelog"))
check("debian/changelog's newest entry is the same upstream version",
      deb is not None and deb.group(1) == version, f"debian {deb and deb.group(1)}, META {version}")

print(f"1..{N}")
sys.exit(1 if FAILED else 0)
