#!/bin/bash
# What the kernel may cache follows what the backend says it can be relied
# on for (KVFS_CTL_CAPS), not its name: the local backend and a cache=
# over it are the store's only writer, so a stat repeated 200 times is
# answered by the kernel's attribute cache (a handful of GETATTR/LOOKUP
# requests, not 200); user.kvfs.stats names the capabilities. Through the
# cache layer, values written, overwritten, appended, renamed and removed
# read back at once and after a remount.
. "$(dirname "$0")/lib.sh"

stats() { getfattr --only-values -n user.kvfs.stats "$MNT"; }
# attribute requests (GETATTR + LOOKUP) the daemon has seen so far
attr_requests() {
	stats | awk '$1 == "kernel:" { n = 0; for (i = 2; i <= NF; i++) {
		split($i, kv, "="); if (kv[1] == "GETATTR" || kv[1] == "LOOKUP")
			n += kv[2] } print n }'
}

check_cached_stats() { # LABEL: 200 stats of one file reach the daemon rarely
	echo "one value" > "$MNT/f"
	stat "$MNT/f" >/dev/null
	local before after
	before=$(attr_requests)
	for _ in $(seq 1 200); do stat -c %s "$MNT/f" >/dev/null; done
	after=$(attr_requests)
	echo "$1: 200 stats cost $((after - before)) GETATTR/LOOKUP requests"
	[ $((after - before)) -le 10 ] ||
		fail "$1: 200 stats reached the daemon $((after - before)) times; the kernel did not cache attributes"
}

caps_line() { stats | grep '^backend_caps:' || fail "no backend_caps: line: $(stats)"; }

# The local backend.
kvfs_mount
[ "$(caps_line)" = "backend_caps: sole_writer lends_fds local_files" ] ||
	fail "local backend: $(caps_line)"
check_cached_stats local
kvfs_unmount

# A cache over it keeps every capability, and so the kernel's caching.
kvfs_mount cache=8M
[ "$(caps_line)" = "backend_caps: sole_writer lends_fds local_files" ] ||
	fail "cache=8M over local: $(caps_line)"
check_cached_stats cache
# Values through the cache and the kernel's caches, read at once.
echo first > "$MNT/v"
[ "$(cat "$MNT/v")" = first ] || fail "cache: first value"
echo second > "$MNT/v"
[ "$(cat "$MNT/v")" = second ] || fail "cache: overwrite read back $(cat "$MNT/v")"
[ "$(stat -c %s "$MNT/v")" = 7 ] || fail "cache: size after overwrite $(stat -c %s "$MNT/v")"
echo third >> "$MNT/v"
[ "$(cat "$MNT/v")" = "second
third" ] || fail "cache: append read back $(cat "$MNT/v")"
head -c 3000000 /dev/urandom > "$TEST_TMP/big"
cp "$TEST_TMP/big" "$MNT/big"
cmp "$TEST_TMP/big" "$MNT/big" || fail "cache: 3 MB value differs"
mv "$MNT/v" "$MNT/w"
[ ! -e "$MNT/v" ] || fail "cache: renamed name still there"
[ "$(cat "$MNT/w")" = "second
third" ] || fail "cache: renamed value"
mkdir "$MNT/d"
echo inner > "$MNT/d/x"
rm "$MNT/f"
[ ! -e "$MNT/f" ] || fail "cache: removed file still there"
kvfs_unmount
# Underneath and after a remount: the same.
cmp "$TEST_TMP/big" "$ROOT/big" || fail "cache: 3 MB value differs underneath"
kvfs_mount cache=8M
[ "$(cat "$MNT/w")" = "second
third" ] || fail "remount: renamed value"
[ "$(cat "$MNT/d/x")" = inner ] || fail "remount: d/x"
cmp "$TEST_TMP/big" "$MNT/big" || fail "remount: 3 MB value differs"
[ ! -e "$MNT/f" ] && [ ! -e "$MNT/v" ] || fail "remount: removed names came back"
kvfs_unmount
echo "PASS"
