/* postcopy.h - post-copy migration: the destination runs the guest before
 * it has every page, and fetches the missing ones as the guest touches
 * them, while the source pushes the rest in the background.
 *
 *   source (paused)                       destination
 *   POSTCOPY {npages, bitmap}   ------->  the pages it lacks (stale or never sent)
 *   request connection: HELLO (kind request), JOIN {nonce}
 *   STATE, COMMIT               ------->  stale pages unmapped from the guest's view,
 *                                         that view registered with userfaultfd
 *                                         (missing + minor faults), the VM runs
 *   background: RAM... FENCE on every data connection (the missing pages,
 *               nearest to the latest request first)
 *   requests:   <------- PAGE_REQ {gpa...}   a vCPU faulted on a missing page
 *               RAM {those pages} ------->   one batch per request, without
 *                                            the pages already on their way
 *                                            (sent once: by the request or by
 *                                            the stream), written through a
 *                                            second mapping
 *                                            of the memfd, then mapped into the
 *                                            guest's view (UFFDIO_CONTINUE)
 *   POSTCOPY_END                ------->  every page in place: unregistered
 *
 * A page is placed once: the first copy to arrive claims it, a later one
 * (a request answered while the background stream carried it too) is
 * read and dropped, for the guest may have written the page since.
 *
 * After COMMIT there are never two running copies: the source stays
 * paused until the destination says every page is in place. If the
 * destination fails, the source keeps its paused, complete copy
 * (migration->held; `cont --force` resumes it). If the source is lost,
 * the destination cannot finish the guest's memory: it says the VM is
 * lost and exits non-zero, never giving the guest a zero page in place
 * of one it lacks. */
#ifndef TERN_MIGRATE_POSTCOPY_H
#define TERN_MIGRATE_POSTCOPY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/bitmap.h"
#include "migrate/precopy.h"
#include "migrate/private_helper.h"
#include "migrate/ram_batch.h"
#include "migrate/wire.h"

struct postcopy_rx;
struct tls_creds;

/* POSTCOPY's payload for guest RAM of npages pages: the bitmap into words
 * ((npages + 63) / 64 of them), *count its bits. 0, or -1 with err:
 * malformed, another RAM size, bits beyond RAM, a count that disagrees. */
int  postcopy__parse_missing(const uint8_t *p, size_t len, uint64_t npages, uint64_t *words, uint64_t *count,
			     char *err, size_t errlen);
/* PAGE_REQ's payload: *n GPAs into gpa. 0; -1 with err when malformed
 * (the connection is given up); -2 with err when a GPA is outside RAM or
 * not page aligned (that request is refused, the connection serves on). */
int  postcopy__parse_request(const uint8_t *p, size_t len, uint64_t ram_size, uint64_t gpa[WIRE_MAX_PAGE_REQ],
			     uint32_t *n, char *err, size_t errlen);

/* Destination, at POSTCOPY (the VM is built and does not run yet; the
 * source still runs it): the payload checked against guest RAM's size,
 * the pages it names unmapped from the guest's view. NULL with err. st:
 * where its figures go (under st_lock). */
struct postcopy_rx *postcopy_rx__new(struct vm *vm, const uint8_t *payload, size_t len, struct mig_stats *st,
				     pthread_mutex_t *st_lock, char *err, size_t errlen);
/* POSTCOPY_MORE (any number, the last with the source paused): the pages
 * written since the last list are missing too and leave the guest's
 * view. 0, or -1 with err. */
int  postcopy_rx__more(struct postcopy_rx *p, const uint8_t *payload, size_t len, char *err, size_t errlen);
/* After POSTCOPY was answered: the request connection (HELLO as request,
 * JOIN with this migration's nonce). base: the private callbacks of the
 * receive (ram_batch.h). 0 or -1 with err. */
int  postcopy_rx__accept(struct postcopy_rx *p, int lfd, struct tls_creds *tls,
			 const uint8_t nonce[WIRE_NONCE_LEN], const struct ram_batch_sink *base, char *err,
			 size_t errlen);
/* What a data connection's batches land through from now on: the second
 * mapping, each page claimed once and mapped into the guest's view once
 * placed. */
void postcopy_rx__sink(struct postcopy_rx *p, struct ram_batch_sink *s);
/* Just before the VM runs: the guest's view (the stale pages gone from
 * it) is registered, the fault and request threads start. 0 or -1. */
int  postcopy_rx__arm(struct postcopy_rx *p, char *err, size_t errlen);
/* After the background stream's last FENCE: wait (up to timeout_ms) for
 * pages still on their way on the request connection, then unregister:
 * the guest runs on plain memory. 0, or -1 with err naming the pages
 * still missing. */
int  postcopy_rx__finish(struct postcopy_rx *p, int timeout_ms, char *err, size_t errlen);
/* The first failure of the fault or request thread, or NULL. */
const char *postcopy_rx__failed(struct postcopy_rx *p);
/* Why the request connection broke (the source or the network gone: a
 * recovery may follow), or NULL. */
const char *postcopy_rx__broken(struct postcopy_rx *p);
/* Recovery, once the data connections are closed too: close the request
 * connection (its thread joined; requests are kept, not sent; claims of
 * pages whose batch was cut are undone, so they may come again). */
void postcopy_rx__disconnect(struct postcopy_rx *p);
/* Recovery: the source's new request connection on lfd (JOIN with the
 * new control connection's nonce); the requests still open are sent
 * again. 0 or -1 with err. */
int  postcopy_rx__reconnect(struct postcopy_rx *p, int lfd, struct tls_creds *tls,
			    const uint8_t nonce[WIRE_NONCE_LEN], char *err, size_t errlen);
/* The pages not yet in place, as a bitmap into words ((npages + 63) / 64);
 * returns their count. */
uint64_t postcopy_rx__missing_now(struct postcopy_rx *p, uint64_t *words);
/* Copy the figures (remaining pages, requests, latencies) into st. */
void postcopy_rx__figures(struct postcopy_rx *p, struct mig_stats *st);
/* Stop the threads, close. After a failure with the VM running, the
 * caller stops the VM first (vCPUs may wait for pages that never come). */
void postcopy_rx__free(struct postcopy_rx *p);

/* Source: serves PAGE_REQ on the request connection from its own thread,
 * and tells the background stream where the guest is faulting. */
struct postcopy_tx {
	struct migration *m;
	struct vm *vm;
	int sock;                         /* the request connection */
	uint64_t *hint;                   /* the latest requested page (page_tx's cursor hint) */
	uint64_t *once;                   /* pages sent since the switch, with the background
					   * stream (page_tx.once): each goes once */
	/* confidential: private pages are sealed by the helper, as the
	 * background stream's; by the platform they keep the data
	 * connection's order, so a request only points the stream at them */
	const struct page_bitmap *shared;
	bool cc, helper_seal;
	struct helper_tx *hx;             /* the request thread's own queue (mr, stream set) */
	uint32_t round;                   /* the post-copy round: a sealed page's version */
	uint8_t *stage;                   /* WIRE_MAX_PAGE_REQ helper packets */
	pthread_t th;
	bool started;
	bool paused;                      /* the VM is paused: requests may be answered */
	bool failed;
	char err[256];
	uint64_t requests, pages, bytes, refused;
};
/* Open the request connection to the migration's uri (TLS as the
 * control connection), HELLO as request, JOIN with nonce, and start
 * serving it: requests are answered once `paused` is set (the VM paused
 * here, its bytes fixed), refused as a protocol error before. 0 or -1
 * with err. */
int  postcopy_tx__connect(struct postcopy_tx *t, const uint8_t nonce[WIRE_NONCE_LEN], char *err, size_t errlen);
/* Stop serving, close. Safe on a zeroed struct with sock -1. */
void postcopy_tx__stop(struct postcopy_tx *t);

#endif
