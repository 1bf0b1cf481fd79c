/* emu.c - the cc back-end for the emulated platform: every operation is a
 * request to tern-psp on this VM's handle. If no daemon answers at the
 * socket, tern starts one (the embedded default) so a user needs no extra
 * step. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cc/cc.h"
#include "cc/psp_client.h"
#include "util/log.h"

/* tern-psp next to the running tern binary */
static int start_daemon(const char *sock, char *err, size_t errlen)
{
	char self[PATH_MAX], bin[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		errbuf_set(err, errlen, "cannot find my own binary to start tern-psp");
		return -1;
	}
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	*slash = '\0';
	snprintf(bin, sizeof(bin), "%s/tern-psp", self);
	if (access(bin, X_OK)) {
		errbuf_set(err, errlen, "no tern-psp running at %s and none to start at %s", sock, bin);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		errbuf_set(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* detached: the platform outlives this VMM (handoff needs that) */
		setsid();
		if (fork() > 0)
			_exit(0);
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
		}
		execl(bin, "tern-psp", "--socket", sock, (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	for (int i = 0; i < 200; i++) {           /* up to 10 s */
		int fd = psp_connect(sock);
		if (fd >= 0)
			return fd;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	errbuf_set(err, errlen, "started %s but it does not answer at %s", bin, sock);
	return -1;
}

static int emu_open(struct cc *c, int kvm_vm_fd, char *err, size_t errlen)
{
	struct psp_reply r;
	int s;
	c->kvm_vm_fd = kvm_vm_fd;
	if (!c->socket[0])
		psp_default_socket(c->socket, sizeof(c->socket));
	c->platform = psp_connect(c->socket);
	if (c->platform < 0 && (c->platform == -ENOENT || c->platform == -ECONNREFUSED)) {
		log_info("no tern-psp at %s: starting one", c->socket);
		c->platform = start_daemon(c->socket, err, errlen);
		if (c->platform < 0)
			return -1;
	} else if (c->platform < 0) {
		errbuf_set(err, errlen, "cannot reach tern-psp at %s: %s", c->socket, strerror(-c->platform));
		return -1;
	}
	s = psp_call(c->platform, PSP_OP_HELLO, 0, NULL, 0, -1, &r);
	psp_reply_free(&r);
	if (s) {
		errbuf_set(err, errlen, "tern-psp at %s refused the handshake: %s", c->socket, strerror(-s));
		return -1;
	}
	c->handle_fd = psp_vm_create(c->platform, NULL);
	if (c->handle_fd < 0) {
		errbuf_set(err, errlen, "tern-psp could not create a VM: %s", strerror(-c->handle_fd));
		return -1;
	}
	return 0;
}

static void emu_close(struct cc *c)
{
	if (c->handle_fd >= 0)
		close(c->handle_fd);
	if (c->platform >= 0)
		close(c->platform);
	c->handle_fd = c->platform = -1;
}

static int emu_init(struct cc *c, bool es, uint32_t *fw)
{
	return psp_enc(c->handle_fd, es ? PSP_SEV_ES_INIT : PSP_SEV_INIT, NULL, 0, fw);
}

static int emu_register_ram(struct cc *c, int memfd, uint64_t gpa, uint64_t size, void *hva)
{
	struct psp_region g = { gpa, size, gpa };
	struct psp_reply r;
	(void)hva;
	int s = psp_call(c->handle_fd, PSP_OP_REGION_REG, 0, &g, sizeof(g), memfd, &r);
	psp_reply_free(&r);
	return s;
}

static int emu_vcpus(struct cc *c, int n)
{
	struct psp_vcpus v = { (uint32_t)n };
	struct psp_reply r;
	int s = psp_call(c->handle_fd, PSP_OP_VCPU_CREATE, 0, &v, sizeof(v), -1, &r);
	psp_reply_free(&r);
	return s;
}

static int emu_launch_start(struct cc *c, const struct cc_launch *l, uint32_t *handle, uint32_t *fw)
{
	size_t len = sizeof(struct psp_launch_start) + (l->session ? l->owner_pub_len : 0);
	uint8_t *buf = calloc(1, len);
	struct psp_launch_start ls = { .policy = l->policy };
	struct psp_reply r;
	int s;
	if (!buf)
		return -ENOMEM;
	if (l->session) {
		ls.flags = 1;
		memcpy(ls.session, l->session, PSP_SESSION_LEN);
		ls.owner_pub_len = (uint32_t)l->owner_pub_len;
		memcpy(buf + sizeof(ls), l->owner_pub, l->owner_pub_len);
	}
	memcpy(buf, &ls, sizeof(ls));
	s = psp_call(c->handle_fd, PSP_OP_ENC, PSP_SEV_LAUNCH_START, buf, len, -1, &r);
	free(buf);
	if (fw)
		*fw = r.fw_error;
	if (!s && r.len == sizeof(struct psp_handle_reply))
		memcpy(handle, r.data, sizeof(*handle));
	psp_reply_free(&r);
	return s;
}

static int emu_launch_update_data(struct cc *c, uint64_t gpa, void *hva, uint32_t len, uint32_t *fw)
{
	struct psp_range g = { gpa, len, 0 };
	(void)hva;
	return psp_enc(c->handle_fd, PSP_SEV_LAUNCH_UPDATE_DATA, &g, sizeof(g), fw);
}

static int emu_launch_measure(struct cc *c, struct cc_measurement *m, uint32_t *fw)
{
	struct psp_reply r;
	struct psp_measure_reply mr;
	int s = psp_call(c->handle_fd, PSP_OP_ENC, PSP_SEV_LAUNCH_MEASURE, NULL, 0, -1, &r);
	if (fw)
		*fw = r.fw_error;
	if (!s && r.len != sizeof(mr))
		s = -EPROTO;
	if (!s) {
		memcpy(&mr, r.data, sizeof(mr));
		memcpy(m->measurement, mr.measurement, 32);
		memcpy(m->mnonce, mr.mnonce, 16);
		m->api_major = mr.api_major;
		m->api_minor = mr.api_minor;
		m->build = mr.build;
		m->policy = mr.policy;
	}
	psp_reply_free(&r);
	return s;
}

static int emu_launch_secret(struct cc *c, uint64_t gpa, void *hva, const uint8_t hdr[PSP_PKT_HDR_LEN],
			     const uint8_t *cipher, uint32_t len, uint32_t *fw)
{
	struct psp_packet pk = { .gpa = gpa, .len = len };
	uint8_t *buf = malloc(sizeof(pk) + len);
	int s;
	(void)hva;
	if (!buf)
		return -ENOMEM;
	memcpy(pk.hdr, hdr, PSP_PKT_HDR_LEN);
	memcpy(buf, &pk, sizeof(pk));
	memcpy(buf + sizeof(pk), cipher, len);
	s = psp_enc(c->handle_fd, PSP_SEV_LAUNCH_SECRET, buf, sizeof(pk) + len, fw);
	free(buf);
	return s;
}

static int emu_launch_finish(struct cc *c, uint32_t *fw)
{
	return psp_enc(c->handle_fd, PSP_SEV_LAUNCH_FINISH, NULL, 0, fw);
}

static int emu_guest_status(struct cc *c, struct psp_guest_status *st, uint32_t *fw)
{
	struct psp_reply r;
	int s = psp_call(c->handle_fd, PSP_OP_ENC, PSP_SEV_GUEST_STATUS, NULL, 0, -1, &r);
	if (fw)
		*fw = r.fw_error;
	if (!s && r.len == sizeof(*st))
		memcpy(st, r.data, sizeof(*st));
	else if (!s)
		s = -EPROTO;
	psp_reply_free(&r);
	return s;
}

const struct cc_ops cc_emu_ops = {
	.name = "emu",
	.open = emu_open,
	.close = emu_close,
	.init = emu_init,
	.register_ram = emu_register_ram,
	.vcpus_created = emu_vcpus,
	.launch_start = emu_launch_start,
	.launch_update_data = emu_launch_update_data,
	.launch_measure = emu_launch_measure,
	.launch_secret = emu_launch_secret,
	.launch_finish = emu_launch_finish,
	.guest_status = emu_guest_status,
};
