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

static int sev_init(struct pvm *vm, bool es, size_t len)
{
	uint32_t asid;
	int r;
	if (len)
		return -EINVAL;
	if (vm->sev)
		return -EINVAL;           /* already an SEV guest */
	if (vm->vcpus || vm->creating)
		return -EINVAL;           /* KVM: SEV must be set up before vCPUs */
	r = asid_alloc(vm->domain, &asid);
	if (r)
		return r;
	vm->sev = true;
	vm->es = es;
	vm->asid = asid;
	return 0;
}

static int guest_status(struct pvm *vm, size_t len, struct reply *r)
{
	struct fw_ctx *fw = fw_of(vm);
	struct psp_guest_status gs;
	if (len)
		return -EINVAL;
	if (!fw)
		return fw_fail(r, PSP_FW_INVALID_GUEST);
	gs.handle = fw->handle;
	gs.policy = fw->policy;
	gs.state = (uint32_t)fw->state;
	return reply_put(r, &gs, sizeof(gs));
}

static int decommission(struct pvm *vm, size_t len)
{
	if (len)
		return -EINVAL;
	/* the firmware forgets the context; the VM keeps its ASID and may
	 * launch again */
	fw_free(vm->fw);
	vm->fw = NULL;
	return 0;
}

int cmd_enc(struct pvm *vm, uint32_t cmd, const uint8_t *p, size_t len, struct reply *r)
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
	if (!vm->sev)
		return cmd == PSP_SEV_RECEIVE_UPDATE_DATA ? -EINVAL : -ENOTTY;

	switch (cmd) {
	case PSP_SEV_LAUNCH_START:        return launch_start(vm, p, len, r);
	case PSP_SEV_LAUNCH_UPDATE_DATA:  return launch_update_data(vm, p, len, r);
	case PSP_SEV_LAUNCH_UPDATE_VMSA:  return launch_update_vmsa(vm, p, len, r);
	case PSP_SEV_LAUNCH_MEASURE:      return launch_measure(vm, len, r);
	case PSP_SEV_LAUNCH_SECRET:       return launch_secret(vm, p, len, r);
	case PSP_SEV_LAUNCH_FINISH:       return launch_finish(vm, len, r);
	case PSP_SEV_GUEST_STATUS:        return guest_status(vm, len, r);
	case PSP_SEV_DBG_DECRYPT:         return dbg_decrypt(vm, p, len, r);
	case PSP_SEV_DBG_ENCRYPT:         return dbg_encrypt(vm, p, len, r);
	case PSP_SEV_SEND_START:          return send_start(vm, p, len, r);
	case PSP_SEV_SEND_UPDATE_DATA:    return send_update_data(vm, p, len, r);
	case PSP_SEV_SEND_FINISH:         return send_finish(vm, len, r);
	case PSP_SEV_SEND_CANCEL:         return send_cancel(vm, len, r);
	case PSP_SEV_RECEIVE_START:       return receive_start(vm, p, len, r);
	case PSP_SEV_RECEIVE_UPDATE_DATA: return receive_update_data(vm, p, len, r);
	case PSP_SEV_RECEIVE_FINISH:      return receive_finish(vm, len, r);
	case PSP_SEV_LOCAL_SEND:          return len ? -EINVAL : cmd_local_send(vm, r);
	case PSP_SEV_LOCAL_RECEIVE:       return cmd_local_receive(vm, p, len, r);
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
