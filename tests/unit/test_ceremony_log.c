/*
 * test_ceremony_log.c - provisioning/ceremony_log.c: the hash chain
 * detects altered, removed, reordered, truncated and garbage records;
 * the line format is strict and round-trips any value; the transcript
 * carries the anchor and cannot be forged from inside a record.
 *
 * Each test gets its own directory from mkdtemp(3) and removes it.
 * Hashes are recomputed here with OpenSSL, not taken from the module.
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
#include <openssl/evp.h>

#include "p11dkim/buf.h"
#include "p11dkim/ceremony_log.h"
#include "ceremony_fixture.h"

/* append_three - init-token, generate, publish: seqs 1, 2, 3 */
static void
append_three(struct fixture *fx)
{
	static const char *actions[] = { "init-token", "generate", "publish" };
	struct ceremony_record r;

	for (size_t i = 0; i < 3; i++) {
		record_fill(&r, actions[i], "ok");
		assert_int_equal(ceremony_log_append(fx->path, NULL, &r, fx->err,
		    sizeof(fx->err)), 0);
		assert_int_equal(r.seq, i + 1);
	}
}

/* sha256_hex - the hash a record's successor must carry, computed here */
static void
sha256_hex(const char *p, size_t len, char out[CEREMONY_LOG_HASH_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	assert_int_equal(EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL),
	    1);
	assert_int_equal(mdlen, 32);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* verify_fails - verify is -1 at bad_line, with all of want in err */
static void
verify_fails(struct fixture *fx, unsigned long bad_line,
    unsigned long intact, const char *const *want)
{
	struct ceremony_log_summary sum;

	assert_int_equal(ceremony_log_verify(fx->path, &sum, fx->err,
	    sizeof(fx->err)), -1);
	assert_int_equal(sum.bad_line, bad_line);
	assert_int_equal(sum.count, intact);
	for (size_t i = 0; want[i] != NULL; i++)
		if (strstr(fx->err, want[i]) == NULL)
			fail_msg("'%s' not in \"%s\"", want[i], fx->err);
}

/* test_append_verify - three records chain; the summary names the head */
static void
test_append_verify(void **state)
{
	struct fixture *fx = *state;
	struct ceremony_log_summary sum;
	struct ceremony_record rec;
	char	 text[FILE_MAX], hash[CEREMONY_LOG_HASH_HEX];
	const char *line;
	struct stat st;
	size_t	 len;

	append_three(fx);
	assert_int_equal(ceremony_log_verify(fx->path, &sum, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(sum.count, 3);
	assert_int_equal(sum.bad_line, 0);
	assert_int_equal(sum.absent, 0);
	file_read(fx->path, text, sizeof(text));
	memcpy(hash, ZEROS, sizeof(hash));
	for (unsigned n = 1; n <= 3; n++) {
		line = text + line_find(text, n, &len);
		assert_int_equal(ceremony_log_parse(line, len, &rec, fx->err,
		    sizeof(fx->err)), 0);
		assert_int_equal(rec.seq, n);
		assert_string_equal(rec.prev, hash);
		sha256_hex(line, len, hash);
	}
	assert_string_equal(sum.head, hash);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 0777 & ~0640, 0);
}

/* test_append_continues - a later append chains to the verified head */
static void
test_append_continues(void **state)
{
	struct fixture *fx = *state;
	struct ceremony_log_summary sum;
	struct ceremony_record r;

	append_three(fx);
	assert_int_equal(ceremony_log_verify(fx->path, &sum, fx->err,
	    sizeof(fx->err)), 0);
	record_fill(&r, "activate", "ok");
	r.seq = 99;					/* append overrides */
	memcpy(r.prev, FPR, sizeof(r.prev));
	r.time[0] = '\0';				/* append fills */
	assert_int_equal(ceremony_log_append(fx->path, NULL, &r, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(r.seq, 4);
	assert_string_equal(r.prev, sum.head);
	assert_int_equal(strlen(r.time), 20);
	assert_int_equal(r.time[19], 'Z');
	assert_int_equal(ceremony_log_verify(fx->path, &sum, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(sum.count, 4);
}

/* test_altered - one byte of record 2 changed */
static void
test_altered(void **state)
{
	static const char *const why_value[] = { "line 3:",
	    "prev does not match the hash of line 2", "line 2 was altered",
	    NULL };
	static const char *const why_syntax[] = { "line 2:", "not a record",
	    NULL };
	struct fixture *fx = *state;
	struct ceremony_record r;
	char	 text[FILE_MAX], *p;
	size_t	 n = 0, len;

	append_three(fx);
	n = file_read(fx->path, text, sizeof(text));
	p = text + line_find(text, 2, &len);
	assert_non_null(p = strstr(p, "operator=alice"));
	p[strlen("operator=")] = 'A';			/* still a record */
	file_write(fx->path, text, n);
	verify_fails(fx, 3, 2, why_value);
	p[strlen("operator")] = ':';			/* no longer one */
	file_write(fx->path, text, n);
	verify_fails(fx, 2, 1, why_syntax);
	record_fill(&r, "activate", "ok");
	assert_int_equal(ceremony_log_append(fx->path, NULL, &r, fx->err,
	    sizeof(fx->err)), 0);	/* only the last line is checked */
}

/* test_removed - record 2 deleted */
static void
test_removed(void **state)
{
	static const char *const why[] = { "line 2:", "seq 3 where 2 was due",
	    "removed", "prev does not match", NULL };
	struct fixture *fx = *state;
	char	 text[FILE_MAX];
	size_t	 n, l2, l3, len2, len3;

	append_three(fx);
	n = file_read(fx->path, text, sizeof(text));
	l2 = line_find(text, 2, &len2);
	l3 = line_find(text, 3, &len3);
	memmove(text + l2, text + l3, len3 + 1);
	file_write(fx->path, text, n - len2 - 1);
	verify_fails(fx, 2, 1, why);
}

/* test_reordered - records 2 and 3 swapped */
static void
test_reordered(void **state)
{
	static const char *const why[] = { "line 2:", "seq 3 where 2 was due",
	    "reordered", NULL };
	struct fixture *fx = *state;
	char	 text[FILE_MAX], swapped[FILE_MAX];
	size_t	 n, l1, l2, l3, len1, len2, len3;

	append_three(fx);
	n = file_read(fx->path, text, sizeof(text));
	l1 = line_find(text, 1, &len1);
	l2 = line_find(text, 2, &len2);
	l3 = line_find(text, 3, &len3);
	assert_int_equal(snprintf(swapped, sizeof(swapped), "%.*s\n%.*s\n"
	    "%.*s\n", (int)len1, text + l1, (int)len3, text + l3, (int)len2,
	    text + l2), (int)n);
	file_write(fx->path, swapped, n);
	verify_fails(fx, 2, 1, why);
}

/*
 * test_truncated - a cut inside the last line is caught, and append
 * refuses to chain to it; a cut at a line boundary leaves an intact log
 * whose head and count differ from the anchor, which is all verify sees:
 * held to the head taken before the cut, ceremony_log_check() fails (the
 * anchor file: test_ceremony_anchor.c).
 */
static void
test_truncated(void **state)
{
	static const char *const why[] = { "line 3:", "no newline", NULL };
	struct fixture *fx = *state;
	struct ceremony_log_summary anchor, sum;
	struct ceremony_log_check chk = { 0 };
	struct ceremony_record r;
	char	 text[FILE_MAX];
	struct stat st;
	size_t	 n, len;

	append_three(fx);
	assert_int_equal(ceremony_log_verify(fx->path, &anchor, fx->err,
	    sizeof(fx->err)), 0);
	n = file_read(fx->path, text, sizeof(text));
	file_write(fx->path, text, n - 10);
	verify_fails(fx, 3, 2, why);
	record_fill(&r, "activate", "ok");
	assert_int_equal(ceremony_log_append(fx->path, NULL, &r, fx->err,
	    sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "refusing to append"));
	assert_non_null(strstr(fx->err, "no newline"));
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_size, n - 10);		/* nothing written */

	file_write(fx->path, text, line_find(text, 3, &len));
	assert_int_equal(ceremony_log_verify(fx->path, &sum, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(sum.count, 2);
	assert_string_not_equal(sum.head, anchor.head);
	chk.head = anchor.head;
	assert_int_equal(ceremony_log_check(fx->path, &chk, &sum, fx->err,
	    sizeof(fx->err)), -1);
	assert_int_equal(chk.failed, 1);
	assert_int_equal(sum.count, 2);
	assert_non_null(strstr(fx->err, "does not pass through head"));
}

/* test_garbage - a line that is not a record, at the end or too long */
static void
test_garbage(void **state)
{
	static const char *const why[] = { "line 4:", "not a record", NULL };
	static const char *const why_long[] = { "line 1:", "longer than 4096",
	    NULL };
	struct fixture *fx = *state;
	struct ceremony_record r;
	char	 text[FILE_MAX];
	size_t	 n;

	append_three(fx);
	n = file_read(fx->path, text, sizeof(text));
	memcpy(text + n, "hello world\n", 13);
	file_write(fx->path, text, n + 12);
	verify_fails(fx, 4, 3, why);
	record_fill(&r, "activate", "ok");
	assert_int_equal(ceremony_log_append(fx->path, NULL, &r, fx->err,
	    sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "not a record"));

	memset(text, 'a', 5000);
	text[5000] = '\n';
	file_write(fx->path, text, 5001);
	verify_fails(fx, 1, 0, why_long);
	assert_int_equal(ceremony_log_append(fx->path, NULL, &r, fx->err,
	    sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "the last line is longer than 4096"));
}

/* append_many - a child process: n appends, exit status 0 if all worked */
static void
append_many(struct fixture *fx, int child, int n)
{
	struct ceremony_record r;

	for (int i = 0; i < n; i++) {
		record_fill(&r, "generate", "ok");
		snprintf(r.operator_name, sizeof(r.operator_name),
		    "child%d-%d", child, i);
		if (ceremony_log_append(fx->path, NULL, &r, fx->err,
		    sizeof(fx->err)) < 0)
			_exit(1);
	}
	_exit(0);
}

/* test_concurrent - appends from several processes form one chain */
static void
test_concurrent(void **state)
{
	enum { CHILDREN = 4, EACH = 25 };
	struct fixture *fx = *state;
	struct ceremony_log_summary sum;
	pid_t	 pid[CHILDREN];
	int	 status;

	for (int c = 0; c < CHILDREN; c++) {
		assert_true((pid[c] = fork()) >= 0);
		if (pid[c] == 0)
			append_many(fx, c, EACH);
	}
	for (int c = 0; c < CHILDREN; c++) {
		assert_int_equal(waitpid(pid[c], &status, 0), pid[c]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(ceremony_log_verify(fx->path, &sum, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(sum.count, CHILDREN * EACH);
}

/* test_encoding - hostile bytes in values survive format and parse */
static void
test_encoding(void **state)
{
	struct fixture *fx = *state;
	struct ceremony_log_summary sum;
	struct ceremony_record r, back;
	struct buf line, again;
	size_t	 spaces = 0;

	record_fill(&r, "generate", "ok");
	r.seq = 7;
	memcpy(r.prev, ZEROS, sizeof(r.prev));
	snprintf(r.operator_name, sizeof(r.operator_name),
	    "J\xc3\xbcrgen = 100%% sure\nseq=1");
	snprintf(r.result, sizeof(r.result), "failed: C_Login on token "
	    "'m\xc3\xb6sa' = CKR_PIN_INCORRECT (0xA0)\r\n\t%%00");
	buf_init(&line, CEREMONY_LOG_LINE_MAX);
	assert_int_equal(ceremony_log_format(&r, &line, fx->err,
	    sizeof(fx->err)), 0);
	assert_non_null(strstr(buf_str(&line), " operator=J%C3%BCrgen%20%3D"
	    "%20100%25%20sure%0Aseq%3D1 "));
	for (size_t i = 0; i < line.len; i++) {
		assert_true(line.data[i] >= ' ' && line.data[i] < 0x7f);
		spaces += line.data[i] == ' ';
	}
	assert_int_equal(spaces, 11);
	assert_int_equal(ceremony_log_parse(line.data, line.len, &back,
	    fx->err, sizeof(fx->err)), 0);
	assert_int_equal(back.seq, 7);
	assert_string_equal(back.operator_name, r.operator_name);
	assert_string_equal(back.result, r.result);
	assert_string_equal(back.fpr, FPR);
	buf_init(&again, CEREMONY_LOG_LINE_MAX);
	assert_int_equal(ceremony_log_format(&back, &again, fx->err,
	    sizeof(fx->err)), 0);
	assert_string_equal(buf_str(&again), buf_str(&line));
	buf_release(&again);
	buf_release(&line);
	assert_int_equal(ceremony_log_append(fx->path, NULL, &r, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(ceremony_log_verify(fx->path, &sum, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(sum.count, 1);
}

/* test_ok_note - "ok: " and a note (what generate dropped) round-trips */
static void
test_ok_note(void **state)
{
	struct fixture *fx = *state;
	struct ceremony_record r, back;
	struct buf line;

	record_fill(&r, "generate", "ok: dropped CKA_ALLOWED_MECHANISMS "
	    "(CKR_ATTRIBUTE_TYPE_INVALID), CKA_COPYABLE (CKR_ATTRIBUTE_TYPE_"
	    "INVALID)");
	r.seq = 3;
	memcpy(r.prev, ZEROS, sizeof(r.prev));
	buf_init(&line, CEREMONY_LOG_LINE_MAX);
	assert_int_equal(ceremony_log_format(&r, &line, fx->err,
	    sizeof(fx->err)), 0);
	assert_non_null(strstr(buf_str(&line), " result=ok:%20dropped%20CKA_"
	    "ALLOWED_MECHANISMS%20(CKR_ATTRIBUTE_TYPE_INVALID),%20"));
	assert_int_equal(ceremony_log_parse(line.data, line.len, &back,
	    fx->err, sizeof(fx->err)), 0);
	assert_string_equal(back.result, r.result);
	buf_release(&line);
}

/* test_longest_record - every field full of bytes to encode still fits */
static void
test_longest_record(void **state)
{
	struct fixture *fx = *state;
	struct ceremony_record r, back;
	struct buf line;

	record_fill(&r, "generate", "ok");
	r.seq = (unsigned long)-1;
	memcpy(r.prev, FPR, sizeof(r.prev));
	memset(r.operator_name, 0xff, sizeof(r.operator_name) - 1);
	memset(r.host, '=', sizeof(r.host) - 1);
	memset(r.token_label, '%', sizeof(r.token_label) - 1);
	memset(r.token_serial, ' ', sizeof(r.token_serial) - 1);
	memset(r.action, 'a', sizeof(r.action) - 1);
	memset(r.inst, '\n', sizeof(r.inst) - 1);
	memset(r.selector, 0x80, sizeof(r.selector) - 1);
	snprintf(r.result, sizeof(r.result), "failed: ");
	memset(r.result + 8, 0x01, sizeof(r.result) - 9);
	buf_init(&line, 2 * CEREMONY_LOG_LINE_MAX);
	assert_int_equal(ceremony_log_format(&r, &line, fx->err,
	    sizeof(fx->err)), 0);
	assert_true(line.len <= CEREMONY_LOG_LINE_MAX);
	assert_int_equal(ceremony_log_parse(line.data, line.len, &back,
	    fx->err, sizeof(fx->err)), 0);
	assert_int_equal(memcmp(&back, &r, sizeof(r)), 0);
	buf_release(&line);
}

/* test_format_refuses - records the format cannot hold */
static void
test_format_refuses(void **state)
{
	struct fixture *fx = *state;
	struct ceremony_record r;
	struct buf line;

	buf_init(&line, CEREMONY_LOG_LINE_MAX);
	record_fill(&r, "generate", "ok");
	memcpy(r.prev, ZEROS, sizeof(r.prev));
	assert_int_equal(ceremony_log_format(&r, &line, fx->err,
	    sizeof(fx->err)), -1);			/* seq 0 */
	r.seq = 1;
	assert_int_equal(ceremony_log_format(&r, &line, fx->err,
	    sizeof(fx->err)), 0);
	buf_release(&line);
#define REFUSED(stmt, want) do { \
	struct ceremony_record bad = r; \
	stmt; \
	assert_int_equal(ceremony_log_format(&bad, &line, fx->err, \
	    sizeof(fx->err)), -1); \
	assert_non_null(strstr(fx->err, want)); \
	assert_int_equal(line.len, 0); \
} while (0)
	REFUSED(bad.operator_name[0] = '\0', "'operator'");
	REFUSED(bad.host[0] = '\0', "'host'");
	REFUSED(snprintf(bad.time, sizeof(bad.time), "2026-02-30T00:00:00Z"),
	    "'time'");
	REFUSED(snprintf(bad.time, sizeof(bad.time), "2026-11-26 23:30:00Z"),
	    "'time'");
	REFUSED(snprintf(bad.fpr, sizeof(bad.fpr), "ABCDEF"), "'fpr'");
	REFUSED(snprintf(bad.result, sizeof(bad.result), "fine"), "'result'");
	REFUSED(snprintf(bad.result, sizeof(bad.result), "failed: "),
	    "'result'");
	REFUSED(snprintf(bad.action, sizeof(bad.action), "Generate"),
	    "'action'");
	REFUSED(bad.prev[0] = 'G', "'prev'");
	REFUSED(memset(bad.host, 'h', sizeof(bad.host)), "NUL-terminated");
#undef REFUSED
	buf_release(&line);
	assert_int_equal(ceremony_log_append(fx->path, NULL, &r, fx->err,
	    sizeof(fx->err)), 0);
	r.operator_name[0] = '\0';
	assert_int_equal(ceremony_log_append(fx->path, NULL, &r, fx->err,
	    sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "refusing to append"));
}

/* mutate - the good line with the first from replaced by to */
static void
mutate(const char *good, const char *from, const char *to, char *out,
    size_t cap)
{
	const char *at = strstr(good, from);

	if (at == NULL)
		fail_msg("'%s' not in the good line", from);
	assert_true(snprintf(out, cap, "%.*s%s%s", (int)(at - good), good, to,
	    at + strlen(from)) < (int)cap);
}

/* test_parse_strict - one fault at a time in a good line */
static void
test_parse_strict(void **state)
{
	static const struct { const char *from, *to; } bad[] = {
		{ "seq=2 ", "seq=02 " }, { "seq=2 ", "seq=0 " },
		{ "seq=2 ", "seq= " }, { "seq=2 ", "seq=+2 " },
		{ "seq=2 ", "seq=99999999999999999999999 " },
		{ "seq=2 ", "sequence=2 " }, { " time=", "  time=" },
		{ "T23:", "t23:" }, { "11-26T", "02-30T" }, { ":00Z", ":00" },
		{ "=alice", "=" }, { "=alice", "=al%69ce" },
		{ "=alice", "=al%2Ece" }, { "=alice", "=a%c3%bc" },
		{ "=alice", "=a%c3" }, { "=alice", "=a%0a" },
		{ "=alice", "=a%00" }, { "=alice", "=a%2" }, { "=alice", "=a%" },
		{ "=alice", "=a%ZZ" }, { "=alice", "=a\tb" },
		{ "=alice", "=a\xc3\xbc" }, { "=alice", "=a=b" },
		{ "=alice", "=a\nb" }, { "=alice", "=a\x7f" },
		{ " host=", " hostname=" }, { " host=hsm1.example", "" },
		{ " host=hsm1.example token=mosa", " token=mosa host=hsm1.example" },
		{ "=generate", "=Generate" }, { "fpr=3b", "fpr=3B" },
		{ "fpr=3b", "fpr=3b3" }, { "=ok", "=fine" }, { "=ok", "=failed" },
		{ "=ok", "=failed:%20" }, { "=ok", "=ok:" }, { "=ok", "=ok:%20" },
		{ "=ok", "=okay" }, { "prev=ab", "prev=AB" },
		{ "prev=ab", "prev=a" }, { "prev=ab", "prev=abc" },
		{ "prev=ab", "extra=1 prev=ab" },
	};
	struct fixture *fx = *state;
	struct ceremony_record r;
	char	 good[CEREMONY_LOG_LINE_MAX], line[2 * CEREMONY_LOG_LINE_MAX];
	struct buf b;

	record_fill(&r, "generate", "ok");
	r.seq = 2;
	memcpy(r.prev, "ab" ZEROS, sizeof(r.prev) - 1);
	buf_init(&b, CEREMONY_LOG_LINE_MAX);
	assert_int_equal(ceremony_log_format(&r, &b, fx->err,
	    sizeof(fx->err)), 0);
	snprintf(good, sizeof(good), "%s", buf_str(&b));
	buf_release(&b);
	assert_int_equal(ceremony_log_parse(good, strlen(good), &r, fx->err,
	    sizeof(fx->err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mutate(good, bad[i].from, bad[i].to, line, sizeof(line));
		if (ceremony_log_parse(line, strlen(line), &r, fx->err,
		    sizeof(fx->err)) != -1)
			fail_msg("accepted %s -> %s", bad[i].from, bad[i].to);
	}
	snprintf(line, sizeof(line), "%s ", good);
	assert_int_equal(ceremony_log_parse(line, strlen(line), &r, fx->err,
	    sizeof(fx->err)), -1);
	assert_int_equal(ceremony_log_parse(good, strlen(good) + 1, &r,
	    fx->err, sizeof(fx->err)), -1);		/* the NUL */
	assert_int_equal(ceremony_log_parse(good, strlen(good) - 1, &r,
	    fx->err, sizeof(fx->err)), -1);
	assert_int_equal(ceremony_log_parse("", 0, &r, fx->err,
	    sizeof(fx->err)), -1);
	memset(line, 'a', CEREMONY_LOG_LINE_MAX + 1);
	assert_int_equal(ceremony_log_parse(line, CEREMONY_LOG_LINE_MAX + 1,
	    &r, fx->err, sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "longer than 4096"));
}

/* test_absent - no file, or an empty one: intact with no records */
static void
test_absent(void **state)
{
	struct fixture *fx = *state;
	struct ceremony_log_summary sum;

	assert_int_equal(ceremony_log_verify(fx->path, &sum, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(sum.count, 0);
	assert_int_equal(sum.absent, 1);
	assert_int_equal(sum.bad_line, 0);
	assert_string_equal(sum.head, ZEROS);
	file_write(fx->path, "", 0);
	assert_int_equal(ceremony_log_verify(fx->path, &sum, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(sum.count, 0);
	assert_int_equal(sum.absent, 0);
	assert_int_equal(ceremony_log_verify(fx->dir, &sum, fx->err,
	    sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "not a regular file"));
}

/* test_error_paths - bad paths fail with context; err may be short or NULL */
static void
test_error_paths(void **state)
{
	struct fixture *fx = *state;
	struct ceremony_log_summary sum;
	struct ceremony_record r;
	char	 path[400], tiny[8];

	record_fill(&r, "generate", "ok");
	snprintf(path, sizeof(path), "%s/no/such/dir/log", fx->dir);
	assert_int_equal(ceremony_log_append(path, NULL, &r, fx->err,
	    sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "open to append"));
	assert_non_null(strstr(fx->err, path));
	assert_int_equal(ceremony_log_append(fx->dir, NULL, &r, fx->err,
	    sizeof(fx->err)), -1);
	assert_int_equal(ceremony_log_verify(path, &sum, NULL, 0), 0);
	assert_int_equal(sum.absent, 1);
	assert_int_equal(ceremony_log_append(fx->dir, NULL, &r, NULL, 0), -1);
	assert_int_equal(ceremony_log_append(fx->dir, NULL, &r, tiny,
	    sizeof(tiny)), -1);
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	assert_int_equal(ceremony_log_transcript(fx->dir, 0, stdout, NULL, 0),
	    -1);
}

/* count_lines_starting - lines of text that begin with prefix */
static int
count_lines_starting(const char *text, const char *prefix)
{
	int	 n = 0;

	for (const char *p = text; p != NULL; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		n += strncmp(p, prefix, strlen(prefix)) == 0;
	}
	return n;
}

/* transcript_text - the transcript from from_seq, as a string */
static int
transcript_text(struct fixture *fx, unsigned long from, char **text)
{
	size_t	 len;
	FILE	*out = open_memstream(text, &len);
	int	 rc;

	assert_non_null(out);
	rc = ceremony_log_transcript(fx->path, from, out, fx->err,
	    sizeof(fx->err));
	assert_int_equal(fclose(out), 0);
	return rc;
}

/* test_transcript - records, anchor, signature lines; no forgery */
static void
test_transcript(void **state)
{
	struct fixture *fx = *state;
	struct ceremony_log_summary sum;
	struct ceremony_record r;
	char	*text = NULL, data[FILE_MAX];
	size_t	 n;

	append_three(fx);
	record_fill(&r, "revoke", "failed: DNS update refused");
	snprintf(r.operator_name, sizeof(r.operator_name),
	    "mallory\nWitness: \x1b[2Jforged");
	assert_int_equal(ceremony_log_append(fx->path, NULL, &r, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(ceremony_log_verify(fx->path, &sum, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(transcript_text(fx, 2, &text), 0);
	assert_non_null(strstr(text, sum.head));
	assert_non_null(strstr(text, "record count  4\n"));
	assert_int_equal(count_lines_starting(text, "Security officer: ___"),
	    1);
	assert_non_null(strstr(text, "Date: ___"));
	assert_int_equal(count_lines_starting(text, "Witness: ___"), 2);
	assert_int_equal(count_lines_starting(text, "Witness"), 2);
	assert_null(strchr(text, '\x1b'));
	assert_non_null(strstr(text, "mallory%0AWitness: %1B[2Jforged"));
	assert_null(strstr(text, "Record 1\n"));
	assert_non_null(strstr(text, "Record 2\n"));
	assert_non_null(strstr(text, "Record 4\n"));
	assert_non_null(strstr(text, "failed: DNS update refused"));
	free(text);

	n = file_read(fx->path, data, sizeof(data));
	file_write(fx->path, data, n - 1);
	text = NULL;
	assert_int_equal(transcript_text(fx, 0, &text), -1);
	assert_non_null(strstr(fx->err, "line 4:"));
	assert_true(text == NULL || text[0] == '\0');	/* nothing printed */
	free(text);
	assert_int_equal(unlink(fx->path), 0);
	assert_int_equal(transcript_text(fx, 0, &text), 0);
	assert_non_null(strstr(text, "no log file"));
	assert_non_null(strstr(text, ZEROS));
	free(text);
}

/* test_result_ok - what went well: "ok" and "ok: note", nothing else */
static void
test_result_ok(void **state)
{
	(void)state;
	assert_true(ceremony_result_ok("ok"));
	assert_true(ceremony_result_ok("ok: dropped CKA_COPYABLE "
	    "(CKR_ATTRIBUTE_TYPE_INVALID)"));
	assert_false(ceremony_result_ok("ok: "));
	assert_false(ceremony_result_ok("ok:"));
	assert_false(ceremony_result_ok("okay"));
	assert_false(ceremony_result_ok("failed: CKR_DEVICE_ERROR"));
	assert_false(ceremony_result_ok(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_append_verify),
		T(test_append_continues),
		T(test_altered),
		T(test_removed),
		T(test_reordered),
		T(test_truncated),
		T(test_garbage),
		T(test_concurrent),
		T(test_encoding),
		T(test_ok_note),
		T(test_longest_record),
		T(test_format_refuses),
		T(test_parse_strict),
		T(test_absent),
		T(test_error_paths),
		T(test_transcript),
		cmocka_unit_test(test_result_ok),
#undef T
	};

	return cmocka_run_group_tests_name("ceremony_log", tests, NULL, NULL);
}
