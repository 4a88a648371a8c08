#!/bin/bash
# Bad input: over-long names, names near PATH_MAX, a symlink planted in
# the root, hard and symbolic links.
. "$(dirname "$0")/lib.sh"

# Something outside the root that nothing may reach through the mount.
mkdir "$TEST_TMP/outside"
echo secret > "$TEST_TMP/outside/secret"
ln -s "$TEST_TMP/outside" "$ROOT/escape"
ln -s "$TEST_TMP/outside/secret" "$ROOT/secretlink"
ln -s .. "$ROOT/up"
kvfs_mount

# a 256-byte name: ENAMETOOLONG; 255 bytes work
n255=$(printf 'n%.0s' $(seq 1 255))
expect_fail "File name too long" touch "$MNT/${n255}x"
expect_fail "File name too long" mkdir "$MNT/${n255}x"
echo ok > "$MNT/$n255"
[ "$(cat "$MNT/$n255")" = ok ] || fail "255-byte name"

# names near PATH_MAX: 16 levels of 250 bytes (a 4015-byte key)
c250=$(printf 'c%.0s' $(seq 1 250))
deep=$c250
for _ in $(seq 2 16); do deep=$deep/$c250; done
mkdir -p "$MNT/$deep"
echo deep > "$MNT/$deep/v"
[ "$(cat "$MNT/$deep/v")" = deep ] || fail "value near PATH_MAX"
[ "$(cat "$ROOT/$deep/v")" = deep ] || fail "deep key in the store"
# one more level makes a key over 4096 bytes
(cd "$MNT/$deep" && expect_fail "File name too long" mkdir "$c250") ||
	fail "a key over 4096 bytes"
# a key of exactly 4096 bytes works (4015 + '/' + 80); the path is
# relative because the absolute one is over PATH_MAX
k80=$(printf 'k%.0s' $(seq 1 80))
(
	cd "$MNT/$deep"
	echo max > "$k80" || fail "create a 4096-byte key"
	[ "$(cat "$k80")" = max ] || fail "read a 4096-byte key"
	[ "$(ls)" = "$(printf '%s\nv' "$k80")" ] || fail "list a 4096-byte key"
	rm "$k80" || fail "remove a 4096-byte key"
	mkdir "$k80" && rmdir "$k80" || fail "a 4096-byte directory key"
	expect_fail "File name too long" touch "${k80}x"
)
mv "$MNT/$c250" "$MNT/renamed"
[ "$(cat "$MNT/renamed/${deep#*/}/v")" = deep ] || fail "rename of a deep tree"
rm -r "$MNT/renamed"

# a planted symlink never leads outside the root
ls "$MNT" | grep -q escape && fail "a symlink is listed as a key"
cat "$MNT/escape/secret" 2>/dev/null && fail "read through a planted symlink"
cat "$MNT/secretlink" 2>/dev/null && fail "read of a planted file symlink"
ls "$MNT/up/" 2>/dev/null | grep -q root && fail "listed the root's parent"
echo x > "$MNT/escape/new" 2>/dev/null && fail "wrote through a planted symlink"
echo overwrite > "$MNT/secretlink" 2>/dev/null || true
[ "$(cat "$TEST_TMP/outside/secret")" = secret ] || fail "outside file changed"
[ "$(ls "$TEST_TMP/outside")" = secret ] || fail "outside dir changed"
echo "ok: nothing outside the root was read or changed"

# what a key-value store cannot mean fails with a clear errno
echo v > "$MNT/file"
expect_fail "Operation not permitted" ln "$MNT/file" "$MNT/hard"
expect_fail "Operation not permitted" ln -s file "$MNT/soft"
expect_fail "Operation not permitted" mkfifo "$MNT/fifo"
[ ! -e "$MNT/hard" ] && [ ! -e "$MNT/soft" ] || fail "link left a name"

kvfs_unmount || fail "daemon exit status $?"
echo PASS
