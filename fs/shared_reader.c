/*
 * shared_reader.c - one snapshot read through several readers.
 *
 * A value whose name was replaced by rename(2) stays readable for the
 * kernel's node of it (kvfs_fs_keep_snapshots), as a replaced file stays
 * readable on a POSIX filesystem, and every handle opened on that node
 * reads it. A backend reader has one owner, so this wraps it: each
 * shared reader is a kvfs_reader of its own, forwarding to one inner
 * reader that the last of them closes. Callers serialise reads the way
 * they do for any reader (under the inode's lock); the count is atomic,
 * so readers of one value may be closed from any thread.
 */
#include <stdlib.h>

#include "kvfs_fs.h"

struct shared_value {
	struct kvfs_reader *inner;
	unsigned long refs; /* atomic */
};

struct shared_reader {
	struct kvfs_reader base;
	struct shared_value *value;
};

static ssize_t shared_pread(struct kvfs_reader *r, void *buf, size_t len,
			    uint64_t off)
{
	struct shared_reader *s = (struct shared_reader *)r;

	return kvfs_reader_pread(s->value->inner, buf, len, off);
}

static void shared_close(struct kvfs_reader *r)
{
	struct shared_reader *s = (struct shared_reader *)r;

	if (!__atomic_sub_fetch(&s->value->refs, 1, __ATOMIC_ACQ_REL)) {
		kvfs_reader_close(s->value->inner);
		free(s->value);
	}
	free(s);
}

static const struct kvfs_reader_ops shared_ops = {
	.pread = shared_pread,
	.close = shared_close,
};

static struct kvfs_reader *share_value(struct shared_value *v)
{
	struct shared_reader *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->base.ops = &shared_ops;
	s->base.size = kvfs_reader_size(v->inner);
	s->value = v;
	__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
	return &s->base;
}

struct kvfs_reader *kvfs_fs_reader_share(struct kvfs_reader **reader)
{
	struct shared_value *v;
	struct kvfs_reader *first;

	if ((*reader)->ops == &shared_ops)
		return share_value(((struct shared_reader *)*reader)->value);
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->inner = *reader;
	first = share_value(v);
	if (!first) {
		free(v);
		return NULL;
	}
	*reader = first;
	return share_value(v);
}
