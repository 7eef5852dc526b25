/*
 * conf_values.c - the checks libconfuse runs on each value as it reads
 * it, so that an error names its line (see conf_int.h).
 */
#include <arpa/inet.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <confuse.h>

#include "p11dkim/hosts.h"
#include "p11dkim/quota.h"
#include "p11dkim/sign_params.h"
#include "conf_int.h"

/* value_error - report a bad value at the current line; -1 */
static int
value_error(cfg_t *cfg, cfg_opt_t *opt, const char *value, const char *why)
{
	cfg_error(cfg, "%s '%.64s': %s", opt->name, value, why);
	return -1;
}

/* keep - hand the checked value to libconfuse, which copies it */
static int
keep(const char *value, void *result)
{
	*(const char **)result = value;
	return 0;
}

/* cb_domain - a domain name (RFC 5321) */
int
cb_domain(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	if (sign_params_domain(value, NULL) < 0)
		return value_error(cfg, opt, value, "not a domain name");
	return keep(value, result);
}

/* cb_selector - a DKIM selector */
int
cb_selector(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	if (sign_params_selector(value, NULL) < 0)
		return value_error(cfg, opt, value, "not a selector (letters, "
		    "digits, inner hyphens)");
	return keep(value, result);
}

/* cb_path - an absolute path */
int
cb_path(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	if (value[0] != '/')
		return value_error(cfg, opt, value, "not an absolute path");
	return keep(value, result);
}

/* cb_pin - a PIN source: file:/PATH, fd:N or prompt */
int
cb_pin(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	if (strncmp(value, "file:/", 6) != 0 && value[0] != '/' &&
	    strncmp(value, "fd:", 3) != 0 && strcmp(value, "prompt") != 0)
		return value_error(cfg, opt, value, "not file:/PATH, fd:N or "
		    "prompt");
	if (strlen(value) > CONF_PIN_SPEC_MAX)
		return value_error(cfg, opt, value, "longer than 255 "
		    "characters");
	return keep(value, result);
}

/*
 * cb_init_args - the module's initialization string: one line of text,
 * bounded (it is handed to the module's C_Initialize as it is).
 */
int
cb_init_args(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	size_t	 len = strlen(value);

	if (len == 0 || len > CONF_INIT_ARGS_MAX)
		return value_error(cfg, opt, value, "1 to 1024 bytes");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			return value_error(cfg, opt, value, "a control "
			    "character");
	return keep(value, result);
}

/* cb_alg - a signing algorithm (rsa-sha1 refused, RFC 8301) */
int
cb_alg(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	struct dkim_err err;
	enum dkim_alg alg;

	if (dkim_alg_parse(value, &alg, &err) < 0)
		return value_error(cfg, opt, value, err.msg);
	return keep(value, result);
}

/* cb_key_type - rsa2048, rsa3072, rsa4096 or ed25519 */
int
cb_key_type(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	static const char *const types[] = { "rsa2048", "rsa3072", "rsa4096",
	    "ed25519", NULL };

	for (size_t i = 0; types[i] != NULL; i++)
		if (strcmp(value, types[i]) == 0)
			return keep(value, result);
	return value_error(cfg, opt, value, "not rsa2048, rsa3072, rsa4096 "
	    "or ed25519");
}

/*
 * cb_record_name - the provider-side record pattern: %c (institution
 * code) and %n (selector number) or %s (selector) must both be there, so
 * that every key has its own name; other characters must be selector
 * characters.
 */
int
cb_record_name(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	int	 code = 0, sel = 0;

	for (const char *p = value; *p; p++) {
		if (*p == '%') {
			p++;
			code |= *p == 'c';
			sel |= *p == 'n' || *p == 's';
			if (*p != 'c' && *p != 'n' && *p != 's')
				return value_error(cfg, opt, value, "only %c, "
				    "%n and %s may follow %");
		} else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' &&
		    *p <= '9') || *p == '-' || *p == '.')) {
			return value_error(cfg, opt, value, "lower-case "
			    "letters, digits, '-' and '.' only");
		}
	}
	if (!code || !sel)
		return value_error(cfg, opt, value, "needs %c and %n (or %s)");
	return keep(value, result);
}

/* cb_canon - a c= value: simple or relaxed, as header/body */
int
cb_canon(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	enum dkim_canon h, b;
	struct dkim_err err;

	if (dkim_canon_parse(value, &h, &b, &err) < 0)
		return value_error(cfg, opt, value, err.msg);
	return keep(value, result);
}

/* cb_header_name - a header field name, or "Prefix-*" */
int
cb_header_name(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	const char *one[] = { value, NULL };

	if (sign_params_names(one, opt->name, NULL) < 0)
		return value_error(cfg, opt, value, "not a header field name");
	return keep(value, result);
}

/* cb_user - a user name that exists, or a number in the uid range */
int
cb_user(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	unsigned long n;
	uid_t	 uid;

	if (conf_numeric_id(value, &n) < 0)
		return value_error(cfg, opt, value, "a user id must be from 0 "
		    "to " CONF_ID_MAX_TEXT);
	if (conf_resolve_user(value, &uid) < 0)
		return value_error(cfg, opt, value, "no such user");
	return keep(value, result);
}

/* cb_group - a group name that exists, or a number in the gid range */
int
cb_group(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	unsigned long n;
	gid_t	 gid;

	if (conf_numeric_id(value, &n) < 0)
		return value_error(cfg, opt, value, "a group id must be from 0 "
		    "to " CONF_ID_MAX_TEXT);
	if (conf_resolve_group(value, &gid) < 0)
		return value_error(cfg, opt, value, "no such group");
	return keep(value, result);
}

/* cb_mode - a file mode in octal, at most 0777 */
int
cb_mode(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	char	*end;
	long	 m = strtol(value, &end, 8);

	if (*value == '\0' || *end != '\0' || m < 0 || m > 0777)
		return value_error(cfg, opt, value, "not an octal mode like "
		    "0660");
	return keep(value, result);
}

/* cb_log - where the daemon logs */
int
cb_log(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	if (strcmp(value, "syslog") != 0 && strcmp(value, "stderr") != 0)
		return value_error(cfg, opt, value, "syslog or stderr");
	return keep(value, result);
}

/* cb_count - a whole number from 1 to 10^9 */
int
cb_count(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	char	*end;
	long	 n = strtol(value, &end, 10);

	if (*value == '\0' || *end != '\0' || n < 1 || n > 1000000000L)
		return value_error(cfg, opt, value, "a whole number from 1 to "
		    "1000000000");
	*(long *)result = n;
	return 0;
}

/* cb_seconds - a duration in seconds, 0 allowed */
int
cb_seconds(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	char	*end;
	long	 n = strtol(value, &end, 10);

	if (*value == '\0' || *end != '\0' || n < 0 || n > 1000000000L)
		return value_error(cfg, opt, value, "seconds, from 0 to "
		    "1000000000");
	*(long *)result = n;
	return 0;
}

/*
 * cb_quota - rate, burst or daily-cap: a whole number in the option's
 * range (include/p11dkim/quota.h); 0 is no limit, except for a burst
 */
int
cb_quota(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	int	 burst = strcmp(opt->name, "burst") == 0;
	long	 max = burst ? QUOTA_BURST_MAX : strcmp(opt->name, "rate") == 0 ?
	    QUOTA_RATE_MAX : QUOTA_DAILY_MAX;
	char	*end, why[96];
	long	 n = strtol(value, &end, 10);

	if (*value == '\0' || *end != '\0' || n < (burst ? 1 : 0) || n > max) {
		snprintf(why, sizeof(why), "a whole number from %d to %ld%s",
		    burst ? 1 : 0, max, burst ? " (messages)" :
		    strcmp(opt->name, "rate") == 0 ? " (messages a second; 0: "
		    "no limit)" : " (messages a UTC day; 0: no limit)");
		return value_error(cfg, opt, value, why);
	}
	*(long *)result = n;
	return 0;
}

/*
 * conf_parse_inet - "127.0.0.1:9464" or "[::1]:9464": a numeric address
 * (no name is looked up) and a port from 1 to 65535; 0, or -1
 */
int
conf_parse_inet(const char *text, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char	 host[INET6_ADDRSTRLEN + 2], *end;
	const char *colon = strrchr(text, ':');
	size_t	 n = colon != NULL ? (size_t)(colon - text) : 0;
	unsigned long port;

	if (colon == NULL || n == 0 || n >= sizeof(host) || colon[1] < '0' ||
	    colon[1] > '9')
		return -1;
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535)
		return -1;
	memcpy(host, text, n);
	host[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[n - 1] == ']') {
		host[n - 1] = '\0';
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1 ? 0 :
		    -1;
	}
	in4->sin_family = AF_INET;
	in4->sin_port = htons((uint16_t)port);
	*len = sizeof(*in4);
	return inet_pton(AF_INET, host, &in4->sin_addr) == 1 ? 0 : -1;
}

/* conf_inet_loopback - is the address 127.0.0.0/8 or ::1? */
int
conf_inet_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	return ss->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
}

/* cb_inet - an address and port to listen on (conf_parse_inet) */
int
cb_inet(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (conf_parse_inet(value, &ss, &len) < 0)
		return value_error(cfg, opt, value, "not ADDRESS:PORT (a "
		    "numeric IPv4 address, or an IPv6 one in brackets)");
	return keep(value, result);
}

/* cb_host - an internal host: an address, or address/prefix */
int
cb_host(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	const char *one[] = { value };
	char	 err[128];
	struct hosts *h = hosts_parse(one, 1, err, sizeof(err));

	if (h == NULL)
		return value_error(cfg, opt, value, "not an address or "
		    "address/prefix");
	hosts_free(h);
	return keep(value, result);
}

/*
 * cb_login - a SASL login as the MTA reports it ({auth_authen}), or
 * "*@DOMAIN" for every login in that domain.  No other wildcard: a '*'
 * anywhere else is refused rather than taken literally.
 */
int
cb_login(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	size_t	 n = strlen(value);

	if (strncmp(value, "*@", 2) == 0) {
		if (sign_params_domain(value + 2, NULL) < 0)
			return value_error(cfg, opt, value, "not *@DOMAIN with "
			    "a domain name");
		return keep(value, result);
	}
	if (n == 0 || n > CONF_LOGIN_MAX)
		return value_error(cfg, opt, value, "a login is 1 to 256 "
		    "bytes");
	for (size_t k = 0; k < n; k++)
		if ((unsigned char)value[k] <= ' ' || value[k] == 0x7f ||
		    value[k] == '*')
			return value_error(cfg, opt, value, "a login (no "
			    "spaces, control characters or '*'), or *@DOMAIN");
	return keep(value, result);
}

/* cb_failure - what the milter does when signing fails for now */
int
cb_failure(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	if (strcmp(value, "tempfail") != 0 && strcmp(value, "accept") != 0)
		return value_error(cfg, opt, value, "tempfail or accept");
	return keep(value, result);
}

/* cb_trail_failure - a signature whose trail record cannot be written */
int
cb_trail_failure(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result)
{
	if (strcmp(value, "tempfail") != 0 && strcmp(value, "sign") != 0)
		return value_error(cfg, opt, value, "tempfail or sign");
	return keep(value, result);
}

/* cb_signing_domain - where the milter takes the signing domain from */
int
cb_signing_domain(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result)
{
	if (strcmp(value, "from") != 0 && strcmp(value, "envelope") != 0 &&
	    strcmp(value, "auth") != 0)
		return value_error(cfg, opt, value, "from, envelope or auth");
	return keep(value, result);
}

/* conf_milter_conn_ok - "unix:/PATH" or "inet:PORT@ADDRESS" */
int
conf_milter_conn_ok(const char *s)
{
	const char *at;
	char	*end;
	long	 port;

	if (strncmp(s, "unix:/", 6) == 0 || strncmp(s, "local:/", 7) == 0)
		return 1;
	if (strncmp(s, "inet:", 5) != 0 && strncmp(s, "inet6:", 6) != 0)
		return 0;
	port = strtol(strchr(s, ':') + 1, &end, 10);
	at = end;
	return port > 0 && port < 65536 && *at == '@' && at[1] != '\0';
}

/* conf_milter_path - the milter's socket file (unix: or local:); NULL */
const char *
conf_milter_path(const struct conf_milter *m)
{
	if (m == NULL)
		return NULL;
	if (strncmp(m->conn, "unix:", 5) == 0)
		return m->conn + 5;
	if (strncmp(m->conn, "local:", 6) == 0)
		return m->conn + 6;
	return NULL;
}

/* cb_timeout - a timeout in seconds: 1 to a day */
int
cb_timeout(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	char	*end;
	long	 n = strtol(value, &end, 10);

	if (*value == '\0' || *end != '\0' || n < 1 || n > 86400)
		return value_error(cfg, opt, value, "seconds, from 1 to 86400");
	*(long *)result = n;
	return 0;
}

/*
 * conf_numeric_id - an id written as a number.  Only digits count (no
 * sign, no blanks); the value must fit uid_t and gid_t and must not be
 * (uid_t)-1, which chown(2) and setresuid(2) read as "no change":
 * without the check, 4294967296 would wrap to uid 0.
 */
_Static_assert((uid_t)-1 - 1 == CONF_ID_MAX && (gid_t)-1 - 1 == CONF_ID_MAX,
    "CONF_ID_MAX is the largest uid_t and gid_t but one");

int
conf_numeric_id(const char *s, unsigned long *id)
{
	unsigned long n = 0;

	if (*s == '\0')
		return 0;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	for (const char *p = s; *p; p++) {
		if (n > (CONF_ID_MAX - (unsigned long)(*p - '0')) / 10)
			return -1;
		n = n * 10 + (unsigned long)(*p - '0');
	}
	*id = n;
	return 1;
}

/* conf_resolve_user - a user name or number */
int
conf_resolve_user(const char *s, uid_t *uid)
{
	struct passwd *pw;
	unsigned long n;
	int	 rc = conf_numeric_id(s, &n);

	if (rc != 0) {
		*uid = (uid_t)n;
		return rc > 0 ? 0 : -1;
	}
	if ((pw = getpwnam(s)) == NULL)
		return -1;
	*uid = pw->pw_uid;
	return 0;
}

/* conf_resolve_group - a group name or number */
int
conf_resolve_group(const char *s, gid_t *gid)
{
	struct group *gr;
	unsigned long n;
	int	 rc = conf_numeric_id(s, &n);

	if (rc != 0) {
		*gid = (gid_t)n;
		return rc > 0 ? 0 : -1;
	}
	if ((gr = getgrnam(s)) == NULL)
		return -1;
	*gid = gr->gr_gid;
	return 0;
}

/* code_ok - an institution code: lower-case letters, digits, '-' */
int
conf_code_ok(const char *code)
{
	size_t	 n = strlen(code);

	if (n == 0 || n > CONF_CODE_MAX || code[0] == '-' || code[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((code[i] >= 'a' && code[i] <= 'z') ||
		    (code[i] >= '0' && code[i] <= '9') || code[i] == '-'))
			return 0;
	return 1;
}

