#!/bin/bash
# bench_etcd.sh - set up and run bench_etcd: a local 3-member etcd cluster,
# one kvfs mount of it (preferring member 0, a directory per consistency
# level) and one mount of the local backend, then the benchmark itself.
#
#   bench_etcd.sh [--quick] [--ops N]
#
# Environment (set by CTest, see bench_etcd.cmake): KT_BASE_PORT, KT_SCRIPT,
# KT_KVFS, KT_BIN_DIR, KT_REAP, KT_LIB. Also KVFS_BENCH_QUICK=1 for --quick.
# Exit 77 (skipped) without etcd; without FUSE or the daemon only the direct
# figures are printed, then 77.
: "${KT_NAME:=bench_etcd}"
: "${KT_BASE_PORT:=25100}"
# shellcheck source=../etcd/cluster/cluster_lib.sh
. "$KT_LIB"

args=()
[ "${KVFS_BENCH_QUICK:-0}" = 1 ] && args+=(--quick)
args+=("$@")

kt_require_etcd
kt_init
kt_cluster_start 3 0 etcd
member0=${KT_EPS%%,*}

mount_reason=""
mkdir -p "$kt_work/probe"
kt_mounts+=("$kt_work/probe")
if [ ! -x "$KT_KVFS" ]; then
	mount_reason="the kvfs daemon is not built ($KT_KVFS)"
elif [ ! -c /dev/fuse ]; then
	mount_reason="/dev/fuse is missing"
elif ! command -v fusermount3 >/dev/null; then
	mount_reason="fusermount3 is missing"
else
	probe=$(timeout 30 "$KT_KVFS" "$kt_work/probe" -o backend=etcd,endpoints=http://127.0.0.1:9 -f 2>&1)
	case $probe in
	*"unknown backend"*) mount_reason="the kvfs daemon has no etcd backend" ;;
	esac
fi
if [ -n "$mount_reason" ]; then
	"$KT_BIN_DIR/bench_etcd" --endpoint "$member0" "${args[@]}" ||
		kt_fail "bench_etcd (direct only) failed"
	kt_skip "mount figures not measured: $mount_reason"
fi

mkdir -p "$kt_work/journal" "$kt_work/localroot"
kt_mount etcdmnt "backend=etcd,endpoints=$KT_EPS,prefer=0,prefix=/bench,journal=$kt_work/journal"
kt_mount localmnt "root=$kt_work/localroot"
for level in strong eventual read-your-writes causal; do
	mkdir "$kt_work/etcdmnt/$level" || kt_fail "mkdir $level"
	kt_set_level "$kt_work/etcdmnt/$level" "$level"
done
"$KT_BIN_DIR/bench_etcd" --endpoint "$member0" \
	--etcd-mount "$kt_work/etcdmnt" --local-mount "$kt_work/localmnt" \
	"${args[@]}" || kt_fail "bench_etcd failed"
