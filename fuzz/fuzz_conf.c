/*
 * fuzz_conf.c - libFuzzer target for the configuration reader (conf/):
 * any input is a configuration file, read with conf_load().
 *
 * The input goes to an anonymous memory file (memfd_create), read back
 * through /proc/self/fd/N, so nothing is left on disk.  Besides crashes
 * and leaks, it checks what conf.h promises: a refusal has a message; an
 * accepted file has institutions whose active selector is one of their
 * two, each found again by its code, with one or two kinds of key whose
 * selectors all have a name, a record name and a key label that come
 * out NUL-terminated within the buffer.  A violation aborts.
 *
 * Security note: libconfuse reads only this file (the configuration has
 * no include function), but user and group names are looked up with the
 * system's NSS (getpwnam, getgrnam), as p11dkimd does.
 *
 *   make -C fuzz && fuzz/build/fuzz_conf fuzz/corpus/fuzz_conf
 */
#include <sys/mman.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11dkim/conf.h"

#define NAME_MAX_LEN	512

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* input_file - a memory file holding the input; -1 when it cannot be */
static int
input_file(const uint8_t *data, size_t size, char *path, size_t pathlen)
{
	size_t	 off = 0;
	int	 fd;

	if ((fd = memfd_create("fuzz_conf", MFD_CLOEXEC)) < 0)
		abort();		/* the harness, not the input */
	while (off < size) {
		ssize_t	 n = write(fd, data + off, size - off);

		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	if (snprintf(path, pathlen, "/proc/self/fd/%d", fd) >= (int)pathlen)
		abort();
	return fd;
}

/*
 * names_check - every selector of every kind of key: a name, and its
 * record name and key label bounded and NUL-terminated.
 */
static void
names_check(const struct conf *c, const struct conf_institution *inst)
{
	char	 out[NAME_MAX_LEN];
	size_t	 kinds = conf_kinds(inst);

	if (kinds < 1 || kinds > 2)
		abort();
	for (size_t kind = 0; kind < kinds; kind++) {
		for (size_t sel = 0; sel < CONF_SELECTORS; sel++) {
			if (conf_selector_name(inst, sel, kind) == NULL)
				abort();
			memset(out, 'x', sizeof(out));
			if (conf_record_name(c, inst, sel, kind, out,
			    sizeof(out)) == 0 &&
			    memchr(out, '\0', sizeof(out)) == NULL)
				abort();
			memset(out, 'x', sizeof(out));
			if (conf_key_label(inst, sel, kind, out,
			    sizeof(out)) == 0 &&
			    memchr(out, '\0', sizeof(out)) == NULL)
				abort();
		}
	}
}

/* conf_check - what an accepted configuration promises */
static void
conf_check(const struct conf *c)
{
	for (size_t i = 0; i < c->ninst; i++) {
		const struct conf_institution *inst = &c->inst[i];

		if (inst->code == NULL || inst->active_selector == NULL ||
		    conf_institution(c, inst->code) == NULL ||
		    conf_selector_index(inst, inst->active_selector) < 0)
			abort();
		names_check(c, inst);
	}
}

/* LLVMFuzzerTestOneInput - the input as a configuration file */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 path[64], err[CONF_ERR_MAX];
	struct conf *c;
	int	 fd;

	fd = input_file(data, size, path, sizeof(path));
	err[0] = '\0';
	if ((c = conf_load(path, err, sizeof(err))) == NULL) {
		if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
	} else {
		conf_check(c);
		(void)conf_free(c);
	}
	(void)close(fd);
	return 0;
}
