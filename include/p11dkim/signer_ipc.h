/*
 * signer_ipc.h - the signer across the socketpair between a front and
 * the signer process: small fixed frames on a SOCK_SEQPACKET socket, one
 * request or reply per record.  A record of any other size, or with a
 * wrong magic number, is a protocol error: the connection is dropped.
 *
 * signer_ipc_new() is the front's side: many threads may sign at once;
 * requests carry ids and replies are matched to them.  signer_ipc_serve()
 * is the signer process's side: it answers the fronts' requests with a
 * pool of threads calling the local signer.
 */
#ifndef P11DKIM_SIGNER_IPC_H
#define P11DKIM_SIGNER_IPC_H

#include <stdint.h>

#include "p11dkim/signer.h"

#define SIGNER_MAGIC_REQ	0x70313172u	/* "p11r" */
#define SIGNER_MAGIC_REP	0x70313173u	/* "p11s" */

struct signer_req {
	uint32_t magic;
	uint32_t id;
	uint32_t key;
	uint32_t alg;
	unsigned char digest[DKIM_DIGEST_LEN];
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

/*
 * signer_ipc_serve - the signer process's loop: answer requests from the
 * front sockets received on ctl (SCM_RIGHTS) with threads workers, until
 * ctl is closed or says 'Q'; then finish what is in flight and return.
 */
int	signer_ipc_serve(struct signer *local, int ctl, unsigned threads);

#endif
