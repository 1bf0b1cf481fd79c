/* ram_batch.c - one W_RAM payload applied to guest RAM (see ram_batch.h). */
#include <stdbool.h>
#include <string.h>
#include <xxhash.h>

#include "helper/mailbox.h"

#include "migrate/private_path.h"
#include "migrate/ram_batch.h"
#include "util/log.h"

int ram_batch__apply(const struct ram_batch_sink *s, const uint8_t *data, size_t len, char *err,
		     size_t errlen)
{
	struct ram_batch_hdr h;
	const uint8_t *p = data, *end = data + len;
	bool helper = false;

	if (len < sizeof(h)) {
		errbuf__set(err, errlen, "RAM batch is truncated");
		return -1;
	}
	memcpy(&h, p, sizeof(h));
	p += sizeof(h);
	if (XXH3_64bits(p, (size_t)(end - p)) != h.checksum) {
		errbuf__set(err, errlen, "RAM batch checksum mismatch: the stream was corrupted");
		return -1;
	}
	for (uint32_t i = 0; i < h.count; i++) {
		uint64_t word, gpa;
		if (end - p < 8)
			goto bad;
		memcpy(&word, p, 8);
		p += 8;
		/* the kind lives in the low bits, so gpa is page aligned and a
		 * gpa below ram_size leaves a whole page inside RAM */
		gpa = word & ~PAGE_KIND_MASK;
		if (gpa >= s->ram_size)
			goto bad;
		switch (word & PAGE_KIND_MASK) {
		case PAGE_NORMAL:
			if (end - p < 4096)
				goto bad;
			memcpy(s->ram + gpa, p, 4096);
			p += 4096;
			s->st->normal++;
			break;
		case PAGE_ZERO:
			memset(s->ram + gpa, 0, 4096);
			s->st->duplicate++;
			break;
		case PAGE_PRIVATE: {
			uint32_t plen;
			if (!s->open_private || end - p < 4)
				goto bad;
			memcpy(&plen, p, 4);
			p += 4;
			if (plen > PRIVATE_PACKET_MAX || end - p < plen)
				goto bad;
			if (s->open_private(s->ctx, p, plen, err, errlen))
				return -1;
			p += plen;
			s->st->private_pages++;
			s->st->psp_pages++;
			s->st->psp_bytes += plen;
			break;
		}
		case PAGE_HELPER:
			if (!s->open_helper || end - p < HELPER_PACKET_SIZE)
				goto bad;
			if (s->open_helper(s->ctx, gpa, p, err, errlen))
				return -1;
			p += HELPER_PACKET_SIZE;
			s->st->private_pages++;
			s->st->helper_pages++;
			s->st->helper_bytes += HELPER_PACKET_SIZE;
			helper = true;
			break;
		default:
			goto bad;
		}
	}
	if (p != end)
		goto bad;
	if (helper && s->flush_helper(s->ctx, err, errlen))
		return -1;
	return 0;
bad:
	errbuf__set(err, errlen, "RAM batch is malformed");
	return -1;
}
