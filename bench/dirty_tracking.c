/* dirty_tracking.c - what one dirty__sync costs, per tracking mode.
 *
 * A 1 GiB, 1-vCPU VM built by vm__create runs a bare ring-3 guest
 * (src/kvm/guest64.h) that writes one qword into each page of a region
 * (from 64 MiB up) and then exits with `out`. Per mode and region size,
 * each round is: guest pass (every page of the region written once), then
 * one timed dirty__sync on the stopped vCPU. Reported per case: median /
 * min / max sync time, pages found, µs per 1000 dirty pages, the guest's
 * pass time (write faults on re-protected pages, ring-full exits), and for
 * the small ring the harvests done from ring-full exits during the pass
 * (their time counts in harvest_us). Also an idle sync (nothing dirty) and
 * the first sync after start (every page).
 *
 * Modes: "log" (KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG, manual protect),
 * "ring_64k" (65536-entry rings: a 128 MiB pass fits without exits),
 * "ring_4k" (4096 entries, QEMU's default: the vCPU exits when full).
 *
 * Build: `make` at the top, then `make -C bench dirty_tracking`.
 * Run:   bench/out/dirty_tracking [rounds]      (JSON on stdout)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "kvm/guest64.h"
#include "kvm/dirty.h"
#include "mem/bitmap.h"
#include "vm/vm.h"

#define MiB (1ULL << 20)
#define GUEST_MEM (1024 * MiB)
#define REGION (64 * MiB)
#define PARAM 0xf000ULL              /* u64 first gpa, u64 pages */

/* sweep: rdi = [PARAM], rcx = [PARAM+8]; ++rax -> each page; out; again */
__asm__(
	".pushsection .rodata\n"
	".globl bdt_start, bdt_end\n"
	".hidden bdt_start, bdt_end\n"
	"bdt_start:\n"
	"	mov $0xf000, %esi\n"
	"	mov (%rsi), %rdi\n"
	"	mov 8(%rsi), %rcx\n"
	"	test %rcx, %rcx\n"
	"	jz 2f\n"
	"1:	inc %rax\n"
	"	mov %rax, (%rdi)\n"
	"	add $4096, %rdi\n"
	"	dec %rcx\n"
	"	jnz 1b\n"
	"2:	out %al, $0x10\n"
	"	jmp bdt_start\n"
	"bdt_end:\n"
	".popsection\n");
extern const uint8_t bdt_start[], bdt_end[];

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct pass {
	double ms;                    /* guest pass, wall clock */
	unsigned full_exits;
	double full_us;               /* time in dirty__ring_full */
};

static int run_pass(struct vm *vm, uint64_t pages, struct pass *p)
{
	struct vcpu *v = &vm->vcpus[0];
	uint64_t *param = (uint64_t *)(vm->ram.hva + PARAM);
	double t0 = now_us();

	param[0] = REGION;
	param[1] = pages;
	memset(p, 0, sizeof(*p));
	for (;;) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "KVM_RUN: %s\n", strerror(errno));
			return -1;
		}
		if (v->run->exit_reason == KVM_EXIT_IO && v->run->io.port == G64_EXIT_PORT)
			break;
		if (v->run->exit_reason == KVM_EXIT_DIRTY_RING_FULL) {
			double t = now_us();
			if (dirty__ring_full(&v->vm->lock, &v->vm->dirty)) {
				fprintf(stderr, "ring-full harvest failed\n");
				return -1;
			}
			p->full_us += now_us() - t;
			p->full_exits++;
			continue;
		}
		fprintf(stderr, "unexpected exit %u\n", v->run->exit_reason);
		return -1;
	}
	p->ms = (now_us() - t0) / 1e3;
	return 0;
}

struct mode_cfg {
	const char *name;
	enum dirty_mode mode;
	uint32_t ring;
};

static const uint64_t sizes_mib[] = { 1, 16, 128 };
#define NSIZES (sizeof(sizes_mib) / sizeof(sizes_mib[0]))

static int bench_mode(const struct mode_cfg *mc, int rounds, bool first)
{
	struct vm vm;
	struct vm_config cfg = { .mem = GUEST_MEM, .ncpus = 1, .serial_fd = -1, .dirty_ring = mc->ring };
	struct dirty_tracker t;
	struct page_bitmap bm;
	struct kvm_regs r = { 0 };
	struct pass p;
	char err[512];
	double *sync = calloc((size_t)rounds, sizeof(double)), *pass = calloc((size_t)rounds, sizeof(double));
	double *harv = calloc((size_t)rounds, sizeof(double)), t0, first_us, idle[8];
	int64_t n;

	if (!sync || !pass || !harv || vm__create(&vm, &cfg, err, sizeof(err))) {
		fprintf(stderr, "%s: vm__create: %s\n", mc->name, err);
		return -1;
	}
	if (g64__setup_memory(vm.ram.hva, vm.ram.size, bdt_start, (size_t)(bdt_end - bdt_start)) ||
	    g64__setup_vcpu(vm.vcpus[0].fd, 0, &r) || bitmap__init(&bm, GUEST_MEM / 4096)) {
		fprintf(stderr, "%s: guest setup failed\n", mc->name);
		return -1;
	}
	if (vm__dirty_start(&vm, &t, mc->mode, err, sizeof(err))) {
		fprintf(stderr, "%s: dirty__start: %s\n", mc->name, err);
		printf("%s    {\"mode\": \"%s\", \"error\": \"%s\"}", first ? "" : ",\n", mc->name, err);
		vm__destroy(&vm);
		return 0;
	}
	/* first touch of the largest region (memfd pages allocated), then
	 * the first sync: every page of guest RAM */
	if (run_pass(&vm, sizes_mib[NSIZES - 1] * MiB / 4096, &p))
		return -1;
	t0 = now_us();
	n = dirty__sync(&t, &bm);
	first_us = now_us() - t0;
	if (n < 0)
		return -1;
	bitmap__clear_all(&bm);
	for (int i = 0; i < 8; i++) {
		if (run_pass(&vm, 0, &p))
			return -1;
		t0 = now_us();
		n = dirty__sync(&t, &bm);
		idle[i] = now_us() - t0;
		bitmap__clear_all(&bm);
	}
	printf("%s    {\"mode\": \"%s\", \"ring_entries\": %u, \"manual_protect\": %s,\n"
	       "     \"first_sync\": {\"us\": %.1f, \"pages\": %lld}, \"idle_sync_us\": %.1f,\n"
	       "     \"cases\": [", first ? "" : ",\n", mc->name, mc->ring, t.manual ? "true" : "false",
	       first_us, (long long)(GUEST_MEM / 4096), median(idle, 8));

	for (size_t s = 0; s < NSIZES; s++) {
		uint64_t pages = sizes_mib[s] * MiB / 4096;
		int64_t found_min = INT64_MAX, found_max = 0;
		unsigned full_exits = 0;
		for (int i = 0; i < rounds; i++) {
			if (run_pass(&vm, pages, &p))
				return -1;
			t0 = now_us();
			n = dirty__sync(&t, &bm);
			sync[i] = now_us() - t0;
			if (n < 0) {
				fprintf(stderr, "%s: dirty__sync: %s\n", mc->name, strerror((int)-n));
				return -1;
			}
			bitmap__clear_all(&bm);
			/* what the sync returned, plus what ring-full exits harvested
			 * during the pass (they were handed out by this sync too) */
			if (n < found_min)
				found_min = n;
			if (n > found_max)
				found_max = n;
			pass[i] = p.ms;
			harv[i] = sync[i] + p.full_us;
			full_exits += p.full_exits;
		}
		double ms = median(sync, rounds), hs = median(harv, rounds);
		printf("%s\n       {\"dirty_mib\": %llu, \"dirty_pages\": %llu, \"pages_found_min\": %lld, "
		       "\"pages_found_max\": %lld,\n        \"sync_us\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f}, "
		       "\"us_per_1000_pages\": %.2f,\n        \"ring_full_exits_per_pass\": %.1f, "
		       "\"harvest_us\": %.1f, \"harvest_us_per_1000_pages\": %.2f, \"guest_pass_ms\": %.2f}",
		       s ? "," : "", (unsigned long long)sizes_mib[s], (unsigned long long)pages,
		       (long long)found_min, (long long)found_max, ms, sync[0], sync[rounds - 1],
		       ms / (double)pages * 1000, (double)full_exits / rounds, hs,
		       hs / (double)pages * 1000, median(pass, rounds));
	}
	printf("]}");
	dirty__stop(&t);
	bitmap__free(&bm);
	vm__destroy(&vm);
	free(sync);
	free(pass);
	free(harv);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct mode_cfg modes[] = {
		{ "log", DIRTY_LOG_CLEAR, 0 },
		{ "ring_64k", DIRTY_RING, 65536 },
		{ "ring_4k", DIRTY_RING, 4096 },
	};
	int rounds = argc > 1 ? atoi(argv[1]) : 10;
	struct utsname u;
	double load[3] = { 0 };

	if (rounds < 1 || rounds > 1000) {
		fprintf(stderr, "usage: %s [rounds 1-1000]\n", argv[0]);
		return 2;
	}
	uname(&u);
	if (getloadavg(load, 3) < 0)
		load[0] = -1;
	printf("{\"bench\": \"dirty_tracking\", \"guest_mem_mib\": %llu, \"vcpus\": 1, \"rounds\": %d,\n"
	       " \"host\": {\"kernel\": \"%s\", \"cores\": %ld, \"loadavg_start\": %.2f},\n"
	       " \"modes\": [\n", GUEST_MEM / MiB, rounds, u.release, sysconf(_SC_NPROCESSORS_ONLN), load[0]);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (bench_mode(&modes[i], rounds, i == 0))
			return 1;
	if (getloadavg(load, 3) < 0)
		load[0] = -1;
	printf("\n ],\n \"loadavg_end\": %.2f}\n", load[0]);
	return 0;
}
