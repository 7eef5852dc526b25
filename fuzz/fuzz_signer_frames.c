/*
 * fuzz_signer_frames.c - libFuzzer target for what crosses the link
 * between a front and the signer process: what a front sends (taken by
 * daemon/signer_serve.c, checked against the key specs by
 * daemon/keyspec.c) and what the signer answers (decoded by
 * daemon/signer_ipc.c).  Any input is a series of frames, each sent on a
 * real socket and taken by the real code:
 *
 *   'R' n16 bytes       a record on a channel (SOCK_SEQPACKET):
 *                       signer_request_take (with signer_note_check of
 *                       the front's trail note), and for a request,
 *                       keyspec_request_check on a table of three
 *                       institutions (RSA, Ed25519, dual-signing), and
 *                       the note's trail record formatted and parsed
 *                       back (util/trail_record.c)
 *   'L' tag kind extra  a message on a link: the tag byte and `extra`
 *                       (0 to 3) more bytes, with the descriptors of
 *                       `kind` (none, a channel, other sockets, a pipe,
 *                       two of them): signer_link_take
 *   'P' n16 id32 bytes  a reply record that recv(2) said was n bytes
 *                       long, for request id: signer_rep_decode
 *
 * Besides crashes and leaks, it checks every decision against the
 * protocol (include/p11dkim/signer_ipc.h): a record is taken as a
 * request exactly when it is one request with its magic number and a
 * note whose front is known and whose strings end in their fields and
 * are printable, and as it was sent; the record such a note makes is
 * one line that parses back to the same fields; a (key, algorithm) passes exactly when the table has
 * that key for that algorithm, and a refusal names the key or the
 * algorithm asked for; a link message gives a channel exactly when it
 * is the channel tag alone with one Unix SOCK_SEQPACKET socket, and
 * every descriptor that came with anything else is closed; a reply is
 * taken exactly when it is one reply to that request, with a status of
 * the four, a signature of 1 to DKIM_SIG_MAX bytes when it is OK, and
 * a reason that is a string.  A violation aborts.
 *
 *   make -C fuzz && fuzz/build/fuzz_signer_frames fuzz/corpus/fuzz_signer_frames
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11dkim/keyspec.h"
#include "p11dkim/keytab.h"
#include "p11dkim/log.h"
#include "p11dkim/signer_ipc.h"
#include "p11dkim/trail_record.h"
#include "harness.h"

#define RECORD_MAX	2048	/* bytes of one record taken from the input */
#define FDS_SCANNED	64	/* descriptors compared before and after */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct conf *conf;
static struct keytab keys;
static struct keyspec *specs;

/* What a link message carries, by `kind`. */
enum { K_NONE, K_CHANNEL, K_STREAM, K_DGRAM, K_PIPE, K_TWO, K_CHANNEL_PIPE,
    K_TCP, K_TWO_HEADERS, K_KINDS };

/* setup - the configuration and key table, once */
static void
setup(void)
{
	static const char text[] = "pkcs11-module = \"/x.so\"\n"
	    "provider-zone = \"dkim.example.net\"\nrecord-name = \"sel%n-%c\"\n"
	    "selectors = { \"stxsel1\", \"stxsel2\" }\n"
	    "dual-record-name = \"ed%n-%c\"\n"
	    "dual-selectors = { \"stxed1\", \"stxed2\" }\n"
	    "state-dir = \"/nonexistent\"\nceremony-log = \"/nonexistent/log\"\n"
	    "institution mosa {\n domains = { \"mosamuseum.com\" }\n"
	    " pin = \"prompt\"\n active-selector = \"stxsel1\"\n}\n"
	    "institution venue {\n domains = { \"venue.example.org\" }\n"
	    " pin = \"prompt\"\n active-selector = \"stxsel1\"\n"
	    " algorithm = \"ed25519-sha256\"\n key-type = \"ed25519\"\n}\n"
	    "institution gala {\n domains = { \"gala.example.net\" }\n"
	    " pin = \"prompt\"\n active-selector = \"stxsel1\"\n"
	    " dual-sign = true\n}\n";
	char	 err[CONF_ERR_MAX] = "not 4 keys";

	conf = harness_conf(text, "fuzz_signer_frames");
	if (keytab_build(conf, &keys, err, sizeof(err)) < 0 || keys.n != 4 ||
	    keyspec_build(&keys, &specs, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_signer_frames: %s\n", err);
		abort();
	}
	log_open("fuzz_signer_frames", 0);
}

/*
 * fds_from - which of the FDS_SCANNED descriptors from the lowest free
 * one are open, as a bit mask: an input's descriptors are numbered from
 * there, so one it leaves open shows here
 */
static uint64_t
fds_from(int lowest)
{
	uint64_t mask = 0;

	for (int i = 0; i < FDS_SCANNED; i++)
		if (fcntl(lowest + i, F_GETFD) >= 0)
			mask |= (uint64_t)1 << i;
	return mask;
}

/* lowest_free - the lowest free descriptor number */
static int
lowest_free(void)
{
	int	 fd = dup(0);

	if (fd < 0)
		abort();
	close(fd);
	return fd;
}

/* names_alg - why names the algorithm number alg as the protocol has it */
static int
names_alg(const char *why, uint32_t alg)
{
	char	 num[16];

	if (alg == DKIM_ALG_RSA_SHA256 || alg == DKIM_ALG_ED25519_SHA256)
		return strstr(why, dkim_alg_name((enum dkim_alg)alg)) != NULL;
	snprintf(num, sizeof(num), "%u", alg);
	return strstr(why, num) != NULL;
}

/* check_request - a request taken: is it one the table would sign? */
static void
check_request(const struct signer_req *req)
{
	char	 why[SIGNER_REASON_MAX] = "";
	int	 ok = req->key < keys.n && req->alg == (uint32_t)keys.e[req->key].alg;
	int	 rc = keyspec_request_check(req->key < keys.n ?
	    &specs[req->key] : NULL, req->key, req->alg, why, sizeof(why));

	if ((rc == 0) != ok || (rc < 0 && why[0] == '\0'))
		abort();
	if (rc < 0 && req->key < keys.n && !names_alg(why, req->alg))
		abort();		/* a refusal that names another algorithm */
}

/* text_in - a string that ends within max bytes, printable ASCII */
static int
text_in(const char *p, size_t max)
{
	size_t	 i;

	for (i = 0; i < max && p[i] != '\0'; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	return i < max;
}

/* note_ok - the protocol's rule for a front's note */
static int
note_ok(const struct signer_note *n)
{
	return (n->front == 0 || n->front == 'n' || n->front == 'm') &&
	    text_in(n->d, sizeof(n->d)) && text_in(n->s, sizeof(n->s)) &&
	    text_in(n->msgid, sizeof(n->msgid)) &&
	    text_in(n->client, sizeof(n->client));
}

/* check_record - a note's record: one line, parsed back the same */
static void
check_record(const struct signer_note *n)
{
	struct trail_record r, back;
	char	 line[TRAIL_LINE_MAX];
	int	 len;

	memset(&r, 0, sizeof(r));
	r.t = 1796315102;
	r.size = n->size;
	snprintf(r.inst, sizeof(r.inst), "mosa");
	snprintf(r.d, sizeof(r.d), "%s", n->d);
	snprintf(r.s, sizeof(r.s), "%s", n->s);
	snprintf(r.msgid, sizeof(r.msgid), "%s", n->msgid);
	snprintf(r.client, sizeof(r.client), "%s", n->client);
	if ((len = trail_format(&r, line, sizeof(line))) <= 0 ||
	    memchr(line, '\n', (size_t)len) != line + len - 1 ||
	    trail_parse(line, (size_t)len, &back) < 0 ||
	    memcmp(&r, &back, sizeof(r)) != 0)
		abort();
}

/* channel_record - 'R': one record on a channel, taken by the signer */
static void
channel_record(int ch[2], struct input *in)
{
	size_t	 n = input_u16(in) % RECORD_MAX;
	const uint8_t *rec = input_take(in, n);
	struct signer_req req;
	uint32_t magic = 0;
	int	 want;

	if (rec == NULL || send(ch[1], rec, n, MSG_DONTWAIT) != (ssize_t)n)
		return;
	memcpy(&magic, rec, n >= sizeof(magic) ? sizeof(magic) : 0);
	if (n == sizeof(req))
		memcpy(&req.note, rec + offsetof(struct signer_req, note),
		    sizeof(req.note));
	want = n == sizeof(req) && magic == SIGNER_MAGIC_REQ &&
	    note_ok(&req.note);
	if (signer_request_take(ch[0], &req) != want ||
	    (want && memcmp(&req, rec, sizeof(req)) != 0))
		abort();
	if (want) {
		check_request(&req);
		check_record(&req.note);
	}
}

/* kind_fds - the descriptors of a kind (count returned, -1 none made) */
static int
kind_fds(int kind, int fds[2], int *good)
{
	int	 p[2], type = kind == K_STREAM ? SOCK_STREAM : kind == K_DGRAM ?
	    SOCK_DGRAM : SOCK_SEQPACKET;

	*good = kind == K_CHANNEL;
	if (kind == K_NONE)
		return 0;
	if (kind == K_TCP)
		return (fds[0] = socket(AF_INET, SOCK_STREAM, 0)) < 0 ? -1 : 1;
	if (kind == K_PIPE) {
		if (pipe(p) < 0)
			return -1;
		close(p[0]);
		fds[0] = p[1];
		return 1;
	}
	if (socketpair(AF_UNIX, type, 0, p) < 0)
		return -1;
	fds[0] = p[0];
	if (kind == K_TWO || kind == K_TWO_HEADERS)
		fds[1] = p[1];
	else if (kind == K_CHANNEL_PIPE) {
		close(p[1]);
		if (pipe(p) < 0) {
			close(fds[0]);
			return -1;
		}
		close(p[0]);
		fds[1] = p[1];
	} else
		close(p[1]);
	return kind == K_TWO || kind == K_TWO_HEADERS ||
	    kind == K_CHANNEL_PIPE ? 2 : 1;
}

/* send_link - tag and extra bytes, descriptors in one header or two */
static int
send_link(int sock, const uint8_t *bytes, size_t n, const int *fds, int nfds,
    int split)
{
	union {
		struct cmsghdr h;
		char	 buf[2 * CMSG_SPACE(2 * sizeof(int))];
	} u;
	struct iovec iov = { (void *)(uintptr_t)bytes, n };
	struct msghdr msg;
	struct cmsghdr *c;

	memset(&msg, 0, sizeof(msg));
	memset(&u, 0, sizeof(u));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		msg.msg_control = u.buf;
		msg.msg_controllen = split ? 2 * CMSG_SPACE(sizeof(int)) :
		    CMSG_SPACE((size_t)nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((split ? 1 : (size_t)nfds) * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (split ? 1 : (size_t)nfds) * sizeof(int));
		if (split) {
			c = CMSG_NXTHDR(&msg, c);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), fds + 1, sizeof(int));
		}
	}
	return sendmsg(sock, &msg, MSG_DONTWAIT) == (ssize_t)n ? 0 : -1;
}

/* same_socket - fd is the socket sent (the same inode) */
static int
same_socket(int fd, ino_t sent)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_ino == sent;
}

/* link_message - 'L': one message on a link, taken by the signer */
static void
link_message(int link[2], struct input *in)
{
	const uint8_t *hdr = input_take(in, 3);
	uint8_t	 bytes[4];
	int	 fds[2] = { -1, -1 }, nfds, good, kind, got;
	struct stat st;
	size_t	 n;

	if (hdr == NULL)
		return;
	kind = hdr[1] % K_KINDS;
	n = 1 + hdr[2] % 4;
	bytes[0] = hdr[0];
	memset(bytes + 1, hdr[0], 3);
	if ((nfds = kind_fds(kind, fds, &good)) < 0)
		return;
	if (fstat(fds[0], &st) < 0)
		st.st_ino = 0;
	if (send_link(link[1], bytes, n, fds, nfds, kind == K_TWO_HEADERS) < 0)
		good = -1;			/* nothing to take */
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (good < 0)
		return;
	good = good && n == 1 && bytes[0] == SIGNER_LINK_CHANNEL;
	got = signer_link_take(link[0]);
	if (got == SIGNER_LINK_LOST || (got >= 0) != good ||
	    (got >= 0 && !same_socket(got, st.st_ino)))
		abort();
	if (got >= 0)
		close(got);
}

/* reply_record - 'P': a record from the signer, decoded by the front */
static void
reply_record(struct input *in)
{
	size_t	 n = input_u16(in);
	const uint8_t *idp = input_take(in, 4), *bytes;
	struct signer_reply r;
	struct signer_rep rep;
	uint32_t id;
	int	 want;

	if (idp == NULL)
		return;
	memcpy(&id, idp, sizeof(id));
	memset(&rep, 0, sizeof(rep));
	bytes = input_take(in, n < sizeof(rep) ? n : sizeof(rep));
	if (bytes == NULL)
		return;
	memcpy(&rep, bytes, n < sizeof(rep) ? n : sizeof(rep));
	want = n == sizeof(rep) && rep.magic == SIGNER_MAGIC_REP && rep.id == id;
	memset(&r, 0x55, sizeof(r));
	if (signer_rep_decode(&rep, (ssize_t)n, id, &r) != want)
		abort();
	if (!want)
		return;
	if (r.status != SIGNER_OK && r.status != SIGNER_TEMP &&
	    r.status != SIGNER_PERM && r.status != SIGNER_LIMIT &&
	    r.status != SIGNER_TRAIL)
		abort();
	if (r.status == SIGNER_OK && (r.len == 0 || r.len > sizeof(r.sig)))
		abort();		/* "signed", without a signature */
	if (memchr(r.reason, '\0', sizeof(r.reason)) == NULL)
		abort();
}

/* LLVMFuzzerTestOneInput - frames until the input runs out */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	const uint8_t *op;
	int	 ch[2], link[2], lowest;
	uint64_t before;

	if (conf == NULL)
		setup();
	lowest = lowest_free();
	before = fds_from(lowest);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ch) < 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, link) < 0) {
		close(ch[0]);
		close(ch[1]);
		return 0;
	}
	while ((op = input_take(&in, 1)) != NULL) {
		if (*op == 'R')
			channel_record(ch, &in);
		else if (*op == 'L')
			link_message(link, &in);
		else if (*op == 'P')
			reply_record(&in);
	}
	close(ch[0]);
	close(ch[1]);
	close(link[0]);
	close(link[1]);
	if (fds_from(lowest) != before)
		abort();			/* a descriptor kept or leaked */
	return 0;
}
