/*
 * test_rotation_state.c - conf/rotation_state.c: the onboarding and
 * drift lines of an institution's state file (no file and no line are
 * live; pending round-trips; bad values are refused with the line), and
 * what the daemon makes of them: the keytab's pending flag, and
 * sign-pending (the institution's, else the top-level default).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11dkim/keytab.h"
#include "p11dkim/rotation_state.h"

struct rig {
	char	 dir[64];
	struct conf *conf;
};

/* load_conf - a configuration with state-dir dir and extra text */
static struct conf *
load_conf(const char *dir, const char *top, const char *venue)
{
	char	 path[128], err[CONF_ERR_MAX];
	struct conf *c;
	FILE	*f;

	snprintf(path, sizeof(path), "%s/p11dkim.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "pkcs11-module = \"/x.so\"\nprovider-zone = \"dkim.example."
	    "net\"\nrecord-name = \"sel%%n-%%c\"\nselectors = { \"stxsel1\", "
	    "\"stxsel2\" }\nstate-dir = \"%s\"\nceremony-log = \"%s/log\"\n%s"
	    "institution mosa {\n domains = { \"mosamuseum.com\" }\n pin = "
	    "\"prompt\"\n active-selector = \"stxsel1\"\n}\ninstitution venue "
	    "{\n domains = { \"venue.example.org\" }\n pin = \"prompt\"\n "
	    "active-selector = \"stxsel1\"\n%s}\n", dir, dir, top, venue);
	fclose(f);
	if ((c = conf_load(path, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	return c;
}

/* write_state - <dir>/<code>.state with text */
static void
write_state(const char *dir, const char *code, const char *text)
{
	char	 path[128];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s.state", dir, code);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	struct rig *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	snprintf(g->dir, sizeof(g->dir), "/tmp/p11dkim-state-XXXXXX");
	assert_non_null(mkdtemp(g->dir));
	g->conf = load_conf(g->dir, "", "");
	*state = g;
	return 0;
}

static int
teardown(void **state)
{
	struct rig *g = *state;
	char	 cmd[128];

	conf_free(g->conf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g->dir);
	assert_int_equal(system(cmd), 0);
	free(g);
	return 0;
}

/* test_defaults - no file, and a file without the line: live */
static void
test_defaults(void **state)
{
	struct rig *g = *state;
	struct rotation_state rs;
	char	 err[256];

	assert_int_equal(rotation_state_load(g->conf, &g->conf->inst[0], &rs,
	    err, sizeof(err)), 0);
	assert_int_equal(rs.onboard, ONBOARD_LIVE);
	assert_int_equal(rs.from_file, 0);
	write_state(g->dir, "mosa", "active=stxsel1\nstep=idle\n");
	assert_int_equal(rotation_state_load(g->conf, &g->conf->inst[0], &rs,
	    err, sizeof(err)), 0);
	assert_int_equal(rs.onboard, ONBOARD_LIVE);
	assert_int_equal(rs.from_file, 1);
	assert_int_equal(rs.drift_since, 0);
}

/* test_round_trip - pending with drift saved and read back */
static void
test_round_trip(void **state)
{
	struct rig *g = *state;
	struct rotation_state rs, back;
	char	 err[256];

	assert_int_equal(rotation_state_load(g->conf, &g->conf->inst[1], &rs,
	    err, sizeof(err)), 0);
	rs.onboard = ONBOARD_PENDING;
	rs.drift_since = 1700000000;
	snprintf(rs.drift_reason, sizeof(rs.drift_reason), "cname-missing");
	assert_int_equal(rotation_state_save(g->conf, &g->conf->inst[1], &rs,
	    err, sizeof(err)), 0);
	assert_int_equal(rotation_state_load(g->conf, &g->conf->inst[1], &back,
	    err, sizeof(err)), 0);
	assert_int_equal(back.onboard, ONBOARD_PENDING);
	assert_int_equal(back.drift_since, 1700000000);
	assert_string_equal(back.drift_reason, "cname-missing");
	assert_string_equal(onboard_state_name(back.onboard), "pending");
	rs.onboard = ONBOARD_LIVE;
	rs.drift_since = 0;
	assert_int_equal(rotation_state_save(g->conf, &g->conf->inst[1], &rs,
	    err, sizeof(err)), 0);
	assert_int_equal(rotation_state_load(g->conf, &g->conf->inst[1], &back,
	    err, sizeof(err)), 0);
	assert_int_equal(back.onboard, ONBOARD_LIVE);
	assert_int_equal(back.drift_since, 0);
	assert_string_equal(back.drift_reason, "");
}

/* test_refused - bad values are refused, naming the line */
static void
test_refused(void **state)
{
	static const char *const bad[] = {
		"onboarding=maybe\n", "onboarding=\n", "drift-since=-5\n",
		"drift-since=12x\n", "drift-reason=Cname\n",
		"drift-reason=a-reason-that-is-far-too-long-for-it\n",
		"drift-reason=\n",
	};
	struct rig *g = *state;
	struct rotation_state rs;
	char	 err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_state(g->dir, "mosa", bad[i]);
		err[0] = '\0';
		if (rotation_state_load(g->conf, &g->conf->inst[0], &rs, err,
		    sizeof(err)) != -1 || strstr(err, "mosa.state:1: bad "
		    "state line") == NULL)
			fail_msg("'%s' was not refused: '%s'", bad[i], err);
	}
}

/* test_text - the parser on text: lines, NULs, no final LF, the size */
static void
test_text(void **state)
{
	struct rig *g = *state;
	const struct conf_institution *i = &g->conf->inst[0];
	static const char nul[] = "active=stxsel2\nstep=i\0dle\n";
	static const char last[] = "# note\n\nstep=published\ntarget=STXSEL2";
	struct rotation_state rs, again;
	char	 line[600], big[5000], text[4096], err[256];
	unsigned bad;
	int	 n;

	assert_int_equal(rotation_state_parse(i, last, sizeof(last) - 1, &rs,
	    &bad), 0);				/* no LF at the end */
	assert_int_equal(rs.step, ROT_PUBLISHED);
	assert_string_equal(rs.target, "stxsel2");	/* the configured name */
	assert_int_equal(rotation_state_parse(i, nul, sizeof(nul) - 1, &rs,
	    &bad), -1);
	assert_int_equal(bad, 2);
	snprintf(line, sizeof(line), "onboarding=live\n# %0550d\n", 0);
	assert_int_equal(rotation_state_parse(i, line, strlen(line), &rs,
	    &bad), -1);				/* a line of 512 bytes or more */
	assert_int_equal(bad, 2);
	rs.drift_since = 1796329000;
	snprintf(rs.drift_reason, sizeof(rs.drift_reason), "cname-missing");
	assert_true((n = rotation_state_format(i, &rs, text, sizeof(text))) >
	    0);
	assert_int_equal(rotation_state_parse(i, text, (size_t)n, &again,
	    &bad), 0);
	assert_int_equal(again.drift_since, 1796329000);
	assert_string_equal(again.drift_reason, "cname-missing");
	assert_int_equal(rotation_state_format(i, &rs, text, 16), -1);
	memset(big, '#', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_state(g->dir, "mosa", big);	/* larger than save writes */
	err[0] = '\0';
	assert_int_equal(rotation_state_load(g->conf, i, &rs, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than a state file can be"));
}

/* pending_of - the keytab's pending flag and sign-pending of inst k */
static void
pending_of(const struct conf *c, size_t k, int *pending, int *sign)
{
	struct keytab t;
	char	 err[256];

	if (keytab_build(c, &t, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	*pending = t.e[k].pending;
	*sign = t.e[k].inst->sign_pending;
	keytab_release(&t);
}

/* test_keytab - the daemon's flag, and where sign-pending comes from */
static void
test_keytab(void **state)
{
	struct rig *g = *state;
	struct conf *c;
	char	 venue[128];
	int	 pending, sign;

	write_state(g->dir, "mosa", "active=stxsel1\nonboarding=pending\n");
	snprintf(venue, sizeof(venue), "%s/venue.state", g->dir);
	unlink(venue);		/* no file: live */
	pending_of(g->conf, 0, &pending, &sign);
	assert_true(pending && !sign);
	pending_of(g->conf, 1, &pending, &sign);
	assert_true(!pending && !sign);
	c = load_conf(g->dir, "sign-pending = true\n", "");
	pending_of(c, 0, &pending, &sign);
	assert_true(pending && sign);
	conf_free(c);
	c = load_conf(g->dir, "sign-pending = true\n", " sign-pending = false\n");
	pending_of(c, 1, &pending, &sign);
	assert_true(!sign);
	conf_free(c);
	c = load_conf(g->dir, "", " sign-pending = true\n");
	pending_of(c, 0, &pending, &sign);
	assert_true(pending && !sign);
	pending_of(c, 1, &pending, &sign);
	assert_true(sign);
	conf_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_keytab),
	};

	return cmocka_run_group_tests_name("rotation_state", tests, setup,
	    teardown);
}
