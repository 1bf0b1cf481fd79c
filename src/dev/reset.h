/* reset.h - the guest's ways to reset the machine: the PC reset control
 * register (port 0xCF9) and the keyboard controller's pulse-reset command
 * (0xFE written to port 0x64).
 *
 * The device only decodes the writes; what a reset means (park every vCPU,
 * boot the guest again, or stop) is the machine's business. It is called
 * through `request` on the vCPU thread that wrote the port, and must only
 * record the request there: a vCPU cannot pause the machine it runs in
 * from inside its own exit. */
#ifndef TERN_DEV_RESET_H
#define TERN_DEV_RESET_H

#include <stdint.h>

#include "dev/exits.h"

#define RESET_CF9_PORT   0xcf9
#define RESET_KBC_PORT   0x64
#define RESET_CF9_RST_CPU 0x04        /* bit 2: reset now (0x4, 0x6, 0xE) */
#define RESET_CF9_KEEP   0x0a         /* bits 1 and 3 (SYS_RST, FULL_RST) read back */
#define RESET_KBC_PULSE  0xfe         /* 8042 command: pulse the reset line */

struct reset_dev {
	/* set by whoever builds the machine, before reset_dev__register */
	void (*request)(void *ctx, const char *why);
	void *ctx;

	uint8_t  cf9;                     /* the register's readable bits */
	uint64_t requests;                /* reset writes seen (atomic) */
};

/* Register ports 0xCF9 and 0x64 in the machine's table t. 0 or -errno. */
int reset_dev__register(struct reset_dev *d, struct exits *t);

#endif
