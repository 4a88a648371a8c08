/*
 * ops.c - the file system kept in etcd: the key layout (lib/docs/etcd.md),
 * and each operation as one etcd transaction where it changes something,
 * with compares that keep the tree consistent (a value never in a
 * directory that was removed, a rename all-or-nothing). Reads go through
 * etcd_read_txn, which applies the consistency level (etcd.c).
 *
 * Layout: the file <key> is the etcd key P<key> holding its bytes, so
 * other etcd clients read and write the files; kvfs's own records live
 * beside P under R (P "kvfs/", R "kvfs.kvfs/"), out of a range over P:
 *   P<key>               the value of a file ("" when it is chunked)
 *   R m/<key>            size, mtime, chunks of a value kvfs put; valid
 *                        while not older than P<key> (another client's
 *                        put makes it stale, and the defaults apply)
 *   R d/<depth>/<key>    a directory kvfs made (its mtime); directories
 *                        are also implied by the keys below them
 *   R a/<key>            mode and extended attributes (JSON)
 *   R c/<gen>/<index>    chunks of a value over the request limit
 *   R r/<id>, R l/<id>   a directory rename in steps at work, its lock
 * A name that is both a key and the start of keys below it is a
 * directory.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "etcd_internal.h"

#define RETRIES 8 /* of a transaction that lost a race */
#define COMPACT_RETRIES 8 /* of a read whose revision was compacted */

/* ---------------------------------------------------------------- keys */

static unsigned int depth_of(const char *key)
{
	unsigned int d = 1;

	if (!key[0])
		return 0;
	for (const char *p = key; *p; p++)
		d += *p == '/';
	return d;
}

char *etcd_key(const struct etcd *e, enum etcd_space space, const char *key)
{
	char *out = NULL;
	int n;

	switch (space) {
	case ETCD_VALUE:
		n = asprintf(&out, "%s%s", e->prefix, key);
		break;
	case ETCD_META:
		n = asprintf(&out, "%sm/%s", e->records, key);
		break;
	case ETCD_DIR:
		n = asprintf(&out, "%sd/%u/%s", e->records, depth_of(key), key);
		break;
	default:
		n = asprintf(&out, "%sa/%s", e->records, key);
		break;
	}
	return n < 0 ? NULL : out;
}

/* "R d/<depth>/<dir>/": the directory records at that depth below dir
 * (depth_of(dir) + 1: its subdirectories). */
static char *dirs_at(const struct etcd *e, unsigned int depth, const char *dir)
{
	char *out = NULL;

	return asprintf(&out, "%sd/%u/%s%s", e->records, depth, dir,
			dir[0] ? "/" : "") < 0 ? NULL : out;
}

/* Everything below dir in one space: "P<dir>/", "R m/<dir>/",
 * "R a/<dir>/" (the root: "P", ...). */
static char *below_prefix(const struct etcd *e, enum etcd_space space,
			  const char *dir)
{
	char *k = etcd_key(e, space, dir), *out = NULL;

	if (k && asprintf(&out, "%s%s", k, dir[0] ? "/" : "") < 0)
		out = NULL;
	free(k);
	return out;
}

/* The end of the range of keys starting with p (its last byte + 1). */
char *etcd_prefix_end(const char *p)
{
	char *end = strdup(p);
	size_t n = strlen(p);

	if (end && n)
		end[n - 1]++;
	return end;
}

static char *parent_of(const char *key)
{
	const char *slash = strrchr(key, '/');

	return slash ? strndup(key, (size_t)(slash - key)) : strdup("");
}

/* ------------------------------------------------------- JSON builders */

json_t *etcd_jb64(const void *data, size_t len)
{
	char *text = etcd_b64_encode(data, len);
	json_t *j = text ? json_string_nocheck(text) : NULL;

	free(text);
	return j;
}

json_t *etcd_jstr(const char *s)
{
	return etcd_jb64(s, strlen(s));
}

static json_t *range_op(const char *key, const char *end, bool count_only)
{
	json_t *r = json_object();

	json_object_set_new(r, "key", etcd_jstr(key));
	if (end)
		json_object_set_new(r, "range_end", etcd_jstr(end));
	if (count_only)
		json_object_set_new(r, "count_only", json_true());
	return json_pack("{s:o}", "request_range", r);
}

/* A keys-only range of at most limit keys (0: no limit). */
static json_t *keys_op(const char *key, const char *end, uint64_t limit)
{
	json_t *r = json_object();

	json_object_set_new(r, "key", etcd_jstr(key));
	if (end)
		json_object_set_new(r, "range_end", etcd_jstr(end));
	json_object_set_new(r, "keys_only", json_true());
	if (limit)
		json_object_set_new(r, "limit", json_integer((json_int_t)limit));
	return json_pack("{s:o}", "request_range", r);
}

static json_t *put_op(const char *key, const void *value, size_t len)
{
	return json_pack("{s:{s:o, s:o}}", "request_put", "key", etcd_jstr(key),
			 "value", etcd_jb64(value, len));
}

static json_t *del_op(const char *key, const char *end)
{
	json_t *r = json_object();

	json_object_set_new(r, "key", etcd_jstr(key));
	if (end)
		json_object_set_new(r, "range_end", etcd_jstr(end));
	return json_pack("{s:o}", "request_delete_range", r);
}

/* target: "VERSION", "MOD" or "CREATE"; result: "EQUAL", "GREATER",
 * "LESS", "NOT_EQUAL". */
static json_t *cmp_op(const char *key, const char *end, const char *target,
		      const char *result, uint64_t value)
{
	const char *field = !strcmp(target, "VERSION") ? "version"
			    : !strcmp(target, "MOD")   ? "mod_revision"
						       : "create_revision";
	json_t *c = json_pack("{s:o, s:s, s:s, s:I}", "key", etcd_jstr(key),
			      "target", target, "result", result, field,
			      (json_int_t)value);

	if (c && end)
		json_object_set_new(c, "range_end", etcd_jstr(end));
	return c;
}

/* Append op (stolen) to array; on NULL op mark the array broken. */
static void add(json_t *array, json_t *op)
{
	if (!op || json_array_append_new(array, op))
		json_array_append_new(array, json_null());
}

static bool broken(json_t *array)
{
	size_t i;
	json_t *v;

	json_array_foreach(array, i, v)
		if (json_is_null(v))
			return true;
	return false;
}

/* ------------------------------------------------------ JSON readers */

static json_t *resp_range(json_t *resp, size_t i)
{
	return json_object_get(json_array_get(json_object_get(resp,
		"responses"), i), "response_range");
}

static json_t *first_kv(json_t *resp, size_t i)
{
	return etcd_kv_at(resp_range(resp, i), 0);
}

static uint64_t range_count(json_t *resp, size_t i)
{
	return etcd_json_u64(resp_range(resp, i), "count");
}

static uint64_t header_rev(json_t *resp)
{
	return etcd_json_u64(json_object_get(resp, "header"), "revision");
}

static uint64_t kv_mod(json_t *kv)
{
	return kv ? etcd_json_u64(kv, "mod_revision") : 0;
}

/* The JSON object stored as kv's value; a fresh empty object if kv is
 * NULL or its value is not an object. */
static json_t *kv_json(json_t *kv)
{
	void *text = NULL;
	size_t len = 0;
	json_t *j = NULL;

	if (kv && etcd_kv_value(kv, &text, &len) == 0)
		j = json_loadb(text, len, 0, NULL);
	free(text);
	if (!json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	return j;
}

static int meta_parse(json_t *kv, struct etcd_file_meta *m)
{
	json_t *j;
	const char *kind, *gen;

	memset(m, 0, sizeof(*m));
	if (!kv)
		return KVFS_ENOTFOUND;
	j = kv_json(kv);
	kind = json_string_value(json_object_get(j, "k"));
	gen = json_string_value(json_object_get(j, "g"));
	m->kind = kind && !strcmp(kind, "d") ? KVFS_KIND_DIR : KVFS_KIND_FILE;
	m->size = etcd_json_u64(j, "s");
	m->mtime.tv_sec = (time_t)etcd_json_u64(j, "ts");
	m->mtime.tv_nsec = (long)etcd_json_u64(j, "tn");
	/* When the value was put (a utimens moves ts, not this); records
	 * written before ctimes were kept have only ts. */
	m->ctime = m->mtime;
	if (json_object_get(j, "cs")) {
		m->ctime.tv_sec = (time_t)etcd_json_u64(j, "cs");
		m->ctime.tv_nsec = (long)etcd_json_u64(j, "cn");
	}
	m->chunks = etcd_json_u64(j, "n");
	if (gen)
		snprintf(m->gen, sizeof(m->gen), "%s", gen);
	m->version = kv_mod(kv);
	json_decref(j);
	return 0;
}

/* Metadata JSON text of a file or directory, put at mtime (also its
 * ctime: "cs", "cn"). */
static char *meta_text(enum kvfs_kind kind, uint64_t size,
		       const struct timespec *mtime, const char *gen,
		       uint64_t chunks)
{
	json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I}", "k",
			      kind == KVFS_KIND_DIR ? "d" : "f", "ts",
			      (json_int_t)mtime->tv_sec, "tn",
			      (json_int_t)mtime->tv_nsec, "cs",
			      (json_int_t)mtime->tv_sec, "cn",
			      (json_int_t)mtime->tv_nsec);
	char *text;

	if (!j)
		return NULL;
	if (kind == KVFS_KIND_FILE)
		json_object_set_new(j, "s", json_integer((json_int_t)size));
	if (gen && gen[0]) {
		json_object_set_new(j, "g", json_string(gen));
		json_object_set_new(j, "n", json_integer((json_int_t)chunks));
	}
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return text;
}

static json_t *put_json_op(const char *key, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);
	json_t *op = text ? put_op(key, text, strlen(text)) : NULL;

	free(text);
	return op;
}

/* ------------------------------------------------------------ nodes */

/* The ranges that tell what a key is, at consecutive indices of a read
 * (from `first` on): its value (whole, or the key only), its metadata,
 * its directory record and the first key below it. */
enum { N_V, N_M, N_D, N_B, N_COUNT };

static void add_node(json_t *ranges, const struct etcd *e, const char *key,
		     bool value)
{
	char *vk = etcd_key(e, ETCD_VALUE, key), *mk = etcd_key(e, ETCD_META, key);
	char *dk = etcd_key(e, ETCD_DIR, key);
	char *bp = below_prefix(e, ETCD_VALUE, key);
	char *be = bp ? etcd_prefix_end(bp) : NULL;

	add(ranges, !vk ? NULL : value ? range_op(vk, NULL, false)
				       : keys_op(vk, NULL, 0));
	add(ranges, mk ? range_op(mk, NULL, false) : NULL);
	add(ranges, dk ? range_op(dk, NULL, false) : NULL);
	add(ranges, be ? keys_op(bp, be, 1) : NULL);
	free(vk);
	free(mk);
	free(dk);
	free(bp);
	free(be);
}

struct node {
	enum kvfs_kind kind;         /* 0: nothing of that name */
	json_t *vkv, *mkv, *dkv, *bkv; /* borrowed from the response */
};

/* A directory when kvfs made it or keys lie below it (also when the
 * name is a key too), else a file when it is a key. */
static void node_at(json_t *resp, size_t first, const char *key,
		    struct node *n)
{
	n->vkv = first_kv(resp, first + N_V);
	n->mkv = first_kv(resp, first + N_M);
	n->dkv = first_kv(resp, first + N_D);
	n->bkv = first_kv(resp, first + N_B);
	n->kind = !key[0] || n->dkv || n->bkv ? KVFS_KIND_DIR
		  : n->vkv		      ? KVFS_KIND_FILE
					      : 0;
}

/* Is the metadata record of a file current: written with its value or
 * after it (another client's put of the value makes it stale)? */
static bool meta_current(json_t *mkv, json_t *vkv)
{
	return mkv && vkv && kv_mod(mkv) >= kv_mod(vkv);
}

/* The file of node n: its metadata while current, else the defaults of
 * a key without records (mtime and ctime its mod revision in seconds,
 * the size of its value, which `have_value` says the read fetched).
 * Returns false when the size is unknown (keys-only read, no record). */
static bool file_meta(const struct node *n, bool have_value,
		      struct etcd_file_meta *m)
{
	bool ok = true;

	if (meta_current(n->mkv, n->vkv) && meta_parse(n->mkv, m) == 0) {
		m->kind = KVFS_KIND_FILE;
	} else {
		void *data = NULL;
		size_t len = 0;

		memset(m, 0, sizeof(*m));
		m->kind = KVFS_KIND_FILE;
		if (have_value && etcd_kv_value(n->vkv, &data, &len) == 0)
			m->size = len;
		else
			ok = false;
		free(data);
		m->mtime.tv_sec = (time_t)kv_mod(n->vkv);
		m->ctime = m->mtime;
	}
	m->version = kv_mod(n->vkv);
	return ok;
}

/* A directory's times: from its record, or (implied by keys below it)
 * the mod revision of the first key below it. */
static void dir_meta(const struct node *n, struct etcd_file_meta *m)
{
	if (!n->dkv || meta_parse(n->dkv, m)) {
		memset(m, 0, sizeof(*m));
		m->mtime.tv_sec = (time_t)kv_mod(n->bkv);
		m->ctime = m->mtime;
	}
	m->kind = KVFS_KIND_DIR;
	m->size = 0;
	m->version = kv_mod(n->dkv);
}

/* ------------------------------------------------------ transactions */

/* Does a list of transaction operations change anything? */
static bool has_writes(json_t *ops)
{
	size_t i;
	json_t *op;

	json_array_foreach(ops, i, op)
		if (json_object_get(op, "request_put") ||
		    json_object_get(op, "request_delete_range"))
			return true;
	return false;
}

/* Did the branch a transaction ran change anything: a put, or a delete
 * that found something? */
static bool txn_changed(json_t *resp)
{
	size_t i;
	json_t *r, *del;

	json_array_foreach(json_object_get(resp, "responses"), i, r) {
		if (json_object_get(r, "response_put"))
			return true;
		del = json_object_get(r, "response_delete_range");
		if (del && etcd_json_u64(del, "deleted") > 0)
			return true;
	}
	return false;
}

/*
 * Run a transaction (compare, success and failure are stolen). *ok says
 * which branch ran; a branch that wrote records its revision as this
 * mount's latest write, and as one of its own (for the watch).
 */
static int txn(struct etcd *e, json_t *compare, json_t *success,
	       json_t *failure, json_t **resp, bool *ok)
{
	json_t *req = json_object();
	bool writes_ok, writes_fail;
	int rc;

	*resp = NULL;
	if (!req || !compare || !success || !failure || broken(compare) ||
	    broken(success) || broken(failure)) {
		json_decref(req);
		json_decref(compare);
		json_decref(success);
		json_decref(failure);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	writes_ok = has_writes(success);
	writes_fail = has_writes(failure);
	json_object_set_new(req, "compare", compare);
	json_object_set_new(req, "success", success);
	json_object_set_new(req, "failure", failure);
	if (writes_ok || writes_fail)
		etcd_own_write_start(e);
	rc = etcd_call(e, "/v3/kv/txn", req, 0, resp);
	json_decref(req);
	if (rc == 0) {
		*ok = json_is_true(json_object_get(*resp, "succeeded"));
		etcd_saw_write(e, header_rev(*resp));
	}
	/* When the branch taken changed something, its revision is ours;
	 * one that changed nothing (a delete of nothing) answers with the
	 * current revision, which may be another mount's. */
	if (writes_ok || writes_fail)
		etcd_own_write_end(e, rc == 0 && (*ok ? writes_ok : writes_fail) &&
					      txn_changed(*resp)
					      ? header_rev(*resp)
					      : 0);
	return rc;
}

/* A read-only transaction at `level` over the ranges (stolen). */
static int read_ranges(struct etcd *e, enum kvfs_consistency level,
		       json_t *ranges, json_t **resp)
{
	if (!ranges || broken(ranges)) {
		json_decref(ranges);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	return etcd_read_txn(e, level, ranges, resp);
}

static void drop_old_chunks(struct etcd *e, json_t *old_meta_kv,
			    const char *keep)
{
	struct etcd_file_meta m;

	if (meta_parse(old_meta_kv, &m) == 0 && m.gen[0] &&
	    strcmp(m.gen, keep ? keep : ""))
		etcd_chunks_drop(e, m.gen);
}

static void now_ts(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/* ------------------------------------------------------- directories */

/*
 * Make the record of one directory whose parent has one (the root needs
 * none). KVFS_ENOTFOUND when the parent has no record, with
 * *parent_implied when keys below it make it a directory all the same.
 * With exist_ok a directory that exists (made by kvfs, or implied by keys
 * below it, which then gets its record) is fine; without, the name must
 * be free.
 */
static int mkdir_one(struct etcd *e, const char *dir, uint32_t mode,
		     bool exist_ok, bool *parent_implied)
{
	char *parent = parent_of(dir), *dk = etcd_key(e, ETCD_DIR, dir);
	char *vk = etcd_key(e, ETCD_VALUE, dir), *ak = etcd_key(e, ETCD_ATTR, dir);
	char *bp = below_prefix(e, ETCD_VALUE, dir);
	char *be = bp ? etcd_prefix_end(bp) : NULL;
	char *pdk = parent ? etcd_key(e, ETCD_DIR, parent) : NULL;
	json_t *cmp = json_array(), *ok_ops = json_array(), *fail = json_array();
	json_t *resp = NULL;
	struct timespec now;
	struct node pn;
	char *meta;
	bool ok = false;
	int rc;

	now_ts(&now);
	meta = meta_text(KVFS_KIND_DIR, 0, &now, NULL, 0);
	if (parent_implied)
		*parent_implied = false;
	if (!parent || !dk || !vk || !ak || !bp || !be || !pdk || !meta) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		json_decref(cmp);
		json_decref(ok_ops);
		json_decref(fail);
		goto out_free;
	}
	if (parent[0])
		add(cmp, cmp_op(pdk, NULL, "VERSION", "GREATER", 0));
	add(cmp, cmp_op(dk, NULL, "VERSION", "EQUAL", 0));
	add(cmp, cmp_op(vk, NULL, "VERSION", "EQUAL", 0));
	if (!exist_ok)
		add(cmp, cmp_op(bp, be, "VERSION", "EQUAL", 0));
	add(ok_ops, put_op(dk, meta, strlen(meta)));
	if (mode) {
		json_t *a = json_pack("{s:i}", "mode", (int)(mode & 07777));

		add(ok_ops, a ? put_json_op(ak, a) : NULL);
		json_decref(a);
	}
	add_node(fail, e, dir, false);
	add_node(fail, e, parent, false);
	rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
	if (rc || ok)
		goto out_free;
	node_at(resp, N_COUNT, parent, &pn);
	if (first_kv(resp, N_D)) {
		if (!exist_ok)
			rc = kvfs_error_set(KVFS_EEXISTS, "%s exists", dir);
	} else if (first_kv(resp, N_V)) {
		if (!exist_ok)
			rc = kvfs_error_set(KVFS_EEXISTS, "%s exists", dir);
		else if (first_kv(resp, N_B))
			rc = kvfs_error_set(KVFS_EEXISTS, "%s is both a key "
				"and a directory of keys; remove the key %s "
				"with etcdctl to write in it", dir, dir);
		else
			rc = kvfs_error_set(KVFS_ENOTDIR, "%s is a file, not "
					    "a directory", dir);
	} else if (first_kv(resp, N_B) && !exist_ok) {
		rc = kvfs_error_set(KVFS_EEXISTS, "%s exists", dir);
	} else if (parent[0] && pn.kind == KVFS_KIND_FILE) {
		rc = kvfs_error_set(KVFS_ENOTDIR, "%s is a file, not a "
				    "directory", parent);
	} else if (parent[0] && !pn.dkv) {
		if (parent_implied)
			*parent_implied = pn.kind == KVFS_KIND_DIR;
		rc = kvfs_error_set(KVFS_ENOTFOUND,
				    "parent directory of %s does not exist",
				    dir);
	} else {
		rc = kvfs_error_set(KVFS_ECONFLICT, "%s changed meanwhile",
				    dir);
	}
out_free:
	json_decref(resp);
	free(parent);
	free(dk);
	free(vk);
	free(ak);
	free(bp);
	free(be);
	free(pdk);
	free(meta);
	return rc;
}

/* Give dir and its ancestors records, like mkdir -p (directories that
 * keys below them imply get theirs too). */
static int make_dirs(struct etcd *e, const char *dir)
{
	char *parent;
	int rc = KVFS_ECONFLICT;

	if (!dir[0])
		return 0;
	for (int i = 0; i < RETRIES && rc == KVFS_ECONFLICT; i++)
		rc = mkdir_one(e, dir, 0, true, NULL);
	if (rc != KVFS_ENOTFOUND)
		return rc;
	parent = parent_of(dir);
	if (!parent)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	rc = make_dirs(e, parent);
	free(parent);
	return rc ? rc : mkdir_one(e, dir, 0, true, NULL);
}

int etcd_op_mkdir(struct etcd *e, const char *key, uint32_t mode)
{
	bool implied = false;
	int rc = mkdir_one(e, key, mode, false, &implied);
	char *parent;

	if (rc != KVFS_ENOTFOUND || !implied)
		return rc;
	/* The parent exists through keys below it only: give it (and its
	 * ancestors) records first, so that it outlives its keys. */
	parent = parent_of(key);
	rc = parent ? make_dirs(e, parent)
		    : kvfs_error_set(KVFS_EFAIL, "out of memory");
	free(parent);
	return rc ? rc : mkdir_one(e, key, mode, false, NULL);
}

/* A directory goes when nothing lies below it: no key under P<key>/ and
 * no record of a subdirectory. One made by kvfs loses its record; one
 * only implied by keys is never empty. */
int etcd_op_rmdir(struct etcd *e, const char *key)
{
	char *dk = etcd_key(e, ETCD_DIR, key), *ak = etcd_key(e, ETCD_ATTR, key);
	char *bp = below_prefix(e, ETCD_VALUE, key);
	char *cp = dirs_at(e, depth_of(key) + 1, key);
	char *be = bp ? etcd_prefix_end(bp) : NULL, *ce = cp ? etcd_prefix_end(cp) : NULL;
	json_t *cmp = json_array(), *ok_ops = json_array(), *fail = json_array();
	json_t *resp = NULL;
	struct node n;
	bool ok = false;
	int rc;

	if (!dk || !ak || !bp || !cp || !be || !ce) {
		json_decref(cmp);
		json_decref(ok_ops);
		json_decref(fail);
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	add(cmp, cmp_op(dk, NULL, "VERSION", "GREATER", 0));
	add(cmp, cmp_op(bp, be, "VERSION", "EQUAL", 0));
	add(cmp, cmp_op(cp, ce, "VERSION", "EQUAL", 0));
	add(ok_ops, del_op(dk, NULL));
	add(ok_ops, del_op(ak, NULL));
	add_node(fail, e, key, false);
	rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
	if (rc || ok)
		goto out_free;
	node_at(resp, 0, key, &n);
	if (n.kind == KVFS_KIND_DIR)
		rc = kvfs_error_set(KVFS_ENOTEMPTY, "directory %s is not empty",
				    key);
	else if (n.kind == KVFS_KIND_FILE)
		rc = kvfs_error_set(KVFS_ENOTDIR, "%s is not a directory", key);
	else
		rc = kvfs_error_set(KVFS_ENOTFOUND, "no directory %s", key);
out_free:
	json_decref(resp);
	free(dk);
	free(ak);
	free(bp);
	free(cp);
	free(be);
	free(ce);
	return rc;
}

/* ------------------------------------------------------------ values */

static void random_gen(char gen[33])
{
	unsigned char r[16];
	struct timespec ts;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)((uint64_t)ts.tv_nsec >> (i % 8 * 8)
					       ^ (uint64_t)ts.tv_sec >> i);
	}
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(gen + 2 * i, 3, "%02x", r[i]);
}

static char *chunk_key(const struct etcd *e, const char *gen, uint64_t i)
{
	char *out = NULL;

	return asprintf(&out, "%sc/%s/%08" PRIx64, e->records, gen, i) < 0
		       ? NULL : out;
}

/* Store a large value of key as chunks of a fresh generation, one
 * request each (each under etcd's request limit), after the marker that
 * keeps them from the collection (chunks.c). Nothing refers to them
 * yet. */
static int upload_chunks(struct etcd *e, const char *key, const void *value,
			 size_t len, char gen[33], uint64_t *chunks)
{
	uint64_t n = (len + e->chunk_size - 1) / e->chunk_size;
	int rc;

	random_gen(gen);
	rc = etcd_chunks_begin(e, gen, key);
	if (rc) {
		etcd_chunks_drop(e, gen);
		return rc;
	}
	for (uint64_t i = 0; i < n; i++) {
		size_t off = (size_t)(i * e->chunk_size);
		size_t part = len - off < e->chunk_size ? len - off
							 : (size_t)e->chunk_size;
		char *ck = chunk_key(e, gen, i);
		json_t *req = ck ? json_pack("{s:o, s:o}", "key", etcd_jstr(ck),
					     "value",
					     etcd_jb64((const char *)value + off,
						       part)) : NULL;
		json_t *resp = NULL;

		rc = req ? etcd_call(e, "/v3/kv/put", req, 0, &resp)
			 : kvfs_error_set(KVFS_EFAIL, "out of memory");
		json_decref(req);
		json_decref(resp);
		free(ck);
		if (rc) {
			etcd_chunks_drop(e, gen);
			return rc;
		}
	}
	*chunks = n;
	return 0;
}

/* Read the chunks of a value as of revision rev into out. */
static int read_chunks(struct etcd *e, const struct etcd_file_meta *m,
		       uint64_t rev, struct kvfs_buf *out)
{
	char *start = chunk_key(e, m->gen, 0), *end = NULL, *from = NULL;
	char *data = malloc(m->size ? m->size : 1);
	uint64_t per_page = (8u << 20) / e->chunk_size + 1, got = 0;
	int rc = 0;

	if (asprintf(&end, "%sc/%s0", e->records, m->gen) < 0)
		end = NULL;
	from = start ? strdup(start) : NULL;
	if (!start || !end || !data || !from) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	end[strlen(end) - 1] = '/' + 1;
	while (got < m->size) {
		json_t *req = json_pack("{s:o, s:o, s:I, s:I, s:b}", "key",
					etcd_jstr(from), "range_end", etcd_jstr(end),
					"limit", (json_int_t)per_page,
					"revision", (json_int_t)rev,
					"serializable", 1);
		json_t *resp = NULL, *kv;
		size_t i;

		rc = req ? etcd_call(e, "/v3/kv/range", req,
				     ETCD_CALL_PREFERRED, &resp)
			 : kvfs_error_set(KVFS_EFAIL, "out of memory");
		json_decref(req);
		if (rc)
			goto out_free;
		json_array_foreach(json_object_get(resp, "kvs"), i, kv) {
			void *part = NULL;
			size_t len = 0;
			char *k = NULL;
			size_t klen;

			rc = etcd_kv_value(kv, &part, &len);
			if (rc == 0 && got + len > m->size)
				rc = kvfs_error_set(KVFS_EFAIL,
					"etcd: chunks of a value exceed its "
					"size");
			if (rc == 0) {
				memcpy(data + got, part, len);
				got += len;
			}
			free(part);
			if (rc == 0 && etcd_kv_key(kv, &k, &klen) == 0) {
				free(from);
				from = malloc(klen + 2);
				if (from) {
					memcpy(from, k, klen);
					from[klen] = '\x01';
					from[klen + 1] = '\0';
				}
			}
			free(k);
			if (rc == 0 && !from)
				rc = kvfs_error_set(KVFS_EFAIL,
						    "out of memory");
			if (rc)
				break;
		}
		if (rc == 0 && json_array_size(json_object_get(resp, "kvs")) == 0)
			rc = kvfs_error_set(KVFS_EFAIL,
				"etcd: chunks of a value are missing");
		json_decref(resp);
		if (rc)
			goto out_free;
	}
	rc = kvfs_buf_set(out, data, (size_t)m->size);
out_free:
	free(start);
	free(end);
	free(from);
	free(data);
	return rc;
}

/* A keys-only read of the parent's key, with the first read of a key:
 * whether a miss must look closer (not_found). */
static void add_parent_key(json_t *ranges, const struct etcd *e,
			   const char *parent)
{
	char *pvk = etcd_key(e, ETCD_VALUE, parent);

	add(ranges, pvk ? keys_op(pvk, NULL, 0) : NULL);
	free(pvk);
}

/* No key: KVFS_ENOTFOUND, or KVFS_ENOTDIR when its parent is a file.
 * Only when the parent is a key too (pvkv, from add_parent_key) is the
 * parent read again, at the same level, to tell. */
static int not_found(struct etcd *e, enum kvfs_consistency level,
		     const char *key, const char *parent, json_t *pvkv)
{
	json_t *ranges = json_array(), *resp = NULL;
	struct node pn = { 0 };

	if (parent[0] && pvkv) {
		add_node(ranges, e, parent, false);
		if (read_ranges(e, level, ranges, &resp) == 0)
			node_at(resp, 0, parent, &pn);
	} else {
		json_decref(ranges);
	}
	json_decref(resp);
	if (pn.kind == KVFS_KIND_FILE)
		return kvfs_error_set(KVFS_ENOTDIR, "%s is a file, not a "
				      "directory", parent);
	return kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);
}

static int get_once(struct etcd *e, const char *key,
		    enum kvfs_consistency level, struct kvfs_buf *out)
{
	char *parent = parent_of(key);
	json_t *ranges = json_array(), *resp = NULL;
	struct etcd_file_meta m;
	struct node n;
	int rc;

	if (!parent) {
		json_decref(ranges);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	add_node(ranges, e, key, true);
	add_parent_key(ranges, e, parent);
	rc = read_ranges(e, level, ranges, &resp);
	if (rc)
		goto out_free;
	node_at(resp, 0, key, &n);
	if (n.kind == KVFS_KIND_DIR) {
		rc = kvfs_error_set(KVFS_EISDIR, "%s is a directory", key);
	} else if (!n.kind) {
		rc = not_found(e, level, key, parent,
			       first_kv(resp, N_COUNT));
	} else if (file_meta(&n, true, &m) && m.gen[0]) {
		rc = read_chunks(e, &m, header_rev(resp), out);
	} else {
		void *data = NULL;
		size_t len = 0;

		rc = etcd_kv_value(n.vkv, &data, &len);
		if (rc == 0)
			rc = kvfs_buf_set(out, data, len);
		free(data);
	}
out_free:
	json_decref(resp);
	free(parent);
	return rc;
}

/* A large value's chunks are read at the revision of its metadata; when
 * etcd compacted that revision meanwhile, both are read again. */
int etcd_op_get(struct etcd *e, const char *key, enum kvfs_consistency level,
		struct kvfs_buf *out)
{
	int rc;

	for (unsigned int i = 0;; i++) {
		rc = get_once(e, key, level, out);
		if (rc != KVFS_ECONFLICT || !etcd_call_compacted() ||
		    i >= COMPACT_RETRIES)
			return rc;
	}
}

/* Does the metadata record mkv point at generation gen (a publish of
 * ours that took effect)? */
static bool published_by_us(json_t *mkv, const char *gen)
{
	struct etcd_file_meta m;

	return mkv && meta_parse(mkv, &m) == 0 && !strcmp(m.gen, gen);
}

/* A failed request that may still have taken effect: it timed out, or
 * no member answered it (an attempt may have been applied unanswered). */
static bool outcome_unknown(int rc)
{
	return rc == KVFS_ETIMEDOUT || rc == KVFS_EUNAVAILABLE;
}

/*
 * The value goes to P<key> (chunked ones: "" there, the bytes in chunks)
 * with its metadata record, in one transaction comparing that the parent
 * has its record and is no file, and that key is no directory. A parent
 * without a record (missing, or implied by keys below it) gets one, and
 * its ancestors too, like mkdir -p, before the put is tried again.
 */
int etcd_op_put(struct etcd *e, const char *key, const void *value,
		size_t len, const struct timespec *mtime)
{
	char *parent = parent_of(key), *vk = etcd_key(e, ETCD_VALUE, key);
	char *mk = etcd_key(e, ETCD_META, key), *dk = etcd_key(e, ETCD_DIR, key);
	char *bp = below_prefix(e, ETCD_VALUE, key);
	char *be = bp ? etcd_prefix_end(bp) : NULL;
	char *pdk = parent ? etcd_key(e, ETCD_DIR, parent) : NULL;
	char *pvk = parent ? etcd_key(e, ETCD_VALUE, parent) : NULL;
	char gen[33] = "", *meta = NULL, *marker = NULL;
	uint64_t chunks = 0;
	struct timespec now;
	int rc = 0;

	if (len > e->max_value) {
		rc = kvfs_error_set(KVFS_ETOOLARGE,
			"value of %s has %zu bytes; this etcd mount takes at "
			"most %" PRIu64 " (option max_value=)", key, len,
			e->max_value);
		goto out_free;
	}
	if (!parent || !vk || !mk || !dk || !bp || !be || !pdk || !pvk) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	if (mtime)
		now = *mtime;
	else
		now_ts(&now);
	if (len > e->inline_max) {
		rc = upload_chunks(e, key, value, len, gen, &chunks);
		if (rc)
			goto out_free;
		marker = etcd_chunks_marker(e, gen);
		if (!marker) {
			rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
			goto out_free;
		}
	}
	meta = meta_text(KVFS_KIND_FILE, len, &now, gen, chunks);
	if (!meta) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	for (int attempt = 0;; attempt++) {
		json_t *cmp = json_array(), *ok_ops = json_array();
		json_t *fail = json_array(), *resp = NULL;
		struct node n, pn;
		bool ok = false, lost, ours;

		if (parent[0]) {
			add(cmp, cmp_op(pdk, NULL, "VERSION", "GREATER", 0));
			add(cmp, cmp_op(pvk, NULL, "VERSION", "EQUAL", 0));
		}
		add(cmp, cmp_op(dk, NULL, "VERSION", "EQUAL", 0));
		add(cmp, cmp_op(bp, be, "VERSION", "EQUAL", 0));
		if (marker) /* the chunks are still kept (chunks.c) */
			add(cmp, cmp_op(marker, NULL, "VERSION", "GREATER", 0));
		add(ok_ops, range_op(mk, NULL, false));
		add(ok_ops, gen[0] ? put_op(vk, "", 0) : put_op(vk, value, len));
		add(ok_ops, put_op(mk, meta, strlen(meta)));
		if (marker)
			add(ok_ops, del_op(marker, NULL));
		add_node(fail, e, key, false);
		if (parent[0])
			add_node(fail, e, parent, false);
		if (marker)
			add(fail, keys_op(marker, NULL, 0));
		rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
		if (rc == 0 && ok) {
			drop_old_chunks(e, first_kv(resp, 0), gen);
			json_decref(resp);
			break;
		}
		if (rc) {
			json_decref(resp);
			break;
		}
		node_at(resp, 0, key, &n);
		node_at(resp, N_COUNT, parent, &pn);
		lost = marker && !first_kv(resp, parent[0] ? 2 * N_COUNT
							     : N_COUNT);
		ours = lost && published_by_us(n.mkv, gen);
		json_decref(resp);
		if (ours) {
			/* An earlier attempt took effect, its answer lost
			 * (etcd_call sent it again); the metadata it
			 * replaced is gone, so its chunks are left to the
			 * collection. */
			rc = 0;
		} else if (lost) {
			rc = kvfs_error_set(KVFS_ETIMEDOUT, "etcd: the chunks of "
				"%s were not published within their lease "
				"(the cluster is slow; try again)", key);
		} else if (n.kind == KVFS_KIND_DIR) {
			rc = kvfs_error_set(KVFS_EISDIR, "%s is a directory",
					    key);
		} else if (pn.kind == KVFS_KIND_FILE) {
			rc = kvfs_error_set(KVFS_ENOTDIR, "%s is a file, not a "
					    "directory", parent);
		} else if (attempt >= RETRIES) {
			rc = kvfs_error_set(KVFS_ECONFLICT, "put of %s kept "
					    "racing with directory changes",
					    key);
		} else {
			rc = make_dirs(e, parent);
			if (rc == 0)
				continue;
		}
		break;
	}
	/* After a publish whose answer never came the chunks may be the
	 * value's: they go only while their marker is there (the publish
	 * did not take effect, and now cannot). */
	if (rc && gen[0] && outcome_unknown(rc))
		etcd_chunks_drop_unpublished(e, gen);
	else if (rc && gen[0])
		etcd_chunks_drop(e, gen);
out_free:
	free(parent);
	free(vk);
	free(mk);
	free(dk);
	free(bp);
	free(be);
	free(pdk);
	free(pvk);
	free(meta);
	free(marker);
	return rc;
}

/*
 * Delete the key and its records, comparing that it is a file and that
 * its parent has a record: a directory only implied by this key would
 * vanish with it, so it gets its record first (rm -r, which unlinks the
 * files and then removes the directory, keeps working).
 */
int etcd_op_delete(struct etcd *e, const char *key)
{
	char *parent = parent_of(key);
	char *vk = etcd_key(e, ETCD_VALUE, key), *mk = etcd_key(e, ETCD_META, key);
	char *dk = etcd_key(e, ETCD_DIR, key), *ak = etcd_key(e, ETCD_ATTR, key);
	char *bp = below_prefix(e, ETCD_VALUE, key);
	char *be = bp ? etcd_prefix_end(bp) : NULL;
	char *pdk = parent ? etcd_key(e, ETCD_DIR, parent) : NULL;
	int rc = 0;

	if (!parent || !vk || !mk || !dk || !ak || !bp || !be || !pdk) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	for (int attempt = 0, keep_parent = parent[0] != '\0';; attempt++) {
		json_t *cmp = json_array(), *ok_ops = json_array();
		json_t *fail = json_array(), *resp = NULL;
		struct node n;
		bool ok = false;

		add(cmp, cmp_op(vk, NULL, "VERSION", "GREATER", 0));
		add(cmp, cmp_op(dk, NULL, "VERSION", "EQUAL", 0));
		add(cmp, cmp_op(bp, be, "VERSION", "EQUAL", 0));
		if (keep_parent)
			add(cmp, cmp_op(pdk, NULL, "VERSION", "GREATER", 0));
		add(ok_ops, range_op(mk, NULL, false));
		add(ok_ops, range_op(vk, NULL, false));
		add(ok_ops, del_op(vk, NULL));
		add(ok_ops, del_op(mk, NULL));
		add(ok_ops, del_op(ak, NULL));
		add_node(fail, e, key, false);
		rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
		if (rc == 0 && ok) {
			if (meta_current(first_kv(resp, 0), first_kv(resp, 1)))
				drop_old_chunks(e, first_kv(resp, 0), NULL);
			json_decref(resp);
			break;
		}
		if (rc) {
			json_decref(resp);
			break;
		}
		node_at(resp, 0, key, &n);
		json_decref(resp);
		if (n.kind == KVFS_KIND_DIR)
			rc = kvfs_error_set(KVFS_EISDIR, "%s is a directory",
					    key);
		else if (!n.kind)
			rc = kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);
		else if (attempt >= RETRIES)
			rc = kvfs_error_set(KVFS_ECONFLICT, "delete of %s kept "
					    "racing with directory changes",
					    key);
		else if ((rc = make_dirs(e, parent)) == 0)
			continue;
		else if (rc == KVFS_EEXISTS) {
			/* The parent is a key too (another client's): once
			 * this key is gone it is that file again. */
			keep_parent = 0;
			continue;
		}
		break;
	}
out_free:
	free(parent);
	free(vk);
	free(mk);
	free(dk);
	free(ak);
	free(bp);
	free(be);
	free(pdk);
	return rc;
}

/* ------------------------------------------------------------- stat */

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* What a key's attribute object adds to its stat: the mode (a mode of 0
 * is a mode), the atime that set_attr stored, and the time of the last
 * attribute change when that is later than the value's ctime. */
static void attr_times(json_t *attr, struct kvfs_stat *st)
{
	if (json_object_get(attr, "mode")) {
		st->mode = (uint32_t)etcd_json_u64(attr, "mode") & 07777;
		st->valid |= KVFS_STAT_MODE;
	}
	if (json_object_get(attr, "as")) {
		st->atime.tv_sec = (time_t)etcd_json_u64(attr, "as");
		st->atime.tv_nsec = (long)etcd_json_u64(attr, "an");
		st->valid |= KVFS_STAT_ATIME;
	}
	if (json_object_get(attr, "cs")) {
		struct timespec c = {
			.tv_sec = (time_t)etcd_json_u64(attr, "cs"),
			.tv_nsec = (long)etcd_json_u64(attr, "cn"),
		};

		if (!(st->valid & KVFS_STAT_CTIME) || ts_before(&st->ctime, &c))
			st->ctime = c;
		st->valid |= KVFS_STAT_CTIME;
	}
}

/* Every attribute change moves the key's ctime to now ("cs", "cn" of
 * its attribute object; the value's own is in its metadata). */
static void attr_changed_now(json_t *attr)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	json_object_set_new(attr, "cs", json_integer((json_int_t)now.tv_sec));
	json_object_set_new(attr, "cn", json_integer((json_int_t)now.tv_nsec));
}

/* Stat reads the key's records and the key without its value; only a
 * key without a current metadata record (another client put it) costs a
 * second read, of its value, for the size. */
int etcd_op_stat(struct etcd *e, const char *key,
		 enum kvfs_consistency level, struct kvfs_stat *st)
{
	char *parent = parent_of(key), *ak = etcd_key(e, ETCD_ATTR, key);
	char *mk = etcd_key(e, ETCD_META, key);
	json_t *ranges = json_array(), *resp = NULL, *attr;
	struct etcd_file_meta m;
	struct node n;
	int rc;

	memset(st, 0, sizeof(*st));
	if (!parent || !ak || !mk) {
		json_decref(ranges);
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	add(ranges, range_op(ak, NULL, false));
	if (key[0]) {
		add_node(ranges, e, key, false);
		add_parent_key(ranges, e, parent);
	}
	if (key[0]) {
		/* A key without a metadata record (another client's) needs
		 * its value for the size: etcd picks the ranges with the
		 * value then, in the same request. */
		json_t *with_value = json_array(), *cmp = json_array();

		add(cmp, mk ? cmp_op(mk, NULL, "VERSION", "GREATER", 0) : NULL);
		add(with_value, range_op(ak, NULL, false));
		add_node(with_value, e, key, true);
		add_parent_key(with_value, e, parent);
		if (broken(ranges) || broken(with_value) || broken(cmp)) {
			json_decref(ranges);
			json_decref(with_value);
			json_decref(cmp);
			rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		} else {
			rc = etcd_read_txn_if(e, level, cmp, ranges,
					      with_value, &resp);
		}
	} else {
		rc = read_ranges(e, level, ranges, &resp);
	}
	if (rc)
		goto out_free;
	if (!key[0]) {
		st->kind = KVFS_KIND_DIR;
		goto attrs;
	}
	node_at(resp, 1, key, &n);
	if (n.kind == KVFS_KIND_FILE &&
	    !file_meta(&n, !json_is_true(json_object_get(resp, "succeeded")),
		       &m)) {
		/* Its record is stale (another client's put since): read
		 * the value for the size. */
		json_t *again = json_array(), *resp2 = NULL;

		add(again, range_op(ak, NULL, false));
		add_node(again, e, key, true);
		add_parent_key(again, e, parent);
		rc = read_ranges(e, level, again, &resp2);
		if (rc)
			goto out_free;
		json_decref(resp);
		resp = resp2;
		node_at(resp, 1, key, &n);
		if (n.kind == KVFS_KIND_FILE)
			file_meta(&n, true, &m);
	}
	if (n.kind == KVFS_KIND_DIR)
		dir_meta(&n, &m);
	if (!n.kind) {
		rc = not_found(e, level, key, parent,
			       first_kv(resp, 1 + N_COUNT));
		goto out_free;
	}
	st->kind = m.kind;
	st->size = m.kind == KVFS_KIND_FILE ? m.size : 0;
	st->mtime = m.mtime;
	st->ctime = m.ctime;
	st->valid |= KVFS_STAT_CTIME;
	st->version = m.kind == KVFS_KIND_FILE ? m.version : 0;
attrs:
	attr = kv_json(first_kv(resp, 0));
	attr_times(attr, st);
	json_decref(attr);
out_free:
	json_decref(resp);
	free(parent);
	free(ak);
	free(mk);
	return rc;
}

/* ------------------------------------------------- attributes, xattrs */

/* Read-modify-write of a key's attribute object and, when `meta_fn` is
 * given, its metadata; compares on both mod revisions and retries. */
typedef int (*attr_fn)(json_t *attr, json_t *meta, void *ctx, bool *changed);

static int update_attrs(struct etcd *e, const char *key, attr_fn fn,
			void *ctx, bool touch_meta)
{
	char *ak = etcd_key(e, ETCD_ATTR, key);
	char *mk = etcd_key(e, ETCD_META, key), *vk = etcd_key(e, ETCD_VALUE, key);
	char *dk = etcd_key(e, ETCD_DIR, key);
	int rc = 0;

	if (!mk || !ak || !vk || !dk) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	for (int attempt = 0;; attempt++) {
		json_t *ranges = json_array(), *resp = NULL, *attr, *meta;
		json_t *cmp, *ok_ops, *fail, *akv;
		struct node n = { .kind = KVFS_KIND_DIR };
		bool ok = false, changed = false;

		add(ranges, range_op(ak, NULL, false));
		if (key[0])
			add_node(ranges, e, key, touch_meta);
		rc = read_ranges(e, KVFS_STRONG, ranges, &resp);
		if (rc)
			break;
		akv = first_kv(resp, 0);
		if (key[0])
			node_at(resp, 1, key, &n);
		if (!n.kind) {
			json_decref(resp);
			rc = kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);
			break;
		}
		/* A directory that keys imply gets its record for its mtime. */
		if (touch_meta && key[0] && n.kind == KVFS_KIND_DIR && !n.dkv) {
			json_decref(resp);
			rc = make_dirs(e, key);
			if (rc)
				break;
			continue;
		}
		attr = kv_json(akv);
		if (n.kind == KVFS_KIND_DIR) {
			meta = kv_json(n.dkv);
		} else if (meta_current(n.mkv, n.vkv)) {
			meta = kv_json(n.mkv);
		} else {
			/* Another client's key: a record of its defaults. */
			struct etcd_file_meta m;
			char *text;

			file_meta(&n, true, &m);
			text = meta_text(KVFS_KIND_FILE, m.size, &m.mtime,
					 NULL, 0);
			meta = text ? json_loads(text, 0, NULL) : NULL;
			free(text);
		}
		rc = attr && meta ? fn(attr, meta, ctx, &changed)
				  : kvfs_error_set(KVFS_EFAIL, "out of memory");
		if (rc || !changed) {
			json_decref(attr);
			json_decref(meta);
			json_decref(resp);
			break;
		}
		cmp = json_array();
		ok_ops = json_array();
		fail = json_array();
		add(cmp, cmp_op(ak, NULL, "MOD", "EQUAL", kv_mod(akv)));
		add(ok_ops, put_json_op(ak, attr));
		if (touch_meta && key[0]) {
			bool dir = n.kind == KVFS_KIND_DIR;

			add(cmp, cmp_op(vk, NULL, "MOD", "EQUAL", kv_mod(n.vkv)));
			add(cmp, cmp_op(dk, NULL, "MOD", "EQUAL", kv_mod(n.dkv)));
			if (!dir)
				add(cmp, cmp_op(mk, NULL, "MOD", "EQUAL",
						kv_mod(n.mkv)));
			add(ok_ops, put_json_op(dir ? dk : mk, meta));
		}
		json_decref(attr);
		json_decref(meta);
		json_decref(resp);
		resp = NULL;
		rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
		json_decref(resp);
		if (rc || ok)
			break;
		atomic_fetch_add(&e->n_conflict_retries, 1);
		if (attempt >= RETRIES) {
			rc = kvfs_error_set(KVFS_ECONFLICT,
				"attributes of %s kept changing", key);
			break;
		}
	}
out_free:
	free(mk);
	free(ak);
	free(vk);
	free(dk);
	return rc;
}

struct set_attr_ctx {
	unsigned int fields;
	uint32_t mode;
	const struct timespec *times; /* mtime, atime */
};

static int set_attr_fn(json_t *attr, json_t *meta, void *ctx, bool *changed)
{
	struct set_attr_ctx *c = ctx;

	if (c->fields & KVFS_ATTR_MODE)
		json_object_set_new(attr, "mode",
				    json_integer((json_int_t)(c->mode & 07777)));
	if (c->fields & KVFS_ATTR_MTIME) {
		json_object_set_new(meta, "ts",
			json_integer((json_int_t)c->times[0].tv_sec));
		json_object_set_new(meta, "tn",
			json_integer((json_int_t)c->times[0].tv_nsec));
	}
	if (c->fields & KVFS_ATTR_ATIME) {
		json_object_set_new(attr, "as",
			json_integer((json_int_t)c->times[1].tv_sec));
		json_object_set_new(attr, "an",
			json_integer((json_int_t)c->times[1].tv_nsec));
	}
	attr_changed_now(attr);
	*changed = true;
	return 0;
}

int etcd_op_set_attr(struct etcd *e, const char *key, unsigned int fields,
		     uint32_t mode, const struct timespec *times)
{
	struct set_attr_ctx c = { fields, mode, times };

	return update_attrs(e, key, set_attr_fn, &c,
			    (fields & KVFS_ATTR_MTIME) != 0);
}

struct xattr_ctx {
	const char *name;
	const void *value;
	size_t len;
	unsigned int flags;
	bool remove;
};

static int xattr_fn(json_t *attr, json_t *meta, void *ctx, bool *changed)
{
	struct xattr_ctx *c = ctx;
	json_t *x = json_object_get(attr, "x");
	bool exists;

	if (!json_is_object(x)) {
		x = json_object();
		json_object_set_new(attr, "x", x);
	}
	exists = json_object_get(x, c->name) != NULL;
	if (c->remove) {
		if (!exists)
			return kvfs_error_set(KVFS_ENODATA, "no attribute %s",
					      c->name);
		json_object_del(x, c->name);
	} else {
		if (exists && (c->flags & KVFS_XATTR_CREATE))
			return kvfs_error_set(KVFS_EEXISTS,
					      "attribute %s exists", c->name);
		if (!exists && (c->flags & KVFS_XATTR_REPLACE))
			return kvfs_error_set(KVFS_ENODATA, "no attribute %s",
					      c->name);
		json_object_set_new(x, c->name, etcd_jb64(c->value, c->len));
	}
	attr_changed_now(attr);
	*changed = true;
	return 0;
}

int etcd_op_setxattr(struct etcd *e, const char *key, const char *name,
		     const void *value, size_t len, unsigned int flags)
{
	struct xattr_ctx c = { name, value, len, flags, false };

	return update_attrs(e, key, xattr_fn, &c, false);
}

int etcd_op_removexattr(struct etcd *e, const char *key, const char *name)
{
	struct xattr_ctx c = { name, NULL, 0, 0, true };

	return update_attrs(e, key, xattr_fn, &c, false);
}

/* The attribute object of key, read serializably (etcd_read_txn_attrs):
 * attributes decide levels and rarely change, and reading them must not
 * wait for a quorum that eventual files do not need. */
static int read_attrs(struct etcd *e, const char *key, json_t **attr)
{
	char *ak = etcd_key(e, ETCD_ATTR, key), *vk = etcd_key(e, ETCD_VALUE, key);
	char *dk = etcd_key(e, ETCD_DIR, key);
	json_t *ranges = json_array(), *resp = NULL;
	struct node n = { .kind = KVFS_KIND_DIR };
	int rc;

	if (!ak || !vk || !dk) {
		json_decref(ranges);
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	/* A key or a directory record says the name exists; only a name
	 * with neither needs the look below it (its subtree is counted). */
	add(ranges, range_op(ak, NULL, false));
	add(ranges, range_op(vk, NULL, true));
	add(ranges, range_op(dk, NULL, true));
	if (broken(ranges)) {
		json_decref(ranges);
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	rc = etcd_read_txn_attrs(e, ranges, &resp);
	if (rc)
		goto out_free;
	if (key[0] && !range_count(resp, 1) && !range_count(resp, 2)) {
		json_t *below = json_array(), *resp2 = NULL;

		add_node(below, e, key, false);
		if (broken(below)) {
			json_decref(below);
			rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		} else {
			rc = etcd_read_txn_attrs(e, below, &resp2);
		}
		if (rc)
			goto out_free;
		node_at(resp2, 0, key, &n);
		json_decref(resp2);
	}
	if (!n.kind)
		rc = kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);
	else
		*attr = kv_json(first_kv(resp, 0));
out_free:
	json_decref(resp);
	free(ak);
	free(vk);
	free(dk);
	return rc;
}

int etcd_op_getxattr(struct etcd *e, const char *key, const char *name,
		     struct kvfs_buf *out)
{
	json_t *attr = NULL, *v;
	int rc = read_attrs(e, key, &attr);

	if (rc)
		return rc;
	v = json_object_get(json_object_get(attr, "x"), name);
	if (!json_is_string(v)) {
		rc = kvfs_error_set(KVFS_ENODATA, "no attribute %s on %s",
				    name, key[0] ? key : "the root");
	} else {
		void *data = NULL;
		size_t len = 0;

		rc = etcd_b64_decode(json_string_value(v), &data, &len);
		if (rc == 0)
			rc = kvfs_buf_set(out, data, len);
		free(data);
	}
	json_decref(attr);
	return rc;
}

int etcd_op_listxattr(struct etcd *e, const char *key, struct kvfs_buf *out)
{
	json_t *attr = NULL, *v;
	const char *name;
	char *list = NULL;
	size_t len = 0;
	int rc = read_attrs(e, key, &attr);

	if (rc)
		return rc;
	json_object_foreach(json_object_get(attr, "x"), name, v) {
		size_t n = strlen(name) + 1;
		char *grown = realloc(list, len + n);

		if (!grown) {
			rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
			break;
		}
		list = grown;
		memcpy(list + len, name, n);
		len += n;
	}
	if (rc == 0)
		rc = kvfs_buf_set(out, list ? list : "", len);
	free(list);
	json_decref(attr);
	return rc;
}

/* ------------------------------------------------------------ rename */

/* Indices of the ranges of the first read of a rename. */
enum { R_AFROM = 0, R_FROM = 1, R_TO = R_FROM + N_COUNT,
       R_ATO = R_TO + N_COUNT, R_DFROMP, R_MOVES, R_LOCKS, R_TOP,
       R_COUNT = R_TOP + N_COUNT };

static int rename_file(struct etcd *e, const char *from, const char *to,
		       unsigned int flags, json_t *rd, int *retry);
static int rename_dir(struct etcd *e, const char *from, const char *to,
		      unsigned int flags, json_t *rd, int *retry);
static int meet_moves(struct etcd *e, const char *from, const char *to,
		      json_t *rd, int *retry);
static void add_moves_ranges(json_t *ranges, const struct etcd *e);
static void cmp_no_new_moves(json_t *cmp, const struct etcd *e, json_t *rd);

int etcd_op_rename(struct etcd *e, const char *from, const char *to,
		   unsigned int flags)
{
	char *toparent = parent_of(to), *fromparent = parent_of(from);
	char *af = etcd_key(e, ETCD_ATTR, from), *at = etcd_key(e, ETCD_ATTR, to);
	char *dfp = fromparent ? etcd_key(e, ETCD_DIR, fromparent) : NULL;
	int rc = 0;

	if (!toparent || !fromparent || !af || !at || !dfp) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	if (!strncmp(to, from, strlen(from)) && to[strlen(from)] == '/') {
		rc = kvfs_error_set(KVFS_EINVAL, "cannot move %s into itself",
				    from);
		goto out_free;
	}
	for (int attempt = 0;; attempt++) {
		json_t *ranges = json_array(), *resp = NULL;
		struct node nf, tp;
		int retry = 0;

		add(ranges, range_op(af, NULL, false));
		add_node(ranges, e, from, true);
		add_node(ranges, e, to, false);
		add(ranges, range_op(at, NULL, false));
		add(ranges, range_op(dfp, NULL, true));
		add_moves_ranges(ranges, e);
		if (toparent[0])
			add_node(ranges, e, toparent, false);
		rc = read_ranges(e, KVFS_STRONG, ranges, &resp);
		if (rc)
			break;
		node_at(resp, R_FROM, from, &nf);
		node_at(resp, R_TOP, toparent, &tp);
		if (!nf.kind) {
			rc = kvfs_error_set(KVFS_ENOTFOUND, "no key %s", from);
		} else if (!strcmp(from, to)) {
			rc = 0;
		} else if ((rc = meet_moves(e, from, to, resp, &retry)) ||
			   retry) {
			/* A rename in steps holds one of the names. */
		} else if (toparent[0] && tp.kind == KVFS_KIND_FILE) {
			rc = kvfs_error_set(KVFS_ENOTDIR, "%s is a file, not a "
					    "directory", toparent);
		} else if (toparent[0] && !tp.dkv) {
			rc = make_dirs(e, toparent);
			retry = rc == 0;
		} else if (fromparent[0] && !range_count(resp, R_DFROMP)) {
			/* Its parent must outlive the keys that imply it. */
			rc = make_dirs(e, fromparent);
			retry = rc == 0;
		} else if (nf.kind == KVFS_KIND_DIR) {
			rc = rename_dir(e, from, to, flags, resp, &retry);
		} else {
			rc = rename_file(e, from, to, flags, resp, &retry);
		}
		json_decref(resp);
		if (!retry)
			break;
		atomic_fetch_add(&e->n_conflict_retries, 1);
		if (attempt >= RETRIES) {
			rc = kvfs_error_set(KVFS_ECONFLICT, "rename of %s to %s "
					    "kept racing with other changes",
					    from, to);
			break;
		}
	}
out_free:
	free(toparent);
	free(fromparent);
	free(af);
	free(at);
	free(dfp);
	return rc;
}

/* Add compare "mod revision of key == what the read saw". */
static void cmp_seen(json_t *cmp, const char *key, json_t *kv)
{
	add(cmp, key ? cmp_op(key, NULL, "MOD", "EQUAL", kv_mod(kv)) : NULL);
}

/* Add compare "no key starts with p". */
static void cmp_none_below(json_t *cmp, const char *p)
{
	char *end = p ? etcd_prefix_end(p) : NULL;

	add(cmp, end ? cmp_op(p, end, "VERSION", "EQUAL", 0) : NULL);
	free(end);
}

/* Add compare "the parents of from and to still have their records". */
static void cmp_parents(struct etcd *e, json_t *cmp, const char *from,
			const char *to)
{
	const char *keys[2] = { from, to };

	for (int i = 0; i < 2; i++) {
		char *parent = parent_of(keys[i]);
		char *dk = parent && parent[0] ? etcd_key(e, ETCD_DIR, parent)
					       : NULL;

		if (!parent || (parent[0] && !dk))
			add(cmp, NULL);
		else if (dk)
			add(cmp, cmp_op(dk, NULL, "VERSION", "GREATER", 0));
		free(parent);
		free(dk);
	}
}

/* Put the attribute object kv (NULL: none yet) to key, its ctime moved
 * to now: a rename changes the renamed key, as on a POSIX filesystem. */
static void copy_attr_op(json_t *ops, const char *key, json_t *kv)
{
	json_t *attr = kv_json(kv);

	attr_changed_now(attr);
	add(ops, key ? put_json_op(key, attr) : NULL);
	json_decref(attr);
}

/* Put key to kv's value, or delete key when kv is NULL. */
static void copy_op(json_t *ops, const char *key, json_t *kv)
{
	void *value = NULL;
	size_t len = 0;

	if (!key) {
		add(ops, NULL);
		return;
	}
	if (!kv) {
		add(ops, del_op(key, NULL));
		return;
	}
	if (etcd_kv_value(kv, &value, &len)) {
		add(ops, NULL);
		return;
	}
	add(ops, put_op(key, value, len));
	free(value);
}

static int rename_file(struct etcd *e, const char *from, const char *to,
		       unsigned int flags, json_t *rd, int *retry)
{
	char *mf = etcd_key(e, ETCD_META, from), *vf = etcd_key(e, ETCD_VALUE, from);
	char *af = etcd_key(e, ETCD_ATTR, from), *df = etcd_key(e, ETCD_DIR, from);
	char *mt = etcd_key(e, ETCD_META, to), *vt = etcd_key(e, ETCD_VALUE, to);
	char *at = etcd_key(e, ETCD_ATTR, to), *dt = etcd_key(e, ETCD_DIR, to);
	char *bt = below_prefix(e, ETCD_VALUE, to);
	json_t *cmp = json_array(), *ok_ops = json_array(), *fail = json_array();
	json_t *resp = NULL;
	struct node nf, nt;
	bool ok = false;
	int rc;

	node_at(rd, R_FROM, from, &nf);
	node_at(rd, R_TO, to, &nt);
	if (nt.kind == KVFS_KIND_DIR) {
		rc = kvfs_error_set(KVFS_EISDIR, "%s is a directory", to);
		goto out_drop;
	}
	if (nt.kind && (flags & KVFS_RENAME_NOREPLACE)) {
		rc = kvfs_error_set(KVFS_EEXISTS, "%s exists", to);
		goto out_drop;
	}
	cmp_seen(cmp, vf, nf.vkv);
	cmp_seen(cmp, mf, nf.mkv);
	cmp_seen(cmp, af, first_kv(rd, R_AFROM));
	cmp_seen(cmp, df, NULL);
	cmp_seen(cmp, vt, nt.vkv);
	cmp_seen(cmp, mt, nt.mkv);
	cmp_seen(cmp, dt, NULL);
	cmp_none_below(cmp, bt);
	cmp_parents(e, cmp, from, to);
	cmp_no_new_moves(cmp, e, rd);
	copy_op(ok_ops, vt, nf.vkv);
	copy_op(ok_ops, mt, meta_current(nf.mkv, nf.vkv) ? nf.mkv : NULL);
	copy_attr_op(ok_ops, at, first_kv(rd, R_AFROM));
	add(ok_ops, del_op(vf, NULL));
	add(ok_ops, del_op(mf, NULL));
	add(ok_ops, del_op(af, NULL));
	rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
	cmp = ok_ops = fail = NULL;
	if (rc == 0 && !ok)
		*retry = 1;
	else if (rc == 0)
		drop_old_chunks(e, nt.mkv, NULL);
out_drop:
	json_decref(cmp);
	json_decref(ok_ops);
	json_decref(fail);
	json_decref(resp);
	free(mf);
	free(vf);
	free(af);
	free(df);
	free(mt);
	free(vt);
	free(at);
	free(dt);
	free(bt);
	return rc;
}

/* An entry below a directory being renamed. */
struct sub_entry {
	char *rel;       /* path below the directory */
	bool dir;
	json_t *kv;      /* value (files) or record (directories) */
	json_t *akv;     /* attributes, or NULL */
	json_t *mkv;     /* current metadata of a file, or NULL */
};

static int collect(json_t *range, size_t skip, bool dir,
		   struct sub_entry **ents, size_t *n)
{
	size_t i;
	json_t *kv;

	json_array_foreach(json_object_get(range, "kvs"), i, kv) {
		char *k = NULL;
		size_t klen;
		struct sub_entry *grown;

		if (etcd_kv_key(kv, &k, &klen) || klen < skip ||
		    (dir && klen == skip)) {
			free(k);
			continue;
		}
		grown = realloc(*ents, (*n + 1) * sizeof(**ents));
		if (!grown) {
			free(k);
			return kvfs_error_set(KVFS_EFAIL, "out of memory");
		}
		*ents = grown;
		memset(&grown[*n], 0, sizeof(grown[*n]));
		grown[*n].rel = strdup(k + skip);
		grown[*n].dir = dir;
		grown[*n].kv = kv;
		free(k);
		if (!grown[(*n)++].rel)
			return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	return 0;
}

/* Attach the records of range (keys "<start><rel>") to the entries. */
static void attach(json_t *range, size_t skip, struct sub_entry *ents,
		   size_t n, bool meta)
{
	size_t i;
	json_t *kv;

	json_array_foreach(json_object_get(range, "kvs"), i, kv) {
		char *k = NULL;
		size_t klen;

		if (etcd_kv_key(kv, &k, &klen) == 0 && klen >= skip)
			for (size_t j = 0; j < n; j++) {
				if (strcmp(ents[j].rel, k + skip) ||
				    (meta && ents[j].dir))
					continue;
				if (!meta)
					ents[j].akv = kv;
				else if (meta_current(kv, ents[j].kv))
					ents[j].mkv = kv;
			}
		free(k);
	}
}

static char *join(const char *dir, const char *rel)
{
	char *out = NULL;

	return asprintf(&out, "%s/%s", dir, rel) < 0 ? NULL : out;
}

/* Range-compare "nothing below prefix changed after rev". */
static void cmp_unchanged_below(json_t *cmp, const char *p, uint64_t rev)
{
	char *end = p ? etcd_prefix_end(p) : NULL;

	add(cmp, end ? cmp_op(p, end, "MOD", "LESS", rev + 1) : NULL);
	free(end);
}

/* Indices of the ranges of the read of what lies below the directory. */
enum { S_V, S_M, S_A, S_TOCHILD, S_D0 };

/*
 * What a rename of the directory from compares and does of the two names
 * themselves: from's records as read, to as read (free, or an empty
 * directory: no key below it, no subdirectory record), both parents
 * there, no rename in steps begun since the read; to gets from's
 * directory record (a fresh one for a directory only implied by keys)
 * and its attributes, ctime moved to now.
 */
static void dir_itself(struct etcd *e, const char *from, const char *to,
		       json_t *rd, json_t *cmp, json_t *ops)
{
	char *df = etcd_key(e, ETCD_DIR, from), *af = etcd_key(e, ETCD_ATTR, from);
	char *dt = etcd_key(e, ETCD_DIR, to), *vt = etcd_key(e, ETCD_VALUE, to);
	char *at = etcd_key(e, ETCD_ATTR, to);
	char *bt = below_prefix(e, ETCD_VALUE, to);
	char *cto = dirs_at(e, depth_of(to) + 1, to);
	struct node nf, nt;
	struct timespec now;
	char *meta;

	node_at(rd, R_FROM, from, &nf);
	node_at(rd, R_TO, to, &nt);
	cmp_seen(cmp, df, nf.dkv);
	cmp_seen(cmp, af, first_kv(rd, R_AFROM));
	cmp_seen(cmp, dt, nt.dkv);
	cmp_seen(cmp, vt, nt.vkv);
	cmp_none_below(cmp, bt);
	cmp_none_below(cmp, cto);
	cmp_parents(e, cmp, from, to);
	cmp_no_new_moves(cmp, e, rd);
	now_ts(&now);
	meta = meta_text(KVFS_KIND_DIR, 0, &now, NULL, 0);
	if (nf.dkv)
		copy_op(ops, dt, nf.dkv);
	else
		add(ops, dt && meta ? put_op(dt, meta, strlen(meta)) : NULL);
	copy_attr_op(ops, at, first_kv(rd, R_AFROM));
	free(df);
	free(af);
	free(dt);
	free(vt);
	free(at);
	free(bt);
	free(cto);
	free(meta);
}

static int move_in_steps(struct etcd *e, const char *from, const char *to,
			 json_t *rd, int *retry);

/*
 * Move everything below from in one transaction: its keys, their
 * records, and the records of its subdirectories (by depth, up to
 * ETCD_RENAME_DEPTH levels), comparing that none of it changed since it
 * was read and that to is an empty directory or free. A directory that
 * does not fit one transaction moves in steps (move_in_steps).
 */
static int rename_dir(struct etcd *e, const char *from, const char *to,
		      unsigned int flags, json_t *rd, int *retry)
{
	unsigned int dfrom = depth_of(from), ndepth = 0;
	char *pv = below_prefix(e, ETCD_VALUE, from);
	char *pm = below_prefix(e, ETCD_META, from);
	char *pa = below_prefix(e, ETCD_ATTR, from);
	char *cto = dirs_at(e, depth_of(to) + 1, to);
	char *pd[ETCD_RENAME_DEPTH] = { 0 };
	json_t *ranges = json_array(), *sub = NULL;
	json_t *cmp = json_array(), *ok_ops = json_array(), *fail = json_array();
	json_t *resp = NULL;
	struct sub_entry *ents = NULL;
	struct node nt;
	size_t n = 0;
	uint64_t rev, ops;
	bool ok = false, oom = !pv || !pm || !pa || !cto;
	int rc = 0;

	node_at(rd, R_TO, to, &nt);
	for (unsigned int i = 0; i < ETCD_RENAME_DEPTH; i++)
		oom |= !(pd[i] = dirs_at(e, dfrom + 1 + i, from));
	if (oom) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	if (nt.kind == KVFS_KIND_FILE) {
		rc = kvfs_error_set(KVFS_ENOTDIR, "%s is a file", to);
		goto out_free;
	}
	if (nt.kind && (flags & KVFS_RENAME_NOREPLACE)) {
		rc = kvfs_error_set(KVFS_EEXISTS, "%s exists", to);
		goto out_free;
	}
	if (nt.bkv) {
		rc = kvfs_error_set(KVFS_ENOTEMPTY, "directory %s is not empty",
				    to);
		goto out_free;
	}
	/* Everything below from, and whether to has subdirectories. */
	{
		char *ve = etcd_prefix_end(pv), *me = etcd_prefix_end(pm);
		char *ae = etcd_prefix_end(pa), *ce = etcd_prefix_end(cto);

		add(ranges, ve ? range_op(pv, ve, false) : NULL);
		add(ranges, me ? range_op(pm, me, false) : NULL);
		add(ranges, ae ? range_op(pa, ae, false) : NULL);
		add(ranges, ce ? range_op(cto, ce, true) : NULL);
		for (unsigned int i = 0; i < ETCD_RENAME_DEPTH; i++) {
			char *de = etcd_prefix_end(pd[i]);

			add(ranges, de ? range_op(pd[i], de, false) : NULL);
			free(de);
		}
		free(ve);
		free(me);
		free(ae);
		free(ce);
	}
	rc = read_ranges(e, KVFS_STRONG, ranges, &sub);
	ranges = NULL;
	if (rc)
		goto out_free;
	if (range_count(sub, S_TOCHILD)) {
		rc = kvfs_error_set(KVFS_ENOTEMPTY, "directory %s is not empty",
				    to);
		goto out_free;
	}
	rev = header_rev(sub);
	rc = collect(resp_range(sub, S_V), strlen(pv), false, &ents, &n);
	for (unsigned int i = 0; rc == 0 && i < ETCD_RENAME_DEPTH; i++) {
		if (!first_kv(sub, S_D0 + i))
			break;
		ndepth = i + 1;
		rc = collect(resp_range(sub, S_D0 + i), strlen(pd[i]), true,
			     &ents, &n);
	}
	if (rc)
		goto out_free;
	ops = 8 + ndepth + 3 * n;
	if (ndepth == ETCD_RENAME_DEPTH || ops > e->max_txn_ops ||
	    n + 2 * ETCD_RENAME_DEPTH + 12 > e->max_txn_ops ||
	    json_dumpb(sub, NULL, 0, JSON_COMPACT) > e->inline_max) {
		rc = move_in_steps(e, from, to, rd, retry);
		goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		/* A key below that the move would make too long could not
		 * be named again, not even to remove it. */
		if (strlen(to) + 1 + strlen(ents[i].rel) > KVFS_KEY_MAX) {
			rc = kvfs_error_set(KVFS_ENAMETOOLONG,
				"the rename would make a key below %s over %d "
				"bytes", to, KVFS_KEY_MAX);
			goto out_free;
		}
	}
	attach(resp_range(sub, S_M), strlen(pm), ents, n, true);
	attach(resp_range(sub, S_A), strlen(pa), ents, n, false);
	/* Compares: the two names as read, nothing below from changed
	 * since rev and every entry still there. */
	dir_itself(e, from, to, rd, cmp, ok_ops);
	cmp_unchanged_below(cmp, pv, rev);
	cmp_unchanged_below(cmp, pm, rev);
	cmp_unchanged_below(cmp, pa, rev);
	for (unsigned int i = 0; i <= ndepth; i++)
		cmp_unchanged_below(cmp, pd[i], rev);
	for (size_t i = 0; i < n; i++) {
		char *full = join(from, ents[i].rel);
		char *k = full ? etcd_key(e, ents[i].dir ? ETCD_DIR : ETCD_VALUE,
					  full) : NULL;

		cmp_seen(cmp, k, ents[i].kv);
		free(full);
		free(k);
	}
	/* The moves: from's own records go, then each entry. */
	{
		char *df = etcd_key(e, ETCD_DIR, from);
		char *af = etcd_key(e, ETCD_ATTR, from);
		char *ve = etcd_prefix_end(pv), *me = etcd_prefix_end(pm);
		char *ae = etcd_prefix_end(pa);

		add(ok_ops, df ? del_op(df, NULL) : NULL);
		add(ok_ops, af ? del_op(af, NULL) : NULL);
		add(ok_ops, ve ? del_op(pv, ve) : NULL);
		add(ok_ops, me ? del_op(pm, me) : NULL);
		add(ok_ops, ae ? del_op(pa, ae) : NULL);
		free(df);
		free(af);
		free(ve);
		free(me);
		free(ae);
	}
	for (unsigned int i = 0; i < ndepth; i++) {
		char *de = etcd_prefix_end(pd[i]);

		add(ok_ops, de ? del_op(pd[i], de) : NULL);
		free(de);
	}
	for (size_t i = 0; i < n; i++) {
		char *full = join(to, ents[i].rel);
		char *mk = full ? etcd_key(e, ETCD_META, full) : NULL;
		char *ak = full ? etcd_key(e, ETCD_ATTR, full) : NULL;
		char *xk = full ? etcd_key(e, ents[i].dir ? ETCD_DIR : ETCD_VALUE,
					   full) : NULL;

		copy_op(ok_ops, xk, ents[i].kv);
		if (ents[i].mkv)
			copy_op(ok_ops, mk, ents[i].mkv);
		if (ents[i].akv)
			copy_op(ok_ops, ak, ents[i].akv);
		free(full);
		free(mk);
		free(ak);
		free(xk);
	}
	rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
	cmp = ok_ops = fail = NULL;
	if (rc == 0 && !ok)
		*retry = 1;
out_free:
	for (size_t i = 0; i < n; i++)
		free(ents[i].rel);
	free(ents);
	json_decref(ranges);
	json_decref(sub);
	json_decref(resp);
	json_decref(cmp);
	json_decref(ok_ops);
	json_decref(fail);
	free(pv);
	free(pm);
	free(pa);
	free(cto);
	for (unsigned int i = 0; i < ETCD_RENAME_DEPTH; i++)
		free(pd[i]);
	return rc;
}

/* ------------------------------------------- rename in many transactions */

/*
 * A directory too large for one transaction moves in steps, each one
 * transaction (lib/docs/etcd.md, "Renaming a large directory"):
 *  1. The start compares what a one-step rename compares of the two
 *     names themselves (dir_itself), gives to from's records, and puts
 *     the intent R r/<id> (from NUL to) and its lock R l/<id> under the
 *     mover's lease. From here on the rename is decided.
 *  2. Batches move the first entries left below from: the values with
 *     their metadata and attributes, then the attributes left (those of
 *     directories), then the directory records, depth by depth. A batch
 *     puts its entries below to and deletes them below from, compares
 *     them unchanged since it read them, and compares the intent's mod
 *     revision (the fence): a mover that lost the intent changes nothing.
 *  3. The end compares that nothing is left below from and removes from's
 *     records, the intent and the lock.
 * At every revision each entry is below exactly one of the two names. A
 * mover that dies leaves the intent; its lock goes with its lease, and
 * the next mount (etcd_moves_complete), or a rename that meets the
 * intent, takes it over: one transaction that finds the lock gone and
 * puts intent and lock again, which moves the fence, then steps 2 and 3.
 */
struct move {
	struct etcd *e;
	char *from, *to;
	char *intent, *lock;  /* R r/<id>, R l/<id> */
	uint64_t fence;       /* mod revision of the intent while ours */
	uint64_t lease;       /* the lock's lease, granted at lease_ms */
	uint64_t lease_ms;
};

/* Prefixes of the intents and the locks: "R r/", "R l/". */
static char *moves_prefix(const struct etcd *e, char space)
{
	char *out = NULL;

	return asprintf(&out, "%s%c/", e->records, space) < 0 ? NULL : out;
}

static void add_moves_ranges(json_t *ranges, const struct etcd *e)
{
	char *r = moves_prefix(e, 'r'), *l = moves_prefix(e, 'l');
	char *re = r ? etcd_prefix_end(r) : NULL, *le = l ? etcd_prefix_end(l) : NULL;

	add(ranges, re ? range_op(r, re, false) : NULL);
	add(ranges, le ? keys_op(l, le, 0) : NULL);
	free(r);
	free(l);
	free(re);
	free(le);
}

/* Compare: no rename in steps began (or was taken over) since the read
 * rd, whose ranges R_MOVES saw those that run. */
static void cmp_no_new_moves(json_t *cmp, const struct etcd *e, json_t *rd)
{
	char *r = moves_prefix(e, 'r');

	cmp_unchanged_below(cmp, r, header_rev(rd));
	free(r);
}

/* The lock's lease: timeout= for the step at work, twice, and slack.
 * Each step puts the lock again, under a fresh lease when less than two
 * steps' time is left of the current one. */
static uint64_t move_lease_ms(const struct etcd *e)
{
	return (e->timeout_ms / 1000 * 2 + 5) * 1000;
}

static int lock_op(struct move *m, json_t *ops)
{
	uint64_t now = etcd_now_ms();
	json_t *op;
	char who[64];

	if (!m->lease ||
	    now - m->lease_ms + 2 * m->e->timeout_ms >= move_lease_ms(m->e)) {
		m->lease_ms = now;
		int rc = etcd_lease_grant(m->e,
					  (int64_t)(move_lease_ms(m->e) / 1000),
					  &m->lease);

		if (rc)
			return rc;
	}
	snprintf(who, sizeof(who), "pid %ld", (long)getpid());
	op = put_op(m->lock, who, strlen(who));
	if (op)
		json_object_set_new(json_object_get(op, "request_put"), "lease",
				    json_integer((json_int_t)m->lease));
	add(ops, op);
	return 0;
}

static void move_free(struct move *m)
{
	free(m->from);
	free(m->to);
	free(m->intent);
	free(m->lock);
}

/* m's names from an intent's value "from NUL to" and its id. */
static int move_init(struct move *m, struct etcd *e, const char *id,
		     const void *value, size_t len)
{
	const char *nul = memchr(value, '\0', len);

	memset(m, 0, sizeof(*m));
	m->e = e;
	if (!nul || nul == value || (size_t)(nul - (const char *)value) + 1 >= len)
		return kvfs_error_set(KVFS_EFAIL, "etcd: intent %s is not "
				      "\"from NUL to\"", id);
	m->from = strndup(value, (size_t)(nul - (const char *)value));
	m->to = strndup(nul + 1, len - (size_t)(nul - (const char *)value) - 1);
	if (asprintf(&m->intent, "%sr/%s", e->records, id) < 0)
		m->intent = NULL;
	if (asprintf(&m->lock, "%sl/%s", e->records, id) < 0)
		m->lock = NULL;
	if (!m->from || !m->to || !m->intent || !m->lock) {
		move_free(m);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	return 0;
}

/* Key and range end "<start>" .. "<start><rel> NUL": the span from start
 * to rel, rel included, on an object (range, compare or delete). */
static void set_span(json_t *obj, const char *start, const char *rel)
{
	size_t sl = strlen(start), rl = strlen(rel);
	char *end = malloc(sl + rl + 1);

	if (end) {
		memcpy(end, start, sl);
		memcpy(end + sl, rel, rl);
		end[sl + rl] = '\0';
	}
	json_object_set_new(obj, "key", etcd_jstr(start));
	json_object_set_new(obj, "range_end",
			    end ? etcd_jb64(end, sl + rl + 1) : json_null());
	free(end);
}

static json_t *span_op(const char *kind, const char *start, const char *rel)
{
	json_t *r = json_object();

	set_span(r, start, rel);
	return json_pack("{s:o}", kind, r);
}

/* Compare: nothing in the span changed after rev. */
static json_t *span_unchanged(const char *start, const char *rel,
			      uint64_t rev)
{
	json_t *c = json_pack("{s:s, s:s, s:I}", "target", "MOD", "result",
			      "LESS", "mod_revision", (json_int_t)(rev + 1));

	if (c)
		set_span(c, start, rel);
	return c;
}

/* Prefixes of one space below from (src) and below to (dst). */
struct move_space {
	char *src, *dst;
};

/* What one phase moves: the entries that drive its batches, and with
 * the values, their metadata (copied while current) and attributes. */
struct move_phase {
	struct move_space keys, meta, attrs; /* meta, attrs: src NULL if none */
};

/* The name below src of kv (a key of a range over src...). */
static char *rel_of(json_t *kv, size_t src_len)
{
	char *k = NULL, *rel = NULL;
	size_t len = 0;

	if (etcd_kv_key(kv, &k, &len) == 0 && len >= src_len)
		rel = strdup(k + src_len);
	free(k);
	return rel;
}

/* Put dst<rel of kv> to kv's value; adds its bytes to *bytes. */
static void move_put(json_t *ops, json_t *kv, size_t src_len, const char *dst,
		     uint64_t *bytes)
{
	char *rel = rel_of(kv, src_len), *k = NULL;

	if (rel && asprintf(&k, "%s%s", dst, rel) < 0)
		k = NULL;
	copy_op(ops, k, kv);
	*bytes += (k ? strlen(k) : 0) +
		  json_string_length(json_object_get(kv, "value")) * 3 / 4;
	free(rel);
	free(k);
}

enum { BATCH_DONE, BATCH_MOVED, BATCH_RACED };

/*
 * One batch of phase ph: the first *k entries left below keys.src (fewer
 * when they do not fit one transaction), read with everything of theirs
 * in one read, moved in one transaction. BATCH_DONE when nothing is
 * left, BATCH_RACED when another change came between read and move, or
 * an error (KVFS_ECONFLICT when another mover took the intent over).
 */
static int move_batch(struct move *m, const struct move_phase *ph,
		      uint64_t *k)
{
	struct etcd *e = m->e;
	const struct move_space *sp[3] = { &ph->keys, &ph->meta, &ph->attrs };
	size_t kl = strlen(ph->keys.src), n, nm, na;
	char *kend = etcd_prefix_end(ph->keys.src), *last = NULL;
	json_t *ranges = json_array(), *r1 = NULL, *r2 = NULL, *resp = NULL;
	json_t *cmp = NULL, *ok_ops = NULL, *fail = NULL, *kv, *kvs, *mkvs;
	uint64_t rev, bytes = 0;
	bool ok = false;
	size_t i;
	int rc;

	/* How far the batch goes: its last entry. */
	add(ranges, kend ? keys_op(ph->keys.src, kend, *k) : NULL);
	free(kend);
	rc = read_ranges(e, KVFS_STRONG, ranges, &r1);
	n = rc ? 0 : json_array_size(json_object_get(resp_range(r1, 0), "kvs"));
	if (rc == 0 && n)
		last = rel_of(etcd_kv_at(resp_range(r1, 0), n - 1), kl);
	json_decref(r1);
	if (rc || !n)
		return rc ? rc : BATCH_DONE;
	if (!last)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	/* The span up to it, in each space, at one revision. */
	ranges = json_array();
	for (i = 0; i < 3; i++)
		if (sp[i]->src)
			add(ranges, span_op("request_range", sp[i]->src, last));
	rc = read_ranges(e, KVFS_STRONG, ranges, &r2);
	if (rc)
		goto out;
	rev = header_rev(r2);
	kvs = json_object_get(resp_range(r2, 0), "kvs");
	mkvs = ph->meta.src ? json_object_get(resp_range(r2, 1), "kvs") : NULL;
	n = json_array_size(kvs);
	nm = json_array_size(mkvs);
	na = ph->attrs.src ? json_array_size(json_object_get(
		resp_range(r2, ph->meta.src ? 2 : 1), "kvs")) : 0;
	if (n + nm + na + 8 > e->max_txn_ops && *k > 1) {
		*k = (*k + 1) / 2; /* directories' attributes in the span */
		rc = BATCH_RACED;
		goto out;
	}
	cmp = json_array();
	ok_ops = json_array();
	fail = json_array();
	add(cmp, cmp_op(m->intent, NULL, "MOD", "EQUAL", m->fence));
	for (i = 0; i < 3; i++)
		if (sp[i]->src) {
			add(cmp, span_unchanged(sp[i]->src, last, rev));
			add(ok_ops, span_op("request_delete_range", sp[i]->src,
					    last));
		}
	json_array_foreach(kvs, i, kv) {
		char *full = NULL;

		if (etcd_kv_key(kv, &full, &(size_t){ 0 }))
			full = NULL;
		cmp_seen(cmp, full, kv);
		free(full);
		move_put(ok_ops, kv, kl, ph->keys.dst, &bytes);
	}
	/* Metadata moves while current: its value, at the same name, is
	 * in this batch and not newer. */
	for (size_t j = 0; j < nm; j++) {
		json_t *mkv = json_array_get(mkvs, j);
		char *mrel = rel_of(mkv, strlen(ph->meta.src));

		json_array_foreach(kvs, i, kv) {
			char *rel = mrel ? rel_of(kv, kl) : NULL;
			bool same = rel && !strcmp(rel, mrel);

			free(rel);
			if (same) {
				if (meta_current(mkv, kv))
					move_put(ok_ops, mkv,
						 strlen(ph->meta.src),
						 ph->meta.dst, &bytes);
				break;
			}
		}
		free(mrel);
	}
	if (ph->attrs.src)
		json_array_foreach(json_object_get(resp_range(r2, ph->meta.src
							       ? 2 : 1),
						   "kvs"), i, kv)
			move_put(ok_ops, kv, strlen(ph->attrs.src),
				 ph->attrs.dst, &bytes);
	if (bytes > e->inline_max && *k > 1) {
		*k = (*k + 1) / 2;
		rc = BATCH_RACED;
		goto out;
	}
	if ((rc = lock_op(m, ok_ops)))
		goto out;
	add(fail, range_op(m->intent, NULL, false));
	rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
	cmp = ok_ops = fail = NULL;
	if (rc)
		goto out;
	if (ok) {
		rc = BATCH_MOVED;
	} else if (kv_mod(first_kv(resp, 0)) != m->fence) {
		rc = kvfs_error_set(KVFS_ECONFLICT, "the rename of %s to %s "
				    "was taken over by another mount",
				    m->from, m->to);
	} else {
		atomic_fetch_add(&e->n_conflict_retries, 1);
		rc = BATCH_RACED;
	}
out:
	json_decref(r2);
	json_decref(resp);
	json_decref(cmp);
	json_decref(ok_ops);
	json_decref(fail);
	free(last);
	return rc;
}

/* Run phase ph's batches until nothing is left below keys.src; *found
 * says whether there was anything at all. */
static int move_phase_run(struct move *m, const struct move_phase *ph,
			  bool *found)
{
	uint64_t k = m->e->max_txn_ops / 3 - 2;
	int races = 0, rc;

	*found = false;
	if (!ph->keys.src || !ph->keys.dst ||
	    (ph->meta.src && !ph->meta.dst) || (ph->attrs.src && !ph->attrs.dst))
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	while ((rc = move_batch(m, ph, &k)) == BATCH_MOVED ||
	       rc == BATCH_RACED) {
		*found = true;
		etcd_op_next_step(m->e->timeout_ms);
		if (rc == BATCH_MOVED)
			races = 0;
		else if (++races > 4 * RETRIES)
			return kvfs_error_set(KVFS_ECONFLICT, "the rename of %s "
				"to %s kept racing with changes below %s",
				m->from, m->to, m->from);
	}
	return rc;
}

static void phase_free(struct move_phase *ph)
{
	free(ph->keys.src);
	free(ph->keys.dst);
	free(ph->meta.src);
	free(ph->meta.dst);
	free(ph->attrs.src);
	free(ph->attrs.dst);
}

/* The end: nothing left below from; its records, intent and lock go.
 * *done false when something was (the batches run again). */
static int move_end(struct move *m, bool *done)
{
	struct etcd *e = m->e;
	char *pv = below_prefix(e, ETCD_VALUE, m->from);
	char *pa = below_prefix(e, ETCD_ATTR, m->from);
	char *pm = below_prefix(e, ETCD_META, m->from);
	char *pd = dirs_at(e, depth_of(m->from) + 1, m->from);
	char *df = etcd_key(e, ETCD_DIR, m->from);
	char *af = etcd_key(e, ETCD_ATTR, m->from);
	char *me = pm ? etcd_prefix_end(pm) : NULL;
	json_t *cmp = json_array(), *ok_ops = json_array(), *fail = json_array();
	json_t *resp = NULL;
	bool ok = false;
	int rc;

	add(cmp, cmp_op(m->intent, NULL, "MOD", "EQUAL", m->fence));
	cmp_none_below(cmp, pv);
	cmp_none_below(cmp, pa);
	cmp_none_below(cmp, pd);
	add(ok_ops, df ? del_op(df, NULL) : NULL);
	add(ok_ops, af ? del_op(af, NULL) : NULL);
	/* Metadata left is stale: its values went (the collection takes
	 * their chunks). */
	add(ok_ops, me ? del_op(pm, me) : NULL);
	add(ok_ops, del_op(m->intent, NULL));
	add(ok_ops, del_op(m->lock, NULL));
	add(fail, range_op(m->intent, NULL, false));
	rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
	*done = rc == 0 && ok;
	if (rc == 0 && !ok && kv_mod(first_kv(resp, 0)) != m->fence)
		rc = kvfs_error_set(KVFS_ECONFLICT, "the rename of %s to %s "
				    "was taken over by another mount",
				    m->from, m->to);
	json_decref(resp);
	free(pv);
	free(pa);
	free(pm);
	free(pd);
	free(df);
	free(af);
	free(me);
	return rc;
}

/* Steps 2 and 3 of a move whose intent is ours. */
static int move_rest(struct move *m)
{
	struct etcd *e = m->e;
	unsigned int dfrom = depth_of(m->from), dto = depth_of(m->to);
	bool done = false, found;
	int rc = 0;

	for (int round = 0; rc == 0 && !done; round++) {
		struct move_phase values = {
			{ below_prefix(e, ETCD_VALUE, m->from),
			  below_prefix(e, ETCD_VALUE, m->to) },
			{ below_prefix(e, ETCD_META, m->from),
			  below_prefix(e, ETCD_META, m->to) },
			{ below_prefix(e, ETCD_ATTR, m->from),
			  below_prefix(e, ETCD_ATTR, m->to) },
		};
		struct move_phase attrs = {
			{ below_prefix(e, ETCD_ATTR, m->from),
			  below_prefix(e, ETCD_ATTR, m->to) }, { 0 }, { 0 },
		};

		if (round == RETRIES)
			rc = kvfs_error_set(KVFS_ECONFLICT, "the rename of %s "
				"to %s kept finding new entries below %s",
				m->from, m->to, m->from);
		if (rc == 0)
			rc = move_phase_run(m, &values, &found);
		if (rc == 0)
			rc = move_phase_run(m, &attrs, &found);
		/* Directory records, depth by depth, while there are any. */
		for (unsigned int d = dfrom + 1; rc == 0; d++) {
			struct move_phase dirs = {
				{ dirs_at(e, d, m->from),
				  dirs_at(e, d - dfrom + dto, m->to) },
				{ 0 }, { 0 },
			};

			rc = move_phase_run(m, &dirs, &found);
			phase_free(&dirs);
			if (!found)
				break;
		}
		phase_free(&values);
		phase_free(&attrs);
		if (rc == 0)
			rc = move_end(m, &done);
	}
	return rc;
}

/*
 * Step 1, from etcd_op_rename's read rd of the two names. A key below
 * from that the move would make longer than KVFS_KEY_MAX could not be
 * named again, so when to is longer than from, every key below from is
 * measured first (keys only, a request per 1,000).
 */
static int longest_below(struct etcd *e, const char *from, size_t *longest);

static int move_in_steps(struct etcd *e, const char *from, const char *to,
			 json_t *rd, int *retry)
{
	json_t *cmp = json_array(), *ok_ops = json_array(), *fail = json_array();
	json_t *resp = NULL;
	struct move m;
	char id[33], *value = NULL;
	size_t vlen = strlen(from) + 1 + strlen(to), longest = 0;
	bool ok = false;
	int rc = 0;

	if (strlen(to) > strlen(from)) {
		rc = longest_below(e, from, &longest);
		if (rc == 0 && strlen(to) + 1 + longest > KVFS_KEY_MAX)
			rc = kvfs_error_set(KVFS_ENAMETOOLONG, "the rename "
				"would make a key below %s over %d bytes", to,
				KVFS_KEY_MAX);
	}
	random_gen(id);
	value = malloc(vlen);
	if (value) {
		memcpy(value, from, strlen(from) + 1);
		memcpy(value + strlen(from) + 1, to, strlen(to));
	}
	if (rc == 0)
		rc = value ? move_init(&m, e, id, value, vlen)
			   : kvfs_error_set(KVFS_EFAIL, "out of memory");
	if (rc) {
		json_decref(cmp);
		json_decref(ok_ops);
		json_decref(fail);
		free(value);
		return rc;
	}
	/* The reads that found the directory too large spent this
	 * operation's time: the start is a step of its own. */
	etcd_op_next_step(e->timeout_ms);
	dir_itself(e, from, to, rd, cmp, ok_ops);
	add(ok_ops, put_op(m.intent, value, vlen));
	rc = lock_op(&m, ok_ops);
	if (rc == 0) {
		rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
	} else {
		json_decref(cmp);
		json_decref(ok_ops);
		json_decref(fail);
	}
	if (rc)
		/* The start's outcome may be unknown (no answer): the
		 * upkeep completes it if it took effect. */
		etcd_upkeep_moves_pending(e);
	if (rc == 0 && !ok) {
		*retry = 1;
	} else if (rc == 0) {
		m.fence = header_rev(resp);
		atomic_fetch_add(&e->n_moves_started, 1);
		kvfs_log(KVFS_LOG_INFO, "etcd: renaming %s to %s in steps "
			 "(too large for one transaction)", from, to);
		etcd_op_next_step(e->timeout_ms);
		rc = move_rest(&m);
		if (rc) {
			kvfs_log(KVFS_LOG_WARNING, "etcd: the rename of %s to "
				 "%s stopped halfway: %s; %s", from, to,
				 kvfs_error_message(), e->upkeep_running
				 ? "this mount completes it when the cluster "
				   "answers again"
				 : "the next mount of this prefix completes it "
				   "(collect=0 here)");
			etcd_upkeep_moves_pending(e);
		}
	}
	json_decref(resp);
	free(value);
	move_free(&m);
	return rc;
}

static int longest_below(struct etcd *e, const char *from, size_t *longest)
{
	char *start = below_prefix(e, ETCD_VALUE, from);
	char *end = start ? etcd_prefix_end(start) : NULL;
	size_t skip = start ? strlen(start) : 0;
	int rc = end ? 0 : kvfs_error_set(KVFS_EFAIL, "out of memory");

	*longest = 0;
	while (rc == 0) {
		json_t *ranges = json_array(), *resp = NULL, *kv;
		char *k = NULL;
		size_t i, len = 0, n;

		add(ranges, keys_op(start, end, ETCD_LIST_PAGE));
		rc = read_ranges(e, KVFS_STRONG, ranges, &resp);
		n = rc ? 0 : json_array_size(json_object_get(resp_range(resp, 0),
							     "kvs"));
		json_array_foreach(json_object_get(resp_range(resp, 0), "kvs"),
				   i, kv)
			if (etcd_kv_key(kv, &k, &len) == 0) {
				if (len - skip > *longest)
					*longest = len - skip;
				if (i + 1 == n) {
					/* The next page: after this key. */
					free(start);
					start = malloc(len + 2);
					if (start) {
						memcpy(start, k, len);
						memcpy(start + len, "\x01", 2);
					}
				}
				free(k);
			}
		json_decref(resp);
		if (rc == 0 && !start)
			rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		if (n < ETCD_LIST_PAGE)
			break;
		etcd_op_next_step(e->timeout_ms);
	}
	free(start);
	free(end);
	return rc;
}

/*
 * Take over the intent kv (its lock gone): one transaction that finds
 * intent unchanged and lock absent, and puts both again. 1 when another
 * mount was quicker (or holds the lock).
 */
static int move_take_over(struct etcd *e, json_t *kv, size_t id_at,
			  struct move *m)
{
	json_t *cmp = json_array(), *ok_ops = json_array(), *fail = json_array();
	json_t *resp = NULL;
	char *key = NULL;
	void *value = NULL;
	size_t klen = 0, vlen = 0;
	bool ok = false;
	int rc = etcd_kv_key(kv, &key, &klen);

	if (rc == 0)
		rc = etcd_kv_value(kv, &value, &vlen);
	if (rc == 0 && klen > id_at)
		rc = move_init(m, e, key + id_at, value, vlen);
	else if (rc == 0)
		rc = kvfs_error_set(KVFS_EFAIL, "etcd: intent without an id");
	if (rc) {
		json_decref(cmp);
		json_decref(ok_ops);
		json_decref(fail);
		free(key);
		free(value);
		return rc;
	}
	add(cmp, cmp_op(m->intent, NULL, "MOD", "EQUAL", kv_mod(kv)));
	add(cmp, cmp_op(m->lock, NULL, "VERSION", "EQUAL", 0));
	add(ok_ops, put_op(m->intent, value, vlen));
	rc = lock_op(m, ok_ops);
	if (rc == 0) {
		rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
	} else {
		json_decref(cmp);
		json_decref(ok_ops);
		json_decref(fail);
	}
	if (rc == 0 && ok)
		m->fence = header_rev(resp);
	else if (rc == 0)
		rc = 1;
	if (rc)
		move_free(m);
	json_decref(resp);
	free(key);
	free(value);
	return rc;
}

/* Is a the same as b, or above or below it? */
static bool overlaps(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;

	return !strncmp(a, b, n) && (la == lb || (la < lb ? b : a)[n] == '/');
}

/* Does the lock of the intent whose key is ik (id at id_at) exist, in
 * the keys-only range locks? */
static bool lock_held(json_t *locks, const char *ik, size_t id_at,
		      size_t lock_id_at)
{
	size_t i, len;
	json_t *kv;
	char *k;

	json_array_foreach(json_object_get(locks, "kvs"), i, kv) {
		bool same;

		k = NULL;
		if (etcd_kv_key(kv, &k, &len))
			continue;
		same = len >= lock_id_at && !strcmp(k + lock_id_at, ik + id_at);
		free(k);
		if (same)
			return true;
	}
	return false;
}

/*
 * A rename that meets a rename in steps of an overlapping tree: while
 * that one's mover lives, this one fails (KVFS_ECONFLICT, try again);
 * one left halfway is completed first, and *retry set.
 */
static int meet_moves(struct etcd *e, const char *from, const char *to,
		      json_t *rd, int *retry)
{
	size_t id_at = e->records_len + 2, i;
	json_t *kv;
	int rc = 0;

	json_array_foreach(json_object_get(resp_range(rd, R_MOVES), "kvs"), i,
			   kv) {
		struct move m;
		char *ik = NULL;
		void *v = NULL;
		size_t klen = 0, vlen = 0;
		int bad;

		if (etcd_kv_key(kv, &ik, &klen) || etcd_kv_value(kv, &v, &vlen) ||
		    klen <= id_at || move_init(&m, e, ik + id_at, v, vlen)) {
			free(ik);
			free(v);
			continue; /* not an intent of kvfs's: left alone */
		}
		bad = overlaps(from, m.from) || overlaps(from, m.to) ||
		      overlaps(to, m.from) || overlaps(to, m.to);
		move_free(&m);
		free(v);
		if (bad && lock_held(resp_range(rd, R_LOCKS), ik, id_at, id_at))
			rc = kvfs_error_set(KVFS_ECONFLICT, "etcd: another "
				"mount is renaming a directory that holds "
				"%s or %s (%s); try again when it is done",
				from, to, ik);
		else if (bad && (rc = move_take_over(e, kv, id_at, &m)) == 0) {
			kvfs_log(KVFS_LOG_INFO, "etcd: completing the rename "
				 "of %s to %s left halfway", m.from, m.to);
			rc = move_rest(&m);
			move_free(&m);
			if (rc == 0)
				atomic_fetch_add(&e->n_moves_completed, 1);
			*retry = rc == 0;
		} else if (bad) {
			*retry = rc == 1;
			rc = rc == 1 ? 0 : rc;
		}
		free(ik);
		if (rc || *retry)
			break;
	}
	return rc;
}

int etcd_moves_complete(struct etcd *e, atomic_bool *stop,
			uint64_t *completed)
{
	size_t id_at = e->records_len + 2;
	int rc = 0;

	*completed = 0;
	while (rc == 0 && !atomic_load(stop)) {
		json_t *ranges = json_array(), *resp = NULL, *kv;
		bool waiting = false;
		size_t i;

		add_moves_ranges(ranges, e);
		rc = read_ranges(e, KVFS_STRONG, ranges, &resp);
		if (rc == 0 && !first_kv(resp, 0)) {
			json_decref(resp);
			break;
		}
		json_array_foreach(json_object_get(resp_range(resp, 0), "kvs"),
				   i, kv) {
			struct move m;
			char *ik = NULL;
			size_t klen;

			if (rc || atomic_load(stop))
				break;
			if (etcd_kv_key(kv, &ik, &klen) || klen <= id_at) {
				free(ik);
				continue;
			}
			if (lock_held(resp_range(resp, 1), ik, id_at, id_at)) {
				waiting = true; /* its mover lives, or its
						 * lease has not run out */
			} else if ((rc = move_take_over(e, kv, id_at, &m)) == 0) {
				kvfs_log(KVFS_LOG_INFO, "etcd: completing the "
					 "rename of %s to %s left halfway",
					 m.from, m.to);
				rc = move_rest(&m);
				move_free(&m);
				if (rc == 0)
					(*completed)++;
			} else if (rc == 1) {
				rc = 0;
				waiting = true;
			}
			free(ik);
		}
		json_decref(resp);
		for (int t = 0; rc == 0 && waiting && t < 10 &&
				!atomic_load(stop); t++)
			nanosleep(&(struct timespec){ .tv_nsec = 100000000 },
				  NULL);
	}
	return rc;
}

/* ------------------------------------------------------------ listing */

/*
 * A listing walks the keys below P<dir>/ in order, keys only, and takes
 * each child from the first key that names it: a key with a '/' after
 * the name makes a directory, whose subtree the next request skips (it
 * starts at P<dir>/<name>0, '0' being '/' + 1); a key without one is a
 * file, held back ("pending") until the walk has passed the keys that
 * could make it a directory (P<dir>/<name>/...: those come after names
 * that extend it with a byte below '/'). So a directory of 10 children
 * over 100,000 keys costs about 10 small requests, not the subtree. The
 * records of subdirectories kvfs made (R d/<depth+1>/<dir>/) are read
 * with the first page, and merged in: they add the empty ones.
 */
struct etcd_lister {
	struct kvfs_lister base;
	struct etcd *e;
	char *dir;           /* the directory, for messages */
	enum kvfs_consistency level;
	char *from;          /* next key to read (from_len bytes) */
	size_t from_len;
	char *end;           /* end of the keys below the directory */
	size_t skip;         /* bytes of P<dir>/ */
	uint64_t rev;        /* revision the pages are read at */
	uint64_t limit;      /* keys the next page asks for */
	uint64_t spent_ms;   /* time spent in etcd so far */
	unsigned int restarts; /* continued at a newer revision */
	json_t *page;        /* kvs of the current page */
	size_t idx;
	size_t found;        /* children the current page gave */
	bool more;           /* etcd has more after this page */
	bool walked;         /* the walk is done, pending files given */
	char **pend;         /* files that could still be directories */
	size_t npend;
	struct kvfs_dirent *ready; /* children found, not yet returned */
	size_t nready, ridx;
	char **dnames;       /* subdirectory records, sorted */
	bool *dseen;
	size_t dn, didx;
	struct etcd_journal_child *jc;
	size_t jn, jidx;
};

static int jc_cmp(const void *key, const void *child)
{
	return strcmp(key, ((const struct etcd_journal_child *)child)->name);
}

/* The journal's word on name (its children are sorted by name). */
static struct etcd_journal_child *jc_find(struct etcd_lister *l,
					  const char *name)
{
	return l->jn ? bsearch(name, l->jc, l->jn, sizeof(*l->jc), jc_cmp)
		     : NULL;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A child found: merged with the journal's pending entries and the
 * subdirectory records (a directory wins over a key of the same name). */
static int emit(struct etcd_lister *l, const char *name, size_t len,
		enum kvfs_kind kind)
{
	struct etcd_journal_child *c;
	struct kvfs_dirent *grown;
	char **d;
	char buf[KVFS_NAME_MAX + 1];
	const char *key = buf;

	memcpy(buf, name, len);
	buf[len] = '\0';
	d = l->dn ? bsearch(&key, l->dnames, l->dn, sizeof(*l->dnames),
			    name_cmp) : NULL;
	if (d) {
		l->dseen[d - l->dnames] = true;
		kind = KVFS_KIND_DIR;
	}
	c = jc_find(l, buf);
	if (c) {
		c->seen = true;
		if (!c->kind)
			return 0; /* deleted by a pending entry */
		kind = c->kind;
	}
	grown = realloc(l->ready, (l->nready + 1) * sizeof(*grown));
	if (!grown)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	l->ready = grown;
	memcpy(grown[l->nready].name, buf, len + 1);
	grown[l->nready++].kind = kind;
	l->found++;
	return 0;
}

/* Continue the walk at P<dir>/<name> + tail (tail_len bytes). */
static int set_from(struct etcd_lister *l, const char *name, size_t len,
		    const char *tail, size_t tail_len)
{
	char *next = malloc(l->skip + len + tail_len + 1);

	if (!next)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	memcpy(next, l->from, l->skip);
	memcpy(next + l->skip, name, len);
	memcpy(next + l->skip + len, tail, tail_len);
	next[l->skip + len + tail_len] = '\0';
	free(l->from);
	l->from = next;
	l->from_len = l->skip + len + tail_len;
	return 0;
}

/* Is the name usable as a directory entry? */
static bool good_name(const char *name, size_t len)
{
	return len && len <= KVFS_NAME_MAX && !memchr(name, '\0', len) &&
	       !(len == 1 && name[0] == '.') &&
	       !(len == 2 && name[0] == '.' && name[1] == '.');
}

/* One key of the walk: rest (len bytes) is what follows P<dir>/. */
static int walk_key(struct etcd_lister *l, const char *rest, size_t len)
{
	const char *slash = memchr(rest, '/', len);
	size_t nlen = slash ? (size_t)(slash - rest) : len;
	int rc;

	/* Skipped already: below a directory found before. */
	{
		size_t n = l->from_len - l->skip, m = n < len ? n : len;
		int c = memcmp(rest, l->from + l->skip, m);

		if (c < 0 || (c == 0 && len < n))
			return 0;
	}
	while (l->npend) {
		char *top = l->pend[l->npend - 1];
		size_t tlen = strlen(top);

		if (len > tlen && !memcmp(rest, top, tlen) && rest[tlen] < '/')
			break; /* may still meet top/ further on */
		if (len > tlen && !memcmp(rest, top, tlen) && rest[tlen] == '/') {
			/* A key and a directory: the directory. */
			rc = emit(l, top, tlen, KVFS_KIND_DIR);
			l->npend--;
			rc = rc ? rc : set_from(l, top, tlen, "0", 1);
			free(top);
			return rc;
		}
		rc = emit(l, top, tlen, KVFS_KIND_FILE);
		free(top);
		l->npend--;
		if (rc)
			return rc;
	}
	if (slash) {
		rc = good_name(rest, nlen) ? emit(l, rest, nlen, KVFS_KIND_DIR)
					   : 0;
		return rc ? rc : set_from(l, rest, nlen, "0", 1);
	}
	rc = set_from(l, rest, len, "", 1); /* just after the key */
	if (rc || !good_name(rest, len))
		return rc;
	{
		char **grown = realloc(l->pend, (l->npend + 1) * sizeof(*grown));
		char *copy = strndup(rest, len);

		if (grown)
			l->pend = grown;
		if (!grown || !copy) {
			free(copy);
			return kvfs_error_set(KVFS_EFAIL, "out of memory");
		}
		l->pend[l->npend++] = copy;
	}
	return 0;
}

/* The walk reached its end: the pending keys are files. */
static int walk_done(struct etcd_lister *l)
{
	int rc = 0;

	while (l->npend && rc == 0) {
		char *top = l->pend[--l->npend];

		rc = emit(l, top, strlen(top), KVFS_KIND_FILE);
		free(top);
	}
	l->walked = true;
	return rc;
}

/* The page request at l->from: keys only, l->limit of them. */
static json_t *page_request(struct etcd_lister *l)
{
	json_t *req = json_pack("{s:o, s:o, s:I, s:b}", "key",
				etcd_jb64(l->from, l->from_len), "range_end",
				etcd_jstr(l->end), "limit", (json_int_t)l->limit,
				"keys_only", 1);

	return req;
}

/* Take a page answer (a range response). */
static void take_page(struct etcd_lister *l, json_t *range)
{
	json_decref(l->page);
	l->page = json_incref(json_object_get(range, "kvs"));
	l->more = json_is_true(json_object_get(range, "more"));
	l->idx = 0;
	l->found = 0;
}

/* Read the page at l->from at revision rev; rev 0: at the newest
 * revision, which then becomes the listing's (linearizable unless the
 * listing is eventual, so never older than the first page). */
static int read_page(struct etcd_lister *l, uint64_t rev)
{
	bool serializable = rev || l->level == KVFS_EVENTUAL;
	json_t *req = page_request(l), *resp = NULL;
	int rc;

	if (req) {
		json_object_set_new(req, "serializable",
				    json_boolean(serializable));
		if (rev)
			json_object_set_new(req, "revision",
					    json_integer((json_int_t)rev));
	}
	rc = req ? etcd_call(l->e, "/v3/kv/range", req,
			     serializable ? ETCD_CALL_PREFERRED : 0, &resp)
		 : kvfs_error_set(KVFS_EFAIL, "out of memory");
	json_decref(req);
	if (rc)
		return rc;
	if (!rev)
		l->rev = header_rev(resp);
	take_page(l, resp);
	json_decref(resp);
	return 0;
}

/* The next page at the listing's revision. When etcd compacted that
 * revision meanwhile, the listing goes on after the last name it gave
 * at the newest revision: each name still comes once, and a change made
 * during the listing may or may not show, as readdir(3) allows. */
static int next_page(struct etcd_lister *l)
{
	int rc = read_page(l, l->rev);

	while (rc == KVFS_ECONFLICT && etcd_call_compacted()) {
		if (l->restarts++ >= COMPACT_RETRIES)
			return kvfs_error_set(KVFS_ECONFLICT,
				"etcd: listing of %s met more than %d "
				"compactions of the revision it read at",
				l->dir[0] ? l->dir : "the root",
				COMPACT_RETRIES);
		atomic_fetch_add(&l->e->n_list_restarts, 1);
		rc = read_page(l, 0);
	}
	return rc;
}

/* A page within what is left of the listing's time: timeout= bounds the
 * listing as a whole, however many pages it has. A page that found few
 * children (its keys lay in subtrees skipped) makes the next one small;
 * one that found many lets it grow back. */
static int fetch_page(struct etcd_lister *l)
{
	uint64_t t0 = etcd_now_ms(), timeout = l->e->timeout_ms;
	uint64_t want = 2 * (uint64_t)l->found;
	int rc;

	l->limit = want < ETCD_LIST_PAGE_MIN ? ETCD_LIST_PAGE_MIN
		   : want > ETCD_LIST_PAGE   ? ETCD_LIST_PAGE
					     : want;
	if (l->spent_ms >= timeout)
		return kvfs_error_set(KVFS_ETIMEDOUT,
			"etcd: listing of %s took longer than timeout=%" PRIu64
			" ms", l->dir[0] ? l->dir : "the root", timeout);
	etcd_op_begin(timeout - l->spent_ms);
	rc = etcd_op_end(next_page(l));
	l->spent_ms += etcd_now_ms() - t0;
	return rc;
}

static int lister_next(struct kvfs_lister *base, struct kvfs_dirent *ent)
{
	struct etcd_lister *l = (struct etcd_lister *)base;
	struct etcd_journal_child *c;

	for (;;) {
		json_t *kv;
		char *k = NULL;
		size_t klen = 0;
		int rc;

		if (l->ridx < l->nready) {
			*ent = l->ready[l->ridx++];
			return 1;
		}
		l->nready = l->ridx = 0;
		if (l->walked)
			break;
		kv = json_array_get(l->page, l->idx);
		if (!kv) {
			rc = l->more ? fetch_page(l) : walk_done(l);
			if (rc)
				return rc;
			continue;
		}
		l->idx++;
		rc = etcd_kv_key(kv, &k, &klen);
		if (rc == 0 && klen > l->skip)
			rc = walk_key(l, k + l->skip, klen - l->skip);
		free(k);
		if (rc)
			return rc;
	}
	while (l->didx < l->dn) {
		size_t i = l->didx++;

		if (l->dseen[i])
			continue;
		snprintf(ent->name, sizeof(ent->name), "%s", l->dnames[i]);
		ent->kind = KVFS_KIND_DIR;
		c = jc_find(l, ent->name);
		if (c) {
			c->seen = true;
			if (!c->kind)
				continue;
		}
		return 1;
	}
	while (l->jidx < l->jn) {
		c = &l->jc[l->jidx++];

		if (c->seen || !c->kind)
			continue;
		snprintf(ent->name, sizeof(ent->name), "%s", c->name);
		ent->kind = c->kind;
		return 1;
	}
	return 0;
}

static void lister_close(struct kvfs_lister *base)
{
	struct etcd_lister *l = (struct etcd_lister *)base;

	free(l->dir);
	free(l->from);
	free(l->end);
	json_decref(l->page);
	for (size_t i = 0; i < l->npend; i++)
		free(l->pend[i]);
	free(l->pend);
	free(l->ready);
	for (size_t i = 0; i < l->dn; i++)
		free(l->dnames[i]);
	free(l->dnames);
	free(l->dseen);
	etcd_journal_children_free(l->jc, l->jn);
	free(l);
}

static const struct kvfs_lister_ops lister_ops = {
	.next = lister_next,
	.close = lister_close,
};

/* The names of the subdirectory records in range (keys "<start><name>"). */
static int take_dir_records(struct etcd_lister *l, json_t *range,
			    size_t skip)
{
	json_t *kvs = json_object_get(range, "kvs"), *kv;
	size_t i, n = json_array_size(kvs);

	l->dnames = calloc(n + 1, sizeof(*l->dnames));
	l->dseen = calloc(n + 1, sizeof(*l->dseen));
	if (!l->dnames || !l->dseen)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	json_array_foreach(kvs, i, kv) {
		char *k = NULL;
		size_t klen;

		if (etcd_kv_key(kv, &k, &klen) == 0 && klen > skip &&
		    good_name(k + skip, klen - skip) &&
		    !memchr(k + skip, '/', klen - skip))
			l->dnames[l->dn++] = strdup(k + skip);
		free(k);
		if (l->dn && !l->dnames[l->dn - 1])
			return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	qsort(l->dnames, l->dn, sizeof(*l->dnames), name_cmp);
	return 0;
}

int etcd_op_list(struct etcd *e, const char *dir, enum kvfs_consistency level,
		 struct kvfs_lister **out)
{
	struct etcd_lister *l = calloc(1, sizeof(*l));
	char *bp = below_prefix(e, ETCD_VALUE, dir);
	char *cp = dirs_at(e, depth_of(dir) + 1, dir);
	char *ce = cp ? etcd_prefix_end(cp) : NULL;
	char *dk = etcd_key(e, ETCD_DIR, dir), *vk = etcd_key(e, ETCD_VALUE, dir);
	json_t *ranges = json_array(), *resp = NULL, *req;
	uint64_t t0 = etcd_now_ms();
	int rc;

	if (!l || !bp || !cp || !ce || !dk || !vk ||
	    !(l->dir = strdup(dir)) || !(l->from = strdup(bp)) ||
	    !(l->end = etcd_prefix_end(bp))) {
		json_decref(ranges);
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	l->base.ops = &lister_ops;
	l->e = e;
	l->level = level;
	l->skip = strlen(bp);
	l->from_len = l->skip;
	l->limit = ETCD_LIST_PAGE;
	req = page_request(l);
	add(ranges, req ? json_pack("{s:o}", "request_range", req) : NULL);
	add(ranges, keys_op(cp, ce, 0));
	add(ranges, range_op(dk, NULL, true));
	add(ranges, keys_op(vk, NULL, 0));
	if (e->journal) {
		rc = etcd_journal_children(e->journal, dir, &l->jc, &l->jn);
		if (rc) {
			json_decref(ranges);
			goto out_free;
		}
	}
	rc = read_ranges(e, level, ranges, &resp);
	if (rc)
		goto out_free;
	rc = take_dir_records(l, resp_range(resp, 1), strlen(cp));
	if (rc)
		goto out_free;
	if (dir[0] && !first_kv(resp, 0) && !l->dn && !range_count(resp, 2)) {
		bool pending = e->journal && etcd_journal_has_under(e->journal,
								    dir);

		if (first_kv(resp, 3) && !pending) {
			rc = kvfs_error_set(KVFS_ENOTDIR, "%s is not a "
					    "directory", dir);
			goto out_free;
		}
		if (!pending) {
			rc = kvfs_error_set(KVFS_ENOTFOUND, "no directory %s",
					    dir);
			goto out_free;
		}
	}
	l->rev = header_rev(resp);
	take_page(l, resp_range(resp, 0));
	l->spent_ms = etcd_now_ms() - t0;
	*out = &l->base;
	l = NULL;
out_free:
	if (l)
		lister_close(&l->base);
	json_decref(resp);
	free(bp);
	free(cp);
	free(ce);
	free(dk);
	free(vk);
	return rc;
}

/* ------------------------------------------------------------- space */

int etcd_op_space(struct etcd *e, struct kvfs_space *space)
{
	json_t *req = json_object(), *resp = NULL;
	uint64_t used;
	int rc = req ? etcd_call(e, "/v3/maintenance/status", req, 0, &resp)
		     : kvfs_error_set(KVFS_EFAIL, "out of memory");

	json_decref(req);
	if (rc)
		return rc;
	used = etcd_json_u64(resp, "dbSize");
	json_decref(resp);
	memset(space, 0, sizeof(*space));
	space->block_size = 4096;
	space->blocks = e->quota / 4096;
	space->blocks_free = used < e->quota ? (e->quota - used) / 4096 : 0;
	return 0;
}
