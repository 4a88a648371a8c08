/*
 * test_etcd_unit.c - the etcd backend against a fake gateway (no etcd
 * needed): option checks, failover, timeouts, authentication, and the
 * level logic made deterministic by choosing how far behind a member's
 * serializable answers are.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <kvfs/backend.h>
#include <kvfs/kvfs.h>

#include "etcd_test.h"
#include "fake_gateway.h"
#include "testutil.h"

static struct kvfs_store *open_fake(struct etcd_test_fixture *fx,
				    const char *extra)
{
	struct kvfs_store *s = NULL;

	MUST(etcd_test_open(fake_url(fx->fake), fx->journal, extra, &s));
	return s;
}

/* ---------------------------------------------------------------- opening */

static void test_malformed_endpoints(void **state)
{
	struct etcd_test_fixture *fx = *state;
	static const char *const bad[] = {
		"ftp://127.0.0.1:2379", "http://", "http://127.0.0.1",
		"http://127.0.0.1:0", "http://127.0.0.1:99999",
		"http://127.0.0.1:2379/v3", "127.0.0.1:2379",
		"http://127.0.0.1:23x9", "http://bad host:1",
	};
	struct kvfs_store *s = NULL;
	char eps[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(eps, sizeof(eps), "%s,%s", fake_url(fx->fake), bad[i]);
		assert_int_equal(etcd_test_open(eps, fx->journal, NULL, &s),
				 KVFS_EINVAL);
		if (!strstr(kvfs_error_message(), bad[i]) ||
		    strchr(kvfs_error_message(), '\n'))
			fail_msg("message for '%s' does not name it on one "
				 "line: %s", bad[i], kvfs_error_message());
	}
	assert_int_equal(etcd_test_open(NULL, fx->journal, NULL, &s),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "endpoints"));
	assert_int_equal(etcd_test_open(fake_url(fx->fake), fx->journal,
					"prefer=1", &s),
			 KVFS_EINVAL);
	assert_int_equal(etcd_test_open(fake_url(fx->fake), fx->journal,
					"timeout=soon", &s),
			 KVFS_EINVAL);
	/* A trailing slash is fine. */
	snprintf(eps, sizeof(eps), "%s/", fake_url(fx->fake));
	MUST(etcd_test_open(eps, fx->journal, NULL, &s));
	kvfs_store_close(s);
}

static void test_unreachable_at_open(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = NULL;
	uint64_t t0 = etcd_test_now_ms();
	int rc = etcd_test_open(fx->dead_url, fx->journal, "timeout=2s", &s);

	assert_int_equal(rc, KVFS_EUNAVAILABLE);
	assert_non_null(strstr(kvfs_error_message(), fx->dead_url));
	assert_null(strchr(kvfs_error_message(), '\n'));
	assert_true(etcd_test_now_ms() - t0 < 2000);
	print_message("unreachable: %s\n", kvfs_error_message());

	/* lazy opens anyway; eventual writes go to the journal. */
	MUST(etcd_test_open(fx->dead_url, fx->journal, "timeout=300ms,lazy",
			    &s));
	MUST(kvfs_store_put(s, "offline", "1", 1, KVFS_EVENTUAL));
	etcd_test_expect_read(s, "offline", KVFS_EVENTUAL, "1");
	assert_int_equal(kvfs_store_put(s, "strong", "1", 1, KVFS_STRONG),
			 KVFS_ETIMEDOUT); /* the journal cannot drain */
	kvfs_store_close(s);
}

/* https to a member that does not speak TLS, a missing CA file. */
static void test_tls_errors(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = NULL;
	char eps[128];
	uint64_t t0 = etcd_test_now_ms();

	snprintf(eps, sizeof(eps), "https%s", fake_url(fx->fake) + 4);
	assert_int_equal(etcd_test_open(eps, fx->journal, "timeout=3s", &s),
			 KVFS_EUNAVAILABLE);
	assert_non_null(strstr(kvfs_error_message(), eps));
	assert_null(strchr(kvfs_error_message(), '\n'));
	assert_true(etcd_test_now_ms() - t0 < 3000);
	print_message("TLS: %s\n", kvfs_error_message());
	assert_int_equal(etcd_test_open(eps, fx->journal,
					"cacert=/nonexistent/ca.pem", &s),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "cacert"));
}

static void test_failover(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = NULL;
	struct kvfs_buf stats = { 0 };
	char eps[256];

	snprintf(eps, sizeof(eps), "%s,%s", fx->dead_url, fake_url(fx->fake));
	MUST(etcd_test_open(eps, fx->journal, NULL, &s));
	MUST(kvfs_store_put(s, "k", "v", 1, KVFS_STRONG));
	etcd_test_expect_read(s, "k", KVFS_STRONG, "v");
	/* Serializable reads prefer member 0, which is down: they move on. */
	etcd_test_expect_read(s, "k", KVFS_EVENTUAL, "v");
	MUST(kvfs_store_control(s, KVFS_CTL_STATS_TEXT, &stats));
	if (strstr(stats.data, "etcd_failovers: 0\n"))
		fail_msg("no failover counted:\n%s", (char *)stats.data);
	kvfs_buf_free(&stats);
	kvfs_store_close(s);
}

static void test_timeout_bound(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "timeout=600ms");
	struct kvfs_buf got = { 0 };
	uint64_t t0;
	int rc;

	MUST(kvfs_store_put(s, "k", "v", 1, KVFS_STRONG));
	fake_set_mode(fx->fake, FAKE_HANG);
	t0 = etcd_test_now_ms();
	rc = kvfs_store_get(s, "k", KVFS_STRONG, &got);
	assert_int_equal(rc, KVFS_ETIMEDOUT);
	if (etcd_test_now_ms() - t0 > 1500)
		fail_msg("strong get took %llu ms with timeout=600ms",
			 (unsigned long long)(etcd_test_now_ms() - t0));
	print_message("strong get failed after %llu ms: %s\n",
		      (unsigned long long)(etcd_test_now_ms() - t0),
		      kvfs_error_message());
	/* An eventual write is acknowledged by the journal meanwhile. */
	t0 = etcd_test_now_ms();
	MUST(kvfs_store_put(s, "k", "later", 5, KVFS_EVENTUAL));
	assert_true(etcd_test_now_ms() - t0 < 500);
	etcd_test_expect_read(s, "k", KVFS_EVENTUAL, "later");
	fake_set_mode(fx->fake, FAKE_NORMAL);
	MUST(kvfs_store_control(s, KVFS_CTL_DRAIN, NULL));
	kvfs_store_close(s);
}

static void test_no_leader_fails_in_time(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "timeout=700ms");
	uint64_t t0;
	int rc;

	fake_set_mode(fx->fake, FAKE_NO_LEADER);
	t0 = etcd_test_now_ms();
	rc = kvfs_store_put(s, "k", "v", 1, KVFS_STRONG);
	assert_true(rc == KVFS_EUNAVAILABLE || rc == KVFS_ETIMEDOUT);
	assert_true(etcd_test_now_ms() - t0 < 1500);
	assert_non_null(strstr(kvfs_error_message(), fake_url(fx->fake)));
	fake_set_mode(fx->fake, FAKE_NORMAL);
	kvfs_store_close(s);
}

/* ------------------------------------------------------------- levels */

static void test_strong_reads_linearizable(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, NULL);
	struct fake_counts c;

	MUST(kvfs_store_put(s, "k", "v", 1, KVFS_STRONG));
	fake_set_lag(fx->fake, 100);
	fake_reset_counts(fx->fake);
	etcd_test_expect_read(s, "k", KVFS_STRONG, "v");
	fake_counts(fx->fake, &c);
	assert_int_equal(c.linearizable_reads, 1);
	assert_int_equal(c.serializable_reads, 0);
	kvfs_store_close(s);
}

static void test_eventual_reads_serializable(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, NULL);
	struct kvfs_buf got = { 0 };
	struct fake_counts c;

	MUST(kvfs_store_put(s, "k", "old", 3, KVFS_STRONG));
	MUST(kvfs_store_put(s, "k", "new", 3, KVFS_STRONG));
	/* The member is one revision behind: eventual accepts that. */
	fake_set_lag(fx->fake, 1);
	fake_reset_counts(fx->fake);
	etcd_test_expect_read(s, "k", KVFS_EVENTUAL, "old");
	fake_counts(fx->fake, &c);
	assert_int_equal(c.serializable_reads, 1);
	assert_int_equal(c.linearizable_reads, 0);
	/* Far behind: the key does not exist there yet. */
	fake_set_lag(fx->fake, 1000);
	assert_int_equal(kvfs_store_get(s, "k", KVFS_EVENTUAL, &got),
			 KVFS_ENOTFOUND);
	kvfs_store_close(s);
}

static void test_read_your_writes_fallback(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, NULL);
	struct fake_counts c;

	MUST(kvfs_store_put(s, "k", "mine", 4, KVFS_READ_YOUR_WRITES));
	/* Up to date member: one serializable read. */
	fake_reset_counts(fx->fake);
	etcd_test_expect_read(s, "k", KVFS_READ_YOUR_WRITES, "mine");
	fake_counts(fx->fake, &c);
	assert_int_equal(c.serializable_reads, 1);
	assert_int_equal(c.linearizable_reads, 0);
	/* Behind this mount's write: the answer is refused and a
	 * linearizable read gives the write. */
	fake_set_lag(fx->fake, 2);
	fake_reset_counts(fx->fake);
	etcd_test_expect_read(s, "k", KVFS_READ_YOUR_WRITES, "mine");
	fake_counts(fx->fake, &c);
	assert_int_equal(c.serializable_reads, 1);
	assert_int_equal(c.linearizable_reads, 1);
	/* Another client's newer write is not needed for RYW: a member
	 * behind it but not behind this mount's write is accepted. */
	fake_set_lag(fx->fake, 0);
	fake_put(fx->fake, "kvfs/other", "x", 1);
	fake_put(fx->fake, "kvfs/other2", "x", 1);
	fake_set_lag(fx->fake, 2);
	fake_reset_counts(fx->fake);
	etcd_test_expect_read(s, "k", KVFS_READ_YOUR_WRITES, "mine");
	fake_counts(fx->fake, &c);
	assert_int_equal(c.linearizable_reads, 0);
	kvfs_store_close(s);
}

static void test_causal_monotonic(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *w = open_fake(fx, NULL), *r;
	struct fake_counts c;
	char *jdir = fx->journal;

	fx->journal = kvfs_test_mkdtemp("etcd-journal2");
	r = open_fake(fx, NULL);
	MUST(kvfs_store_put(w, "k", "v1", 2, KVFS_STRONG));
	MUST(kvfs_store_put(w, "k", "v2", 2, KVFS_STRONG));
	/* The reader saw v2 once ... */
	etcd_test_expect_read(r, "k", KVFS_CAUSAL, "v2");
	/* ... so a member still at v1 may not answer it again. */
	fake_set_lag(fx->fake, 1);
	fake_reset_counts(fx->fake);
	etcd_test_expect_read(r, "k", KVFS_CAUSAL, "v2");
	fake_counts(fx->fake, &c);
	assert_int_equal(c.serializable_reads, 1);
	assert_int_equal(c.linearizable_reads, 1);
	/* At eventual the same member's stale answer is fine. */
	etcd_test_expect_read(r, "k", KVFS_EVENTUAL, "v1");
	kvfs_store_close(r);
	kvfs_test_rmtree(fx->journal);
	free(fx->journal);
	fx->journal = jdir;
	kvfs_store_close(w);
}

static void test_causal_token(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *a = open_fake(fx, NULL), *b;
	struct kvfs_buf token = { 0 }, token_b = { 0 };
	struct fake_counts c;
	unsigned long long cid, rev;
	char *jdir = fx->journal, bad[128];

	fx->journal = kvfs_test_mkdtemp("etcd-journal2");
	b = open_fake(fx, NULL);
	MUST(kvfs_store_put(a, "k", "v1", 2, KVFS_STRONG));
	MUST(kvfs_store_put(a, "k", "v2", 2, KVFS_STRONG));
	MUST(kvfs_store_control(a, KVFS_CTL_CAUSAL_TOKEN_GET, &token));
	print_message("token of A: %s\n", (char *)token.data);
	assert_int_equal(sscanf(token.data, "etcd:%llu:%llu", &cid, &rev), 2);
	assert_int_equal(cid, FAKE_CLUSTER_ID);
	assert_int_equal(rev, fake_revision(fx->fake));

	/* B's member is behind A's write: without the token B may read
	 * the old value, with it B falls back to a linearizable read. */
	fake_set_lag(fx->fake, 1);
	etcd_test_expect_read(b, "k", KVFS_CAUSAL, "v1");
	MUST(kvfs_store_control(b, KVFS_CTL_CAUSAL_TOKEN_SET, token.data));
	fake_reset_counts(fx->fake);
	etcd_test_expect_read(b, "k", KVFS_CAUSAL, "v2");
	fake_counts(fx->fake, &c);
	assert_int_equal(c.linearizable_reads, 1);

	/* The token round-trips: B's token is at least A's. */
	MUST(kvfs_store_control(b, KVFS_CTL_CAUSAL_TOKEN_GET, &token_b));
	assert_int_equal(sscanf(token_b.data, "etcd:%llu:%llu", &cid, &rev), 2);
	assert_true(rev >= fake_revision(fx->fake));

	/* Malformed tokens and another cluster's are refused. */
	assert_int_equal(kvfs_store_control(b, KVFS_CTL_CAUSAL_TOKEN_SET,
					    "garbage"), KVFS_EINVAL);
	assert_int_equal(kvfs_store_control(b, KVFS_CTL_CAUSAL_TOKEN_SET,
					    "etcd:7777:"), KVFS_EINVAL);
	assert_int_equal(kvfs_store_control(b, KVFS_CTL_CAUSAL_TOKEN_SET,
					    "etcd:7777:12x"), KVFS_EINVAL);
	assert_int_equal(kvfs_store_control(b, KVFS_CTL_CAUSAL_TOKEN_SET,
					    "etcd:-1:12"), KVFS_EINVAL);
	snprintf(bad, sizeof(bad), "etcd:%d:5", FAKE_CLUSTER_ID + 1);
	assert_int_equal(kvfs_store_control(b, KVFS_CTL_CAUSAL_TOKEN_SET, bad),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "cluster"));
	kvfs_buf_free(&token);
	kvfs_buf_free(&token_b);
	kvfs_store_close(b);
	kvfs_test_rmtree(fx->journal);
	free(fx->journal);
	fx->journal = jdir;
	kvfs_store_close(a);
}

/* Eventual writes: in the journal at once, visible to this mount's
 * reads at every level, replicated in order once the cluster answers. */
static void test_eventual_journal(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "timeout=500ms");
	struct kvfs_buf stats = { 0 }, got = { 0 };
	uint64_t ms = 200;
	struct kvfs_stat st;
	char *v;
	size_t len;

	fake_set_mode(fx->fake, FAKE_NO_LEADER);
	MUST(kvfs_store_put(s, "e/1", "one", 3, KVFS_EVENTUAL));
	MUST(kvfs_store_put(s, "e/1", "uno", 3, KVFS_EVENTUAL));
	MUST(kvfs_store_put(s, "e/2", "two", 3, KVFS_EVENTUAL));
	MUST(kvfs_store_delete(s, "e/2", KVFS_EVENTUAL));
	etcd_test_expect_read(s, "e/1", KVFS_STRONG, "uno");
	etcd_test_expect_read(s, "e/1", KVFS_READ_YOUR_WRITES, "uno");
	assert_int_equal(kvfs_store_get(s, "e/2", KVFS_CAUSAL, &got),
			 KVFS_ENOTFOUND);
	MUST(kvfs_store_stat(s, "e/1", KVFS_EVENTUAL, &st));
	assert_int_equal(st.size, 3);
	assert_int_equal(kvfs_store_control(s, KVFS_CTL_DRAIN, &ms),
			 KVFS_ETIMEDOUT);
	MUST(kvfs_store_control(s, KVFS_CTL_STATS_TEXT, &stats));
	print_message("%s", (char *)stats.data);
	assert_non_null(strstr(stats.data, "journal_backlog_entries: 4\n"));
	kvfs_buf_free(&stats);

	fake_set_mode(fx->fake, FAKE_NORMAL);
	MUST(kvfs_store_control(s, KVFS_CTL_DRAIN, NULL));
	v = fake_get(fx->fake, "kvfs/e/1", &len);
	assert_non_null(v);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "uno", 3);
	free(v);
	assert_null(fake_get(fx->fake, "kvfs/e/2", &len));
	etcd_test_expect_read(s, "e/1", KVFS_STRONG, "uno");
	kvfs_store_close(s);
}

/* A strong write waits for earlier eventual writes of the mount, so the
 * cluster sees them in write order. */
static void test_write_order_across_levels(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "timeout=3s");
	char *v;
	size_t len;

	MUST(kvfs_store_put(s, "o", "eventual", 8, KVFS_EVENTUAL));
	MUST(kvfs_store_put(s, "o", "strong", 6, KVFS_STRONG));
	v = fake_get(fx->fake, "kvfs/o", &len);
	assert_non_null(v);
	assert_int_equal(len, 6);
	assert_memory_equal(v, "strong", 6);
	free(v);
	kvfs_store_close(s);
}

/* ------------------------------------------------------- authentication */

static void test_authentication(void **state)
{
	struct etcd_test_fixture *fx = *state;
	char *pwfile = NULL, extra[512];
	struct kvfs_store *s = NULL;
	struct fake_counts c;
	FILE *f;

	assert_true(asprintf(&pwfile, "%s/../pw-%d", fx->journal,
			     (int)getpid()) > 0);
	fake_set_auth(fx->fake, "alice", "secret", 3);
	f = fopen(pwfile, "w");
	fputs("wrong\n", f);
	fclose(f);
	snprintf(extra, sizeof(extra), "user=alice,password_file=%s", pwfile);
	assert_int_equal(etcd_test_open(fake_url(fx->fake), fx->journal,
					extra, &s),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "alice"));
	assert_null(strchr(kvfs_error_message(), '\n'));
	print_message("wrong password: %s\n", kvfs_error_message());

	f = fopen(pwfile, "w");
	fputs("secret\n", f);
	fclose(f);
	MUST(etcd_test_open(fake_url(fx->fake), fx->journal, extra, &s));
	/* Tokens expire after 3 requests: the backend logs in again. */
	for (int i = 0; i < 5; i++) {
		char v[16];

		snprintf(v, sizeof(v), "v%d", i);
		MUST(kvfs_store_put(s, "auth/k", v, strlen(v), KVFS_STRONG));
		etcd_test_expect_read(s, "auth/k", KVFS_STRONG, v);
	}
	fake_counts(fx->fake, &c);
	assert_true(c.logins >= 3);
	assert_true(c.rejected_tokens >= 2);
	kvfs_store_close(s);
	assert_int_equal(etcd_test_open(fake_url(fx->fake), fx->journal,
					"password_file=/nonexistent", &s),
			 KVFS_EINVAL);
	unlink(pwfile);
	free(pwfile);
}

/* --------------------------------------------------------------- watch */

static void on_change(void *ctx, const char *key)
{
	(void)ctx;
	(void)key;
}

static void test_watch_starts_and_stops(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, NULL);
	struct kvfs_watch w = { .changed = on_change };

	/* The fake has no /v3/watch: the thread keeps reconnecting and
	 * must still stop promptly at close. */
	MUST(kvfs_store_control(s, KVFS_CTL_WATCH, &w));
	assert_int_equal(kvfs_store_control(s, KVFS_CTL_WATCH, &w),
			 KVFS_EEXISTS);
	usleep(100000);
	kvfs_store_close(s);
}

/* ------------------------------------------------------ keys as files */

/* Another client's keys under kvfs/ are files, '/' in them directories;
 * a name that is a key and has keys below is a directory; a listing
 * skips the subtrees of subdirectories instead of reading them. */
static void test_other_clients_keys(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, NULL);
	static const char *const names[] = { "a", "a-b", "b", "c", "e", "z",
					     "made" };
	static const enum kvfs_kind kinds[] = { KVFS_KIND_DIR, KVFS_KIND_FILE,
		KVFS_KIND_DIR, KVFS_KIND_FILE, KVFS_KIND_DIR, KVFS_KIND_FILE,
		KVFS_KIND_DIR };
	int seen[7] = { 0 };
	struct kvfs_lister *l = NULL;
	struct kvfs_dirent ent;
	struct fake_counts c;
	struct kvfs_stat st;
	struct kvfs_buf got = { 0 };
	char key[64], *v;
	size_t len;
	int rc;

	fake_put(fx->fake, "kvfs/d/a", "A", 1);
	fake_put(fx->fake, "kvfs/d/a-b", "AB", 2);
	fake_put(fx->fake, "kvfs/d/a/x", "X", 1);
	fake_put(fx->fake, "kvfs/d/c", "C", 1);
	fake_put(fx->fake, "kvfs/d/e//f", "", 0);
	fake_put(fx->fake, "kvfs/d/z", "Z", 1);
	for (int i = 0; i < 2500; i++) {
		snprintf(key, sizeof(key), "kvfs/d/b/s%02d/f%04d", i % 50, i);
		fake_put(fx->fake, key, "x", 1);
	}
	MUST(kvfs_store_mkdir(s, "d/made", 0755, KVFS_STRONG));
	assert_null(fake_get(fx->fake, "kvfs/d/made", &len));
	v = fake_get(fx->fake, "kvfs.kvfs/d/2/d/made", &len);
	assert_non_null(v);
	free(v);

	fake_reset_counts(fx->fake);
	MUST(kvfs_store_list(s, "d", KVFS_STRONG, &l));
	while ((rc = kvfs_lister_next(l, &ent)) == 1) {
		size_t i = 0;

		while (i < 7 && strcmp(names[i], ent.name))
			i++;
		if (i == 7)
			fail_msg("listing gave %s", ent.name);
		assert_int_equal(ent.kind, kinds[i]);
		seen[i]++;
	}
	assert_int_equal(rc, 0);
	kvfs_lister_close(l);
	for (int i = 0; i < 7; i++)
		if (seen[i] != 1)
			fail_msg("%s listed %d times", names[i], seen[i]);
	fake_counts(fx->fake, &c);
	/* The first page, and one after b's subtree: not its 2500 keys. */
	print_message("listing of 7 names over 2506 keys: %llu requests\n",
		      (unsigned long long)c.requests);
	assert_true(c.requests <= 3);

	MUST(kvfs_store_stat(s, "d/a", KVFS_STRONG, &st));
	assert_int_equal(st.kind, KVFS_KIND_DIR);
	assert_int_equal(kvfs_store_get(s, "d/a", KVFS_STRONG, &got),
			 KVFS_EISDIR);
	/* A key without kvfs's records: its size in one request. */
	fake_reset_counts(fx->fake);
	MUST(kvfs_store_stat(s, "d/a-b", KVFS_STRONG, &st));
	fake_counts(fx->fake, &c);
	assert_int_equal(c.requests, 1);
	assert_int_equal(st.kind, KVFS_KIND_FILE);
	assert_int_equal(st.size, 2);
	assert_true(st.version > 0);
	assert_int_equal(st.mtime.tv_sec, (time_t)st.version);
	etcd_test_expect_read(s, "d/a/x", KVFS_STRONG, "X");

	/* kvfs's put is the key's bytes; another client's put of the same
	 * key wins over kvfs's metadata (size, value). */
	MUST(kvfs_store_put(s, "d/c", "mine", 4, KVFS_STRONG));
	v = fake_get(fx->fake, "kvfs/d/c", &len);
	assert_non_null(v);
	assert_int_equal(len, 4);
	assert_memory_equal(v, "mine", 4);
	free(v);
	fake_put(fx->fake, "kvfs/d/c", "other-client", 12);
	MUST(kvfs_store_stat(s, "d/c", KVFS_STRONG, &st));
	assert_int_equal(st.size, 12);
	etcd_test_expect_read(s, "d/c", KVFS_STRONG, "other-client");

	/* A put below new directories: the key, and records for them. */
	MUST(kvfs_store_put(s, "x/y/z", "deep", 4, KVFS_STRONG));
	v = fake_get(fx->fake, "kvfs/x/y/z", &len);
	assert_non_null(v);
	assert_int_equal(len, 4);
	free(v);
	assert_null(fake_get(fx->fake, "kvfs/x", &len));
	v = fake_get(fx->fake, "kvfs.kvfs/d/2/x/y", &len);
	assert_non_null(v);
	free(v);

	/* Removing the last key of a directory that only keys imply keeps
	 * the directory (rm -r then removes it)... */
	MUST(kvfs_store_delete(s, "d/b/s00/f0000", KVFS_STRONG));
	for (int i = 50; i < 2500; i += 50) {
		snprintf(key, sizeof(key), "d/b/s00/f%04d", i);
		MUST(kvfs_store_delete(s, key, KVFS_STRONG));
	}
	MUST(kvfs_store_stat(s, "d/b/s00", KVFS_STRONG, &st));
	assert_int_equal(st.kind, KVFS_KIND_DIR);
	MUST(kvfs_store_rmdir(s, "d/b/s00", KVFS_STRONG));
	assert_int_equal(kvfs_store_stat(s, "d/b/s00", KVFS_STRONG, &st),
			 KVFS_ENOTFOUND);
	/* ...but a name that is also a key is that file again. */
	MUST(kvfs_store_delete(s, "d/a/x", KVFS_STRONG));
	MUST(kvfs_store_stat(s, "d/a", KVFS_STRONG, &st));
	assert_int_equal(st.kind, KVFS_KIND_FILE);
	etcd_test_expect_read(s, "d/a", KVFS_STRONG, "A");
	kvfs_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		ETCD_FAKE_TEST(test_malformed_endpoints),
		ETCD_FAKE_TEST(test_unreachable_at_open),
		ETCD_FAKE_TEST(test_tls_errors),
		ETCD_FAKE_TEST(test_failover),
		ETCD_FAKE_TEST(test_timeout_bound),
		ETCD_FAKE_TEST(test_no_leader_fails_in_time),
		ETCD_FAKE_TEST(test_strong_reads_linearizable),
		ETCD_FAKE_TEST(test_eventual_reads_serializable),
		ETCD_FAKE_TEST(test_read_your_writes_fallback),
		ETCD_FAKE_TEST(test_causal_monotonic),
		ETCD_FAKE_TEST(test_causal_token),
		ETCD_FAKE_TEST(test_eventual_journal),
		ETCD_FAKE_TEST(test_write_order_across_levels),
		ETCD_FAKE_TEST(test_authentication),
		ETCD_FAKE_TEST(test_watch_starts_and_stops),
		ETCD_FAKE_TEST(test_other_clients_keys),
	};

	return cmocka_run_group_tests_name("etcd backend, fake gateway", tests,
					   NULL, NULL);
}
