/*
 * testutil.h - small helpers shared by the tests: temporary directories
 * that are removed again, and reading a whole file.
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

#endif
