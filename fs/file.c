/*
 * file.c - open files with close-to-open semantics.
 *
 * open takes a reader: a snapshot of the value. The first write opens a
 * writer that starts as a copy of that snapshot (or empty after O_TRUNC or
 * create); writes and reads of this handle go to the writer. flush, fsync
 * and release publish the writer atomically (kvfs_writer_commit); later
 * reads re-open a reader of what was published and later writes start a
 * new writer from it. Nothing is held in memory: the local backend's
 * writer is a temporary file, so a 1 GiB copy costs the daemon nothing.
 *
 * A handle whose name was unlinked keeps working on its reader and writer
 * but never publishes; the writer is discarded at release, as the data of
 * an unlinked file is on a POSIX filesystem.
 *
 * Kernel page cache (the decisions are cache_policy.c's; this file keeps the
 * state they are taken from): where this daemon is the only writer (exclusive),
 * a file is opened with keep_cache unless its pages may hold a value older than
 * the newest one published: when a page-cache handle with an old snapshot read
 * or a handle published while others were open (two writers raced), the inode
 * is marked cache_suspect; the next open then drops the pages, and a racing
 * publish also tells the kernel to drop attributes and pages at once. A writer
 * that has the file to itself at open writes through the page cache, so the
 * pages hold what it publishes; any other writer uses direct I/O, and when it
 * had the file to itself at close, its publish pushes the published value into
 * the kernel's page cache (fuse_lowlevel_notify_store). A writer never shares a
 * node with page-cache readers: the name moves to a new node instead
 * (move_name_away).
 *
 * The kernel's size of a file can go wrong: a reply with attributes read
 * from the store during a writer's session may carry the size from before
 * the publish, two writers or a writer and a push into the page cache may
 * race, fstat may have been given a handle's own view. Each marks the
 * inode size_suspect, and a publish after such a reply also tells the
 * kernel to forget the inode's attributes (for stat). No page-cache reader
 * starts while the size is suspect: they use direct I/O, until a writer
 * session that was alone all along, with nothing else that can move the
 * kernel's size (inode->size_events: attribute replies, other writable or
 * O_TRUNC opens, failed publishes, pushes), began with a size the kernel
 * had right (or O_TRUNC, with no push running) and published - the
 * kernel then holds the size that writer made, which is the one stored.
 *
 * create does not publish: the new name is "pending", known to the inode
 * table and the kernel, and the first publish (a close after writes,
 * fsync, release) makes it exist in the store. Lookups, listings and
 * opens on this mount see it as an empty file without publishing it;
 * operations that change it in the store (xattrs, chmod, utimens,
 * truncate, rename, unlink) first publish an empty value for it
 * (kvfs_fs_materialize), as creat(2) would have. A pending file whose
 * last handle closes without publishing (its writes failed) is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvfs_fs.h"

#define READ_BUF_MAX (1u << 20)
/* A write this large is answered before it is stored (kvfs_fs_write_buf): it
 * takes long enough to store that the writer and the next request are
 * better served meanwhile. */
#define EARLY_REPLY_WRITE (64u << 10)
/* Seconds during which readers of a name that moved away use direct I/O,
 * so that the writer's retry finds no page-cache reader (move_name_away);
 * the retry follows within microseconds. */
#define RETRY_WINDOW 1.0
/* Seconds after a LOOKUP reply during which an open that finds the key
 * gone answers ENOENT, not ESTALE: the kernel's retry of a stale open
 * comes right after its LOOKUP, and a name looked up that lately is not
 * a stale cache entry (just_looked_up). */
#define LOOKUP_FRESH 0.1
/* Spliced pushes go through a pipe, which grows to 1 MiB by default
 * (/proc/sys/fs/pipe-max-size) and must hold a header too. */
#define SPLICE_CHUNK (512u << 10)

static pthread_key_t read_buf_key;
static pthread_once_t read_buf_once = PTHREAD_ONCE_INIT;

static void read_buf_key_init(void)
{
	pthread_key_create(&read_buf_key, free);
}

/* A per-thread buffer for replies to reads (up to max_read). */
static char *read_buf(size_t size)
{
	char *buf;

	pthread_once(&read_buf_once, read_buf_key_init);
	buf = pthread_getspecific(read_buf_key);
	if (!buf) {
		buf = malloc(READ_BUF_MAX);
		if (!buf)
			return NULL;
		pthread_setspecific(read_buf_key, buf);
	}
	return size <= READ_BUF_MAX ? buf : NULL;
}

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct fs_handle *handle_of(struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

/* A flag of an inode guarded by table_lock. */
static bool table_flag(struct fs *fs, const bool *flag)
{
	bool v;

	pthread_mutex_lock(&fs->table_lock);
	v = *flag;
	pthread_mutex_unlock(&fs->table_lock);
	return v;
}

static bool is_unlinked(struct fs *fs, struct fs_inode *inode)
{
	return table_flag(fs, &inode->unlinked);
}

/* Re-open the snapshot after a publish. Caller holds inode->lock. */
static int ensure_reader(struct fs *fs, struct fs_handle *h)
{
	char key[KVFS_KEY_MAX + 1];
	int rc, err;

	if (!h->need_reader)
		return 0;
	err = kvfs_fs_key(fs, h->inode, NULL, key);
	if (err)
		return err;
	rc = kvfs_store_open_reader(fs->store, key, h->level, &h->reader);
	if (rc == KVFS_ENOTFOUND) {
		h->reader = NULL; /* gone since: reads see an empty value */
		rc = 0;
	}
	err = kvfs_fs_errno(fs, rc, key);
	if (!err) {
		h->need_reader = false;
		h->gen = h->inode->data_gen;
	}
	return err;
}

/* Is inode known to the kernel (it may open it)? */
static bool kernel_knows(struct fs *fs, const struct fs_inode *inode)
{
	bool known;

	pthread_mutex_lock(&fs->table_lock);
	known = inode->nlookup > 0;
	pthread_mutex_unlock(&fs->table_lock);
	return known;
}

struct kvfs_reader *kvfs_fs_keep_snapshots(struct fs *fs,
					   struct fs_inode *inode, bool retain)
{
	enum kvfs_consistency level = kvfs_fs_level(fs, inode);
	struct kvfs_reader *value = NULL;
	char key[KVFS_KEY_MAX + 1];
	bool need;

	/* Only where this daemon is the store's only writer: elsewhere
	 * nothing is cached that an open could disagree with, and keeping
	 * a value would cost a remote read per rename. */
	retain = retain && fs->exclusive && kernel_knows(fs, inode);
	pthread_mutex_lock(&inode->lock);
	need = retain;
	for (struct fs_handle *h = inode->handles; h; h = h->next)
		need |= h->need_reader;
	if (need && kvfs_fs_key(fs, inode, NULL, key) == 0 &&
	    kvfs_store_open_reader(fs->store, key, level, &value) != 0)
		value = NULL; /* then they read as empty */
	for (struct fs_handle *h = inode->handles; h && value; h = h->next) {
		if (!h->need_reader)
			continue;
		h->reader = kvfs_fs_reader_share(&value);
		h->need_reader = false;
		h->gen = inode->data_gen;
	}
	pthread_mutex_unlock(&inode->lock);
	if (retain)
		return value;
	kvfs_reader_close(value);
	return NULL;
}

void kvfs_fs_retire(struct fs_inode *inode, struct kvfs_reader *value)
{
	pthread_mutex_lock(&inode->lock);
	kvfs_reader_close(inode->retired);
	inode->retired = value;
	pthread_mutex_unlock(&inode->lock);
}

/* Start the handle's writer. Caller holds ns_lock and inode->lock. */
static int ensure_writer(struct fs *fs, struct fs_handle *h)
{
	char key[KVFS_KEY_MAX + 1];
	int rc, err;

	if (h->writer)
		return 0;
	if (!h->empty_base) {
		err = ensure_reader(fs, h);
		if (err)
			return err;
	}
	err = kvfs_fs_key(fs, h->inode, NULL, key);
	if (err)
		return err;
	rc = kvfs_store_open_writer(fs->store, key, h->level,
				    h->empty_base ? NULL : h->reader,
				    &h->writer);
	err = kvfs_fs_errno(fs, rc, key);
	if (err)
		return err;
	h->empty_base = false;
	h->inode->dirty++;
	__atomic_add_fetch(&fs->dirty_total, 1, __ATOMIC_RELEASE);
	return 0;
}

static void drop_writer(struct fs *fs, struct fs_handle *h)
{
	h->writer = NULL;
	h->inode->dirty--;
	__atomic_sub_fetch(&fs->dirty_total, 1, __ATOMIC_RELEASE);
}

/*
 * A failed write or publish loses data the program may have counted on
 * (a short or early-answered write, a copy of the old value that could
 * not be made, a value the backend refused at commit): the handle is
 * marked failed for good, its writer is discarded, and nothing of it is
 * ever published, so the stored value stays the previous whole one, and
 * no later write builds on a base that lacks what was lost. Caller holds
 * ns_lock and inode->lock.
 */
static void fail_handle(struct fs *fs, struct fs_handle *h, int err)
{
	struct fs_inode *inode = h->inode;

	h->failed = err;
	if (h->writer) {
		kvfs_writer_abort(h->writer);
		drop_writer(fs, h);
	}
	h->commit_pending = false;
	/* The kernel has the size, maybe pages, of a value that will never
	 * be published. */
	if (h->page_writer)
		inode->cache_suspect = true;
	inode->size_suspect = true;
	inode->size_events++;
}

/*
 * Publish the handle's writer. Caller holds ns_lock and inode->lock.
 * *raced is set when another handle published since this one's snapshot,
 * so that the kernel's cached size and pages must go; *attrs_stale when
 * only its attributes must (a reply with attributes was built during the
 * session). Either may be NULL. Both leave the size suspect; a clean
 * session clears it (see the top of this file).
 */
static int commit_handle(struct fs *fs, struct fs_handle *h, bool *raced,
			 bool *attrs_stale)
{
	struct fs_inode *inode = h->inode;
	char key[KVFS_KEY_MAX + 1];
	int rc, err;

	if (h->failed)
		return h->failed; /* lost writes: never publish (see write) */
	if (!h->writer && !h->commit_pending)
		return 0;
	if (is_unlinked(fs, inode))
		return 0; /* never published; discarded at release */
	err = h->writer ? 0 : ensure_writer(fs, h);
	if (!err)
		err = kvfs_fs_key(fs, inode, NULL, key);
	if (!err) {
		rc = kvfs_writer_commit(h->writer); /* frees it either way */
		drop_writer(fs, h);
		h->commit_pending = false;
		err = kvfs_fs_errno(fs, rc, key);
	}
	if (err) {
		fail_handle(fs, h, err);
		return err;
	}
	if (h->gen != inode->data_gen || inode->handles != h || h->next) {
		/* Others had the file open: the kernel's size and pages may
		 * be theirs. */
		inode->cache_suspect = true;
		inode->size_suspect = true;
		if (raced)
			*raced = true;
	} else if (inode->size_events != h->events_mark) {
		/* A reply may have taken the old size to the kernel, or
		 * another open changed it. */
		inode->size_suspect = true;
		if (attrs_stale)
			*attrs_stale = true;
	} else {
		/* Alone all along: the kernel kept the size this writer
		 * made, which is what it published - if it had it right when
		 * the session began. */
		inode->size_suspect = !h->size_ok;
	}
	inode->data_gen++;
	h->gen = inode->data_gen;
	h->events_mark = inode->size_events;
	h->size_ok = !inode->size_suspect;
	if (h->page_writer && !inode->cache_suspect)
		inode->pc_gen = inode->data_gen; /* its writes are there */
	if (inode->pending) {
		inode->pending = false;
		__atomic_sub_fetch(&fs->pending_total, 1, __ATOMIC_RELEASE);
		if (inode->pending_mode != 0644) {
			rc = kvfs_store_set_attr(fs->store, key, KVFS_ATTR_MODE,
						 inode->pending_mode, NULL,
						 h->level);
			err = kvfs_fs_errno(fs, rc, key);
		}
	}
	kvfs_reader_close(h->reader);
	h->reader = NULL;
	h->need_reader = true;
	if (!err && (inode->has_mtime_override || inode->has_atime_override)) {
		/* Times set on the open file (cp -p): kept by the publish. */
		struct timespec times[2] = { inode->mtime_override,
					     inode->atime_override };
		unsigned int fields =
			(inode->has_mtime_override ? KVFS_ATTR_MTIME : 0) |
			(inode->has_atime_override ? KVFS_ATTR_ATIME : 0);

		rc = kvfs_store_set_attr(fs->store, key, fields, 0, times,
					 h->level);
		err = kvfs_fs_errno(fs, rc, key);
	}
	return err;
}

bool kvfs_fs_is_pending(struct fs *fs, struct fs_inode *inode)
{
	bool p;

	if (!__atomic_load_n(&fs->pending_total, __ATOMIC_ACQUIRE))
		return false;
	pthread_mutex_lock(&inode->lock);
	p = inode->pending;
	pthread_mutex_unlock(&inode->lock);
	return p;
}

bool kvfs_fs_drop_pending(struct fs *fs, struct fs_inode *inode)
{
	bool pending;

	pthread_mutex_lock(&inode->lock);
	pending = inode->pending;
	if (pending) {
		inode->pending = false;
		__atomic_sub_fetch(&fs->pending_total, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&inode->lock);
	return pending;
}

bool kvfs_fs_pending_set_attr(struct fs_inode *inode, int to_set,
			      const struct stat *attr)
{
	bool pending;

	pthread_mutex_lock(&inode->lock);
	pending = inode->pending;
	if (pending && (to_set & FUSE_SET_ATTR_MODE))
		inode->pending_mode = attr->st_mode & KVFS_MODE_KEPT;
	if (pending && (to_set & FUSE_SET_ATTR_MTIME_NOW)) {
		inode->has_mtime_override = true;
		clock_gettime(CLOCK_REALTIME, &inode->mtime_override);
	} else if (pending && (to_set & FUSE_SET_ATTR_MTIME)) {
		inode->has_mtime_override = true;
		inode->mtime_override = attr->st_mtim;
	}
	if (pending && (to_set & FUSE_SET_ATTR_ATIME_NOW)) {
		inode->has_atime_override = true;
		clock_gettime(CLOCK_REALTIME, &inode->atime_override);
	} else if (pending && (to_set & FUSE_SET_ATTR_ATIME)) {
		inode->has_atime_override = true;
		inode->atime_override = attr->st_atim;
	}
	pthread_mutex_unlock(&inode->lock);
	return pending;
}

int kvfs_fs_materialize(struct fs *fs, struct fs_inode *inode)
{
	char key[KVFS_KEY_MAX + 1];
	enum kvfs_consistency level;
	int err = 0;

	if (!kvfs_fs_is_pending(fs, inode))
		return 0;
	level = kvfs_fs_level(fs, inode);
	pthread_rwlock_rdlock(&fs->ns_lock);
	pthread_mutex_lock(&inode->lock);
	/* An open file that has written gives the value its contents so
	 * far (cp -a sets xattrs on the copy before it closes it), which
	 * publishes it; else the creator's truncation does; else it is
	 * empty. Either way no handle is left to publish it again. */
	for (struct fs_handle *h = inode->handles;
	     h && inode->pending && !err; h = h->next)
		if (h->writer)
			err = commit_handle(fs, h, NULL, NULL);
	for (struct fs_handle *h = inode->handles;
	     h && inode->pending && !err; h = h->next)
		if (h->commit_pending)
			err = commit_handle(fs, h, NULL, NULL);
	if (!err && inode->pending && !is_unlinked(fs, inode)) {
		err = kvfs_fs_key(fs, inode, NULL, key);
		if (!err)
			err = kvfs_fs_errno(fs, kvfs_store_put(fs->store, key,
					"", 0, level), key);
		if (!err && inode->pending_mode != 0644)
			err = kvfs_fs_errno(fs, kvfs_store_set_attr(fs->store,
					key, KVFS_ATTR_MODE, inode->pending_mode,
					NULL, level), key);
		if (!err) {
			inode->pending = false;
			__atomic_sub_fetch(&fs->pending_total, 1,
					   __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&inode->lock);
	pthread_rwlock_unlock(&fs->ns_lock);
	return err;
}

int kvfs_fs_stored_key(struct fs *fs, struct fs_inode *inode, char *key)
{
	int err = kvfs_fs_materialize(fs, inode);

	return err ? err : kvfs_fs_key(fs, inode, NULL, key);
}

int kvfs_fs_commit_inode(struct fs *fs, struct fs_inode *inode)
{
	int err = 0;

	for (struct fs_handle *h = inode->handles; h; h = h->next) {
		/* A failed handle has nothing to publish; its error is its
		 * own writer's to hear. */
		int e = h->failed ? 0 : commit_handle(fs, h, NULL, NULL);

		if (!err)
			err = e;
	}
	return err;
}

/* Does the open file change the value: open for writing, or with
 * O_TRUNC, which Linux honours on a read-only open too (POSIX leaves it
 * open): `O_RDONLY | O_TRUNC` empties the file, published like any
 * truncation at the opener's last close. */
static bool is_writable(const struct fs_handle *h)
{
	return (h->flags & O_ACCMODE) != O_RDONLY || (h->flags & O_TRUNC);
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Did a writer overlap with another open file within the quiet period?
 * Caller holds inode->lock. */
static bool recently_shared(struct fs *fs, const struct fs_inode *inode)
{
	double last = (double)inode->last_shared.tv_sec +
		      (double)inode->last_shared.tv_nsec / 1e9;

	return inode->last_shared.tv_sec && mono_now() - last < fs->cfg.quiet;
}

static bool has_cached_reader(const struct fs_inode *inode)
{
	for (const struct fs_handle *o = inode->handles; o; o = o->next)
		if (o->cached)
			return true;
	return false;
}

/*
 * A writer is never opened on a node that page-cache readers have open:
 * the kernel would change their size under them (O_TRUNC at open, writes
 * past the end). Instead the name moves to a new node, the old one stays
 * with those readers, as a file replaced by rename(2) does, and the open
 * fails with ESTALE, which the kernel answers by looking the name up
 * again and retrying the open once, on the new node. Readers that open
 * the name soon after use direct I/O, so that the retry finds no
 * page-cache reader again. The kernel's retry looks the name up anew
 * whatever its cache holds, so the entry is dropped without waiting: the
 * kernel may hold locks here (the directory during create, the file
 * during truncate) that the invalidation needs. Caller holds nothing.
 * Returns ESTALE.
 */
static int move_name_away(struct fs *fs, struct fs_inode *inode)
{
	char name[KVFS_NAME_MAX + 1];
	fuse_ino_t parent;

	if (kvfs_fs_inode_supersede(fs, inode, &parent, name)) {
		kvfs_log(KVFS_LOG_DEBUG, "%s: a new node for a writer", name);
		kvfs_fs_notify_entry(fs, parent, name, false);
	}
	return ESTALE;
}

/* Does an open file of inode other than h hold another snapshot? Caller
 * holds inode->lock. */
static bool other_snapshot(const struct fs_inode *inode,
			   const struct fs_handle *h)
{
	for (const struct fs_handle *o = inode->handles; o; o = o->next)
		if (o->gen != h->gen)
			return true;
	return false;
}

/*
 * Link a new handle into inode, with the way the kernel caches it that
 * cache_policy.c chooses: direct I/O or the page cache (keeping its pages
 * or not), or ESTALE for a writer on a node with page-cache readers, or
 * on a node whose name moved away (see move_name_away). The caller has
 * set h->gen; it holds nothing. Returns 0 or ESTALE.
 */
static int attach(struct fs *fs, struct fs_handle *h,
		  struct fuse_file_info *fi)
{
	struct fs_inode *inode = h->inode;
	struct policy_mount m = kvfs_fs_policy(fs);
	struct open_facts f = { .writer = is_writable(h),
				.append = (h->flags & O_APPEND) != 0 };
	struct open_choice c;

	pthread_mutex_lock(&inode->lock);
	f.name_moved = table_flag(fs, &inode->superseded);
	f.cached_reader = has_cached_reader(inode);
	if (f.writer && (f.name_moved || f.cached_reader)) {
		pthread_mutex_unlock(&inode->lock);
		return move_name_away(fs, inode);
	}
	if (inode->handles && (f.writer || inode->nwriters > 0))
		clock_gettime(CLOCK_MONOTONIC, &inode->last_shared);
	f.others_open = inode->handles != NULL;
	f.writer_open = inode->nwriters > 0;
	f.pushing = inode->storing;
	f.size_suspect = inode->size_suspect;
	f.snapshot_behind = h->gen != inode->data_gen;
	f.other_snapshot = other_snapshot(inode, h);
	f.shared_lately = recently_shared(fs, inode);
	f.moved_lately = kvfs_fs_inode_superseded_within(fs, inode,
							 RETRY_WINDOW);
	f.pages_ours = inode->pc_gen == h->gen;
	f.pages_suspect = inode->cache_suspect;
	c = kvfs_policy_open(&m, &f);

	kvfs_fs_inode_hold(fs, inode);
	if (f.writer)
		inode->size_events++; /* O_TRUNC, writes past the end */
	h->events_mark = inode->size_events;
	/* O_TRUNC and create make the kernel's size 0, as this writer's -
	 * unless a push into the page cache may stretch it again. */
	h->size_ok = (h->empty_base || !inode->size_suspect) &&
		     !inode->storing;
	if (c.pages == PAGES_SUSPECT) {
		inode->cache_suspect = true;
	} else if (c.pages == PAGES_THIS_SNAPSHOT) {
		inode->pc_gen = h->gen;
		inode->cache_suspect = false;
	}
	h->next = inode->handles;
	if (h->next)
		h->next->prev = h;
	inode->handles = h;
	if (f.writer)
		inode->nwriters++;
	fi->direct_io = c.path == OPEN_DIRECT;
	fi->keep_cache = c.keep_pages;
	if (c.path == OPEN_PAGE_CACHE) {
		h->cached = !f.writer;
		h->page_writer = f.writer;
	}
	pthread_mutex_unlock(&inode->lock);
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

/* A handle of inode for the open request req. */
static struct fs_handle *handle_new(fuse_req_t req, struct fs_inode *inode,
				    int flags, enum kvfs_consistency level)
{
	struct fs_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->opener = fuse_req_ctx(req)->pid;
	h->inode = inode;
	h->flags = flags;
	h->level = level;
	return h;
}

/* Did a LOOKUP reply name inode just now (the kernel's retry of a stale
 * open follows one)? Caller holds inode->lock. */
static bool just_looked_up(const struct fs_inode *inode)
{
	double at = (double)inode->looked_up.tv_sec +
		    (double)inode->looked_up.tv_nsec / 1e9;

	return inode->looked_up.tv_sec && mono_now() - at < LOOKUP_FRESH;
}

/*
 * The value a new handle of inode starts from: a snapshot, or nothing to
 * read (O_TRUNC for writing; a file created here and not yet published,
 * whose value is empty until its creator publishes). Under ns_lock, so
 * that no rename or unlink moves the name between the check and the
 * snapshot: an inode whose name was removed or given to another node is
 * not what the name holds now, and the open gets ESTALE, which the kernel
 * answers by looking the name up again and opening what it finds.
 */
static int open_snapshot(struct fs *fs, struct fs_handle *h, int flags)
{
	struct fs_inode *inode = h->inode;
	bool writable = is_writable(h);
	char key[KVFS_KEY_MAX + 1];
	bool gone, pending;
	int err = 0;

	pthread_rwlock_rdlock(&fs->ns_lock);
	pthread_mutex_lock(&inode->lock);
	gone = is_unlinked(fs, inode);
	pending = inode->pending;
	/* Before the snapshot: a publish between the two makes the handle
	 * look older than it is, never newer (see attach). */
	h->gen = inode->data_gen;
	/* Replaced by a rename: a reader opens the value it had, as a
	 * replaced file stays open on any filesystem. */
	if (gone && !writable && inode->retired)
		h->reader = kvfs_fs_reader_share(&inode->retired);
	pthread_mutex_unlock(&inode->lock);
	if (gone) {
		err = h->reader ? 0 : ESTALE;
	} else if (flags & O_TRUNC) {
		h->empty_base = true;
		h->commit_pending = true;
	} else if (pending) {
		h->empty_base = writable;
	} else {
		int rc = kvfs_fs_key(fs, inode, NULL, key);
		bool stale = false;

		if (!rc)
			rc = kvfs_store_open_reader(fs->store, key, h->level,
						    &h->reader);
		/* The key vanished or became a directory since the kernel
		 * cached the name (another client): ESTALE, and the kernel
		 * looks it up again and opens what it finds, or creates it
		 * (O_CREAT). It retries once, after a LOOKUP: when the name
		 * is gone again at that retry (another client deletes and
		 * re-creates it in a loop), the retry gets ENOENT, as does
		 * any open right after a lookup (the kernel's cache is not
		 * what is stale then). */
		pthread_mutex_lock(&inode->lock);
		if (rc == KVFS_ENOTFOUND || rc == KVFS_EISDIR)
			stale = !inode->open_stale &&
				!just_looked_up(inode);
		inode->open_stale = stale;
		pthread_mutex_unlock(&inode->lock);
		if (stale)
			err = ESTALE;
		else
			err = rc > 0 ? rc : kvfs_fs_errno(fs, rc, key);
	}
	pthread_rwlock_unlock(&fs->ns_lock);
	return err;
}

/* Open an existing file of the inode table. */
static int open_existing(fuse_req_t req, struct fs *fs,
			 struct fs_inode *inode, struct fuse_file_info *fi)
{
	struct fs_handle *h;
	int err;

	if (inode->is_dir)
		return EISDIR;
	h = handle_new(req, inode, fi->flags, kvfs_fs_level(fs, inode));
	if (!h)
		return ENOMEM;
	err = open_snapshot(fs, h, fi->flags);
	if (!err)
		err = attach(fs, h, fi);
	if (err) {
		kvfs_reader_close(h->reader);
		free(h);
	}
	return err;
}

void kvfs_fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	int err = open_existing(req, fs, kvfs_fs_inode(fs, ino), fi);

	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_open(req, fi);
}

/* Undo attach and free h: its writer (unlinked, or its publish failed)
 * is discarded. A file created here that its last handle leaves never
 * published (its writes failed) is gone: no file is left behind that the
 * store never had. Caller holds nothing. */
static void detach(struct fs *fs, struct fs_handle *h)
{
	struct fs_inode *inode = h->inode;
	char name[KVFS_NAME_MAX + 1];
	fuse_ino_t parent;
	bool vanish;

	pthread_mutex_lock(&inode->lock);
	if (h->writer) {
		kvfs_writer_abort(h->writer);
		drop_writer(fs, h);
	}
	if (h->prev)
		h->prev->next = h->next;
	else
		inode->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	if (is_writable(h)) {
		inode->nwriters--;
		if (inode->handles)
			clock_gettime(CLOCK_MONOTONIC, &inode->last_shared);
	}
	if (!inode->nwriters)
		inode->has_mtime_override = inode->has_atime_override = false;
	vanish = inode->pending && !inode->handles;
	if (vanish) {
		inode->pending = false;
		__atomic_sub_fetch(&fs->pending_total, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&inode->lock);
	if (vanish && kvfs_fs_inode_unhash_named(fs, inode, &parent, name))
		kvfs_fs_notify_entry(fs, parent, name, false);
	kvfs_reader_close(h->reader);
	free(h);
	kvfs_fs_inode_put(fs, inode);
}

/* create(2) of a name that exists: O_EXCL fails, anything else looks it
 * up into e and opens it. Returns an errno. */
static int create_existing(fuse_req_t req, struct fs *fs,
			   struct fs_inode *parent,
			   const char *name, struct fuse_file_info *fi,
			   struct fuse_entry_param *e)
{
	struct fs_inode *inode;
	int err;

	if (fi->flags & O_EXCL)
		return EEXIST;
	err = kvfs_fs_do_lookup(fs, parent, name, e);
	if (err)
		return err;
	inode = kvfs_fs_inode(fs, e->ino);
	err = open_existing(req, fs, inode, fi);
	if (err)
		kvfs_fs_inode_forget(fs, inode, 1);
	return err;
}

void kvfs_fs_create(fuse_req_t req, fuse_ino_t parent_ino, const char *name,
		    mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *parent = kvfs_fs_inode(fs, parent_ino);
	char key[KVFS_KEY_MAX + 1];
	struct fuse_entry_param e;
	struct policy_mount m;
	struct kvfs_stat ks;
	enum kvfs_consistency level;
	struct fs_inode *inode;
	struct fs_handle *h;
	uint64_t gen;
	int err, rc;

	err = kvfs_fs_errno(fs, kvfs_key_check_name(name), name);
	if (!err)
		err = kvfs_fs_key(fs, parent, name, key);
	if (err)
		goto out;
	level = kvfs_fs_level_new_child(fs, parent, name);
	rc = kvfs_store_stat(fs->store, key, level, &ks);
	if (rc == 0) {
		/* It exists after all (created behind a cached negative
		 * entry). */
		err = create_existing(req, fs, parent, name, fi, &e);
		goto out;
	}
	if (rc != KVFS_ENOTFOUND) {
		err = kvfs_fs_errno(fs, rc, key);
		goto out;
	}
	inode = kvfs_fs_inode_find(fs, parent, name);
	if (inode) {
		/* Created here and still pending (the kernel forgot the
		 * entry): it exists. */
		bool pending = kvfs_fs_is_pending(fs, inode);

		kvfs_fs_inode_put(fs, inode);
		if (pending) {
			err = create_existing(req, fs, parent, name, fi, &e);
			goto out;
		}
	}
	/* The name exists from now on for this mount, as creat(2) says,
	 * but reaches the store with the first publish (close, fsync):
	 * one publish per new file instead of two. A crash before it
	 * leaves no file, as it can on any filesystem without an fsync of
	 * the directory. */
	gen = kvfs_fs_level_gen(fs);
	inode = kvfs_fs_inode_get(fs, parent, name, false);
	if (!inode) {
		err = ENOMEM;
		goto out;
	}
	kvfs_fs_level_prime(fs, inode, level, gen);
	h = handle_new(req, inode, fi->flags, level);
	if (!h) {
		kvfs_fs_inode_forget(fs, inode, 1);
		err = ENOMEM;
		goto out;
	}
	h->empty_base = true;
	h->commit_pending = true; /* a close without writes publishes "" */
	pthread_mutex_lock(&inode->lock);
	h->gen = inode->data_gen;
	if (!inode->pending) {
		inode->pending = true;
		__atomic_add_fetch(&fs->pending_total, 1, __ATOMIC_RELEASE);
	}
	inode->pending_mode = mode & KVFS_MODE_KEPT;
	pthread_mutex_unlock(&inode->lock);
	err = attach(fs, h, fi);
	if (err) {
		/* Page-cache readers had this name open: it moved away. */
		pthread_mutex_lock(&inode->lock);
		if (inode->pending) {
			inode->pending = false;
			__atomic_sub_fetch(&fs->pending_total, 1,
					   __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&inode->lock);
		free(h);
		kvfs_fs_inode_forget(fs, inode, 1);
		goto out;
	}
	pthread_mutex_lock(&inode->lock);
	inode->pc_gen = h->gen; /* the kernel knows it is empty */
	inode->cache_suspect = false;
	pthread_mutex_unlock(&inode->lock);
	memset(&e, 0, sizeof(e));
	e.ino = inode->ino;
	err = kvfs_fs_getattr_of(fs, inode, NULL, &e.attr, NULL);
	pthread_mutex_lock(&inode->lock);
	h->events_mark = inode->size_events; /* that reply comes first */
	pthread_mutex_unlock(&inode->lock);
	if (err) {
		/* The kernel will send no release for a failed create. */
		detach(fs, h);
		kvfs_fs_inode_forget(fs, inode, 1);
		goto out;
	}
	e.attr_timeout = kvfs_fs_timeout(fs, inode);
	m = kvfs_fs_policy(fs);
	e.entry_timeout = kvfs_policy_unstored_entry_timeout(&m);
out:
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_create(req, &e, fi);
}

void kvfs_fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *h = handle_of(fi);
	struct fs_inode *inode = h->inode;
	char *buf = read_buf(size);
	ssize_t n = 0;
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&inode->lock);
	if (h->writer) {
		n = kvfs_writer_pread(h->writer, buf, size, (uint64_t)off);
	} else {
		err = ensure_reader(fs, h);
		if (!err && h->reader)
			n = kvfs_reader_pread(h->reader, buf, size,
					      (uint64_t)off);
		if (h->cached && h->gen != inode->data_gen)
			inode->cache_suspect = true; /* old snapshot's pages */
	}
	pthread_mutex_unlock(&inode->lock);
	if (!err && n < 0)
		err = kvfs_fs_errno(fs, (int)n, "read");
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

/* Hand bv, at off, to the kernel's page cache of inode; false when the
 * kernel did not take it. Caller holds nothing: the kernel may wait for
 * a read, on a page it locked, that needs inode->lock or another worker
 * to read it. */
static bool store_in_kernel(struct fs *fs, struct fs_inode *inode,
			    struct fuse_bufvec *bv, uint64_t off)
{
	int rc;

	kvfs_fs_loop_wait_begin();
	rc = fuse_lowlevel_notify_store(fs->se, inode->ino, (off_t)off, bv, 0);
	kvfs_fs_loop_wait_end();
	return rc == 0;
}

/* Copy size bytes of data into the page cache of inode at off. */
static bool push_pages(struct fs *fs, struct fs_inode *inode, const char *data,
		       size_t size, uint64_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

	bv.buf[0].mem = (void *)data;
	return store_in_kernel(fs, inode, &bv, off);
}

/* As push_pages, from size bytes of file descriptor fd at off: spliced,
 * where the kernel can, without a copy through the daemon. */
static bool push_file_pages(struct fs *fs, struct fs_inode *inode, int fd,
			    size_t size, uint64_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = fd;
	bv.buf[0].pos = (off_t)off;
	return store_in_kernel(fs, inode, &bv, off);
}

/* A descriptor of the reader's snapshot of our own (a copy, so that a
 * publish through a dup'd descriptor closing the reader meanwhile does
 * not pull it away), or -1 when the backend lends none. */
static int reader_fd(struct fs *fs, struct kvfs_reader *reader)
{
	struct kvfs_reader_fd rf = { .reader = reader, .fd = -1 };

	if (!(fs->caps & KVFS_CAP_LENDS_FDS))
		return -1;
	if (kvfs_store_control(fs->store, KVFS_CTL_READER_FD, &rf) != 0)
		return -1;
	return fcntl(rf.fd, F_DUPFD_CLOEXEC, 0);
}

/* A write's data: in memory, or (mem NULL) still in the pipe the loop
 * spliced the request into (loop.c). */
struct write_data {
	const char *mem;
	int fd;
};

/* Store all size bytes of data at off: 0, or the error that stopped it. */
static int store_all(struct fs *fs, struct kvfs_writer *writer,
		     const struct write_data *data, size_t size, uint64_t off,
		     size_t *done)
{
	*done = 0;
	while (*done < size) {
		ssize_t n = data->mem
			? kvfs_writer_pwrite(writer, data->mem + *done,
					     size - *done, off + *done)
			: kvfs_writer_pwrite_from(writer, data->fd,
						  size - *done, off + *done);

		if (n < 0)
			return kvfs_fs_errno(fs, (int)n, "write");
		if (n == 0)
			return EIO;
		*done += (size_t)n;
	}
	return 0;
}

/*
 * A large write is answered before it is stored, as a buffered write is:
 * the writer prepares its next one while the data goes into the backend,
 * and another thread reads the next request meanwhile (loop.c). Whatever
 * looks at this handle's value (its next write, reads, fstat, publish)
 * waits for inode->lock, held until the data is in. Small writes, O_SYNC
 * and O_DSYNC writes and the kernel's writeback are stored first and
 * answered with the outcome. Either way a write that fails fails the
 * handle (fail_handle): its every later write, truncate, flush, fsync
 * and close fails with that error.
 *
 * A write that came by splice still has its data in the loop's pipe, as
 * references to the kernel's pages of this file, when it is answered
 * early; the program may change those pages before they are stored (a
 * rewrite of the same range, a shared mapping). That is harmless: the
 * change reaches the daemon as a later write or page write of the same
 * range, which waits for inode->lock and lands after this one.
 */
void kvfs_fs_write_buf(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_bufvec *bufv, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *h = handle_of(fi);
	struct fs_inode *inode = h->inode;
	const struct fuse_buf *in = &bufv->buf[0];
	struct write_data data = {
		.mem = in->flags & FUSE_BUF_IS_FD ? NULL
						  : (const char *)in->mem,
		.fd = in->fd,
	};
	size_t size = in->size;
	bool early = size >= EARLY_REPLY_WRITE && !fi->writepage &&
		     !(fi->flags & O_DSYNC);
	uint64_t at = (uint64_t)off;
	size_t done = 0;
	int err;

	(void)ino;
	/* libfuse clears its own pipe after a write_buf that left data in
	 * it; the loop's pipe is the loop's to clear (loop.c, drain). */
	bufv->idx = bufv->count;
	__atomic_add_fetch(data.mem ? &fs->writes_copied : &fs->writes_spliced,
			   1, __ATOMIC_RELAXED);
	pthread_rwlock_rdlock(&fs->ns_lock);
	pthread_mutex_lock(&inode->lock);
	err = h->failed;
	if (!err) {
		err = ensure_writer(fs, h);
		if (err)
			fail_handle(fs, h, err);
	}
	if (err) {
		pthread_mutex_unlock(&inode->lock);
		pthread_rwlock_unlock(&fs->ns_lock);
		fuse_reply_err(req, err);
		return;
	}
	/* Without writeback caching the kernel's idea of the end of the file
	 * may predate this handle's snapshot. */
	if ((h->flags & O_APPEND) && !fs->cfg.writeback)
		at = kvfs_writer_size(h->writer);
	if (!fs->cfg.writeback)
		inode->has_mtime_override = false;
	if (early) {
		fuse_reply_write(req, size);
		kvfs_fs_loop_hand_off();
	}
	err = store_all(fs, h->writer, &data, size, at, &done);
	if (err)
		fail_handle(fs, h, err);
	pthread_mutex_unlock(&inode->lock);
	pthread_rwlock_unlock(&fs->ns_lock);
	if (early)
		return;
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, done);
}

/* The end of a push into the page cache: its pages are the value of
 * generation gen, or (not ok) suspect. Caller holds inode->lock; this
 * releases it. */
static void store_done(struct fs_inode *inode, uint64_t gen, bool ok)
{
	inode->storing = false;
	inode->size_events++;
	if (ok && inode->data_gen == gen && !inode->cache_suspect) {
		inode->pc_gen = gen;
	} else {
		/* Pushed pages may have stretched the kernel's size. */
		inode->cache_suspect = true;
		inode->size_suspect = true;
	}
	pthread_mutex_unlock(&inode->lock);
}

/*
 * Push the value h just published (generation gen) into the kernel's page
 * cache, so that later readers keep it (keep_cache) instead of reading it
 * through the daemon again: all of it, or with tail_only just its last,
 * partial page (a writer through the page cache left the others there,
 * but the kernel marks a partly written page valid only once it is read).
 * While this runs inode->storing makes new opens use direct I/O; if
 * anything published meanwhile (another file, or h itself through a dup'd
 * or inherited descriptor), it stops and the pages are marked suspect
 * instead of current. Caller holds nothing.
 */
static void store_pages(struct fs *fs, struct fs_handle *h, uint64_t gen,
			bool tail_only)
{
	struct fs_inode *inode = h->inode;
	char *buf = read_buf(READ_BUF_MAX);
	uint64_t off = 0, size, chunk = READ_BUF_MAX;
	bool ok = buf != NULL;
	int fd = -1;

	pthread_mutex_lock(&inode->lock);
	if (ok && ensure_reader(fs, h) == 0 && h->reader &&
	    h->gen == gen) {
		size = kvfs_reader_size(h->reader);
		if (tail_only)
			off = size - size % (uint64_t)sysconf(_SC_PAGESIZE);
		if (size - off > READ_BUF_MAX)
			fd = reader_fd(fs, h->reader);
		if (fd >= 0)
			chunk = SPLICE_CHUNK;
		while (ok && off < size) {
			ssize_t n = size - off < chunk ? (ssize_t)(size - off)
						       : (ssize_t)chunk;

			if (fd < 0)
				n = kvfs_reader_pread(h->reader, buf,
						      (size_t)n, off);
			if (n <= 0) {
				ok = false;
				break;
			}
			pthread_mutex_unlock(&inode->lock);
			ok = fd >= 0 ? push_file_pages(fs, inode, fd,
						       (size_t)n, off)
				     : push_pages(fs, inode, buf, (size_t)n,
						  off);
			pthread_mutex_lock(&inode->lock);
			off += (uint64_t)n;
			/* The same open file may have published through a
			 * dup or a fork meanwhile (its reader is gone), or
			 * another one did. */
			if (h->need_reader || h->gen != gen ||
			    inode->data_gen != gen || h->writer ||
			    h->commit_pending || inode->handles != h ||
			    h->next)
				ok = false;
		}
	} else {
		ok = false;
	}
	if (fd >= 0)
		close(fd);
	store_done(inode, gen, ok);
}

/*
 * As store_pages with tail_only, for the `len` bytes of the last partial
 * page at off (none when the value ends on a page boundary), read from the
 * writer just before it was committed: no reader needs opening for them.
 * Caller holds nothing.
 */
static void store_tail(struct fs *fs, struct fs_handle *h, uint64_t gen,
		       const char *data, size_t len, uint64_t off)
{
	struct fs_inode *inode = h->inode;
	bool ok = !len || push_pages(fs, inode, data, len, off);

	pthread_mutex_lock(&inode->lock);
	if (h->gen != gen || inode->data_gen != gen || h->writer ||
	    h->commit_pending || inode->handles != h || h->next)
		ok = false;
	store_done(inode, gen, ok);
}

/* Publish h; tell the kernel to drop what it cached when writers raced,
 * or give it the new value when this writer was alone (at close). */
static int publish(struct fs *fs, struct fs_handle *h, bool wait)
{
	struct fs_inode *inode = h->inode;
	struct policy_mount m = kvfs_fs_policy(fs);
	struct publish_facts pf = { 0 };
	struct publish_choice pc;
	bool raced = false, attrs_stale = false, wrote;
	bool have_tail = false, vanish;
	char name[KVFS_NAME_MAX + 1];
	fuse_ino_t parent;
	uint64_t gen = 0, tail_off = 0, size = 0;
	char *tail = NULL;
	size_t tail_len = 0;
	int err;

	pthread_rwlock_rdlock(&fs->ns_lock);
	pthread_mutex_lock(&inode->lock);
	wrote = h->writer != NULL;
	if (wrote)
		size = kvfs_writer_size(h->writer);
	if (wrote && h->page_writer) {
		/* The one page its writes leave the kernel short of, if all
		 * goes to plan below: read now, while the writer is here. */
		tail_off = size - size % (uint64_t)sysconf(_SC_PAGESIZE);
		tail_len = (size_t)(size - tail_off);
		tail = read_buf(tail_len);
		have_tail = tail && (!tail_len ||
				     kvfs_writer_pread(h->writer, tail, tail_len,
						       tail_off) ==
					     (ssize_t)tail_len);
	}
	err = commit_handle(fs, h, &raced, &attrs_stale);
	/* A file created here whose first publish failed (EFBIG, a lost
	 * cluster) is never published by this handle, its only one: the
	 * name goes now, before close returns, not at release. */
	vanish = err && inode->pending && inode->handles == h && !h->next;
	if (vanish) {
		inode->pending = false;
		__atomic_sub_fetch(&fs->pending_total, 1, __ATOMIC_RELEASE);
	}
	pf.published = !err && wrote;
	pf.raced = raced;
	pf.attrs_stale = attrs_stale;
	pf.at_close = wait;
	pf.pushing = inode->storing;
	pf.reader_wanted = h->need_reader;
	pf.pages_current = inode->pc_gen == inode->data_gen;
	pf.page_writer = h->page_writer;
	pf.alone = inode->handles == h && !h->next;
	pf.shared_lately = recently_shared(fs, inode);
	pf.size = size;
	pc = kvfs_policy_publish(&m, &pf);
	if (pc.push != PUSH_NONE) {
		inode->storing = true;
		gen = inode->data_gen;
	}
	pthread_mutex_unlock(&inode->lock);
	pthread_rwlock_unlock(&fs->ns_lock);
	if (vanish && kvfs_fs_inode_unhash_named(fs, inode, &parent, name))
		kvfs_fs_notify_entry(fs, parent, name, false);
	if (pc.drop_attrs)
		kvfs_fs_notify_inode(fs, inode->ino, pc.drop_pages, wait);
	if (pc.push == PUSH_TAIL && have_tail)
		store_tail(fs, h, gen, tail, tail_len, tail_off);
	else if (pc.push != PUSH_NONE)
		store_pages(fs, h, gen, pc.push == PUSH_TAIL);
	return err;
}

/*
 * Every close(2) sends a FLUSH, also the close of a duplicate descriptor
 * before anything was written: a shell's `echo x > f` opens f with
 * O_TRUNC, dup2s it onto stdout and closes the original first, and a
 * child that inherited the descriptor closes it at exec or exit. So a
 * flush publishes what was written, and a truncation (O_TRUNC, a new
 * file) with nothing written since only when the process that opened the
 * file closed its last descriptor of it (descriptors.c): `touch f`, and
 * `: > f` at its last close, publish before close returns; the first
 * close of `echo x > f` does not. A truncation left is published by
 * fsync or at release, the kernel's word that the last descriptor is
 * gone; until then every other open sees the value from before. One
 * write, one new value.
 */
void kvfs_fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	bool wrote, truncated;
	int err;

	pthread_mutex_lock(&h->inode->lock);
	wrote = h->writer != NULL;
	truncated = h->commit_pending;
	err = h->failed;
	pthread_mutex_unlock(&h->inode->lock);
	if (wrote || (truncated && kvfs_fs_last_close(fuse_req_ctx(req)->pid,
						      h->opener,
						      h->inode->ino)))
		err = publish(fs_of(req), h, true);
	/* Any close of a file ends the process's POSIX locks on it: after
	 * the publish, so that the next holder reads what this one wrote. */
	kvfs_fs_locks_release(fs_of(req), h->inode, fi->lock_owner, false);
	fuse_reply_err(req, err);
}

void kvfs_fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		   struct fuse_file_info *fi)
{
	fuse_reply_err(req, publish(fs_of(req), handle_of(fi), false));
}

void kvfs_fs_release(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *h = handle_of(fi);

	/* Nobody waits for a release (close returned long ago), and it must
	 * not wait for the kernel: it is a background request, as a
	 * readahead READ is, and when the kernel's background slots are all
	 * taken by releases, a READ holding a page lock that one of them
	 * waits for could not even reach the daemon. So nothing is pushed
	 * into the page cache here, and notifications are only queued. */
	publish(fs, h, false);
	if (fi->flock_release)
		kvfs_fs_locks_release(fs, h->inode, fi->lock_owner, true);
	detach(fs, h);
	fuse_reply_err(req, 0);
}

/* truncate(2) of a name nobody has open through this handle: a writer of
 * its own, published at once. */
static int truncate_key(struct fs *fs, struct fs_inode *inode, uint64_t size)
{
	char key[KVFS_KEY_MAX + 1];
	struct fs_handle h = { .inode = inode };
	int err;

	h.level = kvfs_fs_level(fs, inode);
	h.empty_base = size == 0;
	h.need_reader = size != 0;
	err = kvfs_fs_key(fs, inode, NULL, key);
	if (err)
		return err;
	pthread_rwlock_rdlock(&fs->ns_lock);
	pthread_mutex_lock(&inode->lock);
	if (has_cached_reader(inode) ||
	    table_flag(fs, &inode->superseded)) {
		/* The reply would give them the new size (see attach). */
		pthread_mutex_unlock(&inode->lock);
		pthread_rwlock_unlock(&fs->ns_lock);
		return move_name_away(fs, inode);
	}
	h.gen = inode->data_gen;
	err = ensure_writer(fs, &h);
	if (!err)
		err = kvfs_fs_errno(fs, kvfs_writer_truncate(h.writer, size),
				    key);
	if (!err) {
		err = commit_handle(fs, &h, NULL, NULL);
	} else if (h.writer) {
		kvfs_writer_abort(h.writer);
		drop_writer(fs, &h);
	}
	pthread_mutex_unlock(&inode->lock);
	pthread_rwlock_unlock(&fs->ns_lock);
	kvfs_reader_close(h.reader);
	return err;
}

int kvfs_fs_truncate(struct fs *fs, struct fs_inode *inode,
		     struct fuse_file_info *fi, uint64_t size)
{
	struct fs_handle *h = fi ? handle_of(fi) : NULL;
	int err;

	if (inode->is_dir)
		return EISDIR;
	if (!h)
		return truncate_key(fs, inode, size);
	pthread_rwlock_rdlock(&fs->ns_lock);
	pthread_mutex_lock(&inode->lock);
	if (h->failed) {
		err = h->failed;
		goto out;
	}
	if (!h->writer && size == 0)
		h->empty_base = true; /* no need to copy what goes away */
	err = ensure_writer(fs, h);
	if (!err)
		err = kvfs_fs_errno(fs, kvfs_writer_truncate(h->writer, size),
				    "truncate");
out:
	pthread_mutex_unlock(&inode->lock);
	pthread_rwlock_unlock(&fs->ns_lock);
	return err;
}

/* A descriptor of its own (O_RDONLY, its own offset) of the file behind
 * the handle's value, where the backend lends one: the writer's, else
 * the snapshot's; -1 when there is none. Caller holds inode->lock. */
static int value_fd(struct fs *fs, struct fs_handle *h)
{
	struct kvfs_writer_fd wf = { .writer = h->writer, .fd = -1 };
	struct kvfs_reader_fd rf = { .reader = h->reader, .fd = -1 };
	char path[32];
	int fd = -1;

	if (h->writer &&
	    kvfs_store_control(fs->store, KVFS_CTL_WRITER_FD, &wf) == 0)
		fd = wf.fd;
	else if (!h->writer && h->reader &&
		 kvfs_store_control(fs->store, KVFS_CTL_READER_FD, &rf) == 0)
		fd = rf.fd;
	if (fd < 0)
		return -1;
	/* Lent descriptors must not move: seek a copy with an offset of
	 * its own. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd;
}

/*
 * lseek(2) with SEEK_DATA or SEEK_HOLE (the kernel answers the others
 * itself): the holes of the value this open file sees, from the file
 * behind it where the backend lends one (the local backend), else the
 * whole value is data, as the kernel would say on its own.
 */
void kvfs_fs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		   struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *h = handle_of(fi);
	struct fs_inode *inode = h->inode;
	off_t res = -1;
	uint64_t size;
	int err = 0, fd;

	(void)ino;
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	pthread_mutex_lock(&inode->lock);
	if (!h->writer)
		err = ensure_reader(fs, h);
	size = kvfs_fs_handle_view(h);
	fd = err ? -1 : value_fd(fs, h);
	if (fd >= 0) {
		res = lseek(fd, off, whence);
		if (res < 0)
			err = errno;
		close(fd);
	} else if (!err && (off < 0 || (uint64_t)off >= size)) {
		err = ENXIO;
	} else if (!err) {
		res = whence == SEEK_DATA ? off : (off_t)size;
	}
	pthread_mutex_unlock(&inode->lock);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_lseek(req, res);
}
