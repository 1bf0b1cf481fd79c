/* cmdline.c - the kernel command line as key=value words.
 *
 * The loader's copy may sit in RAM a program is about to overwrite (QEMU
 * puts it right after the image), so it is copied first and split in place.
 */
#include "rt_int.h"

#define CMDLINE_MAX 4096
#define MAX_ARGS    128

static char cmdline[CMDLINE_MAX];
static struct { const char *key, *val; } args[MAX_ARGS];
static unsigned nargs;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void cmdline_init(const char *src)
{
	size_t n = 0;
	if (src)
		while (n < CMDLINE_MAX - 1 && src[n])
			n++;
	memcpy(cmdline, src, n);
	cmdline[n] = '\0';

	char *p = cmdline;
	/* Multiboot loaders (QEMU, GRUB) start the line with the kernel's path;
	 * tern starts it with ncpus=. A first word without '=' is the path. */
	while (is_space(*p))
		p++;
	char *w = p;
	while (*w && !is_space(*w) && *w != '=')
		w++;
	if (w != p && *w != '=')
		p = w;
	while (*p && nargs < MAX_ARGS) {
		while (is_space(*p))
			*p++ = '\0';
		if (!*p)
			break;
		args[nargs].key = p;
		args[nargs].val = "";
		while (*p && !is_space(*p)) {
			if (*p == '=' && !*args[nargs].val) {
				*p = '\0';
				args[nargs].val = p + 1;
			}
			p++;
		}
		nargs++;
	}
}

const char *arg_get_nth(const char *key, unsigned n)
{
	for (unsigned i = 0; i < nargs; i++)
		if (!strcmp(args[i].key, key) && n-- == 0)
			return args[i].val;
	return NULL;
}

unsigned arg_count(void) { return nargs; }
const char *arg_key(unsigned i) { return i < nargs ? args[i].key : NULL; }

void arg_warn_unknown(const char *const *known)
{
	for (unsigned i = 0; i < nargs; i++) {
		const char *k = args[i].key;
		int ok = !strcmp(k, "ncpus") || !strcmp(k, "tsc_khz");
		for (const char *const *kk = known; !ok && *kk; kk++)
			ok = !strcmp(k, *kk);
		if (!ok)
			rt_printf("warning: unknown argument '%s'\n", k);
	}
}

/* Parses a number at s; returns the end, or NULL if there are no digits or
 * the value overflows. */
static const char *scan_u64(const char *s, u64 *out)
{
	unsigned base = 10;
	u64 v = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	const char *start = s;
	for (;; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		if (v > (~0ULL - d) / base)
			return NULL;
		v = v * base + d;
	}
	if (s == start)
		return NULL;
	*out = v;
	return s;
}

int parse_u64(const char *s, u64 *out)
{
	const char *e = s ? scan_u64(s, out) : NULL;
	return e && !*e ? 0 : -1;
}

int parse_size(const char *s, u64 *out)
{
	u64 v;
	const char *e = s ? scan_u64(s, &v) : NULL;
	if (!e)
		return -1;
	unsigned shift = 0;
	switch (*e) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	case '\0': break;
	default: return -1;
	}
	if (shift && (*++e == 'i' || *e == 'I'))   /* accept "Ki", "MiB" style too */
		e++;
	if (*e == 'b' || *e == 'B')
		e++;
	if (*e || (shift && v > (~0ULL >> shift)))
		return -1;
	*out = v << shift;
	return 0;
}
