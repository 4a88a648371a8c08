/*
 * notify.c - telling the kernel to drop what it cached: a queue served by
 * one thread. Backends report keys that changed elsewhere (KVFS_CTL_WATCH,
 * from any thread); publishes that raced with another writer report their
 * inode. The thread resolves keys to node ids under the table lock, drops
 * the lock, and only then calls fuse_lowlevel_notify_inval_*, so it never
 * holds a lock that a FUSE operation may be waiting for.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvfs_fs.h"

struct notify_item {
	struct notify_item *next;
	fuse_ino_t ino;  /* an inode (the parent, with name), or 0 */
	bool pages;      /* with ino: its pages too, not only attributes */
	char *name;      /* with ino: the entry name in that directory */
	char *key;       /* a changed key, or NULL */
	bool all;        /* everything known */
	uint64_t seq;
};

struct fs_notify {
	pthread_mutex_t lock;   /* guards every field below; taken alone */
	pthread_cond_t wake;    /* items queued or stop */
	pthread_cond_t done_cv; /* done advanced */
	struct notify_item *head, *tail;
	uint64_t queued, done;
	bool stop;
	pthread_t thread;
	struct kvfs_watch watch;
	struct fs *fs;
};

/* Attributes and every cached page of ino. A node id the kernel has
 * forgotten meanwhile gives ENOENT, which is fine. */
static void inval_inode(struct fs *fs, fuse_ino_t ino)
{
	fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
}

struct collect {
	fuse_ino_t *inos;
	size_t count, cap;
};

static void collect_known(struct fs_inode *inode, void *ctx)
{
	struct collect *c = ctx;

	if (inode->nlookup == 0)
		return;
	if (c->count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		fuse_ino_t *grown = realloc(c->inos, cap * sizeof(*grown));

		if (!grown)
			return;
		c->inos = grown;
		c->cap = cap;
	}
	c->inos[c->count++] = inode->ino;
}

static void suspect(struct fs_inode *inode)
{
	pthread_mutex_lock(&inode->lock);
	inode->cache_suspect = true;
	pthread_mutex_unlock(&inode->lock);
}

static void inval_all(struct fs *fs)
{
	struct collect c = { 0 };

	kvfs_fs_inode_each(fs, collect_known, &c);
	for (size_t i = 0; i < c.count; i++)
		inval_inode(fs, c.inos[i]);
	free(c.inos);
}

/*
 * A key changed elsewhere: its inode, and its entry in the parent. A key
 * can make directories appear that this mount never saw (etcd: a key
 * x/y/z put by another client implies x and x/y), so when the parent is
 * not known the entry of the nearest known ancestor is dropped instead.
 */
static void inval_key(struct fs *fs, const char *key)
{
	char parent_key[KVFS_KEY_MAX + 1];
	size_t len = strlen(key);
	struct fs_inode *inode, *parent = NULL;
	const char *name = key;
	size_t plen = 0;

	inode = kvfs_fs_inode_by_key(fs, key);
	if (inode) {
		suspect(inode);
		inval_inode(fs, inode->ino);
		kvfs_fs_inode_put(fs, inode);
	}
	if (len > KVFS_KEY_MAX)
		return;
	memcpy(parent_key, key, len + 1);
	for (;;) {
		char *slash = strrchr(parent_key, '/');

		name = slash ? key + (slash - parent_key) + 1 : key;
		plen = slash ? (size_t)(slash - parent_key) : 0;
		parent_key[plen] = '\0';
		parent = kvfs_fs_inode_by_key(fs, parent_key);
		if (parent || !plen)
			break;
	}
	if (parent) {
		const char *end = strchr(name, '/');
		size_t nlen = end ? (size_t)(end - name) : strlen(name);

		fuse_lowlevel_notify_inval_entry(fs->se, parent->ino, name,
						 nlen);
		inval_inode(fs, parent->ino);
		kvfs_fs_inode_put(fs, parent);
	}
}

static void item_free(struct notify_item *it)
{
	if (!it)
		return;
	free(it->key);
	free(it->name);
	free(it);
}

static void *notify_main(void *arg)
{
	struct fs_notify *n = arg;
	struct fs *fs = n->fs;

	pthread_mutex_lock(&n->lock);
	for (;;) {
		struct notify_item *it;

		while (!n->head && !n->stop)
			pthread_cond_wait(&n->wake, &n->lock);
		if (!n->head)
			break;
		it = n->head;
		n->head = it->next;
		if (!n->head)
			n->tail = NULL;
		pthread_mutex_unlock(&n->lock);

		if (it->all)
			inval_all(fs);
		else if (it->key)
			inval_key(fs, it->key);
		else if (it->name)
			fuse_lowlevel_notify_inval_entry(fs->se, it->ino,
					it->name, strlen(it->name));
		else if (it->pages)
			inval_inode(fs, it->ino);
		else
			fuse_lowlevel_notify_inval_inode(fs->se, it->ino, -1, 0);

		pthread_mutex_lock(&n->lock);
		n->done = it->seq;
		pthread_cond_broadcast(&n->done_cv);
		item_free(it);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

/* Queue an item; returns its sequence number, 0 when not queued. */
static uint64_t enqueue(struct fs_notify *n, struct notify_item *it)
{
	uint64_t seq = 0;

	pthread_mutex_lock(&n->lock);
	if (!n->stop) {
		it->seq = seq = ++n->queued;
		if (n->tail)
			n->tail->next = it;
		else
			n->head = it;
		n->tail = it;
		pthread_cond_signal(&n->wake);
		it = NULL;
	}
	pthread_mutex_unlock(&n->lock);
	item_free(it);
	return seq;
}

/* The backend's watch callback: any thread, must not call the backend. */
static void watch_changed(void *ctx, const char *key)
{
	struct fs_notify *n = ctx;
	struct notify_item *it;

	/* Levels come from xattrs: a backend that reports attribute changes
	 * apart (attrs_changed) leaves the cached levels alone for value
	 * changes. */
	if (!key || !__atomic_load_n(&n->watch.attrs_apart, __ATOMIC_ACQUIRE))
		kvfs_fs_level_changed(n->fs, NULL);
	it = calloc(1, sizeof(*it));

	if (!it)
		return;
	if (key) {
		it->key = strdup(key);
		if (!it->key) {
			free(it);
			return;
		}
	} else {
		it->all = true;
	}
	enqueue(n, it);
}

/* The mode or xattrs of key changed: cached levels may be stale. */
static void watch_attrs_changed(void *ctx, const char *key)
{
	struct fs_notify *n = ctx;

	kvfs_fs_level_changed(n->fs, NULL);
	watch_changed(ctx, key);
}

/* Queue it; with wait, return once the kernel has been told. */
static void submit(struct fs_notify *n, struct notify_item *it, bool wait)
{
	uint64_t seq = enqueue(n, it);
	bool waits;

	if (!wait || !seq)
		return;
	pthread_mutex_lock(&n->lock);
	waits = n->done < seq && !n->stop;
	pthread_mutex_unlock(&n->lock);
	if (!waits)
		return;
	/* The kernel may make the thread wait for a request that a worker
	 * has yet to read (a page or directory lock). */
	kvfs_fs_loop_wait_begin();
	pthread_mutex_lock(&n->lock);
	while (n->done < seq && !n->stop)
		pthread_cond_wait(&n->done_cv, &n->lock);
	pthread_mutex_unlock(&n->lock);
	kvfs_fs_loop_wait_end();
}

void kvfs_fs_notify_inode(struct fs *fs, fuse_ino_t ino, bool pages,
			  bool wait)
{
	struct notify_item *it;

	if (!fs->notify)
		return;
	it = calloc(1, sizeof(*it));
	if (!it)
		return;
	it->ino = ino;
	it->pages = pages;
	submit(fs->notify, it, wait);
}

void kvfs_fs_notify_entry(struct fs *fs, fuse_ino_t parent, const char *name,
			  bool wait)
{
	struct notify_item *it;

	if (!fs->notify)
		return;
	it = calloc(1, sizeof(*it));
	if (!it)
		return;
	it->ino = parent;
	it->name = strdup(name);
	if (!it->name) {
		free(it);
		return;
	}
	submit(fs->notify, it, wait);
}

int kvfs_fs_notify_start(struct fs *fs)
{
	struct fs_notify *n = calloc(1, sizeof(*n));
	int rc;

	if (!n)
		return -1;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->wake, NULL);
	pthread_cond_init(&n->done_cv, NULL);
	n->fs = fs;
	n->watch.changed = watch_changed;
	n->watch.attrs_changed = watch_attrs_changed;
	n->watch.ctx = n;
	if (kvfs_fs_thread_start(&n->thread, notify_main, n)) {
		free(n);
		return -1;
	}
	fs->notify = n;
	rc = kvfs_store_control(fs->store, KVFS_CTL_WATCH, &n->watch);
	if (rc && rc != KVFS_ENOTSUPPORTED)
		kvfs_fs_errno(fs, rc, "watching for changes");
	return 0;
}

/* The thread may wait in the kernel for a request that nobody reads any
 * more (a directory lock held by a process whose CREATE is queued): a
 * second on, the connection is aborted, which ends that wait. */
static void join_notifier(struct fs *fs, struct fs_notify *n)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec++;
	if (pthread_timedjoin_np(n->thread, NULL, &until) == 0)
		return;
	kvfs_fs_session_abort(fs, "at exit a notification still waited for "
			      "the kernel");
	pthread_join(n->thread, NULL);
}

void kvfs_fs_notify_stop(struct fs *fs)
{
	struct fs_notify *n = fs->notify;

	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	if (n->stop) {
		pthread_mutex_unlock(&n->lock);
		return;
	}
	n->stop = true;
	pthread_cond_broadcast(&n->wake);
	pthread_cond_broadcast(&n->done_cv);
	pthread_mutex_unlock(&n->lock);
	join_notifier(fs, n);
}

void kvfs_fs_notify_free(struct fs *fs)
{
	struct fs_notify *n = fs->notify;

	if (!n)
		return;
	kvfs_fs_notify_stop(fs);
	fs->notify = NULL;
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->wake);
	pthread_cond_destroy(&n->done_cv);
	free(n);
}
