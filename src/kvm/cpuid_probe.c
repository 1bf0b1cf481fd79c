/* cpuid_probe.c - run `cpuid 0x40000000` at CPL 3 in a throwaway VM and
 * compare the answer with the table tern set (cpuid__build). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm/cpuid.h"
#include "kvm/cpuid_probe.h"
#include "kvm/guest64.h"
#include "util/log.h"

#define PROBE_RAM (2u << 20)

/* mov $0x40000000,%eax; xor %ecx,%ecx; cpuid; out %al,$0x10; jmp . */
static const uint8_t probe_code[] = {
	0xb8, 0x00, 0x00, 0x00, 0x40,
	0x31, 0xc9,
	0x0f, 0xa2,
	0xe6, G64_EXIT_PORT,
	0xeb, 0xfe,
};

static void on_alarm(int sig) { (void)sig; }

/* KVM_RUN once, bounded: a host that wedges the vCPU (as `vmcall` does on
 * the nested development machines) must not hang host-check. */
static int run_bounded(int vcpufd, unsigned seconds)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	int r;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);          /* no SA_RESTART: KVM_RUN returns EINTR */
	alarm(seconds);
	r = ioctl(vcpufd, KVM_RUN, 0);
	int e = errno;
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	return r < 0 ? -e : 0;
}

/* Run code at CPL 3 in a throwaway VM whose CPUID table is tern's, until
 * its first exit. cr4_or: CR4 bits besides PAE (OSFXSR for SSE code).
 * 0 with *exit and *regs filled, or -1 with err. */
static int run_ring3(struct kvm_sys *k, const uint8_t *code, size_t len, uint64_t cr4_or,
		     uint32_t *tsc_khz, uint32_t *want_max, uint32_t *exit, struct kvm_regs *out,
		     char *err, size_t errlen)
{
	struct kvm_cpuid2 *table = NULL;
	struct kvm_run *run = NULL;
	struct kvm_regs regs = { 0 };
	struct kvm_sregs sr;
	int vmfd, vcpufd = -1, r, ret = -1;
	uint8_t *ram;

	vmfd = kvm__create_vm(k);
	if (vmfd < 0) {
		errbuf__set(err, errlen, "KVM_CREATE_VM: %s", strerror(-vmfd));
		return -1;
	}
	ram = mmap(NULL, PROBE_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED) {
		errbuf__set(err, errlen, "mmap: %s", strerror(errno));
		ram = NULL;
		goto out;
	}
	if (g64__setup_memory(ram, PROBE_RAM, code, len) ||
	    (r = kvm_vm__set_memslot(vmfd, 0, 0, PROBE_RAM, ram, 0))) {
		errbuf__set(err, errlen, "cannot map the probe's memory");
		goto out;
	}
	if ((r = kvm_vcpu__create(vmfd, 0, k->run_size, &vcpufd, &run))) {
		errbuf__set(err, errlen, "KVM_CREATE_VCPU: %s", strerror(-r));
		goto out;
	}
	r = ioctl(vcpufd, KVM_GET_TSC_KHZ, 0);
	*tsc_khz = r > 0 ? (uint32_t)r : 0;
	if ((r = cpuid__build(k, *tsc_khz, false, true, &table))) {
		errbuf__set(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
		goto out;
	}
	*want_max = cpuid__find(table, 0x40000000, 0)->eax;
	if (ioctl(vcpufd, KVM_SET_CPUID2, table) < 0) {
		errbuf__set(err, errlen, "KVM_SET_CPUID2: %s", strerror(errno));
		goto out;
	}
	if ((r = g64__setup_vcpu(vcpufd, 0, &regs))) {
		errbuf__set(err, errlen, "cannot enter long mode at CPL 3: %s", strerror(-r));
		goto out;
	}
	if (cr4_or) {
		if (ioctl(vcpufd, KVM_GET_SREGS, &sr) < 0 ||
		    (sr.cr4 |= cr4_or, ioctl(vcpufd, KVM_SET_SREGS, &sr) < 0)) {
			errbuf__set(err, errlen, "cannot set CR4: %s", strerror(errno));
			goto out;
		}
	}
	if ((r = run_bounded(vcpufd, 5))) {
		errbuf__set(err, errlen, "KVM_RUN: %s", r == -EINTR ? "no exit within 5 s" : strerror(-r));
		goto out;
	}
	*exit = run->exit_reason;
	if (*exit == KVM_EXIT_IO && run->io.port != G64_EXIT_PORT) {
		errbuf__set(err, errlen, "the probe wrote to port 0x%x, not its own", run->io.port);
		goto out;
	}
	if (ioctl(vcpufd, KVM_GET_REGS, out) < 0) {
		errbuf__set(err, errlen, "KVM_GET_REGS: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	free(table);
	kvm_vcpu__destroy(vcpufd, run, k->run_size);
	if (ram)
		munmap(ram, PROBE_RAM);
	close(vmfd);
	return ret;
}

int cpuid_probe__ring3(struct kvm_sys *k, struct cpuid_probe *p, char *err, size_t errlen)
{
	struct kvm_regs regs;
	uint32_t exit;

	memset(p, 0, sizeof(*p));
	if (run_ring3(k, probe_code, sizeof(probe_code), 0, &p->tsc_khz, &p->want_max, &exit, &regs,
		      err, errlen))
		return -1;
	if (exit != KVM_EXIT_IO) {
		errbuf__set(err, errlen, "the probe stopped with exit reason %u, not its port write", exit);
		return -1;
	}
	p->got_eax = (uint32_t)regs.rax;
	p->got_ebx = (uint32_t)regs.rbx;
	p->got_ecx = (uint32_t)regs.rcx;
	p->got_edx = (uint32_t)regs.rdx;
	/* tern's table: max leaf CPUID_TIMING_LEAF and the "KVMKVMKVM" signature */
	p->intercepted = p->got_eax == p->want_max && !memcmp(&p->got_ebx, "KVMK", 4);
	return 0;
}

/* aesenc %xmm0,%xmm0; pclmulqdq $0,%xmm0,%xmm0; out %al,$0x10; jmp . */
static const uint8_t aes_code[] = {
	0x66, 0x0f, 0x38, 0xdc, 0xc0,
	0x66, 0x0f, 0x3a, 0x44, 0xc0, 0x00,
	0xe6, G64_EXIT_PORT,
	0xeb, 0xfe,
};

int cpuid_probe__ring3_aes(struct kvm_sys *k, int *works, char *err, size_t errlen)
{
	struct kvm_regs regs;
	uint32_t exit, tsc, max;

	*works = 0;
	/* OSFXSR | OSXMMEXCPT: SSE enabled, as the helper runs */
	if (run_ring3(k, aes_code, sizeof(aes_code), 0x600, &tsc, &max, &exit, &regs, err, errlen))
		return -1;
	/* no IDT: #UD ends in a shutdown (or an internal error) */
	*works = exit == KVM_EXIT_IO;
	return 0;
}
