/*
 * fuzz_protocol.c - libFuzzer target for the native protocol front
 * (daemon/conn.c, daemon/signing.c): any input is what a client sends on
 * one connection.  The connection is served over a socketpair against a
 * stand-in signer, as the front serves it against the real one.
 *
 * Besides crashes and leaks, it checks that every reply line starts with
 * OK, PERMFAIL or TEMPFAIL, and that an OK reply carries exactly its
 * announced number of bytes of DKIM-Signature fields.
 *
 *   make -C fuzz && fuzz/build/fuzz_protocol fuzz/corpus/fuzz_protocol
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11dkim/keytab.h"
#include "p11dkim/log.h"
#include "../daemon/front.h"
#include "harness.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct front front;
static struct conf *conf;
static struct keytab keys;

/* setup - one configuration for every input */
static void
setup(void)
{
	char	 text[1024], err[CONF_ERR_MAX];

	snprintf(text, sizeof(text), "pkcs11-module = \"/x.so\"\n"
	    "provider-zone = \"dkim.example.net\"\nrecord-name = \"sel%%n-%%c\"\n"
	    "selectors = { \"stxsel1\", \"stxsel2\" }\nstate-dir = \"/nonexistent\"\n"
	    "ceremony-log = \"/nonexistent/log\"\nio-timeout = 1\n"
	    "idle-timeout = 1\nmax-message-bytes = 100000\n"
	    "listen \"/nonexistent/s\" {\n}\ninstitution mosa {\n"
	    " domains = { \"mosamuseum.com\" }\n subdomains = true\n"
	    " pin = \"prompt\"\n active-selector = \"stxsel1\"\n"
	    " allow-uids = { \"%u\" }\n}\n", (unsigned)getuid());
	conf = harness_conf(text, "fuzz_protocol");
	if (keytab_build(conf, &keys, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_protocol: %s\n", err);
		abort();
	}
	log_open("fuzz_protocol", 0);
	front.conf = conf;
	front.keys = &keys;
	front.signer = &harness_signer;
	front.stats = stats_new(conf, "native");
}

/* check_replies - every reply well formed */
static void
check_replies(const char *p, size_t n)
{
	const char *end = p + n, *lf;
	unsigned long len;

	while (p < end) {
		if ((lf = memchr(p, '\n', (size_t)(end - p))) == NULL)
			abort();			/* a cut reply line */
		if (strncmp(p, "OK ", 3) == 0) {
			len = strtoul(p + 3, NULL, 10);
			p = lf + 1;
			if (len > (size_t)(end - p) ||
			    (len > 0 && strncmp(p, "DKIM-Signature: ", 16) != 0 &&
			    strncmp(p, "# HELP", 6) != 0))
				abort();
			p += len;
		} else if (strncmp(p, "PERMFAIL ", 9) == 0 ||
		    strncmp(p, "TEMPFAIL ", 9) == 0) {
			p = lf + 1;
		} else {
			abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[1 << 20];
	size_t	 n = 0;
	ssize_t	 r;
	int	 sv[2];

	if (conf == NULL)
		setup();
	if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR);
	conn_serve(&front, sv[0]);		/* closes sv[0] */
	while (n < sizeof(out) && (r = read(sv[1], out + n,
	    sizeof(out) - n)) > 0)
		n += (size_t)r;
	close(sv[1]);
	check_replies(out, n);
	return 0;
}
