/* vm.h - a machine: KVM VM, guest RAM, vCPU threads, devices, and the
 * pause/resume/stop protocol every migration path builds on.
 *
 * A process may hold several machines (a guest and its mirror VM): nothing
 * here is process-global. Each has its own KVM VM, vCPUs, exit handlers and
 * memslots; two may share one guest RAM (vm__attach_ram_borrowed). */
#ifndef TERN_VM_VM_H
#define TERN_VM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cc/cc.h"
#include "dev/exits.h"
#include "dev/guest_call.h"
#include "dev/reset.h"
#include "dev/serial.h"
#include "kvm/dirty.h"
#include "kvm/kvm.h"
#include "kvm/vcpu_state.h"
#include "mem/guest_ram.h"
#include "mem/page_status.h"

#define VM_MAX_VCPUS 16               /* what the test guest runtime supports */
#define VM_MIN_MEM   (64ULL << 20)
#define VM_MEM_ALIGN (2ULL << 20)

/* Process exit codes of `tern run` (besides the guest's own exit status). */
#define EXIT_GUEST_CRASH 3            /* triple fault, internal error, dead vCPU */

enum cc_mode { CC_NONE = 0, CC_EMU = 1, CC_SEV = 2 };

/* How a VM that arrives with its RAM already written (a handoff target)
 * maps that RAM before the guest needs it (vm__prefault_start). */
enum vm_prefault {
	VM_PREFAULT_AUTO = 0,             /* KVM_PRE_FAULT_MEMORY where offered, else populate */
	VM_PREFAULT_POPULATE,             /* this process's page tables only (MADV_POPULATE_WRITE) */
	VM_PREFAULT_OFF,                  /* none: the guest faults every page in on first touch */
};

/* What the machine is: its size and platform. How it is put together (whose
 * RAM, which confidential role) is not configuration but the steps the
 * caller takes (vm__attach_ram_*, vm__cc_role). */
struct vm_config {
	uint64_t mem;                     /* bytes */
	uint64_t max_mem;                 /* receivers: refuse a CONFIG asking for more (0: no limit) */
	int      ncpus;
	enum cc_mode cc;
	bool     cc_es;                   /* SEV-ES (policy bit 2): vCPU state in VMSAs */
	int      serial_fd;               /* where the console goes */
	const char *psp_socket;           /* cc emu: tern-psp's socket (NULL: default) */
	uint32_t dirty_ring;              /* entries per vCPU dirty ring (power of 2), 0: none;
					   * KVM allows it only before vCPUs exist (kvm/dirty.h) */
	enum vm_prefault prefault;        /* local, never sent: --prefault */
};

/* The background pre-fault of a VM's RAM (vm/prefault.c). */
struct vm_prefault_run {
	pthread_t        thread;
	bool             started;
	pthread_mutex_t  lock;
	pthread_cond_t   cond;
	bool             done;            /* under lock */
	bool             stop;            /* under lock: give up at the next chunk */
	const char      *how;             /* "KVM_PRE_FAULT_MEMORY", "MADV_POPULATE_WRITE" */
	uint64_t         bytes;           /* mapped so far */
	uint64_t         ns;              /* how long it took */
	int              err;             /* -errno of the first failure, 0 */
};

/* Where this VM's guest RAM comes from. */
enum vm_ram_kind {
	VM_RAM_NONE = 0,                  /* not attached yet */
	VM_RAM_OWNED,                     /* a new memfd, made by this VM */
	VM_RAM_ADOPTED,                   /* a memfd handed over by another process (handoff) */
	VM_RAM_BORROWED,                  /* another VM's RAM in this process (a mirror's view):
					   * its memfd mapped again (this VM's own view, which
					   * post-copy's userfaultfd on the lender's does not
					   * cover), the memfd never closed by it */
};

/* The RAM attachment: the memfd mapping (ram) plus where this VM's KVM sees
 * it. Kept per VM because a mirror maps the same memfd at its own slot and
 * GPA; nothing may assume slot 0 at GPA 0. */
struct vm_ram_at {
	enum vm_ram_kind kind;
	uint32_t slot;                    /* KVM memslot id */
	uint64_t gpa;                     /* guest-physical base of ram */
};

/* The primary VM's RAM: one region, all of it, at GPA 0 (the layout the
 * VM_CONFIG record describes). */
#define VM_RAM_SLOT_MAIN 0
#define VM_RAM_GPA_MAIN  0

/* A VM's part in its confidential context (cfg.cc != CC_NONE). */
enum vm_cc_role {
	VM_CC_OWNER,                      /* INIT, register RAM; vm__load_guest launches it */
	VM_CC_RECEIVER,                   /* INIT, register RAM; the context arrives by RECEIVE_* */
	VM_CC_ADOPT_MOVE,                 /* open the platform only: the context, with its
					   * regions, arrives by MOVE (handoff) */
	VM_CC_ADOPT_TOKEN,                /* INIT, no regions: the context staged by LOCAL_SEND
					   * arrives by LOCAL_RECEIVE and brings them */
	VM_CC_MIRROR,                     /* another VM's context, shared by
					   * COPY_ENC_CONTEXT_FROM: no INIT, no regions */
};

struct vcpu {
	struct vm *vm;
	int        index;
	int        fd;
	struct kvm_run *run;
	struct kvm_cpuid2 *cpuid;         /* what this vCPU was given (saved in records) */
	pthread_t  thread;
	bool       thread_started;
	bool       exited;            /* left its loop: no more kicks (under vm->lock) */
	uint32_t   dirty_fetch;       /* dirty ring: next entry to harvest; kept here, not in
				       * the tracker, since KVM's indices never go back */
	void      *boot_state;        /* the vCPU as vm__load_guest left it, or at power-on
				       * for a VM that arrived (a REC_VCPU payload), for a
				       * guest reset; NULL: none kept */
	size_t     boot_state_len;
};

struct vm_stats {                     /* updated by vCPU threads with atomics */
	uint64_t exits_io, exits_mmio, exits_hypercall, exits_msr, exits_intr;
	uint64_t unknown_port;
	uint64_t guest_calls;             /* counted by the guest-call device (gcall.calls) */
};

struct vm {
	struct vm_config cfg;
	struct kvm_sys   kvm;
	int              fd;              /* the KVM VM */
	struct guest_ram ram;             /* borrowed: the lender's mapping, not ours */
	struct vm_ram_at ram_at;
	struct vcpu     *vcpus;
	struct kvm_cpuid2 *cpuid;         /* base table, before per-vCPU APIC ids */
	struct vcpu_state_cfg vscfg;
	uint32_t         tsc_khz;
	bool             hypercall_exit;  /* KVM_CAP_EXIT_HYPERCALL enabled for MAP_GPA_RANGE */
	uint32_t         dirty_ring;      /* ring entries KVM accepted, 0: none (log mode only) */
	int              dirty_ring_err;  /* -errno if cfg.dirty_ring was asked for and refused */

	struct cc          cc;            /* confidential platform (cfg.cc != CC_NONE) */
	bool               cc_open;
	enum vm_cc_role    cc_role;

	struct page_status ps;
	struct serial      serial;
	struct guest_call  gcall;
	struct reset_dev   reset;         /* ports 0xCF9 and 0x64 */
	struct vm_stats    stats;
	struct exits       exits;         /* this VM's port, hypercall and MSR handlers */

	pthread_mutex_t  lock;            /* protects everything below */
	pthread_cond_t   cond;
	bool             started;
	bool             pause_req;
	int              parked;          /* vCPU threads parked for a pause */
	int              live;            /* vCPU threads still running their loop */
	bool             stopping;
	int              exit_code;
	char             stop_reason[512];
	uint64_t         start_ns;
	uint64_t         last_pause_ns;   /* duration of the last pause-to-resume window */
	uint64_t         pause_start_ns;  /* when the current pause was asked for */
	struct dirty_tracker *dirty;      /* running dirty tracker, for ring-full exits
					   * (set and cleared by kvm/dirty.c under lock) */
	bool             reset_req;       /* the guest asked for a reset, not yet done */
	char             reset_why[96];   /* ...how (the first request's) */
	bool             resetting;       /* vm__reset_begin holds the pause: other pausers wait */
	uint64_t         resets;          /* resets done (status "resets") */
	struct vm_prefault_run prefault;  /* its own lock */
	_Atomic bool     ram_loading;     /* a lazy restore is still loading guest RAM: what is
					   * not loaded yet is not in the memfd, so nothing may
					   * read RAM to save or move it (snapshot_lazy.c) */
};

/* Building a machine, in this order:
 *   vm__init            the KVM VM, an empty exit table;
 *   vm__add_guest_devices  a guest's devices (console, guest calls, the
 *                       migration-control MSR) in its table; a mirror VM
 *                       registers the helper's doorbell instead (mirror/);
 *   vm__attach_ram_*    guest RAM: owned, given, adopted or borrowed, at a slot and GPA;
 *   vm__setup_caps      KVM capabilities (MSR exits, hypercall exit, dirty ring);
 *   vm__cc_role         the confidential context's part (no-op for cc none);
 *   vm__create_vcpus    the vCPUs (the dirty ring and the cc role must come first).
 * Each returns 0 or -1 with err set; after any of them fails, vm__destroy
 * cleans up whatever was built. vm__create is the common sequence. */
int  vm__init(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen);
int  vm__add_guest_devices(struct vm *vm, char *err, size_t errlen);
/* A new memfd of cfg.mem bytes. */
int  vm__attach_ram_owned(struct vm *vm, uint32_t slot, uint64_t gpa, char *err, size_t errlen);
/* RAM this process made and mapped already (mem/ram_prep.h: provisioned
 * while a destination waited); the VM takes it, also on failure. */
int  vm__attach_ram_given(struct vm *vm, const struct guest_ram *ram, uint32_t slot, uint64_t gpa,
			  char *err, size_t errlen);
/* A memfd from another process; the VM takes the fd, also on failure. */
int  vm__attach_ram_adopted(struct vm *vm, int memfd, uint32_t slot, uint64_t gpa,
			    char *err, size_t errlen);
/* lender's RAM, mapped into this VM's own memslot. The lender must outlive
 * this VM and have the same size of RAM as cfg.mem. */
int  vm__attach_ram_borrowed(struct vm *vm, const struct vm *lender, uint32_t slot, uint64_t gpa,
			     char *err, size_t errlen);
int  vm__setup_caps(struct vm *vm, char *err, size_t errlen);
/* from: the VM whose context a mirror copies (VM_CC_MIRROR only). */
int  vm__cc_role(struct vm *vm, enum vm_cc_role role, struct vm *from, char *err, size_t errlen);
int  vm__create_vcpus(struct vm *vm, char *err, size_t errlen);
/* A new VM with its own RAM (slot 0, GPA 0), owner of its context:
 * `tern run` booting a guest, a snapshot restore. */
int  vm__create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen);
void vm__destroy(struct vm *vm);

/* Register a port range in this VM's exit table (dev/exits.h). Before
 * vm__start only: the table is read without a lock. 0 or -errno. */
int  vm__register_port(struct vm *vm, uint16_t base, uint16_t len, exit_port_fn fn, void *ctx);

/* Host address of guest-physical [gpa, gpa+len) in this VM's view, or NULL
 * if any of it is outside its RAM. */
void *vm__gpa_ptr(const struct vm *vm, uint64_t gpa, uint64_t len);

/* Start dirty tracking of guest RAM (kvm/dirty.h dirty__start), with this
 * VM's memslot, vCPUs, rings and lock. Returns 0 or -1 with err set. */
int  vm__dirty_start(struct vm *vm, struct dirty_tracker *t, enum dirty_mode mode,
		     char *err, size_t errlen);

/* Load a multiboot guest ELF and set every vCPU to its entry state; with
 * helper (a helper.elf path, confidential VMs only), also build the
 * migration helper's region (mirror/region.h). A confidential VM is
 * launched too: LAUNCH_START (with the owner's session, if any),
 * LAUNCH_UPDATE_DATA over the loaded image, the boot information and the
 * helper's measured region, LAUNCH_MEASURE; vm->cc.m holds the
 * measurement afterwards. */
int  vm__load_guest(struct vm *vm, const char *path, const char *args, const char *helper,
		    const struct cc_launch *launch, char *err, size_t errlen);
/* Confidential launch, after the measurement: inject the owner's secret
 * packet (a file made by `tern owner secret`) at GPA 0x6000, and the
 * owner's helper key (`tern owner helper-key`) in the helper's key slot,
 * each with LAUNCH_SECRET; then LAUNCH_FINISH. */
int  vm__cc_secret(struct vm *vm, const char *packet_file, char *err, size_t errlen);
int  vm__cc_helper_key(struct vm *vm, const char *packet_file, char *err, size_t errlen);
int  vm__cc_finish(struct vm *vm, char *err, size_t errlen);

/* Pre-fault guest RAM that is already allocated (the memfd's data ranges)
 * in a background thread, so the guest's first touches after a handoff
 * find it mapped: with KVM_PRE_FAULT_MEMORY through vCPU 0 where the
 * kernel offers it (TDP hosts), else this process's page tables with
 * MADV_POPULATE_WRITE, which spares the guest the host half of each fault.
 * After vm__create_vcpus; the guest may run (in this VM or another
 * process) meanwhile: nothing is written. cfg.prefault chooses; OFF does
 * nothing. vm__prefault_wait waits up to timeout_ms for it to finish
 * (true: finished); vm__destroy stops and joins it. */
void vm__prefault_start(struct vm *vm);
bool vm__prefault_wait(struct vm *vm, unsigned timeout_ms);
void vm__prefault_stop(struct vm *vm);

/* Start the vCPU threads. */
int  vm__start(struct vm *vm, char *err, size_t errlen);
/* Park every vCPU with its in-flight exit completed, so its state can be
 * read. Returns 0, or -1 if the VM stopped meanwhile. Nests: no. */
int  vm__pause(struct vm *vm);
void vm__resume(struct vm *vm);
bool vm__paused(struct vm *vm);
/* Ask the VM to stop; the first reason wins. Safe from any thread. */
void vm__stop(struct vm *vm, int exit_code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Wait until the VM stopped and its threads are gone; returns the exit code. */
int  vm__wait(struct vm *vm);
bool vm__stopping(struct vm *vm);

/* Guest reset (ports 0xCF9, 0x64; dev/reset.h). The device only records
 * the request, on the vCPU thread; another thread (tern run's main loop)
 * carries it out:
 *   vm__reset_pending   true (with how, in why) while a request waits;
 *   vm__reset_begin     park every vCPU for the reset. 0; -EBUSY if the VM
 *                       is already paused by someone else (a move's switch-
 *                       over, a snapshot, `pause`): try again later; -1 if
 *                       it is stopping. While the reset holds the pause,
 *                       vm__pause waits and vm__paused says false;
 *   vm__reboot          with the VM so parked: guest RAM zeroed, the ELF at
 *                       path loaded again and the boot information (args)
 *                       written again, every vCPU back to the state
 *                       vm__load_guest left it in, the page-status record
 *                       and migration-control bit back to their launch
 *                       values. A plain VM booted by vm__load_guest only:
 *                       -1 with err otherwise;
 *   vm__reset_end       resume; done: the request is consumed and counted
 *                       (else it stays pending). */
bool vm__reset_pending(struct vm *vm, char *why, size_t whylen);
int  vm__reset_begin(struct vm *vm);
int  vm__reboot(struct vm *vm, const char *path, const char *args, char *err, size_t errlen);
void vm__reset_end(struct vm *vm, bool done);
uint64_t vm__resets(struct vm *vm);

/* The vCPU thread body (vcpu_loop.c). */
void *vcpu__thread(void *arg);
/* Install the signal used to kick vCPUs out of KVM_RUN. */
void vcpu__init_signals(void);
#define VCPU_KICK_SIGNAL SIGUSR1

#endif
