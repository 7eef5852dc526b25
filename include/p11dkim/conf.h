/*
 * conf.h - the configuration file shared by p11dkimd and p11dkim-keys
 * (libconfuse syntax; examples/p11dkim.conf shows every option).
 *
 * Everything is checked while the file is read: unknown options, wrong
 * types, missing required values, names that do not follow the DNS
 * grammar, an active selector that is not one of the institution's, a
 * domain claimed by two institutions.  Each error names file:line.
 */
#ifndef P11DKIM_CONF_H
#define P11DKIM_CONF_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "p11dkim/dkim_alg.h"
#include "p11dkim/quota.h"

#define CONF_SELECTORS		2	/* an active one and a standby */
#define CONF_CODE_MAX		32	/* institution code */
#define CONF_NAMES_MAX		256	/* header names in a list (sign_params) */
#define CONF_ERR_MAX		512
#define CONF_PIN_SPEC_MAX	255	/* a pin source: file:/PATH ... */
#define CONF_INIT_ARGS_MAX	1024	/* pkcs11-init-args, in bytes */
#define CONF_HEADER_BYTES_MAX	(1024 * 1024)	/* = DKIM_HEADER_BYTES_MAX */
#define CONF_LOGIN_MAX		256	/* a SASL login in milter-logins */

struct hosts;
struct conf_shared;

struct conf_institution {
	char	*code;			/* "mosa": the section title */
	char	**domains;		/* signing domains, lower case */
	size_t	 ndomains;
	int	 subdomains;		/* also sign for *.domain */
	char	*token_label;		/* default: the code */
	char	*token_serial;		/* NULL: match by label alone */
	char	*pin;			/* PIN source: file:PATH, fd:N, prompt */
	char	*selectors[CONF_SELECTORS];
	char	*active_selector;	/* the one signing until a rotation */
	enum dkim_alg alg;
	char	*key_type;		/* rsa2048, rsa3072, rsa4096, ed25519 */
	int	 optional;		/* the daemon may start without it */
	/* How the daemon signs for it. */
	enum dkim_canon hcanon, bcanon;	/* default relaxed/relaxed */
	char	**headers;		/* NULL: the default list */
	char	**oversign;		/* NULL: the default list */
	int	 timestamp;		/* t= (default on) */
	unsigned long expire;		/* x= after this many seconds; 0: none */
	uid_t	*allow_uids;		/* peers that may ask for signatures */
	size_t	 nallow_uids;
	gid_t	*allow_gids;
	size_t	 nallow_gids;
	/*
	 * Who may have it sign through the milter: client networks and
	 * SASL logins ("alice", or "*@domain" for every login of a domain).
	 * With neither, nobody, unless the milter is single-tenant.
	 */
	struct hosts *milter_hosts;	/* NULL: none listed */
	char	**milter_logins;	/* NULL-terminated; NULL: none */
	size_t	 nmilter_logins;
	/*
	 * Dual signing (RFC 8463 6): an ed25519-sha256 signature next to
	 * the rsa-sha256 one, under selectors of its own (a DNS name holds
	 * one key type), rotated together with the RSA selectors.
	 */
	int	 dual_sign;
	char	*dual_selectors[CONF_SELECTORS];	/* NULL unless dual */
	/*
	 * Signing quota (rate, burst, daily-cap): its own values, else the
	 * top-level ones; all 0: no limit.  burst is the rate when unset.
	 */
	struct quota_limits quota;
	/*
	 * Sign while the institution is pending (its DNS not confirmed by
	 * p11dkim-keys check-dns --promote): its own sign-pending, else the
	 * top-level one; default no (refused with a permanent failure).
	 */
	int	 sign_pending;
	/*
	 * The included file's copy this one shares with the cache and
	 * other configurations (conf_load_cached): its pointers are that
	 * copy's, freed with its last reference.  NULL: owned alone.
	 */
	struct conf_shared *shared;
};

/* Key kinds of an institution: its algorithm's, and the dual Ed25519. */
#define CONF_KIND_MAIN		0
#define CONF_KIND_DUAL		1

/* A native-protocol socket of the daemon. */
struct conf_listener {
	char	*path;
	uid_t	 owner;
	gid_t	 group;
	mode_t	 mode;
};

/* The milter front (libmilter). */
struct conf_milter {
	char	*conn;			/* "unix:/path" or "inet:port@host" */
	uid_t	 owner;			/* of a unix socket; -1: unchanged */
	gid_t	 group;
	mode_t	 mode;
	struct hosts *internal_hosts;	/* clients whose mail may be signed */
	int	 sign_authenticated;	/* also SASL-authenticated senders */
	int	 single_tenant;		/* institutions that list nobody: all */
	int	 accept_on_token_failure; /* 0: tempfail (default) */
	int	 domain_from;		/* CONF_DOMAIN_FROM, _ENVELOPE, _AUTH */
	char	*stats_file;		/* counters written here; NULL: none */
};

/* Where the milter takes the domain that chooses the institution. */
#define CONF_DOMAIN_FROM	0	/* the From header field */
#define CONF_DOMAIN_ENVELOPE	1	/* the envelope sender (MAIL FROM) */
#define CONF_DOMAIN_AUTH	2	/* the SASL login, if it has a domain */

struct conf_daemon {
	char	*user;			/* the fronts run as; NULL: no change */
	char	*signer_user;		/* the signer runs as; NULL: no change */
	int	 require_separate_users; /* refuse fronts as root or signer */
	int	 log_stderr;		/* 0: syslog */
	char	*pidfile;		/* the parent's pid; NULL: none */
	struct conf_listener *listen;
	size_t	 nlisten;
	unsigned workers;		/* requests served at once */
	unsigned signer_threads;
	unsigned sessions;		/* PKCS#11 sessions per token */
	int	 strict_start;		/* every institution's key, or no start */
	unsigned open_threads;		/* tokens logged in at once */
	unsigned max_sessions;		/* pool sessions, all tokens together */
	size_t	 max_header_bytes;
	size_t	 max_message_bytes;
	unsigned idle_timeout;		/* seconds */
	unsigned io_timeout;
	unsigned request_timeout;	/* a whole request, first byte to END */
	unsigned drain_timeout;
	int	 sandbox;		/* system call filters (default on) */
	unsigned max_per_uid;		/* connections of one peer uid at once */
	uid_t	*stats_uids;		/* may ask STATS (besides root and the */
	size_t	 nstats_uids;		/* front's own user) */
	gid_t	*stats_gids;
	size_t	 nstats_gids;
	struct conf_milter *milter;	/* NULL: no milter front */
	char	*metrics_listen;	/* "ADDRESS:PORT" of /metrics; NULL */
	struct sockaddr_storage metrics_addr;	/* the same, parsed */
	socklen_t metrics_addrlen;
	int	 metrics_allow_remote;	/* a non-loopback address is allowed */
	char	*trail_dir;		/* the signing trail; NULL: none */
	unsigned trail_sync;		/* seconds between syncs; 0: each record */
	unsigned trail_open_files;	/* trail files open at once */
	int	 trail_sign_anyway;	/* a record not written: sign still */
};

struct conf {
	char	*path;
	char	*module;		/* the PKCS#11 module */
	char	*module_init_args;	/* its C_Initialize pReserved; NULL */
	char	*provider_zone;		/* "dkim.example.net" */
	char	*record_name;		/* "sel%n-%c": %n, %s, %c expanded */
	char	*dual_record_name;	/* the same for dual-sign keys */
	char	*spf_include;		/* NULL: no SPF hint */
	char	*state_dir;		/* rotation state */
	char	*ceremony_log;
	struct conf_daemon daemon;
	struct conf_institution *inst;
	size_t	 ninst;
};

/*
 * The largest user or group id: uid_t and gid_t are 32 bits on Linux, and
 * (uid_t)-1 is not an id (chown(2) and setresuid(2) read it as "no change").
 */
#define CONF_ID_MAX		4294967294UL
#define CONF_ID_MAX_TEXT	"4294967294"

/*
 * conf_numeric_id - a user or group id written in digits: 1 with the
 * number in *id; 0 when s is not all digits (a name); -1 when it is a
 * number above CONF_ID_MAX.
 */
int	conf_numeric_id(const char *s, unsigned long *id);

/* conf_load - read and check a file; NULL with "file:line: why" in err */
struct conf *conf_load(const char *path, char *err, size_t errlen);

/*
 * conf_parse_inet - "127.0.0.1:9464" or "[::1]:9464" (numeric, port 1 to
 * 65535) into ss and len; 0, or -1
 */
int	conf_parse_inet(const char *text, struct sockaddr_storage *ss,
	    socklen_t *len);

/* conf_inet_loopback - is the address in 127.0.0.0/8, or ::1? */
int	conf_inet_loopback(const struct sockaddr_storage *ss);

/*
 * A reload's memory of the included files (conf/conf_cache.c): an
 * included file whose device, inode, size, mtime and ctime (to the
 * nanosecond) are those it had at the last reading is not read again;
 * its institutions are taken as they were.  The main file is always
 * read, and a change to it, to /etc/passwd or to /etc/group empties
 * the cache.  What needs the whole set (a code or domain claimed twice)
 * is checked at every reading.
 */
struct conf_cache;

/* conf_cache_new - an empty cache; NULL: no memory */
struct conf_cache *conf_cache_new(void);

/* conf_cache_free - NULL is fine; returns NULL */
struct conf_cache *conf_cache_free(struct conf_cache *);

/*
 * conf_load_cached - conf_load, with the included files that did not
 * change taken from cache (NULL: conf_load) and the cache brought up to
 * date
 */
struct conf *conf_load_cached(const char *path, struct conf_cache *cache,
	    char *err, size_t errlen);

/* conf_cache_counts - files taken from the cache and parsed, last reading */
void	conf_cache_counts(const struct conf_cache *, size_t *reused,
	    size_t *parsed);

/* conf_milter_path - the milter's socket file (unix: or local:); NULL */
const char *conf_milter_path(const struct conf_milter *);

/* conf_institution - the institution with this code, or NULL */
const struct conf_institution *conf_institution(const struct conf *,
	    const char *code);

/* conf_selector_index - 0 or 1 for one of the institution's selectors, or -1 */
int	conf_selector_index(const struct conf_institution *, const char *sel);

/* conf_kinds - 1, or 2 when the institution dual-signs */
size_t	conf_kinds(const struct conf_institution *);

/* conf_selector_name - selector i of a kind: "stxsel1", or "stxed1" */
const char *conf_selector_name(const struct conf_institution *, size_t i,
	    size_t kind);

/* conf_kind_alg - the algorithm of a kind of key */
enum dkim_alg conf_kind_alg(const struct conf_institution *, size_t kind);

/*
 * conf_record_name - the provider-side name of a selector's key record,
 * "sel1-mosa._domainkey.dkim.example.net" (no trailing dot).
 */
int	conf_record_name(const struct conf *, const struct conf_institution *,
	    size_t selector, size_t kind, char *out, size_t len);

/* conf_key_label - the token label of a selector's key: "mosa-stxsel1" */
int	conf_key_label(const struct conf_institution *, size_t selector,
	    size_t kind, char *out, size_t len);

/*
 * conf_privsep - are the fronts kept apart from the signer when p11dkimd
 * is started by uid starter?  Not when they would run as root or as the
 * signer's user.  0: apart; -1: not, and require-separate-users refuses
 * it; 1: not, but allowed.  Unless 0, why says what is wrong.
 */
int	conf_privsep(const struct conf_daemon *, uid_t starter, char *why,
	    size_t len);

/* conf_free - free; NULL is fine; returns NULL */
struct conf *conf_free(struct conf *);

#endif
