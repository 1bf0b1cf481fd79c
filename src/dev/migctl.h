/* migctl.h - MSR_KVM_MIGRATION_CONTROL, handled in userspace through an
 * MSR filter (KVM does not emulate it). The bit lives in the page-status
 * record because the two travel and reset together; that record is all
 * the handler needs, so it is all it gets. */
#ifndef TERN_DEV_MIGCTL_H
#define TERN_DEV_MIGCTL_H

#include <stdbool.h>
#include <stdint.h>

#define MSR_KVM_MIGRATION_CONTROL 0x4b564d08u

struct page_status;

/* Returns true if the access was handled; false means inject #GP. */
bool migctl__rdmsr(struct page_status *ps, uint32_t index, uint64_t *data);
bool migctl__wrmsr(struct page_status *ps, uint32_t index, uint64_t data);

#endif
