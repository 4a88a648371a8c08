#!/bin/bash
# Large files: cp of a 100 MiB random file in and out, compared with cmp;
# cp of a 1 GiB file keeps the daemon's peak RSS under 64 MiB.
[ -w /dev/shm ] && export TMPDIR=/dev/shm  # keep 1 GiB off the disk
. "$(dirname "$0")/lib.sh"
kvfs_mount

head -c $((100 * 1024 * 1024)) /dev/urandom > "$TEST_TMP/random"
cp "$TEST_TMP/random" "$MNT/random"
cmp "$TEST_TMP/random" "$MNT/random" || fail "100 MiB file differs in the mount"
cmp "$TEST_TMP/random" "$ROOT/random" || fail "100 MiB file differs in the store"
cp "$MNT/random" "$TEST_TMP/back"
cmp "$TEST_TMP/random" "$TEST_TMP/back" || fail "100 MiB copied back differs"
rm -f "$TEST_TMP/random" "$TEST_TMP/back" "$MNT/random"

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
