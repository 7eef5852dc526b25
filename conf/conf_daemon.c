/*
 * conf_daemon.c - the daemon's part of the configuration: its section of
 * options and listeners, and how each institution is signed for (see
 * include/p11dkim/conf.h).  Values were checked as they were read
 * (conf_values.c); this copies them out of libconfuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/hosts.h"
#include "conf_int.h"

/* str_list - an owned NULL-terminated copy of a list option, or NULL */
static int
str_list(cfg_t *sec, const char *name, char ***out)
{
	unsigned n = cfg_size(sec, name);

	*out = NULL;
	if (n == 0)
		return 0;
	if ((*out = calloc(n + 1, sizeof(char *))) == NULL)
		return -1;
	for (unsigned k = 0; k < n; k++)
		if (((*out)[k] = strdup(cfg_getnstr(sec, name, k))) == NULL)
			return -1;
	return 0;
}

/* free_list - free a list from str_list */
static void
free_list(char **list)
{
	for (size_t k = 0; list != NULL && list[k] != NULL; k++)
		free(list[k]);
	free(list);
}

/* host_list - the parsed networks of a list option; NULL when empty */
static int
host_list(cfg_t *sec, const char *name, struct hosts **out)
{
	unsigned n = cfg_size(sec, name);
	const char **list;
	char	 err[128];

	*out = NULL;
	if (n == 0)
		return 0;
	if ((list = calloc(n, sizeof(*list))) == NULL)
		return -1;
	for (unsigned k = 0; k < n; k++)
		list[k] = cfg_getnstr(sec, name, k);
	*out = hosts_parse(list, n, err, sizeof(err));	/* checked when read */
	free(list);
	return *out == NULL ? -1 : 0;
}

/* ids - the user (or group) ids of a list of names or numbers */
static int
ids(cfg_t *sec, const char *name, int groups, void **out, size_t *n)
{
	size_t	 size = groups ? sizeof(gid_t) : sizeof(uid_t);
	unsigned count = cfg_size(sec, name);

	*out = NULL;
	*n = count;
	if (count == 0)
		return 0;
	if ((*out = calloc(count, size)) == NULL)
		return -1;
	for (unsigned k = 0; k < count; k++) {
		const char *v = cfg_getnstr(sec, name, k);
		int rc = groups ?
		    conf_resolve_group(v, (gid_t *)*out + k) :
		    conf_resolve_user(v, (uid_t *)*out + k);

		if (rc < 0)
			return -1;	/* checked when read; vanished since */
	}
	return 0;
}

/* conf_copy_signing - an institution's signing options into i */
int
conf_copy_signing(cfg_t *sec, struct conf_institution *i)
{
	struct dkim_err ignored;
	void	*u, *g;

	(void)dkim_canon_parse(cfg_getstr(sec, "canonicalization"),
	    &i->hcanon, &i->bcanon, &ignored);
	i->timestamp = cfg_getbool(sec, "timestamp") == cfg_true;
	i->expire = (unsigned long)cfg_getint(sec, "expire");
	i->nmilter_logins = cfg_size(sec, "milter-logins");
	if (str_list(sec, "headers", &i->headers) < 0 ||
	    str_list(sec, "oversign-headers", &i->oversign) < 0 ||
	    str_list(sec, "milter-logins", &i->milter_logins) < 0 ||
	    host_list(sec, "milter-hosts", &i->milter_hosts) < 0 ||
	    ids(sec, "allow-uids", 0, &u, &i->nallow_uids) < 0 ||
	    (i->allow_uids = u, ids(sec, "allow-gids", 1, &g,
	    &i->nallow_gids)) < 0)
		return -1;
	i->allow_gids = g;
	return 0;
}

/* quota_value - an institution's own value of a quota option, else root's */
static uint32_t
quota_value(cfg_t *root, cfg_t *sec, const char *name)
{
	cfg_t	*from = cfg_size(sec, name) > 0 ? sec : root;

	return cfg_size(from, name) > 0 ? (uint32_t)cfg_getint(from, name) : 0;
}

/* conf_copy_quota - rate, burst and daily-cap into i */
int
conf_copy_quota(cfg_t *root, cfg_t *sec, struct conf_institution *i,
    const char *file, char *err, size_t errlen)
{
	struct quota_limits *q = &i->quota;

	q->rate = quota_value(root, sec, "rate");
	q->burst = quota_value(root, sec, "burst");
	q->daily_cap = quota_value(root, sec, "daily-cap");
	if (q->rate == 0 && cfg_size(sec, "burst") > 0) {
		snprintf(err, errlen, "%s: institution '%s': burst = %u without "
		    "a rate: set rate too (messages a second)", file, i->code,
		    q->burst);
		return -1;
	}
	quota_limits_fix(q);
	return 0;
}

/* conf_free_signing - what conf_copy_signing allocated */
void
conf_free_signing(struct conf_institution *i)
{
	free_list(i->headers);
	free_list(i->oversign);
	free_list(i->milter_logins);
	i->milter_hosts = hosts_free(i->milter_hosts);
	free(i->allow_uids);
	free(i->allow_gids);
}

/* copy_listener - one listen section */
static int
copy_listener(cfg_t *sec, struct conf_listener *l)
{
	l->owner = (uid_t)-1;
	l->group = (gid_t)-1;
	if ((l->path = strdup(cfg_title(sec))) == NULL)
		return -1;
	if (cfg_size(sec, "owner") > 0 &&
	    conf_resolve_user(cfg_getstr(sec, "owner"), &l->owner) < 0)
		return -1;
	if (cfg_size(sec, "group") > 0 &&
	    conf_resolve_group(cfg_getstr(sec, "group"), &l->group) < 0)
		return -1;
	l->mode = (mode_t)strtol(cfg_getstr(sec, "mode"), NULL, 8);
	return 0;
}

/* copy_milter - the milter section, if any */
static int
copy_milter(cfg_t *root, struct conf_daemon *d)
{
	cfg_t	*sec;
	struct conf_milter *m;

	if (cfg_size(root, "milter") == 0)
		return 0;
	sec = cfg_getnsec(root, "milter", 0);
	if ((m = d->milter = calloc(1, sizeof(*m))) == NULL ||
	    (m->conn = strdup(cfg_title(sec))) == NULL)
		return -1;
	m->owner = (uid_t)-1;
	m->group = (gid_t)-1;
	if (cfg_size(sec, "owner") > 0 &&
	    conf_resolve_user(cfg_getstr(sec, "owner"), &m->owner) < 0)
		return -1;
	if (cfg_size(sec, "group") > 0 &&
	    conf_resolve_group(cfg_getstr(sec, "group"), &m->group) < 0)
		return -1;
	m->mode = (mode_t)strtol(cfg_getstr(sec, "mode"), NULL, 8);
	m->sign_authenticated = cfg_getbool(sec, "sign-authenticated") ==
	    cfg_true;
	m->single_tenant = cfg_getbool(sec, "single-tenant") == cfg_true;
	m->accept_on_token_failure = strcmp(cfg_getstr(sec,
	    "on-token-failure"), "accept") == 0;
	m->domain_from = strcmp(cfg_getstr(sec, "signing-domain"), "envelope")
	    == 0 ? CONF_DOMAIN_ENVELOPE : strcmp(cfg_getstr(sec,
	    "signing-domain"), "auth") == 0 ? CONF_DOMAIN_AUTH :
	    CONF_DOMAIN_FROM;
	if (cfg_size(sec, "stats-file") > 0 &&
	    (m->stats_file = strdup(cfg_getstr(sec, "stats-file"))) == NULL)
		return -1;
	return host_list(sec, "internal-hosts", &m->internal_hosts);
}

/* conf_check_milter_lists - milter-hosts and milter-logins vs the milter */
int
conf_check_milter_lists(cfg_t *sec, const struct conf *c,
    const struct conf_institution *i, char *err, size_t errlen)
{
	const struct conf_milter *m = c->daemon.milter;
	char	 why[128];

	if (m == NULL)
		return 0;		/* the lists wait for a milter section */
	if (i->nmilter_logins > 0 && !m->sign_authenticated) {
		snprintf(err, errlen, "%s: institution '%s': milter-logins "
		    "need sign-authenticated = true in the milter section",
		    c->path, i->code);
		return -1;
	}
	for (unsigned k = 0; k < cfg_size(sec, "milter-hosts"); k++) {
		const char *net = cfg_getnstr(sec, "milter-hosts", k);
		struct hosts *one = hosts_parse(&net, 1, why, sizeof(why));
		int	 inside = one != NULL && m->internal_hosts != NULL &&
		    hosts_within(one, m->internal_hosts);

		hosts_free(one);
		if (!inside) {
			snprintf(err, errlen, "%s: institution '%s': "
			    "milter-hosts '%s' is not inside the milter's "
			    "internal-hosts (its mail would pass unsigned)",
			    c->path, i->code, net);
			return -1;
		}
	}
	return 0;
}

/* conf_copy_daemon - the daemon options and listeners into c */
int
conf_copy_daemon(cfg_t *root, struct conf *c)
{
	struct conf_daemon *d = &c->daemon;
	void	*u, *g;
	int	 rc;

	d->workers = (unsigned)cfg_getint(root, "workers");
	d->signer_threads = (unsigned)cfg_getint(root, "signer-threads");
	d->sessions = (unsigned)cfg_getint(root, "sessions");
	d->strict_start = cfg_getbool(root, "strict-start") == cfg_true;
	d->open_threads = (unsigned)cfg_getint(root, "open-threads");
	d->max_sessions = (unsigned)cfg_getint(root, "max-sessions");
	d->max_header_bytes = (size_t)cfg_getint(root, "max-header-bytes");
	d->max_message_bytes = (size_t)cfg_getint(root, "max-message-bytes");
	d->idle_timeout = (unsigned)cfg_getint(root, "idle-timeout");
	d->io_timeout = (unsigned)cfg_getint(root, "io-timeout");
	d->request_timeout = (unsigned)cfg_getint(root, "request-timeout");
	d->drain_timeout = (unsigned)cfg_getint(root, "drain-timeout");
	/* By default one peer uid holds at most half the workers. */
	d->max_per_uid = cfg_size(root, "max-connections-per-uid") > 0 ?
	    (unsigned)cfg_getint(root, "max-connections-per-uid") :
	    d->workers > 1 ? d->workers / 2 : 1;
	d->log_stderr = strcmp(cfg_getstr(root, "log"), "stderr") == 0;
	d->sandbox = cfg_getbool(root, "sandbox") == cfg_true;
	d->trail_sync = (unsigned)cfg_getint(root, "trail-sync");
	d->trail_open_files = (unsigned)cfg_getint(root, "trail-open-files");
	d->trail_sign_anyway = strcmp(cfg_getstr(root, "trail-on-failure"),
	    "sign") == 0;
	d->require_separate_users = cfg_getbool(root,
	    "require-separate-users") == cfg_true;
	if ((cfg_size(root, "user") > 0 &&
	    (d->user = strdup(cfg_getstr(root, "user"))) == NULL) ||
	    (cfg_size(root, "pidfile") > 0 &&
	    (d->pidfile = strdup(cfg_getstr(root, "pidfile"))) == NULL) ||
	    (cfg_size(root, "signer-user") > 0 &&
	    (d->signer_user = strdup(cfg_getstr(root, "signer-user"))) == NULL) ||
	    (cfg_size(root, "trail-dir") > 0 &&
	    (d->trail_dir = strdup(cfg_getstr(root, "trail-dir"))) == NULL))
		return -1;
	rc = ids(root, "stats-allow-uids", 0, &u, &d->nstats_uids);
	d->stats_uids = u;	/* kept even half-built: conf_free frees it */
	if (rc == 0) {
		rc = ids(root, "stats-allow-gids", 1, &g, &d->nstats_gids);
		d->stats_gids = g;
	}
	if (rc < 0)
		return -1;
	d->metrics_allow_remote = cfg_getbool(root, "metrics-allow-remote") ==
	    cfg_true;
	if (cfg_size(root, "metrics-listen") > 0 && ((d->metrics_listen =
	    strdup(cfg_getstr(root, "metrics-listen"))) == NULL ||
	    conf_parse_inet(d->metrics_listen, &d->metrics_addr,
	    &d->metrics_addrlen) < 0))
		return -1;		/* parsed by cb_inet already */
	d->nlisten = cfg_size(root, "listen");
	if (d->nlisten > 0 &&
	    (d->listen = calloc(d->nlisten, sizeof(*d->listen))) == NULL)
		return -1;
	for (size_t k = 0; k < d->nlisten; k++)
		if (copy_listener(cfg_getnsec(root, "listen", (unsigned)k),
		    &d->listen[k]) < 0)
			return -1;
	return copy_milter(root, d);
}

/*
 * conf_privsep - see conf.h.  A child changes user only when the parent
 * is root (and the option is set); otherwise it keeps the parent's.  A
 * front that runs as root, or as the signer's user, could read the PIN
 * files and use the tokens if a flaw in the mail parser were exploited.
 */
int
conf_privsep(const struct conf_daemon *d, uid_t starter, char *why,
    size_t len)
{
	uid_t	 front = starter, signer = starter;

	if ((starter == 0 && d->user != NULL &&
	    conf_resolve_user(d->user, &front) < 0) ||
	    (starter == 0 && d->signer_user != NULL &&
	    conf_resolve_user(d->signer_user, &signer) < 0)) {
		snprintf(why, len, "user or signer-user no longer exists");
		return -1;
	}
	if (front != 0 && front != signer)
		return 0;
	if (front == 0)
		snprintf(why, len, "the fronts, which parse mail, would run as "
		    "root: set user (e.g. \"p11dkim\") and signer-user (e.g. "
		    "\"p11dkim-signer\")");
	else if (starter == 0)
		snprintf(why, len, "user and signer-user are the same user "
		    "(uid %lu): the fronts, which parse mail, could read the PIN "
		    "files and use the tokens", (unsigned long)front);
	else
		snprintf(why, len, "not started by root (uid %lu): the fronts, "
		    "which parse mail, run as the signer's user and could read "
		    "the PIN files", (unsigned long)front);
	return d->require_separate_users ? -1 : 1;
}

/* conf_free_daemon - what conf_copy_daemon allocated */
void
conf_free_daemon(struct conf_daemon *d)
{
	for (size_t k = 0; k < d->nlisten && d->listen; k++)
		free(d->listen[k].path);
	free(d->listen);
	if (d->milter != NULL) {
		free(d->milter->conn);
		free(d->milter->stats_file);
		hosts_free(d->milter->internal_hosts);
		free(d->milter);
	}
	free(d->user);
	free(d->pidfile);
	free(d->signer_user);
	free(d->trail_dir);
	free(d->stats_uids);
	free(d->stats_gids);
	free(d->metrics_listen);
}
