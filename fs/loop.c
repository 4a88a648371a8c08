/*
 * loop.c - the session loop: threads reading requests from /dev/fuse and
 * serving them.
 *
 * Why not libfuse's multi-threaded loop: there every idle worker sleeps in
 * read(2) and each request wakes one of them. Waking a thread costs more
 * than most requests take to serve (tens of microseconds on a virtual
 * machine, where it is an interrupt to another CPU), and a program working
 * through files sends its requests back to back, each a few microseconds
 * after the last answer.
 *
 * So here one worker at a time holds the reader role: it reads a request,
 * serves it itself, and then keeps watching /dev/fuse for spin=
 * microseconds (default 20; 0 turns it off) before it goes to sleep in
 * read(2). A program's next request then finds it awake. The other workers
 * sleep on a condition variable, not on the device, so nobody is woken for
 * nothing.
 *
 * A request that takes long (an fsync on a disk, a large copy, or the
 * kernel making the server wait for another request) must not hold up the
 * others, so it is served while another worker reads (started as needed,
 * up to max_threads):
 *   - a kind of request (opcode) that has lately taken over 200 us is
 *     handed its own worker from the start: the reader passes its role on
 *     before serving it; the averages follow the store (on tmpfs a flush
 *     takes microseconds, on a disk its fsync milliseconds);
 *   - a watchdog thread looks every 10 ms while requests flow, and when the
 *     reader is still serving the request it had at the last look, passes
 *     the role on for it; it sleeps when the mount has been idle for a
 *     while, and the reader wakes it with the next request.
 *
 * A handler that knows it has slow work left after its reply (a large
 * write going into the backend) hands the role on at once
 * (kvfs_fs_loop_hand_off), so that the next request is read meanwhile.
 *
 * A handler may also wait for the kernel, and the kernel for a request
 * that only another worker can read: a publish waits while the kernel
 * drops the file's pages or its name, which waits for the page locks of
 * a READ, or the directory lock of a CREATE, still unread; a push into
 * the page cache waits for page locks too. If every worker waited so,
 * nobody would read and the mount would hang, and with max_threads=1 or 2
 * one or two closes are enough. So a worker waiting for the kernel
 * (kvfs_fs_loop_wait_begin/end) does not count against max_threads: when
 * nobody reads meanwhile, another worker takes the role, a new one beyond
 * max_threads if it must. max_threads bounds the workers that read and
 * serve, not the ones waiting for the kernel to let them finish (a worker
 * whose wait ends finishes its request, so for that while one more may
 * serve). While more workers run than max_threads and those waiting, an
 * idle one waits a second for the role (the kernel may well make workers
 * wait again soon) and then ends; the watchdog joins it.
 *
 * Large writes come by splice(2): while a program streams writes, the
 * reader takes each request into a pipe of its own, where the written
 * pages are only referenced, and the handler splices them from there into
 * the backend's file (kvfs_writer_pwrite_from): one copy of the data
 * instead of two, and none of it while the writer waits. A request that
 * turns out small is read out of the pipe and served from memory, and the
 * reader goes back to read(2) until the next large write. The pipe must
 * hold the largest request, so the mount asks for writes of at most half
 * a pipe (kvfs_fs_loop_splice_max): 512 KiB where pipes may grow to
 * 1 MiB, the default limit for unprivileged pipes (fs.pipe-max-size).
 *
 * Signals are taken by the main thread (every thread here is started with
 * them blocked), whose handler ends the session (fuse_set_signal_handlers).
 *
 * Lock: lp->lock guards every field below it in struct loop, and the
 * list and flags of the workers; nothing else is taken under it except
 * starting a thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "kvfs_fs.h"

/* How often the watchdog looks while requests flow, and how long without
 * a request before it sleeps until the next one. */
#define TICK_NS 10000000L
#define IDLE_BEFORE_SLEEP 0.1
/* How long a worker beyond max_threads waits for the role before it ends
 * (nanoseconds). */
#define SURPLUS_LINGER_NS 1000000000L
/* A kind of request that has lately taken this long (seconds, a moving
 * average) is handed to a thread of its own from the start: far more
 * than waking that thread costs. */
#define SLOW_REQUEST 200e-6
/* At the end, a wait for the kernel this long after the workers stopped
 * reading waits for a request that nobody will read (seconds). The
 * kernel answers its waits in microseconds otherwise. */
#define STUCK_AFTER 0.2
/* Opcodes below this are timed (all the ones the kernel sends a
 * filesystem are). */
#define NOPS 64

/* Opcodes of the FUSE protocol (linux/fuse.h) that the loop tells apart:
 * forgets come in batches, with nobody waiting for the next request;
 * writes may come by splice. */
enum {
	OP_FORGET = 2,
	OP_WRITE = 16,
	OP_RELEASE = 18,
	OP_BATCH_FORGET = 42,
};
/* A request at least this large is a write worth splicing: the next one
 * is read by splice too. Smaller ones are read out of the pipe. */
#define SPLICE_FROM (64 * 1024)
/* Pipe sizes tried, largest first; the request must fit half of one. */
static const int pipe_sizes[] = { 2 << 20, 1 << 20 };

struct worker {
	struct loop *lp;
	struct worker *next; /* in lp->all */
	bool ended;          /* surplus, gone: to be joined */
	bool in_wait;        /* its handler waits for the kernel */
	bool lingering;      /* surplus follower, until linger_until */
	struct timespec linger_until;
	unsigned int beyond; /* started as worker number beyond max_threads,
	                        for a debug line; or 0 */
	pthread_t thread;
	double handed_off;   /* when its handler gave the role up, or 0 */
	struct fuse_buf buf; /* the request buffer, freed after the join */
	int pipe[2];         /* for splice, or -1; closed after the join */
	char *small;         /* a small request read out of the pipe
	                        (SPLICE_FROM bytes), freed after the join */
};

struct loop {
	struct fuse_session *se;
	double spin;          /* seconds the reader watches after a reply */
	size_t pipe_size;     /* bytes a worker's pipe holds, 0: no splice;
	                         set before the first worker starts */
	sem_t finished;       /* posted by a worker that saw the end */
	int wake;             /* eventfd, readable once the loop ends: the
	                         reader sleeps in poll(2) on it and the
	                         device, never in read(2) */
	pthread_t watchdog;

	pthread_mutex_t lock;
	pthread_cond_t turn;  /* followers wait here for the reader role */
	pthread_cond_t tick;  /* the watchdog sleeps here */
	struct worker *reader;  /* holds the reader role, or NULL */
	bool serving;         /* ... and is serving a request, not reading */
	uint64_t served;      /* requests the reader began to serve */
	bool watchdog_asleep; /* until the next request */
	bool exiting;
	unsigned int followers; /* workers waiting for the role */
	unsigned int starting;  /* workers started, yet to take the lock */
	double cost[NOPS];    /* seconds each opcode took, moving average */
	bool splice;          /* large writes may come by splice (INIT) */
	bool splice_next;     /* the last request read was a large write */
	unsigned int workers, max_workers;
	unsigned int waiting; /* workers waiting for the kernel, which do not
	                         count against max_workers */
	unsigned int ended;   /* workers ended, not yet joined */
	struct worker *all;   /* workers started, to join at the end */
	int error;            /* a read error that ended the loop */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ns nanoseconds from now on the monotonic clock, for timed waits. */
static struct timespec deadline(long ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ns / 1000000000L;
	ts.tv_nsec += ns % 1000000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Watch /dev/fuse for up to lp->spin seconds: true as soon as a request
 * is there, false when none came. */
static bool watch(struct loop *lp)
{
	struct pollfd p = { .fd = fuse_session_fd(lp->se), .events = POLLIN };
	double until = now() + lp->spin;

	do {
		if (poll(&p, 1, 0) != 0)
			return true;
	} while (now() < until);
	return false;
}

/* Sleep until the device has a request (or an error: unmounted) or the
 * loop ends; false at the end. The device is non-blocking, so that a
 * read after a request was withdrawn meanwhile (interrupted) comes back
 * with EAGAIN instead of sleeping where the end could not wake it. */
static bool await_request(struct loop *lp)
{
	struct pollfd p[2] = {
		{ .fd = fuse_session_fd(lp->se), .events = POLLIN },
		{ .fd = lp->wake, .events = POLLIN },
	};

	while (poll(p, 2, -1) < 0)
		if (errno != EINTR)
			return true; /* let the read report it */
	return !(p[1].revents & POLLIN);
}

int kvfs_fs_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	/* The signals that end a session (as libfuse's own threads do);
	 * faults such as SIGSEGV stay deliverable where they happen. */
	sigemptyset(&all);
	sigaddset(&all, SIGTERM);
	sigaddset(&all, SIGINT);
	sigaddset(&all, SIGHUP);
	sigaddset(&all, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(thread, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		fuse_log(FUSE_LOG_ERR, "kvfs: starting a thread: %s\n",
			 strerror(rc));
	return rc;
}

static void *work(void *arg);

/* More workers than may serve: some started while others waited for the
 * kernel, and those are done. Caller holds lp->lock. */
static bool surplus(const struct loop *lp)
{
	return lp->workers > lp->max_workers + lp->waiting;
}

/* Start a worker, which takes the reader role. Caller holds lp->lock. */
static int start_worker(struct loop *lp)
{
	struct worker *w;
	int rc;

	if (lp->exiting)
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return ENOMEM;
	w->lp = lp;
	w->pipe[0] = w->pipe[1] = -1;
	if (lp->workers >= lp->max_workers)
		w->beyond = lp->workers + 1;
	rc = kvfs_fs_thread_start(&w->thread, work, w);
	if (rc) {
		free(w);
		return rc;
	}
	w->next = lp->all;
	lp->all = w;
	lp->workers++;
	lp->starting++;
	return 0;
}

/* When nobody holds the reader role, nor is about to: wake a follower or
 * start a worker to take it, unless max_workers serve already (not
 * counting those waiting for the kernel). Caller holds lp->lock. */
static void fill_role(struct loop *lp)
{
	if (lp->reader || lp->starting || lp->exiting ||
	    lp->workers - lp->followers - lp->waiting >= lp->max_workers)
		return;
	if (lp->followers)
		pthread_cond_signal(&lp->turn);
	else
		start_worker(lp);
}

/* Give up the reader role to a waiting worker, or a new one. Caller holds
 * lp->lock. */
static void pass_role(struct loop *lp)
{
	lp->reader = NULL;
	lp->serving = false;
	fill_role(lp);
}

/* The worker this thread is, for the calls handlers make: hand_off,
 * wait_begin and wait_end. */
static __thread struct worker *current;

void kvfs_fs_loop_hand_off(void)
{
	struct worker *w = current;

	if (!w)
		return;
	pthread_mutex_lock(&w->lp->lock);
	if (w->lp->reader == w && !w->lp->exiting) {
		pass_role(w->lp);
		w->handed_off = now();
	}
	pthread_mutex_unlock(&w->lp->lock);
}

void kvfs_fs_loop_wait_begin(void)
{
	struct worker *w = current;

	if (!w)
		return;
	pthread_mutex_lock(&w->lp->lock);
	w->lp->waiting++;
	w->in_wait = true;
	/* When the role was passed on for this request and no worker could
	 * take it, one may now. (When the role is this worker's own, the
	 * watchdog passes it on after a tick, sparing the hand-over where
	 * the kernel answers at once, as it mostly does.) */
	fill_role(w->lp);
	pthread_mutex_unlock(&w->lp->lock);
}

void kvfs_fs_loop_wait_end(void)
{
	struct worker *w = current;

	if (!w)
		return;
	pthread_mutex_lock(&w->lp->lock);
	w->lp->waiting--;
	w->in_wait = false;
	/* A follower that began to wait while this one waited may be one too
	 * many now: let it count its second. */
	if (w->lp->followers && surplus(w->lp))
		pthread_cond_signal(&w->lp->turn);
	pthread_mutex_unlock(&w->lp->lock);
}

static uint32_t opcode_of(const struct fuse_buf *buf)
{
	const uint32_t *in = buf->mem; /* struct fuse_in_header: len, opcode */

	if (buf->flags & FUSE_BUF_IS_FD)
		return OP_WRITE; /* a large request left in the pipe */
	return buf->size >= 8 ? in[1] : 0;
}

/* The size of pipe this machine lets the daemon have for splicing
 * requests, 0 when too small (it must hold a 512 KiB write). */
static size_t probe_pipe(void)
{
	size_t got = 0;
	int fds[2];

	if (pipe2(fds, O_CLOEXEC))
		return 0;
	for (size_t i = 0; i < sizeof(pipe_sizes) / sizeof(*pipe_sizes); i++) {
		int n = fcntl(fds[0], F_SETPIPE_SZ, pipe_sizes[i]);

		if (n >= pipe_sizes[i]) {
			got = (size_t)n;
			break;
		}
	}
	close(fds[0]);
	close(fds[1]);
	return got;
}

static void close_pipe(struct worker *w)
{
	if (w->pipe[0] >= 0) {
		close(w->pipe[0]);
		close(w->pipe[1]);
	}
	w->pipe[0] = w->pipe[1] = -1;
}

/* Free a worker whose thread has been joined. */
static void free_worker(struct worker *w)
{
	free(w->buf.mem);
	free(w->small);
	close_pipe(w);
	free(w);
}

/* Wait for w's thread to end and free it. w is out of lp->all. */
static void join_worker(struct worker *w)
{
	pthread_join(w->thread, NULL);
	free_worker(w);
}

/* Join the workers that ended as surplus. Caller holds lp->lock; the
 * joins wait without it. */
static void reap(struct loop *lp)
{
	struct worker **p = &lp->all, *gone = NULL;

	while (lp->ended && *p) {
		struct worker *w = *p;

		if (!w->ended) {
			p = &w->next;
			continue;
		}
		*p = w->next;
		w->next = gone;
		gone = w;
		lp->ended--;
	}
	if (!gone)
		return;
	pthread_mutex_unlock(&lp->lock);
	while (gone) {
		struct worker *w = gone;

		gone = w->next;
		join_worker(w);
	}
	pthread_mutex_lock(&lp->lock);
}

/*
 * Read the next request by splice into w's pipe: into *buf as the pipe
 * (a large write, left there for the handler) or, when small, read out
 * into w->small. Returns what fuse_session_receive_buf would: the size,
 * 0 at the end, -EINTR to try again, or -errno; -EOPNOTSUPP when splice
 * cannot be used here (the caller reads instead).
 */
static int splice_receive(struct worker *w, struct fuse_buf *buf)
{
	struct loop *lp = w->lp;
	int fd = fuse_session_fd(lp->se);
	ssize_t n;

	if (w->pipe[0] < 0) {
		if (!w->small)
			w->small = malloc(SPLICE_FROM);
		if (!w->small || pipe2(w->pipe, O_CLOEXEC))
			return -EOPNOTSUPP;
		if (fcntl(w->pipe[0], F_SETPIPE_SZ, (int)lp->pipe_size) <
		    (int)lp->pipe_size) {
			close_pipe(w);
			return -EOPNOTSUPP;
		}
	}
	/* Copied requests fill whole pages, referenced pages one slot each
	 * (at most max_write / 4096 + 2): less than a page short of the
	 * pipe always fits. */
	n = splice(fd, NULL, w->pipe[1], NULL, lp->pipe_size - 4096, 0);
	if (fuse_session_exited(lp->se))
		return 0;
	if (n < 0) {
		int err = errno;

		if (err == ENODEV) { /* unmounted */
			fuse_session_exit(lp->se);
			return 0;
		}
		/* ENOENT: the request was interrupted */
		if (err == ENOENT || err == EINTR || err == EAGAIN)
			return -EINTR;
		return err == EINVAL ? -EOPNOTSUPP : -err;
	}
	if (n >= SPLICE_FROM) {
		*buf = (struct fuse_buf){ .size = (size_t)n,
					  .flags = FUSE_BUF_IS_FD,
					  .fd = w->pipe[0] };
		return (int)n;
	}
	if (read(w->pipe[0], w->small, (size_t)n) != n) {
		close_pipe(w);
		return -EIO;
	}
	*buf = (struct fuse_buf){ .size = (size_t)n, .mem = w->small };
	return (int)n;
}

/* Read the next request into *buf (w->buf, or what splice_receive
 * gives). Caller holds nothing. */
static int receive(struct worker *w, bool by_splice, struct fuse_buf *buf)
{
	int res;

	if (by_splice) {
		res = splice_receive(w, buf);
		if (res > 0) /* read(2)s count in the session's hook */
			kvfs_fs_request_seen(opcode_of(buf));
		if (res != -EOPNOTSUPP)
			return res;
		pthread_mutex_lock(&w->lp->lock);
		w->lp->splice = false; /* not here, then: read from now on */
		pthread_mutex_unlock(&w->lp->lock);
	}
	res = fuse_session_receive_buf(w->lp->se, &w->buf);
	*buf = w->buf;
	return res;
}

/* After a request came by splice: whatever its handler left in the pipe
 * (it failed before storing the data) goes with the pipe. */
static void drain(struct worker *w, const struct fuse_buf *buf)
{
	int left = 0;

	if ((buf->flags & FUSE_BUF_IS_FD) &&
	    (ioctl(w->pipe[0], FIONREAD, &left) != 0 || left > 0))
		close_pipe(w);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct loop *lp = w->lp;
	bool awaited = false;

	current = w;
	if (w->beyond)
		kvfs_log(KVFS_LOG_DEBUG,
			 "thread %u started, beyond max_threads=%u: others "
			 "wait for the kernel", w->beyond, lp->max_workers);
	pthread_mutex_lock(&lp->lock);
	lp->starting--;
	for (;;) {
		struct fuse_buf buf;
		double start, took;
		bool by_splice;
		uint32_t op;
		int res;

		while (lp->reader && lp->reader != w && !lp->exiting) {
			int rc = 0;

			awaited = false; /* whoever sent it is served by now */
			lp->followers++;
			if (surplus(lp)) {
				/* One second from the first look, whatever
				 * wakes it meanwhile. */
				if (!w->lingering)
					w->linger_until =
						deadline(SURPLUS_LINGER_NS);
				w->lingering = true;
				rc = pthread_cond_timedwait(&lp->turn, &lp->lock,
							    &w->linger_until);
			} else {
				w->lingering = false;
				pthread_cond_wait(&lp->turn, &lp->lock);
			}
			lp->followers--;
			if (rc != ETIMEDOUT)
				continue;
			w->lingering = false; /* another second, if it stays */
			/* It ends only while another reads: not when the
			 * role is vacant, nor while its holder waits for the
			 * kernel, which may need one more reader. */
			if (surplus(lp) && lp->reader && lp->reader != w &&
			    !lp->reader->in_wait)
				goto end_surplus;
		}
		if (lp->exiting)
			break;
		lp->reader = w;
		w->lingering = false;
		by_splice = lp->splice && lp->splice_next;
		pthread_mutex_unlock(&lp->lock);

		/* Watch for the next request after one the kernel sent on
		 * somebody's behalf, who may well send another at once. */
		if (!(awaited && lp->spin > 0 && watch(lp)) &&
		    !await_request(lp)) {
			pthread_mutex_lock(&lp->lock);
			lp->reader = NULL;
			break;
		}
		res = receive(w, by_splice, &buf);

		pthread_mutex_lock(&lp->lock);
		awaited = false;
		if (res == -EINTR || res == -EAGAIN)
			continue;
		if (res <= 0) {
			if (res < 0)
				lp->error = res;
			lp->reader = NULL;
			break;
		}
		op = opcode_of(&buf);
		lp->splice_next = op == OP_WRITE && buf.size >= SPLICE_FROM;
		lp->serving = true;
		lp->served++;
		/* A release may publish (`: > f` does at its last close):
		 * the kernel queued it before whatever the program does next,
		 * so it takes its locks before another request is read. */
		if (op < NOPS && lp->cost[op] > SLOW_REQUEST &&
		    op != OP_RELEASE)
			pass_role(lp);
		if (lp->watchdog_asleep)
			pthread_cond_signal(&lp->tick);
		pthread_mutex_unlock(&lp->lock);

		start = now();
		w->handed_off = 0;
		fuse_session_process_buf(lp->se, &buf);
		drain(w, &buf);
		/* What the request held reading up for: until its handler
		 * handed the role on, if it did; one stall counts as a few
		 * slow requests, not as many. */
		took = (w->handed_off ? w->handed_off : now()) - start;
		if (took > 10 * SLOW_REQUEST)
			took = 10 * SLOW_REQUEST;
		awaited = op != OP_FORGET && op != OP_BATCH_FORGET;

		pthread_mutex_lock(&lp->lock);
		if (op < NOPS)
			lp->cost[op] += (took - lp->cost[op]) / 8;
		if (lp->reader == w)
			lp->serving = false; /* still ours: read on */
	}
	pthread_mutex_unlock(&lp->lock);
	fuse_session_exit(lp->se);
	sem_post(&lp->finished);
	return NULL;

end_surplus:
	lp->workers--;
	lp->ended++;
	w->ended = true;
	pthread_cond_signal(&lp->tick); /* the watchdog joins it */
	pthread_mutex_unlock(&lp->lock);
	return NULL;
}

size_t kvfs_fs_loop_splice_max(void)
{
	return current ? current->lp->pipe_size / 2 : 0;
}

void kvfs_fs_loop_splice_writes(size_t max_write)
{
	struct loop *lp = current ? current->lp : NULL;

	if (!lp)
		return;
	pthread_mutex_lock(&lp->lock);
	lp->splice = max_write && max_write <= lp->pipe_size / 2;
	pthread_mutex_unlock(&lp->lock);
}

static void *watchdog(void *arg)
{
	struct loop *lp = arg;
	uint64_t seen = 0;
	double active = now(), seen_at = active;

	pthread_mutex_lock(&lp->lock);
	while (!lp->exiting) {
		struct timespec until;

		double t = now();

		reap(lp);
		if (lp->served != seen) {
			seen = lp->served;
			seen_at = t;
		} else if (lp->reader && lp->serving &&
			   t - seen_at >= TICK_NS / 1e9) {
			/* On the same request for a whole tick at least. */
			pass_role(lp);
		}
		if (!lp->reader && lp->waiting)
			fill_role(lp); /* again, should starting one fail */
		if ((lp->reader && lp->serving) || lp->waiting)
			active = t;
		if (t - active > IDLE_BEFORE_SLEEP) {
			lp->watchdog_asleep = true;
			while (lp->watchdog_asleep && !lp->exiting &&
			       lp->served == seen && !lp->ended)
				pthread_cond_wait(&lp->tick, &lp->lock);
			lp->watchdog_asleep = false;
			active = now();
			continue;
		}
		until = deadline(TICK_NS);
		pthread_cond_timedwait(&lp->tick, &lp->lock, &until);
	}
	pthread_mutex_unlock(&lp->lock);
	return NULL;
}

/*
 * The end: join every worker. One may be waiting for the kernel, and the
 * kernel for a request that nobody reads any more (the directory lock of
 * a CREATE a process sent, the page lock of a READ): STUCK_AFTER into
 * the end with a worker in such a wait, stuck() ends it (by aborting the
 * connection, which the daemon's exit would do anyway). Workers busy
 * with the store are waited for as long as they take.
 */
static void join_all(struct loop *lp, void (*stuck)(void *ctx), void *ctx)
{
	double since = now();
	bool told = false;

	while (lp->all) {
		struct worker *w = lp->all;
		struct timespec until;
		unsigned int waiting;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(w->thread, NULL, &until) == 0) {
			lp->all = w->next;
			free_worker(w);
			continue;
		}
		pthread_mutex_lock(&lp->lock);
		waiting = lp->waiting;
		pthread_mutex_unlock(&lp->lock);
		if (waiting && !told && stuck && now() - since >= STUCK_AFTER) {
			stuck(ctx);
			told = true;
		}
	}
}

int kvfs_fs_loop(struct fuse_session *se, unsigned int max_threads,
		 double spin, void (*stuck)(void *ctx), void *ctx)
{
	struct loop lp = {
		.se = se,
		.spin = spin,
		.max_workers = max_threads ? max_threads : 10,
		.pipe_size = probe_pipe(),
	};
	pthread_condattr_t attr;
	bool watching = false;
	int fd = fuse_session_fd(se), fd_flags = fcntl(fd, F_GETFL);
	int rc;

	lp.wake = eventfd(0, EFD_CLOEXEC);
	if (lp.wake < 0 || fd_flags < 0 ||
	    fcntl(fd, F_SETFL, fd_flags | O_NONBLOCK)) {
		rc = -errno;
		if (lp.wake >= 0)
			close(lp.wake);
		return rc;
	}
	pthread_mutex_init(&lp.lock, NULL);
	/* Timed waits count on the monotonic clock. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&lp.turn, &attr);
	pthread_cond_init(&lp.tick, &attr);
	pthread_condattr_destroy(&attr);
	sem_init(&lp.finished, 0, 0);

	pthread_mutex_lock(&lp.lock);
	rc = start_worker(&lp);
	pthread_mutex_unlock(&lp.lock);
	if (!rc) {
		rc = kvfs_fs_thread_start(&lp.watchdog, watchdog, &lp);
		watching = rc == 0;
	}
	if (!rc) {
		/* A signal ends the wait early, and its handler the session;
		 * the timeout covers one that lands just before the wait. */
		while (!fuse_session_exited(se)) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec++;
			sem_timedwait(&lp.finished, &until);
		}
	} else {
		rc = -rc;
	}

	pthread_mutex_lock(&lp.lock);
	lp.exiting = true;
	pthread_cond_broadcast(&lp.turn);
	pthread_cond_broadcast(&lp.tick);
	pthread_mutex_unlock(&lp.lock);
	/* The reader may sleep in poll(2): wake it for good. */
	if (write(lp.wake, &(uint64_t){ 1 }, sizeof(uint64_t)) < 0)
		fuse_log(FUSE_LOG_ERR, "kvfs: waking the reader: %s\n",
			 strerror(errno));
	/* The watchdog first: it may be taking ended workers off the list. */
	if (watching)
		pthread_join(lp.watchdog, NULL);
	join_all(&lp, stuck, ctx);
	if (!rc)
		rc = lp.error;
	sem_destroy(&lp.finished);
	close(lp.wake);
	fcntl(fd, F_SETFL, fd_flags);
	pthread_cond_destroy(&lp.tick);
	pthread_cond_destroy(&lp.turn);
	pthread_mutex_destroy(&lp.lock);
	fuse_session_reset(se);
	return rc;
}
