/*
 * test_log.c - log lines: level names, the level filter, and the handler
 * that replaces stderr.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <kvfs/kvfs.h>

struct seen {
	int count;
	enum kvfs_log_level level;
	char message[256];
};

static void record(enum kvfs_log_level level, const char *message, void *ctx)
{
	struct seen *s = ctx;

	s->count++;
	s->level = level;
	snprintf(s->message, sizeof(s->message), "%s", message);
}

static void test_parse(void **state)
{
	static const char *const names[] = { "error", "warning", "info",
					     "debug" };
	enum kvfs_log_level level = KVFS_LOG_ERROR;

	(void)state;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(kvfs_log_level_parse(names[i], &level), 0);
		assert_int_equal(level, i);
	}
	assert_int_equal(kvfs_log_level_parse("loud", &level), KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "'loud'"));
	assert_non_null(strstr(kvfs_error_message(), "debug"));
	assert_int_equal(level, KVFS_LOG_DEBUG); /* unchanged */
}

static void test_filter_and_handler(void **state)
{
	struct seen s = { 0 };

	(void)state;
	kvfs_log_set_handler(record, &s);
	kvfs_log_set_level(KVFS_LOG_WARNING);
	assert_int_equal(kvfs_log_get_level(), KVFS_LOG_WARNING);
	kvfs_log(KVFS_LOG_DEBUG, "dropped %d", 1);
	kvfs_log(KVFS_LOG_INFO, "dropped %d", 2);
	assert_int_equal(s.count, 0);
	kvfs_log(KVFS_LOG_ERROR, "cluster %s unreachable\n", "A");
	assert_int_equal(s.count, 1);
	assert_int_equal(s.level, KVFS_LOG_ERROR);
	assert_string_equal(s.message, "cluster A unreachable"); /* no \n */
	kvfs_log_set_level(KVFS_LOG_DEBUG);
	kvfs_log(KVFS_LOG_DEBUG, "now %s", "kept");
	assert_int_equal(s.count, 2);
	assert_string_equal(s.message, "now kept");
	kvfs_log_set_handler(NULL, NULL);
	kvfs_log_set_level(KVFS_LOG_WARNING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_filter_and_handler),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
