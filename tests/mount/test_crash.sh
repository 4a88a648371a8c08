#!/bin/bash
# kill -9 of the daemon while a writer rewrites keys with large values; after
# a remount every key holds a whole value, the last acknowledged or newer.
. "$(dirname "$0")/lib.sh"
: "${KVFS_TOOLS:?}"
STRESS=$KVFS_TOOLS/stress
NKEYS=4
for round in 1 2; do
	kvfs_mount
	[ "$round" = 1 ] && "$STRESS" fill "$MNT" $NKEYS 65536
	"$STRESS" writer "$MNT" $NKEYS "$round" 20 $((2 * 1024 * 1024)) "$TEST_TMP/acks" \
		>"$TEST_TMP/writer.log" 2>&1 &
	EXTRA_PIDS=$!
	sleep 1.5
	kvfs_crash
	timeout 20 tail --pid="$EXTRA_PIDS" -f /dev/null || kill -9 "$EXTRA_PIDS"
	wait "$EXTRA_PIDS" 2>/dev/null || true
	EXTRA_PIDS=
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	echo "round $round: $(wc -l <"$TEST_TMP/acks") acknowledged writes so far"
	kvfs_mount
	"$STRESS" verify "$MNT" $NKEYS "$TEST_TMP/acks" || fail "after crash $round"
	ls "$MNT" | grep -q '^key00$' || fail "keys listed"
	kvfs_unmount || fail "daemon exit status"
done
echo PASS
