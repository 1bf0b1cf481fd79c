/* fuzz_seeds.h - the seed-writing mode every fuzz target here shares:
 * `TERN_FUZZ_SEEDS=DIR build-fuzz/fuzz/fuzz_X` writes the target's seeds
 * into DIR and exits. A seed is one mode byte (which path of the target
 * the input takes), then the payload, here written as up to two parts.
 * Header-only: the Makefile links each target from its own object. */
#ifndef TERN_TESTS_FUZZ_SEEDS_H
#define TERN_TESTS_FUZZ_SEEDS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Write DIR/NAME = mode, a[0..alen), b[0..blen); exit(1) on any error. */
static inline void fuzz_seed__save2(const char *dir, const char *name, uint8_t mode,
				    const void *a, size_t alen, const void *b, size_t blen)
{
	char path[4096];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(&mode, 1, 1, f) != 1 || (alen && fwrite(a, 1, alen, f) != alen) ||
	    (blen && fwrite(b, 1, blen, f) != blen) || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static inline void fuzz_seed__save(const char *dir, const char *name, uint8_t mode,
				   const void *p, size_t len)
{
	fuzz_seed__save2(dir, name, mode, p, len, NULL, 0);
}

/* The libFuzzer hook that runs write_seeds(DIR) when TERN_FUZZ_SEEDS is set. */
#define FUZZ_SEEDS_MODE(write_seeds)                                           \
	int LLVMFuzzerInitialize(int *argc, char ***argv);                     \
	int LLVMFuzzerInitialize(int *argc, char ***argv)                      \
	{                                                                      \
		const char *dir = getenv("TERN_FUZZ_SEEDS");                   \
		(void)argc;                                                    \
		(void)argv;                                                    \
		if (dir) {                                                     \
			write_seeds(dir);                                      \
			exit(0);                                               \
		}                                                              \
		return 0;                                                      \
	}

#endif
