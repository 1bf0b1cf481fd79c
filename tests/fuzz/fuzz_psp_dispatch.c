/* fuzz_psp_dispatch.c - libFuzzer target for tern-psp's request parser and
 * command handlers (psp__dispatch), without sockets.
 *
 * Input: a sequence of messages, each [u8 target][u16 LE length][bytes]:
 * target (mod 5) 0 = the platform connection, 1 and 2 = two VM handles of
 * the default type, 3 = one of the SEV type, 4 = one of the SEV-ES type
 * (KVM_SEV_INIT2 works only on those two). Chaining
 * lets the fuzzer reach deep states (INIT, LAUNCH_START, MEASURE, ...).
 * VMs created by a message are closed again so runs do not accumulate. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psp.h"

#define NBASE 4
static struct pvm *base[NBASE];
static const uint32_t base_type[NBASE] = { PSP_VM_DEFAULT, PSP_VM_DEFAULT, PSP_VM_SEV, PSP_VM_SEV_ES };

static void setup(void)
{
	char dir[] = "/tmp/tern-fuzz-psp.XXXXXX", err[256];
	int fd;
	if (!mkdtemp(dir))
		abort();
	if (sev__identity_load_or_create(dir, PSP_API_MAJOR, PSP_API_MINOR, &plat.id, err, sizeof(err)) ||
	    sev__identity_export(&plat.id, &plat.chain_pem, &plat.chain_len)) {
		fprintf(stderr, "fuzz setup: %s\n", err);
		abort();
	}
	plat.trusted_pem = plat.chain_pem;
	plat.trusted_len = plat.chain_len;
	if (platform__init(8, err, sizeof(err)))
		abort();
	for (int i = 0; i < NBASE; i++) {
		base[i] = pvm__create(0, &fd);
		base[i]->vm_type = base_type[i];
		close(fd);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct reply r;
	static int ready;
	struct psp_hdr rh;

	if (!ready) {
		setup();
		ready = 1;
	}
	pthread_mutex_lock(&plat.lock);
	while (size >= 3) {
		uint8_t target = data[0] % (NBASE + 1);
		size_t len = (size_t)data[1] | (size_t)data[2] << 8;
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		psp__dispatch(target ? base[target - 1] : NULL, data, len, -1, &rh, &r);
		if (r.fd >= 0)
			close(r.fd);
		data += len;
		size -= len;
	}
	/* close any VM a message created (the base VMs stay, dead or not) */
	for (struct pvm *v = plat.vms, *next; v; v = next) {
		bool is_base = false;
		next = v->next;
		for (int i = 0; i < NBASE; i++)
			is_base |= v == base[i];
		if (!is_base && v->open)
			pvm__close(v);
	}
	pthread_mutex_unlock(&plat.lock);
	return 0;
}
