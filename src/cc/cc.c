/* cc.c - choosing a confidential-computing back-end, and error text. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cc/cc.h"
#include "cc/psp_client.h"
#include "util/log.h"

const char *cc__strerror(int r, uint32_t fw, char *buf, size_t len)
{
	if (r == -EIO && fw)
		snprintf(buf, len, "the firmware refused: %s (0x%x)", psp__fw_error_name(fw), fw);
	else
		snprintf(buf, len, "%s", strerror(r < 0 ? -r : r));
	return buf;
}

const char *cc__lost(struct cc *c)
{
	static __thread char why[320];
	if (!__atomic_load_n(&c->lost, __ATOMIC_ACQUIRE))
		return NULL;
	snprintf(why, sizeof(why), "the connection to the platform (tern-psp at %s) was lost: tern-psp "
		 "died or was restarted, and this VM's encryption context went with it", c->socket);
	return why;
}

int cc__vcpu_regs(const struct cc *c, int vcpu, char *err, size_t errlen)
{
	if (!c || !c->es || !c->vmsa_sealed)
		return 0;
	errbuf__set(err, errlen, "vCPU %d of this SEV-ES guest: its registers are encrypted in its VMSA "
		   "since LAUNCH_UPDATE_VMSA, and the host can neither read nor set them", vcpu);
	return -1;
}
