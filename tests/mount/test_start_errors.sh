#!/bin/bash
# Start-up errors not in test_options.sh: negative timeouts, an unknown
# log level, a start that fails in the detached child (the starting
# process exits with its status and its one-line message), one that cannot
# even detach (no descriptors left); and a start with stdin, stdout and
# stderr closed, as some service managers start programs, which mounts and
# serves as usual.
. "$(dirname "$0")/lib.sh"

mounts_at_mnt() {
	grep -c " $MNT fuse" /proc/mounts || true
}

# start_fails TEXT CMD...: exit status 1, one line saying TEXT, no mount.
start_fails() {
	local want=$1 out rc=0
	shift
	out=$(timeout 10 "$@" 2>&1) || rc=$?
	[ "$rc" = 1 ] || fail "'$*': exit status $rc, want 1 ($out)"
	[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "'$*': not one line: $out"
	case $out in
	*"$want"*) echo "ok: $out" ;;
	*) fail "'$*' said '$out', want '$want'" ;;
	esac
	[ "$(mounts_at_mnt)" = 0 ] || fail "'$*' left a mount"
}

start_fails "timeouts must not be negative" \
	"$KVFS_BIN" "$MNT" -o "root=$ROOT,attr_timeout=-1"
start_fails "timeouts must not be negative" \
	"$KVFS_BIN" "$MNT" -o "root=$ROOT,weak_timeout=-0.5"
start_fails "loud" "$KVFS_BIN" "$MNT" -o "root=$ROOT,log_level=loud"

# Fails once detached (the store opens in the child): the same one line
# and status reach the terminal.
touch "$TEST_TMP/plain-file"
start_fails "$TEST_TMP/plain-file" "$KVFS_BIN" "$MNT" -o "root=$TEST_TMP/plain-file"

# No descriptor left for the pipe that detaching needs (stdin, stdout,
# stderr and one more): said so.
if command -v python3 >/dev/null; then
	start_fails "kvfs: cannot detach: $(python3 -c 'import os; print(os.strerror(24))')" \
		python3 -c 'import os, resource, sys
os.closerange(3, 1 << 16)
resource.setrlimit(resource.RLIMIT_NOFILE, (4, 4))
os.execv(sys.argv[1], sys.argv[1:])' "$KVFS_BIN" "$MNT" -o "root=$ROOT"
fi

# A mount point whose name needs escaping in /proc's mount tables (a
# space, a tab): the mount works there, and a second kvfs over it is
# refused as over any live mount.
SAVED_MNT=$MNT
MNT="$TEST_TMP/mnt with	space"
mkdir "$MNT"
kvfs_mount
echo spaced >"$MNT/s"
[ "$(cat "$ROOT/s")" = spaced ] || fail "write through the mount on '$MNT'"
mkdir "$TEST_TMP/root2"
rc=0
out=$(timeout 10 "$KVFS_BIN" "$MNT" -o "root=$TEST_TMP/root2" 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "a second mount over '$MNT': status $rc ($out)"
case $out in
*"is a FUSE mount already"*) echo "ok: $out" ;;
*) fail "a second mount over '$MNT' said: $out" ;;
esac
[ "$(cat "$MNT/s")" = spaced ] || fail "the mount on '$MNT' stopped serving"
kvfs_unmount || fail "daemon exited with status $?"
MNT=$SAVED_MNT

# Started with stdin, stdout and stderr closed: the daemon's first
# descriptors would be 0, 1 and 2; it detaches and serves all the same.
REAL_BIN=$KVFS_BIN
KVFS_BIN=$TEST_TMP/kvfs-closed-stdio
cat >"$KVFS_BIN" <<EOF
#!/bin/bash
exec "$REAL_BIN" "\$@" <&- >&- 2>&-
EOF
chmod +x "$KVFS_BIN"
kvfs_mount
echo closed >"$MNT/f"
[ "$(cat "$MNT/f")" = closed ] || fail "write and read back with stdio closed at start"
[ "$(cat "$ROOT/f")" = closed ] || fail "value not in ROOT"
kvfs_unmount || fail "daemon exited with status $?"
echo PASS
