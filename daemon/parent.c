/*
 * parent.c - the parent of p11dkimd (see parent.h).
 *
 * A "generation" is one configuration with its signer and its front.
 * SIGHUP builds a new generation from the file and, only if it starts
 * (the file is valid, the signer logs in to every required token), lets
 * the old front drain and retires the old signer: requests in flight
 * finish on the old configuration, a broken new one is refused and the
 * old one keeps serving.  A child that dies is restarted and logged.
 *
 * Security: the parent keeps root only to bind sockets and start
 * children; the signer drops to signer-user before it loads the module,
 * the front to user before it reads a byte from a client.
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "p11dkim/fdpass.h"
#include "p11dkim/keytab.h"
#include "p11dkim/log.h"
#include "p11dkim/signer_ipc.h"
#include "p11dkim/signer_local.h"
#include "child.h"
#include "front.h"
#include "listen.h"
#include "parent.h"

#define GENS_MAX	4
#define READY_WAIT_S	120
#define QUICK_EXIT_S	10	/* a front that dies sooner is restarted */
#define BACKOFF_MAX_S	60	/* after 1, 2, 4 ... up to this many seconds */

enum { FRONT_NATIVE, FRONT_MILTER, FRONTS };

struct child {
	pid_t	 pid;			/* 0: not running */
	uint32_t link;			/* its link's id at the signer */
	time_t	 started;
	unsigned quick;			/* quick exits in a row */
	time_t	 restart_at;		/* a restart waits until then; 0: none */
};

struct gen {
	struct conf *conf;
	struct keytab keys;
	pid_t	 signer;
	struct child fronts[FRONTS];
	int	 ctl;			/* to the signer; -1 when closed */
	int	 retiring;
};

struct parent {
	const char *path;		/* of the configuration, for reloads */
	struct gen gens[GENS_MAX];	/* gens[cur] serves */
	int	 cur;
	time_t	 next_signer_try;	/* a failed signer restart */
	int	 listen[16];
	size_t	 nlisten;
	int	 stderr_relay;		/* fronts' stderr, or -1 */
	uint32_t next_link;		/* ids of the fronts' links */
	int	 stopping;
};

/* drop_privileges - become user (when root and user is set) */
int
drop_privileges(const char *user)
{
	struct passwd *pw;
	char	*end;
	long	 uid = strtol(user ? user : "", &end, 10);

	if (user == NULL || getuid() != 0)
		return 0;
	pw = *user != '\0' && *end == '\0' ? getpwuid((uid_t)uid) :
	    getpwnam(user);
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

/* signer_child - the signer process: never returns */
static void __attribute__((noreturn))
signer_child(struct gen *g, int ctl)
{
	struct signer *local;
	int	 keep[CHILD_KEEP_MAX] = { ctl };
	char	 err[512];

	child_signals();
	/*
	 * The parent stops the signer ('Q', or its end of ctl closing) once
	 * the fronts have drained: a signal to the whole process group
	 * (Ctrl-C, systemd's KillMode=control-group) must not take it away
	 * from the requests still in flight.
	 */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	if (child_descriptors(keep, 1 + pin_descriptors(g->conf, keep + 1,
	    CHILD_KEEP_MAX - 1)) < 0)
		_exit(EX_OSERR);
	(void)prctl(PR_SET_DUMPABLE, 0);	/* PINs pass through memory */
	if (drop_privileges(g->conf->daemon.signer_user) < 0)
		_exit(EX_NOPERM);
	if ((local = signer_local_new(g->conf, &g->keys, err, sizeof(err))) ==
	    NULL) {
		log_err("signer: %s", err);
		(void)fdpass_send(ctl, 'E', -1);
		_exit(EX_UNAVAILABLE);
	}
	(void)fdpass_send(ctl, 'R', -1);
	signer_ipc_serve(local, ctl, g->conf->daemon.signer_threads);
	signer_free(local);
	_exit(EX_OK);
}

/* start_signer - fork the signer and wait until it is ready */
static int
start_signer(struct gen *g)
{
	int	 sv[2], fd;
	char	 tag = 0;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if ((g->signer = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (g->signer == 0) {
		close(sv[0]);
		signer_child(g, sv[1]);
	}
	close(sv[1]);
	g->ctl = sv[0];
	if (poll(&(struct pollfd){ g->ctl, POLLIN, 0 }, 1, READY_WAIT_S *
	    1000) <= 0 || fdpass_recv(g->ctl, &tag, &fd) <= 0 || tag != 'R') {
		log_err("the signer did not start (see above)");
		close(g->ctl);
		g->ctl = -1;
		kill(g->signer, SIGKILL);
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

	child_signals();
	child_files();
	child_detach();
	for (size_t i = 0; !milter && i < p->nlisten; i++)
		keep[n++] = p->listen[i];
	if (p->stderr_relay >= 0)
		(void)dup2(p->stderr_relay, STDERR_FILENO);
	if (child_descriptors(keep, n) < 0)
		_exit(EX_OSERR);
	if (milter)
		_exit(milter_run(g->conf, &g->keys, link));
	if (drop_privileges(g->conf->daemon.user) < 0)
		_exit(EX_NOPERM);
	_exit(front_run(g->conf, &g->keys, p->listen, p->nlisten, link));
}

static const char *const front_names[FRONTS] = { "front", "milter front" };

/* front_wanted - is there a front of this kind in the configuration? */
static int
front_wanted(const struct parent *p, const struct gen *g, int kind)
{
	return kind == FRONT_NATIVE ? p->nlisten > 0 :
	    g->conf->daemon.milter != NULL;
}

/*
 * start_front - fork a front (native, or milter) with its own link to
 * the generation's signer, named by a new id.  The native front gets the
 * bound listeners and drops privileges at once; the milter front opens
 * its socket with libmilter first and drops them itself.
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
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (fdpass_sendmsg(g->ctl, 'F', sv[1], &id, sizeof(id)) < 0 ||
	    (pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0)
		front_child(p, g, kind == FRONT_MILTER, sv[0]);
	close(sv[0]);
	close(sv[1]);
	c->pid = pid;
	c->link = id;
	c->started = time(NULL);
	return 0;
}

/* start_fronts - every front of the generation that is not running */
static int
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
static int
fronts_running(const struct gen *g)
{
	int	 n = 0;

	for (int k = 0; k < FRONTS; k++)
		n += g->fronts[k].pid > 0;
	return n;
}

/* gen_release - free a generation whose children are gone */
static void
gen_release(struct gen *g)
{
	if (g->ctl >= 0)
		close(g->ctl);
	keytab_release(&g->keys);
	conf_free(g->conf);
	memset(g, 0, sizeof(*g));
	g->ctl = -1;
}

/* gen_start - a new generation from conf (owned from now on) */
static int
gen_start(struct parent *p, struct gen *g, struct conf *conf)
{
	char	 err[512];

	memset(g, 0, sizeof(*g));
	g->ctl = -1;
	g->conf = conf;
	if (keytab_build(conf, &g->keys, err, sizeof(err)) < 0) {
		log_err("%s", err);
		gen_release(g);
		return -1;
	}
	if (start_signer(g) < 0) {
		if (g->signer > 0)
			waitpid(g->signer, NULL, 0);
		gen_release(g);
		return -1;
	}
	if (start_fronts(p, g) < 0) {
		for (int k = 0; k < FRONTS; k++)
			if (g->fronts[k].pid > 0)
				kill(g->fronts[k].pid, SIGKILL);
		(void)fdpass_send(g->ctl, 'Q', -1);
		waitpid(g->signer, NULL, 0);
		gen_release(g);
		return -1;
	}
	return 0;
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

/* restart_signer - a new signer for the serving generation */
static void
restart_signer(struct parent *p, struct gen *g)
{
	if (g->ctl >= 0)
		close(g->ctl);
	g->ctl = -1;
	if (start_signer(g) < 0) {
		g->signer = 0;
		p->next_signer_try = time(NULL) + 1;
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
 * may still hold it), then restart the front after a back-off, or retire
 * the generation's signer once both fronts are gone
 */
static void
front_exited(struct parent *p, struct gen *g, int kind, int status)
{
	struct child *c = &g->fronts[kind];
	time_t	 now = time(NULL);
	char	 how[40];

	c->pid = 0;
	if (g->ctl >= 0)
		(void)fdpass_sendmsg(g->ctl, 'D', -1, &c->link,
		    sizeof(c->link));
	if (g->retiring || p->stopping) {
		log_info("%s of %s configuration stopped (%s)",
		    front_names[kind], g->retiring ? "the previous" : "the",
		    status_text(status, how, sizeof(how)));
		if (fronts_running(g) == 0 && g->ctl >= 0)
			(void)fdpass_send(g->ctl, 'Q', -1);
		return;
	}
	c->restart_at = backoff(c, now);
	if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL)
		log_info("%s stopped: its signer is gone", front_names[kind]);
	else
		log_warn("%s %s: restarting it%s%lld%s", front_names[kind],
		    status_text(status, how, sizeof(how)), c->restart_at > now ?
		    " in " : "", c->restart_at > now ? (long long)(c->restart_at -
		    now) : 0LL, c->restart_at > now ? " s" : "");
	if (g->signer > 0 && c->restart_at <= now && start_front(p, g, kind) <
	    0)
		log_err("cannot start the %s: %s", front_names[kind],
		    strerror(errno));
}

/* restart_due - fronts whose back-off is over */
static void
restart_due(struct parent *p, struct gen *g)
{
	time_t	 now = time(NULL);

	for (int k = 0; k < FRONTS; k++) {
		struct child *c = &g->fronts[k];

		if (c->pid == 0 && c->restart_at != 0 && now >= c->restart_at &&
		    g->signer > 0 && start_front(p, g, k) < 0)
			log_err("cannot start the %s: %s", front_names[k],
			    strerror(errno));
	}
}

/* signer_exited - restart it, unless its generation is retiring */
static void
signer_exited(struct parent *p, struct gen *g, int status)
{
	char	 how[40];

	g->signer = 0;
	if (g->retiring || p->stopping) {
		log_info("signer of %s configuration stopped (%s)", g->retiring ?
		    "the previous" : "the", status_text(status, how,
		    sizeof(how)));
		return;
	}
	log_err("signer %s: restarting it", status_text(status, how,
	    sizeof(how)));
	restart_signer(p, g);
}

/* reap - every child that ended */
static void
reap(struct parent *p)
{
	int	 status;
	pid_t	 pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (int i = 0; i < GENS_MAX; i++) {
			struct gen *g = &p->gens[i];

			if (g->conf == NULL)
				continue;
			for (int k = 0; k < FRONTS; k++)
				if (pid == g->fronts[k].pid)
					front_exited(p, g, k, status);
			if (pid == g->signer)
				signer_exited(p, g, status);
			if (g->retiring && fronts_running(g) == 0 &&
			    g->signer == 0)
				gen_release(g);
		}
}

/* free_gen - an empty generation slot, or -1 */
static int
free_gen(struct parent *p)
{
	for (int i = 0; i < GENS_MAX; i++)
		if (p->gens[i].conf == NULL)
			return i;
	return -1;
}

/* same_listeners - the same native sockets, owners and modes? */
static int
same_listeners(const struct conf_daemon *a, const struct conf_daemon *b)
{
	if (a->nlisten != b->nlisten)
		return 0;
	for (size_t i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i].path, b->listen[i].path) != 0 ||
		    a->listen[i].owner != b->listen[i].owner ||
		    a->listen[i].group != b->listen[i].group ||
		    a->listen[i].mode != b->listen[i].mode)
			return 0;
	return 1;
}

/* reload - SIGHUP: a new generation if the file is good and it starts */
static void
reload(struct parent *p)
{
	char	 err[CONF_ERR_MAX];
	struct conf *c = conf_load(p->path, err, sizeof(err));
	struct gen *old = &p->gens[p->cur];
	int	 n;

	if (c == NULL) {
		log_err("reload refused, the running configuration stays: %s",
		    err);
		return;
	}
	if ((n = free_gen(p)) < 0) {
		log_err("reload refused: previous reloads are still draining");
		conf_free(c);
		return;
	}
	if (!same_listeners(&c->daemon, &old->conf->daemon))
		log_warn("reload: listener changes take effect at restart");
	if (gen_start(p, &p->gens[n], c) < 0) {
		log_err("reload refused, the running configuration stays: the "
		    "new one did not start");
		return;
	}
	old->retiring = 1;
	for (int k = 0; k < FRONTS; k++)
		if (old->fronts[k].pid > 0)
			kill(old->fronts[k].pid, SIGTERM);
	if (fronts_running(old) == 0 && old->ctl >= 0)
		(void)fdpass_send(old->ctl, 'Q', -1);
	p->cur = n;
	log_info("configuration reloaded from %s", p->path);
}

/* children_left - fronts (or signers) still running */
static int
children_left(struct parent *p, int fronts)
{
	int	 n = 0;

	for (int i = 0; i < GENS_MAX; i++)
		n += fronts ? fronts_running(&p->gens[i]) :
		    p->gens[i].signer > 0;
	return n;
}

/* wait_children - reap until none of the kind is left, or kill them */
static void
wait_children(struct parent *p, int fronts, unsigned seconds)
{
	time_t	 until = time(NULL) + seconds;

	while (children_left(p, fronts) && time(NULL) < until) {
		usleep(50000);
		reap(p);
	}
	for (int i = 0; i < GENS_MAX; i++) {
		pid_t pids[2] = { fronts ? p->gens[i].fronts[0].pid :
		    p->gens[i].signer, fronts ? p->gens[i].fronts[1].pid : 0 };

		for (int k = 0; k < 2; k++)
			if (pids[k] > 0) {
				log_warn("%s %ld did not stop: killing it",
				    fronts ? "front" : "signer", (long)pids[k]);
				kill(pids[k], SIGKILL);
			}
	}
	reap(p);
}

/* shutdown_all - SIGTERM: fronts drain, then signers stop, sockets go */
static void
shutdown_all(struct parent *p)
{
	struct conf *c = p->gens[p->cur].conf;
	unsigned drain = c->daemon.drain_timeout + 5;

	p->stopping = 1;
	log_info("stopping: draining requests in flight (up to %u s)", drain);
	for (int i = 0; i < GENS_MAX; i++) {
		for (int k = 0; k < FRONTS; k++)
			if (p->gens[i].fronts[k].pid > 0)
				kill(p->gens[i].fronts[k].pid, SIGTERM);
	}
	wait_children(p, 1, drain);
	for (int i = 0; i < GENS_MAX; i++)
		if (p->gens[i].signer > 0 && p->gens[i].ctl >= 0)
			(void)fdpass_send(p->gens[i].ctl, 'Q', -1);
	wait_children(p, 0, 10);
	for (size_t i = 0; i < c->daemon.nlisten; i++)
		unlink(c->daemon.listen[i].path);
}

/* bind_all - the configured listeners */
static int
bind_all(struct parent *p, const struct conf *c)
{
	for (size_t i = 0; i < c->daemon.nlisten && i < 16; i++) {
		if ((p->listen[i] = listen_bind(&c->daemon.listen[i])) < 0)
			return -1;
		p->nlisten++;
	}
	return 0;
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
	for (;;) {
		sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			return;
		if (sig == SIGHUP)
			reload(p);
		reap(p);
		if (p->gens[p->cur].signer == 0 &&
		    time(NULL) >= p->next_signer_try)
			restart_signer(p, &p->gens[p->cur]);
		restart_due(p, &p->gens[p->cur]);
	}
}

/* parent_run - run the daemon with an already checked configuration */
int
parent_run(struct conf *c, const char *path, int ready_fd)
{
	struct parent p;
	sigset_t set;

	memset(&p, 0, sizeof(p));
	p.path = path;
	p.stderr_relay = c->daemon.log_stderr ? child_stderr_relay() : -1;
	for (int i = 0; i < GENS_MAX; i++)
		p.gens[i].ctl = -1;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (bind_all(&p, c) < 0 || gen_start(&p, &p.gens[0], c) < 0) {
		log_err("not started");
		return EX_UNAVAILABLE;
	}
	log_info("started: %zu institution(s), %zu listener(s)%s", c->ninst,
	    c->daemon.nlisten, c->daemon.milter ? ", milter" : "");
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "R", 1);
		close(ready_fd);
	}
	supervise(&p);
	shutdown_all(&p);
	for (int i = 0; i < GENS_MAX; i++)
		if (p.gens[i].conf != NULL)
			gen_release(&p.gens[i]);
	log_info("stopped");
	return EX_OK;
}
