/* fuzz_ctl_request.c - libFuzzer target for the control socket's request
 * path without a VM: frame parsing (ctl_frame__parse), command lookup and
 * argument checks (ctl__dispatch, ctl_fields__check), and the reply text.
 *
 * Input: what a client sends; it is cut at '\n' into request lines as the
 * server's loop does. Each line goes through the real frame parser and the
 * real dispatcher, over a table with tern's command names and argument
 * tables whose functions only re-check what the dispatcher promised: that a
 * command never sees an argument it did not declare or of the wrong type
 * or range. Every reply must encode as a JSON line: a NULL reply would be
 * sent as "out of memory", which would be a lie. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

#define MAX_COMMANDS 64

static struct ctl_command table[MAX_COMMANDS];
static struct ctl_server server;

/* The promise ctl__dispatch makes before it runs a command. */
static void recheck(const struct ctl_command *c, json_t *req)
{
	const char *key;
	json_t *v;

	json_object_foreach(req, key, v) {
		const struct ctl_field *f = NULL;
		if (!strcmp(key, "cmd"))
			continue;
		for (const struct ctl_field *g = c->fields; g && g->name; g++)
			if (!strcmp(g->name, key))
				f = g;
		if (!f)
			abort();                      /* an undeclared argument got through */
		switch (f->type) {
		case CTL_F_INT:
			if (!json_is_integer(v) || json_integer_value(v) < f->min ||
			    json_integer_value(v) > f->max)
				abort();
			break;
		case CTL_F_BOOL:
			if (!json_is_boolean(v))
				abort();
			break;
		case CTL_F_STRING:
		case CTL_F_PATH:
			if (!json_is_string(v))
				abort();
			if (f->choices) {
				const char *const *ch = f->choices;
				while (*ch && strcmp(*ch, json_string_value(v)))
					ch++;
				if (!*ch)
					abort();
			} else if ((long long)json_string_length(v) < f->min ||
				   (long long)json_string_length(v) > f->max) {
				abort();
			}
			if (f->type == CTL_F_PATH && json_string_value(v)[0] != '/')
				abort();
			break;
		}
	}
	for (const struct ctl_field *f = c->fields; f && f->name; f++)
		if (f->required && !json_object_get(req, f->name))
			abort();                      /* a required argument was missing */
}

static json_t *stub(struct ctl_server *s, json_t *req)
{
	const struct ctl_command *c = ctl__find(s->commands, json_string_value(json_object_get(req, "cmd")));
	if (!c)
		abort();
	recheck(c, req);
	return json_pack("{s:b}", "ok", 1);
}

static void setup(void)
{
	int n = 0;
	for (const struct ctl_command *c = ctl__commands; c->name; c++) {
		if (n == MAX_COMMANDS - 1)
			abort();
		table[n] = *c;
		table[n++].fn = stub;
	}
	server.commands = table;
}

static void one_line(const char *line, size_t len)
{
	char why[512];
	json_t *req = ctl_frame__parse(line, len, why, sizeof(why));
	json_t *rep = req ? ctl__dispatch(&server, req) : ctl__error("%s", why);
	char *txt = rep ? json_dumps(rep, JSON_COMPACT) : NULL;

	if (!txt)
		abort();
	free(txt);
	json_decref(rep);
	json_decref(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	if (!server.commands)
		setup();
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		/* the loop answers an empty line with nothing: the parser never sees one */
		if (len) {
			/* a copy of just the line: ASan then catches any read past it */
			char *line = malloc(len);
			if (!line)
				return 0;
			memcpy(line, p, len);
			one_line(line, len);
			free(line);
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}
