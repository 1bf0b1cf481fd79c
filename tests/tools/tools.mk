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
