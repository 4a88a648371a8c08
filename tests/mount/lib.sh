# lib.sh - shared by the mount tests: a fresh root and mount point under a
# temporary directory, the daemon started as users start it (detached, no
# -f) with its pid and exit status known, and an EXIT trap that unmounts
# and stops that pid (and only that pid) and removes the temporary
# directory, also when a test fails. A daemon that exits with a non-zero
# status, or a sanitizer report, fails the test.
#
# Environment (set by CTest): KVFS_BIN, the daemon; KVFS_TOOLS, the
# directory holding errno_check, stress and reap.
set -euo pipefail
export LC_ALL=C

: "${KVFS_BIN:?KVFS_BIN must name the kvfs daemon}"

skip() {
	echo "SKIPPED: $*"
	exit 77
}

fail() {
	echo "FAIL: $*" >&2
	if [ -n "${TEST_TMP:-}" ] && [ -s "$TEST_TMP/daemon.log" ]; then
		echo "--- daemon log:" >&2
		tail -n 20 "$TEST_TMP/daemon.log" >&2
	fi
	exit 1
}

[ -c /dev/fuse ] || skip "/dev/fuse is missing"
command -v fusermount3 >/dev/null || skip "fusermount3 is missing"
command -v setfattr >/dev/null || skip "setfattr (package attr) is missing"

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kvfs-mount.XXXXXX")
ROOT=$TEST_TMP/root
MNT=$TEST_TMP/mnt
mkdir -p "$ROOT" "$MNT"
KVFS_PID=    # the daemon
KVFS_WAITER= # our child whose exit status is the daemon's (reap, or the
             # daemon itself with -f)
# Sanitizer reports of a detached daemon (its stderr is /dev/null) and of
# the test tools go to files that the cleanup shows.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$TEST_TMP/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$TEST_TMP/sanitizer"

# is_mounted DIR: a FUSE mount is at DIR (/proc/mounts escapes a space,
# tab, newline and backslash in the name as \040, \011, \012 and \134).
is_mounted() {
	awk -v m="$1" '{ p = $2; gsub(/\\040/, " ", p); gsub(/\\011/, "\t", p)
		gsub(/\\012/, "\n", p); gsub(/\\134/, "\\", p)
		if (p == m && $3 ~ /^fuse/) found = 1 }
		END { exit !found }' /proc/mounts
}

# kvfs_mount [extra,options]: mount ROOT on MNT as a user does: the daemon
# detaches, and the mount must be there when the command returns. With
# KVFS_FOREGROUND=1 it runs with -f instead, its log in daemon.log (for
# tests that read what it logs). KVFS_MOUNT_OPTS (from CTest) adds
# options to every mount of a test; a test of another backend sets
# KVFS_STORE_OPTS to its options instead of root=$ROOT.
kvfs_mount() {
	local opts="${KVFS_STORE_OPTS:-root=$ROOT}"
	opts+="${KVFS_MOUNT_OPTS:+,$KVFS_MOUNT_OPTS}${1:+,$1}"
	if [ "${KVFS_FOREGROUND:-0}" = 1 ]; then
		"$KVFS_BIN" "$MNT" -o "$opts" -f >>"$TEST_TMP/daemon.log" 2>&1 &
		KVFS_PID=$!
		KVFS_WAITER=$!
		for _ in $(seq 1 100); do
			is_mounted "$MNT" && return 0
			kill -0 "$KVFS_PID" 2>/dev/null || fail "daemon exited at start"
			sleep 0.05
		done
		fail "mount did not appear in /proc/mounts"
	fi
	rm -f "$TEST_TMP/daemon.pid"
	"$KVFS_TOOLS/reap" "$TEST_TMP/daemon.pid" \
		"$KVFS_BIN" "$MNT" -o "$opts" >>"$TEST_TMP/daemon.log" 2>&1 &
	KVFS_WAITER=$!
	for _ in $(seq 1 600); do
		[ -s "$TEST_TMP/daemon.pid" ] && break
		kill -0 "$KVFS_WAITER" 2>/dev/null || {
			local rc=0
			wait "$KVFS_WAITER" || rc=$?
			KVFS_WAITER=
			fail "kvfs exited with status $rc at start: $(tail -n 3 "$TEST_TMP/daemon.log")"
		}
		sleep 0.05
	done
	[ -s "$TEST_TMP/daemon.pid" ] || fail "kvfs did not return within 30 s"
	KVFS_PID=$(cat "$TEST_TMP/daemon.pid")
	is_mounted "$MNT" || fail "kvfs returned 0 but $MNT is not mounted"
}

# Wait up to $1 tenths of a second for the daemon to end, then collect its
# exit status: returns it (128+N for signal N).
daemon_wait() {
	local tenths=$1 rc=0
	for _ in $(seq 1 "$tenths"); do
		kill -0 "$KVFS_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$KVFS_PID" 2>/dev/null && return 255
	[ -n "$KVFS_WAITER" ] && { wait "$KVFS_WAITER" || rc=$?; }
	KVFS_PID=
	KVFS_WAITER=
	return $rc
}

# Stop the daemon we started: unmount, wait for it to exit; returns its
# exit status (a daemon still running after 5 s is killed: 137).
kvfs_unmount() {
	if is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	fi
	[ -n "$KVFS_PID" ] || return 0
	local rc=0
	daemon_wait 50 || rc=$?
	if [ $rc = 255 ]; then
		kill -9 "$KVFS_PID" 2>/dev/null
		rc=0
		daemon_wait 50 || rc=$?
	fi
	return $rc
}

# kill -9 the daemon (a crash). The mount stays, dead ("Transport endpoint
# is not connected"), until the test unmounts it: a program still writing
# to MNT fails instead of writing to the directory underneath.
kvfs_crash() {
	kill -9 "$KVFS_PID"
	daemon_wait 50 || true
}

# Sanitizer reports written so far (see ASAN_OPTIONS above), printed.
sanitizer_reports() {
	local f found=1
	for f in "$TEST_TMP"/sanitizer.*; do
		[ -e "$f" ] || continue
		echo "--- sanitizer report $f:" >&2
		cat "$f" >&2
		found=0
	done
	return $found
}

cleanup() {
	local rc=$? st=0
	set +e
	cd /
	for p in ${EXTRA_PIDS:-}; do
		kill -9 "$p" 2>/dev/null
	done
	if is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	fi
	if [ -n "$KVFS_PID" ]; then
		daemon_wait 50
		st=$?
		if [ $st = 255 ]; then
			kill "$KVFS_PID" 2>/dev/null
			daemon_wait 10
			st=$?
			[ $st = 255 ] && { kill -9 "$KVFS_PID"; daemon_wait 10; }
			echo "FAIL: the daemon did not exit after the unmount" >&2
			[ $rc = 0 ] && rc=1
		elif [ $st != 0 ] && [ $rc = 0 ]; then
			echo "FAIL: the daemon exited with status $st" >&2
			rc=1
		fi
	fi
	if sanitizer_reports && [ $rc = 0 ]; then
		echo "FAIL: a sanitizer reported an error" >&2
		rc=1
	fi
	rm -rf "$TEST_TMP"
	exit $rc
}
trap cleanup EXIT

# expect_fail "text" cmd...: the command fails and says "text".
expect_fail() {
	local want=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "'$*' succeeded, expected: $want"
	fi
	case $out in
	*"$want"*) echo "ok: '$*' failed with: $want" ;;
	*) fail "'$*' said '$out', expected: $want" ;;
	esac
}

# Peak resident set of the daemon, in KiB.
daemon_hwm_kib() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$KVFS_PID/status"
}
