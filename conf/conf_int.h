/*
 * conf_int.h - the inside of the configuration reader, shared by conf/
 * files only: the option tables (conf_opts.c), the value checks
 * libconfuse calls while reading (conf_values.c) and the daemon part of
 * the copy (conf_daemon.c).
 */
#ifndef P11DKIM_CONF_INT_H
#define P11DKIM_CONF_INT_H

#include <sys/stat.h>
#include <time.h>

#include <confuse.h>

#include "p11dkim/conf.h"

/*
 * The options of the main file and of an included one (conf_opts.c),
 * each ended by CFG_END(); cfg_init takes them.
 */
extern cfg_opt_t conf_root_opts[];
extern cfg_opt_t conf_file_opts[];

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

/* What identifies a file's content without reading it (conf_cache.c). */
struct conf_filekey {
	dev_t	 dev;
	ino_t	 ino;
	off_t	 size;
	struct timespec mtime, ctime;
};

/* conf_filekey_of - the key of a file from its stat */
void	conf_filekey_of(const struct stat *, struct conf_filekey *);

/* What the main reader lends the include reader. */
struct conf_include_hooks {
	void	(*prepare)(cfg_t *);		/* error and check functions */
	void	(*error)(char *err, size_t);	/* the first error, as text */
	/* one file the patterns name: 0, or -1 with why in err */
	int	(*file)(void *arg, const char *path, char *err, size_t);
	void	*arg;
};

/*
 * conf_include_each - every file that root's `include` patterns name,
 * in order, handed to h->file; -1 and why at the first error.
 */
int	conf_include_each(cfg_t *root, const char *main_path,
	    const struct conf_include_hooks *h, char *err, size_t errlen);

/*
 * conf_include_parse - one institutions file parsed with opts, its key
 * (taken before reading) in *key; NULL and why ("file:line: ...").
 */
cfg_t	*conf_include_parse(const char *path, cfg_opt_t *opts,
	    const struct conf_include_hooks *h, struct conf_filekey *key,
	    char *err, size_t errlen);

/*
 * conf_parse_file - cfg_parse of a regular file: libconfuse's scanner
 * exits the process when it cannot read what it opened (a folder), so
 * anything else is refused first.  CFG_SUCCESS, or CFG_PARSE_ERROR (the
 * error reported through the cfg's error function) or CFG_FILE_ERROR,
 * with why in err.  The file's key goes to *key unless key is NULL.
 */
int	conf_parse_file(cfg_t *, const char *path, struct conf_filekey *key,
	    char *err, size_t errlen);

/*
 * The institutions of one included file, shared by the cache and every
 * configuration built from it: refs counts the cache's reference and
 * one for each institution copied into a configuration.
 */
struct conf_shared {
	unsigned refs;
	size_t	 n;
	struct conf_institution inst[];
};

/* conf_shared_new - room for n institutions, one reference (the caller's) */
struct conf_shared *conf_shared_new(size_t n);

/* conf_shared_release - one reference less; freed with the last */
void	conf_shared_release(struct conf_shared *);

/* conf_institution_free - what an institution owns */
void	conf_institution_free(struct conf_institution *);

/*
 * The cache's part of a reading: begin (the cache emptied when the main
 * file, /etc/passwd or /etc/group changed), get (a file's institutions
 * if its key is unchanged), put (a file read now), end (after a reading
 * that named every file: the files it did not name are dropped).
 */
int	conf_cache_begin(struct conf_cache *, const char *main_path);
struct conf_shared *conf_cache_get(struct conf_cache *, const char *path,
	    const struct conf_filekey *);
void	conf_cache_put(struct conf_cache *, const char *path,
	    const struct conf_filekey *, struct conf_shared *);
void	conf_cache_end(struct conf_cache *);

/*
 * conf_cache_racy_ms - a file changed less than ms before a reading is
 * read again at the next (default 2,000: the steps of file times); for
 * tests, which cannot set a ctime back
 */
void	conf_cache_racy_ms(struct conf_cache *, unsigned ms);

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
