/* size.h - human sizes ("512M", "1G", "4096") to bytes and back. */
#ifndef TERN_UTIL_SIZE_H
#define TERN_UTIL_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Parse a size: digits with an optional K/M/G/T suffix (binary units,
 * optional trailing "iB"/"B"). Returns 0, or -1 if s is not a size or
 * overflows 64 bits. */
int size__parse(const char *s, uint64_t *out);
/* "1G", "512M", "12345" - the shortest exact form. */
const char *size__str(uint64_t bytes, char *buf, size_t len);

#endif
