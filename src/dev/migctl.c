/* migctl.c - the guest's "you may migrate me now" switch. */
#include "dev/migctl.h"
#include "mem/page_status.h"

static bool rdmsr(void *ps, uint32_t index, uint64_t *data)
{
	(void)index;                      /* registered for this one MSR */
	*data = page_status__migctl(ps);
	return true;
}

static bool wrmsr(void *ps, uint32_t index, uint64_t data)
{
	(void)index;
	/* reserved bits: #GP, as KVM would */
	return page_status__set_migctl(ps, data) == 0;
}

int migctl__register(struct page_status *ps, struct exits *t)
{
	return exits__register_msr(t, MSR_KVM_MIGRATION_CONTROL, rdmsr, wrmsr, ps);
}
