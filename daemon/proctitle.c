/*
 * proctitle.c - the process's name and title (see proctitle.h).
 *
 * The name is prctl(PR_SET_NAME).  The title is written over the
 * argument strings, which the kernel shows as /proc/PID/cmdline: only
 * within the room they took (the environment after them is left alone,
 * so no pointer into it goes stale), and padded with NULs, so the area
 * still ends in one and the kernel reads no further.
 */
#include <string.h>
#include <sys/prctl.h>

#include "proctitle.h"

static char *room;			/* argv[0], or NULL: no title */
static size_t room_len;			/* up to the last string's NUL */

/* proctitle_init - the argument strings, if they lie end to end */
void
proctitle_init(int argc, char **argv)
{
	char	*end;

	if (argc < 1 || argv[0] == NULL)
		return;
	end = argv[0];
	for (int i = 0; i < argc; i++) {
		if (argv[i] != end)
			return;		/* not one area: leave them alone */
		end += strlen(argv[i]) + 1;
	}
	room = argv[0];
	room_len = (size_t)(end - argv[0]);
}

/* proctitle_set - the name, and the title when it fits */
void
proctitle_set(const char *comm, const char *title)
{
	size_t	 n = strlen(title);

	(void)prctl(PR_SET_NAME, comm, 0, 0, 0);
	if (room == NULL || n + 1 > room_len)
		return;
	memset(room, 0, room_len);
	memcpy(room, title, n);
}
