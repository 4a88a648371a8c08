/*
 * failsync.c - an LD_PRELOAD shim for fault tests: the next fsync(2) of
 * the process fails with EIO once the file named by KVFS_FAIL_FSYNC
 * exists (the shim removes it, so exactly one call fails). The local
 * backend fsyncs a value before it renames it into place, so this fails
 * a publish the way a failing disk does.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int fsync(int fd);

int fsync(int fd)
{
	static int (*real)(int);
	const char *flag = getenv("KVFS_FAIL_FSYNC");

	if (flag && unlink(flag) == 0) {
		errno = EIO;
		return -1;
	}
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	return real(fd);
}
