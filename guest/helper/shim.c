/* shim.c - the libc symbols Debian's hosted-built libbearssl.a references
 * (fortified string functions, the stack-protector hook, errno), for the
 * helper. guest/rt/libc_shim.c does the same for guest programs but reports
 * through the runtime's console and exit call, which the helper's mirror
 * VM does not have: here a failed check rings FATAL and stays stopped.
 * memset/memcpy/memmove/memcmp themselves come from guest/rt/string.c.
 */
#include <stddef.h>

#include "helper.h"

void *__memcpy_chk(void *d, const void *s, size_t n, size_t room);
void *__memmove_chk(void *d, const void *s, size_t n, size_t room);
void *__memset_chk(void *d, int c, size_t n, size_t room);
void __stack_chk_fail(void) __attribute__((noreturn));
int *__errno_location(void);

void *__memcpy_chk(void *d, const void *s, size_t n, size_t room)
{
	if (n > room)
		helper_fatal();
	return memcpy(d, s, n);
}

void *__memmove_chk(void *d, const void *s, size_t n, size_t room)
{
	if (n > room)
		helper_fatal();
	return memmove(d, s, n);
}

void *__memset_chk(void *d, int c, size_t n, size_t room)
{
	if (n > room)
		helper_fatal();
	return memset(d, c, n);
}

void __stack_chk_fail(void)
{
	helper_fatal();
}

/* Nothing the helper calls sets errno; one word for every lane is enough. */
static int helper_errno;

int *__errno_location(void)
{
	return &helper_errno;
}
