/*
 * tmpstore.c - the conformance targets' common open and close for a
 * backend whose store lives in a directory: a fresh temporary directory
 * per test, removed again with the store.
 */
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "testutil.h"

int kvfs_conformance_tmp_open(void *ctx, struct kvfs_store **out)
{
	struct kvfs_conformance_tmp *t = ctx;
	struct kvfs_options *opts = NULL;
	int rc;

	t->dir = kvfs_test_mkdtemp(t->tag);
	if (!t->dir)
		return kvfs_error_set(KVFS_EFAIL,
				      "cannot make a temporary directory");
	rc = kvfs_options_new(&opts);
	if (rc == 0)
		rc = t->set_options(t->ctx, opts, t->dir);
	if (rc == 0)
		rc = kvfs_store_open(opts, out);
	if (rc == 0 && t->backend &&
	    strcmp(kvfs_store_backend_name(*out), t->backend)) {
		rc = kvfs_error_set(KVFS_EFAIL, "the store's backend is %s, "
				    "want %s", kvfs_store_backend_name(*out),
				    t->backend);
		kvfs_store_close(*out);
	}
	if (rc == 0 && kvfs_options_check_all_taken(opts)) {
		kvfs_store_close(*out);
		rc = KVFS_EFAIL;
	}
	kvfs_options_free(opts);
	if (rc) {
		kvfs_test_rmtree(t->dir);
		free(t->dir);
		t->dir = NULL;
	}
	return rc;
}

void kvfs_conformance_tmp_close(void *ctx, struct kvfs_store *store)
{
	struct kvfs_conformance_tmp *t = ctx;

	kvfs_store_close(store);
	kvfs_test_rmtree(t->dir);
	free(t->dir);
	t->dir = NULL;
}
