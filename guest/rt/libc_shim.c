/* libc_shim.c - the few libc symbols that hosted-built libraries (Debian's
 * libbearssl.a) reference: fortified string functions, the stack-protector
 * failure hook and errno. Ring 3 only.
 *
 * The canary those libraries check lives at %fs:0x28 in each CPU's TLS block
 * (rt_int.h); FS base is set at boot, the canary in rt_user_start.
 */
#include "rt_int.h"

static struct rt_tls *tls(void)
{
	struct rt_tls *t;
	__asm__("mov %%fs:0, %0" : "=r"(t));
	return t;
}

void rt_panic(const char *what)
{
	rt_printf("PANIC cpu=%u: %s\n", tls()->cpu, what);
	guest_exit(RT_PANIC_STATUS);
}

static void check(size_t n, size_t room, const char *fn)
{
	if (n > room)
		rt_panic(fn);
}

void *__memcpy_chk(void *d, const void *s, size_t n, size_t room);
void *__memmove_chk(void *d, const void *s, size_t n, size_t room);
void *__memset_chk(void *d, int c, size_t n, size_t room);
void __stack_chk_fail(void) __attribute__((noreturn));
int *__errno_location(void);

void *__memcpy_chk(void *d, const void *s, size_t n, size_t room)
{
	check(n, room, "buffer overflow in memcpy (__memcpy_chk)");
	return memcpy(d, s, n);
}

void *__memmove_chk(void *d, const void *s, size_t n, size_t room)
{
	check(n, room, "buffer overflow in memmove (__memmove_chk)");
	return memmove(d, s, n);
}

void *__memset_chk(void *d, int c, size_t n, size_t room)
{
	check(n, room, "buffer overflow in memset (__memset_chk)");
	return memset(d, c, n);
}

void __stack_chk_fail(void)
{
	rt_panic("stack smashing detected (__stack_chk_fail)");
}

int *__errno_location(void)
{
	return &tls()->err;
}
