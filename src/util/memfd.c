/* memfd.c - anonymous in-memory files. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/io.h"
#include "util/memfd.h"

int memfd__new(const char *name)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int memfd__take(int fd, void **buf, size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	if (end < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	*buf = malloc(end ? (size_t)end : 1);
	if (!*buf)
		return -ENOMEM;
	ssize_t n = read__full(fd, *buf, (size_t)end);
	if (n != end) {
		free(*buf);
		*buf = NULL;
		return n < 0 ? (int)n : -EIO;
	}
	*len = (size_t)end;
	return 0;
}
