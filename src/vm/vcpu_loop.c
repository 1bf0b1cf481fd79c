/* vcpu_loop.c - one thread per vCPU: run, then a plain switch over the exit
 * reason. Anything the VMM cannot continue from stops the whole VM with a
 * message and a register dump. */
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "dev/exits.h"
#include "dev/guest_call.h"
#include "kvm/dirty.h"
#include "util/log.h"
#include "vm/vm.h"

/* Per thread, not per process: every vCPU thread of every VM in the process
 * shares the one signal handler, and each kick must reach only the run
 * area of the thread it was sent to. */
static __thread struct kvm_run *kick_run;

static void on_kick(int sig)
{
	(void)sig;
	/* KVM_RUN returns -EINTR at once, whether the thread is inside it or
	 * about to enter it */
	if (kick_run)
		kick_run->immediate_exit = 1;
}

void vcpu__init_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick;          /* no SA_RESTART: interrupt KVM_RUN */
	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

#define STAT(vm, field) __atomic_add_fetch(&(vm)->stats.field, 1, __ATOMIC_RELAXED)

static void crash(struct vcpu *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void crash(struct vcpu *v, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	serial__flush(&v->vm->serial);
	log__err("vCPU %d: %s", v->index, msg);
	char why[200];
	if (v->vm->cc_open && cc__vcpu_regs(&v->vm->cc, v->index, why, sizeof(why)))
		log__err("no register dump: %s", why);
	else
		vcpu_state__dump(v->fd, v->index);
	vm__stop(v->vm, EXIT_GUEST_CRASH, "vCPU %d: %s", v->index, msg);
}

/* Port I/O: whatever this VM registered for the port (dev/exits.h). */
static void handle_io(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct kvm_run *run = v->run;
	struct exit_io io = {
		.port = run->io.port, .out = run->io.direction == KVM_EXIT_IO_OUT,
		.size = run->io.size, .count = run->io.count,
		.data = (uint8_t *)run + run->io.data_offset,
		.cpu = v->index, .vcpu_fd = v->fd,
	};
	const struct exit_port *h = exits__port(&vm->exits, io.port);
	char why[300];
	int r = 1;

	STAT(vm, exits_io);
	if (h) {
		io.off = (uint16_t)(io.port - h->base);
		r = h->fn(h->ctx, &io, why, sizeof(why));
		if (r < 0) {
			crash(v, "%s", why);
			return;
		}
	}
	if (r == 0)
		return;
	/* Unknown port: reads see an empty bus, writes vanish. Counted so a
	 * guest that probes hardware is visible in `status`. */
	STAT(vm, unknown_port);
	if (!io.out)
		memset(io.data, 0xff, (size_t)io.size * io.count);
}

/* An MSR the filter sent here: the VM's handler for it, else #GP. */
static void handle_msr(struct vcpu *v, bool write)
{
	struct kvm_run *run = v->run;
	const struct exit_msr *h = exits__msr(&v->vm->exits, run->msr.index);
	uint64_t val = 0;
	bool ok;

	STAT(v->vm, exits_msr);
	if (write) {
		ok = h && h->wr(h->ctx, run->msr.index, run->msr.data);
	} else {
		ok = h && h->rd(h->ctx, run->msr.index, &val);
		run->msr.data = val;
	}
	run->msr.error = ok ? 0 : 1;
}

static void handle_exit(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		break;
	case KVM_EXIT_HYPERCALL:
		STAT(vm, exits_hypercall);
		/* the guest-call device counts it and looks it up in this VM's table */
		run->hypercall.ret = (uint64_t)guest_call__dispatch(&vm->gcall, v->index, run->hypercall.nr,
			run->hypercall.args[0], run->hypercall.args[1],
			run->hypercall.args[2], run->hypercall.args[3]);
		break;
	case KVM_EXIT_X86_RDMSR:
		handle_msr(v, false);
		break;
	case KVM_EXIT_X86_WRMSR:
		handle_msr(v, true);
		break;
	case KVM_EXIT_MMIO:
		STAT(vm, exits_mmio);
		crash(v, "guest %s physical address 0x%llx, which is not RAM (no MMIO devices)",
		      run->mmio.is_write ? "wrote to" : "read from",
		      (unsigned long long)run->mmio.phys_addr);
		break;
	case KVM_EXIT_HLT:
		/* no interrupt controller: nothing can ever wake it */
		crash(v, "guest halted (HLT with no interrupt source: the vCPU can never resume)");
		break;
	case KVM_EXIT_SHUTDOWN:
		crash(v, "guest triple-faulted (KVM_EXIT_SHUTDOWN)");
		break;
	case KVM_EXIT_FAIL_ENTRY:
		crash(v, "KVM could not enter the guest (hardware entry failure reason 0x%llx)",
		      (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		crash(v, "KVM internal error, suberror %u%s", run->internal.suberror,
		      run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
		      " (instruction emulation failed)" : "");
		break;
	case KVM_EXIT_INTR:
		STAT(vm, exits_intr);
		break;
	case KVM_EXIT_DIRTY_RING_FULL: {
		/* harvest every ring into the dirty tracker; KVM lets the vCPU
		 * run again once its ring is below the soft limit */
		int r = dirty__ring_full(&vm->lock, &vm->dirty);
		if (r)
			crash(v, "dirty ring full and KVM_RESET_DIRTY_RINGS failed: %s", strerror(-r));
		break;
	}
	default:
		crash(v, "unexpected KVM exit reason %u", run->exit_reason);
		break;
	}
}

/* Park until resumed. First finish the current exit inside KVM (a pending
 * port read gets its data, a port write its RIP advance) so the registers
 * we save describe a whole instruction boundary. */
static void park(struct vcpu *v)
{
	struct vm *vm = v->vm;
	v->run->immediate_exit = 1;
	(void)ioctl(v->fd, KVM_RUN, 0);
	v->run->immediate_exit = 0;

	pthread_mutex_lock(&vm->lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->cond);
	while (vm->pause_req && !vm->stopping)
		pthread_cond_wait(&vm->cond, &vm->lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->lock);
}

void *vcpu__thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	kick_run = v->run;

	for (;;) {
		bool stop, pause;
		pthread_mutex_lock(&vm->lock);
		stop = vm->stopping;
		pause = vm->pause_req;
		pthread_mutex_unlock(&vm->lock);
		if (stop)
			break;
		if (pause) {
			park(v);
			continue;
		}
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				/* a kick; if it was stale, run on */
				v->run->immediate_exit = 0;
				continue;
			}
			crash(v, "KVM_RUN failed: %s", strerror(errno));
			break;
		}
		handle_exit(v);
	}

	/* leave with any in-flight exit completed, for a final state save */
	v->run->immediate_exit = 1;
	(void)ioctl(v->fd, KVM_RUN, 0);
	v->run->immediate_exit = 0;
	kick_run = NULL;
	pthread_mutex_lock(&vm->lock);
	v->exited = true;
	vm->live--;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}
