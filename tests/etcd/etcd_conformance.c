/*
 * etcd_conformance.c - open and close of the etcd conformance targets
 * (see etcd_conformance.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvfs/backend.h>

#include "etcd_conformance.h"
#include "etcd_test_cluster.h"

static int etcd_options(void *ctx, struct kvfs_options *opts,
			const char *journal)
{
	struct etcd_conformance *ec = ctx;
	int rc;

	rc = kvfs_options_parse(opts, ec->options);
	if (rc == 0)
		rc = kvfs_options_set(opts, "endpoints", ec->endpoints);
	if (rc == 0)
		rc = kvfs_options_set(opts, "prefix", ec->prefix);
	if (rc == 0)
		rc = kvfs_options_set(opts, "journal", journal);
	return rc;
}

int etcd_conformance_init(struct etcd_conformance *ec)
{
	ec->tmp.tag = "etcd-conf-journal";
	ec->tmp.set_options = etcd_options;
	ec->tmp.ctx = ec;
	ec->tmp.backend = ec->backend;
	ec->first = strndup(ec->endpoints, strcspn(ec->endpoints, ","));
	return ec->first ? 0 : -1;
}

void etcd_conformance_fini(struct etcd_conformance *ec)
{
	free(ec->first);
	ec->first = NULL;
}

int etcd_conformance_open(void *ctx, struct kvfs_store **out)
{
	struct etcd_conformance *ec = ctx;

	snprintf(ec->prefix, sizeof(ec->prefix), "%s%d/", ec->prefix_base,
		 ++ec->serial);
	return kvfs_conformance_tmp_open(&ec->tmp, out);
}

void etcd_conformance_close(void *ctx, struct kvfs_store *store)
{
	struct etcd_conformance *ec = ctx;
	uint64_t ms = 10000;

	kvfs_store_control(store, KVFS_CTL_DRAIN, &ms);
	kvfs_conformance_tmp_close(&ec->tmp, store);
	etcd_test_delete_prefix(ec->first, ec->prefix);
}
