/* tls.c - TLS 1.3 on one migration connection: credentials, the
 * handshake with clear refusals, then kernel TLS or a pump thread.
 *
 * The TLS stage of a connection (docs/protocol.md):
 *   client (source)                         server (destination)
 *   ClientHello ...  ---------------------> (plaintext tern HELLO instead:
 *                                            answered in plaintext, refused)
 *   <- handshake, mutual certificates, each side checks the other's chain
 *      and name
 *   <---------------------------- one byte 'T' (the server accepted us)
 *   then tern's wire protocol (HELLO ...) inside TLS.
 * TLS 1.3 lets the client finish before the server has judged its
 * certificate; the server's byte (or its alert instead) tells the client
 * which, so a refusal is named on both ends before any tern message. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "migrate/tls.h"
#include "migrate/tls_pump.h"
#include "migrate/transport.h"
#include "migrate/wire.h"
#include "util/cancel.h"
#include "util/log.h"

#define TLS_READY_BYTE 'T'

struct tls_creds {
	SSL_CTX *ctx;
	bool     server;
	char     dir[PATH_MAX];
	char     authz[256];            /* server: the client's required name, or "" */
	int      pumps;                 /* handshakes that ended on the pump (atomic) */
	int      kernels;               /* ... on kernel TLS (atomic) */
};

/* A certificate's own notAfter, for a warning now rather than a refusal
 * by the peer later. */
static void warn_expiry(SSL_CTX *ctx, const char *path)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	if (x && X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		log__err("tls: %s has expired: peers will refuse it", path);
	else if (x && X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		log__err("tls: %s is not valid yet: peers will refuse it", path);
}

struct tls_creds *tls__load(const char *dir, bool server, char *err, size_t errlen)
{
	const char *role = server ? "server" : "client";
	char ca[PATH_MAX + 32], cert[PATH_MAX + 32], key[PATH_MAX + 32], why[256];
	const char *files[] = { ca, cert, key };
	struct tls_creds *c;
	struct stat sb;

	if (stat(dir, &sb) || !S_ISDIR(sb.st_mode)) {
		int e = errno;
		errbuf__set(err, errlen, "--tls-creds %s: %s", dir,
			   stat(dir, &sb) ? strerror(e) : "not a directory");
		return NULL;
	}
	snprintf(ca, sizeof(ca), "%s/ca-cert.pem", dir);
	snprintf(cert, sizeof(cert), "%s/%s-cert.pem", dir, role);
	snprintf(key, sizeof(key), "%s/%s-key.pem", dir, role);
	for (int i = 0; i < 3; i++)
		if (access(files[i], R_OK)) {
			errbuf__set(err, errlen, "--tls-creds: %s: %s (the %s needs ca-cert.pem, %s-cert.pem "
				   "and %s-key.pem)", files[i], strerror(errno),
				   server ? "destination" : "source", role, role);
			return NULL;
		}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()))) {
		errbuf__set(err, errlen, "tls: out of memory");
		free(c);
		return NULL;
	}
	c->server = server;
	snprintf(c->dir, sizeof(c->dir), "%s", dir);
	ERR_clear_error();
	if (!SSL_CTX_load_verify_locations(c->ctx, ca, NULL)) {
		errbuf__set(err, errlen, "--tls-creds: %s: not a CA certificate in PEM (%s)", ca,
			   tls_pump__ssl_why(why, sizeof(why)));
		goto fail;
	}
	if (!SSL_CTX_use_certificate_chain_file(c->ctx, cert)) {
		errbuf__set(err, errlen, "--tls-creds: %s: not a certificate in PEM (%s)", cert,
			   tls_pump__ssl_why(why, sizeof(why)));
		goto fail;
	}
	if (!SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM)) {
		errbuf__set(err, errlen, "--tls-creds: %s: %s", key,
			   ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH ?
			   "the key does not match the certificate" : tls_pump__ssl_why(why, sizeof(why)));
		goto fail;
	}
	if (!SSL_CTX_check_private_key(c->ctx)) {
		errbuf__set(err, errlen, "--tls-creds: %s does not match %s", key, cert);
		goto fail;
	}
	warn_expiry(c->ctx, cert);
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(c->ctx, TLS1_3_VERSION);
	/* AES-128-GCM first: the cheapest with AES-NI, and one kernel TLS has */
	SSL_CTX_set_ciphersuites(c->ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
				 "TLS_CHACHA20_POLY1305_SHA256");
	/* mutual: no certificate, no connection */
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	/* kernel TLS when both the kernel and this OpenSSL have it; no session
	 * tickets: one connection, one handshake, and post-handshake records a
	 * kernel receive path would choke on */
	SSL_CTX_set_options(c->ctx, SSL_OP_ENABLE_KTLS | SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(c->ctx, 0);
	SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return c;
fail:
	tls__free(c);
	return NULL;
}

void tls__free(struct tls_creds *c)
{
	if (!c)
		return;
	SSL_CTX_free(c->ctx);             /* a running pump keeps its own reference */
	free(c);
}

void tls__set_authz(struct tls_creds *c, const char *name)
{
	snprintf(c->authz, sizeof(c->authz), "%s", name ? name : "");
}

const char *tls__mode(const struct tls_creds *c)
{
	if (!c)
		return "none";
	if (__atomic_load_n(&c->pumps, __ATOMIC_RELAXED))
		return "openssl";
	/* no handshake finished: nothing was carried, in TLS or otherwise */
	return __atomic_load_n(&c->kernels, __ATOMIC_RELAXED) ? "kernel" : "none";
}

int tls__uri_host(const char *uri, char *host, size_t hostlen)
{
	char port[32];
	if (transport__parse_tcp(uri, host, hostlen, port, sizeof(port)) || !host[0])
		return -1;
	return 0;
}

void tls__note_plaintext(int sock, const char *who)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getpeername(sock, (struct sockaddr *)&ss, &sl))
		return;                       /* unix: this host */
	if (ss.ss_family == AF_INET &&
	    (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127)
		return;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a) ||
		    (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127))
			return;
	}
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		return;
	log__info("migration stream %s is plaintext: guest memory crosses the network unencrypted "
		  "and unauthenticated (use --tls-creds DIR on both ends)", who);
}

/* The names a certificate carries, for messages. */
#define PEER_NAMES_LEN 256
static void cert_names(X509 *x, char *buf, size_t len)
{
	GENERAL_NAMES *gens;
	size_t off = 0;
	buf[0] = '\0';
	if (!x)
		return;
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && off + 2 < len; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS)
			off += (size_t)snprintf(buf + off, len - off, "%s%.*s", off ? ", " : "",
						ASN1_STRING_length(g->d.dNSName),
						(const char *)ASN1_STRING_get0_data(g->d.dNSName));
		else if (g->type == GEN_IPADD && ASN1_STRING_length(g->d.iPAddress) == 4) {
			const unsigned char *p = ASN1_STRING_get0_data(g->d.iPAddress);
			off += (size_t)snprintf(buf + off, len - off, "%s%u.%u.%u.%u", off ? ", " : "",
						p[0], p[1], p[2], p[3]);
		}
		if (off >= len)
			off = len - 1;
	}
	GENERAL_NAMES_free(gens);
	if (!buf[0])
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, (int)len);
}

static void ssl_free(SSL *ssl)
{
	if (ssl)
		free(SSL_get_app_data(ssl));
	SSL_free(ssl);
}

/* The leaf's names, kept while the chain is checked: after a failed
 * check OpenSSL no longer hands out the peer's certificate. */
static int keep_names(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	char *names = ssl ? SSL_get_app_data(ssl) : NULL;
	if (names && X509_STORE_CTX_get_error_depth(x) == 0 && !names[0])
		cert_names(X509_STORE_CTX_get_current_cert(x), names, PEER_NAMES_LEN);
	return ok;
}

/* Why our check of the peer's certificate failed, in words. */
static void verify_why(struct tls_creds *c, SSL *ssl, long v, const char *name, char *err, size_t errlen)
{
	const char *peer = c->server ? "the source's" : "the destination's";
	const char *names = SSL_get_app_data(ssl);
	switch (v) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		errbuf__set(err, errlen, "tls: %s certificate is not signed by our CA (%s/ca-cert.pem): wrong CA",
			   peer, c->dir);
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		errbuf__set(err, errlen, "tls: %s certificate has expired", peer);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		errbuf__set(err, errlen, "tls: %s certificate is not valid yet", peer);
		break;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		errbuf__set(err, errlen, "tls: %s certificate is not for '%s' (it names %s): name mismatch%s",
			   peer, name, names && names[0] ? names : "nothing",
			   c->server ? " (--tls-authz)" : " (the host in --to, or --tls-hostname)");
		break;
	default:
		errbuf__set(err, errlen, "tls: %s certificate was refused: %s", peer,
			   X509_verify_cert_error_string(v));
	}
}

/* Why the handshake failed: our check of the peer, the peer's alert about
 * us, or a peer that does not speak TLS at all. */
static void handshake_why(struct tls_creds *c, SSL *ssl, int ret, const char *name, char *err, size_t errlen)
{
	const char *peer = c->server ? "the source" : "the destination";
	long v = SSL_get_verify_result(ssl);
	unsigned long e = ERR_peek_last_error();
	int reason = ERR_GET_REASON(e);
	char why[256];

	if (v != X509_V_OK) {
		verify_why(c, ssl, v, name, err, errlen);
		return;
	}
	switch (reason) {
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		errbuf__set(err, errlen, "tls: %s refused our certificate (%s): not signed by its CA: wrong CA",
			   peer, c->dir);
		return;
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
		errbuf__set(err, errlen, "tls: %s refused our certificate (%s): it has expired", peer, c->dir);
		return;
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
		errbuf__set(err, errlen, "tls: %s refused our certificate (%s): %s%s", peer, c->dir,
			   ERR_reason_error_string(e),
			   c->server ? " (is the host it connects to, or its --tls-hostname, named in our "
			   "server-cert.pem?)" : " (the destination's --tls-authz names another client?)");
		return;
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_UNKNOWN_PROTOCOL:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
		errbuf__set(err, errlen, "tls: %s does not speak TLS (a tern without --tls-creds answers in "
			   "plaintext): plaintext peer refused (--tls-creds is set)", peer);
		return;
	}
	if (!e && (SSL_get_error(ssl, ret) == SSL_ERROR_SYSCALL || SSL_get_error(ssl, ret) == SSL_ERROR_ZERO_RETURN))
		errbuf__set(err, errlen, "tls: %s closed the connection during the handshake "
			   "(does it run with --tls-creds? see its log)", peer);
	else
		errbuf__set(err, errlen, "tls: handshake with %s failed: %s", peer,
			    tls_pump__ssl_why(why, sizeof(why)));
}

/* Drive op (SSL_connect, SSL_accept, or reading the ready byte) on a
 * non-blocking socket until done, a failure or the deadline. 1 done, 0
 * failed (ret in *ret: SSL's reason), -1 timeout/cancel with err set. */
static int drive(SSL *ssl, int sock, int (*op)(SSL *, void *), void *arg, uint64_t deadline,
		 int *ret, const char *what, char *err, size_t errlen)
{
	for (;;) {
		int r = op(ssl, arg), w;
		if (r > 0)
			return 1;
		int e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			*ret = r;
			return 0;
		}
		w = cancel__poll(sock, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, cancel__ms_left(deadline));
		if (w == -ETIMEDOUT) {
			errbuf__set(err, errlen, "tls: %s timed out", what);
			return -1;
		}
		if (w) {
			errbuf__set(err, errlen, "tls: %s: %s", what, w == -ECANCELED ? "cancelled" : strerror(-w));
			return -1;
		}
	}
}

static int op_connect(SSL *ssl, void *arg) { (void)arg; return SSL_connect(ssl); }
static int op_accept(SSL *ssl, void *arg) { (void)arg; return SSL_accept(ssl); }
static int op_read1(SSL *ssl, void *arg) { return SSL_read(ssl, arg, 1); }
static int op_write1(SSL *ssl, void *arg) { return SSL_write(ssl, arg, 1); }

/* Hand ssl (handshaken, on non-blocking sock) to the kernel or a pump.
 * The fd for the wire code, or -1 with err (sock and ssl freed). */
static int finish(struct tls_creds *c, SSL *ssl, int sock, char *err, size_t errlen)
{
	char what[160];
	int fd;

	free(SSL_get_app_data(ssl));          /* the peer's names: checked */
	SSL_set_app_data(ssl, NULL);
	if (BIO_get_ktls_send(SSL_get_wbio(ssl)) && BIO_get_ktls_recv(SSL_get_rbio(ssl))) {
		/* the kernel has the keys both ways: the socket speaks TLS by
		 * itself, sends stay zero-copy; the SSL object is no longer
		 * needed (freeing it neither closes sock nor says goodbye) */
		log__info("tls: TLS 1.3 (%s) established, kernel TLS carries the records",
			  SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
		SSL_free(ssl);
		fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) & ~O_NONBLOCK);
		__atomic_add_fetch(&c->kernels, 1, __ATOMIC_RELAXED);
		return sock;
	}
	/* said before the pump owns ssl (it may end, and free it, at once) */
	snprintf(what, sizeof(what), "TLS 1.3 (%s) established; kernel TLS %s: OpenSSL carries the "
		 "records (a pump thread)", SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)),
		 BIO_get_ktls_send(SSL_get_wbio(ssl)) ? "only for sends" : "not offered");
	fd = tls_pump__start(ssl, sock, err, errlen);
	if (fd < 0)
		return -1;
	__atomic_add_fetch(&c->pumps, 1, __ATOMIC_RELAXED);
	log__info("tls: %s", what);
	return fd;
}

/* A fresh SSL on non-blocking sock, checking the peer's name if given. */
static SSL *new_ssl(struct tls_creds *c, int sock, const char *name, char *err, size_t errlen)
{
	SSL *ssl = SSL_new(c->ctx);
	unsigned char ip[16];
	bool is_ip = name && (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1);

	char *names = calloc(1, PEER_NAMES_LEN);
	if (!ssl || !names || !SSL_set_fd(ssl, sock)) {
		errbuf__set(err, errlen, "tls: out of memory");
		ssl_free(ssl);
		free(names);
		return NULL;
	}
	SSL_set_app_data(ssl, names);         /* freed by ssl_free */
	SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, keep_names);
	if (name && name[0]) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
		int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name) : SSL_set1_host(ssl, name);
		if (!c->server && !is_ip)
			SSL_set_tlsext_host_name(ssl, name);
		if (!ok) {
			errbuf__set(err, errlen, "tls: '%s' is not a usable peer name", name);
			ssl_free(ssl);
			return NULL;
		}
	}
	/* room for many records per read once the pump reads ahead */
	SSL_set_default_read_buffer_len(ssl, TLS_PUMP_BUF);
	fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
	return ssl;
}

int tls__client(struct tls_creds *c, int sock, const char *peer_name, int timeout_ms,
		char *err, size_t errlen)
{
	uint64_t deadline = cancel__deadline(timeout_ms);
	unsigned char b = 0;
	int ret = 0, d;
	SSL *ssl;

	if (!peer_name || !peer_name[0]) {
		errbuf__set(err, errlen, "tls: no name to check the destination's certificate against "
			   "(give --tls-hostname NAME)");
		close(sock);
		return -1;
	}
	ERR_clear_error();
	if (!(ssl = new_ssl(c, sock, peer_name, err, errlen))) {
		close(sock);
		return -1;
	}
	d = drive(ssl, sock, op_connect, NULL, deadline, &ret, "handshake with the destination", err, errlen);
	/* the server's verdict on our certificate: its ready byte or an alert */
	if (d == 1)
		d = drive(ssl, sock, op_read1, &b, deadline, &ret, "waiting for the destination to accept us",
			  err, errlen);
	if (d == 1 && b != TLS_READY_BYTE) {
		errbuf__set(err, errlen, "tls: the destination sent %#x, not its ready byte", b);
		d = -1;
	}
	if (d == 0)
		handshake_why(c, ssl, ret, peer_name, err, errlen);
	if (d != 1) {
		ssl_free(ssl);
		close(sock);
		return -1;
	}
	return finish(c, ssl, sock, err, errlen);
}

/* Before TLS: what did the peer send first? A plaintext tern HELLO is
 * answered in plaintext, so the source names the cause too. 0 when it
 * looks like a TLS handshake, -1 with err otherwise. */
static int screen_plaintext(int sock, uint64_t deadline, char *err, size_t errlen)
{
	uint8_t b[4];
	for (;;) {
		ssize_t n = recv(sock, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
		if (n > 0 && b[0] == 0x16)     /* TLS record: handshake */
			return 0;
		if (n == (ssize_t)sizeof(b)) {
			uint32_t magic;
			memcpy(&magic, b, 4);
			if (magic == WIRE_MAGIC) {
				(void)wire__reply_err(sock, "the source did not start TLS: plaintext peer refused "
						      "(the destination runs with --tls-creds; give the "
						      "source --tls-creds DIR too)");
				errbuf__set(err, errlen, "the source did not start TLS: plaintext peer refused "
					   "(--tls-creds is set)");
			} else
				errbuf__set(err, errlen, "the peer does not speak TLS");
			return -1;
		}
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			errbuf__set(err, errlen, "the peer closed the connection before TLS");
			return -1;
		}
		int w = cancel__poll(sock, POLLIN, cancel__ms_left(deadline));
		if (w) {
			errbuf__set(err, errlen, "tls: %s before the handshake",
				   w == -ETIMEDOUT ? "the peer said nothing" : w == -ECANCELED ? "cancelled" :
				   strerror(-w));
			return -1;
		}
	}
}

int tls__server(struct tls_creds *c, int sock, int timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = cancel__deadline(timeout_ms);
	unsigned char b = TLS_READY_BYTE;
	int ret = 0, d;
	SSL *ssl;

	if (screen_plaintext(sock, deadline, err, errlen)) {
		close(sock);
		return -1;
	}
	ERR_clear_error();
	if (!(ssl = new_ssl(c, sock, c->authz[0] ? c->authz : NULL, err, errlen))) {
		close(sock);
		return -1;
	}
	d = drive(ssl, sock, op_accept, NULL, deadline, &ret, "handshake with the source", err, errlen);
	if (d == 1)
		d = drive(ssl, sock, op_write1, &b, deadline, &ret, "accepting the source", err, errlen);
	if (d == 0)
		handshake_why(c, ssl, ret, c->authz, err, errlen);
	if (d != 1) {
		ssl_free(ssl);
		close(sock);
		return -1;
	}
	return finish(c, ssl, sock, err, errlen);
}

int tls__connect(const char *dir, const char *hostname, const char *uri, int timeout_ms,
		 char *mode, size_t modelen, char *err, size_t errlen)
{
	char host[256];
	struct tls_creds *c;
	int fd, sock = transport__connect(uri, timeout_ms, err, errlen);

	if (sock < 0)
		return -1;
	if (!dir || !dir[0]) {
		char who[300];
		snprintf(who, sizeof(who), "to %s", uri);
		tls__note_plaintext(sock, who);
		snprintf(mode, modelen, "none");
		return sock;
	}
	if (!(c = tls__load(dir, false, err, errlen))) {
		close(sock);
		return -1;
	}
	if (hostname && hostname[0])
		snprintf(host, sizeof(host), "%s", hostname);
	else if (tls__uri_host(uri, host, sizeof(host)))
		host[0] = '\0';                   /* unix: tls__client asks for --tls-hostname */
	fd = tls__client(c, sock, host, timeout_ms, err, errlen);
	snprintf(mode, modelen, "%s", tls__mode(c));
	tls__free(c);
	return fd;
}
