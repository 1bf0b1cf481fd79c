/* layout.h - constants shared by the boot assembly and the C runtime.
 * Only #defines here: this file is included from .S files too.
 */
#ifndef GUEST_RT_LAYOUT_H
#define GUEST_RT_LAYOUT_H

#define RT_MAX_CPUS      16            /* GDT/TSS/stack arrays are sized for this */
#define RT_MAX_PD        64            /* page directories: 64 x 1 GiB = 64 GiB mapped at most */

#define RT_KSTACK_SIZE   8192          /* per-CPU ring-0 stack (exceptions, int 0x80) */
#define RT_USTACK_SIZE   65536         /* per-CPU ring-3 stack */

/* The migration helper's reserved region (guest/helper/mailbox.h,
 * docs/guest-abi.md): guest programs never touch [RT_HELPER_BASE,
 * RT_HELPER_END), whether or not a helper is loaded, and their images must
 * end below it (link.ld checks). rt_free_start is the first byte above it. */
#define RT_HELPER_BASE   0x400000
#define RT_HELPER_END    0x1000000

/* GDT selectors. One GDT for every CPU; each CPU owns a 16-byte TSS descriptor. */
#define SEL_KCODE        0x08          /* 64-bit ring-0 code */
#define SEL_KDATA        0x10          /* flat data, also valid in 32-bit mode */
#define SEL_UDATA        0x18          /* ring-3 data (use with RPL 3: 0x1B) */
#define SEL_UCODE        0x20          /* 64-bit ring-3 code (use with RPL 3: 0x23) */
#define SEL_TSS0         0x28          /* CPU n's TSS at SEL_TSS0 + 16*n */
#define RT_GDT_ENTRIES   (5 + 2 * RT_MAX_CPUS)

/* Boot protocol magics (docs/guest-abi.md). */
#define MB_HEADER_MAGIC  0x1BADB002
#define MB_BOOT_MAGIC    0x2BADB002
#define TERN_AP_MAGIC    0x7E2A0AB5

/* Ring-0 service gate (int 0x80), RAX = function. */
#define RT_SVC_VECTOR    0x80
#define RT_SVC_MIGCTL    1             /* wrmsr(MSR_KVM_MIGRATION_CONTROL, RBX); RAX = rdmsr */
#define RT_SVC_TRIPLE    2             /* deliberate triple fault */
#define RT_SVC_HALT      3             /* cli; hlt forever */

#define MSR_KVM_MIGRATION_CONTROL 0x4b564d08
#define MSR_FS_BASE      0xC0000100

/* Control register bits the boot stub sets (SSE on for every CPU). */
#define CR0_PE           (1 << 0)
#define CR0_MP           (1 << 1)
#define CR0_EM           (1 << 2)
#define CR0_TS           (1 << 3)
#define CR0_PG           0x80000000
#define CR4_PAE          (1 << 5)
#define CR4_OSFXSR       (1 << 9)
#define CR4_OSXMMEXCPT   (1 << 10)

/* Per-CPU thread-control block that FS points to in ring 3: offset of the
 * stack-protector canary, where -fstack-protector code reads it (%fs:0x28). */
#define RT_TLS_CANARY    0x28

#endif
