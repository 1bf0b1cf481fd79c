/* unix_sock.h - one way to listen on and connect to a unix socket path.
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
	UNIX_NONBLOCK     = 1 << 1,   /* listen only */
	UNIX_SEQPACKET    = 1 << 2,   /* SOCK_SEQPACKET (tern-psp's protocol), not a stream */
};

/* Returns the listening fd, or -1 with the cause (naming `what` and the
 * path) in err. */
int unix__listen(const char *path, const char *what, int backlog, unsigned flags,
		 char *err, size_t errlen);
/* Connect to path (flags: UNIX_SEQPACKET). Returns the fd, or -1 with
 * the cause, naming `what` and the path, in err; *errno_out (may be NULL)
 * gets the errno so callers can add advice for ENOENT or ECONNREFUSED. */
int unix__connect(const char *path, const char *what, unsigned flags, int *errno_out,
		  char *err, size_t errlen);
/* A process accepts connections at path. */
bool unix__in_use(const char *path);

#endif
