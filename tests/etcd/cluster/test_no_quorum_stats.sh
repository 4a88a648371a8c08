#!/bin/bash
# test_no_quorum_stats.sh - what a mount of a 3-member etcd cluster answers
# about itself while the cluster has no quorum (two members frozen with
# kill -STOP, the one the mount prefers among them), timeout=5s:
#  - getfattr -n user.kvfs.stats of the mount root answers the first time
#    (which finds the cluster unreachable) after about the timeout, then
#    sooner than the timeout, from the daemon's own figures, with a line
#    saying since when the backend is unreachable;
#  - stat -f (df) and stat of the root answer sooner than the timeout:
#    df from the member still running or from the last answer, the same
#    size as with every member up; stat from the last answer;
#  - once the members are back, strong writes work again and the stats
#    say the backend is reachable (each polled for, up to 60 s: a loaded
#    machine may take a while to elect a leader again).
# "Sooner than the timeout" is what tells an answer from local state from
# one that waited for the cluster; the bound leaves a second of the
# timeout for a slow machine.
. "$KT_LIB"

timeout_ms=5000
local_ms=$((timeout_ms - 1000)) # answered without waiting for the cluster
bound_ms=$local_ms
prefix=/noquorum

kt_require_etcd
kt_init
kt_require_mount
kt_cluster_start 3 0 etcd

common="backend=etcd,endpoints=$KT_EPS,prefix=$prefix,timeout=${timeout_ms}ms"
kt_mount A "$common,prefer=0,journal=$kt_work/journal-A"
A=$kt_work/A
kt_put "$A/k" v || kt_fail "write with every member up"

# timed NAME CMD...: run CMD (60 s at most), its output in $kt_work/NAME,
# and fail unless it succeeds within bound_ms.
timed() {
	local name=$1 t0 t1 rc=0
	shift
	t0=$(kt_now_ms)
	timeout 60 "$@" >"$kt_work/$name" 2>"$kt_work/$name.err" || rc=$?
	t1=$(kt_now_ms)
	[ $rc = 0 ] || kt_fail "$name: status $rc after $((t1 - t0)) ms: $(cat "$kt_work/$name.err")"
	[ $((t1 - t0)) -le $bound_ms ] ||
		kt_fail "$name took $((t1 - t0)) ms (at most $bound_ms)"
	kt_log "$name answered in $((t1 - t0)) ms"
}

stats=(getfattr --absolute-names --only-values -n user.kvfs.stats "$A")

timed stats-up "${stats[@]}"
grep -q "^backend: reachable$" "$kt_work/stats-up" ||
	kt_fail "stats with every member up: $(grep '^backend' "$kt_work/stats-up")"
timed df-up stat -f -c '%b %f' "$A"
df_up=$(cat "$kt_work/df-up")

kt_freeze 0
kt_freeze 1
kt_log "members 0 (preferred) and 1 frozen: no quorum"
# The first request that needs the cluster finds out, within the
# timeout: here the stat of the root that getfattr makes, which is then
# answered from the last attributes.
bound_ms=$((timeout_ms + 5000))
timed stats-first "${stats[@]}"
bound_ms=$local_ms

timed stats-down "${stats[@]}"
grep -Eq '^backend: unreachable since [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z \([0-9]+ s\): ' "$kt_work/stats-down" ||
	kt_fail "stats without quorum say: $(grep '^backend' "$kt_work/stats-down" || echo nothing about the backend)"
grep -q '^strong: ops=' "$kt_work/stats-down" || kt_fail "stats without quorum lack the figures"
kt_log "no quorum: $(grep '^backend' "$kt_work/stats-down")"
timed df-down stat -f -c '%b %f' "$A"
# A member's status needs no quorum: the member still running may answer
# with figures of its own (its free space moves as etcd writes), else the
# last answer is given. Either way the size is the cluster's.
read -r blocks_down free_down <"$kt_work/df-down"
[ "$blocks_down" = "${df_up% *}" ] && [ "$free_down" -le "$blocks_down" ] ||
	kt_fail "df without quorum: '$(cat "$kt_work/df-down")', with every member up: '$df_up'"
timed stat-root stat "$A"

kt_thaw 0
kt_thaw 1
# poll SECONDS CMD...: run CMD until it succeeds; status 1 when it has
# not after SECONDS.
poll() {
	local deadline=$(($(kt_now_ms) + $1 * 1000))
	shift
	until "$@"; do
		[ "$(kt_now_ms)" -lt $deadline ] || return 1
		sleep 0.2
	done
}
reachable() {
	timeout 60 "${stats[@]}" >"$kt_work/stats-back" 2>&1 &&
		grep -q "^backend: reachable$" "$kt_work/stats-back"
}
poll 60 kt_put "$A/k" back 20 || kt_fail "no strong write within 60 s of the thaw"
kt_log "a strong write works again"
poll 60 reachable ||
	kt_fail "stats 60 s after the thaw: $(grep '^backend' "$kt_work/stats-back" || cat "$kt_work/stats-back")"
kt_log "stats: $(grep '^backend' "$kt_work/stats-back")"
[ "$(kt_cat "$A/k")" = back ] || kt_fail "k after the thaw: '$(kt_cat "$A/k")'"
kt_umount A || kt_fail "daemon exit status"
kt_finish
