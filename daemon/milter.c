/*
 * milter.c - the milter front process: libmilter (the reference
 * implementation of the protocol) serves Postfix and Sendmail with the
 * callbacks of milter_filter.c; this opens the socket, drops privileges,
 * enters the sandbox, writes the counters and stops when the signer is
 * gone.
 *
 * Security: runs as the unprivileged user without the module or PINs.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "p11dkim/hosts.h"
#include "p11dkim/log.h"
#include "p11dkim/sandbox.h"
#include "p11dkim/signer_ipc.h"
#include "front.h"
#include "listen.h"
#include "milter_filter.h"
#include "parent.h"

static struct front mfront;
static const struct conf_milter *mconf;

/*
 * write_stats - the counters in the Prometheus text format, to the
 * configured file (written anew and renamed into place, as the
 * node_exporter textfile collector reads them)
 */
static void
write_stats(void)
{
	char	 tmp[1100];
	struct buf out;
	FILE	*f;

	if (mconf->stats_file == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.new", mconf->stats_file);
	buf_init(&out, stats_bound(mfront.conf));
	if (stats_render(mfront.stats, mfront.keys, mfront.signer, &out) == 0 &&
	    (f = fopen(tmp, "w")) != NULL) {
		if (fwrite(buf_str(&out), 1, out.len, f) != out.len ||
		    fclose(f) != 0 || rename(tmp, mconf->stats_file) < 0)
			log_warn("milter: cannot write %s", mconf->stats_file);
	}
	buf_release(&out);
}

/*
 * watchdog - write the counters every STATS_EVERY seconds, and stop
 * libmilter when the signer is gone (the parent restarts us)
 */
#define STATS_EVERY	10
static void *
watchdog(void *arg)
{
	unsigned ticks = 0;

	(void)arg;
	while (!signer_ipc_broken(mfront.signer)) {
		usleep(200000);
		if (++ticks % (STATS_EVERY * 5) == 0)
			write_stats();
	}
	log_warn("milter: signer gone; stopping");
	smfi_stop();
	return NULL;
}

/*
 * open_socket - bind as root; a Unix socket is created with its mode (the
 * umask at bind) and given its owner without following a link, as the
 * native sockets are (listen.c).  No thread of ours runs yet.
 */
static int
open_socket(const struct conf_milter *m)
{
	char	 conn[512];
	const char *path = conf_milter_path(m);
	mode_t	 old;
	int	 rc;

	snprintf(conn, sizeof(conn), "%s", m->conn);
	old = umask(path != NULL ? ~m->mode & 0777 : 022);	/* inet: no file */
	rc = smfi_setconn(conn) == MI_SUCCESS &&
	    smfi_opensocket(1) == MI_SUCCESS;
	umask(old);
	if (!rc) {
		log_err("milter %s: cannot open the socket", m->conn);
		return -1;
	}
	return path != NULL ? listen_socket_owner(path, m->owner, m->group,
	    m->mode) : 0;
}

/* warn_unlisted - institutions the milter will not sign for, at start */
static void
warn_unlisted(const struct conf *c)
{
	for (size_t k = 0; k < c->ninst && !mconf->single_tenant; k++)
		if (c->inst[k].milter_hosts == NULL &&
		    c->inst[k].nmilter_logins == 0)
			log_warn("milter: institution %s lists no milter-hosts "
			    "or milter-logins: the milter signs nothing for it "
			    "(single-tenant = false)", c->inst[k].code);
}

/* milter_run - the milter front process */
int
milter_run(const struct conf *c, const struct keytab *k,
    const struct front_share *share, int signer_fd)
{
	sigset_t sigs;
	pthread_t wd;
	int	 rc;

	/* libmilter's own thread takes SIGTERM, SIGHUP and SIGINT: block
	 * them before any thread of ours starts (the signer link's too). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	mconf = c->daemon.milter;
	mfront.conf = c;
	mfront.keys = k;
	mfront.stats = share->stats[1];
	mfront.signer = signer_ipc_new(signer_fd, c->daemon.io_timeout * 1000);
	if (mfront.stats == NULL || mfront.signer == NULL) {
		log_err("milter: cannot start: out of memory");
		return EX_SOFTWARE;
	}
	milter_filter_init(&mfront, mconf);
	warn_unlisted(c);
	if (smfi_register(*milter_filter_desc()) != MI_SUCCESS ||
	    smfi_settimeout((int)
	    c->daemon.io_timeout) != MI_SUCCESS || open_socket(mconf) < 0)
		return EX_UNAVAILABLE;
	if (drop_privileges(c->daemon.user) < 0)
		return EX_NOPERM;
	if (sandbox_enter(SANDBOX_MILTER, c) < 0)
		return EX_OSERR;
	if (pthread_create(&wd, NULL, watchdog, NULL) == 0)
		pthread_detach(wd);
	log_info("milter ready on %s", mconf->conn);
	rc = smfi_main();
	write_stats();
	log_info("milter stopped");
	return signer_ipc_broken(mfront.signer) ? EX_TEMPFAIL :
	    rc == MI_SUCCESS ? EX_OK : EX_SOFTWARE;
}
