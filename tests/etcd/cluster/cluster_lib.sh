# shellcheck shell=bash
# cluster_lib.sh - shared helpers of the etcd cluster tests (sourced): a
# work directory, a local etcd cluster started with mount-scripts/etcd-cluster,
# kvfs mounts of it, and a cleanup trap that unmounts, stops every process the
# test started (by pid) and stops the cluster, also when the test fails.
#
# The test sets before sourcing, or passes in the environment:
#   KT_NAME         test name (for messages and the work directory)
#   KT_BASE_PORT    first port of this test's cluster (ports P .. P+2N-1)
#   KT_SCRIPT       path of mount-scripts/etcd-cluster
#   KT_KVFS         path of the kvfs daemon
#   KT_BIN_DIR      directory of the test programs (kvfs-lincheck ...)
#   KT_REAP         tests/mount/reap.c: starts a detaching daemon and
#                   reports its pid and exit status
# Keep the work directory for inspection with KT_KEEP=1.

set -u

kt_mounts=()     # mount points we mounted
kt_pids=()       # pids of processes we started (clients, reap)
kt_daemons=()    # "daemon-pid:reap-pid" of the kvfs daemons we started
kt_clusters=()   # cluster directories we started
kt_work=""

kt_log() {
	echo "[$KT_NAME $(date +%T.%3N)] $*"
}

kt_skip() {
	echo "SKIPPED: $*"
	exit 77
}

# Print the end of every log in the work directory, then fail.
kt_fail() {
	echo "FAIL: $*" >&2
	if [ -n "$kt_work" ]; then
		for f in "$kt_work"/*.log; do
			[ -e "$f" ] || continue
			echo "---- last lines of $f" >&2
			tail -n 15 "$f" | grep -v '^{"level":"info"' >&2
		done
	fi
	exit 1
}

# A failure that does not stop the test: reported again at kt_finish, which
# then fails. For checks whose failure leaves the rest worth running.
kt_deferred=()
kt_fail_later() {
	echo "FAIL (continuing): $*" >&2
	kt_deferred+=("$*")
}

# End of a test: fail if kt_fail_later was called, else print PASS.
kt_finish() {
	local f
	if [ ${#kt_deferred[@]} -gt 0 ]; then
		for f in "${kt_deferred[@]}"; do
			echo "FAIL: $f" >&2
		done
		exit 1
	fi
	kt_log "PASS"
}

kt_now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

kt_require_etcd() {
	command -v etcd >/dev/null || kt_skip "etcd not installed (Debian package etcd-server)"
	command -v etcdctl >/dev/null || kt_skip "etcdctl not installed (Debian package etcd-client)"
}

# The kvfs daemon, /dev/fuse and fusermount3, and an etcd backend built into
# the library (probed with a mount attempt against a closed port, which
# must fail). Call after kt_init.
kt_require_mount() {
	local probe out
	[ -x "$KT_KVFS" ] || kt_skip "the kvfs daemon is not built ($KT_KVFS)"
	[ -c /dev/fuse ] || kt_skip "/dev/fuse is missing"
	command -v fusermount3 >/dev/null || kt_skip "fusermount3 not installed (Debian package fuse3)"
	command -v getfattr >/dev/null || kt_skip "getfattr not installed (Debian package attr)"
	probe=$kt_work/probe
	mkdir -p "$probe"
	out=$(timeout 30 "$KT_KVFS" "$probe" -o backend=etcd,endpoints=http://127.0.0.1:9 -f 2>&1)
	if kt_is_mounted "$probe"; then
		fusermount3 -u "$probe" 2>/dev/null || fusermount3 -uz "$probe"
	fi
	rmdir "$probe" 2>/dev/null
	case $out in
	*"unknown backend"*)
		kt_skip "the kvfs daemon was built without the etcd backend ($out)" ;;
	esac
}

# Is pid $1 still a child of this shell? (A pid that exited may already
# belong to someone else: never signal it then.)
kt_ours() {
	local ppid
	ppid=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f2)
	[ "$ppid" = "$$" ]
}

# Is daemon $1 still ours, a child of its reap process $2?
kt_daemon_ours() {
	local ppid
	ppid=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f2)
	[ "$ppid" = "$2" ]
}

kt_cleanup() {
	local rc=$? m p d
	trap - EXIT INT TERM
	for m in "${kt_mounts[@]+"${kt_mounts[@]}"}"; do
		if kt_is_mounted "$m"; then
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null
		fi
	done
	for p in "${kt_pids[@]+"${kt_pids[@]}"}"; do
		kt_ours "$p" && kill -TERM "$p" 2>/dev/null
	done
	# Each daemon ends on its own once unmounted; one that does not gets
	# TERM, then KILL. Its reap gives its exit status, which must be 0.
	for d in "${kt_daemons[@]+"${kt_daemons[@]}"}"; do
		local pid=${d%:*} reap=${d#*:} st=0
		for _ in $(seq 25); do
			kt_daemon_ours "$pid" "$reap" || break
			sleep 0.2
		done
		if kt_daemon_ours "$pid" "$reap"; then
			echo "FAIL: kvfs pid $pid still runs 5 s after its unmount" >&2
			[ $rc = 0 ] && rc=1
			kill -TERM "$pid" 2>/dev/null
			sleep 2
			kt_daemon_ours "$pid" "$reap" && kill -KILL "$pid" 2>/dev/null
		fi
		wait "$reap" 2>/dev/null || st=$?
		if [ $st != 0 ] && [ $rc = 0 ]; then
			echo "FAIL: kvfs pid $pid exited with status $st" >&2
			rc=1
		fi
	done
	for p in "${kt_pids[@]+"${kt_pids[@]}"}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kt_ours "$p" || break
			sleep 0.2
		done
		kt_ours "$p" && kill -KILL "$p" 2>/dev/null
	done
	for d in "${kt_clusters[@]+"${kt_clusters[@]}"}"; do
		"$KT_SCRIPT" stop --dir "$d" --timeout 5 >/dev/null 2>&1
	done
	if [ -n "$kt_work" ]; then
		if [ "${KT_KEEP:-0}" = 1 ]; then
			echo "work directory kept: $kt_work"
		else
			local busy=0
			for m in "${kt_mounts[@]+"${kt_mounts[@]}"}"; do
				kt_is_mounted "$m" && fusermount3 -uz "$m" 2>/dev/null
				kt_is_mounted "$m" && busy=1
			done
			# Never recurse into a mount that is still there.
			if [ $busy = 0 ]; then
				rm -rf --one-file-system "$kt_work"
			else
				echo "still mounted, not removed: $kt_work" >&2
			fi
		fi
	fi
	exit $rc
}

kt_init() {
	kt_work=$(mktemp -d "/tmp/kvfs-$KT_NAME.XXXXXX") || kt_fail "mktemp"
	trap kt_cleanup EXIT
	trap 'exit 1' INT TERM
}

# Start an N-member cluster at KT_BASE_PORT + $2 (default 0) under the work
# directory, named $3 (default "etcd"); sets KT_EPS (comma-separated) and
# KT_ETCD_DIR. Extra arguments after the first three go to etcd-cluster.
kt_cluster_start() {
	local n=${1:-3} off=${2:-0} name=${3:-etcd}
	shift 3 2>/dev/null || shift $#
	KT_ETCD_DIR=$kt_work/$name
	kt_clusters+=("$KT_ETCD_DIR")
	KT_EPS=$("$KT_SCRIPT" start --members "$n" --base-port $((KT_BASE_PORT + off)) \
		--dir "$KT_ETCD_DIR" "$@") || kt_fail "cannot start the etcd cluster"
	kt_log "cluster up: $KT_EPS"
}

# etcdctl against the test's cluster (all endpoints).
kt_etcdctl() {
	ETCDCTL_API=3 timeout 30 etcdctl --endpoints="$KT_EPS" --dial-timeout=2s \
		--command-timeout=5s "$@"
}

# Wait until the surviving members have a leader (after a kill).
kt_wait_leader() {
	"$KT_SCRIPT" leader --dir "$KT_ETCD_DIR" --timeout "${1:-15}" >/dev/null ||
		kt_fail "the cluster has no leader"
}

kt_is_mounted() {
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts
}

# kt_mount NAME OPTIONS: mount kvfs at $kt_work/NAME with -o OPTIONS as
# users do: the daemon detaches, and the mount is there when kvfs returns.
# What it prints before it detaches goes to $kt_work/NAME.log. Sets
# KT_PID_<NAME> (the daemon) and KT_REAP_<NAME> (our child that reports
# its exit status) and prints nothing. Fails the test if kvfs fails or
# does not return within 30 s.
kt_mount() {
	local name=$1 opts=$2 mnt=$kt_work/$1 reap pid deadline
	local var=${name//[^A-Za-z0-9_]/_}
	mkdir -p "$mnt"
	rm -f "$kt_work/$name.pid"
	"$KT_REAP" "$kt_work/$name.pid" "$KT_KVFS" "$mnt" -o "$opts" \
		>>"$kt_work/$name.log" 2>&1 &
	reap=$!
	kt_mounts+=("$mnt")
	deadline=$(($(kt_now_ms) + 30000))
	until [ -s "$kt_work/$name.pid" ]; do
		kill -0 "$reap" 2>/dev/null || {
			wait "$reap"
			kt_fail "kvfs for $name failed: $(tail -n 3 "$kt_work/$name.log")"
		}
		[ "$(kt_now_ms)" -lt $deadline ] || kt_fail "kvfs for $name did not return in 30 s"
		sleep 0.05
	done
	pid=$(cat "$kt_work/$name.pid")
	kt_daemons+=("$pid:$reap")
	printf -v "KT_PID_$var" %s "$pid"
	printf -v "KT_REAP_$var" %s "$reap"
	kt_is_mounted "$mnt" || kt_fail "kvfs for $name returned 0 but nothing is mounted"
}

# Forget daemon $1 (collected by kt_umount or kt_crash): the cleanup
# waits for the others only.
kt_forget_daemon() {
	local d left=()
	for d in "${kt_daemons[@]+"${kt_daemons[@]}"}"; do
		[ "${d%:*}" = "$1" ] || left+=("$d")
	done
	kt_daemons=("${left[@]+"${left[@]}"}")
}

# Unmount NAME and wait for its daemon to exit (TERM, then KILL); returns
# the daemon's exit status.
kt_umount() {
	local name=$1 mnt=$kt_work/$1 var=${1//[^A-Za-z0-9_]/_} rc=0
	local pidvar="KT_PID_$var" reapvar="KT_REAP_$var"
	local pid=${!pidvar:-} reap=${!reapvar:-}
	if kt_is_mounted "$mnt"; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt"
	fi
	[ -n "$pid" ] || return 0
	for _ in $(seq 50); do
		kt_daemon_ours "$pid" "$reap" || break
		sleep 0.1
	done
	if kt_daemon_ours "$pid" "$reap"; then
		kt_log "the daemon of $name still runs 5 s after the unmount: TERM"
		kill -TERM "$pid" 2>/dev/null
		sleep 1
		kt_daemon_ours "$pid" "$reap" && kill -KILL "$pid" 2>/dev/null
	fi
	wait "$reap" 2>/dev/null || rc=$?
	kt_forget_daemon "$pid"
	printf -v "$pidvar" %s ""
	return $rc
}

# kill -9 the daemon of NAME and detach its mount.
kt_crash() {
	local name=$1 mnt=$kt_work/$1 var=${1//[^A-Za-z0-9_]/_}
	local pidvar="KT_PID_$var" reapvar="KT_REAP_$var"
	kt_daemon_ours "${!pidvar}" "${!reapvar}" && kill -KILL "${!pidvar}" 2>/dev/null
	wait "${!reapvar}" 2>/dev/null
	kt_forget_daemon "${!pidvar}"
	printf -v "$pidvar" %s ""
	fusermount3 -uz "$mnt" 2>/dev/null
	return 0
}

# Read a file with a timeout; prints its contents or fails with the error.
kt_cat() {
	timeout "${2:-20}" cat "$1"
}

# Write VALUE to FILE: one open (O_TRUNC), write, close, as tee does. (A
# shell redirection, and dd, dup2 the descriptor and close(2) the original
# before writing; every close(2) publishes, so an empty value goes first.)
kt_put() {
	printf %s "$2" | timeout "${3:-20}" tee "$1" >/dev/null
}

# Set the consistency level of a directory (or file) on a mount.
kt_set_level() {
	timeout 20 setfattr -n user.kvfs.consistency -v "$2" "$1" ||
		kt_fail "setfattr user.kvfs.consistency=$2 on $1"
}

# --- frozen members (kill -STOP) -------------------------------------------

kt_frozen=()     # member numbers stopped with SIGSTOP, continued at exit

# The pid of member $1 of the test's cluster, checked as etcd-cluster does
# (the process is the etcd of that data directory); empty when it is gone.
kt_member_pid() {
	local pid cmdline
	pid=$(cat "$KT_ETCD_DIR/member-$1.pid" 2>/dev/null) || return 0
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)
	case $cmdline in
	*etcd*"--data-dir $KT_ETCD_DIR/member-$1 "*) echo "$pid" ;;
	esac
}

# Continue every frozen member, then run kt_cleanup with the exit status
# the test had: a stopped etcd acts on no SIGTERM, and would hold the
# cluster's stop until SIGKILL.
kt_thaw_then_cleanup() {
	local rc=$? m pid
	for m in "${kt_frozen[@]+"${kt_frozen[@]}"}"; do
		pid=$(kt_member_pid "$m")
		[ -z "$pid" ] || kill -CONT "$pid" 2>/dev/null
	done
	kt_frozen=()
	(exit $rc)
	kt_cleanup
}

# Stop member $1 with SIGSTOP: it keeps its sockets, the kernel still
# accepts connections for it, but it answers nothing (as a hung machine).
kt_freeze() {
	local pid
	pid=$(kt_member_pid "$1")
	[ -n "$pid" ] || kt_fail "member $1 is not running: cannot freeze it"
	trap kt_thaw_then_cleanup EXIT
	kt_frozen+=("$1")
	kill -STOP "$pid" || kt_fail "kill -STOP member $1 (pid $pid)"
}

# Continue member $1 after kt_freeze.
kt_thaw() {
	local pid m left=()
	pid=$(kt_member_pid "$1")
	[ -z "$pid" ] || kill -CONT "$pid" || kt_fail "kill -CONT member $1"
	for m in "${kt_frozen[@]+"${kt_frozen[@]}"}"; do
		[ "$m" = "$1" ] || left+=("$m")
	done
	kt_frozen=("${left[@]+"${left[@]}"}")
}

# Wait (up to $1 s) until one of the members "$2 ..." reports itself the
# leader; print its number. kt_wait_leader cannot serve while a member is
# frozen: it asks every running member, and a frozen one never answers.
kt_wait_leader_among() {
	local deadline=$(($(kt_now_ms) + $1 * 1000)) m ep
	shift
	while :; do
		for m in "$@"; do
			ep=$("$KT_SCRIPT" endpoints --dir "$KT_ETCD_DIR" --member "$m")
			if ETCDCTL_API=3 timeout 5 etcdctl --endpoints="$ep" --dial-timeout=1s \
				--command-timeout=1s endpoint status 2>/dev/null |
				awk -F', ' '$5 == "true" { found = 1 } END { exit !found }'; then
				echo "$m"
				return 0
			fi
		done
		[ "$(kt_now_ms)" -lt $deadline ] || return 1
		sleep 0.1
	done
}

# Print the number of the member that leads (all members running, waiting
# up to $1 s, default 15); status 1 when there is none:
# leader=$(kt_leader) || kt_fail ...
kt_leader() {
	"$KT_SCRIPT" leader --dir "$KT_ETCD_DIR" --timeout "${1:-15}"
}

# kt_fill PREFIX DIR N [PER_TXN]: create N files DIR/f00001 ... of the
# mount with prefix=PREFIX directly in etcd (as another client would: the
# key PREFIX/DIR/NAME, lib/docs/etcd.md), each holding its name, in
# transactions of PER_TXN files (500; the cluster's --max-txn-ops must
# allow them). Seconds instead of minutes for a directory of thousands.
kt_fill() {
	local prefix=${1%/} dir=$2 n=$3 per=${4:-500} i j name
	for ((i = 1; i <= n; i += per)); do
		{
			echo
			for ((j = i; j < i + per && j <= n; j++)); do
				printf -v name 'f%05d' "$j"
				printf 'put %s/%s/%s %s\n' "$prefix" "$dir" "$name" "$name"
			done
			echo
			echo
		} | kt_etcdctl txn >/dev/null || kt_fail "etcdctl txn creating files $i.. in $dir"
	done
}
