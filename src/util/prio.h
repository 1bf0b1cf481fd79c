/* prio.h - scheduling priority of the calling thread. */
#ifndef TERN_UTIL_PRIO_H
#define TERN_UTIL_PRIO_H

#include <stdbool.h>

/* The calling thread serves a latency-critical path and uses little CPU
 * (post-copy's page requests: a vCPU waits on each). On a host whose 2
 * cores are busy with the background stream's threads and the guest, a
 * woken thread of equal weight waited ms for a CPU. So: nice -10 where
 * the process may (CAP_SYS_NICE or RLIMIT_NICE) and a 0.1 ms slice
 * (EEVDF, Linux 6.12+: it may preempt at wake-up), else what is allowed;
 * `what` names the thread in the one line said when the nice value is
 * not. 0, or -errno. */
int prio__latency_critical(const char *what);

/* on: the calling thread does bulk work that must yield to the guest's
 * vCPUs (the page pipeline's senders while the guest runs: "the guest is
 * not slowed down during pre-copy"). nice +5: a vCPU that wants a CPU
 * gets about three times the sender's share of it; an idle CPU is still
 * the sender's. Always permitted. off: back to nice 0, which needs
 * CAP_SYS_NICE or RLIMIT_NICE (-EPERM otherwise: it stays at +5).
 * 0, or -errno. */
int prio__background(bool on);

#endif
