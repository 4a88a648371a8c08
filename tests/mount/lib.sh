# lib.sh - shared by the mount tests: a fresh root and mount point under a
# temporary directory, the daemon started in the foreground with its pid
# remembered, and an EXIT trap that unmounts and stops that pid (and only
# that pid) and removes the temporary directory, also when a test fails.
#
# Environment (set by CTest): KVFS_BIN, the daemon; KVFS_TOOLS, the
# directory holding errno_check and stress.
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
KVFS_PID=

is_mounted() {
	grep -q " $1 fuse" /proc/mounts
}

# kvfs_mount [extra,options]: mount ROOT on MNT, wait until it is there.
# KVFS_MOUNT_OPTS (from CTest) adds options to every mount of a test; a
# test of another backend sets KVFS_STORE_OPTS to its options instead of
# root=$ROOT.
kvfs_mount() {
	local opts="${KVFS_STORE_OPTS:-root=$ROOT}"
	opts+="${KVFS_MOUNT_OPTS:+,$KVFS_MOUNT_OPTS}${1:+,$1}"
	"$KVFS_BIN" "$MNT" -o "$opts" -f >>"$TEST_TMP/daemon.log" 2>&1 &
	KVFS_PID=$!
	for _ in $(seq 1 100); do
		is_mounted "$MNT" && return 0
		kill -0 "$KVFS_PID" 2>/dev/null || fail "daemon exited at start"
		sleep 0.05
	done
	fail "mount did not appear in /proc/mounts"
}

# Stop the daemon we started: unmount, wait for it to exit.
kvfs_unmount() {
	if is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	fi
	if [ -n "$KVFS_PID" ]; then
		for _ in $(seq 1 100); do
			kill -0 "$KVFS_PID" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$KVFS_PID" 2>/dev/null; then
			kill -9 "$KVFS_PID" 2>/dev/null || true
		fi
		local rc=0
		wait "$KVFS_PID" 2>/dev/null || rc=$?
		KVFS_PID=
		return $rc
	fi
}

cleanup() {
	local rc=$?
	set +e
	cd /
	for p in ${EXTRA_PIDS:-}; do
		kill -9 "$p" 2>/dev/null
	done
	if is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	fi
	if [ -n "$KVFS_PID" ]; then
		kill "$KVFS_PID" 2>/dev/null
		sleep 0.2
		kill -9 "$KVFS_PID" 2>/dev/null
		wait "$KVFS_PID" 2>/dev/null
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
