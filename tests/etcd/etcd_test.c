/*
 * etcd_test.c - the helpers of etcd_test.h shared by the etcd backend's
 * cmocka tests.
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

#include "etcd_test.h"
#include "testutil.h"

uint64_t etcd_test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Wait for the chunk collection that each open starts in the
 * background (its requests would count towards a test's figures). */
static void collection_wait(struct kvfs_store *s)
{
	for (int waited = 0; waited < 10000; waited += 10) {
		struct kvfs_buf stats = { 0 };
		bool running;

		MUST(kvfs_store_control(s, KVFS_CTL_STATS_TEXT, &stats));
		running = strstr(stats.data, "etcd_chunk_collection: running");
		kvfs_buf_free(&stats);
		if (!running)
			return;
		usleep(10000);
	}
	fail_msg("the chunk collection still runs 10 s after the open");
}

int etcd_test_open(const char *endpoints, const char *journal,
		   const char *extra, struct kvfs_store **out)
{
	struct kvfs_options *opts = NULL;
	char *text = NULL;
	int rc;

	assert_true(asprintf(&text, "backend=etcd%s%s%s%s",
			     journal ? ",journal=" : "", journal ? journal : "",
			     extra ? "," : "", extra ? extra : "") > 0);
	MUST(kvfs_options_new(&opts));
	MUST(kvfs_options_parse(opts, text));
	if (endpoints)
		MUST(kvfs_options_set(opts, "endpoints", endpoints));
	rc = kvfs_store_open(opts, out);
	if (rc == 0 && kvfs_options_check_all_taken(opts))
		fail_msg("option left untaken: %s", kvfs_error_message());
	if (rc == 0)
		collection_wait(*out);
	kvfs_options_free(opts);
	free(text);
	return rc;
}

void etcd_test_expect_read(struct kvfs_store *s, const char *key,
			   enum kvfs_consistency level, const char *want)
{
	struct kvfs_buf got = { 0 };

	MUST(kvfs_store_get(s, key, level, &got));
	if (got.len != strlen(want) || memcmp(got.data, want, got.len))
		fail_msg("get %s at %s: '%.*s', want '%s'", key,
			 kvfs_consistency_name(level), (int)got.len,
			 got.data ? (char *)got.data : "", want);
	kvfs_buf_free(&got);
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

int etcd_test_fake_setup(void **state)
{
	struct etcd_test_fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->fake = fake_start();
	fx->journal = kvfs_test_mkdtemp("etcd-journal");
	dead_port(fx->dead_url, sizeof(fx->dead_url));
	if (!fx->fake || !fx->journal)
		return -1;
	*state = fx;
	return 0;
}

int etcd_test_fake_teardown(void **state)
{
	struct etcd_test_fixture *fx = *state;

	fake_stop(fx->fake);
	kvfs_test_rmtree(fx->journal);
	free(fx->journal);
	free(fx);
	return 0;
}
