/*
 * descriptors.c - was a close the last one of an open file?
 *
 * The kernel sends a FLUSH for every close(2), and nothing in it says
 * whether the last descriptor of the open file went: a shell runs
 * `echo x > f` as open with O_TRUNC, dup2 onto stdout, close of the
 * original, and only then the write; `: > f` closes the dup at the end
 * without writing. For a close that would publish nothing but a
 * truncation (file.c, kvfs_fs_flush) the difference is whether an empty
 * value is the file's new value or an intermediate.
 *
 * The answer is yes only when the closing process is the one that opened
 * the file and holds no other descriptor of it: /proc/PID/fdinfo/N names
 * the inode of each descriptor it still has (the one being closed has
 * left the table before the FLUSH is sent). A close by another process
 * (a child that inherited the descriptor closes it at exec or exit) says
 * nothing about the opener, who may write next. Whenever it cannot tell
 * (the opener's thread is gone, another user's process, more descriptors
 * than it looks through, a kernel whose fdinfo has no "ino:" line) the
 * answer is no: the truncation is then published at release, the
 * kernel's word that the last descriptor is gone.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvfs_fs.h"

/* A process with more descriptors than this is not looked through. */
#define MAX_DESCRIPTORS 4096

/* The first number after `field` in the text of /proc/PATH, or 0. */
static unsigned long long proc_field(int dirfd, const char *path,
				     const char *field)
{
	char buf[2048], *at;
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	at = strstr(buf, field);
	return at ? strtoull(at + strlen(field), NULL, 10) : 0;
}

/* The process (thread group) of thread tid, or 0 when it is gone. */
static pid_t process_of(pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	return (pid_t)proc_field(AT_FDCWD, path, "\nTgid:");
}

/* Does this kernel's fdinfo name inodes? Asked of a descriptor of ours,
 * once. */
static bool fdinfo_names_inodes(void)
{
	static int says = -1; /* atomic; computed once, any thread */
	int known = __atomic_load_n(&says, __ATOMIC_RELAXED);

	if (known < 0) {
		int self = open("/proc/self/fdinfo",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		char name[16];

		snprintf(name, sizeof(name), "%d", self);
		known = self >= 0 && proc_field(self, name, "\nino:") != 0;
		if (self >= 0)
			close(self);
		__atomic_store_n(&says, known, __ATOMIC_RELAXED);
	}
	return known;
}

/* Does process pid hold no descriptor of inode ino, for sure? */
static bool holds_none(pid_t pid, uint64_t ino)
{
	char path[64];
	struct dirent *e;
	unsigned int seen = 0;
	bool none = true;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)pid);
	d = opendir(path);
	if (!d)
		return false;
	while (none && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		none = ++seen <= MAX_DESCRIPTORS &&
		       proc_field(dirfd(d), e->d_name, "\nino:") != ino;
	}
	closedir(d);
	return none && fdinfo_names_inodes();
}

bool kvfs_fs_last_close(pid_t closer, pid_t opener, uint64_t ino)
{
	pid_t process;
	bool last;

	if (closer <= 0 || opener <= 0)
		return false;
	/* Reading another process's fdinfo can wait on that process (its
	 * epoll's lock, say, held while it polls a file of this mount):
	 * meanwhile another worker may read requests. */
	kvfs_fs_loop_wait_begin();
	process = process_of(closer);
	last = process && (closer == opener || process == process_of(opener)) &&
	       holds_none(process, ino);
	kvfs_fs_loop_wait_end();
	return last;
}
