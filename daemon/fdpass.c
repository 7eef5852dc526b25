/*
 * fdpass.c - a tag byte with an optional descriptor over a Unix socket
 * (see include/p11dkim/fdpass.h).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "p11dkim/fdpass.h"

/* fdpass_send - send tag, and fd unless it is -1 */
int
fdpass_send(int sock, char tag, int fd)
{
	return fdpass_sendmsg(sock, tag, fd, NULL, 0);
}

/* fdpass_sendmsg - tag, len bytes of data, and fd unless it is -1 */
int
fdpass_sendmsg(int sock, char tag, int fd, const void *data, size_t len)
{
	union {
		struct cmsghdr h;
		char	 buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov[2] = { { &tag, 1 }, { (void *)(uintptr_t)data, len } };
	struct msghdr msg;
	ssize_t	 n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = len > 0 ? 2 : 1;
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		u.h.cmsg_level = SOL_SOCKET;
		u.h.cmsg_type = SCM_RIGHTS;
		u.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&u.h), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)(1 + len) ? 0 : -1;
}

/* close_all - every descriptor in an SCM_RIGHTS message */
static void
close_all(struct cmsghdr *c)
{
	size_t	 n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	int	 fd;

	for (size_t i = 0; i < n; i++) {
		memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		close(fd);
	}
}

/*
 * fdpass_recv - receive a tag and maybe a descriptor.  Exactly one
 * descriptor is kept; more are all closed (FDPASS_BAD), and one the
 * kernel could not install here is FDPASS_LOST.  On a socket that keeps
 * records (the links), a record longer than the tag is FDPASS_BAD too,
 * whatever came with it.
 */
int
fdpass_recv(int sock, char *tag, int *fd)
{
	return fdpass_recvmsg(sock, tag, fd, NULL, 0, NULL);
}

/*
 * fdpass_recvmsg - a tag, up to max bytes of data (*len: how many came),
 * and maybe a descriptor, as fdpass_recv
 */
int
fdpass_recvmsg(int sock, char *tag, int *fd, void *data, size_t max,
    size_t *len)
{
	union {
		struct cmsghdr h;
		char	 buf[CMSG_SPACE(4 * sizeof(int))];
	} u;
	struct iovec iov[2] = { { tag, 1 }, { data, max } };
	struct msghdr msg;
	struct cmsghdr *c;
	int	 got = 0;
	ssize_t	 n;

	*fd = FDPASS_NONE;
	if (len != NULL)
		*len = 0;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = max > 0 ? 2 : 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return (int)n;
	if (len != NULL)
		*len = (size_t)n - 1;
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		if (got == 0 && c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
		else
			close_all(c);
		got++;
	}
	if (got > 1 || (got == 1 && *fd < 0) || (msg.msg_flags & MSG_TRUNC)) {
		if (*fd >= 0)
			close(*fd);
		*fd = FDPASS_BAD;		/* not one tag with one descriptor */
	} else if (got == 0 && (msg.msg_flags & MSG_CTRUNC))
		*fd = FDPASS_LOST;
	else if (*fd >= 0 && (msg.msg_flags & MSG_CTRUNC)) {
		close(*fd);		/* more were sent than fit */
		*fd = FDPASS_BAD;
	}
	return 1;
}
