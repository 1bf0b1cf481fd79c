/* emu.c - the cc back-end for the emulated platform: every operation is a
 * request to tern-psp on this VM's handle. If no daemon answers at the
 * socket, tern starts one (the embedded default) so a user needs no extra
 * step. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cc/cc.h"
#include "cc/psp_client.h"
#include "cc/psp_daemon.h"
#include "util/log.h"

/* The platform connection: --psp-socket, else $TERN_PSP_SOCKET, else the
 * host's system daemon (systemd's tern-psp.socket) when it answers, else
 * the per-user default. A daemon is started only when none answers. */
static int platform_connect(struct cc *c, char *err, size_t errlen)
{
	const char *env = getenv("TERN_PSP_SOCKET");
	char bin[PATH_MAX];
	int fd;

	if (!c->socket[0] && !(env && *env)) {
		fd = psp_connect(PSP_SYSTEM_SOCKET);
		if (fd >= 0) {
			snprintf(c->socket, sizeof(c->socket), "%s", PSP_SYSTEM_SOCKET);
			return fd;
		}
	}
	if (!c->socket[0])
		psp_default_socket(c->socket, sizeof(c->socket));
	fd = psp_connect(c->socket);
	if (fd >= 0)
		return fd;
	if (fd != -ENOENT && fd != -ECONNREFUSED) {
		errbuf_set(err, errlen, "cannot reach tern-psp at %s: %s", c->socket, strerror(-fd));
		return -1;
	}
	log_info("no tern-psp at %s: starting one", c->socket);
	if (psp_daemon__path(bin, sizeof(bin), err, errlen))
		return -1;
	return psp_daemon__start(bin, c->socket, err, errlen);
}

/* The platform connection's watcher: blocks until tern-psp hangs up (or
 * close wakes it). Without it a dead platform surfaced only as EBADF or
 * EPIPE in the middle of the next move. */
static void *watch_platform(void *arg)
{
	struct cc *c = arg;
	struct pollfd p[2] = { { .fd = c->platform, .events = POLLRDHUP },
			       { .fd = c->watch_wake, .events = POLLIN } };
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (p[1].revents)
			return NULL;              /* emu_close */
		if (p[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
			__atomic_store_n(&c->lost, 1, __ATOMIC_RELEASE);
			log_err("%s; moves of this VM are refused", cc__lost(c));
			return NULL;
		}
	}
}

static void watch_start(struct cc *c)
{
	c->watch_wake = eventfd(0, EFD_CLOEXEC);
	if (c->watch_wake < 0 || pthread_create(&c->watcher, NULL, watch_platform, c)) {
		log_err("cannot watch the platform connection: a lost tern-psp will be noticed late");
		if (c->watch_wake >= 0)
			close(c->watch_wake);
		c->watch_wake = -1;
	}
}

static void watch_stop(struct cc *c)
{
	if (c->watch_wake < 0)
		return;
	(void)eventfd_write(c->watch_wake, 1);
	pthread_join(c->watcher, NULL);
	close(c->watch_wake);
	c->watch_wake = -1;
}

static int emu_open(struct cc *c, int kvm_vm_fd, char *err, size_t errlen)
{
	struct psp_reply r;
	int s;
	c->kvm_vm_fd = kvm_vm_fd;
	c->platform = platform_connect(c, err, errlen);
	if (c->platform < 0)
		return -1;
	s = psp_call(c->platform, PSP_OP_HELLO, 0, NULL, 0, -1, &r);
	psp_reply_free(&r);
	if (s == -EPIPE || s == -ECONNRESET) {
		/* what tern-psp does to new clients when it is out of descriptors */
		errbuf_set(err, errlen, "tern-psp at %s hung up on the handshake (is it out of file "
			   "descriptors? its log says)", c->socket);
		return -1;
	} else if (s) {
		errbuf_set(err, errlen, "tern-psp at %s refused the handshake: %s", c->socket, strerror(-s));
		return -1;
	}
	c->handle_fd = psp_vm_create(c->platform, NULL);
	if (c->handle_fd < 0) {
		errbuf_set(err, errlen, "tern-psp could not create a VM: %s", strerror(-c->handle_fd));
		return -1;
	}
	watch_start(c);
	return 0;
}

static void emu_close(struct cc *c)
{
	watch_stop(c);
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
