/* page_tx.h - the source's page pipeline: worker threads, one per data
 * connection, each scanning shards of the round's dirty bitmap and sending
 * pages straight from guest RAM (ram_batch.h's format: an entry table,
 * then the pages by writev from the mapping; no copy per page, no lock per
 * page). The control connection keeps the protocol's order; a round ends
 * when every worker has sent its FENCE.
 *
 *   control:  DATA_OPEN {conns, extents}  -> REPLY
 *   data i:   HELLO {kind data} -> REPLY, JOIN {nonce, i} -> REPLY
 *   per round, on every data connection: RAM ... RAM, FENCE {round, changed}
 */
#ifndef TERN_MIGRATE_PAGE_TX_H
#define TERN_MIGRATE_PAGE_TX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/bitmap.h"
#include "migrate/precopy.h"
#include "migrate/private_path.h"
#include "migrate/wire.h"

struct tx_worker;
struct ram_extent;

struct page_tx {
	/* the caller's, set before page_tx__open */
	struct migration *m;              /* stats (under m->lock), options, cancel */
	struct vm *vm;
	bool cc;                          /* private pages exist */
	bool helper;                      /* the helper's region is never sent page by page */
	bool helper_seal;                 /* private pages are sealed by the helper */
	uint32_t stream;                  /* ... under this stream */
	struct private_path *pp;          /* else by the platform (pp_lock held) */
	const struct page_bitmap *shared; /* read only while a round runs */
	struct page_bitmap *dirty;        /* the round's pages: consumed by the workers */
	bool yield;                       /* the workers yield to the guest's vCPUs this
					   * round (util/prio.h): it runs here, pre-copy */

	/* the pipeline's own */
	int nconns;
	struct tx_worker *w;
	pthread_mutex_t lock;             /* round hand-off, first error */
	pthread_cond_t cond;
	pthread_mutex_t pp_lock;          /* the platform session is one */
	uint64_t generation;              /* bumped to start a round */
	int busy;                         /* workers still in the round */
	bool quit;
	uint32_t round;                   /* the round running: a helper page's version */
	uint64_t next_chunk;              /* shard cursor (atomic) */
	uint8_t *taken;                   /* per shard of the round: a worker has it (atomic) */
	uint64_t hint;                    /* a page to go near next, + 1 (atomic; 0: none):
					   * post-copy's latest request */
	uint64_t *once;                   /* post-copy: a bit per page sent since the switch,
					   * by a worker or a request's answer (atomic); a page
					   * whose bit is set is not sent again. NULL before */
	uint64_t sent_total;              /* bytes, all workers (atomic): --max-bandwidth */
	uint64_t bw_start_ns;
	bool failed;
	bool send_failed;                 /* a data connection broke: the destination may
					   * have said why on the control connection */
	char err[512];
};

/* Send DATA_OPEN on ctl (extents: the pages that will come, for the
 * destination to provision), open nconns data connections to the
 * migration's uri bound
 * by nonce, start one worker on each. 0, or -1 with err. */
int  page_tx__open(struct page_tx *t, int ctl, const uint8_t nonce[WIRE_NONCE_LEN],
		   int nconns, const struct ram_extent *ext, uint32_t next, char *err, size_t errlen);
/* A source connection of this kind (data, request) to o->uri, TLS as
 * the control connection, bound to the migration by nonce and given
 * index idx. The fd, or -1 with err. */
int  page_tx__connect_joined(const struct mig_options *o, const uint8_t nonce[WIRE_NONCE_LEN],
			     enum wire_kind kind, int idx, char *err, size_t errlen);
/* One round: every page in t->dirty (cleared as it goes), then a FENCE on
 * every data connection. *bytes: what went on the wire. 0, or -1 with err
 * (a worker's failure, or a cancel). */
int  page_tx__round(struct page_tx *t, uint32_t round, uint64_t *pages, uint64_t *bytes, char *err,
		    size_t errlen);
/* Send pages [first, first+n) on sock (the control connection), private
 * ones by the platform whatever the options: the helper's region, which
 * must cross before a helper runs. 0, or -1 with err. */
int  page_tx__send_psp(struct page_tx *t, int sock, uint64_t first, uint64_t n, char *err, size_t errlen);
/* Cut every data connection (migrate-cancel, from any thread). */
void page_tx__shutdown(struct page_tx *t);
/* Stop the workers, close the connections. Safe on a zeroed page_tx. */
void page_tx__close(struct page_tx *t);

#endif
