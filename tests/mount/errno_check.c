/*
 * errno_check.c - pjdfstest-style checks of the errno values that system
 * calls give on a kvfs mount, for what a key-value filesystem supports:
 * open, unlink, rename, mkdir, rmdir, truncate, ftruncate, link, symlink,
 * mknod, and open files that survive the unlink of their name (also after
 * an fsync, and read through the page cache).
 *
 *   errno_check DIR      (DIR: an empty directory inside the mount)
 *
 * Prints one line per check; exit status 0 when every check passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;
static const char *base;

static const char *p(const char *name)
{
	static char bufs[4][4096];
	static int i;
	char *b = bufs[i++ % 4];

	snprintf(b, 4096, "%s/%s", base, name);
	return b;
}

/* Check that rc == -1 with errno == want (or rc >= 0 when want == 0). */
static void expect(const char *what, int rc, int want)
{
	int got = rc < 0 ? errno : 0;

	if (got == want) {
		printf("ok   %-44s %s\n", what, want ? strerror(want) : "0");
	} else {
		printf("FAIL %-44s want %s, got %s\n", what,
		       want ? strerror(want) : "success",
		       got ? strerror(got) : "success");
		failures++;
	}
}

static int put(const char *name, const char *text)
{
	int fd = open(p(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return -1;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int fd_close(int fd)
{
	if (fd >= 0)
		close(fd);
	return fd < 0 ? -1 : 0;
}

static void check_open(void)
{
	expect("setup: put f", put("f", "hello"), 0);
	expect("setup: mkdir d", mkdir(p("d"), 0755), 0);
	expect("open O_CREAT|O_EXCL existing file",
	       fd_close(open(p("f"), O_WRONLY | O_CREAT | O_EXCL, 0644)),
	       EEXIST);
	expect("open O_CREAT|O_EXCL existing dir",
	       fd_close(open(p("d"), O_WRONLY | O_CREAT | O_EXCL, 0644)),
	       EEXIST);
	expect("open missing file", fd_close(open(p("nope"), O_RDONLY)),
	       ENOENT);
	expect("open below missing dir",
	       fd_close(open(p("nope/x"), O_RDONLY)), ENOENT);
	expect("open O_CREAT below missing dir",
	       fd_close(open(p("nope/x"), O_WRONLY | O_CREAT, 0644)), ENOENT);
	expect("open with a file as directory",
	       fd_close(open(p("f/x"), O_RDONLY)), ENOTDIR);
	expect("open O_CREAT with a file as directory",
	       fd_close(open(p("f/x"), O_WRONLY | O_CREAT, 0644)), ENOTDIR);
	expect("open dir for writing", fd_close(open(p("d"), O_WRONLY)),
	       EISDIR);
	expect("open dir O_RDWR", fd_close(open(p("d"), O_RDWR)), EISDIR);
	expect("open dir read-only", fd_close(open(p("d"), O_RDONLY)), 0);
	expect("open O_DIRECTORY of a file",
	       fd_close(open(p("f"), O_RDONLY | O_DIRECTORY)), ENOTDIR);
}

static void check_unlink(void)
{
	expect("unlink dir", unlink(p("d")), EISDIR);
	expect("unlink missing", unlink(p("nope")), ENOENT);
	expect("unlink below a file", unlink(p("f/x")), ENOTDIR);
	expect("setup: put u", put("u", "x"), 0);
	expect("unlink file", unlink(p("u")), 0);
	expect("unlink it again", unlink(p("u")), ENOENT);
}

static void check_mkdir_rmdir(void)
{
	expect("mkdir existing dir", mkdir(p("d"), 0755), EEXIST);
	expect("mkdir over a file", mkdir(p("f"), 0755), EEXIST);
	expect("mkdir below missing dir", mkdir(p("nope/x"), 0755), ENOENT);
	expect("mkdir below a file", mkdir(p("f/x"), 0755), ENOTDIR);
	expect("setup: put d/child", put("d/child", "c"), 0);
	expect("rmdir non-empty", rmdir(p("d")), ENOTEMPTY);
	expect("rmdir a file", rmdir(p("f")), ENOTDIR);
	expect("rmdir missing", rmdir(p("nope")), ENOENT);
	expect("mkdir e", mkdir(p("e"), 0755), 0);
	expect("rmdir empty", rmdir(p("e")), 0);
}

static void check_rename(void)
{
	expect("setup: mkdir r1", mkdir(p("r1"), 0755), 0);
	expect("setup: put r1/x", put("r1/x", "x"), 0);
	expect("setup: mkdir r2", mkdir(p("r2"), 0755), 0);
	expect("setup: put r2/y", put("r2/y", "y"), 0);
	expect("rename dir onto non-empty dir", rename(p("r1"), p("r2")),
	       ENOTEMPTY);
	expect("rename file onto dir", rename(p("f"), p("r1")), EISDIR);
	expect("rename dir onto file", rename(p("r1"), p("f")), ENOTDIR);
	expect("rename missing", rename(p("nope"), p("n2")), ENOENT);
	expect("setup: put g", put("g", "gg"), 0);
	expect("rename NOREPLACE onto existing",
	       renameat2(AT_FDCWD, p("g"), AT_FDCWD, p("f"),
			 RENAME_NOREPLACE), EEXIST);
	expect("rename EXCHANGE",
	       renameat2(AT_FDCWD, p("g"), AT_FDCWD, p("f"),
			 RENAME_EXCHANGE), EINVAL);
	expect("rename NOREPLACE to new name",
	       renameat2(AT_FDCWD, p("g"), AT_FDCWD, p("g2"),
			 RENAME_NOREPLACE), 0);
	expect("rename replacing a file", rename(p("g2"), p("f")), 0);
	expect("setup: mkdir empty", mkdir(p("empty"), 0755), 0);
	expect("rename dir onto empty dir", rename(p("r1"), p("empty")), 0);
	expect("old dir name is gone", access(p("r1"), F_OK), ENOENT);
	expect("moved child is there", access(p("empty/x"), F_OK), 0);
}

static void check_truncate(void)
{
	struct stat st;
	int fd;

	expect("truncate missing", truncate(p("nope"), 0), ENOENT);
	expect("truncate dir", truncate(p("d"), 0), EISDIR);
	expect("truncate negative", truncate(p("f"), -1), EINVAL);
	expect("truncate grow", truncate(p("f"), 100), 0);
	expect("stat after truncate", stat(p("f"), &st), 0);
	errno = 0;
	expect("size is 100", st.st_size == 100 ? 0 : -1, 0);
	expect("setup: put ro", put("ro", "read-only"), 0);
	fd = open(p("ro"), O_RDONLY);
	expect("ftruncate read-only fd", ftruncate(fd, 0), EINVAL);
	close(fd);
	fd = open(p("f"), O_RDWR);
	expect("ftruncate shrink", ftruncate(fd, 3), 0);
	expect("fstat after ftruncate", fstat(fd, &st), 0);
	errno = 0;
	expect("size is 3", st.st_size == 3 ? 0 : -1, 0);
	expect("close", close(fd), 0);
	expect("stat after close", stat(p("f"), &st), 0);
	errno = 0;
	expect("published size is 3", st.st_size == 3 ? 0 : -1, 0);
}

static void check_refused(void)
{
	expect("link (hard links)", link(p("f"), p("hard")), EPERM);
	expect("symlink", symlink("f", p("soft")), EPERM);
	expect("mknod fifo", mknod(p("fifo"), S_IFIFO | 0644, 0), EPERM);
	expect("mknod regular file", mknod(p("plain"), S_IFREG | 0644, 0),
	       0);
}

/* An open file keeps working after its name is unlinked. */
static void check_unlinked_open(void)
{
	char buf[64] = { 0 };
	struct stat st;
	int fd;

	expect("setup: put open", put("open", "snapshot"), 0);
	fd = open(p("open"), O_RDWR);
	expect("open for the unlink check", fd, 0);
	expect("unlink while open", unlink(p("open")), 0);
	expect("name is gone", access(p("open"), F_OK), ENOENT);
	expect("read after unlink",
	       pread(fd, buf, sizeof(buf) - 1, 0) == 8 ? 0 : -1, 0);
	expect("content after unlink", strcmp(buf, "snapshot") ? -1 : 0, 0);
	expect("write after unlink",
	       pwrite(fd, "NEW", 3, 0) == 3 ? 0 : -1, 0);
	memset(buf, 0, sizeof(buf));
	expect("read own write", pread(fd, buf, 8, 0) == 8 ? 0 : -1, 0);
	expect("own write seen", strcmp(buf, "NEWpshot") ? -1 : 0, 0);
	expect("fstat after unlink", fstat(fd, &st), 0);
	expect("fsync after unlink", fsync(fd), 0);
	expect("close after unlink", close(fd), 0);
	expect("name stays gone", access(p("open"), F_OK), ENOENT);
}

/* Unlinked open files keep their own values: a reader (through the page
 * cache), and a writer that published with fsync before the unlink, also
 * when a new file takes the name. */
static void check_unlinked_published(void)
{
	char buf[64] = { 0 };
	struct stat st;
	int r, w;

	expect("setup: put ro", put("ro", "snapshot"), 0);
	r = open(p("ro"), O_RDONLY);
	expect("open read-only for unlink", r, 0);
	expect("unlink read-only open file", unlink(p("ro")), 0);
	expect("fstat of unlinked reader",
	       fstat(r, &st) == 0 && st.st_size == 8 ? 0 : -1, 0);
	expect("read of unlinked reader",
	       read(r, buf, sizeof(buf) - 1) == 8 ? 0 : -1, 0);
	expect("unlinked reader's content", strcmp(buf, "snapshot") ? -1 : 0,
	       0);
	expect("close unlinked reader", close(r), 0);

	expect("setup: put fs", put("fs", "old"), 0);
	w = open(p("fs"), O_RDWR);
	expect("open for fsync then unlink", w, 0);
	expect("write before unlink", pwrite(w, "written", 7, 0) == 7 ? 0 : -1,
	       0);
	expect("fsync before unlink", fsync(w), 0);
	expect("unlink after fsync", unlink(p("fs")), 0);
	expect("put a new file of that name", put("fs", "other file"), 0);
	memset(buf, 0, sizeof(buf));
	expect("read after fsync and unlink",
	       pread(w, buf, sizeof(buf) - 1, 0) == 7 ? 0 : -1, 0);
	expect("published value kept", strcmp(buf, "written") ? -1 : 0, 0);
	expect("fstat after fsync and unlink",
	       fstat(w, &st) == 0 && st.st_size == 7 ? 0 : -1, 0);
	expect("write after fsync and unlink",
	       pwrite(w, "W", 1, 0) == 1 ? 0 : -1, 0);
	memset(buf, 0, sizeof(buf));
	expect("read own write after unlink",
	       pread(w, buf, sizeof(buf) - 1, 0) == 7 ? 0 : -1, 0);
	expect("own write on own value", strcmp(buf, "Written") ? -1 : 0, 0);
	expect("close after fsync and unlink", close(w), 0);
	r = open(p("fs"), O_RDONLY);
	memset(buf, 0, sizeof(buf));
	expect("new file untouched",
	       read(r, buf, sizeof(buf) - 1) == 10 ? 0 : -1, 0);
	expect("new file's content", strcmp(buf, "other file") ? -1 : 0, 0);
	fd_close(r);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: errno_check DIR\n");
		return 2;
	}
	base = argv[1];
	check_open();
	check_unlink();
	check_mkdir_rmdir();
	check_rename();
	check_truncate();
	check_refused();
	check_unlinked_open();
	check_unlinked_published();
	printf("%d failure(s)\n", failures);
	return failures ? 1 : 0;
}
