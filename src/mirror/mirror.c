/* mirror.c - build the mirror VM, start the helper's lanes, and run
 * batches on them (mirror.h).
 *
 * Synchronisation: everything about the lanes is under the mirror VM's own
 * lock, and every wait is on its condition variable, because vm__stop
 * broadcasts exactly that: a lane parked at its doorbell, or a driver
 * waiting for a lane, wakes when the mirror stops for any reason (a lane
 * crashed, a timeout, mirror__destroy). */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "kvm/cpuid.h"
#include "kvm/cpuid_probe.h"
#include "mem/bitmap.h"
#include "mirror/mirror.h"
#include "util/io.h"
#include "util/log.h"

#define AT(off) (HELPER_BASE + (off))

const char *mirror__status_name(uint32_t st)
{
	static const char *n[] = {
		"OK", "TAG (authentication failed: altered packet or another key)",
		"GPA (packet for another page, or a page the helper may not touch)",
		"STREAM (packet of another stream, or a stream already used)",
		"REPLAY (version not newer than the last one for that page)",
		"BUSY (page held by another lane)", "BAD_CMD (malformed command)",
		"NO_KEY (the key slot holds no valid key)",
	};
	return st < sizeof(n) / sizeof(n[0]) ? n[st] : "unknown status";
}

const char *mirror__dead(struct mirror *m)
{
	if (!m->started)
		return "the helper is not running";
	return vm__stopping(&m->vm) ? m->vm.stop_reason : NULL;
}

/* ---- the lane's side: its doorbell exit ---- */

/* Runs in the lane's vCPU thread. READY and DONE: record, then stay here
 * until the driver has put the next command in place (or the mirror
 * stops); returning resumes the helper. FATAL: the lane is finished. */
static int on_doorbell(void *ctx, struct exit_io *io, char *err, size_t errlen)
{
	struct mirror *m = ctx;
	struct vm *vm = &m->vm;
	struct mirror_lane *l;
	uint32_t ev;

	if (!io->out || io->size != 4 || io->count != 1 || io->cpu < 0 || io->cpu >= m->nlanes) {
		errbuf__set(err, errlen, "helper lane %d: malformed doorbell access", io->cpu);
		return -1;
	}
	l = &m->lane[io->cpu];
	memcpy(&ev, io->data, 4);
	pthread_mutex_lock(&vm->lock);
	if (ev != HELPER_DB_READY && ev != HELPER_DB_DONE) {
		l->state = LANE_DEAD;
		pthread_cond_broadcast(&vm->cond);
		pthread_mutex_unlock(&vm->lock);
		if (ev == HELPER_DB_FATAL)
			errbuf__set(err, errlen, "helper lane %d gave up (FATAL, status %s)", l->idx,
				   mirror__status_name(l->mb->status));
		else
			errbuf__set(err, errlen, "helper lane %d rang an unknown doorbell 0x%x", l->idx, ev);
		return -1;
	}
	l->state = LANE_IDLE;
	pthread_cond_broadcast(&vm->cond);
	while (!l->go && !vm->stopping)
		pthread_cond_wait(&vm->cond, &vm->lock);
	l->go = false;
	if (!vm->stopping)
		l->state = LANE_BUSY;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/* ---- building ---- */

/* The helper's entry state (docs/guest-abi.md): long mode, CPL 3, the
 * region's page tables, GDT and TSS; RSP, RDI and FS base per lane. */
static int lane_entry_state(struct vcpu *v, int lane, char *err, size_t errlen)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	struct kvm_segment code = {
		.limit = 0xffffffff, .selector = HELPER_SEL_UCODE, .type = 0xb,
		.present = 1, .dpl = 3, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.limit = 0xffffffff, .selector = HELPER_SEL_UDATA, .type = 0x3,
		.present = 1, .dpl = 3, .db = 1, .s = 1, .g = 1,
	};
	struct kvm_segment tr = {
		.base = AT(HELPER_TSS_OFF), .limit = HELPER_TSS_LIMIT, .selector = HELPER_SEL_TSS,
		.type = 0xb, .present = 1,
	};
	uint64_t priv = AT(HELPER_LANE_PRIV_OFF(lane));

	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		goto fail;
	s.cs = code;
	s.ds = s.es = s.ss = s.gs = data;
	s.gs.selector = 0;
	s.gs.base = 0;
	s.fs = s.gs;
	s.fs.base = priv + HELPER_TLS_OFF;
	s.tr = tr;
	s.gdt.base = AT(HELPER_GDT_OFF);
	s.gdt.limit = HELPER_GDT_ENTRIES * 8 - 1;
	s.idt.base = 0;
	s.idt.limit = 0;
	s.cr0 = HELPER_CR0;
	s.cr3 = AT(HELPER_PT_OFF);
	s.cr4 = HELPER_CR4;
	s.efer = HELPER_EFER;
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
		goto fail;
	memset(&r, 0, sizeof(r));
	r.rip = HELPER_BASE;
	r.rsp = priv + HELPER_STACK_SIZE;
	r.rdi = (uint64_t)lane;
	r.rflags = HELPER_RFLAGS;
	if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
		goto fail;
	return 0;
fail:
	errbuf__set(err, errlen, "helper lane %d: cannot set its entry state: %s", lane, strerror(errno));
	return -1;
}

/* What the helper may use: the CPUID table KVM was given (never a ring-3
 * cpuid: docs/guest-abi.md), and AES-NI/PCLMULQDQ also when KVM does not
 * list them but a ring-3 probe shows they run (kvm/cpuid_probe.h): the
 * nested development hosts, where the table lacks them and the constant-
 * time fallback is ~40x slower. */
static uint32_t cpu_facts(struct vm *vm)
{
	struct kvm_cpuid_entry2 *e = cpuid__find(vm->cpuid, 1, 0);
	uint32_t f = 0;
	char why[200];
	int works = 0;

	if (cpuid_probe__ring3_aes(&vm->kvm, &works, why, sizeof(why)))
		log__info("migration helper: cannot probe AES-NI in ring 3 (%s)", why);
	else if (works)
		f |= HELPER_CPU_AESNI | HELPER_CPU_PCLMUL;
	if (e) {
		if (e->ecx & (1u << 25))
			f |= HELPER_CPU_AESNI;
		if (e->ecx & (1u << 1))
			f |= HELPER_CPU_PCLMUL;
		if (e->ecx & (1u << 30))
			f |= HELPER_CPU_RDRAND;
	}
	return f;
}

/* Wait (lock held) until every lane has left LANE_STARTING/LANE_BUSY, or
 * the mirror stopped, or the deadline passed; -1 on the last two. */
static int wait_lanes(struct mirror *m, uint64_t deadline_ns, int *late)
{
	struct vm *vm = &m->vm;
	for (;;) {
		int busy = -1;
		for (int i = 0; i < m->nlanes; i++)
			if (m->lane[i].state == LANE_STARTING || m->lane[i].state == LANE_BUSY) {
				busy = i;
				break;
			}
		if (busy < 0)
			return 0;
		if (vm->stopping)
			return -1;
		uint64_t now = now__ns();
		if (now >= deadline_ns) {
			*late = busy;
			return -1;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t wait = deadline_ns - now;
		if (wait > 100000000ULL)
			wait = 100000000ULL;
		ts.tv_sec += (time_t)(wait / 1000000000ULL);
		ts.tv_nsec += (long)(wait % 1000000000ULL);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
	}
}

/* A wait that failed: say why, and make sure the mirror is stopped (a
 * lane that is late may be spinning: stopping kicks it out of KVM_RUN). */
static void lanes_failed(struct mirror *m, int late, const char *what, uint32_t timeout_ms,
			 char *err, size_t errlen)
{
	if (late >= 0)
		vm__stop(&m->vm, 1, "helper lane %d did not answer %s within %u ms (hung)", late, what,
			 timeout_ms);
	errbuf__set(err, errlen, "the migration helper died: %s", m->vm.stop_reason);
}

int mirror__start(struct mirror *m, struct vm *owner, int lanes, char *err, size_t errlen)
{
	/* the platform the owner's context lives on, as the owner found it */
	struct vm_config cfg = {
		.mem = owner->cfg.mem, .ncpus = lanes, .cc = owner->cfg.cc, .serial_fd = -1,
		.psp_socket = owner->cc.socket[0] ? owner->cc.socket : NULL,
	};
	char why[400];
	int late = -1, r;

	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->cmd_lock, NULL);
	m->owner = owner;
	m->nlanes = lanes;
	m->batch_timeout_ms = MIRROR_BATCH_TIMEOUT_MS;
	if (lanes < 1 || lanes > HELPER_LANES) {
		errbuf__set(err, errlen, "helper lanes: %d asked, 1 to %d possible", lanes, HELPER_LANES);
		return -1;
	}
	if (owner->cfg.cc == CC_NONE || !owner->cc_open) {
		errbuf__set(err, errlen, "a migration helper needs a confidential VM (--cc emu or sev)");
		return -1;
	}
	if (owner->ram.size < HELPER_END) {
		errbuf__set(err, errlen, "a migration helper needs at least %llu MiB of guest RAM",
			   (unsigned long long)(HELPER_END >> 20));
		return -1;
	}
	m->built = true;
	/* its own VM and memslot over the same RAM; the owner's context by
	 * COPY_ENC_CONTEXT_FROM, before its vCPUs (the platform insists) */
	if (vm__init(&m->vm, &cfg, why, sizeof(why)) ||
	    vm__attach_ram_borrowed(&m->vm, owner, VM_RAM_SLOT_MAIN, VM_RAM_GPA_MAIN, why, sizeof(why)) ||
	    vm__cc_role(&m->vm, VM_CC_MIRROR, owner, why, sizeof(why)) ||
	    vm__create_vcpus(&m->vm, why, sizeof(why))) {
		errbuf__set(err, errlen, "cannot build the mirror VM: %s", why);
		goto fail;
	}
	/* the doorbell is the only exit a helper makes */
	r = vm__register_port(&m->vm, HELPER_PORT, 4, on_doorbell, m);
	if (r) {
		errbuf__set(err, errlen, "cannot register the helper's doorbell: %s", strerror(-r));
		goto fail;
	}
	uint32_t cpu = cpu_facts(&m->vm);
	for (int i = 0; i < lanes; i++) {
		struct mirror_lane *l = &m->lane[i];
		l->m = m;
		l->idx = i;
		l->mb = vm__gpa_ptr(&m->vm, AT(HELPER_LANE_WIN_OFF(i)), 4096);
		l->data = vm__gpa_ptr(&m->vm, AT(HELPER_LANE_WIN_OFF(i) + HELPER_DATA_OFF), HELPER_DATA_SIZE);
		memset((void *)l->mb, 0, sizeof(*l->mb));
		l->mb->magic = HELPER_MBOX_MAGIC;
		l->mb->abi = HELPER_ABI_VERSION;
		l->mb->cpu = cpu;
		l->mb->ram_pages = (uint32_t)(owner->ram.size / HELPER_PAGE);
		if (lane_entry_state(&m->vm.vcpus[i], i, err, errlen))
			goto fail;
	}
	/* Every lane at once: lane 0 resets the stream control word as it
	 * starts, and no lane is given a command before all are READY, so
	 * none can race it (docs/guest-abi.md, "Start"). */
	if (vm__start(&m->vm, why, sizeof(why))) {
		errbuf__set(err, errlen, "cannot start the helper's lanes: %s", why);
		goto fail;
	}
	m->started = true;
	pthread_mutex_lock(&m->vm.lock);
	r = wait_lanes(m, now__ns() + MIRROR_READY_TIMEOUT_MS * 1000000ULL, &late);
	pthread_mutex_unlock(&m->vm.lock);
	if (r) {
		lanes_failed(m, late, "its start", MIRROR_READY_TIMEOUT_MS, err, errlen);
		goto fail;
	}
	m->floor = m->lane[0].mb->floor;
	log__info("migration helper: %d lane%s ready (stream floor %u, %s)", lanes, lanes > 1 ? "s" : "",
		  m->floor, (cpu & (HELPER_CPU_AESNI | HELPER_CPU_PCLMUL)) ==
		  (HELPER_CPU_AESNI | HELPER_CPU_PCLMUL) ? "AES-NI" : "constant-time AES");
	return 0;
fail:
	mirror__destroy(m);
	return -1;
}

void mirror__destroy(struct mirror *m)
{
	if (!m->built)
		return;
	mirror__warm_stop(m);
	if (m->started) {
		vm__stop(&m->vm, 0, "the helper was stopped");
		vm__wait(&m->vm);
	}
	vm__destroy(&m->vm);          /* borrowed RAM: the owner's stays */
	m->built = m->started = false;
	pthread_mutex_destroy(&m->cmd_lock);
}

/* ---- warm-up ---- */

static int run_cmd(struct mirror *m, uint32_t cmd, uint32_t stream, const uint64_t *gpa,
		   const uint32_t *ver, uint32_t n, uint8_t *const *out, const uint8_t *const *in,
		   uint64_t *ns, char *err, size_t errlen);

#define WARM_PERIOD_MS 2000               /* between passes: pages the guest filled since */

static bool warm_stopped(struct mirror *m)
{
	return __atomic_load_n(&m->warm_stop, __ATOMIC_RELAXED);
}

/* One pass: every page that holds data (memfd SEEK_DATA: touching a hole
 * would allocate it, and a migration would then send it), outside the
 * helper's region, not touched before. 0, or -1 when the lanes failed. */
static int warm_pass(struct mirror *m, struct page_bitmap *touched, uint64_t end)
{
	uint64_t pages[HELPER_LANES * HELPER_BATCH_MAX];
	uint32_t ver[HELPER_LANES * HELPER_BATCH_MAX] = { 0 };
	uint32_t cap = mirror__capacity(m), n = 0;
	uint64_t gpa = 0, data = 0;
	char why[400];

	while (gpa < end && !warm_stopped(m)) {
		off_t d = lseek(m->owner->ram.fd, (off_t)gpa, SEEK_DATA), h;
		if (d < 0 || (uint64_t)d >= end)
			break;
		h = lseek(m->owner->ram.fd, d, SEEK_HOLE);
		uint64_t run_end = h < 0 || (uint64_t)h > end ? end : (uint64_t)h;
		for (gpa = (uint64_t)d & ~(uint64_t)(HELPER_PAGE - 1); gpa < run_end; gpa += HELPER_PAGE) {
			if (gpa >= HELPER_BASE && gpa < HELPER_END)
				continue;
			data++;
			if (bitmap__test(touched, gpa / HELPER_PAGE))
				continue;
			pages[n++] = gpa;
			if (n < cap && gpa + HELPER_PAGE < run_end)
				continue;
			if (warm_stopped(m))
				return 0;
			if (run_cmd(m, HELPER_CMD_TOUCH, 0, pages, ver, n, NULL, NULL, NULL, why, sizeof(why))) {
				if (!warm_stopped(m))
					log__info("migration helper: warm-up stopped: %s", why);
				return -1;
			}
			for (uint32_t i = 0; i < n; i++)
				bitmap__set(touched, pages[i] / HELPER_PAGE);
			__atomic_add_fetch(&m->warm_pages, n, __ATOMIC_RELAXED);
			n = 0;
		}
	}
	__atomic_store_n(&m->warm_total, data, __ATOMIC_RELAXED);
	return 0;
}

/* Pass after pass until stopped: the guest keeps filling memory, and a
 * page touched once stays mapped in the mirror. */
static void *warm_run(void *arg)
{
	struct mirror *m = arg;
	uint64_t end = m->owner->ram.size < HELPER_GPA_LIMIT ? m->owner->ram.size : HELPER_GPA_LIMIT;
	struct page_bitmap touched;

	if (bitmap__init(&touched, end / HELPER_PAGE)) {
		log__info("migration helper: no warm-up: out of memory");
		return NULL;
	}
	for (unsigned pass = 0; !warm_stopped(m); pass++) {
		uint64_t t0 = now__ns(), before = __atomic_load_n(&m->warm_pages, __ATOMIC_RELAXED);
		if (warm_pass(m, &touched, end))
			break;
		uint64_t n = __atomic_load_n(&m->warm_pages, __ATOMIC_RELAXED) - before, ns = now__ns() - t0;
		if (n)
			__atomic_store_n(&m->warm_ns, ns, __ATOMIC_RELAXED);
		if (n > 1000)
			log__info("migration helper: warmed %llu pages in %.0f ms (%.1f us/page)",
				  (unsigned long long)n, (double)ns / 1e6, (double)ns / 1e3 / (double)n);
		for (int i = 0; i < WARM_PERIOD_MS / 50 && !warm_stopped(m); i++) {
			struct timespec ts = { 0, 50 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	bitmap__free(&touched);
	return NULL;
}

void mirror__warm_stop(struct mirror *m)
{
	if (!m->warm_started)
		return;
	__atomic_store_n(&m->warm_stop, 1, __ATOMIC_RELAXED);
	pthread_join(m->warm_thread, NULL);
	m->warm_started = false;
}

int mirror__warm_start(struct mirror *m, char *err, size_t errlen)
{
	if (m->warm_started)
		return 0;
	__atomic_store_n(&m->warm_stop, 0, __ATOMIC_RELAXED);
	if (pthread_create(&m->warm_thread, NULL, warm_run, m)) {
		errbuf__set(err, errlen, "cannot start the warm-up thread");
		return -1;
	}
	m->warm_started = true;
	return 0;
}

/* ---- batches ---- */

static int run_cmd_locked(struct mirror *m, uint32_t cmd, uint32_t stream, const uint64_t *gpa,
			  const uint32_t *ver, uint32_t n, uint8_t *const *out, const uint8_t *const *in,
			  uint64_t *ns, char *err, size_t errlen);

static int run_cmd(struct mirror *m, uint32_t cmd, uint32_t stream, const uint64_t *gpa,
		   const uint32_t *ver, uint32_t n, uint8_t *const *out, const uint8_t *const *in,
		   uint64_t *ns, char *err, size_t errlen)
{
	pthread_mutex_lock(&m->cmd_lock);
	int r = run_cmd_locked(m, cmd, stream, gpa, ver, n, out, in, ns, err, errlen);
	pthread_mutex_unlock(&m->cmd_lock);
	return r;
}

static int run_cmd_locked(struct mirror *m, uint32_t cmd, uint32_t stream, const uint64_t *gpa,
			  const uint32_t *ver, uint32_t n, uint8_t *const *out, const uint8_t *const *in,
			  uint64_t *ns, char *err, size_t errlen)
{
	struct vm *vm = &m->vm;
	uint32_t per = (n + (uint32_t)m->nlanes - 1) / (uint32_t)m->nlanes, used = 0;
	int late = -1;
	const char *dead;

	if (n == 0)
		return 0;
	if (n > mirror__capacity(m)) {
		errbuf__set(err, errlen, "internal: %u pages for %d helper lanes", n, m->nlanes);
		return -1;
	}
	if ((dead = mirror__dead(m))) {
		errbuf__set(err, errlen, "the migration helper died: %s", dead);
		return -1;
	}
	if (per > HELPER_BATCH_MAX)
		per = HELPER_BATCH_MAX;
	/* fill every mailbox used, then resume those lanes together */
	uint64_t t0 = now__ns();
	pthread_mutex_lock(&vm->lock);
	for (int i = 0; i < m->nlanes && used < n; i++) {
		struct mirror_lane *l = &m->lane[i];
		volatile struct helper_mbox *mb = l->mb;
		uint32_t k = n - used < per ? n - used : per, bytes = k * HELPER_PACKET_SIZE;

		if (l->state != LANE_IDLE) {
			pthread_mutex_unlock(&vm->lock);
			errbuf__set(err, errlen, "helper lane %d is not idle", i);
			return -1;
		}
		for (uint32_t j = 0; j < k; j++) {
			mb->e[j].gpa = gpa[used + j];
			mb->e[j].version = ver ? ver[used + j] : 0;
			mb->e[j].status = HELPER_ST_OK;
		}
		if (cmd == HELPER_CMD_OPEN) {
			for (uint32_t j = 0; j < k; j++)
				memcpy(l->data + (size_t)j * HELPER_PACKET_SIZE, in[used + j], HELPER_PACKET_SIZE);
			mb->in_off = 0;
			mb->in_len = bytes;
		} else {
			mb->out_off = 0;
			mb->out_len = bytes;
		}
		mb->magic = HELPER_MBOX_MAGIC;
		mb->abi = HELPER_ABI_VERSION;
		mb->cmd = cmd;
		mb->stream = stream;
		mb->count = k;
		mb->seq = ++l->seq;
		__atomic_thread_fence(__ATOMIC_RELEASE);
		l->state = LANE_BUSY;
		l->go = true;
		used += k;
	}
	pthread_cond_broadcast(&vm->cond);
	int r = wait_lanes(m, t0 + (uint64_t)m->batch_timeout_ms * 1000000ULL, &late);
	pthread_mutex_unlock(&vm->lock);
	if (r) {
		lanes_failed(m, late, "a batch", m->batch_timeout_ms, err, errlen);
		return -1;
	}
	/* collect: statuses, then (SEAL) the packets */
	uint64_t dt = now__ns() - t0;
	if (ns)
		*ns += dt;
	used = 0;
	for (int i = 0; i < m->nlanes && used < n; i++) {
		struct mirror_lane *l = &m->lane[i];
		volatile struct helper_mbox *mb = l->mb;
		uint32_t k = n - used < per ? n - used : per;

		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (mb->done_seq != l->seq) {
			errbuf__set(err, errlen, "helper lane %d answered command %u, not %u", i, mb->done_seq, l->seq);
			return -1;
		}
		if (mb->floor > m->floor)
			m->floor = mb->floor;
		if (mb->status != HELPER_ST_OK) {
			uint32_t bad = 0;
			while (bad < k && mb->e[bad].status == HELPER_ST_OK)
				bad++;
			errbuf__set(err, errlen, "the %s helper refused page 0x%llx: %s",
				   cmd == HELPER_CMD_SEAL ? "source's" : cmd == HELPER_CMD_OPEN ?
				   "destination's" : "warming",
				   (unsigned long long)(bad < k ? gpa[used + bad] : 0),
				   mirror__status_name(mb->status));
			return -1;
		}
		if (out)
			for (uint32_t j = 0; j < k; j++)
				memcpy(out[used + j], l->data + (size_t)j * HELPER_PACKET_SIZE, HELPER_PACKET_SIZE);
		if (cmd != HELPER_CMD_TOUCH) {    /* the lanes' figures are pages moved */
			pthread_mutex_lock(&vm->lock);
			l->batches++;
			l->pages += k;
			l->ns += dt;
			pthread_mutex_unlock(&vm->lock);
		}
		used += k;
	}
	return 0;
}

int mirror__seal(struct mirror *m, uint32_t stream, const uint64_t *gpa, const uint32_t *ver,
		 uint32_t n, uint8_t *const *out, uint64_t *ns, char *err, size_t errlen)
{
	return run_cmd(m, HELPER_CMD_SEAL, stream, gpa, ver, n, out, NULL, ns, err, errlen);
}

int mirror__open(struct mirror *m, uint32_t stream, const uint64_t *gpa, uint32_t n,
		 const uint8_t *const *in, uint64_t *ns, char *err, size_t errlen)
{
	return run_cmd(m, HELPER_CMD_OPEN, stream, gpa, NULL, n, NULL, in, ns, err, errlen);
}
