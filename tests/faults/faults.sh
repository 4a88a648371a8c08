# faults.sh - sourced by the fault tests after ../mount/lib.sh: the stress
# tool, a second (lower) kvfs mount to serve as a slow root, tmpfs mounts
# made by the test, and an EXIT trap that tears all of it down in order
# (writers, the mount under test, the lower mount, tmpfs), also when the
# daemon under test is stuck in the kernel: then the mount is detached
# and its FUSE connection aborted, so that nothing is left behind. It
# keeps lib.sh's checks: a daemon that does not exit after its unmount,
# or exits with a non-zero status, fails the test.
: "${KVFS_TOOLS:?KVFS_TOOLS must name the directory holding stress and reap}"
STRESS=$KVFS_TOOLS/stress
[ -x "$STRESS" ] || skip "$STRESS is missing"

LOWER_ROOT=$TEST_TMP/lower-root # the lower mount's store
LOWER_MNT=$TEST_TMP/lower       # the lower mount, ROOT of the one tested
LOWER_PID=
LOWER_WAITER=
LOWER_CONN=
MNT_CONN=      # FUSE connection of $MNT, recorded by faults_mount
FAULTS_TMPFS=  # tmpfs mount points made by faults_tmpfs, to unmount

# The FUSE connection number of the mount at $1 (its device's minor).
fuse_conn() {
	awk -v m="$1" '$5 == m {
			for (i = 7; i < NF && $i != "-"; i++)
				;
			if ($(i + 1) ~ /^fuse/) { split($3, d, ":"); c = d[2] }
		}
		END { if (c != "") print c }' /proc/self/mountinfo
}

# Abort FUSE connection $1: every request waiting on it fails at once.
fuse_abort() {
	local dir=/sys/fs/fuse/connections
	[ -n "$1" ] || return 0
	[ -e "$dir/$1/abort" ] ||
		mount -t fusectl none "$dir" 2>/dev/null || true
	[ -e "$dir/$1/abort" ] && echo 1 >"$dir/$1/abort" 2>/dev/null
	return 0
}

# kvfs_mount, and remember the mount's connection for the cleanup.
faults_mount() {
	kvfs_mount "$@"
	MNT_CONN=$(fuse_conn "$MNT")
}

# Mount a second kvfs (local backend over $LOWER_ROOT) on $LOWER_MNT, to be
# the root of the mount under test; its daemon can be stopped (SIGSTOP)
# to make that root slow.
lower_mount() {
	local m=$MNT r=$ROOT p=$KVFS_PID w=$KVFS_WAITER
	mkdir -p "$LOWER_ROOT" "$LOWER_MNT"
	MNT=$LOWER_MNT ROOT=$LOWER_ROOT KVFS_PID= KVFS_WAITER=
	KVFS_MOUNT_OPTS= kvfs_mount
	LOWER_PID=$KVFS_PID LOWER_WAITER=$KVFS_WAITER
	LOWER_CONN=$(fuse_conn "$LOWER_MNT")
	MNT=$m ROOT=$r KVFS_PID=$p KVFS_WAITER=$w
}

# faults_tmpfs DIR SIZE: mount a tmpfs of SIZE on DIR (skips the test
# when this machine does not allow it).
faults_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2" kvfs-faults "$1" 2>/dev/null ||
		skip "cannot mount a tmpfs here (needs root)"
	FAULTS_TMPFS="$1 $FAULTS_TMPFS"
}

# Wait up to $2 tenths of a second for pid $1 to end; 0 when it did.
pid_gone() {
	local i
	for ((i = 0; i < $2; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	! kill -0 "$1" 2>/dev/null
}

# stop_pids PID...: end workloads started as `timeout ... CMD &`: TERM,
# which timeout passes on to CMD's process group (KILL follows from
# timeout -k), and after 5 s KILL for the timeout process itself.
stop_pids() {
	local p
	for p in "$@"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "$@"; do
		pid_gone "$p" 50 || kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

# Unmount mount point $1 served by pid $2 over connection $3; wait for the
# daemon, detaching the mount and aborting its connection if it hangs.
# Returns 1 when the daemon had to be forced.
faults_unmount() {
	local mnt=$1 pid=$2 conn=$3 forced=0
	if is_mounted "$mnt"; then
		timeout 10 fusermount3 -u "$mnt" 2>/dev/null ||
			timeout 10 fusermount3 -uz "$mnt" 2>/dev/null ||
			umount -l "$mnt" 2>/dev/null
	fi
	[ -n "$pid" ] || return 0
	pid_gone "$pid" 50 && return 0
	forced=1
	is_mounted "$mnt" && umount -l "$mnt" 2>/dev/null
	fuse_abort "$conn"
	kill -9 "$pid" 2>/dev/null
	pid_gone "$pid" 50 || echo "WARNING: pid $pid survived kill -9" >&2
	return $forced
}

faults_cleanup() {
	local rc=$? p st
	set +e
	cd /
	# Workloads first (TERM reaches their commands through timeout);
	# one stuck on a hung mount ends once the mount is aborted below.
	for p in ${EXTRA_PIDS:-}; do
		kill -TERM "$p" 2>/dev/null
	done
	[ -n "$LOWER_PID" ] && kill -CONT "$LOWER_PID" 2>/dev/null
	if [ -n "$KVFS_PID" ] || is_mounted "$MNT"; then
		if ! faults_unmount "$MNT" "$KVFS_PID" "$MNT_CONN"; then
			echo "FAIL: the daemon did not exit after the unmount" >&2
			[ $rc = 0 ] && rc=1
		fi
		if [ -n "$KVFS_WAITER" ]; then
			wait "$KVFS_WAITER"
			st=$?
			if [ $st != 0 ] && [ $st != 137 ] && [ $rc = 0 ]; then
				echo "FAIL: the daemon exited with status $st" >&2
				rc=1
			fi
		fi
		KVFS_PID= KVFS_WAITER=
	fi
	stop_pids ${EXTRA_PIDS:-}
	EXTRA_PIDS=
	if [ -n "$LOWER_PID" ] || is_mounted "$LOWER_MNT"; then
		faults_unmount "$LOWER_MNT" "$LOWER_PID" "$LOWER_CONN" ||
			echo "WARNING: the lower daemon had to be killed" >&2
		[ -n "$LOWER_WAITER" ] && wait "$LOWER_WAITER" 2>/dev/null
		LOWER_PID= LOWER_WAITER=
	fi
	for p in $FAULTS_TMPFS; do
		umount "$p" 2>/dev/null || umount -l "$p"
	done
	(exit $rc)
	cleanup
}
trap faults_cleanup EXIT

# figure "LINE" WORD: the number before WORD in a line that stress
# printed ("12 bad" -> 12).
figure() {
	local line=$1 word=$2
	echo "$line" | grep -o "[0-9]* $word" | head -n 1 | cut -d' ' -f1
}
