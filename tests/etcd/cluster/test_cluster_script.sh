#!/bin/bash
# test_cluster_script.sh - mount-scripts/etcd-cluster end to end: start a
# 3-member cluster, put and get with etcdctl, kill one member and check the
# cluster still answers, restart it, stop everything, and check that no
# member process or listening port is left behind.
#
# Usage: test_cluster_script.sh ETCD-CLUSTER-SCRIPT BASE-PORT
set -u
script=$1
base=$2

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

command -v etcd >/dev/null || { echo "SKIPPED: etcd not installed (etcd-server)"; exit 77; }
command -v etcdctl >/dev/null || { echo "SKIPPED: etcdctl not installed (etcd-client)"; exit 77; }

dir=$(mktemp -d /tmp/kvfs-etcd-script.XXXXXX) || fail "mktemp"
pids=()
cleanup() {
	"$script" stop --dir "$dir" --timeout 5 >/dev/null 2>&1
	for p in "${pids[@]+"${pids[@]}"}"; do
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$dir"
}
trap cleanup EXIT

ctl() {
	ETCDCTL_API=3 timeout 20 etcdctl --endpoints="$eps" --dial-timeout=2s \
		--command-timeout=5s "$@"
}

# Usage errors are one line plus a hint, exit 2.
out=$("$script" start 2>&1)
[ $? -eq 2 ] || fail "start without --dir should exit 2"
echo "$out" | grep -q -- "--dir" || fail "usage message should name --dir: $out"
"$script" --help | grep -q "restart" || fail "--help should describe restart"

start=$(date +%s%N)
eps=$("$script" start --members 3 --base-port "$base" --dir "$dir") ||
	fail "start failed: $(tail -3 "$dir"/member-*.log 2>/dev/null)"
echo "started in $((($(date +%s%N) - start) / 1000000)) ms: $eps"
[ "$eps" = "http://127.0.0.1:$base,http://127.0.0.1:$((base + 2)),http://127.0.0.1:$((base + 4))" ] ||
	fail "unexpected endpoints '$eps'"
[ "$("$script" endpoints --dir "$dir")" = "$eps" ] || fail "endpoints differs from start"
[ "$("$script" endpoints --dir "$dir" --member 1)" = "http://127.0.0.1:$((base + 2))" ] ||
	fail "endpoints --member 1"
for i in 0 1 2; do
	[ -s "$dir/member-$i.pid" ] || fail "no pid file for member $i"
	[ -d "$dir/member-$i" ] || fail "no data dir for member $i"
	[ -s "$dir/member-$i.log" ] || fail "no log for member $i"
	pids+=("$(cat "$dir/member-$i.pid")")
done
"$script" start --members 3 --base-port "$base" --dir "$dir" 2>/dev/null &&
	fail "a second start on the same directory must fail"

ctl put /t/a one >/dev/null || fail "put"
[ "$(ctl get --print-value-only /t/a)" = one ] || fail "get after put"

# Kill the leader: the others elect a new one and keep serving.
leader=$("$script" leader --dir "$dir") || fail "no leader"
"$script" kill --dir "$dir" --member "$leader" || fail "kill member $leader"
[ -r "/proc/${pids[leader]}/cmdline" ] &&
	[ -n "$(tr -d '\0' <"/proc/${pids[leader]}/cmdline")" ] && fail "member $leader still alive"
[ ! -e "$dir/member-$leader.pid" ] || fail "pid file of a killed member left"
new=$("$script" leader --dir "$dir") || fail "no new leader after killing member $leader"
[ "$new" != "$leader" ] || fail "the killed member is still reported as leader"
ctl put /t/b two >/dev/null || fail "put with one member down"
[ "$(ctl get --print-value-only /t/b)" = two ] || fail "get with one member down"
"$script" health --dir "$dir" >/dev/null && fail "health should report member $leader down"

"$script" restart --dir "$dir" --member "$leader" || fail "restart member $leader"
pids+=("$(cat "$dir/member-$leader.pid")")
m=$("$script" endpoints --dir "$dir" --member "$leader")
[ "$(ETCDCTL_API=3 etcdctl --endpoints="$m" get --print-value-only /t/b)" = two ] ||
	fail "restarted member $leader does not serve the write made while it was down"
"$script" health --dir "$dir" >/dev/null || fail "health after restart"

"$script" stop --dir "$dir" || fail "stop"
for p in "${pids[@]}"; do
	if [ -r "/proc/$p/cmdline" ] && [ -n "$(tr -d '\0' <"/proc/$p/cmdline")" ]; then
		fail "process $p survived stop"
	fi
done
for ((port = base; port < base + 6; port++)); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && fail "port $port still open"
done
ls "$dir"/member-*.pid >/dev/null 2>&1 && fail "pid files left after stop"
echo "PASS"
