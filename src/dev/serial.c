/* serial.c - 16550 output. Registers read back what was written, LSR always
 * says "transmitter empty", so a polling driver never waits. Output is
 * written a line at a time so heartbeats reach the console whole. */
#include <string.h>
#include <unistd.h>

#include "dev/serial.h"
#include "util/io.h"
#include "util/log.h"

enum { THR = 0, IER = 1, IIR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define LCR_DLAB 0x80
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

/* tlv ids of the device record */
enum { SER_REGS = 1, SER_PENDING = 2, SER_BYTES = 3 };

void serial__init(struct serial *s, int out_fd)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
}

void serial__destroy(struct serial *s)
{
	serial__flush(s);
	pthread_mutex_destroy(&s->lock);
}

static void flush_locked(struct serial *s)
{
	if (s->linelen && s->out_fd >= 0)
		(void)write__full(s->out_fd, s->line, s->linelen);
	s->linelen = 0;
}

void serial__flush(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	flush_locked(s);
	pthread_mutex_unlock(&s->lock);
}

void serial__discard(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	s->linelen = 0;
	pthread_mutex_unlock(&s->lock);
}

static void put(struct serial *s, uint8_t c)
{
	s->bytes++;
	if (c == '\r')
		return;
	s->line[s->linelen++] = (char)c;
	if (c == '\n' || s->linelen == sizeof(s->line))
		flush_locked(s);
}

void serial__io(struct serial *s, uint16_t off, bool write, uint8_t *data)
{
	bool dlab;
	pthread_mutex_lock(&s->lock);
	dlab = s->lcr & LCR_DLAB;
	if (write) {
		switch (off) {
		case THR: if (dlab) s->dll = *data; else put(s, *data); break;
		case IER: if (dlab) s->dlm = *data; else s->ier = *data & 0x0f; break;
		case IIR: s->fcr = *data; break;
		case LCR: s->lcr = *data; break;
		case MCR: s->mcr = *data & 0x1f; break;
		case SCR: s->scr = *data; break;
		default: break;           /* LSR/MSR are read-only */
		}
	} else {
		switch (off) {
		case THR: *data = dlab ? s->dll : 0; break;      /* no input */
		case IER: *data = dlab ? s->dlm : s->ier; break;
		case IIR: *data = 0x01 | ((s->fcr & 1) ? 0xc0 : 0); break; /* no interrupt pending */
		case LCR: *data = s->lcr; break;
		case MCR: *data = s->mcr; break;
		case LSR: *data = LSR_THRE | LSR_TEMT; break;
		case MSR: *data = 0xb0; break;                   /* CTS, DSR, DCD */
		case SCR: *data = s->scr; break;
		default: *data = 0xff; break;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static int port(void *s, struct exit_io *io, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	/* a string instruction may carry several bytes */
	for (uint32_t i = 0; i < io->count; i++)
		for (int b = 0; b < io->size; b++)
			serial__io(s, io->off, io->out, io->data + i * io->size + b);
	return 0;
}

int serial__register(struct serial *s, struct exits *t)
{
	return exits__register_port(t, SERIAL_BASE, SERIAL_PORTS, port, s);
}

int serial__save(struct serial *s, struct tlv_buf *b)
{
	uint8_t regs[7];
	pthread_mutex_lock(&s->lock);
	regs[0] = s->ier; regs[1] = s->lcr; regs[2] = s->mcr; regs[3] = s->scr;
	regs[4] = s->dll; regs[5] = s->dlm; regs[6] = s->fcr;
	tlv__put(b, SER_REGS, REC_F_REQUIRED, regs, sizeof(regs));
	/* a half-written line belongs to the guest's output: it travels too */
	tlv__put(b, SER_PENDING, 0, s->line, s->linelen);
	tlv__put_u64(b, SER_BYTES, 0, s->bytes);
	pthread_mutex_unlock(&s->lock);
	return b->error;
}

int serial__load(struct serial *s, const void *p, size_t len, char *err, size_t errlen)
{
	static const uint16_t known[] = { SER_REGS, SER_PENDING, SER_BYTES };
	struct tlv_field f;
	uint64_t bytes = 0;
	char why[160];
	if (tlv__validate(p, len, known, sizeof(known) / sizeof(known[0]), why, sizeof(why))) {
		errbuf__set(err, errlen, "serial record: %s", why);
		return -1;
	}
	if (!tlv__find(p, len, SER_REGS, &f) || f.len != 7) {
		errbuf__set(err, errlen, "serial record: registers missing or wrong size");
		return -1;
	}
	const uint8_t *r = f.val;
	/* reserved bits are 0 on a 16550: a record with them set was not
	 * written by tern (IER 7:4, MCR 7:5, FCR 5:4) */
	if ((r[0] & 0xF0) || (r[2] & 0xE0) || (r[6] & 0x30)) {
		errbuf__set(err, errlen, "serial record: reserved register bits set (IER 0x%02x, MCR 0x%02x, "
			   "FCR 0x%02x)", r[0], r[2], r[6]);
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	s->ier = r[0]; s->lcr = r[1]; s->mcr = r[2]; s->scr = r[3];
	s->dll = r[4]; s->dlm = r[5]; s->fcr = r[6];
	if (tlv__find(p, len, SER_PENDING, &f) && f.len < sizeof(s->line)) {
		memcpy(s->line, f.val, f.len);
		s->linelen = f.len;
	}
	if (tlv__get_u64(p, len, SER_BYTES, &bytes) == 0)
		s->bytes = bytes;
	pthread_mutex_unlock(&s->lock);
	return 0;
}
