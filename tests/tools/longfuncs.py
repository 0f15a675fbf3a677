#!/usr/bin/python3
"""List the C functions longer than a limit (lines from the name to the
closing brace), longest first.

    tests/tools/longfuncs.py [--max N] [PATH...]   (default: 150; shared pg_ext sqlite_ext)

Exits 1 when any function is over the limit, so it can serve as a lint
check (`make lint`).  It reads the house layout (PostgreSQL's brace style):
the function name starts a line, its body opens with "{" alone at the start
of a line and closes with "}" alone at the start of a line.  Struct and
array initialisers (a "{" after "=" or a line without "(") are not counted.
"""
import os
import re
import sys

NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def functions(path):
    """Yield (name, first line, last line) of each function definition."""
    with open(path, errors="replace") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i] == "{":
            # walk back over the parameter lines to the line naming the function
            j = i - 1
            while j >= 0 and lines[j].strip() and not NAME.match(lines[j]) and j > i - 12:
                j -= 1
            m = NAME.match(lines[j]) if j >= 0 else None
            k = i + 1
            while k < len(lines) and lines[k] != "}" and not lines[k].startswith("};"):
                k += 1
            if m and k < len(lines) and lines[k] == "}" and not lines[i - 1].rstrip().endswith("="):
                yield m.group(1), j + 1, k + 1
            i = k
        i += 1


def c_files(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                for n in sorted(names):
                    if n.endswith(".c"):
                        yield os.path.join(root, n)
        elif p.endswith(".c"):
            yield p


def main(argv):
    limit = 150
    if argv[:1] == ["--max"]:
        limit, argv = int(argv[1]), argv[2:]
    paths = argv or ["shared", "pg_ext", "sqlite_ext"]
    found = []
    for path in c_files(paths):
        for name, first, last in functions(path):
            n = last - first + 1
            if n > limit:
                found.append((n, path, first, name))
    for n, path, first, name in sorted(found, reverse=True):
        print("%5d lines  %s:%d  %s" % (n, path, first, name))
    if found:
        print("%d function(s) over %d lines" % (len(found), limit))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
