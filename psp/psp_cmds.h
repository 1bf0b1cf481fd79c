/* psp_cmds.h - the firmware commands, one function each (cmd_launch.c,
 * cmd_transport.c, cmd_enc.c). Each checks its guest state and returns 0,
 * -errno, or fw_fail(r, code). Called with plat.lock held. */
#ifndef TERN_PSP_CMDS_H
#define TERN_PSP_CMDS_H

#include "psp.h"

int launch_start(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int launch_update_data(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int launch_update_vmsa(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int launch_measure(struct pvm *vm, size_t len, struct reply *r);
int launch_secret(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int launch_finish(struct pvm *vm, size_t len, struct reply *r);
int dbg_decrypt(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int dbg_encrypt(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int send_start(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int send_update_data(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int send_finish(struct pvm *vm, size_t len, struct reply *r);
int send_cancel(struct pvm *vm, size_t len, struct reply *r);
int receive_start(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int receive_update_data(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int receive_finish(struct pvm *vm, size_t len, struct reply *r);

/* The context a command needs in a given state, or NULL after fw_fail. */
struct fw_ctx *need_state(struct pvm *vm, int state, struct reply *r);

#endif
