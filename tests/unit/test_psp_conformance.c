/* test_psp_conformance.c - the conformance tests of sev-semantics.md
 * section 4, ported from the kernel selftest (sev_migrate_tests.c) and run
 * against the real tern-psp daemon: migrate_from(_es), migrate_locking,
 * migrate_parameters, mirror(_es), mirror_parameters, move_copy.
 *
 * Each test gets a fresh daemon (psp_harness.c), so ASID and VM counts
 * are exact: every test ends by closing its VMs and checking that the
 * platform is back where it started. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "psp_harness.h"

#define NR_MIGRATE_TEST_VMS 3
#define LOCKING_ITERS       10000

static uint32_t asids_total(int plat)
{
	struct psp_platform_info pi;
	ph_hello(plat, &pi);
	assert_int_equal(pi.asids_free, pi.asids_total);   /* a fresh daemon */
	assert_int_equal(pi.vms, 0);
	return pi.asids_total;
}

static void assert_dead(int vm)
{
	struct psp_vm_info i;
	ph_info(vm, &i);
	assert_true(i.dead);
	/* the source is cleared: no ASID, no handle, not SEV */
	assert_false(i.sev);
	assert_int_equal(i.asid, 0);
	assert_int_equal(i.handle, 0);
	assert_int_equal(i.nregions, 0);
	assert_int_equal(i.nmirrors, 0);
}

/* ---- migrate_from(es) ---------------------------------------------------- */

static void migrate_from(void **state, bool es)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = asids_total(plat);
	struct tvm src;
	struct psp_vm_info si, di;
	int dst[NR_MIGRATE_TEST_VMS];
	uint8_t page[PSP_PAGE];

	tvm_sev(&src, plat, NULL, es, 0);
	ph_info(src.fd, &si);
	for (int i = 0; i < NR_MIGRATE_TEST_VMS; i++)
		dst[i] = ph_aux(plat, NULL, TVM_VCPUS);

	/* src -> dst0 -> dst1 -> dst2 */
	ST_EQ(ph_move(dst[0], src.fd), 0);
	for (int i = 1; i < NR_MIGRATE_TEST_VMS; i++)
		ST_EQ(ph_move(dst[i], dst[i - 1]), 0);

	/* back into the original source: it is dead */
	ST_EQ(ph_move(src.fd, dst[NR_MIGRATE_TEST_VMS - 1]), -EIO);

	assert_dead(src.fd);
	for (int i = 0; i < NR_MIGRATE_TEST_VMS - 1; i++)
		assert_dead(dst[i]);

	/* the last destination holds the whole context */
	int last = dst[NR_MIGRATE_TEST_VMS - 1];
	ph_info(last, &di);
	assert_true(di.sev && !di.dead && !di.mirror);
	assert_int_equal(di.es, es);
	assert_int_equal(di.asid, si.asid);
	assert_int_equal(di.handle, si.handle);
	assert_int_equal(di.state, PSP_STATE_LUPDATE);
	assert_int_equal(di.policy, si.policy);
	assert_int_equal(di.vcpus, TVM_VCPUS);
	assert_int_equal(di.nregions, 1);
	assert_int_equal(di.vmsa_launched, es ? TVM_VCPUS : 0);
	ST_EQ(ph_dbg_decrypt(last, 0x3000, PSP_PAGE, page, NULL), 0);
	assert_memory_equal(page, src.mem + 0x3000, PSP_PAGE);

	/* one ASID in use all along: moves neither take nor leak one */
	ph_wait(plat, 1 + NR_MIGRATE_TEST_VMS, total - 1);

	/* and the launch goes on where it was */
	ST_EQ(ph_update_data(last, PSP_PAGE, PSP_PAGE, NULL), 0);
	ST_EQ(ph_measure(last, NULL, NULL), 0);
	assert_int_equal(ph_state(last), PSP_STATE_LSECRET);

	tvm_close(&src);
	for (int i = 0; i < NR_MIGRATE_TEST_VMS; i++)
		close(dst[i]);
	ph_wait(plat, 0, total);
	close(plat);
}

static void test_migrate_from(void **state)
{
	migrate_from(state, false);
}

static void test_migrate_from_es(void **state)
{
	migrate_from(state, true);
}

/* ---- migrate_locking ----------------------------------------------------- */

struct locking_arg {
	int self;                         /* this thread's VM */
	int *vms;
	int unexpected;                   /* a status no move can give */
	long last_bad;
	int done;
};

static void *locking_thread(void *p)
{
	struct locking_arg *a = p;
	for (int i = 0; i < LOCKING_ITERS; i++) {
		struct psp_reply r;
		int s = psp__call(a->vms[a->self], PSP_OP_MOVE_FROM, 0, NULL, 0,
				 a->vms[i % NR_MIGRATE_TEST_VMS], &r);
		psp__reply_free(&r);
		/* results are ignored as in the kernel test, but the daemon must
		 * answer each one with a move's errno */
		if (s != 0 && s != -EINVAL && s != -EBUSY && s != -EIO) {
			a->unexpected++;
			a->last_bad = s;
			if (s == -ECONNRESET || s == -EPIPE || s == -EAGAIN)
				break;    /* the daemon died or hung */
		}
		a->done++;
	}
	return NULL;
}

static void test_migrate_locking(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = asids_total(plat);
	struct tvm v[NR_MIGRATE_TEST_VMS];
	int fds[NR_MIGRATE_TEST_VMS];
	struct locking_arg args[NR_MIGRATE_TEST_VMS];
	pthread_t t[NR_MIGRATE_TEST_VMS];

	for (int i = 0; i < NR_MIGRATE_TEST_VMS; i++) {
		tvm_sev(&v[i], plat, NULL, false, 0);
		fds[i] = v[i].fd;
	}
	for (int i = 0; i < NR_MIGRATE_TEST_VMS; i++) {
		args[i] = (struct locking_arg){ .self = i, .vms = fds };
		assert_int_equal(pthread_create(&t[i], NULL, locking_thread, &args[i]), 0);
	}
	for (int i = 0; i < NR_MIGRATE_TEST_VMS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < NR_MIGRATE_TEST_VMS; i++)
		assert_int_equal(args[i].done, LOCKING_ITERS);
	for (int i = 0; i < NR_MIGRATE_TEST_VMS; i++)
		if (args[i].unexpected)
			fail_msg("thread %d: %d unexpected replies (last %ld, %s)", i,
				 args[i].unexpected, args[i].last_bad, ph_errname(args[i].last_bad));

	/* the daemon still answers, and the ASID accounting adds up:
	 * free ASIDs + SEV contexts == the pool */
	struct psp_platform_info pi;
	uint32_t contexts = 0;
	ph_hello(plat, &pi);
	assert_int_equal(pi.vms, NR_MIGRATE_TEST_VMS);
	for (int i = 0; i < NR_MIGRATE_TEST_VMS; i++) {
		struct psp_vm_info vi;
		ph_info(fds[i], &vi);
		if (vi.sev && !vi.mirror && !vi.dead)
			contexts++;
	}
	assert_int_equal(pi.asids_free + contexts, pi.asids_total);
	assert_int_equal(pi.asids_total, total);

	for (int i = 0; i < NR_MIGRATE_TEST_VMS; i++)
		tvm_close(&v[i]);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- migrate_parameters -------------------------------------------------- */

static void assert_intact(struct tvm *v, bool es)
{
	struct psp_vm_info i;
	ph_info(v->fd, &i);
	assert_true(i.sev && !i.dead);
	assert_int_equal(i.es, es);
	assert_int_equal(i.handle, v->handle);
	assert_int_equal(i.nregions, 1);
	assert_int_equal(ph_state(v->fd), PSP_STATE_LUPDATE);
}

static void assert_not_sev(int vm)
{
	struct psp_vm_info i;
	ph_info(vm, &i);
	assert_false(i.sev);
	assert_false(i.dead);
	assert_int_equal(i.asid, 0);
	assert_int_equal(i.handle, 0);
}

static void test_migrate_parameters(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = asids_total(plat);
	struct tvm sev, es;

	tvm_sev(&sev, plat, NULL, false, 0);
	tvm_sev(&es, plat, NULL, true, 0);

	/* a non-SEV source */
	int no_vcpu = ph_vm(plat, NULL);
	int no_sev = ph_aux(plat, NULL, TVM_VCPUS);
	ST_EQ(ph_move(no_vcpu, no_sev), -EINVAL);
	assert_not_sev(no_vcpu);
	assert_not_sev(no_sev);

	/* the destination already an SEV guest: ES into SEV, SEV into ES */
	ST_EQ(ph_move(sev.fd, es.fd), -EINVAL);
	ST_EQ(ph_move(es.fd, sev.fd), -EINVAL);
	/* ... even one that only initialised SEV */
	int inited = ph_sev_only(plat, NULL, false);
	ST_EQ(ph_move(inited, sev.fd), -EINVAL);

	/* SEV-ES: vCPU counts must be equal */
	ST_EQ(ph_move(no_vcpu, es.fd), -EINVAL);
	int three = ph_aux(plat, NULL, 3);
	ST_EQ(ph_move(three, es.fd), -EINVAL);

	/* SEV-ES: every vCPU's VMSA must have been launched */
	int es_no_vmsa = ph_sev_only(plat, NULL, true);
	ST_EQ(ph_vcpus(es_no_vmsa, TVM_VCPUS), 0);
	ST_EQ(ph_launch_start(es_no_vmsa, PSP_POLICY_ES, NULL, NULL), 0);
	int four = ph_aux(plat, NULL, TVM_VCPUS);
	ST_EQ(ph_move(four, es_no_vmsa), -EINVAL);
	for (uint32_t k = 0; k < TVM_VCPUS - 1; k++)
		ST_EQ(ph_vmsa(es_no_vmsa, k, NULL), 0);
	ST_EQ(ph_move(four, es_no_vmsa), -EINVAL);        /* 3 of 4 */
	assert_not_sev(four);
	ST_EQ(ph_vmsa(es_no_vmsa, TVM_VCPUS - 1, NULL), 0);
	ST_EQ(ph_move(four, es_no_vmsa), 0);              /* now it may move */

	/* either VM still creating a vCPU: EBUSY until it is done */
	int busy = ph_aux(plat, NULL, 1);
	ST_EQ(ph_call(busy, PSP_OP_VCPU_BEGIN, 0, NULL, 0, -1, NULL, NULL, 0, NULL), 0);
	ST_EQ(ph_move(busy, sev.fd), -EBUSY);
	ST_EQ(ph_call(busy, PSP_OP_VCPU_END, 0, NULL, 0, -1, NULL, NULL, 0, NULL), 0);
	ST_EQ(ph_call(sev.fd, PSP_OP_VCPU_BEGIN, 0, NULL, 0, -1, NULL, NULL, 0, NULL), 0);
	ST_EQ(ph_move(busy, sev.fd), -EBUSY);
	ST_EQ(ph_call(sev.fd, PSP_OP_VCPU_END, 0, NULL, 0, -1, NULL, NULL, 0, NULL), 0);

	/* moving to itself */
	ST_EQ(ph_move(sev.fd, sev.fd), -EINVAL);

	/* every refusal left the sources as they were */
	assert_intact(&sev, false);
	assert_intact(&es, true);
	assert_not_sev(no_vcpu);
	assert_not_sev(three);
	assert_not_sev(busy);

	/* plain SEV: the counts may differ, the destination may have none */
	ST_EQ(ph_move(no_vcpu, sev.fd), 0);
	assert_dead(sev.fd);

	tvm_close(&sev);
	tvm_close(&es);
	int all[] = { no_vcpu, no_sev, inited, three, es_no_vmsa, four, busy };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		close(all[i]);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- mirror(es) ------------------------------------------------------------ */

static bool allowed_from_mirror(uint32_t cmd)
{
	return cmd == PSP_SEV_LAUNCH_UPDATE_VMSA || cmd == PSP_SEV_GUEST_STATUS ||
	       cmd == PSP_SEV_DBG_DECRYPT || cmd == PSP_SEV_DBG_ENCRYPT;
}

/* every other command id, defined or not, is refused before its
 * arguments are looked at: EINVAL with no data at all */
static void verify_mirror_allowed_cmds(int mirror)
{
	struct psp_guest_status gs;
	for (uint32_t cmd = 0; cmd <= 0x110; cmd++) {
		if (allowed_from_mirror(cmd))
			continue;
		int s = ph_enc(mirror, cmd, NULL, 0, NULL);
		if (s != -EINVAL)
			fail_msg("mirror: command 0x%x (%s) = %d (%s), want EINVAL", cmd,
				 psp__cmd_name(cmd), s, ph_errname(s));
	}
	ST_EQ(ph_status(mirror, &gs, NULL), 0);
}

static void mirror(void **state, bool es)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = asids_total(plat);
	struct tvm owner;
	struct psp_vm_info oi, mi;
	struct psp_guest_status gs;
	uint8_t page[PSP_PAGE];
	uint32_t fw = 0;

	tvm_sev(&owner, plat, NULL, es, 0);
	ph_info(owner.fd, &oi);

	/* copy into a VM with no vCPUs */
	int m = ph_vm(plat, NULL);
	ST_EQ(ph_copy(m, owner.fd), 0);
	ph_wait(plat, 2, total - 1);                      /* no new ASID */

	/* adding vCPUs afterwards is fine */
	ST_EQ(ph_vcpus(m, TVM_VCPUS), 0);
	ph_info(m, &mi);
	assert_true(mi.sev && mi.mirror && !mi.dead);
	assert_int_equal(mi.es, es);
	assert_int_equal(mi.asid, oi.asid);               /* shares the owner's ASID */
	assert_int_equal(mi.handle, oi.handle);           /* ... and handle */
	assert_int_equal(mi.nregions, 0);                 /* regions stay the owner's */
	ph_info(owner.fd, &oi);
	assert_int_equal(oi.nmirrors, 1);

	if (es) {
		/* the mirror launches its own vCPUs while the owner is in LUPDATE */
		for (uint32_t k = 0; k < TVM_VCPUS; k++)
			ST_EQ(ph_vmsa(m, k, NULL), 0);
		ph_info(m, &mi);
		assert_int_equal(mi.vmsa_launched, TVM_VCPUS);
		ST_EQ(ph_vmsa(m, 0, NULL), -EINVAL);      /* once each */
	} else {
		ST_EQ(ph_vmsa(m, 0, NULL), -ENOTTY);      /* allowed, but not an ES guest */
	}

	verify_mirror_allowed_cmds(m);
	ST_EQ(ph_status(m, &gs, NULL), 0);
	assert_int_equal(gs.handle, owner.handle);
	assert_int_equal(gs.policy, owner.policy);
	assert_int_equal(gs.state, PSP_STATE_LUPDATE);

	/* debug access goes to the owner's memory */
	ST_EQ(ph_dbg_decrypt(m, 0x5000, PSP_PAGE, page, NULL), 0);
	assert_memory_equal(page, owner.mem + 0x5000, PSP_PAGE);
	memset(page, 0x5a, 64);
	ST_EQ(ph_dbg_encrypt(m, 0x6000, page, 64, NULL), 0);
	assert_memory_equal(owner.mem + 0x6000, page, 64);

	/* regions belong to the owner */
	ST_EQ(ph_region(m, owner.memfd, 0x100000, PSP_PAGE, 0), -EINVAL);
	ST_EQ(ph_unregion(m, 0, TVM_MEM), -EINVAL);
	/* a mirror is an SEV guest: no move into it, no second copy */
	int other = ph_sev_only(plat, NULL, es);
	ST_EQ(ph_move(m, owner.fd), -EINVAL);
	ST_EQ(ph_copy(m, other), -EINVAL);

	/* the mirror follows the owner's state */
	ST_EQ(ph_measure(owner.fd, NULL, NULL), 0);
	assert_int_equal(ph_state(m), PSP_STATE_LSECRET);
	if (es) {
		/* too late for a new mirror's VMSA now */
		int m2 = ph_vm(plat, NULL);
		ST_EQ(ph_copy(m2, owner.fd), 0);
		ST_EQ(ph_vcpus(m2, 1), 0);
		FW_EQ(ph_vmsa(m2, 0, &fw), fw, PSP_FW_INVALID_GUEST_STATE);
		close(m2);
	}

	close(m);
	close(other);
	tvm_close(&owner);
	ph_wait(plat, 0, total);
	close(plat);
}

static void test_mirror(void **state)
{
	mirror(state, false);
}

static void test_mirror_es(void **state)
{
	mirror(state, true);
}

/* ---- mirror_parameters ---------------------------------------------------- */

static void test_mirror_parameters(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = asids_total(plat);
	struct tvm sev, es;

	tvm_sev(&sev, plat, NULL, false, 0);
	tvm_sev(&es, plat, NULL, true, 0);

	/* copy to self */
	ST_EQ(ph_copy(sev.fd, sev.fd), -EINVAL);

	/* a non-SEV source */
	int no_sev = ph_aux(plat, NULL, TVM_VCPUS);
	int dst = ph_vm(plat, NULL);
	ST_EQ(ph_copy(dst, no_sev), -EINVAL);

	/* a destination with vCPUs, or one creating a vCPU */
	int with_vcpus = ph_aux(plat, NULL, TVM_VCPUS);
	ST_EQ(ph_copy(with_vcpus, sev.fd), -EINVAL);
	int creating = ph_vm(plat, NULL);
	ST_EQ(ph_call(creating, PSP_OP_VCPU_BEGIN, 0, NULL, 0, -1, NULL, NULL, 0, NULL), 0);
	ST_EQ(ph_copy(creating, sev.fd), -EINVAL);

	/* the destination already an SEV guest: ES source into an SEV VM, and
	 * SEV into ES; and one that only initialised SEV */
	ST_EQ(ph_copy(sev.fd, es.fd), -EINVAL);
	ST_EQ(ph_copy(es.fd, sev.fd), -EINVAL);
	int inited = ph_sev_only(plat, NULL, false);
	ST_EQ(ph_copy(inited, sev.fd), -EINVAL);

	/* no mirrors of mirrors */
	int m = ph_vm(plat, NULL);
	ST_EQ(ph_copy(m, sev.fd), 0);
	ST_EQ(ph_copy(dst, m), -EINVAL);

	/* nothing refused changed anything */
	assert_not_sev(dst);
	assert_not_sev(with_vcpus);
	assert_not_sev(creating);
	assert_intact(&sev, false);
	assert_intact(&es, true);
	struct psp_vm_info i;
	ph_info(sev.fd, &i);
	assert_int_equal(i.nmirrors, 1);
	ph_info(es.fd, &i);
	assert_int_equal(i.nmirrors, 0);

	/* the launch state is not checked: a running owner can be mirrored */
	tvm_run(&es);
	ST_EQ(ph_copy(dst, es.fd), 0);

	tvm_close(&sev);
	tvm_close(&es);
	int all[] = { no_sev, dst, with_vcpus, creating, inited, m };
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
		close(all[k]);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- move_copy ------------------------------------------------------------ */

static void move_copy_round(int plat, uint32_t total, bool owners_first)
{
	struct tvm sev;
	struct psp_vm_info i;
	struct psp_guest_status gs;

	tvm_sev(&sev, plat, NULL, false, 0);
	int dst = ph_aux(plat, NULL, TVM_VCPUS), dst2 = ph_aux(plat, NULL, TVM_VCPUS),
	    dst3 = ph_aux(plat, NULL, TVM_VCPUS);
	int mirror = ph_vm(plat, NULL), dst_mirror = ph_vm(plat, NULL),
	    dst2_mirror = ph_vm(plat, NULL), dst3_mirror = ph_vm(plat, NULL);

	ST_EQ(ph_copy(mirror, sev.fd), 0);

	ST_EQ(ph_move(dst_mirror, mirror), 0);
	ST_EQ(ph_move(dst, sev.fd), 0);

	ST_EQ(ph_move(dst2, dst), 0);
	ST_EQ(ph_move(dst2_mirror, dst_mirror), 0);

	ST_EQ(ph_move(dst3_mirror, dst2_mirror), 0);
	ST_EQ(ph_move(dst3, dst2), 0);

	/* the moved mirror is a mirror of the moved owner */
	ph_info(dst3_mirror, &i);
	assert_true(i.mirror && i.sev && !i.dead);
	ST_EQ(ph_status(dst3_mirror, &gs, NULL), 0);
	assert_int_equal(gs.handle, sev.handle);
	ph_info(dst3, &i);
	assert_int_equal(i.nmirrors, 1);
	assert_int_equal(i.handle, sev.handle);
	int dead[] = { sev.fd, dst, dst2, mirror, dst_mirror, dst2_mirror };
	for (size_t k = 0; k < sizeof(dead) / sizeof(dead[0]); k++)
		assert_dead(dead[k]);
	ph_wait(plat, 8, total - 1);

	if (owners_first) {
		tvm_close_vm(&sev);
		close(dst);
		close(dst2);
		close(dst3);
		/* the context outlives its owner's handle while a mirror lives */
		ph_wait(plat, 5, total - 1);
		ST_EQ(ph_status(dst3_mirror, &gs, NULL), 0);
		assert_int_equal(gs.handle, sev.handle);
		close(mirror);
		close(dst_mirror);
		close(dst2_mirror);
		close(dst3_mirror);
	} else {
		close(mirror);
		close(dst_mirror);
		close(dst2_mirror);
		close(dst3_mirror);
		ph_wait(plat, 4, total - 1);
		ph_info(dst3, &i);
		assert_int_equal(i.nmirrors, 0);
		assert_int_equal(ph_state(dst3), PSP_STATE_LUPDATE);
		tvm_close_vm(&sev);
		close(dst);
		close(dst2);
		close(dst3);
	}
	tvm_close(&sev);
	ph_wait(plat, 0, total);
}

static void test_move_copy(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = asids_total(plat);

	move_copy_round(plat, total, true);
	/* the same, destroying mirrors before the VMs they mirror */
	move_copy_round(plat, total, false);
	close(plat);
}

int main(int argc, char **argv)
{
	(void)argc;
	ph_init(argv[0]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_from, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_es, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_locking, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_parameters, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_mirror, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_mirror_es, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_mirror_parameters, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_move_copy, pd_setup, pd_teardown),
	};
	return cmocka_run_group_tests_name("psp_conformance", tests, NULL, NULL);
}
