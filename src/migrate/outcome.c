/* outcome.c - see outcome.h. */
#include "migrate/outcome.h"

void move__committed(struct vm *vm, const char *kind, const char *to, uint64_t downtime_ns,
		     const char *extra)
{
	vm__stop(vm, 0, "%s to %s: downtime %.3f ms%s%s", kind, to, (double)downtime_ns / 1e6,
		 extra[0] ? ", " : "", extra);
}

void move__lost(struct vm *vm, const char *kind, const char *why)
{
	vm__stop(vm, 1, "%s, then lost the destination: %s (this copy stays stopped; "
		 "it may or may not run there)", kind, why);
}
