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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <kvfs/backend.h>
#include <kvfs/kvfs.h>

#include "fake_gateway.h"
#include "testutil.h"

struct fixture {
	struct fake_gateway *fake;
	char *journal;
	char dead_url[64]; /* a port nothing listens on */
};

#define MUST(expr)                                                            \
	do {                                                                  \
		int rc_ = (int)(expr);                                        \
		if (rc_)                                                      \
			fail_msg("%s returned %d (%s): %s", #expr, rc_,       \
				 kvfs_error_name(rc_), kvfs_error_message()); \
	} while (0)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A loopback port that refuses connections. */
static void dead_port(char *url, size_t len)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	getsockname(fd, (struct sockaddr *)&addr, &alen);
	close(fd);
	snprintf(url, len, "http://127.0.0.1:%u", ntohs(addr.sin_port));
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	fx->fake = fake_start();
	fx->journal = kvfs_test_mkdtemp("etcd-journal");
	dead_port(fx->dead_url, sizeof(fx->dead_url));
	if (!fx->fake || !fx->journal)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	fake_stop(fx->fake);
	kvfs_test_rmtree(fx->journal);
	free(fx->journal);
	free(fx);
	return 0;
}

/* Open an etcd store with "endpoints=<eps>,journal=<fixture's>" plus
 * extra -o style options; returns the code. */
static int open_with(struct fixture *fx, const char *eps, const char *extra,
		     struct kvfs_store **out)
{
	struct kvfs_options *opts = NULL;
	char *text = NULL;
	int rc;

	assert_true(asprintf(&text, "backend=etcd,journal=%s%s%s", fx->journal,
			     extra ? "," : "", extra ? extra : "") > 0);
	MUST(kvfs_options_new(&opts));
	MUST(kvfs_options_parse(opts, text));
	if (eps)
		MUST(kvfs_options_set(opts, "endpoints", eps));
	rc = kvfs_store_open(opts, out);
	if (rc == 0 && kvfs_options_check_all_taken(opts))
		fail_msg("option left untaken: %s", kvfs_error_message());
	kvfs_options_free(opts);
	free(text);
	return rc;
}

static struct kvfs_store *open_fake(struct fixture *fx, const char *extra)
{
	struct kvfs_store *s = NULL;

	MUST(open_with(fx, fake_url(fx->fake), extra, &s));
	return s;
}

static void expect_read(struct kvfs_store *s, const char *key,
			 enum kvfs_consistency level, const char *want)
{
	struct kvfs_buf got = { 0 };

	MUST(kvfs_store_get(s, key, level, &got));
	if (got.len != strlen(want) || memcmp(got.data, want, got.len))
		fail_msg("get %s at %s: '%.*s', want '%s'", key,
			 kvfs_consistency_name(level), (int)got.len,
			 (char *)got.data, want);
	kvfs_buf_free(&got);
}

/* ---------------------------------------------------------------- opening */

static void test_malformed_endpoints(void **state)
{
	struct fixture *fx = *state;
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
		assert_int_equal(open_with(fx, eps, NULL, &s), KVFS_EINVAL);
		if (!strstr(kvfs_error_message(), bad[i]) ||
		    strchr(kvfs_error_message(), '\n'))
			fail_msg("message for '%s' does not name it on one "
				 "line: %s", bad[i], kvfs_error_message());
	}
	assert_int_equal(open_with(fx, NULL, NULL, &s), KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "endpoints"));
	assert_int_equal(open_with(fx, fake_url(fx->fake), "prefer=1", &s),
			 KVFS_EINVAL);
	assert_int_equal(open_with(fx, fake_url(fx->fake), "timeout=soon", &s),
			 KVFS_EINVAL);
	/* A trailing slash is fine. */
	snprintf(eps, sizeof(eps), "%s/", fake_url(fx->fake));
	MUST(open_with(fx, eps, NULL, &s));
	kvfs_store_close(s);
}

static void test_unreachable_at_open(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = NULL;
	uint64_t t0 = now_ms();
	int rc = open_with(fx, fx->dead_url, "timeout=2s", &s);

	assert_int_equal(rc, KVFS_EUNAVAILABLE);
	assert_non_null(strstr(kvfs_error_message(), fx->dead_url));
	assert_null(strchr(kvfs_error_message(), '\n'));
	assert_true(now_ms() - t0 < 2000);
	print_message("unreachable: %s\n", kvfs_error_message());

	/* lazy opens anyway; eventual writes go to the journal. */
	MUST(open_with(fx, fx->dead_url, "timeout=300ms,lazy", &s));
	MUST(kvfs_store_put(s, "offline", "1", 1, KVFS_EVENTUAL));
	expect_read(s, "offline", KVFS_EVENTUAL, "1");
	assert_int_equal(kvfs_store_put(s, "strong", "1", 1, KVFS_STRONG),
			 KVFS_ETIMEDOUT); /* the journal cannot drain */
	kvfs_store_close(s);
}

/* https to a member that does not speak TLS, a missing CA file. */
static void test_tls_errors(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = NULL;
	char eps[128];
	uint64_t t0 = now_ms();

	snprintf(eps, sizeof(eps), "https%s", fake_url(fx->fake) + 4);
	assert_int_equal(open_with(fx, eps, "timeout=3s", &s),
			 KVFS_EUNAVAILABLE);
	assert_non_null(strstr(kvfs_error_message(), eps));
	assert_null(strchr(kvfs_error_message(), '\n'));
	assert_true(now_ms() - t0 < 3000);
	print_message("TLS: %s\n", kvfs_error_message());
	assert_int_equal(open_with(fx, eps, "cacert=/nonexistent/ca.pem", &s),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "cacert"));
}

static void test_failover(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = NULL;
	struct kvfs_buf stats = { 0 };
	char eps[256];

	snprintf(eps, sizeof(eps), "%s,%s", fx->dead_url, fake_url(fx->fake));
	MUST(open_with(fx, eps, NULL, &s));
	MUST(kvfs_store_put(s, "k", "v", 1, KVFS_STRONG));
	expect_read(s, "k", KVFS_STRONG, "v");
	/* Serializable reads prefer member 0, which is down: they move on. */
	expect_read(s, "k", KVFS_EVENTUAL, "v");
	MUST(kvfs_store_control(s, KVFS_CTL_STATS_TEXT, &stats));
	if (strstr(stats.data, "etcd_failovers: 0\n"))
		fail_msg("no failover counted:\n%s", (char *)stats.data);
	kvfs_buf_free(&stats);
	kvfs_store_close(s);
}

static void test_timeout_bound(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "timeout=600ms");
	struct kvfs_buf got = { 0 };
	uint64_t t0;
	int rc;

	MUST(kvfs_store_put(s, "k", "v", 1, KVFS_STRONG));
	fake_set_mode(fx->fake, FAKE_HANG);
	t0 = now_ms();
	rc = kvfs_store_get(s, "k", KVFS_STRONG, &got);
	assert_int_equal(rc, KVFS_ETIMEDOUT);
	if (now_ms() - t0 > 1500)
		fail_msg("strong get took %llu ms with timeout=600ms",
			 (unsigned long long)(now_ms() - t0));
	print_message("strong get failed after %llu ms: %s\n",
		      (unsigned long long)(now_ms() - t0),
		      kvfs_error_message());
	/* An eventual write is acknowledged by the journal meanwhile. */
	t0 = now_ms();
	MUST(kvfs_store_put(s, "k", "later", 5, KVFS_EVENTUAL));
	assert_true(now_ms() - t0 < 500);
	expect_read(s, "k", KVFS_EVENTUAL, "later");
	fake_set_mode(fx->fake, FAKE_NORMAL);
	MUST(kvfs_store_control(s, KVFS_CTL_DRAIN, NULL));
	kvfs_store_close(s);
}

static void test_no_leader_fails_in_time(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "timeout=700ms");
	uint64_t t0;
	int rc;

	fake_set_mode(fx->fake, FAKE_NO_LEADER);
	t0 = now_ms();
	rc = kvfs_store_put(s, "k", "v", 1, KVFS_STRONG);
	assert_true(rc == KVFS_EUNAVAILABLE || rc == KVFS_ETIMEDOUT);
	assert_true(now_ms() - t0 < 1500);
	assert_non_null(strstr(kvfs_error_message(), fake_url(fx->fake)));
	fake_set_mode(fx->fake, FAKE_NORMAL);
	kvfs_store_close(s);
}

/* ------------------------------------------------------------- levels */

static void test_strong_reads_linearizable(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, NULL);
	struct fake_counts c;

	MUST(kvfs_store_put(s, "k", "v", 1, KVFS_STRONG));
	fake_set_lag(fx->fake, 100);
	fake_reset_counts(fx->fake);
	expect_read(s, "k", KVFS_STRONG, "v");
	fake_counts(fx->fake, &c);
	assert_int_equal(c.linearizable_reads, 1);
	assert_int_equal(c.serializable_reads, 0);
	kvfs_store_close(s);
}

static void test_eventual_reads_serializable(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, NULL);
	struct kvfs_buf got = { 0 };
	struct fake_counts c;

	MUST(kvfs_store_put(s, "k", "old", 3, KVFS_STRONG));
	MUST(kvfs_store_put(s, "k", "new", 3, KVFS_STRONG));
	/* The member is one revision behind: eventual accepts that. */
	fake_set_lag(fx->fake, 1);
	fake_reset_counts(fx->fake);
	expect_read(s, "k", KVFS_EVENTUAL, "old");
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
	struct fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, NULL);
	struct fake_counts c;

	MUST(kvfs_store_put(s, "k", "mine", 4, KVFS_READ_YOUR_WRITES));
	/* Up to date member: one serializable read. */
	fake_reset_counts(fx->fake);
	expect_read(s, "k", KVFS_READ_YOUR_WRITES, "mine");
	fake_counts(fx->fake, &c);
	assert_int_equal(c.serializable_reads, 1);
	assert_int_equal(c.linearizable_reads, 0);
	/* Behind this mount's write: the answer is refused and a
	 * linearizable read gives the write. */
	fake_set_lag(fx->fake, 2);
	fake_reset_counts(fx->fake);
	expect_read(s, "k", KVFS_READ_YOUR_WRITES, "mine");
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
	expect_read(s, "k", KVFS_READ_YOUR_WRITES, "mine");
	fake_counts(fx->fake, &c);
	assert_int_equal(c.linearizable_reads, 0);
	kvfs_store_close(s);
}

static void test_causal_monotonic(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *w = open_fake(fx, NULL), *r;
	struct fake_counts c;
	char *jdir = fx->journal;

	fx->journal = kvfs_test_mkdtemp("etcd-journal2");
	r = open_fake(fx, NULL);
	MUST(kvfs_store_put(w, "k", "v1", 2, KVFS_STRONG));
	MUST(kvfs_store_put(w, "k", "v2", 2, KVFS_STRONG));
	/* The reader saw v2 once ... */
	expect_read(r, "k", KVFS_CAUSAL, "v2");
	/* ... so a member still at v1 may not answer it again. */
	fake_set_lag(fx->fake, 1);
	fake_reset_counts(fx->fake);
	expect_read(r, "k", KVFS_CAUSAL, "v2");
	fake_counts(fx->fake, &c);
	assert_int_equal(c.serializable_reads, 1);
	assert_int_equal(c.linearizable_reads, 1);
	/* At eventual the same member's stale answer is fine. */
	expect_read(r, "k", KVFS_EVENTUAL, "v1");
	kvfs_store_close(r);
	kvfs_test_rmtree(fx->journal);
	free(fx->journal);
	fx->journal = jdir;
	kvfs_store_close(w);
}

static void test_causal_token(void **state)
{
	struct fixture *fx = *state;
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
	expect_read(b, "k", KVFS_CAUSAL, "v1");
	MUST(kvfs_store_control(b, KVFS_CTL_CAUSAL_TOKEN_SET, token.data));
	fake_reset_counts(fx->fake);
	expect_read(b, "k", KVFS_CAUSAL, "v2");
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
	struct fixture *fx = *state;
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
	expect_read(s, "e/1", KVFS_STRONG, "uno");
	expect_read(s, "e/1", KVFS_READ_YOUR_WRITES, "uno");
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
	v = fake_get(fx->fake, "kvfs/v/e/1", &len);
	assert_non_null(v);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "uno", 3);
	free(v);
	assert_null(fake_get(fx->fake, "kvfs/v/e/2", &len));
	expect_read(s, "e/1", KVFS_STRONG, "uno");
	kvfs_store_close(s);
}

/* A strong write waits for earlier eventual writes of the mount, so the
 * cluster sees them in write order. */
static void test_write_order_across_levels(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "timeout=3s");
	char *v;
	size_t len;

	MUST(kvfs_store_put(s, "o", "eventual", 8, KVFS_EVENTUAL));
	MUST(kvfs_store_put(s, "o", "strong", 6, KVFS_STRONG));
	v = fake_get(fx->fake, "kvfs/v/o", &len);
	assert_non_null(v);
	assert_int_equal(len, 6);
	assert_memory_equal(v, "strong", 6);
	free(v);
	kvfs_store_close(s);
}

/* ------------------------------------------------------- authentication */

static void test_authentication(void **state)
{
	struct fixture *fx = *state;
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
	assert_int_equal(open_with(fx, fake_url(fx->fake), extra, &s),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "alice"));
	assert_null(strchr(kvfs_error_message(), '\n'));
	print_message("wrong password: %s\n", kvfs_error_message());

	f = fopen(pwfile, "w");
	fputs("secret\n", f);
	fclose(f);
	MUST(open_with(fx, fake_url(fx->fake), extra, &s));
	/* Tokens expire after 3 requests: the backend logs in again. */
	for (int i = 0; i < 5; i++) {
		char v[16];

		snprintf(v, sizeof(v), "v%d", i);
		MUST(kvfs_store_put(s, "auth/k", v, strlen(v), KVFS_STRONG));
		expect_read(s, "auth/k", KVFS_STRONG, v);
	}
	fake_counts(fx->fake, &c);
	assert_true(c.logins >= 3);
	assert_true(c.rejected_tokens >= 2);
	kvfs_store_close(s);
	assert_int_equal(open_with(fx, fake_url(fx->fake),
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
	struct fixture *fx = *state;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_malformed_endpoints, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unreachable_at_open, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tls_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_bound, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_leader_fails_in_time,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_strong_reads_linearizable,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_eventual_reads_serializable,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_your_writes_fallback,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_causal_monotonic, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_causal_token, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_eventual_journal, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_order_across_levels,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_authentication, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_watch_starts_and_stops,
						setup, teardown),
	};

	return cmocka_run_group_tests_name("etcd backend, fake gateway", tests,
					   NULL, NULL);
}
