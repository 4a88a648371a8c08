/*
 * descriptors.c - does a process that closed a descriptor of a file still
 * hold another one of it?
 *
 * The kernel sends a FLUSH for every close(2), and nothing in it says
 * whether the last descriptor of the open file went: a shell runs
 * `echo x > f` as open with O_TRUNC, dup2 onto stdout, close of the
 * original, and only then the write; `: > f` closes the dup at the end
 * without writing. For a close that would publish nothing but a
 * truncation (file.c, kvfs_fs_flush) the difference is whether an empty
 * value is the file's new value or an intermediate. /proc/PID/fdinfo/N
 * names the inode of each descriptor the process still has (the one
 * being closed has left the table before the FLUSH is sent), so the
 * daemon looks there. When it cannot tell (no such process any more,
 * another user's process, a kernel whose fdinfo has no "ino:" line), it
 * answers that the file may still be open: the truncation is then
 * published at release, as the kernel's word that the last descriptor is
 * gone.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvfs_fs.h"

/* The inode number in an fdinfo file's text, or 0 when it has none. */
static uint64_t fdinfo_ino(int dirfd, const char *name)
{
	char buf[512], *line;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	line = strstr(buf, "\nino:");
	return line ? strtoull(line + 5, NULL, 10) : 0;
}

bool kvfs_fs_still_open_in(pid_t pid, uint64_t ino)
{
	char path[64];
	struct dirent *e;
	bool found = false, told = false;
	DIR *d;

	if (pid <= 0)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)pid);
	d = opendir(path);
	if (!d)
		return true;
	while (!found && (e = readdir(d))) {
		uint64_t i;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		i = fdinfo_ino(dirfd(d), e->d_name);
		told |= i != 0;
		found = i == ino;
	}
	closedir(d);
	/* No descriptor named an inode: either there are none left, or
	 * this kernel does not say. Ask about one of this daemon's own. */
	if (!found && !told) {
		static int says = -1; /* atomic; computed once, any thread */
		int known = __atomic_load_n(&says, __ATOMIC_RELAXED);

		if (known < 0) {
			int self = open("/proc/self/fdinfo",
					O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			char name[16];

			snprintf(name, sizeof(name), "%d", self);
			known = self >= 0 && fdinfo_ino(self, name) != 0;
			if (self >= 0)
				close(self);
			__atomic_store_n(&says, known, __ATOMIC_RELAXED);
		}
		return !known;
	}
	return found;
}
