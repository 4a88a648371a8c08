/*
 * etcd_conformance.h - the conformance target of a store on the etcd
 * backend (alone or under the cache), on a cluster the test started: each
 * test gets a fresh key prefix and journal directory; after it the store
 * drains its journal, closes, and both are removed.
 */
#ifndef KVFS_ETCD_CONFORMANCE_H
#define KVFS_ETCD_CONFORMANCE_H

#include "conformance.h"

struct etcd_conformance {
	const char *options;     /* -o text: "backend=etcd,timeout=10s" ... */
	const char *prefix_base; /* each test's prefix is <base><n>/ */
	const char *endpoints;   /* the cluster (borrowed) */
	const char *backend;     /* the store must name it; NULL: any */
	/* Set up by etcd_conformance_init: */
	struct kvfs_conformance_tmp tmp; /* the journal directory */
	char *first;             /* the first endpoint, for cleanup */
	char prefix[64];
	int serial;
};

/* Fill in what the target needs from the fields above; 0 or -1. */
int etcd_conformance_init(struct etcd_conformance *ec);
/* Free what etcd_conformance_init allocated. */
void etcd_conformance_fini(struct etcd_conformance *ec);

/* A kvfs_conformance_target's open and close; ctx is the etcd_conformance. */
int etcd_conformance_open(void *ctx, struct kvfs_store **out);
void etcd_conformance_close(void *ctx, struct kvfs_store *store);

#endif
