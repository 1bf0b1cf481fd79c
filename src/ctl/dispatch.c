/* dispatch.c - find a request's command, check its arguments against the
 * command's table, run it. Commands never see a request that failed the
 * check, so no command can silently ignore a badly typed option. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"

json_t *ctl__error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
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
	return c->fn(s, req);
}
