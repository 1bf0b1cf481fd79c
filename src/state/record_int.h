/* record_int.h - pieces shared by the record writer and reader; not part of
 * the public interface (see record.h). */
#ifndef TERN_STATE_RECORD_INT_H
#define TERN_STATE_RECORD_INT_H

#include <stdint.h>
#include "state/record.h"

/* The on-disk structures are written and read as raw memory, which is only
 * right on a little-endian host. tern is x86-64 only; say so loudly if that
 * ever changes rather than silently producing unreadable files. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the state record format is little endian; this code assumes a little-endian host"
#endif

#define REC_FILE_HDR_SIZE    32u
#define REC_SECTION_HDR_SIZE 24u
#define REC_HASHED_HDR_BYTES 16u          /* type, version, flags, length */
#define REC_END_VERSION      1u
#define REC_DEFAULT_MAX_LEN  (64ull << 20)
#define REC_KNOWN_FLAGS      REC_F_REQUIRED

/* Seed for a section's payload checksum: ties the checksum to the header
 * fields so a flipped type, flag or length is caught like a flipped payload
 * byte. */
/* Zero bytes needed after a payload of len bytes to reach 8-byte alignment. */
static inline unsigned rec__pad(uint64_t len)
{
	return (unsigned)((8 - (len & 7)) & 7);
}

#endif
