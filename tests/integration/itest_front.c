/*
 * itest_front.c - the native front with the in-process signer
 * (signer_local) on a SoftHSM2 token: the same front code as in the
 * daemon, without the second process, as include/p11dkim/signer.h
 * promises.  Requests go through conn_serve() over a socketpair.  The
 * daemon's output is verified independently (dkimpy, Mail::DKIM) in
 * tests/daemon; here the point is that the front runs unchanged on
 * signer_local.
 *
 * Run by tests/integration/run.sh (SOFTHSM2_CONF, P11DKIM_TEST_DIR).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11dkim/keygen.h"
#include "p11dkim/keytab.h"
#include "p11dkim/signer_local.h"
#include "p11dkim/token_admin.h"
#include "../../daemon/front.h"

static struct conf *conf;
static struct keytab keys;
static struct front front;
static char dir[512];

static const char message[] =
    "From: Tickets <tickets@mosamuseum.com>\r\nTo: a@example.org\r\n"
    "Subject: in-process\r\n\r\nHello.\r\n";

/* write_file - text into dir/name with mode */
static const char *
write_file(const char *name, const char *text, mode_t mode)
{
	static char path[600];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

/* make_token - the institution's token and its key, with p11dkim's code */
static void
make_token(const char *module)
{
	struct pin so = { .buf = "so-pin-12345678", .len = 15 };
	struct pin user = { .buf = "user-pin-1234567", .len = 16 };
	struct p11_token_info ti;
	struct keygen_result res;
	struct pin_source *pin;
	struct p11_module *m;
	struct token *t;
	struct p11_err err;

	assert_non_null(m = p11_module_load(module, &err));
	if (token_admin_init(m, -1, "mosa", &so, &user, &ti, &err) < 0)
		fail_msg("%s", err.msg);
	assert_non_null(pin = pin_source_file(write_file("mosa.pin",
	    "user-pin-1234567\n", 0600), &err));
	assert_non_null(t = token_open(m, "mosa", NULL, pin, 1, &err));
	if (keygen_generate(t, P11_KEY_RSA, 2048, "mosa-stxsel1", 0, &res,
	    &err) < 0)
		fail_msg("%s", err.msg);
	token_close(t);
	p11_module_free(m);
}

/* setup - token, configuration, keytab, in-process signer */
static int
setup(void **state)
{
	const char *module = getenv("P11DKIM_TEST_MODULE") ?
	    getenv("P11DKIM_TEST_MODULE") : "/usr/lib/softhsm/libsofthsm2.so";
	char	 text[8192], err[CONF_ERR_MAX];

	(void)state;
	snprintf(dir, sizeof(dir), "%s", getenv("P11DKIM_TEST_DIR") ?
	    getenv("P11DKIM_TEST_DIR") : "/tmp");
	make_token(module);
	snprintf(text, sizeof(text), "pkcs11-module = \"%s\"\n"
	    "provider-zone = \"dkim.example.net\"\nrecord-name = \"sel%%n-%%c\"\n"
	    "selectors = { \"stxsel1\", \"stxsel2\" }\nstate-dir = \"%s\"\n"
	    "ceremony-log = \"%s/log\"\nlisten \"%s/s.sock\" {\n}\n"
	    "institution mosa {\n domains = { \"mosamuseum.com\" }\n"
	    " pin = \"file:%s/mosa.pin\"\n active-selector = \"stxsel1\"\n"
	    " allow-uids = { \"%u\" }\n}\n", module, dir, dir, dir, dir,
	    (unsigned)getuid());
	if ((conf = conf_load(write_file("p11dkim.conf", text, 0600), err,
	    sizeof(err))) == NULL || keytab_build(conf, &keys, err,
	    sizeof(err)) < 0)
		fail_msg("%s", err);
	if ((front.signer = signer_local_open(conf, &keys, err,
	    sizeof(err))) == NULL)
		fail_msg("%s", err);
	front.conf = conf;
	front.keys = &keys;
	front.stats = stats_new(conf, "native");
	return 0;
}

/* teardown - the signer closes its token and the module */
static int
teardown(void **state)
{
	(void)state;
	signer_free(front.signer);
	stats_free(front.stats);
	keytab_release(&keys);
	conf_free(conf);
	return 0;
}

/* exchange - send a client's bytes, serve the connection, read the reply */
static char *
exchange(const char *in, size_t len)
{
	static char out[65536];
	size_t	 n = 0;
	ssize_t	 r;
	int	 sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], in, len), (ssize_t)len);
	shutdown(sv[1], SHUT_WR);
	conn_serve(&front, sv[0]);
	while (n < sizeof(out) - 1 && (r = read(sv[1], out + n,
	    sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	close(sv[1]);
	out[n] = '\0';
	return out;
}

/* test_signed - a message through the front and the in-process signer */
static void
test_signed(void **state)
{
	char	 req[1024], *out;
	int	 n;

	(void)state;
	n = snprintf(req, sizeof(req), "SIGN\nDATA %zu\n%sEND\n",
	    strlen(message), message);
	out = exchange(req, (size_t)n);
	assert_memory_equal(out, "OK ", 3);
	assert_non_null(strstr(out, "\nDKIM-Signature: v=1; a=rsa-sha256; "));
	assert_non_null(strstr(out, "d=mosamuseum.com;"));
	assert_non_null(strstr(out, "s=stxsel1;"));
}

/* test_refused - refusals come back the same way */
static void
test_refused(void **state)
{
	static const char msg[] = "From: a@unknown.example\n\n";
	char	 req[256], *out;
	int	 n;

	(void)state;
	n = snprintf(req, sizeof(req), "SIGN\nDATA %zu\n%sEND\n",
	    sizeof(msg) - 1, msg);
	out = exchange(req, (size_t)n);
	assert_string_equal(out, "PERMFAIL domain unknown.example is not "
	    "signed here\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signed),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests_name("front + in-process signer "
	    "(SoftHSM2)", tests, setup, teardown);
}
