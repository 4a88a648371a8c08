/*
 * errno.c - the one place where a libkvfs error code becomes an errno for
 * the kernel, and where the library's message is logged.
 *
 * KVFS_ECONFLICT becomes EIO: a concurrent change made the operation fail
 * and nothing was changed; the message in the log says what happened.
 * KVFS_EREADONLY becomes EROFS and is routine: the caller's error says it
 * all, and a read-only root would log a line for every refused change.
 */
#include <errno.h>

#include "kvfs_fs.h"

static int errno_of(int rc)
{
	switch (rc) {
	case KVFS_ENOTFOUND:
		return ENOENT;
	case KVFS_EEXISTS:
		return EEXIST;
	case KVFS_ENOTEMPTY:
		return ENOTEMPTY;
	case KVFS_EISDIR:
		return EISDIR;
	case KVFS_ENOTDIR:
		return ENOTDIR;
	case KVFS_EINVALKEY:
		return EINVAL;
	case KVFS_ENAMETOOLONG:
		return ENAMETOOLONG;
	case KVFS_ETOOLARGE:
		return EFBIG;
	case KVFS_EUNAVAILABLE:
		return EIO;
	case KVFS_ETIMEDOUT:
		return ETIMEDOUT;
	case KVFS_ECONFLICT:
		return EIO;
	case KVFS_ENOTSUPPORTED:
		return ENOTSUP;
	case KVFS_EINVAL:
		return EINVAL;
	case KVFS_ENOSPACE:
		return ENOSPC;
	case KVFS_ENODATA:
		return ENODATA;
	case KVFS_EREADONLY:
		return EROFS;
	case KVFS_ECROSS:
		return EXDEV;
	default:
		return EIO;
	}
}

/* Expected answers that are part of normal use are logged at debug level
 * (log_level=debug or -d). */
static bool is_routine(int rc)
{
	return rc == KVFS_ENOTFOUND || rc == KVFS_EEXISTS ||
	       rc == KVFS_ENOTEMPTY || rc == KVFS_EISDIR ||
	       rc == KVFS_ENOTDIR || rc == KVFS_ENODATA ||
	       rc == KVFS_ENAMETOOLONG || rc == KVFS_ENOTSUPPORTED ||
	       rc == KVFS_EINVALKEY || rc == KVFS_EINVAL ||
	       rc == KVFS_EREADONLY || rc == KVFS_ECROSS;
}

int kvfs_fs_errno(struct fs *fs, int rc, const char *what)
{
	if (rc >= 0)
		return 0;
	if (!is_routine(rc))
		fuse_log(FUSE_LOG_ERR, "kvfs: %s: %s (%s)\n", what,
			 kvfs_error_message(), kvfs_error_name(rc));
	else
		kvfs_log(KVFS_LOG_DEBUG, "%s: %s", what, kvfs_error_message());
	return errno_of(rc);
}
