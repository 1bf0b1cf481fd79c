/* ctl.h - the control socket: one JSON object per line each way
 * (docs/control.md). The server runs in its own thread next to the vCPUs. */
#ifndef TERN_CTL_CTL_H
#define TERN_CTL_CTL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "migrate/precopy.h"

struct vm;

#define CTL_MAX_CLIENTS 16
#define CTL_MAX_LINE    (64 * 1024)

struct ctl_client {
	int    fd;
	char  *buf;
	size_t len;
};

struct ctl_server {
	int        lfd;
	char       path[108];
	int        wake[2];               /* pipe: tells the thread to exit */
	pthread_t  thread;
	bool       running;
	struct vm *vm;
	const char *guest;                /* what is running, for status */
	bool       keep_path;             /* handed off: the new process owns the path now */
	uint64_t   handoff_downtime_ns;   /* this process took the VM over: its downtime */
	struct migration mig;             /* outgoing live migration (at most one at a time) */
	struct mig_stats incoming;        /* how this VM arrived, if it did by migration */
	struct ctl_client clients[CTL_MAX_CLIENTS];
};

/* Create and bind the socket (mode 0600). Fails if another process is
 * listening there; a stale socket file from a dead process is replaced. */
int  ctl_server__open(struct ctl_server *s, const char *path, char *err, size_t errlen);
/* Same, replacing whatever socket is at path (the old process's, after a handoff). */
int  ctl_server__open_replace(struct ctl_server *s, const char *path, char *err, size_t errlen);
int  ctl_server__start(struct ctl_server *s, struct vm *vm, const char *guest);
void ctl_server__close(struct ctl_server *s);

/* query-migrate's JSON for a stats snapshot (commands.c) */
json_t *ctl__mig_json(const struct mig_stats *st);

/* Run one request (a parsed object) and build its reply (commands.c). */
json_t *ctl__dispatch(struct ctl_server *s, json_t *req);

/* Client side: send req, return the reply object (or NULL with err set). */
json_t *ctl__call(const char *path, json_t *req, char *err, size_t errlen);

#endif
