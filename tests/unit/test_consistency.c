/*
 * test_consistency.c - the four consistency levels: canonical names,
 * parsing of both spellings, round trips, errors naming the accepted
 * values, and the strength order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <kvfs/kvfs.h>

static void test_names(void **state)
{
	assert_string_equal(kvfs_consistency_name(KVFS_STRONG), "strong");
	assert_string_equal(kvfs_consistency_name(KVFS_EVENTUAL), "eventual");
	assert_string_equal(kvfs_consistency_name(KVFS_READ_YOUR_WRITES),
			    "read-your-writes");
	assert_string_equal(kvfs_consistency_name(KVFS_CAUSAL), "causal");
	assert_string_equal(kvfs_consistency_name((enum kvfs_consistency)4),
			    "invalid");
	assert_string_equal(kvfs_consistency_name((enum kvfs_consistency)-1),
			    "invalid");
	assert_int_equal(KVFS_CONSISTENCY_DEFAULT, KVFS_STRONG);
	assert_int_equal(KVFS_CONSISTENCY_COUNT, 4);
}

static void test_parse_both_spellings(void **state)
{
	static const struct {
		const char *text;
		enum kvfs_consistency level;
	} cases[] = {
		{ "strong", KVFS_STRONG },
		{ "Strong", KVFS_STRONG },
		{ "eventual", KVFS_EVENTUAL },
		{ "Eventual", KVFS_EVENTUAL },
		{ "read-your-writes", KVFS_READ_YOUR_WRITES },
		{ "ReadYourWrites", KVFS_READ_YOUR_WRITES },
		{ "causal", KVFS_CAUSAL },
		{ "Causal", KVFS_CAUSAL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum kvfs_consistency got = (enum kvfs_consistency)99;

		assert_int_equal(kvfs_consistency_parse(cases[i].text, &got), 0);
		assert_int_equal(got, cases[i].level);
	}
}

static void test_round_trip(void **state)
{
	for (int i = 0; i < KVFS_CONSISTENCY_COUNT; i++) {
		enum kvfs_consistency got = (enum kvfs_consistency)99;
		const char *name = kvfs_consistency_name((enum kvfs_consistency)i);

		assert_int_equal(kvfs_consistency_parse(name, &got), 0);
		assert_int_equal(got, i);
	}
}

static void test_bad_text(void **state)
{
	static const char *const bad[] = {
		"", "STRONG", "strong ", " strong", "read_your_writes",
		"readyourwrites", "Read-Your-Writes", "linearizable", "0",
		"causal\n", "eventually",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum kvfs_consistency got = KVFS_CAUSAL;
		const char *msg;

		assert_int_equal(kvfs_consistency_parse(bad[i], &got),
				 KVFS_EINVAL);
		assert_int_equal(got, KVFS_CAUSAL); /* unchanged */
		msg = kvfs_error_message();
		assert_non_null(strstr(msg, "strong"));
		assert_non_null(strstr(msg, "eventual"));
		assert_non_null(strstr(msg, "read-your-writes"));
		assert_non_null(strstr(msg, "causal"));
	}
	assert_int_equal(kvfs_consistency_parse(NULL, &(enum kvfs_consistency){
				 KVFS_STRONG }), KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "(null)"));
}

static void test_satisfies_order(void **state)
{
	/* served satisfies asked: strong > causal > read-your-writes >
	 * eventual. Rows: served; columns: asked. */
	static const enum kvfs_consistency order[] = {
		KVFS_EVENTUAL, KVFS_READ_YOUR_WRITES, KVFS_CAUSAL, KVFS_STRONG,
	};

	for (int s = 0; s < 4; s++)
		for (int a = 0; a < 4; a++)
			assert_int_equal(kvfs_consistency_satisfies(order[s],
								    order[a]),
					 s >= a);
	assert_false(kvfs_consistency_satisfies(KVFS_STRONG,
						(enum kvfs_consistency)7));
	assert_false(kvfs_consistency_satisfies((enum kvfs_consistency)7,
						KVFS_EVENTUAL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_parse_both_spellings),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_text),
		cmocka_unit_test(test_satisfies_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
