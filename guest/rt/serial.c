/* serial.c - output to the 16550 at COM1, one writer at a time.
 * No UART setup: tern and QEMU transmit without it.
 */
#include "rt_int.h"

#define COM1      0x3F8
#define COM1_LSR  (COM1 + 5)
#define LSR_THRE  0x20           /* transmit holding register empty */

static int serial_lock;          /* keeps lines from different CPUs whole */

static void put(char c)
{
	while (!(inb(COM1_LSR) & LSR_THRE))
		cpu_relax();
	outb(COM1, (u8)c);
}

static void put_all(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put(s[i]);
}

void serial_write(const char *s, size_t n)
{
	while (__atomic_exchange_n(&serial_lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&serial_lock, __ATOMIC_RELAXED))
			cpu_relax();
	put_all(s, n);
	__atomic_store_n(&serial_lock, 0, __ATOMIC_RELEASE);
}

void serial_write_force(const char *s, size_t n)
{
	/* Ring 0 is emulated: 100k tries is well over the time one line takes. */
	for (int i = 0; i < 100000; i++) {
		if (!__atomic_exchange_n(&serial_lock, 1, __ATOMIC_ACQUIRE))
			break;
		cpu_relax();
	}
	put_all(s, n);
	__atomic_store_n(&serial_lock, 0, __ATOMIC_RELEASE);
}
