#!/bin/bash
# test_interop.sh - the files of an etcd mount are the etcd keys under its
# prefix (lib/docs/etcd.md, "Layout in etcd"), checked with etcdctl in both
# directions, in a strong and in an eventual directory:
#  - etcdctl put, overwrite and del of P<dir>/a show in the mount (cat,
#    ls, stat size): at once when strong, within the watch's delay when
#    eventual;
#  - a key put below parents kvfs never made shows as directories;
#  - files written, overwritten, renamed and removed through the mount
#    are exactly the keys of `etcdctl get --prefix P`, each once, with
#    the files' bytes, and nothing else (mkdir of an empty directory, a
#    chmod, an xattr add no key under P);
#  - a value larger than one request: the key holds nothing, the file
#    reads whole;
#  - a strong name the kernel keeps cached: deleted, re-created and
#    kind-changed by etcdctl, seen at the next open and stat;
#  - rename(2) of a directory over one transaction (in steps) and of a
#    small one (one transaction);
#  - what strong cat, stat, `echo >` and ls cost in etcd requests.
. "$KT_LIB"

kt_require_etcd
kt_init
kt_require_mount
kt_cluster_start 3 0 etcd

P=/nat/
kt_mount M "backend=etcd,endpoints=$KT_EPS,prefix=${P%/},journal=$kt_work/journal"
M=$kt_work/M

# Poll up to $1 s until the command in the remaining arguments succeeds.
within() {
	local limit=$1 deadline
	shift
	deadline=$(($(kt_now_ms) + limit * 1000))
	until "$@"; do
		[ "$(kt_now_ms)" -lt $deadline ] || return 1
		sleep 0.1
	done
}

# The keys under prefix $1, one a line, sorted (etcdctl prints keys only).
keys_under() {
	kt_etcdctl get --prefix "$1" --keys-only | sed '/^$/d' | LC_ALL=C sort
}

# The value of key $1 as etcdctl prints it.
value_of() {
	kt_etcdctl get "$1" --print-value-only
}

file_is() { [ "$(cat "$1" 2>/dev/null)" = "$2" ]; }
size_is() { [ "$(stat -c %s "$1" 2>/dev/null)" = "$2" ]; }
listed() { ls "$1" 2>/dev/null | grep -qxF "$2"; }
gone() { [ ! -e "$1" ] && ! listed "$(dirname "$1")" "$(basename "$1")"; }
is_dir() { [ -d "$1" ]; }

# keys_are PREFIX KEY...: etcd holds exactly these keys under PREFIX.
keys_are() {
	local prefix=$1 want
	shift
	want=$(printf '%s\n' "$@" | LC_ALL=C sort)
	[ "$(keys_under "$prefix")" = "$want" ]
}

for level in strong eventual; do
	d=$M/$level
	k=$P$level
	mkdir "$d" || kt_fail "mkdir $level"
	kt_set_level "$d" "$level"
	# Strong: seen at the next system call; eventual: within the watch's
	# delay (serializable reads of the preferred member, cached entries
	# dropped by the watch).
	[ "$level" = strong ] && wait_s=0 || wait_s=10

	# --- etcdctl to the mount ----------------------------------------
	kt_etcdctl put "$k/a" one >/dev/null || kt_fail "etcdctl put $k/a"
	within "$wait_s" file_is "$d/a" one ||
		kt_fail "$level: etcdctl put $k/a one: cat $d/a gives '$(cat "$d/a" 2>&1)'"
	listed "$d" a || kt_fail "$level: ls $d does not show a: $(ls "$d" 2>&1)"
	size_is "$d/a" 3 || kt_fail "$level: stat size of a is $(stat -c %s "$d/a" 2>&1), not 3"
	[ -f "$d/a" ] || kt_fail "$level: $d/a is not a regular file"

	kt_etcdctl put "$k/a" second >/dev/null || kt_fail "etcdctl put $k/a again"
	within "$wait_s" file_is "$d/a" second ||
		kt_fail "$level: after etcdctl overwrote $k/a: cat gives '$(cat "$d/a" 2>&1)'"
	within "$wait_s" size_is "$d/a" 6 ||
		kt_fail "$level: stat size after the overwrite is $(stat -c %s "$d/a" 2>&1), not 6"

	kt_etcdctl del "$k/a" >/dev/null || kt_fail "etcdctl del $k/a"
	within "$wait_s" gone "$d/a" ||
		kt_fail "$level: etcdctl del $k/a: $d/a is still there ($(ls "$d" 2>&1))"

	kt_etcdctl put "$k/x/y/z" deep >/dev/null || kt_fail "etcdctl put $k/x/y/z"
	within "$wait_s" listed "$d" x ||
		kt_fail "$level: etcdctl put $k/x/y/z: ls $d does not show x: $(ls "$d" 2>&1)"
	is_dir "$d/x" && is_dir "$d/x/y" ||
		kt_fail "$level: x and x/y are not directories: $(ls -lR "$d" 2>&1)"
	file_is "$d/x/y/z" deep || kt_fail "$level: cat $d/x/y/z gives '$(cat "$d/x/y/z" 2>&1)'"
	kt_log "$level: etcdctl put, overwrite, del and a deep put seen in the mount"

	# --- the mount to etcdctl ----------------------------------------
	mkdir "$d/sub" "$d/empty" || kt_fail "$level: mkdir sub empty"
	kt_put "$d/w" "w-one" || kt_fail "$level: write w"
	kt_put "$d/w" "w-two" || kt_fail "$level: overwrite w"
	kt_put "$d/sub/s" "in-sub" || kt_fail "$level: write sub/s"
	kt_put "$d/gone" "bye" || kt_fail "$level: write gone"
	kt_put "$d/old" "renamed" || kt_fail "$level: write old"
	mv "$d/old" "$d/new" || kt_fail "$level: mv old new"
	rm "$d/gone" || kt_fail "$level: rm gone"
	chmod 600 "$d/w" || kt_fail "$level: chmod w"
	setfattr -n user.note -v hello "$d/sub/s" || kt_fail "$level: setfattr sub/s"
	within 15 keys_are "$k/" "$k/new" "$k/sub/s" "$k/w" "$k/x/y/z" ||
		kt_fail "$level: etcdctl get --prefix $k/ lists: $(keys_under "$k/" | tr '\n' ' ')" \
			"(want $k/new $k/sub/s $k/w $k/x/y/z)"
	[ "$(value_of "$k/w")" = w-two ] || kt_fail "$level: $k/w holds '$(value_of "$k/w")'"
	[ "$(value_of "$k/sub/s")" = in-sub ] || kt_fail "$level: $k/sub/s holds '$(value_of "$k/sub/s")'"
	[ "$(value_of "$k/new")" = renamed ] || kt_fail "$level: $k/new holds '$(value_of "$k/new")'"
	is_dir "$d/empty" && [ -z "$(ls -A "$d/empty")" ] ||
		kt_fail "$level: the empty directory is not there or not empty"
	[ "$(stat -c %a "$d/w")" = 600 ] || kt_fail "$level: mode of w is $(stat -c %a "$d/w")"
	kt_log "$level: writes, rename, rm, mkdir, chmod and setfattr through the mount are exactly the keys"
done

# --- a value larger than one request -----------------------------------
head -c 2000000 /dev/urandom >"$kt_work/big" || kt_fail "make a 2 MB file"
cp "$kt_work/big" "$M/strong/big" || kt_fail "cp a 2 MB file into the mount"
cmp -s "$kt_work/big" "$M/strong/big" || kt_fail "the 2 MB file does not read back whole"
[ -z "$(value_of "${P}strong/big")" ] ||
	kt_fail "the key of a value over one request is not empty"
kt_log "a 2 MB value: its key is empty, the file reads whole"

# --- the whole prefix: every file once, nothing else -------------------
keys=$(keys_under "$P")
files=$(cd "$M" && find . -type f | sed "s|^\./|$P|" | LC_ALL=C sort)
[ "$keys" = "$files" ] ||
	kt_fail "etcdctl get --prefix $P lists '$(echo $keys)' but the mount has the files '$(echo $files)'"
[ -z "$(echo "$keys" | uniq -d)" ] || kt_fail "a key is listed twice under $P"
echo "$keys" | grep -q empty && kt_fail "the empty directory shows as a key under $P"
kt_log "etcdctl get --prefix $P: $(echo "$keys" | wc -l) keys, the files of the mount, each once"

# --- names the kernel keeps, keys another client changes -----------------
# A strong name stays in the kernel's cache (weak_timeout), so each open
# and stat asks etcd again and a changed key is looked up anew: after
# etcdctl deletes a file the mount has just read, cat says ENOENT and
# `echo >` creates it again; after it replaces a file by a directory of
# the same name, ls and stat show the directory (not EIO).
d=$M/strong
echo cached >"$d/c" && file_is "$d/c" cached || kt_fail "write and read of strong/c"
kt_etcdctl del "${P}strong/c" >/dev/null || kt_fail "etcdctl del"
out=$(cat "$d/c" 2>&1) && kt_fail "cat of a key etcdctl deleted gave '$out'"
case $out in *"No such file"*) ;; *) kt_fail "cat of a deleted key: '$out', expected ENOENT" ;; esac
echo again >"$d/c" 2>/dev/null || kt_fail "echo > a name whose key another client deleted failed"
[ "$(value_of "${P}strong/c")" = again ] || kt_fail "echo > c after etcdctl del: etcd holds '$(value_of "${P}strong/c")'"
file_is "$d/c" again || kt_fail "echo > c after etcdctl del: cat gives '$(cat "$d/c" 2>&1)'"
kt_etcdctl del "${P}strong/c" >/dev/null && kt_etcdctl put "${P}strong/c/inside" in >/dev/null ||
	kt_fail "etcdctl replacing c by a directory"
is_dir "$d/c" || kt_fail "c, now a directory in etcd: stat says '$(stat -c %F "$d/c" 2>&1)'"
file_is "$d/c/inside" in || kt_fail "c/inside: '$(cat "$d/c/inside" 2>&1)'"
kt_etcdctl del --prefix "${P}strong/c" >/dev/null && kt_etcdctl put "${P}strong/c" file-again >/dev/null ||
	kt_fail "etcdctl replacing c/ by a file"
file_is "$d/c" file-again || kt_fail "c, a file again: cat gives '$(cat "$d/c" 2>&1)'"
[ -f "$d/c" ] || kt_fail "c, a file again: stat says '$(stat -c %F "$d/c" 2>&1)'"
kt_log "strong: deleted, re-created and kind-changed keys seen at the next open and stat"

# --- directories larger than one transaction ------------------------------
# rename(2) of a directory that fits one etcd transaction is one; a larger
# one moves in steps (test_big_rename.sh tries it at size and under kill -9).
mkdir -p "$d/tree/sub" || kt_fail "mkdir tree"
for i in $(seq 200); do echo "v$i" >"$d/tree/f$i"; done
echo deep >"$d/tree/sub/s"
setfattr -n user.tag -v kept "$d/tree/f7" || kt_fail "setfattr on tree/f7"
t0=$(kt_now_ms)
python3 -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$d/tree" "$d/moved" ||
	kt_fail "rename(2) of a directory of 201 entries failed"
kt_log "rename(2) of a directory of 201 entries (in steps): $(($(kt_now_ms) - t0)) ms"
[ ! -e "$d/tree" ] || kt_fail "the rename left the source: $(ls "$d/tree" | head -3)"
[ "$(ls "$d/moved" | wc -l)" = 201 ] || kt_fail "moved holds $(ls "$d/moved" | wc -l) entries, not 201"
for i in 1 100 200; do
	[ "$(cat "$d/moved/f$i")" = "v$i" ] || kt_fail "moved/f$i reads '$(cat "$d/moved/f$i")'"
done
[ "$(cat "$d/moved/sub/s")" = deep ] || kt_fail "moved/sub/s reads '$(cat "$d/moved/sub/s")'"
[ "$(getfattr --absolute-names -n user.tag --only-values "$d/moved/f7" 2>&1)" = kept ] ||
	kt_fail "the rename lost the xattr of f7: $(getfattr --absolute-names -d "$d/moved/f7" 2>&1)"
[ -z "$(keys_under "${P}strong/tree/")" ] || kt_fail "keys left under tree/: $(keys_under "${P}strong/tree/" | head -3)"
mkdir "$d/small" && for i in $(seq 10); do echo "$i" >"$d/small/f$i"; done
python3 -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$d/small" "$d/small2" ||
	kt_fail "rename(2) of a directory of 10 files failed"
[ "$(ls "$d/small2" | wc -l)" = 10 ] && [ ! -e "$d/small" ] || kt_fail "rename of small: $(ls "$d" | tr '\n' ' ')"
kt_log "rename(2) of directories: 201 entries in steps, 10 in one transaction"

# --- what a strong read and write cost ------------------------------------
# Requests to etcd (the daemon's counters): a cat of a strong file is its
# open's read and fstat's (2), a stat one, an `echo >` of an existing file
# one transaction. 20 of each; the stats read itself costs one request.
requests() {
	getfattr -n user.kvfs.stats --only-values "$M" 2>/dev/null | sed -n 's/^etcd_requests: //p'
}
echo one-kib >"$d/cost"
cat "$d/cost" >/dev/null
# per_op WHAT MAX COMMAND...: run it 20 times; at most MAX requests.
per_op() {
	local what=$1 max=$2 before after n
	shift 2
	before=$(requests)
	for _ in $(seq 20); do "$@" >/dev/null || kt_fail "$what failed"; done
	after=$(requests)
	n=$((after - before - 1))
	kt_log "strong $what: $n etcd requests for 20"
	[ "$n" -le "$max" ] || kt_fail "20 strong '$what' cost $n etcd requests, more than $max"
}
per_op cat 42 cat "$d/cost"
per_op stat 22 stat "$d/cost"
per_op "echo > existing" 22 sh -c "echo x >'$d/cost'"
# ls of a directory of 30 files: the listing, not a read per name (its
# names reach the kernel without attributes, which ls -l then asks for).
mkdir "$d/many" || kt_fail "mkdir many"
for i in $(seq 30); do echo "$i" >"$d/many/f$i"; done
per_op "ls of 30 files" 100 ls "$d/many"
[ "$(ls "$d/many" | wc -l)" = 30 ] || kt_fail "ls many shows $(ls "$d/many" | wc -l) names, not 30"
[ "$(ls -l "$d/many" | grep -c '^-rw')" = 30 ] || kt_fail "ls -l many: $(ls -l "$d/many" | head -3)"
[ "$(cat "$d/many/f17")" = 17 ] || kt_fail "many/f17 reads '$(cat "$d/many/f17")'"

kt_umount M || kt_fail "the daemon exited with an error"
kt_finish
