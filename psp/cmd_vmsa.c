/* cmd_vmsa.c - the VMSAs of an SEV-ES guest's vCPUs after launch.
 *
 * On hardware a launched vCPU's register state lives in its VMSA, a page
 * of encrypted guest memory: the CPU writes it at every #VMEXIT and reads
 * it at VMRUN, and KVM's MOVE_ENC_CONTEXT_FROM hands vCPU i's VMSA to the
 * destination's vCPU i. The emulation has no such CPU: the vCPU runs in
 * an ordinary KVM VM, so tern-psp keeps each vCPU's VMSA with the context
 * (LAUNCH_UPDATE_VMSA stores the measured one), the VMM replaces it with
 * the vCPU's state when it is about to let go of the vCPU (VMSA_SAVE: a
 * handoff), and the process that received the context reads it back
 * (VMSA_LOAD). The move carries the VMSAs (ctxmove.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "psp_cmds.h"

/* The checks both share, in the order LAUNCH_UPDATE_VMSA makes them:
 * SEV-ES, the vCPU, its VMSA launched, the guest running (only a running
 * guest has a CPU that writes or reads its VMSA). */
static int vmsa_target(struct pvm *vm, uint32_t vcpu, struct reply *r)
{
	struct fw_ctx *fw;
	if (!vm->es)
		return -ENOTTY;
	if (vcpu >= vm->vcpus || vcpu >= PSP_MAX_VCPUS || !vm->vmsa_launched[vcpu] || !vm->vmsa[vcpu])
		return -EINVAL;
	fw = fw__of(vm);
	if (!fw || fw->state != PSP_STATE_RUNNING)
		return fw__fail(r, PSP_FW_INVALID_GUEST_STATE);
	return 0;
}

static int vmsa_save(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r)
{
	struct psp_vmsa v;
	uint8_t *copy;
	int s;
	if (!vm->es)
		return -ENOTTY;
	if (len < sizeof(v))
		return -EINVAL;
	memcpy(&v, p, sizeof(v));
	if (v.len != len - sizeof(v) || !v.len || v.len > PSP_VMSA_MAX)
		return -EINVAL;
	if ((s = vmsa_target(vm, v.vcpu, r)))
		return s;
	if (!(copy = malloc(v.len)))
		return -ENOMEM;
	memcpy(copy, p + sizeof(v), v.len);
	free(vm->vmsa[v.vcpu]);
	vm->vmsa[v.vcpu] = copy;
	vm->vmsa_len[v.vcpu] = v.len;
	return 0;
}

static int vmsa_load(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r)
{
	struct psp_vcpu_ref v;
	int s;
	if (!vm->es)
		return -ENOTTY;
	if (len != sizeof(v))
		return -EINVAL;
	memcpy(&v, p, sizeof(v));
	if ((s = vmsa_target(vm, v.vcpu, r)))
		return s;
	return reply__put(r, vm->vmsa[v.vcpu], vm->vmsa_len[v.vcpu]);
}

int cmd__vmsa(struct pvm *vm, uint16_t op, const uint8_t *p, size_t len, struct reply *r)
{
	if (vm->token_sent)
		return -EPERM;
	return op == PSP_OP_VMSA_SAVE ? vmsa_save(vm, p, len, r) : vmsa_load(vm, p, len, r);
}

void vmsas__free(struct pvm *vm)
{
	for (int i = 0; i < PSP_MAX_VCPUS; i++) {
		if (vm->vmsa[i])
			OPENSSL_cleanse(vm->vmsa[i], vm->vmsa_len[i]);
		free(vm->vmsa[i]);
		vm->vmsa[i] = NULL;
		vm->vmsa_len[i] = 0;
	}
}
