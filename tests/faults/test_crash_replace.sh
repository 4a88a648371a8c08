#!/bin/bash
# kill -9 of the daemon in the middle of rename-replace (a value written
# to a temporary name, then renamed over the key) and of in-place rewrites
# (open without O_TRUNC, pwrite, ftruncate, close), with values of 1 KiB
# to 1 MiB; after a remount every key holds a whole value, the last
# acknowledged (a rename or close that returned 0) or a newer one.
. "$(dirname "$0")/../mount/lib.sh"
. "$(dirname "$0")/faults.sh"
NKEYS=4
MAX=$((1 << 20))
id=0
bad=0
summary=

for mode in renamer rewriter; do
	for round in 1 2 3; do
		id=$((id + 1))
		faults_mount
		if [ ! -d "$MNT/$mode" ]; then
			mkdir "$MNT/$mode"
			"$STRESS" fill "$MNT/$mode" $NKEYS 65536 || fail "fill"
		fi
		# The keys live in a directory that exists only on the mount, so
		# that nothing is written into the directory underneath.
		timeout -k 5 60 "$STRESS" "$mode" "$MNT/$mode" $NKEYS $id 30 $MAX \
			"$TEST_TMP/acks-$mode" >"$TEST_TMP/writer.log" 2>&1 &
		writer=$!
		timeout -k 5 60 "$STRESS" check "$MNT/$mode" $NKEYS 30 read \
			>/dev/null 2>&1 &
		reader=$!
		EXTRA_PIDS="$writer $reader"
		sleep 1.$((RANDOM % 10))
		kvfs_crash
		pid_gone "$writer" 200 || fail "$mode: the writer did not stop after the crash"
		stop_pids "$writer" "$reader"
		EXTRA_PIDS=
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
		acks=$(wc -l <"$TEST_TMP/acks-$mode")
		faults_mount
		if "$STRESS" verify "$MNT/$mode" $NKEYS "$TEST_TMP/acks-$mode" \
			>"$TEST_TMP/verify.log" 2>&1; then
			result="every key whole and up to date"
		else
			cat "$TEST_TMP/verify.log"
			result="KEYS LOST OR TORN"
			bad=$((bad + 1))
		fi
		echo "$mode, crash $round: $acks acknowledged writes so far; $result"
		summary+="$mode, crash $round: $result"$'\n'
		ls "$MNT/$mode" | grep -q '^key00$' || fail "$mode: keys not listed"
		kvfs_unmount || fail "daemon exit status"
	done
done
echo "--- summary"
printf '%s' "$summary"
[ $bad = 0 ] || fail "$bad crashes lost or tore values"
echo PASS
