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
#include "front.h"
#include "listen.h"
#include "parent.h"

#define GENS_MAX	4
#define READY_WAIT_S	120

struct gen {
	struct conf *conf;
	struct keytab keys;
	pid_t	 signer, front, milter;	/* milter: 0 when none */
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
	int	 stopping;
};

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

/* child_signals - a child starts with default signals, unblocked */
static void
child_signals(void)
{
	sigset_t all;

	signal(SIGCHLD, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
}

/*
 * child_files - a front may open as many descriptors as the hard limit
 * allows: one per client and per channel to the signer (the soft limit is
 * often 1024).  Not the signer: a PKCS#11 module may use select(), which
 * cannot take a descriptor of 1024 or more.
 */
static void
child_files(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* close_others - a child keeps no link to other generations' signers */
static void
close_others(struct parent *p, int keep)
{
	for (int i = 0; i < GENS_MAX; i++)
		if (p->gens[i].ctl >= 0 && p->gens[i].ctl != keep)
			close(p->gens[i].ctl);
}

/* signer_child - the signer process: never returns */
static void __attribute__((noreturn))
signer_child(struct parent *p, struct gen *g, int ctl)
{
	struct signer *local;
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
	close_others(p, ctl);
	for (size_t i = 0; i < p->nlisten; i++)
		close(p->listen[i]);
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
start_signer(struct parent *p, struct gen *g)
{
	int	 sv[2], fd;
	char	 tag = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if ((g->signer = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (g->signer == 0) {
		close(sv[0]);
		signer_child(p, g, sv[1]);
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
 * start_child - fork a front (native, or milter) with its own link to the
 * generation's signer.  The native front gets the bound listeners and
 * drops privileges at once; the milter front opens its socket with
 * libmilter first and drops them itself.
 */
static pid_t
start_child(struct parent *p, struct gen *g, int milter)
{
	int	 sv[2];
	pid_t	 pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (fdpass_send(g->ctl, 'F', sv[1]) < 0 || (pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		child_signals();
		child_files();
		close(sv[1]);
		close_others(p, -1);
		if (milter) {
			for (size_t i = 0; i < p->nlisten; i++)
				close(p->listen[i]);
			_exit(milter_run(g->conf, &g->keys, sv[0]));
		}
		if (drop_privileges(g->conf->daemon.user) < 0)
			_exit(EX_NOPERM);
		_exit(front_run(g->conf, &g->keys, p->listen, p->nlisten,
		    sv[0]));
	}
	close(sv[0]);
	close(sv[1]);
	return pid;
}

/* start_front - the native front, when there are listeners */
static int
start_front(struct parent *p, struct gen *g)
{
	if (p->nlisten == 0)
		return 0;
	return (g->front = start_child(p, g, 0)) < 0 ? -1 : 0;
}

/* start_milter - the milter front, when one is configured */
static int
start_milter(struct parent *p, struct gen *g)
{
	if (g->conf->daemon.milter == NULL)
		return 0;
	return (g->milter = start_child(p, g, 1)) < 0 ? -1 : 0;
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
	if (start_signer(p, g) < 0) {
		if (g->signer > 0)
			waitpid(g->signer, NULL, 0);
		gen_release(g);
		return -1;
	}
	if (start_front(p, g) < 0 || start_milter(p, g) < 0) {
		log_err("cannot start the fronts: %s", strerror(errno));
		if (g->front > 0)
			kill(g->front, SIGKILL);
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
	if (start_signer(p, g) < 0) {
		g->signer = 0;
		p->next_signer_try = time(NULL) + 1;
		return;
	}
	log_info("signer restarted");
	if (g->front == 0 && start_front(p, g) < 0)
		log_err("cannot start the front: %s", strerror(errno));
	if (g->milter == 0 && start_milter(p, g) < 0)
		log_err("cannot start the milter: %s", strerror(errno));
}

/*
 * front_exited - restart a front (native or milter), or retire its
 * generation's signer once both fronts are gone
 */
static void
front_exited(struct parent *p, struct gen *g, int milter, int status)
{
	const char *what = milter ? "milter front" : "front";
	char	 how[40];

	if (milter)
		g->milter = 0;
	else
		g->front = 0;
	if (g->retiring || p->stopping) {
		log_info("%s of %s configuration stopped (%s)", what,
		    g->retiring ? "the previous" : "the", status_text(status,
		    how, sizeof(how)));
		if (g->front == 0 && g->milter == 0 && g->ctl >= 0)
			(void)fdpass_send(g->ctl, 'Q', -1);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL)
		log_info("%s stopped: its signer is gone", what);
	else
		log_warn("%s %s: restarting it", what, status_text(status, how,
		    sizeof(how)));
	if (g->signer > 0 && (milter ? start_milter(p, g) :
	    start_front(p, g)) < 0)
		log_err("cannot start the %s: %s", what, strerror(errno));
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
			if (pid == g->front)
				front_exited(p, g, 0, status);
			else if (pid == g->milter)
				front_exited(p, g, 1, status);
			else if (pid == g->signer)
				signer_exited(p, g, status);
			if (g->retiring && g->front == 0 && g->milter == 0 &&
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
	if (old->front > 0)
		kill(old->front, SIGTERM);
	if (old->milter > 0)
		kill(old->milter, SIGTERM);
	if (old->front == 0 && old->milter == 0 && old->ctl >= 0)
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
		n += fronts ? (p->gens[i].front > 0) + (p->gens[i].milter > 0) :
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
		pid_t pids[2] = { fronts ? p->gens[i].front : p->gens[i].signer,
		    fronts ? p->gens[i].milter : 0 };

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
		if (p->gens[i].front > 0)
			kill(p->gens[i].front, SIGTERM);
		if (p->gens[i].milter > 0)
			kill(p->gens[i].milter, SIGTERM);
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
