#!/bin/bash
# Start-up errors: an unknown option, an invalid level, a missing root, a
# root that does not exist, a mount point that does not exist or is no
# directory, a mount point that is a live or a crashed kvfs mount (named
# as MNT, MNT/, MNT/. or through a symlink): one line naming the problem,
# exit status 1, nothing mounted (nor anything hidden). --help and
# --version.
. "$(dirname "$0")/lib.sh"

mounts_at_mnt() {
	grep -c " $MNT fuse" /proc/mounts || true
}

start_fails() {
	local want=$1 out rc=0 before
	shift
	before=$(mounts_at_mnt)
	out=$(timeout 10 "$KVFS_BIN" "$@" 2>&1) || rc=$?
	[ "$rc" = 1 ] || fail "'$*': exit status $rc, want 1"
	[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "'$*': not one line: $out"
	case $out in
	*"$want"*) echo "ok: $out" ;;
	*) fail "'$*' said '$out', want '$want'" ;;
	esac
	[ "$(mounts_at_mnt)" = "$before" ] || fail "'$*' left a mount"
	return 0
}

start_fails "unknown option 'bogus'" "$MNT" -o "root=$ROOT,bogus=1"
start_fails "unknown option 'frobnicate'" "$MNT" -o "root=$ROOT" -o frobnicate
start_fails "invalid consistency level 'sometimes'" "$MNT" -o "root=$ROOT,consistency=sometimes"
start_fails "missing option root=DIR" "$MNT"
start_fails "does not exist" "$MNT" -o "root=$TEST_TMP/nope"
start_fails "kvfs: mount point '$TEST_TMP/nomnt' does not exist; make it first: mkdir -p $TEST_TMP/nomnt" \
	"$TEST_TMP/nomnt" -o "root=$ROOT"
start_fails "kvfs: mount point '$TEST_TMP/nomnt/sub/' does not exist" \
	"$TEST_TMP/nomnt/sub/" -o "root=$ROOT"
touch "$TEST_TMP/file"
start_fails "file" "$TEST_TMP/file" -o "root=$ROOT"
start_fails "unknown backend" "$MNT" -o "backend=nosuch"
start_fails "spin= takes 0 to 1000000 microseconds" "$MNT" -o "root=$ROOT,spin=-1"
start_fails "quiet= must not be negative" "$MNT" -o "root=$ROOT,quiet=-2"

help=$("$KVFS_BIN" --help)
for o in root= consistency= backend= sync= timeout= weak_timeout= writeback spin= allow_other; do
	grep -q -- "$o" <<<"$help" || fail "--help does not list $o"
done
# kvfs's own version first, whatever libfuse and fusermount3 add after it
# (read through a pipe, where stdout is buffered)
version=$("$KVFS_BIN" --version | cat)
[[ $(head -n 1 <<<"$version") == "kvfs version "[0-9]* ]] ||
	fail "--version does not start with kvfs's version: $version"
grep -q "^FUSE library version " <<<"$version" || fail "--version: libfuse's"

# FUSE's own options still reach FUSE
kvfs_mount "fsname=kvfs-test,default_permissions,sync=false"
grep " $MNT " /proc/mounts | grep -q default_permissions || fail "default_permissions"
grep -q "^kvfs-test $MNT fuse.kvfs " /proc/mounts || fail "fsname/subtype"
kvfs_unmount || fail "daemon exit status"

# spin=0: threads sleep between requests; the mount works the same
kvfs_mount "spin=0"
echo hello >"$MNT/f" && [ "$(cat "$MNT/f")" = hello ] || fail "spin=0 mount"

# Over a live mount: refused, and the mount there serves on. (Another
# root, so that only the mount point is in the way.)
# However the path names it: a trailing slash or ".", a relative path, a
# symlink to it (the hint names the mount itself).
mkdir "$TEST_TMP/root2"
ln -s "$MNT" "$TEST_TMP/link"
for m in "$MNT/" "$MNT/." "$MNT/./" "$TEST_TMP/link" "$TEST_TMP/link/"; do
	start_fails "mount point '$m' is a FUSE mount already, served by a running daemon; unmount it first: fusermount3 -u $MNT" "$m" -o "root=$TEST_TMP/root2"
done
(cd "$(dirname "$MNT")" &&
	start_fails "mount point '$(basename "$MNT")' is a FUSE mount already" "$(basename "$MNT")" -o "root=$TEST_TMP/root2") ||
	fail "a relative mount point over the live mount was not refused"
start_fails "mount point '$MNT' is a FUSE mount already, served by a running daemon" -o default_permissions "$MNT" \
	-o "root=$TEST_TMP/root2,allow_other"
[ "$(cat "$MNT/f")" = hello ] || fail "the live mount stopped serving"

# Over the dead mount a crashed daemon leaves: refused with the way out.
kvfs_crash
# A program still inside the dead mount keeps it busy for a plain -u:
# the hint is -uz, which always works.
start_fails "kvfs: mount point '$MNT' is still mounted by a daemon that has ended (\"Transport endpoint is not connected\"); unmount it first: fusermount3 -uz $MNT" \
	"$MNT" -o "root=$TEST_TMP/root2"
for m in "$MNT/" "$MNT/." "$TEST_TMP/link"; do
	start_fails "mount point '$m' is still mounted by a daemon that has ended (\"Transport endpoint is not connected\"); unmount it first: fusermount3 -uz $MNT" \
		"$m" -o "root=$ROOT"
done
fusermount3 -uz "$MNT"
kvfs_mount "spin=0"
[ "$(cat "$MNT/f")" = hello ] || fail "remount after the crash"
kvfs_unmount || fail "daemon exit status (spin=0)"
echo PASS
