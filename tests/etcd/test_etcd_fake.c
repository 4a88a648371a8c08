/*
 * test_etcd_fake.c - the etcd backend against the fake gateway (no etcd
 * needed), beyond test_etcd_unit: refused options and journal
 * directories, what pending eventual writes look like while the cluster
 * takes no writes (directories, listings, attributes), eventual reads
 * served from the last value seen during an outage, a write the cluster
 * can never take kept aside in failed/, a journal left by an earlier
 * run (with corrupt and unfinished entries) replicated at the next open,
 * eventual chmod and utimes waiting in the journal, and an eventual write
 * that the journal's file system refuses.
 */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <kvfs/backend.h>
#include <kvfs/kvfs.h>

#include "etcd_test.h"
#include "fake_gateway.h"
#include "testutil.h"

/* Open an etcd store on the fake with "<options>" given as -o text; the
 * journal is the fixture's unless options name one. */
static int open_opts(struct etcd_test_fixture *fx, const char *options,
		     struct kvfs_store **out)
{
	bool own_journal = options && strstr(options, "journal=");

	return etcd_test_open(fake_url(fx->fake),
			      own_journal ? NULL : fx->journal, options, out);
}

static struct kvfs_store *open_fake(struct etcd_test_fixture *fx,
				    const char *options)
{
	struct kvfs_store *s = NULL;

	MUST(open_opts(fx, options, &s));
	return s;
}

/* Opening with options fails with `code` and a one-line message that
 * contains `fragment`. */
static void expect_refused(struct etcd_test_fixture *fx, const char *options,
			   int code, const char *fragment)
{
	struct kvfs_store *s = NULL;
	int rc = open_opts(fx, options, &s);

	if (rc != code)
		fail_msg("options '%s': %d (%s), want %s: %s",
			 options ? options : "", rc,
			 kvfs_error_name(rc), kvfs_error_name(code),
			 kvfs_error_message());
	assert_null(s);
	print_message("%s: %s\n", options ? options : "(defaults)",
		      kvfs_error_message());
	assert_null(strchr(kvfs_error_message(), '\n'));
	if (!strstr(kvfs_error_message(), fragment))
		fail_msg("message '%s' lacks '%s'", kvfs_error_message(),
			 fragment);
}

static void expect_in_cluster(struct etcd_test_fixture *fx, const char *key,
			      const char *want)
{
	char etcd_key[512];
	size_t len = 0;
	char *v;

	snprintf(etcd_key, sizeof(etcd_key), "kvfs/%s", key);
	v = fake_get(fx->fake, etcd_key, &len);
	if (!want) {
		assert_null(v);
		return;
	}
	if (!v)
		fail_msg("%s is not in the cluster", key);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(v, want, len);
	free(v);
}

/* The kind of `name` in the listing of dir, or -1 when absent. */
static int listed_kind(struct kvfs_store *s, const char *dir, const char *name)
{
	struct kvfs_lister *l = NULL;
	struct kvfs_dirent ent;
	int kind = -1, rc;

	MUST(kvfs_store_list(s, dir, KVFS_EVENTUAL, &l));
	while ((rc = kvfs_lister_next(l, &ent)) == 1)
		if (!strcmp(ent.name, name)) {
			if (kind != -1)
				fail_msg("%s listed twice in '%s'", name, dir);
			kind = (int)ent.kind;
		}
	assert_int_equal(rc, 0);
	kvfs_lister_close(l);
	return kind;
}

static bool stats_have(struct kvfs_store *s, const char *line)
{
	struct kvfs_buf stats = { 0 };
	bool found;

	MUST(kvfs_store_control(s, KVFS_CTL_STATS_TEXT, &stats));
	found = strstr(stats.data, line) != NULL;
	if (!found)
		print_message("stats lack '%s':\n%s", line, (char *)stats.data);
	kvfs_buf_free(&stats);
	return found;
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void write_file(const char *dir, const char *name, const void *data,
		       size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* ------------------------------------------------------------ options */

static void test_option_refusals(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *first = NULL;
	struct timespec t0, t1;
	char text[600];

	expect_refused(fx, "timeout=0", KVFS_EINVAL, "timeout must be > 0");
	expect_refused(fx, "timeout=soon", KVFS_EINVAL, "timeout=soon");
	expect_refused(fx, "max_request=1K", KVFS_EINVAL, "below 64K");
	expect_refused(fx, "max_txn_ops=4", KVFS_EINVAL, "max_txn_ops");
	expect_refused(fx, "prefer=3", KVFS_EINVAL, "prefer=3");
	expect_refused(fx, "cacert=/nonexistent/ca.pem", KVFS_EINVAL,
		       "cacert=/nonexistent/ca.pem");
	expect_refused(fx, "user=bob", KVFS_EINVAL, "password_file=");
	expect_refused(fx, "password_file=/etc/hostname", KVFS_EINVAL,
		       "needs user=");
	expect_refused(fx, "lazy=maybe", KVFS_EINVAL, "lazy=maybe");

	/* Journal directories that cannot serve. */
	expect_refused(fx, "journal=", KVFS_EINVAL, "journal=");
	snprintf(text, sizeof(text), "journal=%s/plain", fx->journal);
	write_file(fx->journal, "plain", "x", 1);
	expect_refused(fx, text, KVFS_EINVAL, "journal=");
	/* One journal, one mount: a second store is refused, naming the
	 * process that holds it (this one), once it has waited lock_wait=
	 * (default 2 s) for the holder to let go. */
	expect_refused(fx, "lock_wait=soon", KVFS_EINVAL, "lock_wait=soon");
	first = open_fake(fx, NULL);
	snprintf(text, sizeof(text), "journal=%s: in use by kvfs pid %ld; "
		 "give each mount its own journal=", fx->journal,
		 (long)getpid());
	expect_refused(fx, "lock_wait=0", KVFS_EINVAL, text);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect_refused(fx, "lock_wait=300ms", KVFS_EINVAL, text);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 300);
	kvfs_store_close(first);
	/* A journal= path that does not exist yet is created. */
	snprintf(text, sizeof(text), "journal=%s/a/b/c", fx->journal);
	MUST(open_opts(fx, text, &first));
	kvfs_store_close(first);
	snprintf(text, sizeof(text), "%s/a/b/c/lock", fx->journal);
	assert_int_equal(access(text, F_OK), 0);
}

static void test_controls(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "quota=1M");
	struct kvfs_watch no_callback = { .changed = NULL };
	static const char *const bad_tokens[] = {
		"etcd:7777:-1", "etcd:7777: 5", "etcd:+7777:5", "etcd:7777:",
		"etcd:", "7777:5",
	};
	struct kvfs_buf token = { 0 }, again = { 0 };
	struct kvfs_space sp;

	assert_int_equal(kvfs_store_control(s, 4242, NULL),
			 KVFS_ENOTSUPPORTED);
	assert_non_null(strstr(kvfs_error_message(), "4242"));
	assert_int_equal(kvfs_store_control(s, KVFS_CTL_WATCH, &no_callback),
			 KVFS_EINVAL);
	/* Causal tokens: only etcd:CLUSTER:REVISION in decimal digits; a
	 * negative revision must not become a huge one. */
	MUST(kvfs_store_put(s, "k", "v", 1, KVFS_STRONG));
	MUST(kvfs_store_control(s, KVFS_CTL_CAUSAL_TOKEN_GET, &token));
	for (size_t i = 0; i < sizeof(bad_tokens) / sizeof(bad_tokens[0]);
	     i++) {
		if (kvfs_store_control(s, KVFS_CTL_CAUSAL_TOKEN_SET,
				       (void *)bad_tokens[i]) != KVFS_EINVAL)
			fail_msg("causal token '%s' accepted", bad_tokens[i]);
		assert_non_null(strstr(kvfs_error_message(), bad_tokens[i]));
	}
	MUST(kvfs_store_control(s, KVFS_CTL_CAUSAL_TOKEN_GET, &again));
	assert_int_equal(again.len, token.len);
	assert_memory_equal(again.data, token.data, token.len);
	kvfs_buf_free(&token);
	kvfs_buf_free(&again);

	/* The fake's database has 20480 bytes of a 1 MiB quota. */
	MUST(kvfs_store_space(s, &sp));
	assert_int_equal(sp.block_size, 4096);
	assert_int_equal(sp.blocks, 256);
	assert_int_equal(sp.blocks_free, 251);
	kvfs_store_close(s);
}

/* ------------------------------------------------------ pending writes */

/* While the cluster serves reads but takes no writes, eventual writes
 * wait in the journal, and the mount shows them: a pending put below a
 * new directory makes it a directory, a pending delete hides a value,
 * and listings merge both with what the cluster has. */
static void test_pending_writes_shape_tree(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "timeout=1s");
	struct kvfs_buf got = { 0 };
	struct kvfs_stat st;
	int waited;

	MUST(kvfs_store_put(s, "dir/old", "o", 1, KVFS_STRONG));
	fake_set_mode(fx->fake, FAKE_READ_ONLY);
	MUST(kvfs_store_put(s, "dir/new/x", "1", 1, KVFS_EVENTUAL));
	MUST(kvfs_store_put(s, "top", "t", 1, KVFS_EVENTUAL));
	MUST(kvfs_store_delete(s, "dir/old", KVFS_EVENTUAL));

	assert_int_equal(kvfs_store_get(s, "dir/new", KVFS_EVENTUAL, &got),
			 KVFS_EISDIR);
	MUST(kvfs_store_stat(s, "dir/new", KVFS_EVENTUAL, &st));
	assert_int_equal(st.kind, KVFS_KIND_DIR);
	MUST(kvfs_store_stat(s, "dir/new/x", KVFS_EVENTUAL, &st));
	assert_int_equal(st.kind, KVFS_KIND_FILE);
	assert_int_equal(st.size, 1);
	assert_int_equal(kvfs_store_get(s, "dir/old", KVFS_EVENTUAL, &got),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_delete(s, "dir/old", KVFS_EVENTUAL),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_stat(s, "dir/old", KVFS_EVENTUAL, &st),
			 KVFS_ENOTFOUND);
	/* A pending delete of a directory is refused like a delete. */
	assert_int_equal(kvfs_store_delete(s, "dir", KVFS_EVENTUAL),
			 KVFS_EISDIR);

	assert_int_equal(listed_kind(s, "dir", "new"), KVFS_KIND_DIR);
	assert_int_equal(listed_kind(s, "dir", "old"), -1);
	assert_int_equal(listed_kind(s, "dir/new", "x"), KVFS_KIND_FILE);
	assert_int_equal(listed_kind(s, "", "top"), KVFS_KIND_FILE);
	assert_int_equal(listed_kind(s, "", "dir"), KVFS_KIND_DIR);

	/* A value only the journal knows has no attributes yet. */
	assert_int_equal(kvfs_store_getxattr(s, "top", "user.a", &got),
			 KVFS_ENODATA);
	MUST(kvfs_store_listxattr(s, "top", &got));
	assert_int_equal(got.len, 0);
	kvfs_buf_free(&got);

	for (waited = 0; waited < 50; waited++) {
		if (stats_have(s, "journal_waiting_for_cluster: yes\n"))
			break;
		usleep(100000);
	}
	assert_true(waited < 50);
	assert_true(stats_have(s, "journal_backlog_entries: 3\n"));
	expect_in_cluster(fx, "dir/old", "o");

	fake_set_mode(fx->fake, FAKE_NORMAL);
	MUST(kvfs_store_control(s, KVFS_CTL_DRAIN, NULL));
	assert_true(stats_have(s, "journal_waiting_for_cluster: no\n"));
	assert_true(stats_have(s, "journal_replicated: 3\n"));
	expect_in_cluster(fx, "dir/new/x", "1");
	expect_in_cluster(fx, "top", "t");
	expect_in_cluster(fx, "dir/old", NULL);
	assert_int_equal(listed_kind(s, "dir", "new"), KVFS_KIND_DIR);
	assert_int_equal(listed_kind(s, "dir", "old"), -1);
	kvfs_store_close(s);
}

/* During an outage an eventual read answers with the last value this
 * mount saw; a strong read fails instead of answering stale. */
static void test_eventual_read_during_outage(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "timeout=500ms");
	struct kvfs_buf got = { 0 };
	int rc;

	MUST(kvfs_store_put(s, "seen", "v1", 2, KVFS_STRONG));
	etcd_test_expect_read(s, "seen", KVFS_STRONG, "v1");
	fake_set_mode(fx->fake, FAKE_NO_LEADER);
	etcd_test_expect_read(s, "seen", KVFS_EVENTUAL, "v1");
	rc = kvfs_store_get(s, "seen", KVFS_STRONG, &got);
	assert_true(rc == KVFS_EUNAVAILABLE || rc == KVFS_ETIMEDOUT);
	/* A key never read here has no copy to fall back on. */
	fake_set_mode(fx->fake, FAKE_NORMAL);
	MUST(kvfs_store_put(s, "unseen", "u", 1, KVFS_STRONG));
	fake_set_mode(fx->fake, FAKE_NO_LEADER);
	rc = kvfs_store_get(s, "unseen", KVFS_EVENTUAL, &got);
	assert_true(rc == KVFS_EUNAVAILABLE || rc == KVFS_ETIMEDOUT);
	assert_true(stats_have(s, "etcd_reads_local: 1\n"));
	kvfs_store_close(s);
}

/* An eventual put over what became a directory can never reach the
 * cluster: it is kept in failed/ and counted, and nothing stored is
 * changed. */
static void test_unreplicable_write_kept_aside(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "timeout=2s");
	struct kvfs_buf got = { 0 };
	char failed[512];

	MUST(kvfs_store_put(s, "p/q", "x", 1, KVFS_STRONG));
	/* The journal takes the put at once; the cluster refuses it. */
	fake_set_mode(fx->fake, FAKE_READ_ONLY);
	MUST(kvfs_store_put(s, "p", "y", 1, KVFS_EVENTUAL));
	fake_set_mode(fx->fake, FAKE_NORMAL);
	MUST(kvfs_store_control(s, KVFS_CTL_DRAIN, NULL));
	assert_true(stats_have(s, "journal_failed: 1\n"));
	assert_true(stats_have(s, "journal_backlog_entries: 0\n"));
	snprintf(failed, sizeof(failed), "%s/failed", fx->journal);
	assert_int_equal(count_files(failed), 1);
	assert_int_equal(kvfs_store_get(s, "p", KVFS_STRONG, &got),
			 KVFS_EISDIR);
	etcd_test_expect_read(s, "p/q", KVFS_STRONG, "x");
	kvfs_store_close(s);
}

/* chmod and utimes of eventual files wait in the journal with the writes
 * they follow: the mount shows them at once; a later write keeps the mode
 * and brings its own mtime; after a pending delete there is nothing to
 * change; and a journal left by an earlier run brings them all to the
 * cluster, in order. */
static void test_eventual_attrs_in_journal(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "timeout=500ms");
	const struct timespec t = { 1500000000, 250 };
	const unsigned int both = KVFS_ATTR_MODE | KVFS_ATTR_MTIME;
	struct kvfs_stat st;

	MUST(kvfs_store_put(s, "a", "1", 1, KVFS_STRONG));
	MUST(kvfs_store_put(s, "b", "2", 1, KVFS_STRONG));
	MUST(kvfs_store_put(s, "c", "3", 1, KVFS_STRONG));
	fake_set_mode(fx->fake, FAKE_READ_ONLY);
	MUST(kvfs_store_set_attr(s, "a", both, 0600, &t, KVFS_EVENTUAL));
	MUST(kvfs_store_stat(s, "a", KVFS_EVENTUAL, &st));
	assert_int_equal(st.mode, 0600);
	assert_int_equal(st.mtime.tv_sec, t.tv_sec);
	assert_int_equal(st.mtime.tv_nsec, t.tv_nsec);
	MUST(kvfs_store_set_attr(s, "b", both, 0640, &t, KVFS_EVENTUAL));
	MUST(kvfs_store_put(s, "b", "22", 2, KVFS_EVENTUAL));
	MUST(kvfs_store_stat(s, "b", KVFS_EVENTUAL, &st));
	assert_int_equal(st.mode, 0640);
	assert_int_equal(st.size, 2);
	assert_true(st.mtime.tv_sec > t.tv_sec);
	MUST(kvfs_store_delete(s, "c", KVFS_EVENTUAL));
	assert_int_equal(kvfs_store_set_attr(s, "c", KVFS_ATTR_MODE, 0600,
					     NULL, KVFS_EVENTUAL),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_set_attr(s, "never", KVFS_ATTR_MODE,
					     0600, NULL, KVFS_EVENTUAL),
			 KVFS_ENOTFOUND);
	/* Nothing reached the cluster yet; the next run sends it. */
	assert_true(stats_have(s, "journal_backlog_entries: 4\n"));
	expect_in_cluster(fx, "b", "2");
	expect_in_cluster(fx, "c", "3");
	kvfs_store_close(s);

	fake_set_mode(fx->fake, FAKE_NORMAL);
	s = open_fake(fx, "timeout=2s");
	MUST(kvfs_store_control(s, KVFS_CTL_DRAIN, NULL));
	assert_true(stats_have(s, "journal_backlog_entries: 0\n"));
	MUST(kvfs_store_stat(s, "a", KVFS_STRONG, &st));
	assert_int_equal(st.mode, 0600);
	assert_int_equal(st.mtime.tv_sec, t.tv_sec);
	MUST(kvfs_store_stat(s, "b", KVFS_STRONG, &st));
	assert_int_equal(st.mode, 0640);
	assert_int_equal(st.size, 2);
	expect_in_cluster(fx, "b", "22");
	expect_in_cluster(fx, "c", NULL);
	kvfs_store_close(s);
}

/* An eventual write that the journal's file system refuses (here a file
 * size limit, as a full disk refuses it) fails at once with that error:
 * it was never acknowledged, nothing of it stays in the journal, the
 * stored value is unchanged, and the next eventual write works. */
static void test_journal_write_refused(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "timeout=2s");
	enum { BIG = 64 * 1024 };
	char *big = calloc(1, BIG);
	struct rlimit old, small;
	int rc;

	assert_non_null(big);
	MUST(kvfs_store_put(s, "k", "old", 3, KVFS_STRONG));
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = (struct rlimit){ .rlim_cur = 4096, .rlim_max = old.rlim_max };
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	rc = kvfs_store_put(s, "k", big, BIG, KVFS_EVENTUAL);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	free(big);
	assert_int_equal(rc, KVFS_ETOOLARGE);
	assert_non_null(strstr(kvfs_error_message(), "etcd journal entry"));
	assert_int_equal(count_files(fx->journal), 1); /* lock */
	etcd_test_expect_read(s, "k", KVFS_EVENTUAL, "old");
	etcd_test_expect_read(s, "k", KVFS_STRONG, "old");
	MUST(kvfs_store_put(s, "k", "new", 3, KVFS_EVENTUAL));
	MUST(kvfs_store_control(s, KVFS_CTL_DRAIN, NULL));
	expect_in_cluster(fx, "k", "new");
	kvfs_store_close(s);
}

/* The journal directory that a second open of prefix refuses to share
 * with the store already open (malloc'd, from the refusal's message). */
static char *journal_in_use(struct etcd_test_fixture *fx, const char *extra)
{
	struct kvfs_store *s = NULL;
	const char *msg, *at, *end;

	assert_int_equal(etcd_test_open(fake_url(fx->fake), NULL, extra, &s),
			 KVFS_EINVAL);
	msg = kvfs_error_message();
	at = strstr(msg, "journal=");
	end = at ? strstr(at, ": in use by kvfs pid") : NULL;
	if (!end)
		fail_msg("not refused for its journal: %s", msg);
	at += strlen("journal=");
	return strndup(at, (size_t)(end - at));
}

/* Without journal=, a mount's journal is a directory of its own for the
 * cluster's address list and the prefix (lib/docs/etcd.md): root's under
 * /var/lib/kvfs/journal/, another user's under $XDG_STATE_HOME. A second
 * mount of the same cluster and prefix is refused, naming it; another
 * prefix gets another directory. */
static void test_default_journal(void **state)
{
	struct etcd_test_fixture *fx = *state;
	char *state_home = NULL, *dir = NULL, *other = NULL, want[4096];
	struct kvfs_store *a = NULL, *c = NULL;

	if (geteuid() != 0) {
		state_home = kvfs_test_mkdtemp("etcd-state");
		assert_non_null(state_home);
		setenv("XDG_STATE_HOME", state_home, 1);
		snprintf(want, sizeof(want), "%s/kvfs/journal/", state_home);
	} else {
		snprintf(want, sizeof(want), "/var/lib/kvfs/journal/");
	}
	MUST(etcd_test_open(fake_url(fx->fake), NULL, "prefix=dj/", &a));
	dir = journal_in_use(fx, "prefix=dj/");
	assert_non_null(dir);
	if (strncmp(dir, want, strlen(want)) ||
	    strlen(dir) != strlen(want) + 16)
		fail_msg("default journal %s, want %s<16 hex digits>", dir,
			 want);
	MUST(etcd_test_open(fake_url(fx->fake), NULL, "prefix=other/", &c));
	other = journal_in_use(fx, "prefix=other/");
	assert_non_null(other);
	assert_string_not_equal(dir, other);
	/* Eventual writes wait there while the cluster takes none. */
	fake_set_mode(fx->fake, FAKE_READ_ONLY);
	MUST(kvfs_store_put(a, "k", "v", 1, KVFS_EVENTUAL));
	assert_int_equal(count_files(dir), 2); /* lock and the entry */
	fake_set_mode(fx->fake, FAKE_NORMAL);
	MUST(kvfs_store_control(a, KVFS_CTL_DRAIN, NULL));
	kvfs_store_close(a);
	kvfs_store_close(c);
	/* Both are this test's own: the fake's port is in the hash. */
	kvfs_test_rmtree(dir);
	kvfs_test_rmtree(other);
	if (state_home) {
		kvfs_test_rmtree(state_home);
		unsetenv("XDG_STATE_HOME");
		free(state_home);
	}
	free(dir);
	free(other);
}

/* ---------------------------------------------------- an earlier run */

/* Entries an earlier run left are replicated in order at the next open;
 * an unfinished temporary file (never acknowledged) is dropped, and
 * corrupt entries are moved to failed/ instead of being sent. */
static void test_journal_of_earlier_run(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "timeout=500ms");
	unsigned char garbage[64];
	char failed[512], tmp[512];

	fake_set_mode(fx->fake, FAKE_NO_LEADER);
	MUST(kvfs_store_put(s, "r/1", "first", 5, KVFS_EVENTUAL));
	MUST(kvfs_store_put(s, "r/1", "second", 6, KVFS_EVENTUAL));
	MUST(kvfs_store_put(s, "r/2", "two", 3, KVFS_EVENTUAL));
	kvfs_store_close(s);
	assert_int_equal(count_files(fx->journal), 4); /* 3 + lock */

	memset(garbage, 0xa5, sizeof(garbage));
	write_file(fx->journal, ".tmp-00000000000000ff", garbage, 10);
	write_file(fx->journal, "00000000000000fe.ent", garbage,
		   sizeof(garbage));
	memcpy(garbage, "KVJ1", 4);
	write_file(fx->journal, "00000000000000fd.ent", garbage,
		   sizeof(garbage));
	write_file(fx->journal, "00000000000000fc.ent", "KVJ1", 4);
	write_file(fx->journal, "notes.txt", "kept", 4);

	fake_set_mode(fx->fake, FAKE_NORMAL);
	s = open_fake(fx, "timeout=2s");
	MUST(kvfs_store_control(s, KVFS_CTL_DRAIN, NULL));
	expect_in_cluster(fx, "r/1", "second");
	expect_in_cluster(fx, "r/2", "two");
	etcd_test_expect_read(s, "r/1", KVFS_STRONG, "second");
	snprintf(failed, sizeof(failed), "%s/failed", fx->journal);
	assert_int_equal(count_files(failed), 3);
	snprintf(tmp, sizeof(tmp), "%s/.tmp-00000000000000ff", fx->journal);
	assert_int_not_equal(access(tmp, F_OK), 0);
	/* Left: lock, notes.txt and failed/. */
	assert_int_equal(count_files(fx->journal), 3);
	/* New eventual writes still reach the cluster. */
	MUST(kvfs_store_put(s, "r/3", "three", 5, KVFS_EVENTUAL));
	MUST(kvfs_store_control(s, KVFS_CTL_DRAIN, NULL));
	expect_in_cluster(fx, "r/3", "three");
	kvfs_store_close(s);
}

/* The journal's little-endian integers and checksum (journal.c). */
static void le(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t crc32_of(const unsigned char *p, size_t len)
{
	uint32_t crc = 0xffffffffu;

	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? 0xedb88320u ^ (crc >> 1) : crc >> 1;
	}
	return ~crc;
}

/* Attribute changes in the journal keep their times: an atime set while
 * the cluster has no leader reaches it, and an entry written before
 * journals carried atimes (20 bytes: fields, mode, mtime) still
 * replicates its mode and mtime. */
static void test_journal_attr_times(void **state)
{
	struct etcd_test_fixture *fx = *state;
	struct kvfs_store *s = open_fake(fx, "timeout=500ms");
	const struct timespec times[2] = { { 4294967296, 5 },
					   { 2147483648, 123456789 } };
	unsigned char ent[40 + 5 + 20 + 4] = { 0 };
	struct kvfs_stat st;

	MUST(kvfs_store_put(s, "at", "a", 1, KVFS_STRONG));
	MUST(kvfs_store_put(s, "old", "o", 1, KVFS_STRONG));
	fake_set_mode(fx->fake, FAKE_NO_LEADER);
	MUST(kvfs_store_set_attr(s, "at", KVFS_ATTR_MTIME | KVFS_ATTR_ATIME,
				 0, times, KVFS_EVENTUAL));
	kvfs_store_close(s);

	/* "KVJ1" op 3, seq, time, key "old", 20 bytes: MODE | MTIME, 0600,
	 * 1234567890.5 s. */
	memcpy(ent, "KVJ1", 4);
	ent[4] = 3;
	le(ent + 8, 0x200, 8);
	le(ent + 16, 1700000000, 8);
	le(ent + 28, 3, 4);
	le(ent + 32, 20, 8);
	memcpy(ent + 40, "old", 3);
	le(ent + 43, KVFS_ATTR_MODE | KVFS_ATTR_MTIME, 4);
	le(ent + 47, 0600, 4);
	le(ent + 51, 1234567890, 8);
	le(ent + 59, 500000000, 4);
	le(ent + 63, crc32_of(ent, 63), 4);
	write_file(fx->journal, "0000000000000200.ent", ent, 67);

	fake_set_mode(fx->fake, FAKE_NORMAL);
	s = open_fake(fx, "timeout=2s");
	MUST(kvfs_store_control(s, KVFS_CTL_DRAIN, NULL));
	MUST(kvfs_store_stat(s, "at", KVFS_STRONG, &st));
	assert_true(st.valid & KVFS_STAT_ATIME);
	assert_int_equal(st.atime.tv_sec, times[1].tv_sec);
	assert_int_equal(st.atime.tv_nsec, times[1].tv_nsec);
	assert_int_equal(st.mtime.tv_sec, times[0].tv_sec);
	assert_int_equal(st.mtime.tv_nsec, times[0].tv_nsec);
	MUST(kvfs_store_stat(s, "old", KVFS_STRONG, &st));
	assert_int_equal(st.mode & 07777, 0600);
	assert_int_equal(st.mtime.tv_sec, 1234567890);
	assert_int_equal(st.mtime.tv_nsec, 500000000);
	kvfs_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		ETCD_FAKE_TEST(test_option_refusals),
		ETCD_FAKE_TEST(test_controls),
		ETCD_FAKE_TEST(test_pending_writes_shape_tree),
		ETCD_FAKE_TEST(test_eventual_read_during_outage),
		ETCD_FAKE_TEST(test_unreplicable_write_kept_aside),
		ETCD_FAKE_TEST(test_journal_of_earlier_run),
		ETCD_FAKE_TEST(test_journal_attr_times),
		ETCD_FAKE_TEST(test_eventual_attrs_in_journal),
		ETCD_FAKE_TEST(test_journal_write_refused),
		ETCD_FAKE_TEST(test_default_journal),
	};

	return cmocka_run_group_tests_name("etcd backend, refusals and outages",
					   tests, NULL, NULL);
}
