/* bitmap.h - a plain bitmap, one bit per 4 KiB guest page (bit i = pfn i),
 * kept in 64-bit words, bit i in word i / 64 at position i % 64 (the same
 * layout as KVM's dirty log on x86-64, so KVM's words can be OR'd in).
 *
 * Not thread-safe: one owner at a time. Bits at or beyond nbits are never
 * set (every operation that writes whole words masks the last one), so
 * counts and searches need no special casing.
 */
#ifndef TERN_MEM_BITMAP_H
#define TERN_MEM_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct page_bitmap {
	uint64_t *w;                      /* nwords words, zeroed by init */
	uint64_t  nbits;
	size_t    nwords;                 /* (nbits + 63) / 64 */
};

#define BITMAP_WORDS(nbits) (((nbits) + 63) / 64)

/* All clear. Returns 0, -ENOMEM, or -EINVAL for nbits == 0. */
int  bitmap__init(struct page_bitmap *b, uint64_t nbits);
/* Safe on a zeroed or already freed bitmap. */
void bitmap__free(struct page_bitmap *b);

/* Single bits; i must be < nbits (checked with an assert-free early
 * return: an out-of-range i is ignored, and tests false). */
static inline void bitmap__set(struct page_bitmap *b, uint64_t i)
{
	if (i < b->nbits)
		b->w[i / 64] |= 1ULL << (i % 64);
}

static inline void bitmap__clear(struct page_bitmap *b, uint64_t i)
{
	if (i < b->nbits)
		b->w[i / 64] &= ~(1ULL << (i % 64));
}

static inline bool bitmap__test(const struct page_bitmap *b, uint64_t i)
{
	return i < b->nbits && (b->w[i / 64] >> (i % 64)) & 1;
}

/* [start, start + n), clipped to nbits. */
void bitmap__set_range(struct page_bitmap *b, uint64_t start, uint64_t n);
void bitmap__clear_range(struct page_bitmap *b, uint64_t start, uint64_t n);
void bitmap__set_all(struct page_bitmap *b);
void bitmap__clear_all(struct page_bitmap *b);

/* Number of set bits. */
uint64_t bitmap__count(const struct page_bitmap *b);
/* The first set bit at or after `from`, or -1 if there is none. */
int64_t  bitmap__next_set(const struct page_bitmap *b, uint64_t from);
/* The first clear bit at or after `from`, or -1 if there is none. */
int64_t  bitmap__next_clear(const struct page_bitmap *b, uint64_t from);

/* Whole-bitmap operations; the operands must have the same nbits (if not,
 * only the common words are touched). */
void     bitmap__copy(struct page_bitmap *dst, const struct page_bitmap *src);
/* dst |= src; returns how many bits were newly set in dst. */
uint64_t bitmap__or(struct page_bitmap *dst, const struct page_bitmap *src);
/* dst |= words (a raw array of dst->nwords words, e.g. KVM's dirty log);
 * returns how many bits were newly set in dst. */
uint64_t bitmap__or_words(struct page_bitmap *dst, const uint64_t *words);
/* dst |= a ^ b (pages whose state differs between a and b). */
void     bitmap__or_xor(struct page_bitmap *dst, const struct page_bitmap *a,
		       const struct page_bitmap *b);

#endif
