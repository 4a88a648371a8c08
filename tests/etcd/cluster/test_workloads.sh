#!/bin/bash
# test_workloads.sh - the real workloads of tests/mount/workloads.sh (git,
# tar, rsync, cp -a, an editor's save, SQLite, make, mmap, flock) on a
# kvfs mount of a 3-member etcd cluster and on a plain directory in the
# same run, with the same results required; both timings printed.
# KVFS_WORKLOADS (comma-separated) picks workloads; KVFS_KNOWN_FAILURES:
# see workloads.sh.
. "$KT_LIB"
. "$(dirname "$KT_LIB")/../../mount/workloads.sh"

# Every metadata operation is a quorum round trip (about 10 ms here), and
# every fsync of a database publishes its whole value: a smaller git
# repository and 1000 SQLite inserts keep the run under two minutes.
export WL_GIT_FILES=${WL_GIT_FILES:-25} WL_SQLITE_TRANSACTIONS=${WL_SQLITE_TRANSACTIONS:-10}
kt_require_etcd
kt_init
kt_require_mount
wl_require_tools
wl_known_bugs etcd
IFS=, read -r -a workloads <<<"${KVFS_WORKLOADS:-}"
[ ${#workloads[@]} -gt 0 ] || workloads=("${WL_ALL[@]}")
kt_cluster_start 3 0 etcd
kt_mount M "backend=etcd,endpoints=$KT_EPS,prefix=/workloads,journal=$kt_work/journal"
WL_TMP=$kt_work/wl
WL_MOUNT=$kt_work/M/w
mkdir -p "$WL_TMP" "$WL_MOUNT" || kt_fail "cannot make $WL_MOUNT"
wl_setup
wl_run "${workloads[@]}"
wl_finish || rc=1
kt_umount M || kt_fail "kvfs exited with status $? at unmount"
exit "${rc:-0}"
