#!/bin/bash
# A write the backend cannot store: small and O_DSYNC writes fail at once;
# a large write, answered before it is stored, fails the next write, fsync
# and close of that file. Either way the file's every later write, fsync
# and close fails too, nothing of it is published, and the stored value
# stays the previous whole one. The daemon runs with a file size limit
# (ulimit -f, SIGXFSZ ignored), so that its writes past 2 MiB fail with
# EFBIG, as a full disk fails them with ENOSPC; a shim (failsync.c) fails
# one fsync of the daemon on demand: a publish the backend refuses.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is missing"

REAL_BIN=$KVFS_BIN
KVFS_BIN=$TEST_TMP/kvfs-limited
FAIL_FSYNC=$TEST_TMP/fail-fsync # while it exists, the daemon's next fsync fails
cat >"$KVFS_BIN" <<EOF
#!/bin/bash
trap '' XFSZ
ulimit -f 2048
export LD_PRELOAD=$KVFS_FAILSYNC KVFS_FAIL_FSYNC=$FAIL_FSYNC
export ASAN_OPTIONS=\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0
exec "$REAL_BIN" "\$@"
EOF
chmod +x "$KVFS_BIN"
kvfs_mount

MIB=$((1 << 20))
head -c $MIB /dev/zero | tr '\0' a >"$MNT/f"

printf 0123456789 >"$MNT/g"
python3 - "$MNT/f" "$MNT/g" "$FAIL_FSYNC" <<'EOF' || fail "write errors (see above)"
import errno, os, sys

path, other, flag = sys.argv[1:]
def fails(what, call, err=errno.EFBIG):
    try:
        call()
    except OSError as e:
        if e.errno != err:
            raise
        return
    sys.exit(what + " succeeded")

# A small write past the limit fails itself, and so do the writes that
# follow it and close: the file is unchanged.
fd = os.open(path, os.O_WRONLY)
os.pwrite(fd, b"z", 0)
fails("a small write past the limit", lambda: os.pwrite(fd, b"x", 3 << 20))
fails("a write after a failed one", lambda: os.pwrite(fd, b"z", 1))
fails("close after a failed write", lambda: os.close(fd))
if os.stat(path).st_size != 1 << 20:
    sys.exit("size changed by a failed small write")
with open(path, "rb") as f:
    if f.read(2) != b"aa":
        sys.exit("a write before the failed one was published")

# An O_DSYNC write fails itself too, however large.
fd = os.open(path, os.O_WRONLY | os.O_DSYNC)
fails("an O_DSYNC write past the limit",
      lambda: os.pwrite(fd, b"y" * (1 << 20), 2 << 20))
fails("close after a failed O_DSYNC write", lambda: os.close(fd))

# Large writes: the one that fails is answered first; fsync reports it, and
# so do every later write, ftruncate and close; nothing is published.
fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
for _ in range(3):
    os.write(fd, b"b" * (1 << 20))
fails("fsync after a lost write", lambda: os.fsync(fd))
fails("a write after a lost write", lambda: os.write(fd, b"c"))
fails("ftruncate after a lost write", lambda: os.ftruncate(fd, 10))
fails("close after a lost write", lambda: os.close(fd))

# A publish the backend fails (an fsync that fails, as a failing disk's
# does): the file's later writes and its close fail too, so that nothing
# built on the lost write is ever published; a truncation whose publish
# fails at close reports it.
fd = os.open(other, os.O_RDWR)
os.pwrite(fd, b"AAAA", 0)
open(flag, "w").close()
fails("fsync that the backend failed", lambda: os.fsync(fd), errno.EIO)
fails("a write after a failed publish",
      lambda: os.pwrite(fd, b"BBBB", 4), errno.EIO)
fails("close after a failed publish", lambda: os.close(fd), errno.EIO)
open(flag, "w").close()
f = open(other, "w")
fails("close of a truncation whose publish failed", f.close, errno.EIO)
EOF
[ "$(stat -c %s "$MNT/f")" = $MIB ] || fail "size after lost writes"
[ "$(tr -d a <"$MNT/f" | wc -c)" = 0 ] || fail "content after lost writes"
[ "$(stat -c %s "$ROOT/f")" = $MIB ] || fail "stored size after lost writes"

# What a user sees: dd and cp fail, the file keeps its value.
expect_fail "File too large" dd if=/dev/zero of="$MNT/f" bs=1M count=3 \
	conv=notrunc status=none
head -c $((3 * MIB)) /dev/zero >"$TEST_TMP/big"
expect_fail "File too large" cp "$TEST_TMP/big" "$MNT/f"
[ "$(stat -c %s "$MNT/f")" = $MIB ] || fail "size after dd and cp"
cmp -s "$MNT/f" "$ROOT/f" || fail "mount and root differ"

# After the failed publishes g keeps its value.
[ "$(cat "$ROOT/g")" = 0123456789 ] || fail "stored after failed publishes: $(cat "$ROOT/g")"
[ "$(cat "$MNT/g")" = 0123456789 ] || fail "read after failed publishes: $(cat "$MNT/g")"
[ ! -e "$FAIL_FSYNC" ] || fail "the daemon never fsync'd"

kvfs_unmount || fail "daemon exit status"
echo PASS
