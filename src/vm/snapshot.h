/* snapshot.h - a machine to a file and back (tern ctl snapshot [--live],
 * tern run --restore / --restore-lazy). */
#ifndef TERN_VM_SNAPSHOT_H
#define TERN_VM_SNAPSHOT_H

#include <stdatomic.h>

#include "vm/state.h"

struct snapshot_result {
	uint64_t bytes;                   /* file size */
	uint64_t ram_pages;               /* non-zero pages written (every copy) / read */
	uint64_t zero_pages;
	uint64_t ns;                      /* time taken */
	/* live snapshots */
	int      rounds;                  /* RAM passes, the last (paused) one included */
	uint64_t pause_ns;                /* the guest's pause: pause request to resume */
	uint64_t last_round_pages;        /* pages written while paused */
	/* restores */
	int      threads;                 /* readers */
	uint64_t read_ns;                 /* loading guest RAM (wall clock) */
	uint64_t alloc_ns;                /* ...of which allocating it (fallocate, populate),
					   * summed over the reader threads */
};

/* Write the paused VM to path (atomically: a temporary file renamed into
 * place, so a failed snapshot never leaves a half file under that name). */
int snapshot__save(struct vm *vm, const char *path, struct snapshot_result *res,
		   char *err, size_t errlen);

/* A live snapshot: the guest runs while RAM is written in dirty-tracked
 * rounds; it is paused only for the last round and the device and vCPU
 * state. Rounds go on until what is left would take no more than
 * downtime_ns to write (measured at the rate of the previous round) or
 * max_rounds were written. progress (may be NULL) is updated as it goes.
 * The VM must be running and not confidential; it keeps running whether
 * the snapshot succeeds or not. */
struct snapshot_live_opts {
	uint64_t downtime_ns;             /* 0: SNAPSHOT_LIVE_DOWNTIME_NS */
	int      max_rounds;              /* 0: SNAPSHOT_LIVE_MAX_ROUNDS */
};
#define SNAPSHOT_LIVE_DOWNTIME_NS (10ull * 1000 * 1000)
#define SNAPSHOT_LIVE_MAX_ROUNDS  30
struct snapshot_progress {
	_Atomic int      round;
	_Atomic uint64_t pages_written;
	_Atomic uint64_t dirty_pages;     /* what the last sync reported */
};
int snapshot__save_live(struct vm *vm, const char *path, const struct snapshot_live_opts *o,
			struct snapshot_progress *pg, struct snapshot_result *res,
			char *err, size_t errlen);

/* Create vm from the file and restore everything; cfg supplies what the
 * file does not decide (serial output). Guest RAM is read by one thread
 * per core straight into the guest mapping (after allocating it in bulk).
 * With lazy, RAM is not read now: *lazy gets a loader that serves the
 * guest's page faults from the file and reads the rest in the background
 * once the VM runs (snapshot_lazy__*). On failure vm is destroyed. */
struct snapshot_lazy;
int snapshot__restore(const char *path, struct vm *vm, const struct vm_config *cfg,
		      struct snapshot_lazy **lazy, struct snapshot_result *res,
		      char *err, size_t errlen);

/* Lazy restore (snapshot_lazy.c). start: after the VM's vCPUs exist and
 * before they run; faults are served from then on, the background load
 * starts. A page the file cannot give (truncated, changed, an I/O error)
 * stops the VM with exit code 1 and a message naming the page and the
 * file: the guest never gets a zero page for one the snapshot holds.
 * done: true once every page is in and the guest runs on plain memory.
 * finish: stop the loader (VM stopped) and free it; NULL is fine. */
int  snapshot_lazy__start(struct snapshot_lazy *l, char *err, size_t errlen);
bool snapshot_lazy__done(struct snapshot_lazy *l);
void snapshot_lazy__finish(struct snapshot_lazy *l);

#endif
