/*
 * detach.c - running in the background, as kvfs does without -f.
 *
 * The daemon detaches, but only once the mount is in place and the kernel
 * has accepted its settings (INIT answered), so that a script, mount(8)
 * or systemd can use the mount as soon as kvfs returns, and every error
 * before that reaches the terminal and the exit status. It forks before
 * anything has started a thread (the store's journal and watch threads,
 * libcurl's): threads do not survive fork(2), and a lock one of them held
 * would stay locked in the child. So the child does all the work, and the
 * parent waits for one byte on a pipe or for the child's end, then exits
 * with 0 or the child's status. Where its log lines go from then on is
 * log_dest.c's choice.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvfs_fs.h"

#ifdef KVFS_COVERAGE
void __gcov_dump(void);
#endif

/* The starting process ends with status. _exit: nothing of it needs
 * tearing down. A coverage build writes its counters first, since _exit
 * skips the handler that would (the line after that cannot count). */
static __attribute__((noreturn)) void leave(int status)
{
#ifdef KVFS_COVERAGE
	__gcov_dump();
#endif
	_exit(status); /* GCOVR_EXCL_LINE */
}

/* Started with stdin, stdout or stderr closed, the next descriptors
 * opened (the pipe below, the store's root and lock) would take their
 * numbers, which detaching then points at /dev/null: the store would
 * find /dev/null where its root was. Fill them with /dev/null first. */
static void fill_std_fds(void)
{
	int fd;

	do
		fd = open("/dev/null", O_RDWR);
	while (fd >= 0 && fd <= STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

int kvfs_fs_detach_begin(void)
{
	int ready[2], st = 0;
	pid_t child;
	ssize_t n;
	char byte;

	fill_std_fds();
	if (pipe2(ready, O_CLOEXEC) || (child = fork()) < 0) {
		fprintf(stderr, "kvfs: cannot detach: %s\n", strerror(errno));
		return -1;
	}
	if (child == 0) {
		close(ready[0]);
		return ready[1];
	}
	close(ready[1]);
	do
		n = read(ready[0], &byte, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		leave(0);
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	leave(WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : 1);
}

void kvfs_fs_detach_end(int ready)
{
	bool keep_stderr = kvfs_fs_log_detached(); /* log_dest.c */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (!keep_stderr)
			dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	setsid();
	if (chdir("/"))
		kvfs_log(KVFS_LOG_WARNING, "chdir /: %s", strerror(errno));
	if (write(ready, "", 1) != 1)
		kvfs_log(KVFS_LOG_WARNING, "telling the starting process: %s",
			 strerror(errno));
	close(ready);
}
