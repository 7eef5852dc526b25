/*
 * fuzz_ceremony_anchor.c - libFuzzer target for the parser of the
 * ceremony log's anchor file (provisioning/ceremony_anchor.c).
 *
 * Any input is a candidate file.  The parser must not crash or read out
 * of bounds, and a text it accepts must be exactly the text the writer
 * makes of what it parsed to ("count=N head=HEX" and a LF): one text per
 * anchor.  A violation aborts.
 *
 *   make -C fuzz && fuzz/build/fuzz_ceremony_anchor \
 *       fuzz/corpus/fuzz_ceremony_anchor
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/ceremony_log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* LLVMFuzzerTestOneInput - parse; if accepted, writing must give it back */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ceremony_anchor a;
	char	 text[128];
	int	 n;

	if (ceremony_anchor_parse((const char *)data, size, &a) < 0)
		return 0;
	n = snprintf(text, sizeof(text), "count=%lu head=%s\n", a.count,
	    a.head);
	if (n < 0 || (size_t)n != size || memcmp(text, data, size) != 0)
		abort();		/* two texts for one anchor */
	return 0;
}
