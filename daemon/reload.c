/*
 * reload.c - a new generation of p11dkimd replaces the serving one (see
 * parent_int.h).
 *
 * gen_start() builds a generation: its key table, a signer that takes
 * it (the running one when its settings and its module's view fit, else
 * a new one that is warmed first), the counters its fronts share, then
 * the fronts.  reload_config() does that for SIGHUP from the file read
 * again and, only once the new generation started, retires the old one:
 * its fronts get SIGTERM and drain, and it is released when the last
 * one is reaped.  A refused reload leaves the serving generation as it
 * was.
 *
 * Security: runs in the parent (root); nothing here reads from a client.
 * The old milter socket is removed here because the front that made it
 * ran unprivileged and could not.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "p11dkim/clock.h"
#include "p11dkim/keytab.h"
#include "p11dkim/log.h"
#include "p11dkim/signer_ipc.h"
#include "parent_int.h"
#include "sproc.h"

/* free_sproc - a free signer slot */
static struct sproc *
free_sproc(struct parent *p)
{
	for (int i = 0; i < GENS_MAX; i++)
		if (p->sprocs[i].users == 0 && p->sprocs[i].pid == 0)
			return &p->sprocs[i];
	return NULL;
}

/*
 * sproc_for - the running signer that fits c (unless fresh is asked
 * for), or a new one; NULL.  *started says which.
 */
static struct sproc *
sproc_for(struct parent *p, const struct conf *c, int fresh, int *started)
{
	struct sproc *sp = p->gens[p->cur].conf != NULL ?
	    p->gens[p->cur].sp : NULL;

	*started = 0;
	if (sp != NULL && !fresh && sproc_fits(sp, c))
		return sp;
	if (sp != NULL && !fresh)
		log_info("the signer's settings changed: starting a new signer");
	*started = 1;
	if ((sp = free_sproc(p)) == NULL) {
		log_err("previous signers are still draining");
		return NULL;
	}
	return sproc_start(sp, c) < 0 ? NULL : sp;
}

/* gen_release - free a generation whose fronts are gone */
void
gen_release(struct gen *g)
{
	if (g->sp != NULL && --g->sp->users == 0) {
		if (g->sp->pid > 0)
			sproc_quit(g->sp);	/* reaped later */
		else
			sproc_release(g->sp);
	} else if (g->sp != NULL)
		sproc_retire(g->sp, g->table);
	keytab_release(&g->keys);
	for (int k = 0; k < FRONTS; k++)
		stats_free(g->stats[k]);
	conf_free(g->conf);
	memset(g, 0, sizeof(*g));
}

/*
 * gen_signer - a signer for the new generation, its key table loaded: the
 * running one when it fits.  A module may show only the tokens (SoftHSM2)
 * or the keys (tpm2-pkcs11) there were when it was initialized: when the
 * table brings new ones the running signer does not see, a new signer is started and warmed
 * (every key tried) before the generation serves, while the running one
 * goes on serving the old fronts.  0 or -1 (logged).
 */
static int
gen_signer(struct parent *p, struct gen *g, int fresh)
{
	uint32_t unseen = 0;
	int	 started;

	if ((g->sp = sproc_for(p, g->conf, fresh, &started)) == NULL)
		return -1;
	g->sp->users++;
	if (sproc_load(g->sp, &g->keys, fresh ? SIGNER_LOAD_SETTLE : 0,
	    &g->table, &unseen) < 0)
		return -1;
	if (unseen == 0 || started)
		return 0;
	log_info("reload: the running signer's module does not show %u new "
	    "token(s) or key(s); starting a new signer, the running one "
	    "serves until it is ready", unseen);
	sproc_retire(g->sp, g->table);
	if (--g->sp->users == 0)
		sproc_quit(g->sp);
	g->sp = NULL;
	return gen_signer(p, g, 1);
}

/*
 * gen_stats - the counters of the generation's fronts, in memory they
 * share (the native front shows the milter front's on /metrics); they
 * outlive a front's restart
 */
static int
gen_stats(struct parent *p, struct gen *g)
{
	static const char *const label[FRONTS] = { "native", "milter" };

	for (int k = 0; k < FRONTS; k++)
		if (front_wanted(p, g, k) && (g->stats[k] = stats_new_shared(
		    g->conf, label[k], p->status)) == NULL) {
			log_err("cannot map the counters: %s", strerror(errno));
			return -1;
		}
	return 0;
}

/* gen_start - a new generation from conf (owned from now on) */
int
gen_start(struct parent *p, struct gen *g, struct conf *conf)
{
	char	 err[512];

	memset(g, 0, sizeof(*g));
	g->conf = conf;
	if (keytab_build(conf, &g->keys, err, sizeof(err)) < 0) {
		log_err("%s", err);
		gen_release(g);
		return -1;
	}
	if (gen_signer(p, g, 0) < 0 || gen_stats(p, g) < 0) {
		gen_release(g);
		return -1;
	}
	if (start_fronts(p, g) < 0) {
		for (int k = 0; k < FRONTS; k++)
			if (g->fronts[k].pid > 0)
				kill(g->fronts[k].pid, SIGKILL);
		g->retiring = 1;	/* released once they are reaped */
		return -1;
	}
	return 0;
}

/*
 * reload_remove_milter_socket - the socket file of a previous (or refused)
 * configuration's milter front, once it stopped, when the serving one
 * listens elsewhere: the front ran as the unprivileged user and could not
 * remove it, and at the daemon's stop only the serving one's is removed
 */
void
reload_remove_milter_socket(const struct parent *p, const struct gen *g)
{
	const struct conf *cur = p->gens[p->cur].conf;
	const char *path = conf_milter_path(g->conf->daemon.milter);
	const char *serving;

	if (path == NULL || p->stopping || cur == NULL || cur == g->conf)
		return;
	serving = conf_milter_path(cur->daemon.milter);
	if ((serving == NULL || strcmp(path, serving) != 0) &&
	    unlink(path) == 0)
		log_info("removed %s, the previous milter socket", path);
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
	if (a->nlisten != b->nlisten || (a->metrics_listen == NULL) !=
	    (b->metrics_listen == NULL) || (a->metrics_listen != NULL &&
	    strcmp(a->metrics_listen, b->metrics_listen) != 0))
		return 0;
	for (size_t i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i].path, b->listen[i].path) != 0 ||
		    a->listen[i].owner != b->listen[i].owner ||
		    a->listen[i].group != b->listen[i].group ||
		    a->listen[i].mode != b->listen[i].mode)
			return 0;
	return 1;
}

/* retire - the old generation's fronts drain, then it goes */
static void
retire(struct gen *old)
{
	old->retiring = 1;
	for (int k = 0; k < FRONTS; k++)
		if (old->fronts[k].pid > 0)
			kill(old->fronts[k].pid, SIGTERM);
	if (fronts_running(old) == 0)
		gen_release(old);
}

/* reload_config - SIGHUP: a new generation if the file is good and it starts */
int
reload_config(struct parent *p)
{
	char	 err[CONF_ERR_MAX];
	uint64_t t0 = clock_mono_ns();
	struct conf *c = conf_load_cached(p->path, p->cache, err, sizeof(err));
	uint64_t t1 = clock_mono_ns();
	struct gen *old = &p->gens[p->cur];
	size_t	 reused = 0, parsed = 0;
	int	 n;

	if (c != NULL && conf_privsep(&c->daemon, getuid(), err,
	    sizeof(err)) < 0)
		c = conf_free(c);	/* fronts as root or as the signer */
	if (c == NULL) {
		log_err("reload refused, the running configuration stays: %s",
		    err);
		return -1;
	}
	if ((n = free_gen(p)) < 0) {
		log_err("reload refused: previous reloads are still draining");
		conf_free(c);
		return -1;
	}
	if (!same_listeners(&c->daemon, &old->conf->daemon))
		log_warn("reload: listener changes take effect at restart");
	if (gen_start(p, &p->gens[n], c) < 0) {
		log_err("reload refused, the running configuration stays: the "
		    "new one did not start");
		return -1;
	}
	retire(old);
	p->cur = n;
	if (p->cache != NULL)
		conf_cache_counts(p->cache, &reused, &parsed);
	log_info("configuration reloaded from %s: %zu included file(s) read, "
	    "%zu unchanged; read in %llu ms, started in %llu ms", p->path,
	    parsed, reused, (unsigned long long)(t1 - t0) / 1000000,
	    (unsigned long long)(clock_mono_ns() - t1) / 1000000);
	return 0;
}
