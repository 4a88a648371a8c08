/*
 * log_dest.c - where the daemon's log lines go (-o log=DEST).
 *
 *   log=stderr   stderr; the default with -f. Detached, the daemon keeps
 *                the stderr of the command that started it (whatever it
 *                is: a pipe's reader then waits for the daemon's end).
 *   log=syslog   syslog, facility daemon, ident kvfs; the default when
 *                detached and a syslog socket (/dev/log) answers.
 *   log=FILE     lines appended to FILE (an absolute path), each with its
 *                UTC time, the pid and the level; opened at start, so that
 *                a file that cannot be opened stops the start.
 *
 * Detached with no log= and no syslog socket (a container, a rescue
 * shell), syslog(3) would drop every line: the daemon keeps the starting
 * command's stderr instead when it is a terminal or a file, and says so
 * in one line on that stderr (or that lines are dropped, when stderr is
 * a pipe, a socket or /dev/null). That line is a note, not an error: it
 * starts "kvfs: note:", comes once the mount is in place, and the start
 * still exits 0, so a script goes by the exit status, not by stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "kvfs_fs.h"

#define SYSLOG_SOCKET "/dev/log"

static enum { DEST_DEFAULT, DEST_STDERR, DEST_SYSLOG, DEST_FILE } dest;
static int log_fd = -1; /* DEST_FILE */

static const char *const level_names[] = {
	[KVFS_LOG_ERROR] = "error", [KVFS_LOG_WARNING] = "warning",
	[KVFS_LOG_INFO] = "info", [KVFS_LOG_DEBUG] = "debug",
};

/* One write(2) per line on an O_APPEND descriptor: lines of several
 * threads never mix. */
static void file_handler(enum kvfs_log_level level, const char *message,
			 void *ctx)
{
	char line[2300], stamp[32];
	struct timespec now;
	struct tm tm;
	int n;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s kvfs[%ld] %s: %s\n", stamp,
		     (long)getpid(), level_names[level], message);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (write(log_fd, line, (size_t)n) < 0) {
		/* Nowhere left to say it. */
	}
}

static void syslog_handler(enum kvfs_log_level level, const char *message,
			   void *ctx)
{
	static const int priority[] = {
		[KVFS_LOG_ERROR] = LOG_ERR, [KVFS_LOG_WARNING] = LOG_WARNING,
		[KVFS_LOG_INFO] = LOG_INFO, [KVFS_LOG_DEBUG] = LOG_DEBUG,
	};

	(void)ctx;
	syslog(priority[level], "%s", message);
}

static void use_syslog(void)
{
	openlog("kvfs", LOG_PID, LOG_DAEMON);
	kvfs_log_set_handler(syslog_handler, NULL);
}

/* Does a syslog daemon listen on /dev/log? (syslog(3) drops lines
 * silently when nobody does.) */
static bool syslog_reachable(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, types[] = { SOCK_DGRAM, SOCK_STREAM };
	bool ok = false;

	memcpy(addr.sun_path, SYSLOG_SOCKET, sizeof(SYSLOG_SOCKET));
	for (size_t i = 0; i < 2 && !ok; i++) {
		fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
		close(fd);
	}
	return ok;
}

int kvfs_fs_log_open(const char *spec, bool foreground)
{
	if (!spec || !spec[0]) {
		dest = DEST_DEFAULT;
	} else if (!strcmp(spec, "stderr")) {
		dest = DEST_STDERR;
	} else if (!strcmp(spec, "syslog")) {
		dest = DEST_SYSLOG;
	} else if (spec[0] == '/') {
		log_fd = open(spec, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
				    O_NOCTTY, 0640);
		if (log_fd < 0) {
			fprintf(stderr, "kvfs: log=%s: %s\n", spec,
				strerror(errno));
			return -1;
		}
		dest = DEST_FILE;
	} else {
		fprintf(stderr, "kvfs: log=%s: use log=stderr, log=syslog or "
			"log=/absolute/path/of/a/file\n", spec);
		return -1;
	}
	if (dest == DEST_FILE)
		kvfs_log_set_handler(file_handler, NULL);
	else if (dest == DEST_SYSLOG && foreground)
		use_syslog();
	/* Otherwise stderr, the library's default, until detaching. */
	return 0;
}

/* May a detached daemon keep writing to stderr unasked? A terminal or a
 * file, yes; a pipe or a socket, no: its reader (`out=$(kvfs ... 2>&1)`,
 * ssh) would wait for the daemon's end. */
static bool stderr_keepable(void)
{
	struct stat st;

	if (isatty(STDERR_FILENO))
		return true;
	return fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode);
}

bool kvfs_fs_log_detached(void)
{
	if (dest == DEST_DEFAULT && syslog_reachable()) {
		dest = DEST_SYSLOG;
	} else if (dest == DEST_DEFAULT && stderr_keepable()) {
		dest = DEST_STDERR;
		fprintf(stderr, "kvfs: note: no syslog at " SYSLOG_SOCKET
			", so the daemon logs to this command's stderr "
			"(choose with -o log=FILE)\n");
	} else if (dest == DEST_DEFAULT) {
		fprintf(stderr, "kvfs: note: no syslog at " SYSLOG_SOCKET
			", so the daemon's log lines are dropped (keep them "
			"with -o log=FILE)\n");
	}
	if (dest == DEST_SYSLOG)
		use_syslog();
	return dest == DEST_STDERR;
}
