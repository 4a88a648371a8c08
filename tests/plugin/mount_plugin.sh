#!/bin/bash
# mount_plugin.sh - the kvfs daemon over the SQLite plugin with real tools
# (cat, cp, mv, setfattr, getfattr), a remount that finds everything
# again, and plugins the daemon must refuse without mounting anything.
#
#   mount_plugin.sh KVFS_BIN SQLITE_PLUGIN BAD_VERSION_PLUGIN NO_INIT_PLUGIN
#
# Exits 77 (SKIPPED) without /dev/fuse. Unmounts and stops the daemon it
# started (only that pid), also on failure.
set -euo pipefail
export LC_ALL=C

KVFS_BIN=$1
PLUGIN=$2
BAD_VERSION=$3
NO_INIT=$4

skip() {
	echo "SKIPPED: $*"
	exit 77
}

[ -c /dev/fuse ] || skip "/dev/fuse is missing"
command -v fusermount3 >/dev/null || skip "fusermount3 is missing"
command -v setfattr >/dev/null || skip "setfattr (package attr) is missing"
[ -x "$KVFS_BIN" ] || skip "no daemon at $KVFS_BIN"

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kvfs-plugin-mount.XXXXXX")
MNT=$TEST_TMP/mnt
DATA=$TEST_TMP/data
mkdir -p "$MNT" "$DATA"
KVFS_PID=

fail() {
	echo "FAIL: $*" >&2
	[ -s "$TEST_TMP/daemon.log" ] && tail -n 20 "$TEST_TMP/daemon.log" >&2
	exit 1
}

is_mounted() {
	grep -q " $1 fuse" /proc/mounts
}

cleanup() {
	local rc=$?
	set +e
	cd /
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

OPTS="backend=plugin,plugin=$PLUGIN,plugin_opts=db=$DATA/kv.db;sync=false"

mount_sqlite() {
	"$KVFS_BIN" "$MNT" -o "$OPTS${1:+,$1}" -f >>"$TEST_TMP/daemon.log" 2>&1 &
	KVFS_PID=$!
	for _ in $(seq 1 100); do
		is_mounted "$MNT" && return 0
		kill -0 "$KVFS_PID" 2>/dev/null || fail "daemon exited at start"
		sleep 0.05
	done
	fail "mount did not appear in /proc/mounts"
}

unmount() {
	fusermount3 -u "$MNT" || fusermount3 -uz "$MNT"
	for _ in $(seq 1 100); do
		kill -0 "$KVFS_PID" 2>/dev/null || break
		sleep 0.05
	done
	wait "$KVFS_PID" || fail "daemon exited with an error"
	KVFS_PID=
}

# 1. Files, directories, xattrs through the mount.
mount_sqlite
echo 42 > "$MNT/replicas"
[ "$(cat "$MNT/replicas")" = 42 ] || fail "cat after echo"
mkdir -p "$MNT/config/deep"
printf 'value with\nnewlines\n' > "$MNT/config/deep/key"
head -c 100000 /dev/urandom > "$TEST_TMP/blob"
cp "$TEST_TMP/blob" "$MNT/config/blob"
cmp "$TEST_TMP/blob" "$MNT/config/blob" || fail "cp round trip"
setfattr -n user.colour -v blue "$MNT/config/blob"
[ "$(getfattr --only-values -n user.colour "$MNT/config/blob")" = blue ] ||
	fail "user xattr"
setfattr -n user.kvfs.consistency -v eventual "$MNT/config"
[ "$(getfattr --only-values -n user.kvfs.consistency.effective \
	"$MNT/config/deep/key")" = eventual ] || fail "inherited level"
cp -a "$MNT/config/blob" "$MNT/config/copy"
[ "$(getfattr --only-values -n user.colour "$MNT/config/copy")" = blue ] ||
	fail "cp -a keeps xattrs"
mv "$MNT/config" "$MNT/settings"
[ -f "$MNT/settings/deep/key" ] || fail "mv of a directory"
[ ! -e "$MNT/config" ] || fail "old name still there after mv"
rm "$MNT/settings/copy"
[ "$(ls "$MNT/settings" | tr '\n' ' ')" = "blob deep " ] || fail "ls"
unmount

# Everything lives in the one database file.
for f in "$DATA"/*; do
	case ${f##*/} in
	kv.db | kv.db-wal | kv.db-shm) ;;
	*) fail "unexpected file $f beside the database" ;;
	esac
done

# 2. A remount finds everything again.
mount_sqlite
cmp "$TEST_TMP/blob" "$MNT/settings/blob" || fail "blob after remount"
[ "$(getfattr --only-values -n user.colour "$MNT/settings/blob")" = blue ] ||
	fail "xattr after remount"
[ "$(getfattr --only-values -n user.kvfs.consistency "$MNT/settings")" = \
	eventual ] || fail "level xattr after remount"
unmount
echo "ok: mount over the SQLite plugin"

# 3. Plugins that must be refused: a message, a failure, nothing mounted.
printf 'not a shared object\n' > "$TEST_TMP/text.so"
refused() {
	local want=$1 out
	shift
	if out=$(timeout 20 "$KVFS_BIN" "$MNT" -o "$1" -f 2>&1); then
		fail "mount with $1 succeeded"
	fi
	is_mounted "$MNT" && fail "something is mounted after refusing $1"
	case $out in
	*"$want"*) echo "ok: refused: $out" ;;
	*) fail "refusing $1 said '$out', expected '$want'" ;;
	esac
}
refused "vtable version 99" "backend=plugin,plugin=$BAD_VERSION"
refused "no kvfs_plugin_init symbol" "backend=plugin,plugin=$NO_INIT"
refused "cannot load it as a shared object" \
	"backend=plugin,plugin=$TEST_TMP/text.so"
refused "No such file or directory" \
	"backend=plugin,plugin=$TEST_TMP/missing.so"
refused "unknown option 'bogus'" "$OPTS;bogus=1"
echo "PASS"
