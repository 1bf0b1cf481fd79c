/* state_rx.c - STATE, received: see state_rx.h. */
#include "migrate/state_rx.h"
#include "state/record.h"
#include "util/log.h"
#include "vm/state.h"

int state_rx__apply(struct vm *vm, const void *data, size_t len, char *err, size_t errlen)
{
	struct rec_reader rd;
	struct rec_section_hdr h;
	struct vm_restore_progress pr = { 0 };
	int n;

	if (rec__reader_init_mem(&rd, data, len)) {
		errbuf__set(err, errlen, "STATE: %s", rd.err);
		return -1;
	}
	while ((n = rec__next(&rd, &h)) == 1) {
		/* the shape came with CONFIG and RAM with its own messages: here
		 * they could only redefine what the destination already checked */
		if (h.type == REC_VM_CONFIG || h.type == REC_RAM) {
			errbuf__set(err, errlen, "STATE: unexpected %s record", rec__type_name(h.type));
			return -1;
		}
		if (vm__load_section(vm, &rd, &h, &pr, err, errlen))
			return -1;
	}
	if (n < 0) {
		errbuf__set(err, errlen, "STATE: %s", rd.err);
		return -1;
	}
	return vm__restore_complete(vm, &pr, err, errlen);
}
