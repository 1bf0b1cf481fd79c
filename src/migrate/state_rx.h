/* state_rx.h - the one reader of a STATE message, for handoff and
 * migration receivers alike: the paused source's page status, devices and
 * vCPUs, applied to the VM that CONFIG built. */
#ifndef TERN_MIGRATE_STATE_RX_H
#define TERN_MIGRATE_STATE_RX_H

#include <stddef.h>

#include "vm/vm.h"

/* Apply the record stream in data (read in place: this runs inside the
 * pause window, so no copy into a file first). VM_CONFIG and RAM records
 * do not belong in STATE and are refused; so is a stream that lacks a
 * required part (vm__restore_complete). Returns 0, or -1 with the reason
 * in err. */
int state_rx__apply(struct vm *vm, const void *data, size_t len, char *err, size_t errlen);

#endif
