/*
 * fake_gateway.c - the fake etcd JSON gateway of the etcd unit tests (see
 * fake_gateway.h): HTTP/1.1 with Content-Length bodies and keep-alive, a
 * thread per connection, and an append-only log of (revision, key, value)
 * records from which any revision of the key space can be read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "fake_gateway.h"

struct record {
	uint64_t rev;
	char *key;
	size_t klen;
	char *value;
	size_t vlen;
	bool deleted;
};

struct conn {
	int fd;
	pthread_t thread;
	struct fake_gateway *f;
	struct conn *next;
};

struct fake_gateway {
	int listen_fd;
	char url[64];
	pthread_t accept_thread;
	/* lock protects everything below */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
	struct conn *conns;
	struct record *log;
	size_t n;
	uint64_t rev;
	uint64_t lag;
	uint64_t compact_rev;      /* reads below it fail */
	unsigned int compact_on_read;
	unsigned int apply_unanswered; /* writing txns applied, "timed out" */
	unsigned int delay_ms;
	enum fake_mode mode;
	char *user, *password;
	unsigned int token_uses, token_left;
	unsigned int token_serial;
	char token[32];
	struct fake_counts counts;
};

/* ------------------------------------------------------------ base64 */

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *enc(const char *data, size_t len)
{
	char *out = malloc(len / 3 * 4 + 8), *o = out;
	json_t *j;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)data[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)(unsigned char)data[i + 1] << 8;
		if (i + 2 < len)
			v |= (unsigned char)data[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*o = '\0';
	j = json_string(out);
	free(out);
	return j;
}

/* Decode a base64 JSON string; NULL (len 0) when absent. */
static char *dec(json_t *s, size_t *len)
{
	const char *t = json_string_value(s);
	char *out, *o;
	uint32_t acc = 0;
	int bits = 0;

	*len = 0;
	if (!t)
		return NULL;
	out = o = malloc(strlen(t) + 1);
	for (; *t && *t != '='; t++) {
		const char *p = strchr(b64, *t);

		if (!p)
			continue;
		acc = acc << 6 | (uint32_t)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (char)(acc >> bits);
		}
	}
	*len = (size_t)(o - out);
	*o = '\0';
	return out;
}

static uint64_t num(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	if (json_is_integer(v))
		return (uint64_t)json_integer_value(v);
	if (json_is_string(v))
		return strtoull(json_string_value(v), NULL, 10);
	return 0;
}

/* ------------------------------------------------------- the key space */

static int kcmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

struct kvinfo {
	bool exists;
	const struct record *latest;
	uint64_t create, mod, version;
};

/* The state of one key as of revision rev; caller holds lock. */
static struct kvinfo key_at(struct fake_gateway *f, const char *k,
			    size_t klen, uint64_t rev)
{
	struct kvinfo in = { 0 };

	for (size_t i = 0; i < f->n && f->log[i].rev <= rev; i++) {
		const struct record *r = &f->log[i];

		if (r->klen != klen || memcmp(r->key, k, klen))
			continue;
		if (r->deleted) {
			memset(&in, 0, sizeof(in));
			continue;
		}
		if (!in.exists)
			in.create = r->rev;
		in.exists = true;
		in.latest = r;
		in.mod = r->rev;
		in.version++;
	}
	return in;
}

static int key_sort(const void *a, const void *b)
{
	const struct record *x = *(const struct record *const *)a;
	const struct record *y = *(const struct record *const *)b;

	return kcmp(x->key, x->klen, y->key, y->klen);
}

/* Distinct keys in [k, end) that exist at rev, sorted; end NULL: just k.
 * Returns a malloc'd array of records (one per key). */
static const struct record **keys_in(struct fake_gateway *f, const char *k,
				     size_t klen, const char *end,
				     size_t elen, uint64_t rev, size_t *count)
{
	const struct record **out = calloc(f->n + 1, sizeof(*out));
	size_t n = 0;

	for (size_t i = 0; i < f->n && f->log[i].rev <= rev; i++) {
		const struct record *r = &f->log[i];
		bool dup = false;

		if (end ? (kcmp(r->key, r->klen, k, klen) < 0 ||
			   (elen && kcmp(r->key, r->klen, end, elen) >= 0))
			: (r->klen != klen || memcmp(r->key, k, klen)))
			continue;
		for (size_t j = 0; j < n && !dup; j++)
			dup = out[j]->klen == r->klen &&
			      !memcmp(out[j]->key, r->key, r->klen);
		if (!dup && key_at(f, r->key, r->klen, rev).exists)
			out[n++] = r;
	}
	qsort(out, n, sizeof(*out), key_sort);
	*count = n;
	return out;
}

static void append(struct fake_gateway *f, uint64_t rev, const char *k,
		   size_t klen, const char *v, size_t vlen, bool deleted)
{
	struct record *r;

	f->log = realloc(f->log, (f->n + 1) * sizeof(*f->log));
	r = &f->log[f->n++];
	r->rev = rev;
	r->key = malloc(klen + 1);
	memcpy(r->key, k, klen);
	r->key[klen] = '\0';
	r->klen = klen;
	r->value = malloc(vlen + 1);
	if (vlen)
		memcpy(r->value, v, vlen);
	r->value[vlen] = '\0';
	r->vlen = vlen;
	r->deleted = deleted;
}

static json_t *header(struct fake_gateway *f, uint64_t rev)
{
	char id[32], r[32];

	snprintf(id, sizeof(id), "%d", FAKE_CLUSTER_ID);
	snprintf(r, sizeof(r), "%llu", (unsigned long long)rev);
	return json_pack("{s:s, s:s, s:s}", "cluster_id", id, "member_id", "1",
			 "revision", r);
}

/* A range request at revision rev. */
static json_t *do_range(struct fake_gateway *f, json_t *req, uint64_t rev)
{
	size_t klen, elen, n;
	char *k = dec(json_object_get(req, "key"), &klen);
	char *end = dec(json_object_get(req, "range_end"), &elen);
	uint64_t limit = num(req, "limit"), want = num(req, "revision");
	const struct record **keys;
	json_t *kvs = json_array(), *resp;

	if (want && want < rev)
		rev = want;
	keys = keys_in(f, k ? k : "", klen, end, elen, rev, &n);
	for (size_t i = 0; i < n; i++) {
		struct kvinfo in;
		char c[32], m[32], v[32];

		if (limit && i >= limit)
			break;
		if (json_is_true(json_object_get(req, "count_only")))
			break;
		in = key_at(f, keys[i]->key, keys[i]->klen, rev);
		snprintf(c, sizeof(c), "%llu", (unsigned long long)in.create);
		snprintf(m, sizeof(m), "%llu", (unsigned long long)in.mod);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)in.version);
		/* etcd leaves the value out for keys_only, and when empty. */
		json_array_append_new(kvs, json_pack("{s:o, s:o*, s:s, s:s, s:s}",
			"key", enc(keys[i]->key, keys[i]->klen),
			"value", json_is_true(json_object_get(req, "keys_only")) ||
				 !in.latest->vlen ? NULL
				: enc(in.latest->value, in.latest->vlen),
			"create_revision", c, "mod_revision", m,
			"version", v));
	}
	resp = json_pack("{s:o, s:o, s:I}", "header", header(f, rev), "kvs",
			 kvs, "count", (json_int_t)n);
	if (limit && n > limit)
		json_object_set_new(resp, "more", json_true());
	free(keys);
	free(k);
	free(end);
	return resp;
}

static void do_put(struct fake_gateway *f, json_t *req, uint64_t rev)
{
	size_t klen, vlen;
	char *k = dec(json_object_get(req, "key"), &klen);
	char *v = dec(json_object_get(req, "value"), &vlen);

	append(f, rev, k ? k : "", klen, v ? v : "", vlen, false);
	free(k);
	free(v);
}

static uint64_t do_delete(struct fake_gateway *f, json_t *req, uint64_t rev)
{
	size_t klen, elen, n;
	char *k = dec(json_object_get(req, "key"), &klen);
	char *end = dec(json_object_get(req, "range_end"), &elen);
	const struct record **keys = keys_in(f, k ? k : "", klen, end, elen,
					     rev, &n);
	struct record *copy = calloc(n + 1, sizeof(*copy));

	for (size_t i = 0; i < n; i++)
		copy[i] = *keys[i];
	free(keys);
	for (size_t i = 0; i < n; i++)
		append(f, rev, copy[i].key, copy[i].klen, "", 0, true);
	free(copy);
	free(k);
	free(end);
	return n;
}

static bool compare_one(struct fake_gateway *f, json_t *c)
{
	size_t klen, elen, n;
	char *k = dec(json_object_get(c, "key"), &klen);
	char *end = dec(json_object_get(c, "range_end"), &elen);
	const char *target = json_string_value(json_object_get(c, "target"));
	const char *result = json_string_value(json_object_get(c, "result"));
	const struct record **keys;
	bool ok = true;
	uint64_t want = 0;

	if (!target)
		target = "VERSION";
	if (!result)
		result = "EQUAL";
	if (!strcmp(target, "VERSION"))
		want = num(c, "version");
	else if (!strcmp(target, "MOD"))
		want = num(c, "mod_revision");
	else
		want = num(c, "create_revision");
	keys = keys_in(f, k ? k : "", klen, end, elen, f->rev, &n);
	for (size_t i = 0; i <= n && ok; i++) {
		struct kvinfo in = { 0 };
		uint64_t have;

		if (i == n && n)
			break;
		if (i < n)
			in = key_at(f, keys[i]->key, keys[i]->klen, f->rev);
		have = !strcmp(target, "VERSION") ? in.version
		       : !strcmp(target, "MOD")   ? in.mod
						  : in.create;
		if (!strcmp(result, "EQUAL"))
			ok = have == want;
		else if (!strcmp(result, "GREATER"))
			ok = have > want;
		else if (!strcmp(result, "LESS"))
			ok = have < want;
		else
			ok = have != want;
	}
	free(keys);
	free(k);
	free(end);
	return ok;
}

static bool writes(json_t *ops)
{
	size_t i;
	json_t *op;

	json_array_foreach(ops, i, op)
		if (json_object_get(op, "request_put") ||
		    json_object_get(op, "request_delete_range"))
			return true;
	return false;
}

static bool all_serializable(json_t *ops)
{
	size_t i;
	json_t *op;

	json_array_foreach(ops, i, op)
		if (!json_is_true(json_object_get(json_object_get(op,
			"request_range"), "serializable")))
			return false;
	return json_array_size(ops) > 0;
}

static uint64_t read_rev(struct fake_gateway *f, bool serializable)
{
	if (serializable) {
		f->counts.serializable_reads++;
		return f->rev > f->lag ? f->rev - f->lag : 1;
	}
	f->counts.linearizable_reads++;
	return f->rev;
}

static json_t *do_txn(struct fake_gateway *f, json_t *req)
{
	json_t *cmp = json_object_get(req, "compare"), *c, *op;
	json_t *responses = json_array(), *ops, *resp;
	bool ok = true;
	uint64_t rev;
	size_t i;

	json_array_foreach(cmp, i, c)
		ok = ok && compare_one(f, c);
	ops = json_object_get(req, ok ? "success" : "failure");
	if (writes(ops)) {
		f->counts.writes++;
		rev = f->rev + 1;
	} else {
		rev = read_rev(f, all_serializable(ops));
	}
	json_array_foreach(ops, i, op) {
		json_t *r;

		if ((r = json_object_get(op, "request_range"))) {
			json_array_append_new(responses, json_pack("{s:o}",
				"response_range", do_range(f, r, rev)));
		} else if ((r = json_object_get(op, "request_put"))) {
			do_put(f, r, rev);
			json_array_append_new(responses, json_pack("{s:{}}",
				"response_put"));
		} else if ((r = json_object_get(op, "request_delete_range"))) {
			uint64_t n = do_delete(f, r, rev);

			json_array_append_new(responses, json_pack("{s:{s:I}}",
				"response_delete_range", "deleted",
				(json_int_t)n));
		}
	}
	/* A write txn that changed nothing keeps the revision. */
	if (rev == f->rev + 1 && f->n && f->log[f->n - 1].rev == rev)
		f->rev = rev;
	else if (rev > f->rev)
		rev = f->rev;
	resp = json_pack("{s:o, s:o}", "header", header(f, rev), "responses",
			 responses);
	if (ok)
		json_object_set_new(resp, "succeeded", json_true());
	return resp;
}

/* ------------------------------------------------------------- HTTP */

static void reply(int fd, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT), head[256];
	size_t len = strlen(text);
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n", status,
			 status == 200 ? "OK" : "Error", len);

	/* MSG_NOSIGNAL: the client may have given up already. */
	if (send(fd, head, (size_t)n, MSG_NOSIGNAL) >= 0)
		send(fd, text, len, MSG_NOSIGNAL);
	free(text);
}

static json_t *error_body(const char *msg, int code)
{
	return json_pack("{s:s, s:s, s:i}", "error", msg, "message", msg,
			 "code", code);
}

/* The lowest revision a range or txn request asks to read at, 0 when it
 * reads at the newest. */
static uint64_t asked_revision(const char *path, json_t *req)
{
	uint64_t low = 0, r;
	size_t i;
	json_t *op;

	if (!strcmp(path, "/v3/kv/range"))
		return num(req, "revision");
	if (strcmp(path, "/v3/kv/txn"))
		return 0;
	for (int branch = 0; branch < 2; branch++)
		json_array_foreach(json_object_get(req, branch ? "failure"
							       : "success"),
				   i, op) {
			r = num(json_object_get(op, "request_range"),
				"revision");
			if (r && (!low || r < low))
				low = r;
		}
	return low;
}

/* Is the revision req reads at compacted (after the compaction that
 * fake_compact_on_read asks for)? Caller holds lock. */
static bool reads_compacted(struct fake_gateway *f, const char *path,
			    json_t *req)
{
	uint64_t want = asked_revision(path, req);

	if (want && f->compact_on_read) {
		f->compact_on_read--;
		append(f, ++f->rev, "other/compaction", 16, "x", 1, false);
		f->compact_rev = f->rev;
	}
	return want && want < f->compact_rev;
}

/* Answer one request; caller holds lock. Returns the HTTP status. */
static int handle(struct fake_gateway *f, const char *path, const char *auth,
		  json_t *req, json_t **resp)
{
	f->counts.requests++;
	if (!strcmp(path, "/v3/auth/authenticate")) {
		const char *u = json_string_value(json_object_get(req, "name"));
		const char *p = json_string_value(json_object_get(req,
								  "password"));

		f->counts.logins++;
		if (!f->user || !u || !p || strcmp(u, f->user) ||
		    strcmp(p, f->password)) {
			*resp = error_body("etcdserver: authentication failed, "
					   "invalid user ID or password", 3);
			return 400;
		}
		snprintf(f->token, sizeof(f->token), "tok%u",
			 ++f->token_serial);
		f->token_left = f->token_uses;
		*resp = json_pack("{s:o, s:s}", "header", header(f, f->rev),
				  "token", f->token);
		return 200;
	}
	if (f->user) {
		bool valid = auth && !strcmp(auth, f->token) && f->token[0];

		if (valid && f->token_uses && f->token_left-- == 0)
			valid = false;
		if (!valid) {
			f->counts.rejected_tokens++;
			*resp = error_body("etcdserver: invalid auth token", 3);
			return 401;
		}
	}
	if (!strcmp(path, "/v3/maintenance/status")) {
		*resp = json_pack("{s:o, s:s, s:s}", "header", header(f, f->rev),
				  "version", "3.4.23", "dbSize", "20480");
		return 200;
	}
	if (f->mode == FAKE_NO_LEADER ||
	    (f->mode == FAKE_READ_ONLY && strcmp(path, "/v3/kv/range") &&
	     (strcmp(path, "/v3/kv/txn") ||
	      writes(json_object_get(req, "success")) ||
	      writes(json_object_get(req, "failure"))))) {
		*resp = error_body("etcdserver: no leader", 14);
		return 503;
	}
	if (reads_compacted(f, path, req)) {
		*resp = error_body("etcdserver: mvcc: required revision has "
				   "been compacted", 11);
		return 400;
	}
	if (!strcmp(path, "/v3/kv/txn")) {
		*resp = do_txn(f, req);
		if (f->apply_unanswered &&
		    (writes(json_object_get(req, "success")) ||
		     writes(json_object_get(req, "failure")))) {
			f->apply_unanswered--;
			json_decref(*resp);
			*resp = error_body("etcdserver: request timed out", 14);
			return 503;
		}
		return 200;
	}
	if (!strcmp(path, "/v3/kv/range")) {
		uint64_t rev = read_rev(f, json_is_true(json_object_get(req,
							"serializable")));

		*resp = do_range(f, req, rev);
		return 200;
	}
	if (!strcmp(path, "/v3/kv/put")) {
		f->counts.writes++;
		do_put(f, req, ++f->rev);
		*resp = json_pack("{s:o}", "header", header(f, f->rev));
		return 200;
	}
	if (!strcmp(path, "/v3/lease/grant")) {
		/* Leases never expire here: a put names one, nothing more. */
		*resp = json_pack("{s:o, s:s, s:I}", "header",
				  header(f, f->rev), "ID",
				  "7587869797473071617", "TTL",
				  json_integer_value(json_object_get(req,
								     "TTL")));
		return 200;
	}
	if (!strcmp(path, "/v3/kv/deleterange")) {
		uint64_t n;

		f->counts.writes++;
		n = do_delete(f, req, f->rev + 1);
		if (n)
			f->rev++;
		*resp = json_pack("{s:o, s:I}", "header", header(f, f->rev),
				  "deleted", (json_int_t)n);
		return 200;
	}
	*resp = error_body("Not Found", 5);
	return 404;
}

/* Read one request: path, Authorization, body. 0 at EOF, -1 on error. */
static int read_request(int fd, char *path, size_t plen, char *auth,
			size_t alen, char **body)
{
	static const size_t cap = 64 << 20;
	size_t have = 0, size = 65536, head_end = 0, clen = 0;
	char *buf = malloc(size), *p;
	ssize_t n;

	while (!head_end) {
		if (have + 1 >= size)
			goto out_fail;
		n = read(fd, buf + have, size - have - 1);
		if (n <= 0) {
			free(buf);
			return n == 0 && have == 0 ? 0 : -1;
		}
		have += (size_t)n;
		buf[have] = '\0';
		if (buf[0] == 0x16)
			goto out_fail; /* a TLS handshake: not spoken here */
		p = strstr(buf, "\r\n\r\n");
		if (p)
			head_end = (size_t)(p - buf) + 4;
	}
	if (sscanf(buf, "POST %255s", path) != 1)
		goto out_fail;
	(void)plen;
	auth[0] = '\0';
	for (p = buf; p && p < buf + head_end; p = strstr(p, "\r\n")) {
		p += (p[0] == '\r') ? 2 : 0;
		if (!strncasecmp(p, "Content-Length:", 15))
			clen = strtoull(p + 15, NULL, 10);
		if (!strncasecmp(p, "Authorization:", 14)) {
			const char *v = p + 14;

			while (*v == ' ')
				v++;
			snprintf(auth, alen, "%.*s", (int)strcspn(v, "\r\n"),
				 v);
		}
	}
	if (clen > cap)
		goto out_fail;
	if (head_end + clen + 1 > size) {
		size = head_end + clen + 1;
		buf = realloc(buf, size);
	}
	while (have < head_end + clen) {
		n = read(fd, buf + have, head_end + clen - have);
		if (n <= 0)
			goto out_fail;
		have += (size_t)n;
	}
	*body = malloc(clen + 1);
	memcpy(*body, buf + head_end, clen);
	(*body)[clen] = '\0';
	free(buf);
	return 1;
out_fail:
	free(buf);
	return -1;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct fake_gateway *f = c->f;

	for (;;) {
		char path[256], auth[128], *body = NULL;
		json_t *req, *resp = NULL;
		unsigned int delay;
		int status;

		if (read_request(c->fd, path, sizeof(path), auth, sizeof(auth),
				 &body) <= 0)
			break;
		req = json_loads(body, 0, NULL);
		free(body);
		pthread_mutex_lock(&f->lock);
		delay = f->delay_ms;
		pthread_mutex_unlock(&f->lock);
		if (delay)
			usleep(delay * 1000u);
		pthread_mutex_lock(&f->lock);
		while (f->mode == FAKE_HANG && !f->stopping)
			pthread_cond_wait(&f->wake, &f->lock);
		status = f->stopping ? 0 : handle(f, path, auth, req, &resp);
		pthread_mutex_unlock(&f->lock);
		json_decref(req);
		if (!status)
			break;
		reply(c->fd, status, resp);
		json_decref(resp);
	}
	shutdown(c->fd, SHUT_RDWR);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct fake_gateway *f = arg;

	for (;;) {
		int fd = accept(f->listen_fd, NULL, NULL), one = 1;
		struct conn *c;

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		pthread_mutex_lock(&f->lock);
		if (f->stopping) {
			pthread_mutex_unlock(&f->lock);
			close(fd);
			break;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		c->fd = fd;
		c->f = f;
		c->next = f->conns;
		f->conns = c;
		pthread_create(&c->thread, NULL, conn_main, c);
		pthread_mutex_unlock(&f->lock);
	}
	return NULL;
}

struct fake_gateway *fake_start(void)
{
	struct fake_gateway *f = calloc(1, sizeof(*f));
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);

	if (!f)
		return NULL;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	f->rev = 1;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->listen_fd < 0 ||
	    bind(f->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(f->listen_fd, 64) ||
	    getsockname(f->listen_fd, (struct sockaddr *)&addr, &alen)) {
		if (f->listen_fd >= 0)
			close(f->listen_fd);
		free(f);
		return NULL;
	}
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u",
		 ntohs(addr.sin_port));
	pthread_create(&f->accept_thread, NULL, accept_main, f);
	return f;
}

void fake_stop(struct fake_gateway *f)
{
	struct conn *c;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stopping = true;
	pthread_cond_broadcast(&f->wake);
	for (c = f->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&f->lock);
	shutdown(f->listen_fd, SHUT_RDWR);
	pthread_join(f->accept_thread, NULL);
	close(f->listen_fd);
	while ((c = f->conns)) {
		f->conns = c->next;
		pthread_join(c->thread, NULL);
		close(c->fd);
		free(c);
	}
	for (size_t i = 0; i < f->n; i++) {
		free(f->log[i].key);
		free(f->log[i].value);
	}
	free(f->log);
	free(f->user);
	free(f->password);
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

const char *fake_url(const struct fake_gateway *f)
{
	return f->url;
}

void fake_set_lag(struct fake_gateway *f, uint64_t lag)
{
	pthread_mutex_lock(&f->lock);
	f->lag = lag;
	pthread_mutex_unlock(&f->lock);
}

void fake_set_mode(struct fake_gateway *f, enum fake_mode mode)
{
	pthread_mutex_lock(&f->lock);
	f->mode = mode;
	pthread_cond_broadcast(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

void fake_set_delay(struct fake_gateway *f, unsigned int ms)
{
	pthread_mutex_lock(&f->lock);
	f->delay_ms = ms;
	pthread_mutex_unlock(&f->lock);
}

void fake_compact(struct fake_gateway *f)
{
	pthread_mutex_lock(&f->lock);
	f->compact_rev = f->rev;
	pthread_mutex_unlock(&f->lock);
}

void fake_compact_on_read(struct fake_gateway *f, unsigned int n)
{
	pthread_mutex_lock(&f->lock);
	f->compact_on_read = n;
	pthread_mutex_unlock(&f->lock);
}

void fake_apply_unanswered(struct fake_gateway *f, unsigned int n)
{
	pthread_mutex_lock(&f->lock);
	f->apply_unanswered = n;
	pthread_mutex_unlock(&f->lock);
}

void fake_set_auth(struct fake_gateway *f, const char *user,
		   const char *password, unsigned int token_uses)
{
	pthread_mutex_lock(&f->lock);
	free(f->user);
	free(f->password);
	f->user = user ? strdup(user) : NULL;
	f->password = password ? strdup(password) : NULL;
	f->token_uses = token_uses;
	pthread_mutex_unlock(&f->lock);
}

void fake_counts(struct fake_gateway *f, struct fake_counts *out)
{
	pthread_mutex_lock(&f->lock);
	*out = f->counts;
	pthread_mutex_unlock(&f->lock);
}

void fake_reset_counts(struct fake_gateway *f)
{
	pthread_mutex_lock(&f->lock);
	memset(&f->counts, 0, sizeof(f->counts));
	pthread_mutex_unlock(&f->lock);
}

uint64_t fake_revision(struct fake_gateway *f)
{
	uint64_t rev;

	pthread_mutex_lock(&f->lock);
	rev = f->rev;
	pthread_mutex_unlock(&f->lock);
	return rev;
}

void fake_put(struct fake_gateway *f, const char *key, const void *value,
	      size_t len)
{
	pthread_mutex_lock(&f->lock);
	append(f, ++f->rev, key, strlen(key), value, len, false);
	pthread_mutex_unlock(&f->lock);
}

char *fake_get(struct fake_gateway *f, const char *key, size_t *len)
{
	struct kvinfo in;
	char *out = NULL;

	pthread_mutex_lock(&f->lock);
	in = key_at(f, key, strlen(key), f->rev);
	if (in.exists) {
		out = malloc(in.latest->vlen + 1);
		memcpy(out, in.latest->value, in.latest->vlen + 1);
		*len = in.latest->vlen;
	}
	pthread_mutex_unlock(&f->lock);
	return out;
}
