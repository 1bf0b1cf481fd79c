/* prio.c - scheduling priority of the calling thread (prio.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/log.h"
#include "util/prio.h"

#define LATENCY_NICE  (-10)
#define LATENCY_SLICE 100000u
#define BACKGROUND_NICE 5             /* ns: EEVDF's shortest custom slice */

/* sched_setattr(2)'s argument, first version (glibc has no wrapper) */
struct sched_attr_v0 {
	uint32_t size, policy;
	uint64_t flags;
	int32_t  nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

/* SCHED_OTHER with a nice value and, on kernels with EEVDF's custom
 * slices (6.12+), a short slice: a woken thread whose slice is shorter
 * than the running one's may preempt it at once instead of waiting for
 * that one to reach parity (milliseconds here); older kernels ignore
 * the slice. */
static int set(pid_t tid, int nice)
{
	struct sched_attr_v0 a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.nice = nice;
	a.runtime = LATENCY_SLICE;
	return syscall(SYS_sched_setattr, tid, &a, 0) ? -errno : 0;
}

int prio__latency_critical(const char *what)
{
	static bool said;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	int r = set(tid, LATENCY_NICE);
	if (r == -EPERM && set(tid, 0) == 0)
		r = -EPERM;               /* the slice, not the nice value */
	else if (r == -EINVAL || r == -ENOSYS)
		r = setpriority(PRIO_PROCESS, (id_t)tid, LATENCY_NICE) ? -errno : 0;
	if (r && !__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
		log__info("%s runs at normal priority (nice %d not permitted: %s)", what, LATENCY_NICE,
			  r == -EPERM ? "no CAP_SYS_NICE" : strerror(-r));
	return r;
}

int prio__background(bool on)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	return setpriority(PRIO_PROCESS, (id_t)tid, on ? BACKGROUND_NICE : 0) ? -errno : 0;
}
