/*
 * listen.c - the daemon's Unix sockets: bound by the parent (as root when
 * the configuration sets an owner) before any child starts.
 *
 * Security: the socket's folder may be writable by others, who could put
 * a symbolic link where the socket was.  So nothing is done by path that
 * follows a link: the file is created with its mode (the umask at
 * bind(2)), its owner set with AT_SYMLINK_NOFOLLOW, and lstat must then
 * find a socket with that mode and owner.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "p11dkim/log.h"
#include "listen.h"

#define BACKLOG		128

/* in_use - does a live daemon answer on this socket? */
static int
in_use(const struct sockaddr_un *sun)
{
	int	 fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return 0;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return rc;
}

/*
 * listen_socket_owner - give the socket file at path its owner and group
 * (-1: unchanged) without following a symbolic link, then check with
 * lstat that the path is a socket with that owner and the mode.  The
 * folder may be writable by others: whatever they put at path, nothing
 * is chowned through it, and anything but our socket is refused.
 */
int
listen_socket_owner(const char *path, uid_t owner, gid_t group, mode_t mode)
{
	struct stat st;

	if ((owner != (uid_t)-1 || group != (gid_t)-1) &&
	    fchownat(AT_FDCWD, path, owner, group, AT_SYMLINK_NOFOLLOW) < 0) {
		log_err("socket %s: cannot set its owner: %s", path,
		    strerror(errno));
		return -1;
	}
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    (st.st_mode & 07777) != mode ||
	    (owner != (uid_t)-1 && st.st_uid != owner) ||
	    (group != (gid_t)-1 && st.st_gid != group)) {
		log_err("socket %s: not the socket just made with mode %04o "
		    "(replaced underneath?)", path, (unsigned)mode);
		return -1;
	}
	return 0;
}

/*
 * bind_at_mode - bind fd to sun with the socket file created at mode:
 * the umask decides it at bind(2), so no chmod by path is needed after.
 * The umask is the process's; the parent binds before any thread starts.
 */
static int
bind_at_mode(int fd, const struct sockaddr_un *sun, mode_t mode)
{
	mode_t	 old = umask(~mode & 0777);
	int	 rc = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));

	umask(old);
	return rc;
}

/* listen_bind - bind and listen on l; the socket, or -1 (logged) */
int
listen_bind(const struct conf_listener *l)
{
	struct sockaddr_un sun;
	struct stat st;
	int	 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(l->path) >= sizeof(sun.sun_path)) {
		log_err("listen %s: path too long", l->path);
		return -1;
	}
	memcpy(sun.sun_path, l->path, strlen(l->path));
	if (lstat(l->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode) || in_use(&sun)) {
			log_err("listen %s: %s", l->path, S_ISSOCK(st.st_mode) ?
			    "a daemon already answers there" : "exists and is "
			    "not a socket");
			return -1;
		}
		unlink(l->path);	/* left over from a crash */
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind_at_mode(fd, &sun, l->mode) < 0 || listen(fd, BACKLOG) < 0) {
		log_err("listen %s: %s", l->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (listen_socket_owner(l->path, l->owner, l->group, l->mode) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * listen_bind_inet - the metrics listener (metrics-listen): a TCP socket
 * on the configured address; the socket, or -1 (logged)
 */
int
listen_bind_inet(const struct conf_daemon *d)
{
	int	 fd, on = 1;

	/* Non-blocking: two generations' fronts may accept on it at once. */
	if ((fd = socket(d->metrics_addr.ss_family, SOCK_STREAM |
	    SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    bind(fd, (const struct sockaddr *)&d->metrics_addr,
	    d->metrics_addrlen) < 0 || listen(fd, 16) < 0) {
		log_err("metrics-listen %s: %s", d->metrics_listen,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}
