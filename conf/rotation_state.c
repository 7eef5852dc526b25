/*
 * rotation_state.c - read and write an institution's rotation state (see
 * include/p11dkim/rotation_state.h).
 *
 * Format: "name=value" lines (active, step, target, retiring,
 * activated-at, onboarding, and drift-since with drift-reason while
 * dns-watch sees drift); unknown names and bad values are refused with
 * the line.
 * Security: the file is written 0644 in the state directory, which only
 * the key ceremony's operators may write, as a synced copy renamed over
 * the old one (atomic_file.h); a selector read from it must be one of
 * the institution's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11dkim/atomic_file.h"
#include "p11dkim/rotation_state.h"

#define STATE_FILE_MAX	4096

static const char *const step_names[] = {
	"idle", "generated", "published", "verified", "activated", "revoked"
};

static const char *const onboard_names[] = { "live", "pending" };

/* onboard_state_name - "live" or "pending" */
const char *
onboard_state_name(enum onboard_state o)
{
	return (unsigned)o < sizeof(onboard_names) / sizeof(onboard_names[0]) ?
	    onboard_names[o] : "unknown";
}

/* rotation_step_name - "idle", "generated", ... */
const char *
rotation_step_name(enum rotation_step s)
{
	return (unsigned)s < sizeof(step_names) / sizeof(step_names[0]) ?
	    step_names[s] : "unknown";
}

/* state_path - <state-dir>/<code>.state */
static int
state_path(const struct conf *c, const struct conf_institution *i,
    char *out, size_t len)
{
	int	 n = snprintf(out, len, "%s/%s.state", c->state_dir, i->code);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* set_selector - a selector value, which must be one of the institution's */
static int
set_selector(const struct conf_institution *i, const char *v, char *dst)
{
	int	 k = *v ? conf_selector_index(i, v) : -2;

	if (k == -1)
		return -1;
	snprintf(dst, ROT_NAME_MAX, "%s", k >= 0 ? i->selectors[k] : "");
	return 0;
}

/* parse_number - a whole number of seconds since the epoch */
static int
parse_number(const char *v, long long *out)
{
	char	*end;

	errno = 0;
	*out = strtoll(v, &end, 10);
	return errno || *end || end == v || *out < 0 ? -1 : 0;
}

/* parse_reason - a drift reason: [a-z-]+, shorter than ROT_REASON_MAX */
static int
parse_reason(const char *v, char *dst)
{
	size_t	 n = strlen(v);

	if (n == 0 || n >= ROT_REASON_MAX || strspn(v,
	    "abcdefghijklmnopqrstuvwxyz-") != n)
		return -1;
	memcpy(dst, v, n + 1);
	return 0;
}

/* parse_onboard - the onboarding and drift lines; 1 when not one of them */
static int
parse_onboard(const char *name, const char *v, struct rotation_state *st)
{
	if (strcmp(name, "onboarding") == 0) {
		for (size_t k = 0; k < sizeof(onboard_names) /
		    sizeof(onboard_names[0]); k++)
			if (strcmp(v, onboard_names[k]) == 0) {
				st->onboard = (enum onboard_state)k;
				return 0;
			}
		return -1;
	}
	if (strcmp(name, "drift-since") == 0)
		return parse_number(v, &st->drift_since);
	if (strcmp(name, "drift-reason") == 0)
		return parse_reason(v, st->drift_reason);
	return 1;
}

/* parse_line - one name=value line into st */
static int
parse_line(const struct conf_institution *i, char *line,
    struct rotation_state *st)
{
	char	*eq = strchr(line, '='), *v;
	int	 rc;

	if (eq == NULL)
		return -1;
	*eq = '\0';
	v = eq + 1;
	if ((rc = parse_onboard(line, v, st)) <= 0)
		return rc;
	if (strcmp(line, "active") == 0)
		return *v ? set_selector(i, v, st->active) : -1;
	if (strcmp(line, "target") == 0)
		return set_selector(i, v, st->target);
	if (strcmp(line, "retiring") == 0)
		return set_selector(i, v, st->retiring);
	if (strcmp(line, "activated-at") == 0)
		return parse_number(v, &st->activated_at);
	if (strcmp(line, "step") == 0) {
		for (size_t k = 0; k < sizeof(step_names) / sizeof(*step_names);
		    k++)
			if (strcmp(v, step_names[k]) == 0) {
				st->step = (enum rotation_step)k;
				return 0;
			}
	}
	return -1;
}

/* rotation_state_parse - the lines of a state file's text into st */
int
rotation_state_parse(const struct conf_institution *i, const char *text,
    size_t len, struct rotation_state *st, unsigned *bad_line)
{
	char	 line[512];
	size_t	 pos = 0, n;
	const char *lf;

	memset(st, 0, sizeof(*st));
	snprintf(st->active, sizeof(st->active), "%s", i->active_selector);
	*bad_line = 0;
	while (pos < len) {
		(*bad_line)++;
		lf = memchr(text + pos, '\n', len - pos);
		n = (lf != NULL ? (size_t)(lf - text) : len) - pos;
		if (n >= sizeof(line) || memchr(text + pos, '\0', n) != NULL)
			return -1;
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + 1;
		if (line[0] != '\0' && line[0] != '#' &&
		    parse_line(i, line, st) < 0)
			return -1;
	}
	*bad_line = 0;
	st->from_file = 1;
	return 0;
}

/* rotation_state_load - the state, or the configuration's when no file */
int
rotation_state_load(const struct conf *c, const struct conf_institution *i,
    struct rotation_state *st, char *err, size_t errlen)
{
	char	 path[1024], text[STATE_FILE_MAX + 1];
	unsigned bad;
	size_t	 len;
	FILE	*f;

	memset(st, 0, sizeof(*st));
	snprintf(st->active, sizeof(st->active), "%s", i->active_selector);
	if (state_path(c, i, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "state directory path too long");
		return -1;
	}
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	len = fread(text, 1, sizeof(text), f);
	if (ferror(f) || len > STATE_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path, ferror(f) ?
		    "read error" : "longer than a state file can be");
		fclose(f);
		return -1;
	}
	fclose(f);
	if (rotation_state_parse(i, text, len, st, &bad) < 0) {
		snprintf(err, errlen, "%s:%u: bad state line", path, bad);
		return -1;
	}
	return 0;
}

/* temp_path - the file a save writes before renaming it over the state */
static int
temp_path(const struct conf *c, const struct conf_institution *i,
    char *path, size_t plen, char *tmp, size_t tlen)
{
	int	 n;

	if (state_path(c, i, path, plen) < 0)
		return -1;
	n = snprintf(tmp, tlen, "%s.new", path);
	return n < 0 || (size_t)n >= tlen ? -1 : 0;
}

/*
 * rotation_state_check_save - would a save work now?  The temporary file
 * is created and removed again, as a save creates it and renames it: the
 * state directory must let us do both.
 */
int
rotation_state_check_save(const struct conf *c,
    const struct conf_institution *i, char *err, size_t errlen)
{
	char	 path[1024], tmp[1100];
	int	 fd;

	if (temp_path(c, i, path, sizeof(path), tmp, sizeof(tmp)) < 0)
		return snprintf(err, errlen, "state path too long"), -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) <
	    0)
		return snprintf(err, errlen, "rotation state of %s cannot be "
		    "written: %s: %s", i->code, tmp, strerror(errno)), -1;
	close(fd);
	if (unlink(tmp) < 0)
		return snprintf(err, errlen, "rotation state of %s: %s: %s",
		    i->code, tmp, strerror(errno)), -1;
	return 0;
}

/* rotation_state_format - the text of a state file; its length or -1 */
int
rotation_state_format(const struct conf_institution *i,
    const struct rotation_state *st, char *text, size_t len)
{
	int	 n = snprintf(text, len, "# rotation state of %s, written by "
	    "p11dkim-keys\nactive=%s\nstep=%s\ntarget=%s\nretiring=%s\n"
	    "activated-at=%lld\nonboarding=%s\n", i->code, st->active,
	    rotation_step_name(st->step), st->target, st->retiring,
	    st->activated_at, onboard_state_name(st->onboard));

	if (n >= 0 && (size_t)n < len && st->drift_since > 0)
		n += snprintf(text + n, len - (size_t)n, "drift-since="
		    "%lld\ndrift-reason=%s\n", st->drift_since,
		    st->drift_reason[0] ? st->drift_reason : "unknown");
	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* rotation_state_save - write the state atomically */
int
rotation_state_save(const struct conf *c, const struct conf_institution *i,
    const struct rotation_state *st, char *err, size_t errlen)
{
	char	 path[1024], tmp[1100], text[STATE_FILE_MAX];
	int	 n;

	if (temp_path(c, i, path, sizeof(path), tmp, sizeof(tmp)) < 0)
		return snprintf(err, errlen, "state path too long"), -1;
	if ((n = rotation_state_format(i, st, text, sizeof(text))) < 0)
		return snprintf(err, errlen, "%s: state too long", path), -1;
	return atomic_file_write(path, text, (size_t)n, 0644, err, errlen);
}
