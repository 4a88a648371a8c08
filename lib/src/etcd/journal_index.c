/*
 * journal_index.c - the journal's pending entries by key (see
 * journal_index.h).
 */
#include <stdlib.h>
#include <string.h>

#include "journal_index.h"

struct dir_count {
	struct dir_count *next;
	uint64_t n;          /* keys below the directory whose latest is a put */
	char name[];
};

struct jindex {
	struct jentry **keys; /* buckets of each key's newest entry */
	size_t nbuckets, nkeys;
	struct dir_count **dirs;
	size_t ndirs_buckets, ndirs;
	bool dirs_exact;     /* false once a count could not be kept */
};

static uint64_t hash_bytes(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

struct jindex *jindex_new(void)
{
	struct jindex *ix = calloc(1, sizeof(*ix));

	if (!ix)
		return NULL;
	ix->nbuckets = 64;
	ix->ndirs_buckets = 64;
	ix->keys = calloc(ix->nbuckets, sizeof(*ix->keys));
	ix->dirs = calloc(ix->ndirs_buckets, sizeof(*ix->dirs));
	ix->dirs_exact = true;
	if (!ix->keys || !ix->dirs) {
		jindex_free(ix);
		return NULL;
	}
	return ix;
}

void jindex_free(struct jindex *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; ix->dirs && i < ix->ndirs_buckets; i++) {
		while (ix->dirs[i]) {
			struct dir_count *next = ix->dirs[i]->next;

			free(ix->dirs[i]);
			ix->dirs[i] = next;
		}
	}
	free(ix->dirs);
	free(ix->keys); /* the entries are the journal's */
	free(ix);
}

/* The newest entry of a put-or-delete chain is a put? */
static bool is_put(const struct jentry *e)
{
	for (; e; e = e->older)
		if (e->op != ETCD_JOURNAL_ATTR)
			return e->op == ETCD_JOURNAL_PUT;
	return false;
}

static struct jentry **slot_of(const struct jindex *ix, const char *key)
{
	struct jentry **p = &ix->keys[hash_bytes(key, strlen(key)) &
				      (ix->nbuckets - 1)];

	while (*p && strcmp((*p)->key, key))
		p = &(*p)->hnext;
	return p;
}

/* Twice the buckets once there are more keys than buckets; without the
 * memory, chains grow longer instead. */
static void grow_keys(struct jindex *ix)
{
	size_t n = ix->nbuckets * 2;
	struct jentry **b;

	if (ix->nkeys <= ix->nbuckets || !(b = calloc(n, sizeof(*b))))
		return;
	for (size_t i = 0; i < ix->nbuckets; i++) {
		while (ix->keys[i]) {
			struct jentry *e = ix->keys[i];
			size_t h = hash_bytes(e->key, strlen(e->key)) & (n - 1);

			ix->keys[i] = e->hnext;
			e->hnext = b[h];
			b[h] = e;
		}
	}
	free(ix->keys);
	ix->keys = b;
	ix->nbuckets = n;
}

static void grow_dirs(struct jindex *ix)
{
	size_t n = ix->ndirs_buckets * 2;
	struct dir_count **b;

	if (ix->ndirs <= ix->ndirs_buckets || !(b = calloc(n, sizeof(*b))))
		return;
	for (size_t i = 0; i < ix->ndirs_buckets; i++) {
		while (ix->dirs[i]) {
			struct dir_count *d = ix->dirs[i];
			size_t h = hash_bytes(d->name, strlen(d->name)) & (n - 1);

			ix->dirs[i] = d->next;
			d->next = b[h];
			b[h] = d;
		}
	}
	free(ix->dirs);
	ix->dirs = b;
	ix->ndirs_buckets = n;
}

/* Add delta to the count of every directory above key. */
static void dirs_adjust(struct jindex *ix, const char *key, int delta)
{
	for (const char *slash = strchr(key, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		size_t len = (size_t)(slash - key);
		struct dir_count **p = &ix->dirs[hash_bytes(key, len) &
						 (ix->ndirs_buckets - 1)];

		while (*p && (strlen((*p)->name) != len ||
			      memcmp((*p)->name, key, len)))
			p = &(*p)->next;
		if (!*p) {
			struct dir_count *d = delta > 0
				? calloc(1, sizeof(*d) + len + 1) : NULL;

			if (!d) {
				ix->dirs_exact = false;
				continue;
			}
			memcpy(d->name, key, len);
			*p = d;
			ix->ndirs++;
		}
		if (delta > 0) {
			(*p)->n++;
		} else if ((*p)->n && --(*p)->n == 0) {
			struct dir_count *gone = *p;

			*p = gone->next;
			free(gone);
			ix->ndirs--;
		}
	}
	grow_dirs(ix);
}

static void state_changed(struct jindex *ix, const char *key, bool before,
			  bool after)
{
	if (before != after)
		dirs_adjust(ix, key, after ? 1 : -1);
}

void jindex_add(struct jindex *ix, struct jentry *ent)
{
	struct jentry **p = slot_of(ix, ent->key), *old = *p;
	bool before = is_put(old);

	ent->older = old;
	ent->hnext = old ? old->hnext : NULL;
	*p = ent;
	state_changed(ix, ent->key, before, is_put(ent));
	if (!old) {
		ix->nkeys++;
		grow_keys(ix);
	}
}

void jindex_remove_oldest(struct jindex *ix, struct jentry *ent)
{
	struct jentry **p = slot_of(ix, ent->key), *newest = *p;
	bool before = is_put(newest);

	if (!newest)
		return;
	if (newest == ent) {
		*p = ent->hnext;
		ix->nkeys--;
		state_changed(ix, ent->key, before, false);
		return;
	}
	for (struct jentry *e = newest; e; e = e->older) {
		if (e->older == ent) {
			e->older = NULL;
			break;
		}
	}
	state_changed(ix, ent->key, before, is_put(newest));
}

struct jentry *jindex_newest(const struct jindex *ix, const char *key)
{
	return *slot_of(ix, key);
}

struct jentry *jindex_latest(const struct jindex *ix, const char *key)
{
	struct jentry *e = *slot_of(ix, key);

	while (e && e->op == ETCD_JOURNAL_ATTR)
		e = e->older;
	return e;
}

struct below_ctx {
	const char *dir;
	size_t len;
	bool found;
};

static int put_below(void *arg, const struct jentry *latest)
{
	struct below_ctx *b = arg;

	if (latest->op == ETCD_JOURNAL_PUT &&
	    !strncmp(latest->key, b->dir, b->len) && latest->key[b->len] == '/')
		b->found = true;
	return b->found;
}

bool jindex_put_under(const struct jindex *ix, const char *dir)
{
	size_t len = strlen(dir);
	struct dir_count *d;

	if (!len)
		return false;
	if (!ix->dirs_exact) {
		struct below_ctx b = { dir, len, false };

		jindex_each_latest(ix, put_below, &b);
		return b.found;
	}
	for (d = ix->dirs[hash_bytes(dir, len) & (ix->ndirs_buckets - 1)]; d;
	     d = d->next)
		if (!strcmp(d->name, dir))
			return d->n > 0;
	return false;
}

int jindex_each_latest(const struct jindex *ix,
		       int (*fn)(void *ctx, const struct jentry *latest),
		       void *ctx)
{
	for (size_t i = 0; i < ix->nbuckets; i++) {
		for (struct jentry *e = ix->keys[i]; e; e = e->hnext) {
			const struct jentry *l = e;
			int rc;

			while (l && l->op == ETCD_JOURNAL_ATTR)
				l = l->older;
			if (l && (rc = fn(ctx, l)))
				return rc;
		}
	}
	return 0;
}
