#!/bin/bash
# flock(2) and POSIX locks through the mount, each held by one process and
# tried by another (tests/mount/locks_check.py): exclusion also when a
# writer opens a file that page-cache readers hold (kvfs may give the
# name a new node then), F_GETLK, release at close, waiting and EINTR,
# locks through mv and rm, byte ranges. Then the same with flock(1) as
# shell scripts use it.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is missing"
command -v flock >/dev/null || skip "flock (util-linux) is missing"

kvfs_mount

python3 "$(dirname "$0")/locks_check.py" "$MNT" || fail "lock checks failed (above)"

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

kvfs_unmount || fail "daemon exited with status $?"
echo PASS
