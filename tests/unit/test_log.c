/*
 * test_log.c - daemon/log.c: whatever a caller passes in, a log line is
 * one line, with control bytes and DEL shown as \xNN escapes.
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

#include "p11dkim/log.h"

/* logged - what one log_warn call wrote to stderr */
static char *
logged(const char *arg)
{
	char	 path[] = "/tmp/p11dkim-log-XXXXXX";
	int	 fd = mkstemp(path), saved = dup(STDERR_FILENO);
	static char out[8192];
	ssize_t	 n;

	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	log_warn("refused: domain %s is not signed here", arg);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	assert_true(n > 0);
	out[n] = '\0';
	return out;
}

/* test_controls_escaped - CR, LF, ESC, DEL, TAB become visible */
static void
test_controls_escaped(void **state)
{
	const char *line;

	(void)state;
	line = logged("a.example\r\n2024-01-01T00:00:00Z p11dkimd[1]: "
	    "signed\x1b[2J\x7f\tz");
	assert_non_null(strstr(line, "warning: refused: domain a.example"
	    "\\x0d\\x0a2024-01-01T00:00:00Z p11dkimd[1]: signed\\x1b[2J"
	    "\\x7f\\x09z is not signed here\n"));
	/* One line: the only LF is the last byte, and no other control. */
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
	for (const char *p = line; *p != '\n'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			fail_msg("control byte 0x%02x in '%s'", *p, line);
}

/* test_backslash - a literal "\x0a" cannot pass for an escaped LF */
static void
test_backslash(void **state)
{
	(void)state;
	assert_non_null(strstr(logged("a\\x0ab"), "domain a\\\\x0ab is "));
}

/* test_plain - ordinary text and UTF-8 pass unchanged */
static void
test_plain(void **state)
{
	(void)state;
	assert_non_null(strstr(logged("mus\xc3\xa9""e.example"),
	    "domain mus\xc3\xa9""e.example is not signed here\n"));
}

/* test_long - an escaped line too long is cut, marked, still one line */
static void
test_long(void **state)
{
	char	 arg[3000];
	const char *line;

	(void)state;
	memset(arg, '\x1b', sizeof(arg) - 1);
	arg[sizeof(arg) - 1] = '\0';
	line = logged(arg);
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
	assert_true(strlen(line) < 4096);
	assert_null(strchr(line, '\x1b'));
	assert_non_null(strstr(line, "\\x1b...\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_controls_escaped),
		cmocka_unit_test(test_backslash),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_long),
	};

	log_open("test_log", 1);
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
