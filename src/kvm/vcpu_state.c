/* vcpu_state.c - complete x86 vCPU state through KVM's get/set ioctls.
 *
 * Restore order matters: special registers (mode, EFER, CR*) before general
 * registers, XCR0 before the XSAVE area that depends on it, MSRs after the
 * mode is set (some are only valid in long mode), events and MP state last.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm/vcpu_state.h"
#include "util/log.h"

static int get_msrs(int fd, struct kvm_msrs *m)
{
	return ioctl(fd, KVM_GET_MSRS, m);
}

int vcpu_state__probe(struct kvm_sys *k, int vcpufd, struct vcpu_state_cfg *cfg)
{
	uint32_t *all, n;
	int r = kvm__msr_index_list(k, &all, &n);
	/* one header plus one entry; a heap buffer because a struct with a
	 * flexible array member cannot be embedded portably */
	struct kvm_msrs *one = calloc(1, sizeof(*one) + sizeof(struct kvm_msr_entry));

	memset(cfg, 0, sizeof(*cfg));
	if (r) {
		free(one);
		return r;
	}
	cfg->msrs = calloc(n ? n : 1, sizeof(uint32_t));
	if (!cfg->msrs || !one) {
		free(all);
		free(one);
		return -ENOMEM;
	}
	/* KVM's save list names MSRs this VM cannot use (features the CPU
	 * lacks; async-PF MSRs that need an in-kernel LAPIC). Keep exactly those
	 * that survive a read and a write back of the same value on this
	 * not-yet-run vCPU, so a restore never trips over them. */
	for (uint32_t i = 0; i < n; i++) {
		one->nmsrs = 1;
		one->entries[0].index = all[i];
		one->entries[0].data = 0;
		if (get_msrs(vcpufd, one) == 1 && ioctl(vcpufd, KVM_SET_MSRS, one) == 1)
			cfg->msrs[cfg->nmsrs++] = all[i];
	}
	free(all);
	free(one);

	r = kvm__check(k, KVM_CAP_XSAVE2);
	if (r > 0)
		cfg->xsave_size = (size_t)r;
	else if (kvm__check(k, KVM_CAP_XSAVE))
		cfg->xsave_size = sizeof(struct kvm_xsave);
	else
		cfg->xsave_size = 0;
	if (cfg->xsave_size && cfg->xsave_size < sizeof(struct kvm_xsave))
		cfg->xsave_size = sizeof(struct kvm_xsave);
	return 0;
}

void vcpu_state__cfg_free(struct vcpu_state_cfg *cfg)
{
	free(cfg->msrs);
	cfg->msrs = NULL;
	cfg->nmsrs = 0;
}

#define GET(fd, req, ptr, what)                                                   \
	do {                                                                      \
		if (ioctl(fd, req, ptr) < 0) {                                    \
			errbuf__set(err, errlen, "vCPU %d: %s failed: %s", index, what, \
				   strerror(errno));                              \
			goto fail;                                                \
		}                                                                 \
	} while (0)

int vcpu_state__save(int fd, int index, const struct vcpu_state_cfg *cfg,
		     const struct kvm_cpuid2 *cpuid, struct tlv_buf *b,
		     char *err, size_t errlen)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_vcpu_events ev;
	struct kvm_mp_state mp;
	struct kvm_msrs *msrs = NULL;
	void *xsave = NULL;
	const uint16_t R = REC_F_REQUIRED;

	tlv__put_u64(b, VS_INDEX, R, (uint64_t)index);
	GET(fd, KVM_GET_REGS, &regs, "KVM_GET_REGS");
	tlv__put(b, VS_REGS, R, &regs, sizeof(regs));
	GET(fd, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
	tlv__put(b, VS_SREGS, R, &sregs, sizeof(sregs));

	if (cfg->xsave_size) {
		memset(&xcrs, 0, sizeof(xcrs));
		GET(fd, KVM_GET_XCRS, &xcrs, "KVM_GET_XCRS");
		tlv__put(b, VS_XCRS, R, &xcrs, sizeof(xcrs));
		xsave = calloc(1, cfg->xsave_size);
		if (!xsave)
			goto nomem;
		if (cfg->xsave_size > sizeof(struct kvm_xsave))
			GET(fd, KVM_GET_XSAVE2, xsave, "KVM_GET_XSAVE2");
		else
			GET(fd, KVM_GET_XSAVE, xsave, "KVM_GET_XSAVE");
		tlv__put(b, VS_XSAVE, R, xsave, cfg->xsave_size);
	}

	msrs = calloc(1, sizeof(*msrs) + cfg->nmsrs * sizeof(struct kvm_msr_entry));
	if (!msrs)
		goto nomem;
	msrs->nmsrs = cfg->nmsrs;
	for (uint32_t i = 0; i < cfg->nmsrs; i++)
		msrs->entries[i].index = cfg->msrs[i];
	int got = get_msrs(fd, msrs);
	if (got != (int)cfg->nmsrs) {
		errbuf__set(err, errlen, "vCPU %d: KVM_GET_MSRS read %d of %u MSRs (stopped at 0x%x)",
			   index, got, cfg->nmsrs,
			   got >= 0 && (uint32_t)got < cfg->nmsrs ? cfg->msrs[got] : 0);
		goto fail;
	}
	tlv__put(b, VS_MSRS, R, msrs->entries, cfg->nmsrs * sizeof(struct kvm_msr_entry));

	GET(fd, KVM_GET_DEBUGREGS, &dregs, "KVM_GET_DEBUGREGS");
	tlv__put(b, VS_DEBUGREGS, R, &dregs, sizeof(dregs));
	GET(fd, KVM_GET_VCPU_EVENTS, &ev, "KVM_GET_VCPU_EVENTS");
	tlv__put(b, VS_EVENTS, R, &ev, sizeof(ev));
	GET(fd, KVM_GET_MP_STATE, &mp, "KVM_GET_MP_STATE");
	tlv__put(b, VS_MP_STATE, R, &mp, sizeof(mp));
	tlv__put(b, VS_CPUID, R, cpuid->entries, cpuid->nent * sizeof(cpuid->entries[0]));

	free(msrs);
	free(xsave);
	if (b->error) {
		errbuf__set(err, errlen, "vCPU %d: out of memory saving state", index);
		return -ENOMEM;
	}
	return 0;
nomem:
	errbuf__set(err, errlen, "vCPU %d: out of memory saving state", index);
fail:
	free(msrs);
	free(xsave);
	return -1;
}

/* Look up a field that must be there with exactly `want` bytes (0: any). */
static const void *need(const void *p, size_t len, uint16_t id, size_t want, size_t *got,
			const char *what, char *err, size_t errlen)
{
	struct tlv_field f;
	if (!tlv__find(p, len, id, &f)) {
		errbuf__set(err, errlen, "vCPU record has no %s", what);
		return NULL;
	}
	if (want && f.len != want) {
		errbuf__set(err, errlen, "vCPU record: %s is %u bytes, this host's KVM uses %zu",
			   what, f.len, want);
		return NULL;
	}
	if (got)
		*got = f.len;
	return f.val;
}

int vcpu_state__cpuid(const void *p, size_t len, struct kvm_cpuid2 **out, char *err, size_t errlen)
{
	size_t n;
	const void *v = need(p, len, VS_CPUID, 0, &n, "CPUID table", err, errlen);
	struct kvm_cpuid2 *c;
	if (!v)
		return -1;
	if (n % sizeof(struct kvm_cpuid_entry2) || n == 0) {
		errbuf__set(err, errlen, "vCPU record: CPUID table %s", n ? "has a partial entry" : "is empty");
		return -1;
	}
	c = calloc(1, sizeof(*c) + n);
	if (!c)
		return -1;
	c->nent = (uint32_t)(n / sizeof(struct kvm_cpuid_entry2));
	memcpy(c->entries, v, n);
	*out = c;
	return 0;
}

#define SET(req, ptr, what)                                                       \
	do {                                                                      \
		if (ioctl(fd, req, ptr) < 0) {                                    \
			errbuf__set(err, errlen, "restoring %s: %s", what, strerror(errno)); \
			goto fail;                                                \
		}                                                                 \
	} while (0)

/* State a vCPU cannot run from is refused before it is loaded: a missing
 * code segment (all-zero special registers), paging without protection,
 * long mode without paging or PAE. KVM would take some of these and the VM
 * would "run" without ever doing anything. */
static int sregs_runnable(const struct kvm_sregs *s, char *err, size_t errlen)
{
	const char *why = NULL;
	if (!s->cs.present)
		why = "the code segment is not present";
	else if ((s->cr0 & (1ull << 31)) && !(s->cr0 & 1))
		why = "CR0 has paging without protection";
	else if ((s->efer & (1ull << 10)) && (!(s->cr0 & (1ull << 31)) || !(s->cr4 & (1ull << 5))))
		why = "EFER.LMA without CR0.PG and CR4.PAE";
	if (!why)
		return 0;
	errbuf__set(err, errlen, "vCPU record: special registers cannot run: %s", why);
	return -1;
}

int vcpu_state__restore(int fd, const void *p, size_t len, char *err, size_t errlen)
{
	const struct kvm_regs *regs;
	const struct kvm_sregs *sregs;
	const struct kvm_debugregs *dregs;
	const struct kvm_mp_state *mp;
	struct kvm_vcpu_events ev;
	const void *v, *xs;
	struct kvm_msrs *msrs = NULL;
	void *xsave = NULL;
	size_t n, xslen;
	struct tlv_field f;

	if (!(sregs = need(p, len, VS_SREGS, sizeof(*sregs), NULL, "special registers", err, errlen)))
		return -1;
	if (!(regs = need(p, len, VS_REGS, sizeof(*regs), NULL, "registers", err, errlen)))
		return -1;
	if (sregs_runnable(sregs, err, errlen))
		return -1;
	SET(KVM_SET_SREGS, sregs, "special registers");
	SET(KVM_SET_REGS, regs, "registers");

	if (tlv__find(p, len, VS_XCRS, &f)) {
		if (f.len != sizeof(struct kvm_xcrs)) {
			errbuf__set(err, errlen, "vCPU record: XCRs have the wrong size");
			return -1;
		}
		SET(KVM_SET_XCRS, f.val, "XCRs");
	}
	if ((xs = need(p, len, VS_XSAVE, 0, &xslen, "XSAVE area", err, errlen))) {
		/* at least the legacy area KVM_GET_XSAVE always fills; a larger
		 * one (XSAVE2) is fine for KVM_SET_XSAVE */
		if (xslen < sizeof(struct kvm_xsave)) {
			errbuf__set(err, errlen, "vCPU record: XSAVE area of %zu bytes, at least %zu expected",
				   xslen, sizeof(struct kvm_xsave));
			return -1;
		}
		size_t sz = xslen;
		xsave = calloc(1, sz);
		if (!xsave)
			return -1;
		memcpy(xsave, xs, xslen);
		SET(KVM_SET_XSAVE, xsave, "XSAVE area");
	} else {
		return -1;
	}

	if (!(v = need(p, len, VS_MSRS, 0, &n, "MSRs", err, errlen)))
		goto fail;
	if (n % sizeof(struct kvm_msr_entry) || n == 0) {
		errbuf__set(err, errlen, "vCPU record: MSR list %s", n ? "has a partial entry" : "is empty");
		goto fail;
	}
	msrs = calloc(1, sizeof(*msrs) + n);
	if (!msrs)
		goto fail;
	msrs->nmsrs = (uint32_t)(n / sizeof(struct kvm_msr_entry));
	memcpy(msrs->entries, v, n);
	int set = ioctl(fd, KVM_SET_MSRS, msrs);
	if (set != (int)msrs->nmsrs) {
		errbuf__set(err, errlen, "restoring MSRs: KVM refused MSR 0x%x (%d of %u set)",
			   set >= 0 && (uint32_t)set < msrs->nmsrs ? msrs->entries[set].index : 0,
			   set, msrs->nmsrs);
		goto fail;
	}

	if (!(dregs = need(p, len, VS_DEBUGREGS, sizeof(*dregs), NULL, "debug registers", err, errlen)))
		goto fail;
	SET(KVM_SET_DEBUGREGS, dregs, "debug registers");
	if (!(v = need(p, len, VS_EVENTS, sizeof(ev), NULL, "vCPU events", err, errlen)))
		goto fail;
	memcpy(&ev, v, sizeof(ev));
	/* GET reports which optional parts are valid; NMI-pending and the SIPI
	 * vector are input-only flags and must be asked for explicitly. */
	ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	SET(KVM_SET_VCPU_EVENTS, &ev, "vCPU events");
	if (!(mp = need(p, len, VS_MP_STATE, sizeof(*mp), NULL, "MP state", err, errlen)))
		goto fail;
	SET(KVM_SET_MP_STATE, mp, "MP state");

	free(msrs);
	free(xsave);
	return 0;
fail:
	free(msrs);
	free(xsave);
	return -1;
}

void vcpu_state__dump(int fd, int index)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	if (ioctl(fd, KVM_GET_REGS, &r) < 0 || ioctl(fd, KVM_GET_SREGS, &s) < 0) {
		log__err("vCPU %d: cannot read registers: %s", index, strerror(errno));
		return;
	}
	fprintf(stderr,
		"  vCPU %d registers:\n"
		"    rip=%016llx rsp=%016llx rflags=%016llx\n"
		"    rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n"
		"    rsi=%016llx rdi=%016llx rbp=%016llx\n"
		"    r8 =%016llx r9 =%016llx r10=%016llx r11=%016llx\n"
		"    r12=%016llx r13=%016llx r14=%016llx r15=%016llx\n"
		"    cs=%04x (dpl %u, %s) ss=%04x cr0=%llx cr2=%llx cr3=%llx cr4=%llx efer=%llx\n"
		"    gdt=%llx/%x idt=%llx/%x tr=%04x\n",
		index, r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp,
		r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15,
		s.cs.selector, s.cs.dpl, s.cs.l ? "64-bit" : (s.cs.db ? "32-bit" : "16-bit"),
		s.ss.selector, s.cr0, s.cr2, s.cr3, s.cr4, s.efer,
		s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit, s.tr.selector);
}
