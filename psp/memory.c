/* memory.c - guest memory the VMM registered (the memfd and a GPA range),
 * mapped so the emulated firmware can read and write it as the real one
 * does by DMA. Regions belong to the context owner; mirrors use the
 * owner's. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psp.h"

int region_register(struct pvm *vm, int memfd, const struct psp_region *r)
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

int region_unregister(struct pvm *vm, const struct psp_region *r)
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

void regions_free(struct region *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		munmap(r[i].map, r[i].size);
	free(r);
}

uint8_t *guest_ptr(struct pvm *vm, uint64_t gpa, uint64_t len)
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
