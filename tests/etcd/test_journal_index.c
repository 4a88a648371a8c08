/*
 * test_journal_index.c - the journal's index by key (journal_index.c)
 * against a plain model: random appends of puts, deletes and attribute
 * changes over nested keys, and removals of the oldest entry, as the
 * journal makes them; after each step every key's latest entry, every
 * directory's "a key below is put", and the set of latest entries must
 * be what a scan of the entries in order says. Then 10,000 entries of
 * distinct keys, all found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etcd/journal_index.h"

static const char *const keys[] = {
	"a", "a/b", "a/b/c", "a/b/d", "a/e", "f", "f/g", "h/i/j", "h/i/k",
	"h", "ab", "ab/c",
};
static const char *const dirs[] = { "a", "a/b", "f", "h", "h/i", "ab",
				    "x", "a/b/c" };
#define NKEYS (sizeof(keys) / sizeof(keys[0]))
#define NDIRS (sizeof(dirs) / sizeof(dirs[0]))

struct model {
	struct jentry *all[4096]; /* pending, oldest first */
	size_t head, tail;
};

/* The latest put or delete of key by a scan, or NULL. */
static const struct jentry *scan_latest(const struct model *m,
					const char *key)
{
	const struct jentry *found = NULL;

	for (size_t i = m->head; i < m->tail; i++)
		if (m->all[i]->op != ETCD_JOURNAL_ATTR &&
		    !strcmp(m->all[i]->key, key))
			found = m->all[i];
	return found;
}

static bool scan_put_under(const struct model *m, const char *dir)
{
	size_t len = strlen(dir);

	for (size_t k = 0; k < NKEYS; k++) {
		const struct jentry *l = scan_latest(m, keys[k]);

		if (l && l->op == ETCD_JOURNAL_PUT &&
		    !strncmp(keys[k], dir, len) && keys[k][len] == '/')
			return true;
	}
	return false;
}

static int count_latest(void *ctx, const struct jentry *latest)
{
	(*(size_t *)ctx)++;
	assert_true(latest->op != ETCD_JOURNAL_ATTR);
	return 0;
}

static void check(const struct jindex *ix, const struct model *m)
{
	size_t want = 0, got = 0;

	for (size_t k = 0; k < NKEYS; k++) {
		const struct jentry *l = scan_latest(m, keys[k]);

		assert_ptr_equal(jindex_latest(ix, keys[k]), l);
		want += l != NULL;
	}
	for (size_t d = 0; d < NDIRS; d++)
		assert_int_equal(jindex_put_under(ix, dirs[d]),
				 scan_put_under(m, dirs[d]));
	assert_false(jindex_put_under(ix, ""));
	jindex_each_latest(ix, count_latest, &got);
	assert_int_equal(got, want);
}

static void test_against_model(void **state)
{
	struct jindex *ix = jindex_new();
	struct model m = { 0 };
	uint64_t seq = 0;

	(void)state;
	assert_non_null(ix);
	srand(12345);
	for (int step = 0; step < 3000; step++) {
		bool append = m.tail == m.head || rand() % 3 != 0;

		if (append && m.tail < sizeof(m.all) / sizeof(m.all[0])) {
			struct jentry *e = calloc(1, sizeof(*e));

			assert_non_null(e);
			e->seq = ++seq;
			e->key = (char *)keys[rand() % NKEYS];
			e->op = (enum etcd_journal_op)(rand() % 3 == 0
				? ETCD_JOURNAL_DEL
				: rand() % 2 ? ETCD_JOURNAL_PUT
					     : ETCD_JOURNAL_ATTR);
			m.all[m.tail++] = e;
			jindex_add(ix, e);
		} else if (m.head < m.tail) {
			struct jentry *e = m.all[m.head++];

			jindex_remove_oldest(ix, e);
			free(e);
		}
		check(ix, &m);
	}
	while (m.head < m.tail) {
		struct jentry *e = m.all[m.head++];

		jindex_remove_oldest(ix, e);
		free(e);
		check(ix, &m);
	}
	jindex_free(ix);
}

/* Many keys: the tables grow and every key is still found. */
static void test_many_keys(void **state)
{
	enum { N = 10000 };
	struct jindex *ix = jindex_new();
	struct jentry *e = calloc(N, sizeof(*e));
	char (*names)[32] = calloc(N, sizeof(*names));

	(void)state;
	assert_non_null(ix);
	assert_non_null(e);
	assert_non_null(names);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "d%d/f%d", i % 100, i);
		e[i].key = names[i];
		e[i].seq = (uint64_t)i + 1;
		e[i].op = ETCD_JOURNAL_PUT;
		jindex_add(ix, &e[i]);
	}
	for (int i = 0; i < N; i++)
		assert_ptr_equal(jindex_latest(ix, names[i]), &e[i]);
	assert_true(jindex_put_under(ix, "d7"));
	for (int i = 0; i < N; i++)
		jindex_remove_oldest(ix, &e[i]);
	assert_false(jindex_put_under(ix, "d7"));
	assert_null(jindex_latest(ix, names[0]));
	jindex_free(ix);
	free(e);
	free(names);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_model),
		cmocka_unit_test(test_many_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
