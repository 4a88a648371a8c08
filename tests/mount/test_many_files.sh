#!/bin/bash
# A directory of 5,000 files, made in ROOT behind kvfs's back, through the
# mount: ls lists every name once, stat gives each its size, cat gives
# each its value, and it stays so after moving every file to another
# directory through the mount (the daemon's table of known files grows
# past its first size on the way). Then, mounted with plain readdir
# (-o readdirplus=no), a listing gives the files the kernel knows the
# inode numbers stat gives them, and the others distinct non-zero ones.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is missing"

N=5000
mkdir "$ROOT/many"
python3 - "$ROOT/many" "$N" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "f%05d" % i), "w") as f:
        f.write("v%d" % i)
EOF
kvfs_mount

python3 - "$MNT" "$N" <<'EOF' || fail "many files (see above)"
import os, sys

mnt, n = sys.argv[1], int(sys.argv[2])
want = ["f%05d" % i for i in range(n)]

def check_dir(d):
    names = sorted(os.listdir(d))
    if names != want:
        sys.exit("%s: %d names listed, %d expected" % (d, len(names), n))
    for i, name in enumerate(want):
        path = os.path.join(d, name)
        value = ("v%d" % i).encode()
        if os.stat(path).st_size != len(value):
            sys.exit("%s: size %d" % (path, os.stat(path).st_size))
        with open(path, "rb") as f:
            if f.read() != value:
                sys.exit("%s: wrong value" % path)

check_dir(os.path.join(mnt, "many"))
os.mkdir(os.path.join(mnt, "moved"))
for name in want:
    os.rename(os.path.join(mnt, "many", name), os.path.join(mnt, "moved", name))
if os.listdir(os.path.join(mnt, "many")):
    sys.exit("files left behind by the moves")
check_dir(os.path.join(mnt, "moved"))
EOF
[ "$(ls "$ROOT/moved" | wc -l)" = "$N" ] || fail "ROOT/moved does not hold $N files"
kvfs_unmount || fail "daemon exited with status $?"

kvfs_mount "readdirplus=no"
python3 - "$MNT/moved" "$N" <<'EOF' || fail "inode numbers in plain listings (see above)"
import os, sys

d, n = sys.argv[1], int(sys.argv[2])
# The kernel learns of every other file first; then one listing.
known = {"f%05d" % i: os.stat(os.path.join(d, "f%05d" % i)).st_ino
         for i in range(0, n, 2)}
listed = {e.name: e.inode() for e in os.scandir(d)}
if len(listed) != n:
    sys.exit("%d names listed, %d expected" % (len(listed), n))
wrong = [name for name in known if listed[name] != known[name]]
if wrong:
    sys.exit("%d listed inode numbers differ from stat's, e.g. %s" %
             (len(wrong), wrong[0]))
others = [listed[name] for name in listed if name not in known]
if 0 in others or len(set(others)) != len(others):
    sys.exit("files the kernel did not know: zero or repeated numbers")
EOF
kvfs_unmount || fail "daemon exited with status $? (readdirplus=no)"
echo PASS
