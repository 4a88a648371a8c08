/*
 * test_conformance_sqlite.c - the conformance suite against the SQLite
 * plugin loaded through backend=plugin, each test with a fresh database
 * file (sync=false: the suite checks behaviour, not power-loss safety).
 */
#include <stdio.h>

#include "conformance.h"

static int sqlite_options(void *ctx, struct kvfs_options *opts,
			  const char *dir)
{
	char popts[512];
	int rc;

	(void)ctx;
	snprintf(popts, sizeof(popts), "db=%s/kv.db;sync=false", dir);
	rc = kvfs_options_set(opts, "backend", "plugin");
	if (rc == 0)
		rc = kvfs_options_set(opts, "plugin", SQLITE_PLUGIN);
	if (rc == 0)
		rc = kvfs_options_set(opts, "plugin_opts", popts);
	return rc;
}

int main(void)
{
	struct kvfs_conformance_tmp tmp = {
		.tag = "conformance-sqlite",
		.set_options = sqlite_options,
	};
	const struct kvfs_conformance_target target = {
		.name = "sqlite",
		.open = kvfs_conformance_tmp_open,
		.close = kvfs_conformance_tmp_close,
		.ctx = &tmp,
		.max_value = 16u << 20, /* the plugin's default max_value */
	};

	return kvfs_conformance_run(&target) ? 1 : 0;
}
