#!/bin/bash
# test_linearizable.sh - concurrent strong reads and writes of a few keys
# by several processes on two mounts (A prefers member 0, B member 1) of a
# 3-member cluster, each recording CLOCK_MONOTONIC call and return times
# (kvfs-lin-client); the merged history must pass kvfs-lincheck.
. "$KT_LIB"

clients_per_mount=${KT_LIN_CLIENTS:-3}
duration_ms=${KT_LIN_DURATION_MS:-4000}

kt_require_etcd
kt_init
kt_require_mount
[ -x "$KT_BIN_DIR/kvfs-lin-client" ] || kt_skip "kvfs-lin-client is not built"
[ -x "$KT_BIN_DIR/kvfs-lincheck" ] || kt_skip "kvfs-lincheck is not built"
kt_cluster_start 3 0 etcd

common="backend=etcd,endpoints=$KT_EPS,prefix=/lin"
kt_mount A "$common,prefer=0,journal=$kt_work/journal-A"
kt_mount B "$common,prefer=1,journal=$kt_work/journal-B"
mkdir "$kt_work/A/lin" || kt_fail "mkdir lin"
kt_set_level "$kt_work/A/lin" strong
got=$(timeout 20 getfattr --absolute-names --only-values -n user.kvfs.consistency.effective "$kt_work/B/lin")
[ "$got" = strong ] || kt_fail "B/lin is '$got', not strong"

# Create the keys first (a file being created is empty for a moment, on
# any filesystem); those writes are part of the history.
"$KT_BIN_DIR/kvfs-lin-client" --dir "$kt_work/A/lin" --process init --keys 3 \
	--init --out "$kt_work/history-init" >>"$kt_work/clients.log" 2>&1 ||
	kt_fail "creating the keys: $(cat "$kt_work/clients.log")"
clients=()
for m in A B; do
	for i in $(seq 1 "$clients_per_mount"); do
		"$KT_BIN_DIR/kvfs-lin-client" --dir "$kt_work/$m/lin" --process "$m$i" \
			--keys 3 --duration-ms "$duration_ms" --write-percent 50 \
			--seed "$i$RANDOM" --out "$kt_work/history-$m$i" \
			>>"$kt_work/clients.log" 2>&1 &
		clients+=($!)
		kt_pids+=($!)
	done
done
failed=0
for p in "${clients[@]}"; do
	wait "$p" || failed=1
done
cat "$kt_work/clients.log"
[ $failed = 0 ] || kt_fail "a client failed"
ops=$(cat "$kt_work"/history-* | wc -l)
maybe=$(cat "$kt_work"/history-* | awk '$6 == "?"' | wc -l)
kt_log "history: $ops operations ($maybe writes of unknown outcome) by $((2 * clients_per_mount)) processes in $duration_ms ms"
[ "$ops" -ge 20 ] || kt_fail "too few operations ($ops) to say anything"

"$KT_BIN_DIR/kvfs-lincheck" "$kt_work"/history-* >"$kt_work/lincheck.out"
rc=$?
cat "$kt_work/lincheck.out"
case $rc in
0) kt_log "linearizable" ;;
1) KT_KEEP=1; kt_fail "strong reads and writes through kvfs are NOT linearizable (histories kept in $kt_work)" ;;
2) kt_fail "the checker hit its search bound" ;;
*) kt_fail "kvfs-lincheck failed ($rc)" ;;
esac
kt_umount A
kt_umount B
kt_finish
