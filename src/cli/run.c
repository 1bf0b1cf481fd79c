/* run.c - `tern run`: boot a guest (or restore a snapshot), serve the
 * control socket, and wait until the VM stops. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "boot/elf.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "ctl/ctl.h"
#include "mem/ram_prep.h"
#include "migrate/handoff.h"
#include "migrate/precopy.h"
#include "migrate/tls.h"
#include "migrate/transport.h"
#include "mirror/mirror.h"
#include "helper/mailbox.h"           /* the helper key slot's GPA */
#include "util/cancel.h"
#include "util/log.h"
#include "util/size.h"
#include "vm/snapshot.h"
#include "vm/vm.h"
#include "boot/multiboot.h"
#include <stdlib.h>

/* The guest owner's launch inputs, as `tern owner session` wrote them. */
static int load_owner_session(const char *dir, struct run_opts *o, struct cc_launch *l,
			      void **session, void **pub, char *err, size_t errlen)
{
	char path[4096];
	size_t len;
	void *pol;
	snprintf(path, sizeof(path), "%s/session.bin", dir);
	if (file__slurp(path, 4096, session, &len, err, errlen))
		return -1;
	if (len != CC_SESSION_LEN) {
		errbuf__set(err, errlen, "%s is %zu bytes, a session blob is %d", path, len, CC_SESSION_LEN);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/owner.pub.pem", dir);
	if (file__slurp(path, 1 << 16, pub, &l->owner_pub_len, err, errlen))
		return -1;
	l->session = *session;
	l->owner_pub = *pub;
	snprintf(path, sizeof(path), "%s/policy", dir);
	if (!o->cc_policy_set) {
		if (file__slurp(path, 64, &pol, &len, err, errlen))
			return -1;
		char txt[65] = { 0 };
		memcpy(txt, pol, len < 64 ? len : 64);
		free(pol);
		l->policy = (uint32_t)strtoul(txt, NULL, 0);
	}
	return 0;
}

/* Wait for a packet file from the owner to appear, then inject it with
 * inject (vm__cc_secret, vm__cc_helper_key); what names it in messages. */
static int wait_packet(struct vm *vm, const char *file, unsigned timeout, const char *what,
		       int (*inject)(struct vm *, const char *, char *, size_t), char *err, size_t errlen)
{
	for (unsigned i = 0; i < timeout * 10; i++) {
		if (access(file, R_OK) == 0) {
			struct timespec ts = { 0, 50 * 1000 * 1000 };
			nanosleep(&ts, NULL); /* let a writer that just created it finish */
			return inject(vm, file, err, errlen);
		}
		if (vm__stopping(vm)) {
			errbuf__set(err, errlen, "stopped while waiting for the owner's %s", what);
			return -1;
		}
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	errbuf__set(err, errlen, "the owner's %s packet %s did not appear within %u s", what, file, timeout);
	return -1;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* MemAvailable: what an arriving VM may use without pushing the host into
 * reclaim; the physical size if /proc/meminfo cannot say. */
static uint64_t host_available_memory(void)
{
	char line[128];
	unsigned long long kib;
	FILE *f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
			fclose(f);
			return (uint64_t)kib << 10;
		}
	}
	if (f)
		fclose(f);
	return (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* What every start mode shares: the options, the console, the control
 * socket, the signals this thread waits for, and the VM. */
/* The helper's first touch of each guest page, now, in the background,
 * not in the migration that will need it (mirror.h). A failure only costs
 * speed later. */
static void warm_helper(struct mirror *m)
{
	char err[200];
	if (getenv("XX_NOWARM")) return;
	if (mirror__warm_start(m, err, sizeof(err)))
		log__err("migration helper: no warm-up: %s", err);
}

struct run {
	struct run_opts   o;
	int               serial_fd;
	struct ctl_server ctl;
	bool              have_ctl;
	sigset_t          sigs;               /* SIGINT, SIGTERM, SIGHUP: blocked, waited for */
	struct vm_config  cfg;
	struct vm        *vm;
	struct mirror     mirror;             /* the VM's migration helper (--helper, or arrived with it) */
	struct mig_incoming incoming;         /* --incoming: outlives the control thread that reads it */
	struct ram_prep   prep;               /* --incoming --provision setup: RAM made while waiting */
	bool              reset_cancelled_mig; /* a pending reset has cancelled a migration (said once) */
	struct snapshot_lazy *lazy;           /* --restore-lazy: the loader, until the VM is gone */
};

/* --incoming: wait for a source and take the VM from it, serving the
 * control socket all along (ctl may be NULL): before the VM arrives it
 * answers status and query-migrate from the receive's figures and takes
 * migrate-cancel and quit as a cancel; once the VM runs, the same server
 * goes on with it. 0: the VM runs; -1 with *code set. */
static int receive_incoming(struct run_opts *o, struct vm_config *cfg, struct vm *vm,
			    struct mirror *mirror, struct ctl_server *ctl, struct mig_incoming *in,
			    struct ram_prep *prep, struct mig_stats *ms, int *code)
{
	char err[1024];
	int nc;
	uint64_t mem;
	struct tls_creds *tls = NULL;
	/* bad credentials fail now, not when the source connects */
	if (o->tls_creds && !(tls = tls__load(o->tls_creds, true, err, sizeof(err)))) {
		log__err("%s", err);
		*code = 1;
		return -1;
	}
	if (tls)
		tls__set_authz(tls, o->tls_authz);
	int lfd = transport__listen(o->incoming, err, sizeof(err));
	if (lfd < 0 || mig_incoming__init(in, o->incoming, err, sizeof(err))) {
		log__err("%s", err);
		if (lfd >= 0)
			close(lfd);
		tls__free(tls);
		*code = 1;
		return -1;
	}
	in->tls = tls;
	cfg->mem = o->mem;
	cfg->max_mem = o->max_mem ? o->max_mem : host_available_memory();
	cfg->ncpus = o->cpus;
	cfg->cc = o->cc;
	cfg->psp_socket = o->psp_socket;
	if (ctl && ctl_server__start_incoming(ctl, in, o->incoming)) {
		log__err("cannot start the control socket thread");
		mig_incoming__exit(in);
		close(lfd);
		tls__free(tls);
		*code = 1;
		return -1;
	}
	in->no_provision = o->provision == RUN_PROVISION_NONE;
	/* the RAM is made and filled while nobody waits on it; one thread
	 * per core, as nothing else runs here yet */
	if (o->provision == RUN_PROVISION_SETUP) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		if (ram_prep__start(prep, o->mem, ncpu > 0 ? (int)ncpu : 1, err, sizeof(err)))
			log__info("guest RAM is not provisioned during setup: %s", err);
		else
			in->prep = prep;
	}
	log__info("waiting for an incoming migration on %s%s", o->incoming,
		  tls ? " (TLS only: --tls-creds)" : "");
	int r = migration__receive(lfd, vm, cfg, in, mirror, err, sizeof(err));
	if (in->prep && r != MIG_RX_LOST) /* stopped there; RAM not taken is freed */
		ram_prep__free(in->prep);
	in->prep = NULL;
	if (r == MIG_RX_LOST) {
		/* the quit that gave the VM up gets its reply before the end;
		 * no teardown: vCPUs wait in faults on pages that never come */
		if (ctl)
			ctl_server__close(ctl);
		_exit(1);
	}
	close(lfd);
	pthread_mutex_lock(&in->lock);
	in->tls = NULL;                   /* the connection keeps what it needs */
	pthread_mutex_unlock(&in->lock);
	tls__free(tls);
	mig_incoming__exit(in);
	mig_incoming__read(in, ms, &nc, &mem);
	if (r) {
		int sig = cancel__pending();
		if (ms->status == MIG_CANCELLED)
			log__err("incoming migration cancelled (the source keeps the VM): %s", err);
		else
			log__err("incoming migration failed (the source keeps the VM): %s", err);
		/* a signal that also cancelled wins: the caller asked for it */
		*code = sig ? 128 + sig : 1;
		return -1;
	}
	if (ctl) {
		ctl->incoming = *ms;      /* before attach: the thread reads it after */
		if (mirror->started) {
			warm_helper(mirror);  /* for this VM's next move */
			ctl_server__set_mirror(ctl, mirror);
		}
		ctl_server__attach(ctl, vm);
	}
	return 0;
}

/* --stats FILE: the migration summary as JSON, for scripts. */
static void write_stats(const char *path, const struct mig_stats *ms)
{
	FILE *f = fopen(path, "w");
	json_t *j = ctl__mig_json(ms);
	if (f && j) {
		char *t = json_dumps(j, JSON_COMPACT);
		fprintf(f, "%s\n", t ? t : "{}");
		free(t);
	}
	if (f)
		fclose(f);
	else
		log__err("cannot write %s", path);
	json_decref(j);
}

/* Start mode --incoming: the VM arrives from another host and runs.
 * 0, or the exit code (nothing of a VM left). */
static int start_incoming(struct run *rn)
{
	struct mig_stats ms;
	char sz[32];
	int code;

	if (receive_incoming(&rn->o, &rn->cfg, rn->vm, &rn->mirror, rn->have_ctl ? &rn->ctl : NULL,
			     &rn->incoming, &rn->prep, &ms, &code))
		return code;
	log__info("migrated in: %d vCPUs, %s RAM; %llu MB received in %.0f ms, %llu iterations, "
		 "%llu pages, %llu zero pages, %llu private pages (platform %.1f ms)",
		 rn->vm->cfg.ncpus, size__str(rn->vm->cfg.mem, sz, sizeof(sz)),
		 (unsigned long long)(ms.transferred >> 20), (double)ms.total_ns / 1e6,
		 (unsigned long long)ms.iteration, (unsigned long long)ms.normal,
		 (unsigned long long)ms.duplicate, (unsigned long long)ms.private_pages,
		 (double)ms.psp_ns / 1e6);
	if (rn->o.stats)
		write_stats(rn->o.stats, &ms);
	return 0;
}

/* Start mode --takeover: the VM arrives from a tern process on this host
 * (a handoff) and runs; the control socket is claimed only now, from the
 * old process. 0, or the exit code. */
static int start_takeover(struct run *rn)
{
	struct handoff_result hr;
	char *old_ctl = NULL, err[1024], sz[32];
	const char *path;
	int lfd = handoff__listen(rn->o.takeover, err, sizeof(err));
	int r;

	if (lfd < 0) {
		log__err("%s", err);
		return 1;
	}
	/* -1: keep writing the console where the old process did */
	rn->cfg.serial_fd = rn->o.serial_file ? rn->serial_fd : -1;
	log__info("waiting at %s for a VM to take over", rn->o.takeover);
	r = handoff__receive(lfd, rn->vm, &rn->cfg, &old_ctl, &hr, err, sizeof(err));
	close(lfd);
	unlink(rn->o.takeover);
	if (r) {
		log__err("takeover failed (the old process keeps the VM): %s", err);
		return cancel__pending() ? 128 + cancel__pending() : 1;
	}
	path = rn->o.ctl ? rn->o.ctl : old_ctl;
	if (path && ctl_server__open_replace(&rn->ctl, path, err, sizeof(err)) == 0)
		rn->have_ctl = true;
	else if (path)
		log__err("the VM runs, but without a control socket: %s", err);
	rn->ctl.handoff_downtime_ns = hr.downtime_ns;
	/* The helper, if the VM had one: a fresh mirror of the moved context
	 * (the old process's mirror cannot cross processes), built now that
	 * the guest runs, so it adds nothing to the downtime. Without it the
	 * VM still runs; its migrations take the PSP path. */
	if (hr.helper_lanes) {
		if (mirror__start(&rn->mirror, rn->vm, (int)hr.helper_lanes, err, sizeof(err))) {
			log__err("the VM runs, but its migration helper did not start again: %s", err);
		} else {
			warm_helper(&rn->mirror);
			if (rn->have_ctl)
				ctl_server__set_mirror(&rn->ctl, &rn->mirror);
		}
	}
	if (rn->have_ctl && ctl_server__start(&rn->ctl, rn->vm, "handoff")) {
		log__err("cannot start the control socket thread");
		vm__stop(rn->vm, 1, "control socket failed");
	}
	log__info("took over the VM: %d vCPUs, %s RAM, downtime %.3f ms%s%s", rn->vm->cfg.ncpus,
		 size__str(rn->vm->cfg.mem, sz, sizeof(sz)), (double)hr.downtime_ns / 1e6,
		 rn->have_ctl ? ", control socket " : "", rn->have_ctl ? rn->ctl.path : "");
	free(old_ctl);
	return 0;
}

/* Start mode --restore: the VM is built from a snapshot, not yet running.
 * 0, or the exit code. */
static int build_restored(struct run *rn)
{
	struct snapshot_result sr;
	char err[1024], sz[32];

	if (snapshot__restore(rn->o.restore, rn->vm, &rn->cfg, rn->o.restore_lazy ? &rn->lazy : NULL,
			      &sr, err, sizeof(err))) {
		log__err("%s", err);
		return 1;
	}
	if (rn->lazy)
		log__info("restoring %s lazily: %d vCPUs, %s RAM, %llu pages to load; state read in %.1f ms",
			 rn->o.restore, rn->vm->cfg.ncpus, size__str(rn->vm->cfg.mem, sz, sizeof(sz)),
			 (unsigned long long)sr.ram_pages, (double)sr.ns / 1e6);
	else
		log__info("restored %s: %d vCPUs, %s RAM, %llu pages in %.1f ms (RAM %.1f ms by %d threads, "
			 "%.1f thread-ms of it allocating)", rn->o.restore, rn->vm->cfg.ncpus,
			 size__str(rn->vm->cfg.mem, sz, sizeof(sz)), (unsigned long long)sr.ram_pages,
			 (double)sr.ns / 1e6, (double)sr.read_ns / 1e6, sr.threads, (double)sr.alloc_ns / 1e6);
	return 0;
}

/* Start mode boot: a new VM with its own RAM, the guest ELF loaded (and,
 * confidential, launched and measured), not yet running. 0, or the exit code. */
static int build_booted(struct run *rn)
{
	struct cc_launch launch = { .policy = rn->o.cc_policy };
	void *session = NULL, *pub = NULL;
	char err[1024];
	int bad;

	rn->cfg.mem = rn->o.mem;
	rn->cfg.ncpus = rn->o.cpus;
	rn->cfg.cc = rn->o.cc;
	rn->cfg.psp_socket = rn->o.psp_socket;
	bad = rn->o.owner_session &&
		load_owner_session(rn->o.owner_session, &rn->o, &launch, &session, &pub, err, sizeof(err));
	/* the policy's ES bit (--cc-policy, or the owner's session) makes an
	 * SEV-ES guest: vCPU state launched into VMSAs (docs/cc.md) */
	rn->cfg.cc_es = rn->o.cc != CC_NONE && (launch.policy & CC_POLICY_ES);
	bad = bad || vm__create(rn->vm, &rn->cfg, err, sizeof(err)) ||
	      vm__load_guest(rn->vm, rn->o.guest, rn->o.guest_args, rn->o.helper, &launch, err,
			     sizeof(err));
	free(session);
	free(pub);
	if (bad) {
		log__err("%s", err);
		vm__destroy(rn->vm);
		return 1;
	}
	return 0;
}

/* Boot and restore: a built VM starts here. The control socket answers
 * first, so a guest owner can read the launch measurement before the
 * guest runs; a confidential launch is finished (the owner's secret
 * injected first, if one is coming). 0, or the exit code (VM gone). */
static int launch(struct run *rn, const char *what)
{
	struct vm *vm = rn->vm;
	char err[1024], sz[32];

	if (rn->have_ctl && ctl_server__start(&rn->ctl, vm, what)) {
		log__err("cannot start the control socket thread");
		vm__stop(vm, 1, "control socket failed");
	}
	if (vm->cc_open) {
		char m[65];
		hex(vm->cc.m.measurement, 32, m);
		log__info("--cc %s: launched, handle %u, measurement %s", vm->cc.ops->name, vm->cc.m.handle, m);
		if (rn->o.owner_secret) {
			log__info("waiting for the owner's secret packet at %s", rn->o.owner_secret);
			if (wait_packet(vm, rn->o.owner_secret, rn->o.launch_timeout, "secret",
					vm__cc_secret, err, sizeof(err)))
				goto failed;
			log__info("owner's secret injected at GPA 0x%x", GUEST_SECRET_GPA);
		}
		if (rn->o.owner_helper_key) {
			log__info("waiting for the owner's helper-key packet at %s", rn->o.owner_helper_key);
			if (wait_packet(vm, rn->o.owner_helper_key, rn->o.launch_timeout, "helper-key",
					vm__cc_helper_key, err, sizeof(err)))
				goto failed;
			log__info("owner's helper key injected at GPA 0x%llx (the helper's key slot)",
				 HELPER_BASE + HELPER_KEY_OFF);
		}
		if (vm__cc_finish(vm, err, sizeof(err)))
			goto failed;
	}
	/* the helper's lanes start once the launch is finished (their key is
	 * in place) and before the guest runs */
	if (rn->o.helper) {
		if (mirror__start(&rn->mirror, vm, rn->o.helper_lanes, err, sizeof(err)))
			goto failed;
		warm_helper(&rn->mirror);
		if (rn->have_ctl)
			ctl_server__set_mirror(&rn->ctl, &rn->mirror);
	}
	/* the lazy loader serves faults before the first vCPU runs */
	if (rn->lazy && snapshot_lazy__start(rn->lazy, err, sizeof(err)))
		goto failed;
	if (vm__start(vm, err, sizeof(err)))
		goto failed;
	if (!rn->o.restore)
		log__info("running %s: %d vCPUs, %s RAM%s%s", rn->o.guest, vm->cfg.ncpus,
			 size__str(vm->cfg.mem, sz, sizeof(sz)), rn->o.ctl ? ", control socket " : "",
			 rn->o.ctl ? rn->o.ctl : "");
	return 0;
failed:
	log__err("%s", err);
	vm__stop(vm, 1, "%s", err);
	vm__wait(vm);
	if (rn->have_ctl)
		ctl_server__close(&rn->ctl);
	rn->have_ctl = false;
	mirror__destroy(&rn->mirror);     /* a mirror goes before its owner */
	snapshot_lazy__finish(rn->lazy);  /* no vCPU runs: its faults may be let go */
	rn->lazy = NULL;
	vm__destroy(vm);
	return 1;
}

/* A migration of this VM is under way (the control socket's job). */
static bool migrating(struct run *rn)
{
	struct mig_stats ms;
	if (!rn->have_ctl)
		return false;
	migration__stats(&rn->ctl.mig, &ms);
	return ms.status == MIG_SETUP || ms.status == MIG_ACTIVE || ms.status == MIG_DEVICE;
}

/* The guest asked for a reset (dev/reset.h): carry it out here, on the
 * main thread, never on the vCPU that asked. A migration in progress is
 * cancelled first (tern writes guest RAM behind the dirty log, so its
 * pages would be stale) and the reset waits for it to end; a move or a
 * snapshot that holds the VM paused makes it wait too; then every vCPU is
 * parked, the guest booted again in place, and the vCPUs resumed. Called
 * every loop tick (100 ms) while a request is pending. */
static void handle_reset(struct run *rn)
{
	struct vm *vm = rn->vm;
	char why[128], err[1024];
	int r;

	if (!vm__reset_pending(vm, why, sizeof(why)))
		return;
	if (rn->o.on_reset == RUN_ON_RESET_EXIT) {
		vm__stop(vm, 0, "%s; --on-reset exit: stopping the VM", why);
		return;
	}
	if (vm->cfg.cc != CC_NONE) {
		vm__stop(vm, 1, "%s: a confidential guest cannot be reset in place: it must be launched "
			 "again (the platform accepts no new measured code after LAUNCH_FINISH)", why);
		return;
	}
	/* a VM that arrived boots the image it was told to (--reset-guest) */
	const char *image = rn->o.guest ? rn->o.guest : rn->o.reset_guest;
	const char *args = rn->o.guest ? rn->o.guest_args : rn->o.reset_guest_args;
	if (!image) {
		vm__stop(vm, 1, "%s: this process did not boot the guest (it arrived by %s) and was given "
			 "no --reset-guest, so it has no guest image to boot again: stopping", why,
			 rn->o.restore ? "restore" : rn->o.incoming ? "migration" : "handoff");
		return;
	}
	if (migrating(rn)) {
		if (!rn->reset_cancelled_mig) {
			log__info("%s: cancelling the migration in progress first", why);
			rn->reset_cancelled_mig = true;
		}
		migration__cancel(&rn->ctl.mig);
		return;                   /* again at the next tick, once it ended */
	}
	uint64_t t0 = now__ns();
	r = vm__reset_begin(vm);
	if (r)
		return;                   /* paused by a move or snapshot, or stopping */
	if (migrating(rn)) {              /* one started just before the pause */
		vm__reset_end(vm, false);
		return;
	}
	if (vm__reboot(vm, image, args, err, sizeof(err))) {
		vm__reset_end(vm, false);
		vm__stop(vm, EXIT_GUEST_CRASH, "%s, and the reset failed: %s", why, err);
		return;
	}
	/* a migration that started in the moment the reset ran may have read
	 * pages from before it: it must not finish */
	if (migrating(rn))
		migration__cancel(&rn->ctl.mig);
	vm__reset_end(vm, true);
	rn->reset_cancelled_mig = false;
	log__info("%s: booted %s again (reset %llu, vCPUs parked %.1f ms)", why, image,
		 (unsigned long long)vm__resets(vm), (double)(now__ns() - t0) / 1e6);
}

/* Every start mode ends here once its VM runs: until the VM stops or a
 * signal stops it; then the control socket closes and the VM goes.
 * Returns the VM's exit code. */
static int run_until_stopped(struct run *rn)
{
	struct vm *vm = rn->vm;
	int code;

	while (!vm__stopping(vm)) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		int sig = sigtimedwait(&rn->sigs, NULL, &ts);
		if (sig > 0)
			vm__stop(vm, 128 + sig, "stopped by signal %s", strsignal(sig));
		else
			handle_reset(rn);
	}
	code = vm__wait(vm);
	if (rn->have_ctl)
		ctl_server__close(&rn->ctl);
	rn->have_ctl = false;
	log__info("%s", vm->stop_reason);
	mirror__destroy(&rn->mirror);     /* a mirror goes before its owner */
	snapshot_lazy__finish(rn->lazy);
	rn->lazy = NULL;
	vm__destroy(vm);
	return code;
}

int cmd__run(int argc, char **argv)
{
	static struct run rn;             /* large (the VM); and ASan-friendly */
	static struct vm vm;
	char err[1024];
	int code, sig_fd = -1;

	memset(&rn, 0, sizeof(rn));
	rn.ctl.lfd = -1;
	rn.serial_fd = STDOUT_FILENO;
	rn.vm = &vm;
	if (run__opts_parse(argc, argv, &rn.o, err, sizeof(err))) {
		log__err("%s", err);
		fprintf(stderr, "%s", run_usage);
		return 2;
	}
	if (rn.o.help) {
		printf("%s", run_usage);
		return 0;
	}
	if (rn.o.serial_file) {
		rn.serial_fd = open(rn.o.serial_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (rn.serial_fd < 0) {
			log__err("cannot open serial output %s: %s", rn.o.serial_file, strerror(errno));
			return 1;
		}
	}
	/* Claim the control socket before anything else: a second VM started
	 * on the same path fails here, before it creates anything. */
	if (rn.o.ctl && !rn.o.takeover) {
		if (ctl_server__open(&rn.ctl, rn.o.ctl, err, sizeof(err))) {
			log__err("%s", err);
			return 1;
		}
		rn.have_ctl = true;
	}

	/* SIGINT/SIGTERM are taken by this thread with sigtimedwait; every
	 * thread created from here on inherits the block. */
	sigemptyset(&rn.sigs);
	sigaddset(&rn.sigs, SIGINT);
	sigaddset(&rn.sigs, SIGTERM);
	sigaddset(&rn.sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &rn.sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* ...and while this thread is itself blocked waiting for a peer
	 * (--incoming, --takeover), the same signals end that wait through
	 * this signalfd (util/cancel.h); they stay pending for the loop in
	 * run_until_stopped */
	sig_fd = signalfd(-1, &rn.sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sig_fd >= 0)
		cancel__add_fd(sig_fd);   /* the table's first entry: cannot be full */

	rn.cfg.serial_fd = rn.serial_fd;
	rn.cfg.prefault = rn.o.prefault;
	if (rn.o.incoming)
		code = start_incoming(&rn);
	else if (rn.o.takeover)
		code = start_takeover(&rn);
	else if (rn.o.restore)
		code = build_restored(&rn) ?: launch(&rn, rn.o.restore);
	else
		code = build_booted(&rn) ?: launch(&rn, rn.o.guest);
	if (code == 0)
		code = run_until_stopped(&rn);

	if (sig_fd >= 0) {
		cancel__remove_fd(sig_fd);
		close(sig_fd);
	}
	if (rn.have_ctl)
		ctl_server__close(&rn.ctl);
	if (rn.serial_fd != STDOUT_FILENO)
		close(rn.serial_fd);
	return code;
}
