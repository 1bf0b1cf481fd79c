/* snapshot_ram.h - guest RAM into a snapshot file as RAM sections, in one
 * pass (a paused machine) or in rounds (a live snapshot: the guest runs
 * while the pages it dirtied are written again). Pages go from the guest
 * mapping to the file with writev, never through a buffer; the map of
 * which section holds each page becomes the file's RAM_INDEX. */
#ifndef TERN_VM_SNAPSHOT_RAM_H
#define TERN_VM_SNAPSHOT_RAM_H

#include "mem/bitmap.h"
#include "state/ram_map.h"
#include "vm/state.h"

struct snap_ram {
	struct vm *vm;
	struct rec_writer *w;             /* its fd: the snapshot file, opened read-write */
	struct ram_map map;               /* page -> the section that holds it now */
	uint64_t pages_written;           /* page copies written (a page dirty in 3 rounds: 3) */
	uint64_t zero_pages;              /* skipped as zero or never touched (last pass) */
};

int  snap_ram__init(struct snap_ram *s, struct vm *vm, struct rec_writer *w, char *err, size_t errlen);
void snap_ram__free(struct snap_ram *s);
/* Write the pages set in bm (NULL: every page) that have data: holes in the
 * memfd are skipped unread, zero pages are skipped unless an earlier
 * section holds the page (then its zeros must win). running: the guest
 * may write the pages meanwhile, so each section's checksum is taken from
 * what reached the file (such a section may hold a torn page, which the
 * dirty log reports again and a later section replaces). Returns 0 or -1. */
int  snap_ram__write(struct snap_ram *s, const struct page_bitmap *bm, bool running,
		     char *err, size_t errlen);
/* The RAM_INDEX section (after the last RAM section). */
int  snap_ram__write_index(struct snap_ram *s, char *err, size_t errlen);

#endif
