/*
 * pidlock.c - one user at a time of a directory the library owns (a
 * local root, an etcd journal): an exclusive flock on a lock file that
 * the holder writes its pid into, so that a second user's refusal names
 * it. The lock goes with the descriptor's close or the holder's end
 * (SIGKILL too).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "store_internal.h"

#define RETRY_NS 20000000L

/* The live process whose pid the holder wrote into fd, or 0 when there
 * is none (it has not written it yet). */
static long holder_of(int fd)
{
	char text[32];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	long pid;

	if (n <= 0)
		return 0;
	text[n] = '\0';
	pid = strtol(text, NULL, 10);
	if (pid <= 0 || (kill((pid_t)pid, 0) && errno != EPERM))
		return 0;
	return pid;
}

static int64_t ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - start->tv_sec) * 1000 +
	       (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Write the pid through a descriptor of its own when fd is read-only: a
 * lock held open for writing would keep the filesystem from being
 * remounted read-only (EBUSY). */
static int write_pid(int fd, const char *text, int len, const char *what)
{
	char path[32];
	int wfd = fd, rc = 0;

	if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		wfd = open(path, O_WRONLY | O_CLOEXEC);
		if (wfd < 0)
			return kvfs_error_set(KVFS_EINVAL, "%s: writing its "
					      "lock: %s", what,
					      strerror(errno));
	}
	if (pwrite(wfd, text, (size_t)len, 0) != len || ftruncate(wfd, len))
		rc = kvfs_error_set(KVFS_EINVAL, "%s: writing its lock: %s",
				    what, strerror(errno));
	if (wfd != fd)
		close(wfd);
	return rc;
}

int kvfs_pidlock_take(int fd, uint64_t wait_ms, const char *what,
		      const char *hint)
{
	struct timespec start, retry = { 0, RETRY_NS };
	char text[32];
	long holder;
	int len;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (flock(fd, LOCK_EX | LOCK_NB)) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return kvfs_error_set(KVFS_EINVAL, "%s: cannot lock it: "
					      "%s", what, strerror(errno));
		if (ms_since(&start) >= (int64_t)wait_ms) {
			holder = holder_of(fd);
			if (holder)
				return kvfs_error_set(KVFS_EINVAL,
					"%s: in use by kvfs pid %ld%s", what,
					holder, hint);
			return kvfs_error_set(KVFS_EINVAL,
				"%s: in use by another kvfs process%s", what,
				hint);
		}
		nanosleep(&retry, NULL);
	}
	len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	return write_pid(fd, text, len, what);
}
