/*
 * test_conformance_cache_local.c - the conformance suite against the local
 * backend wrapped in the cache (cache=1M, the default cache_ttl), each test
 * in a fresh root directory. Values larger than a quarter of the cache
 * pass through uncached, so the 64 MiB streamed test runs too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "testutil.h"

struct cache_ctx {
	char *root; /* the directory of the store now open */
};

static int cache_local_open(void *ctx, struct kvfs_store **out)
{
	struct cache_ctx *cc = ctx;
	struct kvfs_options *opts = NULL;
	int rc;

	cc->root = kvfs_test_mkdtemp("conformance-cache");
	if (!cc->root)
		return kvfs_error_set(KVFS_EFAIL, "cannot make a temporary root");
	rc = kvfs_options_new(&opts);
	if (rc == 0)
		rc = kvfs_options_set(opts, "root", cc->root);
	if (rc == 0)
		rc = kvfs_options_set(opts, "cache", "1M");
	if (rc == 0)
		rc = kvfs_store_open(opts, out);
	if (rc == 0 && strcmp(kvfs_store_backend_name(*out), "cache")) {
		kvfs_store_close(*out);
		rc = kvfs_error_set(KVFS_EFAIL, "cache=1M did not open a cache");
	}
	if (rc == 0 && kvfs_options_check_all_taken(opts)) {
		kvfs_store_close(*out);
		rc = KVFS_EFAIL;
	}
	kvfs_options_free(opts);
	if (rc) {
		kvfs_test_rmtree(cc->root);
		free(cc->root);
		cc->root = NULL;
	}
	return rc;
}

static void cache_local_close(void *ctx, struct kvfs_store *store)
{
	struct cache_ctx *cc = ctx;

	kvfs_store_close(store);
	kvfs_test_rmtree(cc->root);
	free(cc->root);
	cc->root = NULL;
}

int main(void)
{
	struct cache_ctx ctx = { 0 };
	const struct kvfs_conformance_target target = {
		.name = "cache-over-local",
		.open = cache_local_open,
		.close = cache_local_close,
		.ctx = &ctx,
		.max_value = 0,
	};

	return kvfs_conformance_run(&target) ? 1 : 0;
}
