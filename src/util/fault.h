/* fault.h - faults that tests inject into tern, compiled only into the
 * test-only binary tools/tern-faults (tests/tools/tools.mk). There the
 * files with fault points are built with -DTERN_FAULTS and a fault named
 * NAME is armed by the environment variable TERN_FAULT_NAME. In tern
 * itself fault__arg is the constant NULL: the compiler drops every fault
 * branch, and production code reads no test switches from the
 * environment. The faults are listed in docs/protocol.md ("Faults for
 * tests"). */
#ifndef TERN_UTIL_FAULT_H
#define TERN_UTIL_FAULT_H

#ifdef TERN_FAULTS
/* TERN_FAULT_<name>'s value, or NULL when that fault is not armed. */
const char *fault__arg(const char *name);
#else
static inline const char *fault__arg(const char *name)
{
	(void)name;
	return (const char *)0;
}
#endif

#endif
