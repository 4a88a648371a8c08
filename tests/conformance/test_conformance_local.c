/*
 * test_conformance_local.c - the conformance suite against the local
 * backend, each test in a fresh root directory (default options, so
 * values are synced as users get them).
 */
#include "conformance.h"

static int local_options(void *ctx, struct kvfs_options *opts,
			 const char *dir)
{
	(void)ctx;
	return kvfs_options_set(opts, "root", dir);
}

int main(void)
{
	struct kvfs_conformance_tmp tmp = {
		.tag = "conformance",
		.set_options = local_options,
	};
	const struct kvfs_conformance_target local = {
		.name = "local",
		.open = kvfs_conformance_tmp_open,
		.close = kvfs_conformance_tmp_close,
		.ctx = &tmp,
		.max_value = 0,
	};

	return kvfs_conformance_run(&local) ? 1 : 0;
}
