/*
 * conf_int.h - the inside of the configuration reader, shared by conf/
 * files only: the value checks libconfuse calls while reading
 * (conf_values.c) and the daemon part of the copy (conf_daemon.c).
 */
#ifndef P11DKIM_CONF_INT_H
#define P11DKIM_CONF_INT_H

#include <confuse.h>

#include "p11dkim/conf.h"

/* Parse callbacks: check a value, report file:line, hand it on. */
int	cb_domain(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_selector(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_path(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_pin(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_init_args(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_alg(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_key_type(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_record_name(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_canon(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_header_name(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_user(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_group(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_mode(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_log(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_count(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_seconds(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_timeout(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_host(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_inet(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_login(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_failure(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_trail_failure(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_signing_domain(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_quota(cfg_t *, cfg_opt_t *, const char *, void *);

/* conf_milter_conn_ok - "unix:/PATH" or "inet:PORT@ADDRESS" */
int	conf_milter_conn_ok(const char *);

/* conf_code_ok - an institution code: lower-case letters, digits, '-' */
int	conf_code_ok(const char *);

/* conf_resolve_user - a user name or number */
int	conf_resolve_user(const char *, uid_t *);

/* conf_resolve_group - a group name or number */
int	conf_resolve_group(const char *, gid_t *);

/* The files an include names, parsed (conf_include.c). */
struct conf_files {
	cfg_t	**cfg;
	size_t	 n, cap;
};

/* What the main reader lends the include reader. */
struct conf_include_hooks {
	void	(*prepare)(cfg_t *);		/* error and check functions */
	void	(*error)(char *err, size_t);	/* the first error, as text */
};

/*
 * conf_include_load - every file that root's `include` patterns name,
 * parsed with opts (institution sections only); -1 and why ("file:line:
 * ...") at the first error.  f holds what was parsed, also on failure.
 */
int	conf_include_load(cfg_t *root, const char *main_path, cfg_opt_t *opts,
	    const struct conf_include_hooks *, struct conf_files *f,
	    char *err, size_t errlen);

/*
 * conf_parse_file - cfg_parse of a regular file: libconfuse's scanner
 * exits the process when it cannot read what it opened (a folder), so
 * anything else is refused first.  CFG_SUCCESS, or CFG_PARSE_ERROR (the
 * error reported through the cfg's error function) or CFG_FILE_ERROR,
 * with why in err
 */
int	conf_parse_file(cfg_t *, const char *path, char *err, size_t errlen);

/* conf_include_free - every parsed file */
void	conf_include_free(struct conf_files *);

/* conf_copy_daemon - the daemon section and listeners into c */
int	conf_copy_daemon(cfg_t *root, struct conf *c);

/* conf_copy_signing - an institution's signing options into i */
int	conf_copy_signing(cfg_t *sec, struct conf_institution *i);

/*
 * conf_check_milter_lists - an institution's milter-hosts and
 * milter-logins against the milter section: networks inside
 * internal-hosts, logins only when authenticated senders are signed for.
 * 0, or -1 with "file: why" in err.
 */
int	conf_check_milter_lists(cfg_t *sec, const struct conf *c,
	    const struct conf_institution *i, char *err, size_t errlen);

/* conf_free_daemon - what conf_copy_daemon allocated */
void	conf_free_daemon(struct conf_daemon *);

/*
 * conf_copy_quota - an institution's rate, burst and daily-cap (its own,
 * else root's) into i; -1 with "file: why" in err for a burst without a
 * rate
 */
int	conf_copy_quota(cfg_t *root, cfg_t *sec, struct conf_institution *i,
	    const char *file, char *err, size_t errlen);

/* conf_free_signing - what conf_copy_signing allocated */
void	conf_free_signing(struct conf_institution *);

#endif
