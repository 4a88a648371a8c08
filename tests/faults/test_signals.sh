#!/bin/bash
# SIGTERM and SIGINT end the daemon cleanly, also in the middle of work:
# while writers publish values (each acknowledging every close or rename
# that returned 0) and readers read them, and while the root's filesystem
# is slow (ROOT lies on a second, lower kvfs mount whose daemon is stopped
# for two seconds around the signal). The daemon must exit within 10 s of
# the signal, its mount must be gone, and after a remount every key must
# hold a whole value no older than its last acknowledged write.
. "$(dirname "$0")/../mount/lib.sh"
. "$(dirname "$0")/faults.sh"
NKEYS=4
LIMIT_S=10 # seconds the daemon may take to exit after the signal
STALL=2    # seconds the slow root stands still
# A shell starts background commands with SIGINT ignored, and a daemon
# leaves an ignored signal alone; users start kvfs from a terminal or a
# service manager, with SIGINT and SIGTERM at their defaults.
REAL_BIN=$KVFS_BIN
KVFS_BIN=$TEST_TMP/kvfs-default-signals
printf '#!/bin/sh\nexec env --default-signal=INT,TERM "%s" "$@"\n' \
	"$REAL_BIN" >"$KVFS_BIN"
chmod +x "$KVFS_BIN"
failures=
summary=
round=0

# One round: signal $1 to the daemon while the writers work; $2 = slow
# when the root stands still around the signal.
signal_round() {
	local sig=$1 how=$2 t0 t1 ms st=0 hung=0 writers= readers= p m d
	round=$((round + 1))
	faults_mount
	# The keys live in d/ (rewritten with O_TRUNC) and e/ (replaced by
	# rename), which exist only on the mount: once it is gone, a writer
	# meets ENOENT and stops instead of writing into the directory
	# underneath.
	for d in d e; do
		[ -d "$MNT/$d" ] && continue
		mkdir "$MNT/$d" && "$STRESS" fill "$MNT/$d" $NKEYS 65536 ||
			fail "round $round: filling the keys"
	done
	timeout -k 5 60 "$STRESS" writer "$MNT/d" $NKEYS $round 40 262144 \
		"$TEST_TMP/acks-d" >"$TEST_TMP/writer-d.log" 2>&1 &
	writers="$writers $!"
	timeout -k 5 60 "$STRESS" renamer "$MNT/e" $NKEYS $round 40 262144 \
		"$TEST_TMP/acks-e" >"$TEST_TMP/writer-e.log" 2>&1 &
	writers="$writers $!"
	for m in read read read read mmap cat; do
		for d in d e; do
			timeout -k 5 60 "$STRESS" check "$MNT/$d" $NKEYS 40 $m \
				>/dev/null 2>&1 &
			readers="$readers $!"
		done
	done
	EXTRA_PIDS="$writers $readers"
	sleep 1.5
	if [ "$how" = slow ]; then
		kill -STOP "$LOWER_PID"
		sleep 0.5
	fi
	t0=$(date +%s%N)
	kill -"$sig" "$KVFS_PID"
	if [ "$how" = slow ]; then
		sleep $STALL
		kill -CONT "$LOWER_PID"
	fi
	daemon_wait $((LIMIT_S * 10)) || st=$?
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	if [ $st = 255 ]; then
		hung=1
		echo "round $round (SIG$sig, $how root): the daemon is still running $LIMIT_S s after the signal"
		failures+="SIG$sig/$how: no exit within $LIMIT_S s; "
		kill -TERM $EXTRA_PIDS 2>/dev/null || true
		faults_unmount "$MNT" "$KVFS_PID" "$MNT_CONN" || true
		wait "$KVFS_WAITER" 2>/dev/null
		KVFS_PID= KVFS_WAITER=
	elif is_mounted "$MNT"; then
		echo "round $round (SIG$sig, $how root): the mount is still there after the daemon's exit"
		failures+="SIG$sig/$how: the mount was left behind; "
		fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
	# The readers only add load; the writers stop by themselves once the
	# mount is gone.
	stop_pids $readers
	for p in $writers; do
		pid_gone "$p" 100 || {
			echo "round $round: a writer did not stop within 10 s of the daemon's end"
			failures+="SIG$sig/$how: a writer hung; "
		}
	done
	stop_pids $writers
	EXTRA_PIDS=
	if [ $hung = 0 ]; then
		echo "round $round (SIG$sig, $how root): the daemon exited ${ms} ms after the signal, status $st;" \
			"$(tail -qn 1 "$TEST_TMP"/writer-?.log | tr '\n' ' ')"
		summary+="SIG$sig, $how root: exit after $ms ms (status $st)"$'\n'
	else
		summary+="SIG$sig, $how root: HUNG (no exit within $LIMIT_S s)"$'\n'
	fi
	faults_mount
	for d in d e; do
		if "$STRESS" verify "$MNT/$d" $NKEYS "$TEST_TMP/acks-$d" \
			>"$TEST_TMP/verify.log" 2>&1; then
			echo "round $round: $d/: every key whole and up to date after the remount ($(wc -l <"$TEST_TMP/acks-$d") acknowledged writes so far)"
		else
			cat "$TEST_TMP/verify.log"
			failures+="SIG$sig/$how: keys in $d/ lost or torn; "
		fi
	done
	st=0
	kvfs_unmount || st=$?
	[ $st = 0 ] || fail "round $round: the daemon exited with status $st after the remount's unmount"
}

signal_round TERM normal
signal_round INT normal

# The slow root: ROOT on a lower kvfs mount.
lower_mount
mkdir "$LOWER_MNT/store"
ROOT=$LOWER_MNT/store
signal_round TERM slow
signal_round INT slow

echo "--- summary"
printf '%s' "$summary"
[ -z "$failures" ] || fail "$failures"
echo PASS
