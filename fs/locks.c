/*
 * locks.c - flock(2) and POSIX record locks (fcntl F_SETLK, F_SETLKW,
 * F_GETLK, lockf), kept by the daemon.
 *
 * The kernel keeps a FUSE file's locks on its node when the daemon does
 * not, and kvfs gives one file more than one node over time: a writer
 * that opens a file page-cache readers hold moves the name to a new node
 * (file.c, move_name_away). Locks taken through the old node would then
 * not exclude those taken through the new one. So the daemon keeps them,
 * in a lock domain per file: the domain is found by the file's key, so
 * every node of the name shares it; it follows the file through renames
 * and stays with the open files of a name that is removed or replaced
 * (the next file of that name starts a domain of its own).
 *
 * Semantics are Linux's: flock locks and POSIX locks do not see each
 * other; a flock lock belongs to the open file (all its duplicates) and
 * goes at its last close (RELEASE); a POSIX lock belongs to the process
 * and goes when it closes any descriptor of the file (FLUSH); converting
 * a flock lock is not atomic; touching ranges of one owner and type
 * merge. A waiting F_SETLKW or flock ends with EINTR when a signal
 * interrupts it, with EIO when the daemon stops. Locks are this mount's:
 * another mount of the same store (etcd) does not see them, as with the
 * kernel's own. No deadlock detection (EDEADLK is optional in POSIX); a
 * daemon serving one request at a time through libfuse (-s on a backend
 * other than the local one) cannot wait for a lock and answers such a
 * request EDEADLK.
 *
 * Lock order: fs->locks->mutex comes after every other lock (it is taken
 * last, under table_lock when an inode is freed), and nothing else is
 * taken while it is held.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include "kvfs_fs.h"

/* How often a waiting lock request looks for an interrupt. */
#define WAIT_SLICE_NS (50 * 1000 * 1000)

struct fs_lock {
	struct fs_lock *next;
	uint64_t owner;  /* the kernel's lock owner: open file or process */
	bool flock;      /* flock(2), else a POSIX record lock */
	bool write;      /* exclusive (F_WRLCK, LOCK_EX), else shared */
	off_t start, end; /* inclusive; end OFFSET_MAX: to the end */
	pid_t pid;       /* of the process that took it, for F_GETLK */
};

struct fs_lock_domain {
	struct fs_lock_domain *next; /* fs->locks->named, while named */
	char *key;                   /* NULL once the name went */
	unsigned int refs;           /* the named list, inodes */
	struct fs_lock *locks;
};

struct fs_locks {
	pthread_mutex_t mutex;
	pthread_cond_t changed;      /* a lock went */
	struct fs_lock_domain *named;
};

#define OFFSET_MAX ((off_t)(~(uint64_t)0 >> 1))

int kvfs_fs_locks_init(struct fs *fs)
{
	fs->locks = calloc(1, sizeof(*fs->locks));
	if (!fs->locks)
		return ENOMEM;
	pthread_mutex_init(&fs->locks->mutex, NULL);
	pthread_cond_init(&fs->locks->changed, NULL);
	return 0;
}

static void domain_put(struct fs_locks *l, struct fs_lock_domain *d)
{
	if (!d || --d->refs)
		return;
	while (d->locks) {
		struct fs_lock *next = d->locks->next;

		free(d->locks);
		d->locks = next;
	}
	free(d->key);
	free(d);
	(void)l;
}

/* The domain loses its name: out of the list, the list's reference
 * dropped. */
static void domain_unname(struct fs_locks *l, struct fs_lock_domain *d)
{
	struct fs_lock_domain **p;

	for (p = &l->named; *p; p = &(*p)->next) {
		if (*p == d) {
			*p = d->next;
			break;
		}
	}
	free(d->key);
	d->key = NULL;
	domain_put(l, d);
}

void kvfs_fs_locks_destroy(struct fs *fs)
{
	struct fs_locks *l = fs->locks;

	if (!l)
		return;
	while (l->named)
		domain_unname(l, l->named);
	pthread_cond_destroy(&l->changed);
	pthread_mutex_destroy(&l->mutex);
	free(l);
	fs->locks = NULL;
}

/* A named domain with no locks and no inode is dropped. */
static void domain_trim(struct fs_locks *l, struct fs_lock_domain *d)
{
	if (d->key && !d->locks && d->refs == 1)
		domain_unname(l, d);
}

/* The key under which inode's domain is named, in key (KVFS_KEY_MAX + 1
 * bytes): its key while the name is its own or moved to a newer node of
 * the same file (superseded); NULL once the name was removed or replaced,
 * when a later file of that name is another file. Takes table_lock: call
 * before the locks' mutex. */
static const char *name_key(struct fs *fs, struct fs_inode *inode, char *key)
{
	bool gone;

	pthread_mutex_lock(&fs->table_lock);
	gone = inode->unlinked && !inode->superseded;
	pthread_mutex_unlock(&fs->table_lock);
	if (gone || kvfs_fs_key(fs, inode, NULL, key) != 0)
		return NULL;
	return key;
}

/*
 * The domain of inode, with l->mutex held: the one the inode found
 * before, else the named one of its key, else a new one (named when the
 * inode still has its name). NULL when out of memory; *err tells.
 */
static struct fs_lock_domain *domain_of(struct fs *fs, struct fs_inode *inode,
					const char *key, int *err)
{
	struct fs_locks *l = fs->locks;
	struct fs_lock_domain *d;

	if (inode->locks)
		return inode->locks;
	for (d = key ? l->named : NULL; d; d = d->next)
		if (strcmp(d->key, key) == 0)
			break;
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d || (key && !(d->key = strdup(key)))) {
			free(d);
			*err = ENOLCK;
			return NULL;
		}
		if (key) {
			d->next = l->named;
			l->named = d;
			d->refs = 1;
		}
	}
	d->refs++;
	inode->locks = d;
	return d;
}

void kvfs_fs_locks_forget(struct fs *fs, struct fs_inode *inode)
{
	struct fs_locks *l = fs->locks;

	if (!l || !inode->locks)
		return;
	pthread_mutex_lock(&l->mutex);
	domain_put(l, inode->locks);
	inode->locks = NULL;
	pthread_mutex_unlock(&l->mutex);
}

static bool is_below(const char *key, const char *dir, size_t len)
{
	return strncmp(key, dir, len) == 0 && (key[len] == '\0' ||
					       key[len] == '/');
}

void kvfs_fs_locks_removed(struct fs *fs, const char *key)
{
	struct fs_locks *l = fs->locks;
	struct fs_lock_domain *d, *next;
	size_t len = strlen(key);

	pthread_mutex_lock(&l->mutex);
	for (d = l->named; d; d = next) {
		next = d->next;
		if (is_below(d->key, key, len))
			domain_unname(l, d);
	}
	pthread_mutex_unlock(&l->mutex);
}

void kvfs_fs_locks_renamed(struct fs *fs, const char *from, const char *to)
{
	struct fs_locks *l = fs->locks;
	struct fs_lock_domain *d, *next;
	size_t flen = strlen(from), tlen = strlen(to);

	pthread_mutex_lock(&l->mutex);
	for (d = l->named; d; d = next) {
		next = d->next;
		if (is_below(d->key, to, tlen) && !is_below(d->key, from, flen))
			domain_unname(l, d); /* replaced */
	}
	for (d = l->named; d; d = d->next) {
		size_t rest;
		char *key;

		if (!is_below(d->key, from, flen))
			continue;
		rest = strlen(d->key + flen);
		key = malloc(tlen + rest + 1);
		if (!key)
			continue; /* keeps the old name: locks of a later
				     file there would meet these */
		memcpy(key, to, tlen);
		memcpy(key + tlen, d->key + flen, rest + 1);
		free(d->key);
		d->key = key;
	}
	pthread_mutex_unlock(&l->mutex);
}

static bool overlaps(const struct fs_lock *a, off_t start, off_t end)
{
	return a->start <= end && start <= a->end;
}

/* A lock of another owner that the one asked for cannot share the file
 * with, or NULL; of POSIX locks the one that starts first, as Linux
 * reports it to F_GETLK (the list is in no order), so that a program
 * that walks the locks of a file with F_GETLK from offset 0 meets each. */
static struct fs_lock *conflict(struct fs_lock_domain *d,
				const struct fs_lock *want)
{
	struct fs_lock *first = NULL;

	for (struct fs_lock *k = d->locks; k; k = k->next) {
		if (k->owner == want->owner || k->flock != want->flock)
			continue;
		if (!k->write && !want->write)
			continue;
		if (want->flock)
			return k;
		if (!overlaps(k, want->start, want->end))
			continue;
		if (!first || k->start < first->start)
			first = k;
	}
	return first;
}

/* Take away what owner holds of [start, end] (flock: its lock), splitting
 * a POSIX lock that sticks out on both sides. ENOLCK when that split
 * needs memory there is not. */
static int unlock_range(struct fs_lock_domain *d, uint64_t owner, bool flock,
			off_t start, off_t end)
{
	struct fs_lock **p = &d->locks, *k;

	while ((k = *p)) {
		if (k->owner != owner || k->flock != flock ||
		    (!flock && !overlaps(k, start, end))) {
			p = &k->next;
			continue;
		}
		if (!flock && k->start < start && k->end > end) {
			struct fs_lock *tail = malloc(sizeof(*tail));

			if (!tail)
				return ENOLCK;
			*tail = *k;
			tail->start = end + 1;
			k->end = start - 1;
			tail->next = k->next;
			k->next = tail;
			return 0;
		}
		if (!flock && k->start < start) {
			k->end = start - 1;
		} else if (!flock && k->end > end) {
			k->start = end + 1;
		} else {
			*p = k->next;
			free(k);
			continue;
		}
		p = &k->next;
	}
	return 0;
}

/* Why a wait must end: EINTR when a signal interrupted the request;
 * EIO when the daemon is stopping (the kernel turns EINTR from a lock
 * request into a restart, which without a signal reaches the program as
 * errno 512); else 0. */
static int wait_over(struct fs *fs, fuse_req_t req)
{
	if (fuse_req_interrupted(req))
		return EINTR;
	return fuse_session_exited(fs->se) ? EIO : 0;
}

/* Wait for the domain to change, or for a reason to stop waiting
 * (wait_over). l->mutex held. */
static int wait_change(struct fs *fs, fuse_req_t req)
{
	struct timespec until;
	int err = wait_over(fs, req);

	if (err)
		return err;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += WAIT_SLICE_NS;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&fs->locks->changed, &fs->locks->mutex, &until);
	return wait_over(fs, req);
}

/* Join k with the POSIX locks of its owner and type that touch it, as
 * Linux does, so that F_GETLK reports the whole range held. Its own
 * overlapping locks are gone already (unlock_range). */
static void merge_neighbours(struct fs_lock_domain *d, struct fs_lock *k)
{
	struct fs_lock **p = &d->locks, *j;

	while ((j = *p)) {
		bool touches = j != k && j->owner == k->owner && !j->flock &&
			       j->write == k->write &&
			       ((j->end < OFFSET_MAX && j->end + 1 == k->start) ||
				(k->end < OFFSET_MAX && k->end + 1 == j->start));

		if (!touches) {
			p = &j->next;
			continue;
		}
		if (j->start < k->start)
			k->start = j->start;
		if (j->end > k->end)
			k->end = j->end;
		*p = j->next;
		free(j);
	}
}

/* Take `want` in inode's domain, waiting for conflicting locks to go
 * when wait is true. Returns 0 or a positive errno. */
static int lock_take(fuse_req_t req, struct fs *fs, struct fs_inode *inode,
		     const struct fs_lock *want, bool wait)
{
	struct fs_locks *l = fs->locks;
	char key[KVFS_KEY_MAX + 1];
	const char *name = name_key(fs, inode, key);
	struct fs_lock_domain *d;
	struct fs_lock *k;
	bool waiting = false;
	int err = 0;

	pthread_mutex_lock(&l->mutex);
	d = domain_of(fs, inode, name, &err);
	if (!d)
		goto out;
	if (want->flock) {
		/* Conversion: the old lock goes first, as on Linux. */
		if (unlock_range(d, want->owner, true, 0, OFFSET_MAX) == 0)
			pthread_cond_broadcast(&l->changed);
	}
	while (conflict(d, want)) {
		if (!wait) {
			err = EAGAIN;
			goto out;
		}
		if (fs->serial) {
			err = EDEADLK;
			goto out;
		}
		if (!waiting) {
			waiting = true;
			pthread_mutex_unlock(&l->mutex);
			kvfs_fs_loop_wait_begin();
			pthread_mutex_lock(&l->mutex);
			continue;
		}
		err = wait_change(fs, req);
		if (err)
			goto out;
	}
	k = malloc(sizeof(*k));
	err = k ? unlock_range(d, want->owner, want->flock, want->start,
			       want->end) : ENOLCK;
	if (err) {
		free(k);
		goto out;
	}
	*k = *want;
	k->next = d->locks;
	d->locks = k;
	if (!k->flock)
		merge_neighbours(d, k);
out:
	pthread_mutex_unlock(&l->mutex);
	if (waiting)
		kvfs_fs_loop_wait_end();
	return err;
}

static int lock_drop(struct fs *fs, struct fs_inode *inode, uint64_t owner,
		     bool flock, off_t start, off_t end)
{
	struct fs_locks *l = fs->locks;
	int err = 0;

	pthread_mutex_lock(&l->mutex);
	if (inode->locks) {
		err = unlock_range(inode->locks, owner, flock, start, end);
		pthread_cond_broadcast(&l->changed);
		domain_trim(l, inode->locks);
	}
	pthread_mutex_unlock(&l->mutex);
	return err;
}

void kvfs_fs_locks_release(struct fs *fs, struct fs_inode *inode,
			   uint64_t owner, bool flock)
{
	/* Whole-file unlocks never split, so they cannot fail. */
	lock_drop(fs, inode, owner, flock, 0, OFFSET_MAX);
}

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* A struct flock from the kernel (libfuse has made l_start absolute and
 * l_len 0 "to the end") as a range; EINVAL when it makes none. */
static int range_of(const struct flock *fl, off_t *start, off_t *end)
{
	if (fl->l_start < 0 || fl->l_len < 0)
		return EINVAL;
	*start = fl->l_start;
	if (fl->l_len == 0 || fl->l_len - 1 > OFFSET_MAX - fl->l_start)
		*end = OFFSET_MAX;
	else
		*end = fl->l_start + fl->l_len - 1;
	return 0;
}

void kvfs_fs_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		   struct flock *fl)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *inode = kvfs_fs_inode(fs, ino);
	struct fs_lock want = { .owner = fi->lock_owner,
				.write = fl->l_type == F_WRLCK };
	struct fs_lock *k = NULL;
	char key[KVFS_KEY_MAX + 1];
	struct fs_lock_domain *d;
	const char *name;
	int err;

	err = range_of(fl, &want.start, &want.end);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	name = name_key(fs, inode, key);
	pthread_mutex_lock(&fs->locks->mutex);
	d = domain_of(fs, inode, name, &err);
	if (d)
		k = conflict(d, &want);
	if (k) {
		fl->l_type = k->write ? F_WRLCK : F_RDLCK;
		fl->l_whence = SEEK_SET;
		fl->l_start = k->start;
		fl->l_len = k->end == OFFSET_MAX ? 0 : k->end - k->start + 1;
		fl->l_pid = k->pid;
	} else {
		fl->l_type = F_UNLCK;
	}
	pthread_mutex_unlock(&fs->locks->mutex);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_lock(req, fl);
}

void kvfs_fs_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		   struct flock *fl, int sleep)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *inode = kvfs_fs_inode(fs, ino);
	struct fs_lock want = { .owner = fi->lock_owner,
				.write = fl->l_type == F_WRLCK,
				.pid = fl->l_pid };
	int err;

	err = range_of(fl, &want.start, &want.end);
	if (!err && fl->l_type == F_UNLCK)
		err = lock_drop(fs, inode, want.owner, false, want.start,
				want.end);
	else if (!err && fl->l_type != F_RDLCK && fl->l_type != F_WRLCK)
		err = EINVAL;
	else if (!err)
		err = lock_take(req, fs, inode, &want, sleep != 0);
	fuse_reply_err(req, err);
}

void kvfs_fs_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		   int op)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *inode = kvfs_fs_inode(fs, ino);
	struct fs_lock want = { .owner = fi->lock_owner, .flock = true,
				.write = (op & LOCK_EX) != 0,
				.end = OFFSET_MAX,
				.pid = fuse_req_ctx(req)->pid };
	int err;

	if (op & LOCK_UN)
		err = lock_drop(fs, inode, want.owner, true, 0, OFFSET_MAX);
	else if (op & (LOCK_SH | LOCK_EX))
		err = lock_take(req, fs, inode, &want, !(op & LOCK_NB));
	else
		err = EINVAL;
	fuse_reply_err(req, err);
}
