#!/bin/bash
# Several processes read and rewrite the same keys for a few seconds; every
# read returns one whole value that some writer wrote. Then one open file
# is closed by one process while another publishes through it.
. "$(dirname "$0")/lib.sh"
: "${KVFS_TOOLS:?}"
STRESS=$KVFS_TOOLS/stress
NKEYS=3
SECS=4
# A hung mount fails the test here, well before CTest's timeout, so that
# the cleanup still unmounts and stops what the test started.
LIMIT="timeout -k 5 60"
kvfs_mount
$LIMIT "$STRESS" fill "$MNT" $NKEYS 100000 || fail "fill"
pids=
for w in 1 2 3; do
	$LIMIT "$STRESS" writer "$MNT" $NKEYS $w $SECS 300000 >"$TEST_TMP/w$w.log" 2>&1 &
	pids="$pids $!"
done
for r in 1 2 3; do
	$LIMIT "$STRESS" reader "$MNT" $NKEYS $SECS >"$TEST_TMP/r$r.log" 2>&1 &
	pids="$pids $!"
done
EXTRA_PIDS=$pids
bad=0
for p in $pids; do
	wait "$p" || bad=1
done
EXTRA_PIDS=
cat "$TEST_TMP"/w*.log "$TEST_TMP"/r*.log
[ "$bad" = 0 ] || fail "a reader saw a torn value, a process failed, or the mount hung"
# One open file shared by two processes: a close that pushes the value
# into the page cache while the other process publishes through it.
$LIMIT "$STRESS" sharedfd "$MNT" 2 4194304 || fail "close and fsync of a shared open file"
kill -0 "$KVFS_PID" 2>/dev/null || fail "the daemon died"
kvfs_unmount || fail "daemon exit status"
echo PASS
