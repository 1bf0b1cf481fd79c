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

void guest_ram__destroy(struct guest_ram *r)
{
	if (r->hva)
		munmap(r->hva, r->size);
	if (r->fd >= 0)
		close(r->fd);
	r->hva = NULL;
	r->fd = -1;
}
