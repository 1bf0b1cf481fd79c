/* ram_prep.c - provision guest RAM during setup (ram_prep.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

#include "mem/ram_prep.h"
#include "util/io.h"
#include "util/log.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Small enough that a stop is seen within a few ms, large enough that
 * the call's overhead is lost in the allocation. Threads take chunks in
 * turn: two threads allocating in one memfd still gain (measured 2.2–2.4
 * GB/s against 1.5–1.7 for one), the write of one overlapping the other's
 * page allocation. */
#define PREP_CHUNK (2ULL << 20)

static void *prep_main(void *arg)
{
	struct ram_prep *p = arg;
	for (;;) {
		if (__atomic_load_n(&p->stop, __ATOMIC_RELAXED))
			break;
		uint64_t off = __atomic_fetch_add(&p->next, PREP_CHUNK, __ATOMIC_RELAXED);
		if (off >= p->size)
			break;
		uint64_t len = p->size - off < PREP_CHUNK ? p->size - off : PREP_CHUNK;
		int r = __atomic_load_n(&p->use_fallocate, __ATOMIC_RELAXED) ? -1 :
			madvise(p->base + off, len, MADV_POPULATE_WRITE);
		if (r < 0 && errno == EINVAL) {
			/* a kernel before 5.14: allocated, not mapped (the
			 * first touch of each page still faults, cheaply) */
			__atomic_store_n(&p->use_fallocate, true, __ATOMIC_RELAXED);
			r = 0;
		}
		if (__atomic_load_n(&p->use_fallocate, __ATOMIC_RELAXED))
			r = fallocate(p->fd, 0, (off_t)off, (off_t)len);
		if (r < 0) {
			int zero = 0;
			__atomic_compare_exchange_n(&p->error, &zero, errno, false, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED);
			__atomic_store_n(&p->stop, true, __ATOMIC_RELAXED);
			break;
		}
		__atomic_fetch_add(&p->done, len, __ATOMIC_RELAXED);
	}
	if (__atomic_sub_fetch(&p->running, 1, __ATOMIC_ACQ_REL) == 0) {
		uint64_t end = now__ns(), done = __atomic_load_n(&p->done, __ATOMIC_RELAXED);
		if (done >= p->size)      /* the last one out says how it went */
			log__info("provisioned %llu MiB of guest RAM during setup in %.0f ms (%.2f GB/s, "
				  "%d thread%s)", (unsigned long long)(done >> 20), (double)(end - p->t0_ns) / 1e6,
				  (double)done / (double)(end - p->t0_ns), p->want, p->want == 1 ? "" : "s");
	}
	return NULL;
}

int ram_prep__start(struct ram_prep *p, uint64_t size, int nthreads, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > RAM_PREP_MAX_THREADS)
		nthreads = RAM_PREP_MAX_THREADS;
	if (guest_ram__create(&p->ram, size, err, errlen))
		return -1;
	p->base = p->ram.hva;
	p->fd = p->ram.fd;
	p->size = size;
	p->t0_ns = now__ns();
	p->running = p->want = nthreads;
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&p->th[i], NULL, prep_main, p)) {
			/* none of the rest started */
			__atomic_sub_fetch(&p->running, nthreads - i, __ATOMIC_ACQ_REL);
			p->want = i;
			if (i == 0) {
				guest_ram__destroy(&p->ram);
				errbuf__set(err, errlen, "cannot start a thread to provision guest RAM");
				return -1;
			}
			break;
		}
		pthread_setname_np(p->th[i], "tern-prep");
		p->nthreads++;
	}
	return 0;
}

void ram_prep__stop(struct ram_prep *p)
{
	__atomic_store_n(&p->stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->th[i], NULL);
	p->nthreads = 0;
}

struct guest_ram ram_prep__take(struct ram_prep *p)
{
	p->taken = true;
	return p->ram;
}

uint64_t ram_prep__progress(struct ram_prep *p, bool *finished)
{
	*finished = __atomic_load_n(&p->done, __ATOMIC_RELAXED) >= p->size ||
		    __atomic_load_n(&p->error, __ATOMIC_RELAXED) != 0;
	return __atomic_load_n(&p->done, __ATOMIC_RELAXED);
}

void ram_prep__free(struct ram_prep *p)
{
	if (!p->base)
		return;
	bool ran = p->nthreads > 0;
	ram_prep__stop(p);
	if (ran) {
		if (p->error)
			log__info("provisioning guest RAM during setup stopped after %llu MiB: %s (pages fault "
				  "in as they come)", (unsigned long long)(p->done >> 20), strerror(p->error));
		else if (p->done < p->size)
			log__info("provisioning guest RAM during setup was stopped after %llu of %llu MiB",
				  (unsigned long long)(p->done >> 20), (unsigned long long)(p->size >> 20));
	}
	if (!p->taken)
		guest_ram__destroy(&p->ram);
	p->base = NULL;
}
