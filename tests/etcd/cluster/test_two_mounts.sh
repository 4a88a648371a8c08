#!/bin/bash
# test_two_mounts.sh - two kvfs mounts (A prefers member 0, B member 1) of
# one 3-member etcd cluster with the same prefix, checked the way a user
# would with cat, printf, getfattr and setfattr:
#  - strong: a write completed on A is read at once on B;
#  - eventual: writes on A converge on B (the time it took is printed);
#  - causal: A's token handed to B makes B see A's write, and B's reads
#    never go back in time; a malformed token is refused with EINVAL;
#  - read-your-writes: A always reads its own latest write;
#  - a strong name B keeps cached while A deletes and re-creates it in a
#    loop: B's opens give the file or ENOENT, never ESTALE.
. "$KT_LIB"

kt_require_etcd
kt_init
kt_require_mount
kt_cluster_start 3 0 etcd

common="backend=etcd,endpoints=$KT_EPS,prefix=/two"
kt_mount A "$common,prefer=0,journal=$kt_work/journal-A"
kt_mount B "$common,prefer=1,journal=$kt_work/journal-B"
A=$kt_work/A
B=$kt_work/B

for level in strong eventual read-your-writes causal; do
	mkdir "$A/$level" || kt_fail "mkdir $level on A"
	kt_set_level "$A/$level" "$level"
done
# The levels are stored with the directories: B sees them too.
for level in strong eventual read-your-writes causal; do
	got=$(timeout 20 getfattr --absolute-names --only-values -n user.kvfs.consistency.effective \
		"$B/$level" 2>&1)
	[ "$got" = "$level" ] ||
		kt_fail "B/$level: effective level '$got', expected '$level' (set on A)"
done
kt_log "level directories made on A, seen on B"

# --- strong: completed writes are visible at once on the other mount -----
for i in $(seq 1 10); do
	kt_put "$A/strong/x" "strong-$i" || kt_fail "strong write $i on A"
	got=$(kt_cat "$B/strong/x") || kt_fail "strong read $i on B"
	[ "$got" = "strong-$i" ] ||
		kt_fail "strong: B read '$got' right after A wrote 'strong-$i'"
	# And the other way round, on a second key.
	kt_put "$B/strong/y" "back-$i" || kt_fail "strong write $i on B"
	got=$(kt_cat "$A/strong/y") || kt_fail "strong read $i on A"
	[ "$got" = "back-$i" ] ||
		kt_fail "strong: A read '$got' right after B wrote 'back-$i'"
done
kt_log "strong: 20 writes each seen at once by the other mount"

# --- one write, one value: a shell's `>` is one transaction --------------
# (bash opens with O_TRUNC, dup2s onto stdout and closes the original
# before it writes; that close must not publish an empty value.) B reads
# meanwhile and must never see the file empty; etcd's revision moves by
# exactly one per write.
revision() {
	kt_etcdctl endpoint status -w json --endpoints="${KT_EPS%%,*}" |
		grep -o '"revision":[0-9]*' | head -n 1 | cut -d: -f2
}
kt_put "$A/strong/echo" "echo-0" || kt_fail "first write of strong/echo"
(
	empty=0 reads=0
	while [ ! -e "$kt_work/echo-done" ]; do
		v=$(timeout 20 cat "$B/strong/echo") || continue
		reads=$((reads + 1))
		[ -n "$v" ] || empty=$((empty + 1))
	done
	echo "$reads $empty" >"$kt_work/echo-reads"
) &
reader=$!
kt_pids+=("$reader")
rev0=$(revision)
for i in $(seq 1 20); do
	timeout 20 bash -c "echo echo-$i > '$A/strong/echo'" || kt_fail "echo > f, write $i"
done
rev1=$(revision)
touch "$kt_work/echo-done"
wait "$reader"
read -r reads empty <"$kt_work/echo-reads"
[ "$(kt_cat "$B/strong/echo")" = echo-20 ] || kt_fail "B does not read the last echo"
[ "$empty" = 0 ] || kt_fail "B read an empty value $empty times of $reads during echo > f"
[ $((rev1 - rev0)) = 20 ] ||
	kt_fail "20 writes by echo > f moved etcd's revision by $((rev1 - rev0)), not 20"
kt_log "echo > f: 20 writes, 20 transactions; B read $reads times, never empty"

# --- eventual: writes on A converge on B ------------------------------
n=20
start=$(kt_now_ms)
for i in $(seq 1 $n); do
	kt_put "$A/eventual/e$i" "eventual-$i" || kt_fail "eventual write $i on A"
done
for i in $(seq 1 10); do
	kt_put "$A/eventual/same" "overwrite-$i" || kt_fail "eventual overwrite $i"
done
acked=$(kt_now_ms)
# In the background: when does etcd itself hold the last writes?
(
	until kt_etcdctl get --prefix /two/ --print-value-only 2>/dev/null |
		grep -qxF overwrite-10; do
		sleep 0.02
	done
	kt_now_ms >"$kt_work/in-etcd"
) &
kt_pids+=($!)
deadline=$((acked + 15000))
pending=$(seq 1 $n)
last=""
while :; do
	still=""
	for i in $pending; do
		got=$(timeout 10 cat "$B/eventual/e$i" 2>/dev/null)
		[ "$got" = "eventual-$i" ] || still="$still $i"
	done
	pending=$still
	[ -n "$pending" ] || last=$(timeout 10 cat "$B/eventual/same" 2>/dev/null)
	[ -z "$pending" ] && [ "$last" = overwrite-10 ] && break
	[ "$(kt_now_ms)" -lt $deadline ] ||
		kt_fail "eventual: B still misses files [$pending ] / same='$last' 15 s after A's writes"
	sleep 0.02
done
done_ms=$(kt_now_ms)
for _ in $(seq 100); do
	[ -s "$kt_work/in-etcd" ] && break
	sleep 0.1
done
in_etcd=$(cat "$kt_work/in-etcd" 2>/dev/null || echo "$done_ms")
kt_log "eventual: $((n + 10)) writes acknowledged on A in $((acked - start)) ms; in etcd $((in_etcd - acked)) ms after the last ack; B converged $((done_ms - acked)) ms after the last ack"
# The watch tells each mount of the other's writes, and leaves a mount's
# own writes alone (its kernel saw them happen).
stat_of() { getfattr --only-values -n user.kvfs.stats "$1" 2>/dev/null |
	awk -v k="$2:" '$1 == k { print $2 }'; }
own_a=$(stat_of "$A" etcd_watch_events_own)
events_b=$(stat_of "$B" etcd_watch_events)
[ "${own_a:-0}" -gt 0 ] ||
	kt_fail "watch: A recognised none of its own writes (etcd_watch_events_own '$own_a')"
[ "${events_b:-0}" -ge "$n" ] ||
	kt_fail "watch: B heard of $events_b changes, A made more than $n"
kt_log "watch: A skipped $own_a events of its own writes; B heard of $events_b changes"
echo "CONVERGENCE eventual_writes=$((n + 10)) ack_ms=$((acked - start)) in_etcd_after_last_ack_ms=$((in_etcd - acked)) b_converged_after_last_ack_ms=$((done_ms - acked))"

# --- causal: a token handed from A to B -------------------------------
kt_put "$A/causal/c" "causal-0" || kt_fail "causal write on A"
token=$(timeout 20 getfattr --absolute-names --only-values -n user.kvfs.causal-token "$A")
[ -n "$token" ] || kt_fail "causal: empty token from A"
timeout 20 setfattr -n user.kvfs.causal-token -v "$token" "$B" ||
	kt_fail "causal: setting A's token '$token' on B"
got=$(kt_cat "$B/causal/c") || kt_fail "causal read on B"
[ "$got" = "causal-0" ] || kt_fail "causal: B read '$got' after importing A's token, expected causal-0"
for i in 1 2 3 4 5; do
	kt_put "$A/causal/c" "causal-$i" || kt_fail "causal write $i on A"
	token=$(timeout 20 getfattr --absolute-names --only-values -n user.kvfs.causal-token "$A")
	timeout 20 setfattr -n user.kvfs.causal-token -v "$token" "$B" ||
		kt_fail "causal: setting token $i on B"
	got=$(kt_cat "$B/causal/c") || kt_fail "causal read $i on B"
	[ "$got" = "causal-$i" ] ||
		kt_fail "causal: B read '$got' after importing the token of A's write causal-$i"
done
# A token is opaque, but not anything goes.
if timeout 20 setfattr -n user.kvfs.causal-token -v "not a token" "$B" 2>"$kt_work/err"; then
	kt_fail "causal: a malformed token was accepted"
fi
grep -q "Invalid argument" "$kt_work/err" ||
	kt_fail "causal: malformed token: expected EINVAL, got: $(cat "$kt_work/err")"
kt_log "causal: tokens handed from A to B; B saw each write of A at once"

# Monotonic reads on B while A keeps writing: never a step back.
kt_put "$A/causal/m" 0 || kt_fail "causal: creating m"
(
	for i in $(seq 1 30); do
		kt_put "$A/causal/m" "$i" || exit 1
	done
) &
writer=$!
kt_pids+=("$writer")
prev=0
reads=0
while kill -0 "$writer" 2>/dev/null; do
	got=$(timeout 10 cat "$B/causal/m" 2>/dev/null) || continue
	[ -n "$got" ] || kt_fail "causal: B read an empty m, a value never written (close-to-open broken?)"
	[ "$got" -ge "$prev" ] ||
		kt_fail "causal: B read m=$got after it had read m=$prev (reads went back in time)"
	prev=$got
	reads=$((reads + 1))
done
wait "$writer" || kt_fail "causal: writer on A failed"
kt_log "causal: $reads reads on B during 30 writes on A, never older than the one before"

# --- read-your-writes: A reads its own writes -------------------------
for i in $(seq 1 15); do
	kt_put "$A/read-your-writes/r" "ryw-$i" || kt_fail "ryw write $i on A"
	got=$(kt_cat "$A/read-your-writes/r") || kt_fail "ryw read $i on A"
	[ "$got" = "ryw-$i" ] ||
		kt_fail "read-your-writes: A read '$got' right after writing 'ryw-$i'"
	# Also after B wrote the same key: A sees its own or a newer write.
	if [ $((i % 5)) = 0 ]; then
		kt_put "$B/read-your-writes/r" "from-B-$i" || kt_fail "ryw write on B"
	fi
done
kt_log "read-your-writes: 15 writes on A, each read back at once"

# A name B keeps cached while A deletes and re-creates it in a loop: B's
# opens see the file or ENOENT, never ESTALE (the kernel retries a stale
# open once; a name gone again at that retry gets ENOENT).
mkdir -p "$A/strong/churn" || kt_fail "mkdir strong/churn"
echo x >"$A/strong/churn/f"
python3 - "$A/strong/churn/f" <<'PY' &
import os, sys, time
end = time.time() + 5
while time.time() < end:
    try:
        os.unlink(sys.argv[1])
    except FileNotFoundError:
        pass
    with open(sys.argv[1], "w") as f:
        f.write("x\n")
PY
churner=$!
kt_pids+=("$churner")
got=$(python3 - "$B/strong/churn/f" <<'PY'
import errno, os, sys, time
end, reads, stale, other = time.time() + 5, 0, 0, {}
while time.time() < end:
    reads += 1
    try:
        os.close(os.open(sys.argv[1], os.O_RDONLY))
    except OSError as e:
        if e.errno == errno.ESTALE:
            stale += 1
        elif e.errno != errno.ENOENT:
            other[e.errno] = other.get(e.errno, 0) + 1
print(reads, stale, other)
PY
)
wait "$churner" || kt_fail "the churning writer on A failed"
read -r reads stale other <<<"$got"
kt_log "B opened a name A deletes and re-creates $reads times: $stale ESTALE, other errors: $other"
[ "$stale" = 0 ] || kt_fail "$stale of $reads opens on B got ESTALE while A re-created the file"
[ "$other" = "{}" ] || kt_fail "opens on B failed with errnos $other while A re-created the file"

kt_umount A
kt_umount B
kt_finish
