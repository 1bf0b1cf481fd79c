/* mailbox.h - the migration helper's ABI with the VMM: where its region lies
 * in guest memory, the state its vCPUs start in, and the mailbox each vCPU
 * ("lane") shares with the VMM. Included by the helper (freestanding) and,
 * later, by the VMM (hosted), so: fixed-size little-endian fields, no
 * pointers, only <stdint.h>/<stddef.h>. docs/guest-abi.md, "Migration
 * helper", is the prose version of this file.
 */
#ifndef GUEST_HELPER_MAILBOX_H
#define GUEST_HELPER_MAILBOX_H

#include <stddef.h>
#include <stdint.h>

#define HELPER_ABI_VERSION     1

/* ---- the reserved region: [HELPER_BASE, HELPER_END), 12 MiB at 4 MiB ----
 * Fixed so that the helper can be linked for it and measured at launch;
 * every guest program keeps out of it (guest/rt/layout.h reserves it). */
#define HELPER_BASE            0x400000ULL
#define HELPER_SIZE            0xC00000ULL
#define HELPER_END             (HELPER_BASE + HELPER_SIZE)

/* Offsets from HELPER_BASE. "measured": LAUNCH_UPDATE_DATA at launch;
 * "crosses": sent through the PSP path before any page goes through the
 * helper; "shared": mapped unencrypted (C-bit clear) in the helper's view. */
#define HELPER_IMAGE_OFF       0x000000ULL  /* helper.elf's PT_LOAD segments (measured, crosses) */
#define HELPER_IMAGE_MAX       0x100000ULL
#define HELPER_PT_OFF          0x100000ULL  /* page tables the VMM builds, PML4 first (measured, crosses) */
#define HELPER_PT_SIZE         0x080000ULL
#define HELPER_GDT_OFF         0x180000ULL  /* GDT, one page (measured, crosses) */
#define HELPER_TSS_OFF         0x181000ULL  /* TSS + I/O bitmap, three pages (measured, crosses) */
#define HELPER_STATE_OFF       0x184000ULL  /* helper's persistent state, zero at launch (measured, crosses) */
#define HELPER_KEY_OFF         0x185000ULL  /* key slot: LAUNCH_SECRET writes it (crosses, never measured) */
#define HELPER_MEASURED_SIZE   0x185000ULL  /* LAUNCH_UPDATE_DATA covers [BASE, BASE + this) */
#define HELPER_CROSS_SIZE      0x200000ULL  /* the PSP path sends [BASE, BASE + this) first */

#define HELPER_LANES           4            /* helper vCPUs at most */

/* Per-lane private scratch (not measured, does not cross): 128 KiB each. */
#define HELPER_LANE_PRIV_OFF(i)  (0x200000ULL + (uint64_t)(i) * 0x20000ULL)
#define HELPER_STACK_SIZE      0x10000ULL   /* stack: [priv, priv + 64 KiB); RSP starts at the top */
#define HELPER_TLS_OFF         0x10000ULL   /* FS base: the lane's TLS page (stack canary at %fs:0x28) */
#define HELPER_BOUNCE_OFF      0x11000ULL   /* two pages: a packet being sealed or opened */

/* Common private scratch of the lanes (not measured, does not cross): the
 * stream control word (seal.h, struct hs_streams), reset by lane 0 at start. */
#define HELPER_CTL_OFF         0x280000ULL

/* Per-lane shared window (C-bit clear; not measured, does not cross): 1 MiB
 * each, the mailbox page then the data area the packets go through. */
#define HELPER_SHARED_OFF      0x400000ULL
#define HELPER_SHARED_SIZE     0x400000ULL
#define HELPER_LANE_WIN_OFF(i)   (HELPER_SHARED_OFF + (uint64_t)(i) * 0x100000ULL)
#define HELPER_DATA_OFF        0x1000ULL    /* from the window: after the mailbox page */
#define HELPER_DATA_SIZE       0xFF000ULL

/* Version table (private, not measured, does not cross): one u32 per guest
 * page, so the helper serves GPAs below 4 GiB. */
#define HELPER_VT_OFF          0x800000ULL
#define HELPER_VT_SIZE         0x400000ULL
#define HELPER_VT_PAGES        (HELPER_VT_SIZE / 4)
#define HELPER_GPA_LIMIT       (HELPER_VT_PAGES * 4096ULL)

/* ---- entry state of a helper vCPU (set by the VMM with KVM_SET_SREGS/REGS) ---- */
#define HELPER_SEL_KCODE       0x08         /* GDT as tern's guest runtime lays it out */
#define HELPER_SEL_KDATA       0x10
#define HELPER_SEL_UDATA       0x1B         /* flat data, DPL 3, RPL 3: SS DS ES */
#define HELPER_SEL_UCODE       0x23         /* 64-bit code, DPL 3, RPL 3: CS */
#define HELPER_SEL_TSS         0x28         /* 16-byte 64-bit TSS descriptor, one TSS for all lanes */
#define HELPER_GDT_ENTRIES     7
#define HELPER_TSS_IOMAP       104          /* I/O bitmap offset in the TSS */
#define HELPER_TSS_LIMIT       (HELPER_TSS_IOMAP + 8192) /* inclusive: the trailing 0xFF byte */
#define HELPER_CR0             0x80010033ULL /* PG WP NE ET MP PE: no EM, no TS (SSE) */
#define HELPER_CR4             0x00000620ULL /* OSXMMEXCPT OSFXSR PAE */
#define HELPER_EFER            0x00000500ULL /* LMA LME */
#define HELPER_RFLAGS          0x00003002ULL /* IOPL 3, IF 0 */
/* RIP = the ELF entry (HELPER_BASE: _start is first); RSP = lane stack top;
 * RDI = lane index; FS base = lane TLS page; every other GPR 0. */

/* ---- doorbell: `out %eax, $HELPER_PORT` (32-bit), EAX = one of these ----
 * The VMM sees the exit, reads the mailbox, and does not resume the vCPU
 * until the next command is in place: the helper never polls. */
#define HELPER_PORT            0xE8
#define HELPER_DB(ev)          (0x484C0000u | (ev))    /* "HL" in the high half */
#define HELPER_DB_READY        HELPER_DB(1)  /* started; mailbox floor and status valid */
#define HELPER_DB_DONE         HELPER_DB(2)  /* the command in seq is finished */
#define HELPER_DB_FATAL        HELPER_DB(3)  /* cannot go on (no key, bad lane, ...): stop this vCPU */

/* ---- key slot (HELPER_KEY_OFF): what LAUNCH_SECRET must leave there ---- */
#define HELPER_KEY_MAGIC       0x594B4854u   /* "THKY" */
#define HELPER_KEY_LEN         32            /* AES-256 */
struct helper_key_slot {
	uint32_t magic;          /* HELPER_KEY_MAGIC */
	uint32_t len;            /* HELPER_KEY_LEN */
	uint8_t key[HELPER_KEY_LEN];
};

/* ---- mailbox: one page at the start of each lane's shared window ---- */
#define HELPER_MBOX_MAGIC      0x424D4854u   /* "THMB" */
#define HELPER_BATCH_MAX       252           /* as many entries as fit in the page */

enum helper_cmd {
	HELPER_CMD_SEAL = 1,     /* source: seal each entry's page into out[] */
	HELPER_CMD_OPEN = 2,     /* destination: open in[] and write each page at its GPA */
	HELPER_CMD_QUIT = 3,     /* wipe the lane's key, ring DONE; resumed after that, it rings FATAL */
	HELPER_CMD_TOUCH = 4,    /* read one byte of each entry's page (version must be 0), so
				  * the mirror VM's first access to guest RAM, which costs a page
				  * fault in the host's MMU, happens before a migration, not in it */
};

/* Entry and batch status. 0 is success; the first failing entry's code is
 * also the batch status. The VMM aborts the migration on any non-zero. */
enum helper_status {
	HELPER_ST_OK = 0,
	HELPER_ST_TAG = 1,       /* authentication failed: flipped bit, other key */
	HELPER_ST_GPA = 2,       /* packet for another GPA, or GPA unaligned/out of range/in the helper region */
	HELPER_ST_STREAM = 3,    /* packet of another stream, or a stream id already used */
	HELPER_ST_REPLAY = 4,    /* version not newer than the last one for that page (also on SEAL) */
	HELPER_ST_BUSY = 5,      /* the same page is being handled by another lane right now */
	HELPER_ST_BAD_CMD = 6,   /* unknown command, bad magic/ABI, count, offsets or lengths */
	HELPER_ST_NO_KEY = 7,    /* the key slot holds no valid key */
};

/* CPU facts the VMM passes in (from the CPUID table it gave KVM): the
 * helper runs in ring 3, where cpuid may answer with another hypervisor's
 * leaves, so it never executes cpuid itself. */
#define HELPER_CPU_AESNI       (1u << 0)
#define HELPER_CPU_PCLMUL      (1u << 1)
#define HELPER_CPU_RDRAND      (1u << 2)

struct helper_mbox_entry {
	uint64_t gpa;            /* VMM: page-aligned guest-physical address */
	uint32_t version;        /* VMM: page version, 1 .. 0x7FFFFFFF, newer = larger */
	uint32_t status;         /* helper: enum helper_status */
};

struct helper_mbox {
	/* written by the VMM before it resumes the helper */
	uint32_t magic;          /* HELPER_MBOX_MAGIC */
	uint16_t abi;            /* HELPER_ABI_VERSION */
	uint16_t reserved0;
	uint32_t seq;            /* command number; echoed in done_seq */
	uint32_t cmd;            /* enum helper_cmd */
	uint32_t stream;         /* stream id, 1 .. 0xFFFFFFFE, above the helper's floor for a new stream */
	uint32_t count;          /* entries, 1 .. HELPER_BATCH_MAX */
	uint32_t in_off, in_len;   /* OPEN: packets, in the data area (offset from its start) */
	uint32_t out_off, out_len; /* SEAL: room for the packets, likewise */
	uint32_t cpu;            /* HELPER_CPU_*: read once, when the lane starts */
	uint32_t ram_pages;      /* guest RAM in 4 KiB pages: read once, when the lane starts */
	/* written by the helper before it rings */
	uint32_t done_seq;       /* seq of the command just finished (0 with READY) */
	uint32_t status;         /* batch status: enum helper_status */
	uint32_t done;           /* entries that succeeded */
	uint32_t floor;          /* highest stream id this helper has sealed or opened */
	struct helper_mbox_entry e[HELPER_BATCH_MAX];
};

/* ---- packet: what SEAL writes and OPEN reads, one per entry, back to back
 * from out_off / in_off. Fields little-endian. ---- */
#define HELPER_PAGE            4096
#define HELPER_TAG_LEN         16
struct helper_packet_hdr {
	uint64_t gpa;
	uint32_t version;
	uint32_t stream;
	uint8_t tag[HELPER_TAG_LEN];   /* AES-256-GCM tag */
};
struct helper_packet {
	struct helper_packet_hdr h;
	uint8_t ct[HELPER_PAGE];       /* the page, AES-256-GCM ciphertext */
};
#define HELPER_PACKET_SIZE     ((uint32_t)sizeof(struct helper_packet))

_Static_assert(sizeof(struct helper_key_slot) == 40, "key slot layout");
_Static_assert(sizeof(struct helper_mbox_entry) == 16, "mailbox entry layout");
_Static_assert(offsetof(struct helper_mbox, seq) == 0x08, "mailbox layout");
_Static_assert(offsetof(struct helper_mbox, stream) == 0x10, "mailbox layout");
_Static_assert(offsetof(struct helper_mbox, in_off) == 0x18, "mailbox layout");
_Static_assert(offsetof(struct helper_mbox, out_off) == 0x20, "mailbox layout");
_Static_assert(offsetof(struct helper_mbox, cpu) == 0x28, "mailbox layout");
_Static_assert(offsetof(struct helper_mbox, done_seq) == 0x30, "mailbox layout");
_Static_assert(offsetof(struct helper_mbox, floor) == 0x3C, "mailbox layout");
_Static_assert(offsetof(struct helper_mbox, e) == 0x40, "mailbox layout");
_Static_assert(sizeof(struct helper_mbox) == 4096, "mailbox is one page");
_Static_assert(sizeof(struct helper_packet_hdr) == 32, "packet header layout");
_Static_assert(sizeof(struct helper_packet) == 32 + 4096, "packet layout");
_Static_assert(HELPER_BATCH_MAX * sizeof(struct helper_packet) <= HELPER_DATA_SIZE,
	       "a full batch fits in the data area");
_Static_assert(HELPER_LANE_PRIV_OFF(HELPER_LANES) <= HELPER_CTL_OFF, "lane scratch");
_Static_assert(HELPER_CTL_OFF + 4096 <= HELPER_SHARED_OFF, "control word");
_Static_assert(HELPER_LANE_WIN_OFF(HELPER_LANES) <= HELPER_VT_OFF, "lane windows");
_Static_assert(HELPER_VT_OFF + HELPER_VT_SIZE == HELPER_SIZE, "region layout");
_Static_assert(HELPER_KEY_OFF + 4096 <= HELPER_CROSS_SIZE, "crossing part");
_Static_assert(HELPER_BOUNCE_OFF + 2 * 4096 <= 0x20000, "lane scratch");

#endif
