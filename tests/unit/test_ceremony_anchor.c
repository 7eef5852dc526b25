/*
 * test_ceremony_anchor.c - provisioning/ceremony_anchor.c: every append
 * rewrites the anchor file; ceremony_log_check() catches a log cut short
 * or rewritten behind the anchor's back, and one that does not pass
 * through a head hash given from a transcript; an anchor left behind by
 * an append that stopped between its record and its anchor is accepted;
 * a missing or damaged anchor file is not.
 *
 * Each test gets its own directory from mkdtemp(3) and removes it.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11dkim/ceremony_log.h"
#include "ceremony_fixture.h"

/* append_anchored - n records, each append anchored; the last seq */
static unsigned long
append_anchored(struct fixture *fx, const char *operator_name, int n)
{
	struct ceremony_record r;

	for (int i = 0; i < n; i++) {
		record_fill(&r, "generate", "ok");
		snprintf(r.operator_name, sizeof(r.operator_name), "%s",
		    operator_name);
		assert_int_equal(ceremony_log_append(fx->path, fx->anchor, &r,
		    fx->err, sizeof(fx->err)), 0);
	}
	return r.seq;
}

/* check - ceremony_log_check() held to the anchor file and head */
static int
check(struct fixture *fx, const char *head, struct ceremony_log_check *chk,
    struct ceremony_log_summary *sum)
{
	memset(chk, 0, sizeof(*chk));
	chk->head = head;
	chk->anchor_path = fx->anchor;
	return ceremony_log_check(fx->path, chk, sum, fx->err,
	    sizeof(fx->err));
}

/* check_fails - the chain is intact, an anchor is not; why in err */
static void
check_fails(struct fixture *fx, const char *head, const char *const *want)
{
	struct ceremony_log_check chk;
	struct ceremony_log_summary sum;

	assert_int_equal(check(fx, head, &chk, &sum), -1);
	assert_int_equal(chk.failed, 1);
	assert_int_equal(sum.bad_line, 0);
	for (size_t i = 0; want[i] != NULL; i++)
		if (strstr(fx->err, want[i]) == NULL)
			fail_msg("'%s' not in \"%s\"", want[i], fx->err);
}

/* test_written - the anchor names the last record; nothing left over */
static void
test_written(void **state)
{
	struct fixture *fx = *state;
	struct ceremony_log_check chk;
	struct ceremony_log_summary sum;
	char	 text[256], want[256], tmp[400];
	struct stat st;

	assert_int_equal(append_anchored(fx, "alice", 3), 3);
	assert_int_equal(check(fx, NULL, &chk, &sum), 0);
	assert_int_equal(chk.anchor.count, 3);
	assert_string_equal(chk.anchor.head, sum.head);
	snprintf(want, sizeof(want), "count=3 head=%s\n", sum.head);
	file_read(fx->anchor, text, sizeof(text));
	assert_string_equal(text, want);
	assert_int_equal(stat(fx->anchor, &st), 0);
	assert_int_equal(st.st_mode & 0777 & ~0640, 0);
	snprintf(tmp, sizeof(tmp), "%s.new", fx->anchor);
	assert_int_equal(stat(tmp, &st), -1);
	assert_int_equal(errno, ENOENT);
}

/* test_cut - the last record cut off at a line boundary */
static void
test_cut(void **state)
{
	static const char *const why[] = { "has 2 records", "says 3",
	    "cut off the end", NULL };
	static const char *const gone[] = { "is absent, its anchor",
	    "says 3 records", "removed or moved", NULL };
	struct fixture *fx = *state;
	struct ceremony_log_summary sum;
	char	 text[FILE_MAX];
	size_t	 len;

	append_anchored(fx, "alice", 3);
	file_read(fx->path, text, sizeof(text));
	file_write(fx->path, text, line_find(text, 3, &len));
	assert_int_equal(ceremony_log_verify(fx->path, &sum, fx->err,
	    sizeof(fx->err)), 0);		/* the chain alone is intact */
	check_fails(fx, NULL, why);
	assert_int_equal(unlink(fx->path), 0);
	check_fails(fx, NULL, gone);
}

/* test_rewritten - another chain of the same length in its place */
static void
test_rewritten(void **state)
{
	static const char *const why[] = { "record 3 has hash",
	    "rewritten from that record or before", NULL };
	struct fixture *fx = *state;
	struct ceremony_record r;

	append_anchored(fx, "alice", 3);
	assert_int_equal(unlink(fx->path), 0);
	for (int i = 0; i < 4; i++) {
		record_fill(&r, "generate", "ok");
		snprintf(r.operator_name, sizeof(r.operator_name), "mallory");
		assert_int_equal(ceremony_log_append(fx->path, NULL, &r,
		    fx->err, sizeof(fx->err)), 0);
	}
	check_fails(fx, NULL, why);
}

/*
 * test_behind - an append that stopped after its record and before its
 * anchor (or an older copy of the anchor) leaves the anchor behind the
 * log: accepted, and the next append brings it up to date
 */
static void
test_behind(void **state)
{
	struct fixture *fx = *state;
	struct ceremony_log_check chk;
	struct ceremony_log_summary sum;
	struct ceremony_record r;
	char	 old[256];
	size_t	 n;

	append_anchored(fx, "alice", 2);
	n = file_read(fx->anchor, old, sizeof(old));
	record_fill(&r, "publish", "ok");
	assert_int_equal(ceremony_log_append(fx->path, NULL, &r, fx->err,
	    sizeof(fx->err)), 0);		/* the record, no anchor */
	assert_int_equal(check(fx, NULL, &chk, &sum), 0);
	assert_int_equal(sum.count, 3);
	assert_int_equal(chk.anchor.count, 2);
	append_anchored(fx, "alice", 1);
	file_write(fx->anchor, old, n);		/* an older copy */
	assert_int_equal(check(fx, NULL, &chk, &sum), 0);
	assert_int_equal(sum.count, 4);
	assert_int_equal(chk.anchor.count, 2);
}

/* test_head - the chain must pass through the head given */
static void
test_head(void **state)
{
	static const char *const why[] = { "chain of 1 records does not pass "
	    "through head", NULL };
	static const char *const other[] = { "does not pass through head "
	    FPR, NULL };
	struct fixture *fx = *state;
	struct ceremony_log_check chk;
	struct ceremony_log_summary at2, sum;
	char	 text[FILE_MAX];
	size_t	 len;

	append_anchored(fx, "alice", 2);
	assert_int_equal(ceremony_log_verify(fx->path, &at2, fx->err,
	    sizeof(fx->err)), 0);
	append_anchored(fx, "alice", 2);
	assert_int_equal(check(fx, at2.head, &chk, &sum), 0);
	assert_int_equal(chk.head_seq, 2);		/* anchors stay valid */
	assert_int_equal(sum.count, 4);
	assert_int_equal(check(fx, ZEROS, &chk, &sum), 0);
	assert_int_equal(chk.head_seq, 0);		/* the empty log's */
	check_fails(fx, FPR, other);
	file_read(fx->path, text, sizeof(text));
	file_write(fx->path, text, line_find(text, 2, &len));
	assert_int_equal(unlink(fx->anchor), 0);	/* the head is told first */
	check_fails(fx, at2.head, why);
}

/* test_missing - no anchor file for a log with records; none needed */
static void
test_missing(void **state)
{
	static const char *const why[] = { "has 1 records but no anchor file",
	    NULL };
	struct fixture *fx = *state;
	struct ceremony_log_check chk;
	struct ceremony_log_summary head, sum;
	struct ceremony_record r;

	assert_int_equal(check(fx, NULL, &chk, &sum), 0);	/* no log */
	assert_int_equal(chk.anchor_absent, 1);
	file_write(fx->path, "", 0);
	assert_int_equal(check(fx, NULL, &chk, &sum), 0);	/* empty */
	record_fill(&r, "generate", "ok");
	assert_int_equal(ceremony_log_append(fx->path, NULL, &r, fx->err,
	    sizeof(fx->err)), 0);
	check_fails(fx, NULL, why);
	assert_int_equal(ceremony_log_verify(fx->path, &head, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(check(fx, head.head, &chk, &sum), -1);
	assert_int_equal(chk.failed, 1);	/* the head was still found */
	assert_int_equal(chk.head_found, 1);
	assert_int_equal(chk.head_seq, 1);
	append_anchored(fx, "alice", 1);
	assert_int_equal(check(fx, NULL, &chk, &sum), 0);
	assert_int_equal(chk.anchor.count, 2);
}

/* test_damaged - anything but exactly "count=N head=HASH\n" is refused */
static void
test_damaged(void **state)
{
	static const char *const why[] = { "damaged", NULL };
	static const char *const bad[] = { "", "count=1\n",
	    "count=01 head=" FPR "\n", "count=1 head=" FPR,
	    "count=1 head=" FPR "\n\n", "count=1  head=" FPR "\n",
	    "count=-1 head=" FPR "\n", "count=1 head=" ZEROS "0\n",
	    "count=1 head=3B0C3E5F6C0A4F2E9D1B7A8C5E4D3F2A1B0C9D8E7F6A5B4C3D2E"
	    "1F0A9B8C7D6E\n", "count=99999999999999999999999 head=" FPR "\n" };
	struct fixture *fx = *state;
	struct ceremony_log_check chk;
	struct ceremony_log_summary sum;
	char	 text[FILE_MAX];
	size_t	 n;

	append_anchored(fx, "alice", 1);
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		file_write(fx->anchor, bad[k], strlen(bad[k]));
		check_fails(fx, NULL, why);
	}
	assert_int_equal(unlink(fx->anchor), 0);
	assert_int_equal(symlink(fx->path, fx->anchor), 0);
	check_fails(fx, NULL, why + 1);			/* not followed */
	assert_non_null(strstr(fx->err, "anchor file"));
	/* A broken chain is told first, as a broken chain. */
	n = file_read(fx->path, text, sizeof(text));
	file_write(fx->path, text, n - 1);
	assert_int_equal(check(fx, NULL, &chk, &sum), -1);
	assert_int_equal(chk.failed, 0);
	assert_int_equal(sum.bad_line, 1);
}

/* test_anchor_fails - the record stays; the failure names both */
static void
test_anchor_fails(void **state)
{
	struct fixture *fx = *state;
	struct ceremony_log_summary sum;
	struct ceremony_record r;
	char	 anchor[400];

	snprintf(anchor, sizeof(anchor), "%s/no/such/dir/ceremony.anchor",
	    fx->dir);
	record_fill(&r, "generate", "ok");
	assert_int_equal(ceremony_log_append(fx->path, anchor, &r, fx->err,
	    sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "record 1 was written, but its anchor "
	    "was not"));
	assert_non_null(strstr(fx->err, "no/such/dir/ceremony.anchor.new"));
	assert_int_equal(ceremony_log_verify(fx->path, &sum, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(sum.count, 1);
}

/* test_concurrent - anchored appends from several processes agree */
static void
test_concurrent(void **state)
{
	enum { CHILDREN = 3, EACH = 15 };
	struct fixture *fx = *state;
	struct ceremony_log_check chk;
	struct ceremony_log_summary sum;
	pid_t	 pid[CHILDREN];
	int	 status;

	for (int c = 0; c < CHILDREN; c++) {
		assert_true((pid[c] = fork()) >= 0);
		if (pid[c] == 0) {
			append_anchored(fx, "child", EACH);
			_exit(0);
		}
	}
	for (int c = 0; c < CHILDREN; c++) {
		assert_int_equal(waitpid(pid[c], &status, 0), pid[c]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(check(fx, NULL, &chk, &sum), 0);
	assert_int_equal(sum.count, CHILDREN * EACH);
	assert_int_equal(chk.anchor.count, CHILDREN * EACH);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_written),
		T(test_cut),
		T(test_rewritten),
		T(test_behind),
		T(test_head),
		T(test_missing),
		T(test_damaged),
		T(test_anchor_fails),
		T(test_concurrent),
#undef T
	};

	return cmocka_run_group_tests_name("ceremony_anchor", tests, NULL,
	    NULL);
}
