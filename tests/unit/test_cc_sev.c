/* test_cc_sev.c - the sev back-end (src/cc/sev.c) against a fake kernel:
 * cc_sev_sys is pointed at a fake open/ioctl/close that records every
 * call (fd, request, command id, sev_fd, the parameter block as the
 * kernel would read it), answers like KVM and the firmware (a handle, a
 * measurement blob, the platform and guest status), and fails on demand
 * (firmware errors, a missing /dev/sev, KVM without SEV). No AMD hardware
 * is involved: this checks what tern asks of the kernel, not what the
 * hardware would answer. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <linux/kvm.h>
#include <linux/psp-sev.h>

#include "cc/cc.h"
#include "cc/sev_sys.h"

#define VM_FD       77
#define SEV_FD      101
#define HANDLE      0x2au
#define MAX_CALLS   32

struct call {
	int fd;
	unsigned long req;
	bool null_arg;
	struct kvm_sev_cmd cmd;           /* KVM_MEMORY_ENCRYPT_OP, as passed in */
	union {                           /* its parameter block on entry */
		struct kvm_sev_launch_start start;
		struct kvm_sev_launch_update_data update;
		struct kvm_sev_launch_measure measure;
		struct kvm_sev_launch_secret secret;
		struct kvm_sev_guest_status status;
		struct kvm_enc_region region;
	} p;
	uint32_t issue_cmd;               /* SEV_ISSUE_CMD on /dev/sev */
	uint64_t issue_data;
};

static struct {
	/* what the back-end did */
	char path[64];
	int flags, opens;
	struct call calls[MAX_CALLS];
	int ncalls;
	int closed[8], ncloses;
	/* how the fake answers */
	int open_errno;                   /* open fails with this */
	int fail_id;                      /* this KVM_SEV_* command fails (-1: none) */
	unsigned long fail_req;           /* or this request (REG_REGION, SEV_ISSUE_CMD) */
	int fail_errno;
	uint32_t fail_fw;                 /* kvm_sev_cmd.error / sev_issue_cmd.error */
	int probe_errno;                  /* KVM_MEMORY_ENCRYPT_OP(NULL) fails with this */
	uint32_t measure_len;             /* the blob length the firmware reports */
	bool query_ok;                    /* length query returns 0 (real firmware: INVALID_LEN) */
} fk;

static uint8_t blob[64];              /* the firmware's LAUNCH_MEASURE output */
static struct cc_sev_sys real_sys;

static int fake_open(const char *path, int flags)
{
	fk.opens++;
	snprintf(fk.path, sizeof(fk.path), "%s", path);
	fk.flags = flags;
	if (fk.open_errno) {
		errno = fk.open_errno;
		return -1;
	}
	return SEV_FD;
}

static int fake_close(int fd)
{
	assert_true(fk.ncloses < 8);
	fk.closed[fk.ncloses++] = fd;
	return 0;
}

static int fail_now(void)
{
	errno = fk.fail_errno;
	return -1;
}

static int fake_sev_issue(struct call *c, void *arg)
{
	struct sev_issue_cmd *ic = arg;
	assert_int_equal(c->fd, SEV_FD);
	c->issue_cmd = ic->cmd;
	c->issue_data = ic->data;
	if (fk.fail_req == SEV_ISSUE_CMD) {
		ic->error = fk.fail_fw;
		return fail_now();
	}
	if (ic->cmd == SEV_PLATFORM_STATUS) {
		struct sev_user_data_status *st = (void *)(uintptr_t)ic->data;
		assert_non_null(st);
		st->api_major = 1;
		st->api_minor = 51;
		st->build = 3;
		st->state = 1;
		st->guest_count = 0;
	}
	return 0;
}

static int fake_sev_op(struct call *c, void *arg)
{
	struct kvm_sev_cmd *cmd = arg;
	void *d;

	assert_int_equal(c->fd, VM_FD);
	if (!arg) {                       /* "is SEV enabled?" */
		if (fk.probe_errno) {
			errno = fk.probe_errno;
			return -1;
		}
		return 0;
	}
	c->cmd = *cmd;
	d = (void *)(uintptr_t)cmd->data;
	switch (cmd->id) {
	case KVM_SEV_LAUNCH_START:       assert_non_null(d); memcpy(&c->p.start, d, sizeof(c->p.start)); break;
	case KVM_SEV_LAUNCH_UPDATE_DATA: assert_non_null(d); memcpy(&c->p.update, d, sizeof(c->p.update)); break;
	case KVM_SEV_LAUNCH_MEASURE:     assert_non_null(d); memcpy(&c->p.measure, d, sizeof(c->p.measure)); break;
	case KVM_SEV_LAUNCH_SECRET:      assert_non_null(d); memcpy(&c->p.secret, d, sizeof(c->p.secret)); break;
	case KVM_SEV_GUEST_STATUS:       assert_non_null(d); break;
	default:                         break;
	}
	if ((int)cmd->id == fk.fail_id) {
		cmd->error = fk.fail_fw;
		return fail_now();
	}
	switch (cmd->id) {
	case KVM_SEV_LAUNCH_START:
		((struct kvm_sev_launch_start *)d)->handle = HANDLE;
		break;
	case KVM_SEV_LAUNCH_MEASURE: {
		/* as arch/x86/kvm/svm/sev.c: len 0 asks for the length */
		struct kvm_sev_launch_measure *m = d;
		if (m->len == 0) {
			m->len = fk.measure_len;
			if (fk.query_ok)
				return 0;
			cmd->error = SEV_RET_INVALID_LEN;
			errno = EIO;
			return -1;
		}
		if (m->len < fk.measure_len || !m->uaddr) {
			cmd->error = SEV_RET_INVALID_LEN;
			errno = EIO;
			return -1;
		}
		assert_true(fk.measure_len <= sizeof(blob));
		memcpy((void *)(uintptr_t)m->uaddr, blob, fk.measure_len);
		break;
	}
	case KVM_SEV_GUEST_STATUS: {
		struct kvm_sev_guest_status *g = d;
		g->handle = HANDLE;
		g->policy = PSP_POLICY_NODBG | PSP_POLICY_NOKS;
		g->state = PSP_STATE_LSECRET;
		break;
	}
	default:
		break;
	}
	return 0;
}

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	struct call *c;
	assert_true(fk.ncalls < MAX_CALLS);
	c = &fk.calls[fk.ncalls++];
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->req = req;
	c->null_arg = !arg;
	if (req == SEV_ISSUE_CMD)
		return fake_sev_issue(c, arg);
	if (req == KVM_MEMORY_ENCRYPT_OP)
		return fake_sev_op(c, arg);
	if (req == KVM_MEMORY_ENCRYPT_REG_REGION) {
		assert_int_equal(fd, VM_FD);
		assert_non_null(arg);
		memcpy(&c->p.region, arg, sizeof(c->p.region));
		return fk.fail_req == req ? fail_now() : 0;
	}
	fail_msg("unexpected ioctl 0x%lx on fd %d", req, fd);
	return -1;
}

static int setup(void **state)
{
	(void)state;
	memset(&fk, 0, sizeof(fk));
	fk.fail_id = -1;
	fk.measure_len = 48;
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 3 + 1);
	real_sys = cc_sev_sys;
	cc_sev_sys.open = fake_open;
	cc_sev_sys.ioctl = fake_ioctl;
	cc_sev_sys.close = fake_close;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cc_sev_sys = real_sys;
	return 0;
}

static void new_cc(struct cc *c)
{
	memset(c, 0, sizeof(*c));
	c->ops = &cc_sev_ops;
	c->kvm_vm_fd = c->platform = c->handle_fd = -1;
}

/* open, check what it did, forget those calls */
static void open_ok(struct cc *c)
{
	char err[256] = "";
	new_cc(c);
	assert_int_equal(cc_sev_ops.open(c, VM_FD, err, sizeof(err)), 0);
	assert_int_equal(c->platform, SEV_FD);
	assert_int_equal(c->kvm_vm_fd, VM_FD);
	fk.ncalls = 0;
}

/* the one KVM_MEMORY_ENCRYPT_OP call expected since the last reset */
static struct call *only_op(uint32_t id)
{
	assert_int_equal(fk.ncalls, 1);
	struct call *c = &fk.calls[0];
	assert_int_equal(c->fd, VM_FD);
	assert_int_equal(c->req, KVM_MEMORY_ENCRYPT_OP);
	assert_false(c->null_arg);
	assert_int_equal(c->cmd.id, id);
	assert_int_equal(c->cmd.sev_fd, SEV_FD);
	assert_int_equal(c->cmd.error, 0);
	fk.ncalls = 0;
	return c;
}

static void test_open(void **state)
{
	struct cc c;
	char err[256] = "";
	(void)state;
	new_cc(&c);
	assert_int_equal(cc_sev_ops.open(&c, VM_FD, err, sizeof(err)), 0);
	assert_string_equal(fk.path, "/dev/sev");
	assert_int_equal(fk.flags & O_ACCMODE, O_RDWR);
	assert_true(fk.flags & O_CLOEXEC);
	assert_int_equal(fk.ncalls, 2);
	/* PLATFORM_STATUS on /dev/sev */
	assert_int_equal(fk.calls[0].fd, SEV_FD);
	assert_int_equal(fk.calls[0].req, SEV_ISSUE_CMD);
	assert_int_equal(fk.calls[0].issue_cmd, SEV_PLATFORM_STATUS);
	assert_true(fk.calls[0].issue_data != 0);
	/* the "is SEV enabled" probe on the VM */
	assert_int_equal(fk.calls[1].fd, VM_FD);
	assert_int_equal(fk.calls[1].req, KVM_MEMORY_ENCRYPT_OP);
	assert_true(fk.calls[1].null_arg);
	assert_int_equal(c.platform, SEV_FD);
	assert_int_equal(c.kvm_vm_fd, VM_FD);
	assert_int_equal(c.m.api_major, 1);
	assert_int_equal(c.m.api_minor, 51);
	assert_int_equal(c.m.build, 3);

	cc_sev_ops.close(&c);
	assert_int_equal(fk.ncloses, 1);
	assert_int_equal(fk.closed[0], SEV_FD);
	assert_int_equal(c.platform, -1);
	cc_sev_ops.close(&c);             /* twice: nothing more to close */
	assert_int_equal(fk.ncloses, 1);
}

static void test_no_dev_sev(void **state)
{
	struct cc c;
	char err[256] = "";
	(void)state;
	new_cc(&c);
	fk.open_errno = ENOENT;
	assert_int_equal(cc_sev_ops.open(&c, VM_FD, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "no /dev/sev: this host has no AMD SEV firmware (use --cc emu)");
	assert_int_equal(fk.ncalls, 0);
	assert_int_equal(fk.ncloses, 0);
	assert_int_equal(c.platform, -1);
	cc_sev_ops.close(&c);
	assert_int_equal(fk.ncloses, 0);
}

static void test_dev_sev_denied(void **state)
{
	struct cc c;
	char err[256] = "";
	(void)state;
	new_cc(&c);
	fk.open_errno = EACCES;
	assert_int_equal(cc_sev_ops.open(&c, VM_FD, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "/dev/sev"));
	assert_non_null(strstr(err, strerror(EACCES)));
	assert_int_equal(fk.ncalls, 0);
	assert_int_equal(c.platform, -1);
}

static void test_platform_status_fails(void **state)
{
	struct cc c;
	char err[256] = "";
	(void)state;
	new_cc(&c);
	fk.fail_req = SEV_ISSUE_CMD;
	fk.fail_errno = EIO;
	fk.fail_fw = SEV_RET_INVALID_PLATFORM_STATE;
	assert_int_equal(cc_sev_ops.open(&c, VM_FD, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "PLATFORM_STATUS"));
	assert_non_null(strstr(err, "0x1"));
	assert_int_equal(fk.ncloses, 1);
	assert_int_equal(fk.closed[0], SEV_FD);
	assert_int_equal(c.platform, -1);
}

static void test_kvm_without_sev(void **state)
{
	struct cc c;
	char err[256] = "";
	(void)state;
	new_cc(&c);
	fk.probe_errno = ENOTTY;
	assert_int_equal(cc_sev_ops.open(&c, VM_FD, err, sizeof(err)), -ENOTTY);
	assert_non_null(strstr(err, "KVM does not offer SEV"));
	assert_int_equal(fk.ncloses, 1);
	assert_int_equal(fk.closed[0], SEV_FD);
	assert_int_equal(c.platform, -1);

	/* older kernels run the command with a NULL argument: EFAULT, go on */
	memset(&fk, 0, sizeof(fk));
	fk.fail_id = -1;
	fk.probe_errno = EFAULT;
	new_cc(&c);
	assert_int_equal(cc_sev_ops.open(&c, VM_FD, err, sizeof(err)), 0);
	assert_int_equal(c.platform, SEV_FD);
}

/* The whole launch, as vm.c drives it: handle and measurement into c.m. */
static void test_launch_sequence(void **state)
{
	static uint8_t ram[4 * 4096] __attribute__((aligned(4096)));
	uint8_t session[PSP_SESSION_LEN], hdr[PSP_PKT_HDR_LEN], cipher[64];
	const char owner_pub[] = "-----BEGIN CERTIFICATE-----\nowner\n-----END CERTIFICATE-----\n";
	const uint32_t policy = PSP_POLICY_NODBG | PSP_POLICY_NOKS;
	struct cc_launch l = { policy, session, owner_pub, sizeof(owner_pub) - 1 };
	struct psp_guest_status gs;
	uint32_t fw = 0xdead;
	struct call *k;
	struct cc c;
	(void)state;

	memset(session, 0x5e, sizeof(session));
	memset(hdr, 0x4d, sizeof(hdr));
	memset(cipher, 0xc1, sizeof(cipher));
	open_ok(&c);

	assert_int_equal(cc_sev_ops.init(&c, false, &fw), 0);
	assert_int_equal(fw, 0);
	k = only_op(KVM_SEV_INIT);
	assert_int_equal(k->cmd.data, 0);

	assert_int_equal(cc_sev_ops.register_ram(&c, 9, 0, sizeof(ram), ram), 0);
	assert_int_equal(fk.ncalls, 1);
	assert_int_equal(fk.calls[0].fd, VM_FD);
	assert_int_equal(fk.calls[0].req, KVM_MEMORY_ENCRYPT_REG_REGION);
	assert_int_equal(fk.calls[0].p.region.addr, (uintptr_t)ram);
	assert_int_equal(fk.calls[0].p.region.size, sizeof(ram));
	fk.ncalls = 0;

	assert_int_equal(cc_sev_ops.vcpus_created(&c, 4), 0);
	assert_int_equal(fk.ncalls, 0);   /* nothing for hardware */

	fw = 0xdead;
	assert_int_equal(cc_sev_ops.launch_start(&c, &l, &c.m.handle, &fw), 0);
	assert_int_equal(fw, 0);
	assert_int_equal(c.m.handle, HANDLE);
	k = only_op(KVM_SEV_LAUNCH_START);
	assert_int_equal(k->p.start.handle, 0);       /* 0: a new context */
	assert_int_equal(k->p.start.policy, policy);
	assert_int_equal(k->p.start.dh_uaddr, (uintptr_t)owner_pub);
	assert_int_equal(k->p.start.dh_len, strlen(owner_pub));
	assert_int_equal(k->p.start.session_uaddr, (uintptr_t)session);
	assert_int_equal(k->p.start.session_len, PSP_SESSION_LEN);

	assert_int_equal(cc_sev_ops.launch_update_data(&c, 0x1000, ram + 0x1000, 0x2000, &fw), 0);
	k = only_op(KVM_SEV_LAUNCH_UPDATE_DATA);
	assert_int_equal(k->p.update.uaddr, (uintptr_t)(ram + 0x1000));
	assert_int_equal(k->p.update.len, 0x2000);
	assert_int_equal(cc_sev_ops.launch_update_data(&c, 0x3000, ram + 0x3000, 0x10, &fw), 0);
	k = only_op(KVM_SEV_LAUNCH_UPDATE_DATA);
	assert_int_equal(k->p.update.uaddr, (uintptr_t)(ram + 0x3000));
	assert_int_equal(k->p.update.len, 0x10);

	fw = 0xdead;
	assert_int_equal(cc_sev_ops.launch_measure(&c, &c.m, &fw), 0);
	assert_int_equal(fw, 0);
	assert_int_equal(fk.ncalls, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(fk.calls[i].fd, VM_FD);
		assert_int_equal(fk.calls[i].req, KVM_MEMORY_ENCRYPT_OP);
		assert_int_equal(fk.calls[i].cmd.id, KVM_SEV_LAUNCH_MEASURE);
		assert_int_equal(fk.calls[i].cmd.sev_fd, SEV_FD);
	}
	assert_int_equal(fk.calls[0].p.measure.uaddr, 0);     /* the length query */
	assert_int_equal(fk.calls[0].p.measure.len, 0);
	assert_true(fk.calls[1].p.measure.uaddr != 0);
	assert_int_equal(fk.calls[1].p.measure.len, 48);
	fk.ncalls = 0;
	assert_memory_equal(c.m.measurement, blob, 32);
	assert_memory_equal(c.m.mnonce, blob + 32, 16);
	assert_int_equal(c.m.api_major, 1);
	assert_int_equal(c.m.api_minor, 51);
	assert_int_equal(c.m.build, 3);
	assert_int_equal(c.m.policy, policy);
	assert_int_equal(c.m.handle, HANDLE);

	assert_int_equal(cc_sev_ops.launch_secret(&c, 0x2000, ram + 0x2000, hdr, cipher, sizeof(cipher), &fw), 0);
	k = only_op(KVM_SEV_LAUNCH_SECRET);
	assert_int_equal(k->p.secret.hdr_uaddr, (uintptr_t)hdr);
	assert_int_equal(k->p.secret.hdr_len, PSP_PKT_HDR_LEN);
	assert_int_equal(k->p.secret.guest_uaddr, (uintptr_t)(ram + 0x2000));
	assert_int_equal(k->p.secret.guest_len, sizeof(cipher));
	assert_int_equal(k->p.secret.trans_uaddr, (uintptr_t)cipher);
	assert_int_equal(k->p.secret.trans_len, sizeof(cipher));

	assert_int_equal(cc_sev_ops.launch_finish(&c, &fw), 0);
	k = only_op(KVM_SEV_LAUNCH_FINISH);
	assert_int_equal(k->cmd.data, 0);

	memset(&gs, 0xff, sizeof(gs));
	assert_int_equal(cc_sev_ops.guest_status(&c, &gs, &fw), 0);
	only_op(KVM_SEV_GUEST_STATUS);
	assert_int_equal(gs.handle, HANDLE);
	assert_int_equal(gs.policy, policy);
	assert_int_equal(gs.state, PSP_STATE_LSECRET);

	cc_sev_ops.close(&c);
	assert_int_equal(fk.ncloses, 1);
	assert_int_equal(fk.closed[0], SEV_FD);
	assert_int_equal(fk.ncalls, 0);
}

static void test_es_init(void **state)
{
	struct cc c;
	uint32_t fw = 0xdead;
	(void)state;
	open_ok(&c);
	assert_int_equal(cc_sev_ops.init(&c, true, &fw), 0);
	assert_int_equal(fw, 0);
	struct call *k = only_op(KVM_SEV_ES_INIT);
	assert_int_equal(k->cmd.data, 0);
}

/* No session: no owner key either; the firmware makes its own keys. */
static void test_launch_start_without_session(void **state)
{
	struct cc_launch l = { .policy = PSP_POLICY_NOSEND, .owner_pub = "ignored", .owner_pub_len = 7 };
	uint32_t handle = 0, fw = 0xdead;
	struct cc c;
	(void)state;
	open_ok(&c);
	assert_int_equal(cc_sev_ops.launch_start(&c, &l, &handle, &fw), 0);
	assert_int_equal(handle, HANDLE);
	assert_int_equal(fw, 0);
	struct call *k = only_op(KVM_SEV_LAUNCH_START);
	assert_int_equal(k->p.start.policy, PSP_POLICY_NOSEND);
	assert_int_equal(k->p.start.handle, 0);
	assert_int_equal(k->p.start.dh_uaddr, 0);
	assert_int_equal(k->p.start.dh_len, 0);
	assert_int_equal(k->p.start.session_uaddr, 0);
	assert_int_equal(k->p.start.session_len, 0);
}

/* Every command: the firmware refuses (EIO, INVALID_GUEST_STATE) -> -EIO
 * and *fw == 2, and nothing is reported as done. */
static void test_firmware_errors(void **state)
{
	static uint8_t ram[4096];
	uint8_t session[PSP_SESSION_LEN] = { 0 }, hdr[PSP_PKT_HDR_LEN] = { 0 }, cipher[16] = { 0 };
	struct cc_launch l = { 1, session, "pub", 3 };
	const int ids[] = { KVM_SEV_INIT, KVM_SEV_ES_INIT, KVM_SEV_LAUNCH_START, KVM_SEV_LAUNCH_UPDATE_DATA,
			    KVM_SEV_LAUNCH_MEASURE, KVM_SEV_LAUNCH_SECRET, KVM_SEV_LAUNCH_FINISH,
			    KVM_SEV_GUEST_STATUS };
	char why[160];
	(void)state;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		struct cc_measurement m;
		struct psp_guest_status gs;
		struct cc c;
		uint32_t fw = 0, handle = 0x5a5a;
		int r = 0;

		open_ok(&c);
		fk.fail_id = ids[i];
		fk.fail_errno = EIO;
		fk.fail_fw = PSP_FW_INVALID_GUEST_STATE;
		memset(&m, 0x77, sizeof(m));
		memset(&gs, 0x77, sizeof(gs));
		switch (ids[i]) {
		case KVM_SEV_INIT:               r = cc_sev_ops.init(&c, false, &fw); break;
		case KVM_SEV_ES_INIT:            r = cc_sev_ops.init(&c, true, &fw); break;
		case KVM_SEV_LAUNCH_START:       r = cc_sev_ops.launch_start(&c, &l, &handle, &fw); break;
		case KVM_SEV_LAUNCH_UPDATE_DATA: r = cc_sev_ops.launch_update_data(&c, 0, ram, 4096, &fw); break;
		case KVM_SEV_LAUNCH_MEASURE:     r = cc_sev_ops.launch_measure(&c, &m, &fw); break;
		case KVM_SEV_LAUNCH_SECRET:      r = cc_sev_ops.launch_secret(&c, 0, ram, hdr, cipher, 16, &fw); break;
		case KVM_SEV_LAUNCH_FINISH:      r = cc_sev_ops.launch_finish(&c, &fw); break;
		case KVM_SEV_GUEST_STATUS:       r = cc_sev_ops.guest_status(&c, &gs, &fw); break;
		}
		if (r != -EIO || fw != PSP_FW_INVALID_GUEST_STATE)
			fail_msg("command %d: r=%d fw=%u", ids[i], r, fw);
		assert_int_equal(fk.calls[0].cmd.id, ids[i]);
		assert_int_equal(handle, 0x5a5a);                 /* untouched */
		assert_int_equal(c.m.handle, 0);
		assert_int_equal(m.policy, 0x77777777u);
		assert_int_equal(gs.state, 0x77777777u);
		assert_non_null(strstr(cc_strerror(r, fw, why, sizeof(why)), "INVALID_GUEST_STATE"));
		cc_sev_ops.close(&c);
	}
}

/* Errors from KVM itself: no firmware status (0, or SEV_RET_NO_FW_CALL
 * which reads as "none"). */
static void test_kernel_errors(void **state)
{
	static uint8_t ram[4096];
	struct cc c;
	uint32_t fw = 0xdead;
	(void)state;

	open_ok(&c);
	fk.fail_id = KVM_SEV_LAUNCH_UPDATE_DATA;
	fk.fail_errno = ENOMEM;
	fk.fail_fw = 0;
	assert_int_equal(cc_sev_ops.launch_update_data(&c, 0, ram, 4096, &fw), -ENOMEM);
	assert_int_equal(fw, 0);

	fk.fail_id = KVM_SEV_INIT;
	fk.fail_errno = EBUSY;
	fk.fail_fw = (uint32_t)SEV_RET_NO_FW_CALL;
	fw = 0xdead;
	assert_int_equal(cc_sev_ops.init(&c, false, &fw), -EBUSY);
	assert_int_equal(fw, 0);

	/* fw may be NULL */
	assert_int_equal(cc_sev_ops.init(&c, false, NULL), -EBUSY);
	fk.fail_id = -1;
	assert_int_equal(cc_sev_ops.launch_finish(&c, NULL), 0);

	/* pinning guest RAM can fail (RLIMIT_MEMLOCK) */
	fk.fail_req = KVM_MEMORY_ENCRYPT_REG_REGION;
	fk.fail_errno = ENOMEM;
	assert_int_equal(cc_sev_ops.register_ram(&c, 3, 0, sizeof(ram), ram), -ENOMEM);
	cc_sev_ops.close(&c);
}

static void test_measure_lengths(void **state)
{
	struct cc_measurement m;
	struct cc c;
	uint32_t fw;
	(void)state;

	/* a length query that succeeds (not what the firmware does, but fine) */
	open_ok(&c);
	fk.query_ok = true;
	fw = 0xdead;
	assert_int_equal(cc_sev_ops.launch_measure(&c, &m, &fw), 0);
	assert_int_equal(fw, 0);
	assert_int_equal(fk.ncalls, 2);
	assert_memory_equal(m.measurement, blob, 32);

	/* a longer blob: the buffer is as long as reported, the first 48 bytes count */
	fk.ncalls = 0;
	fk.query_ok = false;
	fk.measure_len = 64;
	assert_int_equal(cc_sev_ops.launch_measure(&c, &m, &fw), 0);
	assert_int_equal(fk.calls[1].p.measure.len, 64);
	assert_memory_equal(m.mnonce, blob + 32, 16);

	/* too short for measurement || mnonce */
	fk.ncalls = 0;
	fk.measure_len = 16;
	fw = 0xdead;
	assert_int_equal(cc_sev_ops.launch_measure(&c, &m, &fw), -EPROTO);
	assert_int_equal(fw, 0);
	assert_int_equal(fk.ncalls, 1);

	/* no length at all: the query's error stands */
	fk.ncalls = 0;
	fk.measure_len = 0;
	assert_int_equal(cc_sev_ops.launch_measure(&c, &m, &fw), -EIO);
	assert_int_equal(fw, SEV_RET_INVALID_LEN);
	assert_int_equal(fk.ncalls, 1);
	cc_sev_ops.close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_dev_sev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dev_sev_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_platform_status_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kvm_without_sev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launch_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_es_init, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launch_start_without_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_firmware_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_measure_lengths, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
