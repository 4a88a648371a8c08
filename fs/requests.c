/*
 * requests.c - the kernel's requests counted by kind (opcode), for
 * user.kvfs.stats and the benchmarks: a round trip saved is seen there,
 * not guessed. Every request enters through one of two doors, and each
 * counts what it lets in: the session's read hook (session_io.c: libfuse's
 * loops, and kvfs's own loop when it reads) and kvfs's loop when it
 * splices a request (loop.c). With -o splice_read, libfuse's loop splices
 * requests past the hook, and they are not counted.
 */
#include <stdint.h>

#include "kvfs_fs.h"

/* Opcodes of linux/fuse.h (protocol 7.45), by number. */
static const char *const request_names[] = {
	[1] = "LOOKUP", [2] = "FORGET", [3] = "GETATTR", [4] = "SETATTR",
	[5] = "READLINK", [6] = "SYMLINK", [8] = "MKNOD", [9] = "MKDIR",
	[10] = "UNLINK", [11] = "RMDIR", [12] = "RENAME", [13] = "LINK",
	[14] = "OPEN", [15] = "READ", [16] = "WRITE", [17] = "STATFS",
	[18] = "RELEASE", [20] = "FSYNC", [21] = "SETXATTR",
	[22] = "GETXATTR", [23] = "LISTXATTR", [24] = "REMOVEXATTR",
	[25] = "FLUSH", [26] = "INIT", [27] = "OPENDIR", [28] = "READDIR",
	[29] = "RELEASEDIR", [30] = "FSYNCDIR", [31] = "GETLK",
	[32] = "SETLK", [33] = "SETLKW", [34] = "ACCESS", [35] = "CREATE",
	[36] = "INTERRUPT", [37] = "BMAP", [38] = "DESTROY", [39] = "IOCTL",
	[40] = "POLL", [41] = "NOTIFY_REPLY", [42] = "BATCH_FORGET",
	[43] = "FALLOCATE", [44] = "READDIRPLUS", [45] = "RENAME2",
	[46] = "LSEEK", [47] = "COPY_FILE_RANGE", [48] = "SETUPMAPPING",
	[49] = "REMOVEMAPPING", [50] = "SYNCFS", [51] = "TMPFILE",
	[52] = "STATX",
};
#define NKINDS (sizeof(request_names) / sizeof(request_names[0]))

/* One more slot for opcodes this table does not name. */
static unsigned long counts[NKINDS + 1];

void kvfs_fs_request_seen(uint32_t opcode)
{
	size_t i = opcode < NKINDS && request_names[opcode] ? opcode : NKINDS;

	__atomic_add_fetch(&counts[i], 1, __ATOMIC_RELAXED);
}

int kvfs_fs_requests_text(struct kvfs_buf *out)
{
	int rc = kvfs_buf_appendf(out, "kernel:");

	for (size_t i = 0; i <= NKINDS && rc == 0; i++) {
		unsigned long n = __atomic_load_n(&counts[i], __ATOMIC_RELAXED);

		if (n)
			rc = kvfs_buf_appendf(out, " %s=%lu",
					      i < NKINDS ? request_names[i]
							 : "OTHER", n);
	}
	return rc ? rc : kvfs_buf_appendf(out, "\n");
}
