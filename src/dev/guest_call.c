/* guest_call.c - guest-to-host calls, whether they arrive as a port write
 * (the development machines, where vmcall hangs) or as KVM_EXIT_HYPERCALL
 * (real hosts). Both end in guest_call__dispatch. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "dev/guest_call.h"
#include "mem/page_status.h"

int64_t guest_call__dispatch(struct guest_call *gc, int cpu, uint64_t nr,
			     uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	(void)a3;
	switch (nr) {
	case KVM_HC_MAP_GPA_RANGE_NR: {
		int64_t r = page_status_map_gpa_range(gc->ps, a0, a1, a2);
		__atomic_add_fetch(&gc->map_calls, 1, __ATOMIC_RELAXED);
		if (r)
			__atomic_add_fetch(&gc->map_rejected, 1, __ATOMIC_RELAXED);
		return r;
	}
	case TERN_HC_EXIT: {
		char why[96];
		snprintf(why, sizeof(why), "guest exited with status %d (vCPU %d)",
			 (int)(a0 & 0xff), cpu);
		gc->stop(gc->ctx, (int)(a0 & 0xff), why);
		return 0;
	}
	default:
		__atomic_add_fetch(&gc->unknown_calls, 1, __ATOMIC_RELAXED);
		return KVM_ENOSYS_RET;
	}
}

int guest_call__port(struct guest_call *gc, int cpu, int fd)
{
	struct kvm_regs r;
	if (ioctl(fd, KVM_GET_REGS, &r) < 0)
		return -errno;
	r.rax = (uint64_t)guest_call__dispatch(gc, cpu, r.rax, r.rbx, r.rcx, r.rdx, r.rsi);
	/* RIP still points at the OUT; KVM skips it when the vCPU re-enters */
	if (ioctl(fd, KVM_SET_REGS, &r) < 0)
		return -errno;
	return 0;
}
