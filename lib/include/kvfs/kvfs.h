/*
 * kvfs.h - the user API of libkvfs: consistency levels, key rules, errors,
 * options, and the store through which every read and write goes.
 *
 * Conventions (see STYLE.md):
 *  - functions return 0 on success, a named negative KVFS_E* code for an
 *    expected failure, or KVFS_EFAIL (-1) otherwise; the message describing
 *    the last failure of the calling thread is kvfs_error_message();
 *  - `T **out` hands ownership to the caller; returned pointers are
 *    borrowed; every destructor accepts NULL;
 *  - a store and its backend are safe to call from several threads at once;
 *    readers, writers and listers belong to one thread at a time.
 */
#ifndef KVFS_KVFS_H
#define KVFS_KVFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVFS_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------- errors */

/* The expected failures. Anything else is KVFS_EFAIL with a message. */
enum kvfs_error {
	KVFS_OK = 0,
	KVFS_EFAIL = -1,         /* unexpected failure; see the message */
	KVFS_ENOTFOUND = -2,     /* no such key */
	KVFS_EEXISTS = -3,       /* the key exists already */
	KVFS_ENOTEMPTY = -4,     /* directory has children */
	KVFS_EISDIR = -5,        /* a value operation on a directory */
	KVFS_ENOTDIR = -6,       /* a directory operation on a value, or a
	                            value where a parent directory should be */
	KVFS_EINVALKEY = -7,     /* key breaks the key rules (kvfs_key_check) */
	KVFS_ENAMETOOLONG = -8,  /* a component over 255 bytes or a key over
	                            4096 bytes */
	KVFS_ETOOLARGE = -9,     /* value over the backend's limit */
	KVFS_EUNAVAILABLE = -10, /* backend cannot be reached */
	KVFS_ETIMEDOUT = -11,    /* backend did not answer in time */
	KVFS_ECONFLICT = -12,    /* concurrent change made the operation fail */
	KVFS_ENOTSUPPORTED = -13,/* backend does not offer this operation */
	KVFS_EINVAL = -14,       /* bad argument: option, level, xattr value */
	KVFS_ENOSPACE = -15,     /* backend is out of space */
	KVFS_ENODATA = -16,      /* no such extended attribute */
	KVFS_EREADONLY = -17,    /* the store is read-only (local: the root's
	                            filesystem is mounted read-only) */
	KVFS_ECROSS = -18,       /* a rename the backend cannot make in one
	                            step (a plugin's store without directory
	                            renames); copy, then delete, as mv(1)
	                            does on EXDEV */
};

/* Message of the calling thread's last failure; never NULL. Borrowed,
 * valid until the next library call on this thread. */
const char *kvfs_error_message(void);

/* Short constant text for a code, e.g. "not found". */
const char *kvfs_error_name(int code);

/* Record a failure message for the calling thread and return `code`, so
 * that `return kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);` works. */
int kvfs_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Map an errno value to the closest KVFS_E* code (ENOENT -> ENOTFOUND ...),
 * recording "<what>: strerror" as the message. */
int kvfs_error_from_errno(int err, const char *what);

/* ------------------------------------------------------- consistency */

/*
 * The four consistency levels. Every storage call carries one. A backend
 * may serve a stronger level than asked, never a weaker one.
 */
enum kvfs_consistency {
	/* A completed write is committed by the backend (etcd: quorum; local:
	 * atomically renamed into place); a read sees the latest completed
	 * write of any mount (linearizable per key). The default. */
	KVFS_STRONG = 0,
	/* A write completes once durable locally and reaches the backend in
	 * the background, in write order; a read may be stale, but all mounts
	 * converge once writes stop. Writes are never lost. */
	KVFS_EVENTUAL = 1,
	/* Reads on a mount see every write completed through that mount,
	 * possibly not newer writes of other mounts. */
	KVFS_READ_YOUR_WRITES = 2,
	/* Read-your-writes plus monotonic reads: a read never returns state
	 * older than anything this mount has seen, and a causal token can
	 * carry that history to another mount. */
	KVFS_CAUSAL = 3,
};

#define KVFS_CONSISTENCY_COUNT 4
#define KVFS_CONSISTENCY_DEFAULT KVFS_STRONG

/* Canonical text: "strong", "eventual", "read-your-writes", "causal".
 * Returns "invalid" for a value outside the enum. */
const char *kvfs_consistency_name(enum kvfs_consistency level);

/* Parse the canonical text or "Strong", "Eventual", "ReadYourWrites",
 * "Causal". Anything else: KVFS_EINVAL with a message that lists the
 * accepted values; *out is left unchanged. */
int kvfs_consistency_parse(const char *text, enum kvfs_consistency *out);

/* True when a backend serving `served` satisfies a request for `asked`. */
bool kvfs_consistency_satisfies(enum kvfs_consistency served,
				enum kvfs_consistency asked);

/* -------------------------------------------------------------- keys */

#define KVFS_NAME_MAX 255  /* bytes in one component */
#define KVFS_KEY_MAX 4096  /* bytes in a whole key */

/* Why a key was refused; kvfs_key_problem_text() names each. */
enum kvfs_key_problem {
	KVFS_KEY_OK = 0,
	KVFS_KEY_EMPTY,             /* "" */
	KVFS_KEY_LEADING_SLASH,     /* "/a" */
	KVFS_KEY_EMPTY_COMPONENT,   /* "a//b", "a/" */
	KVFS_KEY_DOT_COMPONENT,     /* "a/./b" */
	KVFS_KEY_DOTDOT_COMPONENT,  /* "a/../b" */
	KVFS_KEY_NUL_BYTE,          /* NUL inside the given length */
	KVFS_KEY_COMPONENT_TOO_LONG,/* a component over KVFS_NAME_MAX */
	KVFS_KEY_TOO_LONG,          /* over KVFS_KEY_MAX */
};

/* Check `len` bytes of `key` against the key rules. Returns KVFS_KEY_OK or
 * the first problem found. */
enum kvfs_key_problem kvfs_key_problem_of(const char *key, size_t len);
const char *kvfs_key_problem_text(enum kvfs_key_problem problem);

/* Check a NUL-terminated key: 0, KVFS_ENAMETOOLONG for the two length
 * problems, KVFS_EINVALKEY for the others, with a message naming the
 * problem and the key. */
int kvfs_key_check(const char *key);

/* As kvfs_key_check, but "" is accepted and means the root directory. */
int kvfs_key_check_dir(const char *key);

/* Check one path component (a file name): what kvfs_key_check says of it
 * as a one-component key. */
int kvfs_key_check_name(const char *name);

/* ----------------------------------------------------------- options */

/*
 * An ordered list of name=value settings: mount options, config file
 * entries and plugin options all become one of these. A backend takes the
 * settings it understands; whatever nobody took is an unknown option.
 */
struct kvfs_options;

int kvfs_options_new(struct kvfs_options **out);
void kvfs_options_free(struct kvfs_options *opts);
/* Set (or replace) name to value; value may be "" for a flag. */
int kvfs_options_set(struct kvfs_options *opts, const char *name,
		     const char *value);
/* Parse "a=1,b,c=x" (the -o syntax) into opts; later entries override. */
int kvfs_options_parse(struct kvfs_options *opts, const char *text);
/* Value of `name` (borrowed) or NULL; marks the option as taken. */
const char *kvfs_options_take(struct kvfs_options *opts, const char *name);
/* Value of `name` without marking it taken, or NULL. */
const char *kvfs_options_peek(const struct kvfs_options *opts,
			      const char *name);
/* Take `name` as a boolean ("1/0/yes/no/true/false/on/off", "" = true). */
int kvfs_options_take_bool(struct kvfs_options *opts, const char *name,
			   bool dflt, bool *out);
/* Take `name` as a size with optional K/M/G suffix (powers of 1024). */
int kvfs_options_take_size(struct kvfs_options *opts, const char *name,
			   uint64_t dflt, uint64_t *out);
/* Take `name` as a duration: a number with suffix ms or s (default s). */
int kvfs_options_take_ms(struct kvfs_options *opts, const char *name,
			 uint64_t dflt_ms, uint64_t *out_ms);
/* KVFS_EINVAL naming the first option nobody took, or 0. */
int kvfs_options_check_all_taken(const struct kvfs_options *opts);
/* Iterate: i from 0; returns false past the end. */
bool kvfs_options_at(const struct kvfs_options *opts, size_t i,
		     const char **name, const char **value);

/* ------------------------------------------------------------ buffers */

/* A value in memory. The library allocates it; free with kvfs_buf_free. */
struct kvfs_buf {
	void *data;
	size_t len;
};

/* Replace buf's contents with a copy of len bytes (plus a hidden NUL). */
int kvfs_buf_set(struct kvfs_buf *buf, const void *data, size_t len);
/* Free the contents and reset to empty; accepts NULL. */
void kvfs_buf_free(struct kvfs_buf *buf);

/* ------------------------------------------------------------- store */

enum kvfs_kind {
	KVFS_KIND_FILE = 1,
	KVFS_KIND_DIR = 2,
};

/* What stat knows about a key without reading its value. */
struct kvfs_stat {
	enum kvfs_kind kind;
	uint64_t size;         /* bytes of the value; 0 for directories */
	struct timespec mtime; /* last change of the value */
	uint32_t mode;         /* permission bits (07777); 0 = backend default */
	uint64_t version;      /* changes whenever the value changes; 0 when
	                          the backend cannot tell */
	/* The fields below hold only when their KVFS_STAT_* bit is in
	 * `valid`; a backend that leaves `valid` 0 (as version 1 backends
	 * do) gets the default named for each. */
	unsigned int valid;
	struct timespec atime; /* KVFS_STAT_ATIME: last access as set by
	                          set_attr (reads do not move it); default
	                          mtime */
	struct timespec ctime; /* KVFS_STAT_CTIME: last change of the value
	                          or of any attribute (mode, times, xattrs,
	                          a rename); never moves backwards; default
	                          mtime */
	uint64_t blocks;       /* KVFS_STAT_BLOCKS: 512-byte blocks the
	                          value takes (a sparse value takes less than
	                          its size); default size rounded up */
	uint32_t nlink;        /* KVFS_STAT_NLINK: for a directory, 2 plus
	                          its subdirectories; default 1 ("unknown",
	                          as find(1) reads it) */
};

/* Bits of kvfs_stat.valid. */
#define KVFS_STAT_MODE   0x1u  /* mode is the key's, also when it is 0 */
#define KVFS_STAT_ATIME  0x2u
#define KVFS_STAT_CTIME  0x4u
#define KVFS_STAT_BLOCKS 0x8u
#define KVFS_STAT_NLINK  0x10u

/* One child in a listing. */
struct kvfs_dirent {
	char name[KVFS_NAME_MAX + 1];
	enum kvfs_kind kind;
};

/* Fields of a kvfs_store_set_attr call. */
#define KVFS_ATTR_MODE  0x1u
#define KVFS_ATTR_MTIME 0x2u
#define KVFS_ATTR_ATIME 0x4u /* times[1] of kvfs_store_set_attr */

/* kvfs_store_rename flags. */
#define KVFS_RENAME_NOREPLACE 0x1u

/* kvfs_store_setxattr flags (as setxattr(2)). */
#define KVFS_XATTR_CREATE  0x1u
#define KVFS_XATTR_REPLACE 0x2u

struct kvfs_backend;   /* the backend-author API: kvfs/backend.h */
struct kvfs_store;
struct kvfs_reader;
struct kvfs_writer;
struct kvfs_lister;

/*
 * Open the backend named by opts ("backend", default "local") and take the
 * options it understands. Unknown options are left in opts untaken, so the
 * caller can report them (kvfs_options_check_all_taken).
 *   local:  root=DIR (required), sync=true|false, lock_wait=DURATION
 *           (default 2s). One store per root: the store holds an
 *           exclusive lock on DIR until it is closed (or its process
 *           ends), always, since whoever else wrote DIR would go unseen by
 *           a mount's kernel cache and by cache=SIZE. Opening a root that
 *           another store holds, in this process or any other, waits up
 *           to lock_wait for it to be let go, then fails with KVFS_EINVAL:
 *           "root=DIR: in use by kvfs pid N (one mount per root)". A
 *           child made by fork(2) shares the lock; an exec'd program
 *           does not keep it.
 *   etcd, cache, plugin: see README.md
 *   faults=PATH (any backend): a testing aid that fails backend calls as
 *           the rules in PATH say (lib/docs/faults.md).
 */
int kvfs_store_open(struct kvfs_options *opts, struct kvfs_store **out);

/* Wrap an already opened backend; the store owns it from now on. */
int kvfs_store_from_backend(struct kvfs_backend *backend,
			    struct kvfs_store **out);

/* Close the store and its backend; accepts NULL. */
void kvfs_store_close(struct kvfs_store *store);

/* Name of the backend ("local", "etcd", ...). Borrowed. */
const char *kvfs_store_backend_name(const struct kvfs_store *store);

/* What a store can be relied on for, as KVFS_CAP_* flags: what its
 * backend answers to KVFS_CTL_CAPS, or none when it does not answer (a
 * backend written before the control existed). The daemon decides what
 * the kernel may cache, and how it serves requests, from these, never
 * from the backend's name. */
#define KVFS_CAP_SOLE_WRITER 0x1u /* nothing changes the data but this
                                     store handle while it is open (the
                                     local backend locks its root) */
#define KVFS_CAP_LENDS_FDS   0x2u /* readers and writers may lend a
                                     descriptor of their value
                                     (KVFS_CTL_READER_FD, _WRITER_FD) */
#define KVFS_CAP_LOCAL_FILES 0x4u /* values are files on this machine:
                                     requests never wait on a network */
unsigned int kvfs_store_caps(struct kvfs_store *store);

/* The backend, for layering (cache) and controls. Borrowed. */
struct kvfs_backend *kvfs_store_backend(struct kvfs_store *store);

/* Required operations. `get` fills out (caller frees with kvfs_buf_free);
 * KVFS_ENOTFOUND when there is no such key, KVFS_EISDIR for a directory. */
int kvfs_store_get(struct kvfs_store *store, const char *key,
		   enum kvfs_consistency level, struct kvfs_buf *out);
/* Create or replace the whole value, atomically. Parent directories are
 * created as needed. */
int kvfs_store_put(struct kvfs_store *store, const char *key,
		   const void *value, size_t len, enum kvfs_consistency level);
/* Remove a value. KVFS_ENOTFOUND, KVFS_EISDIR for a directory. */
int kvfs_store_delete(struct kvfs_store *store, const char *key,
		      enum kvfs_consistency level);

/* Filesystem operations. Keys for directories may be "" (the root). */
int kvfs_store_stat(struct kvfs_store *store, const char *key,
		    enum kvfs_consistency level, struct kvfs_stat *st);
int kvfs_store_mkdir(struct kvfs_store *store, const char *key,
		     uint32_t mode, enum kvfs_consistency level);
/* Remove an empty directory: KVFS_ENOTEMPTY, KVFS_ENOTDIR. */
int kvfs_store_rmdir(struct kvfs_store *store, const char *key,
		     enum kvfs_consistency level);
/* Atomically move a value or directory; replaces a target value unless
 * KVFS_RENAME_NOREPLACE (then KVFS_EEXISTS). A directory replaces only an
 * empty directory. */
int kvfs_store_rename(struct kvfs_store *store, const char *from,
		      const char *to, unsigned int flags,
		      enum kvfs_consistency level);
/* Change the KVFS_ATTR_* fields of key: its mode, its mtime (times[0])
 * and its atime (times[1]; with KVFS_ATTR_ATIME, times must hold two
 * entries). times may be NULL when neither time is set. A backend that
 * keeps no atime (version 1, or one that does not say KVFS_STAT_ATIME)
 * ignores KVFS_ATTR_ATIME. Every change moves the key's ctime to now. */
int kvfs_store_set_attr(struct kvfs_store *store, const char *key,
			unsigned int fields, uint32_t mode,
			const struct timespec *times,
			enum kvfs_consistency level);

/* Extended attributes of a key (any name; the daemon passes "user.*").
 * getxattr: KVFS_ENODATA when absent. listxattr: NUL-separated names. */
int kvfs_store_getxattr(struct kvfs_store *store, const char *key,
			const char *name, struct kvfs_buf *out);
int kvfs_store_setxattr(struct kvfs_store *store, const char *key,
			const char *name, const void *value, size_t len,
			unsigned int flags);
int kvfs_store_listxattr(struct kvfs_store *store, const char *key,
			 struct kvfs_buf *out);
int kvfs_store_removexattr(struct kvfs_store *store, const char *key,
			   const char *name);

/* Listing: the children of directory `key`, one at a time, in no set order.
 * kvfs_lister_next returns 1 with *ent filled, 0 at the end, or an error. */
int kvfs_store_list(struct kvfs_store *store, const char *key,
		    enum kvfs_consistency level, struct kvfs_lister **out);
int kvfs_lister_next(struct kvfs_lister *lister, struct kvfs_dirent *ent);
void kvfs_lister_close(struct kvfs_lister *lister);

/* Ranged reads: a reader is a snapshot of the value taken when it was
 * opened; later writes do not change what it returns. Values of any size;
 * nothing is held in memory that the backend does not need. */
int kvfs_store_open_reader(struct kvfs_store *store, const char *key,
			   enum kvfs_consistency level,
			   struct kvfs_reader **out);
/* Read up to len bytes at off; returns bytes read (0 at end) or an error. */
ssize_t kvfs_reader_pread(struct kvfs_reader *reader, void *buf, size_t len,
			  uint64_t off);
uint64_t kvfs_reader_size(const struct kvfs_reader *reader);
void kvfs_reader_close(struct kvfs_reader *reader);

/* Streaming writes: a writer holds a private new value, starting as a copy
 * of `base` (a reader's snapshot) or empty when base is NULL. Nothing is
 * visible to anyone until kvfs_writer_commit publishes the whole value
 * atomically. Commit and abort both free the writer. */
int kvfs_store_open_writer(struct kvfs_store *store, const char *key,
			   enum kvfs_consistency level,
			   struct kvfs_reader *base, struct kvfs_writer **out);
ssize_t kvfs_writer_pwrite(struct kvfs_writer *writer, const void *buf,
			   size_t len, uint64_t off);
/* Move up to len bytes from fd (a pipe, or any readable descriptor at its
 * current offset) into the value at off: the number moved, 0 when fd had
 * nothing, or a negative KVFS_E* code. Where the backend lends its file
 * (KVFS_CTL_WRITER_FD) the bytes go by splice(2), without a copy through
 * this process. */
ssize_t kvfs_writer_pwrite_from(struct kvfs_writer *writer, int fd,
				size_t len, uint64_t off);
ssize_t kvfs_writer_pread(struct kvfs_writer *writer, void *buf, size_t len,
			  uint64_t off);
int kvfs_writer_truncate(struct kvfs_writer *writer, uint64_t size);
uint64_t kvfs_writer_size(const struct kvfs_writer *writer);
/* Publish the value. On failure the writer is freed too and the stored
 * value is unchanged. */
int kvfs_writer_commit(struct kvfs_writer *writer);
void kvfs_writer_abort(struct kvfs_writer *writer);

/* Space figures for statfs; backends without them report
 * KVFS_ENOTSUPPORTED. */
struct kvfs_space {
	uint64_t block_size;
	uint64_t blocks;
	uint64_t blocks_free;  /* free blocks, also those kept for root */
	uint64_t files;
	uint64_t files_free;
	/* Version 2: with KVFS_SPACE_AVAIL in valid, what an unprivileged
	 * writer may still use (statvfs f_bavail, f_favail); without it,
	 * the free figures above. */
	unsigned int valid;
	uint64_t blocks_avail;
	uint64_t files_avail;
};
#define KVFS_SPACE_AVAIL 0x1u
int kvfs_store_space(struct kvfs_store *store, struct kvfs_space *space);

/* Backend-specific controls (causal tokens, change notifications, stats).
 * Ops are KVFS_CTL_* from kvfs/backend.h; an op the backend does not know
 * answers KVFS_ENOTSUPPORTED. */
int kvfs_store_control(struct kvfs_store *store, int op, void *arg);

/* Per-level figures kept by the store's wrappers since the store was
 * opened. Every call counts in ops; a failed one in exactly one of:
 * not_found (KVFS_ENOTFOUND, KVFS_ENODATA: a lookup of a name or an
 * attribute that is not there), refused (a request refused for what it
 * asked: exists, not empty, is / is not a directory, invalid key or
 * argument, name or value too large, not supported), errors (the rest:
 * the store failed - unavailable, timed out, conflict, no space,
 * read-only, unexpected). */
struct kvfs_level_stats {
	uint64_t ops;
	uint64_t errors;
	uint64_t not_found;
	uint64_t refused;
	uint64_t latency_us_p50;
	uint64_t latency_us_p99;
	uint64_t latency_us_max;
};
void kvfs_store_level_stats(struct kvfs_store *store,
			    enum kvfs_consistency level,
			    struct kvfs_level_stats *out);

/* ------------------------------------------------------ configuration */

/*
 * The configuration file (libconfig syntax; lib/docs/config.md). Consistency
 * rules by key prefix come with it.
 */
struct kvfs_rules;

/* Read when no config= option names a file, if it exists. */
#define KVFS_CONFIG_DEFAULT_PATH "/etc/kvfs/kvfs.conf"

/*
 * Load the file at `path`: every setting becomes an option in opts unless
 * opts already has that option (mount options override the file). Flat
 * settings (root = "/srv/kv";) and groups named after a backend
 * (etcd = { endpoints = [..]; prefix = ".."; };) are both accepted; only
 * the group of the backend in use is applied. `rules = ( { prefix = ..;
 * consistency = ..; }, ... );` becomes *rules (caller frees with
 * kvfs_rules_free; rules may be NULL to only check them).
 * Errors, KVFS_EINVAL with one line: "FILE:LINE: message" for a syntax
 * error, an unknown setting (named) or an unknown level in a rule (named);
 * "FILE: cannot read: ..." for an unreadable file. On error opts is
 * unchanged and *rules is not set.
 */
int kvfs_config_load(const char *path, struct kvfs_options *opts,
		     struct kvfs_rules **rules);

/*
 * What a mount does: takes "config" from opts and loads that file; with no
 * config= option, loads KVFS_CONFIG_DEFAULT_PATH if it exists, else adds
 * nothing. *rules (if rules is not NULL) is always set on success, maybe
 * to an empty rule set.
 */
int kvfs_config_apply(struct kvfs_options *opts, struct kvfs_rules **rules);

/*
 * The level of the longest rule prefix matching key ("" is the root).
 * A prefix matches whole components: "metrics" matches "metrics" and
 * "metrics/..."; "metrics/" matches only "metrics/..."; neither matches
 * "metricsfoo". "" matches every key, "/" every key but the root.
 * KVFS_ENOTFOUND when no rule matches (or rules is NULL). Thread-safe on a
 * rule set nobody frees.
 */
int kvfs_rules_match(const struct kvfs_rules *rules, const char *key,
		     enum kvfs_consistency *out);

/* Free a rule set; accepts NULL. */
void kvfs_rules_free(struct kvfs_rules *rules);


/* ------------------------------------------------------------- logging */

/*
 * Log lines of the library and the daemon ("the cluster is unreachable",
 * "journal entry moved aside"). By default they go to stderr as
 * "kvfs: MESSAGE"; the daemon sends them to syslog once it runs in the
 * background. Lines above the set level are dropped.
 */
enum kvfs_log_level {
	KVFS_LOG_ERROR = 0,
	KVFS_LOG_WARNING = 1, /* the default */
	KVFS_LOG_INFO = 2,
	KVFS_LOG_DEBUG = 3,
};

/* Receives each line (without a trailing newline) at or below the level. */
typedef void (*kvfs_log_fn)(enum kvfs_log_level level, const char *message,
			    void *ctx);

/* Route log lines to fn (NULL: back to stderr). Not thread-safe with
 * concurrent logging: call at start-up. */
void kvfs_log_set_handler(kvfs_log_fn fn, void *ctx);
void kvfs_log_set_level(enum kvfs_log_level level);
enum kvfs_log_level kvfs_log_get_level(void);
/* "error", "warning", "info", "debug"; anything else: KVFS_EINVAL naming
 * the accepted values. */
int kvfs_log_level_parse(const char *text, enum kvfs_log_level *out);
void kvfs_log(enum kvfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif /* KVFS_KVFS_H */
