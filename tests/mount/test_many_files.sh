#!/bin/bash
# A directory of 5,000 files, made in ROOT behind kvfs's back, through the
# mount: ls lists every name once, stat gives each its size, cat gives
# each its value, and it stays so after moving every file to another
# directory through the mount (the daemon's table of known files grows
# past its first size on the way).
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
echo PASS
