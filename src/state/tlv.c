/* tlv.c - self-describing fields inside a section payload (see record.h).
 *
 * Field: u16 id, u16 flags, u32 len, len bytes, zero padding to 8. Values
 * are copied in and out with memcpy, so callers need not care about the
 * alignment of the payload buffer. Little endian, like the rest of the
 * format (record_int.h refuses to build elsewhere). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/record.h"
#include "state/record_int.h"

#define TLV_HDR 8u

void tlv__init(struct tlv_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void tlv__free(struct tlv_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static int reserve(struct tlv_buf *b, size_t more)
{
	if (more > SIZE_MAX - b->len)
		return -ENOMEM;
	size_t need = b->len + more;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int tlv__put(struct tlv_buf *b, uint16_t id, uint16_t flags, const void *val, size_t len)
{
	/* One failed append poisons the buffer so a caller can check once,
	 * after building the whole payload. */
	if (b->error)
		return b->error;
	if (len > UINT32_MAX || (len && !val))
		return b->error = -EINVAL;
	unsigned pad = rec__pad(len);
	if (reserve(b, TLV_HDR + len + pad))
		return b->error = -ENOMEM;

	uint8_t *p = b->data + b->len;
	uint32_t len32 = (uint32_t)len;
	memcpy(p, &id, 2);
	memcpy(p + 2, &flags, 2);
	memcpy(p + 4, &len32, 4);
	if (len)
		memcpy(p + TLV_HDR, val, len);
	memset(p + TLV_HDR + len, 0, pad);
	b->len += TLV_HDR + len + pad;
	return 0;
}

int tlv__put_u64(struct tlv_buf *b, uint16_t id, uint16_t flags, uint64_t v)
{
	return tlv__put(b, id, flags, &v, sizeof(v));
}

void tlv__iter_init(struct tlv_iter *it, const void *data, size_t len)
{
	it->data = data;
	it->len = len;
	it->off = 0;
}

int tlv__next(struct tlv_iter *it, struct tlv_field *f)
{
	if (it->off >= it->len)
		return 0;
	size_t left = it->len - it->off;
	const uint8_t *p = it->data + it->off;
	if (left < TLV_HDR)
		return -1;
	memcpy(&f->id, p, 2);
	memcpy(&f->flags, p + 2, 2);
	memcpy(&f->len, p + 4, 4);
	unsigned pad = rec__pad(f->len);
	/* The writer always pads, so a missing or dirty pad is corruption. */
	if ((uint64_t)f->len + pad > left - TLV_HDR)
		return -1;
	for (unsigned i = 0; i < pad; i++)
		if (p[TLV_HDR + f->len + i])
			return -1;
	f->val = p + TLV_HDR;
	it->off += TLV_HDR + f->len + pad;
	return 1;
}

const struct tlv_field *tlv__find(const void *data, size_t len, uint16_t id, struct tlv_field *out)
{
	struct tlv_iter it;
	struct tlv_field f;
	tlv__iter_init(&it, data, len);
	while (tlv__next(&it, &f) == 1) {
		if (f.id == id) {
			*out = f;
			return out;
		}
	}
	return NULL;
}

int tlv__get_u64(const void *data, size_t len, uint16_t id, uint64_t *v)
{
	struct tlv_field f;
	if (!tlv__find(data, len, id, &f))
		return -ENOENT;
	if (f.len != sizeof(*v))
		return -EINVAL;
	memcpy(v, f.val, sizeof(*v));
	return 0;
}

__attribute__((format(printf, 3, 4)))
static int vfail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int tlv__validate(const void *data, size_t len, const uint16_t *known, size_t nknown,
		 char *err, size_t errlen)
{
	struct tlv_iter it;
	struct tlv_field f;
	int rc;
	tlv__iter_init(&it, data, len);
	while ((rc = tlv__next(&it, &f)) == 1) {
		if (!(f.flags & REC_F_REQUIRED))
			continue;
		bool found = false;
		for (size_t i = 0; i < nknown && !found; i++)
			found = known[i] == f.id;
		if (!found)
			return vfail(err, errlen, "unknown required field 0x%04x at offset %zu",
				     f.id, it.off - TLV_HDR - f.len - rec__pad(f.len));
	}
	if (rc < 0)
		return vfail(err, errlen, "malformed field at offset %zu", it.off);
	return 0;
}
