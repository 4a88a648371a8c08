/*
 * session_io.c - what the daemon says to /dev/fuse beyond what libfuse
 * 3.14 can ask for.
 *
 * FUSE_HANDLE_KILLPRIV_V2 tells the kernel that the filesystem itself
 * clears set-user-ID and set-group-ID bits and security.capability when a
 * file is written, truncated or given away. Without it the kernel, which
 * may not remember that a FUSE file has none of these (it clears SB_NOSEC),
 * asks for security.capability before every write(2): a GETXATTR round
 * trip that doubles the cost of a stream of writes. kvfs has nothing to
 * clear, ever: it keeps no security.* attributes (xattr.c answers ENOTSUP;
 * the local backend does not carry them into a new value) and no set-ID
 * bits (KVFS_MODE_KEPT), so it can make that promise, and a stream of
 * writes costs one round trip per request, not two.
 *
 * libfuse 3.14 has no capability bit for the flag (later versions have
 * FUSE_CAP_HANDLE_KILLPRIV_V2), so the INIT reply is amended on its way to
 * the kernel, when the kernel offered the flag in its INIT request. The
 * session's reads and writes go through the hooks below for that
 * (fuse_session_custom_io); they are plain read(2), writev(2) and splice(2)
 * otherwise.
 *
 * At exit the daemon may have to abort the connection (kernel's
 * /sys/fs/fuse/connections/N/abort, or a forced unmount): a handler can
 * wait for the kernel while the kernel waits for a request that nobody
 * will read any more (kvfs_fs_session_abort). It learns N, the mount's
 * device number, from /proc/self/mountinfo once mounted.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvfs_fs.h"

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	struct fs *fs = userdata;
	const struct fuse_in_header *in = buf;
	ssize_t n = read(fd, buf, len);

	if (n >= (ssize_t)sizeof(*in))
		kvfs_fs_request_seen(in->opcode);
	if (n >= (ssize_t)(sizeof(*in) + offsetof(struct fuse_init_in, flags) +
			   sizeof(uint32_t)) &&
	    in->opcode == FUSE_INIT) {
		const struct fuse_init_in *arg = (const void *)(in + 1);

		fs->killpriv_offered =
			(arg->flags & FUSE_HANDLE_KILLPRIV_V2) != 0;
		__atomic_store_n(&fs->init_unique, in->unique,
				 __ATOMIC_RELEASE);
	}
	return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count,
			 void *userdata)
{
	struct fs *fs = userdata;
	uint64_t init = __atomic_load_n(&fs->init_unique, __ATOMIC_ACQUIRE);
	bool accepted = false;
	ssize_t n;

	if (init && count >= 2 &&
	    iov[0].iov_len >= sizeof(struct fuse_out_header)) {
		const struct fuse_out_header *out = iov[0].iov_base;

		if (out->unique == init) {
			accepted = out->error == 0;
			__atomic_store_n(&fs->init_unique, 0,
					 __ATOMIC_RELAXED);
			/* libfuse refused the kernel's terms and ends the
			 * session; main() turns this into exit status 1. */
			fs->init_error = -out->error;
			if (out->error == 0 && fs->killpriv_offered &&
			    iov[1].iov_len >= offsetof(struct fuse_init_out,
						       flags) +
						      sizeof(uint32_t)) {
				struct fuse_init_out *arg = iov[1].iov_base;

				arg->flags |= FUSE_HANDLE_KILLPRIV_V2;
			}
		}
	}
	n = writev(fd, iov, count);
	/* The kernel took the mount's settings: a detaching daemon lets
	 * the command that started it return now (detach.c). */
	if (accepted && n >= 0 && fs->ready_fd >= 0) {
		kvfs_fs_detach_end(fs->ready_fd);
		fs->ready_fd = -1;
	}
	return n;
}

/* Without this hook libfuse would stop splicing replies (reads, pushes
 * into the page cache) once the session has hooks at all. */
static ssize_t io_splice_send(int fdin, off_t *offin, int fdout,
			      off_t *offout, size_t len, unsigned int flags,
			      void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static const struct fuse_custom_io session_io = {
	.read = io_read,
	.writev = io_writev,
	.splice_send = io_splice_send,
};

int kvfs_fs_session_io(struct fs *fs)
{
	/* libfuse documents this for a descriptor the caller mounted
	 * itself; for the one fuse_session_mount opened it only routes the
	 * session's reads and writes through the hooks. */
	return fuse_session_custom_io(fs->se, &session_io,
				      fuse_session_fd(fs->se));
}

/* Undo mountinfo's octal escapes (\040 for a space, ...) in place. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
					(s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

unsigned int kvfs_fs_mount_device(const char *mnt)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	unsigned int found = 0;

	if (!f)
		return 0;
	while (getline(&line, &cap, f) > 0) {
		unsigned int major, minor;
		char point[4096], *sep = strstr(line, " - ");

		if (!sep || strncmp(sep + 3, "fuse", 4) ||
		    sscanf(line, "%*u %*u %u:%u %*s %4095s", &major, &minor,
			   point) != 3)
			continue;
		unescape(point);
		if (major == 0 && !strcmp(point, mnt))
			found = minor;
	}
	free(line);
	fclose(f);
	return found;
}

void kvfs_fs_session_mounted(struct fs *fs, const char *mountpoint)
{
	fs->mountpoint = mountpoint;
	fs->conn_dev = kvfs_fs_mount_device(mountpoint);
}

/* Detach the mount at mnt (lazily: programs may hold it). */
static void detach(const char *mnt)
{
	pid_t pid;
	int st;

	if (geteuid() == 0) {
		umount2(mnt, MNT_DETACH);
		return;
	}
	pid = fork();
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-q", "-z", "--", mnt,
		       (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
}

void kvfs_fs_session_abort(struct fs *fs, const char *why)
{
	char path[64];
	bool done = false, mounted;
	int fd;

	if (!fs->conn_dev || __atomic_load_n(&fs->aborted, __ATOMIC_ACQUIRE))
		return;
	mounted = kvfs_fs_mount_device(fs->mountpoint) == fs->conn_dev;
	/* As root, a forced unmount aborts the connection first, whether or
	 * not the unmount then succeeds; else fusectl's abort file. */
	if (mounted && geteuid() == 0)
		done = umount2(fs->mountpoint, MNT_FORCE) == 0 ||
		       errno == EBUSY;
	if (!done) {
		snprintf(path, sizeof(path),
			 "/sys/fs/fuse/connections/%u/abort", fs->conn_dev);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			done = write(fd, "1", 1) == 1;
			close(fd);
		}
	}
	/* libfuse does not unmount a session whose connection is gone. */
	if (done && kvfs_fs_mount_device(fs->mountpoint) == fs->conn_dev)
		detach(fs->mountpoint);
	if (done || !mounted)
		__atomic_store_n(&fs->aborted, true, __ATOMIC_RELEASE);
	if (why && (done || mounted))
		kvfs_log(done ? KVFS_LOG_WARNING : KVFS_LOG_ERROR, "%s: %s",
			 why, done ? "aborted the connection"
				   : "could not abort the connection (mount "
				     "fusectl on /sys/fs/fuse/connections, or "
				     "run as root)");
}
