/* memory.c - guest memory the VMM registered (the memfd and a GPA range),
 * mapped so the emulated firmware can read and write it as the real one
 * does by DMA. Regions belong to the context owner; mirrors use the
 * owner's. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psp.h"

int region__register(struct pvm *vm, int memfd, const struct psp_region *r)
{
	struct stat st;
	struct region *nr;
	void *m;

	if (memfd < 0 || !r->size || r->gpa % PSP_PAGE || r->size % PSP_PAGE || r->offset % PSP_PAGE ||
	    r->gpa + r->size < r->gpa)
		return -EINVAL;
	if (fstat(memfd, &st) < 0 || (uint64_t)st.st_size < r->offset + r->size)
		return -EINVAL;
	for (size_t i = 0; i < vm->nregions; i++) {
		struct region *o = &vm->regions[i];
		if (r->gpa < o->gpa + o->size && o->gpa < r->gpa + r->size)
			return -EEXIST;
	}
	m = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, (off_t)r->offset);
	if (m == MAP_FAILED)
		return -errno;
	nr = realloc(vm->regions, (vm->nregions + 1) * sizeof(*nr));
	if (!nr) {
		munmap(m, r->size);
		return -ENOMEM;
	}
	vm->regions = nr;
	vm->regions[vm->nregions++] = (struct region){ r->gpa, r->size, m };
	return 0;
}

int region__unregister(struct pvm *vm, const struct psp_region *r)
{
	for (size_t i = 0; i < vm->nregions; i++) {
		struct region *o = &vm->regions[i];
		if (o->gpa == r->gpa && o->size == r->size) {
			munmap(o->map, o->size);
			vm->regions[i] = vm->regions[--vm->nregions];
			return 0;
		}
	}
	return -EINVAL;
}

void regions__free(struct region *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		munmap(r[i].map, r[i].size);
	free(r);
}

uint8_t *guest__ptr(struct pvm *vm, uint64_t gpa, uint64_t len)
{
	struct pvm *o = vm->owner ? vm->owner : vm;
	if (!len || gpa + len < gpa)
		return NULL;
	for (size_t i = 0; i < o->nregions; i++) {
		struct region *g = &o->regions[i];
		if (gpa >= g->gpa && gpa + len <= g->gpa + g->size)
			return g->map + (gpa - g->gpa);
	}
	return NULL;
}

/* A client can shrink the memfd it registered; touching the mapping past
 * the new end raises SIGBUS. That must fail the one request, not kill the
 * platform with every other VM: guest memory is only touched through
 * guest__read/guest_write, which turn the fault into -EFAULT. */
/* volatile: the compiler must not drop the store before memcpy as dead
 * (memcpy does not read it, but the signal handler does) */
static __thread sigjmp_buf *volatile fault_jmp;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (fault_jmp)
		siglongjmp(*fault_jmp, 1);
	signal(sig, SIG_DFL);             /* a fault elsewhere is a real bug */
	raise(sig);
}

void guest__memory_init(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

static int guarded_copy(void *dst, const void *src, uint64_t len)
{
	sigjmp_buf jb;
	if (sigsetjmp(jb, 1)) {
		fault_jmp = NULL;
		return -EFAULT;
	}
	fault_jmp = &jb;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	memcpy(dst, src, len);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	fault_jmp = NULL;
	return 0;
}

int guest__read(struct pvm *vm, uint64_t gpa, void *buf, uint64_t len)
{
	uint8_t *m = guest__ptr(vm, gpa, len);
	return m ? guarded_copy(buf, m, len) : -EINVAL;
}

int guest__write(struct pvm *vm, uint64_t gpa, const void *buf, uint64_t len)
{
	uint8_t *m = guest__ptr(vm, gpa, len);
	return m ? guarded_copy(m, buf, len) : -EINVAL;
}
