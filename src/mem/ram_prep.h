/* ram_prep.h - guest RAM made and provisioned before its VM exists.
 *
 * A destination that knows the size of the RAM it will receive (`tern run
 * --incoming --mem SIZE`) creates the memfd while it waits for its source
 * and fills it in the background: every page allocated, zeroed and mapped
 * writable in the mapping the pages will be read into and that KVM will
 * use (MADV_POPULATE_WRITE). On this kind of host that allocation is the
 * most expensive part of receiving a page (bench/README.md, "The page
 * pipeline"); done during setup it leaves the migration's critical path.
 *
 * Populating never changes a byte, so the threads may run on while pages
 * land and even while the guest runs; they must stop before anything
 * unmaps pages of the view on purpose (post-copy's stale pages) or the
 * mapping goes away. */
#ifndef TERN_MEM_RAM_PREP_H
#define TERN_MEM_RAM_PREP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/guest_ram.h"

#define RAM_PREP_MAX_THREADS 4

struct ram_prep {
	struct guest_ram ram;             /* until ram_prep__take */
	bool     taken;
	uint8_t *base;                    /* the threads' copy of ram.hva, fd and size */
	int      fd;
	uint64_t size;
	bool     use_fallocate;           /* MADV_POPULATE_WRITE is missing (atomic) */
	int      nthreads;                /* started, not yet joined */
	int      want;                    /* set before any starts (for the log) */
	pthread_t th[RAM_PREP_MAX_THREADS];
	uint64_t next;                    /* the next chunk's offset (atomic) */
	uint64_t done;                    /* bytes populated (atomic) */
	int      running;                 /* threads not yet finished (atomic) */
	bool     stop;                    /* (atomic) */
	int      error;                   /* the first errno a thread met (atomic) */
	uint64_t t0_ns;                   /* when the threads started */
};

/* Create size bytes of guest RAM and start nthreads (1..RAM_PREP_MAX_THREADS)
 * threads provisioning it. 0, or -1 with err (nothing left behind). */
int  ram_prep__start(struct ram_prep *p, uint64_t size, int nthreads, char *err, size_t errlen);
/* Stop the threads and wait for them; idempotent, safe on a zeroed one. */
void ram_prep__stop(struct ram_prep *p);
/* Hand the RAM to its VM (vm__attach_ram_given); the threads go on
 * until ram_prep__stop, which must come before the VM unmaps it. */
struct guest_ram ram_prep__take(struct ram_prep *p);
/* Bytes populated so far; *finished: every page is (or a thread failed). */
uint64_t ram_prep__progress(struct ram_prep *p, bool *finished);
/* Stop, log what was done, and free the RAM unless it was taken. */
void ram_prep__free(struct ram_prep *p);

#endif
