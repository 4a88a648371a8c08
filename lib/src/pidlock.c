/*
 * pidlock.c - one user at a time of a directory the library owns (a
 * local root, an etcd journal): an exclusive flock on a lock file that
 * the holder writes its pid into, so that a second user's refusal names
 * it. The lock goes with the descriptor's close or the holder's end
 * (SIGKILL too).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
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

/* The refusal of a lock that another holds: its pid, when it wrote one
 * and is alive. */
static int refuse(int fd, const char *what, const char *hint)
{
	long holder = holder_of(fd);

	if (holder)
		return kvfs_error_set(KVFS_EINVAL, "%s: in use by kvfs pid "
				      "%ld%s", what, holder, hint);
	return kvfs_error_set(KVFS_EINVAL, "%s: in use by another kvfs "
			      "process%s", what, hint);
}

int kvfs_pidlock_take(int fd, uint64_t wait_ms, const char *what,
		      const char *hint)
{
	struct timespec start, retry = { 0, RETRY_NS };
	char text[32];
	int len;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (flock(fd, LOCK_EX | LOCK_NB)) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return kvfs_error_set(KVFS_EINVAL, "%s: cannot lock it: "
					      "%s", what, strerror(errno));
		if (ms_since(&start) >= (int64_t)wait_ms)
			return refuse(fd, what, hint);
		nanosleep(&retry, NULL);
	}
	len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (pwrite(fd, text, (size_t)len, 0) != len || ftruncate(fd, len))
		return kvfs_error_set(KVFS_EINVAL, "%s: writing its lock: %s",
				      what, strerror(errno));
	return 0;
}

/* The pid is written through held, open for writing, and stays in the
 * file; only the flock moves. A write through a second descriptor while
 * the lock is held by a read-only one would not do: on a filesystem that
 * publishes a file at close and gives a writer a new node when readers
 * have the old one cached (kvfs itself, when a root lies on a kvfs
 * mount), the lock would stay on the old node and a second taker would
 * lock the new one. */
int kvfs_pidlock_hand_over(int held, int fd, const char *what,
			   const char *hint)
{
	struct stat a, b;
	int rc = 0;

	if (fstat(held, &a) || fstat(fd, &b) || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino) {
		close(held);
		return kvfs_error_set(KVFS_EINVAL, "%s: its lock file changed "
				      "while it was being locked; try again",
				      what);
	}
	flock(held, LOCK_UN);
	while (flock(fd, LOCK_EX | LOCK_NB)) {
		if (errno == EINTR)
			continue;
		rc = errno == EWOULDBLOCK ?
			     refuse(fd, what, hint) :
			     kvfs_error_set(KVFS_EINVAL, "%s: cannot lock it: "
					    "%s", what, strerror(errno));
		break;
	}
	close(held);
	return rc;
}
