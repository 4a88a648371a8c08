#!/bin/bash
# daemon_of.sh KVFS_BIN MOUNTPOINT - print the pid of the kvfs daemon that
# serves MOUNTPOINT: the process running KVFS_BIN whose first argument is
# MOUNTPOINT (mount.kvfs runs `kvfs MOUNTPOINT -o ...`). Prints nothing
# when there is none. For tests of daemons that mount(8) started, which
# are nobody's child.
bin=$(readlink -f "$1")
for p in /proc/[0-9]*; do
	[ "$(readlink "$p/exe" 2>/dev/null)" = "$bin" ] || continue
	[ "$(tr '\0' '\n' <"$p/cmdline" 2>/dev/null | sed -n 2p)" = "$2" ] &&
		echo "${p#/proc/}"
done
exit 0
