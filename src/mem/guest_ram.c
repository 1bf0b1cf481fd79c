/* guest_ram.c - create or adopt the guest RAM memfd and map it. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/guest_ram.h"
#include "util/log.h"

static int map(struct guest_ram *r, char *err, size_t errlen)
{
	/* MAP_NORESERVE: a 16 GiB guest that touches 1 GiB costs 1 GiB */
	void *p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, r->fd, 0);
	if (p == MAP_FAILED) {
		errbuf__set(err, errlen, "cannot map %llu bytes of guest RAM: %s",
			   (unsigned long long)r->size, strerror(errno));
		return -1;
	}
	r->hva = p;
	return 0;
}

int guest_ram__create(struct guest_ram *r, uint64_t size, char *err, size_t errlen)
{
	r->size = size;
	r->hva = NULL;
	r->fd = memfd_create("tern-guest-ram", MFD_CLOEXEC);
	if (r->fd < 0) {
		errbuf__set(err, errlen, "memfd_create for guest RAM: %s", strerror(errno));
		return -1;
	}
	if (ftruncate(r->fd, (off_t)size) < 0) {
		errbuf__set(err, errlen, "cannot size guest RAM memfd to %llu bytes: %s",
			   (unsigned long long)size, strerror(errno));
		close(r->fd);
		r->fd = -1;
		return -1;
	}
	if (map(r, err, errlen)) {
		close(r->fd);
		r->fd = -1;
		return -1;
	}
	return 0;
}

int guest_ram__adopt(struct guest_ram *r, int fd, uint64_t size, char *err, size_t errlen)
{
	struct stat st;
	r->fd = fd;
	r->size = size;
	r->hva = NULL;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < size) {
		errbuf__set(err, errlen, "guest RAM memfd is smaller than the %llu bytes announced",
			   (unsigned long long)size);
		return -1;
	}
	return map(r, err, errlen);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

int guest_ram__next_data(const struct guest_ram *r, uint64_t off, uint64_t *start, uint64_t *end)
{
	if (off >= r->size)
		return 0;
	off_t d = lseek(r->fd, (off_t)off, SEEK_DATA);
	if (d < 0)
		return errno == ENXIO ? 0 : -errno;
	if ((uint64_t)d >= r->size)
		return 0;
	off_t h = lseek(r->fd, d, SEEK_HOLE);
	if (h < 0)
		return -errno;
	*start = (uint64_t)d;
	*end = (uint64_t)h < r->size ? (uint64_t)h : r->size;
	return 1;
}

int guest_ram__populate(const struct guest_ram *r, uint64_t off, uint64_t len)
{
	if (off > r->size || len > r->size - off)
		return -ERANGE;
	while (madvise(r->hva + off, len, MADV_POPULATE_WRITE)) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int guest_ram__view(struct guest_ram *view, const struct guest_ram *r, char *err, size_t errlen)
{
	view->fd = r->fd;
	view->size = r->size;
	view->hva = NULL;
	return map(view, err, errlen);
}

void guest_ram__unview(struct guest_ram *view)
{
	if (view->hva)
		munmap(view->hva, view->size);
	view->hva = NULL;
	view->fd = -1;
}

void guest_ram__destroy(struct guest_ram *r)
{
	if (r->hva)
		munmap(r->hva, r->size);
	if (r->fd >= 0)
		close(r->fd);
	r->hva = NULL;
	r->fd = -1;
}
