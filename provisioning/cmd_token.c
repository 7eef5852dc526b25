/*
 * cmd_token.c - p11dkim-keys init-token: an institution's token,
 * initialized and labelled, with its security officer and user PINs.
 *
 * Security: PINs come from a prompt (typed twice, not echoed) or from
 * file:/fd: sources for scripted set-ups; never from argv.  Both are
 * wiped when done.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/rotation_state.h"
#include "p11dkim/token_admin.h"
#include "keys.h"

#define PIN_MIN_DEFAULT	8

/* get_new_pin - a new PIN from src, or typed twice */
static int
get_new_pin(const char *src, const char *what, size_t min, struct pin *p)
{
	struct pin_source *s;
	struct p11_err err;
	int	 rc;

	if (src == NULL) {
		if (pin_prompt_twice(what, min, p, &err) < 0)
			return keys_fail(EX_USAGE, "%s", err.msg);
		return EX_OK;
	}
	if ((s = pin_source_parse(src, what, &err)) == NULL)
		return keys_fail(EX_NOPERM, "%s", err.msg);
	rc = pin_get(s, p, &err);
	pin_source_free(s);
	if (rc < 0)
		return keys_fail(EX_NOPERM, "%s", err.msg);
	if (p->len < min) {
		pin_wipe(p);
		return keys_fail(EX_USAGE, "%s: shorter than %zu characters",
		    what, min);
	}
	return EX_OK;
}

/* init_token - initialize with both PINs in hand */
static int
init_token(struct keys_run *r, long slot, struct pin *so, struct pin *user)
{
	struct p11_token_info ti;
	struct p11_err err;
	char	 result[400], why[KEYS_WHY_MAX];
	int	 st;

	if ((st = keys_module(r)) != EX_OK)
		return st;
	keys_fault(r, "token");
	if (token_admin_init(r->mod, slot, r->inst->token_label, so, user, &ti,
	    &err) < 0) {
		snprintf(result, sizeof(result), "failed: %s", err.msg);
		(void)keys_log(r, "init-token", "", "", result);
		return keys_fail(keys_status_of(&err), "%s", err.msg);
	}
	snprintf(r->init_serial, sizeof(r->init_serial), "%s", ti.serial);
	if (keys_log_err(r, "init-token", "", "", "ok", why, sizeof(why)) < 0)
		return keys_fail(EX_IOERR, "%s; token '%s' (serial %s) was "
		    "initialized, and this is not in the log: record it by "
		    "hand", why, ti.label, ti.serial);
	printf("token '%s' initialized: serial %s, slot %lu (%s %s)\n",
	    ti.label, ti.serial, (unsigned long)ti.slot, ti.manufacturer,
	    ti.model);
	printf("next: p11dkim-keys generate %s\n", r->inst->code);
	return EX_OK;
}

/* cmd_init_token - p11dkim-keys init-token INST [--slot N] [PIN sources] */
int
cmd_init_token(struct keys_run *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "slot", required_argument, NULL, 's' },
		{ "so-pin", required_argument, NULL, 'S' },
		{ "pin", required_argument, NULL, 'p' },
		{ "min-pin", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 }
	};
	const char *so_src = NULL, *user_src = NULL;
	struct rotation_state rs;
	char	 why[KEYS_WHY_MAX];
	struct pin so, user;
	long	 slot = -1, min = PIN_MIN_DEFAULT;
	char	*end;
	int	 c, st;

	keys_getopt_reset();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': slot = strtol(optarg, &end, 10);
			  if (*end || slot < 0)
				  return keys_fail(EX_USAGE, "bad slot");
			  break;
		case 'S': so_src = optarg; break;
		case 'p': user_src = optarg; break;
		case 'm': min = strtol(optarg, &end, 10);
			  if (*end || min < 4 || min > PIN_MAX)
				  return keys_fail(EX_USAGE, "bad --min-pin");
			  break;
		default: return keys_fail(EX_USAGE, "usage: init-token INST "
			     "[--slot N] [--so-pin SRC] [--pin SRC] [--min-pin N]");
		}
	}
	if (optind != argc - 1)
		return keys_fail(EX_USAGE, "usage: init-token INST [--slot N] "
		    "[--so-pin SRC] [--pin SRC] [--min-pin N]");
	if ((st = keys_institution(r, argv[optind])) != EX_OK)
		return st;
	if (rotation_state_load(r->conf, r->inst, &rs, why, sizeof(why)) < 0)
		return keys_fail(EX_CONFIG, "%s", why);
	if ((st = keys_ready(r, !rs.from_file)) != EX_OK)
		return st;
	if ((st = get_new_pin(so_src, "security officer PIN", (size_t)min,
	    &so)) != EX_OK)
		return st;
	if ((st = get_new_pin(user_src, "user PIN", (size_t)min, &user)) !=
	    EX_OK) {
		pin_wipe(&so);
		return st;
	}
	st = init_token(r, slot, &so, &user);
	pin_wipe(&so);
	pin_wipe(&user);
	return st == EX_OK ? keys_onboard_new(r, &rs) : st;
}
