/* snapshot_file.h - an open snapshot file whose RAM sections were located
 * but not read (snapshot_load.c), and reading one RAM section back from it
 * with its checksum verified: what the parallel and the lazy restore share. */
#ifndef TERN_VM_SNAPSHOT_FILE_H
#define TERN_VM_SNAPSHOT_FILE_H

#include "state/ram_map.h"
#include "vm/state.h"

struct snap_file {
	int  fd;
	char path[4096];
	struct ram_map map;               /* page -> winning section */
};

/* Read RAM section i of f: its header again (the file may have changed
 * since it was located), its run header and its pages, into hdr16 and
 * pages (npages * 4096 bytes, e.g. guest RAM itself), and verify the
 * checksum. Returns 0 or -1 with err naming the offset and the cause (truncated, I/O error, checksum mismatch, changed section). */
int snap_file__read_sec(struct snap_file *f, size_t i, struct ram_run_hdr *rh, void *pages,
			char *err, size_t errlen);

#endif
