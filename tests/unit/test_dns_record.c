/*
 * test_dns_record.c - provisioning/dns_record.c: zone-file output, the
 * zone and dig-output parser, DKIM key records, the published-versus-
 * token check, and live lookups that must fail cleanly without network.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "p11dkim/dns_record.h"

#define OWNER	"sel1-mosa._domainkey.dkim.example.net"
#define ED_B64	"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

/* fake_der - n bytes standing in for a key (a DER SPKI starts 0x30) */
static unsigned char *
fake_der(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 131 + seed * 7 + (i >> 3)) & 0xff);
	p[0] = 0x30;
	return p;
}

/* b64 - base64 of n bytes, NUL-terminated, caller frees */
static char *
b64(const unsigned char *p, size_t n)
{
	char	*s = malloc(4 * ((n + 2) / 3) + 1);

	assert_non_null(s);
	assert_true(EVP_EncodeBlock((unsigned char *)s, p, (int)n) >= 0);
	return s;
}

/* key_record - "v=DKIM1; k=<k>; p=<base64 of n fake bytes>" */
static char *
key_record(const char *k, size_t n, unsigned seed)
{
	unsigned char *der = fake_der(n, seed);
	char	*p64 = b64(der, n), *txt;
	size_t	 len = strlen(p64) + 64;

	txt = malloc(len);
	assert_non_null(txt);
	assert_true(snprintf(txt, len, "v=DKIM1; k=%s; p=%s", k, p64) > 0);
	free(der);
	free(p64);
	return txt;
}

/* strings_max - the longest decoded character-string in zone output */
static size_t
strings_max(const char *zone, size_t *count)
{
	size_t	 longest = 0, n;
	const char *p = zone;

	*count = 0;
	while ((p = strchr(p, '"')) != NULL) {
		for (n = 0, p++; *p != '"'; n++) {
			assert_int_not_equal(*p, '\0');
			if (*p == '\\')
				p += p[1] >= '0' && p[1] <= '9' ? 4 : 2;
			else
				p++;
		}
		p++;
		(*count)++;
		longest = n > longest ? n : longest;
	}
	return longest;
}

/* test_format_golden - the exact text of short records */
static void
test_format_golden(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(dns_txt_format(OWNER, "v=DKIM1; k=ed25519; p="
	    ED_B64, &b), 0);
	assert_string_equal(buf_str(&b), OWNER ". IN TXT ( \"v=DKIM1; "
	    "k=ed25519; \"\n\t\"p=" ED_B64 "\" )\n");
	buf_release(&b);
	assert_int_equal(dns_txt_format("a.example.", "say \"hi\" \\ \x01"
	    "\xc3\xa9", &b), 0);
	assert_string_equal(buf_str(&b), "a.example. IN TXT ( \"say \\\"hi\\\""
	    " \\\\ \\001\\195\\169\" )\n");
	buf_release(&b);
	assert_int_equal(dns_txt_format("a.example", "", &b), 0);
	assert_string_equal(buf_str(&b), "a.example. IN TXT ( \"\" )\n");
	buf_release(&b);
	assert_int_equal(dns_cname_format("stxsel1._domainkey.mosa.example",
	    OWNER ".", &b), 0);
	assert_string_equal(buf_str(&b), "stxsel1._domainkey.mosa.example. "
	    "IN CNAME " OWNER ".\n");
	buf_release(&b);
}

/* test_format_errors - bad names refused, overflow leaves out as it was */
static void
test_format_errors(void **state)
{
	static const char *const bad[] = { "", "a b.example", "a;b.example",
	    "@", "$ORIGIN", "a..b", ".a", "a\"b", "a(b", "a\\.b", "tab\t",
	    NULL };
	struct buf b;

	(void)state;
	buf_init(&b, 40);
	for (size_t i = 0; bad[i] != NULL; i++) {
		errno = 0;
		assert_int_equal(dns_txt_format(bad[i], "x", &b), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(dns_cname_format(bad[i], "a.example", &b),
		    -1);
		assert_int_equal(dns_cname_format("a.example", bad[i], &b),
		    -1);
	}
	assert_int_equal(dns_txt_format(NULL, "x", &b), -1);
	assert_int_equal(dns_txt_format("a.example", NULL, &b), -1);
	assert_int_equal(buf_append_str(&b, "; head\n"), 0);
	errno = 0;
	assert_int_equal(dns_txt_format(OWNER, "v=DKIM1; p=AAAA", &b), -1);
	assert_int_equal(errno, E2BIG);
	assert_string_equal(buf_str(&b), "; head\n");
	assert_int_equal(dns_cname_format(OWNER, OWNER, &b), -1);
	assert_string_equal(buf_str(&b), "; head\n");
	buf_release(&b);
}

/* roundtrip - format text at OWNER, check the strings, parse it back */
static void
roundtrip(const char *text, size_t *strings)
{
	struct dns_zone zone;
	struct buf b;
	char	 err[256];

	buf_init(&b, 4 * DNS_TXT_MAX);
	assert_int_equal(dns_txt_format(OWNER, text, &b), 0);
	assert_true(strings_max(buf_str(&b), strings) <= 255);
	assert_int_equal(dns_zone_parse(&zone, buf_str(&b), b.len, err,
	    sizeof err), 0);
	assert_int_equal(zone.n, 1);
	assert_string_equal(dns_zone_txt(&zone, OWNER, 0), text);
	assert_int_equal(zone.rr[0].len, strlen(text));
	dns_zone_release(&zone);
	buf_release(&b);
}

/* test_format_roundtrip - long keys split at 255 and come back exactly */
static void
test_format_roundtrip(void **state)
{
	char	*rsa4096 = key_record("rsa", 550, 1);	/* 4096-bit SPKI */
	char	*rsa2048 = key_record("rsa", 294, 2);
	char	 bytes[256], quotes[700];
	struct buf b;
	size_t	 strings;

	(void)state;
	roundtrip(rsa4096, &strings);
	assert_int_equal(strings, 1 + 3);	/* tag list + 736/255 */
	buf_init(&b, 4096);
	assert_int_equal(dns_txt_format(OWNER, rsa4096, &b), 0);
	assert_non_null(strstr(buf_str(&b), "( \"v=DKIM1; k=rsa; \"\n\t\"p="));
	buf_release(&b);
	roundtrip(rsa2048, &strings);
	assert_int_equal(strings, 3);
	for (size_t i = 0; i < 255; i++)
		bytes[i] = (char)(i + 1);
	bytes[255] = '\0';
	roundtrip(bytes, &strings);
	memset(quotes, '"', sizeof quotes - 1);
	quotes[sizeof quotes - 1] = '\0';
	roundtrip(quotes, &strings);
	assert_int_equal(strings, 3);
	roundtrip("p=AAAA; no split before a leading p=", &strings);
	assert_int_equal(strings, 1);
	roundtrip("v=DKIM1; pk=x; not a key", &strings);
	assert_int_equal(strings, 1);
	free(rsa4096);
	free(rsa2048);
}

struct zone_case {
	const char	*name;
	size_t		 index;
	const char	*want;		/* NULL: no such TXT */
};

static const char zone_syntax[] =
    "; p11dkim-keys zone for the provider\n"
    "$ORIGIN dkim.example.net.\n"
    "$TTL 1h\n"
    "@ 300 IN SOA ns1 hostmaster ( 2026030201 ; serial\n"
    "\t\t7200 3600 1209600 3600 )\n"
    "@ IN NS ns1\n"
    "@ 300 IN TXT \"apex\"\n"
    "sel1-mosa._domainkey IN TXT ( \"v=DKIM1; k=rsa; \" ; tag list\n"
    "\t\"p=AAAA\" ; first part ( not a paren\n"
    "\n"
    "\t\"BBBB\" )\n"
    "x IN 300 TXT \"class then ttl\"\n"
    "y 300 IN TXT \"ttl then class\"\n"
    "z TXT \"neither\"\n"
    "w 1h30m in txt \"units and lowercase\"\n"
    "multi IN TXT \"one\"\n"
    "\tIN TXT \"two\"\n"
    "  300 TXT \"three\"\n"
    "esc IN TXT \"say \\\"hi\\\" \\\\ \\065\\066C \\; ok\"\n"
    "semi IN TXT \"a;b\" ; c\n"
    "bare IN TXT hello world\\;x\n"
    "MiXeD.Example.COM. IN TXT \"m\"\n"
    "chaos CH TXT \"skipped\"\n"
    "mx IN MX 10 mail.example.net.\n"
    "host IN A 192.0.2.1\n"
    "host IN AAAA 2001:db8::1\n"
    "caa IN CAA 0 issue \"ca.example; x=(\"\n"
    "stx IN CNAME sel1-mosa._domainkey\n"
    "$ORIGIN sub\n"
    "rel IN TXT \"in sub\"\n"
    "abs.example.org. IN TXT \"absolute\"\n"
    "$ORIGIN .\n"
    "rootrel IN TXT \"relative to the root\"\n"
    "last.example. TXT \"no final newline\"";

/* test_zone_syntax - zone-file forms all parse to the same records */
static void
test_zone_syntax(void **state)
{
	static const struct zone_case cases[] = {
		{ "dkim.example.net", 0, "apex" },
		{ OWNER, 0, "v=DKIM1; k=rsa; p=AAAABBBB" },
		{ OWNER ".", 0, "v=DKIM1; k=rsa; p=AAAABBBB" },
		{ "SEL1-MOSA._DOMAINKEY.dkim.example.net", 0,
		    "v=DKIM1; k=rsa; p=AAAABBBB" },
		{ OWNER, 1, NULL },
		{ "x.dkim.example.net", 0, "class then ttl" },
		{ "y.dkim.example.net", 0, "ttl then class" },
		{ "z.dkim.example.net", 0, "neither" },
		{ "w.dkim.example.net", 0, "units and lowercase" },
		{ "multi.dkim.example.net", 0, "one" },
		{ "multi.dkim.example.net", 1, "two" },
		{ "multi.dkim.example.net", 2, "three" },
		{ "multi.dkim.example.net", 3, NULL },
		{ "esc.dkim.example.net", 0, "say \"hi\" \\ ABC ; ok" },
		{ "semi.dkim.example.net", 0, "a;b" },
		{ "bare.dkim.example.net", 0, "helloworld;x" },
		{ "mixed.example.com.", 0, "m" },
		{ "chaos.dkim.example.net", 0, NULL },
		{ "mx.dkim.example.net", 0, NULL },
		{ "caa.dkim.example.net", 0, NULL },
		{ "rel.sub.dkim.example.net", 0, "in sub" },
		{ "abs.example.org", 0, "absolute" },
		{ "rootrel", 0, "relative to the root" },
		{ "last.example", 0, "no final newline" },
		{ "nowhere.example", 0, NULL },
	};
	struct dns_zone zone;
	char	 err[256];

	(void)state;
	assert_int_equal(dns_zone_parse(&zone, zone_syntax,
	    sizeof zone_syntax - 1, err, sizeof err), 0);
	assert_string_equal(err, "");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = dns_zone_txt(&zone, cases[i].name,
		    cases[i].index);

		if (cases[i].want == NULL)
			assert_null(got);
		else
			assert_string_equal(got != NULL ? got : "(none)",
			    cases[i].want);
	}
	assert_string_equal(dns_zone_cname(&zone, "stx.dkim.example.net."),
	    OWNER);
	assert_null(dns_zone_cname(&zone, OWNER));
	assert_string_equal(zone.rr[0].owner, "dkim.example.net");
	assert_int_equal(zone.rr[0].line, 7);
	assert_int_equal(zone.rr[1].line, 8);
	dns_zone_release(&zone);
	dns_zone_release(&zone);
}

/* test_zone_crlf - CRLF line ends and an empty text */
static void
test_zone_crlf(void **state)
{
	static const char crlf[] = "$ORIGIN example.\r\n"
	    "a IN TXT ( \"x\"\r\n  \"y\" )\r\n\r\nb CNAME A.Example.\r\n";
	struct dns_zone zone;
	char	 err[256];

	(void)state;
	assert_int_equal(dns_zone_parse(&zone, crlf, sizeof crlf - 1, err,
	    sizeof err), 0);
	assert_string_equal(dns_zone_txt(&zone, "a.example", 0), "xy");
	assert_string_equal(dns_zone_cname(&zone, "b.example"), "a.example");
	dns_zone_release(&zone);
	assert_int_equal(dns_zone_parse(&zone, "", 0, err, sizeof err), 0);
	assert_int_equal(zone.n, 0);
	assert_null(dns_zone_txt(&zone, "a.example", 0));
	assert_int_equal(dns_zone_parse(&zone, NULL, 0, err, sizeof err), 0);
	dns_zone_release(&zone);
}

/* test_dig_output - a CNAME chain as dig prints it, checked end to end */
static void
test_dig_output(void **state)
{
	unsigned char *der = fake_der(294, 3);
	char	*p64 = b64(der, 294), dig[4096], err[256], why[256];
	struct dns_zone zone;
	const char *target, *txt;
	int	 n;

	(void)state;
	n = snprintf(dig, sizeof dig,
	    "\n; <<>> DiG 9.18.33-1~deb12u2-Debian <<>> TXT "
	    "stxsel1._domainkey.mosa.example\n"
	    ";; global options: +cmd\n"
	    ";; Got answer:\n"
	    ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4242\n"
	    ";; flags: qr rd ra; QUERY: 1, ANSWER: 3, AUTHORITY: 0, "
	    "ADDITIONAL: 1\n\n"
	    ";; OPT PSEUDOSECTION:\n"
	    "; EDNS: version: 0, flags:; udp: 1232\n"
	    ";; QUESTION SECTION:\n"
	    ";stxsel1._domainkey.mosa.example. IN\tTXT\n\n"
	    ";; ANSWER SECTION:\n"
	    "stxsel1._domainkey.mosa.example. 300 IN CNAME\t" OWNER ".\n"
	    OWNER ". 3600 IN\tTXT\t\"v=DKIM1; k=rsa; \" \"p=%.253s\" \"%s\"\n"
	    OWNER ". 3600 IN\tRRSIG\tTXT 13 5 3600 20260401000000 "
	    "20260301000000 12345 dkim.example.net. abc+def/ghi==\n\n"
	    ";; Query time: 12 msec\n"
	    ";; SERVER: 127.0.0.53#53(127.0.0.53) (UDP)\n"
	    ";; WHEN: Mon Mar 02 10:00:00 UTC 2026\n"
	    ";; MSG SIZE  rcvd: 512\n\n", p64, p64 + 253);
	assert_true(n > 0 && (size_t)n < sizeof dig);
	assert_int_equal(dns_zone_parse(&zone, dig, (size_t)n, err,
	    sizeof err), 0);
	assert_int_equal(zone.n, 2);
	target = dns_zone_cname(&zone, "stxsel1._domainkey.mosa.example");
	assert_string_equal(target, OWNER);
	txt = dns_zone_txt(&zone, target, 0);
	assert_non_null(txt);
	assert_int_equal(strncmp(txt, "v=DKIM1; k=rsa; p=", 18), 0);
	assert_string_equal(txt + 18, p64);
	assert_int_equal(dns_check_key(txt, "rsa", der, 294, why, sizeof why),
	    DNS_MATCH);
	dns_zone_release(&zone);
	free(der);
	free(p64);
}

struct zone_error {
	const char	*text;
	const char	*want;		/* the start of the message */
};

/* test_zone_errors - each bad zone names its line; the zone is empty */
static void
test_zone_errors(void **state)
{
	static const struct zone_error cases[] = {
		{ "a. IN TXT \"unterminated\n", "line 1: unterminated" },
		{ "a. IN TXT \"no newline in\nstrings\"\n",
		    "line 1: unterminated" },
		{ "$ORIGIN example.\n\nb IN TXT ( \"x\"\n\"y\"\n",
		    "line 3: '(' is never closed" },
		{ "a. IN TXT ( (\"x\") )\n", "line 1: nested '('" },
		{ "a. IN TXT \"x\" )\n", "line 1: ')' without '('" },
		{ "ok. TXT \"x\"\nrel IN TXT \"x\"\n", "line 2: relative "
		    "name 'rel' without $ORIGIN" },
		{ "@ IN TXT \"x\"\n", "line 1: '@' without $ORIGIN" },
		{ "\tIN TXT \"x\"\n", "line 1: record without an owner" },
		{ "a. IN TXT\n", "line 1: TXT record without text" },
		{ "a. IN TXT ; only a comment\n", "line 1: TXT record "
		    "without text" },
		{ "a. IN CNAME\n", "line 1: CNAME without a target" },
		{ "a. IN CNAME b. c.\n", "line 1: more than one name" },
		{ "a. IN CNAME \"b.\"\n", "line 1: expected a domain name" },
		{ "a.\n", "line 1: record without a type" },
		{ "a. 300 IN\n", "line 1: record without a type" },
		{ "a. \"TXT\" x\n", "line 1: record without a type" },
		{ "a. 300 600 TXT \"x\"\n", "line 1: unexpected number" },
		{ "$INCLUDE other.zone\n", "line 1: directive '$INCLUDE' is "
		    "not supported" },
		{ "\n$GENERATE 1-9 x A 1.2.3.$\n", "line 2: unknown "
		    "directive '$GENERATE'" },
		{ "$TTL soon\n", "line 1: $TTL without a valid TTL" },
		{ "$ORIGIN\n", "line 1: $ORIGIN without a name" },
		{ "$ORIGIN a. b.\n", "line 1: extra text after $ORIGIN" },
		{ "a. TXT \"\\300\"\n", "line 1: bad escape" },
		{ "a. TXT \"\\12\"\n", "line 1: bad escape" },
		{ "a. TXT x\\\n", "line 1: bad escape" },
		{ "a. TXT \"\\000\"\n", "line 1: NUL byte (\\000)" },
		{ "a. TXT \\# 2 4142\n", "line 1: generic rdata" },
		{ "a. CNAME \\# 2 4142\n", "line 1: generic rdata" },
		{ "\n\n; comment\na. IN TXT \"ok\"\nb. IN TXT ( \"x\"\n"
		    "\"y\" \"z )\n", "line 6: unterminated" },
		{ "\x1b[31mevil\\\n", "line 1: relative name '?[31mevil\\' "
		    "without" },
	};
	struct dns_zone zone;
	char	 err[256];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(dns_zone_parse(&zone, cases[i].text,
		    strlen(cases[i].text), err, sizeof err), -1);
		if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s...\"", i, err,
			    cases[i].want);
		assert_null(zone.rr);
		assert_int_equal(zone.n, 0);
	}
	assert_int_equal(dns_zone_parse(&zone, "a. TXT x\n\0", 10, err,
	    sizeof err), -1);
	assert_string_equal(err, "line 2: NUL byte in the zone text");
	assert_int_equal(dns_zone_parse(&zone, "a. TXT x\n", 9, NULL, 0), 0);
	dns_zone_release(&zone);
	assert_int_equal(dns_zone_parse(&zone, "a. TXT\n", 7, NULL, 0), -1);
	assert_int_equal(dns_zone_parse(&zone, "a. TXT\n", 7, err, 4), -1);
	assert_string_equal(err, "lin");
}

/* repeat - n copies of s in a fresh buffer */
static char *
repeat(const char *head, const char *s, size_t n, const char *tail,
    size_t *len)
{
	size_t	 hl = strlen(head), sl = strlen(s), tl = strlen(tail);
	char	*out = malloc(hl + n * sl + tl + 1), *p = out;

	assert_non_null(out);
	memcpy(p, head, hl);
	p += hl;
	for (size_t i = 0; i < n; i++, p += sl)
		memcpy(p, s, sl);
	memcpy(p, tail, tl + 1);
	*len = hl + n * sl + tl;
	return out;
}

/* test_zone_limits - 1 MiB of text, 10000 records, 64 KiB of TXT */
static void
test_zone_limits(void **state)
{
	char	 s255[258], err[256], *text;
	struct dns_zone zone;
	size_t	 len;

	(void)state;
	memset(s255 + 1, 'x', 255);
	s255[0] = s255[256] = '"';
	s255[257] = '\0';
	text = repeat("a. TXT (", s255, 257, "\"x\" )\n", &len);
	assert_int_equal(dns_zone_parse(&zone, text, len, err, sizeof err), 0);
	assert_int_equal(zone.rr[0].len, DNS_TXT_MAX);
	dns_zone_release(&zone);
	free(text);
	text = repeat("a. TXT (", s255, 257, "\"xy\" )\n", &len);
	assert_int_equal(dns_zone_parse(&zone, text, len, err, sizeof err),
	    -1);
	assert_string_equal(err, "line 1: TXT record longer than 65536 bytes");
	free(text);
	s255[256] = 'x';
	text = repeat("a. TXT ", s255, 1, "\"\n", &len);
	assert_int_equal(dns_zone_parse(&zone, text, len, err, sizeof err),
	    -1);
	assert_string_equal(err, "line 1: TXT string longer than 255 bytes "
	    "(RFC 1035 3.3)");
	free(text);
	text = repeat("", "a. IN A 192.0.2.1\n", DNS_ZONE_MAX_RECORDS, "",
	    &len);
	assert_int_equal(dns_zone_parse(&zone, text, len, err, sizeof err), 0);
	free(text);
	text = repeat("", "a. IN A 192.0.2.1\n", DNS_ZONE_MAX_RECORDS,
	    "b. TXT x\n", &len);
	assert_int_equal(dns_zone_parse(&zone, text, len, err, sizeof err),
	    -1);
	assert_string_equal(err, "line 10001: more than 10000 records");
	free(text);
	text = repeat("", ";234567\n", DNS_ZONE_MAX_TEXT / 8, "", &len);
	assert_int_equal(dns_zone_parse(&zone, text, len, err, sizeof err), 0);
	assert_int_equal(dns_zone_parse(&zone, text, len + 1, err, sizeof err),
	    -1);
	assert_string_equal(err, "zone text of 1048577 bytes is over the "
	    "limit of 1048576");
	free(text);
}

struct key_case {
	const char	*txt;
	int		 rc;
	const char	*k;		/* or the start of the error */
	size_t		 p_len;
	int		 revoked;
	int		 version_ok;
};

/* test_key_parse - RFC 6376 3.6.1 tag lists, good and bad */
static void
test_key_parse(void **state)
{
	static const struct key_case cases[] = {
		{ "v=DKIM1; k=rsa; p=AQIDBA==", 0, "rsa", 4, 0, 1 },
		{ " v = DKIM1 ;\tk = ed25519 ; p = " ED_B64 " ; ", 0,
		    "ed25519", 32, 0, 1 },
		{ "p=AQID BAUG\r\n\t  Bw==", 0, "rsa", 7, 0, 0 },
		{ "p=AQ==", 0, "rsa", 1, 0, 0 },
		{ "p=AQI=", 0, "rsa", 2, 0, 0 },
		{ "p=AQID", 0, "rsa", 3, 0, 0 },
		{ "p=AQ = =", 0, "rsa", 1, 0, 0 },
		{ "v=DKIM1; p=", 0, "rsa", 0, 1, 1 },
		{ "v=DKIM1; p= ; k=ed25519", 0, "ed25519", 0, 1, 1 },
		{ "v=DKIM1; n=some notes; x_new=1; s=email; p=AQID", 0, "rsa",
		    3, 0, 1 },
		{ "p=AQID; p=AQID", -1, "duplicate tag p=", 0, 0, 0 },
		{ "k=rsa; n=a; k=rsa; p=AQID", -1, "duplicate tag k=", 0, 0,
		    0 },
		{ "k=rsa; v=DKIM1; p=AQID", -1, "v= must be the first", 0, 0,
		    0 },
		{ "v=DKIM2; p=AQID", -1, "v=DKIM2: only DKIM1", 0, 0, 0 },
		{ "v=dkim1; p=AQID", -1, "v=dkim1: only DKIM1", 0, 0, 0 },
		{ "v=DKIM1; k=rsa", -1, "no p= tag", 0, 0, 0 },
		{ "P=AQID", -1, "no p= tag", 0, 0, 0 },
		{ "", -1, "no p= tag", 0, 0, 0 },
		{ "p=AQI", -1, "p=: invalid base64 (3", 0, 0, 0 },
		{ "p=AQ!D", -1, "p=: invalid base64 character", 0, 0, 0 },
		{ "p=A===", -1, "p=: invalid base64", 0, 0, 0 },
		{ "p=AQ=D", -1, "p=: invalid base64 character", 0, 0, 0 },
		{ "p=====", -1, "p=: invalid base64", 0, 0, 0 },
		{ "v=DKIM1;; p=AQID", -1, "tag list: a tag name must start",
		    0, 0, 0 },
		{ "1x=2; p=AQID", -1, "tag list: a tag name must start", 0, 0,
		    0 },
		{ "v=DKIM1; p", -1, "tag 'p': expected '='", 0, 0, 0 },
		{ "a-b=1; p=AQID", -1, "tag 'a': expected '='", 0, 0, 0 },
		{ "p=AQID; n=\x01", -1, "tag n=: byte 0x01 is not allowed", 0,
		    0, 0 },
		{ "p=AQID; n=caf\xc3\xa9", -1, "tag n=: byte 0xc3", 0, 0, 0 },
		{ "k=; p=AQID", -1, "k= is empty", 0, 0, 0 },
		{ "k=rsa-but-far-too-long; p=AQID", -1, "k= value longer "
		    "than 15", 0, 0, 0 },
		{ "h=sha256:sha256:sha256:sha256:sha256:sha256:sha256:sha256:"
		    "sha1:sha256; p=AQID", -1, "h= value longer than 63", 0, 0, 0 },
	};
	struct dns_dkim_key key;
	char	 err[256];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct key_case *c = &cases[i];
		int	 rc = dns_dkim_key_parse(c->txt, &key, err, sizeof err);

		if (rc != c->rc)
			fail_msg("case %zu \"%s\": rc %d (%s)", i, c->txt, rc,
			    err);
		if (rc < 0) {
			if (strncmp(err, c->k, strlen(c->k)) != 0)
				fail_msg("case %zu: got \"%s\", want \"%s\"",
				    i, err, c->k);
			assert_null(key.p);
			continue;
		}
		assert_string_equal(key.k, c->k);
		assert_int_equal(key.p_len, c->p_len);
		assert_int_equal(key.revoked, c->revoked);
		assert_int_equal(key.version_ok, c->version_ok);
		assert_true(c->revoked ? key.p == NULL : key.p != NULL);
		dns_dkim_key_release(&key);
		dns_dkim_key_release(&key);
	}
}

/* test_key_fields - h=, t= and the decoded bytes */
static void
test_key_fields(void **state)
{
	static const unsigned char want[] = { 1, 2, 3, 4, 5, 6, 7 };
	struct dns_dkim_key key;
	char	 err[256];

	(void)state;
	assert_int_equal(dns_dkim_key_parse("v=DKIM1; h=sha256 : sha1; "
	    "t=y:s; p=AQIDBAUGBw==", &key, err, sizeof err), 0);
	assert_string_equal(key.h, "sha256 : sha1");
	assert_string_equal(key.t, "y:s");
	assert_memory_equal(key.p, want, sizeof want);
	dns_dkim_key_release(&key);
	assert_int_equal(dns_dkim_key_parse(NULL, &key, err, sizeof err), -1);
	assert_int_equal(dns_dkim_key_parse("p=AQID", &key, NULL, 0), 0);
	dns_dkim_key_release(&key);
}

struct check_case {
	const char	*txt;
	const char	*want_k;
	enum dns_check	 want;
	const char	*why;		/* a part of the explanation */
};

/* test_check_key - published record against the token's key */
static void
test_check_key(void **state)
{
	char	*rsa = key_record("rsa", 294, 4);
	char	*other = key_record("rsa", 294, 5);
	char	 two[1024], hsha1[600], testing[600], why[256];
	unsigned char *der = fake_der(294, 4), ed[32];
	size_t	 p64 = strlen("v=DKIM1; k=rsa; p=");
	const struct check_case cases[] = {
		{ NULL, "rsa", DNS_MISSING, "no key record" },
		{ rsa, "rsa", DNS_MATCH, "is the token's key" },
		{ other, "rsa", DNS_MISMATCH, "is not the token's key" },
		{ "v=DKIM1; p=", "rsa", DNS_REVOKED, "revoked" },
		{ "v=DKIM1; k=ed25519; p=", "rsa", DNS_REVOKED, "revoked" },
		{ rsa, "ed25519", DNS_MISMATCH, "published k=rsa, the token "
		    "holds an ed25519 key" },
		{ "v=DKIM1; p=AQID; p=AQID", "rsa", DNS_MISMATCH,
		    "does not parse: duplicate tag" },
		{ "hello world", "rsa", DNS_MISMATCH, "does not parse" },
		{ hsha1, "rsa", DNS_MISMATCH, "h=sha1 does not allow" },
		{ two, "rsa", DNS_MISMATCH, "2 TXT records" },
		{ testing, "rsa", DNS_MATCH, "t=y" },
		{ "v=DKIM1; k=ed25519; p=" ED_B64, "ed25519", DNS_MATCH,
		    "is the token's key" },
	};

	(void)state;
	assert_true(EVP_DecodeBlock(ed, (const unsigned char *)ED_B64, 44) ==
	    33);
	assert_true(snprintf(two, sizeof two, "%s\n%s", rsa, other) > 0);
	assert_true(snprintf(hsha1, sizeof hsha1, "v=DKIM1; h=sha1; p=%s",
	    rsa + p64) > 0);
	assert_true(snprintf(testing, sizeof testing, "v=DKIM1; t=s:y; "
	    "h=sha1:sha256; p=%s", rsa + p64) > 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct check_case *c = &cases[i];
		int	 ed25519 = strcmp(c->want_k, "ed25519") == 0 &&
		    c->txt != rsa;
		enum dns_check got = dns_check_key(c->txt, c->want_k,
		    ed25519 ? ed : der, ed25519 ? 32 : 294, why, sizeof why);

		if (got != c->want || strstr(why, c->why) == NULL)
			fail_msg("case %zu: %s \"%s\", want %s \"%s\"", i,
			    dns_check_name(got), why, dns_check_name(c->want),
			    c->why);
	}
	assert_int_equal(dns_check_key(rsa, NULL, der, 294, NULL, 0),
	    DNS_MATCH);
	assert_int_equal(dns_check_key(rsa, "rsa", der, 293, why, sizeof why),
	    DNS_MISMATCH);
	assert_string_equal(dns_check_name(DNS_MATCH), "match");
	assert_string_equal(dns_check_name(DNS_MISMATCH), "mismatch");
	assert_string_equal(dns_check_name(DNS_MISSING), "missing");
	assert_string_equal(dns_check_name(DNS_REVOKED), "revoked");
	free(rsa);
	free(other);
	free(der);
}

/* A DNS message under construction (RFC 1035 4.1) */
struct wire {
	unsigned char	 b[1024];
	size_t		 n;
};

/* w_bytes - append raw bytes */
static void
w_bytes(struct wire *w, const void *p, size_t n)
{
	assert_true(w->n + n <= sizeof w->b);
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

/* w_u16 - append a 16-bit value in network order */
static void
w_u16(struct wire *w, unsigned v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	w_bytes(w, b, 2);
}

/* w_name - append a name as labels, uncompressed */
static void
w_name(struct wire *w, const char *name)
{
	const char *dot;

	for (; *name != '\0'; name = *dot ? dot + 1 : dot) {
		if ((dot = strchr(name, '.')) == NULL)
			dot = name + strlen(name);
		w->b[w->n++] = (unsigned char)(dot - name);
		w_bytes(w, name, (size_t)(dot - name));
	}
	w_bytes(w, "", 1);
}

/* w_start - a response header with one question for qname */
static void
w_start(struct wire *w, unsigned rcode, unsigned ancount, const char *qname,
    unsigned qtype)
{
	w->n = 0;
	w_u16(w, 0x1234);
	w_u16(w, 0x8180 | rcode);
	w_u16(w, 1);
	w_u16(w, ancount);
	w_u16(w, 0);
	w_u16(w, 0);
	w_name(w, qname);
	w_u16(w, qtype);
	w_u16(w, 1);
}

/* w_rr - a record owned by name (NULL: a pointer to the question) */
static void
w_rr(struct wire *w, const char *owner, unsigned type, const void *rdata,
    size_t rdlen)
{
	if (owner == NULL)
		w_u16(w, 0xc00c);
	else
		w_name(w, owner);
	w_u16(w, type);
	w_u16(w, 1);
	w_u16(w, 0);
	w_u16(w, 3600);
	w_u16(w, (unsigned)rdlen);
	w_bytes(w, rdata, rdlen);
}

#define QNAME	"stxsel1._domainkey.mosa.example"

/* test_answer_chain - a CNAME chain to a TXT in two strings */
static void
test_answer_chain(void **state)
{
	static const char txt[] = "\x10v=DKIM1; k=rsa; \x06p=AQID";
	struct wire w, target;
	struct buf b;
	char	 err[256];

	(void)state;
	target.n = 0;
	w_name(&target, "SEL1-Mosa._domainkey.dkim.example.net");
	w_start(&w, 0, 2, QNAME, 16);
	w_rr(&w, NULL, 5, target.b, target.n);
	w_rr(&w, OWNER, 16, txt, sizeof txt - 1);
	buf_init(&b, 4096);
	assert_int_equal(dns_answer_txt(w.b, w.n, QNAME, &b, err, sizeof err),
	    1);
	assert_string_equal(buf_str(&b), "v=DKIM1; k=rsa; p=AQID");
	buf_release(&b);
	assert_int_equal(dns_answer_cname(w.b, w.n, QNAME ".", &b, err,
	    sizeof err), 1);
	assert_string_equal(buf_str(&b), OWNER);
	buf_release(&b);
	assert_int_equal(dns_answer_cname(w.b, w.n, OWNER, &b, err,
	    sizeof err), 0);
	assert_string_equal(err, OWNER ": no CNAME record (NODATA)");
	assert_int_equal(b.len, 0);
	/* a target compressed into the question: x + "mosa.example" */
	w_start(&w, 0, 1, QNAME, 5);
	w_rr(&w, NULL, 5, "\x01x\xc0\x1f", 4);
	assert_int_equal(dns_answer_cname(w.b, w.n, QNAME, &b, err,
	    sizeof err), 1);
	assert_string_equal(buf_str(&b), "x.mosa.example");
	buf_release(&b);
}

struct answer_case {
	unsigned	 rcode;
	const char	*rdata;		/* one TXT record, NULL: none */
	size_t		 rdlen;
	int		 rc;
	const char	*want;		/* the TXT, or a part of err */
};

/* test_answer_rcodes - rcodes, empty answers and bad records */
static void
test_answer_rcodes(void **state)
{
	static const struct answer_case cases[] = {
		{ 0, "\x01" "a\x02" "bc", 5, 1, "abc" },
		{ 0, NULL, 0, 0, "no TXT record (NODATA)" },
		{ 3, NULL, 0, 0, "NXDOMAIN" },
		{ 2, NULL, 0, -1, "answered SERVFAIL" },
		{ 5, NULL, 0, -1, "answered REFUSED" },
		{ 9, NULL, 0, -1, "rcode 9" },
		{ 0, "\x0a" "abc", 4, -1, "malformed TXT record" },
		{ 0, "\x03" "a\0c", 4, -1, "holds a NUL byte" },
	};
	struct wire w;
	struct buf b;
	char	 err[256];

	(void)state;
	buf_init(&b, 4096);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct answer_case *c = &cases[i];
		int	 rc;

		w_start(&w, c->rcode, c->rdata != NULL, QNAME, 16);
		if (c->rdata != NULL)
			w_rr(&w, NULL, 16, c->rdata, c->rdlen);
		rc = dns_answer_txt(w.b, w.n, QNAME, &b, err, sizeof err);
		if (rc != c->rc || (rc == 1 ? strcmp(buf_str(&b), c->want) :
		    strstr(err, c->want) == NULL) != 0)
			fail_msg("case %zu: rc %d, \"%s\" / \"%s\"", i, rc,
			    buf_str(&b), err);
		assert_int_equal(rc == 1 ? b.len : 0, b.len);
		buf_release(&b);
	}
}

/* test_answer_limits - several records, a cut message, a small buffer */
static void
test_answer_limits(void **state)
{
	struct wire w;
	struct buf b;
	char	 err[256];

	(void)state;
	w_start(&w, 0, 3, QNAME, 16);
	w_rr(&w, NULL, 16, "\x03one", 4);
	w_rr(&w, NULL, 1, "\xc0\x00\x02\x01", 4);
	w_rr(&w, NULL, 16, "\x03two", 4);
	buf_init(&b, 8);
	assert_int_equal(dns_answer_txt(w.b, w.n, QNAME, &b, err, sizeof err),
	    1);
	assert_string_equal(buf_str(&b), "one\ntwo");
	assert_int_equal(buf_append_str(&b, "!"), 0);
	assert_int_equal(dns_answer_txt(w.b, w.n, QNAME, &b, err, sizeof err),
	    -1);
	assert_string_equal(buf_str(&b), "one\ntwo!");
	assert_non_null(strstr(err, "longer than 8 bytes"));
	buf_release(&b);
	assert_int_equal(dns_answer_txt(w.b, 20, QNAME, &b, err, sizeof err),
	    -1);
	assert_non_null(strstr(err, "malformed DNS answer"));
	assert_int_equal(dns_answer_txt(w.b, w.n - 2, QNAME, &b, err,
	    sizeof err), -1);
	assert_non_null(strstr(err, "malformed"));
	assert_int_equal(b.len, 0);
	buf_release(&b);
}

/* lookup_fails_cleanly - 0 or -1 with a message, out untouched */
static void
lookup_fails_cleanly(const char *name)
{
	struct buf b;
	char	 err[256];
	int	 rc;

	buf_init(&b, 4096);
	assert_int_equal(buf_append_str(&b, "kept"), 0);
	err[0] = '\0';
	rc = dns_lookup_txt(name, &b, err, sizeof err);
	assert_true(rc == 0 || rc == -1);
	assert_true(strlen(err) > 0);
	assert_string_equal(buf_str(&b), "kept");
	err[0] = '\0';
	rc = dns_lookup_cname(name, &b, err, sizeof err);
	assert_true(rc == 0 || rc == -1);
	assert_true(strlen(err) > 0);
	assert_string_equal(buf_str(&b), "kept");
	buf_release(&b);
}

/*
 * test_lookup_offline - names that cannot exist: .invalid is answered
 * without a query (RFC 6761); a .test name goes to the resolver, which
 * with no network fails (-1) and with network says NXDOMAIN (0).
 * RES_OPTIONS keeps the wait to about a second.
 */
static void
test_lookup_offline(void **state)
{
	struct buf b;
	char	 err[256];

	(void)state;
	assert_int_equal(setenv("RES_OPTIONS", "timeout:1 attempts:1", 1), 0);
	buf_init(&b, 64);
	assert_int_equal(dns_lookup_txt("stxsel1._domainkey.nowhere.invalid",
	    &b, err, sizeof err), 0);
	assert_non_null(strstr(err, "NXDOMAIN"));
	assert_int_equal(dns_lookup_cname("INVALID.", &b, err, sizeof err),
	    0);
	assert_int_equal(dns_lookup_txt("", &b, err, sizeof err), -1);
	assert_int_equal(dns_lookup_txt(NULL, &b, err, sizeof err), -1);
	assert_int_equal(b.len, 0);
	buf_release(&b);
	lookup_fails_cleanly("sel1-mosa._domainkey.dkim.example.invalid.");
	lookup_fails_cleanly("p11dkim-unit-test.test.");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_golden),
		cmocka_unit_test(test_format_errors),
		cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_zone_syntax),
		cmocka_unit_test(test_zone_crlf),
		cmocka_unit_test(test_dig_output),
		cmocka_unit_test(test_zone_errors),
		cmocka_unit_test(test_zone_limits),
		cmocka_unit_test(test_key_parse),
		cmocka_unit_test(test_key_fields),
		cmocka_unit_test(test_check_key),
		cmocka_unit_test(test_answer_chain),
		cmocka_unit_test(test_answer_rcodes),
		cmocka_unit_test(test_answer_limits),
		cmocka_unit_test(test_lookup_offline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
