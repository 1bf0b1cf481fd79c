/* reset.c - port 0xCF9 and the keyboard controller's reset command. */
#include <stdio.h>

#include "dev/reset.h"

static void request(struct reset_dev *d, int cpu, const char *what, unsigned val)
{
	char why[96];
	snprintf(why, sizeof(why), "guest reset the machine (%s 0x%x, vCPU %d)", what, val, cpu);
	__atomic_add_fetch(&d->requests, 1, __ATOMIC_RELAXED);
	d->request(d->ctx, why);
}

/* A wider or repeated access counts byte by byte at the port; only the
 * first byte of each access lands on it (the others belong to the next
 * ports up, which nobody here decodes). */
static int cf9(void *ctx, struct exit_io *io, char *err, size_t errlen)
{
	struct reset_dev *d = ctx;
	(void)err;
	(void)errlen;
	if (!io->out) {
		for (uint32_t i = 0; i < io->count; i++)
			for (uint8_t b = 0; b < io->size; b++)
				io->data[(size_t)i * io->size + b] =
					b == 0 ? __atomic_load_n(&d->cf9, __ATOMIC_RELAXED) : 0xff;
		return 0;
	}
	for (uint32_t i = 0; i < io->count; i++) {
		uint8_t v = io->data[(size_t)i * io->size];
		__atomic_store_n(&d->cf9, v & RESET_CF9_KEEP, __ATOMIC_RELAXED);
		if (v & RESET_CF9_RST_CPU) {
			request(d, io->cpu, "write to port 0xCF9:", v);
			break;
		}
	}
	return 0;
}

/* The 8042's status register reads 0: no data waiting, input buffer empty,
 * so a guest that polls before its reset command goes on at once. */
static int kbc(void *ctx, struct exit_io *io, char *err, size_t errlen)
{
	struct reset_dev *d = ctx;
	(void)err;
	(void)errlen;
	if (!io->out) {
		for (size_t i = 0; i < (size_t)io->size * io->count; i++)
			io->data[i] = 0;
		return 0;
	}
	for (uint32_t i = 0; i < io->count; i++) {
		uint8_t v = io->data[(size_t)i * io->size];
		if (v == RESET_KBC_PULSE) {
			request(d, io->cpu, "keyboard controller command to port 0x64:", v);
			break;
		}
	}
	return 0;
}

int reset_dev__register(struct reset_dev *d, struct exits *t)
{
	int r = exits__register_port(t, RESET_CF9_PORT, 1, cf9, d);
	if (!r)
		r = exits__register_port(t, RESET_KBC_PORT, 1, kbc, d);
	return r;
}
