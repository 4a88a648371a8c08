#!/bin/bash
# Everyday tools on a fresh mount: echo, cat, mv, rm, mkdir -p, ls -l
# sizes, truncate, >> append, touch -d; every key is a file under the root.
. "$(dirname "$0")/lib.sh"
kvfs_mount

echo 42 > "$MNT/replicas"
[ "$(cat "$MNT/replicas")" = 42 ] || fail "cat after echo"
[ "$(cat "$ROOT/replicas")" = 42 ] || fail "key is not a file under the root"

mkdir -p "$MNT/a/b/c"
[ -d "$MNT/a/b/c" ] && [ -d "$ROOT/a/b/c" ] || fail "mkdir -p"
printf 'hello world' > "$MNT/a/b/c/leaf"
[ "$(cat "$ROOT/a/b/c/leaf")" = "hello world" ] || fail "nested key under root"

# ls -l shows the right sizes
size=$(ls -l "$MNT/a/b/c/leaf" | awk '{ print $5 }')
[ "$size" = 11 ] || fail "ls -l size $size, want 11"
[ "$(stat -c %s "$MNT/replicas")" = 3 ] || fail "stat size"
ls -l "$MNT" | grep -q ' replicas$' || fail "ls -l lists replicas"

# >> appends
echo more >> "$MNT/replicas"
[ "$(cat "$MNT/replicas")" = "$(printf '42\nmore')" ] || fail ">> append"
[ "$(stat -c %s "$MNT/replicas")" = 8 ] || fail "size after append"

# truncate both ways
truncate -s 2 "$MNT/replicas"
[ "$(cat "$MNT/replicas")" = 42 ] || fail "truncate -s 2"
truncate -s 10 "$MNT/replicas"
[ "$(stat -c %s "$MNT/replicas")" = 10 ] || fail "truncate -s 10"
[ "$(stat -c %s "$ROOT/replicas")" = 10 ] || fail "truncate reached the store"
: > "$MNT/replicas"
[ "$(stat -c %s "$MNT/replicas")" = 0 ] || fail ": > truncates"

# touch -d sets mtimes, also on directories
touch -d '2001-02-03 04:05:06' "$MNT/a/b/c/leaf"
[ "$(stat -c %Y "$MNT/a/b/c/leaf")" = "$(date -d '2001-02-03 04:05:06' +%s)" ] ||
	fail "touch -d mtime through the mount"
[ "$(stat -c %Y "$ROOT/a/b/c/leaf")" = "$(date -d '2001-02-03 04:05:06' +%s)" ] ||
	fail "touch -d mtime in the store"
touch -d '2010-01-01' "$MNT/a"
[ "$(stat -c %Y "$MNT/a")" = "$(date -d 2010-01-01 +%s)" ] || fail "dir mtime"
touch "$MNT/new-empty"
[ -f "$ROOT/new-empty" ] && [ ! -s "$MNT/new-empty" ] || fail "touch creates"

# a write changes the mtime
before=$(stat -c %Y "$MNT/a/b/c/leaf")
echo x >> "$MNT/a/b/c/leaf"
after=$(stat -c %Y "$MNT/a/b/c/leaf")
[ "$after" -gt "$before" ] || fail "mtime did not move on write"

# mv within and across directories, replacing a target
mv "$MNT/a/b/c/leaf" "$MNT/moved"
[ ! -e "$MNT/a/b/c/leaf" ] && [ -f "$MNT/moved" ] || fail "mv"
[ -f "$ROOT/moved" ] && [ ! -e "$ROOT/a/b/c/leaf" ] || fail "mv in the store"
echo target > "$MNT/target"
mv "$MNT/moved" "$MNT/target"
grep -q 'hello world' "$MNT/target" || fail "mv replacing a file"
mv "$MNT/a" "$MNT/z"
[ -d "$MNT/z/b/c" ] && [ ! -e "$MNT/a" ] || fail "mv of a directory"
echo inside > "$MNT/z/b/c/f"
[ "$(cat "$ROOT/z/b/c/f")" = inside ] || fail "write below a renamed dir"

# chmod is stored; chown to someone else is refused
chmod 600 "$MNT/target"
[ "$(stat -c %a "$MNT/target")" = 600 ] || fail "chmod through the mount"
[ "$(stat -c %a "$ROOT/target")" = 600 ] || fail "chmod in the store"
echo rewrite > "$MNT/target"
[ "$(stat -c %a "$MNT/target")" = 600 ] || fail "mode survives a rewrite"
chown "$(id -u):$(id -g)" "$MNT/target" || fail "chown to the same owner"
expect_fail "Operation not permitted" chown 12345 "$MNT/target"
# set-user-ID and set-group-ID bits are not kept; the sticky bit is
chmod 6755 "$MNT/target" || fail "chmod with set-ID bits"
[ "$(stat -c %a "$MNT/target")" = 755 ] || fail "set-ID bits kept by chmod"
[ "$(stat -c %a "$ROOT/target")" = 755 ] || fail "set-ID bits in the store"
chmod 1777 "$MNT/target"
[ "$(stat -c %a "$MNT/target")" = 1777 ] || fail "sticky bit not kept"
chmod 600 "$MNT/target"

# rm, rmdir
rm "$MNT/target"
[ ! -e "$MNT/target" ] && [ ! -e "$ROOT/target" ] || fail "rm"
rm -r "$MNT/z"
[ ! -e "$ROOT/z" ] || fail "rm -r"

# every key appears as a file under the root, with the same contents
for i in 1 2 3; do
	mkdir -p "$MNT/d$i"
	echo "value $i" > "$MNT/d$i/k"
done
for i in 1 2 3; do
	[ "$(cat "$ROOT/d$i/k")" = "value $i" ] || fail "key d$i/k in the root"
done
[ "$(ls "$MNT" | sort | tr '\n' ' ')" = "d1 d2 d3 new-empty replicas " ] ||
	fail "listing: $(ls "$MNT" | tr '\n' ' ')"
df "$MNT" >/dev/null || fail "statfs"

# An open file reads the value it opened (close-to-open), whatever is
# written to the name meanwhile, and the name shows the new value at once.
head -c 300000 /dev/zero | tr '\0' a >"$MNT/snap"
exec 3<"$MNT/snap"
dd bs=1000 count=1 status=none <&3 >/dev/null || fail "read the start"
head -c 5000 /dev/zero | tr '\0' b >"$MNT/snap" ||
	fail "rewrite a file another process has open"
[ "$(stat -c %s "$MNT/snap")" = 5000 ] || fail "size after the rewrite"
[ "$(tr -d b <"$MNT/snap" | wc -c)" = 0 ] || fail "new value"
rest=$(tr -d a <&3 | wc -c; wc -c <"$MNT/snap")
exec 3<&-
[ "$rest" = "0
5000" ] || fail "the open file lost its value: $rest"
exec 3<"$MNT/snap"
truncate -s 7 "$MNT/snap" || fail "truncate a file another process has open"
[ "$(cat <&3 | wc -c)" = 5000 ] || fail "the open file after truncate(1)"
exec 3<&-
[ "$(cat "$MNT/snap")" = bbbbbbb ] || fail "value after truncate(1)"
rm "$MNT/snap"

# stat by another process while a writer is open does not leave an old
# size behind: after the writer's fsync and close, everyone sees the new.
head -c 100 /dev/zero | tr '\0' a >"$MNT/grow"
exec 3>"$MNT/grow"
head -c 8000 /dev/zero | tr '\0' b >&3
stat "$MNT/grow" >/dev/null || fail "stat while a writer is open"
python3 -c 'import os; os.fsync(3)' || fail "fsync of the writer"
exec 3>&-
[ "$(wc -c <"$MNT/grow")" = 8000 ] || fail "a reader after fsync and close"
[ "$(stat -c %s "$MNT/grow")" = 8000 ] || fail "size after fsync and close"
rm "$MNT/grow"

# fstat after writes shows the size they made, also for a writer using
# direct I/O (here: the file was truncated while open, so its size is in
# doubt and the next writer does not use the page cache). SQLite reads
# its rollback journal's size that way; a journal seen empty is not
# played back, and a rolled-back transaction is committed with the next.
python3 - "$MNT/journal" <<'EOF' || fail "fstat of a file this descriptor wrote (see above)"
import os, sys
path = sys.argv[1]
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b"x" * 600, 0)
os.fdatasync(fd)
os.fstat(fd)
os.ftruncate(fd, 0)
os.fdatasync(fd)
os.close(fd)
fd = os.open(path, os.O_RDWR)
for offset, length in ((0, 512), (512, 4), (516, 4096), (4612, 5388)):
    os.pwrite(fd, b"j" * length, offset)
    size = os.fstat(fd).st_size
    if size != offset + length:
        sys.exit("fstat after writing up to %d bytes says %d" % (offset + length, size))
os.close(fd)
if os.stat(path).st_size != 10000:
    sys.exit("after close: %d bytes" % os.stat(path).st_size)
EOF
rm "$MNT/journal"

# Rewriting part of a sparse value keeps its holes (the new value is made
# from the old one extent by extent) and costs no time in the size.
truncate -s 1G "$MNT/sparse"
printf abc | dd of="$MNT/sparse" bs=1 seek=$((512 << 20)) conv=notrunc status=none
printf xyz | dd of="$MNT/sparse" bs=1 seek=5 conv=notrunc status=none
[ "$(stat -c %s "$MNT/sparse")" = $((1 << 30)) ] || fail "sparse value size"
[ "$(dd if="$MNT/sparse" bs=1 skip=$((512 << 20)) count=3 status=none)" = abc ] ||
	fail "sparse value content"
[ "$(dd if="$MNT/sparse" bs=1 skip=5 count=3 status=none)" = xyz ] ||
	fail "sparse value content at the start"
[ "$(du -k "$ROOT/sparse" | cut -f1)" -lt 1024 ] ||
	fail "rewriting part of a sparse value filled its holes"
rm "$MNT/sparse"

kvfs_unmount || fail "daemon exit status $?"
echo PASS
