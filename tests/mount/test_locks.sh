#!/bin/bash
# flock(2) and POSIX locks through the mount, each held by one process and
# tried by another (tests/mount/locks_check.py): exclusion also when a
# writer opens a file that page-cache readers hold (kvfs may give the
# name a new node then), F_GETLK, release at close, waiting and EINTR,
# locks through mv and rm, byte ranges; byte-range patterns against the
# kernel's own locks on a plain directory (tests/mount/locks_compare.py).
# Then the same with flock(1) as shell scripts use it, and lock waiters
# when the daemon is stopped.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is missing"
command -v flock >/dev/null || skip "flock (util-linux) is missing"

kvfs_mount

python3 "$(dirname "$0")/locks_check.py" "$MNT" || fail "lock checks failed (above)"
mkdir -p "$TEST_TMP/plain"
python3 "$(dirname "$0")/locks_compare.py" "$MNT" "$TEST_TMP/plain" ||
	fail "byte-range locks differ from the kernel's on a plain directory (above)"

# flock(1): a script's critical section, 4 processes incrementing one
# counter file 25 times each under `flock -x`, with the lock on the
# counter's own descriptor (read-write, through the page cache).
echo 0 >"$MNT/counter"
pids=()
for _ in 1 2 3 4; do
	(
		for _ in $(seq 25); do
			flock -x "$MNT/counter" sh -c 'n=$(cat "$1"); echo $((n + 1)) >"$1"' sh "$MNT/counter"
		done
	) &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || fail "a flock(1) worker failed"
done
[ "$(cat "$MNT/counter")" = 100 ] ||
	fail "4 x 25 increments under flock -x gave $(cat "$MNT/counter"), not 100"

# A daemon stopped with SIGTERM while processes wait for a lock: each
# wait ends with an error a program knows (EIO), not errno 512 (a restart
# the kernel makes of EINTR when no signal is pending).
echo held >"$MNT/held"
# One process holds both kinds (they do not see each other) until killed;
# its output goes to files, so nothing it leaves holds the test's pipe.
python3 - "$MNT/held" >"$TEST_TMP/holder" 2>&1 <<'PY' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(120)
PY
holder=$!
EXTRA_PIDS="$holder"
for _ in $(seq 50); do
	[ -s "$TEST_TMP/holder" ] && break
	sleep 0.1
done
[ "$(cat "$TEST_TMP/holder")" = held ] || fail "the holder did not take its locks: $(cat "$TEST_TMP/holder")"
waiters=()
for how in flock lockf; do
	python3 - "$MNT/held" "$how" >"$TEST_TMP/wait.$how" 2>&1 <<'PY' &
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    if sys.argv[2] == "flock":
        fcntl.flock(fd, fcntl.LOCK_EX)
    else:
        fcntl.lockf(fd, fcntl.LOCK_EX)
    print("granted")
except OSError as e:
    print(e.errno)
PY
	waiters+=($!)
done
EXTRA_PIDS="$holder ${waiters[*]}"
sleep 1
kill -TERM "$KVFS_PID"
for w in "${waiters[@]}"; do
	timeout 30 tail --pid="$w" -f /dev/null || fail "a lock waiter still waits 30 s after SIGTERM"
done
for how in flock lockf; do
	got=$(cat "$TEST_TMP/wait.$how")
	case $got in
	5 | 107 | 103) echo "ok: $how waiter ended with errno $got at SIGTERM" ;;
	*) fail "$how waiter at SIGTERM: '$got', expected EIO (5) or ENOTCONN (107)" ;;
	esac
done
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null || true
daemon_wait 100 || fail "daemon exited with status $? after SIGTERM"
EXTRA_PIDS=
echo PASS
