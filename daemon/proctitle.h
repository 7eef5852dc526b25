/*
 * proctitle.h - which process of p11dkimd this is, as ps(1) shows it: the
 * name in /proc/PID/comm (15 characters) and the command line.  Private
 * to daemon/.
 */
#ifndef P11DKIM_PROCTITLE_H
#define P11DKIM_PROCTITLE_H

/*
 * proctitle_init - remember main's argument strings as the room for the
 * title.  Later they are overwritten: keep a copy of any that is needed
 * (an option's argument) before proctitle_set.
 */
void	proctitle_init(int argc, char **argv);

/*
 * proctitle_set - comm (at most 15 characters: "p11dkimd-signer") and
 * the command line ("p11dkimd: signer"); the command line stays as it
 * was when the title does not fit in the room of the arguments.
 */
void	proctitle_set(const char *comm, const char *title);

#endif
