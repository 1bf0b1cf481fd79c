/* psp_cmds.h - the firmware commands, one function each (cmd_launch.c,
 * cmd_transport.c, cmd_enc.c). Each checks its guest state and returns 0,
 * -errno, or fw__fail(r, code). Called with plat.lock held. */
#ifndef TERN_PSP_CMDS_H
#define TERN_PSP_CMDS_H

#include "psp.h"

int launch__start(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int launch__update_data(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int launch__update_vmsa(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int launch__measure(struct pvm *vm, size_t len, struct reply *r);
int launch__secret(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int launch__finish(struct pvm *vm, size_t len, struct reply *r);
int dbg__decrypt(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int dbg__encrypt(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int send__start(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int send__update_data(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int send__finish(struct pvm *vm, size_t len, struct reply *r);
int send__cancel(struct pvm *vm, size_t len, struct reply *r);
int receive__start(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int receive__update_data(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r);
int receive__finish(struct pvm *vm, size_t len, struct reply *r);

/* The context a command needs in a given state, or NULL after fw__fail. */
struct fw_ctx *need__state(struct pvm *vm, int state, struct reply *r);

#endif
