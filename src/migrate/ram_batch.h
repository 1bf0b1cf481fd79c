/* ram_batch.h - the RAM messages of a migration's data connections, apart
 * from the VM they land in: guest RAM is just a buffer here, private
 * (sealed) entries go to callbacks, and the bytes come from a reader
 * callback (a socket in the receiver, a buffer in the fuzzer), so the one
 * parser is both what runs and what is fuzzed (tests/fuzz/fuzz_ram_batch.c).
 *
 * A W_RAM payload:
 *   struct ram_batch_hdr          count, XXH3-64 of the entry table
 *   struct ram_entry[count]       {gpa | kind, aux}
 *   data, in entry order          NORMAL: the page (aux = XXH3-64 of it)
 *                                 ZERO: nothing
 *                                 PRIVATE: aux bytes, a platform packet
 *                                 HELPER: HELPER_PACKET_SIZE bytes
 * The table is read and checked first, so a plain page is then read
 * straight into guest RAM at its GPA: no staging copy on either side.
 *
 * Why a hash per page and not one per batch: the source sends a page from
 * guest RAM while the guest runs, so the bytes on the wire may be newer
 * than the hash. Such a page is dirty again and goes in a later round; the
 * source knows it (it hashes again after the send) and lists it in the
 * round's W_FENCE on that connection. A page whose hash does not match and
 * that the fence does not list was corrupted in transit: the migration
 * fails. In the last round the guest is paused and nothing may be listed. */
#ifndef TERN_MIGRATE_RAM_BATCH_H
#define TERN_MIGRATE_RAM_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "migrate/precopy.h"
#include "migrate/private_path.h"

struct ram_entry {
	uint64_t word;                    /* gpa | kind (PAGE_*) */
	uint64_t aux;                     /* NORMAL: the page's hash; PRIVATE: packet length */
};

/* W_FENCE payload: the end of a round on one data connection. */
struct ram_fence {
	uint64_t round;
	uint32_t nchanged;                /* then nchanged u64 GPAs: pages the guest wrote
					   * while they were being sent (dirty again) */
	uint32_t pad;
};
#define RAM_FENCE_MAX_CHANGED (1u << 20)

/* W_DATA_OPEN's extents: [first, first + count) pages that hold data. */
struct ram_extent {
	uint64_t first, count;
};
#define RAM_MAX_EXTENTS 65536

/* Pages whose hash did not match, to be excused by the next fence. */
struct ram_suspects {
	uint64_t *gpa;
	size_t n, cap;
};

struct ram_batch_sink {
	uint8_t *ram;                     /* guest RAM, ram_size bytes, a multiple of 4 KiB */
	uint64_t ram_size;
	/* A private entry's packet (len <= PRIVATE_PACKET_MAX): 0, or -1 with
	 * err set. NULL: the guest is not confidential and a private entry
	 * makes the batch malformed. */
	int (*open_private)(void *ctx, const uint8_t *pkt, uint32_t len, char *err, size_t errlen);
	/* A helper entry (HELPER_PACKET_SIZE bytes at pkt, for page gpa):
	 * queued for the destination's helper, which opens what is queued
	 * when flush_helper is called — once, after the batch's last entry,
	 * while the packets are still in memory. NULL: no helper runs here
	 * and a helper entry makes the batch malformed. */
	int (*open_helper)(void *ctx, uint64_t gpa, const uint8_t *pkt, char *err, size_t errlen);
	int (*flush_helper)(void *ctx, char *err, size_t errlen);
	/* Around the private callbacks of one batch (several data
	 * connections share one platform session and one helper); may be NULL. */
	void (*lock_private)(void *ctx, bool lock);
	void *ctx;
	/* Read exactly the bytes iov[0..n) describe: 0 or -errno. */
	int (*read)(void *rctx, struct iovec *iov, int n);
	void *rctx;
	/* Post-copy (both NULL before the switch): claim(ctx, gpa) says whether
	 * the page is still to be placed. false: it was placed already (a
	 * request's answer and the background stream both carried it), and
	 * these bytes are read and dropped, for the guest may have written the
	 * page since. placed(ctx, gpa) once its bytes are all in and verified.
	 * A plain page whose hash does not match is then an error at once:
	 * the source is paused, so nothing can excuse it. */
	bool (*claim)(void *ctx, uint64_t gpa);
	void (*placed)(void *ctx, uint64_t gpa);
	/* after a batch's last placed(), whether it was received whole or
	 * not (what was placed stays placed); NULL: nothing to do */
	void (*placed_all)(void *ctx);
	uint8_t *stage;                   /* RAM_BATCH_STAGE bytes for sealed packets */
	struct ram_suspects *suspects;
	struct mig_stats *st;             /* pages counted per kind */
};

#define RAM_BATCH_PAGES 256
#define RAM_BATCH_STAGE ((size_t)RAM_BATCH_PAGES * PRIVATE_PACKET_MAX)

/* Read and apply one W_RAM payload of len bytes. 0, or -1 with err set:
 * truncated, table checksum mismatch, malformed (an entry beyond RAM, an
 * unknown kind, a private entry without its callback, lengths that do not
 * add up to len), a read error, or what a private callback said. A plain
 * page whose hash does not match is not an error here: it is added to
 * suspects for the fence to judge. On error the VM is given up. */
int ram_batch__receive(const struct ram_batch_sink *s, uint64_t len, char *err, size_t errlen);

/* A W_FENCE payload: every suspect must be listed as changed (then it is
 * dirty and will come again); suspects is emptied. 0, or -1 with err:
 * malformed, or a page corrupted in transit (named). *round: the fence's. */
int ram_fence__check(const uint8_t *p, size_t len, struct ram_suspects *suspects, uint64_t *round,
		     char *err, size_t errlen);

/* W_DATA_OPEN's payload: checked (conns in range, extents sorted, not
 * overlapping, inside ram_size); *ext points into p. 0 or -1 with err. */
int ram_open__parse(const uint8_t *p, size_t len, uint64_t ram_size, uint32_t *conns,
		    const struct ram_extent **ext, uint32_t *next, char *err, size_t errlen);

void ram_suspects__free(struct ram_suspects *s);

#endif
