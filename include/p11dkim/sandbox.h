/*
 * sandbox.h - what each process of p11dkimd may still do once it serves
 * (docs/p11dkimd.md, "Sandbox"): no new privileges, no core dumps of a
 * front, and a seccomp system call filter per role, on every thread.
 *
 * The fronts get an allow-list: a call off their list kills the process
 * (SIGSYS), and the parent logs it and starts a new one.  The signer runs
 * a PKCS#11 module, which may open files, sockets and threads at any
 * time: it gets a deny-list of what no module needs.  Private to daemon/.
 */
#ifndef P11DKIM_SANDBOX_H
#define P11DKIM_SANDBOX_H

#include "p11dkim/conf.h"

enum sandbox_role {
	SANDBOX_FRONT,		/* the native front, serving */
	SANDBOX_MILTER,		/* the milter front, socket open, user dropped */
	SANDBOX_SIGNER		/* the signer, its module loaded */
};

/*
 * sandbox_enter - PR_SET_NO_NEW_PRIVS; a front not dumpable (the signer
 * made itself so before it read a PIN); and the role's filter unless the
 * configuration says `sandbox = false`.  0, or -1 (logged): the caller
 * must not serve then.
 */
int	sandbox_enter(enum sandbox_role, const struct conf *);

#endif
