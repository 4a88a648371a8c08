#!/bin/bash
# Consistency levels through xattrs: set, read, inherit, remove, invalid
# values, the read-only effective level, persistence across remounts, the
# mount option; other user.* xattrs kept by cp -a; root-only attributes.
. "$(dirname "$0")/lib.sh"
kvfs_mount

get() { getfattr --only-values -n "$1" "$2" 2>/dev/null; }
LEVEL=user.kvfs.consistency
EFF=user.kvfs.consistency.effective

mkdir -p "$MNT/metrics/cpu"
echo 1 > "$MNT/metrics/cpu/load"
echo 2 > "$MNT/metrics/mem"
echo 3 > "$MNT/other"

[ "$(get $EFF "$MNT/other")" = strong ] || fail "default level is strong"

# set on a directory: the subtree inherits it
setfattr -n $LEVEL -v eventual "$MNT/metrics"
[ "$(get $LEVEL "$MNT/metrics")" = eventual ] || fail "read back dir level"
[ "$(get $EFF "$MNT/metrics")" = eventual ] || fail "effective on the dir"
[ "$(get $EFF "$MNT/metrics/mem")" = eventual ] || fail "file inherits"
[ "$(get $EFF "$MNT/metrics/cpu/load")" = eventual ] || fail "grandchild inherits"
[ "$(get $EFF "$MNT/other")" = strong ] || fail "sibling unaffected"
getfattr -n $LEVEL "$MNT/metrics/mem" >/dev/null 2>&1 &&
	fail "a file without its own level has no $LEVEL"

# the nearest directory wins, the file's own xattr wins over both
setfattr -n $LEVEL -v read-your-writes "$MNT/metrics/cpu"
[ "$(get $EFF "$MNT/metrics/cpu/load")" = read-your-writes ] || fail "nearest dir"
setfattr -n $LEVEL -v Causal "$MNT/metrics/cpu/load"
[ "$(get $LEVEL "$MNT/metrics/cpu/load")" = causal ] || fail "stored canonically"
[ "$(get $EFF "$MNT/metrics/cpu/load")" = causal ] || fail "own level wins"

# invalid values: EINVAL, nothing changes
expect_fail "Invalid argument" setfattr -n $LEVEL -v sometimes "$MNT/metrics/cpu/load"
[ "$(get $LEVEL "$MNT/metrics/cpu/load")" = causal ] || fail "invalid value changed it"
expect_fail "Invalid argument" setfattr -n $LEVEL -v bogus "$MNT/other"
getfattr -n $LEVEL "$MNT/other" >/dev/null 2>&1 && fail "invalid value was stored"

# effective is read-only
expect_fail "Operation not permitted" setfattr -n $EFF -v strong "$MNT/other"
expect_fail "Operation not permitted" setfattr -x $EFF "$MNT/other"

# remove: inherit again
setfattr -x $LEVEL "$MNT/metrics/cpu/load"
[ "$(get $EFF "$MNT/metrics/cpu/load")" = read-your-writes ] || fail "remove file level"
setfattr -x $LEVEL "$MNT/metrics/cpu"
[ "$(get $EFF "$MNT/metrics/cpu/load")" = eventual ] || fail "remove dir level"

# a rename takes the new parent's level
mv "$MNT/other" "$MNT/metrics/other"
[ "$(get $EFF "$MNT/metrics/other")" = eventual ] || fail "level after mv"
mv "$MNT/metrics/other" "$MNT/other"
[ "$(get $EFF "$MNT/other")" = strong ] || fail "level after mv back"

# the level survives rewrites of the value
echo rewritten > "$MNT/metrics/mem"
setfattr -n $LEVEL -v strong "$MNT/metrics/mem"
echo again > "$MNT/metrics/mem"
[ "$(get $LEVEL "$MNT/metrics/mem")" = strong ] || fail "level lost on rewrite"

# other user.* xattrs are stored; cp -a keeps them; other namespaces are not
setfattr -n user.color -v blue "$MNT/other"
[ "$(get user.color "$MNT/other")" = blue ] || fail "user xattr"
getfattr -d "$MNT/other" | grep -q 'user.color="blue"' || fail "listed"
getfattr -d "$MNT/other" | grep -q '^user.kvfs' && fail "computed names are listed"
cp -a "$MNT/other" "$MNT/copy"
[ "$(get user.color "$MNT/copy")" = blue ] || fail "cp -a inside the mount"
cp -a "$MNT/other" "$TEST_TMP/outside"
[ "$(get user.color "$TEST_TMP/outside")" = blue ] || fail "cp -a out of the mount"
setfattr -n user.shape -v round "$TEST_TMP/outside"
cp -a "$TEST_TMP/outside" "$MNT/back"
[ "$(get user.shape "$MNT/back")" = round ] || fail "cp -a into the mount"
setfattr -x user.color "$MNT/other"
getfattr -n user.color "$MNT/other" >/dev/null 2>&1 && fail "user xattr removed"
expect_fail "Operation not supported" setfattr -n trusted.x -v 1 "$MNT/other"

# mount root: stats and the causal token
getfattr --only-values -n user.kvfs.stats "$MNT" | grep -q '^strong: ops=' ||
	fail "user.kvfs.stats"
expect_fail "Operation not permitted" setfattr -n user.kvfs.stats -v x "$MNT"
expect_fail "No such attribute" getfattr -n user.kvfs.causal-token "$MNT"
expect_fail "Operation not supported" setfattr -n user.kvfs.causal-token -v 1 "$MNT"

# persistence across unmount and mount
setfattr -n $LEVEL -v causal "$MNT/metrics/cpu"
kvfs_unmount || fail "daemon exit status"
kvfs_mount
[ "$(get $LEVEL "$MNT/metrics")" = eventual ] || fail "dir level after remount"
[ "$(get $EFF "$MNT/metrics/cpu/load")" = causal ] || fail "inherit after remount"
[ "$(get $LEVEL "$MNT/metrics/mem")" = strong ] || fail "file level after remount"
[ "$(get user.shape "$MNT/back")" = round ] || fail "user xattr after remount"
kvfs_unmount || fail "daemon exit status"

# the mount option sets the default; xattrs still win
kvfs_mount consistency=ReadYourWrites
[ "$(get $EFF "$MNT/other")" = read-your-writes ] || fail "mount option"
[ "$(get $EFF "$MNT/metrics/mem")" = strong ] || fail "xattr over mount option"
kvfs_unmount || fail "daemon exit status"
echo PASS
