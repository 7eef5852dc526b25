/*
 * run.c - what every p11dkim-keys command shares: the institution, the
 * module and token opened on first use, the ceremony log, confirmations,
 * error reporting (see keys.h).
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11dkim/ceremony_log.h"
#include "p11dkim/key_audit.h"
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
	if (r->tok == NULL)
		return keys_fail(keys_status_of(&err), "%s", err.msg);
	return EX_OK;
}

/* copy - bounded copy into a record field */
static void
copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* keys_log - append a ceremony record; failures to log are fatal */
int
keys_log(struct keys_run *r, const char *action, const char *selector,
    const char *fpr, const char *result)
{
	struct ceremony_record rec;
	char	 err[512];

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
	if (ceremony_log_append(r->conf->ceremony_log, &rec, err,
	    sizeof(err)) < 0)
		return keys_fail(EX_IOERR, "ceremony log: %s", err);
	return EX_OK;
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

/* keys_confirm - ask the operator to type word; 1 when they did */
int
keys_confirm(struct keys_run *r, const char *question, const char *word)
{
	char	 line[256];

	if (r->yes)
		return 1;
	if (!isatty(STDIN_FILENO)) {
		keys_fail(EX_USAGE, "%s: confirm with --yes (no terminal)",
		    question);
		return 0;
	}
	fprintf(stderr, "%s\nType '%s' to go on: ", question, word);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	line[strcspn(line, "\n")] = '\0';
	return strcmp(line, word) == 0;
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
