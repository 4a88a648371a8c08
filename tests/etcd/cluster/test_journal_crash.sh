#!/bin/bash
# test_journal_crash.sh - eventual writes survive kill -9 of kvfs: with the
# quorum stopped (so that the writes stay in the local journal), kvfs
# acknowledges 20 eventual writes to distinct files and 20 overwrites of
# one file, and is then killed with SIGKILL. None of the writes is in etcd
# at that point. After the quorum is back and kvfs is started again on the
# same journal, every write reaches etcd, none is lost, and etcd's history
# (etcdctl watch from revision 1) shows them in write order.
. "$KT_LIB"

kt_require_etcd
kt_init
kt_require_mount
kt_cluster_start 3 0 etcd

prefix=/crash
journal=$kt_work/journal-A
opts="backend=etcd,endpoints=$KT_EPS,prefix=$prefix,prefer=0,journal=$journal,timeout=3s"
kt_mount A "$opts"
A=$kt_work/A
mkdir "$A/eventual" || kt_fail "mkdir eventual"
kt_set_level "$A/eventual" eventual
kt_put "$A/eventual/base" "base" || kt_fail "baseline write"
deadline=$(($(kt_now_ms) + 15000))
until kt_etcdctl get --prefix "$prefix/" --print-value-only | grep -qxF base; do
	[ "$(kt_now_ms)" -lt $deadline ] || kt_fail "the baseline write never reached etcd"
	sleep 0.1
done

# Stop the quorum: the journal cannot drain.
"$KT_SCRIPT" kill --dir "$KT_ETCD_DIR" --member 1 || kt_fail "kill member 1"
"$KT_SCRIPT" kill --dir "$KT_ETCD_DIR" --member 2 || kt_fail "kill member 2"
# A leader without a quorum steps down only after the election timeout
# (500 ms here); an entry it appended before that is committed once the
# others return (as for any etcd client, a timed out write may still take
# effect). Let member 0 notice first, so that nothing can reach etcd.
sleep 1.5
tag=$RANDOM$RANDOM
acked=()
slowest=0
for i in $(seq 1 20); do
	t0=$(kt_now_ms)
	if kt_put "$A/eventual/f$i" "crash-$tag-$i" 20 2>>"$kt_work/put.err"; then
		acked+=("$i")
	else
		kt_fail_later "eventual write f$i not acknowledged without a quorum: $(tail -n 1 "$kt_work/put.err")"
	fi
	t1=$(kt_now_ms)
	kt_put "$A/eventual/ord" "ord-$tag-$i" 20 2>>"$kt_work/put.err" ||
		kt_fail_later "eventual overwrite $i not acknowledged without a quorum: $(tail -n 1 "$kt_work/put.err")"
	t2=$(kt_now_ms)
	[ $((t1 - t0)) -gt $slowest ] && slowest=$((t1 - t0))
	[ $((t2 - t1)) -gt $slowest ] && slowest=$((t2 - t1))
done
# An eventual write goes to the journal: it must never wait for the
# quorum, i.e. for the 3 s request timeout.
[ $slowest -lt 2000 ] ||
	kt_fail_later "an eventual write took $slowest ms to be acknowledged without a quorum (request timeout 3000 ms)"
[ ${#acked[@]} -gt 0 ] || kt_fail "no eventual write was acknowledged without a quorum"
kt_log "${#acked[@]} of 20 new files and the overwrites acknowledged without a quorum (slowest $slowest ms)"
[ -n "$(ls -A "$journal" 2>/dev/null)" ] || kt_fail "the journal directory $journal is empty"
kt_crash A
kt_log "kvfs killed with SIGKILL; journal: $(du -sh "$journal" | cut -f1)"

# Quorum back, kvfs still down: nothing can have reached etcd.
"$KT_SCRIPT" restart --dir "$KT_ETCD_DIR" --member 1 || kt_fail "restart member 1"
"$KT_SCRIPT" restart --dir "$KT_ETCD_DIR" --member 2 || kt_fail "restart member 2"
kt_wait_leader
if kt_etcdctl get --prefix "$prefix/" --print-value-only | grep -q "^crash-$tag-\|^ord-$tag-"; then
	kt_fail "writes reached etcd while kvfs was dead: the test did not keep them in the journal"
fi

restart=$(kt_now_ms)
kt_mount A "$opts"
deadline=$((restart + 30000))
for i in "${acked[@]}"; do
	until kt_etcdctl get --prefix "$prefix/" --print-value-only | grep -qxF "crash-$tag-$i"; do
		[ "$(kt_now_ms)" -lt $deadline ] ||
			kt_fail "journal replay: f$i (crash-$tag-$i) never reached etcd: lost"
		sleep 0.1
	done
done
until kt_etcdctl get --prefix "$prefix/" --print-value-only | grep -qxF "ord-$tag-20"; do
	[ "$(kt_now_ms)" -lt $deadline ] || kt_fail "journal replay: the last overwrite of ord never reached etcd"
	sleep 0.1
done
kt_log "all acknowledged writes replicated $(($(kt_now_ms) - restart)) ms after kvfs restarted"

# Write order in etcd's history: f1, ord=1, f2, ord=2, ... ; overwrites of
# ord may be merged, but nothing may come back out of order.
ETCDCTL_API=3 timeout 2 etcdctl --endpoints="$KT_EPS" watch --prefix "$prefix/" --rev=1 \
	>"$kt_work/history" 2>/dev/null
seq_order=$(grep -E "^(crash|ord)-$tag-[0-9]+$" "$kt_work/history" |
	awk -F- '{ n = $3 * 2 - ($1 == "crash"); print n }')
[ -n "$seq_order" ] || kt_fail "no replicated value in etcd's history"
echo "$seq_order" | awk '
	$1 < prev { printf "write %d came after write %d\n", $1, prev; bad = 1 }
	{ prev = $1 }
	END { exit bad }' >"$kt_work/order" ||
	kt_fail "journal replay out of order in etcd's history: $(head -3 "$kt_work/order")"
for i in "${acked[@]}"; do
	n=$(grep -cxF "crash-$tag-$i" "$kt_work/history")
	[ "$n" -ge 1 ] || kt_fail "f$i missing from etcd's history"
done
kt_log "etcd's history has the writes in write order ($(echo "$seq_order" | wc -l) events)"

# The value a fresh read sees is the last one written.
got=$(kt_cat "$A/eventual/ord") || kt_fail "read ord"
[ "$got" = "ord-$tag-20" ] || kt_fail "ord reads '$got', expected the last write ord-$tag-20"
kt_umount A
kt_finish
