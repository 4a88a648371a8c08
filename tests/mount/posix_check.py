#!/usr/bin/env python3
"""posix_check.py - POSIX details of a kvfs mount, checked with the system
calls programs make (tests/mount/test_posix.sh on the local backend,
tests/etcd/cluster/test_posix.sh on etcd):

  - open(O_CREAT, 0000) and mkdir(0000) give mode 0000, before and after
    the first publish;
  - a directory's link count is 2 plus its subdirectories (local) or 1,
    "unknown" to find(1) (etcd), never 2 for a directory that has some;
  - atime is set by utimensat (touch -a) and not moved by reads; ctime
    moves to now on every change (touch -d, chmod, setfattr, a write, a
    rename) and never backwards;
  - times past 2038 (2^31 and 2^32 seconds) keep their nanoseconds;
  - a sparse value takes the blocks of its data, and lseek SEEK_DATA /
    SEEK_HOLE find its holes (local), or see all of it as data (etcd);
  - statfs keeps free and available blocks apart, as the root's
    filesystem does (local);
  - O_RDONLY | O_TRUNC empties the file, as Linux does;
  - a directory rename that would make a key below it longer than 4096
    bytes fails with ENAMETOOLONG and changes nothing.

Usage: posix_check.py MNT ROOT|- local|etcd. Prints one line per failure
and exits 1 if there was any.
"""
import errno
import os
import subprocess
import sys
import time

MNT, ROOT, BACKEND = sys.argv[1], sys.argv[2], sys.argv[3]
LOCAL = BACKEND == "local"
failures = []


def fail(what):
    print("FAIL: " + what, flush=True)
    failures.append(what)


def p(*names):
    return os.path.join(MNT, *names)


def mode_of(path):
    return os.stat(path).st_mode & 0o7777


def check_mode_0000():
    os.umask(0)
    fd = os.open(p("m0"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0)
    if os.fstat(fd).st_mode & 0o7777:
        fail("open(O_CREAT, 0000): fstat mode %o" % (os.fstat(fd).st_mode & 0o7777))
    if mode_of(p("m0")):
        fail("open(O_CREAT, 0000): stat before the publish %o" % mode_of(p("m0")))
    os.write(fd, b"data")
    os.close(fd)
    if mode_of(p("m0")):
        fail("open(O_CREAT, 0000): stat after close %o" % mode_of(p("m0")))
    fd = os.open(p("m0e"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0)
    os.close(fd)
    if mode_of(p("m0e")):
        fail("empty file created with 0000: mode %o" % mode_of(p("m0e")))
    if LOCAL and os.stat(os.path.join(ROOT, "m0")).st_mode & 0o7777:
        fail("mode 0000 did not reach the root")
    os.mkdir(p("d0"), 0)
    if mode_of(p("d0")):
        fail("mkdir(0000): mode %o" % mode_of(p("d0")))
    os.chmod(p("d0"), 0o755)
    os.umask(0o022)


def check_nlink():
    os.makedirs(p("nl", "s1"))
    os.mkdir(p("nl", "s2"))
    with open(p("nl", "f"), "w") as f:
        f.write("x")
    want = 4 if LOCAL else 1
    got = os.stat(p("nl")).st_nlink
    if got != want:
        fail("directory with 2 subdirectories: st_nlink %d, want %d" % (got, want))
    os.rmdir(p("nl", "s2"))
    got = os.stat(p("nl")).st_nlink
    if got != (3 if LOCAL else 1):
        fail("after rmdir: st_nlink %d" % got)
    if os.stat(p("nl", "s1")).st_nlink != 2 and LOCAL:
        fail("leaf directory: st_nlink %d, want 2" % os.stat(p("nl", "s1")).st_nlink)
    found = subprocess.run(["find", p("nl"), "-type", "d"], capture_output=True,
                           text=True, check=True).stdout.split()
    if sorted(found) != sorted([p("nl"), p("nl", "s1")]):
        fail("find -type d: %s" % found)


def touch(*args):
    subprocess.run(["touch"] + list(args), check=True)


def settle():
    time.sleep(0.02)  # so that "now" differs from the last change


def check_ctime_moves(path, what, change):
    before = os.stat(path).st_ctime_ns
    settle()
    t0 = time.time_ns()
    change()
    st = os.stat(path)
    # Filesystems stamp changes with the coarse clock: a few ms behind.
    if st.st_ctime_ns < t0 - 10**7 or st.st_ctime_ns <= before:
        fail("%s: ctime %d did not move to now (was %d, change began %d)"
             % (what, st.st_ctime_ns, before, t0))
    if st.st_ctime_ns > time.time_ns():
        fail("%s: ctime in the future" % what)


def check_times():
    f = p("t")
    with open(f, "w") as fh:
        fh.write("hello\n")
    mtime = os.stat(f).st_mtime_ns
    # touch -a sets the atime alone.
    touch("-a", "-d", "@1000000000.25", f)
    st = os.stat(f)
    if st.st_atime_ns != 1000000000250000000:
        fail("touch -a: atime %d, want 1000000000250000000" % st.st_atime_ns)
    if st.st_mtime_ns != mtime:
        fail("touch -a moved the mtime")
    # touch -m keeps the atime.
    touch("-m", "-d", "@1100000000", f)
    st = os.stat(f)
    if st.st_atime_ns != 1000000000250000000 or st.st_mtime_ns != 1100000000 * 10**9:
        fail("touch -m: atime %d mtime %d" % (st.st_atime_ns, st.st_mtime_ns))
    # Reads do not move it (noatime).
    with open(f) as fh:
        fh.read()
    if os.stat(f).st_atime_ns != 1000000000250000000:
        fail("a read moved the atime")
    # ctime: to now on every change, never backwards.
    check_ctime_moves(f, "touch -d 2001", lambda: touch("-d", "2001-02-03", f))
    if os.stat(f).st_ctime_ns == os.stat(f).st_mtime_ns:
        fail("ctime equals the mtime that touch -d set")
    check_ctime_moves(f, "chmod", lambda: os.chmod(f, 0o600))
    check_ctime_moves(f, "setfattr",
                      lambda: os.setxattr(f, "user.posix", b"v"))

    def append():
        with open(f, "a") as fh:
            fh.write("more\n")
    atime = os.stat(f).st_atime_ns  # touch -d set it
    check_ctime_moves(f, "a write", append)
    if os.stat(f).st_atime_ns != atime:
        fail("a write moved the atime from %d to %d"
             % (atime, os.stat(f).st_atime_ns))

    def rename():
        os.rename(f, p("t2"))
        os.rename(p("t2"), f)
    check_ctime_moves(f, "rename", rename)
    # A new file's atime and ctime are its mtime's moment, not 1970.
    g = p("fresh")
    t0 = time.time_ns()
    with open(g, "w") as fh:
        fh.write("x")
    st = os.stat(g)
    for name, v in (("atime", st.st_atime_ns), ("ctime", st.st_ctime_ns)):
        if v < t0 - 2 * 10**9:
            fail("new file: %s %d before its creation" % (name, v))


def check_y2038():
    f = p("y2038")
    with open(f, "w") as fh:
        fh.write("x")
    for stamp, ns in (("@2147483648.123456789", 2147483648123456789),
                      ("@4294967296.5", 4294967296500000000)):
        touch("-d", stamp, f)
        st = os.stat(f)
        if st.st_mtime_ns != ns or st.st_atime_ns != ns:
            fail("touch -d %s: mtime %d atime %d" % (stamp, st.st_mtime_ns,
                                                      st.st_atime_ns))


def check_sparse_local():
    f = p("sparse")
    fd = os.open(f, os.O_CREAT | os.O_WRONLY, 0o644)
    os.ftruncate(fd, 1 << 30)
    os.pwrite(fd, b"x" * 4096, 512 << 20)
    os.close(fd)
    st = os.stat(f)
    if st.st_size != 1 << 30:
        fail("sparse value: size %d" % st.st_size)
    if st.st_blocks * 512 > 1 << 20:
        fail("sparse 1 GiB value with 4 KiB of data: du says %d KiB"
             % (st.st_blocks // 2))
    du = subprocess.run(["du", "-k", f], capture_output=True, text=True,
                        check=True).stdout.split()[0]
    if int(du) > 1024:
        fail("du -k of the sparse value: %s" % du)
    fd = os.open(f, os.O_RDONLY)
    try:
        data = os.lseek(fd, 0, os.SEEK_DATA)
        if data != 512 << 20:
            fail("SEEK_DATA from 0: %d, want %d" % (data, 512 << 20))
        hole = os.lseek(fd, 512 << 20, os.SEEK_HOLE)
        if not (512 << 20) < hole < (1 << 30):
            fail("SEEK_HOLE from the data: %d" % hole)
        try:
            os.lseek(fd, (512 << 20) + (1 << 20), os.SEEK_DATA)
            fail("SEEK_DATA in the trailing hole did not fail with ENXIO")
        except OSError as e:
            if e.errno != errno.ENXIO:
                fail("SEEK_DATA in the trailing hole: %s" % e)
    finally:
        os.close(fd)
    # An open writer's unpublished value has its holes too.
    fd = os.open(f, os.O_RDWR)
    try:
        os.pwrite(fd, b"y", 256 << 20)
        data = os.lseek(fd, 0, os.SEEK_DATA)
        if data != 256 << 20:
            fail("SEEK_DATA of an open writer: %d, want %d" % (data, 256 << 20))
    finally:
        os.close(fd)
    os.unlink(f)


def check_seek_whole():
    f = p("whole")
    with open(f, "wb") as fh:
        fh.write(b"0123456789")
    fd = os.open(f, os.O_RDONLY)
    try:
        if os.lseek(fd, 3, os.SEEK_DATA) != 3 or os.lseek(fd, 3, os.SEEK_HOLE) != 10:
            fail("SEEK_DATA/SEEK_HOLE of a value without holes")
        try:
            os.lseek(fd, 10, os.SEEK_DATA)
            fail("SEEK_DATA at the end did not fail with ENXIO")
        except OSError as e:
            if e.errno != errno.ENXIO:
                fail("SEEK_DATA at the end: %s" % e)
    finally:
        os.close(fd)


def check_statfs_local():
    for _ in range(5):  # others may write the root's filesystem meanwhile
        m, r = os.statvfs(MNT), os.statvfs(ROOT)
        scale = r.f_frsize / m.f_frsize
        gap_m = (m.f_bfree - m.f_bavail)
        gap_r = (r.f_bfree - r.f_bavail) * scale
        if abs(gap_m - gap_r) <= 256 and abs(m.f_bfree - r.f_bfree * scale) <= 4096:
            return
        time.sleep(0.1)
    fail("statfs: bfree %d bavail %d through the mount, %d %d for the root"
         % (m.f_bfree, m.f_bavail, r.f_bfree, r.f_bavail))


def check_rdonly_trunc():
    f = p("rt")
    with open(f, "w") as fh:
        fh.write("hello\n")
    fd = os.open(f, os.O_RDONLY | os.O_TRUNC)
    got = os.read(fd, 100)
    os.close(fd)
    if got != b"":
        fail("O_RDONLY|O_TRUNC: read %r" % got)
    if os.stat(f).st_size != 0:
        fail("O_RDONLY|O_TRUNC: size %d after close" % os.stat(f).st_size)
    with open(f, "rb") as fh:
        if fh.read() != b"":
            fail("O_RDONLY|O_TRUNC: a later open reads the old value")
    if LOCAL and os.stat(os.path.join(ROOT, "rt")).st_size != 0:
        fail("O_RDONLY|O_TRUNC did not reach the root")


def check_rename_depth():
    # d/ and 15 levels of 250-byte names, a 250-byte file at the bottom:
    # its key is 1 + 15 * 251 + 251 = 4017 bytes. Each call names one
    # component relative to a directory descriptor, as the kernel's
    # PATH_MAX counts the mount point too.
    level = "n" * 250
    leaf = "f" * 250
    os.mkdir(p("d"))
    fd = os.open(p("d"), os.O_RDONLY | os.O_DIRECTORY)
    fds = [fd]
    for _ in range(15):
        os.mkdir(level, dir_fd=fds[-1])
        fds.append(os.open(level, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
    lf = os.open(leaf, os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fds[-1])
    os.write(lf, b"deep")
    os.close(lf)
    for d in fds:
        os.close(d)

    def leaf_reads(top):
        d = os.open(p(top), os.O_RDONLY | os.O_DIRECTORY)
        try:
            for _ in range(15):
                n = os.open(level, os.O_RDONLY | os.O_DIRECTORY, dir_fd=d)
                os.close(d)
                d = n
            lf = os.open(leaf, os.O_RDONLY, dir_fd=d)
            data = os.read(lf, 10)
            os.close(lf)
            return data
        finally:
            os.close(d)

    # d -> 100 bytes: the leaf's key would be 4116 bytes.
    try:
        os.rename(p("d"), p("D" * 100))
        fail("a rename making a key 4116 bytes long succeeded")
    except OSError as e:
        if e.errno != errno.ENAMETOOLONG:
            fail("a rename making a key too long: %s, want ENAMETOOLONG" % e)
    if os.path.exists(p("D" * 100)) or leaf_reads("d") != b"deep":
        fail("the refused rename changed something")
    # d -> 50 bytes: 4066 bytes, within the limit.
    os.rename(p("d"), p("E" * 50))
    if leaf_reads("E" * 50) != b"deep":
        fail("the leaf is not readable after a rename within the limit")
    subprocess.run(["rm", "-rf", p("E" * 50)], check=True)
    if os.path.exists(p("E" * 50)):
        fail("rm -rf of the deep tree")


def main():
    check_mode_0000()
    check_nlink()
    check_times()
    check_y2038()
    check_rdonly_trunc()
    check_seek_whole()
    if LOCAL:
        check_sparse_local()
        check_statfs_local()
    check_rename_depth()
    if failures:
        sys.exit(1)
    print("posix checks passed")


main()
