/* snapshot_ram.c - guest RAM into RAM sections, straight from the guest
 * mapping (snapshot_ram.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mem/page.h"
#include "util/io.h"
#include "util/log.h"
#include "vm/snapshot_ram.h"

static const uint8_t zero_page[PAGE_SIZE_4K];

int snap_ram__init(struct snap_ram *s, struct vm *vm, struct rec_writer *w, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->vm = vm;
	s->w = w;
	if (ram_map__init(&s->map, vm->ram.size / PAGE_SIZE_4K)) {
		errbuf__set(err, errlen, "out of memory for the snapshot's page map");
		return -1;
	}
	return 0;
}

void snap_ram__free(struct snap_ram *s)
{
	ram_map__free(&s->map);
}

/* Sections are written in batches: one writev for up to BATCH_SECS
 * sections (a round of scattered dirty pages is mostly one-page sections,
 * and a syscall per page would cost more than the page). */
#define BATCH_SECS  64
#define BATCH_BYTES (4u << 20)

struct batch {
	int n;
	uint64_t bytes;                   /* file bytes of the batch */
	struct rec_section_hdr h[BATCH_SECS];
	struct ram_run_hdr rh[BATCH_SECS];
	const uint8_t *src[BATCH_SECS];
	uint8_t *back;                    /* read-back buffer (running guest) */
};

static int flush(struct snap_ram *s, struct batch *b, bool running, char *err, size_t errlen)
{
	struct rec_writer *w = s->w;
	struct iovec iov[3 * BATCH_SECS];
	uint64_t off = w->bytes_out;
	int r = 0;

	if (!b->n)
		return 0;
	if (w->error) {
		r = -w->error;
		goto fail;
	}
	for (int i = 0; i < b->n; i++) {
		/* paused: the pages cannot change, hash them where they are */
		if (!running && (r = rec__section_sum(&b->h[i], &b->rh[i], sizeof(b->rh[i]), b->src[i],
						      b->rh[i].npages * PAGE_SIZE_4K)))
			goto fail;
		iov[3 * i] = (struct iovec){ &b->h[i], sizeof(b->h[i]) };
		iov[3 * i + 1] = (struct iovec){ &b->rh[i], sizeof(b->rh[i]) };
		iov[3 * i + 2] = (struct iovec){ (void *)b->src[i], b->rh[i].npages * PAGE_SIZE_4K };
	}
	if ((r = writev__full(w->fd, iov, 3 * b->n)))
		goto fail;
	if (running) {
		/* The guest may have written a page while the kernel copied it:
		 * hash what reached the file (read back from the page cache),
		 * then put each header in place. A torn page is dirty again and
		 * a later section replaces it; its section stays consistent. */
		if (!b->back && !(b->back = malloc(BATCH_BYTES + BATCH_SECS * 64))) {
			r = -ENOMEM;
			goto fail;
		}
		ssize_t got = pread(w->fd, b->back, b->bytes, (off_t)off);
		if (got != (ssize_t)b->bytes) {
			r = got < 0 ? -errno : -EIO;
			goto fail;
		}
		uint64_t at = 0;
		for (int i = 0; i < b->n; i++) {
			at += sizeof(b->h[i]);
			if ((r = rec__section_sum(&b->h[i], b->back + at, b->h[i].length, NULL, 0)))
				goto fail;
			if (pwrite(w->fd, &b->h[i], sizeof(b->h[i]), (off_t)(off + at - sizeof(b->h[i]))) !=
			    (ssize_t)sizeof(b->h[i])) {
				r = errno ? -errno : -EIO;
				goto fail;
			}
			at += b->h[i].length;
		}
	}
	for (int i = 0; i < b->n; i++) {
		uint64_t at = w->bytes_out;
		rec__writer_account(w, b->h[i].length);
		s->pages_written += b->rh[i].npages;
		if (ram_map__add(&s->map, at, b->rh[i].gpa / PAGE_SIZE_4K, b->rh[i].npages, err, errlen))
			return -1;
	}
	b->n = 0;
	b->bytes = 0;
	return 0;
fail:
	if (!w->error)
		w->error = -r;
	errbuf__set(err, errlen, "writing guest RAM: %s", strerror(-r));
	return -1;
}

/* One RAM section: pages [pfn, pfn + n), from src (the guest mapping, or
 * zero_page for one page that must become zero). */
static int add(struct snap_ram *s, struct batch *b, uint64_t pfn, uint64_t n, const uint8_t *src,
	       bool running, char *err, size_t errlen)
{
	uint64_t len = sizeof(struct ram_run_hdr) + n * PAGE_SIZE_4K;
	if ((b->n == BATCH_SECS || b->bytes + sizeof(struct rec_section_hdr) + len >
	     BATCH_BYTES + BATCH_SECS * 64) && flush(s, b, running, err, errlen))
		return -1;
	b->h[b->n] = (struct rec_section_hdr){ .type = REC_RAM, .version = 1, .flags = REC_F_REQUIRED,
					      .length = len };
	b->rh[b->n] = (struct ram_run_hdr){ pfn * PAGE_SIZE_4K, n };
	b->src[b->n] = src;
	b->n++;
	b->bytes += sizeof(struct rec_section_hdr) + len;
	return 0;
}

/* Is page p wanted by this pass (in bm), and must it be written? */
static bool wanted(const struct page_bitmap *bm, uint64_t p)
{
	return !bm || bitmap__test(bm, p);
}

int snap_ram__write(struct snap_ram *s, const struct page_bitmap *bm, bool running,
		    char *err, size_t errlen)
{
	const uint64_t npages = s->map.npages;
	const uint8_t *hva = s->vm->ram.hva;
	uint64_t pfn = 0;
	struct batch *b = calloc(1, sizeof(*b));
	int ret = -1;

	if (!b) {
		errbuf__set(err, errlen, "out of memory");
		return -1;
	}
	s->zero_pages = 0;
	while (pfn < npages) {
		if (bm) {
			int64_t nx = bitmap__next_set(bm, pfn);
			if (nx < 0)
				break;
			pfn = (uint64_t)nx;
		}
		/* Holes are never read: reading a memfd hole would allocate
		 * memory for nothing. A hole where the file holds data (the
		 * guest's RAM was reset meanwhile) gets zeros written. */
		off_t data = lseek(s->vm->ram.fd, (off_t)(pfn * PAGE_SIZE_4K), SEEK_DATA);
		uint64_t dfirst = npages;
		if (data < 0 && errno != ENXIO) {
			errbuf__set(err, errlen, "scanning guest RAM: %s", strerror(errno));
			goto out;
		}
		if (data >= 0)
			dfirst = (uint64_t)data / PAGE_SIZE_4K;
		for (; pfn < dfirst && pfn < npages; pfn++) {
			if (!wanted(bm, pfn))
				continue;
			if (s->map.sec[pfn] == RAM_MAP_NONE) {
				s->zero_pages++;
				continue;
			}
			if (add(s, b, pfn, 1, zero_page, running, err, errlen))
				goto out;
		}
		if (pfn >= npages)
			break;
		off_t hole = lseek(s->vm->ram.fd, (off_t)(pfn * PAGE_SIZE_4K), SEEK_HOLE);
		uint64_t dend = hole < 0 ? npages : ((uint64_t)hole + PAGE_SIZE_4K - 1) / PAGE_SIZE_4K;
		if (dend > npages)
			dend = npages;
		while (pfn < dend) {
			const uint8_t *p = hva + pfn * PAGE_SIZE_4K;
			if (!wanted(bm, pfn)) {
				pfn++;
				continue;
			}
			if (page__is_zero(p) && s->map.sec[pfn] == RAM_MAP_NONE) {
				s->zero_pages++;
				pfn++;
				continue;
			}
			uint64_t n = 1;
			while (pfn + n < dend && n < RAM_RUN_MAX_PAGES && wanted(bm, pfn + n) &&
			       (s->map.sec[pfn + n] != RAM_MAP_NONE || !page__is_zero(p + n * PAGE_SIZE_4K)))
				n++;
			if (add(s, b, pfn, n, p, running, err, errlen))
				goto out;
			pfn += n;
		}
	}
	ret = flush(s, b, running, err, errlen);
out:
	free(b->back);
	free(b);
	return ret;
}

int snap_ram__write_index(struct snap_ram *s, char *err, size_t errlen)
{
	void *buf;
	size_t len;
	if (ram_map__index_encode(&s->map, &buf, &len)) {
		errbuf__set(err, errlen, "out of memory for the RAM index");
		return -1;
	}
	/* optional: a reader without it builds the same map from the sections */
	int r = len > (64u << 20) ? 0 : rec__write(s->w, REC_RAM_INDEX, RAM_INDEX_VERSION, 0, buf, len);
	free(buf);
	if (r) {
		errbuf__set(err, errlen, "writing the RAM index: %s", strerror(-r));
		return -1;
	}
	return 0;
}
