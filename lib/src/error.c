/*
 * error.c - the calling thread's last error message and the names of the
 * expected error codes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <kvfs/kvfs.h>

static _Thread_local char last_message[1024];

const char *kvfs_error_message(void)
{
	return last_message[0] ? last_message : "no error";
}

const char *kvfs_error_name(int code)
{
	switch (code) {
	case KVFS_OK: return "success";
	case KVFS_EFAIL: return "failure";
	case KVFS_ENOTFOUND: return "not found";
	case KVFS_EEXISTS: return "exists";
	case KVFS_ENOTEMPTY: return "not empty";
	case KVFS_EISDIR: return "is a directory";
	case KVFS_ENOTDIR: return "not a directory";
	case KVFS_EINVALKEY: return "invalid key";
	case KVFS_ENAMETOOLONG: return "name too long";
	case KVFS_ETOOLARGE: return "too large";
	case KVFS_EUNAVAILABLE: return "unavailable";
	case KVFS_ETIMEDOUT: return "timed out";
	case KVFS_ECONFLICT: return "conflict";
	case KVFS_ENOTSUPPORTED: return "not supported";
	case KVFS_EINVAL: return "invalid argument";
	case KVFS_ENOSPACE: return "no space";
	case KVFS_ENODATA: return "no such attribute";
	case KVFS_EREADONLY: return "read-only";
	case KVFS_ECROSS: return "not in one step";
	}
	return "unknown error";
}

int kvfs_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_message, sizeof(last_message), fmt, ap);
	va_end(ap);
	return code;
}

int kvfs_error_from_errno(int err, const char *what)
{
	int code;

	switch (err) {
	case ENOENT: code = KVFS_ENOTFOUND; break;
	case EEXIST: code = KVFS_EEXISTS; break;
	case ENOTEMPTY: code = KVFS_ENOTEMPTY; break;
	case EISDIR: code = KVFS_EISDIR; break;
	case ENOTDIR: code = KVFS_ENOTDIR; break;
	case ENAMETOOLONG: code = KVFS_ENAMETOOLONG; break;
	case EFBIG: code = KVFS_ETOOLARGE; break;
	case ETIMEDOUT: code = KVFS_ETIMEDOUT; break;
	case ENOTSUP: code = KVFS_ENOTSUPPORTED; break;
	case EINVAL: code = KVFS_EINVAL; break;
	case ENOSPC: case EDQUOT: code = KVFS_ENOSPACE; break;
	case ENODATA: code = KVFS_ENODATA; break;
	case EROFS: code = KVFS_EREADONLY; break;
	/* ELOOP/EXDEV come from RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS: a path
	 * that would leave the root or follow a planted symlink. */
	case ELOOP: case EXDEV: code = KVFS_EINVALKEY; break;
	default: code = KVFS_EFAIL; break;
	}
	/* `what` may be a 4096-byte key: shorten it so that the reason
	 * still fits the message buffer. */
	kvfs_error_set(code, "%.200s%s: %s", what,
		       strlen(what) > 200 ? "..." : "", strerror(err));
	return code;
}
