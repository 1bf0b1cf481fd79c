/* ram_batch.h - the destination's reading of one W_RAM payload (struct
 * ram_batch_hdr, then entries), apart from the VM it lands in: guest RAM is
 * just a buffer here, and private (sealed) entries go to a callback. The
 * receiver (precopy_recv.c) calls it for every RAM message; keeping it free
 * of the VM and the platform lets it be fuzzed (tests/fuzz/fuzz_ram_batch.c). */
#ifndef TERN_MIGRATE_RAM_BATCH_H
#define TERN_MIGRATE_RAM_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "migrate/precopy.h"

struct ram_batch_sink {
	uint8_t *ram;                     /* guest RAM, ram_size bytes, a multiple of 4 KiB */
	uint64_t ram_size;
	/* A private entry's packet (len <= PRIVATE_PACKET_MAX, inside the
	 * batch; the packet names its page): 0, or -1 with err set. NULL: the
	 * guest is not confidential and a private entry makes the batch
	 * malformed. */
	int (*open_private)(void *ctx, const uint8_t *pkt, uint32_t len, char *err, size_t errlen);
	/* A helper entry (HELPER_PACKET_SIZE bytes at pkt, inside the batch,
	 * for page gpa): queued for the destination's helper, which opens
	 * what is queued when flush_helper is called — once, after the last
	 * entry, while the batch is still in memory. 0, or -1 with err. NULL:
	 * no helper runs here and a helper entry makes the batch malformed. */
	int (*open_helper)(void *ctx, uint64_t gpa, const uint8_t *pkt, char *err, size_t errlen);
	int (*flush_helper)(void *ctx, char *err, size_t errlen);
	void *ctx;
	struct mig_stats *st;             /* normal, duplicate, private pages counted per entry */
};

/* Check the batch's checksum and apply its entries in order. 0, or -1 with
 * err set: truncated, checksum mismatch, malformed (an entry beyond RAM or
 * the payload, an unknown kind, a private entry without open_private,
 * trailing bytes), or what open_private said. Entries before a bad one
 * have already been applied; the receiver gives up the whole VM then. */
int ram_batch__apply(const struct ram_batch_sink *s, const uint8_t *data, size_t len, char *err,
		     size_t errlen);

#endif
