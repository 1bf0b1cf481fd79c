/* cancel.c - see cancel.h. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "util/cancel.h"

/* Slots hold an fd or -1. Registration happens on the main thread while
 * other threads may poll, so each slot is read and written atomically. */
static int cancel_fds[CANCEL_MAX_FDS] = { -1, -1, -1, -1 };

int cancel__add_fd(int fd)
{
	for (int i = 0; i < CANCEL_MAX_FDS; i++) {
		int free_slot = -1;
		if (__atomic_compare_exchange_n(&cancel_fds[i], &free_slot, fd, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return 0;
	}
	return -1;
}

void cancel__remove_fd(int fd)
{
	for (int i = 0; i < CANCEL_MAX_FDS; i++) {
		int was = fd;
		__atomic_compare_exchange_n(&cancel_fds[i], &was, -1, false,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	}
}

int cancel__pending(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	sigset_t p;
	if (sigpending(&p))
		return 0;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigismember(&p, sigs[i]))
			return sigs[i];
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t cancel__deadline(int timeout_ms)
{
	return timeout_ms < 0 ? 0 : mono_ns() + (uint64_t)timeout_ms * 1000000ull;
}

int cancel__ms_left(uint64_t deadline_ns)
{
	if (!deadline_ns)
		return -1;
	uint64_t now = mono_ns();
	if (now >= deadline_ns)
		return 0;
	uint64_t ms = (deadline_ns - now + 999999) / 1000000;
	return ms > 1u << 30 ? 1 << 30 : (int)ms;
}

int cancel__poll_many(struct pollfd *p, int n, int timeout_ms)
{
	struct pollfd all[n + CANCEL_MAX_FDS];
	uint64_t deadline = cancel__deadline(timeout_ms);
	int r, nc = 0;
	memcpy(all, p, sizeof(*p) * (size_t)n);
	for (int i = 0; i < CANCEL_MAX_FDS; i++) {
		int cfd = __atomic_load_n(&cancel_fds[i], __ATOMIC_ACQUIRE);
		if (cfd >= 0)
			all[n + nc++] = (struct pollfd){ .fd = cfd, .events = POLLIN };
	}
	for (;;) {
		r = poll(all, (nfds_t)(n + nc), cancel__ms_left(deadline));
		if (r >= 0 || errno != EINTR)
			break;
	}
	if (r < 0)
		return -errno;
	for (int i = 0; i < nc; i++)
		if (all[n + i].revents & POLLIN)
			return -ECANCELED;
	for (int i = 0; i < n; i++)
		p[i].revents = all[i].revents;
	return r == 0 ? -ETIMEDOUT : r;
}

int cancel__poll(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = cancel__poll_many(&p, 1, timeout_ms);
	return r > 0 ? 0 : r;
}
