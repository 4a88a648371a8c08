"""fault_checks.py - what the mount tests that drive the fault layer
(-o faults=RULES, lib/docs/faults.md) from Python share: the rules file,
checks that collect failures, and paths on the mount and in the root.

    python3 - "$MNT" "$ROOT" "$RULES" "$(dirname "$0")" <<'EOF'
    import sys; sys.path.insert(0, sys.argv[4])
    from fault_checks import *
    ...
    finish()
"""
import errno
import os
import sys

mnt, root, rules = sys.argv[1:4]
failures = []


def set_rules(text):
    """Replace the rules whole (the daemon rereads the file when it
    changes; a rename never shows it half written)."""
    with open(rules + ".new", "w") as f:
        f.write(text)
    os.rename(rules + ".new", rules)


def check(what, ok):
    if not ok:
        failures.append(what)
        print("FAIL:", what)


def fails(what, call, err):
    """call() fails with err; what it fails with otherwise is reported."""
    try:
        call()
    except OSError as e:
        check("%s: errno %s, expected %s" % (what, errno.errorcode.get(
            e.errno, e.errno), errno.errorcode[err]), e.errno == err)
        return
    check("%s succeeded, expected %s" % (what, errno.errorcode[err]), False)


def m(name):
    """name on the mount"""
    return os.path.join(mnt, name)


def r(name):
    """name in the root underneath"""
    return os.path.join(root, name)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def finish():
    sys.exit(1 if failures else 0)
