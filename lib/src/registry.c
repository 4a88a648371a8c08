/*
 * registry.c - the built-in backends by name, for backend=NAME.
 */
#include <string.h>

#include "store_internal.h"

typedef int (*backend_open_fn)(struct kvfs_options *opts,
			       struct kvfs_backend **out);

static const struct {
	const char *name;
	backend_open_fn open;
} backends[] = {
	{ "local", kvfs_local_open },
	{ "etcd", kvfs_etcd_open },
	{ "plugin", kvfs_plugin_open },
};

int kvfs_registry_open(const char *name, struct kvfs_options *opts,
		       struct kvfs_backend **out)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(name, backends[i].name))
			return backends[i].open(opts, out);
	return kvfs_error_set(KVFS_EINVAL,
		"unknown backend '%s': use local, etcd, plugin", name);
}
