/*
 * http.c - the etcd backend's client for etcd's JSON gateway: endpoint
 * parsing and checking, a pool of reused curl handles sharing one
 * connection cache, authentication tokens, failover between members
 * before the deadline of the calling thread's storage operation, the
 * streaming request used by watches, and the base64/JSON helpers every
 * request needs.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etcd_internal.h"

uint64_t etcd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------ endpoints */

/* Check one URL: http:// or https://, a host, a port 1..65535, nothing
 * after but an optional '/'. Returns the canonical copy or NULL. */
static char *check_url(const char *url, size_t len)
{
	const char *p = url, *end = url + len, *host;
	unsigned long port = 0;
	size_t digits = 0;
	char *copy;

	if (len > 7 && !strncmp(p, "http://", 7))
		p += 7;
	else if (len > 8 && !strncmp(p, "https://", 8))
		p += 8;
	else
		return NULL;
	host = p;
	if (p < end && *p == '[') {
		while (p < end && *p != ']')
			p++;
		if (p == end || p == host + 1)
			return NULL;
		p++;
	} else {
		while (p < end && (isalnum((unsigned char)*p) || *p == '.' ||
				   *p == '-' || *p == '_'))
			p++;
		if (p == host)
			return NULL;
	}
	if (p == end || *p != ':')
		return NULL;
	for (p++; p < end && isdigit((unsigned char)*p); p++, digits++)
		port = port * 10 + (unsigned long)(*p - '0');
	if (!digits || digits > 5 || port == 0 || port > 65535)
		return NULL;
	if (p < end && !(*p == '/' && p + 1 == end))
		return NULL;
	copy = strndup(url, (size_t)(p - url));
	return copy;
}

int etcd_parse_endpoints(struct etcd *e, const char *text)
{
	const char *p = text;

	if (!text || !*text)
		return kvfs_error_set(KVFS_EINVAL,
			"etcd: option endpoints=URL[,URL...] is required");
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char *url = check_url(p, len), **grown;

		if (!url)
			return kvfs_error_set(KVFS_EINVAL,
				"etcd: malformed endpoint '%.*s': expected "
				"http://HOST:PORT or https://HOST:PORT",
				(int)len, p);
		grown = realloc(e->endpoints,
				(e->n_endpoints + 1) * sizeof(*grown));
		if (!grown) {
			free(url);
			return kvfs_error_set(KVFS_EFAIL, "out of memory");
		}
		e->endpoints = grown;
		e->endpoints[e->n_endpoints++] = url;
		p += len;
		if (*p == ',')
			p++;
	}
	if (!e->n_endpoints)
		return kvfs_error_set(KVFS_EINVAL, "etcd: no endpoints given");
	return 0;
}

/* "http://a:1, http://b:2" for messages; static per thread. */
static const char *endpoint_list(const struct etcd *e)
{
	static __thread char text[512];
	size_t off = 0;

	text[0] = '\0';
	for (size_t i = 0; i < e->n_endpoints && off < sizeof(text); i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s%s",
					i ? ", " : "", e->endpoints[i]);
	return text;
}

/* ------------------------------------------------------------- curl */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access a,
		       void *ctx)
{
	struct etcd *e = ctx;

	pthread_mutex_lock(&e->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
	struct etcd *e = ctx;

	pthread_mutex_unlock(&e->share_locks[data]);
}

int etcd_http_init(struct etcd *e)
{
	pthread_once(&curl_once, curl_init_once);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&e->share_locks[i], NULL);
	pthread_mutex_init(&e->pool_lock, NULL);
	pthread_mutex_init(&e->auth_lock, NULL);
	e->share = curl_share_init();
	if (!e->share)
		return kvfs_error_set(KVFS_EFAIL, "etcd: curl_share_init failed");
	curl_share_setopt(e->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(e->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(e->share, CURLSHOPT_USERDATA, e);
	curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(e->share, CURLSHOPT_SHARE,
			  CURL_LOCK_DATA_SSL_SESSION);
	return 0;
}

void etcd_http_cleanup(struct etcd *e)
{
	for (size_t i = 0; i < e->pool_n; i++)
		curl_easy_cleanup(e->pool[i]);
	e->pool_n = 0;
	if (e->share)
		curl_share_cleanup(e->share);
	e->share = NULL;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&e->share_locks[i]);
	pthread_mutex_destroy(&e->pool_lock);
	pthread_mutex_destroy(&e->auth_lock);
	free(e->token);
	e->token = NULL;
}

struct body {
	char *data;
	size_t len, cap;
};

static size_t body_write(char *ptr, size_t size, size_t n, void *ctx)
{
	struct body *b = ctx;
	size_t add = size * n;

	if (b->len + add + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *grown;

		while (cap < b->len + add + 1)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (!grown)
			return 0;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, add);
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

void etcd_handle_setup(struct etcd *e, CURL *h)
{
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SHARE, e->share);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
	if (e->cacert)
		curl_easy_setopt(h, CURLOPT_CAINFO, e->cacert);
	if (e->cert)
		curl_easy_setopt(h, CURLOPT_SSLCERT, e->cert);
	if (e->key)
		curl_easy_setopt(h, CURLOPT_SSLKEY, e->key);
}

static CURL *handle_get(struct etcd *e)
{
	CURL *h = NULL;

	pthread_mutex_lock(&e->pool_lock);
	if (e->pool_n)
		h = e->pool[--e->pool_n];
	pthread_mutex_unlock(&e->pool_lock);
	if (!h) {
		h = curl_easy_init();
		if (h)
			etcd_handle_setup(e, h);
	}
	return h;
}

static void handle_put(struct etcd *e, CURL *h)
{
	pthread_mutex_lock(&e->pool_lock);
	if (e->pool_n < ETCD_POOL_MAX) {
		e->pool[e->pool_n++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&e->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

/* The headers of a request; NULL when out of memory. */
static struct curl_slist *make_headers(struct etcd *e, uint64_t *gen)
{
	struct curl_slist *l = NULL, *n;
	char *auth = NULL;

	l = curl_slist_append(NULL, "Content-Type: application/json");
	if (l && (n = curl_slist_append(l, "Expect:")))
		l = n;
	pthread_mutex_lock(&e->auth_lock);
	*gen = e->token_gen;
	if (e->token && asprintf(&auth, "Authorization: %s", e->token) < 0)
		auth = NULL;
	pthread_mutex_unlock(&e->auth_lock);
	if (l && auth && (n = curl_slist_append(l, auth)))
		l = n;
	free(auth);
	return l;
}

/* Set in threads that retry by themselves (journal replication), so
 * that an outage gives one log line there, not one per retry. */
static __thread bool thread_quiet;

void etcd_set_thread_quiet(bool quiet)
{
	thread_quiet = quiet;
}

/* ------------------------------------------------- operation deadline */

/* The storage operation the thread runs: its deadline and how deeply
 * etcd_op_begin is nested (0: none runs). */
static __thread uint64_t op_deadline;
static __thread unsigned int op_depth;
/* The thread's last etcd_call failed on a compacted revision. */
static __thread bool last_compacted;

void etcd_op_begin(uint64_t budget_ms)
{
	if (op_depth++ == 0)
		op_deadline = etcd_now_ms() + budget_ms;
}

void etcd_op_next_step(uint64_t budget_ms)
{
	if (op_depth)
		op_deadline = etcd_now_ms() + budget_ms;
}

int etcd_op_end(int rc)
{
	if (op_depth && --op_depth == 0)
		op_deadline = 0;
	return rc;
}

static uint64_t deadline_of(const struct etcd *e)
{
	return op_depth ? op_deadline : etcd_now_ms() + e->timeout_ms;
}

uint64_t etcd_op_left_ms(const struct etcd *e)
{
	uint64_t now = etcd_now_ms(), deadline = deadline_of(e);

	return deadline > now ? deadline - now : 0;
}

bool etcd_call_compacted(void)
{
	return last_compacted;
}

/* ------------------------------------------------------- one attempt */

enum attempt_result {
	ATTEMPT_OK,        /* 200 and JSON */
	ATTEMPT_ANSWER,    /* an etcd error that another member would repeat */
	ATTEMPT_NEXT,      /* try another member */
	ATTEMPT_REAUTH,    /* token expired */
};

struct attempt {
	long http;
	bool timed_out;
	bool silent;       /* no answer at all within the budget */
	bool refused;
	bool tls;          /* a TLS handshake or certificate failure */
	char what[CURL_ERROR_SIZE + 160];
	json_t *json;
};

static bool message_has(const char *msg, const char *part)
{
	return msg && strstr(msg, part);
}

/* Sort an etcd error answer into retry classes. */
static enum attempt_result classify(struct attempt *a, const char *msg,
				    int64_t code)
{
	if (message_has(msg, "invalid auth token") ||
	    message_has(msg, "user name is empty") ||
	    message_has(msg, "auth revision"))
		return ATTEMPT_REAUTH;
	if (code == 14 || code == 4 || a->http == 503 ||
	    message_has(msg, "no leader") ||
	    message_has(msg, "leader changed") ||
	    message_has(msg, "timed out") ||
	    message_has(msg, "not capable") ||
	    message_has(msg, "future revision") ||
	    message_has(msg, "too many requests") ||
	    message_has(msg, "stopped")) {
		if (message_has(msg, "timed out") || code == 4)
			a->timed_out = true;
		return ATTEMPT_NEXT;
	}
	return ATTEMPT_ANSWER;
}

static enum attempt_result attempt_once(struct etcd *e, size_t ep,
					const char *path, const char *body,
					size_t body_len, uint64_t budget_ms,
					uint64_t *token_gen, struct attempt *a)
{
	char url[512], errbuf[CURL_ERROR_SIZE] = "";
	struct body resp = { 0 };
	struct curl_slist *headers = make_headers(e, token_gen);
	enum attempt_result r = ATTEMPT_NEXT;
	json_error_t jerr;
	CURLcode cc;
	CURL *h = handle_get(e);

	memset(a, 0, sizeof(*a));
	if (!h || !headers) {
		snprintf(a->what, sizeof(a->what), "out of memory");
		goto out_free;
	}
	snprintf(url, sizeof(url), "%s%s", e->endpoints[ep], path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)budget_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(budget_ms < 1000 ? budget_ms : 1000));
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	atomic_fetch_add(&e->n_requests, 1);
	cc = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	if (cc != CURLE_OK) {
		a->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->http);
		a->silent = a->timed_out && !a->http;
		/* Refused and TLS failures fail fast: waiting does not
		 * help them. */
		a->refused = cc == CURLE_COULDNT_CONNECT ||
			     cc == CURLE_COULDNT_RESOLVE_HOST ||
			     cc == CURLE_SSL_CONNECT_ERROR ||
			     cc == CURLE_PEER_FAILED_VERIFICATION ||
			     cc == CURLE_SSL_CERTPROBLEM ||
			     cc == CURLE_SSL_CACERT_BADFILE ||
			     cc == CURLE_SSL_CIPHER ||
			     cc == CURLE_UNSUPPORTED_PROTOCOL;
		snprintf(a->what, sizeof(a->what), "%s: %s", e->endpoints[ep],
			 errbuf[0] ? errbuf : curl_easy_strerror(cc));
		/* A TLS alert from the server (a client certificate that is
		 * missing or refused) comes with the first read under TLS
		 * 1.3; waiting does not help it either. */
		a->tls = a->refused ? cc != CURLE_COULDNT_CONNECT &&
				      cc != CURLE_COULDNT_RESOLVE_HOST &&
				      cc != CURLE_UNSUPPORTED_PROTOCOL
				    : !strncmp(e->endpoints[ep], "https:", 6) &&
				      (strstr(errbuf, "alert") ||
				       strstr(errbuf, "certificate") ||
				       strstr(errbuf, "handshake"));
		a->refused |= a->tls;
		goto out_free;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->http);
	a->json = json_loadb(resp.data ? resp.data : "", resp.len, 0, &jerr);
	if (a->http == 200 && a->json) {
		r = ATTEMPT_OK;
	} else if (a->json) {
		const char *msg = json_string_value(
			json_object_get(a->json, "error"));
		int64_t code = (int64_t)etcd_json_u64(a->json, "code");

		snprintf(a->what, sizeof(a->what), "%s: %s", e->endpoints[ep],
			 msg ? msg : "error without a message");
		r = classify(a, msg, code);
	} else {
		snprintf(a->what, sizeof(a->what),
			 "%s: HTTP %ld with an answer that is not JSON (%s)",
			 e->endpoints[ep], a->http, jerr.text);
		r = a->http == 404 ? ATTEMPT_ANSWER : ATTEMPT_NEXT;
	}
out_free:
	if (h)
		handle_put(e, h);
	curl_slist_free_all(headers);
	free(resp.data);
	return r;
}

/* Map an etcd error answer to a code. */
static int answer_error(const struct attempt *a)
{
	const char *what = a->what;

	if (strstr(what, "request is too large"))
		return kvfs_error_set(KVFS_ETOOLARGE, "etcd: %s", what);
	if (strstr(what, "too many operations in txn"))
		return kvfs_error_set(KVFS_ETOOLARGE, "etcd: %s", what);
	if (strstr(what, "database space exceeded"))
		return kvfs_error_set(KVFS_ENOSPACE, "etcd: %s", what);
	if (strstr(what, "compacted"))
		return kvfs_error_set(KVFS_ECONFLICT, "etcd: %s", what);
	if (strstr(what, "user name is empty") ||
	    strstr(what, "invalid auth token"))
		return kvfs_error_set(KVFS_EINVAL, "etcd: the cluster requires "
			"authentication (options user= and password_file=): "
			"%s", what);
	if (strstr(what, "authentication failed") ||
	    strstr(what, "permission denied"))
		return kvfs_error_set(KVFS_EINVAL, "etcd: %s", what);
	return kvfs_error_set(KVFS_EFAIL, "etcd: %s", what);
}

/* A member that gets less than this (or the time left, when less) is
 * given no fair chance: a write under load may take a second. */
#define SHARE_MIN_MS 1500

/* What one etcd_call has learnt so far, over all its attempts. */
struct call {
	const char *path;
	const char *text;
	size_t text_len;
	unsigned int flags;
	uint64_t deadline;
	uint64_t token_gen;
	unsigned int attempts;
	bool reauthed;
	bool any_timeout;  /* a member did not answer in time */
	bool any_reached;  /* a member was reached (not refused) */
	bool reached;      /* ... in this round */
	char last[sizeof(((struct attempt *)0)->what)];
};

enum step {
	STEP_DONE,  /* the call is over: *rc (and *resp) */
	STEP_NEXT,  /* try the next member */
	STEP_AGAIN, /* the same member again (after a new login) */
};

static int tls_failure(struct etcd *e, const struct call *c,
		       const struct attempt *a)
{
	int rc = kvfs_error_set(KVFS_EUNAVAILABLE,
		"etcd: TLS handshake failed (certificate, CA or client "
		"certificate; options cacert=, cert=, key=): %s", a->what);

	atomic_fetch_add(&e->n_errors, 1);
	if (!(c->flags & ETCD_CALL_QUIET) && !thread_quiet)
		kvfs_log(KVFS_LOG_ERROR, "%s", kvfs_error_message());
	return rc;
}

/* One attempt on member ep, with a share of the time left fit for one
 * of `left` members still to try. */
static enum step try_member(struct etcd *e, struct call *c, size_t ep,
			    size_t left, json_t **resp, int *rc)
{
	uint64_t now = etcd_now_ms();
	uint64_t time_left = c->deadline > now ? c->deadline - now : 1;
	uint64_t budget = time_left / left;
	enum attempt_result r;
	struct attempt a;
	bool stale;

	if (budget < SHARE_MIN_MS)
		budget = time_left < SHARE_MIN_MS ? time_left : SHARE_MIN_MS;
	c->attempts++;
	r = attempt_once(e, ep, c->path, c->text, c->text_len, budget,
			 &c->token_gen, &a);
	/* Suspect only after a fair chance: an attempt cut short by the
	 * operation's deadline proves little. */
	if (a.http)
		etcd_member_answered(e, ep);
	else if (a.silent && 2 * budget >= (e->timeout_ms < SHARE_MIN_MS
						 ? e->timeout_ms
						 : SHARE_MIN_MS))
		etcd_member_silent(e, ep, budget);
	if (r == ATTEMPT_OK) {
		if (!(c->flags & ETCD_CALL_PREFERRED))
			atomic_store(&e->current, ep);
		*resp = a.json;
		*rc = 0;
		return STEP_DONE;
	}
	json_decref(a.json);
	if (r == ATTEMPT_REAUTH && e->user && !c->reauthed) {
		c->reauthed = true;
		pthread_mutex_lock(&e->auth_lock);
		stale = c->token_gen == e->token_gen;
		pthread_mutex_unlock(&e->auth_lock);
		if (stale && (*rc = etcd_authenticate(e)))
			return STEP_DONE;
		return STEP_AGAIN;
	}
	if (r == ATTEMPT_ANSWER || r == ATTEMPT_REAUTH) {
		*rc = answer_error(&a);
		last_compacted = strstr(a.what, "compacted") != NULL;
		return STEP_DONE;
	}
	if (a.tls) {
		/* The same settings fail with every member. */
		*rc = tls_failure(e, c, &a);
		return STEP_DONE;
	}
	c->any_timeout |= a.timed_out;
	c->reached |= !a.refused;
	c->any_reached |= !a.refused;
	memcpy(c->last, a.what, sizeof(c->last));
	atomic_fetch_add(&e->n_failovers, 1);
	return STEP_NEXT;
}

/* The error of a call that no member served before its deadline. */
static int call_failed(struct etcd *e, const struct call *c)
{
	int rc;

	atomic_fetch_add(&e->n_errors, 1);
	if (!c->attempts)
		rc = kvfs_error_set(KVFS_ETIMEDOUT,
			"etcd: %s not sent: the operation had used up its "
			"time (timeout=%" PRIu64 " ms)", c->path,
			e->timeout_ms);
	else if (c->any_timeout)
		rc = kvfs_error_set(KVFS_ETIMEDOUT,
			"etcd: no member of %s answered %s within %" PRIu64
			" ms (last: %s)", endpoint_list(e), c->path,
			e->timeout_ms, c->last);
	else if (c->any_reached)
		rc = kvfs_error_set(KVFS_EUNAVAILABLE,
			"etcd: no member of %s could serve %s within %" PRIu64
			" ms (last: %s)", endpoint_list(e), c->path,
			e->timeout_ms, c->last);
	else
		rc = kvfs_error_set(KVFS_EUNAVAILABLE,
			"etcd: no member of %s is reachable (last: %s)",
			endpoint_list(e), c->last);
	if (!(c->flags & ETCD_CALL_QUIET) && !thread_quiet)
		kvfs_log(KVFS_LOG_ERROR, "%s", kvfs_error_message());
	return rc;
}

/* Rounds over the members until one serves or the deadline passes. In
 * each round the members not suspect come first; the suspect ones are
 * tried only when none of the others could be reached (all refused), so
 * that a hung member does not cost every call its share. After a round
 * in which members answered without serving (an election), a short
 * pause, then another. */
static int call_rounds(struct etcd *e, struct call *c, size_t *order,
		       json_t **resp)
{
	size_t n = e->n_endpoints, first, healthy, j;
	enum step step;
	int rc = 0;

	first = (c->flags & ETCD_CALL_PREFERRED)
			? e->prefer
			: atomic_load(&e->current) % n;
	for (;;) {
		healthy = etcd_members_order(e, first, order);
		c->reached = false;
		for (j = 0; j < n;) {
			if (j == healthy && healthy && c->reached)
				break;
			if (etcd_now_ms() >= c->deadline)
				return call_failed(e, c);
			step = try_member(e, c, order[j],
					  j < healthy ? healthy - j : n - j,
					  resp, &rc);
			if (step == STEP_DONE)
				return rc;
			if (step == STEP_NEXT)
				j++;
		}
		if (!c->reached || etcd_now_ms() + 50 >= c->deadline)
			return call_failed(e, c);
		usleep(50000);
	}
}

int etcd_call(struct etcd *e, const char *path, json_t *body,
	      unsigned int flags, json_t **resp)
{
	struct call c = { .path = path, .flags = flags,
			  .deadline = deadline_of(e),
			  .last = "no attempt made" };
	char *text = json_dumps(body, JSON_COMPACT);
	size_t *order = malloc(e->n_endpoints * sizeof(*order));
	int rc;

	*resp = NULL;
	last_compacted = false;
	if (!text || !order) {
		rc = kvfs_error_set(KVFS_EFAIL, "etcd: cannot encode request");
	} else {
		c.text = text;
		c.text_len = strlen(text);
		rc = call_rounds(e, &c, order, resp);
		etcd_health_note(e, path, flags, rc);
	}
	free(order);
	free(text);
	return rc;
}

void etcd_health_note(struct etcd *e, const char *path, unsigned int flags,
		      int rc)
{
	int_least64_t none = 0;

	if (rc == KVFS_ETIMEDOUT || rc == KVFS_EUNAVAILABLE) {
		pthread_mutex_lock(&e->health_lock);
		if (atomic_compare_exchange_strong(&e->down_since, &none,
						   (int_least64_t)time(NULL)))
			snprintf(e->down_why, sizeof(e->down_why), "%s",
				 kvfs_error_message());
		pthread_mutex_unlock(&e->health_lock);
	} else if (rc == 0 && !(flags & ETCD_CALL_PREFERRED) &&
		   strcmp(path, "/v3/maintenance/status") &&
		   atomic_load(&e->down_since)) {
		atomic_store(&e->down_since, 0);
		kvfs_log(KVFS_LOG_WARNING, "etcd: the cluster answers again");
	}
}

bool etcd_is_down(struct etcd *e)
{
	return atomic_load(&e->down_since) != 0;
}

int etcd_authenticate(struct etcd *e)
{
	json_t *req = json_pack("{s:s, s:s}", "name", e->user, "password",
				e->password ? e->password : "");
	json_t *resp = NULL;
	const char *token;
	char *copy;
	int rc;

	if (!req)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	/* Without a token, so that an expired one is not sent along. */
	pthread_mutex_lock(&e->auth_lock);
	free(e->token);
	e->token = NULL;
	e->token_gen++;
	pthread_mutex_unlock(&e->auth_lock);
	rc = etcd_call(e, "/v3/auth/authenticate", req, ETCD_CALL_QUIET,
		       &resp);
	json_decref(req);
	if (rc == KVFS_EINVAL || rc == KVFS_EFAIL) {
		char why[512];
		const char *msg = kvfs_error_message(), *server;

		/* "etcd: URL: etcdserver: why" -> "why" */
		server = strstr(msg, "etcdserver: ");
		snprintf(why, sizeof(why), "%s", server ? server + 12 : msg);
		return kvfs_error_set(KVFS_EINVAL,
			"etcd: user '%s' cannot log in: %s", e->user, why);
	}
	if (rc)
		return rc;
	token = json_string_value(json_object_get(resp, "token"));
	copy = token ? strdup(token) : NULL;
	json_decref(resp);
	if (!copy)
		return kvfs_error_set(KVFS_EINVAL,
			"etcd: login of user '%s' gave no token", e->user);
	pthread_mutex_lock(&e->auth_lock);
	free(e->token);
	e->token = copy;
	e->token_gen++;
	pthread_mutex_unlock(&e->auth_lock);
	return 0;
}

/* ------------------------------------------------------------ streams */

struct stream_ctx {
	struct body buf;
	void (*on_line)(void *ctx, const char *line, size_t len);
	void *ctx;
};

static size_t stream_write(char *ptr, size_t size, size_t n, void *arg)
{
	struct stream_ctx *s = arg;
	size_t add = size * n, start = 0;

	if (body_write(ptr, size, n, &s->buf) != add)
		return 0;
	for (size_t i = 0; i < s->buf.len; i++) {
		if (s->buf.data[i] != '\n')
			continue;
		if (i > start)
			s->on_line(s->ctx, s->buf.data + start, i - start);
		start = i + 1;
	}
	memmove(s->buf.data, s->buf.data + start, s->buf.len - start);
	s->buf.len -= start;
	return add;
}

/* What the progress callback of a stream checks, about once a second. */
struct stream_watch {
	struct etcd *e;
	size_t endpoint;
	atomic_bool *stop;
};

/* End the stream when asked to, or when its member was found not
 * answering (a stopped member keeps the connection open and silent). */
static int stream_progress(void *arg, curl_off_t dt, curl_off_t dn,
			   curl_off_t ut, curl_off_t un)
{
	struct stream_watch *w = arg;

	return atomic_load(w->stop) || etcd_member_suspect(w->e, w->endpoint);
}

int etcd_stream(struct etcd *e, size_t endpoint, const char *path,
		json_t *body, atomic_bool *stop,
		void (*on_line)(void *ctx, const char *line, size_t len),
		void *ctx)
{
	struct stream_ctx s = { .on_line = on_line, .ctx = ctx };
	struct stream_watch w = { e, endpoint, stop };
	char url[512], *text = json_dumps(body, JSON_COMPACT);
	uint64_t gen;
	struct curl_slist *headers = make_headers(e, &gen);
	CURL *h = curl_easy_init();
	CURLcode cc = CURLE_OUT_OF_MEMORY;

	if (h && text && headers) {
		etcd_handle_setup(e, h);
		curl_easy_setopt(h, CURLOPT_SHARE, NULL);
		snprintf(url, sizeof(url), "%s%s", e->endpoints[endpoint],
			 path);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, stream_write);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, stream_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, &w);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
		cc = curl_easy_perform(h);
	}
	if (h)
		curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	free(text);
	free(s.buf.data);
	if (cc == CURLE_OK || cc == CURLE_ABORTED_BY_CALLBACK)
		return 0;
	return kvfs_error_set(KVFS_EUNAVAILABLE, "etcd watch on %s: %s",
			      e->endpoints[endpoint], curl_easy_strerror(cc));
}

/* ------------------------------------------------------------- codec */

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *etcd_b64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];

		*o++ = b64chars[v >> 18];
		*o++ = b64chars[(v >> 12) & 63];
		*o++ = b64chars[(v >> 6) & 63];
		*o++ = b64chars[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		*o++ = b64chars[v >> 18];
		*o++ = b64chars[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int etcd_b64_decode(const char *text, void **out, size_t *len)
{
	size_t n = strlen(text);
	unsigned char *buf = malloc(n / 4 * 3 + 4), *o = buf;
	uint32_t acc = 0;
	int bits = 0;

	if (!buf)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		int v;

		if (text[i] == '=')
			break;
		v = b64_value((unsigned char)text[i]);
		if (v < 0) {
			free(buf);
			return kvfs_error_set(KVFS_EFAIL,
				"etcd: answer has invalid base64");
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (unsigned char)(acc >> bits);
		}
	}
	*len = (size_t)(o - buf);
	*o = '\0';
	*out = buf;
	return 0;
}

uint64_t etcd_json_u64(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	if (json_is_integer(v))
		return (uint64_t)json_integer_value(v);
	if (json_is_string(v))
		return strtoull(json_string_value(v), NULL, 10);
	return 0;
}

json_t *etcd_kv_at(json_t *range_resp, size_t i)
{
	return json_array_get(json_object_get(range_resp, "kvs"), i);
}

int etcd_kv_value(json_t *kv, void **out, size_t *len)
{
	const char *v = json_string_value(json_object_get(kv, "value"));

	return etcd_b64_decode(v ? v : "", out, len);
}

int etcd_kv_key(json_t *kv, char **out, size_t *len)
{
	const char *k = json_string_value(json_object_get(kv, "key"));

	return etcd_b64_decode(k ? k : "", (void **)out, len);
}
