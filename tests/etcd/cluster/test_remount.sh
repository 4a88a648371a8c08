#!/bin/bash
# test_remount.sh - `umount MNT; kvfs MNT ...` at once, five times in a
# row, on a 3-member cluster with the same journal=: the unmount returns
# before the old daemon has let go of the journal, and the new mount
# waits for it (lock_wait=, as the local backend waits for its root)
# instead of being refused with "in use". Each mount sees the strong and
# the eventual value the one before it wrote; each old daemon exits 0.
. "$KT_LIB"

kt_require_etcd
kt_init
kt_require_mount
command -v umount >/dev/null || kt_skip "umount(8) is missing"
kt_cluster_start 3 0 etcd

opts="backend=etcd,endpoints=$KT_EPS,prefix=/remount,journal=$kt_work/journal"
kt_mount A "$opts"
A=$kt_work/A
mkdir "$A/ev" || kt_fail "mkdir ev"
kt_set_level "$A/ev" eventual
kt_put "$A/k" v0 || kt_fail "first strong write"
kt_put "$A/ev/k" e0 || kt_fail "first eventual write"

for i in 1 2 3 4 5; do
	old_pid=$KT_PID_A old_reap=$KT_REAP_A
	umount "$A" || kt_fail "round $i: umount"
	# kt_mount fails the test, with the daemon's line, when kvfs fails.
	kt_mount A "$opts"
	if kt_daemon_ours "$old_pid" "$old_reap"; then
		kt_log "round $i: mounted again while the old daemon was still running"
	fi
	st=0
	wait "$old_reap" || st=$?
	kt_forget_daemon "$old_pid"
	[ $st = 0 ] || kt_fail "round $i: the old daemon exited with status $st"
	[ "$(kt_cat "$A/k")" = "v$((i - 1))" ] ||
		kt_fail "round $i: k holds '$(kt_cat "$A/k")', want v$((i - 1))"
	[ "$(kt_cat "$A/ev/k")" = "e$((i - 1))" ] ||
		kt_fail "round $i: ev/k holds '$(kt_cat "$A/ev/k")', want e$((i - 1))"
	kt_put "$A/k" "v$i" || kt_fail "round $i: strong write"
	kt_put "$A/ev/k" "e$i" || kt_fail "round $i: eventual write"
	kt_log "round $i: umount; mount: mounted, values kept"
done
kt_umount A || kt_fail "daemon exit status"
kt_finish
