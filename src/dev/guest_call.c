/* guest_call.c - guest-to-host calls, whether they arrive as a port write
 * (the development machines, where vmcall hangs) or as KVM_EXIT_HYPERCALL
 * (real hosts). Both end in guest_call__dispatch. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "dev/guest_call.h"
#include "util/log.h"
#include "vm/vm.h"

int64_t guest_call__dispatch(struct vm *vm, int cpu, uint64_t nr,
			     uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	(void)a3;
	__atomic_add_fetch(&vm->stats.guest_calls, 1, __ATOMIC_RELAXED);
	switch (nr) {
	case KVM_HC_MAP_GPA_RANGE_NR: {
		int64_t r = page_status_map_gpa_range(&vm->ps, a0, a1, a2);
		__atomic_add_fetch(&vm->gcall.map_calls, 1, __ATOMIC_RELAXED);
		if (r)
			__atomic_add_fetch(&vm->gcall.map_rejected, 1, __ATOMIC_RELAXED);
		return r;
	}
	case TERN_HC_EXIT:
		vm__stop(vm, (int)(a0 & 0xff), "guest exited with status %d (vCPU %d)",
			 (int)(a0 & 0xff), cpu);
		return 0;
	default:
		__atomic_add_fetch(&vm->gcall.unknown_calls, 1, __ATOMIC_RELAXED);
		return KVM_ENOSYS_RET;
	}
}

int guest_call__port(struct vm *vm, int cpu, int fd)
{
	struct kvm_regs r;
	if (ioctl(fd, KVM_GET_REGS, &r) < 0)
		return -errno;
	r.rax = (uint64_t)guest_call__dispatch(vm, cpu, r.rax, r.rbx, r.rcx, r.rdx, r.rsi);
	/* RIP still points at the OUT; KVM skips it when the vCPU re-enters */
	if (ioctl(fd, KVM_SET_REGS, &r) < 0)
		return -errno;
	return 0;
}
