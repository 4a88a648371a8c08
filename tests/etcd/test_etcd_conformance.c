/*
 * test_etcd_conformance.c - the conformance suite against the etcd
 * backend on a real 3-member etcd cluster on 127.0.0.1 (ports 24000 to
 * 24005), started by this test and stopped when it ends. Each test gets
 * a fresh key prefix and journal, removed after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvfs/backend.h>

#include "conformance.h"
#include "etcd_test_cluster.h"
#include "testutil.h"

#define BASE_PORT 24000

struct etcd_ctx {
	char *endpoints;
	char *first;   /* the first endpoint, for cleanup */
	char *journal;
	char prefix[64];
	int serial;
};

static int etcd_open(void *arg, struct kvfs_store **out)
{
	struct etcd_ctx *c = arg;
	struct kvfs_options *opts = NULL;
	int rc;

	snprintf(c->prefix, sizeof(c->prefix), "conformance/%d/", ++c->serial);
	c->journal = kvfs_test_mkdtemp("etcd-conf-journal");
	if (!c->journal)
		return kvfs_error_set(KVFS_EFAIL, "no temporary directory");
	rc = kvfs_options_new(&opts);
	if (rc == 0)
		rc = kvfs_options_set(opts, "backend", "etcd");
	if (rc == 0)
		rc = kvfs_options_set(opts, "endpoints", c->endpoints);
	if (rc == 0)
		rc = kvfs_options_set(opts, "prefix", c->prefix);
	if (rc == 0)
		rc = kvfs_options_set(opts, "journal", c->journal);
	if (rc == 0)
		rc = kvfs_options_set(opts, "timeout", "10s");
	if (rc == 0)
		rc = kvfs_store_open(opts, out);
	if (rc == 0 && kvfs_options_check_all_taken(opts)) {
		kvfs_store_close(*out);
		rc = KVFS_EFAIL;
	}
	kvfs_options_free(opts);
	return rc;
}

static void etcd_close(void *arg, struct kvfs_store *store)
{
	struct etcd_ctx *c = arg;
	uint64_t ms = 10000;

	kvfs_store_control(store, KVFS_CTL_DRAIN, &ms);
	kvfs_store_close(store);
	etcd_test_delete_prefix(c->first, c->prefix);
	kvfs_test_rmtree(c->journal);
	free(c->journal);
	c->journal = NULL;
}

int main(void)
{
	struct etcd_ctx ctx = { 0 };
	struct kvfs_conformance_target target = {
		.name = "etcd",
		.open = etcd_open,
		.close = etcd_close,
		.ctx = &ctx,
		.max_value = 16u << 20, /* the backend's default max_value */
	};
	int failures;

	etcd_test_require_etcd();
	ctx.endpoints = etcd_test_cluster_start("etcd-conformance", 3,
						BASE_PORT);
	if (!ctx.endpoints) {
		fprintf(stderr, "cannot start the etcd cluster on ports %d+\n",
			BASE_PORT);
		return 1;
	}
	ctx.first = strndup(ctx.endpoints, strcspn(ctx.endpoints, ","));
	printf("etcd cluster: %s\n", ctx.endpoints);
	failures = kvfs_conformance_run(&target);
	free(ctx.first);
	free(ctx.endpoints);
	return failures ? 1 : 0;
}
