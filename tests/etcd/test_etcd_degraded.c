/*
 * test_etcd_degraded.c - the etcd backend against fake gateways that
 * misbehave the way a real cluster can, deterministically: a member that
 * accepts requests and never answers (a stopped process) costs only the
 * first request its share of the time and is skipped until it answers
 * again; a slow member cannot stretch an operation of several requests
 * past timeout=; a compaction that comes during a paged listing or a
 * chunked read does not fail it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <kvfs/backend.h>
#include <kvfs/kvfs.h>

#include "etcd_test.h"
#include "fake_gateway.h"
#include "testutil.h"

static bool stats_have(struct kvfs_store *s, const char *line)
{
	struct kvfs_buf stats = { 0 };
	bool found;

	MUST(kvfs_store_control(s, KVFS_CTL_STATS_TEXT, &stats));
	found = strstr(stats.data, line) != NULL;
	if (!found)
		print_message("stats lack '%s':\n%s", line, (char *)stats.data);
	kvfs_buf_free(&stats);
	return found;
}

/* Wait up to ms for a line in the stats. */
static bool stats_soon(struct kvfs_store *s, const char *line, int ms)
{
	for (int waited = 0; waited < ms; waited += 50) {
		struct kvfs_buf stats = { 0 };
		bool found;

		MUST(kvfs_store_control(s, KVFS_CTL_STATS_TEXT, &stats));
		found = strstr(stats.data, line) != NULL;
		kvfs_buf_free(&stats);
		if (found)
			return true;
		usleep(50000);
	}
	return stats_have(s, line);
}

static uint64_t since(uint64_t t0)
{
	return etcd_test_now_ms() - t0;
}

/* Put n files f00000 ... at the root of the fake's kvfs/ prefix. */
static void fill_root(struct fake_gateway *f, int n)
{
	for (int i = 0; i < n; i++) {
		char key[64];

		snprintf(key, sizeof(key), "kvfs/f%05d", i);
		fake_put(f, key, "", 0);
	}
}

/* ------------------------------------------------------ a hung member */

/* Member 0 (the preferred one) hangs: the first request waits for it
 * only its share of timeout= and goes on to member 1; later requests,
 * linearizable or serializable, skip it at once. Once it answers again,
 * the probe finds out and serializable reads go back to it. */
static void test_hung_member_skipped(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct fake_gateway *hung = fake_start();
	struct kvfs_store *s = NULL;
	struct fake_counts before, after;
	struct kvfs_buf got = { 0 };
	char eps[256];
	uint64_t t0, ms;

	assert_non_null(hung);
	snprintf(eps, sizeof(eps), "%s,%s", fake_url(hung),
		 fake_url(fx->fake));
	MUST(etcd_test_open(eps, fx->journal, "timeout=2s,prefer=0", &s));
	fake_set_mode(hung, FAKE_HANG);

	t0 = etcd_test_now_ms();
	MUST(kvfs_store_put(s, "k", "v", 1, KVFS_STRONG));
	ms = since(t0);
	print_message("first write, member 0 hung: %llu ms\n",
		      (unsigned long long)ms);
	assert_true(ms < 2000 + 300);
	for (int i = 0; i < 5; i++) {
		t0 = etcd_test_now_ms();
		etcd_test_expect_read(s, "k", KVFS_EVENTUAL, "v");
		etcd_test_expect_read(s, "k", KVFS_STRONG, "v");
		MUST(kvfs_store_put(s, "k", "v", 1, KVFS_STRONG));
		ms = since(t0);
		if (ms >= 1000)
			fail_msg("3 calls took %llu ms: the hung member was "
				 "not skipped", (unsigned long long)ms);
	}
	assert_true(stats_have(s, "etcd_members_not_answering: 1\n"));
	assert_true(stats_have(s, "etcd_member_timeouts: 1\n"));

	/* It answers again: the probe hears it, and serializable reads
	 * go to the preferred member again. */
	fake_set_mode(hung, FAKE_NORMAL);
	assert_true(stats_soon(s, "etcd_members_not_answering: 0\n", 3000));
	fake_counts(hung, &before);
	/* Its own key space: whatever it answers, it was asked. */
	kvfs_store_get(s, "k", KVFS_EVENTUAL, &got);
	kvfs_buf_free(&got);
	fake_counts(hung, &after);
	assert_true(after.serializable_reads > before.serializable_reads);
	kvfs_store_close(s);
	fake_stop(hung);
}

/* Every member hangs: the call still ends within timeout=, and a
 * single member that hangs is still tried (there is no other). */
static void test_all_hung_bounded(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = NULL;
	struct kvfs_buf got = { 0 };
	uint64_t t0;

	MUST(etcd_test_open(fake_url(fx->fake), fx->journal, "timeout=700ms",
			    &s));
	MUST(kvfs_store_put(s, "k", "v", 1, KVFS_STRONG));
	fake_set_mode(fx->fake, FAKE_HANG);
	for (int i = 0; i < 2; i++) {
		t0 = etcd_test_now_ms();
		assert_int_equal(kvfs_store_get(s, "k", KVFS_STRONG, &got),
				 KVFS_ETIMEDOUT);
		assert_true(since(t0) >= 650 && since(t0) < 700 + 300);
	}
	fake_set_mode(fx->fake, FAKE_NORMAL);
	etcd_test_expect_read(s, "k", KVFS_STRONG, "v");
	kvfs_store_close(s);
}

/* ---------------------------------------------- one deadline per call */

/* A member that answers each request 400 ms late: an operation of many
 * requests (a put that makes five parent directories, a listing of
 * three pages) fails with ETIMEDOUT once timeout= is used up, instead
 * of taking timeout= per request. */
static void test_operation_deadline(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = NULL;
	struct kvfs_lister *l = NULL;
	struct kvfs_dirent ent;
	uint64_t t0, ms;
	int rc, n = 0;

	/* Without the chunk collection's requests at open: under ASan on a
	 * busy machine they left the listing below short of its second
	 * (timing-bound) page. */
	MUST(etcd_test_open(fake_url(fx->fake), fx->journal,
			    "timeout=1s,collect=0", &s));
	fill_root(fx->fake, 2500);
	fake_set_delay(fx->fake, 400);

	t0 = etcd_test_now_ms();
	rc = kvfs_store_put(s, "a/b/c/d/e/f", "x", 1, KVFS_STRONG);
	ms = since(t0);
	print_message("put below 5 new directories: %s after %llu ms: %s\n",
		      kvfs_error_name(rc), (unsigned long long)ms,
		      kvfs_error_message());
	assert_int_equal(rc, KVFS_ETIMEDOUT);
	assert_true(ms < 1000 + 400);

	/* The put's requests still queued at the fake, and the member that
	 * timed out being skipped, would eat the listing's deadline before
	 * its first page: let the member answer again first. */
	fake_set_delay(fx->fake, 0);
	for (int i = 0; i < 100; i++) {
		if (kvfs_store_put(s, "settled", "1", 1, KVFS_STRONG) == 0)
			break;
		usleep(50 * 1000);
	}
	fake_set_delay(fx->fake, 400);

	t0 = etcd_test_now_ms();
	rc = kvfs_store_list(s, "", KVFS_STRONG, &l);
	if (rc == 0) {
		while ((rc = kvfs_lister_next(l, &ent)) == 1)
			n++;
		kvfs_lister_close(l);
	}
	ms = since(t0);
	print_message("listing of 3 pages: %s after %d entries, %llu ms: %s\n",
		      kvfs_error_name(rc), n, (unsigned long long)ms,
		      kvfs_error_message());
	assert_int_equal(rc, KVFS_ETIMEDOUT);
	/* The first page's names, but its last: a key could still turn
	 * out to be a directory by keys of the next page. On a loaded
	 * machine (ASan) the first page itself may not come within the
	 * second: then no name, and the same bound. */
	assert_true((n >= 999 && n < 2500) || n == 0);
	assert_true(ms < 1000 + 400);

	/* Without the delay the same operations succeed. */
	fake_set_delay(fx->fake, 0);
	MUST(kvfs_store_put(s, "a/b/c/d/e/f", "x", 1, KVFS_STRONG));
	kvfs_store_close(s);
}

/* ---------------------------------------------------------- compaction */

/* etcd compacts the revision a listing reads its pages at: the listing
 * goes on at a newer revision and gives every name once. */
static void test_listing_survives_compaction(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = NULL;
	struct kvfs_lister *l = NULL;
	struct kvfs_dirent ent;
	char prev[KVFS_NAME_MAX + 1] = "";
	int rc, got = 0;

	fill_root(fx->fake, 2500);
	MUST(etcd_test_open(fake_url(fx->fake), fx->journal, NULL, &s));
	MUST(kvfs_store_list(s, "", KVFS_STRONG, &l));
	while ((rc = kvfs_lister_next(l, &ent)) == 1) {
		if (strcmp(prev, ent.name) >= 0)
			fail_msg("'%s' listed after '%s'", ent.name, prev);
		snprintf(prev, sizeof(prev), "%s", ent.name);
		/* The first page is read: compact before the second. */
		if (++got == 1)
			fake_compact_on_read(fx->fake, 1);
	}
	if (rc)
		fail_msg("listing ended with %s: %s", kvfs_error_name(rc),
			 kvfs_error_message());
	assert_int_equal(got, 2500);
	kvfs_lister_close(l);
	assert_true(stats_have(s, "etcd_list_restarts: 1\n"));

	/* A compaction before every page read at the listing's revision. */
	fake_compact_on_read(fx->fake, 100);
	l = NULL;
	got = 0;
	prev[0] = '\0';
	MUST(kvfs_store_list(s, "", KVFS_EVENTUAL, &l));
	while ((rc = kvfs_lister_next(l, &ent)) == 1) {
		if (strcmp(prev, ent.name) >= 0)
			fail_msg("'%s' listed after '%s'", ent.name, prev);
		snprintf(prev, sizeof(prev), "%s", ent.name);
		got++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(got, 2500);
	kvfs_lister_close(l);
	assert_true(stats_have(s, "etcd_list_restarts: 3\n"));
	fake_compact_on_read(fx->fake, 0);
	kvfs_store_close(s);
}

/* A value over one request is read in chunks at the revision of its
 * metadata; compacted meanwhile, it is read again. */
static void test_chunked_read_survives_compaction(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = NULL;
	struct kvfs_buf got = { 0 };
	size_t len = 200 * 1024;
	char *value = malloc(len);

	assert_non_null(value);
	for (size_t i = 0; i < len; i++)
		value[i] = (char)('a' + i % 23);
	MUST(etcd_test_open(fake_url(fx->fake), fx->journal,
			    "max_request=64K", &s));
	MUST(kvfs_store_put(s, "big", value, len, KVFS_STRONG));
	fake_compact_on_read(fx->fake, 1);
	MUST(kvfs_store_get(s, "big", KVFS_STRONG, &got));
	assert_int_equal(got.len, len);
	assert_memory_equal(got.data, value, len);
	kvfs_buf_free(&got);
	kvfs_store_close(s);
	free(value);
}

/* The transaction that publishes a large value takes effect, but its
 * answer is "request timed out" (etcd's answer to a proposal it did not
 * see applied in time), so the request goes out again and finds its
 * marker gone: the value was published, by that first attempt, and
 * its chunks must stay. */
static void test_chunked_put_unanswered_publish(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = NULL;
	struct kvfs_buf got = { 0 };
	size_t len = 200 * 1024;
	char *value = malloc(len);
	int rc;

	assert_non_null(value);
	for (size_t i = 0; i < len; i++)
		value[i] = (char)('a' + i % 29);
	MUST(etcd_test_open(fake_url(fx->fake), fx->journal,
			    "max_request=64K,timeout=1s", &s));
	fake_apply_unanswered(fx->fake, 1);
	rc = kvfs_store_put(s, "big", value, len, KVFS_STRONG);
	fake_apply_unanswered(fx->fake, 0);
	assert_int_equal(rc, 0);
	MUST(kvfs_store_get(s, "big", KVFS_STRONG, &got));
	assert_int_equal(got.len, len);
	assert_memory_equal(got.data, value, len);
	kvfs_buf_free(&got);
	/* No attempt answered: the put fails, its outcome unknown, and
	 * the value it did publish still reads whole. */
	value[0] = 'Z';
	fake_apply_unanswered(fx->fake, 1000);
	rc = kvfs_store_put(s, "big", value, len, KVFS_STRONG);
	fake_apply_unanswered(fx->fake, 0);
	assert_int_equal(rc, KVFS_ETIMEDOUT);
	MUST(kvfs_store_get(s, "big", KVFS_STRONG, &got));
	assert_int_equal(got.len, len);
	assert_memory_equal(got.data, value, len);
	kvfs_buf_free(&got);
	kvfs_store_close(s);
	free(value);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		ETCD_FAKE_TEST(test_hung_member_skipped),
		ETCD_FAKE_TEST(test_all_hung_bounded),
		ETCD_FAKE_TEST(test_operation_deadline),
		ETCD_FAKE_TEST(test_listing_survives_compaction),
		ETCD_FAKE_TEST(test_chunked_read_survives_compaction),
		ETCD_FAKE_TEST(test_chunked_put_unanswered_publish),
	};

	return cmocka_run_group_tests_name("etcd backend, degraded cluster",
					   tests, NULL, NULL);
}
