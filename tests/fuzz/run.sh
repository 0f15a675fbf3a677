#!/usr/bin/env bash
# Short libFuzzer runs over every fuzz target given as argument.
# FUZZ_SECONDS (default 20) per target; seeds from tests/fuzz/corpus/<target>/.
# A crash leaves its input in build/fuzz/crash-* and fails the run: turn it
# into a core test, fix, commit the test.
set -u
secs=${FUZZ_SECONDS:-20}
rc=0
for bin in "$@"; do
	name=$(basename "$bin")
	corpus=build/fuzz/corpus/$name
	mkdir -p "$corpus"
	[ -d "tests/fuzz/corpus/$name" ] && cp -n tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
	echo "== $name ($secs s)"
	if ! "$bin" -max_total_time="$secs" -artifact_prefix=build/fuzz/"$name"- -max_len=65536 \
		"$corpus" >build/fuzz/"$name".log 2>&1; then
		echo "   CRASH: see build/fuzz/$name.log"; tail -30 build/fuzz/"$name".log
		rc=1
	else
		grep -E '^#[0-9]+.*DONE' build/fuzz/"$name".log | tail -1
	fi
done
exit $rc
