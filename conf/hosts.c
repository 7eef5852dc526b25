/*
 * hosts.c - address lists with prefixes (see include/p11dkim/hosts.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/hosts.h"

struct net {
	int	 family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned bits;
};

struct hosts {
	struct net *nets;
	size_t	 n;
};

/* parse_one - "addr" or "addr/bits" */
static int
parse_one(const char *s, struct net *n)
{
	char	 buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long bits;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, n->addr) == 1) {
		n->family = AF_INET;
		n->bits = 32;
	} else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
		n->family = AF_INET6;
		n->bits = 128;
	} else {
		return -1;
	}
	if (slash != NULL) {
		bits = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || end == slash + 1 || bits > n->bits)
			return -1;
		n->bits = (unsigned)bits;
	}
	return 0;
}

/* hosts_parse - a list from strings; NULL and why on a bad entry */
struct hosts *
hosts_parse(const char *const *list, size_t n, char *err, size_t errlen)
{
	struct hosts *h = calloc(1, sizeof(*h));

	if (h == NULL || (h->nets = calloc(n + 1, sizeof(*h->nets))) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(h);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (parse_one(list[i], &h->nets[i]) < 0) {
			snprintf(err, errlen, "'%.64s' is not an address or "
			    "address/prefix", list[i]);
			return hosts_free(h);
		}
	h->n = n;
	return h;
}

/* prefix_equal - the first bits of a and b are the same */
static int
prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return 0;
	return rest == 0 ||
	    ((a[bytes] ^ b[bytes]) & (unsigned char)(0xff << (8 - rest))) == 0;
}

/* hosts_match - is the address in the list? */
int
hosts_match(const struct hosts *h, const struct sockaddr *sa)
{
	const unsigned char *a;
	int	 family;

	if (h == NULL || sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		a = (const unsigned char *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr.s6_addr;
		family = AF_INET6;
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)a)) {
			a += 12;
			family = AF_INET;
		}
	} else {
		return 0;
	}
	for (size_t i = 0; i < h->n; i++)
		if (h->nets[i].family == family &&
		    prefix_equal(a, h->nets[i].addr, h->nets[i].bits))
			return 1;
	return 0;
}

/* net_within - n lies inside o: same family, o's prefix, no shorter */
static int
net_within(const struct net *n, const struct net *o)
{
	return n->family == o->family && n->bits >= o->bits &&
	    prefix_equal(n->addr, o->addr, o->bits);
}

/* hosts_within - does every network of inner lie inside one of outer? */
int
hosts_within(const struct hosts *inner, const struct hosts *outer)
{
	for (size_t i = 0; i < inner->n; i++) {
		size_t	 k = 0;

		while (k < outer->n && !net_within(&inner->nets[i],
		    &outer->nets[k]))
			k++;
		if (k == outer->n)
			return 0;
	}
	return 1;
}

/* hosts_free - NULL is fine; returns NULL */
struct hosts *
hosts_free(struct hosts *h)
{
	if (h != NULL) {
		free(h->nets);
		free(h);
	}
	return NULL;
}
