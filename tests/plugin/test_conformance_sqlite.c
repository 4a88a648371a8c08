/*
 * test_conformance_sqlite.c - the conformance suite against the SQLite
 * plugin loaded through backend=plugin, each test with a fresh database
 * file (sync=false: the suite checks behaviour, not power-loss safety).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "testutil.h"

struct sqlite_ctx {
	char *dir; /* holds the database of the store now open */
};

static int sqlite_open(void *ctx, struct kvfs_store **out)
{
	struct sqlite_ctx *sc = ctx;
	struct kvfs_options *opts = NULL;
	char popts[512];
	int rc;

	sc->dir = kvfs_test_mkdtemp("conformance-sqlite");
	if (!sc->dir)
		return kvfs_error_set(KVFS_EFAIL, "cannot make a temporary dir");
	snprintf(popts, sizeof(popts), "db=%s/kv.db;sync=false", sc->dir);
	rc = kvfs_options_new(&opts);
	if (rc == 0)
		rc = kvfs_options_set(opts, "backend", "plugin");
	if (rc == 0)
		rc = kvfs_options_set(opts, "plugin", SQLITE_PLUGIN);
	if (rc == 0)
		rc = kvfs_options_set(opts, "plugin_opts", popts);
	if (rc == 0)
		rc = kvfs_store_open(opts, out);
	if (rc == 0 && kvfs_options_check_all_taken(opts)) {
		kvfs_store_close(*out);
		rc = KVFS_EFAIL;
	}
	kvfs_options_free(opts);
	if (rc) {
		kvfs_test_rmtree(sc->dir);
		free(sc->dir);
		sc->dir = NULL;
	}
	return rc;
}

static void sqlite_close(void *ctx, struct kvfs_store *store)
{
	struct sqlite_ctx *sc = ctx;

	kvfs_store_close(store);
	kvfs_test_rmtree(sc->dir);
	free(sc->dir);
	sc->dir = NULL;
}

int main(void)
{
	struct sqlite_ctx ctx = { 0 };
	const struct kvfs_conformance_target target = {
		.name = "sqlite",
		.open = sqlite_open,
		.close = sqlite_close,
		.ctx = &ctx,
		.max_value = 16u << 20, /* the plugin's default max_value */
	};

	return kvfs_conformance_run(&target) ? 1 : 0;
}
