#!/bin/bash
# How writes reach the store. A stream of large writes comes by splice
# (user.kvfs.stats counts them), the kernel asks for security.capability
# once per file instead of before every write (kvfs promises it keeps no
# privileges to remove), and writes of every size, mixed, large ones
# answered early and small ones served out of the splice pipe, leave
# exactly the bytes written, also when sizes are asked for meanwhile.
# Privileges planted on a file under the root do not survive a rewrite
# through the mount.
. "$(dirname "$0")/lib.sh"
KVFS_FOREGROUND=1 # reads what the daemon logs
command -v python3 >/dev/null || skip "python3 is missing"

kvfs_mount "debug" # libfuse logs every request: "opcode: NAME"

count_requests() { # count_requests NAME: requests of that kind so far
	grep -c "opcode: $1 " "$TEST_TMP/daemon.log" || true
}
writes_line() {
	getfattr --only-values -n user.kvfs.stats "$MNT" | grep '^writes: '
}

# 16 writes of 1 MiB over a file: at most one question about privileges
# (a security module may ask about a new file once more, so the file is
# made first and rewritten).
head -c $((16 << 20)) /dev/urandom >"$TEST_TMP/src"
echo old >"$MNT/stream"
before=$(count_requests GETXATTR)
dd if="$TEST_TMP/src" of="$MNT/stream" bs=1M conv=notrunc status=none
asked=$(($(count_requests GETXATTR) - before))
[ "$asked" -le 1 ] ||
	fail "the kernel asked $asked times for an xattr during 16 writes"
cmp "$TEST_TMP/src" "$MNT/stream" || fail "streamed file differs"
cmp "$TEST_TMP/src" "$ROOT/stream" || fail "stored file differs"

line=$(writes_line) || fail "no writes line in user.kvfs.stats"
echo "$line"
grep -Eq '^writes: spliced=[0-9]+ copied=[0-9]+$' <<<"$line" ||
	fail "malformed writes line: $line"
spliced=$(sed 's/.*spliced=\([0-9]*\).*/\1/' <<<"$line")
# A request of 512 KiB needs a pipe of 1 MiB, the default limit.
if [ "$(cat /proc/sys/fs/pipe-max-size)" -ge $((1 << 20)) ]; then
	[ "$spliced" -gt 0 ] || fail "no write came by splice: $line"
else
	echo "note: fs.pipe-max-size below 1 MiB, writes are copied"
fi

# A second writer's lseek to the end finds its own end while the first
# writes through the page cache; the first keeps its size and data.
python3 - "$MNT/second" <<'EOF'
import os, sys
f = sys.argv[1]
with open(f, "wb") as out:
    out.write(b"A" * 100)
p = os.open(f, os.O_RDWR)       # writes through the page cache
os.pwrite(p, b"P" * 1000, 0)
w = os.open(f, os.O_RDWR)       # a second writer: direct I/O
os.write(w, b"W" * 9000)
end = os.lseek(w, 0, os.SEEK_END)
assert end == 9000, f"second writer's end of file: {end}"
os.write(w, b"tail")
assert os.fstat(p).st_size == 1000, "the page writer's size"
assert os.pread(p, 2000, 0) == b"P" * 1000, "the page writer's data"
os.close(p)
os.close(w)                     # the last to close wins
with open(f, "rb") as back:
    data = back.read()
assert data == b"W" * 9000 + b"tail", f"stored {len(data)} bytes"
EOF

# Mixed sizes on one open file, checked byte for byte against the same
# writes to a local file: large and small, sequential and scattered,
# with listings, fstat, reads back through the same descriptor and an
# fsync in between.
python3 - "$MNT/mixed" "$TEST_TMP/mixed" <<'EOF'
import os, random, sys
rng = random.Random(7)
fds = [os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
       for p in sys.argv[1:]]
for i in range(60):
    size = rng.choice([1, 100, 4096, 65535, 65536, 300000, 1 << 20,
                       (1 << 20) + 1234, 3 << 20])
    off = rng.choice([None, rng.randrange(0, 8 << 20)])
    data = rng.randbytes(size)
    for fd in fds:
        if off is None:
            os.write(fd, data)
        else:
            os.pwrite(fd, data, off)
    if i % 17 == 0:
        # a listing of the directory (entries carry sizes) and fstat,
        # then read back through the same descriptors
        os.listdir(os.path.dirname(sys.argv[1]))
        sizes = {os.fstat(fd).st_size for fd in fds}
        assert len(sizes) == 1, f"fstat sizes differ: {sizes}"
        at = rng.randrange(0, max(sizes))
        back = {os.pread(fd, 70000, at) for fd in fds}
        assert len(back) == 1, f"read back after fstat differs at {at}"
    if i == 30:
        os.fsync(fds[0])
for fd in fds:
    os.close(fd)
EOF
cmp "$TEST_TMP/mixed" "$MNT/mixed" || fail "mixed writes differ (mount)"
cmp "$TEST_TMP/mixed" "$ROOT/mixed" || fail "mixed writes differ (store)"

# A file under the root with set-ID bits and a security.* attribute:
# the mount shows neither, and a rewrite through it carries neither on.
echo planted >"$ROOT/planted"
chmod 6755 "$ROOT/planted"
[ "$(stat -c %a "$MNT/planted")" = 755 ] ||
	fail "set-ID bits shown: $(stat -c %a "$MNT/planted")"
security=false
setfattr -n security.kvfs-test -v 1 "$ROOT/planted" 2>/dev/null &&
	security=true
echo rewritten >"$MNT/planted"
[ "$(cat "$ROOT/planted")" = rewritten ] || fail "rewrite not stored"
[ "$(stat -c %a "$ROOT/planted")" = 755 ] ||
	fail "set-ID bits survived a rewrite: $(stat -c %a "$ROOT/planted")"
if $security; then
	if getfattr -n security.kvfs-test "$ROOT/planted" >/dev/null 2>&1; then
		fail "a security.* attribute survived a rewrite"
	fi
else
	echo "note: this filesystem takes no security.* attribute; not checked"
fi

kvfs_unmount || fail "daemon exit status"
echo "write path: all checks passed"
