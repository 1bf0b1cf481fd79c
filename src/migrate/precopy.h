/* precopy.h - live migration between hosts, pre-copy: RAM is sent while
 * the guest runs, dirty pages again in iterations, until what is left fits
 * the downtime budget; then a short pause for the last pages and the
 * device state, and a two-phase commit (docs/protocol.md). */
#ifndef TERN_MIGRATE_PRECOPY_H
#define TERN_MIGRATE_PRECOPY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vm/vm.h"

struct mirror;
struct tls_creds;
struct ram_prep;
struct page_tx;

/* MIG_POSTCOPY: after the switch; the destination runs the guest and
 * the source serves what it still lacks (postcopy.h). MIG_POSTCOPY_PAUSED:
 * a connection broke after the switch; both ends wait for a recovery
 * (source: the VM held, paused, with every page; destination: the guest
 * paused with the pages it has) */
enum mig_status { MIG_NONE, MIG_SETUP, MIG_ACTIVE, MIG_DEVICE, MIG_COMPLETED, MIG_FAILED, MIG_CANCELLED,
		  MIG_POSTCOPY, MIG_POSTCOPY_PAUSED };
enum mig_timeout_action { MIG_TIMEOUT_CANCEL, MIG_TIMEOUT_FORCE, MIG_TIMEOUT_POSTCOPY };

/* what query-migrate reports (names follow QEMU's where they mean the same) */
struct mig_stats {
	enum mig_status status;
	char     error[512];
	uint64_t start_ns, setup_ns, total_ns, downtime_ns, expected_downtime_ns;
	uint64_t transferred;             /* bytes on the wire */
	uint64_t total_pages, remaining_pages;
	uint64_t duplicate;               /* zero pages sent as a flag */
	uint64_t normal;                  /* pages sent in full (plaintext, shared) */
	uint64_t private_pages;           /* private pages, either path */
	uint64_t psp_pages, psp_bytes;    /* ... sealed by the platform (PSP path) */
	uint64_t helper_pages, helper_bytes; /* ... sealed by the migration helper */
	uint64_t helper_ns;               /* time spent in the helper's batches */
	uint64_t dirty_sync_count;
	uint64_t iteration;
	double   mbps;                    /* last iteration's throughput */
	double   dirty_pages_rate;        /* pages per second, last iteration */
	uint64_t psp_ns;                  /* time spent in platform commands */
	uint64_t guest_max_stall_us;      /* filled by tools that read the guest */
	char     tls[8];                  /* what carries the stream: "kernel" (kernel TLS),
					   * "openssl" (the pump, migrate/tls.h) or "none" */
	uint32_t connections;             /* data connections */
	/* the destination's RAM provisioning (mem/ram_prep.h, page_rx.h) */
	const char *provision;            /* "setup", "announced", "none"; NULL: not a destination */
	uint64_t provision_total;         /* bytes to provision during setup */
	uint64_t provisioned_at_start;    /* ... done when the source's CONFIG came */
	/* post-copy (postcopy.h): zero until the switch */
	bool     postcopy;                /* switched: the destination runs the guest */
	bool     vm_lost;                 /* ... and it failed after the switch: the
					   * destination lost the VM; the source holds it paused */
	uint64_t postcopy_switch_ns;      /* the guest's pause at the switch */
	uint64_t postcopy_missing;        /* pages the destination lacked at the switch */
	uint64_t postcopy_remaining;      /* ... and lacks now */
	uint64_t postcopy_bg_bytes;       /* pushed in the background after the switch */
	uint64_t postcopy_requests;       /* page requests (destination: sent; source: served) */
	uint64_t postcopy_req_bytes;      /* ... the pages that answered them */
	bool     postcopy_waits;          /* the two below are measured (on the destination:
					   * the source cannot see a vCPU wait) */
	uint64_t req_lat_median_ns, req_lat_p99_ns, req_lat_max_ns;  /* fault to page in place */
	uint64_t guest_blocked_ns;        /* vCPU time spent waiting on missing pages */
	uint64_t postcopy_ns;             /* from the switch to the last page */
};

/* One round of a migration, for the --stats timeline. */
struct mig_round {
	uint32_t round;
	bool     paused;                  /* the last round, the guest paused */
	uint64_t start_ns;                /* since the migration started */
	uint64_t duration_ns, pages, bytes;
	double   dirty_pages_rate;        /* what the guest dirtied meanwhile, pages/s */
};
#define MIG_MAX_ROUNDS 1024

struct mig_options {
	char     uri[256];
	uint64_t downtime_ms;             /* the pause budget (default 300, as QEMU) */
	uint64_t max_bandwidth;           /* bytes/s, 0 = unlimited */
	uint64_t timeout_s;               /* 0 = none */
	enum mig_timeout_action on_timeout;
	uint32_t max_iterations;          /* after this, switch over regardless (default 1000; --timeout is the real bound) */
	enum mig_private_path { MIG_PRIVATE_AUTO, MIG_PRIVATE_HELPER, MIG_PRIVATE_PSP } private_path;
					  /* auto: the helper when the VM has one */
	char     tls_creds[256];          /* --tls-creds DIR (client-cert.pem ...): TLS, or "" */
	char     tls_hostname[256];       /* the name the destination's certificate must carry
					   * ("": the host in uri) */
	uint32_t connections;             /* data connections; 0: one per core */
	uint32_t postcopy_after;          /* switch to post-copy after this many rounds (--postcopy:
					   * 1, --postcopy-after N); 0: pre-copy only */
	bool     resume;                  /* --resume: continue a held post-copy (migration__resume) */
};

/* A source-side migration job. One per VM at a time; runs in its own
 * thread so the control socket stays responsive (query, cancel). */
struct migration {
	pthread_mutex_t lock;             /* protects st */
	struct mig_stats st;
	struct mig_options opt;
	struct vm *vm;
	struct mirror *mirror;            /* the VM's migration helper, or NULL */
	pthread_t thread;
	bool      thread_started;
	int       cancel;                 /* set by migrate-cancel (atomic) */
	/* The connection while the rounds run (under lock): migrate-cancel
	 * shuts it down, so a send blocked on a peer that stopped reading
	 * returns at once and the source resumes. Not once the VM is paused
	 * for the switch-over: from there the commit decides. */
	bool      sock_open;
	int       sock;
	struct page_tx *tx;               /* the data connections, while the rounds run (under lock) */
	int       start_postcopy;         /* set by migrate-start-postcopy (atomic) */
	bool      held;                   /* post-copy failed after the switch: the VM is paused
					   * here with the only full copy (cont --force resumes) */
	/* what a post-copy's resume needs, kept from the switch (under lock) */
	bool      resumed;                /* this run resumes a held post-copy */
	uint8_t   pc_nonce[32];           /* the first control connection's nonce: proves
					   * the resume continues this migration */
	uint32_t  pc_round;               /* the post-copy round last sent (helper versions) */
	uint32_t  pc_stream;              /* the helper's stream */
	bool      pc_helper, pc_helper_seal;
	char      stats_file[512];
	struct mig_round rounds[MIG_MAX_ROUNDS];  /* the timeline (under lock) */
	size_t    nrounds;
};

/* Start migrating vm to opt->uri. Returns 0 (started) or -1 with err. */
/* mirror: the VM's migration helper (NULL: none); private pages go
 * through it unless opt->private_path says psp. */
int  migration__start(struct migration *m, struct vm *vm, struct mirror *mirror,
		     const struct mig_options *opt, char *err, size_t errlen);
void migration__cancel(struct migration *m);
/* migrate-start-postcopy: switch at the end of the round that runs. 0, or
 * -1 with err (no pre-copy running, or already switched). */
int  migration__start_postcopy(struct migration *m, char *err, size_t errlen);
/* migrate --resume: serve a held post-copy again, to opt->uri (where the
 * destination waits after migrate-recover). 0, or -1 with err (nothing
 * held, or a migration runs). */
int  migration__resume(struct migration *m, const struct mig_options *opt, char *err, size_t errlen);
/* cont --force: resume a VM held after its destination was lost in
 * post-copy (the destination may have run it: two copies may diverge).
 * 0, or -1 with err (nothing held). */
int  migration__resume_held(struct migration *m, char *err, size_t errlen);
/* Snapshot of the stats, safe from any thread. */
void migration__stats(struct migration *m, struct mig_stats *out);
/* Wait for the migration thread (at exit). */
void migration__join(struct migration *m);
const char *mig__status_name(enum mig_status s);
/* query-migrate's object (stats_json.c); a new reference */
struct json_t;
struct json_t *mig__stats_json(const struct mig_stats *st);
/* the --stats file's "timeline": one object per round */
struct json_t *mig__timeline_json(const struct mig_round *r, size_t n);
/* Add d's page and byte counts to `to` (the pipeline's threads count
 * apart and merge once per batch). */
void mig_stats__add_counts(struct mig_stats *to, const struct mig_stats *d);

/* A destination-side migration (`tern run --incoming`), shared between
 * the receiver (the main thread) and the control socket's thread: the
 * receiver publishes its figures here as it goes, and the control thread
 * reads them (status, query-migrate) or cancels the receive until the
 * COMMIT is taken (migrate-cancel, quit). */
struct mig_incoming {
	pthread_mutex_t lock;             /* protects everything below */
	struct mig_stats st;              /* SETUP while waiting for a source, then ACTIVE... */
	char     uri[256];                /* where this process listens */
	int      ncpus;                   /* from the source's CONFIG; 0 before it */
	uint64_t mem;
	const char *cancelled_by;         /* the control command that cancelled, or NULL */
	bool     committed;               /* COMMIT taken: too late to cancel */
	int      cancel_fd;               /* eventfd registered with util/cancel.h: written to cancel */
	struct tls_creds *tls;            /* --tls-creds: sources must speak TLS (NULL: plaintext);
					   * the caller's, set after mig_incoming__init */
	int      recover_fd;              /* eventfd: migrate-recover gave recover_uri */
	struct ram_prep *prep;            /* guest RAM provisioned while waiting (run --mem),
					   * the VM's if its size matches; NULL: none. The caller's */
	bool     no_provision;            /* --provision none: pages fault in as they land */
	char     recover_uri[256];
};

/* Set `in` up and register its cancel fd; -1 with err. */
int  mig_incoming__init(struct mig_incoming *in, const char *uri, char *err, size_t errlen);
/* Unregister and close the cancel fd (after migration__receive returned). */
void mig_incoming__exit(struct mig_incoming *in);
/* End the wait or receive on behalf of `by` (a control command's name):
 * every wire wait returns -ECANCELED from now on. 0; -1 when the COMMIT
 * was already taken (the VM is arriving; too late) unless a post-copy is
 * paused (then giving up loses the VM here); -2 when the receive has
 * already ended (failed or cancelled). Any thread. */
int  mig_incoming__cancel(struct mig_incoming *in, const char *by);
/* migrate-recover: a post-copy paused by a broken connection waits for
 * its source at uri. 0, or -1 with err (nothing paused here). */
int  mig_incoming__recover(struct mig_incoming *in, const char *uri, char *err, size_t errlen);
/* A consistent copy of what is known so far; any thread. */
void mig_incoming__read(struct mig_incoming *in, struct mig_stats *st, int *ncpus, uint64_t *mem);

/* Destination: accept one migration on lfd and build vm from it; on
 * success the VM runs. mirror: zeroed storage for the VM's migration
 * helper; when the source has one, it is started here and, after success,
 * is the caller's (mirror->started), to be destroyed before the VM. cfg: local settings and optional constraints
 * (mem/ncpus/cc non-zero must match the source). Publishes its progress in
 * in->st; ends early (-1) when in is cancelled. MIG_RX_LOST: a post-copy
 * failed after the switch; the VM is stopped but not torn down (vCPUs
 * may wait on pages that will never come), and the caller must end the
 * process with _exit. */
#define MIG_RX_LOST (-2)
int  migration__receive(int lfd, struct vm *vm, const struct vm_config *cfg, struct mig_incoming *in,
		       struct mirror *mirror, char *err, size_t errlen);

/* RAM batch (W_RAM payload, ram_batch.h): header, entry table, data */
struct ram_batch_hdr {
	uint32_t count;
	uint32_t pad;
	uint64_t checksum;                /* XXH3-64 of the entry table */
};
/* PAGE_PRIVATE: a packet sealed by the platform (PSP path), its length
 * in the entry; PAGE_HELPER: a helper packet (HELPER_PACKET_SIZE bytes, header
 * naming gpa, version and stream; guest/helper/mailbox.h) */
enum { PAGE_NORMAL = 0, PAGE_ZERO = 1, PAGE_PRIVATE = 2, PAGE_HELPER = 3 };
#define PAGE_KIND_MASK 0xfffULL

/* W_ITER_END payload and reply */
struct iter_end {
	uint64_t iteration;
	uint64_t pages;                   /* pages sent in this iteration */
};

#endif
