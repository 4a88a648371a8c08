/*
 * inode.c - the inode table: node ids the kernel knows, mapped to inode
 * objects that remember their parent and name. Keys are built from the
 * parent chain on demand, so renaming a directory changes one pointer and
 * names close to PATH_MAX need no path rebuilding by the kernel.
 *
 * A node id is the inode's address (the root is FUSE_ROOT_ID). An inode
 * lives while the kernel has lookups on it (dropped by forget) or anything
 * holds a reference: each child in the table holds its parent, open
 * handles and in-flight operations hold what they use. All fields named
 * "table_lock" in kvfs_fs.h are guarded by fs->table_lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvfs_fs.h"

static size_t hash_of(const struct fs_inode *parent, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)parent;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

int kvfs_fs_table_init(struct fs *fs)
{
	if (kvfs_fs_locks_init(fs))
		return -1;
	fs->nbuckets = 1024;
	fs->buckets = calloc(fs->nbuckets, sizeof(*fs->buckets));
	if (!fs->buckets)
		return -1;
	memset(&fs->root, 0, sizeof(fs->root));
	fs->root.name = strdup("");
	if (!fs->root.name)
		return -1;
	fs->root.ino = FUSE_ROOT_ID;
	fs->root.is_dir = true;
	fs->root.nlookup = 2;
	fs->root.hashed = true;
	fs->root.anext = fs->root.aprev = &fs->root;
	pthread_mutex_init(&fs->root.lock, NULL);
	pthread_mutex_init(&fs->table_lock, NULL);
	pthread_rwlock_init(&fs->ns_lock, NULL);
	return 0;
}

static void inode_free(struct fs *fs, struct fs_inode *inode)
{
	kvfs_fs_locks_forget(fs, inode);
	inode->aprev->anext = inode->anext;
	inode->anext->aprev = inode->aprev;
	kvfs_reader_close(inode->retired);
	pthread_mutex_destroy(&inode->lock);
	free(inode->name);
	free(inode);
}

void kvfs_fs_table_destroy(struct fs *fs)
{
	while (fs->root.anext != &fs->root)
		inode_free(fs, fs->root.anext);
	kvfs_fs_locks_forget(fs, &fs->root);
	kvfs_fs_locks_destroy(fs);
	free(fs->buckets);
	fs->buckets = NULL;
	free(fs->root.name);
	pthread_mutex_destroy(&fs->root.lock);
	pthread_mutex_destroy(&fs->table_lock);
	pthread_rwlock_destroy(&fs->ns_lock);
}

struct fs_inode *kvfs_fs_inode(struct fs *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &fs->root;
	return (struct fs_inode *)(uintptr_t)ino;
}

/* ------------------------------------------------- hashing (table_lock) */

static struct fs_inode **slot_of(struct fs *fs, const struct fs_inode *parent,
				 const char *name)
{
	return &fs->buckets[hash_of(parent, name) & (fs->nbuckets - 1)];
}

static struct fs_inode *find_locked(struct fs *fs,
				    const struct fs_inode *parent,
				    const char *name)
{
	struct fs_inode *i = *slot_of(fs, parent, name);

	for (; i; i = i->hnext)
		if (i->parent == parent && !strcmp(i->name, name))
			return i;
	return NULL;
}

static void unhash_locked(struct fs *fs, struct fs_inode *inode)
{
	struct fs_inode **pp = slot_of(fs, inode->parent, inode->name);

	if (!inode->hashed)
		return;
	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == inode) {
			*pp = inode->hnext;
			break;
		}
	}
	inode->hnext = NULL;
	inode->hashed = false;
	fs->count--;
}

static void grow_locked(struct fs *fs)
{
	size_t n = fs->nbuckets * 2;
	struct fs_inode **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return; /* keep the longer chains */
	for (size_t b = 0; b < fs->nbuckets; b++) {
		struct fs_inode *i = fs->buckets[b], *next;

		for (; i; i = next) {
			size_t s = hash_of(i->parent, i->name) & (n - 1);

			next = i->hnext;
			i->hnext = nb[s];
			nb[s] = i;
		}
	}
	free(fs->buckets);
	fs->buckets = nb;
	fs->nbuckets = n;
}

static void hash_locked(struct fs *fs, struct fs_inode *inode)
{
	struct fs_inode **slot;

	if (fs->count >= fs->nbuckets * 2)
		grow_locked(fs);
	slot = slot_of(fs, inode->parent, inode->name);
	inode->hnext = *slot;
	*slot = inode;
	inode->hashed = true;
	fs->count++;
}

/* Free inode and, in turn, parents that nothing holds any more. */
static void release_locked(struct fs *fs, struct fs_inode *inode)
{
	while (inode && inode != &fs->root && inode->nlookup == 0 &&
	       inode->refs == 0) {
		struct fs_inode *parent = inode->parent;

		unhash_locked(fs, inode);
		if (inode->pending) /* nothing can reach it any more */
			__atomic_sub_fetch(&fs->pending_total, 1,
					   __ATOMIC_RELEASE);
		inode_free(fs, inode);
		inode = parent;
		if (inode)
			inode->refs--;
	}
}

/* ----------------------------------------------------------- public API */

int kvfs_fs_key(struct fs *fs, struct fs_inode *inode, const char *name,
		char *out)
{
	const struct fs_inode *chain[KVFS_KEY_MAX / 2 + 2];
	size_t depth = 0, len = 0, nlen = name ? strlen(name) : 0;
	int rc = 0;

	pthread_mutex_lock(&fs->table_lock);
	for (const struct fs_inode *i = inode; i && i != &fs->root;
	     i = i->parent) {
		if (depth == sizeof(chain) / sizeof(chain[0])) {
			rc = ENAMETOOLONG;
			goto out_unlock;
		}
		chain[depth++] = i;
	}
	for (size_t d = depth; d-- > 0;) {
		size_t l = strlen(chain[d]->name);
		bool slash = d > 0 || name;

		/* A key of exactly KVFS_KEY_MAX bytes is valid. */
		if (len + l + slash > KVFS_KEY_MAX) {
			rc = ENAMETOOLONG;
			goto out_unlock;
		}
		memcpy(out + len, chain[d]->name, l);
		len += l;
		if (slash)
			out[len++] = '/';
	}
	if (name) {
		if (len + nlen > KVFS_KEY_MAX) {
			rc = ENAMETOOLONG;
			goto out_unlock;
		}
		memcpy(out + len, name, nlen);
		len += nlen;
	}
	out[len] = '\0';
out_unlock:
	pthread_mutex_unlock(&fs->table_lock);
	return rc;
}

struct fs_inode *kvfs_fs_inode_get(struct fs *fs, struct fs_inode *parent,
				   const char *name, bool is_dir)
{
	struct fs_inode *inode;

	pthread_mutex_lock(&fs->table_lock);
	inode = find_locked(fs, parent, name);
	if (inode && inode->is_dir != is_dir) {
		/* The key changed kind behind our back: a new object. */
		unhash_locked(fs, inode);
		inode = NULL;
	}
	if (inode) {
		inode->nlookup++;
		goto out_unlock;
	}
	inode = calloc(1, sizeof(*inode));
	if (!inode)
		goto out_unlock;
	inode->name = strdup(name);
	if (!inode->name) {
		free(inode);
		inode = NULL;
		goto out_unlock;
	}
	pthread_mutex_init(&inode->lock, NULL);
	inode->ino = (fuse_ino_t)(uintptr_t)inode;
	inode->is_dir = is_dir;
	inode->parent = parent;
	parent->refs++;
	inode->nlookup = 1;
	inode->anext = &fs->root;
	inode->aprev = fs->root.aprev;
	fs->root.aprev->anext = inode;
	fs->root.aprev = inode;
	hash_locked(fs, inode);
out_unlock:
	pthread_mutex_unlock(&fs->table_lock);
	return inode;
}

struct fs_inode *kvfs_fs_inode_find(struct fs *fs, struct fs_inode *parent,
				    const char *name)
{
	struct fs_inode *inode;

	pthread_mutex_lock(&fs->table_lock);
	inode = find_locked(fs, parent, name);
	if (inode)
		inode->refs++;
	pthread_mutex_unlock(&fs->table_lock);
	return inode;
}

void kvfs_fs_inode_hold(struct fs *fs, struct fs_inode *inode)
{
	pthread_mutex_lock(&fs->table_lock);
	inode->refs++;
	pthread_mutex_unlock(&fs->table_lock);
}

void kvfs_fs_inode_put(struct fs *fs, struct fs_inode *inode)
{
	if (!inode)
		return;
	pthread_mutex_lock(&fs->table_lock);
	inode->refs--;
	release_locked(fs, inode);
	pthread_mutex_unlock(&fs->table_lock);
}

void kvfs_fs_inode_forget(struct fs *fs, struct fs_inode *inode, uint64_t n)
{
	pthread_mutex_lock(&fs->table_lock);
	inode->nlookup = inode->nlookup > n ? inode->nlookup - n : 0;
	release_locked(fs, inode);
	pthread_mutex_unlock(&fs->table_lock);
}

void kvfs_fs_inode_unhash(struct fs *fs, struct fs_inode *inode)
{
	pthread_mutex_lock(&fs->table_lock);
	unhash_locked(fs, inode);
	inode->unlinked = true;
	pthread_mutex_unlock(&fs->table_lock);
}

/* unhash and mark unlinked; the parent's node id and the name for the
 * entry invalidation that must follow; false when it had no name. */
static bool unhash_named_locked(struct fs *fs, struct fs_inode *inode,
				fuse_ino_t *parent, char *name)
{
	if (!inode->hashed || !inode->parent ||
	    strlen(inode->name) > KVFS_NAME_MAX)
		return false;
	*parent = inode->parent->ino;
	strcpy(name, inode->name);
	unhash_locked(fs, inode);
	inode->unlinked = true;
	return true;
}

bool kvfs_fs_inode_unhash_named(struct fs *fs, struct fs_inode *inode,
				fuse_ino_t *parent, char *name)
{
	bool named;

	pthread_mutex_lock(&fs->table_lock);
	named = unhash_named_locked(fs, inode, parent, name);
	pthread_mutex_unlock(&fs->table_lock);
	return named;
}

bool kvfs_fs_inode_supersede(struct fs *fs, struct fs_inode *inode,
			     fuse_ino_t *parent, char *name)
{
	struct fs_superseded *slot;
	const struct fs_inode *dir = inode->parent;
	size_t hash;
	bool named;

	pthread_mutex_lock(&fs->table_lock);
	hash = dir ? hash_of(dir, inode->name) : 0;
	named = unhash_named_locked(fs, inode, parent, name);
	if (named) {
		slot = &fs->superseded[fs->superseded_next++ %
				       (sizeof(fs->superseded) /
					sizeof(fs->superseded[0]))];
		slot->parent = dir;
		slot->name_hash = hash;
		clock_gettime(CLOCK_MONOTONIC, &slot->at);
		inode->superseded = true;
	}
	pthread_mutex_unlock(&fs->table_lock);
	return named;
}

bool kvfs_fs_inode_superseded_within(struct fs *fs,
				     const struct fs_inode *inode, double secs)
{
	const size_t n = sizeof(fs->superseded) / sizeof(fs->superseded[0]);
	struct timespec now;
	bool found = false;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&fs->table_lock);
	for (size_t i = 0; i < n && !found && inode->parent; i++) {
		const struct fs_superseded *s = &fs->superseded[i];
		double age = (double)(now.tv_sec - s->at.tv_sec) +
			     (double)(now.tv_nsec - s->at.tv_nsec) / 1e9;

		found = s->parent == inode->parent && s->at.tv_sec &&
			age < secs &&
			s->name_hash == hash_of(inode->parent, inode->name);
	}
	pthread_mutex_unlock(&fs->table_lock);
	return found;
}

int kvfs_fs_inode_move(struct fs *fs, struct fs_inode *inode,
		       struct fs_inode *newparent, const char *newname)
{
	struct fs_inode *oldparent;
	char *copy = strdup(newname);

	if (!copy)
		return ENOMEM;
	pthread_mutex_lock(&fs->table_lock);
	unhash_locked(fs, inode);
	oldparent = inode->parent;
	newparent->refs++;
	inode->parent = newparent;
	free(inode->name);
	inode->name = copy;
	hash_locked(fs, inode);
	oldparent->refs--;
	release_locked(fs, oldparent);
	pthread_mutex_unlock(&fs->table_lock);
	return 0;
}

bool kvfs_fs_inode_is_below(const struct fs_inode *inode,
			    const struct fs_inode *dir)
{
	for (; inode; inode = inode->parent)
		if (inode == dir)
			return true;
	return false;
}

void kvfs_fs_inode_each(struct fs *fs,
			void (*fn)(struct fs_inode *inode, void *ctx),
			void *ctx)
{
	pthread_mutex_lock(&fs->table_lock);
	fn(&fs->root, ctx);
	for (struct fs_inode *i = fs->root.anext; i != &fs->root; i = i->anext)
		fn(i, ctx);
	pthread_mutex_unlock(&fs->table_lock);
}

struct inode_collect {
	bool (*want)(const struct fs_inode *inode, void *ctx);
	void *ctx;
	struct fs_inode **found;
	size_t count, cap;
};

static void collect_one(struct fs_inode *inode, void *ctx)
{
	struct inode_collect *c = ctx;

	if (!c->want(inode, c->ctx))
		return;
	if (c->count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct fs_inode **grown =
			realloc(c->found, cap * sizeof(*grown));

		if (!grown)
			return;
		c->found = grown;
		c->cap = cap;
	}
	inode->refs++; /* table_lock is held by kvfs_fs_inode_each */
	c->found[c->count++] = inode;
}

size_t kvfs_fs_inode_collect(struct fs *fs,
			     bool (*want)(const struct fs_inode *inode,
					  void *ctx),
			     void *ctx, struct fs_inode ***out)
{
	struct inode_collect c = { .want = want, .ctx = ctx };

	kvfs_fs_inode_each(fs, collect_one, &c);
	*out = c.found;
	return c.count;
}

struct fs_inode *kvfs_fs_inode_by_key(struct fs *fs, const char *key)
{
	struct fs_inode *inode = &fs->root;
	char name[KVFS_NAME_MAX + 1];
	const char *p = key;

	pthread_mutex_lock(&fs->table_lock);
	while (inode && *p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n > KVFS_NAME_MAX) {
			inode = NULL;
			break;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		inode = find_locked(fs, inode, name);
		p += n;
		if (*p == '/')
			p++;
	}
	if (inode)
		inode->refs++;
	pthread_mutex_unlock(&fs->table_lock);
	return inode;
}
