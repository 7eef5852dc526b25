/*
 * pidfile.h - the parent's pid file (the configuration's pidfile): its
 * pid, written whole and locked at start, removed at exit; a start finds
 * it held by a running p11dkimd and refuses.  Private to daemon/.
 */
#ifndef P11DKIM_PIDFILE_H
#define P11DKIM_PIDFILE_H

struct pidfile {
	char	*path;			/* NULL: no pid file */
	char	*tmp;			/* where it is written first */
	int	 fd;			/* locked while we run; -1 */
};

/*
 * pidfile_take - write this process's pid to path (NULL: nothing to do)
 * and hold its lock; 0, or -1 (logged) when another p11dkimd holds it
 * or it cannot be written
 */
int	pidfile_take(struct pidfile *, const char *path);

/* pidfile_remove - at exit: remove the file if it is still ours */
void	pidfile_remove(struct pidfile *);

/* pidfile_release - close and forget, leaving the file */
void	pidfile_release(struct pidfile *);

#endif
