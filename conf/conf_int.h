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
int	cb_failure(cfg_t *, cfg_opt_t *, const char *, void *);
int	cb_signing_domain(cfg_t *, cfg_opt_t *, const char *, void *);

/* conf_milter_conn_ok - "unix:/PATH" or "inet:PORT@ADDRESS" */
int	conf_milter_conn_ok(const char *);

/* conf_code_ok - an institution code: lower-case letters, digits, '-' */
int	conf_code_ok(const char *);

/* conf_resolve_user - a user name or number */
int	conf_resolve_user(const char *, uid_t *);

/* conf_resolve_group - a group name or number */
int	conf_resolve_group(const char *, gid_t *);

/* conf_copy_daemon - the daemon section and listeners into c */
int	conf_copy_daemon(cfg_t *root, struct conf *c);

/* conf_copy_signing - an institution's signing options into i */
int	conf_copy_signing(cfg_t *sec, struct conf_institution *i);

/* conf_free_daemon - what conf_copy_daemon allocated */
void	conf_free_daemon(struct conf_daemon *);

/* conf_free_signing - what conf_copy_signing allocated */
void	conf_free_signing(struct conf_institution *);

#endif
