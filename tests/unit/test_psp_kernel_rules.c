/* test_psp_kernel_rules.c - the rules the kernel gained after
 * sev-semantics.md was first written (its section 8; issue 14 section 4),
 * one test per rule, against the real tern-psp daemon:
 *
 *   - LAUNCH_UPDATE_VMSA while a vCPU is being created: EBUSY
 *     (Linux 624bf3440d72);
 *   - region registration on a VM that is not an SEV guest: ENOTTY;
 *     unregister checks mirror (EINVAL), SEV (ENOTTY), presence (EINVAL);
 *   - VM types: KVM_SEV_INIT2 with vmsa_features; a move needs equal types;
 *   - SEV-ES ASIDs [1, min_sev_asid-1], SEV [min_sev_asid, max], each kind
 *     with its own quota;
 *   - a mirror copies its owner's handle at copy time (0 before
 *     LAUNCH_START).
 *
 * The order of the checks follows arch/x86/kvm/svm/sev.c (torvalds/linux
 * 0097f9df996f: sev_guest_init2, __sev_guest_init, sev_asid_new,
 * sev_mem_enc_register_region, sev_mem_enc_unregister_region,
 * sev_vm_move_enc_context_from, sev_vm_copy_enc_context_from). */
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

#include "psp_harness.h"

static uint32_t fresh_total(int plat)
{
	struct psp_platform_info pi;
	ph_hello(plat, &pi);
	assert_int_equal(pi.asids_free, pi.asids_total);
	assert_int_equal(pi.vms, 0);
	return pi.asids_total;
}

static int vcpu_begin(int vm)
{
	return ph_call(vm, PSP_OP_VCPU_BEGIN, 0, NULL, 0, -1, NULL, NULL, 0, NULL);
}

static int vcpu_end(int vm)
{
	return ph_call(vm, PSP_OP_VCPU_END, 0, NULL, 0, -1, NULL, NULL, 0, NULL);
}

/* A VM created with vm_type, INIT2'd, its memory registered, 4 vCPUs,
 * launched and left in LUPDATE (SEV-ES: every VMSA launched). */
static void tvm_typed(struct tvm *v, int plat, uint32_t vm_type, uint64_t features)
{
	bool es = vm_type == PSP_VM_SEV_ES;
	tvm_mem(v);
	v->fd = ph_vm_typed(plat, NULL, vm_type);
	assert_true(v->fd >= 0);
	ST_EQ(ph_init2(v->fd, vm_type, features, 0), 0);
	ST_EQ(ph_region(v->fd, v->memfd, 0, TVM_MEM, 0), 0);
	ST_EQ(ph_vcpus(v->fd, TVM_VCPUS), 0);
	v->policy = es ? PSP_POLICY_ES : 0;
	ST_EQ(ph_launch_start(v->fd, v->policy, NULL, &v->handle), 0);
	ST_EQ(ph_update_data(v->fd, 0, PSP_PAGE, NULL), 0);
	for (uint32_t k = 0; es && k < TVM_VCPUS; k++)
		ST_EQ(ph_vmsa(v->fd, k, NULL), 0);
}

/* ---- LAUNCH_UPDATE_VMSA while a vCPU is being created -------------------- */

static void test_vmsa_busy_while_vcpu_created(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm v;
	uint32_t fw = 0;

	tvm_mem(&v);
	v.fd = ph_sev_only(plat, NULL, true);
	ST_EQ(ph_region(v.fd, v.memfd, 0, TVM_MEM, 0), 0);
	ST_EQ(ph_vcpus(v.fd, 2), 0);
	ST_EQ(ph_launch_start(v.fd, PSP_POLICY_ES, NULL, NULL), 0);

	ST_EQ(vcpu_begin(v.fd), 0);
	ST_EQ(ph_vmsa(v.fd, 0, &fw), -EBUSY);             /* even for a vCPU that exists */
	ST_EQ(ph_enc(v.fd, PSP_SEV_LAUNCH_UPDATE_VMSA, NULL, 0, NULL), -EBUSY); /* before its argument */
	ST_EQ(vcpu_end(v.fd), 0);
	ST_EQ(ph_vmsa(v.fd, 0, NULL), 0);
	ST_EQ(ph_vmsa(v.fd, 2, NULL), 0);                 /* the vCPU created meanwhile */
	ST_EQ(ph_vmsa(v.fd, 0, NULL), -EINVAL);           /* launched already */

	/* an SEV (not ES) guest: ENOTTY comes first */
	int sev = ph_sev_only(plat, NULL, false);
	ST_EQ(vcpu_begin(sev), 0);
	ST_EQ(ph_vmsa(sev, 0, NULL), -ENOTTY);
	ST_EQ(vcpu_end(sev), 0);

	/* a mirror's own vCPUs count, not its owner's */
	struct tvm owner;
	tvm_sev(&owner, plat, NULL, true, 0);
	int m = ph_vm(plat, NULL);
	ST_EQ(ph_copy(m, owner.fd), 0);
	ST_EQ(vcpu_begin(m), 0);
	ST_EQ(ph_vmsa(m, 0, NULL), -EBUSY);
	ST_EQ(vcpu_end(m), 0);
	ST_EQ(ph_vmsa(m, 0, NULL), 0);

	close(m);
	close(sev);
	tvm_close(&owner);
	tvm_close(&v);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- regions: register ------------------------------------------------------ */

static void test_region_register_needs_sev(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm v, owner;
	struct psp_vm_info i;

	tvm_mem(&v);
	v.fd = ph_vm(plat, NULL);
	ST_EQ(ph_region(v.fd, v.memfd, 0, TVM_MEM, 0), -ENOTTY);
	ST_EQ(ph_region(v.fd, -1, 0, PSP_PAGE, 0), -ENOTTY);          /* before the memfd is looked at */
	ST_EQ(ph_call(v.fd, PSP_OP_REGION_REG, 0, "x", 1, v.memfd, NULL, NULL, 0, NULL), -EINVAL);
	ph_info(v.fd, &i);
	assert_int_equal(i.nregions, 0);

	/* an SEV guest may */
	ST_EQ(ph_enc(v.fd, PSP_SEV_INIT, NULL, 0, NULL), 0);
	ST_EQ(ph_region(v.fd, v.memfd, 0, TVM_MEM, 0), 0);
	/* a mirror is an SEV guest, but not responsible for the memory */
	tvm_sev(&owner, plat, NULL, false, 0);
	int m = ph_vm(plat, NULL);
	ST_EQ(ph_copy(m, owner.fd), 0);
	ST_EQ(ph_region(m, owner.memfd, 0x100000, PSP_PAGE, 0), -EINVAL);

	close(m);
	tvm_close(&owner);
	tvm_close(&v);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- regions: unregister, mirror -> SEV -> presence ------------------------- */

static void test_region_unregister_order(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm owner;

	/* not an SEV guest: ENOTTY, though no such region exists either */
	int plain = ph_vm(plat, NULL);
	ST_EQ(ph_unregion(plain, 0, TVM_MEM), -ENOTTY);

	/* a mirror: EINVAL, whatever it names */
	tvm_sev(&owner, plat, NULL, false, 0);
	int m = ph_vm(plat, NULL);
	ST_EQ(ph_copy(m, owner.fd), 0);
	ST_EQ(ph_unregion(m, 0, TVM_MEM), -EINVAL);
	ST_EQ(ph_unregion(m, 0x800000, PSP_PAGE), -EINVAL);

	/* an SEV guest: absent EINVAL, present 0, then absent again */
	ST_EQ(ph_unregion(owner.fd, 0, PSP_PAGE), -EINVAL);          /* not the registered size */
	ST_EQ(ph_unregion(owner.fd, 0, TVM_MEM), 0);
	ST_EQ(ph_unregion(owner.fd, 0, TVM_MEM), -EINVAL);
	struct psp_vm_info i;
	ph_info(owner.fd, &i);
	assert_int_equal(i.nregions, 0);

	close(m);
	close(plain);
	tvm_close(&owner);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- VM types and KVM_SEV_INIT2 --------------------------------------------- */

static void test_init2(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct psp_sev_init2 in;
	struct psp_vm_info i;
	uint32_t fw = 0;

	/* the platform makes default, SEV and SEV-ES VMs */
	ST_EQ(ph_vm_typed(plat, NULL, PSP_VM_SW_PROTECTED), -EINVAL);
	ST_EQ(ph_vm_typed(plat, NULL, PSP_VM_SNP), -EINVAL);
	ST_EQ(ph_vm_typed(plat, NULL, 77), -EINVAL);

	/* INIT2 needs an SEV or SEV-ES VM; INIT/ES_INIT a default one */
	int def = ph_vm_typed(plat, NULL, PSP_VM_DEFAULT);
	assert_true(def >= 0);
	ST_EQ(ph_init2(def, PSP_VM_DEFAULT, 0, 0), -EINVAL);
	ST_EQ(ph_init2(def, PSP_VM_SEV, 0, 0), -EINVAL);
	int sev = ph_vm_typed(plat, NULL, PSP_VM_SEV);
	assert_true(sev >= 0);
	ST_EQ(ph_enc(sev, PSP_SEV_INIT, NULL, 0, NULL), -EINVAL);
	ST_EQ(ph_enc(sev, PSP_SEV_ES_INIT, NULL, 0, NULL), -EINVAL);

	/* the argument: its size, the VM's own type, no flags, no VMSA
	 * features and no GHCB version for plain SEV */
	memset(&in, 0, sizeof(in));
	in.vm_type = PSP_VM_SEV;
	ST_EQ(ph_enc(sev, PSP_SEV_INIT2, &in, sizeof(in) - 1, NULL), -EINVAL);
	ST_EQ(ph_init2(sev, PSP_VM_SEV_ES, 0, 0), -EINVAL);
	in.flags = 1;
	ST_EQ(ph_enc(sev, PSP_SEV_INIT2, &in, sizeof(in), NULL), -EINVAL);
	ST_EQ(ph_init2(sev, PSP_VM_SEV, PSP_VMSA_FEAT_DEBUG_SWAP, 0), -EINVAL);
	ST_EQ(ph_init2(sev, PSP_VM_SEV, 0, 1), -EINVAL);
	int sev_vcpus = ph_vm_typed(plat, NULL, PSP_VM_SEV);
	ST_EQ(ph_vcpus(sev_vcpus, 1), 0);
	ST_EQ(ph_init2(sev_vcpus, PSP_VM_SEV, 0, 0), -EINVAL);     /* vCPUs first */
	ph_info(sev, &i);
	assert_false(i.sev);
	ph_wait(plat, -1, total);                                      /* nothing charged */

	ST_EQ(ph_init2(sev, PSP_VM_SEV, 0, 0), 0);
	ph_info(sev, &i);
	assert_true(i.sev && !i.es);
	assert_int_equal(i.vm_type, PSP_VM_SEV);
	assert_int_equal(i.vmsa_features, 0);
	assert_int_equal(i.ghcb_version, 0);
	ST_EQ(ph_init2(sev, PSP_VM_SEV, 0, 0), -EINVAL);              /* once */
	FW_EQ(ph_launch_start(sev, PSP_POLICY_ES, &fw, NULL), fw, PSP_FW_POLICY_FAILURE);
	ST_EQ(ph_launch_start(sev, 0, NULL, NULL), 0);

	/* SEV-ES: only the features the platform offers, GHCB up to 2 (0 = 2) */
	int es = ph_vm_typed(plat, NULL, PSP_VM_SEV_ES);
	assert_true(es >= 0);
	ST_EQ(ph_init2(es, PSP_VM_SEV_ES, 1, 0), -EINVAL);
	ST_EQ(ph_init2(es, PSP_VM_SEV_ES, PSP_VMSA_FEAT_DEBUG_SWAP, 3), -EINVAL);
	ST_EQ(ph_init2(es, PSP_VM_SEV_ES, PSP_VMSA_FEAT_DEBUG_SWAP, 0), 0);
	ph_info(es, &i);
	assert_true(i.sev && i.es);
	assert_int_equal(i.vm_type, PSP_VM_SEV_ES);
	assert_int_equal(i.vmsa_features, PSP_VMSA_FEAT_DEBUG_SWAP);
	assert_int_equal(i.ghcb_version, 2);
	ST_EQ(ph_launch_start(es, PSP_POLICY_ES, NULL, NULL), 0);

	/* ES_INIT on a default VM: GHCB version 1, no features (as before) */
	ST_EQ(ph_enc(def, PSP_SEV_ES_INIT, NULL, 0, NULL), 0);
	ph_info(def, &i);
	assert_true(i.es);
	assert_int_equal(i.vm_type, PSP_VM_DEFAULT);
	assert_int_equal(i.ghcb_version, 1);

	/* a mirror: refused before its argument is read */
	int m = ph_vm_typed(plat, NULL, PSP_VM_SEV_ES);
	ST_EQ(ph_copy(m, es), 0);
	ST_EQ(ph_enc(m, PSP_SEV_INIT2, NULL, 0, NULL), -EINVAL);

	close(m);
	close(es);
	close(sev);
	close(sev_vcpus);
	close(def);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- a move needs equal VM types --------------------------------------------- */

static void test_move_needs_equal_vm_type(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm s, e, old;
	struct psp_vm_info i;

	tvm_typed(&s, plat, PSP_VM_SEV, 0);
	int to_default = ph_aux(plat, NULL, TVM_VCPUS);
	int to_es = ph_vm_typed(plat, NULL, PSP_VM_SEV_ES);
	ST_EQ(ph_vcpus(to_es, TVM_VCPUS), 0);
	ST_EQ(ph_move(to_default, s.fd), -EINVAL);
	ST_EQ(ph_move(to_es, s.fd), -EINVAL);
	ph_info(s.fd, &i);
	assert_true(i.sev && !i.dead && i.handle == s.handle);

	int to_sev = ph_vm_typed(plat, NULL, PSP_VM_SEV);
	ST_EQ(ph_move(to_sev, s.fd), 0);
	ph_info(to_sev, &i);
	assert_true(i.sev && i.handle == s.handle);
	assert_int_equal(i.vm_type, PSP_VM_SEV);

	/* the context made by the old INIT moves only into a default VM */
	tvm_sev(&old, plat, NULL, false, 0);
	int sev2 = ph_vm_typed(plat, NULL, PSP_VM_SEV);
	ST_EQ(ph_move(sev2, old.fd), -EINVAL);
	ST_EQ(ph_move(to_default, old.fd), 0);

	/* SEV-ES by INIT2: its VMSA features go with it */
	tvm_typed(&e, plat, PSP_VM_SEV_ES, PSP_VMSA_FEAT_DEBUG_SWAP);
	int es2 = ph_vm_typed(plat, NULL, PSP_VM_SEV_ES);
	ST_EQ(ph_vcpus(es2, TVM_VCPUS), 0);
	ST_EQ(ph_move(es2, e.fd), 0);
	ph_info(es2, &i);
	assert_true(i.es && i.handle == e.handle);
	assert_int_equal(i.vmsa_features, PSP_VMSA_FEAT_DEBUG_SWAP);
	assert_int_equal(i.ghcb_version, 2);
	ph_info(e.fd, &i);
	assert_true(i.dead);
	assert_int_equal(i.vmsa_features, 0);

	int all[] = { to_default, to_es, to_sev, sev2, es2 };
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
		close(all[k]);
	tvm_close(&s);
	tvm_close(&e);
	tvm_close(&old);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- ASIDs: two ranges ---------------------------------------------------------- */

static void test_asid_ranges(void **state)
{
	(void)state;
	/* SEV-ES 1-2, SEV 3-4 */
	struct pd *d = pd_start(NULL, "--asids", "4", "--min-sev-asid", "3", NULL);
	int plat = pd_connect(d);
	struct psp_vm_info i;
	assert_int_equal(fresh_total(plat), 4);

	int es1 = ph_sev_only(plat, NULL, true);
	int es2 = ph_sev_only(plat, NULL, true);
	int es3 = ph_vm(plat, NULL);
	ST_EQ(ph_enc(es3, PSP_SEV_ES_INIT, NULL, 0, NULL), -EBUSY);  /* SEV-ES full, SEV free */
	ph_info(es1, &i);
	assert_int_equal(i.asid, 1);
	ph_info(es2, &i);
	assert_int_equal(i.asid, 2);

	int s1 = ph_sev_only(plat, NULL, false);
	int s2 = ph_vm_typed(plat, NULL, PSP_VM_SEV);
	ST_EQ(ph_init2(s2, PSP_VM_SEV, 0, 0), 0);
	ph_info(s1, &i);
	assert_int_equal(i.asid, 3);
	ph_info(s2, &i);
	assert_int_equal(i.asid, 4);
	int s3 = ph_vm(plat, NULL);
	ST_EQ(ph_enc(s3, PSP_SEV_INIT, NULL, 0, NULL), -EBUSY);
	ph_wait(plat, -1, 0);

	/* an SEV-ES ASID given back serves SEV-ES only */
	close(es1);
	ph_wait(plat, -1, 1);
	ST_EQ(ph_enc(s3, PSP_SEV_INIT, NULL, 0, NULL), -EBUSY);
	ST_EQ(ph_enc(es3, PSP_SEV_ES_INIT, NULL, 0, NULL), 0);
	ph_info(es3, &i);
	assert_int_equal(i.asid, 1);

	int all[] = { es2, es3, s1, s2, s3 };
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
		close(all[k]);
	ph_wait(plat, 0, 4);
	close(plat);
}

/* an empty range: that kind cannot be had (sev_asid_new: ENOTTY), nor a
 * VM of the SEV-ES type */
static void test_asid_range_empty(void **state)
{
	(void)state;
	struct pd *no_es = pd_start(NULL, "--asids", "2", "--min-sev-asid", "1", NULL);
	int plat = pd_connect(no_es);
	int v = ph_vm(plat, NULL);
	ST_EQ(ph_enc(v, PSP_SEV_ES_INIT, NULL, 0, NULL), -ENOTTY);
	ST_EQ(ph_vm_typed(plat, NULL, PSP_VM_SEV_ES), -EINVAL);
	ST_EQ(ph_enc(v, PSP_SEV_INIT, NULL, 0, NULL), 0);
	close(v);
	ph_wait(plat, 0, 2);
	close(plat);

	struct pd *no_sev = pd_start(NULL, "--asids", "2", "--min-sev-asid", "3", NULL);
	plat = pd_connect(no_sev);
	v = ph_vm(plat, NULL);
	ST_EQ(ph_enc(v, PSP_SEV_INIT, NULL, 0, NULL), -ENOTTY);
	int t = ph_vm_typed(plat, NULL, PSP_VM_SEV);
	ST_EQ(ph_init2(t, PSP_VM_SEV, 0, 0), -ENOTTY);
	ST_EQ(ph_enc(v, PSP_SEV_ES_INIT, NULL, 0, NULL), 0);
	close(t);
	close(v);
	ph_wait(plat, 0, 2);
	close(plat);
}

/* the default pool of 64: SEV-ES 1-32, SEV 33-64 */
static void test_asid_default_split(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct psp_vm_info i;
	assert_int_equal(total, 64);
	int es = ph_sev_only(plat, NULL, true);
	int sev = ph_sev_only(plat, NULL, false);
	ph_info(es, &i);
	assert_int_equal(i.asid, 1);
	ph_info(sev, &i);
	assert_int_equal(i.asid, 33);
	close(es);
	close(sev);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- ASIDs: a quota per kind ---------------------------------------------------- */

static void test_asid_quota_per_kind(void **state)
{
	(void)state;
	struct pd *d = pd_start(NULL, "--quota", "q=1", "--quota-es", "q=1", NULL);
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm e;

	int qs = ph_sev_only(plat, "q", false);
	int qs2 = ph_vm(plat, "q");
	ST_EQ(ph_enc(qs2, PSP_SEV_INIT, NULL, 0, NULL), -EBUSY);
	int qe = ph_sev_only(plat, "q", true);            /* the SEV-ES quota is its own */
	int qe2 = ph_vm(plat, "q");
	ST_EQ(ph_enc(qe2, PSP_SEV_ES_INIT, NULL, 0, NULL), -EBUSY);

	/* a move charges the destination's domain in the context's kind */
	tvm_sev(&e, plat, NULL, true, 0);
	int qdst = ph_aux(plat, "q", TVM_VCPUS);
	ST_EQ(ph_move(qdst, e.fd), -EBUSY);               /* q's SEV-ES quota is full */
	close(qe);
	ph_wait(plat, -1, total - 2);                     /* qs, e */
	ST_EQ(ph_move(qdst, e.fd), 0);
	ST_EQ(ph_enc(qe2, PSP_SEV_ES_INIT, NULL, 0, NULL), -EBUSY);  /* q holds the moved one */
	ST_EQ(ph_enc(qs2, PSP_SEV_INIT, NULL, 0, NULL), -EBUSY);     /* and SEV is still full */
	close(qs);
	ph_wait(plat, -1, total - 1);
	ST_EQ(ph_enc(qs2, PSP_SEV_INIT, NULL, 0, NULL), 0);

	int all[] = { qs2, qe2, qdst };
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
		close(all[k]);
	tvm_close(&e);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- a mirror made before its owner's LAUNCH_START ------------------------------ */

static void test_mirror_before_launch_start(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct psp_guest_status gs;
	struct psp_vm_info i, oi;
	uint8_t page[PSP_PAGE];
	uint32_t fw = 0, h = 0, h2 = 0;
	struct tvm o;

	tvm_mem(&o);
	o.fd = ph_sev_only(plat, NULL, false);
	ST_EQ(ph_region(o.fd, o.memfd, 0, TVM_MEM, 0), 0);
	int early = ph_vm(plat, NULL);
	ST_EQ(ph_copy(early, o.fd), 0);                   /* no handle yet: the mirror keeps 0 */
	ST_EQ(ph_launch_start(o.fd, 0, NULL, &h), 0);
	assert_true(h != 0);

	ph_info(early, &i);
	ph_info(o.fd, &oi);
	assert_true(i.mirror && i.sev);
	assert_int_equal(i.asid, oi.asid);                /* the ASID is shared all the same */
	assert_int_equal(i.handle, 0);
	assert_int_equal(oi.handle, h);
	FW_EQ(ph_status(early, &gs, &fw), fw, PSP_FW_INVALID_GUEST);
	FW_EQ(ph_dbg_decrypt(early, 0, PSP_PAGE, page, &fw), fw, PSP_FW_INVALID_GUEST);

	/* one made after it has the handle */
	int late = ph_vm(plat, NULL);
	ST_EQ(ph_copy(late, o.fd), 0);
	ST_EQ(ph_status(late, &gs, NULL), 0);
	assert_int_equal(gs.handle, h);

	/* the copy is never refreshed: a relaunch under a new handle leaves
	 * both mirrors on handles the firmware no longer knows */
	ST_EQ(ph_enc(o.fd, PSP_SEV_DECOMMISSION, NULL, 0, NULL), 0);
	ST_EQ(ph_launch_start(o.fd, 0, NULL, &h2), 0);
	assert_true(h2 != h);
	FW_EQ(ph_status(late, &gs, &fw), fw, PSP_FW_INVALID_GUEST);
	FW_EQ(ph_status(early, &gs, &fw), fw, PSP_FW_INVALID_GUEST);
	ph_info(late, &i);
	assert_int_equal(i.handle, h);

	/* a mirror moved on keeps its copy */
	int next = ph_vm(plat, NULL);
	ST_EQ(ph_move(next, early), 0);
	ph_info(next, &i);
	assert_true(i.mirror);
	assert_int_equal(i.handle, 0);

	close(next);
	close(early);
	close(late);
	tvm_close(&o);
	ph_wait(plat, 0, total);
	close(plat);
}

int main(int argc, char **argv)
{
	(void)argc;
	ph_init(argv[0]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vmsa_busy_while_vcpu_created, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_region_register_needs_sev, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_region_unregister_order, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_init2, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_move_needs_equal_vm_type, pd_setup, pd_teardown),
		cmocka_unit_test_teardown(test_asid_ranges, pd_teardown),
		cmocka_unit_test_teardown(test_asid_range_empty, pd_teardown),
		cmocka_unit_test_setup_teardown(test_asid_default_split, pd_setup, pd_teardown),
		cmocka_unit_test_teardown(test_asid_quota_per_kind, pd_teardown),
		cmocka_unit_test_setup_teardown(test_mirror_before_launch_start, pd_setup, pd_teardown),
	};
	return cmocka_run_group_tests_name("psp_kernel_rules", tests, NULL, NULL);
}
