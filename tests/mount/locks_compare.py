#!/usr/bin/env python3
"""locks_compare.py MOUNT PLAIN - POSIX byte-range locks on the mount
against the kernel's own on a plain directory: for each pattern one
process takes and drops ranges (fcntl F_SETLK and lockf(3), adjacent,
overlapping, read beside write, unlocks in the middle, to EOF, negative
lockf lengths, near the largest offset), then another probes with
F_GETLK byte by byte and over the whole file. Results must be the same;
prints each difference and exits 1 when there is one.
"""
import fcntl
import json
import os
import struct
import sys

FLOCK = "hhqqi4x"  # struct flock on 64-bit Linux
W, R, U = fcntl.F_WRLCK, fcntl.F_RDLCK, fcntl.F_UNLCK
BIG = 1 << 62
MAXO = (1 << 63) - 1

# (op, start, length): W/R/U by F_SETLK; LX/LS/LU by lockf(3) from start.
PATTERNS = {
    "adjacent": [("W", 0, 10), ("W", 10, 10)],
    "overlapping": [("W", 0, 10), ("W", 5, 10)],
    "read beside write": [("R", 0, 10), ("W", 10, 10)],
    "unlock inside one": [("W", 0, 30), ("U", 10, 10)],
    "unlock across a join": [("W", 0, 10), ("W", 10, 10), ("U", 5, 10)],
    "unlock the first byte after a join": [("W", 0, 10), ("W", 10, 10), ("U", 10, 1)],
    "three out of order": [("W", 10, 10), ("W", 0, 10), ("W", 20, 10)],
    "write read write, then write over the read": [("W", 0, 10), ("R", 10, 10), ("W", 20, 10), ("W", 10, 10)],
    "two reads, a write across their join": [("R", 0, 10), ("R", 10, 10), ("W", 5, 10)],
    "read inside a write": [("W", 0, 30), ("R", 10, 10)],
    "read converted, read beside": [("R", 0, 10), ("W", 0, 10), ("R", 10, 10)],
    "to EOF, then before it": [("W", 10, 0), ("W", 0, 10)],
    "to EOF, unlock its tail": [("W", 0, 0), ("U", 20, 0)],
    "to EOF, unlock inside": [("W", 0, 0), ("U", 20, 5)],
    "a gap, then filled": [("W", 0, 10), ("W", 20, 10), ("W", 10, 10)],
    "a gap of one byte": [("W", 0, 10), ("W", 11, 10)],
    "far out": [("W", BIG, 10), ("W", BIG + 10, 10)],
    "below the largest offset": [("W", MAXO - 10, 10), ("W", MAXO - 20, 10)],
    "to EOF near the largest offset": [("W", MAXO - 10, 0), ("W", MAXO - 20, 10)],
    "the longest length": [("W", 5, MAXO - 5), ("W", 0, 5)],
    "lockf negative lengths": [("LX", 20, -10), ("LX", 10, -10)],
    "lockf 0 (to EOF)": [("LX", 5, 0), ("LX", 0, 5)],
    "lockf negative beside positive": [("LX", 20, -10), ("LX", 20, 10)],
    "lockf unlock negative": [("LX", 0, 30), ("LU", 20, -5)],
    "many small, unlock across three": [("W", i * 2, 2) for i in range(20)] + [("U", 9, 3)],
}
PROBES = list(range(45)) + [BIG - 1, BIG, BIG + 9, BIG + 10, BIG + 19, BIG + 20,
                            MAXO - 21, MAXO - 20, MAXO - 11, MAXO - 10, MAXO - 1]


def take(fd, op, start, length):
    try:
        if op in ("W", "R", "U"):
            fcntl.fcntl(fd, fcntl.F_SETLK, struct.pack(
                FLOCK, {"W": W, "R": R, "U": U}[op], os.SEEK_SET, start, length, 0))
        else:
            cmd = {"LX": fcntl.LOCK_EX | fcntl.LOCK_NB,
                   "LS": fcntl.LOCK_SH | fcntl.LOCK_NB, "LU": fcntl.LOCK_UN}[op]
            fcntl.lockf(fd, cmd, length, start, os.SEEK_SET)
        return "ok"
    except OSError as e:
        return e.errno


def probe(fd, ltype, start, length):
    got = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack(FLOCK, ltype, os.SEEK_SET, start, length, 0))
    t, _, s, n, _ = struct.unpack(FLOCK, got)
    return [t] if t == U else [t, s, n]


def run(path, ops):
    """What the holder's calls returned and what another process sees."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    done_r, done_w = os.pipe()
    end_r, end_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        results = [take(fd, *op) for op in ops]
        os.write(done_w, (json.dumps(results) + "\n").encode())
        os.read(end_r, 1)
        os._exit(0)
    os.close(done_w)
    results = json.loads(os.fdopen(done_r).readline())
    fd2 = os.open(path, os.O_RDWR)
    seen = [(x, t, probe(fd2, t, x, 1)) for x in PROBES for t in (W, R)]
    seen.append(("whole file", W, probe(fd2, W, 0, 0)))
    os.close(fd2)
    os.write(end_w, b"x")
    os.waitpid(pid, 0)
    os.close(fd)
    os.unlink(path)
    return results, seen


def main():
    mount, plain = sys.argv[1], sys.argv[2]
    differences = 0
    for i, (name, ops) in enumerate(PATTERNS.items()):
        got_r, got = run(os.path.join(mount, "lk%d" % i), ops)
        want_r, want = run(os.path.join(plain, "lk%d" % i), ops)
        if got_r != want_r:
            differences += 1
            print("FAIL %s: calls returned %s, on a plain directory %s" % (name, got_r, want_r))
        for g, w in zip(got, want):
            if g != w:
                differences += 1
                print("FAIL %s: F_GETLK %s type %d gives %s, on a plain directory %s" %
                      (name, g[0], g[1], g[2], w[2]))
    print("%d lock patterns, %d differences from a plain directory" % (len(PATTERNS), differences))
    sys.exit(1 if differences else 0)


main()
