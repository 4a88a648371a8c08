#!/usr/bin/env python3
"""locks_check.py DIR - flock(2) and POSIX locks on a mount, as programs
use them: each lock is held by another process (a forked holder) and
tried by this one. Prints one line per check and exits 1 when any failed.
"""
import errno
import fcntl
import os
import signal
import struct
import sys
import time

DIR = sys.argv[1]
failed = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + (": " + detail if detail and not ok else ""))
    if not ok:
        failed.append(name)


def path(name):
    return os.path.join(DIR, name)


def write(name, data=b"some bytes\n"):
    with open(path(name), "wb") as f:
        f.write(data)


class Holder:
    """A child process that opens NAME with FLAGS, reads it whole (a
    page-cache reader when read-only), runs take(fd) and holds what it
    took until release()."""

    def __init__(self, name, flags, take):
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(r1)
            os.close(w2)
            try:
                fd = os.open(path(name), flags)
                while os.read(fd, 65536):
                    pass
                take(fd)
                os.write(w1, b"y")
            except OSError as e:
                os.write(w1, ("n" + errno.errorcode.get(e.errno, str(e.errno))).encode())
            os.read(r2, 1)
            os._exit(0)
        os.close(w1)
        os.close(r2)
        self.release_fd = w2
        reply = os.read(r1, 64).decode()
        os.close(r1)
        if reply != "y":
            raise RuntimeError("holder could not take its lock: " + reply[1:])

    def release(self):
        os.write(self.release_fd, b"x")
        os.close(self.release_fd)
        os.waitpid(self.pid, 0)


def try_lock(fd, fn):
    """Run fn(fd); the errno name it failed with, or 'granted'."""
    try:
        fn(fd)
        return "granted"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def ex_nb(fd):
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def lockf_ex_nb(length=0, start=0):
    return lambda fd: fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, length, start)


BUSY = ("EAGAIN", "EWOULDBLOCK", "EACCES")

# 1. flock(1) style: the holder locks through a read-only descriptor of a
# file read through the page cache; a writer opening it read-write (which
# may give the name a new node) must still be excluded.
write("f")
h = Holder("f", os.O_RDONLY, lambda fd: fcntl.flock(fd, fcntl.LOCK_EX))
fd = os.open(path("f"), os.O_RDWR)
os.write(fd, b"new ")
got = try_lock(fd, ex_nb)
check("flock LOCK_EX|LOCK_NB (O_RDWR) against LOCK_EX (O_RDONLY reader)",
      got in BUSY, got)
os.close(fd)
h.release()
fd = os.open(path("f"), os.O_RDWR)
got = try_lock(fd, ex_nb)
check("flock granted once the holder closed", got == "granted", got)
os.close(fd)

# 2. POSIX: a read lock through a reader, a write lock through a writer.
write("p")
h = Holder("p", os.O_RDONLY, lambda fd: fcntl.lockf(fd, fcntl.LOCK_SH))
fd = os.open(path("p"), os.O_RDWR)
got = try_lock(fd, lockf_ex_nb())
check("F_SETLK F_WRLCK (O_RDWR) against F_RDLCK (O_RDONLY reader)",
      got in BUSY, got)
flk = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
res = fcntl.fcntl(fd, fcntl.F_GETLK, flk)
ltype, _, _, _, lpid = struct.unpack("hhqqi", res)
check("F_GETLK names the holder's read lock and pid",
      ltype == fcntl.F_RDLCK and lpid == h.pid,
      "type %d pid %d, holder %d" % (ltype, lpid, h.pid))
got = try_lock(fd, lambda fd: fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB))
check("a second read lock shares", got == "granted", got)
fcntl.lockf(fd, fcntl.LOCK_UN)
os.close(fd)
h.release()

# 3. POSIX locks go at any close of the file by their process.
write("c")


def lock_then_close_other(fd):
    other = os.open(path("c"), os.O_RDONLY)
    fcntl.lockf(fd, fcntl.LOCK_EX)
    os.close(other)


h = Holder("c", os.O_RDWR, lock_then_close_other)
fd = os.open(path("c"), os.O_RDWR)
got = try_lock(fd, lockf_ex_nb())
check("a POSIX lock goes when its process closes another descriptor",
      got == "granted", got)
os.close(fd)
h.release()

# 4. Waiting: LOCK_EX without LOCK_NB gets the lock once it is released,
# and a signal interrupts the wait (EINTR).
write("w")
h = Holder("w", os.O_RDONLY, lambda fd: fcntl.flock(fd, fcntl.LOCK_EX))
pid = os.fork()
if pid == 0:
    fd = os.open(path("w"), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os._exit(0)
time.sleep(0.3)
done, status = os.waitpid(pid, os.WNOHANG)
check("a blocking flock waits while the lock is held", done == 0)
h.release()
deadline = time.time() + 10
while done == 0 and time.time() < deadline:
    time.sleep(0.02)
    done, status = os.waitpid(pid, os.WNOHANG)
check("the waiter gets the lock once it is released",
      done == pid and os.waitstatus_to_exitcode(status) == 0)
if done == 0:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


class Alarm(Exception):
    pass


def on_alarm(signum, frame):
    raise Alarm()


h = Holder("w", os.O_RDONLY, lambda fd: fcntl.lockf(fd, fcntl.LOCK_SH))
fd = os.open(path("w"), os.O_RDWR)
signal.signal(signal.SIGALRM, on_alarm)
start = time.time()
signal.setitimer(signal.ITIMER_REAL, 0.3)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX)
    got = "granted"
except Alarm:
    got = "interrupted"
signal.setitimer(signal.ITIMER_REAL, 0)
check("a signal interrupts F_SETLKW", got == "interrupted" and time.time() - start < 5,
      "%s after %.1f s" % (got, time.time() - start))
os.close(fd)
h.release()

# 5. A lock follows its file through a rename; the name's next file is
# another file.
write("a")
h = Holder("a", os.O_RDONLY, lambda fd: fcntl.flock(fd, fcntl.LOCK_EX))
os.rename(path("a"), path("b"))
fd = os.open(path("b"), os.O_RDWR)
got = try_lock(fd, ex_nb)
check("the lock follows its file through mv", got in BUSY, got)
os.close(fd)
write("a")
fd = os.open(path("a"), os.O_RDWR)
got = try_lock(fd, ex_nb)
check("a new file under the old name is not locked", got == "granted", got)
os.close(fd)
h.release()

# 6. Removed, then created again: another file.
write("u")
h = Holder("u", os.O_RDONLY, lambda fd: fcntl.flock(fd, fcntl.LOCK_EX))
os.unlink(path("u"))
write("u")
fd = os.open(path("u"), os.O_RDWR)
got = try_lock(fd, ex_nb)
check("a file created where a locked one was removed is not locked",
      got == "granted", got)
os.close(fd)
h.release()

# 7. Byte ranges, and an unlock in the middle of one.
write("r", b"x" * 200)


def range_then_hole(fd):
    fcntl.lockf(fd, fcntl.LOCK_EX, 100, 0)
    fcntl.lockf(fd, fcntl.LOCK_UN, 20, 40)


h = Holder("r", os.O_RDWR, range_then_hole)
fd = os.open(path("r"), os.O_RDWR)
for start, length, want in ((100, 10, True), (45, 10, True), (30, 5, False),
                            (70, 5, False), (55, 10, False)):
    got = try_lock(fd, lockf_ex_nb(length, start))
    check("bytes %d-%d of a lock on 0-99 less 40-59: %s" %
          (start, start + length - 1, "free" if want else "held"),
          (got == "granted") == want and (want or got in BUSY), got)
    if got == "granted":
        fcntl.lockf(fd, fcntl.LOCK_UN, length, start)
os.close(fd)
h.release()

# 8. Touching ranges of one owner and type merge: F_GETLK shows the whole.
write("n", b"x" * 100)


def two_halves(fd):
    fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)
    fcntl.lockf(fd, fcntl.LOCK_EX, 10, 10)


h = Holder("n", os.O_RDWR, two_halves)
fd = os.open(path("n"), os.O_RDWR)
flk = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 100, 0)
ltype, _, lstart, llen, lpid = struct.unpack(
    "hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, flk))
check("F_GETLK after locking bytes 0-9 and 10-19 reports 0-19",
      ltype == fcntl.F_WRLCK and lstart == 0 and llen == 20,
      "type %d start %d len %d" % (ltype, lstart, llen))
os.close(fd)
h.release()

# 8b. Touching ranges of other types do not merge, and F_GETLK over them
# reports the one that starts first (as Linux), so that walking a file's
# locks from offset 0 meets each.
def read_then_write(fd):
    fcntl.lockf(fd, fcntl.LOCK_SH, 10, 0)
    fcntl.lockf(fd, fcntl.LOCK_EX, 10, 10)
    fcntl.lockf(fd, fcntl.LOCK_EX, 10, 30)


h = Holder("n", os.O_RDWR, read_then_write)
fd = os.open(path("n"), os.O_RDWR)
seen = []
start = 0
while len(seen) < 5:
    flk = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, start, 0, 0)
    ltype, _, lstart, llen, lpid = struct.unpack(
        "hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, flk))
    if ltype == fcntl.F_UNLCK:
        break
    seen.append((ltype, lstart, llen))
    start = lstart + llen
check("F_GETLK from each lock's end over read 0-9, write 10-19, write 30-39",
      seen == [(fcntl.F_RDLCK, 0, 10), (fcntl.F_WRLCK, 10, 10),
               (fcntl.F_WRLCK, 30, 10)], repr(seen))
os.close(fd)
h.release()

# 9. flock and POSIX locks do not see each other (Linux).
write("m")
h = Holder("m", os.O_RDONLY, lambda fd: fcntl.flock(fd, fcntl.LOCK_EX))
fd = os.open(path("m"), os.O_RDWR)
got = try_lock(fd, lockf_ex_nb())
check("a POSIX lock beside a flock lock", got == "granted", got)
os.close(fd)
h.release()

sys.exit(1 if failed else 0)
