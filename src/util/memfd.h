/* memfd.h - byte buffers as file descriptors and back, so the record
 * format (which reads and writes fds) can build and parse messages. */
#ifndef TERN_UTIL_MEMFD_H
#define TERN_UTIL_MEMFD_H

#include <stddef.h>

/* A new empty memfd (-errno on failure). */
int memfd_new(const char *name);
/* A memfd holding buf, positioned at 0 (-errno on failure). */
int memfd_from(const void *buf, size_t len);
/* The whole content of fd (malloc'd). Returns 0 or -errno. */
int memfd_take(int fd, void **buf, size_t *len);

#endif
