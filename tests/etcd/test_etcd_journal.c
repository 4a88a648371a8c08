/*
 * test_etcd_journal.c - the eventual journal and watches of the etcd
 * backend on a real 3-member cluster (ports 24010 to 24015) that the
 * test starts, disturbs (two members killed: no quorum) and stops:
 *   - eventual writes are acknowledged without quorum, a strong write
 *     fails within the timeout;
 *   - a process killed with SIGKILL leaves its journal; the next open
 *     replicates every entry, in write order, none lost;
 *   - the conflict rule: an eventual write replicated after a newer
 *     write of another mount wins (last replicated wins);
 *   - eventual writes of one store converge on another that prefers a
 *     different member; watches report changes made elsewhere.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>

#include <kvfs/backend.h>
#include <kvfs/kvfs.h>

#include "etcd_test.h"
#include "etcd_test_cluster.h"
#include "testutil.h"

#define BASE_PORT 24010
#define SEQ_WRITES 30
#define KEYS 10

static char *endpoints;
static char *first_endpoint; /* for direct cleanup calls */

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += strlen(de->d_name) == 20 && strstr(de->d_name, ".ent");
	closedir(d);
	return n;
}

/* The writes of the crashed process, in order. */
static void crashing_writer(const char *journal)
{
	struct kvfs_store *s = NULL;
	char key[32], value[32];
	uint64_t t0;
	int rc;

	if (etcd_test_open(endpoints, journal, "prefix=jt/,timeout=2s", &s)) {
		fprintf(stderr, "child: open: %s\n", kvfs_error_message());
		_exit(2);
	}
	MUST(kvfs_store_put(s, "conflict", "from-A", 6, KVFS_EVENTUAL));
	for (int i = 1; i <= SEQ_WRITES; i++) {
		snprintf(value, sizeof(value), "%d", i);
		t0 = etcd_test_now_ms();
		MUST(kvfs_store_put(s, "seq", value, strlen(value),
				    KVFS_EVENTUAL));
		if (etcd_test_now_ms() - t0 > 1000)
			_exit(3); /* an eventual write waited for etcd */
	}
	for (int i = 0; i < KEYS; i++) {
		snprintf(key, sizeof(key), "dir/k%d", i);
		snprintf(value, sizeof(value), "value %d", i);
		MUST(kvfs_store_put(s, key, value, strlen(value),
				    KVFS_EVENTUAL));
	}
	MUST(kvfs_store_delete(s, "dir/k9", KVFS_EVENTUAL));
	etcd_test_expect_read(s, "seq", KVFS_CAUSAL, "30");
	/* A strong write needs the quorum: it fails within the timeout. */
	t0 = etcd_test_now_ms();
	rc = kvfs_store_put(s, "strong", "x", 1, KVFS_STRONG);
	if (rc != KVFS_ETIMEDOUT || etcd_test_now_ms() - t0 > 3500) {
		fprintf(stderr, "child: strong put gave %d after %llu ms\n",
			rc, (unsigned long long)(etcd_test_now_ms() - t0));
		_exit(4);
	}
	fprintf(stderr, "child: strong put failed after %llu ms: %s\n",
		(unsigned long long)(etcd_test_now_ms() - t0),
		kvfs_error_message());
	/* A crash: no close, nothing flushed beyond what put promised. */
	kill(getpid(), SIGKILL);
	_exit(5);
}

static void test_crash_and_replay(void **state)
{
	char *journal = kvfs_test_mkdtemp("etcd-journal-a");
	char *journal_b = kvfs_test_mkdtemp("etcd-journal-b");
	struct kvfs_store *a = NULL, *b = NULL;
	struct kvfs_stat st;
	struct kvfs_buf got = { 0 };
	uint64_t prev = 0, t0;
	int status, entries;
	pid_t pid;

	(void)state;
	assert_int_equal(etcd_test_cluster_cmd("kill", "--member 1"), 0);
	assert_int_equal(etcd_test_cluster_cmd("kill", "--member 2"), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		crashing_writer(journal);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fail_msg("writer ended with status %#x, not by SIGKILL",
			 status);
	entries = count_entries(journal);
	print_message("journal left by the killed writer: %d entries\n",
		      entries);
	assert_true(entries >= 1 + SEQ_WRITES + KEYS + 1 - 1);

	t0 = etcd_test_now_ms();
	assert_int_equal(etcd_test_cluster_cmd("restart", "--member 1"), 0);
	assert_int_equal(etcd_test_cluster_cmd("restart", "--member 2"), 0);
	print_message("quorum back after %llu ms\n",
		      (unsigned long long)(etcd_test_now_ms() - t0));

	/* Another mount writes "conflict" after A journaled its write, but
	 * before A's journal reached etcd. */
	MUST(etcd_test_open(endpoints, journal_b, "prefix=jt/,prefer=1", &b));
	MUST(kvfs_store_put(b, "conflict", "from-B", 6, KVFS_STRONG));

	t0 = etcd_test_now_ms();
	MUST(etcd_test_open(endpoints, journal, "prefix=jt/", &a));
	{
		uint64_t ms = 30000;

		MUST(kvfs_store_control(a, KVFS_CTL_DRAIN, &ms));
	}
	print_message("replayed %d entries in %llu ms\n", entries,
		      (unsigned long long)(etcd_test_now_ms() - t0));
	assert_int_equal(count_entries(journal), 0);

	/* Everything arrived, as B sees it with strong reads. */
	etcd_test_expect_read(b, "seq", KVFS_STRONG, "30");
	for (int i = 0; i < KEYS - 1; i++) {
		char key[32], value[32];

		snprintf(key, sizeof(key), "dir/k%d", i);
		snprintf(value, sizeof(value), "value %d", i);
		etcd_test_expect_read(b, key, KVFS_STRONG, value);
		/* In write order: each key's revision above the last. */
		MUST(kvfs_store_stat(b, key, KVFS_STRONG, &st));
		assert_true(st.version > prev);
		prev = st.version;
	}
	assert_int_equal(kvfs_store_get(b, "dir/k9", KVFS_STRONG, &got),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_get(b, "strong", KVFS_STRONG, &got),
			 KVFS_ENOTFOUND);
	/* Last replicated wins: A's older eventual write replaced B's. */
	etcd_test_expect_read(b, "conflict", KVFS_STRONG, "from-A");
	kvfs_store_close(a);
	kvfs_store_close(b);
	etcd_test_delete_prefix(first_endpoint, "jt/");
	kvfs_test_rmtree(journal);
	kvfs_test_rmtree(journal_b);
	free(journal);
	free(journal_b);
}

struct seen {
	pthread_mutex_t lock;
	int hits;
	char last[256];
};

static void on_change(void *ctx, const char *key)
{
	struct seen *s = ctx;

	pthread_mutex_lock(&s->lock);
	if (key && !strcmp(key, "watched/file"))
		s->hits++;
	if (key)
		snprintf(s->last, sizeof(s->last), "%s", key);
	pthread_mutex_unlock(&s->lock);
}

static void test_converge_and_watch(void **state)
{
	char *ja = kvfs_test_mkdtemp("etcd-journal-c");
	char *jb = kvfs_test_mkdtemp("etcd-journal-d");
	struct kvfs_store *a = NULL, *b = NULL;
	struct seen seen = { PTHREAD_MUTEX_INITIALIZER, 0, "" };
	struct kvfs_watch watch = { .changed = on_change, .ctx = &seen };
	struct kvfs_buf got = { 0 }, stats = { 0 };
	uint64_t t0, waited;
	int hits = 0;

	(void)state;
	MUST(etcd_test_open(endpoints, ja, "prefix=cv/,prefer=0", &a));
	MUST(etcd_test_open(endpoints, jb, "prefix=cv/,prefer=2", &b));
	MUST(kvfs_store_control(b, KVFS_CTL_WATCH, &watch));
	usleep(300000); /* let the watch start */

	t0 = etcd_test_now_ms();
	MUST(kvfs_store_put(a, "news", "fresh", 5, KVFS_EVENTUAL));
	for (;;) {
		int rc = kvfs_store_get(b, "news", KVFS_EVENTUAL, &got);

		if (rc == 0 && got.len == 5 && !memcmp(got.data, "fresh", 5))
			break;
		kvfs_buf_free(&got);
		if (etcd_test_now_ms() - t0 > 5000)
			fail_msg("eventual write did not converge in 5 s");
		usleep(2000);
	}
	kvfs_buf_free(&got);
	waited = etcd_test_now_ms() - t0;
	print_message("eventual write on A seen by B (other member) after "
		      "%llu ms\n", (unsigned long long)waited);

	MUST(kvfs_store_put(a, "watched/file", "1", 1, KVFS_STRONG));
	t0 = etcd_test_now_ms();
	while (etcd_test_now_ms() - t0 < 5000) {
		pthread_mutex_lock(&seen.lock);
		hits = seen.hits;
		pthread_mutex_unlock(&seen.lock);
		if (hits)
			break;
		usleep(5000);
	}
	if (!hits)
		fail_msg("watch did not report watched/file (last: %s)",
			 seen.last);
	print_message("watch reported the change after %llu ms\n",
		      (unsigned long long)(etcd_test_now_ms() - t0));
	MUST(kvfs_store_control(b, KVFS_CTL_STATS_TEXT, &stats));
	print_message("%s", (char *)stats.data);
	kvfs_buf_free(&stats);
	kvfs_store_close(a);
	kvfs_store_close(b);
	etcd_test_delete_prefix(first_endpoint, "cv/");
	kvfs_test_rmtree(ja);
	kvfs_test_rmtree(jb);
	free(ja);
	free(jb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_converge_and_watch),
		cmocka_unit_test(test_crash_and_replay),
	};
	int rc;

	etcd_test_require_etcd();
	endpoints = etcd_test_cluster_start("etcd-journal", 3, BASE_PORT);
	if (!endpoints) {
		fprintf(stderr, "cannot start the etcd cluster on ports %d+\n",
			BASE_PORT);
		return 1;
	}
	first_endpoint = strndup(endpoints, strcspn(endpoints, ","));
	rc = cmocka_run_group_tests_name("etcd journal and watch", tests,
					 NULL, NULL);
	free(first_endpoint);
	free(endpoints);
	return rc;
}
