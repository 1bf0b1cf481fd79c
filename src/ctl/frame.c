/* frame.c - what counts as a request: exactly one JSON object on one line.
 * The line is checked whole, so a request cannot smuggle bytes past the
 * parser (a NUL ends a C string early; jansson's EOF check is the only
 * thing that sees trailing garbage). */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "util/log.h"

static const char *kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_ARRAY:   return "an array";
	case JSON_STRING:  return "a string";
	case JSON_INTEGER:
	case JSON_REAL:    return "a number";
	case JSON_TRUE:
	case JSON_FALSE:   return "a boolean";
	case JSON_NULL:    return "null";
	case JSON_OBJECT:  break;
	}
	return "an object";
}

json_t *ctl_frame__parse(const char *line, size_t len, char *err, size_t errlen)
{
	const size_t flags = JSON_DECODE_ANY | JSON_REJECT_DUPLICATES;
	const char *nul = memchr(line, '\0', len);
	json_error_t je, je2;
	json_t *v;

	if (nul) {
		errbuf__set(err, errlen, "request has a NUL byte at offset %zu: a request is one JSON "
			   "object on one line", (size_t)(nul - line));
		return NULL;
	}
	if (len > CTL_MAX_LINE) {
		errbuf__set(err, errlen, "request line is longer than %d bytes", CTL_MAX_LINE);
		return NULL;
	}
	v = json_loadb(line, len, flags, &je);
	if (!v) {
		/* a valid value followed by more: say so rather than "end of file expected" */
		json_t *head = json_loadb(line, len, flags | JSON_DISABLE_EOF_CHECK, &je2);
		if (head) {
			json_decref(head);
			errbuf__set(err, errlen, "trailing data after the JSON value at offset %d: a request "
				   "is exactly one JSON object on one line", je2.position);
			return NULL;
		}
		errbuf__set(err, errlen, "request is not valid JSON: %s (at column %d)", je.text, je.column);
		return NULL;
	}
	if (!json_is_object(v)) {
		errbuf__set(err, errlen, "request must be a JSON object, not %s", kind(v));
		json_decref(v);
		return NULL;
	}
	return v;
}
