/*
 * test_ceremony_ready.c - what a ceremony asks before and after it
 * touches a token: can the ceremony log be appended to
 * (ceremony_log_check_append, which writes nothing), can the rotation
 * state be saved (rotation_state_check_save, which leaves nothing), and
 * what the log last says of a selector (ceremony_log_last, which proves
 * nothing from a broken log).
 */
#include <errno.h>
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

#include "p11dkim/ceremony_log.h"
#include "p11dkim/rotation_state.h"

static char dir[64], logpath[128], err[512];

/* setup - an empty directory */
static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/p11dkim-ready-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/ceremony.log", dir);
	return 0;
}

/* teardown - remove it */
static int
teardown(void **state)
{
	char	 cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* append - one record: action on selector, with fpr and result */
static void
append(const char *action, const char *sel, const char *fpr,
    const char *result)
{
	struct ceremony_record r;

	memset(&r, 0, sizeof(r));
	snprintf(r.operator_name, sizeof(r.operator_name), "alice");
	snprintf(r.host, sizeof(r.host), "hsm1");
	snprintf(r.action, sizeof(r.action), "%s", action);
	snprintf(r.inst, sizeof(r.inst), "mosa");
	snprintf(r.selector, sizeof(r.selector), "%s", sel);
	snprintf(r.fpr, sizeof(r.fpr), "%s", fpr);
	snprintf(r.result, sizeof(r.result), "%s", result);
	assert_int_equal(ceremony_log_append(logpath, NULL, &r, err, sizeof(err)),
	    0);
}

/* size_of - a file's size, -1 when absent */
static long
size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : (long)st.st_size;
}

/* test_check_append - no write, and each reason to refuse */
static void
test_check_append(void **state)
{
	char	 path[160];
	long	 size;
	FILE	*f;

	(void)state;
	assert_int_equal(ceremony_log_check_append(logpath, err, sizeof(err)),
	    0);
	assert_int_equal(size_of(logpath), -1);		/* not created */
	append("generate", "stxsel1", "", "ok");
	size = size_of(logpath);
	assert_int_equal(ceremony_log_check_append(logpath, err, sizeof(err)),
	    0);
	assert_int_equal(size_of(logpath), size);	/* nothing written */
	snprintf(path, sizeof(path), "%s/none/ceremony.log", dir);
	assert_int_equal(ceremony_log_check_append(path, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "cannot be created"));
	assert_int_equal(ceremony_log_check_append(dir, err, sizeof(err)),
	    -1);
	assert_non_null(f = fopen(logpath, "a"));
	fputs("half a rec", f);			/* a record cut short */
	fclose(f);
	assert_int_equal(ceremony_log_check_append(logpath, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "refusing to append"));
	if (geteuid() != 0) {			/* root may write anything */
		assert_int_equal(chmod(logpath, 0400), 0);
		assert_int_equal(ceremony_log_check_append(logpath, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "Permission denied"));
	}
}

/* proof - generate or destroy of stxsel2 that went well */
static int
proof(void *ctx, const struct ceremony_record *rec)
{
	(void)ctx;
	return strcmp(rec->selector, "stxsel2") == 0 &&
	    strcmp(rec->result, "ok") == 0 &&
	    (strcmp(rec->action, "generate") == 0 ||
	    strcmp(rec->action, "destroy") == 0);
}

/* test_last - the last match; none; a broken log proves nothing */
static void
test_last(void **state)
{
	static const char a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	static const char b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	struct ceremony_record rec;
	FILE	*f;

	(void)state;
	assert_int_equal(ceremony_log_last(logpath, proof, NULL, &rec, err,
	    sizeof(err)), 0);			/* no log */
	append("generate", "stxsel2", a, "ok");
	append("destroy", "stxsel2", "", "ok");
	append("generate", "stxsel2", b, "ok");
	append("generate", "stxsel2", "", "failed: CKR_DEVICE_ERROR");
	append("generate", "stxsel1", a, "ok");
	assert_int_equal(ceremony_log_last(logpath, proof, NULL, &rec, err,
	    sizeof(err)), 1);
	assert_int_equal(rec.seq, 3);
	assert_string_equal(rec.fpr, b);
	append("destroy", "stxsel2", "", "ok");
	assert_int_equal(ceremony_log_last(logpath, proof, NULL, &rec, err,
	    sizeof(err)), 1);
	assert_string_equal(rec.action, "destroy");
	assert_non_null(f = fopen(logpath, "r+"));
	assert_int_equal(fseek(f, 10, SEEK_SET), 0);
	fputc('X', f);				/* record 1 altered */
	fclose(f);
	assert_int_equal(ceremony_log_last(logpath, proof, NULL, &rec, err,
	    sizeof(err)), -1);
	assert_int_equal(rec.seq, 0);
	assert_non_null(strstr(err, "line 1"));
}

/* test_state_check_save - the temporary file made and removed */
static void
test_state_check_save(void **state)
{
	struct conf_institution inst;
	struct conf c;
	char	 path[160], code[] = "mosa";

	(void)state;
	memset(&c, 0, sizeof(c));
	memset(&inst, 0, sizeof(inst));
	c.state_dir = dir;
	inst.code = code;
	assert_int_equal(rotation_state_check_save(&c, &inst, err,
	    sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/mosa.state.new", dir);
	assert_int_equal(size_of(path), -1);
	snprintf(path, sizeof(path), "%s/mosa.state", dir);
	assert_int_equal(size_of(path), -1);
	snprintf(path, sizeof(path), "%s/none", dir);
	c.state_dir = path;
	assert_int_equal(rotation_state_check_save(&c, &inst, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "rotation state of mosa cannot be "
	    "written"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_check_append),
		T(test_last),
		T(test_state_check_save),
#undef T
	};

	return cmocka_run_group_tests_name("ceremony_ready", tests, NULL,
	    NULL);
}
