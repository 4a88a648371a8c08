/*
 * test_loop.c - the daemon's session loop (fs/loop.c) serving requests
 * that this test writes itself, through a socket in place of /dev/fuse.
 *
 * With max_threads=1, a request whose handler waits for the kernel
 * (kvfs_fs_loop_wait_begin) while the kernel waits for a later request
 * must not hang the loop: another worker reads and serves that request,
 * whether the waiting worker still held the reader role (the watchdog
 * passes it on) or had handed it over already. Once the wait is over, the
 * worker started beyond max_threads ends after a second idle. When the
 * session ends while a handler still waits for the kernel, which waits
 * for a request nobody reads any more, the loop calls its stuck callback
 * (which aborts the connection in the daemon) instead of waiting for
 * ever to join that worker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <linux/fuse.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "kvfs_fs.h"

/* Node ids the test's GETATTR handler tells apart. */
enum { WAITS = 2, FREES = 3 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t freed = PTHREAD_COND_INITIALIZER;
static bool hand_off_first; /* the WAITS handler hands the role over */
static bool free_served;    /* the FREES request was served */
static bool saw_free;       /* ... while the WAITS handler waited */
static bool waiting_now;    /* the WAITS handler is in its wait */
static int stuck_calls;     /* the loop's stuck callback was called */

/* The handler of WAITS stands for a publish waiting for the kernel, which
 * waits for the FREES request (a READ holding a page lock) to be
 * answered, or for the connection to be aborted (the stuck callback). It
 * gives up after 5 s, so that a loop that cannot serve FREES meanwhile
 * fails the test instead of hanging it. */
static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)fi;
	if (ino == FREES) {
		fuse_reply_err(req, ENOENT);
		pthread_mutex_lock(&lock);
		free_served = true;
		pthread_cond_signal(&freed);
		pthread_mutex_unlock(&lock);
		return;
	}
	if (ino == WAITS) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 5;
		if (hand_off_first)
			kvfs_fs_loop_hand_off(); /* at max_threads: none reads */
		kvfs_fs_loop_wait_begin();
		pthread_mutex_lock(&lock);
		waiting_now = true;
		pthread_cond_broadcast(&freed);
		while (!free_served && !stuck_calls &&
		       pthread_cond_timedwait(&freed, &lock, &until) == 0)
			;
		saw_free = free_served;
		waiting_now = false;
		pthread_mutex_unlock(&lock);
		kvfs_fs_loop_wait_end();
	}
	fuse_reply_err(req, ENOENT);
}

static const struct fuse_lowlevel_ops ops = { .getattr = op_getattr };

/* The session's side of the socket: one request per read, as from
 * /dev/fuse; the test closing its side is an unmount. */
static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	if (n == 0) {
		errno = ENODEV;
		return -1;
	}
	return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	return writev(fd, iov, count);
}

struct session {
	struct fuse_session *se;
	int kernel;   /* the test's side of the socket */
	pthread_t loop;
	int rc;
};

/* What aborting the connection does to a handler waiting for the kernel:
 * the wait ends. */
static void on_stuck(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&lock);
	stuck_calls++;
	pthread_cond_broadcast(&freed);
	pthread_mutex_unlock(&lock);
}

static void *run_loop(void *arg)
{
	struct session *s = arg;

	s->rc = kvfs_fs_loop(s->se, 1, 0, on_stuck, NULL);
	return NULL;
}

static void send_request(struct session *s, uint32_t opcode, uint64_t unique,
			 uint64_t nodeid, const void *body, size_t len)
{
	struct fuse_in_header in = {
		.len = (uint32_t)(sizeof(in) + len),
		.opcode = opcode,
		.unique = unique,
		.nodeid = nodeid,
	};
	struct iovec iov[2] = { { &in, sizeof(in) }, { (void *)body, len } };

	assert_int_equal(writev(s->kernel, iov, 2), (ssize_t)in.len);
}

/* The next reply's unique, within 10 s. */
static uint64_t next_reply(struct session *s)
{
	struct pollfd p = { .fd = s->kernel, .events = POLLIN };
	struct fuse_out_header *out;
	char buf[4096];

	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_true(read(s->kernel, buf, sizeof(buf)) >= (ssize_t)sizeof(*out));
	out = (struct fuse_out_header *)buf;
	return out->unique;
}

static int threads_now(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Whether the process comes to have n threads within 5 s. */
static bool threads_become(int n)
{
	for (int i = 0; i < 50; i++) {
		if (threads_now() == n)
			return true;
		usleep(100000);
	}
	return false;
}

/* The number of threads once it holds still for 0.2 s: the loop's watchdog
 * starts after its first worker (and a sanitizer may add one of its own
 * with the first thread). */
static int settled_threads(void)
{
	int n = threads_now();

	for (int i = 0, same = 0; i < 50 && same < 2; i++) {
		int m;

		usleep(100000);
		m = threads_now();
		same = m == n ? same + 1 : 0;
		n = m;
	}
	return n;
}

static void start(struct session *s)
{
	char *argv[] = { "test_loop", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	static const struct fuse_custom_io io = { .read = io_read,
						  .writev = io_writev };
	struct fuse_init_in init = { .major = FUSE_KERNEL_VERSION,
				     .minor = FUSE_KERNEL_MINOR_VERSION };
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
				    fds), 0);
	s->kernel = fds[1];
	s->se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	fuse_opt_free_args(&args);
	assert_non_null(s->se);
	assert_int_equal(fuse_session_custom_io(s->se, &io, fds[0]), 0);
	assert_int_equal(pthread_create(&s->loop, NULL, run_loop, s), 0);
	send_request(s, FUSE_INIT, 1, 0, &init, sizeof(init));
	assert_int_equal(next_reply(s), 1);
}

static void stop(struct session *s)
{
	close(s->kernel);
	assert_int_equal(pthread_join(s->loop, NULL), 0);
	assert_int_equal(s->rc, 0);
	fuse_session_destroy(s->se);
}

static void wait_for_kernel_lets_another_read(bool hand_off)
{
	struct fuse_getattr_in getattr = { 0 };
	struct session s;
	int loop_threads;

	hand_off_first = hand_off;
	free_served = saw_free = false;
	start(&s);
	loop_threads = settled_threads();
	send_request(&s, FUSE_GETATTR, 2, WAITS, &getattr, sizeof(getattr));
	send_request(&s, FUSE_GETATTR, 3, FREES, &getattr, sizeof(getattr));
	/* FREES is answered first, while WAITS waits for it. */
	assert_int_equal(next_reply(&s), 3);
	assert_int_equal(next_reply(&s), 2);
	pthread_mutex_lock(&lock);
	assert_true(saw_free);
	pthread_mutex_unlock(&lock);
	/* The worker started beyond max_threads=1 is still there (idle for
	 * less than a second), and ends after a second idle. */
	assert_int_equal(threads_now(), loop_threads + 1);
	assert_true(threads_become(loop_threads));
	stop(&s);
}

/* The waiting worker holds the reader role: the watchdog passes it on. */
static void test_wait_holding_the_role(void **state)
{
	(void)state;
	wait_for_kernel_lets_another_read(false);
}

/* The waiting worker handed the role over first, and at max_threads=1
 * nobody could take it: the wait itself lets another start. */
static void test_wait_after_hand_off(void **state)
{
	(void)state;
	wait_for_kernel_lets_another_read(true);
}

/* The session ends (a signal) while WAITS waits for a request that nobody
 * will read now: the loop calls its stuck callback, once, the wait ends,
 * and the loop returns in well under the handler's own 5 s. */
static void test_exit_while_waiting(void **state)
{
	struct fuse_getattr_in getattr = { 0 };
	struct timespec t0, t1, until;
	struct session s;

	(void)state;
	hand_off_first = false;
	free_served = saw_free = false;
	stuck_calls = 0;
	start(&s);
	send_request(&s, FUSE_GETATTR, 2, WAITS, &getattr, sizeof(getattr));
	pthread_mutex_lock(&lock);
	while (!waiting_now)
		pthread_cond_wait(&freed, &lock);
	pthread_mutex_unlock(&lock);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fuse_session_exit(s.se);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	assert_int_equal(pthread_timedjoin_np(s.loop, NULL, &until), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(stuck_calls, 1);
	assert_false(saw_free);
	/* The loop looks for the end once a second, then 0.2 s of patience. */
	assert_true((double)(t1.tv_sec - t0.tv_sec) +
			    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 < 3.0);
	assert_int_equal(next_reply(&s), 2);
	close(s.kernel);
	fuse_session_destroy(s.se);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait_holding_the_role),
		cmocka_unit_test(test_wait_after_hand_off),
		cmocka_unit_test(test_exit_while_waiting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
