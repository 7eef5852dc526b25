/*
 * listen.c - the daemon's Unix sockets: bound by the parent (as root when
 * the configuration sets an owner) before any child starts.
 */
#include <errno.h>
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
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(l->path, l->mode) < 0 ||
	    ((l->owner != (uid_t)-1 || l->group != (gid_t)-1) &&
	    chown(l->path, l->owner, l->group) < 0) ||
	    listen(fd, BACKLOG) < 0) {
		log_err("listen %s: %s", l->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}
