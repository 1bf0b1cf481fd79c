/* rt.h - the guest runtime's interface for ring-3 programs.
 *
 * A program provides guest_main(); the runtime boots every CPU into ring 3
 * and calls it once per CPU. See docs/guest-programs.md.
 */
#ifndef GUEST_RT_H
#define GUEST_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;

#define PAGE_SIZE 4096ULL

/* Provided by the program. Called on every CPU (cpu = 0..ncpus-1) after the
 * runtime has parsed the command line. If it returns, CPU 0 exits the VM
 * with status 0 and the other CPUs halt. */
void guest_main(unsigned cpu, unsigned ncpus);

/* ---- what the runtime learnt at boot (valid once guest_main runs) ---- */
extern u64 rt_ram_end;         /* end of RAM that is mapped (bytes) */
extern u64 rt_image_end;       /* end of the loaded image incl. .bss */
extern u64 rt_free_start;      /* first byte a program may use freely: above the image
				  and the migration helper's region (layout.h) */
extern unsigned rt_ncpus;      /* from ncpus=, 1 if absent, at most RT_MAX_CPUS */
extern u64 rt_tsc_khz;         /* TSC frequency */
extern const char *rt_tsc_source; /* "cpuid", "arg" or "default" */
extern u32 rt_kvm_features;    /* CPUID 0x40000001 EAX, 0 without the KVM leaves */

#define KVM_FEATURE_HC_MAP_GPA_RANGE   (1u << 16)
#define KVM_FEATURE_MIGRATION_CONTROL  (1u << 17)

/* ---- CPU helpers ---- */
static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (u64)hi << 32 | lo;
}
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void compiler_barrier(void) { __asm__ volatile("" ::: "memory"); }
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
/* No cpuid helper on purpose: ring-3 CPUID is not trusted (guest/rt/cpuid.c);
 * what the runtime learnt in ring 0 is in the rt_* variables above. */

/* ---- serial console (COM1) and formatting ---- */
void serial_write(const char *s, size_t n);
int rt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int rt_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Formats one message (at most 255 bytes) and writes it atomically
 * with respect to other CPUs. */
int rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- command line: space-separated key=value words ---- */
/* Value of the n-th (0-based) occurrence of key, "" for a bare word, NULL if absent. */
const char *arg_get_nth(const char *key, unsigned n);
static inline const char *arg_get(const char *key) { return arg_get_nth(key, 0); }
unsigned arg_count(void);
const char *arg_key(unsigned i);
/* Whole-string parsers; return 0 on success, -1 on a malformed value. */
int parse_u64(const char *s, u64 *out);        /* decimal or 0x-hex */
int parse_size(const char *s, u64 *out);       /* parse_u64 + optional K/M/G/T (binary) */
/* Warn about keys not in the NULL-terminated list (the runtime's own are known). */
void arg_warn_unknown(const char *const *known);

/* ---- guest calls (port 0xE0, docs/guest-abi.md) ---- */
#define TERN_HC_EXIT          0x7E000001L
#define KVM_HC_MAP_GPA_RANGE  12L
#define KVM_MAP_GPA_RANGE_ENCRYPTED (1UL << 4)
long guest_call(long nr, long a0, long a1, long a2, long a3);
/* True when a call came back untouched (no VMM behind the port, e.g. QEMU). */
static inline int guest_call_unsupported(long nr, long ret) { return ret == nr; }
__attribute__((noreturn)) void guest_exit(int status);
long map_gpa_range(u64 gpa, u64 npages, u64 attrs);

/* ---- fatal errors ---- */
#define RT_PANIC_STATUS 0x7F
/* Prints "PANIC cpu=N: what" and exits with RT_PANIC_STATUS. The runtime's
 * libc shims call it when a stack-protector or fortify check fails. */
__attribute__((noreturn)) void rt_panic(const char *what);

/* ---- ring-0 service gate (int 0x80) ---- */
u64 rt_migctl_write(u64 value);                /* returns the MSR read back */
__attribute__((noreturn)) void rt_triple_fault(void);
__attribute__((noreturn)) void rt_halt(void);

/* ---- freestanding string functions (the compiler may call these too) ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

#endif
