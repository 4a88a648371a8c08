#!/bin/bash
# mmap of files as tools leave them. A file written by tar, cp -p, cp -a,
# rsync -a, sed -i, install -m or `>>` maps read-only and shared once the
# tool is done (those tools set times and modes on the open file while
# writing: that must not leave the file to direct I/O, which cannot be
# mapped shared), and the map holds the file's bytes. A private map works
# also while a writer has the file open; a shared map then fails with
# ENODEV, as fs/README.md says; so does one within quiet= seconds after a
# writer overlapped another open file (`>>` right after `cp`: cp's release
# comes after its close returns).
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is missing"
command -v rsync >/dev/null || skip "rsync is missing"

kvfs_mount "quiet=0.2"

src=$TEST_TMP/src
mkdir -p "$src/tree"
for i in 1 2 3 4 5; do
	head -c $((5000 * i)) /dev/urandom >"$src/tree/f$i"
done
printf 'alpha\nbeta\n' >"$src/text"

tar -C "$src" -cf "$TEST_TMP/tree.tar" tree
tar -C "$MNT" -xf "$TEST_TMP/tree.tar"
cp -p "$src/tree/f1" "$MNT/cp_p"
cp -a "$src/tree/f2" "$MNT/cp_a"
rsync -a "$src/tree/" "$MNT/rsync/"
cp "$src/text" "$MNT/sed"
sed -i 's/beta/gamma/' "$MNT/sed"
sed 's/beta/gamma/' "$src/text" >"$src/sed"
install -m 0640 "$src/tree/f3" "$MNT/install"
cp "$src/tree/f4" "$MNT/append"
cat "$src/tree/f5" >>"$MNT/append"
cat "$src/tree/f4" "$src/tree/f5" >"$src/append"
sleep 0.5 # quiet=

# map_compare FILE EXPECTED FLAGS: map FILE whole (shared or private,
# read-only) in a new process and compare with EXPECTED; prints "ok" or
# the errno name.
map_compare() {
	python3 - "$@" <<'EOF'
import errno, mmap, os, sys
path, expected, kind = sys.argv[1:4]
flags = mmap.MAP_SHARED if kind == "shared" else mmap.MAP_PRIVATE
fd = os.open(path, os.O_RDONLY)
try:
    m = mmap.mmap(fd, 0, flags, mmap.PROT_READ)
except OSError as e:
    print(errno.errorcode[e.errno])
    sys.exit(0)
finally:
    os.close(fd)
want = open(expected, "rb").read()
# "private-prefix": beside a writer the kernel's size is the writer's
# (fs/README.md), so only the published bytes are compared
got = m[:len(want)] if kind == "private-prefix" else m[:]
print("ok" if got == want else f"differs ({len(m)} bytes mapped, {len(want)} expected)")
EOF
}

checked=0
check_map() { # check_map FILE EXPECTED KIND
	local got
	got=$(map_compare "$@")
	[ "$got" = ok ] || fail "$3 map of ${1#"$MNT"/}: $got"
	checked=$((checked + 1))
}
for i in 1 2 3 4 5; do
	check_map "$MNT/tree/f$i" "$src/tree/f$i" shared
	check_map "$MNT/rsync/f$i" "$src/tree/f$i" shared
done
check_map "$MNT/cp_p" "$src/tree/f1" shared
check_map "$MNT/cp_a" "$src/tree/f2" shared
check_map "$MNT/sed" "$src/sed" shared
check_map "$MNT/install" "$src/tree/f3" shared
check_map "$MNT/append" "$src/append" shared
check_map "$MNT/append" "$src/append" private

# While a writer has the file open (not yet closed): a private map shows
# the published value (within the writer's size, the kernel's), a shared
# map is refused with ENODEV.
exec 7>>"$MNT/cp_p"
echo "unpublished" >&7
private=$(map_compare "$MNT/cp_p" "$src/tree/f1" private-prefix)
shared=$(map_compare "$MNT/cp_p" "$src/tree/f1" shared)
exec 7>&-
[ "$private" = ok ] || fail "private map beside a writer: $private"
[ "$shared" = ENODEV ] ||
	fail "shared map beside a writer: $shared, expected ENODEV"
echo "$checked maps of tool-written files hold their bytes"
kvfs_unmount
echo PASS
