/*
 * fdpass.h - control messages between the parent and its children: a
 * tag byte, optionally with one file descriptor (SCM_RIGHTS).
 *
 * Between the parent and the signer (a SOCK_SEQPACKET socketpair): from
 * the signer 'R' ready, 'E' could not start; from the parent 'F' a new
 * front's link with its 32-bit id, 'D' the front with that id is gone
 * (drop its link and channels), 'Q' stop when what is in flight is done.
 * From a front on its link: 'C' (SIGNER_LINK_CHANNEL) a new channel.
 */
#ifndef P11DKIM_FDPASS_H
#define P11DKIM_FDPASS_H

#include <stddef.h>

/* fdpass_send - send tag, and fd unless it is -1 */
int	fdpass_send(int sock, char tag, int fd);

/*
 * fdpass_sendmsg - tag and len bytes of data in one message (on a
 * SOCK_SEQPACKET socket: one record), and fd unless it is -1
 */
int	fdpass_sendmsg(int sock, char tag, int fd, const void *data,
	    size_t len);

#define FDPASS_NONE	(-1)	/* no descriptor came */
#define FDPASS_LOST	(-2)	/* one came but found no free slot here */
#define FDPASS_BAD	(-3)	/* more than one came, or more than the tag
				   in one record: all closed */

/* fdpass_recv - receive a tag and maybe a descriptor (*fd one of the
 * above if none is kept); returns 1, 0 at end of file, -1 on error */
int	fdpass_recv(int sock, char *tag, int *fd);

/*
 * fdpass_recvmsg - as fdpass_recv, with up to max bytes of data after the
 * tag (*len says how many came; on a SOCK_SEQPACKET socket the rest of a
 * longer record is lost)
 */
int	fdpass_recvmsg(int sock, char *tag, int *fd, void *data, size_t max,
	    size_t *len);

#endif
