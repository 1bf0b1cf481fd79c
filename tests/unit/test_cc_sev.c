/* test_cc_sev.c - the sev back-end (src/cc/sev.c) against a fake kernel:
 * cc_sev_sys is pointed at a fake open/ioctl/close that records every
 * call (fd, request, command id, sev_fd, the parameter block as the
 * kernel would read it), answers like KVM and the firmware (a handle, a
 * measurement blob, the platform and guest status, the PDH and its chain,
 * a transport session, the AMD chain file), and fails on demand
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
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <linux/kvm.h>
#include <linux/psp-sev.h>

#include "cc/cc.h"
#include "cc/sev_sys.h"

#define VM_FD       77
#define SEV_FD      101
#define AMD_FD      103               /* the AMD chain file, when opened */
#define OTHER_VM_FD 88                /* another VM (move, mirror) */
#define PDH_LEN     40                /* the fake firmware's certificate sizes */
#define PLAT_LEN    96
#define AMD_LEN     72
#define AMD_PATH    "/etc/tern/sev/ask_ark.cert"
#define HANDLE      0x2au
#define MAX_CALLS   32

/* policy bits (SEV API) */
#define POLICY_NODBG  (1u << 0)
#define POLICY_NOKS   (1u << 1)
#define POLICY_NOSEND (1u << 3)

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
		struct kvm_sev_send_start send_start;
		struct kvm_sev_send_update_data send_update;
		struct kvm_sev_receive_start receive_start;
		struct kvm_sev_receive_update_data receive_update;
		struct kvm_enc_region region;
		struct kvm_enable_cap cap;
		struct sev_user_data_pdh_cert_export pdh;
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
	uint32_t session_len;             /* SEND_START's length query answers this */
	int amd_errno;                    /* opening the AMD chain fails with this */
	size_t amd_read;                  /* bytes of it read so far */
} fk;

static uint8_t blob[64];              /* the firmware's LAUNCH_MEASURE output */
static uint8_t pdh_fw[PDH_LEN + PLAT_LEN];   /* PDH_CERT_EXPORT's output */
static uint8_t amd_file[AMD_LEN];
static uint8_t session_fw[CC_SESSION_LEN];  /* SEND_START's output */
static struct cc_sev_sys real_sys;

static int fake_open(const char *path, int flags)
{
	fk.opens++;
	snprintf(fk.path, sizeof(fk.path), "%s", path);
	fk.flags = flags;
	if (!strcmp(path, AMD_PATH)) {
		assert_int_equal(flags & O_ACCMODE, O_RDONLY);
		if (fk.amd_errno) {
			errno = fk.amd_errno;
			return -1;
		}
		fk.amd_read = 0;
		return AMD_FD;
	}
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

static ssize_t fake_read(int fd, void *buf, size_t len)
{
	size_t n = sizeof(amd_file) - fk.amd_read;
	assert_int_equal(fd, AMD_FD);
	if (n > len)
		n = len;
	memcpy(buf, amd_file + fk.amd_read, n);
	fk.amd_read += n;
	return (ssize_t)n;
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
	if (ic->cmd == SEV_PDH_CERT_EXPORT) {
		/* as drivers/crypto/ccp/sev-dev.c: no buffers is a length query,
		 * answered INVALID_LEN with the lengths written back */
		struct sev_user_data_pdh_cert_export *x = (void *)(uintptr_t)ic->data;
		assert_non_null(x);
		memcpy(&c->p.pdh, x, sizeof(c->p.pdh));
		if (!x->pdh_cert_address || !x->cert_chain_address || x->pdh_cert_len < PDH_LEN ||
		    x->cert_chain_len < PLAT_LEN) {
			x->pdh_cert_len = PDH_LEN;
			x->cert_chain_len = PLAT_LEN;
			ic->error = SEV_RET_INVALID_LEN;
			errno = EIO;
			return -1;
		}
		memcpy((void *)(uintptr_t)x->pdh_cert_address, pdh_fw, PDH_LEN);
		memcpy((void *)(uintptr_t)x->cert_chain_address, pdh_fw + PDH_LEN, PLAT_LEN);
		return 0;
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
	case KVM_SEV_SEND_START:         assert_non_null(d); memcpy(&c->p.send_start, d, sizeof(c->p.send_start)); break;
	case KVM_SEV_SEND_UPDATE_DATA:   assert_non_null(d); memcpy(&c->p.send_update, d, sizeof(c->p.send_update)); break;
	case KVM_SEV_RECEIVE_START:      assert_non_null(d); memcpy(&c->p.receive_start, d, sizeof(c->p.receive_start)); break;
	case KVM_SEV_RECEIVE_UPDATE_DATA:
		assert_non_null(d);
		memcpy(&c->p.receive_update, d, sizeof(c->p.receive_update));
		break;
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
	case KVM_SEV_SEND_START: {
		/* as arch/x86/kvm/svm/sev.c: session_len 0 asks for the length */
		struct kvm_sev_send_start *q = d;
		if (q->session_len == 0) {
			q->session_len = fk.session_len;
			cmd->error = SEV_RET_INVALID_LEN;
			errno = EIO;
			return -1;
		}
		if (!q->pdh_cert_uaddr || !q->pdh_cert_len || !q->session_uaddr) {
			errno = EINVAL;
			return -1;
		}
		memcpy((void *)(uintptr_t)q->session_uaddr, session_fw, q->session_len);
		q->policy = POLICY_NODBG | POLICY_NOKS;
		break;
	}
	case KVM_SEV_SEND_UPDATE_DATA: {
		struct kvm_sev_send_update_data *u = d;
		memset((void *)(uintptr_t)u->hdr_uaddr, 0x4e, u->hdr_len);
		memset((void *)(uintptr_t)u->trans_uaddr, 0xc7, u->trans_len);
		break;
	}
	case KVM_SEV_RECEIVE_START:
		((struct kvm_sev_receive_start *)d)->handle = HANDLE + 1;
		break;
	case KVM_SEV_GUEST_STATUS: {
		struct kvm_sev_guest_status *g = d;
		g->handle = HANDLE;
		g->policy = POLICY_NODBG | POLICY_NOKS;
		g->state = CC_STATE_LSECRET;
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
	if (req == KVM_ENABLE_CAP) {
		assert_non_null(arg);
		memcpy(&c->p.cap, arg, sizeof(c->p.cap));
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
	fk.session_len = CC_SESSION_LEN;
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 3 + 1);
	for (size_t i = 0; i < sizeof(pdh_fw); i++)
		pdh_fw[i] = (uint8_t)(i * 5 + 2);
	for (size_t i = 0; i < sizeof(amd_file); i++)
		amd_file[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(session_fw); i++)
		session_fw[i] = (uint8_t)(i ^ 0xa5);
	real_sys = cc_sev_sys;
	cc_sev_sys.open = fake_open;
	cc_sev_sys.ioctl = fake_ioctl;
	cc_sev_sys.close = fake_close;
	cc_sev_sys.read = fake_read;
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
	uint8_t session[CC_SESSION_LEN], hdr[CC_PKT_HDR_LEN], cipher[64];
	const char owner_pub[] = "-----BEGIN CERTIFICATE-----\nowner\n-----END CERTIFICATE-----\n";
	const uint32_t policy = POLICY_NODBG | POLICY_NOKS;
	struct cc_launch l = { policy, session, owner_pub, sizeof(owner_pub) - 1 };
	struct cc_guest_status gs;
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
	assert_int_equal(k->p.start.session_len, CC_SESSION_LEN);

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
	assert_int_equal(k->p.secret.hdr_len, CC_PKT_HDR_LEN);
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
	assert_int_equal(gs.state, CC_STATE_LSECRET);

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

/* SEV-ES: KVM builds each vCPU's VMSA from its registers and encrypts all
 * of them in one LAUNCH_UPDATE_VMSA without an argument; the page tern
 * serializes is not passed. After launch the CPU keeps the VMSAs: storing
 * and fetching them makes no call and returns nothing to restore. */
static void test_es_launch_update_vmsa(void **state)
{
	uint8_t page[4096] = { 1 }, *got = page;
	size_t len = 99;
	struct cc c;
	uint32_t fw = 0xdead;
	(void)state;
	open_ok(&c);
	assert_int_equal(cc_sev_ops.launch_update_vmsa(&c, 0, page, sizeof(page), &fw), 0);
	assert_int_equal(fw, 0);
	struct call *k = only_op(KVM_SEV_LAUNCH_UPDATE_VMSA);
	assert_int_equal(k->cmd.data, 0);
	assert_int_equal(cc_sev_ops.launch_update_vmsa(&c, 1, page, sizeof(page), &fw), 0);
	assert_int_equal(cc_sev_ops.vmsa_store(&c, 0, page, sizeof(page), &fw), 0);
	assert_int_equal(cc_sev_ops.vmsa_fetch(&c, 0, (void **)&got, &len, &fw), 0);
	assert_int_equal(fk.ncalls, 0);
	assert_null(got);
	assert_int_equal(len, 0);
	/* the firmware's refusal comes back as for every command */
	fk.fail_id = KVM_SEV_LAUNCH_UPDATE_VMSA;
	fk.fail_fw = SEV_RET_INVALID_GUEST_STATE;
	assert_int_equal(cc_sev_ops.launch_update_vmsa(&c, 0, page, sizeof(page), &fw), -EIO);
	assert_int_equal(fw, SEV_RET_INVALID_GUEST_STATE);
	fk.fail_id = -1;
	cc_sev_ops.close(&c);
}

/* No session: no owner key either; the firmware makes its own keys. */
static void test_launch_start_without_session(void **state)
{
	struct cc_launch l = { .policy = POLICY_NOSEND, .owner_pub = "ignored", .owner_pub_len = 7 };
	uint32_t handle = 0, fw = 0xdead;
	struct cc c;
	(void)state;
	open_ok(&c);
	assert_int_equal(cc_sev_ops.launch_start(&c, &l, &handle, &fw), 0);
	assert_int_equal(handle, HANDLE);
	assert_int_equal(fw, 0);
	struct call *k = only_op(KVM_SEV_LAUNCH_START);
	assert_int_equal(k->p.start.policy, POLICY_NOSEND);
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
	uint8_t session[CC_SESSION_LEN] = { 0 }, hdr[CC_PKT_HDR_LEN] = { 0 }, cipher[16] = { 0 };
	struct cc_launch l = { 1, session, "pub", 3 };
	const int ids[] = { KVM_SEV_INIT, KVM_SEV_ES_INIT, KVM_SEV_LAUNCH_START, KVM_SEV_LAUNCH_UPDATE_DATA,
			    KVM_SEV_LAUNCH_MEASURE, KVM_SEV_LAUNCH_SECRET, KVM_SEV_LAUNCH_FINISH,
			    KVM_SEV_GUEST_STATUS };
	char why[160];
	(void)state;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		struct cc_measurement m;
		struct cc_guest_status gs;
		struct cc c;
		uint32_t fw = 0, handle = 0x5a5a;
		int r = 0;

		open_ok(&c);
		fk.fail_id = ids[i];
		fk.fail_errno = EIO;
		fk.fail_fw = SEV_RET_INVALID_GUEST_STATE;
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
		if (r != -EIO || fw != SEV_RET_INVALID_GUEST_STATE)
			fail_msg("command %d: r=%d fw=%u", ids[i], r, fw);
		assert_int_equal(fk.calls[0].cmd.id, ids[i]);
		assert_int_equal(handle, 0x5a5a);                 /* untouched */
		assert_int_equal(c.m.handle, 0);
		assert_int_equal(m.policy, 0x77777777u);
		assert_int_equal(gs.state, 0x77777777u);
		assert_non_null(strstr(cc__strerror(r, fw, why, sizeof(why)), "INVALID_GUEST_STATE"));
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

/* ---- transport, move, mirror, tokens ----------------------------------- */

/* tern's framing of a certificate chain (sev.c): "TSC1", three u32
 * lengths, then PDH, platform chain, AMD chain. Built here by hand. */
static size_t mk_chain(uint8_t *out, const void *pdh, uint32_t pl, const void *plat, uint32_t ql,
		       const void *amd, uint32_t al)
{
	memcpy(out, "TSC1", 4);
	memcpy(out + 4, &pl, 4);
	memcpy(out + 8, &ql, 4);
	memcpy(out + 12, &al, 4);
	if (pl)
		memcpy(out + 16, pdh, pl);
	if (ql)
		memcpy(out + 16 + pl, plat, ql);
	if (al)
		memcpy(out + 16 + pl + ql, amd, al);
	return 16 + (size_t)pl + ql + al;
}

/* the two PDH_CERT_EXPORT calls (length query, export) at calls[i], [i+1] */
static void check_pdh_export(int i)
{
	for (int k = i; k < i + 2; k++) {
		assert_int_equal(fk.calls[k].fd, SEV_FD);
		assert_int_equal(fk.calls[k].req, SEV_ISSUE_CMD);
		assert_int_equal(fk.calls[k].issue_cmd, SEV_PDH_CERT_EXPORT);
	}
	assert_int_equal(fk.calls[i].p.pdh.pdh_cert_address, 0);
	assert_int_equal(fk.calls[i].p.pdh.pdh_cert_len, 0);
	assert_int_equal(fk.calls[i].p.pdh.cert_chain_address, 0);
	assert_int_equal(fk.calls[i].p.pdh.cert_chain_len, 0);
	assert_true(fk.calls[i + 1].p.pdh.pdh_cert_address != 0);
	assert_int_equal(fk.calls[i + 1].p.pdh.pdh_cert_len, PDH_LEN);
	assert_true(fk.calls[i + 1].p.pdh.cert_chain_address != 0);
	assert_int_equal(fk.calls[i + 1].p.pdh.cert_chain_len, PLAT_LEN);
}

static void test_platform_chain(void **state)
{
	uint8_t want[16 + PDH_LEN + PLAT_LEN + AMD_LEN];
	size_t wlen = mk_chain(want, pdh_fw, PDH_LEN, pdh_fw + PDH_LEN, PLAT_LEN, amd_file, AMD_LEN);
	void *chain = NULL;
	size_t len = 0;
	uint32_t fw = 0xdead;
	struct cc c;
	(void)state;

	open_ok(&c);
	assert_int_equal(cc_sev_ops.platform_chain(&c, &chain, &len, &fw), 0);
	assert_int_equal(fk.ncalls, 2);
	check_pdh_export(0);
	assert_string_equal(fk.path, AMD_PATH);
	assert_int_equal(fk.amd_read, AMD_LEN);
	assert_int_equal(fk.closed[fk.ncloses - 1], AMD_FD);
	assert_int_equal(len, wlen);
	assert_memory_equal(chain, want, wlen);
	free(chain);

	/* no AMD chain on this host: refused, and said why (log) */
	fk.ncalls = 0;
	fk.amd_errno = ENOENT;
	chain = NULL;
	assert_int_equal(cc_sev_ops.platform_chain(&c, &chain, &len, &fw), -ENOENT);
	assert_null(chain);

	/* the firmware refuses the export */
	fk.ncalls = 0;
	fk.amd_errno = 0;
	fk.fail_req = SEV_ISSUE_CMD;
	fk.fail_errno = EIO;
	fk.fail_fw = SEV_RET_INVALID_PLATFORM_STATE;
	assert_int_equal(cc_sev_ops.platform_chain(&c, &chain, &len, &fw), -EIO);
	assert_int_equal(fw, SEV_RET_INVALID_PLATFORM_STATE);
	assert_null(chain);
	cc_sev_ops.close(&c);
}

static void test_send_start(void **state)
{
	uint8_t peer_pdh[24], peer_plat[48], peer_amd[32], peer[16 + 24 + 48 + 32];
	uint8_t own[16 + PDH_LEN + PLAT_LEN];
	size_t plen, olen = mk_chain(own, pdh_fw, PDH_LEN, pdh_fw + PDH_LEN, PLAT_LEN, NULL, 0);
	struct cc_send_session ss;
	uint32_t fw = 0xdead;
	struct call *k;
	struct cc c;
	(void)state;

	memset(peer_pdh, 0x11, sizeof(peer_pdh));
	memset(peer_plat, 0x22, sizeof(peer_plat));
	memset(peer_amd, 0x33, sizeof(peer_amd));
	plen = mk_chain(peer, peer_pdh, sizeof(peer_pdh), peer_plat, sizeof(peer_plat), peer_amd,
			sizeof(peer_amd));
	open_ok(&c);
	memset(&ss, 0, sizeof(ss));
	assert_int_equal(cc_sev_ops.send_start(&c, peer, plen, &ss, &fw), 0);
	assert_int_equal(fw, 0);
	assert_int_equal(fk.ncalls, 4);
	check_pdh_export(0);              /* our own PDH, before the guest leaves RUNNING */
	for (int i = 2; i < 4; i++) {
		k = &fk.calls[i];
		assert_int_equal(k->fd, VM_FD);
		assert_int_equal(k->req, KVM_MEMORY_ENCRYPT_OP);
		assert_int_equal(k->cmd.id, KVM_SEV_SEND_START);
		assert_int_equal(k->cmd.sev_fd, SEV_FD);
	}
	/* the length query: everything zero */
	k = &fk.calls[2];
	assert_int_equal(k->p.send_start.session_len, 0);
	assert_int_equal(k->p.send_start.session_uaddr, 0);
	assert_int_equal(k->p.send_start.pdh_cert_uaddr, 0);
	/* the real call: the peer's three parts, our session buffer */
	k = &fk.calls[3];
	assert_int_equal(k->p.send_start.pdh_cert_uaddr, (uintptr_t)(peer + 16));
	assert_int_equal(k->p.send_start.pdh_cert_len, sizeof(peer_pdh));
	assert_int_equal(k->p.send_start.plat_certs_uaddr, (uintptr_t)(peer + 16 + 24));
	assert_int_equal(k->p.send_start.plat_certs_len, sizeof(peer_plat));
	assert_int_equal(k->p.send_start.amd_certs_uaddr, (uintptr_t)(peer + 16 + 24 + 48));
	assert_int_equal(k->p.send_start.amd_certs_len, sizeof(peer_amd));
	assert_int_equal(k->p.send_start.session_uaddr, (uintptr_t)ss.session);
	assert_int_equal(k->p.send_start.session_len, CC_SESSION_LEN);
	/* out: policy, session, and our chain without an AMD part */
	assert_int_equal(ss.policy, POLICY_NODBG | POLICY_NOKS);
	assert_memory_equal(ss.session, session_fw, CC_SESSION_LEN);
	assert_int_equal(ss.chain_len, olen);
	assert_memory_equal(ss.chain, own, olen);
	free(ss.chain);

	/* a session length other than the SEV API's: refused before SEND_START runs */
	fk.ncalls = 0;
	fk.session_len = 64;
	memset(&ss, 0, sizeof(ss));
	assert_int_equal(cc_sev_ops.send_start(&c, peer, plen, &ss, &fw), -EPROTO);
	assert_int_equal(fk.ncalls, 3);
	assert_null(ss.chain);

	/* a chain that is not tern's framing, or lacks the AMD part: no call */
	fk.ncalls = 0;
	fk.session_len = CC_SESSION_LEN;
	assert_int_equal(cc_sev_ops.send_start(&c, "-----BEGIN", 10, &ss, &fw), -EINVAL);
	plen = mk_chain(peer, peer_pdh, sizeof(peer_pdh), peer_plat, sizeof(peer_plat), NULL, 0);
	assert_int_equal(cc_sev_ops.send_start(&c, peer, plen, &ss, &fw), -EINVAL);
	peer[4] ^= 1;                     /* lengths no longer add up */
	assert_int_equal(cc_sev_ops.send_start(&c, peer, plen, &ss, &fw), -EINVAL);
	assert_int_equal(fk.ncalls, 0);
	cc_sev_ops.close(&c);
}

static void test_send_update_data(void **state)
{
	static uint8_t ram[3 * 4096] __attribute__((aligned(4096)));
	uint8_t trans[4096];
	struct cc_packet pk;
	uint32_t fw = 0xdead;
	struct call *k;
	struct cc c;
	(void)state;

	open_ok(&c);
	memset(&pk, 0, sizeof(pk));
	assert_int_equal(cc_sev_ops.send_update_data(&c, 0x5000, ram + 4096, 4096, &pk, trans,
						     sizeof(trans), &fw), 0);
	assert_int_equal(fw, 0);
	k = only_op(KVM_SEV_SEND_UPDATE_DATA);
	assert_int_equal(k->p.send_update.hdr_uaddr, (uintptr_t)pk.hdr);
	assert_int_equal(k->p.send_update.hdr_len, CC_PKT_HDR_LEN);
	assert_int_equal(k->p.send_update.guest_uaddr, (uintptr_t)(ram + 4096));
	assert_int_equal(k->p.send_update.guest_len, 4096);
	assert_int_equal(k->p.send_update.trans_uaddr, (uintptr_t)trans);
	assert_int_equal(k->p.send_update.trans_len, 4096);
	assert_int_equal(pk.gpa, 0x5000);
	assert_int_equal(pk.seq, 0);
	assert_int_equal(pk.len, 4096);
	assert_int_equal(pk.hdr[0], 0x4e);
	assert_int_equal(trans[4095], 0xc7);

	/* KVM pins one page: crossing a page boundary, zero or too long is
	 * refused here; a transport buffer too small too */
	assert_int_equal(cc_sev_ops.send_update_data(&c, 0, ram + 4000, 200, &pk, trans, sizeof(trans), &fw),
			 -EINVAL);
	assert_int_equal(cc_sev_ops.send_update_data(&c, 0, ram, 0, &pk, trans, sizeof(trans), &fw), -EINVAL);
	assert_int_equal(cc_sev_ops.send_update_data(&c, 0, ram, 8192, &pk, trans, sizeof(trans), &fw), -EINVAL);
	assert_int_equal(cc_sev_ops.send_update_data(&c, 0, ram, 4096, &pk, trans, 100, &fw), -EMSGSIZE);
	assert_int_equal(fk.ncalls, 0);
	cc_sev_ops.close(&c);
}

static void test_receive(void **state)
{
	static uint8_t ram[2 * 4096] __attribute__((aligned(4096)));
	uint8_t session[CC_SESSION_LEN], peer_pdh[24], chain[16 + 24], trans[4096];
	size_t clen;
	struct cc_packet pk = { .gpa = 0x1000, .seq = 9, .len = 4096 };
	uint32_t fw = 0xdead, handle = 0;
	struct call *k;
	struct cc c;
	(void)state;

	memset(session, 0x5e, sizeof(session));
	memset(peer_pdh, 0x11, sizeof(peer_pdh));
	clen = mk_chain(chain, peer_pdh, sizeof(peer_pdh), NULL, 0, NULL, 0);   /* a sender's chain */
	open_ok(&c);
	assert_int_equal(cc_sev_ops.receive_start(&c, POLICY_NODBG, session, chain, clen, &handle, &fw), 0);
	assert_int_equal(fw, 0);
	k = only_op(KVM_SEV_RECEIVE_START);
	assert_int_equal(k->p.receive_start.handle, 0);     /* a new context */
	assert_int_equal(k->p.receive_start.policy, POLICY_NODBG);
	assert_int_equal(k->p.receive_start.pdh_uaddr, (uintptr_t)(chain + 16));
	assert_int_equal(k->p.receive_start.pdh_len, sizeof(peer_pdh));
	assert_int_equal(k->p.receive_start.session_uaddr, (uintptr_t)session);
	assert_int_equal(k->p.receive_start.session_len, CC_SESSION_LEN);
	assert_int_equal(handle, HANDLE + 1);
	assert_int_equal(c.m.handle, HANDLE + 1);
	assert_int_equal(c.m.policy, POLICY_NODBG);

	memset(pk.hdr, 0x4d, sizeof(pk.hdr));
	assert_int_equal(cc_sev_ops.receive_update_data(&c, &pk, ram + 4096, trans, &fw), 0);
	k = only_op(KVM_SEV_RECEIVE_UPDATE_DATA);
	assert_int_equal(k->p.receive_update.hdr_uaddr, (uintptr_t)pk.hdr);
	assert_int_equal(k->p.receive_update.hdr_len, CC_PKT_HDR_LEN);
	assert_int_equal(k->p.receive_update.guest_uaddr, (uintptr_t)(ram + 4096));
	assert_int_equal(k->p.receive_update.guest_len, 4096);
	assert_int_equal(k->p.receive_update.trans_uaddr, (uintptr_t)trans);
	assert_int_equal(k->p.receive_update.trans_len, 4096);

	pk.len = 200;                     /* crosses into the next page */
	assert_int_equal(cc_sev_ops.receive_update_data(&c, &pk, ram + 4000, trans, &fw), -EINVAL);
	assert_int_equal(cc_sev_ops.receive_start(&c, 0, session, "x", 1, &handle, &fw), -EINVAL);
	assert_int_equal(fk.ncalls, 0);

	assert_int_equal(cc_sev_ops.receive_finish(&c, &fw), 0);
	k = only_op(KVM_SEV_RECEIVE_FINISH);
	assert_int_equal(k->cmd.data, 0);
	cc_sev_ops.close(&c);
}

static void test_send_finish_cancel(void **state)
{
	uint32_t fw = 0xdead;
	struct call *k;
	struct cc c;
	(void)state;

	open_ok(&c);
	assert_int_equal(cc_sev_ops.send_finish(&c, &fw), 0);
	k = only_op(KVM_SEV_SEND_FINISH);
	assert_int_equal(k->cmd.data, 0);
	assert_int_equal(cc_sev_ops.send_cancel(&c, &fw), 0);
	k = only_op(KVM_SEV_SEND_CANCEL);
	assert_int_equal(k->cmd.data, 0);
	assert_int_equal(fw, 0);
	cc_sev_ops.close(&c);
}

/* move and mirror: KVM_ENABLE_CAP on this VM, the other VM's fd in args[0] */
static void test_move_mirror(void **state)
{
	const struct { uint32_t cap; int (*op)(struct cc *, int, uint32_t *); } t[] = {
		{ KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM, cc_sev_ops.move_from },
		{ KVM_CAP_VM_COPY_ENC_CONTEXT_FROM, cc_sev_ops.mirror_from },
	};
	struct cc c;
	(void)state;

	open_ok(&c);
	assert_int_equal(cc_sev_ops.context_fd(&c), VM_FD);
	for (size_t i = 0; i < 2; i++) {
		uint32_t fw = 0xdead;
		struct call *k;
		fk.fail_req = 0;
		assert_int_equal(t[i].op(&c, OTHER_VM_FD, &fw), 0);
		assert_int_equal(fw, 0);
		assert_int_equal(fk.ncalls, 1);
		k = &fk.calls[0];
		assert_int_equal(k->fd, VM_FD);
		assert_int_equal(k->req, KVM_ENABLE_CAP);
		assert_int_equal(k->p.cap.cap, t[i].cap);
		assert_int_equal(k->p.cap.flags, 0);
		assert_int_equal(k->p.cap.args[0], OTHER_VM_FD);
		assert_int_equal(k->p.cap.args[1], 0);
		fk.ncalls = 0;

		/* KVM's refusals come back as they are (sev-semantics.md 1, 2) */
		const int errs[] = { EBADF, EINVAL, EBUSY, EIO };
		for (size_t e = 0; e < 4; e++) {
			fk.fail_req = KVM_ENABLE_CAP;
			fk.fail_errno = errs[e];
			fw = 0xdead;
			assert_int_equal(t[i].op(&c, OTHER_VM_FD, &fw), -errs[e]);
			assert_int_equal(fw, 0);
		}
		fk.ncalls = 0;
	}
	cc_sev_ops.close(&c);
}

/* A mirror VM's whole life as tern drives it (vm.c cc_setup for
 * VM_CC_MIRROR, then vm__create_vcpus, then vm__destroy): open, the copy,
 * its vCPUs, close. The kernel sees exactly one call, KVM_ENABLE_CAP(COPY)
 * with the owner's fd, before any vCPU exists; never INIT, a region or a
 * launch or transport command, which sev-semantics.md 1 forbids on a mirror. */
static void test_mirror_life_makes_one_call(void **state)
{
	struct cc c;
	uint32_t fw = 0;
	(void)state;

	open_ok(&c);
	assert_int_equal(cc_sev_ops.mirror_from(&c, OTHER_VM_FD, &fw), 0);
	assert_int_equal(cc_sev_ops.vcpus_created(&c, 2), 0);
	cc_sev_ops.close(&c);
	assert_int_equal(fk.ncalls, 1);
	assert_int_equal(fk.calls[0].fd, VM_FD);
	assert_int_equal(fk.calls[0].req, KVM_ENABLE_CAP);
	assert_int_equal(fk.calls[0].p.cap.cap, KVM_CAP_VM_COPY_ENC_CONTEXT_FROM);
	assert_int_equal(fk.calls[0].p.cap.args[0], OTHER_VM_FD);
	assert_int_equal(fk.ncloses, 1);
	assert_int_equal(fk.closed[0], SEV_FD);
}

/* Tokens never reached the kernel: refused without a call. */
static void test_tokens(void **state)
{
	struct cc_token t = { 0x1234 };
	uint32_t fw = 0xdead;
	struct cc c;
	(void)state;

	open_ok(&c);
	assert_int_equal(cc_sev_ops.local_send(&c, &t, &fw), -EOPNOTSUPP);
	assert_int_equal(fw, 0);
	assert_int_equal(t.token, 0x1234);
	fw = 0xdead;
	assert_int_equal(cc_sev_ops.local_receive(&c, &t, &fw), -EOPNOTSUPP);
	assert_int_equal(fw, 0);
	assert_int_equal(fk.ncalls, 0);
	cc_sev_ops.close(&c);
}

/* Every transport command: the firmware's refusal surfaces as -EIO + fw. */
static void test_transport_firmware_errors(void **state)
{
	static uint8_t ram[4096] __attribute__((aligned(4096)));
	uint8_t chain[16 + 8 + 8 + 8], session[CC_SESSION_LEN] = { 0 }, trans[4096];
	size_t clen = mk_chain(chain, "pdhpdhpd", 8, "platplat", 8, "amdamdam", 8);
	const int ids[] = { KVM_SEV_SEND_START, KVM_SEV_SEND_UPDATE_DATA, KVM_SEV_SEND_FINISH,
			    KVM_SEV_SEND_CANCEL, KVM_SEV_RECEIVE_START, KVM_SEV_RECEIVE_UPDATE_DATA,
			    KVM_SEV_RECEIVE_FINISH };
	(void)state;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		struct cc_send_session ss = { 0 };
		struct cc_packet pk = { .len = 4096 };
		uint32_t fw = 0, handle = 0x5a5a;
		struct cc c;
		int r = 0;

		open_ok(&c);
		fk.fail_id = ids[i];
		fk.fail_errno = EIO;
		fk.fail_fw = SEV_RET_INVALID_GUEST_STATE;
		switch (ids[i]) {
		case KVM_SEV_SEND_START:          r = cc_sev_ops.send_start(&c, chain, clen, &ss, &fw); break;
		case KVM_SEV_SEND_UPDATE_DATA:
			r = cc_sev_ops.send_update_data(&c, 0, ram, 4096, &pk, trans, sizeof(trans), &fw);
			break;
		case KVM_SEV_SEND_FINISH:         r = cc_sev_ops.send_finish(&c, &fw); break;
		case KVM_SEV_SEND_CANCEL:         r = cc_sev_ops.send_cancel(&c, &fw); break;
		case KVM_SEV_RECEIVE_START:
			r = cc_sev_ops.receive_start(&c, 1, session, chain, clen, &handle, &fw);
			break;
		case KVM_SEV_RECEIVE_UPDATE_DATA: r = cc_sev_ops.receive_update_data(&c, &pk, ram, trans, &fw); break;
		case KVM_SEV_RECEIVE_FINISH:      r = cc_sev_ops.receive_finish(&c, &fw); break;
		}
		if (r != -EIO || fw != SEV_RET_INVALID_GUEST_STATE)
			fail_msg("command %d: r=%d fw=%u", ids[i], r, fw);
		assert_int_equal(fk.calls[fk.ncalls - 1].cmd.id, ids[i]);
		assert_int_equal(handle, 0x5a5a);
		assert_null(ss.chain);
		cc_sev_ops.close(&c);
	}
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
		cmocka_unit_test_setup_teardown(test_es_launch_update_vmsa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launch_start_without_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_firmware_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_measure_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_platform_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_update_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_finish_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_mirror, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror_life_makes_one_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_firmware_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
