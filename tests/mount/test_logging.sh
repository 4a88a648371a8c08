#!/bin/bash
# Logging: in the foreground the daemon logs to stderr; log_level= decides
# which lines appear (routine answers such as "no such key" only at debug);
# an invalid level is refused by name before anything is mounted.
. "$(dirname "$0")/lib.sh"
KVFS_FOREGROUND=1 # reads what the daemon logs

expect_fail "invalid log level 'loud'" "$KVFS_BIN" "$MNT" -o "root=$ROOT,log_level=loud" -f
is_mounted "$MNT" && fail "mounted despite an invalid log level"

kvfs_mount "log_level=debug"
cat "$MNT/missing-key" 2>/dev/null && fail "missing key readable"
kvfs_unmount || fail "daemon exit status"
grep -q "missing-key" "$TEST_TMP/daemon.log" ||
	fail "debug level: the routine 'not found' was not logged"

: >"$TEST_TMP/daemon.log"
kvfs_mount "log_level=warning"
cat "$MNT/other-missing-key" 2>/dev/null && fail "missing key readable"
kvfs_unmount || fail "daemon exit status"
if grep -q "other-missing-key" "$TEST_TMP/daemon.log"; then
	fail "warning level logged a routine answer: $(cat "$TEST_TMP/daemon.log")"
fi
echo "logging: all checks passed"
