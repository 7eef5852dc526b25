/*
 * fuzz_ceremony_log.c - libFuzzer target for the ceremony log's record
 * line parser (provisioning/ceremony_record.c).
 *
 * Any input is a candidate line.  The parser must not crash, read out of
 * bounds or leave a field unterminated, and a line it accepts must be
 * exactly the line the formatter writes for the record it parsed to:
 * one text per record, hence one hash per record.  A violation aborts.
 *
 *   make -C fuzz && fuzz/build/fuzz_ceremony_log \
 *       fuzz/corpus/fuzz_ceremony_log
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/buf.h"
#include "p11dkim/ceremony_log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* LLVMFuzzerTestOneInput - parse; if accepted, format must give it back */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ceremony_record rec;
	struct buf line;
	char	 err[256];
	int	 same;

	if (ceremony_log_parse((const char *)data, size, &rec, err,
	    sizeof(err)) < 0)
		return 0;
	buf_init(&line, CEREMONY_LOG_LINE_MAX);
	if (ceremony_log_format(&rec, &line, err, sizeof(err)) < 0)
		abort();		/* parsed, yet not a valid record */
	same = line.len == size && memcmp(line.data, data, size) == 0;
	buf_release(&line);
	if (!same)
		abort();		/* two lines for one record */
	return 0;
}
