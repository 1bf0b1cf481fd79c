/* version.h - the one version of tern and tern-psp. Both binaries print
 * version__print(), so `tern --version` and `tern-psp --version` cannot
 * disagree. */
#ifndef TERN_UTIL_VERSION_H
#define TERN_UTIL_VERSION_H

#define TERN_VERSION "0.1.0"

/* "0.1.0", or "0.1.0 (git DESCRIBE)" when built from a git tree: the
 * Makefile passes `git describe` to version.c only, so a new commit
 * rebuilds one object instead of the whole tree. */
const char *version__string(void);

/* Print "NAME VERSION\n" to stdout. */
void version__print(const char *name);

#endif
