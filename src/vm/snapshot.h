/* snapshot.h - a paused machine to a file and back (tern ctl snapshot,
 * tern run --restore). */
#ifndef TERN_VM_SNAPSHOT_H
#define TERN_VM_SNAPSHOT_H

#include "vm/state.h"

struct snapshot_result {
	uint64_t bytes;                   /* file size */
	uint64_t ram_pages;               /* non-zero pages written / read */
	uint64_t zero_pages;
	uint64_t ns;                      /* time taken */
};

/* Write the paused VM to path (atomically: a temporary file renamed into
 * place, so a failed snapshot never leaves a half file under that name). */
int snapshot__save(struct vm *vm, const char *path, struct snapshot_result *res,
		   char *err, size_t errlen);
/* Create vm from the file and restore everything; cfg supplies what the
 * file does not decide (serial output). On failure vm is destroyed. */
int snapshot__restore(const char *path, struct vm *vm, const struct vm_config *cfg,
		      struct snapshot_result *res, char *err, size_t errlen);

#endif
