/* fault.c - the armed side of src/util/fault.h, linked into tern-faults
 * only. */
#include <stdio.h>
#include <stdlib.h>

#include "util/fault.h"

const char *fault__arg(const char *name)
{
	char var[64];
	snprintf(var, sizeof(var), "TERN_FAULT_%s", name);
	return getenv(var);
}
