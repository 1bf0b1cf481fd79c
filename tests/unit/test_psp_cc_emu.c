/* test_psp_cc_emu.c - the emu back-end's cc ops (src/cc/emu.c) against a
 * real tern-psp (tests/unit/psp_harness.c): what tern's VMM does through
 * struct cc_ops, checked end to end. The daemon's own rules have their
 * own tests (test_psp_rules.c, test_psp_conformance.c, ...); these check
 * the translation: that every op reaches the right request with the
 * right payload and that replies and refusals come back as cc's types,
 * errno values and firmware codes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cc/cc.h"
#include "psp_harness.h"

#define PAGE 4096u

/* A VM on the emulated platform: a cc opened on the test's daemon, and
 * its guest memory (the harness's patterned memfd). */
struct evm {
	struct cc  c;
	struct tvm mem;
};

static void evm_open(struct evm *v, struct pd *d)
{
	char err[256] = "";
	memset(&v->c, 0, sizeof(v->c));
	v->c.ops = &cc_emu_ops;
	v->c.handle_fd = v->c.platform = v->c.watch_wake = -1;
	assert_true(strlen(d->sock) < sizeof(v->c.socket));
	memcpy(v->c.socket, d->sock, strlen(d->sock) + 1);
	if (cc_emu_ops.open(&v->c, -1, err, sizeof(err)))
		fail_msg("emu open: %s", err);
	tvm_mem(&v->mem);
}

/* INIT and the guest's memory registered: what every VM but a move's
 * target has. */
static void evm_init(struct evm *v)
{
	uint32_t fw = 0;
	ST_EQ(cc_emu_ops.init(&v->c, false, &fw), 0);
	ST_EQ(cc_emu_ops.register_ram(&v->c, v->mem.memfd, 0, TVM_MEM, v->mem.mem), 0);
}

/* launched and RUNNING, as vm.c drives it */
static void evm_launch(struct evm *v, uint32_t policy)
{
	struct cc_launch l = { .policy = policy };
	struct cc_measurement m;
	uint32_t fw = 0, handle = 0;
	evm_init(v);
	ST_EQ(cc_emu_ops.vcpus_created(&v->c, 1), 0);
	ST_EQ(cc_emu_ops.launch_start(&v->c, &l, &handle, &fw), 0);
	assert_true(handle != 0);
	ST_EQ(cc_emu_ops.launch_update_data(&v->c, 0, v->mem.mem, PAGE, &fw), 0);
	ST_EQ(cc_emu_ops.launch_measure(&v->c, &m, &fw), 0);
	assert_int_equal(m.policy, policy);
	ST_EQ(cc_emu_ops.launch_finish(&v->c, &fw), 0);
}

static uint32_t evm_state(struct evm *v)
{
	struct cc_guest_status gs;
	uint32_t fw = 0;
	ST_EQ(cc_emu_ops.guest_status(&v->c, &gs, &fw), 0);
	return gs.state;
}

static void evm_close(struct evm *v)
{
	cc_emu_ops.close(&v->c);
	tvm_close(&v->mem);
}

/* The PSP path, both ends on one platform: chain, SEND_START, RECEIVE_START,
 * a page sealed and opened (and a tampered copy refused), FINISH on both. */
static void test_transport(void **state)
{
	struct pd *d = *state;
	struct evm src, dst;
	struct cc_send_session ss = { 0 };
	struct cc_packet pk, bad;
	uint8_t trans[PAGE], small[16];
	void *chain = NULL;
	size_t clen = 0;
	uint32_t fw = 0, handle = 0;

	evm_open(&src, d);
	evm_open(&dst, d);
	evm_launch(&src, 0);
	evm_init(&dst);
	assert_int_equal(evm_state(&src), CC_STATE_RUNNING);

	ST_EQ(cc_emu_ops.platform_chain(&dst.c, &chain, &clen, &fw), 0);
	assert_true(clen > 0 && !memcmp(chain, "-----BEGIN", 10));
	ST_EQ(cc_emu_ops.send_start(&src.c, chain, clen, &ss, &fw), 0);
	assert_int_equal(evm_state(&src), CC_STATE_SUPDATE);
	assert_int_equal(ss.policy, 0);
	assert_non_null(ss.chain);
	ST_EQ(cc_emu_ops.receive_start(&dst.c, ss.policy, ss.session, ss.chain, ss.chain_len, &handle, &fw), 0);
	assert_true(handle != 0);
	assert_int_equal(evm_state(&dst), CC_STATE_RUPDATE);

	/* one page: sealed, then opened into the destination's memory */
	assert_memory_not_equal(src.mem.mem + 3 * PAGE, dst.mem.mem + 3 * PAGE, PAGE);
	ST_EQ(cc_emu_ops.send_update_data(&src.c, 3 * PAGE, src.mem.mem + 3 * PAGE, PAGE, &pk, trans,
					  sizeof(trans), &fw), 0);
	assert_int_equal(pk.gpa, 3 * PAGE);
	assert_int_equal(pk.len, PAGE);
	assert_true(pk.seq > 0);
	assert_memory_not_equal(trans, src.mem.mem + 3 * PAGE, PAGE);   /* sealed */
	/* a buffer too small for the ciphertext */
	ST_EQ(cc_emu_ops.send_update_data(&src.c, 3 * PAGE, src.mem.mem + 3 * PAGE, PAGE, &bad, small,
					  sizeof(small), &fw), -EMSGSIZE);

	bad = pk;
	trans[100] ^= 1;
	FW_EQ(cc_emu_ops.receive_update_data(&dst.c, &bad, dst.mem.mem + 3 * PAGE, trans, &fw), fw,
	      PSP_FW_BAD_MEASUREMENT);
	trans[100] ^= 1;
	ST_EQ(cc_emu_ops.receive_update_data(&dst.c, &pk, dst.mem.mem + 3 * PAGE, trans, &fw), 0);
	assert_memory_equal(src.mem.mem + 3 * PAGE, dst.mem.mem + 3 * PAGE, PAGE);
	/* the same packet again: a replay */
	FW_EQ(cc_emu_ops.receive_update_data(&dst.c, &pk, dst.mem.mem + 3 * PAGE, trans, &fw), fw,
	      PSP_FW_BAD_MEASUREMENT);

	ST_EQ(cc_emu_ops.send_finish(&src.c, &fw), 0);
	ST_EQ(cc_emu_ops.receive_finish(&dst.c, &fw), 0);
	assert_int_equal(evm_state(&src), CC_STATE_SENT);
	assert_int_equal(evm_state(&dst), CC_STATE_RUNNING);
	/* SENT can never run again: the firmware's refusal comes back as is */
	FW_EQ(cc_emu_ops.send_start(&src.c, chain, clen, &ss, &fw), fw, PSP_FW_INVALID_GUEST_STATE);

	free(ss.chain);
	free(chain);
	evm_close(&src);
	evm_close(&dst);
}

/* SEND_CANCEL takes the guest back to RUNNING; NOSEND is the firmware's
 * POLICY_FAILURE. */
static void test_cancel_and_policy(void **state)
{
	struct pd *d = *state;
	struct evm src, nosend, dst;
	struct cc_send_session ss = { 0 };
	void *chain = NULL;
	size_t clen = 0;
	uint32_t fw = 0;

	evm_open(&src, d);
	evm_open(&nosend, d);
	evm_open(&dst, d);
	evm_launch(&src, 0);
	evm_launch(&nosend, PSP_POLICY_NOSEND);
	ST_EQ(cc_emu_ops.platform_chain(&dst.c, &chain, &clen, &fw), 0);
	ST_EQ(cc_emu_ops.send_start(&src.c, chain, clen, &ss, &fw), 0);
	ST_EQ(cc_emu_ops.send_cancel(&src.c, &fw), 0);
	assert_int_equal(evm_state(&src), CC_STATE_RUNNING);
	free(ss.chain);
	ss.chain = NULL;
	FW_EQ(cc_emu_ops.send_start(&nosend.c, chain, clen, &ss, &fw), fw, PSP_FW_POLICY_FAILURE);
	assert_null(ss.chain);
	free(chain);
	evm_close(&src);
	evm_close(&nosend);
	evm_close(&dst);
}

/* MOVE: the target takes the context through the source's context fd; the
 * source's handle is dead (EIO). Tokens: LOCAL_SEND stages, LOCAL_RECEIVE
 * on a VM with SEV initialised adopts; a wrong token is EFAULT. */
static void test_move_and_tokens(void **state)
{
	struct pd *d = *state;
	struct evm a, b, t1, t2;
	struct cc_guest_status gs;
	struct cc_token tok = { 0 }, wrong;
	uint32_t fw = 0;

	evm_open(&a, d);
	evm_open(&b, d);
	evm_launch(&a, 0);
	assert_int_equal(cc_emu_ops.context_fd(&a.c), a.c.handle_fd);
	ST_EQ(cc_emu_ops.move_from(&b.c, cc_emu_ops.context_fd(&a.c), &fw), 0);
	assert_int_equal(evm_state(&b), CC_STATE_RUNNING);
	ST_EQ(cc_emu_ops.guest_status(&a.c, &gs, &fw), -EIO);
	/* moving back into the dead source */
	ST_EQ(cc_emu_ops.move_from(&a.c, cc_emu_ops.context_fd(&b.c), &fw), -EIO);
	ST_EQ(cc_emu_ops.move_from(&b.c, -1, &fw), -EBADF);

	evm_open(&t1, d);
	evm_open(&t2, d);
	ST_EQ(cc_emu_ops.init(&t1.c, false, &fw), 0);
	ST_EQ(cc_emu_ops.init(&t2.c, false, &fw), 0);
	ST_EQ(cc_emu_ops.local_send(&b.c, &tok, &fw), 0);
	assert_true(tok.token != 0);
	ST_EQ(cc_emu_ops.local_send(&b.c, &wrong, &fw), -EEXIST);   /* staged once */
	wrong.token = tok.token ^ 1;
	ST_EQ(cc_emu_ops.local_receive(&t1.c, &wrong, &fw), -EFAULT);
	ST_EQ(cc_emu_ops.local_receive(&t1.c, &tok, &fw), 0);
	assert_int_equal(evm_state(&t1), CC_STATE_RUNNING);
	ST_EQ(cc_emu_ops.local_receive(&t2.c, &tok, &fw), -EFAULT);  /* one time only */

	evm_close(&a);
	evm_close(&b);
	evm_close(&t1);
	evm_close(&t2);
}

/* Mirror (COPY_ENC_CONTEXT_FROM): a VM without SEV and vCPUs shares the
 * owner's context and may ask GUEST_STATUS; the kernel's refusals. */
static void test_mirror(void **state)
{
	struct pd *d = *state;
	struct evm owner, m, sev;
	struct cc_guest_status gs, og;
	uint32_t fw = 0;

	evm_open(&owner, d);
	evm_open(&m, d);
	evm_open(&sev, d);
	evm_launch(&owner, 0);
	ST_EQ(cc_emu_ops.mirror_from(&m.c, cc_emu_ops.context_fd(&m.c), &fw), -EINVAL);   /* itself */
	ST_EQ(cc_emu_ops.init(&sev.c, false, &fw), 0);
	ST_EQ(cc_emu_ops.mirror_from(&sev.c, cc_emu_ops.context_fd(&owner.c), &fw), -EINVAL);
	ST_EQ(cc_emu_ops.mirror_from(&m.c, cc_emu_ops.context_fd(&owner.c), &fw), 0);
	ST_EQ(cc_emu_ops.guest_status(&m.c, &gs, &fw), 0);
	ST_EQ(cc_emu_ops.guest_status(&owner.c, &og, &fw), 0);
	assert_int_equal(gs.state, CC_STATE_RUNNING);
	assert_true(og.handle != 0);
	assert_int_equal(gs.handle, og.handle);      /* the owner's context, shared */
	/* a mirror may not start its own launch */
	struct cc_launch l = { 0 };
	uint32_t h = 0;
	ST_EQ(cc_emu_ops.launch_start(&m.c, &l, &h, &fw), -EINVAL);
	evm_close(&m);
	evm_close(&sev);
	evm_close(&owner);
}

int main(int argc, char **argv)
{
	(void)argc;
	ph_init(argv[0]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_transport, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_cancel_and_policy, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_move_and_tokens, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_mirror, pd_setup, pd_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
