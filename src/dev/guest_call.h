/* guest_call.h - the guest-call port (0xE0) and KVM_EXIT_HYPERCALL: one
 * handler for the KVM hypercall numbers tern implements (docs/guest-abi.md). */
#ifndef TERN_DEV_GUEST_CALL_H
#define TERN_DEV_GUEST_CALL_H

#include <stdint.h>

#define GUEST_CALL_PORT        0xe0
#define KVM_HC_MAP_GPA_RANGE_NR 12
#define TERN_HC_EXIT           0x7e000001u
#define KVM_ENOSYS_RET         (-1000)  /* include/uapi/linux/kvm_para.h KVM_ENOSYS */
#define KVM_EINVAL_RET         (-22)

struct vm;

struct guest_call {
	uint64_t map_calls;               /* MAP_GPA_RANGE calls seen */
	uint64_t map_rejected;
	uint64_t unknown_calls;
};

/* Run call `nr` for vCPU `cpu`. Returns the value for the guest's RAX. */
int64_t guest_call__dispatch(struct vm *vm, int cpu, uint64_t nr,
			     uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3);
/* The port path: read the call from the vCPU's registers, write the result. */
int     guest_call__port(struct vm *vm, int cpu, int vcpufd);

#endif
