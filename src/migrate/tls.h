/* tls.h - TLS 1.3 for migration streams (`--tls-creds DIR`), one
 * connection at a time: mutual X.509 authentication, the peer's name
 * checked, and a plain fd for the wire code afterwards (docs/protocol.md,
 * "TLS"). Kernel TLS carries the records when the kernel and OpenSSL offer
 * it in both directions; otherwise a pump thread bridges a socketpair
 * through SSL_read/SSL_write. */
#ifndef TERN_MIGRATE_TLS_H
#define TERN_MIGRATE_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* opaque: a loaded SSL_CTX, the expected peer name (server side:
 * --tls-authz) and what the handshakes on it used */
struct tls_creds;

/* DIR holds ca-cert.pem, and server-cert.pem/server-key.pem (server, the
 * destination) or client-cert.pem/client-key.pem (client, the source):
 * QEMU's tls-creds-x509 layout. NULL with err naming the file and the
 * cause (missing, unreadable, not PEM, key not matching the certificate). */
struct tls_creds *tls__load(const char *dir, bool server, char *err, size_t errlen);
void tls__free(struct tls_creds *c);
/* Server side: also require the client certificate to name `name`
 * (--tls-authz); NULL: any client the CA signed. */
void tls__set_authz(struct tls_creds *c, const char *name);

/* Handshake on a connected socket: TLS 1.3 only, mutual authentication.
 * The client checks the server's certificate against peer_name (a DNS
 * name or an IP address); the server checks the client's chain against
 * the CA and, if set, the client's name. sock is consumed in every case.
 * Returns the fd the wire code uses from then on: sock itself when kernel
 * TLS took over both directions, else one end of a socketpair whose other
 * end a pump thread bridges through SSL (closing or shutdown() of the
 * returned fd ends the pump and the connection). -1 with err naming the
 * cause: wrong CA, name mismatch, expired, the peer not speaking TLS (a
 * plaintext tern), timeout, cancelled (util/cancel.h). */
int tls__client(struct tls_creds *c, int sock, const char *peer_name, int timeout_ms,
		char *err, size_t errlen);
int tls__server(struct tls_creds *c, int sock, int timeout_ms, char *err, size_t errlen);

/* What carried the records of the handshakes made with c so far:
 * "kernel" (all of them by kernel TLS), "openssl" (at least one by the
 * pump), or "none" for c NULL (plaintext) or before any handshake
 * finished. For query-migrate's "tls". */
const char *tls__mode(const struct tls_creds *c);

/* A source's connection (control or data) in one call: connect to uri
 * (transport.h), then with dir (--tls-creds, "" for none) load the client
 * credentials and run tls__client against hostname (--tls-hostname), or
 * the host in uri when hostname is ""; without, note plaintext
 * (tls__note_plaintext). mode (query-migrate's "tls") says what carries
 * the stream. The fd for the wire code, or -1 with err. */
int tls__connect(const char *dir, const char *hostname, const char *uri, int timeout_ms,
		 char *mode, size_t modelen, char *err, size_t errlen);

/* The client's default peer name for uri: the host of tcp:HOST:PORT.
 * -1 for other URIs (unix: needs --tls-hostname). */
int tls__uri_host(const char *uri, char *host, size_t hostlen);

/* Plaintext on purpose (no --tls-creds): log once per connection when sock's
 * peer is not on this host's loopback, naming `who` ("to tcp:..."). */
void tls__note_plaintext(int sock, const char *who);

#endif
