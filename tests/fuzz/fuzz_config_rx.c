/* fuzz_config_rx.c - libFuzzer target for config_rx__parse, the one reader
 * of a CONFIG message (handoff and migration receivers), without sockets.
 *
 * Input: one mode byte, then the rest.
 *   mode even: the rest is the CONFIG payload as it came off the wire.
 *   mode odd:  the rest describes records, each [u32 type][u16 version]
 *              [u16 flags][u16 len][len bytes] (little endian), which the
 *              harness writes with tern's own record writer. Checksums are
 *              then right, so the fuzzer gets past them into the payloads
 *              (the tlv of VM_CONFIG and HANDOFF_INFO). Mode bit 1 leaves
 *              the END section out.
 *
 * Every run uses the same nonce (NONCE below); the seeds carry it.
 *
 * Seeds: TERN_FUZZ_SEEDS=DIR build-fuzz/fuzz/fuzz_config_rx writes the
 * committed seeds (tests/fuzz/corpus/config_rx/) with tern's writer and exits. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate/config_rx.h"
#include "migrate/handoff.h"
#include "state/record.h"
#include "util/memfd.h"
#include "vm/state.h"
#include "fuzz_seeds.h"

#define NONCE "tern-fuzz-nonce-0123456789abcdef"
_Static_assert(sizeof(NONCE) - 1 == WIRE_NONCE_LEN, "the fixed nonce is one nonce long");

static const uint8_t *nonce = (const uint8_t *)NONCE;

/* ---- building streams ------------------------------------------------ */

/* What one record of a seed or a built input is. */
struct rec_desc {
	uint32_t type;
	uint16_t version, flags;
	const void *p;
	size_t len;
};

/* A stream of n records with tern's writer (END unless no_end). 0 or -errno;
 * *buf is malloc'd. */
static int write_stream(const struct rec_desc *d, int n, int no_end, void **buf, size_t *len)
{
	struct rec_writer w;
	int fd = memfd__new("tern-fuzz-config"), r;
	if (fd < 0)
		return fd;
	r = rec__writer_init(&w, fd);
	/* the writer refuses some (type END, unknown flags): a built input
	 * with such a record simply goes without it */
	for (int i = 0; !r && i < n; i++)
		(void)rec__write(&w, d[i].type, d[i].version, d[i].flags, d[i].p, d[i].len);
	if (!r && !no_end)
		r = rec__writer_finish(&w);
	if (!r && w.error)
		r = -w.error;
	if (!r)
		r = memfd__take(fd, buf, len);
	close(fd);
	return r;
}

/* Mode odd: parse the record descriptions in data into a stream. */
static int build_stream(const uint8_t *data, size_t size, int no_end, void **buf, size_t *len)
{
	struct rec_desc d[64];
	int n = 0;
	while (size >= 10 && n < 64) {
		struct rec_desc *r = &d[n++];
		size_t l = (size_t)data[8] | (size_t)data[9] << 8;
		memcpy(&r->type, data, 4);
		memcpy(&r->version, data + 4, 2);
		memcpy(&r->flags, data + 6, 2);
		data += 10;
		size -= 10;
		if (l > size)
			l = size;
		r->p = data;
		r->len = l;
		data += l;
		size -= l;
	}
	return write_stream(d, n, no_end, buf, len);
}

/* ---- the target ------------------------------------------------------ */

static void parse_one(uint8_t *payload, size_t len)
{
	/* as wire__recv leaves a message: malloc'd, NUL after the payload, no fds */
	struct wire_msg m = { .h = { .magic = WIRE_MAGIC, .version = WIRE_VERSION, .cmd = W_CONFIG,
				     .length = len }, .data = payload };
	struct config_rx rx = { .cfg = { .mem = 64 << 20, .ncpus = 1, .serial_fd = -1 } };
	char err[256] = "";

	if (config_rx__parse(&m, nonce, &rx, err, sizeof(err)) == 0) {
		/* what a receiver goes on to build from must be in range */
		if (rx.cfg.ncpus < 1 || rx.cfg.ncpus > VM_MAX_VCPUS || rx.cfg.cc > CC_SEV)
			abort();
	} else if (!err[0] || rx.old_ctl || rx.psp_sock) {
		abort();              /* a refusal says why and leaves nothing allocated */
	}
	config_rx__free(&rx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *payload;
	size_t len;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		void *b;
		if (build_stream(data + 1, size - 1, data[0] & 2, &b, &len))
			return 0;
		payload = realloc(b, len + 1);
		if (!payload) {
			free(b);
			return 0;
		}
	} else {
		len = size - 1;
		payload = malloc(len + 1);
		if (!payload)
			return 0;
		memcpy(payload, data + 1, len);
	}
	payload[len] = '\0';
	parse_one(payload, len);
	free(payload);
	return 0;
}

/* ---- seeds ----------------------------------------------------------- */

/* A raw seed: the stream as tern writes it. */
static void seed_raw(const char *dir, const char *name, const struct rec_desc *d, int n, int no_end)
{
	void *b;
	size_t len;
	if (write_stream(d, n, no_end, &b, &len))
		exit(1);
	fuzz_seed__save(dir, name, 0, b, len);
	free(b);
}

/* A built seed: the same records as descriptions (mode 1). */
static void seed_built(const char *dir, const char *name, const struct rec_desc *d, int n)
{
	uint8_t out[4096];
	size_t o = 0;
	for (int i = 0; i < n; i++) {
		uint16_t l = (uint16_t)d[i].len;
		if (o + 10 + d[i].len > sizeof(out))
			exit(1);
		memcpy(out + o, &d[i].type, 4);
		memcpy(out + o + 4, &d[i].version, 2);
		memcpy(out + o + 6, &d[i].flags, 2);
		memcpy(out + o + 8, &l, 2);
		memcpy(out + o + 10, d[i].p, d[i].len);
		o += 10 + d[i].len;
	}
	fuzz_seed__save(dir, name, 1, out, o);
}

/* A VM_CONFIG payload as vm__save_config writes it for this shape. */
static void vm_config(struct tlv_buf *out, uint64_t mem, int ncpus, enum cc_mode cc, uint32_t tsc_khz)
{
	static struct vm vm;
	struct rec_writer w;
	struct rec_reader rd;
	struct rec_section_hdr h;
	int fd = memfd__new("tern-fuzz-seed");

	vm.cfg.mem = vm.ram.size = mem;
	vm.cfg.ncpus = ncpus;
	vm.cfg.cc = cc;
	vm.tsc_khz = tsc_khz;
	/* the writer makes a whole section; its payload is what seeds need */
	if (fd < 0 || rec__writer_init(&w, fd) || vm__save_config(&vm, &w) ||
	    lseek(fd, 0, SEEK_SET) < 0 || rec__reader_init(&rd, fd) || rec__next(&rd, &h) != 1)
		exit(1);
	tlv__init(out);
	out->data = malloc(h.length);
	out->len = out->cap = h.length;
	if (!out->data || rec__read_payload(&rd, out->data, h.length))
		exit(1);
	close(fd);
}

static void write_seeds(const char *dir)
{
	static const char ctl[] = "/run/tern/vm0.ctl", psp[] = "/run/tern-psp.sock";
	static const uint8_t other[WIRE_NONCE_LEN] = { 1 };
	static const uint64_t opaque = 42;
	struct tlv_buf cfg, cfg_sev, hi;

	vm_config(&cfg, 256 << 20, 2, CC_NONE, 2100000);
	vm_config(&cfg_sev, 1ull << 30, 4, CC_SEV, 0);
	tlv__init(&hi);
	tlv__put(&hi, HI_CTL_PATH, 0, ctl, strlen(ctl));
	tlv__put(&hi, HI_PSP_SOCKET, 0, psp, strlen(psp));
	tlv__put_u64(&hi, HI_CC_XFER, 0, 1);
	if (hi.error)
		exit(1);

	const struct rec_desc vmc = { REC_VM_CONFIG, VM_CONFIG_VERSION, REC_F_REQUIRED, cfg.data, cfg.len };
	const struct rec_desc vmc_sev = { REC_VM_CONFIG, VM_CONFIG_VERSION, REC_F_REQUIRED,
					  cfg_sev.data, cfg_sev.len };
	const struct rec_desc info = { REC_HANDOFF_INFO, 1, 0, hi.data, hi.len };
	const struct rec_desc bind = { REC_WIRE_NONCE, 1, REC_F_REQUIRED, nonce, WIRE_NONCE_LEN };
	const struct rec_desc bind_other = { REC_WIRE_NONCE, 1, REC_F_REQUIRED, other, WIRE_NONCE_LEN };
	const struct rec_desc opt = { 0x7777, 1, 0, &opaque, sizeof(opaque) };
	const struct rec_desc req = { 0x7778, 1, REC_F_REQUIRED, &opaque, sizeof(opaque) };

	/* accepted: a migration's CONFIG, a handoff's, one with an optional record */
	seed_raw(dir, "migrate", (struct rec_desc[]){ vmc, bind }, 2, 0);
	seed_raw(dir, "handoff", (struct rec_desc[]){ vmc_sev, info, bind }, 3, 0);
	seed_raw(dir, "optional_record", (struct rec_desc[]){ opt, vmc, bind }, 3, 0);
	/* refused: replayed, unbound, no shape, two shapes, unknown required, truncated */
	seed_raw(dir, "other_nonce", (struct rec_desc[]){ vmc, bind_other }, 2, 0);
	seed_raw(dir, "no_nonce", (struct rec_desc[]){ vmc }, 1, 0);
	seed_raw(dir, "no_vm_config", (struct rec_desc[]){ info, bind }, 2, 0);
	seed_raw(dir, "two_vm_configs", (struct rec_desc[]){ vmc, vmc_sev, bind }, 3, 0);
	seed_raw(dir, "unknown_required", (struct rec_desc[]){ vmc, req, bind }, 3, 0);
	seed_raw(dir, "no_end", (struct rec_desc[]){ vmc, bind }, 2, 1);
	/* the same through the harness's writer, for payload mutations */
	seed_built(dir, "built_migrate", (struct rec_desc[]){ vmc, bind }, 2);
	seed_built(dir, "built_handoff", (struct rec_desc[]){ vmc_sev, info, bind }, 3);
	tlv__free(&cfg);
	tlv__free(&cfg_sev);
	tlv__free(&hi);
}

FUZZ_SEEDS_MODE(write_seeds)
