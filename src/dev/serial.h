/* serial.h - just enough of a 16550 UART (COM1, 0x3F8) for console output. */
#ifndef TERN_DEV_SERIAL_H
#define TERN_DEV_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev/exits.h"
#include "state/record.h"

#define SERIAL_BASE  0x3f8
#define SERIAL_PORTS 8
#define SERIAL_STATE_VERSION 1

struct serial {
	pthread_mutex_t lock;
	int      out_fd;                  /* console output (stdout or a file) */
	uint8_t  ier, lcr, mcr, scr, dll, dlm, fcr;
	char     line[512];               /* output not yet written: flushed per line */
	size_t   linelen;
	uint64_t bytes;                   /* bytes the guest has written */
};

void serial__init(struct serial *s, int out_fd);
void serial__destroy(struct serial *s);
/* Port access at SERIAL_BASE + off; size is always 1 for this device. */
void serial__io(struct serial *s, uint16_t off, bool write, uint8_t *data);
/* Register COM1's ports in the machine's table t (0 or -errno). */
int  serial__register(struct serial *s, struct exits *t);
void serial__flush(struct serial *s);
/* Forget unwritten output: after a handoff it belongs to the new process,
 * which got it in the device record and will finish the line. */
void serial__discard(struct serial *s);

int  serial__save(struct serial *s, struct tlv_buf *b);
int  serial__load(struct serial *s, const void *p, size_t len, char *err, size_t errlen);

#endif
