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

/*
 * The open and close of a backend that keeps its data in a directory: a
 * fresh temporary directory for each test, a store opened with the
 * options that set_options adds for it, both removed after the test.
 * Use as a target's .open = kvfs_conformance_tmp_open, .close =
 * kvfs_conformance_tmp_close, .ctx = a struct kvfs_conformance_tmp, or
 * call them from the target's own open and close.
 */
struct kvfs_conformance_tmp {
	const char *tag;     /* part of the directory's name */
	/* Add the store's options; dir is the fresh directory. 0 or an error. */
	int (*set_options)(void *ctx, struct kvfs_options *opts,
			   const char *dir);
	void *ctx;           /* passed to set_options */
	const char *backend; /* when not NULL, the store must name this backend */
	char *dir;           /* the directory of the store now open, or NULL */
};

/* ctx is a struct kvfs_conformance_tmp. Makes tmp->dir, opens the store
 * into *out and checks that every option was taken (and the backend's
 * name). On failure nothing is left: no store, no directory. */
int kvfs_conformance_tmp_open(void *ctx, struct kvfs_store **out);

/* ctx is a struct kvfs_conformance_tmp. Closes store, removes tmp->dir. */
void kvfs_conformance_tmp_close(void *ctx, struct kvfs_store *store);

#endif
