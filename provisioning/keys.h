/*
 * keys.h - the inside of p11dkim-keys, shared by its command files only.
 *
 * One run: the configuration, the module (loaded on first use), the
 * institution's token (opened on first use), the output mode, and the
 * ceremony log writer.  Commands return an exit status (sysexits.h).
 */
#ifndef P11DKIM_KEYS_H
#define P11DKIM_KEYS_H

#include <stdio.h>
#include <sysexits.h>

#include "p11dkim/conf.h"
#include "p11dkim/token.h"

#define EX_CHECK_FAILED	1	/* audit, check-dns, log verify said no */

struct keys_run {
	const char *conf_path;
	struct conf *conf;
	struct p11_module *mod;
	struct token *tok;		/* of inst */
	const struct conf_institution *inst;
	const char *operator_name;
	int	 json;
	int	 yes;			/* confirmed on the command line */
	char	 argv0[64];
};

/* A subcommand: name, one-line summary, usage, handler. */
struct keys_cmd {
	const char *name;
	const char *summary;
	const char *usage;
	int	(*run)(struct keys_run *, int argc, char **argv);
};

/* keys_fail - print "p11dkim-keys: why" on stderr; returns status */
int	keys_fail(int status, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* keys_institution - the institution named by code, or a failure */
int	keys_institution(struct keys_run *, const char *code);

/* keys_module - load the module (once) */
int	keys_module(struct keys_run *);

/* keys_token - open the institution's token with its user PIN (once) */
int	keys_token(struct keys_run *);

/* keys_status_of - the exit status for a token-layer error */
int	keys_status_of(const struct p11_err *);

/* keys_log - append a ceremony record; failures to log are fatal */
int	keys_log(struct keys_run *, const char *action, const char *selector,
	    const char *fpr, const char *result);

/* keys_selector - the index of a selector of the institution, or -1 */
int	keys_selector(struct keys_run *, const char *sel);

/* keys_key - the token's key for selector i of a kind, NULL when none */
struct p11_key *keys_key(struct keys_run *, size_t i, size_t kind);

/* keys_confirm - ask the operator to type word; 1 when they did */
int	keys_confirm(struct keys_run *, const char *question, const char *word);

struct dns_zone;
struct buf;

/* keys_key_txt - the TXT text of a key: "v=DKIM1; k=rsa; p=..." */
int	keys_key_txt(struct p11_key *, struct buf *out);

/* keys_revoked_txt - the TXT text that revokes a selector: "p=" empty */
int	keys_revoked_txt(struct keys_run *, size_t kind, struct buf *out);

/*
 * keys_check_selector - what DNS says of selector i's key record: from
 * zone when not NULL, else a live lookup.  Returns an enum dns_check, or
 * -1 when the lookup itself failed (why says so).
 */
int	keys_check_selector(struct keys_run *, size_t i, size_t kind,
	    const struct dns_zone *zone, char *why, size_t whylen);

/* keys_load_zone - a zone file or dig output ("-": stdin) */
int	keys_load_zone(const char *path, struct dns_zone *);

/* keys_parse_type - "rsa2048" ... "ed25519" into a type and size; -1 */
int	keys_parse_type(const char *, enum p11_key_type *, unsigned *bits);

/* keys_getopt_reset - before a command parses its own options */
void	keys_getopt_reset(void);

/* json_string - a JSON string literal */
void	json_string(FILE *, const char *);

/*
 * keys_generate_for - generate selector i's keys (every kind: the dual
 * Ed25519 key too when the institution dual-signs), log, report.  A key
 * the token cannot make or use is refused before the token is touched;
 * flags: KEYGEN_STRICT or 0.
 */
int	keys_generate_for(struct keys_run *, size_t i, const char *type,
	    unsigned flags);

int	cmd_init_token(struct keys_run *, int, char **);
int	cmd_token_info(struct keys_run *, int, char **);
int	cmd_generate(struct keys_run *, int, char **);
int	cmd_destroy(struct keys_run *, int, char **);
int	cmd_list(struct keys_run *, int, char **);
int	cmd_audit(struct keys_run *, int, char **);
int	cmd_dns(struct keys_run *, int, char **);
int	cmd_check_dns(struct keys_run *, int, char **);
int	cmd_rotate(struct keys_run *, int, char **);
int	cmd_log(struct keys_run *, int, char **);

#endif
