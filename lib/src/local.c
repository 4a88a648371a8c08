/*
 * local.c - the local backend: one file per key under a root directory,
 * '/' in a key makes real directories. Always strongly consistent: every
 * level is accepted and served with strong semantics.
 *
 * Atomic writes: a value is written to a temporary file under
 * ROOT/.kvfs/tmp (same filesystem), fsync'd, given the old file's mode and
 * extended attributes (not its set-ID bits or security.* attributes, as a
 * write would clear them), renamed into place, and the directory fsync'd (the
 * syncing can be turned off with sync=false). A crash never leaves a torn
 * value, only a stale temporary file, which is removed when a backend next
 * opens the root. ".kvfs" at the top is therefore reserved: never listed,
 * and refused as a key.
 *
 * One store per root: opening one takes an exclusive flock on
 * ROOT/.kvfs/lock, held until the store is closed, since the daemon lets
 * the kernel cache what it serves and a second writer would go unseen.
 *
 * Containment: every path is resolved beneath the root's descriptor with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), so
 * neither "..", an absolute path nor a symlink planted inside the root can
 * lead outside it. Metadata calls that have no fd variant for O_PATH
 * descriptors go through /proc/self/fd/N of a descriptor resolved that way.
 * Only regular files and directories are keys: a planted symlink, fifo or
 * device is neither read, nor changed, nor a source of metadata. A value
 * whose file has other hard links is never changed in place: writes
 * replace the file anyway, and an attribute change first replaces it with
 * a private copy (the link is broken, as by a write).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <kvfs/backend.h>
#include "store_internal.h"

#define RESERVED_DIR ".kvfs"
#define TMP_DIR ".kvfs/tmp"
#define LOCK_FILE ".kvfs/lock"
/* Tries of an attribute change on a value whose file has other links,
 * each lost to a concurrent write or rename of the same key. */
#define CHANGE_TRIES 3
#define DEFAULT_FILE_MODE 0644
#define DEFAULT_DIR_MODE 0755
/* Mode bits the backend gives its files: permissions and the sticky bit.
 * Set-ID bits are never set on the files under the root (values are data,
 * and a program stored here must not gain privileges by it). */
#define LOCAL_MODE_KEPT 01777

struct local_backend {
	struct kvfs_backend base;
	char *root_path;
	int root_fd;  /* O_DIRECTORY; every path resolves beneath it */
	/* ROOT/.kvfs/tmp. Replaced in place (dup3) under tmp_lock when the
	 * directory was removed, so that a thread using the number never
	 * meets a closed or reused descriptor. */
	_Atomic int tmp_fd;
	int lock_fd;  /* ROOT/.kvfs/lock, flock'd while the store is open */
	bool sync;    /* fsync files and directories on every publish */
	/* Held while a key's directory entry changes (publish, delete,
	 * rename) or its attributes do, so that a publish carries over a
	 * change made before it and a private copy replaces only the file it
	 * copied. Never held with another lock. */
	pthread_mutex_t entry_lock;
	pthread_mutex_t tmp_lock; /* recreating ROOT/.kvfs/tmp */
	atomic_uint_fast64_t tmp_counter;
};

static struct local_backend *local_of(struct kvfs_backend *b)
{
	return (struct local_backend *)b;
}

/* ------------------------------------------------------------- resolving */

/* Open `key` ("" = the root) beneath the root. Returns an fd or -errno. */
static int resolve(struct local_backend *lb, const char *key, int flags,
		   mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	const char *path = key[0] ? key : ".";
	int dir_fd = lb->root_fd, parent_fd = -1, err;
	long fd;

	/* openat2 takes paths shorter than PATH_MAX; a key of KVFS_KEY_MAX
	 * bytes is resolved as its parent, then its last component. */
	if (strlen(path) >= PATH_MAX) {
		const char *slash = strrchr(path, '/');
		char parent[KVFS_KEY_MAX + 1];

		if (!slash)
			return -ENAMETOOLONG;
		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path),
			 path);
		parent_fd = resolve(lb, parent, O_PATH | O_DIRECTORY, 0);
		if (parent_fd < 0)
			return parent_fd;
		dir_fd = parent_fd;
		path = slash + 1;
	}
	fd = syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));
	err = errno;
	if (parent_fd >= 0)
		close(parent_fd);
	return fd < 0 ? -err : (int)fd;
}

/* "/proc/self/fd/N" for metadata calls on an O_PATH descriptor. */
static void proc_path(int fd, char out[32])
{
	snprintf(out, 32, "/proc/self/fd/%d", fd);
}

/* The reserved top-level directory is not a key. */
static int check_not_reserved(const char *key)
{
	size_t n = strlen(RESERVED_DIR);

	if (!strncmp(key, RESERVED_DIR, n) && (key[n] == '\0' || key[n] == '/'))
		return kvfs_error_set(KVFS_EINVALKEY,
			"key '%s' is reserved by the local backend", key);
	return 0;
}

/* A file that is a key: a value or a directory. A symlink, fifo or device
 * planted in the root is not. */
static bool is_key_file(const struct stat *st)
{
	return S_ISREG(st->st_mode) || S_ISDIR(st->st_mode);
}

/* A value whose inode has names besides this one (a hard link planted in
 * the root, or a copy made with cp -l): never to be changed in place. */
static bool is_shared(const struct stat *st)
{
	return S_ISREG(st->st_mode) && st->st_nlink > 1;
}

/* key ("" = the root) as an O_PATH descriptor with its stat, when it is a
 * key file; KVFS_ENOTFOUND (as stat says) for anything else. */
static int open_own(struct local_backend *lb, const char *key, struct stat *st)
{
	int fd = resolve(lb, key, O_PATH, 0);

	if (fd < 0)
		return kvfs_error_from_errno(-fd, key[0] ? key : "root");
	if (fstat(fd, st) == 0 && is_key_file(st))
		return fd;
	close(fd);
	return kvfs_error_set(KVFS_ENOTFOUND,
			      "%s is neither a value nor a directory", key);
}

/* Give back what open_parent returned: the root's own descriptor stays. */
static void close_parent(struct local_backend *lb, int fd)
{
	if (fd != lb->root_fd)
		close(fd);
}

static int open_dir(struct local_backend *lb, const char *dir)
{
	int fd = resolve(lb, dir, O_RDONLY | O_DIRECTORY, 0);

	return fd == -EACCES ? resolve(lb, dir, O_PATH | O_DIRECTORY, 0) : fd;
}

/*
 * Split key into its parent directory, opened beneath the root, and its
 * last component. With `create_parents`, missing parents are made like
 * mkdir -p. Returns the parent fd or a KVFS_E code: opened for reading,
 * so that fsync_dir needs no second open, or O_PATH when the directory
 * may not be read. For a top-level key it is the root's own descriptor,
 * which costs nothing; give it back with close_parent.
 */
static int open_parent(struct local_backend *lb, const char *key,
		       bool create_parents, const char **name)
{
	const char *slash = strrchr(key, '/');
	char parent[KVFS_KEY_MAX + 1];
	int fd;

	*name = slash ? slash + 1 : key;
	if (!slash)
		return lb->root_fd;
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - key), key);
	fd = open_dir(lb, parent);
	if (fd == -ENOENT && create_parents) {
		/* mkdir -p: create each missing component in turn. */
		for (char *p = parent;; p++) {
			if (*p == '/' || *p == '\0') {
				char saved = *p;
				int dfd, rc;
				const char *dname;

				*p = '\0';
				dfd = open_parent(lb, parent, false, &dname);
				if (dfd < 0)
					return dfd;
				rc = mkdirat(dfd, dname, DEFAULT_DIR_MODE);
				close_parent(lb, dfd);
				if (rc && errno != EEXIST)
					return kvfs_error_from_errno(errno, parent);
				*p = saved;
				if (!saved)
					break;
			}
		}
		fd = open_dir(lb, parent);
	}
	if (fd < 0)
		return kvfs_error_from_errno(-fd, parent);
	return fd;
}

static int fsync_dir(struct local_backend *lb, int dir_path_fd)
{
	char path[32];
	int fd, rc = 0;

	if (!lb->sync || fsync(dir_path_fd) == 0)
		return 0;
	if (errno != EBADF) /* EBADF: an O_PATH descriptor */
		return kvfs_error_from_errno(errno, "fsync of directory");
	proc_path(dir_path_fd, path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		rc = kvfs_error_from_errno(errno, "fsync of directory");
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ------------------------------------------------------ temporary files */

static int open_tmp_dir(struct local_backend *lb);

/* Temporary files are named PID.N so that a backend opening the root can
 * tell its own from those of a live process and those left by a crash.
 * When ROOT/.kvfs/tmp is gone (someone removed it while the store was
 * open), it is made again and the file created there: writes go on
 * working, with one line in the log. */
static int create_tmp(struct local_backend *lb, char name[64])
{
	uint64_t n = atomic_fetch_add(&lb->tmp_counter, 1);
	int fd, err, rc;

	snprintf(name, 64, "%ld.%llu", (long)getpid(), (unsigned long long)n);
	for (int tries = 0;; tries++) {
		fd = openat(lb->tmp_fd, name,
			    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			    DEFAULT_FILE_MODE);
		if (fd >= 0)
			return fd;
		err = errno;
		/* ENOENT: the directory was removed. */
		if (err != ENOENT || tries > 0)
			break;
		pthread_mutex_lock(&lb->tmp_lock);
		rc = open_tmp_dir(lb);
		pthread_mutex_unlock(&lb->tmp_lock);
		if (rc)
			return rc;
		kvfs_log(KVFS_LOG_WARNING, "root %s: .kvfs/tmp had been "
			 "removed while mounted; made it again", lb->root_path);
	}
	return kvfs_error_from_errno(err, "temporary file");
}

/* Remove temporary files whose writer process is gone. */
static void clean_stale_tmp(struct local_backend *lb)
{
	int fd = openat(lb->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		long pid = strtol(de->d_name, NULL, 10);

		if (de->d_name[0] == '.')
			continue;
		if (pid > 0 && pid != (long)getpid() &&
		    kill((pid_t)pid, 0) == 0)
			continue; /* a live writer's file */
		unlinkat(lb->tmp_fd, de->d_name, 0);
	}
	closedir(dir);
}

/* Give the new file the old one's mode and extended attributes, so that
 * chmod and setfattr survive rewrites of the value; but, as a write to a
 * file does, not its privileges: set-ID bits and security.* attributes
 * (file capabilities) stay behind. */
static int copy_metadata(int old_path_fd, int new_fd)
{
	char path[32], *names = NULL, *value = NULL;
	struct stat st;
	ssize_t len;
	int rc = 0;

	if (fstat(old_path_fd, &st) == 0 &&
	    fchmod(new_fd, st.st_mode & LOCAL_MODE_KEPT))
		return kvfs_error_from_errno(errno, "copying the mode");
	proc_path(old_path_fd, path);
	len = listxattr(path, NULL, 0);
	if (len <= 0)
		return 0;
	names = malloc((size_t)len);
	if (!names)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	len = listxattr(path, names, (size_t)len);
	for (ssize_t off = 0; len > 0 && off < len;
	     off += (ssize_t)strlen(names + off) + 1) {
		ssize_t vlen;

		if (!strncmp(names + off, "security.", 9))
			continue;
		vlen = getxattr(path, names + off, NULL, 0);
		if (vlen < 0)
			continue;
		free(value);
		value = malloc((size_t)vlen + 1);
		if (!value) {
			rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
			break;
		}
		vlen = getxattr(path, names + off, value, (size_t)vlen);
		if (vlen >= 0 &&
		    fsetxattr(new_fd, names + off, value, (size_t)vlen, 0)) {
			rc = kvfs_error_from_errno(errno, "copying an xattr");
			break;
		}
	}
	free(value);
	free(names);
	return rc;
}

/* Give the temporary file the metadata of the value it replaces, if key
 * names a value: a planted symlink, fifo or device gives none, and the
 * new value starts with the default mode like a new key. The atime too:
 * a write does not move it (only set_attr does; see fill_stat). */
static int carry_metadata(struct local_backend *lb, const char *key, int tmp_fd)
{
	struct stat st;
	int old_fd = resolve(lb, key, O_PATH, 0), rc = 0;

	if (old_fd < 0)
		return 0;
	if (fstat(old_fd, &st) == 0 && S_ISREG(st.st_mode)) {
		struct timespec times[2] = { st.st_atim,
					     { .tv_nsec = UTIME_OMIT } };

		rc = copy_metadata(old_fd, tmp_fd);
		if (rc == 0 && futimens(tmp_fd, times))
			rc = kvfs_error_from_errno(errno, "copying the atime");
	}
	close(old_fd);
	return rc;
}

/*
 * Publish the temporary file `tmp_name` (open as tmp_fd) as `key`: sync it,
 * carry over the old value's metadata, rename it into place, sync the
 * directory. On failure the temporary file is removed and the stored value
 * is unchanged.
 */
static int publish(struct local_backend *lb, int tmp_fd, const char *tmp_name,
		   const char *key)
{
	const char *name;
	int parent_fd, rc;

	rc = check_not_reserved(key);
	if (rc)
		goto out_unlink;
	if (lb->sync && fsync(tmp_fd)) {
		rc = kvfs_error_from_errno(errno, "fsync");
		goto out_unlink;
	}
	parent_fd = open_parent(lb, key, true, &name);
	if (parent_fd < 0) {
		rc = parent_fd;
		goto out_unlink;
	}
	pthread_mutex_lock(&lb->entry_lock);
	rc = carry_metadata(lb, key, tmp_fd);
	if (rc == 0 && renameat(lb->tmp_fd, tmp_name, parent_fd, name))
		rc = kvfs_error_from_errno(errno, key);
	pthread_mutex_unlock(&lb->entry_lock);
	if (rc)
		goto out_close_parent;
	rc = fsync_dir(lb, parent_fd);
	close_parent(lb, parent_fd);
	return rc;

out_close_parent:
	close_parent(lb, parent_fd);
out_unlink:
	unlinkat(lb->tmp_fd, tmp_name, 0);
	return rc;
}

/* ------------------------------------------------------ value operations */

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kvfs_error_from_errno(errno, "write");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int local_put(struct kvfs_backend *b, const char *key,
		     const void *value, size_t len, enum kvfs_consistency level)
{
	struct local_backend *lb = local_of(b);
	char tmp_name[64];
	int fd, rc;

	fd = create_tmp(lb, tmp_name);
	if (fd < 0)
		return fd;
	rc = write_all(fd, value, len);
	if (rc)
		unlinkat(lb->tmp_fd, tmp_name, 0);
	else
		rc = publish(lb, fd, tmp_name, key);
	close(fd);
	return rc;
}

/* Open a value for reading: KVFS_EISDIR for a directory. */
static int open_value(struct local_backend *lb, const char *key,
		      struct stat *st)
{
	int fd = check_not_reserved(key);

	if (fd)
		return fd;
	/* O_NONBLOCK: a fifo planted in the root must not hang the open; it
	 * is refused below, and the flag cleared for a value. O_NOATIME: a
	 * read through kvfs, by a program or by kvfs itself, does not move
	 * the atime (see fill_stat); it needs the file's owner or
	 * CAP_FOWNER, which a value planted by someone else may lack. */
	fd = resolve(lb, key, O_RDONLY | O_NONBLOCK | O_NOATIME, 0);
	if (fd == -EPERM)
		fd = resolve(lb, key, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0)
		return kvfs_error_from_errno(-fd, key);
	if (fstat(fd, st)) {
		int rc = kvfs_error_from_errno(errno, key);

		close(fd);
		return rc;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return kvfs_error_set(S_ISDIR(st->st_mode) ? KVFS_EISDIR
				      : KVFS_EINVALKEY,
				      "%s is not a value", key);
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & O_NOATIME)) {
		int rc = kvfs_error_from_errno(errno, key);

		close(fd);
		return rc;
	}
	return fd;
}

static int local_get(struct kvfs_backend *b, const char *key,
		     enum kvfs_consistency level, struct kvfs_buf *out)
{
	struct stat st;
	char *data;
	size_t got = 0;
	int fd = open_value(local_of(b), key, &st);
	int rc = 0;

	if (fd < 0)
		return fd;
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		close(fd);
		return kvfs_error_set(KVFS_EFAIL, "out of memory for %s", key);
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, data + got, (size_t)st.st_size - got,
				  (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? kvfs_error_from_errno(errno, key) : 0;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (rc == 0) {
		data[got] = '\0';
		kvfs_buf_free(out);
		out->data = data;
		out->len = got;
	} else {
		free(data);
	}
	return rc;
}

static int local_del(struct kvfs_backend *b, const char *key,
		     enum kvfs_consistency level)
{
	struct local_backend *lb = local_of(b);
	struct stat st;
	const char *name;
	int parent_fd, rc = check_not_reserved(key);

	if (rc)
		return rc;
	parent_fd = open_parent(lb, key, false, &name);
	if (parent_fd < 0)
		return parent_fd;
	pthread_mutex_lock(&lb->entry_lock);
	if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW))
		rc = kvfs_error_from_errno(errno, key);
	else if (S_ISDIR(st.st_mode))
		rc = kvfs_error_set(KVFS_EISDIR, "%s is a directory", key);
	else if (!S_ISREG(st.st_mode))
		rc = kvfs_error_set(KVFS_ENOTFOUND, "%s is not a value", key);
	else if (unlinkat(parent_fd, name, 0))
		rc = kvfs_error_from_errno(errno, key);
	pthread_mutex_unlock(&lb->entry_lock);
	if (rc == 0)
		rc = fsync_dir(lb, parent_fd);
	close_parent(lb, parent_fd);
	return rc;
}

/* ------------------------------------------------- filesystem operations */

/* A version that changes with every new inode or change of it. */
static uint64_t version_of(const struct stat *st)
{
	uint64_t v = (uint64_t)st->st_ino * 0x9e3779b97f4a7c15ull;

	v ^= (uint64_t)st->st_ctim.tv_sec * 1000000007ull +
	     (uint64_t)st->st_ctim.tv_nsec;
	v ^= (uint64_t)st->st_size << 1;
	return v ? v : 1;
}

/*
 * The key's attributes are its file's: the mode, the times (kvfs reads
 * values with O_NOATIME and carries the atime over to each new value, so
 * atime moves only by set_attr; every change kvfs makes to a value or its
 * attributes moves the file's ctime, a publish by the rename that puts
 * the new file in place), the blocks it takes, and a directory's link
 * count, 2 plus its subdirectories on the filesystems that count them
 * (ext4, xfs, tmpfs; not btrfs, which says 1). The root's own .kvfs is
 * not a subdirectory of the store.
 */
static void fill_stat(const struct stat *st, bool is_root,
		      struct kvfs_stat *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = S_ISDIR(st->st_mode) ? KVFS_KIND_DIR : KVFS_KIND_FILE;
	out->size = S_ISDIR(st->st_mode) ? 0 : (uint64_t)st->st_size;
	out->mtime = st->st_mtim;
	out->mode = st->st_mode & 07777;
	out->version = version_of(st);
	out->valid = KVFS_STAT_MODE | KVFS_STAT_ATIME | KVFS_STAT_CTIME |
		     KVFS_STAT_BLOCKS;
	out->atime = st->st_atim;
	out->ctime = st->st_ctim;
	out->blocks = (uint64_t)st->st_blocks;
	if (S_ISDIR(st->st_mode) && st->st_nlink >= 2 + (is_root ? 1 : 0)) {
		out->nlink = (uint32_t)st->st_nlink - (is_root ? 1 : 0);
		out->valid |= KVFS_STAT_NLINK;
	}
}

/* stat of the last component, not followed, in its parent resolved
 * beneath the root (a top-level key needs no resolving): one system call
 * for the common case. A symlink planted in the root is neither a value
 * nor a directory, as resolve() sees it too. */
static int local_stat(struct kvfs_backend *b, const char *key,
		      enum kvfs_consistency level, struct kvfs_stat *out)
{
	struct local_backend *lb = local_of(b);
	const char *name = key[0] ? key : ".";
	struct stat st;
	int dir_fd = lb->root_fd, rc = check_not_reserved(key);

	if (rc)
		return rc;
	if (key[0]) {
		dir_fd = open_parent(lb, key, false, &name);
		if (dir_fd < 0)
			return dir_fd;
	}
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW))
		rc = kvfs_error_from_errno(errno, key[0] ? key : "root");
	else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		rc = kvfs_error_set(KVFS_ENOTFOUND,
			"%s is neither a value nor a directory", key);
	else
		fill_stat(&st, !key[0], out);
	close_parent(lb, dir_fd);
	return rc;
}

static int local_mkdir(struct kvfs_backend *b, const char *key, uint32_t mode,
		       enum kvfs_consistency level)
{
	struct local_backend *lb = local_of(b);
	const char *name;
	int parent_fd, rc = check_not_reserved(key);

	if (rc)
		return rc;
	parent_fd = open_parent(lb, key, false, &name);
	if (parent_fd < 0)
		return parent_fd;
	if (mkdirat(parent_fd, name, mode ? (mode_t)mode : DEFAULT_DIR_MODE))
		rc = kvfs_error_from_errno(errno, key);
	else
		rc = fsync_dir(lb, parent_fd);
	close_parent(lb, parent_fd);
	return rc;
}

static int local_rmdir(struct kvfs_backend *b, const char *key,
		       enum kvfs_consistency level)
{
	struct local_backend *lb = local_of(b);
	const char *name;
	int parent_fd, rc = check_not_reserved(key);

	if (rc)
		return rc;
	parent_fd = open_parent(lb, key, false, &name);
	if (parent_fd < 0)
		return parent_fd;
	if (unlinkat(parent_fd, name, AT_REMOVEDIR))
		rc = kvfs_error_from_errno(errno, key);
	else
		rc = fsync_dir(lb, parent_fd);
	close_parent(lb, parent_fd);
	return rc;
}

/* Move a key's entry; a planted symlink, fifo or device is not a key to
 * move (KVFS_ENOTFOUND, as stat says). */
static int rename_entry(int from_fd, const char *from_name, int to_fd,
			const char *to_name, unsigned int flags,
			const char *from)
{
	struct stat st;

	if (fstatat(from_fd, from_name, &st, AT_SYMLINK_NOFOLLOW))
		return kvfs_error_from_errno(errno, from);
	if (!is_key_file(&st))
		return kvfs_error_set(KVFS_ENOTFOUND,
			"%s is neither a value nor a directory", from);
	if (renameat2(from_fd, from_name, to_fd, to_name,
		      (flags & KVFS_RENAME_NOREPLACE) ? RENAME_NOREPLACE : 0))
		return kvfs_error_from_errno(errno, from);
	return 0;
}

/* The names in directory `dir_fd` that are keys, into *names (NUL after
 * each, malloc'd), subdirectories marked by a leading '/'. Closes dir_fd. */
static int list_names(int dir_fd, char **names, size_t *len)
{
	DIR *dir = fdopendir(dir_fd);
	size_t cap = 0;
	struct dirent *de;

	*names = NULL;
	*len = 0;
	if (!dir) {
		close(dir_fd);
		return kvfs_error_from_errno(errno, "listing");
	}
	while ((de = readdir(dir))) {
		size_t n = strlen(de->d_name) + 2;
		unsigned char type = de->d_type;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(dirfd(dir), de->d_name, &st,
				    AT_SYMLINK_NOFOLLOW))
				continue;
			type = S_ISDIR(st.st_mode) ? DT_DIR
			     : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
		}
		if (type != DT_DIR && type != DT_REG)
			continue;
		if (*len + n > cap) {
			char *grown = realloc(*names, cap = (cap + n) * 2);

			if (!grown) {
				closedir(dir);
				free(*names);
				*names = NULL;
				return kvfs_error_set(KVFS_EFAIL,
						      "out of memory");
			}
			*names = grown;
		}
		(*names)[*len] = type == DT_DIR ? '/' : '.';
		memcpy(*names + *len + 1, de->d_name, n - 1);
		*len += n;
	}
	closedir(dir);
	return 0;
}

/*
 * Is every key below directory `path` (len bytes, in a buffer of
 * 2 * PATH_MAX) at most `room` bytes longer than `base` bytes of it?
 * 0 when so, KVFS_ENAMETOOLONG when not, or another error. Walks the
 * tree holding no descriptor across levels, so depth costs no files.
 */
static int check_depth(struct local_backend *lb, char *path, size_t len,
		       size_t base, size_t room)
{
	char *names = NULL;
	size_t names_len = 0;
	int fd, rc;

	fd = resolve(lb, path, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return kvfs_error_from_errno(-fd, path);
	rc = list_names(fd, &names, &names_len);
	for (size_t off = 0; rc == 0 && off < names_len;
	     off += strlen(names + off) + 1) {
		const char *name = names + off + 1;
		size_t n = strlen(name);

		if (len + 1 + n - base > room) {
			rc = kvfs_error_set(KVFS_ENAMETOOLONG,
				"the rename would make a key below %.*s over "
				"%d bytes", (int)base, path, KVFS_KEY_MAX);
			break;
		}
		if (names[off] != '/')
			continue;
		path[len] = '/';
		memcpy(path + len + 1, name, n + 1);
		rc = check_depth(lb, path, len + 1 + n, base, room);
		path[len] = '\0';
	}
	free(names);
	return rc;
}

/* A directory rename to a longer name must not make any key below it
 * longer than KVFS_KEY_MAX: such keys could not be named again, not
 * even to remove them. KVFS_ENAMETOOLONG, and nothing changes. */
static int check_rename_depth(struct local_backend *lb, const char *from,
			      const char *to)
{
	size_t from_len = strlen(from), to_len = strlen(to);
	char *path;
	struct stat st;
	int fd, rc;

	if (to_len <= from_len)
		return 0;
	fd = open_own(lb, from, &st);
	if (fd < 0)
		return fd;
	close(fd);
	if (!S_ISDIR(st.st_mode))
		return 0;
	path = malloc(2 * PATH_MAX);
	if (!path)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	memcpy(path, from, from_len + 1);
	rc = check_depth(lb, path, from_len, from_len,
			 KVFS_KEY_MAX - to_len);
	free(path);
	return rc;
}

static int local_rename(struct kvfs_backend *b, const char *from,
			const char *to, unsigned int flags,
			enum kvfs_consistency level)
{
	struct local_backend *lb = local_of(b);
	const char *from_name, *to_name;
	int from_fd, to_fd, rc;

	rc = check_not_reserved(from);
	if (rc == 0)
		rc = check_not_reserved(to);
	if (rc == 0)
		rc = check_rename_depth(lb, from, to);
	if (rc)
		return rc;
	from_fd = open_parent(lb, from, false, &from_name);
	if (from_fd < 0)
		return from_fd;
	to_fd = open_parent(lb, to, true, &to_name);
	if (to_fd < 0) {
		close_parent(lb, from_fd);
		return to_fd;
	}
	pthread_mutex_lock(&lb->entry_lock);
	rc = rename_entry(from_fd, from_name, to_fd, to_name, flags, from);
	pthread_mutex_unlock(&lb->entry_lock);
	if (rc == 0 && (rc = fsync_dir(lb, to_fd)) == 0)
		rc = fsync_dir(lb, from_fd);
	close_parent(lb, to_fd);
	close_parent(lb, from_fd);
	return rc;
}

/* ---------------------------------------------------- attribute changes */

/* An attribute change, made through "/proc/self/fd/N" of key's file. */
typedef int (*change_fn)(const char *path, const char *key, void *arg);

static int change_private_copy(struct local_backend *lb, const char *key,
			       int old_fd, const struct stat *st,
			       change_fn change, void *arg);

/* One try of change_attrs: KVFS_ECONFLICT when the key was replaced while
 * its private copy was being made. */
static int change_once(struct local_backend *lb, const char *key,
		       change_fn change, void *arg)
{
	struct stat st;
	char path[32];
	int fd, rc = 0;

	pthread_mutex_lock(&lb->entry_lock);
	fd = open_own(lb, key, &st);
	if (fd >= 0 && !is_shared(&st)) {
		proc_path(fd, path);
		rc = change(path, key, arg);
	}
	pthread_mutex_unlock(&lb->entry_lock);
	if (fd < 0)
		return fd;
	if (is_shared(&st))
		rc = change_private_copy(lb, key, fd, &st, change, arg);
	close(fd);
	return rc;
}

/*
 * Make `change` on key's file, never on one the backend did not make a
 * key of (open_own). A value whose file has other hard links is replaced
 * by a private copy that carries the change, as a write would replace
 * it, so that the inode behind the other names stays as it was. The
 * change is made under entry_lock: a publish either carries it over or
 * comes before it, never loses it.
 */
static int change_attrs(struct local_backend *lb, const char *key,
			change_fn change, void *arg)
{
	int rc = check_not_reserved(key);

	for (int tries = 0; rc == 0 && tries < CHANGE_TRIES; tries++) {
		rc = change_once(lb, key, change, arg);
		if (rc != KVFS_ECONFLICT)
			return rc;
		rc = 0; /* replaced meanwhile: try on what is there now */
	}
	return rc ? rc : kvfs_error_set(KVFS_ECONFLICT,
		"%s: changed by others while its hard link was being broken",
		key);
}

struct attr_change {
	unsigned int fields;
	uint32_t mode;
	const struct timespec *times; /* mtime, atime */
};

static int apply_attrs(const char *path, const char *key, void *arg)
{
	const struct attr_change *a = arg;

	if ((a->fields & KVFS_ATTR_MODE) &&
	    chmod(path, (mode_t)a->mode & LOCAL_MODE_KEPT))
		return kvfs_error_from_errno(errno, key);
	if (a->fields & (KVFS_ATTR_MTIME | KVFS_ATTR_ATIME)) {
		struct timespec times[2] = { { .tv_nsec = UTIME_OMIT },
					     { .tv_nsec = UTIME_OMIT } };

		if (a->fields & KVFS_ATTR_ATIME)
			times[0] = a->times[1];
		if (a->fields & KVFS_ATTR_MTIME)
			times[1] = a->times[0];
		if (utimensat(AT_FDCWD, path, times, 0))
			return kvfs_error_from_errno(errno, key);
	}
	return 0;
}

static int local_set_attr(struct kvfs_backend *b, const char *key,
			  unsigned int fields, uint32_t mode,
			  const struct timespec *times,
			  enum kvfs_consistency level)
{
	struct attr_change a = { .fields = fields, .mode = mode,
				 .times = times };

	return change_attrs(local_of(b), key, apply_attrs, &a);
}

/* ------------------------------------------------------------- xattrs */

/* key's file for reading its xattrs, as "/proc/self/fd/N" of the
 * descriptor returned: a planted symlink gives none (open_own). */
static int xattr_path(struct local_backend *lb, const char *key, char out[32])
{
	struct stat st;
	int fd = check_not_reserved(key);

	if (fd)
		return fd;
	fd = open_own(lb, key, &st);
	if (fd >= 0)
		proc_path(fd, out);
	return fd;
}

static int local_getxattr(struct kvfs_backend *b, const char *key,
			  const char *name, struct kvfs_buf *out)
{
	char path[32], small[256], *big = NULL;
	int fd = xattr_path(local_of(b), key, path), rc = 0;
	ssize_t len;

	if (fd < 0)
		return fd;
	len = getxattr(path, name, small, sizeof(small));
	if (len < 0 && errno == ERANGE) {
		len = getxattr(path, name, NULL, 0);
		big = len >= 0 ? malloc((size_t)len + 1) : NULL;
		if (big)
			len = getxattr(path, name, big, (size_t)len);
	}
	if (len < 0)
		rc = kvfs_error_from_errno(errno, name);
	else
		rc = kvfs_buf_set(out, big ? big : small, (size_t)len);
	free(big);
	close(fd);
	return rc;
}

/* Set `name` to value, or remove it when `remove`. */
struct xattr_change {
	const char *name;
	const void *value;
	size_t len;
	int flags;
	bool remove;
};

static int apply_xattr(const char *path, const char *key, void *arg)
{
	const struct xattr_change *x = arg;
	int rc;

	(void)key;
	if (x->remove)
		rc = removexattr(path, x->name);
	else
		rc = setxattr(path, x->name, x->value, x->len, x->flags);
	return rc ? kvfs_error_from_errno(errno, x->name) : 0;
}

static int local_setxattr(struct kvfs_backend *b, const char *key,
			  const char *name, const void *value, size_t len,
			  unsigned int flags)
{
	struct xattr_change x = {
		.name = name, .value = value, .len = len,
		.flags = ((flags & KVFS_XATTR_CREATE) ? XATTR_CREATE : 0) |
			 ((flags & KVFS_XATTR_REPLACE) ? XATTR_REPLACE : 0),
	};

	return change_attrs(local_of(b), key, apply_xattr, &x);
}

static int local_listxattr(struct kvfs_backend *b, const char *key,
			   struct kvfs_buf *out)
{
	char path[32], *names = NULL;
	int fd = xattr_path(local_of(b), key, path), rc = 0;
	ssize_t len;

	if (fd < 0)
		return fd;
	len = listxattr(path, NULL, 0);
	if (len > 0) {
		names = malloc((size_t)len);
		len = names ? listxattr(path, names, (size_t)len) : -1;
	}
	if (len < 0)
		rc = kvfs_error_from_errno(errno, key);
	else
		rc = kvfs_buf_set(out, names ? names : "", (size_t)len);
	free(names);
	close(fd);
	return rc;
}

static int local_removexattr(struct kvfs_backend *b, const char *key,
			     const char *name)
{
	struct xattr_change x = { .name = name, .remove = true };

	return change_attrs(local_of(b), key, apply_xattr, &x);
}

/* ------------------------------------------------------------- listing */

struct local_lister {
	struct kvfs_lister base;
	DIR *dir;
	int dir_fd;
	bool is_root; /* hide the reserved directory */
};

static int local_lister_next(struct kvfs_lister *l, struct kvfs_dirent *ent)
{
	struct local_lister *ll = (struct local_lister *)l;
	struct dirent *de;

	for (;;) {
		unsigned char type;

		errno = 0;
		de = readdir(ll->dir);
		if (!de)
			return errno ? kvfs_error_from_errno(errno, "readdir") : 0;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (ll->is_root && !strcmp(de->d_name, RESERVED_DIR))
			continue;
		type = de->d_type;
		if (type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(ll->dir_fd, de->d_name, &st,
				    AT_SYMLINK_NOFOLLOW))
				continue;
			type = S_ISDIR(st.st_mode) ? DT_DIR
			     : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
		}
		if (type != DT_REG && type != DT_DIR)
			continue; /* symlinks and devices are not keys */
		snprintf(ent->name, sizeof(ent->name), "%s", de->d_name);
		ent->kind = type == DT_DIR ? KVFS_KIND_DIR : KVFS_KIND_FILE;
		return 1;
	}
}

static void local_lister_close(struct kvfs_lister *l)
{
	struct local_lister *ll = (struct local_lister *)l;

	closedir(ll->dir);
	free(ll);
}

static const struct kvfs_lister_ops local_lister_ops = {
	.next = local_lister_next,
	.close = local_lister_close,
};

static int local_list(struct kvfs_backend *b, const char *key,
		      enum kvfs_consistency level, struct kvfs_lister **out)
{
	struct local_lister *ll;
	int fd, rc = check_not_reserved(key);

	if (rc)
		return rc;
	/* A listing does not move the directory's atime (see fill_stat). */
	fd = resolve(local_of(b), key, O_RDONLY | O_DIRECTORY | O_NOATIME, 0);
	if (fd == -EPERM)
		fd = resolve(local_of(b), key, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return kvfs_error_from_errno(-fd, key[0] ? key : "root");
	ll = calloc(1, sizeof(*ll));
	if (!ll) {
		close(fd);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	ll->dir = fdopendir(fd);
	if (!ll->dir) {
		rc = kvfs_error_from_errno(errno, key);
		close(fd);
		free(ll);
		return rc;
	}
	ll->base.ops = &local_lister_ops;
	ll->dir_fd = fd;
	ll->is_root = key[0] == '\0';
	*out = &ll->base;
	return 0;
}

/* ------------------------------------------------------------- readers */

/* pread(2) and pwrite(2), retried on EINTR, errors as KVFS_E codes. */
static ssize_t fd_pread(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n;

	do
		n = pread(fd, buf, len, (off_t)off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? kvfs_error_from_errno(errno, "read") : n;
}

static ssize_t fd_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	ssize_t n;

	do
		n = pwrite(fd, buf, len, (off_t)off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? kvfs_error_from_errno(errno, "write") : n;
}

/* A reader holds the value's file open: a later rename replaces the
 * directory entry, not this inode, so the reader is a snapshot. */
struct local_reader {
	struct kvfs_reader base;
	int fd;
};

static ssize_t local_reader_pread(struct kvfs_reader *r, void *buf,
				  size_t len, uint64_t off)
{
	return fd_pread(((struct local_reader *)r)->fd, buf, len, off);
}

static void local_reader_close(struct kvfs_reader *r)
{
	struct local_reader *lr = (struct local_reader *)r;

	close(lr->fd);
	free(lr);
}

static const struct kvfs_reader_ops local_reader_ops = {
	.pread = local_reader_pread,
	.close = local_reader_close,
};

static int local_open_reader(struct kvfs_backend *b, const char *key,
			     enum kvfs_consistency level,
			     struct kvfs_reader **out)
{
	struct local_reader *lr;
	struct stat st;
	int fd = open_value(local_of(b), key, &st);

	if (fd < 0)
		return fd;
	lr = calloc(1, sizeof(*lr));
	if (!lr) {
		close(fd);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	lr->base.ops = &local_reader_ops;
	lr->base.size = (uint64_t)st.st_size;
	lr->fd = fd;
	*out = &lr->base;
	return 0;
}

/* ------------------------------------------------------------- writers */

/* A writer is a temporary file; commit publishes it like a put. */
struct local_writer {
	struct kvfs_writer base;
	struct local_backend *lb;
	int fd;
	char tmp_name[64];
	char key[];
};

static ssize_t local_writer_pwrite(struct kvfs_writer *w, const void *buf,
				   size_t len, uint64_t off)
{
	return fd_pwrite(((struct local_writer *)w)->fd, buf, len, off);
}

static ssize_t local_writer_pread(struct kvfs_writer *w, void *buf,
				  size_t len, uint64_t off)
{
	return fd_pread(((struct local_writer *)w)->fd, buf, len, off);
}

static int local_writer_truncate(struct kvfs_writer *w, uint64_t size)
{
	struct local_writer *lw = (struct local_writer *)w;

	if (ftruncate(lw->fd, (off_t)size))
		return kvfs_error_from_errno(errno, "truncate");
	return 0;
}

static int local_writer_commit(struct kvfs_writer *w)
{
	struct local_writer *lw = (struct local_writer *)w;
	int rc = publish(lw->lb, lw->fd, lw->tmp_name, lw->key);

	close(lw->fd);
	free(lw);
	return rc;
}

static void local_writer_abort(struct kvfs_writer *w)
{
	struct local_writer *lw = (struct local_writer *)w;

	unlinkat(lw->lb->tmp_fd, lw->tmp_name, 0);
	close(lw->fd);
	free(lw);
}

static const struct kvfs_writer_ops local_writer_ops = {
	.pwrite = local_writer_pwrite,
	.pread = local_writer_pread,
	.truncate = local_writer_truncate,
	.commit = local_writer_commit,
	.abort = local_writer_abort,
};

/* Copy [from, *end) of the reader's file to the same place in the
 * writer's, in the kernel. 1 when copy_file_range cannot do it here; 0 when
 * done, or when the reader's file ends early (*end is then where it did). */
static int copy_range(struct local_writer *lw, struct local_reader *lr,
		      loff_t from, loff_t *end)
{
	loff_t in = from, out = from;

	while (in < *end) {
		uint64_t left = (uint64_t)(*end - in);
		ssize_t n = copy_file_range(lr->fd, &in, lw->fd, &out,
					    left > (1u << 30) ? (1u << 30)
							      : (size_t)left, 0);

		if (n < 0 && (errno == EXDEV || errno == ENOSYS ||
			      errno == EOPNOTSUPP || errno == EINVAL))
			return 1;
		if (n < 0)
			return kvfs_error_from_errno(errno, "copy");
		if (n == 0)
			*end = in; /* ends the loop */
	}
	return 0;
}

/* Copy a local reader's file into the writer's, in the kernel, one extent
 * of data at a time: holes stay holes, so rewriting part of a sparse value
 * costs what its data does, not its size. */
static int copy_local(struct local_writer *lw, struct local_reader *lr)
{
	loff_t size = (loff_t)lr->base.size, pos = 0;

	while (pos < size) {
		loff_t data = lseek(lr->fd, pos, SEEK_DATA), end;
		int rc;

		if (data < 0 && errno == ENXIO)
			break; /* only a hole is left */
		if (data < 0)
			data = pos; /* no SEEK_DATA here: all of it is data */
		if (data >= size)
			break;
		end = lseek(lr->fd, data, SEEK_HOLE);
		if (end < 0 || end > size)
			end = size;
		pos = end;
		rc = copy_range(lw, lr, data, &end);
		if (rc == 1)
			return kvfs_writer_copy_from(&lw->base, &lr->base);
		if (rc)
			return rc;
		if (end < pos) {
			size = end; /* the file ended early */
			break;
		}
	}
	if (ftruncate(lw->fd, size))
		return kvfs_error_from_errno(errno, "copy");
	lw->base.size = (uint64_t)size;
	return 0;
}

static int local_open_writer(struct kvfs_backend *b, const char *key,
			     enum kvfs_consistency level,
			     struct kvfs_reader *base, struct kvfs_writer **out)
{
	struct local_backend *lb = local_of(b);
	size_t klen = strlen(key);
	struct local_writer *lw;
	int rc = check_not_reserved(key);

	if (rc)
		return rc;
	lw = calloc(1, sizeof(*lw) + klen + 1);
	if (!lw)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	lw->base.ops = &local_writer_ops;
	lw->lb = lb;
	memcpy(lw->key, key, klen + 1);
	lw->fd = create_tmp(lb, lw->tmp_name);
	if (lw->fd < 0) {
		rc = lw->fd;
		free(lw);
		return rc;
	}
	if (base && base->ops == &local_reader_ops)
		rc = copy_local(lw, (struct local_reader *)base);
	else
		rc = kvfs_writer_copy_from(&lw->base, base);
	if (rc) {
		local_writer_abort(&lw->base);
		return rc;
	}
	*out = &lw->base;
	return 0;
}

/* ------------------------------------------------- breaking hard links */

/* The same inode, unchanged since `was` was taken: a write through any
 * of its names, a chmod or a link count change all move its ctime. */
static bool same_file(const struct stat *now, const struct stat *was)
{
	return now->st_dev == was->st_dev && now->st_ino == was->st_ino &&
	       now->st_ctim.tv_sec == was->st_ctim.tv_sec &&
	       now->st_ctim.tv_nsec == was->st_ctim.tv_nsec;
}

/* A writer holding a private copy of the value file behind old_fd (whose
 * stat is st): its data, holes, mode, xattrs and times. */
static int copy_value_file(struct local_backend *lb, const char *key,
			   int old_fd, const struct stat *st,
			   struct local_writer **out)
{
	struct local_reader src = {
		.base = { .ops = &local_reader_ops,
			  .size = (uint64_t)st->st_size },
	};
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	struct kvfs_writer *w = NULL;
	struct local_writer *lw;
	char path[32];
	int rc;

	proc_path(old_fd, path);
	src.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (src.fd < 0 && errno == EPERM)
		src.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (src.fd < 0)
		return kvfs_error_from_errno(errno, key);
	rc = local_open_writer(&lb->base, key, KVFS_STRONG, &src.base, &w);
	close(src.fd);
	if (rc)
		return rc;
	lw = (struct local_writer *)w;
	/* The times last: copying the data and metadata moves them. */
	rc = copy_metadata(old_fd, lw->fd);
	if (rc == 0 && futimens(lw->fd, times))
		rc = kvfs_error_from_errno(errno, key);
	if (rc) {
		local_writer_abort(w);
		return rc;
	}
	*out = lw;
	return 0;
}

/* Rename the copy in lw over key if key still names the file it was made
 * from (was); KVFS_ECONFLICT when a write or rename replaced it meanwhile.
 * Frees lw, and removes the copy unless it took the file's place. */
static int commit_copy(struct local_writer *lw, const struct stat *was)
{
	struct local_backend *lb = lw->lb;
	struct stat now;
	const char *name;
	int parent_fd, rc = 0;

	if (lb->sync && fsync(lw->fd)) {
		rc = kvfs_error_from_errno(errno, "fsync");
		goto out_abort;
	}
	parent_fd = open_parent(lb, lw->key, false, &name);
	if (parent_fd < 0) {
		rc = parent_fd;
		goto out_abort;
	}
	pthread_mutex_lock(&lb->entry_lock);
	if (fstatat(parent_fd, name, &now, AT_SYMLINK_NOFOLLOW) ||
	    !same_file(&now, was))
		rc = KVFS_ECONFLICT;
	else if (renameat(lb->tmp_fd, lw->tmp_name, parent_fd, name))
		rc = kvfs_error_from_errno(errno, lw->key);
	pthread_mutex_unlock(&lb->entry_lock);
	if (rc == 0)
		rc = fsync_dir(lb, parent_fd);
	else
		unlinkat(lb->tmp_fd, lw->tmp_name, 0);
	close_parent(lb, parent_fd);
	close(lw->fd);
	free(lw);
	return rc;

out_abort:
	local_writer_abort(&lw->base);
	return rc;
}

/* change_attrs for a value whose file has other links: copy it, make the
 * change on the copy, put the copy in its place. */
static int change_private_copy(struct local_backend *lb, const char *key,
			       int old_fd, const struct stat *st,
			       change_fn change, void *arg)
{
	struct local_writer *lw = NULL;
	char path[32];
	int rc = copy_value_file(lb, key, old_fd, st, &lw);

	if (rc)
		return rc;
	proc_path(lw->fd, path);
	rc = change(path, key, arg);
	if (rc) {
		local_writer_abort(&lw->base);
		return rc;
	}
	rc = commit_copy(lw, st);
	if (rc == 0)
		kvfs_log(KVFS_LOG_INFO, "local: %s had other hard links; it "
			 "now has a file of its own", key);
	return rc;
}

/* ------------------------------------------------------ open and close */

static int local_space(struct kvfs_backend *b, struct kvfs_space *space)
{
	struct statvfs sv;

	if (fstatvfs(local_of(b)->root_fd, &sv))
		return kvfs_error_from_errno(errno, "statfs");
	space->block_size = sv.f_frsize;
	space->blocks = sv.f_blocks;
	space->blocks_free = sv.f_bfree;
	space->files = sv.f_files;
	space->files_free = sv.f_ffree;
	space->valid = KVFS_SPACE_AVAIL;
	space->blocks_avail = sv.f_bavail;
	space->files_avail = sv.f_favail;
	return 0;
}

static void local_destroy(struct kvfs_backend *b)
{
	struct local_backend *lb = local_of(b);

	if (lb->tmp_fd >= 0)
		close(lb->tmp_fd);
	if (lb->lock_fd >= 0)
		close(lb->lock_fd); /* lets go of the root */
	if (lb->root_fd >= 0)
		close(lb->root_fd);
	pthread_mutex_destroy(&lb->entry_lock);
	pthread_mutex_destroy(&lb->tmp_lock);
	free(lb->root_path);
	free(lb);
}

/* Tells what the backend can be relied on for (its root's lock makes it
 * the only writer), and lends the file behind a reader or writer of this
 * backend (not one wrapped by another layer, whose own bookkeeping must
 * see the bytes). */
static int local_control(struct kvfs_backend *b, int op, void *arg)
{
	struct kvfs_reader_fd *rf = arg;
	struct kvfs_writer_fd *wf = arg;

	(void)b;
	if (op == KVFS_CTL_CAPS && arg) {
		*(unsigned int *)arg = KVFS_CAP_SOLE_WRITER |
				       KVFS_CAP_LENDS_FDS |
				       KVFS_CAP_LOCAL_FILES;
		return 0;
	}
	if (op == KVFS_CTL_READER_FD && rf && rf->reader &&
	    rf->reader->ops == &local_reader_ops) {
		rf->fd = ((struct local_reader *)rf->reader)->fd;
		return 0;
	}
	if (op == KVFS_CTL_WRITER_FD && wf && wf->writer &&
	    wf->writer->ops == &local_writer_ops) {
		wf->fd = ((struct local_writer *)wf->writer)->fd;
		return 0;
	}
	return kvfs_error_set(KVFS_ENOTSUPPORTED, "local: unknown control %d",
			      op);
}

static const struct kvfs_backend_ops local_ops = {
	.version = KVFS_BACKEND_VERSION,
	.name = "local",
	.get = local_get,
	.put = local_put,
	.del = local_del,
	.destroy = local_destroy,
	.stat = local_stat,
	.list = local_list,
	.rename = local_rename,
	.mkdir = local_mkdir,
	.rmdir = local_rmdir,
	.set_attr = local_set_attr,
	.getxattr = local_getxattr,
	.setxattr = local_setxattr,
	.listxattr = local_listxattr,
	.removexattr = local_removexattr,
	.open_reader = local_open_reader,
	.open_writer = local_open_writer,
	.space = local_space,
	.control = local_control,
};

/*
 * Open ROOT/.kvfs/tmp, making it (and ROOT/.kvfs) as needed. A directory
 * opened again replaces the old one under the same descriptor number
 * (callers hold tmp_lock, or are the open before any other thread).
 * KVFS_EREADONLY when the root's filesystem is read-only.
 */
static int open_tmp_dir(struct local_backend *lb)
{
	int fd, old = lb->tmp_fd;

	if (mkdirat(lb->root_fd, RESERVED_DIR, 0700) && errno != EEXIST)
		return kvfs_error_from_errno(errno, "creating root/.kvfs");
	if (mkdirat(lb->root_fd, TMP_DIR, 0700) && errno != EEXIST)
		return kvfs_error_from_errno(errno, "creating root/.kvfs/tmp");
	fd = resolve(lb, TMP_DIR, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return kvfs_error_from_errno(-fd, "root/.kvfs/tmp");
	if (old < 0) {
		lb->tmp_fd = fd;
		return 0;
	}
	if (dup3(fd, old, O_CLOEXEC) < 0) {
		int rc = kvfs_error_from_errno(errno, "root/.kvfs/tmp");

		close(fd);
		return rc;
	}
	close(fd);
	return 0;
}

/*
 * The store keeps its lock and temporary files under ROOT/.kvfs, so a root
 * on a read-only filesystem is refused at open, in one line; a read-only
 * view of a writable root is the daemon's `-o ro`. A root whose filesystem
 * becomes read-only later keeps serving reads, and every change fails with
 * KVFS_EREADONLY (EROFS).
 */
static int check_writable(struct local_backend *lb, const char *root)
{
	struct statvfs sv;

	if (fstatvfs(lb->root_fd, &sv) == 0 && (sv.f_flag & ST_RDONLY))
		return kvfs_error_set(KVFS_EREADONLY, "local backend: root "
			"'%s' is on a read-only filesystem; kvfs keeps its "
			"lock and temporary files in it (mount it read-write, "
			"and use -o ro for a read-only mount)", root);
	if (mkdirat(lb->root_fd, RESERVED_DIR, 0700) && errno != EEXIST)
		return kvfs_error_from_errno(errno, "creating root/.kvfs");
	return 0;
}

/*
 * One store per root: the daemon lets the kernel cache what it serves for
 * a long time, trusting that nobody else writes the root, so a second
 * store on it is refused. The lock is an flock on ROOT/.kvfs/lock: it
 * goes with the store's close or its process's end (also by SIGKILL), is
 * never inherited by an exec'd program (O_CLOEXEC), and carries the
 * holder's pid for the message a second opener gets. A lock file that is
 * not a plain file of its own is refused, not written.
 */
static int lock_root(struct local_backend *lb, const char *root,
		     uint64_t wait_ms)
{
	struct stat st;
	char what[PATH_MAX + 8];
	int len, fd;

	/* Taken through a descriptor open for writing, which writes the
	 * pid, then held through a read-only one: a descriptor open for
	 * writing would keep the root's filesystem from being remounted
	 * read-only. */
	fd = resolve(lb, LOCK_FILE, O_RDWR | O_CREAT | O_NONBLOCK, 0600);
	if (fd < 0)
		return kvfs_error_set(KVFS_EINVAL, "root=%s: cannot open "
				      ".kvfs/lock: %s", root, strerror(-fd));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(fd);
		return kvfs_error_set(KVFS_EINVAL, "root=%s: .kvfs/lock is not "
				      "a plain file of its own; remove it",
				      root);
	}
	len = snprintf(what, sizeof(what), "root=%s", root);
	if (len < 0 || (size_t)len >= sizeof(what)) {
		close(fd);
		return kvfs_error_set(KVFS_EINVAL, "root=%s: path too long",
				      root);
	}
	if (kvfs_pidlock_take(fd, wait_ms, what, " (one mount per root)")) {
		close(fd);
		return KVFS_EINVAL;
	}
	lb->lock_fd = resolve(lb, LOCK_FILE, O_RDONLY | O_NONBLOCK, 0);
	if (lb->lock_fd < 0) {
		close(fd);
		return kvfs_error_set(KVFS_EINVAL, "root=%s: cannot open "
				      ".kvfs/lock: %s", root,
				      strerror(-lb->lock_fd));
	}
	return kvfs_pidlock_hand_over(fd, lb->lock_fd, what,
				      " (one mount per root)");
}

int kvfs_local_open(struct kvfs_options *opts, struct kvfs_backend **out)
{
	const char *root = kvfs_options_take(opts, "root");
	struct local_backend *lb;
	uint64_t lock_wait_ms;
	struct stat st;
	int rc;

	if (!root || !root[0])
		return kvfs_error_set(KVFS_EINVAL,
			"local backend: option root=DIR is required");
	lb = calloc(1, sizeof(*lb));
	if (!lb)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	lb->base.ops = &local_ops;
	lb->root_fd = lb->lock_fd = -1;
	lb->tmp_fd = -1;
	pthread_mutex_init(&lb->entry_lock, NULL);
	pthread_mutex_init(&lb->tmp_lock, NULL);
	lb->root_path = strdup(root);
	rc = kvfs_options_take_bool(opts, "sync", true, &lb->sync);
	if (rc == 0)
		rc = kvfs_options_take_ms(opts, "lock_wait",
					  KVFS_LOCK_WAIT_DEFAULT_MS, &lock_wait_ms);
	if (rc)
		goto out_destroy;
	if (stat(root, &st)) {
		rc = kvfs_error_set(KVFS_EINVAL,
			"local backend: root '%s' does not exist: %s", root,
			strerror(errno));
		goto out_destroy;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = kvfs_error_set(KVFS_EINVAL,
			"local backend: root '%s' is not a directory", root);
		goto out_destroy;
	}
	lb->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lb->root_fd < 0) {
		rc = kvfs_error_set(KVFS_EINVAL,
			"local backend: cannot open root '%s': %s", root,
			strerror(errno));
		goto out_destroy;
	}
	rc = check_writable(lb, root);
	if (rc == 0)
		rc = lock_root(lb, root, lock_wait_ms);
	if (rc == 0)
		rc = open_tmp_dir(lb);
	if (rc)
		goto out_destroy;
	clean_stale_tmp(lb);
	*out = &lb->base;
	return 0;

out_destroy:
	local_destroy(&lb->base);
	return rc;
}
