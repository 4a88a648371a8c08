/*
 * timed_ls.c - kvfs-timed-ls: list a directory with the system calls
 * that `ls -l` makes (statx, lgetxattr security.selinux, getxattr
 * system.posix_acl_access of the directory and of every entry, and
 * getdents64 until the end), timing each one, so that a test can check
 * the time of every filesystem call a user's `ls -l` waits for, not only
 * the sum.
 *
 *   kvfs-timed-ls DIR
 *
 * As ls, it stops asking for an attribute once the filesystem answered
 * ENOTSUP.
 *
 * Prints one line: "entries N calls C longest MS (CALL NAME) total MS",
 * also when a call failed (its time counts too); then the exit status is
 * 1 and stderr names the call and the error (ENODATA and ENOTSUP of the
 * xattr calls are answers, not failures). 2 on usage.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

struct timing {
	bool no_label, no_acl; /* ENOTSUP seen: ls asks no more */
	unsigned long calls;
	uint64_t longest_ms;
	char longest[600];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void took(struct timing *t, uint64_t t0, const char *call,
		 const char *path)
{
	uint64_t ms = now_ms() - t0;

	t->calls++;
	if (ms >= t->longest_ms) {
		t->longest_ms = ms;
		snprintf(t->longest, sizeof(t->longest), "%s %s", call, path);
	}
}

static int failed(struct timing *t, uint64_t t0, const char *call,
		  const char *path)
{
	int err = errno;

	took(t, t0, call, path);
	fprintf(stderr, "kvfs-timed-ls: %s %s: %s after %llu ms\n", call, path,
		strerror(err), (unsigned long long)(now_ms() - t0));
	return 1;
}

/* What ls -l asks of one name: its attributes, its security label and
 * whether it has an ACL. */
static int look_at(struct timing *t, const char *path)
{
	struct statx stx;
	char label[256];
	uint64_t t0 = now_ms();

	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS,
		  &stx))
		return failed(t, t0, "statx", path);
	took(t, t0, "statx", path);
	t0 = now_ms();
	if (!t->no_label &&
	    lgetxattr(path, "security.selinux", label, sizeof(label)) < 0) {
		if (errno != ENODATA && errno != ENOTSUP)
			return failed(t, t0, "lgetxattr", path);
		t->no_label = errno == ENOTSUP;
	}
	took(t, t0, "lgetxattr", path);
	t0 = now_ms();
	if (!t->no_acl &&
	    getxattr(path, "system.posix_acl_access", NULL, 0) < 0) {
		if (errno != ENODATA && errno != ENOTSUP)
			return failed(t, t0, "getxattr", path);
		t->no_acl = errno == ENOTSUP;
	}
	took(t, t0, "getxattr", path);
	return 0;
}

/* Read all of dir's names (readdir is getdents64 underneath; each read
 * that goes to the kernel is timed). */
static int read_names(struct timing *t, const char *dir, char ***names,
		      size_t *n)
{
	DIR *d;
	struct dirent *de;
	uint64_t t0 = now_ms();

	d = opendir(dir);
	if (!d)
		return failed(t, t0, "open", dir);
	took(t, t0, "open", dir);
	for (;;) {
		char **grown;

		errno = 0;
		t0 = now_ms();
		de = readdir(d);
		if (!de)
			break;
		took(t, t0, "getdents64", dir);
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		grown = realloc(*names, (*n + 1) * sizeof(**names));
		if (!grown || !(grown[*n] = strdup(de->d_name))) {
			fprintf(stderr, "kvfs-timed-ls: out of memory\n");
			exit(1);
		}
		*names = grown;
		(*n)++;
	}
	if (errno) {
		closedir(d);
		return failed(t, t0, "getdents64", dir);
	}
	took(t, t0, "getdents64", dir);
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	struct timing t = { 0 };
	char **names = NULL, path[4096];
	size_t n = 0;
	uint64_t start = now_ms();
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: kvfs-timed-ls DIR\n");
		return 2;
	}
	rc = look_at(&t, argv[1]);
	if (rc == 0)
		rc = read_names(&t, argv[1], &names, &n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]);
		rc = look_at(&t, path);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	printf("entries %zu calls %lu longest %llu (%s) total %llu\n", n,
	       t.calls, (unsigned long long)t.longest_ms, t.longest,
	       (unsigned long long)(now_ms() - start));
	return rc;
}
