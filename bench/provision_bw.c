/* provision_bw.c - how fast this host turns fresh memory into guest RAM
 * that holds data: the second limit of a live migration (bench/migrate.sh).
 * A destination receives every page into a memfd of the guest's size that
 * nothing has touched yet; however fast the stream, it cannot land pages
 * faster than the host can allocate, zero and write them once.
 *
 *   provision_bw MiB [reps]
 *
 * Each method gets a new memfd of MiB mebibytes (ftruncate, mapped
 * MAP_SHARED as tern maps guest RAM), provisions it its way, writes every
 * byte once (memset, a non-zero value: a page as it arrives), and is timed
 * from the memfd's creation to the end of that write; then it is closed
 * (the memory freed) before the next method runs. Methods:
 *   first_touch        no preparation: the write pass faults every page in
 *                      (allocate + zero + map, 4 KiB at a time)
 *   fallocate          fallocate(0..size) first (allocate + zero in the
 *                      kernel, no mapping), then the write pass (which
 *                      only maps)
 *   populate_write     MADV_POPULATE_WRITE of the mapping (allocate, zero
 *                      and map, no user-space fault), then the write pass
 *   fallocate_2t       fallocate in 2 threads (each one half), then the
 *                      write pass in one thread
 *   fallocate_write_2t 2 threads, each fallocates its half and writes it:
 *                      what a receiver with two threads could do
 * Prints one line of JSON: per method the median GB/s over reps (GB = 1e9
 * bytes of the memfd), min, max, and the median split into alloc_s
 * (preparation) and write_s; "best" names the fastest method and its GB/s,
 * the limit bench/migrate.sh reports migrations against. Exit 0, or 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define MAX_REPS 20

enum method { FIRST_TOUCH, FALLOCATE, POPULATE_WRITE, FALLOCATE_2T, FALLOCATE_WRITE_2T, NMETHODS };
static const char *const method_name[NMETHODS] = {
	"first_touch", "fallocate", "populate_write", "fallocate_2t", "fallocate_write_2t",
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct slice {
	int fd;
	uint8_t *mem;
	uint64_t off, len;
	int write;                        /* also write the slice */
	int err;
};

static void *slice_thread(void *arg)
{
	struct slice *s = arg;
	if (fallocate(s->fd, 0, (off_t)s->off, (off_t)s->len))
		s->err = errno;
	else if (s->write)
		memset(s->mem + s->off, 0x5a, s->len);
	return NULL;
}

/* Two threads, each on one half. 0 or errno. */
static int halves(int fd, uint8_t *mem, uint64_t size, int write)
{
	struct slice s[2] = {
		{ .fd = fd, .mem = mem, .off = 0, .len = size / 2, .write = write },
		{ .fd = fd, .mem = mem, .off = size / 2, .len = size - size / 2, .write = write },
	};
	pthread_t t;
	if (pthread_create(&t, NULL, slice_thread, &s[1]))
		return EAGAIN;
	slice_thread(&s[0]);
	pthread_join(t, NULL);
	return s[0].err ? s[0].err : s[1].err;
}

/* One run of method m: total and preparation seconds. 0 or errno. */
static int run(enum method m, uint64_t size, double *total, double *alloc)
{
	double t0 = now_s(), t1;
	int fd = memfd_create("provision_bw", MFD_CLOEXEC), e = 0;
	uint8_t *mem;

	if (fd < 0)
		return errno;
	if (ftruncate(fd, (off_t)size)) {
		e = errno;
		close(fd);
		return e;
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (mem == MAP_FAILED) {
		e = errno;
		close(fd);
		return e;
	}
	switch (m) {
	case FIRST_TOUCH:
		break;
	case FALLOCATE:
		if (fallocate(fd, 0, 0, (off_t)size))
			e = errno;
		break;
	case POPULATE_WRITE:
		if (madvise(mem, size, MADV_POPULATE_WRITE))
			e = errno;            /* EINVAL: a kernel before 5.14 */
		break;
	case FALLOCATE_2T:
	case FALLOCATE_WRITE_2T:
		e = halves(fd, mem, size, m == FALLOCATE_WRITE_2T);
		break;
	case NMETHODS:
		break;
	}
	t1 = now_s();
	if (!e && m != FALLOCATE_WRITE_2T)
		memset(mem, 0x5a, size);
	*total = now_s() - t0;
	*alloc = t1 - t0;
	munmap(mem, size);
	close(fd);
	return e;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	double c[MAX_REPS];
	memcpy(c, v, sizeof(v[0]) * (size_t)n);
	qsort(c, (size_t)n, sizeof(c[0]), cmp);
	return n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	double tot[NMETHODS][MAX_REPS], alc[NMETHODS][MAX_REPS];
	int err[NMETHODS] = { 0 }, reps = argc > 2 ? atoi(argv[2]) : 3, best = -1;
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 0, size = mib << 20;
	double best_gbps = 0;

	if (argc < 2 || argc > 3 || !mib || mib > (1ULL << 20) || reps < 1 || reps > MAX_REPS) {
		fprintf(stderr, "usage: provision_bw MiB [reps 1-%d]\n", MAX_REPS);
		return 2;
	}
	/* interleaved, so drift on a busy host hits every method alike */
	for (int r = 0; r < reps; r++)
		for (int m = 0; m < NMETHODS; m++)
			if (!err[m] && (err[m] = run((enum method)m, size, &tot[m][r], &alc[m][r])))
				fprintf(stderr, "provision_bw: %s: %s\n", method_name[m], strerror(err[m]));
	printf("{\"mib\":%llu,\"reps\":%d,\"methods\":{", (unsigned long long)mib, reps);
	for (int m = 0; m < NMETHODS; m++) {
		printf("%s\"%s\":", m ? "," : "", method_name[m]);
		if (err[m]) {
			printf("{\"error\":\"%s\"}", strerror(err[m]));
			continue;
		}
		double t = median(tot[m], reps), a = median(alc[m], reps), lo = tot[m][0], hi = tot[m][0];
		for (int r = 1; r < reps; r++) {
			lo = tot[m][r] < lo ? tot[m][r] : lo;
			hi = tot[m][r] > hi ? tot[m][r] : hi;
		}
		double g = size / t / 1e9;
		printf("{\"gbps\":%.3f,\"min_gbps\":%.3f,\"max_gbps\":%.3f,\"alloc_s\":%.4f,\"write_s\":%.4f}",
		       g, size / hi / 1e9, size / lo / 1e9, a, t - a);
		if (g > best_gbps) {
			best_gbps = g;
			best = m;
		}
	}
	if (best < 0) {
		printf("}}\n");
		return 1;
	}
	printf("},\"best\":{\"method\":\"%s\",\"gbps\":%.3f}}\n", method_name[best], best_gbps);
	return 0;
}
