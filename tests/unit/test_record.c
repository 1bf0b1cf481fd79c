/* test_record.c - the state record format: round trips, unknown sections,
 * truncation and corruption at every byte, version skew, limits, tlv. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "state/record.h"
#include "util/hash.h"

/* ---- helpers ---------------------------------------------------------- */

static int mem_fd(void)
{
	int fd = memfd_create("test_record", 0);
	assert_true(fd >= 0);
	return fd;
}

static int fd_from_bytes(const void *data, size_t len)
{
	int fd = mem_fd();
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Whole contents of an fd, from the start. */
static uint8_t *slurp(int fd, size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	assert_true(end >= 0);
	uint8_t *buf = malloc((size_t)end + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)end, 0), end);
	*len = (size_t)end;
	return buf;
}

static const uint8_t vcpu_payload[13] = "vcpu-state-13";
static const uint8_t ram_hdr[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static uint8_t ram_page[4096 + 3];

/* A small stream with odd payload lengths (so there is padding), an empty
 * payload, a two-part payload and an optional unknown section. */
static uint8_t *small_stream(size_t *len)
{
	int fd = mem_fd();
	struct rec_writer w;
	assert_int_equal(rec__writer_init(&w, fd), 0);
	assert_int_equal(rec__write(&w, REC_VCPU, 1, REC_F_REQUIRED, vcpu_payload, sizeof(vcpu_payload)), 0);
	assert_int_equal(rec__write(&w, REC_DEV_SERIAL, 1, 0, NULL, 0), 0);
	assert_int_equal(rec__write2(&w, REC_RAM, 1, REC_F_REQUIRED, ram_hdr, 5, "abc", 3), 0);
	assert_int_equal(rec__write(&w, 0x7777, 3, 0, "opt", 3), 0);
	assert_int_equal(rec__writer_finish(&w), 0);
	uint8_t *buf = slurp(fd, len);
	assert_int_equal(w.bytes_out, *len);
	close(fd);
	return buf;
}

static bool known_type(uint32_t t)
{
	return strcmp(rec__type_name(t), "unknown") != 0;
}

/* Read a whole stream the way the VMM will: known sections read in full,
 * unknown ones handed to rec__skip_unknown. from_mem: read it in place
 * (rec__reader_init_mem) rather than from a file. Returns 0 or -1 (err
 * filled). */
static int read_stream_from(const uint8_t *data, size_t len, bool from_mem, uint64_t max_len,
			    char *err, uint64_t *nsections)
{
	int fd = from_mem ? -1 : fd_from_bytes(data, len);
	struct rec_reader r;
	int rc = from_mem ? rec__reader_init_mem(&r, data, len) : rec__reader_init(&r, fd);
	if (max_len)
		r.max_len = max_len;
	struct rec_section_hdr h;
	while (rc == 0 && (rc = rec__next(&r, &h)) == 1) {
		if (known_type(h.type)) {
			void *buf = malloc(h.length ? h.length : 1);
			assert_non_null(buf);
			rc = rec__read_payload(&r, buf, h.length);
			free(buf);
		} else {
			rc = rec__skip_unknown(&r);
		}
	}
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		assert_true(r.err[0] != '\0');  /* every failure says why */
		strcpy(err, r.err);
		return -1;
	}
	assert_true(r.ended);
	if (nsections)
		*nsections = r.sections;
	return 0;
}

/* Both readers, which must agree to the letter: the file reader serves
 * snapshots, the memory reader wire messages. */
static int read_stream(const uint8_t *data, size_t len, uint64_t max_len, char *err, uint64_t *nsections)
{
	char merr[256] = "";
	uint64_t mn = 0, fn = 0;
	int rf = read_stream_from(data, len, false, max_len, err, &fn);
	int rm = read_stream_from(data, len, true, max_len, merr, &mn);
	assert_int_equal(rf, rm);
	if (rf)
		assert_string_equal(err, merr);
	else
		assert_int_equal(fn, mn);
	if (nsections)
		*nsections = fn;
	return rf;
}

/* A memory writer produces the same bytes as a file writer. */
static void test_memory_writer_same_bytes(void **state)
{
	(void)state;
	size_t flen;
	uint8_t *f = small_stream(&flen);
	struct rec_writer w;
	assert_int_equal(rec__writer_init_mem(&w), 0);
	assert_int_equal(rec__write(&w, REC_VCPU, 1, REC_F_REQUIRED, vcpu_payload, sizeof(vcpu_payload)), 0);
	assert_int_equal(rec__write(&w, REC_DEV_SERIAL, 1, 0, NULL, 0), 0);
	assert_int_equal(rec__write2(&w, REC_RAM, 1, REC_F_REQUIRED, ram_hdr, 5, "abc", 3), 0);
	assert_int_equal(rec__write(&w, 0x7777, 3, 0, "opt", 3), 0);
	assert_int_equal(rec__writer_finish(&w), 0);
	assert_int_equal(w.mem_len, flen);
	assert_int_equal(w.bytes_out, flen);
	assert_memory_equal(w.mem, f, flen);
	rec__writer_free_mem(&w);
	assert_null(w.mem);
	free(f);
}

static void expect_failure(const uint8_t *data, size_t len, const char *msg_part)
{
	char err[256] = "";
	assert_int_equal(read_stream(data, len, 0, err, NULL), -1);
	if (msg_part && !strstr(err, msg_part))
		fail_msg("expected \"%s\" in \"%s\"", msg_part, err);
}

/* Rewrite the file header's version and fix its checksum, as a writer of
 * that version would have. */
static void set_version(uint8_t *data, uint16_t major, uint16_t minor)
{
	memcpy(data + 8, &major, 2);
	memcpy(data + 10, &minor, 2);
	uint64_t sum = XXH3_64bits(data, 24);
	memcpy(data + 24, &sum, 8);
}

/* ---- tests ------------------------------------------------------------ */

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(rec__type_name(REC_VCPU), "VCPU");
	assert_string_equal(rec__type_name(REC_RAM), "RAM");
	assert_string_equal(rec__type_name(REC_END), "END");
	assert_string_equal(rec__type_name(REC_PAGE_STATUS), "PAGE_STATUS");
	assert_string_equal(rec__type_name(0x1234), "unknown");
}

static void test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ram_page); i++)
		ram_page[i] = (uint8_t)(i * 7 + 1);

	struct tlv_buf t;
	tlv__init(&t);
	assert_int_equal(tlv__put_u64(&t, 1, REC_F_REQUIRED, 128 << 20), 0);
	assert_int_equal(tlv__put_u64(&t, 2, 0, 4), 0);

	int fd = mem_fd();
	struct rec_writer w;
	assert_int_equal(rec__writer_init(&w, fd), 0);
	assert_int_equal(rec__write(&w, REC_VM_CONFIG, 1, REC_F_REQUIRED, t.data, t.len), 0);
	assert_int_equal(rec__write(&w, REC_VCPU, 2, REC_F_REQUIRED, vcpu_payload, sizeof(vcpu_payload)), 0);
	assert_int_equal(rec__write2(&w, REC_RAM, 1, REC_F_REQUIRED, ram_hdr, sizeof(ram_hdr),
				    ram_page, sizeof(ram_page)), 0);
	assert_int_equal(rec__write(&w, REC_DEV_SERIAL, 1, 0, NULL, 0), 0);
	assert_int_equal(rec__write2(&w, REC_DEV_GUESTCALL, 1, 0, NULL, 0, "b-only", 6), 0);
	assert_int_equal(rec__write(&w, REC_PAGE_STATUS, 1, 0, "skipme", 6), 0);
	assert_int_equal(rec__writer_finish(&w), 0);
	assert_int_equal(w.sections, 6);
	assert_int_equal(w.payload_bytes, t.len + sizeof(vcpu_payload) + sizeof(ram_hdr) + sizeof(ram_page) + 6 + 6);
	assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)w.bytes_out);
	assert_int_equal(w.bytes_out % 8, 0);

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	struct rec_reader r;
	struct rec_section_hdr h;
	uint8_t buf[8192];
	assert_int_equal(rec__reader_init(&r, fd), 0);

	assert_int_equal(rec__next(&r, &h), 1);
	assert_int_equal(h.type, REC_VM_CONFIG);
	assert_int_equal(h.flags, REC_F_REQUIRED);
	assert_int_equal(h.length, t.len);
	assert_int_equal(rec__read_payload(&r, buf, h.length), 0);
	uint64_t v;
	assert_int_equal(tlv__get_u64(buf, h.length, 1, &v), 0);
	assert_int_equal(v, 128 << 20);

	assert_int_equal(rec__next(&r, &h), 1);
	assert_int_equal(h.type, REC_VCPU);
	assert_int_equal(h.version, 2);
	assert_int_equal(rec__read_payload(&r, buf, h.length), 0);
	assert_memory_equal(buf, vcpu_payload, sizeof(vcpu_payload));

	assert_int_equal(rec__next(&r, &h), 1);
	assert_int_equal(h.type, REC_RAM);
	assert_int_equal(h.length, sizeof(ram_hdr) + sizeof(ram_page));
	assert_int_equal(rec__read_payload(&r, buf, h.length), 0);
	assert_memory_equal(buf, ram_hdr, sizeof(ram_hdr));
	assert_memory_equal(buf + sizeof(ram_hdr), ram_page, sizeof(ram_page));

	assert_int_equal(rec__next(&r, &h), 1);
	assert_int_equal(h.type, REC_DEV_SERIAL);
	assert_int_equal(h.length, 0);
	assert_int_equal(rec__read_payload(&r, NULL, 0), 0);

	assert_int_equal(rec__next(&r, &h), 1);
	assert_int_equal(h.type, REC_DEV_GUESTCALL);
	assert_int_equal(rec__read_payload(&r, buf, h.length), 0);
	assert_memory_equal(buf, "b-only", 6);

	assert_int_equal(rec__next(&r, &h), 1);
	assert_int_equal(h.type, REC_PAGE_STATUS);
	assert_int_equal(rec__skip(&r), 0);         /* known but skipped: fine */

	assert_int_equal(rec__next(&r, &h), 0);
	assert_true(r.ended);
	assert_int_equal(r.offset, w.bytes_out);
	assert_int_equal(rec__next(&r, &h), 0);     /* stays at END */
	close(fd);
	tlv__free(&t);
}

/* Two-part and one-part writes of the same payload are the same bytes. */
static void test_write2_same_bytes(void **state)
{
	(void)state;
	int fd1 = mem_fd(), fd2 = mem_fd();
	struct rec_writer w1, w2;
	assert_int_equal(rec__writer_init(&w1, fd1), 0);
	assert_int_equal(rec__writer_init(&w2, fd2), 0);
	assert_int_equal(rec__write(&w1, REC_RAM, 1, 0, "hello, world", 12), 0);
	assert_int_equal(rec__write2(&w2, REC_RAM, 1, 0, "hello", 5, ", world", 7), 0);
	size_t l1, l2;
	uint8_t *b1 = slurp(fd1, &l1), *b2 = slurp(fd2, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(b1, b2, l1);
	free(b1);
	free(b2);
	close(fd1);
	close(fd2);
}

static void test_small_stream_reads(void **state)
{
	(void)state;
	size_t len;
	uint8_t *s = small_stream(&len);
	char err[256];
	uint64_t n = 0;
	assert_int_equal(read_stream(s, len, 0, err, &n), 0);   /* 0x7777 optional: skipped */
	assert_int_equal(n, 4);
	free(s);
}

static void test_unknown_required_refused(void **state)
{
	(void)state;
	int fd = mem_fd();
	struct rec_writer w;
	assert_int_equal(rec__writer_init(&w, fd), 0);
	assert_int_equal(rec__write(&w, 0x1234, 1, REC_F_REQUIRED, "x", 1), 0);
	assert_int_equal(rec__writer_finish(&w), 0);
	size_t len;
	uint8_t *s = slurp(fd, &len);
	char err[256];
	assert_int_equal(read_stream(s, len, 0, err, NULL), -1);
	assert_string_equal(err, "unknown required section type 0x1234 at offset 32");
	free(s);
	close(fd);
}

static void test_truncation_every_offset(void **state)
{
	(void)state;
	size_t len;
	uint8_t *s = small_stream(&len);
	for (size_t cut = 0; cut < len; cut++) {
		char err[256] = "";
		if (read_stream(s, cut, 0, err, NULL) == 0)
			fail_msg("stream cut at %zu of %zu read successfully", cut, len);
	}
	/* The common case, a stream cut between sections, names the place. */
	expect_failure(s, 32, "truncated: section header at offset 32");
	expect_failure(s, 32 + 10, "truncated: section header at offset 32");
	expect_failure(s, 32 + 24 + 5, "truncated: payload of section VCPU at offset 32");
	expect_failure(s, 0, "empty stream");
	expect_failure(s, 20, "truncated: file header");
	free(s);
}

static void test_bitflip_every_offset(void **state)
{
	(void)state;
	size_t len;
	uint8_t *s = small_stream(&len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			char err[256] = "";
			s[i] ^= (uint8_t)(1u << bit);
			if (read_stream(s, len, 0, err, NULL) == 0)
				fail_msg("bit %d of byte %zu flipped, stream still read", bit, i);
			s[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* A few specific places, for the messages. */
	s[0] ^= 1;
	expect_failure(s, len, "bad magic (not a tern state file)");
	s[0] ^= 1;
	s[16] ^= 1;
	expect_failure(s, len, "checksum mismatch in file header");
	s[16] ^= 1;
	s[32 + 24] ^= 1;                          /* first byte of the VCPU payload */
	expect_failure(s, len, "checksum mismatch in section VCPU at offset 32");
	s[32 + 24] ^= 1;
	s[32 + 24 + 13] ^= 1;                     /* its padding */
	expect_failure(s, len, "non-zero padding after section VCPU at offset 32");
	s[32 + 24 + 13] ^= 1;
	s[len - 1] ^= 0x80;                       /* END payload */
	expect_failure(s, len, "checksum mismatch in section END");
	s[len - 1] ^= 0x80;
	free(s);
}

static void test_end_mismatch(void **state)
{
	(void)state;
	int fd = mem_fd();
	struct rec_writer w;
	assert_int_equal(rec__writer_init(&w, fd), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(rec__write(&w, REC_VCPU, 1, 0, "abcd", 4), 0);
	w.sections = 5;                           /* a writer that lost a section */
	assert_int_equal(rec__writer_finish(&w), 0);
	size_t len;
	uint8_t *s = slurp(fd, &len);
	expect_failure(s, len, "END says 5 sections, read 4");
	free(s);
	close(fd);
}

static void test_version_skew(void **state)
{
	(void)state;
	size_t len;
	uint8_t *s = small_stream(&len);
	char err[256];

	set_version(s, REC_FORMAT_MAJOR + 1, 0);
	assert_int_equal(read_stream(s, len, 0, err, NULL), -1);
	assert_string_equal(err, "unsupported format version 2.0 (this tern reads 1.x)");

	set_version(s, REC_FORMAT_MAJOR, REC_FORMAT_MINOR + 1);
	assert_int_equal(read_stream(s, len, 0, err, NULL), 0);

	/* A corrupted major is still reported, with a hint it may be damage. */
	set_version(s, REC_FORMAT_MAJOR, REC_FORMAT_MINOR);
	s[8] ^= 4;
	expect_failure(s, len, "unsupported format version 5.");   /* 5.<this minor> */
	expect_failure(s, len, "may be corrupt");
	free(s);
}

static void test_bad_magic(void **state)
{
	(void)state;
	uint8_t junk[64];
	memset(junk, 'x', sizeof(junk));
	expect_failure(junk, sizeof(junk), "bad magic (not a tern state file)");
	expect_failure(junk, 3, "bad magic (not a tern state file)");
	expect_failure((const uint8_t *)"TERN", 4, "truncated: file header");
}

static void test_max_len(void **state)
{
	(void)state;
	uint8_t big[100] = { 0 };
	int fd = mem_fd();
	struct rec_writer w;
	assert_int_equal(rec__writer_init(&w, fd), 0);
	assert_int_equal(rec__write(&w, REC_RAM, 1, 0, big, sizeof(big)), 0);
	assert_int_equal(rec__writer_finish(&w), 0);
	size_t len;
	uint8_t *s = slurp(fd, &len);
	char err[256];
	assert_int_equal(read_stream(s, len, 99, err, NULL), -1);
	assert_string_equal(err, "section RAM at offset 32: length 100 exceeds the limit of 99 bytes");
	assert_int_equal(read_stream(s, len, 100, err, NULL), 0);

	/* The default limit catches a huge length before anyone allocates. */
	uint64_t huge = 1ULL << 40;
	memcpy(s + 32 + 8, &huge, 8);
	expect_failure(s, len, "exceeds the limit of 67108864 bytes");
	free(s);
	close(fd);
}

static void test_reader_misuse(void **state)
{
	(void)state;
	size_t len;
	uint8_t *s = small_stream(&len);
	int fd = fd_from_bytes(s, len);
	struct rec_reader r;
	struct rec_section_hdr h;
	uint8_t buf[64];
	assert_int_equal(rec__reader_init(&r, fd), 0);
	assert_int_equal(rec__read_payload(&r, buf, 0), -1);       /* nothing pending */
	assert_int_equal(rec__next(&r, &h), 1);
	assert_int_equal(rec__next(&r, &h), -1);                   /* payload not consumed */
	assert_non_null(strstr(r.err, "neither read nor skipped"));
	assert_int_equal(rec__read_payload(&r, buf, 12), -1);      /* wrong length */
	assert_non_null(strstr(r.err, "payload is 13 bytes, caller expected 12"));
	close(fd);
	free(s);
}

static void test_writer_errors(void **state)
{
	(void)state;
	struct rec_writer w;
	int fd = mem_fd();
	assert_int_equal(rec__writer_init(&w, fd), 0);
	assert_int_equal(rec__write(&w, REC_END, 1, 0, NULL, 0), -EINVAL);
	assert_int_equal(rec__write(&w, REC_VCPU, 1, 0x8000, "x", 1), -EINVAL);
	assert_int_equal(rec__write(&w, REC_VCPU, 1, 0, NULL, 5), -EINVAL);
	assert_int_equal(w.error, 0);             /* caller bugs don't poison the stream */
	close(fd);

	int p[2];
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(rec__writer_init(&w, p[1]), -EPIPE);
	assert_int_equal(w.error, EPIPE);
	assert_int_equal(rec__write(&w, REC_VCPU, 1, 0, "x", 1), -EPIPE);
	assert_int_equal(rec__writer_finish(&w), -EPIPE);
	close(p[1]);
}

/* Through a pipe, reads come back short; a large section is skipped in
 * chunks. The writer runs in a thread so the pipe never fills up for good. */
struct pipe_job { int fd; uint8_t *big; size_t biglen; };

static void *pipe_writer(void *arg)
{
	struct pipe_job *j = arg;
	struct rec_writer w;
	int rc = rec__writer_init(&w, j->fd);
	rc = rc ? rc : rec__write2(&w, REC_RAM, 1, 0, ram_hdr, 3, j->big, j->biglen);
	rc = rc ? rc : rec__write(&w, 0x4444, 1, 0, j->big, j->biglen);
	rc = rc ? rc : rec__write(&w, REC_VCPU, 1, 0, vcpu_payload, sizeof(vcpu_payload));
	rc = rc ? rc : rec__writer_finish(&w);
	close(j->fd);
	return (void *)(intptr_t)rc;
}

static void test_pipe_stream(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct pipe_job j = { .fd = p[1], .biglen = (1u << 20) + 5 };
	j.big = malloc(j.biglen);
	assert_non_null(j.big);
	for (size_t i = 0; i < j.biglen; i++)
		j.big[i] = (uint8_t)(i >> 3);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, pipe_writer, &j), 0);

	struct rec_reader r;
	struct rec_section_hdr h;
	uint8_t *buf = malloc(j.biglen + 3);
	assert_non_null(buf);
	assert_int_equal(rec__reader_init(&r, p[0]), 0);
	assert_int_equal(rec__next(&r, &h), 1);
	assert_int_equal(rec__read_payload(&r, buf, h.length), 0);
	assert_memory_equal(buf + 3, j.big, j.biglen);
	assert_int_equal(rec__next(&r, &h), 1);
	assert_int_equal(rec__skip_unknown(&r), 0);
	assert_int_equal(rec__next(&r, &h), 1);
	assert_int_equal(rec__read_payload(&r, buf, h.length), 0);
	assert_int_equal(rec__next(&r, &h), 0);

	void *ret;
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_int_equal((intptr_t)ret, 0);
	close(p[0]);
	free(buf);
	free(j.big);
}

/* ---- tlv -------------------------------------------------------------- */

static void test_tlv_round_trip(void **state)
{
	(void)state;
	struct tlv_buf b;
	tlv__init(&b);
	assert_int_equal(tlv__put_u64(&b, 1, REC_F_REQUIRED, 0x1122334455667788ULL), 0);
	assert_int_equal(tlv__put(&b, 2, 0, "odd", 3), 0);
	assert_int_equal(tlv__put(&b, 3, 0, NULL, 0), 0);
	uint8_t many[1000];
	memset(many, 0xab, sizeof(many));
	assert_int_equal(tlv__put(&b, 4, 0, many, sizeof(many)), 0);   /* forces growth */
	assert_int_equal(b.error, 0);
	assert_int_equal(b.len, 16 + 16 + 8 + 8 + 1000);
	assert_int_equal(b.len % 8, 0);

	struct tlv_iter it;
	struct tlv_field f;
	tlv__iter_init(&it, b.data, b.len);
	assert_int_equal(tlv__next(&it, &f), 1);
	assert_int_equal(f.id, 1);
	assert_int_equal(f.flags, REC_F_REQUIRED);
	assert_int_equal(f.len, 8);
	assert_int_equal(tlv__next(&it, &f), 1);
	assert_int_equal(f.id, 2);
	assert_int_equal(f.len, 3);
	assert_memory_equal(f.val, "odd", 3);
	assert_int_equal(tlv__next(&it, &f), 1);
	assert_int_equal(f.id, 3);
	assert_int_equal(f.len, 0);
	assert_int_equal(tlv__next(&it, &f), 1);
	assert_int_equal(f.id, 4);
	assert_memory_equal(f.val, many, sizeof(many));
	assert_int_equal(tlv__next(&it, &f), 0);

	/* An empty payload is a valid, empty field list. */
	tlv__iter_init(&it, NULL, 0);
	assert_int_equal(tlv__next(&it, &f), 0);
	tlv__free(&b);
	assert_null(b.data);
}

static void test_tlv_find(void **state)
{
	(void)state;
	struct tlv_buf b;
	tlv__init(&b);
	tlv__put(&b, 7, 0, "abc", 3);
	tlv__put_u64(&b, 9, 0, 42);
	struct tlv_field f;
	assert_non_null(tlv__find(b.data, b.len, 7, &f));
	assert_int_equal(f.len, 3);
	assert_null(tlv__find(b.data, b.len, 8, &f));
	uint64_t v = 0;
	assert_int_equal(tlv__get_u64(b.data, b.len, 9, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(tlv__get_u64(b.data, b.len, 8, &v), -ENOENT);
	assert_int_equal(tlv__get_u64(b.data, b.len, 7, &v), -EINVAL);   /* not 8 bytes */
	tlv__free(&b);

	/* A failed append sticks, so a builder can check b.error once. */
	tlv__init(&b);
	assert_int_equal(tlv__put(&b, 1, 0, NULL, 4), -EINVAL);
	assert_int_equal(tlv__put_u64(&b, 2, 0, 1), -EINVAL);
	assert_int_equal(b.error, -EINVAL);
	tlv__free(&b);
}

static void test_tlv_malformed(void **state)
{
	(void)state;
	struct tlv_buf b;
	tlv__init(&b);
	tlv__put_u64(&b, 1, 0, 5);
	tlv__put(&b, 2, 0, "abcde", 5);
	uint8_t *d = b.data;
	struct tlv_iter it;
	struct tlv_field f;

	/* Length pointing beyond the end. */
	uint32_t bad = 17;
	memcpy(d + 16 + 4, &bad, 4);
	tlv__iter_init(&it, d, b.len);
	assert_int_equal(tlv__next(&it, &f), 1);
	assert_int_equal(tlv__next(&it, &f), -1);
	assert_null(tlv__find(d, b.len, 2, &f));
	bad = 0xffffffffu;                        /* and one that would wrap */
	memcpy(d + 16 + 4, &bad, 4);
	tlv__iter_init(&it, d, b.len);
	assert_int_equal(tlv__next(&it, &f), 1);
	assert_int_equal(tlv__next(&it, &f), -1);
	bad = 5;
	memcpy(d + 16 + 4, &bad, 4);

	/* Every truncation of the payload short of a field boundary. */
	for (size_t cut = 0; cut < b.len; cut++) {
		int rc;
		tlv__iter_init(&it, d, cut);
		while ((rc = tlv__next(&it, &f)) == 1)
			;
		assert_int_equal(rc, (cut == 0 || cut == 16) ? 0 : -1);
	}

	/* Dirty padding. */
	d[16 + 8 + 5] = 1;
	tlv__iter_init(&it, d, b.len);
	assert_int_equal(tlv__next(&it, &f), 1);
	assert_int_equal(tlv__next(&it, &f), -1);
	tlv__free(&b);
}

static void test_tlv_validate(void **state)
{
	(void)state;
	struct tlv_buf b;
	tlv__init(&b);
	tlv__put_u64(&b, 1, REC_F_REQUIRED, 5);
	tlv__put_u64(&b, 0x50, 0, 6);              /* unknown but optional */
	const uint16_t known[] = { 1, 2 };
	char err[128];
	assert_int_equal(tlv__validate(b.data, b.len, known, 2, err, sizeof(err)), 0);
	tlv__put_u64(&b, 0x51, REC_F_REQUIRED, 7);
	assert_int_equal(tlv__validate(b.data, b.len, known, 2, err, sizeof(err)), -1);
	assert_string_equal(err, "unknown required field 0x0051 at offset 32");
	assert_int_equal(tlv__validate(b.data, b.len - 1, known, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "malformed"));
	tlv__free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_memory_writer_same_bytes),
		cmocka_unit_test(test_write2_same_bytes),
		cmocka_unit_test(test_small_stream_reads),
		cmocka_unit_test(test_unknown_required_refused),
		cmocka_unit_test(test_truncation_every_offset),
		cmocka_unit_test(test_bitflip_every_offset),
		cmocka_unit_test(test_end_mismatch),
		cmocka_unit_test(test_version_skew),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_max_len),
		cmocka_unit_test(test_reader_misuse),
		cmocka_unit_test(test_writer_errors),
		cmocka_unit_test(test_pipe_stream),
		cmocka_unit_test(test_tlv_round_trip),
		cmocka_unit_test(test_tlv_find),
		cmocka_unit_test(test_tlv_malformed),
		cmocka_unit_test(test_tlv_validate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
