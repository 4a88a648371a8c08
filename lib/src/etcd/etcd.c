/*
 * etcd.c - the etcd backend: options and opening, the four consistency
 * levels made from etcd revisions, the eventual journal in front of the
 * cluster, last-seen copies for reads while no member answers, the watch
 * thread, and the controls (causal tokens, stats, drain). Each method is
 * one storage operation: its requests share one deadline (etcd_op_begin).
 *
 * Levels (lib/docs/etcd.md has the full table):
 *   strong            writes: one committed transaction; reads:
 *                     linearizable (serializable=false)
 *   eventual          writes: the local journal; reads: the journal, then
 *                     a serializable read of the preferred member, then a
 *                     last-seen copy when no member answers
 *   read-your-writes  writes as strong; reads: the journal, then a
 *                     serializable read accepted when its header revision
 *                     is at least this mount's latest write, else
 *                     linearizable
 *   causal            as read-your-writes with the floor raised by every
 *                     revision seen and by imported tokens
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "etcd_internal.h"
#include "store_internal.h"

#define SEEN_SLOTS 256
#define SEEN_MAX_VALUE (16u << 10)

struct etcd_seen {
	char *key;
	void *data;
	size_t len;
};

static struct etcd *etcd_of(struct kvfs_backend *b)
{
	return (struct etcd *)b;
}

static void raise_to(atomic_uint_least64_t *v, uint64_t rev)
{
	uint64_t seen = atomic_load(v);

	while (rev > seen && !atomic_compare_exchange_weak(v, &seen, rev))
		;
}

void etcd_saw_write(struct etcd *e, uint64_t rev)
{
	raise_to(&e->write_rev, rev);
	raise_to(&e->causal_floor, rev);
}

void etcd_own_write_start(struct etcd *e)
{
	atomic_fetch_add(&e->own_started, 1);
}

void etcd_own_write_end(struct etcd *e, uint64_t rev)
{
	const unsigned int n = sizeof(e->own_revs) / sizeof(e->own_revs[0]);

	if (rev) {
		pthread_mutex_lock(&e->own_lock);
		e->own_revs[e->own_next++ % n] = rev;
		pthread_mutex_unlock(&e->own_lock);
		raise_to(&e->own_newest, rev);
	}
	atomic_fetch_add(&e->own_done, 1);
}

static bool own_rev_known(struct etcd *e, uint64_t rev)
{
	const unsigned int n = sizeof(e->own_revs) / sizeof(e->own_revs[0]);
	bool found = false;

	pthread_mutex_lock(&e->own_lock);
	for (unsigned int i = 0; i < n && !found; i++)
		found = e->own_revs[i] == rev;
	pthread_mutex_unlock(&e->own_lock);
	return found;
}

/* The watch may hear of a write before the writer has its answer: wait
 * up to OWN_WAIT_MS for the transactions in flight now to be answered. */
#define OWN_WAIT_MS 100

bool etcd_is_own_write(struct etcd *e, uint64_t rev)
{
	uint64_t started = atomic_load(&e->own_started);
	const struct timespec one_ms = { 0, 1000000 };

	if (!rev)
		return false;
	/* Not newer than an answer we have: known now, no need to wait. */
	if (rev <= atomic_load(&e->own_newest))
		return own_rev_known(e, rev);
	for (int ms = 0; ms < OWN_WAIT_MS; ms++) {
		if (own_rev_known(e, rev))
			return true;
		if (atomic_load(&e->own_done) >= started)
			return false;
		nanosleep(&one_ms, NULL);
	}
	return own_rev_known(e, rev);
}

void etcd_saw_read(struct etcd *e, uint64_t rev)
{
	raise_to(&e->causal_floor, rev);
}

/* ------------------------------------------------------------- levels */

static void set_serializable(json_t *ranges, bool on)
{
	size_t i;
	json_t *op;

	json_array_foreach(ranges, i, op)
		json_object_set_new(json_object_get(op, "request_range"),
				    "serializable", json_boolean(on));
}

/* Send the read-only transaction txn ({"success": ranges}, maybe with
 * "compare" and "failure"; borrowed). */
static int call_read(struct etcd *e, json_t *txn, bool serializable,
		     json_t **resp)
{
	int rc;

	if (!txn)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	set_serializable(json_object_get(txn, "success"), serializable);
	if (json_object_get(txn, "failure"))
		set_serializable(json_object_get(txn, "failure"), serializable);
	atomic_fetch_add(serializable ? &e->n_serializable
				      : &e->n_linearizable, 1);
	rc = etcd_call(e, "/v3/kv/txn", txn,
		       serializable ? ETCD_CALL_PREFERRED : 0, resp);
	if ((rc == KVFS_ETIMEDOUT) && !serializable)
		atomic_store(&e->quorum_fail_ms, etcd_now_ms());
	return rc;
}

static int read_txn(struct etcd *e, enum kvfs_consistency level,
		    json_t *txn, json_t **resp);

int etcd_read_txn(struct etcd *e, enum kvfs_consistency level,
		  json_t *ranges, json_t **resp)
{
	json_t *txn = ranges ? json_pack("{s:o}", "success", ranges) : NULL;

	return read_txn(e, level, txn, resp);
}

int etcd_read_txn_if(struct etcd *e, enum kvfs_consistency level,
		     json_t *compare, json_t *ranges, json_t *otherwise,
		     json_t **resp)
{
	json_t *txn = compare && ranges && otherwise
		? json_pack("{s:o, s:o, s:o}", "compare", compare, "success",
			    ranges, "failure", otherwise)
		: NULL;

	if (!txn) {
		json_decref(compare);
		json_decref(ranges);
		json_decref(otherwise);
	}
	return read_txn(e, level, txn, resp);
}

/* The level's reads of txn (stolen). */
static int read_txn(struct etcd *e, enum kvfs_consistency level,
		    json_t *txn, json_t **resp)
{
	uint64_t floor = 0, rev;
	int rc;

	switch (level) {
	case KVFS_EVENTUAL:
		break;
	case KVFS_READ_YOUR_WRITES:
		floor = atomic_load(&e->write_rev);
		break;
	case KVFS_CAUSAL:
		floor = atomic_load(&e->causal_floor);
		if (atomic_load(&e->write_rev) > floor)
			floor = atomic_load(&e->write_rev);
		break;
	case KVFS_STRONG:
	default:
		rc = call_read(e, txn, false, resp);
		goto out_done;
	}
	rc = call_read(e, txn, true, resp);
	if (rc == 0 && floor) {
		rev = etcd_json_u64(json_object_get(*resp, "header"),
				    "revision");
		if (rev < floor) {
			/* The preferred member is behind what this mount
			 * has seen: ask the leader. */
			json_decref(*resp);
			*resp = NULL;
			atomic_fetch_add(&e->n_fallbacks, 1);
			rc = call_read(e, txn, false, resp);
		}
	}
out_done:
	json_decref(txn);
	if (rc == 0)
		etcd_saw_read(e, etcd_json_u64(json_object_get(*resp, "header"),
					       "revision"));
	return rc;
}

int etcd_read_txn_attrs(struct etcd *e, json_t *ranges, json_t **resp)
{
	uint64_t floor = atomic_load(&e->write_rev);
	json_t *txn = ranges ? json_pack("{s:o}", "success", ranges) : NULL;
	json_t *settled = NULL;
	int rc;

	rc = call_read(e, txn, true, resp);
	if (rc == 0 && etcd_json_u64(json_object_get(*resp, "header"),
				     "revision") < floor) {
		/* Behind this mount's own writes: ask the leader, and keep
		 * the member's answer for when there is no leader. */
		settled = *resp;
		*resp = NULL;
		atomic_fetch_add(&e->n_fallbacks, 1);
		rc = call_read(e, txn, false, resp);
		if (rc == KVFS_ETIMEDOUT || rc == KVFS_EUNAVAILABLE) {
			*resp = settled;
			settled = NULL;
			rc = 0;
		}
		json_decref(settled);
	}
	json_decref(txn);
	if (rc == 0)
		etcd_saw_read(e, etcd_json_u64(json_object_get(*resp, "header"),
					       "revision"));
	return rc;
}

/* ------------------------------------------------- last-seen copies */

static size_t seen_slot(const char *key)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return (size_t)(h % SEEN_SLOTS);
}

static void seen_store(struct etcd *e, const char *key, const void *data,
		       size_t len, bool drop)
{
	struct etcd_seen *s = &e->seen[seen_slot(key)];

	pthread_mutex_lock(&e->seen_lock);
	if (drop || len <= SEEN_MAX_VALUE) {
		char *k = drop ? NULL : strdup(key);
		void *d = drop ? NULL : malloc(len ? len : 1);

		if (drop || (k && d)) {
			free(s->key);
			free(s->data);
			s->key = k;
			s->data = d;
			s->len = len;
			if (d)
				memcpy(d, data, len);
		} else {
			free(k);
			free(d);
		}
	}
	pthread_mutex_unlock(&e->seen_lock);
}

static int seen_lookup(struct etcd *e, const char *key, struct kvfs_buf *out)
{
	struct etcd_seen *s = &e->seen[seen_slot(key)];
	int rc = KVFS_ENOTFOUND;

	pthread_mutex_lock(&e->seen_lock);
	if (s->key && !strcmp(s->key, key))
		rc = kvfs_buf_set(out, s->data, s->len);
	pthread_mutex_unlock(&e->seen_lock);
	return rc;
}

static bool unreachable(int rc)
{
	return rc == KVFS_ETIMEDOUT || rc == KVFS_EUNAVAILABLE;
}

/* Wait until this mount's journal reached etcd, so that an operation
 * that goes straight to etcd comes after every earlier eventual write;
 * the wait is part of the operation's time. */
static int drain_first(struct etcd *e)
{
	if (!e->journal || etcd_journal_empty(e->journal))
		return 0;
	return etcd_journal_drain(e->journal, etcd_op_left_ms(e));
}

/* ---------------------------------------------------- value operations */

static int do_get(struct kvfs_backend *b, const char *key,
		  enum kvfs_consistency level, struct kvfs_buf *out)
{
	struct etcd *e = etcd_of(b);
	enum etcd_journal_op op;
	int rc;

	rc = etcd_journal_lookup(e->journal, key, &op, out, NULL, NULL);
	if (rc == 0) {
		atomic_fetch_add(&e->n_local_reads, 1);
		if (op == ETCD_JOURNAL_DEL)
			return kvfs_error_set(KVFS_ENOTFOUND, "no key %s "
					      "(deleted, not yet replicated)",
					      key);
		return 0;
	}
	if (rc != KVFS_ENOTFOUND)
		return rc;
	rc = etcd_op_get(e, key, level, out);
	if (rc == 0) {
		seen_store(e, key, out->data, out->len, false);
	} else if (rc == KVFS_ENOTFOUND &&
		   etcd_journal_has_under(e->journal, key)) {
		rc = kvfs_error_set(KVFS_EISDIR, "%s is a directory", key);
	} else if (unreachable(rc) && level == KVFS_EVENTUAL &&
		   seen_lookup(e, key, out) == 0) {
		atomic_fetch_add(&e->n_local_reads, 1);
		rc = 0;
	}
	return rc;
}

static int do_put(struct kvfs_backend *b, const char *key,
		  const void *value, size_t len, enum kvfs_consistency level)
{
	struct etcd *e = etcd_of(b);
	int rc;

	if (len > e->max_value)
		return kvfs_error_set(KVFS_ETOOLARGE,
			"value of %s has %zu bytes; this etcd mount takes at "
			"most %" PRIu64 " (option max_value=)", key, len,
			e->max_value);
	seen_store(e, key, NULL, 0, true);
	if (level == KVFS_EVENTUAL)
		return etcd_journal_append(e->journal, ETCD_JOURNAL_PUT, key,
					   value, len);
	rc = drain_first(e);
	return rc ? rc : etcd_op_put(e, key, value, len, NULL);
}

static int do_del(struct kvfs_backend *b, const char *key,
		  enum kvfs_consistency level)
{
	struct etcd *e = etcd_of(b);
	enum etcd_journal_op op;
	struct kvfs_stat st;
	int rc;

	seen_store(e, key, NULL, 0, true);
	if (level != KVFS_EVENTUAL) {
		rc = drain_first(e);
		return rc ? rc : etcd_op_delete(e, key);
	}
	rc = etcd_journal_lookup(e->journal, key, &op, NULL, NULL, NULL);
	if (rc == 0 && op == ETCD_JOURNAL_DEL)
		return kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);
	if (rc == KVFS_ENOTFOUND) {
		rc = etcd_op_stat(e, key, KVFS_EVENTUAL, &st);
		if (rc == 0 && st.kind == KVFS_KIND_DIR)
			return kvfs_error_set(KVFS_EISDIR, "%s is a directory",
					      key);
		if (rc && !unreachable(rc))
			return rc;
	} else if (rc) {
		return rc;
	}
	return etcd_journal_append(e->journal, ETCD_JOURNAL_DEL, key, NULL, 0);
}

/* ---------------------------------------------- filesystem operations */

/* Apply attribute changes still in the journal to st; true when they
 * set the mode. */
static bool pending_attrs(struct etcd *e, const char *key,
			  struct kvfs_stat *st)
{
	unsigned int fields;
	uint32_t mode = 0;
	struct timespec times[2];

	if (!etcd_journal_attrs(e->journal, key, &fields, &mode, times))
		return false;
	if (fields & KVFS_ATTR_MODE) {
		st->mode = mode & 07777;
		st->valid |= KVFS_STAT_MODE;
	}
	if (fields & KVFS_ATTR_MTIME)
		st->mtime = times[0];
	if (fields & KVFS_ATTR_ATIME) {
		st->atime = times[1];
		st->valid |= KVFS_STAT_ATIME;
	}
	return (fields & KVFS_ATTR_MODE) != 0;
}

static int do_stat(struct kvfs_backend *b, const char *key,
		   enum kvfs_consistency level, struct kvfs_stat *st)
{
	struct etcd *e = etcd_of(b);
	enum etcd_journal_op op;
	struct kvfs_stat remote;
	uint64_t size = 0;
	struct timespec mtime;
	int rc;

	rc = key[0] ? etcd_journal_lookup(e->journal, key, &op, NULL, &size,
					  &mtime)
		    : KVFS_ENOTFOUND;
	if (rc == 0) {
		if (op == ETCD_JOURNAL_DEL)
			return kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);
		memset(st, 0, sizeof(*st));
		st->kind = KVFS_KIND_FILE;
		st->size = size;
		st->mtime = mtime;
		st->valid = KVFS_STAT_CTIME;
		st->ctime = mtime; /* the pending put's time */
		if (!pending_attrs(e, key, st) &&
		    etcd_op_stat(e, key, KVFS_EVENTUAL, &remote) == 0) {
			st->mode = remote.mode;
			st->valid |= remote.valid & KVFS_STAT_MODE;
			if (!(st->valid & KVFS_STAT_ATIME)) {
				st->atime = remote.atime;
				st->valid |= remote.valid & KVFS_STAT_ATIME;
			}
		}
		return 0;
	}
	if (rc != KVFS_ENOTFOUND)
		return rc;
	rc = etcd_op_stat(e, key, level, st);
	if (rc == KVFS_ENOTFOUND && etcd_journal_has_under(e->journal, key)) {
		memset(st, 0, sizeof(*st));
		st->kind = KVFS_KIND_DIR;
		rc = 0;
	}
	if (rc == 0 && key[0])
		pending_attrs(e, key, st);
	return rc;
}

static int do_rename(struct kvfs_backend *b, const char *from,
		     const char *to, unsigned int flags,
		     enum kvfs_consistency level)
{
	struct etcd *e = etcd_of(b);
	int rc = drain_first(e);

	seen_store(e, from, NULL, 0, true);
	seen_store(e, to, NULL, 0, true);
	return rc ? rc : etcd_op_rename(e, from, to, flags);
}

static int do_mkdir(struct kvfs_backend *b, const char *key, uint32_t mode,
		    enum kvfs_consistency level)
{
	struct etcd *e = etcd_of(b);
	int rc = drain_first(e);

	return rc ? rc : etcd_op_mkdir(e, key, mode);
}

static int do_rmdir(struct kvfs_backend *b, const char *key,
		    enum kvfs_consistency level)
{
	struct etcd *e = etcd_of(b);
	int rc = drain_first(e);

	return rc ? rc : etcd_op_rmdir(e, key);
}

static int do_set_attr(struct kvfs_backend *b, const char *key,
		       unsigned int fields, uint32_t mode,
		       const struct timespec *times,
		       enum kvfs_consistency level)
{
	struct etcd *e = etcd_of(b);
	enum etcd_journal_op op;
	struct kvfs_stat st;
	int rc;

	if (level == KVFS_EVENTUAL && key[0] && e->journal) {
		/* Into the journal, after the writes it belongs to: chmod
		 * after the first publish of a new file, utimes of cp -p. */
		rc = etcd_journal_lookup(e->journal, key, &op, NULL, NULL,
					 NULL);
		if (rc == 0 && op == ETCD_JOURNAL_DEL)
			return kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);
		if (rc == KVFS_ENOTFOUND) {
			rc = etcd_op_stat(e, key, KVFS_EVENTUAL, &st);
			if (rc == KVFS_ENOTFOUND &&
			    etcd_journal_has_under(e->journal, key))
				rc = 0;
			if (rc && !unreachable(rc))
				return rc;
		} else if (rc) {
			return rc;
		}
		return etcd_journal_append_attr(e->journal, key, fields, mode,
						times);
	}
	rc = drain_first(e);
	return rc ? rc : etcd_op_set_attr(e, key, fields, mode, times);
}

/* A key that only the journal knows has no attributes yet. */
static bool pending_put(struct etcd *e, const char *key)
{
	enum etcd_journal_op op;

	return key[0] && etcd_journal_lookup(e->journal, key, &op, NULL, NULL,
					     NULL) == 0 &&
	       op == ETCD_JOURNAL_PUT;
}

static int do_getxattr(struct kvfs_backend *b, const char *key,
		       const char *name, struct kvfs_buf *out)
{
	struct etcd *e = etcd_of(b);
	int rc = etcd_op_getxattr(e, key, name, out);

	if (rc == KVFS_ENOTFOUND && pending_put(e, key))
		rc = kvfs_error_set(KVFS_ENODATA, "no attribute %s", name);
	return rc;
}

static int do_setxattr(struct kvfs_backend *b, const char *key,
		       const char *name, const void *value, size_t len,
		       unsigned int flags)
{
	struct etcd *e = etcd_of(b);
	int rc = drain_first(e);

	return rc ? rc : etcd_op_setxattr(e, key, name, value, len, flags);
}

static int do_listxattr(struct kvfs_backend *b, const char *key,
			struct kvfs_buf *out)
{
	struct etcd *e = etcd_of(b);
	int rc = etcd_op_listxattr(e, key, out);

	if (rc == KVFS_ENOTFOUND && pending_put(e, key))
		rc = kvfs_buf_set(out, "", 0);
	return rc;
}

static int do_removexattr(struct kvfs_backend *b, const char *key,
			  const char *name)
{
	struct etcd *e = etcd_of(b);
	int rc = drain_first(e);

	return rc ? rc : etcd_op_removexattr(e, key, name);
}

/* --------------------------------------------------------------- watch */

struct watch_state {
	struct etcd *e;
	uint64_t next_rev; /* resume point after a reconnect */
};

/* The file system key an etcd key stands for, or NULL (chunks, keys
 * beside P and R that the watch range also covers); *space gets 'v' for
 * a file's key, else the record's letter (m, d, a). */
static char *fs_key_of(struct etcd *e, const char *k, size_t klen,
		       char *space)
{
	const char *p, *end = k + klen;

	if (klen >= e->prefix_len && !memcmp(k, e->prefix, e->prefix_len)) {
		*space = 'v';
		p = k + e->prefix_len;
		return p < end && !memchr(p, '\0', (size_t)(end - p))
			       ? strndup(p, (size_t)(end - p)) : NULL;
	}
	if (klen < e->records_len + 2 ||
	    memcmp(k, e->records, e->records_len))
		return NULL;
	p = k + e->records_len;
	if (p[1] != '/')
		return NULL;
	*space = p[0];
	switch (p[0]) {
	case 'd':
		p = memchr(p + 2, '/', (size_t)(end - p - 2));
		if (!p)
			return NULL;
		p++;
		break;
	case 'm':
	case 'a':
		p += 2;
		break;
	default:
		return NULL;
	}
	return p < end ? strndup(p, (size_t)(end - p)) : NULL;
}

static void watch_line(void *ctx, const char *line, size_t len)
{
	struct watch_state *w = ctx;
	struct etcd *e = w->e;
	json_t *msg = json_loadb(line, len, 0, NULL);
	json_t *result = json_object_get(msg, "result"), *ev;
	char *last = NULL;
	size_t i;

	if (!result) {
		json_decref(msg);
		return;
	}
	if (etcd_json_u64(result, "compact_revision")) {
		w->next_rev = etcd_json_u64(result, "compact_revision");
		if (e->watch.changed)
			e->watch.changed(e->watch.ctx, NULL);
	}
	if (json_is_true(json_object_get(result, "created")) && !w->next_rev)
		w->next_rev = etcd_json_u64(json_object_get(result, "header"),
					    "revision") + 1;
	json_array_foreach(json_object_get(result, "events"), i, ev) {
		json_t *kv = json_object_get(ev, "kv");
		uint64_t mod = etcd_json_u64(kv, "mod_revision");
		char *k = NULL, *key, space = 0;
		size_t klen;

		if (mod + 1 > w->next_rev)
			w->next_rev = mod + 1;
		atomic_fetch_add(&e->n_watch_events, 1);
		/* This mount's own change: the kernel saw it happen. */
		if (etcd_is_own_write(e, mod)) {
			atomic_fetch_add(&e->n_watch_own, 1);
			continue;
		}
		if (etcd_kv_key(kv, &k, &klen))
			continue;
		key = fs_key_of(e, k, klen, &space);
		free(k);
		if (key && space == 'a' && e->watch.attrs_changed) {
			e->watch.attrs_changed(e->watch.ctx, key);
			free(key);
			continue;
		}
		if (key && (!last || strcmp(key, last)) && e->watch.changed)
			e->watch.changed(e->watch.ctx, key);
		if (key) {
			free(last);
			last = key;
		}
	}
	free(last);
	json_decref(msg);
}

static void *watch_main(void *arg)
{
	struct etcd *e = arg;
	struct watch_state w = { .e = e };
	size_t ep = e->prefer;
	char *end = strdup(e->prefix);

	/* From R to the end of P: R sorts just before P (lib/docs/etcd.md),
	 * so one range holds both; fs_key_of drops the keys between. */
	if (end && e->prefix_len)
		end[e->prefix_len - 1]++;
	while (end && !atomic_load(&e->watch_stop)) {
		char *kb = etcd_b64_encode(e->records, e->records_len);
		char *eb = etcd_b64_encode(end, e->prefix_len);
		json_t *req = json_pack("{s:{s:s?, s:s?}}", "create_request",
					"key", kb, "range_end", eb);
		bool resumed = w.next_rev != 0;
		struct timespec until;

		if (req && w.next_rev)
			json_object_set_new(json_object_get(req,
				"create_request"), "start_revision",
				json_integer((json_int_t)w.next_rev));
		free(kb);
		free(eb);
		/* Not on a member that stopped answering. */
		ep = etcd_member_next(e, ep);
		if (req)
			etcd_stream(e, ep, "/v3/watch", req, &e->watch_stop,
				    watch_line, &w);
		json_decref(req);
		if (!resumed && e->watch.changed && w.next_rev == 0)
			e->watch.changed(e->watch.ctx, NULL);
		ep = (ep + 1) % e->n_endpoints;
		/* Pause before reconnecting; destroy wakes us early. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 300 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&e->watch_lock);
		if (!atomic_load(&e->watch_stop))
			pthread_cond_timedwait(&e->watch_cond, &e->watch_lock,
					       &until);
		pthread_mutex_unlock(&e->watch_lock);
	}
	free(end);
	return NULL;
}

static int start_watch(struct etcd *e, struct kvfs_watch *watch)
{
	int err;

	if (!watch || !watch->changed)
		return kvfs_error_set(KVFS_EINVAL, "watch without a callback");
	pthread_mutex_lock(&e->watch_lock);
	if (e->watch_running) {
		pthread_mutex_unlock(&e->watch_lock);
		return kvfs_error_set(KVFS_EEXISTS,
				      "etcd: a watch is running already");
	}
	e->watch = *watch;
	/* Attribute keys live apart (R a/): tell them apart. */
	if (watch->attrs_changed)
		watch->attrs_apart = true;
	err = etcd_thread_start(&e->watch_thread, watch_main, e);
	e->watch_running = err == 0;
	pthread_mutex_unlock(&e->watch_lock);
	return err ? kvfs_error_from_errno(err, "etcd: watch thread") : 0;
}

static void stop_watch(struct etcd *e)
{
	bool running;

	pthread_mutex_lock(&e->watch_lock);
	atomic_store(&e->watch_stop, true);
	pthread_cond_broadcast(&e->watch_cond);
	running = e->watch_running;
	e->watch_running = false;
	pthread_mutex_unlock(&e->watch_lock);
	if (running)
		pthread_join(e->watch_thread, NULL);
}

/* ------------------------------------------------------------ controls */

static int token_get(struct etcd *e, struct kvfs_buf *out)
{
	uint64_t rev = atomic_load(&e->causal_floor);

	/* Eventual writes pending here have no revision yet: give them a
	 * chance to reach etcd first, so the token covers them. */
	if (e->journal && !etcd_journal_empty(e->journal))
		etcd_journal_drain(e->journal, e->timeout_ms);
	rev = atomic_load(&e->causal_floor);
	if (atomic_load(&e->write_rev) > rev)
		rev = atomic_load(&e->write_rev);
	kvfs_buf_free(out);
	return kvfs_buf_appendf(out, "etcd:%" PRIu64 ":%" PRIu64,
				e->cluster_id, rev);
}

static int token_set(struct etcd *e, const char *text)
{
	uint64_t cluster, rev;
	int used = 0;

	if (!text ||
	    sscanf(text, "etcd:%" SCNu64 ":%" SCNu64 "%n", &cluster, &rev,
		   &used) != 2 || text[used] != '\0' || strncmp(text, "etcd:", 5) ||
	    text[5 + strspn(text + 5, "0123456789:")] != '\0')
		return kvfs_error_set(KVFS_EINVAL,
			"malformed causal token '%s': expected "
			"etcd:CLUSTER_ID:REVISION", text ? text : "");
	if (e->cluster_id && cluster != e->cluster_id)
		return kvfs_error_set(KVFS_EINVAL,
			"causal token '%s' is from etcd cluster %" PRIu64
			", this mount uses cluster %" PRIu64, text, cluster,
			e->cluster_id);
	raise_to(&e->causal_floor, rev);
	return 0;
}

static int stats_text(struct etcd *e, struct kvfs_buf *out)
{
	int rc = kvfs_buf_appendf(out,
		"etcd_endpoints: %zu\n"
		"etcd_preferred: %s\n"
		"etcd_requests: %" PRIu64 "\n"
		"etcd_failovers: %" PRIu64 "\n"
		"etcd_errors: %" PRIu64 "\n"
		"etcd_reads_serializable: %" PRIu64 "\n"
		"etcd_reads_linearizable: %" PRIu64 "\n"
		"etcd_reads_fallback_linearizable: %" PRIu64 "\n"
		"etcd_reads_local: %" PRIu64 "\n"
		"etcd_conflict_retries: %" PRIu64 "\n"
		"etcd_watch_events: %" PRIu64 "\n"
		"etcd_watch_events_own: %" PRIu64 "\n"
		"etcd_members_not_answering: %zu\n"
		"etcd_member_timeouts: %" PRIu64 "\n"
		"etcd_member_probes: %" PRIu64 "\n"
		"etcd_list_restarts: %" PRIu64 "\n"
		"etcd_write_revision: %" PRIu64 "\n"
		"etcd_causal_revision: %" PRIu64 "\n"
		"etcd_rename_completion: %s\n"
		"etcd_renames_in_steps: %" PRIu64 "\n"
		"etcd_renames_completed: %" PRIu64 "\n"
		"etcd_chunk_collection: %s\n"
		"etcd_chunk_generations_collected: %" PRIu64 "\n"
		"etcd_stale_records_collected: %" PRIu64 "\n",
		e->n_endpoints, e->endpoints[e->prefer],
		(uint64_t)atomic_load(&e->n_requests),
		(uint64_t)atomic_load(&e->n_failovers),
		(uint64_t)atomic_load(&e->n_errors),
		(uint64_t)atomic_load(&e->n_serializable),
		(uint64_t)atomic_load(&e->n_linearizable),
		(uint64_t)atomic_load(&e->n_fallbacks),
		(uint64_t)atomic_load(&e->n_local_reads),
		(uint64_t)atomic_load(&e->n_conflict_retries),
		(uint64_t)atomic_load(&e->n_watch_events),
		(uint64_t)atomic_load(&e->n_watch_own),
		etcd_members_count_suspect(e),
		(uint64_t)atomic_load(&e->n_suspected),
		(uint64_t)atomic_load(&e->n_probes),
		(uint64_t)atomic_load(&e->n_list_restarts),
		(uint64_t)atomic_load(&e->write_rev),
		(uint64_t)atomic_load(&e->causal_floor),
		!e->upkeep_running ? "off"
		: atomic_load(&e->moves_done) ? "done" : "running",
		(uint64_t)atomic_load(&e->n_moves_started),
		(uint64_t)atomic_load(&e->n_moves_completed),
		!e->upkeep_running ? "off"
		: atomic_load(&e->collect_done) ? "done" : "running",
		(uint64_t)atomic_load(&e->n_gens_collected),
		(uint64_t)atomic_load(&e->n_stale_records));

	if (rc == 0 && e->journal)
		rc = etcd_journal_stats(e->journal, out);
	return rc;
}

static int health(struct etcd *e, struct kvfs_health *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&e->health_lock);
	out->since = (int64_t)atomic_load(&e->down_since);
	out->unreachable = out->since != 0;
	if (out->unreachable)
		snprintf(out->why, sizeof(out->why), "%s", e->down_why);
	pthread_mutex_unlock(&e->health_lock);
	return 0;
}

static int etcd_control(struct kvfs_backend *b, int op, void *arg)
{
	struct etcd *e = etcd_of(b);

	switch (op) {
	case KVFS_CTL_CAUSAL_TOKEN_GET:
		return token_get(e, arg);
	case KVFS_CTL_CAUSAL_TOKEN_SET:
		return token_set(e, arg);
	case KVFS_CTL_WATCH:
		return start_watch(e, arg);
	case KVFS_CTL_STATS_TEXT:
		return stats_text(e, arg);
	case KVFS_CTL_HEALTH:
		return health(e, arg);
	case KVFS_CTL_DRAIN:
		return e->journal ? etcd_journal_drain(e->journal,
			arg ? *(const uint64_t *)arg : e->timeout_ms) : 0;
	default:
		return kvfs_error_set(KVFS_ENOTSUPPORTED,
				      "etcd: unknown control %d", op);
	}
}

/* ------------------------------------------------------------ upkeep */

#define UPKEEP_RETRY_S 5 /* after a completion that failed */

/* Complete the renames left halfway; a failure asks again later. */
static void complete_moves(struct etcd *e)
{
	uint64_t moves = 0;
	int rc = etcd_moves_complete(e, &e->upkeep_stop, &moves);

	atomic_fetch_add(&e->n_moves_completed, moves);
	if (rc && !atomic_load(&e->upkeep_stop)) {
		kvfs_log(KVFS_LOG_WARNING, "etcd: a rename left halfway is "
			 "not completed yet (trying again in %d s): %s",
			 UPKEEP_RETRY_S, kvfs_error_message());
		pthread_mutex_lock(&e->upkeep_lock);
		e->moves_pending = true;
		pthread_mutex_unlock(&e->upkeep_lock);
	}
}

/* In the background, for the mount's life: renames that another mount
 * left halfway are completed (they hold names this mount is about to
 * show), then the chunks nothing refers to are collected once; then it
 * completes the renames that stop halfway later (this mount's, when a
 * step fails), retrying while that fails. */
static void *upkeep_main(void *arg)
{
	struct etcd *e = arg;
	uint64_t gens = 0, stale = 0;
	int rc;

	etcd_set_thread_quiet(true);
	complete_moves(e);
	atomic_store(&e->moves_done, true);
	rc = etcd_chunks_collect(e, &e->upkeep_stop, &gens, &stale);
	atomic_store(&e->n_gens_collected, gens);
	atomic_store(&e->n_stale_records, stale);
	if (rc)
		kvfs_log(KVFS_LOG_INFO, "etcd: the collection of unused "
			 "chunks stopped (the next mount tries again): %s",
			 kvfs_error_message());
	else if (gens)
		kvfs_log(KVFS_LOG_INFO, "etcd: removed %" PRIu64 " chunk "
			 "generation(s) nothing referred to, with %" PRIu64
			 " stale metadata record(s)", gens, stale);
	atomic_store(&e->collect_done, true);
	pthread_mutex_lock(&e->upkeep_lock);
	while (!atomic_load(&e->upkeep_stop)) {
		struct timespec until;

		if (!e->moves_pending) {
			pthread_cond_wait(&e->upkeep_wake, &e->upkeep_lock);
			continue;
		}
		/* A pause first: the cluster that failed a step or a
		 * completion gets time to come back. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += UPKEEP_RETRY_S;
		pthread_cond_timedwait(&e->upkeep_wake, &e->upkeep_lock, &until);
		if (atomic_load(&e->upkeep_stop))
			break;
		e->moves_pending = false;
		pthread_mutex_unlock(&e->upkeep_lock);
		complete_moves(e);
		pthread_mutex_lock(&e->upkeep_lock);
	}
	pthread_mutex_unlock(&e->upkeep_lock);
	return NULL;
}

void etcd_upkeep_moves_pending(struct etcd *e)
{
	pthread_mutex_lock(&e->upkeep_lock);
	e->moves_pending = true;
	pthread_cond_broadcast(&e->upkeep_wake);
	pthread_mutex_unlock(&e->upkeep_lock);
}

static int upkeep_start(struct etcd *e)
{
	int err = etcd_thread_start(&e->upkeep_thread, upkeep_main, e);

	e->upkeep_running = err == 0;
	return err ? kvfs_error_set(KVFS_EFAIL, "etcd: cannot start the "
				    "upkeep thread: %s", strerror(err)) : 0;
}

static void upkeep_stop(struct etcd *e)
{
	pthread_mutex_lock(&e->upkeep_lock);
	atomic_store(&e->upkeep_stop, true);
	pthread_cond_broadcast(&e->upkeep_wake);
	pthread_mutex_unlock(&e->upkeep_lock);
	if (e->upkeep_running)
		pthread_join(e->upkeep_thread, NULL);
	e->upkeep_running = false;
}

/* ------------------------------------------------------- open, destroy */

static void etcd_destroy(struct kvfs_backend *b)
{
	struct etcd *e = etcd_of(b);

	if (!e)
		return;
	stop_watch(e);
	upkeep_stop(e);
	etcd_journal_close(e->journal);
	etcd_members_close(e);
	etcd_http_cleanup(e);
	for (size_t i = 0; i < e->n_endpoints; i++)
		free(e->endpoints[i]);
	free(e->endpoints);
	if (e->seen) {
		for (size_t i = 0; i < SEEN_SLOTS; i++) {
			free(e->seen[i].key);
			free(e->seen[i].data);
		}
		free(e->seen);
	}
	pthread_mutex_destroy(&e->seen_lock);
	pthread_mutex_destroy(&e->health_lock);
	pthread_mutex_destroy(&e->own_lock);
	pthread_mutex_destroy(&e->watch_lock);
	pthread_cond_destroy(&e->watch_cond);
	pthread_mutex_destroy(&e->upkeep_lock);
	pthread_cond_destroy(&e->upkeep_wake);
	free(e->prefix);
	free(e->records);
	free(e->cacert);
	free(e->cert);
	free(e->key);
	free(e->user);
	if (e->password)
		memset(e->password, 0, strlen(e->password));
	free(e->password);
	free(e);
}

/* ------------------------------------------------------------ methods */

/* Each method is one storage operation: its requests (and the journal
 * wait before them) share one deadline, timeout= from its start. */
static int etcd_get(struct kvfs_backend *b, const char *key,
		    enum kvfs_consistency level, struct kvfs_buf *out)
{
	etcd_op_begin(etcd_of(b)->timeout_ms);
	return etcd_op_end(do_get(b, key, level, out));
}

static int etcd_put(struct kvfs_backend *b, const char *key,
		    const void *value, size_t len, enum kvfs_consistency level)
{
	etcd_op_begin(etcd_of(b)->timeout_ms);
	return etcd_op_end(do_put(b, key, value, len, level));
}

static int etcd_del(struct kvfs_backend *b, const char *key,
		    enum kvfs_consistency level)
{
	etcd_op_begin(etcd_of(b)->timeout_ms);
	return etcd_op_end(do_del(b, key, level));
}

static int etcd_stat(struct kvfs_backend *b, const char *key,
		     enum kvfs_consistency level, struct kvfs_stat *st)
{
	etcd_op_begin(etcd_of(b)->timeout_ms);
	return etcd_op_end(do_stat(b, key, level, st));
}

/* The listing's later pages keep to the same budget (ops.c). */
static int etcd_list(struct kvfs_backend *b, const char *key,
		     enum kvfs_consistency level, struct kvfs_lister **out)
{
	etcd_op_begin(etcd_of(b)->timeout_ms);
	return etcd_op_end(etcd_op_list(etcd_of(b), key, level, out));
}

static int etcd_rename(struct kvfs_backend *b, const char *from,
		       const char *to, unsigned int flags,
		       enum kvfs_consistency level)
{
	etcd_op_begin(etcd_of(b)->timeout_ms);
	return etcd_op_end(do_rename(b, from, to, flags, level));
}

static int etcd_mkdir(struct kvfs_backend *b, const char *key, uint32_t mode,
		      enum kvfs_consistency level)
{
	etcd_op_begin(etcd_of(b)->timeout_ms);
	return etcd_op_end(do_mkdir(b, key, mode, level));
}

static int etcd_rmdir(struct kvfs_backend *b, const char *key,
		      enum kvfs_consistency level)
{
	etcd_op_begin(etcd_of(b)->timeout_ms);
	return etcd_op_end(do_rmdir(b, key, level));
}

static int etcd_set_attr(struct kvfs_backend *b, const char *key,
			 unsigned int fields, uint32_t mode,
			 const struct timespec *times,
			 enum kvfs_consistency level)
{
	etcd_op_begin(etcd_of(b)->timeout_ms);
	return etcd_op_end(do_set_attr(b, key, fields, mode, times, level));
}

static int etcd_getxattr(struct kvfs_backend *b, const char *key,
			 const char *name, struct kvfs_buf *out)
{
	etcd_op_begin(etcd_of(b)->timeout_ms);
	return etcd_op_end(do_getxattr(b, key, name, out));
}

static int etcd_setxattr(struct kvfs_backend *b, const char *key,
			 const char *name, const void *value, size_t len,
			 unsigned int flags)
{
	etcd_op_begin(etcd_of(b)->timeout_ms);
	return etcd_op_end(do_setxattr(b, key, name, value, len, flags));
}

static int etcd_listxattr(struct kvfs_backend *b, const char *key,
			  struct kvfs_buf *out)
{
	etcd_op_begin(etcd_of(b)->timeout_ms);
	return etcd_op_end(do_listxattr(b, key, out));
}

static int etcd_removexattr(struct kvfs_backend *b, const char *key,
			    const char *name)
{
	etcd_op_begin(etcd_of(b)->timeout_ms);
	return etcd_op_end(do_removexattr(b, key, name));
}

/* While no member serves the cluster's requests, statfs (df) waits at
 * most this long for a member's status, then answers the last figures. */
#define SPACE_DOWN_MS 500

/* statfs: a member's status (no quorum needed). The last answer is kept:
 * while the cluster does not answer, df gets it after a short wait
 * rather than an error after the timeout. */
static int etcd_space(struct kvfs_backend *b, struct kvfs_space *space)
{
	struct etcd *e = etcd_of(b);
	bool down = etcd_is_down(e);
	int rc;

	etcd_op_begin(down && e->timeout_ms > SPACE_DOWN_MS ? SPACE_DOWN_MS
							     : e->timeout_ms);
	rc = etcd_op_end(etcd_op_space(e, space));
	pthread_mutex_lock(&e->health_lock);
	if (rc == 0) {
		e->last_space = *space;
		e->have_space = true;
	} else if ((rc == KVFS_ETIMEDOUT || rc == KVFS_EUNAVAILABLE) &&
		   e->have_space) {
		*space = e->last_space;
		rc = 0;
	}
	pthread_mutex_unlock(&e->health_lock);
	return rc;
}

static const struct kvfs_backend_ops etcd_ops = {
	.version = KVFS_BACKEND_VERSION,
	.name = "etcd",
	.get = etcd_get,
	.put = etcd_put,
	.del = etcd_del,
	.destroy = etcd_destroy,
	.stat = etcd_stat,
	.list = etcd_list,
	.rename = etcd_rename,
	.mkdir = etcd_mkdir,
	.rmdir = etcd_rmdir,
	.set_attr = etcd_set_attr,
	.getxattr = etcd_getxattr,
	.setxattr = etcd_setxattr,
	.listxattr = etcd_listxattr,
	.removexattr = etcd_removexattr,
	.space = etcd_space,
	.control = etcd_control,
};

/* Copy an optional file option, checking that the file is readable. */
static int take_file(struct kvfs_options *opts, const char *name, char **out)
{
	const char *v = kvfs_options_take(opts, name);

	if (!v)
		return 0;
	if (access(v, R_OK))
		return kvfs_error_set(KVFS_EINVAL, "etcd: option %s=%s: %s",
				      name, v, strerror(errno));
	*out = strdup(v);
	return *out ? 0 : kvfs_error_set(KVFS_EFAIL, "out of memory");
}

static int read_password(struct etcd *e, const char *path)
{
	char buf[1024];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return kvfs_error_set(KVFS_EINVAL,
			"etcd: password_file=%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	e->password = strdup(buf);
	memset(buf, 0, sizeof(buf));
	return e->password ? 0 : kvfs_error_set(KVFS_EFAIL, "out of memory");
}

static int mkdir_p(const char *path)
{
	char *copy = strdup(path);
	int rc = 0;

	if (!copy)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	for (char *p = copy + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(copy, 0700) && errno != EEXIST) {
				rc = kvfs_error_from_errno(errno, copy);
				break;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	free(copy);
	return rc;
}

/* The journal directory when journal= is not given: one per cluster
 * address list and prefix, under /var/lib/kvfs/journal for root and
 * $XDG_STATE_HOME/kvfs/journal (~/.local/state/...) for other users. */
static char *default_journal(const struct etcd *e, const char *endpoints)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	uint64_t h = 1469598103934665603ull;
	char *out = NULL;
	int n;

	for (const char *p = endpoints; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	h = (h ^ '|') * 1099511628211ull;
	for (const char *p = e->prefix; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	if (geteuid() == 0)
		n = asprintf(&out, "/var/lib/kvfs/journal/%016" PRIx64, h);
	else if (state && state[0] == '/')
		n = asprintf(&out, "%s/kvfs/journal/%016" PRIx64, state, h);
	else
		n = asprintf(&out, "%s/.local/state/kvfs/journal/%016" PRIx64,
			     home && home[0] ? home : "/tmp", h);
	return n < 0 ? NULL : out;
}

/* Read one key name under the prefix (serializable, so that no quorum is
 * needed): learns the cluster id, and checks that the cluster answers and
 * that these credentials may read the prefix. (/v3/maintenance/status
 * would answer without credentials, and every later request would fail.) */
static int check_cluster(struct etcd *e)
{
	char *end = strdup(e->prefix), *kb = NULL, *eb = NULL;
	json_t *req = NULL, *resp = NULL;
	int rc;

	if (end && e->prefix_len)
		end[e->prefix_len - 1]++;
	if (end) {
		kb = etcd_b64_encode(e->prefix, e->prefix_len);
		eb = etcd_b64_encode(end, e->prefix_len);
	}
	if (kb && eb)
		req = json_pack("{s:s, s:s, s:i, s:b, s:b}", "key", kb,
				"range_end", eb, "limit", 1, "keys_only", 1,
				"serializable", 1);
	rc = req ? etcd_call(e, "/v3/kv/range", req, ETCD_CALL_QUIET, &resp)
		 : kvfs_error_set(KVFS_EFAIL, "out of memory");
	json_decref(req);
	free(end);
	free(kb);
	free(eb);
	if (rc)
		return rc;
	e->cluster_id = etcd_json_u64(json_object_get(resp, "header"),
				      "cluster_id");
	json_decref(resp);
	return 0;
}

static int take_options(struct etcd *e, struct kvfs_options *opts,
			const char **journal, bool *lazy, bool *collect)
{
	const char *v;
	uint64_t prefer = 0;
	int rc;

	rc = etcd_parse_endpoints(e, kvfs_options_take(opts, "endpoints"));
	if (rc)
		return rc;
	v = kvfs_options_take(opts, "prefix");
	if (!v)
		v = "kvfs/";
	if (asprintf(&e->prefix, "%s%s", v,
		     v[0] && v[strlen(v) - 1] == '/' ? "" : "/") < 0)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	e->prefix_len = strlen(e->prefix);
	/* "kvfs/" keeps its records in "kvfs.kvfs/": beside P, so that a
	 * range over P holds the files only, and just before it in key
	 * order, so that one watch range covers both. */
	if (asprintf(&e->records, "%.*s.kvfs/", (int)(e->prefix_len - 1),
		     e->prefix) < 0)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	e->records_len = strlen(e->records);
	if ((rc = kvfs_options_take_ms(opts, "timeout", 5000, &e->timeout_ms)) ||
	    (rc = kvfs_options_take_ms(opts, "lock_wait",
				       KVFS_LOCK_WAIT_DEFAULT_MS,
				       &e->lock_wait_ms)) ||
	    (rc = kvfs_options_take_size(opts, "max_request", 1572864,
					 &e->max_request)) ||
	    (rc = kvfs_options_take_size(opts, "max_value", 16u << 20,
					 &e->max_value)) ||
	    (rc = kvfs_options_take_size(opts, "max_txn_ops", 128,
					 &e->max_txn_ops)) ||
	    (rc = kvfs_options_take_size(opts, "quota", 2ull << 30,
					 &e->quota)) ||
	    (rc = kvfs_options_take_size(opts, "prefer", 0, &prefer)) ||
	    (rc = kvfs_options_take_bool(opts, "lazy", false, lazy)) ||
	    (rc = kvfs_options_take_bool(opts, "collect", true, collect)))
		return rc;
	if (e->timeout_ms == 0)
		return kvfs_error_set(KVFS_EINVAL, "etcd: timeout must be > 0");
	if (e->max_request < 64 * 1024)
		return kvfs_error_set(KVFS_EINVAL,
			"etcd: max_request=%" PRIu64 " is below 64K",
			e->max_request);
	if (e->max_txn_ops < 16)
		return kvfs_error_set(KVFS_EINVAL,
			"etcd: max_txn_ops must be at least 16");
	if (prefer >= e->n_endpoints)
		return kvfs_error_set(KVFS_EINVAL,
			"etcd: prefer=%" PRIu64 " but there are only %zu "
			"endpoints (counted from 0)", prefer, e->n_endpoints);
	e->prefer = (size_t)prefer;
	atomic_store(&e->current, e->prefer);
	e->inline_max = e->max_request - 32 * 1024;
	e->chunk_size = e->inline_max;
	if ((rc = take_file(opts, "cacert", &e->cacert)) ||
	    (rc = take_file(opts, "cert", &e->cert)) ||
	    (rc = take_file(opts, "key", &e->key)))
		return rc;
	v = kvfs_options_take(opts, "user");
	if (v) {
		const char *pw = kvfs_options_take(opts, "password_file");

		if (!pw)
			return kvfs_error_set(KVFS_EINVAL,
				"etcd: user=%s needs password_file=FILE", v);
		e->user = strdup(v);
		if (!e->user)
			return kvfs_error_set(KVFS_EFAIL, "out of memory");
		rc = read_password(e, pw);
		if (rc)
			return rc;
	} else if (kvfs_options_take(opts, "password_file")) {
		return kvfs_error_set(KVFS_EINVAL,
			"etcd: password_file= needs user=NAME");
	}
	*journal = kvfs_options_take(opts, "journal");
	if (*journal && !(*journal)[0])
		return kvfs_error_set(KVFS_EINVAL,
			"etcd: journal= needs a directory");
	return 0;
}

int kvfs_etcd_open(struct kvfs_options *opts, struct kvfs_backend **out)
{
	struct etcd *e = calloc(1, sizeof(*e));
	const char *journal = NULL;
	char *journal_dir = NULL;
	bool lazy = false, collect = true;
	int rc;

	if (!e)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	e->base.ops = &etcd_ops;
	pthread_mutex_init(&e->seen_lock, NULL);
	pthread_mutex_init(&e->health_lock, NULL);
	pthread_mutex_init(&e->own_lock, NULL);
	pthread_mutex_init(&e->watch_lock, NULL);
	pthread_cond_init(&e->watch_cond, NULL);
	pthread_mutex_init(&e->upkeep_lock, NULL);
	pthread_cond_init(&e->upkeep_wake, NULL);
	e->seen = calloc(SEEN_SLOTS, sizeof(*e->seen));
	rc = e->seen ? etcd_http_init(e)
		     : kvfs_error_set(KVFS_EFAIL, "out of memory");
	if (rc == 0)
		rc = take_options(e, opts, &journal, &lazy, &collect);
	if (rc == 0)
		rc = etcd_members_open(e);
	if (rc)
		goto out_destroy;
	if (e->user) {
		rc = etcd_authenticate(e);
		if (rc && !(lazy && unreachable(rc)))
			goto out_destroy;
	}
	rc = check_cluster(e);
	if (rc && lazy && unreachable(rc)) {
		kvfs_log(KVFS_LOG_WARNING, "%s; opening anyway (lazy)",
			kvfs_error_message());
	} else if (rc) {
		if (unreachable(rc) &&
		    !strstr(kvfs_error_message(), "TLS handshake")) {
			char why[512];

			snprintf(why, sizeof(why), "%s", kvfs_error_message());
			rc = kvfs_error_set(rc, "etcd: cluster unreachable: %s",
					    why + 6);
		}
		goto out_destroy;
	}
	if (journal) {
		journal_dir = strdup(journal);
	} else {
		const char *eps = kvfs_options_peek(opts, "endpoints");

		journal_dir = default_journal(e, eps ? eps : "");
	}
	if (!journal_dir) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_destroy;
	}
	rc = mkdir_p(journal_dir);
	if (rc == 0)
		rc = etcd_journal_open(e, journal_dir, &e->journal);
	free(journal_dir);
	if (rc == 0 && collect)
		rc = upkeep_start(e);
	if (rc)
		goto out_destroy;
	*out = &e->base;
	return 0;

out_destroy:
	etcd_destroy(&e->base);
	return rc;
}
