/* guest_call.h - the guest-call device: port 0xE0 and KVM_EXIT_HYPERCALL,
 * both looked up by call number in the VM's own table (dev/exits.h), and the
 * two calls tern implements for a guest (docs/guest-abi.md).
 *
 * The device knows nothing of the machine around it: the machine hands it
 * the page-status record, a way to stop and where to count, in struct
 * guest_call, and it registers itself in the machine's exit table. */
#ifndef TERN_DEV_GUEST_CALL_H
#define TERN_DEV_GUEST_CALL_H

#include <stdint.h>

#include "dev/exits.h"
#include "state/record.h"

#define GUEST_CALL_STATE_VERSION 1     /* REC_DEV_GUESTCALL payload (tlv) */

#define GUEST_CALL_PORT        0xe0
#define KVM_HC_MAP_GPA_RANGE_NR 12
#define TERN_HC_EXIT           0x7e000001u
#define KVM_ENOSYS_RET         (-1000)  /* include/uapi/linux/kvm_para.h KVM_ENOSYS */
#define KVM_EINVAL_RET         (-22)

struct page_status;

struct guest_call {
	/* set by whoever builds the machine, before guest_call__register */
	struct page_status *ps;           /* MAP_GPA_RANGE converts pages here */
	/* TERN_HC_EXIT: end the machine with `code`; `why` is for the log.
	 * Called on a vCPU thread; must be safe from any thread. */
	void (*stop)(void *ctx, int code, const char *why);
	void *ctx;
	uint64_t *calls;                  /* the machine's count of every call, both
					   * paths (its exit statistics); may be NULL */
	const struct exits *exits;        /* set by guest_call__register: where calls
					   * are looked up */

	/* the device's own counters (atomics: several vCPU threads) */
	uint64_t map_calls;               /* MAP_GPA_RANGE calls seen */
	uint64_t map_rejected;
	uint64_t unknown_calls;
};

/* Register the port and this device's calls (MAP_GPA_RANGE, TERN_HC_EXIT)
 * in the machine's table t, which later lookups go through. 0 or -errno
 * (exits__register_*). */
int     guest_call__register(struct guest_call *gc, struct exits *t);
/* Run call `nr` for vCPU `cpu` through the table. Returns the value for the
 * guest's RAX: KVM_ENOSYS_RET for a number nobody registered. */
int64_t guest_call__dispatch(struct guest_call *gc, int cpu, uint64_t nr,
			     uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3);

/* The device's counters as a REC_DEV_GUESTCALL payload (statistics only:
 * no field is required, so an older reader may skip them), and back; load
 * refuses a field a newer tern marked required. 0 or -errno / -1 + err. */
int     guest_call__save(struct guest_call *gc, struct tlv_buf *b);
int     guest_call__load(struct guest_call *gc, const void *p, size_t len, char *err, size_t errlen);

#endif
