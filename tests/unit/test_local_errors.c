/*
 * test_local_errors.c - the local backend when its file system refuses
 * the bytes of a value (here a file size limit, RLIMIT_FSIZE with SIGXFSZ
 * ignored: writes past it fail with EFBIG, as a full disk fails them with
 * ENOSPC): a put, a writer's write and truncation, and a writer copying a
 * large base value each fail with KVFS_ETOOLARGE or a message, the stored
 * value stays the old one, and no temporary file is left behind. And a
 * root whose lock file is no plain file of its own is refused.
 */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <kvfs/backend.h>

#include "testutil.h"

#define LIMIT 16384
#define BIG (4 * LIMIT)

struct fixture {
	char *root;
	struct kvfs_store *store;
	struct rlimit saved;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct kvfs_options *opts = NULL;

	if (!fx || !(fx->root = kvfs_test_mkdtemp("local-errors")))
		return -1;
	if (kvfs_options_new(&opts) ||
	    kvfs_options_set(opts, "root", fx->root) ||
	    kvfs_store_open(opts, &fx->store))
		return -1;
	kvfs_options_free(opts);
	if (getrlimit(RLIMIT_FSIZE, &fx->saved))
		return -1;
	signal(SIGXFSZ, SIG_IGN);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	setrlimit(RLIMIT_FSIZE, &fx->saved);
	signal(SIGXFSZ, SIG_DFL);
	kvfs_store_close(fx->store);
	kvfs_test_rmtree(fx->root);
	free(fx->root);
	free(fx);
	return 0;
}

static void limit_file_size(struct fixture *fx, bool on)
{
	struct rlimit small = { .rlim_cur = LIMIT,
				.rlim_max = fx->saved.rlim_max };

	assert_int_equal(setrlimit(RLIMIT_FSIZE, on ? &small : &fx->saved), 0);
}

/* Files in ROOT/.kvfs/tmp: the backend's temporary files. */
static int temp_files(const struct fixture *fx)
{
	char path[4096];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "%s/.kvfs/tmp", fx->root);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void assert_value(struct fixture *fx, const char *key, size_t len,
			 char fill)
{
	struct kvfs_buf got = { 0 };

	assert_int_equal(kvfs_store_get(fx->store, key, KVFS_STRONG, &got), 0);
	assert_int_equal(got.len, len);
	for (size_t i = 0; i < len; i++)
		if (((char *)got.data)[i] != fill)
			fail_msg("%s: byte %zu is not '%c'", key, i, fill);
	kvfs_buf_free(&got);
}

static char *filled(size_t len, char fill)
{
	char *p = malloc(len);

	assert_non_null(p);
	memset(p, fill, len);
	return p;
}

static void test_put_refused(void **state)
{
	struct fixture *fx = *state;
	char *big = filled(BIG, 'n');

	assert_int_equal(kvfs_store_put(fx->store, "v", "ooo", 3, KVFS_STRONG),
			 0);
	limit_file_size(fx, true);
	assert_int_equal(kvfs_store_put(fx->store, "v", big, BIG, KVFS_STRONG),
			 KVFS_ETOOLARGE);
	limit_file_size(fx, false);
	assert_true(strlen(kvfs_error_message()) > 0);
	assert_value(fx, "v", 3, 'o');
	assert_int_equal(temp_files(fx), 0);
	free(big);
}

static void test_writer_refused(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_writer *w = NULL;
	char *big = filled(BIG, 'n');
	ssize_t n = 0;
	uint64_t off = 0;

	assert_int_equal(kvfs_store_put(fx->store, "v", "ooo", 3, KVFS_STRONG),
			 0);
	assert_int_equal(kvfs_store_open_writer(fx->store, "v", KVFS_STRONG,
						NULL, &w), 0);
	limit_file_size(fx, true);
	/* The file system takes what fits, then refuses the rest. */
	while (off < BIG && (n = kvfs_writer_pwrite(w, big + off, BIG - off,
						    off)) > 0)
		off += (uint64_t)n;
	assert_int_equal(n, KVFS_ETOOLARGE);
	assert_int_equal(kvfs_writer_truncate(w, 10 * LIMIT), KVFS_ETOOLARGE);
	limit_file_size(fx, false);
	kvfs_writer_abort(w);
	assert_value(fx, "v", 3, 'o');
	assert_int_equal(temp_files(fx), 0);
	free(big);
}

/* A writer starts as a copy of its base value: when that copy is refused,
 * opening the writer fails and leaves nothing. */
static void test_copy_of_base_refused(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_reader *r = NULL;
	struct kvfs_writer *w = NULL;
	char *big = filled(BIG, 'b');

	assert_int_equal(kvfs_store_put(fx->store, "big", big, BIG,
					KVFS_STRONG), 0);
	assert_int_equal(kvfs_store_open_reader(fx->store, "big", KVFS_STRONG,
						&r), 0);
	limit_file_size(fx, true);
	assert_int_not_equal(kvfs_store_open_writer(fx->store, "big",
						    KVFS_STRONG, r, &w), 0);
	limit_file_size(fx, false);
	assert_true(strlen(kvfs_error_message()) > 0);
	kvfs_reader_close(r);
	assert_value(fx, "big", BIG, 'b');
	assert_int_equal(temp_files(fx), 0);
	free(big);
}

/* ROOT/.kvfs/lock that is no plain file of its own (a directory, or a
 * file with another name too): the open is refused with a message saying
 * what to do, and the other name's file is not written. */
static void test_lock_file_not_plain(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_options *opts = NULL;
	struct kvfs_store *s = NULL;
	char *root = kvfs_test_mkdtemp("local-lock"), path[4096], other[4096];
	char *text;
	size_t len;

	assert_non_null(root);
	(void)fx;
	for (int round = 0; round < 2; round++) {
		snprintf(path, sizeof(path), "%s/.kvfs", root);
		assert_int_equal(mkdir(path, 0700), 0);
		snprintf(path, sizeof(path), "%s/.kvfs/lock", root);
		snprintf(other, sizeof(other), "%s/precious", root);
		if (round == 0) {
			assert_int_equal(mkdir(path, 0700), 0);
		} else {
			FILE *f = fopen(other, "w");

			assert_non_null(f);
			fputs("precious", f);
			assert_int_equal(fclose(f), 0);
			assert_int_equal(link(other, path), 0);
		}
		assert_int_equal(kvfs_options_new(&opts), 0);
		assert_int_equal(kvfs_options_set(opts, "root", root), 0);
		assert_int_equal(kvfs_store_open(opts, &s), KVFS_EINVAL);
		kvfs_options_free(opts);
		/* A directory cannot even be opened as one. */
		assert_non_null(strstr(kvfs_error_message(), round == 0
				       ? ".kvfs/lock: Is a directory"
				       : ".kvfs/lock is not a plain file of its "
					 "own; remove it"));
		if (round == 1) {
			text = kvfs_test_read_file(other, &len);
			assert_non_null(text);
			assert_string_equal(text, "precious");
			free(text);
		}
		snprintf(path, sizeof(path), "%s/.kvfs", root);
		assert_int_equal(kvfs_test_rmtree(path), 0);
	}
	kvfs_test_rmtree(root);
	free(root);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_put_refused),
		T(test_writer_refused),
		T(test_copy_of_base_refused),
		T(test_lock_file_not_plain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
