/* test_dirty.c - the page bitmap, and KVM dirty tracking against a real VM
 * (vm__create, 64 MiB) running a bare ring-3 guest (src/kvm/guest64.h):
 *
 *  - exact: the guest writes a known list of pages, and a sync must report
 *    exactly those (no more, no fewer), round after round, in both modes;
 *    pages the VMM marks are reported too;
 *  - ring-full exits: a small ring fills mid-list; the pages are still all
 *    reported;
 *  - no lost writes: two vCPUs write pseudo-random pages nonstop (vCPU
 *    threads, vm__start) while the test syncs and copies dirty pages into
 *    a shadow, as a pre-copy migration does; after pause + final sync +
 *    copy the shadow must equal guest RAM byte for byte;
 *  - stop / start again, mode mismatches and bad arguments;
 *  - two VMs in one process, one borrowing the other's RAM at its own
 *    memslot: writes seen by both, each VM's log its own.
 *
 * Ring-mode tests are skipped (with a message) if KVM refuses the ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "kvm/guest64.h"
#include "kvm/dirty.h"
#include "mem/bitmap.h"
#include "vm/vm.h"

#define MiB (1ULL << 20)
#define MEM (64 * MiB)
#define NPAGES (MEM / 4096)
#define DATA_FIRST (8 * MiB / 4096)       /* guests write pages from 8 MiB up */
#define TABLE(i) (G64_FREE + (uint64_t)(i) * 0x20000)   /* per-vCPU page list */
#define TABLE_MAX ((0x20000 / 8) - 1)

/* ---- the guest code --------------------------------------------------- */

/* list:   rsi = table {u64 n; u64 gpa[n]}: incq each gpa, then `out` to
 *         G64_EXIT_PORT, and start over (the host refills the table).
 * hammer: forever: r9 = r9 * r10 + r11; page = (r9 >> 24) & rdx;
 *         ++rax -> [rbx + page * 4096 + r8]. No exits. */
__asm__(
	".pushsection .rodata\n"
	".globl tdg_start, tdg_hammer, tdg_end\n"
	".hidden tdg_start, tdg_hammer, tdg_end\n"
	"tdg_start:\n"
	"	mov (%rsi), %rcx\n"
	"	lea 8(%rsi), %rdx\n"
	"1:	test %rcx, %rcx\n"
	"	jz 2f\n"
	"	mov (%rdx), %rdi\n"
	"	incq (%rdi)\n"
	"	add $8, %rdx\n"
	"	dec %rcx\n"
	"	jmp 1b\n"
	"2:	out %al, $0x10\n"
	"	jmp tdg_start\n"
	"tdg_hammer:\n"
	"	imul %r10, %r9\n"
	"	add %r11, %r9\n"
	"	mov %r9, %rdi\n"
	"	shr $24, %rdi\n"
	"	and %rdx, %rdi\n"
	"	shl $12, %rdi\n"
	"	add %rbx, %rdi\n"
	"	inc %rax\n"
	"	mov %rax, (%rdi,%r8)\n"
	"	jmp tdg_hammer\n"
	"tdg_end:\n"
	".popsection\n");
extern const uint8_t tdg_start[], tdg_hammer[], tdg_end[];

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng = 0x243f6a8885a308d3ULL;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static bool make_vm(struct vm *vm, int ncpus, uint32_t ring)
{
	struct vm_config cfg = { .mem = MEM, .ncpus = ncpus, .serial_fd = -1, .dirty_ring = ring };
	char err[512];
	struct kvm_regs r;

	if (vm__create(vm, &cfg, err, sizeof(err)))
		fail_msg("vm__create: %s", err);
	if (ring && !vm->dirty_ring) {
		print_message("dirty ring of %u entries refused (%s): ring test skipped\n", ring,
			      strerror(-vm->dirty_ring_err));
		return false;
	}
	assert_int_equal(g64__setup_memory(vm->ram.hva, vm->ram.size, tdg_start,
					  (size_t)(tdg_end - tdg_start)), 0);
	for (int i = 0; i < ncpus; i++) {
		memset(&r, 0, sizeof(r));
		r.rsi = TABLE(i);
		*(uint64_t *)(vm->ram.hva + TABLE(i)) = 0;
		assert_int_equal(g64__setup_vcpu(vm->vcpus[i].fd, 0, &r), 0);
	}
	return true;
}

/* Run vCPU v (in this thread) until its guest reaches the exit port. */
static void run_to_port(struct vcpu *v)
{
	for (;;) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fail_msg("KVM_RUN: %s", strerror(errno));
		}
		switch (v->run->exit_reason) {
		case KVM_EXIT_IO:
			if (v->run->io.port == G64_EXIT_PORT)
				return;
			break;
		case KVM_EXIT_DIRTY_RING_FULL:
			assert_int_equal(dirty__ring_full(&v->vm->lock, &v->vm->dirty), 0);
			break;
		case KVM_EXIT_INTR:
			break;
		default:
			vcpu_state__dump(v->fd, v->index);
			fail_msg("vCPU %d: unexpected exit %u", v->index, v->run->exit_reason);
		}
	}
}

/* vCPU `cpu` increments n random data pages (some twice); their pfns are
 * set in `expect`. */
static void guest_writes(struct vm *vm, int cpu, unsigned n, struct page_bitmap *expect)
{
	uint64_t *tab = (uint64_t *)(vm->ram.hva + TABLE(cpu));
	assert_true(n <= TABLE_MAX);
	for (unsigned i = 0; i < n; i++) {
		uint64_t pfn = (i && rnd() % 8 == 0) ? tab[1 + rnd() % i] / 4096 :
			DATA_FIRST + rnd() % (NPAGES - DATA_FIRST);
		tab[1 + i] = pfn * 4096 + (rnd() % 512) * 8;
		bitmap__set(expect, pfn);
	}
	tab[0] = n;
	run_to_port(&vm->vcpus[cpu]);
}

static void expect_equal(const struct page_bitmap *got, const struct page_bitmap *want, const char *what)
{
	int64_t a = -1, b = -1;
	if (getenv("DIRTY_DEBUG")) {
		for (uint64_t p = 0; p < got->nbits; p++)
			if (bitmap__test(got, p) != bitmap__test(want, p))
				print_message("  pfn %llu (gpa 0x%llx): reported %d expected %d\n",
					      (unsigned long long)p, (unsigned long long)p * 4096,
					      bitmap__test(got, p), bitmap__test(want, p));
	}
	for (;;) {
		a = bitmap__next_set(got, (uint64_t)(a + 1));
		b = bitmap__next_set(want, (uint64_t)(b + 1));
		if (a != b)
			fail_msg("%s: first difference: reported pfn %lld, expected pfn %lld "
				 "(%llu reported, %llu expected)", what, (long long)a, (long long)b,
				 (unsigned long long)bitmap__count(got), (unsigned long long)bitmap__count(want));
		if (a < 0)
			return;
	}
}

/* ---- bitmap ----------------------------------------------------------- */

/* Tests that run a VM need /dev/kvm; on a host without it they are
 * skipped (and counted as skipped), never passed. */
static void need_kvm(void)
{
	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		print_message("SKIP: /dev/kvm: %s\n", strerror(errno));
		skip();
	}
}

static void test_bitmap_basic(void **state)
{
	struct page_bitmap b, c;
	(void)state;
	assert_int_equal(bitmap__init(&b, 0), -EINVAL);
	assert_int_equal(bitmap__init(&b, 130), 0);
	assert_int_equal(b.nwords, 3);
	assert_int_equal(bitmap__count(&b), 0);
	assert_int_equal(bitmap__next_set(&b, 0), -1);
	assert_int_equal(bitmap__next_clear(&b, 0), 0);
	bitmap__set(&b, 0);
	bitmap__set(&b, 63);
	bitmap__set(&b, 64);
	bitmap__set(&b, 129);
	bitmap__set(&b, 130);                  /* out of range: ignored */
	assert_int_equal(bitmap__count(&b), 4);
	assert_true(bitmap__test(&b, 63) && bitmap__test(&b, 64) && !bitmap__test(&b, 65));
	assert_false(bitmap__test(&b, 130));
	assert_int_equal(bitmap__next_set(&b, 1), 63);
	assert_int_equal(bitmap__next_set(&b, 65), 129);
	assert_int_equal(bitmap__next_set(&b, 130), -1);
	assert_int_equal(bitmap__next_clear(&b, 63), 65);
	bitmap__clear(&b, 63);
	assert_false(bitmap__test(&b, 63));
	bitmap__set_all(&b);
	assert_int_equal(bitmap__count(&b), 130);
	assert_int_equal(b.w[2], 3);           /* nothing past nbits */
	assert_int_equal(bitmap__next_clear(&b, 0), -1);
	bitmap__clear_range(&b, 60, 10);
	assert_int_equal(bitmap__count(&b), 120);
	assert_int_equal(bitmap__next_clear(&b, 0), 60);
	assert_int_equal(bitmap__next_set(&b, 60), 70);
	bitmap__clear_all(&b);
	bitmap__set_range(&b, 127, 1000);      /* clipped */
	assert_int_equal(bitmap__count(&b), 3);
	bitmap__set_range(&b, 0, 0);
	bitmap__set_range(&b, 500, 5);
	assert_int_equal(bitmap__count(&b), 3);

	assert_int_equal(bitmap__init(&c, 130), 0);
	bitmap__set_range(&c, 0, 128);
	assert_int_equal(bitmap__or(&c, &b), 2);          /* 128, 129 new; 127 was there */
	assert_int_equal(bitmap__count(&c), 130);
	bitmap__clear_all(&c);
	bitmap__set(&c, 5);
	bitmap__copy(&b, &c);
	assert_int_equal(bitmap__count(&b), 1);
	uint64_t words[3] = { 0x30, ~0ULL, ~0ULL };
	assert_int_equal(bitmap__or_words(&b, words), 1 + 64 + 2);   /* 4, 64..127, 128..129 */
	assert_int_equal(b.w[2], 3);
	bitmap__free(&b);
	bitmap__free(&b);                       /* idempotent */
	bitmap__free(&c);
}

static void test_bitmap_or_xor(void **state)
{
	struct page_bitmap d, a, b;
	(void)state;
	assert_int_equal(bitmap__init(&d, 100), 0);
	assert_int_equal(bitmap__init(&a, 100), 0);
	assert_int_equal(bitmap__init(&b, 100), 0);
	bitmap__set(&a, 1);
	bitmap__set(&a, 2);
	bitmap__set(&b, 2);
	bitmap__set(&b, 99);
	bitmap__set(&d, 50);
	bitmap__or_xor(&d, &a, &b);             /* 1 and 99 differ */
	assert_int_equal(bitmap__count(&d), 3);
	assert_true(bitmap__test(&d, 1) && bitmap__test(&d, 99) && bitmap__test(&d, 50));
	assert_false(bitmap__test(&d, 2));
	bitmap__free(&d);
	bitmap__free(&a);
	bitmap__free(&b);
}

/* Random operations against a bool-per-bit model, several sizes. */
static void test_bitmap_model(void **state)
{
	static const uint64_t sizes[] = { 1, 63, 64, 65, 127, 128, 1000, 4097 };
	(void)state;
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		uint64_t n = sizes[si];
		struct page_bitmap b, o;
		bool *m = calloc(n, 1), *mo = calloc(n, 1);
		assert_non_null(m);
		assert_non_null(mo);
		assert_int_equal(bitmap__init(&b, n), 0);
		assert_int_equal(bitmap__init(&o, n), 0);
		for (int it = 0; it < 3000; it++) {
			uint64_t i = rnd() % n, len = rnd() % (n + 70);
			switch (rnd() % 8) {
			case 0: bitmap__set(&b, i); m[i] = true; break;
			case 1: bitmap__clear(&b, i); m[i] = false; break;
			case 2: bitmap__set_range(&b, i, len);
				for (uint64_t k = i; k < n && k - i < len; k++) m[k] = true;
				break;
			case 3: bitmap__clear_range(&b, i, len);
				for (uint64_t k = i; k < n && k - i < len; k++) m[k] = false;
				break;
			case 4: {
				int64_t want = -1;
				for (uint64_t k = i; k < n; k++) if (m[k]) { want = (int64_t)k; break; }
				assert_int_equal(bitmap__next_set(&b, i), want);
				want = -1;
				for (uint64_t k = i; k < n; k++) if (!m[k]) { want = (int64_t)k; break; }
				assert_int_equal(bitmap__next_clear(&b, i), want);
				break;
			}
			case 5: {
				uint64_t added = 0;
				bitmap__clear_all(&o);
				memset(mo, 0, n);
				for (int k = 0; k < 5; k++) {
					uint64_t j = rnd() % n;
					bitmap__set(&o, j);
					mo[j] = true;
				}
				for (uint64_t k = 0; k < n; k++)
					if (mo[k] && !m[k]) { added++; m[k] = true; }
				assert_int_equal(bitmap__or(&b, &o), added);
				break;
			}
			case 6:
				if (rnd() % 16 == 0) { bitmap__clear_all(&b); memset(m, 0, n); }
				break;
			default:
				assert_int_equal(bitmap__test(&b, i), m[i]);
			}
			if (it % 100 == 0) {
				uint64_t c = 0;
				for (uint64_t k = 0; k < n; k++) {
					c += m[k];
					assert_int_equal(bitmap__test(&b, k), m[k]);
				}
				assert_int_equal(bitmap__count(&b), c);
			}
		}
		bitmap__free(&b);
		bitmap__free(&o);
		free(m);
		free(mo);
	}
}

/* ---- exact reporting -------------------------------------------------- */

static void exact_rounds(enum dirty_mode mode, int ncpus, uint32_t ring, unsigned per_round)
{
	struct vm vm;
	struct dirty_tracker t;
	struct page_bitmap bm, want;
	char err[512];
	int64_t n;

	if (!make_vm(&vm, ncpus, ring)) {
		vm__destroy(&vm);
		skip();
	}
	assert_int_equal(bitmap__init(&bm, NPAGES), 0);
	assert_int_equal(bitmap__init(&want, NPAGES), 0);
	if (vm__dirty_start(&vm, &t, mode, err, sizeof(err)))
		fail_msg("dirty__start(%s): %s", dirty__mode_name(mode), err);

	/* The guest's first run, then: everything counts at start. The first
	 * run reads every page of its list, so that all pages it only reads
	 * are mapped before the first sync: on a read fault KVM maps a page
	 * the host has mapped writable (the lists are written by the host)
	 * writable at once and counts it dirty, which would spoil exactness. */
	for (int c = 0; c < ncpus; c++) {
		uint64_t *tab = (uint64_t *)(vm.ram.hva + TABLE(c));
		tab[0] = TABLE_MAX;
		for (unsigned i = 1; i <= TABLE_MAX; i++)
			tab[i] = DATA_FIRST * 4096;
		run_to_port(&vm.vcpus[c]);
		tab[0] = 0;
	}
	n = dirty__sync(&t, &bm);
	assert_int_equal(n, NPAGES);
	assert_int_equal(bitmap__count(&bm), NPAGES);
	bitmap__clear_all(&bm);
	for (int c = 0; c < ncpus; c++)
		run_to_port(&vm.vcpus[c]);    /* empty lists: no writes */
	assert_int_equal(dirty__sync(&t, &bm), 0);
	assert_int_equal(bitmap__count(&bm), 0);

	for (int round = 0; round < 12; round++) {
		bitmap__clear_all(&want);
		bitmap__clear_all(&bm);
		for (int c = 0; c < ncpus; c++)
			guest_writes(&vm, c, per_round, &want);
		if (round % 3 == 1) {
			/* the VMM writes too: a byte, a range across pages, one
			 * clipped at the end of RAM, one past it, one empty */
			dirty__mark(&t, 5 * 4096 + 17, 1);
			bitmap__set(&want, 5);
			dirty__mark(&t, 100 * 4096 - 1, 4096 + 2);   /* pfns 99, 100, 101 */
			bitmap__set_range(&want, 99, 3);
			dirty__mark(&t, MEM - 4096, 3 * 4096);
			bitmap__set(&want, NPAGES - 1);
			dirty__mark(&t, MEM + 4096, 4096);
			dirty__mark(&t, 200 * 4096, 0);
			dirty__mark(&t, UINT64_MAX - 10, 100);
			dirty__mark(NULL, 0, 4096);
		}
		/* a page already set in bm is not counted again */
		int64_t already = 0;
		if (round % 4 == 2) {
			bitmap__set(&bm, (uint64_t)bitmap__next_set(&want, 0));
			already = 1;
		}
		n = dirty__sync(&t, &bm);
		expect_equal(&bm, &want, dirty__mode_name(mode));
		assert_int_equal(n, (int64_t)bitmap__count(&want) - already);
		/* nothing written since: nothing reported */
		bitmap__clear_all(&bm);
		assert_int_equal(dirty__sync(&t, &bm), 0);
	}
	/* the same pages again, round after round: re-armed each time */
	for (int round = 0; round < 3; round++) {
		uint64_t *tab = (uint64_t *)(vm.ram.hva + TABLE(0));
		tab[0] = 2;
		tab[1] = (DATA_FIRST + 5) * 4096;
		tab[2] = (NPAGES - 1) * 4096 + 4088;
		run_to_port(&vm.vcpus[0]);
		bitmap__clear_all(&bm);
		assert_int_equal(dirty__sync(&t, &bm), 2);
		assert_true(bitmap__test(&bm, DATA_FIRST + 5) && bitmap__test(&bm, NPAGES - 1));
	}
	print_message("%s, %d vCPU(s): %llu syncs, %llu ring entries, %llu ring-full harvests\n",
		      dirty__mode_name(mode), ncpus, (unsigned long long)t.st.syncs,
		      (unsigned long long)t.st.ring_entries, (unsigned long long)t.st.ring_full);
	if (ring && per_round * 2 > ring)
		assert_true(t.st.ring_full > 0);
	dirty__stop(&t);
	dirty__stop(&t);                       /* idempotent */
	bitmap__free(&bm);
	bitmap__free(&want);
	vm__destroy(&vm);
}

static void test_log_exact(void **state)
{
	need_kvm();
	(void)state;
	exact_rounds(DIRTY_LOG_CLEAR, 1, 0, 300);
}

static void test_log_exact_2cpu(void **state)
{
	need_kvm();
	(void)state;
	exact_rounds(DIRTY_LOG_CLEAR, 2, 0, 2000);
}

static void test_ring_exact(void **state)
{
	need_kvm();
	(void)state;
	exact_rounds(DIRTY_RING, 1, 4096, 300);
}

static void test_ring_exact_2cpu(void **state)
{
	need_kvm();
	(void)state;
	exact_rounds(DIRTY_RING, 2, 4096, 2000);
}

/* A 512-entry ring and 3000 pages per round: the vCPU exits with
 * KVM_EXIT_DIRTY_RING_FULL several times per round. */
static void test_ring_full(void **state)
{
	need_kvm();
	(void)state;
	exact_rounds(DIRTY_RING, 2, 512, 3000);
}

/* ---- no lost writes while the guest runs ------------------------------ */

static void no_lost_writes(enum dirty_mode mode, uint32_t ring)
{
	/* on the heap: if an assertion fails, the vCPU threads stay parked on
	 * leaked memory rather than on a stack slot the next test reuses */
	struct vm *vm = calloc(1, sizeof(*vm));
	struct dirty_tracker *t = calloc(1, sizeof(*t));
	struct page_bitmap bm;
	char err[512];
	uint8_t *shadow;
	uint64_t copied = 0, found_running = 0, changed = 0;
	int64_t n;

	assert_non_null(vm);
	assert_non_null(t);
	if (!make_vm(vm, 2, ring)) {
		vm__destroy(vm);
		free(vm);
		free(t);
		skip();
	}
	for (int i = 0; i < 2; i++) {
		struct kvm_regs r = { 0 };
		r.rbx = 16 * MiB;                     /* 16 MiB region: 4096 pages */
		r.rdx = 4096 - 1;
		r.r8 = (uint64_t)i * 8;
		r.r9 = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
		r.r10 = 6364136223846793005ULL;
		r.r11 = 1442695040888963407ULL;
		r.rax = (uint64_t)i << 56;
		assert_int_equal(g64__setup_vcpu(vm->vcpus[i].fd, (uint64_t)(tdg_hammer - tdg_start), &r), 0);
	}
	shadow = calloc(1, MEM);
	assert_non_null(shadow);
	assert_int_equal(bitmap__init(&bm, NPAGES), 0);
	if (vm__dirty_start(vm, t, mode, err, sizeof(err)))
		fail_msg("dirty__start(%s): %s", dirty__mode_name(mode), err);
	if (vm__start(vm, err, sizeof(err)))
		fail_msg("vm__start: %s", err);

	for (int round = 0; round < 40; round++) {
		usleep(round % 2 ? 500 : 3000);
		n = dirty__sync(t, &bm);
		assert_true(n >= 0);
		if (round)
			found_running += (uint64_t)n;
		for (int64_t p = -1; (p = bitmap__next_set(&bm, (uint64_t)(p + 1))) >= 0;) {
			memcpy(shadow + p * 4096, vm->ram.hva + p * 4096, 4096);
			copied++;
		}
		bitmap__clear_all(&bm);
		/* a VMM write mid-migration, marked after writing */
		vm->ram.hva[40 * MiB + (uint64_t)round * 4096] = (uint8_t)(round + 1);
		dirty__mark(t, 40 * MiB + (uint64_t)round * 4096, 1);
	}
	usleep(3000);                             /* writes only the final sync sees */
	assert_int_equal(vm__pause(vm), 0);
	for (uint64_t p = 0; p < NPAGES; p++)
		changed += memcmp(shadow + p * 4096, vm->ram.hva + p * 4096, 4096) != 0;
	n = dirty__sync(t, &bm);
	assert_true(n >= 0);
	for (int64_t p = -1; (p = bitmap__next_set(&bm, (uint64_t)(p + 1))) >= 0;)
		memcpy(shadow + p * 4096, vm->ram.hva + p * 4096, 4096);
	for (uint64_t p = 0; p < NPAGES; p++)
		if (memcmp(shadow + p * 4096, vm->ram.hva + p * 4096, 4096))
			fail_msg("%s: page %llu changed but was never reported after its last write",
				 dirty__mode_name(mode), (unsigned long long)p);
	print_message("%s: %llu pages copied while running, %llu found after the first sync; "
		      "paused: %llu pages differ from the copy, the final sync reports %lld; "
		      "%llu ring-full harvests\n",
		      dirty__mode_name(mode), (unsigned long long)copied, (unsigned long long)found_running,
		      (unsigned long long)changed, (long long)n, (unsigned long long)t->st.ring_full);
	assert_true(found_running > 0);           /* the guest really ran meanwhile */
	assert_true(n >= (int64_t)changed);
	vm__stop(vm, 0, "test done");
	vm__wait(vm);
	dirty__stop(t);
	free(shadow);
	bitmap__free(&bm);
	vm__destroy(vm);
	free(vm);
	free(t);
}

static void test_log_no_lost_writes(void **state)
{
	need_kvm();
	(void)state;
	no_lost_writes(DIRTY_LOG_CLEAR, 0);
}

/* 512 entries: the hammering vCPUs fill their rings between syncs, so the
 * vCPU threads harvest through vcpu_loop's KVM_EXIT_DIRTY_RING_FULL case. */
static void test_ring_no_lost_writes(void **state)
{
	need_kvm();
	(void)state;
	no_lost_writes(DIRTY_RING, 512);
}

/* ---- lifecycle and errors --------------------------------------------- */

static void restart(enum dirty_mode mode, uint32_t ring)
{
	struct vm vm;
	struct dirty_tracker t;
	struct page_bitmap bm, want;
	char err[512];
	int64_t n;

	if (!make_vm(&vm, 1, ring)) {
		vm__destroy(&vm);
		skip();
	}
	assert_int_equal(bitmap__init(&bm, NPAGES), 0);
	assert_int_equal(bitmap__init(&want, NPAGES), 0);
	for (int cycle = 0; cycle < 3; cycle++) {
		if (vm__dirty_start(&vm, &t, mode, err, sizeof(err)))
			fail_msg("dirty__start: %s", err);
		/* (changing the memslot's flags drops KVM's mappings: let the
		 * guest map its code and list again first, see exact_rounds) */
		*(uint64_t *)(vm.ram.hva + TABLE(0)) = 0;
		run_to_port(&vm.vcpus[0]);
		bitmap__clear_all(&bm);
		assert_int_equal(dirty__sync(&t, &bm), NPAGES);
		bitmap__clear_all(&bm);
		bitmap__clear_all(&want);
		guest_writes(&vm, 0, 100, &want);
		n = dirty__sync(&t, &bm);
		expect_equal(&bm, &want, "after restart");
		assert_int_equal(n, (int64_t)bitmap__count(&want));
		/* writes left unharvested at stop are dropped, not kept for
		 * the next start (which counts everything anyway) */
		guest_writes(&vm, 0, 50, &want);
		dirty__stop(&t);
		/* untracked: nothing breaks, nothing is recorded */
		guest_writes(&vm, 0, 50, &want);
	}
	bitmap__free(&bm);
	bitmap__free(&want);
	vm__destroy(&vm);
}

static void test_log_restart(void **state)
{
	need_kvm();
	(void)state;
	restart(DIRTY_LOG_CLEAR, 0);
}

static void test_ring_restart(void **state)
{
	need_kvm();
	(void)state;
	restart(DIRTY_RING, 1024);
}

static void test_errors(void **state)
{
	need_kvm();
	struct vm vm;
	struct dirty_tracker t, t2;
	struct page_bitmap small, bm;
	char err[512];
	(void)state;

	memset(&t, 0, sizeof(t));
	assert_int_equal(bitmap__init(&bm, NPAGES), 0);
	assert_int_equal(dirty__sync(&t, &bm), -EINVAL);     /* not started */
	dirty__stop(&t);                                      /* harmless */

	make_vm(&vm, 1, 0);
	/* a ring needs a VM without vCPUs, and a sane size */
	int r = dirty__ring_enable(vm.fd, 4096);
	assert_true(r == -EINVAL || r == -EOPNOTSUPP);
	assert_int_equal(vm__dirty_start(&vm, &t, DIRTY_RING, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no dirty ring"));
	print_message("ring on a VM without one: %s\n", err);
	assert_int_equal(vm__dirty_start(&vm, &t, DIRTY_LOG_CLEAR, err, sizeof(err)), 0);
	assert_int_equal(vm__dirty_start(&vm, &t2, DIRTY_LOG_CLEAR, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already"));
	assert_int_equal(bitmap__init(&small, NPAGES - 1), 0);
	assert_int_equal(dirty__sync(&t, &small), -EINVAL);
	dirty__stop(&t);
	vm__destroy(&vm);

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	assert_true(kvm >= 0);
	int vmfd = ioctl(kvm, KVM_CREATE_VM, 0);
	assert_true(vmfd >= 0);
	assert_int_equal(dirty__ring_enable(vmfd, 1000), -EINVAL);       /* not a power of 2 */
	assert_int_equal(dirty__ring_enable(vmfd, 128), -EINVAL);        /* under a page */
	r = dirty__ring_enable(vmfd, 1u << 20);
	assert_true(r == -E2BIG || r == -EOPNOTSUPP);
	close(vmfd);
	close(kvm);

	/* a ring VM: log mode is refused with a message naming the ring */
	if (make_vm(&vm, 1, 4096)) {
		assert_int_equal(vm__dirty_start(&vm, &t, DIRTY_LOG_CLEAR, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "dirty ring"));
		print_message("log on a ring VM: %s\n", err);
	}
	vm__destroy(&vm);
	/* a refused ring: the reason is in the message, log mode still works */
	struct vm_config cfg = { .mem = MEM, .ncpus = 1, .serial_fd = -1, .dirty_ring = 1000 };
	assert_int_equal(vm__create(&vm, &cfg, err, sizeof(err)), 0);
	assert_int_equal(vm.dirty_ring, 0);
	assert_true(vm.dirty_ring_err == -EINVAL || vm.dirty_ring_err == -EOPNOTSUPP);
	assert_int_equal(vm__dirty_start(&vm, &t, DIRTY_RING, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "refused"));
	print_message("refused ring: %s\n", err);
	assert_int_equal(vm__dirty_start(&vm, &t, DIRTY_LOG_CLEAR, err, sizeof(err)), 0);
	vm__destroy(&vm);                                    /* stops the tracker */
	bitmap__free(&small);
	bitmap__free(&bm);
}

/* ---- several VMs in one process ---------------------------------------- */

static int nop_port(void *ctx, struct exit_io *io, char *err, size_t errlen)
{
	(void)ctx; (void)io; (void)err; (void)errlen;
	return 0;
}

/* Two VMs in one process, the second borrowing the first's RAM through its
 * own memslot (a mirror VM's shape): a write by one VM's guest is seen by
 * the other's, each VM's dirty log reports its own guest's writes at its
 * own slot, each has its own exit table, and destroying the borrower leaves
 * the lender's RAM alone. */
static void test_two_vms_borrowed_ram(void **state)
{
	struct vm a, b;
	struct dirty_tracker ta, tb;
	struct page_bitmap bm;
	struct vm_config cfg = { .mem = MEM, .ncpus = 1, .serial_fd = -1 };
	struct kvm_regs r;
	const uint64_t x = (DATA_FIRST + 77) * 4096 + 8;      /* the shared counter */
	const uint32_t slot_b = 2;
	char err[512];

	need_kvm();
	(void)state;
	make_vm(&a, 1, 0);
	if (vm__init(&b, &cfg, err, sizeof(err)) ||
	    vm__attach_ram_borrowed(&b, &a, slot_b, 0, err, sizeof(err)) ||
	    vm__setup_caps(&b, err, sizeof(err)) ||
	    vm__cc_role(&b, VM_CC_OWNER, NULL, err, sizeof(err)) ||
	    vm__create_vcpus(&b, err, sizeof(err)))
		fail_msg("building the borrowing VM: %s", err);
	assert_int_equal(b.ram_at.kind, VM_RAM_BORROWED);
	assert_int_equal(b.ram_at.slot, slot_b);
	/* the same memfd through its own view (a mirror's, which post-copy's
	 * userfaultfd on the lender's view does not cover) */
	assert_int_equal(b.ram.fd, a.ram.fd);
	assert_ptr_not_equal(b.ram.hva, a.ram.hva);
	assert_ptr_equal(vm__gpa_ptr(&b, x, 8), b.ram.hva + x);
	*(volatile uint64_t *)(a.ram.hva + x) = 0x1234;
	assert_int_equal(*(volatile uint64_t *)(b.ram.hva + x), 0x1234);
	*(volatile uint64_t *)(a.ram.hva + x) = 0;
	assert_null(vm__gpa_ptr(&b, MEM - 4, 8));
	/* a VM borrows once, and only RAM of its own size */
	assert_int_equal(vm__attach_ram_borrowed(&b, &a, 3, 0, err, sizeof(err)), -1);

	/* own exit tables: b was given no guest devices (no console, no
	 * guest-call port) and a port registered on b is not a's */
	assert_null(exits__port(&b.exits, 0x3f8));
	assert_null(exits__port(&b.exits, 0xe0));
	assert_non_null(exits__port(&a.exits, 0x3f8));
	assert_int_equal(vm__register_port(&b, 0x20, 4, nop_port, NULL), 0);
	assert_int_equal(vm__register_port(&b, 0x22, 1, nop_port, NULL), -EEXIST);
	assert_non_null(exits__port(&b.exits, 0x23));
	assert_null(exits__port(&a.exits, 0x20));

	/* b's vCPU runs the same code from the same (shared) memory */
	memset(&r, 0, sizeof(r));
	r.rsi = TABLE(1);
	assert_int_equal(g64__setup_vcpu(b.vcpus[0].fd, 0, &r), 0);
	uint64_t *tab_a = (uint64_t *)(a.ram.hva + TABLE(0)), *tab_b = (uint64_t *)(a.ram.hva + TABLE(1));
	tab_a[0] = 1;
	tab_a[1] = x;
	tab_b[0] = 1;
	tab_b[1] = x;
	assert_int_equal(bitmap__init(&bm, NPAGES), 0);
	if (vm__dirty_start(&a, &ta, DIRTY_LOG_CLEAR, err, sizeof(err)) ||
	    vm__dirty_start(&b, &tb, DIRTY_LOG_CLEAR, err, sizeof(err)))
		fail_msg("dirty__start: %s", err);
	assert_int_equal(dirty__sync(&ta, &bm), NPAGES);        /* everything counts at start */
	bitmap__clear_all(&bm);
	assert_int_equal(dirty__sync(&tb, &bm), NPAGES);
	bitmap__clear_all(&bm);

	run_to_port(&b.vcpus[0]);                              /* b's guest: ++x */
	assert_int_equal(*(uint64_t *)(a.ram.hva + x), 1);
	assert_true(dirty__sync(&tb, &bm) >= 1);
	assert_true(bitmap__test(&bm, x / 4096));               /* b's log, at b's slot */
	bitmap__clear_all(&bm);
	assert_true(dirty__sync(&ta, &bm) >= 0);
	assert_false(bitmap__test(&bm, x / 4096));              /* not a's guest's write */

	run_to_port(&a.vcpus[0]);                              /* a's guest sees 1: ++x */
	assert_int_equal(*(uint64_t *)(b.ram.hva + x), 2);
	bitmap__clear_all(&bm);
	assert_true(dirty__sync(&ta, &bm) >= 1);
	assert_true(bitmap__test(&bm, x / 4096));

	dirty__stop(&tb);
	vm__destroy(&b);                                       /* not a's RAM */
	run_to_port(&a.vcpus[0]);
	assert_int_equal(*(uint64_t *)(a.ram.hva + x), 3);
	dirty__stop(&ta);
	vm__destroy(&a);
	bitmap__free(&bm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bitmap_basic),
		cmocka_unit_test(test_bitmap_or_xor),
		cmocka_unit_test(test_bitmap_model),
		cmocka_unit_test(test_log_exact),
		cmocka_unit_test(test_log_exact_2cpu),
		cmocka_unit_test(test_ring_exact),
		cmocka_unit_test(test_ring_exact_2cpu),
		cmocka_unit_test(test_ring_full),
		cmocka_unit_test(test_log_no_lost_writes),
		cmocka_unit_test(test_ring_no_lost_writes),
		cmocka_unit_test(test_log_restart),
		cmocka_unit_test(test_ring_restart),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_two_vms_borrowed_ram),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
