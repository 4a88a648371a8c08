/*
 * kvfs/backend.h - the backend-author API: the versioned vtable a storage
 * backend fills in, the reader/writer/lister objects it returns, the
 * controls it may answer, and the plugin entry point.
 *
 * Only lib/src/store.c calls through these function pointers; everything
 * else goes through the kvfs_store_* wrappers in kvfs/kvfs.h, which check
 * keys, keep statistics, and fall back when an optional method is NULL.
 *
 * A backend embeds `struct kvfs_backend` as the first member of its own
 * struct and points `ops` at a static const kvfs_backend_ops. Keys reaching
 * a backend have passed kvfs_key_check (or kvfs_key_check_dir for the
 * directory operations, where "" is the root). Levels are valid enum
 * values. Backends must be safe for concurrent calls from several threads.
 *
 * Memory that crosses the plugin boundary is allocated by the host: fill a
 * struct kvfs_buf with kvfs_buf_set(), report errors with kvfs_error_set().
 */
#ifndef KVFS_BACKEND_H
#define KVFS_BACKEND_H

#include <kvfs/kvfs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when the vtable or a struct a backend fills grows; the library
 * accepts versions 1..this. Version 2: kvfs_stat.valid and the fields
 * after it, kvfs_space.valid and the fields after it, KVFS_ATTR_ATIME
 * (a version 1 backend never sees it). */
#define KVFS_BACKEND_VERSION 2

/* ------------------------------------------------ reader, writer, lister */

struct kvfs_reader_ops {
	/* Read up to len bytes at off of the snapshot: bytes read, 0 at end,
	 * or a negative KVFS_E* code. */
	ssize_t (*pread)(struct kvfs_reader *r, void *buf, size_t len,
			 uint64_t off);
	void (*close)(struct kvfs_reader *r);
};

/* Base of a backend's reader. `size` is the snapshot's size, set at open. */
struct kvfs_reader {
	const struct kvfs_reader_ops *ops;
	uint64_t size;
};

struct kvfs_writer_ops {
	ssize_t (*pwrite)(struct kvfs_writer *w, const void *buf, size_t len,
			  uint64_t off);
	ssize_t (*pread)(struct kvfs_writer *w, void *buf, size_t len,
			 uint64_t off);
	int (*truncate)(struct kvfs_writer *w, uint64_t size);
	/* Publish atomically and free w, also on failure. */
	int (*commit)(struct kvfs_writer *w);
	/* Discard and free w. */
	void (*abort)(struct kvfs_writer *w);
};

/* Base of a backend's writer. The library keeps `size` up to date after
 * pwrite and truncate; the backend sets it at open. `store` and `level`
 * belong to the library (it counts the commit in the store's statistics);
 * backends leave them alone. */
struct kvfs_writer {
	const struct kvfs_writer_ops *ops;
	uint64_t size;
	struct kvfs_store *store;
	enum kvfs_consistency level;
};

struct kvfs_lister_ops {
	/* 1 with *ent filled, 0 at the end, or a negative KVFS_E* code. */
	int (*next)(struct kvfs_lister *l, struct kvfs_dirent *ent);
	void (*close)(struct kvfs_lister *l);
};

struct kvfs_lister {
	const struct kvfs_lister_ops *ops;
};

/* ------------------------------------------------------------ the vtable */

struct kvfs_backend_ops {
	unsigned int version; /* KVFS_BACKEND_VERSION the backend was built
	                         against */
	const char *name;     /* "local", "etcd", ... */

	/* Required. get fills *out with kvfs_buf_set. */
	int (*get)(struct kvfs_backend *b, const char *key,
		   enum kvfs_consistency level, struct kvfs_buf *out);
	int (*put)(struct kvfs_backend *b, const char *key, const void *value,
		   size_t len, enum kvfs_consistency level);
	int (*del)(struct kvfs_backend *b, const char *key,
		   enum kvfs_consistency level);
	/* Required. Free everything, including b. */
	void (*destroy)(struct kvfs_backend *b);

	/* Optional (NULL: the library falls back as noted). */
	/* Fallback: get, then a file of that size with no mtime. */
	int (*stat)(struct kvfs_backend *b, const char *key,
		    enum kvfs_consistency level, struct kvfs_stat *st);
	/* Fallback: KVFS_ENOTSUPPORTED. */
	int (*list)(struct kvfs_backend *b, const char *key,
		    enum kvfs_consistency level, struct kvfs_lister **out);
	/* Fallback: get, put, delete of a value; not atomic, documented. */
	int (*rename)(struct kvfs_backend *b, const char *from, const char *to,
		      unsigned int flags, enum kvfs_consistency level);
	/* Fallback for these: KVFS_ENOTSUPPORTED. */
	int (*mkdir)(struct kvfs_backend *b, const char *key, uint32_t mode,
		     enum kvfs_consistency level);
	int (*rmdir)(struct kvfs_backend *b, const char *key,
		     enum kvfs_consistency level);
	int (*set_attr)(struct kvfs_backend *b, const char *key,
			unsigned int fields, uint32_t mode,
			const struct timespec *times,
			enum kvfs_consistency level);
	int (*getxattr)(struct kvfs_backend *b, const char *key,
			const char *name, struct kvfs_buf *out);
	int (*setxattr)(struct kvfs_backend *b, const char *key,
			const char *name, const void *value, size_t len,
			unsigned int flags);
	int (*listxattr)(struct kvfs_backend *b, const char *key,
			 struct kvfs_buf *out);
	int (*removexattr)(struct kvfs_backend *b, const char *key,
			   const char *name);
	/* Fallback: get the whole value into memory. */
	int (*open_reader)(struct kvfs_backend *b, const char *key,
			   enum kvfs_consistency level,
			   struct kvfs_reader **out);
	/* Fallback: spool to an unlinked temporary file, put on commit.
	 * `base` may be a reader of this backend or the library's fallback
	 * reader; copy from it with kvfs_reader_pread. */
	int (*open_writer)(struct kvfs_backend *b, const char *key,
			   enum kvfs_consistency level,
			   struct kvfs_reader *base, struct kvfs_writer **out);
	int (*space)(struct kvfs_backend *b, struct kvfs_space *space);
	/* Answer KVFS_ENOTSUPPORTED for any op not known. */
	int (*control)(struct kvfs_backend *b, int op, void *arg);
	/* Methods above are valid for version 1 */
};

struct kvfs_backend {
	const struct kvfs_backend_ops *ops;
};

/* ------------------------------------------------------------- controls */

/* arg: struct kvfs_buf *; fills the mount's causal token as text. */
#define KVFS_CTL_CAUSAL_TOKEN_GET 1
/* arg: const char *; later reads are at least as new as the token. */
#define KVFS_CTL_CAUSAL_TOKEN_SET 2
/* arg: struct kvfs_watch *; ask to be told of changes made elsewhere. */
#define KVFS_CTL_WATCH 3
/* arg: struct kvfs_buf *; append "name: value\n" lines of backend figures
 * (cache hits, journal backlog, replication lag, ...). */
#define KVFS_CTL_STATS_TEXT 4
/* arg: const uint64_t * timeout in ms, or NULL; wait until everything
 * acknowledged locally (eventual journal) has reached the backend.
 * KVFS_ETIMEDOUT if it did not in time. */
#define KVFS_CTL_DRAIN 5
/* arg: struct kvfs_reader_fd *; a file descriptor holding the reader's
 * snapshot, for zero-copy transfers (splice) by positioned reads. It stays
 * the reader's: valid until kvfs_reader_close, never to be closed,
 * written, or moved. KVFS_ENOTSUPPORTED when the reader has none. */
#define KVFS_CTL_READER_FD 6

struct kvfs_reader_fd {
	struct kvfs_reader *reader; /* in */
	int fd;                     /* out */
};
/* arg: struct kvfs_writer_fd *; a file descriptor holding the writer's
 * value, for zero-copy transfers into it (splice) by positioned writes
 * (kvfs_writer_pwrite_from). It stays the writer's: valid until commit or
 * abort, never to be closed, truncated or moved; the library tracks the
 * size. KVFS_ENOTSUPPORTED when the writer has none. */
#define KVFS_CTL_WRITER_FD 7

struct kvfs_writer_fd {
	struct kvfs_writer *writer; /* in */
	int fd;                     /* out */
};
/* arg: struct kvfs_health *; whether the backend answered the latest
 * requests that needed it (for a cluster: its quorum), from what those
 * requests found, without asking it now. KVFS_ENOTSUPPORTED from a
 * backend that is never unreachable (local). */
#define KVFS_CTL_HEALTH 8

struct kvfs_health {
	bool unreachable; /* the latest such request got no answer */
	int64_t since;    /* when that began (Unix time, seconds) */
	char why[256];    /* the failure's message */
};

/* arg: unsigned int *; set it to the backend's KVFS_CAP_* flags (kvfs.h).
 * A layer over another store (cache) answers with what holds through it.
 * Not answering (KVFS_ENOTSUPPORTED) means no capabilities: the daemon
 * then treats the store as shared and remote, which is always safe. */
#define KVFS_CTL_CAPS 9

/* Called by a backend, from any thread, when `key` (or everything, when
 * key is NULL) changed through someone else. Must not call back into the
 * backend. */
struct kvfs_watch {
	void (*changed)(void *ctx, const char *key);
	void *ctx;
	/* Optional (NULL: changed() hears of everything). A backend that can
	 * tell attribute changes (mode, extended attributes) apart calls this
	 * for them and sets attrs_apart before its first call; changed() then
	 * means a change of the value or of size/mtime/kind only. */
	void (*attrs_changed)(void *ctx, const char *key);
	bool attrs_apart;
};

/* Append formatted text to a buffer (for KVFS_CTL_STATS_TEXT). */
int kvfs_buf_appendf(struct kvfs_buf *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* --------------------------------------------------------------- plugins */

/*
 * A plugin is a shared object exporting
 *
 *   int kvfs_plugin_init(unsigned int host_version,
 *                        struct kvfs_options *opts,
 *                        struct kvfs_backend **out);
 *
 * host_version is the library's KVFS_BACKEND_VERSION. The plugin takes its
 * options from opts (they come from plugin_opts=), opens its backend and
 * hands it over through *out; its ops->version must be one the host knows.
 */
#define KVFS_PLUGIN_INIT_SYMBOL "kvfs_plugin_init"
typedef int (*kvfs_plugin_init_fn)(unsigned int host_version,
				   struct kvfs_options *opts,
				   struct kvfs_backend **out);

/* Check that a backend's vtable is usable: known version, required
 * methods present. KVFS_EINVAL with a message naming what is wrong. */
int kvfs_backend_check(const struct kvfs_backend *backend);

/* --------------------------------------------------- built-in backends */

/* Local backend: one file per key under root (README.md, "The local
 * backend"). Takes "root" (required), "sync" (default true) and
 * "lock_wait" (default 2s) from opts. Holds an exclusive lock on the root
 * until destroyed: a second open of the same root, in this process or
 * another, waits up to lock_wait for it, then fails with KVFS_EINVAL and
 * "root=DIR: in use by kvfs pid N (one mount per root)". */
int kvfs_local_open(struct kvfs_options *opts, struct kvfs_backend **out);

/* Plugin loader (backend=plugin): takes "plugin" (path of the shared
 * object, required) and "plugin_opts" ("a=1;b=2", lib/docs/plugins.md). */
int kvfs_plugin_open(struct kvfs_options *opts, struct kvfs_backend **out);

/* Cache decorator over `inner` (lib/docs/cache.md): takes "cache" (SIZE, at
 * least 4K) and "cache_ttl" (duration, default 1s) from opts. On success
 * the returned backend owns inner and closes it on destroy; on failure
 * inner stays the caller's. kvfs_store_open wraps any backend in one when
 * opts has cache=SIZE. */
int kvfs_cache_open(struct kvfs_store *inner, struct kvfs_options *opts,
		    struct kvfs_backend **out);

/* etcd backend: etcd v3 through its JSON gateway (lib/docs/etcd.md). Takes
 * "endpoints" (required), "prefix", "timeout", "journal", "prefer",
 * "cacert", "cert", "key", "user", "password_file", "max_request",
 * "max_value", "max_txn_ops", "quota" and "lazy" from opts. */
int kvfs_etcd_open(struct kvfs_options *opts, struct kvfs_backend **out);

/* --------------------------------------------------- plugin entry point */

/* What a plugin defines (KVFS_PLUGIN_INIT_SYMBOL), declared here so that
 * the compiler checks a plugin's definition against kvfs_plugin_init_fn.
 * The library itself defines no such function. A plugin exports it with
 * default visibility; see lib/docs/plugins.md. */
int kvfs_plugin_init(unsigned int host_version, struct kvfs_options *opts,
		     struct kvfs_backend **out);

#ifdef __cplusplus
}
#endif

#endif /* KVFS_BACKEND_H */
