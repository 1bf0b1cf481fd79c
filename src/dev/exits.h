/* exits.h - one VM's table of exit handlers: port ranges, hypercall
 * numbers and MSRs, each with its handler and context (kvmtool's
 * kvm__register_pio, per VM).
 *
 * Why a table per VM and not a fixed dispatch: a process may hold several
 * VMs (the guest and a mirror VM running the migration helper); each has its
 * own devices and its own calls, and a helper's port write must never reach
 * the guest's handlers.
 *
 * Devices register themselves here (serial__register, guest_call__register,
 * migctl__register); the machine (vm/) owns the table and looks it up on
 * every exit. The table is filled before any vCPU runs and only read after,
 * so lookups take no lock. */
#ifndef TERN_DEV_EXITS_H
#define TERN_DEV_EXITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXITS_MAX_PORTS  16
#define EXITS_MAX_HCALLS 16
#define EXITS_MAX_MSRS   8

/* One port exit as KVM reported it. String I/O (rep outsb) carries `count`
 * accesses of `size` bytes each, back to back in data. */
struct exit_io {
	uint16_t port;                    /* the port accessed */
	uint16_t off;                     /* port - base of the registered range */
	bool     out;
	uint8_t  size;
	uint32_t count;
	uint8_t *data;                    /* size * count bytes, inside kvm_run */
	int      cpu;                     /* vCPU index */
	int      vcpu_fd;                 /* for handlers that read or write registers */
};

/* 0: handled; 1: not an access this device takes (the machine treats it as
 * an unknown port: reads see 0xff, writes vanish, both are counted);
 * -1 with err set: the vCPU cannot go on (the machine stops with err). */
typedef int     (*exit_port_fn)(void *ctx, struct exit_io *io, char *err, size_t errlen);
/* The value for the guest's RAX. */
typedef int64_t (*exit_hcall_fn)(void *ctx, int cpu, const uint64_t args[4]);
/* false: not handled, the guest gets #GP */
typedef bool    (*exit_rdmsr_fn)(void *ctx, uint32_t index, uint64_t *data);
typedef bool    (*exit_wrmsr_fn)(void *ctx, uint32_t index, uint64_t data);

struct exit_port {
	uint16_t base, len;
	exit_port_fn fn;
	void *ctx;
};

struct exit_hcall {
	uint64_t nr;
	exit_hcall_fn fn;
	void *ctx;
};

struct exit_msr {
	uint32_t index;
	exit_rdmsr_fn rd;
	exit_wrmsr_fn wr;
	void *ctx;
};

struct exits {
	struct exit_port  port[EXITS_MAX_PORTS];
	struct exit_hcall hcall[EXITS_MAX_HCALLS];
	struct exit_msr   msr[EXITS_MAX_MSRS];
	int nports, nhcalls, nmsrs;
};

/* Each returns 0, -EEXIST if the port range overlaps one already there (or
 * the number or MSR is taken), -EINVAL for an empty or wrapping range, or
 * -ENOSPC when the table is full. */
int exits__register_port(struct exits *t, uint16_t base, uint16_t len, exit_port_fn fn, void *ctx);
int exits__register_hcall(struct exits *t, uint64_t nr, exit_hcall_fn fn, void *ctx);
int exits__register_msr(struct exits *t, uint32_t index, exit_rdmsr_fn rd, exit_wrmsr_fn wr,
			void *ctx);

/* The range holding `port`, or NULL. */
const struct exit_port *exits__port(const struct exits *t, uint16_t port);
/* The handler of call `nr`, or NULL. */
const struct exit_hcall *exits__hcall(const struct exits *t, uint64_t nr);
/* The handler of MSR `index`, or NULL. */
const struct exit_msr *exits__msr(const struct exits *t, uint32_t index);

#endif
