/*
 * test_error.c - error names, the per-thread message, and the errno
 * mapping.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <kvfs/kvfs.h>

static void test_names(void **state)
{
	const char *seen[1 - KVFS_ECROSS] = { 0 };

	for (int code = 0; code >= KVFS_ECROSS; code--) {
		const char *name = kvfs_error_name(code);

		assert_non_null(name);
		assert_string_not_equal(name, "unknown error");
		for (int prev = 0; prev > code; prev--)
			assert_string_not_equal(name, seen[-prev]);
		seen[-code] = name;
	}
	assert_string_equal(kvfs_error_name(KVFS_OK), "success");
	assert_string_equal(kvfs_error_name(KVFS_ENOTFOUND), "not found");
	assert_string_equal(kvfs_error_name(KVFS_ETOOLARGE), "too large");
	assert_string_equal(kvfs_error_name(-99), "unknown error");
	assert_string_equal(kvfs_error_name(5), "unknown error");
}

static void test_set_returns_code_and_formats(void **state)
{
	char big[3000];

	assert_int_equal(kvfs_error_set(KVFS_ENOTFOUND, "no key %s (%d)", "k",
					7), KVFS_ENOTFOUND);
	assert_string_equal(kvfs_error_message(), "no key k (7)");
	assert_int_equal(kvfs_error_set(KVFS_EFAIL, "%s", ""), KVFS_EFAIL);
	assert_string_equal(kvfs_error_message(), "no error");

	/* Long messages are cut, not overflowed. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kvfs_error_set(KVFS_EFAIL, "%s", big);
	assert_true(strlen(kvfs_error_message()) < sizeof(big) - 1);
	assert_true(strlen(kvfs_error_message()) >= 512);
}

static void *other_thread(void *arg)
{
	const char **seen = arg;

	seen[0] = strcmp(kvfs_error_message(), "main thread's") ? "clean"
								 : "leaked";
	kvfs_error_set(KVFS_ECONFLICT, "other thread's");
	seen[1] = strcmp(kvfs_error_message(), "other thread's") ? "lost"
								  : "kept";
	return NULL;
}

static void test_message_per_thread(void **state)
{
	const char *seen[2] = { NULL, NULL };
	pthread_t t;

	kvfs_error_set(KVFS_EFAIL, "main thread's");
	assert_int_equal(pthread_create(&t, NULL, other_thread, seen), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_string_equal(seen[0], "clean");
	assert_string_equal(seen[1], "kept");
	assert_string_equal(kvfs_error_message(), "main thread's");
}

static void test_from_errno(void **state)
{
	static const struct {
		int err;
		int code;
	} cases[] = {
		{ ENOENT, KVFS_ENOTFOUND },   { EEXIST, KVFS_EEXISTS },
		{ ENOTEMPTY, KVFS_ENOTEMPTY }, { EISDIR, KVFS_EISDIR },
		{ ENOTDIR, KVFS_ENOTDIR },     { ENAMETOOLONG, KVFS_ENAMETOOLONG },
		{ EFBIG, KVFS_ETOOLARGE },     { ETIMEDOUT, KVFS_ETIMEDOUT },
		{ ENOTSUP, KVFS_ENOTSUPPORTED }, { EINVAL, KVFS_EINVAL },
		{ ENOSPC, KVFS_ENOSPACE },     { EDQUOT, KVFS_ENOSPACE },
		{ ENODATA, KVFS_ENODATA },     { EROFS, KVFS_EREADONLY },
		{ ELOOP, KVFS_EINVALKEY },
		{ EXDEV, KVFS_EINVALKEY },     { EIO, KVFS_EFAIL },
		{ EACCES, KVFS_EFAIL },        { 0, KVFS_EFAIL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[256];

		assert_int_equal(kvfs_error_from_errno(cases[i].err, "doing it"),
				 cases[i].code);
		snprintf(want, sizeof(want), "doing it: %s",
			 strerror(cases[i].err));
		assert_string_equal(kvfs_error_message(), want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_set_returns_code_and_formats),
		cmocka_unit_test(test_message_per_thread),
		cmocka_unit_test(test_from_errno),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
