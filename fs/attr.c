/*
 * attr.c - what stat(2) shows of a node, and for whom: the size each open
 * file sees (its writer's, its snapshot's), whose size an attribute reply
 * carries (cache_policy.c decides, from facts gathered here), the
 * attributes of files not yet in the store, and lookups of names. The
 * operations that reply to the kernel are in ops.c and file.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvfs_fs.h"

bool kvfs_fs_handle_size(struct fs_handle *h, uint64_t *size)
{
	/* The kernel keeps one size per inode: show a handle's own view only
	 * when no reader using the page cache would be misled by it. */
	for (struct fs_handle *o = h->inode->handles; o; o = o->next)
		if (o != h && o->cached)
			return false;
	if (h->writer) {
		*size = kvfs_writer_size(h->writer);
		return true;
	}
	if (h->reader && h->gen != h->inode->data_gen) {
		*size = kvfs_reader_size(h->reader);
		return true;
	}
	if (!h->reader && !h->need_reader && h->empty_base) {
		*size = 0; /* O_TRUNC, nothing written yet */
		return true;
	}
	return false;
}

struct fs_handle *kvfs_fs_size_owner(struct fs_inode *inode)
{
	struct fs_handle *lone = NULL;
	unsigned writing = 0;

	/* A page writer had the file to itself at open; every file opened
	 * since uses direct I/O (attach), so there is at most one. Until
	 * it writes (or truncated at open) its view is a snapshot, and
	 * others may have published since: no owner then. */
	for (struct fs_handle *h = inode->handles; h; h = h->next) {
		if (!h->writer && !h->commit_pending)
			continue;
		if (h->page_writer)
			return h;
		lone = h;
		writing++;
	}
	/* A writer using direct I/O that is the only one writing: fstat
	 * comes without a handle, and a program that wrote must see the
	 * size it made (SQLite reads its journal's size that way before a
	 * rollback). Of two such writers neither is the file's. */
	return writing == 1 ? lone : NULL;
}

uint64_t kvfs_fs_handle_view(struct fs_handle *h)
{
	if (h->writer)
		return kvfs_writer_size(h->writer);
	return h->reader ? kvfs_reader_size(h->reader) : 0;
}

void kvfs_fs_attr_reply(struct fs_inode *inode)
{
	pthread_mutex_lock(&inode->lock);
	inode->size_events++;
	pthread_mutex_unlock(&inode->lock);
}

/*
 * What the store knows, as stat(2) shows it (fs/README.md, "Attributes"):
 * what the backend does not say (kvfs_stat.valid) gets a default - the
 * mode 0755 or 0644, atime and ctime the mtime, the blocks the size
 * rounded up, a directory's link count 1 ("unknown" to find(1), where
 * 2 would claim it had no subdirectories).
 */
static void fill_stat(struct fs *fs, struct fs_inode *inode,
		      const struct kvfs_stat *ks, struct stat *st)
{
	bool dir = ks->kind == KVFS_KIND_DIR;
	uint32_t mode = ks->mode;

	if (!mode && !(ks->valid & KVFS_STAT_MODE))
		mode = dir ? 0755 : 0644;
	memset(st, 0, sizeof(*st));
	st->st_ino = inode->ino;
	st->st_mode = (dir ? S_IFDIR : S_IFREG) | (mode & KVFS_MODE_KEPT);
	st->st_nlink = 1;
	if (dir && (ks->valid & KVFS_STAT_NLINK))
		st->st_nlink = ks->nlink;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)ks->size;
	st->st_blksize = 4096;
	st->st_blocks = (ks->valid & KVFS_STAT_BLOCKS)
		? (blkcnt_t)ks->blocks : (blkcnt_t)((ks->size + 511) / 512);
	st->st_mtim = ks->mtime;
	st->st_atim = (ks->valid & KVFS_STAT_ATIME) ? ks->atime : ks->mtime;
	st->st_ctim = (ks->valid & KVFS_STAT_CTIME) ? ks->ctime : ks->mtime;
}

/* The attributes of a file created here and not yet published (empty,
 * its mode from create), into ks; false when inode is not pending. */
static bool pending_stat(struct fs_inode *inode, struct kvfs_stat *ks)
{
	bool pending;

	pthread_mutex_lock(&inode->lock);
	pending = inode->pending;
	if (pending) {
		memset(ks, 0, sizeof(*ks));
		ks->kind = KVFS_KIND_FILE;
		ks->mode = inode->pending_mode;
		ks->valid = KVFS_STAT_MODE | KVFS_STAT_ATIME | KVFS_STAT_CTIME;
		clock_gettime(CLOCK_REALTIME, &ks->mtime);
		ks->atime = ks->ctime = ks->mtime;
		if (inode->has_mtime_override)
			ks->mtime = inode->mtime_override;
		if (inode->has_atime_override)
			ks->atime = inode->atime_override;
	}
	pthread_mutex_unlock(&inode->lock);
	return pending;
}

static int getattr_locked(struct fs *fs, struct fs_inode *inode,
			  struct fuse_file_info *fi, struct stat *st,
			  bool *own_view);

/* The facts kvfs_policy_attr decides from, for an attribute reply about
 * inode asked through asker (or NULL), whose size owner is owner (or
 * NULL). Caller holds inode->lock. */
static struct attr_facts attr_facts_of(const struct fs_inode *inode,
				       struct fs_handle *asker,
				       struct fs_handle *owner,
				       uint64_t *asker_size,
				       uint64_t *owner_size)
{
	const struct fs_handle *only = inode->handles;
	struct attr_facts f = { 0 };

	f.asker_view = asker && asker != owner &&
		       kvfs_fs_handle_size(asker, asker_size);
	f.owner_view = owner && kvfs_fs_handle_size(owner, owner_size);
	f.open = !only ? 0 : only->next ? 2 : 1;
	f.only_asker = f.open == 1 && only == asker;
	f.only_current = f.open == 1 && !only->writer &&
			 !only->commit_pending && only->gen == inode->data_gen;
	return f;
}

/* Under ns_lock, so that no rename or unlink moves the name between the
 * look at the inode and the look at the store: a reply about a node
 * describes that node's value, never the value of whatever has its name
 * now (the kernel would take that size for the node's own). */
int kvfs_fs_getattr_of(struct fs *fs, struct fs_inode *inode,
		       struct fuse_file_info *fi, struct stat *st,
		       bool *own_view)
{
	int err;

	pthread_rwlock_rdlock(&fs->ns_lock);
	err = getattr_locked(fs, inode, fi, st, own_view);
	pthread_rwlock_unlock(&fs->ns_lock);
	return err;
}

static int getattr_locked(struct fs *fs, struct fs_inode *inode,
			  struct fuse_file_info *fi, struct stat *st,
			  bool *own_view)
{
	struct fs_handle *asker =
		fi ? (struct fs_handle *)(uintptr_t)fi->fh : NULL;
	struct fs_handle *h;
	char key[KVFS_KEY_MAX + 1];
	struct kvfs_stat ks = { 0 };
	uint64_t hsize = 0;
	bool unlinked, own = false, writing = false;
	int rc;

	pthread_mutex_lock(&fs->table_lock);
	unlinked = inode->unlinked;
	pthread_mutex_unlock(&fs->table_lock);
	if (own_view)
		*own_view = false;
	if (!inode->is_dir) {
		/* Whose size, and whether the reply may move the kernel's
		 * (cache_policy.c): counted before the store is read, so
		 * that a publish after that read sees it. */
		struct fs_handle *owner;
		struct attr_facts f;
		struct attr_choice c;
		uint64_t asker_size = 0, owner_size = 0;

		pthread_mutex_lock(&inode->lock);
		owner = kvfs_fs_size_owner(inode);
		f = attr_facts_of(inode, asker, owner, &asker_size,
				  &owner_size);
		c = kvfs_policy_attr(&f);
		own = c.size != ATTR_SIZE_STORED;
		h = c.size == ATTR_SIZE_ASKER ? asker : owner;
		hsize = c.size == ATTR_SIZE_ASKER ? asker_size : owner_size;
		if (c.size == ATTR_SIZE_ASKER && own_view)
			*own_view = true; /* not the kernel's to keep */
		writing = own && h->writer;
		if (c.moves_size)
			inode->size_events++;
		pthread_mutex_unlock(&inode->lock);
	}
	if (!unlinked && !inode->is_dir && pending_stat(inode, &ks)) {
		/* Empty unless this open file has written. */
		ks.size = own ? hsize : 0;
		fill_stat(fs, inode, &ks, st);
		return 0;
	}
	if (unlinked) {
		/* Only open handles still know this object: show their value
		 * (fstat comes without a handle), or a page-cache reader would
		 * take the size for its end of file. */
		ks.kind = inode->is_dir ? KVFS_KIND_DIR : KVFS_KIND_FILE;
		clock_gettime(CLOCK_REALTIME, &ks.mtime);
		ks.valid = KVFS_STAT_CTIME;
		ks.ctime = ks.mtime;
		if (!inode->is_dir) {
			pthread_mutex_lock(&inode->lock);
			/* A page-cache reader's or writer's view first,
			 * even when another handle asks: the kernel would
			 * cut or pad their pages at any other size. */
			h = kvfs_fs_size_owner(inode);
			for (struct fs_handle *o = inode->handles; o && !h;
			     o = o->next)
				if (o->cached)
					h = o;
			if (!h)
				h = asker ? asker : inode->handles;
			if (h)
				ks.size = kvfs_fs_handle_view(h);
			pthread_mutex_unlock(&inode->lock);
		}
		fill_stat(fs, inode, &ks, st);
		st->st_nlink = 0;
		return 0;
	}
	rc = kvfs_fs_key(fs, inode, NULL, key);
	if (rc)
		return rc;
	rc = kvfs_store_stat(fs->store, key, kvfs_fs_level(fs, inode), &ks);
	if (rc)
		return kvfs_fs_errno(fs, rc, key);
	if ((ks.kind == KVFS_KIND_DIR) != inode->is_dir)
		return ESTALE; /* another client made it a file, or a
				* directory: the kernel looks it up anew */
	pthread_mutex_lock(&inode->lock);
	if (own && hsize != ks.size) {
		/* This open file's view (close-to-open); the kernel keeps one
		 * size per inode, so others must fetch theirs again. */
		ks.size = hsize;
		inode->size_suspect = true;
	}
	if (own)
		ks.valid &= ~KVFS_STAT_BLOCKS; /* the stored value's */
	if (writing) {
		/* Unpublished writes: changed now, as far as stat knows. */
		clock_gettime(CLOCK_REALTIME, &ks.mtime);
		ks.ctime = ks.mtime;
	}
	if (inode->has_mtime_override)
		ks.mtime = inode->mtime_override;
	if (inode->has_atime_override) {
		ks.atime = inode->atime_override;
		ks.valid |= KVFS_STAT_ATIME;
	}
	pthread_mutex_unlock(&inode->lock);
	fill_stat(fs, inode, &ks, st);
	return 0;
}

/*
 * The last lookup that failed because the store did not answer. The
 * kernel answers a failed revalidation of a cached name by looking it up
 * again at once; that second lookup gets the same answer without another
 * wait for the timeout, so a strong open fails within one timeout.
 */
#define LOOKUP_RETRY_MS 300
static struct {
	pthread_mutex_t lock;
	fuse_ino_t parent;
	char name[256];
	int err;
	struct timespec at;
} failed_lookup = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - t->tv_sec) * 1000u +
	       (uint64_t)((now.tv_nsec - t->tv_nsec) / 1000000);
}

static int lookup_failed_just_now(fuse_ino_t parent, const char *name)
{
	int err = 0;

	pthread_mutex_lock(&failed_lookup.lock);
	if (failed_lookup.err && failed_lookup.parent == parent &&
	    !strcmp(failed_lookup.name, name) &&
	    ms_since(&failed_lookup.at) < LOOKUP_RETRY_MS) {
		err = failed_lookup.err;
		failed_lookup.err = 0; /* once */
	}
	pthread_mutex_unlock(&failed_lookup.lock);
	return err;
}

static int lookup_failed(fuse_ino_t parent, const char *name, int err)
{
	if ((err == ETIMEDOUT || err == EIO) && strlen(name) < 256) {
		pthread_mutex_lock(&failed_lookup.lock);
		failed_lookup.parent = parent;
		strcpy(failed_lookup.name, name);
		failed_lookup.err = err;
		clock_gettime(CLOCK_MONOTONIC, &failed_lookup.at);
		pthread_mutex_unlock(&failed_lookup.lock);
	}
	return err;
}

static int lookup_locked(struct fs *fs, struct fs_inode *parent,
			 const char *name, struct fuse_entry_param *e);

/* Under ns_lock, as kvfs_fs_getattr_of: the node found for the name is
 * the one whose value was looked at. */
int kvfs_fs_do_lookup(struct fs *fs, struct fs_inode *parent,
		      const char *name, struct fuse_entry_param *e)
{
	int err;

	pthread_rwlock_rdlock(&fs->ns_lock);
	err = lookup_locked(fs, parent, name, e);
	pthread_rwlock_unlock(&fs->ns_lock);
	return err;
}

static int lookup_locked(struct fs *fs, struct fs_inode *parent,
			 const char *name, struct fuse_entry_param *e)
{
	char key[KVFS_KEY_MAX + 1];
	struct kvfs_stat ks;
	struct fs_inode *inode;
	enum kvfs_consistency level;
	uint64_t gen = kvfs_fs_level_gen(fs);
	int rc;

	rc = kvfs_key_check_name(name);
	if (rc)
		return kvfs_fs_errno(fs, rc, name);
	rc = kvfs_fs_key(fs, parent, name, key);
	if (rc)
		return rc;
	rc = lookup_failed_just_now(parent->ino, name);
	if (rc)
		return rc;
	inode = kvfs_fs_inode_find(fs, parent, name);
	if (inode) {
		kvfs_fs_attr_reply(inode);
		rc = kvfs_fs_level_get(fs, inode, &level);
		kvfs_fs_inode_put(fs, inode);
	} else {
		rc = kvfs_fs_level_of_name_get(fs, parent, name, &level);
	}
	if (rc)
		return lookup_failed(parent->ino, name, rc);
	rc = kvfs_store_stat(fs->store, key, level, &ks);
	if (rc == KVFS_ENOTFOUND &&
	    __atomic_load_n(&fs->pending_total, __ATOMIC_ACQUIRE)) {
		/* Created here and not yet published: it exists for this
		 * mount, empty, and reaches the store with its first publish
		 * (file.c), not with somebody's look at it. */
		inode = kvfs_fs_inode_find(fs, parent, name);
		if (inode && pending_stat(inode, &ks))
			rc = 0;
		kvfs_fs_inode_put(fs, inode);
	}
	if (rc)
		return lookup_failed(parent->ino, name,
				     kvfs_fs_errno(fs, rc, key));
	inode = kvfs_fs_inode_get(fs, parent, name, ks.kind == KVFS_KIND_DIR);
	if (!inode)
		return ENOMEM;
	kvfs_fs_level_prime(fs, inode, level, gen);
	if (ks.kind != KVFS_KIND_DIR) {
		/* A writer through the page cache owns the kernel's size
		 * (kvfs_fs_size_owner), in entries too. */
		struct fs_handle *owner;
		uint64_t size;

		pthread_mutex_lock(&inode->lock);
		owner = kvfs_fs_size_owner(inode);
		if (owner && kvfs_fs_handle_size(owner, &size))
			ks.size = size;
		clock_gettime(CLOCK_MONOTONIC, &inode->looked_up);
		pthread_mutex_unlock(&inode->lock);
	}
	memset(e, 0, sizeof(*e));
	e->ino = inode->ino;
	fill_stat(fs, inode, &ks, &e->attr);
	e->attr_timeout = kvfs_fs_timeout(fs, inode);
	e->entry_timeout = kvfs_fs_entry_timeout(fs);
	return 0;
}

