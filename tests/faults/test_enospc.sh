#!/bin/bash
# A full disk never costs the stored value. ROOT is a small tmpfs; a
# 2,000,000-byte value is rewritten through the mount (open with O_TRUNC,
# 4 KiB, 64 KiB or 1 MiB writes, close) while the tmpfs has too little
# room left, by different amounts, and now and then enough. A rewrite
# whose writes and close all returned 0 must have published the new
# value; a rewrite where one of them failed must leave the previous value
# whole in place, on the mount and in ROOT, and the close of a file whose
# write failed must fail with that write's error. Then cp of a file too large for the disk
# onto the key fails and the key keeps its value.
. "$(dirname "$0")/../mount/lib.sh"
. "$(dirname "$0")/faults.sh"
command -v fallocate >/dev/null || skip "fallocate is missing"

FS=$TEST_TMP/fs
faults_tmpfs "$FS" 8m
ROOT=$FS/root
mkdir -p "$ROOT"
faults_mount
SIZE=2000000
REWRITES=20
LIMIT="timeout -k 5 30"

free_bytes() {
	echo $(($(stat -f -c '%a * %S' "$FS")))
}

# Leave about $1 bytes free on the tmpfs (0: remove the filler).
leave_free() {
	rm -f "$FS/filler"
	[ "$1" = 0 ] && return 0
	local fill=$(($(free_bytes) - $1))
	[ $fill -gt 0 ] && fallocate -l $fill "$FS/filler"
	return 0
}

$LIMIT "$STRESS" chunked "$MNT/k" $SIZE 1048576 0 0 >/dev/null ||
	fail "the first value could not be written"
want=$("$STRESS" ident "$MNT/k") || fail "the first value: $want"
silent_loss=0   # every call returned 0, yet the value is not the new one
failed_changed=0 # something failed, yet the stored value changed
close_ok=0      # a write failed, yet close did not fail with its error
failed=0
seq=0
for chunk in 4096 65536 1048576; do
	c_silent=0 c_changed=0 c_close=0 c_failed=0
	for ((i = 1; i <= REWRITES; i++)); do
		seq=$((seq + 1))
		if ((i % 5 == 0)); then
			leave_free 0
		else
			# 100 KB to 1.9 MB free: less than one value.
			leave_free $(((i * 7 % 19 + 1) * 100000))
		fi
		rc=0
		out=$($LIMIT "$STRESS" chunked "$MNT/k" $SIZE $chunk 1 $seq) || rc=$?
		new="W1 S$seq L$SIZE"
		got=$("$STRESS" ident "$MNT/k") || true
		stored=$("$STRESS" ident "$ROOT/k") || true
		case $rc in
		0)
			if [ "$got" != "$new" ] || [ "$stored" != "$new" ]; then
				echo "chunk $chunk #$i: all calls returned 0 ($out), but the mount holds '$got', the store '$stored'"
				c_silent=$((c_silent + 1))
			fi
			want=$new
			;;
		3)
			c_failed=$((c_failed + 1))
			if [ "$got" != "$want" ] || [ "$stored" != "$want" ]; then
				echo "chunk $chunk #$i: $out; the mount holds '$got', the store '$stored', not the previous '$want'"
				c_changed=$((c_changed + 1))
				# Go on from what is stored now.
				[ "$stored" = "$new" ] && want=$new
			fi
			werr=${out#*write: }
			werr=${werr%%;*}
			cerr=${out##*close: }
			if [ "$werr" != ok ] && [ "$cerr" != "$werr" ]; then
				echo "chunk $chunk #$i: $out"
				c_close=$((c_close + 1))
			fi
			;;
		*) fail "chunk $chunk #$i: the writer ended with status $rc: $out" ;;
		esac
	done
	echo "chunk $chunk: $REWRITES rewrites, $c_failed failed," \
		"$c_changed of them changed the stored value," \
		"$c_close closes did not report a failed write's error;" \
		"$c_silent succeeded without storing the new value"
	silent_loss=$((silent_loss + c_silent))
	failed_changed=$((failed_changed + c_changed))
	close_ok=$((close_ok + c_close))
	failed=$((failed + c_failed))
done

# cp of a file larger than the disk onto the key: cp fails, the key keeps
# its value.
leave_free 0
head -c $((9 * 1024 * 1024)) /dev/zero >"$TEST_TMP/big"
cp_bad=0
if $LIMIT cp "$TEST_TMP/big" "$MNT/k" 2>"$TEST_TMP/cp.err"; then
	echo "cp of 9 MiB onto a 8 MiB disk succeeded"
	cp_bad=1
else
	echo "cp failed as it must: $(head -n 1 "$TEST_TMP/cp.err")"
fi
got=$("$STRESS" ident "$MNT/k") || true
stored=$("$STRESS" ident "$ROOT/k") || true
if [ "$got" != "$want" ] || [ "$stored" != "$want" ]; then
	echo "after cp: the mount holds '$got', the store '$stored', not '$want'"
	cp_bad=1
fi
# With room again, a rewrite works.
$LIMIT "$STRESS" chunked "$MNT/k" $SIZE 65536 2 1 >/dev/null ||
	fail "a rewrite with enough room failed"
[ "$("$STRESS" ident "$MNT/k")" = "W2 S1 L$SIZE" ] || fail "the value after a rewrite with enough room"
echo "temporary files left in the store: $(find "$ROOT/.kvfs/tmp" -type f 2>/dev/null | wc -l)"

echo "--- summary: $failed of $((3 * REWRITES)) rewrites failed;" \
	"$failed_changed failed rewrites changed the stored value;" \
	"$close_ok closes did not report a failed write's error;" \
	"$silent_loss rewrites returned 0 without storing the new value"
[ $failed -gt 0 ] || fail "no rewrite ran out of space: the test did not test"
[ $failed_changed = 0 ] || fail "$failed_changed failed rewrites changed the stored value"
[ $close_ok = 0 ] || fail "$close_ok closes did not fail with the error of a failed write"
[ $silent_loss = 0 ] || fail "$silent_loss rewrites reported success without storing the value"
[ $cp_bad = 0 ] || fail "cp of a file too large for the disk"
kvfs_unmount || fail "daemon exit status"
echo PASS
