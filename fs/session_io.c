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
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kvfs_fs.h"

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	struct fs *fs = userdata;
	const struct fuse_in_header *in = buf;
	ssize_t n = read(fd, buf, len);

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

	if (init && count >= 2 &&
	    iov[0].iov_len >= sizeof(struct fuse_out_header)) {
		const struct fuse_out_header *out = iov[0].iov_base;

		if (out->unique == init) {
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
	return writev(fd, iov, count);
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
