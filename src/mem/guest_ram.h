/* guest_ram.h - guest RAM: one memfd, mapped shared (architecture rule 1).
 * The memfd is what handoff passes to the next process and what a mirror VM
 * maps; nothing else ever holds guest memory. */
#ifndef TERN_MEM_GUEST_RAM_H
#define TERN_MEM_GUEST_RAM_H

#include <stddef.h>
#include <stdint.h>

struct guest_ram {
	int      fd;                      /* memfd */
	uint8_t *hva;                     /* whole RAM mapped MAP_SHARED */
	uint64_t size;                    /* bytes, a multiple of 2 MiB */
};

int  guest_ram__create(struct guest_ram *r, uint64_t size, char *err, size_t errlen);
/* Map an existing memfd (received from another process). Takes ownership of fd. */
int  guest_ram__adopt(struct guest_ram *r, int fd, uint64_t size, char *err, size_t errlen);
void guest_ram__destroy(struct guest_ram *r);
/* A second mapping of r's memfd (a mirror VM's own view of the guest's
 * RAM): the same pages, other page tables. view->fd is r's, not owned. */
int  guest_ram__view(struct guest_ram *view, const struct guest_ram *r, char *err, size_t errlen);
/* Unmap a view; its memfd stays its owner's. */
void guest_ram__unview(struct guest_ram *view);

/* The next allocated range of the memfd at or after offset off: 1 with
 * [*start, *end) set, 0 when there is none left, -errno when the file
 * system cannot say (SEEK_DATA). Pages never written are holes: a handoff
 * target walks these to populate only what the guest has. */
int  guest_ram__next_data(const struct guest_ram *r, uint64_t off, uint64_t *start, uint64_t *end);
/* Fill this process's page tables for [off, off+len) of the mapping, as
 * writable, without changing a byte (MADV_POPULATE_WRITE). Pages that are
 * holes get allocated, so callers pass allocated ranges. 0 or -errno
 * (-EINVAL: a kernel before 5.14). */
int  guest_ram__populate(const struct guest_ram *r, uint64_t off, uint64_t len);

/* Host pointer for [gpa, gpa+len), or NULL if any of it is outside RAM. */
static inline void *guest_ram__ptr(const struct guest_ram *r, uint64_t gpa, uint64_t len)
{
	if (gpa > r->size || len > r->size - gpa)
		return NULL;
	return r->hva + gpa;
}

#endif
