/*
 * keys.h - the inside of p11dkim-keys, shared by its command files only.
 *
 * One run: the configuration, the module (loaded on first use), the
 * institution's token (opened on first use), the output mode, and the
 * ceremony log writer.  Commands return an exit status (sysexits.h).
 *
 * A ceremony checks everything it needs (the log appendable, the state
 * directory writable, the PIN source, the token) before it changes the
 * token; a step that fails after that undoes what it made, or leaves
 * what the next run resumes from (see docs/p11dkim-keys.md).
 */
#ifndef P11DKIM_KEYS_H
#define P11DKIM_KEYS_H

#include <stdio.h>
#include <sysexits.h>

#include <openssl/evp.h>

#include "p11dkim/conf.h"
#include "p11dkim/token.h"

#define EX_CHECK_FAILED	1	/* audit, check-dns, log verify said no */
#define EX_INTERRUPTED	130	/* a signal stopped the command early */
#define KEYS_WHY_MAX	512	/* an error message */

struct token_store_folders;
struct keys_pub;

struct keys_run {
	const char *conf_path;
	struct conf *conf;
	struct p11_module *mod;
	struct token *tok;		/* of inst */
	const struct conf_institution *inst;
	const char *operator_name;
	int	 json;
	int	 yes;			/* confirmed on the command line */
	const char *owner;		/* --owner: the token folder's owner */
	struct token_store_folders *folders;	/* listed once, or NULL */
	int	 from_token;		/* --from-token: public keys too */
	struct keys_pub *pub;		/* public keys read (keys_public) */
	char	 init_serial[P11_SERIAL_MAX + 1];	/* made by init-token */
	void	(*fault)(const char *point);	/* test builds only */
	char	 argv0[64];
};

/* A subcommand: name, one-line summary, usage, handler. */
struct keys_cmd {
	const char *name;
	const char *summary;
	const char *usage;
	int	(*run)(struct keys_run *, int argc, char **argv);
};

/*
 * keys_interrupt_catch - from the module's loading on, SIGINT, SIGTERM,
 * SIGHUP and SIGQUIT are noted instead of killing the process (a token
 * store killed in mid-write can lose a token); commands poll
 * keys_interrupted() at their safe points, main() reports it with
 * keys_interrupt_status() (EX_INTERRUPTED) after C_Finalize.
 * keys_interrupt_prompt(1) lets a signal end a read from the terminal,
 * keys_interrupt_prompt(0) restores restarted reads.
 */
void	keys_interrupt_catch(void);
void	keys_interrupt_prompt(int on);
int	keys_interrupted(void);
int	keys_interrupt_status(void);

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

/* keys_anchor_path - <state-dir>/ceremony.anchor, or a failure status */
int	keys_anchor_path(const struct keys_run *, char *out, size_t len);

/* keys_log - append a ceremony record (and its anchor); failures are fatal */
int	keys_log(struct keys_run *, const char *action, const char *selector,
	    const char *fpr, const char *result);

/* keys_log_err - the same, silent: -1 with why in err */
int	keys_log_err(struct keys_run *, const char *action,
	    const char *selector, const char *fpr, const char *result,
	    char *err, size_t errlen);

/*
 * keys_ready - before a step changes the token or the state: the log can
 * be appended to, and (state) the rotation state can be saved.  Prints
 * why not and returns the status; EX_OK when all is ready.
 */
int	keys_ready(struct keys_run *, int state);

/*
 * keys_fault - a named point of a ceremony ("token" before a token is
 * changed, "log" before a log record, "state" before a state save),
 * where a test build can inject a fault; nothing in a normal build.
 */
void	keys_fault(struct keys_run *, const char *point);

/*
 * keys_key_proven - is the key on the token for selector i (kind), with
 * fingerprint fpr, one our ceremony log says was generated and not
 * destroyed since?  1 (record number in *seq), 0, or -1 (log broken or
 * unreadable: printed).
 */
int	keys_key_proven(struct keys_run *, size_t i, size_t kind,
	    const char *fpr, unsigned long *seq);

/* keys_duration - "6 days 23 h 59 min", "12 min 5 s", "40 s" */
void	keys_duration(long long seconds, char *out, size_t len);

/* keys_owner_ready - --owner names a user we may give files to */
int	keys_owner_ready(struct keys_run *);

/*
 * keys_store_settle - after a command on a SoftHSM2 token: with --owner,
 * give the token's folder and files to that user; then warn when the
 * user who must use them (--owner, signer-user, or the folder's owner
 * when we are root) cannot.  Returns a failure status only when --owner
 * could not be done.
 */
int	keys_store_settle(struct keys_run *);

/* keys_token_hint - err's message, with the token store's view of why */
void	keys_token_hint(struct keys_run *, const char *serial,
	    const char *msg, char *out, size_t len);

/* keys_selector - the index of a selector of the institution, or -1 */
int	keys_selector(struct keys_run *, const char *sel);

/* keys_key - the token's key for selector i of a kind, NULL when none */
struct p11_key *keys_key(struct keys_run *, size_t i, size_t kind);

/*
 * keys_confirm - before destroying: --yes, or the operator types word on
 * the terminal.  EX_OK, or (printed) EX_USAGE when not confirmed or
 * when there is no terminal to ask on.
 */
int	keys_confirm(struct keys_run *, const char *question, const char *word);

/*
 * keys_public - selector i's public key of a kind, for commands that need
 * no more: from its public key record (<state-dir>/<code>.<selector>.spki)
 * when the ceremony log vouches for it, without loading the module; from
 * the token with --from-token (r->from_token), or, with a note, when
 * the log shows a key that has no record.  EX_OK with *pk (owned by the
 * run; NULL: no key), or a printed status: a record the log does not
 * vouch for, or a log that does not verify, is refused.
 */
int	keys_public(struct keys_run *, size_t i, size_t kind, EVP_PKEY **pk);

/*
 * keys_publics - every public key of r->inst through keys_public(), so
 * that a command refuses what it cannot trust before it prints anything;
 * EX_OK or the printed status.  keys_pub_key() then gives each (NULL:
 * none, or not read).
 */
int	keys_publics(struct keys_run *);
EVP_PKEY *keys_pub_key(struct keys_run *, size_t i, size_t kind);

/* keys_public_free - what keys_public() read; at the end of a run */
void	keys_public_free(struct keys_run *);

/* keys_record_path - selector i's record (kind); EX_OK or printed */
int	keys_record_path(struct keys_run *, size_t i, size_t kind, char *out,
	    size_t len);

/* keys_record_write - the record of selector i (kind) holds pk; -1 err */
int	keys_record_write(struct keys_run *, size_t i, size_t kind,
	    EVP_PKEY *pk, char *err, size_t errlen);

/* keys_record_remove - the record of selector i (kind) is gone; -1 err */
int	keys_record_remove(struct keys_run *, size_t i, size_t kind,
	    char *err, size_t errlen);

/*
 * keys_logged_fpr - the fingerprint of selector i's key (kind) by the
 * log: its last good generate, "" when none or destroyed since; -1
 * (printed) when the log does not verify
 */
int	keys_logged_fpr(struct keys_run *, size_t i, size_t kind, char *fpr,
	    size_t len);

/* What keys_record_compare() found. */
#define KEYS_RECORD_SAME	0	/* the record holds the key */
#define KEYS_RECORD_NONE	1	/* neither a record nor a key */
#define KEYS_RECORD_MISSING	2	/* a key, no record */
#define KEYS_RECORD_OTHER	3	/* a record of another key */
#define KEYS_RECORD_NO_KEY	4	/* a record, no key (pk NULL) */

/*
 * keys_record_compare - selector i's record (kind) against pk (the
 * token's key, or NULL): a KEYS_RECORD_ value, with the record's path
 * and the key's fingerprint (or ""), or -1 (err) when the record cannot
 * be read.  The log is not asked.
 */
int	keys_record_compare(struct keys_run *, size_t i, size_t kind,
	    EVP_PKEY *pk, char *path, size_t plen, char *fpr, char *err,
	    size_t errlen);

/*
 * keys_records_audit - audit: each record of r->inst against its token's
 * key (token open); with write, write a missing or different record from
 * a token key the log vouches for.  Returns the count of problems.
 */
int	keys_records_audit(struct keys_run *, int write);

struct dns_zone;
struct buf;

/* keys_key_txt - the TXT text of a key: "v=DKIM1; k=rsa; p=..." */
int	keys_key_txt(EVP_PKEY *, struct buf *out);

/* keys_revoked_txt - the TXT text that revokes a selector: "p=" empty */
int	keys_revoked_txt(struct keys_run *, size_t kind, struct buf *out);

/*
 * keys_check_selector - what DNS says of selector i's key record: from
 * zone when not NULL, else a live lookup.  Returns an enum dns_check, or
 * -1 when the lookup itself failed (why says so).
 */
int	keys_check_selector(struct keys_run *, size_t i, size_t kind,
	    const struct dns_zone *zone, char *why, size_t whylen);

/* keys_check_key - the same for a key in hand (NULL: none on the token) */
int	keys_check_key(struct keys_run *, size_t i, size_t kind,
	    EVP_PKEY *, const struct dns_zone *zone, char *why,
	    size_t whylen);

/*
 * keys_published_txt - the TXT record at name, from zone or looked up:
 * 1 found (appended to out), 0 none, -1 the lookup failed (why)
 */
int	keys_published_txt(const char *name, const struct dns_zone *zone,
	    struct buf *out, char *why, size_t whylen);

/*
 * keys_check_cname - does the CNAME at owner point at target?  "ok",
 * "missing", "wrong target" or "lookup failed"
 */
const char *keys_check_cname(const char *owner, const char *target,
	    const struct dns_zone *zone);

/*
 * keys_cnames_ok - every CNAME of selector i (kind), one per domain of
 * the institution: "ok"; else the first that is not, its owner in owner
 */
const char *keys_cnames_ok(struct keys_run *, size_t i, size_t kind,
	    const struct dns_zone *zone, char *owner, size_t olen,
	    char *target, size_t tlen);

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

/*
 * keys_generate_check - the key type fits the institution, and its token
 * can make and use such keys (every kind); EX_OK or printed status
 */
int	keys_generate_check(struct keys_run *, size_t i, const char *type);

/* keys_generate_kind - generate selector i's key of one kind (flags) */
int	keys_generate_kind(struct keys_run *, size_t i, size_t kind,
	    const char *type, unsigned flags);

/*
 * keys_destroy_selector - destroy selector i's keys, logging each; a
 * kind already gone is noted and passed over (an earlier run was cut
 * short).  The caller made sure at least one is there.
 */
int	keys_destroy_selector(struct keys_run *, size_t i, const char *how);

/* keys_have_key - 1 when selector i has its key of this kind */
int	keys_have_key(struct keys_run *, size_t i, size_t kind);

struct rotation_state;

/*
 * keys_state_save - save the state rs, then log action; when the log will
 * not take it, put old back.  EX_OK or a printed status.
 */
int	keys_state_save(struct keys_run *, const struct rotation_state *old,
	    const struct rotation_state *rs, const char *action,
	    const char *sel, const char *fpr);

/* keys_onboard_set - move the institution to live or pending, logged */
int	keys_onboard_set(struct keys_run *, const struct rotation_state *old,
	    int onboard_state, const char *action);

/* keys_onboard_new - a new institution (no state file) starts pending */
int	keys_onboard_new(struct keys_run *, const struct rotation_state *old);

/*
 * keys_promote - live when every CNAME of the institution is in place
 * and the active selector's record holds the token's key; else refused,
 * naming the record (EX_CHECK_FAILED)
 */
int	keys_promote(struct keys_run *, const struct dns_zone *zone);

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
int	cmd_preflight(struct keys_run *, int, char **);
int	cmd_demote(struct keys_run *, int, char **);
int	cmd_dns_watch(struct keys_run *, int, char **);
int	cmd_trail(struct keys_run *, int, char **);

#endif
