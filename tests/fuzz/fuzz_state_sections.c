/* fuzz_state_sections.c - libFuzzer target for the readers of saved-state
 * section payloads that need no KVM: the VM_CONFIG reader
 * (vm__config_from_record), the serial device's (serial__load) and the CPUID
 * table of a vCPU record (vcpu_state__cpuid). Their payloads arrive from a
 * migration source, a handing-off process or a snapshot file.
 *
 * Input: one mode byte, then the section payload.
 *   mode % 3 == 0: VM_CONFIG; mode bit 7 makes the version the next byte
 *                  (else VM_CONFIG_VERSION, so most runs get past it).
 *   mode % 3 == 1: serial device state, into a fresh device.
 *   mode % 3 == 2: the CPUID table of a vCPU record.
 *   mode & 0x40 (and bit 7 clear): a snapshot's RAM_INDEX (ram_index__parse,
 *                  then ram_map__index_check against a fixed map of a
 *                  64-page guest with three overlapping sections).
 *
 * Seeds: TERN_FUZZ_SEEDS=DIR build-fuzz/fuzz/fuzz_state_sections writes the
 * committed seeds (tests/fuzz/corpus/state_sections/) with tern's writers
 * and exits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev/serial.h"
#include "kvm/vcpu_state.h"
#include "state/ram_map.h"
#include "state/record.h"
#include "vm/state.h"
#include "fuzz_seeds.h"

static void vm_config(const uint8_t *p, size_t len, uint16_t version)
{
	struct vm_config cfg = { .serial_fd = -1 };
	uint32_t tsc = 0;
	char err[256] = "";

	if (vm__config_from_record(version, p, len, &cfg, &tsc, err, sizeof(err)) == 0) {
		/* what vm__create is then given must be in range */
		if (cfg.ncpus < 1 || cfg.ncpus > VM_MAX_VCPUS || cfg.cc > CC_SEV)
			abort();
	} else if (!err[0]) {
		abort();
	}
}

static void serial(const uint8_t *p, size_t len)
{
	struct serial s;
	char err[256] = "";

	serial__init(&s, -1);                 /* no console: nothing is written anywhere */
	if (serial__load(&s, p, len, err, sizeof(err)) == 0) {
		if (s.linelen >= sizeof(s.line) || (s.ier & 0xf0) || (s.mcr & 0xe0) || (s.fcr & 0x30))
			abort();
		/* the guest then reads every register of the loaded device */
		for (uint16_t off = 0; off < SERIAL_PORTS; off++) {
			uint8_t v = 0;
			serial__io(&s, off, false, &v);
		}
	} else if (!err[0]) {
		abort();
	}
	serial__destroy(&s);
}

static void cpuid(const uint8_t *p, size_t len)
{
	struct kvm_cpuid2 *c = NULL;
	char err[256] = "";

	if (vcpu_state__cpuid(p, len, &c, err, sizeof(err)) == 0) {
		if (!c || !c->nent || c->nent * sizeof(c->entries[0]) > len)
			abort();
		free(c);
	} else if (!err[0] || c) {
		abort();
	}
}

/* The map the index is checked against: sections at 100, 200, 300 over a
 * 64-page guest, the later ones covering part of the earlier ones. */
static int fixed_map(struct ram_map *m)
{
	char err[256];
	if (ram_map__init(m, 64) || ram_map__add(m, 100, 0, 32, err, sizeof(err)) ||
	    ram_map__add(m, 200, 8, 4, err, sizeof(err)) || ram_map__add(m, 300, 40, 8, err, sizeof(err)))
		return -1;
	ram_map__finish(m);
	return 0;
}

static void ram_index(const uint8_t *p, size_t len)
{
	const struct ram_index_run *runs;
	struct ram_map m;
	char err[256] = "";

	int64_t n = ram_index__parse(p, len, 64, 24, &runs, err, sizeof(err));
	if (n >= 0) {
		uint64_t next = 0;
		for (int64_t i = 0; i < n; i++) {
			struct ram_index_run r;
			memcpy(&r, (const uint8_t *)runs + i * sizeof(r), sizeof(r));
			if (!r.npages || r.pfn < next || r.pfn + r.npages > 64 || r.off < 24)
				abort();
			next = r.pfn + r.npages;
		}
	} else if (!err[0]) {
		abort();
	}
	if (fixed_map(&m))
		abort();
	err[0] = 0;
	if (ram_map__index_check(&m, p, len, err, sizeof(err)) && !err[0])
		abort();
	/* the writer's own encoding always passes */
	void *enc;
	size_t elen;
	if (ram_map__index_encode(&m, &enc, &elen) || ram_map__index_check(&m, enc, elen, err, sizeof(err)))
		abort();
	free(enc);
	ram_map__free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t version = VM_CONFIG_VERSION;
	const uint8_t *p = data + 1;
	size_t len = size - 1;
	uint8_t *copy;

	if (size < 1)
		return 0;
	if (data[0] % 3 == 0 && (data[0] & 0x80)) {
		if (len < 1)
			return 0;
		version = p[0];
		p++;
		len--;
	}
	/* exact size, so ASan sees a read past the payload */
	copy = malloc(len ? len : 1);
	if (!copy)
		abort();
	memcpy(copy, p, len);
	if ((data[0] & 0xc0) == 0x40) {
		ram_index(copy, len);
		free(copy);
		return 0;
	}
	switch (data[0] % 3) {
	case 0:
		vm_config(copy, len, version);
		break;
	case 1:
		serial(copy, len);
		break;
	case 2:
		cpuid(copy, len);
		break;
	}
	free(copy);
	return 0;
}

/* ---- seeds ----------------------------------------------------------- */

static void save(const char *dir, const char *name, uint8_t mode, const struct tlv_buf *b)
{
	if (b->error)
		exit(1);
	fuzz_seed__save(dir, name, mode, b->data, b->len);
}

/* A VM_CONFIG payload with the fields vm__save_config writes. */
static void cfg_seed(const char *dir, const char *name, uint64_t mem, uint64_t ncpus, uint64_t cc,
		     uint64_t region_size, int extra_required)
{
	uint64_t region[2] = { 0, region_size };
	struct tlv_buf b;
	tlv__init(&b);
	tlv__put_u64(&b, CFG_MEM, REC_F_REQUIRED, mem);
	tlv__put_u64(&b, CFG_NCPUS, REC_F_REQUIRED, ncpus);
	tlv__put_u64(&b, CFG_CC, REC_F_REQUIRED, cc);
	tlv__put_u64(&b, CFG_TSC_KHZ, 0, 2100000);
	tlv__put(&b, CFG_RAM_REGIONS, REC_F_REQUIRED, region, sizeof(region));
	if (extra_required)
		tlv__put_u64(&b, CFG_RAM_REGIONS + 1, REC_F_REQUIRED, 1);
	save(dir, name, 0, &b);
	tlv__free(&b);
}

static void serial_seed(const char *dir, const char *name, const char *pending, uint8_t ier)
{
	struct serial s;
	struct tlv_buf b;
	serial__init(&s, -1);
	s.ier = ier;
	s.lcr = 0x03;
	s.mcr = 0x0b;
	s.fcr = 0xc1;
	s.dll = 1;
	s.linelen = strlen(pending);
	memcpy(s.line, pending, s.linelen);
	s.bytes = 4242;
	tlv__init(&b);
	if (serial__save(&s, &b))
		exit(1);
	s.linelen = 0;
	serial__destroy(&s);
	save(dir, name, 1, &b);
	tlv__free(&b);
}

static void cpuid_seed(const char *dir, const char *name, int nent, size_t cut)
{
	struct kvm_cpuid_entry2 e[3] = {
		{ .function = 0, .eax = 0xd, .ebx = 0x68747541 },
		{ .function = 1, .eax = 0x800f12, .ecx = 0x80000000 },
		{ .function = 7, .index = 0, .flags = 1, .ebx = 0x209 },
	};
	struct tlv_buf b;
	tlv__init(&b);
	tlv__put_u64(&b, VS_INDEX, REC_F_REQUIRED, 0);  /* as a vCPU record starts */
	tlv__put(&b, VS_CPUID, REC_F_REQUIRED, e, nent * sizeof(e[0]) - cut);
	save(dir, name, 2, &b);
	tlv__free(&b);
}

static void index_seeds(const char *dir)
{
	struct ram_map m;
	void *enc;
	size_t len;
	if (fixed_map(&m) || ram_map__index_encode(&m, &enc, &len))
		exit(1);
	fuzz_seed__save(dir, "index_good", 0x40, enc, len);
	fuzz_seed__save(dir, "index_cut", 0x40, enc, len - 8);
	uint64_t *w = enc;
	if (w[1] >= 2) {                  /* first two runs swapped: out of order */
		uint64_t t[3];
		memcpy(t, w + 2, sizeof(t));
		memcpy(w + 2, w + 5, sizeof(t));
		memcpy(w + 5, t, sizeof(t));
		fuzz_seed__save(dir, "index_unsorted", 0x40, enc, len);
	}
	free(enc);
	ram_map__free(&m);
}

static void write_seeds(const char *dir)
{
	index_seeds(dir);
	struct tlv_buf none;
	/* VM_CONFIG: accepted plain and SEV; refused shapes */
	cfg_seed(dir, "cfg_plain", 256 << 20, 2, 0, 256 << 20, 0);
	cfg_seed(dir, "cfg_sev", 1ull << 30, 4, 2, 1ull << 30, 0);
	cfg_seed(dir, "cfg_region_mismatch", 256 << 20, 2, 0, 128 << 20, 0);
	cfg_seed(dir, "cfg_no_cpus", 256 << 20, 0, 0, 256 << 20, 0);
	cfg_seed(dir, "cfg_unknown_required", 256 << 20, 2, 0, 256 << 20, 1);
	/* serial: a quiet device, one with a pending line, reserved bits */
	serial_seed(dir, "serial_idle", "", 0);
	serial_seed(dir, "serial_pending", "tern: booting", 0x01);
	serial_seed(dir, "serial_reserved", "", 0xf1);
	/* CPUID: a table, a partial entry, an empty one, none */
	cpuid_seed(dir, "cpuid_three", 3, 0);
	cpuid_seed(dir, "cpuid_partial", 2, 4);
	cpuid_seed(dir, "cpuid_empty", 1, sizeof(struct kvm_cpuid_entry2));
	tlv__init(&none);
	save(dir, "cpuid_none", 2, &none);
	save(dir, "empty_config", 0, &none);
}

FUZZ_SEEDS_MODE(write_seeds)
