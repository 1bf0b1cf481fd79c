/* ram_map.h - which file section holds each guest page of a snapshot.
 *
 * A live snapshot writes a page once per round it was dirty in, so a page
 * may sit in several RAM sections; the last one in the file wins. A
 * ram_map records, per guest page, the section that wins (or none: the
 * page is zero), so a restore reads each page once, from the right place,
 * in any order: in parallel, or on demand when a lazily restored guest
 * touches it. The writer stores the same map at the end of the file as a
 * RAM_INDEX section (docs/state-format.md); the reader checks the one it
 * builds from the sections against it.
 *
 * No KVM and no machine here: the fuzz target drives the index parser. */
#ifndef TERN_STATE_RAM_MAP_H
#define TERN_STATE_RAM_MAP_H

#include <stddef.h>
#include <stdint.h>

#define RAM_MAP_NONE UINT32_MAX           /* no section: a zero page */
#define RAM_INDEX_VERSION 1

struct ram_sec {
	uint64_t off;                     /* file offset of the section header */
	uint64_t pfn, npages;             /* the pages it carries */
	uint64_t wins;                    /* how many of them win (ram_map__finish) */
};

struct ram_map {
	uint64_t npages;                  /* guest pages */
	uint32_t *sec;                    /* per page: index into secs, or RAM_MAP_NONE */
	struct ram_sec *secs;
	size_t nsecs, cap;
};

/* One run of the RAM_INDEX payload: pages [pfn, pfn + npages) are in the
 * RAM section whose header is at file offset `off`. */
struct ram_index_run {
	uint64_t pfn, npages, off;
};

/* Returns 0 or -ENOMEM / -EINVAL (npages 0 or too many for 32-bit indices). */
int  ram_map__init(struct ram_map *m, uint64_t npages);
void ram_map__free(struct ram_map *m);
/* A RAM section at file offset off carrying [pfn, pfn + npages); later
 * calls win over earlier ones. Sections must come in file order. Returns 0,
 * or -1 with err (beyond RAM, out of order, out of memory). */
int  ram_map__add(struct ram_map *m, uint64_t off, uint64_t pfn, uint64_t npages,
		  char *err, size_t errlen);
/* Count each section's winning pages (ram_sec.wins); returns the pages
 * that have data. */
uint64_t ram_map__finish(struct ram_map *m);

/* The RAM_INDEX payload for m: u64 npages, u64 nruns, then nruns runs of
 * {u64 pfn, u64 npages, u64 off}, sorted, maximal. Returns 0 or -ENOMEM. */
int  ram_map__index_encode(const struct ram_map *m, void **buf, size_t *len);
/* Parse and check a RAM_INDEX payload on its own: its size, a guest of
 * npages, every run non-empty, inside RAM, after the previous one, every
 * section offset at least min_off. *runs points into p. Returns the number
 * of runs, or -1 with err. */
int64_t ram_index__parse(const void *p, size_t len, uint64_t npages, uint64_t min_off,
			 const struct ram_index_run **runs, char *err, size_t errlen);
/* The parsed index against the map built from the file's sections: the
 * same page to the same section everywhere. Returns 0 or -1 with err naming
 * the first page that differs. */
int  ram_map__index_check(const struct ram_map *m, const void *p, size_t len,
			  char *err, size_t errlen);

#endif
