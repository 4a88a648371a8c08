#!/bin/bash
# mount_plugin.sh - the kvfs daemon over the SQLite plugin with real tools
# (cat, cp, mv, setfattr, getfattr), a remount that finds everything
# again, and plugins the daemon must refuse without mounting anything.
#
#   KVFS_BIN=... mount_plugin.sh SQLITE_PLUGIN BAD_VERSION_PLUGIN NO_INIT_PLUGIN
#
# Exits 77 (SKIPPED) without /dev/fuse. Unmounts and stops the daemon it
# started (only that pid), also on failure: tests/mount/lib.sh.
. "$(dirname "$0")/../mount/lib.sh"

PLUGIN=$1
BAD_VERSION=$2
NO_INIT=$3

[ -x "$KVFS_BIN" ] || skip "no daemon at $KVFS_BIN"

DATA=$TEST_TMP/data
mkdir -p "$DATA"
# What kvfs_mount mounts instead of root=$ROOT.
KVFS_STORE_OPTS="backend=plugin,plugin=$PLUGIN"
KVFS_STORE_OPTS+=",plugin_opts=db=$DATA/kv.db;sync=false"

# 1. Files, directories, xattrs through the mount.
kvfs_mount
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
kvfs_unmount || fail "daemon exited with an error"

# Everything lives in the one database file.
for f in "$DATA"/*; do
	case ${f##*/} in
	kv.db | kv.db-wal | kv.db-shm) ;;
	*) fail "unexpected file $f beside the database" ;;
	esac
done

# 2. A remount finds everything again.
kvfs_mount
cmp "$TEST_TMP/blob" "$MNT/settings/blob" || fail "blob after remount"
[ "$(getfattr --only-values -n user.colour "$MNT/settings/blob")" = blue ] ||
	fail "xattr after remount"
[ "$(getfattr --only-values -n user.kvfs.consistency "$MNT/settings")" = \
	eventual ] || fail "level xattr after remount"
kvfs_unmount || fail "daemon exited with an error"
echo "ok: mount over the SQLite plugin"

# 3. Plugins that must be refused: a message, a failure, nothing mounted.
printf 'not a shared object\n' > "$TEST_TMP/text.so"
refused() {
	expect_fail "$1" timeout 20 "$KVFS_BIN" "$MNT" -o "$2" -f
	if is_mounted "$MNT"; then
		fail "something is mounted after refusing $2"
	fi
}
refused "vtable version 99" "backend=plugin,plugin=$BAD_VERSION"
refused "no kvfs_plugin_init symbol" "backend=plugin,plugin=$NO_INIT"
refused "cannot load it as a shared object" \
	"backend=plugin,plugin=$TEST_TMP/text.so"
refused "No such file or directory" \
	"backend=plugin,plugin=$TEST_TMP/missing.so"
refused "unknown option 'bogus'" "$KVFS_STORE_OPTS;bogus=1"
echo "PASS"
