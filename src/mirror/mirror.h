/* mirror.h - the mirror VM and the migration helper running in it.
 *
 * A mirror is a second KVM VM in this process that shares the guest's
 * encryption context (COPY_ENC_CONTEXT_FROM) and its RAM (the same memfd,
 * through the mirror's own memslot), with its own vCPUs and its own exit
 * table. Its vCPUs ("lanes") run the helper (guest/helper/) in ring 3 from
 * the region the launch measured; the helper seals private pages on the
 * source and opens them on the destination. The VMM only ever sees
 * ciphertext: it talks to each lane through a mailbox in a shared window
 * and a doorbell on port 0xE8 (docs/guest-abi.md, "Migration helper").
 *
 * A lane's doorbell exit is where the VMM waits: the lane's vCPU thread
 * stays in the port handler until the next command is in place, so the
 * helper never polls. Every wait for a lane has a deadline; a lane that
 * misses it, rings FATAL or faults ends the whole mirror VM ("the helper
 * died"), and every call after that fails with the reason. The guest VM
 * is never touched by a helper failure. */
#ifndef TERN_MIRROR_MIRROR_H
#define TERN_MIRROR_MIRROR_H

#include <stdbool.h>
#include <stdint.h>

#include "helper/mailbox.h"
#include "vm/vm.h"

#define MIRROR_READY_TIMEOUT_MS  10000u  /* a lane's start: key schedule, first ring */
#define MIRROR_BATCH_TIMEOUT_MS  10000u  /* one batch of up to 252 pages */
#define HELPER_STREAM_LAST       0xFFFFFFFEu /* stream ids are 1 .. this */

enum lane_state {
	LANE_STARTING = 0,                /* vCPU started, no ring yet */
	LANE_IDLE,                        /* at its doorbell, waiting for a command */
	LANE_BUSY,                        /* resumed with a command */
	LANE_DEAD,                        /* rang FATAL, or the mirror VM stopped */
};

struct mirror_lane {
	struct mirror *m;
	int idx;
	volatile struct helper_mbox *mb;  /* the lane's mailbox (shared window) */
	uint8_t *data;                    /* its data area: HELPER_DATA_SIZE bytes */
	enum lane_state state;            /* under m->vm.lock */
	bool go;                          /* a command is in place: leave the doorbell */
	uint32_t seq;                     /* last command number given */
	/* figures, under m->vm.lock */
	uint64_t batches, pages, ns;
};

struct mirror {
	struct vm vm;                     /* the mirror VM: its KVM VM, vCPUs = lanes */
	pthread_mutex_t cmd_lock;         /* one command on the lanes at a time (warm-up vs migration) */
	struct vm *owner;
	int nlanes;
	bool built, started;
	uint32_t floor;                   /* the helper's stream floor, from READY/DONE */
	uint32_t batch_timeout_ms;
	struct mirror_lane lane[HELPER_LANES];
	/* warm-up: the lanes touch guest RAM once, in the background, so the
	 * mirror VM's first access to each page (a fault in the host's MMU,
	 * ~10 us here) is paid before a migration, not during it */
	pthread_t warm_thread;
	bool warm_started;
	int warm_stop;                    /* atomic */
	uint64_t warm_pages, warm_total;  /* atomic: touched so far; pages with data at the last pass */
	uint64_t warm_ns;                 /* atomic: the last pass that touched pages took this long */
};

/* Build the mirror of owner (whose launch loaded the helper's region and
 * whose key slot is filled), start `lanes` helper vCPUs at the helper's
 * entry and wait until each has said READY. 0, or -1 with err naming the
 * cause (a lane that found no key, a platform that refused the mirror, a
 * lane that did not start in time); on failure the mirror is destroyed. */
int  mirror__start(struct mirror *m, struct vm *owner, int lanes, char *err, size_t errlen);
/* Keep the mirror's view warm: a background thread has the lanes read each
 * page of guest RAM that holds data once, and looks again every 2 s for
 * pages the guest filled since. Migration commands interleave with it. */
int  mirror__warm_start(struct mirror *m, char *err, size_t errlen);
/* Stop it (waits for the command in flight): the lanes are idle after. */
void mirror__warm_stop(struct mirror *m);
/* Stop the lanes and destroy the mirror VM (the owner is untouched). */
void mirror__destroy(struct mirror *m);
/* NULL while the helper serves; else why it does not. */
const char *mirror__dead(struct mirror *m);

/* One command on lanes [0, m->nlanes): each lane gets up to
 * HELPER_BATCH_MAX of the n entries. SEAL: page gpa[k] at version ver[k]
 * is sealed into out[k] (HELPER_PACKET_SIZE bytes each: straight from the
 * lane's window to where the caller sends it from). OPEN: packet in[k] is
 * opened and written at gpa[k]. 0; or -1 with err: a refused entry (its
 * status named: TAG, GPA, STREAM, REPLAY, ...), a lane that timed out or
 * died (the mirror is dead from then on). *ns: time the lanes took. */
int  mirror__seal(struct mirror *m, uint32_t stream, const uint64_t *gpa, const uint32_t *ver,
		  uint32_t n, uint8_t *const *out, uint64_t *ns, char *err, size_t errlen);
int  mirror__open(struct mirror *m, uint32_t stream, const uint64_t *gpa, uint32_t n,
		  const uint8_t *const *in, uint64_t *ns, char *err, size_t errlen);
/* The most pages one call takes: a full batch on every lane. */
static inline uint32_t mirror__capacity(const struct mirror *m)
{
	return (uint32_t)m->nlanes * HELPER_BATCH_MAX;
}

/* The helper's status names ("TAG (authentication failed)") */
const char *mirror__status_name(uint32_t st);

#endif
