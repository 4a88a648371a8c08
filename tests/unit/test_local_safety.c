/*
 * test_local_safety.c - the local backend's safety promises: nothing
 * resolves outside the root (planted symlinks, absolute and ".." keys),
 * nothing planted in the root is followed or changed (a symlink gives a
 * new value no metadata, a hard-linked file is copied before its
 * attributes change), one store per root (a second open is refused by
 * the holder's pid, until the holder closes, ends or is killed),
 * concurrent overwrites never tear a value, a process killed in the
 * middle of puts leaves whole old or new values, stale temporary files
 * are cleaned and never listed, a bad root is refused by name, every
 * level gives strong results, sync=false works, a reader lends a
 * descriptor of its snapshot, and a writer takes bytes from a pipe.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <kvfs/backend.h>

#include "testutil.h"

struct fixture {
	char *base;    /* a fresh directory holding root/ and outside/ */
	char *root;    /* the store's root */
	char *outside; /* a directory the store must never touch */
	struct kvfs_store *store;
};

static int open_store(const char *root, const char *extra,
		      struct kvfs_store **out)
{
	struct kvfs_options *opts = NULL;
	int rc = kvfs_options_new(&opts);

	if (rc == 0)
		rc = kvfs_options_set(opts, "root", root);
	if (rc == 0 && extra)
		rc = kvfs_options_parse(opts, extra);
	if (rc == 0)
		rc = kvfs_store_open(opts, out);
	if (rc == 0 && kvfs_options_check_all_taken(opts)) {
		kvfs_store_close(*out);
		rc = KVFS_EINVAL;
	}
	kvfs_options_free(opts);
	return rc;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* The store holds exactly len bytes of want under key. */
static void assert_stored(struct kvfs_store *store, const char *key,
			  const char *want, size_t len)
{
	struct kvfs_buf got = { 0 };

	assert_int_equal(kvfs_store_get(store, key, KVFS_STRONG, &got), 0);
	assert_int_equal(got.len, len);
	assert_memory_equal(got.data, want, len);
	kvfs_buf_free(&got);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char *path = NULL;

	if (!fx)
		return -1;
	fx->base = kvfs_test_mkdtemp("safety");
	if (!fx->base || asprintf(&fx->root, "%s/root", fx->base) < 0 ||
	    asprintf(&fx->outside, "%s/outside", fx->base) < 0)
		return -1;
	if (mkdir(fx->root, 0755) || mkdir(fx->outside, 0755))
		return -1;
	if (asprintf(&path, "%s/secret", fx->outside) < 0)
		return -1;
	write_file(path, "outside secret");
	free(path);
	if (open_store(fx->root, NULL, &fx->store)) {
		print_message("cannot open the local store: %s\n",
			      kvfs_error_message());
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	kvfs_store_close(fx->store);
	kvfs_test_rmtree(fx->base);
	free(fx->base);
	free(fx->root);
	free(fx->outside);
	free(fx);
	return 0;
}

/* Path of name under dir, in one of four static buffers (so that a call
 * may use up to four of them). */
static const char *path_in(const char *dir, const char *name)
{
	static char paths[4][4096];
	static unsigned int next;
	char *path = paths[next++ % 4];

	snprintf(path, 4096, "%s/%s", dir, name);
	return path;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* The outside directory holds exactly "secret", unchanged. */
static void expect_outside_untouched(const struct fixture *fx)
{
	DIR *d = opendir(fx->outside);
	struct dirent *de;
	size_t len = 0;
	char *text;
	int count = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			count++;
	closedir(d);
	if (count != 1)
		fail_msg("outside directory now has %d entries", count);
	text = kvfs_test_read_file(path_in(fx->outside, "secret"), &len);
	assert_non_null(text);
	assert_string_equal(text, "outside secret");
	free(text);
	assert_int_equal(getxattr(path_in(fx->outside, "secret"), "user.x",
				  NULL, 0), -1);
}

/* How many user.* xattrs the file at path has. */
static int user_xattrs(const char *path)
{
	char names[4096];
	ssize_t len = llistxattr(path, names, sizeof(names));
	int n = 0;

	assert_true(len >= 0);
	for (ssize_t off = 0; off < len;
	     off += (ssize_t)strlen(names + off) + 1)
		n += !strncmp(names + off, "user.", 5);
	return n;
}

/* The mode a new file gets here: the default 0644 less the umask. */
static mode_t new_file_mode(void)
{
	mode_t mask = umask(0);

	umask(mask);
	return 0644 & ~mask;
}

/* key's file (at path) is a value of its own with a new key's mode. */
static void expect_new_value(struct kvfs_store *s, const char *path,
			     const char *key)
{
	struct kvfs_stat ks;
	struct stat sb;

	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_nlink, 1);
	if ((sb.st_mode & 07777) != new_file_mode())
		fail_msg("%s has mode %o, want %o", key,
			 (unsigned)(sb.st_mode & 07777),
			 (unsigned)new_file_mode());
	assert_int_equal(kvfs_store_stat(s, key, KVFS_STRONG, &ks), 0);
	assert_int_equal(ks.mode, new_file_mode());
	assert_int_equal(user_xattrs(path), 0);
}

/* ---------------------------------------------------------- containment */

static void test_planted_symlinks(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = fx->store;
	struct kvfs_buf got = { 0 };
	struct kvfs_stat st;
	struct kvfs_lister *l = NULL;
	struct kvfs_reader *r = NULL;
	struct timespec ts = { 1, 0 };

	/* root/link -> outside (a directory), root/flink -> outside/secret */
	assert_int_equal(symlink(fx->outside, path_in(fx->root, "link")), 0);
	assert_int_equal(symlink(path_in(fx->outside, "secret"),
				 path_in(fx->root, "flink")), 0);
	assert_int_equal(symlink("../outside", path_in(fx->root, "rlink")), 0);

	assert_int_not_equal(kvfs_store_get(s, "link/secret", KVFS_STRONG,
					    &got), 0);
	assert_int_not_equal(kvfs_store_get(s, "rlink/secret", KVFS_STRONG,
					    &got), 0);
	assert_int_not_equal(kvfs_store_get(s, "flink", KVFS_STRONG, &got), 0);
	assert_int_not_equal(kvfs_store_open_reader(s, "flink", KVFS_STRONG,
						    &r), 0);
	assert_int_not_equal(kvfs_store_stat(s, "link/secret", KVFS_STRONG,
					     &st), 0);
	if (kvfs_store_stat(s, "link", KVFS_STRONG, &st) == 0)
		assert_int_not_equal(st.kind, KVFS_KIND_DIR);
	if (kvfs_store_stat(s, "flink", KVFS_STRONG, &st) == 0)
		assert_int_not_equal(st.size, strlen("outside secret"));
	/* Links are not keys: the root lists as empty. */
	assert_int_equal(kvfs_store_list(s, "", KVFS_STRONG, &l), 0);
	{
		struct kvfs_dirent ent;

		if (kvfs_lister_next(l, &ent) != 0)
			fail_msg("root lists '%s'", ent.name);
	}
	kvfs_lister_close(l);
	assert_int_not_equal(kvfs_store_list(s, "link", KVFS_STRONG, &l), 0);
	assert_int_not_equal(kvfs_store_list(s, "rlink", KVFS_STRONG, &l), 0);

	assert_int_not_equal(kvfs_store_put(s, "link/new", "x", 1,
					    KVFS_STRONG), 0);
	assert_int_not_equal(kvfs_store_put(s, "link/secret", "x", 1,
					    KVFS_STRONG), 0);
	assert_int_not_equal(kvfs_store_put(s, "link/deep/er", "x", 1,
					    KVFS_STRONG), 0);
	assert_int_not_equal(kvfs_store_mkdir(s, "link/dir", 0755,
					      KVFS_STRONG), 0);
	assert_int_not_equal(kvfs_store_delete(s, "link/secret", KVFS_STRONG),
			     0);
	assert_int_not_equal(kvfs_store_rename(s, "link/secret", "stolen", 0,
					       KVFS_STRONG), 0);
	assert_int_equal(kvfs_store_put(s, "mine", "m", 1, KVFS_STRONG), 0);
	assert_int_not_equal(kvfs_store_rename(s, "mine", "link/mine", 0,
					       KVFS_STRONG), 0);
	assert_int_not_equal(kvfs_store_set_attr(s, "link/secret",
						 KVFS_ATTR_MTIME, 0, &ts,
						 KVFS_STRONG), 0);
	assert_int_not_equal(kvfs_store_setxattr(s, "link/secret", "user.x",
						 "1", 1, 0), 0);
	/* A put replaces a link with a value that starts like a new key,
	 * taking nothing from the link (whose mode is 0777). */
	assert_int_equal(symlink(path_in(fx->outside, "secret"),
				 path_in(fx->root, "plink")), 0);
	assert_int_equal(kvfs_store_put(s, "plink", "replaced", 8,
					KVFS_STRONG), 0);
	expect_new_value(s, path_in(fx->root, "plink"), "plink");
	assert_stored(s, "plink", "replaced", 8);
	assert_int_equal(kvfs_store_delete(s, "plink", KVFS_STRONG), 0);
	/* The link itself is no key: nothing acts on it or its target, and
	 * it has no xattrs to give. */
	assert_int_equal(kvfs_store_setxattr(s, "flink", "user.x", "1", 1, 0),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_removexattr(s, "flink", "user.x"),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_set_attr(s, "flink",
					     KVFS_ATTR_MODE | KVFS_ATTR_MTIME,
					     0600, &ts, KVFS_STRONG),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_getxattr(s, "flink", "user.x", &got),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_listxattr(s, "flink", &got),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_rename(s, "flink", "moved", 0,
					   KVFS_STRONG), KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_delete(s, "flink", KVFS_STRONG),
			 KVFS_ENOTFOUND);
	{
		struct stat sb;

		assert_int_equal(lstat(path_in(fx->root, "flink"), &sb), 0);
		assert_true(S_ISLNK(sb.st_mode));
		assert_int_not_equal(sb.st_mtime, 1);
		assert_int_equal(stat(path_in(fx->outside, "secret"), &sb), 0);
		assert_int_not_equal(sb.st_mode & 07777, 0600);
		assert_int_not_equal(sb.st_mtime, 1);
	}
	assert_false(exists(path_in(fx->root, "moved")));
	/* ... and after all that, a put still makes it a plain new value. */
	assert_int_equal(kvfs_store_put(s, "flink", "overwritten", 11,
					KVFS_STRONG), 0);
	expect_new_value(s, path_in(fx->root, "flink"), "flink");
	assert_int_equal(kvfs_store_delete(s, "flink", KVFS_STRONG), 0);
	expect_outside_untouched(fx);
	/* A fifo is no key either: a read neither hangs on it nor serves
	 * it. */
	assert_int_equal(mkfifo(path_in(fx->root, "fifo"), 0644), 0);
	alarm(10);
	assert_int_not_equal(kvfs_store_get(s, "fifo", KVFS_STRONG, &got), 0);
	assert_int_not_equal(kvfs_store_open_reader(s, "fifo", KVFS_STRONG,
						    &r), 0);
	alarm(0);
	assert_false(exists(path_in(fx->base, "stolen")));
	assert_int_equal(kvfs_store_get(s, "mine", KVFS_STRONG, &got), 0);
	kvfs_buf_free(&got);
}

/* What must stay as it was of a file outside the root. */
struct kept {
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec mtime;
	char content[64];
};

static void take_kept(const char *path, struct kept *k)
{
	struct stat sb;
	size_t len = 0;
	char *text = kvfs_test_read_file(path, &len);

	assert_int_equal(stat(path, &sb), 0);
	assert_non_null(text);
	*k = (struct kept){ .mode = sb.st_mode, .uid = sb.st_uid,
			    .gid = sb.st_gid, .mtime = sb.st_mtim };
	snprintf(k->content, sizeof(k->content), "%s", text);
	free(text);
}

/* The file at path is as `was` says, keeps its one xattr user.o=outer
 * and has no other user.* xattr. */
static void expect_kept(const char *path, const struct kept *was,
			const char *after)
{
	struct kept now;
	char value[16] = "";

	take_kept(path, &now);
	if (now.mode != was->mode || now.uid != was->uid ||
	    now.gid != was->gid || now.mtime.tv_sec != was->mtime.tv_sec ||
	    now.mtime.tv_nsec != was->mtime.tv_nsec)
		fail_msg("after %s the outside file changed: mode %o uid %d "
			 "mtime %ld, was %o %d %ld", after,
			 (unsigned)now.mode, (int)now.uid,
			 (long)now.mtime.tv_sec, (unsigned)was->mode,
			 (int)was->uid, (long)was->mtime.tv_sec);
	assert_string_equal(now.content, was->content);
	assert_int_equal(getxattr(path, "user.o", value, sizeof(value)), 5);
	assert_memory_equal(value, "outer", 5);
	if (user_xattrs(path) != 1)
		fail_msg("after %s the outside file has new xattrs", after);
}

/* A file outside the root, with hard links to it planted in the root by
 * another user (nobody, when this test may chown): every call through a
 * planted name leaves that inode as it was. Attribute changes break the
 * link first, so the value keeps its data, times and xattrs and takes the
 * change; reads serve the file's contents (the name is in the root). */
static void test_planted_hard_links(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = fx->store;
	char *out = strdup(path_in(fx->outside, "linked"));
	struct timespec ts = { 1000000000, 0 };
	struct passwd *nobody = getpwnam("nobody");
	struct kvfs_buf got = { 0 };
	struct kvfs_reader *r = NULL;
	struct kvfs_writer *w = NULL;
	struct kvfs_stat ks;
	struct kept was;
	struct stat sb;
	static const char *const names[] = { "hl-mode", "hl-mtime", "hl-set",
					     "hl-remove", "hl-rewrite",
					     "hl-put", "hl-moved" };

	write_file(out, "linked content");
	assert_int_equal(chmod(out, 0640), 0);
	assert_int_equal(setxattr(out, "user.o", "outer", 5, 0), 0);
	if (geteuid() == 0 && nobody)
		assert_int_equal(chown(out, nobody->pw_uid, nobody->pw_gid), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(link(out, path_in(fx->root, names[i])), 0);
	take_kept(out, &was);

	/* Reads and xattr reads: the file's own. */
	assert_stored(s, "hl-mode", "linked content", 14);
	assert_int_equal(kvfs_store_getxattr(s, "hl-mode", "user.o", &got), 0);
	assert_memory_equal(got.data, "outer", 5);
	kvfs_buf_free(&got);

	assert_int_equal(kvfs_store_set_attr(s, "hl-mode", KVFS_ATTR_MODE,
					     0600, NULL, KVFS_STRONG), 0);
	expect_kept(out, &was, "chmod");
	assert_int_equal(kvfs_store_stat(s, "hl-mode", KVFS_STRONG, &ks), 0);
	assert_int_equal(ks.mode, 0600);
	assert_int_equal(ks.mtime.tv_sec, was.mtime.tv_sec);
	assert_int_equal(ks.mtime.tv_nsec, was.mtime.tv_nsec);
	assert_stored(s, "hl-mode", "linked content", 14);

	assert_int_equal(kvfs_store_set_attr(s, "hl-mtime", KVFS_ATTR_MTIME, 0,
					     &ts, KVFS_STRONG), 0);
	expect_kept(out, &was, "utimens");
	assert_int_equal(kvfs_store_stat(s, "hl-mtime", KVFS_STRONG, &ks), 0);
	assert_int_equal(ks.mtime.tv_sec, ts.tv_sec);
	assert_int_equal(ks.mode, was.mode & 07777);

	assert_int_equal(kvfs_store_setxattr(s, "hl-set", "user.a", "1", 1, 0),
			 0);
	expect_kept(out, &was, "setxattr");
	assert_int_equal(kvfs_store_getxattr(s, "hl-set", "user.a", &got), 0);
	assert_int_equal(kvfs_store_getxattr(s, "hl-set", "user.o", &got), 0);
	assert_memory_equal(got.data, "outer", 5);
	kvfs_buf_free(&got);

	assert_int_equal(kvfs_store_removexattr(s, "hl-remove", "user.o"), 0);
	expect_kept(out, &was, "removexattr");
	assert_int_equal(kvfs_store_getxattr(s, "hl-remove", "user.o", &got),
			 KVFS_ENODATA);
	/* A change that fails changes nothing, not even the link. */
	assert_int_equal(kvfs_store_removexattr(s, "hl-put", "user.none"),
			 KVFS_ENODATA);
	{
		struct stat o;

		assert_int_equal(stat(out, &o), 0);
		assert_int_equal(lstat(path_in(fx->root, "hl-put"), &sb), 0);
		assert_int_equal(sb.st_ino, o.st_ino);
	}

	/* A partial rewrite starts from the file's data, replaces the file. */
	assert_int_equal(kvfs_store_open_reader(s, "hl-rewrite", KVFS_STRONG,
						&r), 0);
	assert_int_equal(kvfs_store_open_writer(s, "hl-rewrite", KVFS_STRONG, r,
						&w), 0);
	kvfs_reader_close(r);
	assert_int_equal(kvfs_writer_pwrite(w, "LINKED", 6, 0), 6);
	assert_int_equal(kvfs_writer_commit(w), 0);
	assert_stored(s, "hl-rewrite", "LINKED content", 14);
	assert_int_equal(kvfs_store_put(s, "hl-put", "new", 3, KVFS_STRONG), 0);
	assert_int_equal(kvfs_store_rename(s, "hl-moved", "moved", 0,
					   KVFS_STRONG), 0);
	assert_stored(s, "moved", "linked content", 14);
	assert_int_equal(kvfs_store_delete(s, "moved", KVFS_STRONG), 0);
	expect_kept(out, &was, "writes, a rename and a delete");

	/* Every planted name now has a file of its own; the outside file is
	 * left with its own name only. */
	for (size_t i = 0; i + 1 < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(lstat(path_in(fx->root, names[i]), &sb), 0);
		assert_int_equal(sb.st_nlink, 1);
	}
	assert_int_equal(stat(out, &sb), 0);
	assert_int_equal(sb.st_nlink, 1);
	free(out);
}

static void test_escaping_keys(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = fx->store;
	static const char *const keys[] = {
		"../escape", "..", "a/../../escape", "/tmp/kvfs-escape",
		"./escape", "a/./../escape",
	};
	struct kvfs_buf got = { 0 };
	char *abs_secret = NULL;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		assert_int_equal(kvfs_store_put(s, keys[i], "x", 1, KVFS_STRONG),
				 KVFS_EINVALKEY);
		assert_int_equal(kvfs_store_mkdir(s, keys[i], 0755,
						  KVFS_STRONG), KVFS_EINVALKEY);
	}
	assert_true(asprintf(&abs_secret, "%s/secret", fx->outside) > 0);
	assert_int_equal(kvfs_store_get(s, abs_secret, KVFS_STRONG, &got),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_delete(s, abs_secret, KVFS_STRONG),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_get(s, "../outside/secret", KVFS_STRONG,
					&got), KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_rename(s, "../outside/secret", "x", 0,
					   KVFS_STRONG), KVFS_EINVALKEY);
	free(abs_secret);
	assert_false(exists(path_in(fx->base, "escape")));
	assert_false(exists("/tmp/kvfs-escape"));
	expect_outside_untouched(fx);
}

/* The backend's own bookkeeping (ROOT/.kvfs) is not reachable as a key,
 * through any operation. */
static void test_reserved_keys(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = fx->store;
	static const char *const keys[] = { ".kvfs", ".kvfs/tmp",
					    ".kvfs/tmp/x" };
	struct kvfs_buf buf = { 0 };
	struct kvfs_stat st;
	struct kvfs_lister *l = NULL;
	struct kvfs_reader *r = NULL;
	struct kvfs_writer *w = NULL;
	struct timespec ts = { 1, 0 };

	assert_int_equal(kvfs_store_put(s, "ok", "v", 1, KVFS_STRONG), 0);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *k = keys[i];

		assert_int_not_equal(kvfs_store_put(s, k, "x", 1, KVFS_STRONG),
				     0);
		assert_int_not_equal(kvfs_store_get(s, k, KVFS_STRONG, &buf), 0);
		assert_int_not_equal(kvfs_store_delete(s, k, KVFS_STRONG), 0);
		assert_int_not_equal(kvfs_store_stat(s, k, KVFS_STRONG, &st), 0);
		assert_int_not_equal(kvfs_store_mkdir(s, k, 0755, KVFS_STRONG),
				     0);
		assert_int_not_equal(kvfs_store_rmdir(s, k, KVFS_STRONG), 0);
		assert_int_not_equal(kvfs_store_rename(s, k, "stolen", 0,
						       KVFS_STRONG), 0);
		assert_int_not_equal(kvfs_store_rename(s, "ok", k, 0,
						       KVFS_STRONG), 0);
		assert_int_not_equal(kvfs_store_set_attr(s, k, KVFS_ATTR_MTIME,
							 0, &ts, KVFS_STRONG), 0);
		assert_int_not_equal(kvfs_store_setxattr(s, k, "user.a", "1", 1,
							 0), 0);
		assert_int_not_equal(kvfs_store_getxattr(s, k, "user.a", &buf),
				     0);
		assert_int_not_equal(kvfs_store_listxattr(s, k, &buf), 0);
		assert_int_not_equal(kvfs_store_removexattr(s, k, "user.a"), 0);
		assert_int_not_equal(kvfs_store_list(s, k, KVFS_STRONG, &l), 0);
		assert_int_not_equal(kvfs_store_open_reader(s, k, KVFS_STRONG,
							    &r), 0);
		assert_int_not_equal(kvfs_store_open_writer(s, k, KVFS_STRONG,
							    NULL, &w), 0);
	}
	assert_int_equal(kvfs_store_get(s, "ok", KVFS_STRONG, &buf), 0);
	assert_int_equal(buf.len, 1);
	kvfs_buf_free(&buf);
	/* A key that only starts like it is an ordinary key. */
	assert_int_equal(kvfs_store_put(s, ".kvfsx", "v", 1, KVFS_STRONG), 0);
	assert_int_equal(kvfs_store_put(s, "a/.kvfs", "v", 1, KVFS_STRONG), 0);
}

/* ------------------------------------------------------- torn values */

#define TORN_LEN (64 * 1024)
#define TORN_WRITERS 3

struct torn_ctx {
	struct kvfs_store *store;
	atomic_bool stop;
	atomic_long reads, writes;
	atomic_int torn;
	int id;
};

struct torn_thread {
	struct torn_ctx *ctx;
	int id;
};

static void *torn_writer(void *arg)
{
	struct torn_thread *t = arg;
	char *value = malloc(TORN_LEN);

	memset(value, 'A' + t->id, TORN_LEN);
	while (!atomic_load(&t->ctx->stop)) {
		if (kvfs_store_put(t->ctx->store, "contended", value, TORN_LEN,
				   KVFS_STRONG))
			atomic_fetch_add(&t->ctx->torn, 1000);
		atomic_fetch_add(&t->ctx->writes, 1);
	}
	free(value);
	return NULL;
}

/* A value is whole when it is TORN_LEN bytes of one writer's letter. */
static bool whole(const char *v, size_t len)
{
	if (len != TORN_LEN || v[0] < 'A' || v[0] >= 'A' + TORN_WRITERS)
		return false;
	for (size_t i = 1; i < len; i++)
		if (v[i] != v[0])
			return false;
	return true;
}

static void *torn_reader(void *arg)
{
	struct torn_thread *t = arg;
	char *chunk = malloc(TORN_LEN);

	while (!atomic_load(&t->ctx->stop)) {
		struct kvfs_buf got = { 0 };
		struct kvfs_reader *r = NULL;
		size_t off = 0;

		if (kvfs_store_get(t->ctx->store, "contended", KVFS_STRONG,
				   &got) || !whole(got.data, got.len))
			atomic_fetch_add(&t->ctx->torn, 1);
		kvfs_buf_free(&got);
		/* A reader reads its snapshot in pieces while writers go on. */
		if (kvfs_store_open_reader(t->ctx->store, "contended",
					   KVFS_STRONG, &r)) {
			atomic_fetch_add(&t->ctx->torn, 1);
			continue;
		}
		while (off < TORN_LEN) {
			ssize_t n = kvfs_reader_pread(r, chunk + off, 4096, off);

			if (n <= 0)
				break;
			off += (size_t)n;
			sched_yield();
		}
		if (kvfs_reader_size(r) != TORN_LEN || !whole(chunk, off))
			atomic_fetch_add(&t->ctx->torn, 1);
		kvfs_reader_close(r);
		atomic_fetch_add(&t->ctx->reads, 1);
	}
	free(chunk);
	return NULL;
}

static void test_concurrent_overwrites(void **state)
{
	struct fixture *fx = *state;
	struct torn_ctx ctx = { .store = fx->store };
	struct torn_thread th[TORN_WRITERS + 2];
	pthread_t tid[TORN_WRITERS + 2];
	char *first = malloc(TORN_LEN);
	struct timespec run = { 1, 500000000 };

	memset(first, 'A', TORN_LEN);
	assert_int_equal(kvfs_store_put(fx->store, "contended", first, TORN_LEN,
					KVFS_STRONG), 0);
	free(first);
	for (int i = 0; i < TORN_WRITERS + 2; i++) {
		th[i].ctx = &ctx;
		th[i].id = i;
		assert_int_equal(pthread_create(&tid[i], NULL,
						i < TORN_WRITERS ? torn_writer
								 : torn_reader,
						&th[i]), 0);
	}
	nanosleep(&run, NULL);
	atomic_store(&ctx.stop, true);
	for (int i = 0; i < TORN_WRITERS + 2; i++)
		pthread_join(tid[i], NULL);
	print_message("  %ld puts, %ld reads, %d torn or failed\n",
		      (long)ctx.writes, (long)ctx.reads, (int)ctx.torn);
	assert_true(ctx.writes > TORN_WRITERS);
	assert_true(ctx.reads > 0);
	assert_int_equal(ctx.torn, 0);
}

/* ------------------------------------------------------------- crashes */

#define CRASH_KEYS 8

/* Value of generation gen for key k: a header naming both, then a
 * length and a fill byte that depend on them. */
static size_t crash_value(int k, unsigned int gen, char *buf, size_t cap)
{
	size_t len = 100 + ((gen * 7919u + (unsigned int)k * 104729u) % 60000u);
	int head = snprintf(buf, cap, "k%d g%u;", k, gen);

	memset(buf + head, 'a' + (int)((gen + (unsigned int)k) % 26u),
	       len - (size_t)head);
	return len;
}

static bool crash_value_ok(int k, const char *v, size_t len,
			   unsigned int *gen_out)
{
	char want[64000];
	unsigned int gen;
	int kk;

	if (len == 0 || sscanf(v, "k%d g%u;", &kk, &gen) != 2 || kk != k)
		return false;
	*gen_out = gen;
	return crash_value(k, gen, want, sizeof(want)) == len &&
	       !memcmp(want, v, len);
}

static void crash_child(const char *root, int ready_fd)
{
	struct kvfs_store *s = NULL;
	static char value[64000];
	char key[32];

	if (open_store(root, NULL, &s))
		_exit(2);
	if (write(ready_fd, "r", 1) != 1)
		_exit(3);
	for (unsigned int gen = 1;; gen++) {
		for (int k = 0; k < CRASH_KEYS; k++) {
			size_t len = crash_value(k, gen, value, sizeof(value));

			snprintf(key, sizeof(key), "crash/k%d", k);
			if (kvfs_store_put(s, key, value, len, KVFS_STRONG))
				_exit(4);
		}
	}
}

/* Files (anything but a directory) anywhere under dir; with only_empty,
 * the regular files of length 0 only. */
static int files_under(const char *dir, bool only_empty)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[4096];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode))
			n += files_under(path, only_empty);
		else if (!only_empty ||
			 (S_ISREG(st.st_mode) && st.st_size == 0))
			n++;
	}
	closedir(d);
	return n;
}

static void test_sigkill_during_puts(void **state)
{
	struct fixture *fx = *state;
	static char value[64000];
	char key[32];
	unsigned int gen, newest = 0;

	for (int k = 0; k < CRASH_KEYS; k++) {
		size_t len = crash_value(k, 0, value, sizeof(value));

		snprintf(key, sizeof(key), "crash/k%d", k);
		assert_int_equal(kvfs_store_put(fx->store, key, value, len,
						KVFS_STRONG), 0);
	}
	/* Each child opens the root itself: one store per root at a time. */
	kvfs_store_close(fx->store);
	fx->store = NULL;
	for (int round = 0; round < 4; round++) {
		int pipefd[2], status;
		char c;
		pid_t pid;
		struct kvfs_store *after = NULL;
		struct timespec delay = { 0, 20000000L + round * 37000000L };

		assert_int_equal(pipe(pipefd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pipefd[0]);
			crash_child(fx->root, pipefd[1]);
		}
		close(pipefd[1]);
		assert_int_equal(read(pipefd[0], &c, 1), 1);
		close(pipefd[0]);
		nanosleep(&delay, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));

		/* Before anyone cleans up: only whole values are visible. */
		assert_int_equal(open_store(fx->root, NULL, &after), 0);
		for (int k = 0; k < CRASH_KEYS; k++) {
			struct kvfs_buf got = { 0 };

			snprintf(key, sizeof(key), "crash/k%d", k);
			assert_int_equal(kvfs_store_get(after, key, KVFS_STRONG,
							&got), 0);
			if (!crash_value_ok(k, got.data, got.len, &gen))
				fail_msg("round %d: %s is torn or empty (%zu "
					 "bytes)", round, key, got.len);
			if (gen > newest)
				newest = gen;
			kvfs_buf_free(&got);
		}
		kvfs_store_close(after);
		/* The reopen cleaned the dead child's temporary files: no
		 * empty file is left anywhere under the root. */
		assert_int_equal(files_under(fx->root, true), 0);
	}
	/* The children did get to overwrite values before being killed. */
	print_message("  newest generation seen after a kill: %u\n", newest);
	assert_true(newest > 0);
}

/* Names directly in dir, except those starting with '.'. */
static int visible_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_stale_temp_files(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_lister *l = NULL;
	struct kvfs_dirent ent;
	int pipefd[2], status, listed = 0;
	char c;
	pid_t pid;

	assert_int_equal(kvfs_store_put(fx->store, "kept", "k", 1, KVFS_STRONG),
			 0);
	/* A child starts a streamed write through the store it inherited
	 * and "crashes" in the middle. */
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kvfs_writer *w = NULL;
		static char chunk[1 << 20];

		close(pipefd[0]);
		memset(chunk, 'w', sizeof(chunk));
		if (kvfs_store_open_writer(fx->store, "half", KVFS_STRONG, NULL,
					   &w) ||
		    kvfs_writer_pwrite(w, chunk, sizeof(chunk), 0) < 0)
			_exit(2);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(3);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	close(pipefd[0]);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);

	/* The half-written value exists as some file (beside "kept" and the
	 * lock file), but is never listed nor readable. */
	assert_true(files_under(fx->root, false) >= 3);
	assert_int_equal(kvfs_store_list(fx->store, "", KVFS_STRONG, &l), 0);
	while (kvfs_lister_next(l, &ent) == 1) {
		assert_string_equal(ent.name, "kept");
		listed++;
	}
	kvfs_lister_close(l);
	assert_int_equal(listed, 1);
	assert_int_equal(kvfs_store_get(fx->store, "half", KVFS_STRONG,
					&(struct kvfs_buf){ 0 }),
			 KVFS_ENOTFOUND);

	/* Opening the root again removes it. */
	kvfs_store_close(fx->store);
	fx->store = NULL;
	assert_int_equal(open_store(fx->root, NULL, &fx->store), 0);
	assert_int_equal(files_under(fx->root, false), 2);
	assert_int_equal(visible_entries(fx->root), 1);
}

/* A second store on root is refused as held by pid. Says why not, and
 * asserts nothing, so that the caller can first stop that process. */
static bool in_use_by(const char *root, long pid)
{
	struct kvfs_store *s = NULL;
	char want[4200];
	int rc = open_store(root, "lock_wait=0", &s);

	snprintf(want, sizeof(want),
		 "root=%s: in use by kvfs pid %ld (one mount per root)", root,
		 pid);
	if (rc == 0)
		kvfs_store_close(s);
	if (rc == KVFS_EINVAL && !strcmp(kvfs_error_message(), want))
		return true;
	print_message("open gave %d '%s', want '%s'\n", rc,
		      rc ? kvfs_error_message() : "", want);
	return false;
}

/* While another process holds the root, in the middle of a streamed
 * write, a second open is refused by that process's pid and leaves the
 * write alone: it commits later, and the root is free once that process
 * has closed its store. */
static void test_second_open_leaves_writer(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_stat st;
	int ready[2], go[2], status;
	bool refused;
	char c;
	pid_t pid;

	kvfs_store_close(fx->store);
	fx->store = NULL;
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kvfs_store *s = NULL;
		struct kvfs_writer *w = NULL;
		static char chunk[1 << 20];

		close(ready[0]);
		close(go[1]);
		memset(chunk, 'l', sizeof(chunk));
		if (open_store(fx->root, NULL, &s) ||
		    kvfs_store_open_writer(s, "live", KVFS_STRONG, NULL, &w) ||
		    kvfs_writer_pwrite(w, chunk, sizeof(chunk), 0) < 0 ||
		    write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(2);
		status = kvfs_writer_commit(w);
		kvfs_store_close(s);
		_exit(status ? 3 : 0);
	}
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	refused = in_use_by(fx->root, pid);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(ready[0]);
	close(go[1]);
	assert_true(refused);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(open_store(fx->root, "lock_wait=0", &fx->store), 0);
	assert_int_equal(kvfs_store_stat(fx->store, "live", KVFS_STRONG, &st),
			 0);
	assert_int_equal(st.size, 1 << 20);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A child that opens the root, says so on `ready`, then pauses, or with
 * hold_ms closes the store after that long and ends. */
static pid_t start_holder(const char *root, int hold_ms)
{
	int ready[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kvfs_store *s = NULL;
		struct timespec hold = { hold_ms / 1000,
					 (hold_ms % 1000) * 1000000L };

		close(ready[0]);
		if (open_store(root, NULL, &s) || write(ready[1], "r", 1) != 1)
			_exit(2);
		if (!hold_ms)
			pause();
		nanosleep(&hold, NULL);
		kvfs_store_close(s);
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

/* One store per root: a second open is refused with the holder's pid
 * (also under the cache layer, also after a bounded wait), and the
 * root is free again once the holder closes its store, is killed, or
 * execs another program; an open waits for a holder that lets go within
 * lock_wait. */
static void test_one_store_per_root(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = NULL;
	char *lock = NULL, *text;
	int status, cloexec[2], rc;
	bool refused;
	size_t len = 0;
	double t0;
	pid_t pid;
	char c;

	assert_true(in_use_by(fx->root, (long)getpid()));
	assert_int_equal(open_store(fx->root, "cache=1M,lock_wait=0", &s),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "in use by kvfs pid"));
	t0 = now_s();
	assert_int_equal(open_store(fx->root, "lock_wait=300ms", &s),
			 KVFS_EINVAL);
	assert_true(now_s() - t0 >= 0.29);
	assert_non_null(strstr(kvfs_error_message(), "in use by kvfs pid"));
	assert_int_equal(open_store(fx->root, "lock_wait=soon", &s),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "lock_wait"));
	/* The holder's pid is in the lock file; the refusals harmed nothing. */
	assert_true(asprintf(&lock, "%s/.kvfs/lock", fx->root) > 0);
	text = kvfs_test_read_file(lock, &len);
	assert_non_null(text);
	assert_int_equal(strtol(text, NULL, 10), (long)getpid());
	free(text);
	free(lock);
	assert_int_equal(kvfs_store_put(fx->store, "k", "v", 1, KVFS_STRONG),
			 0);
	assert_stored(fx->store, "k", "v", 1);

	/* A program exec'd by the holder does not keep the root. */
	assert_int_equal(pipe2(cloexec, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	close(cloexec[1]);
	assert_int_equal(read(cloexec[0], &c, 1), 0); /* exec'd */
	close(cloexec[0]);
	kvfs_store_close(fx->store);
	fx->store = NULL;
	rc = open_store(fx->root, "lock_wait=0", &fx->store);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (rc)
		fail_msg("reopen beside an exec'd child: %s",
			 kvfs_error_message());
	assert_stored(fx->store, "k", "v", 1);

	/* A holder killed by SIGKILL lets go. */
	kvfs_store_close(fx->store);
	fx->store = NULL;
	pid = start_holder(fx->root, 0);
	refused = in_use_by(fx->root, (long)pid);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(refused);
	assert_int_equal(open_store(fx->root, "lock_wait=0", &fx->store), 0);

	/* An open waits for a holder that closes within lock_wait. */
	kvfs_store_close(fx->store);
	fx->store = NULL;
	pid = start_holder(fx->root, 300);
	t0 = now_s();
	rc = open_store(fx->root, "lock_wait=10s", &fx->store);
	waitpid(pid, &status, 0);
	if (rc)
		fail_msg("open after the holder closed: %s",
			 kvfs_error_message());
	assert_true(now_s() - t0 >= 0.2);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* When the backend cannot make its temporary file, a put fails with a
 * message and the old value stays. A removed .kvfs/tmp is made again
 * (tests/mount/test_root_faults.sh), so the directory is replaced by a
 * plain file, which no retry can turn back into a directory; once the
 * file is gone, puts work again. */
static void test_put_fails_cleanly(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_writer *w = NULL;
	char *tmp = NULL;

	assert_int_equal(kvfs_store_put(fx->store, "v", "old", 3, KVFS_STRONG),
			 0);
	assert_true(asprintf(&tmp, "%s/.kvfs/tmp", fx->root) > 0);
	assert_int_equal(kvfs_test_rmtree(tmp), 0);
	write_file(tmp, "in the way");
	assert_int_not_equal(kvfs_store_put(fx->store, "v", "new", 3,
					    KVFS_STRONG), 0);
	if (!strstr(kvfs_error_message(), ".kvfs/tmp"))
		fail_msg("message '%s' does not name .kvfs/tmp",
			 kvfs_error_message());
	assert_int_not_equal(kvfs_store_open_writer(fx->store, "v", KVFS_STRONG,
						    NULL, &w), 0);
	assert_null(w);
	assert_stored(fx->store, "v", "old", 3);

	assert_int_equal(unlink(tmp), 0);
	assert_int_equal(kvfs_store_put(fx->store, "v", "new", 3, KVFS_STRONG),
			 0);
	assert_stored(fx->store, "v", "new", 3);
	free(tmp);
}

/* ------------------------------------------------------------- opening */

static void test_bad_roots(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = NULL;
	char *missing = NULL, *file = NULL;

	assert_true(asprintf(&missing, "%s/does-not-exist", fx->base) > 0);
	assert_int_not_equal(open_store(missing, NULL, &s), 0);
	if (!strstr(kvfs_error_message(), missing))
		fail_msg("message '%s' does not name %s", kvfs_error_message(),
			 missing);
	assert_false(exists(missing));

	assert_true(asprintf(&file, "%s/plain-file", fx->base) > 0);
	write_file(file, "not a directory");
	assert_int_not_equal(open_store(file, NULL, &s), 0);
	if (!strstr(kvfs_error_message(), file))
		fail_msg("message '%s' does not name %s", kvfs_error_message(),
			 file);

	/* A root whose reserved directory is taken by a file. */
	{
		char *odd = NULL, *marker = NULL;

		assert_true(asprintf(&odd, "%s/odd-root", fx->base) > 0);
		assert_true(asprintf(&marker, "%s/.kvfs", odd) > 0);
		assert_int_equal(mkdir(odd, 0755), 0);
		write_file(marker, "in the way");
		assert_int_not_equal(open_store(odd, NULL, &s), 0);
		assert_non_null(strstr(kvfs_error_message(), ".kvfs"));
		free(odd);
		free(marker);
	}
	assert_int_not_equal(open_store("", NULL, &s), 0);
	assert_non_null(strstr(kvfs_error_message(), "root"));
	assert_int_equal(open_store(fx->root, "sync=sometimes", &s),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "sync"));
	{
		struct kvfs_options *opts = NULL;

		assert_int_equal(kvfs_options_new(&opts), 0);
		assert_int_not_equal(kvfs_store_open(opts, &s), 0);
		assert_non_null(strstr(kvfs_error_message(), "root"));
		kvfs_options_free(opts);
	}
	free(missing);
	free(file);
}

static void test_sync_false(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = NULL;
	struct kvfs_writer *w = NULL;
	struct kvfs_buf got = { 0 };

	kvfs_store_close(fx->store); /* one store per root at a time */
	fx->store = NULL;
	assert_int_equal(open_store(fx->root, "sync=false", &s), 0);
	assert_int_equal(kvfs_store_put(s, "fast/key", "quick", 5,
					KVFS_STRONG), 0);
	assert_int_equal(kvfs_store_open_writer(s, "fast/streamed", KVFS_STRONG,
						NULL, &w), 0);
	assert_int_equal(kvfs_writer_pwrite(w, "abc", 3, 0), 3);
	assert_int_equal(kvfs_writer_commit(w), 0);
	assert_int_equal(kvfs_store_rename(s, "fast/key", "fast/moved", 0,
					   KVFS_STRONG), 0);
	assert_int_equal(kvfs_store_delete(s, "fast/streamed", KVFS_STRONG),
			 0);
	kvfs_store_close(s);
	/* A store opened on the root afterwards sees it all. */
	assert_int_equal(open_store(fx->root, NULL, &fx->store), 0);
	assert_stored(fx->store, "fast/moved", "quick", 5);
	assert_int_equal(kvfs_store_get(fx->store, "fast/streamed",
					KVFS_STRONG, &got), KVFS_ENOTFOUND);
}

/* The value of "lvl" reads as `value` at every level. */
static void expect_at_every_level(struct kvfs_store *s, const char *value)
{
	for (int g = 0; g < KVFS_CONSISTENCY_COUNT; g++) {
		struct kvfs_buf got = { 0 };

		assert_int_equal(kvfs_store_get(s, "lvl",
						(enum kvfs_consistency)g, &got),
				 0);
		assert_int_equal(got.len, strlen(value));
		assert_memory_equal(got.data, value, got.len);
		kvfs_buf_free(&got);
	}
}

/* Local storage is always strongly consistent: a put at any level is seen
 * at once by a get at every level, and by the next store on the root. */
static void test_every_level_strong(void **state)
{
	struct fixture *fx = *state;
	char value[64];

	for (int p = 0; p < KVFS_CONSISTENCY_COUNT; p++) {
		for (int round = 0; round < 3; round++) {
			snprintf(value, sizeof(value), "put at %d round %d", p,
				 round);
			assert_int_equal(kvfs_store_put(fx->store, "lvl", value,
							strlen(value),
							(enum kvfs_consistency)p),
					 0);
			expect_at_every_level(fx->store, value);
		}
	}
	kvfs_store_close(fx->store);
	fx->store = NULL;
	assert_int_equal(open_store(fx->root, NULL, &fx->store), 0);
	expect_at_every_level(fx->store, value);
}

/* Space figures come from the root's filesystem. */
static void test_space(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_space sp;

	assert_int_equal(kvfs_store_space(fx->store, &sp), 0);
	assert_true(sp.block_size > 0);
	assert_true(sp.blocks > 0);
	assert_true(sp.blocks_free <= sp.blocks);
	assert_int_equal(kvfs_store_control(fx->store, KVFS_CTL_DRAIN, NULL),
			 KVFS_ENOTSUPPORTED);
}

/* A reader lends its snapshot's descriptor (KVFS_CTL_READER_FD): it
 * reads the value the reader opened, also after the key is rewritten. */
static void test_reader_fd(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_reader_fd rf = { .fd = -1 };
	struct kvfs_reader *r = NULL;
	char buf[32] = "";

	assert_int_equal(kvfs_store_put(fx->store, "lent", "first", 5,
					KVFS_STRONG), 0);
	assert_int_equal(kvfs_store_open_reader(fx->store, "lent",
						KVFS_STRONG, &r), 0);
	rf.reader = r;
	assert_int_equal(kvfs_store_control(fx->store, KVFS_CTL_READER_FD,
					    &rf), 0);
	assert_true(rf.fd >= 0);
	assert_int_equal(kvfs_store_put(fx->store, "lent", "second value",
					12, KVFS_STRONG), 0);
	assert_int_equal(pread(rf.fd, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "first", 5);
	kvfs_reader_close(r);
	rf.reader = NULL;
	assert_int_equal(kvfs_store_control(fx->store, KVFS_CTL_READER_FD,
					    &rf), KVFS_ENOTSUPPORTED);
}

struct filler {
	int fd;
	char fill;
	size_t len;
};

static void *fill_pipe(void *arg)
{
	struct filler *f = arg;
	char chunk[4096];

	memset(chunk, f->fill, sizeof(chunk));
	for (size_t done = 0; done < f->len;) {
		size_t n = f->len - done < sizeof(chunk) ? f->len - done
							 : sizeof(chunk);
		ssize_t w = write(f->fd, chunk, n);

		if (w <= 0)
			break;
		done += (size_t)w;
	}
	close(f->fd);
	free(f);
	return NULL;
}

/* A new pipe that a thread fills with `len` bytes of `fill` (more than a
 * pipe holds): its read end. */
static int pipe_with(char fill, size_t len)
{
	struct filler *f = malloc(sizeof(*f));
	pthread_t t;
	int fds[2];

	assert_non_null(f);
	assert_int_equal(pipe(fds), 0);
	*f = (struct filler){ .fd = fds[1], .fill = fill, .len = len };
	assert_int_equal(pthread_create(&t, NULL, fill_pipe, f), 0);
	pthread_detach(t);
	return fds[0];
}

/* kvfs_writer_pwrite_from moves bytes out of a pipe into the value at an
 * offset: by splice into the writer's lent file (KVFS_CTL_WRITER_FD), or
 * through a buffer for a writer that lends none (one under the cache
 * layer). Either way the size follows and the commit publishes it. */
static void test_writer_pwrite_from(void **state)
{
	struct fixture *fx = *state;
	const size_t big = 300 * 1024;

	for (int i = 0; i < 2; i++) {
		const char *key = i ? "from-pipe-cached" : "from-pipe";
		struct kvfs_writer_fd wf = { .fd = -1 };
		struct kvfs_writer *w = NULL;
		struct kvfs_buf got = { 0 };
		size_t done = 0;
		int fd = pipe_with('x', big);

		/* One store per root at a time: plain, then cached. */
		kvfs_store_close(fx->store);
		fx->store = NULL;
		assert_int_equal(open_store(fx->root, i ? "cache=1M" : NULL,
					    &fx->store), 0);
		assert_int_equal(kvfs_store_open_writer(fx->store, key,
						KVFS_STRONG, NULL, &w), 0);
		wf.writer = w;
		/* Only the local backend's own writer lends its file. */
		assert_int_equal(kvfs_store_control(fx->store,
					KVFS_CTL_WRITER_FD, &wf),
				 i ? KVFS_ENOTSUPPORTED : 0);
		assert_int_equal(kvfs_writer_pwrite(w, "head", 4, 0), 4);
		while (done < big) {
			ssize_t n = kvfs_writer_pwrite_from(w, fd, big - done,
							    10 + done);

			assert_true(n > 0);
			done += (size_t)n;
		}
		/* The pipe is empty now: nothing more to move. */
		assert_int_equal(kvfs_writer_pwrite_from(w, fd, 10, big), 0);
		close(fd);
		assert_int_equal(kvfs_writer_size(w), 10 + big);
		assert_int_equal(kvfs_writer_commit(w), 0);
		assert_int_equal(kvfs_store_get(fx->store, key, KVFS_STRONG,
						&got), 0);
		assert_int_equal(got.len, 10 + big);
		assert_memory_equal(got.data, "head\0\0\0\0\0\0", 10);
		for (size_t j = 10; j < got.len; j++)
			if (((char *)got.data)[j] != 'x')
				fail_msg("byte %zu of %s is wrong", j, key);
		kvfs_buf_free(&got);
	}
}

/* A descriptor that is not a pipe is read instead of spliced. */
static void test_writer_pwrite_from_file(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_writer *w = NULL;
	char *path = NULL;
	int fd;

	assert_true(asprintf(&path, "%s/source", fx->outside) > 0);
	write_file(path, "from a file");
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(kvfs_store_open_writer(fx->store, "from-file",
						KVFS_STRONG, NULL, &w), 0);
	assert_int_equal(kvfs_writer_pwrite_from(w, fd, 100, 0), 11);
	assert_int_equal(kvfs_writer_commit(w), 0);
	close(fd);
	free(path);
	assert_stored(fx->store, "from-file", "from a file", 11);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_planted_symlinks),
		T(test_planted_hard_links),
		T(test_escaping_keys),
		T(test_reserved_keys),
		T(test_concurrent_overwrites),
		T(test_sigkill_during_puts),
		T(test_stale_temp_files),
		T(test_second_open_leaves_writer),
		T(test_one_store_per_root),
		T(test_put_fails_cleanly),
		T(test_bad_roots),
		T(test_sync_false),
		T(test_every_level_strong),
		T(test_space),
		T(test_reader_fd),
		T(test_writer_pwrite_from),
		T(test_writer_pwrite_from_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
