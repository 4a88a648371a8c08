#!/bin/bash
# Real workloads on a kvfs mount and on a plain directory in the same run,
# with the same results required (tests/mount/workloads.sh): git, tar,
# rsync, cp -a, an editor's save and sed -i, SQLite, make, mmap, flock.
# Arguments, or KVFS_WORKLOADS (comma-separated, from CTest): the
# workloads to run (default: all). Timings are printed, not asserted.
# KVFS_KNOWN_FAILURES: see workloads.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workloads.sh"

[ $# -gt 0 ] || IFS=, read -r -a argv <<<"${KVFS_WORKLOADS:-}"
[ $# -gt 0 ] || set -- "${argv[@]+"${argv[@]}"}"
wl_require_tools
wl_known_bugs local
kvfs_mount
WL_TMP=$TEST_TMP/wl
WL_MOUNT=$MNT
mkdir -p "$WL_TMP"
wl_setup
wl_run "${@:-${WL_ALL[@]}}"
wl_finish
