#!/bin/bash
# pjdfstest-style errno checks (errno_check.c) and an open file that
# survives the unlink of its name.
. "$(dirname "$0")/lib.sh"
: "${KVFS_TOOLS:?}"
kvfs_mount
mkdir "$MNT/t"
"$KVFS_TOOLS/errno_check" "$MNT/t" || fail "errno checks"
kvfs_unmount || fail "daemon exit status"
echo PASS
