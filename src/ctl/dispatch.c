/* dispatch.c - find a request's command, check its arguments against the
 * command's table, run it. Commands never see a request that failed the
 * check, so no command can silently ignore a badly typed option. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"

/* Replace every byte that is not part of a well-formed UTF-8 sequence
 * (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF) with
 * '?'. Error messages quote what the client sent cut to a byte count, and
 * a cut inside a multi-byte character would make json_pack refuse the
 * whole message: the client would be told "out of memory" instead. */
static void utf8_scrub(char *s)
{
	unsigned char *p = (unsigned char *)s;
	while (*p) {
		unsigned c = *p, n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 :
				      c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 4;
		unsigned cp = n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07, i = 1;
		if (n == 0) {
			p++;
			continue;
		}
		for (; n < 4 && i <= n && (p[i] & 0xc0) == 0x80; i++)
			cp = cp << 6 | (p[i] & 0x3f);
		if (n == 4 || i <= n || (n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
			*p++ = '?';       /* the lead byte only: what follows is looked at again */
			continue;
		}
		p += n + 1;
	}
}

json_t *ctl__error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_scrub(msg);
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

const struct ctl_command *ctl__find(const struct ctl_command *table, const char *name)
{
	for (const struct ctl_command *c = table; c && c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

json_t *ctl__dispatch(struct ctl_server *s, json_t *req)
{
	json_t *jcmd = json_object_get(req, "cmd");
	const char *cmd = json_string_value(jcmd);
	const struct ctl_command *c;
	char err[1024];

	if (!jcmd)
		return ctl__error("request has no \"cmd\" string naming the command");
	if (!cmd)
		return ctl__error("request has no \"cmd\" string: \"cmd\" must be a string");
	c = ctl__find(s->commands, cmd);
	if (!c)
		return ctl__error("unknown command \"%.64s%s\"", cmd, strlen(cmd) > 64 ? "..." : "");
	if (ctl_fields__check(c->name, c->fields, req, err, sizeof(err)))
		return ctl__error("%s", err);
	if (ctl_server__vm(s) || !s->arriving)
		return c->fn(s, req);
	if (!c->no_vm)
		return ctl__error("%s: no VM yet: the migration has not arrived (waiting on %s)",
				  c->name, s->arriving->uri);
	return c->no_vm(s, req);
}
