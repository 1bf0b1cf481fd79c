/* hash.h - the page and record checksum: XXH3-64 from libxxhash.
 *
 * On x86-64 every call goes through the library's runtime dispatch, which
 * picks the widest vector unit this CPU has (AVX2 or AVX-512): the plain
 * entry point is built for the distribution's baseline (SSE2). Measured
 * here on 4 KiB pages: 4.4–4.8 GB/s plain, 7.5–7.7 GB/s dispatched from
 * memory, and twice that for a page already in cache; the migration
 * hashes every page up to three times (bench/README.md, "The page
 * pipeline"). The value is the same either way: only the speed differs. */
#ifndef TERN_UTIL_HASH_H
#define TERN_UTIL_HASH_H

#include <xxhash.h>
#if defined(__x86_64__) && __has_include(<xxh_x86dispatch.h>)
#include <xxh_x86dispatch.h>
#endif

#endif
