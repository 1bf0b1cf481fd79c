/* ram_batch.c - RAM messages of a data connection read and applied (see
 * ram_batch.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helper/mailbox.h"

#include "migrate/private_path.h"
#include "migrate/ram_batch.h"
#include "migrate/wire.h"
#include "util/hash.h"
#include "util/log.h"

static int suspect(struct ram_suspects *s, uint64_t gpa)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		uint64_t *g = realloc(s->gpa, cap * sizeof(*g));
		if (!g)
			return -1;
		s->gpa = g;
		s->cap = cap;
	}
	s->gpa[s->n++] = gpa;
	return 0;
}

void ram_suspects__free(struct ram_suspects *s)
{
	free(s->gpa);
	memset(s, 0, sizeof(*s));
}

/* The data bytes entry e carries, or -1 if its kind is not allowed here. */
static int64_t entry_bytes(const struct ram_batch_sink *s, const struct ram_entry *e)
{
	switch (e->word & PAGE_KIND_MASK) {
	case PAGE_NORMAL: return 4096;
	case PAGE_ZERO: return 0;
	case PAGE_PRIVATE: return s->open_private && e->aux <= PRIVATE_PACKET_MAX ? (int64_t)e->aux : -1;
	case PAGE_HELPER: return s->open_helper ? (int64_t)HELPER_PACKET_SIZE : -1;
	default: return -1;
	}
}

/* Where a plain page that post-copy no longer wants is read to: dropped
 * (every thread may write it at once; nobody reads it). */
static uint8_t discard[4096];

/* The sealed entries, in order, from the stage; the unclaimed ones
 * (post-copy) are skipped. */
static int open_sealed(const struct ram_batch_sink *s, const struct ram_entry *e, const bool *mine,
		       uint32_t count, char *err, size_t errlen)
{
	const uint8_t *p = s->stage;
	bool helper = false;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t gpa = e[i].word & ~PAGE_KIND_MASK;
		uint64_t kind = e[i].word & PAGE_KIND_MASK;
		if (!mine[i] && (kind == PAGE_PRIVATE || kind == PAGE_HELPER)) {
			p += kind == PAGE_PRIVATE ? e[i].aux : HELPER_PACKET_SIZE;
			continue;
		}
		switch (kind) {
		case PAGE_PRIVATE:
			if (s->open_private(s->ctx, p, (uint32_t)e[i].aux, err, errlen))
				return -1;
			p += e[i].aux;
			s->st->private_pages++;
			s->st->psp_pages++;
			s->st->psp_bytes += e[i].aux;
			break;
		case PAGE_HELPER:
			if (s->open_helper(s->ctx, gpa, p, err, errlen))
				return -1;
			p += HELPER_PACKET_SIZE;
			s->st->private_pages++;
			s->st->helper_pages++;
			s->st->helper_bytes += HELPER_PACKET_SIZE;
			helper = true;
			break;
		}
	}
	if (helper && s->flush_helper(s->ctx, err, errlen))
		return -1;
	if (s->placed)                    /* opened: in place */
		for (uint32_t i = 0; i < count; i++)
			if (mine[i] && ((e[i].word & PAGE_KIND_MASK) == PAGE_PRIVATE ||
					(e[i].word & PAGE_KIND_MASK) == PAGE_HELPER))
				s->placed(s->ctx, e[i].word & ~PAGE_KIND_MASK);
	return 0;
}

static int receive(const struct ram_batch_sink *s, uint64_t len, char *err, size_t errlen)
{
	struct ram_batch_hdr h;
	struct ram_entry e[RAM_BATCH_PAGES];
	struct iovec iov[RAM_BATCH_PAGES];
	bool mine[RAM_BATCH_PAGES];
	uint64_t data = 0, staged = 0;
	bool sealed = false, prev_staged = false;
	int n = 0, r;

	if (len < sizeof(h))
		goto bad;
	struct iovec hv = { &h, sizeof(h) };
	if ((r = s->read(s->rctx, &hv, 1)))
		goto io;
	if (h.count > RAM_BATCH_PAGES || len - sizeof(h) < (uint64_t)h.count * sizeof(e[0]))
		goto bad;
	struct iovec ev = { e, h.count * sizeof(e[0]) };
	if ((r = s->read(s->rctx, &ev, 1)))
		goto io;
	if (XXH3_64bits(e, h.count * sizeof(e[0])) != h.checksum) {
		errbuf__set(err, errlen, "RAM batch checksum mismatch: the stream was corrupted");
		return -1;
	}
	/* every entry checked before a byte of data is read: the kind lives
	 * in the low bits, so gpa is page aligned, and a gpa below ram_size
	 * leaves a whole page inside RAM */
	for (uint32_t i = 0; i < h.count; i++) {
		uint64_t gpa = e[i].word & ~PAGE_KIND_MASK;
		int64_t b = entry_bytes(s, &e[i]);
		if (gpa >= s->ram_size || b < 0)
			goto bad;
		data += (uint64_t)b;
		mine[i] = !s->claim || s->claim(s->ctx, gpa);
		if ((e[i].word & PAGE_KIND_MASK) == PAGE_NORMAL) {
			iov[n++] = (struct iovec){ mine[i] ? s->ram + gpa : discard, 4096 };
			prev_staged = false;
		} else if ((e[i].word & PAGE_KIND_MASK) != PAGE_ZERO) {
			/* sealed packets go to the stage, one after another:
			 * neighbours share an iovec */
			if (prev_staged)
				iov[n - 1].iov_len += (size_t)b;
			else
				iov[n++] = (struct iovec){ s->stage + staged, (size_t)b };
			staged += (uint64_t)b;
			sealed = prev_staged = true;
		}
	}
	if (data != len - sizeof(h) - h.count * sizeof(e[0]))
		goto bad;
	if (n && (r = s->read(s->rctx, iov, n)))
		goto io;
	for (uint32_t i = 0; i < h.count; i++) {
		uint64_t gpa = e[i].word & ~PAGE_KIND_MASK;
		if (!mine[i])
			continue;
		switch (e[i].word & PAGE_KIND_MASK) {
		case PAGE_NORMAL:
			if (XXH3_64bits(s->ram + gpa, 4096) != e[i].aux) {
				if (s->placed) {
					errbuf__set(err, errlen, "page 0x%llx arrived corrupted (post-copy: "
						    "the source is paused, nothing excuses it)",
						    (unsigned long long)gpa);
					return -1;
				}
				if (suspect(s->suspects, gpa)) {
					errbuf__set(err, errlen, "out of memory");
					return -1;
				}
			}
			s->st->normal++;
			if (s->placed)
				s->placed(s->ctx, gpa);
			break;
		case PAGE_ZERO:
			memset(s->ram + gpa, 0, 4096);
			s->st->duplicate++;
			if (s->placed)
				s->placed(s->ctx, gpa);
			break;
		}
	}
	if (sealed) {
		if (s->lock_private)
			s->lock_private(s->ctx, true);
		r = open_sealed(s, e, mine, h.count, err, errlen);
		if (s->lock_private)
			s->lock_private(s->ctx, false);
		if (r)
			return -1;
	}
	return 0;
io:
	errbuf__set(err, errlen, "RAM batch is truncated (%s)",
		    r == -ECONNRESET ? "the source closed the connection" : strerror(-r));
	return -1;
bad:
	errbuf__set(err, errlen, "RAM batch is malformed");
	return -1;
}

int ram_batch__receive(const struct ram_batch_sink *s, uint64_t len, char *err, size_t errlen)
{
	int r = receive(s, len, err, errlen);
	if (s->placed_all)
		s->placed_all(s->ctx);
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int ram_fence__check(const uint8_t *p, size_t len, struct ram_suspects *suspects, uint64_t *round,
		     char *err, size_t errlen)
{
	struct ram_fence f;
	uint64_t *changed = NULL;
	int ret = 0;

	if (len < sizeof(f))
		goto bad;
	memcpy(&f, p, sizeof(f));
	if (f.nchanged > RAM_FENCE_MAX_CHANGED || len - sizeof(f) != (uint64_t)f.nchanged * 8)
		goto bad;
	*round = f.round;
	if (suspects->n) {
		if (f.nchanged && !(changed = malloc((size_t)f.nchanged * 8))) {
			errbuf__set(err, errlen, "out of memory");
			return -1;
		}
		if (f.nchanged) {
			memcpy(changed, p + sizeof(f), (size_t)f.nchanged * 8);
			qsort(changed, f.nchanged, 8, cmp_u64);
		}
		for (size_t i = 0; i < suspects->n; i++) {
			if (!changed || !bsearch(&suspects->gpa[i], changed, f.nchanged, 8, cmp_u64)) {
				errbuf__set(err, errlen, "page 0x%llx arrived corrupted (its hash does not "
					    "match, and the guest did not write it while it was sent): the "
					    "stream was corrupted in transit",
					    (unsigned long long)suspects->gpa[i]);
				ret = -1;
				break;
			}
		}
		free(changed);
	}
	suspects->n = 0;
	return ret;
bad:
	errbuf__set(err, errlen, "FENCE is malformed");
	return -1;
}

int ram_open__parse(const uint8_t *p, size_t len, uint64_t ram_size, uint32_t *conns,
		    const struct ram_extent **ext, uint32_t *next, char *err, size_t errlen)
{
	struct wire_data_open o;
	const struct ram_extent *x;
	uint64_t end = 0, npages = ram_size / 4096;

	if (len < sizeof(o))
		goto bad;
	memcpy(&o, p, sizeof(o));
	if (o.nextents > RAM_MAX_EXTENTS || len - sizeof(o) != (uint64_t)o.nextents * sizeof(*x))
		goto bad;
	if (o.conns < 1 || o.conns > WIRE_MAX_DATA_CONNS) {
		errbuf__set(err, errlen, "DATA_OPEN asks for %u data connections (1..%d)", o.conns,
			    WIRE_MAX_DATA_CONNS);
		return -1;
	}
	x = (const struct ram_extent *)(const void *)(p + sizeof(o));
	for (uint32_t i = 0; i < o.nextents; i++) {
		struct ram_extent e;
		memcpy(&e, &x[i], sizeof(e));
		if (e.first < end || e.count == 0 || e.first >= npages || e.count > npages - e.first)
			goto bad;
		end = e.first + e.count;
	}
	*conns = o.conns;
	*ext = x;
	*next = o.nextents;
	return 0;
bad:
	errbuf__set(err, errlen, "DATA_OPEN is malformed");
	return -1;
}
