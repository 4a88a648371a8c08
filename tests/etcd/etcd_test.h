/*
 * etcd_test.h - what the etcd backend's cmocka tests share: MUST, a
 * monotonic clock, opening a store from -o style text, reading a value
 * back, and the fixture of the tests against the fake gateway. Include
 * after <cmocka.h>.
 */
#ifndef KVFS_ETCD_TEST_H
#define KVFS_ETCD_TEST_H

#include <stdint.h>

#include <kvfs/kvfs.h>

#include "fake_gateway.h"

/* Fail the test unless expr returns 0, with the code and the message. */
#define MUST(expr)                                                            \
	do {                                                                  \
		int rc_ = (int)(expr);                                        \
		if (rc_)                                                      \
			fail_msg("%s returned %d (%s): %s", #expr, rc_,       \
				 kvfs_error_name(rc_), kvfs_error_message()); \
	} while (0)

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t etcd_test_now_ms(void);

/*
 * Open an etcd store from "backend=etcd[,journal=<journal>][,<extra>]"
 * with endpoints=<endpoints> (not set when NULL). Building the options
 * fails the test, and so does an option the open left untaken; returns
 * kvfs_store_open's code.
 */
int etcd_test_open(const char *endpoints, const char *journal,
		   const char *extra, struct kvfs_store **out);

/* Fail the test unless key reads back as want at level. */
void etcd_test_expect_read(struct kvfs_store *s, const char *key,
			   enum kvfs_consistency level, const char *want);

/* The state of a test against the fake gateway (cmocka's *state). */
struct etcd_test_fixture {
	struct fake_gateway *fake;
	char *journal;     /* an empty directory, removed after the test */
	char dead_url[64]; /* a loopback port nothing listens on */
};

/* cmocka setup and teardown making and removing an etcd_test_fixture. */
int etcd_test_fake_setup(void **state);
int etcd_test_fake_teardown(void **state);
/* A cmocka test that runs with that fixture. */
#define ETCD_FAKE_TEST(test)                                                  \
	cmocka_unit_test_setup_teardown(test, etcd_test_fake_setup,           \
					etcd_test_fake_teardown)

#endif
