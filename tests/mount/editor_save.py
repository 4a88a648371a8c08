#!/usr/bin/env python3
"""editor_save.py FILE N - save FILE N times the way editors do: write the
new text to a temporary file in the same directory, fsync it, give it the
old file's mode and user.* xattrs, rename it over FILE and fsync the
directory. After each save a descriptor opened before it still reads the
old text (rename replaced the name, not the file) and a new open reads the
new text. Prints what it checked; exit status 1 on the first mismatch."""
import os
import sys


def save(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, "." + os.path.basename(path) + ".tmp")
    st = os.stat(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text)
        os.fchmod(fd, st.st_mode & 0o7777)
        for name in os.listxattr(path):
            if name.startswith("user.") and not name.startswith("user.kvfs."):
                os.setxattr(fd, name, os.getxattr(path, name))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def main():
    path, count = sys.argv[1], int(sys.argv[2])
    for n in range(count):
        with open(path, "rb") as old:
            before = old.read()
            old.seek(0)
            text = ("version %d\n" % n).encode() * (n + 1)
            save(path, text)
            if old.read() != before:
                sys.exit("save %d: a descriptor opened before the save "
                         "no longer reads the old text" % n)
        with open(path, "rb") as new:
            if new.read() != text:
                sys.exit("save %d: the new text did not arrive" % n)
    st = os.stat(path)
    print("saves %d mode %o size %d" % (count, st.st_mode & 0o7777, st.st_size))
    print("xattrs " + " ".join(sorted(n for n in os.listxattr(path)
                                     if not n.startswith("user.kvfs."))))
    leftovers = [n for n in os.listdir(os.path.dirname(os.path.abspath(path)))
                 if n.endswith(".tmp")]
    if leftovers:
        sys.exit("temporary files left: %s" % leftovers)


if __name__ == "__main__":
    main()
