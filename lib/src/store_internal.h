/*
 * store_internal.h - what the library's modules share: the library's own
 * reader and writer for backends without ranged I/O, the registry, and
 * the lock of a directory the library owns.
 */
#ifndef KVFS_STORE_INTERNAL_H
#define KVFS_STORE_INTERNAL_H

#include <kvfs/backend.h>

/* A reader over a value in memory: takes over value's contents (value is
 * left empty, also on failure, when they are freed). */
int kvfs_mem_reader_new(struct kvfs_buf *value, struct kvfs_reader **out);

/* A reader over a whole value fetched with get. */
int kvfs_fallback_open_reader(struct kvfs_backend *b, const char *key,
			      enum kvfs_consistency level,
			      struct kvfs_reader **out);

/* A writer that spools to an unlinked temporary file and puts the whole
 * value on commit. */
int kvfs_fallback_open_writer(struct kvfs_backend *b, const char *key,
			      enum kvfs_consistency level,
			      struct kvfs_reader *base,
			      struct kvfs_writer **out);

/* Copy base's snapshot into a fresh writer (used by writers of every
 * backend that start from a reader of another kind). */
int kvfs_writer_copy_from(struct kvfs_writer *w, struct kvfs_reader *base);

/* Backend registry: open the backend named `name` with opts. */
int kvfs_registry_open(const char *name, struct kvfs_options *opts,
		       struct kvfs_backend **out);

/* How long opening a local root or an etcd journal waits, by default,
 * for another kvfs that holds it to let go (lock_wait=): a daemon lets go
 * a moment after `umount` returns, so `umount; mount` must not be
 * refused. */
#define KVFS_LOCK_WAIT_DEFAULT_MS 2000

/* Lock the lock file fd exclusively, waiting up to wait_ms for another
 * holder to let go, and write this process's pid into it. 0, or
 * KVFS_EINVAL with "WHAT: in use by kvfs pid N" + hint (the holder's pid
 * as it wrote it) or another failure, WHAT first. fd must be open for
 * writing. */
int kvfs_pidlock_take(int fd, uint64_t wait_ms, const char *what,
		      const char *hint);

/* Move the lock that held (taken by kvfs_pidlock_take) has onto fd, a
 * read-only descriptor of the same file, so that the holder keeps no
 * descriptor open for writing; held is closed in any case. Between the
 * two, another taker may win: then KVFS_EINVAL naming it, as
 * kvfs_pidlock_take's refusal. KVFS_EINVAL too when fd is not the same
 * file. */
int kvfs_pidlock_hand_over(int held, int fd, const char *what,
			   const char *hint);

/* Fault injection (faults.c, lib/docs/faults.md), a testing aid. */
struct kvfs_faults;

/* Rules read from the file at path, when it exists, before each call;
 * the file need not exist yet. KVFS_EINVAL for an empty path. */
int kvfs_faults_open(const char *path, struct kvfs_faults **out);
/* Accepts NULL. */
void kvfs_faults_close(struct kvfs_faults *faults);
/* 0, or the error code (with its message set) that the store call `op`
 * on `key` (NULL for calls on readers and writers) is to fail with
 * instead of calling the backend. Thread-safe. */
int kvfs_faults_hit(struct kvfs_faults *faults, const char *op,
		    const char *key);

#endif
