/* record.c - what the state-record writer and reader share: layout checks,
 * the section checksum seed and section type names. */
#include <stddef.h>

#include "state/record.h"
#include "state/record_int.h"
#include "util/hash.h"

/* The structs are the on-disk bytes, so any compiler-inserted padding or a
 * changed field would silently change the file format. */
_Static_assert(sizeof(struct rec_file_hdr) == REC_FILE_HDR_SIZE, "file header layout");
_Static_assert(offsetof(struct rec_file_hdr, checksum) == 24, "file header checksum offset");
_Static_assert(sizeof(struct rec_section_hdr) == REC_SECTION_HDR_SIZE, "section header layout");
_Static_assert(offsetof(struct rec_section_hdr, checksum) == REC_HASHED_HDR_BYTES,
	       "section header checksum offset");
_Static_assert(sizeof(struct rec_end) == 16, "END payload layout");

uint64_t rec__section_seed(const struct rec_section_hdr *h)
{
	return XXH3_64bits(h, REC_HASHED_HDR_BYTES);
}

const char *rec__type_name(uint32_t type)
{
	switch (type) {
	case REC_END:           return "END";
	case REC_VM_CONFIG:     return "VM_CONFIG";
	case REC_VCPU:          return "VCPU";
	case REC_RAM:           return "RAM";
	case REC_PAGE_STATUS:   return "PAGE_STATUS";
	case REC_RAM_INDEX:     return "RAM_INDEX";
	case REC_DEV_SERIAL:    return "DEV_SERIAL";
	case REC_DEV_GUESTCALL: return "DEV_GUESTCALL";
	case REC_HANDOFF_INFO: return "HANDOFF_INFO";
	case REC_WIRE_NONCE:   return "WIRE_NONCE";
	}
	return "unknown";
}
