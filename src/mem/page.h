/* page.h - small facts about 4 KiB guest pages shared by snapshot and
 * migration. */
#ifndef TERN_MEM_PAGE_H
#define TERN_MEM_PAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* True if the 4 KiB at p are all zero. p may be unaligned (migration
 * batches): words are loaded with memcpy, which compiles to plain loads. */
static inline bool page__is_zero(const uint8_t *p)
{
	for (int i = 0; i < 4096; i += 32) {
		uint64_t w[4];
		memcpy(w, p + i, sizeof(w));
		if (w[0] | w[1] | w[2] | w[3])
			return false;
	}
	return true;
}

#endif
