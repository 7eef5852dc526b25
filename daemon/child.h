/*
 * child.h - what a child of p11dkimd inherits, and what it must not:
 * signals, descriptor limits, the descriptors themselves, the terminal.
 * Private to daemon/.
 *
 * A child starts as a copy of the parent, with every descriptor the
 * parent holds.  Before it does anything else it keeps only those it
 * needs (close_range), gets /dev/null as stdin and stdout, and a front
 * leaves the parent's session so that it has no controlling terminal:
 * code running as the front's user can then read no PIN descriptor, no
 * terminal a PIN is typed on, and inject no keystrokes into it.
 */
#ifndef P11DKIM_CHILD_H
#define P11DKIM_CHILD_H

#include <stddef.h>

#define CHILD_KEEP_MAX	32

/* child_signals - default signal actions, nothing blocked */
void	child_signals(void);

/*
 * child_priority_base - remember the scheduling priority the parent
 * started with: children get it back (child_priority), whatever the
 * thread that forked them had
 */
void	child_priority_base(void);

/*
 * child_priority_boost - the calling thread of the parent ahead of the
 * signing load (on: 10 nice levels above its start, as far as it may go;
 * off: back to its start); without CAP_SYS_NICE it stays as it is
 */
void	child_priority_boost(int on);

/* child_priority - a new child back to the parent's start priority */
void	child_priority(void);

/* child_files - raise the descriptor limit to the hard one (fronts) */
void	child_files(void);

/*
 * child_descriptors - /dev/null as stdin and stdout; every descriptor
 * above stderr closed but the n in keep.  0, or -1 when /dev/null
 * cannot be opened.
 */
int	child_descriptors(const int *keep, size_t n);

/* child_detach - a session of its own: no controlling terminal */
void	child_detach(void);

/*
 * child_stderr_relay - when stderr is a terminal, give fronts a pipe
 * instead: the parent copies what comes through it to the terminal.
 * Returns the pipe's write end for fronts' stderr, or -1 when stderr is
 * no terminal (then fronts keep it) or no relay could start.
 */
int	child_stderr_relay(void);

#endif
