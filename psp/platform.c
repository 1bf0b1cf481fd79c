/* platform.c - the platform's countable resources: the ASID pool and the
 * per-accounting-domain quotas (the misc-cgroup "sev" controller's
 * analogue). Called with plat.lock held. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psp.h"
#include "util/log.h"

struct platform plat = { .lock = PTHREAD_MUTEX_INITIALIZER };

void psp__log(const char *fmt, ...)
{
	va_list ap;
	if (!plat.verbose)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "tern-psp: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int platform__init(uint32_t nasids, char *err, size_t errlen)
{
	plat.nasids = nasids;
	plat.asid_used = calloc(nasids + 1, 1);
	plat.next_handle = 1;
	plat.next_vm_id = 1;
	if (!plat.asid_used) {
		errbuf__set(err, errlen, "out of memory");
		return -1;
	}
	domain__lookup("default", true);
	return 0;
}

int domain__lookup(const char *name, bool create)
{
	if (!name || !*name)
		name = "default";
	for (int i = 0; i < plat.ndomains; i++)
		if (!strncmp(plat.domains[i].name, name, sizeof(plat.domains[i].name)))
			return i;
	if (!create || plat.ndomains == PSP_MAX_DOMAINS)
		return -1;
	snprintf(plat.domains[plat.ndomains].name, sizeof(plat.domains[0].name), "%s", name);
	return plat.ndomains++;
}

int domain__set_limit(const char *name, uint32_t limit)
{
	int d = domain__lookup(name, true);
	if (d < 0)
		return -1;
	plat.domains[d].limit = limit;
	return 0;
}

int domain__charge(int d)
{
	struct domain *dm = &plat.domains[d];
	if (dm->limit && dm->used >= dm->limit)
		return -EBUSY;
	dm->used++;
	return 0;
}

void domain__uncharge(int d)
{
	if (plat.domains[d].used)
		plat.domains[d].used--;
}

int asid__alloc(int d, uint32_t *asid)
{
	int r = domain__charge(d);
	if (r)
		return r;
	for (uint32_t a = 1; a <= plat.nasids; a++) {
		if (!plat.asid_used[a]) {
			plat.asid_used[a] = 1;
			*asid = a;
			return 0;
		}
	}
	domain__uncharge(d);
	return -EBUSY;                    /* as sev_asid_new() when the pool is empty */
}

void asid__free(int d, uint32_t asid)
{
	if (asid && asid <= plat.nasids)
		plat.asid_used[asid] = 0;
	domain__uncharge(d);
}

uint32_t asid__count_free(void)
{
	uint32_t n = 0;
	for (uint32_t a = 1; a <= plat.nasids; a++)
		n += !plat.asid_used[a];
	return n;
}
