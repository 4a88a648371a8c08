/*
 * journal.c - the eventual journal of the etcd backend: each eventual put
 * or delete is one file in the journal directory, fsync'd and renamed
 * into place (with the directory fsync'd) before the write is
 * acknowledged. A replication thread sends the entries to etcd in
 * sequence order and removes each file (fsync'ing the directory) once
 * etcd acknowledged it, so a crash can at worst send the oldest entry a
 * second time, never an older entry after a newer one. Entries left by a
 * crash are loaded and replicated at the next open.
 *
 * Entry file <seq as 16 hex digits>.ent:
 *   "KVJ1" op(1) 0(3) seq(8) mtime_sec(8) mtime_nsec(4) keylen(4)
 *   vallen(8) key value crc32(4)      (integers little-endian)
 * An attribute change (chmod, utimes of an eventual file) has op 3 and
 * the value fields(4) mode(4) mtime_sec(8) mtime_nsec(4) atime_sec(8)
 * atime_nsec(4); entries written before atimes were kept end after the
 * mtime.
 *
 * DIR/lock is flock'ed by the one mount that uses the journal and holds
 * its pid, for the refusal a second mount gets.
 *
 * Locks: append_lock (one append at a time, so file order is list order)
 * is taken before lock (the list and its index, counters, the stop flag).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "etcd_internal.h"
#include "journal_index.h"
#include "store_internal.h"

#define HEADER_SIZE 40
#define ATTR_SIZE 32
#define ATTR_SIZE_V1 20 /* without the atime */
#define RETRY_MS 500

struct etcd_journal {
	struct etcd *e;
	char *dir;
	int dirfd;
	int lockfd;
	pthread_mutex_t append_lock;
	pthread_mutex_t lock;
	pthread_cond_t changed;  /* entries added or removed, or stop */
	/* Protected by lock: */
	struct jentry *head, *tail;
	struct jindex *index;    /* the same entries by key */
	size_t count;
	uint64_t bytes;
	uint64_t next_seq;
	uint64_t replicated, failed;
	bool stop;
	bool waiting;            /* the cluster refused the head entry */
	char last_error[256];
	pthread_t thread;
	bool thread_started;
};

/* ---------------------------------------------------------------- crc */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc_update(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ------------------------------------------------------------- files */

static void entry_name(char name[32], uint64_t seq)
{
	snprintf(name, 32, "%016" PRIx64 ".ent", seq);
}

static int write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Write entry seq durably: temp file, fsync, rename, fsync directory. */
static int write_entry(struct etcd_journal *j, const struct jentry *ent,
		       const void *value, size_t len)
{
	unsigned char head[HEADER_SIZE], tail[4];
	size_t klen = strlen(ent->key);
	char tmp[40], name[32];
	struct iovec iov[4];
	uint32_t crc;
	int fd, err;

	memcpy(head, "KVJ1", 4);
	head[4] = (unsigned char)ent->op;
	head[5] = head[6] = head[7] = 0;
	put_le(head + 8, ent->seq, 8);
	put_le(head + 16, (uint64_t)ent->mtime.tv_sec, 8);
	put_le(head + 24, (uint64_t)ent->mtime.tv_nsec, 4);
	put_le(head + 28, klen, 4);
	put_le(head + 32, len, 8);
	crc = crc_update(0, head, sizeof(head));
	crc = crc_update(crc, ent->key, klen);
	crc = crc_update(crc, value, len);
	put_le(tail, crc, 4);
	iov[0] = (struct iovec){ head, sizeof(head) };
	iov[1] = (struct iovec){ ent->key, klen };
	iov[2] = (struct iovec){ (void *)value, len };
	iov[3] = (struct iovec){ tail, sizeof(tail) };
	snprintf(tmp, sizeof(tmp), ".tmp-%016" PRIx64, ent->seq);
	entry_name(name, ent->seq);
	fd = openat(j->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return kvfs_error_from_errno(errno, "etcd journal entry");
	err = write_all(fd, iov, 4);
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && renameat(j->dirfd, tmp, j->dirfd, name))
		err = -errno;
	if (!err && fsync(j->dirfd))
		err = -errno;
	if (err) {
		unlinkat(j->dirfd, tmp, 0);
		unlinkat(j->dirfd, name, 0);
		return kvfs_error_from_errno(-err, "etcd journal entry");
	}
	return 0;
}

/* Read and check entry file `name`: the entry (if ent is not NULL) and
 * its value (if value is not NULL). KVFS_EFAIL when corrupt. */
static int read_entry(struct etcd_journal *j, const char *name,
		      struct jentry *ent, struct kvfs_buf *value)
{
	int fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
	unsigned char *data = NULL, *p;
	struct stat st;
	uint64_t klen, vlen;
	size_t got = 0;
	int rc = 0;

	if (fd < 0)
		return kvfs_error_from_errno(errno, name);
	if (fstat(fd, &st) || st.st_size < HEADER_SIZE + 4 ||
	    !(data = malloc((size_t)st.st_size))) {
		close(fd);
		return kvfs_error_set(KVFS_EFAIL, "journal entry %s/%s: "
				      "cannot read", j->dir, name);
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	p = data;
	klen = get_le(p + 28, 4);
	vlen = get_le(p + 32, 8);
	if (got != (size_t)st.st_size || memcmp(p, "KVJ1", 4) ||
	    klen > got || vlen > got || /* no wrap-around in the sum */
	    HEADER_SIZE + klen + vlen + 4 != got ||
	    crc_update(0, p, got - 4) != (uint32_t)get_le(p + got - 4, 4) ||
	    (p[4] != ETCD_JOURNAL_PUT && p[4] != ETCD_JOURNAL_DEL &&
	     p[4] != ETCD_JOURNAL_ATTR) ||
	    (p[4] == ETCD_JOURNAL_ATTR && vlen != ATTR_SIZE &&
	     vlen != ATTR_SIZE_V1)) {
		rc = kvfs_error_set(KVFS_EFAIL, "journal entry %s/%s is "
				    "corrupt", j->dir, name);
		goto out_free;
	}
	if (ent) {
		ent->op = p[4];
		ent->seq = get_le(p + 8, 8);
		ent->mtime.tv_sec = (time_t)get_le(p + 16, 8);
		ent->mtime.tv_nsec = (long)get_le(p + 24, 4);
		ent->size = vlen;
		ent->key = strndup((char *)p + HEADER_SIZE, (size_t)klen);
		if (ent->op == ETCD_JOURNAL_ATTR) {
			const unsigned char *v = p + HEADER_SIZE + klen;

			ent->size = 0;
			ent->attr_fields = (unsigned int)get_le(v, 4);
			ent->attr_mode = (uint32_t)get_le(v + 4, 4);
			ent->attr_mtime.tv_sec = (time_t)get_le(v + 8, 8);
			ent->attr_mtime.tv_nsec = (long)get_le(v + 16, 4);
			if (vlen == ATTR_SIZE) {
				ent->attr_atime.tv_sec =
					(time_t)get_le(v + 20, 8);
				ent->attr_atime.tv_nsec =
					(long)get_le(v + 28, 4);
			} else {
				ent->attr_fields &= ~KVFS_ATTR_ATIME;
			}
		}
		if (!ent->key)
			rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	if (rc == 0 && value)
		rc = kvfs_buf_set(value, p + HEADER_SIZE + klen, (size_t)vlen);
out_free:
	free(data);
	return rc;
}

/* Move an entry etcd can never take to failed/, keeping it for a human. */
static void move_to_failed(struct etcd_journal *j, const char *name)
{
	int fd;

	mkdirat(j->dirfd, "failed", 0700);
	fd = openat(j->dirfd, "failed", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || renameat(j->dirfd, name, fd, name))
		unlinkat(j->dirfd, name, 0);
	if (fd >= 0)
		close(fd);
	fsync(j->dirfd);
}

/* ------------------------------------------------------------- list */

static void entry_free(struct jentry *ent)
{
	if (ent) {
		free(ent->key);
		free(ent);
	}
}

/* Append to the list; caller holds lock. */
static void list_add(struct etcd_journal *j, struct jentry *ent)
{
	ent->next = NULL;
	if (j->tail)
		j->tail->next = ent;
	else
		j->head = ent;
	j->tail = ent;
	j->count++;
	j->bytes += ent->size;
	jindex_add(j->index, ent);
}

static void list_pop(struct etcd_journal *j)
{
	struct jentry *ent = j->head;

	jindex_remove_oldest(j->index, ent);
	j->head = ent->next;
	if (!j->head)
		j->tail = NULL;
	j->count--;
	j->bytes -= ent->size;
	entry_free(ent);
}

static int seq_cmp(const void *a, const void *b)
{
	const struct jentry *x = *(struct jentry *const *)a;
	const struct jentry *y = *(struct jentry *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Load the entries a previous run left, oldest first. */
static int load(struct etcd_journal *j)
{
	int fd = dup(j->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct jentry **all = NULL;
	size_t n = 0;
	struct dirent *de;
	int rc = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return kvfs_error_from_errno(errno, j->dir);
	}
	while ((de = readdir(d))) {
		struct jentry *ent, **grown;

		if (!strncmp(de->d_name, ".tmp-", 5)) {
			unlinkat(j->dirfd, de->d_name, 0); /* never acked */
			continue;
		}
		if (strlen(de->d_name) != 20 ||
		    strcmp(de->d_name + 16, ".ent"))
			continue;
		ent = calloc(1, sizeof(*ent));
		grown = realloc(all, (n + 1) * sizeof(*all));
		if (!ent || !grown) {
			free(ent);
			if (grown)
				all = grown;
			rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
			break;
		}
		all = grown;
		if (read_entry(j, de->d_name, ent, NULL)) {
			kvfs_log(KVFS_LOG_ERROR, "%s; moved to %s/failed",
				kvfs_error_message(), j->dir);
			move_to_failed(j, de->d_name);
			entry_free(ent);
			continue;
		}
		all[n++] = ent;
	}
	closedir(d);
	if (n)
		qsort(all, n, sizeof(*all), seq_cmp);
	for (size_t i = 0; i < n; i++) {
		if (rc) {
			entry_free(all[i]);
			continue;
		}
		list_add(j, all[i]);
		if (all[i]->seq >= j->next_seq)
			j->next_seq = all[i]->seq + 1;
	}
	free(all);
	if (rc == 0 && n)
		kvfs_log(KVFS_LOG_INFO, "etcd journal %s: %zu entries from an "
			 "earlier run to replicate", j->dir, n);
	return rc;
}

/* -------------------------------------------------------- replication */

static bool permanent(int rc)
{
	return rc == KVFS_EISDIR || rc == KVFS_ENOTDIR ||
	       rc == KVFS_ETOOLARGE || rc == KVFS_EINVAL ||
	       rc == KVFS_EINVALKEY || rc == KVFS_ENAMETOOLONG;
}

/* Send one entry to etcd. */
static int apply(struct etcd_journal *j, const struct jentry *ent)
{
	struct kvfs_buf value = { 0 };
	char name[32];
	int rc;

	if (ent->op == ETCD_JOURNAL_DEL) {
		rc = etcd_op_delete(j->e, ent->key);
		return rc == KVFS_ENOTFOUND ? 0 : rc;
	}
	if (ent->op == ETCD_JOURNAL_ATTR) {
		/* Gone since (a later delete): nothing to change. */
		struct timespec times[2] = { ent->attr_mtime,
					     ent->attr_atime };

		rc = etcd_op_set_attr(j->e, ent->key, ent->attr_fields,
				      ent->attr_mode, times);
		return rc == KVFS_ENOTFOUND ? 0 : rc;
	}
	entry_name(name, ent->seq);
	rc = read_entry(j, name, NULL, &value);
	if (rc)
		return KVFS_EINVAL; /* unreadable now: keep it aside */
	rc = etcd_op_put(j->e, ent->key, value.data ? value.data : "",
			 value.len, &ent->mtime);
	kvfs_buf_free(&value);
	return rc;
}

static void wait_ms(struct etcd_journal *j, uint64_t ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	if (!j->stop)
		pthread_cond_timedwait(&j->changed, &j->lock, &until);
}

static void *replicate_main(void *arg)
{
	struct etcd_journal *j = arg;

	etcd_set_thread_quiet(true);
	pthread_mutex_lock(&j->lock);
	while (!j->stop) {
		struct jentry *ent = j->head;
		struct jentry copy;
		char name[32];
		int rc;

		if (!ent) {
			pthread_cond_wait(&j->changed, &j->lock);
			continue;
		}
		/* The head stays in the list (and visible to reads) until
		 * etcd has it; only this thread removes entries. */
		copy = *ent;
		pthread_mutex_unlock(&j->lock);
		/* One entry, one storage operation: bounded by timeout=. */
		etcd_op_begin(j->e->timeout_ms);
		rc = etcd_op_end(apply(j, &copy));
		entry_name(name, copy.seq);
		pthread_mutex_lock(&j->lock);
		if (rc == 0 || permanent(rc)) {
			if (rc) {
				kvfs_log(KVFS_LOG_ERROR, "etcd journal: %s of %s "
					"cannot be replicated (%s); kept in "
					"%s/failed/%s",
					copy.op == ETCD_JOURNAL_PUT ? "put"
					: copy.op == ETCD_JOURNAL_DEL ? "delete"
					: "attribute change",
					copy.key, kvfs_error_message(), j->dir,
					name);
				move_to_failed(j, name);
				j->failed++;
			} else {
				unlinkat(j->dirfd, name, 0);
				j->replicated++;
			}
			list_pop(j);
			if (j->waiting)
				kvfs_log(KVFS_LOG_WARNING, "etcd journal: "
					 "replicating again");
			j->waiting = false;
			pthread_mutex_unlock(&j->lock);
			/* Durable removal before the next entry is sent. */
			fsync(j->dirfd);
			pthread_mutex_lock(&j->lock);
			pthread_cond_broadcast(&j->changed);
			continue;
		}
		snprintf(j->last_error, sizeof(j->last_error), "%s",
			 kvfs_error_message());
		if (!j->waiting)
			kvfs_log(KVFS_LOG_WARNING, "etcd journal: %zu entries "
				 "wait for the cluster: %s", j->count,
				j->last_error);
		j->waiting = true;
		wait_ms(j, RETRY_MS);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* ------------------------------------------------------------- lock */

/* One mount per journal: an flock on DIR/lock, which goes with the
 * close or the end of the process (SIGKILL too). The holder writes its
 * pid into the file, so that a second mount's refusal names it. A
 * second mount waits lock_wait= for it first: `umount` returns before
 * the old daemon has ended, and `umount; mount` must work. */
static int lock_journal(struct etcd_journal *j)
{
	char what[PATH_MAX + 16];

	j->lockfd = openat(j->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC,
			   0600);
	if (j->lockfd < 0)
		return kvfs_error_set(KVFS_EINVAL, "etcd: journal=%s: "
				      "cannot open its lock: %s", j->dir,
				      strerror(errno));
	snprintf(what, sizeof(what), "etcd: journal=%s", j->dir);
	return kvfs_pidlock_take(j->lockfd, j->e->lock_wait_ms, what,
				 "; give each mount its own journal=");
}

/* ------------------------------------------------------------- public */

int etcd_journal_open(struct etcd *e, const char *dir,
		      struct etcd_journal **out)
{
	struct etcd_journal *j = calloc(1, sizeof(*j));
	int rc, err;

	pthread_once(&crc_once, crc_init);
	if (!j)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	j->e = e;
	j->dirfd = j->lockfd = -1;
	j->next_seq = 1;
	pthread_mutex_init(&j->append_lock, NULL);
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->changed, NULL);
	j->dir = strdup(dir);
	j->index = jindex_new();
	if (!j->dir || !j->index) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_close;
	}
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0) {
		rc = kvfs_error_set(KVFS_EINVAL, "etcd: journal=%s: %s", dir,
				    strerror(errno));
		goto out_close;
	}
	rc = lock_journal(j);
	if (rc == 0)
		rc = load(j);
	if (rc)
		goto out_close;
	err = etcd_thread_start(&j->thread, replicate_main, j);
	if (err) {
		rc = kvfs_error_from_errno(err, "etcd journal thread");
		goto out_close;
	}
	j->thread_started = true;
	*out = j;
	return 0;

out_close:
	etcd_journal_close(j);
	return rc;
}

void etcd_journal_close(struct etcd_journal *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	j->stop = true;
	pthread_cond_broadcast(&j->changed);
	pthread_mutex_unlock(&j->lock);
	if (j->thread_started)
		pthread_join(j->thread, NULL);
	while (j->head)
		list_pop(j);
	jindex_free(j->index);
	if (j->lockfd >= 0)
		close(j->lockfd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	pthread_cond_destroy(&j->changed);
	pthread_mutex_destroy(&j->lock);
	pthread_mutex_destroy(&j->append_lock);
	free(j->dir);
	free(j);
}

/* Write ent (with its value) durably and add it to the list. */
static int append(struct etcd_journal *j, struct jentry *ent,
		  const void *value, size_t len)
{
	int rc;

	clock_gettime(CLOCK_REALTIME, &ent->mtime);
	pthread_mutex_lock(&j->append_lock);
	pthread_mutex_lock(&j->lock);
	ent->seq = j->next_seq++;
	pthread_mutex_unlock(&j->lock);
	rc = write_entry(j, ent, value, len);
	if (rc == 0) {
		pthread_mutex_lock(&j->lock);
		list_add(j, ent);
		pthread_cond_broadcast(&j->changed);
		pthread_mutex_unlock(&j->lock);
	} else {
		entry_free(ent);
	}
	pthread_mutex_unlock(&j->append_lock);
	return rc;
}

int etcd_journal_append(struct etcd_journal *j, enum etcd_journal_op op,
			const char *key, const void *value, size_t len)
{
	struct jentry *ent = calloc(1, sizeof(*ent));

	if (!ent || !(ent->key = strdup(key))) {
		free(ent);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	ent->op = op;
	ent->size = op == ETCD_JOURNAL_PUT ? len : 0;
	return append(j, ent, op == ETCD_JOURNAL_PUT ? value : NULL,
		      op == ETCD_JOURNAL_PUT ? len : 0);
}

int etcd_journal_append_attr(struct etcd_journal *j, const char *key,
			     unsigned int fields, uint32_t mode,
			     const struct timespec *times)
{
	struct jentry *ent = calloc(1, sizeof(*ent));
	unsigned char v[ATTR_SIZE] = { 0 };

	if (!ent || !(ent->key = strdup(key))) {
		free(ent);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	ent->op = ETCD_JOURNAL_ATTR;
	ent->attr_fields = fields;
	ent->attr_mode = mode;
	if (times && (fields & KVFS_ATTR_MTIME))
		ent->attr_mtime = times[0];
	if (times && (fields & KVFS_ATTR_ATIME))
		ent->attr_atime = times[1];
	put_le(v, fields, 4);
	put_le(v + 4, mode, 4);
	put_le(v + 8, (uint64_t)ent->attr_mtime.tv_sec, 8);
	put_le(v + 16, (uint64_t)ent->attr_mtime.tv_nsec, 4);
	put_le(v + 20, (uint64_t)ent->attr_atime.tv_sec, 8);
	put_le(v + 28, (uint64_t)ent->attr_atime.tv_nsec, 4);
	return append(j, ent, v, sizeof(v));
}

bool etcd_journal_attrs(struct etcd_journal *j, const char *key,
			unsigned int *fields, uint32_t *mode,
			struct timespec times[2])
{
	unsigned int taken = 0, blocked = 0;

	*fields = 0;
	if (!j)
		return false;
	pthread_mutex_lock(&j->lock);
	/* Newest first: a field comes from the newest change of it, unless
	 * a delete (all fields) or a put (the mtime) came after that. */
	for (struct jentry *ent = jindex_newest(j->index, key); ent;
	     ent = ent->older) {
		unsigned int f;

		if (ent->op == ETCD_JOURNAL_DEL)
			break;
		if (ent->op == ETCD_JOURNAL_PUT) {
			blocked |= KVFS_ATTR_MTIME;
			continue;
		}
		f = ent->attr_fields & ~taken & ~blocked;
		if (f & KVFS_ATTR_MODE)
			*mode = ent->attr_mode;
		if (f & KVFS_ATTR_MTIME)
			times[0] = ent->attr_mtime;
		if (f & KVFS_ATTR_ATIME)
			times[1] = ent->attr_atime;
		taken |= ent->attr_fields & ~blocked;
		*fields |= f;
	}
	pthread_mutex_unlock(&j->lock);
	return *fields != 0;
}

int etcd_journal_lookup(struct etcd_journal *j, const char *key,
			enum etcd_journal_op *op, struct kvfs_buf *out,
			uint64_t *size, struct timespec *mtime)
{
	struct jentry *found = NULL;
	int rc = KVFS_ENOTFOUND;

	if (!j)
		return KVFS_ENOTFOUND;
	pthread_mutex_lock(&j->lock);
	found = jindex_latest(j->index, key);
	if (found) {
		char name[32];

		*op = found->op;
		if (size)
			*size = found->size;
		if (mtime)
			*mtime = found->mtime;
		rc = 0;
		entry_name(name, found->seq);
		if (out && found->op == ETCD_JOURNAL_PUT)
			rc = read_entry(j, name, NULL, out);
	}
	pthread_mutex_unlock(&j->lock);
	return rc;
}

bool etcd_journal_has_under(struct etcd_journal *j, const char *dir)
{
	bool found;

	if (!j || !dir[0])
		return false;
	pthread_mutex_lock(&j->lock);
	found = jindex_put_under(j->index, dir);
	pthread_mutex_unlock(&j->lock);
	return found;
}

/* A child of dir that a pending entry names, and that entry's seq. */
struct named {
	char *name;
	enum kvfs_kind kind;
	uint64_t seq;
};

struct children {
	const char *dir;
	size_t dir_len;
	struct named *c;
	size_t n, cap;
};

static int add_child(void *arg, const struct jentry *latest)
{
	struct children *ch = arg;
	const char *rest = latest->key, *slash;
	size_t len;

	if (ch->dir_len) {
		if (strncmp(rest, ch->dir, ch->dir_len) ||
		    rest[ch->dir_len] != '/')
			return 0;
		rest += ch->dir_len + 1;
	}
	slash = strchr(rest, '/');
	if (slash && latest->op == ETCD_JOURNAL_DEL)
		return 0;
	len = slash ? (size_t)(slash - rest) : strlen(rest);
	if (ch->n == ch->cap) {
		size_t cap = ch->cap ? 2 * ch->cap : 16;
		struct named *c = realloc(ch->c, cap * sizeof(*c));

		if (!c)
			return kvfs_error_set(KVFS_EFAIL, "out of memory");
		ch->c = c;
		ch->cap = cap;
	}
	ch->c[ch->n].name = strndup(rest, len);
	if (!ch->c[ch->n].name)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	ch->c[ch->n].kind = slash ? KVFS_KIND_DIR
			    : latest->op == ETCD_JOURNAL_PUT ? KVFS_KIND_FILE
							     : 0;
	ch->c[ch->n].seq = latest->seq;
	ch->n++;
	return 0;
}

static int named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

int etcd_journal_children(struct etcd_journal *j, const char *dir,
			  struct etcd_journal_child **out, size_t *count)
{
	struct children ch = { .dir = dir, .dir_len = strlen(dir) };
	struct etcd_journal_child *c = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	*count = 0;
	if (!j)
		return 0;
	pthread_mutex_lock(&j->lock);
	rc = jindex_each_latest(j->index, add_child, &ch);
	pthread_mutex_unlock(&j->lock);
	if (rc == 0 && ch.n && !(c = calloc(ch.n, sizeof(*c))))
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
	/* By name, and where several keys make one child ("a" deleted,
	 * "a/b" put) the newest entry decides, as replication will. */
	if (rc == 0 && ch.n)
		qsort(ch.c, ch.n, sizeof(*ch.c), named_cmp);
	for (size_t i = 0; i < ch.n; i++) {
		if (rc || (i + 1 < ch.n && !strcmp(ch.c[i].name,
						   ch.c[i + 1].name))) {
			free(ch.c[i].name);
			continue;
		}
		c[n].name = ch.c[i].name;
		c[n].kind = ch.c[i].kind;
		c[n].seen = false;
		n++;
	}
	free(ch.c);
	if (rc) {
		etcd_journal_children_free(c, n);
		return rc;
	}
	*out = c;
	*count = n;
	return 0;
}

void etcd_journal_children_free(struct etcd_journal_child *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].name);
	free(c);
}

bool etcd_journal_empty(struct etcd_journal *j)
{
	bool empty;

	if (!j)
		return true;
	pthread_mutex_lock(&j->lock);
	empty = j->head == NULL;
	pthread_mutex_unlock(&j->lock);
	return empty;
}

int etcd_journal_drain(struct etcd_journal *j, uint64_t timeout_ms)
{
	uint64_t deadline = etcd_now_ms() + timeout_ms;
	int rc = 0;

	pthread_mutex_lock(&j->lock);
	while (j->head) {
		uint64_t now = etcd_now_ms();

		if (now >= deadline) {
			rc = kvfs_error_set(KVFS_ETIMEDOUT,
				"etcd: %zu eventual writes did not reach the "
				"cluster within %" PRIu64 " ms (%s)", j->count,
				timeout_ms, j->last_error[0] ? j->last_error
							     : "replicating");
			break;
		}
		wait_ms(j, deadline - now < 100 ? deadline - now : 100);
	}
	pthread_mutex_unlock(&j->lock);
	return rc;
}

int etcd_journal_stats(struct etcd_journal *j, struct kvfs_buf *out)
{
	struct timespec now;
	uint64_t lag = 0;
	int rc;

	clock_gettime(CLOCK_REALTIME, &now);
	pthread_mutex_lock(&j->lock);
	if (j->head) {
		int64_t ms = (int64_t)(now.tv_sec - j->head->mtime.tv_sec) *
				     1000 +
			     (now.tv_nsec - j->head->mtime.tv_nsec) / 1000000;

		lag = ms > 0 ? (uint64_t)ms : 0;
	}
	rc = kvfs_buf_appendf(out,
		"journal_dir: %s\n"
		"journal_backlog_entries: %zu\n"
		"journal_backlog_bytes: %" PRIu64 "\n"
		"journal_replication_lag_ms: %" PRIu64 "\n"
		"journal_replicated: %" PRIu64 "\n"
		"journal_failed: %" PRIu64 "\n"
		"journal_waiting_for_cluster: %s\n",
		j->dir, j->count, j->bytes, lag, j->replicated, j->failed,
		j->waiting ? "yes" : "no");
	pthread_mutex_unlock(&j->lock);
	return rc;
}
