/*
 * main.c - the kvfs daemon's entry point: command line and mount options,
 * opening the store, mounting, and the FUSE session loop.
 *
 *   kvfs MOUNTPOINT -o root=DIR[,consistency=LEVEL][,...] [-f] [-d] [-s]
 *
 * Options go three ways. The daemon's own (timeouts, writeback) fill
 * struct fs_config through the fuse_opt table below. Options FUSE knows
 * (allow_other, default_permissions, fsname=, ro, max_write=, ...) go on
 * to libfuse. Every other name=value (root=, consistency=, backend=,
 * sync=, endpoints=, ...) goes into a kvfs_options list for
 * kvfs_store_open(); whatever the backend did not take is an unknown
 * option: a one-line message, exit status 1, nothing mounted.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvfs_fs.h"

/* What the fuse_opt table fills in; offsets below point into it. */
struct daemon_opts {
	struct fs_config cfg;
	struct kvfs_options *kv; /* everything for the store */
	char *last_kv;           /* last kvfs option name, for URL lists */
	int failed;
};

enum { KEY_KVFS };

#define DOPT(t, f, v) { t, offsetof(struct daemon_opts, cfg.f), v }

static const struct fuse_opt daemon_opt_spec[] = {
	DOPT("attr_timeout=%lf", timeout, 0),
	DOPT("weak_timeout=%lf", weak_timeout, 0),
	DOPT("writeback", writeback, 1),
	DOPT("no_writeback", no_writeback, 1),
	DOPT("page_cache", page_cache, 1),
	DOPT("no_page_cache", page_cache, 0),
	DOPT("quiet=%lf", quiet, 0),
	DOPT("spin=%lf", spin, 0),
	FUSE_OPT_KEY("root=", KEY_KVFS),
	FUSE_OPT_KEY("consistency=", KEY_KVFS),
	FUSE_OPT_KEY("backend=", KEY_KVFS),
	FUSE_OPT_END
};

/* Mount options that libfuse or the kernel understand. A name ending in
 * '=' takes a value. */
static const char *const fuse_known[] = {
	"allow_other", "allow_root", "auto_unmount", "blkdev", "blksize=",
	"default_permissions", "fsname=", "subtype=", "max_read=",
	"context=", "fscontext=", "defcontext=", "rootcontext=",
	"ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec",
	"async", "sync", "dirsync", "noatime", "nodiratime", "nostrictatime",
	"symfollow", "nosymfollow", "debug", "clone_fd", "max_idle_threads=",
	"max_threads=", "max_write=", "max_readahead=", "max_background=",
	"congestion_threshold=", "sync_read", "async_read", "atomic_o_trunc",
	"no_remote_lock", "no_remote_flock", "no_remote_posix_lock",
	"splice_write", "no_splice_write", "splice_move", "no_splice_move",
	"splice_read", "no_splice_read", "auto_inval_data",
	"no_auto_inval_data", "readdirplus=", "async_dio", "no_async_dio",
	"writeback_cache", "no_writeback_cache", "time_gran=",
};

static bool is_fuse_option(const char *arg)
{
	for (size_t i = 0; i < sizeof(fuse_known) / sizeof(fuse_known[0]);
	     i++) {
		const char *k = fuse_known[i];
		size_t n = strlen(k);

		if (k[n - 1] == '=' ? !strncmp(arg, k, n) : !strcmp(arg, k))
			return true;
	}
	return false;
}

/* Record name=value for the store; a bare URL continues a list value
 * (endpoints=http://a:2379,http://b:2379). */
static int to_kvfs(struct daemon_opts *d, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *name;
	int rc;

	if (!eq && d->last_kv && strstr(arg, "://")) {
		const char *prev = kvfs_options_peek(d->kv, d->last_kv);
		size_t n = strlen(prev) + strlen(arg) + 2;
		char *joined = malloc(n);

		if (!joined)
			return -1;
		snprintf(joined, n, "%s,%s", prev, arg);
		rc = kvfs_options_set(d->kv, d->last_kv, joined);
		free(joined);
		return rc ? -1 : 0;
	}
	name = eq ? strndup(arg, (size_t)(eq - arg)) : strdup(arg);
	if (!name)
		return -1;
	rc = kvfs_options_set(d->kv, name, eq ? eq + 1 : "");
	free(d->last_kv);
	d->last_kv = name;
	return rc ? -1 : 0;
}

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct daemon_opts *d = data;

	if (key == KEY_KVFS)
		return to_kvfs(d, arg);
	if (key != FUSE_OPT_KEY_OPT || arg[0] == '-' || is_fuse_option(arg))
		return 1; /* mount point, -f, -d, FUSE's own: keep */
	return to_kvfs(d, arg);
}

/* ------------------------------------------------------------- logging */

/* libfuse's lines (and the daemon's fuse_log calls) go through kvfs_log,
 * so that one level and one destination hold for everything. */
static void fuse_to_kvfs_log(enum fuse_log_level level, const char *fmt,
			     va_list ap)
{
	enum kvfs_log_level mine = level <= FUSE_LOG_ERR ? KVFS_LOG_ERROR
		: level == FUSE_LOG_WARNING ? KVFS_LOG_WARNING
		: level == FUSE_LOG_DEBUG ? KVFS_LOG_DEBUG : KVFS_LOG_INFO;
	char line[2048];
	const char *text = line;

	if ((int)mine > (int)kvfs_log_get_level())
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (!strncmp(text, "kvfs: ", 6))
		text += 6;
	kvfs_log(mine, "%s", text);
}

static void usage(const char *prog)
{
	printf(
"usage: %s MOUNTPOINT -o root=DIR[,OPTION...] [-f] [-d] [-s]\n"
"\n"
"Mounts a key-value store as a directory: every key is a file, a '/' in a\n"
"key makes directories.\n"
"\n"
"kvfs options (-o name=value):\n"
"    root=DIR               local backend: where the keys are stored\n"
"                           (required for the local backend)\n"
"    backend=NAME           local (default), etcd, plugin\n"
"    consistency=LEVEL      level for files without an xattr: strong\n"
"                           (default), eventual, read-your-writes, causal\n"
"    sync=BOOL              local backend: fsync every publish (default\n"
"                           true)\n"
"    lock_wait=DURATION     how long to wait for another kvfs to let go\n"
"                           of the root or etcd journal (default 2s)\n"
"    attr_timeout=SECONDS   kernel entry/attribute cache time where this\n"
"                           daemon is the only writer (default 86400)\n"
"    weak_timeout=SECONDS   cache time on shared backends for names, and\n"
"                           for non-strong files' attributes (default 1;\n"
"                           strong files' attributes: 0)\n"
"    page_cache             local backend: readers use the kernel page cache\n"
"                           unless a writer overlapped with another open\n"
"                           file within quiet= seconds (the default)\n"
"    no_page_cache          every open file uses direct I/O\n"
"    quiet=SECONDS          see page_cache (default 2)\n"
"    spin=MICROSECONDS      local backend: how long a thread that answered\n"
"                           a request watches for the next before it\n"
"                           sleeps (default 20; 0: never)\n"
"    writeback              kernel writeback cache (local backend only)\n"
"    no_writeback           no kernel writeback cache (the default)\n"
"    log_level=LEVEL        error, warning (default), info or debug (-d:\n"
"                           debug)\n"
"    log=DEST               where log lines go: stderr (the default with\n"
"                           -f; detached, the starting command's stderr\n"
"                           stays open), syslog (the default when\n"
"                           detached, if /dev/log answers; else stderr),\n"
"                           or /absolute/path to append to a file\n"
"    NAME=VALUE             any other option goes to the backend\n"
"                           (endpoints=, prefix=, timeout=, cache=SIZE,\n"
"                           ...: see README.md); one it does not know is\n"
"                           an error\n"
"    config=FILE            settings and prefix rules from a file (default\n"
"                           " KVFS_CONFIG_DEFAULT_PATH " when it exists);\n"
"                           mount options override it\n"
"\n"
"Extended attributes: user.kvfs.consistency (file, directory),\n"
"user.kvfs.consistency.effective (read-only), user.kvfs.causal-token and\n"
"user.kvfs.stats (mount root). See fs/README.md.\n"
"\n", prog);
}

/*
 * Every open file costs the daemon a descriptor or more (a writer's
 * temporary file, a reader's snapshot), and the soft limit a service
 * starts with is 1024 (systemd's default, kept low for programs that
 * still use select(2)): past it opens fail with EIO. The daemon polls and never selects, so it takes all of
 * the hard limit. Not being able to is no reason not to mount.
 */
static void raise_descriptor_limit(void)
{
	struct rlimit lim;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &lim)) {
		kvfs_log(KVFS_LOG_DEBUG, "open files: getrlimit: %s",
			 strerror(errno));
		return;
	}
	was = lim.rlim_cur;
	if (lim.rlim_cur < lim.rlim_max) {
		lim.rlim_cur = lim.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &lim)) {
			kvfs_log(KVFS_LOG_WARNING,
				 "open files: cannot raise the limit from %llu "
				 "to %llu: %s; raise it for the daemon "
				 "(LimitNOFILE=, ulimit -n)",
				 (unsigned long long)was,
				 (unsigned long long)lim.rlim_max,
				 strerror(errno));
			return;
		}
	}
	kvfs_log(KVFS_LOG_DEBUG, "open files: limit %llu (was %llu, hard "
		 "limit %llu)", (unsigned long long)lim.rlim_cur,
		 (unsigned long long)was, (unsigned long long)lim.rlim_max);
}

/* A message line and failure, for everything before the mount. */
static int fail(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "kvfs: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return 1;
}

/* Open the store with opts and check that every option was taken. */
static int open_store(struct kvfs_options *opts, struct kvfs_store **out)
{
	int rc = kvfs_store_open(opts, out);

	if (rc)
		return fail("%s", kvfs_error_message(), NULL);
	/* The daemon's own settings, read in main(). */
	kvfs_options_take(opts, "consistency");
	kvfs_options_take(opts, "config");
	kvfs_options_take(opts, "log_level");
	kvfs_options_take(opts, "log");
	rc = kvfs_options_check_all_taken(opts);
	if (rc) {
		kvfs_store_close(*out);
		*out = NULL;
		return fail("%s", kvfs_error_message(), NULL);
	}
	return 0;
}

/*
 * Is the FUSE mount at mnt one whose daemon has ended? It then answers
 * statfs with ENOTCONN at once (a stat may be served from the kernel's
 * cache). The statfs runs in a child, given a second: a
 * live but stuck daemon must not hang this start (the child, blocked in
 * the request, is killed). Called before any thread exists.
 */
static bool mount_is_dead(const char *mnt)
{
	struct pollfd pfd;
	int pipefd[2], st;
	char answer = 0;
	bool dead = false;
	pid_t child;

	if (pipe2(pipefd, O_CLOEXEC))
		return false;
	child = fork();
	if (child == 0) {
		struct statfs sb;
		char c = statfs(mnt, &sb) && errno == ENOTCONN ? 'd' : 'l';

		if (write(pipefd[1], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(pipefd[1]);
	pfd = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	if (child > 0 && poll(&pfd, 1, 1000) == 1 &&
	    read(pipefd[0], &answer, 1) == 1)
		dead = answer == 'd';
	close(pipefd[0]);
	if (child > 0) {
		kill(child, SIGKILL);
		while (waitpid(child, &st, 0) < 0 && errno == EINTR)
			;
	}
	return dead;
}

/*
 * A mount point that is a FUSE mount already: a live kvfs would be hidden
 * and keep running unseen, a dead one (its daemon crashed) answers every
 * call with ENOTCONN. Checked in /proc/self/mountinfo, which asks that
 * filesystem nothing, by the absolute path (`MNT/.`, `MNT/` and a
 * symlink to MNT are MNT; mountpoint.c), before anything (libfuse's
 * realpath included) looks at the path. A mount point that does not exist
 * is refused here too, in kvfs's words rather than libfuse's.
 */
static int check_not_mounted(const struct fuse_args *args)
{
	const char *mnt = NULL;
	char abs[PATH_MAX];
	int rc;

	/* What fuse_opt_parse left: options, "-o" with the FUSE options
	 * kept as the next argument, and the mount point. */
	for (int i = 1; i < args->argc && !mnt; i++) {
		if (!strcmp(args->argv[i], "-o"))
			i++;
		else if (args->argv[i][0] != '-')
			mnt = args->argv[i];
	}
	if (!mnt)
		return 0;
	rc = kvfs_fs_mountpoint_resolve(mnt, abs);
	if (rc == -ENOENT)
		return fail("mount point '%s' does not exist; make it first: "
			    "mkdir -p %s", mnt, mnt);
	if (rc)
		return fail("mount point '%s': %s", mnt, strerror(-rc));
	if (kvfs_fs_mount_device(abs) && mount_is_dead(abs))
		return fail("mount point '%s' is still mounted by a daemon "
			    "that has ended (\"Transport endpoint is not "
			    "connected\"); unmount it first: fusermount3 -uz %s",
			    mnt, abs);
	if (kvfs_fs_mount_device(abs))
		return fail("mount point '%s' is a FUSE mount already, served "
			    "by a running daemon; unmount it first: "
			    "fusermount3 -u %s", mnt, abs);
	return 0;
}

static int check_mountpoint(const char *mnt)
{
	struct stat st;

	if (stat(mnt, &st))
		return fail("mount point '%s': %s", mnt, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail("mount point '%s': %s", mnt, strerror(ENOTDIR));
	if (access(mnt, R_OK | X_OK))
		return fail("mount point '%s': %s", mnt, strerror(errno));
	return 0;
}

/* The moment the store's figures start counting (user.kvfs.stats). */
static void note_start(struct fs *fs)
{
	struct timespec boot;

	fs->started = time(NULL);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	fs->started_boot = boot.tv_sec;
}

/* Give the mount a readable source and type in /proc/mounts. */
static void add_names(struct fuse_args *args, const struct kvfs_options *kv)
{
	const char *root = kvfs_options_peek(kv, "root");
	char *arg;
	bool has_fsname = false;

	for (int i = 0; i < args->argc; i++)
		if (strstr(args->argv[i], "fsname="))
			has_fsname = true;
	if (!has_fsname && root && !strchr(root, ',') && !strchr(root, '\\') &&
	    asprintf(&arg, "-ofsname=%s", root) >= 0) {
		fuse_opt_add_arg(args, arg);
		free(arg);
	} else if (!has_fsname) {
		fuse_opt_add_arg(args, "-ofsname=kvfs");
	}
	fuse_opt_add_arg(args, "-osubtype=kvfs");
}

/* Free what open handles still hold when the session ends. */
static void drop_handles(struct fs_inode *inode, void *ctx)
{
	struct fs *fs = ctx;

	while (inode->handles) {
		struct fs_handle *h = inode->handles;

		inode->handles = h->next;
		if (h->writer)
			kvfs_writer_abort(h->writer);
		kvfs_reader_close(h->reader);
		free(h);
	}
	kvfs_reader_close(inode->retired);
	inode->retired = NULL;
	(void)fs;
}

static unsigned int max_threads(const struct fuse_cmdline_opts *opts)
{
	return opts->max_threads > 0 && opts->max_threads <= 100000
		       ? (unsigned int)opts->max_threads
		       : 0;
}

static void abort_session(void *fs)
{
	kvfs_fs_session_abort(fs, "at exit a request still waited for the "
			      "kernel, which waited for a request nobody "
			      "reads any more");
}

/* Where most requests wait on a remote store, each in a thread of its
 * own: libfuse's loop, whose idle threads sleep on the device. */
static int libfuse_loop(struct fuse_session *se,
			const struct fuse_cmdline_opts *opts)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int ret;

	if (!cfg)
		return -1;
	fuse_loop_cfg_set_clone_fd(cfg, (unsigned int)opts->clone_fd);
	if (opts->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(cfg, opts->max_idle_threads);
	if (max_threads(opts))
		fuse_loop_cfg_set_max_threads(cfg, max_threads(opts));
	ret = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return ret;
}

static int run(struct fs *fs, struct fuse_args *args,
	       struct fuse_cmdline_opts *opts, struct fuse_conn_info_opts *copts,
	       int ready)
{
	fs->ready_fd = ready;
	int ret = 1;

	fs->se = fuse_session_new(args, &kvfs_fs_ops, sizeof(kvfs_fs_ops), fs);
	if (!fs->se)
		return 1;
	fs->conn_opts = copts;
	if (fuse_set_signal_handlers(fs->se))
		goto out_destroy;
	if (fuse_session_mount(fs->se, opts->mountpoint))
		goto out_signals;
	kvfs_fs_session_mounted(fs, opts->mountpoint);
	if (kvfs_fs_session_io(fs))
		goto out_unmount;
	if (kvfs_fs_notify_start(fs))
		goto out_unmount;
	/* The sole writer pushes into the page cache, so its requests may
	 * wait for the kernel: kvfs's loop, which still reads meanwhile
	 * (-s: one request served at a time). */
	if (fs->exclusive)
		ret = kvfs_fs_loop(fs->se,
				   opts->singlethread ? 1 : max_threads(opts),
				   fs->cfg.spin / 1e6, abort_session, fs);
	else if ((fs->serial = opts->singlethread))
		ret = fuse_session_loop(fs->se);
	else
		ret = libfuse_loop(fs->se, opts);
	/* libfuse's loops return the signal that ended them: an end asked
	 * for, as an unmount is. */
	if (ret == SIGTERM || ret == SIGINT || ret == SIGHUP)
		ret = 0;
	if (fs->init_error) {
		fuse_log(FUSE_LOG_ERR,
			 "kvfs: the kernel and the daemon could not agree on "
			 "the mount's settings (%s); check the FUSE options\n",
			 strerror(fs->init_error));
		ret = 1;
	}
	ret = ret ? 1 : 0;
	/* Ended by a signal, the mount is still there and the kernel may
	 * hold requests nobody will answer now: fail them, as the exit
	 * would, before joining threads that might wait for the kernel. */
	kvfs_fs_session_abort(fs, NULL);
out_unmount:
	kvfs_fs_notify_stop(fs);
	fuse_session_unmount(fs->se);
out_signals:
	fuse_remove_signal_handlers(fs->se);
out_destroy:
	kvfs_fs_inode_each(fs, drop_handles, fs);
	kvfs_store_close(fs->store);
	fs->store = NULL;
	kvfs_fs_notify_free(fs);
	fuse_session_destroy(fs->se);
	return ret;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct daemon_opts d = {
		.cfg = { .timeout = 86400.0, .weak_timeout = 1.0,
			 .page_cache = 1, .quiet = 2.0, .spin = 20.0 },
	};
	struct fuse_cmdline_opts opts = { 0 };
	struct fuse_conn_info_opts *copts = NULL;
	struct fs fs = { 0 };
	const char *text, *backend;
	int ret = 1, ready = -1;

	umask(0); /* modes arrive masked by the kernel already */
	if (kvfs_options_new(&d.kv))
		return 1;
	if (fuse_opt_parse(&args, &d, daemon_opt_spec, opt_proc) == -1)
		goto out_free;
	copts = fuse_parse_conn_info_opts(&args);
	if (!copts || check_not_mounted(&args) ||
	    fuse_parse_cmdline(&args, &opts) != 0)
		goto out_free;
	if (opts.show_help) {
		usage(argv[0]);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out_free;
	}
	if (opts.show_version) {
		/* Unbuffered: fuse_lowlevel_version() runs fusermount3
		 * --version, whose line would otherwise come out before
		 * ours, still in the buffer when stdout is a pipe. */
		setvbuf(stdout, NULL, _IONBF, 0);
		printf("kvfs version %s\n", KVFS_VERSION_STRING);
		printf("FUSE library version %s\n", fuse_pkgversion());
		fuse_lowlevel_version();
		ret = 0;
		goto out_free;
	}
	if (!opts.mountpoint) {
		ret = fail("no mount point given (usage: kvfs MOUNTPOINT -o "
			   "root=DIR; kvfs --help)%s%s", "", "");
		goto out_free;
	}
	if (kvfs_config_apply(d.kv, &fs.rules)) {
		ret = fail("%s%s", kvfs_error_message(), "");
		goto out_free;
	}
	text = kvfs_options_peek(d.kv, "log_level");
	if (text) {
		enum kvfs_log_level level;

		if (kvfs_log_level_parse(text, &level)) {
			ret = fail("%s%s", kvfs_error_message(), "");
			goto out_free;
		}
		kvfs_log_set_level(level);
	} else if (opts.debug) {
		kvfs_log_set_level(KVFS_LOG_DEBUG);
	}
	fuse_set_log_func(fuse_to_kvfs_log);
	raise_descriptor_limit();
	if (kvfs_fs_log_open(kvfs_options_peek(d.kv, "log"), opts.foreground))
		goto out_free;
	fs.mount_level = KVFS_CONSISTENCY_DEFAULT;
	text = kvfs_options_peek(d.kv, "consistency");
	if (text && kvfs_consistency_parse(text, &fs.mount_level)) {
		ret = fail("consistency=%s: %s", text, kvfs_error_message());
		goto out_free;
	}
	backend = kvfs_options_peek(d.kv, "backend");
	if ((!backend || !strcmp(backend, "local")) &&
	    !kvfs_options_peek(d.kv, "root")) {
		ret = fail("missing option root=DIR: the directory where the "
			   "local backend keeps the keys%s%s", "", "");
		goto out_free;
	}
	if (d.cfg.timeout < 0 || d.cfg.weak_timeout < 0) {
		ret = fail("timeouts must not be negative%s%s", "", "");
		goto out_free;
	}
	if (!(d.cfg.quiet >= 0)) {
		ret = fail("quiet= must not be negative%s%s", "", "");
		goto out_free;
	}
	if (!(d.cfg.spin >= 0 && d.cfg.spin <= 1e6)) {
		ret = fail("spin= takes 0 to 1000000 microseconds%s%s", "", "");
		goto out_free;
	}
	if (check_mountpoint(opts.mountpoint))
		goto out_free;
	if (!opts.foreground) {
		ready = kvfs_fs_detach_begin();
		if (ready < 0)
			goto out_free;
	}
	if (open_store(d.kv, &fs.store))
		goto out_free;
	note_start(&fs);
	fs.cfg = d.cfg;
	fs.caps = kvfs_store_caps(fs.store);
	fs.exclusive = fs.caps & KVFS_CAP_SOLE_WRITER;
	fs.debug = opts.debug;
	fs.uid = getuid();
	fs.gid = getgid();
	if (kvfs_fs_table_init(&fs))
		goto out_close;
	add_names(&args, d.kv);
	ret = run(&fs, &args, &opts, copts, ready);
	kvfs_fs_table_destroy(&fs);
	goto out_free;

out_close:
	kvfs_store_close(fs.store);
out_free:
	kvfs_rules_free(fs.rules);
	free(opts.mountpoint);
	free(copts);
	free(d.last_kv);
	kvfs_options_free(d.kv);
	fuse_opt_free_args(&args);
	return ret;
}
