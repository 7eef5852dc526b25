/*
 * signer_ipc.h - the signer across the socketpair between a front and
 * the signer process (its link).  The link carries channels: each is a
 * SOCK_SEQPACKET socketpair the front makes, whose other end it passes
 * over the link (tag SIGNER_LINK_CHANNEL with SCM_RIGHTS).  On a channel,
 * one request at a time and its reply travel as small fixed frames, one
 * per record.  A record of any other size, or with a wrong magic number,
 * is a protocol error: the channel is dropped; anything on the link but a
 * channel drops the link.
 *
 * signer_ipc_new() is the front's side: many threads may sign at once,
 * each on a channel of its own.  signer_ipc_serve() is the signer
 * process's side: one thread per channel, calling the local signer.
 */
#ifndef P11DKIM_SIGNER_IPC_H
#define P11DKIM_SIGNER_IPC_H

#include <stdint.h>
#include <sys/types.h>

#include "p11dkim/signer.h"

#define SIGNER_MAGIC_REQ	0x70313172u	/* "p11r" */
#define SIGNER_MAGIC_REP	0x70313173u	/* "p11s" */
#define SIGNER_LINK_CHANNEL	'C'		/* a new channel's end */
#define SIGNER_CHANNELS_MAX	256		/* per link */
#define SIGNER_LINK_LOST	(-2)	/* signer_link_take: skip, go on */

struct signer_req {
	uint32_t magic;
	uint32_t id;
	uint32_t key;
	uint32_t alg;
	unsigned char digest[DKIM_DIGEST_LEN];
	struct signer_note note;	/* for the trail; front 0: none */
};

struct signer_rep {
	uint32_t magic;
	uint32_t id;
	uint32_t status;
	uint32_t len;
	unsigned char sig[DKIM_SIG_MAX];
	char	 reason[SIGNER_REASON_MAX];
};

/*
 * signer_ipc_new - the front's signer over fd (owned from now on).  A
 * request not answered within timeout_ms gets a temporary failure; once
 * the link breaks every request does, and signer_ipc_broken() says so.
 */
struct signer *signer_ipc_new(int fd, unsigned timeout_ms);

/* signer_ipc_broken - 1 once the signer process is gone */
int	signer_ipc_broken(struct signer *);

/* signer_sock_timeout - a send or receive timeout (SO_SNDTIMEO/RCVTIMEO) */
void	signer_sock_timeout(int fd, int which, unsigned ms);

/* signer_hung_up - the other end of a link or channel is closed */
int	signer_hung_up(int fd);

/*
 * signer_rep_decode - the n-byte record rep (n as recv(2) said, with
 * MSG_TRUNC) as the reply to request id: 1 and r filled (a status out
 * of range, or an OK without 1 to DKIM_SIG_MAX bytes of signature, made a
 * temporary failure), or 0 when it is not exactly that reply
 */
int	signer_rep_decode(const struct signer_rep *rep, ssize_t n, uint32_t id,
	    struct signer_reply *r);

/*
 * signer_request_take - the signer's side of a channel: its next record,
 * 1 when it is exactly one request (req) with a note that
 * signer_note_check passes, 0 at the channel's end or on anything else
 * (logged): the channel is then dropped
 */
int	signer_request_take(int fd, struct signer_req *req);

/*
 * signer_link_take - the signer's side of a link: the next channel the
 * front passed (its descriptor), SIGNER_LINK_LOST when the kernel could
 * not pass one for want of a descriptor (logged; the link goes on), or
 * -1 at the link's end or on anything else than one channel (logged;
 * what came with it is closed; the link is dropped)
 */
int	signer_link_take(int link);

/*
 * What the signer process serves: key tables, loaded and retired as the
 * parent says, and a signer (a view) for each table's key numbers.
 */
struct signer_host {
	void	*ctx;
	/* a signer for table id's key numbers (signer_free'd), or NULL */
	struct signer *(*view)(void *ctx, uint32_t table);
	/*
	 * table id from the key spec records in fd (flags: SIGNER_LOAD_*);
	 * 0 and, in *unseen, how many of its new tokens the module does not
	 * show; or -1 and why
	 */
	int	(*load)(void *ctx, uint32_t table, int fd, uint32_t flags,
		    uint32_t *unseen, char *err, size_t errlen);
	/* table id goes once its views are freed */
	void	(*retire)(void *ctx, uint32_t table);
	/* the signing trail's files opened anew (NULL: no trail) */
	void	(*reopen)(void *ctx);
};

#define SIGNER_ERR_MAX		512	/* a refused table's reason */
#define SIGNER_LOAD_SETTLE	0x1	/* answer once every key was tried */

/*
 * signer_ipc_serve - the signer process's loop on ctl, its control
 * socket (SOCK_SEQPACKET) from the parent: 'K' loads a key table (fd:
 * the specs, data: the table id and SIGNER_LOAD_* flags; answered 'R'
 * with the id and how many new tokens the module does not show, or 'E'
 * with the id and why), 'F' a front's link (data: link id and table id), 'D'
 * the front with that link id is gone, 'T' retires a table, 'O' reopens
 * the signing trail's files (SIGUSR1 to the parent), 'Q' (or ctl
 * closing) stops.  Requests on the links' channels are answered with the
 * link's table, at most `threads` token calls at once; at stop what is in
 * flight is finished first.
 */
int	signer_ipc_serve(const struct signer_host *, int ctl,
	    unsigned threads);

#endif
