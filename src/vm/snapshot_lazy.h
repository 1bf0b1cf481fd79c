/* snapshot_lazy.h - the lazy restore's loader, made by snapshot_load.c
 * (the rest of its interface is in snapshot.h). */
#ifndef TERN_VM_SNAPSHOT_LAZY_H
#define TERN_VM_SNAPSHOT_LAZY_H

#include "vm/snapshot.h"
#include "vm/snapshot_file.h"

/* Takes f (its fd, map and memory) on success. NULL with err otherwise. */
struct snapshot_lazy *snapshot_lazy__new(struct snap_file *f, struct vm *vm, char *err, size_t errlen);

#endif
