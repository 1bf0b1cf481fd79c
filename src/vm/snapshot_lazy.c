/* snapshot_lazy.c - lazy restore: the guest runs at once over empty RAM
 * registered with a userfaultfd (mem/uffd.h). A fault thread serves each
 * page the guest touches from the snapshot file: it reads the page's whole
 * RAM section (the unit whose checksum can be verified) and puts its
 * winning pages in place; a background thread reads every other section
 * meanwhile. Once all are in, the range is unregistered and the guest runs
 * on plain memory. A section that cannot be read or verified stops the VM:
 * the waiting vCPU is never given a page, so it never sees zeros where the
 * snapshot has data. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/page.h"
#include "mem/uffd.h"
#include "util/fault.h"
#include "util/io.h"
#include "util/log.h"
#include "vm/snapshot_lazy.h"

#define SEC_BUF (sizeof(struct ram_run_hdr) + RAM_RUN_MAX_PAGES * PAGE_SIZE_4K)
#define LAZY_STOP_GRACE_NS (2000ull * 1000 * 1000)

struct snapshot_lazy {
	struct snap_file *f;
	struct vm *vm;
	struct uffd u;
	_Atomic uint8_t *loaded;          /* per section: its pages are in */
	int stop[2];                      /* pipe: the fault thread's exit */
	pthread_t fault_th, bg_th;
	bool started;
	_Atomic bool done, failed;
	_Atomic uint64_t failed_ns;
	uint64_t t0;
	_Atomic uint64_t faults, zero_faults, max_fault_ns;
};

struct snapshot_lazy *snapshot_lazy__new(struct snap_file *f, struct vm *vm, char *err, size_t errlen)
{
	struct snapshot_lazy *l = calloc(1, sizeof(*l));
	if (!l || !(l->loaded = calloc(f->map.nsecs ? f->map.nsecs : 1, 1))) {
		free(l);
		errbuf__set(err, errlen, "out of memory for the lazy restore");
		return NULL;
	}
	l->stop[0] = l->stop[1] = -1;
	if (pipe2(l->stop, O_CLOEXEC) < 0) {
		errbuf__set(err, errlen, "lazy restore: pipe: %s", strerror(errno));
		free((void *)l->loaded);
		free(l);
		return NULL;
	}
	if (uffd__open(&l->u, vm->ram.hva, vm->ram.size, UFFD_MISSING, err, errlen)) {
		close(l->stop[0]);
		close(l->stop[1]);
		free((void *)l->loaded);
		free(l);
		return NULL;
	}
	l->f = f;
	l->vm = vm;
	atomic_store(&vm->ram_loading, true);
	return l;
}

/* The guest cannot have this page: stop the VM, name the page and file. */
static void fail(struct snapshot_lazy *l, uint64_t pfn, const char *why)
{
	if (atomic_load(&l->failed))
		return;
	atomic_store(&l->failed_ns, now__ns());
	if (atomic_exchange(&l->failed, true))
		return;
	/* said now: the stop reason is printed only once the vCPUs are gone */
	log__err("lazy restore: guest page 0x%llx cannot be loaded from %s: %s",
		 (unsigned long long)(pfn * PAGE_SIZE_4K), l->f->path, why);
	vm__stop(l->vm, 1, "lazy restore failed: guest page 0x%llx cannot be loaded from %s",
		 (unsigned long long)(pfn * PAGE_SIZE_4K), l->f->path);
}

/* Section i's winning pages into guest RAM (once; racing loaders are
 * harmless: the second copy finds the pages there). */
static int load_sec(struct snapshot_lazy *l, size_t i, uint8_t *buf)
{
	const struct ram_sec *s = &l->f->map.secs[i];
	struct ram_run_hdr rh;
	char why[1024];
	if (atomic_load(&l->loaded[i]))
		return 0;
	if (snap_file__read_sec(l->f, i, &rh, buf, why, sizeof(why))) {
		fail(l, s->pfn, why);
		return -1;
	}
	for (uint64_t k = 0; k < s->npages;) {
		if (l->f->map.sec[s->pfn + k] != i) {
			k++;
			continue;
		}
		uint64_t e = k + 1;
		while (e < s->npages && l->f->map.sec[s->pfn + e] == i)
			e++;
		int r = uffd__copy(&l->u, l->vm->ram.hva + (s->pfn + k) * PAGE_SIZE_4K,
				   buf + k * PAGE_SIZE_4K, (e - k) * PAGE_SIZE_4K);
		if (r && !atomic_load(&l->done)) {
			snprintf(why, sizeof(why), "UFFDIO_COPY: %s", strerror(-r));
			fail(l, s->pfn + k, why);
			return -1;
		}
		k = e;
	}
	atomic_store(&l->loaded[i], 1);
	return 0;
}

static void hold(void)
{
	/* tests: time to change the file under a restore that has begun */
	const char *ms = fault__arg("LAZY_HOLD_MS");
	if (ms)
		usleep((useconds_t)strtoul(ms, NULL, 10) * 1000);
}

static void *fault_thread(void *arg)
{
	struct snapshot_lazy *l = arg;
	uint8_t *buf = malloc(SEC_BUF);
	uint64_t addr;
	int r;

	hold();
	for (;;) {
		/* once failed: wait for the VM to stop (finish() says so) */
		r = uffd__next_fault(&l->u, l->stop[0], atomic_load(&l->failed) ? 100 : -1, &addr);
		if (r == -ETIMEDOUT || (r == 1 && atomic_load(&l->failed))) {
			/* Never resolved. A vCPU that waits for the page inside
			 * KVM may not see the stop (this KVM's page-table walks
			 * retry the fault); then the process ends here, with the
			 * error already said, rather than give it a page. */
			if (now__ns() - atomic_load(&l->failed_ns) > LAZY_STOP_GRACE_NS) {
				log__err("lazy restore: a vCPU still waits for a page the snapshot cannot "
					 "give; exiting");
				_exit(1);
			}
			continue;
		}
		if (r != 1)
			break;
		uint64_t t = now__ns();
		uint8_t *hva = l->vm->ram.hva;
		if (addr < (uint64_t)(uintptr_t)hva || addr >= (uint64_t)(uintptr_t)hva + l->vm->ram.size)
			continue;
		uint64_t pfn = (addr - (uint64_t)(uintptr_t)hva) / PAGE_SIZE_4K;
		uint32_t s = l->f->map.sec[pfn];
		if (!buf) {
			fail(l, pfn, "out of memory");
			continue;
		}
		if (s == RAM_MAP_NONE) {
			/* the snapshot has no data here: zero is the content */
			if (uffd__zero(&l->u, hva + pfn * PAGE_SIZE_4K, PAGE_SIZE_4K) && !atomic_load(&l->done))
				fail(l, pfn, "UFFDIO_ZEROPAGE failed");
			atomic_fetch_add(&l->zero_faults, 1);
		} else if (load_sec(l, s, buf)) {
			continue;
		}
		/* loaded by the other thread before we got here: wake anyway */
		uffd__wake(&l->u, hva + pfn * PAGE_SIZE_4K, PAGE_SIZE_4K);
		atomic_fetch_add(&l->faults, 1);
		uint64_t dt = now__ns() - t;
		if (dt > atomic_load(&l->max_fault_ns))
			atomic_store(&l->max_fault_ns, dt);
	}
	if (r < 0)
		fail(l, 0, "reading the userfaultfd failed");
	free(buf);
	return NULL;
}

static void *bg_thread(void *arg)
{
	struct snapshot_lazy *l = arg;
	uint8_t *buf = malloc(SEC_BUF);
	struct ram_map *m = &l->f->map;

	hold();
	if (!buf) {
		fail(l, 0, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < m->nsecs && !atomic_load(&l->failed) && !vm__stopping(l->vm); i++)
		if (m->secs[i].wins && load_sec(l, i, buf))
			break;
	free(buf);
	if (atomic_load(&l->failed))
		return NULL;
	if (vm__stopping(l->vm)) {
		/* said, so that a restore cut short is not taken for a loader
		 * that hung */
		size_t in = 0;
		for (size_t i = 0; i < m->nsecs; i++)
			in += atomic_load(&l->loaded[i]) != 0;
		log__info("lazy restore of %s stopped with the VM after %.1f ms: %zu of %zu sections in place",
			  l->f->path, (double)(now__ns() - l->t0) / 1e6, in, m->nsecs);
		return NULL;
	}
	/* every page with data is in: the rest is zero, which the kernel
	 * gives without us */
	atomic_store(&l->done, true);
	int r = uffd__unregister(&l->u);
	atomic_store(&l->vm->ram_loading, false);
	if (r)
		log__err("lazy restore: unregistering guest RAM: %s", strerror(-r));
	log__info("lazy restore of %s complete: %llu pages in %.1f ms, %llu faults served "
		  "(%llu zero), slowest %.2f ms", l->f->path,
		  (unsigned long long)(m->npages), (double)(now__ns() - l->t0) / 1e6,
		  (unsigned long long)atomic_load(&l->faults), (unsigned long long)atomic_load(&l->zero_faults),
		  (double)atomic_load(&l->max_fault_ns) / 1e6);
	return NULL;
}

int snapshot_lazy__start(struct snapshot_lazy *l, char *err, size_t errlen)
{
	l->t0 = now__ns();
	if (pthread_create(&l->fault_th, NULL, fault_thread, l)) {
		errbuf__set(err, errlen, "lazy restore: cannot start the fault thread");
		return -1;
	}
	if (pthread_create(&l->bg_th, NULL, bg_thread, l)) {
		errbuf__set(err, errlen, "lazy restore: cannot start the loader thread");
		if (write(l->stop[1], "x", 1) < 0)
			log__err("lazy restore: cannot stop the fault thread");
		pthread_join(l->fault_th, NULL);
		return -1;
	}
	l->started = true;
	return 0;
}

bool snapshot_lazy__done(struct snapshot_lazy *l)
{
	return !l || atomic_load(&l->done);
}

void snapshot_lazy__finish(struct snapshot_lazy *l)
{
	if (!l)
		return;
	if (l->started) {
		pthread_join(l->bg_th, NULL);
		if (write(l->stop[1], "x", 1) < 0)
			log__err("lazy restore: cannot stop the fault thread");
		pthread_join(l->fault_th, NULL);
	}
	/* closing wakes any thread still waiting: only once no vCPU runs */
	uffd__close(&l->u);
	close(l->stop[0]);
	close(l->stop[1]);
	ram_map__free(&l->f->map);
	close(l->f->fd);
	free(l->f);
	free((void *)l->loaded);
	free(l);
}
