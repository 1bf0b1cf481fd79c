/* state.h - a machine's state as records (docs/state-format.md): the same
 * sections go into snapshot files, handoff and live-migration streams. */
#ifndef TERN_VM_STATE_H
#define TERN_VM_STATE_H

#include "state/record.h"
#include "vm/vm.h"

#define VM_CONFIG_VERSION  1
#define RAM_RUN_MAX_PAGES  256        /* one REC_RAM section carries at most 1 MiB */

/* tlv ids in REC_VM_CONFIG */
enum { CFG_MEM = 1, CFG_NCPUS = 2, CFG_CC = 3, CFG_TSC_KHZ = 4, CFG_RAM_REGIONS = 5,
       CFG_CC_ES = 6 /* u64 1, marked required: an SEV-ES guest (older readers refuse it) */ };

/* REC_RAM payload header, followed by npages * 4096 bytes */
struct ram_run_hdr {
	uint64_t gpa;
	uint64_t npages;
};

int vm__save_config(struct vm *vm, struct rec_writer *w);
int vm__config_from_record(uint16_t version, const void *p, size_t len, struct vm_config *cfg,
			   uint32_t *tsc_khz, char *err, size_t errlen);
/* Page status, devices and every vCPU. The VM must be paused. */
int vm__save_state(struct vm *vm, struct rec_writer *w, char *err, size_t errlen);
/* RAM is written by snapshot_ram.h (snapshots) and the migration code. */

/* Apply one section whose header rec__next just returned. Unknown optional
 * sections are skipped, unknown required ones refused. Returns 0 or -1. */
struct vm_restore_progress {
	int  vcpus_restored;
	uint32_t vcpu_mask;              /* which indices were seen (duplicates refused) */
	bool page_status, serial, guestcall;
	uint64_t ram_pages;
	int  vcpus_in_vmsa;               /* SEV-ES: vCPUs whose state is in the platform's VMSA */
};
int vm__load_section(struct vm *vm, struct rec_reader *r, const struct rec_section_hdr *h,
		     struct vm_restore_progress *pr, char *err, size_t errlen);
/* SEV-ES, after the encryption context moved in (handoff): every vCPU
 * from the VMSA the context brought (cc vmsa_fetch; on hardware the CPU
 * has it already). Returns 0 or -1 with err set. */
int vm__restore_vmsas(struct vm *vm, char *err, size_t errlen);
/* After END: check nothing required was missing. */
int vm__restore_complete(struct vm *vm, const struct vm_restore_progress *pr,
			 char *err, size_t errlen);

#endif
