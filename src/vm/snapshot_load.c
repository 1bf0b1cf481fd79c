/* snapshot_load.c - restoring snapshot files. One pass over the section
 * headers applies every non-RAM section and only locates the RAM ones
 * (rec__defer); the page -> section map that results (the last section
 * with a page wins, as in a live snapshot's rounds) is checked against the
 * file's RAM_INDEX when it has one. Then guest RAM is read in parallel,
 * each section straight into the guest mapping with its checksum verified
 * before the VM runs; or, lazily, on demand (snapshot_lazy.c). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mem/page.h"
#include "util/fault.h"
#include "util/io.h"
#include "util/log.h"
#include "vm/snapshot.h"
#include "vm/snapshot_file.h"
#include "vm/snapshot_lazy.h"

#define RAM_SEC_MAX (sizeof(struct ram_run_hdr) + RAM_RUN_MAX_PAGES * PAGE_SIZE_4K)

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return (int)done;         /* end of file */
		done += (size_t)n;
	}
	return (int)done;
}

int snap_file__read_sec(struct snap_file *f, size_t i, struct ram_run_hdr *rh, void *pages,
			char *err, size_t errlen)
{
	const struct ram_sec *s = &f->map.secs[i];
	struct rec_section_hdr h, want = { .type = REC_RAM, .version = 1, .flags = REC_F_REQUIRED,
					   .length = sizeof(*rh) + s->npages * PAGE_SIZE_4K };
	uint64_t plen = s->npages * PAGE_SIZE_4K;
	int n;

	n = pread_full(f->fd, &h, sizeof(h), s->off);
	if (n == (int)sizeof(h)) {
		struct iovec iov[2] = { { rh, sizeof(*rh) }, { pages, plen } };
		size_t done = 0, total = sizeof(*rh) + plen;
		while (done < total) {
			/* straight into pages (guest RAM for a full restore) */
			struct iovec v[2];
			int nv = 0;
			size_t skip = done;
			for (int k = 0; k < 2; k++) {
				if (skip >= iov[k].iov_len) {
					skip -= iov[k].iov_len;
					continue;
				}
				v[nv++] = (struct iovec){ (uint8_t *)iov[k].iov_base + skip, iov[k].iov_len - skip };
				skip = 0;
			}
			ssize_t got = preadv(f->fd, v, nv, (off_t)(s->off + sizeof(h) + done));
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0) {
				errbuf__set(err, errlen, "read error in section RAM at offset %llu: %s",
					   (unsigned long long)s->off, strerror(errno));
				return -1;
			}
			if (got == 0)
				break;
			done += (size_t)got;
		}
		if (done < total) {
			errbuf__set(err, errlen, "truncated: payload of section RAM at offset %llu "
				   "(%zu of %zu bytes; the file changed since it was opened?)",
				   (unsigned long long)s->off, done, total);
			return -1;
		}
	} else {
		errbuf__set(err, errlen, "%s section header at offset %llu%s%s",
			   n < 0 ? "read error in" : "truncated:", (unsigned long long)s->off,
			   n < 0 ? ": " : " (the file changed since it was opened?)", n < 0 ? strerror(-n) : "");
		return -1;
	}
	if (h.type != want.type || h.version != want.version || h.flags != want.flags ||
	    h.length != want.length || rh->gpa != s->pfn * PAGE_SIZE_4K || rh->npages != s->npages) {
		errbuf__set(err, errlen, "the RAM section at offset %llu changed since the file was opened",
			   (unsigned long long)s->off);
		return -1;
	}
	if (rec__section_sum(&want, rh, sizeof(*rh), pages, plen)) {
		errbuf__set(err, errlen, "out of memory verifying a RAM section");
		return -1;
	}
	if (want.checksum != h.checksum) {
		errbuf__set(err, errlen, "checksum mismatch in section RAM at offset %llu",
			   (unsigned long long)s->off);
		return -1;
	}
	return 0;
}

/* Whether the section at off (header h) has the right checksum; read into
 * a buffer, for messages only. */
static bool sum_ok(int fd, uint64_t off, const struct rec_section_hdr *h)
{
	struct rec_section_hdr x = *h;
	uint8_t *buf = malloc(h->length);
	bool ok = true;
	if (buf && pread_full(fd, buf, h->length, off + sizeof(x)) == (int)h->length &&
	    !rec__section_sum(&x, buf, h->length, NULL, 0))
		ok = x.checksum == h->checksum;
	free(buf);
	return ok;
}

/* A RAM section met in the header pass: checked and located, not read. */
static int locate_ram(struct snap_file *f, struct rec_reader *r, const struct rec_section_hdr *h,
		      char *err, size_t errlen)
{
	struct ram_run_hdr rh;
	uint64_t poff;
	if (h->version != 1) {
		errbuf__set(err, errlen, "RAM section version %u is not supported (this tern reads 1)", h->version);
		return -1;
	}
	if (h->length < sizeof(rh) || h->length > RAM_SEC_MAX || (h->length - sizeof(rh)) % PAGE_SIZE_4K) {
		errbuf__set(err, errlen, "RAM section of %llu bytes is malformed", (unsigned long long)h->length);
		return -1;
	}
	if (rec__defer(r, &poff)) {
		errbuf__set(err, errlen, "%s", r->err);
		return -1;
	}
	int n = pread_full(f->fd, &rh, sizeof(rh), poff);
	if (n != (int)sizeof(rh)) {
		errbuf__set(err, errlen, n < 0 ? "read error in section RAM at offset %llu"
			   : "truncated: payload of section RAM at offset %llu",
			   (unsigned long long)(poff - sizeof(struct rec_section_hdr)));
		return -1;
	}
	bool bad = rh.gpa % PAGE_SIZE_4K || rh.npages == 0 || h->length != sizeof(rh) + rh.npages * PAGE_SIZE_4K;
	if (bad || ram_map__add(&f->map, poff - sizeof(struct rec_section_hdr), rh.gpa / PAGE_SIZE_4K,
				rh.npages, err, errlen)) {
		/* a damaged byte is likelier than a forged file: say checksum if it is one */
		if (!sum_ok(f->fd, poff - sizeof(struct rec_section_hdr), h))
			errbuf__set(err, errlen, "checksum mismatch in section RAM at offset %llu",
				   (unsigned long long)(poff - sizeof(struct rec_section_hdr)));
		else if (bad)
			errbuf__set(err, errlen, "RAM section 0x%llx+%llu pages is malformed",
				   (unsigned long long)rh.gpa, (unsigned long long)rh.npages);
		return -1;
	}
	return 0;
}

/* ---- the parallel full restore ------------------------------------------ */

struct loader {
	struct snap_file *f;
	struct vm *vm;
	bool prealloc;
	_Atomic uint64_t alloc_ns;        /* summed over the readers */
	_Atomic size_t next;
	_Atomic bool failed;
	pthread_mutex_t lock;
	char err[1024];
};

static void *load_worker(void *arg)
{
	struct loader *ld = arg;
	struct snap_file *f = ld->f;
	uint8_t *buf = NULL;
	char err[1024];
	size_t i;

	while (!atomic_load(&ld->failed) && (i = atomic_fetch_add(&ld->next, 1)) < f->map.nsecs) {
		const struct ram_sec *s = &f->map.secs[i];
		uint8_t *dst = ld->vm->ram.hva + s->pfn * PAGE_SIZE_4K;
		struct ram_run_hdr rh;
		if (!s->wins)
			continue;             /* every page of it is in a later section */
		if (ld->prealloc) {
			/* Allocate the memfd pages (fallocate) and map them
			 * (MADV_POPULATE_WRITE) in bulk, so the read takes no
			 * page fault per page. On this kind of host that is
			 * most of a restore's time, so each reader does it for
			 * its own sections, in parallel. */
			uint64_t t = now__ns();
			off_t off = (off_t)(s->pfn * PAGE_SIZE_4K), len = (off_t)(s->npages * PAGE_SIZE_4K);
			if (fallocate(ld->vm->ram.fd, 0, off, len) < 0) {
				errbuf__set(err, sizeof(err), "cannot allocate %llu bytes of guest RAM: %s",
					   (unsigned long long)len, strerror(errno));
				goto fail;
			}
#ifdef MADV_POPULATE_WRITE
			/* older kernels lack it: the read then faults the pages in */
			(void)madvise(dst, (size_t)len, MADV_POPULATE_WRITE);
#endif
			atomic_fetch_add(&ld->alloc_ns, now__ns() - t);
		}
		if (s->wins == s->npages) {
			/* all its pages win: straight into guest RAM, verified
			 * before the VM runs */
			if (snap_file__read_sec(f, i, &rh, dst, err, sizeof(err)))
				goto fail;
			continue;
		}
		if (!buf && !(buf = malloc(RAM_SEC_MAX))) {
			errbuf__set(err, sizeof(err), "out of memory");
			goto fail;
		}
		if (snap_file__read_sec(f, i, &rh, buf, err, sizeof(err)))
			goto fail;
		for (uint64_t k = 0; k < s->npages; k++)
			if (f->map.sec[s->pfn + k] == i)
				memcpy(dst + k * PAGE_SIZE_4K, buf + k * PAGE_SIZE_4K, PAGE_SIZE_4K);
	}
	free(buf);
	return NULL;
fail:
	pthread_mutex_lock(&ld->lock);
	if (!atomic_exchange(&ld->failed, true))
		snprintf(ld->err, sizeof(ld->err), "%s", err);
	pthread_mutex_unlock(&ld->lock);
	free(buf);
	return NULL;
}

static int load_parallel(struct snap_file *f, struct vm *vm, struct snapshot_result *res,
			 char *err, size_t errlen)
{
	/* bench: without, the readers' own page faults, for comparison */
	struct loader ld = { .f = f, .vm = vm, .prealloc = !fault__arg("RESTORE_NO_PREALLOC") };
	pthread_t th[64];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int n = ncpu < 1 ? 1 : ncpu > 64 ? 64 : (int)ncpu, started = 0;
	uint64_t t0 = now__ns();

	if ((size_t)n > f->map.nsecs)
		n = f->map.nsecs ? (int)f->map.nsecs : 1;
	pthread_mutex_init(&ld.lock, NULL);
	for (int i = 1; i < n; i++) {
		if (pthread_create(&th[i], NULL, load_worker, &ld))
			break;
		started++;
	}
	load_worker(&ld);                 /* this thread is a reader too */
	for (int i = 1; i <= started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&ld.lock);
	res->read_ns = now__ns() - t0;
	res->alloc_ns = atomic_load(&ld.alloc_ns);
	res->threads = started + 1;
	if (ld.failed) {
		errbuf__set(err, errlen, "snapshot %s: %s", f->path, ld.err);
		return -1;
	}
	return 0;
}

/* ---- the header pass ---------------------------------------------------- */

static int open_file(const char *path, char *err, size_t errlen)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. A snapshot is
	 * a regular file; a FIFO or a device could stall the restore for ever. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0) {
		errbuf__set(err, errlen, "cannot open snapshot %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		errbuf__set(err, errlen, "snapshot %s is not a regular file (%s): refused", path,
			   S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISCHR(st.st_mode) ? "a character device" :
			   S_ISDIR(st.st_mode) ? "a directory" : S_ISSOCK(st.st_mode) ? "a socket" : "not a file");
		close(fd);
		return -1;
	}
	if (fcntl(fd, F_SETFL, 0) < 0) {
		errbuf__set(err, errlen, "snapshot %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int snapshot__restore(const char *path, struct vm *vm, const struct vm_config *cfg,
		      struct snapshot_lazy **lazy, struct snapshot_result *res,
		      char *err, size_t errlen)
{
	struct rec_reader r;
	struct rec_section_hdr h;
	struct vm_config vc = *cfg;
	struct vm_restore_progress pr = { 0 };
	struct snap_file *f;
	uint32_t tsc_khz;
	uint64_t t0 = now__ns();
	void *p, *index = NULL;
	size_t index_len = 0;
	int n;
	bool created = false;

	memset(res, 0, sizeof(*res));
	if (lazy)
		*lazy = NULL;
	f = calloc(1, sizeof(*f));
	if (!f) {
		errbuf__set(err, errlen, "out of memory");
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s", path);
	if ((f->fd = open_file(path, err, errlen)) < 0) {
		free(f);
		return -1;
	}
	if (rec__reader_init(&r, f->fd)) {
		errbuf__set(err, errlen, "snapshot %s: %s", path, r.err);
		goto fail;
	}
	n = rec__next(&r, &h);
	if (n != 1 || h.type != REC_VM_CONFIG) {
		errbuf__set(err, errlen, "snapshot %s: %s", path,
			   n < 0 ? r.err : "does not start with a VM_CONFIG record");
		goto fail;
	}
	p = malloc(h.length ? h.length : 1);
	if (!p || rec__read_payload(&r, p, h.length)) {
		errbuf__set(err, errlen, "snapshot %s: %s", path, p ? r.err : "out of memory");
		free(p);
		goto fail;
	}
	n = vm__config_from_record(h.version, p, h.length, &vc, &tsc_khz, err, errlen);
	free(p);
	if (n)
		goto fail;
	if (ram_map__init(&f->map, vc.mem / PAGE_SIZE_4K)) {
		errbuf__set(err, errlen, "snapshot %s: out of memory for its page map", path);
		goto fail;
	}
	vc.serial_fd = cfg->serial_fd;
	created = true;
	if (vm__create(vm, &vc, err, errlen))
		goto fail;
	if (tsc_khz && vm->tsc_khz && tsc_khz != vm->tsc_khz)
		log__info("note: snapshot was taken with a %u kHz TSC, this host's is %u kHz",
			 tsc_khz, vm->tsc_khz);

	while ((n = rec__next(&r, &h)) == 1) {
		char why[512];
		if (h.type == REC_VM_CONFIG) {
			errbuf__set(err, errlen, "snapshot %s: a second VM_CONFIG record", path);
			goto fail;
		}
		if (h.type == REC_RAM) {
			if (locate_ram(f, &r, &h, why, sizeof(why))) {
				errbuf__set(err, errlen, "snapshot %s: %s", path, why);
				goto fail;
			}
			continue;
		}
		if (h.type == REC_RAM_INDEX) {
			if (index || h.version != RAM_INDEX_VERSION) {
				errbuf__set(err, errlen, "snapshot %s: %s", path, index ? "two RAM_INDEX sections"
					   : "RAM_INDEX version is not supported (this tern reads 1)");
				goto fail;
			}
			index = malloc(h.length ? h.length : 1);
			index_len = h.length;
			if (!index || rec__read_payload(&r, index, h.length)) {
				errbuf__set(err, errlen, "snapshot %s: %s", path, index ? r.err : "out of memory");
				goto fail;
			}
			continue;
		}
		if (vm__load_section(vm, &r, &h, &pr, why, sizeof(why))) {
			errbuf__set(err, errlen, "snapshot %s: %s", path, why);
			goto fail;
		}
	}
	if (n < 0) {
		errbuf__set(err, errlen, "snapshot %s: %s", path, r.err);
		goto fail;
	}
	{
		char why[512];
		if (vm__restore_complete(vm, &pr, why, sizeof(why)) ||
		    (index && ram_map__index_check(&f->map, index, index_len, why, sizeof(why)))) {
			errbuf__set(err, errlen, "snapshot %s: %s", path, why);
			goto fail;
		}
	}
	free(index);
	index = NULL;
	res->ram_pages = ram_map__finish(&f->map);
	res->bytes = r.offset;
	if (lazy) {
		/* the file is now the loader's */
		if (!(*lazy = snapshot_lazy__new(f, vm, err, errlen)))
			goto fail;
		res->ns = now__ns() - t0;
		return 0;
	}
	if (load_parallel(f, vm, res, err, errlen))
		goto fail;
	ram_map__free(&f->map);
	close(f->fd);
	free(f);
	res->ns = now__ns() - t0;
	return 0;
fail:
	free(index);
	ram_map__free(&f->map);
	close(f->fd);
	free(f);
	if (created)
		vm__destroy(vm);
	return -1;
}
