/*
 * test_etcd_conformance.c - the conformance suite against the etcd
 * backend on a real 3-member etcd cluster on 127.0.0.1 (ports 24000 to
 * 24005), started by this test and stopped when it ends. Each test gets
 * a fresh key prefix and journal, removed after it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "etcd_conformance.h"
#include "etcd_test_cluster.h"

#define BASE_PORT 24000

int main(void)
{
	struct etcd_conformance ctx = {
		.options = "backend=etcd,timeout=10s",
		.prefix_base = "conformance/",
	};
	const struct kvfs_conformance_target target = {
		.name = "etcd",
		.open = etcd_conformance_open,
		.close = etcd_conformance_close,
		.ctx = &ctx,
		.max_value = 16u << 20, /* the backend's default max_value */
	};
	char *endpoints;
	int failures;

	etcd_test_require_etcd();
	endpoints = etcd_test_cluster_start("etcd-conformance", 3, BASE_PORT);
	if (!endpoints) {
		fprintf(stderr, "cannot start the etcd cluster on ports %d+\n",
			BASE_PORT);
		return 1;
	}
	ctx.endpoints = endpoints;
	if (etcd_conformance_init(&ctx)) {
		free(endpoints);
		return 1;
	}
	printf("etcd cluster: %s\n", endpoints);
	failures = kvfs_conformance_run(&target);
	etcd_conformance_fini(&ctx);
	free(endpoints);
	return failures ? 1 : 0;
}
