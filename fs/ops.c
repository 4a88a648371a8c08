/*
 * ops.c - the namespace operations of the daemon: lookup, forget,
 * getattr/setattr, mkdir, rmdir, unlink, rename, directory listing,
 * statfs, and the refusals for what a key-value store cannot mean (hard
 * links, symlinks, device nodes). File I/O is in file.c, xattrs in xattr.c,
 * what a stat shows and lookups of names in attr.c.
 * Every operation replies once, at its end, with a positive errno or data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <time.h>

#include "kvfs_fs.h"

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent,
			    const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	int err = kvfs_fs_do_lookup(fs, kvfs_fs_inode(fs, parent), name, &e);

	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = fs_of(req);

	kvfs_fs_inode_forget(fs, kvfs_fs_inode(fs, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct fs *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		kvfs_fs_inode_forget(fs, kvfs_fs_inode(fs, forgets[i].ino),
				     forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *inode = kvfs_fs_inode(fs, ino);
	struct stat st;
	bool own_view, cached = false;
	int err = ino == FUSE_ROOT_ID
		? kvfs_fs_root_getattr(fs, inode, fi, &st, &own_view, &cached)
		: kvfs_fs_getattr_of(fs, inode, fi, &st, &own_view);

	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, own_view || cached
				? 0 : kvfs_fs_timeout(fs, inode));
}

/* utimens: set the stored times (KVFS_ATTR_MTIME, KVFS_ATTR_ATIME in
 * fields; times[0] the mtime, times[1] the atime); while the file is
 * open for writing, remember them so that a later publish keeps them (cp
 * -p sets times before it closes the copy). */
static int set_times(struct fs *fs, struct fs_inode *inode, const char *key,
		     enum kvfs_consistency level, unsigned int fields,
		     const struct timespec times[2])
{
	bool writing = false;
	int rc;

	pthread_mutex_lock(&inode->lock);
	for (struct fs_handle *h = inode->handles; h; h = h->next)
		if ((h->flags & O_ACCMODE) != O_RDONLY)
			writing = true;
	if (writing && (fields & KVFS_ATTR_MTIME)) {
		inode->has_mtime_override = true;
		inode->mtime_override = times[0];
	}
	if (writing && (fields & KVFS_ATTR_ATIME)) {
		inode->has_atime_override = true;
		inode->atime_override = times[1];
	}
	pthread_mutex_unlock(&inode->lock);
	rc = kvfs_store_set_attr(fs->store, key, fields, 0, times, level);
	return kvfs_fs_errno(fs, rc, key);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino,
			     struct stat *attr, int to_set,
			     struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *inode = kvfs_fs_inode(fs, ino);
	char key[KVFS_KEY_MAX + 1];
	enum kvfs_consistency level = kvfs_fs_level(fs, inode);
	struct stat st;
	bool own_view = false;
	int err = 0;

	/* Owners are not stored: accept only what changes nothing. */
	if (((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != fs->uid) ||
	    ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != fs->gid)) {
		err = EPERM;
		goto out;
	}
	/* A file created here and not yet published keeps a new mode and
	 * mtime for its first publish (cp -p, install -m set them on the
	 * open copy), and is truncated through its open file: its name
	 * reaches the store with its contents, never empty first. */
	if ((fi || !(to_set & FUSE_SET_ATTR_SIZE)) &&
	    kvfs_fs_pending_set_attr(inode, to_set, attr)) {
		if (to_set & FUSE_SET_ATTR_SIZE)
			err = kvfs_fs_truncate(fs, inode, fi,
					       (uint64_t)attr->st_size);
		if (!err)
			err = kvfs_fs_getattr_of(fs, inode, fi, &st, &own_view);
		goto out;
	}
	err = kvfs_fs_stored_key(fs, inode, key);
	if (err)
		goto out;
	if (to_set & FUSE_SET_ATTR_MODE) {
		err = kvfs_fs_errno(fs, kvfs_store_set_attr(fs->store, key,
				KVFS_ATTR_MODE, attr->st_mode & KVFS_MODE_KEPT,
				NULL, level), key);
		if (err)
			goto out;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		err = kvfs_fs_truncate(fs, inode, fi, (uint64_t)attr->st_size);
		if (err)
			goto out;
	}
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW |
		      FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
		struct timespec now, times[2] = { attr->st_mtim, attr->st_atim };
		unsigned int fields = 0;

		clock_gettime(CLOCK_REALTIME, &now);
		if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
			fields |= KVFS_ATTR_MTIME;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			times[0] = now;
		if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW))
			fields |= KVFS_ATTR_ATIME;
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			times[1] = now;
		err = set_times(fs, inode, key, level, fields, times);
		if (err)
			goto out;
	}
	err = kvfs_fs_getattr_of(fs, inode, fi, &st, &own_view);
out:
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st,
				own_view ? 0 : kvfs_fs_timeout(fs, inode));
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent_ino,
			   const char *name, mode_t mode)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *parent = kvfs_fs_inode(fs, parent_ino);
	char key[KVFS_KEY_MAX + 1];
	struct fuse_entry_param e;
	int err;

	err = kvfs_fs_errno(fs, kvfs_key_check_name(name), name);
	if (!err)
		err = kvfs_fs_key(fs, parent, name, key);
	if (!err) {
		enum kvfs_consistency level =
			kvfs_fs_level_new_child(fs, parent, name);

		err = kvfs_fs_errno(fs, kvfs_store_mkdir(fs->store, key,
				mode & KVFS_MODE_KEPT, level), key);
		/* Mode 0 asks mkdir for the backend's default. */
		if (!err && !(mode & KVFS_MODE_KEPT))
			err = kvfs_fs_errno(fs, kvfs_store_set_attr(fs->store,
					key, KVFS_ATTR_MODE, 0, NULL, level),
					key);
	}
	if (!err)
		err = kvfs_fs_do_lookup(fs, parent, name, &e);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

/* Level of parent/name for an operation on it: from its inode when the
 * kernel looked it up, else from the store. Holds *inode if found. */
static enum kvfs_consistency level_of_child(struct fs *fs,
					    struct fs_inode *parent,
					    const char *name,
					    struct fs_inode **inode)
{
	*inode = kvfs_fs_inode_find(fs, parent, name);
	if (*inode)
		return kvfs_fs_level(fs, *inode);
	return kvfs_fs_level_of_name(fs, parent, name);
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent_ino,
			 const char *name, bool dir)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *parent = kvfs_fs_inode(fs, parent_ino), *victim;
	char key[KVFS_KEY_MAX + 1];
	enum kvfs_consistency level;
	int err, rc;

	err = kvfs_fs_key(fs, parent, name, key);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	level = level_of_child(fs, parent, name, &victim);
	pthread_rwlock_wrlock(&fs->ns_lock);
	/* A file created here and never published (a temporary file
	 * removed while open) goes without a word to the store. */
	if (dir) {
		rc = kvfs_store_rmdir(fs->store, key, level);
	} else if (victim && kvfs_fs_drop_pending(fs, victim)) {
		rc = 0;
	} else {
		if (victim)
			kvfs_fs_keep_snapshots(fs, victim, false);
		rc = kvfs_store_delete(fs->store, key, level);
	}
	err = kvfs_fs_errno(fs, rc, key);
	if (!err && victim)
		kvfs_fs_inode_unhash(fs, victim);
	if (!err)
		kvfs_fs_locks_removed(fs, key);
	pthread_rwlock_unlock(&fs->ns_lock);
	kvfs_fs_inode_put(fs, victim);
	fuse_reply_err(req, err);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, false);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, true);
}

static bool is_dirty_below(const struct fs_inode *inode, void *dir)
{
	return __atomic_load_n(&inode->dirty, __ATOMIC_ACQUIRE) &&
	       kvfs_fs_inode_is_below(inode, dir);
}

/* Publish what open handles below `src` have written, so that no writer
 * is left bound to a key that the rename retires. Caller holds ns_lock
 * exclusively. */
static int commit_below(struct fs *fs, struct fs_inode *src)
{
	struct fs_inode **found = NULL;
	size_t count;
	int err = 0;

	if (!__atomic_load_n(&fs->dirty_total, __ATOMIC_ACQUIRE))
		return 0;
	count = kvfs_fs_inode_collect(fs, is_dirty_below, src, &found);
	for (size_t i = 0; i < count; i++) {
		pthread_mutex_lock(&found[i]->lock);
		if (!err)
			err = kvfs_fs_commit_inode(fs, found[i]);
		pthread_mutex_unlock(&found[i]->lock);
		kvfs_fs_inode_put(fs, found[i]);
	}
	free(found);
	return err;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent_ino, const char *name,
		      fuse_ino_t newparent_ino, const char *newname,
		      unsigned int flags)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *parent = kvfs_fs_inode(fs, parent_ino);
	struct fs_inode *newparent = kvfs_fs_inode(fs, newparent_ino);
	struct fs_inode *src = NULL, *dst = NULL;
	struct kvfs_reader *replaced = NULL;
	char from[KVFS_KEY_MAX + 1], to[KVFS_KEY_MAX + 1];
	enum kvfs_consistency level;
	bool dst_pending;
	int err;

	/* RENAME_EXCHANGE cannot be atomic on a key-value store. */
	if (flags & ~(unsigned int)RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	err = kvfs_fs_errno(fs, kvfs_key_check_name(newname), newname);
	if (!err)
		err = kvfs_fs_key(fs, parent, name, from);
	if (!err)
		err = kvfs_fs_key(fs, newparent, newname, to);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	level = level_of_child(fs, parent, name, &src);
	dst = kvfs_fs_inode_find(fs, newparent, newname);
	if (src)
		kvfs_fs_materialize(fs, src);
	if (dst == src) {
		kvfs_fs_inode_put(fs, dst);
		dst = NULL;
	}
	pthread_rwlock_wrlock(&fs->ns_lock);
	/* A destination created here and never published exists for this
	 * mount only: it is replaced without a word to the store, but it is
	 * there for RENAME_NOREPLACE. */
	dst_pending = dst && kvfs_fs_is_pending(fs, dst);
	if (dst_pending && (flags & RENAME_NOREPLACE))
		err = EEXIST;
	if (!err && src)
		err = commit_below(fs, src);
	if (!err && dst && !dst_pending && !dst->is_dir)
		replaced = kvfs_fs_keep_snapshots(fs, dst, true);
	if (!err)
		err = kvfs_fs_errno(fs, kvfs_store_rename(fs->store, from, to,
				(flags & RENAME_NOREPLACE) ?
				KVFS_RENAME_NOREPLACE : 0, level), from);
	if (!err) {
		if (dst) {
			if (dst_pending)
				kvfs_fs_drop_pending(fs, dst);
			kvfs_fs_retire(dst, replaced);
			replaced = NULL;
			kvfs_fs_inode_unhash(fs, dst);
		}
		if (src)
			err = kvfs_fs_inode_move(fs, src, newparent, newname);
		kvfs_fs_locks_renamed(fs, from, to);
		kvfs_fs_level_changed(fs, src);
	}
	pthread_rwlock_unlock(&fs->ns_lock);
	kvfs_reader_close(replaced);
	kvfs_fs_inode_put(fs, src);
	kvfs_fs_inode_put(fs, dst);
	fuse_reply_err(req, err);
}

/* What a key-value store cannot mean. */
static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	fuse_reply_err(req, EPERM);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	fuse_reply_err(req, EPERM);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	fuse_reply_err(req, EINVAL);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent_ino,
			   const char *name, mode_t mode, dev_t rdev)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *parent = kvfs_fs_inode(fs, parent_ino);
	char key[KVFS_KEY_MAX + 1];
	struct fuse_entry_param e;
	struct kvfs_stat ks;
	enum kvfs_consistency level;
	int err;

	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	err = kvfs_fs_errno(fs, kvfs_key_check_name(name), name);
	if (!err)
		err = kvfs_fs_key(fs, parent, name, key);
	if (err)
		goto out;
	level = kvfs_fs_level_new_child(fs, parent, name);
	if (kvfs_store_stat(fs->store, key, level, &ks) == 0) {
		err = EEXIST;
		goto out;
	}
	err = kvfs_fs_errno(fs, kvfs_store_put(fs->store, key, "", 0, level),
			    key);
	if (!err && (mode & KVFS_MODE_KEPT) != 0644)
		err = kvfs_fs_errno(fs, kvfs_store_set_attr(fs->store, key,
				KVFS_ATTR_MODE, mode & KVFS_MODE_KEPT, NULL,
				level), key);
	if (!err)
		err = kvfs_fs_do_lookup(fs, parent, name, &e);
out:
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct kvfs_space sp = { 0 };
	struct statvfs sv;
	int rc = kvfs_store_space(fs->store, &sp);

	memset(&sv, 0, sizeof(sv));
	if (rc && rc != KVFS_ENOTSUPPORTED) {
		fuse_reply_err(req, kvfs_fs_errno(fs, rc, "statfs"));
		return;
	}
	sv.f_bsize = sv.f_frsize = sp.block_size ? sp.block_size : 4096;
	sv.f_blocks = sp.blocks;
	sv.f_bfree = sv.f_bavail = sp.blocks_free;
	sv.f_files = sp.files;
	sv.f_ffree = sv.f_favail = sp.files_free;
	if (sp.valid & KVFS_SPACE_AVAIL) {
		/* df's "used" is blocks - bfree, its "available" bavail. */
		sv.f_bavail = sp.blocks_avail;
		sv.f_favail = sp.files_avail;
	}
	sv.f_namemax = KVFS_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/* ------------------------------------------------------------ listing */

/* An open directory: the listing, taken when the kernel first reads it
 * (a directory whose listing the kernel has cached is never read). */
struct fs_dir {
	pthread_mutex_t lock; /* guards the fields below; taken before
	                         any lock of kvfs_fs.h */
	bool listed;
	struct kvfs_dirent *ents;
	size_t count, cap;
};

/* Room for one more entry in d; false when out of memory. */
static bool dir_room(struct fs_dir *d)
{
	size_t cap = d->cap ? d->cap * 2 : 64;
	struct kvfs_dirent *grown;

	if (d->count < d->cap)
		return true;
	grown = realloc(d->ents, cap * sizeof(*grown));
	if (!grown)
		return false;
	d->ents = grown;
	d->cap = cap;
	return true;
}

static bool is_pending_child(const struct fs_inode *inode, void *dir)
{
	/* pending is read without inode->lock here: a stale answer adds or
	 * skips a name created or published just as the listing is taken,
	 * which either listing order allows. A node whose name is gone
	 * (moved away for a writer) has no name to list. */
	return inode->parent == dir && inode->hashed &&
	       __atomic_load_n(&inode->pending, __ATOMIC_RELAXED);
}

/* Add to d the files created in inode here and not yet published: they
 * exist for this mount, but not yet in the store. Positive errno. */
static int add_pending(struct fs *fs, struct fs_inode *dir, struct fs_dir *d)
{
	struct fs_inode **found = NULL;
	size_t count, listed = d->count;
	int err = 0;

	if (!__atomic_load_n(&fs->pending_total, __ATOMIC_ACQUIRE))
		return 0;
	count = kvfs_fs_inode_collect(fs, is_pending_child, dir, &found);
	for (size_t i = 0; i < count; i++) {
		bool seen = false;

		/* Published meanwhile, and so listed already? */
		pthread_mutex_lock(&fs->table_lock);
		for (size_t j = 0; j < listed && !seen; j++)
			seen = !strcmp(d->ents[j].name, found[i]->name);
		if (!seen && !err && strlen(found[i]->name) <= KVFS_NAME_MAX &&
		    dir_room(d)) {
			strcpy(d->ents[d->count].name, found[i]->name);
			d->ents[d->count++].kind = KVFS_KIND_FILE;
		} else if (!seen && !err) {
			err = ENOMEM;
		}
		pthread_mutex_unlock(&fs->table_lock);
		kvfs_fs_inode_put(fs, found[i]);
	}
	free(found);
	return err;
}

/* Take the listing of inode into d. Positive errno. Caller holds d->lock. */
static int list_dir(struct fs *fs, struct fs_inode *inode, struct fs_dir *d)
{
	char key[KVFS_KEY_MAX + 1];
	struct kvfs_lister *lister = NULL;
	int err, rc;

	free(d->ents);
	d->ents = NULL;
	d->count = d->cap = 0;
	err = kvfs_fs_key(fs, inode, NULL, key);
	if (err)
		return err;
	rc = kvfs_store_list(fs->store, key, kvfs_fs_level(fs, inode),
			     &lister);
	err = kvfs_fs_errno(fs, rc, key);
	if (err)
		return err;
	for (;;) {
		if (!dir_room(d)) {
			err = ENOMEM;
			goto out_close;
		}
		rc = kvfs_lister_next(lister, &d->ents[d->count]);
		if (rc == 0)
			break;
		if (rc < 0) {
			err = kvfs_fs_errno(fs, rc, key);
			goto out_close;
		}
		d->count++;
	}
	err = add_pending(fs, inode, d);
	d->listed = !err;
out_close:
	kvfs_lister_close(lister);
	return err;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_dir *d;

	/* Where others write, the kernel keeps names: the directory may be
	 * gone or a file by now. ESTALE (from getattr, or for a key gone)
	 * has the kernel look the name up again and open what it finds. */
	if (!fs->exclusive && ino != FUSE_ROOT_ID) {
		struct stat st;
		int err = kvfs_fs_getattr_of(fs, kvfs_fs_inode(fs, ino), NULL,
					     &st, NULL);

		if (err) {
			fuse_reply_err(req, err == ENOENT ? ESTALE : err);
			return;
		}
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&d->lock, NULL);
	fi->fh = (uint64_t)(uintptr_t)d;
	fi->cache_readdir = fs->exclusive;
	fi->keep_cache = fs->exclusive;
	fuse_reply_open(req, fi);
}

/* d_ino of a plain readdir entry: the node id when the kernel knows the
 * child, else any stable non-zero number (0 would hide the entry). */
static ino_t entry_ino(struct fs *fs, struct fs_inode *dir, const char *name)
{
	struct fs_inode *child = kvfs_fs_inode_find(fs, dir, name);
	uint64_t h = 1469598103934665603ull;

	if (child) {
		h = child->ino;
		kvfs_fs_inode_put(fs, child);
		return (ino_t)h;
	}
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (ino_t)(h | 1);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi, bool plus)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *inode = kvfs_fs_inode(fs, ino);
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;
	char *buf = malloc(size), *p = buf;
	size_t left = size;
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&d->lock);
	/* A listing from the start (the first read, or a rewinddir)
	 * takes a fresh snapshot. */
	if (!d->listed || off == 0)
		err = list_dir(fs, inode, d);
	if (err) {
		pthread_mutex_unlock(&d->lock);
		free(buf);
		fuse_reply_err(req, err);
		return;
	}
	for (size_t i = (size_t)off; i < d->count + 2; i++) {
		struct fuse_entry_param e;
		const char *name;
		size_t n;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			name = i == 0 ? "." : "..";
			e.attr.st_ino = i == 0 ? ino : FUSE_ROOT_ID;
			e.attr.st_mode = S_IFDIR;
		} else {
			name = d->ents[i - 2].name;
			e.attr.st_mode =
				d->ents[i - 2].kind == KVFS_KIND_DIR ? S_IFDIR
								     : S_IFREG;
			if (!plus || !fs->exclusive)
				e.attr.st_ino = entry_ino(fs, inode, name);
		}
		if (!plus) {
			n = fuse_add_direntry(req, p, left, name, &e.attr,
					      (off_t)i + 1);
			if (n > left)
				break;
		} else {
			/* Measure first: a lookup is counted only for an
			 * entry that fits. */
			if (fuse_add_direntry_plus(req, NULL, 0, name, &e,
						   0) > left)
				break;
			/* Where another mount can write, attributes are
			 * read when a program asks for them (a name of
			 * READDIRPLUS without a node, e.ino 0, costs no
			 * request): `ls` and `find` then cost the listing,
			 * not a read per name. */
			if (i >= 2 && fs->exclusive &&
			    kvfs_fs_do_lookup(fs, inode, name, &e))
				continue; /* vanished since opendir */
			n = fuse_add_direntry_plus(req, p, left, name, &e,
						   (off_t)i + 1);
		}
		p += n;
		left -= n;
	}
	pthread_mutex_unlock(&d->lock);
	fuse_reply_buf(req, buf, size - left);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;

	pthread_mutex_destroy(&d->lock);
	free(d->ents);
	free(d);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0); /* directory changes are published at once */
}

/* ------------------------------------------------------------ session */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;
	size_t splice_max;

	/* O_TRUNC must reach open: the truncating setattr the kernel sends
	 * otherwise carries no file handle, so it could not be kept private
	 * to the handle until close. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want &= ~FUSE_CAP_EXPORT_SUPPORT;
	/* Writeback caching lets the kernel own sizes and times; only
	 * where this daemon is the store's only writer. */
	if (fs->exclusive && fs->cfg.writeback && !fs->cfg.no_writeback &&
	    (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* Values pushed into the page cache are spliced from the
	 * backend's file where it lends one (KVFS_CTL_READER_FD). */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	/* Pages are kept or dropped at open by kvfs (keep_cache), never
	 * on a changed mtime the kernel happens to notice. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* Writes of up to 1 MiB, or of what kvfs's loop can splice (half
	 * a pipe: loop.c); unless -o max_write= says otherwise. */
	splice_max = kvfs_fs_loop_splice_max();
	conn->max_write = splice_max && splice_max < (1u << 20)
				  ? (unsigned int)splice_max
				  : 1u << 20;
	conn->max_readahead = 1u << 20;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	if (fs->conn_opts)
		fuse_apply_conn_info_opts(fs->conn_opts, conn);
	/* -o splice_read: libfuse cannot splice requests through kvfs's
	 * session hooks (session_io.c); its loop reads them instead. */
	conn->want &= ~(FUSE_CAP_SPLICE_READ & ~conn->capable);
	kvfs_fs_loop_splice_writes(conn->max_write);
}

const struct fuse_lowlevel_ops kvfs_fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = kvfs_fs_open,
	.read = kvfs_fs_read,
	.write_buf = kvfs_fs_write_buf,
	.flush = kvfs_fs_flush,
	.release = kvfs_fs_release,
	.fsync = kvfs_fs_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = kvfs_fs_setxattr,
	.getxattr = kvfs_fs_getxattr,
	.listxattr = kvfs_fs_listxattr,
	.removexattr = kvfs_fs_removexattr,
	.create = kvfs_fs_create,
	.lseek = kvfs_fs_lseek,
	.getlk = kvfs_fs_getlk,
	.setlk = kvfs_fs_setlk,
	.flock = kvfs_fs_flock,
};
