/* ctl.h - the control socket: one JSON object per line each way
 * (docs/control.md). The server runs in its own thread next to the vCPUs. */
#ifndef TERN_CTL_CTL_H
#define TERN_CTL_CTL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "ctl/fields.h"
#include "migrate/precopy.h"

struct vm;
struct ctl_server;

/* Limits that keep one client from costing the others (docs/control.md). */
#define CTL_MAX_CLIENTS 16
#define CTL_MAX_LINE    (64 * 1024)     /* one request, without its '\n' */
#define CTL_MAX_OUTPUT  (256 * 1024)    /* replies a client has not read yet */
#define CTL_IDLE_MS     30000           /* no request and no reply taken for this long: closed */

/* `tern ctl`'s wait for a reply unless --timeout says otherwise. Snapshot
 * writes all of RAM and handoff has its own steps of up to 55 s in total
 * (handoff_send.c), so they get longer. */
#define CTL_TIMEOUT_MS          5000
#define CTL_TIMEOUT_SNAPSHOT_MS 600000
#define CTL_TIMEOUT_HANDOFF_MS  90000

struct ctl_client {
	int      fd;                  /* -1: a free slot */
	char    *in;                  /* the request line being received */
	size_t   in_len, in_cap;
	char    *out;                 /* reply bytes the client has not taken yet */
	size_t   out_len, out_cap;
	uint64_t active_ns;           /* connected, completed a request or took reply bytes */
	bool     closing;             /* no more requests: close once out is sent */
};

/* One control command: its arguments are checked against fields before fn
 * runs, so fn may read them without checking types again. fn runs once the
 * server has a VM; before that (`tern run --incoming` waiting for or
 * receiving one) no_vm runs instead, and a command without one is refused. */
struct ctl_command {
	const char *name;
	json_t *(*fn)(struct ctl_server *s, json_t *req);
	const struct ctl_field *fields;   /* terminated by { 0 }; NULL: no arguments */
	const char *help;
	json_t *(*no_vm)(struct ctl_server *s, json_t *req);   /* NULL: needs the VM */
};

struct ctl_server {
	int        lfd;
	char       path[108];
	int        wake[2];               /* pipe: tells the thread to exit */
	pthread_t  thread;
	bool       running;
	struct vm *vm;                    /* NULL until it arrives (set once, ctl_server__attach) */
	struct mig_incoming *arriving;    /* --incoming: the receive the VM comes from */
	struct mirror *mirror;            /* the VM's migration helper once it runs, or NULL
					   * (ctl_server__set_mirror) */
	const char *guest;                /* what is running, for status */
	bool       keep_path;             /* handed off: the new process owns the path now */
	uint64_t   handoff_downtime_ns;   /* this process took the VM over: its downtime */
	struct migration mig;             /* outgoing live migration (at most one at a time) */
	struct snap_job *snap;            /* the last live snapshot (snap_job.h), NULL: none yet */
	struct mig_stats incoming;        /* how this VM arrived, if it did by migration */
	const struct ctl_command *commands; /* ctl__commands unless a test sets its own */
	int        idle_ms;               /* CTL_IDLE_MS unless a test sets it */
	uint64_t   accept_retry_ns;       /* accept failed for want of fds: wait until then */
	uint64_t   said_ns;               /* last log line about a misbehaving client */
	unsigned   unsaid;                /* such events since, not logged (a flood must not flood the log) */
	struct ctl_client clients[CTL_MAX_CLIENTS];
};

/* Create and bind the socket (mode 0600). Fails if another process is
 * listening there; a stale socket file from a dead process is replaced. */
int  ctl_server__open(struct ctl_server *s, const char *path, char *err, size_t errlen);
/* Same, replacing whatever socket is at path (the old process's, after a handoff). */
int  ctl_server__open_replace(struct ctl_server *s, const char *path, char *err, size_t errlen);
/* The VM's migration helper, started (a release store: the thread sees a
 * whole mirror). Migrations use it, status shows it. */
void ctl_server__set_mirror(struct ctl_server *s, struct mirror *m);
struct mirror *ctl_server__mirror(struct ctl_server *s);
int  ctl_server__start(struct ctl_server *s, struct vm *vm, const char *guest);
/* Serve before there is a VM, while `in` waits for or receives one: only
 * the commands with a no_vm function answer. guest: for status, later. */
int  ctl_server__start_incoming(struct ctl_server *s, struct mig_incoming *in, const char *guest);
/* The VM has arrived: from the next request on, commands act on it. */
void ctl_server__attach(struct ctl_server *s, struct vm *vm);
/* The VM, or NULL while none has arrived (any thread). */
struct vm *ctl_server__vm(struct ctl_server *s);
void ctl_server__close(struct ctl_server *s);

/* The VM's commands (commands.c), terminated by { 0 }. */
extern const struct ctl_command ctl__commands[];
const struct ctl_command *ctl__find(const struct ctl_command *table, const char *name);

/* query-migrate's JSON for a stats snapshot (commands.c) */
json_t *ctl__mig_json(const struct mig_stats *st);

/* Run one request (a parsed object) and build its reply (dispatch.c). */
json_t *ctl__dispatch(struct ctl_server *s, json_t *req);
/* {"ok":false,"error":...} */
json_t *ctl__error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One request line (without its '\n') to a request object, or NULL with
 * err saying what is wrong with the frame (frame.c). */
json_t *ctl_frame__parse(const char *line, size_t len, char *err, size_t errlen);

/* Client side: send req, return the reply object (or NULL with err set).
 * Connecting, sending and waiting for the reply all end by timeout_ms. */
json_t *ctl__call_timeout(const char *path, json_t *req, int timeout_ms, char *err, size_t errlen);
/* The same with CTL_TIMEOUT_MS. */
json_t *ctl__call(const char *path, json_t *req, char *err, size_t errlen);

/* `tern ctl` words (COMMAND [ARGS]) to a request, or NULL with err (request.c). */
json_t *ctl_request__from_words(int argc, char **argv, char *err, size_t errlen);
/* The default timeout for a command. */
int  ctl_request__timeout_ms(const char *cmd);
/* --timeout SECONDS (a positive number, fractions allowed) to ms. */
int  ctl_request__parse_timeout(const char *text, int *ms, char *err, size_t errlen);

#endif
