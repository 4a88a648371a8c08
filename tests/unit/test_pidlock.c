/*
 * test_pidlock.c - one user at a time of a directory the library owns
 * (lib/src/pidlock.c): the holder's pid is written into the lock file and
 * replaces what was there; a second taker waits its time, then is refused
 * with a message naming the live holder's pid, or no pid when the holder
 * wrote none or the pid written is of a process that is gone; a lock
 * handed over to a read-only descriptor keeps all that; a lock that
 * cannot be taken or written says why.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_internal.h"
#include "testutil.h"

struct fixture {
	char *dir;
	char *path; /* the lock file */
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx || !(fx->dir = kvfs_test_mkdtemp("pidlock")) ||
	    asprintf(&fx->path, "%s/lock", fx->dir) < 0)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	kvfs_test_rmtree(fx->dir);
	free(fx->dir);
	free(fx->path);
	free(fx);
	return 0;
}

static int open_lock(const struct fixture *fx, int flags)
{
	int fd = open(fx->path, flags | O_CREAT | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	return fd;
}

static void write_text(int fd, const char *text)
{
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, text, strlen(text), 0),
			 (ssize_t)strlen(text));
}

static void assert_content(int fd, const char *want)
{
	char got[64] = { 0 };

	assert_true(pread(fd, got, sizeof(got) - 1, 0) >= 0);
	assert_string_equal(got, want);
}

/* Taken: the file holds exactly this process's pid, whatever longer text
 * a previous holder left. */
static void test_take_writes_pid(void **state)
{
	struct fixture *fx = *state;
	int fd = open_lock(fx, O_RDWR);
	char want[32];

	write_text(fd, "123456789012345\n");
	assert_int_equal(kvfs_pidlock_take(fd, 0, "root=X", ""), 0);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	assert_content(fd, want);
	close(fd);
}

/* Handed over to a read-only descriptor (as the local root's lock is, so
 * that its filesystem can be remounted read-only): the pid stays, the
 * writable descriptor is closed, a second taker is refused by name, and
 * the lock goes with the read-only descriptor's close. */
static void test_hand_over_to_read_only(void **state)
{
	struct fixture *fx = *state;
	int fd = open_lock(fx, O_RDWR), ro = open_lock(fx, O_RDONLY);
	int other = open_lock(fx, O_RDWR);
	char want[128];

	assert_int_equal(kvfs_pidlock_take(fd, 0, "root=X", ""), 0);
	assert_int_equal(kvfs_pidlock_hand_over(fd, ro, "root=X", ""), 0);
	assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	assert_content(ro, want);
	assert_int_equal(kvfs_pidlock_take(other, 0, "root=X", " (hint)"),
			 KVFS_EINVAL);
	snprintf(want, sizeof(want), "root=X: in use by kvfs pid %ld (hint)",
		 (long)getpid());
	assert_string_equal(kvfs_error_message(), want);
	close(ro);
	assert_int_equal(kvfs_pidlock_take(other, 0, "root=X", ""), 0);

	/* Taken by another in between, or not the same file: refused. */
	fd = open_lock(fx, O_RDWR);
	ro = open_lock(fx, O_RDONLY);
	assert_int_equal(kvfs_pidlock_hand_over(fd, ro, "root=X", ""),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "root=X: in use by"));
	close(ro);
	fd = open_lock(fx, O_RDWR);
	ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(kvfs_pidlock_hand_over(fd, ro, "root=X", ""),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "lock file changed"));
	close(ro);
	close(other);
}

/* Refused after the wait, naming the holder's pid (and the hint). */
static void test_refused_names_live_holder(void **state)
{
	struct fixture *fx = *state;
	int held = open_lock(fx, O_RDWR), fd = open_lock(fx, O_RDWR);
	struct timespec t0, t1;
	char want[128];

	assert_int_equal(kvfs_pidlock_take(held, 0, "root=X", ""), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(kvfs_pidlock_take(fd, 100, "root=X", " (hint)"),
			 KVFS_EINVAL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 100);
	snprintf(want, sizeof(want), "root=X: in use by kvfs pid %ld (hint)",
		 (long)getpid());
	assert_string_equal(kvfs_error_message(), want);
	/* Free again once the holder closes it. */
	close(held);
	assert_int_equal(kvfs_pidlock_take(fd, 0, "root=X", ""), 0);
	close(fd);
}

/* A holder that has not written its pid yet, or whose pid is of a process
 * that is gone (the lock held by a descriptor it passed on): refused
 * without naming a pid. */
static void test_refused_without_pid(void **state)
{
	struct fixture *fx = *state;
	int held = open_lock(fx, O_RDWR), fd = open_lock(fx, O_RDWR);
	const char *want = "root=X: in use by another kvfs process; hint";
	char dead[32];
	pid_t child;

	assert_int_equal(flock(held, LOCK_EX), 0);
	write_text(held, "");
	assert_int_equal(kvfs_pidlock_take(fd, 0, "root=X", "; hint"),
			 KVFS_EINVAL);
	assert_string_equal(kvfs_error_message(), want);

	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	snprintf(dead, sizeof(dead), "%ld\n", (long)child);
	write_text(held, dead);
	assert_int_equal(kvfs_pidlock_take(fd, 0, "root=X", "; hint"),
			 KVFS_EINVAL);
	assert_string_equal(kvfs_error_message(), want);
	write_text(held, "garbage\n");
	assert_int_equal(kvfs_pidlock_take(fd, 0, "root=X", "; hint"),
			 KVFS_EINVAL);
	assert_string_equal(kvfs_error_message(), want);
	close(held);
	close(fd);
}

/* A descriptor that cannot be locked, or whose pid cannot be written. */
static void test_lock_errors_say_why(void **state)
{
	struct fixture *fx = *state;
	int fd;

	assert_int_equal(kvfs_pidlock_take(-1, 0, "journal=J", ""),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "journal=J: cannot lock "
			       "it: "));
	assert_non_null(strstr(kvfs_error_message(), strerror(EBADF)));

	fd = open_lock(fx, O_RDONLY);
	assert_int_equal(kvfs_pidlock_take(fd, 0, "journal=J", ""),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(),
			       "journal=J: writing its lock: "));
	close(fd);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_take_writes_pid),
		T(test_hand_over_to_read_only),
		T(test_refused_names_live_holder),
		T(test_refused_without_pid),
		T(test_lock_errors_say_why),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
