/* page_rx.h - the destination's page pipeline: one thread per data
 * connection reading RAM batches straight into guest RAM (ram_batch.h),
 * and a provisioner that allocates the pages the source announced before
 * they arrive, so first-touch faults leave the receiving threads.
 *
 * The control thread (precopy_recv.c) answers the source's ITER_END for a
 * round only once every data connection has delivered that round's FENCE:
 * a page of round k is in place before any page of round k+1 can land. A
 * data connection that fails stops the whole receive: its thread records
 * why, answers the source on that connection, and wakes the control
 * thread (its connection is shut for reading). */
#ifndef TERN_MIGRATE_PAGE_RX_H
#define TERN_MIGRATE_PAGE_RX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "migrate/ram_batch.h"
#include "migrate/wire.h"

struct rx_conn;

struct page_rx {
	/* the caller's, set before page_rx__prepare */
	struct ram_batch_sink sink;       /* ram, size, private callbacks (read, stage,
					   * suspects and st are per connection) */
	int memfd;                        /* guest RAM's, for the provisioner's fallback */
	int ctl;                          /* shut for reading when a data connection fails */
	struct tls_creds *tls;            /* data connections start TLS too (NULL: plaintext) */
	bool no_provision;                /* the RAM is provisioned already, or must not be */
	struct mig_stats *st;             /* counts merged here, under st_lock */
	pthread_mutex_t *st_lock;

	/* the pipeline's own */
	int nconns;
	struct rx_conn *c;
	pthread_mutex_t lock;             /* fences, failure */
	pthread_cond_t cond;
	bool failed, closing, cancelled;
	bool broken;                      /* the failure was a connection's, not its content */
	char err[512];
	struct ram_extent *ext;           /* what the provisioner allocates */
	uint32_t next;
	pthread_t prov;
	bool prov_started, prov_stop;
};

/* DATA_OPEN's payload: checked; the provisioner starts. 0 or -1 with err. */
int  page_rx__prepare(struct page_rx *p, const uint8_t *payload, size_t len, char *err, size_t errlen);
/* After DATA_OPEN was answered: accept the data connections on lfd (each
 * HELLO as data, then JOIN with this migration's nonce and a new index),
 * start a thread on each. 0 or -1 with err. */
int  page_rx__accept(struct page_rx *p, int lfd, const uint8_t nonce[WIRE_NONCE_LEN], char *err,
		     size_t errlen);
/* Wait until every data connection has delivered `fences` FENCEs. 0, -1
 * with err (a data connection failed, or timeout_ms passed), or -2 when
 * the receive was cancelled (util/cancel.h: the caller names by whom). */
int  page_rx__wait_fences(struct page_rx *p, uint64_t fences, int timeout_ms, char *err, size_t errlen);
/* Stop the provisioner and wait for it (post-copy: the stale pages are
 * about to leave the guest's view, and it must not map them back). */
void page_rx__stop_provision(struct page_rx *p);
/* Land the batches that follow through s (post-copy's sink); the one in
 * progress, if any, finishes through the old one. */
void page_rx__set_sink(struct page_rx *p, const struct ram_batch_sink *s);
/* Whether the first failure was a broken connection (a read failed)
 * rather than something wrong that came on it. */
bool page_rx__broken(struct page_rx *p);
/* The first data connection's failure, or NULL. */
const char *page_rx__failed(struct page_rx *p);
/* Stop the threads and the provisioner, close the connections. Safe on a
 * zeroed page_rx. */
void page_rx__close(struct page_rx *p);

#endif
