#!/bin/bash
# One write, one value: every usual way of writing a file from a shell or
# a script truncates it and then writes, and must publish exactly one new
# value. While each idiom rewrites the key k over and over, one reader
# loop on the mount and one on ROOT/k (the stored file underneath) count
# every read that is not the whole value: none may be empty or different.
# A command that only truncates (`: > f`, `truncate -s 0`) still empties
# the file at once, and a new file (echo >, cp -p, install -m, cp -a)
# never appears empty in ROOT.
. "$(dirname "$0")/../mount/lib.sh"
. "$(dirname "$0")/faults.sh"
command -v python3 >/dev/null || skip "python3 is missing"
command -v dash >/dev/null || skip "dash is missing"

faults_mount
K=$MNT/k
EXPECT=$TEST_TMP/expect
printf 'hello-world\n' >"$EXPECT"
cp "$EXPECT" "$K"
total_bad=0
summary=

# idiom NAME CMD...: run CMD (which rewrites $K with the expected value a
# number of times) while both readers count; fail later if any read was bad.
idiom() {
	local name=$1 start end rc=0 m r bad bm br
	shift
	rm -f "$TEST_TMP/stop"
	timeout -k 5 40 "$STRESS" watch "$K" "$EXPECT" "$TEST_TMP/stop" 30 \
		>"$TEST_TMP/mnt.log" 2>&1 &
	local pm=$!
	timeout -k 5 40 "$STRESS" watch "$ROOT/k" "$EXPECT" "$TEST_TMP/stop" 30 \
		>"$TEST_TMP/root.log" 2>&1 &
	local pr=$!
	EXTRA_PIDS="$pm $pr"
	start=$(date +%s%N)
	timeout -k 5 20 "$@" || rc=$?
	end=$(date +%s%N)
	touch "$TEST_TMP/stop"
	wait "$pm" "$pr" || true
	EXTRA_PIDS=
	[ $rc = 0 ] || fail "$name: the writing command failed (status $rc)"
	m=$(grep '^watch' "$TEST_TMP/mnt.log") || fail "$name: mount reader: $(cat "$TEST_TMP/mnt.log")"
	r=$(grep '^watch' "$TEST_TMP/root.log") || fail "$name: root reader: $(cat "$TEST_TMP/root.log")"
	bm=$(($(figure "$m" empty) + $(figure "$m" other) + $(figure "$m" errors)))
	br=$(($(figure "$r" empty) + $(figure "$r" other) + $(figure "$r" errors)))
	bad=$((bm + br))
	printf '%-22s %5d ms  mount: %s\n%-22s %8s  root:  %s\n' "$name" \
		$(((end - start) / 1000000)) "${m#watch * }" "" "" "${r#watch * }"
	[ "$(cat "$K")" = hello-world ] || fail "$name: the value afterwards"
	[ "$(figure "$m" whole)" -gt 0 ] || fail "$name: the mount reader never read the value"
	summary+="$name: mount $bm bad of $(figure "$m" reads) reads, ROOT $br bad of $(figure "$r" reads) ($((bad * 60000000000 / (end - start))) bad reads a minute)"$'\n'
	total_bad=$((total_bad + bad))
}

N=400 # rewrites by shell built-ins and by Python
X=150 # rewrites that start a program each time
idiom "bash echo >" bash -c \
	'for ((i = 0; i < $1; i++)); do echo hello-world >"$2"; done' bash $N "$K"
idiom "dash echo >" dash -c \
	'i=0; while [ $i -lt "$1" ]; do echo hello-world >"$2"; i=$((i + 1)); done' \
	dash $N "$K"
if command -v zsh >/dev/null; then
	idiom "zsh echo >" zsh -c \
		'for ((i = 0; i < $1; i++)); do echo hello-world >"$2"; done' zsh $N "$K"
else
	echo "zsh echo >: skipped, zsh is not installed"
	summary+="zsh echo >: skipped (zsh is not installed)"$'\n'
fi
idiom "/bin/echo >" bash -c \
	'for ((i = 0; i < $1; i++)); do /bin/echo hello-world >"$2"; done' bash $X "$K"
idiom "| tee" bash -c \
	'for ((i = 0; i < $1; i++)); do echo hello-world | tee "$2" >/dev/null; done' \
	bash $X "$K"
idiom "python open().write()" python3 -c '
import sys
for i in range(int(sys.argv[1])):
    open(sys.argv[2], "w").write("hello-world\n")
' $N "$K"
idiom "cp" bash -c \
	'for ((i = 0; i < $1; i++)); do cp "$3" "$2"; done' bash $X "$K" "$EXPECT"
idiom "dd" bash -c \
	'for ((i = 0; i < $1; i++)); do dd if="$3" of="$2" status=none; done' \
	bash $X "$K" "$EXPECT"

# Truncating alone publishes the empty value when the command's last
# descriptor of the file closes: seen on the mount and in the store
# underneath when the command returns.
trunc_bad=0
for how in colon truncate; do
	echo hello-world >"$MNT/t"
	[ "$(stat -c %s "$MNT/t")" = 12 ] || fail "size before truncating"
	case $how in
	colon) : >"$MNT/t" ;;
	truncate) truncate -s 0 "$MNT/t" ;;
	esac
	# The store first: nothing on the mount may have published it.
	stored=$(stat -c %s "$ROOT/t")
	size=$(stat -c %s "$MNT/t")
	content=$(wc -c <"$MNT/t")
	if [ "$size" != 0 ] || [ "$content" != 0 ]; then
		echo "$how: the mount shows $size bytes (reads $content) right after"
		trunc_bad=$((trunc_bad + 1))
	elif [ "$stored" != 0 ]; then
		echo "$how: the store still held $stored bytes when it returned"
		trunc_bad=$((trunc_bad + 1))
	else
		echo "$how: empty on the mount at once and in the store"
	fi
done
# A program whose own last descriptor closes publishes, even while a child
# it forked still holds the open file (the kernel's release waits for the
# child): an O_TRUNC open of an existing file, and a new file.
echo hello-world >"$MNT/t"
if ! python3 - "$MNT" "$ROOT" <<'EOF'; then
import os, sys, time
mnt, root = sys.argv[1:]
for name, flags in (("t", os.O_WRONLY | os.O_TRUNC),
                    ("made", os.O_WRONLY | os.O_CREAT)):
    fd = os.open(os.path.join(mnt, name), flags, 0o644)
    child = os.fork()
    if child == 0:
        time.sleep(2)
        os._exit(0)
    os.close(fd)
    try:
        size = os.stat(os.path.join(root, name)).st_size
    except FileNotFoundError:
        sys.exit(f"{name}: not in the store when close returned")
    if size != 0:
        sys.exit(f"{name}: {size} bytes in the store when close returned")
    os.waitpid(child, 0)
EOF
	echo "a closed truncation or new file was not published at close"
	trunc_bad=$((trunc_bad + 1))
fi

# A truncation whose descriptor a child inherited is not published when
# the child closes it (at exec or exit): the opener writes next. Inside a
# redirected group and after a Python program's subprocess, the store
# still holds the old value until the write.
echo old >"$MNT/c"
{ /bin/true; ls / >/dev/null; cat "$ROOT/c" >"$TEST_TMP/during"; echo new; } >"$MNT/c"
if [ "$(cat "$TEST_TMP/during")" != old ] || [ "$(cat "$ROOT/c")" != new ]; then
	echo "group: the store held '$(cat "$TEST_TMP/during")' while it ran, '$(cat "$ROOT/c")' after"
	trunc_bad=$((trunc_bad + 1))
fi
if ! python3 - "$MNT/c" "$ROOT/c" <<'EOF'; then
import subprocess, sys
mnt, root = sys.argv[1:]
with open(mnt, "w") as f:
    subprocess.run(["/bin/true"], check=True)
    during = open(root).read()
    f.write("newer\n")
if during != "new\n" or open(root).read() != "newer\n":
    sys.exit(f"subprocess: the store held {during!r} while the file was open")
EOF
	trunc_bad=$((trunc_bad + 1))
fi

# A new file: a reader polling ROOT/new sees it absent or whole.
rm -f "$TEST_TMP/stop"
# The timeouts only stop a hang: under a coverage build on a busy
# machine the loop takes minutes.
timeout -k 5 200 "$STRESS" watch "$ROOT/new" "$EXPECT" "$TEST_TMP/stop" 190 \
	absent-ok >"$TEST_TMP/new.log" 2>&1 &
EXTRA_PIDS=$!
# Also the copies that set the mode, times or xattrs of the open copy
# before they close it (cp -p, install -m, cp -a), and a temporary file
# removed while open: it never reaches the store at all.
setfattr -n user.origin -v test "$EXPECT"
timeout -k 5 180 bash -c 'for ((i = 0; i < $1; i++)); do
	echo hello-world >"$2"; rm "$2"
	cp -p "$3" "$2"; rm "$2"
	install -m 600 "$3" "$2"; rm "$2"
	cp -a "$3" "$2"; rm "$2"; done' bash $((X / 2)) "$MNT/new" "$EXPECT" ||
	fail "creating and removing new files"
timeout -k 5 30 python3 - "$MNT/new" <<'EOF' || fail "temporary files removed while open"
import os, sys
for _ in range(100):
    with open(sys.argv[1], "w+") as f:
        f.write("hello")
        f.flush()
        os.unlink(sys.argv[1])
        f.seek(0)
        assert f.read() == "hello"
EOF
touch "$TEST_TMP/stop"
wait "$EXTRA_PIDS" || true
EXTRA_PIDS=
new=$(grep '^watch' "$TEST_TMP/new.log") || fail "new-file reader: $(cat "$TEST_TMP/new.log")"
echo "new files: ${new#watch * }"
new_bad=$(($(figure "$new" empty) + $(figure "$new" other) + $(figure "$new" errors)))

echo "--- summary"
printf '%s' "$summary"
echo "truncation: $trunc_bad failures; new files: $new_bad bad reads in ROOT"
[ "$total_bad" = 0 ] || fail "$total_bad reads saw something other than the whole value"
[ "$trunc_bad" = 0 ] || fail "a truncation was not published at its last close, or was published before the write (see above)"
[ "$new_bad" = 0 ] || fail "a new file appeared empty or wrong in the store"
[ "$(figure "$new" whole)" -gt 0 ] || fail "the new-file reader never saw a new file"
kvfs_unmount || fail "daemon exit status"
echo PASS
