/* migctl.c - the guest's "you may migrate me now" switch. */
#include "dev/migctl.h"
#include "vm/vm.h"

bool migctl__rdmsr(struct vm *vm, uint32_t index, uint64_t *data)
{
	if (index != MSR_KVM_MIGRATION_CONTROL)
		return false;
	*data = page_status_migctl(&vm->ps);
	return true;
}

bool migctl__wrmsr(struct vm *vm, uint32_t index, uint64_t data)
{
	if (index != MSR_KVM_MIGRATION_CONTROL)
		return false;
	/* reserved bits: #GP, as KVM would */
	return page_status_set_migctl(&vm->ps, data) == 0;
}
