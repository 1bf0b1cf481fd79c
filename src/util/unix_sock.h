/* unix_sock.h - one way to listen on a unix socket path.
 *
 * Every listening socket tern makes is created mode 0600 (umask held while
 * binding, so there is no window where others may connect), refuses a path
 * that is not a socket, refuses a socket that a live process still serves
 * (connect succeeds) unless the caller takes it over on purpose, and
 * replaces one left behind by a process that died. */
#ifndef TERN_UTIL_UNIX_SOCK_H
#define TERN_UTIL_UNIX_SOCK_H

#include <stdbool.h>
#include <stddef.h>

enum unix_listen_flags {
	UNIX_REPLACE_LIVE = 1 << 0,   /* take a live path over (handoff takes the old ctl socket) */
	UNIX_NONBLOCK     = 1 << 1,
};

/* Returns the listening fd, or -1 with the cause (naming `what` and the
 * path) in err. */
int unix__listen(const char *path, const char *what, int backlog, unsigned flags,
		 char *err, size_t errlen);
/* A process accepts connections at path. */
bool unix__in_use(const char *path);

#endif
