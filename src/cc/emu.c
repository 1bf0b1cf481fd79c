/* emu.c - the cc back-end for the emulated platform: every operation is a
 * request to tern-psp on this VM's handle (src/cc/psp_proto.h), and this
 * file is the only one in tern that translates cc's types to tern-psp's
 * messages. If no daemon answers at the socket, tern starts one (the
 * embedded default) so a user needs no extra step. */
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

/* cc's sizes are the SEV API's, and so are tern-psp's */
_Static_assert(CC_SESSION_LEN == PSP_SESSION_LEN, "session blob length");
_Static_assert(CC_PKT_HDR_LEN == PSP_PKT_HDR_LEN, "packet header length");
_Static_assert(CC_POLICY_ES == PSP_POLICY_ES, "ES policy bit");

/* The platform connection: --psp-socket, else $TERN_PSP_SOCKET, else the
 * host's system daemon (systemd's tern-psp.socket) when it answers, else
 * the per-user default. A daemon is started only when none answers. */
static int platform_connect(struct cc *c, char *err, size_t errlen)
{
	const char *env = getenv("TERN_PSP_SOCKET");
	char bin[PATH_MAX];
	int fd;

	if (!c->socket[0] && !(env && *env)) {
		fd = psp__connect(PSP_SYSTEM_SOCKET);
		if (fd >= 0) {
			snprintf(c->socket, sizeof(c->socket), "%s", PSP_SYSTEM_SOCKET);
			return fd;
		}
	}
	if (!c->socket[0])
		psp__default_socket(c->socket, sizeof(c->socket));
	fd = psp__connect(c->socket);
	if (fd >= 0)
		return fd;
	if (fd != -ENOENT && fd != -ECONNREFUSED) {
		errbuf__set(err, errlen, "cannot reach tern-psp at %s: %s", c->socket, strerror(-fd));
		return -1;
	}
	log__info("no tern-psp at %s: starting one", c->socket);
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
			log__err("%s; moves of this VM are refused", cc__lost(c));
			return NULL;
		}
	}
}

static void watch_start(struct cc *c)
{
	c->watch_wake = eventfd(0, EFD_CLOEXEC);
	if (c->watch_wake < 0 || pthread_create(&c->watcher, NULL, watch_platform, c)) {
		log__err("cannot watch the platform connection: a lost tern-psp will be noticed late");
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

static int vm_create_es(int platform)
{
	struct psp_vm_create_typed t = { .vm_type = PSP_VM_SEV_ES };
	struct psp_reply r;
	int s = psp__call(platform, PSP_OP_VM_CREATE, 0, &t, sizeof(t), -1, &r);
	if (!s && r.fd < 0)
		s = -EPROTO;
	if (!s) {
		s = r.fd;
		r.fd = -1;
	}
	psp__reply_free(&r);
	return s;
}

static int emu_open(struct cc *c, int kvm_vm_fd, char *err, size_t errlen)
{
	struct psp_reply r;
	int s;
	c->kvm_vm_fd = kvm_vm_fd;
	c->platform = platform_connect(c, err, errlen);
	if (c->platform < 0)
		return -1;
	s = psp__call(c->platform, PSP_OP_HELLO, 0, NULL, 0, -1, &r);
	psp__reply_free(&r);
	if (s == -EPIPE || s == -ECONNRESET) {
		/* what tern-psp does to new clients when it is out of descriptors */
		errbuf__set(err, errlen, "tern-psp at %s hung up on the handshake (is it out of file "
			   "descriptors? its log says)", c->socket);
		return -1;
	} else if (s) {
		errbuf__set(err, errlen, "tern-psp at %s refused the handshake: %s", c->socket, strerror(-s));
		return -1;
	}
	/* SEV-ES: a VM of the SEV-ES type, as KVM_CREATE_VM(KVM_X86_SEV_ES_VM)
	 * makes for KVM_SEV_INIT2; the type moves with the context and a move
	 * needs it on both sides */
	c->handle_fd = c->es ? vm_create_es(c->platform) : psp__vm_create(c->platform, NULL);
	if (c->handle_fd < 0) {
		errbuf__set(err, errlen, "tern-psp could not create a VM: %s", strerror(-c->handle_fd));
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

/* SEV: the legacy INIT on a default VM. SEV-ES: KVM_SEV_INIT2 on the
 * SEV-ES-type VM emu_open made, with the VM's VMSA features and the
 * newest GHCB protocol (0: the platform's default, 2), as QEMU does. */
static int emu_init(struct cc *c, bool es, uint32_t *fw)
{
	struct psp_sev_init2 in = { .vm_type = PSP_VM_SEV_ES, .vmsa_features = c->vmsa_features };
	if (!es)
		return psp__enc(c->handle_fd, PSP_SEV_INIT, NULL, 0, fw);
	if (!c->es)
		return -EINVAL;           /* the VM was not created as SEV-ES */
	return psp__enc(c->handle_fd, PSP_SEV_INIT2, &in, sizeof(in), fw);
}

static int emu_register_ram(struct cc *c, int memfd, uint64_t gpa, uint64_t size, void *hva)
{
	struct psp_region g = { gpa, size, gpa };
	struct psp_reply r;
	(void)hva;
	int s = psp__call(c->handle_fd, PSP_OP_REGION_REG, 0, &g, sizeof(g), memfd, &r);
	psp__reply_free(&r);
	return s;
}

static int emu_vcpus(struct cc *c, int n)
{
	struct psp_vcpus v = { (uint32_t)n };
	struct psp_reply r;
	int s = psp__call(c->handle_fd, PSP_OP_VCPU_CREATE, 0, &v, sizeof(v), -1, &r);
	psp__reply_free(&r);
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
	s = psp__call(c->handle_fd, PSP_OP_ENC, PSP_SEV_LAUNCH_START, buf, len, -1, &r);
	free(buf);
	if (fw)
		*fw = r.fw_error;
	if (!s && r.len == sizeof(struct psp_handle_reply))
		memcpy(handle, r.data, sizeof(*handle));
	psp__reply_free(&r);
	return s;
}

static int emu_launch_update_data(struct cc *c, uint64_t gpa, void *hva, uint32_t len, uint32_t *fw)
{
	struct psp_range g = { gpa, len, 0 };
	(void)hva;
	return psp__enc(c->handle_fd, PSP_SEV_LAUNCH_UPDATE_DATA, &g, sizeof(g), fw);
}

static int emu_launch_measure(struct cc *c, struct cc_measurement *m, uint32_t *fw)
{
	struct psp_reply r;
	struct psp_measure_reply mr;
	int s = psp__call(c->handle_fd, PSP_OP_ENC, PSP_SEV_LAUNCH_MEASURE, NULL, 0, -1, &r);
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
	psp__reply_free(&r);
	return s;
}

static int emu_launch_secret(struct cc *c, uint64_t gpa, void *hva, const uint8_t hdr[CC_PKT_HDR_LEN],
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
	s = psp__enc(c->handle_fd, PSP_SEV_LAUNCH_SECRET, buf, sizeof(pk) + len, fw);
	free(buf);
	return s;
}

static int emu_launch_finish(struct cc *c, uint32_t *fw)
{
	return psp__enc(c->handle_fd, PSP_SEV_LAUNCH_FINISH, NULL, 0, fw);
}

/* request: struct psp_vmsa + the page */
static int vmsa_request(struct cc *c, uint16_t op, uint32_t cmd, int vcpu, const void *p, size_t len,
			uint32_t *fw)
{
	struct psp_vmsa v = { (uint32_t)vcpu, (uint32_t)len };
	struct psp_reply r;
	uint8_t *buf;
	int s;
	if (vcpu < 0 || !len || len > PSP_VMSA_MAX)
		return -EINVAL;
	if (!(buf = malloc(sizeof(v) + len)))
		return -ENOMEM;
	memcpy(buf, &v, sizeof(v));
	memcpy(buf + sizeof(v), p, len);
	s = psp__call(c->handle_fd, op, cmd, buf, sizeof(v) + len, -1, &r);
	free(buf);
	if (fw)
		*fw = r.fw_error;
	psp__reply_free(&r);
	return s;
}

static int emu_launch_update_vmsa(struct cc *c, int vcpu, const void *vmsa, size_t len, uint32_t *fw)
{
	return vmsa_request(c, PSP_OP_ENC, PSP_SEV_LAUNCH_UPDATE_VMSA, vcpu, vmsa, len, fw);
}

static int emu_vmsa_store(struct cc *c, int vcpu, const void *state, size_t len, uint32_t *fw)
{
	return vmsa_request(c, PSP_OP_VMSA_SAVE, 0, vcpu, state, len, fw);
}

static int emu_vmsa_fetch(struct cc *c, int vcpu, void **state, size_t *len, uint32_t *fw)
{
	struct psp_vcpu_ref v = { (uint32_t)vcpu };
	struct psp_reply r;
	int s = psp__call(c->handle_fd, PSP_OP_VMSA_LOAD, 0, &v, sizeof(v), -1, &r);
	if (fw)
		*fw = r.fw_error;
	if (!s && !r.len)
		s = -EPROTO;
	if (!s) {
		*state = r.data;          /* the reply's buffer becomes the caller's */
		*len = r.len;
		r.data = NULL;
	}
	psp__reply_free(&r);
	return s;
}

/* A request whose reply is exactly n bytes (copied to out); fw as usual. */
static int call_fixed(int sock, uint16_t op, uint32_t cmd, const void *p, size_t len, int fd,
		      void *out, size_t n, uint32_t *fw)
{
	struct psp_reply r;
	int s = psp__call(sock, op, cmd, p, len, fd, &r);
	if (fw)
		*fw = r.fw_error;
	if (!s && r.len != n)
		s = -EPROTO;
	if (!s && n)
		memcpy(out, r.data, n);
	psp__reply_free(&r);
	return s;
}

static int emu_platform_chain(struct cc *c, void **chain, size_t *len, uint32_t *fw)
{
	struct psp_reply r;
	int s = psp__call(c->platform, PSP_OP_EXPORT_CHAIN, 0, NULL, 0, -1, &r);
	if (fw)
		*fw = r.fw_error;
	if (!s) {
		*chain = r.data;          /* the reply's buffer becomes the caller's */
		*len = r.len;
		r.data = NULL;
	}
	psp__reply_free(&r);
	return s;
}

/* request: u32 chain length + the receiver's chain; reply: struct
 * psp_send_start_reply + the sender's chain */
static int emu_send_start(struct cc *c, const void *peer_chain, size_t peer_len,
			  struct cc_send_session *ss, uint32_t *fw)
{
	struct psp_send_start_reply sr;
	struct psp_reply r;
	uint32_t c32 = (uint32_t)peer_len;
	uint8_t *req;
	int s;

	if (peer_len > UINT32_MAX)
		return -EINVAL;
	if (!(req = malloc(4 + peer_len)))
		return -ENOMEM;
	memcpy(req, &c32, 4);
	memcpy(req + 4, peer_chain, peer_len);
	s = psp__call(c->handle_fd, PSP_OP_ENC, PSP_SEV_SEND_START, req, 4 + peer_len, -1, &r);
	free(req);
	if (fw)
		*fw = r.fw_error;
	if (!s && r.len < sizeof(sr))
		s = -EPROTO;
	if (!s) {
		memcpy(&sr, r.data, sizeof(sr));
		if (sr.chain_len != r.len - sizeof(sr))
			s = -EPROTO;
	}
	if (!s && !(ss->chain = malloc(sr.chain_len ? sr.chain_len : 1)))
		s = -ENOMEM;
	if (!s) {
		ss->policy = sr.policy;
		memcpy(ss->session, sr.session, CC_SESSION_LEN);
		memcpy(ss->chain, r.data + sizeof(sr), sr.chain_len);
		ss->chain_len = sr.chain_len;
	}
	psp__reply_free(&r);
	return s;
}

/* reply: struct psp_packet + ciphertext */
static int emu_send_update_data(struct cc *c, uint64_t gpa, void *hva, uint32_t len, struct cc_packet *pk,
				uint8_t *trans, size_t trans_cap, uint32_t *fw)
{
	struct psp_range g = { gpa, len, 0 };
	struct psp_packet pp;
	struct psp_reply r;
	int s = psp__call(c->handle_fd, PSP_OP_ENC, PSP_SEV_SEND_UPDATE_DATA, &g, sizeof(g), -1, &r);
	(void)hva;                        /* tern-psp reads the page through the memfd */
	if (fw)
		*fw = r.fw_error;
	if (!s && r.len < sizeof(pp))
		s = -EPROTO;
	if (!s) {
		memcpy(&pp, r.data, sizeof(pp));
		if (pp.len != r.len - sizeof(pp) || pp.gpa != gpa)
			s = -EPROTO;
		else if (pp.len > trans_cap)
			s = -EMSGSIZE;
	}
	if (!s) {
		pk->gpa = pp.gpa;
		pk->seq = pp.seq;
		pk->len = pp.len;
		memcpy(pk->hdr, pp.hdr, CC_PKT_HDR_LEN);
		memcpy(trans, r.data + sizeof(pp), pp.len);
	}
	psp__reply_free(&r);
	return s;
}

static int emu_send_finish(struct cc *c, uint32_t *fw)
{
	return psp__enc(c->handle_fd, PSP_SEV_SEND_FINISH, NULL, 0, fw);
}

static int emu_send_cancel(struct cc *c, uint32_t *fw)
{
	return psp__enc(c->handle_fd, PSP_SEV_SEND_CANCEL, NULL, 0, fw);
}

/* request: struct psp_receive_start + the sender's chain; reply: the handle */
static int emu_receive_start(struct cc *c, uint32_t policy, const uint8_t session[CC_SESSION_LEN],
			     const void *peer_chain, size_t peer_len, uint32_t *handle, uint32_t *fw)
{
	struct psp_receive_start rs = { .policy = policy, .chain_len = (uint32_t)peer_len };
	struct psp_handle_reply hr;
	uint8_t *req;
	int s;

	if (peer_len > UINT32_MAX)
		return -EINVAL;
	if (!(req = malloc(sizeof(rs) + peer_len)))
		return -ENOMEM;
	memcpy(rs.session, session, CC_SESSION_LEN);
	memcpy(req, &rs, sizeof(rs));
	memcpy(req + sizeof(rs), peer_chain, peer_len);
	s = call_fixed(c->handle_fd, PSP_OP_ENC, PSP_SEV_RECEIVE_START, req, sizeof(rs) + peer_len, -1,
		       &hr, sizeof(hr), fw);
	free(req);
	if (!s && handle)
		*handle = hr.handle;
	return s;
}

/* request: struct psp_packet + ciphertext; tern-psp writes through the memfd */
static int emu_receive_update_data(struct cc *c, const struct cc_packet *pk, void *hva,
				   const uint8_t *trans, uint32_t *fw)
{
	struct psp_packet pp = { .gpa = pk->gpa, .seq = pk->seq, .len = pk->len };
	uint8_t *req = malloc(sizeof(pp) + pk->len);
	int s;
	(void)hva;
	if (!req)
		return -ENOMEM;
	memcpy(pp.hdr, pk->hdr, CC_PKT_HDR_LEN);
	memcpy(req, &pp, sizeof(pp));
	memcpy(req + sizeof(pp), trans, pk->len);
	s = psp__enc(c->handle_fd, PSP_SEV_RECEIVE_UPDATE_DATA, req, sizeof(pp) + pk->len, fw);
	free(req);
	return s;
}

static int emu_receive_finish(struct cc *c, uint32_t *fw)
{
	return psp__enc(c->handle_fd, PSP_SEV_RECEIVE_FINISH, NULL, 0, fw);
}

static int emu_context_fd(struct cc *c)
{
	return c->handle_fd;
}

/* The other VM travels as its handle fd: tern-psp knows it by the socket
 * behind it, never by a number. */
static int emu_move_from(struct cc *c, int src, uint32_t *fw)
{
	return call_fixed(c->handle_fd, PSP_OP_MOVE_FROM, 0, NULL, 0, src, NULL, 0, fw);
}

static int emu_mirror_from(struct cc *c, int owner, uint32_t *fw)
{
	return call_fixed(c->handle_fd, PSP_OP_COPY_FROM, 0, NULL, 0, owner, NULL, 0, fw);
}

static int emu_local_send(struct cc *c, struct cc_token *t, uint32_t *fw)
{
	struct psp_token pt;
	int s = call_fixed(c->handle_fd, PSP_OP_ENC, PSP_SEV_LOCAL_SEND, NULL, 0, -1, &pt, sizeof(pt), fw);
	if (!s)
		t->token = pt.token;
	return s;
}

/* reply: the adopted context's handle (not needed: GUEST_STATUS has it) */
static int emu_local_receive(struct cc *c, const struct cc_token *t, uint32_t *fw)
{
	struct psp_token pt = { t->token };
	struct psp_handle_reply hr;
	return call_fixed(c->handle_fd, PSP_OP_ENC, PSP_SEV_LOCAL_RECEIVE, &pt, sizeof(pt), -1,
			  &hr, sizeof(hr), fw);
}

static int emu_guest_status(struct cc *c, struct cc_guest_status *st, uint32_t *fw)
{
	struct psp_guest_status gs;
	int s = call_fixed(c->handle_fd, PSP_OP_ENC, PSP_SEV_GUEST_STATUS, NULL, 0, -1, &gs, sizeof(gs), fw);
	if (!s) {
		st->handle = gs.handle;
		st->policy = gs.policy;
		st->state = gs.state;
	}
	return s;
}

int cc__emu_probe(char *sock, size_t len)
{
	int fd;
	psp__default_socket(sock, len);
	fd = psp__connect(sock);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
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
	.launch_update_vmsa = emu_launch_update_vmsa,
	.vmsa_store = emu_vmsa_store,
	.vmsa_fetch = emu_vmsa_fetch,
	.platform_chain = emu_platform_chain,
	.send_start = emu_send_start,
	.send_update_data = emu_send_update_data,
	.send_finish = emu_send_finish,
	.send_cancel = emu_send_cancel,
	.receive_start = emu_receive_start,
	.receive_update_data = emu_receive_update_data,
	.receive_finish = emu_receive_finish,
	.context_fd = emu_context_fd,
	.move_from = emu_move_from,
	.mirror_from = emu_mirror_from,
	.local_send = emu_local_send,
	.local_receive = emu_local_receive,
	.guest_status = emu_guest_status,
};
