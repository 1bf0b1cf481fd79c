/* fields.c - check a control request's members against its command's
 * table. Every refusal names the command, the member and what was sent,
 * so a client can tell which of its values was wrong without guessing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/fields.h"
#include "util/log.h"

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:  return "an object";
	case JSON_ARRAY:   return "an array";
	case JSON_STRING:  return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL:    return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:   return "a boolean";
	case JSON_NULL:    return "null";
	}
	return "a value";
}

/* The value as the client sent it, cut short for an error line. */
static void show(const json_t *v, char *out, size_t n)
{
	char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!t)
		snprintf(out, n, "(unprintable)");
	else if (strlen(t) > 48)
		snprintf(out, n, "%.45s...", t);
	else
		snprintf(out, n, "%s", t);
	free(t);
}

static void choices_text(const char *const *c, char *out, size_t n)
{
	size_t k = 0, used = 0;
	while (c[k])
		k++;
	out[0] = '\0';
	for (size_t i = 0; i < k && used < n; i++) {
		int w = snprintf(out + used, n - used, "%s\"%s\"",
				 i == 0 ? (k > 2 ? "one of " : "") : (i == k - 1 ? " or " : ", "), c[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

static int check_one(const char *cmd, const struct ctl_field *f, const json_t *v,
		     char *err, size_t errlen)
{
	char got[64], want[256];
	show(v, got, sizeof(got));
	switch (f->type) {
	case CTL_F_INT:
		if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max) {
			if (json_is_integer(v))
				errbuf__set(err, errlen, "%s: \"%s\" must be an integer from %lld to %lld, not %s",
					   cmd, f->name, f->min, f->max, got);
			else
				errbuf__set(err, errlen, "%s: \"%s\" must be an integer from %lld to %lld, not %s (%s)",
					   cmd, f->name, f->min, f->max, got, type_name(v));
			return -1;
		}
		return 0;
	case CTL_F_BOOL:
		if (!json_is_boolean(v)) {
			errbuf__set(err, errlen, "%s: \"%s\" must be true or false, not %s (%s)",
				   cmd, f->name, got, type_name(v));
			return -1;
		}
		return 0;
	case CTL_F_STRING:
	case CTL_F_PATH:
		break;
	}
	if (!json_is_string(v)) {
		errbuf__set(err, errlen, "%s: \"%s\" must be a string, not %s (%s)", cmd, f->name, got, type_name(v));
		return -1;
	}
	const char *sv = json_string_value(v);
	long long len = (long long)json_string_length(v);
	if (f->choices) {
		for (const char *const *c = f->choices; *c; c++)
			if (!strcmp(sv, *c))
				return 0;
		choices_text(f->choices, want, sizeof(want));
		errbuf__set(err, errlen, "%s: \"%s\" must be %s, not %s", cmd, f->name, want, got);
		return -1;
	}
	if (len < f->min || len > f->max) {
		if (len == 0)
			errbuf__set(err, errlen, "%s: \"%s\" must not be empty", cmd, f->name);
		else
			errbuf__set(err, errlen, "%s: \"%s\" must be %lld to %lld bytes long, not %lld",
				   cmd, f->name, f->min, f->max, len);
		return -1;
	}
	/* the server may run in another directory than the client */
	if (f->type == CTL_F_PATH && sv[0] != '/') {
		errbuf__set(err, errlen, "%s: \"%s\" must be an absolute path, not %s", cmd, f->name, got);
		return -1;
	}
	return 0;
}

static void names_text(const char *cmd, const struct ctl_field *fields, char *out, size_t n)
{
	size_t used;
	if (!fields || !fields[0].name) {
		snprintf(out, n, "%s takes no arguments", cmd);
		return;
	}
	used = (size_t)snprintf(out, n, "%s takes", cmd);
	for (const struct ctl_field *f = fields; f->name && used < n; f++) {
		int w = snprintf(out + used, n - used, "%s %s", f == fields ? "" : ",", f->name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

int ctl_fields__check(const char *cmd, const struct ctl_field *fields, json_t *req,
		      char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	/* unknown members first: a misspelt option must not pass as "not given" */
	json_object_foreach(req, key, v) {
		const struct ctl_field *f = NULL;
		if (!strcmp(key, "cmd"))
			continue;
		for (const struct ctl_field *g = fields; g && g->name; g++)
			if (!strcmp(g->name, key))
				f = g;
		if (!f) {
			char names[512], shown[64];
			names_text(cmd, fields, names, sizeof(names));
			snprintf(shown, sizeof(shown), "%.48s%s", key, strlen(key) > 48 ? "..." : "");
			errbuf__set(err, errlen, "%s: unknown field \"%s\" (%s)", cmd, shown, names);
			return -1;
		}
	}
	for (const struct ctl_field *f = fields; f && f->name; f++) {
		v = json_object_get(req, f->name);
		if (!v) {
			if (f->required) {
				errbuf__set(err, errlen, "%s needs \"%s\"%s%s%s", cmd, f->name,
					   f->hint ? " (" : "", f->hint ? f->hint : "", f->hint ? ")" : "");
				return -1;
			}
			continue;
		}
		if (check_one(cmd, f, v, err, errlen))
			return -1;
	}
	return 0;
}
