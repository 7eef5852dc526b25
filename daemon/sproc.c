/*
 * sproc.c - the signer process: its start and its control messages (see
 * sproc.h, include/p11dkim/signer_ipc.h).
 *
 * Security: the signer drops to signer-user and becomes undumpable
 * before it loads the module; it keeps no descriptor of the parent but
 * its control socket and the fd: PIN sources.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "p11dkim/fdpass.h"
#include "p11dkim/keyspec.h"
#include "p11dkim/log.h"
#include "p11dkim/sandbox.h"
#include "p11dkim/signer_ipc.h"
#include "p11dkim/signer_local.h"
#include "child.h"
#include "parent.h"
#include "proctitle.h"
#include "sproc.h"

#define READY_WAIT_S	120	/* a module load, or a strict table */

/*
 * pin_descriptors - the descriptors of the "fd:N" PIN sources of c, which
 * the signer keeps (and no other child); returns how many went to keep
 */
static size_t
pin_descriptors(const struct conf *c, int *keep, size_t max)
{
	size_t	 n = 0;
	char	*end;
	long	 fd;

	for (size_t i = 0; i < c->ninst && n < max; i++) {
		if (strncmp(c->inst[i].pin, "fd:", 3) != 0)
			continue;
		fd = strtol(c->inst[i].pin + 3, &end, 10);
		if (*end == '\0' && fd > STDERR_FILENO && fd < 65536)
			keep[n++] = (int)fd;
	}
	return n;
}

/* host_view - signer_ipc_serve's view of a table */
static struct signer *
host_view(void *ctx, uint32_t table)
{
	return signer_local_view(ctx, table);
}

/* host_retire - signer_ipc_serve's retire */
static void
host_retire(void *ctx, uint32_t table)
{
	signer_local_retire(ctx, table);
}

/* host_reopen - signer_ipc_serve's reopen: the trail's files */
static void
host_reopen(void *ctx)
{
	signer_local_reopen(ctx);
}

static const struct conf *signer_conf;	/* the signer process's */

/* host_load - signer_ipc_serve's load: the specs in fd, checked */
static int
host_load(void *ctx, uint32_t table, int fd, uint32_t flags,
    uint32_t *unseen, char *err, size_t errlen)
{
	struct signer_load how = { signer_conf->daemon.strict_start,
	    (flags & SIGNER_LOAD_SETTLE) != 0, 0 };
	struct keyspec *v;
	size_t	 n;
	int	 rc;

	if (keyspec_from_fd(fd, &v, &n, err, errlen) < 0)
		return -1;
	rc = signer_local_load(ctx, table, v, n, &how, err, errlen);
	*unseen = how.unseen;
	free(v);
	return rc;
}

/* signer_main - the signer process: never returns */
static void __attribute__((noreturn))
signer_main(const struct conf *c, int ctl)
{
	struct signer_host host = { NULL, host_view, host_load, host_retire,
		host_reopen };
	struct signer_local *local;
	int	 keep[CHILD_KEEP_MAX] = { ctl };
	char	 err[SIGNER_ERR_MAX];
	uint32_t none = 0;

	proctitle_set("p11dkimd-signer", "p11dkimd: signer");
	child_priority();
	child_signals();
	/*
	 * The parent stops the signer ('Q', or its end of ctl closing) once
	 * the fronts have drained: a signal to the whole process group
	 * (Ctrl-C, systemd's KillMode=control-group) must not take it away
	 * from the requests still in flight.
	 */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	if (child_descriptors(keep, 1 + pin_descriptors(c, keep + 1,
	    CHILD_KEEP_MAX - 1)) < 0)
		_exit(EX_OSERR);
	(void)prctl(PR_SET_DUMPABLE, 0);	/* PINs pass through memory */
	if (drop_privileges(c->daemon.signer_user) < 0)
		_exit(EX_NOPERM);
	signer_conf = c;
	if ((local = signer_local_new(c, err, sizeof(err))) == NULL) {
		log_err("signer: %s", err);
		(void)fdpass_sendmsg(ctl, 'E', -1, &none, sizeof(none));
		_exit(EX_UNAVAILABLE);
	}
	if (sandbox_enter(SANDBOX_SIGNER, c) < 0)
		_exit(EX_OSERR);
	(void)fdpass_sendmsg(ctl, 'R', -1, &none, sizeof(none));
	host.ctx = local;
	signer_ipc_serve(&host, ctl, c->daemon.signer_threads);
	signer_local_free(local);
	_exit(EX_OK);
}

/*
 * answer - the signer's answer about table (0: its start): 0 for 'R'
 * (with how many new tokens the module does not show in *unseen), -1 for
 * 'E' (its reason logged), or no answer in time
 */
static int
answer(struct sproc *sp, uint32_t table, uint32_t *unseen)
{
	struct {
		uint32_t table;
		char	 why[SIGNER_ERR_MAX];
	} a;
	size_t	 len;
	char	 tag;
	int	 fd;

	*unseen = 0;
	memset(&a, 0, sizeof(a));
	for (;;) {
		if (poll(&(struct pollfd){ sp->ctl, POLLIN, 0 }, 1,
		    READY_WAIT_S * 1000) <= 0) {
			log_err("the signer did not answer in %d s",
			    READY_WAIT_S);
			return -1;
		}
		if (fdpass_recvmsg(sp->ctl, &tag, &fd, &a, sizeof(a) - 1,
		    &len) <= 0) {
			log_err("the signer %s (see above)", table ? "is gone" :
			    "did not start");
			return -1;
		}
		if (fd >= 0)
			close(fd);
		if (len >= sizeof(a.table) && a.table == table)
			break;		/* an answer about another table is old */
	}
	if (tag == 'R') {
		if (len >= 2 * sizeof(uint32_t))
			memcpy(unseen, a.why, sizeof(*unseen));
		return 0;
	}
	if (tag == 'E' && len > sizeof(a.table))
		log_err("the signer refused the key table: %s", a.why);
	return -1;
}

/* keep_settings - a copy of what sproc_fits compares */
static int
keep_settings(struct sproc *sp, const struct conf *c)
{
	const struct conf_daemon *d = &c->daemon;

	free(sp->module);
	free(sp->signer_user);
	free(sp->init_args);
	sp->init_args = c->module_init_args ? strdup(c->module_init_args) :
	    NULL;
	sp->module = strdup(c->module);
	sp->signer_user = d->signer_user ? strdup(d->signer_user) : NULL;
	sp->sessions = d->sessions;
	sp->open_threads = d->open_threads;
	sp->signer_threads = d->signer_threads;
	sp->io_timeout = d->io_timeout;
	sp->strict_start = d->strict_start;
	free(sp->trail_dir);
	sp->trail_dir = d->trail_dir ? strdup(d->trail_dir) : NULL;
	sp->trail_sync = d->trail_sync;
	sp->trail_open_files = d->trail_open_files;
	sp->trail_sign_anyway = d->trail_sign_anyway;
	return sp->module == NULL || (d->signer_user && !sp->signer_user) ||
	    (c->module_init_args && !sp->init_args) ||
	    (d->trail_dir && !sp->trail_dir) ? -1 : 0;
}

/* sproc_start - fork the signer and wait until its module is loaded */
int
sproc_start(struct sproc *sp, const struct conf *c)
{
	uint32_t none;
	int	 sv[2];

	sp->pid = 0;
	sp->ctl = -1;
	if (keep_settings(sp, c) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_err("cannot start the signer: %s", strerror(errno));
		return -1;
	}
	if ((sp->pid = fork()) < 0) {
		log_err("cannot start the signer: %s", strerror(errno));
		sp->pid = 0;
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (sp->pid == 0)
		signer_main(c, sv[1]);
	close(sv[1]);
	sp->ctl = sv[0];
	if (answer(sp, 0, &none) < 0) {
		kill(sp->pid, SIGKILL);
		waitpid(sp->pid, NULL, 0);
		sproc_exited(sp);
		return -1;
	}
	return 0;
}

/* same_str - equal strings, or both NULL */
static int
same_str(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* sproc_fits - would this signer do for configuration c? */
int
sproc_fits(const struct sproc *sp, const struct conf *c)
{
	const struct conf_daemon *d = &c->daemon;

	return sp->pid > 0 && same_str(sp->module, c->module) &&
	    same_str(sp->init_args, c->module_init_args) &&
	    same_str(sp->signer_user, d->signer_user) &&
	    sp->sessions == d->sessions && sp->open_threads == d->open_threads &&
	    sp->signer_threads == d->signer_threads &&
	    sp->io_timeout == d->io_timeout &&
	    sp->strict_start == d->strict_start &&
	    same_str(sp->trail_dir, d->trail_dir) &&
	    sp->trail_sync == d->trail_sync &&
	    sp->trail_open_files == d->trail_open_files &&
	    sp->trail_sign_anyway == d->trail_sign_anyway;
}

/* sproc_load - keytab t as a new table; its id, or -1 */
int
sproc_load(struct sproc *sp, const struct keytab *t, uint32_t flags,
    uint32_t *table, uint32_t *unseen)
{
	uint32_t arg[2];
	struct keyspec *v;
	char	 err[512];
	int	 fd, rc;

	if (keyspec_build(t, &v, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return -1;
	}
	fd = keyspec_to_fd(v, t->n);
	free(v);
	if (fd < 0) {
		log_err("cannot hand the key table to the signer: %s",
		    strerror(errno));
		return -1;
	}
	*table = arg[0] = ++sp->next_table;
	arg[1] = flags;
	rc = fdpass_sendmsg(sp->ctl, 'K', fd, arg, sizeof(arg));
	close(fd);
	if (rc < 0) {
		log_err("cannot hand the key table to the signer: %s",
		    strerror(errno));
		return -1;
	}
	return answer(sp, *table, unseen);
}

/* sproc_link - a front's link for a table, named id */
int
sproc_link(struct sproc *sp, uint32_t id, uint32_t table, int fd)
{
	uint32_t arg[2] = { id, table };

	return fdpass_sendmsg(sp->ctl, 'F', fd, arg, sizeof(arg));
}

/* sproc_front_gone - drop the link named id and its channels */
void
sproc_front_gone(struct sproc *sp, uint32_t id)
{
	if (sp->ctl >= 0)
		(void)fdpass_sendmsg(sp->ctl, 'D', -1, &id, sizeof(id));
}

/* sproc_retire - a table no front of which will come any more */
void
sproc_retire(struct sproc *sp, uint32_t table)
{
	if (sp->ctl >= 0)
		(void)fdpass_sendmsg(sp->ctl, 'T', -1, &table, sizeof(table));
}

/* sproc_reopen - open the signing trail's files anew ('O') */
void
sproc_reopen(struct sproc *sp)
{
	if (sp->ctl >= 0)
		(void)fdpass_send(sp->ctl, 'O', -1);
}

/* sproc_quit - stop once what is in flight is done */
void
sproc_quit(struct sproc *sp)
{
	if (sp->ctl >= 0)
		(void)fdpass_send(sp->ctl, 'Q', -1);
}

/* sproc_exited - it ended: forget its pid and control socket */
void
sproc_exited(struct sproc *sp)
{
	if (sp->ctl >= 0)
		close(sp->ctl);
	sp->ctl = -1;
	sp->pid = 0;
}

/* sproc_release - free the settings; the process must be gone */
void
sproc_release(struct sproc *sp)
{
	free(sp->module);
	free(sp->signer_user);
	free(sp->init_args);
	free(sp->trail_dir);
	sp->module = sp->signer_user = sp->init_args = sp->trail_dir = NULL;
}
