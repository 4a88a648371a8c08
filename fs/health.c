/*
 * health.c - what the mount says about itself while its backend does not
 * answer (an etcd cluster without quorum): exactly when someone asks.
 *
 * The backend tells, from its latest requests, whether it is reachable
 * (KVFS_CTL_HEALTH; backends that are never unreachable answer "not
 * supported"). user.kvfs.stats says so in a "backend:" line, from the
 * daemon's own figures, without asking the backend. The mount root's
 * attributes (stat, df, cd, getfattr of the root) are answered from the
 * last answer the backend gave while it is unreachable (with a cache
 * time of 0), instead of failing after the timeout; the root always
 * exists, and only its mode and times could be stale. Everything else
 * still asks the backend, and the first request it serves again marks it
 * reachable.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "kvfs_fs.h"

/* The root's last attributes from the backend; one daemon per process. */
static pthread_mutex_t root_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stat root_attr;
static bool have_root_attr;

static bool backend_down(struct fs *fs, struct kvfs_health *h)
{
	return kvfs_store_control(fs->store, KVFS_CTL_HEALTH, h) == 0 &&
	       h->unreachable;
}

int kvfs_fs_health_line(struct fs *fs, struct kvfs_buf *out)
{
	struct kvfs_health h;
	char stamp[32];
	struct tm tm;
	time_t since;

	if (kvfs_store_control(fs->store, KVFS_CTL_HEALTH, &h))
		return 0; /* nothing to say (local) */
	if (!h.unreachable)
		return kvfs_buf_appendf(out, "backend: reachable\n");
	since = (time_t)h.since;
	gmtime_r(&since, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return kvfs_buf_appendf(out, "backend: unreachable since %s (%lld s): "
				"%s\n", stamp,
				(long long)(time(NULL) - since), h.why);
}

int kvfs_fs_root_getattr(struct fs *fs, struct fs_inode *inode,
			 struct fuse_file_info *fi, struct stat *st,
			 bool *own_view, bool *from_cache)
{
	struct kvfs_health h;
	int err;

	*from_cache = false;
	pthread_mutex_lock(&root_lock);
	if (have_root_attr && backend_down(fs, &h)) {
		*st = root_attr;
		*from_cache = true;
	}
	pthread_mutex_unlock(&root_lock);
	if (*from_cache) {
		*own_view = false;
		return 0;
	}
	err = kvfs_fs_getattr_of(fs, inode, fi, st, own_view);
	pthread_mutex_lock(&root_lock);
	if (!err) {
		root_attr = *st;
		have_root_attr = true;
	} else if ((err == ETIMEDOUT || err == EIO) && have_root_attr &&
		   backend_down(fs, &h)) {
		*st = root_attr;
		*from_cache = true;
		err = 0;
	}
	pthread_mutex_unlock(&root_lock);
	return err;
}
