/*
 * testutil.h - small helpers shared by the tests: temporary directories
 * that are removed again, reading a whole file, long names and keys.
 */
#ifndef KVFS_TESTUTIL_H
#define KVFS_TESTUTIL_H

#include <stddef.h>

/* Create a fresh directory under $TMPDIR (or /tmp); returns a malloc'd
 * path, or NULL. `tag` becomes part of the name. */
char *kvfs_test_mkdtemp(const char *tag);

/* Remove a directory tree, however deep; returns 0 or -1. Does not follow
 * symlinks. */
int kvfs_test_rmtree(const char *path);

/* Read a whole file into a malloc'd buffer; *len gets its size. */
char *kvfs_test_read_file(const char *path, size_t *len);

/* A malloc'd string of n times c. Aborts when out of memory. */
char *kvfs_test_repeat(char c, size_t n);

/* A malloc'd key of exactly len bytes: components of `component` bytes
 * of 'k' joined by '/' (the last may be shorter). Aborts when out of
 * memory. */
char *kvfs_test_key_of_len(size_t len, size_t component);

#endif
