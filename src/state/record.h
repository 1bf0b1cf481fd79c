/* record.h - tern's versioned, self-describing state record format.
 *
 * One format for snapshot files, handoff and live-migration streams
 * (architecture.md rule 2). A stream is a file header followed by sections;
 * every section carries its type, a per-type version, flags, its length and a
 * checksum that covers header fields and payload, so a reader can verify a
 * section before applying it. An END section closes the stream and records
 * how many sections came before it, so truncation is detected. The layout is
 * documented in docs/state-format.md.
 */
#ifndef TERN_STATE_RECORD_H
#define TERN_STATE_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#define REC_MAGIC "TERNSTAT"          /* 8 bytes, no NUL on disk */
#define REC_FORMAT_MAJOR 1            /* readers refuse another major */
#define REC_FORMAT_MINOR 1            /* readers accept any minor; 1: RAM_INDEX, several RAM
				       * sections may carry one page (the last wins) */

/* Section flags */
#define REC_F_REQUIRED 0x0001         /* a reader that does not know the type must refuse the stream */

/* Section types. Types below 0x100 are framing; numbers are never reused. */
enum rec_type {
	REC_END          = 0x0000,        /* payload: struct rec_end */
	REC_VM_CONFIG    = 0x0101,        /* RAM layout, vCPU count, cc mode (tlv) */
	REC_VCPU         = 0x0102,        /* one vCPU's complete KVM state (tlv) */
	REC_RAM          = 0x0103,        /* a run of non-zero guest pages */
	REC_PAGE_STATUS  = 0x0104,        /* shared/private record + migration-control bit */
	REC_RAM_INDEX    = 0x0105,        /* snapshot files: page -> RAM section (optional) */
	REC_DEV_SERIAL   = 0x0201,        /* 16550 registers */
	REC_DEV_GUESTCALL= 0x0202,        /* guest-call port state */
	REC_HANDOFF_INFO = 0x0301,        /* handoff: where the source's sockets are (tlv, optional) */
	REC_WIRE_NONCE   = 0x0302,        /* CONFIG: the receiver's HELLO nonce, echoed (32 bytes, required) */
};

struct rec_file_hdr {                 /* on disk, little endian */
	char     magic[8];
	uint16_t major;
	uint16_t minor;
	uint32_t hdr_size;                /* sizeof(struct rec_file_hdr) */
	uint64_t flags;                   /* none defined: must be 0 */
	uint64_t checksum;                /* XXH3-64 of the bytes before this field */
};

struct rec_section_hdr {              /* on disk, little endian, 8-byte aligned */
	uint32_t type;
	uint16_t version;                 /* version of this section type's payload */
	uint16_t flags;                   /* REC_F_* */
	uint64_t length;                  /* payload bytes that follow (then padding to 8) */
	uint64_t checksum;                /* XXH3-64 of payload, seeded with a hash of type/version/flags/length */
};

struct rec_end {
	uint64_t sections;                /* sections written before END */
	uint64_t payload_bytes;           /* sum of their lengths */
};

/* ---- writer ---------------------------------------------------------- */

struct rec_writer {
	int      fd;                      /* output; writes are unbuffered (write/writev); -1: memory */
	uint8_t *mem;                     /* memory output (rec__writer_init_mem): the stream so far */
	size_t   mem_len, mem_cap;
	uint64_t sections;
	uint64_t payload_bytes;
	uint64_t bytes_out;               /* everything written, headers included */
	int      error;                   /* first errno seen; once set every call fails */
};

/* Start a stream on fd: writes the file header. Returns 0 or -errno. */
int rec__writer_init(struct rec_writer *w, int fd);
/* Start a stream in memory: messages (CONFIG, STATE) are built here and
 * sent as they are, with no file in between. The stream is w->mem,
 * w->mem_len bytes; rec__writer_free_mem releases it. Returns 0 or -errno. */
int rec__writer_init_mem(struct rec_writer *w);
void rec__writer_free_mem(struct rec_writer *w);
/* Write one whole section. Returns 0 or -errno. */
int rec__write(struct rec_writer *w, uint32_t type, uint16_t version, uint16_t flags,
	      const void *payload, size_t len);
/* Same, with the payload in two parts (e.g. a small header and guest pages). */
int rec__write2(struct rec_writer *w, uint32_t type, uint16_t version, uint16_t flags,
	       const void *a, size_t alen, const void *b, size_t blen);
/* Write the END section. Returns 0 or -errno. */
int rec__writer_finish(struct rec_writer *w);

/* Sections a caller writes itself at the writer's file position (a live
 * snapshot writes RAM straight from the guest mapping and hashes what
 * reached the file afterwards): fill in h->checksum for a payload given in
 * up to two parts (h->type, version, flags and length set, length equal to
 * alen + blen), and, once the section is in the file, account for it so END
 * counts it and the writer's next section follows it. rec__section_sum
 * returns 0 or -ENOMEM. */
int  rec__section_sum(struct rec_section_hdr *h, const void *a, size_t alen, const void *b, size_t blen);
void rec__writer_account(struct rec_writer *w, uint64_t payload_len);
/* Seed of a section's payload checksum (a hash of its header's first 16
 * bytes), for callers that verify a payload they read themselves. */
uint64_t rec__section_seed(const struct rec_section_hdr *h);

/* ---- reader ---------------------------------------------------------- */

struct rec_reader {
	int      fd;                      /* input, or -1: memory */
	const uint8_t *mem;               /* memory input (rec__reader_init_mem) */
	size_t   mem_len, mem_off;
	uint64_t sections;
	uint64_t payload_bytes;
	uint64_t offset;                  /* bytes consumed so far */
	bool     pending;                 /* a section header was read, its payload not yet */
	bool     ended;                   /* END seen and verified */
	struct rec_section_hdr cur;
	uint64_t max_len;                 /* sections longer than this are refused (default 64 MiB) */
	char     err[256];                /* why the last call failed, for humans */
};

/* Read and check the file header. Returns 0, or -1 with r->err set
 * (bad magic, other major version, bad checksum, short file). */
int rec__reader_init(struct rec_reader *r, int fd);
/* The same over a stream held in memory (a received message), read in
 * place: no copy into a file first. */
int rec__reader_init_mem(struct rec_reader *r, const void *data, size_t len);
/* Read the next section header into *h. Returns 1 (a section; call
 * rec__read_payload or rec__skip next), 0 (END reached and verified),
 * or -1 with r->err set (truncated, corrupt header, END mismatch). */
int rec__next(struct rec_reader *r, struct rec_section_hdr *h);
/* Read the current section's whole payload into buf (len must equal
 * h->length) and verify its checksum. Returns 0 or -1 with r->err set. */
int rec__read_payload(struct rec_reader *r, void *buf, size_t len);
/* Skip the current section's payload (still verifying its checksum). */
int rec__skip(struct rec_reader *r);
/* File readers only: step over the current section's payload without
 * reading it (lseek), so a restore can read guest pages later, in
 * parallel or on demand. Its checksum is NOT verified here: the caller
 * must verify it (rec__section_seed) before it uses a byte. *payload_off
 * gets the payload's file offset. Returns 0 or -1 with r->err set. */
int rec__defer(struct rec_reader *r, uint64_t *payload_off);
/* What to do with a section type a reader does not know: if the section
 * is REC_F_REQUIRED, fail with a clear message; otherwise skip it.
 * Returns 0 (skipped) or -1 with r->err set. */
int rec__skip_unknown(struct rec_reader *r);

const char *rec__type_name(uint32_t type);

/* ---- tlv: self-describing fields inside a section payload --------------
 * A payload made of fields: u16 id, u16 flags (REC_F_REQUIRED), u32 len,
 * then len bytes padded to 8. Used for vCPU and VM-config sections so a
 * newer writer can add fields an older reader skips. */

struct tlv_buf {
	uint8_t *data;
	size_t   len, cap;
	int      error;                   /* -ENOMEM (or -EINVAL) once an append failed;
					   * later appends fail too, so check once at the end */
};

void tlv__init(struct tlv_buf *b);
void tlv__free(struct tlv_buf *b);
int  tlv__put(struct tlv_buf *b, uint16_t id, uint16_t flags, const void *val, size_t len);
int  tlv__put_u64(struct tlv_buf *b, uint16_t id, uint16_t flags, uint64_t v);

struct tlv_field {
	uint16_t id;
	uint16_t flags;
	uint32_t len;
	const void *val;
};

struct tlv_iter {
	const uint8_t *data;
	size_t len, off;
};

void tlv__iter_init(struct tlv_iter *it, const void *data, size_t len);
/* Returns 1 with *f filled, 0 at the end, -1 if the payload is malformed. */
int  tlv__next(struct tlv_iter *it, struct tlv_field *f);
/* Find a field by id; returns NULL if absent (or the payload is malformed
 * before it). */
const struct tlv_field *tlv__find(const void *data, size_t len, uint16_t id, struct tlv_field *out);
/* Returns 0, -ENOENT (absent) or -EINVAL (present but not 8 bytes). */
int  tlv__get_u64(const void *data, size_t len, uint16_t id, uint64_t *v);
/* The tlv counterpart of rec__skip_unknown: check a whole payload is well
 * formed and that every REC_F_REQUIRED field's id is among known[]. Returns
 * 0, or -1 with a message in err (if err is not NULL). */
int  tlv__validate(const void *data, size_t len, const uint16_t *known, size_t nknown,
		  char *err, size_t errlen);

#endif
