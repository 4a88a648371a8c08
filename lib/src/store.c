/*
 * store.c - the store: the only code that calls through a backend's
 * vtable. Each wrapper checks the key and the level, calls the backend or
 * its fallback when an optional method is NULL, and records the call in
 * the per-level statistics. Tracing, asserts and fault injection belong
 * here too: with faults=PATH (faults.c), each wrapper asks first whether
 * to fail the call instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_internal.h"

/* Latency histogram: bucket i holds calls of about 2^(i/4) microseconds. */
#define LATENCY_BUCKETS 128

struct level_counters {
	atomic_uint_least64_t ops;
	atomic_uint_least64_t errors;
	atomic_uint_least64_t not_found;
	atomic_uint_least64_t refused;
	atomic_uint_least64_t max_us;
	atomic_uint_least64_t buckets[LATENCY_BUCKETS];
};

struct kvfs_store {
	struct kvfs_backend *backend;
	struct kvfs_faults *faults; /* NULL unless opened with faults=PATH */
	struct level_counters levels[KVFS_CONSISTENCY_COUNT];
};

int kvfs_backend_check(const struct kvfs_backend *backend)
{
	const struct kvfs_backend_ops *ops = backend ? backend->ops : NULL;

	if (!ops)
		return kvfs_error_set(KVFS_EINVAL, "backend has no vtable");
	if (ops->version < 1 || ops->version > KVFS_BACKEND_VERSION)
		return kvfs_error_set(KVFS_EINVAL,
			"backend '%s' has vtable version %u; this library "
			"knows versions 1 to %u",
			ops->name ? ops->name : "?", ops->version,
			KVFS_BACKEND_VERSION);
	if (!ops->name || !ops->get || !ops->put || !ops->del ||
	    !ops->destroy)
		return kvfs_error_set(KVFS_EINVAL,
			"backend '%s' lacks a required method (name, get, "
			"put, del, destroy)", ops->name ? ops->name : "?");
	return 0;
}

int kvfs_store_from_backend(struct kvfs_backend *backend,
			    struct kvfs_store **out)
{
	struct kvfs_store *store;
	int rc = kvfs_backend_check(backend);

	if (rc)
		return rc;
	store = calloc(1, sizeof(*store));
	if (!store)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	store->backend = backend;
	*out = store;
	return 0;
}

/* With cache=SIZE (not 0) in opts, the opened backend is wrapped in the
 * cache backend (cache.c, lib/docs/cache.md), whatever backend it is.
 * With faults=PATH, the calls to the opened backend (below the cache)
 * fail as the rules in PATH say (faults.c, lib/docs/faults.md). */
int kvfs_store_open(struct kvfs_options *opts, struct kvfs_store **out)
{
	struct kvfs_backend *backend = NULL, *cache = NULL;
	struct kvfs_store *inner = NULL;
	struct kvfs_faults *faults = NULL;
	const char *name = kvfs_options_take(opts, "backend");
	const char *cache_size = kvfs_options_peek(opts, "cache");
	const char *faults_path = kvfs_options_take(opts, "faults");
	int rc;

	if (!cache_size && kvfs_options_peek(opts, "cache_ttl"))
		return kvfs_error_set(KVFS_EINVAL,
			"option cache_ttl needs cache=SIZE as well");
	if (cache_size && !strcmp(cache_size, "0")) {
		kvfs_options_take(opts, "cache");
		kvfs_options_take(opts, "cache_ttl");
		cache_size = NULL;
	}
	if (faults_path && (rc = kvfs_faults_open(faults_path, &faults)))
		return rc;
	rc = kvfs_registry_open(name ? name : "local", opts, &backend);
	if (rc) {
		kvfs_faults_close(faults);
		return rc;
	}
	rc = kvfs_store_from_backend(backend, cache_size ? &inner : out);
	if (rc) {
		backend->ops->destroy(backend);
		kvfs_faults_close(faults);
		return rc;
	}
	(cache_size ? inner : *out)->faults = faults;
	if (!cache_size)
		return 0;
	rc = kvfs_cache_open(inner, opts, &cache);
	if (rc) {
		kvfs_store_close(inner);
		return rc;
	}
	rc = kvfs_store_from_backend(cache, out);
	if (rc)
		cache->ops->destroy(cache);
	return rc;
}

void kvfs_store_close(struct kvfs_store *store)
{
	if (!store)
		return;
	store->backend->ops->destroy(store->backend);
	kvfs_faults_close(store->faults);
	free(store);
}

const char *kvfs_store_backend_name(const struct kvfs_store *store)
{
	return store->backend->ops->name;
}

unsigned int kvfs_store_caps(struct kvfs_store *store)
{
	unsigned int caps = 0;

	if (kvfs_store_control(store, KVFS_CTL_CAPS, &caps) != 0)
		return 0;
	return caps;
}

struct kvfs_backend *kvfs_store_backend(struct kvfs_store *store)
{
	return store->backend;
}

/* ------------------------------------------------------------ statistics */

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static unsigned int bucket_of(uint64_t us)
{
	unsigned int b = (unsigned int)(log2((double)us + 1.0) * 4.0);

	return b < LATENCY_BUCKETS ? b : LATENCY_BUCKETS - 1;
}

static uint64_t bucket_upper_us(unsigned int b)
{
	return (uint64_t)ceil(exp2((double)(b + 1) / 4.0) - 1.0);
}

/* Which count a failed call goes to: answers that a name or attribute is
 * not there (every lookup of a new name gets one) and requests refused
 * for what they asked are told apart from failures of the store. */
static atomic_uint_least64_t *counter_of(struct level_counters *c, int rc)
{
	switch (rc) {
	case KVFS_ENOTFOUND:
	case KVFS_ENODATA:
		return &c->not_found;
	case KVFS_EEXISTS:
	case KVFS_ENOTEMPTY:
	case KVFS_EISDIR:
	case KVFS_ENOTDIR:
	case KVFS_EINVALKEY:
	case KVFS_ENAMETOOLONG:
	case KVFS_ETOOLARGE:
	case KVFS_ENOTSUPPORTED:
	case KVFS_EINVAL:
		return &c->refused;
	default:
		return &c->errors;
	}
}

/* Record one call at `level` that began at t0 and returned rc; return rc
 * so that wrappers can `return op_end(...)`. */
static int op_end(struct kvfs_store *store, enum kvfs_consistency level,
		  uint64_t t0, int rc)
{
	struct level_counters *c = &store->levels[level];
	uint64_t us = now_us() - t0;
	uint64_t seen = atomic_load(&c->max_us);

	atomic_fetch_add(&c->ops, 1);
	if (rc < 0)
		atomic_fetch_add(counter_of(c, rc), 1);
	atomic_fetch_add(&c->buckets[bucket_of(us)], 1);
	while (us > seen && !atomic_compare_exchange_weak(&c->max_us, &seen, us))
		;
	return rc;
}

static uint64_t percentile(const struct level_counters *c, uint64_t total,
			   double fraction)
{
	uint64_t want = (uint64_t)ceil((double)total * fraction), seen = 0;

	for (unsigned int b = 0; b < LATENCY_BUCKETS; b++) {
		seen += atomic_load(&c->buckets[b]);
		if (seen >= want && seen > 0)
			return bucket_upper_us(b);
	}
	return 0;
}

void kvfs_store_level_stats(struct kvfs_store *store,
			    enum kvfs_consistency level,
			    struct kvfs_level_stats *out)
{
	const struct level_counters *c;
	uint64_t total = 0;

	memset(out, 0, sizeof(*out));
	if ((unsigned int)level >= KVFS_CONSISTENCY_COUNT)
		return;
	c = &store->levels[level];
	for (unsigned int b = 0; b < LATENCY_BUCKETS; b++)
		total += atomic_load(&c->buckets[b]);
	out->ops = atomic_load(&c->ops);
	out->errors = atomic_load(&c->errors);
	out->not_found = atomic_load(&c->not_found);
	out->refused = atomic_load(&c->refused);
	out->latency_us_max = atomic_load(&c->max_us);
	/* A bucket's upper bound can exceed the largest call seen. */
	out->latency_us_p50 = percentile(c, total, 0.50);
	out->latency_us_p99 = percentile(c, total, 0.99);
	if (out->latency_us_p50 > out->latency_us_max)
		out->latency_us_p50 = out->latency_us_max;
	if (out->latency_us_p99 > out->latency_us_max)
		out->latency_us_p99 = out->latency_us_max;
}

/* -------------------------------------------------------- argument checks */

/* 0, or the error an injected fault fails the call `op` on key with. */
static int fault(struct kvfs_store *store, const char *op, const char *key)
{
	return store->faults ? kvfs_faults_hit(store->faults, op, key) : 0;
}

static int check_level(enum kvfs_consistency level)
{
	if ((unsigned int)level >= KVFS_CONSISTENCY_COUNT)
		return kvfs_error_set(KVFS_EINVAL,
			"invalid consistency level %d", (int)level);
	return 0;
}

static int check_key_level(const char *key, enum kvfs_consistency level)
{
	int rc = check_level(level);

	return rc ? rc : kvfs_key_check(key);
}

static int check_dir_level(const char *key, enum kvfs_consistency level)
{
	int rc = check_level(level);

	return rc ? rc : kvfs_key_check_dir(key);
}

static int not_supported(const struct kvfs_store *store, const char *what)
{
	return kvfs_error_set(KVFS_ENOTSUPPORTED,
		"the %s backend does not support %s",
		store->backend->ops->name, what);
}

/* ------------------------------------------------------ value operations */

int kvfs_store_get(struct kvfs_store *store, const char *key,
		   enum kvfs_consistency level, struct kvfs_buf *out)
{
	uint64_t t0 = now_us();
	int rc = check_key_level(key, level);

	if (rc)
		return rc;
	rc = fault(store, "get", key);
	if (rc)
		return op_end(store, level, t0, rc);
	return op_end(store, level, t0,
		      store->backend->ops->get(store->backend, key, level, out));
}

int kvfs_store_put(struct kvfs_store *store, const char *key,
		   const void *value, size_t len, enum kvfs_consistency level)
{
	uint64_t t0 = now_us();
	int rc = check_key_level(key, level);

	if (rc)
		return rc;
	rc = fault(store, "put", key);
	if (rc)
		return op_end(store, level, t0, rc);
	return op_end(store, level, t0,
		      store->backend->ops->put(store->backend, key, value, len,
					       level));
}

int kvfs_store_delete(struct kvfs_store *store, const char *key,
		      enum kvfs_consistency level)
{
	uint64_t t0 = now_us();
	int rc = check_key_level(key, level);

	if (rc)
		return rc;
	rc = fault(store, "delete", key);
	if (rc)
		return op_end(store, level, t0, rc);
	return op_end(store, level, t0,
		      store->backend->ops->del(store->backend, key, level));
}

/* stat for a backend that only has get: a file of the value's size. */
static int stat_by_get(struct kvfs_backend *b, const char *key,
		       enum kvfs_consistency level, struct kvfs_stat *st)
{
	struct kvfs_buf value = { 0 };
	int rc = b->ops->get(b, key, level, &value);

	if (rc)
		return rc;
	memset(st, 0, sizeof(*st));
	st->kind = KVFS_KIND_FILE;
	st->size = value.len;
	kvfs_buf_free(&value);
	return 0;
}

int kvfs_store_stat(struct kvfs_store *store, const char *key,
		    enum kvfs_consistency level, struct kvfs_stat *st)
{
	struct kvfs_backend *b = store->backend;
	uint64_t t0 = now_us();
	int rc = check_dir_level(key, level);

	if (rc)
		return rc;
	/* A version 1 backend fills only the fields before `valid`. */
	memset(st, 0, sizeof(*st));
	rc = fault(store, "stat", key);
	if (rc == 0 && b->ops->stat)
		rc = b->ops->stat(b, key, level, st);
	else if (rc == 0 && !key[0])
		rc = not_supported(store, "stat of the root");
	else if (rc == 0)
		rc = stat_by_get(b, key, level, st);
	return op_end(store, level, t0, rc);
}

int kvfs_store_mkdir(struct kvfs_store *store, const char *key,
		     uint32_t mode, enum kvfs_consistency level)
{
	uint64_t t0 = now_us();
	int rc = check_key_level(key, level);

	if (rc)
		return rc;
	if (!store->backend->ops->mkdir)
		return not_supported(store, "directories");
	rc = fault(store, "mkdir", key);
	if (rc)
		return op_end(store, level, t0, rc);
	return op_end(store, level, t0,
		      store->backend->ops->mkdir(store->backend, key, mode,
						 level));
}

int kvfs_store_rmdir(struct kvfs_store *store, const char *key,
		     enum kvfs_consistency level)
{
	uint64_t t0 = now_us();
	int rc = check_key_level(key, level);

	if (rc)
		return rc;
	if (!store->backend->ops->rmdir)
		return not_supported(store, "directories");
	rc = fault(store, "rmdir", key);
	if (rc)
		return op_end(store, level, t0, rc);
	return op_end(store, level, t0,
		      store->backend->ops->rmdir(store->backend, key, level));
}

/* rename for a backend without one: copy then delete. Not atomic: a crash
 * in between leaves both keys; documented in README.md. */
static int rename_by_copy(struct kvfs_backend *b, const char *from,
			  const char *to, unsigned int flags,
			  enum kvfs_consistency level)
{
	struct kvfs_buf value = { 0 }, existing = { 0 };
	int rc;

	if (flags & KVFS_RENAME_NOREPLACE) {
		rc = b->ops->get(b, to, level, &existing);
		kvfs_buf_free(&existing);
		if (rc == 0)
			return kvfs_error_set(KVFS_EEXISTS, "%s exists", to);
		if (rc != KVFS_ENOTFOUND)
			return rc;
	}
	rc = b->ops->get(b, from, level, &value);
	if (rc)
		return rc;
	rc = b->ops->put(b, to, value.data, value.len, level);
	if (rc == 0)
		rc = b->ops->del(b, from, level);
	kvfs_buf_free(&value);
	return rc;
}

int kvfs_store_rename(struct kvfs_store *store, const char *from,
		      const char *to, unsigned int flags,
		      enum kvfs_consistency level)
{
	struct kvfs_backend *b = store->backend;
	uint64_t t0 = now_us();
	int rc = check_key_level(from, level);

	if (rc == 0)
		rc = kvfs_key_check(to);
	if (rc)
		return rc;
	if (flags & ~KVFS_RENAME_NOREPLACE)
		return kvfs_error_set(KVFS_EINVAL, "unknown rename flags %#x",
				      flags);
	rc = fault(store, "rename", from);
	if (rc == 0 && b->ops->rename)
		rc = b->ops->rename(b, from, to, flags, level);
	else if (rc == 0)
		rc = rename_by_copy(b, from, to, flags, level);
	return op_end(store, level, t0, rc);
}

int kvfs_store_set_attr(struct kvfs_store *store, const char *key,
			unsigned int fields, uint32_t mode,
			const struct timespec *times,
			enum kvfs_consistency level)
{
	uint64_t t0 = now_us();
	int rc = check_dir_level(key, level);

	if (rc)
		return rc;
	if ((fields & (KVFS_ATTR_MTIME | KVFS_ATTR_ATIME)) && !times)
		return kvfs_error_set(KVFS_EINVAL, "set_attr: times is NULL");
	if (store->backend->ops->version < 2)
		fields &= ~KVFS_ATTR_ATIME; /* unknown to it */
	if (!store->backend->ops->set_attr)
		return not_supported(store, "changing modes and times");
	rc = fault(store, "set_attr", key);
	if (rc)
		return op_end(store, level, t0, rc);
	return op_end(store, level, t0,
		      store->backend->ops->set_attr(store->backend, key, fields,
						    mode, times, level));
}

/* ------------------------------------------------------------- xattrs */

static int check_xattr_name(const char *name)
{
	if (!name || !name[0])
		return kvfs_error_set(KVFS_EINVAL, "empty attribute name");
	if (strlen(name) > KVFS_NAME_MAX)
		return kvfs_error_set(KVFS_ENAMETOOLONG,
			"attribute name over 255 bytes");
	return 0;
}

int kvfs_store_getxattr(struct kvfs_store *store, const char *key,
			const char *name, struct kvfs_buf *out)
{
	int rc = kvfs_key_check_dir(key);

	if (rc == 0)
		rc = check_xattr_name(name);
	if (rc)
		return rc;
	if (!store->backend->ops->getxattr)
		return not_supported(store, "extended attributes");
	rc = fault(store, "getxattr", key);
	if (rc)
		return rc;
	return store->backend->ops->getxattr(store->backend, key, name, out);
}

int kvfs_store_setxattr(struct kvfs_store *store, const char *key,
			const char *name, const void *value, size_t len,
			unsigned int flags)
{
	int rc = kvfs_key_check_dir(key);

	if (rc == 0)
		rc = check_xattr_name(name);
	if (rc)
		return rc;
	if (!store->backend->ops->setxattr)
		return not_supported(store, "extended attributes");
	rc = fault(store, "setxattr", key);
	if (rc)
		return rc;
	return store->backend->ops->setxattr(store->backend, key, name, value,
					     len, flags);
}

int kvfs_store_listxattr(struct kvfs_store *store, const char *key,
			 struct kvfs_buf *out)
{
	int rc = kvfs_key_check_dir(key);

	if (rc)
		return rc;
	if (!store->backend->ops->listxattr)
		return not_supported(store, "extended attributes");
	rc = fault(store, "listxattr", key);
	if (rc)
		return rc;
	return store->backend->ops->listxattr(store->backend, key, out);
}

int kvfs_store_removexattr(struct kvfs_store *store, const char *key,
			   const char *name)
{
	int rc = kvfs_key_check_dir(key);

	if (rc == 0)
		rc = check_xattr_name(name);
	if (rc)
		return rc;
	if (!store->backend->ops->removexattr)
		return not_supported(store, "extended attributes");
	rc = fault(store, "removexattr", key);
	if (rc)
		return rc;
	return store->backend->ops->removexattr(store->backend, key, name);
}

/* ------------------------------------------------------------- listing */

int kvfs_store_list(struct kvfs_store *store, const char *key,
		    enum kvfs_consistency level, struct kvfs_lister **out)
{
	uint64_t t0 = now_us();
	int rc = check_dir_level(key, level);

	if (rc)
		return rc;
	if (!store->backend->ops->list)
		return not_supported(store, "listing");
	rc = fault(store, "list", key);
	if (rc)
		return op_end(store, level, t0, rc);
	return op_end(store, level, t0,
		      store->backend->ops->list(store->backend, key, level, out));
}

int kvfs_lister_next(struct kvfs_lister *lister, struct kvfs_dirent *ent)
{
	return lister->ops->next(lister, ent);
}

void kvfs_lister_close(struct kvfs_lister *lister)
{
	if (lister)
		lister->ops->close(lister);
}

/* ------------------------------------------------------ readers, writers */

int kvfs_store_open_reader(struct kvfs_store *store, const char *key,
			   enum kvfs_consistency level,
			   struct kvfs_reader **out)
{
	struct kvfs_backend *b = store->backend;
	uint64_t t0 = now_us();
	int rc = check_key_level(key, level);

	if (rc)
		return rc;
	rc = fault(store, "open_reader", key);
	if (rc == 0 && b->ops->open_reader)
		rc = b->ops->open_reader(b, key, level, out);
	else if (rc == 0)
		rc = kvfs_fallback_open_reader(b, key, level, out);
	return op_end(store, level, t0, rc);
}

ssize_t kvfs_reader_pread(struct kvfs_reader *reader, void *buf, size_t len,
			  uint64_t off)
{
	if (off >= reader->size || len == 0)
		return 0;
	if (len > reader->size - off)
		len = (size_t)(reader->size - off);
	return reader->ops->pread(reader, buf, len, off);
}

uint64_t kvfs_reader_size(const struct kvfs_reader *reader)
{
	return reader->size;
}

void kvfs_reader_close(struct kvfs_reader *reader)
{
	if (reader)
		reader->ops->close(reader);
}

int kvfs_store_open_writer(struct kvfs_store *store, const char *key,
			   enum kvfs_consistency level,
			   struct kvfs_reader *base, struct kvfs_writer **out)
{
	struct kvfs_backend *b = store->backend;
	int rc = check_key_level(key, level);

	if (rc)
		return rc;
	rc = fault(store, "open_writer", key);
	if (rc == 0 && b->ops->open_writer)
		rc = b->ops->open_writer(b, key, level, base, out);
	else if (rc == 0)
		rc = kvfs_fallback_open_writer(b, key, level, base, out);
	if (rc == 0) {
		(*out)->store = store;
		(*out)->level = level;
	}
	return rc;
}

ssize_t kvfs_writer_pwrite(struct kvfs_writer *writer, const void *buf,
			   size_t len, uint64_t off)
{
	ssize_t n;

	if (len == 0)
		return 0;
	if (writer->store && (n = fault(writer->store, "writer_pwrite", NULL)))
		return n;
	n = writer->ops->pwrite(writer, buf, len, off);
	if (n > 0 && off + (uint64_t)n > writer->size)
		writer->size = off + (uint64_t)n;
	return n;
}

/* Bytes a writer without a lent file takes from fd at a time. */
#define BOUNCE_MAX (256u * 1024)

static ssize_t write_from_fd(struct kvfs_writer *writer, int fd, size_t len,
			     uint64_t off)
{
	size_t size = len < BOUNCE_MAX ? len : BOUNCE_MAX, done = 0;
	char *buf = malloc(size);
	ssize_t n;

	if (!buf)
		return kvfs_error_from_errno(ENOMEM, "write");
	do
		n = read(fd, buf, size);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		n = kvfs_error_from_errno(errno, "read");
	/* What was read is gone from fd: all of it goes in, or it fails. */
	while (n > 0 && done < (size_t)n) {
		ssize_t w = kvfs_writer_pwrite(writer, buf + done,
					       (size_t)n - done, off + done);

		if (w <= 0) {
			n = w < 0 ? w : kvfs_error_set(KVFS_EFAIL,
						"the backend wrote nothing");
			break;
		}
		done += (size_t)w;
	}
	free(buf);
	return n;
}

ssize_t kvfs_writer_pwrite_from(struct kvfs_writer *writer, int fd,
				size_t len, uint64_t off)
{
	struct kvfs_writer_fd wf = { .writer = writer, .fd = -1 };
	loff_t at = (loff_t)off;
	ssize_t n;

	if (len == 0)
		return 0;
	if (writer->store && (n = fault(writer->store, "writer_pwrite", NULL)))
		return n;
	if (kvfs_store_control(writer->store, KVFS_CTL_WRITER_FD, &wf) != 0)
		return write_from_fd(writer, fd, len, off);
	do
		n = splice(fd, NULL, wf.fd, &at, len, 0);
	while (n < 0 && errno == EINTR);
	/* EINVAL: fd is not a pipe, or the file takes no splice. */
	if (n < 0 && errno == EINVAL)
		return write_from_fd(writer, fd, len, off);
	if (n < 0)
		return kvfs_error_from_errno(errno, "write");
	if (off + (uint64_t)n > writer->size)
		writer->size = off + (uint64_t)n;
	return n;
}

ssize_t kvfs_writer_pread(struct kvfs_writer *writer, void *buf, size_t len,
			  uint64_t off)
{
	if (off >= writer->size || len == 0)
		return 0;
	if (len > writer->size - off)
		len = (size_t)(writer->size - off);
	return writer->ops->pread(writer, buf, len, off);
}

int kvfs_writer_truncate(struct kvfs_writer *writer, uint64_t size)
{
	int rc = writer->store ? fault(writer->store, "writer_truncate", NULL)
			       : 0;

	if (rc == 0)
		rc = writer->ops->truncate(writer, size);
	if (rc == 0)
		writer->size = size;
	return rc;
}

uint64_t kvfs_writer_size(const struct kvfs_writer *writer)
{
	return writer->size;
}

/* A commit is the write of the whole value: it counts as one operation at
 * the writer's level. */
int kvfs_writer_commit(struct kvfs_writer *writer)
{
	struct kvfs_store *store = writer->store;
	enum kvfs_consistency level = writer->level;
	uint64_t t0 = now_us();
	int rc = store ? fault(store, "writer_commit", NULL) : 0;

	/* A failed commit frees the writer: so does an injected one. */
	if (rc)
		writer->ops->abort(writer);
	else
		rc = writer->ops->commit(writer);

	return store ? op_end(store, level, t0, rc) : rc;
}

void kvfs_writer_abort(struct kvfs_writer *writer)
{
	if (writer)
		writer->ops->abort(writer);
}

int kvfs_writer_copy_from(struct kvfs_writer *w, struct kvfs_reader *base)
{
	enum { CHUNK = 1 << 20 };
	char *chunk;
	uint64_t off = 0;
	int rc = 0;

	if (!base || base->size == 0)
		return 0;
	chunk = malloc(CHUNK);
	if (!chunk)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	while (off < base->size) {
		ssize_t n = kvfs_reader_pread(base, chunk, CHUNK, off);

		if (n <= 0) {
			rc = n < 0 ? (int)n : kvfs_error_set(KVFS_EFAIL,
				"value shrank while being copied");
			break;
		}
		if (kvfs_writer_pwrite(w, chunk, (size_t)n, off) != n) {
			rc = kvfs_error_set(KVFS_EFAIL, "copy into writer failed");
			break;
		}
		off += (uint64_t)n;
	}
	free(chunk);
	return rc;
}

/* ---------------------------------------------------------- other calls */

int kvfs_store_space(struct kvfs_store *store, struct kvfs_space *space)
{
	int rc;

	if (!store->backend->ops->space)
		return not_supported(store, "space figures");
	/* A version 1 backend fills only the fields before `valid`. */
	memset(space, 0, sizeof(*space));
	rc = fault(store, "space", NULL);
	return rc ? rc : store->backend->ops->space(store->backend, space);
}

int kvfs_store_control(struct kvfs_store *store, int op, void *arg)
{
	if (!store->backend->ops->control)
		return not_supported(store, "this control");
	return store->backend->ops->control(store->backend, op, arg);
}
