/* snapshot.c - writing snapshot files: VM_CONFIG first (so a reader can
 * build the machine), then RAM, page status, devices, vCPUs, the RAM
 * index, END. A paused snapshot writes RAM once; a live one in rounds
 * while the guest runs, the last round paused (docs/state-format.md,
 * "Order in a snapshot file"). Restoring is snapshot_load.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/page.h"
#include "util/io.h"
#include "util/log.h"
#include "vm/snapshot.h"
#include "vm/snapshot_ram.h"

/* An unpredictable name created with O_EXCL (mkostemp): never follows a
 * symlink planted at the temporary name, never overwrites a file that is
 * there. rename() then replaces PATH itself, not what a symlink at PATH
 * points to. */
static int open_tmp(const char *path, char *tmp, size_t tmplen, char *err, size_t errlen)
{
	if (snprintf(tmp, tmplen, "%s.tmp.XXXXXX", path) >= (int)tmplen) {
		errbuf__set(err, errlen, "snapshot path is too long");
		return -1;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		errbuf__set(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
	return fd;
}

/* State, index, END; then make the file durable and put it in place. */
static int finish_file(struct vm *vm, struct rec_writer *w, struct snap_ram *sr, bool state_written,
		       char *err, size_t errlen)
{
	int r;
	if (!state_written && vm__save_state(vm, w, err, errlen))
		return -1;
	if (snap_ram__write_index(sr, err, errlen))
		return -1;
	r = rec__writer_finish(w);
	if (r) {
		errbuf__set(err, errlen, "writing the snapshot: %s", strerror(-r));
		return -1;
	}
	return 0;
}

static int put_in_place(int fd, const char *tmp, const char *path, char *err, size_t errlen)
{
	if (fsync(fd) < 0) {
		errbuf__set(err, errlen, "writing %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		errbuf__set(err, errlen, "cannot move the snapshot into place at %s: %s", path, strerror(errno));
		return -2;                /* fd is closed */
	}
	return 0;
}

/* The file into place (put_in_place's result), then what it holds into
 * res: the same for a stopped and a live snapshot. */
static int place_and_count(int fd, const char *tmp, const char *path, const struct rec_writer *w,
			   const struct snap_ram *sr, struct snapshot_result *res, uint64_t t0,
			   char *err, size_t errlen)
{
	int r = put_in_place(fd, tmp, path, err, errlen);
	if (r)
		return r;
	res->bytes = w->bytes_out;
	res->ram_pages = sr->pages_written;
	res->zero_pages = sr->zero_pages;
	res->ns = now__ns() - t0;
	return 0;
}

int snapshot__save(struct vm *vm, const char *path, struct snapshot_result *res,
		   char *err, size_t errlen)
{
	char tmp[4096];
	struct rec_writer w;
	struct snap_ram sr;
	uint64_t t0 = now__ns();
	int fd, r;

	memset(res, 0, sizeof(*res));
	if ((fd = open_tmp(path, tmp, sizeof(tmp), err, errlen)) < 0)
		return -1;
	if (snap_ram__init(&sr, vm, &w, err, errlen)) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	r = rec__writer_init(&w, fd);
	if (!r)
		r = vm__save_config(vm, &w);
	if (r) {
		errbuf__set(err, errlen, "writing %s: %s", tmp, strerror(-r));
		goto fail;
	}
	if (vm__save_state(vm, &w, err, errlen) || snap_ram__write(&sr, NULL, false, err, errlen) ||
	    finish_file(vm, &w, &sr, true, err, errlen))
		goto fail;
	r = place_and_count(fd, tmp, path, &w, &sr, res, t0, err, errlen);
	if (r == -2)
		goto gone;
	if (r)
		goto fail;
	res->rounds = 1;
	snap_ram__free(&sr);
	return 0;
fail:
	close(fd);
gone:
	unlink(tmp);
	snap_ram__free(&sr);
	return -1;
}

int snapshot__save_live(struct vm *vm, const char *path, const struct snapshot_live_opts *o,
			struct snapshot_progress *pg, struct snapshot_result *res,
			char *err, size_t errlen)
{
	const uint64_t budget = o && o->downtime_ns ? o->downtime_ns : SNAPSHOT_LIVE_DOWNTIME_NS;
	const int max_rounds = o && o->max_rounds ? o->max_rounds : SNAPSHOT_LIVE_MAX_ROUNDS;
	char tmp[4096];
	struct rec_writer w;
	struct snap_ram sr;
	struct dirty_tracker t;
	struct page_bitmap bm = { 0 };
	bool tracking = false, paused = false;
	uint64_t t0 = now__ns();
	int fd, r;

	memset(res, 0, sizeof(*res));
	if ((fd = open_tmp(path, tmp, sizeof(tmp), err, errlen)) < 0)
		return -1;
	if (snap_ram__init(&sr, vm, &w, err, errlen)) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	memset(&t, 0, sizeof(t));
	if (bitmap__init(&bm, sr.map.npages)) {
		errbuf__set(err, errlen, "out of memory for the dirty bitmap");
		goto fail;
	}
	r = rec__writer_init(&w, fd);
	if (!r)
		r = vm__save_config(vm, &w);
	if (r) {
		errbuf__set(err, errlen, "writing %s: %s", tmp, strerror(-r));
		goto fail;
	}
	/* a VM created with dirty rings can only be tracked with them */
	if (vm__dirty_start(vm, &t, vm->dirty_ring ? DIRTY_RING : DIRTY_LOG_CLEAR, err, errlen))
		goto fail;
	tracking = true;

	/* Rounds while the guest runs. The first sync reports every page (the
	 * tracker starts all dirty); snap_ram__write skips holes and zeros. */
	uint64_t rate = 0;                /* bytes/s of the previous round */
	for (int round = 1;; round++) {
		int64_t n;
		bitmap__clear_all(&bm);
		if ((n = dirty__sync(&t, &bm)) < 0) {
			errbuf__set(err, errlen, "dirty tracking failed: %s", strerror((int)-n));
			goto fail;
		}
		if (pg)
			atomic_store(&pg->dirty_pages, (uint64_t)n);
		/* small enough to write in the pause budget: pause for it */
		if (round > 1 && (round > max_rounds ||
				  (rate && (uint64_t)n * PAGE_SIZE_4K * 1000000000ull / rate <= budget)))
			break;
		uint64_t before = sr.pages_written, rt = now__ns();
		if (pg)
			atomic_store(&pg->round, round);
		if (snap_ram__write(&sr, &bm, true, err, errlen))
			goto fail;
		uint64_t bytes = (sr.pages_written - before) * PAGE_SIZE_4K, dt = now__ns() - rt;
		/* a round that wrote nothing (all zero) tells nothing about speed */
		if (bytes && dt)
			rate = bytes * 1000000000ull / dt;
		else if (!rate)
			rate = 1ull << 30;
		res->rounds = round;
		if (pg)
			atomic_store(&pg->pages_written, sr.pages_written);
		if (vm__stopping(vm)) {
			errbuf__set(err, errlen, "the VM stopped during the snapshot");
			goto fail;
		}
	}

	/* The last round, paused: what was dirtied since the last sync, then
	 * the state that must match it. */
	if (vm__pause(vm)) {
		errbuf__set(err, errlen, "VM stopped while pausing");
		goto fail;
	}
	paused = true;
	uint64_t before = sr.pages_written;
	int64_t n;
	if ((n = dirty__sync(&t, &bm)) < 0) {
		errbuf__set(err, errlen, "dirty tracking failed: %s", strerror((int)-n));
		goto fail;
	}
	if (pg)
		atomic_store(&pg->round, res->rounds + 1);
	if (snap_ram__write(&sr, &bm, false, err, errlen) || vm__save_state(vm, &w, err, errlen) ||
	    finish_file(vm, &w, &sr, true, err, errlen))
		goto fail;
	vm__resume(vm);
	paused = false;
	res->pause_ns = vm->last_pause_ns;
	res->last_round_pages = sr.pages_written - before;
	res->rounds++;
	dirty__stop(&t);
	tracking = false;

	/* durability and the rename are the guest's no business: it runs */
	r = place_and_count(fd, tmp, path, &w, &sr, res, t0, err, errlen);
	if (r == -2)
		goto gone;
	if (r)
		goto fail;
	if (pg)
		atomic_store(&pg->pages_written, sr.pages_written);
	bitmap__free(&bm);
	snap_ram__free(&sr);
	return 0;
fail:
	close(fd);
gone:
	if (paused)
		vm__resume(vm);
	if (tracking)
		dirty__stop(&t);
	unlink(tmp);
	bitmap__free(&bm);
	snap_ram__free(&sr);
	return -1;
}
