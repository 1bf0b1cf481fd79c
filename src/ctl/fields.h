/* fields.h - the arguments a control command takes, as a table, and one
 * check of a request against it: every member's type and range, required
 * ones present, unknown ones refused, each error naming the member. */
#ifndef TERN_CTL_FIELDS_H
#define TERN_CTL_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

enum ctl_ftype {
	CTL_F_INT,      /* a JSON integer (not 1.5, not "5") from min to max */
	CTL_F_STRING,   /* a string of min..max bytes, one of choices if given */
	CTL_F_PATH,     /* a string as above that must be an absolute path */
	CTL_F_BOOL,     /* true or false */
};

struct ctl_field {
	const char *name;
	enum ctl_ftype type;
	bool required;
	long long min, max;             /* INT: the value; STRING/PATH: the length in bytes */
	const char *const *choices;     /* STRING: the values allowed, NULL-terminated; NULL: any */
	const char *hint;               /* what it is, for the message when it is missing */
};

/* Check req's members (other than "cmd") against fields ({ 0 }-ended;
 * NULL: the command takes none). 0, or -1 with err naming the member. */
int ctl_fields__check(const char *cmd, const struct ctl_field *fields, json_t *req,
		      char *err, size_t errlen);

#endif
