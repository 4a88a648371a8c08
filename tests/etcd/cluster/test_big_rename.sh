#!/bin/bash
# test_big_rename.sh - directories of any size rename (lib/docs/etcd.md,
# "Renaming a large directory"), on a 3-member cluster with etcd's default
# --max-txn-ops (128: one transaction moves about 34 entries):
#  - rename(2) of directories of 10, 1,000 and 10,000 entries: the new
#    name holds every key with its bytes, every record (metadata, modes,
#    xattrs, subdirectories, the empty one too, a chunked value), the old
#    name nothing, in etcd and in the mount;
#  - the daemon killed with kill -9 at random points of a rename of 1,000
#    entries: at every point each key is under exactly one of the names,
#    and the next mount completes the rename (or, killed before it began,
#    finds it undone): all under one name, nothing lost, nothing twice;
#  - a rename whose step fails (two members frozen past timeout=) is
#    completed by the same mount once the cluster answers again;
#  - another mount's rename of a tree left halfway completes the old
#    rename first.
. "$KT_LIB"

kt_require_etcd
kt_init
kt_require_mount
kt_cluster_start 3 0 etcd

P=/mv/
R=/mv.kvfs/
# timeout=2s: a dead mover's lock lasts 2 x 2 + 5 = 9 s.
opts="backend=etcd,endpoints=$KT_EPS,prefix=${P%/},timeout=2s,journal=$kt_work/journal"
optsB="${opts%/journal}/journal-B"
kt_mount M "$opts"
M=$kt_work/M

stat_line() {
	getfattr -n user.kvfs.stats --only-values "$kt_work/$1" 2>/dev/null | sed -n "s/^$2: //p"
}
# Every key and record of directory $1, its name cut out, one a line,
# sorted: "<space> <name below it> <value>" (values of P keys and of
# metadata and attribute records, base64; directory records are named
# only, since their depth is part of the key).
tree_of() {
	local dir=$1 space
	for space in "v $P$dir/" "m ${R}m/$dir/" "a ${R}a/$dir/" "d ${R}d/"; do
		kt_etcdctl get --prefix "${space#* }" -w json |
			python3 -c 'import base64, json, re, sys
tag, start, d = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
for kv in json.load(sys.stdin).get("kvs", []):
    k = base64.b64decode(kv["key"])
    if tag == "d":
        m = re.match(re.escape(start) + rb"[0-9]+/" + re.escape(d) + b"/", k)
        if m:
            print("d", k[m.end():].decode())
    elif k.startswith(start):
        print(tag, k[len(start):].decode(), kv.get("value", ""))' "${space%% *}" "${space#* }" "$dir"
	done | LC_ALL=C sort
}
rename2() {
	timeout 300 python3 -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$1" "$2"
}
# rename_killed FROM TO DELAY_MS: rename(2) FROM to TO and kill -9 the
# daemon DELAY_MS after the call was made (not after python started: a
# kill before the call would only unmount the names away). The kill
# must show as ECONNABORTED, or the rename finished first.
rename_killed() {
	rm -f "$kt_work/calling"
	timeout 300 python3 -c 'import os, sys
open(sys.argv[3], "w").close()
os.rename(sys.argv[1], sys.argv[2])' "$1" "$2" "$kt_work/calling" 2>"$kt_work/mv.err" &
	local mover=$! waited=0
	until [ -e "$kt_work/calling" ]; do
		[ $((waited += 1)) -lt 1000 ] || kt_fail "the mover did not start in 10 s"
		sleep 0.01
	done
	sleep "$(printf '%d.%03d' $(($3 / 1000)) $(($3 % 1000)))"
	kt_crash M
	wait $mover 2>/dev/null
	[ ! -s "$kt_work/mv.err" ] || grep -q 'Errno 103\]' "$kt_work/mv.err" ||
		kt_fail "the killed rename of $1 failed with: $(tail -n 1 "$kt_work/mv.err")"
}
# A directory $1 of $2 files put by another client, and some of kvfs's
# own: a mode, an xattr, a set mtime, subdirectories (one empty), a
# chunked value.
make_tree() {
	local dir=$1 n=$2
	kt_fill "$P" "$dir" "$n" 100
	mkdir -p "$M/$dir/sub/deeper" "$M/$dir/empty" || kt_fail "mkdir in $dir"
	echo "in sub" >"$M/$dir/sub/s" && echo "deeper" >"$M/$dir/sub/deeper/d" ||
		kt_fail "writes in $dir/sub"
	chmod 600 "$M/$dir/sub/s" && setfattr -n user.tag -v kept "$M/$dir/sub/s" &&
		touch -d @1500000000 "$M/$dir/sub/deeper/d" || kt_fail "chmod, setfattr, touch in $dir"
	setfattr -n user.tag -v dirtag "$M/$dir/sub" || kt_fail "setfattr on $dir/sub"
	cp "$kt_work/large" "$M/$dir/large" || kt_fail "cp of a 2 MB value into $dir"
}
# check_moved FROM TO WANT_TREE N: etcd holds WANT_TREE under TO and
# nothing under FROM, and the mount agrees.
check_moved() {
	local from=$1 to=$2 want=$3 n=$4
	[ -z "$(tree_of "$from")" ] || kt_fail "left under $from: $(tree_of "$from" | head -3)"
	diff <(echo "$want") <(tree_of "$to") >"$kt_work/diff" ||
		kt_fail "$to differs from $from before the rename: $(head -5 "$kt_work/diff")"
	[ ! -e "$M/$from" ] || kt_fail "$from still in the mount"
	[ "$(ls "$M/$to" | wc -l)" = $((n + 3)) ] || kt_fail "$to lists $(ls "$M/$to" | wc -l) entries, not $((n + 3))"
	[ "$(cat "$M/$to/f00001")" = f00001 ] && [ "$(cat "$M/$to/f$(printf %05d "$n")")" = "f$(printf %05d "$n")" ] ||
		kt_fail "$to/f00001: $(cat "$M/$to/f00001" 2>&1)"
	[ "$(stat -c %a "$M/$to/sub/s")" = 600 ] || kt_fail "$to/sub/s mode $(stat -c %a "$M/$to/sub/s")"
	[ "$(getfattr --absolute-names -n user.tag --only-values "$M/$to/sub/s")" = kept ] ||
		kt_fail "$to/sub/s lost its xattr"
	[ "$(getfattr --absolute-names -n user.tag --only-values "$M/$to/sub")" = dirtag ] ||
		kt_fail "$to/sub lost its xattr"
	[ "$(stat -c %Y "$M/$to/sub/deeper/d")" = 1500000000 ] || kt_fail "$to/sub/deeper/d mtime $(stat -c %Y "$M/$to/sub/deeper/d")"
	[ -d "$M/$to/empty" ] || kt_fail "$to/empty is gone"
	cmp -s "$kt_work/large" "$M/$to/large" || kt_fail "$to/large differs"
	[ -z "$(kt_etcdctl get --prefix "${R}r/" --keys-only | sed '/^$/d')" ] ||
		kt_fail "an intent is left: $(kt_etcdctl get --prefix "${R}r/" --keys-only)"
}

head -c 2000000 /dev/urandom >"$kt_work/large"

# --- 10, 1,000 and 10,000 entries, through the mount ----------------------
for n in 10 1000 10000; do
	make_tree "d$n" "$n"
	want=$(tree_of "d$n")
	before=$(stat_line M etcd_renames_in_steps)
	t0=$(kt_now_ms)
	rename2 "$M/d$n" "$M/r$n" || kt_fail "rename(2) of a directory of $n files failed"
	took=$(($(kt_now_ms) - t0))
	check_moved "d$n" "r$n" "$want" "$n"
	steps=$(($(stat_line M etcd_renames_in_steps) - before))
	kt_log "rename(2) of $((n + 7)) entries: $took ms ($([ $steps = 1 ] && echo "in steps" || echo "one transaction"))"
	[ $n = 10 ] && [ $steps != 0 ] && kt_fail "10 files took the path in steps"
	[ $n != 10 ] && [ $steps != 1 ] && kt_fail "$n files: $steps renames in steps"
	[ $n = 1000 ] && took1000=$took
done

# --- kill -9 at random points ---------------------------------------------
# Each key of the tree is under exactly one of the names at every point;
# the next mount completes the rename, or it never began.
make_tree k 1000
want=$(tree_of k)
names() { tree_of "$1" | awk '{ print $1, $2 }'; }
all=$(names k)
for round in 1 2 3; do
	delay=$((RANDOM % (took1000 > 100 ? took1000 : 100)))
	rename_killed "$M/k" "$M/k2" $delay
	both=$(LC_ALL=C comm -12 <(names k) <(names k2))
	[ -z "$both" ] || kt_fail "round $round (kill after $delay ms): under both names: $(echo "$both" | head -3)"
	[ "$(LC_ALL=C sort <(names k) <(names k2))" = "$all" ] ||
		kt_fail "round $round (kill after $delay ms): entries lost: $(LC_ALL=C comm -23 <(echo "$all") <(LC_ALL=C sort <(names k) <(names k2)) | head -3)"
	halfway="$(names k | wc -l) under k, $(names k2 | wc -l) under k2"
	kt_mount M "$opts"
	deadline=$(($(kt_now_ms) + 40000))
	until [ "$(stat_line M etcd_rename_completion)" = done ]; do
		[ "$(kt_now_ms)" -lt $deadline ] || kt_fail "round $round: the completion did not finish in 40 s"
		sleep 0.2
	done
	if [ -e "$M/k2" ]; then
		check_moved k k2 "$want" 1000
		kt_log "round $round: killed after $delay ms ($halfway); the next mount completed it ($(stat_line M etcd_renames_completed) completed)"
		rename2 "$M/k2" "$M/k" || kt_fail "rename of k2 back to k"
	else
		check_moved k2 k "$want" 1000
		kt_log "round $round: killed after $delay ms, before the rename began ($(tail -n 1 "$kt_work/mv.err"))"
	fi
done

# --- a step that fails: the mount itself completes it --------------------
# Two of three members frozen for longer than timeout=2s in the middle
# of the rename: the step fails, rename(2) with it; once the cluster
# answers again the mount's upkeep completes the rename, no remount.
completed=$(stat_line M etcd_renames_completed)
rename2 "$M/k" "$M/kq" 2>"$kt_work/mv.err" &
mover=$!
sleep "$(printf '%d.%03d' $((took1000 / 2000)) $((took1000 / 2 % 1000)))"
kt_freeze 1
kt_freeze 2
sleep 4
kt_thaw 1
kt_thaw 2
wait $mover && moved=yes || moved=no
if [ $moved = yes ]; then
	kt_log "the rename finished before the members froze: nothing to complete"
else
	grep -q 'Errno 110\]\|Errno 5\]' "$kt_work/mv.err" ||
		kt_fail "the rename with no quorum failed with: $(tail -n 1 "$kt_work/mv.err")"
	deadline=$(($(kt_now_ms) + 40000))
	until [ -z "$(kt_etcdctl get --prefix "${R}r/" --keys-only | sed '/^$/d')" ]; do
		[ "$(kt_now_ms)" -lt $deadline ] || kt_fail "the mount did not complete its rename in 40 s: $(names k | wc -l) under k, $(names kq | wc -l) under kq"
		sleep 0.5
	done
	why=$(tail -n 1 "$kt_work/mv.err" | sed 's/:.*//')
	if [ -z "$(names kq)" ]; then
		# The start itself found no quorum: nothing began.
		kt_log "the rename failed before it began ($why): nothing to complete"
	else
		[ "$(stat_line M etcd_renames_completed)" = $((completed + 1)) ] ||
			kt_fail "M completed $(($(stat_line M etcd_renames_completed) - completed)) renames, not its own 1"
		kt_log "a rename stopped by a lost quorum ($why) was completed by the same mount"
	fi
fi
if [ -n "$(names kq)" ]; then
	check_moved k kq "$want" 1000
	rename2 "$M/kq" "$M/k" || kt_fail "rename of kq back to k"
else
	check_moved kq k "$want" 1000
fi

# --- a rename that meets one left halfway ---------------------------------
# Left halfway by a dead mover, its lock gone with its lease: another
# mount's rename of the tree completes it first.
kt_mount B "$optsB"
rename_killed "$M/k" "$M/k3" $((took1000 / 2))
if [ -n "$(kt_etcdctl get --prefix "${R}r/" --keys-only | sed '/^$/d')" ]; then
	sleep 10 # the dead mover's lease runs out
	rename2 "$kt_work/B/k3" "$kt_work/B/k4" || kt_fail "B's rename of k3, left halfway, to k4"
	[ "$(stat_line B etcd_renames_completed)" = 1 ] || kt_fail "B completed $(stat_line B etcd_renames_completed) renames"
	kt_mount M "$opts"
	check_moved k k4 "$want" 1000
	[ -z "$(tree_of k3)" ] || kt_fail "left under k3: $(tree_of k3 | head -3)"
	kt_log "a rename of a tree left halfway completed it first"
else
	kt_log "the kill came before the rename began: nothing to meet"
fi
kt_umount B || kt_fail "B's daemon exited with status $?"
kt_finish
