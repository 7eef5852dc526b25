/*
 * run.c - what every p11dkim-keys command shares: the institution, the
 * module and token opened on first use, the ceremony log and the checks
 * before a ceremony, confirmations, error reporting (see keys.h).
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11dkim/ceremony_log.h"
#include "p11dkim/key_audit.h"
#include "p11dkim/rotation_state.h"
#include "p11dkim/token_store.h"
#include "keys.h"

/* keys_fail - print "p11dkim-keys: why" on stderr; returns status */
int
keys_fail(int status, const char *fmt, ...)
{
	va_list	 ap;

	fputs("p11dkim-keys: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

/* keys_institution - the institution named by code, or a failure */
int
keys_institution(struct keys_run *r, const char *code)
{
	if ((r->inst = conf_institution(r->conf, code)) == NULL)
		return keys_fail(EX_USAGE, "no institution '%s' in %s", code,
		    r->conf_path);
	return EX_OK;
}

/* keys_status_of - the exit status for a token-layer error */
int
keys_status_of(const struct p11_err *err)
{
	if (err->rv == CKR_PIN_INCORRECT || err->rv == CKR_PIN_LOCKED)
		return EX_NOPERM;
	if (err->rv == CKR_TOKEN_NOT_PRESENT)
		return EX_UNAVAILABLE;
	return err->temporary ? EX_TEMPFAIL : EX_UNAVAILABLE;
}

/* keys_module - load the module (once) */
int
keys_module(struct keys_run *r)
{
	struct p11_err err;

	if (r->mod != NULL)
		return EX_OK;
	keys_interrupt_catch();
	if ((r->mod = p11_module_load_args(r->conf->module,
	    r->conf->module_init_args, &err)) == NULL)
		return keys_fail(EX_UNAVAILABLE, "%s", err.msg);
	return EX_OK;
}

/* keys_token - open the institution's token with its user PIN (once) */
int
keys_token(struct keys_run *r)
{
	struct pin_source *pin;
	struct p11_err err;
	char	 what[128];
	int	 st;

	if (r->tok != NULL)
		return EX_OK;
	if ((st = keys_module(r)) != EX_OK)
		return st;
	snprintf(what, sizeof(what), "user PIN of token '%s'",
	    r->inst->token_label);
	if ((pin = pin_source_parse(r->inst->pin, what, &err)) == NULL)
		return keys_fail(EX_NOPERM, "%s", err.msg);
	r->tok = token_open(r->mod, r->inst->token_label,
	    r->inst->token_serial, pin, 2, &err);
	if (r->tok == NULL && err.rv == CKR_TOKEN_NOT_PRESENT) {
		char	 msg[KEYS_WHY_MAX * 2];

		keys_token_hint(r, r->inst->token_serial, err.msg, msg,
		    sizeof(msg));
		return keys_fail(keys_status_of(&err), "%s", msg);
	}
	if (r->tok == NULL)
		return keys_fail(keys_status_of(&err), "%s", err.msg);
	return EX_OK;
}

/* keys_token_hint - err's message, with the token store's view of why */
void
keys_token_hint(struct keys_run *r, const char *serial, const char *msg,
    char *out, size_t len)
{
	char	 hint[KEYS_WHY_MAX * 2];
	int	 rc = token_store_hint(r->mod, serial, hint, sizeof(hint));

	if (snprintf(out, len, rc == TOKEN_STORE_VENDOR || rc == 0 ? "%s" :
	    "%s; %s", msg, hint) < 0)
		out[0] = '\0';
}

/* copy - bounded copy into a record field */
static void
copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* anchor_of - the ceremony log's anchor file, in the state folder; -1 */
static int
anchor_of(const struct keys_run *r, char *out, size_t len, char *err,
    size_t errlen)
{
	int	 n = snprintf(out, len, "%s/ceremony.anchor", r->conf->state_dir);

	if (n >= 0 && (size_t)n < len)
		return 0;
	snprintf(err, errlen, "state-dir '%s': name too long",
	    r->conf->state_dir);
	return -1;
}

/* keys_anchor_path - the ceremony log's anchor file, in the state folder */
int
keys_anchor_path(const struct keys_run *r, char *out, size_t len)
{
	char	 err[KEYS_WHY_MAX];

	if (anchor_of(r, out, len, err, sizeof(err)) < 0)
		return keys_fail(EX_USAGE, "%s", err);
	return EX_OK;
}

/* keys_log - append a ceremony record; failures to log are fatal */
int
keys_log(struct keys_run *r, const char *action, const char *selector,
    const char *fpr, const char *result)
{
	char	 err[KEYS_WHY_MAX];

	if (keys_log_err(r, action, selector, fpr, result, err,
	    sizeof(err)) < 0)
		return keys_fail(EX_IOERR, "%s", err);
	return EX_OK;
}

/* keys_log_err - append a ceremony record; -1 with why in err */
int
keys_log_err(struct keys_run *r, const char *action, const char *selector,
    const char *fpr, const char *result, char *err, size_t errlen)
{
	struct ceremony_record rec;
	char	 anchor[PATH_MAX];

	memset(&rec, 0, sizeof(rec));
	copy(rec.operator_name, sizeof(rec.operator_name), r->operator_name);
	if (gethostname(rec.host, sizeof(rec.host) - 1) < 0)
		copy(rec.host, sizeof(rec.host), "unknown");
	copy(rec.action, sizeof(rec.action), action);
	copy(rec.inst, sizeof(rec.inst), r->inst ? r->inst->code : "");
	copy(rec.selector, sizeof(rec.selector), selector);
	copy(rec.fpr, sizeof(rec.fpr), fpr);
	copy(rec.result, sizeof(rec.result), result);
	if (r->tok != NULL) {
		copy(rec.token_label, sizeof(rec.token_label),
		    token_info(r->tok)->label);
		copy(rec.token_serial, sizeof(rec.token_serial),
		    token_info(r->tok)->serial);
	} else if (r->inst != NULL) {
		copy(rec.token_label, sizeof(rec.token_label),
		    r->inst->token_label);
	}
	if (anchor_of(r, anchor, sizeof(anchor), err, errlen) < 0)
		return -1;
	keys_fault(r, "log");
	return ceremony_log_append(r->conf->ceremony_log, anchor, &rec, err,
	    errlen);
}

/* keys_ready - the log and (state) the rotation state can be written */
int
keys_ready(struct keys_run *r, int state)
{
	char	 err[KEYS_WHY_MAX];

	if (ceremony_log_check_append(r->conf->ceremony_log, err,
	    sizeof(err)) < 0)
		return keys_fail(EX_IOERR, "%s: nothing was done", err);
	if (state && rotation_state_check_save(r->conf, r->inst, err,
	    sizeof(err)) < 0)
		return keys_fail(EX_IOERR, "%s: nothing was done", err);
	return EX_OK;
}

/* keys_fault - a point where a test build may inject a fault */
void
keys_fault(struct keys_run *r, const char *point)
{
	if (r->fault != NULL)
		r->fault(point);
}

struct proof {
	const char *inst;
	const char *selector;
};

/* proof_match - a generate or destroy of the selector that went well */
static int
proof_match(void *ctx, const struct ceremony_record *rec)
{
	const struct proof *p = ctx;

	return strcmp(rec->inst, p->inst) == 0 &&
	    strcmp(rec->selector, p->selector) == 0 &&
	    ceremony_result_ok(rec->result) &&
	    (strcmp(rec->action, "generate") == 0 ||
	    strcmp(rec->action, "destroy") == 0);
}

/* keys_key_proven - does the log say we made this key, and kept it? */
int
keys_key_proven(struct keys_run *r, size_t i, size_t kind, const char *fpr,
    unsigned long *seq)
{
	struct proof p = { r->inst->code, conf_selector_name(r->inst, i,
	    kind) };
	struct ceremony_record rec;
	char	 err[KEYS_WHY_MAX];
	int	 rc;

	rc = ceremony_log_last(r->conf->ceremony_log, proof_match, &p, &rec,
	    err, sizeof(err));
	if (rc < 0) {
		keys_fail(EX_DATAERR, "%s", err);
		return -1;
	}
	*seq = rec.seq;
	return rc == 1 && strcmp(rec.action, "generate") == 0 &&
	    strcmp(rec.fpr, fpr) == 0;
}

/* keys_duration - "6 days 23 h 59 min", "12 min 5 s", "40 s" */
void
keys_duration(long long s, char *out, size_t len)
{
	long long d, h, m;

	if (s < 0)
		s = 0;
	d = s / 86400;
	h = s % 86400 / 3600;
	m = s % 3600 / 60;
	if (d > 0)
		snprintf(out, len, "%lld day%s %lld h %lld min", d,
		    d == 1 ? "" : "s", h, m);
	else if (h > 0)
		snprintf(out, len, "%lld h %lld min", h, m);
	else if (m > 0)
		snprintf(out, len, "%lld min %lld s", m, s % 60);
	else
		snprintf(out, len, "%lld s", s);
}

/* keys_selector - the index of a selector of the institution, or -1 */
int
keys_selector(struct keys_run *r, const char *sel)
{
	int	 k = conf_selector_index(r->inst, sel);

	if (k < 0)
		keys_fail(EX_USAGE, "'%s' is not a selector of %s (%s, %s)",
		    sel, r->inst->code, r->inst->selectors[0],
		    r->inst->selectors[1]);
	return k;
}

/* keys_key - the token's key for selector i of a kind, NULL when none */
struct p11_key *
keys_key(struct keys_run *r, size_t i, size_t kind)
{
	struct p11_err err;
	char	 label[128];

	if (conf_key_label(r->inst, i, kind, label, sizeof(label)) < 0)
		return NULL;
	return token_key(r->tok, label, &err);
}

/* keys_confirm - --yes, or the operator typed word: EX_OK, or why not */
int
keys_confirm(struct keys_run *r, const char *question, const char *word)
{
	char	 line[256];

	if (r->yes)
		return EX_OK;
	if (!isatty(STDIN_FILENO))
		return keys_fail(EX_USAGE, "no terminal to confirm on (%s): "
		    "add --yes; nothing destroyed", question);
	fprintf(stderr, "%s\nType '%s' to go on: ", question, word);
	keys_interrupt_prompt(1);
	if (keys_interrupted() || fgets(line, sizeof(line), stdin) == NULL)
		line[0] = '\0';
	keys_interrupt_prompt(0);
	line[strcspn(line, "\n")] = '\0';
	if (keys_interrupted())
		return keys_fail(EX_INTERRUPTED, "interrupted: nothing "
		    "destroyed");
	if (strcmp(line, word) != 0)
		return keys_fail(EX_USAGE, "not confirmed: nothing destroyed");
	return EX_OK;
}

/* json_string - a JSON string literal */
void
json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s != NULL && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}
