/* main.c - the migration helper: one loop per helper vCPU ("lane").
 *
 * Reads the owner's key from the key slot, says READY, then serves its
 * mailbox: the VMM puts a batch in place and resumes the vCPU, the helper
 * seals (source) or opens (destination) every entry and rings DONE. It
 * never trusts what the VMM wrote: every mailbox field is read once into
 * private memory and checked before use, packets are copied into the
 * lane's private bounce page before they are opened, pages are sealed in
 * that bounce page and only ciphertext goes out. A bad entry sets its
 * status and the batch's; nothing the VMM writes can make the helper fault.
 * docs/guest-abi.md, "Migration helper", is the contract.
 */
#include "helper.h"
#include "layout.h"
#include "seal.h"

_Static_assert(RT_HELPER_BASE == HELPER_BASE && RT_HELPER_END == HELPER_END,
	       "guest/rt/layout.h reserves exactly the helper's region");

#define AT(off)  ((uintptr_t)(HELPER_BASE + (off)))

struct lane {
	unsigned idx;
	volatile struct helper_mbox *mb;
	uint8_t *data;                 /* shared data area */
	struct helper_packet *bounce;  /* private */
	uint64_t ram_end;              /* GPAs at or above: refused */
	struct hs_key key;
	struct hs_vtable vt;
	struct hs_streams streams;
};

void helper_main(uint64_t lane_idx) __attribute__((noreturn));

void helper_fatal(void)
{
	for (;;)
		helper_ring(HELPER_DB_FATAL);
}

/* The VMM may change the mailbox under us: read each field exactly once. */
#define ONCE(x) (*(const volatile __typeof__(x) *)&(x))

static int in_helper_region(uint64_t gpa)
{
	return gpa >= HELPER_BASE && gpa < HELPER_END;
}

/* A page this lane may read or write as guest memory. */
static int gpa_ok(const struct lane *l, uint64_t gpa)
{
	return !(gpa & (HELPER_PAGE - 1)) && gpa < l->ram_end && !in_helper_region(gpa);
}

/* [off, off + len) inside the data area, with room for count packets. */
static int range_ok(uint32_t off, uint32_t len, uint32_t count)
{
	return (uint64_t)off + len <= HELPER_DATA_SIZE &&
	       (uint64_t)count * HELPER_PACKET_SIZE <= len;
}

static int seal_one(struct lane *l, uint32_t stream, uint64_t gpa, uint32_t version, uint8_t *out)
{
	if (!gpa_ok(l, gpa))
		return HELPER_ST_GPA;
	uint32_t old;
	int st = hs_vt_claim(&l->vt, gpa, version, &old);
	if (st)
		return st;
	/* The bounce page first: sealing works in place, and out is shared. */
	st = hs_seal(&l->key, stream, gpa, version, (const void *)gpa, l->bounce);
	if (st) {
		hs_vt_release(&l->vt, gpa, old);
		return st;
	}
	hs_vt_commit(&l->vt, gpa, version);
	memcpy(out, l->bounce, HELPER_PACKET_SIZE);
	return HELPER_ST_OK;
}

static int open_one(struct lane *l, uint32_t stream, uint64_t gpa, const uint8_t *in)
{
	if (!gpa_ok(l, gpa))
		return HELPER_ST_GPA;
	/* A private copy: what is checked is what is decrypted. */
	memcpy(l->bounce, in, HELPER_PACKET_SIZE);
	return hs_open(&l->key, stream, gpa, l->bounce, &l->vt, (void *)gpa);
}

/* Test-only builds (helper-hang.elf, helper-crash.elf; guest/guest.mk):
 * a helper that stops answering, or faults, at its first SEAL, so the
 * VMM's timeout and crash handling can be tested on the real thing. */
static void test_fault(uint32_t cmd)
{
#if defined(HELPER_TEST_HANG)
	if (cmd == HELPER_CMD_SEAL)
		for (;;)
			__asm__ volatile("pause");
#elif defined(HELPER_TEST_CRASH)
	if (cmd == HELPER_CMD_SEAL)
		__builtin_trap();          /* no IDT: a shutdown exit */
#else
	(void)cmd;
#endif
}

/* One command; returns the batch status. */
static uint32_t run_batch(struct lane *l, uint32_t cmd, uint32_t *done)
{
	test_fault(cmd);
	volatile struct helper_mbox *mb = l->mb;
	uint32_t stream = ONCE(mb->stream), count = ONCE(mb->count);
	uint32_t off, len;

	if (cmd == HELPER_CMD_SEAL) {
		off = ONCE(mb->out_off);
		len = ONCE(mb->out_len);
	} else {
		off = ONCE(mb->in_off);
		len = ONCE(mb->in_len);
	}
	if (count == 0 || count > HELPER_BATCH_MAX || !range_ok(off, len, count))
		return HELPER_ST_BAD_CMD;

	uint32_t batch = hs_stream_enter(&l->streams, &l->vt, stream);
	if (batch) {
		for (uint32_t i = 0; i < count; i++)
			mb->e[i].status = batch;
		return batch;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint64_t gpa = ONCE(mb->e[i].gpa);
		uint32_t version = ONCE(mb->e[i].version);
		uint8_t *pkt = l->data + off + (uint64_t)i * HELPER_PACKET_SIZE;
		int st = cmd == HELPER_CMD_SEAL ? seal_one(l, stream, gpa, version, pkt)
						: open_one(l, stream, gpa, pkt);
		mb->e[i].status = (uint32_t)st;
		if (st == HELPER_ST_OK)
			(*done)++;
		else if (!batch)
			batch = (uint32_t)st;   /* the first failure names the batch */
	}
	return batch;
}

/* TOUCH: one read per entry's page, nothing else: no stream, no key use,
 * no packets, no write to guest memory. */
static uint32_t run_touch(struct lane *l, uint32_t *done)
{
	volatile struct helper_mbox *mb = l->mb;
	uint32_t count = ONCE(mb->count), batch = 0;

	if (count == 0 || count > HELPER_BATCH_MAX)
		return HELPER_ST_BAD_CMD;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t gpa = ONCE(mb->e[i].gpa);
		uint32_t how = ONCE(mb->e[i].version), st = HELPER_ST_OK;
		if (how)
			st = HELPER_ST_BAD_CMD;
		else if (!gpa_ok(l, gpa))
			st = HELPER_ST_GPA;
		else
			(void)*(volatile const uint8_t *)(uintptr_t)gpa;
		mb->e[i].status = st;
		if (st == HELPER_ST_OK)
			(*done)++;
		else if (!batch)
			batch = st;
	}
	return batch;
}

static void report(struct lane *l, uint32_t seq, uint32_t status, uint32_t done, uint32_t ev)
{
	volatile struct helper_mbox *mb = l->mb;
	mb->done_seq = seq;
	mb->status = status;
	mb->done = done;
	mb->floor = __atomic_load_n(l->streams.floor, __ATOMIC_ACQUIRE);
	helper_ring(ev);
}

/* The key slot, checked and copied once; the slot itself stays as it is,
 * because the destination's helper (a copy of this region) reads it too. */
static int load_key(struct lane *l, uint32_t cpu)
{
	const volatile struct helper_key_slot *slot = (const volatile void *)AT(HELPER_KEY_OFF);
	uint8_t key[HELPER_KEY_LEN];
	if (slot->magic != HELPER_KEY_MAGIC || slot->len != HELPER_KEY_LEN)
		return -1;
	for (unsigned i = 0; i < HELPER_KEY_LEN; i++)
		key[i] = slot->key[i];
	int r = hs_key_init(&l->key, key, hs_impl_for(cpu));
	volatile uint8_t *w = key;
	for (unsigned i = 0; i < HELPER_KEY_LEN; i++)
		w[i] = 0;
	return r;
}

void helper_main(uint64_t lane_idx)
{
	if (lane_idx >= HELPER_LANES)     /* no mailbox to report into */
		helper_fatal();

	struct lane l;
	memset(&l, 0, sizeof(l));
	l.idx = (unsigned)lane_idx;
	l.mb = (volatile struct helper_mbox *)AT(HELPER_LANE_WIN_OFF(l.idx));
	l.data = (uint8_t *)AT(HELPER_LANE_WIN_OFF(l.idx) + HELPER_DATA_OFF);
	l.bounce = (struct helper_packet *)AT(HELPER_LANE_PRIV_OFF(l.idx) + HELPER_BOUNCE_OFF);
	l.vt.v = (uint32_t *)AT(HELPER_VT_OFF);
	l.vt.npages = HELPER_VT_PAGES;
	l.streams.floor = (uint32_t *)AT(HELPER_STATE_OFF);
	l.streams.ctl = (uint64_t *)AT(HELPER_CTL_OFF);

	uint32_t cpu = ONCE(l.mb->cpu);
	uint64_t ram = (uint64_t)ONCE(l.mb->ram_pages) * HELPER_PAGE;
	l.ram_end = ram < HELPER_GPA_LIMIT ? ram : HELPER_GPA_LIMIT;

	/* Lane 0 starts first (the VMM waits for its READY): it forgets any
	 * stream the table belonged to, so a restarted or copied helper can
	 * only take a stream above the floor, with a fresh table. */
	if (l.idx == 0)
		__atomic_store_n(l.streams.ctl, 0, __ATOMIC_RELEASE);

	if (load_key(&l, cpu)) {
		report(&l, 0, HELPER_ST_NO_KEY, 0, HELPER_DB_FATAL);
		helper_fatal();
	}
	report(&l, 0, HELPER_ST_OK, 0, HELPER_DB_READY);

	for (;;) {
		volatile struct helper_mbox *mb = l.mb;
		uint32_t seq = ONCE(mb->seq), cmd = ONCE(mb->cmd), done = 0, st;
		if (ONCE(mb->magic) != HELPER_MBOX_MAGIC || ONCE(mb->abi) != HELPER_ABI_VERSION)
			st = HELPER_ST_BAD_CMD;
		else if (cmd == HELPER_CMD_SEAL || cmd == HELPER_CMD_OPEN)
			st = run_batch(&l, cmd, &done);
		else if (cmd == HELPER_CMD_TOUCH)
			st = run_touch(&l, &done);
		else if (cmd == HELPER_CMD_QUIT) {
			hs_key_wipe(&l.key);
			memset(l.bounce, 0, HELPER_PACKET_SIZE);
			report(&l, seq, HELPER_ST_OK, 0, HELPER_DB_DONE);
			helper_fatal();
		} else
			st = HELPER_ST_BAD_CMD;
		report(&l, seq, st, done, HELPER_DB_DONE);
	}
}
