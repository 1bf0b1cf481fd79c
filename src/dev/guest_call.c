/* guest_call.c - guest-to-host calls, whether they arrive as a port write
 * (the development machines, where vmcall hangs) or as KVM_EXIT_HYPERCALL
 * (real hosts). Both end in guest_call__dispatch, which finds the call in
 * the VM's exit table: a mirror VM's helper registers its own calls in its
 * own table and never reaches these. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "dev/guest_call.h"
#include "mem/page_status.h"
#include "util/log.h"

static int64_t map_gpa_range(void *ctx, int cpu, const uint64_t a[4])
{
	struct guest_call *gc = ctx;
	int64_t r = page_status__map_gpa_range(gc->ps, a[0], a[1], a[2]);
	(void)cpu;
	__atomic_add_fetch(&gc->map_calls, 1, __ATOMIC_RELAXED);
	if (r)
		__atomic_add_fetch(&gc->map_rejected, 1, __ATOMIC_RELAXED);
	return r;
}

static int64_t guest_exit(void *ctx, int cpu, const uint64_t a[4])
{
	struct guest_call *gc = ctx;
	char why[96];
	snprintf(why, sizeof(why), "guest exited with status %d (vCPU %d)", (int)(a[0] & 0xff), cpu);
	gc->stop(gc->ctx, (int)(a[0] & 0xff), why);
	return 0;
}

int64_t guest_call__dispatch(struct guest_call *gc, int cpu, uint64_t nr,
			     uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	const uint64_t args[4] = { a0, a1, a2, a3 };
	const struct exit_hcall *h = gc->exits ? exits__hcall(gc->exits, nr) : NULL;

	if (gc->calls)
		__atomic_add_fetch(gc->calls, 1, __ATOMIC_RELAXED);
	if (!h) {
		__atomic_add_fetch(&gc->unknown_calls, 1, __ATOMIC_RELAXED);
		return KVM_ENOSYS_RET;
	}
	return h->fn(h->ctx, cpu, args);
}

/* The port path: the call is in the vCPU's registers (RAX = number, RBX,
 * RCX, RDX, RSI = arguments), the result goes back in RAX. */
static int port(void *ctx, struct exit_io *io, char *err, size_t errlen)
{
	struct guest_call *gc = ctx;
	struct kvm_regs r;

	if (!io->out)
		return 1;                 /* a read of the port: nothing is there */
	if (ioctl(io->vcpu_fd, KVM_GET_REGS, &r) < 0)
		goto fail;
	r.rax = (uint64_t)guest_call__dispatch(gc, io->cpu, r.rax, r.rbx, r.rcx, r.rdx, r.rsi);
	/* RIP still points at the OUT; KVM skips it when the vCPU re-enters */
	if (ioctl(io->vcpu_fd, KVM_SET_REGS, &r) < 0)
		goto fail;
	return 0;
fail:
	errbuf__set(err, errlen, "guest call: cannot access registers: %s", strerror(errno));
	return -1;
}

int guest_call__register(struct guest_call *gc, struct exits *t)
{
	int r;

	gc->exits = t;
	r = exits__register_port(t, GUEST_CALL_PORT, 1, port, gc);
	if (!r)
		r = exits__register_hcall(t, KVM_HC_MAP_GPA_RANGE_NR, map_gpa_range, gc);
	if (!r)
		r = exits__register_hcall(t, TERN_HC_EXIT, guest_exit, gc);
	return r;
}

enum { GC_MAP_CALLS = 1, GC_MAP_REJECTED = 2, GC_UNKNOWN = 3 };

int guest_call__save(struct guest_call *gc, struct tlv_buf *b)
{
	tlv__put_u64(b, GC_MAP_CALLS, 0, __atomic_load_n(&gc->map_calls, __ATOMIC_RELAXED));
	tlv__put_u64(b, GC_MAP_REJECTED, 0, __atomic_load_n(&gc->map_rejected, __ATOMIC_RELAXED));
	tlv__put_u64(b, GC_UNKNOWN, 0, __atomic_load_n(&gc->unknown_calls, __ATOMIC_RELAXED));
	return b->error;
}

int guest_call__load(struct guest_call *gc, const void *p, size_t len, char *err, size_t errlen)
{
	static const uint16_t known[] = { GC_MAP_CALLS, GC_MAP_REJECTED, GC_UNKNOWN };
	char why[160];
	if (tlv__validate(p, len, known, sizeof(known) / sizeof(known[0]), why, sizeof(why))) {
		errbuf__set(err, errlen, "guest-call record: %s", why);
		return -1;
	}
	(void)tlv__get_u64(p, len, GC_MAP_CALLS, &gc->map_calls);
	(void)tlv__get_u64(p, len, GC_MAP_REJECTED, &gc->map_rejected);
	(void)tlv__get_u64(p, len, GC_UNKNOWN, &gc->unknown_calls);
	return 0;
}
