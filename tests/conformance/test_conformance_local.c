/*
 * test_conformance_local.c - the conformance suite against the local
 * backend, each test in a fresh root directory (default options, so
 * values are synced as users get them).
 */
#include <stdio.h>
#include <stdlib.h>

#include "conformance.h"
#include "testutil.h"

struct local_ctx {
	char *root; /* the directory of the store now open */
};

static int local_open(void *ctx, struct kvfs_store **out)
{
	struct local_ctx *lc = ctx;
	struct kvfs_options *opts = NULL;
	int rc;

	lc->root = kvfs_test_mkdtemp("conformance");
	if (!lc->root)
		return kvfs_error_set(KVFS_EFAIL, "cannot make a temporary root");
	rc = kvfs_options_new(&opts);
	if (rc == 0)
		rc = kvfs_options_set(opts, "root", lc->root);
	if (rc == 0)
		rc = kvfs_store_open(opts, out);
	if (rc == 0 && kvfs_options_check_all_taken(opts)) {
		kvfs_store_close(*out);
		rc = KVFS_EFAIL;
	}
	kvfs_options_free(opts);
	if (rc) {
		kvfs_test_rmtree(lc->root);
		free(lc->root);
		lc->root = NULL;
	}
	return rc;
}

static void local_close(void *ctx, struct kvfs_store *store)
{
	struct local_ctx *lc = ctx;

	kvfs_store_close(store);
	kvfs_test_rmtree(lc->root);
	free(lc->root);
	lc->root = NULL;
}

int main(void)
{
	struct local_ctx ctx = { 0 };
	const struct kvfs_conformance_target local = {
		.name = "local",
		.open = local_open,
		.close = local_close,
		.ctx = &ctx,
		.max_value = 0,
	};

	return kvfs_conformance_run(&local) ? 1 : 0;
}
