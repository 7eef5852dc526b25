/*
 * parent.c - the parent of p11dkimd (see parent.h).
 *
 * A "generation" is one configuration with its key table at the signer and
 * its fronts.  SIGHUP builds a new generation from the file (reload.c) and,
 * only if the signer takes its table, starts its fronts and lets the old
 * ones drain: requests in flight finish on the old configuration, a broken
 * new one is refused and the old one keeps serving.  The signer process
 * stays (sproc.c): the institutions a reload does not change keep their
 * logged-in tokens; only a change of the signer's own settings starts a
 * new one.  A child that dies is restarted and logged; a front that keeps
 * dying, after a back-off.  SIGUSR1 has every running signer open its
 * signing trail's files anew (after logrotate renamed them).
 *
 * Security: the parent keeps root only to bind sockets and start
 * children; the signer drops to signer-user before it loads the module,
 * the front to user before it reads a byte from a client.  No child keeps
 * a descriptor it does not need.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "p11dkim/log.h"
#include "p11dkim/signer_ipc.h"
#include "child.h"
#include "front.h"
#include "listen.h"
#include "parent.h"
#include "parent_int.h"
#include "proctitle.h"
#include "sproc.h"

#define QUICK_EXIT_S	10	/* a front that dies sooner is restarted */
#define BACKOFF_MAX_S	60	/* after 1, 2, 4 ... up to this many seconds */

static const char *const front_names[FRONTS] = { "front", "milter front" };

/* drop_privileges - become user (when root and user is set) */
int
drop_privileges(const char *user)
{
	struct passwd *pw;
	unsigned long uid;
	int	 numeric;

	if (user == NULL || getuid() != 0)
		return 0;
	/* A number out of the uid range is no user (it would wrap). */
	numeric = conf_numeric_id(user, &uid);
	pw = numeric > 0 ? getpwuid((uid_t)uid) : numeric == 0 ?
	    getpwnam(user) : NULL;
	if (pw == NULL) {
		log_err("no user %s", user);
		return -1;
	}
	/* Its groups too: a token store may be readable by group only. */
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		log_err("cannot become %s: %s", user, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * front_child - a front process: only its link and (native) the
 * listeners, no terminal; never returns
 */
static void __attribute__((noreturn))
front_child(struct parent *p, struct gen *g, int milter, int link)
{
	int	 keep[CHILD_KEEP_MAX] = { link };
	size_t	 n = 1;
	struct front_share share = { { g->stats[FRONT_NATIVE],
	    g->stats[FRONT_MILTER] }, milter ? -1 : p->metrics_fd };

	proctitle_set(milter ? "p11dkimd-milter" : "p11dkimd-front", milter ?
	    "p11dkimd: front (milter)" : "p11dkimd: front (native)");
	child_priority();
	child_signals();
	child_files();
	child_detach();
	for (size_t i = 0; !milter && i < p->nlisten; i++)
		keep[n++] = p->listen[i];
	if (share.metrics_fd >= 0)
		keep[n++] = share.metrics_fd;
	if (p->stderr_relay >= 0)
		(void)dup2(p->stderr_relay, STDERR_FILENO);
	if (child_descriptors(keep, n) < 0)
		_exit(EX_OSERR);
	if (milter)
		_exit(milter_run(g->conf, &g->keys, &share, link));
	if (drop_privileges(g->conf->daemon.user) < 0)
		_exit(EX_NOPERM);
	_exit(front_run(g->conf, &g->keys, p->listen, p->nlisten, &share,
	    link));
}

/* front_wanted - is there a front of this kind in the configuration? */
int
front_wanted(const struct parent *p, const struct gen *g, int kind)
{
	return kind == FRONT_NATIVE ? p->nlisten > 0 || p->metrics_fd >= 0 :
	    g->conf->daemon.milter != NULL;
}

/*
 * start_front - fork a front (native, or milter) with its own link to the
 * generation's table at the signer, named by a new id.  The native front
 * gets the bound listeners and drops privileges at once; the milter front
 * opens its socket with libmilter first and drops them itself.
 */
static int
start_front(struct parent *p, struct gen *g, int kind)
{
	struct child *c = &g->fronts[kind];
	uint32_t id = ++p->next_link;
	int	 sv[2];
	pid_t	 pid;

	c->restart_at = 0;
	if (!front_wanted(p, g, kind))
		return 0;
	if (g->sp->pid == 0) {
		errno = ESRCH;		/* started with the new signer */
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (sproc_link(g->sp, id, g->table, sv[1]) < 0 || (pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0)
		front_child(p, g, kind == FRONT_MILTER, sv[0]);
	close(sv[0]);
	close(sv[1]);
	if (kind == FRONT_MILTER)
		snprintf(p->milter_path, sizeof(p->milter_path), "%s",
		    conf_milter_path(g->conf->daemon.milter) ?
		    conf_milter_path(g->conf->daemon.milter) : "");
	c->pid = pid;
	c->link = id;
	c->started = time(NULL);
	return 0;
}

/* start_fronts - every front of the generation that is not running */
int
start_fronts(struct parent *p, struct gen *g)
{
	for (int k = 0; k < FRONTS; k++)
		if (g->fronts[k].pid == 0 && start_front(p, g, k) < 0) {
			log_err("cannot start the %s: %s", front_names[k],
			    strerror(errno));
			return -1;
		}
	return 0;
}

/* fronts_running - how many fronts of the generation run */
int
fronts_running(const struct gen *g)
{
	int	 n = 0;

	for (int k = 0; k < FRONTS; k++)
		n += g->fronts[k].pid > 0;
	return n;
}

/* status_text - "exit 3" or "signal 11" */
static const char *
status_text(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	return buf;
}

/*
 * restart_signer - a new signer for the serving generation (its fronts
 * left when the old one went), with its key table again
 */
static void
restart_signer(struct parent *p, struct sproc *sp)
{
	struct gen *g = &p->gens[p->cur];
	uint32_t unseen;

	if (sproc_start(sp, g->conf) < 0 ||
	    sproc_load(sp, &g->keys, 0, &g->table, &unseen) < 0) {
		if (sp->pid > 0) {
			kill(sp->pid, SIGKILL);
			waitpid(sp->pid, NULL, 0);
			sproc_exited(sp);
		}
		sp->next_try = time(NULL) + 1;
		return;
	}
	log_info("signer restarted");
	(void)start_fronts(p, g);
}

/*
 * backoff - when to start a front again that exited: at once after a
 * long life, else after 1, 2, 4 ... BACKOFF_MAX_S seconds, so that a
 * front that keeps dying (or is made to) cannot spin
 */
static time_t
backoff(struct child *c, time_t now)
{
	unsigned wait;

	c->quick = now - c->started < QUICK_EXIT_S ? c->quick + 1 : 0;
	if (c->quick == 0)
		return now;
	wait = c->quick > 7 ? BACKOFF_MAX_S : 1U << (c->quick - 1);
	return now + (wait > BACKOFF_MAX_S ? BACKOFF_MAX_S : wait);
}

/*
 * front_exited - tell the signer to drop its link (a child of the front
 * may still hold it), then restart the front after a back-off, or release
 * a retiring generation once its fronts are gone
 */
static void
front_exited(struct parent *p, struct gen *g, int kind, int status)
{
	struct child *c = &g->fronts[kind];
	time_t	 now = time(NULL);
	char	 how[40], when[32] = "";

	c->pid = 0;
	sproc_front_gone(g->sp, c->link);
	if (g->retiring || p->stopping) {
		log_info("%s of %s configuration stopped (%s)",
		    front_names[kind], g->retiring ? "the previous" : "the",
		    status_text(status, how, sizeof(how)));
		if (kind == FRONT_MILTER)
			reload_remove_milter_socket(p, g);
		if (fronts_running(g) == 0 && g->retiring)
			gen_release(g);
		return;
	}
	c->restart_at = backoff(c, now);
	if (c->restart_at > now)
		snprintf(when, sizeof(when), " in %lld s",
		    (long long)(c->restart_at - now));
	if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL)
		log_info("%s stopped: its signer is gone", front_names[kind]);
	else
		log_warn("%s %s: restarting it%s", front_names[kind],
		    status_text(status, how, sizeof(how)), when);
	if (g->sp->pid > 0 && c->restart_at <= now && start_front(p, g, kind) <
	    0)
		log_err("cannot start the %s: %s", front_names[kind],
		    strerror(errno));
}

/* restart_due - fronts whose back-off is over, signers to start again */
static void
restart_due(struct parent *p)
{
	struct gen *g = &p->gens[p->cur];
	time_t	 now = time(NULL);

	if (g->sp->pid == 0 && now >= g->sp->next_try)
		restart_signer(p, g->sp);
	for (int k = 0; k < FRONTS; k++) {
		struct child *c = &g->fronts[k];

		if (c->pid == 0 && c->restart_at != 0 && now >= c->restart_at &&
		    g->sp->pid > 0 && start_front(p, g, k) < 0)
			log_err("cannot start the %s: %s", front_names[k],
			    strerror(errno));
	}
}

/*
 * signer_exited - a signer ended: when no generation uses it any more it
 * was told to stop; else it died, and is started again for the serving
 * generation (the retiring ones that used it lose it: their fronts go)
 */
static void
signer_exited(struct parent *p, struct sproc *sp, int status)
{
	char	 how[40];

	sproc_exited(sp);
	if (sp->users == 0 || p->stopping) {
		log_info("a signer stopped (%s)", status_text(status, how,
		    sizeof(how)));
		if (sp->users == 0)
			sproc_release(sp);
		return;
	}
	log_err("signer %s: restarting it", status_text(status, how,
	    sizeof(how)));
	if (p->gens[p->cur].sp == sp)
		restart_signer(p, sp);
}

/* reap - every child that ended */
static void
reap(struct parent *p)
{
	int	 status;
	pid_t	 pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < GENS_MAX; i++)
			if (p->sprocs[i].pid == pid)
				signer_exited(p, &p->sprocs[i], status);
		for (int i = 0; i < GENS_MAX; i++) {
			struct gen *g = &p->gens[i];

			for (int k = 0; g->conf != NULL && k < FRONTS; k++)
				if (pid == g->fronts[k].pid)
					front_exited(p, g, k, status);
		}
	}
}

/* fronts_left - fronts still running, in every generation */
static int
fronts_left(struct parent *p)
{
	int	 n = 0;

	for (int i = 0; i < GENS_MAX; i++)
		n += p->gens[i].conf != NULL ? fronts_running(&p->gens[i]) : 0;
	return n;
}

/* signers_left - signer processes still running */
static int
signers_left(struct parent *p)
{
	int	 n = 0;

	for (int i = 0; i < GENS_MAX; i++)
		n += p->sprocs[i].pid > 0;
	return n;
}

/* wait_children - reap until none of the kind is left, or kill them */
static void
wait_children(struct parent *p, int fronts, unsigned seconds)
{
	time_t	 until = time(NULL) + seconds;

	while ((fronts ? fronts_left(p) : signers_left(p)) &&
	    time(NULL) < until) {
		usleep(50000);
		reap(p);
	}
	for (int i = 0; i < GENS_MAX; i++) {
		pid_t pids[2] = { fronts ? p->gens[i].fronts[0].pid :
		    p->sprocs[i].pid, fronts ? p->gens[i].fronts[1].pid : 0 };

		for (int k = 0; k < 2; k++)
			if (pids[k] > 0) {
				log_warn("%s %ld did not stop: killing it",
				    fronts ? "front" : "signer", (long)pids[k]);
				kill(pids[k], SIGKILL);
			}
	}
	reap(p);
}

/*
 * remove_sockets - the fronts are gone: remove the socket files this
 * daemon made, the listeners it bound (their names from the sockets
 * themselves) and its milter front's, whether it stops or failed to start
 */
static void
remove_sockets(struct parent *p)
{
	struct sockaddr_un sun;
	char	 path[sizeof(sun.sun_path) + 1];
	socklen_t len;

	for (size_t i = 0; i < p->nlisten; i++) {
		len = sizeof(sun);
		if (getsockname(p->listen[i], (struct sockaddr *)&sun, &len) <
		    0 || sun.sun_family != AF_UNIX || len <= sizeof(sa_family_t))
			continue;
		len -= sizeof(sa_family_t);
		memcpy(path, sun.sun_path, len);
		path[len] = '\0';		/* a name of 108 bytes has none */
		if (path[0] == '/')
			(void)unlink(path);
	}
	if (p->milter_path[0] != '\0')
		(void)unlink(p->milter_path);
	if (p->gens[p->cur].conf != NULL &&	/* a refused reload's was last */
	    conf_milter_path(p->gens[p->cur].conf->daemon.milter) != NULL)
		(void)unlink(conf_milter_path(
		    p->gens[p->cur].conf->daemon.milter));
}

/* shutdown_all - SIGTERM: fronts drain, then signers stop, sockets go */
static void
shutdown_all(struct parent *p)
{
	struct conf *c = p->gens[p->cur].conf;
	unsigned drain = c->daemon.drain_timeout + 5;

	p->stopping = 1;
	log_info("stopping: draining requests in flight (up to %u s)", drain);
	for (int i = 0; i < GENS_MAX; i++)
		for (int k = 0; p->gens[i].conf != NULL && k < FRONTS; k++)
			if (p->gens[i].fronts[k].pid > 0)
				kill(p->gens[i].fronts[k].pid, SIGTERM);
	wait_children(p, 1, drain);
	for (int i = 0; i < GENS_MAX; i++)
		sproc_quit(&p->sprocs[i]);
	wait_children(p, 0, 10);
	remove_sockets(p);
}

/* bind_all - the configured listeners */
static int
bind_all(struct parent *p, const struct conf *c)
{
	if (c->daemon.metrics_listen != NULL &&
	    (p->metrics_fd = listen_bind_inet(&c->daemon)) < 0)
		return -1;
	for (size_t i = 0; i < c->daemon.nlisten && i < 16; i++) {
		if ((p->listen[i] = listen_bind(&c->daemon.listen[i])) < 0)
			return -1;
		p->nlisten++;
	}
	return 0;
}

/* reopen_trails - SIGUSR1: every running signer reopens its trail files */
static void
reopen_trails(struct parent *p)
{
	for (int i = 0; i < GENS_MAX; i++)
		if (p->sprocs[i].pid > 0)
			sproc_reopen(&p->sprocs[i]);
}

/* supervise - signals, until SIGTERM */
static void
supervise(struct parent *p)
{
	struct timespec tick = { 1, 0 };
	sigset_t set;
	int	 sig;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	for (;;) {
		sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			return;
		if (sig == SIGHUP) {
			child_priority_boost(1);	/* ahead of the load */
			stats_daemon_reload(p->status, reload_config(p) == 0);
			child_priority_boost(0);
		}
		if (sig == SIGUSR1)
			reopen_trails(p);
		reap(p);
		restart_due(p);
	}
}

/* parent_run - run the daemon with an already checked configuration */
int
parent_run(struct conf *c, struct conf_cache *cache, const char *path,
    int ready_fd)
{
	struct parent p;
	sigset_t set;

	memset(&p, 0, sizeof(p));
	child_priority_base();
	p.path = path;
	p.cache = cache;
	p.stderr_relay = log_is_stderr() ? child_stderr_relay() : -1;
	p.metrics_fd = -1;
	if ((p.status = stats_daemon_new()) == NULL)
		log_warn("cannot map the reload counters: %s", strerror(errno));
	for (int i = 0; i < GENS_MAX; i++)
		p.sprocs[i].ctl = -1;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (bind_all(&p, c) < 0)
		c = conf_free(c);	/* not handed to a generation yet */
	if (c == NULL || gen_start(&p, &p.gens[0], c) < 0) {
		log_err("not started");
		wait_children(&p, 1, 1);
		for (int i = 0; i < GENS_MAX; i++)
			sproc_quit(&p.sprocs[i]);
		wait_children(&p, 0, 10);
		remove_sockets(&p);
		for (int i = 0; i < GENS_MAX; i++)
			sproc_release(&p.sprocs[i]);
		return EX_UNAVAILABLE;
	}
	log_info("started: %zu institution(s), %zu listener(s)%s", c->ninst,
	    c->daemon.nlisten, c->daemon.milter ? ", milter" : "");
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "R", 1);
		close(ready_fd);
	}
	(void)sd_notify(0, "READY=1");	/* Type=notify; no-op elsewhere */
	supervise(&p);
	shutdown_all(&p);
	for (int i = 0; i < GENS_MAX; i++) {
		if (p.gens[i].conf != NULL)
			gen_release(&p.gens[i]);
		sproc_release(&p.sprocs[i]);
	}
	stats_daemon_free(p.status);
	log_info("stopped");
	return EX_OK;
}
