/*
 * lincheck_main.c - the kvfs-lincheck command: merge history files of
 * register operations (see lincheck.h for the format) and report, per key,
 * whether the history is linearizable.
 *
 *   kvfs-lincheck [--max-states N] [--quiet] HISTORY...
 *
 * Exit status: 0 every key linearizable, 1 some key is not, 2 the search
 * hit its bound for some key, 3 bad usage or unreadable input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvfs/kvfs.h>

#include "lincheck.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kvfs-lincheck [--max-states N] [--quiet] HISTORY...\n"
		"Check that the register operations in the HISTORY files "
		"(merged) are\nlinearizable, key by key. Each line: PROCESS KEY "
		"read|write VALUE CALL_NS RETURN_NS\n(VALUE '-' = none, "
		"RETURN_NS '?' = outcome unknown).\n"
		"Exit: 0 linearizable, 1 not, 2 undecided (bound hit), 3 bad "
		"input.\n");
}

int main(int argc, char **argv)
{
	struct kvfs_lincheck_history *h = NULL;
	size_t max_states = 0;
	bool quiet = false;
	int i, rc = 3, verdict;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--quiet") == 0 ||
			   strcmp(argv[i], "-q") == 0) {
			quiet = true;
		} else if (strcmp(argv[i], "--max-states") == 0 && i + 1 < argc) {
			char *end = NULL;

			max_states = strtoull(argv[++i], &end, 10);
			if (!*argv[i] || *end || max_states == 0) {
				fprintf(stderr, "kvfs-lincheck: bad --max-states '%s'\n",
					argv[i]);
				return 3;
			}
		} else {
			fprintf(stderr, "kvfs-lincheck: unknown option '%s'\n",
				argv[i]);
			usage(stderr);
			return 3;
		}
	}
	if (i == argc) {
		usage(stderr);
		return 3;
	}
	if (kvfs_lincheck_history_new(&h) < 0)
		goto out_error;
	for (; i < argc; i++)
		if (kvfs_lincheck_history_load(h, argv[i]) < 0)
			goto out_error;
	verdict = kvfs_lincheck_check_all(h, max_states, quiet ? NULL : stdout);
	if (verdict < 0)
		goto out_error;
	rc = verdict;
	if (quiet && verdict != KVFS_LINCHECK_LINEARIZABLE)
		kvfs_lincheck_check_all(h, max_states, stdout);
	kvfs_lincheck_history_free(h);
	return rc;

out_error:
	fprintf(stderr, "kvfs-lincheck: %s\n", kvfs_error_message());
	kvfs_lincheck_history_free(h);
	return 3;
}
