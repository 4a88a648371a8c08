/*
 * conformance.h - the conformance suite every storage backend must pass.
 *
 * A test program describes how to open a fresh store of its backend and
 * calls kvfs_conformance_run(); the suite then runs one cmocka group of
 * tests (values, streaming, stat, directories, listing, rename, delete,
 * attributes, extended attributes, key rules, consistency levels), each
 * against a store opened fresh for it and closed and removed after it.
 *
 * A wrapper that answers KVFS_ENOTSUPPORTED for the backend makes the test
 * that needs it report "SKIPPED: <backend> does not support ..." instead of
 * failing.
 */
#ifndef KVFS_CONFORMANCE_H
#define KVFS_CONFORMANCE_H

#include <stdint.h>

#include <kvfs/kvfs.h>

struct kvfs_conformance_target {
	const char *name;   /* "local", "etcd", "cache-over-local", "sqlite" ... */
	/* Open a fresh, empty store; called before each test. */
	int (*open)(void *ctx, struct kvfs_store **out);
	/* Close it and remove what it stored; called after each test. */
	void (*close)(void *ctx, struct kvfs_store *store);
	void *ctx;
	uint64_t max_value; /* largest value accepted; 0 = unbounded (runs the 64 MiB streamed test) */
};

/* Runs every conformance test as one cmocka group; returns the number of
 * failures. Not reentrant: one run at a time per process. */
int kvfs_conformance_run(const struct kvfs_conformance_target *target);

#endif
