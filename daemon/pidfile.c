/*
 * pidfile.c - the parent's pid file (see pidfile.h).
 *
 * The file is made whole under a temporary name, with an exclusive
 * flock(2) on it, then linked into place (or renamed over a stale one),
 * so that a reader never sees it half-written.  The lock lives as long
 * as the parent: a file whose lock is held belongs to a running
 * p11dkimd, whatever its content.  A file nobody holds is stale, unless
 * the pid in it is a running p11dkimd (one that took no lock): both
 * refuse the start.  Children close the descriptor (child_descriptors),
 * so only the parent holds the lock.
 *
 * Security: written by root in a folder such as /run/p11dkim; no path
 * is followed through a symbolic link (O_NOFOLLOW), and the file is
 * removed at exit only when it is still ours (same inode).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p11dkim/log.h"
#include "pidfile.h"

#define PIDFILE_TRIES	3

/* pid_in - the pid written in the open file fd; 0 when none */
static long
pid_in(int fd)
{
	char	 b[32], *end;
	ssize_t	 n = pread(fd, b, sizeof(b) - 1, 0);
	long	 pid;

	if (n <= 0)
		return 0;
	b[n] = '\0';
	pid = strtol(b, &end, 10);
	return end != b && (*end == '\n' || *end == '\0') && pid > 0 ? pid : 0;
}

/* runs_p11dkimd - is pid a live process of p11dkimd (its comm name)? */
static int
runs_p11dkimd(long pid)
{
	char	 path[64], comm[32];
	FILE	*f;
	int	 yes = 0;

	if (pid <= 0 || pid == (long)getpid())
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	if (fgets(comm, sizeof(comm), f) != NULL)
		yes = strncmp(comm, "p11dkimd", 8) == 0;
	fclose(f);
	return yes;
}

enum { PF_ERROR = -1, PF_CHANGED, PF_STALE, PF_HELD };

/*
 * existing - the file at path is there: PF_STALE when no p11dkimd holds
 * it and it is still the same file (*held then keeps its lock while it
 * is replaced), PF_CHANGED when it went away or changed meanwhile (try
 * again), PF_HELD when a p11dkimd holds it (*owner: the pid in it),
 * PF_ERROR when it cannot be read (errno)
 */
static int
existing(const char *path, int *held, long *owner)
{
	struct stat a, b;
	int	 fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	*held = -1;
	if (fd < 0)
		return errno == ENOENT ? PF_CHANGED : PF_ERROR;
	*owner = pid_in(fd);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || runs_p11dkimd(*owner)) {
		close(fd);
		return PF_HELD;
	}
	if (fstat(fd, &a) < 0 || stat(path, &b) < 0 || a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev) {
		close(fd);
		return PF_CHANGED;
	}
	*held = fd;
	return PF_STALE;
}

/*
 * put_in_place - tmp (written, locked) becomes path: linked when there is
 * none, renamed over a stale one; 0, or -1 (logged)
 */
static int
put_in_place(const char *tmp, const char *path)
{
	long	 owner = 0;
	int	 held, rc;

	for (int i = 0; i < PIDFILE_TRIES; i++) {
		if (link(tmp, path) == 0) {
			(void)unlink(tmp);
			return 0;
		}
		if (errno != EEXIST)
			break;
		switch (existing(path, &held, &owner)) {
		case PF_HELD:
			log_err("pidfile %s: another p11dkimd (pid %ld) runs "
			    "with it; not started twice", path, owner);
			return -1;
		case PF_STALE:
			log_info("pidfile %s: replacing a stale one (pid %ld)",
			    path, owner);
			rc = rename(tmp, path);
			close(held);
			if (rc == 0)
				return 0;
			i = PIDFILE_TRIES;
			break;
		case PF_ERROR:
			i = PIDFILE_TRIES;
			break;
		}
	}
	log_err("pidfile %s: cannot put it in place: %s", path,
	    strerror(errno));
	return -1;
}

/* pidfile_take - write and lock the pid file (path NULL: none) */
int
pidfile_take(struct pidfile *pf, const char *path)
{
	char	 line[32];
	int	 n;

	memset(pf, 0, sizeof(*pf));
	pf->fd = -1;
	if (path == NULL)
		return 0;
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if ((pf->path = strdup(path)) == NULL || asprintf(&pf->tmp,
	    "%s.%ld.new", path, (long)getpid()) < 0) {
		pf->tmp = NULL;
		log_err("pidfile %s: out of memory", path);
		pidfile_release(pf);
		return -1;
	}
	pf->fd = open(pf->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (pf->fd < 0 || flock(pf->fd, LOCK_EX | LOCK_NB) < 0 ||
	    write(pf->fd, line, (size_t)n) != n) {
		log_err("pidfile %s: cannot write %s: %s", path, pf->tmp,
		    strerror(errno));
		(void)unlink(pf->tmp);
		pidfile_release(pf);
		return -1;
	}
	if (put_in_place(pf->tmp, path) < 0) {
		(void)unlink(pf->tmp);
		pidfile_release(pf);
		return -1;
	}
	return 0;
}

/* pidfile_remove - at exit: remove the file if it is still ours */
void
pidfile_remove(struct pidfile *pf)
{
	struct stat a, b;

	if (pf->fd >= 0 && pf->path != NULL && fstat(pf->fd, &a) == 0 &&
	    lstat(pf->path, &b) == 0 && a.st_ino == b.st_ino &&
	    a.st_dev == b.st_dev)
		(void)unlink(pf->path);
	pidfile_release(pf);
}

/* pidfile_release - close and forget, leaving the file (x_free style) */
void
pidfile_release(struct pidfile *pf)
{
	if (pf->fd >= 0)
		close(pf->fd);
	free(pf->path);
	free(pf->tmp);
	memset(pf, 0, sizeof(*pf));
	pf->fd = -1;
}
