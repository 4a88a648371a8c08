/*
 * level.c - which consistency level is in force for a file or directory.
 *
 * Most specific wins (DESIGN.md section 4):
 *   1. the object's own xattr user.kvfs.consistency;
 *   2. the nearest ancestor directory's user.kvfs.consistency;
 *   3. a prefix rule from the configuration file (see level_from_rules);
 *   4. the mount option consistency=;
 *   5. strong.
 * The result is cached per inode and tagged with fs->level_gen; any change
 * of a consistency xattr, or a rename, bumps the generation, which makes
 * every cached level (the whole subtree of a directory, and more) stale.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kvfs_fs.h"

static uint64_t current_gen(struct fs *fs)
{
	return __atomic_load_n(&fs->level_gen, __ATOMIC_ACQUIRE) + 1;
}

/* Read the stored xattr of `key`: 1 with *out set, 0 when there is none,
 * a negative errno when it could not be read (the store did not answer):
 * then the level is unknown and nothing may be decided from it. */
static int read_own(struct fs *fs, const char *key,
		    enum kvfs_consistency *out)
{
	struct kvfs_buf buf = { 0 };
	int rc = kvfs_store_getxattr(fs->store, key, KVFS_XATTR_LEVEL, &buf);
	int found = 0;

	if (rc == 0) {
		if (kvfs_consistency_parse(buf.data ? buf.data : "", out) == 0)
			found = 1;
		else
			fuse_log(FUSE_LOG_WARNING,
				 "kvfs: ignoring invalid %s on '%s'\n",
				 KVFS_XATTR_LEVEL, key);
	} else if (rc != KVFS_ENODATA && rc != KVFS_ENOTSUPPORTED &&
		   rc != KVFS_ENOTFOUND) {
		found = -kvfs_fs_errno(fs, rc, "reading consistency xattr");
	}
	kvfs_buf_free(&buf);
	return found;
}

/* The own level of inode, cached until the next generation: 1 with *out
 * set, 0 when it has none, a negative errno (not cached) on failure. */
static int own_level(struct fs *fs, struct fs_inode *inode,
		     enum kvfs_consistency *out)
{
	char key[KVFS_KEY_MAX + 1];
	uint64_t gen = current_gen(fs);
	enum kvfs_consistency level = KVFS_STRONG;
	int state;

	pthread_mutex_lock(&inode->lock);
	if (inode->own_gen == gen) {
		state = inode->own_state;
		level = inode->own_level;
		pthread_mutex_unlock(&inode->lock);
		*out = level;
		return state == 2;
	}
	pthread_mutex_unlock(&inode->lock);

	if (kvfs_fs_key(fs, inode, NULL, key))
		return 0;
	state = read_own(fs, key, &level);
	if (state < 0)
		return state;
	state = state ? 2 : 1;
	pthread_mutex_lock(&inode->lock);
	inode->own_gen = gen;
	inode->own_state = state;
	inode->own_level = level;
	pthread_mutex_unlock(&inode->lock);
	*out = level;
	return state == 2;
}

/*
 * Step 3: prefix rules from the configuration file ("everything under
 * metrics/ is eventual"; lib/docs/config.md): the longest matching prefix.
 */
static bool level_from_rules(struct fs *fs, const char *key,
			     enum kvfs_consistency *out)
{
	return kvfs_rules_match(fs->rules, key, out) == 0;
}

/* Steps 2 to 5 for an object whose parent directory is `parent`; *err
 * gets an errno when an ancestor's xattr could not be read. */
static enum kvfs_consistency inherited(struct fs *fs, struct fs_inode *parent,
				       const char *key, int *err)
{
	struct fs_inode *chain[64];
	size_t n = 0;
	enum kvfs_consistency level;
	bool found = false;
	struct fs_inode *p;

	/* Walk up, holding each ancestor while its xattr is read. */
	for (p = parent; p && !found;) {
		struct fs_inode *next;
		int own = own_level(fs, p, &level);

		if (own < 0) {
			*err = -own;
			found = true;
			level = fs->mount_level;
			break;
		}
		if (own) {
			found = true;
			break;
		}
		pthread_mutex_lock(&fs->table_lock);
		next = p->parent;
		if (next)
			next->refs++;
		pthread_mutex_unlock(&fs->table_lock);
		if (n == sizeof(chain) / sizeof(chain[0])) {
			/* Deep trees: drop the oldest holds as we go. */
			kvfs_fs_inode_put(fs, chain[0]);
			memmove(chain, chain + 1, (n - 1) * sizeof(chain[0]));
			n--;
		}
		if (next)
			chain[n++] = next;
		p = next;
	}
	while (n > 0)
		kvfs_fs_inode_put(fs, chain[--n]);
	if (found)
		return level;
	if (level_from_rules(fs, key, &level))
		return level;
	return fs->mount_level;
}

int kvfs_fs_level_get(struct fs *fs, struct fs_inode *inode,
		      enum kvfs_consistency *out)
{
	char key[KVFS_KEY_MAX + 1];
	uint64_t gen = current_gen(fs);
	enum kvfs_consistency level;
	struct fs_inode *parent;
	int own, err = 0;

	pthread_mutex_lock(&inode->lock);
	if (inode->level_gen == gen) {
		*out = inode->level;
		pthread_mutex_unlock(&inode->lock);
		return 0;
	}
	pthread_mutex_unlock(&inode->lock);

	own = own_level(fs, inode, &level);
	if (own < 0) {
		err = -own;
		level = fs->mount_level;
	} else if (!own) {
		if (kvfs_fs_key(fs, inode, NULL, key))
			key[0] = '\0';
		pthread_mutex_lock(&fs->table_lock);
		parent = inode->parent;
		if (parent)
			parent->refs++;
		pthread_mutex_unlock(&fs->table_lock);
		level = inherited(fs, parent, key, &err);
		kvfs_fs_inode_put(fs, parent);
	}
	*out = level;
	if (err)
		return err;
	pthread_mutex_lock(&inode->lock);
	inode->level_gen = gen;
	inode->level = level;
	pthread_mutex_unlock(&inode->lock);
	return 0;
}

enum kvfs_consistency kvfs_fs_level(struct fs *fs, struct fs_inode *inode)
{
	enum kvfs_consistency level;

	kvfs_fs_level_get(fs, inode, &level);
	return level;
}

enum kvfs_consistency kvfs_fs_level_new_child(struct fs *fs,
					      struct fs_inode *parent,
					      const char *name)
{
	char key[KVFS_KEY_MAX + 1];
	int err = 0;

	if (kvfs_fs_key(fs, parent, name, key))
		key[0] = '\0';
	return inherited(fs, parent, key, &err);
}

void kvfs_fs_level_changed(struct fs *fs, struct fs_inode *inode)
{
	(void)inode;
	__atomic_add_fetch(&fs->level_gen, 1, __ATOMIC_RELEASE);
}

int kvfs_fs_level_of_name_get(struct fs *fs, struct fs_inode *parent,
			      const char *name, enum kvfs_consistency *out)
{
	char key[KVFS_KEY_MAX + 1];
	int own, err = 0;

	if (kvfs_fs_key(fs, parent, name, key)) {
		*out = inherited(fs, parent, "", &err);
		return err;
	}
	own = read_own(fs, key, out);
	if (own < 0) {
		*out = fs->mount_level;
		return -own;
	}
	if (own)
		return 0;
	*out = inherited(fs, parent, key, &err);
	return err;
}

enum kvfs_consistency kvfs_fs_level_of_name(struct fs *fs,
					    struct fs_inode *parent,
					    const char *name)
{
	enum kvfs_consistency level;

	kvfs_fs_level_of_name_get(fs, parent, name, &level);
	return level;
}

uint64_t kvfs_fs_level_gen(struct fs *fs)
{
	return current_gen(fs);
}

void kvfs_fs_level_prime(struct fs *fs, struct fs_inode *inode,
			 enum kvfs_consistency level, uint64_t gen)
{
	(void)fs;
	pthread_mutex_lock(&inode->lock);
	if (inode->level_gen != gen) {
		inode->level_gen = gen;
		inode->level = level;
	}
	pthread_mutex_unlock(&inode->lock);
}
