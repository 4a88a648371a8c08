#!/bin/bash
# test_mount_helper.sh - an etcd mount made the way an administrator makes
# it: `mount -t kvfs` and an fstab line (through mount -T with a private
# fstab file), the daemon detached by mount.kvfs. Each mount serves strong
# and eventual writes that a second mount sees, and unmounting ends its
# daemon (which frees its journal for the next mount).
. "$KT_LIB"

: "${KT_MOUNT_HELPER:?KT_MOUNT_HELPER must name mount-scripts/mount.kvfs}"
kt_require_etcd
kt_init
kt_require_mount
command -v mount >/dev/null || kt_skip "mount(8) is missing"

HELPER=/sbin/mount.kvfs
made_link=
if [ -e "$HELPER" ] || [ -L "$HELPER" ]; then
	[ "$(readlink -f "$HELPER")" = "$(readlink -f "$KT_MOUNT_HELPER")" ] ||
		kt_skip "$HELPER is another installation; not replacing it"
else
	[ -w /sbin ] || kt_skip "cannot add $HELPER (not root?)"
	ln -s "$KT_MOUNT_HELPER" "$HELPER"
	made_link=1
fi
remove_link() { [ -n "$made_link" ] && rm -f "$HELPER"; return 0; }
trap 'status=$?; remove_link; (exit $status); kt_cleanup' EXIT
export KVFS_BIN=$KT_KVFS

kt_cluster_start 3 0 etcd
common="backend=etcd,endpoints=$KT_EPS,prefix=/helper"
kt_mount A "$common,prefer=0,journal=$kt_work/journal-A"
A=$kt_work/A
M=$kt_work/M
mkdir -p "$M"
kt_mounts+=("$M")

daemon_of() {
	bash "$(dirname "$KT_LIB")/../../testutil/daemon_of.sh" "$KT_KVFS" "$1"
}

# check_mount HOW: M is mounted and works both ways with A, at strong and
# at eventual; then umount ends its daemon within 5 s.
check_mount() {
	local how=$1 pid t0
	kt_is_mounted "$M" || kt_fail "$how: nothing mounted at $M when mount returned"
	pid=$(daemon_of "$M")
	[ -n "$pid" ] || kt_fail "$how: no kvfs daemon serves $M"
	kt_put "$A/strong-$how" "from-A" || kt_fail "$how: strong write on A"
	[ "$(kt_cat "$M/strong-$how")" = from-A ] ||
		kt_fail "$how: the mount does not read A's strong write"
	kt_put "$M/back-$how" "from-M" || kt_fail "$how: strong write on the mount"
	[ "$(kt_cat "$A/back-$how")" = from-M ] || kt_fail "$how: A does not read the mount's write"
	mkdir "$M/eventual-$how" && kt_set_level "$M/eventual-$how" eventual
	kt_put "$M/eventual-$how/e" "replicated" || kt_fail "$how: eventual write"
	t0=$(kt_now_ms)
	until [ "$(timeout 5 cat "$A/eventual-$how/e" 2>/dev/null)" = replicated ]; do
		[ $(($(kt_now_ms) - t0)) -lt 15000 ] ||
			kt_fail "$how: an eventual write on the detached daemon never reached etcd"
		sleep 0.1
	done
	umount "$M" || kt_fail "$how: umount"
	for _ in $(seq 50); do
		[ -d "/proc/$pid" ] || break
		sleep 0.1
	done
	[ -d "/proc/$pid" ] && kt_fail "$how: daemon $pid still runs 5 s after umount"
	kt_is_mounted "$M" && kt_fail "$how: still mounted after umount"
	kt_log "$how: mounted detached, served both levels, ended at umount"
}

timeout 60 mount -t kvfs etcd "$M" -o "$common,prefer=1,journal=$kt_work/journal-M,_netdev" ||
	kt_fail "mount -t kvfs"
check_mount mount-t

echo "etcd $M kvfs $common,prefer=2,journal=$kt_work/journal-M,nofail,noauto,_netdev 0 0" \
	>"$kt_work/fstab"
timeout 60 mount -T "$kt_work/fstab" "$M" || kt_fail "mount from an fstab line"
check_mount fstab

kt_umount A || kt_fail "the daemon of A exited with status $?"
kt_finish
