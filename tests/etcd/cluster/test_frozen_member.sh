#!/bin/bash
# test_frozen_member.sh - kvfs over a 3-member etcd cluster while one
# member is frozen with kill -STOP (the process keeps its sockets, the
# kernel accepts connections for it, nothing answers: a hung machine),
# with quorum intact, timeout=2s:
#  - a follower frozen, the one mount A prefers: every command (cat,
#    stat, writes at strong and at eventual, ls -l of the root) succeeds
#    within timeout + 1 s, on A and on mount B (which prefers the
#    leader), and so does every system call of an ls -l of 200 entries
#    (timed one by one with kvfs-timed-ls);
#  - the leader frozen, the one B prefers: what runs during the election
#    may fail with ETIMEDOUT (or EIO), but within timeout + 1 s; once the
#    other two have a leader, everything succeeds within the bound;
#  - compaction (etcdctl compact in a loop) while ls lists a directory of
#    5000 entries, five pages: every ls succeeds and lists each entry
#    once.
# Printed for the record: `LONGEST phase: ms` (the longest command),
# `LS_L phase` (an ls -l of 200 entries: its sum and its longest call),
# `USER_LS phase` (a real ls -l of them), `COMPACTION: failed of tries`.
. "$KT_LIB"

timeout_ms=2000
bound_ms=$((timeout_ms + 1000))
prefix=/frozen

kt_require_etcd
kt_init
kt_require_mount
kt_cluster_start 3 0 etcd -- --max-txn-ops 1024

leader=$(kt_leader) || kt_fail "the cluster has no leader"
follower=$(((leader + 1) % 3))
common="backend=etcd,endpoints=$KT_EPS,prefix=$prefix,timeout=${timeout_ms}ms"
kt_mount A "$common,prefer=$follower,journal=$kt_work/journal-A"
kt_mount B "$common,prefer=$leader,journal=$kt_work/journal-B"
A=$kt_work/A
B=$kt_work/B
kt_log "leader is member $leader; A prefers member $follower, B member $leader"

for m in A B; do
	mkdir "$kt_work/$m/strong-$m" "$kt_work/$m/eventual-$m" || kt_fail "mkdir on $m"
	kt_set_level "$kt_work/$m/eventual-$m" eventual
	kt_put "$kt_work/$m/strong-$m/f" "strong" || kt_fail "strong write on $m"
	kt_put "$kt_work/$m/eventual-$m/f" "eventual" || kt_fail "eventual write on $m"
done
mkdir "$A/many" "$A/big" || kt_fail "mkdir many big"
kt_fill "$prefix" many 200
kt_fill "$prefix" big 5000
[ "$(ls "$A/many" | wc -l)" = 200 ] || kt_fail "many: $(ls "$A/many" | wc -l) entries, expected 200"
kt_log "200 and 5000 files made in etcd"

# --- timing ----------------------------------------------------------------

phase=""
longest=0
longest_what=""
ls_longest=0
call_longest=0

# timed MUST WHAT CMD...: run CMD (60 s at most) and print its time; a time
# over the bound fails the test (later). MUST is "ok" (CMD must succeed),
# or "may-fail" (a failure is accepted when it is ETIMEDOUT or EIO).
timed() {
	local must=$1 what=$2 t0 rc ms
	shift 2
	t0=$(kt_now_ms)
	timeout 60 "$@" >"$kt_work/out" 2>"$kt_work/err"
	rc=$?
	ms=$(($(kt_now_ms) - t0))
	if [ $ms -gt $longest ]; then
		longest=$ms
		longest_what=$what
	fi
	if [ $rc = 0 ]; then
		kt_log "$phase: $what: $ms ms"
	else
		kt_log "$phase: $what: failed after $ms ms: $(tail -n 1 "$kt_work/err")"
	fi
	[ $ms -le $bound_ms ] ||
		kt_fail_later "$phase: $what took $ms ms (timeout=${timeout_ms}ms: at most $bound_ms)"
	if [ $rc != 0 ]; then
		if [ "$must" = ok ]; then
			kt_fail_later "$phase: $what failed: $(tail -n 1 "$kt_work/err")"
		elif ! grep -qE "Connection timed out|Input/output error" "$kt_work/err"; then
			kt_fail_later "$phase: $what failed, neither with ETIMEDOUT nor EIO: $(tail -n 1 "$kt_work/err")"
		fi
	fi
	return $rc
}

# timed_ls MUST NAME DIR: the system calls of `ls -l DIR` (200 entries),
# each timed by kvfs-timed-ls: each must return within the bound; their
# sum is what ls -l waits for, printed.
timed_ls() {
	local must=$1 m=$2 out longest total entries rc=0
	out=$(timeout 120 "$KT_BIN_DIR/kvfs-timed-ls" "$3" 2>"$kt_work/err") || rc=$?
	kt_log "$phase: $m: ls -l of 200: $out $(cat "$kt_work/err")"
	read -r _ entries _ _ _ longest _ _ _ total <<<"$out"
	[ -n "$total" ] || kt_fail "kvfs-timed-ls: $out $(cat "$kt_work/err")"
	[ "$longest" -le $bound_ms ] ||
		kt_fail_later "$phase: $m: ls -l of 200: one call took $longest ms: $out"
	[ "$total" -le $ls_longest ] || ls_longest=$total
	[ "$longest" -le $call_longest ] || call_longest=$longest
	if [ $rc != 0 ]; then
		if [ "$must" = ok ]; then
			kt_fail_later "$phase: $m: ls -l of 200 failed: $(cat "$kt_work/err")"
		elif ! grep -qE "Connection timed out|Input/output error" "$kt_work/err"; then
			kt_fail_later "$phase: $m: ls -l of 200 failed, neither with ETIMEDOUT nor EIO: $(cat "$kt_work/err")"
		fi
	elif [ "$entries" != 200 ]; then
		kt_fail_later "$phase: $m: ls -l of 200 listed $entries entries"
	fi
}

# user_ls MUST: the real `ls -l` of the 200 entries on mount A, as a user
# times it: printed as USER_LS; it may take a few bounds on a loaded
# machine (400 calls), never one bound per entry.
user_ls() {
	local t0 ms rc=0
	t0=$(kt_now_ms)
	timeout 120 ls -l "$A/many" >"$kt_work/out" 2>"$kt_work/err" || rc=$?
	ms=$(($(kt_now_ms) - t0))
	kt_log "USER_LS $phase: ls -l of 200 entries on A: $ms ms, $(grep -c ' f[0-9]*$' "$kt_work/out") listed $(tail -n 1 "$kt_work/err")"
	[ $ms -le $((4 * bound_ms)) ] ||
		kt_fail_later "$phase: ls -l of 200 entries took $ms ms"
	[ "$1" != ok ] || [ $rc = 0 ] || kt_fail_later "$phase: ls -l of 200 failed: $(tail -n 1 "$kt_work/err")"
}

# A write as kt_put makes it (one open, write, close), as one command.
write='printf %s "$1" | tee "$2" >/dev/null'

# One round of what a user does on mount $2 (round number $3).
round() {
	local must=$1 m=$2 i=$3 dir=$kt_work/$2
	timed "$must" "$m: cat strong" cat "$dir/strong-$m/f"
	timed "$must" "$m: cat eventual" cat "$dir/eventual-$m/f"
	timed "$must" "$m: stat strong" stat "$dir/strong-$m/f"
	timed_ls "$must" "$m" "$dir/many"
	timed "$must" "$m: strong write" sh -c "$write" sh "w$i" "$dir/strong-$m/w"
	timed "$must" "$m: eventual write" sh -c "$write" sh "w$i" "$dir/eventual-$m/w"
	timed "$must" "$m: cat strong written" cat "$dir/strong-$m/w" &&
		{ [ "$(cat "$kt_work/out")" = "w$i" ] ||
			kt_fail_later "$phase: $m read '$(cat "$kt_work/out")' after writing w$i"; }
	timed "$must" "$m: ls -l root" ls -l "$dir"
}

# What a user sees of the phase that just ended: its longest command, the
# longest single call of an ls -l of 200 entries and the longest such
# ls -l as a whole, then what the mounts counted.
phase_end() {
	local m
	kt_log "LONGEST $phase: $longest ms ($longest_what)"
	kt_log "LS_L $phase: $ls_longest ms for ls -l of 200 entries, its longest call $call_longest ms"
	for m in A B; do
		kt_log "$m: $(timeout 10 getfattr --absolute-names --only-values -n user.kvfs.stats \
			"$kt_work/$m" 2>/dev/null | grep -E '^etcd_(failovers|member|errors)' | tr '\n' ' ')"
	done
	longest=0
	longest_what=""
	ls_longest=0
	call_longest=0
}

phase="healthy"
round ok A 0
user_ls ok
phase_end

# --- a frozen follower -------------------------------------------------------
kt_freeze "$follower"
kt_log "member $follower (a follower, A's preferred) frozen"
phase="follower frozen"
round ok A 1
round ok B 1
round ok A 2
user_ls ok
phase_end
kt_thaw "$follower"
kt_wait_leader 20

# --- a frozen leader ---------------------------------------------------------
leader=$(kt_leader) || kt_fail "the cluster has no leader"
others=()
for m in 0 1 2; do
	[ "$m" = "$leader" ] || others+=("$m")
done
kt_freeze "$leader"
frozen_at=$(kt_now_ms)
kt_log "member $leader (the leader) frozen"
phase="leader frozen, election"
round may-fail B 4
round may-fail A 4
user_ls may-fail
phase_end
new=$(kt_wait_leader_among 20 "${others[@]}") || kt_fail "members ${others[*]} elected no leader in 20 s"
kt_log "member $new is the leader, $(($(kt_now_ms) - frozen_at)) ms after the freeze"
phase="leader frozen"
round ok B 5
round ok A 5
user_ls ok
phase_end
kt_thaw "$leader"
kt_wait_leader 20

# --- compaction during listings ---------------------------------------------
# Compact at the newest revision as fast as etcdctl can, with a write of
# a key outside the prefix each time, so that the revision a listing
# continues at is soon compacted.
compactor() {
	local rev
	while [ ! -e "$kt_work/stop-compactor" ]; do
		rev=$(kt_etcdctl put /frozen-other x -w json 2>/dev/null |
			grep -o '"revision":[0-9]*' | cut -d: -f2)
		[ -z "$rev" ] || kt_etcdctl compact "$rev" >/dev/null 2>&1
		echo x >>"$kt_work/compactions"
	done
}
compactor &
compactor_pid=$!
kt_pids+=("$compactor_pid")
tries=8 failed=0
for i in $(seq 1 $tries); do
	if ! timeout 60 ls "$A/big" >"$kt_work/big.txt" 2>"$kt_work/err"; then
		failed=$((failed + 1))
		kt_log "ls of 5000 entries during compaction, try $i: $(tail -n 1 "$kt_work/err")"
		continue
	fi
	n=$(wc -l <"$kt_work/big.txt")
	u=$(sort -u "$kt_work/big.txt" | wc -l)
	[ "$n" = 5000 ] && [ "$u" = 5000 ] ||
		kt_fail_later "ls of big during compaction, try $i: $n names, $u distinct (expected 5000)"
done
touch "$kt_work/stop-compactor"
wait "$compactor_pid"
kt_log "COMPACTION: $failed of $tries listings failed, $(wc -l <"$kt_work/compactions") compactions"
[ $failed = 0 ] || kt_fail_later "$failed of $tries listings of 5000 entries failed during compaction"

kt_umount A
kt_umount B
kt_finish
