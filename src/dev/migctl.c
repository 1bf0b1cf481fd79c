/* migctl.c - the guest's "you may migrate me now" switch. */
#include "dev/migctl.h"
#include "mem/page_status.h"

bool migctl__rdmsr(struct page_status *ps, uint32_t index, uint64_t *data)
{
	if (index != MSR_KVM_MIGRATION_CONTROL)
		return false;
	*data = page_status_migctl(ps);
	return true;
}

bool migctl__wrmsr(struct page_status *ps, uint32_t index, uint64_t data)
{
	if (index != MSR_KVM_MIGRATION_CONTROL)
		return false;
	/* reserved bits: #GP, as KVM would */
	return page_status_set_migctl(ps, data) == 0;
}
