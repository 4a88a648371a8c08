#!/bin/bash
# test_chunks.sh - no leftovers of large values (lib/docs/etcd.md, "Values
# over one request"): on a 3-member cluster,
#  - a value over one request is stored as chunks, and once published no
#    write marker of it is left;
#  - a write refused with EFBIG leaves no file and no key;
#  - a mount collects, at its start, the chunks nothing refers to: those
#    of a writer that died (its marker's lease ran out), those of values
#    that another client overwrote or deleted (with their stale metadata),
#    while the chunks of live values and of a writer still at work (its
#    marker under a live lease) stay, and every file reads as before.
. "$KT_LIB"

kt_require_etcd
kt_init
kt_require_mount
kt_cluster_start 3 0 etcd

P=/big/
R=/big.kvfs/
opts="backend=etcd,endpoints=$KT_EPS,prefix=${P%/},journal=$kt_work/journal"
kt_mount M "$opts"
M=$kt_work/M

# The keys under $1, one a line, sorted.
keys_under() {
	kt_etcdctl get --prefix "$1" --keys-only | sed '/^$/d' | LC_ALL=C sort
}
# The chunk generations (R c/<gen>) with keys, sorted.
gens() {
	keys_under "${R}c/" | sed "s|^${R}c/||; s|/.*||" | sort -u
}
stat_line() {
	getfattr -n user.kvfs.stats --only-values "$M" 2>/dev/null | sed -n "s/^$1: //p"
}

head -c 3000000 /dev/urandom >"$kt_work/a"
head -c 2000000 /dev/urandom >"$kt_work/b"
cp "$kt_work/a" "$M/live" || kt_fail "cp of a 3 MB file failed"
cp "$kt_work/b" "$M/overwritten" || kt_fail "cp of a 2 MB file failed"
cp "$kt_work/b" "$M/deleted" || kt_fail "cp of a 2 MB file failed"
[ "$(gens | wc -l)" = 3 ] || kt_fail "3 large values, chunk generations: $(gens | tr '\n' ' ')"
keys_under "${R}c/" | grep -Eq "^${R}c/[0-9a-f]{32}\$" &&
	kt_fail "a published value left its write marker: $(keys_under "${R}c/" | grep -E "c/[0-9a-f]{32}\$")"
live_gen=$(kt_etcdctl get "${R}m/live" --print-value-only | sed 's/.*"g": *"\([0-9a-f]*\)".*/\1/')
[ ${#live_gen} = 32 ] || kt_fail "no generation in the metadata of live: $(kt_etcdctl get "${R}m/live")"
kt_log "3 large values stored, each as one generation of chunks, no marker left"

# A refused write (over max_value=, 16 MiB) leaves nothing behind.
before=$(keys_under /big)
head -c 20000000 /dev/zero >"$kt_work/huge"
if cp "$kt_work/huge" "$M/huge" 2>"$kt_work/cp.err"; then
	kt_fail "cp of 20 MB succeeded over max_value=16M"
fi
grep -q "File too large" "$kt_work/cp.err" || kt_fail "cp of 20 MB: $(cat "$kt_work/cp.err"), expected EFBIG"
[ -e "$M/huge" ] && kt_fail "the refused cp left a file huge"
[ "$(keys_under /big)" = "$before" ] || kt_fail "the refused cp changed the keys: $(diff <(echo "$before") <(keys_under /big))"
kt_log "a write refused with EFBIG left no file and no key"

# Leftovers of every kind, made by hand as they come about:
# another client overwrites one value and deletes another...
kt_etcdctl put "${P}overwritten" small >/dev/null || kt_fail "etcdctl put"
kt_etcdctl del "${P}deleted" >/dev/null || kt_fail "etcdctl del"
# ...a writer died: its chunks, its marker gone with its lease...
orphan=0123456789abcdef0123456789abcdef
kt_etcdctl put "${R}c/$orphan/00000000" "chunk of a dead writer" >/dev/null
# ...and one is still at work: its marker under a live lease.
pending=fedcba9876543210fedcba9876543210
lease=$(kt_etcdctl lease grant 300 | awk '{ print $2 }')
kt_etcdctl put --lease="$lease" "${R}c/$pending" "at work" >/dev/null || kt_fail "put of a marker"
kt_etcdctl put "${R}c/$pending/00000000" "chunk at work" >/dev/null

kt_umount M || kt_fail "the daemon exited with status $?"
kt_mount M "$opts"
deadline=$(($(kt_now_ms) + 20000))
until [ "$(stat_line etcd_chunk_collection)" = done ]; do
	[ "$(kt_now_ms)" -lt $deadline ] || kt_fail "the collection did not finish in 20 s: $(stat_line etcd_chunk_collection)"
	sleep 0.1
done
want=$(printf '%s\n' "$live_gen" "$pending" | sort)
[ "$(gens)" = "$want" ] ||
	kt_fail "after the collection, generations: $(gens | tr '\n' ' '); want live's and the one at work: $(echo $want)"
[ "$(stat_line etcd_chunk_generations_collected)" = 3 ] ||
	kt_fail "stats say $(stat_line etcd_chunk_generations_collected) generations collected, want 3"
[ "$(stat_line etcd_stale_records_collected)" = 2 ] ||
	kt_fail "stats say $(stat_line etcd_stale_records_collected) stale records collected, want 2"
keys_under "${R}m/" | grep -qx "${R}m/overwritten" && kt_fail "the stale metadata of overwritten stayed"
cmp "$kt_work/a" "$M/live" || kt_fail "live no longer reads whole after the collection"
[ "$(cat "$M/overwritten")" = small ] || kt_fail "overwritten reads '$(head -c 40 "$M/overwritten")', not etcdctl's value"
[ -e "$M/deleted" ] && kt_fail "deleted is back"
kt_log "the mount collected 3 generations (dead writer, overwritten, deleted), kept live's and the one at work"

# A new large write after the collection works and leaves no marker.
cp "$kt_work/b" "$M/again" || kt_fail "cp after the collection failed"
cmp "$kt_work/b" "$M/again" || kt_fail "again does not read back"
keys_under "${R}c/" | grep -E "^${R}c/[0-9a-f]{32}\$" | grep -vq "$pending" &&
	kt_fail "a published value left its write marker"

kt_umount M || kt_fail "the daemon exited with status $?"
kt_finish
