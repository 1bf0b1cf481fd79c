/* cmd_enc.c - KVM_MEMORY_ENCRYPT_OP: the checks KVM makes before a command
 * reaches the firmware, in KVM's order, then the command itself. */
#include <errno.h>
#include <string.h>

#include "psp.h"
#include "psp_cmds.h"

/* Section 1: what a mirror may still ask. */
static bool allowed_from_mirror(uint32_t cmd)
{
	return cmd == PSP_SEV_LAUNCH_UPDATE_VMSA || cmd == PSP_SEV_GUEST_STATUS ||
	       cmd == PSP_SEV_DBG_DECRYPT || cmd == PSP_SEV_DBG_ENCRYPT;
}

/* __sev_guest_init(): what INIT, ES_INIT and INIT2 share */
static int guest_init(struct pvm *vm, bool es, uint64_t vmsa_features, uint16_t ghcb)
{
	uint32_t asid;
	int r;
	if (vm->vcpus || vm->creating)
		return -EINVAL;           /* KVM: SEV must be set up before vCPUs */
	if (vm->sev)
		return -EINVAL;           /* already an SEV guest */
	r = asid__alloc(vm->domain, es, &asid);
	if (r)
		return r;
	vm->sev = true;
	vm->es = es;
	vm->asid = asid;
	vm->vmsa_features = vmsa_features;
	vm->ghcb_version = ghcb;
	return 0;
}

/* KVM_SEV_INIT / KVM_SEV_ES_INIT: only on a VM of the default type */
static int sev_init(struct pvm *vm, bool es, size_t len)
{
	if (es && asid__range_empty(true))
		return -ENOTTY;           /* sev_es_enabled is false without SEV-ES ASIDs */
	if (len)
		return -EINVAL;
	if (vm->vm_type != PSP_VM_DEFAULT)
		return -EINVAL;
	return guest_init(vm, es, 0, es ? PSP_GHCB_VERSION_MIN : 0);
}

/* KVM_SEV_INIT2 (sev_guest_init2, __sev_guest_init): only on a VM created
 * as an SEV or SEV-ES type, once */
static int sev_init2(struct pvm *vm, const uint8_t *p, size_t len)
{
	struct psp_sev_init2 in;
	bool es;
	if (vm->sev)
		return -EINVAL;           /* need_init is over */
	if (vm->vm_type != PSP_VM_SEV && vm->vm_type != PSP_VM_SEV_ES)
		return -EINVAL;
	if (len != sizeof(in))
		return -EINVAL;
	memcpy(&in, p, sizeof(in));
	if (in.vm_type != vm->vm_type)
		return -EINVAL;           /* tern: the type named is not the VM's */
	es = vm->vm_type == PSP_VM_SEV_ES;
	if (vm->vcpus || vm->creating)
		return -EINVAL;
	if (in.flags)
		return -EINVAL;
	if (in.vmsa_features & ~(es ? PSP_VMSA_FEATURES : 0))
		return -EINVAL;
	if (in.ghcb_version > PSP_GHCB_VERSION_MAX || (!es && in.ghcb_version))
		return -EINVAL;
	return guest_init(vm, es, in.vmsa_features,
			  es && !in.ghcb_version ? PSP_GHCB_VERSION_MAX : in.ghcb_version);
}

static int guest_status(struct pvm *vm, size_t len, struct reply *r)
{
	struct fw_ctx *fw = fw__of(vm);
	struct psp_guest_status gs;
	if (len)
		return -EINVAL;
	if (!fw)
		return fw__fail(r, PSP_FW_INVALID_GUEST);
	gs.handle = fw->handle;
	gs.policy = fw->policy;
	gs.state = (uint32_t)fw->state;
	return reply__put(r, &gs, sizeof(gs));
}

static int decommission(struct pvm *vm, size_t len)
{
	if (len)
		return -EINVAL;
	/* the firmware forgets the context; the VM keeps its ASID and may
	 * launch again */
	fw__free(vm->fw);
	vm->fw = NULL;
	return 0;
}

int cmd__enc(struct pvm *vm, uint32_t cmd, const uint8_t *p, size_t len, struct reply *r)
{
	/* a mirror is refused before its arguments are looked at, even for
	 * command ids that do not exist */
	if (vm->owner && !allowed_from_mirror(cmd))
		return -EINVAL;
	if (vm->token_sent && cmd != PSP_SEV_DBG_DECRYPT && cmd != PSP_SEV_DBG_ENCRYPT &&
	    cmd != PSP_SEV_LOCAL_SEND)
		return -EPERM;            /* section 3: a sent source may only debug */
	if (cmd == PSP_SEV_LOCAL_RECEIVE && !vm->sev)
		return -EPERM;            /* section 3: the target must have SEV initialised */
	if (cmd == PSP_SEV_INIT || cmd == PSP_SEV_ES_INIT)
		return sev_init(vm, cmd == PSP_SEV_ES_INIT, len);
	if (cmd == PSP_SEV_INIT2)
		return sev_init2(vm, p, len);
	if (!vm->sev)
		return cmd == PSP_SEV_RECEIVE_UPDATE_DATA ? -EINVAL : -ENOTTY;

	switch (cmd) {
	case PSP_SEV_LAUNCH_START:        return launch__start(vm, p, len, r);
	case PSP_SEV_LAUNCH_UPDATE_DATA:  return launch__update_data(vm, p, len, r);
	case PSP_SEV_LAUNCH_UPDATE_VMSA:  return launch__update_vmsa(vm, p, len, r);
	case PSP_SEV_LAUNCH_MEASURE:      return launch__measure(vm, len, r);
	case PSP_SEV_LAUNCH_SECRET:       return launch__secret(vm, p, len, r);
	case PSP_SEV_LAUNCH_FINISH:       return launch__finish(vm, len, r);
	case PSP_SEV_GUEST_STATUS:        return guest_status(vm, len, r);
	case PSP_SEV_DBG_DECRYPT:         return dbg__decrypt(vm, p, len, r);
	case PSP_SEV_DBG_ENCRYPT:         return dbg__encrypt(vm, p, len, r);
	case PSP_SEV_SEND_START:          return send__start(vm, p, len, r);
	case PSP_SEV_SEND_UPDATE_DATA:    return send__update_data(vm, p, len, r);
	case PSP_SEV_SEND_FINISH:         return send__finish(vm, len, r);
	case PSP_SEV_SEND_CANCEL:         return send__cancel(vm, len, r);
	case PSP_SEV_RECEIVE_START:       return receive__start(vm, p, len, r);
	case PSP_SEV_RECEIVE_UPDATE_DATA: return receive__update_data(vm, p, len, r);
	case PSP_SEV_RECEIVE_FINISH:      return receive__finish(vm, len, r);
	case PSP_SEV_LOCAL_SEND:          return len ? -EINVAL : cmd__local_send(vm, r);
	case PSP_SEV_LOCAL_RECEIVE:       return cmd__local_receive(vm, p, len, r);
	case PSP_SEV_DECOMMISSION:        return decommission(vm, len);
	/* upstream KVM implements neither: SEV-ES moves between hosts only
	 * through the migration helper (section 6) */
	case PSP_SEV_SEND_UPDATE_VMSA:
	case PSP_SEV_RECEIVE_UPDATE_VMSA:
	/* not offered by the emulated platform */
	case PSP_SEV_CERT_EXPORT:
	case PSP_SEV_GET_ATTESTATION:
	default:
		return -EINVAL;
	}
}
