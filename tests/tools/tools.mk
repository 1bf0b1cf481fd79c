# tests/tools/tools.mk - small programs the integration tests drive, linked
# with tern's own code (included by the top-level Makefile; built by `all`).
# wire_peer: a minimal, hostile migration/handoff source.

TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)
.PHONY: tools
tools: $(TOOL_BINS)
$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# tools/tern-faults: tern with the test faults of src/util/fault.h armed.
# The sources that have fault points are compiled a second time with
# -DTERN_FAULTS; everything else is the production objects. build/tern
# itself contains no fault code.
FAULT_SRCS := $(shell grep -l 'fault__arg' $(LIB_SRCS))
FAULT_OBJS := $(FAULT_SRCS:%.c=$(BUILD)/faults/%.o) $(BUILD)/faults/tests/tools/faults/fault.o
tools: $(BUILD)/tools/tern-faults
$(BUILD)/tools/tern-faults: $(filter-out $(FAULT_SRCS:%.c=$(BUILD)/%.o),$(LIB_OBJS)) $(FAULT_OBJS) $(MAIN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/faults/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DTERN_FAULTS -c -o $@ $<
