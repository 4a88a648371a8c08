#!/bin/bash
# Large files: cp of a 100 MiB random file in and out, compared with cmp;
# a large value handed to the page cache at close reads back whole; cp of
# a 1 GiB file keeps the daemon's peak RSS under 64 MiB.
[ -w /dev/shm ] && export TMPDIR=/dev/shm  # keep 1 GiB off the disk
. "$(dirname "$0")/lib.sh"
kvfs_mount

head -c $((100 * 1024 * 1024)) /dev/urandom > "$TEST_TMP/random"
cp "$TEST_TMP/random" "$MNT/random"
cmp "$TEST_TMP/random" "$MNT/random" || fail "100 MiB file differs in the mount"
cmp "$TEST_TMP/random" "$ROOT/random" || fail "100 MiB file differs in the store"
cp "$MNT/random" "$TEST_TMP/back"
cmp "$TEST_TMP/random" "$TEST_TMP/back" || fail "100 MiB copied back differs"
rm -f "$TEST_TMP/back" "$MNT/random"

# A writer that shared the file at open (direct I/O) and is alone at close
# hands the kernel its value (spliced, over 1 MiB); readers then get it
# from the page cache, whole. quiet=0: the overlap at open is forgotten.
kvfs_unmount || fail "daemon exit status $?"
kvfs_mount quiet=0
head -c $((5 * 1024 * 1024 + 123)) "$TEST_TMP/random" >"$TEST_TMP/five"
: >"$MNT/shared"
exec 4>>"$MNT/shared"
exec 5>"$MNT/shared"
exec 4>&-
sleep 0.2 # the kernel releases fd 4 after close returns
cat "$TEST_TMP/five" >&5
exec 5>&-
cmp "$TEST_TMP/five" "$MNT/shared" || fail "value pushed at close differs"
cmp "$TEST_TMP/five" "$MNT/shared" || fail "value read again differs"
rm -f "$TEST_TMP/random" "$TEST_TMP/five" "$MNT/shared"
kvfs_unmount || fail "daemon exit status $?"
kvfs_mount

dd if=/dev/zero of="$TEST_TMP/big" bs=1M count=1024 status=none
cp --sparse=never "$TEST_TMP/big" "$MNT/big"
[ "$(stat -c %s "$MNT/big")" = $((1024 * 1024 * 1024)) ] || fail "1 GiB size"
cmp "$TEST_TMP/big" "$MNT/big" || fail "1 GiB file differs"
hwm=$(daemon_hwm_kib)
limit=${KVFS_RSS_LIMIT_MIB:-64} # CMake raises it for sanitizer builds
echo "daemon peak RSS after 1 GiB copy: $hwm KiB (limit $limit MiB)"
[ "$hwm" -lt $((limit * 1024)) ] || fail "peak RSS $hwm KiB is over $limit MiB"
rm -f "$TEST_TMP/big" "$MNT/big"

kvfs_unmount || fail "daemon exit status $?"
echo PASS
