/*
 * ceremony_fixture.h - what the ceremony log's unit tests share: a
 * directory from mkdtemp(3) per test with the log and its anchor file
 * inside (removed again at the end), a typical record, and whole-file
 * reads and writes to damage a log with.  Included by
 * test_ceremony_log.c and test_ceremony_anchor.c only; the helpers are
 * static inline so that a test file may leave some unused.
 */
#ifndef P11DKIM_TEST_CEREMONY_FIXTURE_H
#define P11DKIM_TEST_CEREMONY_FIXTURE_H

#define ZEROS	"0000000000000000000000000000000000000000" \
		"000000000000000000000000"
#define FPR	"3b0c3e5f6c0a4f2e9d1b7a8c5e4d3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e"
#define FILE_MAX	65536

/* A temporary directory, and the log and anchor paths inside it. */
struct fixture {
	char	 dir[256];
	char	 path[300];
	char	 anchor[300];
	char	 err[1024];
};

/* setup - a fresh directory for one test */
static inline int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/test_ceremony_log.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/ceremony.log", fx->dir);
	snprintf(fx->anchor, sizeof(fx->anchor), "%s/ceremony.anchor",
	    fx->dir);
	*state = fx;
	return 0;
}

/* teardown - remove the log, the anchor and the directory */
static inline int
teardown(void **state)
{
	struct fixture *fx = *state;
	int	 rc = 0;

	if (unlink(fx->path) < 0 && errno != ENOENT)
		rc = -1;
	if (unlink(fx->anchor) < 0 && errno != ENOENT)
		rc = -1;
	if (rmdir(fx->dir) < 0)
		rc = -1;
	free(fx);
	return rc;
}

/* record_fill - a typical record; time preset so lines are repeatable */
static inline void
record_fill(struct ceremony_record *r, const char *action, const char *result)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->time, sizeof(r->time), "2026-11-26T23:30:00Z");
	snprintf(r->operator_name, sizeof(r->operator_name), "alice");
	snprintf(r->host, sizeof(r->host), "hsm1.example");
	snprintf(r->token_label, sizeof(r->token_label), "mosa");
	snprintf(r->token_serial, sizeof(r->token_serial), "0123456789abcdef");
	snprintf(r->action, sizeof(r->action), "%s", action);
	snprintf(r->inst, sizeof(r->inst), "mosa");
	snprintf(r->selector, sizeof(r->selector), "sel1-mosa");
	snprintf(r->fpr, sizeof(r->fpr), "%s", FPR);
	snprintf(r->result, sizeof(r->result), "%s", result);
}

/* file_read - the whole file into buf (NUL-terminated) */
static inline size_t
file_read(const char *path, char *buf, size_t cap)
{
	FILE	*fp = fopen(path, "rb");
	size_t	 n;

	assert_non_null(fp);
	n = fread(buf, 1, cap - 1, fp);
	assert_false(ferror(fp));
	assert_true(n < cap - 1);
	fclose(fp);
	buf[n] = '\0';
	return n;
}

/* file_write - replace the file with len bytes */
static inline void
file_write(const char *path, const char *buf, size_t len)
{
	FILE	*fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* line_find - offset and length (without LF) of line n, 1-based */
static inline size_t
line_find(const char *text, unsigned n, size_t *len)
{
	const char *p = text, *nl;

	for (unsigned i = 1; i < n; i++) {
		assert_non_null(p = strchr(p, '\n'));
		p++;
	}
	assert_non_null(nl = strchr(p, '\n'));
	*len = (size_t)(nl - p);
	return (size_t)(p - text);
}

#endif
