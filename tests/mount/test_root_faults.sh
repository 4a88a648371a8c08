#!/bin/bash
# What happens under a mounted local root: its filesystem remounted
# read-only (a bind mount of the root onto itself, remounted ro) keeps
# reads working and fails every change with EROFS ("Read-only file
# system"), not EIO, and writes work again once it is read-write; a root
# that is read-only at start is refused in one line; ROOT/.kvfs/tmp
# removed while mounted is made again by the next write, which succeeds.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root for bind mounts"
mount --bind "$ROOT" "$ROOT" 2>/dev/null || skip "cannot bind-mount here"

# The bind mount goes after the daemon, before lib.sh's cleanup removes
# the temporary directory (cleanup takes the test's status from $?).
unbind_root() {
	if is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	fi
	for _ in $(seq 1 50); do
		[ -n "$KVFS_PID" ] && kill -0 "$KVFS_PID" 2>/dev/null || break
		sleep 0.1
	done
	umount "$ROOT" 2>/dev/null || umount -l "$ROOT"
}
trap 'status=$?; set +e; unbind_root; (exit $status); cleanup' EXIT

ROFS="Read-only file system"

kvfs_mount
echo old > "$MNT/a"
mkdir "$MNT/dir"
echo kept > "$MNT/dir/b"
setfattr -n user.note -v x "$MNT/a"

# An idle daemon holds nothing open for writing: the remount works.
mount -o remount,ro,bind "$ROOT" ||
	fail "remounting the root read-only under an idle daemon failed"

[ "$(cat "$MNT/a")" = old ] || fail "read after the remount: '$(cat "$MNT/a")'"
[ "$(cat "$MNT/dir/b")" = kept ] || fail "read of dir/b after the remount"
[ "$(ls "$MNT" | tr '\n' ' ')" = "a dir " ] || fail "listing: $(ls "$MNT")"
[ "$(getfattr --only-values -n user.note "$MNT/a")" = x ] ||
	fail "getfattr after the remount"
echo "ok: reads work on a read-only root"

expect_fail "$ROFS" bash -c "echo new > '$MNT/a'"
expect_fail "$ROFS" bash -c "echo new > '$MNT/c'"
expect_fail "$ROFS" touch "$MNT/d"
expect_fail "$ROFS" rm "$MNT/a"
expect_fail "$ROFS" chmod 600 "$MNT/a"
expect_fail "$ROFS" setfattr -n user.note -v y "$MNT/a"
expect_fail "$ROFS" setfattr -n user.kvfs.consistency -v eventual "$MNT/a"
expect_fail "$ROFS" mkdir "$MNT/newdir"
expect_fail "$ROFS" rm "$MNT/dir/b"
expect_fail "$ROFS" mv "$MNT/a" "$MNT/e"
expect_fail "$ROFS" truncate -s 0 "$MNT/a"
expect_fail "$ROFS" touch -d 2001-01-01 "$MNT/a"
[ "$(cat "$MNT/a")" = old ] || fail "a changed: '$(cat "$MNT/a")'"
[ ! -e "$MNT/c" ] && [ ! -e "$MNT/d" ] || fail "a failed create left a name"

# A start on a read-only root is refused in one line that says why.
mkdir "$TEST_TMP/mnt2"
if out=$(timeout 30 "$KVFS_BIN" "$TEST_TMP/mnt2" -o "root=$ROOT" 2>&1); then
	fusermount3 -u "$TEST_TMP/mnt2"
	fail "a mount of a read-only root was accepted"
fi
case $out in
"kvfs: local backend: root '$ROOT' is on a read-only filesystem;"*)
	echo "ok: refused: $out" ;;
*) fail "mount of a read-only root said: $out" ;;
esac
[ "$(echo "$out" | wc -l)" = 1 ] || fail "more than one line: $out"

mount -o remount,rw,bind "$ROOT"
echo new > "$MNT/a"
[ "$(cat "$MNT/a")" = new ] || fail "write after the remount read-write"
echo "ok: writes work again once the root is read-write"

# ROOT/.kvfs/tmp removed under the daemon: the next write makes it again.
rm -rf "$ROOT/.kvfs/tmp"
echo again > "$MNT/a" || fail "write after .kvfs/tmp was removed"
echo fresh > "$MNT/f" || fail "create after .kvfs/tmp was removed"
[ "$(cat "$MNT/a")" = again ] && [ "$(cat "$MNT/f")" = fresh ] ||
	fail "values after .kvfs/tmp was removed"
[ -d "$ROOT/.kvfs/tmp" ] || fail ".kvfs/tmp was not made again"
rm -rf "$ROOT/.kvfs"
echo third > "$MNT/a" || fail "write after .kvfs was removed"
[ "$(cat "$MNT/a")" = third ] || fail "value after .kvfs was removed"
echo "ok: a removed .kvfs/tmp is made again by the next write"

kvfs_unmount || fail "daemon exited with status $?"
echo PASS
