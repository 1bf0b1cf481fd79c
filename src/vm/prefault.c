/* prefault.c - map a VM's already-written RAM before the guest touches it.
 *
 * After a handoff the new process has a new KVM VM on the old process's
 * memfd: the pages exist, but neither KVM's page tables nor this process's
 * own mapping know them, so every page the guest uses faults twice over
 * (KVM, then the host fault behind it) on first touch. Walking only the
 * memfd's data ranges keeps untouched RAM unallocated (MAP_NORESERVE
 * guests stay sparse). Chunks of 2 MiB keep a stop request, and a vCPU
 * waiting for vCPU 0's mutex behind KVM_PRE_FAULT_MEMORY, short. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "kvm/kvm.h"
#include "util/io.h"
#include "util/log.h"
#include "vm/vm.h"

#define CHUNK (2ULL << 20)

static bool stopping(struct vm_prefault_run *p)
{
	pthread_mutex_lock(&p->lock);
	bool s = p->stop;
	pthread_mutex_unlock(&p->lock);
	return s;
}

/* One chunk by KVM where it can, else by the host mapping. */
static int map_chunk(struct vm *vm, bool *kvm, uint64_t off, uint64_t len)
{
	struct vm_prefault_run *p = &vm->prefault;
	if (*kvm) {
		int r = kvm_vcpu__pre_fault(vm->vcpus[0].fd, vm->ram_at.gpa + off, len);
		if (r == 0)
			return 0;
		/* shadow paging, a VM type without it: the host half still pays */
		log__info("prefault: KVM_PRE_FAULT_MEMORY failed (%s); populating the mapping instead",
			  strerror(-r));
		*kvm = false;
		p->how = "MADV_POPULATE_WRITE";
	}
	return guest_ram__populate(&vm->ram, off, len);
}

static void *prefault_thread(void *arg)
{
	struct vm *vm = arg;
	struct vm_prefault_run *p = &vm->prefault;
	uint64_t t0 = now__ns(), off = 0, start, end, bytes = 0;
	bool kvm = vm->cfg.prefault == VM_PREFAULT_AUTO &&
		   kvm__check(&vm->kvm, KVM_CAP_PRE_FAULT_MEMORY) > 0;
	int r = 0;

	p->how = kvm ? "KVM_PRE_FAULT_MEMORY" : "MADV_POPULATE_WRITE";
	while (!r && !stopping(p) && (r = guest_ram__next_data(&vm->ram, off, &start, &end)) == 1) {
		r = 0;
		for (off = start; off < end && !r && !stopping(p); off += CHUNK) {
			uint64_t len = end - off < CHUNK ? end - off : CHUNK;
			r = map_chunk(vm, &kvm, off, len);
			if (!r)
				bytes += len;
		}
		off = end;
	}
	pthread_mutex_lock(&p->lock);
	p->bytes = bytes;
	p->ns = now__ns() - t0;
	p->err = r < 0 ? r : 0;
	p->done = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (r < 0)
		log__info("prefault: stopped after %llu MiB: %s (the guest faults the rest in)",
			  (unsigned long long)(bytes >> 20), strerror(-r));
	else
		log__info("prefault: %llu MiB of guest RAM mapped in %.1f ms (%s)",
			  (unsigned long long)(bytes >> 20), (double)p->ns / 1e6, p->how);
	return NULL;
}

void vm__prefault_start(struct vm *vm)
{
	struct vm_prefault_run *p = &vm->prefault;
	if (vm->cfg.prefault == VM_PREFAULT_OFF || p->started || !vm->vcpus || !vm->ram.hva)
		return;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->done = p->stop = false;
	int r = pthread_create(&p->thread, NULL, prefault_thread, vm);
	if (r) {
		/* not fatal: the guest faults its pages in as it always did */
		log__info("prefault: no thread (%s)", strerror(r));
		pthread_cond_destroy(&p->cond);
		pthread_mutex_destroy(&p->lock);
		return;
	}
	p->started = true;
}

bool vm__prefault_wait(struct vm *vm, unsigned timeout_ms)
{
	struct vm_prefault_run *p = &vm->prefault;
	struct timespec ts;
	bool done;

	if (!p->started)
		return true;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->lock);
	while (!p->done && pthread_cond_timedwait(&p->cond, &p->lock, &ts) != ETIMEDOUT)
		;
	done = p->done;
	pthread_mutex_unlock(&p->lock);
	return done;
}

void vm__prefault_stop(struct vm *vm)
{
	struct vm_prefault_run *p = &vm->prefault;
	if (!p->started)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	p->started = false;
}
