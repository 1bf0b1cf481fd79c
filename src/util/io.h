/* io.h - whole reads and writes over fds that may return short. */
#ifndef TERN_UTIL_IO_H
#define TERN_UTIL_IO_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Write all of buf; returns 0 or -errno. */
int write__full(int fd, const void *buf, size_t len);
/* Write all of iov[0..n) (consumed: pipes, files and sockets take partial
 * writes, and a signal may interrupt); returns 0 or -errno. */
int writev__full(int fd, struct iovec *iov, int n);
/* Read exactly len bytes; returns len, fewer at end of file, or -errno. */
ssize_t read__full(int fd, void *buf, size_t len);
/* Read a whole regular file of at most max bytes into memory (malloc'd).
 * Returns 0 or -1 with a message. */
int file__slurp(const char *path, size_t max, void **buf, size_t *len, char *err, size_t errlen);
/* Monotonic clock in nanoseconds. */
unsigned long long now__ns(void);

#endif
