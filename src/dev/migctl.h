/* migctl.h - MSR_KVM_MIGRATION_CONTROL, handled in userspace through an
 * MSR filter (KVM does not emulate it). The bit lives in the page-status
 * record because the two travel and reset together; that record is all
 * the handler needs, so it is all it gets. */
#ifndef TERN_DEV_MIGCTL_H
#define TERN_DEV_MIGCTL_H

#include <stdint.h>

#include "dev/exits.h"

#define MSR_KVM_MIGRATION_CONTROL 0x4b564d08u

struct page_status;

/* Register the MSR in the machine's table t (0 or -errno). The machine
 * asks KVM to trap every MSR in its table (vm.c), so this is all it takes. */
int migctl__register(struct page_status *ps, struct exits *t);

#endif
