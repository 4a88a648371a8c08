/*
 * cache.c - the cache backend: a decorator over any store that keeps a
 * bounded in-memory LRU of values and stat metadata, evicted by bytes.
 *
 * What it may serve depends on the level of the call (lib/docs/cache.md):
 *   strong            revalidates by the inner stat's `version`: an entry
 *                     is served only when the inner store reports the same
 *                     non-zero version; version 0 means "cannot tell" and
 *                     the cache is bypassed;
 *   eventual          entries younger than cache_ttl;
 *   read-your-writes  values this mount wrote through the cache, otherwise
 *                     revalidated as strong;
 *   causal            entries filled when the inner backend's causal token
 *                     was at least the current one (the mount's floor);
 *                     without a numeric token, revalidated as strong.
 *
 * The inner store is called only through the kvfs_store_* wrappers, never
 * while the cache lock is held. Writes invalidate after the inner call has
 * returned. A generation counter per key slot (plus a global epoch) makes
 * sure that a read racing a write never caches the older value: a fill is
 * dropped when the key's generation moved since the read began, as in
 * sshfs's cache.c write counter.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kvfs/backend.h>
#include "store_internal.h"

/* Generation slots: a key's writes bump gens[hash & GEN_MASK]. Two keys
 * sharing a slot only make fills a little more conservative. */
#define GEN_SLOTS 1024u
#define GEN_MASK (GEN_SLOTS - 1u)

/* Values read through a reader are cached only up to this size, so that
 * opening a huge file for a small read does not pull it all in. */
#define READER_CACHE_MAX (1u << 20)

#define DEFAULT_TTL_MS 1000u

struct entry {
	struct entry *hnext;           /* hash chain */
	struct entry *prev, *next;     /* LRU list, most recent first */
	uint64_t hash;
	size_t cost;                   /* bytes accounted for this entry */
	bool has_value;
	bool own_write;                /* value was written through the cache */
	bool has_stat;
	bool has_token;
	struct kvfs_buf value;
	uint64_t version;              /* inner version of value; 0 unknown */
	uint64_t value_ms;             /* when value was filled */
	uint64_t token;                /* inner causal token at fill */
	struct kvfs_stat st;
	uint64_t stat_ms;              /* when st was filled */
	size_t keylen;
	char key[];
};

struct cache {
	struct kvfs_backend base;
	struct kvfs_store *inner;      /* owned */
	uint64_t size;                 /* bound on `bytes` */
	uint64_t max_entry;            /* larger entries are not cached */
	uint64_t ttl_ms;
	struct kvfs_watch inner_watch; /* our subscription to inner changes */
	bool watching;                 /* inner accepted inner_watch */

	/* Lock order: lock is a leaf; no inner call and no user watcher is
	 * ever made while it is held. It protects everything below. */
	pthread_mutex_t lock;
	struct entry **buckets;
	size_t nbuckets;               /* power of two */
	size_t count;
	struct entry *lru_head, *lru_tail;
	uint64_t bytes;
	uint64_t gens[GEN_SLOTS];
	uint64_t epoch;                /* bumped by invalidate-all, prefixes */
	bool no_versions;              /* inner stat said version 0 */
	struct kvfs_watch user_watch;  /* chained watcher, if any */
	uint64_t hits, misses, evictions;
};

/* How a miss should be filled: what the read learned before fetching. */
struct plan {
	uint64_t gen;       /* key generation when the read began */
	uint64_t version;   /* inner version seen by revalidation; 0 none */
	bool has_stat;
	struct kvfs_stat st;
	bool has_token;
	uint64_t token;     /* causal token read before the inner calls */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t hash_key(const char *key, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* ------------------------------------------- table and LRU (lock held) */

static struct entry *lookup(struct cache *c, const char *key)
{
	size_t len = strlen(key);
	uint64_t h = hash_key(key, len);

	for (struct entry *e = c->buckets[h & (c->nbuckets - 1)]; e;
	     e = e->hnext)
		if (e->hash == h && e->keylen == len && !memcmp(e->key, key, len))
			return e;
	return NULL;
}

static uint64_t gen_of(const struct cache *c, const char *key)
{
	return c->gens[hash_key(key, strlen(key)) & GEN_MASK] + c->epoch;
}

static void lru_unlink(struct cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->lru_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct cache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->lru_head;
	if (c->lru_head)
		c->lru_head->prev = e;
	c->lru_head = e;
	if (!c->lru_tail)
		c->lru_tail = e;
}

static void touch(struct cache *c, struct entry *e)
{
	if (c->lru_head != e) {
		lru_unlink(c, e);
		lru_push_front(c, e);
	}
}

static void remove_entry(struct cache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	c->bytes -= e->cost;
	c->count--;
	kvfs_buf_free(&e->value);
	free(e);
}

/* Bytes accounted for an entry: the struct, the key, the value. */
static size_t cost_of(size_t keylen, bool has_value, size_t value_len)
{
	return sizeof(struct entry) + keylen + 1 +
	       (has_value ? value_len + 1 : 0);
}

static void set_cost(struct cache *c, struct entry *e)
{
	size_t cost = cost_of(e->keylen, e->has_value, e->value.len);

	c->bytes = c->bytes - e->cost + cost;
	e->cost = cost;
}

static void evict_to_fit(struct cache *c, const struct entry *keep)
{
	while (c->bytes > c->size && c->lru_tail && c->lru_tail != keep) {
		remove_entry(c, c->lru_tail);
		c->evictions++;
	}
}

/* Double the bucket array once entries outnumber buckets. A failed
 * allocation only leaves chains longer. */
static void maybe_grow(struct cache *c)
{
	size_t n = c->nbuckets * 2;
	struct entry **grown;

	if (c->count < c->nbuckets)
		return;
	grown = calloc(n, sizeof(*grown));
	if (!grown)
		return;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct entry *e = c->buckets[i], *next;

		for (; e; e = next) {
			next = e->hnext;
			e->hnext = grown[e->hash & (n - 1)];
			grown[e->hash & (n - 1)] = e;
		}
	}
	free(c->buckets);
	c->buckets = grown;
	c->nbuckets = n;
}

/* Find or create key's entry; NULL when out of memory. */
static struct entry *obtain(struct cache *c, const char *key)
{
	struct entry *e = lookup(c, key);
	size_t len = strlen(key);

	if (e)
		return e;
	e = calloc(1, sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->key, key, len + 1);
	e->keylen = len;
	e->hash = hash_key(key, len);
	e->hnext = c->buckets[e->hash & (c->nbuckets - 1)];
	c->buckets[e->hash & (c->nbuckets - 1)] = e;
	lru_push_front(c, e);
	c->count++;
	set_cost(c, e);
	maybe_grow(c);
	return e;
}

/* Forget key and make fills that began before now drop their result. */
static void invalidate_locked(struct cache *c, const char *key)
{
	struct entry *e = lookup(c, key);

	c->gens[hash_key(key, strlen(key)) & GEN_MASK]++;
	if (e)
		remove_entry(c, e);
}

/* Forget key and everything below it (a directory). */
static void invalidate_tree_locked(struct cache *c, const char *key)
{
	size_t len = strlen(key);
	struct entry *e = c->lru_head, *next;

	c->epoch++;
	for (; e; e = next) {
		next = e->next;
		if (!len || (e->keylen >= len && !memcmp(e->key, key, len) &&
			     (e->keylen == len || e->key[len] == '/')))
			remove_entry(c, e);
	}
}

static void invalidate(struct cache *c, const char *key, bool tree)
{
	pthread_mutex_lock(&c->lock);
	if (tree)
		invalidate_tree_locked(c, key);
	else
		invalidate_locked(c, key);
	pthread_mutex_unlock(&c->lock);
}

/* ----------------------------------------------------- fills and serving */

static uint64_t snapshot_gen(struct cache *c, const char *key)
{
	uint64_t g;

	pthread_mutex_lock(&c->lock);
	g = gen_of(c, key);
	pthread_mutex_unlock(&c->lock);
	return g;
}

/* The inner backend's causal token as a number; false when it has none
 * or it is not a decimal number. */
static bool causal_token(struct cache *c, uint64_t *out)
{
	struct kvfs_buf text = { 0 };
	char *end = NULL;
	bool ok = false;

	if (kvfs_store_control(c->inner, KVFS_CTL_CAUSAL_TOKEN_GET, &text) == 0 &&
	    text.data && text.len) {
		*out = strtoull(text.data, &end, 10);
		ok = end && *end == '\0' && end != (char *)text.data;
	}
	kvfs_buf_free(&text);
	return ok;
}

/*
 * Store a value fetched from (or written to) the inner store, unless the
 * key's generation moved since p->gen: then a write overtook this read and
 * the value may be older than what is stored now. A write (`own_write`)
 * also bumps the generation in the same locked section, so that of two
 * overlapping writes of a key neither value stays cached.
 */
static void fill_value(struct cache *c, const char *key, const void *data,
		       size_t len, const struct plan *p, bool own_write)
{
	bool fits = cost_of(strlen(key), true, len) <= c->max_entry;
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	e = lookup(c, key);
	if (!fits || gen_of(c, key) != p->gen) {
		if (own_write && e)
			remove_entry(c, e);
		goto out_bump;
	}
	e = obtain(c, key);
	if (!e)
		goto out_bump;
	if (kvfs_buf_set(&e->value, data, len)) {
		remove_entry(c, e);
		goto out_bump;
	}
	e->has_value = true;
	e->own_write = own_write;
	e->version = p->version;
	e->value_ms = now_ms();
	e->has_token = p->has_token;
	e->token = p->token;
	/* Keep stat metadata only when it describes this very value. */
	e->has_stat = p->has_stat && p->st.kind == KVFS_KIND_FILE &&
		      p->st.size == len;
	if (e->has_stat) {
		e->st = p->st;
		e->stat_ms = e->value_ms;
	}
	set_cost(c, e);
	touch(c, e);
	evict_to_fit(c, e);
out_bump:
	if (own_write)
		c->gens[hash_key(key, strlen(key)) & GEN_MASK]++;
	pthread_mutex_unlock(&c->lock);
}

static void fill_stat(struct cache *c, const char *key,
		      const struct kvfs_stat *st, const struct plan *p)
{
	struct entry *e;

	if (cost_of(strlen(key), false, 0) > c->max_entry)
		return;
	pthread_mutex_lock(&c->lock);
	if (gen_of(c, key) != p->gen)
		goto out_unlock;
	e = obtain(c, key);
	if (!e)
		goto out_unlock;
	e->st = *st;
	e->has_stat = true;
	e->stat_ms = now_ms();
	/* A value of another known version or size, or where a directory
	 * now is, is stale. */
	if (e->has_value && (st->kind != KVFS_KIND_FILE ||
			     st->size != e->value.len ||
			     (e->version && st->version != e->version))) {
		kvfs_buf_free(&e->value);
		e->has_value = false;
		e->own_write = false;
		set_cost(c, e);
	}
	touch(c, e);
	evict_to_fit(c, e);
out_unlock:
	pthread_mutex_unlock(&c->lock);
}

/* Copy the entry's value into out and count the hit: 1, or -1 when out of
 * memory. Lock held. */
static int serve_locked(struct cache *c, struct entry *e,
			struct kvfs_buf *out)
{
	if (kvfs_buf_set(out, e->value.data, e->value.len))
		return -1;
	touch(c, e);
	c->hits++;
	return 1;
}

/* May level be served from e without asking the inner store? */
static bool servable(const struct cache *c, const struct entry *e,
		     enum kvfs_consistency level, bool has_floor,
		     uint64_t floor)
{
	if (!e || !e->has_value)
		return false;
	switch (level) {
	case KVFS_EVENTUAL:
		return now_ms() - e->value_ms < c->ttl_ms;
	case KVFS_READ_YOUR_WRITES:
		return e->own_write;
	case KVFS_CAUSAL:
		return has_floor && e->has_token && e->token >= floor;
	case KVFS_STRONG:
		break;
	}
	return false;
}

/*
 * Serve key at level from the cache if its rule allows: 1 with out filled,
 * 0 when the caller must fetch (p says how to fill afterwards), or an
 * error of the revalidating stat (KVFS_ENOTFOUND ...).
 */
static int try_serve(struct cache *c, const char *key,
		     enum kvfs_consistency level, struct kvfs_buf *out,
		     struct plan *p)
{
	struct entry *e;
	bool no_versions;
	int rc = 0;

	memset(p, 0, sizeof(*p));
	if (level == KVFS_CAUSAL)
		p->has_token = causal_token(c, &p->token);
	pthread_mutex_lock(&c->lock);
	p->gen = gen_of(c, key);
	e = lookup(c, key);
	if (servable(c, e, level, p->has_token, p->token))
		rc = serve_locked(c, e, out);
	no_versions = c->no_versions;
	pthread_mutex_unlock(&c->lock);
	if (rc)
		return rc;
	if (level == KVFS_EVENTUAL || no_versions)
		goto out_miss;

	/* Revalidate: the same non-zero version means the value is current
	 * (and, for causal, at least as new as the token read above). */
	rc = kvfs_store_stat(c->inner, key, level, &p->st);
	if (rc)
		return rc;
	p->has_stat = true;
	p->version = p->st.kind == KVFS_KIND_FILE ? p->st.version : 0;
	pthread_mutex_lock(&c->lock);
	if (p->st.kind == KVFS_KIND_FILE && !p->st.version)
		c->no_versions = true;
	e = lookup(c, key);
	if (p->version && e && e->has_value && e->version == p->version &&
	    gen_of(c, key) == p->gen) {
		if (level == KVFS_CAUSAL) {
			e->has_token = p->has_token;
			e->token = p->token;
		}
		if (p->st.size == e->value.len) {
			e->st = p->st;
			e->has_stat = true;
			e->stat_ms = now_ms();
		}
		rc = serve_locked(c, e, out);
	}
	pthread_mutex_unlock(&c->lock);
	if (rc)
		return rc;
out_miss:
	pthread_mutex_lock(&c->lock);
	c->misses++;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* ------------------------------------------------------ value operations */

static struct cache *cache_of(struct kvfs_backend *b)
{
	return (struct cache *)b;
}

static int cache_get(struct kvfs_backend *b, const char *key,
		     enum kvfs_consistency level, struct kvfs_buf *out)
{
	struct cache *c = cache_of(b);
	struct plan p;
	int rc = try_serve(c, key, level, out, &p);

	if (rc == 1)
		return 0;
	if (rc < 0)
		return rc;
	rc = kvfs_store_get(c->inner, key, level, out);
	if (rc == 0)
		fill_value(c, key, out->data, out->len, &p, false);
	return rc;
}

/* After a write of key through the cache returned rc (success or not:
 * a failed write may still have reached the backend): drop the entry, and
 * when the write succeeded and no other write of this key overlapped it
 * (generation still g0), keep the written value as this mount's own. */
static void after_write(struct cache *c, const char *key, int rc,
			uint64_t g0, const void *value, size_t len)
{
	struct plan p = { .gen = g0 };

	if (rc == 0) {
		p.has_token = causal_token(c, &p.token);
		fill_value(c, key, value, len, &p, true);
	} else {
		invalidate(c, key, false);
	}
}

static int cache_put(struct kvfs_backend *b, const char *key,
		     const void *value, size_t len,
		     enum kvfs_consistency level)
{
	struct cache *c = cache_of(b);
	uint64_t g0 = snapshot_gen(c, key);
	int rc = kvfs_store_put(c->inner, key, value, len, level);

	after_write(c, key, rc, g0, value, len);
	return rc;
}

static int cache_del(struct kvfs_backend *b, const char *key,
		     enum kvfs_consistency level)
{
	struct cache *c = cache_of(b);
	int rc = kvfs_store_delete(c->inner, key, level);

	invalidate(c, key, false);
	return rc;
}

static int cache_stat(struct kvfs_backend *b, const char *key,
		      enum kvfs_consistency level, struct kvfs_stat *st)
{
	struct cache *c = cache_of(b);
	struct plan p = { 0 };
	struct entry *e;
	bool hit = false;
	int rc;

	pthread_mutex_lock(&c->lock);
	p.gen = gen_of(c, key);
	if (level == KVFS_EVENTUAL) {
		e = lookup(c, key);
		if (e && e->has_stat && now_ms() - e->stat_ms < c->ttl_ms) {
			*st = e->st;
			touch(c, e);
			c->hits++;
			hit = true;
		}
	}
	if (!hit)
		c->misses++;
	pthread_mutex_unlock(&c->lock);
	if (hit)
		return 0;
	rc = kvfs_store_stat(c->inner, key, level, st);
	if (rc == 0)
		fill_stat(c, key, st, &p);
	return rc;
}

/* ------------------------------------------------ pass-through operations */

static int cache_list(struct kvfs_backend *b, const char *key,
		      enum kvfs_consistency level, struct kvfs_lister **out)
{
	return kvfs_store_list(cache_of(b)->inner, key, level, out);
}

static int cache_rename(struct kvfs_backend *b, const char *from,
			const char *to, unsigned int flags,
			enum kvfs_consistency level)
{
	struct cache *c = cache_of(b);
	int rc = kvfs_store_rename(c->inner, from, to, flags, level);

	pthread_mutex_lock(&c->lock);
	invalidate_tree_locked(c, from);
	invalidate_tree_locked(c, to);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static int cache_mkdir(struct kvfs_backend *b, const char *key,
		       uint32_t mode, enum kvfs_consistency level)
{
	struct cache *c = cache_of(b);
	int rc = kvfs_store_mkdir(c->inner, key, mode, level);

	invalidate(c, key, false);
	return rc;
}

static int cache_rmdir(struct kvfs_backend *b, const char *key,
		       enum kvfs_consistency level)
{
	struct cache *c = cache_of(b);
	int rc = kvfs_store_rmdir(c->inner, key, level);

	invalidate(c, key, true);
	return rc;
}

static int cache_set_attr(struct kvfs_backend *b, const char *key,
			  unsigned int fields, uint32_t mode,
			  const struct timespec *mtime,
			  enum kvfs_consistency level)
{
	struct cache *c = cache_of(b);
	int rc = kvfs_store_set_attr(c->inner, key, fields, mode, mtime, level);

	invalidate(c, key, false);
	return rc;
}

static int cache_getxattr(struct kvfs_backend *b, const char *key,
			  const char *name, struct kvfs_buf *out)
{
	return kvfs_store_getxattr(cache_of(b)->inner, key, name, out);
}

static int cache_setxattr(struct kvfs_backend *b, const char *key,
			  const char *name, const void *value, size_t len,
			  unsigned int flags)
{
	return kvfs_store_setxattr(cache_of(b)->inner, key, name, value, len,
				   flags);
}

static int cache_listxattr(struct kvfs_backend *b, const char *key,
			   struct kvfs_buf *out)
{
	return kvfs_store_listxattr(cache_of(b)->inner, key, out);
}

static int cache_removexattr(struct kvfs_backend *b, const char *key,
			     const char *name)
{
	return kvfs_store_removexattr(cache_of(b)->inner, key, name);
}

static int cache_space(struct kvfs_backend *b, struct kvfs_space *space)
{
	return kvfs_store_space(cache_of(b)->inner, space);
}

/* ----------------------------------------------------------------- readers */

/* Read a whole (small) inner reader into buf. */
static int slurp(struct kvfs_reader *r, struct kvfs_buf *buf)
{
	uint64_t size = kvfs_reader_size(r), off = 0;
	char *data = malloc((size_t)size + 1);
	int rc = 0;

	if (!data)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	while (off < size) {
		ssize_t n = kvfs_reader_pread(r, data + off, size - off, off);

		if (n <= 0) {
			rc = n < 0 ? (int)n : kvfs_error_set(KVFS_EFAIL,
				"value shrank while being read");
			break;
		}
		off += (uint64_t)n;
	}
	if (rc == 0)
		rc = kvfs_buf_set(buf, data, (size_t)size);
	free(data);
	return rc;
}

/* Small values are served from (and fill) the cache through a reader over
 * a private copy; larger ones are the inner store's own reader. */
static int cache_open_reader(struct kvfs_backend *b, const char *key,
			     enum kvfs_consistency level,
			     struct kvfs_reader **out)
{
	struct cache *c = cache_of(b);
	struct kvfs_buf value = { 0 };
	struct kvfs_reader *inner = NULL;
	struct plan p;
	int rc;

	rc = try_serve(c, key, level, &value, &p);
	if (rc < 0)
		goto out_free_value;
	if (rc == 1)
		return kvfs_mem_reader_new(&value, out);
	rc = kvfs_store_open_reader(c->inner, key, level, &inner);
	if (rc)
		goto out_free_value;
	if (kvfs_reader_size(inner) > READER_CACHE_MAX ||
	    cost_of(strlen(key), true, kvfs_reader_size(inner)) >
		    c->max_entry) {
		*out = inner;
		return 0;
	}
	rc = slurp(inner, &value);
	kvfs_reader_close(inner);
	if (rc)
		goto out_free_value;
	fill_value(c, key, value.data, value.len, &p, false);
	return kvfs_mem_reader_new(&value, out);

out_free_value:
	kvfs_buf_free(&value);
	return rc;
}

/* ----------------------------------------------------------------- writers */

/* A writer of the inner store; commit invalidates the key afterwards. */
struct cache_writer {
	struct kvfs_writer base;
	struct cache *cache;
	struct kvfs_writer *inner;
	char *key;
};

static ssize_t cw_pwrite(struct kvfs_writer *w, const void *buf, size_t len,
			 uint64_t off)
{
	return kvfs_writer_pwrite(((struct cache_writer *)w)->inner, buf, len,
				  off);
}

static ssize_t cw_pread(struct kvfs_writer *w, void *buf, size_t len,
			uint64_t off)
{
	return kvfs_writer_pread(((struct cache_writer *)w)->inner, buf, len,
				 off);
}

static int cw_truncate(struct kvfs_writer *w, uint64_t size)
{
	return kvfs_writer_truncate(((struct cache_writer *)w)->inner, size);
}

static int cw_commit(struct kvfs_writer *w)
{
	struct cache_writer *cw = (struct cache_writer *)w;
	int rc = kvfs_writer_commit(cw->inner);

	invalidate(cw->cache, cw->key, false);
	free(cw->key);
	free(cw);
	return rc;
}

static void cw_abort(struct kvfs_writer *w)
{
	struct cache_writer *cw = (struct cache_writer *)w;

	kvfs_writer_abort(cw->inner);
	free(cw->key);
	free(cw);
}

static const struct kvfs_writer_ops cache_writer_ops = {
	.pwrite = cw_pwrite,
	.pread = cw_pread,
	.truncate = cw_truncate,
	.commit = cw_commit,
	.abort = cw_abort,
};

static int cache_open_writer(struct kvfs_backend *b, const char *key,
			     enum kvfs_consistency level,
			     struct kvfs_reader *base, struct kvfs_writer **out)
{
	struct cache *c = cache_of(b);
	struct cache_writer *cw = calloc(1, sizeof(*cw));
	int rc;

	if (!cw)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	cw->key = strdup(key);
	if (!cw->key) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free_writer;
	}
	rc = kvfs_store_open_writer(c->inner, key, level, base, &cw->inner);
	if (rc)
		goto out_free_writer;
	cw->base.ops = &cache_writer_ops;
	cw->base.size = kvfs_writer_size(cw->inner);
	cw->cache = c;
	*out = &cw->base;
	return 0;

out_free_writer:
	free(cw->key);
	free(cw);
	return rc;
}

/* ----------------------------------------------------------------- control */

/* Called by the inner backend's watch thread: drop what changed, then tell
 * the watcher registered on the cache, if any. */
static void inner_changed(void *ctx, const char *key)
{
	struct cache *c = ctx;
	struct kvfs_watch user;

	pthread_mutex_lock(&c->lock);
	if (key)
		invalidate_locked(c, key);
	else
		invalidate_tree_locked(c, "");
	user = c->user_watch;
	pthread_mutex_unlock(&c->lock);
	if (user.changed)
		user.changed(user.ctx, key);
}

static int stats_text(struct cache *c, struct kvfs_buf *buf)
{
	uint64_t hits, misses, evictions, bytes, entries;
	int rc;

	pthread_mutex_lock(&c->lock);
	hits = c->hits;
	misses = c->misses;
	evictions = c->evictions;
	bytes = c->bytes;
	entries = c->count;
	pthread_mutex_unlock(&c->lock);
	rc = kvfs_buf_appendf(buf,
		"cache_hits: %" PRIu64 "\ncache_misses: %" PRIu64 "\n"
		"cache_evictions: %" PRIu64 "\ncache_bytes: %" PRIu64 "\n"
		"cache_entries: %" PRIu64 "\ncache_size: %" PRIu64 "\n",
		hits, misses, evictions, bytes, entries, c->size);
	if (rc)
		return rc;
	rc = kvfs_store_control(c->inner, KVFS_CTL_STATS_TEXT, buf);
	return rc == KVFS_ENOTSUPPORTED ? 0 : rc;
}

static int cache_control(struct kvfs_backend *b, int op, void *arg)
{
	struct cache *c = cache_of(b);
	const struct kvfs_watch *w = arg;

	switch (op) {
	case KVFS_CTL_STATS_TEXT:
		return stats_text(c, arg);
	case KVFS_CTL_CAPS:
		/* What holds of the inner store holds through the cache: it
		 * writes through and drops what it changes, and its large
		 * readers are the inner store's own. */
		return kvfs_store_control(c->inner, op, arg);
	case KVFS_CTL_WATCH:
		if (!c->watching)
			return kvfs_store_control(c->inner, op, arg);
		pthread_mutex_lock(&c->lock);
		c->user_watch = *w;
		pthread_mutex_unlock(&c->lock);
		return 0;
	default:
		return kvfs_store_control(c->inner, op, arg);
	}
}

/* ------------------------------------------------------------ life cycle */

static void free_entries(struct cache *c)
{
	while (c->lru_head)
		remove_entry(c, c->lru_head);
}

static void cache_destroy(struct kvfs_backend *b)
{
	struct cache *c = cache_of(b);

	/* Closing the inner store first stops its watch callbacks. */
	kvfs_store_close(c->inner);
	free_entries(c);
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static const struct kvfs_backend_ops cache_ops = {
	.version = KVFS_BACKEND_VERSION,
	.name = "cache",
	.get = cache_get,
	.put = cache_put,
	.del = cache_del,
	.destroy = cache_destroy,
	.stat = cache_stat,
	.list = cache_list,
	.rename = cache_rename,
	.mkdir = cache_mkdir,
	.rmdir = cache_rmdir,
	.set_attr = cache_set_attr,
	.getxattr = cache_getxattr,
	.setxattr = cache_setxattr,
	.listxattr = cache_listxattr,
	.removexattr = cache_removexattr,
	.open_reader = cache_open_reader,
	.open_writer = cache_open_writer,
	.space = cache_space,
	.control = cache_control,
};

int kvfs_cache_open(struct kvfs_store *inner, struct kvfs_options *opts,
		    struct kvfs_backend **out)
{
	struct cache *c = NULL;
	uint64_t size, ttl;
	int rc;

	rc = kvfs_options_take_size(opts, "cache", 0, &size);
	if (rc == 0)
		rc = kvfs_options_take_ms(opts, "cache_ttl", DEFAULT_TTL_MS, &ttl);
	if (rc)
		return rc;
	if (size < 4096)
		return kvfs_error_set(KVFS_EINVAL,
			"option cache=%" PRIu64 ": the cache needs at least 4K",
			size);
	c = calloc(1, sizeof(*c));
	if (!c)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	c->nbuckets = 64;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	pthread_mutex_init(&c->lock, NULL);
	c->base.ops = &cache_ops;
	c->size = size;
	c->max_entry = size / 4;
	c->ttl_ms = ttl;
	c->inner = inner;
	c->inner_watch.changed = inner_changed;
	c->inner_watch.ctx = c;
	c->watching = kvfs_store_control(inner, KVFS_CTL_WATCH,
					 &c->inner_watch) == 0;
	*out = &c->base;
	return 0;
}
