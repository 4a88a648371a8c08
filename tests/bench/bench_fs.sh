#!/bin/bash
# bench_fs.sh - the daemon against the native directory and libfuse's
# passthrough_ll (-o writeback,cache=always) on one tmpfs backing
# directory: 5,000 x (create + write 1 KiB + close), open + read + close,
# stat, readdir, unlink; a 256 MiB file written and read in 1 MiB blocks.
# Prints rate, p50/p99 latency, the daemon's peak RSS and each ratio to
# passthrough_ll, then what each operation cost kvfs in requests: the
# kernel's, by kind, and calls to the store (the daemon's counters in
# user.kvfs.stats, read by the driver around each workload). --quick (or KVFS_BENCH_QUICK=1) makes it tiny; it then
# asserts nothing about speed.
#
# Environment: KVFS_BIN, PASSTHROUGH_LL, BENCH_FS_DRIVER (set by CTest).
set -euo pipefail
export LC_ALL=C
: "${KVFS_BIN:?}" "${BENCH_FS_DRIVER:?}"
NFILES=5000
MIB=256
if [ "${1:-}" = --quick ] || [ "${KVFS_BENCH_QUICK:-0}" = 1 ]; then
	NFILES=200
	MIB=8
fi
skip() { echo "SKIPPED: $*"; exit 77; }
[ -c /dev/fuse ] || skip "/dev/fuse is missing"
command -v fusermount3 >/dev/null || skip "fusermount3 is missing"
[ -d /dev/shm ] && [ -w /dev/shm ] || skip "no writable tmpfs at /dev/shm"

B=$(mktemp -d /dev/shm/kvfs-bench.XXXXXX)
MNT=$(mktemp -d "${TMPDIR:-/tmp}/kvfs-bench-mnt.XXXXXX")
PID=
cleanup() {
	set +e
	if grep -q " $MNT fuse" /proc/mounts; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	fi
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$B"
	rmdir "$MNT" 2>/dev/null
}
trap cleanup EXIT

wait_mount() {
	for _ in $(seq 1 200); do
		grep -q " $MNT fuse" /proc/mounts && return 0
		kill -0 "$PID" 2>/dev/null || { echo "daemon died" >&2; exit 1; }
		sleep 0.05
	done
	echo "mount did not appear" >&2
	exit 1
}

# run NAME: the driver's rows, prefixed with NAME, plus the peak RSS.
run_fuse() {
	local name=$1
	shift
	"$@" >"$B/$name.log" 2>&1 &
	PID=$!
	wait_mount
	"$BENCH_FS_DRIVER" "$MNT" $NFILES $MIB >"$B/$name.rows"
	sed -n "s/^ROW /$name /p" "$B/$name.rows" >>"$B/results"
	sed -n "s/^REQS /$name /p" "$B/$name.rows" >>"$B/requests"
	echo "$name rss $(awk '/^VmHWM:/ { print $2 }' /proc/$PID/status) KiB 0 0" >>"$B/results"
	fusermount3 -u "$MNT"
	wait "$PID" || true
	PID=
}

: >"$B/results"
: >"$B/requests"
mkdir "$B/native"
"$BENCH_FS_DRIVER" "$B/native" $NFILES $MIB | sed 's/^ROW /native /' >>"$B/results"
if [ -n "${PASSTHROUGH_LL:-}" ] && [ -x "$PASSTHROUGH_LL" ]; then
	mkdir "$B/pt"
	run_fuse passthrough "$PASSTHROUGH_LL" -f -o "source=$B/pt,writeback,cache=always" "$MNT"
else
	echo "passthrough_ll is not built: no reference column"
fi
mkdir "$B/kv" "$B/kvc"
run_fuse kvfs "$KVFS_BIN" "$MNT" -f -o "root=$B/kv"
# The same over a cache layer, which keeps the local backend's kernel
# caching (KVFS_CTL_CAPS) and adds its own copy of small values.
run_fuse kvfs_cache "$KVFS_BIN" "$MNT" -f -o "root=$B/kvc,cache=64M"

echo "bench_fs: $NFILES files, ${MIB} MiB sequential, tmpfs backing, $(nproc) CPUs"
awk '
{ key = $2; sys = $1; rate[sys, key] = $3; unit[key] = $4; p50[sys, key] = $5;
  p99[sys, key] = $6; if (!(key in seen)) { seen[key] = 1; order[n++] = key } }
END {
  printf "%-9s %-10s %12s %12s %12s %12s %9s %9s %9s %8s %8s %8s\n", "workload", "unit",
    "native", "passthr_ll", "kvfs", "kvfs+cache", "p50 pt", "p50 kvfs", "p99 kvfs", "kv/pt", "kv/nat", "kvc/pt";
  for (i = 0; i < n; i++) {
    k = order[i];
    if (k == "rss") continue;
    r = (rate["passthrough", k] > 0) ? sprintf("%.2fx", rate["kvfs", k] / rate["passthrough", k]) : "-";
    rn = (rate["native", k] > 0) ? sprintf("%.2fx", rate["kvfs", k] / rate["native", k]) : "-";
    rc = (rate["passthrough", k] > 0) ? sprintf("%.2fx", rate["kvfs_cache", k] / rate["passthrough", k]) : "-";
    printf "%-9s %-10s %12s %12s %12s %12s %9s %9s %9s %8s %8s %8s\n", k, unit[k],
      rate["native", k], rate["passthrough", k], rate["kvfs", k], rate["kvfs_cache", k],
      p50["passthrough", k], p50["kvfs", k], p99["kvfs", k], r, rn, rc;
  }
  printf "peak RSS (VmHWM): passthrough_ll %s KiB, kvfs %s KiB, kvfs+cache %s KiB\n",
    rate["passthrough", "rss"], rate["kvfs", "rss"], rate["kvfs_cache", "rss"];
  printf "latencies in microseconds; rates: higher is better\n";
}' "$B/results"
if [ -s "$B/requests" ]; then
	echo "kvfs requests per operation (kernel requests by kind; store calls):"
	awk '{ printf "%-11s %-9s", $1, $2; for (i = 4; i <= NF; i++) { split($i, kv, "=");
	         printf " %s=%.2f", kv[1], kv[2] / $3 } printf "\n" }' "$B/requests"
fi
