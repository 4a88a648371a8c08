#!/bin/bash
# Renames that meet files still open: a directory moved while a file in it
# holds unpublished writes keeps them (they are published before the move,
# and the file's close publishes the rest under the new name); a file
# created and not yet closed is a destination like any other for rename
# (RENAME_NOREPLACE refuses it with EEXIST, a plain rename replaces it);
# and a rename when the backend fails it (-o faults=) changes nothing,
# also when files below were being written.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is missing"

RULES=$TEST_TMP/rules
kvfs_mount "faults=$RULES"

python3 - "$MNT" "$ROOT" "$RULES" "$(dirname "$0")" <<'EOF' || fail "renames of open files (see above)"
import ctypes, errno, os, sys
sys.path.insert(0, sys.argv[4])
from fault_checks import *  # mnt, root, set_rules, check, m, r, read
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_NOREPLACE = -100, 1

def renameat2(src, dst, flags):
    if libc.renameat2(AT_FDCWD, src.encode(), AT_FDCWD, dst.encode(),
                      flags) == 0:
        return 0
    return ctypes.get_errno()

# A directory moved while a file in it has unpublished writes.
os.makedirs(m("a/sub"))
with open(m("a/sub/kept"), "w") as f:
    f.write("kept")
fd = os.open(m("a/sub/open"), os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"first")
os.rename(m("a"), m("b"))
check("the open file's writes moved with the directory: %r" %
      (os.path.exists(r("b/sub/open")) and read(r("b/sub/open"))),
      os.path.exists(r("b/sub/open")) and read(r("b/sub/open")) == b"first")
check("nothing left at the old name", not os.path.exists(r("a")))
os.write(fd, b" second")
os.close(fd)
check("the close published under the new name",
      read(r("b/sub/open")) == b"first second")
check("the other file moved", read(m("b/sub/kept")) == b"kept")

# A rename that the backend fails, with a file below being written:
# nothing moves, and the open file's close publishes where it was.
fd = os.open(m("b/sub/open"), os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"third")
set_rules("rename EUNAVAILABLE 1\n")
try:
    os.rename(m("b"), m("c"))
    check("rename that the backend fails succeeded", False)
except OSError as e:
    check("failed rename: %s" % errno.errorcode[e.errno], e.errno == errno.EIO)
os.close(fd)
check("nothing moved", os.path.isdir(r("b")) and not os.path.exists(r("c")))
check("close published in place", read(r("b/sub/open")) == b"third")

# A destination created here and not yet closed.
with open(m("src1"), "w") as f:
    f.write("one")
fd = os.open(m("dst1"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
err = renameat2(m("src1"), m("dst1"), RENAME_NOREPLACE)
check("RENAME_NOREPLACE onto a file not yet closed: %s" %
      errno.errorcode.get(err, err), err == errno.EEXIST)
check("source kept", read(m("src1")) == b"one")
check("plain rename onto it", renameat2(m("src1"), m("dst1"), 0) == 0)
os.close(fd)
check("the renamed value is the one left", read(m("dst1")) == b"one" and
      read(r("dst1")) == b"one")
check("source gone", not os.path.exists(r("src1")))
finish()
EOF
kvfs_unmount || fail "daemon exited with status $?"
echo PASS
