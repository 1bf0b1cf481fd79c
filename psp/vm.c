/* vm.c - VM objects and their lifetime. A VM lives while its client handle
 * is open or a mirror borrows its context (section 1, lifetime). Called
 * with plat.lock held. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psp.h"

struct pvm *pvm__create(int domain, int *client_fd)
{
	int sv[2];
	struct stat st;
	struct pvm *vm;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return NULL;
	vm = calloc(1, sizeof(*vm));
	if (!vm || fstat(sv[1], &st) < 0) {
		int e = vm ? errno : ENOMEM;
		free(vm);
		close(sv[0]);
		close(sv[1]);
		errno = e;
		return NULL;
	}
	vm->id = plat.next_vm_id++;
	vm->sock = sv[0];
	vm->cdev = st.st_dev;
	vm->cino = st.st_ino;
	vm->open = true;
	vm->refs = 1;
	vm->domain = domain;
	atomic_init(&vm->in_progress, 0);
	vm->next = plat.vms;
	plat.vms = vm;
	*client_fd = sv[1];
	return vm;
}

struct pvm *pvm__from_fd(int fd)
{
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return NULL;
	/* The fd a client attaches is its end of a handle we created: the
	 * socket object itself is the proof, an inode no client can forge. */
	for (struct pvm *v = plat.vms; v; v = v->next)
		if (v->cino == st.st_ino && v->cdev == st.st_dev && v->open)
			return v;
	return NULL;
}

/* A mirror reaches its owner's context through the handle it copied at
 * COPY_FROM (sev_vm_copy_enc_context_from copies sev->handle): a mirror
 * made before the owner's LAUNCH_START holds handle 0, and so does not
 * reach the context launched afterwards, as the firmware would refuse
 * handle 0; neither does one whose owner relaunched under a new handle. */
struct fw_ctx *fw__of(struct pvm *vm)
{
	struct fw_ctx *fw;
	if (!vm->owner)
		return vm->fw;
	fw = vm->owner->fw;
	return fw && vm->mirror_handle && fw->handle == vm->mirror_handle ? fw : NULL;
}

struct fw_ctx *fw__new(uint32_t policy)
{
	struct fw_ctx *fw = calloc(1, sizeof(*fw));
	if (!fw)
		return NULL;
	fw->digest = EVP_MD_CTX_new();
	if (!fw->digest || !EVP_DigestInit_ex(fw->digest, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(fw->digest);
		free(fw);
		return NULL;
	}
	fw->handle = plat.next_handle++;
	fw->policy = policy;
	fw->state = PSP_STATE_UNINIT;
	return fw;
}

void fw__free(struct fw_ctx *fw)
{
	if (!fw)
		return;
	EVP_MD_CTX_free(fw->digest);
	OPENSSL_cleanse(&fw->keys, sizeof(fw->keys));
	free(fw);
}

/* Give back what an SEV guest holds: handle, ASID (and its charge),
 * registered memory. Mirrors hold none of it. */
void pvm__release_context(struct pvm *vm)
{
	if (!vm->owner) {
		fw__free(vm->fw);
		if (vm->asid)
			asid__free(vm->domain, vm->asid);
		regions__free(vm->regions, vm->nregions);
	}
	vm->fw = NULL;
	vm->asid = 0;
	vm->regions = NULL;
	vm->nregions = 0;
	vm->sev = vm->es = false;
	vm->vmsa_features = 0;
	vm->ghcb_version = 0;
	vm->mirror_handle = 0;
}

static void unlink_mirror(struct pvm *owner, struct pvm *m)
{
	for (size_t i = 0; i < owner->nmirrors; i++) {
		if (owner->mirrors[i] == m) {
			owner->mirrors[i] = owner->mirrors[--owner->nmirrors];
			return;
		}
	}
}

static void destroy(struct pvm *vm)
{
	struct pvm **pp;
	for (pp = &plat.vms; *pp; pp = &(*pp)->next) {
		if (*pp == vm) {
			*pp = vm->next;
			break;
		}
	}
	tokens__forget(vm);
	if (vm->owner) {
		/* destroying a mirror only unlinks it and drops its reference */
		struct pvm *o = vm->owner;
		unlink_mirror(o, vm);
		vm->owner = NULL;
		pvm__put(o);
	} else {
		pvm__release_context(vm);
	}
	vmsas__free(vm);
	free(vm->mirrors);
	if (vm->sock >= 0)
		close(vm->sock);
	free(vm);
}

void pvm__put(struct pvm *vm)
{
	if (--vm->refs == 0)
		destroy(vm);
}

void pvm__close(struct pvm *vm)
{
	vm->open = false;
	pvm__put(vm);
}

size_t pvm__count(void)
{
	size_t n = 0;
	for (struct pvm *v = plat.vms; v; v = v->next)
		n++;
	return n;
}
