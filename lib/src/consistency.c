/*
 * consistency.c - the four consistency levels: canonical names, parsing of
 * the canonical and the CamelCase forms, and the strength order.
 */
#include <string.h>

#include <kvfs/kvfs.h>

static const struct {
	const char *canonical;
	const char *camel;
} level_names[KVFS_CONSISTENCY_COUNT] = {
	[KVFS_STRONG] = { "strong", "Strong" },
	[KVFS_EVENTUAL] = { "eventual", "Eventual" },
	[KVFS_READ_YOUR_WRITES] = { "read-your-writes", "ReadYourWrites" },
	[KVFS_CAUSAL] = { "causal", "Causal" },
};

const char *kvfs_consistency_name(enum kvfs_consistency level)
{
	if ((unsigned int)level >= KVFS_CONSISTENCY_COUNT)
		return "invalid";
	return level_names[level].canonical;
}

int kvfs_consistency_parse(const char *text, enum kvfs_consistency *out)
{
	if (text) {
		for (int i = 0; i < KVFS_CONSISTENCY_COUNT; i++) {
			if (!strcmp(text, level_names[i].canonical) ||
			    !strcmp(text, level_names[i].camel)) {
				*out = (enum kvfs_consistency)i;
				return 0;
			}
		}
	}
	return kvfs_error_set(KVFS_EINVAL,
		"invalid consistency level '%s': use strong, eventual, "
		"read-your-writes or causal",
		text ? text : "(null)");
}

/*
 * Strength order: strong > causal > read-your-writes > eventual. Causal
 * includes read-your-writes (DESIGN.md section 3), and strong (linearizable)
 * includes both.
 */
static int strength(enum kvfs_consistency level)
{
	switch (level) {
	case KVFS_EVENTUAL: return 0;
	case KVFS_READ_YOUR_WRITES: return 1;
	case KVFS_CAUSAL: return 2;
	case KVFS_STRONG: return 3;
	}
	return -1;
}

bool kvfs_consistency_satisfies(enum kvfs_consistency served,
				enum kvfs_consistency asked)
{
	return strength(asked) >= 0 && strength(served) >= strength(asked);
}
