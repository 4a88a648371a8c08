/*
 * ops.c - the file system kept in etcd: the key layout (lib/docs/etcd.md),
 * and each operation as one etcd transaction where it changes something,
 * with compares that keep the tree consistent (a value never without its
 * parent directory, a rename all-or-nothing). Reads go through
 * etcd_read_txn, which applies the consistency level (etcd.c).
 *
 * Layout under the prefix P:
 *   P v/<key>          the value of a file ("" when it is chunked)
 *   P m/<depth>/<key>  metadata JSON of a file or directory; the children
 *                      of a directory are one contiguous range
 *   P d/<key>          present exactly when <key> is a directory
 *   P a/<key>          mode and extended attributes (JSON)
 *   P c/<gen>/<index>  chunks of a value over the request limit
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "etcd_internal.h"

#define RETRIES 8 /* of a transaction that lost a race */
#define COMPACT_RETRIES 8 /* of a read whose revision was compacted */

/* ---------------------------------------------------------------- keys */

static unsigned int depth_of(const char *key)
{
	unsigned int d = 1;

	for (const char *p = key; *p; p++)
		d += *p == '/';
	return d;
}

char *etcd_key(const struct etcd *e, enum etcd_space space, const char *key)
{
	static const char letter[] = { 'v', 'm', 'd', 'a' };
	char *out = NULL;
	int n;

	if (space == ETCD_META)
		n = asprintf(&out, "%sm/%u/%s", e->prefix,
			     key[0] ? depth_of(key) : 0, key);
	else
		n = asprintf(&out, "%s%c/%s", e->prefix, letter[space], key);
	return n < 0 ? NULL : out;
}

/* "<P>m/<depth+1>/<dir>/": the common start of dir's children. */
static char *children_prefix(const struct etcd *e, const char *dir)
{
	char *out = NULL;

	if (dir[0] == '\0') {
		if (asprintf(&out, "%sm/1/", e->prefix) < 0)
			return NULL;
	} else if (asprintf(&out, "%sm/%u/%s/", e->prefix, depth_of(dir) + 1,
			    dir) < 0) {
		return NULL;
	}
	return out;
}

/* "<P><letter>/<dir>/": everything below dir in one space. */
static char *below_prefix(const struct etcd *e, char letter, const char *dir)
{
	char *out = NULL;

	return asprintf(&out, "%s%c/%s/", e->prefix, letter, dir) < 0 ? NULL
								       : out;
}

/* The end of the range of keys starting with p (its last byte + 1). */
static char *prefix_end(const char *p)
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

static json_t *jb64(const void *data, size_t len)
{
	char *text = etcd_b64_encode(data, len);
	json_t *j = text ? json_string_nocheck(text) : NULL;

	free(text);
	return j;
}

static json_t *jstr(const char *s)
{
	return jb64(s, strlen(s));
}

static json_t *range_op(const char *key, const char *end, bool count_only)
{
	json_t *r = json_object();

	json_object_set_new(r, "key", jstr(key));
	if (end)
		json_object_set_new(r, "range_end", jstr(end));
	if (count_only)
		json_object_set_new(r, "count_only", json_true());
	return json_pack("{s:o}", "request_range", r);
}

static json_t *put_op(const char *key, const void *value, size_t len)
{
	return json_pack("{s:{s:o, s:o}}", "request_put", "key", jstr(key),
			 "value", jb64(value, len));
}

static json_t *del_op(const char *key, const char *end)
{
	json_t *r = json_object();

	json_object_set_new(r, "key", jstr(key));
	if (end)
		json_object_set_new(r, "range_end", jstr(end));
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
	json_t *c = json_pack("{s:o, s:s, s:s, s:I}", "key", jstr(key),
			      "target", target, "result", result, field,
			      (json_int_t)value);

	if (c && end)
		json_object_set_new(c, "range_end", jstr(end));
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

static bool kv_is_file(json_t *kv)
{
	struct etcd_file_meta m;

	return meta_parse(kv, &m) == 0 && m.kind == KVFS_KIND_FILE;
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

/* Remove the chunks of generation gen; a failure leaves garbage only. */
static void drop_chunks(struct etcd *e, const char *gen)
{
	char *start = NULL, *end;
	json_t *req, *resp = NULL;

	if (!gen || !gen[0] || asprintf(&start, "%sc/%s/", e->prefix, gen) < 0)
		return;
	end = prefix_end(start);
	req = json_pack("{s:o, s:o}", "key", jstr(start), "range_end",
			jstr(end ? end : start));
	if (req && etcd_call(e, "/v3/kv/deleterange", req, ETCD_CALL_QUIET,
			     &resp) == 0)
		json_decref(resp);
	json_decref(req);
	free(start);
	free(end);
}

static void drop_old_chunks(struct etcd *e, json_t *old_meta_kv,
			    const char *keep)
{
	struct etcd_file_meta m;

	if (meta_parse(old_meta_kv, &m) == 0 && m.gen[0] &&
	    strcmp(m.gen, keep ? keep : ""))
		drop_chunks(e, m.gen);
}

static void now_ts(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/* ------------------------------------------------------- directories */

/* Create one directory whose parent exists. KVFS_ENOTFOUND when the
 * parent does not; with exist_ok an existing directory is fine. */
static int mkdir_one(struct etcd *e, const char *dir, uint32_t mode,
		     bool exist_ok)
{
	char *parent = parent_of(dir), *dk = etcd_key(e, ETCD_DIR, dir);
	char *mk = etcd_key(e, ETCD_META, dir), *ak = etcd_key(e, ETCD_ATTR, dir);
	char *pdk = parent ? etcd_key(e, ETCD_DIR, parent) : NULL;
	char *pmk = parent ? etcd_key(e, ETCD_META, parent) : NULL;
	json_t *cmp = json_array(), *ok_ops = json_array(), *fail = json_array();
	json_t *resp = NULL;
	struct timespec now;
	char *meta;
	bool ok = false;
	int rc;

	now_ts(&now);
	meta = meta_text(KVFS_KIND_DIR, 0, &now, NULL, 0);
	if (!parent || !dk || !mk || !ak || !pdk || !pmk || !meta) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		json_decref(cmp);
		json_decref(ok_ops);
		json_decref(fail);
		goto out_free;
	}
	if (parent[0])
		add(cmp, cmp_op(pdk, NULL, "VERSION", "GREATER", 0));
	add(cmp, cmp_op(mk, NULL, "VERSION", "EQUAL", 0));
	add(ok_ops, put_op(dk, "", 0));
	add(ok_ops, put_op(mk, meta, strlen(meta)));
	if (mode) {
		json_t *a = json_pack("{s:i}", "mode", (int)(mode & 07777));

		add(ok_ops, a ? put_json_op(ak, a) : NULL);
		json_decref(a);
	}
	add(fail, range_op(mk, NULL, false));
	add(fail, range_op(pdk, NULL, true));
	add(fail, range_op(pmk, NULL, false));
	rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
	if (rc || ok)
		goto out_free;
	if (first_kv(resp, 0)) {
		bool is_file = kv_is_file(first_kv(resp, 0));

		if (!exist_ok)
			rc = kvfs_error_set(KVFS_EEXISTS, "%s exists", dir);
		else if (is_file)
			rc = kvfs_error_set(KVFS_ENOTDIR,
					    "%s is a file, not a directory",
					    dir);
	} else if (parent[0] && kv_is_file(first_kv(resp, 2))) {
		rc = kvfs_error_set(KVFS_ENOTDIR, "%s is a file, not a "
				    "directory", parent);
	} else {
		rc = kvfs_error_set(KVFS_ENOTFOUND,
				    "parent directory of %s does not exist",
				    dir);
	}
out_free:
	json_decref(resp);
	free(parent);
	free(dk);
	free(mk);
	free(ak);
	free(pdk);
	free(pmk);
	free(meta);
	return rc;
}

/* Make dir and its missing ancestors, like mkdir -p. */
static int make_dirs(struct etcd *e, const char *dir)
{
	char *parent;
	int rc;

	if (!dir[0])
		return 0;
	rc = mkdir_one(e, dir, 0, true);
	if (rc != KVFS_ENOTFOUND)
		return rc;
	parent = parent_of(dir);
	if (!parent)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	rc = make_dirs(e, parent);
	free(parent);
	return rc ? rc : mkdir_one(e, dir, 0, true);
}

int etcd_op_mkdir(struct etcd *e, const char *key, uint32_t mode)
{
	return mkdir_one(e, key, mode, false);
}

int etcd_op_rmdir(struct etcd *e, const char *key)
{
	char *dk = etcd_key(e, ETCD_DIR, key), *mk = etcd_key(e, ETCD_META, key);
	char *ak = etcd_key(e, ETCD_ATTR, key), *cp = children_prefix(e, key);
	char *ce = cp ? prefix_end(cp) : NULL;
	json_t *cmp = json_array(), *ok_ops = json_array(), *fail = json_array();
	json_t *resp = NULL;
	bool ok = false;
	int rc;

	if (!dk || !mk || !ak || !cp || !ce) {
		json_decref(cmp);
		json_decref(ok_ops);
		json_decref(fail);
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	add(cmp, cmp_op(dk, NULL, "VERSION", "GREATER", 0));
	add(cmp, cmp_op(cp, ce, "VERSION", "EQUAL", 0));
	add(ok_ops, del_op(dk, NULL));
	add(ok_ops, del_op(mk, NULL));
	add(ok_ops, del_op(ak, NULL));
	add(fail, range_op(dk, NULL, true));
	add(fail, range_op(mk, NULL, true));
	rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
	if (rc || ok)
		goto out_free;
	if (range_count(resp, 0))
		rc = kvfs_error_set(KVFS_ENOTEMPTY, "directory %s is not empty",
				    key);
	else if (range_count(resp, 1))
		rc = kvfs_error_set(KVFS_ENOTDIR, "%s is not a directory", key);
	else
		rc = kvfs_error_set(KVFS_ENOTFOUND, "no directory %s", key);
out_free:
	json_decref(resp);
	free(dk);
	free(mk);
	free(ak);
	free(cp);
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

	return asprintf(&out, "%sc/%s/%08" PRIx64, e->prefix, gen, i) < 0
		       ? NULL : out;
}

/* Store a large value as chunks of a fresh generation, one request each
 * (each under etcd's request limit). Nothing refers to them yet. */
static int upload_chunks(struct etcd *e, const void *value, size_t len,
			 char gen[33], uint64_t *chunks)
{
	uint64_t n = (len + e->chunk_size - 1) / e->chunk_size;

	random_gen(gen);
	for (uint64_t i = 0; i < n; i++) {
		size_t off = (size_t)(i * e->chunk_size);
		size_t part = len - off < e->chunk_size ? len - off
							 : (size_t)e->chunk_size;
		char *ck = chunk_key(e, gen, i);
		json_t *req = ck ? json_pack("{s:o, s:o}", "key", jstr(ck),
					     "value",
					     jb64((const char *)value + off,
						  part)) : NULL;
		json_t *resp = NULL;
		int rc = req ? etcd_call(e, "/v3/kv/put", req, 0, &resp)
			     : kvfs_error_set(KVFS_EFAIL, "out of memory");

		json_decref(req);
		json_decref(resp);
		free(ck);
		if (rc) {
			drop_chunks(e, gen);
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

	if (asprintf(&end, "%sc/%s0", e->prefix, m->gen) < 0)
		end = NULL;
	from = start ? strdup(start) : NULL;
	if (!start || !end || !data || !from) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	end[strlen(end) - 1] = '/' + 1;
	while (got < m->size) {
		json_t *req = json_pack("{s:o, s:o, s:I, s:I, s:b}", "key",
					jstr(from), "range_end", jstr(end),
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

static int get_once(struct etcd *e, const char *key,
		    enum kvfs_consistency level, struct kvfs_buf *out)
{
	char *parent = parent_of(key), *vk = etcd_key(e, ETCD_VALUE, key);
	char *mk = etcd_key(e, ETCD_META, key), *dk = etcd_key(e, ETCD_DIR, key);
	char *pmk = parent ? etcd_key(e, ETCD_META, parent) : NULL;
	json_t *ranges = json_array(), *resp = NULL, *vkv;
	struct etcd_file_meta m;
	int rc;

	if (!parent || !vk || !mk || !dk || !pmk) {
		json_decref(ranges);
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	add(ranges, range_op(vk, NULL, false));
	add(ranges, range_op(mk, NULL, false));
	add(ranges, range_op(dk, NULL, true));
	add(ranges, range_op(pmk, NULL, false));
	rc = read_ranges(e, level, ranges, &resp);
	if (rc)
		goto out_free;
	vkv = first_kv(resp, 0);
	if (range_count(resp, 2) ||
	    (meta_parse(first_kv(resp, 1), &m) == 0 && m.kind == KVFS_KIND_DIR)) {
		rc = kvfs_error_set(KVFS_EISDIR, "%s is a directory", key);
	} else if (!vkv) {
		if (parent[0] && kv_is_file(first_kv(resp, 3)))
			rc = kvfs_error_set(KVFS_ENOTDIR, "%s is a file, not a "
					    "directory", parent);
		else
			rc = kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);
	} else if (meta_parse(first_kv(resp, 1), &m) == 0 && m.gen[0]) {
		rc = read_chunks(e, &m, header_rev(resp), out);
	} else {
		void *data = NULL;
		size_t len = 0;

		rc = etcd_kv_value(vkv, &data, &len);
		if (rc == 0)
			rc = kvfs_buf_set(out, data, len);
		free(data);
	}
out_free:
	json_decref(resp);
	free(parent);
	free(vk);
	free(mk);
	free(dk);
	free(pmk);
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

int etcd_op_put(struct etcd *e, const char *key, const void *value,
		size_t len, const struct timespec *mtime)
{
	char *parent = parent_of(key), *vk = etcd_key(e, ETCD_VALUE, key);
	char *mk = etcd_key(e, ETCD_META, key), *dk = etcd_key(e, ETCD_DIR, key);
	char *pdk = parent ? etcd_key(e, ETCD_DIR, parent) : NULL;
	char *pmk = parent ? etcd_key(e, ETCD_META, parent) : NULL;
	char gen[33] = "", *meta = NULL;
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
	if (!parent || !vk || !mk || !dk || !pdk || !pmk) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	if (mtime)
		now = *mtime;
	else
		now_ts(&now);
	if (len > e->inline_max) {
		rc = upload_chunks(e, value, len, gen, &chunks);
		if (rc)
			goto out_free;
	}
	meta = meta_text(KVFS_KIND_FILE, len, &now, gen, chunks);
	if (!meta) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	for (int attempt = 0;; attempt++) {
		json_t *cmp = json_array(), *ok_ops = json_array();
		json_t *fail = json_array(), *resp = NULL;
		bool ok = false;

		if (parent[0])
			add(cmp, cmp_op(pdk, NULL, "VERSION", "GREATER", 0));
		add(cmp, cmp_op(dk, NULL, "VERSION", "EQUAL", 0));
		add(ok_ops, range_op(mk, NULL, false));
		add(ok_ops, gen[0] ? put_op(vk, "", 0) : put_op(vk, value, len));
		add(ok_ops, put_op(mk, meta, strlen(meta)));
		add(fail, range_op(dk, NULL, true));
		add(fail, range_op(pmk, NULL, false));
		rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
		if (rc == 0 && ok) {
			drop_old_chunks(e, first_kv(resp, 0), gen);
		} else if (rc == 0 && range_count(resp, 0)) {
			rc = kvfs_error_set(KVFS_EISDIR, "%s is a directory",
					    key);
		} else if (rc == 0 && kv_is_file(first_kv(resp, 1))) {
			rc = kvfs_error_set(KVFS_ENOTDIR, "%s is a file, not a "
					    "directory", parent);
		} else if (rc == 0 && attempt >= RETRIES) {
			rc = kvfs_error_set(KVFS_ECONFLICT, "put of %s kept "
					    "racing with directory changes",
					    key);
		} else if (rc == 0) {
			rc = make_dirs(e, parent);
			json_decref(resp);
			if (rc == 0)
				continue;
			break;
		}
		json_decref(resp);
		break;
	}
	if (rc && gen[0])
		drop_chunks(e, gen);
out_free:
	free(parent);
	free(vk);
	free(mk);
	free(dk);
	free(pdk);
	free(pmk);
	free(meta);
	return rc;
}

int etcd_op_delete(struct etcd *e, const char *key)
{
	char *vk = etcd_key(e, ETCD_VALUE, key), *mk = etcd_key(e, ETCD_META, key);
	char *dk = etcd_key(e, ETCD_DIR, key), *ak = etcd_key(e, ETCD_ATTR, key);
	json_t *cmp = json_array(), *ok_ops = json_array(), *fail = json_array();
	json_t *resp = NULL;
	bool ok = false;
	int rc;

	if (!vk || !mk || !dk || !ak) {
		json_decref(cmp);
		json_decref(ok_ops);
		json_decref(fail);
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	add(cmp, cmp_op(dk, NULL, "VERSION", "EQUAL", 0));
	add(ok_ops, range_op(mk, NULL, false));
	add(ok_ops, del_op(vk, NULL));
	add(ok_ops, del_op(mk, NULL));
	add(ok_ops, del_op(ak, NULL));
	rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
	if (rc)
		goto out_free;
	if (!ok)
		rc = kvfs_error_set(KVFS_EISDIR, "%s is a directory", key);
	else if (!first_kv(resp, 0))
		rc = kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);
	else
		drop_old_chunks(e, first_kv(resp, 0), NULL);
out_free:
	json_decref(resp);
	free(vk);
	free(mk);
	free(dk);
	free(ak);
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

int etcd_op_stat(struct etcd *e, const char *key,
		 enum kvfs_consistency level, struct kvfs_stat *st)
{
	char *parent = parent_of(key), *mk = etcd_key(e, ETCD_META, key);
	char *ak = etcd_key(e, ETCD_ATTR, key);
	char *pmk = parent ? etcd_key(e, ETCD_META, parent) : NULL;
	json_t *ranges = json_array(), *resp = NULL, *attr;
	struct etcd_file_meta m;
	int rc;

	memset(st, 0, sizeof(*st));
	if (!parent || !mk || !ak || !pmk) {
		json_decref(ranges);
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	add(ranges, range_op(ak, NULL, false));
	if (key[0]) {
		add(ranges, range_op(mk, NULL, false));
		add(ranges, range_op(pmk, NULL, false));
	}
	rc = read_ranges(e, level, ranges, &resp);
	if (rc)
		goto out_free;
	if (!key[0]) {
		st->kind = KVFS_KIND_DIR;
	} else if (meta_parse(first_kv(resp, 1), &m) == 0) {
		st->kind = m.kind;
		st->size = m.kind == KVFS_KIND_FILE ? m.size : 0;
		st->mtime = m.mtime;
		st->ctime = m.ctime;
		st->valid |= KVFS_STAT_CTIME;
		st->version = m.version;
	} else if (parent[0] && kv_is_file(first_kv(resp, 2))) {
		rc = kvfs_error_set(KVFS_ENOTDIR, "%s is a file, not a "
				    "directory", parent);
		goto out_free;
	} else {
		rc = kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);
		goto out_free;
	}
	attr = kv_json(first_kv(resp, 0));
	attr_times(attr, st);
	json_decref(attr);
out_free:
	json_decref(resp);
	free(parent);
	free(mk);
	free(ak);
	free(pmk);
	return rc;
}

/* ------------------------------------------------- attributes, xattrs */

/* Read-modify-write of a key's attribute object and, when `meta_fn` is
 * given, its metadata; compares on both mod revisions and retries. */
typedef int (*attr_fn)(json_t *attr, json_t *meta, void *ctx, bool *changed);

static int update_attrs(struct etcd *e, const char *key, attr_fn fn,
			void *ctx, bool touch_meta)
{
	char *mk = etcd_key(e, ETCD_META, key), *ak = etcd_key(e, ETCD_ATTR, key);
	int rc = 0;

	if (!mk || !ak) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	for (int attempt = 0;; attempt++) {
		json_t *ranges = json_array(), *resp = NULL, *attr, *meta;
		json_t *cmp, *ok_ops, *fail;
		json_t *mkv, *akv;
		bool ok = false, changed = false;

		add(ranges, range_op(mk, NULL, false));
		add(ranges, range_op(ak, NULL, false));
		rc = read_ranges(e, KVFS_STRONG, ranges, &resp);
		if (rc)
			break;
		mkv = first_kv(resp, 0);
		akv = first_kv(resp, 1);
		if (key[0] && !mkv) {
			json_decref(resp);
			rc = kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);
			break;
		}
		attr = kv_json(akv);
		meta = kv_json(mkv);
		rc = fn(attr, meta, ctx, &changed);
		if (rc || !changed) {
			json_decref(attr);
			json_decref(meta);
			json_decref(resp);
			break;
		}
		cmp = json_array();
		ok_ops = json_array();
		fail = json_array();
		add(cmp, cmp_op(mk, NULL, "MOD", "EQUAL", kv_mod(mkv)));
		add(cmp, cmp_op(ak, NULL, "MOD", "EQUAL", kv_mod(akv)));
		add(ok_ops, put_json_op(ak, attr));
		if (touch_meta && key[0])
			add(ok_ops, put_json_op(mk, meta));
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
		json_object_set_new(x, c->name, jb64(c->value, c->len));
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
	char *mk = etcd_key(e, ETCD_META, key), *ak = etcd_key(e, ETCD_ATTR, key);
	json_t *ranges = json_array(), *resp = NULL;
	int rc;

	if (!mk || !ak) {
		json_decref(ranges);
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	add(ranges, range_op(mk, NULL, true));
	add(ranges, range_op(ak, NULL, false));
	if (broken(ranges)) {
		json_decref(ranges);
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	rc = etcd_read_txn_attrs(e, ranges, &resp);
	if (rc)
		goto out_free;
	if (key[0] && !range_count(resp, 0))
		rc = kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);
	else
		*attr = kv_json(first_kv(resp, 1));
out_free:
	json_decref(resp);
	free(mk);
	free(ak);
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

static int rename_file(struct etcd *e, const char *from, const char *to,
		       unsigned int flags, json_t *rd, int *retry);
static int rename_dir(struct etcd *e, const char *from, const char *to,
		      unsigned int flags, json_t *rd, int *retry);

/* Indices of the ranges of the first read of a rename. */
enum { R_MFROM, R_VFROM, R_AFROM, R_MTO, R_DTO, R_ATO, R_DTOP, R_MTOP,
       R_COUNT };

int etcd_op_rename(struct etcd *e, const char *from, const char *to,
		   unsigned int flags)
{
	char *toparent = parent_of(to);
	char *keys[R_COUNT] = { 0 };
	int rc = 0;

	if (!toparent)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	if (!strncmp(to, from, strlen(from)) && to[strlen(from)] == '/') {
		free(toparent);
		return kvfs_error_set(KVFS_EINVAL,
				      "cannot move %s into itself", from);
	}
	keys[R_MFROM] = etcd_key(e, ETCD_META, from);
	keys[R_VFROM] = etcd_key(e, ETCD_VALUE, from);
	keys[R_AFROM] = etcd_key(e, ETCD_ATTR, from);
	keys[R_MTO] = etcd_key(e, ETCD_META, to);
	keys[R_DTO] = etcd_key(e, ETCD_DIR, to);
	keys[R_ATO] = etcd_key(e, ETCD_ATTR, to);
	keys[R_DTOP] = etcd_key(e, ETCD_DIR, toparent);
	keys[R_MTOP] = etcd_key(e, ETCD_META, toparent);
	for (int i = 0; i < R_COUNT; i++)
		if (!keys[i])
			rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
	for (int attempt = 0; rc == 0; attempt++) {
		json_t *ranges = json_array(), *resp = NULL;
		struct etcd_file_meta m;
		int retry = 0;

		for (int i = 0; i < R_COUNT; i++)
			add(ranges, range_op(keys[i], NULL, i == R_DTO));
		rc = read_ranges(e, KVFS_STRONG, ranges, &resp);
		if (rc)
			break;
		if (meta_parse(first_kv(resp, R_MFROM), &m)) {
			rc = kvfs_error_set(KVFS_ENOTFOUND, "no key %s", from);
		} else if (!strcmp(from, to)) {
			rc = 0;
		} else if (toparent[0] && !first_kv(resp, R_MTOP + 0) &&
			   !first_kv(resp, R_DTOP)) {
			rc = make_dirs(e, toparent);
			retry = rc == 0;
		} else if (toparent[0] && kv_is_file(first_kv(resp, R_MTOP))) {
			rc = kvfs_error_set(KVFS_ENOTDIR, "%s is a file, not a "
					    "directory", toparent);
		} else if (m.kind == KVFS_KIND_DIR) {
			rc = rename_dir(e, from, to, flags, resp, &retry);
		} else {
			rc = rename_file(e, from, to, flags, resp, &retry);
		}
		json_decref(resp);
		if (!retry)
			break;
		atomic_fetch_add(&e->n_conflict_retries, 1);
		if (attempt >= RETRIES)
			rc = kvfs_error_set(KVFS_ECONFLICT, "rename of %s to %s "
					    "kept racing with other changes",
					    from, to);
	}
	for (int i = 0; i < R_COUNT; i++)
		free(keys[i]);
	free(toparent);
	return rc;
}

/* Add compare "mod revision of key == what the read saw". */
static void cmp_seen(json_t *cmp, const char *key, json_t *kv)
{
	add(cmp, cmp_op(key, NULL, "MOD", "EQUAL", kv_mod(kv)));
}

/* Put the attribute object kv (NULL: none yet) to key, its ctime moved
 * to now: a rename changes the renamed key, as on a POSIX filesystem. */
static void copy_attr_op(json_t *ops, const char *key, json_t *kv)
{
	json_t *attr = kv_json(kv);

	attr_changed_now(attr);
	add(ops, put_json_op(key, attr));
	json_decref(attr);
}

/* Put key to kv's value, or delete key when kv is NULL. */
static void copy_op(json_t *ops, const char *key, json_t *kv)
{
	void *value = NULL;
	size_t len = 0;

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
	char *af = etcd_key(e, ETCD_ATTR, from), *mt = etcd_key(e, ETCD_META, to);
	char *vt = etcd_key(e, ETCD_VALUE, to), *at = etcd_key(e, ETCD_ATTR, to);
	char *dt = etcd_key(e, ETCD_DIR, to);
	char *toparent = parent_of(to);
	char *dtp = toparent ? etcd_key(e, ETCD_DIR, toparent) : NULL;
	json_t *cmp = json_array(), *ok_ops = json_array(), *fail = json_array();
	json_t *resp = NULL;
	bool ok = false;
	int rc;

	if (range_count(rd, R_DTO)) {
		rc = kvfs_error_set(KVFS_EISDIR, "%s is a directory", to);
		goto out_drop;
	}
	if (first_kv(rd, R_MTO) && (flags & KVFS_RENAME_NOREPLACE)) {
		rc = kvfs_error_set(KVFS_EEXISTS, "%s exists", to);
		goto out_drop;
	}
	cmp_seen(cmp, mf, first_kv(rd, R_MFROM));
	cmp_seen(cmp, vf, first_kv(rd, R_VFROM));
	cmp_seen(cmp, af, first_kv(rd, R_AFROM));
	cmp_seen(cmp, mt, first_kv(rd, R_MTO));
	add(cmp, cmp_op(dt ? dt : "", NULL, "VERSION", "EQUAL", 0));
	if (toparent && toparent[0])
		add(cmp, cmp_op(dtp ? dtp : "", NULL, "VERSION", "GREATER", 0));
	copy_op(ok_ops, vt, first_kv(rd, R_VFROM));
	copy_op(ok_ops, mt, first_kv(rd, R_MFROM));
	copy_attr_op(ok_ops, at, first_kv(rd, R_AFROM));
	add(ok_ops, del_op(vf, NULL));
	add(ok_ops, del_op(mf, NULL));
	add(ok_ops, del_op(af, NULL));
	rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
	cmp = ok_ops = fail = NULL;
	if (rc == 0 && !ok)
		*retry = 1;
	else if (rc == 0)
		drop_old_chunks(e, first_kv(rd, R_MTO), NULL);
out_drop:
	json_decref(cmp);
	json_decref(ok_ops);
	json_decref(fail);
	json_decref(resp);
	free(mf);
	free(vf);
	free(af);
	free(mt);
	free(vt);
	free(at);
	free(dt);
	free(toparent);
	free(dtp);
	return rc;
}

/* An entry below a directory being renamed. */
struct sub_entry {
	char *rel;       /* path below the directory */
	bool dir;
	json_t *vkv;     /* value (files) */
	json_t *akv;     /* attributes, or NULL */
	json_t *mkv;     /* metadata (second read) */
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

		if (etcd_kv_key(kv, &k, &klen) || klen <= skip) {
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
		grown[*n].vkv = dir ? NULL : kv;
		free(k);
		if (!grown[(*n)++].rel)
			return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	return 0;
}

static char *join(const char *dir, const char *rel)
{
	char *out = NULL;

	return asprintf(&out, "%s/%s", dir, rel) < 0 ? NULL : out;
}

/* Range-compare "nothing below prefix changed after rev". */
static void cmp_unchanged_below(json_t *cmp, const char *p, uint64_t rev)
{
	char *end = prefix_end(p);

	add(cmp, end ? cmp_op(p, end, "MOD", "LESS", rev + 1) : NULL);
	free(end);
}

static int rename_dir(struct etcd *e, const char *from, const char *to,
		      unsigned int flags, json_t *rd, int *retry)
{
	size_t fromlen = strlen(from);
	char *pv = below_prefix(e, 'v', from), *pd = below_prefix(e, 'd', from);
	char *pa = below_prefix(e, 'a', from), *cto = children_prefix(e, to);
	char *pve = pv ? prefix_end(pv) : NULL, *pde = pd ? prefix_end(pd) : NULL;
	char *pae = pa ? prefix_end(pa) : NULL;
	json_t *ranges = NULL, *sub = NULL, *metas = NULL;
	json_t *cmp = json_array(), *ok_ops = json_array(), *fail = json_array();
	json_t *resp = NULL;
	struct sub_entry *ents = NULL;
	size_t n = 0, skip = e->prefix_len + 2 + fromlen + 1;
	uint64_t rev, ops;
	unsigned int maxdepth = 0;
	bool ok = false;
	int rc = 0;

	if (first_kv(rd, R_MTO) && kv_is_file(first_kv(rd, R_MTO))) {
		rc = kvfs_error_set(KVFS_ENOTDIR, "%s is a file", to);
		goto out_free;
	}
	if (first_kv(rd, R_MTO) && (flags & KVFS_RENAME_NOREPLACE)) {
		rc = kvfs_error_set(KVFS_EEXISTS, "%s exists", to);
		goto out_free;
	}
	if (!pv || !pd || !pa || !cto || !pve || !pde || !pae) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	/* Everything below from, and whether to has children. */
	ranges = json_array();
	add(ranges, range_op(pv, pve, false));
	add(ranges, range_op(pd, pde, false));
	add(ranges, range_op(pa, pae, false));
	{
		char *ctoe = prefix_end(cto);

		add(ranges, ctoe ? range_op(cto, ctoe, true) : NULL);
		free(ctoe);
	}
	rc = read_ranges(e, KVFS_STRONG, ranges, &sub);
	if (rc)
		goto out_free;
	if (range_count(sub, 3)) {
		rc = kvfs_error_set(KVFS_ENOTEMPTY, "directory %s is not empty",
				    to);
		goto out_free;
	}
	rev = header_rev(sub);
	rc = collect(resp_range(sub, 0), skip, false, &ents, &n);
	if (rc == 0)
		rc = collect(resp_range(sub, 1), skip, true, &ents, &n);
	if (rc)
		goto out_free;
	for (size_t i = 0; i < n; i++) {
		if (depth_of(from) + depth_of(ents[i].rel) > maxdepth)
			maxdepth = depth_of(from) + depth_of(ents[i].rel);
		/* A key below that the move would make too long could not
		 * be named again, not even to remove it. */
		if (strlen(to) + 1 + strlen(ents[i].rel) > KVFS_KEY_MAX) {
			rc = kvfs_error_set(KVFS_ENAMETOOLONG,
				"the rename would make a key below %s over %d "
				"bytes", to, KVFS_KEY_MAX);
			goto out_free;
		}
	}
	ops = 6 + 3 * n + 3 + (maxdepth > depth_of(from)
				       ? maxdepth - depth_of(from) : 0);
	if (ops > e->max_txn_ops || n + 8 > e->max_txn_ops) {
		rc = kvfs_error_set(KVFS_ENOTSUPPORTED,
			"directory %s holds %zu entries; one etcd transaction "
			"(max_txn_ops=%" PRIu64 ") moves at most about %" PRIu64
			" entries", from, n, e->max_txn_ops,
			(e->max_txn_ops - 10) / 3);
		goto out_free;
	}
	/* Attributes and metadata of each entry, as of rev. */
	metas = json_array();
	for (size_t i = 0; i < n; i++) {
		char *full = join(from, ents[i].rel);
		char *mk = full ? etcd_key(e, ETCD_META, full) : NULL;
		json_t *op = mk ? range_op(mk, NULL, false) : NULL;

		if (op)
			json_object_set_new(json_object_get(op,
				"request_range"), "revision",
				json_integer((json_int_t)rev));
		add(metas, op);
		free(full);
		free(mk);
	}
	if (n) {
		json_t *req = json_pack("{s:O}", "success", metas);

		rc = req ? etcd_call(e, "/v3/kv/txn", req, 0, &resp)
			 : kvfs_error_set(KVFS_EFAIL, "out of memory");
		json_decref(req);
		if (rc)
			goto out_free;
	}
	{
		size_t i;
		json_t *kv;

		json_array_foreach(json_object_get(resp_range(sub, 2), "kvs"),
				   i, kv) {
			char *k = NULL;
			size_t klen;

			if (etcd_kv_key(kv, &k, &klen) == 0 && klen > skip)
				for (size_t j = 0; j < n; j++)
					if (!strcmp(ents[j].rel, k + skip))
						ents[j].akv = kv;
			free(k);
		}
	}
	for (size_t i = 0; i < n; i++) {
		ents[i].mkv = first_kv(resp, i);
		if (!ents[i].mkv) {
			*retry = 1; /* changed between the two reads */
			goto out_free;
		}
	}
	/* Compares: nothing below from changed since rev, from and the
	 * target are as seen, the target's parent exists. */
	cmp_unchanged_below(cmp, pv, rev);
	cmp_unchanged_below(cmp, pd, rev);
	cmp_unchanged_below(cmp, pa, rev);
	{
		char *ctoe = prefix_end(cto), *mf = etcd_key(e, ETCD_META, from);
		char *mt = etcd_key(e, ETCD_META, to);
		char *af = etcd_key(e, ETCD_ATTR, from);
		char *toparent = parent_of(to);
		char *dtp = toparent ? etcd_key(e, ETCD_DIR, toparent) : NULL;

		add(cmp, ctoe ? cmp_op(cto, ctoe, "VERSION", "EQUAL", 0) : NULL);
		if (mf)
			cmp_seen(cmp, mf, first_kv(rd, R_MFROM));
		if (mt)
			cmp_seen(cmp, mt, first_kv(rd, R_MTO));
		if (af)
			cmp_seen(cmp, af, first_kv(rd, R_AFROM));
		if (toparent && toparent[0] && dtp)
			add(cmp, cmp_op(dtp, NULL, "VERSION", "GREATER", 0));
		if (!ctoe || !mf || !mt || !af || !toparent || !dtp)
			add(cmp, NULL);
		free(ctoe);
		free(mf);
		free(mt);
		free(af);
		free(toparent);
		free(dtp);
	}
	for (size_t i = 0; i < n; i++) {
		char *full = join(from, ents[i].rel);
		char *mk = full ? etcd_key(e, ETCD_META, full) : NULL;

		if (mk)
			cmp_seen(cmp, mk, ents[i].mkv);
		else
			add(cmp, NULL);
		free(full);
		free(mk);
	}
	/* The moves: the directory itself, then each entry. */
	{
		char *dt = etcd_key(e, ETCD_DIR, to), *mt = etcd_key(e, ETCD_META, to);
		char *at = etcd_key(e, ETCD_ATTR, to), *df = etcd_key(e, ETCD_DIR, from);
		char *mf = etcd_key(e, ETCD_META, from);
		char *af = etcd_key(e, ETCD_ATTR, from);

		if (dt && mt && at && df && mf && af) {
			add(ok_ops, put_op(dt, "", 0));
			copy_op(ok_ops, mt, first_kv(rd, R_MFROM));
			copy_attr_op(ok_ops, at, first_kv(rd, R_AFROM));
			add(ok_ops, del_op(df, NULL));
			add(ok_ops, del_op(mf, NULL));
			add(ok_ops, del_op(af, NULL));
		} else {
			add(ok_ops, NULL);
		}
		free(dt);
		free(mt);
		free(at);
		free(df);
		free(mf);
		free(af);
	}
	add(ok_ops, del_op(pv, pve));
	add(ok_ops, del_op(pd, pde));
	add(ok_ops, del_op(pa, pae));
	for (unsigned int d = depth_of(from) + 1; d <= maxdepth; d++) {
		char *p = NULL, *pe;

		if (asprintf(&p, "%sm/%u/%s/", e->prefix, d, from) < 0) {
			add(ok_ops, NULL);
			continue;
		}
		pe = prefix_end(p);
		add(ok_ops, pe ? del_op(p, pe) : NULL);
		free(p);
		free(pe);
	}
	for (size_t i = 0; i < n; i++) {
		char *full = join(to, ents[i].rel);
		char *mk = full ? etcd_key(e, ETCD_META, full) : NULL;
		char *ak = full ? etcd_key(e, ETCD_ATTR, full) : NULL;
		char *xk = full ? etcd_key(e, ents[i].dir ? ETCD_DIR : ETCD_VALUE,
					   full) : NULL;

		if (mk && ak && xk) {
			if (ents[i].dir)
				add(ok_ops, put_op(xk, "", 0));
			else
				copy_op(ok_ops, xk, ents[i].vkv);
			copy_op(ok_ops, mk, ents[i].mkv);
			if (ents[i].akv)
				copy_op(ok_ops, ak, ents[i].akv);
		} else {
			add(ok_ops, NULL);
		}
		free(full);
		free(mk);
		free(ak);
		free(xk);
	}
	json_decref(resp);
	resp = NULL;
	rc = txn(e, cmp, ok_ops, fail, &resp, &ok);
	cmp = ok_ops = fail = NULL;
	if (rc == 0 && !ok)
		*retry = 1;
out_free:
	for (size_t i = 0; i < n; i++)
		free(ents[i].rel);
	free(ents);
	json_decref(sub);
	json_decref(metas);
	json_decref(resp);
	json_decref(cmp);
	json_decref(ok_ops);
	json_decref(fail);
	free(pv);
	free(pd);
	free(pa);
	free(cto);
	free(pve);
	free(pde);
	free(pae);
	return rc;
}

/* ------------------------------------------------------------ listing */

struct etcd_lister {
	struct kvfs_lister base;
	struct etcd *e;
	char *dir;           /* the directory, for messages */
	enum kvfs_consistency level;
	char *from;          /* next key to read */
	char *end;           /* end of the children range */
	size_t skip;         /* bytes of the children prefix */
	uint64_t rev;        /* revision the pages are read at */
	uint64_t spent_ms;   /* time spent in etcd so far */
	unsigned int restarts; /* continued at a newer revision */
	json_t *page;        /* kvs of the current page */
	size_t idx;
	bool more;           /* etcd has more after this page */
	bool exists;         /* the directory exists in etcd */
	struct etcd_journal_child *jc;
	size_t jn, jidx;
};

static struct etcd_journal_child *jc_find(struct etcd_lister *l,
					  const char *name)
{
	for (size_t i = 0; i < l->jn; i++)
		if (!strcmp(l->jc[i].name, name))
			return &l->jc[i];
	return NULL;
}

/* Remember where the next page starts: just after key k. */
static int set_from(struct etcd_lister *l, const char *k, size_t klen)
{
	char *next = malloc(klen + 2);

	if (!next)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	memcpy(next, k, klen);
	next[klen] = '\0';
	next[klen + 1] = '\0';
	free(l->from);
	l->from = next;
	return 0;
}

/* Read the page after l->from at revision rev; rev 0: at the newest
 * revision, which then becomes the listing's (linearizable unless the
 * listing is eventual, so never older than the first page). */
static int read_page(struct etcd_lister *l, uint64_t rev)
{
	/* The key after the last one: last + "\0" cannot be sent as a C
	 * string, so the request carries its base64 of klen + 1 bytes. */
	size_t flen = strlen(l->from) + 1;
	bool serializable = rev || l->level == KVFS_EVENTUAL;
	json_t *req = json_pack("{s:o, s:o, s:I, s:b}", "key",
				jb64(l->from, flen), "range_end", jstr(l->end),
				"limit", (json_int_t)ETCD_LIST_PAGE,
				"serializable", serializable);
	json_t *resp = NULL;
	int rc;

	if (req && rev)
		json_object_set_new(req, "revision",
				    json_integer((json_int_t)rev));
	rc = req ? etcd_call(l->e, "/v3/kv/range", req,
			     serializable ? ETCD_CALL_PREFERRED : 0, &resp)
		 : kvfs_error_set(KVFS_EFAIL, "out of memory");
	json_decref(req);
	if (rc)
		return rc;
	if (!rev)
		l->rev = header_rev(resp);
	json_decref(l->page);
	l->page = json_incref(json_object_get(resp, "kvs"));
	l->more = json_is_true(json_object_get(resp, "more"));
	l->idx = 0;
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
 * listing as a whole, however many pages it has. */
static int fetch_page(struct etcd_lister *l)
{
	uint64_t t0 = etcd_now_ms(), timeout = l->e->timeout_ms;
	int rc;

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

	for (;;) {
		json_t *kv = json_array_get(l->page, l->idx);
		struct etcd_journal_child *c;
		struct etcd_file_meta m;
		char *k = NULL;
		size_t klen = 0;
		int rc;

		if (!kv && l->more) {
			rc = fetch_page(l);
			if (rc)
				return rc;
			continue;
		}
		if (!kv)
			break;
		l->idx++;
		rc = etcd_kv_key(kv, &k, &klen);
		if (rc == 0)
			rc = set_from(l, k, klen);
		if (rc || klen <= l->skip || klen - l->skip > KVFS_NAME_MAX) {
			free(k);
			if (rc)
				return rc;
			continue;
		}
		meta_parse(kv, &m);
		memcpy(ent->name, k + l->skip, klen - l->skip);
		ent->name[klen - l->skip] = '\0';
		ent->kind = m.kind;
		free(k);
		c = jc_find(l, ent->name);
		if (c) {
			c->seen = true;
			if (!c->kind)
				continue; /* deleted by a pending entry */
			ent->kind = c->kind;
		}
		return 1;
	}
	while (l->jidx < l->jn) {
		struct etcd_journal_child *c = &l->jc[l->jidx++];

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
	etcd_journal_children_free(l->jc, l->jn);
	free(l);
}

static const struct kvfs_lister_ops lister_ops = {
	.next = lister_next,
	.close = lister_close,
};

int etcd_op_list(struct etcd *e, const char *dir, enum kvfs_consistency level,
		 struct kvfs_lister **out)
{
	struct etcd_lister *l = calloc(1, sizeof(*l));
	char *cp = children_prefix(e, dir), *dk = etcd_key(e, ETCD_DIR, dir);
	char *mk = etcd_key(e, ETCD_META, dir);
	json_t *ranges = json_array(), *resp = NULL, *req;
	uint64_t t0 = etcd_now_ms();
	int rc;

	if (!l || !cp || !dk || !mk || !(l->dir = strdup(dir))) {
		json_decref(ranges);
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	l->base.ops = &lister_ops;
	l->e = e;
	l->level = level;
	l->skip = strlen(cp);
	l->end = prefix_end(cp);
	req = l->end ? range_op(cp, l->end, false) : NULL;
	if (req)
		json_object_set_new(json_object_get(req, "request_range"),
				    "limit",
				    json_integer((json_int_t)ETCD_LIST_PAGE));
	add(ranges, req);
	add(ranges, range_op(dk, NULL, true));
	add(ranges, range_op(mk, NULL, false));
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
	l->exists = !dir[0] || range_count(resp, 1);
	if (!l->exists) {
		bool pending = e->journal && etcd_journal_has_under(e->journal,
								    dir);

		if (first_kv(resp, 2) && kv_is_file(first_kv(resp, 2)) &&
		    !pending) {
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
	l->page = json_incref(json_object_get(resp_range(resp, 0), "kvs"));
	l->more = json_is_true(json_object_get(resp_range(resp, 0), "more"));
	l->from = strdup(cp);
	if (!l->from) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free;
	}
	l->spent_ms = etcd_now_ms() - t0;
	*out = &l->base;
	l = NULL;
out_free:
	if (l)
		lister_close(&l->base);
	json_decref(resp);
	free(cp);
	free(dk);
	free(mk);
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
