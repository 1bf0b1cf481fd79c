/* uffd.c - userfaultfd mechanics (uffd.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mem/uffd.h"
#include "util/log.h"

#define PG 4096ull

static int open_fd(void)
{
	/* Not UFFD_USER_MODE_ONLY: KVM touches guest RAM from the kernel and
	 * those faults must reach us too. */
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0 || (errno != EPERM && errno != ENOSYS))
		return fd;
#ifdef USERFAULTFD_IOC_NEW
	int saved = errno, dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		errno = saved;
		return -1;
	}
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	saved = errno;
	close(dev);
	errno = saved;
#endif
	return fd;
}

int uffd__open(struct uffd *u, void *base, uint64_t len, enum uffd_mode mode, char *err, size_t errlen)
{
	bool minor = mode == UFFD_MISSING_MINOR;
	/* minor faults on shmem must be asked for in the handshake */
	struct uffdio_api api = { .api = UFFD_API, .features = minor ? UFFD_FEATURE_MINOR_SHMEM : 0 };
	struct uffdio_register reg = {
		.range = { .start = (uint64_t)(uintptr_t)base, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING | (minor ? UFFDIO_REGISTER_MODE_MINOR : 0),
	};

	memset(u, 0, sizeof(*u));
	u->fd = -1;
	if ((uintptr_t)base % PG || len % PG || !len) {
		errbuf__set(err, errlen, "userfaultfd: range %p+%llu is not page aligned", base,
			   (unsigned long long)len);
		return -1;
	}
	if ((u->fd = open_fd()) < 0) {
		errbuf__set(err, errlen, "cannot open a userfaultfd: %s%s", strerror(errno),
			   errno == EPERM ? " (needs CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1 or "
			   "access to /dev/userfaultfd)" : "");
		return -1;
	}
	if (ioctl(u->fd, UFFDIO_API, &api) < 0) {
		errbuf__set(err, errlen, "userfaultfd: UFFDIO_API: %s%s", strerror(errno),
			   minor ? " (this kernel has no minor faults on shmem: 5.14 or later is needed)" : "");
		goto fail;
	}
	u->features = api.features;
	if (ioctl(u->fd, UFFDIO_REGISTER, &reg) < 0) {
		errbuf__set(err, errlen, "userfaultfd: cannot register %llu bytes for %s faults: %s",
			   (unsigned long long)len, minor ? "missing and minor" : "missing-page", strerror(errno));
		goto fail;
	}
	if (!(reg.ioctls & (1ull << _UFFDIO_COPY)) || !(reg.ioctls & (1ull << _UFFDIO_ZEROPAGE))) {
		errbuf__set(err, errlen, "userfaultfd: this memory offers no UFFDIO_COPY/ZEROPAGE");
		goto fail;
	}
	if (minor && !(reg.ioctls & (1ull << _UFFDIO_CONTINUE))) {
		errbuf__set(err, errlen, "userfaultfd: this memory offers no UFFDIO_CONTINUE");
		goto fail;
	}
	u->base = base;
	u->len = len;
	return 0;
fail:
	close(u->fd);
	u->fd = -1;
	return -1;
}

int uffd__next_fault(struct uffd *u, int stopfd, int timeout_ms, uint64_t *addr)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = u->fd, .events = POLLIN }, { .fd = stopfd, .events = POLLIN } };
		int n = poll(p, stopfd >= 0 ? 2 : 1, timeout_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ETIMEDOUT;
		if (stopfd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			return 0;
		if (!(p[0].revents & POLLIN))
			continue;
		struct uffd_msg m;
		ssize_t got = read(u->fd, &m, sizeof(m));
		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;     /* another reader took it, or a wake */
			return -errno;
		}
		if (got != (ssize_t)sizeof(m))
			return -EIO;
		if (m.event != UFFD_EVENT_PAGEFAULT)
			continue;         /* no other events were asked for */
		*addr = m.arg.pagefault.address & ~(PG - 1);
		return 1;
	}
}

/* UFFDIO_COPY / ZEROPAGE over a range, page by page past pages already in
 * place (EEXIST), retrying when the mapping is changing (EAGAIN). */
static int fill(struct uffd *u, uint8_t *dst, const uint8_t *src, uint64_t len)
{
	uint64_t done = 0;
	while (done < len) {
		int64_t res;
		int r;
		if (src) {
			struct uffdio_copy c = { .dst = (uint64_t)(uintptr_t)(dst + done),
						 .src = (uint64_t)(uintptr_t)(src + done), .len = len - done };
			r = ioctl(u->fd, UFFDIO_COPY, &c);
			res = c.copy;
		} else {
			struct uffdio_zeropage z = { .range = { (uint64_t)(uintptr_t)(dst + done), len - done } };
			r = ioctl(u->fd, UFFDIO_ZEROPAGE, &z);
			res = z.zeropage;
		}
		if (r == 0) {
			done = len;
			break;
		}
		int e = errno;
		if (res > 0)
			done += (uint64_t)res;    /* part went in before the error */
		if (e == EEXIST) {
			/* the page at done is there: skip it, wake its waiters */
			uffd__wake(u, dst + done, PG);
			done += PG;
		} else if (e != EAGAIN && res <= 0) {
			return -e;
		}
	}
	return 0;
}

int uffd__copy(struct uffd *u, void *dst, const void *src, uint64_t len)
{
	return fill(u, dst, src, len);
}

int uffd__zero(struct uffd *u, void *dst, uint64_t len)
{
	return fill(u, dst, NULL, len);
}

int uffd__continue(struct uffd *u, void *dst, uint64_t len)
{
	uint64_t done = 0;
	while (done < len) {
		struct uffdio_continue c = { .range = { (uint64_t)(uintptr_t)((uint8_t *)dst + done), len - done } };
		if (ioctl(u->fd, UFFDIO_CONTINUE, &c) == 0)
			break;
		int e = errno;
		if (c.mapped > 0)
			done += (uint64_t)c.mapped;
		if (e == EEXIST) {
			/* mapped already (a racing continue): its waiters wake */
			uffd__wake(u, (uint8_t *)dst + done, PG);
			done += PG;
		} else if (e != EAGAIN && c.mapped <= 0) {
			return -e;
		}
	}
	return 0;
}

int uffd__wake(struct uffd *u, void *dst, uint64_t len)
{
	struct uffdio_range r = { (uint64_t)(uintptr_t)dst, len };
	return ioctl(u->fd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
}

int uffd__unregister(struct uffd *u)
{
	if (!u->base)
		return 0;
	struct uffdio_range r = { (uint64_t)(uintptr_t)u->base, u->len };
	if (ioctl(u->fd, UFFDIO_UNREGISTER, &r) < 0)
		return -errno;
	u->base = NULL;
	return 0;
}

void uffd__close(struct uffd *u)
{
	if (u->fd < 0)
		return;
	uffd__unregister(u);
	close(u->fd);
	u->fd = -1;
}
