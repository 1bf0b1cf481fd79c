/* vm.c - create a machine, boot a guest into it, and the pause / resume /
 * stop protocol.
 *
 * Pausing: set pause_req, then kick every vCPU thread with a signal whose
 * handler sets kvm_run->immediate_exit, so a thread that is about to enter
 * KVM_RUN returns at once instead of running on. Each thread completes the
 * exit it was handling (KVM_RUN with immediate_exit finishes a pending port
 * read) and parks. A kick can be lost in the window between a thread clearing
 * immediate_exit and entering KVM_RUN, so the pauser re-kicks until every
 * thread has parked.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "boot/elf.h"
#include "boot/multiboot.h"
#include "cc/launch_digest.h"
#include "cc/vmsa.h"
#include "dev/exits.h"
#include "dev/migctl.h"
#include "dev/reset.h"
#include "kvm/cpuid.h"
#include "kvm/dirty.h"
#include "mirror/region.h"
#include "util/io.h"
#include "util/log.h"
#include "vm/vm.h"

#define GUEST_MAX_IMAGE (64u << 20)

/* The guest-call device's way out (TERN_HC_EXIT): dev/ knows no struct vm. */
static void gcall_stop(void *ctx, int code, const char *why)
{
	vm__stop(ctx, code, "%s", why);
}

/* The reset device's request (dev/reset.h), on a vCPU thread: recorded
 * only; tern run's main loop carries it out (vm__reset_begin ...). */
static void reset_request(void *ctx, const char *why)
{
	struct vm *vm = ctx;
	pthread_mutex_lock(&vm->lock);
	if (!vm->reset_req) {
		vm->reset_req = true;
		snprintf(vm->reset_why, sizeof(vm->reset_why), "%s", why);
	}
	pthread_mutex_unlock(&vm->lock);
}

int vm__setup_caps(struct vm *vm, char *err, size_t errlen)
{
	uint32_t trapped[EXITS_MAX_MSRS];
	int r;

	/* Harmless where unneeded (no real mode here); required on VMX hosts. */
	(void)ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);

	r = kvm_vm__enable_cap(vm->fd, KVM_CAP_X86_USER_SPACE_MSR, KVM_MSR_EXIT_REASON_FILTER);
	if (r) {
		errbuf__set(err, errlen, "KVM cannot send MSR accesses to userspace "
			   "(KVM_CAP_X86_USER_SPACE_MSR): %s", strerror(-r));
		return -1;
	}
	/* exactly the MSRs this VM's devices registered come to userspace */
	for (int i = 0; i < vm->exits.nmsrs; i++)
		trapped[i] = vm->exits.msr[i].index;
	r = kvm_vm__trap_msrs(vm->fd, trapped, (unsigned)vm->exits.nmsrs);
	if (r) {
		errbuf__set(err, errlen, "cannot install the MSR filter for the migration-control MSR: %s",
			   strerror(-r));
		return -1;
	}
	/* MAP_GPA_RANGE as a real hypercall; guests here use the port instead */
	vm->hypercall_exit = kvm__check(&vm->kvm, KVM_CAP_EXIT_HYPERCALL) &&
		kvm_vm__enable_cap(vm->fd, KVM_CAP_EXIT_HYPERCALL, 1ULL << KVM_HC_MAP_GPA_RANGE_NR) == 0;
	/* KVM takes a dirty ring only before the first vCPU. Refused: note
	 * why; dirty__start(DIRTY_RING) reports it, the dirty log still works. */
	if (vm->cfg.dirty_ring) {
		r = dirty__ring_enable(vm->fd, vm->cfg.dirty_ring);
		if (r)
			vm->dirty_ring_err = r;
		else
			vm->dirty_ring = vm->cfg.dirty_ring;
	}
	return 0;
}

static void keep_boot_states(struct vm *vm);

int vm__create_vcpus(struct vm *vm, char *err, size_t errlen)
{
	int r, t;

	if (vm->vcpus || vm->ram_at.kind == VM_RAM_NONE) {
		errbuf__set(err, errlen, "vCPUs are made once, after the RAM is attached");
		return -1;
	}
	vm->vcpus = calloc((size_t)vm->cfg.ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		errbuf__set(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < vm->cfg.ncpus; i++)
		vm->vcpus[i].fd = -1;     /* so a partial failure cleans up right */
	for (int i = 0; i < vm->cfg.ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		v->vm = vm;
		v->index = i;
		r = kvm_vcpu__create(vm->fd, i, vm->kvm.run_size, &v->fd, &v->run);
		if (r) {
			errbuf__set(err, errlen, "cannot create vCPU %d: %s", i, strerror(-r));
			return -1;
		}
	}
	/* The TSC frequency is a vCPU property in KVM; the guest learns it
	 * from the CPUID timing leaf, so the table is built after vCPU 0. */
	t = ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
	vm->tsc_khz = t > 0 ? (uint32_t)t : 0;
	/* Logged so a test (and a user) can compare it with what the guest read. */
	log__info("vCPU TSC %u kHz (CPUID 0x40000010)", vm->tsc_khz);
	r = cpuid__build(&vm->kvm, vm->tsc_khz, vm->hypercall_exit, true, &vm->cpuid);
	if (r) {
		errbuf__set(err, errlen, "cannot read KVM's supported CPUID: %s", strerror(-r));
		return -1;
	}
	for (int i = 0; i < vm->cfg.ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		v->cpuid = cpuid__for_vcpu(vm->cpuid, i);
		if (!v->cpuid || ioctl(v->fd, KVM_SET_CPUID2, v->cpuid) < 0) {
			errbuf__set(err, errlen, "vCPU %d: KVM_SET_CPUID2: %s", i, strerror(errno));
			return -1;
		}
	}
	r = vcpu_state__probe(&vm->kvm, vm->vcpus[0].fd, &vm->vscfg);
	if (r) {
		errbuf__set(err, errlen, "cannot list the vCPU's MSRs: %s", strerror(-r));
		return -1;
	}
	/* A plain VM keeps its vCPUs' power-on state now, before any state
	 * arrives over them: a VM that came by restore, migration or handoff
	 * can then be reset too (vm__reboot adds the entry registers).
	 * vm__load_guest replaces it with the state after those registers. */
	if (vm->cfg.cc == CC_NONE && vm->ram_at.kind != VM_RAM_BORROWED)
		keep_boot_states(vm);
	if (vm->cc_open) {
		r = vm->cc.ops->vcpus_created(&vm->cc, vm->cfg.ncpus);
		if (r) {
			errbuf__set(err, errlen, "confidential platform refused the vCPUs: %s", strerror(-r));
			return -1;
		}
	}
	return 0;
}

/* Connect the confidential platform and, as the VM's role asks, make this
 * an SEV guest and give the platform the RAM memfd (it reads and writes
 * guest memory as the firmware does), or make it a mirror of owner's. */
static int cc_setup(struct vm *vm, struct vm *owner, char *err, size_t errlen)
{
	char why[256], e2[128];
	uint32_t fw = 0;
	int r;

	vm->cc.ops = vm->cfg.cc == CC_EMU ? &cc_emu_ops : &cc_sev_ops;
	vm->cc.handle_fd = vm->cc.platform = vm->cc.watch_wake = -1;
	vm->cc.lost = 0;
	/* SEV-ES is decided before the platform sees the VM: it makes the
	 * VM's type (emu) and the INIT (INIT2 with VMSA features) */
	vm->cc.es = vm->cfg.cc_es;
	vm->cc.vmsa_features = 0;         /* no DebugSwap: tern's guests need none */
	vm->cc.vmsa_sealed = false;
	if (vm->cfg.psp_socket)
		snprintf(vm->cc.socket, sizeof(vm->cc.socket), "%s", vm->cfg.psp_socket);
	if (vm->cc.ops->open(&vm->cc, vm->fd, why, sizeof(why))) {
		errbuf__set(err, errlen, "--cc %s: %s", vm->cc.ops->name, why);
		return -1;
	}
	vm->cc_open = true;
	if (vm->cc_role == VM_CC_MIRROR) {
		/* COPY_ENC_CONTEXT_FROM: the owner's context itself, so no INIT
		 * and no regions of its own (the platform refuses both) */
		r = vm->cc.ops->mirror_from(&vm->cc, owner->cc.ops->context_fd(&owner->cc), &fw);
		if (r) {
			errbuf__set(err, errlen, "--cc %s: cannot mirror the owner's context: %s",
				   vm->cc.ops->name, cc__strerror(r, fw, e2, sizeof(e2)));
			return -1;
		}
		return 0;
	}
	if (vm->cc_role == VM_CC_ADOPT_MOVE)
		return 0;         /* a handoff moves the context (and its regions) in */
	r = vm->cc.ops->init(&vm->cc, vm->cfg.cc_es, &fw);
	if (r) {
		errbuf__set(err, errlen, "--cc %s: SEV%s INIT failed: %s", vm->cc.ops->name,
			   vm->cfg.cc_es ? "-ES" : "",
			   cc__strerror(r, fw, e2, sizeof(e2)));
		return -1;
	}
	if (vm->cc_role == VM_CC_ADOPT_TOKEN)
		return 0;         /* the staged context brings its regions */
	r = vm->cc.ops->register_ram(&vm->cc, vm->ram.fd, vm->ram_at.gpa, vm->ram.size, vm->ram.hva);
	if (r) {
		errbuf__set(err, errlen, "--cc %s: cannot register guest RAM: %s", vm->cc.ops->name,
			   strerror(-r));
		return -1;
	}
	return 0;
}

static int cc_launch_vmsas(struct vm *vm, uint64_t entry, char *err, size_t errlen)
{
	uint8_t page[VMSA_SIZE];
	struct vmsa_regs regs;
	uint32_t fw = 0;
	char e2[128];

	for (int i = 0; i < vm->cfg.ncpus; i++) {
		vmsa__entry(entry, i, &regs);   /* what set_entry_state gave the vCPU */
		vmsa__encode(&regs, vm->cc.vmsa_features, page);
		int r = vm->cc.ops->launch_update_vmsa(&vm->cc, i, page, sizeof(page), &fw);
		if (r) {
			errbuf__set(err, errlen, "LAUNCH_UPDATE_VMSA (vCPU %d): %s", i,
				   cc__strerror(r, fw, e2, sizeof(e2)));
			return -1;
		}
		vm->cc.vmsa_sealed = true;
	}
	return 0;
}

static int cc_launch(struct vm *vm, const struct elf_image *ei, bool helper,
		     const struct cc_launch *l, char *err, size_t errlen)
{
	struct cc_launch none = { 0 };
	struct launch_range rg[LAUNCH_RANGES_MAX];
	uint32_t fw = 0;
	char e2[128];
	int n, r;

	r = vm->cc.ops->launch_start(&vm->cc, l ? l : &none, &vm->cc.m.handle, &fw);
	if (r) {
		errbuf__set(err, errlen, "LAUNCH_START: %s", cc__strerror(r, fw, e2, sizeof(e2)));
		return -1;
	}
	n = launch__ranges(ei, rg);
	if (n > 0 && helper)
		n = launch__add_helper_range(rg, n);
	/* one call per range: neither back-end limits its length (tern-psp
	 * reads it a page at a time, KVM pins and walks it), and the digest
	 * is the same however the bytes are split */
	for (int i = 0; i < n; i++) {
		r = vm->cc.ops->launch_update_data(&vm->cc, rg[i].gpa, vm->ram.hva + rg[i].gpa,
						   (uint32_t)rg[i].len, &fw);
		if (r) {
			errbuf__set(err, errlen, "LAUNCH_UPDATE_DATA 0x%llx+0x%llx: %s",
				   (unsigned long long)rg[i].gpa, (unsigned long long)rg[i].len,
				   cc__strerror(r, fw, e2, sizeof(e2)));
			return -1;
		}
	}
	/* SEV-ES: every vCPU's register state is encrypted into its VMSA
	 * after the data and before the measurement, vCPU 0 first (as KVM
	 * walks its vCPUs); from now on the host cannot read or set it */
	if (vm->cc.es && cc_launch_vmsas(vm, ei->entry, err, errlen))
		return -1;
	r = vm->cc.ops->launch_measure(&vm->cc, &vm->cc.m, &fw);
	if (r) {
		errbuf__set(err, errlen, "LAUNCH_MEASURE: %s", cc__strerror(r, fw, e2, sizeof(e2)));
		return -1;
	}
	vm->cc.have_measurement = true;
	return 0;
}

/* A packet file from `tern owner`: magic (8) | u32 LE plaintext length |
 * packet header | ciphertext. The magic says what the packet is for, so a
 * packet given to the wrong option is refused here, by name. */
struct secret_kind {
	const char *magic;
	uint64_t    gpa;
	uint32_t    min, max;             /* plaintext length */
	const char *what, *maker;
};

static const struct secret_kind guest_secret = {
	"TERNSECP", GUEST_SECRET_GPA, 1, 4096, "secret packet", "tern owner secret",
};
static const struct secret_kind helper_key = {
	"TERNHKYP", HELPER_BASE + HELPER_KEY_OFF, sizeof(struct helper_key_slot),
	sizeof(struct helper_key_slot), "helper-key packet", "tern owner helper-key",
};

static int inject_packet(struct vm *vm, const struct secret_kind *k, const char *path,
			 char *err, size_t errlen)
{
	void *buf;
	size_t len;
	uint32_t plen, fw = 0;
	char e2[128];
	const uint8_t *p;
	int r;

	if (file__slurp(path, 1 << 16, &buf, &len, err, errlen))
		return -1;
	p = buf;
	if (len < 12 + CC_PKT_HDR_LEN || memcmp(p, k->magic, 8)) {
		const struct secret_kind *other = k == &guest_secret ? &helper_key : &guest_secret;
		if (len >= 8 && !memcmp(p, other->magic, 8))
			errbuf__set(err, errlen, "%s is a %s (from `%s`), not a %s", path, other->what,
				   other->maker, k->what);
		else
			errbuf__set(err, errlen, "%s is not a %s made by `%s`", path, k->what, k->maker);
		free(buf);
		return -1;
	}
	memcpy(&plen, p + 8, 4);
	if (plen < k->min || plen > k->max || len != 12 + CC_PKT_HDR_LEN + plen) {
		errbuf__set(err, errlen, "%s %s is truncated or has a bad length", k->what, path);
		free(buf);
		return -1;
	}
	r = vm->cc.ops->launch_secret(&vm->cc, k->gpa, vm->ram.hva + k->gpa, p + 12,
				      p + 12 + CC_PKT_HDR_LEN, plen, &fw);
	free(buf);
	if (r) {
		errbuf__set(err, errlen, "LAUNCH_SECRET refused the packet from %s: %s", path,
			   cc__strerror(r, fw, e2, sizeof(e2)));
		return -1;
	}
	return 0;
}

int vm__cc_secret(struct vm *vm, const char *path, char *err, size_t errlen)
{
	return inject_packet(vm, &guest_secret, path, err, errlen);
}

int vm__cc_helper_key(struct vm *vm, const char *path, char *err, size_t errlen)
{
	if (vm->ram.size < HELPER_END) {
		errbuf__set(err, errlen, "no helper region in %llu MiB of guest RAM",
			   (unsigned long long)(vm->ram.size >> 20));
		return -1;
	}
	return inject_packet(vm, &helper_key, path, err, errlen);
}

int vm__cc_finish(struct vm *vm, char *err, size_t errlen)
{
	uint32_t fw = 0;
	char e2[128];
	int r = vm->cc.ops->launch_finish(&vm->cc, &fw);
	if (r) {
		errbuf__set(err, errlen, "LAUNCH_FINISH: %s", cc__strerror(r, fw, e2, sizeof(e2)));
		return -1;
	}
	return 0;
}

int vm__init(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->fd = -1;
	vm->ram.fd = -1;
	vm->kvm.fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	serial__init(&vm->serial, cfg->serial_fd);
	vm->gcall.ps = &vm->ps;
	vm->gcall.stop = gcall_stop;
	vm->gcall.ctx = vm;
	vm->gcall.calls = &vm->stats.guest_calls;
	vm->reset.request = reset_request;
	vm->reset.ctx = vm;

	if (cfg->mem < VM_MIN_MEM || cfg->mem % VM_MEM_ALIGN) {
		errbuf__set(err, errlen, "guest memory must be a multiple of 2 MiB and at least %llu MiB",
			   VM_MIN_MEM >> 20);
		return -1;
	}
	r = kvm__open(&vm->kvm, "/dev/kvm");
	if (r) {
		errbuf__set(err, errlen, "cannot open /dev/kvm: %s%s", strerror(-r),
			   r == -ENOENT ? " (is KVM enabled on this host?)" :
			   r == -EACCES ? " (add yourself to the kvm group)" : "");
		return -1;
	}
	if (cfg->ncpus < 1 || cfg->ncpus > VM_MAX_VCPUS || cfg->ncpus > vm->kvm.max_vcpus) {
		errbuf__set(err, errlen, "%d vCPUs requested; this tern and host support 1 to %d",
			   cfg->ncpus, vm->kvm.max_vcpus < VM_MAX_VCPUS ? vm->kvm.max_vcpus : VM_MAX_VCPUS);
		return -1;
	}
	vm->fd = kvm__create_vm(&vm->kvm);
	if (vm->fd < 0) {
		errbuf__set(err, errlen, "KVM_CREATE_VM: %s", strerror(-vm->fd));
		return -1;
	}
	if (page_status__init(&vm->ps, cfg->mem / PAGE_SIZE_4K, cfg->cc != CC_NONE)) {
		errbuf__set(err, errlen, "out of memory for the page-status record");
		return -1;
	}
	return 0;
}

int vm__add_guest_devices(struct vm *vm, char *err, size_t errlen)
{
	int r = serial__register(&vm->serial, &vm->exits);
	if (!r)
		r = guest_call__register(&vm->gcall, &vm->exits);
	if (!r)
		r = migctl__register(&vm->ps, &vm->exits);
	if (!r)
		r = reset_dev__register(&vm->reset, &vm->exits);
	if (r) {
		errbuf__set(err, errlen, "cannot register the devices' exits: %s", strerror(-r));
		return -1;
	}
	return 0;
}

int vm__register_port(struct vm *vm, uint16_t base, uint16_t len, exit_port_fn fn, void *ctx)
{
	return exits__register_port(&vm->exits, base, len, fn, ctx);
}

/* The RAM mapping is in vm->ram: give it to KVM at this VM's slot and GPA. */
static int attach_slot(struct vm *vm, uint32_t slot, uint64_t gpa, char *err, size_t errlen)
{
	int r;

	if (gpa % VM_MEM_ALIGN) {
		errbuf__set(err, errlen, "guest RAM at GPA 0x%llx: not 2 MiB aligned", (unsigned long long)gpa);
		return -1;
	}
	r = kvm_vm__set_memslot(vm->fd, slot, gpa, vm->ram.size, vm->ram.hva, 0);
	if (r) {
		errbuf__set(err, errlen, "cannot register guest RAM with KVM: %s", strerror(-r));
		return -1;
	}
	vm->ram_at.slot = slot;
	vm->ram_at.gpa = gpa;
	return 0;
}

static int ram_unattached(struct vm *vm, char *err, size_t errlen)
{
	if (vm->fd < 0 || vm->ram_at.kind != VM_RAM_NONE) {
		errbuf__set(err, errlen, "guest RAM is attached once, after vm__init");
		return -1;
	}
	return 0;
}

int vm__attach_ram_owned(struct vm *vm, uint32_t slot, uint64_t gpa, char *err, size_t errlen)
{
	if (ram_unattached(vm, err, errlen))
		return -1;
	vm->ram_at.kind = VM_RAM_OWNED;
	if (guest_ram__create(&vm->ram, vm->cfg.mem, err, errlen))
		return -1;
	return attach_slot(vm, slot, gpa, err, errlen);
}

int vm__attach_ram_given(struct vm *vm, const struct guest_ram *ram, uint32_t slot, uint64_t gpa,
			 char *err, size_t errlen)
{
	if (ram_unattached(vm, err, errlen)) {
		struct guest_ram r = *ram;
		guest_ram__destroy(&r);
		return -1;
	}
	vm->ram_at.kind = VM_RAM_OWNED;
	vm->ram = *ram;
	if (ram->size != vm->cfg.mem) {
		errbuf__set(err, errlen, "the prepared guest RAM has %llu MiB, the VM %llu MiB",
			   (unsigned long long)(ram->size >> 20), (unsigned long long)(vm->cfg.mem >> 20));
		return -1;                /* vm->ram has it: vm__destroy frees it */
	}
	return attach_slot(vm, slot, gpa, err, errlen);
}

int vm__attach_ram_adopted(struct vm *vm, int memfd, uint32_t slot, uint64_t gpa,
			   char *err, size_t errlen)
{
	if (ram_unattached(vm, err, errlen)) {
		close(memfd);
		return -1;
	}
	vm->ram_at.kind = VM_RAM_ADOPTED;
	if (guest_ram__adopt(&vm->ram, memfd, vm->cfg.mem, err, errlen))
		return -1;        /* vm->ram has the fd: vm__destroy closes it */
	return attach_slot(vm, slot, gpa, err, errlen);
}

int vm__attach_ram_borrowed(struct vm *vm, const struct vm *lender, uint32_t slot, uint64_t gpa,
			    char *err, size_t errlen)
{
	if (ram_unattached(vm, err, errlen))
		return -1;
	if (lender->ram_at.kind == VM_RAM_NONE || lender->ram.size != vm->cfg.mem) {
		errbuf__set(err, errlen, "cannot borrow guest RAM: the lender has %s",
			   lender->ram_at.kind == VM_RAM_NONE ? "none" : "a different size");
		return -1;
	}
	/* set first: vm__destroy must never close the lender's memfd. Its own
	 * view: the helper in a mirror writes pages that the lender's view
	 * must not show before they are whole (post-copy, postcopy_rx.c) */
	vm->ram_at.kind = VM_RAM_BORROWED;
	if (guest_ram__view(&vm->ram, &lender->ram, err, errlen))
		return -1;
	return attach_slot(vm, slot, gpa, err, errlen);
}

int vm__cc_role(struct vm *vm, enum vm_cc_role role, struct vm *from, char *err, size_t errlen)
{
	vm->cc_role = role;
	if (vm->cfg.cc == CC_NONE)
		return 0;
	if (vm->ram_at.kind == VM_RAM_NONE || vm->vcpus) {
		errbuf__set(err, errlen, "the confidential role is set after the RAM and before the vCPUs");
		return -1;
	}
	if (role == VM_CC_MIRROR && (!from || !from->cc_open || from->cfg.cc != vm->cfg.cc)) {
		errbuf__set(err, errlen, "a mirror VM needs an owner VM in this process with a context "
			   "on the same platform");
		return -1;
	}
	if (vm->cfg.cc_es && (role == VM_CC_RECEIVER || role == VM_CC_MIRROR)) {
		/* its vCPUs live in VMSAs that never leave the host (no
		 * SEND_UPDATE_VMSA), and a mirror's would need their own */
		errbuf__set(err, errlen, "an SEV-ES guest cannot be %s", role == VM_CC_RECEIVER ?
			   "received by live migration: its vCPUs' VMSAs cannot leave their host" :
			   "mirrored: the mirror's vCPUs would need VMSAs of their own");
		return -1;
	}
	return cc_setup(vm, from, err, errlen);
}

int vm__create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	if (vm__init(vm, cfg, err, errlen) ||
	    vm__add_guest_devices(vm, err, errlen) ||
	    vm__attach_ram_owned(vm, VM_RAM_SLOT_MAIN, VM_RAM_GPA_MAIN, err, errlen) ||
	    vm__setup_caps(vm, err, errlen) ||
	    vm__cc_role(vm, VM_CC_OWNER, NULL, err, errlen) ||
	    vm__create_vcpus(vm, err, errlen))
		return -1;
	return 0;
}

void *vm__gpa_ptr(const struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa < vm->ram_at.gpa)
		return NULL;
	return guest_ram__ptr(&vm->ram, gpa - vm->ram_at.gpa, len);
}

int vm__dirty_start(struct vm *vm, struct dirty_tracker *t, enum dirty_mode mode,
		    char *err, size_t errlen)
{
	struct dirty_vcpu vc[VM_MAX_VCPUS];
	struct dirty_target tg = {
		.vmfd = vm->fd, .slot = vm->ram_at.slot, .gpa = vm->ram_at.gpa,
		.size = vm->ram.size, .hva = vm->ram.hva,
		.nvcpus = vm->cfg.ncpus, .vcpus = vc,
		.ring_entries = vm->dirty_ring, .ring_asked = vm->cfg.dirty_ring,
		.ring_err = vm->dirty_ring_err,
		.lock = &vm->lock, .running = &vm->dirty,
	};

	for (int i = 0; i < vm->cfg.ncpus; i++) {
		vc[i].fd = vm->vcpus[i].fd;
		vc[i].fetch = &vm->vcpus[i].dirty_fetch;
	}
	return dirty__start(t, &tg, mode, err, errlen);
}

void vm__destroy(struct vm *vm)
{
	vm__prefault_stop(vm);            /* it uses vCPU 0 and the mapping */
	if (vm->dirty)
		dirty__stop(vm->dirty);    /* unmaps the rings before the vCPU fds close */
	if (vm->vcpus) {
		for (int i = 0; i < vm->cfg.ncpus; i++) {
			kvm_vcpu__destroy(vm->vcpus[i].fd, vm->vcpus[i].run, vm->kvm.run_size);
			free(vm->vcpus[i].cpuid);
			free(vm->vcpus[i].boot_state);
		}
		free(vm->vcpus);
		vm->vcpus = NULL;
	}
	free(vm->cpuid);
	vm->cpuid = NULL;
	if (vm->cc_open)
		vm->cc.ops->close(&vm->cc);
	vm->cc_open = false;
	vcpu_state__cfg_free(&vm->vscfg);
	serial__destroy(&vm->serial);
	page_status__destroy(&vm->ps);
	if (vm->ram_at.kind == VM_RAM_BORROWED)
		guest_ram__unview(&vm->ram);
	else
		guest_ram__destroy(&vm->ram);
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = -1;
	kvm__close(&vm->kvm);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
}

/* A segment in KVM's form from its VMSA form (vmsa.h), so the vCPU gets
 * exactly the values an SEV-ES launch measures. */
static struct kvm_segment kvm_seg(const struct vmsa_seg *g)
{
	return (struct kvm_segment){
		.base = g->base, .limit = g->limit, .selector = g->selector,
		.type = g->attrib & 0xf, .s = (g->attrib >> 4) & 1, .dpl = (g->attrib >> 5) & 3,
		.present = (g->attrib >> 7) & 1, .avl = (g->attrib >> 8) & 1, .l = (g->attrib >> 9) & 1,
		.db = (g->attrib >> 10) & 1, .g = (g->attrib >> 11) & 1,
	};
}

/* Multiboot entry state: flat 32-bit protected mode, paging off, as
 * vmsa__entry defines it (one definition for the vCPU and its VMSA). */
static int set_entry_state(struct vcpu *v, uint64_t entry, char *err, size_t errlen)
{
	struct kvm_sregs s;
	struct kvm_regs r = { 0 };
	struct vmsa_regs e;

	vmsa__entry(entry, v->index, &e);
	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		goto fail;
	s.cs = kvm_seg(&e.cs);
	s.ds = kvm_seg(&e.ds);
	s.es = kvm_seg(&e.es);
	s.fs = kvm_seg(&e.fs);
	s.gs = kvm_seg(&e.gs);
	s.ss = kvm_seg(&e.ss);
	s.cr0 = e.cr0;
	s.cr3 = e.cr3;
	s.cr4 = e.cr4;
	s.efer = e.efer;
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
		goto fail;
	r.rip = e.rip;
	r.rflags = e.rflags;
	r.rax = e.rax;
	r.rbx = e.rbx;
	r.rcx = e.rcx;
	r.rdx = e.rdx;
	r.rsi = e.rsi;
	r.rdi = e.rdi;
	r.rsp = e.rsp;
	r.rbp = e.rbp;
	r.r8 = e.r[0];
	r.r9 = e.r[1];
	r.r10 = e.r[2];
	r.r11 = e.r[3];
	r.r12 = e.r[4];
	r.r13 = e.r[5];
	r.r14 = e.r[6];
	r.r15 = e.r[7];
	if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
		goto fail;
	return 0;
fail:
	errbuf__set(err, errlen, "vCPU %d: cannot set the entry state: %s", v->index, strerror(errno));
	return -1;
}

/* Where the helper's page tables put the C-bit: 0 on the emulated
 * platform, which encrypts nothing; on SEV hardware CPUID 0x8000001F
 * EBX[5:0], from the table this VM's vCPUs were given. */
static int helper_c_bit(struct vm *vm, unsigned *c_bit, char *err, size_t errlen)
{
	struct kvm_cpuid_entry2 *e;

	*c_bit = 0;
	if (vm->cfg.cc != CC_SEV)
		return 0;
	e = vm->cpuid ? cpuid__find(vm->cpuid, 0x8000001F, 0) : NULL;
	if (!e || !(e->eax & 2)) {
		errbuf__set(err, errlen, "--helper: the CPUID table has no SEV leaf 0x8000001F, so the "
			   "C-bit position is unknown");
		return -1;
	}
	*c_bit = e->ebx & 0x3f;
	return 0;
}

/* The helper's region, after the guest is loaded and before the launch
 * measures both. */
static int load_helper(struct vm *vm, const char *path, const struct elf_image *guest,
		       char *err, size_t errlen)
{
	void *img;
	size_t len;
	unsigned c_bit;
	char why[256];
	int r;

	if (!vm->cc_open) {
		errbuf__set(err, errlen, "--helper needs a confidential launch (--cc emu or sev): its "
			   "region is measured with the guest");
		return -1;
	}
	if (vm->cc.es) {
		/* its mirror VM's lanes would need VMSAs of their own, launched
		 * while the owner is in LUPDATE: not built */
		errbuf__set(err, errlen, "--helper with an SEV-ES guest (policy bit 0x4) is not supported: "
			   "the helper's mirror VM would need VMSAs of its own");
		return -1;
	}
	if (helper_region__guest_clear(guest->lowest, guest->highest, why, sizeof(why))) {
		errbuf__set(err, errlen, "%s", why);
		return -1;
	}
	if (helper_c_bit(vm, &c_bit, err, errlen))
		return -1;
	if (file__slurp(path, GUEST_MAX_IMAGE, &img, &len, err, errlen))
		return -1;
	r = helper_region__build(vm->ram.hva, vm->ram.size, img, len, c_bit, why, sizeof(why));
	free(img);
	if (r) {
		errbuf__set(err, errlen, "helper %s: %s", path, why);
		return -1;
	}
	log__info("helper %s loaded at 0x%llx (C-bit %u)", path, HELPER_BASE, c_bit);
	return 0;
}

/* Each vCPU's whole state as it enters the guest for the first time, so a
 * guest reset can put it back exactly (not just the registers
 * set_entry_state writes: descriptor tables, control registers, MSRs, FPU
 * and pending events too). Without it a reset stops the VM instead. */
static void keep_boot_states(struct vm *vm)
{
	char why[256];
	for (int i = 0; i < vm->cfg.ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		struct tlv_buf b;
		tlv__init(&b);
		free(v->boot_state);
		v->boot_state = NULL;
		v->boot_state_len = 0;
		if (vcpu_state__save(v->fd, i, &vm->vscfg, v->cpuid, &b, why, sizeof(why)) || b.error) {
			log__err("vCPU %d: cannot keep its boot state, so a guest reset will stop the VM: %s",
				 i, b.error ? strerror(-b.error) : why);
			tlv__free(&b);
			return;
		}
		v->boot_state = b.data;   /* taken over from b: not freed here */
		v->boot_state_len = b.len;
	}
}

int vm__load_guest(struct vm *vm, const char *path, const char *args, const char *helper,
		   const struct cc_launch *launch, char *err, size_t errlen)
{
	void *img;
	size_t len;
	struct elf_image ei;
	char why[256];

	/* images are linked for RAM at GPA 0, the primary VM's layout */
	if (vm->ram_at.gpa != 0) {
		errbuf__set(err, errlen, "guest %s: a guest loads only into RAM at GPA 0", path);
		return -1;
	}
	if (file__slurp(path, GUEST_MAX_IMAGE, &img, &len, err, errlen))
		return -1;
	/* elf__load validates the whole file before it writes anything; a
	 * guest without a multiboot header is refused before it can run */
	if (elf__load(img, len, vm->ram.hva, vm->ram.size, GUEST_LOAD_MIN, &ei, why, sizeof(why)) ||
	    multiboot__check(img, len, why, sizeof(why))) {
		errbuf__set(err, errlen, "guest %s: %s", path, why);
		free(img);
		return -1;
	}
	free(img);
	if (multiboot__write_info(vm->ram.hva, vm->ram.size, vm->cfg.ncpus, args, err, errlen))
		return -1;
	for (int i = 0; i < vm->cfg.ncpus; i++)
		if (set_entry_state(&vm->vcpus[i], ei.entry, err, errlen))
			return -1;
	if (vm->cfg.cc == CC_NONE)
		keep_boot_states(vm);
	if (helper && load_helper(vm, helper, &ei, err, errlen))
		return -1;
	if (vm->cc_open && cc_launch(vm, &ei, helper != NULL, launch, err, errlen))
		return -1;
	return 0;
}

int vm__start(struct vm *vm, char *err, size_t errlen)
{
	vcpu__init_signals();
	vm->start_ns = now__ns();
	pthread_mutex_lock(&vm->lock);
	vm->started = true;
	pthread_mutex_unlock(&vm->lock);
	for (int i = 0; i < vm->cfg.ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		pthread_mutex_lock(&vm->lock);
		vm->live++;
		pthread_mutex_unlock(&vm->lock);
		int r = pthread_create(&v->thread, NULL, vcpu__thread, v);
		if (r) {
			pthread_mutex_lock(&vm->lock);
			vm->live--;
			pthread_mutex_unlock(&vm->lock);
			errbuf__set(err, errlen, "cannot start vCPU %d's thread: %s", i, strerror(r));
			vm__stop(vm, 1, "could not start all vCPUs");
			return -1;
		}
		char name[16];                    /* for profiles and top -H */
		snprintf(name, sizeof(name), "tern-vcpu%d", i % 100);
		pthread_setname_np(v->thread, name);
		v->thread_started = true;
	}
	return 0;
}

/* vCPUs that exist: none when creation failed before they were made
 * (cfg.ncpus is set first; a receive that fails at CONFIG stops such a VM) */
static int vcpus_made(const struct vm *vm)
{
	return vm->vcpus ? vm->cfg.ncpus : 0;
}

static void kick_all(struct vm *vm)
{
	for (int i = 0; i < vcpus_made(vm); i++)
		if (vm->vcpus[i].thread_started && !vm->vcpus[i].exited)
			pthread_kill(vm->vcpus[i].thread, VCPU_KICK_SIGNAL);
}

int vm__pause(struct vm *vm)
{
	struct timespec ts;
	int r = 0;
	pthread_mutex_lock(&vm->lock);
	while (vm->resetting && !vm->stopping)   /* a reset holds the VM: pause the fresh boot */
		pthread_cond_wait(&vm->cond, &vm->lock);
	vm->pause_req = true;
	vm->pause_start_ns = now__ns();
	while (vm->parked < vm->live && !vm->stopping) {
		kick_all(vm);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000;      /* re-kick after 50 us (see top comment) */
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
	}
	if (vm->stopping)
		r = -1;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void vm__resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->pause_req = false;
	if (vm->pause_start_ns)
		vm->last_pause_ns = now__ns() - vm->pause_start_ns;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

bool vm__paused(struct vm *vm)
{
	bool p;
	pthread_mutex_lock(&vm->lock);
	p = vm->pause_req && !vm->resetting && vm->parked == vm->live;
	pthread_mutex_unlock(&vm->lock);
	return p;
}

void vm__stop(struct vm *vm, int exit_code, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&vm->lock);
	if (!vm->stopping) {
		vm->stopping = true;
		vm->exit_code = exit_code;
		va_start(ap, fmt);
		vsnprintf(vm->stop_reason, sizeof(vm->stop_reason), fmt, ap);
		va_end(ap);
	}
	pthread_cond_broadcast(&vm->cond);
	kick_all(vm);
	pthread_mutex_unlock(&vm->lock);
}

bool vm__stopping(struct vm *vm)
{
	bool s;
	pthread_mutex_lock(&vm->lock);
	s = vm->stopping;
	pthread_mutex_unlock(&vm->lock);
	return s;
}

int vm__wait(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	while (!vm->stopping)
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	for (int i = 0; i < vcpus_made(vm); i++) {
		if (vm->vcpus[i].thread_started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].thread_started = false;
		}
	}
	serial__flush(&vm->serial);
	return vm->exit_code;
}

/* ---- guest reset ---- */

bool vm__reset_pending(struct vm *vm, char *why, size_t whylen)
{
	bool p;
	pthread_mutex_lock(&vm->lock);
	p = vm->reset_req;
	if (p && why && whylen)
		snprintf(why, whylen, "%s", vm->reset_why);
	pthread_mutex_unlock(&vm->lock);
	return p;
}

int vm__reset_begin(struct vm *vm)
{
	struct timespec ts;
	int r = 0;
	pthread_mutex_lock(&vm->lock);
	if (vm->stopping) {
		pthread_mutex_unlock(&vm->lock);
		return -1;
	}
	if (vm->pause_req || vm->resetting) {
		pthread_mutex_unlock(&vm->lock);
		return -EBUSY;
	}
	vm->resetting = true;
	vm->pause_req = true;
	vm->pause_start_ns = now__ns();
	while (vm->parked < vm->live && !vm->stopping) {
		kick_all(vm);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000;      /* re-kick after 50 us, as vm__pause */
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
	}
	if (vm->stopping) {
		vm->resetting = false;
		vm->pause_req = false;
		pthread_cond_broadcast(&vm->cond);
		r = -1;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void vm__reset_end(struct vm *vm, bool done)
{
	pthread_mutex_lock(&vm->lock);
	if (done) {
		vm->reset_req = false;
		vm->resets++;
	}
	vm->resetting = false;
	vm->pause_req = false;
	vm->last_pause_ns = now__ns() - vm->pause_start_ns;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

uint64_t vm__resets(struct vm *vm)
{
	uint64_t n;
	pthread_mutex_lock(&vm->lock);
	n = vm->resets;
	pthread_mutex_unlock(&vm->lock);
	return n;
}

/* All of guest RAM back to zeroes, as at launch: the memfd's pages are
 * dropped (KVM's view follows through its MMU notifier), or, where that is
 * refused, overwritten. */
static void zero_ram(struct vm *vm)
{
	if (vm->ram.fd >= 0 &&
	    fallocate(vm->ram.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)vm->ram.size) == 0)
		return;
	memset(vm->ram.hva, 0, vm->ram.size);
}

int vm__reboot(struct vm *vm, const char *path, const char *args, char *err, size_t errlen)
{
	void *img;
	size_t len;
	struct elf_image ei;
	char why[256];

	if (vm->cfg.cc != CC_NONE || vm->cc_open) {
		errbuf__set(err, errlen, "a confidential guest cannot be reset in place: it must be "
			   "launched again (the platform accepts no new measured code after LAUNCH_FINISH)");
		return -1;
	}
	/* RAM handed over by a handoff is this VM's alone once the old
	 * process has gone, so it is reset like RAM made here */
	if (!path || (vm->ram_at.kind != VM_RAM_OWNED && vm->ram_at.kind != VM_RAM_ADOPTED) ||
	    vm->ram_at.gpa != 0) {
		errbuf__set(err, errlen, "this process has no guest image to boot again (it arrived by "
			   "restore, migration or handoff without --reset-guest)");
		return -1;
	}
	for (int i = 0; i < vm->cfg.ncpus; i++) {
		if (!vm->vcpus[i].boot_state) {
			errbuf__set(err, errlen, "vCPU %d has no boot state to go back to", i);
			return -1;
		}
	}
	/* read the image before touching anything: a file that went away
	 * leaves the machine as it was, and the caller stops it */
	if (file__slurp(path, GUEST_MAX_IMAGE, &img, &len, err, errlen))
		return -1;
	zero_ram(vm);
	if (elf__load(img, len, vm->ram.hva, vm->ram.size, GUEST_LOAD_MIN, &ei, why, sizeof(why)) ||
	    multiboot__check(img, len, why, sizeof(why))) {
		errbuf__set(err, errlen, "guest %s: %s", path, why);
		free(img);
		return -1;
	}
	free(img);
	if (multiboot__write_info(vm->ram.hva, vm->ram.size, vm->cfg.ncpus, args, err, errlen))
		return -1;
	for (int i = 0; i < vm->cfg.ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (vcpu_state__restore(v->fd, v->boot_state, v->boot_state_len, why, sizeof(why))) {
			errbuf__set(err, errlen, "vCPU %d: cannot go back to its boot state: %s", i, why);
			return -1;
		}
		/* the image may have a new entry point (the file was replaced) */
		if (set_entry_state(v, ei.entry, err, errlen))
			return -1;
	}
	page_status__reset(&vm->ps);
	return 0;
}
