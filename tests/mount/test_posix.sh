#!/bin/bash
# POSIX details on the local backend (posix_check.py: modes of 0000, link
# counts, atime/ctime, times past 2038, sparse values and SEEK_HOLE,
# statfs, O_RDONLY|O_TRUNC, renames within the key length), then what
# must survive a remount: mode 0000 and times past 2038 with nanoseconds.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is missing"
kvfs_mount

python3 "$(dirname "$0")/posix_check.py" "$MNT" "$ROOT" local ||
	fail "POSIX checks (above)"

touch -d @4294967296.123456789 "$MNT/y2038"
touch -a -d @2147483648.5 "$MNT/y2038"
kvfs_unmount || fail "daemon exit status"
kvfs_mount
[ "$(stat -c %a "$MNT/m0")" = 0 ] || fail "mode 0000 after remount: $(stat -c %a "$MNT/m0")"
[ "$(stat -c '%.9Y %.9X' "$MNT/y2038")" = "4294967296.123456789 2147483648.500000000" ] ||
	fail "times after remount: $(stat -c '%.9Y %.9X' "$MNT/y2038")"
echo PASS
