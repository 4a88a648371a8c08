#!/bin/bash
# The configuration file through the mount: prefix rules give the effective
# level of files under each prefix (longest prefix wins, xattrs still win
# over rules), settings from the file apply, mount options override the
# file, and a broken file names its line and mounts nothing.
. "$(dirname "$0")/lib.sh"

EFF=user.kvfs.consistency.effective
eff() { getfattr --only-values -n $EFF "$1"; }
CONF=$TEST_TMP/kvfs.conf

cat >"$CONF" <<CONF
consistency = "read-your-writes";
rules = (
	{ prefix = "metrics/"; consistency = "eventual"; },
	{ prefix = "metrics/billing"; consistency = "strong"; },
	{ prefix = "identity"; consistency = "Strong"; }
);
CONF
kvfs_mount "config=$CONF"
mkdir -p "$MNT/metrics/billing" "$MNT/identity" "$MNT/other"
echo 1 > "$MNT/metrics/cpu"
echo 2 > "$MNT/metrics/billing/total"
echo 3 > "$MNT/identity/alice"
echo 4 > "$MNT/other/x"
echo 5 > "$MNT/metricsfoo"

[ "$(eff "$MNT/metrics/cpu")" = eventual ] || fail "metrics/ rule"
[ "$(eff "$MNT/metrics/billing/total")" = strong ] || fail "longest prefix wins"
[ "$(eff "$MNT/identity/alice")" = strong ] || fail "identity rule"
[ "$(eff "$MNT/identity")" = strong ] || fail "a rule without / covers the directory itself"
[ "$(eff "$MNT/other/x")" = read-your-writes ] || fail "consistency from the file"
[ "$(eff "$MNT/metricsfoo")" = read-your-writes ] || fail "prefixes match whole components"
# a directory xattr is more specific than a rule
setfattr -n user.kvfs.consistency -v causal "$MNT/metrics"
[ "$(eff "$MNT/metrics/cpu")" = causal ] || fail "directory xattr over rule"
[ "$(cat "$MNT/metrics/cpu")" = 1 ] || fail "value readable"
kvfs_unmount || fail "daemon exit status"

# mount options override the file
kvfs_mount "config=$CONF,consistency=eventual"
[ "$(eff "$MNT/other/x")" = eventual ] || fail "mount option over file"
[ "$(eff "$MNT/identity/alice")" = strong ] || fail "rules still apply"
kvfs_unmount || fail "daemon exit status"

# a broken file: FILE:LINE and nothing mounted
printf 'consistency = "strong";\nrules = ( { prefix = "a/"; consistency = ; } );\n' >"$CONF"
if timeout 10 "$KVFS_BIN" "$MNT" -o "root=$ROOT,config=$CONF" -f >"$TEST_TMP/out" 2>&1; then
	fail "broken config accepted"
fi
grep -q "$CONF:2" "$TEST_TMP/out" || fail "message does not name the line: $(cat "$TEST_TMP/out")"
echo "ok: $(cat "$TEST_TMP/out")"
is_mounted "$MNT" && fail "mounted despite a broken config"

# an unknown level in a rule is refused by name
printf 'rules = ( { prefix = "a/"; consistency = "sometimes"; } );\n' >"$CONF"
expect_fail "sometimes" timeout 10 "$KVFS_BIN" "$MNT" -o "root=$ROOT,config=$CONF" -f
# a missing file
expect_fail "$TEST_TMP/nope.conf" timeout 10 "$KVFS_BIN" "$MNT" -o "root=$ROOT,config=$TEST_TMP/nope.conf" -f
is_mounted "$MNT" && fail "mounted despite errors"
echo "config: all checks passed"
