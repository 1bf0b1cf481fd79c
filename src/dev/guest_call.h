/* guest_call.h - the guest-call port (0xE0) and KVM_EXIT_HYPERCALL: one
 * handler for the KVM hypercall numbers tern implements (docs/guest-abi.md).
 *
 * The device knows nothing of the machine around it: the machine (vm__create)
 * hands it the page-status record and a way to stop, in struct guest_call. */
#ifndef TERN_DEV_GUEST_CALL_H
#define TERN_DEV_GUEST_CALL_H

#include <stdint.h>

#define GUEST_CALL_PORT        0xe0
#define KVM_HC_MAP_GPA_RANGE_NR 12
#define TERN_HC_EXIT           0x7e000001u
#define KVM_ENOSYS_RET         (-1000)  /* include/uapi/linux/kvm_para.h KVM_ENOSYS */
#define KVM_EINVAL_RET         (-22)

struct page_status;

struct guest_call {
	/* set by whoever builds the machine, before any vCPU runs */
	struct page_status *ps;           /* MAP_GPA_RANGE converts pages here */
	/* TERN_HC_EXIT: end the machine with `code`; `why` is for the log.
	 * Called on a vCPU thread; must be safe from any thread. */
	void (*stop)(void *ctx, int code, const char *why);
	void *ctx;

	/* the device's own counters (atomics: several vCPU threads) */
	uint64_t map_calls;               /* MAP_GPA_RANGE calls seen */
	uint64_t map_rejected;
	uint64_t unknown_calls;
};

/* Run call `nr` for vCPU `cpu`. Returns the value for the guest's RAX. */
int64_t guest_call__dispatch(struct guest_call *gc, int cpu, uint64_t nr,
			     uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3);
/* The port path: read the call from the vCPU's registers, write the result. */
int     guest_call__port(struct guest_call *gc, int cpu, int vcpufd);

#endif
