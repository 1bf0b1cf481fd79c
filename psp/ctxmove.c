/* ctxmove.c - sharing and moving an encryption context between VMs:
 * mirrors (section 1), intra-host move (section 2), and the earlier
 * token design (section 3). Checks run in the kernel's order so the same
 * misuse gets the same errno. Called with plat.lock held. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psp.h"

struct staged {
	uint64_t token;
	struct pvm *source;
	struct staged *next;
};
static struct staged *tokens;

/* The in-progress flags of section 1/2, destination first. */
static int claim(struct pvm *dst, struct pvm *src)
{
	int zero = 0;
	if (!atomic_compare_exchange_strong(&dst->in_progress, &zero, 1))
		return -EBUSY;
	zero = 0;
	if (!atomic_compare_exchange_strong(&src->in_progress, &zero, 1)) {
		atomic_store(&dst->in_progress, 0);
		return -EBUSY;
	}
	return 0;
}

static void release(struct pvm *dst, struct pvm *src)
{
	atomic_store(&src->in_progress, 0);
	atomic_store(&dst->in_progress, 0);
}

/* Resolve the fd a client attached; the fd itself is closed either way. */
static struct pvm *source_of(int fd)
{
	struct pvm *s = pvm__from_fd(fd);
	if (fd >= 0)
		close(fd);
	return s;
}

int cmd__copy_from(struct pvm *dst, int fd, struct reply *r)
{
	struct pvm *src = source_of(fd), **nm;
	int e;
	(void)r;
	if (!src)
		return -EBADF;
	if (src == dst)
		return -EINVAL;
	if ((e = claim(dst, src)))
		return e;
	if (dst->sev || !src->sev || src->owner || dst->vcpus || dst->creating) {
		e = -EINVAL;
		goto out;
	}
	nm = realloc(src->mirrors, (src->nmirrors + 1) * sizeof(*nm));
	if (!nm) {
		e = -ENOMEM;
		goto out;
	}
	src->mirrors = nm;
	src->mirrors[src->nmirrors++] = dst;
	src->refs++;                      /* the owner outlives its mirrors */
	dst->owner = src;
	dst->sev = true;
	dst->es = src->es;
	dst->asid = src->asid;            /* shared, never freed by the mirror */
	/* the handle as it is now: 0 if the owner has not launched yet (the
	 * kernel copies sev->handle here and never updates it) */
	dst->mirror_handle = src->fw ? src->fw->handle : 0;
	e = 0;
out:
	release(dst, src);
	return e;
}

/* dst takes over everything src's context consists of; src is cleared and
 * dead. Shared by MOVE_ENC_CONTEXT_FROM and LOCAL_RECEIVE. */
static void transfer(struct pvm *dst, struct pvm *src)
{
	dst->sev = true;
	dst->es = src->es;
	dst->vmsa_features = src->vmsa_features;
	dst->ghcb_version = src->ghcb_version;
	dst->asid = src->asid;
	dst->fw = src->fw;
	dst->regions = src->regions;
	dst->nregions = src->nregions;
	memcpy(dst->vmsa_launched, src->vmsa_launched, sizeof(dst->vmsa_launched));
	/* vCPU i's VMSA goes to the destination's vCPU i (sev_migrate_from);
	 * whatever the destination held is dropped, as a VM that never
	 * initialised SEV has no VMSAs */
	vmsas__free(dst);
	memcpy(dst->vmsa, src->vmsa, sizeof(dst->vmsa));
	memcpy(dst->vmsa_len, src->vmsa_len, sizeof(dst->vmsa_len));
	memset(src->vmsa, 0, sizeof(src->vmsa));
	memset(src->vmsa_len, 0, sizeof(src->vmsa_len));

	/* its mirrors now borrow from dst. (fix) A LOCAL_RECEIVE target may
	 * have mirrors of its own, copied from it before it was launched:
	 * they stay its mirrors (cmd__local_receive made room for both lists);
	 * overwriting the list lost them, and a later move left them behind
	 * on a dead VM. */
	if (dst->nmirrors) {
		if (src->nmirrors)
			memcpy(dst->mirrors + dst->nmirrors, src->mirrors,
			       src->nmirrors * sizeof(*dst->mirrors));
		dst->nmirrors += src->nmirrors;
		free(src->mirrors);
	} else {
		free(dst->mirrors);       /* (fix) an emptied list still allocated */
		dst->mirrors = src->mirrors;
		dst->nmirrors = src->nmirrors;
	}
	for (size_t i = 0; i < dst->nmirrors; i++) {
		dst->mirrors[i]->owner = dst;
		dst->mirrors[i]->asid = dst->asid;
	}
	dst->refs += (int)src->nmirrors;
	src->refs -= (int)src->nmirrors;

	/* a moved mirror stays a mirror of the same owner */
	if (src->owner) {
		struct pvm *o = src->owner;
		for (size_t i = 0; i < o->nmirrors; i++)
			if (o->mirrors[i] == src)
				o->mirrors[i] = dst;
		dst->owner = o;
		dst->fw = NULL;
		dst->mirror_handle = src->mirror_handle;
	}

	src->sev = src->es = false;
	src->vmsa_features = 0;
	src->ghcb_version = 0;
	src->mirror_handle = 0;
	src->asid = 0;
	src->fw = NULL;
	src->regions = NULL;
	src->nregions = 0;
	src->mirrors = NULL;
	src->nmirrors = 0;
	src->owner = NULL;
	memset(src->vmsa_launched, 0, sizeof(src->vmsa_launched));
	src->dead = true;
	tokens__forget(src);
}

int cmd__move_from(struct pvm *dst, int fd, struct reply *r)
{
	struct pvm *src = source_of(fd);
	bool charged = false;
	int e;
	(void)r;
	if (!src)
		return -EBADF;
	if (src == dst)
		return -EINVAL;
	if ((e = claim(dst, src)))
		return e;
	/* the same VM type on both sides; the destination must NOT have
	 * initialised SEV */
	if (dst->vm_type != src->vm_type || dst->sev || !src->sev || src->token_sent) {
		e = -EINVAL;
		goto out;
	}
	/* the ASID is charged to the destination's domain if it differs, in
	 * the resource of its kind (SEV or SEV-ES) */
	if (!src->owner && dst->domain != src->domain) {
		if ((e = domain__charge(dst->domain, src->es)))
			goto out;
		charged = true;
	}
	if (src->creating || dst->creating) {
		e = -EBUSY;
		goto out;
	}
	if (src->es) {
		if (dst->vcpus != src->vcpus) {
			e = -EINVAL;
			goto out;
		}
		for (uint32_t i = 0; i < src->vcpus && i < PSP_MAX_VCPUS; i++) {
			if (!src->vmsa_launched[i]) {
				e = -EINVAL;
				goto out;
			}
		}
	}
	if (charged)
		domain__uncharge(src->domain, src->es);
	charged = false;
	transfer(dst, src);
	e = 0;
out:
	if (charged)
		domain__uncharge(dst->domain, src->es);
	release(dst, src);
	return e;
}

int cmd__local_send(struct pvm *vm, struct reply *r)
{
	struct staged *s;
	struct psp_token t;
	if (vm->es)
		return -EPERM;
	if (vm->token_sent)
		return -EEXIST;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	do {
		if (sev__random(&s->token, sizeof(s->token))) {
			free(s);
			return -EIO;
		}
	} while (s->token == 0);
	s->source = vm;
	s->next = tokens;
	tokens = s;
	vm->token_sent = true;
	vm->token = s->token;
	t.token = s->token;
	return reply__put(r, &t, sizeof(t));
}

int cmd__local_receive(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r)
{
	struct psp_token t;
	struct staged **pp, *s = NULL;
	struct psp_handle_reply hr;

	if (len != sizeof(t))
		return -EINVAL;
	memcpy(&t, p, sizeof(t));
	/* the target has SEV initialised, is not launched, holds no memory */
	if (!vm->sev || vm->fw || vm->nregions || vm->owner || vm->token_sent)
		return -EPERM;
	for (pp = &tokens; *pp; pp = &(*pp)->next) {
		if ((*pp)->token == t.token) {
			s = *pp;
			break;
		}
	}
	if (!s)
		return -EFAULT;           /* unknown, already used, or its source is gone */
	struct pvm *src = s->source;
	/* (fix) room for the target's own mirrors and the source's (transfer) */
	if (vm->nmirrors && src->nmirrors) {
		struct pvm **nm = realloc(vm->mirrors, (vm->nmirrors + src->nmirrors) * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		vm->mirrors = nm;
	}
	*pp = s->next;
	free(s);
	/* the target's own ASID is freed; it adopts the staged one, and the
	 * charge moves with it */
	asid__free(vm->domain, vm->asid);
	domain__uncharge(src->domain, src->es);
	plat.domains[vm->domain].used[src->es]++;
	vm->asid = 0;
	vm->sev = false;
	src->token_sent = false;
	/* (fix) the source may be a VM whose handle is already closed, kept
	 * alive only by its mirrors: those references move to the target in
	 * transfer(), so hold it across and drop it after, or it leaks with
	 * no references left */
	src->refs++;
	transfer(vm, src);
	pvm__put(src);
	hr.handle = vm->fw ? vm->fw->handle : 0;
	return reply__put(r, &hr, sizeof(hr));
}

void tokens__forget(struct pvm *source)
{
	struct staged **pp = &tokens;
	while (*pp) {
		if ((*pp)->source == source) {
			struct staged *s = *pp;
			*pp = s->next;
			free(s);
		} else {
			pp = &(*pp)->next;
		}
	}
}
