/* dispatch.c - check a request's framing and route it. Everything a client
 * sends is untrusted: lengths are checked before any payload is read, and
 * an fd that comes with a request that does not take one is closed. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "psp.h"

int reply__put(struct reply *r, const void *p, size_t len)
{
	if (len > sizeof(r->data) - r->len)
		return -EMSGSIZE;
	memcpy(r->data + r->len, p, len);
	r->len += (uint32_t)len;
	return 0;
}

static int op_hello(struct reply *r)
{
	struct psp_platform_info pi = {
		.api_major = PSP_API_MAJOR, .api_minor = PSP_API_MINOR, .build = PSP_BUILD,
		.asids_total = plat.nasids, .asids_free = asid__count_free(),
		.vms = (uint32_t)pvm__count(),
	};
	return reply__put(r, &pi, sizeof(pi));
}

/* KVM_CREATE_VM(type): the platform offers the default, SEV and SEV-ES
 * types (SEV-ES only while it has SEV-ES ASIDs) */
static bool vm_type_offered(uint32_t t)
{
	return t == PSP_VM_DEFAULT || t == PSP_VM_SEV || (t == PSP_VM_SEV_ES && !asid__range_empty(true));
}

static int op_vm_create(const uint8_t *p, size_t len, struct reply *r)
{
	struct psp_vm_create_typed c = { .vm_type = PSP_VM_DEFAULT };
	struct pvm *vm;
	int d, fd;
	if (len != sizeof(struct psp__vm_create) && len != sizeof(c))
		return -EINVAL;
	memcpy(&c, p, len);
	c.domain[sizeof(c.domain) - 1] = '\0';
	if (!vm_type_offered(c.vm_type))
		return -EINVAL;
	d = domain__lookup(c.domain, true);
	if (d < 0)
		return -ENOSPC;
	if (!(vm = pvm__create(d, &fd)))  /* out of descriptors: say so (EMFILE) */
		return errno ? -errno : -ENOMEM;
	vm->vm_type = c.vm_type;
	r->fd = fd;
	return 0;
}

static int op_vm_info(struct pvm *vm, struct reply *r)
{
	struct fw_ctx *fw = fw__of(vm);
	struct psp_vm_info i = {
		.sev = vm->sev, .es = vm->es, .dead = vm->dead, .mirror = vm->owner != NULL,
		.asid = vm->owner ? vm->owner->asid : vm->asid,
		.handle = vm->owner ? vm->mirror_handle : fw ? fw->handle : 0,
		.state = fw ? (uint32_t)fw->state : 0,
		.policy = fw ? fw->policy : 0, .vcpus = vm->vcpus,
		.nmirrors = (uint32_t)vm->nmirrors, .nregions = (uint32_t)vm->nregions,
		.vm_type = vm->vm_type, .ghcb_version = vm->ghcb_version,
		.vmsa_features = vm->vmsa_features,
	};
	for (uint32_t k = 0; k < PSP_MAX_VCPUS; k++)
		i.vmsa_launched += vm->vmsa_launched[k];
	return reply__put(r, &i, sizeof(i));
}

static int op_region(struct pvm *vm, uint16_t op, const uint8_t *p, size_t len, int fd)
{
	struct psp_region g;
	/* the argument is read first (KVM's ioctl copies it in before the
	 * SEV layer looks at the VM) */
	if (len != sizeof(g))
		return -EINVAL;
	memcpy(&g, p, sizeof(g));
	/* the kernel's orders (sev_mem_enc_register_region,
	 * sev_mem_enc_unregister_region): register checks SEV then mirror,
	 * unregister mirror then SEV, then whether the region is there */
	if (op == PSP_OP_REGION_REG) {
		if (!vm->sev)
			return -ENOTTY;
		if (vm->owner)
			return -EINVAL;   /* regions belong to the owner */
	} else {
		if (vm->owner)
			return -EINVAL;
		if (!vm->sev)
			return -ENOTTY;
	}
	if (vm->token_sent)
		return -EPERM;
	return op == PSP_OP_REGION_REG ? region__register(vm, fd, &g) : region__unregister(vm, &g);
}

static int op_vcpus(struct pvm *vm, uint16_t op, const uint8_t *p, size_t len)
{
	struct psp_vcpus v = { 1 };
	if (op == PSP_OP_VCPU_CREATE) {
		if (len != sizeof(v))
			return -EINVAL;
		memcpy(&v, p, sizeof(v));
	} else if (len) {
		return -EINVAL;
	}
	switch (op) {
	case PSP_OP_VCPU_CREATE:
		if (v.count > PSP_MAX_VCPUS - vm->vcpus)
			return -EINVAL;
		vm->vcpus += v.count;
		return 0;
	case PSP_OP_VCPU_BEGIN:
		if (vm->vcpus + vm->creating >= PSP_MAX_VCPUS)
			return -EINVAL;
		vm->creating++;
		return 0;
	default:                          /* PSP_OP_VCPU_END */
		if (!vm->creating)
			return -EINVAL;
		vm->creating--;
		vm->vcpus++;
		return 0;
	}
}

void psp__dispatch(struct pvm *vm, const uint8_t *msg, size_t len, int fd,
		  struct psp_hdr *rh, struct reply *r)
{
	struct psp_hdr h;
	const uint8_t *p;
	int s;

	r->status = 0;
	r->fw_error = 0;
	r->len = 0;
	r->fd = -1;
	memset(rh, 0, sizeof(*rh));
	rh->magic = PSP_MAGIC;
	rh->version = PSP_PROTO_VERSION;
	if (len < sizeof(h)) {
		s = -EPROTO;
		goto out;
	}
	memcpy(&h, msg, sizeof(h));
	rh->op = h.op;
	rh->cmd = h.cmd;
	if (h.magic != PSP_MAGIC || h.len != len - sizeof(h)) {
		s = -EPROTO;
		goto out;
	}
	if (h.version != PSP_PROTO_VERSION) {
		s = -EPROTONOSUPPORT;
		goto out;
	}
	p = msg + sizeof(h);

	/* copy/move take a second VM's fd; region registration a memfd */
	bool takes_fd = h.op == PSP_OP_REGION_REG || h.op == PSP_OP_COPY_FROM || h.op == PSP_OP_MOVE_FROM;
	if (fd >= 0 && !takes_fd) {
		close(fd);
		fd = -1;
	}

	if (!vm) {
		switch (h.op) {
		case PSP_OP_HELLO: s = op_hello(r); break;
		case PSP_OP_VM_CREATE: s = op_vm_create(p, h.len, r); break;
		case PSP_OP_EXPORT_CHAIN: s = reply__put(r, plat.chain_pem, plat.chain_len); break;
		default: s = -EOPNOTSUPP; break;
		}
		goto out;
	}
	if (h.op == PSP_OP_VM_INFO) {
		s = op_vm_info(vm, r);
		goto out;
	}
	/* a dead VM (its context moved away) answers nothing else (section 2) */
	if (vm->dead) {
		s = -EIO;
		goto out;
	}
	switch (h.op) {
	case PSP_OP_ENC: s = cmd__enc(vm, h.cmd, p, h.len, r); break;
	case PSP_OP_REGION_REG:
	case PSP_OP_REGION_UNREG: s = op_region(vm, h.op, p, h.len, fd); break;
	case PSP_OP_COPY_FROM: s = cmd__copy_from(vm, fd, r); fd = -1; break;
	case PSP_OP_MOVE_FROM: s = cmd__move_from(vm, fd, r); fd = -1; break;
	case PSP_OP_VCPU_CREATE:
	case PSP_OP_VCPU_BEGIN:
	case PSP_OP_VCPU_END: s = op_vcpus(vm, h.op, p, h.len); break;
	case PSP_OP_VMSA_SAVE:
	case PSP_OP_VMSA_LOAD: s = cmd__vmsa(vm, h.op, p, h.len, r); break;
	default: s = -EOPNOTSUPP; break;
	}
out:
	if (fd >= 0)
		close(fd);
	if (s && !r->status)
		r->status = s;
	if (r->status && r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	if (r->status)
		r->len = 0;
	rh->status = r->status;
	rh->fw_error = r->fw_error;
	rh->len = r->len;
}
