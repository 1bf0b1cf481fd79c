/* state.c - save a paused machine into records and apply records to a
 * freshly created one. Each component encodes itself (vcpu_state.c,
 * serial.c, page_status.c); this file only sequences them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "mem/page.h"
#include "util/log.h"
#include "vm/state.h"


int vm__save_config(struct vm *vm, struct rec_writer *w)
{
	struct tlv_buf b;
	uint64_t region[2] = { 0, vm->ram.size };
	int r;
	tlv__init(&b);
	tlv__put_u64(&b, CFG_MEM, REC_F_REQUIRED, vm->cfg.mem);
	tlv__put_u64(&b, CFG_NCPUS, REC_F_REQUIRED, (uint64_t)vm->cfg.ncpus);
	tlv__put_u64(&b, CFG_CC, REC_F_REQUIRED, (uint64_t)vm->cfg.cc);
	tlv__put_u64(&b, CFG_TSC_KHZ, 0, vm->tsc_khz);
	if (vm->cfg.cc_es)
		tlv__put_u64(&b, CFG_CC_ES, REC_F_REQUIRED, 1);
	/* the RAM layout: one region today, a list so it can grow */
	tlv__put(&b, CFG_RAM_REGIONS, REC_F_REQUIRED, region, sizeof(region));
	r = b.error ? b.error : rec__write(w, REC_VM_CONFIG, VM_CONFIG_VERSION, REC_F_REQUIRED, b.data, b.len);
	tlv__free(&b);
	return r;
}

int vm__config_from_record(uint16_t version, const void *p, size_t len, struct vm_config *cfg,
			   uint32_t *tsc_khz, char *err, size_t errlen)
{
	uint64_t mem, ncpus, cc, tsc = 0, es = 0;
	struct tlv_field f;
	char why[160];

	if (version != VM_CONFIG_VERSION) {
		errbuf__set(err, errlen, "VM_CONFIG version %u is not supported (this tern reads %d)",
			   version, VM_CONFIG_VERSION);
		return -1;
	}
	/* a field we do not know that the writer marked required means the
	 * machine needs something this tern cannot give it */
	static const uint16_t known[] = { CFG_MEM, CFG_NCPUS, CFG_CC, CFG_TSC_KHZ, CFG_RAM_REGIONS, CFG_CC_ES };
	if (tlv__validate(p, len, known, sizeof(known) / sizeof(known[0]), why, sizeof(why))) {
		errbuf__set(err, errlen, "VM config: %s", why);
		return -1;
	}
	if (tlv__get_u64(p, len, CFG_MEM, &mem) || tlv__get_u64(p, len, CFG_NCPUS, &ncpus) ||
	    tlv__get_u64(p, len, CFG_CC, &cc)) {
		errbuf__set(err, errlen, "VM config record lacks memory size, vCPU count or cc mode");
		return -1;
	}
	if (!tlv__find(p, len, CFG_RAM_REGIONS, &f) || f.len != 16) {
		errbuf__set(err, errlen, "VM config: RAM layout missing or not a single region");
		return -1;
	}
	uint64_t region[2];
	memcpy(region, f.val, sizeof(region));
	if (region[0] != 0 || region[1] != mem) {
		errbuf__set(err, errlen, "VM config: RAM region 0x%llx+0x%llx does not match size %llu",
			   (unsigned long long)region[0], (unsigned long long)region[1],
			   (unsigned long long)mem);
		return -1;
	}
	if (ncpus < 1 || ncpus > VM_MAX_VCPUS || cc > CC_SEV) {
		errbuf__set(err, errlen, "VM config: %llu vCPUs / cc mode %llu out of range",
			   (unsigned long long)ncpus, (unsigned long long)cc);
		return -1;
	}
	(void)tlv__get_u64(p, len, CFG_TSC_KHZ, &tsc);
	(void)tlv__get_u64(p, len, CFG_CC_ES, &es);
	if (es && cc == CC_NONE) {
		errbuf__set(err, errlen, "VM config: SEV-ES without a confidential platform");
		return -1;
	}
	cfg->cc_es = es != 0;
	cfg->mem = mem;
	cfg->ncpus = (int)ncpus;
	cfg->cc = (enum cc_mode)cc;
	*tsc_khz = (uint32_t)tsc;
	return 0;
}

/* SEV-ES: the host cannot read a launched vCPU's registers, so the record
 * says only where they are: in the vCPU's VMSA, which moves with the
 * encryption context (a handoff). On hardware the CPU wrote the VMSA at
 * the vCPU's last exit; the emulated platform has no such CPU, so here
 * the emulation does what the CPU would: the vCPU's whole state, as tern
 * would otherwise save it, goes into the platform's VMSA (cc vmsa_store). */
static int save_vmsa(struct vm *vm, struct rec_writer *w, int i, char *err, size_t errlen)
{
	struct vcpu *v = &vm->vcpus[i];
	struct tlv_buf b;
	uint32_t fw = 0;
	char e2[128];
	int r;

	if (vm->cfg.cc == CC_EMU) {
		tlv__init(&b);
		if (vcpu_state__save(v->fd, i, &vm->vscfg, v->cpuid, &b, err, errlen)) {
			tlv__free(&b);
			return -1;
		}
		r = b.error ? b.error : vm->cc.ops->vmsa_store(&vm->cc, i, b.data, b.len, &fw);
		tlv__free(&b);
		if (r) {
			errbuf__set(err, errlen, "vCPU %d: the platform did not take its VMSA: %s", i,
				   cc__strerror(r, fw, e2, sizeof(e2)));
			return -1;
		}
	}
	tlv__init(&b);
	tlv__put_u64(&b, VS_INDEX, REC_F_REQUIRED, (uint64_t)i);
	tlv__put_u64(&b, VS_VMSA, REC_F_REQUIRED, 1);
	r = b.error ? b.error : rec__write(w, REC_VCPU, VCPU_STATE_VERSION, REC_F_REQUIRED, b.data, b.len);
	tlv__free(&b);
	if (r) {
		errbuf__set(err, errlen, "writing state: %s", strerror(r < 0 ? -r : r));
		return -1;
	}
	return 0;
}

int vm__save_state(struct vm *vm, struct rec_writer *w, char *err, size_t errlen)
{
	void *buf = NULL;
	size_t len;
	struct tlv_buf b;
	int r;

	if (page_status__save(&vm->ps, &buf, &len)) {
		errbuf__set(err, errlen, "out of memory saving the page-status record");
		return -1;
	}
	r = rec__write(w, REC_PAGE_STATUS, 1, REC_F_REQUIRED, buf, len);
	free(buf);
	if (r)
		goto io;

	tlv__init(&b);
	serial__save(&vm->serial, &b);
	r = b.error ? b.error : rec__write(w, REC_DEV_SERIAL, SERIAL_STATE_VERSION, REC_F_REQUIRED, b.data, b.len);
	tlv__free(&b);
	if (r)
		goto io;

	/* guest-call counters: statistics only, so an older reader may skip them */
	tlv__init(&b);
	guest_call__save(&vm->gcall, &b);
	r = b.error ? b.error : rec__write(w, REC_DEV_GUESTCALL, GUEST_CALL_STATE_VERSION, 0, b.data, b.len);
	tlv__free(&b);
	if (r)
		goto io;

	for (int i = 0; i < vm->cfg.ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (vm->cc_open && vm->cc.vmsa_sealed) {
			if (save_vmsa(vm, w, i, err, errlen))
				return -1;
			continue;
		}
		tlv__init(&b);
		if (vcpu_state__save(v->fd, i, &vm->vscfg, v->cpuid, &b, err, errlen)) {
			tlv__free(&b);
			return -1;
		}
		r = rec__write(w, REC_VCPU, VCPU_STATE_VERSION, REC_F_REQUIRED, b.data, b.len);
		tlv__free(&b);
		if (r)
			goto io;
	}
	return 0;
io:
	errbuf__set(err, errlen, "writing state: %s", strerror(r < 0 ? -r : r));
	return -1;
}

static int load_ram(struct vm *vm, struct rec_reader *r, const struct rec_section_hdr *h,
		    struct vm_restore_progress *pr, char *err, size_t errlen)
{
	struct ram_run_hdr rh;
	uint8_t *buf;
	if (h->length < sizeof(rh) || h->length > sizeof(rh) + RAM_RUN_MAX_PAGES * PAGE_SIZE_4K) {
		errbuf__set(err, errlen, "RAM section of %llu bytes is malformed",
			   (unsigned long long)h->length);
		return -1;
	}
	buf = malloc(h->length);
	if (!buf) {
		errbuf__set(err, errlen, "out of memory");
		return -1;
	}
	/* verify the checksum before a byte reaches guest memory */
	if (rec__read_payload(r, buf, h->length)) {
		errbuf__set(err, errlen, "%s", r->err);
		free(buf);
		return -1;
	}
	memcpy(&rh, buf, sizeof(rh));
	if (rh.gpa % PAGE_SIZE_4K || rh.npages == 0 ||
	    h->length != sizeof(rh) + rh.npages * PAGE_SIZE_4K ||
	    !guest_ram__ptr(&vm->ram, rh.gpa, rh.npages * PAGE_SIZE_4K)) {
		errbuf__set(err, errlen, "RAM section 0x%llx+%llu pages does not fit guest RAM",
			   (unsigned long long)rh.gpa, (unsigned long long)rh.npages);
		free(buf);
		return -1;
	}
	memcpy(vm->ram.hva + rh.gpa, buf + sizeof(rh), rh.npages * PAGE_SIZE_4K);
	pr->ram_pages += rh.npages;
	free(buf);
	return 0;
}

static void *read_section(struct rec_reader *r, const struct rec_section_hdr *h, char *err, size_t errlen)
{
	void *p = malloc(h->length ? h->length : 1);
	if (!p) {
		errbuf__set(err, errlen, "out of memory reading a %s section", rec__type_name(h->type));
		return NULL;
	}
	if (rec__read_payload(r, p, h->length)) {
		errbuf__set(err, errlen, "%s", r->err);
		free(p);
		return NULL;
	}
	return p;
}

/* A vCPU's whole state (a REC_VCPU payload) onto vCPU v: its CPUID table
 * first, then the rest. why names the cause. */
static int apply_vcpu(struct vcpu *v, const void *p, size_t len, char *why, size_t whylen)
{
	struct kvm_cpuid2 *cpuid;
	if (vcpu_state__cpuid(p, len, &cpuid, why, whylen))
		return -1;
	if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0) {
		errbuf__set(why, whylen, "KVM refused the saved CPUID table: %s", strerror(errno));
		free(cpuid);
		return -1;
	}
	free(v->cpuid);
	v->cpuid = cpuid;
	return vcpu_state__restore(v->fd, p, len, why, whylen);
}

int vm__restore_vmsas(struct vm *vm, char *err, size_t errlen)
{
	char why[256], e2[128];
	uint32_t fw = 0;
	size_t total = 0;

	if (!vm->cc_open || !vm->cfg.cc_es) {
		errbuf__set(err, errlen, "not an SEV-ES guest: no VMSAs to restore");
		return -1;
	}
	for (int i = 0; i < vm->cfg.ncpus; i++) {
		void *p = NULL;
		size_t len = 0;
		int r = vm->cc.ops->vmsa_fetch(&vm->cc, i, &p, &len, &fw);
		if (r) {
			errbuf__set(err, errlen, "vCPU %d: the moved context gave no VMSA: %s", i,
				   cc__strerror(r, fw, e2, sizeof(e2)));
			return -1;
		}
		/* len 0: the CPU has it (hardware), nothing for the VMM to do */
		r = len ? apply_vcpu(&vm->vcpus[i], p, len, why, sizeof(why)) : 0;
		free(p);
		total += len;
		if (r) {
			errbuf__set(err, errlen, "vCPU %d: its VMSA from the platform: %s", i, why);
			return -1;
		}
	}
	vm->cc.vmsa_sealed = true;
	log__info("SEV-ES: %d vCPUs restored from the VMSAs that came with the context (%zu bytes)",
		  vm->cfg.ncpus, total);
	return 0;
}

static int load_vcpu(struct vm *vm, const void *p, size_t len, struct vm_restore_progress *pr,
		     char *err, size_t errlen)
{
	static const uint16_t known[] = { VS_INDEX, VS_REGS, VS_SREGS, VS_XSAVE, VS_XCRS, VS_MSRS,
					  VS_DEBUGREGS, VS_EVENTS, VS_MP_STATE, VS_CPUID, VS_VMSA };
	uint64_t idx, in_vmsa = 0;
	char why[256];
	if (tlv__validate(p, len, known, sizeof(known) / sizeof(known[0]), why, sizeof(why))) {
		errbuf__set(err, errlen, "vCPU record: %s", why);
		return -1;
	}
	if (tlv__get_u64(p, len, VS_INDEX, &idx) || idx >= (uint64_t)vm->cfg.ncpus) {
		errbuf__set(err, errlen, "vCPU record has no or a bad index");
		return -1;
	}
	struct vcpu *v = &vm->vcpus[idx];
	if (pr->vcpu_mask & (1u << idx)) {
		errbuf__set(err, errlen, "vCPU %llu appears twice in the state", (unsigned long long)idx);
		return -1;
	}
	(void)tlv__get_u64(p, len, VS_VMSA, &in_vmsa);
	if (in_vmsa != !!vm->cfg.cc_es) {
		/* an SEV-ES vCPU's registers travel only in its VMSA, and only
		 * an SEV-ES guest has one */
		errbuf__set(err, errlen, in_vmsa ? "vCPU %llu's state is in an SEV-ES VMSA, which only "
			   "moves with the encryption context (handoff), but this VM is not an SEV-ES guest"
			   : "vCPU %llu of this SEV-ES guest arrived with its registers in the clear: they "
			   "travel only in its VMSA", (unsigned long long)idx);
		return -1;
	}
	if (in_vmsa) {
		pr->vcpus_in_vmsa++;
	} else if (apply_vcpu(v, p, len, why, sizeof(why))) {
		goto fail;
	}
	pr->vcpus_restored++;
	pr->vcpu_mask |= 1u << idx;
	return 0;
fail:
	errbuf__set(err, errlen, "vCPU %llu: %s", (unsigned long long)idx, why);
	return -1;
}

int vm__load_section(struct vm *vm, struct rec_reader *r, const struct rec_section_hdr *h,
		     struct vm_restore_progress *pr, char *err, size_t errlen)
{
	void *p;
	int ret = -1;

	/* every section this tern reads: the payload version it understands,
	 * and whether a second copy is an error (one machine, one of each) */
	static const struct { uint32_t type; uint16_t version; } known[] = {
		{ REC_RAM, 1 }, { REC_PAGE_STATUS, 1 }, { REC_DEV_SERIAL, SERIAL_STATE_VERSION },
		{ REC_DEV_GUESTCALL, GUEST_CALL_STATE_VERSION }, { REC_VCPU, VCPU_STATE_VERSION },
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (known[i].type == h->type && known[i].version != h->version) {
			errbuf__set(err, errlen, "%s section version %u is not supported (this tern reads %u)",
				   rec__type_name(h->type), h->version, known[i].version);
			return -1;
		}
	}
	if ((h->type == REC_PAGE_STATUS && pr->page_status) || (h->type == REC_DEV_SERIAL && pr->serial) ||
	    (h->type == REC_DEV_GUESTCALL && pr->guestcall) || h->type == REC_VM_CONFIG) {
		errbuf__set(err, errlen, "the state has two %s sections", rec__type_name(h->type));
		return -1;
	}
	if (h->type == REC_RAM)
		return load_ram(vm, r, h, pr, err, errlen);

	switch (h->type) {
	case REC_PAGE_STATUS:
	case REC_DEV_SERIAL:
	case REC_DEV_GUESTCALL:
	case REC_VCPU:
		break;
	default:
		if (rec__skip_unknown(r)) {
			errbuf__set(err, errlen, "%s", r->err);
			return -1;
		}
		return 0;
	}
	if (!(p = read_section(r, h, err, errlen)))
		return -1;
	switch (h->type) {
	case REC_PAGE_STATUS:
		ret = page_status__load(&vm->ps, p, h->length, err, errlen);
		pr->page_status = ret == 0;
		break;
	case REC_DEV_SERIAL:
		ret = serial__load(&vm->serial, p, h->length, err, errlen);
		pr->serial = ret == 0;
		break;
	case REC_DEV_GUESTCALL:
		ret = guest_call__load(&vm->gcall, p, h->length, err, errlen);
		pr->guestcall = ret == 0;
		break;
	case REC_VCPU:
		ret = load_vcpu(vm, p, h->length, pr, err, errlen);
		break;
	}
	free(p);
	return ret;
}

int vm__restore_complete(struct vm *vm, const struct vm_restore_progress *pr,
			 char *err, size_t errlen)
{
	if (pr->vcpus_restored != vm->cfg.ncpus) {
		errbuf__set(err, errlen, "state has %d of %d vCPUs", pr->vcpus_restored, vm->cfg.ncpus);
		return -1;
	}
	if (pr->vcpus_in_vmsa && vm->cc_role != VM_CC_ADOPT_MOVE && vm->cc_role != VM_CC_ADOPT_TOKEN) {
		errbuf__set(err, errlen, "the vCPUs' state is in SEV-ES VMSAs, which only a handoff's "
			   "moved encryption context brings");
		return -1;
	}
	if (!pr->page_status || !pr->serial) {
		errbuf__set(err, errlen, "state lacks the %s record",
			   !pr->page_status ? "page-status" : "serial device");
		return -1;
	}
	return 0;
}
