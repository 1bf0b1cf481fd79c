/* snapshot.c - snapshot files: VM_CONFIG first (so a reader can build the
 * machine), then page status, devices, vCPUs, sparse RAM, END. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/io.h"
#include "util/log.h"
#include "vm/snapshot.h"

int snapshot__save(struct vm *vm, const char *path, struct snapshot_result *res,
		   char *err, size_t errlen)
{
	char tmp[4096];
	struct rec_writer w;
	struct ram_save_stats st;
	uint64_t t0 = now__ns();
	int fd, r;

	memset(res, 0, sizeof(*res));
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
		errbuf__set(err, errlen, "snapshot path is too long");
		return -1;
	}
	/* An unpredictable name created with O_EXCL (mkostemp): never follows
	 * a symlink planted at the temporary name, never overwrites a file
	 * that is there. rename() then replaces PATH itself, not what a
	 * symlink at PATH points to. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		errbuf__set(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	r = rec__writer_init(&w, fd);
	if (!r)
		r = vm__save_config(vm, &w);
	if (r) {
		errbuf__set(err, errlen, "writing %s: %s", tmp, strerror(-r));
		goto fail;
	}
	if (vm__save_state(vm, &w, err, errlen) || vm__save_ram(vm, &w, &st, err, errlen))
		goto fail;
	r = rec__writer_finish(&w);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (r) {
		errbuf__set(err, errlen, "writing %s: %s", tmp, strerror(-r));
		goto fail;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		errbuf__set(err, errlen, "cannot move the snapshot into place at %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	res->bytes = w.bytes_out;
	res->ram_pages = st.pages_written;
	res->zero_pages = st.zero_pages;
	res->ns = now__ns() - t0;
	return 0;
fail:
	close(fd);
	unlink(tmp);
	return -1;
}

int snapshot__restore(const char *path, struct vm *vm, const struct vm_config *cfg,
		      struct snapshot_result *res, char *err, size_t errlen)
{
	struct rec_reader r;
	struct rec_section_hdr h;
	struct vm_config vc = *cfg;
	struct vm_restore_progress pr = { 0 };
	uint32_t tsc_khz;
	uint64_t t0 = now__ns();
	void *p;
	int fd, n;
	bool created = false;

	memset(res, 0, sizeof(*res));
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. A snapshot is
	 * a regular file; a FIFO or a device could stall the restore for ever
	 * (and a restore reads its file twice: layout, then pages). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		errbuf__set(err, errlen, "cannot open snapshot %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
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
	if (rec__reader_init(&r, fd)) {
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
	vc.serial_fd = cfg->serial_fd;
	if (vm__create(vm, &vc, err, errlen)) {
		created = true;
		goto fail;
	}
	created = true;
	if (tsc_khz && vm->tsc_khz && tsc_khz != vm->tsc_khz)
		log__info("note: snapshot was taken with a %u kHz TSC, this host's is %u kHz",
			 tsc_khz, vm->tsc_khz);

	while ((n = rec__next(&r, &h)) == 1) {
		char why[512];
		if (h.type == REC_VM_CONFIG) {
			errbuf__set(err, errlen, "snapshot %s: a second VM_CONFIG record", path);
			goto fail;
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
		if (vm__restore_complete(vm, &pr, why, sizeof(why))) {
			errbuf__set(err, errlen, "snapshot %s: %s", path, why);
			goto fail;
		}
	}
	res->bytes = r.offset;
	res->ram_pages = pr.ram_pages;
	res->ns = now__ns() - t0;
	close(fd);
	return 0;
fail:
	close(fd);
	if (created)
		vm__destroy(vm);
	return -1;
}
