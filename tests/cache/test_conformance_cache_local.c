/*
 * test_conformance_cache_local.c - the conformance suite against the local
 * backend wrapped in the cache (cache=1M, the default cache_ttl), each test
 * in a fresh root directory. Values larger than a quarter of the cache
 * pass through uncached, so the 64 MiB streamed test runs too.
 */
#include "conformance.h"

static int cache_local_options(void *ctx, struct kvfs_options *opts,
			       const char *dir)
{
	int rc;

	(void)ctx;
	rc = kvfs_options_set(opts, "root", dir);
	if (rc == 0)
		rc = kvfs_options_set(opts, "cache", "1M");
	return rc;
}

int main(void)
{
	struct kvfs_conformance_tmp tmp = {
		.tag = "conformance-cache",
		.set_options = cache_local_options,
		.backend = "cache", /* cache=1M must open a cache */
	};
	const struct kvfs_conformance_target target = {
		.name = "cache-over-local",
		.open = kvfs_conformance_tmp_open,
		.close = kvfs_conformance_tmp_close,
		.ctx = &tmp,
		.max_value = 0,
	};

	return kvfs_conformance_run(&target) ? 1 : 0;
}
