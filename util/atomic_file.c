/*
 * atomic_file.c - write a small file by renaming a synced copy over it
 * (see include/p11dkim/atomic_file.h).
 *
 * Security notes: the temporary file is opened with O_NOFOLLOW, so a
 * symbolic link planted at PATH.new is refused rather than written
 * through; it is removed again when any step fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "p11dkim/atomic_file.h"

/* fail - the message, when there is room for one; -1 */
static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		if (vsnprintf(err, errlen, fmt, ap) < 0)
			err[0] = '\0';
		va_end(ap);
	}
	return -1;
}

/* atomic_file_sync_dir - fsync the folder that holds path */
int
atomic_file_sync_dir(const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char	 dir[PATH_MAX];
	int	 n, fd, rc = 0;

	if (slash == NULL || slash == path)
		n = snprintf(dir, sizeof(dir), "%s", slash ? "/" : ".");
	else
		n = snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path),
		    path);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return fail(err, errlen, "'%s': folder name too long", path);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return fail(err, errlen, "folder '%s': open: %s", dir,
		    strerror(errno));
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = fail(err, errlen, "folder '%s': fsync: %s", dir,
		    strerror(errno));
	(void)close(fd);
	return rc;
}

/* write_all - len bytes to fd, through short writes and EINTR */
static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t	 n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* atomic_file_write - PATH.new written and synced, renamed over PATH */
int
atomic_file_write(const char *path, const void *data, size_t len,
    mode_t mode, char *err, size_t errlen)
{
	char	 tmp[PATH_MAX];
	int	 fd, n = snprintf(tmp, sizeof(tmp), "%s.new", path);

	if (n < 0 || (size_t)n >= sizeof(tmp))
		return fail(err, errlen, "'%s': name too long", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, mode)) < 0)
		return fail(err, errlen, "'%s': open: %s", tmp,
		    strerror(errno));
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		(void)fail(err, errlen, "'%s': write: %s", tmp,
		    strerror(errno));
		(void)close(fd);
		(void)unlink(tmp);
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		(void)fail(err, errlen, "'%s': replace: %s", path,
		    strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	return atomic_file_sync_dir(path, err, errlen);
}
