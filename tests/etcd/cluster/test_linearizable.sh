#!/bin/bash
# test_linearizable.sh - concurrent strong reads and writes of a few keys
# by several processes on two mounts (A prefers member 0, B member 1) of a
# 3-member cluster, each recording CLOCK_MONOTONIC call and return times
# (kvfs-lin-client); the merged history must pass kvfs-lincheck. Twice: on
# a healthy cluster, and while the leader is killed and restarted.
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

# start_phase DIR TAG: create the keys, run the clients on both mounts (in
# the background while the caller disturbs the cluster), check the history.
start_phase() {
	local dir=$1 tag=$2
	# Create the keys first (a file being created is empty for a moment, on
	# any filesystem); those writes are part of the history.
	"$KT_BIN_DIR/kvfs-lin-client" --dir "$kt_work/A/$dir" --process init --keys 3 \
		--init --out "$kt_work/$tag-history-init" >>"$kt_work/clients.log" 2>&1 ||
		kt_fail "creating the keys: $(cat "$kt_work/clients.log")"
	clients=()
	for m in A B; do
		for i in $(seq 1 "$clients_per_mount"); do
			"$KT_BIN_DIR/kvfs-lin-client" --dir "$kt_work/$m/$dir" --process "$m$i" \
				--keys 3 --duration-ms "$duration_ms" --write-percent 50 \
				--seed "$i$RANDOM" --out "$kt_work/$tag-history-$m$i" \
				>>"$kt_work/$tag-clients.log" 2>&1 &
			clients+=($!)
			kt_pids+=($!)
		done
	done
}

check_phase() {
	local tag=$1 failed=0 p ops maybe rc
	for p in "${clients[@]}"; do
		wait "$p" || failed=1
	done
	cat "$kt_work/$tag-clients.log"
	[ $failed = 0 ] || kt_fail "$tag: a client failed"
	ops=$(cat "$kt_work/$tag"-history-* | wc -l)
	maybe=$(cat "$kt_work/$tag"-history-* | awk '$6 == "?"' | wc -l)
	kt_log "$tag: $ops operations ($maybe writes of unknown outcome) by $((2 * clients_per_mount)) processes in $duration_ms ms"
	[ "$ops" -ge 20 ] || kt_fail "$tag: too few operations ($ops) to say anything"
	"$KT_BIN_DIR/kvfs-lincheck" "$kt_work/$tag"-history-* >"$kt_work/$tag-lincheck.out"
	rc=$?
	cat "$kt_work/$tag-lincheck.out"
	case $rc in
	0) kt_log "$tag: linearizable" ;;
	1) KT_KEEP=1
	   kt_fail_later "$tag: strong reads and writes through kvfs are NOT linearizable (histories kept in $kt_work)" ;;
	2) kt_fail_later "$tag: the checker hit its search bound" ;;
	*) kt_fail "$tag: kvfs-lincheck failed ($rc)" ;;
	esac
}

# Phase 1: a healthy cluster.
start_phase lin calm
check_phase calm

# Phase 2: the leader is killed after a second and restarted two seconds
# later, while the clients run; failed writes count as "maybe applied".
mkdir "$kt_work/A/lin2" || kt_fail "mkdir lin2"
kt_set_level "$kt_work/A/lin2" strong
start_phase lin2 failover
sleep 1
leader=$("$KT_SCRIPT" leader --dir "$KT_ETCD_DIR") || kt_fail "no leader"
"$KT_SCRIPT" kill --dir "$KT_ETCD_DIR" --member "$leader" || kt_fail "kill the leader"
kt_log "failover: leader (member $leader) killed"
sleep 2
"$KT_SCRIPT" restart --dir "$KT_ETCD_DIR" --member "$leader" || kt_fail "restart member $leader"
kt_log "failover: member $leader restarted"
check_phase failover
kt_umount A
kt_umount B
kt_finish
