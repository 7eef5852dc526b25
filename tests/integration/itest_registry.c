/*
 * itest_registry.c - the signer's key registry on a real SoftHSM2 token:
 * a table that brings one new key on a token already logged in is
 * answered once the openers have tried that key, every time.
 *
 * A reload that adds one institution, or activates a rotated selector,
 * is such a table: the signer answers the parent only when the new key
 * was tried, so a key left unopened in the queue held the reload for the
 * parent's 120 s and then refused it.  Each load here must return within
 * LOAD_WAIT_S; a watchdog thread ends the program with a message when
 * one does not.
 *
 * Run by tests/integration/run.sh (SOFTHSM2_CONF, P11DKIM_TEST_DIR).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11dkim/conf.h"
#include "p11dkim/keygen.h"
#include "p11dkim/keyspec.h"
#include "p11dkim/keytab.h"
#include "p11dkim/signer_local.h"
#include "p11dkim/token.h"
#include "p11dkim/token_admin.h"

#define SO_PIN		"so-secret-1234"
#define USER_PIN	"user-secret-5678"
#define ROUNDS		1000
#define LOAD_WAIT_S	10

static char dir[512];

/* module_path - the SoftHSM2 module, or the one the environment names */
static const char *
module_path(void)
{
	const char *m = getenv("P11DKIM_TEST_MODULE");

	return m ? m : "/usr/lib/softhsm/libsofthsm2.so";
}

/* write_file - dir/name with text, mode 0600; its path in path */
static void
write_file(const char *name, const char *text, char *path, size_t len)
{
	FILE	*f;

	snprintf(path, len, "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
}

/* make_token - token "reg" with the Ed25519 key "reg-stxsel1" */
static void
make_token(const char *pin_path)
{
	struct pin so, user;
	struct p11_token_info ti;
	struct keygen_result res;
	struct p11_module *mod;
	struct pin_source *pin;
	struct p11_err err;
	struct token *tok;

	memset(&so, 0, sizeof(so));
	memset(&user, 0, sizeof(user));
	so.len = (size_t)snprintf(so.buf, sizeof(so.buf), "%s", SO_PIN);
	user.len = (size_t)snprintf(user.buf, sizeof(user.buf), "%s", USER_PIN);
	if ((mod = p11_module_load(module_path(), &err)) == NULL ||
	    token_admin_init(mod, -1, "reg", &so, &user, &ti, &err) < 0)
		fail_msg("token: %s", err.msg);
	assert_non_null(pin = pin_source_file(pin_path, &err));
	if ((tok = token_open(mod, "reg", NULL, pin, 4, &err)) == NULL ||
	    keygen_generate(tok, P11_KEY_ED25519, 0, "reg-stxsel1", 0, &res,
	    &err) < 0)
		fail_msg("key: %s", err.msg);
	token_close(tok);
	p11_module_free(mod);		/* the signer loads it anew */
}

/* load_conf - one institution, reg, on its token */
static struct conf *
load_conf(const char *pin_path)
{
	char	 text[2048], path[600], err[CONF_ERR_MAX];
	struct conf *c;

	snprintf(text, sizeof(text), "pkcs11-module = \"%s\"\nprovider-zone = "
	    "\"dkim.example.net\"\nrecord-name = \"sel%%n-%%c\"\nselectors = "
	    "{ \"stxsel1\", \"stxsel2\" }\nstate-dir = \"%s\"\nceremony-log = "
	    "\"%s/ceremony.log\"\nrequire-separate-users = false\n"
	    "institution reg {\n domains = { \"reg.example\" }\n pin = "
	    "\"file:%s\"\n active-selector = \"stxsel1\"\n algorithm = "
	    "\"ed25519-sha256\"\n key-type = \"ed25519\"\n}\n", module_path(),
	    dir, dir, pin_path);
	write_file("p11dkim.conf", text, path, sizeof(path));
	if ((c = conf_load(path, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	return c;
}

static volatile time_t due;		/* the step under way must end by */
static volatile int step;		/* which: -1 the first table, a round, or
				   ROUNDS the end */

/*
 * watchdog - a step that did not end in time (the program would wait
 * for ever): say which and end the program
 */
static void *
watchdog(void *arg)
{
	char	 msg[160];
	int	 n;

	(void)arg;
	for (;;) {
		usleep(100000);
		if (due == 0 || time(NULL) <= due)
			continue;
		n = snprintf(msg, sizeof(msg), "itest_registry: step %d did not "
		    "end within %d s: a key table was not answered (a "
		    "new key was never tried)\n", step,
		    LOAD_WAIT_S);
		(void)!write(2, msg, (size_t)n);
		_exit(1);
	}
	return NULL;
}

/* deadline - the next step, which must end within LOAD_WAIT_S */
static void
deadline(int which)
{
	step = which;
	due = time(NULL) + LOAD_WAIT_S;
}

/*
 * test_new_key_each_load - ROUNDS tables, each with the logged-in key and
 * one new key the token does not have: each answered in time, with the
 * new key counted as one the module does not show
 */
static void
test_new_key_each_load(void **state)
{
	char	 pin_path[600], err[512];
	struct signer_load how;
	struct signer_local *s;
	struct keyspec *v, pair[2];
	struct keytab t;
	struct conf *c;
	pthread_t dog;

	(void)state;
	write_file("user.pin", USER_PIN "\n", pin_path, sizeof(pin_path));
	make_token(pin_path);
	c = load_conf(pin_path);
	if (keytab_build(c, &t, err, sizeof(err)) < 0 ||
	    keyspec_build(&t, &v, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(t.n, 1);
	if ((s = signer_local_new(c, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	assert_int_equal(pthread_create(&dog, NULL, watchdog, NULL), 0);
	how = (struct signer_load){ 1, 1, 0 };
	deadline(-1);			/* settled: the new key opened */
	if (signer_local_load(s, 1, v, 1, &how, err, sizeof(err)) < 0)
		fail_msg("the token's own key: %s", err);
	for (uint32_t k = 0; k < ROUNDS; k++) {
		pair[0] = v[0];
		pair[1] = v[0];
		snprintf(pair[1].key_label, sizeof(pair[1].key_label),
		    "reg-absent-%u", (unsigned)k);
		how = (struct signer_load){ 0, 0, 0 };
		deadline((int)k);
		if (signer_local_load(s, k + 2, pair, 2, &how, err,
		    sizeof(err)) < 0)
			fail_msg("round %u: %s", (unsigned)k, err);
		if (how.unseen != 1)
			fail_msg("round %u: %u unseen, not 1", (unsigned)k,
			    how.unseen);
		signer_local_retire(s, k + 1);
	}
	deadline(ROUNDS);
	signer_local_retire(s, ROUNDS + 1);
	signer_local_free(s);
	due = 0;
	free(v);
	keytab_release(&t);
	conf_free(c);
}

int
main(void)
{
	const char *d = getenv("P11DKIM_TEST_DIR");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_key_each_load),
	};

	snprintf(dir, sizeof(dir), "%s", d ? d : "/tmp");
	return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
