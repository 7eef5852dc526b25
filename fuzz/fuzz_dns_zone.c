/*
 * fuzz_dns_zone.c - libFuzzer target for the DNS text parsers of
 * provisioning/ (include/p11dkim/dns_record.h): zone files and dig output
 * (dns_zone.c), DKIM key records (dns_key.c), and DNS answer messages
 * (dns_lookup.c).
 *
 * Besides looking for crashes, it checks two properties: every TXT the
 * zone parser keeps can be found again by name, and the zone text
 * dns_txt_format() prints parses back to exactly the text it was given.
 *
 *   make -C fuzz && fuzz/build/fuzz_dns_zone fuzz/corpus/fuzz_dns_zone
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/dns_record.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_zone - parse as zone text; every kept record is found again */
static void
fuzz_zone(const uint8_t *data, size_t size)
{
	static const unsigned char want[32];
	struct dns_dkim_key key;
	struct dns_zone zone;
	char	 err[256], why[256];

	if (dns_zone_parse(&zone, (const char *)data, size, err,
	    sizeof err) < 0)
		return;
	for (size_t i = 0; i < zone.n; i++) {
		const struct dns_rr *rr = &zone.rr[i];

		if (rr->type == DNS_RR_CNAME) {
			if (dns_zone_cname(&zone, rr->owner) == NULL)
				abort();
			continue;
		}
		if (dns_zone_txt(&zone, rr->owner, 0) == NULL ||
		    strlen(rr->data) != rr->len || rr->len > DNS_TXT_MAX)
			abort();
		if (dns_dkim_key_parse(rr->data, &key, err, sizeof err) == 0)
			dns_dkim_key_release(&key);
		(void)dns_check_key(rr->data, "ed25519", want, sizeof want,
		    why, sizeof why);
	}
	dns_zone_release(&zone);
}

/* fuzz_roundtrip - format the input as a TXT, parse it, compare */
static void
fuzz_roundtrip(const char *text)
{
	struct dns_zone zone;
	struct buf out;
	char	 err[256];

	buf_init(&out, 8 * DNS_TXT_MAX);
	if (dns_txt_format("fuzz._domainkey.example", text, &out) < 0)
		abort();
	if (dns_zone_parse(&zone, buf_str(&out), out.len, err,
	    sizeof err) < 0)
		abort();
	if (zone.n != 1 || strcmp(dns_zone_txt(&zone,
	    "fuzz._domainkey.example", 0), text) != 0)
		abort();
	dns_zone_release(&zone);
	buf_release(&out);
}

/* fuzz_answer - parse as a DNS answer message, TXT and CNAME */
static void
fuzz_answer(const uint8_t *data, size_t size)
{
	struct buf out;
	char	 err[256];

	buf_init(&out, DNS_TXT_MAX);
	if (dns_answer_txt(data, size, "a.example", &out, err,
	    sizeof err) != 1 && out.len != 0)
		abort();
	buf_release(&out);
	(void)dns_answer_cname(data, size, "a.example", &out, err,
	    sizeof err);
	buf_release(&out);
}

/* LLVMFuzzerTestOneInput - one input through every parser */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_dkim_key key;
	char	*text;

	fuzz_zone(data, size);
	fuzz_answer(data, size);
	if (size > DNS_TXT_MAX || (text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (dns_dkim_key_parse(text, &key, NULL, 0) == 0 &&
	    !key.revoked && (key.p == NULL || key.p_len == 0))
		abort();
	dns_dkim_key_release(&key);
	fuzz_roundtrip(text);
	free(text);
	return 0;
}
