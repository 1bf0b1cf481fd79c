/* record_write.c - the state-record writer: file header, sections, END.
 *
 * Writes go straight to the fd (no buffering) so a section's guest pages are
 * never copied; each section is one writev of header, payload parts and
 * padding. A memory writer (fd -1) appends to a growing buffer instead:
 * that is how wire messages are built. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "state/record.h"
#include "state/record_int.h"
#include "util/hash.h"
#include "util/io.h"

static const uint8_t zero_pad[8];

/* Memory output: append, growing the buffer geometrically. */
static int append_mem(struct rec_writer *w, const struct iovec *iov, int n)
{
	size_t need = w->mem_len;
	for (int i = 0; i < n; i++)
		need += iov[i].iov_len;
	if (need > w->mem_cap) {
		size_t cap = w->mem_cap ? w->mem_cap : 4096;
		while (cap < need)
			cap *= 2;
		uint8_t *p = realloc(w->mem, cap);
		if (!p)
			return -ENOMEM;
		w->mem = p;
		w->mem_cap = cap;
	}
	for (int i = 0; i < n; i++) {
		memcpy(w->mem + w->mem_len, iov[i].iov_base, iov[i].iov_len);
		w->mem_len += iov[i].iov_len;
	}
	return 0;
}

static int emit(struct rec_writer *w, struct iovec *iov, int n)
{
	return w->fd < 0 ? append_mem(w, iov, n) : writev__full(w->fd, iov, n);
}

/* Record the first error; the stream is unusable after a partial write. */
static int fail(struct rec_writer *w, int err)
{
	if (!w->error)
		w->error = -err;
	return err;
}

static int write_file_hdr(struct rec_writer *w)
{
	struct rec_file_hdr h;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, REC_MAGIC, sizeof(h.magic));
	h.major = REC_FORMAT_MAJOR;
	h.minor = REC_FORMAT_MINOR;
	h.hdr_size = sizeof(h);
	h.flags = 0;
	h.checksum = XXH3_64bits(&h, offsetof(struct rec_file_hdr, checksum));

	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	int rc = emit(w, &iov, 1);
	if (rc)
		return fail(w, rc);
	w->bytes_out = sizeof(h);
	return 0;
}

int rec__writer_init(struct rec_writer *w, int fd)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	return write_file_hdr(w);
}

int rec__writer_init_mem(struct rec_writer *w)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	return write_file_hdr(w);
}

void rec__writer_free_mem(struct rec_writer *w)
{
	free(w->mem);
	w->mem = NULL;
	w->mem_len = w->mem_cap = 0;
}

/* Shared by rec__write2 and the END writer, which alone may use type END. */
static int write_section(struct rec_writer *w, uint32_t type, uint16_t version, uint16_t flags,
			 const void *a, size_t alen, const void *b, size_t blen)
{
	if (w->error)
		return -w->error;
	if ((alen && !a) || (blen && !b) || alen > UINT64_MAX - blen)
		return -EINVAL;   /* caller bug; nothing written, stream still fine */
	if (flags & ~REC_KNOWN_FLAGS)
		return -EINVAL;   /* readers would refuse the stream */

	uint64_t len = (uint64_t)alen + blen;
	struct rec_section_hdr h = {
		.type = type, .version = version, .flags = flags, .length = len,
	};

	/* Streaming hash so the two parts need not be joined in memory. */
	XXH3_state_t *st = XXH3_createState();
	if (!st)
		return -ENOMEM;
	XXH3_64bits_reset_withSeed(st, rec__section_seed(&h));
	if (alen)
		XXH3_64bits_update(st, a, alen);
	if (blen)
		XXH3_64bits_update(st, b, blen);
	h.checksum = XXH3_64bits_digest(st);
	XXH3_freeState(st);

	struct iovec iov[4];
	int n = 0;
	iov[n++] = (struct iovec){ .iov_base = &h, .iov_len = sizeof(h) };
	if (alen)
		iov[n++] = (struct iovec){ .iov_base = (void *)a, .iov_len = alen };
	if (blen)
		iov[n++] = (struct iovec){ .iov_base = (void *)b, .iov_len = blen };
	if (rec__pad(len))
		iov[n++] = (struct iovec){ .iov_base = (void *)zero_pad, .iov_len = rec__pad(len) };

	int rc = emit(w, iov, n);
	if (rc)
		return fail(w, rc);
	w->bytes_out += sizeof(h) + len + rec__pad(len);
	return 0;
}

int rec__write2(struct rec_writer *w, uint32_t type, uint16_t version, uint16_t flags,
	       const void *a, size_t alen, const void *b, size_t blen)
{
	if (type == REC_END)
		return -EINVAL;   /* END is written by rec__writer_finish only */
	int rc = write_section(w, type, version, flags, a, alen, b, blen);
	if (rc)
		return rc;
	w->sections++;
	w->payload_bytes += (uint64_t)alen + blen;
	return 0;
}

int rec__write(struct rec_writer *w, uint32_t type, uint16_t version, uint16_t flags,
	      const void *payload, size_t len)
{
	return rec__write2(w, type, version, flags, payload, len, NULL, 0);
}

int rec__writer_finish(struct rec_writer *w)
{
	struct rec_end e = { .sections = w->sections, .payload_bytes = w->payload_bytes };
	return write_section(w, REC_END, REC_END_VERSION, REC_F_REQUIRED, &e, sizeof(e), NULL, 0);
}

int rec__section_sum(struct rec_section_hdr *h, const void *a, size_t alen, const void *b, size_t blen)
{
	if (!blen) {
		h->checksum = XXH3_64bits_withSeed(a, alen, rec__section_seed(h));
		return 0;
	}
	XXH3_state_t *st = XXH3_createState();
	if (!st)
		return -ENOMEM;
	XXH3_64bits_reset_withSeed(st, rec__section_seed(h));
	if (alen)
		XXH3_64bits_update(st, a, alen);
	XXH3_64bits_update(st, b, blen);
	h->checksum = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return 0;
}

void rec__writer_account(struct rec_writer *w, uint64_t payload_len)
{
	w->sections++;
	w->payload_bytes += payload_len;
	w->bytes_out += REC_SECTION_HDR_SIZE + payload_len + rec__pad(payload_len);
}
