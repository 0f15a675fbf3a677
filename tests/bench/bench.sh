#!/usr/bin/env bash
# make bench: build the splitter benchmark, install the PostgreSQL extension,
# run tests/bench/bench.py (results in results/bench.md and results/bench.json).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p build/bench
cc -std=c99 -D_GNU_SOURCE -O2 -Ishared -o build/bench/split_bench tests/bench/split_bench.c \
	$(find build/core -name "*.o" | sort) $(pkg-config --libs libcurl libcjson libcrypto)
if [ "$(id -u)" = 0 ]; then
	# make install writes the server's shared directories: the PostgreSQL
	# tests of another checkout must not run meanwhile (tests/pg/run.sh)
	exec 9>/tmp/atlas_migrate-pg-tests.lock
	flock 9
	make --no-print-directory install >/dev/null
fi
# the pre-flight check's cost on n1000 (issue 15)
/usr/bin/python3 tests/bench/check_bench.py
exec /usr/bin/python3 tests/bench/bench.py "$@"
