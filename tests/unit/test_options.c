/*
 * test_options.c - name=value settings: parsing of the -o syntax (URL
 * list continuation, "\," escapes, flags, overrides), take / peek and the
 * detection of options nobody took, and the typed getters with their
 * errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <kvfs/kvfs.h>

static int setup(void **state)
{
	struct kvfs_options *opts = NULL;

	if (kvfs_options_new(&opts))
		return -1;
	*state = opts;
	return 0;
}

static int teardown(void **state)
{
	kvfs_options_free(*state);
	return 0;
}

static void test_parse_basic(void **state)
{
	struct kvfs_options *o = *state;
	const char *name, *value;

	assert_int_equal(kvfs_options_parse(o, "root=/var/lib/kv,sync=false,"
					       "ro,consistency=eventual"), 0);
	assert_string_equal(kvfs_options_peek(o, "root"), "/var/lib/kv");
	assert_string_equal(kvfs_options_peek(o, "sync"), "false");
	assert_string_equal(kvfs_options_peek(o, "ro"), "");
	assert_string_equal(kvfs_options_peek(o, "consistency"), "eventual");
	assert_null(kvfs_options_peek(o, "missing"));
	/* Order is kept. */
	assert_true(kvfs_options_at(o, 0, &name, &value));
	assert_string_equal(name, "root");
	assert_true(kvfs_options_at(o, 2, &name, &value));
	assert_string_equal(name, "ro");
	assert_true(kvfs_options_at(o, 3, &name, &value));
	assert_false(kvfs_options_at(o, 4, &name, &value));
}

static void test_parse_override_and_empty(void **state)
{
	struct kvfs_options *o = *state;
	const char *name, *value;

	assert_int_equal(kvfs_options_parse(o, "a=1,,b=2,a=3,"), 0);
	assert_string_equal(kvfs_options_peek(o, "a"), "3");
	assert_string_equal(kvfs_options_peek(o, "b"), "2");
	assert_false(kvfs_options_at(o, 2, &name, &value));
	assert_int_equal(kvfs_options_parse(o, ""), 0);
	assert_int_equal(kvfs_options_parse(o, NULL), 0);
	/* A value may hold '='. */
	assert_int_equal(kvfs_options_parse(o, "expr=x=y"), 0);
	assert_string_equal(kvfs_options_peek(o, "expr"), "x=y");
}

static void test_parse_endpoint_list(void **state)
{
	struct kvfs_options *o = *state;

	assert_int_equal(kvfs_options_parse(o, "backend=etcd,endpoints=http://a:1"
					       ",http://b:2,https://c:3,prefix=/x"),
			 0);
	assert_string_equal(kvfs_options_peek(o, "backend"), "etcd");
	assert_string_equal(kvfs_options_peek(o, "endpoints"),
			    "http://a:1,http://b:2,https://c:3");
	assert_string_equal(kvfs_options_peek(o, "prefix"), "/x");
	/* A word without "://" after a list is a flag, not a continuation. */
	assert_int_equal(kvfs_options_parse(o, "endpoints=http://a:1,debug"), 0);
	assert_string_equal(kvfs_options_peek(o, "endpoints"), "http://a:1");
	assert_string_equal(kvfs_options_peek(o, "debug"), "");
}

static void test_parse_escaped_comma(void **state)
{
	struct kvfs_options *o = *state;

	assert_int_equal(kvfs_options_parse(o, "name=a\\,b\\,c,next=1"), 0);
	assert_string_equal(kvfs_options_peek(o, "name"), "a,b,c");
	assert_string_equal(kvfs_options_peek(o, "next"), "1");
	/* A backslash before anything else stays. */
	assert_int_equal(kvfs_options_parse(o, "path=a\\b"), 0);
	assert_string_equal(kvfs_options_peek(o, "path"), "a\\b");
	assert_int_equal(kvfs_options_parse(o, "tail=x\\"), 0);
	assert_string_equal(kvfs_options_peek(o, "tail"), "x\\");
}

static void test_take_peek_unknown(void **state)
{
	struct kvfs_options *o = *state;

	assert_int_equal(kvfs_options_parse(o, "root=/r,bogus=1,sync"), 0);
	assert_string_equal(kvfs_options_peek(o, "root"), "/r");
	/* peek does not take. */
	assert_int_equal(kvfs_options_check_all_taken(o), KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "'root'"));
	assert_string_equal(kvfs_options_take(o, "root"), "/r");
	assert_null(kvfs_options_take(o, "absent"));
	assert_string_equal(kvfs_options_take(o, "sync"), "");
	assert_int_equal(kvfs_options_check_all_taken(o), KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "unknown option 'bogus'"));
	assert_non_null(kvfs_options_take(o, "bogus"));
	assert_int_equal(kvfs_options_check_all_taken(o), 0);
	/* Setting again makes it untaken. */
	assert_int_equal(kvfs_options_set(o, "root", "/other"), 0);
	assert_int_equal(kvfs_options_check_all_taken(o), KVFS_EINVAL);
	assert_string_equal(kvfs_options_take(o, "root"), "/other");
	assert_int_equal(kvfs_options_set(o, "flag", NULL), 0);
	assert_string_equal(kvfs_options_take(o, "flag"), "");
	assert_int_equal(kvfs_options_check_all_taken(o), 0);
}

static void test_many_options(void **state)
{
	struct kvfs_options *o = *state;
	char name[32];

	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "opt%d", i);
		assert_int_equal(kvfs_options_set(o, name, name), 0);
	}
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "opt%d", i);
		assert_string_equal(kvfs_options_take(o, name), name);
	}
	assert_int_equal(kvfs_options_check_all_taken(o), 0);
	kvfs_options_free(NULL);
}

static void test_bool(void **state)
{
	struct kvfs_options *o = *state;
	static const char *const yes[] = { "", "1", "yes", "true", "on",
					   "TRUE", "Yes" };
	static const char *const no[] = { "0", "no", "false", "off", "OFF" };
	bool b;

	assert_int_equal(kvfs_options_take_bool(o, "x", true, &b), 0);
	assert_true(b);
	assert_int_equal(kvfs_options_take_bool(o, "x", false, &b), 0);
	assert_false(b);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		kvfs_options_set(o, "x", yes[i]);
		assert_int_equal(kvfs_options_take_bool(o, "x", false, &b), 0);
		assert_true(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		kvfs_options_set(o, "x", no[i]);
		assert_int_equal(kvfs_options_take_bool(o, "x", true, &b), 0);
		assert_false(b);
	}
	kvfs_options_set(o, "sync", "maybe");
	assert_int_equal(kvfs_options_take_bool(o, "sync", true, &b),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "sync=maybe"));
}

static void test_size(void **state)
{
	struct kvfs_options *o = *state;
	static const struct {
		const char *text;
		uint64_t want;
	} ok[] = {
		{ "0", 0 },          { "123", 123 },
		{ "4k", 4096 },      { "4K", 4096 },
		{ "2KiB", 2048 },    { "64M", 64ull << 20 },
		{ "3mib", 3ull << 20 }, { "1G", 1ull << 30 },
		{ "2gib", 2ull << 30 },
		{ "18446744073709551615", UINT64_MAX },
	};
	static const char *const bad[] = {
		"", "-1", "k", "12T", "1.5M", " 1", "1 M", "0x10",
		"99999999999999999999", "17179869184G",
	};
	uint64_t v;

	assert_int_equal(kvfs_options_take_size(o, "s", 77, &v), 0);
	assert_int_equal(v, 77);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		kvfs_options_set(o, "s", ok[i].text);
		assert_int_equal(kvfs_options_take_size(o, "s", 1, &v), 0);
		assert_true(v == ok[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 5;
		kvfs_options_set(o, "cache_size", bad[i]);
		if (kvfs_options_take_size(o, "cache_size", 1, &v) != KVFS_EINVAL)
			fail_msg("size '%s' accepted as %llu", bad[i],
				 (unsigned long long)v);
		assert_non_null(strstr(kvfs_error_message(), "cache_size="));
	}
}

static void test_ms(void **state)
{
	struct kvfs_options *o = *state;
	static const struct {
		const char *text;
		uint64_t want;
	} ok[] = {
		{ "5", 5000 }, { "5s", 5000 }, { "250ms", 250 }, { "0", 0 },
		{ "0ms", 0 }, { "18446744073709551s", 18446744073709551000ull },
		{ "18446744073709551615ms", UINT64_MAX },
	};
	/* 18446744073709552 s is over UINT64_MAX ms: it must not wrap
	 * around to 384 ms. */
	static const char *const bad[] = { "", "s", "5m", "5 s", "-3", "1.5s",
					   "10us", "99999999999999999999",
					   "18446744073709552s",
					   "18446744073709552" };
	uint64_t v;

	assert_int_equal(kvfs_options_take_ms(o, "t", 1234, &v), 0);
	assert_int_equal(v, 1234);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		kvfs_options_set(o, "t", ok[i].text);
		assert_int_equal(kvfs_options_take_ms(o, "t", 1, &v), 0);
		assert_int_equal(v, ok[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kvfs_options_set(o, "timeout", bad[i]);
		if (kvfs_options_take_ms(o, "timeout", 1, &v) != KVFS_EINVAL)
			fail_msg("duration '%s' accepted", bad[i]);
		assert_non_null(strstr(kvfs_error_message(), "timeout="));
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_parse_basic),
		T(test_parse_override_and_empty),
		T(test_parse_endpoint_list),
		T(test_parse_escaped_comma),
		T(test_take_peek_unknown),
		T(test_many_options),
		T(test_bool),
		T(test_size),
		T(test_ms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
