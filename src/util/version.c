/* version.c - see version.h. TERN_GIT comes from the Makefile (git
 * describe of the tree); a tarball build has none and says so by its
 * absence. */
#include <stdio.h>

#include "util/version.h"

#ifdef TERN_GIT
static const char version[] = TERN_VERSION " (git " TERN_GIT ")";
#else
static const char version[] = TERN_VERSION;
#endif

const char *version__string(void)
{
	return version;
}

void version__print(const char *name)
{
	printf("%s %s\n", name, version);
}
