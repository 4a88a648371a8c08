/*
 * uses_libkvfs.c - a program of a user's, built against the installed
 * library with `pkg-config --cflags --libs kvfs` (test_deb.sh): stores a
 * value in a local root and reads it back.
 *
 *   uses_libkvfs ROOT KEY VALUE    prints the value read back
 */
#include <stdio.h>
#include <string.h>

#include <kvfs/kvfs.h>

int main(int argc, char **argv)
{
	struct kvfs_options *opts = NULL;
	struct kvfs_store *store = NULL;
	struct kvfs_buf value = { 0 };
	int rc = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: uses_libkvfs ROOT KEY VALUE\n");
		return 2;
	}
	if (kvfs_options_new(&opts) || kvfs_options_set(opts, "root", argv[1]) ||
	    kvfs_store_open(opts, &store) ||
	    kvfs_store_put(store, argv[2], argv[3], strlen(argv[3]),
			   KVFS_STRONG) ||
	    kvfs_store_get(store, argv[2], KVFS_STRONG, &value)) {
		fprintf(stderr, "uses_libkvfs: %s\n", kvfs_error_message());
		goto out;
	}
	printf("%.*s\n", (int)value.len, (const char *)value.data);
	rc = 0;
out:
	kvfs_buf_free(&value);
	kvfs_store_close(store);
	kvfs_options_free(opts);
	return rc;
}
