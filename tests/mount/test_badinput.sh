#!/bin/bash
# Bad input: over-long names, names near PATH_MAX, symlinks and hard links
# planted in the root by another user, hard and symbolic links.
. "$(dirname "$0")/lib.sh"

# Something outside the root that nothing may reach through the mount.
mkdir "$TEST_TMP/outside"
echo secret > "$TEST_TMP/outside/secret"
chmod 640 "$TEST_TMP/outside/secret"
ln -s "$TEST_TMP/outside" "$ROOT/escape"
ln -s "$TEST_TMP/outside/secret" "$ROOT/secretlink"
ln -s "$TEST_TMP/outside/secret" "$ROOT/secretlink2"
ln -s .. "$ROOT/up"
# A file outside, owned by another user, with hard links to it planted in
# the root (one per operation below).
linked=$TEST_TMP/outside/linked
echo outer > "$linked"
chmod 640 "$linked"
setfattr -n user.o -v outer "$linked"
touch -d 2001-02-03T04:05:06 "$linked"
if id nobody >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	chown nobody "$linked"
fi
for n in hl_chmod hl_setfattr hl_rmfattr hl_touch hl_rewrite; do
	ln "$linked" "$ROOT/$n"
done
outside_was=$(stat -c '%a %u %g %Y %s %h' "$linked")
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
# a value written over a planted symlink replaces the link and is made
# like a new key: the default mode, or the creator's umask, never the
# link's rwxrwxrwx
echo overwrite > "$MNT/secretlink" || fail "write over a planted symlink"
(umask 077 && echo private > "$MNT/secretlink2") ||
	fail "write over a planted symlink with umask 077"
[ "$(stat -c %a "$MNT/secretlink")" = 644 ] ||
	fail "value over a symlink has mode $(stat -c %a "$MNT/secretlink")"
[ "$(stat -c '%F %a' "$ROOT/secretlink")" = "regular file 644" ] ||
	fail "stored over a symlink: $(stat -c '%F %a' "$ROOT/secretlink")"
[ "$(stat -c %a "$MNT/secretlink2")" = 600 ] ||
	fail "umask 077 over a symlink gave mode $(stat -c %a "$MNT/secretlink2")"
[ "$(cat "$MNT/secretlink")" = overwrite ] || fail "value over a symlink"
[ "$(cat "$TEST_TMP/outside/secret")" = secret ] || fail "outside file changed"
[ "$(stat -c %a "$TEST_TMP/outside/secret")" = 640 ] ||
	fail "outside file's mode changed"
[ "$(ls "$TEST_TMP/outside")" = "$(printf 'linked\nsecret')" ] ||
	fail "outside dir changed"
echo "ok: nothing outside the root was read or changed"

# hard links planted in the root: chmod, setfattr, setfattr -x, touch -d
# and a partial rewrite each act on the value, after replacing its file
# with a private copy; the outside inode keeps its mode, owner, times,
# xattrs and contents
chmod 600 "$MNT/hl_chmod"
setfattr -n user.t -v 1 "$MNT/hl_setfattr"
setfattr -x user.o "$MNT/hl_rmfattr"
touch -d 2010-01-01T00:00:00 "$MNT/hl_touch"
printf X | dd of="$MNT/hl_rewrite" conv=notrunc status=none
[ "$(stat -c %a "$MNT/hl_chmod")" = 600 ] || fail "chmod of a planted hard link"
[ "$(cat "$MNT/hl_chmod")" = outer ] || fail "chmod lost the value"
[ "$(getfattr --only-values -n user.t "$MNT/hl_setfattr")" = 1 ] ||
	fail "setfattr on a planted hard link"
[ "$(getfattr --only-values -n user.o "$MNT/hl_setfattr")" = outer ] ||
	fail "setfattr lost the value's other xattrs"
getfattr -n user.o "$MNT/hl_rmfattr" >/dev/null 2>&1 &&
	fail "setfattr -x on a planted hard link"
[ "$(stat -c %Y "$MNT/hl_touch")" = "$(date -d 2010-01-01T00:00:00 +%s)" ] ||
	fail "touch -d on a planted hard link"
[ "$(cat "$MNT/hl_rewrite")" = Xuter ] || fail "partial rewrite of a planted hard link"
for n in hl_chmod hl_setfattr hl_rmfattr hl_touch hl_rewrite; do
	[ "$(stat -c %h "$ROOT/$n")" = 1 ] || fail "$n still shares its inode"
done
outside_now=$(stat -c '%a %u %g %Y %s %h' "$linked")
[ "$outside_now" = "${outside_was% *} 1" ] ||
	fail "outside file: '$outside_now', was '$outside_was' (links before)"
[ "$(cat "$linked")" = outer ] || fail "outside file's contents changed"
[ "$(getfattr --only-values -n user.o "$linked")" = outer ] ||
	fail "outside file's xattr changed"
[ "$(getfattr -d -m 'user\.' "$linked" | grep -c '^user\.')" = 1 ] ||
	fail "outside file has new xattrs"
echo "ok: attribute changes through planted hard links stayed inside"

# what a key-value store cannot mean fails with a clear errno
echo v > "$MNT/file"
expect_fail "Operation not permitted" ln "$MNT/file" "$MNT/hard"
expect_fail "Operation not permitted" ln -s file "$MNT/soft"
expect_fail "Operation not permitted" mkfifo "$MNT/fifo"
[ ! -e "$MNT/hard" ] && [ ! -e "$MNT/soft" ] || fail "link left a name"

kvfs_unmount || fail "daemon exit status $?"
echo PASS
