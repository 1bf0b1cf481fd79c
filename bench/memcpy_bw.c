/* memcpy_bw.c - single-threaded memcpy bandwidth of this host, the ceiling
 * the tern benchmarks express their throughputs against.
 *
 * usage: memcpy_bw [MiB [REPS]]   (default 256 MiB, 7 repetitions)
 *
 * Both buffers are touched before timing, so page faults are not measured.
 * Bandwidth counts bytes copied (not read + written): one 256 MiB memcpy in
 * 25 ms is 10.7 GB/s. GB = 1e9 bytes. Prints one line of JSON. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
	int reps = argc > 2 ? atoi(argv[2]) : 7;
	size_t n = mib << 20;
	unsigned char *src, *dst;
	double *gbps;
	unsigned sum = 0;

	if (!mib || reps < 1 || reps > 1000) {
		fprintf(stderr, "usage: memcpy_bw [MiB [REPS]]\n");
		return 2;
	}
	src = malloc(n);
	dst = malloc(n);
	gbps = calloc(reps, sizeof(*gbps));
	if (!src || !dst || !gbps) {
		fprintf(stderr, "memcpy_bw: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		src[i] = (unsigned char)(i * 131 + (i >> 12));
	memset(dst, 0, n);

	for (int r = 0; r < reps; r++) {
		double t0 = now_s();
		memcpy(dst, src, n);
		double t = now_s() - t0;
		/* Read something back so the copy cannot be optimized out. */
		sum += dst[(r * 4099u) % n];
		gbps[r] = t > 0 ? n / t / 1e9 : 0;
	}
	qsort(gbps, reps, sizeof(*gbps), cmp_double);
	double med = reps % 2 ? gbps[reps / 2] : (gbps[reps / 2 - 1] + gbps[reps / 2]) / 2;
	printf("{\"buffer_mib\":%zu,\"reps\":%d,\"min_gbps\":%.3f,\"median_gbps\":%.3f,"
	       "\"max_gbps\":%.3f,\"check\":%u}\n",
	       mib, reps, gbps[0], med, gbps[reps - 1], sum & 0xff);
	free(src);
	free(dst);
	free(gbps);
	return 0;
}
