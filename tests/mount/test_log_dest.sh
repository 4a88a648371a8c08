#!/bin/bash
# Where a detached daemon's log lines go, and that a bad level is logged:
# -o log=FILE appends lines (time, pid, level) to FILE; a bad log= value
# or a file that cannot be opened stops the start in one line; with no
# syslog socket and no log=, the daemon keeps the starting command's
# stderr when it is a file and says so in a note (and with stderr a pipe,
# says in a note that lines are dropped; status 0 all the same). A setfattr of a value that is not
# a level fails with EINVAL and logs a line naming the value and the four
# levels; an invalid consistency= option names them too.
. "$(dirname "$0")/lib.sh"

LEVELS="use strong, eventual, read-your-writes or causal"
LOG=$TEST_TMP/kvfs.log

expect_fail "kvfs: log=relative: use log=stderr, log=syslog or log=/absolute/path" \
	"$KVFS_BIN" "$MNT" -o "root=$ROOT,log=relative"
expect_fail "kvfs: log=$TEST_TMP/no/such/dir: No such file or directory" \
	"$KVFS_BIN" "$MNT" -o "root=$ROOT,log=$TEST_TMP/no/such/dir"
is_mounted "$MNT" && fail "mounted despite a bad log="
expect_fail "kvfs: consistency=weak: invalid consistency level 'weak': $LEVELS" \
	"$KVFS_BIN" "$MNT" -o "root=$ROOT,consistency=weak"

kvfs_mount "log=$LOG"
echo v > "$MNT/f"
expect_fail "Invalid argument" setfattr -n user.kvfs.consistency -v weak "$MNT/f"
expect_fail "Invalid argument" setfattr -n user.kvfs.consistency -v "$(printf 'x%.0s' $(seq 100))" "$MNT"
[ "$(getfattr --only-values -n user.kvfs.consistency.effective "$MNT/f")" = strong ] ||
	fail "the bad value changed the level"
kvfs_unmount || fail "daemon exit status"
want="kvfs\[[0-9]*\] warning: setfattr user.kvfs.consistency on 'f': 'weak' is not a level: $LEVELS"
grep -q "^[0-9-]*T[0-9:]*Z $want\$" "$LOG" ||
	fail "log=FILE: no line '$want' in: $(cat "$LOG")"
grep -q "on '/': a value of 100 bytes is not a level: $LEVELS" "$LOG" ||
	fail "log=FILE: the over-long value was not logged: $(cat "$LOG")"
echo "ok: log=FILE holds the bad setfattr's line"

# No syslog socket: the daemon keeps stderr (a file here: daemon.log).
if [ -e /dev/log ]; then
	echo "not checked here: the fallback without a syslog socket (/dev/log exists)"
else
	: >"$TEST_TMP/daemon.log"
	kvfs_mount
	setfattr -n user.kvfs.consistency -v Weak "$MNT" 2>/dev/null &&
		fail "setfattr of an invalid level succeeded"
	kvfs_unmount || fail "daemon exit status"
	grep -q "^kvfs: note: no syslog at /dev/log, so the daemon logs to this command's stderr" \
		"$TEST_TMP/daemon.log" || fail "no note of the missing syslog: $(cat "$TEST_TMP/daemon.log")"
	grep -q "^kvfs: setfattr user.kvfs.consistency on '/': 'Weak' is not a level" \
		"$TEST_TMP/daemon.log" || fail "no log line on stderr: $(cat "$TEST_TMP/daemon.log")"
	echo "ok: without syslog the detached daemon logs to its stderr file"
	# stderr a pipe: the start still succeeds and returns at once; one
	# note says the lines are dropped, and the pipe is not kept open.
	rc=0
	out=$(timeout 30 "$KVFS_BIN" "$MNT" -o "root=$ROOT" 2>&1) || rc=$?
	[ $rc = 0 ] || fail "start with stderr a pipe: status $rc: $out"
	is_mounted "$MNT" || fail "start with stderr a pipe: not mounted: $out"
	[ "$out" = "kvfs: note: no syslog at /dev/log, so the daemon's log lines are dropped (keep them with -o log=FILE)" ] ||
		fail "start with stderr a pipe printed: $out"
	fusermount3 -u "$MNT" || fail "unmount after the start with a pipe"
	echo "ok: without syslog, stderr a pipe: status 0, mounted, one note"
fi
echo PASS
