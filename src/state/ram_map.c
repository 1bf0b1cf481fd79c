/* ram_map.c - page -> winning RAM section of a snapshot, and its on-disk
 * form, the RAM_INDEX section (ram_map.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "state/ram_map.h"
#include "util/log.h"

int ram_map__init(struct ram_map *m, uint64_t npages)
{
	memset(m, 0, sizeof(*m));
	if (npages == 0 || npages >= RAM_MAP_NONE)
		return -EINVAL;
	m->sec = malloc(npages * sizeof(*m->sec));
	if (!m->sec)
		return -ENOMEM;
	memset(m->sec, 0xff, npages * sizeof(*m->sec));   /* RAM_MAP_NONE */
	m->npages = npages;
	return 0;
}

void ram_map__free(struct ram_map *m)
{
	free(m->sec);
	free(m->secs);
	memset(m, 0, sizeof(*m));
}

int ram_map__add(struct ram_map *m, uint64_t off, uint64_t pfn, uint64_t npages,
		 char *err, size_t errlen)
{
	if (npages == 0 || pfn > m->npages || npages > m->npages - pfn) {
		errbuf__set(err, errlen, "RAM section at offset %llu (pages 0x%llx+%llu) is outside guest RAM",
			   (unsigned long long)off, (unsigned long long)pfn, (unsigned long long)npages);
		return -1;
	}
	if (m->nsecs && off <= m->secs[m->nsecs - 1].off) {
		errbuf__set(err, errlen, "RAM section at offset %llu is not after the previous one",
			   (unsigned long long)off);
		return -1;
	}
	if (m->nsecs == RAM_MAP_NONE - 1) {
		errbuf__set(err, errlen, "too many RAM sections");
		return -1;
	}
	if (m->nsecs == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 256;
		struct ram_sec *s = realloc(m->secs, cap * sizeof(*s));
		if (!s) {
			errbuf__set(err, errlen, "out of memory for the RAM section list");
			return -1;
		}
		m->secs = s;
		m->cap = cap;
	}
	m->secs[m->nsecs] = (struct ram_sec){ .off = off, .pfn = pfn, .npages = npages };
	for (uint64_t i = 0; i < npages; i++)
		m->sec[pfn + i] = (uint32_t)m->nsecs;
	m->nsecs++;
	return 0;
}

uint64_t ram_map__finish(struct ram_map *m)
{
	uint64_t n = 0;
	for (size_t i = 0; i < m->nsecs; i++)
		m->secs[i].wins = 0;
	for (uint64_t p = 0; p < m->npages; p++)
		if (m->sec[p] != RAM_MAP_NONE) {
			m->secs[m->sec[p]].wins++;
			n++;
		}
	return n;
}

/* Calls fn for each maximal run of pages with the same section. */
static size_t runs(const struct ram_map *m, struct ram_index_run *out)
{
	size_t n = 0;
	uint64_t p = 0;
	while (p < m->npages) {
		uint32_t s = m->sec[p];
		uint64_t e = p + 1;
		while (e < m->npages && m->sec[e] == s)
			e++;
		if (s != RAM_MAP_NONE) {
			const struct ram_sec *rs = &m->secs[s];
			/* a run is one section's pages: contiguous within it */
			if (out)
				out[n] = (struct ram_index_run){ p, e - p, rs->off };
			n++;
		}
		p = e;
	}
	return n;
}

int ram_map__index_encode(const struct ram_map *m, void **buf, size_t *len)
{
	size_t n = runs(m, NULL);
	size_t sz = 16 + n * sizeof(struct ram_index_run);
	uint64_t *p = malloc(sz);
	if (!p)
		return -ENOMEM;
	p[0] = m->npages;
	p[1] = n;
	runs(m, (struct ram_index_run *)(p + 2));
	*buf = p;
	*len = sz;
	return 0;
}

int64_t ram_index__parse(const void *p, size_t len, uint64_t npages, uint64_t min_off,
			 const struct ram_index_run **out, char *err, size_t errlen)
{
	uint64_t hdr[2];
	if (len < sizeof(hdr) || (len - sizeof(hdr)) % sizeof(struct ram_index_run)) {
		errbuf__set(err, errlen, "RAM index of %zu bytes is malformed", len);
		return -1;
	}
	memcpy(hdr, p, sizeof(hdr));
	if (hdr[0] != npages) {
		errbuf__set(err, errlen, "RAM index is for %llu pages, the guest has %llu",
			   (unsigned long long)hdr[0], (unsigned long long)npages);
		return -1;
	}
	if (hdr[1] != (len - sizeof(hdr)) / sizeof(struct ram_index_run)) {
		errbuf__set(err, errlen, "RAM index says %llu runs in %zu bytes",
			   (unsigned long long)hdr[1], len);
		return -1;
	}
	/* 8-byte aligned in every payload the reader allocates; runs are read
	 * with memcpy anyway so a fuzzer's unaligned buffer is fine too */
	const uint8_t *r = (const uint8_t *)p + sizeof(hdr);
	uint64_t next = 0;
	for (uint64_t i = 0; i < hdr[1]; i++) {
		struct ram_index_run x;
		memcpy(&x, r + i * sizeof(x), sizeof(x));
		if (x.npages == 0 || x.pfn < next || x.pfn > npages || x.npages > npages - x.pfn ||
		    x.off < min_off) {
			errbuf__set(err, errlen, "RAM index run %llu (pages 0x%llx+%llu at offset %llu) "
				   "is empty, out of order, outside RAM or before the first section",
				   (unsigned long long)i, (unsigned long long)x.pfn,
				   (unsigned long long)x.npages, (unsigned long long)x.off);
			return -1;
		}
		next = x.pfn + x.npages;
	}
	*out = (const struct ram_index_run *)r;
	return (int64_t)hdr[1];
}

int ram_map__index_check(const struct ram_map *m, const void *p, size_t len,
			 char *err, size_t errlen)
{
	const struct ram_index_run *rv;
	int64_t n = ram_index__parse(p, len, m->npages, 0, &rv, err, errlen);
	if (n < 0)
		return -1;
	uint64_t page = 0;
	for (int64_t i = 0; i <= n; i++) {
		struct ram_index_run x = { m->npages, 0, 0 };
		if (i < n)
			memcpy(&x, (const uint8_t *)rv + (size_t)i * sizeof(x), sizeof(x));
		for (; page < x.pfn; page++)      /* a gap: zero pages */
			if (m->sec[page] != RAM_MAP_NONE)
				goto differs;
		for (; page < x.pfn + x.npages; page++)
			if (m->sec[page] == RAM_MAP_NONE || m->secs[m->sec[page]].off != x.off)
				goto differs;
	}
	return 0;
differs:
	errbuf__set(err, errlen, "RAM index disagrees with the RAM sections at page 0x%llx",
		   (unsigned long long)page);
	return -1;
}
