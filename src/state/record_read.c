/* record_read.c - the state-record reader.
 *
 * Every failure leaves a specific sentence in r->err naming what was wrong
 * and where (byte offset of the file or section header), because these
 * messages are what an operator sees when a snapshot or migration fails. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/record.h"
#include "state/record_int.h"
#include "util/hash.h"
#include "util/io.h"

__attribute__((format(printf, 2, 3)))
static int fail(struct rec_reader *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* Read up to len bytes from the stream, file or memory. Returns the bytes
 * read (fewer than len only at end of stream) or -errno. */
static ssize_t read_in(struct rec_reader *r, void *buf, size_t len)
{
	if (r->fd >= 0)
		return read__full(r->fd, buf, len);
	size_t left = r->mem_len - r->mem_off;
	size_t n = len < left ? len : left;
	memcpy(buf, r->mem + r->mem_off, n);
	r->mem_off += n;
	return (ssize_t)n;
}

/* A section's name for messages: unknown types show their number, which is
 * what someone debugging a stream from a newer tern needs. Returned by value
 * so it can be used inline in a fail() call. */
struct tname { char s[32]; };
static struct tname tname(uint32_t type)
{
	struct tname n;
	const char *name = rec__type_name(type);
	if (strcmp(name, "unknown"))
		snprintf(n.s, sizeof(n.s), "%s", name);
	else
		snprintf(n.s, sizeof(n.s), "of unknown type 0x%04x", type);
	return n;
}

/* Offset of the current section's header; valid while a payload is pending. */
static uint64_t cur_start(const struct rec_reader *r)
{
	return r->offset - REC_SECTION_HDR_SIZE;
}

/* Read exactly len bytes of the current section: part of its payload
 * (done bytes of it already read) or its padding. */
static int read_body(struct rec_reader *r, void *buf, size_t len, const char *what,
		     uint64_t done, uint64_t total)
{
	ssize_t got = read_in(r, buf, len);
	if (got < 0)
		return fail(r, "read error in %s of section %s at offset %llu: %s", what,
			    tname(r->cur.type).s, (unsigned long long)cur_start(r), strerror((int)-got));
	if ((size_t)got < len)
		return fail(r, "truncated: %s of section %s at offset %llu (%llu of %llu bytes)", what,
			    tname(r->cur.type).s, (unsigned long long)cur_start(r),
			    (unsigned long long)(done + (uint64_t)got), (unsigned long long)total);
	return 0;
}

/* After the payload: padding must be present and zero (it is not hashed,
 * so this is what catches a flipped bit there), then the checksum. */
static int finish_section(struct rec_reader *r, uint64_t sum)
{
	unsigned padlen = rec__pad(r->cur.length);
	uint8_t pad[8] = { 0 };
	if (padlen && read_body(r, pad, padlen, "padding", 0, padlen))
		return -1;
	uint64_t start = cur_start(r);
	r->offset += r->cur.length + padlen;
	r->pending = false;
	if (sum != r->cur.checksum)
		return fail(r, "checksum mismatch in section %s at offset %llu",
			    tname(r->cur.type).s, (unsigned long long)start);
	for (unsigned i = 0; i < padlen; i++)
		if (pad[i])
			return fail(r, "non-zero padding after section %s at offset %llu",
				    tname(r->cur.type).s, (unsigned long long)start);
	return 0;
}

static int read_file_hdr(struct rec_reader *r)
{
	struct rec_file_hdr h;
	ssize_t got = read_in(r, &h, sizeof(h));
	if (got < 0)
		return fail(r, "read error in file header: %s", strerror((int)-got));
	if (got == 0)
		return fail(r, "empty stream: no file header");
	/* Check magic on whatever arrived so a short non-tern file gets the
	 * more useful message. */
	if (memcmp(h.magic, REC_MAGIC, (size_t)got < sizeof(h.magic) ? (size_t)got : sizeof(h.magic)))
		return fail(r, "bad magic (not a tern state file)");
	if ((size_t)got < sizeof(h))
		return fail(r, "truncated: file header at offset 0 (%zd of %zu bytes)", got, sizeof(h));
	r->offset = sizeof(h);

	bool sum_ok = XXH3_64bits(&h, offsetof(struct rec_file_hdr, checksum)) == h.checksum;
	if (h.major != REC_FORMAT_MAJOR)
		return fail(r, "unsupported format version %u.%u (this tern reads %u.x)%s",
			    h.major, h.minor, REC_FORMAT_MAJOR,
			    sum_ok ? "" : "; the header checksum is also wrong, so the file may be corrupt");
	if (!sum_ok)
		return fail(r, "checksum mismatch in file header");
	/* Every 1.x header is 32 bytes: extensions go in sections, never here. */
	if (h.hdr_size != sizeof(h))
		return fail(r, "bad file header size %u (expected %zu)", h.hdr_size, sizeof(h));
	if (h.flags)
		return fail(r, "unsupported file flags 0x%llx", (unsigned long long)h.flags);
	return 0;
}

int rec__reader_init(struct rec_reader *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->max_len = REC_DEFAULT_MAX_LEN;
	return read_file_hdr(r);
}

int rec__reader_init_mem(struct rec_reader *r, const void *data, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->mem = data;
	r->mem_len = len;
	r->max_len = REC_DEFAULT_MAX_LEN;
	return read_file_hdr(r);
}

/* The END section: payload read and checked here, counts compared. */
static int read_end(struct rec_reader *r)
{
	uint64_t start = cur_start(r);
	struct rec_end e;
	if (r->cur.length != sizeof(e))
		return fail(r, "corrupt END section at offset %llu: length %llu, expected %zu",
			    (unsigned long long)start, (unsigned long long)r->cur.length, sizeof(e));
	if (read_body(r, &e, sizeof(e), "payload", 0, sizeof(e)))
		return -1;
	if (finish_section(r, XXH3_64bits_withSeed(&e, sizeof(e), rec__section_seed(&r->cur))))
		return -1;
	if (e.sections != r->sections)
		return fail(r, "END says %llu sections, read %llu",
			    (unsigned long long)e.sections, (unsigned long long)r->sections);
	if (e.payload_bytes != r->payload_bytes)
		return fail(r, "END says %llu payload bytes, read %llu",
			    (unsigned long long)e.payload_bytes, (unsigned long long)r->payload_bytes);
	r->ended = true;
	return 0;
}

int rec__next(struct rec_reader *r, struct rec_section_hdr *h)
{
	if (r->ended)
		return 0;
	if (r->pending)
		return fail(r, "section %s at offset %llu: payload neither read nor skipped",
			    tname(r->cur.type).s, (unsigned long long)cur_start(r));

	uint64_t start = r->offset;
	ssize_t got = read_in(r, &r->cur, sizeof(r->cur));
	if (got < 0)
		return fail(r, "read error in section header at offset %llu: %s",
			    (unsigned long long)start, strerror((int)-got));
	if ((size_t)got < sizeof(r->cur))
		return fail(r, "truncated: section header at offset %llu (%zd of %zu bytes)",
			    (unsigned long long)start, got, sizeof(r->cur));
	r->offset += sizeof(r->cur);
	r->pending = true;

	const struct rec_section_hdr *c = &r->cur;
	/* Refuse unknown flag bits: a new flag could change how the payload
	 * must be read (say, compression), so guessing would be wrong. */
	if (c->flags & ~REC_KNOWN_FLAGS)
		return fail(r, "section %s at offset %llu has unknown flags 0x%04x",
			    tname(c->type).s, (unsigned long long)start, c->flags);
	if (c->type == REC_END)
		return read_end(r) ? -1 : 0;
	/* Checked before anything is allocated: a corrupt or hostile length
	 * must not make the caller allocate gigabytes. */
	if (c->length > r->max_len)
		return fail(r, "section %s at offset %llu: length %llu exceeds the limit of %llu bytes",
			    tname(c->type).s, (unsigned long long)start,
			    (unsigned long long)c->length, (unsigned long long)r->max_len);
	r->sections++;
	r->payload_bytes += c->length;
	if (h)
		*h = *c;
	return 1;
}

int rec__read_payload(struct rec_reader *r, void *buf, size_t len)
{
	if (!r->pending)
		return fail(r, "no section to read a payload from");
	if (len != r->cur.length)
		return fail(r, "section %s at offset %llu: payload is %llu bytes, caller expected %zu",
			    tname(r->cur.type).s, (unsigned long long)cur_start(r),
			    (unsigned long long)r->cur.length, len);
	if (len && read_body(r, buf, len, "payload", 0, len))
		return -1;
	return finish_section(r, XXH3_64bits_withSeed(buf, len, rec__section_seed(&r->cur)));
}

int rec__skip(struct rec_reader *r)
{
	if (!r->pending)
		return fail(r, "no section to skip");
	/* Read through (not lseek) so pipes and sockets work and the checksum
	 * is still verified: a corrupt skipped section means a corrupt stream. */
	XXH3_state_t *st = XXH3_createState();
	uint8_t *chunk = malloc(64 * 1024);
	if (!st || !chunk) {
		XXH3_freeState(st);
		free(chunk);
		return fail(r, "out of memory skipping section %s", tname(r->cur.type).s);
	}
	XXH3_64bits_reset_withSeed(st, rec__section_seed(&r->cur));
	int rc = 0;
	for (uint64_t left = r->cur.length; left > 0;) {
		size_t n = left < 64 * 1024 ? (size_t)left : 64 * 1024;
		if (read_body(r, chunk, n, "payload", r->cur.length - left, r->cur.length)) {
			rc = -1;
			break;
		}
		XXH3_64bits_update(st, chunk, n);
		left -= n;
	}
	if (rc == 0)
		rc = finish_section(r, XXH3_64bits_digest(st));
	XXH3_freeState(st);
	free(chunk);
	return rc;
}

int rec__skip_unknown(struct rec_reader *r)
{
	if (!r->pending)
		return fail(r, "no section to skip");
	if (r->cur.flags & REC_F_REQUIRED)
		return fail(r, "unknown required section type 0x%04x at offset %llu",
			    r->cur.type, (unsigned long long)cur_start(r));
	return rec__skip(r);
}

int rec__defer(struct rec_reader *r, uint64_t *payload_off)
{
	if (!r->pending)
		return fail(r, "no section to defer");
	if (r->fd < 0)
		return fail(r, "section %s: a stream in memory cannot be read later", tname(r->cur.type).s);
	uint64_t skip = r->cur.length + rec__pad(r->cur.length);
	/* a seek past the end of the file succeeds; the next header read then
	 * reports the truncation */
	if (lseek(r->fd, (off_t)skip, SEEK_CUR) < 0)
		return fail(r, "cannot seek past section %s at offset %llu: %s", tname(r->cur.type).s,
			    (unsigned long long)cur_start(r), strerror(errno));
	*payload_off = r->offset;
	r->offset += skip;
	r->pending = false;
	return 0;
}
