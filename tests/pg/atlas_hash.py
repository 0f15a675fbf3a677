#!/usr/bin/python3
"""atlas_hash.py DIR... - write DIR/atlas.sum the way `atlas migrate hash` does.

Test helper for the PostgreSQL suite (spec §b): one running SHA-256 over
name + content of every top-level *.sql file in bytewise name order, a
sum-ignored file (first line `...atlas:sum ignore`) feeds only its name and
gets no line, the total hashes name + per-file hash of each line.
"""
import base64
import hashlib
import os
import re
import sys

IGNORE = re.compile(rb'^([ -~]*)atlas:sum ignore$')


def b64(h):
    return base64.b64encode(h.digest()).decode()


def hash_dir(path):
    names = sorted((n for n in os.listdir(path)
                    if n.endswith('.sql') and os.path.isfile(os.path.join(path, n))),
                   key=lambda n: n.encode())
    running = hashlib.sha256()
    lines = []
    for n in names:
        with open(os.path.join(path, n), 'rb') as f:
            data = f.read()
        running.update(n.encode())
        first = data.split(b'\n', 1)[0]
        if IGNORE.match(first):
            continue
        running.update(data)
        lines.append((n, b64(running.copy())))
    total = hashlib.sha256()
    for n, h in lines:
        total.update(n.encode() + h.encode())
    out = 'h1:%s\n' % b64(total) + ''.join('%s h1:%s\n' % (n, h) for n, h in lines)
    with open(os.path.join(path, 'atlas.sum'), 'w') as f:
        f.write(out)


if __name__ == '__main__':
    for d in sys.argv[1:]:
        hash_dir(d)
