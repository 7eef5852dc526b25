/*
 * main.c - p11dkimd: the DKIM signing daemon.
 *
 *   p11dkimd [-c FILE] [-f] [-n]
 *   p11dkimd --version
 *
 * -c FILE  the configuration (default /etc/p11dkim/p11dkim.conf)
 * -f       stay in the foreground (for systemd and the demo)
 * -n       check the configuration, then (as signer-user) each
 *          institution's module, PIN, token and keys, and exit:
 *          0 good, 78 a bad file, 69 a token check failed
 *
 * See docs/p11dkimd.md.  Mailers talk to it with docs/PROTOCOL.md.
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sysexits.h>
#include <unistd.h>

#include "p11dkim/keytab.h"
#include "p11dkim/log.h"
#include "p11dkim/stats.h"
#include "p11dkim/preflight.h"
#include "parent.h"
#include "pidfile.h"
#include "proctitle.h"

#define DEFAULT_CONF	"/etc/p11dkim/p11dkim.conf"

/* usage - how to call */
static int
usage(void)
{
	fprintf(stderr, "usage: p11dkimd [-c FILE] [-f] [-n] | --version\n");
	return EX_USAGE;
}

/*
 * separate_users - refuse to start (78) when the fronts would run as root
 * or as the signer's user, unless require-separate-users = false: then
 * warn.  -n judges the file as a start by root would.
 */
static int
separate_users(const struct conf *c, uid_t starter, int check_only)
{
	char	 why[256];
	int	 rc = conf_privsep(&c->daemon, starter, why, sizeof(why));

	if (rc < 0)
		fprintf(stderr, "p11dkimd: %s: %s (or set require-separate-users "
		    "= false to start anyway)\n", c->path, why);
	else if (rc > 0 && check_only)
		fprintf(stderr, "p11dkimd: warning: privilege separation is "
		    "off: %s\n", why);
	else if (rc > 0)
		log_warn("privilege separation is off (require-separate-users "
		    "= false): %s", why);
	return rc < 0 ? -1 : 0;
}

/* report - -n: one line per token check */
static void
report(void *ctx, const char *name, const char *check, enum preflight_status
    st, const char *detail)
{
	(void)ctx;
	printf("%s: %s %s: %s\n", name, check, preflight_status_name(st),
	    detail);
}

/*
 * check_tokens - -n: what the signer will do at start, as signer-user:
 * load the module, read each PIN, log in, find each key and sign with it
 * (pkcs11/preflight.c).  A failure stops a start only with strict-start
 * (and an institution that is not optional): else it is a warning, as
 * the daemon starts and tries that institution again in the background.
 */
static int
check_tokens(const struct conf *c, const struct keytab *t)
{
	struct preflight pf = { .report = report };
	struct preflight_target pt;
	char	 err[512];
	int	 bad = 0, down = 0;

	(void)prctl(PR_SET_DUMPABLE, 0);	/* PINs pass through memory */
	if (preflight_become(c->daemon.signer_user, err, sizeof(err)) < 0) {
		fprintf(stderr, "p11dkimd: signer-user: %s\n", err);
		return EX_NOPERM;
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct keytab_entry *e = &t->e[i];

		if (e->kind != CONF_KIND_MAIN)
			continue;
		memset(&pt, 0, sizeof(pt));
		pt.name = e->inst->code;
		pt.token_label = e->inst->token_label;
		pt.token_serial = e->inst->token_serial;
		pt.pin = e->inst->pin;
		pt.nkeys = e->dual == KEYTAB_NONE ? 1 : 2;
		for (size_t k = 0; k < pt.nkeys; k++) {
			const struct keytab_entry *ke = k ? &t->e[e->dual] : e;

			pt.key_label[k] = ke->key_label;
			pt.key_type[k] = ke->alg == DKIM_ALG_ED25519_SHA256 ?
			    P11_KEY_ED25519 : P11_KEY_RSA;
		}
		if (preflight_check(&pf, c->module, &pt) > 0) {
			down++;
			bad += c->daemon.strict_start && !e->inst->optional;
		}
	}
	preflight_release(&pf);
	if (bad > 0)
		fprintf(stderr, "p11dkimd: %d institution(s) would stop the "
		    "start (strict-start; see above)\n", bad);
	else if (down > 0)
		fprintf(stderr, "p11dkimd: warning: %d institution(s) would "
		    "start down and be tried again in the background (see "
		    "above)\n", down);
	return bad > 0 ? EX_UNAVAILABLE : EX_OK;
}

/* check - -n: the file, the key table, then the signer's checks */
static int
check(struct conf *c)
{
	struct keytab t;
	char	 err[512];
	int	 rc;

	if (separate_users(c, 0, 1) < 0)
		return EX_CONFIG;
	if (keytab_build(c, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "p11dkimd: %s: %s\n", c->path, err);
		return EX_CONFIG;
	}
	if (c->daemon.nlisten == 0 && c->daemon.milter == NULL) {
		fprintf(stderr, "p11dkimd: %s: no listen or milter socket\n",
		    c->path);
		keytab_release(&t);
		return EX_CONFIG;
	}
	for (size_t i = 0; i < t.n; i++)
		printf("%s: signs %s with selector %s (%s), key '%s' on token "
		    "'%s'\n", t.e[i].inst->code, t.e[i].inst->domains[0],
		    t.e[i].selector_name,
		    dkim_alg_name(t.e[i].alg), t.e[i].key_label,
		    t.e[i].inst->token_label);
	if ((rc = check_tokens(c, &t)) == EX_OK)
		printf("p11dkimd: configuration %s is good\n", c->path);
	keytab_release(&t);
	return rc;
}

/*
 * background - fork; the first process waits until the daemon says it
 * serves (exit 0) or gives up (exit 69, the reason is in the log), so a
 * start that fails is seen by whoever started it.  Returns the fd the
 * daemon writes to when ready, or -1 (with *status set) in the waiter.
 */
static int
background(int keep_stderr, int *status)
{
	int	 p[2], fd;
	char	 b;
	pid_t	 pid;

	if (pipe(p) < 0 || (pid = fork()) < 0) {
		*status = EX_OSERR;
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		*status = read(p[0], &b, 1) == 1 ? EX_OK : EX_UNAVAILABLE;
		if (*status != EX_OK)
			fprintf(stderr, "p11dkimd: did not start (see the log)\n");
		return -1;
	}
	close(p[0]);
	if (setsid() < 0 || chdir("/") < 0 || (fd = open("/dev/null",
	    O_RDWR)) < 0)
		_exit(EX_OSERR);
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	if (!keep_stderr)
		dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return p[1];
}

/*
 * keep_path - a copy of -c's file name: the process title is written
 * over argv (proctitle.h), and the parent reads the file again on SIGHUP
 */
static const char *
keep_path(const char *arg)
{
	static char copy[PATH_MAX];
	int	 n = snprintf(copy, sizeof(copy), "%s", arg);

	if (n < 0 || (size_t)n >= sizeof(copy)) {
		fprintf(stderr, "p11dkimd: -c: a file name longer than %d "
		    "bytes\n", PATH_MAX - 1);
		return NULL;
	}
	return copy;
}

/* run - start the daemon with a checked configuration (owned from now on) */
static int
run(struct conf *c, struct conf_cache *cache, const char *path,
    int foreground)
{
	struct pidfile pf;
	int	 to_stderr, rc = EX_OK, ready = -1;

	to_stderr = log_open("p11dkimd", c->daemon.log_stderr);
	if (c->daemon.nlisten == 0 && c->daemon.milter == NULL) {
		fprintf(stderr, "p11dkimd: %s: no listen or milter socket\n",
		    path);
		conf_free(c);
		return EX_CONFIG;
	}
	if (separate_users(c, getuid(), 0) < 0) {
		conf_free(c);
		return EX_CONFIG;
	}
	if (!foreground && (ready = background(to_stderr, &rc)) < 0) {
		conf_free(c);
		return rc;
	}
	if (pidfile_take(&pf, c->daemon.pidfile) < 0) {
		log_err("not started");
		conf_free(c);
		return EX_UNAVAILABLE;	/* the waiter sees the pipe close */
	}
	proctitle_set("p11dkimd", "p11dkimd: parent");
	stats_set_version(P11DKIM_VERSION);	/* p11dkim_build_info */
	rc = parent_run(c, cache, path, ready);
	pidfile_remove(&pf);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = DEFAULT_CONF;
	char	 err[CONF_ERR_MAX];
	struct conf *c;
	struct conf_cache *cache = NULL;
	int	 opt, foreground = 0, check_only = 0, rc;

	proctitle_init(argc, argv);
	while ((opt = getopt_long(argc, argv, "c:fnh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'V':
			printf("p11dkimd %s\n", P11DKIM_VERSION);
			return EX_OK;
		case 'c':
			if ((path = keep_path(optarg)) == NULL)
				return usage();
			break;
		case 'f': foreground = 1; break;
		case 'n': check_only = 1; break;
		default: return usage();
		}
	}
	if (optind != argc)
		return usage();
	if (!check_only && (cache = conf_cache_new()) == NULL) {
		fprintf(stderr, "p11dkimd: out of memory\n");
		return EX_OSERR;
	}
	if ((c = conf_load_cached(path, cache, err, sizeof(err))) == NULL) {
		fprintf(stderr, "p11dkimd: %s\n", err);
		conf_cache_free(cache);
		return EX_CONFIG;
	}
	if (check_only) {
		rc = check(c);
		conf_free(c);
		return rc;
	}
	rc = run(c, cache, path, foreground);
	conf_cache_free(cache);
	return rc;
}
