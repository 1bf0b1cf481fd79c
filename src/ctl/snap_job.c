/* snap_job.c - the live snapshot's thread and its status (snap_job.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/snap_job.h"
#include "util/io.h"
#include "util/log.h"
#include "vm/snapshot.h"

enum snap_status { SNAP_ACTIVE = 1, SNAP_COMPLETED, SNAP_FAILED };

struct snap_job {
	pthread_mutex_t lock;
	pthread_t thread;
	bool joinable;
	enum snap_status status;          /* 0: none yet */
	struct vm *vm;
	char path[4096];
	struct snapshot_live_opts opts;
	struct snapshot_progress pg;
	struct snapshot_result res;
	uint64_t t0;
	char err[1024];
};

static void *run(void *arg)
{
	struct snap_job *j = arg;
	struct snapshot_result res;
	char err[1024];
	int r = snapshot__save_live(j->vm, j->path, &j->opts, &j->pg, &res, err, sizeof(err));
	pthread_mutex_lock(&j->lock);
	j->res = res;
	j->status = r ? SNAP_FAILED : SNAP_COMPLETED;
	if (r)
		snprintf(j->err, sizeof(j->err), "%s", err);
	pthread_mutex_unlock(&j->lock);
	if (r)
		log__err("live snapshot to %s failed, the VM keeps running: %s", j->path, err);
	else
		log__info("live snapshot to %s: %d rounds, guest paused %.1f ms", j->path, res.rounds,
			 (double)res.pause_ns / 1e6);
	return NULL;
}

int snap_job__start(struct snap_job **jp, struct vm *vm, const char *path, uint64_t downtime_ns,
		    char *err, size_t errlen)
{
	struct snap_job *j = *jp;
	if (!j) {
		if (!(j = calloc(1, sizeof(*j)))) {
			errbuf__set(err, errlen, "out of memory");
			return -1;
		}
		pthread_mutex_init(&j->lock, NULL);
		*jp = j;
	}
	if (snap_job__running(j)) {
		errbuf__set(err, errlen, "a live snapshot to %s is in progress", j->path);
		return -1;
	}
	if (j->joinable)
		pthread_join(j->thread, NULL);
	j->joinable = false;
	pthread_mutex_lock(&j->lock);
	j->vm = vm;
	snprintf(j->path, sizeof(j->path), "%s", path);
	j->opts = (struct snapshot_live_opts){ .downtime_ns = downtime_ns };
	memset(&j->pg, 0, sizeof(j->pg));
	memset(&j->res, 0, sizeof(j->res));
	j->err[0] = 0;
	j->t0 = now__ns();
	j->status = SNAP_ACTIVE;
	pthread_mutex_unlock(&j->lock);
	if (pthread_create(&j->thread, NULL, run, j)) {
		j->status = SNAP_FAILED;
		errbuf__set(err, errlen, "cannot start the snapshot thread");
		return -1;
	}
	j->joinable = true;
	return 0;
}

bool snap_job__running(struct snap_job *j)
{
	if (!j)
		return false;
	pthread_mutex_lock(&j->lock);
	bool r = j->status == SNAP_ACTIVE;
	pthread_mutex_unlock(&j->lock);
	return r;
}

json_t *snap_job__json(struct snap_job *j)
{
	static const char *const names[] = { "none", "active", "completed", "failed" };
	json_t *o = json_pack("{s:b}", "ok", 1);
	if (!j) {
		json_object_set_new(o, "status", json_string("none"));
		return o;
	}
	pthread_mutex_lock(&j->lock);
	json_object_set_new(o, "status", json_string(names[j->status]));
	json_object_set_new(o, "path", json_string(j->path));
	json_object_set_new(o, "round", json_integer(atomic_load(&j->pg.round)));
	json_object_set_new(o, "pages-written", json_integer((json_int_t)atomic_load(&j->pg.pages_written)));
	json_object_set_new(o, "dirty-pages", json_integer((json_int_t)atomic_load(&j->pg.dirty_pages)));
	if (j->status == SNAP_ACTIVE)
		json_object_set_new(o, "elapsed-ms", json_real((double)(now__ns() - j->t0) / 1e6));
	if (j->status == SNAP_COMPLETED) {
		const struct snapshot_result *r = &j->res;
		json_object_set_new(o, "bytes", json_integer((json_int_t)r->bytes));
		json_object_set_new(o, "ram-pages", json_integer((json_int_t)r->ram_pages));
		json_object_set_new(o, "zero-pages", json_integer((json_int_t)r->zero_pages));
		json_object_set_new(o, "rounds", json_integer(r->rounds));
		json_object_set_new(o, "last-round-pages", json_integer((json_int_t)r->last_round_pages));
		json_object_set_new(o, "write-ms", json_real((double)r->ns / 1e6));
		json_object_set_new(o, "paused-ms", json_real((double)r->pause_ns / 1e6));
	}
	if (j->status == SNAP_FAILED)
		json_object_set_new(o, "error", json_string(j->err));
	pthread_mutex_unlock(&j->lock);
	return o;
}

void snap_job__free(struct snap_job *j)
{
	if (!j)
		return;
	if (j->joinable)
		pthread_join(j->thread, NULL);
	pthread_mutex_destroy(&j->lock);
	free(j);
}
