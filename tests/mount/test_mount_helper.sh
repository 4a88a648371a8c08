#!/bin/bash
# mount.kvfs: `mount -t kvfs ROOTDIR MNT -o opts` and an /etc/fstab line
# (tried through mount -T with a private fstab file).
. "$(dirname "$0")/lib.sh"
: "${KVFS_MOUNT_HELPER:?}"
command -v mount >/dev/null || skip "mount(8) is missing"
HELPER=/sbin/mount.kvfs
MADE_LINK=
if [ -e "$HELPER" ] || [ -L "$HELPER" ]; then
	[ "$(readlink -f "$HELPER")" = "$(readlink -f "$KVFS_MOUNT_HELPER")" ] ||
		skip "$HELPER is another installation; not replacing it"
else
	[ -w /sbin ] || skip "cannot add $HELPER (not root?)"
	ln -s "$KVFS_MOUNT_HELPER" "$HELPER"
	MADE_LINK=1
fi
remove_link() { [ -n "$MADE_LINK" ] && rm -f "$HELPER"; return 0; }
trap 'status=$?; remove_link; (exit $status); cleanup' EXIT
export KVFS_BIN

# umount_ends_daemon HOW: umount MNT; its daemon (which mount(8)
# detached) must be gone within 5 s.
umount_ends_daemon() {
	local pid
	pid=$(bash "$(dirname "$0")/../testutil/daemon_of.sh" "$KVFS_BIN" "$MNT")
	[ -n "$pid" ] || fail "$1: no daemon serves $MNT"
	umount "$MNT" || fail "$1: umount"
	is_mounted "$MNT" && fail "$1: still mounted"
	for _ in $(seq 50); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.1
	done
	fail "$1: daemon $pid still runs 5 s after umount"
}

mount -t kvfs "$ROOT" "$MNT" -o consistency=eventual,sync=false
is_mounted "$MNT" || fail "mount -t kvfs"
echo hi > "$MNT/k"
[ "$(cat "$ROOT/k")" = hi ] || fail "through mount -t kvfs"
[ "$(getfattr --only-values -n user.kvfs.consistency.effective "$MNT/k")" = eventual ] ||
	fail "options passed on"
umount_ends_daemon "mount -t kvfs"

echo "$ROOT $MNT kvfs root=$ROOT,consistency=strong,nofail,noauto,_netdev 0 0" >"$TEST_TMP/fstab"
mount -T "$TEST_TMP/fstab" "$MNT"
is_mounted "$MNT" || fail "mount from an fstab line"
[ "$(cat "$MNT/k")" = hi ] || fail "same root through fstab"
umount_ends_daemon fstab

# errors come back through mount(8)
if mount -t kvfs "$ROOT" "$MNT" -o bogus=1 2>"$TEST_TMP/err"; then
	fail "unknown option accepted through mount"
fi
grep -q "unknown option 'bogus'" "$TEST_TMP/err" || fail "message: $(cat "$TEST_TMP/err")"
is_mounted "$MNT" && fail "mounted despite the error"

# After a crash, mount -t kvfs over the dead mount names the way out.
kvfs_mount
kvfs_crash
if mount -t kvfs "$ROOT" "$MNT" 2>"$TEST_TMP/err"; then
	fail "mount -t kvfs over a dead mount succeeded"
fi
grep -q "^kvfs: mount point '$MNT' is still mounted by a daemon that has ended (\"Transport endpoint is not connected\"); unmount it first: fusermount3 -uz $MNT\$" \
	"$TEST_TMP/err" || fail "over a dead mount: $(cat "$TEST_TMP/err")"
fusermount3 -uz "$MNT"
mount -t kvfs "$ROOT" "$MNT" || fail "mount -t kvfs after fusermount3 -uz"
[ "$(cat "$MNT/k")" = hi ] || fail "value after the crash and remount"
umount_ends_daemon "mount -t kvfs after a crash"
echo PASS
