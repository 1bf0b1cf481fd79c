/* vm.h - a machine: KVM VM, guest RAM, vCPU threads, devices, and the
 * pause/resume/stop protocol every migration path builds on. */
#ifndef TERN_VM_VM_H
#define TERN_VM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cc/cc.h"
#include "dev/guest_call.h"
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

struct vm_config {
	uint64_t mem;                     /* bytes */
	uint64_t max_mem;                 /* receivers: refuse a CONFIG asking for more (0: no limit) */
	int      ncpus;
	enum cc_mode cc;
	int      serial_fd;               /* where the console goes */
	const char *psp_socket;           /* cc emu: tern-psp's socket (NULL: default) */
	bool     adopt_ram;               /* handoff: map ram_fd instead of a new memfd */
	int      ram_fd;
	bool     cc_takeover;             /* handoff: connect the platform, but the context
					   * arrives by MOVE/LOCAL_RECEIVE, not by INIT */
	bool     cc_token;                /* ... by LOCAL_RECEIVE: INIT first, no regions */
	uint32_t dirty_ring;              /* entries per vCPU dirty ring (power of 2), 0: none;
					   * KVM allows it only before vCPUs exist (kvm/dirty.h) */
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
};

struct vm_stats {                     /* updated by vCPU threads with atomics */
	uint64_t exits_io, exits_mmio, exits_hypercall, exits_msr, exits_intr;
	uint64_t unknown_port;
	uint64_t guest_calls;
};

struct vm {
	struct vm_config cfg;
	struct kvm_sys   kvm;
	int              fd;              /* the KVM VM */
	struct guest_ram ram;
	struct vcpu     *vcpus;
	struct kvm_cpuid2 *cpuid;         /* base table, before per-vCPU APIC ids */
	struct vcpu_state_cfg vscfg;
	uint32_t         tsc_khz;
	bool             hypercall_exit;  /* KVM_CAP_EXIT_HYPERCALL enabled for MAP_GPA_RANGE */
	uint32_t         dirty_ring;      /* ring entries KVM accepted, 0: none (log mode only) */
	int              dirty_ring_err;  /* -errno if cfg.dirty_ring was asked for and refused */

	struct cc          cc;            /* confidential platform (cfg.cc != CC_NONE) */
	bool               cc_open;

	struct page_status ps;
	struct serial      serial;
	struct guest_call  gcall;
	struct vm_stats    stats;

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
};

/* Build the machine (KVM VM, RAM memfd, memslot, caps, CPUID, vCPUs) but do
 * not run it. Returns 0 or -1 with err set. */
int  vm__create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen);
void vm__destroy(struct vm *vm);

/* Start dirty tracking of guest RAM (kvm/dirty.h dirty_start), with this
 * VM's memslot, vCPUs, rings and lock. Returns 0 or -1 with err set. */
int  vm__dirty_start(struct vm *vm, struct dirty_tracker *t, enum dirty_mode mode,
		     char *err, size_t errlen);

/* Load a multiboot guest ELF and set every vCPU to its entry state. A
 * confidential VM is launched too: LAUNCH_START (with the owner's session,
 * if any), LAUNCH_UPDATE_DATA over the loaded image and boot information,
 * LAUNCH_MEASURE; vm->cc.m holds the measurement afterwards. */
int  vm__load_guest(struct vm *vm, const char *path, const char *args,
		    const struct cc_launch *launch, char *err, size_t errlen);
/* Confidential launch, after the measurement: inject the owner's secret
 * packet (a file made by `tern owner secret`), then LAUNCH_FINISH. */
int  vm__cc_secret(struct vm *vm, const char *packet_file, char *err, size_t errlen);
int  vm__cc_finish(struct vm *vm, char *err, size_t errlen);

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

/* The vCPU thread body (vcpu_loop.c). */
void *vcpu__thread(void *arg);
/* Install the signal used to kick vCPUs out of KVM_RUN. */
void vcpu__init_signals(void);
#define VCPU_KICK_SIGNAL SIGUSR1

#endif
