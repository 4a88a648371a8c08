#!/bin/bash
# test_posix.sh - the POSIX details of tests/mount/posix_check.py on an
# etcd mount (modes of 0000, link count 1 for directories, atime/ctime,
# times past 2038, SEEK_DATA/SEEK_HOLE seeing all data, O_RDONLY|O_TRUNC,
# renames within the key length), then that the times are the cluster's:
# a second mount sees the atime, mtime and ctime the first set, also for
# an eventual file once its journal has replicated.
. "$KT_LIB"

kt_require_etcd
kt_init
kt_require_mount
command -v python3 >/dev/null || kt_skip "python3 is missing"
kt_cluster_start 3 0 etcd

common="backend=etcd,endpoints=$KT_EPS,prefix=/posix"
kt_mount A "$common,prefer=0,journal=$kt_work/journal-A"
kt_mount B "$common,prefer=1,journal=$kt_work/journal-B"
A=$kt_work/A
B=$kt_work/B

python3 "$(dirname "$KT_LIB")/../../mount/posix_check.py" "$A" - etcd ||
	kt_fail "POSIX checks on etcd (above)"
kt_log "posix_check.py passed on etcd"

# Times and modes are stored in the cluster: B sees what A set.
touch -d @4294967296.123456789 "$A/y2038"
touch -a -d @2147483648.5 "$A/y2038"
got=$(stat -c '%.9Y %.9X' "$B/y2038")
[ "$got" = "4294967296.123456789 2147483648.500000000" ] ||
	kt_fail "B sees mtime and atime '$got'"
[ "$(stat -c %a "$B/m0")" = 0 ] || kt_fail "B sees mode $(stat -c %a "$B/m0") for m0"
ca=$(stat -c %Z "$A/t")
cb=$(stat -c %Z "$B/t")
[ "$ca" = "$cb" ] || kt_fail "ctime of t: $ca on A, $cb on B"
[ "$ca" -ge $(($(date +%s) - 60)) ] || kt_fail "ctime of t is not recent: $ca"

# An eventual file: the atime goes through the journal.
mkdir "$A/ev"
kt_set_level "$A/ev" eventual
echo x > "$A/ev/f"
touch -a -d @1234567890.25 "$A/ev/f"
got=$(stat -c %.9X "$A/ev/f")
[ "$got" = 1234567890.250000000 ] || kt_fail "eventual atime on A: $got"
for _ in $(seq 100); do
	got=$(stat -c %.9X "$B/ev/f" 2>/dev/null) || got=
	[ "$got" = 1234567890.250000000 ] && break
	sleep 0.1
done
[ "$got" = 1234567890.250000000 ] || kt_fail "eventual atime on B: '$got'"
kt_log "times seen by the second mount, eventual ones once replicated"
kt_finish
