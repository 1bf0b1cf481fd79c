/* dirtier.c - memory dirtier and verifier, the workload for migration tests.
 *
 * Every 4 KiB page of a region carries a stamp that makes all of it
 * checkable (its GPA, a generation, a seed, and a pseudo-random body derived
 * from both); a per-page generation table at the start of the region says
 * which generation each page must hold. One worker per CPU owns a slice of
 * the pages: it rewrites them at a paced rate and verifies them in between,
 * so lost or stale pages after a snapshot, restore or migration show up as
 * CORRUPTION lines. All state lives in guest RAM, so counters continue
 * across a restore. At start CPU 0 also consumes the launch secret, if the
 * VMM left one at GPA 0x6000 (prints its SHA-256, wipes the page), and
 * marker= tags every data page with a string that a test can look for in
 * guest memory from outside. Arguments and output: docs/guest-programs.md.
 */
#include "layout.h"
#include "rt.h"

#include <bearssl.h>

#define MiB            (1ULL << 20)
#define REGION_ALIGN   (2 * MiB)
#define WORDS          (PAGE_SIZE / 8)
#define HDR_WORDS      3                  /* gpa, generation, seed */
#define GEN_MASK       0x7FFFFFFFu        /* generation table entry: generation... */
#define GEN_REPORTED   0x80000000u        /* ...and "corruption already reported" */
#define MAX_REPORTS    32                 /* CORRUPTION lines per CPU before going quiet */
#define PAGES_PER_MiB  (MiB / PAGE_SIZE)

#define GAMMA          0x9E3779B97F4A7C15ULL

/* marker=STRING: bytes 64..64+len of every data page (words 8..11). */
#define MARKER_OFF     64
#define MARKER_MAX     32
#define MARKER_W0      (MARKER_OFF / 8)
#define MARKER_WORDS   (MARKER_MAX / 8)

/* The launch secret (docs/guest-abi.md): "TSEC" | u32 LE length | data. */
#define SECRET_GPA     0x6000
#define SECRET_HDR     8
#define SECRET_MAX     (PAGE_SIZE - SECRET_HDR)
#define EXIT_SECRET    4

struct config {
	u64 base, size;        /* the whole region, generation table included */
	u64 data_base;         /* GPA of data page 0 */
	u32 *gen;              /* generation table, one entry per data page */
	u64 pages;             /* data pages */
	unsigned nworkers;
	u64 rate;              /* MiB/s over all workers, when !rate_max */
	int rate_max;
	int fill;
	int random;            /* pattern=random: rewrites pick pages at random, not in order */
	int stall_window;      /* stall=window: max_stall per heartbeat, not since boot */
	u64 ticks_per_page;    /* pacing, per worker */
	u64 lag_ticks;         /* how far pacing may fall behind before it gives up catching up */
	u64 hb_ticks;          /* 0: no heartbeats */
	u64 duration_ticks;    /* 0: run forever */
	u64 corrupt;           /* test aid: pages CPU 0 damages after the fill */
	u64 migctl_off_ticks;  /* test aid: clear the migration-control MSR this long after start */
	u64 flip_gpa, flip_pages, flip_ticks, flip_due, flips;  /* flip=, flip_ms= */
	int flip_shared;       /* the flip range is shared now */
	u64 reset_after;       /* test aid: reset the machine after this many heartbeats (0: never) */
	int reset_kbc;         /* reset_via=kbc: the keyboard controller's reset, not port 0xCF9 */
	u64 marker_word[MARKER_WORDS];   /* marker bytes, in place... */
	u64 marker_mask[MARKER_WORDS];   /* ...and which bytes they cover (0: no marker) */
};

/* Per-worker counters, each on its own cache line; CPU 0 sums them. */
struct wstats {
	u64 written, verified, errors;
	u64 max_stall;         /* ticks; with stall=window CPU 0 takes and zeroes it */
	u64 reports;
} __attribute__((aligned(64)));

static struct config cfg;
static struct wstats stats[RT_MAX_CPUS];
static u64 hb_counter;                  /* heartbeat number; survives restores */
static u32 setup_done, stop_flag, fill_done_count, stopped_count;

/* ---- page stamps ---- */

static inline u64 mix(u64 z)
{
	z ^= z >> 32;
	z *= 0xD6E8FEB86659FD93ULL;
	return z ^ (z >> 32);
}

static inline u64 page_seed(u64 gpa, u64 gen)
{
	/* splitmix64 finaliser: any change of gpa or gen changes the whole page */
	u64 z = gpa ^ (gen * 0xD1B54A32D192ED03ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* Body word MARKER_W0 + k: the pseudo-random word with the marker bytes
 * laid over it (unchanged without a marker). */
static inline u64 marked(unsigned k, u64 w)
{
	return (w & ~cfg.marker_mask[k]) | cfg.marker_word[k];
}

static inline u64 expected_word(u64 seed, unsigned i)
{
	if (i == 2)
		return seed;
	if (i - MARKER_W0 < MARKER_WORDS)
		return marked(i - MARKER_W0, mix(seed + i * GAMMA));
	return mix(seed + i * GAMMA);
}

static void stamp(u64 *p, u64 gpa, u64 gen)
{
	u64 seed = page_seed(gpa, gen);
	u64 s = seed + HDR_WORDS * GAMMA;
	for (unsigned i = HDR_WORDS; i < MARKER_W0; i++, s += GAMMA)
		p[i] = mix(s);
	for (unsigned k = 0; k < MARKER_WORDS; k++, s += GAMMA)
		p[MARKER_W0 + k] = marked(k, mix(s));
	for (unsigned i = MARKER_W0 + MARKER_WORDS; i < WORDS; i++, s += GAMMA)
		p[i] = mix(s);
	compiler_barrier();    /* body, then header */
	p[2] = seed;
	p[1] = gen;
	p[0] = gpa;
}

/* Whole-page check without branches in the loops; 0 if the page is intact. */
static u64 page_diff(const u64 *p, u64 gpa, u64 gen)
{
	u64 seed = page_seed(gpa, gen);
	u64 acc = (p[0] ^ gpa) | (p[1] ^ gen) | (p[2] ^ seed);
	u64 s = seed + HDR_WORDS * GAMMA;
	for (unsigned i = HDR_WORDS; i < MARKER_W0; i++, s += GAMMA)
		acc |= p[i] ^ mix(s);
	for (unsigned k = 0; k < MARKER_WORDS; k++, s += GAMMA)
		acc |= p[MARKER_W0 + k] ^ marked(k, mix(s));
	for (unsigned i = MARKER_W0 + MARKER_WORDS; i < WORDS; i++, s += GAMMA)
		acc |= p[i] ^ mix(s);
	return acc;
}

static inline u64 page_gpa(u64 i) { return cfg.data_base + i * PAGE_SIZE; }

static void write_page(struct wstats *st, u64 i)
{
	u32 g = (cfg.gen[i] & GEN_MASK) + 1;
	if (g > GEN_MASK)
		g = 1;
	u64 gpa = page_gpa(i);
	stamp((u64 *)(uintptr_t)gpa, gpa, g);
	compiler_barrier();    /* page, then the table entry that vouches for it */
	cfg.gen[i] = g;
	__atomic_store_n(&st->written, st->written + 1, __ATOMIC_RELAXED);
}

static void report(unsigned cpu, struct wstats *st, u64 i, u32 want)
{
	u64 gpa = page_gpa(i);
	const u64 *p = (const u64 *)(uintptr_t)gpa;
	u64 seed = page_seed(gpa, want);
	unsigned w = 0;
	u64 exp = gpa;
	for (; w < WORDS; w++) {
		exp = w == 0 ? gpa : w == 1 ? want : expected_word(seed, w);
		if (p[w] != exp)
			break;
	}
	if (st->reports < MAX_REPORTS)
		rt_printf("CORRUPTION cpu=%u gpa=0x%lx want gen=%u got gen=%lu "
			  "page_gpa=0x%lx word=%u want=0x%lx got=0x%lx\n",
			  cpu, gpa, want, p[1], p[0], w, exp, w < WORDS ? p[w] : 0);
	else if (st->reports == MAX_REPORTS)
		rt_printf("CORRUPTION cpu=%u: more corrupt pages, reports suppressed\n", cpu);
	st->reports++;
}

/* Returns 1 if the page was checked (it has been written and is not already
 * known bad), 0 if skipped. Set *printed when a line went to the console. */
static int verify_page(unsigned cpu, struct wstats *st, u64 i, int *printed)
{
	u32 t = cfg.gen[i];
	if (t == 0 || (t & GEN_REPORTED))
		return 0;
	u64 gpa = page_gpa(i);
	if (page_diff((const u64 *)(uintptr_t)gpa, gpa, t)) {
		report(cpu, st, i, t);
		cfg.gen[i] = t | GEN_REPORTED;   /* once per page, until rewritten */
		__atomic_store_n(&st->errors, st->errors + 1, __ATOMIC_RELAXED);
		*printed = 1;
	}
	__atomic_store_n(&st->verified, st->verified + 1, __ATOMIC_RELAXED);
	return 1;
}

/* Test aid for the verifier itself: flip one body word in the first pages
 * of [lo, hi) behind the generation table's back. */
static void damage(u64 lo, u64 hi)
{
	for (u64 i = lo; i < hi && i - lo < cfg.corrupt; i++)
		((volatile u64 *)(uintptr_t)page_gpa(i))[100] ^= 1;
}

/* ---- statistics ---- */

struct totals {
	u64 written, verified, errors, max_stall;
};

/* take_stall: also zero every worker's max_stall (a stall=window heartbeat). */
static struct totals sum_stats(int take_stall)
{
	struct totals t = { 0, 0, 0, 0 };
	for (unsigned c = 0; c < cfg.nworkers; c++) {
		t.written += __atomic_load_n(&stats[c].written, __ATOMIC_RELAXED);
		t.verified += __atomic_load_n(&stats[c].verified, __ATOMIC_RELAXED);
		t.errors += __atomic_load_n(&stats[c].errors, __ATOMIC_RELAXED);
		u64 s = take_stall ? __atomic_exchange_n(&stats[c].max_stall, 0, __ATOMIC_RELAXED)
				   : __atomic_load_n(&stats[c].max_stall, __ATOMIC_RELAXED);
		if (s > t.max_stall)
			t.max_stall = s;
	}
	return t;
}

static u64 ticks_to_us(u64 t) { return t * 1000 / rt_tsc_khz; }

/* ---- the work loop ---- */

/* reset_after=N: the PC reset control register (or, reset_via=kbc, the
 * keyboard controller's reset line), as a guest OS reboots.
 * The machine is reset from outside a moment later; until then this CPU
 * waits (the others go on working). Booted again, the dirtier starts
 * over with the same arguments: heartbeats count from 1 again. */
__attribute__((noreturn)) static void reset_machine(void)
{
	const char *how = "writing";
	for (;;) {
		if (cfg.reset_kbc) {
			rt_printf("reset: %s 0xFE to port 0x64 after hb %lu\n", how, hb_counter);
			outb(0x64, 0xFE);
		} else {
			rt_printf("reset: %s 0x6 to port 0xCF9 after hb %lu\n", how, hb_counter);
			outb(0xCF9, 0x6);
		}
		/* as Linux's reboot loop: a write that did not reset the machine
		 * within 2 s is made again (a VM moved while its reset waited
		 * arrives without the request) */
		u64 until = rdtsc() + 2000ULL * rt_tsc_khz;
		while (rdtsc() < until)
			cpu_relax();
		how = "again writing";
	}
}

/* Heartbeat state of CPU 0, in guest RAM like everything else. */
static u64 hb_last_written, hb_last_clk;

static void heartbeat(u64 clk)
{
	struct totals t = sum_stats(cfg.stall_window);
	u64 dclk = clk - hb_last_clk;
	u64 mbps = dclk ? (t.written - hb_last_written) * rt_tsc_khz * 1000 /
			  (dclk * PAGES_PER_MiB) : 0;
	hb_last_written = t.written;
	hb_last_clk = clk;
	rt_printf("hb %lu written=%lu verified=%lu errors=%lu max_stall_us=%lu dirty_mbps=%lu\n",
		  ++hb_counter, t.written, t.verified, t.errors,
		  ticks_to_us(t.max_stall), mbps);
	if (cfg.reset_after && hb_counter >= cfg.reset_after)
		reset_machine();
}

static void flip_range(void);

/* Runs until the duration ends (CPU 0) or CPU 0 says stop (the others).
 *
 * clk is this worker's own clock: the sum of forward TSC steps, so a TSC
 * that jumps backwards after a restore cannot freeze the pacing. Each
 * iteration does one page: the fill, a due rewrite, or a verification. */
static void work(unsigned cpu)
{
	struct wstats *st = &stats[cpu];
	u64 lo = cfg.pages * cpu / cfg.nworkers;
	u64 hi = cfg.pages * (cpu + 1) / cfg.nworkers;
	u64 wnext = lo, vnext = lo;
	int filling = cfg.fill && lo < hi;
	int fill_announced = !cfg.fill;
	int writing = lo < hi && (cfg.rate_max || cfg.rate);
	u64 clk = 0, due = 0, hb_due = cfg.hb_ticks, max_stall = 0;
	u64 prev, rnd = 0x9e3779b97f4a7c15ull * (cpu + 1);   /* pattern=random: xorshift64 */

	if (!filling)
		__atomic_add_fetch(&fill_done_count, 1, __ATOMIC_RELEASE);
	prev = rdtsc();

	for (;;) {
		u64 now = rdtsc();
		u64 d = now - prev;
		int printed = 0;
		prev = now;
		if ((s64)d < 0)
			d = 0;
		clk += d;
		if (cfg.stall_window) {
			/* CPU 0 may zero it at any time: a stall lands in exactly
			 * one window, the one whose heartbeat takes it. */
			u64 cur = __atomic_load_n(&st->max_stall, __ATOMIC_RELAXED);
			while (d > cur &&
			       !__atomic_compare_exchange_n(&st->max_stall, &cur, d, 1,
							    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				;
		} else if (d > max_stall) {
			max_stall = d;
			__atomic_store_n(&st->max_stall, d, __ATOMIC_RELAXED);
		}

		if (filling) {
			write_page(st, wnext);
			if (++wnext == hi) {
				wnext = lo;
				filling = 0;
				due = clk;
				__atomic_add_fetch(&fill_done_count, 1, __ATOMIC_RELEASE);
			}
		} else if (writing && (cfg.rate_max || (s64)(clk - due) >= 0)) {
			if (cfg.random) {
				/* a hot set that is not a band: a post-copy destination
				 * then faults on its missing pages all over RAM */
				rnd ^= rnd << 13;
				rnd ^= rnd >> 7;
				rnd ^= rnd << 17;
				write_page(st, lo + rnd % (hi - lo));
			} else {
				write_page(st, wnext);
				if (++wnext == hi)
					wnext = lo;
			}
			due += cfg.ticks_per_page;
			if ((s64)(clk - due) > (s64)cfg.lag_ticks)
				due = clk - cfg.lag_ticks;   /* after a long stall: no burst */
		} else if (lo < hi) {
			verify_page(cpu, st, vnext, &printed);
			if (++vnext == hi)
				vnext = lo;
		}

		if (cpu == 0) {
			if (!fill_announced &&
			    __atomic_load_n(&fill_done_count, __ATOMIC_ACQUIRE) == cfg.nworkers) {
				rt_printf("fill done pages=%lu\n", cfg.pages);
				fill_announced = printed = 1;
				damage(lo, hi);
			}
			if (cfg.hb_ticks && (s64)(clk - hb_due) >= 0) {
				heartbeat(clk);
				hb_due += cfg.hb_ticks;
				if ((s64)(clk - hb_due) >= 0)
					hb_due = clk + cfg.hb_ticks;
				printed = 1;
			}
			if (cfg.migctl_off_ticks && clk >= cfg.migctl_off_ticks) {
				/* withdraw consent to migration, as a guest does
				 * before a reboot or suspend */
				u64 r = rt_migctl_write(0);
				rt_printf("migctl cleared read=%lu\n", r);
				cfg.migctl_off_ticks = 0;
				printed = 1;
			}
			if (cfg.flip_ticks && clk >= cfg.flip_due) {
				flip_range();
				cfg.flip_due = clk + cfg.flip_ticks;
				printed = 1;
			}
			if (cfg.duration_ticks && clk >= cfg.duration_ticks)
				return;
		} else if (__atomic_load_n(&stop_flag, __ATOMIC_RELAXED)) {
			return;
		}

		if (printed) {
			/* Time spent printing is not a stall, but it is time. */
			u64 t = rdtsc();
			if ((s64)(t - prev) > 0)
				clk += t - prev;
			prev = t;
		}
	}
}

/* ---- setup (CPU 0) ---- */

__attribute__((noreturn)) static void fail(const char *what, const char *val)
{
	rt_printf("dirtier: bad %s=%s\n", what, val ? val : "");
	guest_exit(2);
}

static u64 arg_u64(const char *key, u64 dflt)
{
	const char *v = arg_get(key);
	u64 x;
	if (!v)
		return dflt;
	if (parse_u64(v, &x))
		fail(key, v);
	return x;
}

/* "GPA:SIZE" into a page range; fail() names key on garbage. */
static void parse_range(const char *key, const char *val, u64 *gpa, u64 *npages)
{
	char gpa_s[32];
	size_t n = 0;
	u64 size;
	while (val[n] && val[n] != ':' && n < sizeof(gpa_s) - 1) {
		gpa_s[n] = val[n];
		n++;
	}
	gpa_s[n] = '\0';
	if (val[n] != ':' || parse_u64(gpa_s, gpa) || parse_size(val + n + 1, &size))
		fail(key, val);
	*npages = (size + PAGE_SIZE - 1) / PAGE_SIZE;
}

/* flip=GPA:SIZE flip_ms=N: every N ms the range changes between shared
 * and private (shared first), as a guest that hands buffers to a device
 * and takes them back; each change printed. */
static void flip_range(void)
{
	long ret = map_gpa_range(cfg.flip_gpa, cfg.flip_pages, cfg.flip_shared ? KVM_MAP_GPA_RANGE_ENCRYPTED : 0);
	cfg.flip_shared = !cfg.flip_shared;
	cfg.flips++;
	rt_printf("flip %lu gpa=0x%lx pages=%lu to=%s ret=%ld\n", cfg.flips, cfg.flip_gpa, cfg.flip_pages,
		  cfg.flip_shared ? "shared" : "private", ret);
}

static void map_ranges(void)
{
	for (unsigned i = 0; i < arg_count(); i++) {
		const char *key = arg_key(i);
		int priv = !strcmp(key, "private");
		if (!priv && strcmp(key, "share"))
			continue;
		/* n-th occurrence of this key, to fetch its value */
		unsigned nth = 0;
		for (unsigned j = 0; j < i; j++)
			nth += !strcmp(arg_key(j), key);
		const char *val = arg_get_nth(key, nth);

		u64 gpa, npages;
		parse_range(key, val, &gpa, &npages);
		long ret = map_gpa_range(gpa, npages,
					 priv ? KVM_MAP_GPA_RANGE_ENCRYPTED : 0);
		if (guest_call_unsupported(KVM_HC_MAP_GPA_RANGE, ret))
			rt_printf("%s gpa=0x%lx pages=%lu ret=unsupported\n", key, gpa, npages);
		else
			rt_printf("%s gpa=0x%lx pages=%lu ret=%ld\n", key, gpa, npages, ret);
	}
}

static void marker(void)
{
	const char *v = arg_get("marker");
	if (!v)
		return;
	size_t n = strlen(v);
	if (n == 0 || n > MARKER_MAX)
		fail("marker", v);
	for (size_t j = 0; j < n; j++) {
		cfg.marker_word[j / 8] |= (u64)(u8)v[j] << (8 * (j % 8));
		cfg.marker_mask[j / 8] |= 0xFFULL << (8 * (j % 8));
	}
}

/* The launch secret at SECRET_GPA, if the VMM put one there: print its
 * length and SHA-256, then wipe the page. */
static void secret(void)
{
	const char *v = arg_get("secret");
	int required = 0;
	if (v && !strcmp(v, "required"))
		required = 1;
	else if (v && strcmp(v, "optional"))
		fail("secret", v);

	u8 *page = (u8 *)(uintptr_t)SECRET_GPA;
	if (memcmp(page, "TSEC", 4)) {
		if (required) {
			rt_printf("secret: missing\n");
			guest_exit(EXIT_SECRET);
		}
		return;
	}
	u32 n = (u32)page[4] | (u32)page[5] << 8 | (u32)page[6] << 16 | (u32)page[7] << 24;
	if (n > SECRET_MAX) {
		memset(page, 0, PAGE_SIZE);
		rt_printf("secret: bad len=%u\n", n);
		guest_exit(EXIT_SECRET);
	}

	br_sha256_context ctx;
	u8 hash[br_sha256_SIZE];
	char hex[2 * br_sha256_SIZE + 1];
	br_sha256_init(&ctx);
	br_sha256_update(&ctx, page + SECRET_HDR, n);
	br_sha256_out(&ctx, hash);
	/* Consumed: leave no copy of the secret or of the hash state around. */
	memset(page, 0, PAGE_SIZE);
	memset(&ctx, 0, sizeof(ctx));
	for (unsigned i = 0; i < br_sha256_SIZE; i++)
		rt_snprintf(hex + 2 * i, 3, "%02x", hash[i]);
	rt_printf("secret: len=%u sha256=%s\n", n, hex);
}

static void migctl(void)
{
	const char *v = arg_get("migctl");
	u64 x;
	if (!v)
		return;
	if (parse_u64(v, &x))
		fail("migctl", v);
	if (!(rt_kvm_features & KVM_FEATURE_MIGRATION_CONTROL)) {
		rt_printf("migctl unsupported (CPUID 0x40000001 bit 17 clear)\n");
		return;
	}
	u64 r = rt_migctl_write(x);
	rt_printf("migctl wrote=%lu read=%lu\n", x, r);
}

static void crash(void)
{
	const char *v = arg_get("crash");
	if (!v)
		return;
	rt_printf("crash=%s\n", v);
	if (!strcmp(v, "triple")) {
		rt_triple_fault();
	} else if (!strcmp(v, "ud")) {
		__builtin_trap();
	} else if (!strcmp(v, "pf")) {
		/* The boot stub maps RAM rounded up to 2 MiB and nothing above. */
		u64 unmapped = (rt_ram_end + REGION_ALIGN - 1) & ~(REGION_ALIGN - 1);
		*(volatile u64 *)(uintptr_t)unmapped = 1;
	}
	fail("crash", v);
}

static void setup(unsigned ncpus)
{
	static const char *const known[] = {
		"size", "rate", "duration", "fill", "share", "private",
		"migctl", "crash", "hb_ms", "corrupt", "secret", "marker", "stall", "migctl_off_ms",
		"reset_after", "reset_via", "flip", "flip_ms", "pattern", NULL
	};
	arg_warn_unknown(known);

	cfg.nworkers = ncpus;
	cfg.base = (rt_free_start + REGION_ALIGN - 1) & ~(REGION_ALIGN - 1);
	u64 avail = rt_ram_end > cfg.base ? rt_ram_end - cfg.base : 0;
	const char *v = arg_get("size");
	cfg.size = avail;
	if (v && (parse_size(v, &cfg.size) || cfg.size > avail))
		fail("size", v);
	cfg.size &= ~(PAGE_SIZE - 1);

	/* Carve the table: t table pages hold 1024 entries each for the rest. */
	u64 total = cfg.size / PAGE_SIZE;
	u64 tpages = (total + 1024) / 1025;
	cfg.pages = total - tpages;
	cfg.gen = (u32 *)(uintptr_t)cfg.base;
	cfg.data_base = cfg.base + tpages * PAGE_SIZE;
	if (cfg.pages == 0)
		fail("size", v);

	v = arg_get("rate");
	cfg.rate = 50;
	if (v && !strcmp(v, "max"))
		cfg.rate_max = 1;
	else
		cfg.rate = arg_u64("rate", 50);
	if (cfg.rate) {
		cfg.ticks_per_page = rt_tsc_khz * 1000 * ncpus / (cfg.rate * PAGES_PER_MiB);
		if (cfg.ticks_per_page == 0)
			cfg.rate_max = 1;
	}
	/* Catch up after descheduling (tens of ms on a busy host) but not after
	 * a long pause such as migration downtime: no burst of writes then. */
	cfg.lag_ticks = rt_tsc_khz * 250;                /* 250 ms */
	cfg.fill = arg_u64("fill", 1) != 0;
	v = arg_get("pattern");
	if (v && !strcmp(v, "random"))
		cfg.random = 1;
	else if (v && strcmp(v, "seq"))
		fail("pattern", v);
	cfg.hb_ticks = arg_u64("hb_ms", 1000) * rt_tsc_khz;
	cfg.duration_ticks = arg_u64("duration", 0) * rt_tsc_khz * 1000;
	cfg.migctl_off_ticks = arg_u64("migctl_off_ms", 0) * rt_tsc_khz;
	if ((v = arg_get("flip"))) {
		parse_range("flip", v, &cfg.flip_gpa, &cfg.flip_pages);
		cfg.flip_ticks = arg_u64("flip_ms", 1000) * rt_tsc_khz;
		cfg.flip_due = cfg.flip_ticks;
	}
	cfg.corrupt = arg_u64("corrupt", 0);
	cfg.reset_after = arg_u64("reset_after", 0);
	v = arg_get("reset_via");
	if (v && !strcmp(v, "kbc"))
		cfg.reset_kbc = 1;
	else if (v && strcmp(v, "cf9"))
		fail("reset_via", v);
	v = arg_get("stall");
	if (v && !strcmp(v, "window"))
		cfg.stall_window = 1;
	else if (v && strcmp(v, "total"))
		fail("stall", v);
	marker();

	char rate_s[24];
	if (cfg.rate_max)
		rt_snprintf(rate_s, sizeof(rate_s), "max");
	else
		rt_snprintf(rate_s, sizeof(rate_s), "%lu", cfg.rate);
	rt_printf("dirtier: ncpus=%u region=0x%lx+0x%lx pages=%lu rate=%s tsc_khz=%lu "
		  "tsc_source=%s kvm_features=0x%x\n",
		  ncpus, cfg.base, cfg.size, cfg.pages, rate_s, rt_tsc_khz,
		  rt_tsc_source, rt_kvm_features);

	secret();
	migctl();
	map_ranges();
	crash();
}

/* CPU 0 after the duration: stop the others, check every page once more. */
__attribute__((noreturn)) static void finish(void)
{
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
	while (__atomic_load_n(&stopped_count, __ATOMIC_ACQUIRE) != cfg.nworkers - 1)
		cpu_relax();
	/* The pass runs on CPU 0 but reports under the owner's stats. */
	for (unsigned c = 0; c < cfg.nworkers; c++) {
		u64 lo = cfg.pages * c / cfg.nworkers;
		u64 hi = cfg.pages * (c + 1) / cfg.nworkers;
		int printed;
		for (u64 i = lo; i < hi; i++)
			verify_page(c, &stats[c], i, &printed);
	}
	struct totals t = sum_stats(0);
	rt_printf("done errors=%lu verified=%lu\n", t.errors, t.verified);
	guest_exit(t.errors ? 1 : 0);
}

void guest_main(unsigned cpu, unsigned ncpus)
{
	if (cpu == 0) {
		setup(ncpus);
		__atomic_store_n(&setup_done, 1, __ATOMIC_RELEASE);
	} else {
		while (!__atomic_load_n(&setup_done, __ATOMIC_ACQUIRE))
			cpu_relax();
	}

	work(cpu);

	if (cpu == 0)
		finish();
	__atomic_add_fetch(&stopped_count, 1, __ATOMIC_RELEASE);
	for (;;)               /* CPU 0 ends the VM soon */
		cpu_relax();
}
