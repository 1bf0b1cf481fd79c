/* snap_forge.c - forge a snapshot whose checksums are all valid, for tests
 * of what a restore must refuse on content alone:
 *
 *   snap_forge IN OUT MUTATION
 *     config-v2       VM_CONFIG section version 2
 *     xsave-16        vCPU 0's XSAVE area cut to 16 bytes
 *     serial-ff       serial registers all 0xFF
 *     sregs-zero      vCPU 0's special registers all zero
 *     msrs-empty      vCPU 0's MSR list empty
 *     cpuid-empty     vCPU 0's CPUID table empty
 *     dup-serial      the serial section twice
 *     dup-pagestatus  the page-status section twice
 *     vcpu-vmsa       vCPU 0's record as an SEV-ES guest's: its index and
 *                     "in its VMSA", no registers
 *     config-es       VM_CONFIG says SEV-ES (CC_ES = 1)
 *     unknown-config, unknown-vcpu, unknown-serial, unknown-guestcall
 *                     a field 0x7fff marked required (from a newer tern)
 *                     appended to that record (every vCPU's)
 *
 * Every section is read with tern's reader (checksums verified) and written
 * again with tern's writer (checksums recomputed), so only the content is
 * wrong. Exit 0 when OUT was written, 1 when the mutation found nothing to
 * change, 2 on usage or I/O errors. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm/vcpu_state.h"
#include "state/record.h"

#define SER_REGS 1                    /* DEV_SERIAL field: the 7 registers (docs/state-format.md) */
#define CFG_CC_ES 6                   /* VM_CONFIG field: an SEV-ES guest (docs/state-format.md) */

/* Rewrite a tlv payload with field `id` replaced by (val, vlen). */
static int tlv_replace(const void *p, size_t len, uint16_t id, const void *val, size_t vlen,
		       struct tlv_buf *out)
{
	struct tlv_iter it;
	struct tlv_field f;
	int n, hit = 0;
	tlv__init(out);
	tlv__iter_init(&it, p, len);
	while ((n = tlv__next(&it, &f)) == 1) {
		if (f.id == id) {
			tlv__put(out, f.id, f.flags, val, vlen);
			hit = 1;
		} else {
			tlv__put(out, f.id, f.flags, f.val, f.len);
		}
	}
	return n < 0 || out->error ? -1 : hit;
}

/* Rewrite a tlv payload with one more field `id` = (val, vlen), marked
 * required, after all of its own: 0, or -1 when out of memory. */
static int tlv_append_required(const void *p, size_t len, uint16_t id, const void *val, size_t vlen,
			       struct tlv_buf *out)
{
	tlv__init(out);
	if (tlv__put(out, id, REC_F_REQUIRED, val, vlen))
		return -1;
	uint8_t *joined = malloc(out->len + len);
	if (!joined)
		return -1;
	memcpy(joined, p, len);
	memcpy(joined + len, out->data, out->len);
	free(out->data);
	out->data = joined;
	out->len += len;
	out->cap = out->len;
	return 0;
}

int main(int argc, char **argv)
{
	struct rec_reader r;
	struct rec_writer w;
	struct rec_section_hdr h;
	const char *mut;
	int in, out, n, changed = 0, vcpu0_done = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: snap_forge IN OUT MUTATION\n");
		return 2;
	}
	mut = argv[3];
	in = open(argv[1], O_RDONLY | O_CLOEXEC);
	out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (in < 0 || out < 0 || rec__reader_init(&r, in) || rec__writer_init(&w, out)) {
		fprintf(stderr, "snap_forge: cannot open %s or %s\n", argv[1], argv[2]);
		return 2;
	}
	while ((n = rec__next(&r, &h)) == 1) {
		uint8_t *p = malloc(h.length ? h.length : 1);
		uint16_t version = h.version;
		struct tlv_buf b = { 0 };
		const void *wp;
		size_t wlen;
		int twice = 0;

		if (!p || rec__read_payload(&r, p, h.length)) {
			fprintf(stderr, "snap_forge: %s\n", r.err);
			return 2;
		}
		wp = p;
		wlen = h.length;
		if (h.type == REC_VM_CONFIG && !strcmp(mut, "config-es")) {
			uint64_t one = 1;
			if (tlv_append_required(p, h.length, CFG_CC_ES, &one, sizeof(one), &b))
				return 2;
			changed = 1;
		} else if (h.type == REC_VCPU && !vcpu0_done && !strcmp(mut, "vcpu-vmsa")) {
			uint64_t zero = 0, one = 1;
			vcpu0_done = 1;
			tlv__init(&b);
			tlv__put(&b, VS_INDEX, REC_F_REQUIRED, &zero, sizeof(zero));
			tlv__put(&b, VS_VMSA, REC_F_REQUIRED, &one, sizeof(one));
			if (b.error)
				return 2;
			changed = 1;
		} else if ((h.type == REC_VM_CONFIG && !strcmp(mut, "unknown-config")) ||
		    (h.type == REC_VCPU && !strcmp(mut, "unknown-vcpu")) ||
		    (h.type == REC_DEV_SERIAL && !strcmp(mut, "unknown-serial")) ||
		    (h.type == REC_DEV_GUESTCALL && !strcmp(mut, "unknown-guestcall"))) {
			/* a field from a newer tern that this one must not ignore */
			if (tlv_append_required(p, h.length, 0x7fff, "new", 3, &b))
				return 2;
			changed = 1;
		} else if (h.type == REC_VM_CONFIG && !strcmp(mut, "config-v2")) {
			version = 2;
			changed = 1;
		} else if (h.type == REC_DEV_SERIAL && !strcmp(mut, "serial-ff")) {
			uint8_t ff[7];
			memset(ff, 0xFF, sizeof(ff));
			changed |= tlv_replace(p, h.length, SER_REGS, ff, sizeof(ff), &b) == 1;
		} else if ((h.type == REC_DEV_SERIAL && !strcmp(mut, "dup-serial")) ||
			   (h.type == REC_PAGE_STATUS && !strcmp(mut, "dup-pagestatus"))) {
			twice = changed = 1;
		} else if (h.type == REC_VCPU && !vcpu0_done) {
			static uint8_t zero[sizeof(struct kvm_sregs)];
			vcpu0_done = 1;
			if (!strcmp(mut, "xsave-16"))
				changed |= tlv_replace(p, h.length, VS_XSAVE, zero, 16, &b) == 1;
			else if (!strcmp(mut, "sregs-zero"))
				changed |= tlv_replace(p, h.length, VS_SREGS, zero, sizeof(zero), &b) == 1;
			else if (!strcmp(mut, "msrs-empty"))
				changed |= tlv_replace(p, h.length, VS_MSRS, zero, 0, &b) == 1;
			else if (!strcmp(mut, "cpuid-empty"))
				changed |= tlv_replace(p, h.length, VS_CPUID, zero, 0, &b) == 1;
		}
		if (b.data) {
			wp = b.data;
			wlen = b.len;
		}
		for (int i = 0; i <= twice; i++) {
			if (rec__write(&w, h.type, version, h.flags, wp, wlen)) {
				fprintf(stderr, "snap_forge: cannot write %s\n", argv[2]);
				return 2;
			}
		}
		tlv__free(&b);
		free(p);
	}
	if (n < 0) {
		fprintf(stderr, "snap_forge: %s\n", r.err);
		return 2;
	}
	if (rec__writer_finish(&w) || close(out)) {
		fprintf(stderr, "snap_forge: cannot finish %s\n", argv[2]);
		return 2;
	}
	if (!changed)
		fprintf(stderr, "snap_forge: nothing to change for %s\n", mut);
	return changed ? 0 : 1;
}
