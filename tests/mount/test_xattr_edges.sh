#!/bin/bash
# Extended attributes at their edges, as getfattr/setfattr and programs
# calling getxattr(2) meet them: a buffer too small gets ERANGE and a size
# probe the exact size; a file created and not yet closed has no
# attributes and is not published by looking; names under user.kvfs. that
# kvfs does not define are refused (ENOTSUP to set, ENODATA to get or
# remove); the mount root's stats and token cannot be removed; an
# over-long level value is EINVAL and changes nothing; a level value
# planted in ROOT behind kvfs's back that is no level is ignored (the
# inherited level applies); a failing backend read of the level fails the
# lookup instead of guessing a level (-o faults=, lib/docs/faults.md),
# also when it is the directory's that the name would inherit; and a
# level reaches files 70 directories down.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is missing"
command -v setfattr >/dev/null || skip "setfattr is missing (attr)"

RULES=$TEST_TMP/rules
mkdir -p "$ROOT/dir"
echo planted >"$ROOT/dir/planted"
setfattr -n user.kvfs.consistency -v eventual "$ROOT/dir" ||
	skip "ROOT's filesystem takes no user xattrs"
setfattr -n user.kvfs.consistency -v sometimes "$ROOT/dir/planted"
kvfs_mount "faults=$RULES"

python3 - "$MNT" "$ROOT" "$RULES" "$(dirname "$0")" <<'EOF' || fail "xattr edges (see above)"
import ctypes, errno, os, sys, time
sys.path.insert(0, sys.argv[4])
from fault_checks import *  # mnt, root, set_rules, check, fails, m...
libc = ctypes.CDLL(None, use_errno=True)

def read_text(path):
    with open(path) as f:
        return f.read()

def getxattr_raw(path, name, size):
    """getxattr(2) with a buffer of size bytes: (result, errno)."""
    buf = ctypes.create_string_buffer(max(size, 1))
    n = libc.getxattr(path.encode(), name.encode(), buf if size else None,
                      ctypes.c_size_t(size))
    return n, ctypes.get_errno() if n < 0 else 0

def listxattr_raw(path, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    n = libc.listxattr(path.encode(), buf if size else None,
                       ctypes.c_size_t(size))
    return n, ctypes.get_errno() if n < 0 else 0

with open(m("f"), "w") as f:
    f.write("v")
os.setxattr(m("f"), "user.colour", b"turquoise")

# A size probe gives the size; a buffer one byte short gets ERANGE.
n, err = getxattr_raw(m("f"), "user.colour", 0)
check("size probe: %d" % n, n == len("turquoise"))
n, err = getxattr_raw(m("f"), "user.colour", len("turquoise") - 1)
check("short buffer: %d %s" % (n, err), n == -1 and err == errno.ERANGE)
n, err = listxattr_raw(m("f"), 0)
check("list size probe: %d" % n, n == len(b"user.colour\0"))
n, err = listxattr_raw(m("f"), 3)
check("short list buffer: %d %s" % (n, err), n == -1 and err == errno.ERANGE)

# A file created and not closed yet: no attributes, and looking at them
# does not publish it; its close does.
fd = os.open(m("new"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
fails("getxattr of a file not yet closed",
      lambda: os.getxattr(m("new"), "user.colour"), errno.ENODATA)
check("no attributes listed", os.listxattr(m("new")) == [])
check("not published by looking", not os.path.exists(
    os.path.join(root, "new")))
os.close(fd)
check("published by its close", os.path.exists(os.path.join(root, "new")))

# Names under user.kvfs. that kvfs does not define.
fails("setting an unknown user.kvfs. name",
      lambda: os.setxattr(m("f"), "user.kvfs.colour", b"x"), errno.ENOTSUP)
fails("getting an unknown user.kvfs. name",
      lambda: os.getxattr(m("f"), "user.kvfs.colour"), errno.ENODATA)
fails("removing an unknown user.kvfs. name",
      lambda: os.removexattr(m("f"), "user.kvfs.colour"), errno.ENODATA)
fails("removing the mount's stats",
      lambda: os.removexattr(mnt, "user.kvfs.stats"), errno.EPERM)
fails("removing the mount's causal token",
      lambda: os.removexattr(mnt, "user.kvfs.causal-token"), errno.EPERM)
fails("removing the effective level",
      lambda: os.removexattr(m("f"), "user.kvfs.consistency.effective"),
      errno.EPERM)

# A level value longer than any level: EINVAL, nothing changes.
fails("an over-long level", lambda: os.setxattr(
    m("f"), "user.kvfs.consistency", b"eventual" * 10), errno.EINVAL)
fails("no level stored by it",
      lambda: os.getxattr(m("f"), "user.kvfs.consistency"), errno.ENODATA)

# A planted value that is no level is ignored: the directory's applies.
eff = os.getxattr(m("dir/planted"), "user.kvfs.consistency.effective")
check("planted invalid level ignored: %r" % eff, eff == b"eventual")

# The level of a name cannot be read: the lookup fails with the
# backend's error rather than guess a level; then it works.
with open(os.path.join(root, "fresh"), "w") as f:
    f.write("x")
set_rules("getxattr ETIMEDOUT 1 fresh\n")
fails("lookup whose level cannot be read", lambda: os.stat(m("fresh")),
      errno.ETIMEDOUT)
time.sleep(0.35) # a lookup right after a failed one answers the same
os.unlink(rules)
check("lookup works again", os.stat(m("fresh")).st_size == 1)

# A level set on a directory reaches a file 70 directories below it.
deep = m("deep")
os.makedirs(os.path.join(deep, *["d"] * 70))
leaf = os.path.join(deep, *["d"] * 70, "leaf")
with open(leaf, "w") as f:
    f.write("l")
os.setxattr(deep, "user.kvfs.consistency", b"causal")
eff = os.getxattr(leaf, "user.kvfs.consistency.effective")
check("level 70 directories down: %r" % eff, eff == b"causal")

# When the level of the directory a new name is looked up in cannot be
# read (after any level change, levels are read again), the lookup fails
# with the backend's error instead of guessing.
os.mkdir(m("lv"))
with open(os.path.join(root, "lv", "unseen"), "w") as f:
    f.write("u")
os.setxattr(m("dir"), "user.kvfs.consistency", b"strong")
set_rules("getxattr ENODATA 1 lv/unseen\ngetxattr ETIMEDOUT 1 lv\n")
fails("lookup below a directory whose level cannot be read",
      lambda: os.stat(m("lv/unseen")), errno.ETIMEDOUT)
time.sleep(0.35) # a lookup right after a failed one answers the same
os.unlink(rules)
check("the lookup works again", read_text(m("lv/unseen")) == "u")
finish()
EOF
kvfs_unmount || fail "daemon exited with status $?"
echo PASS
