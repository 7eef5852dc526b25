/*
 * fdpass.c - a tag byte with an optional descriptor over a Unix socket
 * (see include/p11dkim/fdpass.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "p11dkim/fdpass.h"

/* fdpass_send - send tag, and fd unless it is -1 */
int
fdpass_send(int sock, char tag, int fd)
{
	union {
		struct cmsghdr h;
		char	 buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { &tag, 1 };
	struct msghdr msg;
	ssize_t	 n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
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
	return n == 1 ? 0 : -1;
}

/* fdpass_recv - receive a tag and maybe a descriptor */
int
fdpass_recv(int sock, char *tag, int *fd)
{
	union {
		struct cmsghdr h;
		char	 buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { tag, 1 };
	struct msghdr msg;
	struct cmsghdr *c;
	ssize_t	 n;

	*fd = -1;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return (int)n;
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	return 1;
}
