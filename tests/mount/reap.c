/*
 * reap.c - run a command that detaches a daemon, as users run kvfs, and
 * still learn the daemon's pid and exit status.
 *
 *   reap PIDFILE CMD [ARGS...]
 *
 * reap becomes a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so the
 * process that CMD leaves behind when it returns is re-parented to reap
 * instead of to init. When CMD fails, reap waits for what it started and
 * exits with CMD's status. When CMD succeeds, reap writes the pid of the
 * detached process into PIDFILE (written whole, then renamed into
 * place), waits for it, and exits with its status (128 + the signal that
 * killed it). A test runs `reap ... &`: its own child, whose `wait` gives
 * the daemon's exit status, while the daemon itself ran detached.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int status_of(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

/* The first process whose parent is this one, or -1. */
static pid_t find_child(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = -1, self = getpid();

	if (!d)
		return -1;
	while (found < 0 && (e = readdir(d))) {
		char path[300], buf[512], *p;
		FILE *f;
		int ppid;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		/* "pid (comm) state ppid ...": comm may hold spaces. */
		if (p && sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == self)
			found = (pid_t)atoi(e->d_name);
	}
	closedir(d);
	return found;
}

static int write_pid(const char *file, pid_t pid)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0)
		return -1;
	return rename(tmp, file);
}

int main(int argc, char **argv)
{
	pid_t cmd, daemon;
	int st;

	if (argc < 3) {
		fprintf(stderr, "usage: reap PIDFILE CMD [ARGS...]\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		perror("reap: PR_SET_CHILD_SUBREAPER");
		return 2;
	}
	cmd = fork();
	if (cmd < 0) {
		perror("reap: fork");
		return 2;
	}
	if (cmd == 0) {
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	if (waitpid(cmd, &st, 0) != cmd)
		return 2;
	if (status_of(st) != 0) {
		while (wait(NULL) > 0 || errno == EINTR)
			;
		return status_of(st);
	}
	daemon = find_child();
	if (daemon < 0) {
		fprintf(stderr, "reap: %s returned 0 and left no process\n",
			argv[2]);
		return 2;
	}
	if (write_pid(argv[1], daemon)) {
		perror(argv[1]);
		return 2;
	}
	while (waitpid(daemon, &st, 0) < 0)
		if (errno != EINTR)
			return 2;
	return status_of(st);
}
