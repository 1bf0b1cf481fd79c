/* private_path.h - how a private (encrypted) guest page crosses to another
 * host. One interface, two implementations: the platform firmware's
 * SEND/RECEIVE commands (the PSP path, one command per 4 KiB page) now, and
 * the migration helper running in a mirror VM next. Either way a private
 * page leaves the host only sealed under a transport key the VMM never
 * sees. */
#ifndef TERN_MIGRATE_PRIVATE_PATH_H
#define TERN_MIGRATE_PRIVATE_PATH_H

#include <stddef.h>
#include <stdint.h>

struct vm;

struct private_path {
	const struct private_path_ops *ops;
	struct vm *vm;
	uint64_t pages;                   /* sealed or opened */
	uint64_t ns;                      /* time spent in the platform */
	int      started;                 /* a send/receive session is open */
};

struct private_path_ops {
	const char *name;
	/* source: open a session for the receiver whose certificate chain
	 * is given; *msg is what the receiver needs to open it (malloc'd) */
	int  (*send_start)(struct private_path *p, const void *peer_chain, size_t chain_len,
			   void **msg, size_t *msg_len, char *err, size_t errlen);
	/* seal the page at gpa into out (at most private_packet_max bytes) */
	int  (*seal)(struct private_path *p, uint64_t gpa, uint8_t *out, size_t *out_len);
	int  (*send_finish)(struct private_path *p);   /* commit: the source context is done */
	int  (*send_cancel)(struct private_path *p);   /* abort: the source context runs again */
	/* destination */
	int  (*local_chain)(struct private_path *p, void **pem, size_t *len);
	int  (*recv_start)(struct private_path *p, const void *msg, size_t len, char *err, size_t errlen);
	/* verify and write one sealed page into guest memory */
	int  (*open)(struct private_path *p, const uint8_t *pkt, size_t len, char *err, size_t errlen);
	int  (*recv_finish)(struct private_path *p);
};

#define PRIVATE_PACKET_MAX (128 + 4096)   /* a sealed page: its 72-byte header (private_psp.c) + a page */

extern const struct private_path_ops private_path_psp;

#endif
