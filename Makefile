# tern - build everything: `make` (gcc), `make CC=clang`, `make SAN=1` (ASan+UBSan).
# Output goes to $(BUILD) (default build/; the test script uses build-clang/, build-san/).

BUILD   ?= build
CC      ?= gcc
SAN     ?= 0

WARN     := -Wall -Wextra -Werror
CFLAGS   := -std=gnu11 $(WARN) -O2 -g -D_GNU_SOURCE -Isrc -pthread -MMD -MP
LDLIBS   := -pthread -ljansson -lxxhash -lcrypto
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

# Host sources: every src/<subsys>/*.c; cli/main.c holds main().
LIB_SRCS  := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ  := $(BUILD)/src/cli/main.o

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all tern guests unit clean
all: tern guests unit

tern: $(BUILD)/tern
$(BUILD)/tern: $(LIB_OBJS) $(MAIN_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

unit: $(UNIT_BINS)
$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

include guest/guest.mk

clean:
	rm -rf build build-clang build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
