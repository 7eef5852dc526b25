/*
 * test_trail_record.c - util/trail_record.c: a record formatted and read
 * back, its escapes, lines that are not records, bh= and b= values as a
 * complaint shows them (folded, with their tag), Message-IDs, --since
 * times and what a search matches; and daemon/signer.c's check of the
 * note a front sends with a request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "p11dkim/signer.h"
#include "p11dkim/trail_record.h"

#define BH	"QO0fB3ZyW/AQ0gChLynH0NCYBKUEBHOsBcyA3s2PLx8="

/* sample - a record with every field set */
static void
sample(struct trail_record *r)
{
	memset(r, 0, sizeof(*r));
	r->t = 1796315102;		/* 2026-12-03T16:25:02Z */
	r->size = 4096;
	snprintf(r->inst, sizeof(r->inst), "%s", "mosa");
	snprintf(r->front, sizeof(r->front), "%s", "milter");
	snprintf(r->client, sizeof(r->client), "%s", "mx [10.1.2.7] queue=Q1");
	snprintf(r->d, sizeof(r->d), "%s", "mosamuseum.com");
	snprintf(r->s, sizeof(r->s), "%s", "stxsel1");
	snprintf(r->a, sizeof(r->a), "%s", "rsa-sha256");
	snprintf(r->bh, sizeof(r->bh), "%s", BH);
	memset(r->bhash, 'a', TRAIL_BHASH_LEN);
	snprintf(r->msgid, sizeof(r->msgid), "%s", "100%sure@example");
}

/* test_round_trip - formatted, then parsed: the same record */
static void
test_round_trip(void **state)
{
	struct trail_record r, back;
	char	 line[TRAIL_LINE_MAX];
	int	 n;

	(void)state;
	sample(&r);
	n = trail_format(&r, line, sizeof(line));
	assert_true(n > 0);
	assert_int_equal(line[n - 1], '\n');
	assert_non_null(strstr(line, "t=2026-12-03T16:25:02Z inst=mosa "));
	assert_non_null(strstr(line, " client=mx%20[10.1.2.7]%20queue=Q1 "));
	assert_non_null(strstr(line, " msgid=100%25sure@example size=4096\n"));
	assert_int_equal(trail_parse(line, (size_t)n, &back), 0);
	assert_memory_equal(&r, &back, sizeof(r));
}

/* test_empty_and_dash - "" is written "-", a value "-" is escaped */
static void
test_empty_and_dash(void **state)
{
	struct trail_record r, back;
	char	 line[TRAIL_LINE_MAX];
	int	 n;

	(void)state;
	sample(&r);
	r.front[0] = '\0';
	snprintf(r.client, sizeof(r.client), "%s", "-");
	n = trail_format(&r, line, sizeof(line));
	assert_non_null(strstr(line, " front=- client=%2D "));
	assert_int_equal(trail_parse(line, (size_t)n, &back), 0);
	assert_string_equal(back.front, "");
	assert_string_equal(back.client, "-");
}

/* test_too_small - a buffer too small fails, never cuts a line */
static void
test_too_small(void **state)
{
	struct trail_record r;
	char	 line[TRAIL_LINE_MAX];
	int	 n;

	(void)state;
	sample(&r);
	n = trail_format(&r, line, sizeof(line));
	for (size_t len = 0; len <= (size_t)n; len += 7)
		assert_int_equal(trail_format(&r, line, len), -1);
	assert_int_equal(trail_format(&r, line, (size_t)n + 1), n);
}

/* test_not_records - cut, damaged, or missing fields: refused */
static void
test_not_records(void **state)
{
	static const char *const bad[] = {
		"",
		"t=2026-12-03T16:25:02Z inst=mosa",
		"garbage",
		"t=yesterday inst=a front=- client=- d=- s=- a=- bh=- "
		    "b-sha256=- msgid=- size=1",
		"t=2026-12-03T16:25:02Z inst=a front=- client=%2 d=- s=- a=- "
		    "bh=- b-sha256=- msgid=- size=1",
		"t=2026-12-03T16:25:02Z inst=a front=- client=%00 d=- s=- "
		    "a=- bh=- b-sha256=- msgid=- size=1",
		"t=2026-12-03T16:25:02Z inst=a front=- client=- d=- s=- a=- "
		    "bh=- b-sha256=- msgid=- size=99999999999999999999999",
		"t=2026-12-03T16:25:02Z inst=a  front=- client=- d=- s=- a=- "
		    "bh=- b-sha256=- msgid=- size=1",
		"t=2026-12-03T16:25:02Z inst=a front=- client=- d=- s=- a=- "
		    "bh=- b-sha256=- msgid=- size=1x",
	};
	struct trail_record r;
	char	 line[TRAIL_LINE_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(trail_parse(bad[i], strlen(bad[i]), &r), -1);
	/* A value longer than its field. */
	snprintf(line, sizeof(line), "t=2026-12-03T16:25:02Z inst=%040d "
	    "front=- client=- d=- s=- a=- bh=- b-sha256=- msgid=- size=1", 0);
	assert_int_equal(trail_parse(line, strlen(line), &r), -1);
	/* A field of a later version is passed over. */
	snprintf(line, sizeof(line), "t=2026-12-03T16:25:02Z inst=a new=x "
	    "front=- client=- d=- s=- a=- bh=- b-sha256=- msgid=- size=1");
	assert_int_equal(trail_parse(line, strlen(line), &r), 0);
}

/* test_b64_clean - bh= as a complaint shows it */
static void
test_b64_clean(void **state)
{
	char	 out[TRAIL_BH_MAX + 1];

	(void)state;
	assert_int_equal(trail_b64_clean(BH, out, sizeof(out)), 0);
	assert_string_equal(out, BH);
	assert_int_equal(trail_b64_clean(" bh=QO0fB3ZyW/AQ0gChLynH0NC\r\n\t"
	    "YBKUEBHOsBcyA3s2PLx8= ;", out, sizeof(out)), 0);
	assert_string_equal(out, BH);
	assert_int_equal(trail_b64_clean("bh = QO0f B3Zy", out, sizeof(out)),
	    0);
	assert_string_equal(out, "QO0fB3Zy");
	assert_int_equal(trail_b64_clean("QO0f;B3Zy", out, sizeof(out)), -1);
	assert_int_equal(trail_b64_clean("QO0f*", out, sizeof(out)), -1);
	assert_int_equal(trail_b64_clean(" \r\n ", out, sizeof(out)), -1);
	assert_int_equal(trail_b64_clean("bh=", out, sizeof(out)), -1);
	assert_int_equal(trail_b64_clean(BH BH, out, sizeof(out)), -1);
}

/* test_bhash_of_b - b= as found, or its bytes: the same hash */
static void
test_bhash_of_b(void **state)
{
	unsigned char sig[64];
	char	 b64[128], folded[160], want[TRAIL_BHASH_LEN + 1];
	char	 got[TRAIL_BHASH_LEN + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(sig); i++)
		sig[i] = (unsigned char)(i * 37 + 1);
	EVP_EncodeBlock((unsigned char *)b64, sig, sizeof(sig));
	assert_int_equal(trail_bhash(sig, sizeof(sig), want), 0);
	assert_int_equal(trail_bhash_of_b(b64, got), 0);
	assert_string_equal(got, want);
	snprintf(folded, sizeof(folded), "b=%.30s\r\n\t %.30s\r\n %s;\r\n",
	    b64, b64 + 30, b64 + 60);
	assert_int_equal(trail_bhash_of_b(folded, got), 0);
	assert_string_equal(got, want);
	assert_int_equal(trail_bhash_of_b("abc", got), -1);	/* not 4n */
	assert_int_equal(trail_bhash_of_b("ab=c", got), -1);	/* '=' inside */
	assert_int_equal(trail_bhash_of_b("====", got), -1);
	assert_int_equal(trail_bhash(sig, 0, got), -1);
}

/* test_msgid_norm - whitespace, controls, one pair of brackets go */
static void
test_msgid_norm(void **state)
{
	char	 out[TRAIL_MSGID_MAX + 1], big[600];
	static const char id[] = " <abc@example.org>\r\n";

	(void)state;
	trail_msgid_norm(id, strlen(id), out);
	assert_string_equal(out, "abc@example.org");
	trail_msgid_norm("abc@x", 5, out);
	assert_string_equal(out, "abc@x");
	trail_msgid_norm("<a\r\n\tb>", 7, out);
	assert_string_equal(out, "ab");
	trail_msgid_norm("<>", 2, out);
	assert_string_equal(out, "");
	memset(big, 'x', sizeof(big));
	trail_msgid_norm(big, sizeof(big), out);
	assert_int_equal(strlen(out), TRAIL_MSGID_MAX);
}

/* test_time_parse - the forms --since takes */
static void
test_time_parse(void **state)
{
	int64_t	 t;

	(void)state;
	assert_int_equal(trail_time_parse("2026-12-03", &t), 0);
	assert_int_equal(t, 1796256000);
	assert_int_equal(trail_time_parse("2026-12-03T16:25:02Z", &t), 0);
	assert_int_equal(t, 1796315102);
	assert_int_equal(trail_time_parse("2026-12-03 16:25:02", &t), 0);
	assert_int_equal(t, 1796315102);
	assert_int_equal(trail_time_parse("@1796315102", &t), 0);
	assert_int_equal(t, 1796315102);
	assert_int_equal(trail_time_parse("@", &t), -1);
	assert_int_equal(trail_time_parse("@12x", &t), -1);
	assert_int_equal(trail_time_parse("yesterday", &t), -1);
	assert_int_equal(trail_time_parse("2026-12-03T16", &t), -1);
}

/* test_match - every criterion given must hold */
static void
test_match(void **state)
{
	struct trail_record r;
	struct trail_query q;

	(void)state;
	sample(&r);
	trail_query_init(&q);
	assert_true(trail_match(&q, &r));
	q.since = r.t;
	assert_true(trail_match(&q, &r));
	q.since = r.t + 1;
	assert_false(trail_match(&q, &r));
	trail_query_init(&q);
	q.has_bh = 1;
	snprintf(q.bh, sizeof(q.bh), "%s", BH);
	assert_true(trail_match(&q, &r));
	q.has_msgid = 1;
	snprintf(q.msgid, sizeof(q.msgid), "%s", "other@example");
	assert_false(trail_match(&q, &r));
	snprintf(q.msgid, sizeof(q.msgid), "%s", r.msgid);
	assert_true(trail_match(&q, &r));
	q.has_b = 1;
	memset(q.bhash, 'b', TRAIL_BHASH_LEN);
	assert_false(trail_match(&q, &r));
}

/* test_note_check - the note a front sends: terminated printable text */
static void
test_note_check(void **state)
{
	struct signer_note n;
	char	 why[64];

	(void)state;
	memset(&n, 0, sizeof(n));
	assert_int_equal(signer_note_check(&n, why, sizeof(why)), 0);
	n.front = SIGNER_FRONT_MILTER;
	snprintf(n.client, sizeof(n.client), "%s", "mx queue=Q1");
	assert_int_equal(signer_note_check(&n, why, sizeof(why)), 0);
	n.front = 'x';
	assert_int_equal(signer_note_check(&n, why, sizeof(why)), -1);
	assert_string_equal(why, "a trail note with a bad front");
	n.front = SIGNER_FRONT_NATIVE;
	memset(n.msgid, 'a', sizeof(n.msgid));
	assert_int_equal(signer_note_check(&n, why, sizeof(why)), -1);
	assert_string_equal(why, "a trail note with a bad Message-ID");
	n.msgid[0] = '\0';
	n.d[0] = '\n';
	assert_int_equal(signer_note_check(&n, why, sizeof(why)), -1);
	assert_string_equal(why, "a trail note with a bad d=");
	n.d[0] = '\0';
	n.s[3] = (char)0x80;
	assert_int_equal(signer_note_check(&n, why, sizeof(why)), 0);
	n.s[0] = 'x';
	n.s[1] = 'y';
	n.s[2] = 'z';
	assert_int_equal(signer_note_check(&n, why, sizeof(why)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_empty_and_dash),
		cmocka_unit_test(test_too_small),
		cmocka_unit_test(test_not_records),
		cmocka_unit_test(test_b64_clean),
		cmocka_unit_test(test_bhash_of_b),
		cmocka_unit_test(test_msgid_norm),
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_note_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
