/*
 * fdpass.h - control messages between the parent and its children: a
 * tag byte, optionally with one file descriptor (SCM_RIGHTS).
 *
 * Tags from the parent: 'R' the signer is ready, 'F' here is a new
 * front's socket, 'Q' stop when what is in flight is done.  From a front
 * on its link: 'C' (SIGNER_LINK_CHANNEL) here is a new channel.
 */
#ifndef P11DKIM_FDPASS_H
#define P11DKIM_FDPASS_H

/* fdpass_send - send tag, and fd unless it is -1 */
int	fdpass_send(int sock, char tag, int fd);

#define FDPASS_NONE	(-1)	/* no descriptor came */
#define FDPASS_LOST	(-2)	/* one came but found no free slot here */
#define FDPASS_BAD	(-3)	/* more than one came, or more than the tag
				   in one record: all closed */

/* fdpass_recv - receive a tag and maybe a descriptor (*fd one of the
 * above if none is kept); returns 1, 0 at end of file, -1 on error */
int	fdpass_recv(int sock, char *tag, int *fd);

#endif
