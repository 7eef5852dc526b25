/*
 * pin.h - where a token PIN comes from, and how it is held.
 *
 * Sources: a file that only its owner may read (refused when group or
 * others have any access), an open file descriptor (read once, to its
 * end), or an interactive prompt on the terminal without echo.  Never
 * argv or the environment.
 *
 * A PIN lives in a struct pin: a fixed buffer that pin_wipe() clears with
 * OPENSSL_cleanse.  Callers wipe it right after C_Login.  A source that
 * cannot be read again (a descriptor, a prompt) keeps the PIN in a
 * locked page excluded from core dumps, so the token can log in again
 * after a device error; a file is read again each time instead.
 */
#ifndef P11DKIM_PIN_H
#define P11DKIM_PIN_H

#include <stddef.h>

#include "p11dkim/p11_err.h"

#define PIN_MAX		255

struct pin {
	char	 buf[PIN_MAX + 1];
	size_t	 len;
};

enum pin_kind { PIN_FILE = 1, PIN_FD, PIN_PROMPT };

struct pin_source;

/* pin_source_file - PINs read from path (mode 0600 or stricter) */
struct pin_source *pin_source_file(const char *path, struct p11_err *);

/* pin_source_fd - the PIN read once from fd (then closed), and kept */
struct pin_source *pin_source_fd(int fd, struct p11_err *);

/* pin_source_prompt - the PIN asked once on /dev/tty, and kept */
struct pin_source *pin_source_prompt(const char *prompt, struct p11_err *);

/*
 * pin_source_parse - "file:/path", "fd:N", "prompt" (or a bare absolute
 * path, as a file).  what names the PIN in the prompt and in errors.
 */
struct pin_source *pin_source_parse(const char *spec, const char *what,
	    struct p11_err *);

/* pin_get - the PIN, into pin; the caller wipes it with pin_wipe() */
int	pin_get(struct pin_source *, struct pin *, struct p11_err *);

/* pin_prompt_twice - ask for a new PIN twice, at least min characters */
int	pin_prompt_twice(const char *what, size_t min, struct pin *,
	    struct p11_err *);

#define PIN_STAMP_MAX	96

/*
 * pin_spec_stamp - what identifies the PIN a spec gives, now: a file's
 * device, inode, size and change time; "fixed" for a descriptor or a
 * prompt, whose PIN never changes.  A PIN the token refused is not
 * offered again while its stamp stays the same.
 */
void	pin_spec_stamp(const char *spec, char *out, size_t len);

/* pin_source_stamp - the same, of a source */
void	pin_source_stamp(const struct pin_source *, char *out, size_t len);

/* pin_wipe - clear a PIN */
void	pin_wipe(struct pin *);

/* pin_source_free - wipe and free; NULL is fine; returns NULL */
struct pin_source *pin_source_free(struct pin_source *);

#endif
