/* memfd.h - anonymous in-memory files, and reading one back whole (tools
 * and fuzz seeds that write records through a file). */
#ifndef TERN_UTIL_MEMFD_H
#define TERN_UTIL_MEMFD_H

#include <stddef.h>

/* A new empty memfd (-errno on failure). */
int memfd__new(const char *name);
/* The whole content of fd (malloc'd). Returns 0 or -errno. */
int memfd__take(int fd, void **buf, size_t *len);

#endif
