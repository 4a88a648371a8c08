/*
 * kvfs_fs.h - what the modules of the kvfs FUSE daemon share: the daemon
 * state, the inode table, open-file handles, consistency-level resolution,
 * the errno mapping and the kernel-cache invalidation queue.
 *
 * Lock order (take left before right, never the other way round):
 *
 *     fs->ns_lock  ->  inode->lock  ->  fs->table_lock  ->  locks mutex
 *
 * ns_lock (rwlock) guards the binding of a writer to a key: a writer is
 * opened and committed under it shared; rename and unlink take it
 * exclusively so that no writer publishes under a name that is changing.
 * inode->lock guards one inode's open handles and what they hold.
 * table_lock guards the hash table, every inode's parent/name, and the
 * reference counts. The mutex of the file locks (locks.c) guards them and
 * every inode's locks pointer. The invalidation queue has its own lock, taken with
 * none of the above held, and it calls into the kernel with no lock held.
 */
#ifndef KVFS_FS_H
#define KVFS_FS_H

#define FUSE_USE_VERSION 314

#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include <kvfs/backend.h>
#include <kvfs/kvfs.h>

#include "cache_policy.h"

/* Reserved xattr names (see fs/README.md). */
#define KVFS_XATTR_LEVEL "user.kvfs.consistency"
#define KVFS_XATTR_EFFECTIVE "user.kvfs.consistency.effective"
#define KVFS_XATTR_TOKEN "user.kvfs.causal-token"
#define KVFS_XATTR_STATS "user.kvfs.stats"
#define KVFS_XATTR_PREFIX "user.kvfs."

struct fs_handle;
struct fs_lock_domain;
struct fs_locks;

/*
 * One object the kernel knows by node id (the inode's address; the root is
 * FUSE_ROOT_ID). Its key is built from the parent chain on demand, so a
 * rename of a directory is one pointer change.
 */
struct fs_inode {
	/* Protected by fs->table_lock. */
	struct fs_inode *parent;  /* holds a reference; NULL for the root */
	char *name;               /* component; "" for the root */
	struct fs_inode *hnext;   /* hash chain */
	struct fs_inode *anext, *aprev; /* every inode, around fs->root */
	uint64_t nlookup;         /* kernel lookups not yet forgotten */
	uint64_t refs;            /* children in the table, internal users */
	bool hashed;              /* in the table (false once unlinked) */
	bool unlinked;            /* name removed while open */
	bool superseded;          /* name moved to a new node (unlinked too;
	                             see kvfs_fs_inode_supersede) */

	/* Set at creation, never changed. */
	fuse_ino_t ino;
	bool is_dir;

	/* Protected by the file locks' mutex (locks.c): the flock and POSIX
	 * locks of the file, shared with its other nodes; NULL until the
	 * first lock request. */
	struct fs_lock_domain *locks;

	/* Protected by lock. */
	pthread_mutex_t lock;
	struct fs_handle *handles; /* open files of this inode */
	unsigned int dirty;        /* handles holding an uncommitted writer */
	uint64_t data_gen;         /* bumped by every commit through us */
	bool cache_suspect;        /* kernel pages may hold an older value */
	bool size_suspect;         /* kernel's size may not be the stored:
	                              readers use direct I/O until a clean
	                              writer session sets it right (file.c) */
	uint64_t size_events;      /* what may change the kernel's size
	                              behind a writer: attribute replies
	                              of a size other than the page
	                              writer's (kvfs_fs_attr_reply, getattr
	                              in ops.c), writable opens,
	                              failed publishes, pushes (file.c) */
	uint64_t pc_gen;           /* data_gen whose pages the kernel keeps */
	bool storing;              /* a publish is filling the page cache */
	unsigned int nwriters;     /* handles open for writing */
	struct timespec last_shared; /* CLOCK_MONOTONIC: last time a writer
	                                and another handle overlapped */
	struct kvfs_reader *retired; /* the value it had when a rename
	                                replaced it, for opens the kernel
	                                may still send; closed when freed */
	bool pending;              /* created here, not yet in the store */
	bool open_stale;           /* an open found the key gone and said
	                              ESTALE; the kernel's one retry of it
	                              gets the store's word instead */
	struct timespec looked_up; /* CLOCK_MONOTONIC: last LOOKUP reply */
	uint32_t pending_mode;     /* its mode, applied when published */
	bool has_mtime_override;   /* utimens while open for writing */
	struct timespec mtime_override;
	bool has_atime_override;   /* the same for the atime */
	struct timespec atime_override;

	/* Level cache, protected by lock: valid while level_gen equals
	 * fs->level_gen. own_state: 0 unknown, 1 none, 2 own xattr set. */
	uint64_t level_gen;
	enum kvfs_consistency level;
	uint64_t own_gen;
	int own_state;
	enum kvfs_consistency own_level;
};

/* An open file: close-to-open state over a reader snapshot and a writer. */
struct fs_handle {
	struct fs_inode *inode;
	struct fs_handle *next, *prev; /* inode->handles, under inode->lock */
	/* Protected by inode->lock. */
	struct kvfs_reader *reader; /* snapshot taken at open, or NULL */
	struct kvfs_writer *writer; /* uncommitted new value, or NULL */
	bool empty_base;            /* next writer starts empty (O_TRUNC) */
	bool need_reader;           /* reopen the snapshot before reading */
	bool commit_pending;        /* publish even without writes (O_TRUNC) */
	bool cached;                /* reads go through the page cache */
	bool page_writer;           /* a writer through the page cache (it
	                               was alone at open; see attach) */
	uint64_t events_mark;       /* inode->size_events when the writer
	                               session began (open, last publish) */
	bool size_ok;               /* ... and the kernel's size was right
	                               then (or O_TRUNC made it 0) */
	uint64_t gen;               /* inode->data_gen the snapshot has */
	int failed;                 /* errno of a write that failed after
	                               its reply (kvfs_fs_write_buf): the
	                               handle's unpublished writes are lost
	                               and every later write, truncate and
	                               publish of it fails with this */
	enum kvfs_consistency level;
	int flags;                  /* open(2) flags */
	pid_t opener;               /* the thread that opened it */
};

/* Daemon options that the fuse_opt table fills in (see main.c). */
struct fs_config {
	double timeout;      /* entry/attr timeout where caching is allowed */
	double weak_timeout; /* for non-strong files on shared backends */
	int writeback;       /* kernel writeback cache (local backend only) */
	int no_writeback;
	int page_cache;      /* readers may use the kernel page cache */
	double quiet;        /* seconds without writers before they may */
	double spin;         /* microseconds a worker watches for the next
	                        request after answering one (loop.c) */
};

struct fs {
	struct kvfs_store *store;
	struct fuse_session *se;
	struct fs_config cfg;
	enum kvfs_consistency mount_level;
	struct kvfs_rules *rules;     /* prefix rules from the config file;
	                                 read-only once mounted */
	unsigned int caps;   /* the store's KVFS_CAP_* (kvfs_store_caps) */
	bool exclusive;      /* only writer of the store (KVFS_CAP_SOLE_WRITER):
	                        the kernel may cache what it shows */
	bool serial;         /* one thread serves every request (-s through
	                        libfuse's loop): nothing may wait */
	struct fs_locks *locks; /* flock and POSIX locks (locks.c) */
	bool debug;
	uid_t uid;
	gid_t gid;

	pthread_rwlock_t ns_lock;     /* see the lock order above */
	pthread_mutex_t table_lock;   /* see the lock order above */
	struct fs_inode **buckets;    /* table_lock */
	size_t nbuckets, count;       /* table_lock */
	struct fs_inode root;
	uint64_t level_gen;           /* atomic; bumped when inherited levels
	                                 may have changed */
	unsigned long dirty_total;    /* atomic; handles with writers */
	unsigned long pending_total;  /* atomic; inodes with pending set */

	/* Names whose node was superseded lately, a ring (table_lock). */
	struct fs_superseded {
		const struct fs_inode *parent;
		size_t name_hash;
		struct timespec at;   /* CLOCK_MONOTONIC */
	} superseded[8];
	unsigned int superseded_next;

	struct fs_notify *notify;     /* invalidation queue */
	struct fuse_conn_info_opts *conn_opts; /* -o max_write= etc. */

	int ready_fd;                 /* detach.c: the starting process
	                                 waits on it until INIT is
	                                 answered; -1 in the foreground */

	/* session_io.c: the kernel's INIT request until it is answered. */
	uint64_t init_unique;         /* atomic; 0 once answered */
	const char *mountpoint;       /* set once mounted */
	unsigned int conn_dev;        /* the connection's number, or 0 */
	bool aborted;                 /* atomic; the connection was aborted */
	bool killpriv_offered;
	int init_error;               /* errno of a refused INIT, or 0 */

	/* Write requests by how their data came (user.kvfs.stats). */
	unsigned long writes_spliced; /* atomic */
	unsigned long writes_copied;  /* atomic */
	/* When the store was opened (user.kvfs.stats "since:"): wall
	 * clock, and CLOCK_BOOTTIME seconds for the uptime. Set before the
	 * session starts. */
	time_t started;
	int64_t started_boot;
};

/* The mode bits kvfs keeps: permissions and the sticky bit. Set-user-ID
 * and set-group-ID bits are dropped (fs/README.md, "Other operations"),
 * so a write never has one to clear (session_io.c). */
#define KVFS_MODE_KEPT 01777

/* ----------------------------------------------------------- detach.c */

/* Fork; the parent waits for the child's word (kvfs_fs_detach_end) and
 * exits 0, or exits with the child's status when it ends first. In the
 * child, returns the descriptor to give that word on; -1 (the error
 * printed) when it cannot. Call before any thread starts. */
int kvfs_fs_detach_begin(void);
/* Mounted and served: the daemon leaves the terminal (stdio to
 * /dev/null, a session of its own, logs to syslog) and lets the parent
 * return. */
void kvfs_fs_detach_end(int ready);

/* ----------------------------------------------------------- health.c */

/* Append user.kvfs.stats's "backend: reachable" or "backend: unreachable
 * since TIME (N s): why" line; nothing for a backend that has no such
 * state. 0 or a KVFS_E* code. */
int kvfs_fs_health_line(struct fs *fs, struct kvfs_buf *out);

/* getattr of the mount root: as kvfs_fs_getattr_of, but from the last
 * answer while the backend is unreachable (*from_cache: reply with a
 * cache time of 0). Returns an errno. */
int kvfs_fs_root_getattr(struct fs *fs, struct fs_inode *inode,
			 struct fuse_file_info *fi, struct stat *st,
			 bool *own_view, bool *from_cache);

/* --------------------------------------------------------- log_dest.c */

/* Choose where log lines go from -o log=DEST (NULL: the default): stderr,
 * syslog or an absolute file path, opened now. A bad value or a file that
 * cannot be opened: one line on stderr, -1. */
int kvfs_fs_log_open(const char *spec, bool foreground);

/* Detaching: switch to the chosen destination (the default: syslog when
 * /dev/log answers, else stderr when it is a terminal or a file; said in
 * one line on stderr). True when the daemon must keep its stderr. */
bool kvfs_fs_log_detached(void);

/* ------------------------------------------------------- session_io.c */

/* Route the session's /dev/fuse traffic through kvfs's hooks (after
 * fuse_session_mount): 0, or a negative errno with the reason logged by
 * libfuse. */
int kvfs_fs_session_io(struct fs *fs);
/* The absolute path of the mount point mnt, symlinks and "." resolved,
 * into out (mountpoint.c), asking nothing of a filesystem mounted there:
 * 0, -ENOENT when it does not exist, or another negative errno. */
int kvfs_fs_mountpoint_resolve(const char *mnt, char out[PATH_MAX]);
/* The device minor of the newest FUSE mount at the absolute path mnt
 * (/proc/self/mountinfo), or 0 when there is none. */
unsigned int kvfs_fs_mount_device(const char *mnt);
/* The session is mounted at mountpoint (which must outlive it): note the
 * connection's number, for kvfs_fs_session_abort. */
void kvfs_fs_session_mounted(struct fs *fs, const char *mountpoint);
/* Abort the connection, if it is still there: every request the kernel
 * has not had answered fails, and every wait of the daemon's for the
 * kernel ends. For the end of the session only. With why, the outcome is
 * logged as a warning naming it. */
void kvfs_fs_session_abort(struct fs *fs, const char *why);

/* --------------------------------------------------------- requests.c */

/* A request of the kernel's with this opcode came in (read or spliced
 * from /dev/fuse). */
void kvfs_fs_request_seen(uint32_t opcode);
/* Append "kernel: LOOKUP=n GETATTR=n ...\n", the requests seen so far by
 * kind (those seen at least once), to out: a libkvfs result. */
int kvfs_fs_requests_text(struct kvfs_buf *out);

/* ------------------------------------------------------------ errno.c */

/* The one place where a libkvfs result becomes an errno: returns the
 * positive errno for a negative KVFS_E* code (0 for rc >= 0) and logs the
 * library's message, naming `what`. */
int kvfs_fs_errno(struct fs *fs, int rc, const char *what);

/* ------------------------------------------------------------ inode.c */

int kvfs_fs_table_init(struct fs *fs);
void kvfs_fs_table_destroy(struct fs *fs);
/* The inode of a node id the kernel gave us (borrowed). */
struct fs_inode *kvfs_fs_inode(struct fs *fs, fuse_ino_t ino);
/* Build the key of `inode`, or of its child `name` when name is not NULL,
 * into out[KVFS_KEY_MAX + 1]. ENAMETOOLONG when it does not fit. */
int kvfs_fs_key(struct fs *fs, struct fs_inode *inode, const char *name,
		char *out);
/* Find or add the child `name` of parent and count one kernel lookup.
 * Returns the inode (borrowed; the kernel's lookup keeps it) or NULL. */
struct fs_inode *kvfs_fs_inode_get(struct fs *fs, struct fs_inode *parent,
				   const char *name, bool is_dir);
/* Find the child (no lookup counted); takes an internal reference that
 * kvfs_fs_inode_put drops. NULL when not in the table. */
struct fs_inode *kvfs_fs_inode_find(struct fs *fs, struct fs_inode *parent,
				    const char *name);
void kvfs_fs_inode_hold(struct fs *fs, struct fs_inode *inode);
void kvfs_fs_inode_put(struct fs *fs, struct fs_inode *inode);
/* Drop n kernel lookups (forget). */
void kvfs_fs_inode_forget(struct fs *fs, struct fs_inode *inode,
			  uint64_t n);
/* The name went away (unlink, rmdir, replaced by rename). */
void kvfs_fs_inode_unhash(struct fs *fs, struct fs_inode *inode);
/* As kvfs_fs_inode_unhash, and writes the parent's node id and the name
 * (KVFS_NAME_MAX + 1 bytes) for the entry invalidation that must follow;
 * false when inode had no name any more. */
bool kvfs_fs_inode_unhash_named(struct fs *fs, struct fs_inode *inode,
				fuse_ino_t *parent, char *name);
/* Give the name of inode a new node: inode keeps its open files, as a
 * file replaced by rename(2) does, and the next lookup of the name makes
 * a new inode. Writes the parent's node id and the name (KVFS_NAME_MAX + 1
 * bytes) for the entry invalidation that must follow; false when inode
 * had no name any more. */
bool kvfs_fs_inode_supersede(struct fs *fs, struct fs_inode *inode,
			     fuse_ino_t *parent, char *name);
/* True when the name of inode was superseded less than secs ago. */
bool kvfs_fs_inode_superseded_within(struct fs *fs,
				     const struct fs_inode *inode, double secs);
/* Move inode to newparent/newname. */
int kvfs_fs_inode_move(struct fs *fs, struct fs_inode *inode,
		       struct fs_inode *newparent, const char *newname);
/* True when `inode` is `dir` or lies below it. Caller holds table_lock. */
bool kvfs_fs_inode_is_below(const struct fs_inode *inode,
			    const struct fs_inode *dir);
/* Call fn for every inode (the root first), with table_lock held: fn
 * must not block or take other locks. */
void kvfs_fs_inode_each(struct fs *fs,
			void (*fn)(struct fs_inode *inode, void *ctx),
			void *ctx);
/* Take an internal reference on every inode for which want(inode, ctx)
 * is true and hand them to *out (NULL when none): the caller drops each
 * with kvfs_fs_inode_put and frees the array. want runs with table_lock
 * held, like kvfs_fs_inode_each's fn. Returns how many; an inode that
 * finds no memory is left out. */
size_t kvfs_fs_inode_collect(struct fs *fs,
			     bool (*want)(const struct fs_inode *inode,
					  void *ctx),
			     void *ctx, struct fs_inode ***out);
/* Find the inode of a key by walking from the root; takes an internal
 * reference, NULL when any component is unknown. */
struct fs_inode *kvfs_fs_inode_by_key(struct fs *fs, const char *key);

/* ------------------------------------------------------------ locks.c */

/* The table of flock and POSIX locks (kvfs_fs_table_init and _destroy
 * call these). */
int kvfs_fs_locks_init(struct fs *fs);
void kvfs_fs_locks_destroy(struct fs *fs);
/* inode is freed: its share of its lock domain goes. */
void kvfs_fs_locks_forget(struct fs *fs, struct fs_inode *inode);
/* The name key went (unlink, rmdir): the locks of files at or below it
 * stay with their open files; a later file of the name starts afresh. */
void kvfs_fs_locks_removed(struct fs *fs, const char *key);
/* A rename moved from to to: locks follow the files; those of files it
 * replaced stay with their open files. */
void kvfs_fs_locks_renamed(struct fs *fs, const char *from, const char *to);
/* An open file closes: with flock, the open file's flock lock goes (its
 * last close, RELEASE); else the POSIX locks of the process (any close,
 * FLUSH). owner: the kernel's lock owner. */
void kvfs_fs_locks_release(struct fs *fs, struct fs_inode *inode,
			   uint64_t owner, bool flock);
void kvfs_fs_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		   struct flock *lock);
void kvfs_fs_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		   struct flock *lock, int sleep);
void kvfs_fs_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		   int op);

/* ------------------------------------------------------------ level.c */

/* The level in force for inode (its own xattr, the nearest ancestor's,
 * prefix rules, the mount option, strong). Cached per inode. */
enum kvfs_consistency kvfs_fs_level(struct fs *fs, struct fs_inode *inode);
/* The level of the existing object parent/name that has no inode yet:
 * its own xattr, else what it inherits. */
enum kvfs_consistency kvfs_fs_level_of_name(struct fs *fs,
					    struct fs_inode *parent,
					    const char *name);
/* As the two above, but 0 or an errno: the xattrs that decide the level
 * could not be read (the store did not answer); *out is then the mount's
 * level and must not be relied on. */
int kvfs_fs_level_get(struct fs *fs, struct fs_inode *inode,
		      enum kvfs_consistency *out);
int kvfs_fs_level_of_name_get(struct fs *fs, struct fs_inode *parent,
			      const char *name, enum kvfs_consistency *out);
/* Remember `level`, computed at generation `gen` (kvfs_fs_level_gen,
 * read before computing), as inode's level. */
uint64_t kvfs_fs_level_gen(struct fs *fs);
void kvfs_fs_level_prime(struct fs *fs, struct fs_inode *inode,
			 enum kvfs_consistency level, uint64_t gen);
/* The level a new child of `parent` called `name` would get. */
enum kvfs_consistency kvfs_fs_level_new_child(struct fs *fs,
					      struct fs_inode *parent,
					      const char *name);
/* A consistency xattr of inode changed: forget cached levels (for a
 * directory, of everything, since its subtree inherits). */
void kvfs_fs_level_changed(struct fs *fs, struct fs_inode *inode);

/* ------------------------------------------------------------ loop.c */

/* pthread_create with the signals that end the session (SIGTERM,
 * SIGINT, SIGHUP, SIGQUIT) blocked in the new thread, so that the main
 * thread takes them (its handler ends the session); logged on failure.
 * Returns 0 or an errno. */
int kvfs_fs_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

/* Serve requests until the session ends, with up to max_threads workers
 * (0: 10) reading and serving, not counting those waiting for the kernel;
 * a worker that answered one watches for the next for spin seconds (0:
 * never). At the end, when a worker still waits for the kernel 0.2 s
 * after the others stopped reading, stuck(ctx) is called (may be NULL)
 * to end that wait. Returns 0 or a negative errno. */
int kvfs_fs_loop(struct fuse_session *se, unsigned int max_threads,
		 double spin, void (*stuck)(void *ctx), void *ctx);
/* Called by a handler with slow work left to do (after its reply): let
 * another worker read the next request meanwhile. */
void kvfs_fs_loop_hand_off(void);
/* Around a wait for the kernel that may need another request served
 * first (a notification, a push into the page cache): meanwhile the
 * worker does not count against max_threads, so that another can read
 * that request. No-ops in threads that are not the loop's workers. */
void kvfs_fs_loop_wait_begin(void);
void kvfs_fs_loop_wait_end(void);
/* For INIT (op_init): the largest write request the loop serving it can
 * take by splice, 0 when it cannot (libfuse's loop, or no pipe of 1 MiB);
 * then whether it may, given the max_write the mount settled on. */
size_t kvfs_fs_loop_splice_max(void);
void kvfs_fs_loop_splice_writes(size_t max_write);

/* ------------------------------------------------------ descriptors.c */

/* Was the close that thread `closer` just made of the file whose node id
 * is ino the last of the open file that thread `opener` opened: the same
 * process, holding no other descriptor of it? False when that cannot be
 * told. Called from a worker; may read /proc for a while. */
bool kvfs_fs_last_close(pid_t closer, pid_t opener, uint64_t ino);

/* ------------------------------------------------------------ file.c */

/* Publish every uncommitted writer of inode (caller holds ns_lock shared
 * or exclusive and inode->lock). Returns 0 or a positive errno. */
int kvfs_fs_commit_inode(struct fs *fs, struct fs_inode *inode);
/* Make a name that create left pending (it exists only in the inode
 * table until its first publish) exist in the store, for operations that
 * change it there: with what an open file of it has written so far (that
 * file is published), else as an empty value. Caller holds nothing.
 * Returns 0 or a positive errno. */
int kvfs_fs_materialize(struct fs *fs, struct fs_inode *inode);
/* Materialize inode, then write its key into key (KVFS_KEY_MAX + 1
 * bytes): the key of an inode that exists in the store. Caller holds
 * nothing. Returns 0 or a positive errno. */
int kvfs_fs_stored_key(struct fs *fs, struct fs_inode *inode, char *key);
/* True when inode is pending (takes inode->lock). */
bool kvfs_fs_is_pending(struct fs *fs, struct fs_inode *inode);
/* A pending inode's name goes away before it was ever published (unlink,
 * replaced by a rename): it is not pending any more, and the store has
 * nothing to remove. True when it was pending. Caller holds ns_lock
 * exclusively. */
bool kvfs_fs_drop_pending(struct fs *fs, struct fs_inode *inode);
/* For a pending inode, remember a new mode and times (FUSE_SET_ATTR_*
 * bits of to_set) for its first publish instead of publishing it now.
 * False when inode is not pending (the store must be changed). */
bool kvfs_fs_pending_set_attr(struct fs_inode *inode, int to_set,
			      const struct stat *attr);
/* The name of inode is about to go (unlink, replaced by a rename): give
 * each open handle that would re-open its snapshot lazily (after a
 * publish) that snapshot now, so it keeps reading its own value rather
 * than nothing or a later file of the same name. With retain (a rename
 * replaces it) returns that value too, for kvfs_fs_retire once the name
 * is gone, or NULL. Caller holds ns_lock exclusively and no inode lock. */
struct kvfs_reader *kvfs_fs_keep_snapshots(struct fs *fs,
					   struct fs_inode *inode, bool retain);
/* inode's name was replaced by a rename: value (owned, may be NULL) is
 * what the node held, for opens of it that the kernel may still send
 * (they read it, as a replaced file stays readable on a POSIX
 * filesystem). */
void kvfs_fs_retire(struct fs_inode *inode, struct kvfs_reader *value);

/* ---------------------------------------------------- shared_reader.c */

/* Another reader of the snapshot *reader reads, to close on its own;
 * *reader may be replaced by an equivalent reader (still the caller's).
 * NULL when out of memory. */
struct kvfs_reader *kvfs_fs_reader_share(struct kvfs_reader **reader);
extern const struct fuse_lowlevel_ops kvfs_fs_ops;

void kvfs_fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void kvfs_fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		    mode_t mode, struct fuse_file_info *fi);
void kvfs_fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi);
void kvfs_fs_write_buf(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_bufvec *bufv, off_t off,
		       struct fuse_file_info *fi);
void kvfs_fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void kvfs_fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		   struct fuse_file_info *fi);
void kvfs_fs_release(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi);
void kvfs_fs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		   struct fuse_file_info *fi);
/* Truncate through a handle (ftruncate) or the key; positive errno. */
int kvfs_fs_truncate(struct fs *fs, struct fs_inode *inode,
		     struct fuse_file_info *fi, uint64_t size);

/* ------------------------------------------------------------ attr.c */

/* Size and mtime of the value as open file h sees it, when that differs
 * from the store (an uncommitted writer, an older snapshot). Caller holds
 * inode->lock. */
bool kvfs_fs_handle_size(struct fs_handle *h, uint64_t *size);
/* The open file whose view of the size every attribute reply for inode
 * must carry, whoever asks: a writer through the page cache (the kernel's
 * size and pages are its own; any other size would cut its pages or pad
 * them), else the only open file that has written (or truncated at open)
 * since its open or last publish, so that fstat after a write shows its
 * size; NULL when none or several have. Caller holds inode->lock. */
struct fs_handle *kvfs_fs_size_owner(struct fs_inode *inode);
/* Size of the value open file h sees, whatever others see: its writer,
 * else its snapshot, else 0. Caller holds inode->lock. */
uint64_t kvfs_fs_handle_view(struct fs_handle *h);
/* Fill st for inode from the store; its size is the page writer's
 * (kvfs_fs_size_owner), or with fi that open file's own view (its
 * uncommitted writer or its snapshot). *own_view (may be NULL) tells that
 * the size is fi's alone, not for the kernel to keep. Positive errno. */
int kvfs_fs_getattr_of(struct fs *fs, struct fs_inode *inode,
		       struct fuse_file_info *fi, struct stat *st,
		       bool *own_view);
/* A reply with attributes read from the store (lookup, create, mkdir,
 * mknod, readdirplus; getattr and setattr count their own, as they know
 * when the size is the page writer's) is being built for inode:
 * counted before the store is asked, so that a writer session can tell
 * whether the kernel may have been given a size older than what it
 * publishes (file.c). */
void kvfs_fs_attr_reply(struct fs_inode *inode);
/* What the kernel may cache on this mount (cache_policy.h). */
static inline struct policy_mount kvfs_fs_policy(const struct fs *fs)
{
	return (struct policy_mount){ .sole_writer = fs->exclusive,
				      .page_cache = fs->cfg.page_cache != 0,
				      .timeout = fs->cfg.timeout,
				      .weak_timeout = fs->cfg.weak_timeout };
}
/* Attribute timeout for inode (kvfs_policy_attr_timeout). */
static inline double kvfs_fs_timeout(struct fs *fs, struct fs_inode *inode)
{
	struct policy_mount m = kvfs_fs_policy(fs);

	return kvfs_policy_attr_timeout(&m, kvfs_policy_attrs_by_level(&m) &&
				kvfs_fs_level(fs, inode) == KVFS_STRONG);
}
/* Entry timeout (names; kvfs_policy_entry_timeout). */
static inline double kvfs_fs_entry_timeout(struct fs *fs)
{
	struct policy_mount m = kvfs_fs_policy(fs);

	return kvfs_policy_entry_timeout(&m);
}
/* Look up parent/name and fill e (counting a lookup). Positive errno. */
int kvfs_fs_do_lookup(struct fs *fs, struct fs_inode *parent,
		      const char *name, struct fuse_entry_param *e);

/* ------------------------------------------------------------ xattr.c */

void kvfs_fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		      const char *value, size_t size, int flags);
void kvfs_fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		      size_t size);
void kvfs_fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void kvfs_fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* ------------------------------------------------------------ notify.c */

/* Start the invalidation thread and ask the backend for change
 * notifications. Call after the session is mounted. */
int kvfs_fs_notify_start(struct fs *fs);
/* Stop the thread (it calls the kernel through the session's device:
 * before the unmount closes that); later items are dropped. */
void kvfs_fs_notify_stop(struct fs *fs);
/* Free the queue, once the store (whose watch reports into it) is
 * closed. Stops the thread first if need be. */
void kvfs_fs_notify_free(struct fs *fs);
/* Queue an invalidation of inode's attributes (and pages, when pages is
 * true); when wait is true, return once the kernel has been told. Call
 * with no lock held. */
void kvfs_fs_notify_inode(struct fs *fs, fuse_ino_t ino, bool pages,
			  bool wait);
/* Queue an invalidation of the entry name in directory parent, so that
 * the kernel looks the name up again; wait as above. */
void kvfs_fs_notify_entry(struct fs *fs, fuse_ino_t parent, const char *name,
			  bool wait);

#endif /* KVFS_FS_H */
