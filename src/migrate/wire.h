/* wire.h - tern's one wire protocol, for handoff (unix socket) and live
 * migration (TCP): a fixed header, a command set, one reply per request,
 * a version handshake first. docs/protocol.md describes the messages and
 * the receiver's state machine. */
#ifndef TERN_MIGRATE_WIRE_H
#define TERN_MIGRATE_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define WIRE_MAGIC        0x57524e54u  /* "TNRW" */
#define WIRE_VERSION      4            /* 2: HELLO's reply carries a nonce, CONFIG echoes it;
					* 3: RAM batches as an entry table then data,
					* on data connections (DATA_OPEN, JOIN, FENCE);
					* 4: post-copy (POSTCOPY, PAGE_REQ, POSTCOPY_END,
					* a request connection) */
#define WIRE_NONCE_LEN    32
#define WIRE_MAX_PAYLOAD  (64u << 20)  /* one message; RAM goes in many */
#define WIRE_MAX_FDS      4

struct wire_hdr {                      /* 24 bytes, little endian */
	uint32_t magic;
	uint16_t version;                  /* the sender's protocol version */
	uint16_t cmd;                      /* enum wire_cmd */
	uint32_t flags;                    /* W_REPLY: 0 ok, 1 error (payload = message) */
	uint32_t nfds;                     /* descriptors passed with this message (unix only) */
	uint64_t length;                   /* payload bytes that follow */
};

enum wire_cmd {
	W_HELLO  = 1,                      /* struct wire_hello */
	W_CONFIG = 2,                      /* REC_VM_CONFIG payload (+ fds: RAM memfd, commit word) */
	W_STATE  = 3,                      /* a record stream (+ fds: serial out, cc handle) */
	W_COMMIT = 4,                      /* struct wire_commit: take the VM over now */
	W_ABORT  = 5,                      /* the sender gives up; payload = reason */
	W_SESSION = 6,                     /* migration, cc: the platform session for private pages */
	W_RAM    = 7,                      /* migration: a batch of pages (no reply) */
	W_ITER_END = 8,                    /* migration: end of a RAM iteration (reply: received counts) */
	W_HELPER = 9,                      /* migration, cc with a helper: struct wire_helper, after
					    * the helper's region crossed by the PSP path (reply:
					    * struct wire_helper_ready) */
	W_DATA_OPEN = 10,                  /* migration: struct wire_data_open, then the source
					    * opens that many data connections (reply first) */
	W_JOIN   = 11,                     /* data connection: struct wire_join, its first
					    * message after HELLO (reply) */
	W_FENCE  = 12,                     /* data connection: the round's last message on it
					    * (struct ram_fence, ram_batch.h; no reply) */
	W_POSTCOPY = 13,                   /* migration, the VM still running on the source:
					    * struct wire_postcopy then the bitmap of pages the
					    * destination lacks; the source then opens the
					    * request connection (reply first) */
	W_PAGE_REQ = 14,                   /* request connection, destination to source: u64
					    * GPAs (1..WIRE_MAX_PAGE_REQ); answered by a W_RAM
					    * batch of those pages, or a W_REPLY error */
	W_POSTCOPY_END = 15,               /* control: struct iter_end, every missing page has
					    * been sent (reply: once all are in place) */
	W_POSTCOPY_RESUME = 16,            /* a new control connection after a broken post-copy:
					    * struct wire_postcopy_resume (reply: struct
					    * wire_postcopy + the bitmap of pages still lacking),
					    * then DATA_OPEN and the request connection as before */
	W_POSTCOPY_MORE = 17,              /* migration, after POSTCOPY, any number (the last
					    * with the VM paused): the same layout, the pages
					    * written since the last list (reply) */
	W_REPLY  = 0x100,                  /* the answer to any request */
};

/* What a connection is for, said in its HELLO: the move's control
 * connection, or one of a migration's data connections. */
enum wire_kind { WIRE_HANDOFF = 1, WIRE_MIGRATE = 2, WIRE_DATA = 3, WIRE_REQUEST = 4 };

struct wire_hello {
	uint32_t proto;                    /* WIRE_VERSION the sender speaks */
	uint16_t rec_major, rec_minor;     /* state record format */
	uint32_t kind;                     /* enum wire_kind */
	char     tern_version[32];
};

struct wire_commit {                   /* handoff and migration alike */
	uint64_t pause_ns;                 /* the source's CLOCK_MONOTONIC when it paused (a
					    * handoff's two processes share the clock; a
					    * migration's destination only logs it) */
	uint64_t token;                    /* handoff, cc token mode: LOCAL_SEND's token, else 0 */
	uint32_t cc_transfer;              /* handoff: 0 none, 1 move (fd passed in STATE), 2
					    * token; migration: 0 (RECEIVE_FINISH moves it) */
	uint32_t pad;
};

struct wire_running {                  /* payload of the reply to W_COMMIT */
	uint64_t resume_ns;                /* the destination's CLOCK_MONOTONIC when it resumed */
	uint64_t downtime_ns;              /* handoff: from pause_ns; migration: the part the
					    * destination saw, from STATE's arrival */
};

struct wire_helper {                   /* W_HELPER: start your helper, this stream follows */
	uint32_t stream;                   /* the stream id the source's helper seals under */
	uint32_t lanes;                    /* helper vCPUs the destination should start (1..4) */
	uint32_t seal;                     /* 1: private pages come sealed by the helper
					    * (PAGE_HELPER entries); 0: by the PSP path */
	uint32_t pad;
};

struct wire_helper_ready {             /* payload of the reply to W_HELPER */
	uint32_t floor;                    /* the destination helper's stream floor */
	uint32_t lanes;                    /* lanes it started */
};

#define WIRE_MAX_DATA_CONNS 16

struct wire_data_open {                /* W_DATA_OPEN */
	uint32_t conns;                    /* data connections that follow (1..WIRE_MAX_DATA_CONNS) */
	uint32_t nextents;                 /* struct ram_extent entries after this header: the
					    * pages that hold data, for the destination to
					    * provision before they arrive (ram_batch.h) */
};

struct wire_join {                     /* W_JOIN: binds a data connection to its migration */
	uint8_t  nonce[WIRE_NONCE_LEN];    /* the control connection's nonce */
	uint32_t index;                    /* 0..conns-1, each once */
	uint32_t pad;
};

#define WIRE_MAX_PAGE_REQ 64

struct wire_postcopy {                 /* W_POSTCOPY, then (npages + 63) / 64 u64 bitmap words */
	uint64_t npages;                   /* guest RAM's pages: must match */
	uint64_t missing;                  /* bits set in the bitmap */
};

struct wire_postcopy_resume {          /* W_POSTCOPY_RESUME */
	uint8_t  nonce[WIRE_NONCE_LEN];    /* the broken migration's first control connection's */
	uint64_t npages;
};

struct wire_msg {
	struct wire_hdr h;
	uint8_t *data;                     /* malloc'd, NUL-terminated for convenience */
	int      fds[WIRE_MAX_FDS];
	int      nfds;
};

/* Send one message (with fds on a unix socket). Returns 0 or -errno. */
int  wire__send(int sock, uint16_t cmd, uint32_t flags, const void *p, size_t len,
	       const int *fds, int nfds);
int  wire__send2(int sock, uint16_t cmd, uint32_t flags, const void *a, size_t alen,
		const void *b, size_t blen, const int *fds, int nfds);
/* One message whose payload is iov[1..n) (no fds), written straight from
 * where the pieces are (guest RAM, for a RAM batch); iov[0] is room for
 * the header, filled here. The iovecs are consumed. 0 or -errno. */
int  wire__sendv(int sock, uint16_t cmd, struct iovec *iov, int n);
/* The header of the next message, within timeout_ms, checked (magic,
 * payload bound, no fds); its payload is the caller's to read with
 * wire__recv_iov or wire__recv_body. 0 or -errno as wire__recv. */
int  wire__recv_hdr(int sock, struct wire_hdr *h, int timeout_ms);
/* Read exactly the bytes iov[0..n) describe (the iovecs are consumed). */
int  wire__recv_iov(int sock, struct iovec *iov, int n, int timeout_ms);
/* The rest of a message whose header h was read with wire__recv_hdr, as
 * wire__recv would have returned it. */
int  wire__recv_body(int sock, const struct wire_hdr *h, struct wire_msg *m, int timeout_ms);
/* Receive one whole message within timeout_ms (-1: forever; the deadline
 * is per message, not per read). Returns 0, or -errno: -ETIMEDOUT,
 * -ECONNRESET (peer gone), -EPROTO (not our protocol: bad magic, oversized,
 * truncated), -ECANCELED (SIGTERM/SIGINT/SIGHUP pending, util/cancel.h).
 * On error nothing is left allocated. */
int  wire__recv(int sock, struct wire_msg *m, int timeout_ms);
void wire__msg_free(struct wire_msg *m);
/* Reply helpers */
int  wire__reply_ok(int sock, const void *p, size_t len);
int  wire__reply_err(int sock, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Wait for a reply: 0 if ok (payload in *m), -1 with the peer's message or
 * the transport error in err. */
int  wire__expect_reply(int sock, struct wire_msg *m, int timeout_ms, char *err, size_t errlen);

const char *wire__cmd_name(uint16_t cmd);

/* Accept connections on lfd until one sends a HELLO of this kind that this
 * tern accepts (protocol and record versions), answer it ok with a fresh
 * random nonce (also left in *nonce) and return the connection. The source
 * must echo the nonce in its CONFIG (REC_WIRE_NONCE, config_rx.h), which
 * binds the stream to this connection: a captured stream replayed into
 * another destination is refused before a VM exists. Connections that fail the handshake are answered with the
 * reason, logged and dropped: the wait goes on. -1 with err only on a
 * signal (util/cancel.h) or a broken listening socket. wire_accept.c */
int  wire__accept_source(int lfd, enum wire_kind kind, uint8_t nonce[WIRE_NONCE_LEN],
			 char *err, size_t errlen);
/* The same, giving up after timeout_ms (-1: never) with err, and with TLS
 * first on every connection (tls NULL: plaintext, as above): a peer that
 * fails the TLS handshake (wrong CA, name, expired, a plaintext tern) is
 * refused with the reason logged, and the wait goes on; the returned fd
 * carries the protocol inside TLS (migrate/tls.h). */
struct tls_creds;
int  wire__accept_kind(int lfd, enum wire_kind kind, struct tls_creds *tls, int timeout_ms,
		       uint8_t nonce[WIRE_NONCE_LEN], char *err, size_t errlen);
/* A connection's JOIN (after its HELLO): read, its nonce checked against
 * ours; 0 with *index, or -1 with why (nothing answered: the caller
 * checks the index too, then answers). wire_accept.c */
int  wire__take_join(int sock, const uint8_t nonce[WIRE_NONCE_LEN], uint32_t *index, char *why, size_t len);
/* Source side: send HELLO of this kind, take the receiver's nonce from its
 * reply. 0, or -1 with the reason (the receiver's refusal) in err. */
int  wire__hello(int sock, enum wire_kind kind, int timeout_ms, uint8_t nonce[WIRE_NONCE_LEN],
		 char *err, size_t errlen);

#endif
