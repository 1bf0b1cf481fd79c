/* io.c - loops around read/write for short transfers and EINTR. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/io.h"
#include "util/log.h"

int write__full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int writev__full(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t got = writev(fd, iov, n > IOV_MAX ? IOV_MAX : n);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			return -EIO;      /* no progress and no error: don't spin */
		size_t left = (size_t)got;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

ssize_t read__full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

unsigned long long now__ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

int file__slurp(const char *path, size_t max, void **buf, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		errbuf__set(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		errbuf__set(err, errlen, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size > max) {
		errbuf__set(err, errlen, "%s is too large (%lld bytes, limit %zu)", path,
			   (long long)st.st_size, max);
		close(fd);
		return -1;
	}
	*buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!*buf) {
		close(fd);
		errbuf__set(err, errlen, "out of memory reading %s", path);
		return -1;
	}
	n = read__full(fd, *buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(*buf);
		errbuf__set(err, errlen, "cannot read %s", path);
		return -1;
	}
	*len = (size_t)n;
	return 0;
}
