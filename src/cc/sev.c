/* sev.c - the cc back-end for AMD SEV hardware: every operation is one
 * KVM_MEMORY_ENCRYPT_OP (or KVM_MEMORY_ENCRYPT_REG_REGION) on the KVM VM,
 * with /dev/sev as the firmware's file descriptor, exactly as the kernel's
 * UAPI (<linux/kvm.h>, <linux/psp-sev.h>) and
 * Documentation/virt/kvm/x86/amd-memory-encryption.rst describe it.
 *
 * Written against the UAPI headers and tested only against a fake ioctl
 * layer (tests/unit/test_cc_sev.c); it has never run on AMD hardware.
 * The system calls go through cc_sev_sys (sev_sys.h) so tests can fake
 * them. See docs/cc.md, "The sev back-end".
 *
 * State kept in struct cc: platform = the /dev/sev fd; m.api_major,
 * m.api_minor, m.build from PLATFORM_STATUS at open; m.policy and m.handle
 * from LAUNCH_START. LAUNCH_MEASURE reports them with the measurement. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/psp-sev.h>

#include "cc/cc.h"
#include "cc/sev_sys.h"
#include "util/log.h"

#define SEV_DEV          "/dev/sev"
#define SEV_MEASURE_LEN  48               /* measurement(32) || mnonce(16) */
#define SEV_BLOB_MAX     16384            /* KVM's SEV_FW_BLOB_MAX_SIZE */
#define SEV_NO_FW_CALL   0xffffffffu      /* SEV_RET_NO_FW_CALL: firmware never called */

static int sys_open(const char *path, int flags)
{
	return open(path, flags);
}

static int sys_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg);
}

struct cc_sev_sys cc_sev_sys = { sys_open, sys_ioctl, close };

static int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

static uint64_t uaddr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* The firmware's status; none when the kernel never reached the firmware. */
static void set_fw(uint32_t *fw, uint32_t e)
{
	if (fw)
		*fw = e == SEV_NO_FW_CALL ? 0 : e;
}

/* One KVM_MEMORY_ENCRYPT_OP on the VM. sev_fd is always /dev/sev (INIT and
 * LAUNCH_START need it; KVM ignores it for the others). */
static int sev_op(struct cc *c, uint32_t id, void *data, uint32_t *fw)
{
	struct kvm_sev_cmd cmd;
	int r;

	memset(&cmd, 0, sizeof(cmd));
	cmd.id = id;
	cmd.data = uaddr(data);
	cmd.sev_fd = (uint32_t)c->platform;
	r = cc_sev_sys.ioctl(c->kvm_vm_fd, KVM_MEMORY_ENCRYPT_OP, &cmd) < 0 ? neg_errno() : 0;
	set_fw(fw, cmd.error);
	return r;
}

static int sev_open(struct cc *c, int kvm_vm_fd, char *err, size_t errlen)
{
	struct sev_user_data_status st;
	struct sev_issue_cmd ic;
	int fd, r;

	c->kvm_vm_fd = kvm_vm_fd;
	c->platform = -1;
	fd = cc_sev_sys.open(SEV_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = neg_errno();
		if (r == -ENOENT)
			errbuf_set(err, errlen, "no /dev/sev: this host has no AMD SEV firmware (use --cc emu)");
		else if (r == -EACCES || r == -EPERM)
			errbuf_set(err, errlen, "cannot open /dev/sev: %s (tern needs read-write access to it)",
				   strerror(-r));
		else
			errbuf_set(err, errlen, "cannot open /dev/sev: %s", strerror(-r));
		return r;
	}

	/* the firmware's API version and build, reported with the measurement */
	memset(&st, 0, sizeof(st));
	memset(&ic, 0, sizeof(ic));
	ic.cmd = SEV_PLATFORM_STATUS;
	ic.data = uaddr(&st);
	if (cc_sev_sys.ioctl(fd, SEV_ISSUE_CMD, &ic) < 0) {
		r = neg_errno();
		errbuf_set(err, errlen, "SEV PLATFORM_STATUS on /dev/sev failed: %s (firmware status 0x%x)",
			   strerror(-r), (unsigned)ic.error);
		goto fail;
	}

	/* A NULL argument asks KVM whether SEV is enabled: 0 if so, ENOTTY if
	 * not (older kernels run the command and fail with EFAULT: go on). */
	if (cc_sev_sys.ioctl(kvm_vm_fd, KVM_MEMORY_ENCRYPT_OP, NULL) < 0 && errno == ENOTTY) {
		r = -ENOTTY;
		errbuf_set(err, errlen, "/dev/sev is present but KVM does not offer SEV on this host "
			   "(is kvm_amd loaded with sev=1, and SEV enabled in the firmware setup?)");
		goto fail;
	}

	c->platform = fd;
	c->m.api_major = st.api_major;
	c->m.api_minor = st.api_minor;
	c->m.build = st.build;
	return 0;
fail:
	cc_sev_sys.close(fd);
	return r;
}

static void sev_close(struct cc *c)
{
	if (c->platform >= 0)
		cc_sev_sys.close(c->platform);
	c->platform = -1;
}

static int sev_init(struct cc *c, bool es, uint32_t *fw)
{
	return sev_op(c, es ? KVM_SEV_ES_INIT : KVM_SEV_INIT, NULL, fw);
}

/* KVM pins the range (it counts against RLIMIT_MEMLOCK without
 * CAP_IPC_LOCK). The memfd and GPA are the emulated platform's business. */
static int sev_register_ram(struct cc *c, int memfd, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_enc_region reg;
	(void)memfd;
	(void)gpa;
	memset(&reg, 0, sizeof(reg));
	reg.addr = uaddr(hva);
	reg.size = size;
	return cc_sev_sys.ioctl(c->kvm_vm_fd, KVM_MEMORY_ENCRYPT_REG_REGION, &reg) < 0 ? neg_errno() : 0;
}

static int sev_vcpus(struct cc *c, int n)
{
	(void)c;
	(void)n;
	return 0;                         /* KVM tracks the vCPUs itself */
}

/* The owner's key and session go to the firmware as given, and only
 * together (as the emu back-end sends them). */
static int sev_launch_start(struct cc *c, const struct cc_launch *l, uint32_t *handle, uint32_t *fw)
{
	struct kvm_sev_launch_start ls;
	int r;

	memset(&ls, 0, sizeof(ls));       /* handle 0: the firmware makes a new context */
	ls.policy = l->policy;
	if (l->session) {
		if (l->owner_pub_len > UINT32_MAX)
			return -EINVAL;
		ls.dh_uaddr = uaddr(l->owner_pub);
		ls.dh_len = (uint32_t)l->owner_pub_len;
		ls.session_uaddr = uaddr(l->session);
		ls.session_len = PSP_SESSION_LEN;
	}
	r = sev_op(c, KVM_SEV_LAUNCH_START, &ls, fw);
	if (r)
		return r;
	c->m.policy = l->policy;
	c->m.handle = ls.handle;
	if (handle)
		*handle = ls.handle;
	return 0;
}

static int sev_launch_update_data(struct cc *c, uint64_t gpa, void *hva, uint32_t len, uint32_t *fw)
{
	struct kvm_sev_launch_update_data u;
	(void)gpa;
	memset(&u, 0, sizeof(u));
	u.uaddr = uaddr(hva);
	u.len = len;
	return sev_op(c, KVM_SEV_LAUNCH_UPDATE_DATA, &u, fw);
}

static int sev_launch_measure(struct cc *c, struct cc_measurement *m, uint32_t *fw)
{
	struct kvm_sev_launch_measure q;
	uint8_t *blob;
	uint32_t n;
	int r;

	/* Length query: with len 0 KVM asks the firmware for the blob's
	 * length and writes it to len; the firmware answers INVALID_LEN, so
	 * the call itself fails. Like QEMU, trust len, not the return value. */
	memset(&q, 0, sizeof(q));
	r = sev_op(c, KVM_SEV_LAUNCH_MEASURE, &q, fw);
	if (q.len == 0)
		return r ? r : -EPROTO;
	if (q.len < SEV_MEASURE_LEN || q.len > SEV_BLOB_MAX) {
		set_fw(fw, 0);
		return -EPROTO;
	}
	n = q.len;
	blob = calloc(1, n);
	if (!blob)
		return -ENOMEM;
	memset(&q, 0, sizeof(q));
	q.uaddr = uaddr(blob);
	q.len = n;
	r = sev_op(c, KVM_SEV_LAUNCH_MEASURE, &q, fw);
	if (!r) {
		memcpy(m->measurement, blob, sizeof(m->measurement));
		memcpy(m->mnonce, blob + sizeof(m->measurement), sizeof(m->mnonce));
		m->api_major = c->m.api_major;
		m->api_minor = c->m.api_minor;
		m->build = c->m.build;
		m->policy = c->m.policy;
		m->handle = c->m.handle;
	}
	free(blob);
	return r;
}

static int sev_launch_secret(struct cc *c, uint64_t gpa, void *hva, const uint8_t hdr[PSP_PKT_HDR_LEN],
			     const uint8_t *cipher, uint32_t len, uint32_t *fw)
{
	struct kvm_sev_launch_secret s;
	(void)gpa;
	memset(&s, 0, sizeof(s));
	s.hdr_uaddr = uaddr(hdr);
	s.hdr_len = PSP_PKT_HDR_LEN;
	s.guest_uaddr = uaddr(hva);
	s.guest_len = len;
	s.trans_uaddr = uaddr(cipher);
	s.trans_len = len;
	return sev_op(c, KVM_SEV_LAUNCH_SECRET, &s, fw);
}

static int sev_launch_finish(struct cc *c, uint32_t *fw)
{
	return sev_op(c, KVM_SEV_LAUNCH_FINISH, NULL, fw);
}

static int sev_guest_status(struct cc *c, struct psp_guest_status *st, uint32_t *fw)
{
	struct kvm_sev_guest_status g;
	int r;

	memset(&g, 0, sizeof(g));
	r = sev_op(c, KVM_SEV_GUEST_STATUS, &g, fw);
	if (!r) {
		st->handle = g.handle;
		st->policy = g.policy;
		st->state = g.state;
	}
	return r;
}

const struct cc_ops cc_sev_ops = {
	.name = "sev",
	.open = sev_open,
	.close = sev_close,
	.init = sev_init,
	.register_ram = sev_register_ram,
	.vcpus_created = sev_vcpus,
	.launch_start = sev_launch_start,
	.launch_update_data = sev_launch_update_data,
	.launch_measure = sev_launch_measure,
	.launch_secret = sev_launch_secret,
	.launch_finish = sev_launch_finish,
	.guest_status = sev_guest_status,
};
