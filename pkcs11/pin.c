/*
 * pin.c - PIN sources (see include/p11dkim/pin.h).
 *
 * Security: a PIN file readable by group or others is refused, as ssh
 * refuses such a key file.  A kept PIN sits in its own page, mlock'ed and
 * marked MADV_DONTDUMP; every copy is wiped with OPENSSL_cleanse.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "p11dkim/pin.h"

struct pin_source {
	enum pin_kind kind;
	char	*path;		/* PIN_FILE */
	struct pin *kept;	/* PIN_FD, PIN_PROMPT: in a locked page */
};

/* pin_wipe - clear a PIN */
void
pin_wipe(struct pin *p)
{
	OPENSSL_cleanse(p, sizeof(*p));
}

/* kept_new - a locked, undumpable page for a PIN */
static struct pin *
kept_new(void)
{
	void	*page = mmap(NULL, sizeof(struct pin), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (page == MAP_FAILED)
		return NULL;
	(void)mlock(page, sizeof(struct pin));	/* best effort, no root */
	(void)madvise(page, sizeof(struct pin), MADV_DONTDUMP);
	return page;
}

/* strip_eol - drop one trailing newline (CRLF or LF) */
static void
strip_eol(struct pin *p)
{
	if (p->len > 0 && p->buf[p->len - 1] == '\n')
		p->buf[--p->len] = '\0';
	if (p->len > 0 && p->buf[p->len - 1] == '\r')
		p->buf[--p->len] = '\0';
}

/*
 * read_some - the next bytes of fd: from a file (or memfd) at the given
 * offset, so that a descriptor inherited by several processes in turn
 * (a restarted signer) reads the same PIN from its start each time; from
 * a pipe, what comes next
 */
static ssize_t
read_some(int fd, int seekable, char *buf, size_t len, off_t off)
{
	return seekable ? pread(fd, buf, len, off) : read(fd, buf, len);
}

/* read_fd - the whole of fd into p; at most PIN_MAX bytes */
static int
read_fd(int fd, struct pin *p, const char *what, struct p11_err *err)
{
	int	 seekable = lseek(fd, 0, SEEK_CUR) >= 0;
	ssize_t	 n;

	memset(p, 0, sizeof(*p));
	while ((n = read_some(fd, seekable, p->buf + p->len, PIN_MAX + 1 -
	    p->len, (off_t)p->len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pin_wipe(p);
			return p11_err_set(err, 0, CKR_OK, "%s: read: %s", what,
			    strerror(errno));
		}
		if ((p->len += (size_t)n) > PIN_MAX) {
			pin_wipe(p);
			return p11_err_set(err, 0, CKR_OK, "%s: longer than "
			    "%d bytes", what, PIN_MAX);
		}
	}
	p->buf[p->len] = '\0';
	strip_eol(p);
	if (p->len == 0 || memchr(p->buf, '\0', p->len) != NULL) {
		pin_wipe(p);
		return p11_err_set(err, 0, CKR_OK, "%s: empty or not text",
		    what);
	}
	return 0;
}

/* read_file - a PIN file that only its owner may read */
static int
read_file(const char *path, struct pin *p, struct p11_err *err)
{
	struct stat st;
	int	 fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return p11_err_set(err, 0, CKR_OK, "PIN file %s: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return p11_err_set(err, 0, CKR_OK, "PIN file %s: not a "
		    "regular file", path);
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		close(fd);
		return p11_err_set(err, 0, CKR_OK, "PIN file %s: mode %03o "
		    "lets group or others read it (chmod 600)", path,
		    (unsigned)(st.st_mode & 0777));
	}
	rc = read_fd(fd, p, path, err);
	close(fd);
	return rc;
}

/* source_new - an empty source of a kind */
static struct pin_source *
source_new(enum pin_kind kind, struct p11_err *err)
{
	struct pin_source *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		p11_err_set(err, 1, CKR_HOST_MEMORY, "out of memory");
		return NULL;
	}
	s->kind = kind;
	if (kind != PIN_FILE && (s->kept = kept_new()) == NULL) {
		free(s);
		p11_err_set(err, 1, CKR_HOST_MEMORY, "cannot map a page for "
		    "the PIN");
		return NULL;
	}
	return s;
}

/* pin_source_file - PINs read from path (mode 0600 or stricter) */
struct pin_source *
pin_source_file(const char *path, struct p11_err *err)
{
	struct pin_source *s = source_new(PIN_FILE, err);
	struct pin p;

	if (s == NULL)
		return NULL;
	if ((s->path = strdup(path)) == NULL) {
		p11_err_set(err, 1, CKR_HOST_MEMORY, "out of memory");
		return pin_source_free(s);
	}
	if (read_file(path, &p, err) < 0)	/* refuse a bad file early */
		return pin_source_free(s);
	pin_wipe(&p);
	return s;
}

/* pin_source_fd - the PIN read once from fd (then closed), and kept */
struct pin_source *
pin_source_fd(int fd, struct p11_err *err)
{
	struct pin_source *s = source_new(PIN_FD, err);
	char	 what[32];
	int	 rc;

	if (s == NULL)
		return NULL;
	snprintf(what, sizeof(what), "PIN descriptor %d", fd);
	rc = read_fd(fd, s->kept, what, err);
	close(fd);
	return rc < 0 ? pin_source_free(s) : s;
}

/* read_line - bytes up to a newline, at most PIN_MAX */
static int
read_line(int fd, struct pin *p)
{
	char	 c;
	ssize_t	 n;

	while ((n = read(fd, &c, 1)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p->len >= PIN_MAX)
			return -1;
		if (c == '\n')
			break;
		p->buf[p->len++] = c;
	}
	p->buf[p->len] = '\0';
	strip_eol(p);
	return 0;
}

/* tty_read - one line from the terminal without echo */
static int
tty_read(const char *prompt, struct pin *p, struct p11_err *err)
{
	struct termios old, quiet;
	int	 fd, rc;

	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) < 0)
		return p11_err_set(err, 0, CKR_OK, "no terminal to ask for "
		    "the PIN (use a PIN file or descriptor)");
	if (tcgetattr(fd, &old) < 0) {
		close(fd);
		return p11_err_set(err, 0, CKR_OK, "/dev/tty: %s",
		    strerror(errno));
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	(void)!write(fd, prompt, strlen(prompt));
	if (tcsetattr(fd, TCSAFLUSH, &quiet) < 0) {
		close(fd);
		return p11_err_set(err, 0, CKR_OK, "cannot turn echo off");
	}
	memset(p, 0, sizeof(*p));
	rc = read_line(fd, p);
	(void)tcsetattr(fd, TCSAFLUSH, &old);
	(void)!write(fd, "\n", 1);
	close(fd);
	if (rc < 0 || p->len == 0) {
		pin_wipe(p);
		return p11_err_set(err, 0, CKR_OK, "no PIN entered");
	}
	return 0;
}

/* pin_source_prompt - the PIN asked once on /dev/tty, and kept */
struct pin_source *
pin_source_prompt(const char *prompt, struct p11_err *err)
{
	struct pin_source *s = source_new(PIN_PROMPT, err);

	if (s == NULL)
		return NULL;
	if (tty_read(prompt, s->kept, err) < 0)
		return pin_source_free(s);
	return s;
}

/* pin_source_parse - "file:/path", "fd:N", "prompt", or an absolute path */
struct pin_source *
pin_source_parse(const char *spec, const char *what, struct p11_err *err)
{
	char	 prompt[128], *end;
	long	 fd;

	if (strncmp(spec, "file:", 5) == 0)
		return pin_source_file(spec + 5, err);
	if (spec[0] == '/')
		return pin_source_file(spec, err);
	if (strncmp(spec, "fd:", 3) == 0) {
		errno = 0;
		fd = strtol(spec + 3, &end, 10);
		if (errno != 0 || *end != '\0' || end == spec + 3 || fd < 0 ||
		    fd > 65535) {
			p11_err_set(err, 0, CKR_OK, "%s: bad descriptor in "
			    "'%s'", what, spec);
			return NULL;
		}
		return pin_source_fd((int)fd, err);
	}
	if (strcmp(spec, "prompt") == 0) {
		snprintf(prompt, sizeof(prompt), "%s: ", what);
		return pin_source_prompt(prompt, err);
	}
	p11_err_set(err, 0, CKR_OK, "%s: PIN source '%s' is not file:PATH, "
	    "fd:N or prompt", what, spec);
	return NULL;
}

/* path_of - the file a PIN spec names, or NULL */
static const char *
path_of(const char *spec)
{
	if (strncmp(spec, "file:", 5) == 0)
		return spec + 5;
	return spec[0] == '/' ? spec : NULL;
}

/* stamp_path - a file's identity: device, inode, size, change time */
static void
stamp_path(const char *path, char *out, size_t len)
{
	struct stat st;

	if (path == NULL)
		snprintf(out, len, "fixed");
	else if (stat(path, &st) < 0)
		snprintf(out, len, "unreadable");
	else
		snprintf(out, len, "%lu:%lu:%lld:%lld.%09ld",
		    (unsigned long)st.st_dev, (unsigned long)st.st_ino,
		    (long long)st.st_size, (long long)st.st_ctim.tv_sec,
		    st.st_ctim.tv_nsec);
}

/* pin_spec_stamp - what identifies the PIN a spec gives, now */
void
pin_spec_stamp(const char *spec, char *out, size_t len)
{
	stamp_path(path_of(spec), out, len);
}

/* pin_source_stamp - the same, of a source */
void
pin_source_stamp(const struct pin_source *s, char *out, size_t len)
{
	stamp_path(s->kind == PIN_FILE ? s->path : NULL, out, len);
}

/* pin_get - the PIN, into pin; the caller wipes it with pin_wipe() */
int
pin_get(struct pin_source *s, struct pin *p, struct p11_err *err)
{
	if (s->kind == PIN_FILE)
		return read_file(s->path, p, err);
	*p = *s->kept;
	return 0;
}

/* pin_prompt_twice - ask for a new PIN twice, at least min characters */
int
pin_prompt_twice(const char *what, size_t min, struct pin *p,
    struct p11_err *err)
{
	struct pin again;
	char	 prompt[160];
	int	 same;

	snprintf(prompt, sizeof(prompt), "New %s (at least %zu characters): ",
	    what, min);
	if (tty_read(prompt, p, err) < 0)
		return -1;
	if (p->len < min) {
		pin_wipe(p);
		return p11_err_set(err, 0, CKR_OK, "%s: shorter than %zu "
		    "characters", what, min);
	}
	snprintf(prompt, sizeof(prompt), "Repeat the new %s: ", what);
	if (tty_read(prompt, &again, err) < 0) {
		pin_wipe(p);
		return -1;
	}
	same = again.len == p->len && CRYPTO_memcmp(again.buf, p->buf,
	    p->len) == 0;
	pin_wipe(&again);
	if (!same) {
		pin_wipe(p);
		return p11_err_set(err, 0, CKR_OK, "the two %ss differ", what);
	}
	return 0;
}

/* pin_source_free - wipe and free; NULL is fine; returns NULL */
struct pin_source *
pin_source_free(struct pin_source *s)
{
	if (s == NULL)
		return NULL;
	if (s->kept != NULL) {
		pin_wipe(s->kept);
		munmap(s->kept, sizeof(struct pin));
	}
	free(s->path);
	free(s);
	return NULL;
}
