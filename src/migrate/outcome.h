/* outcome.h - the one rule for a source once a move (handoff or live
 * migration) has been decided, so both paths end the same way:
 *   committed - the destination took COMMIT and runs the VM: this copy
 *               stops (exit 0) and never runs again, since two running
 *               copies of one guest would corrupt it;
 *   lost      - the destination took COMMIT and then vanished: whether
 *               it runs cannot be known, so this copy stops too (exit 1)
 *               and says so;
 *   failed    - anything before COMMIT: the source resumes and keeps the
 *               VM (no call here; the caller reports the error). */
#ifndef TERN_MIGRATE_OUTCOME_H
#define TERN_MIGRATE_OUTCOME_H

#include <stdint.h>

#include "vm/vm.h"

/* kind: "handed off" or "migrated"; extra: more figures for the log, or "". */
void move__committed(struct vm *vm, const char *kind, const char *to, uint64_t downtime_ns,
		     const char *extra);
void move__lost(struct vm *vm, const char *kind, const char *why);

#endif
