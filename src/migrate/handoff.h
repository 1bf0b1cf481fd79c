/* handoff.h - live upgrade: a new tern process takes over a running VM on
 * the same host. Guest RAM is not copied (its memfd is passed), nor is the
 * encryption context (it is moved by the platform, once). Only the window
 * from pause to resume counts as downtime; everything else happens while
 * the guest runs. docs/protocol.md has the message sequence. */
#ifndef TERN_MIGRATE_HANDOFF_H
#define TERN_MIGRATE_HANDOFF_H

#include <stdint.h>

#include "vm/vm.h"

enum cc_transfer { CC_XFER_MOVE = 1, CC_XFER_TOKEN = 2 };

/* tlv ids in the REC_HANDOFF_INFO record CONFIG carries */
enum { HI_CTL_PATH = 1, HI_PSP_SOCKET = 2, HI_CC_XFER = 3,
       HI_HELPER_LANES = 4 };             /* the VM's migration helper: lanes to start again */

struct handoff_result {
	uint64_t downtime_ns;             /* pause (source) to resume (destination) */
	uint64_t pause_ns, resume_ns;     /* CLOCK_MONOTONIC */
	uint64_t state_bytes;
	uint64_t prepare_ns;              /* handshake + VM creation, while the guest ran */
	uint32_t helper_lanes;            /* destination: the source's helper had this many lanes
					   * (0: none); the new process builds its own mirror */
};

enum handoff_outcome {
	HANDOFF_DONE = 0,                 /* the destination runs the VM: stop ours, exit 0 */
	HANDOFF_FAILED = -1,              /* ours resumed (or never paused): keep running */
	HANDOFF_LOST = -2,                /* the destination took over and then vanished */
};

/* Source: hand vm over to the process waiting at `to`. helper_lanes: the
 * VM's serving migration helper has this many lanes (0: none); they stay
 * idle at their doorbells across the move, and the new process starts
 * its own on the same region (docs/protocol.md, "Handoff with a mirror"). */
int handoff__send(struct vm *vm, const char *to, enum cc_transfer xfer, const char *ctl_path,
		  unsigned helper_lanes, struct handoff_result *res, char *err, size_t errlen);

/* Destination: accept one source on the listening socket lfd, build the
 * VM from what it sends, and run it once committed. cfg supplies local
 * choices (serial output: -1 = use the source's). On success the VM runs
 * and *old_ctl names the source's control socket path (malloc'd, may be
 * NULL). Returns 0 or -1 with err set (nothing runs). */
int handoff__receive(int lfd, struct vm *vm, const struct vm_config *cfg, char **old_ctl,
		     struct handoff_result *res, char *err, size_t errlen);

/* A listening unix socket at path (mode 0600); -1 with err on failure. */
int handoff__listen(const char *path, char *err, size_t errlen);

#endif
