#!/bin/bash
# The installed systemd unit template is valid: systemd-analyze verify
# accepts an instance of it once ExecStart names an existing daemon.
set -euo pipefail
: "${KVFS_UNIT:?KVFS_UNIT must name the configured kvfs@.service}"
: "${KVFS_BIN:?KVFS_BIN must name the kvfs daemon}"
command -v systemd-analyze >/dev/null || {
	echo "SKIPPED: systemd-analyze is missing"
	exit 77
}
dir=$(mktemp -d "${TMPDIR:-/tmp}/kvfs-unit.XXXXXX")
trap 'rm -rf "$dir"' EXIT
grep -q '^ExecStart=/.*/kvfs %f -f -o ${KVFS_OPTIONS}$' "$KVFS_UNIT" ||
	{ echo "FAIL: ExecStart does not name an absolute daemon path"; exit 1; }
grep -q '^LimitNOFILE=[0-9]' "$KVFS_UNIT" ||
	{ echo "FAIL: the unit sets no LimitNOFILE (the daemon needs descriptors)"; exit 1; }
# An instance of the template, by path, so that no other copy is read.
# Its man pages exist once installed (tests/package/test_deb.sh verifies
# the installed unit with them), not here.
sed -e "s|^ExecStart=[^ ]*|ExecStart=$KVFS_BIN|" -e '/^Documentation=/d' \
	"$KVFS_UNIT" >"$dir/kvfs@mnt-kv.service"
if ! out=$(cd "$dir" && systemd-analyze verify "$dir/kvfs@mnt-kv.service" 2>&1) ||
   grep -q 'kvfs@' <<<"$out"; then
	echo "FAIL: systemd-analyze verify: $out"
	exit 1
fi
echo "systemd unit: verified"
