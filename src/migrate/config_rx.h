/* config_rx.h - the one reader of a CONFIG message, for handoff and
 * migration receivers alike: the VM's shape, the handoff extras, and the
 * session binding (the receiver's HELLO nonce, echoed by the source). */
#ifndef TERN_MIGRATE_CONFIG_RX_H
#define TERN_MIGRATE_CONFIG_RX_H

#include <stddef.h>
#include <stdint.h>

#include "migrate/wire.h"
#include "vm/vm.h"

struct config_rx {
	struct vm_config cfg;         /* in: the receiver's defaults; out: shape from VM_CONFIG */
	uint32_t tsc_khz;             /* the source's, 0 if it did not say */
	char    *old_ctl;             /* HANDOFF_INFO: the source's control socket (malloc'd) */
	char    *psp_sock;            /* HANDOFF_INFO: its platform socket (malloc'd) */
	uint64_t cc_xfer;             /* HANDOFF_INFO: enum cc_transfer, 0 if absent */
	uint64_t helper_lanes;        /* HANDOFF_INFO: the source's helper lanes, 0 if none */
};

/* Parse m's record stream into *rx. It must hold a VM_CONFIG and a
 * WIRE_NONCE equal to nonce (this connection's, from wire__accept_source):
 * a stream captured from another connection and replayed is refused here,
 * before anything is built. Unknown required records are refused too.
 * Returns 0, or -1 with the reason in err (rx's strings freed). */
int  config_rx__parse(const struct wire_msg *m, const uint8_t nonce[WIRE_NONCE_LEN],
		      struct config_rx *rx, char *err, size_t errlen);
void config_rx__free(struct config_rx *rx);

#endif
