/* psp_client.c - the client side of the tern-psp protocol. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cc/psp_client.h"
#include "util/scm.h"
#include "util/unix_sock.h"

const char *psp__default_socket(char *buf, size_t len)
{
	const char *e = getenv("TERN_PSP_SOCKET");
	const char *x = getenv("XDG_RUNTIME_DIR");
	if (e && *e)
		snprintf(buf, len, "%s", e);
	else if (x && *x)
		snprintf(buf, len, "%s/tern-psp.sock", x);
	else
		snprintf(buf, len, "%s", PSP_SYSTEM_SOCKET);
	return buf;
}

int psp__connect(const char *path)
{
	char why[256];
	int e, fd = unix__connect(path, "tern-psp", UNIX_SEQPACKET, &e, why, sizeof(why));
	return fd >= 0 ? fd : -e;
}

int psp__call(int sock, uint16_t op, uint32_t cmd, const void *payload, size_t len,
	     int send_fd, struct psp_reply *rep)
{
	struct psp_hdr h = { .magic = PSP_MAGIC, .version = PSP_PROTO_VERSION, .op = op,
			     .cmd = cmd, .len = (uint32_t)len };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)payload, len } };
	union scm_buf u;
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	uint8_t *buf;
	ssize_t n;

	memset(rep, 0, sizeof(*rep));
	rep->fd = -1;
	if (len > PSP_MAX_MSG - sizeof(h))
		return -EMSGSIZE;
	scm__attach(&m, &u, &send_fd, send_fd >= 0 ? 1 : 0);
	n = scm__sendmsg(sock, &m);
	if (n < 0)
		return (int)n;

	buf = malloc(PSP_MAX_MSG);
	if (!buf)
		return -ENOMEM;
	struct iovec riov = { buf, PSP_MAX_MSG };
	struct msghdr r = { .msg_iov = &riov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	do
		n = recvmsg(sock, &r, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		free(buf);
		return n == 0 ? -ECONNRESET : -errno;
	}
	int nfd = 0;
	scm__collect(&r, &rep->fd, &nfd, 1);   /* one per reply; extras closed, not leaked */
	struct psp_hdr rh;
	if ((size_t)n < sizeof(rh)) {
		free(buf);
		return -EPROTO;
	}
	memcpy(&rh, buf, sizeof(rh));
	if (rh.magic != PSP_MAGIC || rh.op != op || rh.len != (size_t)n - sizeof(rh)) {
		free(buf);
		if (rep->fd >= 0)
			close(rep->fd);
		rep->fd = -1;
		return -EPROTO;
	}
	rep->status = rh.status;
	rep->fw_error = rh.fw_error;
	rep->len = rh.len;
	if (rh.len) {
		rep->data = malloc(rh.len);
		if (rep->data)
			memcpy(rep->data, buf + sizeof(rh), rh.len);
	}
	free(buf);
	return rep->status;
}

void psp__reply_free(struct psp_reply *rep)
{
	free(rep->data);
	rep->data = NULL;
	if (rep->fd >= 0)
		close(rep->fd);
	rep->fd = -1;
}

int psp__vm_create(int platform, const char *domain)
{
	struct psp__vm_create c;
	struct psp_reply r;
	memset(&c, 0, sizeof(c));
	if (domain)
		snprintf(c.domain, sizeof(c.domain), "%s", domain);
	int s = psp__call(platform, PSP_OP_VM_CREATE, 0, &c, sizeof(c), -1, &r);
	if (s == 0 && r.fd < 0)
		s = -EPROTO;
	if (s) {
		psp__reply_free(&r);
		return s;
	}
	int fd = r.fd;
	r.fd = -1;
	psp__reply_free(&r);
	return fd;
}

int psp__enc(int vm, uint32_t cmd, const void *payload, size_t len, uint32_t *fw_error)
{
	struct psp_reply r;
	int s = psp__call(vm, PSP_OP_ENC, cmd, payload, len, -1, &r);
	if (fw_error)
		*fw_error = r.fw_error;
	psp__reply_free(&r);
	return s;
}

const char *psp__fw_error_name(uint32_t e)
{
	switch (e) {
	case PSP_FW_SUCCESS: return "SUCCESS";
	case PSP_FW_INVALID_PLATFORM_STATE: return "INVALID_PLATFORM_STATE";
	case PSP_FW_INVALID_GUEST_STATE: return "INVALID_GUEST_STATE";
	case PSP_FW_INVALID_CONFIG: return "INVALID_CONFIG";
	case PSP_FW_INVALID_LEN: return "INVALID_LEN";
	case PSP_FW_INVALID_CERTIFICATE: return "INVALID_CERTIFICATE";
	case PSP_FW_POLICY_FAILURE: return "POLICY_FAILURE";
	case PSP_FW_INACTIVE: return "INACTIVE";
	case PSP_FW_INVALID_ADDRESS: return "INVALID_ADDRESS";
	case PSP_FW_BAD_SIGNATURE: return "BAD_SIGNATURE";
	case PSP_FW_BAD_MEASUREMENT: return "BAD_MEASUREMENT";
	case PSP_FW_INVALID_GUEST: return "INVALID_GUEST";
	case PSP_FW_INVALID_COMMAND: return "INVALID_COMMAND";
	case PSP_FW_INVALID_PARAM: return "INVALID_PARAM";
	case PSP_FW_RESOURCE_LIMIT: return "RESOURCE_LIMIT";
	default: return "UNKNOWN";
	}
}

const char *psp__cmd_name(uint32_t cmd)
{
	static const char *names[] = {
		"INIT", "ES_INIT", "LAUNCH_START", "LAUNCH_UPDATE_DATA", "LAUNCH_UPDATE_VMSA",
		"LAUNCH_SECRET", "LAUNCH_MEASURE", "LAUNCH_FINISH", "SEND_START",
		"SEND_UPDATE_DATA", "SEND_UPDATE_VMSA", "SEND_FINISH", "RECEIVE_START",
		"RECEIVE_UPDATE_DATA", "RECEIVE_UPDATE_VMSA", "RECEIVE_FINISH", "GUEST_STATUS",
		"DBG_DECRYPT", "DBG_ENCRYPT", "CERT_EXPORT", "GET_ATTESTATION_REPORT", "SEND_CANCEL",
	};
	if (cmd < sizeof(names) / sizeof(names[0]))
		return names[cmd];
	if (cmd == PSP_SEV_LOCAL_SEND) return "LOCAL_SEND";
	if (cmd == PSP_SEV_LOCAL_RECEIVE) return "LOCAL_RECEIVE";
	if (cmd == PSP_SEV_DECOMMISSION) return "DECOMMISSION";
	return "UNKNOWN";
}
