/*
 * test_conf.c - conf/conf.c: a valid file, and every kind of refusal
 * with its file:line.
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

#include "p11dkim/conf.h"

static const char head[] =
    "pkcs11-module = \"/usr/lib/softhsm/libsofthsm2.so\"\n"	/* 1 */
    "provider-zone = \"dkim.example.net\"\n"
    "record-name = \"sel%n-%c\"\n"
    "selectors = { \"stxsel1\", \"stxsel2\" }\n"
    "state-dir = \"/var/lib/p11dkim\"\n"			/* 5 */
    "ceremony-log = \"/var/lib/p11dkim/ceremony.log\"\n";

static const char mosa[] =
    "institution mosa {\n"					/* 7 */
    "  domains = { \"MosaMuseum.com\", \"tickets.mosamuseum.com\" }\n"
    "  pin = \"file:/etc/p11dkim/mosa.pin\"\n"
    "  active-selector = \"stxsel1\"\n"			/* 10 */
    "}\n";

/* load_text - write text to a temp file and load it */
static struct conf *
load_text(const char *text, char *err, size_t errlen)
{
	char	 path[] = "/tmp/p11dkim-conf-XXXXXX";
	int	 fd = mkstemp(path);
	struct conf *c;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	c = conf_load(path, err, errlen);
	unlink(path);
	return c;
}

/* test_valid - every value read, defaults applied */
static void
test_valid(void **state)
{
	char	 text[4096], err[CONF_ERR_MAX], name[256];
	const struct conf_institution *i;
	struct conf *c;

	(void)state;
	snprintf(text, sizeof(text), "%s%s", head, mosa);
	c = load_text(text, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->provider_zone, "dkim.example.net");
	assert_int_equal(c->daemon.sandbox, 1);
	assert_int_equal(c->ninst, 1);
	i = conf_institution(c, "mosa");
	assert_non_null(i);
	assert_string_equal(i->domains[0], "mosamuseum.com");
	assert_string_equal(i->token_label, "mosa");
	assert_null(i->token_serial);
	assert_string_equal(i->selectors[1], "stxsel2");
	assert_int_equal(i->alg, DKIM_ALG_RSA_SHA256);
	assert_string_equal(i->key_type, "rsa2048");
	assert_int_equal(conf_selector_index(i, "stxsel2"), 1);
	assert_int_equal(conf_selector_index(i, "other"), -1);
	assert_int_equal(conf_record_name(c, i, 1, CONF_KIND_MAIN, name, sizeof(name)), 0);
	assert_string_equal(name, "sel2-mosa._domainkey.dkim.example.net");
	assert_int_equal(conf_key_label(i, 0, CONF_KIND_MAIN, name, sizeof(name)), 0);
	assert_string_equal(name, "mosa-stxsel1");
	assert_null(conf_institution(c, "other"));
	assert_null(c->module_init_args);
	conf_free(c);
}

/* test_init_args - pkcs11-init-args is kept as written */
static void
test_init_args(void **state)
{
	static const char args[] = "configdir='sql:/var/lib/p11dkim/nss' "
	    "certPrefix='' keyPrefix='' secmod='secmod.db'";
	char	 text[4096], err[CONF_ERR_MAX];
	struct conf *c;

	(void)state;
	snprintf(text, sizeof(text), "%spkcs11-init-args = \"%s\"\n%s", head,
	    args, mosa);
	c = load_text(text, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->module_init_args, args);
	conf_free(c);
}

struct bad {
	const char *extra;	/* appended to head + mosa */
	const char *replace;	/* or: the whole file */
	const char *msg;	/* expected start of the error, after the path */
};

/* test_refusals - each error names the file and the line */
static void
test_refusals(void **state)
{
	static const struct bad bad[] = {
		{ "colour = \"red\"\n", NULL, ":12: no such option 'colour'" },
		{ "institution x {\n domains = {\"a.example\"}\n pin = \"prompt\"\n"
		  " active-selector = \"stxsel3\"\n}\n", NULL,
		  ":16: institution 'x': active-selector 'stxsel3' is not one" },
		{ "institution y {\n domains = {\"not a domain\"}\n}\n", NULL,
		  ":13: domains 'not a domain': not a domain name" },
		{ "institution z {\n domains = {\"z.example\"}\n active-selector"
		  " = \"stxsel1\"\n}\n", NULL, ":15: institution 'z': pin is "
		  "required" },
		{ "institution w {\n domains = {\"mosamuseum.com\"}\n pin = "
		  "\"prompt\"\n active-selector = \"stxsel1\"\n}\n", NULL,
		  ": domain mosamuseum.com is claimed by 'mosa' and 'w'" },
		{ "institution v {\n domains = {\"v.example\"}\n pin = "
		  "\"prompt\"\n active-selector = \"stxsel1\"\n algorithm = "
		  "\"rsa-sha1\"\n}\n", NULL, ":16: algorithm 'rsa-sha1': "
		  "algorithm rsa-sha1 is not allowed" },
		{ "institution Bad_Code {\n domains = {\"b.example\"}\n pin = "
		  "\"prompt\"\n active-selector = \"stxsel1\"\n}\n", NULL,
		  ":16: institution 'Bad_Code': the code must be" },
		{ "institution u {\n domains = {\"u.example\"}\n pin = "
		  "\"secret\"\n}\n", NULL, ":14: pin 'secret': not file:/PATH" },
		{ "institution mosa {\n}\n", NULL, ":12: found duplicate title" },
		{ NULL, "provider-zone = \"dkim.example.net\"\n", ": pkcs11-module "
		  "is required" },
		{ NULL, "record-name = \"sel-%c\"\n", ":1: record-name 'sel-%c': "
		  "needs %c and %n" },
		{ "institution t {\n subdomains = \"perhaps\"\n}\n", NULL,
		  ":13: invalid boolean value for option 'subdomains'" },
		{ "pkcs11-init-args = \"a\\tb\"\n", NULL, ":12: pkcs11-init-args "
		  "'a\tb': a control character" },
		{ "pkcs11-init-args = \"\"\n", NULL, ":12: pkcs11-init-args '': 1 "
		  "to 1024 bytes" },
		/* Found by fuzz_conf: one global selector, after the section. */
		{ NULL, "pkcs11-module = \"/m.so\"\nprovider-zone = \"d.example\"\n"
		  "record-name = \"%s-%c\"\nstate-dir = \"/s\"\n"
		  "ceremony-log = \"/l\"\ninstitution x {\n domains = "
		  "{\"x.example\"}\n pin = \"fd:3\"\n active-selector = \"a\"\n}\n"
		  "selectors = { \"c\" }\n", "selectors must be two different" },
	};
	char	 text[4096], err[CONF_ERR_MAX];

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		if (bad[k].replace != NULL)
			snprintf(text, sizeof(text), "%s", bad[k].replace);
		else
			snprintf(text, sizeof(text), "%s%s%s", head, mosa,
			    bad[k].extra);
		err[0] = '\0';
		assert_null(load_text(text, err, sizeof(err)));
		if (strstr(err, bad[k].msg) == NULL ||
		    strncmp(err, "/tmp/p11dkim-conf-", 18) != 0)
			fail_msg("case %zu: '%s' lacks '%s'", k, err,
			    bad[k].msg);
	}
}

/* test_daemon - the daemon's options, listeners and signing options */
static void
test_daemon(void **state)
{
	char	 text[4096], err[CONF_ERR_MAX];
	const struct conf_institution *i;
	struct conf *c;

	(void)state;
	snprintf(text, sizeof(text), "%s%s%s", head,
	    "log = \"stderr\"\nworkers = 8\nmax-message-bytes = 1000\n"
	    "sandbox = false\n"
	    "listen \"/run/p11dkim/p11dkimd.sock\" {\n owner = \"root\"\n"
	    " group = \"0\"\n mode = \"0600\"\n}\n",
	    "institution mosa {\n domains = {\"mosamuseum.com\"}\n"
	    " pin = \"prompt\"\n active-selector = \"stxsel2\"\n"
	    " canonicalization = \"simple/relaxed\"\n"
	    " headers = {\"From\", \"Subject\", \"List-*\"}\n"
	    " expire = 86400\n allow-uids = {\"root\", \"1000\"}\n"
	    " allow-gids = {\"0\"}\n}\n");
	c = load_text(text, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(c->daemon.log_stderr, 1);
	assert_null(c->daemon.pidfile);			/* unset by default */
	assert_int_equal(c->daemon.workers, 8);
	assert_int_equal(c->daemon.max_message_bytes, 1000);
	assert_int_equal(c->daemon.io_timeout, 30);
	assert_int_equal(c->daemon.sandbox, 0);
	assert_int_equal(c->daemon.request_timeout, 300);
	assert_int_equal(c->daemon.max_per_uid, 4);	/* half the workers */
	assert_int_equal(c->daemon.nstats_uids, 0);
	assert_int_equal(c->daemon.nstats_gids, 0);
	assert_int_equal(c->daemon.nlisten, 1);
	assert_string_equal(c->daemon.listen[0].path,
	    "/run/p11dkim/p11dkimd.sock");
	assert_int_equal(c->daemon.listen[0].owner, 0);
	assert_int_equal(c->daemon.listen[0].mode, 0600);
	i = conf_institution(c, "mosa");
	assert_int_equal(i->hcanon, DKIM_CANON_SIMPLE);
	assert_int_equal(i->bcanon, DKIM_CANON_RELAXED);
	assert_string_equal(i->headers[2], "List-*");
	assert_null(i->headers[3]);
	assert_null(i->oversign);
	assert_int_equal(i->expire, 86400);
	assert_int_equal(i->timestamp, 1);
	assert_int_equal(i->nallow_uids, 2);
	assert_int_equal(i->allow_uids[1], 1000);
	assert_int_equal(i->nallow_gids, 1);
	conf_free(c);
}

/* test_connection_limits - request-timeout, the per-uid cap, STATS lists */
static void
test_connection_limits(void **state)
{
	static const struct {
		const char *text;
		unsigned per_uid;
	} cases[] = {
		{ "workers = 1\n", 1 },		/* at least one */
		{ "workers = 3\n", 1 },
		{ "workers = 64\n", 32 },
		{ "workers = 8\nmax-connections-per-uid = 8\n", 8 },
		{ "max-connections-per-uid = 5\n", 5 },
	};
	char	 text[4096], err[CONF_ERR_MAX];
	struct conf *c;

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		snprintf(text, sizeof(text), "%s%s%s", head, cases[k].text, mosa);
		if ((c = load_text(text, err, sizeof(err))) == NULL)
			fail_msg("case %zu: %s", k, err);
		assert_int_equal(c->daemon.max_per_uid, cases[k].per_uid);
		conf_free(c);
	}
	snprintf(text, sizeof(text), "%s%s%s", head, "request-timeout = 45\n"
	    "stats-allow-uids = { \"root\", \"4242\" }\n"
	    "stats-allow-gids = { \"4343\" }\n"
	    "pidfile = \"/run/p11dkim/p11dkimd.pid\"\n", mosa);
	if ((c = load_text(text, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->daemon.pidfile, "/run/p11dkim/p11dkimd.pid");
	assert_int_equal(c->daemon.request_timeout, 45);
	assert_int_equal(c->daemon.nstats_uids, 2);
	assert_int_equal(c->daemon.stats_uids[0], 0);
	assert_int_equal(c->daemon.stats_uids[1], 4242);
	assert_int_equal(c->daemon.nstats_gids, 1);
	assert_int_equal(c->daemon.stats_gids[0], 4343);
	conf_free(c);
}

/* test_daemon_refusals - bad daemon values, with their line */
static void
test_daemon_refusals(void **state)
{
	static const char *const bad[][2] = {
		{ "workers = 0\n", ":7: workers '0': a whole number" },
		{ "log = \"file\"\n", ":7: log 'file': syslog or stderr" },
		{ "pidfile = \"p11dkimd.pid\"\n", ":7: pidfile 'p11dkimd.pid': "
		  "not an absolute path" },
		{ "listen \"/x.sock\" {\n mode = \"999\"\n}\n",
		  ":8: mode '999': not an octal mode" },
		{ "listen \"/x.sock\" {\n owner = \"no-such-user-x\"\n}\n",
		  ":8: owner 'no-such-user-x': no such user" },
		{ "listen \"rel.sock\" {\n}\n", ": listen \"rel.sock\": not an "
		  "absolute path" },
		{ "max-header-bytes = 2000000\n", ": max-header-bytes: at most" },
		{ "request-timeout = 0\n", ":7: request-timeout '0': seconds, "
		  "from 1 to 86400" },
		{ "max-connections-per-uid = 0\n",
		  ":7: max-connections-per-uid '0': a whole number" },
		{ "workers = 4\nmax-connections-per-uid = 5\n",
		  ": max-connections-per-uid: at most workers (4)" },
		{ "stats-allow-uids = { \"no-such-user-x\" }\n",
		  ":7: stats-allow-uids 'no-such-user-x': no such user" },
		{ "stats-allow-gids = { \"4294967296\" }\n",
		  ":7: stats-allow-gids '4294967296': a group id must be" },
	};
	char	 text[4096], err[CONF_ERR_MAX];

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		snprintf(text, sizeof(text), "%s%s%s", head, bad[k][0], mosa);
		assert_null(load_text(text, err, sizeof(err)));
		if (strstr(err, bad[k][1]) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", k, err, bad[k][1]);
	}
}

/* quota_text - head, top-level lines, and two institutions with theirs */
static void
quota_text(char *text, size_t len, const char *top, const char *in_mosa,
    const char *in_gala)
{
	snprintf(text, len, "%s%sinstitution mosa {\n  domains = { \"mosa.org\" "
	    "}\n  pin = \"file:/p\"\n  active-selector = \"stxsel1\"\n%s}\n"
	    "institution gala {\n  domains = { \"gala.org\" }\n  pin = "
	    "\"file:/p\"\n  active-selector = \"stxsel1\"\n%s}\n", head, top,
	    in_mosa, in_gala);
}

/* test_quota - top-level defaults, an institution's own values, burst */
static void
test_quota(void **state)
{
	static const struct {
		const char *top, *mosa, *gala;
		struct quota_limits m, g;
	} cases[] = {
		{ "", "", "", { 0, 0, 0 }, { 0, 0, 0 } },
		{ "rate = 5\n", "", "", { 5, 5, 0 }, { 5, 5, 0 } },
		{ "rate = 5\nburst = 10\ndaily-cap = 1000\n", "rate = 1\n", "",
		  { 1, 10, 1000 }, { 5, 10, 1000 } },
		{ "rate = 5\n", "burst = 2\n", "rate = 0\n", { 5, 2, 0 },
		  { 0, 0, 0 } },
		{ "daily-cap = 3\n", "daily-cap = 0\n", "rate = 2\n",
		  { 0, 0, 0 }, { 2, 2, 3 } },
		{ "", "rate = 1000000\nburst = 1000000\n",
		  "daily-cap = 1000000000\n", { 1000000, 1000000, 0 },
		  { 0, 0, 1000000000 } },
	};
	char	 text[4096], err[CONF_ERR_MAX];
	struct conf *c;

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		quota_text(text, sizeof(text), cases[k].top, cases[k].mosa,
		    cases[k].gala);
		if ((c = load_text(text, err, sizeof(err))) == NULL)
			fail_msg("case %zu: %s", k, err);
		assert_memory_equal(&c->inst[0].quota, &cases[k].m,
		    sizeof(cases[k].m));
		assert_memory_equal(&c->inst[1].quota, &cases[k].g,
		    sizeof(cases[k].g));
		conf_free(c);
	}
}

/* test_quota_refusals - negative, absurd, a burst without a rate */
static void
test_quota_refusals(void **state)
{
	static const char *const bad[][3] = {
		{ "rate = -1\n", "", ":7: rate '-1': a whole number from 0 to "
		  "1000000 (messages a second; 0: no limit)" },
		{ "", "rate = 1000001\n", ":11: rate '1000001': a whole number "
		  "from 0 to 1000000" },
		{ "", "burst = 0\n", ":11: burst '0': a whole number from 1 to "
		  "1000000" },
		{ "daily-cap = 1e6\n", "", ":7: daily-cap '1e6': a whole number "
		  "from 0 to 1000000000 (messages a UTC day" },
		{ "", "daily-cap = -5\n", ":11: daily-cap '-5'" },
		{ "", "burst = 10\n", ": institution 'mosa': burst = 10 without "
		  "a rate: set rate too" },
		{ "rate = 3\n", "rate = 0\nburst = 4\n", ": institution "
		  "'mosa': burst = 4 without a rate" },
		{ "burst = 10\n", "rate = 2\n", ": burst = 10 without a rate" },
	};
	char	 text[4096], err[CONF_ERR_MAX];

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		quota_text(text, sizeof(text), bad[k][0], bad[k][1], "");
		assert_null(load_text(text, err, sizeof(err)));
		if (strstr(err, bad[k][2]) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", k, err, bad[k][2]);
	}
}

/*
 * milter_text - head, a milter section (lines 7-10) with the given
 * option lines 8 and 9, and an institution whose line 15 is given
 */
static void
milter_text(char *text, size_t len, const char *m8, const char *m9,
    const char *i15)
{
	snprintf(text, len, "%smilter \"unix:/run/m.sock\" {\n%s\n%s\n}\n"
	    "institution x {\n domains = {\"x.example\"}\n pin = \"prompt\"\n"
	    " active-selector = \"stxsel1\"\n%s\n}\n", head, m8, m9, i15);
}

/* test_milter_lists - who may sign for an institution through the milter */
static void
test_milter_lists(void **state)
{
	char	 text[4096], err[CONF_ERR_MAX];
	const struct conf_institution *i;
	struct conf *c;

	(void)state;
	milter_text(text, sizeof(text), " internal-hosts = {\"127.0.0.1\", "
	    "\"10.1.0.0/16\"}", "", " milter-hosts = {\"10.1.2.0/24\"}\n"
	    " milter-logins = {\"alice\", \"*@X.Example\"}");
	if ((c = load_text(text, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	assert_non_null(c->daemon.milter->internal_hosts);
	assert_int_equal(c->daemon.milter->single_tenant, 0);
	assert_int_equal(c->daemon.milter->sign_authenticated, 1);
	i = conf_institution(c, "x");
	assert_non_null(i->milter_hosts);
	assert_int_equal(i->nmilter_logins, 2);
	assert_string_equal(i->milter_logins[1], "*@X.Example");
	assert_null(i->milter_logins[2]);
	conf_free(c);
	milter_text(text, sizeof(text), " single-tenant = true", "", "");
	if ((c = load_text(text, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	assert_int_equal(c->daemon.milter->single_tenant, 1);
	assert_null(conf_institution(c, "x")->milter_hosts);
	assert_int_equal(conf_institution(c, "x")->nmilter_logins, 0);
	conf_free(c);
}

/* test_milter_list_refusals - bad lists, with their line */
static void
test_milter_list_refusals(void **state)
{
	static const char *const bad[][4] = {
		{ "", "", " milter-logins = {\"a*b\"}", ":15: milter-logins "
		  "'a*b': a login (no spaces, control characters or '*')" },
		{ "", "", " milter-logins = {\"two words\"}",
		  ":15: milter-logins 'two words': a login" },
		{ "", "", " milter-logins = {\"*@not a domain\"}",
		  ":15: milter-logins '*@not a domain': not *@DOMAIN" },
		{ "", "", " milter-logins = {\"\"}", ":15: milter-logins '': "
		  "a login is 1 to 256 bytes" },
		{ "", "", " milter-hosts = {\"mosa-net\"}", ":15: milter-hosts "
		  "'mosa-net': not an address" },
		{ "", "", " milter-hosts = {\"10.9.0.0/16\"}", ": institution "
		  "'x': milter-hosts '10.9.0.0/16' is not inside the milter's "
		  "internal-hosts" },
		{ " internal-hosts = {\"10.0.0.0/8\"}", "", " milter-hosts = "
		  "{\"10.1.0.0/16\", \"127.0.0.1\"}", ": institution 'x': "
		  "milter-hosts '127.0.0.1' is not inside" },
		{ " sign-authenticated = false", "", " milter-logins = "
		  "{\"alice\"}", ": institution 'x': milter-logins need "
		  "sign-authenticated = true" },
		{ " sign-authenticated = false", " signing-domain = \"auth\"",
		  "", ":10: milter 'unix:/run/m.sock': signing-domain = "
		  "\"auth\" needs sign-authenticated = true" },
	};
	char	 text[4096], err[CONF_ERR_MAX];

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		milter_text(text, sizeof(text), bad[k][0], bad[k][1],
		    bad[k][2]);
		err[0] = '\0';
		assert_null(load_text(text, err, sizeof(err)));
		if (strstr(err, bad[k][3]) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", k, err, bad[k][3]);
	}
}

/*
 * test_id_range - numeric ids outside the uid_t/gid_t range are refused
 * with their line, instead of wrapping (4294967296 would be uid 0); the
 * largest id that is not (uid_t)-1 is accepted.
 */
static void
test_id_range(void **state)
{
	static const char *const bad[][2] = {
		{ "user = \"4294967296\"\n", ":7: user '4294967296': a user id "
		  "must be from 0 to 4294967294" },
		{ "signer-user = \"18446744073709551616\"\n",
		  ":7: signer-user '18446744073709551616': a user id" },
		{ "listen \"/x.sock\" {\n owner = \"4294967295\"\n}\n",
		  ":8: owner '4294967295': a user id must be" },
		{ "listen \"/x.sock\" {\n group = \"4294967296\"\n}\n",
		  ":8: group '4294967296': a group id must be from 0 to "
		  "4294967294" },
		{ "milter \"unix:/m.sock\" {\n owner = \"99999999999\"\n}\n",
		  ":8: owner '99999999999': a user id" },
		{ "milter \"unix:/m.sock\" {\n group = \"4294967295\"\n}\n",
		  ":8: group '4294967295': a group id" },
		{ "institution x {\n domains = {\"x.example\"}\n pin = \"prompt\"\n"
		  " active-selector = \"stxsel1\"\n allow-uids = {\"4294967296\"}\n}\n",
		  ":11: allow-uids '4294967296': a user id must be" },
		{ "institution x {\n domains = {\"x.example\"}\n pin = \"prompt\"\n"
		  " active-selector = \"stxsel1\"\n allow-gids = {\"0\", "
		  "\"4294967295\"}\n}\n", ":11: allow-gids '4294967295': a group id" },
	};
	char	 text[4096], err[CONF_ERR_MAX];
	struct conf *c;

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		snprintf(text, sizeof(text), "%s%s%s", head, bad[k][0], mosa);
		err[0] = '\0';
		c = load_text(text, err, sizeof(err));
		if (c != NULL || strstr(err, bad[k][1]) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", k, err, bad[k][1]);
	}
	snprintf(text, sizeof(text), "%s%s", head, "institution mosa {\n"
	    " domains = {\"mosamuseum.com\"}\n pin = \"prompt\"\n"
	    " active-selector = \"stxsel1\"\n"
	    " allow-uids = {\"4294967294\", \"0\"}\n"
	    " allow-gids = {\"4294967294\"}\n}\n");
	c = load_text(text, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(c->inst[0].allow_uids[0], 4294967294U);
	assert_int_equal(c->inst[0].allow_uids[1], 0);
	assert_int_equal(c->inst[0].allow_gids[0], 4294967294U);
	conf_free(c);
}

/* test_numeric_id - the number parser shared with the daemon */
static void
test_numeric_id(void **state)
{
	unsigned long id = 7;

	(void)state;
	assert_int_equal(conf_numeric_id("0", &id), 1);
	assert_int_equal(id, 0);
	assert_int_equal(conf_numeric_id("4294967294", &id), 1);
	assert_int_equal(id, 4294967294UL);
	assert_int_equal(conf_numeric_id("4294967295", &id), -1);
	assert_int_equal(conf_numeric_id("4294967296", &id), -1);
	assert_int_equal(conf_numeric_id("123456789012345678901234567890", &id),
	    -1);
	assert_int_equal(conf_numeric_id("root", &id), 0);
	assert_int_equal(conf_numeric_id("", &id), 0);
	assert_int_equal(conf_numeric_id("-1", &id), 0);
	assert_int_equal(conf_numeric_id("+5", &id), 0);
	assert_int_equal(conf_numeric_id(" 5", &id), 0);
	assert_int_equal(conf_numeric_id("5x", &id), 0);
}

/* test_missing_file - a clear line, no crash */
static void
test_missing_file(void **state)
{
	char	 err[CONF_ERR_MAX];

	(void)state;
	assert_null(conf_load("/nonexistent/p11dkim.conf", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/p11dkim.conf: cannot read the "
	    "file");
}

/* test_metrics_listen - ADDRESS:PORT, numeric; loopback or not */
static void
test_metrics_listen(void **state)
{
	static const char *const good[] = { "127.0.0.1:9464", "[::1]:1",
	    "192.0.2.7:65535", "[2001:db8::1]:9464", NULL };
	static const char *const bad[] = { "127.0.0.1", "127.0.0.1:0",
	    "127.0.0.1:65536", "localhost:9464", "::1:9464", "[::1]", ":9464",
	    "127.0.0.1:94x", "127.0.0.1:-1", "[127.0.0.1]:9464", NULL };
	struct sockaddr_storage ss;
	socklen_t len;

	(void)state;
	for (size_t k = 0; good[k] != NULL; k++)
		assert_int_equal(conf_parse_inet(good[k], &ss, &len), 0);
	for (size_t k = 0; bad[k] != NULL; k++)
		assert_int_equal(conf_parse_inet(bad[k], &ss, &len), -1);
	assert_int_equal(conf_parse_inet("127.3.2.1:80", &ss, &len), 0);
	assert_true(conf_inet_loopback(&ss));
	assert_int_equal(conf_parse_inet("[::1]:80", &ss, &len), 0);
	assert_true(conf_inet_loopback(&ss));
	assert_int_equal(conf_parse_inet("0.0.0.0:80", &ss, &len), 0);
	assert_false(conf_inet_loopback(&ss));
	assert_int_equal(conf_parse_inet("[::]:80", &ss, &len), 0);
	assert_false(conf_inet_loopback(&ss));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_init_args),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_daemon),
		cmocka_unit_test(test_connection_limits),
		cmocka_unit_test(test_daemon_refusals),
		cmocka_unit_test(test_quota),
		cmocka_unit_test(test_quota_refusals),
		cmocka_unit_test(test_milter_lists),
		cmocka_unit_test(test_milter_list_refusals),
		cmocka_unit_test(test_id_range),
		cmocka_unit_test(test_numeric_id),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_metrics_listen),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
