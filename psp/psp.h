/* psp.h - tern-psp internals: the emulated SEV platform. It plays the
 * kernel's SEV layer (VM objects, ASIDs, the mirror/move/token rules of
 * sev-semantics.md sections 1-3) and the PSP firmware (guest contexts,
 * their state machine, launch measurement, transport cryptography of
 * section 6) together.
 *
 * Concurrency: one thread per connection; all platform state is under one
 * lock (plat.lock), as a real PSP runs one command at a time. The only
 * thing taken without it is a VM's in_progress flag, claimed with a
 * compare-and-swap before the lock, so concurrent moves between the same
 * VMs fail fast with EBUSY instead of waiting (section 2, concurrency).
 */
#ifndef TERN_PSP_PSP_H
#define TERN_PSP_PSP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/evp.h>

#include "cc/psp_proto.h"
#include "crypto/sev_crypto.h"

#define PSP_MAX_DOMAINS 32

/* A firmware guest context: what a handle names. */
struct fw_ctx {
	uint32_t handle;
	uint32_t policy;
	int      state;                   /* enum psp_guest_state */
	EVP_MD_CTX *digest;               /* launch digest over LAUNCH_UPDATE_* plaintext */
	uint8_t  measurement[32];
	uint8_t  mnonce[16];
	bool     measured;
	struct sev_keys keys;             /* TEK/TIK of the current session */
	uint64_t send_seq;                /* SEND_UPDATE_DATA packets issued */
	uint64_t recv_seq;                /* highest RECEIVE_UPDATE_DATA sequence accepted */
};

struct region {
	uint64_t gpa, size;
	uint8_t *map;                     /* the memfd range mapped read/write */
};

struct pvm {
	uint64_t id;                      /* for logs only: never accepted from clients */
	int      sock;                    /* the daemon's end of the handle */
	dev_t    cdev;                    /* identity of the client's end */
	ino_t    cino;
	bool     open;                    /* a client may still send requests */
	int      refs;                    /* open handle + one per mirror */
	atomic_int in_progress;           /* a copy/move involves this VM */

	bool     sev, es, dead;
	uint32_t vm_type;                 /* PSP_VM_*, fixed at VM_CREATE */
	uint64_t vmsa_features;           /* INIT2's, moves with the context */
	uint16_t ghcb_version;
	uint32_t asid;                    /* 0: none */
	struct fw_ctx *fw;                /* NULL: no handle (never launched, or a mirror) */
	uint32_t mirror_handle;           /* a mirror: its owner's handle at COPY_FROM (0: none yet) */
	int      domain;                  /* accounting domain index */
	uint32_t vcpus, creating;
	uint8_t  vmsa_launched[PSP_MAX_VCPUS];
	uint8_t *vmsa[PSP_MAX_VCPUS];     /* SEV-ES: each launched vCPU's VMSA (emulation:
					   * the bytes the VMM gave, see PSP_OP_VMSA_SAVE) */
	uint32_t vmsa_len[PSP_MAX_VCPUS];

	struct region *regions;
	size_t   nregions;

	struct pvm *owner;                /* set on a mirror */
	struct pvm **mirrors;
	size_t   nmirrors;

	bool     token_sent;              /* LOCAL_SEND done: only DBG_* from now on */
	uint64_t token;

	struct pvm *next;                 /* platform's list */
};

/* The two ASID kinds: separate ranges, separate quotas (the misc
 * cgroup's "sev" and "sev_es" resources). */
enum asid_kind { ASID_SEV = 0, ASID_ES = 1 };

struct domain {
	char     name[32];
	uint32_t used[2], limit[2];       /* by enum asid_kind; limit 0: unlimited */
};

struct platform {
	pthread_mutex_t lock;
	uint32_t nasids;                  /* max_sev_asid */
	uint32_t min_sev_asid;            /* SEV-ES: [1, min_sev_asid-1]; SEV: [min_sev_asid, nasids] */
	uint8_t *asid_used;               /* [1..nasids] */
	struct domain domains[PSP_MAX_DOMAINS];
	int      ndomains;
	uint32_t next_handle;
	uint64_t next_vm_id;
	struct pvm *vms;
	struct sev_identity id;
	char    *chain_pem;               /* exported chain */
	size_t   chain_len;
	char    *trusted_pem;             /* roots a peer's chain must verify to */
	size_t   trusted_len;
	bool     verbose;
};

extern struct platform plat;

/* A reply under construction. */
struct reply {
	int32_t  status;
	uint32_t fw_error;
	uint8_t  data[PSP_MAX_MSG - sizeof(struct psp_hdr)];
	uint32_t len;
	int      fd;                      /* to send with the reply, or -1 */
};

static inline int fw__fail(struct reply *r, uint32_t code)
{
	r->status = -5;                   /* -EIO: the firmware refused */
	r->fw_error = code;
	return r->status;
}
int reply__put(struct reply *r, const void *p, size_t len);

/* platform.c */
/* min_sev_asid defaults to nasids/2 + 1 (half the pool for SEV-ES);
 * platform__set_min_sev_asid changes it before any VM exists. */
int  platform__init(uint32_t nasids, char *err, size_t errlen);
int  platform__set_min_sev_asid(uint32_t min_sev_asid); /* -1: outside [1, nasids+1] */
int  domain__lookup(const char *name, bool create);
int  domain__set_limit(const char *name, bool es, uint32_t limit);
/* as sev_asid_new(): -ENOTTY when the kind's range is empty, the quota's
 * -EBUSY, -EBUSY when the range is exhausted */
int  asid__alloc(int domain, bool es, uint32_t *asid);
void asid__free(int domain, uint32_t asid);              /* its kind follows from its number */
bool asid__range_empty(bool es);
int  domain__charge(int domain, bool es);                /* -EBUSY over quota */
void domain__uncharge(int domain, bool es);
uint32_t asid__count_free(void);

/* vm.c */
struct pvm *pvm__create(int domain, int *client_fd);
struct pvm *pvm__from_fd(int fd);                        /* NULL: not one of ours */
void pvm__close(struct pvm *vm);                         /* its client handle went away */
void pvm__put(struct pvm *vm);                           /* drop a reference */
struct fw_ctx *fw__of(struct pvm *vm);                   /* own or owner's context */
struct fw_ctx *fw__new(uint32_t policy);
void fw__free(struct fw_ctx *fw);
void pvm__release_context(struct pvm *vm);               /* free ASID, handle, regions */
size_t pvm__count(void);
void vmsas__free(struct pvm *vm);                        /* forget every vCPU's VMSA */

/* memory.c */
int  region__register(struct pvm *vm, int memfd, const struct psp_region *r);
int  region__unregister(struct pvm *vm, const struct psp_region *r);
void regions__free(struct region *r, size_t n);
/* Host pointer to [gpa, gpa+len) inside one region of vm's context owner.
 * Never dereference it directly: use guest__read/guest_write. */
uint8_t *guest__ptr(struct pvm *vm, uint64_t gpa, uint64_t len);
/* Copy to/from guest memory; -EINVAL outside the registered regions,
 * -EFAULT if the client truncated its memfd under us (SIGBUS caught). */
int  guest__read(struct pvm *vm, uint64_t gpa, void *buf, uint64_t len);
int  guest__write(struct pvm *vm, uint64_t gpa, const void *buf, uint64_t len);
void guest__memory_init(void);                          /* install the SIGBUS handler */

/* dispatch.c: one request -> one reply. Pure with respect to sockets so it
 * can be fuzzed: msg is the whole datagram, fd a received descriptor or -1
 * (ownership passes to dispatch). conn_vm is NULL on a platform connection. */
void psp__dispatch(struct pvm *conn_vm, const uint8_t *msg, size_t len, int fd,
		  struct psp_hdr *rh, struct reply *r);

/* commands */
int cmd__enc(struct pvm *vm, uint32_t cmd, const uint8_t *p, size_t len, struct reply *r);
int cmd__copy_from(struct pvm *dst, int fd, struct reply *r);
int cmd__move_from(struct pvm *dst, int fd, struct reply *r);
int cmd__vmsa(struct pvm *vm, uint16_t op, const uint8_t *p, size_t len, struct reply *r);
int cmd__local_send(struct pvm *vm, struct reply *r);
int cmd__local_receive(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
void tokens__forget(struct pvm *source);

void psp__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
