/* psp_daemon.h - start a tern-psp when none answers (the emu back-end's
 * "no extra step for the user"). */
#ifndef TERN_CC_PSP_DAEMON_H
#define TERN_CC_PSP_DAEMON_H

#include <stddef.h>

/* The tern-psp installed next to the running binary, in buf. Returns 0, or
 * -1 with err saying why there is none. */
int psp_daemon__path(char *buf, size_t len, char *err, size_t errlen);

/* Start bin detached (its own session; it outlives this process, which
 * handoff needs) listening on sock, with a clean signal mask and default
 * dispositions and none of this process's descriptors. Waits up to 10 s
 * for it to answer; returns a connected platform socket or -1 with err
 * set. */
int psp_daemon__start(const char *bin, const char *sock, char *err, size_t errlen);

#endif
