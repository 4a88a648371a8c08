#!/usr/bin/env python3
"""workload_mmap.py FILE... - map each FILE shared read-only and private
(MAP_PRIVATE, written to: the file must not change), then map shared and
writable a file this program creates (created.bin) and each FILE opened
O_RDWR. Prints one line per case, "ok" or the errno name; exit status 1
if any case fails."""
import errno
import mmap
import os
import sys


def shared_read(path):
    with open(path, "rb") as f:
        want = f.read()
        with mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ) as m:
            return m[:] == want


def private_write(path):
    with open(path, "rb") as f:
        want = f.read()
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) as m:
            m[0:7] = b"PRIVATE"
            if m[0:7] != b"PRIVATE" or m[7:] != want[7:]:
                return False
    with open(path, "rb") as f:
        return f.read() == want


def shared_write(path, create):
    flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
    fd = os.open(path, flags, 0o644)
    try:
        if create:
            os.ftruncate(fd, 3 * 4096)
        size = os.fstat(fd).st_size
        with mmap.mmap(fd, size, mmap.MAP_SHARED,
                       mmap.PROT_READ | mmap.PROT_WRITE) as m:
            m[0:6] = b"SHARED"
            m[size - 4:size] = b"TAIL"
            m.flush()
            want = m[:]
    finally:
        os.close(fd)
    with open(path, "rb") as f:
        return f.read() == want


def case(name, fn):
    try:
        ok = fn()
        print("%s: %s" % (name, "ok" if ok else "wrong contents"))
        return ok
    except OSError as e:
        print("%s: %s" % (name, errno.errorcode.get(e.errno, str(e.errno))))
        return False


def main():
    good = True
    for path in sys.argv[1:]:
        good &= case("shared read-only " + path, lambda: shared_read(path))
        good &= case("private " + path, lambda: private_write(path))
    good &= case("shared writable, created", lambda: shared_write("created.bin", True))
    for path in sys.argv[1:]:
        good &= case("shared writable " + path, lambda: shared_write(path, False))
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
