/*
 * test_cache.c - the cache backend against a fake inner backend whose
 * calls are counted: what each consistency level may serve from the
 * cache, invalidation by the cache's own writes and by change
 * notifications, the memory bound with a working set ten times the cache,
 * and a read racing a write never leaving the older value cached.
 */
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <kvfs/backend.h>

#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
/* From AddressSanitizer's allocator interface (not every compiler ships
 * its header). */
size_t __sanitizer_get_current_allocated_bytes(void);
#define HAVE_ASAN_ALLOCATED 1
#endif

/* ---------------------------------------------------- the fake backend */

#define FAKE_KEYS 4096

struct fake_key {
	char *key;
	char *value;
	size_t len;
	uint64_t version;
};

struct fake {
	struct kvfs_backend base;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fake_key keys[FAKE_KEYS];
	size_t n;
	uint64_t next_version;
	bool versions_off;      /* stat reports version 0 */
	bool has_token;         /* answers KVFS_CTL_CAUSAL_TOKEN_GET */
	uint64_t token;
	bool watchable;         /* accepts KVFS_CTL_WATCH */
	struct kvfs_watch watch;
	/* Blocking get, for the race test. */
	bool block_get;
	bool get_waiting;
	bool release_get;
	/* Call counters. */
	int gets, puts, dels, stats;
};

static struct fake_key *fake_find(struct fake *f, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->keys[i].key, key))
			return &f->keys[i];
	return NULL;
}

/* Store a value as another mount would: the cache does not see it. */
static void fake_set(struct fake *f, const char *key, const char *value)
{
	struct fake_key *k;

	pthread_mutex_lock(&f->lock);
	k = fake_find(f, key);
	if (!k) {
		assert_true(f->n < FAKE_KEYS);
		k = &f->keys[f->n++];
		k->key = strdup(key);
	}
	free(k->value);
	k->len = strlen(value);
	k->value = strdup(value);
	k->version = ++f->next_version;
	pthread_mutex_unlock(&f->lock);
}

static int fake_get(struct kvfs_backend *b, const char *key,
		    enum kvfs_consistency level, struct kvfs_buf *out)
{
	struct fake *f = (struct fake *)b;
	struct fake_key *k;
	int rc;

	pthread_mutex_lock(&f->lock);
	f->gets++;
	k = fake_find(f, key);
	rc = k ? kvfs_buf_set(out, k->value, k->len)
	       : kvfs_error_set(KVFS_ENOTFOUND, "no %s", key);
	/* The value is read; now wait, as a slow network would. */
	if (f->block_get) {
		f->get_waiting = true;
		pthread_cond_broadcast(&f->cond);
		while (!f->release_get)
			pthread_cond_wait(&f->cond, &f->lock);
		f->block_get = false;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int fake_put(struct kvfs_backend *b, const char *key,
		    const void *value, size_t len,
		    enum kvfs_consistency level)
{
	struct fake *f = (struct fake *)b;
	char *copy = strndup(value, len);

	fake_set(f, key, copy);
	free(copy);
	pthread_mutex_lock(&f->lock);
	f->puts++;
	if (f->has_token)
		f->token++;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int fake_del(struct kvfs_backend *b, const char *key,
		    enum kvfs_consistency level)
{
	struct fake *f = (struct fake *)b;
	struct fake_key *k;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	f->dels++;
	k = fake_find(f, key);
	if (!k) {
		rc = kvfs_error_set(KVFS_ENOTFOUND, "no %s", key);
	} else {
		free(k->key);
		free(k->value);
		*k = f->keys[--f->n];
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int fake_stat(struct kvfs_backend *b, const char *key,
		     enum kvfs_consistency level, struct kvfs_stat *st)
{
	struct fake *f = (struct fake *)b;
	struct fake_key *k;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	f->stats++;
	memset(st, 0, sizeof(*st));
	k = fake_find(f, key);
	if (!key[0]) {
		st->kind = KVFS_KIND_DIR;
	} else if (!k) {
		rc = kvfs_error_set(KVFS_ENOTFOUND, "no %s", key);
	} else {
		st->kind = KVFS_KIND_FILE;
		st->size = k->len;
		st->version = f->versions_off ? 0 : k->version;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int fake_control(struct kvfs_backend *b, int op, void *arg)
{
	struct fake *f = (struct fake *)b;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (op == KVFS_CTL_CAUSAL_TOKEN_GET && f->has_token) {
		char text[32];

		snprintf(text, sizeof(text), "%" PRIu64, f->token);
		rc = kvfs_buf_set(arg, text, strlen(text));
	} else if (op == KVFS_CTL_CAUSAL_TOKEN_SET && f->has_token) {
		uint64_t t = strtoull(arg, NULL, 10);

		if (t > f->token)
			f->token = t;
	} else if (op == KVFS_CTL_WATCH && f->watchable) {
		f->watch = *(struct kvfs_watch *)arg;
	} else if (op == KVFS_CTL_STATS_TEXT) {
		rc = kvfs_buf_appendf(arg, "fake_calls: %d\n", f->gets);
	} else {
		rc = kvfs_error_set(KVFS_ENOTSUPPORTED, "fake: no control %d",
				    op);
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static void fake_destroy(struct kvfs_backend *b)
{
	struct fake *f = (struct fake *)b;

	for (size_t i = 0; i < f->n; i++) {
		free(f->keys[i].key);
		free(f->keys[i].value);
	}
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	free(f);
}

static const struct kvfs_backend_ops fake_ops = {
	.version = KVFS_BACKEND_VERSION,
	.name = "fake",
	.get = fake_get,
	.put = fake_put,
	.del = fake_del,
	.destroy = fake_destroy,
	.stat = fake_stat,
	.control = fake_control,
};

/* ------------------------------------------------------------ fixtures */

struct env {
	struct fake *fake;      /* owned by the store below */
	struct kvfs_store *store; /* the cache over the fake */
};

static struct fake *fake_new(void)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->base.ops = &fake_ops;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	return f;
}

/* Open the cache over f with options such as "cache=64K,cache_ttl=200ms". */
static struct kvfs_store *cache_over(struct fake *f, const char *options)
{
	struct kvfs_options *opts = NULL;
	struct kvfs_store *inner = NULL, *store = NULL;
	struct kvfs_backend *cache = NULL;

	assert_int_equal(kvfs_options_new(&opts), 0);
	assert_int_equal(kvfs_options_parse(opts, options), 0);
	assert_int_equal(kvfs_store_from_backend(&f->base, &inner), 0);
	assert_int_equal(kvfs_cache_open(inner, opts, &cache), 0);
	assert_int_equal(kvfs_options_check_all_taken(opts), 0);
	assert_int_equal(kvfs_store_from_backend(cache, &store), 0);
	assert_string_equal(kvfs_store_backend_name(store), "cache");
	kvfs_options_free(opts);
	return store;
}

static void env_open(struct env *e, const char *options)
{
	e->fake = fake_new();
	e->store = cache_over(e->fake, options);
}

static void env_close(struct env *e)
{
	kvfs_store_close(e->store);
}

/* Read key at level through the cache and check the value. */
static void check_read(struct env *e, const char *key,
			 enum kvfs_consistency level, const char *want)
{
	struct kvfs_buf out = { 0 };

	assert_int_equal(kvfs_store_get(e->store, key, level, &out), 0);
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	kvfs_buf_free(&out);
}

static int gets(struct env *e)
{
	int n;

	pthread_mutex_lock(&e->fake->lock);
	n = e->fake->gets;
	pthread_mutex_unlock(&e->fake->lock);
	return n;
}

static int stats(struct env *e)
{
	int n;

	pthread_mutex_lock(&e->fake->lock);
	n = e->fake->stats;
	pthread_mutex_unlock(&e->fake->lock);
	return n;
}

/* A figure of the cache's KVFS_CTL_STATS_TEXT, e.g. "cache_bytes". */
static uint64_t figure(struct kvfs_store *store, const char *name)
{
	struct kvfs_buf text = { 0 };
	size_t n = strlen(name);
	uint64_t value = UINT64_MAX;

	assert_int_equal(kvfs_store_control(store, KVFS_CTL_STATS_TEXT, &text),
			 0);
	for (const char *line = text.data; line && *line;) {
		if (!strncmp(line, name, n) && !strncmp(line + n, ": ", 2)) {
			value = strtoull(line + n + 2, NULL, 10);
			break;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	kvfs_buf_free(&text);
	assert_true(value != UINT64_MAX);
	return value;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* --------------------------------------------------------------- levels */

static void test_strong_revalidates_by_version(void **state)
{
	struct env e;

	env_open(&e, "cache=64K");
	fake_set(e.fake, "k", "one");
	check_read(&e, "k", KVFS_STRONG, "one");
	assert_int_equal(gets(&e), 1);
	assert_int_equal(stats(&e), 1);

	/* Same version: served from the cache after one cheap stat. */
	check_read(&e, "k", KVFS_STRONG, "one");
	check_read(&e, "k", KVFS_STRONG, "one");
	assert_int_equal(gets(&e), 1);
	assert_int_equal(stats(&e), 3);

	/* Another mount changed it: never stale. */
	fake_set(e.fake, "k", "two");
	check_read(&e, "k", KVFS_STRONG, "two");
	assert_int_equal(gets(&e), 2);
	check_read(&e, "k", KVFS_STRONG, "two");
	assert_int_equal(gets(&e), 2);
	assert_int_equal(figure(e.store, "cache_hits"), 3);
	env_close(&e);
}

static void test_strong_bypasses_without_versions(void **state)
{
	struct env e;

	env_open(&e, "cache=64K");
	e.fake->versions_off = true;
	fake_set(e.fake, "k", "one");
	check_read(&e, "k", KVFS_STRONG, "one");
	check_read(&e, "k", KVFS_STRONG, "one");
	assert_int_equal(gets(&e), 2);
	fake_set(e.fake, "k", "two");
	check_read(&e, "k", KVFS_STRONG, "two");
	assert_int_equal(gets(&e), 3);
	env_close(&e);
}

static void test_strong_missing_key(void **state)
{
	struct kvfs_buf out = { 0 };
	struct env e;

	env_open(&e, "cache=64K");
	assert_int_equal(kvfs_store_get(e.store, "nope", KVFS_STRONG, &out),
			 KVFS_ENOTFOUND);
	fake_set(e.fake, "nope", "now");
	check_read(&e, "nope", KVFS_STRONG, "now");
	env_close(&e);
}

static void test_eventual_serves_within_ttl(void **state)
{
	struct env e;

	env_open(&e, "cache=64K,cache_ttl=300ms");
	fake_set(e.fake, "k", "one");
	check_read(&e, "k", KVFS_EVENTUAL, "one");
	assert_int_equal(gets(&e), 1);

	/* Changed elsewhere: within the ttl the cached value is allowed,
	 * and the inner store is not asked at all. */
	fake_set(e.fake, "k", "two");
	check_read(&e, "k", KVFS_EVENTUAL, "one");
	assert_int_equal(gets(&e), 1);
	assert_int_equal(stats(&e), 0);

	/* After the ttl it is fetched again. */
	sleep_ms(400);
	check_read(&e, "k", KVFS_EVENTUAL, "two");
	assert_int_equal(gets(&e), 2);
	check_read(&e, "k", KVFS_EVENTUAL, "two");
	assert_int_equal(gets(&e), 2);

	/* A strong read of the same entry still revalidates. */
	fake_set(e.fake, "k", "three");
	check_read(&e, "k", KVFS_STRONG, "three");
	env_close(&e);
}

static void test_eventual_stat_within_ttl(void **state)
{
	struct kvfs_stat st;
	struct env e;

	env_open(&e, "cache=64K,cache_ttl=10s");
	fake_set(e.fake, "k", "one");
	assert_int_equal(kvfs_store_stat(e.store, "k", KVFS_EVENTUAL, &st), 0);
	assert_int_equal(st.size, 3);
	assert_int_equal(kvfs_store_stat(e.store, "k", KVFS_EVENTUAL, &st), 0);
	assert_int_equal(stats(&e), 1);
	/* Strong stats always ask. */
	assert_int_equal(kvfs_store_stat(e.store, "k", KVFS_STRONG, &st), 0);
	assert_int_equal(stats(&e), 2);
	/* Its own write drops the cached stat. */
	assert_int_equal(kvfs_store_put(e.store, "k", "longer", 6,
					KVFS_EVENTUAL), 0);
	assert_int_equal(kvfs_store_stat(e.store, "k", KVFS_EVENTUAL, &st), 0);
	assert_int_equal(st.size, 6);
	env_close(&e);
}

static void test_read_your_writes_serves_own_writes(void **state)
{
	struct env e;

	env_open(&e, "cache=64K,cache_ttl=0");
	assert_int_equal(kvfs_store_put(e.store, "mine", "written", 7,
					KVFS_READ_YOUR_WRITES), 0);
	check_read(&e, "mine", KVFS_READ_YOUR_WRITES, "written");
	check_read(&e, "mine", KVFS_READ_YOUR_WRITES, "written");
	assert_int_equal(gets(&e), 0);
	assert_int_equal(stats(&e), 0);

	/* A key this mount did not write is revalidated like strong. */
	fake_set(e.fake, "theirs", "one");
	check_read(&e, "theirs", KVFS_READ_YOUR_WRITES, "one");
	fake_set(e.fake, "theirs", "two");
	check_read(&e, "theirs", KVFS_READ_YOUR_WRITES, "two");
	assert_int_equal(gets(&e), 2);
	assert_int_equal(stats(&e), 2);

	/* A strong read of an own write still asks the inner store. */
	check_read(&e, "mine", KVFS_STRONG, "written");
	assert_int_equal(stats(&e), 3);
	env_close(&e);
}

static void test_causal_honours_the_floor(void **state)
{
	struct env e;

	env_open(&e, "cache=64K");
	e.fake->has_token = true;
	e.fake->token = 5;
	fake_set(e.fake, "k", "one");
	check_read(&e, "k", KVFS_CAUSAL, "one");
	assert_int_equal(gets(&e), 1);
	/* Floor unchanged: served without asking. */
	check_read(&e, "k", KVFS_CAUSAL, "one");
	assert_int_equal(gets(&e), 1);
	assert_int_equal(stats(&e), 1);

	/* The floor rises (a token imported from another mount): the entry
	 * is revalidated, and being current, served and re-stamped. */
	assert_int_equal(kvfs_store_control(e.store, KVFS_CTL_CAUSAL_TOKEN_SET,
					    "9"), 0);
	check_read(&e, "k", KVFS_CAUSAL, "one");
	assert_int_equal(stats(&e), 2);
	assert_int_equal(gets(&e), 1);
	check_read(&e, "k", KVFS_CAUSAL, "one");
	assert_int_equal(stats(&e), 2);

	/* Changed elsewhere, and the floor moves past it: the new value. */
	fake_set(e.fake, "k", "two");
	assert_int_equal(kvfs_store_control(e.store, KVFS_CTL_CAUSAL_TOKEN_SET,
					    "12"), 0);
	check_read(&e, "k", KVFS_CAUSAL, "two");
	assert_int_equal(gets(&e), 2);

	/* Own writes are served at causal until the floor moves on. */
	assert_int_equal(kvfs_store_put(e.store, "w", "mine", 4, KVFS_CAUSAL),
			 0);
	check_read(&e, "w", KVFS_CAUSAL, "mine");
	assert_int_equal(gets(&e), 2);
	env_close(&e);
}

static void test_causal_without_token_revalidates(void **state)
{
	struct env e;

	env_open(&e, "cache=64K");
	fake_set(e.fake, "k", "one");
	check_read(&e, "k", KVFS_CAUSAL, "one");
	check_read(&e, "k", KVFS_CAUSAL, "one");
	assert_int_equal(stats(&e), 2);
	assert_int_equal(gets(&e), 1);
	fake_set(e.fake, "k", "two");
	check_read(&e, "k", KVFS_CAUSAL, "two");
	env_close(&e);
}

/* -------------------------------------------------------- invalidation */

static void test_own_writes_invalidate(void **state)
{
	struct kvfs_buf out = { 0 };
	struct env e;

	env_open(&e, "cache=64K,cache_ttl=10s");
	fake_set(e.fake, "k", "one");
	check_read(&e, "k", KVFS_EVENTUAL, "one");
	assert_int_equal(kvfs_store_put(e.store, "k", "two", 3, KVFS_STRONG),
			 0);
	check_read(&e, "k", KVFS_EVENTUAL, "two");
	assert_int_equal(kvfs_store_delete(e.store, "k", KVFS_STRONG), 0);
	assert_int_equal(kvfs_store_get(e.store, "k", KVFS_EVENTUAL, &out),
			 KVFS_ENOTFOUND);
	/* A failed delete does not make up a value either. */
	assert_int_equal(kvfs_store_delete(e.store, "k", KVFS_STRONG),
			 KVFS_ENOTFOUND);
	env_close(&e);
}

static void test_writer_commit_invalidates(void **state)
{
	struct kvfs_writer *w = NULL;
	struct env e;

	env_open(&e, "cache=64K,cache_ttl=10s");
	fake_set(e.fake, "k", "one");
	check_read(&e, "k", KVFS_EVENTUAL, "one");
	assert_int_equal(kvfs_store_open_writer(e.store, "k", KVFS_EVENTUAL,
						NULL, &w), 0);
	assert_int_equal(kvfs_writer_pwrite(w, "streamed", 8, 0), 8);
	assert_int_equal(kvfs_writer_commit(w), 0);
	check_read(&e, "k", KVFS_EVENTUAL, "streamed");
	env_close(&e);
}

static int user_calls;
static char user_key[64];

static void user_changed(void *ctx, const char *key)
{
	(void)ctx;
	user_calls++;
	snprintf(user_key, sizeof(user_key), "%s", key ? key : "(all)");
}

static void test_watch_invalidates_and_chains(void **state)
{
	struct kvfs_watch user = { .changed = user_changed, .ctx = NULL };
	struct env e;

	e.fake = fake_new();
	e.fake->watchable = true;
	e.store = cache_over(e.fake, "cache=64K,cache_ttl=10s");
	assert_non_null(e.fake->watch.changed);
	assert_int_equal(kvfs_store_control(e.store, KVFS_CTL_WATCH, &user), 0);

	fake_set(e.fake, "k", "one");
	check_read(&e, "k", KVFS_EVENTUAL, "one");
	fake_set(e.fake, "k", "two");
	check_read(&e, "k", KVFS_EVENTUAL, "one");
	e.fake->watch.changed(e.fake->watch.ctx, "k");
	assert_int_equal(user_calls, 1);
	assert_string_equal(user_key, "k");
	check_read(&e, "k", KVFS_EVENTUAL, "two");
	assert_int_equal(gets(&e), 2);

	/* "Everything changed" drops every entry. */
	fake_set(e.fake, "k", "three");
	e.fake->watch.changed(e.fake->watch.ctx, NULL);
	assert_int_equal(user_calls, 2);
	check_read(&e, "k", KVFS_EVENTUAL, "three");
	env_close(&e);
}

static void test_watch_unsupported_is_forwarded(void **state)
{
	struct kvfs_watch user = { .changed = user_changed, .ctx = NULL };
	struct env e;

	env_open(&e, "cache=64K");
	assert_int_equal(kvfs_store_control(e.store, KVFS_CTL_WATCH, &user),
			 KVFS_ENOTSUPPORTED);
	env_close(&e);
}

static void test_stats_text(void **state)
{
	struct kvfs_buf text = { 0 };
	struct env e;

	env_open(&e, "cache=64K,cache_ttl=10s");
	fake_set(e.fake, "k", "one");
	check_read(&e, "k", KVFS_EVENTUAL, "one");
	check_read(&e, "k", KVFS_EVENTUAL, "one");
	check_read(&e, "k", KVFS_EVENTUAL, "one");
	assert_int_equal(kvfs_store_control(e.store, KVFS_CTL_STATS_TEXT, &text),
			 0);
	assert_non_null(strstr(text.data, "cache_hits: 2\n"));
	assert_non_null(strstr(text.data, "cache_misses: 1\n"));
	assert_non_null(strstr(text.data, "cache_evictions: 0\n"));
	assert_non_null(strstr(text.data, "cache_entries: 1\n"));
	assert_non_null(strstr(text.data, "cache_bytes: "));
	/* ... then the inner backend's own lines. */
	assert_non_null(strstr(text.data, "fake_calls: 1\n"));
	kvfs_buf_free(&text);
	env_close(&e);
}

static void test_bad_options(void **state)
{
	struct kvfs_options *opts = NULL;
	struct kvfs_store *store = NULL;
	char *root = kvfs_test_mkdtemp("cache-options");

	assert_non_null(root);
	assert_int_equal(kvfs_options_new(&opts), 0);
	assert_int_equal(kvfs_options_set(opts, "root", root), 0);
	assert_int_equal(kvfs_options_set(opts, "cache", "lots"), 0);
	assert_int_equal(kvfs_store_open(opts, &store), KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "cache"));
	kvfs_options_free(opts);

	assert_int_equal(kvfs_options_new(&opts), 0);
	assert_int_equal(kvfs_options_set(opts, "root", root), 0);
	assert_int_equal(kvfs_options_set(opts, "cache_ttl", "5s"), 0);
	assert_int_equal(kvfs_store_open(opts, &store), KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "cache_ttl"));
	kvfs_options_free(opts);

	/* cache=0 means no cache. */
	assert_int_equal(kvfs_options_new(&opts), 0);
	assert_int_equal(kvfs_options_set(opts, "root", root), 0);
	assert_int_equal(kvfs_options_set(opts, "cache", "0"), 0);
	assert_int_equal(kvfs_store_open(opts, &store), 0);
	assert_int_equal(kvfs_options_check_all_taken(opts), 0);
	assert_string_equal(kvfs_store_backend_name(store), "local");
	kvfs_store_close(store);
	kvfs_options_free(opts);
	kvfs_test_rmtree(root);
	free(root);
}

/* -------------------------------------------------------------- memory */

static size_t heap_in_use(void)
{
#ifdef HAVE_ASAN_ALLOCATED
	return __sanitizer_get_current_allocated_bytes();
#else
	return mallinfo2().uordblks;
#endif
}

/*
 * The documented bound (lib/docs/cache.md): accounted bytes never exceed
 * SIZE; the heap the cache holds is at most SIZE + 64 bytes per entry
 * (allocator headers and rounding) + 16 bytes per entry at the peak (the
 * bucket array) + 32 KiB fixed (the cache's own struct with its
 * generation table, and the two stores' statistics).
 */
static void test_memory_bound(void **state)
{
	const uint64_t size = 128 * 1024;
	const size_t working_set = 4000; /* values of 100 bytes: ~10x SIZE */
	uint64_t peak_entries = 0;
	char key[32], value[101];
	size_t before;
	struct env e;

	e.fake = fake_new();
	memset(value, 'v', 100);
	value[100] = '\0';
	for (size_t i = 0; i < working_set; i++) {
		snprintf(key, sizeof(key), "k/%05zu", i);
		fake_set(e.fake, key, value);
	}
	before = heap_in_use();
	e.store = cache_over(e.fake, "cache=128K,cache_ttl=10s");
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < working_set; i++) {
			snprintf(key, sizeof(key), "k/%05zu", i);
			check_read(&e, key, round == 1 ? KVFS_STRONG :
				     KVFS_EVENTUAL, value);
			if (i % 250 == 0)
				assert_true(figure(e.store, "cache_bytes") <=
					    size);
		}
		uint64_t entries = figure(e.store, "cache_entries");

		if (entries > peak_entries)
			peak_entries = entries;
		size_t held = heap_in_use() - before;
		uint64_t bound = size + 64 * entries + 16 * peak_entries +
				 32 * 1024;

		print_message("round %d: accounted %" PRIu64 " of %" PRIu64
			      ", %" PRIu64 " entries, heap %zu (bound %" PRIu64
			      ")\n", round, figure(e.store, "cache_bytes"),
			      size, entries, held, bound);
		assert_true(figure(e.store, "cache_bytes") <= size);
		assert_true(held <= bound);
	}
	assert_true(figure(e.store, "cache_evictions") > 0);
	/* The most recent keys are still there: a hit costs no get. */
	int before_gets = gets(&e);

	snprintf(key, sizeof(key), "k/%05zu", working_set - 1);
	check_read(&e, key, KVFS_EVENTUAL, value);
	assert_int_equal(gets(&e), before_gets);
	env_close(&e);
}

static void test_oversized_values_pass_through(void **state)
{
	char *big = malloc(40000);
	struct kvfs_buf out = { 0 };
	struct env e;

	assert_non_null(big);
	memset(big, 'b', 39999);
	big[39999] = '\0';
	env_open(&e, "cache=64K,cache_ttl=10s");
	fake_set(e.fake, "big", big);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(kvfs_store_get(e.store, "big", KVFS_EVENTUAL,
						&out), 0);
		assert_int_equal(out.len, 39999);
		kvfs_buf_free(&out);
	}
	assert_int_equal(gets(&e), 3);
	assert_true(figure(e.store, "cache_bytes") <= 64 * 1024);
	env_close(&e);
	free(big);
}

/* ---------------------------------------------------------------- races */

struct reader_arg {
	struct env *env;
	char value[32];
	int rc;
};

static void *slow_reader(void *p)
{
	struct reader_arg *a = p;
	struct kvfs_buf out = { 0 };

	a->rc = kvfs_store_get(a->env->store, "k", KVFS_EVENTUAL, &out);
	if (a->rc == 0)
		snprintf(a->value, sizeof(a->value), "%.*s", (int)out.len,
			 (char *)out.data);
	kvfs_buf_free(&out);
	return NULL;
}

/*
 * A read fetches the old value, stalls, and returns after a write through
 * the cache completed: the old value must not end up cached.
 */
static void race_once(enum kvfs_consistency write_level, bool via_writer)
{
	struct reader_arg a = { 0 };
	pthread_t reader;
	struct env e;

	env_open(&e, "cache=64K,cache_ttl=10s");
	fake_set(e.fake, "k", "old");
	e.fake->block_get = true;
	a.env = &e;
	assert_int_equal(pthread_create(&reader, NULL, slow_reader, &a), 0);
	pthread_mutex_lock(&e.fake->lock);
	while (!e.fake->get_waiting)
		pthread_cond_wait(&e.fake->cond, &e.fake->lock);
	pthread_mutex_unlock(&e.fake->lock);

	/* The reader holds "old"; now a write completes. */
	if (via_writer) {
		struct kvfs_writer *w = NULL;

		assert_int_equal(kvfs_store_open_writer(e.store, "k",
				 write_level, NULL, &w), 0);
		assert_int_equal(kvfs_writer_pwrite(w, "new", 3, 0), 3);
		assert_int_equal(kvfs_writer_commit(w), 0);
	} else {
		assert_int_equal(kvfs_store_put(e.store, "k", "new", 3,
						write_level), 0);
	}

	pthread_mutex_lock(&e.fake->lock);
	e.fake->release_get = true;
	pthread_cond_broadcast(&e.fake->cond);
	pthread_mutex_unlock(&e.fake->lock);
	assert_int_equal(pthread_join(reader, NULL), 0);
	assert_int_equal(a.rc, 0);
	assert_string_equal(a.value, "old");

	/* Within the ttl an eventual read would serve a cached "old". */
	check_read(&e, "k", KVFS_EVENTUAL, "new");
	check_read(&e, "k", KVFS_READ_YOUR_WRITES, "new");
	check_read(&e, "k", KVFS_STRONG, "new");
	env_close(&e);
}

static void test_read_racing_put(void **state)
{
	race_once(KVFS_STRONG, false);
	race_once(KVFS_EVENTUAL, false);
}

static void test_read_racing_writer(void **state)
{
	race_once(KVFS_STRONG, true);
}

struct hammer {
	struct kvfs_store *store;
	int id;
	int rounds;
};

static void *hammer_writes(void *p)
{
	struct hammer *h = p;
	char value[32];

	for (int i = 0; i < h->rounds; i++) {
		snprintf(value, sizeof(value), "w%d-%d", h->id, i);
		if (kvfs_store_put(h->store, "hot", value, strlen(value),
				   KVFS_READ_YOUR_WRITES))
			return (void *)1;
	}
	return NULL;
}

static void *hammer_reads(void *p)
{
	struct hammer *h = p;
	struct kvfs_buf out = { 0 };

	for (int i = 0; i < h->rounds; i++) {
		kvfs_store_get(h->store, "hot", KVFS_EVENTUAL, &out);
		kvfs_buf_free(&out);
	}
	return NULL;
}

/* Concurrent writers and readers: once they stop, what an eventual read
 * serves is what the inner store holds. */
static void test_concurrent_writers_leave_latest(void **state)
{
	pthread_t threads[4];
	struct hammer h[4];
	struct kvfs_buf inner = { 0 };
	struct env e;

	env_open(&e, "cache=64K,cache_ttl=60s");
	fake_set(e.fake, "hot", "start");
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){ e.store, i, 2000 };
		assert_int_equal(pthread_create(&threads[i], NULL,
				 i < 2 ? hammer_writes : hammer_reads, &h[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_lock(&e.fake->lock);
	assert_int_equal(kvfs_buf_set(&inner, fake_find(e.fake, "hot")->value,
				      fake_find(e.fake, "hot")->len), 0);
	pthread_mutex_unlock(&e.fake->lock);
	check_read(&e, "hot", KVFS_EVENTUAL, inner.data);
	check_read(&e, "hot", KVFS_READ_YOUR_WRITES, inner.data);
	kvfs_buf_free(&inner);
	env_close(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strong_revalidates_by_version),
		cmocka_unit_test(test_strong_bypasses_without_versions),
		cmocka_unit_test(test_strong_missing_key),
		cmocka_unit_test(test_eventual_serves_within_ttl),
		cmocka_unit_test(test_eventual_stat_within_ttl),
		cmocka_unit_test(test_read_your_writes_serves_own_writes),
		cmocka_unit_test(test_causal_honours_the_floor),
		cmocka_unit_test(test_causal_without_token_revalidates),
		cmocka_unit_test(test_own_writes_invalidate),
		cmocka_unit_test(test_writer_commit_invalidates),
		cmocka_unit_test(test_watch_invalidates_and_chains),
		cmocka_unit_test(test_watch_unsupported_is_forwarded),
		cmocka_unit_test(test_stats_text),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_memory_bound),
		cmocka_unit_test(test_oversized_values_pass_through),
		cmocka_unit_test(test_read_racing_put),
		cmocka_unit_test(test_read_racing_writer),
		cmocka_unit_test(test_concurrent_writers_leave_latest),
	};

	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
