/* snap_job.h - a live snapshot (`snapshot PATH --live`) runs in its own
 * thread so the control socket keeps answering (status, query-snapshot,
 * quit) while the guest's RAM is written; one at a time per VM. */
#ifndef TERN_CTL_SNAP_JOB_H
#define TERN_CTL_SNAP_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct vm;
struct snap_job;

/* Start one (*j is created on first use and kept for query-snapshot).
 * Returns 0, or -1 with err (one is still running, no thread). */
int  snap_job__start(struct snap_job **j, struct vm *vm, const char *path, uint64_t downtime_ns,
		     char *err, size_t errlen);
bool snap_job__running(struct snap_job *j);
/* query-snapshot's reply: status none|active|completed|failed and figures. */
json_t *snap_job__json(struct snap_job *j);
/* Wait for a running one (the VM is stopping: it ends soon) and free. */
void snap_job__free(struct snap_job *j);

#endif
