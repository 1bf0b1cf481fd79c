/* loop.h - the control server's thread (loop.c); for server.c only. */
#ifndef TERN_CTL_LOOP_H
#define TERN_CTL_LOOP_H

#include "ctl/ctl.h"

/* The thread: serves s until its wake pipe is written. */
void *ctl_loop__run(void *server);
/* Send what a client's buffer holds, without waiting; -1 if it cannot take more ever. */
int  ctl_loop__flush(struct ctl_client *c);
/* Close a client and free its buffers; the slot is free again. */
void ctl_loop__drop(struct ctl_client *c);

#endif
