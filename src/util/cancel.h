/* cancel.h - one process-wide way to end a blocking wait on a signal.
 *
 * tern run blocks SIGINT, SIGTERM and SIGHUP in every thread and takes them
 * in its main loop. While the main thread is itself the one waiting (an
 * `--incoming` or `--takeover` before the VM runs), nobody would take them:
 * the process ignored SIGTERM. So run.c registers a signalfd for those
 * signals here, and every blocking wait of the wire protocol polls it too:
 * a pending signal ends the wait with -ECANCELED. The signal stays pending,
 * so the main loop still sees it later.
 *
 * Other cancel sources use the same table: a control command that ends an
 * `--incoming` wait (migrate-cancel, quit) registers an eventfd here and
 * writes it, so the very same polls return -ECANCELED; one mechanism for
 * both. The owner of such an fd knows why it fired, cancel__pending() only
 * names signals. */
#ifndef TERN_UTIL_CANCEL_H
#define TERN_UTIL_CANCEL_H

#include <stdint.h>

#define CANCEL_MAX_FDS 4

/* Register fd: every wait below ends with -ECANCELED while fd is readable
 * (a signalfd with a pending signal, a written eventfd). -1 when the table
 * is full. Remove it before closing it. */
int  cancel__add_fd(int fd);
void cancel__remove_fd(int fd);
/* The pending cancelling signal (SIGTERM, SIGINT, SIGHUP), or 0. */
int cancel__pending(void);

/* Wait until fd has `events` (POLLIN/POLLOUT), at most timeout_ms (-1:
 * forever). Returns 0 when ready, -ETIMEDOUT, -ECANCELED (a cancelling
 * signal is pending) or -errno. EINTR is retried. */
int cancel__poll(int fd, short events, int timeout_ms);
/* The same for several descriptors (p[i].revents say which are ready;
 * entries with fd -1 are ignored). Returns >0 ready, -ETIMEDOUT,
 * -ECANCELED or -errno. */
struct pollfd;
int cancel__poll_many(struct pollfd *p, int n, int timeout_ms);

/* Milliseconds left until deadline_ns (CLOCK_MONOTONIC), at least 0;
 * -1 when deadline_ns is 0 (no deadline). */
int cancel__ms_left(uint64_t deadline_ns);
uint64_t cancel__deadline(int timeout_ms);      /* 0 for timeout_ms < 0 */

#endif
