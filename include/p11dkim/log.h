/*
 * log.h - the daemon's log: syslog (mail facility) or stderr, one line
 * per event.  Never message content, never PINs.  Arguments may carry
 * text from clients: each line is escaped as it is built (control bytes
 * and DEL as \xNN, a backslash as \\), so it stays one line whatever
 * it holds.
 */
#ifndef P11DKIM_LOG_H
#define P11DKIM_LOG_H

/*
 * log_open - where to log, and the program's name for each line.  With
 * syslog (to_stderr 0) and nothing listening on /dev/log, lines go to
 * stderr, after one warning that says so.  Returns log_is_stderr().
 */
int	log_open(const char *ident, int to_stderr);

/* log_is_stderr - do lines go to stderr (asked for, or fallen back)? */
int	log_is_stderr(void);

/* log_info - a normal event (one signed message, a start, a reload) */
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));

/* log_warn - something refused or retried */
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));

/* log_err - something broken that needs a person */
void	log_err(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif
