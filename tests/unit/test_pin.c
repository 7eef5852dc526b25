/*
 * test_pin.c - pkcs11/pin.c: PIN files (mode checked, newline stripped),
 * descriptors (read once, kept), source specs, and refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11dkim/pin.h"

static char dir[] = "/tmp/p11dkim-pin-XXXXXX";

/* write_file - a file with content and mode; returns its path */
static const char *
write_file(const char *name, const char *content, mode_t mode)
{
	static char path[256];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

/* test_file - read again on each get; CRLF and LF stripped */
static void
test_file(void **state)
{
	struct p11_err err;
	struct pin_source *s;
	struct pin p;
	const char *path = write_file("ok.pin", "secret-1234\r\n", 0600);

	(void)state;
	s = pin_source_file(path, &err);
	assert_non_null(s);
	assert_int_equal(pin_get(s, &p, &err), 0);
	assert_string_equal(p.buf, "secret-1234");
	assert_int_equal(p.len, 11);
	pin_wipe(&p);
	assert_int_equal(p.len, 0);
	assert_int_equal(p.buf[0], '\0');
	write_file("ok.pin", "changed-5678\n", 0600);
	assert_int_equal(pin_get(s, &p, &err), 0);
	assert_string_equal(p.buf, "changed-5678");
	pin_wipe(&p);
	pin_source_free(s);
}

/* test_refusals - loose modes, empty files, missing files, bad specs */
static void
test_refusals(void **state)
{
	struct p11_err err;

	(void)state;
	assert_null(pin_source_file(write_file("g.pin", "x1234\n", 0640),
	    &err));
	assert_non_null(strstr(err.msg, "mode 640 lets group or others"));
	assert_null(pin_source_file(write_file("o.pin", "x1234\n", 0604),
	    &err));
	assert_null(pin_source_file(write_file("e.pin", "\n", 0600), &err));
	assert_non_null(strstr(err.msg, "empty"));
	assert_null(pin_source_file("/nonexistent/p.pin", &err));
	assert_non_null(strstr(err.msg, "No such file"));
	assert_null(pin_source_parse("secret", "user PIN", &err));
	assert_non_null(strstr(err.msg, "not file:PATH, fd:N or prompt"));
	assert_null(pin_source_parse("fd:x", "user PIN", &err));
	assert_null(pin_source_parse("fd:-1", "user PIN", &err));
}

/* test_fd - read once from a pipe, then kept */
static void
test_fd(void **state)
{
	struct p11_err err;
	struct pin_source *s;
	struct pin p;
	int	 fds[2];
	char	 spec[32];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "from-a-pipe\n", 12), 12);
	close(fds[1]);
	snprintf(spec, sizeof(spec), "fd:%d", fds[0]);
	s = pin_source_parse(spec, "user PIN", &err);
	assert_non_null(s);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pin_get(s, &p, &err), 0);
		assert_string_equal(p.buf, "from-a-pipe");
		pin_wipe(&p);
	}
	pin_source_free(s);
	assert_int_equal(write(fds[0], "x", 1), -1);	/* it was closed */
}

/* test_parse_file - "file:" and bare absolute paths */
static void
test_parse_file(void **state)
{
	struct p11_err err;
	struct pin_source *s;
	char	 spec[300];
	const char *path = write_file("p.pin", "abcdefgh", 0400);

	(void)state;
	snprintf(spec, sizeof(spec), "file:%s", path);
	assert_non_null(s = pin_source_parse(spec, "user PIN", &err));
	pin_source_free(s);
	assert_non_null(s = pin_source_parse(path, "user PIN", &err));
	pin_source_free(s);
}

/* setup - a private directory */
static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

/* teardown - remove it */
static int
teardown(void **state)
{
	char	 cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_fd),
		cmocka_unit_test(test_parse_file),
	};

	return cmocka_run_group_tests_name("pin", tests, setup, teardown);
}
