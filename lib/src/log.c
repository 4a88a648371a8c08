/*
 * log.c - where the library's and the daemon's log lines go: stderr by
 * default, or a handler the program installs (the daemon's syslog), with
 * lines above the set level dropped.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <kvfs/kvfs.h>

/* The handler and its argument, set together (a daemon switches to syslog
 * when it detaches, while other threads may log): read by every thread
 * that logs. */
struct log_target {
	kvfs_log_fn fn;
	void *ctx;
};
static struct log_target targets[2];
static _Atomic(struct log_target *) log_target;
static atomic_int log_slot;
static atomic_int log_level = KVFS_LOG_WARNING;

static const char *const level_names[] = {
	[KVFS_LOG_ERROR] = "error",
	[KVFS_LOG_WARNING] = "warning",
	[KVFS_LOG_INFO] = "info",
	[KVFS_LOG_DEBUG] = "debug",
};

void kvfs_log_set_handler(kvfs_log_fn fn, void *ctx)
{
	/* Two slots, used in turn: a thread still holding the one in use
	 * when the next is set reads a whole pair either way. */
	struct log_target *t = &targets[atomic_fetch_add(&log_slot, 1) & 1];

	t->fn = fn;
	t->ctx = ctx;
	atomic_store(&log_target, fn ? t : NULL);
}

void kvfs_log_set_level(enum kvfs_log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum kvfs_log_level kvfs_log_get_level(void)
{
	return (enum kvfs_log_level)atomic_load(&log_level);
}

int kvfs_log_level_parse(const char *text, enum kvfs_log_level *out)
{
	for (int i = KVFS_LOG_ERROR; i <= KVFS_LOG_DEBUG; i++) {
		if (text && !strcmp(text, level_names[i])) {
			*out = (enum kvfs_log_level)i;
			return 0;
		}
	}
	return kvfs_error_set(KVFS_EINVAL,
		"invalid log level '%s': use error, warning, info or debug",
		text ? text : "(null)");
}

void kvfs_log(enum kvfs_log_level level, const char *fmt, ...)
{
	struct log_target *t;
	char line[2048];
	va_list ap;
	size_t n;

	if ((int)level > atomic_load(&log_level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	t = atomic_load(&log_target);
	if (t)
		t->fn(level, line, t->ctx);
	else
		fprintf(stderr, "kvfs: %s\n", line);
}
