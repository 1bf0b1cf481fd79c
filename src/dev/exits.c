/* exits.c - register and look up a VM's exit handlers. Linear scans: a VM
 * has a handful of entries, and a scan of a few cache lines costs less than
 * the exit that led here. */
#include <errno.h>

#include "dev/exits.h"

int exits__register_port(struct exits *t, uint16_t base, uint16_t len, exit_port_fn fn, void *ctx)
{
	uint32_t end = (uint32_t)base + len;

	if (!len || end > 0x10000 || !fn)
		return -EINVAL;
	for (int i = 0; i < t->nports; i++) {
		const struct exit_port *p = &t->port[i];
		if (base < (uint32_t)p->base + p->len && p->base < end)
			return -EEXIST;
	}
	if (t->nports == EXITS_MAX_PORTS)
		return -ENOSPC;
	t->port[t->nports++] = (struct exit_port){ .base = base, .len = len, .fn = fn, .ctx = ctx };
	return 0;
}

int exits__register_hcall(struct exits *t, uint64_t nr, exit_hcall_fn fn, void *ctx)
{
	if (!fn)
		return -EINVAL;
	if (exits__hcall(t, nr))
		return -EEXIST;
	if (t->nhcalls == EXITS_MAX_HCALLS)
		return -ENOSPC;
	t->hcall[t->nhcalls++] = (struct exit_hcall){ .nr = nr, .fn = fn, .ctx = ctx };
	return 0;
}

int exits__register_msr(struct exits *t, uint32_t index, exit_rdmsr_fn rd, exit_wrmsr_fn wr,
			void *ctx)
{
	if (!rd || !wr)
		return -EINVAL;
	if (exits__msr(t, index))
		return -EEXIST;
	if (t->nmsrs == EXITS_MAX_MSRS)
		return -ENOSPC;
	t->msr[t->nmsrs++] = (struct exit_msr){ .index = index, .rd = rd, .wr = wr, .ctx = ctx };
	return 0;
}

const struct exit_port *exits__port(const struct exits *t, uint16_t port)
{
	for (int i = 0; i < t->nports; i++)
		if (port >= t->port[i].base && (uint32_t)port < (uint32_t)t->port[i].base + t->port[i].len)
			return &t->port[i];
	return NULL;
}

const struct exit_hcall *exits__hcall(const struct exits *t, uint64_t nr)
{
	for (int i = 0; i < t->nhcalls; i++)
		if (t->hcall[i].nr == nr)
			return &t->hcall[i];
	return NULL;
}

const struct exit_msr *exits__msr(const struct exits *t, uint32_t index)
{
	for (int i = 0; i < t->nmsrs; i++)
		if (t->msr[i].index == index)
			return &t->msr[i];
	return NULL;
}
