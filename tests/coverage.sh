#!/bin/sh
# coverage.sh - line coverage of libkvfs (lib/: lib/src, lib/src/etcd and
# the SQLite plugin in lib/plugins) by every library test, measured with
# gcov and reported with gcovr (Debian package gcovr).
#
# Usage: tests/coverage.sh [--check] [BUILD_DIR]
#
#   Configures a Coverage build (-DCMAKE_BUILD_TYPE=Coverage) of the tree
#   this script belongs to in BUILD_DIR (default /tmp/build-kvfs-coverage),
#   builds it, clears old counters, runs every test that exercises lib/:
#   those labelled unit, conformance, etcd, plugin, cache or config
#   (KVFS_COVERAGE_LABELS, a ctest -L regex, changes that), leaving out
#   tests labelled mount or bench and the etcd cluster scripts, which drive
#   the kvfs daemon through mounts (KVFS_COVERAGE_EXCLUDE, a ctest -E
#   regex of test names, changes that). The etcd tests start etcd on
#   loopback ports of their own and skip (exit 77) when etcd is missing.
#   It then prints per-file line coverage of lib/, the total for lib/ and
#   the total for the core modules (error buf consistency key options
#   store fallback registry local).
#
#   --check  exit 1 when the lib/ total is below 90% (KVFS_COVERAGE_MIN
#            changes the threshold). Failing tests are reported but do not
#            change the exit status; ctest is the judge of those.
set -eu

check=0
if [ "${1:-}" = "--check" ]; then
	check=1
	shift
fi
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-/tmp/build-kvfs-coverage}
labels=${KVFS_COVERAGE_LABELS:-unit|conformance|etcd|plugin|cache|config}
exclude=${KVFS_COVERAGE_EXCLUDE:-^(mount_|bench_|etcd_)}
min=${KVFS_COVERAGE_MIN:-90}
jobs=${KVFS_JOBS:-2}

command -v gcovr >/dev/null 2>&1 || {
	echo "coverage.sh: gcovr not found (apt-get install gcovr)" >&2
	exit 2
}

# Atomic counters: the tests run threads, whose racing updates would
# otherwise leave gcov with negative counts.
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Coverage \
	-DCMAKE_C_FLAGS=-fprofile-update=atomic >/dev/null
cmake --build "$build" -j"$jobs" >/dev/null
find "$build" -name '*.gcda' -delete

tests_ok=1
(cd "$build" && ctest -L "$labels" -LE '^(mount|bench)$' \
	${exclude:+-E} ${exclude:+"$exclude"} -j"$jobs" --output-on-failure) ||
	tests_ok=0

gcovr="gcovr --root $src --gcov-ignore-parse-errors"
core='(error|buf|consistency|key|options|store|fallback|registry|local)\.c$'
echo
echo "== line coverage of lib/"
$gcovr --filter "$src/lib/" "$build" --print-summary \
	>"$build/coverage-lib.txt"
$gcovr --filter "$src/lib/src/$core" "$build" --print-summary \
	>"$build/coverage-core.txt"
sed -n '/^File/,/^TOTAL/p' "$build/coverage-lib.txt"
total=$(sed -n 's/^lines: \([0-9.]*\)%.*/\1/p' "$build/coverage-lib.txt")
core_total=$(sed -n 's/^lines: \([0-9.]*\)%.*/\1/p' "$build/coverage-core.txt")
echo "lib/ line coverage: ${total}%"
echo "core modules line coverage: ${core_total}%"
[ "$tests_ok" = 1 ] || echo "note: some tests failed (see above)"

if [ "$check" = 1 ]; then
	if awk -v t="$total" -v m="$min" 'BEGIN { exit !(t + 0 < m + 0) }'; then
		echo "coverage.sh: lib/ line coverage ${total}% is below ${min}%" >&2
		exit 1
	fi
fi
exit 0
