#!/bin/bash
# test_no_quorum_stats.sh - what a mount of a 3-member etcd cluster answers
# about itself while the cluster has no quorum (two members frozen with
# kill -STOP, the one the mount prefers among them), timeout=3s:
#  - getfattr -n user.kvfs.stats of the mount root answers within the
#    timeout the first time (which finds the cluster unreachable), then
#    within 2 s, from the daemon's own figures, with a line saying since
#    when the backend is unreachable;
#  - stat -f (df) answers within 2 s, from the last answer the cluster
#    gave;
#  - once the members are back, the stats say the backend is reachable
#    again and df answers from the cluster.
. "$KT_LIB"

timeout_ms=3000
bound_ms=2000
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
bound_ms=$((timeout_ms + 1000))
timed stats-first "${stats[@]}"
bound_ms=2000

timed stats-down "${stats[@]}"
grep -Eq '^backend: unreachable since [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z \([0-9]+ s\): ' "$kt_work/stats-down" ||
	kt_fail "stats without quorum say: $(grep '^backend' "$kt_work/stats-down" || echo nothing about the backend)"
grep -q '^strong: ops=' "$kt_work/stats-down" || kt_fail "stats without quorum lack the figures"
kt_log "no quorum: $(grep '^backend' "$kt_work/stats-down")"
timed df-down stat -f -c '%b %f' "$A"
[ "$(cat "$kt_work/df-down")" = "$df_up" ] ||
	kt_fail "df without quorum: '$(cat "$kt_work/df-down")', the last answer was '$df_up'"
timed stat-root stat "$A"

kt_thaw 0
kt_thaw 1
deadline=$(($(kt_now_ms) + 30000))
until kt_put "$A/k" back 10 2>/dev/null; do
	[ "$(kt_now_ms)" -lt $deadline ] || kt_fail "no strong write within 30 s of the thaw"
	sleep 0.2
done
timed stats-back "${stats[@]}"
grep -q "^backend: reachable$" "$kt_work/stats-back" ||
	kt_fail "stats after the thaw: $(grep '^backend' "$kt_work/stats-back")"
kt_umount A || kt_fail "daemon exit status"
kt_finish
