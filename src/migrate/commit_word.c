/* commit_word.c - a shared page holding one atomic word. */
#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migrate/commit_word.h"

int commit_word__create(struct commit_word *c)
{
	c->word = NULL;
	c->fd = memfd_create("tern-commit-word", MFD_CLOEXEC);
	if (c->fd < 0)
		return -errno;
	if (ftruncate(c->fd, 4096) < 0) {
		int e = errno;
		close(c->fd);
		c->fd = -1;
		return -e;
	}
	int fd = c->fd;
	c->fd = -1;
	return commit_word__map(c, fd);
}

int commit_word__map(struct commit_word *c, int fd)
{
	struct stat st;
	void *p;
	c->fd = fd;
	c->word = NULL;
	if (fstat(fd, &st) < 0 || st.st_size < 4096)
		return -EINVAL;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	c->word = p;
	return 0;
}

void commit_word__close(struct commit_word *c)
{
	if (c->word)
		munmap(c->word, 4096);
	if (c->fd >= 0)
		close(c->fd);
	c->word = NULL;
	c->fd = -1;
}

bool commit_word__cas(struct commit_word *c, uint32_t from, uint32_t to)
{
	return __atomic_compare_exchange_n(c->word, &from, to, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

uint32_t commit_word__get(struct commit_word *c)
{
	return __atomic_load_n(c->word, __ATOMIC_SEQ_CST);
}

void commit_word__set(struct commit_word *c, uint32_t v)
{
	__atomic_store_n(c->word, v, __ATOMIC_SEQ_CST);
}
