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
	plat.min_sev_asid = nasids / 2 + 1;
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

int platform__set_min_sev_asid(uint32_t min_sev_asid)
{
	if (min_sev_asid < 1 || min_sev_asid > plat.nasids + 1)
		return -1;
	plat.min_sev_asid = min_sev_asid;
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

int domain__set_limit(const char *name, bool es, uint32_t limit)
{
	int d = domain__lookup(name, true);
	if (d < 0)
		return -1;
	plat.domains[d].limit[es] = limit;
	return 0;
}

int domain__charge(int d, bool es)
{
	struct domain *dm = &plat.domains[d];
	if (dm->limit[es] && dm->used[es] >= dm->limit[es])
		return -EBUSY;
	dm->used[es]++;
	return 0;
}

void domain__uncharge(int d, bool es)
{
	if (plat.domains[d].used[es])
		plat.domains[d].used[es]--;
}

/* sev_asid_new(): SEV-ES guests use [1, min_sev_asid - 1], SEV guests
 * [min_sev_asid, max_sev_asid] */
static void asid_range(bool es, uint32_t *min, uint32_t *max)
{
	*min = es ? 1 : plat.min_sev_asid;
	*max = es ? plat.min_sev_asid - 1 : plat.nasids;
}

bool asid__range_empty(bool es)
{
	uint32_t min, max;
	asid_range(es, &min, &max);
	return min > max;
}

int asid__alloc(int d, bool es, uint32_t *asid)
{
	uint32_t min, max;
	int r;
	asid_range(es, &min, &max);
	if (min > max)
		return -ENOTTY;           /* as sev_asid_new(): this kind has no ASIDs */
	if ((r = domain__charge(d, es)))
		return r;
	for (uint32_t a = min; a <= max; a++) {
		if (!plat.asid_used[a]) {
			plat.asid_used[a] = 1;
			*asid = a;
			return 0;
		}
	}
	domain__uncharge(d, es);
	return -EBUSY;                    /* as sev_asid_new() when the range is exhausted */
}

void asid__free(int d, uint32_t asid)
{
	if (!asid || asid > plat.nasids)
		return;
	plat.asid_used[asid] = 0;
	domain__uncharge(d, asid < plat.min_sev_asid);
}

uint32_t asid__count_free(void)
{
	uint32_t n = 0;
	for (uint32_t a = 1; a <= plat.nasids; a++)
		n += !plat.asid_used[a];
	return n;
}
