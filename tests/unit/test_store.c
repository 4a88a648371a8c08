/*
 * test_store.c - the store's wrappers, against a fake backend with call
 * counters: keys and levels are checked before the backend is called;
 * optional methods are used when present and fallen back from when NULL
 * (stat by get, rename by copy, reader from get, spooled writer, "not
 * supported" for the rest); vtables are version-checked; per-level
 * statistics count operations and errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <kvfs/backend.h>

#include "store_internal.h"
#include "testutil.h"

enum {
	C_GET, C_PUT, C_DEL, C_DESTROY, C_STAT, C_LIST, C_RENAME, C_MKDIR,
	C_RMDIR, C_SET_ATTR, C_GETXATTR, C_SETXATTR, C_LISTXATTR,
	C_REMOVEXATTR, C_READER, C_WRITER, C_SPACE, C_CONTROL, C_COUNT
};

static const char *const call_names[C_COUNT] = {
	"get", "put", "del", "destroy", "stat", "list", "rename", "mkdir",
	"rmdir", "set_attr", "getxattr", "setxattr", "listxattr",
	"removexattr", "open_reader", "open_writer", "space", "control",
};

struct fake_entry {
	char *key;
	struct kvfs_buf value;
	struct fake_entry *next;
};

/* The fake backend: a list of values; calls are counted in the fixture,
 * which outlives the backend (the store frees it). */
struct fake {
	struct kvfs_backend base;
	struct fake_entry *entries;
	int *calls;
	int fail_get;  /* when non-zero, the next get returns this */
	int fail_put;  /* when non-zero, the next put returns this */
};

struct fixture {
	int calls[C_COUNT];
	struct fake *fake;
	struct kvfs_store *store;
};

static struct fake *fake_of(struct kvfs_backend *b)
{
	return (struct fake *)b;
}

static struct fake_entry **find_entry(struct fake *f, const char *key)
{
	struct fake_entry **e = &f->entries;

	while (*e && strcmp((*e)->key, key))
		e = &(*e)->next;
	return e;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static int fake_get(struct kvfs_backend *b, const char *key,
		    enum kvfs_consistency level, struct kvfs_buf *out)
{
	struct fake *f = fake_of(b);
	struct fake_entry *e;
	int rc = f->fail_get;

	f->calls[C_GET]++;
	f->fail_get = 0;
	if (rc)
		return kvfs_error_set(rc, "injected get failure");
	if (!strcmp(key, "slow"))
		sleep_us(3000);
	e = *find_entry(f, key);
	if (!e)
		return kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);
	return kvfs_buf_set(out, e->value.data, e->value.len);
}

static int fake_put(struct kvfs_backend *b, const char *key,
		    const void *value, size_t len, enum kvfs_consistency level)
{
	struct fake *f = fake_of(b);
	struct fake_entry **e = find_entry(f, key);
	int rc = f->fail_put;

	f->calls[C_PUT]++;
	f->fail_put = 0;
	if (rc)
		return kvfs_error_set(rc, "injected put failure");
	if (!*e) {
		*e = calloc(1, sizeof(**e));
		assert_non_null(*e);
		(*e)->key = strdup(key);
	}
	return kvfs_buf_set(&(*e)->value, value, len);
}

static int fake_del(struct kvfs_backend *b, const char *key,
		    enum kvfs_consistency level)
{
	struct fake *f = fake_of(b);
	struct fake_entry **e = find_entry(f, key), *gone = *e;

	f->calls[C_DEL]++;
	if (!gone)
		return kvfs_error_set(KVFS_ENOTFOUND, "no key %s", key);
	*e = gone->next;
	free(gone->key);
	kvfs_buf_free(&gone->value);
	free(gone);
	return 0;
}

static void fake_destroy(struct kvfs_backend *b)
{
	struct fake *f = fake_of(b);

	f->calls[C_DESTROY]++;
	while (f->entries) {
		struct fake_entry *e = f->entries;

		f->entries = e->next;
		free(e->key);
		kvfs_buf_free(&e->value);
		free(e);
	}
	free(f);
}

/* Optional methods of the full fake: each answers something the
 * fallbacks never would, so a test can tell which ran. */
static int full_stat(struct kvfs_backend *b, const char *key,
		     enum kvfs_consistency level, struct kvfs_stat *st)
{
	fake_of(b)->calls[C_STAT]++;
	memset(st, 0, sizeof(*st));
	st->kind = key[0] ? KVFS_KIND_FILE : KVFS_KIND_DIR;
	st->size = 99;
	st->mtime.tv_sec = 1;
	return 0;
}

struct fake_lister {
	struct kvfs_lister base;
	int left;
};

static int fake_lister_next(struct kvfs_lister *l, struct kvfs_dirent *ent)
{
	struct fake_lister *fl = (struct fake_lister *)l;

	if (!fl->left)
		return 0;
	snprintf(ent->name, sizeof(ent->name), "child%d", fl->left--);
	ent->kind = KVFS_KIND_FILE;
	return 1;
}

static void fake_lister_close(struct kvfs_lister *l)
{
	free(l);
}

static const struct kvfs_lister_ops fake_lister_ops = {
	.next = fake_lister_next,
	.close = fake_lister_close,
};

static int full_list(struct kvfs_backend *b, const char *key,
		     enum kvfs_consistency level, struct kvfs_lister **out)
{
	struct fake_lister *fl = calloc(1, sizeof(*fl));

	fake_of(b)->calls[C_LIST]++;
	assert_non_null(fl);
	fl->base.ops = &fake_lister_ops;
	fl->left = 2;
	*out = &fl->base;
	return 0;
}

static int full_rename(struct kvfs_backend *b, const char *from,
		       const char *to, unsigned int flags,
		       enum kvfs_consistency level)
{
	fake_of(b)->calls[C_RENAME]++;
	return 0;
}

static int full_mkdir(struct kvfs_backend *b, const char *key, uint32_t mode,
		      enum kvfs_consistency level)
{
	fake_of(b)->calls[C_MKDIR]++;
	return 0;
}

static int full_rmdir(struct kvfs_backend *b, const char *key,
		      enum kvfs_consistency level)
{
	fake_of(b)->calls[C_RMDIR]++;
	return KVFS_ENOTEMPTY;
}

static int full_set_attr(struct kvfs_backend *b, const char *key,
			 unsigned int fields, uint32_t mode,
			 const struct timespec *mtime,
			 enum kvfs_consistency level)
{
	fake_of(b)->calls[C_SET_ATTR]++;
	return 0;
}

static int full_getxattr(struct kvfs_backend *b, const char *key,
			 const char *name, struct kvfs_buf *out)
{
	fake_of(b)->calls[C_GETXATTR]++;
	return kvfs_buf_set(out, "xv", 2);
}

static int full_setxattr(struct kvfs_backend *b, const char *key,
			 const char *name, const void *value, size_t len,
			 unsigned int flags)
{
	fake_of(b)->calls[C_SETXATTR]++;
	return 0;
}

static int full_listxattr(struct kvfs_backend *b, const char *key,
			  struct kvfs_buf *out)
{
	fake_of(b)->calls[C_LISTXATTR]++;
	return kvfs_buf_set(out, "user.a\0", 7);
}

static int full_removexattr(struct kvfs_backend *b, const char *key,
			    const char *name)
{
	fake_of(b)->calls[C_REMOVEXATTR]++;
	return KVFS_ENODATA;
}

static int full_open_reader(struct kvfs_backend *b, const char *key,
			    enum kvfs_consistency level,
			    struct kvfs_reader **out)
{
	fake_of(b)->calls[C_READER]++;
	fake_of(b)->calls[C_GET]--; /* count only the method, not its work */
	return kvfs_fallback_open_reader(b, key, level, out);
}

static int full_open_writer(struct kvfs_backend *b, const char *key,
			    enum kvfs_consistency level,
			    struct kvfs_reader *base, struct kvfs_writer **out)
{
	fake_of(b)->calls[C_WRITER]++;
	return kvfs_fallback_open_writer(b, key, level, base, out);
}

static int full_space(struct kvfs_backend *b, struct kvfs_space *space)
{
	fake_of(b)->calls[C_SPACE]++;
	memset(space, 0, sizeof(*space));
	space->block_size = 4096;
	return 0;
}

static int full_control(struct kvfs_backend *b, int op, void *arg)
{
	fake_of(b)->calls[C_CONTROL]++;
	if (op == KVFS_CTL_STATS_TEXT)
		return kvfs_buf_appendf(arg, "fake: %d\n", 1);
	return kvfs_error_set(KVFS_ENOTSUPPORTED, "control %d", op);
}

static const struct kvfs_backend_ops minimal_ops = {
	.version = KVFS_BACKEND_VERSION,
	.name = "fake-minimal",
	.get = fake_get,
	.put = fake_put,
	.del = fake_del,
	.destroy = fake_destroy,
};

static const struct kvfs_backend_ops full_ops = {
	.version = KVFS_BACKEND_VERSION,
	.name = "fake-full",
	.get = fake_get,
	.put = fake_put,
	.del = fake_del,
	.destroy = fake_destroy,
	.stat = full_stat,
	.list = full_list,
	.rename = full_rename,
	.mkdir = full_mkdir,
	.rmdir = full_rmdir,
	.set_attr = full_set_attr,
	.getxattr = full_getxattr,
	.setxattr = full_setxattr,
	.listxattr = full_listxattr,
	.removexattr = full_removexattr,
	.open_reader = full_open_reader,
	.open_writer = full_open_writer,
	.space = full_space,
	.control = full_control,
};

static int setup_with(void **state, const struct kvfs_backend_ops *ops)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->fake = calloc(1, sizeof(*fx->fake));
	if (!fx->fake)
		return -1;
	fx->fake->base.ops = ops;
	fx->fake->calls = fx->calls;
	if (kvfs_store_from_backend(&fx->fake->base, &fx->store))
		return -1;
	*state = fx;
	return 0;
}

static int setup_minimal(void **state)
{
	return setup_with(state, &minimal_ops);
}

static int setup_full(void **state)
{
	return setup_with(state, &full_ops);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	kvfs_store_close(fx->store);
	assert_int_equal(fx->calls[C_DESTROY], 1);
	free(fx);
	return 0;
}

/* Assert the call counters, given as pairs (C_X, n) ending with -1; all
 * others must be 0. Counters are reset afterwards. */
static void expect_calls(struct fixture *fx, ...)
{
	int want[C_COUNT] = { 0 };
	va_list ap;
	int which;

	va_start(ap, fx);
	while ((which = va_arg(ap, int)) >= 0)
		want[which] = va_arg(ap, int);
	va_end(ap);
	for (int i = 0; i < C_COUNT; i++)
		if (i != C_DESTROY && fx->calls[i] != want[i])
			fail_msg("backend %s called %d times, want %d",
				 call_names[i], fx->calls[i], want[i]);
	for (int i = 0; i < C_COUNT; i++)
		if (i != C_DESTROY)
			fx->calls[i] = 0;
}

static void put_str(struct fixture *fx, const char *key, const char *v)
{
	assert_int_equal(kvfs_store_put(fx->store, key, v, strlen(v),
					KVFS_STRONG), 0);
}

static void expect_str(struct fixture *fx, const char *key, const char *v)
{
	struct kvfs_buf got = { 0 };

	assert_int_equal(kvfs_store_get(fx->store, key, KVFS_STRONG, &got), 0);
	assert_int_equal(got.len, strlen(v));
	assert_memory_equal(got.data, v, got.len);
	kvfs_buf_free(&got);
}

/* ------------------------------------------------------ argument checks */

/* Every wrapper refuses a bad key (or level, or argument) without calling
 * the backend. */
static void test_checks_before_backend(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = fx->store;
	const enum kvfs_consistency bad_level = (enum kvfs_consistency)9;
	char long_name[300];
	struct kvfs_buf buf = { 0 };
	struct kvfs_stat st;
	struct kvfs_reader *r = NULL;
	struct kvfs_writer *w = NULL;
	struct kvfs_lister *l = NULL;
	struct timespec ts = { 1, 0 };

	assert_int_equal(kvfs_store_get(s, "a//b", KVFS_STRONG, &buf),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_put(s, "/abs", "v", 1, KVFS_STRONG),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_delete(s, "..", KVFS_STRONG),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_stat(s, "a/", KVFS_STRONG, &st),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_mkdir(s, "", 0755, KVFS_STRONG),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_rmdir(s, ".", KVFS_STRONG),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_rename(s, "a/../b", "c", 0, KVFS_STRONG),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_rename(s, "c", "a/./b", 0, KVFS_STRONG),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_rename(s, "c", "d", 0x10, KVFS_STRONG),
			 KVFS_EINVAL);
	assert_int_equal(kvfs_store_set_attr(s, "/x", KVFS_ATTR_MODE, 0600,
					     NULL, KVFS_STRONG),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_set_attr(s, "x", KVFS_ATTR_MTIME, 0, NULL,
					     KVFS_STRONG), KVFS_EINVAL);
	assert_int_equal(kvfs_store_getxattr(s, "a//b", "user.a", &buf),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_setxattr(s, "a//b", "user.a", "1", 1, 0),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_listxattr(s, "a//b", &buf),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_removexattr(s, "a//b", "user.a"),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_list(s, "/", KVFS_STRONG, &l),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_open_reader(s, "", KVFS_STRONG, &r),
			 KVFS_EINVALKEY);
	assert_int_equal(kvfs_store_open_writer(s, "a//", KVFS_STRONG, NULL,
						&w), KVFS_EINVALKEY);

	/* Bad attribute names. */
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(kvfs_store_getxattr(s, "x", "", &buf), KVFS_EINVAL);
	assert_int_equal(kvfs_store_getxattr(s, "x", NULL, &buf), KVFS_EINVAL);
	assert_int_equal(kvfs_store_setxattr(s, "x", long_name, "1", 1, 0),
			 KVFS_ENAMETOOLONG);
	assert_int_equal(kvfs_store_removexattr(s, "x", ""), KVFS_EINVAL);

	/* Bad levels. */
	assert_int_equal(kvfs_store_get(s, "k", bad_level, &buf), KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "level 9"));
	assert_int_equal(kvfs_store_put(s, "k", "v", 1, bad_level),
			 KVFS_EINVAL);
	assert_int_equal(kvfs_store_delete(s, "k", bad_level), KVFS_EINVAL);
	assert_int_equal(kvfs_store_stat(s, "k", bad_level, &st), KVFS_EINVAL);
	assert_int_equal(kvfs_store_mkdir(s, "k", 0, bad_level), KVFS_EINVAL);
	assert_int_equal(kvfs_store_rmdir(s, "k", bad_level), KVFS_EINVAL);
	assert_int_equal(kvfs_store_rename(s, "k", "j", 0, bad_level),
			 KVFS_EINVAL);
	assert_int_equal(kvfs_store_set_attr(s, "k", KVFS_ATTR_MTIME, 0, &ts,
					     bad_level), KVFS_EINVAL);
	assert_int_equal(kvfs_store_list(s, "", bad_level, &l), KVFS_EINVAL);
	assert_int_equal(kvfs_store_open_reader(s, "k", bad_level, &r),
			 KVFS_EINVAL);
	assert_int_equal(kvfs_store_open_writer(s, "k",
						(enum kvfs_consistency)-1,
						NULL, &w), KVFS_EINVAL);
	expect_calls(fx, -1);
}

/* ---------------------------------------------------- required methods */

static void test_required_methods(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_buf got = { 0 };

	put_str(fx, "k", "value");
	expect_calls(fx, C_PUT, 1, -1);
	expect_str(fx, "k", "value");
	expect_calls(fx, C_GET, 1, -1);
	assert_int_equal(kvfs_store_delete(fx->store, "k", KVFS_EVENTUAL), 0);
	assert_int_equal(kvfs_store_get(fx->store, "k", KVFS_CAUSAL, &got),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_delete(fx->store, "k", KVFS_EVENTUAL),
			 KVFS_ENOTFOUND);
	expect_calls(fx, C_DEL, 2, C_GET, 1, -1);
	assert_string_equal(kvfs_store_backend_name(fx->store), "fake-minimal");
	assert_ptr_equal(kvfs_store_backend(fx->store), &fx->fake->base);
	kvfs_store_close(NULL);
}

/* ------------------------------------------------------------ fallbacks */

static void test_stat_fallback(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_stat st;

	put_str(fx, "k", "12345");
	memset(&st, 0xff, sizeof(st));
	assert_int_equal(kvfs_store_stat(fx->store, "k", KVFS_STRONG, &st), 0);
	assert_int_equal(st.kind, KVFS_KIND_FILE);
	assert_int_equal(st.size, 5);
	assert_int_equal(st.mtime.tv_sec, 0);
	assert_int_equal(st.mode, 0);
	expect_calls(fx, C_PUT, 1, C_GET, 1, -1);
	assert_int_equal(kvfs_store_stat(fx->store, "none", KVFS_STRONG, &st),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_stat(fx->store, "", KVFS_STRONG, &st),
			 KVFS_ENOTSUPPORTED);
	assert_non_null(strstr(kvfs_error_message(), "fake-minimal"));
	expect_calls(fx, C_GET, 1, -1);
}

static void test_stat_method(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_stat st;

	assert_int_equal(kvfs_store_stat(fx->store, "k", KVFS_STRONG, &st), 0);
	assert_int_equal(st.size, 99);
	assert_int_equal(kvfs_store_stat(fx->store, "", KVFS_STRONG, &st), 0);
	assert_int_equal(st.kind, KVFS_KIND_DIR);
	expect_calls(fx, C_STAT, 2, -1);
}

static void test_rename_fallback(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = fx->store;
	struct kvfs_buf got = { 0 };

	put_str(fx, "a", "A");
	expect_calls(fx, C_PUT, 1, -1);
	assert_int_equal(kvfs_store_rename(s, "a", "b", 0, KVFS_STRONG), 0);
	expect_calls(fx, C_GET, 1, C_PUT, 1, C_DEL, 1, -1);
	expect_str(fx, "b", "A");
	assert_int_equal(kvfs_store_get(s, "a", KVFS_STRONG, &got),
			 KVFS_ENOTFOUND);

	/* NOREPLACE: looks first, refuses, changes nothing. */
	put_str(fx, "c", "C");
	expect_calls(fx, C_GET, 2, C_PUT, 1, -1);
	assert_int_equal(kvfs_store_rename(s, "b", "c", KVFS_RENAME_NOREPLACE,
					   KVFS_STRONG), KVFS_EEXISTS);
	expect_calls(fx, C_GET, 1, -1);
	expect_str(fx, "b", "A");
	expect_str(fx, "c", "C");
	assert_int_equal(kvfs_store_rename(s, "b", "d", KVFS_RENAME_NOREPLACE,
					   KVFS_STRONG), 0);
	expect_str(fx, "d", "A");

	/* Replacing, a missing source, and failures passed on. */
	assert_int_equal(kvfs_store_rename(s, "d", "c", 0, KVFS_STRONG), 0);
	expect_str(fx, "c", "A");
	assert_int_equal(kvfs_store_rename(s, "zz", "y", 0, KVFS_STRONG),
			 KVFS_ENOTFOUND);
	fx->fake->fail_get = KVFS_EUNAVAILABLE;
	assert_int_equal(kvfs_store_rename(s, "c", "e", KVFS_RENAME_NOREPLACE,
					   KVFS_STRONG), KVFS_EUNAVAILABLE);
	fx->fake->fail_put = KVFS_ENOSPACE;
	assert_int_equal(kvfs_store_rename(s, "c", "e", 0, KVFS_STRONG),
			 KVFS_ENOSPACE);
	expect_str(fx, "c", "A");
	assert_int_equal(kvfs_store_get(s, "e", KVFS_STRONG, &got),
			 KVFS_ENOTFOUND);
}

static void test_rename_method(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(kvfs_store_rename(fx->store, "a", "b",
					   KVFS_RENAME_NOREPLACE, KVFS_STRONG),
			 0);
	expect_calls(fx, C_RENAME, 1, -1);
}

static void test_reader_fallback(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_reader *r = NULL;
	char buf[16];

	put_str(fx, "k", "0123456789");
	assert_int_equal(kvfs_store_open_reader(fx->store, "k", KVFS_STRONG,
						&r), 0);
	expect_calls(fx, C_PUT, 1, C_GET, 1, -1);
	assert_int_equal(kvfs_reader_size(r), 10);
	put_str(fx, "k", "changed");
	assert_int_equal(kvfs_reader_pread(r, buf, 4, 0), 4);
	assert_memory_equal(buf, "0123", 4);
	assert_int_equal(kvfs_reader_pread(r, buf, sizeof(buf), 8), 2);
	assert_memory_equal(buf, "89", 2);
	assert_int_equal(kvfs_reader_pread(r, buf, sizeof(buf), 10), 0);
	assert_int_equal(kvfs_reader_pread(r, buf, sizeof(buf), 1000), 0);
	assert_int_equal(kvfs_reader_pread(r, buf, 0, 0), 0);
	kvfs_reader_close(r);
	kvfs_reader_close(NULL);
	assert_int_equal(kvfs_store_open_reader(fx->store, "none", KVFS_STRONG,
						&r), KVFS_ENOTFOUND);
}

static void test_reader_method(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_reader *r = NULL;

	put_str(fx, "k", "abc");
	assert_int_equal(kvfs_store_open_reader(fx->store, "k", KVFS_STRONG,
						&r), 0);
	kvfs_reader_close(r);
	expect_calls(fx, C_PUT, 1, C_READER, 1, -1);
}

static void test_spooled_writer(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = fx->store;
	struct kvfs_writer *w = NULL;
	struct kvfs_reader *r = NULL;
	char buf[32];

	/* Nothing reaches the backend before commit; commit is one put. */
	assert_int_equal(kvfs_store_open_writer(s, "k", KVFS_STRONG, NULL, &w),
			 0);
	assert_int_equal(kvfs_writer_size(w), 0);
	assert_int_equal(kvfs_writer_pwrite(w, "hello", 5, 0), 5);
	assert_int_equal(kvfs_writer_pwrite(w, "", 0, 0), 0);
	assert_int_equal(kvfs_writer_pwrite(w, "!!", 2, 7), 2);
	assert_int_equal(kvfs_writer_size(w), 9);
	assert_int_equal(kvfs_writer_pread(w, buf, sizeof(buf), 0), 9);
	assert_memory_equal(buf, "hello\0\0!!", 9);
	assert_int_equal(kvfs_writer_pread(w, buf, sizeof(buf), 9), 0);
	assert_int_equal(kvfs_writer_truncate(w, 5), 0);
	assert_int_equal(kvfs_writer_size(w), 5);
	expect_calls(fx, -1);
	assert_int_equal(kvfs_writer_commit(w), 0);
	expect_calls(fx, C_PUT, 1, -1);
	expect_str(fx, "k", "hello");

	/* From a base reader; abort puts nothing. */
	assert_int_equal(kvfs_store_open_reader(s, "k", KVFS_STRONG, &r), 0);
	assert_int_equal(kvfs_store_open_writer(s, "k", KVFS_STRONG, r, &w), 0);
	kvfs_reader_close(r);
	assert_int_equal(kvfs_writer_size(w), 5);
	assert_int_equal(kvfs_writer_pread(w, buf, 5, 0), 5);
	assert_memory_equal(buf, "hello", 5);
	kvfs_writer_abort(w);
	kvfs_writer_abort(NULL);
	expect_calls(fx, C_GET, 2, -1);
	expect_str(fx, "k", "hello");

	/* An empty commit puts an empty value. */
	assert_int_equal(kvfs_store_open_writer(s, "e", KVFS_STRONG, NULL, &w),
			 0);
	assert_int_equal(kvfs_writer_commit(w), 0);
	assert_int_equal(kvfs_store_stat(s, "e", KVFS_STRONG, &(struct kvfs_stat){
				 0 }), 0);

	/* A failed put: the error comes back, the value is unchanged. */
	assert_int_equal(kvfs_store_open_writer(s, "k", KVFS_STRONG, NULL, &w),
			 0);
	assert_int_equal(kvfs_writer_pwrite(w, "new", 3, 0), 3);
	fx->fake->fail_put = KVFS_ETOOLARGE;
	assert_int_equal(kvfs_writer_commit(w), KVFS_ETOOLARGE);
	expect_str(fx, "k", "hello");
}

static void test_spooled_writer_large_base(void **state)
{
	struct fixture *fx = *state;
	size_t len = 3 * 1024 * 1024 + 123;
	char *value = malloc(len), *back = malloc(len);
	struct kvfs_reader *r = NULL;
	struct kvfs_writer *w = NULL;

	assert_non_null(value);
	assert_non_null(back);
	for (size_t i = 0; i < len; i++)
		value[i] = (char)(i * 31 + (i >> 12));
	assert_int_equal(kvfs_store_put(fx->store, "big", value, len,
					KVFS_STRONG), 0);
	assert_int_equal(kvfs_store_open_reader(fx->store, "big", KVFS_STRONG,
						&r), 0);
	assert_int_equal(kvfs_store_open_writer(fx->store, "copy", KVFS_STRONG,
						r, &w), 0);
	kvfs_reader_close(r);
	assert_int_equal(kvfs_writer_size(w), len);
	assert_int_equal(kvfs_writer_pread(w, back, len, 0), len);
	assert_memory_equal(back, value, len);
	assert_int_equal(kvfs_writer_commit(w), 0);
	free(back);
	back = NULL;
	{
		struct kvfs_buf got = { 0 };

		assert_int_equal(kvfs_store_get(fx->store, "copy", KVFS_STRONG,
						&got), 0);
		assert_int_equal(got.len, len);
		assert_memory_equal(got.data, value, len);
		kvfs_buf_free(&got);
	}
	free(value);
}

/* A base reader that fails, or ends before its size. */
struct odd_reader {
	struct kvfs_reader base;
	ssize_t answer;
};

static ssize_t odd_pread(struct kvfs_reader *r, void *buf, size_t len,
			 uint64_t off)
{
	return ((struct odd_reader *)r)->answer;
}

static void odd_close(struct kvfs_reader *r)
{
}

static const struct kvfs_reader_ops odd_reader_ops = {
	.pread = odd_pread,
	.close = odd_close,
};

static void test_writer_bad_base(void **state)
{
	struct fixture *fx = *state;
	struct odd_reader odd = { { &odd_reader_ops, 100 }, KVFS_EUNAVAILABLE };
	struct kvfs_writer *w = NULL;
	const char *tmpdir = getenv("TMPDIR");
	char *saved = tmpdir ? strdup(tmpdir) : NULL;

	assert_int_equal(kvfs_store_open_writer(fx->store, "k", KVFS_STRONG,
						&odd.base, &w),
			 KVFS_EUNAVAILABLE);
	odd.answer = 0;
	assert_int_equal(kvfs_store_open_writer(fx->store, "k", KVFS_STRONG,
						&odd.base, &w), KVFS_EFAIL);
	assert_non_null(strstr(kvfs_error_message(), "shrank"));
	odd.base.size = 0;
	assert_int_equal(kvfs_store_open_writer(fx->store, "k", KVFS_STRONG,
						&odd.base, &w), 0);
	kvfs_writer_abort(w);

	/* No place to spool to. */
	setenv("TMPDIR", "/nonexistent/kvfs-spool", 1);
	assert_int_not_equal(kvfs_store_open_writer(fx->store, "k",
						    KVFS_STRONG, NULL, &w), 0);
	assert_non_null(strstr(kvfs_error_message(), "spool"));
	if (saved)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	free(saved);
	expect_calls(fx, -1);
}

static void test_writer_method(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_writer *w = NULL;

	assert_int_equal(kvfs_store_open_writer(fx->store, "k", KVFS_STRONG,
						NULL, &w), 0);
	assert_int_equal(kvfs_writer_pwrite(w, "x", 1, 0), 1);
	assert_int_equal(kvfs_writer_commit(w), 0);
	expect_calls(fx, C_WRITER, 1, C_PUT, 1, -1);
}

static void expect_not_supported(int rc, const char *what)
{
	if (rc != KVFS_ENOTSUPPORTED)
		fail_msg("%s: %d (%s), want not supported", what, rc,
			 kvfs_error_name(rc));
	assert_non_null(strstr(kvfs_error_message(), "fake-minimal"));
	assert_non_null(strstr(kvfs_error_message(), "not support"));
}

static void test_optional_not_supported(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = fx->store;
	struct kvfs_buf buf = { 0 };
	struct kvfs_lister *l = NULL;
	struct kvfs_space space;
	struct timespec ts = { 5, 0 };

	expect_not_supported(kvfs_store_list(s, "", KVFS_STRONG, &l), "list");
	expect_not_supported(kvfs_store_mkdir(s, "d", 0755, KVFS_STRONG),
			     "mkdir");
	expect_not_supported(kvfs_store_rmdir(s, "d", KVFS_STRONG), "rmdir");
	expect_not_supported(kvfs_store_set_attr(s, "k", KVFS_ATTR_MTIME, 0,
						 &ts, KVFS_STRONG), "set_attr");
	expect_not_supported(kvfs_store_getxattr(s, "k", "user.a", &buf),
			     "getxattr");
	expect_not_supported(kvfs_store_setxattr(s, "k", "user.a", "1", 1, 0),
			     "setxattr");
	expect_not_supported(kvfs_store_listxattr(s, "k", &buf), "listxattr");
	expect_not_supported(kvfs_store_removexattr(s, "k", "user.a"),
			     "removexattr");
	expect_not_supported(kvfs_store_space(s, &space), "space");
	expect_not_supported(kvfs_store_control(s, KVFS_CTL_DRAIN, NULL),
			     "control");
	expect_calls(fx, -1);
	/* No control at all: no capabilities, so the daemon assumes a
	 * shared, remote store. */
	assert_int_equal(kvfs_store_caps(fx->store), 0);
}

static void test_optional_present(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = fx->store;
	struct kvfs_buf buf = { 0 };
	struct kvfs_lister *l = NULL;
	struct kvfs_dirent ent;
	struct kvfs_space space;
	struct timespec ts = { 5, 0 };

	assert_int_equal(kvfs_store_list(s, "", KVFS_STRONG, &l), 0);
	assert_int_equal(kvfs_lister_next(l, &ent), 1);
	assert_string_equal(ent.name, "child2");
	assert_int_equal(kvfs_lister_next(l, &ent), 1);
	assert_int_equal(kvfs_lister_next(l, &ent), 0);
	kvfs_lister_close(l);
	kvfs_lister_close(NULL);
	assert_int_equal(kvfs_store_mkdir(s, "d", 0755, KVFS_STRONG), 0);
	assert_int_equal(kvfs_store_rmdir(s, "d", KVFS_STRONG), KVFS_ENOTEMPTY);
	assert_int_equal(kvfs_store_set_attr(s, "", KVFS_ATTR_MTIME, 0, &ts,
					     KVFS_STRONG), 0);
	assert_int_equal(kvfs_store_getxattr(s, "k", "user.a", &buf), 0);
	assert_memory_equal(buf.data, "xv", 2);
	assert_int_equal(kvfs_store_setxattr(s, "", "user.a", "1", 1, 0), 0);
	assert_int_equal(kvfs_store_listxattr(s, "k", &buf), 0);
	assert_int_equal(buf.len, 7);
	assert_int_equal(kvfs_store_removexattr(s, "k", "user.a"),
			 KVFS_ENODATA);
	assert_int_equal(kvfs_store_space(s, &space), 0);
	assert_int_equal(space.block_size, 4096);
	kvfs_buf_free(&buf);
	assert_int_equal(kvfs_store_control(s, KVFS_CTL_STATS_TEXT, &buf), 0);
	assert_string_equal(buf.data, "fake: 1\n");
	assert_int_equal(kvfs_store_control(s, 9999, NULL),
			 KVFS_ENOTSUPPORTED);
	kvfs_buf_free(&buf);
	expect_calls(fx, C_LIST, 1, C_MKDIR, 1, C_RMDIR, 1, C_SET_ATTR, 1,
		     C_GETXATTR, 1, C_SETXATTR, 1, C_LISTXATTR, 1,
		     C_REMOVEXATTR, 1, C_SPACE, 1, C_CONTROL, 2, -1);
	/* A control that does not know KVFS_CTL_CAPS: none either. */
	assert_int_equal(kvfs_store_caps(fx->store), 0);
}

/* ------------------------------------------------------- version check */

static void expect_refused(const struct kvfs_backend_ops *ops,
			   const char *text)
{
	struct kvfs_backend b = { ops };
	struct kvfs_store *store = NULL;

	assert_int_equal(kvfs_backend_check(&b), KVFS_EINVAL);
	assert_int_equal(kvfs_store_from_backend(&b, &store), KVFS_EINVAL);
	assert_null(store);
	if (!strstr(kvfs_error_message(), text))
		fail_msg("message '%s' lacks '%s'", kvfs_error_message(), text);
}

static void test_version_check(void **state)
{
	struct kvfs_backend_ops ops = minimal_ops;
	struct kvfs_backend nothing = { NULL };
	char want[64];

	assert_int_equal(kvfs_backend_check(&(struct kvfs_backend){ &ops }), 0);
	ops.version = 0;
	expect_refused(&ops, "version 0");
	ops.version = KVFS_BACKEND_VERSION + 1;
	snprintf(want, sizeof(want), "version %u", KVFS_BACKEND_VERSION + 1);
	expect_refused(&ops, want);
	assert_non_null(strstr(kvfs_error_message(), "fake-minimal"));
	ops = minimal_ops;
	ops.get = NULL;
	expect_refused(&ops, "lacks a required method");
	ops = minimal_ops;
	ops.put = NULL;
	expect_refused(&ops, "lacks a required method");
	ops = minimal_ops;
	ops.del = NULL;
	expect_refused(&ops, "lacks a required method");
	ops = minimal_ops;
	ops.destroy = NULL;
	expect_refused(&ops, "lacks a required method");
	ops = minimal_ops;
	ops.name = NULL;
	expect_refused(&ops, "lacks a required method");
	ops.version = 0;
	expect_refused(&ops, "'?'");
	assert_int_equal(kvfs_backend_check(NULL), KVFS_EINVAL);
	assert_int_equal(kvfs_backend_check(&nothing), KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "no vtable"));
}

/* ----------------------------------------------------------- statistics */

/* Failures are counted by kind: a store failure is an error, a refused
 * request is not. */
static void test_level_stats_kinds(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = fx->store;
	struct kvfs_level_stats st;

	fx->fake->fail_put = KVFS_EUNAVAILABLE;
	assert_int_equal(kvfs_store_put(s, "k", "v", 1, KVFS_STRONG),
			 KVFS_EUNAVAILABLE);
	fx->fake->fail_put = KVFS_EEXISTS;
	assert_int_equal(kvfs_store_put(s, "k", "v", 1, KVFS_STRONG),
			 KVFS_EEXISTS);
	fx->fake->fail_put = KVFS_EREADONLY;
	assert_int_equal(kvfs_store_put(s, "k", "v", 1, KVFS_STRONG),
			 KVFS_EREADONLY);
	kvfs_store_level_stats(s, KVFS_STRONG, &st);
	assert_int_equal(st.ops, 3);
	assert_int_equal(st.errors, 2);
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.not_found, 0);
}

static void test_level_stats(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = fx->store;
	struct kvfs_level_stats st;
	struct kvfs_buf got = { 0 };

	for (int i = 0; i < 3; i++)
		assert_int_equal(kvfs_store_put(s, "k", "v", 1, KVFS_EVENTUAL),
				 0);
	assert_int_equal(kvfs_store_get(s, "none", KVFS_CAUSAL, &got),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_get(s, "none2", KVFS_CAUSAL, &got),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_get(s, "k", KVFS_CAUSAL, &got), 0);
	assert_int_equal(kvfs_store_put(s, "slow", "s", 1,
					KVFS_READ_YOUR_WRITES), 0);
	assert_int_equal(kvfs_store_get(s, "slow", KVFS_READ_YOUR_WRITES, &got),
			 0);
	kvfs_buf_free(&got);
	/* Refused before the backend: not counted. */
	assert_int_equal(kvfs_store_get(s, "a//b", KVFS_STRONG, &got),
			 KVFS_EINVALKEY);

	kvfs_store_level_stats(s, KVFS_EVENTUAL, &st);
	assert_int_equal(st.ops, 3);
	assert_int_equal(st.errors, 0);
	assert_true(st.latency_us_p50 <= st.latency_us_p99);
	kvfs_store_level_stats(s, KVFS_CAUSAL, &st);
	assert_int_equal(st.ops, 3);
	/* Lookups of missing keys are no errors of the store. */
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.not_found, 2);
	assert_int_equal(st.refused, 0);
	kvfs_store_level_stats(s, KVFS_READ_YOUR_WRITES, &st);
	assert_int_equal(st.ops, 2);
	assert_int_equal(st.errors, 0);
	assert_true(st.latency_us_max >= 3000);
	assert_true(st.latency_us_p99 >= 2000);
	assert_true(st.latency_us_p50 <= st.latency_us_p99);
	assert_true(st.latency_us_p99 <= st.latency_us_max);
	kvfs_store_level_stats(s, KVFS_STRONG, &st);
	assert_int_equal(st.ops, 0);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.latency_us_p50, 0);
	assert_int_equal(st.latency_us_max, 0);

	/* A streamed value counts once, when it is committed, at the
	 * writer's level. */
	{
		struct kvfs_writer *w = NULL;

		assert_int_equal(kvfs_store_open_writer(s, "w", KVFS_STRONG,
							NULL, &w), 0);
		assert_int_equal(kvfs_writer_pwrite(w, "xyz", 3, 0), 3);
		kvfs_store_level_stats(s, KVFS_STRONG, &st);
		assert_int_equal(st.ops, 0);
		assert_int_equal(kvfs_writer_commit(w), 0);
		kvfs_store_level_stats(s, KVFS_STRONG, &st);
		assert_int_equal(st.ops, 1);
	}
	kvfs_store_level_stats(s, (enum kvfs_consistency)KVFS_CONSISTENCY_COUNT,
			       &st);
	assert_int_equal(st.ops, 0);
}

/* ------------------------------------------------------- buffers, open */

static void test_buffers(void **state)
{
	struct kvfs_buf b = { 0 };

	assert_int_equal(kvfs_buf_set(&b, "abc", 3), 0);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc"); /* hidden NUL */
	assert_int_equal(kvfs_buf_set(&b, NULL, 0), 0);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	kvfs_buf_free(&b);
	assert_null(b.data);
	kvfs_buf_free(NULL);
	assert_int_equal(kvfs_buf_appendf(&b, "a=%d\n", 1), 0);
	assert_int_equal(kvfs_buf_appendf(&b, "%s", ""), 0);
	assert_int_equal(kvfs_buf_appendf(&b, "b=%s\n", "two"), 0);
	assert_string_equal(b.data, "a=1\nb=two\n");
	assert_int_equal(b.len, strlen("a=1\nb=two\n"));
	kvfs_buf_free(&b);
}

static void test_open_by_name(void **state)
{
	struct kvfs_options *opts = NULL;
	struct kvfs_store *store = NULL;

	assert_int_equal(kvfs_options_new(&opts), 0);
	assert_int_equal(kvfs_options_parse(opts, "backend=no-such-backend"), 0);
	assert_int_equal(kvfs_store_open(opts, &store), KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "no-such-backend"));
	assert_null(store);
	kvfs_options_free(opts);
}

/* kvfs_store_open: the local backend by default, and the cache options it
 * handles itself (cache=SIZE wraps the backend, cache=0 does not). */
static void test_open_with_options(void **state)
{
	char *root = kvfs_test_mkdtemp("store-open");
	struct kvfs_options *opts = NULL;
	struct kvfs_store *store = NULL;
	struct kvfs_buf got = { 0 };

	assert_non_null(root);

	assert_int_equal(kvfs_options_new(&opts), 0);
	assert_int_equal(kvfs_options_set(opts, "root", root), 0);
	assert_int_equal(kvfs_options_set(opts, "cache_ttl", "5s"), 0);
	assert_int_equal(kvfs_store_open(opts, &store), KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "cache_ttl"));
	kvfs_options_free(opts);

	assert_int_equal(kvfs_options_new(&opts), 0);
	assert_int_equal(kvfs_options_parse(opts, "cache=0,cache_ttl=1s"), 0);
	assert_int_equal(kvfs_options_set(opts, "root", root), 0);
	assert_int_equal(kvfs_store_open(opts, &store), 0);
	assert_int_equal(kvfs_options_check_all_taken(opts), 0);
	assert_string_equal(kvfs_store_backend_name(store), "local");
	assert_int_equal(kvfs_store_put(store, "k", "v", 1, KVFS_STRONG), 0);
	/* The root's lock makes it the only writer; its values are files. */
	assert_int_equal(kvfs_store_caps(store),
			 KVFS_CAP_SOLE_WRITER | KVFS_CAP_LENDS_FDS |
				 KVFS_CAP_LOCAL_FILES);
	kvfs_store_close(store);
	kvfs_options_free(opts);

	assert_int_equal(kvfs_options_new(&opts), 0);
	assert_int_equal(kvfs_options_parse(opts, "cache=1M"), 0);
	assert_int_equal(kvfs_options_set(opts, "root", root), 0);
	assert_int_equal(kvfs_store_open(opts, &store), 0);
	assert_string_not_equal(kvfs_store_backend_name(store), "local");
	/* What holds of the local backend holds through its cache. */
	assert_int_equal(kvfs_store_caps(store),
			 KVFS_CAP_SOLE_WRITER | KVFS_CAP_LENDS_FDS |
				 KVFS_CAP_LOCAL_FILES);
	assert_int_equal(kvfs_store_get(store, "k", KVFS_STRONG, &got), 0);
	assert_int_equal(got.len, 1);
	kvfs_buf_free(&got);
	kvfs_store_close(store);
	kvfs_options_free(opts);

	assert_int_equal(kvfs_options_new(&opts), 0);
	assert_int_equal(kvfs_options_parse(opts, "cache=lots"), 0);
	assert_int_equal(kvfs_options_set(opts, "root", root), 0);
	assert_int_equal(kvfs_store_open(opts, &store), KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "cache=lots"));
	kvfs_options_free(opts);

	/* A local root that is missing fails before any cache is made. */
	assert_int_equal(kvfs_options_new(&opts), 0);
	assert_int_equal(kvfs_options_parse(opts, "cache=1M,root=/nonexistent/"
					    "kvfs-root"), 0);
	assert_int_not_equal(kvfs_store_open(opts, &store), 0);
	assert_non_null(strstr(kvfs_error_message(), "/nonexistent/kvfs-root"));
	kvfs_options_free(opts);

	kvfs_test_rmtree(root);
	free(root);
}

#define MIN(fn) cmocka_unit_test_setup_teardown(fn, setup_minimal, teardown)
#define FULL(fn) cmocka_unit_test_setup_teardown(fn, setup_full, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		MIN(test_checks_before_backend),
		FULL(test_checks_before_backend),
		MIN(test_required_methods),
		MIN(test_stat_fallback),
		FULL(test_stat_method),
		MIN(test_rename_fallback),
		FULL(test_rename_method),
		MIN(test_reader_fallback),
		FULL(test_reader_method),
		MIN(test_spooled_writer),
		MIN(test_spooled_writer_large_base),
		MIN(test_writer_bad_base),
		FULL(test_writer_method),
		MIN(test_optional_not_supported),
		FULL(test_optional_present),
		cmocka_unit_test(test_version_check),
		MIN(test_level_stats),
		MIN(test_level_stats_kinds),
		cmocka_unit_test(test_buffers),
		cmocka_unit_test(test_open_by_name),
		cmocka_unit_test(test_open_with_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
