/* test_psp_rules.c - tern's own rules for the emulated SEV platform, against
 * the real tern-psp daemon: the token design (sev-semantics.md section 3),
 * dead handles, a context outliving its owner's handle, ASID pool and
 * quota exhaustion, the firmware state machine (section 6) in every state,
 * the launch measurement and secret, and fd capabilities (EBADF). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "crypto/sev_crypto.h"
#include "psp_harness.h"

static uint32_t fresh_total(int plat)
{
	struct psp_platform_info pi;
	ph_hello(plat, &pi);
	assert_int_equal(pi.asids_free, pi.asids_total);
	assert_int_equal(pi.vms, 0);
	return pi.asids_total;
}

static uint32_t free_asids(int plat)
{
	struct psp_platform_info pi;
	ph_hello(plat, &pi);
	return pi.asids_free;
}

static uint64_t local_send(int vm, int *status)
{
	struct psp_token t = { 0 };
	size_t n = 0;
	*status = ph_call(vm, PSP_OP_ENC, PSP_SEV_LOCAL_SEND, NULL, 0, -1, NULL, &t, sizeof(t), &n);
	if (*status == 0)
		assert_int_equal(n, sizeof(t));
	return t.token;
}

static int local_receive(int vm, uint64_t token, uint32_t *handle)
{
	struct psp_token t = { token };
	struct psp_handle_reply hr = { 0 };
	size_t n = 0;
	int s = ph_call(vm, PSP_OP_ENC, PSP_SEV_LOCAL_RECEIVE, &t, sizeof(t), -1, NULL, &hr,
			sizeof(hr), &n);
	if (s == 0)
		assert_int_equal(n, sizeof(hr));
	if (handle)
		*handle = hr.handle;
	return s;
}

/* ---- section 3: LOCAL_SEND -------------------------------------------------- */

static void test_token_send(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm src, es;
	uint8_t page[PSP_PAGE];
	int s;

	tvm_sev(&src, plat, NULL, false, 0);
	uint64_t tok = local_send(src.fd, &s);
	ST_EQ(s, 0);
	assert_true(tok != 0);

	/* twice: EEXIST */
	(void)local_send(src.fd, &s);
	ST_EQ(s, -EEXIST);

	/* a sent source may only debug: every other command id is EPERM */
	for (uint32_t cmd = 0; cmd <= 0x110; cmd++) {
		if (cmd == PSP_SEV_DBG_DECRYPT || cmd == PSP_SEV_DBG_ENCRYPT ||
		    cmd == PSP_SEV_LOCAL_SEND)
			continue;
		int r = ph_enc(src.fd, cmd, NULL, 0, NULL);
		if (r != -EPERM)
			fail_msg("sent source: command 0x%x (%s) = %d (%s), want EPERM", cmd,
				 psp__cmd_name(cmd), r, ph_errname(r));
	}
	/* ... and the same with well-formed payloads */
	ST_EQ(ph_update_data(src.fd, 0, PSP_PAGE, NULL), -EPERM);
	ST_EQ(ph_launch_start(src.fd, 0, NULL, NULL), -EPERM);
	/* its memory is in limbo: no region changes either */
	ST_EQ(ph_region(src.fd, src.memfd, 0x200000, PSP_PAGE, 0), -EPERM);
	ST_EQ(ph_unregion(src.fd, 0, TVM_MEM), -EPERM);

	/* DBG_DECRYPT / DBG_ENCRYPT still work */
	ST_EQ(ph_dbg_decrypt(src.fd, 0x4000, PSP_PAGE, page, NULL), 0);
	assert_memory_equal(page, src.mem + 0x4000, PSP_PAGE);
	memset(page, 0xa5, 32);
	ST_EQ(ph_dbg_encrypt(src.fd, 0x4000, page, 32, NULL), 0);
	assert_memory_equal(src.mem + 0x4000, page, 32);

	/* SEV-ES cannot use the token design */
	tvm_sev(&es, plat, NULL, true, 0);
	(void)local_send(es.fd, &s);
	ST_EQ(s, -EPERM);
	ST_EQ(ph_state(es.fd), PSP_STATE_LUPDATE);

	/* a VM without SEV has nothing to send */
	int plain = ph_vm(plat, NULL);
	(void)local_send(plain, &s);
	ST_EQ(s, -ENOTTY);

	tvm_close(&src);
	tvm_close(&es);
	close(plain);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- section 3: LOCAL_RECEIVE ----------------------------------------------- */

static void test_token_receive(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm src;
	struct psp_vm_info si, ti;
	struct psp_guest_status gs;
	uint8_t page[PSP_PAGE];
	uint32_t handle = 0;
	int s;

	tvm_sev(&src, plat, NULL, false, 0);
	ph_info(src.fd, &si);
	uint64_t tok = local_send(src.fd, &s);
	ST_EQ(s, 0);

	/* the target must have SEV initialised ... */
	int no_sev = ph_vm(plat, NULL);
	ST_EQ(local_receive(no_sev, tok, NULL), -EPERM);
	/* ... not be launched ... */
	int launched = ph_sev_only(plat, NULL, false);
	uint32_t lh = 0;
	ST_EQ(ph_launch_start(launched, 0, NULL, &lh), 0);
	ST_EQ(local_receive(launched, tok, NULL), -EPERM);
	/* ... and hold no registered memory */
	struct tvm with_mem;
	tvm_mem(&with_mem);
	with_mem.fd = ph_sev_only(plat, NULL, false);
	ST_EQ(ph_region(with_mem.fd, with_mem.memfd, 0, TVM_MEM, 0), 0);
	ST_EQ(local_receive(with_mem.fd, tok, NULL), -EPERM);
	/* a mirror is no target either */
	int m = ph_vm(plat, NULL);
	ST_EQ(ph_copy(m, launched), 0);
	ST_EQ(local_receive(m, tok, NULL), -EINVAL);      /* refused as a mirror (section 1) */

	/* an unknown token */
	int target = ph_sev_only(plat, NULL, false);
	ST_EQ(local_receive(target, tok ^ 1, NULL), -EFAULT);
	ST_EQ(local_receive(target, 0, NULL), -EFAULT);
	/* a malformed request */
	ST_EQ(ph_enc(target, PSP_SEV_LOCAL_RECEIVE, &tok, 4, NULL), -EINVAL);

	/* success: the target adopts the context and returns its handle; its
	 * own ASID is given back */
	uint32_t before = free_asids(plat);
	ST_EQ(local_receive(target, tok, &handle), 0);
	assert_int_equal(handle, src.handle);
	assert_int_equal(free_asids(plat), before + 1);
	ST_EQ(ph_status(target, &gs, NULL), 0);
	assert_int_equal(gs.handle, src.handle);
	assert_int_equal(gs.policy, src.policy);
	assert_int_equal(gs.state, PSP_STATE_LUPDATE);
	ph_info(target, &ti);
	assert_true(ti.sev && !ti.dead);
	assert_int_equal(ti.asid, si.asid);
	assert_int_equal(ti.nregions, 1);
	ST_EQ(ph_dbg_decrypt(target, 0x7000, PSP_PAGE, page, NULL), 0);
	assert_memory_equal(page, src.mem + 0x7000, PSP_PAGE);

	/* the source's handle is dead */
	ST_EQ(ph_enc(src.fd, PSP_SEV_GUEST_STATUS, NULL, 0, NULL), -EIO);
	ST_EQ(ph_dbg_decrypt(src.fd, 0, 16, page, NULL), -EIO);
	ph_info(src.fd, &si);
	assert_true(si.dead && !si.sev);

	/* a used token is dead */
	int target2 = ph_sev_only(plat, NULL, false);
	ST_EQ(local_receive(target2, tok, NULL), -EFAULT);

	/* the refused targets are as they were */
	ph_info(launched, &ti);
	assert_int_equal(ti.handle, lh);
	ph_info(with_mem.fd, &ti);
	assert_true(ti.sev && ti.handle == 0 && ti.nregions == 1);

	/* the target carries on with the launch */
	ST_EQ(ph_update_data(target, PSP_PAGE, PSP_PAGE, NULL), 0);
	ST_EQ(ph_measure(target, NULL, NULL), 0);

	/* 4 SEV contexts: target (src's), launched, with_mem, target2 */
	ph_wait(plat, 7, total - 4);
	tvm_close(&src);
	tvm_close(&with_mem);
	close(no_sev);
	close(launched);
	close(m);
	close(target);
	close(target2);
	ph_wait(plat, 0, total);
	close(plat);
}

static void test_token_source_closed(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm src;
	int s;

	tvm_sev(&src, plat, NULL, false, 0);
	uint64_t tok = local_send(src.fd, &s);
	ST_EQ(s, 0);
	int target = ph_sev_only(plat, NULL, false);
	/* the source goes away: the staged context (and its ASID) with it */
	tvm_close(&src);
	ph_wait(plat, 1, total - 1);
	ST_EQ(local_receive(target, tok, NULL), -EFAULT);
	struct psp_vm_info i;
	ph_info(target, &i);
	assert_true(i.sev && i.handle == 0);
	close(target);
	ph_wait(plat, 0, total);
	close(plat);
}

/* A target may already have a mirror (copied from it before it was
 * launched): after the receive that mirror shares the received context's
 * ASID and keeps following it when it moves on, but it holds the handle
 * it copied at COPY_FROM, 0 (the kernel copies sev->handle then and never
 * again; sev-semantics.md section 8), so the firmware answers it
 * INVALID_GUEST. */
static void test_token_target_with_mirror(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm src;
	struct psp_guest_status gs;
	struct psp_vm_info i;
	uint32_t fw = 0;
	int s;

	tvm_sev(&src, plat, NULL, false, 0);
	int target = ph_sev_only(plat, NULL, false);
	int m = ph_vm(plat, NULL);
	ST_EQ(ph_copy(m, target), 0);
	uint64_t tok = local_send(src.fd, &s);
	ST_EQ(s, 0);
	ST_EQ(local_receive(target, tok, NULL), 0);
	FW_EQ(ph_status(m, &gs, &fw), fw, PSP_FW_INVALID_GUEST);
	ph_info(target, &i);
	assert_int_equal(i.nmirrors, 1);
	assert_int_equal(i.handle, src.handle);
	ph_info(m, &i);
	assert_int_equal(i.handle, 0);
	struct psp_vm_info ti;
	ph_info(target, &ti);
	assert_int_equal(i.asid, ti.asid);

	/* move the target on: its mirror follows */
	int next = ph_aux(plat, NULL, 0);
	ST_EQ(ph_move(next, target), 0);
	FW_EQ(ph_status(m, &gs, &fw), fw, PSP_FW_INVALID_GUEST);
	ph_info(next, &i);
	assert_int_equal(i.nmirrors, 1);
	ph_info(m, &i);
	assert_int_equal(i.asid, ti.asid);

	/* the context lives while the mirror does */
	close(next);
	close(target);
	tvm_close(&src);
	ph_wait(plat, 2, total - 1);
	ph_info(m, &i);
	assert_int_equal(i.asid, ti.asid);
	close(m);
	ph_wait(plat, 0, total);
	close(plat);
}

/* A sent owner whose handle is closed but whose mirror keeps it alive:
 * whatever becomes of the token, nothing may leak. */
static void test_token_source_kept_by_mirror(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm src;
	struct psp_guest_status gs;
	int s;

	tvm_sev(&src, plat, NULL, false, 0);
	int m = ph_vm(plat, NULL);
	ST_EQ(ph_copy(m, src.fd), 0);
	uint64_t tok = local_send(src.fd, &s);
	ST_EQ(s, 0);
	tvm_close_vm(&src);
	usleep(50 * 1000);                                /* let the daemon see the close */
	ST_EQ(ph_status(m, &gs, NULL), 0);                /* the mirror keeps the context */
	int target = ph_sev_only(plat, NULL, false);
	s = local_receive(target, tok, NULL);
	if (s == 0) {
		/* the context moved on, its mirror with it */
		ST_EQ(ph_status(m, &gs, NULL), 0);
		assert_int_equal(gs.handle, src.handle);
		struct psp_vm_info i;
		ph_info(target, &i);
		assert_int_equal(i.nmirrors, 1);
		/* the old owner object is gone: target and mirror remain */
		ph_wait(plat, 2, total - 1);
	} else {
		ST_EQ(s, -EFAULT);
	}
	close(target);
	close(m);
	tvm_close(&src);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- section 2: a dead handle answers EIO ----------------------------------- */

static void test_dead_handle(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm src;
	uint8_t payload[256];

	tvm_sev(&src, plat, NULL, false, 0);
	int dst = ph_aux(plat, NULL, TVM_VCPUS);
	ST_EQ(ph_move(dst, src.fd), 0);

	/* every ENC command id, with no data and with some */
	memset(payload, 0, sizeof(payload));
	for (uint32_t cmd = 0; cmd <= 0x110; cmd++) {
		int a = ph_enc(src.fd, cmd, NULL, 0, NULL);
		int b = ph_enc(src.fd, cmd, payload, sizeof(payload), NULL);
		if (a != -EIO || b != -EIO)
			fail_msg("dead VM: command 0x%x (%s) = %d / %d, want EIO", cmd,
				 psp__cmd_name(cmd), a, b);
	}
	ST_EQ(ph_update_data(src.fd, 0, PSP_PAGE, NULL), -EIO);
	/* region, vCPU, copy and move requests */
	ST_EQ(ph_region(src.fd, src.memfd, 0x200000, PSP_PAGE, 0), -EIO);
	ST_EQ(ph_unregion(src.fd, 0, TVM_MEM), -EIO);
	ST_EQ(ph_vcpus(src.fd, 1), -EIO);
	ST_EQ(ph_call(src.fd, PSP_OP_VCPU_BEGIN, 0, NULL, 0, -1, NULL, NULL, 0, NULL), -EIO);
	ST_EQ(ph_call(src.fd, PSP_OP_VCPU_END, 0, NULL, 0, -1, NULL, NULL, 0, NULL), -EIO);
	ST_EQ(ph_move(src.fd, dst), -EIO);
	ST_EQ(ph_copy(src.fd, dst), -EIO);
	int other = ph_sev_only(plat, NULL, false);
	ST_EQ(ph_move(src.fd, other), -EIO);
	ST_EQ(ph_copy(src.fd, other), -EIO);
	ST_EQ(ph_call(src.fd, 99, 0, NULL, 0, -1, NULL, NULL, 0, NULL), -EIO);

	/* as a source it has nothing to give */
	int fresh = ph_aux(plat, NULL, TVM_VCPUS);
	ST_EQ(ph_move(fresh, src.fd), -EINVAL);
	ST_EQ(ph_copy(fresh, src.fd), -EINVAL);

	/* nothing of that reached the live context */
	struct psp_vm_info i;
	ph_info(src.fd, &i);
	assert_true(i.dead && !i.sev && i.vcpus == TVM_VCPUS);
	ph_info(dst, &i);
	assert_true(i.sev && !i.dead && i.nregions == 1 && i.handle == src.handle);
	assert_int_equal(ph_state(dst), PSP_STATE_LUPDATE);

	tvm_close(&src);
	close(dst);
	close(other);
	close(fresh);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- section 1: the owner's context outlives its handle --------------------- */

static void test_owner_outlives_handle(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm owner;
	struct psp_guest_status gs;
	uint8_t page[PSP_PAGE];

	tvm_sev(&owner, plat, NULL, false, 0);
	int m = ph_vm(plat, NULL);
	ST_EQ(ph_copy(m, owner.fd), 0);
	ph_wait(plat, 2, total - 1);

	tvm_close_vm(&owner);                             /* memory stays mapped here */
	usleep(50 * 1000);                                /* let the daemon see the close */
	ph_wait(plat, 2, total - 1);                      /* context and ASID kept */
	ST_EQ(ph_status(m, &gs, NULL), 0);
	assert_int_equal(gs.handle, owner.handle);
	assert_int_equal(gs.state, PSP_STATE_LUPDATE);
	ST_EQ(ph_dbg_decrypt(m, 0x8000, PSP_PAGE, page, NULL), 0);
	assert_memory_equal(page, owner.mem + 0x8000, PSP_PAGE);
	memset(page, 0x3c, 128);
	ST_EQ(ph_dbg_encrypt(m, 0x8000, page, 128, NULL), 0);
	assert_memory_equal(owner.mem + 0x8000, page, 128);

	/* the last mirror gone, so is the context */
	close(m);
	ph_wait(plat, 0, total);
	tvm_close(&owner);
	close(plat);
}

/* ---- ASID pool and quotas ---------------------------------------------------- */

static void test_asid_exhaustion(void **state)
{
	(void)state;
	struct pd *d = pd_start(NULL, "--asids", "3", NULL);
	int plat = pd_connect(d);
	struct psp_platform_info pi;

	ph_hello(plat, &pi);
	assert_int_equal(pi.asids_total, 3);
	assert_int_equal(pi.asids_free, 3);
	int a = ph_sev_only(plat, NULL, false);
	int b = ph_sev_only(plat, NULL, true);
	int c = ph_sev_only(plat, NULL, false);
	ph_wait(plat, 3, 0);

	/* the fourth: EBUSY, and it stays a plain VM */
	int e = ph_vm(plat, NULL);
	ST_EQ(ph_enc(e, PSP_SEV_INIT, NULL, 0, NULL), -EBUSY);
	ST_EQ(ph_enc(e, PSP_SEV_ES_INIT, NULL, 0, NULL), -EBUSY);
	struct psp_vm_info i;
	ph_info(e, &i);
	assert_false(i.sev);

	/* mirrors and moves need no ASID of their own */
	int m = ph_vm(plat, NULL);
	ST_EQ(ph_copy(m, a), 0);
	int moved = ph_vm(plat, NULL);
	ST_EQ(ph_move(moved, c), 0);
	ph_wait(plat, 6, 0);

	/* one given back: INIT works again */
	close(moved);
	ph_wait(plat, 5, 1);
	ST_EQ(ph_enc(e, PSP_SEV_INIT, NULL, 0, NULL), 0);
	ph_wait(plat, 5, 0);

	close(a);                                         /* kept by its mirror */
	close(b);
	ph_wait(plat, 4, 1);
	close(m);
	close(c);
	close(e);
	ph_wait(plat, 0, 3);
	close(plat);
}

static void assert_not_sev_vm(int vm)
{
	struct psp_vm_info i;
	ph_info(vm, &i);
	assert_false(i.sev);
	assert_false(i.dead);
}

static void test_quota(void **state)
{
	(void)state;
	struct pd *d = pd_start(NULL, "--quota", "q=1", "--quota", "p=1", NULL);
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm s;
	struct psp_vm_info i;
	uint32_t fw = 0;

	/* a move refused after the destination's domain was charged gives the
	 * charge back (section 2, step 4): vCPUs still being created (EBUSY),
	 * an SEV-ES vCPU count mismatch (EINVAL) */
	struct tvm s0, e0;
	tvm_sev(&s0, plat, NULL, false, 0);
	tvm_sev(&e0, plat, NULL, true, 0);
	int qa = ph_aux(plat, "q", 2);
	ST_EQ(ph_call(qa, PSP_OP_VCPU_BEGIN, 0, NULL, 0, -1, NULL, NULL, 0, NULL), 0);
	ST_EQ(ph_move(qa, s0.fd), -EBUSY);
	ST_EQ(ph_call(qa, PSP_OP_VCPU_END, 0, NULL, 0, -1, NULL, NULL, 0, NULL), 0);
	ST_EQ(ph_move(qa, e0.fd), -EINVAL);               /* 3 vCPUs, not 4 */
	assert_not_sev_vm(qa);

	/* q: one ASID (none leaked by the refusals above) */
	int q1 = ph_sev_only(plat, "q", false);
	int q2 = ph_vm(plat, "q");
	ST_EQ(ph_enc(q2, PSP_SEV_INIT, NULL, 0, NULL), -EBUSY);
	/* other domains are not affected */
	int def = ph_sev_only(plat, NULL, false);

	/* p: full with the source */
	tvm_sev(&s, plat, "p", false, 0);
	int p2 = ph_vm(plat, "p");
	ST_EQ(ph_enc(p2, PSP_SEV_INIT, NULL, 0, NULL), -EBUSY);

	/* a move from p into q: q is full, EBUSY, and the source is intact */
	int q3 = ph_aux(plat, "q", TVM_VCPUS);
	ST_EQ(ph_move(q3, s.fd), -EBUSY);
	ph_info(s.fd, &i);
	assert_true(i.sev && !i.dead && i.handle == s.handle && i.nregions == 1);
	assert_int_equal(ph_state(s.fd), PSP_STATE_LUPDATE);
	ph_info(q3, &i);
	assert_false(i.sev);
	ST_EQ(ph_measure(s.fd, NULL, &fw), 0);            /* and still usable */

	/* a mirror is never charged */
	int mq = ph_vm(plat, "q");
	ST_EQ(ph_copy(mq, s.fd), 0);

	/* room in q: the move charges q and releases p */
	close(q1);
	ph_wait(plat, -1, total - 4);                     /* def, s, s0, e0 */
	ST_EQ(ph_move(q3, s.fd), 0);
	ph_info(q3, &i);
	assert_true(i.sev && i.handle == s.handle);
	ST_EQ(ph_enc(p2, PSP_SEV_INIT, NULL, 0, NULL), 0);     /* p's charge released */
	ST_EQ(ph_enc(q2, PSP_SEV_INIT, NULL, 0, NULL), -EBUSY); /* q holds the moved one */

	/* within one domain a move needs no extra charge */
	int q4 = ph_aux(plat, "q", TVM_VCPUS);
	ST_EQ(ph_move(q4, q3), 0);

	tvm_close(&s);
	tvm_close(&s0);
	tvm_close(&e0);
	close(qa);
	int all[] = { q2, def, p2, q3, mq, q4 };
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
		close(all[k]);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- section 6: the state machine -------------------------------------------- */

enum vstate { V_NOCTX, V_LUPDATE, V_LSECRET, V_RUNNING, V_SUPDATE, V_SENT, V_RUPDATE, V_N };
static const char *vstate_name[] = { "no-context", "LUPDATE", "LSECRET", "RUNNING", "SUPDATE",
				     "SENT", "RUPDATE" };
static const int vstate_fw[] = { -1, PSP_STATE_LUPDATE, PSP_STATE_LSECRET, PSP_STATE_RUNNING,
				 PSP_STATE_SUPDATE, PSP_STATE_SENT, PSP_STATE_RUPDATE };

struct sm_cmd {
	uint32_t cmd;
	enum vstate allowed;
	int want;                         /* status when allowed */
	uint32_t want_fw;                 /* fw_error when want is -EIO */
	enum vstate after;                /* state after the allowed command */
};

/* LAUNCH_SECRET and RECEIVE_UPDATE_DATA carry a packet no one sealed: where
 * they are allowed they fail for that reason, not for the state. */
static const struct sm_cmd sm_cmds[] = {
	{ PSP_SEV_LAUNCH_START,        V_NOCTX,   0,    0,                        V_LUPDATE },
	{ PSP_SEV_LAUNCH_UPDATE_DATA,  V_LUPDATE, 0,    0,                        V_LUPDATE },
	{ PSP_SEV_LAUNCH_MEASURE,      V_LUPDATE, 0,    0,                        V_LSECRET },
	{ PSP_SEV_LAUNCH_SECRET,       V_LSECRET, -EIO, PSP_FW_BAD_MEASUREMENT,   V_LSECRET },
	{ PSP_SEV_LAUNCH_FINISH,       V_LSECRET, 0,    0,                        V_RUNNING },
	{ PSP_SEV_SEND_START,          V_RUNNING, 0,    0,                        V_SUPDATE },
	{ PSP_SEV_SEND_UPDATE_DATA,    V_SUPDATE, 0,    0,                        V_SUPDATE },
	{ PSP_SEV_SEND_FINISH,         V_SUPDATE, 0,    0,                        V_SENT },
	{ PSP_SEV_SEND_CANCEL,         V_SUPDATE, 0,    0,                        V_RUNNING },
	{ PSP_SEV_RECEIVE_START,       V_NOCTX,   -EIO, PSP_FW_BAD_MEASUREMENT,   V_NOCTX },
	{ PSP_SEV_RECEIVE_UPDATE_DATA, V_RUPDATE, -EIO, PSP_FW_BAD_MEASUREMENT,   V_RUPDATE },
	{ PSP_SEV_RECEIVE_FINISH,      V_RUPDATE, 0,    0,                        V_RUNNING },
};

/* A VM in state st: tvm with memory at GPA 0, SEV initialised. */
static void vm_in_state(int plat, enum vstate st, const char *chain, size_t clen, struct tvm *v)
{
	struct tvm peer;
	switch (st) {
	case V_NOCTX:
		tvm_mem(v);
		v->fd = ph_sev_only(plat, NULL, false);
		ST_EQ(ph_region(v->fd, v->memfd, 0, TVM_MEM, 0), 0);
		return;
	case V_RUPDATE:
		ph_session(plat, &peer, v, 0);
		tvm_close(&peer);
		return;
	default:
		break;
	}
	tvm_sev(v, plat, NULL, false, 0);
	if (st >= V_LSECRET)
		ST_EQ(ph_measure(v->fd, NULL, NULL), 0);
	if (st >= V_RUNNING)
		ST_EQ(ph_enc(v->fd, PSP_SEV_LAUNCH_FINISH, NULL, 0, NULL), 0);
	if (st >= V_SUPDATE)
		ST_EQ(ph_send_start(v->fd, chain, clen, NULL, NULL, NULL, NULL, NULL), 0);
	if (st >= V_SENT)
		ST_EQ(ph_enc(v->fd, PSP_SEV_SEND_FINISH, NULL, 0, NULL), 0);
}

/* the command with a well-formed payload */
static int sm_issue(int vm, uint32_t cmd, const char *chain, size_t clen, uint32_t *fw)
{
	static uint8_t buf[sizeof(struct psp_receive_start) + 8192];
	struct psp_packet pk;
	struct psp_receive_start rs;

	switch (cmd) {
	case PSP_SEV_LAUNCH_START:
		return ph_launch_start(vm, 0, fw, NULL);
	case PSP_SEV_LAUNCH_UPDATE_DATA:
		return ph_update_data(vm, 0, PSP_PAGE, fw);
	case PSP_SEV_LAUNCH_MEASURE:
		return ph_measure(vm, NULL, fw);
	case PSP_SEV_LAUNCH_SECRET:
	case PSP_SEV_RECEIVE_UPDATE_DATA: {
		uint32_t len = cmd == PSP_SEV_LAUNCH_SECRET ? 64 : PSP_PAGE;
		memset(&pk, 0, sizeof(pk));
		pk.gpa = cmd == PSP_SEV_LAUNCH_SECRET ? 0x8000 : 0x9000;
		pk.seq = 1;
		pk.len = len;
		memset(pk.hdr, 0x42, sizeof(pk.hdr));
		memcpy(buf, &pk, sizeof(pk));
		memset(buf + sizeof(pk), 0x17, len);
		return ph_enc(vm, cmd, buf, sizeof(pk) + len, fw);
	}
	case PSP_SEV_SEND_START:
		return ph_send_start(vm, chain, clen, fw, NULL, NULL, NULL, NULL);
	case PSP_SEV_SEND_UPDATE_DATA: {
		static uint8_t pkt[sizeof(struct psp_packet) + PSP_PAGE];
		return ph_send_data(vm, 0, PSP_PAGE, fw, pkt, sizeof(pkt), NULL);
	}
	case PSP_SEV_RECEIVE_START:
		memset(&rs, 0, sizeof(rs));
		memset(rs.session, 0x5c, sizeof(rs.session));
		rs.chain_len = (uint32_t)clen;
		memcpy(buf, &rs, sizeof(rs));
		memcpy(buf + sizeof(rs), chain, clen);
		return ph_enc(vm, cmd, buf, sizeof(rs) + clen, fw);
	default:
		return ph_enc(vm, cmd, NULL, 0, fw);
	}
}

static void test_state_machine(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	size_t clen;
	char *chain = ph_chain(plat, &clen);
	int bad = 0;

	for (int st = 0; st < V_N; st++) {
		for (size_t c = 0; c < sizeof(sm_cmds) / sizeof(sm_cmds[0]); c++) {
			const struct sm_cmd *sc = &sm_cmds[c];
			struct tvm v;
			struct psp_guest_status gs;
			uint32_t fw = 0, gfw = 0;
			bool allowed = sc->allowed == (enum vstate)st;
			int want = allowed ? sc->want : -EIO;
			uint32_t want_fw = allowed ? sc->want_fw : PSP_FW_INVALID_GUEST_STATE;
			enum vstate after = allowed ? sc->after : (enum vstate)st;

			vm_in_state(plat, (enum vstate)st, chain, clen, &v);
			int s = sm_issue(v.fd, sc->cmd, chain, clen, &fw);
			int gst = ph_status(v.fd, &gs, &gfw);
			bool ok = s == want && (want != -EIO || fw == want_fw);
			if (after == V_NOCTX)
				ok = ok && gst == -EIO && gfw == PSP_FW_INVALID_GUEST;
			else
				ok = ok && gst == 0 && gs.state == (uint32_t)vstate_fw[after];
			if (!ok) {
				bad++;
				print_error("%s in %s: %d (%s) fw %s, then state %d (status %d); want "
					    "%d fw %s, then %s\n", psp__cmd_name(sc->cmd),
					    vstate_name[st], s, ph_errname(s),
					    psp__fw_error_name(fw), gst ? -1 : (int)gs.state, gst,
					    want, psp__fw_error_name(want_fw), vstate_name[after]);
			}
			tvm_close(&v);
		}
	}
	assert_int_equal(bad, 0);

	/* without SEV: ENOTTY, except RECEIVE_UPDATE_DATA's EINVAL (KVM) */
	int plain = ph_vm(plat, NULL);
	for (size_t c = 0; c < sizeof(sm_cmds) / sizeof(sm_cmds[0]); c++) {
		uint32_t cmd = sm_cmds[c].cmd;
		int s = sm_issue(plain, cmd, chain, clen, NULL);
		int want = cmd == PSP_SEV_RECEIVE_UPDATE_DATA ? -EINVAL : -ENOTTY;
		if (s != want)
			fail_msg("%s without SEV: %d (%s), want %d", psp__cmd_name(cmd), s,
				 ph_errname(s), want);
	}
	close(plain);

	/* LAUNCH_START's policy must match the VM's kind: ES policy on an SEV
	 * VM and the reverse are refused */
	int sev = ph_sev_only(plat, NULL, false), es = ph_sev_only(plat, NULL, true);
	uint32_t pfw = 0;
	FW_EQ(ph_launch_start(sev, PSP_POLICY_ES, &pfw, NULL), pfw, PSP_FW_POLICY_FAILURE);
	FW_EQ(ph_launch_start(es, 0, &pfw, NULL), pfw, PSP_FW_POLICY_FAILURE);
	ST_EQ(ph_launch_start(es, PSP_POLICY_ES, &pfw, NULL), 0);
	/* LAUNCH_UPDATE_VMSA: SEV-ES only, in LUPDATE only */
	ST_EQ(ph_vcpus(sev, 1), 0);
	ST_EQ(ph_vcpus(es, 2), 0);
	ST_EQ(ph_launch_start(sev, 0, &pfw, NULL), 0);
	ST_EQ(ph_vmsa(sev, 0, &pfw), -ENOTTY);
	ST_EQ(ph_vmsa(es, 2, &pfw), -EINVAL);             /* no such vCPU */
	ST_EQ(ph_vmsa(es, 0, &pfw), 0);
	ST_EQ(ph_measure(es, NULL, NULL), 0);
	FW_EQ(ph_vmsa(es, 1, &pfw), pfw, PSP_FW_INVALID_GUEST_STATE);
	close(sev);
	close(es);

	/* DECOMMISSION from any state: the context is gone, a new launch may start */
	for (int st = 0; st < V_N; st++) {
		struct tvm v;
		uint32_t fw = 0, h = 0;
		struct psp_guest_status gs;
		vm_in_state(plat, (enum vstate)st, chain, clen, &v);
		ST_EQ(ph_enc(v.fd, PSP_SEV_DECOMMISSION, NULL, 0, NULL), 0);
		FW_EQ(ph_status(v.fd, &gs, &fw), fw, PSP_FW_INVALID_GUEST);
		ST_EQ(ph_launch_start(v.fd, 0, NULL, &h), 0);
		assert_int_equal(ph_state(v.fd), PSP_STATE_LUPDATE);
		tvm_close(&v);
	}

	free(chain);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- section 6: launch measurement and the owner's secret -------------------- */

static void sha256_two(const uint8_t *a, const uint8_t *b, size_t len, uint8_t out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned n = 0;
	assert_non_null(c);
	assert_int_equal(EVP_DigestInit_ex(c, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(c, a, len), 1);
	assert_int_equal(EVP_DigestUpdate(c, b, len), 1);
	assert_int_equal(EVP_DigestFinal_ex(c, out, &n), 1);
	EVP_MD_CTX_free(c);
}

static int send_secret(int vm, const struct sev_keys *k, uint8_t ctx, const uint8_t *bind,
		       uint64_t gpa, const uint8_t *plain, uint32_t len, int flip, uint32_t *fw)
{
	uint8_t buf[sizeof(struct psp_packet) + 256];
	struct psp_packet pk = { .gpa = gpa, .len = len };
	assert_true(len <= 256);
	assert_int_equal(sev__packet_seal(k, ctx, 0, plain, len, bind, 32, pk.hdr,
					 buf + sizeof(pk)), 0);
	memcpy(buf, &pk, sizeof(pk));
	if (flip >= 0)
		buf[flip] ^= 0x01;
	return ph_enc(vm, PSP_SEV_LAUNCH_SECRET, buf, sizeof(pk) + len, fw);
}

static void test_launch_measure_secret(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	size_t clen, plen;
	char *chain = ph_chain(plat, &clen), *pem = NULL;
	const char *root = strstr(chain + 1, "-----BEGIN CERTIFICATE-----");
	EVP_PKEY *pdh = NULL, *owner;
	uint8_t maj = 0, min = 0, session[PSP_SESSION_LEN], bad[PSP_SESSION_LEN];
	struct sev_keys keys;
	char err[256];
	uint32_t fw = 0, handle = 0;
	const uint32_t policy = PSP_POLICY_NOKS;
	struct tvm v;

	/* the guest owner checks the platform's chain against its root */
	assert_non_null(root);
	if (sev__chain_verify(chain, clen, root, strlen(root), &pdh, &maj, &min, err, sizeof(err)))
		fail_msg("platform chain: %s", err);
	assert_int_equal(maj, PSP_API_MAJOR);
	assert_int_equal(min, PSP_API_MINOR);
	owner = sev__p384_generate();
	assert_non_null(owner);
	assert_int_equal(sev__keys_random(&keys), 0);
	assert_int_equal(sev__session_wrap(owner, pdh, &keys, policy, session), 0);
	assert_int_equal(sev__pubkey_pem(owner, &pem, &plen), 0);

	tvm_mem(&v);
	v.fd = ph_sev_only(plat, NULL, false);
	ST_EQ(ph_region(v.fd, v.memfd, 0, TVM_MEM, 0), 0);
	ST_EQ(ph_vcpus(v.fd, TVM_VCPUS), 0);

	/* a session with a flipped bit, or for another policy, is refused */
	memcpy(bad, session, sizeof(bad));
	bad[40] ^= 0x80;
	FW_EQ(ph_launch_session(v.fd, policy, bad, pem, plen, &fw, NULL), fw,
	      PSP_FW_BAD_MEASUREMENT);
	FW_EQ(ph_launch_session(v.fd, policy | PSP_POLICY_NODBG, session, pem, plen, &fw, NULL),
	      fw, PSP_FW_BAD_MEASUREMENT);
	FW_EQ(ph_launch_session(v.fd, policy, session, "garbage", 7, &fw, NULL), fw,
	      PSP_FW_INVALID_CERTIFICATE);
	FW_EQ(ph_status(v.fd, &(struct psp_guest_status){ 0 }, &fw), fw, PSP_FW_INVALID_GUEST);

	ST_EQ(ph_launch_session(v.fd, policy, session, pem, plen, &fw, &handle), 0);
	assert_true(handle != 0);
	ST_EQ(ph_update_data(v.fd, 0, PSP_PAGE, NULL), 0);
	ST_EQ(ph_update_data(v.fd, PSP_PAGE, PSP_PAGE, NULL), 0);

	/* the measurement is the spec's HMAC over the digest of what was loaded */
	struct psp_measure_reply mr;
	uint8_t digest[32], want[32];
	ST_EQ(ph_measure(v.fd, &mr, NULL), 0);
	sha256_two(v.mem, v.mem + PSP_PAGE, PSP_PAGE, digest);
	assert_int_equal(sev__measure(keys.tik, PSP_API_MAJOR, PSP_API_MINOR, PSP_BUILD, policy,
				     digest, mr.mnonce, want), 0);
	assert_memory_equal(mr.measurement, want, 32);
	assert_int_equal(mr.api_major, PSP_API_MAJOR);
	assert_int_equal(mr.api_minor, PSP_API_MINOR);
	assert_int_equal(mr.build, PSP_BUILD);
	assert_int_equal(mr.policy, policy);

	/* the secret: bound to the measurement */
	uint8_t secret[48], before[256];
	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)(0xc0 + i);
	memcpy(before, v.mem + 0xa000, sizeof(before));
	uint8_t zero[32] = { 0 };
	FW_EQ(send_secret(v.fd, &keys, SEV_CTX_SECRET, zero, 0xa000, secret, 48, -1, &fw), fw,
	      PSP_FW_BAD_MEASUREMENT);                        /* another launch's */
	FW_EQ(send_secret(v.fd, &keys, SEV_CTX_DATA, mr.measurement, 0xa000, secret, 48, -1, &fw),
	      fw, PSP_FW_BAD_MEASUREMENT);                    /* not a secret packet */
	FW_EQ(send_secret(v.fd, &keys, SEV_CTX_SECRET, mr.measurement, 0xa000, secret, 48,
			  (int)sizeof(struct psp_packet) + 5, &fw), fw, PSP_FW_BAD_MEASUREMENT);
	FW_EQ(send_secret(v.fd, &keys, SEV_CTX_SECRET, mr.measurement, 0xa000, secret, 48,
			  (int)offsetof(struct psp_packet, hdr) + 30, &fw), fw,
	      PSP_FW_BAD_MEASUREMENT);
	assert_memory_equal(v.mem + 0xa000, before, sizeof(before));
	ST_EQ(send_secret(v.fd, &keys, SEV_CTX_SECRET, mr.measurement, 0xa000, secret, 48, -1, &fw),
	      0);
	assert_memory_equal(v.mem + 0xa000, secret, 48);
	assert_memory_equal(v.mem + 0xa000 + 48, before + 48, sizeof(before) - 48);

	ST_EQ(ph_enc(v.fd, PSP_SEV_LAUNCH_FINISH, NULL, 0, NULL), 0);
	assert_int_equal(ph_state(v.fd), PSP_STATE_RUNNING);

	tvm_close(&v);
	EVP_PKEY_free(pdh);
	EVP_PKEY_free(owner);
	free(pem);
	free(chain);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- a random life: every order of create, init, launch, copy, move,
 * token send/receive, decommission and close keeps the books balanced ---- */

#define LIFE_SLOTS 10
#define LIFE_STEPS 3000

/* The books, retried while the daemon processes closes: the distinct ASIDs
 * the open VMs use (a mirror reports its owner's, so a context kept alive
 * only by mirrors counts too) are exactly the ASIDs in use; and the VM
 * objects are the open handles plus the owners whose handles are closed
 * but whose mirrors keep them (an ASID only open mirrors report). */
static void life_check(int plat, const int *slot, int step)
{
	struct psp_platform_info pi;
	for (int tries = 0;; tries++) {
		uint32_t asids[LIFE_SLOTS], n = 0, open = 0, hidden = 0;
		bool owned[LIFE_SLOTS] = { false };
		for (int k = 0; k < LIFE_SLOTS; k++) {
			struct psp_vm_info i;
			if (slot[k] < 0)
				continue;
			open++;
			ph_info(slot[k], &i);
			if (i.dead) {
				assert_false(i.sev);
				assert_int_equal(i.asid, 0);
				continue;
			}
			if (!i.sev)
				continue;
			assert_true(i.asid != 0);
			uint32_t j = 0;
			while (j < n && asids[j] != i.asid)
				j++;
			if (j == n)
				asids[n++] = i.asid;
			owned[j] |= !i.mirror;
		}
		for (uint32_t j = 0; j < n; j++)
			hidden += !owned[j];
		ph_hello(plat, &pi);
		if (pi.asids_total - pi.asids_free == n && pi.vms == open + hidden)
			return;
		if (tries > 5000)
			fail_msg("step %d: %u ASIDs in use, the open VMs hold %u; %u VMs, want %u "
				 "open + %u kept by mirrors", step, pi.asids_total - pi.asids_free, n,
				 pi.vms, open, hidden);
		usleep(1000);
	}
}

/* a VM in one of the shapes the rules care about */
static int life_create(int plat, int memfd)
{
	int vm = ph_vm(plat, NULL), shape = rand() % 6;
	bool es = shape == 5;
	switch (shape) {
	case 0:                                           /* plain, no vCPUs */
		break;
	case 1:                                           /* plain, 4 vCPUs */
		ST_EQ(ph_vcpus(vm, TVM_VCPUS), 0);
		break;
	case 2:                                           /* SEV initialised only */
		ST_EQ(ph_enc(vm, PSP_SEV_INIT, NULL, 0, NULL), 0);
		break;
	default:                                          /* launched SEV or SEV-ES */
		ST_EQ(ph_enc(vm, es ? PSP_SEV_ES_INIT : PSP_SEV_INIT, NULL, 0, NULL), 0);
		ST_EQ(ph_region(vm, memfd, 0, TVM_MEM, 0), 0);
		ST_EQ(ph_vcpus(vm, TVM_VCPUS), 0);
		ST_EQ(ph_launch_start(vm, es ? PSP_POLICY_ES : 0, NULL, NULL), 0);
		ST_EQ(ph_update_data(vm, 0, PSP_PAGE, NULL), 0);
		for (uint32_t k = 0; es && k < TVM_VCPUS; k++)
			ST_EQ(ph_vmsa(vm, k, NULL), 0);
		break;
	}
	return vm;
}

static void test_random_lifecycle(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	int slot[LIFE_SLOTS];
	uint64_t tokens[3] = { 0 };                       /* [2]: never a live one */
	struct tvm mem;
	const char *seed_env = getenv("TERN_PSP_SEED");
	unsigned seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 0) : 4242;
	int counts[10] = { 0 }, ok[10] = { 0 };

	srand(seed);
	tvm_mem(&mem);
	for (int k = 0; k < LIFE_SLOTS; k++)
		slot[k] = -1;
	for (int step = 0; step < LIFE_STEPS; step++) {
		int a = rand() % LIFE_SLOTS, b = rand() % LIFE_SLOTS, op = rand() % 10, s = 0;
		if (slot[a] < 0)
			op = 0;
		switch (op) {
		case 0:                                   /* create */
			if (slot[a] >= 0)
				close(slot[a]);
			slot[a] = life_create(plat, mem.memfd);
			break;
		case 1:                                   /* close */
			close(slot[a]);
			slot[a] = -1;
			break;
		case 2:
		case 3:                                   /* copy */
			s = slot[b] < 0 ? -EBADF : ph_copy(slot[a], slot[b]);
			if (!s && rand() % 2) {           /* a mirror with vCPUs and VMSAs */
				(void)ph_vcpus(slot[a], TVM_VCPUS);
				for (uint32_t k = 0; k < TVM_VCPUS; k++)
					(void)ph_vmsa(slot[a], k, NULL);
			}
			break;
		case 4:
		case 5:                                   /* move */
			s = slot[b] < 0 ? -EBADF : ph_move(slot[a], slot[b]);
			break;
		case 6: {                                 /* LOCAL_SEND */
			struct psp_token t = { 0 };
			s = ph_call(slot[a], PSP_OP_ENC, PSP_SEV_LOCAL_SEND, NULL, 0, -1, NULL, &t,
				    sizeof(t), NULL);
			if (!s)
				tokens[rand() % 2] = t.token;
			break;
		}
		case 7: {                                 /* LOCAL_RECEIVE */
			struct psp_token t = { tokens[rand() % 3] };
			s = ph_enc(slot[a], PSP_SEV_LOCAL_RECEIVE, &t, sizeof(t), NULL);
			break;
		}
		case 8: {                                 /* the firmware side */
			static const uint32_t cmds[] = { PSP_SEV_DECOMMISSION, PSP_SEV_LAUNCH_MEASURE,
							 PSP_SEV_LAUNCH_FINISH, PSP_SEV_INIT };
			s = ph_enc(slot[a], cmds[rand() % 4], NULL, 0, NULL);
			break;
		}
		case 9:                                   /* vCPUs */
			s = ph_vcpus(slot[a], 1);
			break;
		}
		if (s == -ECONNRESET || s == -EPIPE || s == -EAGAIN || s == -EPROTO)
			fail_msg("seed %u step %d op %d: %d (%s)", seed, step, op, s, ph_errname(s));
		counts[op]++;
		ok[op] += s == 0;
		life_check(plat, slot, step);
	}
	if (seed_env)
		for (int op = 0; op < 10; op++)
			print_message("op %d: %d of %d succeeded\n", op, ok[op], counts[op]);
	/* the successful paths were exercised */
	for (int op = 2; op <= 7; op++)
		if (!ok[op])
			fail_msg("seed %u: op %d never succeeded (%d tries)", seed, op, counts[op]);
	for (int k = 0; k < LIFE_SLOTS; k++)
		if (slot[k] >= 0)
			close(slot[k]);
	ph_wait(plat, 0, total);
	tvm_close(&mem);
	close(plat);
}

/* ---- registered memory ------------------------------------------------------- */

static void test_regions(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm v;
	uint8_t page[PSP_PAGE];
	int sp[2];

	tvm_mem(&v);
	v.fd = ph_sev_only(plat, NULL, false);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);

	/* malformed ranges and fds */
	ST_EQ(ph_region(v.fd, -1, 0, PSP_PAGE, 0), -EINVAL);              /* no memfd */
	ST_EQ(ph_region(v.fd, sp[0], 0, PSP_PAGE, 0), -EINVAL);           /* not memory */
	ST_EQ(ph_region(v.fd, v.memfd, 0, 0, 0), -EINVAL);                /* empty */
	ST_EQ(ph_region(v.fd, v.memfd, 100, PSP_PAGE, 0), -EINVAL);       /* unaligned */
	ST_EQ(ph_region(v.fd, v.memfd, 0, 100, 0), -EINVAL);
	ST_EQ(ph_region(v.fd, v.memfd, 0, PSP_PAGE, 100), -EINVAL);
	ST_EQ(ph_region(v.fd, v.memfd, 0, TVM_MEM + PSP_PAGE, 0), -EINVAL); /* beyond the memfd */
	ST_EQ(ph_region(v.fd, v.memfd, 0, PSP_PAGE, TVM_MEM), -EINVAL);
	ST_EQ(ph_region(v.fd, v.memfd, UINT64_MAX - PSP_PAGE + 1, 2 * PSP_PAGE, 0), -EINVAL);
	assert_true(ph_region(v.fd, v.memfd, 0, PSP_PAGE, UINT64_MAX - PSP_PAGE + 1) < 0);
	ST_EQ(ph_call(v.fd, PSP_OP_REGION_REG, 0, "x", 1, v.memfd, NULL, NULL, 0, NULL), -EINVAL);

	/* two regions of one memfd, at separate guest addresses */
	ST_EQ(ph_region(v.fd, v.memfd, 0, TVM_MEM / 2, 0), 0);
	ST_EQ(ph_region(v.fd, v.memfd, 0x400000, TVM_MEM / 2, TVM_MEM / 2), 0);
	ST_EQ(ph_region(v.fd, v.memfd, 0x40000, PSP_PAGE, 0), -EEXIST);   /* overlaps */
	ST_EQ(ph_region(v.fd, v.memfd, 0x3ff000, 2 * PSP_PAGE, 0), -EEXIST);
	struct psp_vm_info i;
	ph_info(v.fd, &i);
	assert_int_equal(i.nregions, 2);

	/* the firmware reads what the VMM wrote, within one region */
	ST_EQ(ph_launch_start(v.fd, 0, NULL, NULL), 0);
	ST_EQ(ph_dbg_decrypt(v.fd, 0x400000 + 0x2000, PSP_PAGE, page, NULL), 0);
	assert_memory_equal(page, v.mem + TVM_MEM / 2 + 0x2000, PSP_PAGE);
	ST_EQ(ph_dbg_decrypt(v.fd, TVM_MEM / 2 - 16, 32, page, NULL), -EINVAL); /* past its end */
	ST_EQ(ph_dbg_decrypt(v.fd, 0x900000, 16, page, NULL), -EINVAL);         /* nowhere */
	ST_EQ(ph_update_data(v.fd, 0x400000 + TVM_MEM / 2 - PSP_PAGE, 2 * PSP_PAGE, NULL), -EINVAL);

	/* unregistering: exactly a registered range */
	ST_EQ(ph_unregion(v.fd, 0x400000, PSP_PAGE), -EINVAL);
	ST_EQ(ph_unregion(v.fd, 0x400000, TVM_MEM / 2), 0);
	ST_EQ(ph_unregion(v.fd, 0x400000, TVM_MEM / 2), -EINVAL);
	ST_EQ(ph_dbg_decrypt(v.fd, 0x400000, 16, page, NULL), -EINVAL);
	ph_info(v.fd, &i);
	assert_int_equal(i.nregions, 1);

	tvm_close(&v);
	close(sp[0]);
	close(sp[1]);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- capabilities: no fd, no access ------------------------------------------ */

static void test_ebadf(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm s;
	int sp[2];

	tvm_sev(&s, plat, NULL, false, 0);
	int dst = ph_aux(plat, NULL, TVM_VCPUS);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	int mf = memfd_create("not-a-vm", MFD_CLOEXEC);
	assert_true(mf >= 0);

	/* an unrelated socketpair end (of the same kind as a handle), a memfd,
	 * the platform connection, nothing at all */
	int bogus[] = { sp[0], sp[1], mf, plat, -1 };
	for (size_t k = 0; k < sizeof(bogus) / sizeof(bogus[0]); k++) {
		ST_EQ(ph_move(dst, bogus[k]), -EBADF);
		ST_EQ(ph_copy(dst, bogus[k]), -EBADF);
	}
	/* a VM of another platform */
	struct pd *d2 = pd_start(NULL, NULL);
	int plat2 = pd_connect(d2);
	int foreign = ph_sev_only(plat2, NULL, false);
	ST_EQ(ph_move(dst, foreign), -EBADF);
	ST_EQ(ph_copy(dst, foreign), -EBADF);
	int dst2 = ph_vm(plat2, NULL);
	ST_EQ(ph_move(dst2, s.fd), -EBADF);
	ST_EQ(ph_copy(dst2, s.fd), -EBADF);

	/* nothing happened to anyone */
	struct psp_vm_info i;
	ph_info(dst, &i);
	assert_false(i.sev);
	ph_info(dst2, &i);
	assert_false(i.sev);
	ph_info(s.fd, &i);
	assert_true(i.sev && !i.dead);

	/* while passing the real handle (any copy of it) is the right */
	int dup_fd = dup(s.fd);
	ST_EQ(ph_move(dst, dup_fd), 0);
	close(dup_fd);

	close(foreign);
	close(dst2);
	close(plat2);
	tvm_close(&s);
	close(dst);
	close(sp[0]);
	close(sp[1]);
	close(mf);
	ph_wait(plat, 0, total);
	close(plat);
}

int main(int argc, char **argv)
{
	(void)argc;
	ph_init(argv[0]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_token_send, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_token_receive, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_token_source_closed, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_token_target_with_mirror, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_token_source_kept_by_mirror, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_dead_handle, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_owner_outlives_handle, pd_setup, pd_teardown),
		cmocka_unit_test_teardown(test_asid_exhaustion, pd_teardown),
		cmocka_unit_test_teardown(test_quota, pd_teardown),
		cmocka_unit_test_setup_teardown(test_state_machine, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_launch_measure_secret, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_random_lifecycle, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_regions, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_ebadf, pd_setup, pd_teardown),
	};
	return cmocka_run_group_tests_name("psp_rules", tests, NULL, NULL);
}
