/* print.c - printf-style formatting: %d %i %u %x %X %p %s %c %%, with the
 * '-' and '0' flags, a field width and the l, ll, z and h length modifiers.
 */
#include "rt_int.h"

struct out {
	char *buf;
	size_t size, len;        /* len counts everything, even what did not fit */
};

static void emit(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void emit_padded(struct out *o, const char *s, size_t n, unsigned width,
			int left, char pad)
{
	size_t fill = width > n ? width - n : 0;
	/* zero padding goes after a sign */
	if (pad == '0' && n && s[0] == '-') {
		emit(o, '-');
		s++, n--;
	}
	if (!left)
		while (fill--)
			emit(o, pad);
	while (n--)
		emit(o, *s++);
	if (left)
		while (fill--)
			emit(o, ' ');
}

static size_t utoa(char *end, u64 v, unsigned base, int upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	size_t n = 0;
	do {
		*--end = digits[v % base];
		v /= base;
		n++;
	} while (v);
	return n;
}

int rt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };
	char num[24];

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			emit(&o, *fmt);
			continue;
		}
		int left = 0, lng = 0;
		char pad = ' ';
		unsigned width = 0;
		for (fmt++; *fmt == '-' || *fmt == '0'; fmt++) {
			if (*fmt == '-')
				left = 1;
			else
				pad = '0';
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned)(*fmt++ - '0');
		for (;; fmt++) {
			if (*fmt == 'l' || *fmt == 'z')
				lng = 1;
			else if (*fmt != 'h')
				break;
		}
		if (left)
			pad = ' ';

		char *end = num + sizeof(num);
		size_t n;
		u64 v;
		switch (*fmt) {
		case 'd':
		case 'i': {
			s64 sv = lng ? va_arg(ap, s64) : va_arg(ap, int);
			v = sv < 0 ? -(u64)sv : (u64)sv;
			n = utoa(end, v, 10, 0);
			if (sv < 0)
				num[sizeof(num) - ++n] = '-';
			emit_padded(&o, end - n, n, width, left, pad);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
			v = lng ? va_arg(ap, u64) : va_arg(ap, unsigned);
			n = utoa(end, v, *fmt == 'u' ? 10 : 16, *fmt == 'X');
			emit_padded(&o, end - n, n, width, left, pad);
			break;
		case 'p':
			v = (uintptr_t)va_arg(ap, void *);
			n = utoa(end, v, 16, 0);
			emit(&o, '0');
			emit(&o, 'x');
			emit_padded(&o, end - n, n, width, left, pad);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			emit_padded(&o, s, strlen(s), width, left, ' ');
			break;
		}
		case 'c':
			num[0] = (char)va_arg(ap, int);
			emit_padded(&o, num, 1, width, left, ' ');
			break;
		case '%':
			emit(&o, '%');
			break;
		case '\0':
			fmt--;           /* lone '%' at the end */
			break;
		default:
			emit(&o, '%');
			emit(&o, *fmt);
			break;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int rt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = rt_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int rt_printf(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = rt_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	serial_write(line, len);
	return n;
}
