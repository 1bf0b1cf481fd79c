/* prio.c - scheduling priority of the calling thread (prio.h). */
#include <errno.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/log.h"
#include "util/prio.h"

#define LATENCY_NICE (-10)

int prio__latency_critical(const char *what)
{
	static bool said;
	/* on Linux a thread's nice value is its own: PRIO_PROCESS with its tid */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), LATENCY_NICE) == 0)
		return 0;
	int e = errno;
	if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
		log__info("%s runs at normal priority (nice %d not permitted: no CAP_SYS_NICE)", what,
			  LATENCY_NICE);
	return -e;
}
