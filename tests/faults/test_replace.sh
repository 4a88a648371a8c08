#!/bin/bash
# Readers against rename-replace and in-place rewrites. A writer replaces
# the key by writing a temporary name and renaming it over the key, then
# (second phase) by rewriting it in place: open without O_TRUNC, pwrite
# the whole new value from offset 0, ftruncate to its length, close.
# Values are 1 KiB to 1 MiB. Three readers of the key, through read(2),
# through cat and through a read-only shared map of the whole file, must
# only ever get whole values: a value cut short, the head of one value
# followed by another's, a SIGBUS, or an open failing with ESTALE is bad;
# any other failed read is an error. Both must be 0. The kernel refuses
# to map a file opened for direct I/O (ENODEV); such refusals are
# counted and shown, apart from errors.
. "$(dirname "$0")/../mount/lib.sh"
. "$(dirname "$0")/faults.sh"
NKEYS=1
SECS=8
MAX=$((1 << 20))
LIMIT="timeout -k 5 $((SECS + 30))"

faults_mount
$LIMIT "$STRESS" fill "$MNT" $NKEYS 65536 || fail "fill"
total_bad=0
total_err=0
no_whole=
summary=

phase() {
	local mode=$1 pids="" p m line bad err refused rc=0
	$LIMIT "$STRESS" "$mode" "$MNT" $NKEYS 1 "$SECS" $MAX \
		>"$TEST_TMP/$mode.log" 2>&1 &
	local writer=$!
	for m in read cat mmap; do
		$LIMIT "$STRESS" check "$MNT" $NKEYS "$SECS" $m \
			>"$TEST_TMP/$mode-$m.log" 2>"$TEST_TMP/$mode-$m.err" &
		pids="$pids $!"
	done
	EXTRA_PIDS="$writer $pids"
	wait "$writer" || rc=$?
	for p in $pids; do
		wait "$p" || true
	done
	EXTRA_PIDS=
	echo "--- $mode: $(cat "$TEST_TMP/$mode.log")"
	[ $rc = 0 ] || fail "$mode: the writer failed (status $rc)"
	for m in read cat mmap; do
		cat "$TEST_TMP/$mode-$m.log"
		head -n 3 "$TEST_TMP/$mode-$m.err"
		line=$(grep "^check $m: .* reads," "$TEST_TMP/$mode-$m.log") ||
			fail "$mode: the $m reader did not finish"
		bad=$(figure "$line" "bad")
		err=$(figure "$line" "errors")
		refused=$(grep -o "[0-9]* maps refused" "$TEST_TMP/$mode-$m.log" |
			cut -d' ' -f1 || true)
		refused=${refused:-0}
		[ "$(figure "$line" whole)" -gt 0 ] || [ "$refused" -gt 0 ] ||
			no_whole+="$mode/$m "
		summary+="$mode, $m reader: $bad bad, $err errors in $SECS s ($((bad * 60 / SECS)) bad a minute)"
		[ "$refused" = 0 ] ||
			summary+="; $refused of $(figure "$line" reads) maps refused"
		summary+=$'\n'
		total_bad=$((total_bad + bad))
		total_err=$((total_err + err))
	done
}

phase renamer
phase rewriter
echo "--- summary"
printf '%s' "$summary"
"$STRESS" ident "$MNT/key00" || fail "the key's value afterwards"
[ "$total_bad" = 0 ] || fail "$total_bad reads got a bad value"
[ "$total_err" = 0 ] || fail "$total_err reads failed"
[ -z "$no_whole" ] || fail "readers that never read a whole value: $no_whole"
kvfs_unmount || fail "daemon exit status"
echo PASS
