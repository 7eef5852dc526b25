/*
 * trail.c - the signing trail's writer (see include/p11dkim/trail.h).
 *
 * One lock for the open files: a record is found a slot (a short scan of
 * at most open_max), written with one write(2) and the lock let go; the
 * fdatasync of the every-record policy runs on a duplicate outside the
 * lock, so that one institution's sync does not hold the others'.
 *
 * The periodic policy syncs the files written since the last round,
 * each with fdatasync, not the whole filesystem (syncfs would also pay
 * for whatever else writes there).  A file closed for another one, or
 * by a reopen, with records not synced yet goes to the sync thread
 * rather than being closed: at most open_max wait so, so the trail holds
 * at most twice open_max files and the folder (and the sync thread's
 * duplicates for a moment).  Past that (records spread over many more
 * institutions than open_max in one round) the writer closes the file
 * as it is, never syncing under the lock, and that round the sync thread
 * syncs the folder's filesystem instead (syncfs).
 *
 * A write that fails part way leaves the file cut back to where the
 * record began (this process is the only writer of its files but for a
 * reload's two signers, whose whole-line O_APPEND writes do not mix).
 *
 * Security: file names are institution codes (letters, digits, '-',
 * '_': checked again here), opened under the folder's descriptor with
 * O_NOFOLLOW, made 0640 whatever the umask (the signer's user writes,
 * its group may read).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "p11dkim/log.h"
#include "p11dkim/trail.h"

struct slot {
	char	 code[TRAIL_INST_MAX + 1];
	int	 fd;			/* -1: free */
	int	 dirty;			/* written since its last sync */
	unsigned long used;		/* the clock of its last record */
};

struct trail {
	pthread_mutex_t mu;
	pthread_cond_t stop_cv;
	int	 dirfd;
	unsigned sync_s;
	int	*closing;		/* closed, not synced yet: nslots */
	size_t	 nclosing;
	int	 overflow;		/* closed unsynced: syncfs this round */
	int	 stopping;
	int	 syncer;		/* the sync thread runs */
	pthread_t th;
	unsigned long clock;
	size_t	 nslots;
	struct slot *slots;
};

/* name_ok - an institution code that is a plain file name */
static int
name_ok(const char *code)
{
	if (code[0] == '\0' || code[0] == '.' || code[0] == '-')
		return 0;
	for (const char *p = code; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return 0;
	return 1;
}

/* close_slot - a slot's file closed, or left to the sync thread (locked) */
static void
close_slot(struct trail *t, struct slot *s)
{
	if (s->fd >= 0 && s->dirty && t->nclosing < t->nslots)
		t->closing[t->nclosing++] = s->fd;
	else if (s->fd >= 0) {
		t->overflow |= s->dirty;
		close(s->fd);
	}
	s->fd = -1;
	s->dirty = 0;
	s->code[0] = '\0';
}

/* find_slot - the institution's open file, or a slot for it (locked) */
static struct slot *
find_slot(struct trail *t, const char *code, int *found)
{
	struct slot *free_slot = NULL, *old = NULL;

	for (size_t i = 0; i < t->nslots; i++) {
		struct slot *s = &t->slots[i];

		if (s->fd >= 0 && strcmp(s->code, code) == 0) {
			*found = 1;
			return s;
		}
		if (s->fd < 0 && free_slot == NULL)
			free_slot = s;
		if (s->fd >= 0 && (old == NULL || s->used < old->used))
			old = s;
	}
	*found = 0;
	if (free_slot != NULL)
		return free_slot;
	close_slot(t, old);
	return old;
}

/* open_file - the institution's file for the slot (locked); 0 or -1 */
static int
open_file(struct trail *t, struct slot *s, const char *code)
{
	char	 name[TRAIL_INST_MAX + 8];

	snprintf(name, sizeof(name), "%s" TRAIL_SUFFIX, code);
	s->fd = openat(t->dirfd, name, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0640);
	if (s->fd < 0)
		return -1;
	(void)fchmod(s->fd, 0640);	/* whatever the umask */
	if (t->sync_s == 0)
		(void)fsync(t->dirfd);	/* a new file's name on disk too */
	snprintf(s->code, sizeof(s->code), "%s", code);
	return 0;
}

/* append - the line on the slot's file, whole or not at all (locked) */
static int
append(struct trail *t, struct slot *s, const char *line, size_t n)
{
	off_t	 was = lseek(s->fd, 0, SEEK_END);
	ssize_t	 w;
	int	 e;

	do
		w = write(s->fd, line, n);
	while (w < 0 && errno == EINTR);
	if (w == (ssize_t)n)
		return 0;
	e = w < 0 ? errno : ENOSPC;
	if (w > 0 && (was < 0 || ftruncate(s->fd, was) < 0))
		close_slot(t, s);	/* a new open starts clean */
	errno = e;
	return -1;
}

/* synced - the every-record policy: the file on disk; 0 or -1 (errno) */
static int
synced(int fd)
{
	int	 rc, e;

	if (fd < 0)
		return -1;
	rc = fdatasync(fd);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* trail_write - the record appended to its institution's file */
int
trail_write(struct trail *t, const struct trail_record *r, char *why,
    size_t whylen)
{
	char	 line[TRAIL_LINE_MAX];
	struct slot *s;
	int	 n, found, rc = 0, dup_fd = -1;

	if (!name_ok(r->inst) || (n = trail_format(r, line, sizeof(line))) < 0) {
		snprintf(why, whylen, "signing trail: a record for '%.32s' "
		    "cannot be written", r->inst);
		return -1;
	}
	pthread_mutex_lock(&t->mu);
	s = find_slot(t, r->inst, &found);
	if ((!found && open_file(t, s, r->inst) < 0) ||
	    append(t, s, line, (size_t)n) < 0)
		rc = -1;
	else {
		s->used = ++t->clock;
		s->dirty = t->sync_s > 0;
		if (t->sync_s == 0 && (dup_fd = fcntl(s->fd, F_DUPFD_CLOEXEC,
		    0)) < 0)
			rc = -1;
	}
	pthread_mutex_unlock(&t->mu);
	if (rc == 0 && t->sync_s == 0 && synced(dup_fd) < 0)
		rc = -1;
	if (rc < 0)
		snprintf(why, whylen, "signing trail: cannot write %s.trail: %s",
		    r->inst, strerror(errno));
	return rc;
}

/* trail_reopen - close every file: the next record opens it anew */
void
trail_reopen(struct trail *t)
{
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->nslots; i++)
		close_slot(t, &t->slots[i]);
	pthread_mutex_unlock(&t->mu);
}

/*
 * take_dirty - what a sync round does (locked): duplicates of the open
 * files written since the last round, and the closed ones that wait;
 * how many went to fds (room for twice nslots)
 */
static size_t
take_dirty(struct trail *t, int *fds)
{
	size_t	 n = 0;

	for (size_t i = 0; i < t->nslots; i++) {
		struct slot *s = &t->slots[i];

		if (s->fd >= 0 && s->dirty &&
		    (fds[n] = fcntl(s->fd, F_DUPFD_CLOEXEC, 0)) >= 0) {
			s->dirty = 0;
			n++;
		}
	}
	memcpy(fds + n, t->closing, t->nclosing * sizeof(*fds));
	n += t->nclosing;
	t->nclosing = 0;
	return n;
}

/*
 * sync_round - take_dirty's files synced and closed, or the whole
 * filesystem when files were closed unsynced (not locked)
 */
static void
sync_round(struct trail *t, int *fds, size_t n, int overflow)
{
	if (overflow && syncfs(t->dirfd) < 0)
		log_err("signing trail: syncfs: %s", strerror(errno));
	for (size_t i = 0; i < n; i++) {
		if (!overflow && fdatasync(fds[i]) < 0)
			log_err("signing trail: fdatasync: %s", strerror(errno));
		close(fds[i]);
	}
}

/* sync_thread - the files written synced every sync_s seconds */
static void *
sync_thread(void *arg)
{
	struct trail *t = arg;
	struct timespec until;
	int	*fds = calloc(2 * t->nslots, sizeof(*fds));
	size_t	 n;
	int	 overflow;

	if (fds == NULL) {
		log_err("signing trail: out of memory: files are not synced");
		return NULL;
	}
	pthread_mutex_lock(&t->mu);
	while (!t->stopping) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += t->sync_s;
		while (!t->stopping && pthread_cond_timedwait(&t->stop_cv,
		    &t->mu, &until) != ETIMEDOUT)
			;
		n = take_dirty(t, fds);
		overflow = t->overflow;
		t->overflow = 0;
		pthread_mutex_unlock(&t->mu);
		sync_round(t, fds, n, overflow);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	free(fds);
	return NULL;
}

/* trail_new - a writer for the folder dir */
struct trail *
trail_new(const char *dir, unsigned sync_s, unsigned open_max, char *err,
    size_t errlen)
{
	struct trail *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->slots = calloc(open_max ? open_max : 1,
	    sizeof(*t->slots))) == NULL || (t->closing = calloc(open_max ?
	    open_max : 1, sizeof(*t->closing))) == NULL) {
		if (t != NULL)
			free(t->slots);
		free(t);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->nslots = open_max ? open_max : 1;
	for (size_t i = 0; i < t->nslots; i++)
		t->slots[i].fd = -1;
	t->sync_s = sync_s;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->stop_cv, NULL);
	if ((t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		snprintf(err, errlen, "signing trail folder %s: %s", dir,
		    strerror(errno));
	else if (sync_s > 0 && pthread_create(&t->th, NULL, sync_thread,
	    t) != 0)
		snprintf(err, errlen, "signing trail: cannot start a thread");
	else {
		t->syncer = sync_s > 0;
		return t;
	}
	trail_free(t);
	return NULL;
}

/* trail_free - stop the sync thread, close everything; NULL is fine */
void
trail_free(struct trail *t)
{
	if (t == NULL)
		return;
	if (t->syncer) {
		pthread_mutex_lock(&t->mu);
		t->stopping = 1;
		pthread_cond_signal(&t->stop_cv);
		pthread_mutex_unlock(&t->mu);
		pthread_join(t->th, NULL);
	}
	trail_reopen(t);
	if (t->overflow)
		(void)syncfs(t->dirfd);
	for (size_t i = 0; i < t->nclosing; i++) {
		(void)fdatasync(t->closing[i]);
		close(t->closing[i]);
	}
	if (t->dirfd >= 0) {
		(void)fsync(t->dirfd);
		close(t->dirfd);
	}
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->stop_cv);
	free(t->slots);
	free(t->closing);
	free(t);
}
