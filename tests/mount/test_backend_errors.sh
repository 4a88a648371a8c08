#!/bin/bash
# What a user sees when the backend fails, made to fail on demand with the
# store's fault injection (-o faults=RULES, lib/docs/faults.md): every
# library error code reaches the program as the errno fs/README.md
# promises; a publish that fails (close, fsync, a truncation, a new file)
# fails that call with the backend's errno, keeps the old value, leaves
# nothing in the listing, and the next write works; failed namespace,
# attribute, listing and statfs calls fail with their errno and change
# nothing; and the mount keeps working after each.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is missing"

RULES=$TEST_TMP/rules
kvfs_mount "faults=$RULES"

python3 - "$MNT" "$ROOT" "$RULES" "$(dirname "$0")" <<'EOF' || fail "backend errors (see above)"
import errno, os, sys, time
sys.path.insert(0, sys.argv[4])
from fault_checks import *  # mnt, root, set_rules, check, fails, m, read...

def write(path, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)

def listing(path):
    return sorted(os.listdir(path))

# Every library error code, through a lookup (the stat of a name the
# kernel has not seen), becomes the documented errno.
codes = {
    "EFAIL": errno.EIO, "ENOTFOUND": errno.ENOENT, "EEXISTS": errno.EEXIST,
    "ENOTEMPTY": errno.ENOTEMPTY, "EISDIR": errno.EISDIR,
    "ENOTDIR": errno.ENOTDIR, "EINVALKEY": errno.EINVAL,
    "ENAMETOOLONG": errno.ENAMETOOLONG, "ETOOLARGE": errno.EFBIG,
    "EUNAVAILABLE": errno.EIO, "ETIMEDOUT": errno.ETIMEDOUT,
    "ECONFLICT": errno.EIO, "ENOTSUPPORTED": errno.ENOTSUP,
    "EINVAL": errno.EINVAL, "ENOSPACE": errno.ENOSPC,
    "ENODATA": errno.ENODATA, "EREADONLY": errno.EROFS,
}
for i, (code, err) in enumerate(codes.items()):
    write(os.path.join(root, "code%d" % i), b"x")
    set_rules("stat %s 1 code%d\n" % (code, i))
    fails("stat of a key whose stat fails with " + code,
          lambda: os.stat(m("code%d" % i)), err)
    # A lookup right after a failed one answers the same (fs/ops.c,
    # LOOKUP_RETRY_MS): look again once that is over.
    time.sleep(0.35)
    check("code%d readable after the failed stat" % i,
          read(m("code%d" % i)) == b"x")

# A publish the backend refuses: close fails with its errno, the old value
# stays (through the mount and in ROOT), nothing new is listed, and the
# next write of the same file works.
write(m("k"), b"old")
before = listing(root)
set_rules("writer_commit ENOSPACE 1\n")
fd = os.open(m("k"), os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"new value")
fails("close of a file whose publish fails", lambda: os.close(fd),
      errno.ENOSPC)
check("old value kept after a failed publish", read(m("k")) == b"old")
check("old value kept in ROOT", read(os.path.join(root, "k")) == b"old")
check("nothing left in ROOT by a failed publish: %s" % listing(root),
      listing(root) == before)
write(m("k"), b"newer")
check("a write after the failed publish", read(m("k")) == b"newer")

# The same through fsync: fsync reports it, and close after it too, so
# that nothing built on the lost write is published.
set_rules("writer_commit EUNAVAILABLE 1\n")
fd = os.open(m("k"), os.O_RDWR)
os.pwrite(fd, b"X", 0)
fails("fsync whose publish fails", lambda: os.fsync(fd), errno.EIO)
fails("close after a failed fsync", lambda: os.close(fd), errno.EIO)
check("value kept after a failed fsync", read(m("k")) == b"newer")

# A truncation alone (: > k) publishes the empty value with one call;
# when that fails, so does close, and the value stays.
set_rules("put ENOSPACE 1 k\nwriter_commit ENOSPACE 1\n")
fails("close of a truncation whose publish fails",
      lambda: os.close(os.open(m("k"), os.O_WRONLY | os.O_TRUNC)),
      errno.ENOSPC)
check("value kept after a failed truncation", read(m("k")) == b"newer")
set_rules("")

# A new file whose first publish fails: close fails, the file is in
# neither listing afterwards, and creating it again works.
set_rules("writer_commit ENOSPACE 1\nput ENOSPACE 1 fresh\n")
fd = os.open(m("fresh"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(fd, b"data")
fails("close of a new file whose publish fails", lambda: os.close(fd),
      errno.ENOSPC)
check("failed new file not in ROOT", "fresh" not in listing(root))
write(m("fresh"), b"data")
check("new file written after the failed one", read(m("fresh")) == b"data")

# A new file that something needs in the store before its first close
# (an extended attribute, as cp -a sets them): when publishing it fails,
# the call fails with the backend's errno and so does everything later on
# that descriptor; the file never appears in ROOT.
set_rules("writer_commit ENOSPACE 1\n")
fd = os.open(m("pending"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
fails("setxattr of a new file that cannot be stored",
      lambda: os.setxattr(m("pending"), "user.a", b"1"), errno.ENOSPC)
fails("a write after the failed publish", lambda: os.write(fd, b"p"),
      errno.ENOSPC)
fails("close after the failed publish", lambda: os.close(fd), errno.ENOSPC)
check("failed new file not in ROOT", "pending" not in listing(root))

# Opening a file whose snapshot cannot be read, and a first write whose
# writer cannot be opened.
set_rules("open_reader EUNAVAILABLE 1 k\n")
fails("open of a file whose reader fails", lambda: read(m("k")), errno.EIO)
check("open works again", read(m("k")) == b"newer")
set_rules("open_writer ENOSPACE 1 k\n")
fd = os.open(m("k"), os.O_WRONLY)
fails("first write of a file whose writer fails",
      lambda: os.pwrite(fd, b"Z", 0), errno.ENOSPC)
try:
    os.close(fd)
except OSError:
    pass
check("value kept after a failed writer", read(m("k")) == b"newer")

# Namespace calls: each fails with its errno and changes nothing.
os.mkdir(m("d"))
write(m("d/f"), b"f")
set_rules("mkdir ENOSPACE 1\n")
fails("mkdir", lambda: os.mkdir(m("e")), errno.ENOSPC)
check("no directory made", not os.path.exists(os.path.join(root, "e")))
os.mkdir(m("e"))
set_rules("rmdir ETIMEDOUT 1\n")
fails("rmdir", lambda: os.rmdir(m("e")), errno.ETIMEDOUT)
check("directory kept", os.path.isdir(m("e")))
os.rmdir(m("e"))
set_rules("delete EUNAVAILABLE 1\n")
fails("unlink", lambda: os.unlink(m("d/f")), errno.EIO)
check("file kept", read(m("d/f")) == b"f")
set_rules("rename ECONFLICT 1\n")
fails("rename", lambda: os.rename(m("d/f"), m("d/g")), errno.EIO)
check("rename changed nothing", listing(m("d")) == ["f"])
os.rename(m("d/f"), m("d/g"))
check("rename works again", listing(m("d")) == ["g"])

# Listing and statfs.
os.mkdir(m("l"))
write(m("l/x"), b"x")
set_rules("list EUNAVAILABLE 1 l\n")
fails("listing", lambda: os.listdir(m("l")), errno.EIO)
check("listing works again", listing(m("l")) == ["x"])
set_rules("space ETIMEDOUT 1\n")
fails("statfs", lambda: os.statvfs(mnt), errno.ETIMEDOUT)
os.statvfs(mnt)

# Attributes: mode, times, extended attributes.
set_rules("set_attr ENOSPACE 1\n")
fails("chmod", lambda: os.chmod(m("k"), 0o600), errno.ENOSPC)
check("mode kept", os.stat(m("k")).st_mode & 0o777 == 0o644)
set_rules("set_attr ENOSPACE 1\n")
fails("utime", lambda: os.utime(m("k"), (1, 1)), errno.ENOSPC)
set_rules("setxattr ENOSPACE 1\n")
fails("setxattr", lambda: os.setxattr(m("k"), "user.a", b"1"), errno.ENOSPC)
os.setxattr(m("k"), "user.a", b"1")
set_rules("getxattr EUNAVAILABLE 1 k\n")
fails("getxattr", lambda: os.getxattr(m("k"), "user.a"), errno.EIO)
check("getxattr works again", os.getxattr(m("k"), "user.a") == b"1")
set_rules("listxattr ETIMEDOUT 1 k\n")
fails("listxattr", lambda: os.listxattr(m("k")), errno.ETIMEDOUT)
set_rules("removexattr ENOSPACE 1 k\n")
fails("removexattr", lambda: os.removexattr(m("k"), "user.a"), errno.ENOSPC)
check("xattr kept", os.getxattr(m("k"), "user.a") == b"1")
set_rules("setxattr ENOSPACE 1\n")
fails("setting the consistency level",
      lambda: os.setxattr(m("d"), "user.kvfs.consistency", b"eventual"),
      errno.ENOSPC)
check("level unchanged", os.getxattr(m("d"),
      "user.kvfs.consistency.effective") == b"strong")

# Truncating by path (truncate -s) and through a descriptor, when the
# backend fails it: ENOSPC, and the value stays.
set_rules("writer_truncate ENOSPACE 1\n")
fails("truncate by path", lambda: os.truncate(m("k"), 2), errno.ENOSPC)
check("value kept after a failed truncate", read(m("k")) == b"newer")
set_rules("writer_truncate ENOSPACE 1\n")
fd = os.open(m("k"), os.O_RDWR)
fails("ftruncate", lambda: os.ftruncate(fd, 2), errno.ENOSPC)
try:
    os.close(fd)
except OSError:
    pass
check("value kept after a failed ftruncate", read(m("k")) == b"newer")

# fstat of an open file whose stat fails.
fd = os.open(m("k"), os.O_RDONLY)
set_rules("stat EUNAVAILABLE 1 k\n")
fails("fstat", lambda: os.fstat(fd), errno.EIO)
check("fstat works again", os.fstat(fd).st_size == len(b"newer"))
os.close(fd)

# A write after fsync needs the file's new snapshot; when it cannot be
# read, the write fails and the published value stays.
fd = os.open(m("k"), os.O_RDWR)
os.pwrite(fd, b"N", 0)
os.fsync(fd)
set_rules("open_reader EUNAVAILABLE 1 k\n")
fails("a write after fsync whose snapshot cannot be read",
      lambda: os.pwrite(fd, b"M", 1), errno.EIO)
try:
    os.close(fd)
except OSError:
    pass
check("fsynced value kept", read(m("k")) == b"Newer")

# Creating a file when the store cannot tell whether the name exists:
# the create fails with its errno and makes nothing. (The first rule
# answers the kernel's lookup as the backend would, the second fails the
# create's own check.)
set_rules("stat ENOTFOUND 1 unsure\nstat ETIMEDOUT 1 unsure\n")
fails("create when the store does not answer",
      lambda: write(m("unsure"), b"x"), errno.ETIMEDOUT)
check("nothing created", "unsure" not in listing(root))

# A name that another writer creates between the lookup and the create:
# O_EXCL fails with EEXIST and changes nothing; a plain O_CREAT opens the
# file that is there, value and all.
with open(os.path.join(root, "raced"), "w") as f:
    f.write("theirs")
set_rules("stat ENOTFOUND 1 raced\n")
fails("O_EXCL create of a name made meanwhile",
      lambda: os.open(m("raced"), os.O_WRONLY | os.O_CREAT | os.O_EXCL),
      errno.EEXIST)
check("their value kept", read(os.path.join(root, "raced")) == b"theirs")
set_rules("stat ENOTFOUND 1 raced\n")
fd = os.open(m("raced"), os.O_RDWR | os.O_CREAT, 0o644)
check("O_CREAT opens the file made meanwhile", os.read(fd, 10) == b"theirs")
os.close(fd)

# mknod(2): a regular file is made empty with its mode; a fifo or device
# is refused with EPERM; a name made meanwhile gives EEXIST.
import stat as st_
os.mknod(m("node"), 0o600 | st_.S_IFREG)
check("mknod made an empty file", read(os.path.join(root, "node")) == b"")
check("mknod kept the mode", os.stat(m("node")).st_mode & 0o777 == 0o600)
fails("mkfifo", lambda: os.mkfifo(m("fifo")), errno.EPERM)
set_rules("stat ENOTFOUND 1 raced\n")
fails("mknod of a name made meanwhile",
      lambda: os.mknod(m("raced"), 0o644 | st_.S_IFREG), errno.EEXIST)
check("their value kept by mknod",
      read(os.path.join(root, "raced")) == b"theirs")
set_rules("put ENOSPACE 1 node2\n")
fails("mknod that the backend cannot store",
      lambda: os.mknod(m("node2"), 0o644 | st_.S_IFREG), errno.ENOSPC)
check("no node made", "node2" not in listing(root))

# Afterwards, with no rules, everything works.
os.unlink(rules)
write(m("k"), b"final")
check("final write", read(os.path.join(root, "k")) == b"final")
finish()
EOF
kvfs_unmount || fail "daemon exited with status $?"
echo "PASS"
