/*
 * test_conformance_cache_etcd.c - the conformance suite against the etcd
 * backend wrapped in the cache (cache=1M), on a single-member etcd on
 * 127.0.0.1 (client port 26381, peer 26382) started by this test and
 * stopped when it ends. SKIPPED (77) without etcd. Each test gets a fresh
 * key prefix and journal, removed after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvfs/backend.h>

#include "conformance.h"
#include "etcd_test_cluster.h"
#include "testutil.h"

#define BASE_PORT 26381

struct etcd_ctx {
	char *endpoints;
	char *journal;
	char prefix[64];
	int serial;
};

static int cache_etcd_open(void *arg, struct kvfs_store **out)
{
	struct etcd_ctx *c = arg;
	struct kvfs_options *opts = NULL;
	int rc;

	snprintf(c->prefix, sizeof(c->prefix), "cache-conformance/%d/",
		 ++c->serial);
	c->journal = kvfs_test_mkdtemp("cache-etcd-journal");
	if (!c->journal)
		return kvfs_error_set(KVFS_EFAIL, "no temporary directory");
	rc = kvfs_options_new(&opts);
	if (rc == 0)
		rc = kvfs_options_parse(opts,
			"backend=etcd,cache=1M,cache_ttl=1s,timeout=10s");
	if (rc == 0)
		rc = kvfs_options_set(opts, "endpoints", c->endpoints);
	if (rc == 0)
		rc = kvfs_options_set(opts, "prefix", c->prefix);
	if (rc == 0)
		rc = kvfs_options_set(opts, "journal", c->journal);
	if (rc == 0)
		rc = kvfs_store_open(opts, out);
	if (rc == 0 && (strcmp(kvfs_store_backend_name(*out), "cache") ||
			kvfs_options_check_all_taken(opts))) {
		kvfs_store_close(*out);
		rc = KVFS_EFAIL;
	}
	kvfs_options_free(opts);
	if (rc) {
		kvfs_test_rmtree(c->journal);
		free(c->journal);
		c->journal = NULL;
	}
	return rc;
}

static void cache_etcd_close(void *arg, struct kvfs_store *store)
{
	struct etcd_ctx *c = arg;
	uint64_t ms = 10000;

	kvfs_store_control(store, KVFS_CTL_DRAIN, &ms);
	kvfs_store_close(store);
	etcd_test_delete_prefix(c->endpoints, c->prefix);
	kvfs_test_rmtree(c->journal);
	free(c->journal);
	c->journal = NULL;
}

int main(void)
{
	struct etcd_ctx ctx = { 0 };
	const struct kvfs_conformance_target target = {
		.name = "cache-over-etcd",
		.open = cache_etcd_open,
		.close = cache_etcd_close,
		.ctx = &ctx,
		.max_value = 16u << 20, /* the etcd backend's default */
	};
	int failures;

	etcd_test_require_etcd();
	ctx.endpoints = etcd_test_cluster_start("cache-etcd-conformance", 1,
						BASE_PORT);
	if (!ctx.endpoints) {
		fprintf(stderr, "cannot start etcd on port %d\n", BASE_PORT);
		return 1;
	}
	printf("etcd: %s\n", ctx.endpoints);
	failures = kvfs_conformance_run(&target);
	free(ctx.endpoints);
	return failures ? 1 : 0;
}
