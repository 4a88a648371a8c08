/*
 * test_conformance_cache_etcd.c - the conformance suite against the etcd
 * backend wrapped in the cache (cache=1M), on a single-member etcd on
 * 127.0.0.1 (client port 26381, peer 26382) started by this test and
 * stopped when it ends. SKIPPED (77) without etcd. Each test gets a fresh
 * key prefix and journal, removed after it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "etcd_conformance.h"
#include "etcd_test_cluster.h"

#define BASE_PORT 26381

int main(void)
{
	struct etcd_conformance ctx = {
		.options = "backend=etcd,cache=1M,cache_ttl=1s,timeout=10s",
		.prefix_base = "cache-conformance/",
		.backend = "cache", /* cache=1M must open a cache */
	};
	const struct kvfs_conformance_target target = {
		.name = "cache-over-etcd",
		.open = etcd_conformance_open,
		.close = etcd_conformance_close,
		.ctx = &ctx,
		.max_value = 16u << 20, /* the etcd backend's default */
	};
	char *endpoints;
	int failures;

	etcd_test_require_etcd();
	endpoints = etcd_test_cluster_start("cache-etcd-conformance", 1,
					    BASE_PORT);
	if (!endpoints) {
		fprintf(stderr, "cannot start etcd on port %d\n", BASE_PORT);
		return 1;
	}
	ctx.endpoints = endpoints;
	if (etcd_conformance_init(&ctx)) {
		free(endpoints);
		return 1;
	}
	printf("etcd: %s\n", endpoints);
	failures = kvfs_conformance_run(&target);
	etcd_conformance_fini(&ctx);
	free(endpoints);
	return failures ? 1 : 0;
}
