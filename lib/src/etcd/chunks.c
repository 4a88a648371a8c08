/*
 * chunks.c - the life of a large value's chunks outside the transaction
 * that publishes them (ops.c): the marker that says a generation is
 * being written, and the collection, once per mount, of generations that
 * nothing refers to.
 *
 * A writer first puts the marker R c/<gen>, bound to a lease of
 * CHUNK_LEASE (timeout= bounds the write, so a live writer publishes long
 * before it expires), then the chunks R c/<gen>/<index>, then publishes:
 * one transaction that compares the marker is still there, deletes it
 * and points the metadata R m/<key> at the generation. A writer that
 * dies leaves chunks whose marker etcd removes when the lease runs out.
 *
 * The collection reads, at one revision, every key under R c/ (keys
 * only), then the metadata of values kvfs put. A generation is kept while
 * its marker exists or a current metadata record (one not older than its
 * P<key>) refers to it; the others are deleted: orphans of writers that
 * died, of failed clean-ups, and of values another client overwrote or
 * deleted (their stale metadata goes with them). Gens are fresh random
 * names, so a generation unreferenced at that revision stays so: only
 * its own writer could publish it, and that writer's marker was there.
 * The metadata scan costs a range over R m/ per 1,000 records, and runs
 * only when chunks exist; a mount without chunks pays one request.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_internal.h"
#include "store_internal.h"

#define PAGE 1000

/* The marker's lease, in seconds: the write's own deadline (timeout=)
 * twice over, and some slack for a leader change. A writer never renews
 * it; one that outlives it fails to publish (ops.c compares the marker). */
static int64_t chunk_lease_s(const struct etcd *e)
{
	return (int64_t)(e->timeout_ms / 1000) * 2 + 10;
}

static char *gen_key(const struct etcd *e, const char *gen)
{
	char *out = NULL;

	return asprintf(&out, "%sc/%s", e->records, gen) < 0 ? NULL : out;
}

int etcd_lease_grant(struct etcd *e, int64_t ttl_s, uint64_t *id)
{
	json_t *req = json_pack("{s:I}", "TTL", (json_int_t)ttl_s), *resp = NULL;
	int rc = req ? etcd_call(e, "/v3/lease/grant", req, 0, &resp)
		     : kvfs_error_set(KVFS_EFAIL, "out of memory");

	json_decref(req);
	*id = rc == 0 ? etcd_json_u64(resp, "ID") : 0;
	json_decref(resp);
	if (rc == 0 && !*id)
		rc = kvfs_error_set(KVFS_EFAIL, "etcd: lease grant gave no ID");
	return rc;
}

int etcd_chunks_begin(struct etcd *e, const char *gen, const char *key)
{
	json_t *req, *resp = NULL;
	char *mk = gen_key(e, gen);
	uint64_t lease;
	int rc;

	if (!mk)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	rc = etcd_lease_grant(e, chunk_lease_s(e), &lease);
	if (rc == 0) {
		req = json_pack("{s:o, s:o, s:I}", "key", etcd_jstr(mk),
				"value", etcd_jstr(key), "lease",
				(json_int_t)lease);
		rc = req ? etcd_call(e, "/v3/kv/put", req, 0, &resp)
			 : kvfs_error_set(KVFS_EFAIL, "out of memory");
		json_decref(req);
		json_decref(resp);
	}
	free(mk);
	return rc;
}

char *etcd_chunks_marker(const struct etcd *e, const char *gen)
{
	return gen_key(e, gen);
}

/* Delete the marker and chunks of gen; with if_marker, in a
 * transaction that first compares the marker is there. */
static void drop(struct etcd *e, const char *gen, bool if_marker)
{
	char *start = gen && gen[0] ? gen_key(e, gen) : NULL;
	char *end = start ? etcd_prefix_end(start) : NULL;
	json_t *del, *req = NULL, *resp = NULL;

	/* Gens have one length, so this range is the marker and the
	 * chunks of gen, nothing else. */
	del = end ? json_pack("{s:o, s:o}", "key", etcd_jstr(start),
			      "range_end", etcd_jstr(end)) : NULL;
	if (del && !if_marker)
		req = json_incref(del);
	else if (del)
		req = json_pack("{s:[{s:o, s:s, s:s, s:i}], s:[{s:O}]}",
				"compare", "key", etcd_jstr(start), "target",
				"VERSION", "result", "GREATER", "version", 0,
				"success", "request_delete_range", del);
	if (req && etcd_call(e, if_marker ? "/v3/kv/txn" : "/v3/kv/deleterange",
			     req, ETCD_CALL_QUIET, &resp) == 0)
		json_decref(resp);
	json_decref(req);
	json_decref(del);
	free(start);
	free(end);
}

void etcd_chunks_drop(struct etcd *e, const char *gen)
{
	drop(e, gen, false);
}

void etcd_chunks_drop_unpublished(struct etcd *e, const char *gen)
{
	drop(e, gen, true);
}

/* ------------------------------------------------------------ collection */

/* A generation found under R c/, and what keeps it. */
struct gen_seen {
	char name[33];
	bool marker;        /* a writer is at it */
	bool referred;      /* a current metadata record points at it */
	json_t *stale;      /* compares and deletes of stale records of it */
};

struct collection {
	struct etcd *e;
	uint64_t rev;       /* every read is at this revision */
	struct gen_seen *gens;
	size_t n, cap;
	size_t records_len; /* of R m/ */
	uint64_t kept, collected, stale_records;
};

/* One page of [from, end) at c->rev (the newest at the first page, which
 * then becomes c->rev). */
static int range_page(struct collection *c, const char *from,
		      size_t from_len, const char *end, bool keys_only,
		      json_t **resp)
{
	json_t *req = json_pack("{s:o, s:o, s:I, s:b}", "key",
				etcd_jb64(from, from_len), "range_end",
				etcd_jstr(end), "limit", (json_int_t)PAGE,
				"keys_only", keys_only);
	int rc;

	if (req && c->rev)
		json_object_set_new(req, "revision",
				    json_integer((json_int_t)c->rev));
	etcd_op_begin(c->e->timeout_ms);
	rc = req ? etcd_call(c->e, "/v3/kv/range", req, ETCD_CALL_QUIET, resp)
		 : kvfs_error_set(KVFS_EFAIL, "out of memory");
	rc = etcd_op_end(rc);
	json_decref(req);
	if (rc == 0 && !c->rev)
		c->rev = etcd_json_u64(json_object_get(*resp, "header"),
				       "revision");
	return rc;
}

/* Each kv of [start, end) at c->rev, a page at a time, to fn (which
 * returns 0 or an error). */
static int range_each(struct collection *c, const char *start,
		      const char *end, bool keys_only,
		      int (*fn)(struct collection *, json_t *kv))
{
	char *from = strdup(start);
	size_t from_len = from ? strlen(from) : 0;
	int rc = from ? 0 : kvfs_error_set(KVFS_EFAIL, "out of memory");
	bool more = true;

	while (rc == 0 && more) {
		json_t *resp = NULL, *kv = NULL;
		char *last = NULL;
		size_t i, len = 0;

		rc = range_page(c, from, from_len, end, keys_only, &resp);
		for (i = 0; rc == 0 && (kv = etcd_kv_at(resp, i)); i++)
			rc = fn(c, kv);
		more = rc == 0 && i &&
		       json_is_true(json_object_get(resp, "more"));
		/* The next page starts just after the last key: key + NUL. */
		if (more && etcd_kv_key(etcd_kv_at(resp, i - 1), &last,
					&len) == 0) {
			char *next = realloc(last, len + 1);

			if (next) {
				next[len] = '\0';
				free(from);
				from = next;
				from_len = len + 1;
			} else {
				free(last);
				rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
			}
		} else if (more) {
			rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		}
		json_decref(resp);
	}
	free(from);
	return rc;
}

/* A key under R c/: R c/<gen> (a marker) or R c/<gen>/<index>. Keys come
 * in order, so a generation's keys follow each other, marker first. */
static int saw_chunk_key(struct collection *c, json_t *kv)
{
	size_t base = c->e->records_len + 2, len = 0;
	char *k = NULL;
	int rc = etcd_kv_key(kv, &k, &len);
	struct gen_seen *g;

	if (rc)
		return rc;
	if (len < base + 32 || (len > base + 32 && k[base + 32] != '/')) {
		free(k); /* not kvfs's: left alone */
		return 0;
	}
	g = c->n ? &c->gens[c->n - 1] : NULL;
	if (!g || strncmp(g->name, k + base, 32)) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? 2 * c->cap : 64;
			struct gen_seen *grown = realloc(c->gens,
							 cap * sizeof(*grown));

			if (!grown) {
				free(k);
				return kvfs_error_set(KVFS_EFAIL,
						      "out of memory");
			}
			c->gens = grown;
			c->cap = cap;
		}
		g = &c->gens[c->n++];
		memset(g, 0, sizeof(*g));
		memcpy(g->name, k + base, 32);
	}
	if (len == base + 32)
		g->marker = true;
	free(k);
	return 0;
}

static int gen_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gen_seen *)a)->name,
		      ((const struct gen_seen *)b)->name);
}

/* The records of one stale metadata record: compared unchanged (itself
 * and its value key) and deleted, in the transaction that drops its
 * generation. */
static int add_stale(struct gen_seen *g, const char *mk, uint64_t mmod,
		     const char *vk, uint64_t vmod)
{
	json_t *cmp = json_pack("{s:o, s:s, s:s, s:I}", "key", etcd_jstr(mk),
				"target", "MOD", "result", "EQUAL",
				"mod_revision", (json_int_t)mmod);
	json_t *vcmp = vmod ? json_pack("{s:o, s:s, s:s, s:I}", "key",
					etcd_jstr(vk), "target", "MOD",
					"result", "EQUAL", "mod_revision",
					(json_int_t)vmod)
			    : json_pack("{s:o, s:s, s:s, s:I}", "key",
					etcd_jstr(vk), "target", "VERSION",
					"result", "EQUAL", "version", 0);
	json_t *del = json_pack("{s:{s:o}}", "request_delete_range", "key",
				etcd_jstr(mk));

	if (!g->stale)
		g->stale = json_pack("{s:[], s:[]}", "compare", "success");
	if (!g->stale || !cmp || !vcmp || !del ||
	    json_array_append_new(json_object_get(g->stale, "compare"), cmp) ||
	    json_array_append_new(json_object_get(g->stale, "compare"), vcmp) ||
	    json_array_append_new(json_object_get(g->stale, "success"), del)) {
		json_decref(del);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	return 0;
}

/* A metadata record R m/<key>: does it keep a generation? Only while
 * current, not older than P<key> (read at the same revision). */
static int saw_meta(struct collection *c, json_t *kv)
{
	void *text = NULL;
	size_t len = 0;
	json_t *j = NULL, *resp = NULL;
	struct gen_seen key, *g;
	char *mk = NULL, *vk = NULL;
	const char *gen;
	uint64_t mmod = etcd_json_u64(kv, "mod_revision"), vmod = 0;
	int rc = etcd_kv_value(kv, &text, &len);

	if (rc == 0)
		j = json_loadb(text, len, 0, NULL);
	free(text);
	gen = json_string_value(json_object_get(j, "g"));
	if (!gen || strlen(gen) != 32) {
		json_decref(j);
		return rc;
	}
	memcpy(key.name, gen, 33);
	json_decref(j);
	g = bsearch(&key, c->gens, c->n, sizeof(*c->gens), gen_cmp);
	if (!g || g->referred)
		return 0;
	rc = etcd_kv_key(kv, &mk, &len);
	if (rc == 0 && asprintf(&vk, "%s%s", c->e->prefix,
				mk + c->records_len) < 0) {
		vk = NULL;
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	if (rc == 0)
		rc = range_page(c, vk, strlen(vk), "", true, &resp);
	if (rc == 0)
		vmod = etcd_json_u64(etcd_kv_at(resp, 0), "mod_revision");
	if (rc == 0 && vmod && mmod >= vmod)
		g->referred = true;
	else if (rc == 0)
		rc = add_stale(g, mk, mmod, vk, vmod);
	json_decref(resp);
	free(mk);
	free(vk);
	return rc;
}

/* Delete generation g (its stale records with it, if still unchanged). */
static int drop_gen(struct collection *c, struct gen_seen *g)
{
	char *start = gen_key(c->e, g->name);
	char *end = start ? etcd_prefix_end(start) : NULL;
	json_t *req = g->stale ? json_incref(g->stale)
			       : json_pack("{s:[], s:[]}", "compare",
					   "success");
	json_t *del = end ? json_pack("{s:{s:o, s:o}}", "request_delete_range",
				      "key", etcd_jstr(start), "range_end",
				      etcd_jstr(end)) : NULL;
	json_t *resp = NULL;
	size_t stale = json_array_size(json_object_get(req, "success"));
	int rc = kvfs_error_set(KVFS_EFAIL, "out of memory");

	if (req && del &&
	    !json_array_append_new(json_object_get(req, "success"), del)) {
		del = NULL;
		etcd_op_begin(c->e->timeout_ms);
		rc = etcd_op_end(etcd_call(c->e, "/v3/kv/txn", req,
					   ETCD_CALL_QUIET, &resp));
		if (rc == 0 &&
		    json_is_true(json_object_get(resp, "succeeded"))) {
			c->collected++;
			c->stale_records += stale;
		}
	}
	json_decref(del);
	json_decref(req);
	json_decref(resp);
	free(start);
	free(end);
	return rc;
}

int etcd_chunks_collect(struct etcd *e, atomic_bool *stop,
			uint64_t *collected, uint64_t *stale_records)
{
	struct collection c = { .e = e };
	char *cs = NULL, *ms = NULL, *ce = NULL, *me = NULL;
	int rc = 0;

	*collected = *stale_records = 0;
	if (asprintf(&cs, "%sc/", e->records) < 0)
		cs = NULL;
	if (asprintf(&ms, "%sm/", e->records) < 0)
		ms = NULL;
	ce = cs ? etcd_prefix_end(cs) : NULL;
	me = ms ? etcd_prefix_end(ms) : NULL;
	if (!ce || !me)
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
	c.records_len = ms ? strlen(ms) : 0;
	if (rc == 0)
		rc = range_each(&c, cs, ce, true, saw_chunk_key);
	if (rc == 0 && c.n) {
		qsort(c.gens, c.n, sizeof(*c.gens), gen_cmp);
		rc = range_each(&c, ms, me, false, saw_meta);
	}
	for (size_t i = 0; rc == 0 && i < c.n; i++) {
		if (atomic_load(stop))
			break;
		if (!c.gens[i].marker && !c.gens[i].referred)
			rc = drop_gen(&c, &c.gens[i]);
	}
	for (size_t i = 0; i < c.n; i++)
		json_decref(c.gens[i].stale);
	*collected = c.collected;
	*stale_records = c.stale_records;
	free(c.gens);
	free(cs);
	free(ms);
	free(ce);
	free(me);
	return rc;
}
