/* tls_pump.h - the pump thread of a TLS connection that kernel TLS does
 * not carry (tls_pump.c), and the OpenSSL error text both use; used by
 * tls.c only. */
#ifndef TERN_MIGRATE_TLS_PUMP_H
#define TERN_MIGRATE_TLS_PUMP_H

#include <stddef.h>
#include <openssl/types.h>

#define TLS_PUMP_BUF (256u << 10)      /* bytes per read, either way: up to 16 records */

/* Start a thread that owns ssl (handshaken) and sock (non-blocking) from
 * now on, bridging them to a socketpair. Returns the wire code's end, or
 * -1 with err (ssl and sock freed). Closing or shutdown() of that end ends
 * the thread and the connection. */
int tls_pump__start(SSL *ssl, int sock, char *err, size_t errlen);

/* The newest OpenSSL error of this thread as text in buf ("" when there
 * is none); returns buf. */
const char *tls_pump__ssl_why(char *buf, size_t len);

#endif
