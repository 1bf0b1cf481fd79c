/* helper.h - what the helper's own files share (ring-3 side only). */
#ifndef GUEST_HELPER_HELPER_H
#define GUEST_HELPER_HELPER_H

#include <stdint.h>
#include <string.h>

#include "mailbox.h"

/* The doorbell (docs/guest-abi.md): the VMM handles the exit and resumes
 * the vCPU only when it has something new for it. "memory": the mailbox
 * is complete before the ring and re-read after it. */
static inline void helper_ring(uint32_t ev)
{
	__asm__ volatile("outl %0, %1" :: "a"(ev), "Nd"((uint16_t)HELPER_PORT) : "memory");
}

/* Ring FATAL for good: a VMM that resumes the vCPU anyway gets it again. */
__attribute__((noreturn)) void helper_fatal(void);

#endif
