/* commands.c - what each control command does. One function per command,
 * a table to find them with the arguments each takes (fields.h), checked
 * before the function runs (dispatch.c); replies are {"ok":true,...} or
 * {"ok":false,"error":...}. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/snap_job.h"
#include "util/io.h"
#include "migrate/handoff.h"
#include "migrate/outcome.h"
#include "migrate/precopy.h"
#include "migrate/wire.h"
#include "mirror/mirror.h"
#include "util/log.h"
#include "util/size.h"
#include "vm/snapshot.h"
#include "vm/vm.h"

static json_t *ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static const char *state_name(struct vm *vm)
{
	bool started;
	if (vm__stopping(vm))
		return "stopping";
	pthread_mutex_lock(&vm->lock);
	started = vm->started;
	pthread_mutex_unlock(&vm->lock);
	if (!started)
		return "launching";
	return vm__paused(vm) ? "paused" : "running";
}

/* The migration helper: its mirror VM, its lanes (vCPUs) and what they did. */
static json_t *helper_json(struct mirror *m)
{
	static const char *const lane_state[] = { "starting", "idle", "busy", "dead" };
	const char *dead = mirror__dead(m);
	json_t *lanes = json_array(), *o;

	pthread_mutex_lock(&m->vm.lock);
	for (int i = 0; i < m->nlanes; i++) {
		struct mirror_lane *l = &m->lane[i];
		json_array_append_new(lanes, json_pack("{s:i, s:s, s:I, s:I, s:I}", "lane", i,
			"state", lane_state[l->state], "batches", (json_int_t)l->batches,
			"pages", (json_int_t)l->pages, "ns", (json_int_t)l->ns));
	}
	o = json_pack("{s:s, s:i, s:I, s:{s:i, s:i, s:I}, s:o, s:{s:I, s:I, s:f}}",
		      "state", dead ? "dead" : "serving",
		      "lanes-count", m->nlanes, "stream-floor", (json_int_t)m->floor,
		      "mirror-vm", "fd", m->vm.fd, "vcpus", m->vm.cfg.ncpus,
		      "exits-io", (json_int_t)__atomic_load_n(&m->vm.stats.exits_io, __ATOMIC_RELAXED),
		      "lanes", lanes,
		      "warm", "pages", (json_int_t)__atomic_load_n(&m->warm_pages, __ATOMIC_RELAXED),
		      "of", (json_int_t)m->warm_total,
		      "ms", (double)__atomic_load_n(&m->warm_ns, __ATOMIC_RELAXED) / 1e6);
	pthread_mutex_unlock(&m->vm.lock);
	if (dead)
		json_object_set_new(o, "reason", json_string(dead));
	return o;
}

static json_t *cmd_status(struct ctl_server *s, json_t *req)
{
	struct mirror *mr = ctl_server__mirror(s);
	struct vm *vm = s->vm;
	struct vm_stats *st = &vm->stats;
	(void)req;
	json_t *r = ok();
#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
	json_object_set_new(r, "state", json_string(state_name(vm)));
	json_object_set_new(r, "guest", json_string(s->guest ? s->guest : ""));
	json_object_set_new(r, "pid", json_integer(getpid()));
	json_object_set_new(r, "cpus", json_integer(vm->cfg.ncpus));
	json_object_set_new(r, "tsc-khz", json_integer(vm->tsc_khz));    /* as in CPUID 0x40000010 */
	json_object_set_new(r, "mem", json_integer((json_int_t)vm->cfg.mem));
	json_object_set_new(r, "cc", json_string(vm->cfg.cc == CC_NONE ? "none" :
						 vm->cfg.cc == CC_EMU ? "emu" : "sev"));
	if (vm->cc_open)                  /* "lost": tern-psp died or restarted (cc__lost) */
		json_object_set_new(r, "platform", json_string(cc__lost(&vm->cc) ? "lost" : "connected"));
	json_object_set_new(r, "uptime-ms", json_integer((json_int_t)((now__ns() - vm->start_ns) / 1000000)));
	pthread_mutex_lock(&vm->lock);
	json_object_set_new(r, "last-pause-us", json_integer((json_int_t)(vm->last_pause_ns / 1000)));
	json_object_set_new(r, "resets", json_integer((json_int_t)vm->resets));   /* guest resets done */
	if (s->handoff_downtime_ns)
		json_object_set_new(r, "handoff-downtime-us", json_real((double)s->handoff_downtime_ns / 1e3));
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_lock(&vm->ps.lock);
	json_object_set_new(r, "migration-control", json_integer((json_int_t)vm->ps.migctl));
	pthread_mutex_unlock(&vm->ps.lock);
	json_object_set_new(r, "shared-pages", json_integer((json_int_t)page_status__shared_pages(&vm->ps)));
	json_object_set_new(r, "serial-bytes", json_integer((json_int_t)LD(vm->serial.bytes)));
	json_object_set_new(r, "exits", json_pack("{s:I, s:I, s:I, s:I, s:I}",
		"io", (json_int_t)LD(st->exits_io), "mmio", (json_int_t)LD(st->exits_mmio),
		"hypercall", (json_int_t)LD(st->exits_hypercall), "msr", (json_int_t)LD(st->exits_msr),
		"intr", (json_int_t)LD(st->exits_intr)));
	json_object_set_new(r, "guest-calls", json_pack("{s:I, s:I, s:I, s:I}",
		"total", (json_int_t)LD(st->guest_calls),
		"map-gpa-range", (json_int_t)LD(vm->gcall.map_calls),
		"map-gpa-range-rejected", (json_int_t)LD(vm->gcall.map_rejected),
		"unknown", (json_int_t)LD(vm->gcall.unknown_calls)));
	json_object_set_new(r, "unknown-port-accesses", json_integer((json_int_t)LD(st->unknown_port)));
	if (mr)
		json_object_set_new(r, "helper", helper_json(mr));
#undef LD
	return r;
}

static json_t *cmd_pause(struct ctl_server *s, json_t *req)
{
	(void)req;
	if (vm__paused(s->vm))
		return ctl__error("VM is already paused");
	if (snap_job__running(s->snap))
		return ctl__error("a live snapshot is in progress: it pauses the VM itself for its last round");
	if (vm__pause(s->vm))
		return ctl__error("VM stopped while pausing");
	return ok();
}

static json_t *cmd_resume(struct ctl_server *s, json_t *req)
{
	bool force = json_is_true(json_object_get(req, "force"));
	char err[300];
	if (!vm__paused(s->vm))
		return ctl__error("VM is not paused");
	pthread_mutex_lock(&s->mig.lock);
	bool held = s->mig.held;
	pthread_mutex_unlock(&s->mig.lock);
	if (held && !force)
		return ctl__error("the VM is held here since its post-copy failed after the switch: the "
				  "destination may have run it. Resume only if the destination is gone for "
				  "good, with \"force\": true (tern ctl SOCK cont --force)");
	if (held)
		return migration__resume_held(&s->mig, err, sizeof(err)) ? ctl__error("%s", err) : ok();
	if (force)
		return ctl__error("\"force\" resumes a VM held by a failed post-copy; this one is not");
	vm__resume(s->vm);
	return ok();
}

static json_t *cmd_quit(struct ctl_server *s, json_t *req)
{
	(void)req;
	vm__stop(s->vm, 0, "quit requested over the control socket");
	return ok();
}

/* Why the VM's RAM cannot be saved or moved now, or NULL. */
static const char *ram_busy(struct ctl_server *s)
{
	if (atomic_load(&s->vm->ram_loading))
		return "the VM is still being restored lazily (its RAM is not all loaded yet): try again "
		       "when the restore is complete";
	if (snap_job__running(s->snap))
		return "a live snapshot is in progress (query-snapshot): try again when it has ended";
	return NULL;
}

static json_t *cmd_snapshot(struct ctl_server *s, json_t *req)
{
	const char *path = json_string_value(json_object_get(req, "path"));
	bool live = json_is_true(json_object_get(req, "live"));
	uint64_t downtime_ms = (uint64_t)json_integer_value(json_object_get(req, "downtime-ms"));
	struct snapshot_result res;
	char err[1024];
	bool was_paused;
	uint64_t t0 = now__ns(), paused_ns;
	const char *busy;
	int r;

	if (s->vm->cfg.cc_es)
		return ctl__error("an SEV-ES guest cannot be snapshotted: its vCPUs' registers are encrypted "
				  "in their VMSAs, which only the platform holds, and its private memory may "
				  "leave the host only encrypted by the platform (handoff moves both)");
	if (s->vm->cfg.cc != CC_NONE)
		return ctl__error("a confidential VM cannot be snapshotted: its private memory may leave "
				  "the host only encrypted by the platform (use migration)");
	if ((busy = ram_busy(s)))
		return ctl__error("%s", busy);
	if (downtime_ms && !live)
		return ctl__error("\"downtime-ms\" is for a live snapshot (\"live\": true)");
	was_paused = vm__paused(s->vm);
	if (live && was_paused)
		return ctl__error("the VM is paused: a live snapshot is of a running VM (resume it, or "
				  "take a plain snapshot)");
	if (live) {
		struct mig_stats ms;
		migration__stats(&s->mig, &ms);
		if (ms.status == MIG_SETUP || ms.status == MIG_ACTIVE || ms.status == MIG_DEVICE)
			return ctl__error("a migration is in progress: a live snapshot would share its dirty log");
		if (snap_job__start(&s->snap, s->vm, path, downtime_ms * 1000000ull, err, sizeof(err)))
			return ctl__error("%s", err);
		json_t *o = ok();
		json_object_set_new(o, "status", json_string("active"));
		json_object_set_new(o, "path", json_string(path));
		return o;
	}
	if (!was_paused && vm__pause(s->vm))
		return ctl__error("VM stopped while pausing");
	r = snapshot__save(s->vm, path, &res, err, sizeof(err));
	if (!was_paused)
		vm__resume(s->vm);
	paused_ns = now__ns() - t0;
	if (r)
		return ctl__error("%s", err);
	json_t *o = ok();
	json_object_set_new(o, "path", json_string(path));
	json_object_set_new(o, "bytes", json_integer((json_int_t)res.bytes));
	json_object_set_new(o, "ram-pages", json_integer((json_int_t)res.ram_pages));
	json_object_set_new(o, "zero-pages", json_integer((json_int_t)res.zero_pages));
	json_object_set_new(o, "write-ms", json_real((double)res.ns / 1e6));
	json_object_set_new(o, "paused-ms", json_real(was_paused ? 0.0 : (double)paused_ns / 1e6));
	return o;
}

static json_t *cmd_query_snapshot(struct ctl_server *s, json_t *req)
{
	(void)req;
	return snap_job__json(s->snap);
}

static json_t *cmd__handoff(struct ctl_server *s, json_t *req)
{
	const char *to = json_string_value(json_object_get(req, "to"));
	const char *x = json_string_value(json_object_get(req, "cc-transfer"));
	enum cc_transfer xfer = CC_XFER_MOVE;
	struct handoff_result res;
	char err[1024];
	int r;

	if (x && !strcmp(x, "token"))
		xfer = CC_XFER_TOKEN;
	struct mirror *mr = ctl_server__mirror(s);
	struct mig_stats ms;
	if (vm__paused(s->vm))
		return ctl__error("resume the VM before handing it off");
	if (ram_busy(s))
		return ctl__error("%s", ram_busy(s));
	/* the helper's lanes must be idle at their doorbells across the move */
	migration__stats(&s->mig, &ms);
	if (ms.status == MIG_SETUP || ms.status == MIG_ACTIVE || ms.status == MIG_DEVICE)
		return ctl__error("a migration is in progress: cancel it or let it end before a handoff");
	if (mr)                           /* idle lanes: no warm-up touches across the move */
		mirror__warm_stop(mr);
	r = handoff__send(s->vm, to, xfer, s->path, mr && !mirror__dead(mr) ? (unsigned)mr->nlanes : 0,
			  &res, err, sizeof(err));
	char werr[200];
	if (mr && r == HANDOFF_FAILED && mirror__warm_start(mr, werr, sizeof(werr)))
		log__err("migration helper: no warm-up after the failed handoff: %s", werr);
	if (r == HANDOFF_FAILED)
		return ctl__error("handoff failed, the VM keeps running here: %s", err);
	if (r == HANDOFF_LOST) {
		move__lost(s->vm, "handed off", err);
		return ctl__error("%s", err);
	}
	/* the new process owns the VM, its console line and the control path */
	serial__discard(&s->vm->serial);
	s->keep_path = true;
	move__committed(s->vm, "handed off", to, res.downtime_ns, "");
	json_t *o = ok();
	json_object_set_new(o, "to", json_string(to));
	json_object_set_new(o, "downtime-us", json_real((double)res.downtime_ns / 1e3));
	json_object_set_new(o, "prepare-ms", json_real((double)res.prepare_ns / 1e6));
	json_object_set_new(o, "state-bytes", json_integer((json_int_t)res.state_bytes));
	return o;
}

json_t *ctl__mig_json(const struct mig_stats *st)
{
	return mig__stats_json(st);
}

static json_t *cmd__migrate(struct ctl_server *s, json_t *req)
{
	const char *uri = json_string_value(json_object_get(req, "uri"));
	const char *act = json_string_value(json_object_get(req, "timeout-action"));
	const char *stats = json_string_value(json_object_get(req, "stats-file"));
	const char *path = json_string_value(json_object_get(req, "private-path"));
	struct mig_options o = { 0 };
	char err[512];

	if (strncmp(uri, "tcp:", 4) && strncmp(uri, "unix:", 5))
		return ctl__error("migrate: \"uri\" must be tcp:HOST:PORT or unix:PATH, not \"%.64s\"", uri);
	snprintf(o.uri, sizeof(o.uri), "%s", uri);
	o.resume = json_is_true(json_object_get(req, "resume"));
	/* absent: the defaults (precopy.h); the table has checked the ranges */
	o.downtime_ms = (uint64_t)json_integer_value(json_object_get(req, "downtime-ms"));
	o.max_bandwidth = (uint64_t)json_integer_value(json_object_get(req, "max-bandwidth"));
	o.timeout_s = (uint64_t)json_integer_value(json_object_get(req, "timeout"));
	o.connections = (uint32_t)json_integer_value(json_object_get(req, "connections"));
	if (act && !strcmp(act, "force"))
		o.on_timeout = MIG_TIMEOUT_FORCE;
	else if (act && !strcmp(act, "postcopy"))
		o.on_timeout = MIG_TIMEOUT_POSTCOPY;
	o.postcopy_after = (uint32_t)json_integer_value(json_object_get(req, "postcopy-after"));
	if (path)
		o.private_path = !strcmp(path, "helper") ? MIG_PRIVATE_HELPER : MIG_PRIVATE_PSP;
	if (s->vm->cfg.cc_es)
		return ctl__error("live migration of an SEV-ES guest is not supported: its vCPUs' VMSAs "
				  "cannot leave the host (KVM has no SEND_UPDATE_VMSA, and tern's helper "
				  "path does not carry them); a handoff on this host moves them");
	const char *creds = json_string_value(json_object_get(req, "tls-creds"));
	const char *host = json_string_value(json_object_get(req, "tls-hostname"));
	if (host && !creds)
		return ctl__error("migrate: \"tls-hostname\" checks the destination's TLS certificate: "
				  "it needs \"tls-creds\"");
	snprintf(o.tls_creds, sizeof(o.tls_creds), "%s", creds ? creds : "");
	snprintf(o.tls_hostname, sizeof(o.tls_hostname), "%s", host ? host : "");
	if (o.resume) {
		snprintf(s->mig.stats_file, sizeof(s->mig.stats_file), "%s", stats ? stats : "");
		if (migration__resume(&s->mig, &o, err, sizeof(err)))
			return ctl__error("%s", err);
		json_t *r = ok();
		json_object_set_new(r, "status", json_string("postcopy-active"));
		return r;
	}
	struct mig_stats now;
	migration__stats(&s->mig, &now);
	if (now.status == MIG_POSTCOPY_PAUSED)
		return ctl__error("a post-copy is paused here: the VM waits for `tern migrate --resume` "
				  "(or `cont --force`)");
	if (vm__paused(s->vm))
		return ctl__error("resume the VM before migrating it");
	if (ram_busy(s))
		return ctl__error("%s", ram_busy(s));
	snprintf(s->mig.stats_file, sizeof(s->mig.stats_file), "%s", stats ? stats : "");
	if (migration__start(&s->mig, s->vm, ctl_server__mirror(s), &o, err, sizeof(err)))
		return ctl__error("%s", err);
	json_t *r = ok();
	json_object_set_new(r, "status", json_string("setup"));
	return r;
}

static json_t *cmd_query_migrate(struct ctl_server *s, json_t *req)
{
	struct mig_stats st;
	(void)req;
	migration__stats(&s->mig, &st);
	json_t *r = ctl__mig_json(st.status == MIG_NONE && s->incoming.status ? &s->incoming : &st);
	json_object_set_new(r, "ok", json_true());
	return r;
}

static json_t *cmd_migrate_cancel(struct ctl_server *s, json_t *req)
{
	struct mig_stats st;
	(void)req;
	migration__stats(&s->mig, &st);
	if (st.status == MIG_POSTCOPY || st.status == MIG_POSTCOPY_PAUSED)
		return ctl__error("too late to cancel: the guest runs on the destination (post-copy); this "
				  "process serves the pages it still lacks until every one is there");
	if (st.status != MIG_SETUP && st.status != MIG_ACTIVE && st.status != MIG_DEVICE)
		return ctl__error("no migration in progress");
	migration__cancel(&s->mig);
	return ok();
}

static json_t *cmd_migrate_start_postcopy(struct ctl_server *s, json_t *req)
{
	char err[300];
	(void)req;
	if (migration__start_postcopy(&s->mig, err, sizeof(err)))
		return ctl__error("%s", err);
	return ok();
}

/* Before the VM arrives (`tern run --incoming`): the ctl thread only reads
 * the receive's published figures and may cancel it; the receiver runs on
 * the main thread (precopy_recv.c). */
static json_t *incoming_status(struct ctl_server *s, json_t *req)
{
	struct mig_stats st;
	int ncpus;
	uint64_t mem;
	(void)req;
	mig_incoming__read(s->arriving, &st, &ncpus, &mem);
	json_t *r = ok();
	json_object_set_new(r, "state", json_string("incoming"));
	json_object_set_new(r, "incoming", json_string(s->arriving->uri));
	json_object_set_new(r, "migration", json_string(mig__status_name(st.status)));
	json_object_set_new(r, "pid", json_integer(getpid()));
	if (ncpus) {                      /* the source's CONFIG has been taken */
		json_object_set_new(r, "cpus", json_integer(ncpus));
		json_object_set_new(r, "mem", json_integer((json_int_t)mem));
	}
	return r;
}

static json_t *incoming_query_migrate(struct ctl_server *s, json_t *req)
{
	struct mig_stats st;
	int ncpus;
	uint64_t mem;
	(void)req;
	mig_incoming__read(s->arriving, &st, &ncpus, &mem);
	json_t *r = ctl__mig_json(&st);
	json_object_set_new(r, "ok", json_true());
	return r;
}

/* migrate-cancel and quit: end the wait or receive. The process then
 * exits 1 (run.c) and the source keeps its VM. */
static json_t *incoming_cancel(struct ctl_server *s, json_t *req)
{
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	/* a literal, not the request's string: the receiver reads it later */
	const char *by = cmd && !strcmp(cmd, "quit") ? "quit" : "migrate-cancel";
	int rc = mig_incoming__cancel(s->arriving, by);
	if (rc == -1)
		return ctl__error("%s: too late, the source has committed and the VM is arriving; "
				  "ask again once it runs", by);
	if (rc)
		return ctl__error("%s: the incoming migration has already ended; this process is exiting", by);
	json_t *r = ok();
	json_object_set_new(r, "status", json_string("cancelled"));
	return r;
}

/* migrate-recover: a post-copy paused by a broken connection listens
 * for its source again (QEMU's name). */
static json_t *incoming_recover(struct ctl_server *s, json_t *req)
{
	const char *uri = json_string_value(json_object_get(req, "uri"));
	char err[300];
	if (strncmp(uri, "tcp:", 4) && strncmp(uri, "unix:", 5))
		return ctl__error("migrate-recover: \"uri\" must be tcp:HOST:PORT or unix:PATH, not \"%.64s\"", uri);
	if (mig_incoming__recover(s->arriving, uri, err, sizeof(err)))
		return ctl__error("%s", err);
	json_t *r = ok();
	json_object_set_new(r, "status", json_string("postcopy-paused"));
	return r;
}

static json_t *cmd_migrate_recover(struct ctl_server *s, json_t *req)
{
	(void)s;
	(void)req;
	return ctl__error("migrate-recover: no post-copy is paused here (the VM runs)");
}

static json_t *cmd_measurement(struct ctl_server *s, json_t *req)
{
	struct cc_measurement *m = &s->vm->cc.m;
	char mh[65], nh[33];
	(void)req;
	if (!s->vm->cc_open || !s->vm->cc.have_measurement)
		return ctl__error("no launch measurement: this is not a confidential VM (--cc emu|sev)");
	for (int i = 0; i < 32; i++)
		sprintf(mh + 2 * i, "%02x", m->measurement[i]);
	for (int i = 0; i < 16; i++)
		sprintf(nh + 2 * i, "%02x", m->mnonce[i]);
	json_t *o = ok();
	json_object_set_new(o, "measurement", json_string(mh));
	json_object_set_new(o, "mnonce", json_string(nh));
	json_object_set_new(o, "api-major", json_integer(m->api_major));
	json_object_set_new(o, "api-minor", json_integer(m->api_minor));
	json_object_set_new(o, "build", json_integer(m->build));
	json_object_set_new(o, "policy", json_integer(m->policy));
	json_object_set_new(o, "handle", json_integer(m->handle));
	return o;
}

/* Argument tables. Lengths follow where the values go: mig_options.uri
 * (256), migration.stats_file (512), a unix socket path (108), PATH_MAX. */
static const char *const transfer_modes[] = { "move", "token", NULL };
static const char *const timeout_actions[] = { "cancel", "force", "postcopy", NULL };
static const char *const private_paths[] = { "helper", "psp", NULL };

static const struct ctl_field recover_fields[] = {
	{ "uri", CTL_F_STRING, true, 1, 255, NULL, "tcp:ADDR:PORT or unix:PATH to listen on" },
	{ 0 },
};

static const struct ctl_field resume_fields[] = {
	{ "force", CTL_F_BOOL, false, 0, 0, NULL, "resume a VM held after its post-copy failed" },
	{ 0 },
};

static const struct ctl_field snapshot_fields[] = {
	{ "path", CTL_F_PATH, true, 1, 4095, NULL, "an absolute path for the snapshot file" },
	{ "live", CTL_F_BOOL, false, 0, 0, NULL, NULL },
	{ "downtime-ms", CTL_F_INT, false, 1, 3600000, NULL, NULL },
	{ 0 },
};

static const struct ctl_field handoff_fields[] = {
	{ "to", CTL_F_PATH, true, 1, 107, NULL, "the socket of a `tern run --takeover` process" },
	{ "cc-transfer", CTL_F_STRING, false, 0, 0, transfer_modes, NULL },
	{ 0 },
};

static const struct ctl_field migrate_fields[] = {
	{ "uri", CTL_F_STRING, true, 1, 255, NULL, "tcp:HOST:PORT or unix:PATH" },
	/* up to an hour of pause, a week of trying; both far beyond any
	 * sensible value, and small enough not to overflow in nanoseconds */
	{ "downtime-ms", CTL_F_INT, false, 1, 3600000, NULL, NULL },
	{ "max-bandwidth", CTL_F_INT, false, 1, 1LL << 40, NULL, NULL },
	{ "timeout", CTL_F_INT, false, 1, 604800, NULL, NULL },
	{ "timeout-action", CTL_F_STRING, false, 0, 0, timeout_actions, NULL },
	{ "stats-file", CTL_F_PATH, false, 1, 511, NULL, NULL },
	{ "private-path", CTL_F_STRING, false, 0, 0, private_paths, NULL },
	/* mig_options.tls_creds and .tls_hostname (256) */
	{ "tls-creds", CTL_F_PATH, false, 1, 255, NULL, NULL },
	{ "tls-hostname", CTL_F_STRING, false, 1, 255, NULL, NULL },
	{ "connections", CTL_F_INT, false, 1, WIRE_MAX_DATA_CONNS, NULL, "data connections (default: one per core)" },
	{ "postcopy-after", CTL_F_INT, false, 1, 1000, NULL,
	  "switch to post-copy after this many rounds (1: after the first full round)" },
	{ "resume", CTL_F_BOOL, false, 0, 0, NULL,
	  "continue a post-copy paused by a broken connection, to \"uri\" (after migrate-recover there)" },
	{ 0 },
};

const struct ctl_command ctl__commands[] = {
	/* status, quit, query-migrate and migrate-cancel also answer before the
	 * VM arrives (--incoming); the others need it */
	{ "status",   cmd_status,   NULL, "state, configuration and counters", incoming_status },
	{ "pause",    cmd_pause,    NULL, "stop all vCPUs", NULL },
	{ "resume",   cmd_resume,   resume_fields, "let paused vCPUs run again", NULL },
	{ "cont",     cmd_resume,   resume_fields, "resume, as QEMU names it (with \"force\": a VM held "
	  "after its post-copy failed)", NULL },
	{ "quit",     cmd_quit,     NULL, "stop the VM and exit tern run with status 0", incoming_cancel },
	{ "snapshot", cmd_snapshot, snapshot_fields, "write the VM to {\"path\"} (pauses while writing; "
	  "with \"live\": true the guest runs, returns at once)", NULL },
	{ "query-snapshot", cmd_query_snapshot, NULL, "progress and result of the last live snapshot", NULL },
	{ "measurement", cmd_measurement, NULL, "a confidential VM's launch measurement", NULL },
	{ "handoff",  cmd__handoff,  handoff_fields, "hand the VM to the process waiting at {\"to\"}", NULL },
	{ "migrate",  cmd__migrate,  migrate_fields, "start a live migration to {\"uri\"} (returns at once)", NULL },
	{ "query-migrate", cmd_query_migrate, NULL, "progress and statistics of the migration",
	  incoming_query_migrate },
	{ "migrate-cancel", cmd_migrate_cancel, NULL, "stop the migration; the VM keeps running here",
	  incoming_cancel },
	{ "migrate-start-postcopy", cmd_migrate_start_postcopy, NULL, "switch the running migration to "
	  "post-copy at the end of its round", NULL },
	{ "migrate-recover", cmd_migrate_recover, recover_fields, "destination of a post-copy paused by a "
	  "broken connection: wait for the source at {\"uri\"} (then tern migrate --resume there)",
	  incoming_recover },
	{ 0 },
};
