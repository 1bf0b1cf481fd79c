/* private_helper.h - private pages through the migration helper: the
 * source's helper seals them in batches (mirror/), the destination's opens
 * them in place; the VMMs carry ciphertext only (docs/protocol.md,
 * "Private pages through the helper").
 *
 * Order on the wire (after SESSION):
 *   RAM...   the helper's region [HELPER_BASE, +HELPER_CROSS_SIZE) by the
 *            PSP path: image, tables, state page, key slot, all private
 *   HELPER   struct wire_helper: stream id, lanes; the destination builds
 *            its mirror over the received region, starts the lanes, and
 *            answers with its floor (struct wire_helper_ready)
 *   RAM...   PAGE_HELPER entries: packets sealed under that stream, page
 *            version = the round that sent them
 * The rest of the region is the helpers' own scratch: never sent. */
#ifndef TERN_MIGRATE_PRIVATE_HELPER_H
#define TERN_MIGRATE_PRIVATE_HELPER_H

#include <stdbool.h>
#include <stdint.h>

#include "helper/mailbox.h"
#include "mirror/mirror.h"
#include "migrate/precopy.h"
#include "migrate/wire.h"

/* Pages of the region that are never sent page by page: what the helper
 * needs crosses first, the rest is scratch the helpers write themselves. */
static inline bool helper__in_region(uint64_t gpa)
{
	return gpa >= HELPER_BASE && gpa < HELPER_END;
}

#define HELPER_PENDING_MAX (HELPER_LANES * HELPER_BATCH_MAX)

/* Source: pages waiting to be sealed into their places in a RAM batch. */
struct helper_tx {
	struct mirror *mr;
	uint32_t stream;
	uint32_t n;
	uint64_t gpa[HELPER_PENDING_MAX];
	uint32_t ver[HELPER_PENDING_MAX];
	uint8_t *dst[HELPER_PENDING_MAX];
};

/* Send HELPER for a new stream above mr's floor and wait for the
 * destination's helper to be ready. seal: whether pages will come sealed
 * by the helper. 0, or -1 with err. */
int  helper_tx__announce(struct helper_tx *h, struct mirror *mr, int sock, bool seal, int timeout_ms,
			 char *err, size_t errlen);
/* Queue page gpa at version ver, its packet to be written at dst. Full:
 * the caller seals first (helper_tx__full). */
void helper_tx__queue(struct helper_tx *h, uint64_t gpa, uint32_t ver, uint8_t *dst);
static inline bool helper_tx__full(const struct helper_tx *h)
{
	return h->n >= mirror__capacity(h->mr);
}
/* Seal everything queued. 0, or -1 with err (the helper refused or died).
 * *ns grows by the time the helper took. */
int  helper_tx__seal(struct helper_tx *h, uint64_t *ns, char *err, size_t errlen);

/* Destination. mr is storage of the caller's, which owns the mirror after
 * a successful receive (it serves the VM's next migration). */
struct helper_rx {
	struct mirror *mr;
	struct vm *vm;
	struct mig_stats *st;
	bool active;
	uint32_t stream;
	uint32_t n;
	uint64_t gpa[HELPER_PENDING_MAX];
	const uint8_t *pkt[HELPER_PENDING_MAX];
};

/* HELPER: build the mirror, start its lanes, check the stream. reply is
 * what goes back. 0, or -1 with err. */
int  helper_rx__start(struct helper_rx *h, const struct wire_msg *m, struct wire_helper_ready *reply,
		      char *err, size_t errlen);
/* ram_batch_sink callbacks (ctx = struct helper_rx *) */
int  helper_rx__queue(void *ctx, uint64_t gpa, const uint8_t *pkt, char *err, size_t errlen);
int  helper_rx__flush(void *ctx, char *err, size_t errlen);

#endif
