#!/bin/sh
# coverage.sh - line and branch coverage of libkvfs (lib/) and of the
# daemon (fs/) by every test, measured with gcov and reported with gcovr
# (Debian package gcovr).
#
# Usage: tests/coverage.sh [--check] [BUILD_DIR]
#
#   Configures a Coverage build (-DCMAKE_BUILD_TYPE=Coverage, gcc -O0
#   --coverage) of the tree this script belongs to in BUILD_DIR (default
#   /tmp/build-kvfs-coverage), builds it, clears old counters and runs
#   every test except the benchmarks (label bench): unit, conformance,
#   plugin and etcd tests drive lib/ directly, the mount, fault and etcd
#   cluster tests drive the daemon through the kernel. A daemon writes
#   its counters when it exits after an unmount; one a test kills on
#   purpose (kill -9) adds nothing, and neither do the lines it ran. The
#   etcd tests start etcd on loopback ports of their own and skip (exit
#   77) when etcd is missing, and the figures drop.
#
#   It prints per-file line and branch coverage of lib/ and fs/ and the
#   totals of each, and exits 1 when a test failed.
#
#   --check  also exit 1 when the line total of lib/ or of fs/ is below
#            90% (KVFS_COVERAGE_MIN changes the threshold).
#
#   KVFS_WERROR=ON makes warnings errors (the test command sets it);
#   KVFS_COVERAGE_EXCLUDE, a ctest -E regex of test names, leaves tests
#   out; KVFS_JOBS sets the parallelism (default 2).
set -eu

check=0
if [ "${1:-}" = "--check" ]; then
	check=1
	shift
fi
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-/tmp/build-kvfs-coverage}
exclude=${KVFS_COVERAGE_EXCLUDE:-}
min=${KVFS_COVERAGE_MIN:-90}
jobs=${KVFS_JOBS:-2}

command -v gcovr >/dev/null 2>&1 || {
	echo "coverage.sh: gcovr not found (apt-get install gcovr)" >&2
	exit 2
}

# Atomic counters: the daemon and the tests run threads, whose racing
# updates would otherwise leave gcov with negative counts.
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Coverage \
	-DKVFS_WERROR="${KVFS_WERROR:-OFF}" \
	-DCMAKE_C_FLAGS=-fprofile-update=atomic >/dev/null
cmake --build "$build" -j"$jobs"
find "$build" -name '*.gcda' -delete

tests_ok=1
(cd "$build" && ctest -LE '^bench$' ${exclude:+-E} ${exclude:+"$exclude"} \
	-j"$jobs" --timeout 600 --output-on-failure) || tests_ok=0

# One gcov pass for both trees: a JSON summary for the figures, and a
# text report of the lines never run (coverage-missing.txt) for whoever
# looks for a gap.
gcovr --root "$src" --gcov-ignore-parse-errors --filter "$src/lib/" \
	--filter "$src/fs/" --json-summary "$build/coverage.json" \
	--txt "$build/coverage-missing.txt" "$build"
echo "lines never run, per file: $build/coverage-missing.txt"
figures_ok=1
python3 "$src/tests/coverage_report.py" "$build/coverage.json" \
	"$([ "$check" = 1 ] && echo "$min" || echo 0)" lib fs || figures_ok=0

if [ "$tests_ok" = 0 ]; then
	echo "coverage.sh: some tests failed (see above)" >&2
	exit 1
fi
[ "$figures_ok" = 1 ]
