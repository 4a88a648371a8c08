#!/bin/bash
# The Debian package as a user meets it: cpack -G DEB from the build
# directory, dpkg -i, then the installed kvfs only (no KVFS_BIN, a PATH
# without the daemon's directory): its files where the package says (man
# pages, /sbin/mount.kvfs, the unit), a program built with pkg-config
# against the installed library, mount -t kvfs and an fstab line, umount
# ending the daemon, the daemon's open-file limit raised to the hard limit
# and 1,500 files open through the mount at once; at last dpkg --purge
# leaves none of its files. Also `cmake --install --prefix`: that
# mount.kvfs starts that prefix's daemon.
#
# Root only; it installs a package, and restores the machine on any exit.
# SKIPPED without dpkg, and when a kvfs is installed already (it replaces
# nothing).
#
# Environment (CTest): KVFS_BUILD_DIR, KVFS_CPACK, KVFS_CC, KVFS_CFLAGS
# (what the library was built with), and lib.sh's.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../mount/lib.sh"
: "${KVFS_BUILD_DIR:?}" "${KVFS_CPACK:?}" "${KVFS_CC:?}"

command -v dpkg >/dev/null || skip "dpkg is missing (not a Debian system)"
[ "$(id -u)" = 0 ] || skip "installing a package needs root"
command -v mount >/dev/null || skip "mount(8) is missing"
if dpkg-query -W -f='${Status}' kvfs 2>/dev/null | grep -q ' installed$'; then
	skip "a kvfs package is installed already; not replacing it"
fi
for f in /usr/bin/kvfs /usr/sbin/mount.kvfs /sbin/mount.kvfs /usr/lib/libkvfs.so.0; do
	[ -e "$f" ] || [ -L "$f" ] && skip "$f exists (another kvfs); not replacing it"
done

PKG=kvfs
DAEMON=/usr/bin/kvfs
# What mount(8) and the helper get: no KVFS_BIN and a PATH without the
# daemon's directory, so that mount.kvfs has to know where its daemon is.
# The sanitizer settings stay, so that reports still reach files.
mount_env=(env -i PATH=/nonexistent
	"ASAN_OPTIONS=$ASAN_OPTIONS" "UBSAN_OPTIONS=$UBSAN_OPTIONS")
MOUNT=$(command -v mount)
UMOUNT=$(command -v umount)
INSTALLED=    # set once dpkg -i ran: the trap purges
SERVING=      # daemons mount(8) started, to wait for

# Unmount what is mounted, wait for the daemons, purge the package, then
# lib.sh's cleanup.
restore() {
	local status=$? pid
	set +e
	if is_mounted "$MNT"; then
		"$UMOUNT" "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	fi
	for pid in $SERVING; do
		for _ in $(seq 50); do
			[ -d "/proc/$pid" ] || break
			sleep 0.1
		done
		[ -d "/proc/$pid" ] && kill -9 "$PID"
	done
	if [ -n "$INSTALLED" ]; then
		dpkg_retry --purge "$PKG" >/dev/null 2>&1 ||
			echo "FAIL: dpkg --purge $PKG did not work; remove it by hand" >&2
	fi
	(exit $status)
	cleanup
}
trap restore EXIT

# dpkg ARGS, waiting up to 60 s for another dpkg or apt to let go of its
# lock.
dpkg_retry() {
	local out
	for _ in $(seq 120); do
		out=$(dpkg "$@" 2>&1) && { echo "$out"; return 0; }
		grep -q "lock" <<<"$out" || { echo "$out"; return 1; }
		sleep 0.5
	done
	echo "$out"
	return 1
}

# serving BIN: PID is the daemon, BIN, that serves MNT.
serving() {
	PID=$(bash "$here/../testutil/daemon_of.sh" "$1" "$MNT")
	[ -n "$PID" ] || fail "no $1 serves $MNT"
	SERVING+=" $PID"
}

# umount_ends HOW PID: umount MNT; PID must be gone within 5 s.
umount_ends() {
	"$UMOUNT" "$MNT" || fail "$1: umount"
	is_mounted "$MNT" && fail "$1: still mounted after umount"
	for _ in $(seq 50); do
		[ -d "/proc/$2" ] || return 0
		sleep 0.1
	done
	fail "$1: daemon $2 still runs 5 s after umount"
}

# --- cmake --install --prefix: mount.kvfs names that prefix's daemon
prefix=$TEST_TMP/prefix
cmake --install "$KVFS_BUILD_DIR" --prefix "$prefix" >"$TEST_TMP/install.log" 2>&1 ||
	fail "cmake --install: $(tail -n 3 "$TEST_TMP/install.log")"
grep -q "^prefix=$prefix\$" "$prefix"/lib*/pkgconfig/kvfs.pc ||
	fail "kvfs.pc under $prefix does not name it: $(grep prefix= "$prefix"/lib*/pkgconfig/kvfs.pc)"
"${mount_env[@]}" "$prefix/sbin/mount.kvfs" "$ROOT" "$MNT" -o sync=false ||
	fail "$prefix/sbin/mount.kvfs without KVFS_BIN or PATH"
serving "$prefix/bin/kvfs"
echo v >"$MNT/prefixed"
umount_ends "cmake --install --prefix" "$PID"
echo "ok: $prefix/sbin/mount.kvfs starts $prefix/bin/kvfs"

# --- the package
"$KVFS_CPACK" --config "$KVFS_BUILD_DIR/CPackConfig.cmake" -G DEB \
	-B "$TEST_TMP/pkg" >"$TEST_TMP/cpack.log" 2>&1 ||
	fail "cpack -G DEB: $(tail -n 5 "$TEST_TMP/cpack.log")"
deb=$(ls "$TEST_TMP"/pkg/kvfs_*.deb)
# The package's paths, and its own directories (those named kvfs).
dpkg-deb -c "$deb" | awk '{ print substr($6, 2) }' | sed 's|/$||' |
	grep -v '^$' >"$TEST_TMP/contents"
dpkg-deb -c "$deb" | awk '/^d/ { print substr($6, 2) }' | sed 's|/$||' |
	grep '/kvfs$' >"$TEST_TMP/own_dirs"
for f in "$DAEMON" /usr/sbin/mount.kvfs /usr/lib/systemd/system/kvfs@.service \
	/usr/share/man/man8/kvfs.8.gz /usr/share/man/man8/mount.kvfs.8.gz \
	/usr/include/kvfs/kvfs.h /usr/include/kvfs/backend.h \
	/usr/share/doc/kvfs/README.md; do
	grep -qx "$f" "$TEST_TMP/contents" || fail "the package lacks $f"
done
for pattern in '/usr/lib/\(.*/\)\?libkvfs\.so\.0' '/usr/lib/\(.*/\)\?pkgconfig/kvfs\.pc' \
	'/usr/lib/\(.*/\)\?kvfs/kvfs-sqlite\.so'; do
	grep -q "^$pattern\$" "$TEST_TMP/contents" || fail "the package lacks $pattern"
done
depends=$(dpkg-deb -f "$deb" Depends)
for d in fuse3 libfuse3-3 libconfig9 libcurl4 libjansson4 libsqlite3-0; do
	grep -qE "(^|, )$d( |,|$)" <<<"$depends" || fail "Depends lacks $d: $depends"
done
echo "ok: $(basename "$deb"): $(wc -l <"$TEST_TMP/contents") paths; Depends: $depends"

INSTALLED=1
if ! out=$(dpkg_retry -i "$deb"); then
	grep -q "dependency problems" <<<"$out" || fail "dpkg -i: $out"
	apt-get install -f -y -q >"$TEST_TMP/apt.log" 2>&1 ||
		fail "dpkg -i: $out; apt-get install -f: $(tail -n 3 "$TEST_TMP/apt.log")"
fi
dpkg-query -W -f='${Status}' "$PKG" | grep -q 'install ok installed' ||
	fail "dpkg -i: $PKG is not installed"

# --- its files, where a user looks for them
[ "$(man -w kvfs)" = /usr/share/man/man8/kvfs.8.gz ] || fail "man -w kvfs: $(man -w kvfs 2>&1)"
[ "$(man -w mount.kvfs)" = /usr/share/man/man8/mount.kvfs.8.gz ] ||
	fail "man -w mount.kvfs: $(man -w mount.kvfs 2>&1)"
man kvfs 2>/dev/null | grep -q "user.kvfs.consistency" || fail "man kvfs does not render"
[ -x /sbin/mount.kvfs ] || fail "/sbin/mount.kvfs, where mount(8) looks, is missing"
grep -qx "installed_daemon='$DAEMON'" /sbin/mount.kvfs ||
	fail "mount.kvfs does not name $DAEMON: $(grep installed_daemon= /sbin/mount.kvfs)"
unit=/usr/lib/systemd/system/kvfs@.service
grep -q "^ExecStart=$DAEMON " "$unit" || fail "the unit does not start $DAEMON"
grep -q "^LimitNOFILE=" "$unit" || fail "the unit sets no LimitNOFILE"
if command -v systemd-analyze >/dev/null; then
	# An instance, by path, so that no other copy is read; its
	# Documentation= man pages must exist now.
	mkdir "$TEST_TMP/unit"
	cp "$unit" "$TEST_TMP/unit/kvfs@mnt-kv.service"
	out=$(cd "$TEST_TMP/unit" && systemd-analyze verify "$TEST_TMP/unit/kvfs@mnt-kv.service" 2>&1) &&
		! grep -q 'kvfs' <<<"$out" || fail "systemd-analyze verify $unit: $out"
fi
[[ $("$DAEMON" --version | head -n 1) == "kvfs version "* ]] ||
	fail "$DAEMON --version: $("$DAEMON" --version | head -n 1)"
echo "ok: man -w kvfs, mount.kvfs; /sbin/mount.kvfs; $unit"

# A program of a user's, against the installed library only.
pc_flags=$(env -u PKG_CONFIG_PATH pkg-config --cflags --libs kvfs) ||
	fail "pkg-config --cflags --libs kvfs"
# shellcheck disable=SC2086 # flag lists
"$KVFS_CC" ${KVFS_CFLAGS:-} -o "$TEST_TMP/uses_libkvfs" "$here/uses_libkvfs.c" $pc_flags ||
	fail "building against the installed library with: $pc_flags"
loaded=$(ldd "$TEST_TMP/uses_libkvfs" | awk '$1 == "libkvfs.so.0" { print $3 }')
[ "$(readlink -f "$loaded")" = "$(readlink -f "$(grep -m 1 '/libkvfs\.so\.0$' "$TEST_TMP/contents")")" ] ||
	fail "uses_libkvfs loads libkvfs.so.0 from '$loaded', not the package's"
mkdir "$TEST_TMP/libroot"
[ "$(env -u LD_LIBRARY_PATH "$TEST_TMP/uses_libkvfs" "$TEST_TMP/libroot" a/b hello)" = hello ] ||
	fail "uses_libkvfs did not read back its value"
echo "ok: pkg-config --cflags --libs kvfs: $pc_flags"

# --- mount -t kvfs, with the installed helper and daemon
"${mount_env[@]}" "$MOUNT" -t kvfs "$ROOT" "$MNT" -o consistency=eventual,sync=false ||
	fail "mount -t kvfs"
is_mounted "$MNT" || fail "mount -t kvfs: nothing mounted"
serving "$DAEMON"
echo hi >"$MNT/k"
[ "$(cat "$MNT/k")" = hi ] && [ "$(cat "$ROOT/k")" = hi ] || fail "write and read through mount -t kvfs"
[ "$(getfattr --only-values -n user.kvfs.consistency.effective "$MNT/k")" = eventual ] ||
	fail "mount -t kvfs: options not passed on"
umount_ends "mount -t kvfs" "$PID"
echo "ok: mount -t kvfs, umount"

# --- an fstab line, from a file of our own
echo "$ROOT $MNT kvfs root=$ROOT,sync=false,nofail,noauto,_netdev 0 0" >"$TEST_TMP/fstab"
"${mount_env[@]}" "$MOUNT" -T "$TEST_TMP/fstab" "$MNT" || fail "mount -T fstab"
serving "$DAEMON"
[ "$(cat "$MNT/k")" = hi ] || fail "the fstab mount does not serve the root"
umount_ends fstab "$PID"
echo "ok: fstab line, umount"

# --- open files: the daemon takes its hard limit, and many files stay open
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 8192 ]; then
	[ "$hard" = unlimited ] && hard=$(cat /proc/sys/fs/nr_open)
	prlimit --nofile=1024:"$hard" "${mount_env[@]}" "$MOUNT" -t kvfs "$ROOT" "$MNT" \
		-o sync=false || fail "mount -t kvfs with a soft limit of 1024"
	serving "$DAEMON"
	limits=$(grep '^Max open files' "/proc/$PID/limits")
	read -r soft hard_seen _ <<<"${limits#Max open files}"
	[ "$soft" = "$hard" ] && [ "$hard_seen" = "$hard" ] ||
		fail "the daemon's open-file limit is $soft (hard $hard_seen), not $hard"
	echo "ok: started with 1024:$hard, the daemon runs with $soft:$hard_seen"
	python3 - "$MNT" 1500 "$PID" <<'EOF' || fail "1500 files open at once"
import os, resource, sys
mnt, n, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
os.mkdir(f"{mnt}/many")
files = []
for i in range(n):
    f = open(f"{mnt}/many/{i}", "w")
    f.write(f"value {i}\n")
    f.flush()
    files.append(f)
held = len(os.listdir(f"/proc/{pid}/fd"))
for f in files:
    f.close()
bad = [i for i in range(n) if open(f"{mnt}/many/{i}").read() != f"value {i}\n"]
if bad:
    sys.exit(f"{len(bad)} of {n} values wrong, first {bad[0]}")
print(f"ok: {n} files open for writing at once; the daemon held {held} descriptors")
EOF
	umount_ends "open files" "$PID"
else
	echo "not checked: the open-file limit (hard limit $hard here, under 8192)"
fi

# --- purge: nothing of the package stays
dpkg_retry --purge "$PKG" >"$TEST_TMP/purge.log" || fail "dpkg --purge: $(cat "$TEST_TMP/purge.log")"
INSTALLED=
dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'installed' &&
	fail "$PKG still known to dpkg after --purge"
while read -r path; do
	[ -d "$path" ] && ! [ -L "$path" ] && continue # a directory: below
	[ -e "$path" ] || [ -L "$path" ] && fail "$path is left after dpkg --purge"
done <"$TEST_TMP/contents"
while read -r dir; do
	[ -e "$dir" ] && fail "$dir is left after dpkg --purge"
done <"$TEST_TMP/own_dirs"
[ -s "$TEST_TMP/own_dirs" ] || fail "no directory of the package's own was listed"
man -w kvfs >/dev/null 2>&1 && fail "man -w kvfs still finds a page"
echo "ok: dpkg --purge leaves none of the package's files"
echo PASS
