/*
 * lincheck.c - linearizability checker for register histories: Wing &
 * Gong's search with Lowe's memoization of (placed set, value), run per
 * key. See lincheck.h for the model and the history file format.
 */
#include "lincheck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <kvfs/kvfs.h>

#define DEFAULT_MAX_STATES ((size_t)4 << 20)

/* ------------------------------------------------------ interned names */

/* Strings interned to small ids; id 0 is reserved (no value). */
struct names {
	char **text;   /* text[id], text[0] = NULL */
	size_t count;  /* ids in use, including 0 */
	size_t cap;
	uint32_t *slot; /* open addressing: id, or 0 for empty */
	size_t nslots;  /* power of two */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int names_grow_slots(struct names *n)
{
	size_t nslots = n->nslots ? n->nslots * 2 : 64;
	uint32_t *slot = calloc(nslots, sizeof(*slot));

	if (!slot)
		return -1;
	for (size_t id = 1; id < n->count; id++) {
		size_t i = hash_str(n->text[id]) & (nslots - 1);

		while (slot[i])
			i = (i + 1) & (nslots - 1);
		slot[i] = (uint32_t)id;
	}
	free(n->slot);
	n->slot = slot;
	n->nslots = nslots;
	return 0;
}

/* Id of `s`, adding it if new; -1 when out of memory. */
static long names_intern(struct names *n, const char *s)
{
	size_t i;
	char *copy = NULL;

	if (n->count == 0) {
		n->text = calloc(16, sizeof(*n->text));
		if (!n->text)
			return -1;
		n->cap = 16;
		n->count = 1;
	}
	if ((n->count + 1) * 2 > n->nslots && names_grow_slots(n) < 0)
		return -1;
	i = hash_str(s) & (n->nslots - 1);
	while (n->slot[i]) {
		if (strcmp(n->text[n->slot[i]], s) == 0)
			return n->slot[i];
		i = (i + 1) & (n->nslots - 1);
	}
	if (n->count == n->cap) {
		char **text = realloc(n->text, n->cap * 2 * sizeof(*text));

		if (!text)
			return -1;
		n->text = text;
		n->cap *= 2;
	}
	copy = strdup(s);
	if (!copy)
		return -1;
	n->text[n->count] = copy;
	n->slot[i] = (uint32_t)n->count;
	return (long)n->count++;
}

static void names_free(struct names *n)
{
	for (size_t id = 1; id < n->count; id++)
		free(n->text[id]);
	free(n->text);
	free(n->slot);
}

/* ------------------------------------------------------------- history */

struct op {
	uint32_t process; /* id in history.processes */
	uint32_t key;     /* id in history.keys */
	uint32_t value;   /* id in history.values; 0 = no value */
	enum kvfs_lincheck_kind kind;
	int64_t call;
	int64_t ret; /* KVFS_LINCHECK_PENDING: unknown outcome */
};

struct kvfs_lincheck_history {
	struct op *ops;
	size_t nops, cap;
	struct names processes, keys, values;
};

int kvfs_lincheck_history_new(struct kvfs_lincheck_history **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : kvfs_error_set(KVFS_EFAIL, "out of memory");
}

void kvfs_lincheck_history_free(struct kvfs_lincheck_history *h)
{
	if (!h)
		return;
	names_free(&h->processes);
	names_free(&h->keys);
	names_free(&h->values);
	free(h->ops);
	free(h);
}

int kvfs_lincheck_history_add(struct kvfs_lincheck_history *h,
			      const char *process, const char *key,
			      enum kvfs_lincheck_kind kind, const char *value,
			      int64_t call, int64_t ret)
{
	struct op op = { .kind = kind, .call = call, .ret = ret };
	long id;

	if (!process || !*process || !key || !*key)
		return kvfs_error_set(KVFS_EINVAL, "empty process or key name");
	if (ret < call)
		return kvfs_error_set(KVFS_EINVAL,
				      "operation returns (%" PRId64
				      ") before its call (%" PRId64 ")",
				      ret, call);
	if (kind == KVFS_LINCHECK_READ && ret == KVFS_LINCHECK_PENDING)
		return 0; /* a read of unknown outcome observed nothing */
	if (h->nops == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 256;
		struct op *ops = realloc(h->ops, cap * sizeof(*ops));

		if (!ops)
			goto out_nomem;
		h->ops = ops;
		h->cap = cap;
	}
	if ((id = names_intern(&h->processes, process)) < 0)
		goto out_nomem;
	op.process = (uint32_t)id;
	if ((id = names_intern(&h->keys, key)) < 0)
		goto out_nomem;
	op.key = (uint32_t)id;
	if (value && strcmp(value, "-") != 0) {
		if ((id = names_intern(&h->values, value)) < 0)
			goto out_nomem;
		op.value = (uint32_t)id;
	}
	h->ops[h->nops++] = op;
	return 0;

out_nomem:
	return kvfs_error_set(KVFS_EFAIL, "out of memory");
}

static int parse_ns(const char *s, int64_t *out)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

int kvfs_lincheck_history_add_line(struct kvfs_lincheck_history *h,
				   const char *line, const char *where)
{
	char buf[4096];
	char *field[7];
	char *save = NULL, *p;
	int n = 0;
	enum kvfs_lincheck_kind kind;
	int64_t call, ret;

	if (strlen(line) >= sizeof(buf))
		return kvfs_error_set(KVFS_EINVAL, "%s: line too long", where);
	strcpy(buf, line);
	for (p = strtok_r(buf, " \t\r\n", &save); p && n < 7;
	     p = strtok_r(NULL, " \t\r\n", &save))
		field[n++] = p;
	if (n == 0 || field[0][0] == '#')
		return 0;
	if (n != 6)
		return kvfs_error_set(KVFS_EINVAL,
				      "%s: expected 6 fields (process key op "
				      "value call_ns return_ns), found %d",
				      where, n);
	if (strcmp(field[2], "read") == 0)
		kind = KVFS_LINCHECK_READ;
	else if (strcmp(field[2], "write") == 0)
		kind = KVFS_LINCHECK_WRITE;
	else
		return kvfs_error_set(KVFS_EINVAL,
				      "%s: op '%s' is neither read nor write",
				      where, field[2]);
	if (parse_ns(field[4], &call) < 0)
		return kvfs_error_set(KVFS_EINVAL, "%s: bad call time '%s'",
				      where, field[4]);
	if (strcmp(field[5], "?") == 0)
		ret = KVFS_LINCHECK_PENDING;
	else if (parse_ns(field[5], &ret) < 0)
		return kvfs_error_set(KVFS_EINVAL, "%s: bad return time '%s'",
				      where, field[5]);
	if (ret < call)
		return kvfs_error_set(KVFS_EINVAL,
				      "%s: returns before its call", where);
	return kvfs_lincheck_history_add(h, field[0], field[1], kind, field[3],
					 call, ret);
}

int kvfs_lincheck_history_load(struct kvfs_lincheck_history *h,
			       const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	unsigned long lineno = 0;
	int rc = 0;

	if (!f)
		return kvfs_error_from_errno(errno, path);
	while (getline(&line, &cap, f) >= 0) {
		char where[512];

		snprintf(where, sizeof(where), "%s:%lu", path, ++lineno);
		rc = kvfs_lincheck_history_add_line(h, line, where);
		if (rc < 0)
			break;
	}
	if (rc == 0 && ferror(f))
		rc = kvfs_error_from_errno(EIO, path);
	free(line);
	fclose(f);
	return rc;
}

size_t kvfs_lincheck_key_count(const struct kvfs_lincheck_history *h)
{
	return h->keys.count ? h->keys.count - 1 : 0;
}

const char *kvfs_lincheck_key_name(const struct kvfs_lincheck_history *h,
				   size_t i)
{
	return i < kvfs_lincheck_key_count(h) ? h->keys.text[i + 1] : NULL;
}

/* ----------------------------------------------------- the memo table */

/* Set of (placed-operations bitset, register value) pairs. */
struct memo {
	size_t words;   /* 64-bit words per bitset */
	uint64_t *bits; /* entry e's bitset at bits + e * words */
	uint32_t *value;
	uint64_t *hash;
	size_t count, cap;
	uint32_t *slot; /* entry index + 1, or 0 for empty */
	size_t nslots;
};

static uint64_t memo_hash(const uint64_t *bits, size_t words, uint32_t value)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ value;

	for (size_t i = 0; i < words; i++) {
		h ^= bits[i] + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
		h *= 0xff51afd7ed558ccdULL;
	}
	return h ^ (h >> 33);
}

static int memo_grow(struct memo *m)
{
	size_t nslots = m->nslots ? m->nslots * 2 : 1024;
	uint32_t *slot = calloc(nslots, sizeof(*slot));

	if (!slot)
		return -1;
	for (size_t e = 0; e < m->count; e++) {
		size_t i = m->hash[e] & (nslots - 1);

		while (slot[i])
			i = (i + 1) & (nslots - 1);
		slot[i] = (uint32_t)(e + 1);
	}
	free(m->slot);
	m->slot = slot;
	m->nslots = nslots;
	return 0;
}

/* Insert (bits, value): 1 when new, 0 when already there, -1 no memory. */
static int memo_insert(struct memo *m, const uint64_t *bits, uint32_t value)
{
	uint64_t h = memo_hash(bits, m->words, value);
	size_t i;

	if ((m->count + 1) * 2 > m->nslots && memo_grow(m) < 0)
		return -1;
	for (i = h & (m->nslots - 1); m->slot[i]; i = (i + 1) & (m->nslots - 1)) {
		size_t e = m->slot[i] - 1;

		if (m->hash[e] == h && m->value[e] == value &&
		    memcmp(m->bits + e * m->words, bits,
			   m->words * sizeof(*bits)) == 0)
			return 0;
	}
	if (m->count == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 1024;
		uint64_t *nb = realloc(m->bits, cap * m->words * sizeof(*nb));
		uint32_t *nv;
		uint64_t *nh;

		if (!nb)
			return -1;
		m->bits = nb;
		nv = realloc(m->value, cap * sizeof(*nv));
		if (!nv)
			return -1;
		m->value = nv;
		nh = realloc(m->hash, cap * sizeof(*nh));
		if (!nh)
			return -1;
		m->hash = nh;
		m->cap = cap;
	}
	memcpy(m->bits + m->count * m->words, bits, m->words * sizeof(*bits));
	m->value[m->count] = value;
	m->hash[m->count] = h;
	m->slot[i] = (uint32_t)(m->count + 1);
	m->count++;
	return 1;
}

static void memo_free(struct memo *m)
{
	free(m->bits);
	free(m->value);
	free(m->hash);
	free(m->slot);
}

/* --------------------------------------------------------- the search */

/* One call or return event in the doubly linked list of the search. */
struct event {
	int64_t time;
	uint32_t op;  /* index into the key's op list */
	bool is_call;
};

/* The state of one key's check. */
struct search {
	const struct kvfs_lincheck_history *h;
	const struct op **ops; /* the key's operations */
	size_t n;
	int64_t t0;            /* earliest call, for relative times */
	struct event *ev;      /* 2n events sorted; node i = ev[i] */
	int32_t *next, *prev;  /* links; node 2n is the head */
	int32_t *match;        /* call node -> its return node */
};

static int event_cmp(const void *a, const void *b)
{
	const struct event *x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	/* At equal times calls go first: the operations overlap. */
	if (x->is_call != y->is_call)
		return x->is_call ? -1 : 1;
	return x->op < y->op ? -1 : x->op > y->op;
}

static const char *value_text(const struct kvfs_lincheck_history *h,
			      uint32_t v)
{
	return v ? h->values.text[v] : "(none)";
}

/* Append "PROCESS read|write KEY=VALUE [+call..+ret ns]" to buf. */
static void describe_op(const struct search *s, const struct op *op,
			char *buf, size_t len)
{
	char ret[32];

	if (op->ret == KVFS_LINCHECK_PENDING)
		snprintf(ret, sizeof(ret), "?");
	else
		snprintf(ret, sizeof(ret), "+%" PRId64, op->ret - s->t0);
	snprintf(buf, len, "%s %s %s=%s [+%" PRId64 "..%s ns]",
		 s->h->processes.text[op->process],
		 op->kind == KVFS_LINCHECK_READ ? "read" : "write",
		 s->h->keys.text[op->key], value_text(s->h, op->value),
		 op->call - s->t0, ret);
}

/* The register model: may `op` take effect when the register holds
 * `state`? *next gets the value afterwards. */
static bool model_step(const struct op *op, uint32_t state, uint32_t *next)
{
	if (op->kind == KVFS_LINCHECK_WRITE) {
		*next = op->value;
		return true;
	}
	*next = state;
	return op->value == state;
}

static void lift(struct search *s, int32_t call)
{
	int32_t ret = s->match[call];

	s->next[s->prev[call]] = s->next[call];
	s->prev[s->next[call]] = s->prev[call];
	s->next[s->prev[ret]] = s->next[ret];
	if (s->next[ret] >= 0)
		s->prev[s->next[ret]] = s->prev[ret];
}

static void unlift(struct search *s, int32_t call)
{
	int32_t ret = s->match[call];

	s->next[s->prev[ret]] = ret;
	if (s->next[ret] >= 0)
		s->prev[s->next[ret]] = ret;
	s->next[s->prev[call]] = call;
	s->prev[s->next[call]] = call;
}

/* A read of a value that no write of this key ever wrote: reported at once
 * with a clearer witness than the search would give. */
static bool find_phantom_read(const struct search *s,
			      struct kvfs_lincheck_report *r)
{
	for (size_t i = 0; i < s->n; i++) {
		bool written = false;
		char what[256];

		if (s->ops[i]->kind != KVFS_LINCHECK_READ || !s->ops[i]->value)
			continue;
		for (size_t j = 0; j < s->n && !written; j++)
			written = s->ops[j]->kind == KVFS_LINCHECK_WRITE &&
				  s->ops[j]->value == s->ops[i]->value;
		if (written)
			continue;
		describe_op(s, s->ops[i], what, sizeof(what));
		snprintf(r->witness, sizeof(r->witness),
			 "%s: no operation ever wrote that value", what);
		return true;
	}
	return false;
}

struct frame {
	int32_t call;   /* call node placed */
	uint32_t state; /* register value before it */
};

/* The deepest point the search reached, for the witness. */
struct deepest {
	size_t depth;
	int32_t stuck;  /* op that had to be placed next and could not */
	int32_t last;   /* op placed last before that, or -1 */
	uint32_t state; /* register value then */
};

static void write_violation(const struct search *s, const struct deepest *d,
			    struct kvfs_lincheck_report *r)
{
	char stuck[256], last[256] = "";
	const struct op *op = s->ops[d->stuck];

	describe_op(s, op, stuck, sizeof(stuck));
	if (d->last >= 0)
		describe_op(s, s->ops[d->last], last, sizeof(last));
	snprintf(r->witness, sizeof(r->witness),
		 "at most %zu of %zu ops can be ordered; then %s must take "
		 "effect while the value is %s%s%s%s",
		 d->depth, s->n, stuck, value_text(s->h, d->state),
		 d->last >= 0 ? " (last ordered: " : "", last,
		 d->last >= 0 ? ")" : "");
}

/* Print the start of the order found. */
static void write_order(const struct search *s, const struct frame *stack,
			size_t depth, struct kvfs_lincheck_report *r)
{
	size_t used;

	used = (size_t)snprintf(r->witness, sizeof(r->witness), "order:");
	for (size_t i = 0; i < depth && used < sizeof(r->witness); i++) {
		const struct op *op = s->ops[s->ev[stack[i].call].op];
		int n;

		if (i == 8) {
			snprintf(r->witness + used, sizeof(r->witness) - used,
				 " ... (%zu more)", depth - i);
			break;
		}
		n = snprintf(r->witness + used, sizeof(r->witness) - used,
			     " %s:%c(%s)", s->h->processes.text[op->process],
			     op->kind == KVFS_LINCHECK_READ ? 'r' : 'w',
			     value_text(s->h, op->value));
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* Wing & Gong / Lowe: returns the verdict, or -1 when out of memory. */
static int search_run(struct search *s, size_t max_states,
		      struct kvfs_lincheck_report *r)
{
	int32_t head = (int32_t)(2 * s->n);
	struct memo memo = { .words = (s->n + 63) / 64 };
	uint64_t *placed = NULL;
	struct frame *stack = NULL;
	struct deepest deep = { .stuck = -1, .last = -1 };
	size_t depth = 0;
	uint32_t state = 0;
	int32_t e;
	int verdict = -1;

	placed = calloc(memo.words ? memo.words : 1, sizeof(*placed));
	stack = calloc(s->n ? s->n : 1, sizeof(*stack));
	if (!placed || !stack)
		goto out_free;
	e = s->next[head];
	while (s->next[head] >= 0) {
		if (s->ev[e].is_call) {
			uint32_t op = s->ev[e].op, next;
			int fresh;

			if (!model_step(s->ops[op], state, &next)) {
				e = s->next[e];
				continue;
			}
			placed[op / 64] |= 1ULL << (op % 64);
			fresh = memo_insert(&memo, placed, next);
			if (fresh < 0)
				goto out_free;
			if (!fresh) {
				placed[op / 64] &= ~(1ULL << (op % 64));
				e = s->next[e];
				continue;
			}
			if (memo.count > max_states) {
				verdict = KVFS_LINCHECK_UNDECIDED;
				snprintf(r->witness, sizeof(r->witness),
					 "search stopped after %zu states "
					 "(raise the bound)",
					 memo.count);
				goto out_done;
			}
			stack[depth++] = (struct frame){ e, state };
			state = next;
			lift(s, e);
			e = s->next[head];
		} else {
			/* A return reached before its call was placed. */
			if (deep.stuck < 0 || depth > deep.depth) {
				deep.depth = depth;
				deep.stuck = (int32_t)s->ev[e].op;
				deep.last = depth ? (int32_t)s->ev[stack[depth - 1].call].op
						  : -1;
				deep.state = state;
			}
			if (depth == 0) {
				verdict = KVFS_LINCHECK_VIOLATION;
				write_violation(s, &deep, r);
				goto out_done;
			}
			depth--;
			e = stack[depth].call;
			state = stack[depth].state;
			placed[s->ev[e].op / 64] &= ~(1ULL << (s->ev[e].op % 64));
			unlift(s, e);
			e = s->next[e];
		}
	}
	verdict = KVFS_LINCHECK_LINEARIZABLE;
	write_order(s, stack, depth, r);

out_done:
	r->states = memo.count;
out_free:
	free(stack);
	free(placed);
	memo_free(&memo);
	return verdict;
}

static void search_free(struct search *s)
{
	free(s->ops);
	free(s->ev);
	free(s->next);
	free(s->prev);
	free(s->match);
}

/* Collect key `key`'s operations and build the event list. */
static int search_init(struct search *s, const struct kvfs_lincheck_history *h,
		       uint32_t key)
{
	size_t n = 0, i;
	int32_t *call_node = NULL;

	memset(s, 0, sizeof(*s));
	s->h = h;
	for (i = 0; i < h->nops; i++)
		n += h->ops[i].key == key;
	if (n > INT32_MAX / 2 - 1)
		return kvfs_error_set(KVFS_EINVAL, "too many operations");
	s->ops = calloc(n ? n : 1, sizeof(*s->ops));
	s->ev = calloc(2 * n + 1, sizeof(*s->ev));
	s->next = calloc(2 * n + 1, sizeof(*s->next));
	s->prev = calloc(2 * n + 1, sizeof(*s->prev));
	s->match = calloc(2 * n + 1, sizeof(*s->match));
	call_node = calloc(n ? n : 1, sizeof(*call_node));
	if (!s->ops || !s->ev || !s->next || !s->prev || !s->match ||
	    !call_node) {
		free(call_node);
		search_free(s);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	s->t0 = INT64_MAX;
	for (i = 0; i < h->nops; i++) {
		const struct op *op = &h->ops[i];

		if (op->key != key)
			continue;
		s->ev[2 * s->n] = (struct event){ op->call, (uint32_t)s->n,
						  true };
		s->ev[2 * s->n + 1] = (struct event){ op->ret, (uint32_t)s->n,
						      false };
		if (op->call < s->t0)
			s->t0 = op->call;
		s->ops[s->n++] = op;
	}
	qsort(s->ev, 2 * n, sizeof(*s->ev), event_cmp);
	for (i = 0; i < 2 * n; i++) {
		if (s->ev[i].is_call)
			call_node[s->ev[i].op] = (int32_t)i;
		else
			s->match[call_node[s->ev[i].op]] = (int32_t)i;
	}
	/* Head node 2n, then the events in time order. */
	s->next[2 * n] = n ? 0 : -1;
	s->prev[2 * n] = -1;
	for (i = 0; i < 2 * n; i++) {
		s->prev[i] = i ? (int32_t)(i - 1) : (int32_t)(2 * n);
		s->next[i] = i + 1 < 2 * n ? (int32_t)(i + 1) : -1;
	}
	free(call_node);
	return 0;
}

int kvfs_lincheck_check_key(const struct kvfs_lincheck_history *h, size_t i,
			    size_t max_states,
			    struct kvfs_lincheck_report *report)
{
	struct search s;
	int verdict;

	memset(report, 0, sizeof(*report));
	if (i >= kvfs_lincheck_key_count(h))
		return kvfs_error_set(KVFS_EINVAL, "no key %zu", i);
	if (search_init(&s, h, (uint32_t)(i + 1)) < 0)
		return -1;
	report->ops = s.n;
	if (find_phantom_read(&s, report)) {
		verdict = KVFS_LINCHECK_VIOLATION;
	} else {
		verdict = search_run(&s, max_states ? max_states
						    : DEFAULT_MAX_STATES,
				     report);
		if (verdict < 0)
			kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	report->verdict = verdict < 0 ? KVFS_LINCHECK_UNDECIDED : verdict;
	search_free(&s);
	return verdict;
}

int kvfs_lincheck_check_all(const struct kvfs_lincheck_history *h,
			    size_t max_states, FILE *out)
{
	int worst = KVFS_LINCHECK_LINEARIZABLE;

	for (size_t i = 0; i < kvfs_lincheck_key_count(h); i++) {
		struct kvfs_lincheck_report r;
		int v = kvfs_lincheck_check_key(h, i, max_states, &r);
		const char *key = kvfs_lincheck_key_name(h, i);

		if (v < 0)
			return -1;
		if (out && v == KVFS_LINCHECK_LINEARIZABLE)
			fprintf(out, "%s: linearizable (%zu ops, %zu states) %s\n",
				key, r.ops, r.states, r.witness);
		else if (out && v == KVFS_LINCHECK_VIOLATION)
			fprintf(out, "%s: NOT linearizable (%zu ops): %s\n", key,
				r.ops, r.witness);
		else if (out)
			fprintf(out, "%s: undecided (%zu ops): %s\n", key,
				r.ops, r.witness);
		if (v == KVFS_LINCHECK_VIOLATION ||
		    (v == KVFS_LINCHECK_UNDECIDED &&
		     worst == KVFS_LINCHECK_LINEARIZABLE))
			worst = v;
	}
	return worst;
}
