/*
 * mountpoint.c - the absolute path of a mount point, found without asking
 * the filesystem that may be mounted there anything.
 *
 * The daemon checks /proc/self/mountinfo for a FUSE mount at the mount
 * point before it mounts (main.c), by path, so the path must be the one
 * the kernel lists: `MNT/.`, `MNT/`, `./MNT` and a symlink to MNT all
 * name it. realpath(3) would find it, but it stats the last component,
 * and a stat of a FUSE mount whose daemon is stopped (SIGSTOP, a hung
 * machine) waits forever. So the parent is resolved with realpath(3) and
 * the last component with readlink(2), which answers EINVAL for a
 * directory, a mount's root included, without a request to its daemon.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvfs_fs.h"

#define MAX_LINKS 40 /* as the kernel follows (ELOOP after) */

/* Drop trailing slashes and trailing "." components: "a/./" is "a". */
static void strip_tail(char *path)
{
	size_t len = strlen(path);

	for (;;) {
		while (len > 1 && path[len - 1] == '/')
			path[--len] = '\0';
		if (len > 2 && !strcmp(path + len - 2, "/.")) {
			len -= 2;
			path[len] = '\0';
		} else if (len == 2 && !strcmp(path, "/.")) {
			path[--len] = '\0';
		} else {
			return;
		}
	}
}

/* dst = dir "/" name, or -ENAMETOOLONG. */
static int join(char dst[PATH_MAX], const char *dir, const char *name)
{
	int n = snprintf(dst, PATH_MAX, "%s%s%s", dir,
			 strcmp(dir, "/") ? "/" : "", name);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int kvfs_fs_mountpoint_resolve(const char *mnt, char out[PATH_MAX])
{
	char path[PATH_MAX], dir[PATH_MAX], target[PATH_MAX];
	const char *name;
	char *slash;
	ssize_t n;
	int rc;

	if (snprintf(path, sizeof(path), "%s", mnt) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (int links = 0; links <= MAX_LINKS; links++) {
		strip_tail(path);
		slash = strrchr(path, '/');
		name = slash ? slash + 1 : path;
		/* ".", "/", "x/..": nothing a mount point is named by. */
		if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
			return realpath(path, out) ? 0 : -errno;
		if (slash == path)
			snprintf(dir, sizeof(dir), "/");
		else if (slash)
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path),
				 path);
		else
			snprintf(dir, sizeof(dir), ".");
		if (!realpath(dir, target))
			return -errno;
		rc = join(out, target, name);
		if (rc)
			return rc;
		n = readlink(out, target, sizeof(target) - 1);
		if (n < 0) {
			/* EINVAL: not a symlink; out is the mount point. */
			if (errno == ENOENT || errno == ENOTDIR ||
			    errno == ELOOP || errno == ENAMETOOLONG)
				return -errno;
			return 0;
		}
		target[n] = '\0';
		if (target[0] == '/') {
			memcpy(path, target, (size_t)n + 1);
		} else {
			/* Relative to the link's directory, out's without
			 * its last component. */
			*strrchr(out, '/') = '\0';
			rc = join(path, *out ? out : "/", target);
			if (rc)
				return rc;
		}
	}
	return -ELOOP;
}
