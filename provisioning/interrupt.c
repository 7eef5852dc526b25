/*
 * interrupt.c - SIGINT, SIGTERM, SIGHUP and SIGQUIT while the PKCS#11
 * module is loaded: noted, not obeyed at once (see keys.h).
 *
 * Why: a software token rewrites its files in place (SoftHSM2's
 * token.object is truncated, then written again).  A process killed in
 * between leaves an empty file: the token, its PINs and its keys are
 * gone.  So once the module is loaded, these signals only set a flag;
 * the commands stop at their next safe point (between institutions, or
 * after the token operation under way and its log record), the module
 * is finalized as usual, and the program exits with EX_INTERRUPTED.  A
 * second signal changes nothing but a word on stderr.
 *
 * Security: the handler only stores the signal's number and writes a
 * fixed message (async-signal-safe calls only).
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"

static const int caught_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

static volatile sig_atomic_t first_signal;	/* 0: none yet */
static int catching;

/* say - a fixed message on stderr, from the handler */
static void
say(const char *msg)
{
	ssize_t	 n = write(STDERR_FILENO, msg, strlen(msg));

	(void)n;
}

/* on_signal - note the first signal; tell of the others */
static void
on_signal(int sig)
{
	if (first_signal == 0) {
		first_signal = sig;
		say("p11dkim-keys: stopping after the token operation under "
		    "way\n");
	} else
		say("p11dkim-keys: still finishing the token operation; it "
		    "stops right after\n");
}

/* install - the handler for every caught signal; restart: SA_RESTART */
static void
install(int restart)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(caught_signals) /
	    sizeof(caught_signals[0]); i++)
		sigaddset(&sa.sa_mask, caught_signals[i]);
	for (size_t i = 0; i < sizeof(caught_signals) /
	    sizeof(caught_signals[0]); i++)
		(void)sigaction(caught_signals[i], &sa, NULL);
}

/* keys_interrupt_catch - from now on, note the signals instead of dying */
void
keys_interrupt_catch(void)
{
	if (catching)
		return;
	catching = 1;
	install(1);
}

/* keys_interrupt_prompt - while waiting for a typed line: on, a signal
 * ends the read (EINTR) instead of restarting it; off, back to normal */
void
keys_interrupt_prompt(int on)
{
	if (catching)
		install(!on);
}

/* keys_interrupted - the signal that came, or 0 */
int
keys_interrupted(void)
{
	return first_signal;
}

/* keys_interrupt_status - say why we stop; EX_INTERRUPTED */
int
keys_interrupt_status(void)
{
	const char *name = sigabbrev_np(first_signal);

	return keys_fail(EX_INTERRUPTED, "interrupted (SIG%s): stopped at a "
	    "safe point; the token work begun was finished and logged, "
	    "nothing after it was started", name ? name : "?");
}
