/*
 * testutil.c - helpers shared by the tests.
 */
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "testutil.h"

char *kvfs_test_mkdtemp(const char *tag)
{
	const char *tmp = getenv("TMPDIR");
	char *path = NULL;

	if (asprintf(&path, "%s/kvfs-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp",
		     tag) < 0)
		return NULL;
	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

/* Remove name (relative to dir_fd) and, for a directory, everything in
 * it, through descriptors so that trees deeper than PATH_MAX go too. */
static int remove_at(int dir_fd, const char *name)
{
	struct stat st;
	struct dirent *de;
	DIR *dir;
	int fd, rc = 0;

	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW))
		return -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dir_fd, name, 0);
	fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0)
		return -1;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -1;
	}
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (remove_at(dirfd(dir), de->d_name))
			rc = -1;
	}
	closedir(dir);
	if (unlinkat(dir_fd, name, AT_REMOVEDIR))
		rc = -1;
	return rc;
}

int kvfs_test_rmtree(const char *path)
{
	if (!path)
		return 0;
	return remove_at(AT_FDCWD, path);
}

char *kvfs_test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	long size;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET))
		goto out_close;
	data = malloc((size_t)size + 1);
	if (data && fread(data, 1, (size_t)size, f) != (size_t)size) {
		free(data);
		data = NULL;
		goto out_close;
	}
	if (data) {
		data[size] = '\0';
		*len = (size_t)size;
	}
out_close:
	fclose(f);
	return data;
}

char *kvfs_test_repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

char *kvfs_test_key_of_len(size_t len, size_t component)
{
	char *s = kvfs_test_repeat('k', len);

	for (size_t i = component; i < len - 1; i += component + 1)
		s[i] = '/';
	return s;
}
