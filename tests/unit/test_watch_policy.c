/*
 * test_watch_policy.c - provisioning/watch_policy.c: how far apart
 * dns-watch's queries go, what a finding does to the state (mark, keep,
 * clear, demote after the grace period; a failed lookup never counts),
 * the fingerprint of a published key (the ceremony log's SHA-256 of the
 * SPKI, for RSA and Ed25519), and the metrics text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../provisioning/watch_int.h"

/* test_interval - the rate, or slower to fill the spread */
static void
test_interval(void **state)
{
	(void)state;
	assert_int_equal(watch_interval_ns(4, 0, 12), 250000000LL);
	assert_int_equal(watch_interval_ns(100, 6, 12), 500000000LL);
	assert_int_equal(watch_interval_ns(2, 6, 120), 500000000LL);
	assert_int_equal(watch_interval_ns(50, 3600, 40000), 90000000LL);
	assert_int_equal(watch_interval_ns(10, 10, 0), 100000000LL);
}

/* test_decide - the drift's life: first seen, kept, demoted, cleared */
static void
test_decide(void **state)
{
	struct rotation_state rs;

	(void)state;
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(watch_decide(&rs, WATCH_OK, 100, 50), WATCH_KEEP);
	assert_int_equal(watch_decide(&rs, WATCH_LOOKUP_FAILED, 100, 50),
	    WATCH_KEEP);
	assert_int_equal(rs.drift_since, 0);
	assert_int_equal(watch_decide(&rs, WATCH_CNAME_MISSING, 100, 50),
	    WATCH_MARK);
	assert_int_equal(rs.drift_since, 100);
	assert_string_equal(rs.drift_reason, "cname-missing");
	assert_int_equal(watch_decide(&rs, WATCH_CNAME_MISSING, 120, 50),
	    WATCH_KEEP);
	assert_int_equal(watch_decide(&rs, WATCH_LOOKUP_FAILED, 200, 50),
	    WATCH_KEEP);
	assert_int_equal(watch_decide(&rs, WATCH_KEY_MISMATCH, 130, 50),
	    WATCH_MARK);		/* another reason: since stays */
	assert_int_equal(rs.drift_since, 100);
	assert_string_equal(rs.drift_reason, "key-mismatch");
	assert_int_equal(rs.onboard, ONBOARD_LIVE);
	assert_int_equal(watch_decide(&rs, WATCH_KEY_MISMATCH, 150, 50),
	    WATCH_DEMOTE);
	assert_int_equal(rs.onboard, ONBOARD_PENDING);
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(watch_decide(&rs, WATCH_TXT_MISSING, 100, 0),
	    WATCH_MARK);
	assert_int_equal(watch_decide(&rs, WATCH_TXT_MISSING, 99999, 0),
	    WATCH_KEEP);		/* no grace: never demoted */
	assert_int_equal(watch_decide(&rs, WATCH_OK, 100000, 0), WATCH_CLEAR);
	assert_int_equal(rs.drift_since, 0);
	assert_string_equal(rs.drift_reason, "");
	assert_int_equal(rs.onboard, ONBOARD_LIVE);
}

/* test_fpr - the SPKI's SHA-256, as key_audit_fingerprint gives it */
static void
test_fpr(void **state)
{
	unsigned char raw[32];
	char	 fpr[WATCH_FPR_LEN + 1];

	(void)state;
	/* RFC 8032 7.1, test 1: its public key; SPKI hashed by openssl */
	static const char hex[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3"
	    "daa62325af021a68f707511a";
	for (size_t i = 0; i < 32; i++)
		sscanf(hex + 2 * i, "%2hhx", &raw[i]);
	assert_int_equal(watch_spki_fpr("ed25519", raw, 32, fpr), 0);
	assert_string_equal(fpr, "06e3fd8fda29bb60ab59557de61edb0aecdb2311"
	    "34be30e75b455f8e1b792fa9");
	assert_int_equal(watch_spki_fpr("ed25519", raw, 31, fpr), -1);
	assert_int_equal(watch_spki_fpr("rsa", (const unsigned char *)"abc",
	    3, fpr), 0);
	assert_string_equal(fpr, "ba7816bf8f01cfea414140de5dae2223b00361a3"
	    "96177a9cb410ff61f20015ad");
}

/* test_metrics - one series per checked institution, with its reason */
static void
test_metrics(void **state)
{
	char	 mosa[] = "mosa", venue[] = "venue", gala[] = "gala";
	struct conf_institution a = { .code = mosa }, b = { .code = venue },
	    c = { .code = gala };
	struct watch_item items[3];
	struct watch w;
	struct buf out;

	(void)state;
	memset(&w, 0, sizeof(w));
	memset(items, 0, sizeof(items));
	items[0].inst = &a;
	items[1].inst = &b;
	items[2].inst = &c;		/* the run stopped before it */
	items[0].checked = items[1].checked = 1;
	items[1].drift = WATCH_CNAME_CHANGED;
	w.items = items;
	w.n = 3;
	w.queries = 7;
	buf_init(&out, 4096);
	assert_int_equal(watch_metrics(&w, 1700000000, 1.5, &out), 0);
	assert_non_null(strstr(buf_str(&out), "\np11dkim_dns_drift{institution="
	    "\"mosa\",reason=\"ok\"} 0\np11dkim_dns_drift{institution=\"venue\","
	    "reason=\"cname-changed\"} 1\n"));
	assert_non_null(strstr(buf_str(&out), "\np11dkim_dns_watch_queries 7\n"));
	assert_null(strstr(buf_str(&out), "gala"));
	assert_non_null(strstr(buf_str(&out),
	    "\np11dkim_dns_watch_last_run_seconds 1700000000\n"));
	buf_release(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interval),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_fpr),
		cmocka_unit_test(test_metrics),
	};

	return cmocka_run_group_tests_name("watch_policy", tests, NULL, NULL);
}
