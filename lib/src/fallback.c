/*
 * fallback.c - ranged I/O for backends that only have get and put: a
 * reader over the whole value in memory, and a writer that spools to an
 * unlinked temporary file and puts the whole value on commit. Backends
 * whose values are bounded (etcd, SQLite) need nothing more.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "store_internal.h"

struct mem_reader {
	struct kvfs_reader base;
	struct kvfs_buf value;
};

static ssize_t mem_pread(struct kvfs_reader *r, void *buf, size_t len,
			 uint64_t off)
{
	struct mem_reader *m = (struct mem_reader *)r;

	memcpy(buf, (char *)m->value.data + off, len);
	return (ssize_t)len;
}

static void mem_close(struct kvfs_reader *r)
{
	struct mem_reader *m = (struct mem_reader *)r;

	kvfs_buf_free(&m->value);
	free(m);
}

static const struct kvfs_reader_ops mem_reader_ops = {
	.pread = mem_pread,
	.close = mem_close,
};

int kvfs_mem_reader_new(struct kvfs_buf *value, struct kvfs_reader **out)
{
	struct mem_reader *m = calloc(1, sizeof(*m));

	if (!m) {
		kvfs_buf_free(value);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	m->base.ops = &mem_reader_ops;
	m->base.size = value->len;
	m->value = *value;
	value->data = NULL;
	value->len = 0;
	*out = &m->base;
	return 0;
}

int kvfs_fallback_open_reader(struct kvfs_backend *b, const char *key,
			      enum kvfs_consistency level,
			      struct kvfs_reader **out)
{
	struct kvfs_buf value = { 0 };
	int rc = b->ops->get(b, key, level, &value);

	return rc ? rc : kvfs_mem_reader_new(&value, out);
}

struct spool_writer {
	struct kvfs_writer base;
	struct kvfs_backend *backend;
	enum kvfs_consistency level;
	int fd;       /* unlinked temporary file holding the new value */
	char *key;
};

static ssize_t spool_pwrite(struct kvfs_writer *w, const void *buf,
			    size_t len, uint64_t off)
{
	struct spool_writer *s = (struct spool_writer *)w;
	ssize_t n = pwrite(s->fd, buf, len, (off_t)off);

	return n < 0 ? kvfs_error_from_errno(errno, "spool write") : n;
}

static ssize_t spool_pread(struct kvfs_writer *w, void *buf, size_t len,
			   uint64_t off)
{
	struct spool_writer *s = (struct spool_writer *)w;
	ssize_t n = pread(s->fd, buf, len, (off_t)off);

	return n < 0 ? kvfs_error_from_errno(errno, "spool read") : n;
}

static int spool_truncate(struct kvfs_writer *w, uint64_t size)
{
	struct spool_writer *s = (struct spool_writer *)w;

	if (ftruncate(s->fd, (off_t)size))
		return kvfs_error_from_errno(errno, "spool truncate");
	return 0;
}

static void spool_free(struct spool_writer *s)
{
	close(s->fd);
	free(s->key);
	free(s);
}

static int spool_commit(struct kvfs_writer *w)
{
	struct spool_writer *s = (struct spool_writer *)w;
	void *map = NULL;
	int rc;

	if (s->base.size > SIZE_MAX / 2) {
		rc = kvfs_error_set(KVFS_ETOOLARGE, "value of %s too large",
				    s->key);
		goto out_free;
	}
	if (s->base.size) {
		map = mmap(NULL, (size_t)s->base.size, PROT_READ, MAP_PRIVATE,
			   s->fd, 0);
		if (map == MAP_FAILED) {
			rc = kvfs_error_from_errno(errno, "spool map");
			goto out_free;
		}
	}
	rc = s->backend->ops->put(s->backend, s->key, map ? map : "",
				  (size_t)s->base.size, s->level);
	if (map)
		munmap(map, (size_t)s->base.size);
out_free:
	spool_free(s);
	return rc;
}

static void spool_abort(struct kvfs_writer *w)
{
	spool_free((struct spool_writer *)w);
}

static const struct kvfs_writer_ops spool_writer_ops = {
	.pwrite = spool_pwrite,
	.pread = spool_pread,
	.truncate = spool_truncate,
	.commit = spool_commit,
	.abort = spool_abort,
};

static int open_spool_file(void)
{
	const char *dir = getenv("TMPDIR");

	return open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC,
		    0600);
}

int kvfs_fallback_open_writer(struct kvfs_backend *b, const char *key,
			      enum kvfs_consistency level,
			      struct kvfs_reader *base,
			      struct kvfs_writer **out)
{
	struct spool_writer *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	s->fd = open_spool_file();
	if (s->fd < 0) {
		rc = kvfs_error_from_errno(errno, "temporary spool file");
		free(s);
		return rc;
	}
	s->key = strdup(key);
	s->backend = b;
	s->level = level;
	s->base.ops = &spool_writer_ops;
	if (!s->key) {
		spool_free(s);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	rc = kvfs_writer_copy_from(&s->base, base);
	if (rc) {
		spool_free(s);
		return rc;
	}
	*out = &s->base;
	return 0;
}
