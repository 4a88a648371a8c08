/*
 * lincheck.h - a linearizability checker for histories of register
 * operations (read and write of a value under a key), used to check what
 * concurrent clients observed through kvfs mounts of an etcd cluster.
 *
 * The check is Wing & Gong's search with Lowe's memoization ("just-in-time
 * linearization" as in Porcupine): per key (a register history is
 * linearizable iff every key's sub-history is), operations are placed one
 * at a time in an order consistent with real time, and each (set of placed
 * operations, register value) pair is explored once.
 *
 * A write whose outcome is unknown (it failed or timed out) is "maybe
 * applied", as in Knossos and Porcupine: its return is taken as +infinity,
 * so it may take effect at any point after its call, or never.
 *
 * History file format, one operation per line, fields separated by blanks:
 *
 *     PROCESS KEY OP VALUE CALL_NS RETURN_NS
 *
 * OP is "read" or "write"; VALUE is a token without blanks, "-" meaning
 * "no value" (a read that found nothing, a write that deleted); CALL_NS and
 * RETURN_NS are integers (any common clock, e.g. CLOCK_MONOTONIC ns);
 * RETURN_NS "?" marks an operation whose outcome is unknown (a read of
 * unknown outcome is dropped: it observed nothing). Empty lines and lines
 * starting with '#' are ignored. The register of every key starts without
 * a value.
 *
 * Not thread safe: one history belongs to one thread at a time.
 */
#ifndef KVFS_LINCHECK_H
#define KVFS_LINCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* RETURN_NS of an operation whose outcome is unknown. */
#define KVFS_LINCHECK_PENDING INT64_MAX

enum kvfs_lincheck_kind {
	KVFS_LINCHECK_READ,
	KVFS_LINCHECK_WRITE,
};

enum kvfs_lincheck_verdict {
	KVFS_LINCHECK_LINEARIZABLE = 0,
	KVFS_LINCHECK_VIOLATION = 1,
	KVFS_LINCHECK_UNDECIDED = 2, /* the search hit its bound */
};

/* What the check of one key found. */
struct kvfs_lincheck_report {
	enum kvfs_lincheck_verdict verdict;
	size_t ops;        /* operations of the key that were checked */
	size_t states;     /* distinct (placed set, value) pairs explored */
	char witness[768]; /* one line: an order found, or why none exists */
};

struct kvfs_lincheck_history;

/* A new, empty history in *out. 0, or -1 when out of memory. */
int kvfs_lincheck_history_new(struct kvfs_lincheck_history **out);

/* Destroy a history; accepts NULL. */
void kvfs_lincheck_history_free(struct kvfs_lincheck_history *h);

/*
 * Add one operation. `value` NULL or "-" means no value. `ret` is
 * KVFS_LINCHECK_PENDING when the outcome is unknown. Strings are copied.
 * 0; KVFS_EINVAL (message set) when ret < call or a name is empty; -1 when
 * out of memory.
 */
int kvfs_lincheck_history_add(struct kvfs_lincheck_history *h,
			      const char *process, const char *key,
			      enum kvfs_lincheck_kind kind, const char *value,
			      int64_t call, int64_t ret);

/*
 * Parse one line of the file format above and add it. `where` names the
 * line in messages ("file:12"). 0 (also for blank and comment lines);
 * KVFS_EINVAL with a message naming the problem.
 */
int kvfs_lincheck_history_add_line(struct kvfs_lincheck_history *h,
				   const char *line, const char *where);

/* Add every line of a file; 0, KVFS_EINVAL for a malformed line, or -1
 * when the file cannot be read (message set). */
int kvfs_lincheck_history_load(struct kvfs_lincheck_history *h,
			       const char *path);

/* Number of distinct keys, and the name of key i (borrowed). */
size_t kvfs_lincheck_key_count(const struct kvfs_lincheck_history *h);
const char *kvfs_lincheck_key_name(const struct kvfs_lincheck_history *h,
				   size_t i);

/*
 * Check key i. `max_states` bounds the search (distinct states memoized;
 * 0 = a default of 4 million). Fills *report and returns its verdict, or
 * -1 when out of memory.
 */
int kvfs_lincheck_check_key(const struct kvfs_lincheck_history *h, size_t i,
			    size_t max_states,
			    struct kvfs_lincheck_report *report);

/*
 * Check every key and print one line per key to `out` (NULL: print
 * nothing): "KEY: linearizable (N ops, S states)" or "KEY: NOT
 * linearizable: WITNESS". Returns the worst verdict (VIOLATION over
 * UNDECIDED over LINEARIZABLE), or -1 when out of memory.
 */
int kvfs_lincheck_check_all(const struct kvfs_lincheck_history *h,
			    size_t max_states, FILE *out);

#endif
