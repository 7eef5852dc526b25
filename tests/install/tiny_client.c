/*
 * tiny_client.c - the smallest mailer: built by the install and package
 * tests against the installed client library, through pkg-config only
 * (cc tiny_client.c $(pkg-config --cflags --libs libp11dkimclient)).
 *
 *   tiny_client SOCKET <message >signed
 *
 * Writes the DKIM-Signature field(s) and then the message to stdout and
 * exits 0; on a refusal writes the reason to stderr and exits 65
 * (PERMFAIL), 75 (TEMPFAIL) or 64 (usage, a message over 1 MiB).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <unistd.h>

#include <p11dkim/client.h>

#define MESSAGE_MAX	(1024 * 1024)

static char message[MESSAGE_MAX];

/* read_message - stdin into message; its length, or -1 when too long */
static long
read_message(void)
{
	size_t	 n = 0;
	ssize_t	 r;

	while ((r = read(STDIN_FILENO, message + n, sizeof(message) - n)) > 0)
		if ((n += (size_t)r) == sizeof(message))
			return -1;
	return r < 0 ? -1 : (long)n;
}

/* exit_status - the sysexits code of a verdict */
static int
exit_status(enum p11dkim_client_status st)
{
	switch (st) {
	case P11DKIM_CLIENT_OK: return EX_OK;
	case P11DKIM_CLIENT_PERMFAIL: return EX_DATAERR;
	case P11DKIM_CLIENT_TEMPFAIL: return EX_TEMPFAIL;
	default: return EX_USAGE;
	}
}

int
main(int argc, char **argv)
{
	struct p11dkim_client *c;
	struct p11dkim_client_result r;
	enum p11dkim_client_status st;
	long	 len;

	if (argc != 2 || (len = read_message()) < 0) {
		fprintf(stderr, "usage: tiny_client SOCKET <message (1 MiB at most)\n");
		return EX_USAGE;
	}
	if ((c = p11dkim_client_new(argv[1])) == NULL) {
		perror("tiny_client");
		return EX_TEMPFAIL;
	}
	(void)p11dkim_client_begin(c, NULL);
	(void)p11dkim_client_write(c, message, (size_t)len);
	st = p11dkim_client_end(c, &r);
	if (st == P11DKIM_CLIENT_OK) {
		fwrite(r.fields, 1, r.fields_len, stdout);
		fwrite(message, 1, (size_t)len, stdout);
	} else
		fprintf(stderr, "tiny_client: %s %s\n",
		    p11dkim_client_status_name(st), r.reason);
	p11dkim_client_result_release(&r);
	p11dkim_client_free(c);
	return exit_status(st);
}
