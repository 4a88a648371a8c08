#!/bin/bash
# user.kvfs.stats on the mount root: after a known number of writes and
# reads at one level, that level's counters have grown by at least that
# much, the others by nothing, and the text stays well-formed; lookups
# of missing names count as not_found, not as errors; a since: line says
# when the figures began (the mount) and the seconds since.
. "$(dirname "$0")/lib.sh"
MOUNTED_AT=$(date +%s)
kvfs_mount

ops() { # ops LEVEL: the ops= figure of that level's line
	getfattr --only-values -n user.kvfs.stats "$MNT" |
		awk -v l="$1:" '$1 == l { sub("ops=", "", $2); print $2 }'
}

mkdir "$MNT/ev"
setfattr -n user.kvfs.consistency -v eventual "$MNT/ev"
before=$(ops eventual)
before_causal=$(ops causal)
for i in 1 2 3 4 5; do echo "value $i" > "$MNT/ev/k$i"; done
for i in 1 2 3 4 5; do
	[ "$(cat "$MNT/ev/k$i")" = "value $i" ] || fail "read back k$i"
done
after=$(ops eventual)
echo "eventual ops: $before -> $after"
# 5 publishes and 5 snapshot opens, at the least
[ $((after - before)) -ge 10 ] || fail "eventual ops grew by $((after - before)), expected >= 10"
[ "$(ops causal)" = "$before_causal" ] || fail "causal counters moved"

text=$(getfattr --only-values -n user.kvfs.stats "$MNT")
for level in strong eventual read-your-writes causal; do
	grep -Eq "^$level: ops=[0-9]+ errors=[0-9]+ not_found=[0-9]+ refused=[0-9]+ p50_us=[0-9]+ p99_us=[0-9]+ max_us=[0-9]+$" <<<"$text" ||
		fail "no well-formed line for $level: $text"
done
# Since when: the mount's start, and the seconds since.
since=$(grep -E '^since: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z uptime_s=[0-9]+$' <<<"$text") ||
	fail "no since: line: $text"
start=$(date -u -d "$(awk '{ print $2 }' <<<"$since")" +%s)
[ $((start - MOUNTED_AT)) -ge -1 ] && [ $((start - MOUNTED_AT)) -le 2 ] ||
	fail "since: $since, but mounted at $(date -u -d @"$MOUNTED_AT" +%FT%TZ)"
uptime=${since##*=}
[ "$uptime" -ge 0 ] && [ "$uptime" -le $(( $(date +%s) - MOUNTED_AT + 1 )) ] ||
	fail "uptime_s=$uptime, mounted $(( $(date +%s) - MOUNTED_AT )) s ago"

# Lookups of names that are not there are no errors: counted apart.
field() { # field LEVEL NAME
	getfattr --only-values -n user.kvfs.stats "$MNT" |
		awk -v l="$1:" -v f="$2" '$1 == l { for (i = 2; i <= NF; i++) {
			split($i, kv, "="); if (kv[1] == f) print kv[2] } }'
}
errors_before=$(field strong errors)
missing_before=$(field strong not_found)
for i in $(seq 1 20); do
	[ -e "$MNT/missing-$i" ] && fail "missing-$i exists"
	getfattr -n user.nothing "$MNT/ev/k1" >/dev/null 2>&1 && fail "user.nothing exists"
done
[ "$(field strong errors)" = "$errors_before" ] ||
	fail "lookups of missing names counted as errors: $errors_before -> $(field strong errors)"
[ $(( $(field strong not_found) - missing_before )) -ge 20 ] ||
	fail "not_found grew by $(( $(field strong not_found) - missing_before )), expected >= 20"
echo "ok: 20 missing names: errors=$(field strong errors), not_found $missing_before -> $(field strong not_found)"

# percentiles never exceed the maximum
awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
       if (v["p99_us"] + 0 > v["max_us"] + 0 || v["p50_us"] + 0 > v["p99_us"] + 0) exit 1 }' \
	<<<"$(grep -E '^(strong|eventual|read-your-writes|causal):' <<<"$text")" ||
	fail "percentiles out of order: $text"
# getfattr probes the size, then reads into exactly that much room: the
# figures growing in between (other processes at work) is no ERANGE.
python3 - "$MNT" <<'PY' || fail "stats read after a size probe"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
root, name = sys.argv[1].encode(), b"user.kvfs.stats"
size = libc.getxattr(root, name, None, 0)
for i in range(1000):
    with open(os.path.join(sys.argv[1], "grow"), "w") as f:
        f.write(str(i))
buf = ctypes.create_string_buffer(size)
n = libc.getxattr(root, name, buf, size)
if n < 0:
    sys.exit("getxattr after probe: " + os.strerror(ctypes.get_errno()))
if not buf.raw[:n].startswith(b"strong: ops="):
    sys.exit("stats text: %r" % buf.raw[:n])
PY
# The kernel's requests by kind: 20 opens of an existing file are 20
# OPENs, 20 FLUSHes and 20 RELEASEs more (the last ones come after close
# returns), whatever else the reads cost.
kernel_count() { # KIND: its count on the "kernel:" line (0 when absent)
	getfattr --only-values -n user.kvfs.stats "$MNT" |
		sed -n 's/^kernel:.*'" $1"'=\([0-9]*\).*/\1/p;t;s/^kernel:.*/0/p'
}
echo data >"$MNT/counted"
cat "$MNT/counted" >/dev/null
sleep 0.2
open0=$(kernel_count OPEN) release0=$(kernel_count RELEASE)
for _ in $(seq 20); do cat "$MNT/counted" >/dev/null; done
for _ in $(seq 50); do
	[ $(($(kernel_count RELEASE) - release0)) -ge 20 ] && break
	sleep 0.1
done
[ $(($(kernel_count OPEN) - open0)) = 20 ] ||
	fail "20 opens counted as $(($(kernel_count OPEN) - open0)) OPEN requests"
[ $(($(kernel_count RELEASE) - release0)) = 20 ] ||
	fail "20 closes counted as $(($(kernel_count RELEASE) - release0)) RELEASE requests"
echo "stats: all checks passed"
