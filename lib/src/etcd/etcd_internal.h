/*
 * etcd_internal.h - what the files of the etcd backend share: the backend
 * state, the HTTP/JSON client with failover (http.c), the key layout and
 * the cluster operations (ops.c), which members answer (members.c), and
 * the eventual journal (journal.c).
 *
 * Lock order (outermost first): journal.lock, then auth_lock, pool_lock,
 * share_locks, probe_lock; upkeep_lock and watch_lock are leaves. No lock
 * is held across an HTTP request except by the watch thread, which holds
 * none.
 */
#ifndef KVFS_ETCD_INTERNAL_H
#define KVFS_ETCD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include <kvfs/backend.h>

#define ETCD_POOL_MAX 16       /* idle easy handles kept for reuse */
#define ETCD_LIST_PAGE 1000    /* most keys per listing request */
#define ETCD_LIST_PAGE_MIN 16  /* fewest, after a page spent in subtrees */
#define ETCD_RENAME_DEPTH 16   /* levels of directories a rename moves */

struct etcd_journal;

struct etcd {
	struct kvfs_backend base;

	/* Settings, fixed after open. */
	char **endpoints;      /* "http://host:port", no trailing slash */
	size_t n_endpoints;
	size_t prefer;         /* endpoint for serializable reads */
	char *prefix;          /* P: the files are the keys under it */
	size_t prefix_len;
	char *records;         /* kvfs's own records, beside P, not in it */
	size_t records_len;
	uint64_t timeout_ms;   /* bound of one operation */
	uint64_t lock_wait_ms; /* for another mount to let go of the journal */
	uint64_t max_request;  /* etcd's --max-request-bytes */
	uint64_t max_value;    /* largest value accepted */
	uint64_t inline_max;   /* values up to this are one key */
	uint64_t chunk_size;   /* bytes per chunk of a larger value */
	uint64_t max_txn_ops;  /* etcd's --max-txn-ops */
	uint64_t quota;        /* etcd's --quota-backend-bytes, for statfs */
	char *cacert, *cert, *key;
	char *user, *password;
	uint64_t cluster_id;   /* 0 until a member answered */

	/* Token of the authenticated user; protected by auth_lock. */
	pthread_mutex_t auth_lock;
	char *token;
	uint64_t token_gen;    /* bumped on every new token */

	/* Idle easy handles; protected by pool_lock. */
	pthread_mutex_t pool_lock;
	CURL *pool[ETCD_POOL_MAX];
	size_t pool_n;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

	/* Revisions: highest of this mount's writes, highest seen by reads,
	 * writes and imported tokens (the causal floor). */
	atomic_uint_least64_t write_rev;
	atomic_uint_least64_t causal_floor;
	atomic_size_t current; /* endpoint for linearizable requests */
	atomic_uint_least64_t quorum_fail_ms; /* last linearizable timeout */

	/* Members that let a request go unanswered (members.c): one flag
	 * per endpoint, read and set without a lock. probe_lock protects
	 * the probe thread's state and goes with probe_cond. */
	atomic_bool *suspect;
	pthread_mutex_t probe_lock;
	pthread_cond_t probe_cond;
	pthread_t probe_thread;
	bool probe_running, probe_stop;

	/* Figures for KVFS_CTL_STATS_TEXT. */
	atomic_uint_least64_t n_requests, n_failovers, n_errors;
	atomic_uint_least64_t n_serializable, n_linearizable, n_fallbacks;
	atomic_uint_least64_t n_local_reads, n_conflict_retries;
	atomic_uint_least64_t n_watch_events, n_watch_own;
	atomic_uint_least64_t n_suspected, n_probes, n_list_restarts;

	/* Reachability (KVFS_CTL_HEALTH): since when (Unix seconds; 0: it
	 * answers) no member served a request that needed the cluster, and
	 * why; the last statfs answer, served while it does not answer.
	 * health_lock protects down_why and the space fields. */
	atomic_int_least64_t down_since;
	pthread_mutex_t health_lock;
	char down_why[256];
	struct kvfs_space last_space;
	bool have_space;

	/* Last-seen copies of small values, for eventual reads when no
	 * member answers; protected by seen_lock. */
	pthread_mutex_t seen_lock;
	struct etcd_seen *seen;

	struct etcd_journal *journal;

	/* Revisions made by this mount's own writes, newest last, so that
	 * the watch leaves alone what this mount changed itself (the kernel
	 * already knows); a ring protected by own_lock. */
	pthread_mutex_t own_lock;
	uint64_t own_revs[64];
	unsigned int own_next;
	/* Write transactions sent / answered (etcd_own_write_start/_end):
	 * an event may arrive before the answer that names its revision. */
	atomic_uint_least64_t own_started, own_done;
	atomic_uint_least64_t own_newest; /* highest revision in own_revs */

	/* The watch thread (KVFS_CTL_WATCH); watch_lock protects the
	 * callback and the stop flag's condition variable. */
	pthread_mutex_t watch_lock;
	pthread_cond_t watch_cond;
	pthread_t watch_thread;
	bool watch_running;
	atomic_bool watch_stop;
	struct kvfs_watch watch;

	/* The upkeep at mount, by a thread of its own (etcd.c): the
	 * completion of renames left halfway (ops.c), then the collection
	 * of chunks nothing refers to (chunks.c); their figures. */
	pthread_t upkeep_thread;
	bool upkeep_running;
	atomic_bool upkeep_stop;
	atomic_bool moves_done, collect_done;
	/* Renames to complete again (one of this mount's stopped halfway,
	 * or a completion failed); upkeep_lock guards it and the wait on
	 * upkeep_wake. A leaf lock. */
	pthread_mutex_t upkeep_lock;
	pthread_cond_t upkeep_wake;
	bool moves_pending;
	atomic_uint_least64_t n_gens_collected, n_stale_records;
	/* Renames of directories in steps: begun by this mount, and left
	 * halfway (by another mount, or by this one) that it completed. */
	atomic_uint_least64_t n_moves_started, n_moves_completed;
};

/* ------------------------------------------------------------- http.c */

/* etcd_call flags. */
#define ETCD_CALL_PREFERRED 0x1u /* start at the preferred member */
#define ETCD_CALL_QUIET 0x2u     /* no log line when every member fails */

/* Parse and check endpoints=URL[,URL...] into e->endpoints. */
int etcd_parse_endpoints(struct etcd *e, const char *text);

/* Set up curl (share handle, locks). */
int etcd_http_init(struct etcd *e);
void etcd_http_cleanup(struct etcd *e);

/* Log in as e->user; KVFS_EINVAL when the password is refused. */
int etcd_authenticate(struct etcd *e);

/*
 * POST body (JSON, borrowed) to path on a member and parse the answer
 * into *resp (caller frees with json_decref). Tries members in turn on
 * connection failures, timeouts and "no leader" answers (suspect members
 * last, and only when no other could be reached), all before the
 * deadline of the calling thread's operation (etcd_op_begin), or within
 * e->timeout_ms outside one; re-authenticates once when the token
 * expired. Errors: KVFS_ETIMEDOUT / KVFS_EUNAVAILABLE when no member
 * answered (and one log line naming the endpoints), KVFS_ETOOLARGE,
 * KVFS_ENOSPACE, KVFS_EINVAL (authentication), KVFS_ECONFLICT (compacted
 * revision: etcd_call_compacted), KVFS_EFAIL.
 */
int etcd_call(struct etcd *e, const char *path, json_t *body,
	      unsigned int flags, json_t **resp);

/* Reachability: a call that no member served (timed out, unavailable)
 * marks the cluster unreachable from now (if not already) with the
 * calling thread's message; one served that needed a quorum (not a
 * serializable read, not a status) marks it reachable. */
void etcd_health_note(struct etcd *e, const char *path, unsigned int flags,
		      int rc);
bool etcd_is_down(struct etcd *e);

/* Did the calling thread's last etcd_call fail because the revision it
 * asked for has been compacted? */
bool etcd_call_compacted(void);

/*
 * One storage operation of the calling thread: every etcd_call until
 * etcd_op_end shares one deadline, budget_ms from now, so that timeout=
 * bounds an operation of several requests (and the journal wait before
 * it) as a whole. A nested begin keeps the outer deadline. etcd_op_end
 * returns rc unchanged. Not shared between threads.
 */
void etcd_op_begin(uint64_t budget_ms);
int etcd_op_end(int rc);
/* An operation of many steps, each bounded by itself (the rename of a
 * large directory, ops.c): the running operation's deadline becomes
 * budget_ms from now. */
void etcd_op_next_step(uint64_t budget_ms);
/* Milliseconds left before the calling thread's operation must end
 * (e->timeout_ms outside one). */
uint64_t etcd_op_left_ms(const struct etcd *e);

/* The options every curl handle of this backend has (TLS files, ...). */
void etcd_handle_setup(struct etcd *e, CURL *h);

/* Streaming POST for /v3/watch on a handle of its own: calls on_line for
 * each newline-terminated JSON object until the transfer ends, *stop is
 * set or the member is found not answering (etcd_member_suspect).
 * Returns 0 when the stream ended, or an error. */
int etcd_stream(struct etcd *e, size_t endpoint, const char *path,
		json_t *body, atomic_bool *stop,
		void (*on_line)(void *ctx, const char *line, size_t len),
		void *ctx);

uint64_t etcd_now_ms(void);

/* No log line from etcd_call in the calling thread (it logs itself). */
void etcd_set_thread_quiet(bool quiet);

/* ---------------------------------------------------------- members.c */

/* Allocate the members' flags (after the endpoints are parsed); stop the
 * probe thread and free them (accepts a store that never opened them). */
int etcd_members_open(struct etcd *e);
void etcd_members_close(struct etcd *e);
/* Member ep let a request wait waited_ms without any answer: mark it
 * suspect (one log line) and have it probed until it answers. */
void etcd_member_silent(struct etcd *e, size_t ep, uint64_t waited_ms);
/* Member ep answered something: trusted again. */
void etcd_member_answered(struct etcd *e, size_t ep);
bool etcd_member_suspect(struct etcd *e, size_t ep);
size_t etcd_members_count_suspect(struct etcd *e);
/* The first member from ep on (ep included) that is not suspect; ep
 * when all are. */
size_t etcd_member_next(struct etcd *e, size_t ep);
/* The order in which to try the members, from first on: those not
 * suspect, then the suspect ones, into order[n_endpoints]; returns how
 * many are not suspect. */
size_t etcd_members_order(struct etcd *e, size_t first, size_t *order);

/* ------------------------------------------------------------ codec */

char *etcd_b64_encode(const void *data, size_t len);
/* Decode into a fresh buffer (NUL-terminated); *len gets its size. */
int etcd_b64_decode(const char *text, void **out, size_t *len);
/* A JSON number or a decimal string as etcd sends int64s; 0 if absent. */
uint64_t etcd_json_u64(json_t *obj, const char *name);
/* The "kvs" entry i of a range response, or NULL. */
json_t *etcd_kv_at(json_t *range_resp, size_t i);
/* Decoded key/value of a kv; value absent means empty. */
int etcd_kv_value(json_t *kv, void **out, size_t *len);
int etcd_kv_key(json_t *kv, char **out, size_t *len);

/* ------------------------------------------------------------- ops.c */

/* Which key of the layout (lib/docs/etcd.md): P is the prefix, R the
 * records prefix beside it ("kvfs/" and "kvfs.kvfs/"). */
enum etcd_space {
	ETCD_VALUE, /* P<key>: the file's bytes (empty for chunked ones) */
	ETCD_META,  /* R m/<key>: size, mtime, chunks of a file kvfs wrote */
	ETCD_DIR,   /* R d/<depth>/<key>: a directory kvfs made */
	ETCD_ATTR,  /* R a/<key>: mode and extended attributes */
};

char *etcd_key(const struct etcd *e, enum etcd_space space, const char *key);

/* How reads are served; chosen from the level in etcd.c. */
struct etcd_read {
	bool serializable;
	uint64_t revision;     /* 0: latest */
	uint64_t header_rev;   /* out: the member's revision */
};

/* A read-only transaction of range ops; the level logic of etcd.c. */
int etcd_read_txn(struct etcd *e, enum kvfs_consistency level,
		  json_t *ranges, json_t **resp);
/* The same with a choice made by etcd in the same request: the ranges
 * when every compare holds, else the otherwise ranges (all stolen). */
int etcd_read_txn_if(struct etcd *e, enum kvfs_consistency level,
		     json_t *compare, json_t *ranges, json_t *otherwise,
		     json_t **resp);

/* A read-only transaction of range ops (stolen) for attributes and
 * xattrs: serializable from the preferred member (others on failure);
 * linearizable when that member is behind this mount's latest write, but
 * the member's answer when no leader answers. So a mount always sees its
 * own attribute changes, another mount's after a moment, and reading
 * attributes never waits for a quorum. */
int etcd_read_txn_attrs(struct etcd *e, json_t *ranges, json_t **resp);

/* What the cluster holds for a file. */
struct etcd_file_meta {
	enum kvfs_kind kind;
	uint64_t size;
	struct timespec mtime;
	struct timespec ctime; /* when the value was put */
	char gen[33];      /* chunk generation, "" when inline */
	uint64_t chunks;
	uint64_t version;  /* mod revision of the metadata */
};

int etcd_op_get(struct etcd *e, const char *key, enum kvfs_consistency level,
		struct kvfs_buf *out);
int etcd_op_put(struct etcd *e, const char *key, const void *value,
		size_t len, const struct timespec *mtime);
int etcd_op_delete(struct etcd *e, const char *key);
int etcd_op_stat(struct etcd *e, const char *key,
		 enum kvfs_consistency level, struct kvfs_stat *st);
int etcd_op_mkdir(struct etcd *e, const char *key, uint32_t mode);
int etcd_op_rmdir(struct etcd *e, const char *key);
int etcd_op_rename(struct etcd *e, const char *from, const char *to,
		   unsigned int flags);
/* times: mtime, atime (KVFS_ATTR_MTIME, KVFS_ATTR_ATIME). */
int etcd_op_set_attr(struct etcd *e, const char *key, unsigned int fields,
		     uint32_t mode, const struct timespec *times);
int etcd_op_getxattr(struct etcd *e, const char *key, const char *name,
		     struct kvfs_buf *out);
int etcd_op_setxattr(struct etcd *e, const char *key, const char *name,
		     const void *value, size_t len, unsigned int flags);
int etcd_op_listxattr(struct etcd *e, const char *key, struct kvfs_buf *out);
int etcd_op_removexattr(struct etcd *e, const char *key, const char *name);
/* A lister over the cluster's children of dir, merged by etcd.c with the
 * journal. */
int etcd_op_list(struct etcd *e, const char *dir, enum kvfs_consistency level,
		 struct kvfs_lister **out);
int etcd_op_space(struct etcd *e, struct kvfs_space *space);
/* Complete the renames in steps left halfway (their mover's lock gone),
 * waiting for those whose lock is still there, until none is left or
 * *stop is set; *completed counts them. */
int etcd_moves_complete(struct etcd *e, atomic_bool *stop,
			uint64_t *completed);
/* A rename in steps of this mount stopped halfway: the upkeep completes
 * it once its lock has run out (nothing without the upkeep, collect=0). */
void etcd_upkeep_moves_pending(struct etcd *e);

/* JSON pieces of requests: a string as etcd's base64, the end of the
 * range of keys that start with p (its last byte + 1). */
json_t *etcd_jb64(const void *data, size_t len);
json_t *etcd_jstr(const char *s);
char *etcd_prefix_end(const char *p);

/* ------------------------------------------------------------ chunks.c */

/* Before the chunks of generation gen of key are written: the marker
 * R c/<gen>, under a lease, that keeps them from the collection until
 * the put that publishes them deletes it. */
int etcd_chunks_begin(struct etcd *e, const char *gen, const char *key);
/* A lease of ttl_s seconds: its ID in *id. */
int etcd_lease_grant(struct etcd *e, int64_t ttl_s, uint64_t *id);
/* The marker's key (caller frees), for that put's compare and delete. */
char *etcd_chunks_marker(const struct etcd *e, const char *gen);
/* Delete generation gen: marker and chunks. A failure leaves garbage for
 * the next collection only. */
void etcd_chunks_drop(struct etcd *e, const char *gen);
/* The same, after a publish whose outcome is unknown: only while the
 * marker is there (one transaction), so never the chunks of a publish
 * that took effect; and that publish, should it still come, then finds
 * its marker gone and publishes nothing. */
void etcd_chunks_drop_unpublished(struct etcd *e, const char *gen);
/* Delete the generations that neither a marker nor a current metadata
 * record keeps (and the stale records that pointed at them); stops early
 * when *stop is set. */
int etcd_chunks_collect(struct etcd *e, atomic_bool *stop,
			uint64_t *collected, uint64_t *stale_records);

/* Record the revision of a write of this mount. */
void etcd_saw_write(struct etcd *e, uint64_t rev);
/* A write transaction of this mount starts; it ended, having made
 * revision rev (0: it made none). */
void etcd_own_write_start(struct etcd *e);
void etcd_own_write_end(struct etcd *e, uint64_t rev);
/* Was rev made by this mount? Waits briefly for the answers of write
 * transactions still in flight. */
bool etcd_is_own_write(struct etcd *e, uint64_t rev);
/* Record a revision seen by a read. */
void etcd_saw_read(struct etcd *e, uint64_t rev);

/* --------------------------------------------------------- journal.c */

enum etcd_journal_op {
	ETCD_JOURNAL_PUT = 1,
	ETCD_JOURNAL_DEL = 2,
	ETCD_JOURNAL_ATTR = 3, /* mode and/or times (etcd_op_set_attr) */
};

/* Open (creating) the journal directory, load the entries left from
 * before and start the replication thread. */
int etcd_journal_open(struct etcd *e, const char *dir,
		      struct etcd_journal **out);
/* Stop the thread (entries stay on disk for the next open). */
void etcd_journal_close(struct etcd_journal *j);

/* Append an entry durably (fsync'd) and wake the replication thread. */
int etcd_journal_append(struct etcd_journal *j, enum etcd_journal_op op,
			const char *key, const void *value, size_t len);

/* Append an attribute change (KVFS_ATTR_* fields; times: mtime, atime)
 * durably. */
int etcd_journal_append_attr(struct etcd_journal *j, const char *key,
			     unsigned int fields, uint32_t mode,
			     const struct timespec *times);
/* The attribute changes pending for key since its last delete: true with
 * *fields (and *mode, times[0] the mtime, times[1] the atime for the
 * fields set) when there are any. */
bool etcd_journal_attrs(struct etcd_journal *j, const char *key,
			unsigned int *fields, uint32_t *mode,
			struct timespec times[2]);

/* The latest pending put or delete for key: 0 and *op (with value when out is
 * not NULL, size and mtime) when there is one, KVFS_ENOTFOUND when not. */
int etcd_journal_lookup(struct etcd_journal *j, const char *key,
			enum etcd_journal_op *op, struct kvfs_buf *out,
			uint64_t *size, struct timespec *mtime);
/* True when a pending put lies under dir (dir is then a directory). */
bool etcd_journal_has_under(struct etcd_journal *j, const char *dir);

/* Children of dir that pending entries create or delete: a malloc'd
 * array of names with kinds, sorted by name (strcmp); deleted ones have
 * kind 0. */
struct etcd_journal_child {
	char *name;
	enum kvfs_kind kind; /* 0: deleted by a pending entry */
	bool seen;
};
int etcd_journal_children(struct etcd_journal *j, const char *dir,
			  struct etcd_journal_child **out, size_t *count);
void etcd_journal_children_free(struct etcd_journal_child *c, size_t n);

/* Wait until empty: KVFS_ETIMEDOUT after timeout_ms. */
int etcd_journal_drain(struct etcd_journal *j, uint64_t timeout_ms);
bool etcd_journal_empty(struct etcd_journal *j);
int etcd_journal_stats(struct etcd_journal *j, struct kvfs_buf *out);

/* pthread_create with the signals that end a daemon (SIGTERM, SIGINT,
 * SIGHUP, SIGQUIT) blocked in the new thread: a library thread takes
 * none of them (a daemon's handler runs in the thread that waits for
 * them). */
int etcd_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif
