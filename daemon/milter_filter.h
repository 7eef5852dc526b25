/*
 * milter_filter.h - the milter front's callbacks (libmilter's
 * smfiDesc): which mail is signed, by which institution, and the
 * signature fields inserted.  milter.c runs them in libmilter; the fuzz
 * target fuzz/fuzz_milter.c calls them directly.  Private to daemon/.
 */
#ifndef P11DKIM_MILTER_FILTER_H
#define P11DKIM_MILTER_FILTER_H

#include <libmilter/mfapi.h>

#include "p11dkim/conf.h"
#include "front.h"

/*
 * milter_filter_init - the front (configuration, keys, signer, stats) and
 * the milter section (its internal hosts among them) the callbacks use;
 * both must outlive them
 */
void	milter_filter_init(const struct front *, const struct conf_milter *);

/* milter_filter_desc - the callbacks, for smfi_register() */
const struct smfiDesc *milter_filter_desc(void);

#endif
