/*
 * test_key.c - the key rules: every problem with its name and error code,
 * the boundaries at 255 and 4096 bytes, the root and file-name variants,
 * and messages that name the problem and the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kvfs/kvfs.h>

#include "testutil.h"

/* A key of exactly len bytes made of components of at most 100 bytes. */
static char *key_of_len(size_t len)
{
	return kvfs_test_key_of_len(len, 100);
}

static void expect_problem(const char *key, size_t len,
			   enum kvfs_key_problem want)
{
	enum kvfs_key_problem got = kvfs_key_problem_of(key, len);

	if (got != want)
		fail_msg("key '%.40s' (%zu bytes): problem %d (%s), want %d "
			 "(%s)", key, len, got, kvfs_key_problem_text(got),
			 want, kvfs_key_problem_text(want));
}

static void test_problems(void **state)
{
	static const struct {
		const char *key;
		enum kvfs_key_problem want;
	} cases[] = {
		{ "a", KVFS_KEY_OK },
		{ "a/b/c", KVFS_KEY_OK },
		{ "...", KVFS_KEY_OK },
		{ ".hidden", KVFS_KEY_OK },
		{ "a/..b/c.", KVFS_KEY_OK },
		{ "with space/and:colon", KVFS_KEY_OK },
		{ "", KVFS_KEY_EMPTY },
		{ "/", KVFS_KEY_LEADING_SLASH },
		{ "/a", KVFS_KEY_LEADING_SLASH },
		{ "/etc/passwd", KVFS_KEY_LEADING_SLASH },
		{ "a//b", KVFS_KEY_EMPTY_COMPONENT },
		{ "a/", KVFS_KEY_EMPTY_COMPONENT },
		{ "a/b/", KVFS_KEY_EMPTY_COMPONENT },
		{ ".", KVFS_KEY_DOT_COMPONENT },
		{ "a/./b", KVFS_KEY_DOT_COMPONENT },
		{ "a/.", KVFS_KEY_DOT_COMPONENT },
		{ "./a", KVFS_KEY_DOT_COMPONENT },
		{ "..", KVFS_KEY_DOTDOT_COMPONENT },
		{ "a/../b", KVFS_KEY_DOTDOT_COMPONENT },
		{ "../a", KVFS_KEY_DOTDOT_COMPONENT },
		{ "a/..", KVFS_KEY_DOTDOT_COMPONENT },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_problem(cases[i].key, strlen(cases[i].key),
			       cases[i].want);
	expect_problem("a\0b", 3, KVFS_KEY_NUL_BYTE);
	expect_problem("\0", 1, KVFS_KEY_NUL_BYTE);
	expect_problem("ab\0", 3, KVFS_KEY_NUL_BYTE);
	/* Only len bytes count. */
	expect_problem("ab/", 2, KVFS_KEY_OK);
}

static void test_lengths(void **state)
{
	char *c255 = kvfs_test_repeat('c', KVFS_NAME_MAX);
	char *c256 = kvfs_test_repeat('c', KVFS_NAME_MAX + 1);
	char *k4096 = key_of_len(KVFS_KEY_MAX);
	char *k4097 = key_of_len(KVFS_KEY_MAX + 1);
	char *nested = NULL;

	expect_problem(c255, strlen(c255), KVFS_KEY_OK);
	expect_problem(c256, strlen(c256), KVFS_KEY_COMPONENT_TOO_LONG);
	assert_true(asprintf(&nested, "a/%s/b", c256) > 0);
	expect_problem(nested, strlen(nested), KVFS_KEY_COMPONENT_TOO_LONG);
	free(nested);
	assert_true(asprintf(&nested, "a/%s", c256) > 0);
	expect_problem(nested, strlen(nested), KVFS_KEY_COMPONENT_TOO_LONG);
	expect_problem(k4096, strlen(k4096), KVFS_KEY_OK);
	expect_problem(k4097, strlen(k4097), KVFS_KEY_TOO_LONG);

	assert_int_equal(kvfs_key_check(c255), 0);
	assert_int_equal(kvfs_key_check(c256), KVFS_ENAMETOOLONG);
	assert_non_null(strstr(kvfs_error_message(), "255"));
	assert_int_equal(kvfs_key_check(nested), KVFS_ENAMETOOLONG);
	assert_int_equal(kvfs_key_check(k4096), 0);
	assert_int_equal(kvfs_key_check(k4097), KVFS_ENAMETOOLONG);
	assert_non_null(strstr(kvfs_error_message(), "4096"));
	/* Long keys are shortened in the message. */
	assert_non_null(strstr(kvfs_error_message(), "..."));
	assert_true(strlen(kvfs_error_message()) < 200);
	free(c255);
	free(c256);
	free(k4096);
	free(k4097);
	free(nested);
}

static void test_problem_texts(void **state)
{
	const char *seen[KVFS_KEY_TOO_LONG + 1] = { 0 };

	for (int p = KVFS_KEY_OK; p <= KVFS_KEY_TOO_LONG; p++) {
		const char *t = kvfs_key_problem_text((enum kvfs_key_problem)p);

		assert_non_null(t);
		assert_true(strlen(t) > 0);
		for (int q = 0; q < p; q++)
			assert_string_not_equal(t, seen[q]);
		seen[p] = t;
	}
	assert_string_equal(kvfs_key_problem_text(KVFS_KEY_OK), "valid");
	assert_string_equal(kvfs_key_problem_text((enum kvfs_key_problem)99),
			    "invalid key");
}

static void test_check_codes_and_messages(void **state)
{
	static const struct {
		const char *key;
		int code;
		const char *text;
	} cases[] = {
		{ "ok/key", 0, NULL },
		{ "", KVFS_EINVALKEY, "empty" },
		{ "/abs", KVFS_EINVALKEY, "'/'" },
		{ "a//b", KVFS_EINVALKEY, "empty component" },
		{ "a/./b", KVFS_EINVALKEY, "'.'" },
		{ "a/../b", KVFS_EINVALKEY, "'..'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(kvfs_key_check(cases[i].key), cases[i].code);
		if (!cases[i].text)
			continue;
		assert_non_null(strstr(kvfs_error_message(), cases[i].text));
		assert_non_null(strstr(kvfs_error_message(), cases[i].key));
	}
	assert_int_equal(kvfs_key_check(NULL), KVFS_EINVALKEY);
	assert_non_null(strstr(kvfs_error_message(), "NULL"));
}

static void test_check_dir_and_name(void **state)
{
	assert_int_equal(kvfs_key_check_dir(""), 0);
	assert_int_equal(kvfs_key_check_dir("a/b"), 0);
	assert_int_equal(kvfs_key_check_dir("a/"), KVFS_EINVALKEY);
	assert_int_equal(kvfs_key_check_dir("/"), KVFS_EINVALKEY);
	assert_int_equal(kvfs_key_check_dir(NULL), KVFS_EINVALKEY);

	assert_int_equal(kvfs_key_check_name("file.txt"), 0);
	assert_int_equal(kvfs_key_check_name("a/b"), KVFS_EINVALKEY);
	assert_non_null(strstr(kvfs_error_message(), "'/'"));
	assert_int_equal(kvfs_key_check_name(""), KVFS_EINVALKEY);
	assert_int_equal(kvfs_key_check_name("."), KVFS_EINVALKEY);
	assert_int_equal(kvfs_key_check_name(".."), KVFS_EINVALKEY);
	assert_int_equal(kvfs_key_check_name(NULL), KVFS_EINVALKEY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_problems),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_problem_texts),
		cmocka_unit_test(test_check_codes_and_messages),
		cmocka_unit_test(test_check_dir_and_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
