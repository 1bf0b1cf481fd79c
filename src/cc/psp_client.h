/* psp_client.h - talk to tern-psp: connect, create VM handles, send one
 * request and wait for its reply (src/cc/psp_proto.h). */
#ifndef TERN_CC_PSP_CLIENT_H
#define TERN_CC_PSP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "cc/psp_proto.h"

/* The host's system daemon listens here (packaging/systemd/tern-psp.socket). */
#define PSP_SYSTEM_SOCKET "/run/tern/psp.sock"

/* Default socket: $TERN_PSP_SOCKET, else $XDG_RUNTIME_DIR/tern-psp.sock,
 * else PSP_SYSTEM_SOCKET. */
const char *psp__default_socket(char *buf, size_t len);

/* Connect to the daemon's platform socket. Returns an fd or -errno. */
int psp__connect(const char *path);

struct psp_reply {
	int32_t  status;                  /* 0 or -errno */
	uint32_t fw_error;
	uint8_t *data;                    /* malloc'd payload (NULL if none) */
	uint32_t len;
	int      fd;                      /* a received fd, or -1 */
};

/* Send op/cmd with payload (and optionally one fd), wait for the reply.
 * Returns the reply's status, or -errno if the daemon is unreachable
 * (-EPIPE/-ECONNRESET: it died). Frees nothing of the caller's. */
int  psp__call(int sock, uint16_t op, uint32_t cmd, const void *payload, size_t len,
	      int send_fd, struct psp_reply *rep);
void psp__reply_free(struct psp_reply *rep);

/* Convenience: create a VM in an accounting domain ("" = default). Returns
 * its handle fd or -errno. */
int  psp__vm_create(int platform, const char *domain);
/* A SEV command with a payload, dropping the reply data. fw_error may be NULL. */
int  psp__enc(int vm, uint32_t cmd, const void *payload, size_t len, uint32_t *fw_error);

const char *psp__fw_error_name(uint32_t e);
const char *psp__cmd_name(uint32_t cmd);

#endif
