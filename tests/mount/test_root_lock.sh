#!/bin/bash
# One daemon per root: a second mount of a root that is mounted fails
# with one line naming the daemon that holds it, exit status 1, nothing
# mounted, and the first mount serves on. The root is free again once that
# daemon is unmounted (also by an unmount followed at once by a mount) or
# killed.
. "$(dirname "$0")/lib.sh"

MNT2=$TEST_TMP/mnt2
mkdir "$MNT2"
SECOND_WAITER= # reap of a second daemon, while it runs

# Unmount a second daemon that mounted after all (which ends it), and
# collect it.
stop_second() {
	if is_mounted "$MNT2"; then
		fusermount3 -u "$MNT2" 2>/dev/null || fusermount3 -uz "$MNT2"
	fi
	if [ -n "$SECOND_WAITER" ]; then
		wait "$SECOND_WAITER"
	fi
}
# cleanup (lib.sh) takes the status the test exits with from $?.
trap 'status=$?; set +e; stop_second; (exit $status); cleanup' EXIT

# second_mount [options]: start a daemon on MNT2 for the same root as
# users do (detached). What it said goes to second.out; returns its exit
# status. A daemon that mounts fails the test.
second_mount() {
	local rc=0
	rm -f "$TEST_TMP/second.pid"
	"$KVFS_TOOLS/reap" "$TEST_TMP/second.pid" \
		"$KVFS_BIN" "$MNT2" -o "root=$ROOT${1:+,$1}" >"$TEST_TMP/second.out" 2>&1 &
	SECOND_WAITER=$!
	for _ in $(seq 1 600); do
		[ -s "$TEST_TMP/second.pid" ] && fail "a second mount of the root was accepted"
		kill -0 "$SECOND_WAITER" 2>/dev/null || break
		sleep 0.05
	done
	wait "$SECOND_WAITER" || rc=$?
	SECOND_WAITER=
	return $rc
}

# expect_refused STATUS: the second daemon exited with STATUS, said only
# that the first daemon holds the root, and mounted nothing.
expect_refused() {
	local want="kvfs: root=$ROOT: in use by kvfs pid $KVFS_PID (one mount per root)"
	[ "$1" = 1 ] || fail "second mount: exit status $1, want 1"
	[ "$(cat "$TEST_TMP/second.out")" = "$want" ] ||
		fail "second mount said '$(cat "$TEST_TMP/second.out")', want '$want'"
	is_mounted "$MNT2" && fail "the second mount point is mounted"
	echo "ok: refused: $want"
}

kvfs_mount
echo first > "$MNT/k"

# as users mount: after the default wait (two seconds, for a holder that
# is ending)
rc=0
second_mount || rc=$?
expect_refused $rc
[ "$(cat "$ROOT/.kvfs/lock")" = "$KVFS_PID" ] ||
	fail "lock file holds '$(cat "$ROOT/.kvfs/lock")', want $KVFS_PID"
# at once with lock_wait=0
rc=0
second_mount lock_wait=0 || rc=$?
expect_refused $rc
# and in the foreground
rc=0
timeout 20 "$KVFS_BIN" "$MNT2" -f -o "root=$ROOT,lock_wait=0" \
	>"$TEST_TMP/second.out" 2>&1 || rc=$?
expect_refused $rc

# the first mount serves on, with nobody else writing its root
[ "$(cat "$MNT/k")" = first ] || fail "first mount after the refusals"
echo second > "$MNT/k"
[ "$(cat "$ROOT/k")" = second ] || fail "write after the refusals"

# unmounted, the root is free: at once, though the daemon ends after the
# unmount has returned
old_pid=$KVFS_PID
old_waiter=$KVFS_WAITER
fusermount3 -u "$MNT"
KVFS_PID=
KVFS_WAITER=
EXTRA_PIDS=$old_pid # should it not end
kvfs_mount
rc=0
wait "$old_waiter" || rc=$?
[ $rc = 0 ] || fail "the unmounted daemon exited with status $rc"
EXTRA_PIDS=
[ "$(cat "$MNT/k")" = second ] || fail "remount right after an unmount"

# a daemon killed by SIGKILL lets go of the root
kvfs_crash
fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
kvfs_mount
[ "$(cat "$MNT/k")" = second ] || fail "remount after kill -9"
[ "$(cat "$ROOT/.kvfs/lock")" = "$KVFS_PID" ] || fail "lock file after kill -9"

kvfs_unmount || fail "daemon exit status $?"
echo PASS
