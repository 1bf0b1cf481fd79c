/* transport.h - where a migration stream goes: "tcp:HOST:PORT" or
 * "unix:PATH". The same wire protocol runs over both. */
#ifndef TERN_MIGRATE_TRANSPORT_H
#define TERN_MIGRATE_TRANSPORT_H

#include <stddef.h>

/* A listening socket for uri. Returns the fd or -1 with err set. */
int transport__listen(const char *uri, char *err, size_t errlen);
/* Connect to uri within timeout_ms. */
int transport__connect(const char *uri, int timeout_ms, char *err, size_t errlen);
/* Split "tcp:HOST:PORT" (HOST may be [v6]); returns 0 or -1. */
int transport__parse_tcp(const char *uri, char *host, size_t hostlen, char *port, size_t portlen);

#endif
