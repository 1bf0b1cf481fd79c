/* bitmap.c - page bitmap, a word at a time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/bitmap.h"

/* Valid bits of the last word. */
static inline uint64_t last_mask(const struct page_bitmap *b)
{
	unsigned r = (unsigned)(b->nbits % 64);
	return r ? (1ULL << r) - 1 : ~0ULL;
}

int bitmap__init(struct page_bitmap *b, uint64_t nbits)
{
	memset(b, 0, sizeof(*b));
	if (nbits == 0)
		return -EINVAL;
	if (BITMAP_WORDS(nbits) > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	b->w = calloc((size_t)BITMAP_WORDS(nbits), sizeof(uint64_t));
	if (!b->w)
		return -ENOMEM;
	b->nbits = nbits;
	b->nwords = (size_t)BITMAP_WORDS(nbits);
	return 0;
}

void bitmap__free(struct page_bitmap *b)
{
	free(b->w);
	memset(b, 0, sizeof(*b));
}

/* Apply set (or clear) to [start, end) word by word. */
static void range_op(struct page_bitmap *b, uint64_t start, uint64_t n, bool set)
{
	uint64_t end;
	if (start >= b->nbits || n == 0)
		return;
	end = n > b->nbits - start ? b->nbits : start + n;
	while (start < end) {
		uint64_t wi = start / 64;
		unsigned lo = (unsigned)(start % 64);
		uint64_t span = end - start < 64 - lo ? end - start : 64 - lo;
		uint64_t m = span == 64 ? ~0ULL : ((1ULL << span) - 1) << lo;
		if (set)
			b->w[wi] |= m;
		else
			b->w[wi] &= ~m;
		start += span;
	}
}

void bitmap__set_range(struct page_bitmap *b, uint64_t start, uint64_t n)
{
	range_op(b, start, n, true);
}

void bitmap__clear_range(struct page_bitmap *b, uint64_t start, uint64_t n)
{
	range_op(b, start, n, false);
}

void bitmap__set_all(struct page_bitmap *b)
{
	if (!b->nwords)
		return;
	memset(b->w, 0xff, b->nwords * sizeof(uint64_t));
	b->w[b->nwords - 1] &= last_mask(b);
}

void bitmap__clear_all(struct page_bitmap *b)
{
	if (b->nwords)
		memset(b->w, 0, b->nwords * sizeof(uint64_t));
}

uint64_t bitmap__count(const struct page_bitmap *b)
{
	uint64_t n = 0;
	for (size_t i = 0; i < b->nwords; i++)
		n += (uint64_t)__builtin_popcountll(b->w[i]);
	return n;
}

static int64_t next(const struct page_bitmap *b, uint64_t from, uint64_t flip)
{
	size_t wi;
	uint64_t w;
	if (from >= b->nbits)
		return -1;
	wi = (size_t)(from / 64);
	w = (b->w[wi] ^ flip) & (~0ULL << (from % 64));
	for (;;) {
		if (wi == b->nwords - 1)
			w &= last_mask(b);
		if (w) {
			int64_t i = (int64_t)(wi * 64 + (unsigned)__builtin_ctzll(w));
			return i;
		}
		if (++wi >= b->nwords)
			return -1;
		w = b->w[wi] ^ flip;
	}
}

int64_t bitmap__next_set(const struct page_bitmap *b, uint64_t from)
{
	return next(b, from, 0);
}

int64_t bitmap__next_clear(const struct page_bitmap *b, uint64_t from)
{
	return next(b, from, ~0ULL);
}

static size_t common(const struct page_bitmap *a, const struct page_bitmap *b)
{
	return a->nwords < b->nwords ? a->nwords : b->nwords;
}

void bitmap__copy(struct page_bitmap *dst, const struct page_bitmap *src)
{
	size_t n = common(dst, src);
	if (n)
		memcpy(dst->w, src->w, n * sizeof(uint64_t));
	if (dst->nwords)
		dst->w[dst->nwords - 1] &= last_mask(dst);
}

uint64_t bitmap__or_words(struct page_bitmap *dst, const uint64_t *words)
{
	uint64_t added = 0;
	for (size_t i = 0; i < dst->nwords; i++) {
		uint64_t add = words[i] & ~dst->w[i];
		if (i == dst->nwords - 1)
			add &= last_mask(dst);
		if (add) {
			dst->w[i] |= add;
			added += (uint64_t)__builtin_popcountll(add);
		}
	}
	return added;
}

uint64_t bitmap__or(struct page_bitmap *dst, const struct page_bitmap *src)
{
	uint64_t added = 0;
	size_t n = common(dst, src);
	for (size_t i = 0; i < n; i++) {
		uint64_t add = src->w[i] & ~dst->w[i];
		if (i == dst->nwords - 1)
			add &= last_mask(dst);
		dst->w[i] |= add;
		added += (uint64_t)__builtin_popcountll(add);
	}
	return added;
}

void bitmap__or_xor(struct page_bitmap *dst, const struct page_bitmap *a, const struct page_bitmap *b)
{
	size_t n = common(dst, a);
	if (b->nwords < n)
		n = b->nwords;
	for (size_t i = 0; i < n; i++)
		dst->w[i] |= a->w[i] ^ b->w[i];
	if (n && n == dst->nwords)
		dst->w[n - 1] &= last_mask(dst);
}
