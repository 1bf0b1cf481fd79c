/* activation.h - systemd socket activation: take the listening socket a
 * service manager passed (LISTEN_PID / LISTEN_FDS, first fd 3), so one
 * tern-psp per host is started on demand and outlives every VMM. */
#ifndef TERN_PSP_ACTIVATION_H
#define TERN_PSP_ACTIVATION_H

#include <stddef.h>

/* The passed socket (fd 3, now close-on-exec), or -ENOENT when this
 * process was not socket-activated, or another -errno with err saying
 * what is wrong with what was passed. Clears LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES either way, so they never reach a child. */
int activation__take(char *err, size_t errlen);

#endif
